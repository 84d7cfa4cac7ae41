"""The hook through which :mod:`losskit.distributed` runs the angular-margin family with its
classes split across ranks.

Every loss of the family reduces its classifier to one call,
:func:`losskit.functional._margin_ce.margin_ce_parts`, which returns per row the log-sum-exp
of the non-target logits and the raw target logit. While a :class:`ClassSharding` is active
that call is answered by ``parts`` instead (provided by :mod:`losskit.distributed`), which
computes the local shard's parts and combines them across ranks; the rest of each loss (the
margin on the target logit, the final cross-entropy) then runs unchanged, identically on every
rank. Nothing here communicates: this module only holds the state of the current call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class ClassSharding:
    """The class split of the current call.

    Attributes:
        num_classes: the global class count ``C`` (labels are checked against it).
        local_labels: ``(B,)`` for each row of the global batch, the column of its target
            class in this rank's (possibly Partial-FC-sampled) weight, or ``-1`` when the
            target lives on another rank.
        index: the rows of this rank's weight shard that take part (Partial FC), or ``None``
            for all of them.
        parts: the sharded replacement of ``margin_ce_parts``.
    """

    num_classes: int
    local_labels: Tensor
    index: Tensor | None
    parts: Callable[..., tuple[Tensor, Tensor, Tensor]]


_ACTIVE: ContextVar[ClassSharding | None] = ContextVar("losskit_class_sharding", default=None)


def active() -> ClassSharding | None:
    """The sharding of the current call, if any."""
    return _ACTIVE.get()


@contextmanager
def sharded(sharding: ClassSharding) -> Iterator[ClassSharding]:
    token = _ACTIVE.set(sharding)
    try:
        yield sharding
    finally:
        _ACTIVE.reset(token)
