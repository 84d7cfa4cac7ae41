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


def _bad_index(fn: Callable, labels: str = "target", **kw: Any) -> tuple[BadInput, ...]:
    name = fn.__name__
    return (
        BadInput(
            "label out of range",
            lambda: ((torch.zeros(3, _C), torch.tensor([0, 1, 9])), dict(kw)),
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


def _logits_only(bad: tuple[BadInput, ...]) -> tuple[BadInput, ...]:
    """The binary mistakes of a loss that takes logits only (no from_logits option)."""
    return tuple(b for b in bad if "probabilities" not in b.label)


def _bad_avg_factor(fn: Callable, bins: int | None = None) -> tuple[BadInput, ...]:
    """avg_factor: one value, with reduction="mean" only, >= 0."""
    name = fn.__name__

    def inputs() -> tuple[torch.Tensor, torch.Tensor]:
        if bins is None:
            return torch.zeros(2, 3), torch.zeros(2, 3)
        return torch.zeros(2, 3, bins), torch.zeros(2, 3)

    return (
        BadInput(
            "avg_factor with reduction='sum'",
            lambda: (inputs(), {"avg_factor": 4.0, "reduction": "sum"}),
            ValueError,
            rf"{name}: avg_factor sets what reduction='mean' divides by; got reduction='sum'",
        ),
        BadInput(
            "avg_factor of several values",
            lambda: (inputs(), {"avg_factor": torch.ones(2)}),
            ValueError,
            rf"{name}: avg_factor must be a number or a one-element tensor; got shape \(2,\)",
        ),
        BadInput(
            "negative avg_factor",
            lambda: (inputs(), {"avg_factor": -1.0}),
            ValueError,
            rf"{name}: avg_factor must be a finite number >= 0; got -1.0",
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
    'quality_focal_loss': (
            *_bad_binary(F.quality_focal_loss),
            *_bad_avg_factor(F.quality_focal_loss),
            BadInput(
                "target above 1",
                lambda: ((torch.zeros(2), torch.tensor([0.5, 1.5])), {}),
                ValueError,
                r"quality_focal_loss: target must hold values in \[0, 1\]; got values in \[0.5, 1.5\]",
            ),
        ),
    'varifocal_loss': (
            *_bad_binary(F.varifocal_loss),
            *_bad_avg_factor(F.varifocal_loss),
            BadInput(
                "negative target (mmdetection's target <= 0 is refused)",
                lambda: ((torch.zeros(2), torch.tensor([0.5, -1.0])), {}),
                ValueError,
                r"varifocal_loss: target must hold values in \[0, 1\]; got values in \[-1, 0.5\]",
            ),
            BadInput(
                "alpha outside [0, 1]",
                lambda: ((torch.zeros(2), torch.zeros(2)), {"alpha": 1.5}),
                ValueError,
                r"varifocal_loss: alpha must be a number in \[0, 1\]; got 1.5",
            ),
        ),
    'gaussian_focal_loss': (
            *_bad_binary(F.gaussian_focal_loss),
            *_bad_avg_factor(F.gaussian_focal_loss),
            BadInput(
                "negative penalty_exponent",
                lambda: ((torch.zeros(2), torch.zeros(2)), {"penalty_exponent": -1.0}),
                ValueError,
                r"gaussian_focal_loss: penalty_exponent must be a finite number >= 0; got -1.0",
            ),
        ),
    'distribution_focal_loss': (
            *_bad_avg_factor(F.distribution_focal_loss, bins=5),
            BadInput(
                "target beyond the last bin",
                lambda: ((torch.zeros(2, 5), torch.tensor([1.0, 4.5])), {}),
                ValueError,
                r"distribution_focal_loss: target must hold values in \[0, 4\] \(bins of the 5 logits\); got values in \[1, 4.5\]",
            ),
            BadInput(
                "target with the bins' dimension",
                lambda: ((torch.zeros(2, 5), torch.zeros(2, 5)), {}),
                ValueError,
                r"distribution_focal_loss: target must have shape \(2,\) \(logits without the bins\); got \(2, 5\)",
            ),
            BadInput(
                "a single bin",
                lambda: ((torch.zeros(2, 1), torch.zeros(2)), {}),
                ValueError,
                r"distribution_focal_loss: logits must have at least 2 bins \(last dimension\); got 1",
            ),
            BadInput(
                "integer target",
                lambda: ((torch.zeros(2, 5), torch.zeros(2, dtype=torch.long)), {}),
                TypeError,
                r"distribution_focal_loss: target must be a floating-point tensor; got dtype torch.int64",
            ),
        ),
    'asymmetric_loss': (
            *_logits_only(_bad_binary(F.asymmetric_loss)),
            BadInput(
                "clip above 1",
                lambda: ((torch.zeros(2), torch.zeros(2)), {"clip": 1.5}),
                ValueError,
                r"asymmetric_loss: clip must be a number in \[0, 1\]; got 1.5",
            ),
        ),
    'asymmetric_softmax_loss': (*_bad_index(F.asymmetric_softmax_loss, "labels"),),
    'poly1_cross_entropy': (
            *_bad_index(F.poly1_cross_entropy, "labels"),
            BadInput(
                "poly_coef below -1",
                lambda: ((torch.zeros(3, _C), torch.zeros(3, dtype=torch.long)), {"poly_coef": -2.0}),
                ValueError,
                r"poly1_cross_entropy: poly_coef must be a finite number >= -1; got -2.0",
            ),
        ),
    'poly1_focal_loss': _logits_only(_bad_binary(F.poly1_focal_loss)),
    'jsd_cross_entropy': (
            BadInput(
                "views not along the last dimension",
                lambda: ((torch.zeros(6, _C), torch.zeros(6, dtype=torch.long)), {}),
                ValueError,
                r"jsd_cross_entropy: logits must have shape \(N, C, S\) with S = num_splits = 3 views along the last dimension; got \(6, 4\)",
            ),
            BadInput(
                "label out of range",
                lambda: ((torch.zeros(2, _C, 3), torch.tensor([0, 9])), {}),
                ValueError,
                r"jsd_cross_entropy: labels must lie in \[0, 3\] or equal ignore_index=-100; got values in \[0, 9\]",
            ),
        ),
    'distillation_loss': (
            BadInput(
                "teacher of another shape",
                lambda: ((torch.zeros(2, _C), torch.zeros(2, 5)), {}),
                ValueError,
                r"distillation_loss: logits and teacher_logits must have the same shape; got \(2, 4\) and \(2, 5\)",
            ),
            BadInput(
                "zero temperature",
                lambda: ((torch.zeros(2, _C), torch.zeros(2, _C)), {"temperature": 0.0}),
                ValueError,
                r"distillation_loss: temperature must be a finite number > 0; got 0.0",
            ),
        ),
    'ldam_loss': (
            *_bad_index(F.ldam_loss, "labels", counts=torch.tensor([5, 4, 3, 2])),
            BadInput(
                "counts of the wrong length",
                lambda: ((torch.zeros(3, _C), torch.zeros(3, dtype=torch.long)),
                         {"counts": torch.ones(3)}),
                ValueError,
                r"ldam_loss: counts must have shape \(4,\), one count per class; got \(3,\)",
            ),
            BadInput(
                "negative count",
                lambda: ((torch.zeros(3, _C), torch.zeros(3, dtype=torch.long)),
                         {"counts": torch.tensor([5.0, -1.0, 2.0, 2.0])}),
                ValueError,
                r"ldam_loss: counts must hold finite values >= 0; got values in \[-1, 5\]",
            ),
        ),
    'seesaw_loss': (
            BadInput(
                "label out of range",
                lambda: ((torch.zeros(3, _C), torch.tensor([0, 1, 9]), torch.zeros(_C)), {}),
                ValueError,
                r"seesaw_loss: labels must lie in \[0, 3\] or equal ignore_index=-100; got values in \[0, 9\]",
            ),
            BadInput(
                "counts of the wrong length",
                lambda: ((torch.zeros(3, _C), torch.zeros(3, dtype=torch.long), torch.zeros(3)), {}),
                ValueError,
                r"seesaw_loss: counts must have shape \(4,\), one count per class; got \(3,\)",
            ),
            BadInput(
                "bool counts",
                lambda: ((torch.zeros(3, _C), torch.zeros(3, dtype=torch.long),
                          torch.ones(_C, dtype=torch.bool)), {}),
                TypeError,
                r"seesaw_loss: counts must be a numeric tensor; got dtype torch.bool",
            ),
        ),
    'eqlv2_loss': (
            BadInput(
                "label out of range",
                lambda: ((torch.zeros(3, _C), torch.tensor([0, 1, 9])), {}),
                ValueError,
                r"eqlv2_loss: labels must lie in \[0, 3\] or equal ignore_index=-100; got values in \[0, 9\]",
            ),
            BadInput(
                "statistic of the wrong length",
                lambda: ((torch.zeros(3, _C), torch.zeros(3, dtype=torch.long)),
                         {"pos_grad": torch.zeros(3)}),
                ValueError,
                r"eqlv2_loss: pos_grad must have shape \(4,\), one value per class; got \(3,\)",
            ),
            BadInput(
                "negative statistic",
                lambda: ((torch.zeros(3, _C), torch.zeros(3, dtype=torch.long)),
                         {"neg_grad": torch.tensor([1.0, -1.0, 0.0, 0.0])}),
                ValueError,
                r"eqlv2_loss: neg_grad must hold finite values >= 0; got values in \[-1, 1\]",
            ),
            BadInput(
                "integer statistic",
                lambda: ((torch.zeros(3, _C), torch.zeros(3, dtype=torch.long)),
                         {"pos_grad": torch.zeros(_C, dtype=torch.long)}),
                TypeError,
                r"eqlv2_loss: pos_grad must be a floating-point tensor; got dtype torch.int64",
            ),
        ),
}
