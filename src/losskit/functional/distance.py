"""Vector geometry: cosine similarity, Euclidean distance, their pairwise ``(N, M)`` forms and
the identity for unit vectors, ``d = sqrt(2 - 2 cos)``.

Every square root here is a *safe* square root: its value at 0 is exactly 0 and its gradient
there is 0 rather than ``inf``/NaN, so two identical embeddings do not poison a backward pass.
Every norm is computed *overflow-safely* (the vector is scaled by its largest magnitude
first, a constant for the gradient): a float32 vector of norm 1e30 normalises to a unit
vector, not to 0 (``x * x`` alone overflows float32 above about 1.8e19).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._api import checked
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

    ``x`` is divided by its largest magnitude ``s`` (detached) and the norm multiplied back:
    ``s ||x / s||``, exact in value and gradient (``x / ||x||``; 0 at ``x = 0``). On CPU in
    eager mode the plain norm (one fused pass) is taken first and kept when every result lies
    safely inside the dtype's range (reading the ``(N,)`` result costs no device sync there);
    on CPU under ``torch.compile`` a float32 or half norm sums its squares in float64, where
    none overflows or underflows (one fused pass); otherwise (a float64 norm compiled, an
    accelerator, or a plain norm out of range) the scaled form runs.

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
    if x.device.type == "cpu" and x.numel() and not torch.compiler.is_compiling():
        n = torch.linalg.vector_norm(x, dim=dim, keepdim=True)
        # above sqrt(tiny) * 1e4 no square that matters has underflowed; below inf nothing
        # has overflowed; a zero row (whose plain gradient is NaN) takes the scaled form
        low = math.sqrt(torch.finfo(x.dtype).tiny) * 1e4
        if bool(((n > low) & (n < math.inf)).all()):
            return n if keepdim else n.squeeze(dim)
    if x.device.type == "cpu" and x.dtype in _WIDENED and torch.compiler.is_compiling():
        # compiled on CPU: the squares summed in float64, where no float32 (or half) square
        # overflows or underflows: one fused pass instead of the scaled form's two (its
        # largest magnitude first), and as exact (ring loss compiled: 0.54x a plain
        # compiled norm with the scaled form)
        n = safe_sqrt(x.double().square().sum(dim, keepdim=True)).to(x.dtype)
        return n if keepdim else n.squeeze(dim)
    s = _scale(x, dim)
    n = safe_sqrt((x / s).square().sum(dim, keepdim=True)) * s
    return n if keepdim else n.squeeze(dim)


#: dtypes whose squares float64 holds without overflow or underflow
_WIDENED = (torch.float32, torch.float16, torch.bfloat16)


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
    s = torch.maximum(_scale(a, None), _scale(b, None))
    a_, b_ = a / s, b / s
    sq = a_.square().sum(1, keepdim=True) + b_.square().sum(1).unsqueeze(0) - 2.0 * (a_ @ b_.T)
    sq = sq.clamp_min(0.0)
    if self_distance:
        sq = sq.masked_fill(torch.eye(a.shape[0], dtype=torch.bool, device=a.device), 0.0)
    return sq * (s * s) if squared else safe_sqrt(sq) * s


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
