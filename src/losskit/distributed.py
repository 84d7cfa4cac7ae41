"""Losses across processes with ``torch.distributed`` (gloo on CPU, NCCL on GPU).

Two building blocks, both exact: the loss on every rank, and the gradient of every rank's
own inputs, equal those of one process holding the whole batch (tested in float64 with 2 and
3 gloo processes, uneven batches and class counts).

* :func:`all_gather_with_grad` concatenates every rank's batch (sizes may differ) and keeps
  the autograd graph. Its backward depends on what each rank computes from the gathered
  batch, chosen by ``grad``:

  - ``grad="local"``: every rank computes the *same* global loss from the gathered batch
    (data-parallel contrastive, triplet, center, range losses). The gradient of the gathered
    tensor is then identical on every rank, and each rank keeps its own slice: no
    communication in the backward pass.
  - ``grad="sum"``: each rank computes *its own part* of the objective and the parts add up
    to the loss (a class-sharded classifier: rank r only sees the logits of its classes).
    The backward all-reduces (sums) the gradient, then keeps the local slice.

  Every gather first exchanges a few int64s of metadata (batch size, ``requires_grad``,
  dtype, shape): ranks that pass different dtypes or trailing shapes get the same
  ``ValueError`` on every rank, and when any rank's tensor requires grad, every rank takes
  the autograd path, so every rank's backward runs the same collectives.

* :func:`sharded_cross_entropy` is softmax cross-entropy over classes split across ranks
  (model parallel, as in Megatron's vocabulary-parallel CE and insightface's Partial FC):
  the logits stay local; the row maxima are all-reduced with MAX, the sums of exponentials
  and the target logits with SUM. Its backward is local.

Replicated parameters (the backbone). With the exact per-rank gradients above, the
single-process gradient of a parameter that every rank holds is the *sum* over ranks of its
local gradients. :func:`sum_gradients_` all-reduces them with a sum: the exact recipe, for any
mix of losses. DistributedDataParallel instead *averages* (1/world of the single-process
gradient): with data-parallel losses only, multiply the loss by :func:`ddp_loss_scale` before
``backward`` (the scaling pytorch-metric-learning's distributed wrapper long got wrong, its
issues 363 and 712); with a class-sharded head, whose shard must not be scaled, leave the loss
alone and multiply the backbone's learning rate by the world size, or use
:func:`sum_gradients_` on the backbone instead of DDP.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import Tensor

from ._api import checked
from ._checks import (
    Fraction,
    PositiveInt,
    check_floating,
    check_integer,
    check_ndim,
    check_tensor,
    required_check,
)
from ._reduction import Reduction, exclusion, reduce_loss
from .functional._margin_ce import (
    ClassShard,
    Modulation,
    _own_target_logits,
    margin_ce_parts,
    unified_ce_parts,
)
from .functional.margin import partial_fc_sample

__all__ = [
    "ClassShardedLoss",
    "all_gather_with_grad",
    "broadcast_state_",
    "gather_batch",
    "shard_range",
    "sum_gradients_",
    "sharded_cross_entropy",
    "ddp_loss_scale",
    "world",
]


def world(group: dist.ProcessGroup | None = None) -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` when torch.distributed is not initialised."""
    if not (dist.is_available() and dist.is_initialized()):
        return 0, 1
    return dist.get_rank(group), dist.get_world_size(group)


def ddp_loss_scale(group: dist.ProcessGroup | None = None) -> float:
    """The factor to multiply the loss by before ``backward`` under DDP (see module doc)."""
    return float(world(group)[1])


@torch.no_grad()
def broadcast_state_(
    module: torch.nn.Module, *, src: int = 0, group: dist.ProcessGroup | None = None
) -> None:
    """Copy ``module``'s parameters and buffers from rank ``src`` to every rank, in place.

    A loss module that lives outside the DDP-wrapped model (a :class:`~losskit.nn.CenterLoss`
    and its centres, say) must start identical on every rank; after that, feeding it the
    global batch (:func:`gather_batch`) keeps it identical, since every rank then computes the
    same update. No-op without an initialised process group.
    """
    if world(group)[1] == 1:
        return
    for t in [*module.parameters(), *module.buffers()]:
        dist.broadcast(t.data, src=src, group=group)


