"""The ready compound segmentation losses of the overlap family: Dice + cross-entropy, Dice +
focal and generalized Dice + focal, each a function and a module (re-exported by
:mod:`losskit.functional.overlap`).

Each is ``region_weight * region + pixel_weight * pixel`` per sample: the region term (Dice or
generalized Dice) is the class mean of the sample's Dice losses (or its generalized Dice),
the pixel term (cross-entropy or sigmoid focal) the mean over the sample's kept positions.
``"mean"`` over samples is then MONAI's ``DiceCELoss``/``DiceFocalLoss``/
``GeneralizedDiceFocalLoss`` with ``reduction="mean"`` (the mean over batch and classes of
Dice plus the mean over every position of the pixel loss). The modules' :meth:`parts` gives
the two terms and their sum separately, for logging.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import Tensor

from .._api import DEFAULT, LossModule, checked
from .._autograd import fused_apply, traced
from .._checks import (
    ClassDistance,
    ClassWeight,
    FocalAlpha,
    Mask,
    NonNegative,
    Positive,
    UnitInterval,
    Weight,
    any_true,
    check_class_vector,
    check_floating,
    check_integer,
    check_labels,
    check_min_ndim,
    check_same_device,
    check_tensor,
    compute_dtype,
    float_onehot,
    keep_factor,
    scatter_onehot,
)
from .._reduction import Reduction, exclusion
from .classification import _per_class, bce_loss, focal_loss, softmax_cross_entropy
from .overlap import (
    Mode,
    Weighting,
    _counts,
    _finish_per_sample,
    _generalized_dice,
    _plain_target,
    _ratio,
)

__all__ = [
    "dice_ce_loss",
    "dice_focal_loss",
    "generalized_dice_focal_loss",
    "generalized_wasserstein_dice_loss",
    "DiceCELoss",
    "DiceFocalLoss",
    "GeneralizedDiceFocalLoss",
    "GeneralizedWassersteinDiceLoss",
]


def _class_mean(loss: Tensor, class_weight: Tensor | None) -> Tensor:
    """The (class-weighted) mean over the last dim; 0 where the weights sum to 0."""
    if class_weight is None:
        return loss.mean(-1) if loss.shape[-1] else loss.sum(-1)
    w = class_weight.to(loss.dtype)
    total = w.sum()
    return torch.where(total > 0, (loss * w).sum(-1) / torch.where(total > 0, total, 1.0),
                       loss.sum(-1) * 0.0)  # fmt: skip


def _region(
    fn: str, logits: Tensor, target: Tensor, *, kind: str, mode: str, per_sample: bool,
    squared_pred: bool, weighting: str, smooth: float, eps: float, ignore_index: int | None,
    class_weight: Tensor | None, mask: Tensor | None, ce: list[Tensor] | None = None,
    labels_f: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:  # fmt: skip
    """The region term per sample ``(N,)`` (or ``(1,)`` over the batch) and the ``(N,)``
    samples that keep a position (``None``: all); ``ce`` and ``labels_f`` as in
    :func:`_counts`."""
    tp, sp, sg, kept = _counts(
        fn, logits, target, mode=mode, from_logits=True, per_sample=per_sample,
        ignore_index=ignore_index, mask=mask, squared=squared_pred, ce=ce, labels_f=labels_f,
    )  # fmt: skip
    check_same_device(fn, ("logits", logits), ("class_weight", class_weight))
    if class_weight is not None:
        check_class_vector(fn, "class_weight", class_weight, sg.shape[-1])
    if kind == "dice":
        den = sp + sg
        loss = _class_mean(_ratio(2.0 * tp, den, smooth, eps, den == 0), class_weight)
    else:
        loss = _generalized_dice(fn, logits, tp, sp, sg, weighting, class_weight, smooth, eps)
    return loss.reshape(-1), None if kept is None else kept[:, 0]


def _pixel(
    fn: str, logits: Tensor, target: Tensor, *, kind: str, mode: str, per_sample: bool,
    ignore_index: int | None, class_weight: Tensor | None, label_smoothing: float,
    gamma: float, alpha: float | Tensor | None, mask: Tensor | None,
    labels_f: Tensor | None = None,
) -> Tensor:  # fmt: skip
    """The pixel term: the (class-weighted) mean of the position losses of each sample
    ``(N,)``, or of the whole batch ``(1,)``. Called after :func:`_region`, which checked
    the inputs; ``labels_f`` from :func:`_float_labels`."""
    n = logits.shape[0]
    if mode == "multiclass" and labels_f is not None:  # compiled: see _float_labels
        spatial = logits.shape[:1] + logits.shape[2:]
        keep = exclusion(fn, spatial, mask=mask, labels=labels_f, ignore_index=ignore_index)
        if kind == "ce":
            # the one-hot rows as probability targets: the same terms as class indices with
            # torch's smoothing and class weights (a left-out row is weighed 0 by the mask in
            # the loss and by the keep factor in the count, whatever its label); the mean
            # divides by the class weights of the positions
            onehot = float_onehot(labels_f.unsqueeze(1), logits.shape[1])
            loss = softmax_cross_entropy(logits, onehot, class_weight=class_weight,
                                         label_smoothing=label_smoothing, mask=keep,
                                         reduction="none")  # fmt: skip
            count = (
                torch.ones(spatial, dtype=loss.dtype, device=loss.device)
                if class_weight is None
                else (onehot * _per_class(class_weight.to(loss.dtype), onehot)).sum(1)
            )
            if keep is not None:
                count = count * keep_factor(keep, count.dtype)
        else:
            k = None if keep is None else keep.unsqueeze(1).expand(logits.shape)
            loss = _compiled_onehot_focal(logits, labels_f, keep, alpha, gamma)
            count = _channel_weights(logits, class_weight, loss.dtype, k)
            loss = loss * count if class_weight is not None else loss
    elif mode == "multiclass":
        spatial = logits.shape[:1] + logits.shape[2:]
        keep = exclusion(fn, spatial, mask=mask, labels=target, ignore_index=ignore_index)
        labels = target.long() if keep is None else torch.where(keep, target.long(), 0)
        if kind == "ce":
            loss = softmax_cross_entropy(logits, labels, class_weight=class_weight,
                                         ignore_index=None, label_smoothing=label_smoothing,
                                         mask=keep, reduction="none")  # fmt: skip
            count = (
                torch.ones(spatial, dtype=loss.dtype, device=loss.device)
                if class_weight is None
                else class_weight.to(loss.dtype)[labels]
            )  # torch's rule: the mean divides by the class weights of the positions
            if keep is not None:
                count = count * keep_factor(keep, count.dtype)
        else:
            # the 0/1 target in the logits' layout and dtype directly: one scatter (an int64
            # one_hot tensor, moved and converted, was three passes and a permuted target)
            onehot = scatter_onehot(logits, labels)
            k = None if keep is None else keep.unsqueeze(1).expand(logits.shape)
            loss = focal_loss(logits, onehot, alpha=alpha, gamma=gamma, mask=k,
                              reduction="none")  # fmt: skip
            count = _channel_weights(logits, class_weight, loss.dtype, k)
            loss = loss * count if class_weight is not None else loss
    else:
        keep = exclusion(fn, logits.shape, mask=mask, labels=target, ignore_index=ignore_index)
        k = None if keep is None else keep.expand(logits.shape)
        if kind == "ce":
            loss = bce_loss(logits, target.to(logits.dtype), mask=k, reduction="none")
        else:
            loss = focal_loss(logits, target.to(logits.dtype), alpha=alpha, gamma=gamma, mask=k,
                              reduction="none")  # fmt: skip
        cw = class_weight if mode == "multilabel" else None
        count = _channel_weights(logits, cw, loss.dtype, k)
        loss = loss * count if cw is not None else loss
    dims = (n, -1) if n else (0, max(1, math.prod(loss.shape[1:])))
    total, count = loss.reshape(dims).sum(1), count.reshape(dims).sum(1)
    if not per_sample:
        total, count = total.sum().reshape(1), count.sum().reshape(1)
    safe = torch.where(count > 0, count, torch.ones_like(count))
    return torch.where(count > 0, total / safe, total * 0.0)


#: the logit given to a left-out position under ``torch.compile``: its sigmoid and softplus
#: underflow to exactly 0 in every float dtype, so its focal loss against a 0 target and the
#: loss's derivative are exactly 0 (and the value fits float16)
_LEFT_OUT_LOGIT = -1.0e4


def _float_labels(logits: Tensor, target: object, mode: str) -> Tensor | None:
    """Under ``torch.compile``, integer multiclass labels converted once to the compute
    dtype (every class index below ``2^24`` is exact) for both terms of a combined loss;
    ``None`` otherwise (and for a target the checks will refuse).

    The compiler fuses a conversion or comparison of int64 labels into each consumer, on a
    slow path on AVX2: the region and pixel terms of Dice + focal, each converting the labels
    itself, took 93 ms per compiled step at ``(8, 4, 256, 256)``, against 14 and 31 ms
    compiled apart; sharing one conversion, 45 ms. Dice + CE with class weights or label
    smoothing (whose cross-entropy is not the region term's): 64 -> 28 ms."""
    if (
        mode != "multiclass"
        or not torch.compiler.is_compiling()
        or not isinstance(target, Tensor)
        or target.is_floating_point()
        or target.is_complex()
        or target.dtype == torch.bool
        or logits.dim() < 2
        or logits.shape[1] >= 2**24
    ):
        return None
    return target.to(compute_dtype(logits))


def _compiled_onehot_focal(
    logits: Tensor, labels: Tensor, keep: Tensor | None, alpha: float | Tensor | None,
    gamma: float,
) -> Tensor:  # fmt: skip
    """The sigmoid focal loss of each channel of ``logits`` ``(N, C, *)`` against the one-hot
    form of the float class labels ``labels`` ``(N, *)``, ``(N, C, *)``, 0 where ``keep`` is
    False, in the form ``torch.compile`` runs fast on CPU.

    The labels arrive as floats from :func:`_float_labels` (``target != ignore_index`` on the
    int64 labels alone cost 28 ms of a 59 ms compiled focal term at ``(8, 4, 256, 256)``),
    their one-hot form is float arithmetic (:func:`float_onehot`; the eager path's permuted
    one-hot is read element by element there), and a left-out position gets the logit
    :data:`_LEFT_OUT_LOGIT` and no class instead of a mask in the focal pass (whose selects
    and product cost 60 % more). With both, Dice + focal at that size took 95 -> 47 ms per
    compiled step (MONAI's compiled: 57-63)."""
    z = logits
    if keep is not None:
        labels = torch.where(keep, labels, -1.0)  # no class: an all-zero one-hot row
        z = torch.where(keep.unsqueeze(1), logits, _LEFT_OUT_LOGIT)
    onehot = float_onehot(labels.unsqueeze(1), logits.shape[1])
    return focal_loss(z, onehot, alpha=alpha, gamma=gamma, reduction="none")


def _channel_weights(
    logits: Tensor, class_weight: Tensor | None, dtype: torch.dtype, keep: Tensor | None
) -> Tensor:
    """What each position of ``logits`` ``(N, C, ...)`` counts in its mean."""
    if class_weight is None:
        if keep is not None:
            return keep_factor(keep.expand(logits.shape), dtype)
        return torch.ones(logits.shape, dtype=dtype, device=logits.device)
    shape = (1, -1) + (1,) * (logits.dim() - 2)
    w = class_weight.to(dtype).reshape(shape).expand(logits.shape)
    return w if keep is None else w * keep_factor(keep, dtype)


def _combined(
    fn: str, logits: Tensor, target: Tensor, region_weight: float, pixel_weight: float,
    weight: Tensor | None, reduction: Reduction, per_sample: bool, region: Tensor,
    pixel: Tensor, kept: Tensor | None,
) -> Tensor:  # fmt: skip
    loss = region_weight * region + pixel_weight * pixel
    return _finish_per_sample(fn, loss, logits, per_sample, weight, reduction, kept)


def _parts(
    fn: str, logits: Tensor, names: tuple[str, str], weights: tuple[float, float],
    region: Tensor, pixel: Tensor, kept: Tensor | None, per_sample: bool,
    weight: Tensor | None, reduction: Reduction,
) -> dict[str, Tensor]:  # fmt: skip
    """Each term reduced as the total is, unweighted, and the weighted total."""
    out = {
        name: _finish_per_sample(fn, term, logits, per_sample, weight, reduction, kept)
        for name, term in zip(names, (region, pixel), strict=True)
    }
    out["total"] = weights[0] * out[names[0]] + weights[1] * out[names[1]]
    return out


# ----------------------------------------------------------------------- Dice + CE


def _dice_ce_terms(
    logits: Tensor, target: Tensor, *, mode: str, per_sample: bool, squared_pred: bool,
    smooth: float, eps: float, label_smoothing: float, ignore_index: int | None,
    class_weight: Tensor | None, mask: Tensor | None, fn: str = "dice_ce_loss",
) -> tuple[Tensor, Tensor, Tensor | None]:  # fmt: skip
    # the plain case: the cross-entropy comes from the Dice term's softmax (one fused pass)
    fused: list[Tensor] | None = (
        [] if mode == "multiclass" and class_weight is None and label_smoothing == 0 else None
    )
    labels_f = _float_labels(logits, target, mode)
    region, kept = _region(fn, logits, target, kind="dice", mode=mode, per_sample=per_sample,
                           squared_pred=squared_pred, weighting="uniform", smooth=smooth,
                           eps=eps, ignore_index=ignore_index, class_weight=class_weight,
                           mask=mask, ce=fused, labels_f=labels_f)  # fmt: skip
    if fused and logits.numel():
        total, count = fused  # (N,): each sample's summed cross-entropy, its kept positions
        if not per_sample:
            total, count = total.sum().reshape(1), count.sum().reshape(1)
        pixel = torch.where(count > 0, total / count.clamp_min(1.0), total * 0.0)
        return region, pixel.to(region.dtype), kept
    pixel = _pixel(fn, logits, target, kind="ce", mode=mode, per_sample=per_sample,
                   ignore_index=ignore_index, class_weight=class_weight,
                   label_smoothing=label_smoothing, gamma=0.0, alpha=None, mask=mask,
                   labels_f=labels_f)  # fmt: skip
    return region, pixel, kept


@checked
def dice_ce_loss(
    logits: Tensor, target: Tensor, *, dice_weight: NonNegative = 1.0,
    ce_weight: NonNegative = 1.0, mode: Mode = "binary", per_sample: bool = True,
    squared_pred: bool = False, smooth: NonNegative = 1e-5, eps: Positive = 1e-7,
    label_smoothing: UnitInterval = 0.0, ignore_index: int | None = -100,
    class_weight: ClassWeight = None, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Dice + cross-entropy: the soft Dice loss (class mean) plus the mean cross-entropy, per
    sample; the compound loss most segmentation models train with (nnU-Net's default).

    Formula:
        l_n = dice_weight mean_c Dice_n,c + ce_weight mean_i CE_n,i

    The Dice term is :func:`dice_loss` per sample and class (``smooth`` defaults to ``1e-5``,
    MONAI's, not ``dice_loss``'s 1), averaged over the classes (weighted by
    ``class_weight``); the cross-entropy term is softmax cross-entropy (multiclass) or binary
    cross-entropy on the logits (binary, multilabel), averaged over the sample's kept
    positions (in multiclass mode divided by the class weights of those positions, torch's
    rule), then over the samples: when ``ignore_index`` or ``mask`` leave different numbers
    of positions in different samples, each sample still weighs the same (torch's global
    mean would weigh it by its kept count). With ``per_sample=False`` the Dice is
    batch-global and the cross-entropy the mean over the batch's kept positions. Empty targets follow :func:`dice_loss`: an empty prediction on an empty
    class scores 0 in the Dice term. The two terms, separately, come from
    :meth:`DiceCELoss.parts`.

    When to use:
        The default for semantic segmentation: cross-entropy gives dense, well-conditioned
        gradients early in training, Dice counters the class imbalance that cross-entropy
        alone suffers from small structures.

    Args:
        logits: raw scores; ``(N, *)`` in binary mode, ``(N, C, *)`` otherwise.
        target: 0/1 targets of the shape of ``logits`` (binary, multilabel) or integer
            class indices ``(N, *)`` (multiclass).
        dice_weight: the weight of the Dice term, ``>= 0``; default 1.
        ce_weight: the weight of the cross-entropy term, ``>= 0``; default 1.
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        per_sample: per-sample Dice (default ``True``) or batch-global (MONAI's ``batch``).
        squared_pred: the V-Net Dice denominator; default ``False``.
        smooth: ``>= 0``, the Dice smoothing; default ``1e-5``.
        eps: ``> 0``, floor of the Dice denominator; default ``1e-7``.
        label_smoothing: of the softmax cross-entropy, in ``[0, 1]``; default 0.
        ignore_index: target value left out of both terms; default -100, ``None`` for none.
        class_weight: optional non-negative ``(C,)`` weights of the Dice class mean and of
            the cross-entropy (torch's class weights; per channel in multilabel mode).
        weight: optional non-negative ``(N,)`` sample weights (``per_sample=True`` only).
        mask: optional bool tensor broadcastable to the per-position shape.
        reduction: ``"none"`` (``(N,)``, or ``(1,)`` with ``per_sample=False``), ``"mean"``
            (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``, a non-tensor ``target``, non-integer labels in
            multiclass mode.
        ValueError: unknown ``mode``/``reduction``, shapes that do not match the mode, labels
            or binary targets out of range (CPU), negative weights, a bad
            ``weight``/``class_weight``/``mask``.

    Equals MONAI's ``DiceCELoss`` (``softmax=True, to_onehot_y=True`` for multiclass,
    ``sigmoid=True`` otherwise; ``lambda_dice``, ``lambda_ce``, ``smooth_nr = smooth_dr =
    smooth``, ``batch = not per_sample``) without class weights; MONAI's class ``weight``
    scales each class's Dice and divides by the class count, losskit's divides by the total
    class weight.

    Paper:
        Isensee, Jaeger, Kohl, Petersen, Maier-Hein, "nnU-Net: a self-configuring method for
        deep learning-based biomedical image segmentation", Nature Methods 2021,
        arXiv:1809.10486.

    Example:
        >>> import torch
        >>> x = torch.tensor([[[2.0, -2.0], [-2.0, 2.0]]])  # (N=1, C=2, 2 positions)
        >>> y = torch.tensor([[0, 1]])
        >>> dice_ce_loss(x, y, mode="multiclass")  # Dice ~ 1 - p (p = sigmoid(4)) + CE -log p
        tensor(0.0361)
    """
    fn = "dice_ce_loss"
    region, pixel, kept = _dice_ce_terms(
        logits, target, mode=mode, per_sample=per_sample, squared_pred=squared_pred,
        smooth=smooth, eps=eps, label_smoothing=label_smoothing, ignore_index=ignore_index,
        class_weight=class_weight, mask=mask,
    )  # fmt: skip
    return _combined(fn, logits, target, dice_weight, ce_weight, weight, reduction, per_sample,
                     region, pixel, kept)  # fmt: skip


# ----------------------------------------------------------------------- Dice + focal


def _focal_terms(
    fn: str, kind: str, logits: Tensor, target: Tensor, *, mode: str, per_sample: bool,
    squared_pred: bool, weighting: str, smooth: float, eps: float, gamma: float,
    alpha: float | Tensor | None, ignore_index: int | None, class_weight: Tensor | None,
    mask: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor | None]:  # fmt: skip
    if isinstance(alpha, Tensor):
        check_same_device(fn, ("logits", logits), ("alpha", alpha))
    labels_f = _float_labels(logits, target, mode)
    region, kept = _region(fn, logits, target, kind=kind, mode=mode, per_sample=per_sample,
                           squared_pred=squared_pred, weighting=weighting, smooth=smooth,
                           eps=eps, ignore_index=ignore_index, class_weight=class_weight,
                           mask=mask, labels_f=labels_f)  # fmt: skip
    pixel = _pixel(fn, logits, target, kind="focal", mode=mode, per_sample=per_sample,
                   ignore_index=ignore_index, class_weight=class_weight, label_smoothing=0.0,
                   gamma=gamma, alpha=alpha, mask=mask, labels_f=labels_f)  # fmt: skip
    return region, pixel, kept


@checked
def dice_focal_loss(
    logits: Tensor, target: Tensor, *, dice_weight: NonNegative = 1.0,
    focal_weight: NonNegative = 1.0, gamma: NonNegative = 2.0, alpha: FocalAlpha = None,
    mode: Mode = "binary", per_sample: bool = True, squared_pred: bool = False,
    smooth: NonNegative = 1e-5, eps: Positive = 1e-7, ignore_index: int | None = -100,
    class_weight: ClassWeight = None, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Dice + focal: the soft Dice loss (class mean) plus the mean sigmoid focal loss of every
    class channel, per sample.

    Formula:
        l_n = dice_weight mean_c Dice_n,c + focal_weight mean_c,i FL(x_n,c,i, [y_n,i = c])

    The focal term is the sigmoid focal loss (:func:`focal_loss`, ``alpha`` default ``None``:
    no balance factor) of each channel against the one-hot target, as MONAI's
    ``DiceFocalLoss`` computes it, also in multiclass mode where the Dice term takes a
    softmax. It is averaged over the sample's kept positions and channels (weighted by
    ``class_weight``). The Dice term, ``smooth`` and empty targets are those of
    :func:`dice_ce_loss`; :meth:`DiceFocalLoss.parts` gives the terms separately.

    When to use:
        Segmentation with many easy background pixels: the focal term down-weights them
        (``gamma``), Dice keeps the small classes in view.

    Args:
        logits: raw scores; ``(N, *)`` in binary mode, ``(N, C, *)`` otherwise.
        target: 0/1 targets of the shape of ``logits`` (binary, multilabel) or integer
            class indices ``(N, *)`` (multiclass).
        dice_weight: the weight of the Dice term, ``>= 0``; default 1.
        focal_weight: the weight of the focal term, ``>= 0``; default 1.
        gamma: the focusing exponent, ``>= 0``; default 2.
        alpha: the focal balance factor in ``[0, 1]`` (number or broadcastable tensor), or
            ``None`` (default) for none.
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        per_sample: per-sample Dice (default ``True``) or batch-global.
        squared_pred: the V-Net Dice denominator; default ``False``.
        smooth: ``>= 0``, the Dice smoothing; default ``1e-5``.
        eps: ``> 0``, floor of the Dice denominator; default ``1e-7``.
        ignore_index: target value left out of both terms; default -100, ``None`` for none.
        class_weight: optional non-negative ``(C,)`` weights of the Dice class mean and of
            the focal mean over channels.
        weight: optional non-negative ``(N,)`` sample weights (``per_sample=True`` only).
        mask: optional bool tensor broadcastable to the per-position shape.
        reduction: ``"none"`` (``(N,)``, or ``(1,)`` with ``per_sample=False``), ``"mean"``
            (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``, a non-tensor ``target``, non-integer labels in
            multiclass mode.
        ValueError: unknown ``mode``/``reduction``, mismatched shapes, labels or targets out
            of range (CPU), negative weights or ``gamma``, a bad ``weight``/``class_weight``/
            ``mask``.

    Equals MONAI's ``DiceFocalLoss`` (``softmax=True, to_onehot_y=True`` for multiclass,
    ``sigmoid=True`` otherwise; ``lambda_dice``, ``lambda_focal``, ``gamma``, ``alpha``)
    without class weights, to float32 rounding: MONAI's ``FocalLoss`` computes in float32.

    Paper:
        Zhu, Huang, Tang, et al., "AnatomyNet: Deep learning for fast and fully automated
        whole-volume segmentation of head and neck anatomy", Medical Physics 2019,
        arXiv:1808.05238.

    Example:
        >>> import torch
        >>> x = torch.tensor([[[2.0, -2.0], [-2.0, 2.0]]])
        >>> # Dice ~ 1 - sigmoid(4); focal (1 - q)^2 (-log q) with q = sigmoid(2) on every channel
        >>> dice_focal_loss(x, torch.tensor([[0, 1]]), mode="multiclass")
        tensor(0.0198)
    """
    fn = "dice_focal_loss"
    region, pixel, kept = _focal_terms(
        fn, "dice", logits, target, mode=mode, per_sample=per_sample, squared_pred=squared_pred,
        weighting="uniform", smooth=smooth, eps=eps, gamma=gamma, alpha=alpha,
        ignore_index=ignore_index, class_weight=class_weight, mask=mask,
    )  # fmt: skip
    return _combined(fn, logits, target, dice_weight, focal_weight, weight, reduction,
                     per_sample, region, pixel, kept)  # fmt: skip


@checked
def generalized_dice_focal_loss(
    logits: Tensor, target: Tensor, *, dice_weight: NonNegative = 1.0,
    focal_weight: NonNegative = 1.0, weighting: Weighting = "square", gamma: NonNegative = 2.0,
    alpha: FocalAlpha = None, mode: Mode = "binary", per_sample: bool = True,
    smooth: NonNegative = 1e-5, eps: Positive = 1e-7, ignore_index: int | None = -100,
    class_weight: ClassWeight = None, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Generalized Dice + focal: :func:`generalized_dice_loss` plus the mean sigmoid focal loss
    of every class channel, per sample.

    Formula:
        l_n = dice_weight GDL_n + focal_weight mean_c,i FL(x_n,c,i, [y_n,i = c])

    The generalized Dice term (class weights from the target volumes, ``weighting``; an
    absent class takes the largest present weight) is :func:`generalized_dice_loss`'s; the
    focal term is :func:`dice_focal_loss`'s. :meth:`GeneralizedDiceFocalLoss.parts` gives the
    terms separately.

    When to use:
        Strongly imbalanced multi-class segmentation (small lesions beside large organs):
        the volume weights balance the classes, the focal term the easy pixels.

    Args:
        logits: raw scores; ``(N, *)`` in binary mode, ``(N, C, *)`` otherwise.
        target: 0/1 targets of the shape of ``logits`` (binary, multilabel) or integer
            class indices ``(N, *)`` (multiclass).
        dice_weight: the weight of the generalized Dice term, ``>= 0``; default 1.
        focal_weight: the weight of the focal term, ``>= 0``; default 1.
        weighting: ``"square"`` (default), ``"simple"`` or ``"uniform"``.
        gamma: the focusing exponent, ``>= 0``; default 2.
        alpha: the focal balance factor in ``[0, 1]``, or ``None`` (default) for none.
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        per_sample: per-sample generalized Dice (default ``True``) or batch-global.
        smooth: ``>= 0``; default ``1e-5``.
        eps: ``> 0``, floor of the denominator; default ``1e-7``.
        ignore_index: target value left out of both terms; default -100, ``None`` for none.
        class_weight: optional non-negative ``(C,)`` factors of the volume weights and
            weights of the focal mean over channels.
        weight: optional non-negative ``(N,)`` sample weights (``per_sample=True`` only).
        mask: optional bool tensor broadcastable to the per-position shape.
        reduction: ``"none"`` (``(N,)``, or ``(1,)`` with ``per_sample=False``), ``"mean"``
            (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``, a non-tensor ``target``, non-integer labels in
            multiclass mode.
        ValueError: unknown options, mismatched shapes, labels or targets out of range
            (CPU), negative weights or ``gamma``, a bad ``weight``/``class_weight``/``mask``.

    Equals MONAI's ``GeneralizedDiceFocalLoss`` (``softmax=True, to_onehot_y=True`` for
    multiclass, ``sigmoid=True`` otherwise; ``lambda_gdl``, ``lambda_focal``, ``w_type``,
    ``gamma``) without class weights, to float32 rounding: MONAI computes the volume
    weights and the focal term in float32.

    Paper:
        Sudre et al., "Generalised Dice overlap as a deep learning loss function for highly
        unbalanced segmentations", DLMIA 2017, arXiv:1707.03237.

    Example:
        >>> import torch
        >>> x = torch.tensor([[[2.0, -2.0], [-2.0, 2.0]]])
        >>> # equal volumes, equal weights: the Dice + focal value
        >>> generalized_dice_focal_loss(x, torch.tensor([[0, 1]]), mode="multiclass")
        tensor(0.0198)
    """
    fn = "generalized_dice_focal_loss"
    region, pixel, kept = _focal_terms(
        fn, "generalized", logits, target, mode=mode, per_sample=per_sample,
        squared_pred=False, weighting=weighting, smooth=smooth, eps=eps, gamma=gamma,
        alpha=alpha, ignore_index=ignore_index, class_weight=class_weight, mask=mask,
    )  # fmt: skip
    return _combined(fn, logits, target, dice_weight, focal_weight, weight, reduction,
                     per_sample, region, pixel, kept)  # fmt: skip


# ----------------------------------------------------------------------------- modules


class _CompoundModule(LossModule):
    """The options the ready compound modules share (fields only)."""

    dice_weight: NonNegative = DEFAULT
    mode: Mode = DEFAULT
    per_sample: bool = DEFAULT
    smooth: NonNegative = DEFAULT
    eps: Positive = DEFAULT
    ignore_index: int | None = DEFAULT
    class_weight: ClassWeight = DEFAULT


class DiceCELoss(_CompoundModule, function=dice_ce_loss):
    """Dice + cross-entropy, ``dice_weight mean_c Dice + ce_weight mean CE`` per sample.

    Args:
        dice_weight: the weight of the Dice term; default 1.
        ce_weight: the weight of the cross-entropy term; default 1.
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        per_sample: per-sample Dice (default) or batch-global.
        squared_pred: the V-Net Dice denominator; default ``False``.
        smooth: the Dice smoothing; default ``1e-5``.
        eps: floor of the Dice denominator; default ``1e-7``.
        label_smoothing: of the softmax cross-entropy; default 0.
        ignore_index: target value left out; default -100.
        class_weight: optional ``(C,)`` class weights (a buffer).
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``: ``logits`` ``(N, *)`` or
        ``(N, C, *)``; ``target`` of that shape or ``(N, *)`` labels. Output: a scalar, or
        ``(N,)`` / ``(1,)``. :meth:`parts` takes the same arguments and returns
        ``{"dice", "ce", "total"}``.

    Paper:
        Isensee et al., "nnU-Net", Nature Methods 2021, arXiv:1809.10486.

    Example:
        >>> import torch
        >>> loss = DiceCELoss(mode="multiclass")
        >>> x, y = torch.tensor([[[2.0, -2.0], [-2.0, 2.0]]]), torch.tensor([[0, 1]])
        >>> {k: round(v.item(), 4) for k, v in loss.parts(x, y).items()}
        {'dice': 0.018, 'ce': 0.0181, 'total': 0.0361}
    """

    ce_weight: NonNegative = DEFAULT
    squared_pred: bool = DEFAULT
    label_smoothing: UnitInterval = DEFAULT

    def parts(
        self, logits: Tensor, target: Tensor, *, weight: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> dict[str, Tensor]:  # fmt: skip
        """The Dice and cross-entropy terms (each reduced as the loss is, unweighted) and
        their weighted sum ``"total"`` (what ``forward`` returns)."""
        fn = "DiceCELoss"
        region, pixel, kept = _dice_ce_terms(
            logits, target, mode=self.mode, per_sample=self.per_sample,
            squared_pred=self.squared_pred, smooth=self.smooth, eps=self.eps,
            label_smoothing=self.label_smoothing, ignore_index=self.ignore_index,
            class_weight=self.class_weight, mask=mask, fn=fn,
        )  # fmt: skip
        return _parts(fn, logits, ("dice", "ce"), (self.dice_weight, self.ce_weight), region,
                      pixel, kept, self.per_sample, weight, self.reduction)  # fmt: skip


class _FocalCompoundModule(_CompoundModule):
    focal_weight: NonNegative = DEFAULT
    gamma: NonNegative = DEFAULT
    alpha: FocalAlpha = DEFAULT

    _kind = "dice"
    _names = ("dice", "focal")

    def parts(
        self, logits: Tensor, target: Tensor, *, weight: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> dict[str, Tensor]:  # fmt: skip
        """The region and focal terms (each reduced as the loss is, unweighted) and their
        weighted sum ``"total"`` (what ``forward`` returns)."""
        fn = type(self).__name__
        region, pixel, kept = _focal_terms(
            fn, self._kind, logits, target, mode=self.mode, per_sample=self.per_sample,
            squared_pred=getattr(self, "squared_pred", False),
            weighting=getattr(self, "weighting", "uniform"), smooth=self.smooth, eps=self.eps,
            gamma=self.gamma, alpha=self.alpha, ignore_index=self.ignore_index,
            class_weight=self.class_weight, mask=mask,
        )  # fmt: skip
        return _parts(fn, logits, self._names, (self.dice_weight, self.focal_weight), region,
                      pixel, kept, self.per_sample, weight, self.reduction)  # fmt: skip


class DiceFocalLoss(_FocalCompoundModule, function=dice_focal_loss):
    """Dice + sigmoid focal, ``dice_weight mean_c Dice + focal_weight mean FL`` per sample.

    Args:
        dice_weight: the weight of the Dice term; default 1.
        focal_weight: the weight of the focal term; default 1.
        gamma: the focusing exponent; default 2.
        alpha: the focal balance factor, or ``None`` (default).
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        per_sample: per-sample Dice (default) or batch-global.
        squared_pred: the V-Net Dice denominator; default ``False``.
        smooth: the Dice smoothing; default ``1e-5``.
        eps: floor of the Dice denominator; default ``1e-7``.
        ignore_index: target value left out; default -100.
        class_weight: optional ``(C,)`` class weights (a buffer).
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``: ``logits`` ``(N, *)`` or
        ``(N, C, *)``; ``target`` of that shape or ``(N, *)`` labels. Output: a scalar, or
        ``(N,)`` / ``(1,)``. :meth:`parts` returns ``{"dice", "focal", "total"}``.

    Paper:
        Zhu et al., "AnatomyNet", Medical Physics 2019, arXiv:1808.05238.

    Example:
        >>> import torch
        >>> x, y = torch.tensor([[[2.0, -2.0], [-2.0, 2.0]]]), torch.tensor([[0, 1]])
        >>> DiceFocalLoss(mode="multiclass")(x, y)
        tensor(0.0198)
    """

    squared_pred: bool = DEFAULT


class GeneralizedDiceFocalLoss(_FocalCompoundModule, function=generalized_dice_focal_loss):
    """Generalized Dice + sigmoid focal, per sample.

    Args:
        dice_weight: the weight of the generalized Dice term; default 1.
        focal_weight: the weight of the focal term; default 1.
        weighting: ``"square"`` (default), ``"simple"`` or ``"uniform"``.
        gamma: the focusing exponent; default 2.
        alpha: the focal balance factor, or ``None`` (default).
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        per_sample: per-sample generalized Dice (default) or batch-global.
        smooth: default ``1e-5``.
        eps: floor of the denominator; default ``1e-7``.
        ignore_index: target value left out; default -100.
        class_weight: optional ``(C,)`` class weights (a buffer).
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``: ``logits`` ``(N, *)`` or
        ``(N, C, *)``; ``target`` of that shape or ``(N, *)`` labels. Output: a scalar, or
        ``(N,)`` / ``(1,)``. :meth:`parts` returns ``{"generalized_dice", "focal",
        "total"}``.

    Paper:
        Sudre et al., "Generalised Dice overlap", DLMIA 2017, arXiv:1707.03237.

    Example:
        >>> import torch
        >>> x, y = torch.tensor([[[2.0, -2.0], [-2.0, 2.0]]]), torch.tensor([[0, 1]])
        >>> GeneralizedDiceFocalLoss(mode="multiclass")(x, y)
        tensor(0.0198)
    """

    weighting: Weighting = DEFAULT

    _kind = "generalized"
    _names = ("generalized_dice", "focal")


# ------------------------------------------------------------- generalized Wasserstein Dice


def _class_dot(a: Tensor, b: Tensor) -> Tensor:
    """``sum_c a_c b_c`` over dim 1 of ``(N, C, S)`` tensors, class by class into one ``(N,
    S)`` tensor (in place when no graph is recorded): no ``(N, C, S)`` product tensor. A fresh
    one per step was page-faulted in whenever glibc had unmapped the last one: the
    generalized Wasserstein Dice step on ``(8, 4, 256, 256)`` took 5,000-8,000 page faults and
    22-30 ms in a benchmark loop with it, about 100 and 10-12 ms without."""
    out = a[:, 0] * b[:, 0]
    for c in range(1, a.shape[1]):
        if torch.is_grad_enabled():
            out = torch.addcmul(out, a[:, c], b[:, c])
        else:
            out.addcmul_(a[:, c], b[:, c])
    return out


class _WassersteinMap(torch.autograd.Function):
    """``W_s = sum_c M[t_s, c] p_c,s`` with ``p = softmax(x)`` over dim 1 of ``x`` ``(N, C,
    S)``, ``t`` ``(N, 1, S)`` the labels, ``M`` ``(C, C)``: the Wasserstein distance of each
    position's prediction to its one-hot label, ``(N, S)``.

    The rows ``R_c,s = M[t_s, c]`` are gathered in the layout of ``p`` (``(N, C, S)``), so
    the forward is a softmax, a gather and a product summed over the classes; the backward,
    ``dL/dx_c,s = p_c,s g_s (R_c,s - W_s)`` (the softmax Jacobian applied to ``g_s R``, whose
    ``sum_c p_c g_s R_c`` is ``g_s W_s``), three in-place passes over the saved rows. The
    gradient flows to ``x`` only (``M`` here is a constant)."""

    @staticmethod
    def plain(x: Tensor, t: Tensor, m: Tensor) -> Tensor:
        """The same result as plain operations (:func:`~losskit._autograd.fused_apply`); no
        gradient reaches ``M``, as in the fused form."""
        p = torch.softmax(x, dim=1)
        rows = m.detach().t().expand(x.shape[0], -1, -1).gather(2, t.expand(-1, x.shape[1], -1))
        return _class_dot(rows, p)

    @staticmethod
    def forward(ctx: Any, x: Tensor, t: Tensor, m: Tensor) -> Tensor:
        p = torch.softmax(x, dim=1)
        rows = m.t().expand(x.shape[0], -1, -1).gather(2, t.expand(-1, x.shape[1], -1))
        w = _class_dot(rows, p)
        ctx.save_for_backward(x, t, m)
        ctx.fast = (p, rows, w)  # plain tensors for a first-order backward
        return w

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
        x, t, m = ctx.saved_tensors
        if torch.is_grad_enabled() or ctx.fast is None:
            # create_graph=True: the same formula, in the same order, on the graph and out of
            # place, so that the second derivatives are exact; a second backward after
            # retain_graph recomputes the same values
            p = torch.softmax(x, dim=1)
            rows = m.t().expand(x.shape[0], -1, -1).gather(2, t.expand(-1, x.shape[1], -1))
            w = _class_dot(rows, p)
            if torch.is_grad_enabled():
                return (rows - w[:, None]) * g[:, None] * p, None, None
        else:
            p, rows, w = ctx.fast
            ctx.fast = None  # freed now
        return rows.sub_(w[:, None]).mul_(g[:, None]).mul_(p), None, None


TPWeighting = Literal["foreground", "inverse_volume"]


@checked
def generalized_wasserstein_dice_loss(
    logits: Tensor, target: Tensor, *, class_distance: ClassDistance,
    tp_weighting: TPWeighting = "foreground", smooth: NonNegative = 1e-5,
    ignore_index: int | None = -100, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Generalized Wasserstein Dice loss: a Dice whose errors are the Wasserstein distances
    between the predicted class distribution and the true class, under a distance between
    classes, so confusing two similar classes costs less than two distant ones.

    Formula:
        l = 1 - (2 TP + smooth) / (2 TP + sum_i W_i + smooth),  W_i = sum_c M[y_i, c] p_c,i,  TP = sum_i a_(y_i) (1 - W_i)

    ``M`` is ``class_distance`` divided by its largest entry (MONAI's normalisation), ``p``
    the softmax over the classes and ``W_i`` the Wasserstein distance between ``p_i`` and the
    one-hot true class (the expected distance to it). ``tp_weighting="foreground"`` (the
    paper's) counts true positives of every class but the background (class 0): ``a_0 = 0``,
    ``a_c = 1``; ``"inverse_volume"`` weighs each class by ``1 / (|G_c| + 1)`` and takes the
    denominator ``sum_i a_(y_i) (2 - W_i)`` (Tilborghs et al.'s generalized-Dice form).
    One loss per sample. An image that is all background with ``"foreground"`` weighting has
    ``TP = 0``: its loss is ``1 - smooth / (sum W + smooth)``, 0 only for a perfect
    prediction. Positions left out (``mask``, ``ignore_index``) leave every sum.

    When to use:
        Multi-class segmentation with a known class hierarchy (tumour sub-regions, organs
        and their parts): mistakes between nearby classes are cheaper than between distant
        ones, and the loss stays a Dice (overlap-based, robust to imbalance).

    Args:
        logits: raw scores ``(N, C, *)``.
        target: integer class indices ``(N, *)``.
        class_distance: the ``(C, C)`` distances between classes, ``>= 0`` (zero diagonal,
            not all zero); divided by the largest.
        tp_weighting: ``"foreground"`` (default, the paper's) or ``"inverse_volume"``.
        smooth: ``>= 0``, added to numerator and denominator; default ``1e-5``.
        ignore_index: label left out; default -100, ``None`` for none.
        weight: optional non-negative ``(N,)`` sample weights.
        mask: optional bool tensor broadcastable to ``target``'s shape.
        reduction: ``"none"`` (``(N,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``, non-integer ``target``, a ``class_distance`` that
            is not a tensor.
        ValueError: shapes that do not match, labels out of range (CPU), a
            ``class_distance`` not ``(C, C)``, with a negative or NaN entry or all zero.

    Equals MONAI's ``GeneralizedWassersteinDiceLoss`` (``dist_matrix = class_distance``,
    ``weighting_mode="default"`` or ``"GDL"``, ``smooth_nr = smooth_dr = smooth``); MONAI
    computes the ``"GDL"`` class weights in float32.

    Paper:
        Fidon et al., "Generalised Wasserstein Dice Score for Imbalanced Multi-class
        Segmentation using Holistic Convolutional Networks", BrainLes 2017, arXiv:1707.00478.

    Example:
        >>> import torch
        >>> m = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [1.0, 0.5, 0.0]])
        >>> x = torch.tensor([[[0.0], [0.0], [10.0]]])  # predicts class 2 at one position
        >>> y = torch.tensor([[1]])  # which is class 1, at distance 0.5
        >>> generalized_wasserstein_dice_loss(x, y, class_distance=m, smooth=0.0)
        tensor(0.3333)
    """
    fn = "generalized_wasserstein_dice_loss"
    check_floating(fn, "logits", logits)
    check_tensor(fn, "target", target)
    check_same_device(fn, ("logits", logits), ("target", target), ("mask", mask),
                      ("class_distance", class_distance))  # fmt: skip
    check_min_ndim(fn, "logits", logits, 2, "(N, C, ...)")
    num_classes = logits.shape[1]
    if class_distance.shape != (num_classes, num_classes):
        raise ValueError(
            f"{fn}: class_distance must have shape ({num_classes}, {num_classes}), one row "
            f"and column per class; got {tuple(class_distance.shape)}"
        )
    if not class_distance.is_floating_point():
        raise TypeError(f"{fn}: class_distance must be a floating-point tensor; got dtype "
                        f"{class_distance.dtype}")  # fmt: skip
    spatial = logits.shape[:1] + logits.shape[2:]
    if target.shape != spatial:
        raise ValueError(
            f"{fn}: target must be (N, ...) = {tuple(spatial)} for logits "
            f"{tuple(logits.shape)}; got {tuple(target.shape)}"
        )
    work = compute_dtype(logits)
    # under torch.compile: labels as floats and their one-hot form, which the compiler fuses
    # (see _counts); a gather, a scatter-add and int64 labels take scalar or slow paths there
    compiled = torch.compiler.is_compiling() and num_classes < 2**24
    labels_f = None
    if compiled:
        check_integer(fn, "target", target)  # value checks are skipped while compiling
        labels_f = target.to(work)
        keep = exclusion(fn, spatial, mask=mask, labels=labels_f, ignore_index=ignore_index)
    elif mask is None and _plain_target(target, 0, num_classes - 1, ignore_index):
        check_integer(fn, "target", target)  # in range, nothing left out: one pass
        keep = None
    else:
        keep = exclusion(fn, spatial, mask=mask, labels=target, ignore_index=ignore_index)
        check_labels(fn, target, num_classes, name="target", ignore_index=ignore_index,
                     keep=keep)  # fmt: skip
    top = class_distance.detach().amax() if class_distance.numel() else None
    if (
        top is not None
        and class_distance.device.type == "cpu"
        and not traced()
        and not bool(top > 0)
    ):
        raise ValueError(f"{fn}: class_distance must have a positive entry; got all zeros")
    m = class_distance.to(work) / class_distance.to(work).amax()
    n = logits.shape[0]
    size = math.prod(logits.shape[2:])
    x = logits.to(work)
    if keep is not None:
        x = torch.where(keep.unsqueeze(1), x, 0.0)
    k = None if keep is None else keep_factor(keep.expand(spatial).reshape(n, size), work)
    if labels_f is not None:
        wass, at = _wasserstein_terms_onehot(x, labels_f, k, m, tp_weighting)
        return _wasserstein_finish(fn, logits, wass, at, k, keep, spatial, tp_weighting,
                                   smooth, weight, reduction)  # fmt: skip
    labels = target.long() if keep is None else torch.where(keep, target.long(), 0)
    labels = labels.reshape(n, size)
    # W_i = sum_c M[y_i, c] p_c,i in the (N, C, S) layout of p: gathering the rows of M as
    # (N, S, C) makes the softmax's incoming gradient transposed, and its backward several
    # times slower. Eagerly, a hand-written backward (_WassersteinMap); with a gradient for
    # class_distance, (M p) at the true class (a matmul and a gather)
    if class_distance.requires_grad:
        p = torch.softmax(x, 1).reshape(n, num_classes, size)
        wass = torch.matmul(m, p).gather(1, labels[:, None])[:, 0]  # (N, S)
    else:
        wass = fused_apply(_WassersteinMap, x.reshape(n, num_classes, size), labels[:, None], m)
    if tp_weighting == "foreground":
        at = (labels != 0).to(work)  # a_0 = 0, a_c = 1
    else:
        ones = torch.ones(n, size, dtype=work, device=logits.device)
        ones = ones if k is None else ones * k
        volume = torch.zeros(n, num_classes, dtype=work, device=logits.device)
        volume = volume.scatter_add(1, labels, ones)
        at = (1.0 / (volume + 1.0)).gather(1, labels)
    return _wasserstein_finish(fn, logits, wass, at, k, keep, spatial, tp_weighting, smooth,
                               weight, reduction)  # fmt: skip


def _wasserstein_terms_onehot(
    x: Tensor, labels: Tensor, k: Tensor | None, m: Tensor, tp_weighting: str
) -> tuple[Tensor, Tensor]:
    """``(W, a)`` of :func:`generalized_wasserstein_dice_loss`, each ``(N, S)``, from the
    one-hot form of float ``labels`` ``(N, *)``: ``W_i = sum_c [y_i = c] (M p_i)_c`` with ``(M
    p)_c = sum_j M[c, j] p_j`` as a sum over the class axis (no matmul, no gather), and the
    volume weights ``a_i`` from per-class sums (no scatter-add), for ``torch.compile``, which
    fuses all of it into the softmax's loops. ``k``: the ``(N, S)`` 0/1 kept factor or None."""
    n, c = x.shape[:2]
    onehot = float_onehot(labels.reshape(n, 1, -1), c)  # (N, C, S)
    if k is not None:
        onehot = onehot * k[:, None]
    p = torch.softmax(x, 1).reshape(n, c, -1)
    mp = (m[None, :, :, None] * p[:, None]).sum(2)  # (N, C, S): (M p)_c
    wass = (mp * onehot).sum(1)
    if tp_weighting == "foreground":
        at = onehot[:, 1:].sum(1)  # a_0 = 0, a_c = 1
    else:
        volume = onehot.sum(2, keepdim=True)  # (N, C, 1)
        at = (onehot / (volume + 1.0)).sum(1)
    return wass, at


def _wasserstein_finish(
    fn: str, logits: Tensor, wass: Tensor, at: Tensor, k: Tensor | None, keep: Tensor | None,
    spatial: torch.Size, tp_weighting: str, smooth: float, weight: Tensor | None,
    reduction: Reduction,
) -> Tensor:  # fmt: skip
    """The loss of :func:`generalized_wasserstein_dice_loss` from its ``(N, S)`` terms."""
    if k is not None:
        at, wass = at * k, wass * k
    tp = (at * (1.0 - wass)).sum(1)
    if tp_weighting == "foreground":
        den = 2.0 * tp + wass.sum(1)
    else:
        den = (at * (2.0 - wass)).sum(1)
    tiny = torch.finfo(wass.dtype).tiny
    loss = 1.0 - (2.0 * tp + smooth) / (den + smooth).clamp_min(tiny)
    n = spatial[0]
    kept = None if keep is None else any_true(keep.expand(spatial).reshape(n, -1), 1)
    return _finish_per_sample(fn, loss, logits, True, weight, reduction, kept)


class GeneralizedWassersteinDiceLoss(LossModule, function=generalized_wasserstein_dice_loss):
    """Generalized Wasserstein Dice loss: a Dice whose errors are Wasserstein distances under
    a distance between classes.

    Args:
        class_distance: the ``(C, C)`` distances between classes (a buffer); required.
        tp_weighting: ``"foreground"`` (default) or ``"inverse_volume"``.
        smooth: default ``1e-5``.
        ignore_index: label left out; default -100.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``: ``logits`` ``(N, C, *)``,
        ``target`` ``(N, *)`` labels. Output: a scalar, or ``(N,)``.

    Paper:
        Fidon et al., "Generalised Wasserstein Dice Score", BrainLes 2017, arXiv:1707.00478.

    Example:
        >>> import torch
        >>> m = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [1.0, 0.5, 0.0]])
        >>> GeneralizedWassersteinDiceLoss(class_distance=m, smooth=0.0)(
        ...     torch.tensor([[[0.0], [0.0], [10.0]]]), torch.tensor([[1]]))
        tensor(0.3333)
    """

    class_distance: ClassDistance = DEFAULT
    tp_weighting: TPWeighting = DEFAULT
    smooth: NonNegative = DEFAULT
    ignore_index: int | None = DEFAULT
