"""N-pair loss (Sohn 2016, issue 14): hand-worked values, float64 parity with
pytorch-metric-learning's (PML) ``NPairsLoss`` in value and gradient (by label, with mined
pairs and triplets, with a left-out sample), the reference set, and the edges. Each deliberate
difference from PML sits next to its test.
"""

from __future__ import annotations

import math

import pytest
import pytorch_metric_learning.losses as pml_losses  # a test extra: parity must run, never skip
import torch
from pytorch_metric_learning import miners as pml_miners  # noqa: E402
from pytorch_metric_learning import regularizers as pml_regularizers  # noqa: E402

from losskit import NPairLoss
from losskit.functional import n_pair_loss

from ..conftest import gen

F64 = torch.float64


def _batch(b: int, d: int, classes: int, seed: int = 0):
    g = gen(seed)
    x = torch.randn(b, d, generator=g, dtype=F64)
    y = (torch.arange(b) % classes)[torch.randperm(b, generator=g)]
    return x, y


def _both(ours, peer, x: torch.Tensor) -> None:
    """Value and gradient of ``ours(x)`` equal ``peer(x)`` in float64."""
    xo, xp = x.clone().requires_grad_(), x.clone().requires_grad_()
    lo, lp = ours(xo), peer(xp)
    torch.testing.assert_close(lo, lp, rtol=1e-12, atol=1e-12)
    (go,) = torch.autograd.grad(lo, xo)
    (gp,) = torch.autograd.grad(lp, xp)
    torch.testing.assert_close(go, gp, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- hand-worked


def test_hand_worked_three_classes() -> None:
    # Classes 0, 1, 2 with pairs (0, 1), (2, 3), (4, 5); sample 6 (class 0) is a third sample
    # of class 0 and takes no part. Unit vectors e1, e2 and e1:
    #   a_0 = x0 = e1, p_0 = x1 = e1; a_1 = x2 = e2, p_1 = x3 = e2; a_2 = x4 = -e1, p_2 = x5 = -e1.
    # Anchor 0's logits over (p_0, p_1, p_2) = (1, 0, -1): l = log(e + 1 + e^-1) - 1.
    # Anchor 1's: (0, 1, 0): l = log(1 + e + 1) - 1. Anchor 2's: (-1, 0, 1): as anchor 0's.
    e1, e2 = [1.0, 0.0], [0.0, 1.0]
    m1 = [-1.0, 0.0]
    x = torch.tensor([e1, e1, e2, e2, m1, m1, e2], dtype=F64)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 0])
    l0 = math.log(math.e + 1.0 + math.exp(-1.0)) - 1.0
    l1 = math.log(2.0 + math.e) - 1.0
    got = n_pair_loss(x, y, reduction="none")
    torch.testing.assert_close(got, torch.tensor([l0, 0, l1, 0, l0, 0, 0], dtype=F64))
    assert n_pair_loss(x, y).item() == pytest.approx((2 * l0 + l1) / 3, rel=1e-14)
    assert n_pair_loss(x, y, reduction="sum").item() == pytest.approx(2 * l0 + l1, rel=1e-14)
    # the module equals the function
    torch.testing.assert_close(NPairLoss()(x, y), n_pair_loss(x, y))


def test_the_first_pair_of_each_class_counts() -> None:
    # Class 0 has samples 0, 2, 3: its pair is (0, 2), the first in row-major order; moving
    # sample 3 (orthogonal to everything of class 0's pair) changes nothing.
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.3, -0.9], [0.0, 1.0]], dtype=F64)
    y = torch.tensor([0, 1, 0, 0, 1])
    base = n_pair_loss(x, y)
    x2 = x.clone()
    x2[3] = torch.tensor([-5.0, 2.0], dtype=F64)
    assert n_pair_loss(x2, y).item() == base.item()
    # anchors 0 and 1, positives 2 and 4: both at cos 1 with their own, 0 with the other
    assert base.item() == pytest.approx(math.log(1.0 + math.exp(-1.0)), rel=1e-14)


# --------------------------------------------------------------------------- PML parity


@pytest.mark.parametrize(("b", "classes"), [(16, 4), (16, 8), (12, 3), (10, 7), (32, 16)])
def test_equals_pml(b: int, classes: int) -> None:
    # PML: the first positive pair of each label (np.unique over the anchors' labels of all
    # positive pairs in row-major order), DotProductSimilarity(normalize_embeddings=True),
    # cross-entropy against arange(N), MeanReducer. (10, 7): some classes have one sample and
    # take no part.
    x, y = _batch(b, 6, classes, seed=b + classes)
    pml = pml_losses.NPairsLoss()
    _both(lambda t: n_pair_loss(t, y), lambda t: pml(t, y), x)
    # the module too
    _both(lambda t: NPairLoss()(t, y), lambda t: pml(t, y), x)


