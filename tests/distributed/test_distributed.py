"""losskit.distributed against one process holding the whole batch, in float64, with 2 and
3 gloo processes on CPU (3 catches even-split assumptions): uneven batches (one rank empty),
class counts not divisible by the world size, ranks holding none of the batch's classes, a
rank whose tensor does not require grad; and the mistakes every rank must refuse alike
(ranks passing different widths, dtypes or numbers of dimensions). Every multi-process run
has a deadline: a hang fails its test instead of hanging the suite."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as TF

from losskit import BatchTripletLoss, CenterLoss, pairwise_euclidean_distance, range_loss
from losskit.distributed import (
    _check_ranks_agree,
    _Meta,
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

#: seconds a multi-process run may take before it counts as hung (its processes are killed)
JOIN_TIMEOUT = 180.0


def _rank_main(
    rank: int, world_size: int, init: str, out: str, worker: Callable[..., object], *args: object
) -> None:
    """One spawned rank: join the gloo group, save ``worker(rank, world_size, *args)``."""
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world_size)
    try:
        torch.save(worker(rank, world_size, *args), Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()
    # skip interpreter finalisation, where gloo threads still holding tensors can abort the
    # process now and then (pytorch PR 179291); the results are already on disk
    os._exit(0)


def run_ranks(
    worker: Callable[..., object], world_size: int, *args: object, timeout: float | None = None
) -> list:
    """Run ``worker(rank, world_size, *args)`` in ``world_size`` spawned gloo processes and
    return what each rank's call returned. A run still going after ``timeout`` seconds
    (default ``JOIN_TIMEOUT``: ranks waiting in different collectives) fails the test and
    its processes are killed."""
    timeout = JOIN_TIMEOUT if timeout is None else timeout
    with tempfile.TemporaryDirectory() as tmp:
        init = "file://" + os.path.join(tmp, "rendezvous")
        ctx = mp.start_processes(
            _rank_main,
            args=(world_size, init, tmp, worker, *args),
            nprocs=world_size,
            start_method="spawn",
            join=False,
        )
        deadline = time.monotonic() + timeout
        try:
            while not ctx.join(timeout=1.0):
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"{worker.__name__} with {world_size} processes still running after "
                        f"{timeout:.0f} s: the ranks hang"
                    )
        finally:
            for proc in ctx.processes:
                if proc.is_alive():
                    proc.kill()
                proc.join()
        return [torch.load(Path(tmp) / f"rank{r}.pt") for r in range(world_size)]


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


def _worker(rank: int, world_size: int, sizes: list[int], c: int, frozen: int | None) -> dict:
    """Rank ``frozen`` passes embeddings that do not require grad (``torch.zeros(0, D)`` when
    its batch is empty); every other rank's do."""
    x, y, w = _data(sum(sizes), c)
    lo = sum(sizes[:rank])
    x_r = x[lo : lo + sizes[rank]].clone()
    if rank == frozen and sizes[rank] == 0:
        x_r = torch.zeros(0, D, dtype=torch.float64)
    if rank != frozen:
        x_r.requires_grad_()
    y_r = y[lo : lo + sizes[rank]]
    res = {"world": world(), "scale": ddp_loss_scale()}
    # data parallel: every rank computes the same global loss, from gather_batch, then
    # from all_gather_with_grad(grad="local")
    xg, yg = gather_batch(x_r, y_r)
    xl = all_gather_with_grad(x_r, grad="local")
    for key, xx in (("pair", xg), ("local", xl)):
        x_r.grad = None
        loss = _pair_loss(xx, yg)
        loss.backward()
        res[key] = (loss.detach(), x_r.grad, xx.requires_grad)
    # class sharded: rank r holds rows [start, stop) of W; the backward all-reduces
    start, stop = shard_range(c, rank, world_size)
    w_r = w[start:stop].clone().requires_grad_()
    x_r.grad = None
    xs = all_gather_with_grad(x_r, grad="sum")
    ce = sharded_cross_entropy(xs @ w_r.T, yg, start)
    ce.backward()
    res["ce"] = (ce.detach(), x_r.grad, xs.requires_grad)
    res["w_grad"] = w_r.grad
    return res


