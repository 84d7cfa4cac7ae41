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
from collections.abc import Callable
from typing import Any, Literal, get_args

import torch
from torch import Tensor

from .. import _kept_activations as kept_activations
from .._api import DEFAULT, LossModule, checked
from .._autograd import fused_apply, traced, vmapping
from .._checks import (
    ClassWeight,
    Mask,
    NonNegative,
    Positive,
    Weight,
    any_true,
    check_class_vector,
    check_floating,
    check_integer,
    check_labels,
    check_min_ndim,
    check_per_row,
    check_same_device,
    check_same_shape,
    check_tensor,
    check_unit_values,
    compute_dtype,
    float_onehot,
    keep_bytes,
    keep_factor,
    kept_range,
    surely_finite,
)
from .._distance_transform import distance_transform_edt
from .._powers import power
from .._reduction import Reduction, exclusion, finish, zero_excluded

__all__ = [
    "dice_loss",
    "jaccard_loss",
    "tversky_loss",
    "focal_tversky_loss",
    "dice_to_iou",
    "iou_to_dice",
    "distance_transform_edt",
    "generalized_dice_loss",
    "lovasz_hinge_loss",
    "lovasz_softmax_loss",
    "mcc_loss",
    "DiceLoss",
    "JaccardLoss",
    "TverskyLoss",
    "FocalTverskyLoss",
    "GeneralizedDiceLoss",
    "LovaszHingeLoss",
    "LovaszSoftmaxLoss",
    "MCCLoss",
]

Mode = Literal["binary", "multiclass", "multilabel"]
MODES = get_args(Mode)


