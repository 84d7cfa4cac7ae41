"""Batch samplers for metric learning: P classes x K samples per batch, so that every anchor
has positives (triplet, contrastive, multi-similarity and SupCon losses need them)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import Tensor
from torch.utils.data import Sampler

from ._checks import PositiveInt, make_check

__all__ = ["MPerClassSampler"]


class MPerClassSampler(Sampler[int]):
    """Indices in batches of ``batch_size // m`` distinct classes with ``m`` samples each.

    Each batch draws ``P = batch_size // m`` classes without replacement, then ``m`` samples
    of each class without replacement (with replacement for a class that has fewer than
    ``m``). Consecutive runs of ``batch_size`` indices are the batches: give the same
    ``batch_size`` to the ``DataLoader`` (``shuffle=False``, ``drop_last`` irrelevant: the
    length is a multiple of ``batch_size``).

    Args:
        labels: the dataset's labels, ``(N,)`` (a tensor or a sequence of ints).
        m: samples per class, ``K``.
        batch_size: ``P * K``; a multiple of ``m`` with ``batch_size // m`` at most the number
            of classes.
        length: the number of indices one iteration yields; default: ``len(labels)`` rounded
            down to a multiple of ``batch_size`` (at least one batch).
        generator: a ``torch.Generator`` for the draws; default ``None`` (a fresh seed from
            torch's global generator at each iteration).

    pytorch-metric-learning's ``MPerClassSampler(labels, m, batch_size,
    length_before_new_iter)`` draws the same structure (its default length is 100,000 and
    with ``batch_size=None`` it cycles through every class); it draws with NumPy's global
    generator, so the two agree in distribution, not in draws.

    Example:
        >>> import torch
        >>> labels = torch.arange(40) % 10
        >>> sampler = MPerClassSampler(labels, 4, batch_size=8, generator=torch.Generator().manual_seed(0))
        >>> batch = list(sampler)[:8]
        >>> sorted(torch.bincount(labels[batch]).tolist(), reverse=True)[:3]
        [4, 4, 0]
    """

    def __init__(
        self, labels: Tensor | Sequence[int], m: PositiveInt, *, batch_size: PositiveInt,
        length: PositiveInt | None = None, generator: torch.Generator | None = None,
    ) -> None:  # fmt: skip
        owner = type(self).__name__
        check = make_check(PositiveInt)
        assert check is not None
        check(owner, "m", m)
        check(owner, "batch_size", batch_size)
        if length is not None:
            check(owner, "length", length)
        y = labels if isinstance(labels, Tensor) else torch.as_tensor(list(labels))
        if y.dim() != 1 or y.is_floating_point() or y.dtype == torch.bool:
            raise ValueError(f"{owner}: labels must be a 1-D sequence of integer class labels")
        if batch_size % m:
            raise ValueError(
                f"{owner}: batch_size must be a multiple of m; got batch_size={batch_size}, m={m}"
            )
        y = y.cpu().long()
        self.classes, inverse = torch.unique(y, return_inverse=True)
        order = torch.argsort(inverse, stable=True)
        counts = torch.bincount(inverse, minlength=len(self.classes))
        self._members = list(torch.split(order, counts.tolist()))
        per_batch = batch_size // m
        if per_batch > len(self.classes):
            raise ValueError(
                f"{owner}: batch_size // m = {per_batch} classes per batch, but the labels "
                f"have {len(self.classes)}"
            )
        self.m, self.batch_size, self.per_batch = int(m), int(batch_size), per_batch
        n = len(y) if length is None else int(length)
        self.length = max(self.batch_size, n - n % self.batch_size)
        self.generator = generator

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[int]:
        g = self.generator
        if g is None:
            g = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
        for _ in range(self.length // self.batch_size):
            chosen = torch.randperm(len(self._members), generator=g)[: self.per_batch]
            for c in chosen.tolist():
                members = self._members[c]
                if len(members) >= self.m:
                    pick = torch.randperm(len(members), generator=g)[: self.m]
                else:
                    pick = torch.randint(0, len(members), (self.m,), generator=g)
                yield from members[pick].tolist()
