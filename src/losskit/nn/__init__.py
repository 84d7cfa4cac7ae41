"""Thin ``nn.Module`` wrappers over :mod:`losskit.functional`; same file names."""

from ._base import LossModule
from .regression import HuberLoss, L1Loss, MSELoss, SmoothL1Loss

__all__ = [
    "LossModule",
    # regression
    "HuberLoss",
    "L1Loss",
    "MSELoss",
    "SmoothL1Loss",
]
