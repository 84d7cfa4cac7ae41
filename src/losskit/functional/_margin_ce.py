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
  which is then three matrix products, like any linear layer. The forward pass makes them in
  one pass over the logits: each block is overwritten by ``e = exp(z - shift)``, ``shift``
  the running maximum of the online log-sum-exp when the block is reached, and a last
  in-place pass multiplies each block by ``exp(shift - lse)`` (no second exponential);
* ``chunk_size=n``: only per-row statistics are kept (an online log-sum-exp over class
  blocks); the backward pass recomputes each block's logits and writes its rows of the weight
  gradient directly. Peak memory beyond ``W`` and its gradient is ``O(n (B + D))``, at the
  cost of one more matrix product (four instead of three).

Denormals: terms below ``exp(-64)`` of the running maximum (float32; ``exp(-600)`` in
float64) are set to exactly 0 before the exponential, and probabilities that the final
rescaling brings below ``exp(-64)`` in size are set to 0 too. Their total mass is below
``C e^-64``, far under float32 resolution, and it keeps subnormal numbers, which can be many
times slower on x86 CPUs, out of the matrix products whatever the user's flush-to-zero
setting.

Hard-negative modulation (CurricularFace; insightface's inter-class filtering): with a
:class:`Modulation` ``(threshold, a, b)``, every *non-target* logit above its row's threshold
becomes ``z (a + b z)`` (or 0) before the log-sum-exp (``a``, ``b`` may require grad). The
dense path computes the modulation once: each block's ``e`` of the modulated logits times
``dz'/dz`` replaces the raw logits in the buffer (plus two per-row running sums when ``a`` or
``b`` needs a gradient), so its backward pass is the plain one; the chunked path recomputes
the block and its modulation in the backward pass. Only elementwise passes are added (no
matrix product, no ``(C, B)`` buffer), written as float arithmetic with a 0/1 mask: on CPU a
boolean ``where`` costs many times a multiply. Losses without a modulation run the code path
they ran before.

The backward pass is hand-written. Under ``create_graph=True`` (a gradient penalty, a
Hessian-vector product) it differentiates the same quantities written as plain tensor
operations instead (:func:`_plain_parts`, ``O(B C)`` memory), so second derivatives are exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .._autograd import fused_apply, partial_inputs

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
    mod: tuple[Tensor, Tensor, Tensor] | None = None,
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
    z = z.masked_fill((torch.arange(c, device=z.device) == idx) & inside.unsqueeze(1), -torch.inf)
    if mod is not None:
        thr, ma, mb = mod
        z = _modulated(z, thr.unsqueeze(1), ma.to(z.dtype), mb.to(z.dtype))
    lse = torch.logsumexp(z, 1)
    if target_norm and weight.dim() == 2:
        wn = torch.linalg.vector_norm(weight[labels].to(xt.dtype), dim=-1)
    else:
        wn = xt.new_zeros(b)
    return lse, zt, wn


def _hard(z: Tensor, thr: Tensor, out: Tensor) -> Tensor:
    """``1.0`` where a block's logit ``z`` ``(c, B)`` is a hard negative (``z > thr``), else
    ``0.0``, into ``out``. (The target entry may read 1: its modulated value is never used.)
    Float arithmetic throughout: on CPU a bool mask in ``where``/``masked_fill`` costs many
    times a multiply."""
    return torch.gt(z, thr, out=out)


def _modulate(z: Tensor, h: Tensor, a1: Tensor, b: Tensor, out: Tensor) -> Tensor:
    """``z + h z (a + b z - 1)``, i.e. ``z (a + b z)`` where ``h = 1``, into ``out``
    (``a1 = a - 1``): three passes over the block."""
    u = torch.addcmul(a1, z, b, out=out).mul_(z)  # z (a - 1 + b z)
    return torch.addcmul(z, h, u, out=out)


