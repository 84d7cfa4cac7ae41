"""Multi-similarity (with its pair mining) and circle loss (issue 14): hand-worked values,
float64 parity with pytorch-metric-learning (PML) in value and gradient, the chunked path,
the reference set, and the edges. Each deliberate difference from PML sits next to its test.
"""

from __future__ import annotations

import math

import pytest
import pytorch_metric_learning.losses as pml_losses  # a test extra: parity must run, never skip
import torch
from pytorch_metric_learning import miners as pml_miners  # noqa: E402

from losskit.functional import (
    circle_loss,
    generalized_lifted_structure_loss,
    lifted_structure_loss,
    margin_loss,
    multi_similarity_loss,
)
from losskit.functional._embedding_pairs import multi_similarity_pairs

from ..conftest import gen

F64 = torch.float64


def _batch(b: int, d: int, classes: int, seed: int = 0, dtype=F64):
    g = gen(seed)
    x = torch.randn(b, d, generator=g, dtype=dtype)
    y = (torch.arange(b) % classes)[torch.randperm(b, generator=g)]
    return x, y


def _both(ours, peer, x: torch.Tensor, grad_atol: float = 1e-12) -> None:
    """Value and gradient of ``ours(x)`` equal ``peer(x)`` in float64."""
    xo, xp = x.clone().requires_grad_(), x.clone().requires_grad_()
    lo, lp = ours(xo), peer(xp)
    torch.testing.assert_close(lo, lp, rtol=1e-12, atol=1e-12)
    (go,), (gp,) = torch.autograd.grad(lo, xo), torch.autograd.grad(lp, xp)
    torch.testing.assert_close(go, gp, rtol=1e-10, atol=grad_atol)


# --------------------------------------------------------------------------- hand-worked


def test_hand_worked_multi_similarity() -> None:
    # anchor (1, 0); positive at cos 0.6, negative at cos 0.8; a = 2, b = 10, base 0.5:
    # 1/2 log(1 + e^{-2 (0.6 - 0.5)}) + 1/10 log(1 + e^{10 (0.8 - 0.5)})
    x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.8, 0.6]], dtype=F64)
    y = torch.tensor([0, 0, 1])
    got = multi_similarity_loss(x, y, neg_scale=10.0, reduction="none")[0]
    want = 0.5 * math.log1p(math.exp(-0.2)) + 0.1 * math.log1p(math.exp(3.0))
    assert got.item() == pytest.approx(want, rel=1e-12)


def test_hand_worked_mining() -> None:
    # anchor 0: positives at cos 0.9 and 0.2, negatives at cos 0.5 and -0.5, epsilon 0.1.
    # kept positives: s_p - 0.1 < max_n = 0.5 -> only 0.2; kept negatives: s_n + 0.1 >
    # min_p = 0.2 -> only 0.5
    s = torch.tensor([[0.9, 0.2, 0.5, -0.5]], dtype=F64)
    pos = torch.tensor([[True, True, False, False]])
    neg = ~pos
    p, n = multi_similarity_pairs(s, pos, neg, 0.1)
    assert p.tolist() == [[False, True, False, False]]
    assert n.tolist() == [[False, False, True, False]]


def test_hand_worked_circle() -> None:
    # anchor (1, 0): positive at cos 0.6, negative at cos 0.8, m = 0.25, g = 2.
    # a_p = 1.25 - 0.6 = 0.65, logit_p = -2 * 0.65 * (0.6 - 0.75) = 0.195
    # a_n = 0.8 + 0.25 = 1.05, logit_n = 2 * 1.05 * (0.8 - 0.25) = 1.155
    # loss = softplus(0.195 + 1.155) = log(1 + e^1.35)
    x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.8, 0.6]], dtype=F64)
    y = torch.tensor([0, 0, 1])
    got = circle_loss(x, y, margin=0.25, scale=2.0, reduction="none")[0]
    assert got.item() == pytest.approx(math.log1p(math.exp(1.35)), rel=1e-12)


# --------------------------------------------------------------------------- PML parity


