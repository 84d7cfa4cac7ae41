"""The machinery of the embedding family's pair-based losses over a labelled batch: the query
rows against the reference rows (the batch itself, or ``ref_embeddings``), one block of query
rows at a time.

Every pair-based loss here (NT-Xent, InfoNCE, SupCon, multi-similarity, circle) is a sum over
anchors of a term that reads only the anchor's own row of the similarity matrix. The matrix
is therefore computed in blocks of ``chunk_size`` query rows: a block's ``(k, M)`` similarities
live only while its row terms and, when a gradient is needed, the block's share of the
gradients are computed (see "fused blocks" below), so the whole ``B x M`` matrix is never held
and the peak memory is ``O(chunk_size * M + (B + M) * D)``. ``chunk_size=None`` is one block:
the dense path. Both paths run the same fused row function, so they agree to the rounding of
the block's matrix products; each fused function equals the plain row function it stands
for (written below as ordinary tensor operations, which ``torch.compile`` and double
backward use).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from .._autograd import fused_apply, partial_inputs, traced, transforms_active
from .._checks import (
    check_floating,
    check_integer,
    check_ndim,
    check_same_device,
    compute_dtype,
    not_ignored,
)
from .._reduction import Reduction, reduce_loss, zero_excluded
from ._common import labelled_rows
from .distance import normalize

#: ``row_fn(q, r, start, yq, yr, kq, kr, same_set, ps, ns, *hyper) -> (total (k,), count (k,))``;
#: ``ps``/``ns``: the ``(k, M)`` rows of the listed positive/negative pairs (``None``: by label)
RowFn = Callable[..., tuple[Tensor, Tensor]]


def reduce_counted(
    fn: str, total: Tensor, count: Tensor, reduction: Reduction, out_dtype: torch.dtype
) -> Tensor:
    """Reduce per-sample sums ``total`` that each stand for ``count`` terms: ``"none"`` gives
    ``total``, ``"sum"`` its sum and ``"mean"`` ``sum(total) / sum(count)`` (0 when no term)."""
    ok = count > 0
    per = torch.where(ok, total / torch.where(ok, count, torch.ones_like(count)), 0.0)
    return reduce_loss(per, reduction, weight=count, fn=fn).to(out_dtype)


def softplus(x: Tensor) -> Tensor:
    """``log(1 + e^x)`` exactly at every ``x`` (torch's ``softplus`` returns ``x`` itself above
    ``x = 20``, an error of ``e^-20``)."""
    return torch.logaddexp(x, torch.zeros((), dtype=x.dtype, device=x.device))


def candidates(
    k: int, m: int, start: int, kq: Tensor | None, kr: Tensor | None, same_set: bool,
    device: torch.device,
) -> Tensor:  # fmt: skip
    """``(k, m)`` bool: which reference rows are candidates for query rows ``start..start+k``:
    kept on both sides, and not the anchor itself when the reference is the batch."""
    if same_set:
        rows = torch.arange(k, device=device).unsqueeze(1) + start
        cand = rows != torch.arange(m, device=device).unsqueeze(0)
    else:
        cand = torch.ones(k, m, dtype=torch.bool, device=device)
    if kq is not None:
        cand = cand & kq.unsqueeze(1)
    if kr is not None:
        cand = cand & kr.unsqueeze(0)
    return cand


def pairs_of(
    q: Tensor, r: Tensor, start: int, yq: Tensor, yr: Tensor, kq: Tensor | None,
    kr: Tensor | None, same_set: bool, ps: Tensor | None, ns: Tensor | None,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """``(k, M)`` bool positive and negative pairs of a block: by label, or the listed pairs
    (``ps``, ``ns``), among the candidates (kept, not the anchor itself)."""
    cand = candidates(q.shape[0], r.shape[0], start, kq, kr, same_set, q.device)
    if ps is not None and ns is not None:
        return cand & ps, cand & ns
    same = yq.unsqueeze(1) == yr.unsqueeze(0)
    return cand & same, cand & ~same


def selection(
    fn: str, indices: object, b: int, m: int, device: torch.device
) -> tuple[Tensor, Tensor] | None:
    """Listed pairs as ``(B, M)`` bool masks: ``indices`` is a miner's output, pairs
    ``(a1, p, a2, n)`` or triplets ``(a, p, n)`` (each triplet gives the pairs ``(a, p)`` and
    ``(a, n)``); ``None`` passes."""
    if indices is None:
        return None
    if not isinstance(indices, (tuple, list)) or len(indices) not in (3, 4):
        raise TypeError(
            f"{fn}: indices must be a tuple of 4 tensors (anchor, positive, anchor, negative "
            f"pairs) or 3 (anchor, positive, negative triplets); got {type(indices).__name__}"
            + (f" of length {len(indices)}" if isinstance(indices, (tuple, list)) else "")
        )
    names = ("a1", "p", "a2", "n") if len(indices) == 4 else ("a", "p", "n")
    for name, t in zip(names, indices, strict=True):
        check_integer(fn, f"indices ({name})", t)
        check_ndim(fn, f"indices ({name})", t, 1)
        check_same_device(fn, ("embeddings", torch.empty(0, device=device)),
                          (f"indices ({name})", t))  # fmt: skip
    if len(indices) == 3:
        a, p, n = indices
        if not a.shape == p.shape == n.shape:
            raise ValueError(
                f"{fn}: indices (a, p, n) must have one length; got {a.shape[0]}, "
                f"{p.shape[0]}, {n.shape[0]}"
            )
        a1, a2 = a, a
    else:
        a1, p, a2, n = indices
        for x, y, what in ((a1, p, "(a1, p)"), (a2, n, "(a2, n)")):
            if x.shape != y.shape:
                raise ValueError(
                    f"{fn}: indices {what} must have one length; got {x.shape[0]} and "
                    f"{y.shape[0]}"
                )
    if device.type == "cpu" and not traced():
        for name, t, size, what in (("anchor", a1, b, "embeddings"), ("anchor", a2, b, "embeddings"),
                                    ("positive", p, m, "the reference set"),
                                    ("negative", n, m, "the reference set")):  # fmt: skip
            if t.numel() and (int(t.min()) < 0 or int(t.max()) >= size):
                raise ValueError(
                    f"{fn}: indices ({name}) must lie in [0, {size - 1}], rows of {what}; "
                    f"got values in [{int(t.min())}, {int(t.max())}]"
                )
    ps = torch.zeros(b, m, dtype=torch.bool, device=device)
    ns = torch.zeros(b, m, dtype=torch.bool, device=device)
    ps[a1.long(), p.long()] = True
    ns[a2.long(), n.long()] = True
    return ps, ns


def masked_logsumexp(x: Tensor, keep: Tensor, dim: int = 1) -> tuple[Tensor, Tensor]:
    """``log sum exp`` of ``x`` over the kept entries along ``dim``, and whether any entry is
    kept. A row with none gets 0 (not ``-inf``), so that neither it nor its gradient is NaN;
    the caller selects it away with the returned flag."""
    anyk = keep.any(dim, keepdim=True)
    fill = torch.where(keep, x, float("-inf"))
    fill = torch.where(anyk, fill, torch.zeros((), dtype=x.dtype, device=x.device))
    return torch.logsumexp(fill, dim), anyk.squeeze(dim)


def check_reference(
    fn: str, embeddings: Tensor, ref_embeddings: Tensor | None, ref_labels: Tensor | None
) -> None:
    """``ref_embeddings (M, D)`` floating with ``ref_labels (M,)`` integer, both or neither."""
    if (ref_embeddings is None) != (ref_labels is None):
        raise ValueError(
            f"{fn}: ref_embeddings and ref_labels go together; got "
            f"{'ref_embeddings' if ref_labels is None else 'ref_labels'} alone"
        )
    if ref_embeddings is None or ref_labels is None:
        return
    check_floating(fn, "ref_embeddings", ref_embeddings)
    check_ndim(fn, "ref_embeddings", ref_embeddings, 2)
    check_integer(fn, "ref_labels", ref_labels)
    if ref_embeddings.shape[1] != embeddings.shape[1]:
        raise ValueError(
            f"{fn}: ref_embeddings must have shape (M, {embeddings.shape[1]}) to match "
            f"embeddings {tuple(embeddings.shape)}; got {tuple(ref_embeddings.shape)}"
        )
    if ref_labels.shape != ref_embeddings.shape[:1]:
        raise ValueError(
            f"{fn}: ref_labels must have shape (M,) = ({ref_embeddings.shape[0]},) to match "
            f"ref_embeddings {tuple(ref_embeddings.shape)}; got {tuple(ref_labels.shape)}"
        )
    check_same_device(fn, ("embeddings", embeddings), ("ref_embeddings", ref_embeddings),
                      ("ref_labels", ref_labels))  # fmt: skip


def blockwise(
    row_fn: RowFn, q: Tensor, r: Tensor, yq: Tensor, yr: Tensor, kq: Tensor | None,
    kr: Tensor | None, same_set: bool, chunk_size: int | None, hyper: tuple[Any, ...],
    sel: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """Run ``row_fn`` over blocks of ``chunk_size`` query rows (one block for ``None``): its
    fused form where it has one (under ``torch.compile`` only as the operator, for the row
    functions in :data:`COMPILE_AS_OPERATOR`), else the plain row function, each block
    checkpointed (recomputed in the backward pass) when chunked."""
    b = q.shape[0]
    ps, ns = (None, None) if sel is None else sel
    grad = torch.is_grad_enabled() and (q.requires_grad or r.requires_grad)
    if row_fn in COMPILE_AS_OPERATOR and b > 0 and torch.compiler.is_compiling():
        # compiled: the fused path as an operator (its autograd a second operator)
        chunk = b if chunk_size is None else min(chunk_size, b)
        name = _OP_ROWS[row_fn][0]
        total, count, _, _ = _fused_pair_rows(q, r, yq, yr, kq, kr, ps, ns, same_set, chunk,
                                              name, _pack(hyper), grad and q.requires_grad,
                                              grad and r.requires_grad)  # fmt: skip
        return total, count
    if row_fn in FUSED and b > 0 and not torch.compiler.is_compiling() and not transforms_active():
        chunk = b if chunk_size is None else min(chunk_size, b)
        if not grad:
            total, count, _, _ = fused_blocks(q, r, yq, yr, kq, kr, ps, ns, same_set, chunk,
                                              row_fn, hyper, False, False)  # fmt: skip
            return total, count
        total, count = fused_apply(_FusedBlocks, q, r, yq, yr, kq, kr, ps, ns, same_set, chunk, row_fn,
                                          hyper)  # fmt: skip
        return total, count
    if chunk_size is None or chunk_size >= b:
        return row_fn(q, r, 0, yq, yr, kq, kr, same_set, ps, ns, *hyper)
    totals, counts = [], []
    for s in range(0, b, chunk_size):
        e = min(s + chunk_size, b)
        rows = (None if t is None else t[s:e] for t in (kq, ps, ns))
        kq_s, ps_s, ns_s = rows
        args = (q[s:e], r, s, yq[s:e], yr, kq_s, kr, same_set, ps_s, ns_s, *hyper)
        if grad:
            total, count = checkpoint(row_fn, *args, use_reentrant=False)
        else:
            total, count = row_fn(*args)
        totals.append(total)
        counts.append(count)
    return torch.cat(totals), torch.cat(counts)


def pair_loss(
    fn: str, row_fn: RowFn, embeddings: Tensor, labels: Tensor, ref_embeddings: Tensor | None,
    ref_labels: Tensor | None, indices: object, *, hyper: tuple[Any, ...],
    chunk_size: int | None,
    ignore_index: int | None, weight: Tensor | None, mask: Tensor | None, reduction: Reduction,
    normalized: bool = True,
) -> Tensor:  # fmt: skip
    """Check a labelled batch (and its reference set), exclude, normalise, run ``row_fn`` by
    blocks and reduce: ``"none"`` is each anchor's total, ``"mean"`` divides by the count."""
    keep = labelled_rows(
        fn, embeddings, labels, weight=weight, mask=mask, ignore_index=ignore_index
    )
    check_reference(fn, embeddings, ref_embeddings, ref_labels)
    out_dtype, work = embeddings.dtype, compute_dtype(embeddings)
    x = zero_excluded(embeddings.to(work), keep, 1)
    q = normalize(x) if normalized else x
    if ref_embeddings is None or ref_labels is None:
        r, yr, kr, same_set = q, labels, keep, True
    else:
        kr = None if ignore_index is None else not_ignored(ref_labels, ignore_index)
        xr = zero_excluded(ref_embeddings.to(work), kr, 1)
        r, yr, same_set = (normalize(xr) if normalized else xr), ref_labels, False
    sel = selection(fn, indices, q.shape[0], r.shape[0], q.device)
    total, count = blockwise(row_fn, q, r, labels, yr, keep, kr, same_set, chunk_size, hyper,
                             sel)  # fmt: skip
    if weight is not None:  # each anchor's share, and what it counts in the mean, scaled
        total, count = total * weight.to(work), count * weight.to(work)
    return reduce_counted(fn, total, count, reduction, out_dtype)


