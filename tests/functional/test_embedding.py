"""Embedding losses (the study notes, embedding losses): contrastive, triplet and batch triplet
with mining.

Hand-worked values, a naive triplet-by-triplet loop as the reference for every mining
strategy, the O(B^2) memory guarantee, and parity with torch and pytorch-metric-learning (PML)
with every deliberate difference written next to its test.
"""

from __future__ import annotations

import itertools
import math

import pytest
import pytorch_metric_learning.losses as pml_losses  # a test extra: parity must run, never skip
import torch
import torch.nn.functional as TF
from pytorch_metric_learning import distances as pml_distances  # noqa: E402
from pytorch_metric_learning import miners as pml_miners  # noqa: E402
from pytorch_metric_learning import reducers as pml_reducers  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode

import losskit
from losskit import (
    batch_contrastive_loss,
    batch_triplet_loss,
    contrastive_loss,
    mine_triplets,
    triplet_loss,
)
from losskit.functional import embedding as E

from ..conftest import gen


def _batch(
    b: int, d: int, classes: int, seed: int = 0, dtype=torch.float64
) -> tuple[torch.Tensor, torch.Tensor]:
    g = gen(seed)
    x = torch.randn(b, d, generator=g, dtype=dtype)
    y = torch.randint(0, classes, (b,), generator=g)
    return x, y


def _dist(x: torch.Tensor, distance: str, squared: bool) -> torch.Tensor:
    if distance == "cosine":
        xn = TF.normalize(x, dim=1)
        return 1.0 - xn @ xn.T
    d = torch.cdist(x, x)
    return d.square() if squared else d


def naive_batch_triplet(
    x, y, *, margin, mining, squared=False, soft=False, mean_over="all", distance="euclidean"
):
    """The definition, one triplet at a time: per-anchor sums and the mean."""
    dm = _dist(x, distance, squared)
    b = len(x)
    per = [x.sum() * 0 for _ in range(b)]
    n_all = n_active = 0
    for a in range(b):
        ps = [p for p in range(b) if p != a and y[p] == y[a]]
        ns = [n for n in range(b) if y[n] != y[a]]
        if mining == "hard":
            if not ps or not ns:
                continue
            trip = [(max(ps, key=lambda p: dm[a, p]), min(ns, key=lambda n: dm[a, n]))]
        elif mining == "all":
            trip = [(p, n) for p in ps for n in ns]
        else:  # semi-hard: d_ap < d_an < d_ap + margin
            trip = [(p, n) for p in ps for n in ns if dm[a, p] < dm[a, n] < dm[a, p] + margin]
        for p, n in trip:
            z = dm[a, p] - dm[a, n] + margin
            loss = TF.softplus(z) if soft else torch.relu(z)
            per[a] = per[a] + loss
            n_all += 1
            n_active += int(soft or loss.item() > 0)
    per = torch.stack(per)
    count = n_all if mean_over == "all" else n_active
    return per, per.sum() / max(count, 1)


# --------------------------------------------------------------------------- contrastive


def test_contrastive_hand_worked() -> None:
    a = torch.zeros(3, 2)
    b = torch.tensor([[3.0, 4.0], [0.3, 0.4], [0.6, 0.8]])  # distances 5, 0.5, 1
    out = contrastive_loss(a, b, torch.tensor([1, 0, 0]), margin=1.0, reduction="none")
    # same: 5^2/2; different inside the margin: (1 - 0.5)^2/2; at the margin: 0
    torch.testing.assert_close(out, torch.tensor([12.5, 0.125, 0.0]))
    # cosine distance 1 - cos: orthogonal = 1, identical = 0
    cos = contrastive_loss(
        torch.tensor([[1.0, 0.0], [1.0, 0.0]]),
        torch.tensor([[0.0, 2.0], [3.0, 0.0]]),
        torch.tensor([1, 0]),
        margin=0.5,
        distance="cosine",
        reduction="none",
    )
    torch.testing.assert_close(cos, torch.tensor([0.5, 0.125]))


def test_contrastive_target_conventions_agree() -> None:
    anchor, paired = torch.randn(6, 3, generator=gen(1)), torch.randn(6, 3, generator=gen(2))
    ones = torch.tensor([1, 0, 1, 1, 0, 0])
    ref = contrastive_loss(anchor, paired, ones, reduction="none")
    torch.testing.assert_close(contrastive_loss(anchor, paired, ones.bool(), reduction="none"), ref)
    torch.testing.assert_close(
        contrastive_loss(anchor, paired, ones * 2 - 1, reduction="none"), ref
    )  # {1, -1}
    torch.testing.assert_close(
        contrastive_loss(anchor, paired, ones.double(), reduction="none"), ref
    )