@pytest.mark.parametrize(("b", "classes"), [(32, 8), (40, 3), (24, 23)])
def test_multi_similarity_equals_pml(b: int, classes: int) -> None:
    x, y = _batch(b, 12, classes, seed=b)
    for kw in ({}, {"pos_scale": 3.0, "neg_scale": 40.0, "base": 1.0}):
        peer_kw = {"alpha": kw.get("pos_scale", 2.0), "beta": kw.get("neg_scale", 50.0),
                   "base": kw.get("base", 0.5)}  # fmt: skip
        peer = pml_losses.MultiSimilarityLoss(**peer_kw)
        _both(lambda t, kw=kw: multi_similarity_loss(t, y, **kw),
              lambda t, peer=peer: peer(t, y), x)  # fmt: skip


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 0.5])
def test_multi_similarity_mining_equals_pml_miner(epsilon: float) -> None:
    x, y = _batch(36, 10, 6, seed=int(epsilon * 10))
    peer = pml_losses.MultiSimilarityLoss()
    miner = pml_miners.MultiSimilarityMiner(epsilon=epsilon)
    # PML mines without gradient (the pairs are indices); losskit's mining is detached too
    _both(
        lambda t: multi_similarity_loss(t, y, mining_margin=epsilon),
        lambda t: peer(t, y, miner(t, y)),
        x,
    )
    for chunk in (5, 36):  # the chunked path mines the same pairs
        got = multi_similarity_loss(x, y, mining_margin=epsilon, chunk_size=chunk)
        torch.testing.assert_close(got, peer(x, y, miner(x, y)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("margin", "scale"), [(0.4, 80.0), (0.25, 16.0)])
def test_circle_equals_pml(margin: float, scale: float) -> None:
    x, y = _batch(30, 8, 5, seed=int(scale))
    peer = pml_losses.CircleLoss(m=margin, gamma=scale)
    # the paper's (and PML's) gradient detaches the weights: grad_mode="straight_through".
    # PML's torch.nn.Softplus returns x itself above x = 20 (gradient exactly 1 instead of
    # sigmoid(x) = 1 - e^-x): anchors with a loss just above 20 differ by up to e^-20 = 2e-9
    # in their gradient's factor; losskit's softplus is exact (it agrees with the formula
    # written out per anchor to 2e-16)
    _both(
        lambda t: circle_loss(t, y, margin=margin, scale=scale, grad_mode="straight_through"),
        lambda t: peer(t, y),
        x,
        grad_atol=1e-9,
    )
    # grad_mode="exact" (the default): the same value, the gradient of the formula as written
    exact = circle_loss(x, y, margin=margin, scale=scale)
    torch.testing.assert_close(exact, peer(x, y), rtol=1e-12, atol=1e-12)


def test_circle_exact_gradient_is_the_formulas() -> None:
    x, y = _batch(6, 3, 2, seed=3)
    x.requires_grad_()
    assert torch.autograd.gradcheck(lambda t: circle_loss(t, y, scale=4.0), (x,))


def test_reference_set_equals_pml() -> None:
    x, y = _batch(20, 6, 5, seed=4)
    r, ry = _batch(28, 6, 5, seed=5)
    for ours, peer in (
        (lambda t: multi_similarity_loss(t, y, r, ry), pml_losses.MultiSimilarityLoss()),
        (lambda t: circle_loss(t, y, r, ry, grad_mode="straight_through"),
         pml_losses.CircleLoss()),
    ):  # fmt: skip
        _both(ours, lambda t, peer=peer: peer(t, y, ref_emb=r, ref_labels=ry), x)


# --------------------------------------------------------------------------- chunked


@pytest.mark.parametrize("fn", [multi_similarity_loss, circle_loss])
def test_chunked_equals_dense(fn) -> None:
    x, y = _batch(21, 5, 4, seed=6)
    mask = torch.rand(21, generator=gen(7)) > 0.25
    for kw in ({}, {"mask": mask}, {"reduction": "none"}):
        xd, xc = x.clone().requires_grad_(), x.clone().requires_grad_()
        dense, chunked = fn(xd, y, **kw), fn(xc, y, chunk_size=4, **kw)
        torch.testing.assert_close(chunked, dense, rtol=1e-12, atol=1e-12)
        (gd,), (gc,) = torch.autograd.grad(dense.sum(), xd), torch.autograd.grad(chunked.sum(), xc)
        torch.testing.assert_close(gc, gd, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- edges


@pytest.mark.parametrize("fn", [multi_similarity_loss, circle_loss])
def test_edges_are_finite(fn) -> None:
    cases = {
        "B = 1": (torch.randn(1, 4, dtype=F64), torch.tensor([0])),
        "no positive pair": (torch.randn(4, 4, dtype=F64), torch.arange(4)),
        "all labels equal": (torch.randn(4, 4, dtype=F64), torch.zeros(4, dtype=torch.long)),
        "identical embeddings": (torch.ones(4, 4, dtype=F64), torch.tensor([0, 0, 1, 1])),
        "zero vectors": (torch.zeros(4, 4, dtype=F64), torch.tensor([0, 0, 1, 1])),
    }
    for name, (x, y) in cases.items():
        for kw in ({}, {"chunk_size": 2}, {"ref_embeddings": x.clone(), "ref_labels": y}):
            xg = x.clone().requires_grad_()
            out = fn(xg, y, **kw)
            (g,) = torch.autograd.grad(out, xg)
            assert torch.isfinite(out) and torch.isfinite(g).all(), (name, kw)


def test_circle_without_pairs_is_zero_with_a_gradient() -> None:
    # no anchor has a positive: PML returns 0 (no anchor in its non-zero mean); losskit too
    x = torch.randn(4, 3, dtype=F64, requires_grad=True)
    out = circle_loss(x, torch.arange(4))
    assert out.item() == 0.0 and out.requires_grad
    assert pml_losses.CircleLoss()(x, torch.arange(4)).item() == 0.0


# --------------------------------------------------------------------------- margin loss


def test_hand_worked_margin_loss() -> None:
    # unit embeddings: x0 = x1 = (1, 0) (class 0), x2 = (0.6, 0.8) (class 1); boundary 1,
    # margin 0.5. d01 = 0, d02 = d12 = sqrt(0.8) = 0.894.
    # anchor 0: positive term [0 - 1 + 0.5]_+ = 0 (x |N| = 1); negative [1 - 0.894 + 0.5]_+
    # = 0.606 (x |P| = 1); anchor 2 has no positive: no triplet
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.6, 0.8]], dtype=F64)
    y = torch.tensor([0, 0, 1])
    none = margin_loss(x, y, 1.0, margin=0.5, reduction="none")
    want = 1.5 - math.sqrt(0.8)
    torch.testing.assert_close(none, torch.tensor([want, want, 0.0], dtype=F64))
    # two active terms: "mean" = (2 * 0.606) / 2
    assert margin_loss(x, y, 1.0, margin=0.5).item() == pytest.approx(want)