@torch.no_grad()
def sum_gradients_(module: torch.nn.Module, *, group: dist.ProcessGroup | None = None) -> None:
    """All-reduce (sum) the gradients of ``module``'s parameters over ranks, in place.

    For parameters every rank holds (a backbone): after ``backward`` with losskit's exact
    per-rank gradients, this leaves on every rank the gradient one process holding the whole
    batch would compute. Do not call it on a class shard (its gradient is already exact).
    No-op without an initialised process group.
    """
    if world(group)[1] == 1:
        return
    for p in module.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM, group=group)


def shard_range(num_classes: int, rank: int, world_size: int) -> tuple[int, int]:
    """``[start, stop)`` of the classes rank ``rank`` holds when ``num_classes`` are split
    over ``world_size`` ranks as evenly as possible (the first ``num_classes % world_size``
    ranks hold one class more). Works for any class count, divisible or not.

    Example:
        >>> [shard_range(10, r, 3) for r in range(3)]
        [(0, 4), (4, 7), (7, 10)]
    """
    if world_size <= 0 or not 0 <= rank < world_size:
        raise ValueError(
            f"shard_range: need 0 <= rank < world_size; got rank={rank}, world_size={world_size}"
        )
    if num_classes < 0:
        raise ValueError(f"shard_range: num_classes must be >= 0; got {num_classes}")
    base, extra = divmod(num_classes, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


# --------------------------------------------------------- what every rank passes to a gather

#: trailing dimensions the metadata spells out (for the message); a hash of the whole trailing
#: shape is compared as well, so tensors of any number of dimensions are checked
_SPELLED = 6
#: int64 fields per tensor: present, batch, requires_grad, dtype, ndim, shape hash, dims
_FIELDS = 6 + _SPELLED
_PRIME = 2**61 - 1
#: ranks listed in a message before the list is cut to rank 0 and the ranks that differ
_LISTED = 8


def _dtype_code(dtype: torch.dtype) -> int:
    return zlib.crc32(str(dtype).encode())  # the same number in every process


def _dtype_name(code: int) -> str:
    for v in vars(torch).values():
        if isinstance(v, torch.dtype) and _dtype_code(v) == code:
            return str(v).removeprefix("torch.")
    return f"dtype #{code}"


def _shape_hash(dims: Sequence[int]) -> int:
    h = len(dims)
    for d in dims:
        h = (h * 1_000_003 + d) % _PRIME
    return h


@dataclass(frozen=True)
class _Meta:
    """What one rank passed for one tensor argument of a gather (``present=False``: None)."""

    present: bool
    batch: int
    requires_grad: bool
    dtype: int
    ndim: int
    shape_hash: int
    dims: tuple[int, ...]  # the first _SPELLED trailing dimensions, padded with 0

    @classmethod
    def of(cls, x: Tensor | None) -> _Meta:
        if x is None:
            return cls(False, 0, False, 0, 0, 0, (0,) * _SPELLED)
        trailing = tuple(x.shape[1:])
        dims = trailing[:_SPELLED] + (0,) * (_SPELLED - len(trailing[:_SPELLED]))
        batch = x.shape[0] if x.dim() else 0
        return cls(True, batch, x.requires_grad, _dtype_code(x.dtype), x.dim(),
                   _shape_hash(trailing), dims)  # fmt: skip

    def encode(self) -> list[int]:
        head = [self.present, self.batch, self.requires_grad, self.dtype, self.ndim]
        return [int(v) for v in head] + [self.shape_hash, *self.dims]

    @classmethod
    def decode(cls, row: Sequence[int]) -> _Meta:
        present, batch, grad, dtype, ndim, shape_hash, *dims = row
        return cls(bool(present), batch, bool(grad), dtype, ndim, shape_hash, tuple(dims))

    @property
    def kind(self) -> tuple[object, ...]:
        """What every rank must agree on: all but the batch size and ``requires_grad``."""
        return self.present, self.dtype, self.ndim, self.shape_hash, self.dims

    def __str__(self) -> str:
        if not self.present:
            return "None"
        trailing = [str(d) for d in self.dims[: max(self.ndim - 1, 0)]]
        if self.ndim - 1 > _SPELLED:
            trailing.append("...")
        shape = "()" if self.ndim == 0 else f"({', '.join([str(self.batch), *trailing])}"
        if self.ndim:
            shape += ",)" if self.ndim == 1 else ")"
        return f"{shape} {_dtype_name(self.dtype)}"


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _ranks(ranks: Sequence[int]) -> str:
    """``"rank 3"``, ``"ranks 0, 1 and 2"`` (the first ``_LISTED``, then a count)."""
    if len(ranks) == 1:
        return f"rank {ranks[0]}"
    names = [str(r) for r in ranks[:_LISTED]]
    if len(ranks) > _LISTED:
        names.append(f"{len(ranks) - _LISTED} more")
    return f"ranks {_join(names)}"


def _per_rank(texts: Sequence[str], keys: Sequence[object]) -> str:
    """``"<texts[0]> on rank 0, ... and <texts[n-1]> on rank n-1"``; past ``_LISTED`` ranks,
    rank 0 and the first ranks whose key differs from rank 0's."""
    shown = list(range(len(texts)))
    tail = ""
    if len(shown) > _LISTED:
        odd = [r for r in shown if keys[r] != keys[0]]
        shown = [0, *odd[: _LISTED - 1]]
        rest = len(texts) - len(shown)
        tail = (f"; {rest} more ranks not listed" if len(odd) > _LISTED - 1
                else f"; the other {rest} ranks as rank 0")  # fmt: skip
    return _join([f"{texts[r]} on rank {r}" for r in shown]) + tail


def _exchange(tensors: Sequence[Tensor | None], group) -> list[list[_Meta]]:
    """Every rank's :class:`_Meta` of ``tensors``, as ``[rank][i]``: one all_gather of a few
    int64s (``_FIELDS`` per tensor), the only collective a gather adds to its data."""
    mine = [_Meta.of(x) for x in tensors]
    _, ws = world(group)
    if ws == 1:
        return [mine]
    device = next(x.device for x in tensors if x is not None)
    local = torch.tensor([v for m in mine for v in m.encode()], dtype=torch.long, device=device)
    every = [torch.empty_like(local) for _ in range(ws)]
    dist.all_gather(every, local, group=group)
    rows = torch.stack(every).tolist()
    return [
        [_Meta.decode(row[i * _FIELDS : (i + 1) * _FIELDS]) for i in range(len(tensors))]
        for row in rows
    ]


def _check_ranks_agree(fn: str, names: Sequence[str], metas: list[list[_Meta]]) -> None:
    """Refuse what cannot be gathered. Every rank holds the same ``metas`` (from
    :func:`_exchange`), so every rank raises the same error, before any data collective:
    a tensor passed on some ranks only, ranks that differ in dtype, number of dimensions or
    trailing shape (gloo would abort or read garbage), a tensor without a batch dimension, or
    tensors of one rank that differ in batch size."""
    for i, name in enumerate(names):
        col = [row[i] for row in metas]
        if any(m.present != col[0].present for m in col):
            has = _ranks([r for r, m in enumerate(col) if m.present])
            lacks = _ranks([r for r, m in enumerate(col) if not m.present])
            raise ValueError(
                f"{fn}: every rank must pass {name}, or none; got it on {has} but not on {lacks}"
            )
        if any(m.kind != col[0].kind for m in col):
            raise ValueError(
                f"{fn}: every rank must pass {name} of the same trailing shape and dtype; "
                f"got {_per_rank([str(m) for m in col], [m.kind for m in col])}"
            )
        if col[0].present and col[0].ndim == 0:
            raise ValueError(f"{fn}: {name} must have a batch dimension (dim 0); got shape ()")
    given = [name for name, m in zip(names, metas[0], strict=True) if m.present]
    bad = [r for r, row in enumerate(metas) if len({m.batch for m in row if m.present}) > 1]
    if bad:
        sizes = [_join([str(m.batch) for m in metas[r] if m.present]) for r in bad]
        where = [f"{s} on rank {r}" for s, r in zip(sizes, bad, strict=True)][:_LISTED]
        if len(bad) > _LISTED:
            where.append(f"{len(bad) - _LISTED} more ranks")
        got = sizes[0] if len(metas) == 1 else _join(where)
        raise ValueError(f"{fn}: {_join(given)} must have the same batch size; got {got}")


def _gather_checked(
    fn: str, names: Sequence[str], tensors: Sequence[Tensor | None], mode: str, group
) -> list[Any]:
    """Check what every rank passes (one small collective), then gather each tensor given.

    When a tensor requires grad on any rank, every rank gathers it through the autograd
    path, so that every rank's backward pass joins the same collectives (downstream ones
    too: a gathered tensor requires grad on every rank or on none). A rank whose tensor does
    not require grad passes a throwaway 0-element leaf along (``_AllGather``'s ``anchor``):
    no gradient reaches the caller's tensor."""
    metas = _exchange(tensors, group)
    _check_ranks_agree(fn, names, metas)
    if len(metas) == 1:
        return list(tensors)
    rank, _ = world(group)
    out: list[Any] = []
    for i, x in enumerate(tensors):
        col = [row[i] for row in metas]
        sizes = [m.batch for m in col]
        if x is None:
            out.append(None)
        elif any(m.requires_grad for m in col):
            anchor = None
            if not x.requires_grad:
                anchor = torch.empty(0, dtype=x.dtype, device=x.device, requires_grad=True)
            out.append(_AllGather.apply(x, anchor, sizes, rank, mode, group))
        else:
            out.append(_all_gather_padded(x, sizes, group))
    return out


def _all_gather_padded(x: Tensor, sizes: list[int], group) -> Tensor:
    """Gather ``x`` (dim 0 of size ``sizes[rank]``) from every rank, pad-free result."""
    biggest = max(sizes)
    pad = x.new_zeros((biggest - x.shape[0], *x.shape[1:]))
    padded = torch.cat([x, pad]) if biggest > x.shape[0] else x.contiguous()
    chunks = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(chunks, padded, group=group)
    return torch.cat([c[:s] for c, s in zip(chunks, sizes, strict=True)])


class _AllGather(torch.autograd.Function):
    """The gather with its gradient. ``anchor`` is ``None``, or a 0-element leaf that
    requires grad, passed by a rank whose ``x`` does not: the output then requires grad all
    the same, so this rank's backward joins the collectives of the others, and no gradient
    reaches ``x``."""

    @staticmethod
    def forward(
        ctx, x: Tensor, anchor: Tensor | None, sizes: list[int], rank: int, mode: str, group
    ) -> Tensor:
        ctx.sizes, ctx.rank, ctx.mode, ctx.group = sizes, rank, mode, group
        return _all_gather_padded(x, sizes, group)

    @staticmethod
    def backward(ctx, grad: Tensor):
        grad = grad.contiguous()
        if ctx.mode == "sum":
            grad = grad.clone()
            dist.all_reduce(grad, op=dist.ReduceOp.SUM, group=ctx.group)
        start = sum(ctx.sizes[: ctx.rank])
        mine = grad[start : start + ctx.sizes[ctx.rank]] if ctx.needs_input_grad[0] else None
        return mine, None, None, None, None, None


@checked
def all_gather_with_grad(
    x: Tensor,
    *,
    grad: Literal["local", "sum"] = "local",
    group: dist.ProcessGroup | None = None,
) -> Tensor:
    """Concatenate ``x`` from every rank along dim 0, in rank order, keeping the gradient.

    Ranks may hold batches of different sizes (including 0); the dtype, the number of
    dimensions and the trailing shape must agree. One small collective (a few int64s per
    rank: batch size, ``requires_grad``, dtype, shape) checks this before the data moves: a
    mismatch raises the same ``ValueError`` on every rank, instead of gloo aborting or
    reading garbage.

    When ``x`` requires grad on *any* rank, the result requires grad on every rank, so that
    every rank's backward pass runs the same collectives (``grad="sum"`` all-reduces there):
    a rank whose ``x`` does not require grad (an empty batch ``torch.zeros(0, D)``, say)
    takes that path through a throwaway leaf, and ``x.grad`` stays ``None``.
    Without an initialised process group this returns ``x`` itself.

    Args:
        x: this rank's tensor, ``(B_r, *trailing)``.
        grad: ``"local"`` if every rank computes the same loss from the gathered tensor,
            ``"sum"`` if each rank computes its own part of it (see the module doc).
        group: the process group (default: the world).
    Returns:
        ``(sum_r B_r, *trailing)``, every rank's ``x`` in rank order.
    Raises:
        ValueError: (on every rank) when ranks pass different dtypes, numbers of dimensions
            or trailing shapes, or a tensor without a batch dimension.
    """
    check_tensor("all_gather_with_grad", "x", x)
    if world(group)[1] == 1:
        return x
    (out,) = _gather_checked("all_gather_with_grad", ("x",), (x,), grad, group)
    return out


def gather_batch(
    embeddings: Tensor, labels: Tensor, *, group: dist.ProcessGroup | None = None
) -> tuple[Tensor, Tensor]:
    """The global batch for a data-parallel loss: every rank's embeddings (with gradient,
    ``grad="local"``) and labels, in rank order. Feed them to any losskit loss; each rank
    then computes the same global loss and gets the exact gradient of its own embeddings.

    Batch sizes may differ between ranks (0 included); the dtypes and trailing shapes must
    agree, which one small collective checks first: a mismatch, or embeddings and labels of
    different batch sizes on any rank, raises the same ``ValueError`` on every rank. When
    the embeddings of any rank require grad, the gathered embeddings require grad on every
    rank (see :func:`all_gather_with_grad`)."""
    fn = "gather_batch"
    check_tensor(fn, "embeddings", embeddings)
    check_tensor(fn, "labels", labels)
    xg, yg = _gather_checked(fn, ("embeddings", "labels"), (embeddings, labels), "local", group)
    return xg, yg


class _ShardedCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: Tensor, local_target: Tensor, group) -> Tensor:
        work = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
        b = work.shape[0]
        if work.shape[1] > 0:
            row_max = work.max(dim=1).values
        else:  # a rank that holds no class
            row_max = work.new_full((b,), float("-inf"))
        if world(group)[1] > 1:
            dist.all_reduce(row_max, op=dist.ReduceOp.MAX, group=group)
        shifted = work - row_max[:, None]
        exp = shifted.exp()
        sum_exp = exp.sum(dim=1)
        here = local_target >= 0
        idx = local_target.clamp_min(0)[:, None]
        target_logit = torch.where(
            here,
            shifted.gather(1, idx).squeeze(1) if work.shape[1] > 0 else sum_exp * 0,
            sum_exp * 0,
        )
        if world(group)[1] > 1:
            dist.all_reduce(sum_exp, op=dist.ReduceOp.SUM, group=group)
            dist.all_reduce(target_logit, op=dist.ReduceOp.SUM, group=group)
        loss = sum_exp.log() - target_logit
        ctx.save_for_backward(exp, sum_exp, local_target)
        ctx.in_dtype = logits.dtype
        return loss

    @staticmethod
    def backward(ctx, grad_loss: Tensor):
        exp, sum_exp, local_target = ctx.saved_tensors
        g = exp / sum_exp[:, None]
        here = local_target >= 0
        if g.shape[1] > 0:
            onehot = torch.zeros_like(g).scatter_(1, local_target.clamp_min(0)[:, None], 1.0)
            g = g - onehot * here[:, None].to(g.dtype)
        g = g * grad_loss[:, None].to(g.dtype)
        return g.to(ctx.in_dtype), None, None


