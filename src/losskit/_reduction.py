"""The one reduction helper every losskit loss ends in.

Rules, the same for every loss in the library:

* ``reduction`` is one of ``"none"``, ``"mean"`` (the library default) or ``"sum"``.
* ``"none"`` returns the per-element (or per-sample) loss, multiplied by ``weight`` if given.
* ``"sum"`` returns ``sum(w * l)``.
* ``"mean"`` returns ``sum(w * l) / sum(w)``: a weighted mean divides by the total weight,
  not by the number of elements (torch's ``l1_loss(weight=)`` rule; see
  :func:`losskit.functional.huber_loss` for where torch itself departs from it).
  Without a weight this is the plain mean.
* An empty loss (no element, or a total weight of zero) under ``"mean"`` is ``0`` with a
  gradient (``loss.sum() * 0``), never NaN.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import Tensor

Reduction = Literal["none", "mean", "sum"]
REDUCTIONS: tuple[str, ...] = get_args(Reduction)
DEFAULT_REDUCTION: Reduction = "mean"


def check_reduction(fn: str, reduction: object) -> None:
    """Raise ``ValueError`` unless ``reduction`` is one of ``"none" | "mean" | "sum"``."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(
            f"{fn}: reduction must be one of {', '.join(map(repr, REDUCTIONS))}; got {reduction!r}"
        )


def reduce_loss(
    loss: Tensor,
    reduction: Reduction = DEFAULT_REDUCTION,
    *,
    weight: Tensor | None = None,
    fn: str = "reduce_loss",
) -> Tensor:
    """Reduce an unreduced loss tensor.

    Args:
        loss: the unreduced loss, any shape.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        weight: optional non-negative weights broadcastable to ``loss`` (it never enlarges
            ``loss``). ``"mean"`` then divides by ``sum(weight)`` broadcast to ``loss``.
        fn: the public function's name, for error messages.

    Returns:
        ``loss * weight`` for ``"none"``; a scalar otherwise.

    Raises:
        ValueError: unknown ``reduction``, or a ``weight`` that does not broadcast to ``loss``
            without enlarging it.

    Example:
        >>> import torch
        >>> reduce_loss(torch.tensor([1.0, 3.0]), "mean", weight=torch.tensor([1.0, 3.0]))
        tensor(2.5000)
        >>> reduce_loss(torch.zeros(0), "mean")
        tensor(0.)
    """
    check_reduction(fn, reduction)
    if weight is not None:
        if torch.broadcast_shapes(weight.shape, loss.shape) != loss.shape:
            raise ValueError(
                f"{fn}: weight must broadcast to the loss shape {tuple(loss.shape)} without "
                f"enlarging it; got {tuple(weight.shape)}"
            )
        loss = loss * weight
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    if weight is None:
        if loss.numel() == 0:
            # mean of nothing: 0, still attached to the graph
            return total * 0.0
        return total / loss.numel()
    denom = weight.expand_as(loss).sum().to(total.dtype)
    # sum(w*l)/sum(w); a total weight of 0 (or an empty loss) gives 0 rather than 0/0.
    # torch.where keeps this free of host-device synchronisation.
    safe = torch.where(denom > 0, denom, torch.ones_like(denom))
    return torch.where(denom > 0, total / safe, total * 0.0)
