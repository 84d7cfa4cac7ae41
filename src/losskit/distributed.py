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

from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import Tensor

from ._api import checked
from ._checks import Fraction, check_floating, check_integer, check_ndim, make_check
from ._reduction import Reduction, exclusion, reduce_loss
from .functional._margin_ce import ClassShard, margin_ce_parts
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


def _gather_sizes(n: int, device: torch.device, group) -> list[int]:
    _, ws = world(group)
    local = torch.tensor([n], dtype=torch.long, device=device)
    sizes = [torch.zeros_like(local) for _ in range(ws)]
    dist.all_gather(sizes, local, group=group)
    return [int(s) for s in sizes]


def _all_gather_padded(x: Tensor, sizes: list[int], group) -> Tensor:
    """Gather ``x`` (dim 0 of size ``sizes[rank]``) from every rank, pad-free result."""
    biggest = max(sizes)
    pad = x.new_zeros((biggest - x.shape[0], *x.shape[1:]))
    padded = torch.cat([x, pad]) if biggest > x.shape[0] else x.contiguous()
    chunks = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(chunks, padded, group=group)
    return torch.cat([c[:s] for c, s in zip(chunks, sizes, strict=True)])


class _AllGather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, sizes: list[int], rank: int, mode: str, group) -> Tensor:
        ctx.sizes, ctx.rank, ctx.mode, ctx.group = sizes, rank, mode, group
        return _all_gather_padded(x, sizes, group)

    @staticmethod
    def backward(ctx, grad: Tensor):
        grad = grad.contiguous()
        if ctx.mode == "sum":
            grad = grad.clone()
            dist.all_reduce(grad, op=dist.ReduceOp.SUM, group=ctx.group)
        start = sum(ctx.sizes[: ctx.rank])
        return grad[start : start + ctx.sizes[ctx.rank]], None, None, None, None


@checked
def all_gather_with_grad(
    x: Tensor,
    *,
    grad: Literal["local", "sum"] = "local",
    group: dist.ProcessGroup | None = None,
) -> Tensor:
    """Concatenate ``x`` from every rank along dim 0, in rank order, keeping the gradient.

    Ranks may hold batches of different sizes (including 0); other dimensions must agree.
    Without an initialised process group this returns ``x`` itself.

    Args:
        x: this rank's tensor.
        grad: ``"local"`` if every rank computes the same loss from the gathered tensor,
            ``"sum"`` if each rank computes its own part of it (see the module doc).
        group: the process group (default: the world).
    """
    rank, ws = world(group)
    if ws == 1:
        return x
    sizes = _gather_sizes(x.shape[0], x.device, group)
    if x.requires_grad:
        return _AllGather.apply(x, sizes, rank, grad, group)
    return _all_gather_padded(x, sizes, group)


def gather_batch(
    embeddings: Tensor, labels: Tensor, *, group: dist.ProcessGroup | None = None
) -> tuple[Tensor, Tensor]:
    """The global batch for a data-parallel loss: every rank's embeddings (with gradient,
    ``grad="local"``) and labels, in rank order. Feed them to any losskit loss; each rank
    then computes the same global loss and gets the exact gradient of its own embeddings."""
    if embeddings.shape[0] != labels.shape[0]:
        raise ValueError(
            f"gather_batch: embeddings and labels must have the same batch size; "
            f"got {embeddings.shape[0]} and {labels.shape[0]}"
        )
    return all_gather_with_grad(embeddings, grad="local", group=group), all_gather_with_grad(
        labels, grad="local", group=group
    )


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
    ) -> tuple[Tensor, Tensor, Tensor]:
        here = local_labels >= 0
        xs = _SumGradAcrossRanks.apply(xt, group)
        lse_r, zt_r, _ = margin_ce_parts(
            xs, weight, bias, local_labels, normalize=normalize, chunk_size=chunk_size, eps=eps
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
        num_classes: the global ``C``; every rank must hold at least one class.
        embedding_dim: ``D``.
        group: the process group (default: the world).
        sample_rate: Partial FC's fraction of each shard's classes, in ``(0, 1]``; default 1.
        generator: optional CPU generator for the Partial FC sampling.
        **kwargs: the inner loss's constructor arguments (``margin``, ``scale``,
            ``chunk_size``, ``reduction``, ...; an unknown name raises the inner class's
            ``TypeError``).

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
        if "sample_rate" in kwargs:
            raise ValueError(
                f"{name}: pass sample_rate to ClassShardedLoss itself, not to the inner loss"
            )
        make_check(Fraction)(name, "sample_rate", sample_rate)
        rank, ws = world(group)
        self.group = group
        self.num_classes = num_classes
        self.class_start, self.class_stop = shard_range(num_classes, rank, ws)
        if self.class_stop == self.class_start:
            raise ValueError(
                f"{name}: rank {rank} would hold no class ({num_classes} classes over {ws} ranks); "
                "use fewer ranks than classes"
            )
        self.sample_rate = float(sample_rate)
        self.generator = generator
        self.inner = loss_cls(self.class_stop - self.class_start, embedding_dim, **kwargs)

    @property
    def centers(self) -> Tensor:
        """This rank's rows of the class centres."""
        return self.inner.centers

    def forward(
        self, embeddings: Tensor, labels: Tensor, *, weight: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> Tensor:  # fmt: skip
        """The loss of the global batch (every rank's ``embeddings`` ``(B_r, D)`` and ``labels``
        ``(B_r,)``, optional per-sample ``weight`` and ``mask``), the same on every rank."""
        xg, yg = gather_batch(embeddings, labels, group=self.group)
        wg = None if weight is None else all_gather_with_grad(weight, group=self.group)
        mg = None if mask is None else all_gather_with_grad(mask, group=self.group)
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
        )
        return self.inner(xg, yg, weight=wg, mask=mg, shard=shard)

    def extra_repr(self) -> str:
        return (
            f"classes [{self.class_start}, {self.class_stop}) of {self.num_classes}, "
            f"sample_rate={self.sample_rate}"
        )
