"""Dense-detection classification losses: quality focal loss, varifocal loss, Gaussian focal
loss (heatmaps) and distribution focal loss; re-exported by :mod:`losskit.functional.classification`.

Each takes logits by default (``from_logits=False``: probabilities, clamped to
``[eps, 1 - eps]`` as in :func:`losskit.functional.bce_loss`) and accepts ``avg_factor``,
dense detection's normaliser: with it, ``"mean"`` is the summed loss divided by a count the
caller gives (the number of positives; :func:`all_reduce_avg_factor` averages it over ranks),
clamped below at 1 so that a batch without positives keeps a finite loss.

Quality focal loss and varifocal loss are a binary cross-entropy times a modulating factor;
on logits without a tensor ``alpha`` they run through one hand-written autograd function
(:class:`_ModulatedBCE`): the forward computes the loss and, when an input needs it, the
analytic gradient beside it, block by block (cache-sized blocks on CPU, sharing their work
buffers), and the backward scales the held gradient by the upstream one (a second backward
pass through the same graph recomputes it). Under ``create_graph=True`` the backward
differentiates the plain formula instead (exact second derivatives).
"""

from __future__ import annotations

import torch
import torch.nn.functional as TF
from torch import Tensor

from .._api import DEFAULT, LossModule, checked
from .._autograd import fused_apply, partial_inputs, traced
from .._checks import (
    AvgFactor,
    FocalAlpha,
    Mask,
    NonNegative,
    ProbabilityEps,
    Weight,
    check_broadcast,
    check_floating,
    check_min_ndim,
    check_same_device,
    compute_dtype,
    kept_range,
)
from .._powers import power
from .._reduction import Reduction, exclusion, finish_avg, mean_over_ranks, zero_excluded
from .classification import (
    _binary_inputs,
    _blockwise,
    _by_sign,
    _exp_sigmoids_of_abs,
    _focal_alpha,
    _in_shape,
    _masked,
    _neg_log_probs,
    _Scratch,
    _span,
)

__all__ = [
    "quality_focal_loss",
    "varifocal_loss",
    "gaussian_focal_loss",
    "distribution_focal_loss",
    "all_reduce_avg_factor",
    "QualityFocalLoss",
    "VarifocalLoss",
    "GaussianFocalLoss",
    "DistributionFocalLoss",
]


def all_reduce_avg_factor(avg_factor: Tensor | float) -> Tensor:
    """The ``avg_factor`` of every rank, averaged over the default process group.

    Formula:
        n_bar = (1 / R) sum_r n_r  (all_reduce SUM, divided by the world size R)

    Data-parallel training averages the ranks' gradients, so when every rank divides its
    summed loss ``S_r`` by ``n_bar``, the step is that of ``sum_r S_r / sum_r n_r``: the whole
    global batch's loss over the global number of positives (mmdetection's
    ``reduce_mean(num_pos)``). Outside ``torch.distributed`` (not initialised, or one rank)
    it returns the count itself. The count is detached. Call it on every rank (it is a
    collective).

    Args:
        avg_factor: this rank's count (of positives), a number or a one-element tensor; a
            tensor keeps its device (a CPU tensor for gloo, a CUDA tensor for NCCL), a number
            goes to the backend's device.

    Returns:
        A 0-dim float64 tensor (exact for any realistic count): the mean count over the ranks.

    Example:
        >>> import torch
        >>> all_reduce_avg_factor(torch.tensor(7))  # one process: the count itself
        tensor(7., dtype=torch.float64)
    """
    return mean_over_ranks(avg_factor)


# --------------------------------------------------------------------------------------------
# modulated binary cross-entropy: l = BCE(x, y) m(x, y)
# --------------------------------------------------------------------------------------------


def _abs_pow(d: Tensor, gamma: float) -> Tensor:
    """``|d|^gamma``, finite in value and gradient for every ``gamma >= 0`` (at ``d = 0`` with
    ``gamma < 1`` the gradient is that at ``|d| = tiny``: large, finite)."""
    if gamma == 0.0:
        return torch.ones_like(d)
    if gamma == 1.0:
        return d.abs()
    if gamma == 2.0:
        return d * d
    return power(d.abs().clamp_min(torch.finfo(d.dtype).tiny), gamma)


def _p_pow(nlp: Tensor, gamma: float, p: Tensor | None = None) -> Tensor:
    """``p^gamma = exp(-gamma (-log p))``; ``p * p`` for gamma = 2 when ``p`` is given."""
    if gamma == 0.0:
        return torch.ones_like(nlp)
    if p is not None and gamma == 2.0:
        return p * p
    return torch.exp(nlp * -gamma)


def _qfl_plain(x: Tensor, y: Tensor, gamma: float) -> Tensor:
    bce = torch.lerp(TF.softplus(x), TF.softplus(-x), y)
    return bce * _abs_pow(y - torch.sigmoid(x), gamma)


def _vfl_plain(
    x: Tensor, y: Tensor, alpha: float | Tensor | None, gamma: float, iou_weighted: bool
) -> Tensor:
    nlp, nl1mp = TF.softplus(-x), TF.softplus(x)
    bce = torch.lerp(nl1mp, nlp, y)
    neg = _p_pow(nlp, gamma)
    if alpha is not None:
        neg = neg * alpha
    pos = y if iou_weighted else torch.ones_like(y)
    return bce * torch.where(y > 0, pos, neg)


