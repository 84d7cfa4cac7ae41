"""Topology-preserving overlap losses: soft-clDice and Dice + soft-clDice, with the soft
skeleton in 2-D and 3-D, each a function and a module (re-exported by
:mod:`losskit.functional.overlap`)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as TF
from torch import Tensor

from .._api import DEFAULT, LossModule, checked
from .._autograd import fused_apply
from .._checks import (
    ClassWeight,
    Mask,
    NonNegative,
    NonNegativeInt,
    Positive,
    UnitInterval,
    Weight,
    check_floating,
)
from .._reduction import Reduction
from ._boundary import _class_maps
from .overlap import Mode, _finish, _kept_samples, _ratio

__all__ = [
    "soft_skeleton",
    "cl_dice_loss",
    "dice_cl_dice_loss",
    "ClDiceLoss",
    "DiceClDiceLoss",
]


def _window3(x: Tensor, dim: int, largest: bool) -> Tensor:
    """The extreme of ``x_(i-1), x_i, x_(i+1)`` along ``dim`` (:class:`_Window3`): two
    element-wise ``maximum``/``minimum`` passes written into views of one output."""
    n = x.shape[dim]
    if n == 1:
        return x.clone()
    op = torch.maximum if largest else torch.minimum
    y = torch.empty_like(x)
    y.narrow(dim, 0, 1).copy_(x.narrow(dim, 0, 1))
    op(x.narrow(dim, 1, n - 1), x.narrow(dim, 0, n - 1), out=y.narrow(dim, 1, n - 1))
    left = y.narrow(dim, 0, n - 1)
    op(left, x.narrow(dim, 1, n - 1), out=left)  # then with x_(i+1)
    return y


def _window3_grad(g: Tensor, x: Tensor, y: Tensor, dim: int, differentiable: bool) -> Tensor:
    """The gradient of :func:`_window3` with respect to ``x``: each ``y_i``'s gradient goes
    to ``x_(i-1)`` when it holds the extreme, else to ``x_i`` when it does, else to
    ``x_(i+1)``. Masks as 0/1 floats (on CPU a bool mask in a product costs about five
    element-wise passes, a float one one); eight passes, no copy of ``g``.
    ``differentiable``: out of place, differentiable (a second backward pass)."""
    n = x.shape[dim]
    if n == 1:
        return g.clone()

    def cut(t: Tensor, start: int) -> Tensor:
        return t.narrow(dim, start, n - 1)

    if differentiable:
        zero = torch.zeros_like(g.narrow(dim, 0, 1))
        left = cut(g, 1) * (cut(x, 0) == cut(y, 1)).to(g.dtype)
        rest = torch.cat([g.narrow(dim, 0, 1), cut(g, 1) - left], dim)
        mid = rest * (x == y).to(g.dtype)
        right = cut(rest - mid, 0)
        return mid + torch.cat([left, zero], dim) + torch.cat([zero, right], dim)
    left = torch.eq(cut(x, 0), cut(y, 1), out=torch.empty_like(cut(g, 1))).mul_(cut(g, 1))
    rest = torch.empty_like(g)  # what x_(i-1) did not take
    rest.narrow(dim, 0, 1).copy_(g.narrow(dim, 0, 1))
    torch.sub(cut(g, 1), left, out=cut(rest, 1))
    out = torch.eq(x, y, out=torch.empty_like(g)).mul_(rest)  # x_i's share
    rest.sub_(out)  # x_(i+1)'s share
    cut(out, 0).add_(left)
    cut(out, 1).add_(cut(rest, 0))
    return out


class _Window3(torch.autograd.Function):
    """The maximum (``largest``) or minimum of three neighbours along one axis: ``y_i`` is
    the extreme of ``x_(i-1), x_i, x_(i+1)`` (the ones that exist: the border never takes a
    padding value), stride 1, the size of ``x``: a max-pool of kernel 3 along ``dim``.

    Computed as two element-wise ``maximum``/``minimum`` passes over shifted views, where
    torch's CPU max-pool kernels take 20-70 times an element-wise pass. The backward pass
    routes each ``y_i``'s gradient to the first entry of its window (in the order ``i - 1,
    i, i + 1``) that holds the extreme, as the max-pool does: pools composed along the axes
    one after another (the last axis first) route a square window's gradient exactly as
    ``max_pool2d``/``max_pool3d`` do, ties included. It is written in differentiable
    operations on the incoming gradient (linear in it), so a second backward pass works.
    Under ``torch.compile`` the same computation is the operator ``losskit::window3``
    (:func:`_window3_op`).
    """

    @staticmethod
    def plain(x: Tensor, dim: int, largest: bool) -> Tensor:
        """The same result and gradient routing as plain operations
        (:func:`~losskit._autograd.fused_apply`): a one-dimensional max-pool of kernel 3
        along ``dim`` (its padding never wins), of ``-x`` for the minimum."""
        moved = x.movedim(dim, -1)
        flat = moved.reshape(-1, 1, moved.shape[-1])
        flat = flat if largest else -flat
        pooled = TF.max_pool1d(flat, 3, 1, 1)
        pooled = pooled if largest else -pooled
        return pooled.reshape(moved.shape).movedim(-1, dim)

    @staticmethod
    def forward(ctx, x: Tensor, dim: int, largest: bool) -> Tensor:
        y = _window3(x, dim, largest)
        ctx.save_for_backward(x, y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, g: Tensor):
        x, y = ctx.saved_tensors
        return _window3_grad(g, x, y, ctx.dim, torch.is_grad_enabled()), None, None


@torch.library.custom_op("losskit::window3", mutates_args=())
def _window3_op(x: Tensor, dim: int, largest: bool) -> Tensor:
    """:func:`_window3` as an operator of its own, for ``torch.compile``, with its backward
    ``losskit::window3_backward``: the compiler calls these passes over views and fuses the
    element-wise steps between pools. Its own lowering of a max-pool tracks the winning
    offset through nine masked, NaN-aware comparisons per element, and the traced backward's
    comparisons became boolean masks computed in the forward pass and kept (a dozen boolean
    tensors per pool): the compiled clDice step on (8, 4, 256, 256) took 1.9 s, 3.6 times the
    eager step; with the operators, 0.37 s. A second backward pass under the compiler is
    torch's to refuse (it does not support one); eagerly the skeleton takes
    :class:`_Window3`."""
    return _window3(x, dim, largest)


@_window3_op.register_fake
def _(x: Tensor, dim: int, largest: bool) -> Tensor:  # noqa: ARG001
    return torch.empty_like(x)


def _keep_window(ctx: Any, inputs: tuple[Tensor, int, bool], output: Tensor) -> None:
    ctx.save_for_backward(inputs[0], output)
    ctx.dim = inputs[1]


@torch.library.custom_op("losskit::window3_backward", mutates_args=())
def _window3_backward_op(g: Tensor, x: Tensor, y: Tensor, dim: int) -> Tensor:
    """:func:`_window3_grad` as an operator of its own: the backward of
    ``losskit::window3`` (whose docstring says why it is not traced)."""
    return _window3_grad(g, x, y, dim, False)


@_window3_backward_op.register_fake
def _(g: Tensor, x: Tensor, y: Tensor, dim: int) -> Tensor:  # noqa: ARG001
    return torch.empty_like(g)


def _window3_op_backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
    x, y = ctx.saved_tensors
    return _window3_backward_op(g, x, y, ctx.dim), None, None


_window3_op.register_autograd(_window3_op_backward, setup_context=_keep_window)


class _Min2(torch.autograd.Function):
    """``torch.minimum(a, b)``, its gradient split in halves where ``a == b`` (as torch's own),
    with 0/1 float masks (torch's backward builds bool masks, several times slower on CPU)."""

    @staticmethod
    def plain(a: Tensor, b: Tensor) -> Tensor:
        """The same result and gradient (:func:`~losskit._autograd.fused_apply`)."""
        return torch.minimum(a, b)

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor) -> Tensor:
        ctx.save_for_backward(a, b)
        return torch.minimum(a, b)

    @staticmethod
    def backward(ctx, g: Tensor):
        a, b = ctx.saved_tensors
        share = torch.lt(a, b, out=torch.empty_like(g))  # a's share: 1, 1/2 on ties, 0
        share.add_(torch.eq(a, b, out=torch.empty_like(g)), alpha=0.5)
        ga = share.mul_(g)
        return ga, g - ga


def _pool(x: Tensor, axes: tuple[int, ...], largest: bool) -> Tensor:
    """The extreme over a window 3 long along each of ``axes`` (tensor dimensions), taken
    one axis at a time from the last: the ``max_pool``/``-max_pool(-x)`` of MONAI's soft
    morphology with kernel 3 (``1`` on the other axes), stride 1 and padding 1, values and
    gradients (under ``torch.compile``, the operator ``losskit::window3``)."""
    compiling = torch.compiler.is_compiling()
    for axis in sorted(axes, reverse=True):
        x = _window3_op(x, axis, largest) if compiling else fused_apply(_Window3, x, axis, largest)
    return x


def _erode(x: Tensor) -> Tensor:
    """Soft erosion: the minimum over a cross (3 along each axis, one axis at a time)."""
    out = None
    traced = torch.compiler.is_compiling()  # the compiler fuses a minimum with its neighbours
    for axis in range(2, x.dim()):
        e = _pool(x, (axis,), False)
        out = e if out is None else torch.minimum(out, e) if traced else fused_apply(_Min2, out, e)
    assert out is not None  # x has at least one spatial dimension
    return out


def _dilate(x: Tensor) -> Tensor:
    """Soft dilation: the maximum over a 3 x 3 (x 3) square."""
    return _pool(x, tuple(range(2, x.dim())), True)


def soft_skeleton(x: Tensor, *, iterations: NonNegativeInt = 3) -> Tensor:
    r"""The soft skeleton of images of values in ``[0, 1]``, ``(N, C, H, W)`` or ``(N, C, D, H,
    W)``: iterated soft morphological opening (min- and max-pooling), differentiable.

    Formula:
        skel_0 = relu(x - open(x));  skel_k = skel_(k-1) + relu(delta_k - skel_(k-1) delta_k),  delta_k = relu(erode^k(x) - open(erode^k(x)))

    Erosion is the minimum over a cross (3 along each axis), dilation the maximum over a 3 x 3
    (x 3) square; ``iterations`` erosions reach structures of radius up to about
    ``iterations``: choose it at least the largest radius of the structures to skeletonise.

    Args:
        x: ``(N, C, H, W)`` or ``(N, C, D, H, W)`` values in ``[0, 1]``.
        iterations: how many erosions, ``>= 0``; default 3.

    Returns:
        The soft skeleton, the shape and dtype of ``x``.

    Raises:
        TypeError: ``x`` not a tensor, ``iterations`` not an int.
        ValueError: ``x`` neither 4-D nor 5-D, a negative ``iterations``.

    Paper:
        Shit et al., "clDice - a Novel Topology-Preserving Loss Function for Tubular Structure
        Segmentation", CVPR 2021, arXiv:2003.07311.

    Example:
        >>> import torch
        >>> bar = torch.zeros(1, 1, 5, 5)
        >>> bar[..., 1:4, :] = 1.0  # a bar 3 pixels thick: its skeleton is the middle row
        >>> soft_skeleton(bar, iterations=2)[0, 0, :, 1:4]
        tensor([[0., 0., 0.],
                [0., 0., 0.],
                [1., 1., 1.],
                [0., 0., 0.],
                [0., 0., 0.]])
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"soft_skeleton: x must be a torch.Tensor; got {type(x).__name__}")
    if isinstance(iterations, bool) or not isinstance(iterations, int):
        raise TypeError(f"soft_skeleton: iterations must be an int; got {type(iterations).__name__}")
    if iterations < 0:
        raise ValueError(f"soft_skeleton: iterations must be an int >= 0; got {iterations}")
    if x.dim() not in (4, 5):
        raise ValueError(
            f"soft_skeleton: x must be (N, C, H, W) or (N, C, D, H, W); got shape {tuple(x.shape)}"
        )
    # each step's erosion is the next step's image: computed once (12 pools instead of 18
    # for 3 iterations in 2-D; the pools are nearly all of the time)
    eroded = _erode(x)
    skel = TF.relu(x - _dilate(eroded))
    for _ in range(iterations):
        x = eroded
        eroded = _erode(x)
        delta = TF.relu(x - _dilate(eroded))
        skel = skel + TF.relu(delta - skel * delta)
    return skel


def _cl_dice_terms(
    fn: str, logits: Tensor, target: Tensor, *, mode: str, from_logits: bool, per_sample: bool,
    iterations: int, smooth: float, eps: float, ignore_index: int | None, mask: Tensor | None,
    with_dice: bool,
) -> tuple[Tensor, Tensor | None, Tensor | None]:  # fmt: skip
    """``(clDice, Dice or None, kept samples)``, each ``(N, C)`` (or ``(C,)``).

    The skeletons' max-pools decide by comparisons of the probabilities. From logits they
    run in float64: float32's rounding of the sigmoid/softmax ties (or reorders) nearby
    probabilities that float64 keeps apart and routes a pool's gradient elsewhere (at logits
    of order 1e-4, a property test measured gradients 0.017 apart, 17% of the largest). From
    probabilities (``from_logits=False``) every pool compares input values, whose order
    float32 holds exactly, so they run in the input's dtype (float32 for float16/bfloat16):
    the same decisions at half the memory traffic."""
    check_floating(fn, "logits", logits)
    p, g, keep, _ = _class_maps(fn, logits.double() if from_logits else logits, target,
                                mode=mode, from_logits=from_logits, ignore_index=ignore_index,
                                mask=mask, foreground=False)  # fmt: skip
    if p.dim() not in (4, 5):
        raise ValueError(
            f"{fn}: the soft skeleton needs 2-D or 3-D images: logits (N, C, H, W) or "
            f"(N, C, D, H, W) ((N, H, W) or (N, D, H, W) in binary mode); got shape "
            f"{tuple(logits.shape)}"
        )
    if keep is not None:
        p = torch.where(keep, p, 0.0)  # g is already 0 there
    n, c = p.shape[:2]
    size = math.prod(p.shape[2:])
    skel_p = soft_skeleton(p, iterations=iterations).reshape(n, c, size)
    skel_g = soft_skeleton(g, iterations=iterations).reshape(n, c, size)
    pf, gf = p.reshape(n, c, size), g.reshape(n, c, size)
    sums = [(skel_p * gf).sum(-1), skel_p.sum(-1), (skel_g * pf).sum(-1), skel_g.sum(-1)]
    if with_dice:
        sums += [(pf * gf).sum(-1), pf.sum(-1) + gf.sum(-1)]
    if not per_sample:
        sums = [t.sum(0) for t in sums]
    # topology precision (the predicted skeleton inside the target) and sensitivity (the
    # target's skeleton inside the prediction)
    tprec = (sums[0] + smooth) / (sums[1] + smooth).clamp_min(1e-30)
    tsens = (sums[2] + smooth) / (sums[3] + smooth).clamp_min(1e-30)
    cl = 1.0 - 2.0 * tprec * tsens / (tprec + tsens + eps)
    dice = None
    if with_dice:
        den = sums[5]
        dice = _ratio(2.0 * sums[4], den, smooth, 1e-30, den == 0)
    return cl, dice, _kept_samples(keep, p.shape, per_sample)


@checked
def cl_dice_loss(
    logits: Tensor, target: Tensor, *, iterations: NonNegativeInt = 3, mode: Mode = "binary",
    from_logits: bool = True, per_sample: bool = True, smooth: NonNegative = 1.0,
    eps: Positive = 1e-4, ignore_index: int | None = -100, class_weight: ClassWeight = None,
    weight: Weight = None, mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Soft-clDice loss: the harmonic mean of topology precision and sensitivity, the overlap
    of each mask's soft skeleton with the other mask; rewards connected thin structures.

    Formula:
        l = 1 - 2 Tprec Tsens / (Tprec + Tsens + eps),  Tprec = (sum S(p) g + smooth) / (sum S(p) + smooth),  Tsens = (sum S(g) p + smooth) / (sum S(g) + smooth)

    ``S`` is :func:`soft_skeleton` (``iterations`` erosions) of the probabilities and of the
    target, per sample and class (or per class over the batch). A gap in a predicted vessel
    removes part of the target's skeleton from the prediction and costs sensitivity in
    proportion to its length along the skeleton, where Dice counts only its few pixels. An
    empty prediction on an empty target gives ``Tprec = Tsens = 1`` and a loss of
    ``eps / (2 + eps)`` (about ``5e-5``). Positions left out (``mask``, ``ignore_index``)
    count as background for the skeletons and leave every sum. 2-D and 3-D images only. The
    loss is computed in float64 from logits (the skeletons' max-pools decide by comparisons
    that float32's rounding of the activation would tie differently) and in the input's
    dtype from probabilities (whose order float32 holds exactly); it is returned in the
    input's dtype.

    When to use:
        Tubular and curvilinear structures (vessels, neurons, roads, cracks) where
        connectivity matters more than thickness; usually combined with Dice
        (:func:`dice_cl_dice_loss`), since clDice alone ignores the structures' width.

    Args:
        logits: logits (``from_logits=True``) or probabilities; ``(N, H, W)`` or ``(N, D, H,
            W)`` in binary mode, ``(N, C, H, W)`` or ``(N, C, D, H, W)`` otherwise.
        target: 0/1 targets of the shape of ``logits`` (binary, multilabel) or integer class
            indices (multiclass).
        iterations: the soft skeleton's erosions, ``>= 0`` (at least the largest radius of the
            structures); default 3.
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        from_logits: apply a sigmoid (binary, multilabel) or a softmax over dim 1
            (multiclass) first; default ``True``.
        per_sample: per sample and class (default ``True``) or per class over the batch.
        smooth: ``>= 0``, added to numerators and denominators of ``Tprec`` and ``Tsens``;
            default 1.
        eps: ``> 0``, added to the denominator of the harmonic mean; default ``1e-4``.
        ignore_index: target value left out; default -100, ``None`` for none.
        class_weight: optional non-negative ``(C,)`` class weights.
        weight: optional non-negative ``(N,)`` sample weights (``per_sample=True`` only).
        mask: optional bool tensor broadcastable to the per-position shape.
        reduction: ``"none"`` (``(N, C)``, or ``(C,)`` with ``per_sample=False``), ``"mean"``
            (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``, a non-tensor ``target``, non-integer labels in
            multiclass mode, a non-integer ``iterations``.
        ValueError: unknown ``mode``/``reduction``, shapes that do not match the mode or are
            not 2-D/3-D images, labels or binary targets out of range (CPU), a negative
            ``iterations`` or ``smooth``, ``eps <= 0``, a bad ``weight``/``class_weight``/
            ``mask``.

    Equals MONAI's ``SoftclDiceLoss`` (``iter_ = iterations``, ``smooth_nr = smooth_dr =
    smooth``, ``smooth = eps``) on one channel (binary mode); with several channels MONAI
    pools them into one score per sample, losskit scores each class.

    Paper:
        Shit et al., "clDice - a Novel Topology-Preserving Loss Function for Tubular Structure
        Segmentation", CVPR 2021, arXiv:2003.07311.

    Example:
        >>> import torch
        >>> g = torch.zeros(1, 7, 7)
        >>> g[:, 3, :] = 1.0  # a thin horizontal line
        >>> broken = g.clone()
        >>> broken[:, 3, 3] = 0.0  # one pixel missing: Tprec = 1, Tsens = 6/7
        >>> cl_dice_loss(broken, g, from_logits=False, smooth=0.0)  # 1 - (12/7) / (13/7 + eps)
        tensor(0.0770)
    """
    fn = "cl_dice_loss"
    cl, _, kept = _cl_dice_terms(
        fn, logits, target, mode=mode, from_logits=from_logits, per_sample=per_sample,
        iterations=iterations, smooth=smooth, eps=eps, ignore_index=ignore_index, mask=mask,
        with_dice=False,
    )  # fmt: skip
    return _finish(fn, cl, logits, per_sample, class_weight, weight, reduction, kept)


