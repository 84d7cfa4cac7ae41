"""Inputs every box loss must refuse, with the error each must raise."""

from __future__ import annotations

from collections.abc import Callable

import torch

from losskit import functional as F

from . import BadInput


def _bad(fn: Callable, extra: tuple[BadInput, ...] = (), side: int = 4) -> tuple[BadInput, ...]:
    """The mistakes every box loss must refuse; ``side`` 4 (2-D boxes) or 6 (3-D boxes, which
    have no ``box_format``)."""
    name = fn.__name__
    box = torch.tensor([[0.0, 0.0, 1.0, 2.0]] if side == 4 else [[0.0, 0.0, 0.0, 1.0, 2.0, 3.0]])
    other = side + 1
    formats = (
        BadInput(
            "unknown box format",
            lambda: ((box, box), {"box_format": "xyzw"}),
            ValueError,
            rf"{name}: box_format must be one of 'xyxy', 'xywh', 'cxcywh'; got 'xyzw'",
        ),
    ) if side == 4 else ()  # fmt: skip
    return (
        BadInput(
            "shape mismatch",
            lambda: ((torch.zeros(8, side), torch.zeros(8, other)), {}),
            ValueError,
            rf"{name}: boxes and target must have the same shape; got \(8, {side}\) and \(8, {other}\)",
        ),
        BadInput(
            f"last dimension not {side}",
            lambda: ((torch.zeros(8, other), torch.zeros(8, other)), {}),
            ValueError,
            rf"{name}: boxes must have shape \(\.\.\., {side}\); got \(8, {other}\)",
        ),
        BadInput(
            "integer boxes",
            lambda: ((torch.zeros(2, side, dtype=torch.long), torch.zeros(2, side)), {}),
            TypeError,
            rf"{name}: boxes must be a floating-point tensor; got dtype torch.int64",
        ),
        *formats,
        BadInput(
            "eps not positive",
            lambda: ((box, box), {"eps": 0.0}),
            ValueError,
            rf"{name}: eps must be a finite number > 0; got 0.0",
        ),
        BadInput(
            "iou_exponent below 1",
            lambda: ((box, box), {"iou_exponent": 0.5}),
            ValueError,
            rf"{name}: iou_exponent must be a finite number >= 1; got 0.5",
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


def _bad_form(fn: Callable, side: int) -> BadInput:
    name = fn.__name__
    return BadInput(
        "unknown form",
        lambda: ((torch.zeros(1, side), torch.zeros(1, side)), {"form": "sqrt"}),
        ValueError,
        rf"{name}: form must be one of 'linear', 'square', 'log'; got 'sqrt'",
    )


BAD_INPUTS = {
    'iou_loss': _bad(F.iou_loss, (_bad_form(F.iou_loss, 4),)),
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
    'iou_3d_loss': _bad(F.iou_3d_loss, (_bad_form(F.iou_3d_loss, 6),), side=6),
    'giou_3d_loss': _bad(F.giou_3d_loss, side=6),
}
