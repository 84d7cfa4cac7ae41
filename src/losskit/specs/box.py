"""Registry entries for the box losses (IoU family)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

from .. import functional as F
from ._base import LossInputs, LossSpec
from ._explain import Curve, Panel, scalar_curve
from ._inputs import rand, randn


def make_boxes(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator,
    dims: int = 2,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """``n`` non-square target boxes and predictions scattered around them (most overlap,
    some are disjoint); sides in ``[0.5, 3.5]``. ``dims=2``: xyxy boxes ``(n, 4)``;
    ``dims=3``: ``(x1, y1, z1, x2, y2, z2)`` boxes ``(n, 6)``."""
    g = generator
    lo = rand(g, n, dims, dtype=torch.float64) * 4.0
    size = rand(g, n, dims, dtype=torch.float64) * 3.0 + 0.5
    plo = lo + randn(g, n, dims, dtype=torch.float64) * 0.8
    psize = size * torch.exp(randn(g, n, dims, dtype=torch.float64) * 0.4)
    target = torch.cat([lo, lo + size], dim=-1)
    pred = torch.cat([plo, plo + psize], dim=-1)
    return pred.to(device=device, dtype=dtype), target.to(device=device, dtype=dtype)


#: 3-D boxes ``(n, 6)``, see :func:`make_boxes`
make_boxes_3d = partial(make_boxes, dims=3)


def _inputs(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator,
    dims: int = 2,
) -> LossInputs:  # fmt: skip
    pred, target = make_boxes(n, dtype=dtype, device=device, generator=generator, dims=dims)
    return LossInputs(args=(pred, target), batched=(True, True))


_CUBE = torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0, 1.0], dtype=torch.float64)


def _explain_3d(fn: Callable[..., torch.Tensor], name: str) -> Callable[[], tuple[Panel, ...]]:
    """Panels of a 3-D box loss: a unit cube sliding along x past its target (IoU flat once
    disjoint, GIoU still pulling), and the cube scaled about the same centre (nested: GIoU =
    IoU), each with alpha-IoU's ``iou_exponent=3`` beside the plain loss."""

    def curves(x: torch.Tensor, make: Callable[[torch.Tensor], torch.Tensor]) -> tuple[Curve, ...]:
        return tuple(
            scalar_curve(
                label,
                x,
                lambda t, kw=kw: fn(make(t), _CUBE.expand(len(t), 6), reduction="none", **kw),
            )
            for label, kw in ((name, {}), (f"{name}, iou_exponent=3", {"iou_exponent": 3.0}))
        )

    def panels() -> tuple[Panel, ...]:
        dx = torch.linspace(-3.0, 3.0, 601, dtype=torch.float64)
        scale = torch.linspace(0.25, 3.0, 276, dtype=torch.float64)

        def shifted(t: torch.Tensor) -> torch.Tensor:
            z = torch.zeros_like(t)
            return torch.stack([t, z, z, t + 1, z + 1, z + 1], 1)

        def scaled(s: torch.Tensor) -> torch.Tensor:
            lo, hi = 0.5 - s / 2, 0.5 + s / 2
            return torch.stack([lo, lo, lo, hi, hi, hi], 1)

        return (
            Panel("over an offset along x", "dx: offset of a unit cube from its unit-cube target",
                  dx, curves(dx, shifted),
                  "Disjoint for |dx| >= 1: IoU is flat there; GIoU keeps a gradient. The power "
                  "3 flattens the loss near a perfect fit and steepens it near IoU 0."),
            Panel("over a uniform scale (same centre)", "s: side of the predicted cube, target 1",
                  scale, curves(scale, scaled),
                  "One box contains the other: the GIoU penalty is 0 and GIoU = IoU = "
                  "min(s, 1/s)^3 (in 2-D: squared)."),
        )  # fmt: skip

    return panels


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
    _entry(
        function=F.iou_3d_loss,
        make_inputs=partial(_inputs, dims=3),
        explain=_explain_3d(F.iou_3d_loss, "iou_3d_loss"),
        peers=("monai.data.box_utils.box_iou",),
    ),
    _entry(
        function=F.giou_3d_loss,
        make_inputs=partial(_inputs, dims=3),
        explain=_explain_3d(F.giou_3d_loss, "giou_3d_loss"),
        peers=("monai.data.box_utils.box_pair_giou",),
    ),
]
