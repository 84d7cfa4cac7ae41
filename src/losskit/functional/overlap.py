"""Mask overlap losses: soft Dice, Jaccard (soft IoU), Tversky and focal Tversky, plus the
seed's identity between Dice and IoU (SPEC.md section 2).

All four share one core: soft counts per sample and class (or per class over the whole
batch) ``TP = sum p g``, ``|P| = sum p``, ``|G| = sum g`` with ``FP = |P| - TP`` and
``FN = |G| - TP``, then a ratio. Common arguments:

* ``mode``: ``"binary"`` (``pred`` and ``target`` of one shape ``(N, ...)``, one class),
  ``"multilabel"`` (``pred`` ``(N, C, ...)`` and a 0/1 ``target`` of the same shape, a
  sigmoid per class) or ``"multiclass"`` (``pred`` ``(N, C, ...)`` and an integer
  ``target`` ``(N, ...)`` of class indices, a softmax over ``C``);
* ``from_logits`` (default ``True``): apply that sigmoid/softmax; ``False`` takes
  probabilities;
* ``per_sample`` (default ``True``): one score per sample and class, ``(N, C)``;
  ``False`` sums over the batch too (batch-global, MONAI's ``batch=True``, SMP's only
  form), ``(C,)``;
* ``smooth`` (default 1) is added to numerator and denominator, ``eps`` floors the
  denominator;
* ``ignore_index``: positions whose target equals it are left out of every sum;
* ``weight``: broadcastable to the unreduced loss (``(C,)`` weights classes); ``"mean"`` is
  ``sum(w l) / sum(w)``.

**Empty targets.** A class whose target is empty in a sample (or, batch-global, in the whole
batch) is not dropped: an empty prediction on it (``|P| = |G| = 0``) scores a loss of 0,
and false positives are penalised, ``loss = |P| / (|P| + smooth)`` for Dice (the full loss
1 when ``smooth = 0``, where it no longer has a gradient; hence the default ``smooth = 1``).
segmentation_models_pytorch instead zeroes the loss of every class with an empty target,
so a model that paints objects into empty images is never corrected.

Returns the unreduced loss ``(N, C)`` (``per_sample=True``) or ``(C,)``; ``C = 1`` in binary
mode. float16/bfloat16 are computed in float32 and returned in the input dtype.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._checks import (
    check_choice,
    check_floating,
    check_integer,
    check_labels,
    check_positive,
    check_same_device,
    check_same_shape,
    check_tensor,
    check_weight,
    compute_dtype,
)
from .._reduction import Reduction, check_reduction, reduce_loss

__all__ = [
    "dice_loss",
    "jaccard_loss",
    "tversky_loss",
    "focal_tversky_loss",
    "dice_to_iou",
    "iou_to_dice",
    "MODES",
]

MODES: tuple[str, ...] = ("binary", "multiclass", "multilabel")


def _counts(
    fn: str,
    pred: Tensor,
    target: Tensor,
    *,
    mode: str,
    from_logits: bool,
    per_sample: bool,
    ignore_index: int | None,
    squared: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """Validate, activate, mask and count: ``(TP, |P|, |G|)`` each ``(N, C)`` or ``(C,)``
    (``|P|, |G|`` are sums of squares when ``squared``), in the compute dtype."""
    check_floating(fn, "pred", pred)
    check_tensor(fn, "target", target)
    check_choice(fn, "mode", mode, MODES)
    check_same_device(fn, ("pred", pred), ("target", target))
    if ignore_index is not None and (
        isinstance(ignore_index, bool) or not isinstance(ignore_index, int)
    ):
        raise TypeError(
            f"{fn}: ignore_index must be an int or None; got {type(ignore_index).__name__}"
        )
    work = compute_dtype(pred)
    x = pred.to(work)
    if mode == "multiclass":
        if pred.dim() < 2:
            raise ValueError(
                f"{fn}: in multiclass mode pred must be (N, C, ...); got shape {tuple(pred.shape)}"
            )
        expected = pred.shape[:1] + pred.shape[2:]
        if target.shape != expected:
            raise ValueError(
                f"{fn}: in multiclass mode target must be (N, ...) = {tuple(expected)} for pred "
                f"{tuple(pred.shape)}; got {tuple(target.shape)}"
            )
        num_classes = pred.shape[1]
        if torch.compiler.is_compiling():
            check_integer(fn, "target", target)  # the range check reads values: eager only
        else:
            check_labels(fn, target, num_classes, name="target", ignore_index=ignore_index)
        p = torch.softmax(x, dim=1) if from_logits else x
        n, size = pred.shape[0], math.prod(pred.shape[2:])
        p = p.reshape(n, num_classes, size)
        t = target.reshape(n, 1, size).long()
        # no one-hot tensor: TP_c = sum of p[label] over the positions labelled c (a gather
        # and a scatter-add), |G|_c = the count of those positions
        if ignore_index is not None:
            keep = (t != ignore_index).to(work)  # (N, 1, S)
            t = torch.where(keep > 0, t, torch.zeros_like(t))
            p = p * keep
            ones = keep
        else:
            ones = torch.ones(n, 1, size, dtype=work, device=p.device)
        zeros = torch.zeros(n, num_classes, dtype=work, device=p.device)
        at_label = p.gather(1, t)[:, 0]  # (N, S); already 0 at ignored positions
        tp = zeros.scatter_add(1, t[:, 0], at_label)
        sg = zeros.scatter_add(1, t[:, 0], ones[:, 0])  # g is 0/1, so sum g^2 = sum g
        sp = (p * p).sum(2) if squared else p.sum(2)
        if not per_sample:
            tp, sp, sg = tp.sum(0), sp.sum(0), sg.sum(0)
        return tp, sp, sg
    else:
        check_same_shape(fn, pred, target)
        if mode == "multilabel" and pred.dim() < 2:
            raise ValueError(
                f"{fn}: in multilabel mode pred must be (N, C, ...); got shape {tuple(pred.shape)}"
            )
        if target.is_complex():
            raise TypeError(f"{fn}: target must be real; got dtype {target.dtype}")
        p = torch.sigmoid(x) if from_logits else x
        n = pred.shape[0]
        c = 1 if mode == "binary" else pred.shape[1]
        shape = (n, c, math.prod(pred.shape[1:]) // max(c, 1))
        p = p.reshape(shape)
        t = target.reshape(shape)
        if ignore_index is not None:
            keep = (t != ignore_index).to(work)
            g = torch.where(keep > 0, t.to(work), torch.zeros_like(keep))
            p = p * keep
        else:
            g = t.to(work)
    dims = (2,) if per_sample else (0, 2)
    tp = (p * g).sum(dims)
    if squared:
        sp, sg = (p * p).sum(dims), (g * g).sum(dims)
    else:
        sp, sg = p.sum(dims), g.sum(dims)
    return tp, sp, sg


def _ratio(num: Tensor, den: Tensor, smooth: float, eps: float, empty: Tensor) -> Tensor:
    """``1 - (num + smooth) / max(den + smooth, eps)``, and 0 where ``empty``."""
    score = (num + smooth) / (den + smooth).clamp_min(eps)
    return torch.where(empty, torch.zeros_like(score), 1.0 - score)


def _finish(
    fn: str, loss: Tensor, weight: Tensor | None, reduction: Reduction, out_dtype: torch.dtype
) -> Tensor:
    weight = check_weight(fn, weight, loss.shape)
    w = None if weight is None else weight.to(loss.dtype)
    return reduce_loss(loss, reduction, weight=w, fn=fn).to(out_dtype)


def _check_params(fn: str, smooth: float, eps: float, reduction: object) -> None:
    check_positive(fn, "smooth", smooth, allow_zero=True)
    check_positive(fn, "eps", eps)
    check_reduction(fn, reduction)


_ARGS = """
    Args:
        pred: logits (``from_logits=True``) or probabilities, ``(N, ...)`` in binary mode,
            ``(N, C, ...)`` otherwise.
        target: same shape as ``pred`` (binary, multilabel; 0/1 or soft values) or integer
            class indices ``(N, ...)`` (multiclass).
        mode: ``"binary"``, ``"multiclass"`` or ``"multilabel"``.
        from_logits: apply a sigmoid (binary, multilabel) or a softmax over dim 1
            (multiclass) first.
        per_sample: one loss per sample and class (``True``) or per class over the batch.
        smooth: ``>= 0``, added to numerator and denominator.
        eps: ``> 0``, floor of the denominator.
        ignore_index: target value excluded from every sum.
        weight: broadcastable to the unreduced loss, e.g. ``(C,)`` class weights.
        reduction: ``"none"`` (``(N, C)`` or ``(C,)``), ``"mean"`` or ``"sum"``.

    Returns:
        The loss in the dtype of ``pred``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``pred``, non-tensor ``target``, integer labels expected.
        ValueError: unknown ``mode`` or ``reduction``, shapes that do not match the mode,
            labels out of range (CPU), negative ``smooth``, ``eps <= 0``, a bad ``weight``.
