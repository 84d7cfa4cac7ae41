"""Benchmark cases of the regression family (losskit against its peers)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as TF

from .. import functional as F
from ..specs._inputs import grad_inputs, randn
from ._base import BenchCase


def _bench(fn: Callable, peer: Callable, peer_name: str, **kw: float) -> tuple[BenchCase, ...]:
    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        g = torch.Generator().manual_seed(0)
        pred, target = (
            randn(g, 4096, 1024, dtype=torch.float32, device=device),
            randn(g, 4096, 1024, dtype=torch.float32, device=device),
        )
        (p,) = grad_inputs(pred)

        def run(f: Callable) -> Callable[[], None]:
            def step() -> None:
                p.grad = None
                f(p, target, **kw).backward()

            return step

        return {"losskit": run(fn), peer_name: run(peer)}

    return (BenchCase("(4096, 1024) float32", setup),)


def _kornia(name: str) -> Callable:
    def peer(p: torch.Tensor, t: torch.Tensor, **kw: float) -> torch.Tensor:
        import kornia.losses as kl

        return getattr(kl, f"{name}_loss")(p, t, reduction="mean")

    return peer


def _wing_formula(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The Wing loss paper's formula (w = 10, eps = 2), in torch ops."""
    d = (p - t).abs()
    c = 10.0 - 10.0 * math.log(1.0 + 10.0 / 2.0)
    return torch.where(d < 10.0, 10.0 * torch.log(1.0 + d / 2.0), d - c).mean()


def _balanced_formula(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """mmdetection's balanced_l1_loss (beta 1, alpha 0.5, gamma 1.5), in torch ops."""
    d = (p - t).abs()
    b = math.e**3 - 1
    return torch.where(d < 1.0, 0.5 / b * (b * d + 1) * torch.log(b * d + 1) - 0.5 * d,
                       1.5 * d + 1.5 / b - 0.5).mean()  # fmt: skip


CASES = {
    "l1_loss": _bench(F.l1_loss, TF.l1_loss, "torch"),
    "mse_loss": _bench(F.mse_loss, TF.mse_loss, "torch"),
    "smooth_l1_loss": _bench(F.smooth_l1_loss, TF.smooth_l1_loss, "torch", beta=1.0),
    "huber_loss": _bench(F.huber_loss, TF.huber_loss, "torch", delta=1.5),
    "charbonnier_loss": _bench(F.charbonnier_loss, _kornia("charbonnier"), "kornia"),
    "cauchy_loss": _bench(F.cauchy_loss, _kornia("cauchy"), "kornia"),
    "geman_mcclure_loss": _bench(F.geman_mcclure_loss, _kornia("geman_mcclure"), "kornia"),
    "welsch_loss": _bench(F.welsch_loss, _kornia("welsch"), "kornia"),
    "wing_loss": _bench(F.wing_loss, _wing_formula, "paper formula (torch ops)"),
    "balanced_l1_loss": _bench(F.balanced_l1_loss, _balanced_formula,
                               "mmdet formula (torch ops)"),  # fmt: skip
}