def _modulate_and_slope(
    z: Tensor, h: Tensor, a1: Tensor, b: Tensor, nhalf: Tensor, out: Tensor, slope: Tensor
) -> tuple[Tensor, Tensor]:
    """:func:`_modulate` into ``out`` and ``w`` into ``slope``, with ``d z' / d z = 1 + 2 w``
    (``a + 2 b z`` where ``h = 1``, 1 elsewhere; ``a1 = a - 1``, ``nhalf = -(a - 1) / 2``):
    four passes. With ``v = h (a - 1 + b z)``: ``z' = z + z v`` and ``w = v - h (a - 1) / 2``."""
    v = torch.addcmul(a1, z, b, out=slope).mul_(h)
    zm = torch.addcmul(z, z, v, out=out)
    return zm, v.addcmul_(h, nhalf)


def _modulated(z: Tensor, thr: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """``z (a + b z)`` where ``z > thr`` (the hard negatives), ``z`` elsewhere. The product
    is taken of finite entries only (the target's ``-inf`` would leak a NaN gradient)."""
    hard = z > thr
    zh = torch.where(hard, z, 0.0)
    return torch.where(hard, zh * (a + b * zh), z)


def _inv_norm(wf: Tensor, eps: float) -> Tensor:
    # 1 / max(||W_j||, eps): a zero class centre has cosine 0 with every feature
    return torch.linalg.vector_norm(wf, dim=1).clamp_min(eps).reciprocal()


def _route(
    dz: Tensor, xt: Tensor, wf: Tensor, inv: Tensor | None, gx: Tensor | None,
    rows: Tensor | None,
) -> None:  # fmt: skip
    """Send a block's logit gradient ``dz`` ``(c, B)`` to the embeddings (``gx += dz^T W^``)
    and to the block's rows of the weight gradient (written into ``rows``), through
    ``W_j / ||W_j||`` when ``inv`` (the inverse norms) is given. ``dz`` is scaled in place."""
    a = None
    if rows is not None:
        # d loss / d (W_j / ||W_j||), straight into the gradient's rows when the dtypes allow
        same = rows.dtype == xt.dtype
        a = torch.mm(dz, xt, out=rows) if same else torch.mm(dz, xt)
    if inv is not None:
        dz.mul_(inv.unsqueeze(1))
    if gx is not None:
        gx.addmm_(dz.t(), wf)
    if a is not None and rows is not None:  # a is set only when rows is given
        if inv is not None:
            # through W_j / ||W_j||: (a - (a . W^_j) W^_j) / ||W_j||
            dots = torch.bmm(a.unsqueeze(1), wf.unsqueeze(2)).view(-1)
            a.mul_(inv.unsqueeze(1)).addcmul_(wf, (-(inv**3) * dots).unsqueeze(1))
        if a is not rows:
            rows.copy_(a)


def _lse_step(
    z: Tensor, m: Tensor, s: Tensor, floor: float
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One step of the online log-sum-exp over a block of logits ``z`` ``(c, B)`` (its
    targets already ``-inf``), which becomes ``e = exp(z - shift)`` in place (terms below
    ``exp(floor)`` exactly 0). Returns the new running max, the new running sum of
    ``exp(z - max)``, the ``shift`` (the new max, 0 where still ``-inf``) and the factor
    ``exp(m_old - shift)`` by which the running sums were rescaled."""
    m_new = torch.maximum(m, z.amax(0))
    shift = torch.nan_to_num(m_new, neginf=0.0)  # a row may have seen only its target
    e = torch.threshold_(z.sub_(shift), floor, float("-inf")).exp_()
    rescale = torch.exp(m - shift)
    return m_new, s * rescale + e.sum(0), shift, rescale


class _MarginCE(torch.autograd.Function):
    """``(xt, W, b, labels) -> (lse over non-target classes, raw target logit, ||W_y||)``."""

    @staticmethod
    def plain(
        xt: Tensor, weight: Tensor, bias: Tensor | None, labels: Tensor, normalize: bool,
        chunk: int, store: bool, target_norm: bool, eps: float, thr: Tensor | None = None,
        mod_a: Tensor | None = None, mod_b: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
        """The same results as plain operations (:func:`~losskit._autograd.fused_apply`):
        :func:`_plain_parts`, ``O(B C)`` memory whatever the chunk."""
        mod = None
        if thr is not None:
            zeros = xt.new_zeros(())
            mod = (thr.to(xt.dtype), zeros if mod_a is None else mod_a,
                   zeros if mod_b is None else mod_b)  # fmt: skip
        return _plain_parts(xt, weight, bias, labels, normalize, target_norm, eps, mod)

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
        thr: Tensor | None = None,
        mod_a: Tensor | None = None,
        mod_b: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        modulate = thr is not None
        zero = modulate and mod_a is None  # filtering: hard negatives become 0
        if thr is not None:  # (1, B) threshold and the two coefficients in the compute dtype
            thr = thr.to(xt.dtype).unsqueeze(0)
            if mod_a is not None:  # i.e. not zero
                assert mod_b is not None  # Modulation gives a and b together
                ca, cb = mod_a.detach().to(xt.dtype), mod_b.detach().to(xt.dtype)
        B = xt.shape[0]
        C = weight.shape[0]
        subcentres = weight.dim() == 3
        floor = _log_floor(xt.dtype)
        ninf = float("-inf")
        m = xt.new_full((B,), ninf)  # running max of the non-target logits
        s = xt.new_zeros(B)  # running sum of exp(z - m)
        zt = xt.new_zeros(B)  # raw target logit
        # dense: each block of the buffer holds e = exp(z - shift) (times dz'/dz under a
        # modulation), ``shift`` the running max when the block was seen; one rescaling pass
        # at the end turns it into the probabilities the backward pass reads
        buf = xt.new_empty((C, B)) if store else None
        shifts: list[tuple[int, int, Tensor]] = []
        argbuf = None
        if store and subcentres:
            small = weight.shape[1] <= 256  # the winning sub-centre's index fits a byte
            kind = torch.uint8 if small else torch.int64
            argbuf = torch.empty((C, B), dtype=kind, device=xt.device)
        # dense with a learnable modulation: per row, running sums of e z h and e z^2 h (the
        # gradients of a and b), rescaled like s
        want = modulate and not zero and store and any(ctx.needs_input_grad[10:12])
        sa, sb = (xt.new_zeros(B), xt.new_zeros(B)) if want else (None, None)
        if modulate:  # scratch blocks: the hard mask, the modulated logits, dz'/dz
            hbuf, sbuf = xt.new_empty((min(chunk, C), B)), xt.new_empty((min(chunk, C), B))
            fbuf = torch.empty_like(hbuf) if store and not zero else None
            if not zero:
                ca1, nhalf = ca - 1.0, (1.0 - ca) * 0.5
        for j0 in range(0, C, chunk):
            j1 = min(j0 + chunk, C)
            b = None if bias is None else bias[j0:j1]
            # dense: flat logits go straight into the buffer
            out = buf[j0:j1] if buf is not None and not subcentres else None
            z, _, arg, _ = _block(xt, weight[j0:j1], b, normalize, eps, out=out)
            inside, idx = _target_index(labels, j0, j1 - j0)
            cur = z.gather(0, idx).squeeze(0)
            zt = torch.where(inside, cur, zt)
            if argbuf is not None:
                assert arg is not None  # sub-centre weights: _block returns the argmax
                argbuf[j0:j1] = arg
            if not modulate:
                z.scatter_(0, idx, torch.where(inside, ninf, cur).unsqueeze(0))
                m, s, shift, _ = _lse_step(z, m, s, floor)  # z is now e
                if buf is not None:
                    if out is None:
                        buf[j0:j1] = z
                    shifts.append((j0, j1, shift))
                continue
            # the modulated logits go to scratch; dense, e dz'/dz then replaces the block's raw
            # logits in the buffer
            assert thr is not None  # the branch above takes every unmodulated call
            n = j1 - j0
            h = _hard(z, thr, hbuf[:n])
            f = None
            if zero:  # z (1 - h)
                zm = torch.addcmul(z, z, h, value=-1.0, out=sbuf[:n])
            elif fbuf is not None:
                zm, f = _modulate_and_slope(z, h, ca1, cb, nhalf, sbuf[:n], fbuf[:n])
            else:
                zm = _modulate(z, h, ca1, cb, sbuf[:n])
            kept = zm.gather(0, idx).squeeze(0)
            zm.scatter_(0, idx, torch.where(inside, ninf, kept).unsqueeze(0))
            m, s, shift, rescale = _lse_step(zm, m, s, floor)  # zm is now e
            if buf is None:
                continue
            if sa is not None and sb is not None:
                ezh = h.mul_(zm).mul_(z)  # the mask's scratch is free once f is known
                sa = sa * rescale + ezh.sum(0)
                sb = sb * rescale + ezh.mul_(z).sum(0)
            if f is None:  # dz'/dz = 1 - h
                torch.addcmul(zm, zm, h, value=-1.0, out=z)
            else:
                torch.addcmul(zm, zm, f, value=2.0, out=z)  # e (1 + 2 w)
            shifts.append((j0, j1, shift))
        lse = m + torch.log(s)  # -inf for a row whose only class is its target
        safe = torch.nan_to_num(lse, neginf=0.0)
        if buf is not None:
            # e exp(shift - lse) = p; what falls below exp(floor) in size becomes exactly 0
            # (subnormal numbers can make the backward's matrix products many times slower)
            tiny = math.exp(floor)
            for k0, k1, shift in shifts:
                blk = buf[k0:k1].mul_(torch.exp(shift - safe).unsqueeze(0))
                torch.hardshrink(blk, tiny, out=blk)
        s0 = s1 = None
        if sa is not None and sb is not None:
            # the sums were taken in units of exp(z - final shift); p = that times 1 / s
            last = torch.exp(torch.nan_to_num(m, neginf=0.0) - safe)
            s0, s1 = sa * last, sb * last
        target_norm = target_norm and not subcentres
        if target_norm:
            wn = torch.linalg.vector_norm(weight[labels].to(xt.dtype), dim=-1)
        else:
            wn = xt.new_zeros(B)
        ctx.save_for_backward(
            xt, weight, bias, labels, safe, wn, buf, argbuf, thr, mod_a, mod_b, s0, s1
        )
        ctx.cfg = (normalize, chunk, target_norm, eps)
        return lse, zt, wn

    @staticmethod
    def backward(ctx, g_lse: Tensor, g_zt: Tensor, g_wn: Tensor):
        (xt, weight, bias, labels, safe, wn, buf, argbuf, thr, mod_a, mod_b, s0, s1) = (
            ctx.saved_tensors
        )
        normalize, chunk, target_norm, eps = ctx.cfg
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        need_a, need_bb = ctx.needs_input_grad[10:12] if thr is not None else (False, False)
        none6 = (None,) * 6
        if torch.is_grad_enabled():
            # create_graph=True: differentiate the plain formulas, so the gradient has a graph
            needs = (need_x, need_w, need_b, need_a, need_bb)
            # partial derivatives (partial_inputs): CurricularFace's a is computed from xt
            xt, weight = partial_inputs(xt, weight)
            bias, mod_a, mod_b = partial_inputs(bias, mod_a, mod_b)
            leaves = (xt, weight, bias, mod_a, mod_b)
            wanted = [t for t, n in zip(leaves, needs, strict=True) if n]
            outs = _MarginCE.plain(xt, weight, bias, labels, normalize, chunk, False,
                                   target_norm, eps, None if thr is None else thr.squeeze(0),
                                   mod_a, mod_b)  # fmt: skip
            pairs = [
                (o, g) for o, g in zip(outs, (g_lse, g_zt, g_wn), strict=True) if o.requires_grad
            ]
            grads = iter(
                torch.autograd.grad(
                    [o for o, _ in pairs], wanted, [g for _, g in pairs],
                    create_graph=True, allow_unused=True, materialize_grads=True,
                )
            )  # fmt: skip
            gx, gw, gb, ga, gbb = (next(grads) if n else None for n in needs)
            return gx, gw, gb, *none6, None, ga, gbb
        modulate = thr is not None
        zero = modulate and mod_a is None
        ga = gbb = None
        if zero:
            if buf is None:
                hbuf = xt.new_empty((min(chunk, weight.shape[0]), xt.shape[0]))
        elif modulate:
            ca, cb = mod_a.to(xt.dtype), mod_b.to(xt.dtype)
            if buf is not None:  # dense: the forward pass kept the per-row sums
                g = g_lse.to(xt.dtype)
                ga = (g * s0).sum() if need_a else None
                gbb = (g * s1).sum() if need_bb else None
            else:
                ga = xt.new_zeros(()) if need_a else None
                gbb = xt.new_zeros(()) if need_bb else None
                hbuf = xt.new_empty((min(chunk, weight.shape[0]), xt.shape[0]))
                sbuf, fbuf = torch.empty_like(hbuf), torch.empty_like(hbuf)
                ca1, nhalf = ca - 1.0, (1.0 - ca) * 0.5
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
            inside, idx = _target_index(labels, j0, c)
            if buf is not None:
                # p (times dz'/dz under a modulation), kept by the forward pass
                wf = w.reshape(-1, D).to(xt.dtype)
                inv = _inv_norm(wf, eps) if normalize else None
                dz = buf[j0:j1] * g_lse.unsqueeze(0)
                arg = None if argbuf is None else argbuf[j0:j1].long()
            elif zero:
                # recompute; hard negatives are 0 (their p counts) with no gradient
                b_ = None if bias is None else bias[j0:j1]
                z, inv, arg, wf = _block(xt, w, b_, normalize, eps)
                h = _hard(z, thr, hbuf[:c])
                z.addcmul_(z, h, value=-1.0)
                cur = z.gather(0, idx).squeeze(0)
                z.scatter_(0, idx, torch.where(inside, ninf, cur).unsqueeze(0))
                dz = torch.threshold_(z.sub_(safe), floor, ninf).exp_().mul_(g_lse)
                dz.addcmul_(dz, h, value=-1.0)
            elif modulate:
                # recompute the raw logits, then p of the modulated ones times dz'/dz
                b_ = None if bias is None else bias[j0:j1]
                z, inv, arg, wf = _block(xt, w, b_, normalize, eps)
                h = _hard(z, thr, hbuf[:c])
                p, f = _modulate_and_slope(z, h, ca1, cb, nhalf, sbuf[:c], fbuf[:c])
                cur = p.gather(0, idx).squeeze(0)
                p.scatter_(0, idx, torch.where(inside, ninf, cur).unsqueeze(0))
                p = torch.threshold_(p.sub_(safe), floor, ninf).exp_().mul_(g_lse)
                # d z' / d a = z, d z' / d b = z^2 on the modulated entries
                if ga is not None or gbb is not None:
                    pz = h.mul_(p).mul_(z)
                    if ga is not None:
                        ga += pz.sum()
                    if gbb is not None:
                        gbb += pz.mul_(z).sum()
                dz = p.addcmul_(p, f, value=2.0)  # p (1 + 2 w)
            else:
                # recompute this block's logits; p = exp(z - lse), 0 below the floor
                b_ = None if bias is None else bias[j0:j1]
                z, inv, arg, wf = _block(xt, w, b_, normalize, eps)
                dz = torch.threshold_(z.sub_(safe), floor, ninf).exp_().mul_(g_lse)
            # the target entry is not part of the non-target lse; its gradient comes from zt
            keep = dz.gather(0, idx).squeeze(0)
            dz.scatter_(0, idx, torch.where(inside, g_zt, keep).unsqueeze(0))
            if gb is not None:
                gb[j0:j1] = dz.sum(1)
            dzk = dz
            if K > 1:
                # route each (class, row) gradient to the sub-centre that won the max
                assert arg is not None  # sub-centre weights: the argmax was kept or recomputed
                dzk = dz.new_zeros((c, K, B)).scatter_(1, arg.unsqueeze(1), dz.unsqueeze(1))
                dzk = dzk.view(c * K, B)
            _route(dzk, xt, wf, inv, gx, None if gw is None else gw[j0:j1].view(c * K, D))
        if gw is not None and target_norm:
            rows = weight[labels].to(xt.dtype)
            coef = g_wn.to(xt.dtype) / wn.clamp_min(eps)
            gw.index_add_(0, labels, (coef.unsqueeze(1) * rows).to(gw.dtype))
        if not modulate or zero:
            return gx, gw, gb, *none6, None, None, None
        ga = None if ga is None else ga.to(mod_a.dtype).reshape(mod_a.shape)
        gbb = None if gbb is None else gbb.to(mod_b.dtype).reshape(mod_b.shape)
        return gx, gw, gb, *none6, None, ga, gbb


def _softplus(u: Tensor) -> Tensor:
    """``log(1 + e^u)`` elementwise, exact and stable (``-inf`` gives 0)."""
    return u.clamp_min(0.0) + torch.log1p(torch.exp(-u.abs()))


def _plain_unified(
    xt: Tensor, weight: Tensor, threshold: Tensor, labels: Tensor, normalize: bool, eps: float
) -> tuple[Tensor, Tensor]:
    """What :class:`_UnifiedCE` computes, as composable tensor operations (double backward)."""
    c = weight.shape[0]
    wf = weight.to(xt.dtype)
    if normalize:
        wf = wf / torch.linalg.vector_norm(wf, dim=1, keepdim=True).clamp_min(eps)
    z = xt @ wf.t()
    inside = (labels >= 0) & (labels < c)
    idx = labels.clamp(0, max(c - 1, 0)).unsqueeze(1)
    zt = torch.where(inside, z.gather(1, idx).squeeze(1), 0.0)
    others = (torch.arange(c, device=z.device) != idx) | ~inside.unsqueeze(1)
    u = torch.where(others, z - threshold.to(z.dtype), -torch.inf)
    return _softplus(u).sum(1), zt


class _UnifiedCE(torch.autograd.Function):
    """``(xt, W, b, labels) -> (sum over non-target j of softplus(z_j - b), raw target logit)``
    with ``z_ij = xt_i . W_j / ||W_j||``: UniFace's negative terms, fused like
    :class:`_MarginCE` (dense: the ``(C, B)`` sigmoids kept for the backward pass; chunked:
    recomputed)."""

    @staticmethod
    def plain(
        xt: Tensor, weight: Tensor, threshold: Tensor, labels: Tensor, normalize: bool,
        chunk: int, store: bool, eps: float,
    ) -> tuple[Tensor, Tensor]:  # fmt: skip
        """The same results as plain operations (:func:`~losskit._autograd.fused_apply`)."""
        return _plain_unified(xt, weight, threshold, labels, normalize, eps)

    @staticmethod
    def forward(
        ctx, xt: Tensor, weight: Tensor, threshold: Tensor, labels: Tensor, normalize: bool,
        chunk: int, store: bool, eps: float,
    ) -> tuple[Tensor, Tensor]:  # fmt: skip
        B, C = xt.shape[0], weight.shape[0]
        b = threshold.detach().to(xt.dtype)
        total = xt.new_zeros(B)
        zt = xt.new_zeros(B)
        buf = xt.new_empty((C, B)) if store else None
        ninf = float("-inf")
        for j0 in range(0, C, chunk):
            j1 = min(j0 + chunk, C)
            z, _, _, _ = _block(xt, weight[j0:j1], None, normalize, eps,
                                out=None if buf is None else buf[j0:j1])  # fmt: skip
            inside, idx = _target_index(labels, j0, j1 - j0)
            cur = z.gather(0, idx).squeeze(0)
            zt = torch.where(inside, cur, zt)
            z.scatter_(0, idx, torch.where(inside, torch.full_like(cur, ninf), cur).unsqueeze(0))
            u = z.sub_(b)
            total += _softplus(u).sum(0)
            if buf is not None:
                u.sigmoid_()  # the buffer keeps d softplus / d z (0 at the target)
        ctx.save_for_backward(xt, weight, threshold, labels, buf)
        ctx.cfg = (normalize, chunk, eps)
        return total, zt

    @staticmethod
    def backward(ctx, g_total: Tensor, g_zt: Tensor):
        xt, weight, threshold, labels, buf = ctx.saved_tensors
        normalize, chunk, eps = ctx.cfg
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        none5 = (None,) * 5
        if torch.is_grad_enabled():
            needs = (need_x, need_w, need_b)
            xt, weight, threshold = partial_inputs(xt, weight, threshold)
            wanted = [t for t, n in zip((xt, weight, threshold), needs, strict=True) if n]
            outs = _plain_unified(xt, weight, threshold, labels, normalize, eps)
            pairs = [(o, g) for o, g in zip(outs, (g_total, g_zt), strict=True) if o.requires_grad]
            grads = iter(
                torch.autograd.grad(
                    [o for o, _ in pairs], wanted, [g for _, g in pairs],
                    create_graph=True, allow_unused=True, materialize_grads=True,
                )
            )  # fmt: skip
            return (*(next(grads) if n else None for n in needs), *none5)
        B, D = xt.shape
        C = weight.shape[0]
        b = threshold.detach().to(xt.dtype)
        g_total = g_total.to(xt.dtype)
        g_zt = g_zt.to(xt.dtype)
        gx = torch.zeros_like(xt) if need_x else None
        gw = torch.empty_like(weight) if need_w else None
        gb = xt.new_zeros(()) if need_b else None
        for j0 in range(0, C, chunk):
            j1 = min(j0 + chunk, C)
            c = j1 - j0
            inside, idx = _target_index(labels, j0, c)
            if buf is not None:
                wf = weight[j0:j1].to(xt.dtype)
                inv = _inv_norm(wf, eps) if normalize else None
                dz = buf[j0:j1] * g_total.unsqueeze(0)
            else:
                z, inv, _, wf = _block(xt, weight[j0:j1], None, normalize, eps)
                cur = z.gather(0, idx).squeeze(0)
                z.scatter_(0, idx, torch.where(inside, torch.full_like(cur, -torch.inf), cur)
                           .unsqueeze(0))  # fmt: skip
                dz = z.sub_(b).sigmoid_().mul_(g_total)
            if gb is not None:  # d softplus(z - b) / d b = -sigmoid(z - b)
                gb -= dz.sum()
            keep = dz.gather(0, idx).squeeze(0)
            dz.scatter_(0, idx, torch.where(inside, g_zt, keep).unsqueeze(0))
            _route(dz, xt, wf, inv, gx, None if gw is None else gw[j0:j1])
        if gb is not None:
            gb = gb.to(threshold.dtype).reshape(threshold.shape)
        return gx, gw, gb, *none5


def unified_ce_parts(
    xt: Tensor,
    weight: Tensor,
    threshold: Tensor,
    labels: Tensor,
    *,
    normalize: bool,
    chunk_size: int | None,
    eps: float = 1e-12,
    shard: ClassShard | None = None,
) -> tuple[Tensor, Tensor]:
    """Per row: ``sum_{j != y} softplus(z_j - threshold)`` and the raw target logit ``z_y``
    (UniFace's negative terms), dense or chunked like :func:`margin_ce_parts`; with a
    ``shard``, over the global class set (the shard's ``unified``)."""
    if shard is not None:
        if shard.unified is None:
            raise NotImplementedError("unified_ce_parts: this shard cannot combine the terms")
        return shard.unified(xt, weight, threshold, shard.local_labels, normalize=normalize,
                             chunk_size=chunk_size, eps=eps)  # fmt: skip
    chunk = DENSE_BLOCK if chunk_size is None else chunk_size
    return fused_apply(_UnifiedCE, xt, weight.contiguous(), threshold.reshape(()), labels.long(),
                            normalize, max(chunk, 1), chunk_size is None, eps)  # fmt: skip


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
        targets: the cross-rank replacement of :func:`target_logits` (``None``: not
            available), with its signature.
        unified: the cross-rank replacement of :func:`unified_ce_parts` (``None``: not
            available), with its signature.
    """

    num_classes: int
    local_labels: Tensor
    index: Tensor | None
    parts: Callable[..., tuple[Tensor, Tensor, Tensor]]
    targets: Callable[..., Tensor] | None = None
    unified: Callable[..., tuple[Tensor, Tensor]] | None = None


@dataclass(frozen=True)
class Modulation:
    """Hard-negative modulation of the non-target logits: ``z -> z (a + b z)`` wherever
    ``z > threshold`` of its row (CurricularFace: ``a = t``, ``b = 1 / s``); with ``a`` and
    ``b`` both ``None``, ``z -> 0`` there (insightface's inter-class filtering, a cheaper
    path than ``a = b = 0``).

    Attributes:
        threshold: ``(B,)`` per row, in logit units (no gradient: it only selects).
        a: a 0-dim tensor (it may require grad), or ``None``.
        b: a 0-dim tensor (it may require grad), or ``None``.
    """

    threshold: Tensor
    a: Tensor | None = None
    b: Tensor | None = None


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
    modulation: Modulation | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Per row: the log-sum-exp of the non-target logits (after the ``modulation``, if any),
    the raw target logit and (if ``target_norm``) ``||W_y||``. See the module docstring.

    With a ``shard`` (classes split across ranks), the shard's ``parts`` answer instead: the
    same three values for the global class set (they call this function without a shard for
    the rank's own classes; a label outside them, ``-1``, has target logit 0 there)."""
    if shard is not None:
        extra = {} if modulation is None else {"modulation": modulation}
        return shard.parts(
            xt,
            weight,
            bias,
            shard.local_labels,
            normalize=normalize,
            chunk_size=chunk_size,
            target_norm=target_norm,
            eps=eps,
            **extra,
        )
    store = chunk_size is None
    chunk = DENSE_BLOCK if chunk_size is None else chunk_size
    if modulation is None:
        return fused_apply(_MarginCE,
            xt, weight.contiguous(), bias, labels.long(), normalize, max(chunk, 1), store,
            target_norm, eps,
        )  # fmt: skip
    if weight.dim() != 2:
        raise NotImplementedError("margin_ce_parts: a modulation needs (C, D) class weights")
    a, b = modulation.a, modulation.b
    return fused_apply(_MarginCE,
        xt, weight.contiguous(), bias, labels.long(), normalize, max(chunk, 1), store,
        target_norm, eps, modulation.threshold.detach(), None if a is None else a.reshape(()),
        None if b is None else b.reshape(()),
    )  # fmt: skip


def target_logits(
    xt: Tensor,
    weight: Tensor,
    labels: Tensor,
    *,
    normalize: bool,
    eps: float = 1e-12,
    shard: ClassShard | None = None,
) -> Tensor:
    """``(B,)`` the raw target logit ``xt_i . W_y / ||W_y||`` of every row, with its gradient,
    in ``O(B D)`` (before the fused pass, which needs it for a modulation's threshold). With a
    ``shard``, the target rows live on one rank each: the shard's ``targets`` combine them."""
    if shard is not None:
        if shard.targets is None:
            raise NotImplementedError("target_logits: this shard cannot gather target logits")
        return shard.targets(xt, weight, shard.local_labels, normalize=normalize, eps=eps)
    return _own_target_logits(xt, weight, labels, normalize=normalize, eps=eps)


def _own_target_logits(
    xt: Tensor, weight: Tensor, labels: Tensor, *, normalize: bool, eps: float
) -> Tensor:
    """:func:`target_logits` over this process's classes; a label ``-1`` (not here) gives 0."""
    here = labels >= 0
    rows = weight[labels.clamp_min(0)].to(xt.dtype)
    z = (xt * rows).sum(-1)
    if normalize:
        z = z / torch.linalg.vector_norm(rows, dim=-1).clamp_min(eps)
    return torch.where(here, z, torch.zeros_like(z))


def softplus(d: Tensor) -> Tensor:
    """``log(1 + e^d)``, exact and stable at both ends (``-inf`` gives 0, gradient 0)."""
    return torch.logaddexp(d, torch.zeros_like(d))
