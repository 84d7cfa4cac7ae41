"""The heads with running estimates (CurricularFace's ``t``, AdaFace's norm statistics) under
torch.distributed, against one process holding the global batch, float64, 2 and 3 gloo
ranks, over several training steps (so the estimates evolve):

* class-sharded (``ClassShardedLoss``), dense and chunked, with the papers' stop-gradient and
  with exact gradients through the estimates (whose gradient then crosses the ranks): the
  loss, every rank's embedding and centre-shard gradients and the estimates after each step
  equal one process's, on every rank;
* data-parallel with the head replicated and fed the gathered batch (``gather_batch``): the
  estimates equal one process's on every rank;
* evaluation mode leaves the estimates alone on every rank;
* MagFace, ElasticFace (a generator seeded alike on every rank), UniFace (its replicated
  threshold gets the full gradient on every rank) and the combined margin's inter-class
  filtering, class-sharded, dense and chunked, equal one process.
"""

from __future__ import annotations

import pytest
import torch

from losskit import nn as lnn
from losskit.distributed import ClassShardedLoss, broadcast_state_, gather_batch, shard_range
from tests.distributed.test_distributed import run_ranks

pytestmark = pytest.mark.distributed

D, C = 5, 11
STEPS = 3

HEADS = {
    "curricularface": (lnn.CurricularFaceLoss, {"margin": 0.5, "scale": 8.0, "momentum": 0.3}),
    "adaface": (lnn.AdaFaceLoss, {"margin": 0.4, "scale": 8.0, "momentum": 0.3}),
}


def _running(head: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: b.detach().clone() for n, b in head.named_buffers() if n.rsplit(".", 1)[-1]
            in ("t", "norm_mean", "norm_std")}  # fmt: skip


def _steps(sizes: list[int]):
    g = torch.Generator().manual_seed(5)
    return [
        (
            torch.randn(sum(sizes), D, generator=g, dtype=torch.float64) * 3,
            torch.randint(0, C, (sum(sizes),), generator=g),
        )
        for _ in range(STEPS)
    ]


def _full(name: str, chunk: int | None, exact: bool) -> torch.nn.Module:
    cls, kw = HEADS[name]
    torch.manual_seed(7)
    return cls(C, D, chunk_size=chunk, stop_gradient=not exact, dtype=torch.float64, **kw)


def _sharded_worker(rank: int, ws: int, sizes: list[int], chunk: int | None, exact: bool):
    lo = sum(sizes[:rank])
    start, stop = shard_range(C, rank, ws)
    out = {}
    for name, (cls, kw) in HEADS.items():
        full = _full(name, chunk, exact)
        head = ClassShardedLoss(cls, C, D, chunk_size=chunk, stop_gradient=not exact,
                                dtype=torch.float64, **kw)  # fmt: skip
        with torch.no_grad():
            head.centers.copy_(full.centers[start:stop])
        record = []
        for x, y in _steps(sizes):
            head.zero_grad(set_to_none=True)
            x_r = x[lo : lo + sizes[rank]].clone().requires_grad_()
            loss = head(x_r, y[lo : lo + sizes[rank]])
            loss.backward()
            record.append({"loss": loss.detach(), "x_grad": x_r.grad,
                           "w_grad": head.centers.grad.clone(), **_running(head.inner)})  # fmt: skip
        head.eval()
        before = _running(head.inner)
        head(x[lo : lo + sizes[rank]], y[lo : lo + sizes[rank]])
        record.append({"eval_unchanged": all(torch.equal(before[k], v)
                                             for k, v in _running(head.inner).items())})  # fmt: skip
        out[name] = record
    return out