"""


def dice_loss(
    pred: Tensor,
    target: Tensor,
    *,
    mode: str = "binary",
    from_logits: bool = True,
    per_sample: bool = True,
    squared: bool = False,
    smooth: float = 1.0,
    eps: float = 1e-7,
    ignore_index: int | None = None,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    fn = "dice_loss"
    _check_params(fn, smooth, eps, reduction)
    tp, sp, sg = _counts(
        fn, pred, target, mode=mode, from_logits=from_logits, per_sample=per_sample,
        ignore_index=ignore_index, squared=squared,
    )  # fmt: skip
    den = sp + sg
    return _finish(fn, _ratio(2.0 * tp, den, smooth, eps, den == 0), weight, reduction, pred.dtype)


dice_loss.__doc__ = (
    r"""Soft Dice loss, ``l = 1 - (2 TP + smooth) / (|P| + |G| + smooth)``.

    ``2|X ∩ Y| / (|X| + |Y|) = 2TP / (2TP + FP + FN)`` on probabilities. ``squared=True``
    is the V-Net form with ``|P| = sum p^2``, ``|G| = sum g^2`` in the denominator
    (Milletari, Navab, Ahmadi, "V-Net: Fully Convolutional Neural Networks for Volumetric
    Medical Image Segmentation", 3DV 2016, arXiv:1606.04797). Dice is tied to IoU by
    ``IoU = Dice / (2 - Dice)`` (:func:`dice_to_iou`); for small objects a few wrong pixels
    move it a lot. Empty targets: see the module docstring.

    Parity: equals MONAI's ``DiceLoss`` with ``smooth_nr = smooth_dr = smooth`` (per sample,
    or ``batch=True`` for ``per_sample=False``); equals SMP's ``DiceLoss`` (batch-global,
    ``smooth=0``) wherever every class has target pixels.
