"""Long-tailed classification: class-balanced weights from the effective number of samples,
LDAM (with deferred re-weighting through ``class_weight``), the Seesaw loss and the
equalization loss v2 (EQLv2); re-exported by :mod:`losskit.functional.classification`.

Class counts are statistics, never differentiated: a count of 0 is safe everywhere (the
effective number gives it weight 0, LDAM and Seesaw read it as 1). EQLv2's accumulated
gradients are statistics too: before any is accumulated (0 and 0) a class is not re-weighted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.distributed as dist
import torch.nn.functional as TF
from torch import Tensor

from .._api import DEFAULT, LossModule, checked, field
from .._checks import (
    AvgFactor,
    ClassCounts,
    ClassWeight,
    Mask,
    NonNegative,
    Positive,
    Range,
    UnitInterval,
    Weight,
    check_floating,
    check_same_device,
    check_tensor,
    check_tensor_values,
    scatter_onehot,
)
from .._reduction import Reduction, finish_avg, zero_excluded
from .classification import _check_logits, _index_labels, _per_class, softmax_cross_entropy

__all__ = [
    "class_balanced_weights",
    "ldam_loss",
    "seesaw_loss",
    "eqlv2_loss",
    "LDAMLoss",
    "SeesawLoss",
    "EQLv2Loss",
]

_NONNEG = Range(0.0)


def _check_counts(fn: str, counts: object, num_classes: int | None = None) -> Tensor:
    counts = check_tensor(fn, "counts", counts)
    if counts.dtype == torch.bool or counts.is_complex():
        raise TypeError(f"{fn}: counts must be a numeric tensor; got dtype {counts.dtype}")
    if counts.dim() != 1 or (num_classes is not None and counts.shape[0] != num_classes):
        want = f"({num_classes},), one count per class" if num_classes else "(C,)"
        raise ValueError(f"{fn}: counts must have shape {want}; got {tuple(counts.shape)}")
    check_tensor_values(fn, "counts", counts.detach(), _NONNEG)
    return counts


@checked
def class_balanced_weights(counts: Tensor, *, cb_beta: UnitInterval = 0.9999) -> Tensor:
    """Class weights from the effective number of samples (class-balanced loss).

    Formula:
        w_c = 1 / E_c,  E_c = (1 - beta^n_c) / (1 - beta),  normalised to sum to the number of classes

    Each new sample of a class adds less information than the last (it overlaps the ones
    already seen); ``E_c`` counts the "effective" samples: ``beta = 0`` gives 1 for every
    class (no re-weighting), ``beta -> 1`` the count itself (inverse-frequency weights). The
    weights are normalised as in the paper's code (they sum to the number of classes that
    have samples). A class with no sample (``n_c = 0``, ``E_c = 0``) gets weight 0 and is left
    out of the normalisation (it can carry no loss) instead of an infinite weight.
    ``E_c = -expm1(n_c log beta) / (1 - beta)``: accurate for ``beta`` near 1 and for large
    counts; ``beta = 1`` is the limit ``E_c = n_c``.

    Use the weights as ``class_weight`` of a softmax loss (``softmax_cross_entropy``,
    ``softmax_focal_loss``, ``ldam_loss``) or, per sample, as ``weight``. LDAM's deferred
    re-weighting (DRW) switches them on late in training: ``class_weight=None`` for the
    first epochs, ``class_balanced_weights(counts)`` after.

    Args:
        counts: ``(C,)`` number of training samples of each class, ``>= 0`` (any numeric dtype).
        cb_beta: ``beta`` in ``[0, 1]``; default 0.9999 (the paper's for long-tailed CIFAR
            and ImageNet).

    Returns:
        ``(C,)`` weights, float (the dtype of ``counts`` if floating, else the default dtype),
        that sum to the number of classes with samples.

    Raises:
        TypeError: ``counts`` not a numeric tensor.
        ValueError: ``counts`` not 1-D, negative or NaN (checked on CPU), ``cb_beta`` outside
            ``[0, 1]``.

    Paper:
        Cui, Jia, Lin, Song, Belongie, "Class-Balanced Loss Based on Effective Number of
        Samples", CVPR 2019, arXiv:1901.05555.

    Example:
        >>> import torch
        >>> class_balanced_weights(torch.tensor([1000, 10, 0]), cb_beta=0.99)  # E = 100, 9.56, 0
        tensor([0.1746, 1.8254, 0.0000])
    """
    fn = "class_balanced_weights"
    _check_counts(fn, counts)
    dtype = counts.dtype if counts.is_floating_point() else torch.get_default_dtype()
    n = counts.detach().to(torch.float64)
    if cb_beta == 1.0:
        effective = n
    elif cb_beta == 0.0:
        effective = (n > 0).to(n.dtype)
    else:
        effective = -torch.expm1(n * math.log(cb_beta)) / (1.0 - cb_beta)
    present = n > 0
    w = torch.where(present, 1.0 / torch.where(present, effective, 1.0), 0.0)
    total = w.sum()
    w = torch.where(total > 0, w * present.sum() / torch.where(total > 0, total, 1.0), w)
    return w.to(dtype)


@checked
def ldam_loss(
    logits: Tensor, labels: Tensor, *, counts: ClassCounts, margin: NonNegative = 0.5,
    scale: Positive = 30.0, class_weight: ClassWeight = None, ignore_index: int | None = -100,
    weight: Weight = None, mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""LDAM loss: softmax cross-entropy with a label-distribution-aware margin, larger for
    rarer classes.

    Formula:
        l = CE(s (z - m_y e_y), y),  m_c = margin (n_min / n_c)^(1/4)

    The target logit is lowered by a class margin ``m_y`` proportional to ``n_c^(-1/4)`` (the
    rarest class gets ``margin``): rare classes must win by more, which trades the frequent
    classes' surplus margin for the rare ones' generalisation. ``s`` scales the logits (the
    paper uses cosine logits of a normalised classifier with ``s = 30``). A count of 0 is read
    as 1 (the largest margin) instead of an infinite one. With ``class_weight``, the mean
    divides by the total class weight (torch's rule, as :func:`softmax_cross_entropy`).

    Deferred re-weighting (DRW, the paper's schedule): train with ``class_weight=None``, then
    from a late epoch (160 of 200 on CIFAR) pass
    ``class_weight=class_balanced_weights(counts)``.

    When to use:
        Long-tailed classification (CIFAR-LT, ImageNet-LT, iNaturalist): combine with
        deferred re-weighting; the margin alone helps the tail classes, re-weighting late
        fixes the decision boundary without hurting the representation.

    Args:
        logits: ``(N, C)`` or ``(N, C, d1, ...)`` logits (cosine logits in the paper).
        labels: integer class indices ``(N,)`` or ``(N, d1, ...)``.
        counts: ``(C,)`` training samples per class, ``>= 0``; required.
        margin: the largest margin (the rarest class's), ``>= 0``; default 0.5.
        scale: the logit scale ``s > 0``; default 30.
        class_weight: optional non-negative ``(C,)`` class weights (DRW); default ``None``.
        ignore_index: labels equal to it are left out; default -100, ``None`` for none.
        weight: optional non-negative per-sample (per-position) weights broadcastable to
            ``(N, d1, ...)``.
        mask: optional bool tensor broadcastable to ``(N, d1, ...)``; ``False`` = leave out.
        reduction: ``"none"`` (shape ``(N, d1, ...)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``, non-integer labels, non-numeric ``counts``.
        ValueError: bad shapes, labels out of range (CPU), negative counts or margin,
            ``scale <= 0``, a bad ``class_weight``/``weight``/``mask``.

    Paper:
        Cao, Wei, Gaidon, Arechiga, Ma, "Learning Imbalanced Datasets with
        Label-Distribution-Aware Margin Loss", NeurIPS 2019, arXiv:1906.07413.

    Example:
        >>> import torch
        >>> z, y = torch.zeros(1, 2), torch.tensor([1])
        >>> ldam_loss(z, y, counts=torch.tensor([100, 1]), scale=1.0)  # margin 0.5: ln(1 + e^0.5)
        tensor(0.9741)
    """
    fn = "ldam_loss"
    _check_logits(fn, logits)
    check_tensor(fn, "labels", labels)
    num_classes = logits.shape[1]
    _check_counts(fn, counts, num_classes)
    check_same_device(fn, ("logits", logits), ("labels", labels), ("counts", counts),
                      ("class_weight", class_weight), ("weight", weight), ("mask", mask))  # fmt: skip
    y, keep = _index_labels(fn, logits, labels, "labels", ignore_index, mask)
    if class_weight is not None:
        check_floating(fn, "class_weight", class_weight)
    work = torch.float32 if logits.dtype in (torch.float16, torch.bfloat16) else logits.dtype
    n = counts.detach().to(work).clamp_min(1.0)
    m = margin * (n.min() / n).pow(0.25)  # (C,)
    safe = y if keep is None else torch.where(keep, y, 0)
    # the margin taken off each label's logit by a scatter-add of one value per position
    # (the same x - m_y there, x elsewhere): no (N, C, *) one-hot tensor, which cost an int64
    # (N, C, *) write, a conversion and two products (and int64 slow paths when compiled)
    idx = safe.unsqueeze(1)
    z = logits.to(work).scatter_add(1, idx, -m[idx]).mul_(scale)
    loss = softmax_cross_entropy(z, safe, class_weight=class_weight, ignore_index=None,
                                 weight=weight, mask=keep, reduction=reduction)  # fmt: skip
    return loss.to(logits.dtype)