def _gaussian_plain(
    nlp: Tensor, nl1mp: Tensor, y: Tensor, gamma: float, beta: float
) -> Tensor:
    """The Gaussian focal loss per element from ``-log p``, ``-log(1 - p)`` and the heatmap
    (plain differentiable operations): ``(1 - p)^g (-log p)`` at the peaks (``y = 1``),
    ``(1 - y)^beta p^g (-log(1 - p))`` elsewhere."""
    peak = y == 1.0
    pos = _p_pow(nl1mp, gamma) * nlp  # (1 - p)^gamma (-log p)
    neg = _p_pow(nlp, gamma) * nl1mp  # p^gamma (-log(1 - p))
    # (1 - y)^beta away from the peaks; the peaks read y = 0 there, so no pow of 0 is
    # differentiated (a beta < 1 would have an infinite slope at y = 1)
    reduce = power(1.0 - torch.where(peak, torch.zeros_like(y), y), beta)
    return torch.where(peak, pos, reduce * neg)


def _gaussian_block(
    x: Tensor, y: Tensor, gamma: float, beta: float, need_x: bool, need_y: bool, s: _Scratch,
    lo: Tensor | None, gxo: Tensor | None, gyo: Tensor | None,
) -> tuple[Tensor, Tensor | None, Tensor | None]:  # fmt: skip
    """One block of the Gaussian focal loss from logits (see :func:`_modulated_block` for
    the buffers): with ``p = sigmoid(x)``, ``q = sigmoid(-x)``, ``s_p = -log p =
    softplus(-x)``, ``s_n = -log(1 - p) = softplus(x)`` (one ``sigmoid`` and one ``log1p``
    for both, :func:`_exp_sigmoids_of_abs`) and ``w = (1 - y)^beta`` (the peaks read ``y = 0``):

    * peaks (``y = 1``): ``l = q^g s_p``, ``dl/dx = -q^g (g p s_p + q)``, ``dl/dy = 0``;
    * elsewhere: ``l = w p^g s_n``, ``dl/dx = w p^g (g q s_n + p)``,
      ``dl/dy = -beta (1 - y)^(beta - 1) p^g s_n``.

    The two cases are joined by ``lerp`` on a 0/1 float peak factor (exact at 0 and 1).
    ``q`` is ``sigmoid(-x)``, not ``1 - p``, so that ``q^g`` and the peaks' gradient keep
    their relative accuracy where ``p`` is near 1."""
    na = torch.abs(x, out=s.take()).neg_()
    e, big, small = _exp_sigmoids_of_abs(na, s.take(), s.take())  # exp(-|x|) into na
    l1 = torch.log1p(e, out=s.take())  # log(1 + exp(-|x|))
    sp = torch.neg(x, out=s.take()).clamp_min_(0.0).add_(l1)  # softplus(-x) = -log p
    b1 = torch.clamp_min(x, 0.0, out=s.take())
    sn = l1.add_(b1)  # softplus(x) = -log(1 - p)
    p, q = _by_sign(x, big, small, b1, e)
    peak = torch.eq(y, 1.0, out=s.take())  # 1.0 at the peaks, else 0.0
    # 1 - y with the peaks read as y = 0: (y peak) - y + 1, each step exact but the last
    omy = torch.mul(y, peak, out=s.take()).sub_(y).add_(1.0)
    pg = _p_pow(sp, gamma, p) if gamma != 2.0 else torch.mul(p, p, out=s.take())
    qg = _p_pow(sn, gamma, q) if gamma != 2.0 else torch.mul(q, q, out=s.take())
    w = power(omy, beta, out=s.take()) if beta != 0.0 else None
    # the two per-element losses: q^g s_p (peaks), w p^g s_n (elsewhere)
    lpos = torch.mul(qg, sp, out=s.take())
    wpg = pg if w is None else torch.mul(w, pg, out=w)  # w p^g
    lneg = torch.mul(wpg, sn, out=s.take())
    gx = gy = None
    if need_y:
        if beta != 0.0:  # -beta (1 - y)^(beta - 1) p^g s_n away from the peaks, 0 at them
            gy = power(omy, beta - 1.0, out=gyo if gyo is not None else s.take())
            gy.mul_(pg).mul_(sn).mul_(-beta)
            gy.addcmul_(gy, peak, value=-1.0)  # 0 at the peaks
        else:
            gy = torch.zeros_like(x) if gyo is None else gyo.zero_()
    if need_x:
        # peaks: -q^g (g p s_p + q); elsewhere: w p^g (g q s_n + p)
        gpos = torch.addcmul(q, p, sp, value=gamma, out=sp).mul_(qg).neg_()
        gneg = torch.addcmul(p, q, sn, value=gamma, out=q).mul_(wpg)
        gx = torch.lerp(gneg, gpos, peak, out=gxo)
    loss = torch.lerp(lneg, lpos, peak, out=lneg if lo is None else lo)
    return (loss.sum() if lo is None else loss), gx, gy


def _weighted(b: Tensor, m: Tensor, lo: Tensor | None) -> Tensor:
    """``b m`` into ``lo``, or its sum (one dot product) when ``lo`` is None."""
    return torch.dot(b, m) if lo is None else torch.mul(b, m, out=lo)


