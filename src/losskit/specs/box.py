"""Registry entries for the box losses (IoU family)."""

from __future__ import annotations

import torch

from .. import functional as F
from ._base import LossInputs, LossSpec
from ._inputs import rand, randn


def make_boxes(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` non-square xyxy target boxes and predictions scattered around them (most
    overlap, some are disjoint); widths and heights in ``[0.5, 3.5]``."""
    g = generator
    xy = rand(g, n, 2, dtype=torch.float64) * 4.0
    wh = rand(g, n, 2, dtype=torch.float64) * 3.0 + 0.5
    pxy = xy + randn(g, n, 2, dtype=torch.float64) * 0.8
    pwh = wh * torch.exp(randn(g, n, 2, dtype=torch.float64) * 0.4)
    target = torch.cat([xy, xy + wh], dim=-1)
    pred = torch.cat([pxy, pxy + pwh], dim=-1)
    return pred.to(device=device, dtype=dtype), target.to(device=device, dtype=dtype)


def _inputs(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    pred, target = make_boxes(n, dtype=dtype, device=device, generator=generator)
    return LossInputs(args=(pred, target), batched=(True, True))


SPECS = [
    LossSpec(
        family="box",
        function=F.iou_loss,
        make_inputs=_inputs,
        peers=("mmdet.models.losses.IoULoss(mode='linear')",),
    ),
    LossSpec(
        family="box",
        function=F.giou_loss,
        make_inputs=_inputs,
        peers=("torchvision.ops.generalized_box_iou_loss",),
    ),
    LossSpec(
        family="box",
        function=F.diou_loss,
        make_inputs=_inputs,
        peers=("torchvision.ops.distance_box_iou_loss",),
    ),
    LossSpec(
        family="box",
        function=F.ciou_loss,
        make_inputs=_inputs,
        peers=("torchvision.ops.complete_box_iou_loss", "mmdet.models.losses.CIoULoss"),
        # the harness's float64 gradcheck needs the true gradient; the default "detach" (alpha
        # constant in the backward pass) is tested against autograd in tests/functional/test_box.py
        kwargs={"alpha_mode": "grad"},
    ),
    LossSpec(
        family="box",
        function=F.eiou_loss,
        make_inputs=_inputs,
    ),
    LossSpec(
        family="box",
        function=F.siou_loss,
        make_inputs=_inputs,
        kwargs={"shape_exponent": 4.0},
    ),
]