def _check_against_one_process(sizes: list[int], c: int, frozen: int | None = None) -> None:
    """Every rank's losses and gradients equal one process's; rank ``frozen``'s embeddings
    get no gradient."""
    ws = len(sizes)
    results = run_ranks(_worker, ws, sizes, c, frozen)
    x, y, w = _data(sum(sizes), c)
    x = x.clone().requires_grad_()
    w = w.clone().requires_grad_()
    pair = _pair_loss(x, y)
    (pair_gx,) = torch.autograd.grad(pair, x)
    ce = TF.cross_entropy(x @ w.T, y)
    ce_gx, ce_gw = torch.autograd.grad(ce, (x, w))
    want = {"pair": (pair, pair_gx), "local": (pair, pair_gx), "ce": (ce, ce_gx)}
    for r, res in enumerate(results):
        assert res["world"] == (r, ws) and res["scale"] == float(ws)
        lo = sum(sizes[:r])
        for key, (loss, gx) in want.items():
            got_loss, got_grad, requires_grad = res[key]
            assert requires_grad, (key, r)  # on every rank, the frozen one too
            torch.testing.assert_close(got_loss, loss.detach(), rtol=1e-12, atol=1e-12)
            if r == frozen:
                assert got_grad is None, key  # nothing leaks into a tensor without grad
            else:
                torch.testing.assert_close(
                    got_grad, gx[lo : lo + sizes[r]], rtol=1e-10, atol=1e-12, msg=key
                )
        start, stop = shard_range(c, r, ws)
        torch.testing.assert_close(res["w_grad"], ce_gw[start:stop], rtol=1e-10, atol=1e-12)


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
    _check_against_one_process(sizes, c)


@pytest.mark.parametrize(
    ("sizes", "c", "frozen"),
    [
        ([0, 4], 5, 0),  # rank 0: torch.zeros(0, D), no grad
        ([3, 0, 5], 10, 1),  # rank 1: torch.zeros(0, D), no grad, between two others
        ([4, 3], 5, 1),  # rank 1: a batch from a frozen model
    ],
)
def test_a_rank_without_grad_takes_part_in_backward(sizes: list[int], c: int, frozen: int) -> None:
    # before the fix, that rank skipped the autograd path: its backward never joined the
    # all-reduce of grad="sum" (the others hung) and its gather_batch loss had no gradient
    _check_against_one_process(sizes, c, frozen)


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


def _metric_worker(rank: int, world_size: int, sizes: list[int], c: int) -> list:
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
    return record


@pytest.mark.parametrize(("sizes", "c"), [([5, 3], 4), ([4, 0, 6], 5)])
def test_center_triplet_range_under_data_parallel(sizes: list[int], c: int) -> None:
    results = run_ranks(_metric_worker, len(sizes), sizes, c)
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


# ------------------------------------------------ mistakes every rank must refuse alike


def messages_of(calls: dict[str, Callable[[], object]]) -> dict[str, str | None]:
    """Make each mistake on this rank: ``"<error type>: <message>"`` of what it raised, or
    None where it raised nothing."""
    messages: dict[str, str | None] = {}
    for case, call in calls.items():
        try:
            call()
        except (TypeError, ValueError) as e:
            messages[case] = f"{type(e).__name__}: {e}"
        else:
            messages[case] = None
    return messages


def assert_same_error(results: list[dict], case: str, expected: str) -> None:
    """Every rank raised ``expected`` for ``case`` (``results``: each rank's saved
    ``{"messages": messages_of(...)}``)."""
    messages = [res["messages"][case] for res in results]
    assert messages == [messages[0]] * len(results)  # the same on every rank
    assert messages[0] == expected


def _mistakes(odd: bool) -> dict[str, Callable[[], object]]:
    """Each mistake as a rank makes it: the last rank (``odd``) passes 3 rows and the
    different tensor, the others 5 rows of ``(5, 8)`` float32 embeddings, int64 labels."""
    n = 3 if odd else 5
    x, y = torch.ones(n, 8), torch.arange(n)
    return {
        "width": lambda: gather_batch(torch.ones(n, 7) if odd else x, y),
        "dtype": lambda: gather_batch(x.double() if odd else x, y),
        "ndim": lambda: gather_batch(x.reshape(n, 2, 4) if odd else x, y),
        "labels dtype": lambda: gather_batch(x, y.int() if odd else y),
        "batch": lambda: gather_batch(x, y[:-1] if odd else y),
        "sum width": lambda: all_gather_with_grad(
            (torch.ones(n, 7) if odd else x).requires_grad_(), grad="sum"
        ),
        "local ndim": lambda: all_gather_with_grad(x[:, 0] if odd else x),
        "no batch dim": lambda: all_gather_with_grad(torch.tensor(1.0)),
    }


def _on_ranks(ws: int, ours: str, theirs: str) -> str:
    """``"<ours> on rank 0, ... and <theirs> on rank ws-1"``."""
    return (
        ", ".join(f"{ours} on rank {r}" for r in range(ws - 1)) + f" and {theirs} on rank {ws - 1}"
    )


