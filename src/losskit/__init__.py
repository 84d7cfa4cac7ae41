"""losskit: every loss function of detection, segmentation, classification, metric learning
and face recognition, with one consistent API (see README.md and SPEC.md).

``losskit.functional`` holds the functions, ``losskit.nn`` the modules, ``losskit.registry``
the entries that drive tests, the report and the benchmarks. The most used names are
re-exported here.
"""

from . import functional, nn, registry
from ._reduction import REDUCTIONS, Reduction, reduce_loss
from .functional import (
    cosine_distance,
    cosine_from_euclidean,
    cosine_similarity,
    euclidean_distance,
    euclidean_from_cosine,
    huber_loss,
    l1_loss,
    mse_loss,
    pairwise_cosine_similarity,
    pairwise_euclidean_distance,
    smooth_l1_loss,
)
from .nn import HuberLoss, L1Loss, MSELoss, SmoothL1Loss
from .registry import REGISTRY, LossSpec, create

__version__ = "0.1.0"

__all__ = [
    "REDUCTIONS",
    "REGISTRY",
    "LossSpec",
    "Reduction",
    "__version__",
    "create",
    "functional",
    "nn",
    "reduce_loss",
    "registry",
    # distance / vector geometry
    "cosine_distance",
    "cosine_from_euclidean",
    "cosine_similarity",
    "euclidean_distance",
    "euclidean_from_cosine",
    "pairwise_cosine_similarity",
    "pairwise_euclidean_distance",
    # regression
    "huber_loss",
    "l1_loss",
    "mse_loss",
    "smooth_l1_loss",
    "HuberLoss",
    "L1Loss",
    "MSELoss",
    "SmoothL1Loss",
]
