"""Probability (distribution) losses: binary cross-entropy and its weighted, balanced and focal
variants for binary and multi-label targets (sigmoid), and softmax cross-entropy and softmax
focal loss for mutually exclusive classes. SPEC.md sections 3, 8 and 9.

Conventions shared by every function here:

* **Logits first.** The binary losses take logits by default and work in log-sigmoid form
  (``-log p = softplus(-x)``, ``-log(1 - p) = softplus(x)``), finite for logits of +-100 and
  beyond. ``from_logits=False`` takes probabilities instead; they are clamped to
  ``[eps, 1 - eps]`` before the logarithms (see :func:`bce_loss`).
* **Dense binary targets take a ``mask``**, class-index targets an ``ignore_index``. Either way
  the excluded elements leave both the numerator and the denominator of ``"mean"`` (torch's
  ``ignore_index`` semantics; segmentation_models_pytorch's binary focal loss, for one, keeps
  them in the denominator and so dilutes the mean), and read 0 under ``"none"``.
* **Reduction** through :func:`losskit.reduce_loss`: a per-element ``weight`` (and the
  ``mask``) gives ``"mean" = sum(w * l) / sum(w)``; an empty input (or everything masked)
  gives 0 with a gradient, never NaN.
* float16/bfloat16 are computed in float32 and returned in the input dtype.

:func:`focal_loss` runs through a hand-written autograd function: one pass computes the loss,
the backward recomputes ``sigmoid`` and ``softplus`` from the saved logits and writes the
analytic gradient, and on CPU both work through cache-sized blocks. That is what makes it
several times faster and lighter than the usual composition of torch operations (see
``benchmarks/bench_classification.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as TF
from torch import Tensor

from .._checks import (
    check_floating,
    check_in_range,
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
    "bce_loss",
    "weighted_bce_loss",
    "balanced_bce_loss",
    "focal_loss",
    "softmax_focal_loss",
    "softmax_cross_entropy",
]

#: Elements per block of the focal kernel. On CPU the block's dozen temporaries then stay in
#: cache (64 Ki elements measured fastest on a 1 MiB-L2 machine: 16 Ki +25 %, 128 Ki +0 %); on
#: an accelerator large blocks only bound the temporaries' memory.
_FOCAL_BLOCK = 1 << 16
_FOCAL_BLOCK_ACCELERATOR = 1 << 22


# --------------------------------------------------------------------------------------------
# validation and the shared binary machinery
# --------------------------------------------------------------------------------------------


def _compiling() -> bool:
    return torch.compiler.is_compiling()


def _check_mask(fn: str, mask: object, shape: torch.Size) -> Tensor | None:
    if mask is None:
        return None
    mask = check_tensor(fn, "mask", mask)
    if mask.dtype != torch.bool:
        raise TypeError(
            f"{fn}: mask must be a bool tensor (True = keep); got dtype {mask.dtype}; "
            "pass soft per-element factors as weight="
        )
    return check_weight(fn, mask, shape, name="mask")


def _check_binary(
    fn: str,
    pred: object,
    target: object,
    weight: object,
    mask: object,
    reduction: object,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    pred = check_floating(fn, "pred", pred)
    target = check_floating(fn, "target", target)
    check_same_shape(fn, pred, target)
    check_reduction(fn, reduction)
    weight = check_weight(fn, weight, pred.shape)
    mask = _check_mask(fn, mask, pred.shape)
    named = [("pred", pred), ("target", target)]
    named += [(n, t) for n, t in (("weight", weight), ("mask", mask)) if t is not None]
    check_same_device(fn, *named)
    return pred, target, weight, mask


def _check_probabilities(fn: str, pred: Tensor) -> None:
    """``from_logits=False``: values must be probabilities (checked on CPU only, no sync)."""
    if pred.device.type != "cpu" or pred.numel() == 0 or _compiling():
        return
    lo, hi = float(pred.detach().min()), float(pred.detach().max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"{fn}: with from_logits=False, pred must hold probabilities in [0, 1]; got values "
            f"in [{lo:.4g}, {hi:.4g}] (pass logits with from_logits=True, the default)"
        )


def _neg_log_probs(pred: Tensor, from_logits: bool, eps: float) -> tuple[Tensor, Tensor]:
    """``(-log p, -log(1 - p))``, both >= 0.

    Logits: ``softplus(-x)`` and ``softplus(x)``, each computed directly (``softplus(x) - x``
    would cancel for large ``x``).

    Probabilities: ``p`` is clamped to ``[eps, 1 - eps]`` so that neither logarithm sees 0;
    the clamp passes the gradient straight through (the value is clamped, the derivative is
    that of the formula at the clamped point), so a saturated probability still gets a finite
    gradient that points the right way, e.g. ``-1/eps`` for ``p = 0`` with ``y = 1``. torch's
    ``binary_cross_entropy`` does the same with its own bounds (logs clamped at -100,
    ``p (1 - p)`` at 1e-12 in the backward).
    """
    if from_logits:
        return TF.softplus(-pred), TF.softplus(pred)
    clamped = pred.clamp(eps, 1.0 - eps)
    p = pred + (clamped - pred).detach()
    return -torch.log(p), -torch.log1p(-p)


def _finish(
    fn: str,
    loss: Tensor,
    reduction: Reduction,
    weight: Tensor | None,
    mask: Tensor | None,
    out_dtype: torch.dtype,
) -> Tensor:
    """Apply ``mask`` (out of numerator and denominator) and ``weight``, reduce, cast back."""
    w = None if weight is None else weight.to(loss.dtype)
    if mask is not None:
        # where, not a product: a masked element may hold anything (a 255 "void" label)
        loss = torch.where(mask, loss, 0.0)
        m = mask.to(loss.dtype)
        w = m if w is None else w * m
    return reduce_loss(loss, reduction, weight=w, fn=fn).to(out_dtype)


def _masked_target(y: Tensor, mask: Tensor | None) -> Tensor:
    """Masked targets read 0, so that a "void" label (255) never enters the arithmetic."""
    return y if mask is None else torch.where(mask, y, 0.0)


def _check_eps(fn: str, eps: float) -> float:
    eps = check_positive(fn, "eps", eps)
    if eps >= 0.5:
        raise ValueError(f"{fn}: eps must lie in (0, 0.5); got {eps}")
    return eps


def _check_from_logits(fn: str, from_logits: object) -> bool:
    if not isinstance(from_logits, bool):
        raise TypeError(f"{fn}: from_logits must be a bool; got {type(from_logits).__name__}")
    return from_logits


# --------------------------------------------------------------------------------------------
# binary cross-entropy and its weighted / balanced forms
# --------------------------------------------------------------------------------------------


def bce_loss(
    pred: Tensor,
    target: Tensor,
    *,
    from_logits: bool = True,
    weight: Tensor | None = None,
    mask: Tensor | None = None,
    eps: float = 1e-7,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Binary cross-entropy, ``l = -[y log p + (1 - y) log(1 - p)]`` with ``p = sigmoid(x)``.

    For binary and multi-label targets (each element its own yes/no question: a film can be
    American *and* a comedy). Its gradient with respect to the logit is ``sigmoid(x) - y``:
    large exactly when the prediction is confidently wrong (SPEC.md section 9).

    Args:
        pred: logits (default) or, with ``from_logits=False``, probabilities; any shape,
            floating point.
        target: same shape as ``pred``, values in ``[0, 1]`` (soft targets allowed).
        from_logits: ``pred`` holds logits (``True``, numerically safest) or probabilities.
        weight: optional per-element weights broadcastable to ``pred``.
        mask: optional bool tensor broadcastable to ``pred``; ``False`` elements are left out
            of both the sum and the count of ``"mean"`` and read 0 under ``"none"``.
        eps: probabilities are clamped to ``[eps, 1 - eps]`` (``from_logits=False`` only), so
            the loss of one element is at most ``-log(eps)`` (16.1 for the default) and the
            gradient stays finite at ``p = 0`` and ``p = 1``.
        reduction: ``"none"`` (shape of ``pred``), ``"mean"`` (``sum(w*l)/sum(w)``) or
            ``"sum"``.

    Returns:
        The loss; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-tensor or non-floating ``pred``/``target``, non-bool ``mask``.
        ValueError: shape mismatch, bad ``weight``/``mask``/``reduction``/``eps``, or (CPU,
            ``from_logits=False``) probabilities outside ``[0, 1]``.

    Equals ``torch.nn.functional.binary_cross_entropy_with_logits`` (logits) and
    ``binary_cross_entropy`` (probabilities away from 0 and 1), which it calls for logits.
    With a ``weight``, torch's ``"mean"`` is ``mean(w * l)``; losskit's is ``sum(w*l)/sum(w)``.

    Example:
        >>> import torch
        >>> # the seed's worked example (corrected): sigmoid outputs and labels
        >>> p, y = torch.tensor([0.39, 0.22, 0.64]), torch.tensor([0.0, 1.0, 1.0])
        >>> round(bce_loss(p, y, from_logits=False).item(), 4)
        0.8182
        >>> bce_loss(torch.tensor([100.0, -100.0]), torch.tensor([0.0, 0.0]), reduction="none")
        tensor([100.,   0.])
    """
    fn = "bce_loss"
    from_logits = _check_from_logits(fn, from_logits)
    eps = _check_eps(fn, eps)
    pred, target, weight, mask = _check_binary(fn, pred, target, weight, mask, reduction)
    out_dtype = pred.dtype
    work = compute_dtype(pred)
    x, y = pred.to(work), _masked_target(target.to(work), mask)
    if from_logits:
        if weight is None and mask is None and reduction != "none" and x.numel() > 0:
            # torch's own fused kernels for the common case
            return TF.binary_cross_entropy_with_logits(x, y, reduction=reduction).to(out_dtype)
        loss = TF.binary_cross_entropy_with_logits(x, y, reduction="none")
    else:
        _check_probabilities(fn, pred)
        nlp, nl1mp = _neg_log_probs(x, False, eps)
        loss = torch.lerp(nl1mp, nlp, y)  # y (-log p) + (1 - y) (-log(1 - p))
    return _finish(fn, loss, reduction, weight, mask, out_dtype)