def _expected(case: str, ws: int) -> str:
    same = "every rank must pass {} of the same trailing shape and dtype; got {}"
    return {
        "width": "gather_batch: "
        + same.format("embeddings", _on_ranks(ws, "(5, 8) float32", "(3, 7) float32")),
        "dtype": "gather_batch: "
        + same.format("embeddings", _on_ranks(ws, "(5, 8) float32", "(3, 8) float64")),
        "ndim": "gather_batch: "
        + same.format("embeddings", _on_ranks(ws, "(5, 8) float32", "(3, 2, 4) float32")),
        "labels dtype": "gather_batch: "
        + same.format("labels", _on_ranks(ws, "(5,) int64", "(3,) int32")),
        "batch": "gather_batch: embeddings and labels must have the same batch size; "
        f"got 3 and 2 on rank {ws - 1}",
        "sum width": "all_gather_with_grad: "
        + same.format("x", _on_ranks(ws, "(5, 8) float32", "(3, 7) float32")),
        "local ndim": "all_gather_with_grad: "
        + same.format("x", _on_ranks(ws, "(5, 8) float32", "(3,) float32")),
        "no batch dim": "all_gather_with_grad: x must have a batch dimension (dim 0); got shape ()",
    }[case]


def _mistakes_worker(rank: int, world_size: int) -> dict:
    odd = rank == world_size - 1
    messages = messages_of(_mistakes(odd))
    # the ranks are still in step: a correct gather afterwards
    n = 3 if odd else 5
    after = gather_batch(torch.full((n, 8), float(rank)), torch.arange(n))
    return {"messages": messages, "after": after}


@pytest.fixture(scope="module", params=[2, 3], ids=["2 ranks", "3 ranks"])
def refused(request: pytest.FixtureRequest) -> tuple[int, list[dict]]:
    """One run of every mistake: (world size, what each rank saved)."""
    return request.param, run_ranks(_mistakes_worker, request.param)


@pytest.mark.parametrize("case", list(_mistakes(False)))
def test_every_rank_refuses_a_mismatch_with_the_same_error(
    refused: tuple[int, list[dict]], case: str
) -> None:
    # before: gloo aborted, hung, or read garbage (labels int32 on one rank, int64 on the
    # other: 844424930131968); a check on one rank only left the others waiting
    ws, results = refused
    assert_same_error(results, case, "ValueError: " + _expected(case, ws))


def test_ranks_stay_in_step_after_refusing(refused: tuple[int, list[dict]]) -> None:
    ws, results = refused
    sizes = [5] * (ws - 1) + [3]
    want_x = torch.cat([torch.full((n, 8), float(r)) for r, n in enumerate(sizes)])
    want_y = torch.cat([torch.arange(n) for n in sizes])
    for res in results:
        xg, yg = res["after"]
        assert torch.equal(xg, want_x) and torch.equal(yg, want_y)


def test_a_mismatch_among_many_ranks_lists_rank_0_and_the_odd_ones() -> None:
    # the message and the comparison, on metadata as 12 ranks would exchange it
    ours, theirs = _Meta.of(torch.ones(4, 8)), _Meta.of(torch.ones(2, 7, dtype=torch.float64))
    metas = [[theirs if r in (5, 9) else ours] for r in range(12)]
    got = "(4, 8) float32 on rank 0, (2, 7) float64 on rank 5 and (2, 7) float64 on rank 9"
    with pytest.raises(ValueError) as info:
        _check_ranks_agree("all_gather_with_grad", ("x",), metas)
    assert str(info.value) == (
        "all_gather_with_grad: every rank must pass x of the same trailing shape and dtype; "
        f"got {got}; the other 9 ranks as rank 0"
    )
    metas = [[ours]] + [[theirs]] * 11  # more odd ranks than are listed
    with pytest.raises(ValueError, match=r"on rank 7; 4 more ranks not listed$"):
        _check_ranks_agree("all_gather_with_grad", ("x",), metas)
    # dimensions past the spelled-out ones are compared too (through the shape's hash)
    a, b = torch.ones(2, *[1] * 8), torch.ones(2, *[1] * 7, 2)
    with pytest.raises(ValueError, match=r"\(2, 1, 1, 1, 1, 1, 1, \.\.\.\) float32 on rank 1$"):
        _check_ranks_agree("all_gather_with_grad", ("x",), [[_Meta.of(a)], [_Meta.of(b)]])
    _check_ranks_agree("all_gather_with_grad", ("x",), [[_Meta.of(a)], [_Meta.of(a[:1])]])
