"""Benchmark cases of the box family (losskit against its peers)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .. import functional as F
from ..specs._inputs import grad_inputs
from ._base import BenchCase, step

BENCH_N = 1_000_000


def bench_boxes(
    device: torch.device, n: int = BENCH_N, dims: int = 2
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` float32 box pairs for the benchmarks (pixel-scale, mostly overlapping, none
    inverted: valid for MONAI too); ``dims=3``: ``(x1, y1, z1, x2, y2, z2)`` boxes."""
    g = torch.Generator().manual_seed(0)
    lo = torch.rand(n, dims, generator=g) * 600.0
    size = torch.rand(n, dims, generator=g) * 120.0 + 4.0
    target = torch.cat([lo, lo + size], dim=-1)
    plo = lo + torch.randn(n, dims, generator=g) * 10.0
    psize = size * torch.exp(torch.randn(n, dims, generator=g) * 0.3)
    pred = torch.cat([plo, plo + psize], dim=-1)
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


def _bench_alpha_iou(fn: Callable, peer_name: str) -> BenchCase:
    """alpha-IoU (``iou_exponent=3``, the paper's choice) through the fused kernel, timed
    against torchvision's plain loss: torchvision has no alpha-IoU, so the ratio is the cost of
    the power (the paper's code computes it in plain autograd operations)."""

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        import torchvision.ops as tvo

        peer = getattr(tvo, peer_name)
        pred, target = bench_boxes(device)
        (p,) = grad_inputs(pred)
        return {
            "losskit": step(lambda: fn(p, target, iou_exponent=3.0), p),
            "torchvision": step(lambda: peer(p, target, reduction="mean"), p),
        }

    return BenchCase(
        f"{BENCH_N:,} float32 boxes, forward+backward, iou_exponent=3 vs torchvision's plain loss",
        setup,
    )


PAIRWISE_3D = 1_000


def _giou_3d_loss_case() -> BenchCase:
    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        from monai.data.box_utils import box_pair_giou

        pred, target = bench_boxes(device, dims=3)
        (p,) = grad_inputs(pred)
        return {
            "losskit": step(lambda: F.giou_3d_loss(p, target), p),
            "monai": step(lambda: (1.0 - box_pair_giou(p, target)).mean(), p),
        }

    return BenchCase(f"{BENCH_N:,} float32 3-D box pairs, forward+backward", setup)


def _pairwise_3d_case(fn: Callable, peer_name: str) -> BenchCase:
    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        from monai.data import box_utils

        peer = getattr(box_utils, peer_name)
        a, _ = bench_boxes(device, PAIRWISE_3D, dims=3)
        _, b = bench_boxes(device, PAIRWISE_3D, dims=3)
        (p,) = grad_inputs(a)
        return {
            "losskit": step(lambda: fn(p, b).mean(), p),
            "monai": step(lambda: peer(p, b).mean(), p),
        }

    n = PAIRWISE_3D
    return BenchCase(f"pairwise {n:,} x {n:,} float32 3-D boxes, forward+backward", setup)


CASES = {
    "giou_loss": _bench(F.giou_loss, "generalized_box_iou_loss"),
    "diou_loss": _bench(F.diou_loss, "distance_box_iou_loss"),
    "ciou_loss": (
        *_bench(F.ciou_loss, "complete_box_iou_loss"),
        _bench_alpha_iou(F.ciou_loss, "complete_box_iou_loss"),
    ),
    "iou_3d_loss": (_pairwise_3d_case(F.box_iou_3d, "box_iou"),),
    "giou_3d_loss": (
        _giou_3d_loss_case(),
        _pairwise_3d_case(F.generalized_box_iou_3d, "box_giou"),
    ),
}
