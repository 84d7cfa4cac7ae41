"""Class-sharded (model-parallel) margin losses against one process holding every class and
the whole batch: loss, embedding gradients and centre-shard gradients, float64, 2 and 3 gloo
ranks, a class count not divisible by the world size, uneven batches (one rank empty), ranks
whose batch holds none of their classes, per-sample weight, mask and ignore_index, the
chunked path and Partial FC sampling; a rank whose embeddings do not require grad; and the
mistakes every rank must refuse alike (sizes that differ between ranks, fewer classes than
ranks, a weight on some ranks only). Every run has a deadline (``run_ranks``): a hang fails
its test."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from losskit import nn as lnn
from losskit.distributed import ClassShardedLoss, shard_range
from losskit.functional import partial_fc_sample
from tests.distributed.test_distributed import assert_same_error, messages_of, run_ranks

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


def _sharded(
    name: str, rank: int, ws: int, chunk: int | None, **options: object
) -> ClassShardedLoss:
    """Rank ``rank``'s head: the rows of ``_full(name, chunk)``'s centres (and bias) it holds."""
    cls, kw = LOSSES[name]
    full = _full(name, chunk)
    head = ClassShardedLoss(cls, C, D, chunk_size=chunk, dtype=torch.float64, **options, **kw)
    start, stop = shard_range(C, rank, ws)
    with torch.no_grad():
        head.centers.copy_(full.centers[start:stop])
        if getattr(full, "bias", None) is not None:
            head.inner.bias.copy_(full.bias[start:stop])
    return head


def _result(loss: torch.Tensor, x: torch.Tensor, head: ClassShardedLoss) -> dict:
    return {
        "loss": loss.detach(),
        "x_grad": x.grad,
        "w_grad": head.centers.grad,
        "b_grad": _bias_grad(head.inner),
    }


def _one_process(
    name: str, x: torch.Tensor, y: torch.Tensor, **kwargs: torch.Tensor
) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """One process holding every class and the whole batch: the module (its gradients
    filled), the loss and the gradient of ``x``."""
    full = _full(name, None)
    xx = x.clone().requires_grad_()
    loss = full(xx, y, **kwargs)
    loss.backward()
    return full, loss, xx.grad


def _check_rank(
    got: dict, r: int, sizes: list[int], full: torch.nn.Module, loss: torch.Tensor,
    x_grad: torch.Tensor | None, name: str,
) -> None:  # fmt: skip
    """Rank ``r``'s loss and gradients against one process's (``full``, ``loss``,
    ``x_grad``); ``x_grad=None``: rank ``r``'s embeddings must get no gradient."""
    lo = sum(sizes[:r])
    start, stop = shard_range(C, r, len(sizes))
    torch.testing.assert_close(got["loss"], loss.detach(), rtol=1e-10, atol=1e-12, msg=name)
    if x_grad is None:
        assert got["x_grad"] is None, name
    else:
        torch.testing.assert_close(
            got["x_grad"], x_grad[lo : lo + sizes[r]], rtol=1e-9, atol=1e-12, msg=name
        )
    torch.testing.assert_close(
        got["w_grad"], full.centers.grad[start:stop], rtol=1e-9, atol=1e-12, msg=name
    )
    if got["b_grad"] is not None:
        torch.testing.assert_close(
            got["b_grad"], full.bias.grad[start:stop], rtol=1e-9, atol=1e-12, msg=name
        )


def _worker(rank: int, ws: int, sizes: list[int], chunk: int | None, rate: float) -> dict:
    x, y = _batch(sizes)
    lo = sum(sizes[:rank])
    res = {}
    for name in LOSSES:
        gen = torch.Generator().manual_seed(11 + rank)
        head = _sharded(name, rank, ws, chunk, sample_rate=rate, generator=gen)
        start, stop = shard_range(C, rank, ws)
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
        res[name] = {**_result(loss, x_r, head), "used": used, "weighted": None}
        if rate == 1.0:  # per-sample weight, mask and ignore_index through the gather
            head.zero_grad(set_to_none=True)
            u, keep, y_ign = _exclusions(y)
            part = slice(lo, lo + sizes[rank])
            x_w = x[part].clone().requires_grad_()
            loss_w = head(x_w, y_ign[part], weight=u[part], mask=keep[part])
            loss_w.backward()
            res[name]["weighted"] = _result(loss_w, x_w, head)
    return res


