"""Registry entries for the box losses (IoU family)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .. import functional as F
from .. import nn as lnn
from ._base import BadInput, BenchCase, LossInputs, LossSpec
from ._inputs import grad_inputs, rand, randn

_PAPER_DIOU = (
    "Zheng, Wang, Liu, Li, Ye, Ren, 'Distance-IoU Loss: Faster and Better Learning for Bounding "
    "Box Regression', AAAI 2020, arXiv:1911.08287"
)


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


def _bad(fn: Callable, extra: tuple[BadInput, ...] = ()) -> tuple[BadInput, ...]:
    name = fn.__name__
    box = torch.tensor([[0.0, 0.0, 1.0, 2.0]])
    return (
        BadInput(
            "shape mismatch",
            lambda: ((torch.zeros(8, 4), torch.zeros(8, 5)), {}),
            ValueError,
            rf"{name}: pred and target must have the same shape; got \(8, 4\) and \(8, 5\)",
        ),
        BadInput(
            "last dimension not 4",
            lambda: ((torch.zeros(8, 5), torch.zeros(8, 5)), {}),
            ValueError,
            rf"{name}: pred must have shape \(\.\.\., 4\); got \(8, 5\)",
        ),
        BadInput(
            "integer boxes",
            lambda: ((torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 4)), {}),
            TypeError,
            rf"{name}: pred must be a floating-point tensor; got dtype torch.int64",
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
            rf"{name}: eps must be finite and > 0; got 0.0",
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


BENCH_N = 1_000_000


def bench_boxes(device: torch.device, n: int = BENCH_N) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` float32 box pairs for the benchmarks (pixel-scale, mostly overlapping)."""
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(n, 2, generator=g) * 600.0
    wh = torch.rand(n, 2, generator=g) * 120.0 + 4.0
    target = torch.cat([xy, xy + wh], dim=-1)
    pxy = xy + torch.randn(n, 2, generator=g) * 10.0
    pwh = wh * torch.exp(torch.randn(n, 2, generator=g) * 0.3)
    pred = torch.cat([pxy, pxy + pwh], dim=-1)
    return pred.to(device), target.to(device)


def _bench(fn: Callable, peer_name: str) -> tuple[BenchCase, ...]:
    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        import torchvision.ops as tvo

        peer = getattr(tvo, peer_name)
        pred, target = bench_boxes(device)
        (p,) = grad_inputs(pred)

        def run(f: Callable) -> Callable[[], None]:
            def step() -> None:
                p.grad = None
                f(p, target, reduction="mean").backward()

            return step

        return {"losskit": run(fn), "torchvision": run(peer)}

    return (BenchCase(f"{BENCH_N:,} float32 boxes, forward+backward", setup),)


