"""Benchmark cases of the embedding family (losskit against its peers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .. import functional as F
from ..specs._inputs import grad_inputs, randint, randn
from ._base import BenchCase
from ._base import step as _step

_BB, _BDIM = 512, 128  # the batch-triplet case


def _batch_data(device: torch.device, b: int, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = randn(g, b, _BDIM, dtype=torch.float32, device=device)
    y = (torch.arange(b) % classes)[torch.randperm(b, generator=g)].to(device)
    return x, y


def _pml_distance() -> Any:
    from pytorch_metric_learning.distances import LpDistance

    return LpDistance(normalize_embeddings=False)


def _bench_batch_triplet(mining: str, classes: int, b: int = _BB) -> BenchCase:
    margin = 0.2

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        from pytorch_metric_learning import losses, miners

        x0, y = _batch_data(device, b, classes)
        x, xp = grad_inputs(x0, x0)
        pml = losses.TripletMarginLoss(margin=margin, distance=_pml_distance())
        ours = lambda: F.batch_triplet_loss(x, y, margin=margin, mining=mining, mean_over="active")  # noqa: E731
        if mining == "all":
            peer = lambda: pml(xp, y)  # noqa: E731
        elif mining == "hard":
            miner = miners.BatchHardMiner(distance=_pml_distance())
            peer = lambda: pml(xp, y, miner(xp, y))  # noqa: E731
        else:
            miner = miners.TripletMarginMiner(
                margin=margin, type_of_triplets="semihard", distance=_pml_distance()
            )
            peer = lambda: pml(xp, y, miner(xp, y))  # noqa: E731
        return {"losskit": _step(ours, x), "pytorch-metric-learning": _step(peer, xp)}

    return BenchCase(
        f"{mining}, B={b}, D={_BDIM}, {classes} classes x {b // classes} float32", setup
    )


def _bench_batch_contrastive() -> BenchCase:
    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        from pytorch_metric_learning import losses

        x0, y = _batch_data(device, _BB, 128)
        x, xp = grad_inputs(x0, x0)
        # PML's ContrastiveLoss is the unsquared hinge (a different formula, the same work)
        pml = losses.ContrastiveLoss(pos_margin=0.0, neg_margin=1.0, distance=_pml_distance())
        return {
            "losskit": _step(lambda: F.batch_contrastive_loss(x, y, margin=1.0), x),
            "pytorch-metric-learning": _step(lambda: pml(xp, y), xp),
        }

    return BenchCase(f"B={_BB}, D={_BDIM}, 128 classes float32", setup)


def _bench_triplet() -> BenchCase:
    n = 1024  # PML builds the (3n x 3n) distance matrix of the concatenated embeddings

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        from pytorch_metric_learning import losses

        g = torch.Generator().manual_seed(0)
        a0, p0, n0 = (randn(g, n, _BDIM, dtype=torch.float32, device=device) for _ in range(3))
        a, p, neg = grad_inputs(a0, p0, n0)
        at, pt, nt = grad_inputs(a0, p0, n0)
        ap, pp, np_ = grad_inputs(a0, p0, n0)
        from pytorch_metric_learning.reducers import MeanReducer

        torch_loss = torch.nn.TripletMarginLoss(margin=1.0)
        pml = losses.TripletMarginLoss(margin=1.0, distance=_pml_distance(), reducer=MeanReducer())
        idx = torch.arange(n, device=device)
        triplets = (idx, idx + n, idx + 2 * n)

        def pml_step() -> torch.Tensor:
            return pml(torch.cat([ap, pp, np_]), None, triplets)

        return {
            "losskit": _step(lambda: F.triplet_loss(a, p, neg, margin=1.0), a, p, neg),
            "torch": _step(lambda: torch_loss(at, pt, nt), at, pt, nt),
            "pytorch-metric-learning": _step(pml_step, ap, pp, np_),
        }

    return BenchCase(f"N={n}, D={_BDIM} float32", setup)


def _bench_contrastive() -> BenchCase:
    n = 4096

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        g = torch.Generator().manual_seed(0)
        a0, b0 = (randn(g, n, _BDIM, dtype=torch.float32, device=device) for _ in range(2))
        same = randint(g, 2, n, device=device)
        a, b = grad_inputs(a0, b0)
        at, bt = grad_inputs(a0, b0)

        def plain_torch() -> torch.Tensor:
            # the DeepID2 formula written directly in torch (no peer library implements it)
            d = torch.nn.functional.pairwise_distance(at, bt)
            return 0.5 * torch.where(same > 0, d.square(), torch.relu(1.0 - d).square()).mean()

        return {
            "losskit": _step(lambda: F.contrastive_loss(a, b, same, margin=1.0), a, b),
            "torch": _step(plain_torch, at, bt),
        }

    return BenchCase(f"N={n}, D={_BDIM} float32", setup)


CASES = {
    "contrastive_loss": (_bench_contrastive(),),
    "batch_contrastive_loss": (_bench_batch_contrastive(),),
    "triplet_loss": (_bench_triplet(),),
    "batch_triplet_loss": (
        _bench_batch_triplet("all", 128),
        _bench_batch_triplet("hard", 128),
        _bench_batch_triplet("semihard", 128),
        _bench_batch_triplet("all", 16),
    ),
}
