"""Vector geometry: cosine similarity, Euclidean distance, their pairwise ``(N, M)`` forms and
the identity for unit vectors, ``d = sqrt(2 - 2 cos)``.

Every square root here is a *safe* square root: its value at 0 is exactly 0 and its gradient
there is 0 rather than ``inf``/NaN, so two identical embeddings do not poison a backward pass.
Every norm is computed *overflow- and underflow-safely* (:func:`safe_norm`: on CPU from a sum
of squares kept in range by exact powers of two, elsewhere with the vector scaled by its
largest magnitude first): a float32 vector of norm 1e30 normalises to a unit vector, not to 0
(``x * x`` alone overflows float32 above about 1.8e19).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .._api import checked
from .._autograd import fused_apply, partial_inputs, transforms_active
from .._checks import Positive, check_floating, check_ndim, check_same_shape

__all__ = [
    "cosine_similarity",
    "cosine_distance",
    "euclidean_distance",
    "pairwise_cosine_similarity",
    "pairwise_euclidean_distance",
    "euclidean_from_cosine",
    "cosine_from_euclidean",
    "safe_sqrt",
    "safe_norm",
    "normalize",
]


def safe_sqrt(x: Tensor) -> Tensor:
    """``sqrt(max(x, 0))`` with value 0 and gradient 0 wherever ``x <= 0``.

    The double ``where`` keeps the unused branch's ``inf`` gradient out of the graph.

    Example:
        >>> import torch
        >>> safe_sqrt(torch.tensor([4.0, 0.0, -1.0]))
        tensor([2., 0., 0.])
    """
    pos = x > 0
    return torch.where(
        pos, torch.sqrt(torch.where(pos, x, torch.ones_like(x))), torch.zeros_like(x)
    )


def _scale(x: Tensor, dim: int | None) -> Tensor:
    """The largest magnitude along ``dim`` (of all of ``x`` for ``None``), detached; 1 where
    it is 0, so that dividing by it is always safe."""
    m = x.detach().abs()
    m = m.amax() if dim is None else m.amax(dim, keepdim=True)
    return torch.where(m > 0, m, torch.ones_like(m))


def safe_norm(x: Tensor, dim: int = -1, keepdim: bool = False) -> Tensor:
    """``||x||_2`` along ``dim`` without overflow or underflow, with a finite gradient.

    On CPU in eager mode the plain norm (one fused pass) is taken first and kept when every
    result lies safely inside the dtype's range (reading the ``(N,)`` result costs no device
    sync there). Otherwise on CPU, and always under ``torch.compile`` there, three sums of
    squares in one pass (plain, and scaled by ``2^-80`` and ``2^100`` in float32, exact
    powers of two) give the norm from the one in range, row by row. On CPU the gradient
    ``x / ||x||`` is written out (one pass; exact down to subnormal vectors). On an
    accelerator ``x`` is divided by its largest magnitude ``s`` (detached) and the norm
    multiplied back: ``s ||x / s||``. Every form is 0 with a zero gradient at ``x = 0``.

    Args:
        x: a floating tensor.
        dim: the dimension to take the norm along; default -1.
        keepdim: keep ``dim`` as size 1; default ``False``.

    Returns:
        The norms, ``x``'s shape without ``dim`` (or with size 1 there).

    Example:
        >>> import torch
        >>> safe_norm(torch.tensor([3e30, 4e30]))  # float32: x * x alone overflows
        tensor(5.0000e+30)
    """
    if x.device.type == "cpu" and not transforms_active():
        work = x if x.dtype in _RANGE_EXPONENTS else x.float()
        plain = x.numel() > 0 and not torch.compiler.is_compiling()
        n, ranged = _cpu_norm(work.detach(), dim, plain)
        n = _NormGrad.apply(work, n, ranged).to(x.dtype)
        return n if keepdim else n.squeeze(dim)
    s = _scale(x, dim)
    n = safe_sqrt((x / s).square().sum(dim, keepdim=True)) * s
    return n if keepdim else n.squeeze(dim)


#: ``(down, floor, up, low)`` of :func:`_cpu_norm`'s ranged form per dtype. The squares of
#: ``max(|x|, 2^floor) 2^down`` neither overflow (float32: ``|x| <= 2^128`` gives squares
#: ``<= 2^96``, and ``2^31`` of them sum below ``2^128``) nor fall below the normal numbers
#: (``2^-80``: a subnormal result costs the CPU a microcode assist, and without the floor
#: every ``|x| < 2^17`` squares to a subnormal or 0: the norm of a (4096, 512) Gaussian took
#: 2.2-2.6x the time of a plain one, compiled). The
#: floor adds at most ``D 2^-80`` to a sum that is used only above ``2^128 2^-160 = 2^-32``
#: (a relative ``D 2^-48``). A plain sum below ``2^low`` means ``|x| < 2^(low/2)``, whose
#: ``x 2^up`` square without overflow, and even the smallest subnormal's ``x 2^up`` squares
#: to a normal number (float32: ``2^-149 2^100`` squares to ``2^-98``).
_RANGE_EXPONENTS = {torch.float32: (-80, 40, 100, -100), torch.float64: (-540, 300, 600, -900)}


@torch.no_grad()
def _cpu_norm(x: Tensor, dim: int, plain: bool) -> tuple[Tensor, bool]:
    """``(||x||_2 along dim (kept), whether the ranged form gave it)`` on CPU, no graph.

    With ``plain`` (eager), the plain norm first, kept when every result lies safely inside
    the dtype's range (above ``sqrt(tiny) 1e4`` no square that matters has underflowed;
    below ``inf`` none has overflowed; reading the ``(N,)`` result costs no device sync on
    CPU); otherwise, and always under ``torch.compile``, three sums of squares in one pass:
    of ``x``, of ``max(|x|, 2^floor) 2^down`` and of ``x 2^up`` (scalings by powers of two,
    exact; see :data:`_RANGE_EXPONENTS`), the plain sum where it is finite and at least
    ``2^low``, the scaled-down one where it overflowed, the scaled-up one below.

    The ranged form replaced two others on CPU: the scaled form ``s ||x / s||`` (two passes,
    and a gradient through ``s x / ||x||``, which is subnormal for a subnormal ``x`` and loses
    the direction's digits: ``(0.5625, 0.75)`` for ``(3, 4) 2^-147``, where ``(0.6, 0.8)`` is
    exact) and, compiled, a float32 sum of squares in float64 (no wider type exists for a
    float64 norm). In whole compiled steps (triplet, contrastive and ring losses) the three
    forms measured alike, within this machine's noise.
    """
    if plain:
        n = torch.linalg.vector_norm(x, dim=dim, keepdim=True)
        low = math.sqrt(torch.finfo(x.dtype).tiny) * 1e4
        if bool(((n > low) & (n < math.inf)).all()):
            return n, False
    down, floor, up, low = _RANGE_EXPONENTS[x.dtype]
    s = x.square().sum(dim, keepdim=True)
    big = x.abs().clamp_min(2.0**floor).mul(2.0**down).square().sum(dim, keepdim=True)
    big = big.sqrt() * 2.0**-down
    small = (x * 2.0**up).square().sum(dim, keepdim=True).sqrt() * 2.0**-up
    return torch.where(s >= 2.0**low, torch.where(s < math.inf, s.sqrt(), big), small), True


class _NormGrad(torch.autograd.Function):
    """``n`` (the norm of ``x`` along one dimension, kept, computed without a graph) with the
    gradient ``g x / n`` attached: ``x (g / n)`` after the plain norm (one pass over ``x``;
    torch's own norm backward takes three: ring loss, N = 4096, D = 512, 16.2 -> 5.3 ms, old
    against new in one process), ``(x / n) g`` after the ranged one (``g / n`` could
    overflow for a subnormal ``n``; 0 for a zero vector). Itself differentiable. (Under
    ``torch.func`` transforms :func:`safe_norm` takes plain operations instead.)"""

    @staticmethod
    def forward(x: Tensor, n: Tensor, ranged: bool) -> Tensor:  # noqa: ARG004
        return n.clone()

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        x, _, ranged = inputs
        ctx.save_for_backward(x, output)
        ctx.ranged = ranged

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
        x, n = ctx.saved_tensors
        if not ctx.ranged:  # n > sqrt(tiny) 1e4: g / n is finite
            return x * (g / n), None, None
        return x / torch.where(n > 0, n, torch.ones_like(n)) * g, None, None


def normalize(x: Tensor, dim: int = -1, *, eps: Positive = 1e-12) -> Tensor:
    """``x / max(||x||, eps)`` along ``dim`` with an overflow-safe norm (a zero vector maps to
    zero, with finite gradients).

    Args:
        x: a floating tensor of vectors along ``dim``.
        dim: the vector dimension; default -1.
        eps: ``> 0``, the floor of the norm; default ``1e-12``.

    Returns:
        The unit vectors, the shape of ``x``.

    Example:
        >>> import torch
        >>> normalize(torch.tensor([[3e30, 4e30], [0.0, 0.0]]))
        tensor([[0.6000, 0.8000],
                [0.0000, 0.0000]])
    """
    return x / safe_norm(x, dim, keepdim=True).clamp_min(eps)


@checked
def cosine_similarity(a: Tensor, b: Tensor, *, dim: int = -1, eps: Positive = 1e-8) -> Tensor:
    r"""Cosine similarity of two tensors of vectors along ``dim``.

    Formula:
        cos(a, b) = a.b / (max(||a||, eps) max(||b||, eps))

    ``a`` and ``b`` must have the same shape (no silent broadcasting). A zero vector has
    cosine 0 with everything. Unlike ``torch.nn.functional.cosine_similarity`` (which clamps
    the product of the norms) each norm is clamped on its own, so the gradient stays finite
    for a zero vector.

    Args:
        a: floating tensor of vectors along ``dim``.
        b: the same shape as ``a``.
        dim: the vector dimension; default -1.
        eps: ``> 0``, floor of each norm; default ``1e-8``.

    Returns:
        The cosines, the shape of ``a`` without ``dim``.

    Raises:
        TypeError: non-floating inputs.
        ValueError: different shapes, ``eps <= 0``.

    Example:
        >>> import torch
        >>> cosine_similarity(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0]))
        tensor(0.7071)
    """
    fn = "cosine_similarity"
    check_floating(fn, "a", a)
    check_floating(fn, "b", b)
    check_same_shape(fn, a, b, ("a", "b"))
    return (normalize(a, dim, eps=eps) * normalize(b, dim, eps=eps)).sum(dim)


@checked
def cosine_distance(a: Tensor, b: Tensor, *, dim: int = -1, eps: Positive = 1e-8) -> Tensor:
    """Cosine distance ``1 - cos(a, b)``, in ``[0, 2]``.

    Formula:
        d(a, b) = 1 - a.b / (max(||a||, eps) max(||b||, eps))

    Args:
        a: floating tensor of vectors along ``dim``.
        b: the same shape as ``a``.
        dim: the vector dimension; default -1.
        eps: ``> 0``, floor of each norm; default ``1e-8``.

    Returns:
        The distances, the shape of ``a`` without ``dim``.

    Raises:
        TypeError: non-floating inputs.
        ValueError: different shapes, ``eps <= 0``.

    Example:
        >>> import torch
        >>> cosine_distance(torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 0.0]))
        tensor(2.)
    """
    return 1.0 - cosine_similarity(a, b, dim=dim, eps=eps)


@checked
def euclidean_distance(a: Tensor, b: Tensor, *, dim: int = -1, squared: bool = False) -> Tensor:
    r"""Euclidean distance along ``dim`` (or its square).

    Formula:
        d(a, b) = sqrt(sum_i (a_i - b_i)^2)

    The gradient at ``a == b`` is 0 (safe square root), not NaN as with ``torch.norm``; the
    norm is overflow-safe (squared distances above the dtype's maximum are ``inf``).

    Args:
        a: floating tensor of vectors along ``dim``.
        b: the same shape as ``a``.
        dim: the vector dimension; default -1.
        squared: return ``d^2``; default ``False``.

    Returns:
        The distances, the shape of ``a`` without ``dim``.

    Raises:
        TypeError: non-floating inputs.
        ValueError: different shapes.

    Example:
        >>> import torch
        >>> euclidean_distance(torch.tensor([0.0, 0.0]), torch.tensor([3.0, 4.0]))
        tensor(5.)
    """
    fn = "euclidean_distance"
    check_floating(fn, "a", a)
    check_floating(fn, "b", b)
    check_same_shape(fn, a, b, ("a", "b"))
    d = safe_norm(a - b, dim)
    return d.square() if squared else d


def _pairwise_checks(fn: str, a: Tensor, b: Tensor) -> None:
    check_floating(fn, "a", a)
    check_floating(fn, "b", b)
    check_ndim(fn, "a", a, 2)
    check_ndim(fn, "b", b, 2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{fn}: a and b must have the same feature dimension; got (N, {a.shape[1]}) and (M, {b.shape[1]})"
        )


@checked
def pairwise_cosine_similarity(
    a: Tensor, b: Tensor | None = None, *, eps: Positive = 1e-8
) -> Tensor:
    """Cosine similarities of every row of ``a`` with every row of ``b``.

    Formula:
        S_ij = a_i.b_j / (max(||a_i||, eps) max(||b_j||, eps))

    Args:
        a: ``(N, D)`` floating.
        b: ``(M, D)`` floating; default ``None`` (``b = a``).
        eps: ``> 0``, floor of each norm; default ``1e-8``.

    Returns:
        ``(N, M)`` cosines.

    Raises:
        TypeError: non-floating inputs.
        ValueError: non-2-D inputs or different feature dimensions.

    Example:
        >>> import torch
        >>> pairwise_cosine_similarity(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
        tensor([[1., 0.],
                [0., 1.]])
    """
    fn = "pairwise_cosine_similarity"
    b = a if b is None else b
    _pairwise_checks(fn, a, b)
    return normalize(a, 1, eps=eps) @ normalize(b, 1, eps=eps).T


@checked
def pairwise_euclidean_distance(
    a: Tensor, b: Tensor | None = None, *, squared: bool = False
) -> Tensor:
    """Euclidean distances of every row of ``a`` to every row of ``b``.

    Formula:
        D_ij = sqrt(||a_i||^2 + ||b_j||^2 - 2 a_i.b_j)

    One matrix product, ``O(N M)`` memory, clamped at 0 against rounding (as ``torch.cdist``
    does for large inputs, so close but distinct points carry a rounding error of about
    ``sqrt(eps) * ||a||``). The inputs are scaled by their largest magnitude first, so float32
    embeddings up to about 1e38 give finite distances. When ``b`` is omitted the diagonal is
    exactly 0. The gradient is 0 where two rows coincide.

    Args:
        a: ``(N, D)`` floating.
        b: ``(M, D)`` floating; default ``None`` (``b = a``, the diagonal exactly 0).
        squared: return squared distances; default ``False``.

    Returns:
        ``(N, M)`` distances.

    Raises:
        TypeError: non-floating inputs.
        ValueError: non-2-D inputs or different feature dimensions.

    Example:
        >>> import torch
        >>> pairwise_euclidean_distance(torch.tensor([[0.0, 0.0], [3.0, 4.0]]))
        tensor([[0., 5.],
                [5., 0.]])
    """
    fn = "pairwise_euclidean_distance"
    self_distance = b is None
    b = a if b is None else b
    _pairwise_checks(fn, a, b)
    if squared or transforms_active():
        return _pairwise_plain(a, b, self_distance, squared)
    return fused_apply(_PairwiseDistance, a, None if self_distance else b)


def _scaled_square_distances(a: Tensor, b: Tensor, self_distance: bool) -> tuple[Tensor, Tensor]:
    """``(D'^2, s)``: the squared distances of the rows of ``a`` and ``b`` divided by their
    largest magnitude ``s`` (detached, 1 for all-zero inputs), ``D^2 = s^2 D'^2``, by one
    matrix product, clamped at 0 against rounding; the diagonal exactly 0 when
    ``self_distance`` (``b`` is ``a``). Plain differentiable operations."""
    s = torch.maximum(_scale(a, None), _scale(b, None))
    a_, b_ = a / s, b / s
    sq = torch.addmm(a_.square().sum(1, keepdim=True), a_, b_.T, alpha=-2.0)
    sq = (sq + b_.square().sum(1)).clamp_min(0.0)
    if self_distance:
        sq = sq.masked_fill(torch.eye(a.shape[0], dtype=torch.bool, device=a.device), 0.0)
    return sq, s


def _pairwise_plain(a: Tensor, b: Tensor, self_distance: bool, squared: bool) -> Tensor:
    """The distances (or their squares) as plain differentiable operations."""
    sq, s = _scaled_square_distances(a, b, self_distance)
    return sq * (s * s) if squared else safe_sqrt(sq) * s


class _PairwiseDistance(torch.autograd.Function):
    """:func:`_pairwise_plain` (not squared) with its backward pass written out, in the
    scaled space: with ``a' = a / s``, ``b' = b / s``, ``D' = D / s`` and ``W = G / D'``
    (0 where ``D' = 0``), ``dL/da = a' rowsum(W) - W b'`` and ``dL/db = b' colsum(W) - W^T a'``;
    ``b = None`` is ``b = a`` (the self-distances, diagonal 0), whose gradient is the sum of
    the two, ``a' rowsum(W + W^T) - (W + W^T) a'``: one matrix product.

    Autograd through the plain form makes some ten passes over ``(N, M)`` besides the two
    matrix products and carries ``G s``, subnormal for subnormal inputs (the direction
    ``(0.5625, 0.75)`` for ``(3, 4) 2^-147``, where ``(0.6, 0.8)`` is exact); this form makes
    three, and no intermediate leaves the scale of its result: forward and backward of a
    ``(1024, 128)`` batch 34.1 -> 16.7 ms and 35.3 -> 25.5 ms in two runs (one thread, old
    against new in one process). Under ``create_graph=True`` the backward pass
    differentiates the plain form (:func:`partial_inputs`)."""

    @staticmethod
    def plain(a: Tensor, b: Tensor | None) -> Tensor:
        """The same result as plain operations (:func:`~losskit._autograd.fused_apply`)."""
        return _pairwise_plain(a, a if b is None else b, b is None, False)

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor | None) -> Tensor:
        sq, s = _scaled_square_distances(a, a if b is None else b, b is None)
        d_ = sq.sqrt_()
        ctx.save_for_backward(a, b, s, d_)
        return d_ * s

    @staticmethod
    def backward(ctx, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
        a, b, s, d_ = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad[0], b is not None and ctx.needs_input_grad[1]
        if torch.is_grad_enabled():  # create_graph=True: the plain form, differentiated
            av, bv = partial_inputs(a, b)
            out = _pairwise_plain(av, av if bv is None else bv, bv is None, False)
            wanted = [t for t, n in ((av, need_a), (bv, need_b)) if n and t is not None]
            grads = iter(torch.autograd.grad(out, wanted, g, create_graph=True))
            return (next(grads) if need_a else None), (next(grads) if need_b else None)
        w = g / d_.masked_fill(d_ <= 0, math.inf)
        a_ = a / s
        if b is None:
            w = w + w.T
            return (torch.addmm(a_ * w.sum(1, keepdim=True), w, a_, alpha=-1.0) if need_a
                    else None), None  # fmt: skip
        b_ = b / s
        ga = torch.addmm(a_ * w.sum(1, keepdim=True), w, b_, alpha=-1.0) if need_a else None
        gb = torch.addmm(b_ * w.sum(0).unsqueeze(1), w.T, a_, alpha=-1.0) if need_b else None
        return ga, gb


@checked
def euclidean_from_cosine(cos: Tensor) -> Tensor:
    r"""Euclidean distance between unit vectors from their cosine.

    Formula:
        d = sqrt(2 - 2 cos)

    For ``||a|| = ||b|| = 1``: ``||a - b||^2 = 2 - 2 a.b``. The argument is clamped at 0
    (rounding can push ``cos`` a hair above 1); the gradient at ``cos = 1`` is 0.

    Args:
        cos: floating cosines, any shape.

    Returns:
        The distances, the shape of ``cos``.

    Raises:
        TypeError: non-floating ``cos``.

    Example:
        >>> import torch
        >>> euclidean_from_cosine(torch.tensor([1.0, 0.0, -1.0]))
        tensor([0.0000, 1.4142, 2.0000])
    """
    check_floating("euclidean_from_cosine", "cos", cos)
    return safe_sqrt(2.0 - 2.0 * cos)


@checked
def cosine_from_euclidean(dist: Tensor) -> Tensor:
    """The inverse of :func:`euclidean_from_cosine` for unit vectors.

    Formula:
        cos = 1 - d^2 / 2

    Args:
        dist: floating Euclidean distances between unit vectors, any shape.

    Returns:
        The cosines, the shape of ``dist``.

    Raises:
        TypeError: non-floating ``dist``.

    Example:
        >>> import torch
        >>> cosine_from_euclidean(torch.tensor([0.0, 2.0]))
        tensor([ 1., -1.])
    """
    check_floating("cosine_from_euclidean", "dist", dist)
    return 1.0 - 0.5 * dist.square()