def _run(sizes: list[int], chunk: int | None, rate: float) -> list[dict]:
    return run_ranks(_worker, len(sizes), sizes, chunk, rate)


@pytest.mark.parametrize(
    ("sizes", "chunk"),
    [([3, 5], None), ([2, 0, 5], 2)],  # 11 classes: 6 + 5, or 4 + 4 + 3; one rank with no samples
)
def test_every_margin_loss_matches_one_process(sizes: list[int], chunk: int | None) -> None:
    results = _run(sizes, chunk, 1.0)
    x, y = _batch(sizes)
    for name in LOSSES:
        full, loss, x_grad = _one_process(name, x, y)
        for r, res in enumerate(results):
            _check_rank(res[name], r, sizes, full, loss, x_grad, name)
        # per-sample weight, mask and ignore_index: the same as in one process
        u, keep, y_ign = _exclusions(y)
        full, loss, x_grad = _one_process(name, x, y_ign, weight=u, mask=keep)
        for r, res in enumerate(results):
            _check_rank(res[name]["weighted"], r, sizes, full, loss, x_grad, name)


def test_partial_fc_within_shards_matches_the_sampled_classes() -> None:
    # a global batch (3) smaller than every shard's class count (4, 4, 3): partial_fc_sample
    # draws at least as many classes as the batch has rows, so a larger batch samples them all
    sizes = [2, 0, 1]
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
    with pytest.raises(TypeError, match=r"ClassShardedLoss: num_classes must be an int; got 2.5"):
        ClassShardedLoss(lnn.ArcFaceLoss, 2.5, D)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"ClassShardedLoss: embedding_dim must be an int >= 1; got 0"
    ):
        ClassShardedLoss(lnn.ArcFaceLoss, C, 0)
    head = ClassShardedLoss(lnn.ArcFaceLoss, C, D)
    x, y = torch.randn(6, D), torch.arange(6)
    with pytest.raises(
        ValueError,
        match=r"ClassShardedLoss: embeddings, labels and weight must have the same batch size; "
        r"got 6, 6 and 5$",
    ):
        head(x, y, weight=torch.ones(5))


# ------------------------------------------------- a rank whose embeddings do not require grad

FROZEN_LOSSES = ("arcface", "softmax", "subcenter")


def _frozen_worker(rank: int, ws: int, sizes: list[int], frozen: int) -> dict:
    """Rank ``frozen`` passes embeddings that do not require grad (``torch.zeros(0, D)`` when
    its batch is empty); every other rank's do."""
    x, y = _batch(sizes)
    lo = sum(sizes[:rank])
    res = {}
    for name in FROZEN_LOSSES:
        head = _sharded(name, rank, ws, None)
        x_r = x[lo : lo + sizes[rank]].clone()
        if rank == frozen and sizes[rank] == 0:
            x_r = torch.zeros(0, D, dtype=torch.float64)
        if rank != frozen:
            x_r.requires_grad_()
        loss = head(x_r, y[lo : lo + sizes[rank]])
        loss.backward()
        res[name] = _result(loss, x_r, head)
    return res


@pytest.mark.parametrize(
    ("sizes", "frozen"),
    [
        ([0, 5], 0),  # rank 0: torch.zeros(0, D), no grad
        ([2, 0, 5], 1),  # rank 1: torch.zeros(0, D), no grad, between two others
        ([4, 3], 1),  # rank 1: a batch from a frozen model
    ],
)
def test_a_rank_without_grad_takes_part_in_backward(sizes: list[int], frozen: int) -> None:
    # before the fix, that rank skipped the autograd path of the gather: its backward never
    # joined the all-reduce of the embeddings' gradient, and the other ranks hung there
    results = run_ranks(_frozen_worker, len(sizes), sizes, frozen)
    x, y = _batch(sizes)
    for name in FROZEN_LOSSES:
        full, loss, x_grad = _one_process(name, x, y)
        for r, res in enumerate(results):
            _check_rank(res[name], r, sizes, full, loss, None if r == frozen else x_grad, name)


