"""The fused softmax cross-entropy under every loss of the angular-margin family.

All of them share one shape: a feature ``xt_i`` (already normalised and scaled as the loss
needs), a class matrix ``W`` (``(C, D)``, or ``(C, K, D)`` for sub-centres), the logits

``z_ij = xt_i . W_j / ||W_j|| + b_j``   (``/ ||W_j||`` only if ``normalize``; max over the
K sub-centres first),

and a loss that replaces the target's logit by a margined one. :class:`_MarginCE` returns, per
row, the log-sum-exp of the *non-target* logits and the raw target logit; the margin is then
applied to that one number per row in ordinary autograd, and the loss is
``softplus(lse_nontarget - target)``, which equals the cross-entropy of the margined logits.

Memory: nothing of size ``C x D`` is created besides the weight's gradient (the class norms
are applied to the ``B x C`` block, never to a normalised copy of ``W``), and the work runs
over blocks of classes:

* ``chunk_size=None`` (dense): the ``(C, B)`` probabilities are kept for the backward pass,
  which is then three matrix products, like any linear layer;
* ``chunk_size=n``: only per-row statistics are kept (an online log-sum-exp over class
  blocks); the backward pass recomputes each block's logits and writes its rows of the weight
  gradient directly. Peak memory beyond ``W`` and its gradient is ``O(n (B + D))``, at the
  cost of one more matrix product (four instead of three).

Denormals: probabilities below ``exp(-64)`` (float32; ``exp(-600)`` in float64) are set to
exactly 0 before any arithmetic touches them. Their total mass is below ``C e^-64``,
far under float32 resolution, and it keeps subnormal numbers, which can be many times slower
on x86 CPUs, out of the matrix products whatever the user's flush-to-zero setting.

The backward pass is hand-written. Under ``create_graph=True`` (a gradient penalty, a
Hessian-vector product) it differentiates the same quantities written as plain tensor
operations instead (:func:`_plain_parts`, ``O(B C)`` memory), so second derivatives are exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as TF
from torch import Tensor

#: block of classes for the dense path's passes (keeps each block in cache)
DENSE_BLOCK = 2048


def _log_floor(dtype: torch.dtype) -> float:
    return -600.0 if dtype == torch.float64 else -64.0


def _target_index(labels: Tensor, j0: int, c: int) -> tuple[Tensor, Tensor]:
    """For the block of classes ``[j0, j0 + c)``: which rows have their target in it, and a
    ``(1, B)`` index of that target inside the block (clamped, so always valid)."""
    local = labels - j0
    inside = (local >= 0) & (local < c)
    return inside, local.clamp(0, max(c - 1, 0)).unsqueeze(0)


def _block(
    xt: Tensor,
    w: Tensor,
    bias: Tensor | None,
    normalize: bool,
    eps: float,
    out: Tensor | None = None,
) -> tuple[Tensor, Tensor | None, Tensor | None, Tensor]:
    """Logits of one block of classes, transposed: ``(c, B)``, computed into ``out`` when
    given (flat weights only). Also returns the inverse class norms ``(c*K,)``, the
    sub-centre argmax ``(c, B)`` and the block flattened to ``(c*K, D)`` in the compute
    dtype."""
    c = w.shape[0]
    wf = w.reshape(-1, w.shape[-1]).to(xt.dtype)
    z = torch.mm(wf, xt.t()) if out is None else torch.mm(wf, xt.t(), out=out)
    inv = _inv_norm(wf, eps) if normalize else None
    if inv is not None:
        z.mul_(inv.unsqueeze(1))
    arg = None
    if w.dim() == 3:
        z, arg = z.view(c, w.shape[1], -1).max(1)
    if bias is not None:
        z.add_(bias.to(z.dtype).unsqueeze(1))
    return z, inv, arg, wf


def _plain_parts(
    xt: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    labels: Tensor,
    normalize: bool,
    target_norm: bool,
    eps: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """What :class:`_MarginCE` computes, as composable tensor operations (for double
    backward): the non-target log-sum-exp, the raw target logit and ``||W_y||``."""
    b, d = xt.shape
    c = weight.shape[0]
    wf = weight.reshape(-1, d).to(xt.dtype)
    if normalize:
        wf = wf / torch.linalg.vector_norm(wf, dim=1, keepdim=True).clamp_min(eps)
    z = xt @ wf.t()
    if weight.dim() == 3:
        z = z.view(b, c, weight.shape[1]).amax(2)
    if bias is not None:
        z = z + bias.to(z.dtype)
    inside = (labels >= 0) & (labels < c)
    idx = labels.clamp(0, max(c - 1, 0)).unsqueeze(1)
    zt = torch.where(inside, z.gather(1, idx).squeeze(1), 0.0)
    lse = torch.logsumexp(
        z.masked_fill((torch.arange(c, device=z.device) == idx) & inside.unsqueeze(1), -torch.inf),
        1,
    )
    if target_norm and weight.dim() == 2:
        wn = torch.linalg.vector_norm(weight[labels].to(xt.dtype), dim=-1)
    else:
        wn = xt.new_zeros(b)
    return lse, zt, wn


def _inv_norm(wf: Tensor, eps: float) -> Tensor:
    # 1 / max(||W_j||, eps): a zero class centre has cosine 0 with every feature
    return torch.linalg.vector_norm(wf, dim=1).clamp_min(eps).reciprocal()


class _MarginCE(torch.autograd.Function):
    """``(xt, W, b, labels) -> (lse over non-target classes, raw target logit, ||W_y||)``."""

    @staticmethod
    def forward(
        ctx,
        xt: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        labels: Tensor,
        normalize: bool,
        chunk: int,
        store: bool,
        target_norm: bool,
        eps: float,
    ) -> tuple[Tensor, Tensor, Tensor]:
        B = xt.shape[0]
        C = weight.shape[0]
        subcentres = weight.dim() == 3
        floor = _log_floor(xt.dtype)
        ninf = float("-inf")
        m = xt.new_full((B,), ninf)  # running max of the non-target logits
        s = xt.new_zeros(B)  # running sum of exp(z - m)
        zt = xt.new_zeros(B)  # raw target logit
        buf = xt.new_empty((C, B)) if store else None
        argbuf = None
        if store and subcentres:
            small = weight.shape[1] <= 256  # the winning sub-centre's index fits a byte
            kind = torch.uint8 if small else torch.int64
            argbuf = torch.empty((C, B), dtype=kind, device=xt.device)
        for j0 in range(0, C, chunk):
            j1 = min(j0 + chunk, C)
            b = None if bias is None else bias[j0:j1]
            # dense: flat logits go straight into the buffer
            out = buf[j0:j1] if buf is not None and not subcentres else None
            z, _, arg, _ = _block(xt, weight[j0:j1], b, normalize, eps, out=out)
            inside, idx = _target_index(labels, j0, j1 - j0)
            cur = z.gather(0, idx).squeeze(0)
            zt = torch.where(inside, cur, zt)
            z.scatter_(0, idx, torch.where(inside, torch.full_like(cur, ninf), cur).unsqueeze(0))
            m_new = torch.maximum(m, z.amax(0))
            shift = torch.nan_to_num(m_new, neginf=0.0)  # a row may have seen only its target
            if buf is not None:
                if out is None:
                    buf[j0:j1] = z
                if argbuf is not None:
                    argbuf[j0:j1] = arg
                e = z - shift
            else:
                e = z.sub_(shift)
            e = TF.threshold_(e, floor, ninf).exp_()
            s = s * torch.exp(m - shift) + e.sum(0)
            m = m_new
        lse = m + torch.log(s)  # -inf for a row whose only class is its target
        safe = torch.nan_to_num(lse, neginf=0.0)
        if buf is not None:
            for j0 in range(0, C, chunk):
                TF.threshold_(buf[j0 : j0 + chunk].sub_(safe), floor, ninf).exp_()
        target_norm = target_norm and not subcentres
        if target_norm:
            wn = torch.linalg.vector_norm(weight[labels].to(xt.dtype), dim=-1)
        else:
            wn = xt.new_zeros(B)
        ctx.save_for_backward(xt, weight, bias, labels, safe, wn, buf, argbuf)
        ctx.cfg = (normalize, chunk, target_norm, eps)
        return lse, zt, wn

    @staticmethod
    def backward(ctx, g_lse: Tensor, g_zt: Tensor, g_wn: Tensor):
        xt, weight, bias, labels, safe, wn, buf, argbuf = ctx.saved_tensors
        normalize, chunk, target_norm, eps = ctx.cfg
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if torch.is_grad_enabled():
            # create_graph=True: differentiate the plain formulas, so the gradient has a graph
            wanted = [t for t, n in ((xt, need_x), (weight, need_w), (bias, need_b)) if n]
            outs = _plain_parts(xt, weight, bias, labels, normalize, target_norm, eps)
            pairs = [
                (o, g) for o, g in zip(outs, (g_lse, g_zt, g_wn), strict=True) if o.requires_grad
            ]
            grads = iter(
                torch.autograd.grad(
                    [o for o, _ in pairs], wanted, [g for _, g in pairs],
                    create_graph=True, allow_unused=True, materialize_grads=True,
                )
            )  # fmt: skip
            gx, gw, gb = (next(grads) if n else None for n in (need_x, need_w, need_b))
            return gx, gw, gb, None, None, None, None, None, None
        B, D = xt.shape
        C = weight.shape[0]
        K = weight.shape[1] if weight.dim() == 3 else 1
        floor = _log_floor(xt.dtype)
        ninf = float("-inf")
        g_lse = g_lse.to(xt.dtype)
        g_zt = g_zt.to(xt.dtype)
        gx = torch.zeros_like(xt) if need_x else None
        gw = torch.empty_like(weight) if need_w else None  # every row is written exactly once
        gb = torch.empty_like(bias) if need_b and bias is not None else None
        for j0 in range(0, C, chunk):
            j1 = min(j0 + chunk, C)
            c = j1 - j0
            w = weight[j0:j1]
            if buf is not None:
                wf = w.reshape(-1, D).to(xt.dtype)
                inv = _inv_norm(wf, eps) if normalize else None
                dz = buf[j0:j1] * g_lse.unsqueeze(0)
                arg = None if argbuf is None else argbuf[j0:j1].long()
            else:
                # recompute this block's logits; p = exp(z - lse), 0 below the floor
                b = None if bias is None else bias[j0:j1]
                z, inv, arg, wf = _block(xt, w, b, normalize, eps)
                dz = TF.threshold_(z.sub_(safe), floor, ninf).exp_().mul_(g_lse)
            # the target entry is not part of the non-target lse; its gradient comes from zt
            inside, idx = _target_index(labels, j0, c)
            keep = dz.gather(0, idx).squeeze(0)
            dz.scatter_(0, idx, torch.where(inside, g_zt, keep).unsqueeze(0))
            if gb is not None:
                gb[j0:j1] = dz.sum(1)
            dzk = dz
            if K > 1:
                # route each (class, row) gradient to the sub-centre that won the max
                dzk = dz.new_zeros((c, K, B)).scatter_(1, arg.unsqueeze(1), dz.unsqueeze(1))
                dzk = dzk.view(c * K, B)
            a = None
            if gw is not None:
                # d loss / d (W_j / ||W_j||), straight into the gradient's rows when the
                # dtypes allow
                rows = gw[j0:j1].view(c * K, D)
                same = rows.dtype == xt.dtype
                a = torch.mm(dzk, xt, out=rows) if same else torch.mm(dzk, xt)
            if inv is not None:
                dzk.mul_(inv.unsqueeze(1))
            if gx is not None:
                gx.addmm_(dzk.t(), wf)
            if a is not None:
                if inv is not None:
                    # through W_j / ||W_j||: (a - (a . W^_j) W^_j) / ||W_j||
                    dots = torch.bmm(a.unsqueeze(1), wf.unsqueeze(2)).view(-1)
                    a.mul_(inv.unsqueeze(1)).addcmul_(wf, (-(inv**3) * dots).unsqueeze(1))
                if a is not rows:
                    rows.copy_(a)
        if gw is not None and target_norm:
            rows = weight[labels].to(xt.dtype)
            coef = g_wn.to(xt.dtype) / wn.clamp_min(eps)
            gw.index_add_(0, labels, (coef.unsqueeze(1) * rows).to(gw.dtype))
        return gx, gw, gb, None, None, None, None, None, None


@dataclass(frozen=True)
class ClassShard:
    """The classes of this rank when a margin loss runs with its classes split across ranks.

    :class:`losskit.distributed.ClassShardedLoss` builds one per call and passes it to the
    loss as ``shard=``; a loss called without it runs over all the classes of its ``centers``.

    Attributes:
        num_classes: the global class count ``C`` (labels are checked against it).
        local_labels: ``(B,)`` for each row of the global batch, the column of its target
            class in this rank's (possibly Partial-FC-sampled) centres, or ``-1`` when the
            target lives on another rank.
        index: the rows of this rank's centres that take part (Partial FC), or ``None`` for
            all of them.
        parts: the cross-rank replacement of :func:`margin_ce_parts`, with its signature.
    """

    num_classes: int
    local_labels: Tensor
    index: Tensor | None
    parts: Callable[..., tuple[Tensor, Tensor, Tensor]]


def margin_ce_parts(
    xt: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    labels: Tensor,
    *,
    normalize: bool,
    chunk_size: int | None,
    target_norm: bool = False,
    eps: float = 1e-12,
    shard: ClassShard | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Per row: the log-sum-exp of the non-target logits, the raw target logit and (if
    ``target_norm``) ``||W_y||``. See the module docstring.

    With a ``shard`` (classes split across ranks), the shard's ``parts`` answer instead: the
    same three values for the global class set (they call this function without a shard for
    the rank's own classes; a label outside them, ``-1``, has target logit 0 there)."""
    if shard is not None:
        return shard.parts(
            xt,
            weight,
            bias,
            shard.local_labels,
            normalize=normalize,
            chunk_size=chunk_size,
            target_norm=target_norm,
            eps=eps,
        )
    store = chunk_size is None
    chunk = DENSE_BLOCK if chunk_size is None else chunk_size
    return _MarginCE.apply(
        xt, weight.contiguous(), bias, labels.long(), normalize, max(chunk, 1), store,
        target_norm, eps,
    )  # fmt: skip


def softplus(d: Tensor) -> Tensor:
    """``log(1 + e^d)``, exact and stable at both ends (``-inf`` gives 0, gradient 0)."""
    return torch.logaddexp(d, torch.zeros_like(d))
