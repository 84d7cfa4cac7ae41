"""Benchmark cases of the regression family (losskit against its peers)."""

from __future__ import annotations

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


CASES = {
    "l1_loss": _bench(F.l1_loss, TF.l1_loss, "torch"),
    "mse_loss": _bench(F.mse_loss, TF.mse_loss, "torch"),
    "smooth_l1_loss": _bench(F.smooth_l1_loss, TF.smooth_l1_loss, "torch", beta=1.0),
    "huber_loss": _bench(F.huber_loss, TF.huber_loss, "torch", delta=1.5),
}
