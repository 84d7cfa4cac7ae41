"""Inputs every constraint loss must refuse, with the error each must raise."""

from __future__ import annotations

import torch

from . import BadInput


def _centre_bad(name: str) -> tuple[BadInput, ...]:
    x, y = torch.zeros(6, 3), torch.zeros(6, dtype=torch.long)
    return (
        BadInput(
            "centres of another dimension",
            lambda: ((x, y, torch.zeros(4, 2)), {}),
            ValueError,
            rf"{name}: centers must have shape \(C, D\) with D = 3 \(the embedding dimension\); got \(4, 2\)",
        ),
        BadInput(
            "label out of range",
            lambda: ((x, torch.tensor([0, 1, 2, 3, 4, 1]), torch.zeros(4, 3)), {}),
            ValueError,
            rf"{name}: labels must lie in \[0, 3\] or equal ignore_index=-100; got values in \[0, 4\]",
        ),
        BadInput(
            "float labels",
            lambda: ((x, torch.zeros(6), torch.zeros(4, 3)), {}),
            TypeError,
            rf"{name}: labels must be an integer tensor of class indices; got dtype torch.float32",
        ),
        BadInput(
            "labels of the wrong length",
            lambda: ((x, torch.zeros(5, dtype=torch.long), torch.zeros(4, 3)), {}),
            ValueError,
            rf"{name}: labels must have shape \(N,\) = \(6,\) to match embeddings \(6, 3\); got \(5,\)",
        ),
        BadInput(
            "integer embeddings",
            lambda: ((torch.zeros(6, 3, dtype=torch.long), y, torch.zeros(4, 3)), {}),
            TypeError,
            rf"{name}: embeddings must be a floating-point tensor; got dtype torch.int64",
        ),
        BadInput(
            "unknown reduction",
            lambda: ((x, y, torch.zeros(4, 3)), {"reduction": "avg"}),
            ValueError,
            rf"{name}: reduction must be one of 'none', 'mean', 'sum'; got 'avg'",
        ),
    )


_RANGE_BAD = (
    BadInput(
        "unknown reduction",
        lambda: ((torch.zeros(6, 3), torch.zeros(6, dtype=torch.long)), {"reduction": "avg"}),
        ValueError,
        r"range_loss: reduction must be one of 'none', 'mean', 'sum'; got 'avg'",
    ),
    BadInput(
        "k below 1",
        lambda: ((torch.zeros(6, 3), torch.zeros(6, dtype=torch.long)), {"k": 0}),
        ValueError,
        r"range_loss: k must be an int >= 1; got 0",
    ),
    BadInput(
        "negative margin",
        lambda: ((torch.zeros(6, 3), torch.zeros(6, dtype=torch.long)), {"margin": -1.0}),
        ValueError,
        r"range_loss: margin must be a finite number >= 0; got -1.0",
    ),
    BadInput(
        "labels of the wrong length",
        lambda: ((torch.zeros(6, 3), torch.zeros(4, dtype=torch.long)), {}),
        ValueError,
        r"range_loss: labels must have shape \(N,\) = \(6,\) to match embeddings \(6, 3\); got \(4,\)",
    ),
)


_RING_BAD = (
    BadInput(
        "radius with several elements",
        lambda: ((torch.zeros(6, 3), torch.ones(2)), {}),
        ValueError,
        r"ring_loss: radius must have one element; got shape \(2,\)",
    ),
    BadInput(
        "embeddings not (N, D)",
        lambda: ((torch.zeros(6), torch.tensor(1.0)), {}),
        ValueError,
        r"ring_loss: embeddings must have 2 dimensions; got shape \(6,\)",
    ),
    BadInput(
        "integer radius tensor",
        lambda: ((torch.zeros(6, 3), torch.tensor(1)), {}),
        TypeError,
        r"ring_loss: radius must be a floating-point tensor; got dtype torch.int64",
    ),
)


BAD_INPUTS = {
    'center_loss': _centre_bad("center_loss"),
    'center_invariant_loss': _centre_bad("center_invariant_loss"),
    'range_loss': _RANGE_BAD,
    'ring_loss': _RING_BAD,
}
