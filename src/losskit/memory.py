"""Cross-batch memory (XBM, Wang et al., CVPR 2020): a queue of past embeddings that a
pair-based loss compares the current batch with, so that each anchor sees thousands of pairs
with the memory of a small batch.

:class:`CrossBatchMemory` wraps any loss called as ``loss(embeddings, labels, ref_embeddings,
ref_labels, indices=...)``: :func:`~losskit.functional.nt_xent_loss`,
:func:`~losskit.functional.supcon_loss`, :func:`~losskit.functional.multi_similarity_loss`,
:func:`~losskit.functional.circle_loss` and their modules.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ._checks import PositiveInt, check_floating, check_integer, check_ndim, make_check
from .miners import Miner

__all__ = ["CrossBatchMemory"]


class CrossBatchMemory(nn.Module):
    """A pair-based loss over the current batch against a queue of past embeddings.

    Each call first enqueues the batch (detached) into a ring buffer of ``memory_size``
    embeddings and labels, then computes ``loss(embeddings, labels, memory, memory_labels,
    indices=pairs)``: the batch's rows are the anchors (they carry the gradient), the filled
    part of the queue, the current batch included, is the reference set, and ``pairs`` are
    every anchor-reference pair by label (or those ``miner`` picks) less each anchor paired
    with its own slot of the queue. With ``enqueue_mask``, only the masked rows are enqueued
    and only the others are anchors (MoCo-style: a key view goes to the queue, the query view
    is scored against it); no slot is then an anchor's own.

    Args:
        loss: the loss: a function or module taking ``(embeddings, labels, ref_embeddings,
            ref_labels, indices=)``.
        embedding_dim: ``D``.
        memory_size: the queue's length; default 1024.
        miner: optional :class:`losskit.miners.Miner`, called as ``miner(embeddings,
            labels, memory, memory_labels)``; default ``None`` (every pair).

    Shape:
        ``forward(embeddings, labels, enqueue_mask=None)``: ``(B, D)``, ``(B,)``, optional
        bool ``(B,)``. Output: what ``loss`` returns.

    Equals pytorch-metric-learning's ``CrossBatchMemory(loss, embedding_size, memory_size,
    miner)`` with the same loss, queue and calls (tested over several steps, the queue
    wrapping around).

    Paper:
        Wang, Zhang, Huang, Scott, "Cross-Batch Memory for Embedding Learning", CVPR 2020,
        arXiv:1912.06798.

    Example:
        >>> import torch, losskit
        >>> xbm = CrossBatchMemory(losskit.supcon_loss, 4, memory_size=16)
        >>> x, y = torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2])
        >>> loss = xbm(x, y)
        >>> xbm.queue_idx, xbm.has_been_filled
        (6, False)
    """

    # buffers (registered by reset_queue)
    embedding_memory: Tensor
    label_memory: Tensor

    def __init__(
        self, loss: Callable[..., Tensor], embedding_dim: PositiveInt, *,
        memory_size: PositiveInt = 1024, miner: Miner | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        owner = type(self).__name__
        for name, v in (("embedding_dim", embedding_dim), ("memory_size", memory_size)):
            check = make_check(PositiveInt)
            assert check is not None
            check(owner, name, v)
        if not callable(loss):
            raise TypeError(f"{owner}: loss must be callable; got {type(loss).__name__}")
        if miner is not None and not callable(miner):
            raise TypeError(f"{owner}: miner must be a Miner or None; got {type(miner).__name__}")
        self.loss = loss
        self.miner = miner
        self.embedding_dim = int(embedding_dim)
        self.memory_size = int(memory_size)
        self.reset_queue()

    def reset_queue(self) -> None:
        """Empty the queue."""
        self.register_buffer("embedding_memory", torch.zeros(self.memory_size, self.embedding_dim))
        self.register_buffer("label_memory", torch.zeros(self.memory_size, dtype=torch.long))
        self.queue_idx = 0
        self.has_been_filled = False

    def _enqueue(self, x: Tensor, y: Tensor) -> Tensor:
        """Write ``x``, ``y`` at the queue's head; return the slots written."""
        slots = torch.arange(self.queue_idx, self.queue_idx + x.shape[0], device=x.device)
        slots = slots % self.memory_size
        self.embedding_memory[slots] = x.detach().to(self.embedding_memory.dtype)
        self.label_memory[slots] = y.detach().to(self.label_memory.dtype)
        previous = self.queue_idx
        self.queue_idx = (self.queue_idx + x.shape[0]) % self.memory_size
        if not self.has_been_filled and self.queue_idx <= previous and x.shape[0] > 0:
            self.has_been_filled = True
        return slots

    def forward(
        self, embeddings: Tensor, labels: Tensor, enqueue_mask: Tensor | None = None
    ) -> Tensor:
        """The loss of the batch against the queue (see the class docstring)."""
        owner = type(self).__name__
        check_floating(owner, "embeddings", embeddings)
        check_ndim(owner, "embeddings", embeddings, 2)
        check_integer(owner, "labels", labels)
        if embeddings.shape[1] != self.embedding_dim or labels.shape != embeddings.shape[:1]:
            raise ValueError(
                f"{owner}: embeddings must have shape (B, {self.embedding_dim}) and labels "
                f"(B,); got {tuple(embeddings.shape)} and {tuple(labels.shape)}"
            )
        if enqueue_mask is not None:
            if enqueue_mask.dtype != torch.bool or enqueue_mask.shape != labels.shape:
                raise ValueError(
                    f"{owner}: enqueue_mask must be a bool tensor of shape {tuple(labels.shape)}"
                )
            queued, queued_y = embeddings[enqueue_mask], labels[enqueue_mask]
            embeddings, labels = embeddings[~enqueue_mask], labels[~enqueue_mask]
        else:
            queued, queued_y = embeddings, labels
            if embeddings.shape[0] > self.memory_size:
                raise ValueError(
                    f"{owner}: a batch of {embeddings.shape[0]} does not fit a memory of "
                    f"{self.memory_size}"
                )
        self.embedding_memory = self.embedding_memory.to(embeddings.device, embeddings.dtype)
        self.label_memory = self.label_memory.to(labels.device)
        slots = self._enqueue(queued, queued_y)
        filled = self.memory_size if self.has_been_filled else self.queue_idx
        mem, mem_y = self.embedding_memory[:filled], self.label_memory[:filled]
        if self.miner is not None:
            pairs = self.miner(embeddings, labels, mem, mem_y)
        else:
            same = labels.unsqueeze(1) == mem_y.unsqueeze(0)
            a1, p = same.nonzero(as_tuple=True)
            a2, n = (~same).nonzero(as_tuple=True)
            pairs = (a1, p, a2, n)
        if enqueue_mask is None:
            pairs = _without_own_slots(pairs, slots)
        return self.loss(embeddings, labels, mem, mem_y, indices=pairs)


def _without_own_slots(pairs: tuple[Tensor, ...], slots: Tensor) -> tuple[Tensor, ...]:
    """Drop the anchor-positive pairs (or triplets) of an anchor with its own queue slot."""
    if len(pairs) == 3:
        a, p, n = pairs
        keep = p != slots[a]
        return a[keep], p[keep], n[keep]
    a1, p, a2, n = pairs
    keep = p != slots[a1]
    return a1[keep], p[keep], a2, n