def _modulated_block(
    kind: str, x: Tensor, y: Tensor, gamma: float, alpha: float | None, iou_weighted: bool,
    need_x: bool, need_y: bool, s: _Scratch, lo: Tensor | None, gxo: Tensor | None,
    gyo: Tensor | None,
) -> tuple[Tensor, Tensor | None, Tensor | None]:  # fmt: skip
    """One block's per-element loss ``l = b m`` and, when asked, ``dl/dx`` and ``dl/dy``, from
    one evaluation of the shared terms, written into :class:`_Scratch` buffers and the
    outputs' slices (``lo``, ``gxo``, ``gyo``; see :func:`_blockwise`).

    ``b = BCE(x, y) = softplus(x) - x y``, ``p = sigmoid(x)``, ``q = 1 - p = sigmoid(-x)``,
    ``dp/dx = p q``, ``db/dx = p - y``, ``db/dy = -x``; ``softplus(+-x)`` from one ``sigmoid``
    and one ``log1p`` (``max(+-x, 0) + log1p(exp(-|x|))``, :func:`_exp_sigmoids_of_abs`).

    * quality focal, ``m = |d|^g`` with ``d = y - p``:
      ``dl/dx = -sign(d) |d|^(g-1) (d^2 + g p q b)`` (``-d (d^2 + 2 p q b)`` at ``g = 2``),
      ``dl/dy = -x m + g sign(d) |d|^(g-1) b``;
    * varifocal, ``m = y`` (or 1) where ``y > 0``, ``a p^g`` elsewhere (where ``y = 0``, so
      ``b = softplus(x)``): ``dl/dx = (p - y) m`` on the positives and
      ``a p^g (p + g q softplus(x))`` on the negatives; ``dl/dy = -x m + b [y > 0]
      [iou_weighted]``.

    The positives are selected by a 0/1 float mask and ``lerp`` (exact at 0 and 1): on CPU a
    ``where`` on a bool mask costs many times a float pass.
    """
    gx = gy = None
    if kind == "quality":
        # p and p q = sigmoid(|x|) sigmoid(-|x|) beside e = exp(-|x|) from one sigmoid (q is
        # not needed alone): p q keeps its relative accuracy near p = 1 (1 - p would cancel
        # there)
        na = torch.abs(x, out=s.take()).neg_()
        e, big, small = _exp_sigmoids_of_abs(na, s.take(), s.take())
        sp = torch.log1p(e, out=s.take()).add_(torch.clamp_min(x, 0.0, out=e))
        pos = torch.ge(x, 0.0, out=s.take())
        p = torch.lerp(small, big, pos, out=pos)
        pq = small.mul_(big)
        b = torch.addcmul(sp, x, y, value=-1.0, out=big)  # BCE(x, y) = softplus(x) - x y
        d = torch.sub(y, p, out=s.take())
        if gamma == 2.0:
            m = torch.mul(d, d, out=p)
            if need_x:
                gx = torch.mul(torch.addcmul(m, pq, b, value=2.0, out=pq), d, out=gxo).neg_()
            if need_y:
                gy = torch.mul(x, m, out=gyo).neg_().addcmul_(d, b, value=2.0)
            return _weighted(b, m, lo), gx, gy
        m = _abs_pow(d, gamma)
        a = d.abs().clamp_min(torch.finfo(d.dtype).tiny)
        core = torch.sign(d)
        if gamma != 1.0:
            core = core * power(a, gamma - 1.0)
        if need_x:
            gx = (a * a + gamma * pq * b).mul_(core).neg_()
        if need_y:
            gy = -x * m + gamma * core * b
        return _weighted(b, m, lo), gx, gy
    na = torch.abs(x, out=s.take()).neg_()
    e, big, small = _exp_sigmoids_of_abs(na, s.take(), s.take())
    l1 = e.log1p_()  # log(1 + exp(-|x|))
    snp = None
    if gamma not in (0.0, 2.0):
        snp = torch.neg(x, out=s.take()).clamp_min_(0.0).add_(l1)  # softplus(-x) = -log p
    sp = l1.add_(torch.clamp_min(x, 0.0, out=s.take()))  # softplus(x) = -log(1 - p)
    p, q = _by_sign(x, big, small, s.take(), s.take())
    b = torch.addcmul(sp, x, y, value=-1.0, out=big)  # (big, small: free again)
    pos = torch.gt(y, 0.0, out=small)  # 1.0 on the positives, else 0.0
    if gamma == 2.0:
        neg = torch.mul(p, p, out=s.take())
    else:
        neg = _p_pow(snp, gamma) if snp is not None else torch.ones_like(p)
    if alpha is not None:
        neg = neg.mul_(alpha)
    w = y if iou_weighted else pos
    m = torch.lerp(neg, w, pos, out=s.take())
    if need_x:
        # a p^g (p + g q softplus(x))
        gneg = torch.addcmul(p, q, sp, value=gamma, out=q).mul_(neg)
        gpos = torch.sub(p, y, out=p).mul_(w)
        gx = torch.lerp(gneg, gpos, pos, out=gxo)
    if need_y:
        gy = torch.mul(x, m, out=gyo).neg_()
        if iou_weighted:
            gy.addcmul_(b, pos)
    return _weighted(b, m, lo), gx, gy


#: ``(kind, gamma, alpha, iou_weighted, beta)``: the loss (``"quality"``, ``"varifocal"`` or
#: ``"gaussian"``) and its numbers (``beta``: the Gaussian focal loss's penalty exponent)
ModulatedArgs = tuple[str, float, float | None, bool, float]


def _modulated_pass(
    x: Tensor, y: Tensor, args: ModulatedArgs, need_x: bool, need_y: bool, reduce_sum: bool,
) -> tuple[Tensor, Tensor | None, Tensor | None]:  # fmt: skip
    """``(loss or its sum, dl/dx, dl/dy)`` over flat inputs, block by block."""
    kind, gamma, alpha, iou_weighted, beta = args
    if kind == "gaussian":
        return _blockwise(x, y, need_x, need_y, reduce_sum, lambda part, *bufs: _gaussian_block(
            _span(x, part), _span(y, part), gamma, beta, need_x, need_y, *bufs))  # fmt: skip
    return _blockwise(x, y, need_x, need_y, reduce_sum, lambda part, *bufs: _modulated_block(
        kind, _span(x, part), _span(y, part), gamma, alpha, iou_weighted, need_x, need_y,
        *bufs))  # fmt: skip


