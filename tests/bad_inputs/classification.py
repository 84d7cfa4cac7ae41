"""Inputs every classification loss must refuse, with the error each must raise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from losskit import functional as F

from . import BadInput

_C = 4  # classes in the test inputs


def _bad_binary(fn: Callable, **kw: Any) -> tuple[BadInput, ...]:
    name = fn.__name__
    z = torch.zeros
    return (
        BadInput(
            "shape mismatch",
            lambda: ((z(2, 3, 4), z(2, 3, 5)), dict(kw)),
            ValueError,
            rf"{name}: logits and target must have the same shape; got \(2, 3, 4\) and \(2, 3, 5\)",
        ),
        BadInput(
            "integer target",
            lambda: ((z(2, 3), z(2, 3, dtype=torch.long)), dict(kw)),
            TypeError,
            rf"{name}: target must be a floating-point tensor; got dtype torch.int64",
        ),
        BadInput(
            "float mask",
            lambda: ((z(2, 3), z(2, 3)), {**kw, "mask": torch.ones(2, 3)}),
            TypeError,
            rf"{name}: mask must be a bool tensor \(True = keep\); got dtype torch.float32",
        ),
        BadInput(
            "mask that enlarges the loss",
            lambda: ((z(2, 3), z(2, 3)), {**kw, "mask": torch.ones(4, 2, 3, dtype=torch.bool)}),
            ValueError,
            rf"{name}: mask must broadcast to \(2, 3\) without enlarging it; got \(4, 2, 3\)",
        ),
        BadInput(
            "logits passed as probabilities",
            lambda: ((torch.tensor([[-2.0, 3.0]]), z(1, 2)), {**kw, "from_logits": False}),
            ValueError,
            rf"{name}: logits must hold values in \[0, 1\]; got values in \[-2, 3\]",
        ),
        BadInput(
            "unknown reduction",
            lambda: ((z(2, 3), z(2, 3)), {**kw, "reduction": "avg"}),
            ValueError,
            rf"{name}: reduction must be one of 'none', 'mean', 'sum'; got 'avg'",
        ),
    )


def _bad_index(fn: Callable, labels: str = "target") -> tuple[BadInput, ...]:
    name = fn.__name__
    return (
        BadInput(
            "label out of range",
            lambda: ((torch.zeros(3, _C), torch.tensor([0, 1, 9])), {}),
            ValueError,
            rf"{name}: {labels} must lie in \[0, 3\] or equal ignore_index=-100; got values in \[0, 9\]",
        ),
        BadInput(
            "target with the wrong shape",
            lambda: ((torch.zeros(2, _C, 5), torch.zeros(2, 4, dtype=torch.long)), {}),
            ValueError,
            rf"{name}: class-index {labels} must have shape \(2, 5\) for logits of shape \(2, 4, 5\); got \(2, 4\)",
        ),
        BadInput(
            "one-dimensional logits",
            lambda: ((torch.zeros(_C), torch.tensor(1)), {}),
            ValueError,
            rf"{name}: logits must have shape \(N, C\) or \(N, C, d1, \.\.\.\); got shape \(4,\)",
        ),
        BadInput(
            "integer logits",
            lambda: ((torch.zeros(3, _C, dtype=torch.long), torch.zeros(3, dtype=torch.long)), {}),
            TypeError,
            rf"{name}: logits must be a floating-point tensor; got dtype torch.int64",
        ),
    )


BAD_INPUTS = {
    'bce_loss': _bad_binary(F.bce_loss),
    'weighted_bce_loss': (
            *_bad_binary(F.weighted_bce_loss, pos_weight=3.0),
            BadInput(
                "negative pos_weight",
                lambda: ((torch.zeros(2), torch.zeros(2)), {"pos_weight": -1.0}),
                ValueError,
                r"weighted_bce_loss: pos_weight must be a finite number >= 0; got -1.0",
            ),
        ),
    'balanced_bce_loss': (
            *_bad_binary(F.balanced_bce_loss, per_sample=False),
            BadInput(
                "per_sample with one-dimensional input",
                lambda: ((torch.zeros(5), torch.zeros(5)), {}),
                ValueError,
                r"balanced_bce_loss: logits must have shape \(N, \*\) with at least 2 dimensions when per_sample=True",
            ),
        ),
    'focal_loss': (
            *_bad_binary(F.focal_loss),
            BadInput(
                "alpha outside [0, 1]",
                lambda: ((torch.zeros(2), torch.zeros(2)), {"alpha": 1.5}),
                ValueError,
                r"focal_loss: alpha must be a number in \[0, 1\]; got 1.5",
            ),
            BadInput(
                "per-class alpha of the wrong length",
                lambda: ((torch.zeros(2, 3), torch.zeros(2, 3)), {"alpha": torch.ones(4) / 2}),
                ValueError,
                r"focal_loss: a 1-D alpha holds one value per class \(dim 1 of logits\) and must have length 3; got 4",
            ),
            BadInput(
                "negative gamma",
                lambda: ((torch.zeros(2), torch.zeros(2)), {"gamma": -1.0}),
                ValueError,
                r"focal_loss: gamma must be a finite number >= 0; got -1.0",
            ),
        ),
    'softmax_focal_loss': (
            *_bad_index(F.softmax_focal_loss, "labels"),
            BadInput(
                "scalar alpha",
                lambda: ((torch.zeros(3, _C), torch.zeros(3, dtype=torch.long)), {"alpha": 0.25}),
                TypeError,
                r"softmax_focal_loss: alpha must be a tensor or None; got float \(a single number only scales the loss",
            ),
        ),
    'softmax_cross_entropy': (
            *_bad_index(F.softmax_cross_entropy),
            BadInput(
                "class_weight of the wrong length",
                lambda: (
                    (torch.zeros(3, _C), torch.zeros(3, dtype=torch.long)),
                    {"class_weight": torch.ones(3)},
                ),
                ValueError,
                r"softmax_cross_entropy: class_weight must have shape \(4,\), one value per class; got \(3,\)",
            ),
            BadInput(
                "label_smoothing above 1",
                lambda: (
                    (torch.zeros(3, _C), torch.zeros(3, dtype=torch.long)),
                    {"label_smoothing": 1.5},
                ),
                ValueError,
                r"softmax_cross_entropy: label_smoothing must be a number in \[0, 1\]; got 1.5",
            ),
        ),
}