SPECS = [
    LossSpec(
        name="iou_loss",
        family="box",
        function=F.iou_loss,
        module=lnn.IoULoss,
        make_inputs=_inputs,
        summary="1 - IoU of predicted and target boxes.",
        formula="l = 1 - |A ∩ B| / (|A ∪ B| + eps)",
        when_to_use=(
            "Scale-invariant box regression when predictions already overlap their targets "
            "(e.g. refining proposals); a disjoint prediction gets no gradient at all."
        ),
        paper="Yu, Jiang, Wang, Cao, Huang, 'UnitBox: An Advanced Object Detection Network', ACM MM 2016, arXiv:1608.01471",
        peers=("mmdet.models.losses.IoULoss(mode='linear')",),
        bad_inputs=_bad(F.iou_loss),
    ),
    LossSpec(
        name="giou_loss",
        family="box",
        function=F.giou_loss,
        module=lnn.GIoULoss,
        make_inputs=_inputs,
        summary="IoU loss plus the empty fraction of the enclosing box.",
        formula="l = 1 - IoU + (|C| - |A ∪ B|) / (|C| + eps), C the smallest enclosing box; l in [0, 2)",
        when_to_use=(
            "Box regression from anchors or queries that may not overlap their targets (DETR "
            "uses it): the penalty gives disjoint boxes a gradient, growing with the gap."
        ),
        paper=(
            "Rezatofighi, Tsoi, Gwak, Sadeghian, Reid, Savarese, 'Generalized Intersection over "
            "Union: A Metric and A Loss for Bounding Box Regression', CVPR 2019, arXiv:1902.09630"
        ),
        peers=("torchvision.ops.generalized_box_iou_loss",),
        bad_inputs=_bad(F.giou_loss),
        bench=_bench(F.giou_loss, "generalized_box_iou_loss"),
    ),
    LossSpec(
        name="diou_loss",
        family="box",
        function=F.diou_loss,
        module=lnn.DIoULoss,
        make_inputs=_inputs,
        summary="IoU loss plus the squared centre distance over the enclosing diagonal.",
        formula="l = 1 - IoU + rho^2(b, b_gt) / (c^2 + eps); penalty in [0, 1), l in [0, 2)",
        when_to_use=(
            "Box regression that should converge fast and rank nested boxes (where GIoU "
            "equals IoU); it pulls the centres together directly."
        ),
        paper=_PAPER_DIOU,
        peers=("torchvision.ops.distance_box_iou_loss",),
        bad_inputs=_bad(F.diou_loss),
        bench=_bench(F.diou_loss, "distance_box_iou_loss"),
    ),
    LossSpec(
        name="ciou_loss",
        family="box",
        function=F.ciou_loss,
        module=lnn.CIoULoss,
        make_inputs=_inputs,
        summary="DIoU loss plus a weighted aspect-ratio term.",
        formula=(
            "l = 1 - IoU + rho^2/c^2 + alpha v, v = 4/pi^2 (atan(w_gt/h_gt) - atan(w/h))^2, "
            "alpha = v / (1 - IoU + v)"
        ),
        when_to_use=(
            "The usual choice of one-stage detectors (YOLO family): overlap, centre distance "
            "and aspect ratio in one loss, the aspect term weighted up only as boxes align."
        ),
        paper=_PAPER_DIOU,
        peers=("torchvision.ops.complete_box_iou_loss", "mmdet.models.losses.CIoULoss"),
        # the harness's float64 gradcheck needs the true gradient; the default "detach" (alpha
        # constant in the backward pass) is tested against autograd in tests/functional/test_box.py
        kwargs={"alpha_mode": "grad"},
        bad_inputs=_bad(
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
        bench=_bench(F.ciou_loss, "complete_box_iou_loss"),
    ),
    LossSpec(
        name="eiou_loss",
        family="box",
        function=F.eiou_loss,
        module=lnn.EIoULoss,
        make_inputs=_inputs,
        summary="DIoU loss plus separate width and height terms.",
        formula="l = 1 - IoU + rho^2/c^2 + (w - w_gt)^2/c_w^2 + (h - h_gt)^2/c_h^2",
        when_to_use=(
            "Like CIoU, but width and height converge independently (CIoU's aspect term "
            "vanishes for any box of the right aspect ratio, whatever its size)."
        ),
        paper=(
            "Zhang, Ren, Zhang, Jia, Wang, Tan, 'Focal and Efficient IOU Loss for Accurate "
            "Bounding Box Regression', Neurocomputing 506, 2022, arXiv:2101.08158"
        ),
        bad_inputs=_bad(F.eiou_loss),
    ),
    LossSpec(
        name="siou_loss",
        family="box",
        function=F.siou_loss,
        module=lnn.SIoULoss,
        make_inputs=_inputs,
        summary="IoU loss plus angle-aware distance and shape costs.",
        formula=(
            "l = 1 - IoU + (Delta + Omega)/2, Delta = sum_t 1 - exp(-(2 - Lambda) rho_t), "
            "Lambda = sin(2 angle), Omega = sum (1 - exp(-omega_t))^theta"
        ),
        when_to_use=(
            "Detectors (YOLOv6 and later) that want the prediction to first slide onto the "
            "nearest axis of the target's centre, then along it."
        ),
        paper="Gevorgyan, 'SIoU Loss: More Powerful Learning for Bounding Box Regression', arXiv:2205.12740, 2022",
        kwargs={"theta": 4.0},
        bad_inputs=_bad(
            F.siou_loss,
            (
                BadInput(
                    "theta not positive",
                    lambda: ((torch.zeros(1, 4), torch.zeros(1, 4)), {"theta": -1.0}),
                    ValueError,
                    r"siou_loss: theta must be finite and > 0; got -1.0",
                ),
            ),
        ),
    ),
]