# ------------------------------------------------ mistakes every rank must refuse alike


def _mistakes(rank: int, ws: int) -> dict[str, Callable[[], object]]:
    """Each mistake as a rank makes it; the last rank is the odd one where ranks differ. The
    forward mistakes use one correct head (ArcFace, C classes), built first on every rank."""
    last = rank == ws - 1
    arc = lnn.ArcFaceLoss
    head = ClassShardedLoss(arc, C, D, dtype=torch.float64)
    x, y = torch.randn(4, D, dtype=torch.float64), torch.arange(4)
    return {
        "too few classes": lambda: ClassShardedLoss(arc, ws - 1, D),
        "num_classes": lambda: ClassShardedLoss(arc, C + last, D),
        "embedding_dim": lambda: ClassShardedLoss(arc, C, D + last),
        "sample_rate": lambda: ClassShardedLoss(arc, C, D, sample_rate=1.5 if last else 0.5),
        "weight": lambda: head(x, y, weight=None if last else torch.ones(4, dtype=x.dtype)),
        "width": lambda: head(torch.randn(4, D + last, dtype=x.dtype), y),
    }


def _expected(case: str, ws: int) -> str:
    def on_ranks(ours: str, theirs: str) -> str:
        odd = ws - 1
        return ", ".join(f"{ours} on rank {r}" for r in range(odd)) + f" and {theirs} on rank {odd}"

    sizes = "every rank must pass the same num_classes and embedding_dim; got "
    return (
        "ValueError: ClassShardedLoss: "
        + {
            "too few classes": f"every rank must hold at least one class; got num_classes={ws - 1} "
            f"for {ws} ranks (num_classes must be at least the world size)",
            "num_classes": sizes
            + on_ranks("num_classes=11, embedding_dim=5", "num_classes=12, embedding_dim=5"),
            "embedding_dim": sizes
            + on_ranks("num_classes=11, embedding_dim=5", "num_classes=11, embedding_dim=6"),
            "sample_rate": f"sample_rate must be a number in (0, 1]; got 1.5 (on rank {ws - 1})",
            "weight": "every rank must pass weight, or none; got it on "
            + ("rank 0" if ws == 2 else "ranks 0 and 1")
            + f" but not on rank {ws - 1}",
            "width": "every rank must pass embeddings of the same trailing shape and dtype; got "
            + on_ranks("(4, 5) float64", "(4, 6) float64"),
        }[case]
    )


def _mistakes_worker(rank: int, ws: int) -> dict:
    messages = messages_of(_mistakes(rank, ws))
    # the ranks are still in step: a correct head afterwards gives one process's loss
    sizes = [3] * ws
    x, y = _batch(sizes)
    part = slice(3 * rank, 3 * rank + 3)
    after = _sharded("arcface", rank, ws, None)(x[part], y[part]).detach()
    return {"messages": messages, "after": after}


@pytest.fixture(scope="module", params=[2, 3], ids=["2 ranks", "3 ranks"])
def refused(request: pytest.FixtureRequest) -> tuple[int, list[dict]]:
    """One run of every mistake: (world size, what each rank saved)."""
    return request.param, run_ranks(_mistakes_worker, request.param)


@pytest.mark.parametrize(
    "case", ["too few classes", "num_classes", "embedding_dim", "sample_rate", "weight", "width"]
)
def test_every_rank_refuses_a_mistake_with_the_same_error(
    refused: tuple[int, list[dict]], case: str
) -> None:
    # before: fewer classes than ranks raised on the rank left without a class only (the
    # others hung or lost the connection), and nothing compared the ranks' sizes
    ws, results = refused
    assert_same_error(results, case, _expected(case, ws))


def test_ranks_stay_in_step_after_refusing(refused: tuple[int, list[dict]]) -> None:
    ws, results = refused
    x, y = _batch([3] * ws)
    want = _full("arcface", None)(x, y)
    for res in results:
        torch.testing.assert_close(res["after"], want, rtol=1e-10, atol=1e-12)