"""
    + _ARGS.replace(
        "        smooth:",
        "        squared: square ``p`` and ``g`` in the denominator (V-Net).\n        smooth:",
    )
    + """
    Example:
        >>> import torch
        >>> p = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
        >>> g = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
        >>> dice_loss(p, g, from_logits=False, smooth=0.0)  # 1 - 2*1 / (2 + 1)
        tensor(0.3333)
"""
)


def jaccard_loss(
    pred: Tensor,
    target: Tensor,
    *,
    mode: str = "binary",
    from_logits: bool = True,
    per_sample: bool = True,
    smooth: float = 1.0,
    eps: float = 1e-7,
    ignore_index: int | None = None,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    fn = "jaccard_loss"
    _check_params(fn, smooth, eps, reduction)
    tp, sp, sg = _counts(
        fn, pred, target, mode=mode, from_logits=from_logits, per_sample=per_sample,
        ignore_index=ignore_index,
    )  # fmt: skip
    den = sp + sg
    return _finish(fn, _ratio(tp, den - tp, smooth, eps, den == 0), weight, reduction, pred.dtype)


jaccard_loss.__doc__ = (
    r"""Soft Jaccard (IoU) loss, ``l = 1 - (TP + smooth) / (|P| + |G| - TP + smooth)``.

    The mask form of the IoU loss: ``|X ∩ Y| / |X ∪ Y| = TP / (TP + FP + FN)``. Empty
    targets: see the module docstring. Equals SMP's ``JaccardLoss`` (batch-global) wherever
    every class has target pixels, and MONAI's ``DiceLoss(jaccard=True)``.

    Paper: Rahman and Wang, "Optimizing Intersection-Over-Union in Deep Neural Networks for
    Image Segmentation", ISVC 2016.
"""
    + _ARGS
    + """
    Example:
        >>> import torch
        >>> p = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
        >>> g = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
        >>> jaccard_loss(p, g, from_logits=False, smooth=0.0)  # 1 - 1 / 2
        tensor(0.5000)
"""
)


def _tversky(
    fn: str,
    pred: Tensor,
    target: Tensor,
    alpha: float,
    beta: float,
    mode: str,
    from_logits: bool,
    per_sample: bool,
    smooth: float,
    eps: float,
    ignore_index: int | None,
) -> tuple[Tensor, Tensor]:
    check_positive(fn, "alpha", alpha, allow_zero=True)
    check_positive(fn, "beta", beta, allow_zero=True)
    tp, sp, sg = _counts(
        fn, pred, target, mode=mode, from_logits=from_logits, per_sample=per_sample,
        ignore_index=ignore_index,
    )  # fmt: skip
    den = tp + alpha * (sp - tp) + beta * (sg - tp)
    return _ratio(tp, den, smooth, eps, sp + sg == 0), sp + sg == 0


def tversky_loss(
    pred: Tensor,
    target: Tensor,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    mode: str = "binary",
    from_logits: bool = True,
    per_sample: bool = True,
    smooth: float = 1.0,
    eps: float = 1e-7,
    ignore_index: int | None = None,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    fn = "tversky_loss"
    _check_params(fn, smooth, eps, reduction)
    loss, _ = _tversky(
        fn, pred, target, alpha, beta, mode, from_logits, per_sample, smooth, eps, ignore_index
    )
    return _finish(fn, loss, weight, reduction, pred.dtype)


tversky_loss.__doc__ = (
    r"""Tversky loss, ``l = 1 - (TP + smooth) / (TP + alpha FP + beta FN + smooth)``.

    ``alpha`` weighs false positives, ``beta`` false negatives; ``alpha = beta = 0.5`` is
    Dice, ``alpha = beta = 1`` is Jaccard, ``beta > alpha`` favours recall (small lesions).
    Equals SMP's ``TverskyLoss`` (``gamma=1``, batch-global, ``smooth=0``) wherever every
    class has target pixels.

    Paper: Salehi, Erdogmus, Gholipour, "Tversky loss function for image segmentation using
    3D fully convolutional deep networks", MLMI 2017, arXiv:1706.05721.
