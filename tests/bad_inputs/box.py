"""Inputs every box loss must refuse, with the error each must raise."""

from __future__ import annotations

from collections.abc import Callable

import torch

from losskit import functional as F

from . import BadInput


def _bad(fn: Callable, extra: tuple[BadInput, ...] = ()) -> tuple[BadInput, ...]:
    name = fn.__name__
    box = torch.tensor([[0.0, 0.0, 1.0, 2.0]])
    return (
        BadInput(
            "shape mismatch",
            lambda: ((torch.zeros(8, 4), torch.zeros(8, 5)), {}),
            ValueError,
            rf"{name}: boxes and target must have the same shape; got \(8, 4\) and \(8, 5\)",
        ),
        BadInput(
            "last dimension not 4",
            lambda: ((torch.zeros(8, 5), torch.zeros(8, 5)), {}),
            ValueError,
            rf"{name}: boxes must have shape \(\.\.\., 4\); got \(8, 5\)",
        ),
        BadInput(
            "integer boxes",
            lambda: ((torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 4)), {}),
            TypeError,
            rf"{name}: boxes must be a floating-point tensor; got dtype torch.int64",
        ),
        BadInput(
            "unknown box format",
            lambda: ((box, box), {"box_format": "xyzw"}),
            ValueError,
            rf"{name}: box_format must be one of 'xyxy', 'xywh', 'cxcywh'; got 'xyzw'",
        ),
        BadInput(
            "eps not positive",
            lambda: ((box, box), {"eps": 0.0}),
            ValueError,
            rf"{name}: eps must be a finite number > 0; got 0.0",
        ),
        BadInput(
            "unknown reduction",
            lambda: ((box, box), {"reduction": "avg"}),
            ValueError,
            rf"{name}: reduction must be one of 'none', 'mean', 'sum'; got 'avg'",
        ),
        BadInput(
            "weight that enlarges the loss",
            lambda: ((box, box), {"weight": torch.ones(3, 1)}),
            ValueError,
            rf"{name}: weight must broadcast to \(1,\) without enlarging it; got \(3, 1\)",
        ),
        *extra,
    )


BAD_INPUTS = {
    'iou_loss': _bad(F.iou_loss),
    'giou_loss': _bad(F.giou_loss),
    'diou_loss': _bad(F.diou_loss),
    'ciou_loss': _bad(
            F.ciou_loss,
            (
                BadInput(
                    "unknown alpha_mode",
                    lambda: ((torch.zeros(1, 4), torch.zeros(1, 4)), {"alpha_mode": "auto"}),
                    ValueError,
                    r"ciou_loss: alpha_mode must be one of 'detach', 'grad', 'threshold'; got 'auto'",
                ),
                BadInput(
                    "unknown v_grad",
                    lambda: ((torch.zeros(1, 4), torch.zeros(1, 4)), {"v_grad": "approx"}),
                    ValueError,
                    r"ciou_loss: v_grad must be one of 'exact', 'paper'; got 'approx'",
                ),
            ),
        ),
    'eiou_loss': _bad(F.eiou_loss),
    'siou_loss': _bad(
            F.siou_loss,
            (
                BadInput(
                    "shape_exponent not positive",
                    lambda: ((torch.zeros(1, 4), torch.zeros(1, 4)), {"shape_exponent": -1.0}),
                    ValueError,
                    r"siou_loss: shape_exponent must be a finite number > 0; got -1.0",
                ),
            ),
        ),
}