@checked
def sharded_cross_entropy(
    logits: Tensor,
    labels: Tensor,
    class_start: int,
    *,
    reduction: Reduction = "mean",
    group: dist.ProcessGroup | None = None,
) -> Tensor:
    r"""Softmax cross-entropy when the classes are split across ranks.

    Rank r holds ``logits`` of shape ``(B, C_r)``: the columns of classes
    ``[class_start, class_start + C_r)`` for the *same* global batch of ``B`` rows on every
    rank. ``labels`` are global class ids ``(B,)``. The result is the cross-entropy of the
    full ``(B, C)`` logits, on every rank, without ever building them:
    ``l_i = log sum_c exp(z_ic) - z_{i,y_i}`` with the max and the sum all-reduced.

    The gradient of ``logits`` is exact (``softmax - onehot`` restricted to this shard,
    times the incoming gradient). Upstream of the logits, each rank's graph holds only its
    shard's part: gather shared inputs with ``all_gather_with_grad(..., grad="sum")``.
    Without an initialised process group this is ordinary cross-entropy.

    Args:
        logits: ``(B, C_r)`` this rank's logits (``C_r`` may be 0).
        labels: ``(B,)`` global class ids.
        class_start: the first class this rank holds (see :func:`shard_range`).
        reduction: ``"none"`` ``(B,)``, ``"mean"`` or ``"sum"`` over the global batch.
    """
    fn = "sharded_cross_entropy"
    check_floating(fn, "logits", logits)
    check_integer(fn, "labels", labels)
    check_ndim(fn, "logits", logits, 2)
    if labels.shape != logits.shape[:1]:
        raise ValueError(
            f"{fn}: labels must have shape ({logits.shape[0]},); got {tuple(labels.shape)}"
        )
    local = labels - class_start
    local = torch.where((local >= 0) & (local < logits.shape[1]), local, torch.full_like(local, -1))
    loss = _ShardedCE.apply(logits, local, group)
    return reduce_loss(loss, reduction, fn=fn).to(logits.dtype)


