"""Inputs every regression loss must refuse, with the error each must raise."""

from __future__ import annotations

from collections.abc import Callable

import torch

from losskit import functional as F

from . import BadInput


def _bad(fn: Callable) -> tuple[BadInput, ...]:
    name = fn.__name__
    return (
        BadInput(
            "shape mismatch",
            lambda: ((torch.zeros(8, 4), torch.zeros(8, 5)), {}),
            ValueError,
            rf"{name}: pred and target must have the same shape; got \(8, 4\) and \(8, 5\)",
        ),
        BadInput(
            "no silent broadcasting",
            lambda: ((torch.zeros(3, 1), torch.zeros(3)), {}),
            ValueError,
            rf"{name}: pred and target must have the same shape",
        ),
        BadInput(
            "integer input",
            lambda: ((torch.zeros(3, dtype=torch.long), torch.zeros(3)), {}),
            TypeError,
            rf"{name}: pred must be a floating-point tensor; got dtype torch.int64",
        ),
        BadInput(
            "unknown reduction",
            lambda: ((torch.zeros(3), torch.zeros(3)), {"reduction": "avg"}),
            ValueError,
            rf"{name}: reduction must be one of 'none', 'mean', 'sum'; got 'avg'",
        ),
        BadInput(
            "weight that enlarges the loss",
            lambda: ((torch.zeros(3), torch.zeros(3)), {"weight": torch.ones(2, 3)}),
            ValueError,
            rf"{name}: weight must broadcast to \(3,\) without enlarging it; got \(2, 3\)",
        ),
    )


BAD_INPUTS = {
    'l1_loss': _bad(F.l1_loss),
    'mse_loss': _bad(F.mse_loss),
    'smooth_l1_loss': _bad(F.smooth_l1_loss),
    'huber_loss': _bad(F.huber_loss),
    'log_cosh_loss': _bad(F.log_cosh_loss),
    'charbonnier_loss': _bad(F.charbonnier_loss),
    'cauchy_loss': _bad(F.cauchy_loss),
    'geman_mcclure_loss': _bad(F.geman_mcclure_loss),
    'welsch_loss': _bad(F.welsch_loss),
    'general_robust_loss': (
            *_bad(F.general_robust_loss),
            BadInput(
                "robust_shape that enlarges the loss",
                lambda: ((torch.zeros(3), torch.zeros(3)), {"robust_shape": torch.zeros(2, 3)}),
                ValueError,
                r"general_robust_loss: robust_shape must broadcast to \(3,\) without enlarging it; got \(2, 3\)",
            ),
            BadInput(
                "NaN in robust_shape",
                lambda: ((torch.zeros(3), torch.zeros(3)), {"robust_shape": torch.tensor(float("nan"))}),
                ValueError,
                r"general_robust_loss: robust_shape must not contain NaN",
            ),
        ),
    'wing_loss': (
            *_bad(F.wing_loss),
            BadInput(
                "zero width",
                lambda: ((torch.zeros(3), torch.zeros(3)), {"width": 0.0}),
                ValueError,
                r"wing_loss: width must be a finite number > 0; got 0.0",
            ),
        ),
    'balanced_l1_loss': (
            *_bad(F.balanced_l1_loss),
            BadInput(
                "negative beta",
                lambda: ((torch.zeros(3), torch.zeros(3)), {"beta": -1.0}),
                ValueError,
                r"balanced_l1_loss: beta must be a finite number >= 0; got -1.0",
            ),
        ),
}
