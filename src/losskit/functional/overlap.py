"""Mask overlap losses: soft Dice, Jaccard (soft IoU), Tversky and focal Tversky, plus the
identity between Dice and IoU; each loss as a function and a module.

All four share one core: soft counts per sample and class (or per class over the whole
batch) ``TP = sum p g``, ``|P| = sum p``, ``|G| = sum g`` with ``FP = |P| - TP`` and
``FN = |G| - TP``, then a ratio. Common arguments:

* ``mode``: ``"binary"`` (``pred`` and ``target`` of one shape ``(N, ...)``, one class),
  ``"multilabel"`` (``pred`` ``(N, C, ...)`` and a 0/1 ``target`` of the same shape, a
  sigmoid per class) or ``"multiclass"`` (``pred`` ``(N, C, ...)`` and an integer
  ``target`` ``(N, ...)`` of class indices, a softmax over ``C``);
* ``from_logits`` (default ``True``): apply that sigmoid/softmax; ``False`` takes
  probabilities (checked to lie in ``[0, 1]`` on CPU, as are binary targets);
* ``per_sample`` (default ``True``): one score per sample and class, ``(N, C)``;
  ``False`` sums over the batch too (batch-global, MONAI's ``batch=True``, SMP's only
  form), ``(C,)``;
* ``smooth`` (default 1) is added to numerator and denominator, ``eps`` floors the
  denominator;
* ``mask`` (bool, broadcastable to the per-position shape: ``pred`` in binary and multilabel
  mode, the labels ``(N, ...)`` in multiclass mode) and ``ignore_index`` (default -100: target
  values equal to it) leave positions out of every sum;
* ``class_weight`` ``(C,)`` weighs classes and ``weight`` ``(N,)`` samples
  (``per_sample=True`` only); ``"mean"`` is ``sum(w l) / sum(w)``.

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
from typing import Literal, get_args

import torch
from torch import Tensor

from .._api import DEFAULT, LossModule, checked
from .._checks import (
    ClassWeight,
    Mask,
    NonNegative,
    Positive,
    Weight,
    check_class_vector,
    check_floating,
    check_labels,
    check_min_ndim,
    check_per_row,
    check_same_device,
    check_same_shape,
    check_tensor,
    check_unit_values,
    compute_dtype,
)
from .._reduction import Reduction, exclusion, finish, zero_excluded

__all__ = [
    "dice_loss",
    "jaccard_loss",
    "tversky_loss",
    "focal_tversky_loss",
    "dice_to_iou",
    "iou_to_dice",
    "DiceLoss",
    "JaccardLoss",
    "TverskyLoss",
    "FocalTverskyLoss",
]

Mode = Literal["binary", "multiclass", "multilabel"]
MODES = get_args(Mode)


def _counts(
    fn: str, pred: Tensor, target: Tensor, *, mode: str, from_logits: bool, per_sample: bool,
    ignore_index: int | None, mask: Tensor | None, squared: bool = False,
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:  # fmt: skip
    """Validate, activate, exclude and count: ``(TP, |P|, |G|)`` each ``(N, C)`` or ``(C,)``
    (``|P|, |G|`` are sums of squares when ``squared``), in the compute dtype, and with
    ``per_sample`` the ``(N, 1)`` samples that keep a position (``None``: all do): a sample
    whose every position is left out leaves the mean, as a left-out entry does."""
    check_floating(fn, "logits", pred)
    check_tensor(fn, "target", target)
    check_same_device(fn, ("logits", pred), ("target", target), ("mask", mask))
    work = compute_dtype(pred)
    x = pred.to(work)
    if mode == "multiclass":
        check_min_ndim(fn, "logits", pred, 2, "(N, C, ...) in multiclass mode")
        expected = pred.shape[:1] + pred.shape[2:]
        if target.shape != expected:
            raise ValueError(
                f"{fn}: in multiclass mode target must be (N, ...) = {tuple(expected)} for "
                f"logits {tuple(pred.shape)}; got {tuple(target.shape)}"
            )
        num_classes = pred.shape[1]
        keep = exclusion(fn, expected, mask=mask, labels=target, ignore_index=ignore_index)
        check_labels(fn, target, num_classes, name="target", ignore_index=ignore_index,
                     keep=keep)  # fmt: skip
        x = x if keep is None else zero_excluded(x, keep.unsqueeze(1))
        p = torch.softmax(x, dim=1) if from_logits else x
        if not from_logits:
            check_unit_values(fn, "logits", pred, " (from_logits=False: probabilities)")
        n, size = pred.shape[0], math.prod(pred.shape[2:])
        p = p.reshape(n, num_classes, size)
        t = target.reshape(n, 1, size).long()
        # no one-hot tensor: TP_c = sum of p[label] over the positions labelled c (a gather
        # and a scatter-add), |G|_c = the count of those positions
        if keep is not None:
            k = keep.expand(expected).reshape(n, 1, size)
            t = torch.where(k, t, torch.zeros_like(t))
            ones = k.to(work)
            p = zero_excluded(p, k)
        else:
            ones = torch.ones(n, 1, size, dtype=work, device=p.device)
        zeros = torch.zeros(n, num_classes, dtype=work, device=p.device)
        at_label = p.gather(1, t)[:, 0]  # (N, S); already 0 at excluded positions
        tp = zeros.scatter_add(1, t[:, 0], at_label)
        sg = zeros.scatter_add(1, t[:, 0], ones[:, 0])  # g is 0/1, so sum g^2 = sum g
        sp = (p * p).sum(2) if squared else p.sum(2)
        if not per_sample:
            tp, sp, sg = tp.sum(0), sp.sum(0), sg.sum(0)
        return tp, sp, sg, _kept_samples(keep, expected, per_sample)
    check_same_shape(fn, pred, target, ("logits", "target"))
    check_min_ndim(fn, "logits", pred, 2 if mode == "multilabel" else 1,
                   "(N, C, ...) in multilabel mode" if mode == "multilabel" else "(N, ...)")  # fmt: skip
    if target.is_complex():
        raise TypeError(f"{fn}: target must be real; got dtype {target.dtype}")
    keep = exclusion(fn, pred.shape, mask=mask, labels=target, ignore_index=ignore_index)
    check_unit_values(fn, "target", target, " (binary targets; exclude void labels with "
                      "ignore_index or mask)", keep)  # fmt: skip
    if not from_logits:
        check_unit_values(fn, "logits", pred, " (from_logits=False: probabilities)")
    x = zero_excluded(x, keep)
    p = torch.sigmoid(x) if from_logits else x
    n = pred.shape[0]
    c = 1 if mode == "binary" else pred.shape[1]
    shape = (n, c, math.prod(pred.shape[1:]) // max(c, 1))
    p = p.reshape(shape)
    t = target.reshape(shape)
    if keep is not None:
        k = keep.expand(pred.shape).reshape(shape)
        g = torch.where(k, t.to(work), torch.zeros((), dtype=work, device=t.device))
        p = zero_excluded(p, k)
    else:
        g = t.to(work)
    dims = (2,) if per_sample else (0, 2)
    tp = (p * g).sum(dims)
    if squared:
        sp, sg = (p * p).sum(dims), (g * g).sum(dims)
    else:
        sp, sg = p.sum(dims), g.sum(dims)
    return tp, sp, sg, _kept_samples(keep, pred.shape, per_sample)


def _kept_samples(keep: Tensor | None, shape: torch.Size, per_sample: bool) -> Tensor | None:
    if keep is None or not per_sample:
        return None
    return keep.expand(shape).reshape(shape[0], -1).any(1, keepdim=True)


def _ratio(num: Tensor, den: Tensor, smooth: float, eps: float, empty: Tensor) -> Tensor:
    """``1 - (num + smooth) / max(den + smooth, eps)``, and 0 where ``empty``."""
    score = (num + smooth) / (den + smooth).clamp_min(eps)
    return torch.where(empty, torch.zeros_like(score), 1.0 - score)


def _finish(
    fn: str, loss: Tensor, pred: Tensor, per_sample: bool, class_weight: Tensor | None,
    weight: Tensor | None, reduction: Reduction, kept: Tensor | None = None,
) -> Tensor:  # fmt: skip
    """Class and sample weights on the ``(N, C)`` (or ``(C,)``) loss, then :func:`finish`
    (``kept``: the ``(N, 1)`` samples that keep a position)."""
    check_same_device(fn, ("logits", pred), ("class_weight", class_weight), ("weight", weight))
    w = None
    if class_weight is not None:
        check_class_vector(fn, "class_weight", class_weight, loss.shape[-1])
        w = class_weight
    if weight is not None:
        if not per_sample:
            raise ValueError(
                f"{fn}: weight is per sample, and with per_sample=False the loss has no "
                "per-sample entries; pass class_weight, or mask to leave positions out"
            )
        check_per_row(fn, "weight", weight, loss.shape[0])
        w = weight[:, None] if w is None else weight[:, None] * w
    return finish(fn, loss, reduction, weight=w, keep=kept, out_dtype=pred.dtype)


@checked
def dice_loss(
    logits: Tensor, target: Tensor, *, mode: Mode = "binary", from_logits: bool = True,
    per_sample: bool = True, squared_pred: bool = False, smooth: NonNegative = 1.0,
    eps: Positive = 1e-7, ignore_index: int | None = -100, class_weight: ClassWeight = None,
    weight: Weight = None, mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Soft Dice loss: ``1 -`` the soft Dice coefficient ``2TP / (2TP + FP + FN)``.

    Formula:
        l = 1 - (2 sum p g + smooth) / (sum p + sum g + smooth)   (squared_pred: sum p^2 + sum g^2)

    ``squared_pred=True`` is the V-Net form with ``sum p^2``, ``sum g^2`` in the denominator.
    Dice is tied to IoU by ``IoU = Dice / (2 - Dice)`` (:func:`dice_to_iou`); for small
    objects a few wrong pixels move it a lot. A class with an empty target scores 0 for an
    empty prediction and ``|P| / (|P| + smooth)`` otherwise (module docstring).

    When to use:
        Segmentation with a small foreground: it scores overlap directly, so the background's
        pixel count does not swamp it. Unstable for tiny objects (a few pixels move it a lot);
        often summed with cross-entropy. Empty targets are scored, not dropped: an empty
        prediction on them costs 0 and false positives cost up to 1.

    Args:
        logits: logits (``from_logits=True``) or probabilities; ``(N, *)`` in binary mode,
            ``(N, C, *)`` otherwise.
        target: the shape of ``logits`` (binary, multilabel; 0/1 or soft values) or integer
            class indices ``(N, *)`` (multiclass).
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        from_logits: apply a sigmoid (binary, multilabel) or a softmax over dim 1
            (multiclass) first; default ``True``.
        per_sample: one loss per sample and class (default ``True``) or per class over the
            whole batch.
        squared_pred: square ``p`` and ``g`` in the denominator (V-Net); default ``False``.
        smooth: ``>= 0``, added to numerator and denominator; default 1.
        eps: ``> 0``, floor of the denominator; default ``1e-7``.
        ignore_index: target value excluded from every sum; default -100, ``None`` for none.
        class_weight: optional non-negative ``(C,)`` class weights.
        weight: optional non-negative ``(N,)`` sample weights (``per_sample=True`` only).
        mask: optional bool tensor broadcastable to the per-position shape; ``False`` = leave
            the position out of every sum.
        reduction: ``"none"`` (``(N, C)``, or ``(C,)`` with ``per_sample=False``), ``"mean"``
            (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``, non-tensor ``target``, non-integer labels in
            multiclass mode.
        ValueError: unknown ``mode``/``reduction``, shapes that do not match the mode, labels
            or binary targets out of range (CPU), negative ``smooth``, ``eps <= 0``, a bad
            ``weight``/``class_weight``/``mask``.

    Equals MONAI's ``DiceLoss`` with ``smooth_nr = smooth_dr = smooth`` (``batch=True`` for
    ``per_sample=False``), and SMP's ``DiceLoss`` (batch-global, ``smooth=0``) wherever every
    class has target pixels.

    Paper:
        Milletari, Navab, Ahmadi, "V-Net: Fully Convolutional Neural Networks for Volumetric
        Medical Image Segmentation", 3DV 2016, arXiv:1606.04797.

    Example:
        >>> import torch
        >>> p = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
        >>> g = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
        >>> dice_loss(p, g, from_logits=False, smooth=0.0)  # 1 - 2*1 / (2 + 1)
        tensor(0.3333)
    """
    fn = "dice_loss"
    tp, sp, sg, kept = _counts(
        fn, logits, target, mode=mode, from_logits=from_logits, per_sample=per_sample,
        ignore_index=ignore_index, mask=mask, squared=squared_pred,
    )  # fmt: skip
    den = sp + sg
    loss = _ratio(2.0 * tp, den, smooth, eps, den == 0)
    return _finish(fn, loss, logits, per_sample, class_weight, weight, reduction, kept)