# ----------------------------------------------------------------- class-sharded margin losses


class _SumGradAcrossRanks(torch.autograd.Function):
    """Identity forward; the backward sums the gradient over ranks. Placed where a replicated
    computation enters a rank's own shard, so every rank ends with the full gradient."""

    @staticmethod
    def forward(ctx, x: Tensor, group) -> Tensor:
        ctx.group = group
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        grad = grad.contiguous().clone()
        if world(ctx.group)[1] > 1:
            dist.all_reduce(grad, op=dist.ReduceOp.SUM, group=ctx.group)
        return grad, None


class _SumAcrossRanks(torch.autograd.Function):
    """All-reduce sum forward; the backward passes the (replicated) gradient to each rank's
    own term unchanged."""

    @staticmethod
    def forward(ctx, x: Tensor, group) -> Tensor:
        out = x.contiguous().clone()
        if world(group)[1] > 1:
            dist.all_reduce(out, op=dist.ReduceOp.SUM, group=group)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        return grad, None


class _LogSumExpAcrossRanks(torch.autograd.Function):
    """``log sum_r exp(x_r)`` over ranks, elementwise; the backward is local:
    ``g * exp(x_r - out)``."""

    @staticmethod
    def forward(ctx, x: Tensor, group) -> Tensor:
        multi = world(group)[1] > 1
        m = x.detach().clone()
        if multi:
            dist.all_reduce(m, op=dist.ReduceOp.MAX, group=group)
        shift = torch.nan_to_num(m, neginf=0.0)  # a row with no non-target class anywhere
        s = torch.exp(x.detach() - shift)
        if multi:
            dist.all_reduce(s, op=dist.ReduceOp.SUM, group=group)
        out = shift + torch.log(s)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, out = ctx.saved_tensors
        w = torch.exp(x - torch.nan_to_num(out, neginf=0.0))
        return torch.where(torch.isfinite(x), grad * w, torch.zeros_like(grad)), None