# --------------------------------------------------------------------------- row terms


def supcon_rows(
    q: Tensor, r: Tensor, start: int, yq: Tensor, yr: Tensor, kq: Tensor | None,
    kr: Tensor | None, same_set: bool, ps: Tensor | None, ns: Tensor | None, temperature: float,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """SupCon per anchor: ``LSE_{a in A(i)} s_ia / t - mean_{p in P(i)} s_ip / t``; count 1 for
    an anchor with a positive, 0 (and loss 0) for one without."""
    s = (q @ r.T) / temperature
    pos, neg = pairs_of(q, r, start, yq, yr, kq, kr, same_set, ps, ns)
    lse, _ = masked_logsumexp(s, pos | neg)
    n_pos = pos.sum(1)
    has_pos = n_pos > 0
    mean_pos = torch.where(pos, s, 0.0).sum(1) / n_pos.clamp_min(1).to(s.dtype)
    loss = torch.where(has_pos, lse - mean_pos, 0.0)
    return loss, has_pos.to(s.dtype)


def nt_xent_rows(
    q: Tensor, r: Tensor, start: int, yq: Tensor, yr: Tensor, kq: Tensor | None,
    kr: Tensor | None, same_set: bool, ps: Tensor | None, ns: Tensor | None, temperature: float,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """NT-Xent per anchor: the sum over its positives ``p`` of
    ``-log(e^{s_ip} / (e^{s_ip} + sum_n e^{s_in})) = softplus(LSE_n s_in - s_ip)``; count: the
    number of positives."""
    s = (q @ r.T) / temperature
    pos, neg = pairs_of(q, r, start, yq, yr, kq, kr, same_set, ps, ns)
    neg_lse, has_neg = masked_logsumexp(s, neg)
    # an anchor without negatives: each pair's loss is -log(1) = 0
    live = pos & has_neg.unsqueeze(1)
    z = torch.where(live, neg_lse.unsqueeze(1) - s, 0.0)
    terms = torch.where(live, softplus(z), 0.0)
    return terms.sum(1), pos.sum(1).to(s.dtype)


def _log1p_sum_exp(z: Tensor, keep: Tensor) -> tuple[Tensor, Tensor]:
    """``log(1 + sum_kept e^z)`` per row (0 for a row with nothing kept: no term), stably as
    ``softplus(LSE)``; and whether the row kept anything."""
    lse, any_kept = masked_logsumexp(z, keep)
    return torch.where(any_kept, softplus(lse), 0.0), any_kept


@torch.no_grad()
def multi_similarity_pairs(
    s: Tensor, pos: Tensor, neg: Tensor, epsilon: float
) -> tuple[Tensor, Tensor]:
    """Multi-similarity mining (Wang et al. 2019) within each row: a positive is kept when
    ``s_ip - epsilon < max_n s_in``, a negative when ``s_in + epsilon > min_p s_ip``. A row
    without negatives keeps no positive and one without positives no negative."""
    neg_max = torch.where(neg, s, float("-inf")).amax(1, keepdim=True)
    pos_min = torch.where(pos, s, float("inf")).amin(1, keepdim=True)
    return pos & (s - epsilon < neg_max), neg & (s + epsilon > pos_min)


def multi_similarity_rows(
    q: Tensor, r: Tensor, start: int, yq: Tensor, yr: Tensor, kq: Tensor | None,
    kr: Tensor | None, same_set: bool, ps: Tensor | None, ns: Tensor | None,
    pos_scale: float, neg_scale: float, base: float,
    epsilon: float | None,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """Multi-similarity per anchor: ``1/a log(1 + sum_p e^{-a (s_ip - base)}) + 1/b log(1 +
    sum_n e^{b (s_in - base)})`` over the (mined) pairs; count 1 per kept anchor."""
    s = q @ r.T
    pos, neg = pairs_of(q, r, start, yq, yr, kq, kr, same_set, ps, ns)
    if epsilon is not None:
        pos, neg = multi_similarity_pairs(s.detach(), pos, neg, epsilon)
    pos_term, _ = _log1p_sum_exp(-pos_scale * (s - base), pos)
    neg_term, _ = _log1p_sum_exp(neg_scale * (s - base), neg)
    loss = pos_term / pos_scale + neg_term / neg_scale
    count = torch.ones_like(loss) if kq is None else kq.to(loss.dtype)
    return loss, count


def circle_rows(
    q: Tensor, r: Tensor, start: int, yq: Tensor, yr: Tensor, kq: Tensor | None,
    kr: Tensor | None, same_set: bool, ps: Tensor | None, ns: Tensor | None, margin: float,
    scale: float, straight_through: bool,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """Circle loss per anchor: ``softplus(LSE_p -g a_p (s_p - D_p) + LSE_n g a_n (s_n - D_n))``
    with ``a_p = [1 + m - s_p]_+``, ``a_n = [s_n + m]_+``, ``D_p = 1 - m``, ``D_n = m``; count 1
    for an anchor with a positive and a negative (0 and no count otherwise)."""
    s = q @ r.T
    pos, neg = pairs_of(q, r, start, yq, yr, kq, kr, same_set, ps, ns)
    w = s.detach() if straight_through else s  # the paper's weights: constants in backward
    alpha_p = torch.relu(1.0 + margin - w)
    alpha_n = torch.relu(w + margin)
    lse_p, has_p = masked_logsumexp(-scale * alpha_p * (s - (1.0 - margin)), pos)
    lse_n, has_n = masked_logsumexp(scale * alpha_n * (s - margin), neg)
    live = has_p & has_n
    loss = torch.where(live, softplus(torch.where(live, lse_p + lse_n, 0.0)),
                       0.0)  # fmt: skip
    return loss, live.to(loss.dtype)


def generalized_lifted_rows(
    q: Tensor, r: Tensor, start: int, yq: Tensor, yr: Tensor, kq: Tensor | None,
    kr: Tensor | None, same_set: bool, ps: Tensor | None, ns: Tensor | None, margin: float,
    pos_margin: float,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """Generalized lifted structure per anchor: ``[LSE_p (d_ap - pos_margin) + LSE_n (margin -
    d_an)]_+`` on unit vectors (``d = sqrt(2 - 2 cos)``); count 1 for an anchor with a positive
    and a negative (0 and no count otherwise)."""
    from .distance import safe_sqrt

    d = safe_sqrt(2.0 - 2.0 * (q @ r.T))
    pos, neg = pairs_of(q, r, start, yq, yr, kq, kr, same_set, ps, ns)
    lse_p, has_p = masked_logsumexp(d - pos_margin, pos)
    lse_n, has_n = masked_logsumexp(margin - d, neg)
    live = has_p & has_n
    loss = torch.where(live, torch.relu(lse_p + lse_n), 0.0)
    return loss, live.to(loss.dtype)


# --------------------------------------------------------------------------- fused blocks
#
# The chunked path. Checkpointing the row functions above ran each block's forward twice and
# its autograd backward once: three passes of some 25 elementwise operations over every
# ``(k, M)`` block. The fused functions below compute, in the pass that computes the loss,
# each loss's gradient with respect to the block of similarities, ``G = d total / d S``,
# written by hand: per block one matrix product into a preallocated buffer, a few
# elementwise passes, and the two products ``G r`` (the block's rows of the query gradient)
# and ``G^T q_block`` (added into the reference gradient). The backward pass then only scales
# these two gradients when the incoming per-row gradient is one number on every counted row
# (``"mean"`` and ``"sum"`` without ``weight``); otherwise the query gradient's rows still
# scale exactly and the reference gradient is recomputed block by block. Under
# ``create_graph=True`` the backward pass differentiates the plain row function instead, so
# second derivatives are those of the formulas above (with ``O(B M)`` memory).

#: ``fused(s, pos, neg, kq, grad, *hyper) -> (total (k,), count (k,), G (k, M) or None)``:
#: ``s`` is the block's ``q r^T`` (overwritten), ``pos``/``neg`` its ``(k, M)`` pairs, ``kq``
#: its rows' keep mask (``None``: all kept)
FusedFn = Callable[..., tuple[Tensor, Tensor, Tensor | None]]


def _floor(dtype: torch.dtype) -> float:
    # exponents are clamped here: e^-64 relative to a row's largest term is far below float32
    # resolution (e^-600 in float64), and it keeps subnormal numbers out of the block
    return -600.0 if dtype == torch.float64 else -64.0


def _block_lse(x: Tensor, keep: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per row of ``x`` over the kept entries: the max ``m`` (0 where none is kept), ``e =
    exp(x - m)`` (0 off the mask; ``x`` is overwritten with it) and ``sum e`` (0 where none
    is kept, at least 1 otherwise), so that ``LSE = m + log(sum e)`` and the softmax is
    ``e / sum e``."""
    off = ~keep
    x = x.masked_fill_(off, float("-inf"))
    if x.shape[1] == 0:
        m = x.new_zeros((x.shape[0], 1))
    else:
        m = x.amax(1, keepdim=True).nan_to_num_(neginf=0.0)
    # exp of -inf, or of anything whose result is subnormal, takes a slow path on x86 CPUs
    # (about 10x and 30x a normal entry): clamp at the floor, exp, then zero what is off
    e = x.sub_(m).clamp_min_(_floor(x.dtype)).exp_().masked_fill_(off, 0.0)
    return m.squeeze(1), e, e.sum(1)


def _nonzero(t: Tensor) -> Tensor:
    """A row sum of :func:`_block_lse`'s ``e``, 0 or at least 1 (the largest entry is
    ``e^0``), with its 0s made 1: safe to divide by and to take the log of."""
    return t.clamp_min(1.0)


def supcon_fused(
    s: Tensor, pos: Tensor, neg: Tensor, kq: Tensor | None, grad: bool, temperature: float
) -> tuple[Tensor, Tensor, Tensor | None]:
    """:func:`supcon_rows`, and ``G = (softmax_A(s) - [p in P] / |P|) / t`` on the rows with
    a positive."""
    s = s.div_(temperature)
    posf = pos.to(s.dtype)
    n_pos = posf.sum(1)
    has_pos = n_pos > 0
    count = has_pos.to(s.dtype)
    mean_pos = torch.mul(s, posf).sum(1) / n_pos.clamp_min(1)
    m, e, tot = _block_lse(s, pos | neg)  # s holds e from here on
    loss = torch.where(has_pos, m + torch.log(_nonzero(tot)) - mean_pos, 0.0)
    if not grad:
        return loss, count, None
    live = count / temperature
    g = e.mul_((live / _nonzero(tot)).unsqueeze(1))
    g.addcmul_(posf, (live / n_pos.clamp_min(1)).unsqueeze(1), value=-1.0)
    return loss, count, g


def nt_xent_fused(
    s: Tensor, pos: Tensor, neg: Tensor, kq: Tensor | None, grad: bool, temperature: float
) -> tuple[Tensor, Tensor, Tensor | None]:
    """:func:`nt_xent_rows`, and ``G = -sigma(L - s_ip) / t`` at each positive and
    ``sum_p sigma(L - s_ip) softmax_N(s)_in / t`` at each negative (``L = LSE_N s``)."""
    s = s.div_(temperature)
    count = pos.sum(1).to(s.dtype)
    z = torch.neg(s)  # L - s, once L is known (the log-sum-exp overwrites s)
    m, e, tot = _block_lse(s, neg)
    has_neg = tot > 0
    lse = torch.where(has_neg, m + torch.log(_nonzero(tot)), 0.0)
    live = pos & has_neg.unsqueeze(1)
    z = z.add_(lse.unsqueeze(1))
    loss = torch.where(live, softplus(z), 0.0).sum(1)
    if not grad:
        return loss, count, None
    w = torch.where(live, z.sigmoid_(), 0.0).div_(temperature)
    g = e.mul_((w.sum(1) / _nonzero(tot)).unsqueeze(1)).sub_(w)
    return loss, count, g


def multi_similarity_fused(
    s: Tensor, pos: Tensor, neg: Tensor, kq: Tensor | None, grad: bool, pos_scale: float,
    neg_scale: float, base: float, epsilon: float | None,
) -> tuple[Tensor, Tensor, Tensor | None]:  # fmt: skip
    """:func:`multi_similarity_rows`, and ``G = -e^{z_p} / (1 + sum_P e^{z})`` at each
    positive (``z = -a (s - base)``), ``e^{z_n} / (1 + sum_N e^{z})`` at each negative
    (``z = b (s - base)``)."""
    if epsilon is not None:
        pos, neg = multi_similarity_pairs(s, pos, neg, epsilon)
    shifted = s.sub_(base)
    zp = torch.mul(shifted, -pos_scale)
    zn = shifted.mul_(neg_scale)
    parts = []
    for z, keep in ((zp, pos), (zn, neg)):
        m, e, tot = _block_lse(z, keep)
        # log(1 + sum e^z) = softplus(LSE), and e^{z - that} = e * e^{m - that}
        term = torch.where(tot > 0, softplus(m + torch.log(_nonzero(tot))), 0.0)
        parts.append((term, e, torch.exp(m - term)))
    (tp, ep, fp), (tn, en, fn) = parts
    loss = tp / pos_scale + tn / neg_scale
    count = torch.ones_like(loss) if kq is None else kq.to(loss.dtype)
    if not grad:
        return loss, count, None
    g = en.mul_(fn.unsqueeze(1)).addcmul_(ep, fp.unsqueeze(1), value=-1.0)
    return loss, count, g


def circle_fused(
    s: Tensor, pos: Tensor, neg: Tensor, kq: Tensor | None, grad: bool, margin: float,
    scale: float, straight_through: bool,
) -> tuple[Tensor, Tensor, Tensor | None]:  # fmt: skip
    """:func:`circle_rows`, and ``G = sigma(U) [softmax_P(l_p) dl_p/ds + softmax_N(l_n)
    dl_n/ds]`` with ``U = LSE_P l_p + LSE_N l_n``, ``dl_p/ds = -g a_p + g (s - D_p) [a_p >
    0]`` and ``dl_n/ds = g a_n + g (s - D_n) [a_n > 0]`` (the second terms only with
    ``grad_mode="exact"``)."""
    alpha_p = torch.rsub(s, 1.0 + margin).relu_()
    alpha_n = torch.add(s, margin).relu_()
    sp = torch.sub(s, 1.0 - margin)
    sn = s.sub_(margin)
    lp = torch.mul(alpha_p, -scale).mul_(sp)
    ln = torch.mul(alpha_n, scale).mul_(sn)
    mp, ep, tp = _block_lse(lp, pos)
    mn, en, tn = _block_lse(ln, neg)
    live = (tp > 0) & (tn > 0)
    u = torch.where(live, mp + torch.log(_nonzero(tp)) + mn + torch.log(_nonzero(tn)), 0.0)
    loss = torch.where(live, softplus(u), 0.0)
    count = live.to(loss.dtype)
    if not grad:
        return loss, count, None
    sig = torch.where(live, torch.sigmoid(u), 0.0)
    # the derivatives of l_p and l_n, written over their own factors
    if straight_through:
        dp, dn = alpha_p.mul_(-scale), alpha_n.mul_(scale)
    else:
        dp = sp.mul_(alpha_p > 0).sub_(alpha_p).mul_(scale)
        dn = sn.mul_(alpha_n > 0).add_(alpha_n).mul_(scale)
    g = ep.mul_(dp).mul_((sig / _nonzero(tp)).unsqueeze(1))
    return loss, count, g.addcmul_(en.mul_(dn), (sig / _nonzero(tn)).unsqueeze(1))


def generalized_lifted_fused(
    s: Tensor, pos: Tensor, neg: Tensor, kq: Tensor | None, grad: bool, margin: float,
    pos_margin: float,
) -> tuple[Tensor, Tensor, Tensor | None]:  # fmt: skip
    """:func:`generalized_lifted_rows`, and ``G = -[V > 0] (softmax_P(d) - softmax_N(-d)) /
    d`` (0 where ``d = 0``; ``V = LSE_P (d - pos_margin) + LSE_N (margin - d)``)."""
    d = s.mul_(-2.0).add_(2.0).clamp_min_(0.0).sqrt_()  # safe_sqrt(2 - 2 S)
    mp, ep, tp = _block_lse(torch.sub(d, pos_margin), pos)
    mn, en, tn = _block_lse(torch.rsub(d, margin), neg)
    live = (tp > 0) & (tn > 0)
    v = torch.where(live, mp + torch.log(_nonzero(tp)) + mn + torch.log(_nonzero(tn)), 0.0)
    loss = torch.where(live, torch.relu(v), 0.0)
    count = live.to(loss.dtype)
    if not grad:
        return loss, count, None
    hinge = (live & (v > 0)).to(loss.dtype)
    g = ep.mul_((hinge / _nonzero(tp)).unsqueeze(1))
    g.addcmul_(en, (hinge / _nonzero(tn)).unsqueeze(1), value=-1.0)
    # d d / d S = -1 / d where d > 0 (safe_sqrt's gradient is 0 at 0)
    return loss, count, g.div_(d.masked_fill_(d <= 0, float("inf"))).neg_()


#: the fused form of each row function (a row function without one is checkpointed)
FUSED: dict[RowFn, FusedFn] = {
    supcon_rows: supcon_fused,
    nt_xent_rows: nt_xent_fused,
    multi_similarity_rows: multi_similarity_fused,
    circle_rows: circle_fused,
    generalized_lifted_rows: generalized_lifted_fused,
}


def _block_masks(
    q: Tensor, r: Tensor, s0: int, e0: int, yq: Tensor, yr: Tensor, kq: Tensor | None,
    kr: Tensor | None, same_set: bool, ps: Tensor | None, ns: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor | None]:  # fmt: skip
    kq_s = None if kq is None else kq[s0:e0]
    ps_s = None if ps is None else ps[s0:e0]
    ns_s = None if ns is None else ns[s0:e0]
    pos, neg = pairs_of(q[s0:e0], r, s0, yq[s0:e0], yr, kq_s, kr, same_set, ps_s, ns_s)
    return pos, neg, kq_s


def fused_blocks(
    q: Tensor, r: Tensor, yq: Tensor, yr: Tensor, kq: Tensor | None, kr: Tensor | None,
    ps: Tensor | None, ns: Tensor | None, same_set: bool, chunk: int, row_fn: RowFn,
    hyper: tuple[Any, ...], need_q: bool, need_r: bool,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:  # fmt: skip
    """Per-row totals and counts of the fused form of ``row_fn`` by blocks of ``chunk`` query
    rows, and the gradients of ``sum(total)`` with respect to ``q`` and ``r`` where asked."""
    fused = FUSED[row_fn]
    b, m = q.shape[0], r.shape[0]
    buf = q.new_empty((min(chunk, b), m))
    total, count = q.new_empty(b), q.new_empty(b)
    gq = torch.empty_like(q) if need_q else None
    gr = torch.zeros_like(r) if need_r else None
    for s0 in range(0, b, chunk):
        e0 = min(s0 + chunk, b)
        qb = q[s0:e0]
        s = torch.mm(qb, r.T, out=buf[: e0 - s0])
        pos, neg, kq_s = _block_masks(q, r, s0, e0, yq, yr, kq, kr, same_set, ps, ns)
        t, c, g = fused(s, pos, neg, kq_s, need_q or need_r, *hyper)
        total[s0:e0], count[s0:e0] = t, c
        if g is not None and gq is not None:
            torch.mm(g, r, out=gq[s0:e0])
        if g is not None and gr is not None:
            gr.addmm_(g.T, qb)
    return total, count, gq, gr


def fused_backward(
    g_total: Tensor, q: Tensor, r: Tensor, yq: Tensor, yr: Tensor, kq: Tensor | None,
    kr: Tensor | None, ps: Tensor | None, ns: Tensor | None, count: Tensor, gq: Tensor | None,
    gr: Tensor | None, same_set: bool, chunk: int, row_fn: RowFn, hyper: tuple[Any, ...],
) -> tuple[Tensor | None, Tensor | None]:  # fmt: skip
    """The gradients for ``q`` and ``r`` (None where ``gq`` / ``gr`` are None) from the
    upstream gradient of the per-row totals and the gradients of their sum that the forward
    pass computed: ``gq`` scaled row by row, ``gr`` scaled once when every counted row has
    one upstream gradient (the usual ``"mean"`` and ``"sum"``), else recomputed block by block
    with each row's weight."""
    counted = count > 0  # a row that counts nothing has G = 0
    g = torch.where(counted, g_total.to(q.dtype), 0.0)
    gq_out = None if gq is None else gq * g.unsqueeze(1)
    if gr is None:
        return gq_out, None
    live = g[counted]
    first = live[:1]
    # one number on every counted row, up to the rounding of "mean"'s (c_i / n) / c_i
    tol = 8 * torch.finfo(q.dtype).eps
    if live.numel() == 0 or bool(((live - first).abs() <= tol * first.abs()).all()):
        return gq_out, gr * (first if live.numel() else 0.0)
    fused = FUSED[row_fn]
    gr_out = torch.zeros_like(r)
    buf = q.new_empty((min(chunk, q.shape[0]), r.shape[0]))
    for s0 in range(0, q.shape[0], chunk):
        e0 = min(s0 + chunk, q.shape[0])
        s = torch.mm(q[s0:e0], r.T, out=buf[: e0 - s0])
        pos, neg, kq_s = _block_masks(q, r, s0, e0, yq, yr, kq, kr, same_set, ps, ns)
        _, _, gs = fused(s, pos, neg, kq_s, True, *hyper)
        assert gs is not None  # asked for
        gr_out.addmm_(gs.T, q[s0:e0] * g[s0:e0].unsqueeze(1))
    return gq_out, gr_out


class _FusedBlocks(torch.autograd.Function):
    """``(q, r) -> (total (B,), count (B,))`` of a fused row function, by blocks of query
    rows; the gradients are computed in the forward pass (see above)."""

    @staticmethod
    def plain(
        q: Tensor, r: Tensor, yq: Tensor, yr: Tensor, kq: Tensor | None, kr: Tensor | None,
        ps: Tensor | None, ns: Tensor | None, same_set: bool, chunk: int, row_fn: RowFn,
        hyper: tuple[Any, ...],
    ) -> tuple[Tensor, Tensor]:  # fmt: skip
        """The same results as plain operations (:func:`~losskit._autograd.fused_apply`):
        the row function over every row at once."""
        return row_fn(q, r, 0, yq, yr, kq, kr, same_set, ps, ns, *hyper)

    @staticmethod
    def forward(
        ctx, q: Tensor, r: Tensor, yq: Tensor, yr: Tensor, kq: Tensor | None,
        kr: Tensor | None, ps: Tensor | None, ns: Tensor | None, same_set: bool, chunk: int,
        row_fn: RowFn, hyper: tuple[Any, ...],
    ) -> tuple[Tensor, Tensor]:  # fmt: skip
        need_q, need_r = ctx.needs_input_grad[:2]
        total, count, gq, gr = fused_blocks(q, r, yq, yr, kq, kr, ps, ns, same_set, chunk,
                                            row_fn, hyper, need_q, need_r)  # fmt: skip
        ctx.save_for_backward(q, r, yq, yr, kq, kr, ps, ns, count, gq, gr)
        ctx.cfg = (same_set, chunk, row_fn, hyper)
        ctx.mark_non_differentiable(count)
        return total, count

    @staticmethod
    def backward(ctx, g_total: Tensor, g_count: Tensor):  # noqa: ARG004
        q, r, yq, yr, kq, kr, ps, ns, count, gq, gr = ctx.saved_tensors
        same_set, chunk, row_fn, hyper = ctx.cfg
        need_q, need_r = ctx.needs_input_grad[:2]
        nones = (None,) * 10
        if torch.is_grad_enabled():
            # create_graph=True: differentiate the plain formulas, so the gradient has a graph
            # (partial_inputs: q and r may be one tensor, whose two roles get a gradient each)
            qv, rv = partial_inputs(q, r)
            total, _ = row_fn(qv, rv, 0, yq, yr, kq, kr, same_set, ps, ns, *hyper)
            wanted = [t for t, n in ((qv, need_q), (rv, need_r)) if n]
            grads = iter(torch.autograd.grad(total, wanted, g_total, create_graph=True,
                                             allow_unused=True, materialize_grads=True))  # fmt: skip
            return (next(grads) if need_q else None, next(grads) if need_r else None, *nones)
        gq_out, gr_out = fused_backward(g_total, q, r, yq, yr, kq, kr, ps, ns, count, gq, gr,
                                        same_set, chunk, row_fn, hyper)  # fmt: skip
        return gq_out, gr_out, *nones


# --------------------------------------------------------------------------------------------
# the fused path as operators, for torch.compile
# --------------------------------------------------------------------------------------------

#: each fused row function's operator name and the kinds of its hyperparameters (``f`` a
#: number, ``f?`` a number or None, ``b`` a flag), which travel to the operators as numbers
_OP_ROWS: dict[RowFn, tuple[str, tuple[str, ...]]] = {
    supcon_rows: ("supcon", ("f",)),
    nt_xent_rows: ("nt_xent", ("f",)),
    multi_similarity_rows: ("multi_similarity", ("f", "f", "f", "f?")),
    circle_rows: ("circle", ("f", "f", "b")),
    generalized_lifted_rows: ("generalized_lifted", ("f", "f")),
}
_OP_BY_NAME = {name: (row_fn, kinds) for row_fn, (name, kinds) in _OP_ROWS.items()}

#: the row functions that ``torch.compile`` runs as the operator rather than tracing their
#: plain form. Measured compiled steps (B = 512, D = 128; 128 and 16 classes): multi-similarity
#: (whose pair mining compiles poorly) 13.8 / 17.0 ms traced against 8.6 / 8.6 as the
#: operator; the others traced as fast or faster (circle 7.2 / 7.3 against 8.5 / 8.5,
#: generalized lifted 7.8 / 8.1 against 8.8 / 8.7, SupCon 6.7 / 6.9 against 7.0 / 7.3,
#: InfoNCE's rows 6.8 and 1.8 against 7.3 and 2.5), so they stay traced. Every row function
#: can take the operator path (the tests run all five through it).
COMPILE_AS_OPERATOR: set[RowFn] = {multi_similarity_rows}


def _pack(hyper: tuple[Any, ...]) -> list[float]:
    """Hyperparameters as numbers: None as NaN, a flag as 0 or 1."""
    return [math.nan if h is None else float(h) for h in hyper]


def _unpack(name: str, packed: list[float]) -> tuple[RowFn, tuple[Any, ...]]:
    row_fn, kinds = _OP_BY_NAME[name]
    hyper = tuple(
        bool(v) if kind == "b" else None if kind == "f?" and math.isnan(v) else v
        for kind, v in zip(kinds, packed, strict=True)
    )
    return row_fn, hyper


_ROWS_ARGS = (
    "Tensor q, Tensor r, Tensor yq, Tensor yr, Tensor? kq, Tensor? kr, Tensor? ps, Tensor? ns, "
    "bool same_set, SymInt chunk, str name, float[] hyper"
)


@torch.library.custom_op(
    "losskit::fused_pair_rows", mutates_args=(),
    schema=f"({_ROWS_ARGS}, bool need_q, bool need_r) -> (Tensor, Tensor, Tensor, Tensor)",
)  # fmt: skip
def _fused_pair_rows(
    q: Tensor, r: Tensor, yq: Tensor, yr: Tensor, kq: Tensor | None, kr: Tensor | None,
    ps: Tensor | None, ns: Tensor | None, same_set: bool, chunk: int, name: str,
    hyper: list[float], need_q: bool, need_r: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:  # fmt: skip
    """:func:`fused_blocks` as an operator: ``(total, count, dsum/dq, dsum/dr)``, a gradient
    not asked for as an empty tensor. Under ``torch.compile`` the compiler calls it as it is
    (the blocks, their buffers and the gradients computed beside the loss) where it would
    otherwise trace the plain row function (see :data:`COMPILE_AS_OPERATOR`)."""
    row_fn, hyp = _unpack(name, hyper)
    total, count, gq, gr = fused_blocks(q, r, yq, yr, kq, kr, ps, ns, same_set, chunk, row_fn,
                                        hyp, need_q, need_r)  # fmt: skip
    return (total, count, *_grads_or_empty(q, r, gq, gr))


def _grads_or_empty(q: Tensor, r: Tensor, gq: Tensor | None,
                    gr: Tensor | None) -> tuple[Tensor, Tensor]:  # fmt: skip
    """The operators' gradient outputs: a gradient not asked for (None) as an empty tensor."""
    return (q.new_empty(0) if gq is None else gq), (r.new_empty(0) if gr is None else gr)


def _fake_grads(q: Tensor, r: Tensor, need_q: bool, need_r: bool) -> tuple[Tensor, Tensor]:
    """The shapes of the gradient outputs, for the operators' fake implementations."""
    return q.new_empty(q.shape if need_q else (0,)), r.new_empty(r.shape if need_r else (0,))


@_fused_pair_rows.register_fake
def _(q: Tensor, r: Tensor, *rest: Any) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    # rest: (yq, ..., hyper, need_q, need_r), as in the schema
    return (q.new_empty(q.shape[0]), q.new_empty(q.shape[0]), *_fake_grads(q, r, *rest[-2:]))


@torch.library.custom_op(
    "losskit::fused_pair_rows_backward", mutates_args=(),
    schema=f"(Tensor g_total, {_ROWS_ARGS}, Tensor count, Tensor gq, Tensor gr, bool need_q, "
    "bool need_r) -> (Tensor, Tensor)",
)  # fmt: skip
def _fused_pair_rows_backward(
    g_total: Tensor, q: Tensor, r: Tensor, yq: Tensor, yr: Tensor, kq: Tensor | None,
    kr: Tensor | None, ps: Tensor | None, ns: Tensor | None, same_set: bool, chunk: int,
    name: str, hyper: list[float], count: Tensor, gq: Tensor, gr: Tensor, need_q: bool,
    need_r: bool,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """:func:`fused_backward` as an operator; a gradient not asked for is an empty tensor."""
    row_fn, hyp = _unpack(name, hyper)
    gq_out, gr_out = fused_backward(g_total, q, r, yq, yr, kq, kr, ps, ns, count,
                                    gq if need_q else None, gr if need_r else None,
                                    same_set, chunk, row_fn, hyp)  # fmt: skip
    return _grads_or_empty(q, r, gq_out, gr_out)


@_fused_pair_rows_backward.register_fake
def _(g_total: Tensor, q: Tensor, r: Tensor, *rest: Any) -> tuple[Tensor, Tensor]:  # noqa: ARG001
    # rest: (yq, ..., gr, need_q, need_r), as in the schema
    return _fake_grads(q, r, *rest[-2:])


def _rows_setup(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
    q, r, yq, yr, kq, kr, ps, ns, same_set, chunk, name, hyper, need_q, need_r = inputs
    _, count, gq, gr = output
    ctx.save_for_backward(q, r, yq, yr, kq, kr, ps, ns, count, gq, gr)
    ctx.cfg = (same_set, chunk, name, hyper, need_q, need_r)


def _rows_backward(ctx: Any, g_total: Tensor, *_: Tensor) -> tuple[Tensor | None, ...]:
    q, r, yq, yr, kq, kr, ps, ns, count, gq, gr = ctx.saved_tensors
    same_set, chunk, name, hyper, need_q, need_r = ctx.cfg
    dq, dr = _fused_pair_rows_backward(g_total, q, r, yq, yr, kq, kr, ps, ns, same_set, chunk,
                                       name, hyper, count, gq, gr, need_q, need_r)  # fmt: skip
    return (dq if need_q else None, dr if need_r else None, *(None,) * 12)


_fused_pair_rows.register_autograd(_rows_backward, setup_context=_rows_setup)
