"""Module forms of :mod:`losskit.functional.regression`."""

from __future__ import annotations

from torch import Tensor

from .._checks import check_positive
from .._reduction import DEFAULT_REDUCTION, Reduction
from ..functional import regression as F
from ._base import LossModule

__all__ = ["L1Loss", "MSELoss", "SmoothL1Loss", "HuberLoss"]


class L1Loss(LossModule):
    """Module form of :func:`losskit.functional.l1_loss`."""

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return F.l1_loss(pred, target, weight=weight, reduction=self.reduction)


class MSELoss(LossModule):
    """Module form of :func:`losskit.functional.mse_loss`."""

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return F.mse_loss(pred, target, weight=weight, reduction=self.reduction)


class SmoothL1Loss(LossModule):
    """Module form of :func:`losskit.functional.smooth_l1_loss`."""

    def __init__(self, *, beta: float = 1.0, reduction: Reduction = DEFAULT_REDUCTION) -> None:
        super().__init__(reduction=reduction)
        self.beta = check_positive("SmoothL1Loss", "beta", beta, allow_zero=True)

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return F.smooth_l1_loss(
            pred, target, beta=self.beta, weight=weight, reduction=self.reduction
        )

    def extra_repr(self) -> str:
        return f"beta={self.beta}, reduction={self.reduction!r}"


class HuberLoss(LossModule):
    """Module form of :func:`losskit.functional.huber_loss`."""

    def __init__(self, *, delta: float = 1.0, reduction: Reduction = DEFAULT_REDUCTION) -> None:
        super().__init__(reduction=reduction)
        self.delta = check_positive("HuberLoss", "delta", delta)

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return F.huber_loss(pred, target, delta=self.delta, weight=weight, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"delta={self.delta}, reduction={self.reduction!r}"
