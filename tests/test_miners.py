"""Miners as objects (losskit.miners), the losses that take their ``indices=``, and the
cross-batch memory (losskit.memory), against pytorch-metric-learning (PML) in float64. Each
deliberate difference sits next to its test."""

from __future__ import annotations

import math

import pytest
import pytorch_metric_learning.losses as pml_losses  # a test extra: parity must run, never skip
import torch
from pytorch_metric_learning import distances as pml_distances  # noqa: E402
from pytorch_metric_learning import miners as pml_miners  # noqa: E402

import losskit
from losskit import miners as L
from losskit.memory import CrossBatchMemory

from .conftest import gen

F64 = torch.float64
LP = pml_distances.LpDistance(normalize_embeddings=False)
COS = pml_distances.CosineSimilarity()


def _batch(b: int, d: int, classes: int, seed: int = 0):
    g = gen(seed)
    return torch.randn(b, d, generator=g, dtype=F64), torch.randint(0, classes, (b,), generator=g)


def _same(a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...]) -> None:
    assert len(a) == len(b)
    for u, v in zip(a, b, strict=True):
        assert torch.equal(u.long(), v.long())


def _pairs(idx: tuple[torch.Tensor, ...]) -> tuple[list, list]:
    a1, p, a2, n = idx
    pos = sorted(zip(a1.tolist(), p.tolist(), strict=True))
    return pos, sorted(zip(a2.tolist(), n.tolist(), strict=True))


@pytest.mark.parametrize("with_ref", [False, True])
def test_miners_equal_pml(with_ref: bool) -> None:
    x, y = _batch(40, 8, 6, seed=1)
    ref = _batch(30, 8, 6, seed=2) if with_ref else ()
    _same(L.BatchHardMiner()(x, y, *ref), pml_miners.BatchHardMiner(distance=LP)(x, y, *ref))
    _same(L.BatchHardMiner(distance="cosine")(x, y, *ref),
          pml_miners.BatchHardMiner(distance=COS)(x, y, *ref))  # fmt: skip
    _same(
        L.SemiHardMiner(margin=0.5)(x, y, *ref),
        pml_miners.TripletMarginMiner(0.5, type_of_triplets="semihard", distance=LP)(x, y, *ref),
    )
    _same(L.PairMarginMiner(pos_margin=3.0, neg_margin=3.5)(x, y, *ref),
          pml_miners.PairMarginMiner(3.0, 3.5, distance=LP)(x, y, *ref))  # fmt: skip
    # PML's cosine margins are similarities: pos_margin 0.8 = distance 0.2, 0.3 = 0.7
    _same(L.PairMarginMiner(pos_margin=0.2, neg_margin=0.7, distance="cosine")(x, y, *ref),
          pml_miners.PairMarginMiner(0.8, 0.3, distance=COS)(x, y, *ref))  # fmt: skip
    # the same pairs; PML lists a row's pairs by similarity, losskit in row-major order
    assert _pairs(L.MultiSimilarityMiner(epsilon=0.1)(x, y, *ref)) == _pairs(
        pml_miners.MultiSimilarityMiner(0.1)(x, y, *ref)
    )