def test_contrastive_weight_is_a_weighted_mean() -> None:
    anchor, paired = torch.randn(4, 3, generator=gen(3)), torch.randn(4, 3, generator=gen(4))
    t, w = torch.tensor([1, 0, 1, 0]), torch.tensor([1.0, 2.0, 0.0, 3.0])
    per = contrastive_loss(anchor, paired, t, reduction="none")
    torch.testing.assert_close(
        contrastive_loss(anchor, paired, t, weight=w), (per * w).sum() / w.sum()
    )


def test_contrastive_gradient_finite_for_identical_pair() -> None:
    anchor = torch.randn(3, 4, generator=gen(5), requires_grad=True)
    paired = anchor.detach().clone()
    contrastive_loss(anchor, paired, torch.tensor([0, 0, 1])).backward()
    assert torch.isfinite(anchor.grad).all()


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_batch_contrastive_equals_explicit_pairs(distance: str) -> None:
    x, y = _batch(9, 4, 3)
    i, j = torch.triu_indices(9, 9, 1)
    pairs = contrastive_loss(
        x[i], x[j], (y[i] == y[j]).long(), margin=1.5, distance=distance, reduction="none"
    )
    out = batch_contrastive_loss(x, y, margin=1.5, distance=distance, reduction="none")
    torch.testing.assert_close(out.sum(), pairs.sum())
    torch.testing.assert_close(
        batch_contrastive_loss(x, y, margin=1.5, distance=distance), pairs.mean()
    )
    # "none": sample k holds half of each of its pairs
    share = torch.zeros(9, dtype=x.dtype).index_add(0, i, pairs / 2).index_add(0, j, pairs / 2)
    torch.testing.assert_close(out, share)


def test_batch_contrastive_fewer_than_two_samples() -> None:
    for n in (0, 1):
        x = torch.randn(n, 3, requires_grad=True)
        out = batch_contrastive_loss(x, torch.zeros(n, dtype=torch.long))
        assert out.item() == 0.0
        out.backward()
        assert torch.isfinite(x.grad).all()


# --------------------------------------------------------------------------- triplet


def test_triplet_hand_worked() -> None:
    a = torch.zeros(2, 2)
    p = torch.tensor([[0.0, 1.0], [0.0, 2.0]])
    n = torch.tensor([[0.0, 1.5], [0.0, 1.0]])
    # plain: [1 - 1.5 + 1]_+ = 0.5, [2 - 1 + 1]_+ = 2
    torch.testing.assert_close(triplet_loss(a, p, n, reduction="none"), torch.tensor([0.5, 2.0]))
    # squared (the seed's form): [1 - 2.25 + 1]_+ = 0, [4 - 1 + 1]_+ = 4
    torch.testing.assert_close(
        triplet_loss(a, p, n, squared=True, reduction="none"), torch.tensor([0.0, 4.0])
    )
    # soft margin 0 (Hermans): log(1 + e^(1 - 1.5))
    soft = triplet_loss(a[:1], p[:1], n[:1], margin=0.0, soft=True)
    assert soft.item() == pytest.approx(math.log1p(math.exp(-0.5)))
    # swap: d(p, n) = 0.5 < d(a, n) = 1.5 for the first triplet
    torch.testing.assert_close(triplet_loss(a[:1], p[:1], n[:1], swap=True), torch.tensor(1.5))


@pytest.mark.parametrize("swap", [False, True])
def test_triplet_parity_torch(swap: bool) -> None:
    g = gen(7)
    a, p, n = (
        torch.randn(64, 16, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(3)
    )
    ours = triplet_loss(a, p, n, margin=0.8, swap=swap)
    theirs = torch.nn.TripletMarginLoss(margin=0.8, swap=swap)(a, p, n)
    # Deliberate difference: torch measures ||a - p + eps|| with eps = 1e-6 added to every
    # coordinate difference; losskit measures ||a - p|| exactly (safe square root). The two
    # differ by O(eps), hence the tolerance.
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    ga = torch.autograd.grad(ours, (a, p, n))
    gb = torch.autograd.grad(theirs, (a, p, n))
    for x, y in zip(ga, gb, strict=True):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=0)


