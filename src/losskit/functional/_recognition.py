"""Classification losses of current image classifiers: asymmetric loss (multi-label and
single-label), PolyLoss (Poly-1 cross-entropy and Poly-1 focal), Jensen-Shannon consistency
(AugMix) and knowledge distillation; re-exported by :mod:`losskit.functional.classification`.

All take logits (classes along dim 1 for the softmax losses, any shape for the sigmoid ones)
and follow the family's rules: ``mask``/``ignore_index`` leave entries out of every sum and
count, ``weight`` gives ``"mean" = sum(w l) / sum(w)``, half precision is computed in float32,
log-probabilities come from ``log_softmax``/``logsigmoid`` (finite for logits of +-100).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as TF
from torch import Tensor

from .._api import DEFAULT, LossModule, checked
from .._checks import (
    FocalAlpha,
    Mask,
    NonNegative,
    PolyCoef,
    Positive,
    PositiveInt,
    UnitInterval,
    Weight,
    check_broadcast,
    check_floating,
    check_same_device,
    check_same_shape,
    check_tensor,
    compute_dtype,
)
from .._powers import power
from .._reduction import Reduction, exclusion, finish, zero_excluded
from .classification import (
    _binary_inputs,
    _check_logits,
    _focal_alpha,
    _focal_plain,
    _index_labels,
    _masked,
)

__all__ = [
    "asymmetric_loss",
    "asymmetric_softmax_loss",
    "poly1_cross_entropy",
    "poly1_focal_loss",
    "jsd_cross_entropy",
    "distillation_loss",
    "AsymmetricLoss",
    "AsymmetricSoftmaxLoss",
    "Poly1CrossEntropyLoss",
    "Poly1FocalLoss",
    "JSDCrossEntropyLoss",
    "DistillationLoss",
]


def _safe_pow(base: Tensor, exponent: float | Tensor) -> Tensor:
    """``base^exponent`` for ``base >= 0``: ``0^0 = 1``, and a finite gradient at 0 for every
    exponent ``>= 0`` (the base is floored at the dtype's tiny).

    A tensor exponent is taken as ``exp(exponent log base)``: torch's power of two tensors is
    a scalar loop on CPU, eager and compiled (1.9 ms of the asymmetric loss's 10.3 ms step at
    ``(256, 1000)``, forward and backward: 7.8 ms after). Its relative error is about
    ``|exponent log base|`` units in the last place, under 20 wherever the power is above
    1e-8 at exponents up to 4. (A hand-written derivative computed in the forward pass, as
    the focal losses have, measured slower here, 11.2 ms: the asymmetric loss's derivative
    has three clamp masks and twice the terms of its value.)"""
    b = base.clamp_min(torch.finfo(base.dtype).tiny)
    if isinstance(exponent, Tensor):
        return torch.exp(exponent * b.log())
    return power(b, exponent)


# --------------------------------------------------------------------------------------------
# asymmetric loss
# --------------------------------------------------------------------------------------------


@checked
def asymmetric_loss(
    logits: Tensor, target: Tensor, *, gamma_pos: NonNegative = 1.0,
    gamma_neg: NonNegative = 4.0, clip: UnitInterval = 0.05, eps: Positive = 1e-8,
    label_smoothing: UnitInterval = 0.0, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Asymmetric loss (ASL) for multi-label classification: focal on each side with its own
    exponent, and negatives' probabilities shifted down by a margin.

    Formula:
        l = -[y (1-p)^gamma_pos log p + (1-y) p_m^gamma_neg log(1-p_m)],  p_m = max(p - clip, 0)

    Multi-label images have few positive labels and many negatives; ASL silences the easy
    negatives hard (``gamma_neg = 4``) while keeping the positives' gradient (``gamma_pos = 1``),
    and the probability margin ``clip`` discards negatives the model already scores below
    ``clip`` (it also rejects mislabeled negatives: a very confident negative is clipped less).
    For a soft target (or with ``label_smoothing``) the weight is timm's
    ``(1 - p_t)^(gamma_pos y + gamma_neg (1 - y))`` with ``1 - p_t = y (1 - p) + (1 - y) p_m``.
    Probabilities are floored at ``eps`` inside the logarithms (timm's clamp: a prediction
    that wrong costs at most ``-log eps`` and gets no gradient there). ``gamma_pos = gamma_neg =
    clip = 0`` is :func:`bce_loss` with that floor.

    Equals timm's ``AsymmetricLossMultiLabel`` (``reduction="sum"``: timm's ``"sum"``; timm's
    default ``"batchmean"`` is the ``"sum"`` here divided by the batch size; its ``smoothing``
    is ``label_smoothing``). timm's ``disable_torch_grad_focal_loss=True`` (the focusing weight
    detached) has no counterpart: the weight is differentiated.

    When to use:
        Multi-label image classification (COCO, Open Images, NUS-WIDE tags), where each image
        has a few positives among many negatives. Paper defaults: gamma_neg = 4,
        gamma_pos = 1 (or 0), clip = 0.05.

    Args:
        logits: ``(*)`` logits, e.g. ``(N, C)`` for ``C`` labels per image.
        target: ``(*)`` targets in ``[0, 1]`` (multi-hot; soft targets allowed).
        gamma_pos: focusing exponent of the positive term, ``>= 0``; default 1.
        gamma_neg: focusing exponent of the negative term, ``>= 0``; default 4.
        clip: the probability margin ``m`` in ``[0, 1]`` shifted off the negatives'
            probabilities; 0 disables it; default 0.05.
        eps: the floor of the probabilities inside the logarithms, ``> 0``; default 1e-8.
        label_smoothing: ``s`` in ``[0, 1]``: the target becomes ``(1 - s) y + s / 2`` (towards
            0.5); default 0.
        weight: optional non-negative per-element weights broadcastable to ``(*)`` (e.g.
            ``(C,)`` per class).
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave out.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, a non-bool ``mask``.
        ValueError: different shapes, targets outside ``[0, 1]`` (checked on CPU), negative
            exponents, ``clip``/``label_smoothing`` outside ``[0, 1]``, ``eps <= 0``, a bad
            ``weight``/``mask``/``reduction``.

    Paper:
        Ridnik, Ben-Baruch, Zamir, Noy, Friedman, Protter, Zelnik-Manor, "Asymmetric Loss For
        Multi-Label Classification", ICCV 2021, arXiv:2009.14119.

    Example:
        >>> import torch
        >>> x, y = torch.zeros(2), torch.tensor([1.0, 0.0])  # p = 0.5
        >>> asymmetric_loss(x, y, reduction="none")  # .5 ln 2; .45^4 (-ln .55)
        tensor([0.3466, 0.0245])
    """
    fn = "asymmetric_loss"
    keep = _binary_inputs(fn, logits, target, weight, mask, True)
    out_dtype, work = logits.dtype, compute_dtype(logits)
    x, y = _masked(logits.to(work), keep), _masked(target.to(work), keep)
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + 0.5 * label_smoothing
    log_eps = math.log(eps)
    log_p = TF.logsigmoid(x).clamp_min(log_eps)
    q = torch.sigmoid(-x)  # 1 - p, without cancellation
    if clip > 0:
        q_m = (q + clip).clamp_max(1.0)  # 1 - p_m
        log_q = torch.log(q_m)  # q_m >= clip > 0
        if clip < eps:
            log_q = log_q.clamp_min(log_eps)
        p_m = 1.0 - q_m  # max(p - clip, 0)
    else:
        log_q = TF.logsigmoid(-x).clamp_min(log_eps)
        p_m = torch.sigmoid(x)
    loss = torch.lerp(log_q, log_p, y)  # y log p + (1 - y) log(1 - p_m), negated below
    if gamma_pos > 0 or gamma_neg > 0:
        # 1 - p_t = y (1 - p) + (1 - y) p_m, without the cancellation of 1 - (p y + ...)
        base = torch.lerp(p_m, q, y)
        exponent = y * (gamma_pos - gamma_neg) + gamma_neg  # gamma_pos y + gamma_neg (1 - y)
        loss = loss * -_safe_pow(base, exponent)
    else:
        loss = loss.neg()
    return finish(fn, loss, reduction, weight=weight, keep=keep, out_dtype=out_dtype)


@checked
def asymmetric_softmax_loss(
    logits: Tensor, labels: Tensor, *, gamma_pos: NonNegative = 1.0,
    gamma_neg: NonNegative = 4.0, label_smoothing: UnitInterval = 0.0,
    ignore_index: int | None = -100, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Asymmetric loss for single-label classification: softmax cross-entropy with asymmetric
    focusing of the target and the other classes.

    Formula:
        l = -sum_c t_c w_c log p_c,  w_y = (1 - p_y)^gamma_pos,  w_c = p_c^gamma_neg (c != y),  p = softmax(z)

    ``t`` is the one-hot label, smoothed to ``(1 - s) onehot + s / C``. Without smoothing only
    the target term remains: a softmax focal loss with exponent ``gamma_pos``. With
    smoothing, each other class's share ``s / C`` is weighted by ``p_c^gamma_neg``, so
    classes the model already rules out stop pulling probability towards them. The weights
    are differentiated (timm's as well).

    Equals timm's ``AsymmetricLossSingleLabel`` with ``label_smoothing`` its ``eps``
    (``"mean"`` averages over samples as timm's; its default smoothing is 0.1, losskit's 0 as
    every ``label_smoothing``). timm takes ``(N, C)`` with the classes last; here they are
    along dim 1 of ``(N, C, *)``.

    When to use:
        Single-label classification with label smoothing where confident wrong classes should
        keep being pushed down while ruled-out ones are left alone (the ASL paper's ImageNet
        setting: gamma_pos = 0 or 1, gamma_neg = 4, label_smoothing = 0.1).

    Args:
        logits: ``(N, C)`` or ``(N, C, d1, ...)`` logits.
        labels: integer class indices ``(N,)`` or ``(N, d1, ...)``, any integer dtype.
        gamma_pos: focusing exponent of the target class, ``>= 0``; default 1.
        gamma_neg: focusing exponent of the other classes, ``>= 0``; default 4.
        label_smoothing: ``s`` in ``[0, 1]``: the target becomes ``(1 - s) onehot + s / C``;
            default 0.
        ignore_index: labels equal to it are left out; default -100, ``None`` for none.
        weight: optional non-negative per-sample (per-position) weights broadcastable to
            ``(N, d1, ...)``.
        mask: optional bool tensor broadcastable to ``(N, d1, ...)``; ``False`` = leave out.
        reduction: ``"none"`` (shape ``(N, d1, ...)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``, non-integer labels.
        ValueError: bad shapes, labels outside ``[0, C)`` other than ``ignore_index`` (checked
            on CPU), negative exponents, ``label_smoothing`` outside ``[0, 1]``.

    Paper:
        Ridnik, Ben-Baruch, Zamir, Noy, Friedman, Protter, Zelnik-Manor, "Asymmetric Loss For
        Multi-Label Classification", ICCV 2021, arXiv:2009.14119.

    Example:
        >>> import torch
        >>> z, y = torch.tensor([[2.0, 1.0, 1.0, 1.0]]), torch.tensor([0])
        >>> asymmetric_softmax_loss(z, y, gamma_pos=0.0)  # = cross-entropy, -ln 0.4754
        tensor(0.7437)
    """
    fn = "asymmetric_softmax_loss"
    _check_logits(fn, logits)
    check_tensor(fn, "labels", labels)
    check_same_device(fn, ("logits", logits), ("labels", labels), ("weight", weight),
                      ("mask", mask))  # fmt: skip
    y, keep = _index_labels(fn, logits, labels, "labels", ignore_index, mask)
    out_dtype, work = logits.dtype, compute_dtype(logits)
    safe = y if keep is None else torch.where(keep, y, 0)
    z = zero_excluded(logits.to(work), None if keep is None else keep.unsqueeze(1))
    logp = torch.log_softmax(z, 1)
    idx = safe.unsqueeze(1)
    logp_y = logp.gather(1, idx).squeeze(1)
    # the target term: -(1 - s + s / C) (1 - p_y)^gamma_pos log p_y; 1 - p_y = -expm1(log p_y)
    num_classes = logits.shape[1]
    w_y = _safe_pow(-torch.expm1(logp_y), gamma_pos) if gamma_pos else 1.0
    on = 1.0 - label_smoothing + label_smoothing / num_classes
    loss = -on * w_y * logp_y
    if label_smoothing:
        # the other classes: -(s / C) p_c^gamma_neg log p_c (the target's own entry removed)
        others = torch.exp(logp * gamma_neg) * logp if gamma_neg else logp
        total = others.sum(1) - others.gather(1, idx).squeeze(1)
        loss = loss - label_smoothing / num_classes * total
    return finish(fn, loss, reduction, weight=weight, keep=keep, out_dtype=out_dtype)


# --------------------------------------------------------------------------------------------
# PolyLoss
# --------------------------------------------------------------------------------------------


@checked
def poly1_cross_entropy(
    logits: Tensor, labels: Tensor, *, poly_coef: PolyCoef = 1.0,
    label_smoothing: UnitInterval = 0.0, ignore_index: int | None = -100,
    weight: Weight = None, mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Poly-1 cross-entropy (PolyLoss): cross-entropy plus ``epsilon (1 - p_t)``.

    Formula:
        l = CE + epsilon (1 - p_t),  p_t = sum_c t_c softmax(z)_c,  epsilon = poly_coef

    Cross-entropy is ``sum_j (1 - p_t)^j / j``; PolyLoss adjusts the leading polynomial
    coefficient: ``epsilon > 0`` strengthens the gradient where the target is already likely
    (the paper's ImageNet setting: ``epsilon = 2``), ``epsilon < 0`` weakens it (``>= -1``
    keeps the loss non-negative). ``t`` is the (smoothed) one-hot target, as in the paper's
    code, so with label smoothing ``p_t = (1 - s) p_y + s / C``. ``1 - p_y`` is computed as
    ``-expm1(log p_y)``: accurate when ``p_y`` is near 1.

    When to use:
        A drop-in for cross-entropy in classification and detection that adds one tunable
        coefficient; the paper reports gains on ImageNet (epsilon = 2) and COCO with no other
        change. epsilon = 0 is cross-entropy.

    Args:
        logits: ``(N, C)`` or ``(N, C, d1, ...)`` logits.
        labels: integer class indices ``(N,)`` or ``(N, d1, ...)``.
        poly_coef: ``epsilon``, the coefficient of ``(1 - p_t)``, a number ``>= -1``; default 1.
        label_smoothing: ``s`` in ``[0, 1]``: the target becomes ``(1 - s) onehot + s / C``;
            default 0.
        ignore_index: labels equal to it are left out; default -100, ``None`` for none.
        weight: optional non-negative per-sample (per-position) weights broadcastable to
            ``(N, d1, ...)``.
        mask: optional bool tensor broadcastable to ``(N, d1, ...)``; ``False`` = leave out.
        reduction: ``"none"`` (shape ``(N, d1, ...)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``, non-integer labels.
        ValueError: bad shapes, labels outside ``[0, C)`` other than ``ignore_index`` (CPU),
            ``poly_coef < -1``, ``label_smoothing`` outside ``[0, 1]``.

    Paper:
        Leng, Xu, Tan, Lin, Zhu, Hsieh, Zhu, Chen, "PolyLoss: A Polynomial Expansion
        Perspective of Classification Loss Functions", ICLR 2022, arXiv:2204.12511.

    Example:
        >>> import torch
        >>> z, y = torch.tensor([[2.0, 1.0, 1.0, 1.0]]), torch.tensor([0])
        >>> poly1_cross_entropy(z, y)  # -ln 0.4754 + (1 - 0.4754)
        tensor(1.2683)
    """
    fn = "poly1_cross_entropy"
    _check_logits(fn, logits)
    check_tensor(fn, "labels", labels)
    check_same_device(fn, ("logits", logits), ("labels", labels), ("weight", weight),
                      ("mask", mask))  # fmt: skip
    y, keep = _index_labels(fn, logits, labels, "labels", ignore_index, mask)
    out_dtype, work = logits.dtype, compute_dtype(logits)
    safe = y if keep is None else torch.where(keep, y, 0)
    z = zero_excluded(logits.to(work), None if keep is None else keep.unsqueeze(1))
    ce = TF.cross_entropy(z, safe, label_smoothing=label_smoothing, reduction="none")
    logp_y = -TF.cross_entropy(z, safe, reduction="none") if label_smoothing else None
    if logp_y is None:
        logp_y = -ce
    num_classes = logits.shape[1]
    # 1 - p_t = (1 - s)(1 - p_y) + s (1 - 1 / C)
    one_minus_pt = -torch.expm1(logp_y) * (1.0 - label_smoothing)
    if label_smoothing:
        one_minus_pt = one_minus_pt + label_smoothing * (1.0 - 1.0 / num_classes)
    loss = ce + poly_coef * one_minus_pt
    return finish(fn, loss, reduction, weight=weight, keep=keep, out_dtype=out_dtype)


@checked
def poly1_focal_loss(
    logits: Tensor, target: Tensor, *, poly_coef: PolyCoef = 1.0, alpha: FocalAlpha = 0.25,
    gamma: NonNegative = 2.0, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Poly-1 focal loss (PolyLoss): the sigmoid focal loss plus ``epsilon (1 - p_t)^(gamma + 1)``.

    Formula:
        l = FL(x, y) + epsilon (1 - p_t)^(gamma + 1),  1 - p_t = y (1 - p) + (1 - y) p,  p = sigmoid(x)

    The focal loss's expansion starts at ``(1 - p_t)^(gamma + 1)``; Poly-1 adjusts that
    leading coefficient (the paper's COCO detection setting: ``epsilon = -1``). ``FL`` is
    :func:`focal_loss` with ``alpha`` and ``gamma`` (for soft targets its two terms mix
    linearly); the poly term uses the paper's ``p_t``. ``epsilon = 0`` is the focal loss.

    When to use:
        Dense detection with a sigmoid focal loss (RetinaNet-style heads), tuning one more
        coefficient: the paper found epsilon = -1 best on COCO.

    Args:
        logits: ``(*)`` logits.
        target: ``(*)`` targets in ``[0, 1]``.
        poly_coef: ``epsilon``, the coefficient of ``(1 - p_t)^(gamma + 1)``, a number
            ``>= -1``; default 1.
        alpha: the focal balance factor of the focal term: a number in ``[0, 1]``, a tensor of
            such values broadcastable to ``(*)`` (1-D: one per class along dim 1), or ``None``;
            default 0.25.
        gamma: focusing exponent, ``>= 0``; default 2.
        weight: optional non-negative per-element weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave out.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs or ``alpha`` tensor, a non-bool ``mask``.
        ValueError: different shapes, targets outside ``[0, 1]`` (CPU), ``poly_coef < -1``,
            ``alpha`` outside ``[0, 1]``, negative ``gamma``, a bad ``weight``/``mask``.

    Paper:
        Leng, Xu, Tan, Lin, Zhu, Hsieh, Zhu, Chen, "PolyLoss: A Polynomial Expansion
        Perspective of Classification Loss Functions", ICLR 2022, arXiv:2204.12511.

    Example:
        >>> import torch
        >>> x, y = torch.zeros(1), torch.ones(1)  # p = 0.5: FL = .25 .25 ln 2, poly .5^3
        >>> poly1_focal_loss(x, y)
        tensor(0.1683)
    """
    fn = "poly1_focal_loss"
    keep = _binary_inputs(fn, logits, target, weight, mask, True)
    a = _focal_alpha(fn, alpha, logits)
    out_dtype, work = logits.dtype, compute_dtype(logits)
    x, y = _masked(logits.to(work), keep), _masked(target.to(work), keep)
    loss = _focal_plain(x, y, a.to(work) if isinstance(a, Tensor) else a, gamma)
    if poly_coef:
        one_minus_pt = torch.lerp(torch.sigmoid(x), torch.sigmoid(-x), y)
        loss = loss + poly_coef * _safe_pow(one_minus_pt, gamma + 1.0)
    return finish(fn, loss, reduction, weight=weight, keep=keep, out_dtype=out_dtype)


# --------------------------------------------------------------------------------------------
# consistency and distillation
# --------------------------------------------------------------------------------------------


@checked
def jsd_cross_entropy(
    logits: Tensor, labels: Tensor, *, num_splits: PositiveInt = 3,
    consistency_weight: NonNegative = 12.0, label_smoothing: UnitInterval = 0.0,
    ignore_index: int | None = -100, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Jensen-Shannon consistency (AugMix): cross-entropy on the clean view plus the
    Jensen-Shannon divergence among the views' predictions.

    Formula:
        l = CE(z_0, y) + lambda (1 / S) sum_s KL(p_s || M),  M = (1 / S) sum_s p_s,  p_s = softmax(z_s)

    ``S`` views of each image (the clean one first, then augmentations) should agree:
    ``(1 / S) sum_s KL(p_s || M)`` is their generalised Jensen-Shannon divergence, 0 when all
    predictions are equal and at most ``log S``. ``log M`` is computed as
    ``log max(M, tiny)`` (timm clamps ``M`` to ``[1e-7, 1]`` before the logarithm; they agree
    unless a mixture probability is below 1e-7). Only the clean view's
    cross-entropy counts (with ``label_smoothing``, as timm's ``LabelSmoothingCrossEntropy``).

    The views are the last dimension: ``logits`` ``(N, C, S)`` holds ``S`` views of ``N``
    images (timm's ``(S * N, C)`` batch, split into ``S`` chunks, is
    ``x.view(S, N, C).permute(1, 2, 0)``). Equals timm's ``JsdCrossEntropy(num_splits=S,
    alpha=consistency_weight, smoothing=label_smoothing)`` under ``"mean"`` (timm's default
    smoothing is 0.1, losskit's 0).

    When to use:
        Training for robustness to corruptions and distribution shift with AugMix-style
        augmentation: two augmented views of each image beside the clean one, consistency
        weight 12 (the paper's).

    Args:
        logits: ``(N, C, S)`` logits: ``S`` views (dim 2, clean first) of ``N`` samples over
            ``C`` classes.
        labels: integer class indices ``(N,)``.
        num_splits: the number of views ``S``, an int ``>= 1``; must equal ``logits.shape[2]``
            (a check of the layout); default 3.
        consistency_weight: ``lambda >= 0``, the weight of the divergence; default 12.
        label_smoothing: ``s`` in ``[0, 1]`` for the clean view's cross-entropy; default 0.
        ignore_index: labels equal to it are left out; default -100, ``None`` for none.
        weight: optional non-negative per-sample weights broadcastable to ``(N,)``.
        mask: optional bool tensor broadcastable to ``(N,)``; ``False`` = leave out.
        reduction: ``"none"`` (shape ``(N,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``, non-integer labels.
        ValueError: ``logits`` not ``(N, C, S)`` with ``S = num_splits``, labels of the wrong
            shape or out of range (CPU), a bad hyperparameter.

    Paper:
        Hendrycks, Mu, Cubuk, Zoph, Gilmer, Lakshminarayanan, "AugMix: A Simple Data
        Processing Method to Improve Robustness and Uncertainty", ICLR 2020, arXiv:1912.02781.

    Example:
        >>> import torch
        >>> z = torch.tensor([[2.0, 1.0, 1.0, 1.0]]).unsqueeze(2).expand(1, 4, 3)
        >>> jsd_cross_entropy(z, torch.tensor([0]))  # identical views: only CE, -ln 0.4754
        tensor(0.7437)
    """
    fn = "jsd_cross_entropy"
    check_floating(fn, "logits", logits)
    check_tensor(fn, "labels", labels)
    if logits.dim() != 3 or logits.shape[2] != num_splits:
        raise ValueError(
            f"{fn}: logits must have shape (N, C, S) with S = num_splits = {num_splits} views "
            f"along the last dimension; got {tuple(logits.shape)}"
        )
    check_same_device(fn, ("logits", logits), ("labels", labels), ("weight", weight),
                      ("mask", mask))  # fmt: skip
    y, keep = _index_labels(fn, logits[..., 0], labels, "labels", ignore_index, mask)
    out_dtype, work = logits.dtype, compute_dtype(logits)
    safe = y if keep is None else torch.where(keep, y, 0)
    # work in (S, N, C), classes last: the layout of timm's batch, where a (S*N, C) tensor
    # split into views and permuted to (N, C, S) comes back contiguous
    z = logits.to(work).permute(2, 0, 1)
    if keep is not None:
        z = zero_excluded(z, keep.reshape(1, -1, 1))
    ce = TF.cross_entropy(z[0], safe, label_smoothing=label_smoothing, reduction="none")
    loss = ce
    if consistency_weight and num_splits > 1:
        logp = torch.log_softmax(z, -1)  # (S, N, C)
        p = logp.exp()
        # log M; a mixture probability below the dtype's tiny adds at most ~S tiny log(tiny)
        # to the KL (timm clamps at 1e-7, which adds up to 1e-7 log 1e-7)
        log_m = p.mean(0).clamp_min(torch.finfo(work).tiny).log()  # (N, C)
        kl = (p * (logp - log_m)).sum(-1)  # (S, N): KL(p_s || M)
        loss = loss + consistency_weight * kl.mean(0)
    return finish(fn, loss, reduction, weight=weight, keep=keep, out_dtype=out_dtype)


@checked
def distillation_loss(
    logits: Tensor, teacher_logits: Tensor, *, temperature: Positive = 4.0,
    weight: Weight = None, mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Knowledge distillation: the ``T^2``-scaled KL divergence from the teacher's softened
    distribution to the student's.

    Formula:
        l = T^2 KL(softmax(t / T) || softmax(z / T)) = T^2 sum_c q_c (log q_c - log p_c)

    Dividing both logits by a temperature ``T > 1`` softens the distributions so that the
    teacher's relative probabilities of the wrong classes (its "dark knowledge") carry
    signal; the gradient then shrinks as ``1 / T^2``, which the ``T^2`` factor restores (Hinton
    et al.), so the loss can be mixed with a hard-label cross-entropy at any ``T``. Both sides
    use ``log_softmax`` (finite for logits of +-100). The teacher's logits are not detached: a
    teacher that requires grad (mutual learning) gets its gradient; pass
    ``teacher_logits.detach()`` (or compute them under ``no_grad``) for plain distillation.

    mmdetection's ``knowledge_distillation_kl_div_loss`` averages the KL over the classes
    (``.mean(1)``): it is this loss divided by ``C`` (the same per-sample ``T^2`` scaling).
    torch's ``KLDivLoss(reduction="batchmean")`` times ``T^2`` equals ``"mean"`` here for
    ``(N, C)`` logits.

    When to use:
        Training a small student from a large teacher's logits (classification, detection
        heads), usually beside the hard-label loss: l = CE + lambda distillation_loss, with
        T from 2 to 10.

    Args:
        logits: the student's logits ``(N, C)`` or ``(N, C, d1, ...)`` (classes along dim 1).
        teacher_logits: the teacher's logits, the shape of ``logits``.
        temperature: ``T > 0``; default 4.
        weight: optional non-negative per-sample (per-position) weights broadcastable to
            ``(N, d1, ...)``.
        mask: optional bool tensor broadcastable to ``(N, d1, ...)``; ``False`` = leave out.
        reduction: ``"none"`` (shape ``(N, d1, ...)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating logits.
        ValueError: fewer than 2 dimensions, different shapes, ``temperature <= 0``, a bad
            ``weight``/``mask``/``reduction``.

    Paper:
        Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural Network", NIPS 2014 Deep
        Learning Workshop, arXiv:1503.02531.

    Example:
        >>> import torch
        >>> z, t = torch.zeros(1, 2), torch.tensor([[0.0, 4 * 1.0986]])  # teacher: (1/4, 3/4) at T = 4
        >>> distillation_loss(z, t)  # 16 KL((.25, .75) || (.5, .5)) = 16 (.75 ln 1.5 - .25 ln 2)
        tensor(2.0930)
    """
    fn = "distillation_loss"
    _check_logits(fn, logits)
    check_floating(fn, "teacher_logits", teacher_logits)
    check_same_shape(fn, logits, teacher_logits, ("logits", "teacher_logits"))
    check_same_device(fn, ("logits", logits), ("teacher_logits", teacher_logits),
                      ("weight", weight), ("mask", mask))  # fmt: skip
    shape = (logits.shape[0], *logits.shape[2:])
    check_broadcast(fn, "weight", weight, shape)
    keep = exclusion(fn, shape, mask=mask)
    out_dtype, work = logits.dtype, compute_dtype(logits)
    k1 = None if keep is None else keep.unsqueeze(1)
    z = zero_excluded(logits.to(work), k1) / temperature
    t = zero_excluded(teacher_logits.to(work), k1) / temperature
    logp, logq = torch.log_softmax(z, 1), torch.log_softmax(t, 1)
    loss = (logq.exp() * (logq - logp)).sum(1) * (temperature * temperature)
    return finish(fn, loss, reduction, weight=weight, keep=keep, out_dtype=out_dtype)


# --------------------------------------------------------------------------------------------
# modules
# --------------------------------------------------------------------------------------------


class AsymmetricLoss(LossModule, function=asymmetric_loss):
    """Asymmetric loss (multi-label), ``-[y (1-p)^g+ log p + (1-y) p_m^g- log(1-p_m)]``.

    Args:
        gamma_pos: focusing exponent of the positives, ``>= 0``; default 1.
        gamma_neg: focusing exponent of the negatives, ``>= 0``; default 4.
        clip: the negatives' probability margin in ``[0, 1]``; default 0.05.
        eps: the probability floor inside the logarithms; default 1e-8.
        label_smoothing: the target moves towards 0.5 by this share; default 0.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``: ``(*)`` each. Output: a
        scalar, or ``(*)``.

    Paper:
        Ridnik et al., "Asymmetric Loss For Multi-Label Classification", ICCV 2021,
        arXiv:2009.14119.

    Example:
        >>> import torch
        >>> AsymmetricLoss(reduction="sum")(torch.zeros(2), torch.tensor([1.0, 0.0]))
        tensor(0.3711)
    """

    gamma_pos: NonNegative = DEFAULT
    gamma_neg: NonNegative = DEFAULT
    clip: UnitInterval = DEFAULT
    eps: Positive = DEFAULT
    label_smoothing: UnitInterval = DEFAULT


class AsymmetricSoftmaxLoss(LossModule, function=asymmetric_softmax_loss):
    """Asymmetric loss (single-label), ``-sum_c t_c w_c log p_c`` with asymmetric focusing.

    Args:
        gamma_pos: focusing exponent of the target class, ``>= 0``; default 1.
        gamma_neg: focusing exponent of the other classes, ``>= 0``; default 4.
        label_smoothing: in ``[0, 1]``; default 0 (timm's: 0.1).
        ignore_index: labels equal to it are left out; default -100, ``None`` for none.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, labels, *, weight=None, mask=None)``: ``logits`` ``(N, C, *)``,
        ``labels`` ``(N, *)``. Output: a scalar, or ``(N, *)``.

    Paper:
        Ridnik et al., "Asymmetric Loss For Multi-Label Classification", ICCV 2021,
        arXiv:2009.14119.

    Example:
        >>> import torch
        >>> AsymmetricSoftmaxLoss(gamma_pos=0.0)(torch.tensor([[2.0, 1.0, 1.0, 1.0]]), torch.tensor([0]))
        tensor(0.7437)
    """

    gamma_pos: NonNegative = DEFAULT
    gamma_neg: NonNegative = DEFAULT
    label_smoothing: UnitInterval = DEFAULT
    ignore_index: int | None = DEFAULT


class Poly1CrossEntropyLoss(LossModule, function=poly1_cross_entropy):
    """Poly-1 cross-entropy, ``CE + epsilon (1 - p_t)``.

    Args:
        poly_coef: ``epsilon >= -1``; default 1.
        label_smoothing: in ``[0, 1]``; default 0.
        ignore_index: labels equal to it are left out; default -100, ``None`` for none.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, labels, *, weight=None, mask=None)``: ``logits`` ``(N, C, *)``,
        ``labels`` ``(N, *)``. Output: a scalar, or ``(N, *)``.

    Paper:
        Leng et al., "PolyLoss", ICLR 2022, arXiv:2204.12511.

    Example:
        >>> import torch
        >>> Poly1CrossEntropyLoss(poly_coef=0.0)(torch.tensor([[2.0, 1.0, 1.0, 1.0]]), torch.tensor([0]))
        tensor(0.7437)
    """

    poly_coef: PolyCoef = DEFAULT
    label_smoothing: UnitInterval = DEFAULT
    ignore_index: int | None = DEFAULT


class Poly1FocalLoss(LossModule, function=poly1_focal_loss):
    """Poly-1 focal loss, ``FL + epsilon (1 - p_t)^(gamma + 1)``.

    Args:
        poly_coef: ``epsilon >= -1``; default 1.
        alpha: the focal balance factor in ``[0, 1]``, a tensor (a buffer), or ``None``;
            default 0.25.
        gamma: focusing exponent ``>= 0``; default 2.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``: ``(*)`` each. Output: a
        scalar, or ``(*)``.

    Paper:
        Leng et al., "PolyLoss", ICLR 2022, arXiv:2204.12511.

    Example:
        >>> import torch
        >>> Poly1FocalLoss(poly_coef=-1.0, alpha=None, gamma=0.0)(torch.zeros(1), torch.ones(1))
        tensor(0.1931)
    """

    poly_coef: PolyCoef = DEFAULT
    alpha: FocalAlpha = DEFAULT
    gamma: NonNegative = DEFAULT


class JSDCrossEntropyLoss(LossModule, function=jsd_cross_entropy):
    """AugMix's loss: clean-view cross-entropy plus ``lambda`` times the views' JS divergence.

    Args:
        num_splits: the number of views ``S`` (the last dimension of the logits); default 3.
        consistency_weight: ``lambda >= 0``; default 12.
        label_smoothing: for the clean view's cross-entropy; default 0.
        ignore_index: labels equal to it are left out; default -100, ``None`` for none.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, labels, *, weight=None, mask=None)``: ``logits`` ``(N, C, S)``,
        ``labels`` ``(N,)``. Output: a scalar, or ``(N,)``.

    Paper:
        Hendrycks et al., "AugMix", ICLR 2020, arXiv:1912.02781.

    Example:
        >>> import torch
        >>> z = torch.tensor([[2.0, 1.0, 1.0, 1.0]]).unsqueeze(2).expand(1, 4, 3)
        >>> JSDCrossEntropyLoss()(z, torch.tensor([0]))
        tensor(0.7437)
    """

    num_splits: PositiveInt = DEFAULT
    consistency_weight: NonNegative = DEFAULT
    label_smoothing: UnitInterval = DEFAULT
    ignore_index: int | None = DEFAULT


class DistillationLoss(LossModule, function=distillation_loss):
    """Knowledge distillation, ``T^2 KL(softmax(t / T) || softmax(z / T))``.

    Args:
        temperature: ``T > 0``; default 4.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, teacher_logits, *, weight=None, mask=None)``: ``(N, C, *)`` each.
        Output: a scalar, or ``(N, *)``.

    Paper:
        Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural Network", 2015,
        arXiv:1503.02531.

    Example:
        >>> import torch
        >>> DistillationLoss(temperature=2.0)(torch.zeros(1, 3), torch.zeros(1, 3))
        tensor(0.)
    """

    temperature: Positive = DEFAULT