@pytest.mark.parametrize(("margin", "boundary"), [(0.2, 1.25), (0.5, 0.875)])
def test_margin_loss_equals_pml(margin: float, boundary: float) -> None:
    # PML keeps beta as a float32 parameter: compare at boundaries float32 holds exactly
    x, y = _batch(30, 8, 5, seed=11)
    peer = pml_losses.MarginLoss(margin=margin, beta=boundary, learn_beta=True).double()
    b = torch.tensor(boundary, dtype=F64, requires_grad=True)
    xo, xp = x.clone().requires_grad_(), x.clone().requires_grad_()
    lo, lp = margin_loss(xo, y, b, margin=margin), peer(xp, y)
    torch.testing.assert_close(lo, lp, rtol=1e-12, atol=1e-12)
    go, gb = torch.autograd.grad(lo, (xo, b))
    gp, gpb = torch.autograd.grad(lp, (xp, peer.beta))
    torch.testing.assert_close(go, gp, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gb, gpb.reshape(()), rtol=1e-10, atol=1e-12)


def test_margin_loss_module_learns_its_boundary() -> None:
    from losskit.nn import MarginLoss

    crit = MarginLoss(boundary=1.2).double()
    assert dict(crit.named_parameters())["boundary"].item() == pytest.approx(1.2)
    x, y = _batch(16, 4, 4, seed=12)
    crit(x, y).backward()
    assert crit.boundary.grad is not None and torch.isfinite(crit.boundary.grad)
    with pytest.raises(ValueError, match=r"^margin_loss: boundary must be a number or a one-element"):
        margin_loss(x, y, torch.ones(2, dtype=F64))
    for xe, ye in ((torch.zeros(4, 4, dtype=F64), torch.tensor([0, 0, 1, 1])),
                   (torch.randn(1, 4, dtype=F64), torch.tensor([0]))):  # fmt: skip
        xg = xe.clone().requires_grad_()
        out = margin_loss(xg, ye, 1.2)
        (g,) = torch.autograd.grad(out, xg)
        assert torch.isfinite(out) and torch.isfinite(g).all()