def test_triplet_parity_pml_explicit_indices() -> None:
    g = gen(8)
    emb = torch.randn(30, 8, generator=g, dtype=torch.float64)
    a_idx = torch.randint(0, 30, (50,), generator=g)
    p_idx = torch.randint(0, 30, (50,), generator=g)
    n_idx = torch.randint(0, 30, (50,), generator=g)
    dist = pml_distances.LpDistance(normalize_embeddings=False)
    per = pml_losses.TripletMarginLoss(
        margin=0.5, distance=dist, reducer=pml_reducers.DoNothingReducer()
    )(emb, None, (a_idx, p_idx, n_idx))["loss"]["losses"]
    ours = triplet_loss(emb[a_idx], emb[p_idx], emb[n_idx], margin=0.5, reduction="none")
    # a == p or a == n: PML's cdist gives exactly 0 there too
    torch.testing.assert_close(ours, per)
    mean = pml_losses.TripletMarginLoss(
        margin=0.5, distance=dist, reducer=pml_reducers.MeanReducer()
    )(emb, None, (a_idx, p_idx, n_idx))
    torch.testing.assert_close(triplet_loss(emb[a_idx], emb[p_idx], emb[n_idx], margin=0.5), mean)
    # PML's default reducer (AvgNonZeroReducer) averages over the positive losses only: that
    # is not triplet_loss's "mean" but batch_triplet_loss's mean_over="active"
    avg_nz = pml_losses.TripletMarginLoss(margin=0.5, distance=dist)(
        emb, None, (a_idx, p_idx, n_idx)
    )
    torch.testing.assert_close(avg_nz, ours.sum() / (ours > 0).sum())
    # squared distances: PML's LpDistance(power=2)
    sq = pml_losses.TripletMarginLoss(
        margin=0.5, distance=pml_distances.LpDistance(normalize_embeddings=False, power=2),
        reducer=pml_reducers.MeanReducer(),
    )(emb, None, (a_idx, p_idx, n_idx))  # fmt: skip
    torch.testing.assert_close(
        triplet_loss(emb[a_idx], emb[p_idx], emb[n_idx], margin=0.5, squared=True), sq
    )


# --------------------------------------------------------------------------- batch triplet

VARIANTS = [
    (mining, squared, soft, mean_over, distance)
    for mining, squared, soft, mean_over, distance in itertools.product(
        E.MININGS, [False, True], [False, True], E.MEAN_OVER, E.DISTANCES
    )
    if not (squared and distance == "cosine")
]


@pytest.mark.parametrize(("mining", "squared", "soft", "mean_over", "distance"), VARIANTS)
def test_batch_triplet_matches_naive_loop(mining, squared, soft, mean_over, distance) -> None:
    x, y = _batch(11, 4, 3, seed=11)
    x.requires_grad_(True)
    margin = 0.3 if distance == "cosine" else 1.0
    kw = dict(
        margin=margin,
        mining=mining,
        squared=squared,
        soft=soft,
        mean_over=mean_over,
        distance=distance,
    )
    per_ref, mean_ref = naive_batch_triplet(x, y, **kw)
    per = batch_triplet_loss(x, y, reduction="none", **kw)
    mean = batch_triplet_loss(x, y, **kw)
    torch.testing.assert_close(per, per_ref)
    torch.testing.assert_close(mean, mean_ref)
    torch.testing.assert_close(batch_triplet_loss(x, y, reduction="sum", **kw), per_ref.sum())
    (g_ref,) = torch.autograd.grad(mean_ref, x)
    (g,) = torch.autograd.grad(mean, x)
    torch.testing.assert_close(g, g_ref)


@pytest.mark.parametrize("mining", E.MININGS)
@pytest.mark.parametrize("soft", [False, True])
def test_batch_triplet_gradcheck(mining: str, soft: bool) -> None:
    x, y = _batch(7, 3, 2, seed=12)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda t: batch_triplet_loss(t, y, margin=1.0, mining=mining, soft=soft),
        (x,),
        eps=1e-6,
        atol=1e-5,
    )


@pytest.mark.parametrize("mining", E.MININGS)
def test_float32_path_agrees_with_float64(mining: str) -> None:
    # float32 rows are sorted as packed int64 keys, float64 rows with torch.sort
    x, y = _batch(300, 16, 60, seed=13)
    for mean_over in E.MEAN_OVER:
        x64 = x.clone().requires_grad_(True)
        x32 = x.float().requires_grad_(True)
        l64 = batch_triplet_loss(x64, y, margin=0.5, mining=mining, mean_over=mean_over)
        l32 = batch_triplet_loss(x32, y, margin=0.5, mining=mining, mean_over=mean_over)
        l64.backward()
        l32.backward()
        torch.testing.assert_close(l32.double(), l64, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(x32.grad.double(), x64.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_exact_ties_follow_the_definition(dtype: torch.dtype) -> None:
    # integer points on a line: many distances tie exactly, some with d_an == d_ap and
    # d_an == d_ap + margin, the edges of the active and semi-hard conditions
    x = torch.tensor([[0.0], [1.0], [2.0], [3.0], [1.0], [2.0], [4.0], [0.0]], dtype=dtype)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 0, 1])
    for mining, mean_over in itertools.product(["all", "semihard"], E.MEAN_OVER):
        per_ref, mean_ref = naive_batch_triplet(
            x.double(), y, margin=1.0, mining=mining, mean_over=mean_over
        )
        per = batch_triplet_loss(
            x, y, margin=1.0, mining=mining, mean_over=mean_over, reduction="none"
        )
        torch.testing.assert_close(per.double(), per_ref)
        torch.testing.assert_close(
            batch_triplet_loss(x, y, margin=1.0, mining=mining, mean_over=mean_over).double(),
            mean_ref,
        )