@pytest.mark.parametrize(
    ("sizes", "chunk", "exact"),
    [([3, 5], None, False), ([3, 5], 2, True), ([2, 0, 5], 3, False), ([4, 1, 2], None, True)],
)
def test_class_sharded_heads_and_their_state_match_one_process(sizes, chunk, exact) -> None:
    results = run_ranks(_sharded_worker, len(sizes), sizes, chunk, exact)
    for name in HEADS:
        full = _full(name, chunk, exact)
        for step, (x, y) in enumerate(_steps(sizes)):
            full.zero_grad(set_to_none=True)
            xx = x.clone().requires_grad_()
            loss = full(xx, y)
            loss.backward()
            state = _running(full)
            for r, res in enumerate(results):
                got = res[name][step]
                lo = sum(sizes[:r])
                start, stop = shard_range(C, r, len(sizes))
                msg = f"{name}, step {step}, rank {r}"
                torch.testing.assert_close(got["loss"], loss.detach(), rtol=1e-10, atol=1e-12,
                                           msg=msg)  # fmt: skip
                torch.testing.assert_close(got["x_grad"], xx.grad[lo : lo + sizes[r]],
                                           rtol=1e-9, atol=1e-12, msg=msg)  # fmt: skip
                torch.testing.assert_close(got["w_grad"], full.centers.grad[start:stop],
                                           rtol=1e-9, atol=1e-12, msg=msg)  # fmt: skip
                for k, v in state.items():
                    torch.testing.assert_close(got[k], v, rtol=1e-12, atol=1e-14, msg=msg)
        assert all(res[name][-1]["eval_unchanged"] for res in results)


def _replicated_worker(rank: int, ws: int, sizes: list[int]):
    lo = sum(sizes[:rank])
    out = {}
    for name, (cls, kw) in HEADS.items():
        torch.manual_seed(100 + rank)  # different on purpose: broadcast_state_ aligns them
        head = cls(C, D, dtype=torch.float64, **kw)
        broadcast_state_(head)
        record = []
        for x, y in _steps(sizes):
            x_r = x[lo : lo + sizes[rank]].clone().requires_grad_()
            xg, yg = gather_batch(x_r, y[lo : lo + sizes[rank]])
            loss = head(xg, yg)
            loss.backward()
            record.append({"loss": loss.detach(), "x_grad": x_r.grad, **_running(head)})
        out[name] = record
    return out


@pytest.mark.parametrize("sizes", [[5, 3], [4, 0, 6]])
def test_replicated_heads_on_the_gathered_batch_match_one_process(sizes) -> None:
    results = run_ranks(_replicated_worker, len(sizes), sizes)
    for name, (cls, kw) in HEADS.items():
        torch.manual_seed(100)
        full = cls(C, D, dtype=torch.float64, **kw)
        for step, (x, y) in enumerate(_steps(sizes)):
            xx = x.clone().requires_grad_()
            loss = full(xx, y)
            loss.backward()
            for r, res in enumerate(results):
                got = res[name][step]
                lo = sum(sizes[:r])
                torch.testing.assert_close(got["loss"], loss.detach(), rtol=1e-12, atol=1e-12)
                torch.testing.assert_close(got["x_grad"], xx.grad[lo : lo + sizes[r]],
                                           rtol=1e-10, atol=1e-12)  # fmt: skip
                for k, v in _running(full).items():
                    torch.testing.assert_close(got[k], v, rtol=0, atol=0)


# ---------------------------------------- the heads without running estimates, class-sharded

STATELESS = {
    "magface": (
        lnn.MagFaceLoss,
        {"scale": 8.0, "min_norm": 1.0, "max_norm": 6.0, "reg_weight": 2.0},
    ),  # fmt: skip
    "elastic_arcface": (lnn.ElasticArcFaceLoss, {"scale": 8.0, "sigma": 0.2, "plus": True}),
    "elastic_cosface": (lnn.ElasticCosFaceLoss, {"scale": 8.0, "sigma": 0.1}),
    "uniface": (lnn.UniFaceLoss, {"scale": 8.0, "unified_threshold": 2.0}),
    "filtering": (lnn.CombinedMarginLoss, {"scale": 8.0, "interclass_filtering_threshold": 0.2}),
}


def _stateless_full(name: str, chunk: int | None, seed: int) -> torch.nn.Module:
    cls, kw = STATELESS[name]
    torch.manual_seed(7)
    if name.startswith("elastic"):  # the same seed on every rank: the same draws
        kw = {**kw, "generator": torch.Generator().manual_seed(seed)}
    return cls(C, D, chunk_size=chunk, dtype=torch.float64, **kw)


