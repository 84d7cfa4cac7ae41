"""Long-tailed classification: class-balanced weights from the effective number of samples,
LDAM (with deferred re-weighting through ``class_weight``) and the Seesaw loss; re-exported by
:mod:`losskit.functional.classification`.

Class counts are statistics, never differentiated: a count of 0 is safe everywhere (the
effective number gives it weight 0, LDAM and Seesaw read it as 1).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as TF
from torch import Tensor

from .._api import DEFAULT, LossModule, checked
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
)
from .._reduction import Reduction, finish_avg, zero_excluded
from .classification import _check_logits, _index_labels, softmax_cross_entropy

__all__ = [
    "class_balanced_weights",
    "ldam_loss",
    "seesaw_loss",
    "LDAMLoss",
    "SeesawLoss",
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
    onehot = TF.one_hot(safe, num_classes).movedim(-1, 1).to(work)
    z = (logits.to(work) - onehot * m.view(1, -1, *([1] * (logits.dim() - 2)))) * scale
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
        log_n = log_n.view(1, -1, *([1] * (z.dim() - 2)))
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