@checked
def jaccard_loss(
    logits: Tensor, target: Tensor, *, mode: Mode = "binary", from_logits: bool = True,
    per_sample: bool = True, smooth: NonNegative = 1.0, eps: Positive = 1e-7,
    ignore_index: int | None = -100, class_weight: ClassWeight = None, weight: Weight = None,
    mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Soft Jaccard (IoU) loss: ``1 -`` the soft intersection over union ``TP / (TP + FP + FN)``.

    Formula:
        l = 1 - (sum p g + smooth) / (sum p + sum g - sum p g + smooth)

    The mask form of the IoU loss. A class with an empty target scores 0 for an empty
    prediction and ``|P| / (|P| + smooth)`` for false positives (they are penalised, not
    dropped).

    When to use:
        When the metric is mean IoU: the loss is its soft version. Tied to Dice by
        IoU = Dice / (2 - Dice), so the two rank predictions alike.

    Args:
        logits: logits or probabilities; ``(N, *)`` (binary) or ``(N, C, *)``.
        target: same shape (binary, multilabel) or class indices ``(N, *)`` (multiclass).
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        from_logits: apply the sigmoid or softmax first; default ``True``.
        per_sample: per sample and class (default ``True``) or per class over the batch.
        smooth: ``>= 0``, added to numerator and denominator; default 1.
        eps: ``> 0``, floor of the denominator; default ``1e-7``.
        ignore_index: target value excluded from every sum; default -100, ``None`` for none.
        class_weight: optional non-negative ``(C,)`` class weights.
        weight: optional non-negative ``(N,)`` sample weights (``per_sample=True`` only).
        mask: optional bool tensor broadcastable to the per-position shape.
        reduction: ``"none"`` (``(N, C)`` or ``(C,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``, a non-tensor ``target``.
        ValueError: unknown ``mode``/``reduction``, shapes that do not match the mode, targets
            out of range (CPU), negative ``smooth``, ``eps <= 0``, bad weights or mask.

    Equals SMP's ``JaccardLoss`` (batch-global) wherever every class has target pixels, and
    MONAI's ``DiceLoss(jaccard=True)``.

    Paper:
        Rahman, Wang, "Optimizing Intersection-Over-Union in Deep Neural Networks for Image
        Segmentation", ISVC 2016.

    Example:
        >>> import torch
        >>> p = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
        >>> g = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
        >>> jaccard_loss(p, g, from_logits=False, smooth=0.0)  # 1 - 1 / 2
        tensor(0.5000)
    """
    fn = "jaccard_loss"
    tp, sp, sg, kept = _counts(
        fn, logits, target, mode=mode, from_logits=from_logits, per_sample=per_sample,
        ignore_index=ignore_index, mask=mask,
    )  # fmt: skip
    den = sp + sg
    loss = _ratio(tp, den - tp, smooth, eps, den == 0)
    return _finish(fn, loss, logits, per_sample, class_weight, weight, reduction, kept)


def _tversky(
    fn: str, pred: Tensor, target: Tensor, fp_weight: float, fn_weight: float, mode: str,
    from_logits: bool, per_sample: bool, smooth: float, eps: float, ignore_index: int | None,
    mask: Tensor | None,
) -> tuple[Tensor, Tensor | None]:  # fmt: skip
    tp, sp, sg, kept = _counts(
        fn, pred, target, mode=mode, from_logits=from_logits, per_sample=per_sample,
        ignore_index=ignore_index, mask=mask,
    )  # fmt: skip
    den = tp + fp_weight * (sp - tp) + fn_weight * (sg - tp)
    return _ratio(tp, den, smooth, eps, sp + sg == 0), kept


@checked
def tversky_loss(
    logits: Tensor, target: Tensor, *, fp_weight: NonNegative = 0.5,
    fn_weight: NonNegative = 0.5, mode: Mode = "binary", from_logits: bool = True,
    per_sample: bool = True, smooth: NonNegative = 1.0, eps: Positive = 1e-7,
    ignore_index: int | None = -100, class_weight: ClassWeight = None, weight: Weight = None,
    mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Tversky loss: Dice with tunable costs of false positives and false negatives.

    Formula:
        l = 1 - (TP + smooth) / (TP + fp_weight FP + fn_weight FN + smooth)

    ``fp_weight = fn_weight = 0.5`` is Dice, ``1`` and ``1`` is Jaccard; ``fn_weight >
    fp_weight`` favours recall (small lesions). The paper calls the two weights alpha and
    beta.

    When to use:
        Segmentation where a miss costs more than a false alarm (small lesions):
        fn_weight > fp_weight trades precision for recall. 0.5 and 0.5 is Dice.

    Args:
        logits: logits or probabilities; ``(N, *)`` (binary) or ``(N, C, *)``.
        target: same shape (binary, multilabel) or class indices ``(N, *)`` (multiclass).
        fp_weight: the weight of false positives (the paper's alpha), ``>= 0``; default 0.5.
        fn_weight: the weight of false negatives (the paper's beta), ``>= 0``; default 0.5.
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        from_logits: apply the sigmoid or softmax first; default ``True``.
        per_sample: per sample and class (default ``True``) or per class over the batch.
        smooth: ``>= 0``; default 1.
        eps: ``> 0``, floor of the denominator; default ``1e-7``.
        ignore_index: target value excluded from every sum; default -100, ``None`` for none.
        class_weight: optional non-negative ``(C,)`` class weights.
        weight: optional non-negative ``(N,)`` sample weights (``per_sample=True`` only).
        mask: optional bool tensor broadcastable to the per-position shape.
        reduction: ``"none"`` (``(N, C)`` or ``(C,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``, a non-tensor ``target``.
        ValueError: unknown ``mode``/``reduction``, mismatched shapes, targets out of range,
            negative weights or ``smooth``, ``eps <= 0``.

    Equals SMP's ``TverskyLoss`` (``gamma=1``, batch-global, ``smooth=0``) wherever every
    class has target pixels.

    Paper:
        Salehi, Erdogmus, Gholipour, "Tversky loss function for image segmentation using 3D
        fully convolutional deep networks", MLMI 2017, arXiv:1706.05721.

    Example:
        >>> import torch
        >>> p = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
        >>> g = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
        >>> tversky_loss(p, g, fp_weight=0.3, fn_weight=0.7, from_logits=False, smooth=0.0)
        tensor(0.5000)
    """
    fn = "tversky_loss"
    loss, kept = _tversky(fn, logits, target, fp_weight, fn_weight, mode, from_logits,
                          per_sample, smooth, eps, ignore_index, mask)  # fmt: skip
    return _finish(fn, loss, logits, per_sample, class_weight, weight, reduction, kept)


@checked
def focal_tversky_loss(
    logits: Tensor, target: Tensor, *, fp_weight: NonNegative = 0.3,
    fn_weight: NonNegative = 0.7, gamma: Positive = 0.75, mode: Mode = "binary",
    from_logits: bool = True, per_sample: bool = True, smooth: NonNegative = 1.0,
    eps: Positive = 1e-7, ignore_index: int | None = -100, class_weight: ClassWeight = None,
    weight: Weight = None, mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Focal Tversky loss: ``(1 - TI)^gamma`` per sample and class, ``TI`` the Tversky index.

    Formula:
        l = (1 - TI)^gamma,  TI = (TP + smooth) / (TP + fp_weight FP + fn_weight FN + smooth)

    With ``gamma < 1`` (default 0.75: the paper writes the exponent as ``1/gamma`` with
    ``gamma = 4/3``) the loss exceeds ``1 - TI`` near ``TI = 1`` and its slope grows there, so
    classes that are nearly but not quite right keep a strong signal. The exponent applies per
    sample and class (SMP's ``TverskyLoss(gamma=)`` raises the *mean* loss to the power
    instead). A perfect match gives 0 with a zero gradient.

    When to use:
        Small structures that Tversky alone leaves slightly off: gamma < 1 keeps the gradient
        large as TI approaches 1.

    Args:
        logits: logits or probabilities; ``(N, *)`` (binary) or ``(N, C, *)``.
        target: same shape (binary, multilabel) or class indices ``(N, *)`` (multiclass).
        fp_weight: the weight of false positives, ``>= 0``; default 0.3.
        fn_weight: the weight of false negatives, ``>= 0``; default 0.7.
        gamma: the focusing exponent, ``> 0``; default 0.75.
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        from_logits: apply the sigmoid or softmax first; default ``True``.
        per_sample: per sample and class (default ``True``) or per class over the batch.
        smooth: ``>= 0``; default 1.
        eps: ``> 0``, floor of the denominator; default ``1e-7``.
        ignore_index: target value excluded from every sum; default -100, ``None`` for none.
        class_weight: optional non-negative ``(C,)`` class weights.
        weight: optional non-negative ``(N,)`` sample weights (``per_sample=True`` only).
        mask: optional bool tensor broadcastable to the per-position shape.
        reduction: ``"none"`` (``(N, C)`` or ``(C,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``, a non-tensor ``target``.
        ValueError: unknown options, mismatched shapes, targets out of range, ``gamma <= 0``,
            negative weights.

    Paper:
        Abraham, Khan, "A Novel Focal Tversky Loss Function with Improved Attention U-Net for
        Lesion Segmentation", ISBI 2019, arXiv:1810.07842.

    Example:
        >>> import torch
        >>> p = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
        >>> g = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
        >>> focal_tversky_loss(p, g, gamma=0.5, from_logits=False, smooth=0.0)  # (1 - 1/2)^0.5
        tensor(0.7071)
    """
    fn = "focal_tversky_loss"
    base, kept = _tversky(fn, logits, target, fp_weight, fn_weight, mode, from_logits,
                          per_sample, smooth, eps, ignore_index, mask)  # fmt: skip
    tiny = torch.finfo(base.dtype).tiny
    # (1 - TI)^gamma has an infinite slope at TI = 1 for gamma < 1: the clamp keeps pow's
    # backward finite there and the where returns exactly 0 (no gradient) at a perfect match
    loss = torch.where(base > 0, base.clamp_min(tiny).pow(gamma), torch.zeros_like(base))
    return _finish(fn, loss, logits, per_sample, class_weight, weight, reduction, kept)


def dice_to_iou(dice: Tensor | float) -> Tensor | float:
    r"""The identity ``IoU = Dice / (2 - Dice)``.

    Exact for the hard scores of one pair of sets, since ``Dice = 2TP / (2TP + FP + FN)``
    and ``IoU = TP / (TP + FP + FN)``.

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


# ----------------------------------------------------------------------------- modules


class _OverlapModule(LossModule):
    """The options every mask-overlap module shares (fields only; no function of its own)."""

    mode: Mode = DEFAULT
    from_logits: bool = DEFAULT
    per_sample: bool = DEFAULT
    smooth: NonNegative = DEFAULT
    eps: Positive = DEFAULT
    ignore_index: int | None = DEFAULT
    class_weight: ClassWeight = DEFAULT


class DiceLoss(_OverlapModule, function=dice_loss):
    """Soft Dice loss, ``1 - (2 TP + smooth) / (|P| + |G| + smooth)``.

    Args:
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        from_logits: apply the sigmoid/softmax first; default ``True``.
        per_sample: per sample and class (default) or per class over the batch.
        squared_pred: the V-Net denominator ``sum p^2 + sum g^2``; default ``False``.
        smooth: ``>= 0``; default 1.
        eps: ``> 0``; default ``1e-7``.
        ignore_index: target value left out; default -100.
        class_weight: optional ``(C,)`` class weights (a buffer).
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``: ``logits`` ``(N, *)`` or
        ``(N, C, *)``; ``target`` of that shape or ``(N, *)`` labels; ``weight`` ``(N,)``.
        Output: a scalar, or ``(N, C)`` / ``(C,)``.

    Paper:
        Milletari, Navab, Ahmadi, "V-Net", 3DV 2016, arXiv:1606.04797.

    Example:
        >>> import torch
        >>> DiceLoss(from_logits=False, smooth=0.0)(torch.tensor([[1.0, 1, 0, 0]]), torch.tensor([[1.0, 0, 0, 0]]))
        tensor(0.3333)
    """

    squared_pred: bool = DEFAULT


class JaccardLoss(_OverlapModule, function=jaccard_loss):
    """Soft Jaccard (IoU) loss, ``1 - (TP + smooth) / (|P| + |G| - TP + smooth)``.

    Args:
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        from_logits: apply the sigmoid/softmax first; default ``True``.
        per_sample: per sample and class (default) or per class over the batch.
        smooth: ``>= 0``; default 1.
        eps: ``> 0``; default ``1e-7``.
        ignore_index: target value left out; default -100.
        class_weight: optional ``(C,)`` class weights (a buffer).
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``, as :class:`DiceLoss`.

    Paper:
        Rahman, Wang, "Optimizing Intersection-Over-Union in Deep Neural Networks for Image
        Segmentation", ISVC 2016.

    Example:
        >>> import torch
        >>> JaccardLoss(from_logits=False, smooth=0.0)(torch.tensor([[1.0, 1, 0, 0]]), torch.tensor([[1.0, 0, 0, 0]]))
        tensor(0.5000)
    """


class TverskyLoss(_OverlapModule, function=tversky_loss):
    """Tversky loss, ``1 - (TP + smooth) / (TP + fp_weight FP + fn_weight FN + smooth)``.

    Args:
        fp_weight: the weight of false positives; default 0.5.
        fn_weight: the weight of false negatives; default 0.5.
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        from_logits: apply the sigmoid/softmax first; default ``True``.
        per_sample: per sample and class (default) or per class over the batch.
        smooth: ``>= 0``; default 1.
        eps: ``> 0``; default ``1e-7``.
        ignore_index: target value left out; default -100.
        class_weight: optional ``(C,)`` class weights (a buffer).
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``, as :class:`DiceLoss`.

    Paper:
        Salehi, Erdogmus, Gholipour, "Tversky loss function for image segmentation using 3D
        fully convolutional deep networks", MLMI 2017, arXiv:1706.05721.

    Example:
        >>> import torch
        >>> TverskyLoss(fp_weight=0.3, fn_weight=0.7, from_logits=False, smooth=0.0)(
        ...     torch.tensor([[1.0, 1, 0, 0]]), torch.tensor([[1.0, 0, 1, 0]]))
        tensor(0.5000)
    """

    fp_weight: NonNegative = DEFAULT
    fn_weight: NonNegative = DEFAULT


class FocalTverskyLoss(_OverlapModule, function=focal_tversky_loss):
    """Focal Tversky loss, ``(1 - TI)^gamma`` per sample and class.

    Args:
        fp_weight: the weight of false positives; default 0.3.
        fn_weight: the weight of false negatives; default 0.7.
        gamma: the exponent, ``> 0``; default 0.75.
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        from_logits: apply the sigmoid/softmax first; default ``True``.
        per_sample: per sample and class (default) or per class over the batch.
        smooth: ``>= 0``; default 1.
        eps: ``> 0``; default ``1e-7``.
        ignore_index: target value left out; default -100.
        class_weight: optional ``(C,)`` class weights (a buffer).
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``, as :class:`DiceLoss`.

    Paper:
        Abraham, Khan, "A Novel Focal Tversky Loss Function with Improved Attention U-Net for
        Lesion Segmentation", ISBI 2019, arXiv:1810.07842.

    Example:
        >>> import torch
        >>> FocalTverskyLoss(gamma=0.5, from_logits=False, smooth=0.0)(
        ...     torch.tensor([[1.0, 1, 0, 0]]), torch.tensor([[1.0, 0, 1, 0]]))
        tensor(0.7071)
    """

    fp_weight: NonNegative = DEFAULT
    fn_weight: NonNegative = DEFAULT
    gamma: Positive = DEFAULT