def test_row_order_handles_signs_zero_and_inf() -> None:
    # 1 - cos can be a hair below 0: the packed float32 keys must order negatives too
    keys = torch.tensor([[0.5, -1e-7, math.inf, -0.0, 0.0, -3.0, 2.0, 1e-30]])
    late = torch.tensor([[False, False, False, True, False, False, False, False]])
    order = E._row_order(keys, late)[0]
    vals = keys[0][order]
    assert (vals[1:] >= vals[:-1]).all()
    # the two zeros tie: the late one (-0.0, index 3) comes after 0.0 (index 4)
    assert order.tolist().index(4) < order.tolist().index(3)
    torch.testing.assert_close(E._row_order(keys.double(), late).view(-1), order)


def test_semihard_margin_zero_selects_nothing() -> None:
    x, y = _batch(8, 3, 2)
    x.requires_grad_(True)
    out = batch_triplet_loss(x, y, margin=0.0, mining="semihard")
    out.backward()
    assert out.item() == 0.0 and torch.isfinite(x.grad).all()
    assert mine_triplets(x, y, mining="semihard", margin=0.0)[0].numel() == 0


@pytest.mark.parametrize("mining", E.MININGS)
@pytest.mark.parametrize("soft", [False, True])
def test_batch_triplet_edges(mining: str, soft: bool) -> None:
    cases = [
        (torch.randn(0, 3), torch.zeros(0, dtype=torch.long)),  # empty
        (torch.randn(1, 3), torch.zeros(1, dtype=torch.long)),  # one sample
        (torch.randn(5, 3), torch.zeros(5, dtype=torch.long)),  # one class: no negative
        (torch.randn(5, 3), torch.arange(5)),  # all distinct: no positive
        (torch.zeros(4, 3), torch.tensor([0, 0, 1, 1])),  # identical embeddings
    ]
    for x, y in cases:
        x.requires_grad_(True)
        for reduction in ("mean", "sum", "none"):
            out = batch_triplet_loss(x, y, mining=mining, soft=soft, reduction=reduction)
            assert torch.isfinite(out).all()
        out = batch_triplet_loss(x, y, mining=mining, soft=soft)
        out.backward()
        assert torch.isfinite(x.grad).all()
        if len(x) < 4 or len(set(y.tolist())) in (1, len(x)):
            assert out.item() == 0.0


@pytest.mark.parametrize("mining", E.MININGS)
def test_batch_triplet_none_permutes_with_the_batch(mining: str) -> None:
    x, y = _batch(12, 4, 3, seed=14)
    perm = torch.randperm(12, generator=gen(15))
    for soft in (False, True):
        out = batch_triplet_loss(x, y, mining=mining, soft=soft, reduction="none")
        torch.testing.assert_close(
            batch_triplet_loss(x[perm], y[perm], mining=mining, soft=soft, reduction="none"),
            out[perm],
        )


def test_cosine_equals_half_squared_euclidean_on_unit_vectors() -> None:
    # the study notes (vector geometry): ||a - b||^2 = 2 - 2 cos = 2 (1 - cos) for unit vectors
    x, y = _batch(16, 5, 4, seed=16)
    xn = TF.normalize(x, dim=1)
    for mining in E.MININGS:
        cos = batch_triplet_loss(
            xn, y, margin=0.2, mining=mining, distance="cosine", reduction="sum"
        )
        sq = batch_triplet_loss(xn, y, margin=0.4, mining=mining, squared=True, reduction="sum")
        torch.testing.assert_close(sq, 2 * cos)


def test_mine_triplets_match_naive_and_feed_the_loss() -> None:
    x, y = _batch(14, 4, 3, seed=17)
    dm = torch.cdist(x, x)
    for mining in E.MININGS:
        a, p, n = mine_triplets(x, y, mining=mining, margin=1.0)
        got = set(zip(a.tolist(), p.tolist(), n.tolist(), strict=True))
        want = set()
        for i in range(14):
            ps = [j for j in range(14) if j != i and y[j] == y[i]]
            ns = [j for j in range(14) if y[j] != y[i]]
            if mining == "hard" and ps and ns:
                want.add((i, max(ps, key=lambda j: dm[i, j]), min(ns, key=lambda j: dm[i, j])))
            elif mining != "hard":
                want |= {
                    (i, pj, nj)
                    for pj in ps
                    for nj in ns
                    if mining == "all" or dm[i, pj] < dm[i, nj] < dm[i, pj] + 1.0
                }
        assert got == want
        assert (a[1:] >= a[:-1]).all()  # sorted by anchor
        # the loss over exactly these triplets
        explicit = triplet_loss(x[a], x[p], x[n], margin=1.0, reduction="sum")
        torch.testing.assert_close(
            batch_triplet_loss(x, y, margin=1.0, mining=mining, reduction="sum"), explicit
        )