@checked
def seesaw_loss(
    logits: Tensor, labels: Tensor, counts: Tensor, *, mitigation_exponent: NonNegative = 0.8,
    compensation_exponent: NonNegative = 2.0, eps: Positive = 1e-2,
    ignore_index: int | None = -100, weight: Weight = None, mask: Mask = None,
    avg_factor: AvgFactor = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Seesaw loss: cross-entropy whose negative logits are re-weighted by a mitigation factor
    (class frequencies) and a compensation factor (misclassification).

    Formula:
        l = -log( e^{z_y} / (e^{z_y} + sum_{j != y} S_yj e^{z_j}) ),  S_yj = M_yj C_yj
        M_yj = (n_j / n_y)^p if n_j < n_y else 1;   C_yj = (s_j / s_y)^q if s_j > s_y else 1

    A sample of a frequent class ``y`` pushes down every rarer class ``j``'s logit; the
    mitigation factor ``M`` shrinks that push by the ratio of their (cumulative) counts, so
    the tail classes are not buried by the head's negatives. The compensation factor ``C``
    restores the penalty where the model is actually wrong (class ``j`` scores above the
    target, ``s = softmax(z)`` detached), so the mitigation does not cause false positives.
    ``S`` enters as ``+log S_yj`` on the non-target logits, computed in log space;
    ``s_y`` is floored at ``eps``. Counts are read as at least 1 (a class not seen yet counts
    once); floating counts that require grad get the formula's gradient.

    Equals mmdetection's ``seesaw_ce_loss`` (the classification part of ``SeesawLoss``; its
    objectness branch for detection heads is not included). mmdetection's module keeps the
    cumulative counts itself; here they are an explicit input that the caller accumulates,
    e.g. ``counts += torch.bincount(labels[labels >= 0], minlength=C)`` before each call (what
    mmdetection does).

    When to use:
        Long-tailed instance segmentation and detection (LVIS) and long-tailed
        classification, with class counts accumulated online from the batches seen so far.
        Paper defaults: p = 0.8, q = 2.

    Args:
        logits: ``(N, C)`` or ``(N, C, d1, ...)`` logits.
        labels: integer class indices ``(N,)`` or ``(N, d1, ...)``.
        counts: ``(C,)`` (cumulative) samples per class seen so far, ``>= 0``.
        mitigation_exponent: ``p >= 0``; 0 turns the mitigation off; default 0.8.
        compensation_exponent: ``q >= 0``; 0 turns the compensation off; default 2.
        eps: ``> 0``, the floor of the target's probability in ``s_j / s_y``; default 1e-2.
        ignore_index: labels equal to it are left out; default -100, ``None`` for none.
        weight: optional non-negative per-sample weights broadcastable to ``(N, d1, ...)``.
        mask: optional bool tensor broadcastable to ``(N, d1, ...)``; ``False`` = leave out.
        avg_factor: ``"mean"`` divides the summed loss by ``max(avg_factor, 1)`` (mmdetection's
            normaliser) instead of the number (weight) of kept samples; ``None`` (default).
        reduction: ``"none"`` (shape ``(N, d1, ...)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``, non-integer labels, non-numeric ``counts``.
        ValueError: bad shapes, labels out of range (CPU), negative counts, a bad
            hyperparameter, ``weight``, ``mask`` or ``avg_factor``.

    Paper:
        Wang, Zhang, Zang, Cao, Pang, Gong, Xiong, Loy, Lin, "Seesaw Loss for Long-Tailed
        Instance Segmentation", CVPR 2021, arXiv:2008.10032.

    Example:
        >>> import torch
        >>> z, y = torch.zeros(1, 2), torch.tensor([0])
        >>> seesaw_loss(z, y, torch.tensor([100, 1]))  # ln(1 + 0.01^0.8) (class 1 is rarer)
        tensor(0.0248)
    """
    fn = "seesaw_loss"
    _check_logits(fn, logits)
    check_tensor(fn, "labels", labels)
    num_classes = logits.shape[1]
    _check_counts(fn, counts, num_classes)
    check_same_device(fn, ("logits", logits), ("labels", labels), ("counts", counts),
                      ("weight", weight), ("mask", mask))  # fmt: skip
    y, keep = _index_labels(fn, logits, labels, "labels", ignore_index, mask)
    out_dtype = logits.dtype
    work = torch.float32 if logits.dtype in (torch.float16, torch.bfloat16) else logits.dtype
    safe = y if keep is None else torch.where(keep, y, 0)
    z = zero_excluded(logits.to(work), None if keep is None else keep.unsqueeze(1))
    idx = safe.unsqueeze(1)
    log_s = torch.zeros_like(z)  # log S_yj, 0 on the target
    if mitigation_exponent > 0:
        log_n = counts.to(work).clamp_min(1.0).log()
        log_n = _per_class(log_n, z)
        ratio = log_n - log_n.expand_as(z).gather(1, idx)  # log(n_j / n_y)
        log_s = log_s + mitigation_exponent * ratio.clamp_max(0.0)
    if compensation_exponent > 0:
        lp = torch.log_softmax(z.detach(), 1)
        self_lp = lp.gather(1, idx).clamp_min(math.log(eps))
        log_s = log_s + compensation_exponent * (lp - self_lp).clamp_min(0.0)
    # the target's own entry keeps factor 1
    log_s = log_s.scatter(1, idx, 0.0)
    loss = TF.cross_entropy(z + log_s, safe, reduction="none")
    return finish_avg(fn, loss, reduction, avg_factor=avg_factor, weight=weight, keep=keep,
                      out_dtype=out_dtype)  # fmt: skip


def _check_statistic(fn: str, name: str, x: object, num_classes: int) -> Tensor | None:
    """An accumulated gradient statistic of EQLv2: a floating ``(C,)`` tensor, ``>= 0``."""
    if x is None:
        return None
    x = check_floating(fn, name, x)
    if x.dim() != 1 or x.shape[0] != num_classes:
        raise ValueError(
            f"{fn}: {name} must have shape ({num_classes},), one value per class; "
            f"got {tuple(x.shape)}"
        )
    check_tensor_values(fn, name, x.detach(), _NONNEG)
    return x


def _eqlv2_weights(
    pos_grad: Tensor | None, neg_grad: Tensor | None, ratio_slope: float, ratio_center: float,
    pos_gain: float, like: Tensor,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """``(q, r)``: the positive and negative weights ``(C,)`` from the accumulated gradients
    (``None`` reads as 0). A class with no negative gradient accumulated yet (the start of
    training) has ``g = inf``: ``r = 1``, ``q = 1``, as the authors' code's first iteration."""
    dtype, zeros = like.dtype, like.new_zeros(like.shape[1])
    pos = zeros if pos_grad is None else pos_grad.to(dtype)
    neg = zeros if neg_grad is None else neg_grad.to(dtype)
    seen = neg > 0
    ratio = pos / torch.where(seen, neg, torch.ones((), dtype=dtype, device=neg.device))
    r = torch.where(seen, torch.sigmoid(ratio_slope * (ratio - ratio_center)), 1.0)
    return 1.0 + pos_gain * (1.0 - r), r


def _eqlv2(
    logits: Tensor, labels: Tensor, *, pos_grad: ClassWeight = None,
    neg_grad: ClassWeight = None, ratio_slope: Positive = 12.0, ratio_center: NonNegative = 0.8,
    pos_gain: NonNegative = 4.0, ignore_index: int | None = -100, weight: Weight = None,
    mask: Mask = None, avg_factor: AvgFactor = None, reduction: Reduction = "mean",
) -> tuple[Tensor, Callable[[], tuple[Tensor, Tensor]]]:  # fmt: skip
    """:func:`eqlv2_loss` and a function that computes this batch's re-weighted gradient
    magnitudes per class ``(pos, neg)``, ``(C,)`` each, detached (the module's accumulation;
    the function form never computes them)."""
    fn = "eqlv2_loss"
    _check_logits(fn, logits)
    check_tensor(fn, "labels", labels)
    num_classes = logits.shape[1]
    _check_statistic(fn, "pos_grad", pos_grad, num_classes)
    _check_statistic(fn, "neg_grad", neg_grad, num_classes)
    check_same_device(fn, ("logits", logits), ("labels", labels), ("pos_grad", pos_grad),
                      ("neg_grad", neg_grad), ("weight", weight), ("mask", mask))  # fmt: skip
    y, keep = _index_labels(fn, logits, labels, "labels", ignore_index, mask)
    work = torch.float32 if logits.dtype in (torch.float16, torch.bfloat16) else logits.dtype
    safe = y if keep is None else torch.where(keep, y, 0)
    z = zero_excluded(logits.to(work), None if keep is None else keep.unsqueeze(1))
    # (N, C, *) bool, True at each label: one scatter of a value per position (an int64
    # one_hot tensor moved and converted took three passes over (N, C, *) int64)
    onehot = scatter_onehot(z, safe, True)
    q, r = _eqlv2_weights(pos_grad, neg_grad, ratio_slope, ratio_center, pos_gain, z)
    w = torch.where(onehot, _per_class(q, z), _per_class(r, z))
    # sigmoid BCE per class: softplus(-z) for the target, softplus(z) for the others
    bce = TF.softplus(torch.where(onehot, -z, z))
    loss = (w * bce).sum(1)
    out = finish_avg(fn, loss, reduction, avg_factor=avg_factor, weight=weight, keep=keep,
                     out_dtype=logits.dtype)  # fmt: skip

    @torch.no_grad()
    def gradients() -> tuple[Tensor, Tensor]:
        # |dBCE/dz|: 1 - p for the target, p for the others; times the class weight and the
        # sample's weight (0 when left out): the gradient the optimised loss really sends
        p = torch.sigmoid(z.detach())
        mag = w.detach() * torch.where(onehot, 1.0 - p, p)
        per_sample = torch.ones_like(loss, dtype=work)
        if weight is not None:
            per_sample = per_sample * weight.detach().to(work)
        if keep is not None:
            per_sample = torch.where(keep, per_sample, 0.0)
        mag = mag * per_sample.unsqueeze(1)
        dims = [0, *range(2, mag.dim())]
        return torch.where(onehot, mag, 0.0).sum(dims), torch.where(onehot, 0.0, mag).sum(dims)

    return out, gradients


# the module's call: checked like the public function, errors named after it
_eqlv2.__name__ = "eqlv2_loss"
_eqlv2 = checked(_eqlv2)


@checked
def eqlv2_loss(
    logits: Tensor, labels: Tensor, *, pos_grad: ClassWeight = None,
    neg_grad: ClassWeight = None, ratio_slope: Positive = 12.0, ratio_center: NonNegative = 0.8,
    pos_gain: NonNegative = 4.0, ignore_index: int | None = -100, weight: Weight = None,
    mask: Mask = None, avg_factor: AvgFactor = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Equalization loss v2: sigmoid cross-entropy whose positive and negative terms are
    re-weighted per class by the ratio of the positive to negative gradients accumulated so
    far.

    Formula:
        l = sum_j [ y_j q_j BCE(z_j, 1) + (1 - y_j) r_j BCE(z_j, 0) ],  r_j = sigmoid(ratio_slope (g_j - ratio_center)),  q_j = 1 + pos_gain (1 - r_j),  g_j = pos_grad_j / neg_grad_j

    Every class is an independent sigmoid (one-vs-rest) task. A tail class ``j`` sees few
    positives and the negatives of every other class, so the gradients that reach its logit
    are mostly negative: the accumulated ratio ``g_j`` of positive to negative gradient
    magnitude is near 0 for the tail and near 1 for the head. EQLv2 maps ``g_j`` through a
    sigmoid ``f``: the negative term is weighted by ``r_j = f(g_j)`` (near 0 for an
    unbalanced class: the flood of negatives is muted) and the positive term by ``q_j = 1 +
    pos_gain (1 - r_j)`` (up to ``1 + pos_gain``): each class's training is re-balanced by
    its own gradient statistics, not by sample counts.

    ``pos_grad`` and ``neg_grad`` are the accumulated magnitudes *before* this batch: the sums
    over the batches seen so far of ``q_j |p_j - 1|`` over the positives and ``r_j p_j`` over
    the negatives of class ``j`` (``p = sigmoid(z)``; the gradients of the re-weighted loss,
    times the sample's ``weight``). :class:`EQLv2Loss` keeps them in buffers and adds each
    batch's after the loss (training mode only). A class with nothing accumulated yet
    (``neg_grad_j = 0``) is not re-weighted (``r = q = 1``). The statistics are read as they
    are given (a tensor that requires grad gets the formula's gradient); the module's
    buffers carry no gradient: its weights are constants, as in the paper. ``"none"`` gives one value per sample
    (the sum over the classes), ``"mean"`` their mean: the authors' code divides the sum by
    the number of samples.

    Departures of the authors' code (tztztztztz/eqlv2, mmdetection) from the paper, and what
    losskit follows:

    * the weights of iteration ``t`` come from the gradients accumulated over the iterations
      before ``t`` (the batch's own gradients are added after its loss): losskit follows;
    * the paper writes the per-batch gradients as means over the batch, the code accumulates
      sums (the ratio differs when batch sizes vary): losskit accumulates sums;
    * the code starts with weights 1 (no statistics) and afterwards divides by
      ``neg_grad + 1e-10``; losskit uses ``r = q = 1`` wherever ``neg_grad = 0`` and divides
      exactly elsewhere (they differ only for a class with ``neg_grad = 0`` after the first
      step, which the code maps to ``r = f(0)``: one that has not yet been a negative of
      any sample, i.e. every sample so far was of that class);
    * the code's detection head has an extra objectness (background) channel, last, with
      weights 1 and no statistics; here every channel is a class (classification);
    * the code ignores mmdetection's per-sample ``weight`` and ``avg_factor``; here
      ``weight`` weighs both the loss and the statistics, ``avg_factor`` normalises the
      loss, and left-out samples add nothing to either;
    * the code keeps the statistics as plain attributes (lost on checkpointing) and sums
      them over the ranks; :class:`EQLv2Loss` saves them in ``state_dict`` and sums them
      over the default process group when one is initialised.

    When to use:
        Long-tailed detection and classification with sigmoid (one-vs-rest) classifiers
        (LVIS, Open Images): trained end to end, without class counts or a second
        fine-tuning stage. Paper defaults: ratio_slope (gamma) 12, ratio_center (mu) 0.8,
        pos_gain (alpha) 4; hold the loss in :class:`EQLv2Loss` so the statistics persist.

    Args:
        logits: ``(N, C)`` or ``(N, C, d1, ...)`` logits, one sigmoid per class.
        labels: integer class indices ``(N,)`` or ``(N, d1, ...)``.
        pos_grad: ``(C,)`` accumulated positive gradient magnitudes, ``>= 0`` (floating);
            default ``None`` (0: nothing accumulated).
        neg_grad: ``(C,)`` accumulated negative gradient magnitudes, ``>= 0`` (floating);
            default ``None`` (0: nothing accumulated, no re-weighting).
        ratio_slope: the slope ``gamma > 0`` of the mapping ``f``; default 12.
        ratio_center: the ratio ``mu >= 0`` where ``f = 1/2``; default 0.8.
        pos_gain: ``alpha >= 0``, the positive weight reaches ``1 + alpha``; default 4.
        ignore_index: labels equal to it are left out; default -100, ``None`` for none.
        weight: optional non-negative per-sample weights broadcastable to ``(N, d1, ...)``.
        mask: optional bool tensor broadcastable to ``(N, d1, ...)``; ``False`` = leave out.
        avg_factor: ``"mean"`` divides the summed loss by ``max(avg_factor, 1)`` (mmdetection's
            normaliser) instead of the number (weight) of kept samples; ``None`` (default).
        reduction: ``"none"`` (shape ``(N, d1, ...)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``, ``pos_grad`` or ``neg_grad``; non-integer labels.
        ValueError: bad shapes, labels out of range (CPU), negative or non-finite statistics
            (CPU), a bad hyperparameter, ``weight``, ``mask`` or ``avg_factor``.

    Paper:
        Tan, Lu, Zhang, Yin, Li, "Equalization Loss v2: A New Gradient Balance Approach for
        Long-tailed Object Detection", CVPR 2021, arXiv:2012.08548.

    Example:
        >>> import torch
        >>> z, y = torch.zeros(1, 2), torch.tensor([1])
        >>> eqlv2_loss(z, y)  # no statistics: weights 1, 2 ln 2
        tensor(1.3863)
        >>> # g = (1, 0.1): r = (0.9168, 0.0002), q_1 = 4.9991; ln 2 (r_0 + q_1)
        >>> eqlv2_loss(z, y, pos_grad=torch.tensor([1.0, 0.5]), neg_grad=torch.tensor([1.0, 5.0]))
        tensor(4.1006)
    """
    return _eqlv2(logits, labels, pos_grad=pos_grad, neg_grad=neg_grad, ratio_slope=ratio_slope,
                  ratio_center=ratio_center, pos_gain=pos_gain, ignore_index=ignore_index,
                  weight=weight, mask=mask, avg_factor=avg_factor, reduction=reduction)[0]  # fmt: skip


class LDAMLoss(LossModule, function=ldam_loss):
    """LDAM: cross-entropy of ``s (z - m_y e_y)`` with ``m_c = margin (n_min / n_c)^(1/4)``.

    Args:
        counts: ``(C,)`` training samples per class (a buffer); required.
        margin: the rarest class's margin ``>= 0``; default 0.5.
        scale: the logit scale ``> 0``; default 30.
        class_weight: optional ``(C,)`` class weights (a buffer); set it (or build a new
            module) for deferred re-weighting.
        ignore_index: labels equal to it are left out; default -100, ``None`` for none.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, labels, *, weight=None, mask=None)``: ``logits`` ``(N, C, *)``,
        ``labels`` ``(N, *)``. Output: a scalar, or ``(N, *)``.

    Paper:
        Cao et al., "Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss",
        NeurIPS 2019, arXiv:1906.07413.

    Example:
        >>> import torch
        >>> crit = LDAMLoss(counts=torch.tensor([100, 1]), scale=1.0)
        >>> crit(torch.zeros(1, 2), torch.tensor([1]))
        tensor(0.9741)
    """

    counts: ClassCounts = DEFAULT
    margin: NonNegative = DEFAULT
    scale: Positive = DEFAULT
    class_weight: ClassWeight = DEFAULT
    ignore_index: int | None = DEFAULT


class SeesawLoss(LossModule, function=seesaw_loss):
    """Seesaw loss: negative logits re-weighted by count ratios and score ratios.

    Args:
        mitigation_exponent: ``p >= 0``; default 0.8.
        compensation_exponent: ``q >= 0``; default 2.
        eps: the floor of the target's probability; default 1e-2.
        ignore_index: labels equal to it are left out; default -100, ``None`` for none.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, labels, counts, *, weight=None, mask=None, avg_factor=None)``:
        ``logits`` ``(N, C, *)``, ``labels`` ``(N, *)``, ``counts`` ``(C,)`` (the caller
        accumulates them). Output: a scalar, or ``(N, *)``.

    Paper:
        Wang et al., "Seesaw Loss for Long-Tailed Instance Segmentation", CVPR 2021,
        arXiv:2008.10032.

    Example:
        >>> import torch
        >>> counts = torch.zeros(2)
        >>> labels = torch.tensor([0, 0, 0, 1])
        >>> counts += torch.bincount(labels, minlength=2)  # mmdetection's cum_samples
        >>> SeesawLoss()(torch.zeros(4, 2), labels, counts)  # (3 ln(1 + (1/3)^0.8) + ln 2) / 4
        tensor(0.4338)
    """

    mitigation_exponent: NonNegative = DEFAULT
    compensation_exponent: NonNegative = DEFAULT
    eps: Positive = DEFAULT
    ignore_index: int | None = DEFAULT


class EQLv2Loss(LossModule, function=eqlv2_loss):
    """Equalization loss v2 with its accumulated gradients ``pos_grad`` and ``neg_grad``
    ``(C,)`` in buffers.

    In training mode every call computes the loss with the statistics accumulated so far,
    then adds the batch's re-weighted gradient magnitudes to them (summed over the default
    process group when one is initialised, as the authors' code does); in evaluation mode
    they are read only. They start at the values given, or empty (nothing accumulated: no
    re-weighting) and sized ``(C,)`` by the first training call or by ``load_state_dict``;
    they are saved in ``state_dict`` (a resumed run continues them) and
    ``reset_running_stats()`` empties them again.

    Args:
        pos_grad: the initial ``(C,)`` accumulated positive gradients, ``>= 0``; default
            ``None`` (nothing accumulated).
        neg_grad: the initial ``(C,)`` accumulated negative gradients, ``>= 0``; default
            ``None`` (nothing accumulated).
        ratio_slope: the slope ``gamma > 0`` of the mapping; default 12.
        ratio_center: ``mu >= 0``; default 0.8.
        pos_gain: ``alpha >= 0``; default 4.
        ignore_index: labels equal to it are left out; default -100, ``None`` for none.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.
        device: where to allocate the statistics; default ``None``.
        dtype: their dtype; default ``None`` (that of ``pos_grad`` if given, else the
            default dtype).

    Shape:
        ``forward(logits, labels, *, weight=None, mask=None, avg_factor=None)``: ``logits``
        ``(N, C, *)``, ``labels`` ``(N, *)``. Output: a scalar, or ``(N, *)``.

    Paper:
        Tan et al., "Equalization Loss v2: A New Gradient Balance Approach for Long-tailed
        Object Detection", CVPR 2021, arXiv:2012.08548.

    Example:
        >>> import torch
        >>> crit = EQLv2Loss()
        >>> crit(torch.zeros(2, 2), torch.tensor([0, 0]))  # nothing accumulated: 2 ln 2
        tensor(1.3863)
        >>> crit.pos_grad, crit.neg_grad  # class 0: two positives of |p - 1| = 1/2
        (tensor([1., 0.]), tensor([0., 1.]))
    """

    pos_grad: ClassWeight = DEFAULT
    neg_grad: ClassWeight = DEFAULT
    ratio_slope: Positive = DEFAULT
    ratio_center: NonNegative = DEFAULT
    pos_gain: NonNegative = DEFAULT
    ignore_index: int | None = DEFAULT
    device: torch.device | str | None = field(default=None)
    dtype: torch.dtype | None = field(default=None)

    _STATS: ClassVar[tuple[str, str]] = ("pos_grad", "neg_grad")

    def __post_init__(self) -> None:
        device, dtype = self.__dict__.pop("device"), self.__dict__.pop("dtype")
        owner = type(self).__name__
        given = {name: getattr(self, name) for name in self._STATS}
        sizes = {tuple(v.shape) for v in given.values() if v is not None}
        if len(sizes) > 1:
            raise ValueError(f"{owner}: pos_grad and neg_grad must have the same shape (C,); "
                             f"got {tuple(given['pos_grad'].shape)} and "
                             f"{tuple(given['neg_grad'].shape)}")  # fmt: skip
        like = next((v for v in given.values() if v is not None), None)
        for name, value in given.items():
            delattr(self, name)  # the constructor's copy (a non-persistent buffer) or None
            if value is not None:
                value = check_floating(owner, name, value)
                if value.dim() != 1:
                    raise ValueError(f"{owner}: {name} must have shape (C,), one value per "
                                     f"class; got {tuple(value.shape)}")  # fmt: skip
                value = value.detach().clone()
            elif like is not None:
                value = torch.zeros_like(like)
            else:  # nothing accumulated: sized by the first training call
                value = torch.zeros(0, device=device, dtype=dtype)
            self.register_buffer(name, value.to(device=device, dtype=dtype or value.dtype))

    def reset_running_stats(self) -> None:
        """Forget the accumulated gradients (no re-weighting until new ones accumulate)."""
        for name in self._STATS:
            setattr(self, name, getattr(self, name).new_zeros(0))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any,
                              **kwargs: Any) -> None:  # fmt: skip
        # statistics not sized yet take the saved ones' size (then the values are copied)
        for name in self._STATS:
            saved, own = state_dict.get(prefix + name), getattr(self, name)
            if isinstance(saved, Tensor) and own.numel() == 0 and saved.shape != own.shape:
                setattr(self, name, own.new_zeros(saved.shape))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, logits: Tensor, labels: Tensor, **data: Any) -> Tensor:
        """``eqlv2_loss`` with the statistics so far; in training mode the batch's gradients
        are added to them after."""
        # the fields are buffers after __post_init__ (size 0 until the first training call)
        assert self.pos_grad is not None and self.neg_grad is not None
        hyper = self.hyperparameters()
        if self.pos_grad.numel() == 0:  # nothing accumulated yet
            hyper.update(pos_grad=None, neg_grad=None)
        loss, gradients = _eqlv2(logits, labels, **hyper, **data)
        if self.training:
            batch = torch.stack(gradients()).to(self.pos_grad.dtype)
            if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
                dist.all_reduce(batch, op=dist.ReduceOp.SUM)
            with torch.no_grad():
                if self.pos_grad.numel() == 0:
                    self.pos_grad, self.neg_grad = torch.zeros_like(batch).unbind(0)
                self.pos_grad.add_(batch[0])
                self.neg_grad.add_(batch[1])
        return loss
