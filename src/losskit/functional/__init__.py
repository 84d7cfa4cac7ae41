"""The functional core: every loss as a plain function, one module per family."""

from .distance import (
    cosine_distance,
    cosine_from_euclidean,
    cosine_similarity,
    euclidean_distance,
    euclidean_from_cosine,
    pairwise_cosine_similarity,
    pairwise_euclidean_distance,
    safe_sqrt,
)
from .regression import huber_loss, l1_loss, mse_loss, smooth_l1_loss

__all__ = [
    # distance
    "cosine_distance",
    "cosine_from_euclidean",
    "cosine_similarity",
    "euclidean_distance",
    "euclidean_from_cosine",
    "pairwise_cosine_similarity",
    "pairwise_euclidean_distance",
    "safe_sqrt",
    # regression
    "huber_loss",
    "l1_loss",
    "mse_loss",
    "smooth_l1_loss",
]
