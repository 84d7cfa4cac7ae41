"""The machinery of the embedding family's pair-based losses over a labelled batch: the query
rows against the reference rows (the batch itself, or ``ref_embeddings``), one block of query
rows at a time.

Every pair-based loss here (NT-Xent, InfoNCE, SupCon, multi-similarity, circle) is a sum over
anchors of a term that reads only the anchor's own row of the similarity matrix. The matrix
is therefore computed in blocks of ``chunk_size`` query rows: a block's ``(k, M)`` similarities
live only while its row terms are computed, and when a gradient is needed the block is
recomputed in the backward pass (activation checkpointing), so the whole ``B x M`` matrix is
never held and the peak memory is ``O(chunk_size * M + (B + M) * D)``. ``chunk_size=None``
is one block: the dense path. Both paths run the same row function, so they agree to the
rounding of the block's matrix product.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

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
    if device.type == "cpu" and not torch.compiler.is_compiling():
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
    """Run ``row_fn`` over blocks of ``chunk_size`` query rows (one block for ``None``); with
    a gradient, each block is recomputed in the backward pass instead of being stored."""
    b = q.shape[0]
    ps, ns = (None, None) if sel is None else sel
    if chunk_size is None or chunk_size >= b:
        return row_fn(q, r, 0, yq, yr, kq, kr, same_set, ps, ns, *hyper)
    grad = torch.is_grad_enabled() and (q.requires_grad or r.requires_grad)
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
