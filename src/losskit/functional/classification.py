"""Probability (distribution) losses: binary cross-entropy and its weighted, balanced and focal
variants for binary and multi-label targets (sigmoid), and softmax cross-entropy and softmax
focal loss for mutually exclusive classes; each as a function and as a module.

Conventions shared by every loss here:

* **Logits first.** The binary losses take logits by default and work in log-sigmoid form
  (``-log p = softplus(-x)``, ``-log(1 - p) = softplus(x)``), finite for logits of +-100 and
  beyond. ``from_logits=False`` takes probabilities instead; they are clamped to
  ``[eps, 1 - eps]`` before the logarithms (see :func:`bce_loss`).
* **Exclusion**: a bool ``mask`` everywhere, and ``ignore_index`` for integer labels.
  Excluded elements leave both the numerator and the denominator of ``"mean"`` and read 0
  under ``"none"``; their target is never read (a 255 "void" label is harmless).
* **Values are checked on CPU**: binary targets in ``[0, 1]`` (at the kept elements),
  probabilities in ``[0, 1]`` with ``from_logits=False``.
* float16/bfloat16 are computed in float32 and returned in the input dtype.

:func:`focal_loss` runs through a hand-written autograd function: one pass computes the loss,
the backward recomputes ``sigmoid`` and ``softplus`` from the saved logits and writes the
analytic gradient, and on CPU both work through cache-sized blocks. A tensor ``alpha`` that
requires grad, and double backward (``create_graph=True``), take the plain autograd formula
instead, so every input gets its exact gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
import torch.nn.functional as TF
from torch import Tensor

from .._api import DEFAULT, LossModule, checked
from .._autograd import fused_apply, partial_inputs
from .._checks import (
    AvgFactor,
    ClassAlpha,
    ClassWeight,
    FocalAlpha,
    Mask,
    NonNegative,
    PosWeight,
    ProbabilityEps,
    Range,
    UnitInterval,
    Weight,
    check_broadcast,
    check_class_vector,
    check_floating,
    check_labels,
    check_min_ndim,
    check_same_device,
    check_same_shape,
    check_tensor,
    check_unit_values,
    compute_dtype,
    float_onehot,
    keep_factor,
    surely_finite,
)
from .._powers import power
from .._reduction import (
    Reduction,
    check_avg_factor,
    exclusion,
    finish,
    finish_avg,
    zero_excluded,
)
from .._workspace import keepable, kept, new_buffer

__all__ = [
    "bce_loss",
    "weighted_bce_loss",
    "balanced_bce_loss",
    "focal_loss",
    "softmax_focal_loss",
    "softmax_cross_entropy",
    "BinaryCrossEntropyLoss",
    "WeightedBCELoss",
    "BalancedBCELoss",
    "FocalLoss",
    "SoftmaxFocalLoss",
    "SoftmaxCrossEntropyLoss",
    # dense detection (functional/_detection.py)
    "quality_focal_loss",
    "varifocal_loss",
    "gaussian_focal_loss",
    "distribution_focal_loss",
    "all_reduce_avg_factor",
    "QualityFocalLoss",
    "VarifocalLoss",
    "GaussianFocalLoss",
    "DistributionFocalLoss",
    # classifiers (functional/_recognition.py)
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
    # long tail (functional/_longtail.py)
    "class_balanced_weights",
    "ldam_loss",
    "seesaw_loss",
    "eqlv2_loss",
    "LDAMLoss",
    "SeesawLoss",
    "EQLv2Loss",
]

#: Elements per block of the focal kernels (the sigmoid focal, quality focal, varifocal and
#: Gaussian focal losses). On CPU the block's six work buffers (reused from block to block,
#: :class:`_Scratch`) and its slices of the inputs and the gradient stay in the cache, and each
#: block pays the per-operation dispatch (4-5 us, about 20-35 operations per block). On the
#: AMD EPYC (512 KiB L2 per core) 64 Ki measured faster than 32 Ki: focal loss 7-15 % at 256
#: Ki to 4 Mi elements in two runs (0.92 against 0.92 ms at 64 Ki), quality focal and
#: varifocal 7-15 % (interleaved, median of 9); 128 Ki was faster still from 1 Mi on but 2x
#: slower at 256 Ki, one block whose 1 MiB buffers glibc maps afresh. (On the Intel Xeon
#: with a 2 MiB L2 of the earlier sessions 32 Ki had measured 2-20 % faster than 64 Ki.) On
#: an accelerator large blocks only bound the temporaries' memory.
_FOCAL_BLOCK = 1 << 16
_FOCAL_BLOCK_ACCELERATOR = 1 << 22

_UNIT = Range(0.0, 1.0)
_NONNEG = Range(0.0)
_V = TypeVar("_V")

# --------------------------------------------------------------------------------------------
# the shared binary machinery
# --------------------------------------------------------------------------------------------


def _binary_inputs(
    fn: str,
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None,
    mask: Tensor | None,
    from_logits: bool,
) -> Tensor | None:
    """Check the inputs of a binary loss; return the kept elements (``None``: all)."""
    check_floating(fn, "logits", logits)
    check_floating(fn, "target", target)
    check_same_shape(fn, logits, target, ("logits", "target"))
    check_same_device(fn, ("logits", logits), ("target", target), ("weight", weight),
                      ("mask", mask))  # fmt: skip
    check_broadcast(fn, "weight", weight, logits.shape)
    keep = exclusion(fn, logits.shape, mask=mask)
    check_unit_values(fn, "target", target, " (binary targets; leave void labels out with mask)",
                      keep)  # fmt: skip
    if not from_logits:
        check_unit_values(fn, "logits", logits, " (with from_logits=False they are "
                          "probabilities; pass logits with from_logits=True, the default)", keep)  # fmt: skip
    return keep


def _neg_log_probs(
    x: Tensor, from_logits: bool, eps: float, input_dtype: torch.dtype | None = None
) -> tuple[Tensor, Tensor]:
    """``(-log p, -log(1 - p))``, both >= 0.

    Logits: ``softplus(-x)`` and ``softplus(x)``, each computed directly (``softplus(x) - x``
    would cancel for large ``x``).

    Probabilities: ``p`` is clamped to ``[eps, 1 - eps]`` so that neither logarithm sees 0;
    the clamp passes the gradient straight through (the value is clamped, the derivative is
    that of the formula at the clamped point), so a saturated probability still gets a finite
    gradient that points the right way, e.g. ``-1/eps`` for ``p = 0`` with ``y = 1``. torch's
    ``binary_cross_entropy`` does the same with its own bounds. For float16 inputs the clamp
    is at least ``2 / 65504`` (3.1e-5), so that the gradient, at most ``1 / eps``, is finite in
    float16 too.
    """
    if from_logits:
        return TF.softplus(-x), TF.softplus(x)
    if input_dtype == torch.float16:
        eps = max(eps, 2.0 / torch.finfo(torch.float16).max)
    clamped = x.clamp(eps, 1.0 - eps)
    p = x + (clamped - x).detach()
    return -torch.log(p), -torch.log1p(-p)


def _masked(x: Tensor, keep: Tensor | None) -> Tensor:
    """Excluded entries read 0, so that a "void" label (255) or a NaN never enters the
    arithmetic (nor its gradient)."""
    return zero_excluded(x, keep)


# --------------------------------------------------------------------------------------------
# binary cross-entropy and its weighted / balanced forms
# --------------------------------------------------------------------------------------------


@checked
def bce_loss(
    logits: Tensor, target: Tensor, *, from_logits: bool = True, eps: ProbabilityEps = 1e-7,
    label_smoothing: UnitInterval = 0.0, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Binary cross-entropy on logits (or probabilities), for binary and multi-label targets.

    Formula:
        l = -[y log p + (1 - y) log(1 - p)],  p = sigmoid(x);  dl/dx = p - y

    Each element is its own yes/no question (a film can be American *and* a comedy). The
    gradient with respect to the logit, ``sigmoid(x) - y``, is large exactly when the
    prediction is confidently wrong.

    When to use:
        Binary classification, multi-label classification and dense binary masks. Its
        gradient sigmoid(x) - y stays large for confident mistakes.

    Args:
        logits: ``(*)`` logits, or probabilities with ``from_logits=False``; floating point.
        target: ``(*)``, values in ``[0, 1]`` (soft targets allowed).
        from_logits: ``logits`` holds logits (default ``True``, numerically safest) or
            probabilities.
        eps: probabilities are clamped to ``[eps, 1 - eps]`` (``from_logits=False`` only), so
            one element costs at most ``-log(eps)`` (16.1 for the default ``1e-7``) and the
            gradient stays finite at ``p = 0`` and ``p = 1``; in ``(0, 0.5)``.
        label_smoothing: ``s`` in ``[0, 1]``: the target becomes ``(1 - s) y + s / 2``, moved
            towards 0.5 (a 0/1 target becomes ``s / 2`` and ``1 - s / 2``); default 0.
        weight: optional non-negative per-element weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave the element out.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default, ``sum(w l) / sum(w)``
            over the kept elements) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``/``target``, a non-bool ``mask`` or ``from_logits``.
        ValueError: different shapes; targets (or, with ``from_logits=False``, probabilities)
            outside ``[0, 1]`` (checked on CPU); a bad ``weight``, ``mask``, ``eps`` or
            ``reduction``.

    Equals ``torch.nn.functional.binary_cross_entropy_with_logits`` (logits) and
    ``binary_cross_entropy`` (probabilities away from 0 and 1). With a ``weight``, torch's
    ``"mean"`` is ``mean(w l)``; losskit's is ``sum(w l) / sum(w)``.

    Binary label smoothing (``label_smoothing=s``, the vocabulary's ``(1 - s) y + s / C`` with
    ``C = 2``) equals timm's ``BinaryCrossEntropy(smoothing=s, smooth_dense=True)`` on dense
    targets and segmentation_models_pytorch's ``SoftBCEWithLogitsLoss(smooth_factor=s / 2)``
    (SMP's factor moves 0 to ``f`` and 1 to ``1 - f``). timm's one-hot form for class-index
    targets, smoothing towards ``1 / C`` over ``C`` classes, is
    ``bce_loss(logits, (1 - s) * one_hot(labels, C) + s / C)``.

    Example:
        >>> import torch
        >>> # the corrected BCE example of the study notes: sigmoid outputs and labels
        >>> p, y = torch.tensor([0.39, 0.22, 0.64]), torch.tensor([0.0, 1.0, 1.0])
        >>> round(bce_loss(p, y, from_logits=False).item(), 4)
        0.8182
        >>> bce_loss(torch.tensor([100.0, -100.0]), torch.tensor([0.0, 0.0]), reduction="none")
        tensor([100.,   0.])
    """
    fn = "bce_loss"
    keep = _binary_inputs(fn, logits, target, weight, mask, from_logits)
    out_dtype, work = logits.dtype, compute_dtype(logits)
    x, y = logits.to(work), target.to(work)
    fused = from_logits and weight is None and reduction != "none" and x.numel() > 0
    if keep is not None and not (fused and surely_finite(x) and surely_finite(y)):
        x, y = _masked(x, keep), _masked(y, keep)  # (finite: weighed 0 in the fused kernel)
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        if fused:
            # torch's own fused kernels for the common case; left-out elements weigh 0 there,
            # 2-3x cheaper than the unreduced loss and a mask after it
            if keep is None:
                return TF.binary_cross_entropy_with_logits(x, y, reduction=reduction).to(out_dtype)
            k = keep_factor(keep, work)
            total = TF.binary_cross_entropy_with_logits(x, y, weight=k, reduction="sum")
            if reduction == "mean":
                count = k.sum() * (x.numel() // k.numel())  # k broadcasts whole copies
                total = torch.where(count > 0, total / count.clamp_min(1.0), total * 0.0)
            return total.to(out_dtype)
        loss = TF.binary_cross_entropy_with_logits(x, y, reduction="none")
    else:
        nlp, nl1mp = _neg_log_probs(x, False, eps, logits.dtype)
        loss = torch.lerp(nl1mp, nlp, y)  # y (-log p) + (1 - y) (-log(1 - p))
    return finish(fn, loss, reduction, weight=weight, keep=keep, out_dtype=out_dtype)


def _pos_weight(fn: str, pos_weight: float | Tensor, logits: Tensor) -> float | Tensor:
    if isinstance(pos_weight, Tensor):
        check_floating(fn, "pos_weight", pos_weight)
        check_broadcast(fn, "pos_weight", pos_weight, logits.shape)
        check_same_device(fn, ("logits", logits), ("pos_weight", pos_weight))
    return pos_weight


@checked
def weighted_bce_loss(
    logits: Tensor, target: Tensor, *, pos_weight: PosWeight, from_logits: bool = True,
    eps: ProbabilityEps = 1e-7, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Weighted binary cross-entropy: the positive term weighted by ``beta = pos_weight``.

    Formula:
        l = -[beta y log p + (1 - y) log(1 - p)],  p = sigmoid(x)

    ``beta > 1`` boosts rare positives (e.g. ``#negatives / #positives``), ``< 1`` damps them.
    It must be tuned by hand for each data set; :func:`balanced_bce_loss` reads it off each
    target instead.

    When to use:
        Rare positives (small objects, edges, rare labels): beta > 1, e.g. #negatives /
        #positives, keeps the model from predicting background everywhere. beta has to be
        tuned by hand per data set.

    Args:
        logits: ``(*)`` logits, or probabilities with ``from_logits=False``.
        target: ``(*)``, values in ``[0, 1]``.
        pos_weight: ``beta``, a number ``>= 0`` or a non-negative tensor broadcastable to
            ``(*)`` (one value per class: ``(C,)`` for ``(N, C)``, ``(C, 1, 1)`` for
            ``(N, C, H, W)``); required. It is part of the loss: ``"mean"`` still divides by
            the number of kept (weighted) elements, as torch does.
        from_logits: logits (default ``True``) or probabilities.
        eps: the probability clamp ``[eps, 1 - eps]`` (``from_logits=False``); default ``1e-7``.
        weight: optional non-negative per-element weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave out.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs or ``pos_weight`` tensor, non-bool flags or mask.
        ValueError: different shapes, targets or probabilities outside ``[0, 1]``, a negative
            or NaN ``pos_weight``, a bad ``weight``/``mask``/``eps``/``reduction``.

    Equals ``torch.nn.functional.binary_cross_entropy_with_logits(pos_weight=...)``.

    Example:
        >>> import torch
        >>> x, y = torch.tensor([0.0, 0.0]), torch.tensor([1.0, 0.0])
        >>> weighted_bce_loss(x, y, pos_weight=3.0, reduction="none")  # 3 ln 2, ln 2
        tensor([2.0794, 0.6931])
    """
    fn = "weighted_bce_loss"
    keep = _binary_inputs(fn, logits, target, weight, mask, from_logits)
    pw = _pos_weight(fn, pos_weight, logits)
    out_dtype, work = logits.dtype, compute_dtype(logits)
    x, y = _masked(logits.to(work), keep), _masked(target.to(work), keep)
    if isinstance(pw, Tensor):
        pw = pw.to(work)
    if from_logits and isinstance(pw, Tensor) and pw.requires_grad:
        # torch's fused kernel is not differentiable in pos_weight: the same formula written
        # out, -[beta y log s(x) + (1 - y) log(1 - s(x))], through softplus (stable in x).
        loss = torch.lerp(TF.softplus(x), pw * TF.softplus(-x), y)
    elif from_logits:
        pwt = pw if isinstance(pw, Tensor) else x.new_full((), float(pw))
        if weight is None and keep is None and reduction != "none" and x.numel() > 0:
            return TF.binary_cross_entropy_with_logits(
                x, y, pos_weight=pwt, reduction=reduction
            ).to(out_dtype)
        loss = TF.binary_cross_entropy_with_logits(x, y, pos_weight=pwt, reduction="none")
    else:
        nlp, nl1mp = _neg_log_probs(x, False, eps, logits.dtype)
        loss = torch.lerp(nl1mp, pw * nlp, y)
    return finish(fn, loss, reduction, weight=weight, keep=keep, out_dtype=out_dtype)


@checked
def balanced_bce_loss(
    logits: Tensor, target: Tensor, *, per_sample: bool = True, from_logits: bool = True,
    eps: ProbabilityEps = 1e-7, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""HED's class-balanced BCE: ``beta`` = the fraction of negative pixels, read off each target.

    Formula:
        l = -[beta y log p + (1 - beta)(1 - y) log(1 - p)],  beta = 1 - |Y+| / |Y|

    Rare positives get the large weight ``beta`` and the many negatives the small
    ``1 - beta``, with no hand tuning. Equivalently
    ``(1 - beta) * BCEWithLogits(pos_weight=beta / (1 - beta))``. ``beta`` is a constant of the
    target (no gradient flows through it); an image without positives gets ``beta = 1`` (its
    negatives cost nothing), one that is all positive ``beta = 0``.

    When to use:
        Dense binary maps where the foreground fraction varies from image to image (edges,
        thin structures): the weight adapts to each image, nothing to tune.

    Args:
        logits: ``(N, *)`` logits (or probabilities with ``from_logits=False``); at least two
            dimensions when ``per_sample``.
        target: ``(N, *)``, values in ``[0, 1]``; ``|Y+|`` is ``sum(target)``.
        per_sample: one ``beta`` per sample (over all dimensions but the first, as in HED;
            default ``True``) or one for the whole batch.
        from_logits: logits (default ``True``) or probabilities.
        eps: the probability clamp ``[eps, 1 - eps]`` (``from_logits=False``); default ``1e-7``.
        weight: optional non-negative per-element weights broadcastable to ``(N, *)``.
        mask: optional bool tensor broadcastable to ``(N, *)``; masked elements count neither
            in ``beta`` nor in the loss.
        reduction: ``"none"`` (shape ``(N, *)``), ``"mean"`` (default, over the kept weighted
            elements) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, non-bool flags or mask.
        ValueError: different shapes, ``per_sample`` with a one-dimensional input, targets or
            probabilities outside ``[0, 1]``, a bad ``weight``/``mask``/``eps``/``reduction``.

    Paper:
        Xie, Tu, "Holistically-Nested Edge Detection", ICCV 2015, arXiv:1504.06375.

    Example:
        >>> import torch
        >>> y = torch.tensor([[1.0, 0.0, 0.0, 0.0]])  # beta = 3/4
        >>> balanced_bce_loss(torch.zeros(1, 4), y, reduction="none")  # .75 ln 2, .25 ln 2
        tensor([[0.5199, 0.1733, 0.1733, 0.1733]])
    """
    fn = "balanced_bce_loss"
    keep = _binary_inputs(fn, logits, target, weight, mask, from_logits)
    if per_sample:
        check_min_ndim(fn, "logits", logits, 2, "(N, *) with at least 2 dimensions when "
                       "per_sample=True (per_sample=False: one beta over all elements)")  # fmt: skip
    out_dtype, work = logits.dtype, compute_dtype(logits)
    x, y = _masked(logits.to(work), keep), _masked(target.to(work), keep)

    # w_neg = 1 - beta = |Y+| / |Y| (kept elements only), from the detached target
    yd = y.detach()
    dims = tuple(range(1, x.dim())) if per_sample else tuple(range(x.dim()))
    if keep is None:
        count = 1
        for d in dims:
            count *= x.shape[d]
        w_neg = yd.sum(dims, keepdim=True) / max(float(count), 1.0)
    else:
        m = keep_factor(keep, work).expand_as(x)
        w_neg = (yd * m).sum(dims, keepdim=True) / m.sum(dims, keepdim=True).clamp_min(1.0)
    beta = 1.0 - w_neg

    if from_logits and not y.requires_grad:
        # torch's fused form: (1 - beta) * BCEWithLogits(pos_weight = beta / (1 - beta)). An
        # image without positives has 1 - beta = 0: its pos_weight is clamped to a finite
        # 1/tiny, harmless because its positive term is 0 (y = 0 there) and its weight is 0.
        # (Not when the target needs a gradient: there the 0 weight would also zero the
        # target's gradient, whose true value is beta (-log p) - (1 - beta)(-log(1 - p)).)
        pw = beta / w_neg.clamp_min(torch.finfo(work).tiny)
        if weight is None and keep is None and reduction != "none" and x.numel() > 0:
            return TF.binary_cross_entropy_with_logits(
                x, y, weight=w_neg, pos_weight=pw, reduction=reduction
            ).to(out_dtype)
        loss = TF.binary_cross_entropy_with_logits(
            x, y, weight=w_neg, pos_weight=pw, reduction="none"
        )
    else:
        nlp, nl1mp = _neg_log_probs(x, from_logits, eps, logits.dtype)
        loss = torch.lerp(w_neg * nl1mp, beta * nlp, y)
    return finish(fn, loss, reduction, weight=weight, keep=keep, out_dtype=out_dtype)


# --------------------------------------------------------------------------------------------
# sigmoid focal loss: analytic backward, blocked on CPU
# --------------------------------------------------------------------------------------------


def _focal_block(
    x: Tensor, y: Tensor, alpha: float | Tensor | None, gamma: float, scale: float,
    need_x: bool, need_y: bool, s: _Scratch, lo: Tensor | None, gxo: Tensor | None,
    gyo: Tensor | None,
) -> tuple[Tensor, Tensor | None, Tensor | None]:  # fmt: skip
    """One block's loss ``l = y fpos + (1 - y) fneg`` times ``scale`` (per element into
    ``lo``, or its sum when ``lo`` is None) and, when asked, its derivatives, from one
    evaluation of the shared terms (so the backward pass only scales them by the upstream
    gradient), in six :class:`_Scratch` buffers and the outputs' parts (see
    :func:`_blockwise`). ``scale`` (the mean's ``1 / n``) rides on the modulators: no pass
    of its own when ``alpha`` is a number.

    ``fpos = a q^g (-log p)``, ``fneg = (1-a) p^g (-log q)`` with ``p = sigmoid(x)``,
    ``q = 1 - p``; ``d fpos/dx = -a q^g (g p (-log p) + q)``,
    ``d fneg/dx = (1-a) p^g (g q (-log q) + p)``, ``dl/dy = fpos - fneg``. Neither derivative
    carries ``q^(g-1)``, so every gamma >= 0 is finite at ``p = 0`` and ``p = 1``.
    ``softplus(+-x) = max(+-x, 0) + log1p(exp(-|x|))``: one ``sigmoid`` (which also gives
    ``exp(-|x|)``, :func:`_exp_sigmoids_of_abs`) and one ``log1p`` serve both signs. The
    positive term is carried negated (``-fpos`` and its derivative, from one
    modulator ``-a q^g``), which saves the negation of the gradient; the sum is then
    ``sum fneg - y . (-fpos + fneg)``, two reductions (the bracket is ``-dl/dy`` when that is
    wanted) in place of a ``lerp`` and a sum.
    """
    A, B, C, D, E, F = s.take(), s.take(), s.take(), s.take(), s.take(), s.take()
    lo_x = torch.clamp_max(x, 0.0, out=C)  # min(x, 0)
    hi_x = torch.clamp_min(x, 0.0, out=D)  # max(x, 0)
    e, big, small = _exp_sigmoids_of_abs(torch.sub(lo_x, hi_x, out=A), E, F)  # (-|x| in A)
    nl1mp = torch.log1p(e, out=B)
    nlp = torch.sub(nl1mp, lo_x, out=C)  # -log p = softplus(-x)
    nl1mp.add_(hi_x)  # -log(1 - p) = softplus(x)
    p, q = _by_sign(x, big, small, D, A)  # q = sigmoid(-x), never 1 - p (which would cancel)
    if need_x:  # (into the two buffers free again)
        gpos = torch.addcmul(q, p, nlp, value=gamma, out=E)
        gneg = torch.addcmul(p, q, nl1mp, value=gamma, out=F)
    # the modulators -a (1 - p)^g and (1 - a) p^g: one product serves loss and gradient
    if gamma == 2.0 and not isinstance(alpha, Tensor):
        ap, an = (scale, scale) if alpha is None else (alpha * scale, (1.0 - alpha) * scale)
        zero = x.new_zeros(())
        mq: Tensor | float = torch.addcmul(zero, q, q, value=-ap, out=q)
        mp: Tensor | float = torch.addcmul(zero, p, p, value=an, out=p)
    else:
        if gamma == 0.0:
            mq, mp = -1.0, 1.0
        elif gamma == 1.0:
            mq, mp = q.neg_(), p
        elif gamma == 2.0:
            mq, mp = q.mul_(q).neg_(), p.mul_(p)
        else:  # (1 - p)^g = exp(-g softplus(x)): no pow of a value that may be 0
            mq = torch.mul(nl1mp, -gamma, out=q).exp_().neg_()  # (over q and p: not read
            mp = torch.mul(nlp, -gamma, out=p).exp_()  # again)
        if isinstance(alpha, Tensor):
            if isinstance(mq, Tensor) and isinstance(mp, Tensor):
                mq, mp = mq.mul_(alpha), mp.addcmul_(mp, alpha, value=-1.0)
            else:
                mq, mp = torch.neg(alpha), torch.rsub(alpha, 1.0)
        elif alpha is not None:
            ap, an = alpha * scale, (1.0 - alpha) * scale
            if isinstance(mq, Tensor) and isinstance(mp, Tensor):
                mq, mp = mq.mul_(ap), mp.mul_(an)
            else:
                mq, mp = mq * ap, mp * an
        if scale != 1.0 and (alpha is None or isinstance(alpha, Tensor)):
            if isinstance(mq, Tensor) and isinstance(mp, Tensor):
                mq, mp = mq.mul_(scale), mp.mul_(scale)  # (buffers, or fresh from alpha)
            else:
                mq, mp = mq * scale, mp * scale
    nfpos, fneg = nlp.mul_(mq), nl1mp.mul_(mp)
    gx = gy = None
    if need_x:
        gx = torch.lerp(gneg.mul_(mp), gpos.mul_(mq), y, out=gxo)
    if need_y:
        gy = torch.add(nfpos, fneg, out=gyo).neg_()
    if lo is None:
        if gy is not None:  # gy = -(-fpos + fneg)
            return fneg.sum() + torch.dot(y, gy), gx, gy
        return fneg.sum() - torch.dot(y, nfpos.add_(fneg)), gx, gy
    return torch.lerp(fneg, nfpos.neg_(), y, out=lo), gx, gy


def _exp_sigmoids_of_abs(na: Tensor, b1: Tensor, b2: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(exp(-|x|), sigmoid(|x|), sigmoid(-|x|))`` from ``na = -|x|`` with one
    transcendental pass: ``small = sigmoid(-|x|)``, ``big = 1 - small`` (at least 1/2: no
    cancellation) and ``exp(-|x|) = small / big``. On CPU torch's ``sigmoid`` costs two
    thirds of its ``exp`` (65 against 97 us over 64 Ki floats here), so this is cheaper than
    an ``exp`` followed by ``1 / (1 + e)`` and ``e / (1 + e)``; each result is within about
    2.5 ulp (``e``) and 1.5 ulp (the sigmoids) in float32. ``e`` is written into ``na``,
    ``small`` into ``b1`` and ``big`` into ``b2``; the product ``big * small`` is
    ``p (1 - p)`` whatever the sign of ``x``."""
    small = torch.sigmoid(na, out=b1)
    big = torch.sub(small.new_ones(()), small, out=b2)
    return torch.div(small, big, out=na), big, small


def _by_sign(
    x: Tensor, big: Tensor, small: Tensor, b_p: Tensor, b_q: Tensor
) -> tuple[Tensor, Tensor]:
    """``(sigmoid(x), sigmoid(-x))`` from ``big = sigmoid(|x|)`` and ``small = sigmoid(-|x|)``
    (:func:`_exp_sigmoids_of_abs`), picked by the sign of ``x`` with a 0/1 float factor and
    ``lerp`` (exact at 0 and 1; on CPU a bool ``where`` costs several float passes), into
    ``b_p`` and ``b_q``. Neither is ``1 - `` the other, which would cancel where it is
    small."""
    pos = torch.ge(x, 0.0, out=b_p)
    q = torch.lerp(big, small, pos, out=b_q)
    return torch.lerp(small, big, pos, out=b_p), q


def _focal_plain(x: Tensor, y: Tensor, alpha: float | Tensor | None, gamma: float) -> Tensor:
    """The same per-element loss as plain differentiable operations (any order of gradient,
    every input: ``x``, ``y`` and a tensor ``alpha``)."""
    nlp, nl1mp = TF.softplus(-x), TF.softplus(x)
    fpos, fneg = nlp, nl1mp
    if gamma != 0.0:
        # (1 - p)^g = exp(-g softplus(x)), p^g = exp(-g softplus(-x)): finite for every g >= 0
        fpos, fneg = fpos * torch.exp(-gamma * nl1mp), fneg * torch.exp(-gamma * nlp)
    if alpha is not None:
        fpos, fneg = fpos * alpha, fneg * (1.0 - alpha)
    return torch.lerp(fneg, fpos, y)


def _blocks(n: int, device: torch.device) -> list[tuple[int, int]]:
    """Index ranges of the blocks: one block under torch.compile (which fuses the element-wise
    work itself), cache-sized blocks on CPU, large ones on accelerators."""
    size = _FOCAL_BLOCK if device.type == "cpu" else _FOCAL_BLOCK_ACCELERATOR
    # up to two blocks' worth stays one block: splitting it doubles the dispatch for little
    # cache gain (quality focal and varifocal at 64 Ki: 8 % slower as two blocks)
    if torch.compiler.is_compiling() or n <= 2 * size:
        return [(0, n)]
    return [(i, min(i + size, n)) for i in range(0, n, size)]


def _span(t: _V, part: slice | None) -> _V:
    """A block's part of a flat tensor (``part`` None: one block covers it, the tensor itself;
    a slice costs as much as a small operation); numbers and None pass through."""
    if part is not None and isinstance(t, Tensor):
        return t[part]  # type: ignore[return-value]
    return t


class _Scratch:
    """Work buffers for the blocks of one pass: each :meth:`take` hands out a buffer of the
    block's length, allocated for the first block and reused by every later one.

    Allocating a block's temporaries afresh costs more than computing them on CPU: a buffer
    of 64 Ki floats is above glibc's ``mmap`` threshold, so each one comes back as new pages,
    and their page faults (about 30 us per 256 KiB buffer here) doubled the focal kernel's
    time (1.2 ms against 0.6 ms per 64 Ki block with ``MALLOC_MMAP_THRESHOLD_`` raised). The
    blocks therefore write into a handful of buffers with ``out=`` and in-place operations,
    and the buffers outlive the block.

    On CPU, blocks of at least ``_SHARED_SCRATCH_MIN`` elements also outlive the call: their
    buffers are kept per thread and dtype (:func:`_shared_scratch`) and serve the next pass,
    so a step of one block (up to 128 Ki elements) faults no work page in either. They never
    leave the pass: every result is written into the pass's own outputs."""

    def __init__(self, like: Tensor, size: int) -> None:
        self._like, self._size = like, size
        shared = _shared_scratch(like, size)
        self._kept = shared is not None
        self._bufs = [] if shared is None else shared
        # every buffer of a kept list has its first one's length (at least ``size``), so that
        # any later pass the list serves finds each buffer long enough
        self._cap = self._bufs[0].shape[0] if self._bufs else size
        self._next, self._len = 0, size

    def start(self, length: int) -> None:
        """Begin a block of ``length`` elements: :meth:`take` hands out the buffers again."""
        self._next, self._len = 0, length

    def take(self) -> Tensor:
        if self._next == len(self._bufs):
            if self._kept:
                self._bufs.append(new_buffer(self._like, self._cap))
            else:
                self._bufs.append(self._like.new_empty(self._cap))
        buf = self._bufs[self._next]
        self._next += 1
        # a buffer of the block's length is taken whole (a slice costs as much as a small
        # operation: 6 of them were a tenth of a 64-element focal step)
        return buf if buf.shape[0] == self._len else buf[: self._len]


#: blocks from this many elements (64 KiB of float32, half glibc's initial ``mmap``
#: threshold) keep their work buffers between passes on CPU; smaller ones allocate them
#: afresh from the heap, which costs less than slicing kept ones
_SHARED_SCRATCH_MIN = 1 << 14


def _shared_scratch(like: Tensor, size: int) -> list[Tensor] | None:
    """The kept work buffers a pass over ``like``'s blocks of ``size`` elements starts from:
    this thread's list for ``like``'s dtype (:mod:`losskit._workspace`; emptied first when
    its buffers are shorter than ``size``); None (buffers of the pass's own) where
    :func:`~losskit._workspace.keepable` says no or below ``_SHARED_SCRATCH_MIN`` elements.

    What is kept is bounded by the largest CPU block, ``2 * _FOCAL_BLOCK`` elements, times
    the buffers one block takes (6 for the focal loss, up to 13 for the Gaussian focal
    loss): at most 6.5 MiB per thread in float32, twice that in float64."""
    if size < _SHARED_SCRATCH_MIN or not keepable(like):
        return None
    bufs = kept("focal blocks", like)
    if bufs and bufs[0].shape[0] < size:
        bufs.clear()
    return bufs


#: ``block(part, scratch, loss_out, gx_out, gy_out) -> (loss, dl/dx, dl/dy)`` over the
#: elements ``part`` (a slice of the flat inputs, or None: all of them, one block; read the
#: inputs' part with :func:`_span`); the ``*_out`` are the parts of the results to write
#: into (None: not wanted). ``loss_out`` is None when the sum is wanted: the block then
#: returns its loss's sum, a 0-dim tensor, else the per-element loss
Block = Callable[
    [slice | None, _Scratch, Tensor | None, Tensor | None, Tensor | None],
    tuple[Tensor, Tensor | None, Tensor | None],
]


def _into(dst: Tensor | None, src: Tensor | None) -> None:
    """Copy a block's result into its slice of the output, unless it was written there
    (an ``out=`` operation returns its ``out`` tensor itself)."""
    if dst is not None and src is not None and src is not dst:
        dst.copy_(src)


def _blockwise(
    x: Tensor, y: Tensor, need_x: bool, need_y: bool, reduce_sum: bool, block: Block,
) -> tuple[Tensor, Tensor | None, Tensor | None]:  # fmt: skip
    """``(loss or its sum, dl/dx, dl/dy)`` over flat inputs from ``block`` (see
    :data:`Block`), block by block, the blocks sharing one :class:`_Scratch`."""
    n = x.numel()
    blocks = _blocks(n, x.device)
    scratch = _Scratch(x, blocks[0][1] - blocks[0][0])
    out = None if reduce_sum else torch.empty_like(x)
    gx = torch.empty_like(x) if need_x else None
    gy = torch.empty_like(y) if need_y else None
    sums = []
    for a, b in blocks:
        scratch.start(b - a)
        part = None if len(blocks) == 1 else slice(a, b)
        lo, gxo, gyo = _span(out, part), _span(gx, part), _span(gy, part)
        loss, dx, dy = block(part, scratch, lo, gxo, gyo)
        if reduce_sum:
            sums.append(loss)
        else:
            _into(lo, loss)
        _into(gxo, dx)
        _into(gyo, dy)
    if out is None:
        out = sums[0] if len(sums) == 1 else torch.stack(sums).sum()
    return out, gx, gy


def _in_shape(
    x: Tensor, reduce_sum: bool, flat: tuple[Tensor, Tensor | None, Tensor | None]
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """A pass's ``(loss or its sum, dl/dx, dl/dy)`` over flattened inputs, viewed in the
    inputs' shape (``x``'s, which the target shares)."""
    out, gx, gy = flat
    return (out if reduce_sum else out.view(x.shape),
            None if gx is None else gx.view(x.shape),
            None if gy is None else gy.view(x.shape))  # fmt: skip


def _focal_pass(
    x: Tensor, y: Tensor, alpha: float | Tensor | None, gamma: float, scale: float,
    need_x: bool, need_y: bool, reduce_sum: bool,
) -> tuple[Tensor, Tensor | None, Tensor | None]:  # fmt: skip
    """``(loss or its sum, dl/dx, dl/dy)`` of the sigmoid focal loss over flat inputs, all
    times ``scale``."""
    return _blockwise(x, y, need_x, need_y, reduce_sum, lambda part, *bufs: _focal_block(
        _span(x, part), _span(y, part), _span(alpha, part), gamma, scale, need_x, need_y,
        *bufs))  # fmt: skip


class _SigmoidFocal(torch.autograd.Function):
    """Sigmoid focal loss with an analytic gradient.

    ``forward(x, y, alpha, gamma, reduce_sum, scale)`` takes ``x``/``y`` of one shape (and an
    ``alpha`` of that shape that needs no gradient, a number, or None) and returns the
    per-element loss (of that shape), or its sum, times the number ``scale`` (the mean's
    ``1 / n``: inside, the step needs no division and no further autograd node). The inputs
    are flattened here, not by the caller, for the same reason (a view in the graph is one
    more node in the backward pass). When an input needs a gradient, the forward pass
    computes its derivative beside the loss from the same sigmoid and softplus terms (one
    block of cache size at a time on CPU), and the backward pass scales it by the upstream
    gradient: the element-wise work is done once, not again in the backward pass. The
    derivative is held between the passes (the size of ``x``) in place of a recomputation; a
    second backward pass through the same graph (``retain_graph=True``) recomputes it. Under
    ``create_graph=True`` the backward differentiates :func:`_focal_plain` instead, so second
    derivatives are exact.
    """

    @staticmethod
    def plain(
        x: Tensor, y: Tensor, alpha, gamma: float, reduce_sum: bool, scale: float
    ) -> Tensor:
        """The same result as plain operations (:func:`~losskit._autograd.fused_apply`)."""
        loss = _focal_plain(x, y, alpha, gamma)
        loss = loss.sum() if reduce_sum else loss
        return loss if scale == 1.0 else loss * scale

    @staticmethod
    def _pass(x: Tensor, y: Tensor, alpha, gamma: float, scale: float, need_x: bool,
              need_y: bool, reduce_sum: bool) -> tuple[Tensor, Tensor | None, Tensor | None]:  # fmt: skip
        """:func:`_focal_pass` over the flattened inputs; results in the inputs' shape."""
        flat = alpha.reshape(-1) if isinstance(alpha, Tensor) else alpha
        return _in_shape(x, reduce_sum, _focal_pass(x.reshape(-1), y.reshape(-1), flat, gamma,
                                                    scale, need_x, need_y, reduce_sum))  # fmt: skip

    @staticmethod
    def forward(
        ctx, x: Tensor, y: Tensor, alpha, gamma: float, reduce_sum: bool, scale: float
    ) -> Tensor:
        ctx.save_for_backward(x, y, alpha if isinstance(alpha, Tensor) else None)
        ctx.alpha = None if isinstance(alpha, Tensor) else alpha
        ctx.gamma, ctx.reduce_sum, ctx.scale = gamma, reduce_sum, scale
        need_x, need_y = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        out, gx, gy = _SigmoidFocal._pass(x, y, alpha, gamma, scale, need_x, need_y,
                                          reduce_sum)  # fmt: skip
        ctx.grads = (gx, gy)  # not the output: ctx -> output -> grad_fn -> ctx would be a cycle
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        need_x, need_y = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if torch.is_grad_enabled():
            # create_graph=True: differentiate the plain formula on aliases of the saved
            # inputs, whose graph reaches them (second derivatives exact; partial_inputs)
            x, y, alpha_t = ctx.saved_tensors
            alpha = alpha_t if alpha_t is not None else ctx.alpha
            x, y = partial_inputs(x, y)
            loss = _SigmoidFocal.plain(x, y, alpha, ctx.gamma, False, ctx.scale)
            wanted = [t for t, n in ((x, need_x), (y, need_y)) if n]
            grads = torch.autograd.grad(loss, wanted, grad_out.expand_as(loss), create_graph=True)
            it = iter(grads)
            return (next(it) if need_x else None), (next(it) if need_y else None), *(None,) * 4
        held, ctx.grads = ctx.grads, None
        if held is None:  # a second backward pass through this graph: recompute
            x, y, alpha_t = ctx.saved_tensors
            alpha = alpha_t if alpha_t is not None else ctx.alpha
            held = _SigmoidFocal._pass(x, y, alpha, ctx.gamma, ctx.scale, need_x, need_y,
                                       ctx.reduce_sum)[1:]  # fmt: skip
        gx, gy = held
        # the held derivatives (of the scaled loss) are this graph's own buffers: scale them
        # by the upstream gradient in place
        gx = gx.mul_(grad_out) if need_x and gx is not None else None
        gy = gy.mul_(grad_out) if need_y and gy is not None else None
        return gx, gy, None, None, None, None


def _focal_alpha(fn: str, alpha: float | Tensor | None, logits: Tensor) -> float | Tensor | None:
    if not isinstance(alpha, Tensor):
        return alpha
    check_floating(fn, "alpha", alpha)
    check_same_device(fn, ("logits", logits), ("alpha", alpha))
    if alpha.dim() == 1 and logits.dim() >= 2:
        if alpha.shape[0] != logits.shape[1]:
            raise ValueError(
                f"{fn}: a 1-D alpha holds one value per class (dim 1 of logits) and must have "
                f"length {logits.shape[1]}; got {alpha.shape[0]}"
            )
        alpha = alpha.reshape(-1, *([1] * (logits.dim() - 2)))
    return check_broadcast(fn, "alpha", alpha, logits.shape)


@checked
def focal_loss(
    logits: Tensor, target: Tensor, *, alpha: FocalAlpha = 0.25, gamma: NonNegative = 2.0,
    from_logits: bool = True, eps: ProbabilityEps = 1e-7, weight: Weight = None,
    mask: Mask = None, avg_factor: AvgFactor = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Sigmoid focal loss: BCE with easy examples down-weighted by ``(1 - p_t)^gamma``.

    Formula:
        l = -[alpha (1-p)^gamma y log p + (1 - alpha) p^gamma (1 - y) log(1 - p)],  p = sigmoid(x)

    For a 0/1 target this is the paper's ``-alpha_t (1 - p_t)^gamma log p_t``. The factor
    ``(1 - p_t)^gamma`` shrinks the loss of easy examples: at ``gamma = 2`` an example with
    ``p_t = 0.9`` costs 100 times less than under cross-entropy, one with ``p_t = 0.1`` only
    1.23 times less. ``gamma = 0`` with ``alpha=None`` is :func:`bce_loss`. Soft targets mix
    the two terms linearly (``l(y) = y l(1) + (1 - y) l(0)``); torchvision's
    ``sigmoid_focal_loss`` modulates by ``(1 - p_t)^gamma`` with ``p_t = p y + (1 - p)(1 - y)``
    instead, which agrees for 0/1 targets only.

    When to use:
        Dense detection and segmentation with overwhelming easy background: the many
        well-classified examples stop dominating the loss (p_t = 0.9 costs 100x less than
        under BCE at gamma = 2). Paper defaults: alpha = 0.25, gamma = 2.

    Args:
        logits: ``(*)`` logits, or probabilities with ``from_logits=False``.
        target: ``(*)``, values in ``[0, 1]``.
        alpha: the focal balance factor: weight of the positive term, ``1 - alpha`` that of
            the negative term; default 0.25 (the paper's, with ``gamma = 2``). A number in
            ``[0, 1]``, ``None`` (both terms 1), or a tensor of values in ``[0, 1]``
            broadcastable to ``(*)``; a 1-D tensor of length ``C`` is one value per class along
            dim 1 of ``(N, C, *)``. A tensor that requires grad receives its gradient. Part of
            the loss: ``"mean"`` divides by the number of kept elements, as every peer does.
        gamma: focusing exponent, ``>= 0``; default 2.
        from_logits: logits (default ``True``) or probabilities.
        eps: the probability clamp ``[eps, 1 - eps]`` (``from_logits=False``); default ``1e-7``.
        weight: optional non-negative per-element weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave out.
        avg_factor: dense detection's normaliser (RetinaNet divides by the number of positive
            anchors): ``"mean"`` divides the summed loss by ``max(avg_factor, 1)`` instead of
            the number (weight) of kept elements; a number or a one-element tensor ``>= 0``
            (``all_reduce_avg_factor`` averages it over ranks); ``None`` (default): the mean.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs or alpha tensor, non-bool flags or mask.
        ValueError: different shapes, ``alpha`` outside ``[0, 1]`` or of the wrong length,
            negative ``gamma``, targets or probabilities outside ``[0, 1]``, a bad
            ``weight``/``mask``/``eps``/``reduction``/``avg_factor``, or ``avg_factor`` with
            a reduction other than ``"mean"``.

    Equals ``torchvision.ops.sigmoid_focal_loss`` for 0/1 targets (gradient included). On CPU
    it computes in cache-sized blocks with an analytic backward: on ``(16, 80, 128, 128)``
    logits, several times faster than torchvision and close to
    ``binary_cross_entropy_with_logits``.

    Paper:
        Lin, Goyal, Girshick, He, Dollar, "Focal Loss for Dense Object Detection", ICCV 2017,
        arXiv:1708.02002.

    Example:
        >>> import torch
        >>> x = torch.tensor([2.1972, -2.1972])  # p = 0.9, 0.1
        >>> y = torch.tensor([1.0, 1.0])
        >>> fl = focal_loss(x, y, alpha=None, reduction="none")
        >>> ce = bce_loss(x, y, reduction="none")
        >>> (ce / fl).round(decimals=2)  # 1 / (1 - p_t)^2
        tensor([100.0000,   1.2300])
    """
    fn = "focal_loss"
    check_avg_factor(fn, avg_factor, reduction)
    keep = _binary_inputs(fn, logits, target, weight, mask, from_logits)
    a = _focal_alpha(fn, alpha, logits)
    out_dtype, work = logits.dtype, compute_dtype(logits)
    x, y = logits.to(work), target.to(work)
    if keep is not None and not (from_logits and surely_finite(x) and surely_finite(y)):
        # (finite logits and targets give a finite loss, linear in y, which the mask then
        # weighs 0 in value and gradient: the two selects are needed only against NaN/inf)
        x, y = _masked(x, keep), _masked(y, keep)

    if not from_logits:
        # probabilities: the formula as written, on the clamped probability (autograd)
        nlp, nl1mp = _neg_log_probs(x, False, eps, logits.dtype)
        p = torch.exp(-nlp)
        q = 1.0 - p  # p <= 1 - eps: q >= eps, so q^gamma has a finite gradient
        fpos, fneg = nlp, nl1mp
        if gamma != 0.0:
            fpos, fneg = fpos * power(q, gamma), fneg * power(p, gamma)
        if a is not None:
            fpos, fneg = fpos * a, fneg * (1.0 - a)
        loss = torch.lerp(fneg, fpos, y)
        return finish_avg(fn, loss, reduction, avg_factor=avg_factor, weight=weight, keep=keep,
                          out_dtype=out_dtype)  # fmt: skip

    if isinstance(a, Tensor) and a.requires_grad:
        # a learnable alpha: the plain formula, so that alpha receives its gradient
        loss = _focal_plain(x, y, a.to(work), gamma)
        return finish_avg(fn, loss, reduction, avg_factor=avg_factor, weight=weight, keep=keep,
                          out_dtype=out_dtype)  # fmt: skip
    if weight is None and keep is None and reduction != "none" and not isinstance(a, Tensor):
        # the mean's 1 / n inside the fused function (0 for no elements: a loss of 0)
        n = x.numel()
        scale = (1.0 / n if n else 0.0) if reduction == "mean" and avg_factor is None else 1.0
        total = fused_apply(_SigmoidFocal, x, y, a, gamma, True, scale)
        if avg_factor is not None:
            return finish_avg(fn, total, reduction, avg_factor=avg_factor, out_dtype=out_dtype)
        return total.to(out_dtype)
    af = a.to(work).expand(x.shape) if isinstance(a, Tensor) else a
    loss = fused_apply(_SigmoidFocal, x, y, af, gamma, False, 1.0)
    return finish_avg(fn, loss, reduction, avg_factor=avg_factor, weight=weight, keep=keep,
                      out_dtype=out_dtype)  # fmt: skip


# --------------------------------------------------------------------------------------------
# softmax losses: class-index targets with ignore_index
# --------------------------------------------------------------------------------------------


def _check_logits(fn: str, logits: Tensor) -> None:
    check_floating(fn, "logits", logits)
    check_min_ndim(fn, "logits", logits, 2, "(N, C) or (N, C, d1, ...)")


def _index_labels(
    fn: str, logits: Tensor, labels: Tensor, name: str, ignore_index: int | None,
    mask: Tensor | None, as_float: torch.dtype | None = None,
) -> tuple[Tensor, Tensor | None]:  # fmt: skip
    """Check class indices against ``logits``; return them as ``int64`` (every integer dtype
    means class indices; ``uint8`` is never read as a mask) and the kept entries (from
    ``mask`` and ``ignore_index``; a left-out label's value is not checked). ``as_float``:
    return them as that floating dtype instead, the kept entries found from it too (for
    compiled code, where int64 takes slow paths on CPU)."""
    want = (logits.shape[0], *logits.shape[2:])
    if tuple(labels.shape) != want:
        raise ValueError(
            f"{fn}: class-index {name} must have shape {want} for logits of shape "
            f"{tuple(logits.shape)}; got {tuple(labels.shape)}"
        )
    out = labels.long() if as_float is None else labels.to(as_float)
    keep = exclusion(fn, want, mask=mask, labels=labels if as_float is None else out,
                     ignore_index=ignore_index)  # fmt: skip
    check_labels(fn, labels, logits.shape[1], name=name, ignore_index=ignore_index, keep=keep)
    return out, keep


def _weighted_ce(
    z: Tensor, labels: Tensor | None, probs: Tensor | None, cw: Tensor, smoothing: float
) -> Tensor:
    """torch's weighted cross-entropy written out, for a ``class_weight`` that requires grad
    (torch's kernel cannot differentiate its ``weight``): ``(1 - eps) w_y (-log p_y) +
    eps / C sum_c w_c (-log p_c)`` for index targets, ``-sum_c w_c y'_c log p_c`` with
    ``y' = (1 - eps) y + eps / C`` for probabilities."""
    logp = torch.log_softmax(z, 1)
    w = _per_class(cw, z)
    num_classes = z.shape[1]
    if labels is None:
        assert probs is not None  # the callers pass labels or probs
        y = probs if smoothing == 0.0 else probs * (1.0 - smoothing) + smoothing / num_classes
        return -(y * w * logp).sum(1)
    idx = labels.unsqueeze(1)
    loss = -logp.gather(1, idx).squeeze(1) * cw[labels]
    if smoothing:
        loss = (1.0 - smoothing) * loss - smoothing / num_classes * (w * logp).sum(1)
    return loss


@checked
def softmax_cross_entropy(
    logits: Tensor, target: Tensor, *, class_weight: ClassWeight = None,
    ignore_index: int | None = -100, label_smoothing: UnitInterval = 0.0, weight: Weight = None,
    mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Softmax cross-entropy for mutually exclusive classes, with class weights, ``ignore_index``,
    label smoothing and probability targets.

    Formula:
        l = -sum_j y_j log softmax(z)_j;  dl/dz = softmax(z) - y

    A digit is a 3 *or* an 8. The computation is ``torch.nn.functional.cross_entropy``'s;
    losskit adds its checks, float32 compute for half inputs and its reduction rules.
    ``"mean"`` divides by the total weight: ``sum_n w_n cw[y_n]`` over the kept targets, with
    ``w`` the ``weight`` and ``cw`` the ``class_weight`` (torch's rule for index targets). For
    probability targets with ``class_weight`` it divides by ``sum_n w_n sum_c cw_c y_nc``, so
    that one-hot probability targets give the index-target value (torch divides by the number
    of samples there: a deliberate difference). An empty batch, or every target excluded,
    gives 0 where torch gives NaN.

    When to use:
        Mutually exclusive classes (one label per sample or pixel). An empty batch or an
        all-ignored one gives 0, not torch's NaN.

    Args:
        logits: ``(N, C)`` or ``(N, C, d1, ...)``, floating point.
        target: integer class indices ``(N,)`` / ``(N, d1, ...)`` (any integer dtype), or class
            probabilities of the shape of ``logits`` (floating point).
        class_weight: optional non-negative ``(C,)`` weight of each class; default ``None``.
        ignore_index: index targets equal to it are excluded (as ``mask=False``); default -100,
            ``None`` for none.
        label_smoothing: ``eps`` in ``[0, 1]``: the target becomes ``(1 - eps) y + eps / C``;
            default 0.
        weight: optional non-negative per-sample (per-position) weights broadcastable to
            ``(N, d1, ...)``.
        mask: optional bool tensor broadcastable to ``(N, d1, ...)``; ``False`` = leave out.
        reduction: ``"none"`` (shape ``(N, d1, ...)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``/``class_weight``, a target that is neither integer
            nor floating.
        ValueError: bad shapes, labels outside ``[0, C)`` other than ``ignore_index`` (checked
            on CPU), ``label_smoothing`` outside ``[0, 1]``, negative weights, unknown
            ``reduction``.

    Paper:
        Szegedy, Vanhoucke, Ioffe, Shlens, Wojna, "Rethinking the Inception Architecture for
        Computer Vision", CVPR 2016, arXiv:1512.00567 (label smoothing).

    Example:
        >>> import torch
        >>> z = torch.tensor([[2.0, 1.0, 1.0, 1.0]])
        >>> z.softmax(1)  # the study notes' table: 47.54 %, 17.49 % ...
        tensor([[0.4754, 0.1749, 0.1749, 0.1749]])
        >>> softmax_cross_entropy(z, torch.tensor([0]))  # -ln 0.4754
        tensor(0.7437)
    """
    fn = "softmax_cross_entropy"
    _check_logits(fn, logits)
    check_tensor(fn, "target", target)
    num_classes = logits.shape[1]
    check_class_vector(fn, "class_weight", class_weight, num_classes)
    check_same_device(fn, ("logits", logits), ("target", target), ("class_weight", class_weight),
                      ("weight", weight), ("mask", mask))  # fmt: skip
    out_dtype, work = logits.dtype, compute_dtype(logits)
    z = logits.to(work)
    cw = None if class_weight is None else class_weight.to(work)
    shape = (logits.shape[0], *logits.shape[2:])

    if target.is_floating_point():
        check_same_shape(fn, logits, target, names=("logits", "probability target"))
        keep = exclusion(fn, shape, mask=mask)
        k1 = None if keep is None else keep.unsqueeze(1)
        z, y = zero_excluded(z, k1), zero_excluded(target.to(work), k1)
        if cw is not None and cw.requires_grad:
            loss = _weighted_ce(z, None, y, cw, label_smoothing)
        else:
            loss = TF.cross_entropy(z, y, weight=cw, label_smoothing=label_smoothing,
                                    reduction="none")  # fmt: skip
        counted = None
        if cw is not None:
            counted = (y.detach() * _per_class(cw, z)).sum(1)
        return finish(fn, loss, reduction, weight=weight, keep=keep, out_dtype=out_dtype,
                      mean_weight=counted)  # fmt: skip
    if target.is_complex() or target.dtype == torch.bool:
        raise TypeError(
            f"{fn}: target must be integer class indices or floating class probabilities; "
            f"got dtype {target.dtype}"
        )
    labels, keep = _index_labels(fn, logits, target, "target", ignore_index, mask)
    if (
        keep is not None
        and mask is None
        and weight is None
        and reduction != "none"
        and not (cw is not None and cw.requires_grad)
        and surely_finite(z)
    ):
        # only ignore_index leaves labels out: torch's kernel skips them itself (a NaN or inf
        # logit there would reach its backward: hence finite logits only), 2x cheaper than a
        # select on the logits and a mask on the loss; the mean divides as torch does, by the
        # kept count (or class weight), and is 0 when nothing is kept
        assert ignore_index is not None  # the only source of keep here
        total = TF.cross_entropy(z, labels, weight=cw, ignore_index=ignore_index,
                                 label_smoothing=label_smoothing, reduction="sum")  # fmt: skip
        if reduction == "mean":
            if cw is None:
                count = keep.count_nonzero().to(work)
            else:
                count = (cw[torch.where(keep, labels, 0)] * keep_factor(keep, work)).sum()
            total = torch.where(count > 0, total / count.clamp_min(1e-30), total * 0.0)
        return total.to(out_dtype)
    safe = labels if keep is None else torch.where(keep, labels, 0)
    z = z if keep is None else zero_excluded(z, keep.unsqueeze(1))
    if cw is not None and cw.requires_grad:
        loss = _weighted_ce(z, safe, None, cw, label_smoothing)
    else:
        loss = TF.cross_entropy(z, safe, weight=cw, label_smoothing=label_smoothing,
                                reduction="none")  # fmt: skip
    counted = None if cw is None else cw[safe]
    return finish(fn, loss, reduction, weight=weight, keep=keep, out_dtype=out_dtype,
                  mean_weight=counted)  # fmt: skip


@checked
def softmax_focal_loss(
    logits: Tensor, labels: Tensor, *, alpha: ClassAlpha = None, gamma: NonNegative = 2.0,
    ignore_index: int | None = -100, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Softmax focal loss for mutually exclusive classes, with per-class ``alpha``.

    Formula:
        l = -alpha_y (1 - p_y)^gamma log p_y,  p = softmax(z)

    The multi-class form of the focal loss. ``gamma = 0`` without ``alpha`` is
    :func:`softmax_cross_entropy`. ``(1 - p_y)^gamma`` is computed as
    ``max(-expm1(log p_y), tiny)^gamma``: accurate when ``p_y`` is near 1 and finite in value
    and gradient for every ``gamma >= 0``, even when ``p_y`` rounds to exactly 1.

    When to use:
        Multi-class segmentation or classification with many easy examples of a dominant
        class; gamma = 0 without alpha is softmax cross-entropy.

    Args:
        logits: ``(N, C)`` or ``(N, C, d1, ...)``.
        labels: integer class indices ``(N,)`` or ``(N, d1, ...)``.
        alpha: optional non-negative ``(C,)`` focal balance factor of each target class; part
            of the loss (``"mean"`` divides by the kept count). Default ``None``. A single
            number is refused: it would only scale the loss (MONAI reads a scalar as
            ``[1 - alpha, alpha, ..., alpha]``: pass that tensor for its behaviour).
        gamma: focusing exponent, ``>= 0``; default 2.
        ignore_index: labels equal to it are excluded; default -100, ``None`` for none.
        weight: optional non-negative per-position weights broadcastable to ``(N, d1, ...)``.
        mask: optional bool tensor broadcastable to ``(N, d1, ...)``; ``False`` = leave out.
        reduction: ``"none"`` (shape ``(N, d1, ...)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``/``alpha``, a number ``alpha``, non-integer labels.
        ValueError: bad shapes, labels out of range (CPU), negative ``gamma`` or ``alpha``.

    Paper:
        Lin, Goyal, Girshick, He, Dollar, "Focal Loss for Dense Object Detection", ICCV 2017,
        arXiv:1708.02002.

    Example:
        >>> import torch
        >>> z, y = torch.tensor([[2.0, 1.0, 1.0, 1.0]]), torch.tensor([0])
        >>> softmax_focal_loss(z, y, gamma=0.0)  # = cross-entropy, -ln 0.4754
        tensor(0.7437)
        >>> softmax_focal_loss(z, y)  # (1 - 0.4754)^2 * 0.7437
        tensor(0.2047)
    """
    fn = "softmax_focal_loss"
    _check_logits(fn, logits)
    check_tensor(fn, "labels", labels)
    num_classes = logits.shape[1]
    check_class_vector(fn, "alpha", alpha, num_classes)
    check_same_device(fn, ("logits", logits), ("labels", labels), ("alpha", alpha),
                      ("weight", weight), ("mask", mask))  # fmt: skip
    out_dtype, work = logits.dtype, compute_dtype(logits)
    # under torch.compile: the labels as floats and their one-hot form, which the compiler
    # fuses with the log-softmax, where a gather (a scatter in the backward) and int64
    # labels take scalar or slow paths on CPU (a compiled step of (8, 21, 128, 128): 28.6 ms,
    # 21.0 with this form)
    compiled = torch.compiler.is_compiling() and 0 < num_classes < 2**24
    y, keep = _index_labels(fn, logits, labels, "labels", ignore_index, mask,
                            as_float=work if compiled else None)  # fmt: skip
    z = zero_excluded(logits.to(work), None if keep is None else keep.unsqueeze(1))
    tiny = torch.finfo(work).tiny
    if compiled:  # a left-out or (unchecked while compiling) out-of-range label: no class
        onehot = float_onehot(y.unsqueeze(1), num_classes)
        logp = (torch.log_softmax(z, 1) * onehot).sum(1)
        class_alpha = None if alpha is None else (_per_class(alpha, z).to(work) * onehot).sum(1)
        # 1 - p_t as the other classes' probabilities (exact, no cancellation): a sum the
        # compiler fuses, where the backward recomputed an expm1 once per class
        modulator = None
        if gamma != 0.0:
            rest = (torch.softmax(z, 1) * (1.0 - onehot)).sum(1)
            modulator = power(rest.clamp_min(tiny), gamma)
    else:
        safe = y if keep is None else torch.where(keep, y, 0)
        logp = torch.log_softmax(z, 1).gather(1, safe.unsqueeze(1)).squeeze(1)
        class_alpha = None if alpha is None else alpha.to(work)[safe]
        modulator = None if gamma == 0.0 else power(torch.clamp_min(-torch.expm1(logp), tiny), gamma)
    loss = -logp
    if modulator is not None:
        loss = loss * modulator
    if class_alpha is not None:
        loss = loss * class_alpha
    return finish(fn, loss, reduction, weight=weight, keep=keep, out_dtype=out_dtype)


def _per_class(v: Tensor, like: Tensor) -> Tensor:
    """A ``(C,)`` vector shaped to broadcast along dim 1 of ``like`` ``(N, C, *)``."""
    return v.view(1, -1, *([1] * (like.dim() - 2)))


# --------------------------------------------------------------------------------------------
# modules
# --------------------------------------------------------------------------------------------


class _BinaryModule(LossModule):
    """The options every sigmoid-loss module shares (fields only; no function of its own)."""

    from_logits: bool = DEFAULT
    eps: ProbabilityEps = DEFAULT


class BinaryCrossEntropyLoss(_BinaryModule, function=bce_loss):
    """Binary cross-entropy, ``-[y log p + (1 - y) log(1 - p)]`` with ``p = sigmoid(x)``.

    Takes logits by default (``torch.nn.BCELoss`` takes probabilities, hence the other name).

    Args:
        from_logits: logits (default ``True``) or probabilities.
        eps: the probability clamp ``[eps, 1 - eps]`` with ``from_logits=False``; default 1e-7.
        label_smoothing: the target moves towards 0.5, ``(1 - s) y + s / 2``; default 0.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``: ``logits`` and ``target``
        ``(*)``; ``weight``/``mask`` broadcastable to it. Output: a scalar, or ``(*)``.

    Example:
        >>> import torch
        >>> BinaryCrossEntropyLoss()(torch.zeros(2), torch.tensor([1.0, 0.0]))  # ln 2
        tensor(0.6931)
    """

    label_smoothing: UnitInterval = DEFAULT


class WeightedBCELoss(_BinaryModule, function=weighted_bce_loss):
    """Weighted BCE, ``-[beta y log p + (1 - y) log(1 - p)]`` with ``beta = pos_weight``.

    Args:
        pos_weight: ``beta``, a number ``>= 0`` or a non-negative tensor broadcastable to the
            input (a buffer: ``.to()`` moves it); required.
        from_logits: logits (default ``True``) or probabilities.
        eps: the probability clamp with ``from_logits=False``; default 1e-7.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``: ``(*)`` each. Output: a
        scalar, or ``(*)``.

    Example:
        >>> import torch
        >>> WeightedBCELoss(pos_weight=3.0, reduction="sum")(torch.zeros(2), torch.tensor([1.0, 0.0]))
        tensor(2.7726)
    """

    pos_weight: PosWeight = DEFAULT


class BalancedBCELoss(_BinaryModule, function=balanced_bce_loss):
    """HED's class-balanced BCE, ``beta = 1 - |Y+| / |Y|`` read off each target.

    Args:
        per_sample: one ``beta`` per sample (default ``True``) or one for the batch.
        from_logits: logits (default ``True``) or probabilities.
        eps: the probability clamp with ``from_logits=False``; default 1e-7.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``: ``(N, *)`` each. Output: a
        scalar, or ``(N, *)``.

    Paper:
        Xie, Tu, "Holistically-Nested Edge Detection", ICCV 2015, arXiv:1504.06375.

    Example:
        >>> import torch
        >>> BalancedBCELoss(reduction="sum")(torch.zeros(1, 4), torch.tensor([[1.0, 0, 0, 0]]))
        tensor(1.0397)
    """

    per_sample: bool = DEFAULT


class FocalLoss(_BinaryModule, function=focal_loss):
    """Sigmoid focal loss, ``-[alpha (1-p)^gamma y log p + (1 - alpha) p^gamma (1 - y) log(1 - p)]``.

    Args:
        alpha: focal balance factor in ``[0, 1]``, ``None``, or a tensor (a buffer; a 1-D one
            holds one value per class along dim 1); default 0.25.
        gamma: focusing exponent ``>= 0``; default 2.
        from_logits: logits (default ``True``) or probabilities.
        eps: the probability clamp with ``from_logits=False``; default 1e-7.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``: ``(*)`` each. Output: a
        scalar, or ``(*)``.

    Paper:
        Lin, Goyal, Girshick, He, Dollar, "Focal Loss for Dense Object Detection", ICCV 2017,
        arXiv:1708.02002.

    Example:
        >>> import torch
        >>> FocalLoss(alpha=None, gamma=0.0)(torch.zeros(2), torch.tensor([1.0, 0.0]))  # = BCE
        tensor(0.6931)
    """

    alpha: FocalAlpha = DEFAULT
    gamma: NonNegative = DEFAULT


class SoftmaxFocalLoss(LossModule, function=softmax_focal_loss):
    """Softmax focal loss, ``-alpha_y (1 - p_y)^gamma log p_y`` with ``p = softmax(z)``.

    Args:
        alpha: optional non-negative ``(C,)`` focal balance factor per class (a buffer).
        gamma: focusing exponent ``>= 0``; default 2.
        ignore_index: labels equal to it are excluded; default -100, ``None`` for none.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, labels, *, weight=None, mask=None)``: ``logits`` ``(N, C, *)``,
        ``labels`` ``(N, *)``. Output: a scalar, or ``(N, *)``.

    Paper:
        Lin, Goyal, Girshick, He, Dollar, "Focal Loss for Dense Object Detection", ICCV 2017,
        arXiv:1708.02002.

    Example:
        >>> import torch
        >>> SoftmaxFocalLoss()(torch.tensor([[2.0, 1.0, 1.0, 1.0]]), torch.tensor([0]))
        tensor(0.2047)
    """

    alpha: ClassAlpha = DEFAULT
    gamma: NonNegative = DEFAULT
    ignore_index: int | None = DEFAULT


class SoftmaxCrossEntropyLoss(LossModule, function=softmax_cross_entropy):
    """Softmax cross-entropy, ``-sum_j y_j log softmax(z)_j``, index or probability targets.

    Args:
        class_weight: optional non-negative ``(C,)`` class weights (a buffer).
        ignore_index: index targets equal to it are excluded; default -100, ``None`` for none.
        label_smoothing: in ``[0, 1]``; default 0.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``: ``logits`` ``(N, C, *)``,
        ``target`` ``(N, *)`` indices or ``(N, C, *)`` probabilities. Output: a scalar, or
        ``(N, *)``.

    Paper:
        Szegedy, Vanhoucke, Ioffe, Shlens, Wojna, "Rethinking the Inception Architecture for
        Computer Vision", CVPR 2016, arXiv:1512.00567 (label smoothing).

    Example:
        >>> import torch
        >>> SoftmaxCrossEntropyLoss()(torch.tensor([[2.0, 1.0, 1.0, 1.0]]), torch.tensor([0]))
        tensor(0.7437)
    """

    class_weight: ClassWeight = DEFAULT
    ignore_index: int | None = DEFAULT
    label_smoothing: UnitInterval = DEFAULT


# dense-detection and classifier losses live in their own files, built on the machinery above
from ._detection import (  # noqa: E402
    DistributionFocalLoss,
    GaussianFocalLoss,
    QualityFocalLoss,
    VarifocalLoss,
    all_reduce_avg_factor,
    distribution_focal_loss,
    gaussian_focal_loss,
    quality_focal_loss,
    varifocal_loss,
)
from ._longtail import (  # noqa: E402
    EQLv2Loss,
    LDAMLoss,
    SeesawLoss,
    class_balanced_weights,
    eqlv2_loss,
    ldam_loss,
    seesaw_loss,
)
from ._recognition import (  # noqa: E402
    AsymmetricLoss,
    AsymmetricSoftmaxLoss,
    DistillationLoss,
    JSDCrossEntropyLoss,
    Poly1CrossEntropyLoss,
    Poly1FocalLoss,
    asymmetric_loss,
    asymmetric_softmax_loss,
    distillation_loss,
    jsd_cross_entropy,
    poly1_cross_entropy,
    poly1_focal_loss,
)
