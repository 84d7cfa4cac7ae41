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
}
