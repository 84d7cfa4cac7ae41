"""Class-sharded (model-parallel) margin losses against one process holding every class and
the whole batch: loss, embedding gradients and centre-shard gradients, float64, 2 and 3 gloo
ranks, a class count not divisible by the world size, uneven batches (one rank empty), ranks
whose batch holds none of their classes, per-sample weight, mask and ignore_index, the
chunked path and Partial FC sampling."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from losskit import nn as lnn
from losskit.distributed import ClassShardedLoss, shard_range
from losskit.functional import partial_fc_sample

pytestmark = pytest.mark.distributed

D, C = 5, 11

LOSSES = {
    "softmax": (lnn.SoftmaxLoss, {}),
    "lsoftmax": (lnn.LSoftmaxLoss, {"m": 2, "lambda_": 0.5}),
    "sphereface": (lnn.SphereFaceLoss, {"m": 4, "lambda_": 1.0}),
    "coco": (lnn.COCOLoss, {"scale": 8.0}),
    "l2_softmax": (lnn.L2SoftmaxLoss, {"scale": 4.0}),
    "normface": (lnn.NormFaceLoss, {"scale": 8.0}),
    "cosface": (lnn.CosFaceLoss, {"cos_margin": 0.35, "scale": 8.0}),
    "arcface": (lnn.ArcFaceLoss, {"margin": 0.5, "scale": 8.0}),
    "combined": (
        lnn.CombinedMarginLoss,
        {"m": 1.0, "margin": 0.3, "cos_margin": 0.2, "scale": 8.0},
    ),
    "subcenter": (lnn.SubCenterArcFaceLoss, {"subcenters": 2, "margin": 0.5, "scale": 8.0}),
}


def _full(name: str, chunk: int | None) -> torch.nn.Module:
    cls, kw = LOSSES[name]
    torch.manual_seed(7)
    return cls(C, D, chunk_size=chunk, dtype=torch.float64, **kw)


def _batch(sizes: list[int]):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(sum(sizes), D, generator=g, dtype=torch.float64)
    # labels only from the first classes: with 3 ranks the last shard sees none of its classes
    y = torch.randint(0, 7, (sum(sizes),), generator=g)
    return x, y


def _exclusions(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample weights, a mask and labels with some rows set to ignore_index (-100)."""
    n = len(y)
    i = torch.arange(n)
    weight = torch.linspace(0.5, 2.0, n, dtype=torch.float64)
    return weight, i % 4 != 1, torch.where(i % 5 == 2, torch.full_like(y, -100), y)


def _bias_grad(head: torch.nn.Module) -> torch.Tensor | None:
    bias = getattr(head, "bias", None)
    return None if bias is None else bias.grad