"""
    + _ARGS.replace(
        "        mode:",
        "        alpha: weight of false positives, ``>= 0``.\n"
        "        beta: weight of false negatives, ``>= 0``.\n        mode:",
    )
    + """
    Example:
        >>> import torch
        >>> p = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
        >>> g = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
        >>> tversky_loss(p, g, alpha=0.3, beta=0.7, from_logits=False, smooth=0.0)  # 1 - 1/2
        tensor(0.5000)
"""
)


def focal_tversky_loss(
    pred: Tensor,
    target: Tensor,
    *,
    alpha: float = 0.3,
    beta: float = 0.7,
    gamma: float = 0.75,
    mode: str = "binary",
    from_logits: bool = True,
    per_sample: bool = True,
    smooth: float = 1.0,
    eps: float = 1e-7,
    ignore_index: int | None = None,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    fn = "focal_tversky_loss"
    _check_params(fn, smooth, eps, reduction)
    check_positive(fn, "gamma", gamma)
    base, empty = _tversky(
        fn, pred, target, alpha, beta, mode, from_logits, per_sample, smooth, eps, ignore_index
    )
    tiny = torch.finfo(base.dtype).tiny
    pos = base > 0
    # (1 - TI)^gamma has an infinite slope at TI = 1 for gamma < 1: the clamp keeps pow's
    # backward finite there and the where returns exactly 0 (no gradient) at a perfect match
    loss = torch.where(pos, base.clamp_min(tiny).pow(gamma), torch.zeros_like(base))
    return _finish(fn, loss, weight, reduction, pred.dtype)


focal_tversky_loss.__doc__ = (
    r"""Focal Tversky loss, ``l = (1 - TI)^gamma`` with ``TI`` the Tversky index.

    With ``gamma < 1`` (default 0.75: the paper writes the exponent as ``1/gamma`` with
    ``gamma = 4/3``) the loss exceeds ``1 - TI`` near ``TI = 1`` and its slope grows there,
    so classes that are nearly but not quite right (small, hard structures) keep a strong
    signal. The exponent applies per sample and class (SMP's ``TverskyLoss(gamma=)`` raises
    the *mean* loss to the power instead). A perfect match gives 0 with a zero gradient.

    Paper: Abraham and Khan, "A Novel Focal Tversky Loss Function with Improved Attention
    U-Net for Lesion Segmentation", ISBI 2019, arXiv:1810.07842.
"""
    + _ARGS.replace(
        "        mode:",
        "        alpha: weight of false positives, ``>= 0``.\n"
        "        beta: weight of false negatives, ``>= 0``.\n"
        "        gamma: the exponent, ``> 0``.\n        mode:",
    )
    + """
    Example:
        >>> import torch
        >>> p = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
        >>> g = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
        >>> focal_tversky_loss(p, g, gamma=0.5, from_logits=False, smooth=0.0)  # (1 - 1/2)^0.5
        tensor(0.7071)
"""
)


def dice_to_iou(dice: Tensor | float) -> Tensor | float:
    r"""The seed's identity ``IoU = Dice / (2 - Dice)`` (exact for the hard scores of one
    pair of sets, since ``Dice = 2TP / (2TP + FP + FN)`` and ``IoU = TP / (TP + FP + FN)``).

    Args:
        dice: a Dice score in ``[0, 1]`` (tensor or float).

    Returns:
        The IoU, same type.

    Example:
        >>> dice_to_iou(0.5)
        0.3333333333333333
    """
    return dice / (2 - dice)


def iou_to_dice(iou: Tensor | float) -> Tensor | float:
    r"""The inverse identity, ``Dice = 2 IoU / (1 + IoU)``.

    Args:
        iou: an IoU in ``[0, 1]`` (tensor or float).

    Returns:
        The Dice score, same type.

    Example:
        >>> iou_to_dice(1 / 3)
        0.5
    """
    return 2 * iou / (1 + iou)