def _sharded_parts(group):
    def parts(
        xt: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        local_labels: Tensor,
        *,
        normalize: bool,
        chunk_size: int | None,
        target_norm: bool,
        eps: float,
        modulation: Modulation | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        here = local_labels >= 0
        xs = _SumGradAcrossRanks.apply(xt, group)
        if modulation is not None and modulation.a is not None:
            # the coefficients are the same on every rank: their gradient is the sum of the
            # ranks' parts, like the embeddings'
            modulation = Modulation(
                modulation.threshold,
                _SumGradAcrossRanks.apply(modulation.a, group),
                _SumGradAcrossRanks.apply(modulation.b, group),
            )
        lse_r, zt_r, _ = margin_ce_parts(
            xs,
            weight,
            bias,
            local_labels,
            normalize=normalize,
            chunk_size=chunk_size,
            eps=eps,
            modulation=modulation,
        )
        lse = _LogSumExpAcrossRanks.apply(lse_r, group)
        zt = _SumAcrossRanks.apply(torch.where(here, zt_r, torch.zeros_like(zt_r)), group)
        if target_norm:
            rows = weight[local_labels.clamp_min(0)].to(xt.dtype)
            wn_r = torch.where(here, torch.linalg.vector_norm(rows, dim=-1), torch.zeros_like(zt_r))
            wn = _SumAcrossRanks.apply(wn_r, group)
        else:
            wn = torch.zeros_like(zt)
        return lse, zt, wn

    return parts


def _sharded_targets(group):
    def targets(
        xt: Tensor, weight: Tensor, local_labels: Tensor, *, normalize: bool, eps: float
    ) -> Tensor:
        # each row's target class lives on one rank: the others add 0
        xs = _SumGradAcrossRanks.apply(xt, group)
        own = _own_target_logits(xs, weight, local_labels, normalize=normalize, eps=eps)
        return _SumAcrossRanks.apply(own, group)

    return targets


def _sharded_unified(group):
    def unified(
        xt: Tensor, weight: Tensor, threshold: Tensor, local_labels: Tensor, *,
        normalize: bool, chunk_size: int | None, eps: float,
    ) -> tuple[Tensor, Tensor]:  # fmt: skip
        here = local_labels >= 0
        xs = _SumGradAcrossRanks.apply(xt, group)
        bs = _SumGradAcrossRanks.apply(threshold, group)  # replicated, like the embeddings
        total_r, zt_r = unified_ce_parts(xs, weight, bs, local_labels, normalize=normalize,
                                         chunk_size=chunk_size, eps=eps)  # fmt: skip
        total = _SumAcrossRanks.apply(total_r, group)
        zt = _SumAcrossRanks.apply(torch.where(here, zt_r, torch.zeros_like(zt_r)), group)
        return total, zt

    return unified


def _check_construction(name: str, every: list[Any]) -> None:
    """Raise the same error on every rank from every rank's ``(error type, message,
    num_classes, embedding_dim)``: the first rank's argument error, else sizes that differ."""
    failed = [(r, e) for r, e in enumerate(every) if e[0] is not None]
    if failed:
        r, (kind, message, _, _) = failed[0]
        if len(failed) < len(every) or any(e[:2] != (kind, message) for _, e in failed):
            message += f" (on rank {r})"
        raise (TypeError if kind == "TypeError" else ValueError)(message)
    sizes = [tuple(e[2:]) for e in every]
    if any(s != sizes[0] for s in sizes):
        texts = [f"num_classes={c}, embedding_dim={d}" for c, d in sizes]
        raise ValueError(
            f"{name}: every rank must pass the same num_classes and embedding_dim; "
            f"got {_per_rank(texts, sizes)}"
        )


class ClassShardedLoss(torch.nn.Module):
    """Any loss of the angular-margin family with its ``C`` classes split across ranks.

    Rank ``r`` builds ``loss_cls(C_r, embedding_dim, **kwargs)`` for its share of the classes
    (:func:`shard_range`: as even as possible, any ``C``), so its centres hold only those rows.
    ``forward(embeddings, labels)`` takes this rank's batch (sizes may differ between ranks),
    gathers the global batch, and computes the loss of the whole batch over all ``C`` classes,
    the same value on every rank, without any rank holding more than its ``B x C_r`` logits:
    the row maxima and sums of exponentials of the non-target logits and the target logit are
    combined across ranks; the margin is then applied exactly as in one process. The split is
    passed to the inner loss explicitly, as its ``shard=`` argument (a
    :class:`~losskit.functional._margin_ce.ClassShard`).

    Gradients are exact: this rank's centre rows and its own embeddings get the gradient one
    process holding the whole batch and every class would give them. Sum the backbone's
    gradients over ranks with :func:`sum_gradients_` (see the module doc for DDP); the shard
    is not replicated and needs nothing. ``chunk_size`` (on the inner loss) works as in one
    process. ``sample_rate < 1`` applies Partial FC within each shard in training mode
    (:func:`losskit.functional.partial_fc_sample` on the shard's classes): every class of the
    global batch plus a random share of each shard's other classes.

    Args:
        loss_cls: a margin-family module class, e.g. :class:`losskit.nn.ArcFaceLoss`.
        num_classes: the global ``C``, the same on every rank; every rank must hold at least
            one class (``C >= world size``).
        embedding_dim: ``D``, the same on every rank.
        group: the process group (default: the world).
        sample_rate: Partial FC's fraction of each shard's classes, in ``(0, 1]``; default 1.
        generator: optional CPU generator for the Partial FC sampling.
        **kwargs: the inner loss's constructor arguments (``margin``, ``scale``,
            ``chunk_size``, ``reduction``, ...; an unknown name raises the inner class's
            ``TypeError``).

    Raises:
        ValueError, TypeError: the same on every rank (one small collective at construction,
            ``all_gather_object``: under NCCL, set each rank's device with
            ``torch.cuda.set_device`` first, compares the ranks' arguments) for a bad argument
            on any rank, ranks that pass different ``num_classes`` or ``embedding_dim``, or
            fewer classes than ranks.
            ``forward`` raises the same ``ValueError`` on every rank when ranks pass
            embeddings, labels, ``weight`` or ``mask`` of different dtypes or trailing
            shapes, or ``weight``/``mask`` on some ranks only.

    Example (with ``torchrun --nproc_per_node=2``)::

        head = ClassShardedLoss(ArcFaceLoss, 1_000_000, 512, margin=0.5, scale=64.0, chunk_size=65536)
        loss = head(backbone(images), labels)
        loss.backward()
        sum_gradients_(backbone)
    """

    def __init__(
        self,
        loss_cls: type[torch.nn.Module],
        num_classes: int,
        embedding_dim: int,
        *,
        group: dist.ProcessGroup | None = None,
        sample_rate: float = 1.0,
        generator: torch.Generator | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        name = "ClassShardedLoss"
        rank, ws = world(group)
        try:  # this rank's own argument errors travel with the sizes: every rank raises them
            if "sample_rate" in kwargs:
                raise ValueError(
                    f"{name}: pass sample_rate to ClassShardedLoss itself, not to the inner loss"
                )
            required_check(Fraction)(name, "sample_rate", sample_rate)
            required_check(PositiveInt)(name, "num_classes", num_classes)
            required_check(PositiveInt)(name, "embedding_dim", embedding_dim)
            mine: tuple[Any, ...] = (None, None, num_classes, embedding_dim)
        except (TypeError, ValueError) as e:
            mine = (type(e).__name__, str(e), None, None)
        every: list[Any] = [mine]  # then every rank's, from all_gather_object
        if ws > 1:  # one small collective, at construction only
            every = [None] * ws
            dist.all_gather_object(every, mine, group=group)
        _check_construction(name, every)
        if num_classes < ws:  # the same on every rank: the sizes agree
            raise ValueError(
                f"{name}: every rank must hold at least one class; got num_classes="
                f"{num_classes} for {ws} ranks (num_classes must be at least the world size)"
            )
        self.group = group
        self.num_classes = num_classes
        self.class_start, self.class_stop = shard_range(num_classes, rank, ws)
        self.sample_rate = float(sample_rate)
        self.generator = generator
        self.inner = loss_cls(self.class_stop - self.class_start, embedding_dim, **kwargs)

    @property
    def centers(self) -> Tensor:
        """This rank's rows of the class centres."""
        centers = self.inner.centers
        assert isinstance(centers, Tensor)  # the inner margin loss's parameter
        return centers

    def forward(
        self, embeddings: Tensor, labels: Tensor, *, weight: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> Tensor:  # fmt: skip
        """The loss of the global batch (every rank's ``embeddings`` ``(B_r, D)`` and ``labels``
        ``(B_r,)``, optional per-sample ``weight`` and ``mask``), the same on every rank."""
        fn = "ClassShardedLoss"
        check_tensor(fn, "embeddings", embeddings)
        check_tensor(fn, "labels", labels)
        for arg, value in (("weight", weight), ("mask", mask)):
            if value is not None:
                check_tensor(fn, arg, value)
        # one metadata exchange for the four: a mismatch raises on every rank
        xg, yg, wg, mg = _gather_checked(fn, ("embeddings", "labels", "weight", "mask"),
                                         (embeddings, labels, weight, mask), "local", self.group)  # fmt: skip
        num_local = self.class_stop - self.class_start
        keep = exclusion("ClassShardedLoss", yg.shape, mask=mg, labels=yg,
                         ignore_index=getattr(self.inner, "ignore_index", None))  # fmt: skip
        local = yg.long() - self.class_start
        here = (local >= 0) & (local < num_local)
        if keep is not None:
            here = here & keep
        local = torch.where(here, local, torch.full_like(local, -1))
        index = None
        if self.training and self.sample_rate < 1.0:
            index, local = partial_fc_sample(local, num_local, sample_rate=self.sample_rate,
                                             generator=self.generator)  # fmt: skip
        shard = ClassShard(
            num_classes=self.num_classes,
            local_labels=local,
            index=index,
            parts=_sharded_parts(self.group),
            targets=_sharded_targets(self.group),
            unified=_sharded_unified(self.group),
        )
        return self.inner(xg, yg, weight=wg, mask=mg, shard=shard)

    def extra_repr(self) -> str:
        return (
            f"classes [{self.class_start}, {self.class_stop}) of {self.num_classes}, "
            f"sample_rate={self.sample_rate}"
        )