class _MaxNumel(TorchDispatchMode):
    """Records the largest tensor any op produces."""

    def __init__(self) -> None:
        super().__init__()
        self.max = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.max = max(self.max, t.numel())
        return out


@pytest.mark.parametrize("mining", E.MININGS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_no_cubic_tensor_forward_or_backward(mining: str, dtype: torch.dtype) -> None:
    # pytorch-metric-learning builds a B x B x B mask; losskit's hinge losses stay at B x B
    b = 96
    x, y = _batch(b, 8, 24, seed=18, dtype=dtype)
    x.requires_grad_(True)
    with _MaxNumel() as rec:
        batch_triplet_loss(x, y, margin=0.5, mining=mining).backward()
    assert rec.max <= b * b, f"{mining}: an op produced {rec.max} elements (B^2 = {b * b})"


def test_soft_margin_blocks_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # the soft variant visits every triplet, but in anchor blocks of at most _CHUNK_ELEMENTS
    monkeypatch.setattr(E, "_CHUNK_ELEMENTS", 4 * 40 * 40)
    b = 40
    x, y = _batch(b, 6, 8, seed=19)
    x.requires_grad_(True)
    ref = naive_batch_triplet(x, y, margin=0.5, mining="all", soft=True)[1]
    with _MaxNumel() as rec:
        out = batch_triplet_loss(x, y, margin=0.5, mining="all", soft=True)
        out.backward()
    assert rec.max <= 4 * b * b
    torch.testing.assert_close(out, ref)


@pytest.mark.slow
def test_batch_of_4096_runs() -> None:
    # a B x B x B mask would be 68.7 G entries; losskit needs a few B x B matrices
    b = 4096
    x, y = _batch(b, 32, 1024, seed=20, dtype=torch.float32)
    x.requires_grad_(True)
    for mining in E.MININGS:
        x.grad = None
        out = batch_triplet_loss(x, y, margin=0.5, mining=mining)
        out.backward()
        assert torch.isfinite(out) and out.item() > 0 and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("mining", E.MININGS)
@pytest.mark.parametrize("soft", [False, True])
def test_compile_fullgraph_every_mining(mining: str, soft: bool) -> None:
    torch._dynamo.reset()
    x, y = _batch(9, 4, 3, seed=21, dtype=torch.float32)

    def f(t: torch.Tensor) -> torch.Tensor:
        return batch_triplet_loss(t, y, mining=mining, soft=soft, mean_over="active")

    compiled = torch.compile(f, backend="aot_eager", fullgraph=True)
    xc, xe = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    oc, oe = compiled(xc), f(xe)
    oc.backward()
    oe.backward()
    torch.testing.assert_close(oc, oe)
    torch.testing.assert_close(xc.grad, xe.grad)


# --------------------------------------------------------------------------- PML parity


def _tie_free(
    b: int = 40, d: int = 8, classes: int = 6, seed: int = 30
) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _batch(b, d, classes, seed=seed)
    i, j = torch.triu_indices(b, b, 1)
    gaps = torch.cdist(x, x)[i, j].sort().values.diff()
    assert gaps.min() > 1e-9  # every pair distance distinct, far above rounding: no ties
    return x, y


def _pml_dist(**kw):
    return pml_distances.LpDistance(normalize_embeddings=False, **kw)


def test_pml_batch_all_parity() -> None:
    x, y = _tie_free()
    pml = pml_losses.TripletMarginLoss(margin=0.3, distance=_pml_dist())  # AvgNonZeroReducer
    torch.testing.assert_close(batch_triplet_loss(x, y, margin=0.3, mean_over="active"), pml(x, y))
    pml_mean = pml_losses.TripletMarginLoss(
        margin=0.3, distance=_pml_dist(), reducer=pml_reducers.MeanReducer()
    )
    torch.testing.assert_close(
        batch_triplet_loss(x, y, margin=0.3, mean_over="all"), pml_mean(x, y)
    )
    # squared distances = LpDistance(power=2); soft margin = PML's smooth_loss (softplus)
    pml_sq = pml_losses.TripletMarginLoss(margin=0.3, distance=_pml_dist(power=2))
    torch.testing.assert_close(
        batch_triplet_loss(x, y, margin=0.3, squared=True, mean_over="active"), pml_sq(x, y)
    )
    pml_soft = pml_losses.TripletMarginLoss(margin=0.3, distance=_pml_dist(), smooth_loss=True)
    torch.testing.assert_close(
        batch_triplet_loss(x, y, margin=0.3, soft=True, mean_over="active"), pml_soft(x, y)
    )
    # PML's default distance normalises the embeddings: the same as normalising them first
    torch.testing.assert_close(
        batch_triplet_loss(TF.normalize(x, dim=1), y, margin=0.05, mean_over="active"),
        pml_losses.TripletMarginLoss()(x, y),
    )
    # cosine: PML's CosineSimilarity is a similarity (s_an - s_ap + m = d_ap - d_an + m)
    pml_cos = pml_losses.TripletMarginLoss(margin=0.1, distance=pml_distances.CosineSimilarity())
    torch.testing.assert_close(
        batch_triplet_loss(x, y, margin=0.1, distance="cosine", mean_over="active"), pml_cos(x, y)
    )


def test_pml_batch_hard_miner_parity() -> None:
    x, y = _tie_free()
    a, p, n = pml_miners.BatchHardMiner(distance=_pml_dist())(x, y)
    ours = mine_triplets(x, y, mining="hard")
    assert torch.equal(torch.stack(ours), torch.stack((a, p, n)))  # same triplets, same order
    pml = pml_losses.TripletMarginLoss(margin=0.4, distance=_pml_dist())
    torch.testing.assert_close(
        batch_triplet_loss(x, y, margin=0.4, mining="hard", mean_over="active"),
        pml(x, y, (a, p, n)),
    )
    pml_mean = pml_losses.TripletMarginLoss(
        margin=0.4, distance=_pml_dist(), reducer=pml_reducers.MeanReducer()
    )
    torch.testing.assert_close(
        batch_triplet_loss(x, y, margin=0.4, mining="hard"), pml_mean(x, y, (a, p, n))
    )


def test_pml_semihard_miner_parity() -> None:
    x, y = _tie_free()
    miner = pml_miners.TripletMarginMiner(
        margin=0.6, type_of_triplets="semihard", distance=_pml_dist()
    )
    a, p, n = miner(x, y)
    ours = mine_triplets(x, y, mining="semihard", margin=0.6)
    # PML lists triplets in anchor, positive, negative order as well
    assert torch.equal(torch.stack(ours), torch.stack((a, p, n)))
    assert len(a) > 0
    # Deliberate difference: PML's window is 0 < d_an - d_ap <= margin, losskit's
    # d_ap < d_an < d_ap + margin; they differ only for a negative exactly at d_ap + margin,
    # whose loss is 0, which tie-free data does not have.
    pml_mean = pml_losses.TripletMarginLoss(
        margin=0.6, distance=_pml_dist(), reducer=pml_reducers.MeanReducer()
    )
    torch.testing.assert_close(
        batch_triplet_loss(x, y, margin=0.6, mining="semihard"), pml_mean(x, y, (a, p, n))
    )


def test_pml_contrastive_is_a_different_loss() -> None:
    """PML's ContrastiveLoss hinges the unsquared distance: pos ``[d - m_pos]_+``, neg
    ``[m_neg - d]_+``; DeepID2 squares: ``d^2 / 2`` and ``[m - d]_+^2 / 2``.

    The configuration where they agree: same pairs with ``LpDistance(power=2)`` and
    ``pos_margin=0`` (PML's pair loss is ``d^2``, exactly twice DeepID2's). On different pairs
    no setting agrees; DeepID2's term is half the square of PML's hinge with ``power=1``, so
    the two select the same active pairs but weigh them differently.
    """
    x, y = _tie_free(b=20)
    pairs = E._masks(y, None)  # (positive, negative) masks, every sample kept
    per = lambda dist, m_neg: pml_losses.ContrastiveLoss(  # noqa: E731
        pos_margin=0.0, neg_margin=m_neg, distance=dist, reducer=pml_reducers.DoNothingReducer()
    )(x, y)
    out2 = per(_pml_dist(power=2), 4.0)
    pos_idx = out2["pos_loss"]["indices"]
    ours_pos = contrastive_loss(
        x[pos_idx[0]], x[pos_idx[1]], torch.ones(len(pos_idx[0])), reduction="none"
    )
    torch.testing.assert_close(ours_pos, 0.5 * out2["pos_loss"]["losses"])  # agree up to 1/2
    out1 = per(_pml_dist(), 4.0)
    neg_idx = out1["neg_loss"]["indices"]
    hinge = out1["neg_loss"]["losses"]
    ours_neg = contrastive_loss(
        x[neg_idx[0]], x[neg_idx[1]], torch.zeros(len(neg_idx[0])), margin=4.0, reduction="none"
    )
    torch.testing.assert_close(ours_neg, 0.5 * hinge.square())  # squared hinge vs hinge
    assert torch.equal(ours_neg > 0, hinge > 0)  # same active pairs
    assert not torch.allclose(ours_neg, hinge)  # but not the same loss
    assert pairs[0].sum() == len(pos_idx[0])  # PML lists ordered pairs, as E._masks does


# --------------------------------------------------------------------------- exclusion, weights


def test_pair_and_triplet_mask_and_weight() -> None:
    g = gen(50)
    a, p, n = (torch.randn(7, 3, generator=g, dtype=torch.float64) for _ in range(3))
    t = torch.tensor([1, 0, 0, 1, 0, 1, 0])
    keep = torch.tensor([1, 0, 1, 1, 0, 1, 1], dtype=torch.bool)
    w = torch.tensor([1.0, 2.0, 0.0, 0.5, 3.0, 1.0, 2.0], dtype=torch.float64)
    calls = [
        lambda idx, **kw: contrastive_loss(a[idx], p[idx], t[idx], margin=2.0, **kw),
        lambda idx, **kw: triplet_loss(a[idx], p[idx], n[idx], margin=1.5, **kw),
    ]
    everything = torch.arange(7)
    for f in calls:
        for reduction in ("mean", "sum"):
            torch.testing.assert_close(
                f(everything, mask=keep, reduction=reduction), f(keep, reduction=reduction)
            )
        out = f(everything, mask=keep, reduction="none")
        torch.testing.assert_close(out[keep], f(keep, reduction="none"))
        assert (out[~keep] == 0).all()
        per = f(everything, reduction="none")
        torch.testing.assert_close(f(everything, weight=w, reduction="none"), w * per)
        torch.testing.assert_close(f(everything, weight=w), (w * per).sum() / w.sum())


BATCH_LOSSES = [
    pytest.param(
        lambda x, y, **kw: batch_contrastive_loss(x, y, margin=1.5, **kw), id="contrastive"
    ),
    *(
        pytest.param(
            lambda x, y, mining=mining, soft=soft, **kw: batch_triplet_loss(
                x, y, margin=1.0, mining=mining, soft=soft, **kw
            ),
            id=f"triplet-{mining}" + ("-soft" if soft else ""),
        )
        for mining in E.MININGS
        for soft in (False, True)
    ),
]


@pytest.mark.parametrize("loss", BATCH_LOSSES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_batch_losses_mask_leaves_the_sample_out(loss, reduction: str) -> None:
    # an excluded sample is neither anchor nor candidate: the loss of the kept samples alone
    x, y = _batch(12, 4, 3, seed=51)
    x.requires_grad_(True)
    keep = torch.ones(12, dtype=torch.bool)
    keep[[1, 4, 5, 10]] = False
    out = loss(x, y, mask=keep, reduction=reduction)
    alone = loss(x[keep], y[keep], reduction=reduction)
    if reduction == "none":
        torch.testing.assert_close(out[keep], alone)
        assert (out[~keep] == 0).all()
    else:
        torch.testing.assert_close(out, alone)
    # ignore_index is the same exclusion, by label
    torch.testing.assert_close(loss(x, torch.where(keep, y, -100), reduction=reduction), out)
    torch.testing.assert_close(
        loss(x, torch.where(keep, y, 7), ignore_index=7, reduction=reduction), out
    )
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert (grad[~keep] == 0).all()


@pytest.mark.parametrize("loss", BATCH_LOSSES)
def test_batch_losses_sample_weight_scales_each_share(loss) -> None:
    x, y = _batch(12, 4, 3, seed=52)
    w = torch.rand(12, generator=gen(53), dtype=torch.float64) * 2
    per = loss(x, y, reduction="none")
    torch.testing.assert_close(loss(x, y, weight=w, reduction="none"), w * per)
    torch.testing.assert_close(loss(x, y, weight=w, reduction="sum"), (w * per).sum())
    torch.testing.assert_close(loss(x, y, weight=torch.ones(12, dtype=x.dtype)), loss(x, y))


def test_batch_weighted_means_hand_counted() -> None:
    x, y = _batch(10, 3, 3, seed=54)
    w = torch.rand(10, generator=gen(55), dtype=torch.float64) + 0.5
    # batch contrastive: each sample stands for (B - 1) / 2 pairs
    per = batch_contrastive_loss(x, y, reduction="none")
    torch.testing.assert_close(
        batch_contrastive_loss(x, y, weight=w), (w * per).sum() / (w * (10 - 1) / 2).sum()
    )
    # batch-hard: one triplet per anchor that has one (mine_triplets lists them)
    per = batch_triplet_loss(x, y, mining="hard", reduction="none")
    anchors = mine_triplets(x, y, mining="hard")[0]
    torch.testing.assert_close(
        batch_triplet_loss(x, y, mining="hard", weight=w), (w * per).sum() / w[anchors].sum()
    )


def test_mine_triplets_mask_and_ignore_index() -> None:
    x, y = _batch(14, 4, 3, seed=56)
    keep = torch.ones(14, dtype=torch.bool)
    keep[[0, 3, 7, 8]] = False
    kept = keep.nonzero().flatten()
    for mining in E.MININGS:
        got = mine_triplets(x, y, mining=mining, mask=keep)
        want = tuple(kept[t] for t in mine_triplets(x[keep], y[keep], mining=mining))
        for g_, w_ in zip(got, want, strict=True):
            assert torch.equal(g_, w_)
        by_label = mine_triplets(x, torch.where(keep, y, -100), mining=mining)
        for g_, w_ in zip(by_label, want, strict=True):
            assert torch.equal(g_, w_)


# --------------------------------------------------------------------------- modules


def test_modules_validate_and_repr() -> None:
    m = losskit.BatchTripletLoss(margin=0.2, mining="hard", soft=True)
    assert "mining='hard'" in repr(m) and "soft=True" in repr(m)
    with pytest.raises(
        ValueError,
        match="BatchTripletLoss: mining must be one of 'all', 'hard', 'semihard'; got 'easy'",
    ):
        losskit.BatchTripletLoss(mining="easy")
    with pytest.raises(TypeError, match="TripletLoss: squared must be a bool; got int"):
        losskit.TripletLoss(squared=1)
    with pytest.raises(
        ValueError, match="ContrastiveLoss: margin must be a finite number >= 0; got -1"
    ):
        losskit.ContrastiveLoss(margin=-1)
    with pytest.raises(TypeError, match="batch_triplet_loss: soft must be a bool; got str"):
        batch_triplet_loss(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), soft="yes")


def test_mixed_devices_raise() -> None:
    # a second device without a GPU: the "meta" device (shapes only) is enough for the check
    other = "cuda" if torch.cuda.is_available() else "meta"
    with pytest.raises(
        ValueError,
        match="batch_triplet_loss: all tensors must be on one device; got embeddings on cpu",
    ):
        batch_triplet_loss(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long, device=other))


