"""Benchmark cases of the box family (losskit against its peers)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .. import functional as F
from ..specs._inputs import grad_inputs
from ._base import BenchCase

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


CASES = {
    "giou_loss": _bench(F.giou_loss, "generalized_box_iou_loss"),
    "diou_loss": _bench(F.diou_loss, "distance_box_iou_loss"),
    "ciou_loss": _bench(F.ciou_loss, "complete_box_iou_loss"),
}