class _SoftmaxCounts(torch.autograd.Function):
    """The multiclass counts from logits in one softmax, without a one-hot tensor, with a
    hand-written backward (three passes over ``(N, C, S)`` instead of autograd's six).

    Forward: ``p = softmax(x)`` over dim 1 of ``x`` ``(N, C, S)``; with ``a_s = p[t_s, s]``
    the probability at the label, ``TP_c = sum_{t_s = c} a_s`` (eager, up to
    ``_CLASSWISE_UP_TO`` classes: class by class, :func:`_softmax_counts_classwise`; else a
    gather and a scatter-add), ``|G|_c`` the count of positions labelled ``c``, ``|P|_c =
    sum_s p`` (or ``p^2``), and, when asked, each sample's cross-entropy ``sum_s -log p[t_s, s]``, taken as ``max_c x - x_t -
    log max_c p`` (the largest probability is at least ``1 / C``: no underflow, as exact as
    a log-softmax).

    Backward: with ``D = dL/dp`` the dense part (``g_P``, or ``2 p g_P``) and ``g_t`` the
    gradient of ``TP`` at the label, the softmax Jacobian gives ``dL/dx = p (D - r) + [c =
    t_s] a_s g_t + g_ce (p - [c = t_s])``, ``r_s = sum_c p D + a_s g_t``.

    ``keep`` (bool ``(N, 1, S)`` or None): positions left out (``ignore_index``, a mask)
    count nowhere: their ``p`` is 0 (their logits are replaced by 0 first when any logit is
    not finite, so a NaN there reaches nothing), their label must be any valid class, and
    their cross-entropy is weighed 0 (with its ``-1`` at the label in the backward).
    With the held ``p`` zeroed there, the backward formula above gives 0 at those positions
    and is unchanged elsewhere (``k p (E - k sum p E) = p (E - sum p E)`` for ``k = 1``)."""

    @staticmethod
    def plain(
        x: Tensor, t: Tensor, squared: bool, with_ce: bool, keep: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The same results as plain operations (:func:`~losskit._autograd.fused_apply`):
        :func:`_onehot_counts` on the labels as floats."""
        return _onehot_counts(x, t.to(x.dtype), keep, True, squared, with_ce)

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, t: Tensor, squared: bool, with_ce: bool, keep: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        if keep is not None and not surely_finite(x):
            x = torch.where(keep, x, 0.0)  # a NaN or inf left out reaches nothing
        n, c = x.shape[:2]
        kf = None if keep is None else keep_factor(keep, x.dtype)  # (N, 1, S)
        p = torch.softmax(x, dim=1)
        # the cross-entropy's log max_c p from the softmax before the keep factor zeroes it
        top = p.amax(1) if with_ce else None
        if kf is not None:
            p = p.mul_(kf)  # in place: the softmax's buffer, no autograd here
        tf = one = None  # the float labels and a work buffer, kept for the class-wise backward
        if c <= _CLASSWISE_UP_TO and not torch.compiler.is_compiling():
            at, tp, sg, tf, one = _softmax_counts_classwise(p, t, kf)
        else:
            at = p.gather(1, t)  # (N, 1, S)
            zeros = x.new_zeros(n, c)
            tp = zeros.scatter_add(1, t[:, 0], at[:, 0])
            ones = x.new_ones(()).expand(t[:, 0].shape) if kf is None else kf[:, 0]
            sg = zeros.scatter_add(1, t[:, 0], ones)
        sp = _spatial_dot(p, p) if squared else p.sum(2)
        if with_ce:
            assert top is not None  # computed with with_ce
            ce = x.amax(1) - x.gather(1, t)[:, 0] - top.log_()  # finite: x is finite here
            ce = ce.sum(1) if kf is None else (ce * kf[:, 0]).sum(1)
        else:
            ce = x.new_zeros(n)
        ctx.save_for_backward(x, t, keep)
        ctx.fast = (p, at, tf, one)  # plain tensors for a first-order backward
        ctx.squared, ctx.with_ce = squared, with_ce
        ctx.mark_non_differentiable(sg)
        return tp, sp, sg, ce

    @staticmethod
    def backward(
        ctx: Any, g_tp: Tensor | None, g_sp: Tensor | None, _g_sg: Tensor | None,
        g_ce: Tensor | None,
    ) -> tuple[Tensor | None, None, None, None, None]:  # fmt: skip
        x, t, keep = ctx.saved_tensors
        # create_graph=True (grad mode on here): the same formula out of place, from a softmax
        # recomputed on the graph, so that the second derivatives are exact
        graph = torch.is_grad_enabled()
        tf = one = None
        if graph or ctx.fast is None:
            p = _masked_softmax(x, keep)
            at = p.gather(1, t)
        else:
            p, at, tf, one = ctx.fast
            ctx.fast = None  # freed now; a second backward (retain_graph) recomputes them
        n, c, s = p.shape
        if g_sp is None:
            g_sp = p.new_zeros(n, c)
        if g_tp is None:
            g_tp = p.new_zeros(n, c)
        gt = g_tp.gather(1, t[:, 0])[:, None]  # (N, 1, S)
        # (r + a g_t in place: a fresh (N, 1, S) product and sum cost 0.7-1.8 ms of a (8, 4,
        # 256, 256) step where their pages are faulted in)
        if ctx.squared:
            base = p * (2.0 * g_sp)[:, :, None]  # D
            r = (p * base).sum(1, keepdim=True).addcmul_(at, gt)
        else:
            base = g_sp[:, :, None]
            r = torch.matmul(g_sp[:, None, :], p).addcmul_(at, gt)  # (N, 1, S)
        # (eager only: compiled, the class loop measured 12 % slower than the dense form)
        if not graph and c <= _CLASSWISE_UP_TO and not torch.compiler.is_compiling():
            g_ce3 = g_ce[:, None, None] if ctx.with_ce and g_ce is not None else None
            # the forward's buffers serve again (at is not read after r): no fresh pages
            bufs = None if one is None else (one, at)
            return _softmax_counts_grad_classwise(p, t, base, r, gt, g_ce3, keep, tf, bufs), \
                None, None, None, None  # fmt: skip
        # D at the label (the class loop above takes it class by class: no gather there)
        at_label = base.gather(1, t) if ctx.squared else g_sp.gather(1, t[:, 0])[:, None]
        # D - r, and (D + g_t) - r at the label: summed in the order autograd's softmax
        # backward sums them, so that a saturated softmax cancels to exactly 0 as there
        diff = base - r
        label = (at_label + gt) - r
        ce = ctx.with_ce and g_ce is not None
        if ce:
            assert g_ce is not None  # ce implies it
            gce = g_ce[:, None, None]
            diff = diff + gce if graph else diff.add_(gce)
            label = label + gce
        diff = diff.scatter(1, t, label) if graph else diff.scatter_(1, t, label)
        grad = diff * p if graph else diff.mul_(p)
        if ce:  # the cross-entropy's -1 at the label, at the kept positions
            minus = (-gce).expand(n, 1, s)
            if keep is not None:
                minus = minus * keep_factor(keep, minus.dtype)
            grad = grad.scatter_add(1, t, minus) if graph else grad.scatter_add_(1, t, minus)
        return grad, None, None, None, None


#: up to this many classes the first-order backward of :class:`_SoftmaxCounts` goes class
#: by class (:func:`_softmax_counts_grad_classwise`)
_CLASSWISE_UP_TO = 16


def _softmax_counts_classwise(
    p: Tensor, t: Tensor, kf: Tensor | None, with_at: bool = True
) -> tuple[Tensor | None, Tensor, Tensor, Tensor, Tensor]:
    """:class:`_SoftmaxCounts`'s counts one class at a time: ``(a, TP, |G|, t_f, one)`` with
    ``a`` ``(N, 1, S)`` the probability at the label, ``TP`` and ``|G|`` ``(N, C)``, ``t_f``
    the labels as floats and ``one`` an ``(N, 1, S)`` work buffer (both kept for the backward);
    ``a`` is None without ``with_at`` (:class:`_LabelCounts`, which needs no ``a``).

    Per class ``c`` the 0/1 label factor ``[t = c]`` (a float comparison into a float
    buffer, reused from class to class), ``TP_c`` its dot product with ``p_c``, ``|G|_c`` its
    sum (with ``kf``: its dot product with the keep factor), ``a += p_c [t = c]`` (exact: one
    term is not 0). The gather and the two scatter-adds this replaces each read the int64
    labels and accumulate into ``C`` bins one position at a time: 13.3 ms against 9.6 on
    ``(2, 3, 96^3)``, 3.9 against 2.7 on ``(8, 4, 256^2)`` (AMD EPYC, one thread), and the
    dot products sum blockwise (closer to the exact sums than one running total)."""
    n, c, s = p.shape
    # the labels as floats (exact below 2^24): a float comparison into a float tensor is
    # 5x as fast as an int64 one here
    tf = t.to(p.dtype)
    one = torch.empty_like(tf)
    at = torch.zeros_like(tf) if with_at else None
    tp = p.new_empty(n, c)
    sg = p.new_empty(n, c)
    weight = None if kf is None else kf.transpose(1, 2)  # (N, S, 1)
    for k in range(c):
        torch.eq(tf, k, out=one)
        pk = p[:, k : k + 1]
        tp[:, k] = torch.bmm(pk, one.transpose(1, 2)).view(n)
        sg[:, k] = one.sum((1, 2)) if weight is None else torch.bmm(one, weight).view(n)
        if at is not None:
            at.addcmul_(pk, one)
    return at, tp, sg, tf, one


class _LabelCounts(torch.autograd.Function):
    """``(TP, |P|, |G|)`` ``(N, C)`` of probabilities ``p`` ``(N, C, S)`` against class
    labels ``t`` ``(N, 1, S)`` (``kf``: the ``(N, 1, S)`` keep factor weighing ``|G|``, or
    None; ``p`` is 0 where left out), the multiclass counts of ``from_logits=False``.

    Forward: one class at a time, :func:`_softmax_counts_classwise` (the 0/1 factor ``[t =
    c]`` from the labels as floats, ``TP_c`` its batched dot product with ``p_c``).
    Backward, written by hand class by class into one ``(N, C, S)`` tensor: ``dL/dp_c =
    g_|P|,c (or 2 p_c g_|P|,c when squared) + [t = c] g_TP,c``. The gather and two
    scatter-adds this replaces cost most in autograd's backward (a zero ``(N, C, S)`` tensor,
    a scatter, then the sum of that gradient and the ``|P|`` one): 9 ms of a 16 ms step on
    ``(8, 4, 256, 256)``. Under ``create_graph=True`` the backward differentiates the
    one-hot sums, so second derivatives are exact."""

    @staticmethod
    def plain(p: Tensor, t: Tensor, kf: Tensor | None, squared: bool):
        """The same results as plain operations (:func:`~losskit._autograd.fused_apply`): a
        one-hot comparison (a label out of range is no class) and three sums."""
        g = float_onehot(t.to(p.dtype), p.shape[1])
        sg = g.sum(2) if kf is None else (g * kf).sum(2)
        return (p * g).sum(2), (p * p if squared else p).sum(2), sg

    @staticmethod
    def forward(ctx, p: Tensor, t: Tensor, kf: Tensor | None, squared: bool):
        _, tp, sg, tf, _ = _softmax_counts_classwise(p, t, kf, with_at=False)
        sp = _spatial_dot(p, p) if squared else p.sum(2)
        ctx.save_for_backward(p, tf)
        ctx.squared = squared
        ctx.mark_non_differentiable(sg)
        return tp, sp, sg

    @staticmethod
    def backward(ctx, g_tp: Tensor, g_sp: Tensor, _g_sg: Tensor):
        p, tf = ctx.saved_tensors
        n, c, _ = p.shape
        if torch.is_grad_enabled():  # create_graph=True: the one-hot sums, differentiated
            g = float_onehot(tf, c)
            tp, sp = (p * g).sum(2), (p * p if ctx.squared else p).sum(2)
            (gp,) = torch.autograd.grad((tp, sp), p, (g_tp, g_sp), create_graph=True)
            return gp, None, None, None
        grad = torch.empty_like(p)
        one = torch.empty_like(tf)
        for k in range(c):
            torch.eq(tf, k, out=one)
            gk = grad[:, k : k + 1]
            gs = g_sp[:, k].view(n, 1, 1)
            if ctx.squared:
                torch.mul(p[:, k : k + 1], gs * 2.0, out=gk)
            else:
                gk.copy_(gs.expand_as(gk))
            gk.addcmul_(one, g_tp[:, k].view(n, 1, 1))
        return grad, None, None, None


def _softmax_counts_grad_classwise(
    p: Tensor, t: Tensor, base: Tensor, r: Tensor, gt: Tensor, gce: Tensor | None,
    keep: Tensor | None, tf: Tensor | None = None, bufs: tuple[Tensor, Tensor] | None = None,
) -> Tensor:  # fmt: skip
    """:class:`_SoftmaxCounts`'s first-order gradient written into ``p`` itself, one class
    at a time: ``dL/dx_c = p_c ((D_c + [t = c] g_t) - r + g_ce) - [t = c] g_ce k``.

    The same sums in the same order as the dense form (``(D + g_t) - r`` at the label, so a
    saturated softmax still cancels to exactly 0), but its temporaries are ``(N, 1, S)``, one
    class's size, reused from class to class: the dense form's ``D - r`` was a fresh ``(N, C,
    S)`` tensor (page-faulted in on every call, 4.7 ms of an 18 ms step on ``(8, 4, 256,
    256)``) and the label's term a scatter (2 ms), where a class's 0/1 label factor is one
    comparison."""
    # [t = c] as 0/1, and the class's factor: two (N, 1, S) buffers (the forward's, if given)
    one, u = (torch.empty_like(r), torch.empty_like(r)) if bufs is None else bufs
    # the labels as floats (exact below 2^24; the forward's when it kept them): a float
    # comparison into a float tensor is 5x as fast as an int64 one here
    tf = t.to(p.dtype) if tf is None else tf
    minus = None
    if gce is not None:
        minus = torch.neg(gce)
        if keep is not None:
            minus = minus * keep_factor(keep, p.dtype)
    for k in range(p.shape[1]):
        torch.eq(tf, k, out=one)
        torch.addcmul(base[:, k : k + 1], one, gt, out=u)
        u.sub_(r)
        if gce is not None:
            u.add_(gce)
        pk = p[:, k : k + 1]
        pk.mul_(u)
        if minus is not None:
            pk.addcmul_(one, minus)
    return p


def _masked_softmax(x: Tensor, keep: Tensor | None) -> Tensor:
    """``softmax(x)`` over dim 1, 0 where ``keep`` (broadcast over dim 1) is False (a 0/1
    float factor: a bool one in a product costs about five float products on CPU)."""
    p = torch.softmax(x, dim=1)
    return p if keep is None else p * keep_factor(keep, p.dtype)


def _onehot_counts(
    x: Tensor, t: Tensor, keep: Tensor | None, from_logits: bool, squared: bool, with_ce: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The multiclass counts of :class:`_SoftmaxCounts` (and each sample's summed
    cross-entropy, 0 without ``with_ce``) as plain reductions against a one-hot comparison,
    for ``torch.compile``: the compiler fuses the softmax, the comparison and the three sums
    into one loop and derives the backward, where the gather and the two scatter-adds of the
    eager kernel became scalar read-modify-write loops (a compiled Dice step took twice the
    eager one). ``x`` ``(N, C, S)``, ``t`` ``(N, 1, S)`` labels as floats, ``keep`` bool
    ``(N, 1, S)`` or None (positions left out count nowhere; their logits reach nothing)."""
    c = x.shape[1]
    g = float_onehot(t, c)
    if keep is not None:
        g = g * keep.to(x.dtype)
    if from_logits and torch.compiler.is_compiling():
        # an operator whose output the backward reads back (no second exp), then the select
        # of the left-out positions, fused into the sums (the operator's gradient is 0 at a
        # position whose every class has a 0 upstream gradient, even at a NaN logit there)
        p = zero_excluded(kept_activations.softmax(x, 1), keep)
        if with_ce:
            x = zero_excluded(x, keep)  # (for the cross-entropy's log-softmax)
    else:
        if keep is not None:
            x = torch.where(keep, x, 0.0)
        p = torch.softmax(x, dim=1) if from_logits else x
        if keep is not None:
            p = p * keep.to(x.dtype)
    tp = (p * g).sum(2)
    sp = (p * p).sum(2) if squared else p.sum(2)
    sg = g.sum(2)
    if with_ce:
        ce = -(torch.log_softmax(x, dim=1) * g).sum((1, 2))
    else:
        ce = x.new_zeros(x.shape[0])
    return tp, sp, sg, ce