def _worker(
    rank: int, ws: int, init: str, out: str, sizes: list[int], chunk: int | None, rate: float
) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=ws)
    try:
        x, y = _batch(sizes)
        lo = sum(sizes[:rank])
        res = {}
        for name, (cls, kw) in LOSSES.items():
            full = _full(name, chunk)
            gen = torch.Generator().manual_seed(11 + rank)
            head = ClassShardedLoss(
                cls,
                C,
                D,
                sample_rate=rate,
                generator=gen,
                chunk_size=chunk,
                dtype=torch.float64,
                **kw,
            )
            start, stop = shard_range(C, rank, ws)
            with torch.no_grad():  # the shard of the single-process centres
                head.centers.copy_(full.centers[start:stop])
                if getattr(full, "bias", None) is not None:
                    head.inner.bias.copy_(full.bias[start:stop])
            x_r = x[lo : lo + sizes[rank]].clone().requires_grad_()
            loss = head(x_r, y[lo : lo + sizes[rank]])
            loss.backward()
            used = None
            if rate < 1.0:  # which global classes this rank sampled (to rebuild the reference)
                gen = torch.Generator().manual_seed(11 + rank)
                local = y - start
                local = torch.where(
                    (local >= 0) & (local < stop - start), local, torch.full_like(local, -1)
                )
                index, _ = partial_fc_sample(local, stop - start, sample_rate=rate, generator=gen)
                used = index + start
            res[name] = {
                "loss": loss.detach(),
                "x_grad": x_r.grad,
                "w_grad": head.centers.grad,
                "b_grad": _bias_grad(head.inner),
                "used": used,
                "weighted": None,
            }
            if rate == 1.0:  # per-sample weight, mask and ignore_index through the gather
                head.zero_grad(set_to_none=True)
                u, keep, y_ign = _exclusions(y)
                part = slice(lo, lo + sizes[rank])
                x_w = x[part].clone().requires_grad_()
                loss_w = head(x_w, y_ign[part], weight=u[part], mask=keep[part])
                loss_w.backward()
                res[name]["weighted"] = {
                    "loss": loss_w.detach(),
                    "x_grad": x_w.grad,
                    "w_grad": head.centers.grad,
                    "b_grad": _bias_grad(head.inner),
                }
        torch.save(res, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()
    # skip interpreter finalisation, where gloo threads still holding tensors can abort the
    # process now and then (pytorch PR 179291); the results are already on disk
    os._exit(0)


def _run(sizes: list[int], chunk: int | None, rate: float) -> list[dict]:
    ws = len(sizes)
    with tempfile.TemporaryDirectory() as tmp:
        init = "file://" + os.path.join(tmp, "rendezvous")
        mp.start_processes(
            _worker, args=(ws, init, tmp, sizes, chunk, rate), nprocs=ws, start_method="spawn"
        )
        return [torch.load(Path(tmp) / f"rank{r}.pt") for r in range(ws)]


@pytest.mark.parametrize(
    ("sizes", "chunk"),
    [([3, 5], None), ([2, 0, 5], 2)],  # 11 classes: 6 + 5, or 4 + 4 + 3; one rank with no samples
)
def test_every_margin_loss_matches_one_process(sizes: list[int], chunk: int | None) -> None:
    results = _run(sizes, chunk, 1.0)
    x, y = _batch(sizes)
    for name in LOSSES:
        full = _full(name, None)
        xx = x.clone().requires_grad_()
        loss = full(xx, y)
        loss.backward()
        for r, res in enumerate(results):
            got = res[name]
            lo = sum(sizes[:r])
            start, stop = shard_range(C, r, len(sizes))
            torch.testing.assert_close(got["loss"], loss.detach(), rtol=1e-10, atol=1e-12, msg=name)
            torch.testing.assert_close(
                got["x_grad"], xx.grad[lo : lo + sizes[r]], rtol=1e-9, atol=1e-12, msg=name
            )
            torch.testing.assert_close(
                got["w_grad"], full.centers.grad[start:stop], rtol=1e-9, atol=1e-12, msg=name
            )
            if got["b_grad"] is not None:
                torch.testing.assert_close(
                    got["b_grad"], full.bias.grad[start:stop], rtol=1e-9, atol=1e-12
                )
        # per-sample weight, mask and ignore_index: the same as in one process
        u, keep, y_ign = _exclusions(y)
        full.zero_grad(set_to_none=True)
        xw = x.clone().requires_grad_()
        loss_w = full(xw, y_ign, weight=u, mask=keep)
        loss_w.backward()
        for r, res in enumerate(results):
            got = res[name]["weighted"]
            lo = sum(sizes[:r])
            start, stop = shard_range(C, r, len(sizes))
            torch.testing.assert_close(
                got["loss"], loss_w.detach(), rtol=1e-10, atol=1e-12, msg=name
            )
            torch.testing.assert_close(
                got["x_grad"], xw.grad[lo : lo + sizes[r]], rtol=1e-9, atol=1e-12, msg=name
            )
            torch.testing.assert_close(
                got["w_grad"], full.centers.grad[start:stop], rtol=1e-9, atol=1e-12, msg=name
            )
            if got["b_grad"] is not None:
                torch.testing.assert_close(
                    got["b_grad"], full.bias.grad[start:stop], rtol=1e-9, atol=1e-12, msg=name
                )


def test_partial_fc_within_shards_matches_the_sampled_classes() -> None:
    sizes = [4, 4, 2]
    results = _run(sizes, None, 0.5)
    x, y = _batch(sizes)
    for name in ("arcface", "cosface", "sphereface"):
        used = torch.cat([res[name]["used"] for res in results])
        assert set(y.tolist()) <= set(used.tolist())  # every positive class is sampled
        assert len(used) < C  # and some negatives are left out
        full = _full(name, None)
        cls, kw = LOSSES[name]
        ref = cls(len(used), D, dtype=torch.float64, **kw)
        with torch.no_grad():
            ref.centers.copy_(full.centers[used])
        position = torch.full((C,), -1, dtype=torch.long)
        position[used] = torch.arange(len(used))
        xx = x.clone().requires_grad_()
        loss = ref(xx, position[y])
        loss.backward()
        for r, res in enumerate(results):
            lo = sum(sizes[:r])
            torch.testing.assert_close(res[name]["loss"], loss.detach(), rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(
                res[name]["x_grad"], xx.grad[lo : lo + sizes[r]], rtol=1e-9, atol=1e-12
            )


def test_single_process_sharded_equals_plain() -> None:
    # without a process group the wrapper holds every class and is the plain loss
    x, y = _batch([6])
    for name in ("arcface", "softmax"):
        full = _full(name, None)
        cls, kw = LOSSES[name]
        head = ClassShardedLoss(cls, C, D, dtype=torch.float64, **kw)
        with torch.no_grad():
            head.centers.copy_(full.centers)
            if getattr(full, "bias", None) is not None:
                head.inner.bias.copy_(full.bias)
        torch.testing.assert_close(head(x, y), full(x, y))


def test_errors() -> None:
    with pytest.raises(
        ValueError, match=r"ClassShardedLoss: sample_rate must be a number in \(0, 1\]; got 1.5"
    ):
        ClassShardedLoss(lnn.ArcFaceLoss, C, D, sample_rate=1.5)
    with pytest.raises(
        ValueError, match=r"ClassShardedLoss: sample_rate must be a number in \(0, 1\]; got 0.0"
    ):
        ClassShardedLoss(lnn.ArcFaceLoss, C, D, sample_rate=0.0)
