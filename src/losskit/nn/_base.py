"""The base of losskit's thin modules: hold the hyperparameters, call the function."""

from __future__ import annotations

from torch import nn

from .._reduction import DEFAULT_REDUCTION, Reduction, check_reduction


class LossModule(nn.Module):
    """Base class: stores ``reduction`` (validated at construction)."""

    def __init__(self, *, reduction: Reduction = DEFAULT_REDUCTION) -> None:
        super().__init__()
        check_reduction(type(self).__name__, reduction)
        self.reduction: Reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"
