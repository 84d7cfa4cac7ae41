"""Inputs every overlap loss must refuse, with the error each must raise."""

from __future__ import annotations

from collections.abc import Callable

import torch

from losskit import functional as F

from . import BadInput


def _bad(fn: Callable, mode: str) -> tuple[BadInput, ...]:
    name = fn.__name__
    common: tuple[BadInput, ...] = (
        BadInput(
            "unknown mode",
            lambda: ((torch.zeros(2, 3), torch.zeros(2, 3)), {"mode": "softmax"}),
            ValueError,
            rf"{name}: mode must be one of 'binary', 'multiclass', 'multilabel'; got 'softmax'",
        ),
        BadInput(
            "integer logits",
            lambda: ((torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3)), {"mode": "binary"}),
            TypeError,
            rf"{name}: logits must be a floating-point tensor; got dtype torch.int64",
        ),
        BadInput(
            "binary shape mismatch (no silent broadcasting)",
            lambda: ((torch.zeros(2, 1, 3), torch.zeros(2, 3)), {"mode": "binary"}),
            ValueError,
            rf"{name}: logits and target must have the same shape; got \(2, 1, 3\) and \(2, 3\)",
        ),
        BadInput(
            "multiclass target shape",
            lambda: (
                (torch.zeros(2, 3, 4), torch.zeros(2, 3, 4, dtype=torch.long)),
                {"mode": "multiclass"},
            ),
            ValueError,
            rf"{name}: in multiclass mode target must be \(N, \.\.\.\) = \(2, 4\) for logits \(2, 3, 4\); got \(2, 3, 4\)",
        ),
        BadInput(
            "multiclass float target",
            lambda: ((torch.zeros(2, 3, 4), torch.zeros(2, 4)), {"mode": "multiclass"}),
            TypeError,
            rf"{name}: target must be an integer tensor of class indices; got dtype torch.float32",
        ),
        BadInput(
            "label out of range",
            lambda: ((torch.zeros(2, 3, 4), torch.full((2, 4), 3)), {"mode": "multiclass"}),
            ValueError,
            rf"{name}: target must lie in \[0, 2\] or equal ignore_index=-100; got values in \[3, 3\]",
        ),
        BadInput(
            "negative smooth",
            lambda: ((torch.zeros(2, 3), torch.zeros(2, 3)), {"mode": "binary", "smooth": -1.0}),
            ValueError,
            rf"{name}: smooth must be a finite number >= 0; got -1.0",
        ),
        BadInput(
            "class weight of the wrong length",
            lambda: (
                (torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long)),
                {"mode": "multiclass", "class_weight": torch.ones(4)},
            ),
            ValueError,
            rf"{name}: class_weight must have shape \(3,\), one value per class; got \(4,\)",
        ),
        BadInput(
            "unknown reduction",
            lambda: (
                (torch.zeros(2, 3), torch.zeros(2, 3)),
                {"mode": "binary", "reduction": "batchmean"},
            ),
            ValueError,
            rf"{name}: reduction must be one of 'none', 'mean', 'sum'; got 'batchmean'",
        ),
    )
    return common


BAD_INPUTS = {
    'dice_loss': _bad(F.dice_loss, "multiclass"),
    'jaccard_loss': _bad(F.jaccard_loss, "multilabel"),
    'tversky_loss': _bad(F.tversky_loss, "binary"),
    'focal_tversky_loss': _bad(F.focal_tversky_loss, "multiclass"),
}