def _stateless_worker(rank: int, ws: int, sizes: list[int], chunk: int | None):
    lo = sum(sizes[:rank])
    start, stop = shard_range(C, rank, ws)
    out = {}
    for name, (cls, kw) in STATELESS.items():
        full = _stateless_full(name, chunk, 3)
        head = ClassShardedLoss(cls, C, D, chunk_size=chunk, dtype=torch.float64, **kw)
        if name.startswith("elastic"):  # ClassShardedLoss's own generator is Partial FC's
            head.inner.generator = torch.Generator().manual_seed(3)
        with torch.no_grad():
            head.centers.copy_(full.centers[start:stop])
        record = []
        for x, y in _steps(sizes):
            head.zero_grad(set_to_none=True)
            x_r = x[lo : lo + sizes[rank]].clone().requires_grad_()
            loss = head(x_r, y[lo : lo + sizes[rank]])
            loss.backward()
            b = getattr(head.inner, "unified_threshold", None)
            record.append({"loss": loss.detach(), "x_grad": x_r.grad,
                           "w_grad": head.centers.grad.clone(),
                           "b_grad": None if b is None else b.grad.clone()})  # fmt: skip
        out[name] = record
    return out


@pytest.mark.parametrize(("sizes", "chunk"), [([3, 5], None), ([2, 0, 5], 3)])
def test_class_sharded_stateless_heads_match_one_process(sizes, chunk) -> None:
    results = run_ranks(_stateless_worker, len(sizes), sizes, chunk)
    for name in STATELESS:
        full = _stateless_full(name, chunk, 3)
        for step, (x, y) in enumerate(_steps(sizes)):
            full.zero_grad(set_to_none=True)
            xx = x.clone().requires_grad_()
            loss = full(xx, y)
            loss.backward()
            for r, res in enumerate(results):
                got = res[name][step]
                lo = sum(sizes[:r])
                start, stop = shard_range(C, r, len(sizes))
                msg = f"{name}, step {step}, rank {r}"
                torch.testing.assert_close(got["loss"], loss.detach(), rtol=1e-10, atol=1e-12,
                                           msg=msg)  # fmt: skip
                torch.testing.assert_close(got["x_grad"], xx.grad[lo : lo + sizes[r]],
                                           rtol=1e-9, atol=1e-12, msg=msg)  # fmt: skip
                torch.testing.assert_close(got["w_grad"], full.centers.grad[start:stop],
                                           rtol=1e-9, atol=1e-12, msg=msg)  # fmt: skip
                if got["b_grad"] is not None:  # the replicated threshold: the full gradient
                    torch.testing.assert_close(got["b_grad"], full.unified_threshold.grad,
                                               rtol=1e-9, atol=1e-12, msg=msg)  # fmt: skip


# ------------------------------------------------ Partial FC within shards, the modulated head


def _pfc_worker(rank: int, ws: int, sizes: list[int]):
    from losskit.functional import partial_fc_sample

    lo = sum(sizes[:rank])
    start, stop = shard_range(C, rank, ws)
    x, y = _steps(sizes)[0]
    cls, kw = HEADS["curricularface"]
    full = _full("curricularface", None, False)
    head = ClassShardedLoss(cls, C, D, dtype=torch.float64, sample_rate=0.5,
                            generator=torch.Generator().manual_seed(11 + rank), **kw)  # fmt: skip
    with torch.no_grad():
        head.centers.copy_(full.centers[start:stop])
    x_r = x[lo : lo + sizes[rank]].clone().requires_grad_()
    loss = head(x_r, y[lo : lo + sizes[rank]])
    loss.backward()
    local = y - start
    local = torch.where((local >= 0) & (local < stop - start), local, torch.full_like(local, -1))
    index, _ = partial_fc_sample(local, stop - start, sample_rate=0.5,
                                 generator=torch.Generator().manual_seed(11 + rank))  # fmt: skip
    return {
        "loss": loss.detach(),
        "x_grad": x_r.grad,
        "used": index + start,
        **_running(head.inner),
    }


def test_partial_fc_within_shards_samples_as_arcface_does() -> None:
    sizes = [2, 0, 1]  # a global batch smaller than every shard: some negatives left out
    results = run_ranks(_pfc_worker, len(sizes), sizes)
    x, y = _steps(sizes)[0]
    used = torch.cat([res["used"] for res in results])
    assert set(y.tolist()) <= set(used.tolist()) and len(used) < C
    cls, kw = HEADS["curricularface"]
    full = _full("curricularface", None, False)
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
        torch.testing.assert_close(res["loss"], loss.detach(), rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(res["x_grad"], xx.grad[lo : lo + sizes[r]], rtol=1e-9,
                                   atol=1e-12)  # fmt: skip
        torch.testing.assert_close(res["t"], ref.t, rtol=1e-12, atol=1e-14)