def test_equals_pml_with_mined_pairs_and_triplets() -> None:
    x, y = _batch(24, 6, 6, seed=3)
    pml = pml_losses.NPairsLoss()
    pairs = pml_miners.PairMarginMiner(pos_margin=0.2, neg_margin=0.8)(x, y)
    triplets = pml_miners.TripletMarginMiner(margin=0.5, type_of_triplets="all")(x, y)
    assert len(pairs[0]) and len(triplets[0])
    for idx in (pairs, triplets):
        # the first *listed* pair of each anchor label, as PML takes it
        _both(lambda t, idx=idx: n_pair_loss(t, y, indices=idx),
              lambda t, idx=idx: pml(t, y, idx), x)  # fmt: skip
    # a hand-made list whose order is not row-major: (3, 9) comes before (1, 5) for label 0
    y2 = torch.tensor([0, 0, 1, 0, 1, 0, 2, 2, 1, 0, 2, 1])
    x2, _ = _batch(12, 4, 3, seed=4)
    a1, p = torch.tensor([3, 1, 2, 7, 4]), torch.tensor([9, 5, 8, 6, 11])
    listed = (a1, p, torch.tensor([0]), torch.tensor([2]))
    _both(lambda t: n_pair_loss(t, y2, indices=listed), lambda t: pml(t, y2, listed), x2)


def test_mask_equals_pml_on_the_kept_samples() -> None:
    x, y = _batch(15, 5, 5, seed=6)
    keep = torch.ones(15, dtype=torch.bool)
    keep[[0, 4, 9]] = False
    pml = pml_losses.NPairsLoss()
    _both(lambda t: n_pair_loss(t, y, mask=keep), lambda t: pml(t[keep], y[keep]), x)
    y_ign = torch.where(keep, y, torch.full_like(y, -100))
    _both(lambda t: n_pair_loss(t, y_ign), lambda t: pml(t[keep], y[keep]), x)


def test_l2_regulariser_is_left_to_the_user() -> None:
    # Deliberate difference from the paper (as PML's default): no L2 regulariser of the
    # embeddings. Added by hand it equals PML's NPairsLoss with LpRegularizer(power=2), whose
    # MeanReducer averages ||x||^2 over the whole batch.
    x, y = _batch(16, 5, 4, seed=7)
    lam = 0.002
    pml = pml_losses.NPairsLoss(
        embedding_regularizer=pml_regularizers.LpRegularizer(power=2), embedding_reg_weight=lam
    )
    _both(lambda t: n_pair_loss(t, y) + lam * t.square().sum(1).mean(), lambda t: pml(t, y), x)


def test_reference_set() -> None:
    # PML refuses ref_emb; losskit takes the positives from the reference set: anchor = the
    # first sample of each class present in both, positive = its class's first reference row.
    x, y = _batch(8, 4, 4, seed=8)
    r, yr = _batch(10, 4, 5, seed=9)
    yr = yr - 1  # classes -1..3: class -1 is not in the batch
    xg = x.clone().requires_grad_()
    got = n_pair_loss(xg, y, r, yr, reduction="none")
    xn, rn = torch.nn.functional.normalize(x, dim=1), torch.nn.functional.normalize(r, dim=1)
    anchors, positives = [], []
    for c in sorted(set(y.tolist()) & set(yr.tolist())):
        anchors.append(int((y == c).nonzero()[0]))
        positives.append(int((yr == c).nonzero()[0]))
    s = xn[anchors] @ rn[positives].T
    want = torch.zeros(8, dtype=F64)
    want[anchors] = torch.logsumexp(s, 1) - s.diagonal()
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- edges


def test_edges_are_finite() -> None:
    cases = {
        "B = 1": (torch.randn(1, 4, dtype=F64), torch.tensor([0])),
        "no positive pair": (torch.randn(4, 4, dtype=F64), torch.arange(4)),
        "all labels equal": (torch.randn(4, 4, dtype=F64), torch.zeros(4, dtype=torch.long)),
        "identical embeddings": (torch.ones(4, 4, dtype=F64), torch.tensor([0, 0, 1, 1])),
        "zero vectors": (torch.zeros(4, 4, dtype=F64), torch.tensor([0, 0, 1, 1])),
    }
    for name, (x, y) in cases.items():
        xg = x.clone().requires_grad_()
        out = n_pair_loss(xg, y)
        (g,) = torch.autograd.grad(out, xg)
        assert torch.isfinite(out) and torch.isfinite(g).all(), name
    # no pair, or one class (a 1-way softmax, log 1): 0 with a gradient
    for y in (torch.arange(4), torch.zeros(4, dtype=torch.long)):
        x = torch.randn(4, 4, dtype=F64, requires_grad=True)
        out = n_pair_loss(x, y)
        assert out.item() == 0.0 and out.requires_grad
    # identical embeddings of two classes: every logit 1, log 2 per anchor
    out = n_pair_loss(torch.ones(4, 4, dtype=F64), torch.tensor([0, 0, 1, 1]))
    assert out.item() == pytest.approx(math.log(2.0), rel=1e-14)


def test_half_precision_computes_in_float32() -> None:
    x, y = _batch(16, 5, 4, seed=10)
    got = n_pair_loss(x.to(torch.bfloat16), y)
    assert got.dtype == torch.bfloat16
    want = n_pair_loss(x.to(torch.bfloat16).float(), y)
    torch.testing.assert_close(got.float(), want, rtol=1e-2, atol=1e-2)
