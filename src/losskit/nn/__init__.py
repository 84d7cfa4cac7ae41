"""Thin ``nn.Module`` wrappers over :mod:`losskit.functional`; same file names."""

from ._base import LossModule
from .box import CIoULoss, DIoULoss, EIoULoss, GIoULoss, IoULoss, SIoULoss
from .classification import (
    BalancedBCELoss,
    BinaryCrossEntropyLoss,
    FocalLoss,
    SoftmaxCrossEntropyLoss,
    SoftmaxFocalLoss,
    WeightedBCELoss,
)
from .constraint import CenterInvariantLoss, CenterLoss, RangeLoss, RingLoss
from .embedding import BatchContrastiveLoss, BatchTripletLoss, ContrastiveLoss, TripletLoss
from .margin import (
    ArcFaceLoss,
    COCOLoss,
    CombinedMarginLoss,
    CosFaceLoss,
    L2SoftmaxLoss,
    LSoftmaxLoss,
    NormFaceLoss,
    SoftmaxLoss,
    SphereFaceLoss,
    SubCenterArcFaceLoss,
)
from .overlap import DiceLoss, FocalTverskyLoss, JaccardLoss, TverskyLoss
from .regression import HuberLoss, L1Loss, MSELoss, SmoothL1Loss

__all__ = [
    # embedding
    "BatchContrastiveLoss",
    "BatchTripletLoss",
    "ContrastiveLoss",
    "TripletLoss",
    # constraint
    "CenterInvariantLoss",
    "CenterLoss",
    "RangeLoss",
    "RingLoss",
    # margin
    "ArcFaceLoss",
    "COCOLoss",
    "CombinedMarginLoss",
    "CosFaceLoss",
    "L2SoftmaxLoss",
    "LSoftmaxLoss",
    "NormFaceLoss",
    "SoftmaxLoss",
    "SphereFaceLoss",
    "SubCenterArcFaceLoss",
    # overlap
    "DiceLoss",
    "FocalTverskyLoss",
    "JaccardLoss",
    "TverskyLoss",
    # box
    "CIoULoss",
    "DIoULoss",
    "EIoULoss",
    "GIoULoss",
    "IoULoss",
    "SIoULoss",
    "LossModule",
    # classification
    "BalancedBCELoss",
    "BinaryCrossEntropyLoss",
    "FocalLoss",
    "SoftmaxCrossEntropyLoss",
    "SoftmaxFocalLoss",
    "WeightedBCELoss",
    # regression
    "HuberLoss",
    "L1Loss",
    "MSELoss",
    "SmoothL1Loss",
]