class _ModulatedBCE(torch.autograd.Function):
    """``BCE(x, y) m(x, y)`` (quality focal or varifocal), or the Gaussian focal loss (a
    log-loss per case, :func:`_gaussian_block`), with an analytic gradient.

    ``forward(x, y, kind, gamma, alpha, iou_weighted, beta, reduce_sum, scale)`` takes
    ``x``/``y`` of one shape (flattened here: a view in the graph would be one more node in
    the backward pass) and a number (or None) ``alpha``; it returns the per-element loss (of
    that shape), or its sum times the number ``scale`` (the mean's ``1 / n``: no division
    node in the graph). When an input needs a gradient, the forward pass computes it beside
    the loss from the same terms and the backward pass scales it by the upstream gradient (as
    :func:`losskit.focal_loss` does); a second backward pass through the same graph
    recomputes it. Under ``create_graph=True`` the backward differentiates the plain formula
    on the saved inputs, so second derivatives are exact.
    """

    @staticmethod
    def plain(x, y, kind, gamma, alpha, iou_weighted, beta, reduce_sum, scale):
        """The same result as plain operations (:func:`~losskit._autograd.fused_apply`)."""
        if kind == "gaussian":
            loss = _gaussian_plain(TF.softplus(-x), TF.softplus(x), y, gamma, beta)
        elif kind == "quality":
            loss = _qfl_plain(x, y, gamma)
        else:
            loss = _vfl_plain(x, y, alpha, gamma, iou_weighted)
        loss = loss.sum() if reduce_sum else loss
        return loss if scale == 1.0 else loss * scale

    @staticmethod
    def _pass(
        x: Tensor, y: Tensor, args: ModulatedArgs, need_x: bool, need_y: bool, reduce_sum: bool
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """:func:`_modulated_pass` over the flattened inputs; results in the inputs' shape."""
        return _in_shape(x, reduce_sum, _modulated_pass(x.reshape(-1), y.reshape(-1), args,
                                                        need_x, need_y, reduce_sum))  # fmt: skip

    @staticmethod
    def forward(ctx, x, y, kind, gamma, alpha, iou_weighted, beta, reduce_sum, scale):
        ctx.save_for_backward(x, y)
        ctx.args = (kind, gamma, alpha, iou_weighted, beta)
        ctx.reduce_sum, ctx.scale = reduce_sum, scale
        need_x, need_y = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        out, gx, gy = _ModulatedBCE._pass(x, y, ctx.args, need_x, need_y, reduce_sum)
        ctx.grads = (gx, gy)  # not the output: ctx -> output -> grad_fn -> ctx is a cycle
        return out if scale == 1.0 else out.mul_(scale)  # (a fresh tensor of this pass)

    @staticmethod
    def backward(ctx, grad_out):
        kind, gamma, alpha, iou_weighted, beta = ctx.args
        need_x, need_y = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        none = (None,) * 7
        if torch.is_grad_enabled():
            # create_graph=True: differentiate the plain formula on aliases of the saved
            # inputs (partial derivatives: partial_inputs)
            x, y = partial_inputs(*ctx.saved_tensors)
            loss = _ModulatedBCE.plain(x, y, kind, gamma, alpha, iou_weighted, beta, False,
                                       ctx.scale)  # fmt: skip
            wanted = [t for t, n in ((x, need_x), (y, need_y)) if n]
            grads = iter(torch.autograd.grad(loss, wanted, grad_out.expand_as(loss),
                                             create_graph=True))  # fmt: skip
            return (next(grads) if need_x else None), (next(grads) if need_y else None), *none
        held, ctx.grads = ctx.grads, None
        if held is None:  # a second backward pass through this graph: recompute
            x, y = ctx.saved_tensors
            held = _ModulatedBCE._pass(x, y, ctx.args, need_x, need_y, ctx.reduce_sum)[1:]
        gx, gy = held
        g = grad_out if ctx.scale == 1.0 else grad_out * ctx.scale
        # the held derivatives are this graph's own buffers: scale them in place
        gx = gx.mul_(g) if need_x and gx is not None else None
        gy = gy.mul_(g) if need_y and gy is not None else None
        return gx, gy, *none


def _modulated(
    fn: str, kind: str, logits: Tensor, target: Tensor, gamma: float,
    alpha: float | Tensor | None, iou_weighted: bool, from_logits: bool, eps: float,
    weight: Tensor | None, mask: Tensor | None, avg_factor: float | Tensor | None,
    reduction: Reduction, beta: float = 0.0,
) -> Tensor:  # fmt: skip
    """The quality focal, varifocal (``kind``) and Gaussian focal (``beta``: its penalty
    exponent) losses: checks, the fused blockwise pass on logits, the plain formula on
    probabilities or a tensor ``alpha``, and the reduction."""
    keep = _binary_inputs(fn, logits, target, weight, mask, from_logits)
    a = _focal_alpha(fn, alpha, logits)
    out_dtype, work = logits.dtype, compute_dtype(logits)
    x, y = _masked(logits.to(work), keep), _masked(target.to(work), keep)
    if not from_logits and kind == "gaussian":
        nlp, nl1mp = _neg_log_probs(x, False, eps, logits.dtype)
        return finish_avg(fn, _gaussian_plain(nlp, nl1mp, y, gamma, beta), reduction,
                          avg_factor=avg_factor, weight=weight, keep=keep,
                          out_dtype=out_dtype)  # fmt: skip
    if not from_logits:
        # probabilities: the formula on the clamped probability (autograd)
        nlp, nl1mp = _neg_log_probs(x, False, eps, logits.dtype)
        p = torch.exp(-nlp)
        bce = torch.lerp(nl1mp, nlp, y)
        if kind == "quality":
            m = _abs_pow(y - p, gamma)
        else:
            neg = _p_pow(nlp, gamma) if a is None else _p_pow(nlp, gamma) * a
            m = torch.where(y > 0, y if iou_weighted else torch.ones_like(y), neg)
        return finish_avg(fn, bce * m, reduction, avg_factor=avg_factor, weight=weight,
                          keep=keep, out_dtype=out_dtype)  # fmt: skip
    if isinstance(a, Tensor):
        # a tensor alpha (per class, per element, learnable): the plain formula
        loss = _vfl_plain(x, y, a.to(work), gamma, iou_weighted)
        return finish_avg(fn, loss, reduction, avg_factor=avg_factor, weight=weight, keep=keep,
                          out_dtype=out_dtype)  # fmt: skip
    args: ModulatedArgs = (kind, float(gamma), None if a is None else float(a), iou_weighted,
                           float(beta))  # fmt: skip
    if weight is None and keep is None and reduction != "none" and x.numel() > 0:
        if reduction == "mean" and avg_factor is None:  # the 1 / n inside the fused function
            return fused_apply(_ModulatedBCE, x, y, *args, True, 1.0 / x.numel()).to(out_dtype)
        total = fused_apply(_ModulatedBCE, x, y, *args, True, 1.0)
        # check_avg_factor's rules through finish_avg on the scalar sum
        return finish_avg(fn, total, reduction, avg_factor=avg_factor, out_dtype=out_dtype)
    loss = fused_apply(_ModulatedBCE, x, y, *args, False, 1.0)
    return finish_avg(fn, loss, reduction, avg_factor=avg_factor, weight=weight, keep=keep,
                      out_dtype=out_dtype)  # fmt: skip


@checked
def quality_focal_loss(
    logits: Tensor, target: Tensor, *, gamma: NonNegative = 2.0, from_logits: bool = True,
    eps: ProbabilityEps = 1e-7, weight: Weight = None, mask: Mask = None,
    avg_factor: AvgFactor = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Quality focal loss (GFL): BCE against a soft quality target, scaled by ``|y - p|^gamma``.

    Formula:
        l = |y - p|^gamma BCE(x, y) = -|y - p|^gamma [y log p + (1 - y) log(1 - p)],  p = sigmoid(x)

    The classification branch of Generalized Focal Loss learns a joint class-and-quality
    score: the target ``y`` of the positive class is the IoU of the predicted box with its
    ground truth, every other entry 0. The focal factor ``(1 - p_t)^gamma`` becomes the
    distance to that soft target, ``|y - p|^gamma``; for a 0/1 target this is the focal loss
    without ``alpha``. The loss is 0 exactly when ``p = y``.

    mmdetection takes the target as ``(labels, scores)`` and sums over classes per anchor; the
    dense target here holds the same information (``scores`` at ``labels``, 0 elsewhere) and
    the loss is per element. With ``avg_factor`` (the number of positives, as every GFL head
    passes) the two agree; a plain ``"mean"`` here averages over every element (mmdetection's
    over anchors, ``C`` times larger).

    When to use:
        Dense detectors whose classification score should also rank localisation quality
        (GFL, GFLv2, and the heads built on them): train the positive class's score towards
        the IoU of its box, the others towards 0. Pass avg_factor = number of positives.

    Args:
        logits: ``(*)`` logits (e.g. ``(N, C)`` or ``(N, C, H, W)``), or probabilities with
            ``from_logits=False``.
        target: ``(*)`` soft targets in ``[0, 1]``: the IoU (quality) at each positive's
            class, 0 elsewhere.
        gamma: the focusing exponent ``>= 0`` (the paper's beta); default 2, the paper's.
        from_logits: logits (default ``True``) or probabilities (mmdetection's
            ``activated=True``).
        eps: the probability clamp ``[eps, 1 - eps]`` (``from_logits=False``); default 1e-7.
        weight: optional non-negative per-element weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave out.
        avg_factor: ``"mean"`` divides the summed loss by ``max(avg_factor, 1)`` instead of
            the number (weight) of kept elements: the number of positives, a number or a
            one-element tensor ``>= 0`` (``all_reduce_avg_factor`` averages it over ranks);
            ``None`` (default): the plain mean.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, non-bool flags or mask.
        ValueError: different shapes, targets (or probabilities) outside ``[0, 1]`` (checked
            on CPU), negative ``gamma``, a bad ``weight``/``mask``/``eps``/``avg_factor``, or
            ``avg_factor`` with a reduction other than ``"mean"``.

    Paper:
        Li, Wang, Wu, Chen, Hu, Li, Tang, Yang, "Generalized Focal Loss: Learning Qualified and
        Distributed Bounding Boxes for Dense Object Detection", NeurIPS 2020,
        arXiv:2006.04388.

    Example:
        >>> import torch
        >>> x = torch.zeros(2)  # p = 0.5, BCE = ln 2 for any target
        >>> quality_focal_loss(x, torch.tensor([0.8, 0.0]), reduction="none")  # .09 ln 2, .25 ln 2
        tensor([0.0624, 0.1733])
    """
    return _modulated("quality_focal_loss", "quality", logits, target, gamma, None, False,
                      from_logits, eps, weight, mask, avg_factor, reduction)  # fmt: skip


@checked
def varifocal_loss(
    logits: Tensor, target: Tensor, *, alpha: FocalAlpha = 0.75, gamma: NonNegative = 2.0,
    iou_weighted: bool = True, from_logits: bool = True, eps: ProbabilityEps = 1e-7,
    weight: Weight = None, mask: Mask = None, avg_factor: AvgFactor = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Varifocal loss (VFNet): BCE against an IoU-aware target, focal only on the negatives.

    Formula:
        l = q BCE(x, q) if q > 0 else alpha p^gamma BCE(x, 0),  p = sigmoid(x)

    Asymmetric on purpose: a positive (target ``q > 0``, the IoU of its box) keeps its full
    BCE, weighted by ``q`` itself so that high-quality positives count most; a negative
    (``q = 0``) is down-weighted by ``alpha p^gamma``, the focal factor. With
    ``iou_weighted=False`` positives weigh 1. The weight depends on ``p`` and is
    differentiated, as in mmdetection and ultralytics.

    Equals mmdetection's ``varifocal_loss`` (element-wise, the same ``"mean"``, the same
    ``avg_factor``) for targets in ``[0, 1]``; ultralytics' ``VarifocalLoss(pred, gt_score,
    label)`` is the ``"none"`` output with ``target = gt_score * label``, averaged over classes
    and summed over anchors. Negative targets (mmdetection's ``target <= 0``) are refused.

    When to use:
        IoU-aware dense detection (VarifocalNet, RT-DETR, YOLO heads that predict an
        IoU-aware classification score): train each positive's score towards its IoU while
        easy negatives are silenced. Paper defaults: alpha = 0.75, gamma = 2.

    Args:
        logits: ``(*)`` logits, or probabilities with ``from_logits=False``.
        target: ``(*)`` IoU-aware targets in ``[0, 1]``: the IoU at each positive's class, 0
            for negatives.
        alpha: the focal balance factor of the negatives, in ``[0, 1]``, or a tensor of
            such values broadcastable to ``(*)`` (a 1-D one of length ``C``: one per class along
            dim 1); ``None`` for 1. Default 0.75 (the paper's).
        gamma: the focusing exponent of the negatives, ``>= 0``; default 2.
        iou_weighted: weigh each positive's BCE by its target ``q`` (default ``True``, the
            paper's) or by 1.
        from_logits: logits (default ``True``) or probabilities.
        eps: the probability clamp ``[eps, 1 - eps]`` (``from_logits=False``); default 1e-7.
        weight: optional non-negative per-element weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave out.
        avg_factor: ``"mean"`` divides the summed loss by ``max(avg_factor, 1)`` instead of
            the number (weight) of kept elements: the number of positives, a number or a
            one-element tensor ``>= 0``; ``None`` (default): the plain mean.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs or ``alpha`` tensor, non-bool flags or mask.
        ValueError: different shapes, targets (or probabilities) outside ``[0, 1]`` (checked
            on CPU), ``alpha`` outside ``[0, 1]``, negative ``gamma``, a bad
            ``weight``/``mask``/``eps``/``avg_factor``.

    Paper:
        Zhang, Wang, Dayoub, Sunderhauf, "VarifocalNet: An IoU-aware Dense Object Detector",
        CVPR 2021, arXiv:2008.13367.

    Example:
        >>> import torch
        >>> x = torch.zeros(2)  # p = 0.5, BCE = ln 2 for any target
        >>> varifocal_loss(x, torch.tensor([0.8, 0.0]), reduction="none")  # .8 ln 2, .75 .25 ln 2
        tensor([0.5545, 0.1300])
    """
    return _modulated("varifocal_loss", "vari", logits, target, gamma, alpha, iou_weighted,
                      from_logits, eps, weight, mask, avg_factor, reduction)  # fmt: skip


@checked
def gaussian_focal_loss(
    logits: Tensor, target: Tensor, *, gamma: NonNegative = 2.0,
    penalty_exponent: NonNegative = 4.0, from_logits: bool = True, eps: ProbabilityEps = 1e-7,
    weight: Weight = None, mask: Mask = None, avg_factor: AvgFactor = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Gaussian focal loss (CornerNet, CenterNet): focal loss on a heatmap of Gaussian peaks.

    Formula:
        l = (1 - p)^gamma (-log p) if y = 1 else (1 - y)^beta p^gamma (-log(1 - p)),  beta = penalty_exponent

    The target heatmap is 1 at each object's centre (corner) and falls off as a Gaussian
    around it. Only the exact peaks are positives; every other location is a negative whose
    penalty is reduced by ``(1 - y)^beta``, so a prediction one pixel from a centre is
    punished far less than one in the background. On logits, ``-log p = softplus(-x)`` and
    ``(1 - p)^gamma = exp(-gamma softplus(x))``: finite for logits of +-100.

    Equals mmdetection's ``gaussian_focal_loss(pred, target, alpha=gamma, gamma=beta)`` on
    probabilities (``from_logits=False``; mmdetection adds ``1e-12`` inside the logarithms
    where this clamps to ``[eps, 1 - eps]``, which agrees away from 0 and 1). The detectors
    divide the sum by the number of peaks: pass ``avg_factor=(target == 1).sum()``. The names
    follow losskit's vocabulary: ``gamma`` is the papers' alpha (2), ``penalty_exponent``
    their beta (4).

    When to use:
        Keypoint-style detection on heatmaps (CenterNet, CornerNet, and pose or landmark
        heatmaps): the Gaussian around each peak stops near-misses from being punished as
        background. Paper defaults: gamma = 2, penalty_exponent = 4; avg_factor = number of
        peaks.

    Args:
        logits: ``(*)`` heatmap logits (e.g. ``(N, C, H, W)``), or probabilities with
            ``from_logits=False``.
        target: ``(*)`` Gaussian heatmap in ``[0, 1]``: exactly 1 at the peaks (positives).
        gamma: the focusing exponent ``>= 0`` (the papers' alpha); default 2.
        penalty_exponent: the exponent ``>= 0`` of ``(1 - y)`` that reduces the penalty of
            negatives near a peak (the papers' beta); default 4.
        from_logits: logits (default ``True``) or probabilities.
        eps: the probability clamp ``[eps, 1 - eps]`` (``from_logits=False``); default 1e-7.
        weight: optional non-negative per-element weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave out.
        avg_factor: ``"mean"`` divides the summed loss by ``max(avg_factor, 1)`` (the number of
            peaks) instead of the number (weight) of kept elements; a number or a one-element
            tensor ``>= 0``; ``None`` (default): the plain mean.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, non-bool flags or mask.
        ValueError: different shapes, targets (or probabilities) outside ``[0, 1]`` (checked
            on CPU), negative exponents, a bad ``weight``/``mask``/``eps``/``avg_factor``.

    Paper:
        Law, Deng, "CornerNet: Detecting Objects as Paired Keypoints", ECCV 2018,
        arXiv:1808.01244; Zhou, Wang, Krahenbuhl, "Objects as Points", 2019,
        arXiv:1904.07850.

    Example:
        >>> import torch
        >>> x = torch.zeros(2)  # p = 0.5
        >>> gaussian_focal_loss(x, torch.tensor([1.0, 0.5]), reduction="none")  # .25 ln 2, .5^4 .25 ln 2
        tensor([0.1733, 0.0108])
    """
    return _modulated("gaussian_focal_loss", "gaussian", logits, target, gamma, None, False,
                      from_logits, eps, weight, mask, avg_factor, reduction,
                      beta=penalty_exponent)  # fmt: skip


@checked
def distribution_focal_loss(
    logits: Tensor, target: Tensor, *, weight: Weight = None, mask: Mask = None,
    avg_factor: AvgFactor = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Distribution focal loss (GFL): cross-entropy of a discretised box side against the two
    bins around its continuous target.

    Formula:
        l = -[(i + 1 - y) log softmax(z)_i + (y - i) log softmax(z)_{i+1}],  i = floor(y)

    A box side (a distance from an anchor point to the box's edge, in bins) is predicted as a
    distribution over ``n`` bins ``0, 1, ..., n - 1``; its value is the distribution's mean
    (``distribution_integral``). The target ``y`` is continuous; DFL puts the mass of a
    two-hot target on its neighbouring bins, weighted linearly, so the cross-entropy is
    minimal where the predicted distribution concentrates around ``y``. The gradient with
    respect to ``y`` is ``log p_i - log p_{i+1}`` (the loss is linear in ``y`` between bins).
    ``y = n - 1`` is allowed (all its mass on the last bin): no clamp below the last bin is
    needed, unlike mmdetection's and ultralytics' ``long() + 1`` indexing, which needs
    ``y < n - 1``.

    Equals mmdetection's ``distribution_focal_loss(pred, label)`` (``(M, n)`` logits, ``(M,)``
    targets) and ultralytics' ``DFLoss`` (the ``"none"`` output of ``(N, 4, n)`` logits,
    averaged over the 4 sides).

    When to use:
        The box branch of GFL and of the YOLO heads since YOLOv8 (beside CIoU): each side of
        the box is a distribution over bins, trained with DFL, decoded with
        distribution_integral and distances_to_box; box_to_distances encodes the targets.

    Args:
        logits: ``(*, n)`` logits over ``n >= 2`` bins (the last dimension), e.g.
            ``(N, 4, 16)`` for the four sides of ``N`` boxes.
        target: ``(*)`` continuous targets in ``[0, n - 1]``, in bins (a distance divided by
            the stride, clamped with ``box_to_distances(..., max_distance=n - 1)``).
        weight: optional non-negative weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave out.
        avg_factor: ``"mean"`` divides the summed loss by ``max(avg_factor, 1)`` (the number of
            positives) instead of the number (weight) of kept entries; a number or a
            one-element tensor ``>= 0``; ``None`` (default): the plain mean.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits`` or ``target``.
        ValueError: fewer than 2 bins, ``target`` not of shape ``logits.shape[:-1]``, targets
            outside ``[0, n - 1]`` (checked on CPU), a bad ``weight``/``mask``/``avg_factor``.

    Paper:
        Li, Wang, Wu, Chen, Hu, Li, Tang, Yang, "Generalized Focal Loss: Learning Qualified and
        Distributed Bounding Boxes for Dense Object Detection", NeurIPS 2020,
        arXiv:2006.04388.

    Example:
        >>> import torch
        >>> z = torch.tensor([[0.1, 0.6, 0.3]]).log()  # probabilities of bins 0, 1, 2
        >>> distribution_focal_loss(z, torch.tensor([1.25]))  # -(.75 ln .6 + .25 ln .3)
        tensor(0.6841)
    """
    fn = "distribution_focal_loss"
    check_floating(fn, "logits", logits)
    check_floating(fn, "target", target)
    check_min_ndim(fn, "logits", logits, 1, "(*, n): bins along the last dimension")
    n = logits.shape[-1]
    if n < 2:
        raise ValueError(f"{fn}: logits must have at least 2 bins (last dimension); got {n}")
    if target.shape != logits.shape[:-1]:
        raise ValueError(
            f"{fn}: target must have shape {tuple(logits.shape[:-1])} (logits without the bins); "
            f"got {tuple(target.shape)}"
        )
    check_same_device(fn, ("logits", logits), ("target", target), ("weight", weight),
                      ("mask", mask))  # fmt: skip
    check_broadcast(fn, "weight", weight, target.shape)
    keep = exclusion(fn, target.shape, mask=mask)
    _check_bins(fn, target, n, keep)
    out_dtype, work = logits.dtype, compute_dtype(logits)
    z = zero_excluded(logits.to(work), keep, 1)
    y = zero_excluded(target.to(work), keep)
    logp = torch.log_softmax(z, -1)
    left = y.detach().floor().clamp(0, n - 2)
    right_share = y - left  # in [0, 1]
    if torch.compiler.is_compiling():
        # the two bins' weights as a dense (*, n) row the compiler fuses into the softmax's
        # kernels (a gather's backward is a scatter it cannot: 2.2x slower compiled)
        k = torch.arange(n, device=z.device, dtype=work)
        at = left.unsqueeze(-1)
        w = torch.where(k == at, 1.0 - right_share.unsqueeze(-1), 0.0)
        w = w + torch.where(k == at + 1.0, right_share.unsqueeze(-1), 0.0)
        loss = -(w * logp).sum(-1)
    else:
        lp = logp.gather(-1, torch.stack([left, left + 1.0], -1).long())
        loss = -torch.lerp(lp[..., 0], lp[..., 1], right_share)
    return finish_avg(fn, loss, reduction, avg_factor=avg_factor, weight=weight, keep=keep,
                      out_dtype=out_dtype)  # fmt: skip


def _check_bins(fn: str, target: Tensor, n: int, keep: Tensor | None) -> None:
    """Targets in ``[0, n - 1]`` at the kept entries (CPU, never while compiling)."""
    if target.device.type != "cpu" or target.numel() == 0 or traced():
        return
    bad = kept_range(target, keep, 0.0, n - 1)
    if bad is not None:
        lo, hi = bad
        raise ValueError(
            f"{fn}: target must hold values in [0, {n - 1}] (bins of the {n} logits); got "
            f"values in [{lo:.4g}, {hi:.4g}]"
        )


# --------------------------------------------------------------------------------------------
# modules
# --------------------------------------------------------------------------------------------


class QualityFocalLoss(LossModule, function=quality_focal_loss):
    """Quality focal loss, ``|y - p|^gamma BCE(x, y)`` against soft quality targets.

    Args:
        gamma: focusing exponent ``>= 0``; default 2.
        from_logits: logits (default ``True``) or probabilities.
        eps: the probability clamp with ``from_logits=False``; default 1e-7.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None, avg_factor=None)``: ``(*)`` each;
        ``avg_factor`` the number of positives ``"mean"`` divides by. Output: a scalar, or
        ``(*)``.

    Paper:
        Li et al., "Generalized Focal Loss", NeurIPS 2020, arXiv:2006.04388.

    Example:
        >>> import torch
        >>> QualityFocalLoss(reduction="sum")(torch.zeros(2), torch.tensor([0.8, 0.0]))
        tensor(0.2357)
    """

    gamma: NonNegative = DEFAULT
    from_logits: bool = DEFAULT
    eps: ProbabilityEps = DEFAULT


class VarifocalLoss(LossModule, function=varifocal_loss):
    """Varifocal loss, ``q BCE(x, q)`` for positives, ``alpha p^gamma BCE(x, 0)`` for negatives.

    Args:
        alpha: the negatives' balance factor in ``[0, 1]``, a tensor (a buffer), or ``None``;
            default 0.75.
        gamma: focusing exponent ``>= 0``; default 2.
        iou_weighted: weigh positives by their target (default ``True``) or by 1.
        from_logits: logits (default ``True``) or probabilities.
        eps: the probability clamp with ``from_logits=False``; default 1e-7.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None, avg_factor=None)``: ``(*)`` each.
        Output: a scalar, or ``(*)``.

    Paper:
        Zhang et al., "VarifocalNet: An IoU-aware Dense Object Detector", CVPR 2021,
        arXiv:2008.13367.

    Example:
        >>> import torch
        >>> VarifocalLoss(reduction="sum")(torch.zeros(2), torch.tensor([0.8, 0.0]))
        tensor(0.6845)
    """

    alpha: FocalAlpha = DEFAULT
    gamma: NonNegative = DEFAULT
    iou_weighted: bool = DEFAULT
    from_logits: bool = DEFAULT
    eps: ProbabilityEps = DEFAULT


class GaussianFocalLoss(LossModule, function=gaussian_focal_loss):
    """Gaussian focal loss on heatmaps: focal at the peaks, ``(1 - y)^beta``-reduced elsewhere.

    Args:
        gamma: focusing exponent ``>= 0`` (the papers' alpha); default 2.
        penalty_exponent: exponent of ``(1 - y)`` for the negatives (the papers' beta);
            default 4.
        from_logits: logits (default ``True``) or probabilities.
        eps: the probability clamp with ``from_logits=False``; default 1e-7.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None, avg_factor=None)``: ``(*)`` each
        (e.g. ``(N, C, H, W)``). Output: a scalar, or ``(*)``.

    Paper:
        Law, Deng, "CornerNet", ECCV 2018, arXiv:1808.01244; Zhou et al., "Objects as
        Points", 2019, arXiv:1904.07850.

    Example:
        >>> import torch
        >>> GaussianFocalLoss(reduction="sum")(torch.zeros(2), torch.tensor([1.0, 0.5]))
        tensor(0.1841)
    """

    gamma: NonNegative = DEFAULT
    penalty_exponent: NonNegative = DEFAULT
    from_logits: bool = DEFAULT
    eps: ProbabilityEps = DEFAULT


class DistributionFocalLoss(LossModule, function=distribution_focal_loss):
    """Distribution focal loss: cross-entropy against the two bins around a continuous target.

    Args:
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None, avg_factor=None)``: ``logits``
        ``(*, n)`` over ``n`` bins, ``target`` ``(*)`` in ``[0, n - 1]``. Output: a scalar, or
        ``(*)``.

    Paper:
        Li et al., "Generalized Focal Loss", NeurIPS 2020, arXiv:2006.04388.

    Example:
        >>> import torch
        >>> DistributionFocalLoss()(torch.zeros(2, 5), torch.tensor([0.0, 3.5]))  # ln 5
        tensor(1.6094)
    """
