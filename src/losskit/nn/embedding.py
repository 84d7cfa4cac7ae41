"""Module forms of :mod:`losskit.functional.embedding` (no learnable state)."""

from __future__ import annotations

from torch import Tensor

from .._checks import check_choice, check_positive
from .._reduction import DEFAULT_REDUCTION, Reduction
from ..functional import embedding as F
from ._base import LossModule

__all__ = ["ContrastiveLoss", "BatchContrastiveLoss", "TripletLoss", "BatchTripletLoss"]


def _check_bool(owner: str, name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be a bool; got {type(value).__name__}")
    return value


class ContrastiveLoss(LossModule):
    """Module form of :func:`losskit.functional.contrastive_loss` (explicit pairs)."""

    def __init__(
        self,
        *,
        margin: float = 1.0,
        distance: F.Distance = "euclidean",
        reduction: Reduction = DEFAULT_REDUCTION,
    ) -> None:
        super().__init__(reduction=reduction)
        self.margin = check_positive("ContrastiveLoss", "margin", margin, allow_zero=True)
        self.distance = check_choice("ContrastiveLoss", "distance", distance, F.DISTANCES)

    def forward(
        self, x1: Tensor, x2: Tensor, target: Tensor, weight: Tensor | None = None
    ) -> Tensor:
        return F.contrastive_loss(
            x1,
            x2,
            target,
            margin=self.margin,
            distance=self.distance,
            weight=weight,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return f"margin={self.margin}, distance={self.distance!r}, reduction={self.reduction!r}"


class BatchContrastiveLoss(LossModule):
    """Module form of :func:`losskit.functional.batch_contrastive_loss` (all pairs of a batch)."""

    def __init__(
        self,
        *,
        margin: float = 1.0,
        distance: F.Distance = "euclidean",
        reduction: Reduction = DEFAULT_REDUCTION,
    ) -> None:
        super().__init__(reduction=reduction)
        self.margin = check_positive("BatchContrastiveLoss", "margin", margin, allow_zero=True)
        self.distance = check_choice("BatchContrastiveLoss", "distance", distance, F.DISTANCES)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return F.batch_contrastive_loss(
            embeddings, labels, margin=self.margin, distance=self.distance, reduction=self.reduction
        )

    def extra_repr(self) -> str:
        return f"margin={self.margin}, distance={self.distance!r}, reduction={self.reduction!r}"


class TripletLoss(LossModule):
    """Module form of :func:`losskit.functional.triplet_loss` (explicit triplets)."""

    def __init__(
        self,
        *,
        margin: float = 1.0,
        squared: bool = False,
        distance: F.Distance = "euclidean",
        soft: bool = False,
        swap: bool = False,
        reduction: Reduction = DEFAULT_REDUCTION,
    ) -> None:
        super().__init__(reduction=reduction)
        name = "TripletLoss"
        self.margin = check_positive(name, "margin", margin, allow_zero=True)
        self.squared = _check_bool(name, "squared", squared)
        self.distance = check_choice(name, "distance", distance, F.DISTANCES)
        self.soft = _check_bool(name, "soft", soft)
        self.swap = _check_bool(name, "swap", swap)

    def forward(
        self, anchor: Tensor, positive: Tensor, negative: Tensor, weight: Tensor | None = None
    ) -> Tensor:
        return F.triplet_loss(
            anchor,
            positive,
            negative,
            margin=self.margin,
            squared=self.squared,
            distance=self.distance,
            soft=self.soft,
            swap=self.swap,
            weight=weight,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return (
            f"margin={self.margin}, squared={self.squared}, distance={self.distance!r}, "
            f"soft={self.soft}, swap={self.swap}, reduction={self.reduction!r}"
        )


class BatchTripletLoss(LossModule):
    """Module form of :func:`losskit.functional.batch_triplet_loss` (online mining)."""

    def __init__(
        self,
        *,
        margin: float = 1.0,
        mining: F.Mining = "all",
        squared: bool = False,
        distance: F.Distance = "euclidean",
        soft: bool = False,
        mean_over: F.MeanOver = "all",
        reduction: Reduction = DEFAULT_REDUCTION,
    ) -> None:
        super().__init__(reduction=reduction)
        name = "BatchTripletLoss"
        self.margin = check_positive(name, "margin", margin, allow_zero=True)
        self.mining = check_choice(name, "mining", mining, F.MININGS)
        self.squared = _check_bool(name, "squared", squared)
        self.distance = check_choice(name, "distance", distance, F.DISTANCES)
        self.soft = _check_bool(name, "soft", soft)
        self.mean_over = check_choice(name, "mean_over", mean_over, F.MEAN_OVER)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return F.batch_triplet_loss(
            embeddings,
            labels,
            margin=self.margin,
            mining=self.mining,
            squared=self.squared,
            distance=self.distance,
            soft=self.soft,
            mean_over=self.mean_over,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return (
            f"margin={self.margin}, mining={self.mining!r}, squared={self.squared}, "
            f"distance={self.distance!r}, soft={self.soft}, mean_over={self.mean_over!r}, "
            f"reduction={self.reduction!r}"
        )