def test_create_builds_the_modules() -> None:
    m = losskit.create("batch_triplet_loss", mining="semihard", margin=0.3)
    assert isinstance(m, losskit.BatchTripletLoss) and m.mining == "semihard"
    x, y = _batch(10, 4, 3)
    torch.testing.assert_close(m(x, y), batch_triplet_loss(x, y, mining="semihard", margin=0.3))


# --------------------------------------------------------------------------- report helpers


def test_report_violation_rate_matches_brute_force() -> None:
    from losskit.report.embedding import feature_stats

    x, y = _batch(30, 2, 4, seed=40)
    dm = torch.cdist(x, x)
    viol = total = 0
    for a in range(30):
        for p in range(30):
            if p == a or y[p] != y[a]:
                continue
            for n in range(30):
                if y[n] != y[a]:
                    total += 1
                    viol += int(dm[a, n] < dm[a, p])
    stats = feature_stats(x, y)
    assert stats.violating_l2 == pytest.approx(viol / total)
    same = y.unsqueeze(1) == y.unsqueeze(0)
    assert stats.min_inter_l2 == pytest.approx(dm[~same].min().item())


def test_report_mining_trace_shapes() -> None:
    pytest.importorskip("sklearn")
    from losskit.report.embedding import mining_study

    trace = mining_study(epochs=1, steps_per_epoch=2)
    assert trace.epochs == [0, 1]
    for values in (trace.random, trace.all, trace.hard, trace.semihard):
        assert len(values) == 2 and all(0.0 <= v <= 1.0 for v in values)
    assert trace.semihard[0] <= trace.all[0] + 1e-12  # semi-hard triplets are active ones