class _SigmoidCounts(torch.autograd.Function):
    """The binary and multilabel counts from logits with a hand-written backward: two passes
    over ``(N, C, S)`` (an ``addcmul`` and the sigmoid's derivative, in place) where autograd
    takes four (the product's, the two sums' broadcast adds and the sigmoid's).

    Forward: ``p = sigmoid(x)``, ``TP = sum_s p g``, ``|P| = sum_s p`` (or ``p^2``), ``|G| =
    sum_s g`` (or ``g^2``) for ``x``, ``g`` ``(N, C, S)``. Backward: ``dL/dx = p (1 - p)
    (g_TP g + g_P)`` (``g_P 2 p`` when squared), the same products and sums, in the same
    order, as autograd's chain of ``mul``, ``add`` and ``sigmoid_backward``.

    ``keep`` (bool, broadcastable to ``x``, or None): positions left out have ``p = 0`` (a
    select after the sigmoid) and the caller passes ``g = 0`` there, so they count nowhere
    and the backward's ``p (1 - p)`` gives them a zero gradient whatever their logits hold."""

    @staticmethod
    def plain(
        x: Tensor, g: Tensor, squared: bool, keep: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The same results as plain operations (:func:`~losskit._autograd.fused_apply`)."""
        p = _kept_sigmoid(x, keep, graph=True)
        sp = (p * p).sum(2) if squared else p.sum(2)
        return (p * g).sum(2), sp, (g * g).sum(2) if squared else g.sum(2)

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, g: Tensor, squared: bool, keep: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        p = _kept_sigmoid(x, keep)
        tp = _spatial_dot(p, g)
        sp = _spatial_dot(p, p) if squared else p.sum(2)
        sg = _spatial_dot(g, g) if squared else g.sum(2)
        ctx.save_for_backward(x, g, keep)
        ctx.fast = p  # a plain tensor for a first-order backward
        ctx.squared = squared
        ctx.mark_non_differentiable(sg)
        return tp, sp, sg

    @staticmethod
    def backward(
        ctx: Any, g_tp: Tensor | None, g_sp: Tensor | None, _g_sg: Tensor | None
    ) -> tuple[Tensor | None, None, None, None]:
        x, g, keep = ctx.saved_tensors
        # create_graph=True (grad mode on here): the same formula from a sigmoid recomputed
        # on the graph, out of place, so that the second derivatives are exact
        graph = torch.is_grad_enabled()
        if graph or ctx.fast is None:
            p = _kept_sigmoid(x, keep, graph)
        else:
            p = ctx.fast
            ctx.fast = None  # freed now; a second backward (retain_graph) recomputes it
        zeros = p.new_zeros(p.shape[:2])
        a = (zeros if g_tp is None else g_tp)[:, :, None]
        b = (zeros if g_sp is None else g_sp)[:, :, None]
        if ctx.squared:
            dp = g * a + p * (2.0 * b)
        else:
            dp = g * a + b if graph else torch.addcmul(b.expand(p.shape), g, a)
        if graph:
            return dp * (1.0 - p) * p, None, None, None
        return torch.ops.aten.sigmoid_backward.grad_input(dp, p, grad_input=dp), None, None, None


def _spatial_dot(a: Tensor, b: Tensor) -> Tensor:
    """``sum_s a b`` over dim 2 of ``(N, C, S)`` tensors, ``(N, C)``: one batched matrix
    product, no ``(N, C, S)`` product tensor (eager: 0.46 ms against 0.95 for the product
    and sum on ``(8, 4, 65536)``, 1.8 against 4.2 on ``(2, 3, 884736)``, and no fresh buffer
    to page-fault in). Under ``torch.compile`` the product and sum, which the compiler
    fuses."""
    if torch.compiler.is_compiling() or a.shape[2] == 0 or not a.is_floating_point():
        return (a * b).sum(2)
    n, c, s = a.shape
    # the second operand as the transpose of a row: (R, S, 1) with a unit stride along S
    # (a reshape to (R, S, 1) sends the product down a path 3x slower than the sum)
    dot = torch.bmm(a.reshape(n * c, 1, s), b.reshape(n * c, 1, s).transpose(1, 2))
    return dot.view(n, c)


def _kept_sigmoid(x: Tensor, keep: Tensor | None, graph: bool = False) -> Tensor:
    """``sigmoid(x)``, and 0 where ``keep`` (bool, broadcastable) is False: a select after
    the activation, so that a NaN or inf left out reaches neither the counts nor, through
    ``p (1 - p) = 0`` there, the first-order gradient. ``graph`` (a backward with
    ``create_graph``): the logits are replaced by 0 there first as well, so that the recorded
    sigmoid's own derivative is finite too."""
    if keep is None:
        return torch.sigmoid(x)
    if graph:  # out of place, on the recorded graph
        return torch.where(keep, torch.sigmoid(torch.where(keep, x, 0.0)), 0.0)
    p = torch.sigmoid(x)
    if surely_finite(x):  # a 0/1 factor, about 3x cheaper than a bool select on CPU
        return p.mul_(keep_bytes(keep))
    return torch.where(keep, p, p.new_zeros(()), out=p)  # in place: no fresh buffer


def _plain_target(target: Tensor, lo: float, hi: float, ignore_index: int | None) -> bool:
    """One ``aminmax`` pass (eager, CPU, real non-bool ``target``): every value lies in
    ``[lo, hi]`` and none equals ``ignore_index``, so nothing is left out and the range checks
    pass; ``False`` sends the caller to the general checks (which raise where needed)."""
    if (
        target.device.type != "cpu"
        or target.numel() == 0
        or target.dtype == torch.bool
        or target.is_complex()
        or traced()
    ):
        return False
    lo_t, hi_t = target.detach().aminmax()
    low, high = float(lo_t), float(hi_t)  # NaN fails both comparisons
    if not (lo <= low and high <= hi):
        return False
    return ignore_index is None or not low <= ignore_index <= high


def _counts(
    fn: str, pred: Tensor, target: Tensor, *, mode: str, from_logits: bool, per_sample: bool,
    ignore_index: int | None, mask: Tensor | None, squared: bool = False,
    ce: list[Tensor] | None = None, labels_f: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:  # fmt: skip
    """Validate, activate, exclude and count: ``(TP, |P|, |G|)`` each ``(N, C)`` or ``(C,)``
    (``|P|, |G|`` are sums of squares when ``squared``), in the compute dtype, and with
    ``per_sample`` the ``(N, 1)`` samples that keep a position (``None``: all do): a sample
    whose every position is left out leaves the mean, as a left-out entry does.

    ``ce``: a list that receives each sample's summed cross-entropy over its kept positions
    and the count of those positions (two ``(N,)`` tensors) from the same softmax when the
    fused multiclass path is taken (logits); left empty otherwise. ``labels_f``: under
    ``torch.compile``, multiclass ``target`` already converted to the compute dtype by a
    caller that reads it again (one conversion the compiler shares; see
    :func:`losskit.functional._segmentation._float_labels`)."""
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
        n, size = pred.shape[0], math.prod(pred.shape[2:])
        if torch.compiler.is_compiling() and num_classes < 2**24:
            # reductions the compiler fuses, no scatter; the labels as floats (every class
            # index exact), as compiled CPU code takes a slow path for int64 on AVX2 (a select
            # on labels != -100 before the softmax of (8, 4, 256, 256): 15.7 ms, 4.0 with
            # float labels). Value checks are skipped while compiling, as everywhere.
            check_integer(fn, "target", target)
            t = (target.to(work) if labels_f is None else labels_f).reshape(n, 1, size)
            keep = exclusion(fn, expected, mask=mask, labels=t.view(expected),
                             ignore_index=ignore_index)  # fmt: skip
            k = None if keep is None else keep.expand(expected).reshape(n, 1, size)
            tp, sp, sg, ce_sum = _onehot_counts(
                x.reshape(n, num_classes, size), t, k, from_logits, squared, ce is not None
            )  # fmt: skip
            if ce is not None:
                ce.append(ce_sum)
                ce.append(sg.sum(1))
            if not per_sample:
                tp, sp, sg = tp.sum(0), sp.sum(0), sg.sum(0)
            return tp, sp, sg, _kept_samples(keep, expected, per_sample)
        if mask is None and _plain_target(target, 0, num_classes - 1, ignore_index):
            check_integer(fn, "target", target)  # in range and nothing to leave out
            keep = None
        else:
            keep = exclusion(fn, expected, mask=mask, labels=target, ignore_index=ignore_index)
            check_labels(fn, target, num_classes, name="target", ignore_index=ignore_index,
                         keep=keep)  # fmt: skip
        if from_logits and num_classes:  # the common case: one fused pass
            t = target.reshape(n, 1, size).long()
            k = None
            if keep is not None:  # left-out positions: any valid label, p = 0 there
                k = keep.expand(expected).reshape(n, 1, size)
                t = torch.where(k, t, 0)
            tp, sp, sg, ce_sum = fused_apply(_SoftmaxCounts,
                x.reshape(n, num_classes, size), t, squared, ce is not None, k
            )  # fmt: skip
            if ce is not None:
                ce.append(ce_sum)
                ce.append(sg.sum(1))  # each sample's kept positions
            if not per_sample:
                tp, sp, sg = tp.sum(0), sp.sum(0), sg.sum(0)
            return tp, sp, sg, _kept_samples(keep, expected, per_sample)
        x = x if keep is None else zero_excluded(x, keep.unsqueeze(1))
        p = torch.softmax(x, dim=1) if from_logits else x
        if not from_logits:  # left-out positions hold anything (zeroed above)
            check_unit_values(fn, "logits", pred, " (from_logits=False: probabilities)",
                              None if keep is None else keep.unsqueeze(1))  # fmt: skip
        p = p.reshape(n, num_classes, size)
        k = None if keep is None else keep.expand(expected).reshape(n, 1, size)
        if k is not None:
            p = zero_excluded(p, k)
        if num_classes <= _CLASSWISE_UP_TO and p.numel():
            # one class at a time (a label left out, or out of range there, is no class)
            tp, sp, sg = fused_apply(_LabelCounts, p, target.reshape(n, 1, size),
                                            None if k is None else k.to(work), squared)  # fmt: skip
        else:
            # no one-hot tensor: TP_c = sum of p[label] over the positions labelled c (a
            # gather and a scatter-add), |G|_c = the count of those positions
            t = target.reshape(n, 1, size).long()
            if k is not None:
                t = torch.where(k, t, torch.zeros_like(t))
            ones = torch.ones(n, 1, size, dtype=work, device=p.device) if k is None else k.to(work)
            zeros = torch.zeros(n, num_classes, dtype=work, device=p.device)
            at_label = p.gather(1, t)[:, 0]  # (N, S); already 0 at excluded positions
            tp = zeros.scatter_add(1, t[:, 0], at_label)
            sg = zeros.scatter_add(1, t[:, 0], ones[:, 0])  # g is 0/1, so sum g^2 = sum g
            sp = _spatial_dot(p, p) if squared else p.sum(2)
        if not per_sample:
            tp, sp, sg = tp.sum(0), sp.sum(0), sg.sum(0)
        return tp, sp, sg, _kept_samples(keep, expected, per_sample)
    check_same_shape(fn, pred, target, ("logits", "target"))
    check_min_ndim(fn, "logits", pred, 2 if mode == "multilabel" else 1,
                   "(N, C, ...) in multilabel mode" if mode == "multilabel" else "(N, ...)")  # fmt: skip
    if target.is_complex():
        raise TypeError(f"{fn}: target must be real; got dtype {target.dtype}")
    keep = g_kept = None  # g_kept: the target with 0 where left out, when something is
    if mask is None and _plain_target(target, 0.0, 1.0, ignore_index):
        pass  # 0/1 values and nothing to leave out: one pass for both checks
    else:
        keep = exclusion(fn, pred.shape, mask=mask, labels=target, ignore_index=ignore_index)
        hint = " (binary targets; exclude void labels with ignore_index or mask)"
        if keep is None:
            check_unit_values(fn, "target", target, hint)
        else:
            zero = torch.zeros((), dtype=work, device=target.device)
            g_kept = torch.where(keep.expand(pred.shape), target.to(work), zero)
            if (
                g_kept.device.type == "cpu"
                and not traced()
                and kept_range(g_kept, None, 0.0, 1.0) is not None
            ):
                check_unit_values(fn, "target", target, hint, keep)  # raises, naming the range
    if not from_logits:  # left-out positions hold anything (zeroed below)
        check_unit_values(fn, "logits", pred, " (from_logits=False: probabilities)", keep)
    n = pred.shape[0]
    c = 1 if mode == "binary" else pred.shape[1]
    shape = (n, c, math.prod(pred.shape[1:]) // max(c, 1))
    if (
        from_logits
        and not target.requires_grad
        and x.numel()
        and not torch.compiler.is_compiling()  # traced plainly below, for the compiler to fuse
    ):
        # the common case: sigmoid and counts with a two-pass backward; positions left out
        # have p = 0 and g = 0 (the target may hold anything there)
        t = target.to(work) if g_kept is None else g_kept
        k = None if keep is None else keep.expand(pred.shape).reshape(shape)
        tp, sp, sg = fused_apply(_SigmoidCounts, x.reshape(shape), t.reshape(shape), squared, k)
        if not per_sample:
            return tp.sum(0), sp.sum(0), sg.sum(0), None
        return tp, sp, sg, _kept_samples(keep, pred.shape, per_sample)
    if from_logits and torch.compiler.is_compiling():
        # an operator whose output the backward reads back (no second exp), then the select
        # of the left-out positions, which the compiler fuses into the sums (before the
        # operator it would be a pass of its own); the operator's gradient is 0 wherever
        # the select's is, even at a NaN there
        p = zero_excluded(kept_activations.sigmoid(x), keep)
    else:
        x = zero_excluded(x, keep)  # a left-out NaN or inf never reaches the activation
        p = torch.sigmoid(x) if from_logits else x
    p = p.reshape(shape)
    dims = (2,) if per_sample else (0, 2)
    if keep is not None:
        # g is 0 where left out (the target may hold anything there), and the sums of p and
        # the samples that keep a position take a 0/1 float factor: one fused reduction under
        # torch.compile, where a second select on p and a bool any() took more passes
        assert g_kept is not None  # set with keep
        g = g_kept.reshape(shape)
        kf = keep_factor(keep.expand(pred.shape).reshape(shape), work)
        tp = (p * g).sum(dims)
        sp = (p * p * kf).sum(dims) if squared else (p * kf).sum(dims)
        sg = (g * g).sum(dims) if squared else g.sum(dims)
        kept = kf.sum(2).sum(1, keepdim=True) > 0 if per_sample else None
        return tp, sp, sg, kept
    g = target.reshape(shape).to(work)
    tp = (p * g).sum(dims)
    if squared:
        sp, sg = (p * p).sum(dims), (g * g).sum(dims)
    else:
        sp, sg = p.sum(dims), g.sum(dims)
    return tp, sp, sg, None


def _kept_samples(keep: Tensor | None, shape: torch.Size, per_sample: bool) -> Tensor | None:
    if keep is None or not per_sample:
        return None
    return any_true(keep.expand(shape).reshape(shape[0], -1), 1, True)


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
    loss = torch.where(base > 0, power(base.clamp_min(tiny), gamma), torch.zeros_like(base))
    return _finish(fn, loss, logits, per_sample, class_weight, weight, reduction, kept)


Weighting = Literal["square", "simple", "uniform"]


def _volume_weights(sg: Tensor, weighting: str) -> Tensor:
    """Generalized Dice's class weights ``(..., C)`` from the target volumes ``sg``: ``1 /
    |G|^2``, ``1 / |G|`` or 1; a class absent from the sample (or batch) takes the largest
    weight of the present ones, and 1 when none is present."""
    present = sg > 0
    if weighting == "uniform":
        return torch.ones_like(sg)
    safe = torch.where(present, sg, torch.ones_like(sg))
    w = 1.0 / (safe * safe) if weighting == "square" else 1.0 / safe
    w = torch.where(present, w, torch.zeros_like(w))
    top = w.amax(-1, keepdim=True) if w.shape[-1] > 0 else w.sum(-1, keepdim=True)
    top = torch.where(top > 0, top, torch.ones_like(top))
    return torch.where(present, w, top.expand_as(w))


def _generalized_dice(
    fn: str, logits: Tensor, tp: Tensor, sp: Tensor, sg: Tensor, weighting: str,
    class_weight: Tensor | None, smooth: float, eps: float,
) -> Tensor:  # fmt: skip
    """Generalized Dice from the counts ``(..., C)``: one loss per row ``(...)``."""
    w = _volume_weights(sg.detach(), weighting)
    if class_weight is not None:
        check_same_device(fn, ("logits", logits), ("class_weight", class_weight))
        check_class_vector(fn, "class_weight", class_weight, sg.shape[-1])
        w = w * class_weight.to(w.dtype)
    num = (w * tp).sum(-1)
    den = (w * (sp + sg)).sum(-1)
    return _ratio(2.0 * num, den, smooth, eps, (sp + sg).sum(-1) == 0)


@checked
def generalized_dice_loss(
    logits: Tensor, target: Tensor, *, weighting: Weighting = "square", mode: Mode = "binary",
    from_logits: bool = True, per_sample: bool = True, smooth: NonNegative = 1e-5,
    eps: Positive = 1e-7, ignore_index: int | None = -100, class_weight: ClassWeight = None,
    weight: Weight = None, mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Generalized Dice loss: one Dice over all classes, each class weighted by the inverse
    (square) of its target volume, so small structures count as much as large ones.

    Formula:
        l = 1 - (2 sum_c w_c TP_c + smooth) / (sum_c w_c (|P_c| + |G_c|) + smooth),  w_c = 1 / |G_c|^2

    ``weighting`` chooses ``w_c``: ``"square"`` ``1 / |G_c|^2`` (the paper), ``"simple"``
    ``1 / |G_c|`` or ``"uniform"`` 1 (then the loss is the Dice of all classes pooled).
    The weights are summed over the classes *before* the ratio is taken (the paper's
    formula); a per-class ratio would cancel them (MONAI before 1.3, its issues 369 and
    6765). A class absent from the sample (``per_sample=True``) or from the batch has no
    finite weight (``1 / 0``): it takes the largest weight of the present classes, so false
    positives on it cost as much as on the rarest present class (MONAI's rule); when no class
    is present at all every weight is 1 (MONAI then gives every weight 0 and no longer
    penalises false positives: the loss is 0 whatever is predicted). An empty prediction on an
    empty target scores 0. ``smooth`` defaults to ``1e-5``, not the family's 1: the square
    weights are of order ``1 / |G|^2``, and a smooth term of 1 would swamp the weighted sums.

    When to use:
        Multi-class segmentation with strongly imbalanced class volumes (lesions next to
        organs): each class's weight is the inverse square of its volume, so a few-pixel class
        moves the loss as much as a large one. One loss per sample, not per class.

    Args:
        logits: logits (``from_logits=True``) or probabilities; ``(N, *)`` in binary mode,
            ``(N, C, *)`` otherwise.
        target: the shape of ``logits`` (binary, multilabel; 0/1 or soft values) or integer
            class indices ``(N, *)`` (multiclass).
        weighting: ``"square"`` (default), ``"simple"`` or ``"uniform"``: the class weight
            ``1 / |G_c|^2``, ``1 / |G_c|`` or 1.
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        from_logits: apply a sigmoid (binary, multilabel) or a softmax over dim 1
            (multiclass) first; default ``True``.
        per_sample: one loss per sample (default ``True``) or one over the whole batch (the
            volumes, and so the weights, are then the batch's).
        smooth: ``>= 0``, added to numerator and denominator; default ``1e-5``.
        eps: ``> 0``, floor of the denominator; default ``1e-7``.
        ignore_index: target value excluded from every sum; default -100, ``None`` for none.
        class_weight: optional non-negative ``(C,)`` factors multiplying the volume weights.
        weight: optional non-negative ``(N,)`` sample weights (``per_sample=True`` only).
        mask: optional bool tensor broadcastable to the per-position shape; ``False`` = leave
            the position out of every sum.
        reduction: ``"none"`` (``(N,)``, or ``(1,)`` with ``per_sample=False``), ``"mean"``
            (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``, a non-tensor ``target``, non-integer labels in
            multiclass mode.
        ValueError: unknown ``weighting``/``mode``/``reduction``, shapes that do not match
            the mode, labels or binary targets out of range (CPU), negative ``smooth``, a bad
            ``weight``/``class_weight``/``mask``.

    Equals MONAI's ``GeneralizedDiceLoss`` (``smooth_nr = smooth_dr = smooth``, ``w_type =
    weighting``, ``batch = not per_sample``) wherever some class is present in every sample;
    see above for the one difference.

    Paper:
        Sudre, Li, Vercauteren, Ourselin, Cardoso, "Generalised Dice overlap as a deep learning
        loss function for highly unbalanced segmentations", DLMIA 2017, arXiv:1707.03237.

    Example:
        >>> import torch
        >>> p = torch.tensor([[[1.0, 1.0, 0.0, 0.0]], [[0.0, 0.0, 1.0, 1.0]]]).transpose(0, 1)
        >>> g = torch.tensor([[0, 1, 1, 1]])  # class 0 has 1 pixel, class 1 has 3
        >>> # w = (1, 1/9): 1 - 2 (1 + 2/9) / (1 (2 + 1) + (2 + 3) / 9)
        >>> generalized_dice_loss(p, g, mode="multiclass", from_logits=False, smooth=0.0)
        tensor(0.3125)
    """
    fn = "generalized_dice_loss"
    tp, sp, sg, kept = _counts(
        fn, logits, target, mode=mode, from_logits=from_logits, per_sample=per_sample,
        ignore_index=ignore_index, mask=mask,
    )  # fmt: skip
    loss = _generalized_dice(fn, logits, tp, sp, sg, weighting, class_weight, smooth, eps)
    if not per_sample:
        loss = loss.reshape(1)
    return _finish_per_sample(fn, loss, logits, per_sample, weight, reduction,
                              None if kept is None else kept[:, 0])  # fmt: skip


def _finish_per_sample(
    fn: str, loss: Tensor, logits: Tensor, per_sample: bool, weight: Tensor | None,
    reduction: Reduction, kept: Tensor | None,
) -> Tensor:  # fmt: skip
    """:func:`finish` for a loss with one value per sample ``(N,)`` (or ``(1,)`` over the
    batch); ``kept``: the ``(N,)`` samples that keep a position."""
    check_same_device(fn, ("logits", logits), ("weight", weight))
    if weight is not None:
        if not per_sample:
            raise ValueError(
                f"{fn}: weight is per sample, and with per_sample=False the loss has no "
                "per-sample entries; pass mask to leave positions out"
            )
        check_per_row(fn, "weight", weight, loss.shape[0])
    return finish(fn, loss, reduction, weight=weight, keep=kept, out_dtype=logits.dtype)


def _jaccard_increments(fg_sorted: Tensor) -> Tensor:
    """The Lovász extension's weights along the last dim: for the errors sorted in decreasing
    order, ``delta_k = J_k - J_{k-1}``, with ``J_k = 1 - (G - cumsum(fg)_k) / (G +
    cumsum(1 - fg)_k)`` the Jaccard loss of predicting the first ``k`` positions wrong."""
    fg = fg_sorted
    total = fg.sum(-1, keepdim=True)
    inter = total - fg.cumsum(-1)
    union = total + (1.0 - fg).cumsum(-1)
    # union >= 1 from the first position on (either total > 0 or the position is background)
    jac = 1.0 - inter / union.clamp_min(1.0)
    return torch.cat([jac[..., :1], jac[..., 1:] - jac[..., :-1]], -1)


_INT_OF = {
    torch.float32: (torch.int32, 0x7FFFFFFF),
    torch.float64: (torch.int64, 0x7FFFFFFFFFFFFFFF),
}


def _descending_order(key: Tensor) -> Tensor:
    """``key.sort(descending=True, stable=True).indices`` of a 1-D float key without NaN, the
    same permutation, 2-3x faster: the float's bits mapped to an integer of the same order
    (non-negative floats keep their bits; negative ones flip their magnitude bits), negated
    by ``~`` for a descending order, then an ascending stable sort, which torch does by radix
    sort for 1-D integer tensors (ties keep their order in both). ``-0.0`` is first made
    ``+0.0`` (they compare equal as floats). Other dtypes sort as they are."""
    if key.dtype not in _INT_OF or key.dim() != 1:
        return key.sort(descending=True, stable=True).indices
    dtype, magnitude = _INT_OF[key.dtype]
    bits = (key + 0.0).view(dtype)  # a new tensor, -0.0 -> +0.0
    # ~m with m = bits ^ (magnitude if bits < 0 else 0), i.e. bits ^ ~((bits >> width-1) & magnitude)
    flip = (bits >> (8 * key.element_size() - 1)).bitwise_and_(magnitude).bitwise_not_()
    return bits.bitwise_xor_(flip).sort(stable=True).indices


def _lovasz(
    errors: Tensor, key_of: Callable[[int], Tensor], fg: Tensor, keep: Tensor | None,
    binary: bool = False,
) -> Tensor:  # fmt: skip
    """``sum_k errors_(k) delta_k`` along the last dim of ``errors``, ``fg`` ``(G, K, L)``
    (``keep`` broadcastable to them or ``None``), the positions of each row ordered by
    decreasing sort key (a stable sort: ties keep their order); ``key_of(i)`` gives the
    ``(K, L)`` keys of group ``i``. Excluded positions go last with error 0 and foreground 0,
    so they change nothing.

    The weights ``delta`` do not depend on the errors' values (only on the order and the
    foreground), so they are computed without autograd, a row at a time (the key of one
    group, the sort's buffers of one row), and scattered back to the positions they weigh:
    the loss is then ``sum(errors * delta)``, whose gradient is ``delta`` (what the gather of
    the sorted errors would route back), saved as one float tensor instead of the int64
    order and the sorted copies. ``binary``: ``fg`` holds only 0 and 1, so the gather in
    sorted order reads a uint8 copy (a quarter of the bytes of random access)."""
    if keep is not None:
        keep = keep.expand(errors.shape)
        errors = torch.where(keep, errors, torch.zeros_like(errors))
        fg = torch.where(keep, fg, torch.zeros_like(fg))
    batched = vmapping()  # under vmap: rows built out of place and stacked
    with torch.no_grad():
        delta = None if batched else torch.empty_like(errors)
        rows = []
        f = fg.detach().to(torch.uint8) if binary else fg.detach()
        for i in range(errors.shape[0]):
            key = key_of(i)
            if keep is not None:
                key = torch.where(keep[i], key, torch.full((), -math.inf, dtype=key.dtype,
                                                           device=key.device))  # fmt: skip
            for j in range(errors.shape[1]):
                order = _descending_order(key[j])
                fs = f[i, j].gather(0, order).to(errors.dtype)
                if delta is None:
                    rows.append(torch.zeros_like(fs).scatter(0, order, _jaccard_increments(fs)))
                else:
                    delta[i, j].scatter_(0, order, _jaccard_increments(fs))
        if delta is None:
            delta = torch.stack(rows).view(errors.shape)
    return (errors * delta).sum(-1)


@checked
def lovasz_hinge_loss(
    logits: Tensor, target: Tensor, *, per_sample: bool = True,
    ignore_index: int | None = -100, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Lovász hinge loss: a convex surrogate of the Jaccard (IoU) loss of a binary mask,
    optimised directly.

    Formula:
        l = sum_k relu(e)_(k) (J_k - J_(k-1)),  e_i = 1 - x_i (2 g_i - 1),  e sorted decreasing

    ``J_k`` is the Jaccard loss of the mask that gets the ``k`` positions with the largest
    hinge errors wrong: the Lovász extension of the Jaccard loss evaluated at the hinge
    errors, piecewise linear and convex in the logits. A sample with an empty target has
    ``J_k = 1`` from ``k = 1``: its loss is the largest hinge error (0 once every logit is
    below -1, so an empty prediction of margin 1 on an empty target scores 0). Positions
    left out (``mask``, ``ignore_index``) are dropped from the sort; a sample with none left
    leaves the mean. Ties are broken by position (a stable sort): the value is the same
    whichever order, the gradient is one of the subgradients. ``logits`` of any shape: a
    multilabel ``(N, C, H, W)`` input is scored as one binary mask per sample over all its
    channels (SMP's multilabel mode).

    When to use:
        Binary segmentation evaluated by IoU: the loss is the tight convex surrogate of the
        per-image (or batch) IoU, not of per-pixel accuracy. Often used to fine-tune after
        cross-entropy, since its gradient at start is concentrated on the worst pixels.

    Args:
        logits: raw scores ``(N, *)``.
        target: 0/1 targets of the shape of ``logits``.
        per_sample: one loss per sample (default ``True``, Berman's ``per_image``) or one
            over the whole batch flattened.
        ignore_index: target value excluded; default -100, ``None`` for none.
        weight: optional non-negative ``(N,)`` sample weights (``per_sample=True`` only).
        mask: optional bool tensor broadcastable to ``logits``; ``False`` = leave out.
        reduction: ``"none"`` (``(N,)``, or ``(1,)`` with ``per_sample=False``), ``"mean"``
            (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``, a non-tensor ``target``.
        ValueError: shapes that differ, targets outside ``[0, 1]`` (CPU), a bad
            ``weight``/``mask``.

    Equals SMP's ``LovaszLoss(mode="binary")`` and the authors' ``lovasz_hinge``
    (``per_image = per_sample``).

    Paper:
        Berman, Rannen Triki, Blaschko, "The Lovász-Softmax loss: A tractable surrogate for the
        optimization of the intersection-over-union measure in neural networks", CVPR 2018,
        arXiv:1705.08790.

    Example:
        >>> import torch
        >>> x = torch.tensor([[2.0, -0.5, -3.0]])
        >>> g = torch.tensor([[1.0, 1.0, 0.0]])
        >>> # errors (-1, 1.5, -2): sorted 1.5 (fg), -1 (fg), -2: J = 1/2, 1, 1 -> 1.5 * 1/2
        >>> lovasz_hinge_loss(x, g)
        tensor(0.7500)
    """
    fn = "lovasz_hinge_loss"
    check_floating(fn, "logits", logits)
    check_tensor(fn, "target", target)
    check_same_device(fn, ("logits", logits), ("target", target), ("mask", mask))
    check_same_shape(fn, logits, target, ("logits", "target"))
    check_min_ndim(fn, "logits", logits, 1, "(N, ...)")
    if target.is_complex():
        raise TypeError(f"{fn}: target must be real; got dtype {target.dtype}")
    keep = exclusion(fn, logits.shape, mask=mask, labels=target, ignore_index=ignore_index)
    check_unit_values(fn, "target", target, " (binary targets; exclude void labels with "
                      "ignore_index or mask)", keep)  # fmt: skip
    work = compute_dtype(logits)
    x = zero_excluded(logits.to(work), keep)
    g = target.to(work) if keep is None else zero_excluded(target.to(work), keep)
    n = logits.shape[0]
    size = math.prod(logits.shape[1:])
    rows = (n, size) if per_sample else (1, n * size)
    margin = (x * (2.0 * g - 1.0)).reshape(rows)
    k = None if keep is None else keep.expand(logits.shape).reshape(rows)
    # sorted by the margin (exact in every dtype) rather than by 1 - margin
    key = margin.detach().reshape(rows[0], 1, rows[1])
    loss = _lovasz(torch.relu(1.0 - margin).reshape(rows[0], 1, rows[1]), lambda i: -key[i],
                   g.reshape(rows[0], 1, rows[1]), None if k is None else k[:, None])[:, 0]  # fmt: skip
    kept = _kept_samples(keep, logits.shape, per_sample)
    return _finish_per_sample(fn, loss, logits, per_sample, weight, reduction,
                              None if kept is None else kept[:, 0])  # fmt: skip


LovaszClasses = Literal["present", "all"]


@checked
def lovasz_softmax_loss(
    logits: Tensor, target: Tensor, *, classes: LovaszClasses = "present",
    from_logits: bool = True, per_sample: bool = True, ignore_index: int | None = -100,
    class_weight: ClassWeight = None, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Lovász-softmax loss: the Lovász extension of each class's Jaccard loss at the softmax
    errors, averaged over classes: a surrogate of the mean IoU.

    Formula:
        l = mean_c sum_k e_c(k) (J_c,k - J_c,(k-1)),  e_c,i = |[y_i = c] - p_c,i|,  e_c sorted decreasing

    ``classes="present"`` (default) averages over the classes present in the sample's target
    (``per_sample=True``) or the batch's; ``"all"`` over every class, an absent class then
    scoring its largest probability (its Jaccard loss is 1 from the first false positive).
    A subset of classes is ``classes="all"`` with ``class_weight`` 1 on them and 0 elsewhere:
    the class mean is weighted by ``class_weight``. Positions left out (``mask``,
    ``ignore_index``) leave every sort; a sample with none left leaves the mean. An empty
    prediction on an empty class costs 0. Ties are broken by position.

    When to use:
        Multi-class segmentation evaluated by mean IoU (Pascal VOC, Cityscapes): it optimises
        a convex surrogate of each class's IoU. Usually after, or beside, cross-entropy.

    Args:
        logits: logits (``from_logits=True``) or probabilities ``(N, C, *)``.
        target: integer class indices ``(N, *)``.
        classes: ``"present"`` (default) or ``"all"``: which classes the mean is over.
        from_logits: apply a softmax over dim 1 first; default ``True``.
        per_sample: one loss per sample (default ``True``) or one over the whole batch.
        ignore_index: label excluded; default -100, ``None`` for none.
        class_weight: optional non-negative ``(C,)`` weights of the class mean.
        weight: optional non-negative ``(N,)`` sample weights (``per_sample=True`` only).
        mask: optional bool tensor broadcastable to ``target``'s shape; ``False`` = leave out.
        reduction: ``"none"`` (``(N,)``, or ``(1,)`` with ``per_sample=False``), ``"mean"``
            (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``, non-integer ``target``.
        ValueError: shapes that do not match, labels out of range (CPU), unknown
            ``classes``, a bad ``weight``/``class_weight``/``mask``.

    Equals SMP's ``LovaszLoss(mode="multiclass")`` (``per_image = per_sample``) and the
    authors' ``lovasz_softmax``; kornia's ``lovasz_softmax_loss`` is ``classes="all"`` with
    ``per_sample=True``.

    Paper:
        Berman, Rannen Triki, Blaschko, "The Lovász-Softmax loss: A tractable surrogate for the
        optimization of the intersection-over-union measure in neural networks", CVPR 2018,
        arXiv:1705.08790.

    Example:
        >>> import torch
        >>> p = torch.tensor([[[0.9, 0.4], [0.1, 0.6]]])  # (N=1, C=2, 2 positions)
        >>> y = torch.tensor([[0, 0]])
        >>> # class 0: errors (0.1, 0.6), fg both: sorted 0.6, 0.1: J = 1/2, 1 -> 0.35
        >>> lovasz_softmax_loss(p, y, from_logits=False)
        tensor(0.3500)
    """
    fn = "lovasz_softmax_loss"
    check_floating(fn, "logits", logits)
    check_tensor(fn, "target", target)
    check_same_device(fn, ("logits", logits), ("target", target), ("mask", mask),
                      ("class_weight", class_weight))  # fmt: skip
    check_min_ndim(fn, "logits", logits, 2, "(N, C, ...)")
    expected = logits.shape[:1] + logits.shape[2:]
    if target.shape != expected:
        raise ValueError(
            f"{fn}: target must be (N, ...) = {tuple(expected)} for logits "
            f"{tuple(logits.shape)}; got {tuple(target.shape)}"
        )
    num_classes = logits.shape[1]
    keep = exclusion(fn, expected, mask=mask, labels=target, ignore_index=ignore_index)
    check_labels(fn, target, num_classes, name="target", ignore_index=ignore_index, keep=keep)
    if not from_logits:  # left-out positions hold anything (zeroed below)
        check_unit_values(fn, "logits", logits, " (from_logits=False: probabilities)",
                          None if keep is None else keep.unsqueeze(1))  # fmt: skip
    check_class_vector(fn, "class_weight", class_weight, num_classes)
    work = compute_dtype(logits)
    x = logits.to(work)
    if keep is not None:
        x = zero_excluded(x, keep.unsqueeze(1))
    p = torch.softmax(x, 1) if from_logits else x
    n = logits.shape[0]

    size = math.prod(logits.shape[2:])

    def rows(t: Tensor) -> Tensor:  # (N, K, S) -> itself, or (1, K, N S) over the batch
        t = t.reshape(n, t.shape[1], size)
        return t if per_sample else t.transpose(0, 1).reshape(1, t.shape[1], n * size)

    labels = target.long()
    if keep is not None:
        labels = torch.where(keep, labels, torch.zeros_like(labels))
    labels = rows(labels.reshape(n, 1, size))
    classes_ix = torch.arange(num_classes, device=logits.device).view(1, -1, 1)
    fg = (labels == classes_ix).to(work)
    k = None
    if keep is not None:
        k = rows(keep.expand(expected).reshape(n, 1, size))
        fg = fg * keep_factor(k, work)
    errors = (fg - rows(p)).abs()
    xr = rows(x.detach())

    def key_of(i: int) -> Tensor:
        # the order in float64, a group (sample) at a time: float32's rounding of p would
        # create ties (and so change the gradient) where float64 has none. |fg - p| is
        # -p + fg, computed in place
        x64 = xr[i].to(torch.float64, copy=True)  # never the caller's tensor: changed in place
        p64 = torch.softmax(x64, 0) if from_logits else x64
        return p64.neg_().add_(fg[i].double()).abs_()  # (a mixed-dtype add_ is slow)

    per_class = _lovasz(errors, key_of, fg, k, binary=True)
    cw = torch.ones(num_classes, dtype=work, device=logits.device) if class_weight is None \
        else class_weight.to(work)  # fmt: skip
    w = cw.expand(per_class.shape)
    if classes == "present":
        w = w * (fg.sum(-1) > 0)
    total = w.sum(-1)
    loss = torch.where(total > 0, (w * per_class).sum(-1) / torch.where(total > 0, total, 1.0),
                       per_class.sum(-1) * 0.0)  # fmt: skip
    kept = _kept_samples(keep, expected, per_sample)
    return _finish_per_sample(fn, loss, logits, per_sample, weight, reduction,
                              None if kept is None else kept[:, 0])  # fmt: skip


@checked
def mcc_loss(
    logits: Tensor, target: Tensor, *, mode: Mode = "binary", from_logits: bool = True,
    per_sample: bool = True, eps: Positive = 1e-5, ignore_index: int | None = -100,
    class_weight: ClassWeight = None, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Matthews correlation loss: ``1 - MCC`` of the soft confusion counts, a score that
    weighs all four cells (true negatives too) and stays honest under class imbalance.

    Formula:
        l = 1 - (TP TN - FP FN) / sqrt((TP + FP)(TP + FN)(TN + FP)(TN + FN)),  each count + eps

    ``TP = sum p g``, ``FP = sum p (1 - g)``, ``FN = sum (1 - p) g``, ``TN = sum (1 - p)(1 -
    g)`` over the kept positions, per sample and class (or per class over the batch), each
    plus ``eps``. The loss lies in ``[0, 2]`` (2: perfectly anti-correlated). MCC is 0/0 when
    the target or the prediction is constant; ``eps`` makes it finite there. One deliberate
    difference from SMP: an empty prediction on an empty target (``|P| = |G| = 0``) scores
    0, as in every overlap loss of losskit, where the ``eps``-regularised ratio gives about
    0.5; so does, symmetrically, a full prediction on a full target (every position
    foreground, ``|P| = |G| =`` the number of positions).

    When to use:
        Binary segmentation (skin lesions, defects) where the foreground fraction varies a lot
        between images: unlike Dice, the score also rewards getting the background right and
        is symmetric in the two classes.

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
        eps: ``> 0``, added to each of the four counts; default ``1e-5``.
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
            or binary targets out of range (CPU), ``eps <= 0``, a bad
            ``weight``/``class_weight``/``mask``.

    Equals SMP's ``MCCLoss`` (binary, probabilities: ``from_logits=False``,
    ``per_sample=False``) wherever the target or the prediction is not empty.

    Paper:
        Abhishek, Hamarneh, "Matthews Correlation Coefficient Loss for Deep Convolutional
        Networks: Application to Skin Lesion Segmentation", ISBI 2021, arXiv:2010.13454.

    Example:
        >>> import torch
        >>> p = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
        >>> g = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
        >>> mcc_loss(p, g, from_logits=False, eps=1e-12)  # TP=FP=FN=TN=1: MCC 0
        tensor(1.)
    """
    fn = "mcc_loss"
    tp, sp, sg, kept = _counts(
        fn, logits, target, mode=mode, from_logits=from_logits, per_sample=per_sample,
        ignore_index=ignore_index, mask=mask,
    )  # fmt: skip
    total = _position_counts(fn, logits, target, mode, per_sample, ignore_index, mask, tp)
    fp, fn_ = sp - tp, sg - tp
    tn = total - sp - sg + tp
    tp, fp, fn_, tn = tp + eps, fp + eps, fn_ + eps, tn + eps
    num = tp * tn - fp * fn_
    den = ((tp + fp) * (tp + fn_) * (tn + fp) * (tn + fn_)).sqrt()
    # a perfect prediction of an image one class fills (all background, or all foreground:
    # the classes are treated alike) scores 0, not the eps-regularised 0/0 of about 0.5
    perfect = (sp + sg == 0) | ((sp == total) & (sg == total))
    loss = torch.where(perfect, torch.zeros_like(num), 1.0 - num / den)
    return _finish(fn, loss, logits, per_sample, class_weight, weight, reduction, kept)


def _position_counts(
    fn: str, logits: Tensor, target: Tensor, mode: str, per_sample: bool,
    ignore_index: int | None, mask: Tensor | None, like: Tensor,
) -> Tensor:  # fmt: skip
    """How many positions each count of :func:`_counts` sums over (``like``'s shape)."""
    n = logits.shape[0]
    if mode == "multiclass":
        shape = logits.shape[:1] + logits.shape[2:]
        keep = exclusion(fn, shape, mask=mask, labels=target, ignore_index=ignore_index)
        per = (
            torch.full((n,), float(math.prod(shape[1:])), dtype=like.dtype, device=like.device)
            if keep is None
            else keep.expand(shape).reshape(n, math.prod(shape[1:])).sum(1).to(like.dtype)
        )
        per = per[:, None].expand(n, logits.shape[1])
    else:
        c = 1 if mode == "binary" else logits.shape[1]
        keep = exclusion(fn, logits.shape, mask=mask, labels=target, ignore_index=ignore_index)
        size = math.prod(logits.shape[1:]) // max(c, 1)
        per = (
            torch.full((n, c), float(size), dtype=like.dtype, device=like.device)
            if keep is None
            else keep.expand(logits.shape).reshape(n, c, -1).sum(2).to(like.dtype)
        )
    return per if per_sample else per.sum(0)


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


class GeneralizedDiceLoss(_OverlapModule, function=generalized_dice_loss):
    """Generalized Dice loss, ``1 - (2 sum_c w_c TP_c + smooth) / (sum_c w_c (|P_c| + |G_c|) +
    smooth)`` with ``w_c = 1 / |G_c|^2`` (``"square"``), ``1 / |G_c|`` or 1.

    Args:
        weighting: ``"square"`` (default), ``"simple"`` or ``"uniform"``.
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        from_logits: apply the sigmoid/softmax first; default ``True``.
        per_sample: one loss per sample (default) or one over the batch.
        smooth: ``>= 0``; default ``1e-5``.
        eps: ``> 0``; default ``1e-7``.
        ignore_index: target value left out; default -100.
        class_weight: optional ``(C,)`` factors of the volume weights (a buffer).
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``: ``logits`` ``(N, *)`` or
        ``(N, C, *)``; ``target`` of that shape or ``(N, *)`` labels; ``weight`` ``(N,)``.
        Output: a scalar, or ``(N,)`` / ``(1,)``.

    Paper:
        Sudre et al., "Generalised Dice overlap as a deep learning loss function for highly
        unbalanced segmentations", DLMIA 2017, arXiv:1707.03237.

    Example:
        >>> import torch
        >>> p = torch.tensor([[[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]])
        >>> GeneralizedDiceLoss(mode="multiclass", from_logits=False, smooth=0.0)(
        ...     p, torch.tensor([[0, 1, 1, 1]]))
        tensor(0.3125)
    """

    weighting: Weighting = DEFAULT


class LovaszHingeLoss(LossModule, function=lovasz_hinge_loss):
    """Lovász hinge loss: the Lovász extension of the Jaccard loss at the hinge errors
    ``1 - x (2g - 1)`` (binary masks).

    Args:
        per_sample: one loss per sample (default ``True``) or one over the batch.
        ignore_index: target value left out; default -100.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``: ``logits`` and ``target``
        ``(N, *)``; ``weight`` ``(N,)``. Output: a scalar, or ``(N,)`` / ``(1,)``.

    Paper:
        Berman, Rannen Triki, Blaschko, "The Lovász-Softmax loss", CVPR 2018,
        arXiv:1705.08790.

    Example:
        >>> import torch
        >>> LovaszHingeLoss()(torch.tensor([[2.0, -0.5, -3.0]]), torch.tensor([[1.0, 1.0, 0.0]]))
        tensor(0.7500)
    """

    per_sample: bool = DEFAULT
    ignore_index: int | None = DEFAULT


class LovaszSoftmaxLoss(LossModule, function=lovasz_softmax_loss):
    """Lovász-softmax loss: the class mean of the Lovász extension of each class's Jaccard
    loss at the errors ``|[y = c] - p_c|``.

    Args:
        classes: ``"present"`` (default) or ``"all"``.
        from_logits: apply the softmax first; default ``True``.
        per_sample: one loss per sample (default ``True``) or one over the batch.
        ignore_index: label left out; default -100.
        class_weight: optional ``(C,)`` weights of the class mean (a buffer).
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``: ``logits`` ``(N, C, *)``,
        ``target`` ``(N, *)`` labels, ``weight`` ``(N,)``. Output: a scalar, or ``(N,)`` /
        ``(1,)``.

    Paper:
        Berman, Rannen Triki, Blaschko, "The Lovász-Softmax loss", CVPR 2018,
        arXiv:1705.08790.

    Example:
        >>> import torch
        >>> LovaszSoftmaxLoss(from_logits=False)(
        ...     torch.tensor([[[0.9, 0.4], [0.1, 0.6]]]), torch.tensor([[0, 0]]))
        tensor(0.3500)
    """

    classes: LovaszClasses = DEFAULT
    from_logits: bool = DEFAULT
    per_sample: bool = DEFAULT
    ignore_index: int | None = DEFAULT
    class_weight: ClassWeight = DEFAULT


class MCCLoss(LossModule, function=mcc_loss):
    """Matthews correlation loss, ``1 - MCC`` of the soft confusion counts (each ``+ eps``).

    Args:
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        from_logits: apply the sigmoid/softmax first; default ``True``.
        per_sample: per sample and class (default) or per class over the batch.
        eps: ``> 0``, added to each count; default ``1e-5``.
        ignore_index: target value left out; default -100.
        class_weight: optional ``(C,)`` class weights (a buffer).
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``, as :class:`DiceLoss`.

    Paper:
        Abhishek, Hamarneh, "Matthews Correlation Coefficient Loss for Deep Convolutional
        Networks", ISBI 2021, arXiv:2010.13454.

    Example:
        >>> import torch
        >>> MCCLoss(from_logits=False, eps=1e-12)(
        ...     torch.tensor([[1.0, 1, 0, 0]]), torch.tensor([[1.0, 0, 1, 0]]))
        tensor(1.)
    """

    mode: Mode = DEFAULT
    from_logits: bool = DEFAULT
    per_sample: bool = DEFAULT
    eps: Positive = DEFAULT
    ignore_index: int | None = DEFAULT
    class_weight: ClassWeight = DEFAULT


# the segmentation losses built on this file's helpers live in private modules (the ready
# compound losses, which also use the classification family's cross-entropy and focal loss;
# the distance-based losses; the topology losses); they belong to this family
from ._boundary import (  # noqa: E402
    BoundaryLoss,
    HausdorffDTLoss,
    boundary_loss,
    hausdorff_dt_loss,
    signed_distance_map,
)
from ._segmentation import (  # noqa: E402
    DiceCELoss,
    DiceFocalLoss,
    GeneralizedDiceFocalLoss,
    GeneralizedWassersteinDiceLoss,
    dice_ce_loss,
    dice_focal_loss,
    generalized_dice_focal_loss,
    generalized_wasserstein_dice_loss,
)
from ._topology import (  # noqa: E402
    ClDiceLoss,
    DiceClDiceLoss,
    cl_dice_loss,
    dice_cl_dice_loss,
    soft_skeleton,
)

# a literal list, as in box.py, so that type checkers see the exports
__all__ += [
    "dice_ce_loss",
    "dice_focal_loss",
    "generalized_dice_focal_loss",
    "generalized_wasserstein_dice_loss",
    "DiceCELoss",
    "DiceFocalLoss",
    "GeneralizedDiceFocalLoss",
    "GeneralizedWassersteinDiceLoss",
    "hausdorff_dt_loss",
    "boundary_loss",
    "signed_distance_map",
    "HausdorffDTLoss",
    "BoundaryLoss",
    "soft_skeleton",
    "cl_dice_loss",
    "dice_cl_dice_loss",
    "ClDiceLoss",
    "DiceClDiceLoss",
]