def weighted_bce_loss(
    pred: Tensor,
    target: Tensor,
    *,
    pos_weight: float | Tensor,
    from_logits: bool = True,
    weight: Tensor | None = None,
    mask: Tensor | None = None,
    eps: float = 1e-7,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Weighted binary cross-entropy, ``l = -[beta y log p + (1 - y) log(1 - p)]``.

    ``beta = pos_weight > 1`` boosts rare positives (e.g. ``#negatives / #positives``), ``< 1``
    damps them. It must be tuned by hand for each data set (SPEC.md section 3); see
    :func:`balanced_bce_loss` for a beta read off each target.

    Args:
        pos_weight: ``beta``, a number ``>= 0`` or a tensor broadcastable to ``pred`` without
            enlarging it (one value per class: shape ``(C,)`` for ``(N, C)`` inputs,
            ``(C, 1, 1)`` for ``(N, C, H, W)``).
        Others as :func:`bce_loss`.

    ``pos_weight`` is part of the loss, not of the reduction: ``"mean"`` still divides by the
    number of (unmasked, ``weight``-ed) elements, as torch does.

    Returns and Raises as :func:`bce_loss`. Equals
    ``torch.nn.functional.binary_cross_entropy_with_logits(pos_weight=...)``.

    Example:
        >>> import torch
        >>> x, y = torch.tensor([0.0, 0.0]), torch.tensor([1.0, 0.0])
        >>> weighted_bce_loss(x, y, pos_weight=3.0, reduction="none")  # 3 ln 2, ln 2
        tensor([2.0794, 0.6931])
    """
    fn = "weighted_bce_loss"
    from_logits = _check_from_logits(fn, from_logits)
    eps = _check_eps(fn, eps)
    pred, target, weight, mask = _check_binary(fn, pred, target, weight, mask, reduction)
    if isinstance(pos_weight, Tensor):
        pw = check_weight(
            fn, check_floating(fn, "pos_weight", pos_weight), pred.shape, name="pos_weight"
        )
        check_same_device(fn, ("pred", pred), ("pos_weight", pw))
    else:
        pw = check_positive(fn, "pos_weight", pos_weight, allow_zero=True)
    out_dtype = pred.dtype
    work = compute_dtype(pred)
    x, y = pred.to(work), _masked_target(target.to(work), mask)
    if isinstance(pw, Tensor):
        pw = pw.to(work)
    if from_logits:
        pwt = pw if isinstance(pw, Tensor) else x.new_full((), pw)
        if weight is None and mask is None and reduction != "none" and x.numel() > 0:
            return TF.binary_cross_entropy_with_logits(
                x, y, pos_weight=pwt, reduction=reduction
            ).to(out_dtype)
        loss = TF.binary_cross_entropy_with_logits(x, y, pos_weight=pwt, reduction="none")
    else:
        _check_probabilities(fn, pred)
        nlp, nl1mp = _neg_log_probs(x, False, eps)
        loss = torch.lerp(nl1mp, pw * nlp, y)
    return _finish(fn, loss, reduction, weight, mask, out_dtype)


def balanced_bce_loss(
    pred: Tensor,
    target: Tensor,
    *,
    per_image: bool = True,
    from_logits: bool = True,
    weight: Tensor | None = None,
    mask: Tensor | None = None,
    eps: float = 1e-7,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Class-balanced binary cross-entropy of HED (Xie and Tu, "Holistically-Nested Edge
    Detection", ICCV 2015, arXiv:1504.06375).

    ``l = -[beta y log p + (1 - beta) (1 - y) log(1 - p)]`` with
    ``beta = |Y-| / |Y| = 1 - |Y+| / |Y|`` read off the target: the fraction of negative
    pixels. Rare positives get the large weight ``beta`` and the many negatives the small
    ``1 - beta``, with no hand tuning. Equivalently
    ``(1 - beta) * BCEWithLogits(pos_weight=beta / (1 - beta))``.

    Args:
        pred: logits (or probabilities with ``from_logits=False``), shape ``(N, ...)`` with
            at least two dimensions when ``per_image``.
        target: same shape, values in ``[0, 1]``; ``|Y+|`` is ``sum(target)``.
        per_image: one ``beta`` per sample (over all dimensions but the first, as in HED) or,
            if ``False``, one for the whole batch.
        mask: optional bool tensor; masked elements count neither in ``beta`` nor in the loss.
        Others as :func:`bce_loss`.

    ``beta`` is a constant of the target (no gradient flows through it). An image with no
    positive gets ``beta = 1`` (its negatives cost nothing); one that is all positive gets
    ``beta = 0``. ``"mean"`` divides by the number of (unmasked, weighted) elements.

    Returns and Raises as :func:`bce_loss`; also ``ValueError`` for ``per_image`` with a
    one-dimensional ``pred``.

    Example:
        >>> import torch
        >>> y = torch.tensor([[1.0, 0.0, 0.0, 0.0]])  # beta = 3/4
        >>> balanced_bce_loss(torch.zeros(1, 4), y, reduction="none")  # .75 ln 2, .25 ln 2
        tensor([[0.5199, 0.1733, 0.1733, 0.1733]])
    """
    fn = "balanced_bce_loss"
    from_logits = _check_from_logits(fn, from_logits)
    eps = _check_eps(fn, eps)
    if not isinstance(per_image, bool):
        raise TypeError(f"{fn}: per_image must be a bool; got {type(per_image).__name__}")
    pred, target, weight, mask = _check_binary(fn, pred, target, weight, mask, reduction)
    if per_image and pred.dim() < 2:
        raise ValueError(
            f"{fn}: per_image=True needs pred of shape (N, ...) with at least 2 dimensions; "
            f"got shape {tuple(pred.shape)} (use per_image=False for one beta over all elements)"
        )
    out_dtype = pred.dtype
    work = compute_dtype(pred)
    x, y = pred.to(work), _masked_target(target.to(work), mask)

    # w_neg = 1 - beta = |Y+| / |Y| (kept elements only), from the detached target
    yd = y.detach()
    dims = tuple(range(1, x.dim())) if per_image else tuple(range(x.dim()))
    if mask is None:
        count = 1
        for d in dims:
            count *= x.shape[d]
        w_neg = yd.sum(dims, keepdim=True) / max(float(count), 1.0)
    else:
        m = mask.to(work).expand_as(x)
        w_neg = (yd * m).sum(dims, keepdim=True) / m.sum(dims, keepdim=True).clamp_min(1.0)
    beta = 1.0 - w_neg

    if from_logits and not y.requires_grad:
        # torch's fused form: (1 - beta) * BCEWithLogits(pos_weight = beta / (1 - beta)). An
        # image without positives has 1 - beta = 0: its pos_weight is clamped to a finite
        # 1/tiny, harmless because its positive term is 0 (y = 0 there) and its weight is 0.
        # (Not when the target needs a gradient: there the 0 weight would also zero the
        # target's gradient, whose true value is beta (-log p) - (1 - beta)(-log(1 - p)).)
        pw = beta / w_neg.clamp_min(torch.finfo(work).tiny)
        if weight is None and mask is None and reduction != "none" and x.numel() > 0:
            return TF.binary_cross_entropy_with_logits(
                x, y, weight=w_neg, pos_weight=pw, reduction=reduction
            ).to(out_dtype)
        loss = TF.binary_cross_entropy_with_logits(
            x, y, weight=w_neg, pos_weight=pw, reduction="none"
        )
    else:
        if not from_logits:
            _check_probabilities(fn, pred)
        nlp, nl1mp = _neg_log_probs(x, from_logits, eps)
        loss = torch.lerp(w_neg * nl1mp, beta * nlp, y)
    return _finish(fn, loss, reduction, weight, mask, out_dtype)


# --------------------------------------------------------------------------------------------
# sigmoid focal loss: analytic backward, blocked on CPU
# --------------------------------------------------------------------------------------------


def _modulators(
    p: Tensor, q: Tensor, nlp: Tensor, nl1mp: Tensor, gamma: float
) -> tuple[Tensor, Tensor] | None:
    """``((1 - p)^gamma, p^gamma)``; None for gamma = 0.

    For a general gamma, ``(1 - p)^gamma = exp(-gamma softplus(x))``: no ``pow`` of a value
    that may be 0, and cheaper than ``pow``."""
    if gamma == 0.0:
        return None
    if gamma == 1.0:
        return q, p
    if gamma == 2.0:
        return q * q, p * p
    return torch.exp(nl1mp * -gamma), torch.exp(nlp * -gamma)


def _focal_parts(
    x: Tensor, gamma: float
) -> tuple[Tensor, Tensor, Tensor, Tensor, tuple[Tensor, Tensor] | None]:
    # softplus(+-x) = max(+-x, 0) + log1p(exp(-|x|)): one exp and one log1p serve both signs
    l1pe = torch.exp(x.abs().neg_()).log1p_()
    nlp = x.clamp_max(0.0).neg_().add_(l1pe)  # -log p       = softplus(-x)
    nl1mp = x.clamp_min(0.0).add_(l1pe)  # -log(1 - p) = softplus(x)
    p = torch.sigmoid(x)
    q = torch.sigmoid(x.neg())  # 1 - p without cancellation
    return nlp, nl1mp, p, q, _modulators(p, q, nlp, nl1mp, gamma)


def _alpha_pair(
    alpha: float | Tensor | None,
) -> tuple[float | Tensor | None, float | Tensor | None]:
    if alpha is None:
        return None, None
    return alpha, 1.0 - alpha


def _scale(t: Tensor, factor: float | Tensor | None) -> Tensor:
    return t if factor is None else t.mul_(factor)


def _focal_block_loss(
    x: Tensor, y: Tensor, alpha: float | Tensor | None, gamma: float
) -> tuple[Tensor, Tensor]:
    """Per-element positive and negative terms: ``fpos = a (1-p)^g (-log p)``,
    ``fneg = (1-a) p^g (-log(1-p))``."""
    nlp, nl1mp, _, _, mods = _focal_parts(x, gamma)
    ap, an = _alpha_pair(alpha)
    fpos, fneg = (nlp, nl1mp) if mods is None else (nlp.mul_(mods[0]), nl1mp.mul_(mods[1]))
    return _scale(fpos, ap), _scale(fneg, an)


def _focal_block_grad(
    x: Tensor, y: Tensor, alpha: float | Tensor | None, gamma: float, need_y: bool
) -> tuple[Tensor, Tensor | None]:
    """``dl/dx`` (and ``dl/dy`` if asked) of ``l = y fpos + (1 - y) fneg``.

    With ``p = sigmoid(x)``, ``q = 1 - p``:
    ``d fpos/dx = -a q^g (g p (-log p) + q)`` and ``d fneg/dx = (1-a) p^g (g q (-log q) + p)``.
    Neither carries ``q^(g-1)``, so every gamma >= 0 is finite at ``p = 0`` and ``p = 1``.
    """
    nlp, nl1mp, p, q, mods = _focal_parts(x, gamma)
    ap, an = _alpha_pair(alpha)
    gpos = torch.addcmul(q, p, nlp, value=gamma)
    gneg = torch.addcmul(p, q, nl1mp, value=gamma)
    gy = None
    if mods is not None:
        if need_y:
            gy = (nlp * mods[0], nl1mp * mods[1])
        gpos.mul_(mods[0])
        gneg.mul_(mods[1])
    elif need_y:
        gy = (nlp, nl1mp)
    gpos = gpos.neg_() if ap is None else gpos.mul_(-ap)
    _scale(gneg, an)
    gx = torch.lerp(gneg, gpos, y)
    dy = None
    if gy is not None:
        dy = _scale(gy[0], ap).sub_(_scale(gy[1], an))
    return gx, dy


def _blocks(n: int, device: torch.device) -> list[tuple[int, int]]:
    """Index ranges of the blocks: one block under torch.compile (which fuses the element-wise
    work itself), cache-sized blocks on CPU, large ones on accelerators."""
    size = _FOCAL_BLOCK if device.type == "cpu" else _FOCAL_BLOCK_ACCELERATOR
    if _compiling() or n <= size:
        return [(0, n)]
    return [(i, min(i + size, n)) for i in range(0, n, size)]


def _take(alpha: float | Tensor | None, a: int, b: int) -> float | Tensor | None:
    return alpha[a:b] if isinstance(alpha, Tensor) else alpha


class _SigmoidFocal(torch.autograd.Function):
    """Sigmoid focal loss with an analytic backward.

    ``forward(x, y, alpha, gamma, reduce_sum)`` takes flat ``x``/``y`` (and a flat ``alpha``
    of the same length, a number, or None) and returns the per-element loss, or its sum.
    Only ``x``, ``y`` (and a tensor ``alpha``) are saved; the backward recomputes the
    sigmoid and softplus terms, so nothing of the size of the input is kept in between.
    """

    @staticmethod
    def forward(ctx, x: Tensor, y: Tensor, alpha, gamma: float, reduce_sum: bool) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, y, alpha if isinstance(alpha, Tensor) else None)
        ctx.alpha = None if isinstance(alpha, Tensor) else alpha
        ctx.gamma = gamma
        ctx.reduce_sum = reduce_sum
        blocks = _blocks(x.numel(), x.device)
        if reduce_sum:
            total = x.new_zeros(())
            for a, b in blocks:
                fpos, fneg = _focal_block_loss(x[a:b], y[a:b], _take(alpha, a, b), gamma)
                total = total + torch.lerp(fneg, fpos, y[a:b]).sum()
            return total
        if len(blocks) == 1:
            fpos, fneg = _focal_block_loss(x, y, alpha, gamma)
            return torch.lerp(fneg, fpos, y)
        out = torch.empty_like(x)
        for a, b in blocks:
            fpos, fneg = _focal_block_loss(x[a:b], y[a:b], _take(alpha, a, b), gamma)
            torch.lerp(fneg, fpos, y[a:b], out=out[a:b])
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        x, y, alpha_t = ctx.saved_tensors
        alpha = alpha_t if alpha_t is not None else ctx.alpha
        need_x, need_y = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        blocks = _blocks(x.numel(), x.device)
        gx = torch.empty_like(x) if need_x else None
        gy = torch.empty_like(y) if need_y else None
        for a, b in blocks:
            g = grad_out if ctx.reduce_sum else grad_out[a:b]
            dx, dy = _focal_block_grad(x[a:b], y[a:b], _take(alpha, a, b), ctx.gamma, need_y)
            if gx is not None:
                torch.mul(dx, g, out=gx[a:b])
            if gy is not None and dy is not None:
                torch.mul(dy, g, out=gy[a:b])
        return gx, gy, None, None, None


def _focal_alpha(fn: str, alpha: object, pred: Tensor) -> float | Tensor | None:
    if alpha is None:
        return None
    if isinstance(alpha, Tensor):
        alpha = check_floating(fn, "alpha", alpha)
        check_same_device(fn, ("pred", pred), ("alpha", alpha))
        if alpha.dim() == 1 and pred.dim() >= 2:
            if alpha.shape[0] != pred.shape[1]:
                raise ValueError(
                    f"{fn}: a 1-D alpha holds one value per class (dim 1 of pred) and must have "
                    f"length {pred.shape[1]}; got {alpha.shape[0]}"
                )
            alpha = alpha.reshape(-1, *([1] * (pred.dim() - 2)))
        alpha = check_weight(fn, alpha, pred.shape, name="alpha")
        if alpha.device.type == "cpu" and alpha.numel() and not _compiling():
            lo, hi = float(alpha.min()), float(alpha.max())
            if lo < 0.0 or hi > 1.0:
                raise ValueError(
                    f"{fn}: alpha must lie in [0, 1]; got values in [{lo:.4g}, {hi:.4g}]"
                )
        return alpha
    return check_in_range(fn, "alpha", alpha, 0.0, 1.0)  # type: ignore[arg-type]


def focal_loss(
    pred: Tensor,
    target: Tensor,
    *,
    alpha: float | Tensor | None = 0.25,
    gamma: float = 2.0,
    from_logits: bool = True,
    weight: Tensor | None = None,
    mask: Tensor | None = None,
    eps: float = 1e-7,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Sigmoid focal loss (Lin, Goyal, Girshick, He and Dollar, "Focal Loss for Dense Object
    Detection", ICCV 2017, arXiv:1708.02002), for binary and multi-label targets.

    ``l = -[alpha (1 - p)^gamma y log p + (1 - alpha) p^gamma (1 - y) log(1 - p)]``,
    ``p = sigmoid(x)``; for a 0/1 target this is the paper's
    ``-alpha_t (1 - p_t)^gamma log p_t``. The factor ``(1 - p_t)^gamma`` shrinks the loss of
    easy examples: at ``gamma = 2`` an example with ``p_t = 0.9`` costs 100 times less than
    under cross-entropy, one with ``p_t = 0.1`` only 1.23 times less. ``gamma = 0`` with
    ``alpha=None`` is :func:`bce_loss`.

    Args:
        pred: logits (or probabilities with ``from_logits=False``), any shape.
        target: same shape, values in ``[0, 1]``.
        alpha: weight of the positive term, ``1 - alpha`` that of the negative term (the
            paper's ``alpha_t``; 0.25 with ``gamma = 2`` in the paper). A number in
            ``[0, 1]``, ``None`` (no weighting, both terms 1), or a tensor of values in
            ``[0, 1]`` broadcastable to ``pred``; a 1-D tensor of length ``C`` is one value per
            class along dim 1 of ``pred`` (``(N, C)`` or ``(N, C, H, W)``).
        gamma: focusing parameter, ``>= 0``.
        Others as :func:`bce_loss`.

    Soft targets mix the two terms linearly (the seed's formula, SPEC.md section 3);
    torchvision's ``sigmoid_focal_loss`` modulates by ``(1 - p_t)^gamma`` with
    ``p_t = p y + (1 - p)(1 - y)`` instead, which agrees for 0/1 targets only. ``"mean"``
    divides by the number of (unmasked, weighted) elements; ``alpha`` is part of the loss.

    Returns and Raises as :func:`bce_loss`; also ``ValueError`` for ``alpha`` outside
    ``[0, 1]`` or a per-class ``alpha`` of the wrong length.

    Equals ``torchvision.ops.sigmoid_focal_loss`` for 0/1 targets (gradient included). On CPU
    it computes in cache-sized blocks with an analytic backward: on ``(16, 80, 128, 128)``
    logits, several times faster than torchvision and close to
    ``binary_cross_entropy_with_logits`` (``benchmarks/bench_classification.py``).

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
    from_logits = _check_from_logits(fn, from_logits)
    eps = _check_eps(fn, eps)
    gamma = check_positive(fn, "gamma", gamma, allow_zero=True)
    pred, target, weight, mask = _check_binary(fn, pred, target, weight, mask, reduction)
    a = _focal_alpha(fn, alpha, pred)
    out_dtype = pred.dtype
    work = compute_dtype(pred)
    x, y = pred.to(work), _masked_target(target.to(work), mask)

    if not from_logits:
        # probabilities: the formula as written, on the clamped probability (autograd)
        _check_probabilities(fn, pred)
        nlp, nl1mp = _neg_log_probs(x, False, eps)
        p = torch.exp(-nlp)
        q = 1.0 - p  # p <= 1 - eps: q >= eps, so q^gamma has a finite gradient
        fpos, fneg = nlp, nl1mp
        if gamma != 0.0:
            fpos, fneg = fpos * q.pow(gamma), fneg * p.pow(gamma)
        if a is not None:
            fpos, fneg = fpos * a, fneg * (1.0 - a)
        return _finish(fn, torch.lerp(fneg, fpos, y), reduction, weight, mask, out_dtype)

    fused = weight is None and mask is None and reduction != "none" and not isinstance(a, Tensor)
    if fused:
        total = _SigmoidFocal.apply(x.reshape(-1), y.reshape(-1), a, gamma, True)
        if reduction == "mean":
            n = x.numel()
            total = total * 0.0 if n == 0 else total / n
        return total.to(out_dtype)
    af = a.to(work).expand(x.shape).reshape(-1) if isinstance(a, Tensor) else a
    loss = _SigmoidFocal.apply(x.reshape(-1), y.reshape(-1), af, gamma, False).view(x.shape)
    return _finish(fn, loss, reduction, weight, mask, out_dtype)


# --------------------------------------------------------------------------------------------
# softmax losses: class-index targets with ignore_index
# --------------------------------------------------------------------------------------------


def _check_class_weight(fn: str, w: object, num_classes: int, name: str) -> Tensor | None:
    if w is None:
        return None
    w = check_floating(fn, name, w)
    if w.shape != (num_classes,):
        raise ValueError(
            f"{fn}: {name} must have shape ({num_classes},), one value per class; got {tuple(w.shape)}"
        )
    return w


def _check_index_target(fn: str, logits: Tensor, target: Tensor, ignore_index: int) -> None:
    check_integer(fn, "target", target)
    want = (logits.shape[0], *logits.shape[2:])
    if tuple(target.shape) != want:
        raise ValueError(
            f"{fn}: class-index target must have shape {want} for logits of shape "
            f"{tuple(logits.shape)}; got {tuple(target.shape)}"
        )
    if not _compiling():
        check_labels(fn, target, logits.shape[1], name="target", ignore_index=ignore_index)


def _check_logits(fn: str, logits: object) -> Tensor:
    logits = check_floating(fn, "logits", logits)
    if logits.dim() < 2:
        raise ValueError(
            f"{fn}: logits must have shape (N, C) or (N, C, d1, ...); got shape {tuple(logits.shape)}"
        )
    return logits


def softmax_cross_entropy(
    logits: Tensor,
    target: Tensor,
    *,
    class_weight: Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Softmax cross-entropy, ``l = -sum_j y_j log softmax(z)_j``, for mutually exclusive
    classes (a digit is a 3 *or* an 8). Its gradient is ``softmax(z) - y``.

    The computation is ``torch.nn.functional.cross_entropy``'s; losskit adds its checks,
    float32 compute for half inputs and its reduction rules.

    Args:
        logits: ``(N, C)`` or ``(N, C, d1, ...)``, floating point.
        target: class indices of shape ``(N,)`` / ``(N, d1, ...)`` (integer), or class
            probabilities of the shape of ``logits`` (floating point).
        class_weight: optional ``(C,)`` weight of each class: sample ``n`` is weighted by
            ``w[y_n]`` (index targets) or, with probability targets, each class term by ``w_c``.
        ignore_index: index targets equal to it are left out of the sum and the count and read
            0 under ``"none"`` (index targets only, as in torch).
        label_smoothing: ``eps`` in ``[0, 1]``: the target becomes ``(1 - eps) y + eps / C``
            (Szegedy et al., "Rethinking the Inception Architecture for Computer Vision",
            CVPR 2016, arXiv:1512.00567).
        reduction: ``"none"`` (shape ``(N, d1, ...)``), ``"mean"`` or ``"sum"``.

    ``"mean"`` divides by the total weight: ``sum_n w[y_n]`` over non-ignored targets (the
    count without ``class_weight``), exactly torch's rule for index targets. For probability
    targets it divides by the number of samples, or, with ``class_weight``, by
    ``sum_n sum_c w_c y_nc``, so that one-hot probability targets give the same value as index
    targets. torch divides by the number of samples there (a deliberate difference). An
    empty batch, or every target ignored, gives 0 where torch gives NaN.

    Returns:
        The loss; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``/``class_weight``, or a target that is neither
            integer nor floating.
        ValueError: bad shapes, labels outside ``[0, C)`` (other than ``ignore_index``;
            checked on CPU), ``label_smoothing`` outside ``[0, 1]``, unknown ``reduction``.

    Example:
        >>> import torch
        >>> z = torch.tensor([[2.0, 1.0, 1.0, 1.0]])
        >>> z.softmax(1)  # the seed's table: 47.54 %, 17.49 % ...
        tensor([[0.4754, 0.1749, 0.1749, 0.1749]])
        >>> softmax_cross_entropy(z, torch.tensor([0]))  # -ln 0.4754
        tensor(0.7437)
    """
    fn = "softmax_cross_entropy"
    logits = _check_logits(fn, logits)
    target = check_tensor(fn, "target", target)
    check_reduction(fn, reduction)
    ls = check_in_range(fn, "label_smoothing", label_smoothing, 0.0, 1.0)
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise TypeError(f"{fn}: ignore_index must be an int; got {type(ignore_index).__name__}")
    num_classes = logits.shape[1]
    cw = _check_class_weight(fn, class_weight, num_classes, "class_weight")
    named = [("logits", logits), ("target", target)] + (
        [("class_weight", cw)] if cw is not None else []
    )
    check_same_device(fn, *named)
    out_dtype = logits.dtype
    work = compute_dtype(logits)
    z = logits.to(work)
    w = None if cw is None else cw.to(work)

    if target.is_floating_point():
        check_same_shape(fn, logits, target, names=("logits", "probability target"))
        y = target.to(work)
        loss = TF.cross_entropy(z, y, weight=w, label_smoothing=ls, reduction="none")
        if reduction != "mean" or w is None:
            return reduce_loss(loss, reduction, fn=fn).to(out_dtype)
        shape = (1, num_classes) + (1,) * (z.dim() - 2)
        sample_w = (y.detach() * w.view(shape)).sum(1)
        return _safe_div(loss.sum(), sample_w.sum()).to(out_dtype)

    _check_index_target(fn, z, target, ignore_index)
    if reduction == "none":
        return TF.cross_entropy(
            z, target, weight=w, ignore_index=ignore_index, label_smoothing=ls, reduction="none"
        ).to(out_dtype)
    total = TF.cross_entropy(
        z, target, weight=w, ignore_index=ignore_index, label_smoothing=ls, reduction="sum"
    )
    if reduction == "sum":
        return total.to(out_dtype)
    valid = target != ignore_index
    if w is None:
        denom = valid.sum().to(work)
    else:
        denom = torch.where(valid, w[torch.where(valid, target, 0)], 0.0).sum()
    return _safe_div(total, denom).to(out_dtype)


def _safe_div(total: Tensor, denom: Tensor) -> Tensor:
    """``total / denom``, or 0 (attached to the graph) when ``denom`` is 0; no host sync."""
    ok = denom > 0
    return torch.where(ok, total / torch.where(ok, denom, torch.ones_like(denom)), total * 0.0)


def softmax_focal_loss(
    logits: Tensor,
    target: Tensor,
    *,
    alpha: Tensor | None = None,
    gamma: float = 2.0,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Softmax focal loss for mutually exclusive classes (the multi-class form of Lin et al.,
    "Focal Loss for Dense Object Detection", ICCV 2017, arXiv:1708.02002).

    ``l = -alpha_y (1 - p_y)^gamma log p_y`` with ``p = softmax(z)`` and ``y`` the target
    class. ``gamma = 0`` and no ``alpha`` is :func:`softmax_cross_entropy`.

    Args:
        logits: ``(N, C)`` or ``(N, C, d1, ...)``.
        target: integer class indices, ``(N,)`` or ``(N, d1, ...)``.
        alpha: optional ``(C,)`` tensor, the weight of each target class. A single number is
            refused: it would only scale the loss (MONAI reads a scalar as
            ``[1 - alpha, alpha, ..., alpha]``, background first; pass that tensor for its
            behaviour).
        gamma: focusing parameter, ``>= 0``.
        ignore_index: targets equal to it are left out of the sum and the count.
        reduction: ``"none"`` (shape ``(N, d1, ...)``), ``"mean"`` (over non-ignored targets;
            ``alpha`` is part of the loss, not of the count) or ``"sum"``.

    ``(1 - p_y)^gamma`` is computed as ``max(-expm1(log p_y), tiny)^gamma``: accurate when
    ``p_y`` is near 1 and finite in value and gradient for every ``gamma >= 0``, even when
    ``p_y`` rounds to exactly 1 (where ``(1 - p)^gamma`` with ``gamma < 1`` has an infinite
    derivative).

    Returns:
        The loss; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``/``alpha``, a float ``alpha``, non-integer target.
        ValueError: bad shapes, labels out of range (CPU), negative ``gamma``.

    Example:
        >>> import torch
        >>> z, y = torch.tensor([[2.0, 1.0, 1.0, 1.0]]), torch.tensor([0])
        >>> softmax_focal_loss(z, y, gamma=0.0)  # = cross-entropy, -ln 0.4754
        tensor(0.7437)
        >>> softmax_focal_loss(z, y)  # (1 - 0.4754)^2 * 0.7437
        tensor(0.2047)
    """
    fn = "softmax_focal_loss"
    logits = _check_logits(fn, logits)
    target = check_tensor(fn, "target", target)
    check_reduction(fn, reduction)
    gamma = check_positive(fn, "gamma", gamma, allow_zero=True)
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise TypeError(f"{fn}: ignore_index must be an int; got {type(ignore_index).__name__}")
    if alpha is not None and not isinstance(alpha, Tensor):
        raise TypeError(
            f"{fn}: alpha must be None or a (C,) tensor of per-class weights; got "
            f"{type(alpha).__name__} (a single number only scales the loss; MONAI's scalar alpha "
            "means tensor([1 - alpha, alpha, ..., alpha]))"
        )
    num_classes = logits.shape[1]
    al = _check_class_weight(fn, alpha, num_classes, "alpha")
    _check_index_target(fn, logits, target, ignore_index)
    named = [("logits", logits), ("target", target)] + ([("alpha", al)] if al is not None else [])
    check_same_device(fn, *named)
    out_dtype = logits.dtype
    work = compute_dtype(logits)
    z = logits.to(work)

    valid = target != ignore_index
    safe = torch.where(valid, target, 0)
    logp = torch.log_softmax(z, 1).gather(1, safe.unsqueeze(1)).squeeze(1)  # log p_y
    loss = -logp
    if gamma != 0.0:
        tiny = torch.finfo(work).tiny
        loss = loss * torch.clamp_min(-torch.expm1(logp), tiny).pow(gamma)
    if al is not None:
        loss = loss * al.to(work)[safe]
    loss = torch.where(valid, loss, 0.0)
    return reduce_loss(loss, reduction, weight=valid.to(work), fn=fn).to(out_dtype)
