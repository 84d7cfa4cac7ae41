"""Benchmark cases of the constraint family (losskit against its peers)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .. import functional as F
from ..functional.constraint import CenterLoss
from ..specs._inputs import grad_inputs, randint, randn
from ._base import BenchCase
from ._base import step as _step


def bench_center_step(classes: int, dim: int = 512, batch: int = 256) -> BenchCase:
    """A centre-loss training step at ``classes`` classes: losskit's paper update (forward,
    backward, centre update) and its sparse-gradient optimiser mode (forward, backward,
    ``SGD.step``) against centres indexed as a dense ``nn.Parameter`` (the same with a dense
    ``(C, D)`` gradient). The three share one centre table, so a 1,000,000 x 512 case holds
    2 GB of centres, not 6."""

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        g = torch.Generator().manual_seed(0)
        x0 = randn(g, batch, dim, dtype=torch.float32, device=device)
        y = randint(g, classes, batch, device=device)
        table = torch.randn(classes, dim, generator=g).to(device)
        (x,) = grad_inputs(x0)
        paper = CenterLoss(classes, dim, update="paper", device="meta")
        paper.centers = table
        sparse = CenterLoss(classes, dim, update="optimizer", sparse=True, device="meta")
        sparse.centers = nn.Parameter(table)
        sgd = torch.optim.SGD(sparse.parameters(), lr=0.1)
        dense = nn.Parameter(table)
        dense_sgd = torch.optim.SGD([dense], lr=0.1)

        def paper_step() -> None:
            x.grad = None
            paper(x, y).backward()  # the centre update runs inside forward

        def sparse_step() -> None:
            x.grad = None
            sgd.zero_grad()
            sparse(x, y).backward()
            sgd.step()

        def dense_step() -> None:
            x.grad = None
            dense_sgd.zero_grad()
            (0.5 * (x - dense[y]).square().sum(1)).mean().backward()
            dense_sgd.step()

        return {
            "losskit": paper_step,
            "losskit (optimizer, sparse)": sparse_step,
            "torch (dense grad)": dense_step,
        }

    return BenchCase(f"step, C={classes:,}, D={dim}, N={batch} float32", setup)


def _bench_center_invariant() -> BenchCase:
    c, dim, batch = 10_000, 512, 256

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        g = torch.Generator().manual_seed(0)
        x0 = randn(g, batch, dim, dtype=torch.float32, device=device)
        c0 = randn(g, c, dim, dtype=torch.float32, device=device)
        y = randint(g, c, batch, device=device)
        x, centers = grad_inputs(x0, c0)
        xt, ct = grad_inputs(x0, c0)

        def plain_torch() -> torch.Tensor:
            norms = ct.square().sum(1)
            pull = 0.5 * (xt - ct[y]).square().sum(1)
            return (pull + 0.25 * (norms[y] - norms.mean()).square()).mean()

        return {
            "losskit": _step(
                lambda: F.center_invariant_loss(x, y, centers, invariant_weight=1.0), x, centers
            ),
            "torch": _step(plain_torch, xt, ct),
        }

    return BenchCase(f"C={c}, D={dim}, N={batch} float32", setup)


def _bench_range() -> BenchCase:
    n, dim = 512, 128

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        g = torch.Generator().manual_seed(0)
        x0 = randn(g, n, dim, dtype=torch.float32, device=device)
        y = (torch.arange(n) % 128)[torch.randperm(n, generator=g)].to(device)
        (x,) = grad_inputs(x0)
        return {"losskit": _step(lambda: F.range_loss(x, y, k=2, margin=200.0), x)}

    return BenchCase(f"N={n}, D={dim}, 128 classes float32", setup)


def _bench_ring() -> BenchCase:
    n, dim = 4096, 512

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        g = torch.Generator().manual_seed(0)
        x0 = randn(g, n, dim, dtype=torch.float32, device=device)
        x, xt = grad_inputs(x0, x0)
        r, rt = grad_inputs(torch.tensor(20.0, device=device), torch.tensor(20.0, device=device))

        def plain_torch() -> torch.Tensor:
            return (0.5 * (xt.norm(dim=1) - rt).square()).mean()

        return {
            "losskit": _step(lambda: F.ring_loss(x, r), x, r),
            "torch": _step(plain_torch, xt, rt),
        }

    return BenchCase(f"N={n}, D={dim} float32", setup)


CASES = {
    "center_loss": (bench_center_step(100_000),),
    "center_invariant_loss": (_bench_center_invariant(),),
    "range_loss": (_bench_range(),),
    "ring_loss": (_bench_ring(),),
}
