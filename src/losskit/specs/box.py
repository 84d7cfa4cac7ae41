"""Registry entries for the box losses (IoU family)."""

from __future__ import annotations

from functools import partial

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


#: the keyword arguments every entry of the family shares
_entry = partial(LossSpec, family="box", make_inputs=_inputs)

SPECS = [
    _entry(
        function=F.iou_loss,
        peers=("mmdet.models.losses.IoULoss(mode='linear')",),
    ),
    _entry(
        function=F.giou_loss,
        peers=("torchvision.ops.generalized_box_iou_loss",),
    ),
    _entry(
        function=F.diou_loss,
        peers=("torchvision.ops.distance_box_iou_loss",),
    ),
    _entry(
        function=F.ciou_loss,
        peers=("torchvision.ops.complete_box_iou_loss", "mmdet.models.losses.CIoULoss"),
        # the harness's float64 gradcheck needs the true gradient; the default "detach" (alpha
        # constant in the backward pass) is tested against autograd in tests/functional/test_box.py
        kwargs={"alpha_mode": "grad"},
    ),
    _entry(
        function=F.eiou_loss,
    ),
    _entry(
        function=F.siou_loss,
        kwargs={"shape_exponent": 4.0},
    ),
]