def test_distance_weighted_weights_and_draws() -> None:
    # the weights are Wu et al.'s 1/q(d) (PML's formula), on normalised embeddings, clipped
    # below at cutoff, zero for positives and beyond nonzero_loss_cutoff
    x, y = _batch(24, 5, 4, seed=3)
    miner = L.DistanceWeightedMiner(cutoff=0.5, nonzero_loss_cutoff=1.4)
    xn = torch.nn.functional.normalize(x, dim=1)
    d = torch.cdist(xn, xn)
    dc = d.clamp_min(0.5)
    log_w = (2.0 - 5) * torch.log(dc) - (5 - 3) / 2 * torch.log(1 - 0.25 * dc**2)
    neg = y[:, None] != y[None, :]
    w = torch.where(neg & (dc < 1.4), torch.exp(log_w), 0.0)
    w = w / w.sum(1, keepdim=True).clamp_min(1e-300)
    got = miner.weights(d, neg, 5)
    torch.testing.assert_close(got, w)
    # the draws follow the weights: anchor 0's negatives over many draws
    g = torch.Generator().manual_seed(0)
    counts = torch.zeros(24, dtype=F64)
    draws = 4000
    miner = L.DistanceWeightedMiner(generator=g)
    for _ in range(draws // 8):
        a, p, n = miner(x, y)
        counts += torch.bincount(n[a == 0], minlength=24).double()
    freq = counts / counts.sum()
    assert (freq[~neg[0]] == 0).all()
    assert (freq - w[0]).abs().max() < 5 * math.sqrt(0.25 / counts.sum())
    # every triplet: an anchor, one of its positives, a negative
    a, p, n = miner(x, y)
    assert (y[a] == y[p]).all() and (y[a] != y[n]).all() and (a != p).all()


@pytest.mark.parametrize(
    "miner",
    [pml_miners.MultiSimilarityMiner(0.1), pml_miners.PairMarginMiner(0.3, 0.6, distance=COS),
     pml_miners.BatchHardMiner(distance=COS)],  # fmt: skip
    ids=["multi-similarity", "pair-margin", "batch-hard"],
)
def test_pair_losses_take_mined_indices(miner) -> None:
    x, y = _batch(32, 8, 6, seed=4)
    idx = miner(x, y)
    for ours, peer in (
        (losskit.nt_xent_loss, pml_losses.NTXentLoss()),
        (losskit.multi_similarity_loss, pml_losses.MultiSimilarityLoss()),
        (lambda *a, **k: losskit.circle_loss(*a, grad_mode="straight_through", **k),
         pml_losses.CircleLoss()),
    ):  # fmt: skip
        for chunk in (None, 5):
            xo, xp = x.clone().requires_grad_(), x.clone().requires_grad_()
            lo = ours(xo, y, indices=idx, chunk_size=chunk)
            lp = peer(xp, y, idx)
            torch.testing.assert_close(lo, lp, rtol=1e-11, atol=1e-12)
            (go,), (gp,) = torch.autograd.grad(lo, xo), torch.autograd.grad(lp, xp)
            torch.testing.assert_close(go, gp, rtol=1e-8, atol=1e-9)


def test_supcon_with_indices_counts_anchors_with_a_positive() -> None:
    # deliberate difference: PML's AvgNonZeroReducer also drops an anchor whose loss is exactly
    # 0 (a single listed positive and no listed negative: log(e^s / e^s) = 0); losskit counts
    # every anchor that has a listed positive
    x, y = _batch(32, 8, 6, seed=5)
    idx = pml_miners.MultiSimilarityMiner(0.1)(x, y)
    got = losskit.supcon_loss(x, y, indices=idx, reduction="none")
    a1, _, a2, _ = idx
    zero = [i for i in set(a1.tolist()) if got[i] == 0]
    peer = pml_losses.SupConLoss()(x, y, idx)
    counted = len(set(a1.tolist()))
    torch.testing.assert_close(got.sum() / (counted - len(zero)), peer)


def test_batch_triplet_takes_mined_triplets() -> None:
    x, y = _batch(40, 8, 6, seed=6)
    for miner in (L.BatchHardMiner(), L.SemiHardMiner(margin=0.5)):
        idx = miner(x, y)
        xo, xp = x.clone().requires_grad_(), x.clone().requires_grad_()
        lo = losskit.batch_triplet_loss(xo, y, idx, margin=0.5, mean_over="active")
        lp = pml_losses.TripletMarginLoss(margin=0.5, distance=LP)(xp, y, idx)
        torch.testing.assert_close(lo, lp, rtol=1e-12, atol=1e-12)
        (go,), (gp,) = torch.autograd.grad(lo, xo), torch.autograd.grad(lp, xp)
        torch.testing.assert_close(go, gp, rtol=1e-10, atol=1e-12)
    # the triplets of the hard miner are the loss's own batch-hard triplets
    hard = losskit.batch_triplet_loss(x, y, L.BatchHardMiner()(x, y), margin=0.5)
    torch.testing.assert_close(hard, losskit.batch_triplet_loss(x, y, margin=0.5, mining="hard"))


@pytest.mark.parametrize(
    "fn", [losskit.nt_xent_loss, losskit.supcon_loss, losskit.multi_similarity_loss,
           losskit.circle_loss, losskit.batch_triplet_loss],  # fmt: skip
)
def test_bad_indices_name_the_loss(fn) -> None:
    x, y = _batch(6, 3, 2, seed=7)
    name = fn.__name__
    i = torch.tensor([0, 1])
    with pytest.raises(ValueError, match=rf"^{name}: indices \((a|a1|anchor)\) must lie in \[0, 5\]"):
        fn(x, y, indices=(torch.tensor([0, 6]), i, i) if fn is losskit.batch_triplet_loss
           else (torch.tensor([0, 6]), i, i, i))  # fmt: skip
    with pytest.raises(TypeError, match=rf"^{name}: indices must be a tuple"):
        fn(x, y, indices=torch.zeros(3, dtype=torch.long))
    with pytest.raises(TypeError, match=rf"^{name}: indices \(\w+\) must be an integer tensor"):
        fn(x, y, indices=(i.float(), i, i))
    with pytest.raises(ValueError, match=rf"^{name}: indices .* must have one length"):
        fn(x, y, indices=(i, i, torch.tensor([0])))


def test_cross_batch_memory_equals_pml() -> None:
    torch.manual_seed(0)
    d = 8
    cases = {
        "supcon": (losskit.supcon_loss, pml_losses.SupConLoss(), None, None),
        "nt_xent": (losskit.nt_xent_loss, pml_losses.NTXentLoss(), None, None),
        "multi-similarity + miner": (
            losskit.multi_similarity_loss, pml_losses.MultiSimilarityLoss(),
            L.MultiSimilarityMiner(epsilon=0.1), pml_miners.MultiSimilarityMiner(0.1),
        ),
    }  # fmt: skip
    for name, (ours, peer, miner, peer_miner) in cases.items():
        xbm = CrossBatchMemory(ours, d, memory_size=20, miner=miner).double()
        ref = pml_losses.CrossBatchMemory(peer, d, memory_size=20, miner=peer_miner).double()
        g = gen(8)
        for step in range(5):  # 8 per step: the queue of 20 wraps around at step 3
            x = torch.randn(8, d, generator=g, dtype=F64)
            y = torch.randint(0, 4, (8,), generator=g)
            xo, xp = x.clone().requires_grad_(), x.clone().requires_grad_()
            lo, lp = xbm(xo, y), ref(xp, y)
            torch.testing.assert_close(lo, lp, rtol=1e-12, atol=1e-12, msg=f"{name} {step}")
            (go,), (gp,) = torch.autograd.grad(lo, xo), torch.autograd.grad(lp, xp)
            torch.testing.assert_close(go, gp, rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(xbm.embedding_memory, ref.embedding_memory)
            assert xbm.queue_idx == ref.queue_idx and xbm.has_been_filled == ref.has_been_filled


def test_cross_batch_memory_enqueue_mask_equals_pml() -> None:
    d = 6
    xbm = CrossBatchMemory(losskit.nt_xent_loss, d, memory_size=16).double()
    ref = pml_losses.CrossBatchMemory(pml_losses.NTXentLoss(), d, memory_size=16).double()
    g = gen(9)
    for _ in range(4):
        x = torch.randn(8, d, generator=g, dtype=F64)
        y = torch.arange(8) % 4
        mask = torch.arange(8) >= 4  # keys to the queue, queries scored against it
        torch.testing.assert_close(xbm(x, y, enqueue_mask=mask), ref(x, y, enqueue_mask=mask))


def test_cross_batch_memory_refuses_bad_input() -> None:
    xbm = CrossBatchMemory(losskit.supcon_loss, 4, memory_size=8)
    with pytest.raises(ValueError, match=r"^CrossBatchMemory: embeddings must have shape \(B, 4\)"):
        xbm(torch.randn(3, 5), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"^CrossBatchMemory: a batch of 9 does not fit"):
        xbm(torch.randn(9, 4), torch.zeros(9, dtype=torch.long))
    with pytest.raises(ValueError, match=r"^CrossBatchMemory: memory_size must be an int >= 1"):
        CrossBatchMemory(losskit.supcon_loss, 4, memory_size=0)
    with pytest.raises(ValueError, match=r"^SemiHardMiner: margin must be a finite number >= 0"):
        L.SemiHardMiner(margin=-1.0)
    with pytest.raises(ValueError, match=r"^BatchHardMiner: distance must be one of"):
        L.BatchHardMiner(distance="manhattan")
    with pytest.raises(ValueError, match=r"^BatchHardMiner: labels must have shape"):
        L.BatchHardMiner()(torch.randn(4, 2), torch.zeros(3, dtype=torch.long))