@pytest.mark.slow
def test_report_section_quick(tmp_path) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    from losskit.report._base import ReportContext
    from losskit.report.embedding import section

    sec = section(ReportContext(out_dir=tmp_path, quick=True))
    assert sec.key == "embedding" and len(sec.claims) == 5
    for fig in sec.figures:
        assert (tmp_path / fig.filename).stat().st_size > 0
    # the identity is exact up to rounding whatever the training did
    assert next(c for c in sec.claims if "sqrt(2 - 2 cos)" in c.text).held


@pytest.mark.parametrize("scale", [1e-30, 1e-20, 1.0, 1e15])
def test_contrastive_losses_keep_their_gradient_at_any_scale(scale) -> None:
    # d is an overflow- and underflow-safe norm, squared afterwards: in float32 at 1e-30 the
    # sum of squares would underflow to 0 and the hinge's pull would vanish
    a = torch.randn(6, 4, dtype=torch.float64, generator=gen(1)) * scale
    b = torch.randn(6, 4, dtype=torch.float64, generator=gen(2)) * scale
    y = torch.tensor([1, 0, 1, 0, 0, 1])
    for fn, args in (
        (losskit.contrastive_loss, (a, b, y)),
        (losskit.batch_contrastive_loss, (torch.cat([a, b]), torch.cat([y, y]))),
    ):
        out = []
        for dt in (torch.float32, torch.float64):
            x = args[0].to(dt).requires_grad_()
            loss = fn(x, *[t.to(dt) if t.is_floating_point() else t for t in args[1:]], reduction="sum")
            (g,) = torch.autograd.grad(loss, x)
            out.append(g.double())
        torch.testing.assert_close(out[0], out[1], rtol=1e-3, atol=1e-3 * out[1].abs().max().item())
