"""Inputs every embedding loss must refuse, with the error each must raise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from . import BadInput


def _common_bad(name: str, good: Callable[[], tuple[Any, ...]]) -> tuple[BadInput, ...]:
    return (
        BadInput(
            "unknown reduction",
            lambda: (good(), {"reduction": "avg"}),
            ValueError,
            rf"{name}: reduction must be one of 'none', 'mean', 'sum'; got 'avg'",
        ),
        BadInput(
            "negative margin",
            lambda: (good(), {"margin": -0.5}),
            ValueError,
            rf"{name}: margin must be a finite number >= 0; got -0.5",
        ),
        BadInput(
            "unknown distance",
            lambda: (good(), {"distance": "manhattan"}),
            ValueError,
            rf"{name}: distance must be one of 'euclidean', 'cosine'; got 'manhattan'",
        ),
    )


def _batch_bad(name: str) -> tuple[BadInput, ...]:
    good = lambda: (torch.zeros(6, 3), torch.zeros(6, dtype=torch.long))  # noqa: E731
    return (
        *_common_bad(name, good),
        BadInput(
            "labels of the wrong length",
            lambda: ((torch.zeros(6, 3), torch.zeros(5, dtype=torch.long)), {}),
            ValueError,
            rf"{name}: labels must have shape \(N,\) = \(6,\) to match embeddings \(6, 3\); got \(5,\)",
        ),
        BadInput(
            "float labels",
            lambda: ((torch.zeros(6, 3), torch.zeros(6)), {}),
            TypeError,
            rf"{name}: labels must be an integer tensor of class indices; got dtype torch.float32",
        ),
        BadInput(
            "embeddings not (B, D)",
            lambda: ((torch.zeros(6), torch.zeros(6, dtype=torch.long)), {}),
            ValueError,
            rf"{name}: embeddings must have 2 dimensions; got shape \(6,\)",
        ),
        BadInput(
            "integer embeddings",
            lambda: ((torch.zeros(6, 3, dtype=torch.long), torch.zeros(6, dtype=torch.long)), {}),
            TypeError,
            rf"{name}: embeddings must be a floating-point tensor; got dtype torch.int64",
        ),
    )


_CONTRASTIVE_BAD = (
    *_common_bad("contrastive_loss", lambda: (torch.zeros(4, 3), torch.zeros(4, 3), torch.ones(4))),
    BadInput(
        "shape mismatch",
        lambda: ((torch.zeros(8, 4), torch.zeros(8, 5), torch.ones(8)), {}),
        ValueError,
        r"contrastive_loss: anchor and paired must have the same shape; got \(8, 4\) and \(8, 5\)",
    ),
    BadInput(
        "target not one per pair",
        lambda: ((torch.zeros(8, 4), torch.zeros(8, 4), torch.ones(8, 1)), {}),
        ValueError,
        r"contrastive_loss: target must have shape \(8,\), one value per row; got \(8, 1\)",
    ),
    BadInput(
        "target not a tensor",
        lambda: ((torch.zeros(8, 4), torch.zeros(8, 4), [1] * 8), {}),
        TypeError,
        r"contrastive_loss: target must be a torch.Tensor; got list",
    ),
)


_TRIPLET_BAD = (
    *_common_bad("triplet_loss", lambda: (torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(4, 3))),
    BadInput(
        "shape mismatch",
        lambda: ((torch.zeros(8, 4), torch.zeros(8, 4), torch.zeros(7, 4)), {}),
        ValueError,
        r"triplet_loss: anchor and negative must have the same shape; got \(8, 4\) and \(7, 4\)",
    ),
    BadInput(
        "squared cosine",
        lambda: (
            (torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(4, 3)),
            {"distance": "cosine", "squared": True},
        ),
        ValueError,
        r"triplet_loss: squared=True applies to the euclidean distance only; got distance='cosine'",
    ),
    BadInput(
        "weight that enlarges the loss",
        lambda: (
            (torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3, 2)),
            {"weight": torch.ones(2, 3)},
        ),
        ValueError,
        r"triplet_loss: weight must have shape \(3,\), one value per row; got \(2, 3\)",
    ),
)


_BATCH_TRIPLET_BAD = (
    *_batch_bad("batch_triplet_loss"),
    BadInput(
        "unknown mining",
        lambda: ((torch.zeros(6, 3), torch.zeros(6, dtype=torch.long)), {"mining": "random"}),
        ValueError,
        r"batch_triplet_loss: mining must be one of 'all', 'hard', 'semihard'; got 'random'",
    ),
    BadInput(
        "unknown mean_over",
        lambda: ((torch.zeros(6, 3), torch.zeros(6, dtype=torch.long)), {"mean_over": "nonzero"}),
        ValueError,
        r"batch_triplet_loss: mean_over must be one of 'all', 'active'; got 'nonzero'",
    ),
    BadInput(
        "squared cosine",
        lambda: (
            (torch.zeros(6, 3), torch.zeros(6, dtype=torch.long)),
            {"distance": "cosine", "squared": True},
        ),
        ValueError,
        r"batch_triplet_loss: squared=True applies to the euclidean distance only; got distance='cosine'",
    ),
)


BAD_INPUTS = {
    'contrastive_loss': _CONTRASTIVE_BAD,
    'batch_contrastive_loss': _batch_bad("batch_contrastive_loss"),
    'triplet_loss': _TRIPLET_BAD,
    'batch_triplet_loss': _BATCH_TRIPLET_BAD,
}