# --------------------------------------------------------------------------- lifted structure


def test_hand_worked_lifted_structure() -> None:
    # x0 = x1 = (1, 0) (class 0), x2 = (0, 1) (class 1); margin 1, pos_margin 0.
    # pair (0, 1): d = 0, negatives: x2 for both ends at d = sqrt(2):
    # J = log(e^{1 - sqrt 2} + e^{1 - sqrt 2}) = log 2 + 1 - sqrt 2; loss J^2 / 2 for each of
    # the two ordered pairs; "mean" over the 2 ordered pairs
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=F64)
    y = torch.tensor([0, 0, 1])
    j = math.log(2) + 1 - math.sqrt(2)
    assert lifted_structure_loss(x, y).item() == pytest.approx(j * j / 2, rel=1e-12)
    # generalized, margin 2: anchors 0 and 1: [0 + 2 - sqrt 2]_+; anchor 2 has no positive
    got = generalized_lifted_structure_loss(x, y, margin=2.0, reduction="none")
    torch.testing.assert_close(got, torch.tensor([2 - math.sqrt(2)] * 2 + [0.0], dtype=F64))


@pytest.mark.parametrize(("margin", "pos_margin"), [(1.0, 0.0), (0.7, 0.2)])
def test_lifted_structure_equals_pml(margin: float, pos_margin: float) -> None:
    x, _ = _batch(32, 8, 8, seed=13)
    y = torch.arange(32) % 8  # every anchor has a positive and a negative
    for ours, peer in (
        (lifted_structure_loss, pml_losses.LiftedStructureLoss(margin, pos_margin)),
        (generalized_lifted_structure_loss,
         pml_losses.GeneralizedLiftedStructureLoss(margin, pos_margin)),
    ):  # fmt: skip
        _both(lambda t, ours=ours: ours(t, y, margin=margin, pos_margin=pos_margin),
              lambda t, peer=peer: peer(t, y), x)  # fmt: skip


def test_generalized_lifted_anchor_without_positive_leaves_the_mean() -> None:
    # deliberate difference: PML's masked log-sum-exp reads 0 for an anchor with no positive,
    # so it scores [LSE_n (margin - d_an)]_+ alone and counts it; losskit gives it no term
    x, _ = _batch(9, 4, 3, seed=14)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 3, 4, 5])
    none = generalized_lifted_structure_loss(x, y, reduction="none")
    assert (none[6:] == 0).all()
    torch.testing.assert_close(generalized_lifted_structure_loss(x, y), none[:6].mean())


@pytest.mark.parametrize("chunk", [2, 5])
def test_generalized_lifted_chunked_and_reference(chunk: int) -> None:
    x, y = _batch(17, 5, 4, seed=15)
    r, ry = _batch(9, 5, 4, seed=16)
    for extra in ((), (r, ry)):
        xd, xc = x.clone().requires_grad_(), x.clone().requires_grad_()
        dense = generalized_lifted_structure_loss(xd, y, *extra)
        chunked = generalized_lifted_structure_loss(xc, y, *extra, chunk_size=chunk)
        torch.testing.assert_close(chunked, dense, rtol=1e-12, atol=1e-12)
        (gd,), (gc,) = torch.autograd.grad(dense, xd), torch.autograd.grad(chunked, xc)
        torch.testing.assert_close(gc, gd, rtol=1e-10, atol=1e-12)
    peer = pml_losses.GeneralizedLiftedStructureLoss()
    y2 = torch.arange(17) % 4
    ry2 = torch.arange(9) % 4
    _both(lambda t: generalized_lifted_structure_loss(t, y2, r, ry2),
          lambda t: peer(t, y2, ref_emb=r, ref_labels=ry2), x)  # fmt: skip
