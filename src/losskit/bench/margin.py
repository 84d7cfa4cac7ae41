"""Benchmark cases of the margin family (losskit against its peers)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as TF

from .. import functional as F
from ..specs._inputs import grad_inputs, randint, randn
from ._base import BenchCase
from ._base import step as _step

_B, _BD, _BC = 256, 512, 10_000  # benchmark batch, embedding dimension, classes


def _bench_data(device: torch.device, subcenters: int | None = None):
    g = torch.Generator().manual_seed(0)
    x = randn(g, _B, _BD, dtype=torch.float32, device=device)
    y = randint(g, _BC, _B, device=device)
    shape = (_BC, _BD) if subcenters is None else (_BC, subcenters, _BD)
    centers = randn(g, *shape, dtype=torch.float32, device=device) * 0.05
    return x, y, centers


def _bench_vs_pml(
    fn: Callable, pml_class: str, ours: dict[str, Any], theirs: dict[str, Any]
) -> tuple[BenchCase, ...]:
    """losskit (dense and chunked) against a pytorch-metric-learning loss on the same class
    centres."""

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        from pytorch_metric_learning import losses

        x0, y, w0 = _bench_data(device)
        x, w = grad_inputs(x0, w0)
        peer = getattr(losses, pml_class)(num_classes=_BC, embedding_size=_BD, **theirs).to(device)
        with torch.no_grad():
            peer.W.copy_(w0.T)  # PML stores the centres as W, (D, C)
        xp = x0.detach().clone().requires_grad_(True)
        return {
            "losskit": _step(lambda: fn(x, y, w, **ours), x, w),
            "losskit chunk_size=2048": _step(lambda: fn(x, y, w, chunk_size=2048, **ours), x, w),
            "pytorch_metric_learning": _step(lambda: peer(xp, y), xp, peer.W),
        }

    return (BenchCase(f"B={_B}, D={_BD}, C={_BC} float32", setup),)


def _bench_vs_autograd(
    fn: Callable,
    reference: Callable,
    ours: dict[str, Any],
    subcenters: int | None = None,
    bias: bool = False,
) -> tuple[BenchCase, ...]:
    """losskit against the same loss written in plain torch autograd (dense logits)."""

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        x0, y, w0 = _bench_data(device, subcenters)
        x, w = grad_inputs(x0, w0)
        xr, wr = grad_inputs(x0, w0)
        if bias:
            b, br = grad_inputs(torch.zeros(_BC, device=device), torch.zeros(_BC, device=device))
            return {
                "losskit": _step(lambda: fn(x, y, w, b, **ours), x, w, b),
                "torch": _step(lambda: reference(xr, y, wr, br), xr, wr, br),
            }
        return {
            "losskit": _step(lambda: fn(x, y, w, **ours), x, w),
            "torch": _step(lambda: reference(xr, y, wr), xr, wr),
        }

    return (BenchCase(f"B={_B}, D={_BD}, C={_BC} float32", setup),)


def _cos(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return TF.linear(TF.normalize(x, dim=-1), TF.normalize(w, dim=-1))


def _ref_softmax(x, y, w, b):
    return TF.cross_entropy(TF.linear(x, w, b), y)


def _ref_l2_softmax(x, y, w, b):
    return TF.cross_entropy(TF.linear(TF.normalize(x, dim=1) * 16.0, w, b), y)


def _ref_coco(x, y, w):
    return TF.cross_entropy(_cos(x, w) * 16.0, y)


def _ref_combined(x, y, w):
    logits = F.margin_logits(_cos(x, w), y, m=1.0, margin=0.3, cos_margin=0.2, scale=64.0)
    return TF.cross_entropy(logits, y)


def _ref_subcenter(x, y, w):
    cos = torch.einsum("bd,ckd->bck", TF.normalize(x, dim=-1), TF.normalize(w, dim=-1)).amax(-1)
    return TF.cross_entropy(F.margin_logits(cos, y, margin=0.5, scale=64.0), y)


CASES = {
    "softmax_loss": _bench_vs_autograd(F.softmax_loss, _ref_softmax, {}, bias=True),
    "lsoftmax_loss": _bench_vs_pml(
        F.lsoftmax_loss, "LargeMarginSoftmaxLoss", {"m": 4}, {"margin": 4}
    ),
    "sphereface_loss": _bench_vs_pml(F.sphereface_loss, "SphereFaceLoss", {"m": 4}, {"margin": 4}),
    "coco_loss": _bench_vs_autograd(F.coco_loss, _ref_coco, {"scale": 16.0}),
    "l2_softmax_loss": _bench_vs_autograd(
        F.l2_softmax_loss, _ref_l2_softmax, {"scale": 16.0}, bias=True
    ),
    "normface_loss": _bench_vs_pml(
        F.normface_loss, "NormalizedSoftmaxLoss", {"scale": 20.0}, {"temperature": 0.05}
    ),
    "cosface_loss": _bench_vs_pml(
        F.cosface_loss,
        "CosFaceLoss",
        {"cos_margin": 0.35, "scale": 64.0},
        {"margin": 0.35, "scale": 64},
    ),
    "arcface_loss": _bench_vs_pml(
        F.arcface_loss,
        "ArcFaceLoss",
        {"margin": 0.5, "scale": 64.0},
        {"margin": math.degrees(0.5), "scale": 64},
    ),
    "combined_margin_loss": _bench_vs_autograd(
        F.combined_margin_loss,
        _ref_combined,
        {"m": 1.0, "margin": 0.3, "cos_margin": 0.2, "scale": 64.0},
    ),
    "subcenter_arcface_loss": _bench_vs_autograd(
        F.subcenter_arcface_loss, _ref_subcenter, {"margin": 0.5, "scale": 64.0}, subcenters=3
    ),
}
