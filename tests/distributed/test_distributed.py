"""losskit.distributed against one process holding the whole batch, in float64, with 2 and
3 gloo processes on CPU (3 catches even-split assumptions): uneven batches (one rank empty),
class counts not divisible by the world size, ranks holding none of the batch's classes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as TF

from losskit import BatchTripletLoss, CenterLoss, pairwise_euclidean_distance, range_loss
from losskit.distributed import (
    all_gather_with_grad,
    broadcast_state_,
    ddp_loss_scale,
    gather_batch,
    shard_range,
    sharded_cross_entropy,
    world,
)

pytestmark = pytest.mark.distributed

D = 6


def _pair_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A batch-level loss over all pairs (contrastive-like) to exercise the data-parallel path."""
    d = pairwise_euclidean_distance(x)
    same = (y[:, None] == y[None, :]).to(x.dtype)
    return (same * d.square() + (1 - same) * (1.5 - d).clamp_min(0).square()).mean()


def _data(n: int, c: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, D, generator=g, dtype=torch.float64)
    y = torch.randint(0, c, (n,), generator=g)
    w = torch.randn(c, D, generator=g, dtype=torch.float64)
    return x, y, w


def _worker(rank: int, world_size: int, init: str, out: str, sizes: list[int], c: int) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world_size)
    try:
        x, y, w = _data(sum(sizes), c)
        lo = sum(sizes[:rank])
        x_r = x[lo : lo + sizes[rank]].clone().requires_grad_()
        y_r = y[lo : lo + sizes[rank]]
        # data parallel: every rank computes the same global loss
        xg, yg = gather_batch(x_r, y_r)
        pair = _pair_loss(xg, yg)
        pair.backward()
        pair_grad = x_r.grad.clone()
        # class sharded: rank r holds rows [start, stop) of W
        start, stop = shard_range(c, rank, world_size)
        w_r = w[start:stop].clone().requires_grad_()
        x_r.grad = None
        xs = all_gather_with_grad(x_r, grad="sum")
        ce = sharded_cross_entropy(xs @ w_r.T, yg, start)
        ce.backward()
        torch.save(
            {
                "pair": pair.detach(),
                "pair_grad": pair_grad,
                "ce": ce.detach(),
                "x_grad": x_r.grad,
                "w_grad": w_r.grad,
                "world": world(),
                "scale": ddp_loss_scale(),
            },
            Path(out) / f"rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()
    # skip interpreter finalisation, where gloo threads still holding tensors can abort the
    # process now and then (pytorch PR 179291); the results are already on disk
    os._exit(0)


def _spawn(world_size: int, sizes: list[int], c: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        init = "file://" + os.path.join(tmp, "rendezvous")
        mp.start_processes(
            _worker, args=(world_size, init, tmp, sizes, c), nprocs=world_size, start_method="spawn"
        )
        return [torch.load(Path(tmp) / f"rank{r}.pt") for r in range(world_size)]


@pytest.mark.parametrize(
    ("sizes", "c"),
    [
        ([4, 4], 8),  # even
        ([3, 5], 7),  # uneven batches, odd class count
        ([3, 0, 5], 10),  # a rank with an empty batch; 10 classes over 3 ranks: 4, 3, 3
        ([2, 3, 4], 2),  # fewer classes than ranks: rank 2 holds no class at all
    ],
)
def test_matches_single_process(sizes: list[int], c: int) -> None:
    ws = len(sizes)
    results = _spawn(ws, sizes, c)
    x, y, w = _data(sum(sizes), c)
    x = x.clone().requires_grad_()
    w = w.clone().requires_grad_()
    pair = _pair_loss(x, y)
    (pair_gx,) = torch.autograd.grad(pair, x)
    ce = TF.cross_entropy(x @ w.T, y)
    ce_gx, ce_gw = torch.autograd.grad(ce, (x, w))
    for r, res in enumerate(results):
        assert res["world"] == (r, ws) and res["scale"] == float(ws)
        lo = sum(sizes[:r])
        torch.testing.assert_close(res["pair"], pair.detach(), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(
            res["pair_grad"], pair_gx[lo : lo + sizes[r]], rtol=1e-10, atol=1e-12
        )
        torch.testing.assert_close(res["ce"], ce.detach(), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(res["x_grad"], ce_gx[lo : lo + sizes[r]], rtol=1e-10, atol=1e-12)
        start, stop = shard_range(c, r, ws)
        torch.testing.assert_close(res["w_grad"], ce_gw[start:stop], rtol=1e-10, atol=1e-12)


def test_shard_range_covers_every_class_once() -> None:
    for c in (0, 1, 7, 10, 1000):
        for ws in (1, 2, 3, 4):
            ranges = [shard_range(c, r, ws) for r in range(ws)]
            assert ranges[0][0] == 0 and ranges[-1][1] == c
            assert all(a[1] == b[0] for a, b in zip(ranges[:-1], ranges[1:], strict=True))
            sizes = [b - a for a, b in ranges]
            assert max(sizes) - min(sizes) <= 1
    with pytest.raises(
        ValueError, match=r"shard_range: need 0 <= rank < world_size; got rank=3, world_size=3"
    ):
        shard_range(10, 3, 3)


def test_single_process_fallbacks() -> None:
    # without an initialised process group: identity gather, ordinary cross-entropy
    x, y, w = _data(5, 4)
    assert all_gather_with_grad(x) is x
    assert world() == (0, 1) and ddp_loss_scale() == 1.0
    torch.testing.assert_close(sharded_cross_entropy(x @ w.T, y, 0), TF.cross_entropy(x @ w.T, y))
    torch.testing.assert_close(
        sharded_cross_entropy(x @ w.T, y, 0, reduction="none"),
        TF.cross_entropy(x @ w.T, y, reduction="none"),
    )


def test_sharded_cross_entropy_gradcheck_and_errors() -> None:
    x, y, w = _data(4, 5)
    logits = (x @ w.T).requires_grad_()
    assert torch.autograd.gradcheck(lambda z: sharded_cross_entropy(z, y, 0), (logits,))
    with pytest.raises(
        ValueError, match=r"sharded_cross_entropy: labels must have shape \(4,\); got \(3,\)"
    ):
        sharded_cross_entropy(logits, y[:3], 0)
    with pytest.raises(TypeError, match=r"sharded_cross_entropy: labels must be an integer tensor"):
        sharded_cross_entropy(logits, y.double(), 0)
    with pytest.raises(
        ValueError, match=r"all_gather_with_grad: grad must be one of 'local', 'sum'; got 'mean'"
    ):
        all_gather_with_grad(x, grad="mean")  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"gather_batch: embeddings and labels must have the same batch size"
    ):
        gather_batch(x, y[:2])


STEPS = 3


def _steps_data(sizes: list[int], c: int):
    """Per step: the global batch (features, labels), for STEPS steps."""
    g = torch.Generator().manual_seed(1)
    return [
        (
            torch.randn(sum(sizes), D, generator=g, dtype=torch.float64),
            torch.randint(0, c, (sum(sizes),), generator=g),
        )
        for _ in range(STEPS)
    ]


def _metric_worker(
    rank: int, world_size: int, init: str, out: str, sizes: list[int], c: int
) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world_size)
    try:
        torch.manual_seed(100 + rank)  # different on purpose: broadcast_state_ must align them
        center = CenterLoss(c, D, update_rate=0.5, update="paper", dtype=torch.float64)
        broadcast_state_(center)
        triplet = BatchTripletLoss(margin=0.3, mining="hard")
        lo = sum(sizes[:rank])
        record = []
        for x, y in _steps_data(sizes, c):
            x_r = x[lo : lo + sizes[rank]].clone().requires_grad_()
            xg, yg = gather_batch(x_r, y[lo : lo + sizes[rank]])
            loss = center(xg, yg) + triplet(xg, yg) + 0.1 * range_loss(xg, yg, k=2, margin=1.0)
            loss.backward()
            record.append(
                {"loss": loss.detach(), "grad": x_r.grad.clone(), "centers": center.centers.clone()}
            )
        torch.save(record, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()
    # skip interpreter finalisation, where gloo threads still holding tensors can abort the
    # process now and then (pytorch PR 179291); the results are already on disk
    os._exit(0)


@pytest.mark.parametrize(("sizes", "c"), [([5, 3], 4), ([4, 0, 6], 5)])
def test_center_triplet_range_under_data_parallel(sizes: list[int], c: int) -> None:
    ws = len(sizes)
    with tempfile.TemporaryDirectory() as tmp:
        init = "file://" + os.path.join(tmp, "rendezvous")
        mp.start_processes(
            _metric_worker, args=(ws, init, tmp, sizes, c), nprocs=ws, start_method="spawn"
        )
        results = [torch.load(Path(tmp) / f"rank{r}.pt") for r in range(ws)]
    # one process holding the concatenated batch, centres as rank 0 drew them
    torch.manual_seed(100)
    center = CenterLoss(c, D, update_rate=0.5, update="paper", dtype=torch.float64)
    triplet = BatchTripletLoss(margin=0.3, mining="hard")
    for step, (x, y) in enumerate(_steps_data(sizes, c)):
        x = x.clone().requires_grad_()
        loss = center(x, y) + triplet(x, y) + 0.1 * range_loss(x, y, k=2, margin=1.0)
        loss.backward()
        for r, rec in enumerate(results):
            lo = sum(sizes[:r])
            got = rec[step]
            torch.testing.assert_close(got["loss"], loss.detach(), rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(
                got["grad"], x.grad[lo : lo + sizes[r]], rtol=1e-10, atol=1e-12
            )
            # the centre update agrees on every rank, and with one process
            torch.testing.assert_close(got["centers"], center.centers, rtol=0, atol=0)