@checked
def dice_cl_dice_loss(
    logits: Tensor, target: Tensor, *, cl_weight: UnitInterval = 0.5,
    iterations: NonNegativeInt = 3, mode: Mode = "binary", from_logits: bool = True,
    per_sample: bool = True, smooth: NonNegative = 1.0, eps: Positive = 1e-4,
    ignore_index: int | None = -100, class_weight: ClassWeight = None, weight: Weight = None,
    mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Soft Dice + soft-clDice: ``(1 - cl_weight) Dice + cl_weight clDice`` per sample and
    class, the combination the clDice paper trains with.

    Formula:
        l = (1 - cl_weight) (1 - (2 sum p g + smooth) / (sum p + sum g + smooth)) + cl_weight clDice

    The Dice term is :func:`dice_loss` with ``smooth``; the clDice term is
    :func:`cl_dice_loss`'s. Empty targets, left-out positions and the image dimensions are
    as there.

    When to use:
        Segmenting tubular structures: Dice fits the volume, clDice keeps the structures
        connected. ``cl_weight`` between 0.3 and 0.5 is the paper's range.

    Args:
        logits: logits (``from_logits=True``) or probabilities; ``(N, H, W)`` or ``(N, D, H,
            W)`` in binary mode, ``(N, C, H, W)`` or ``(N, C, D, H, W)`` otherwise.
        target: 0/1 targets of the shape of ``logits`` (binary, multilabel) or integer class
            indices (multiclass).
        cl_weight: the weight of the clDice term, in ``[0, 1]`` (the paper's and MONAI's
            alpha); default 0.5.
        iterations: the soft skeleton's erosions, ``>= 0``; default 3.
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        from_logits: apply a sigmoid (binary, multilabel) or a softmax over dim 1
            (multiclass) first; default ``True``.
        per_sample: per sample and class (default ``True``) or per class over the batch.
        smooth: ``>= 0``, the smoothing of both terms; default 1.
        eps: ``> 0``, added to the denominator of clDice's harmonic mean; default ``1e-4``.
        ignore_index: target value left out; default -100, ``None`` for none.
        class_weight: optional non-negative ``(C,)`` class weights.
        weight: optional non-negative ``(N,)`` sample weights (``per_sample=True`` only).
        mask: optional bool tensor broadcastable to the per-position shape.
        reduction: ``"none"`` (``(N, C)``, or ``(C,)`` with ``per_sample=False``), ``"mean"``
            (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``, a non-tensor ``target``, non-integer labels in
            multiclass mode, a non-integer ``iterations``.
        ValueError: as :func:`cl_dice_loss`, and ``cl_weight`` outside ``[0, 1]``.

    Equals MONAI's ``SoftDiceclDiceLoss`` (``alpha = cl_weight``, ``iter_ = iterations``,
    ``smooth_nr = smooth_dr = smooth``, ``smooth = eps``) on one channel.

    Paper:
        Shit et al., "clDice - a Novel Topology-Preserving Loss Function for Tubular Structure
        Segmentation", CVPR 2021, arXiv:2003.07311.

    Example:
        >>> import torch
        >>> g = torch.zeros(1, 7, 7)
        >>> g[:, 3, :] = 1.0
        >>> broken = g.clone()
        >>> broken[:, 3, 3] = 0.0
        >>> # Dice 1 - 12/13 and clDice 1 - (12/7) / (13/7 + eps), half each
        >>> dice_cl_dice_loss(broken, g, from_logits=False, smooth=0.0)
        tensor(0.0769)
    """
    fn = "dice_cl_dice_loss"
    cl, dice, kept = _cl_dice_terms(
        fn, logits, target, mode=mode, from_logits=from_logits, per_sample=per_sample,
        iterations=iterations, smooth=smooth, eps=eps, ignore_index=ignore_index, mask=mask,
        with_dice=True,
    )  # fmt: skip
    loss = (1.0 - cl_weight) * dice + cl_weight * cl  # type: ignore[operator]
    return _finish(fn, loss, logits, per_sample, class_weight, weight, reduction, kept)


class ClDiceLoss(LossModule, function=cl_dice_loss):
    """Soft-clDice loss, ``1 - 2 Tprec Tsens / (Tprec + Tsens + eps)`` per sample and class.

    Args:
        iterations: the soft skeleton's erosions; default 3.
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        from_logits: apply the sigmoid/softmax first; default ``True``.
        per_sample: per sample and class (default) or per class over the batch.
        smooth: default 1.
        eps: default ``1e-4``.
        ignore_index: target value left out; default -100.
        class_weight: optional ``(C,)`` class weights (a buffer).
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``: ``logits`` ``(N, H, W)``,
        ``(N, D, H, W)`` (binary) or ``(N, C, H, W)``, ``(N, C, D, H, W)``; ``target`` of that
        shape or labels. Output: a scalar, or ``(N, C)`` / ``(C,)``.

    Paper:
        Shit et al., "clDice", CVPR 2021, arXiv:2003.07311.

    Example:
        >>> import torch
        >>> g = torch.zeros(1, 7, 7)
        >>> g[:, 3, :] = 1.0
        >>> ClDiceLoss(from_logits=False)(g, g)  # perfect: eps / (2 + eps), to float32 rounding
        tensor(4.9949e-05)
    """

    iterations: NonNegativeInt = DEFAULT
    mode: Mode = DEFAULT
    from_logits: bool = DEFAULT
    per_sample: bool = DEFAULT
    smooth: NonNegative = DEFAULT
    eps: Positive = DEFAULT
    ignore_index: int | None = DEFAULT
    class_weight: ClassWeight = DEFAULT


class DiceClDiceLoss(ClDiceLoss, function=dice_cl_dice_loss):
    """Soft Dice + soft-clDice, ``(1 - cl_weight) Dice + cl_weight clDice``.

    Args:
        cl_weight: the weight of the clDice term, in ``[0, 1]``; default 0.5.
        iterations: the soft skeleton's erosions; default 3.
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        from_logits: apply the sigmoid/softmax first; default ``True``.
        per_sample: per sample and class (default) or per class over the batch.
        smooth: default 1.
        eps: default ``1e-4``.
        ignore_index: target value left out; default -100.
        class_weight: optional ``(C,)`` class weights (a buffer).
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``: ``logits`` ``(N, H, W)``,
        ``(N, D, H, W)`` (binary) or ``(N, C, H, W)``, ``(N, C, D, H, W)``; ``target`` of that
        shape or labels. Output: a scalar, or ``(N, C)`` / ``(C,)``.

    Paper:
        Shit et al., "clDice", CVPR 2021, arXiv:2003.07311.

    Example:
        >>> import torch
        >>> g = torch.zeros(1, 7, 7)
        >>> g[:, 3, :] = 1.0
        >>> DiceClDiceLoss(from_logits=False)(g, g)  # half of eps / (2 + eps), in float32
        tensor(2.4974e-05)
    """

    cl_weight: UnitInterval = DEFAULT
