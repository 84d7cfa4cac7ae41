"""The contrastive loss's two named formulas (issue 14): DeepID2's halved squared hinges
(``form="deepid2"``, the default) and pytorch-metric-learning's (PML) unsquared hinges with
separate positive and negative margins (``form="hinge"``). Hand-worked values, and float64
parity of ``form="hinge"`` with PML's ``ContrastiveLoss`` in value and gradient, on explicit
pairs and over every pair of a labelled batch; each deliberate difference sits beside its test.
"""

from __future__ import annotations

import pytest
import pytorch_metric_learning.losses as pml_losses  # a test extra: parity must run, never skip
import torch
from pytorch_metric_learning import distances as pml_distances  # noqa: E402
from pytorch_metric_learning import reducers as pml_reducers  # noqa: E402

from losskit import BatchContrastiveLoss, ContrastiveLoss
from losskit.functional import batch_contrastive_loss, contrastive_loss

from ..conftest import gen

F64 = torch.float64


def _batch(b: int, d: int, classes: int, seed: int = 0):
    g = gen(seed)
    x = torch.randn(b, d, generator=g, dtype=F64)
    y = (torch.arange(b) % classes)[torch.randperm(b, generator=g)]
    return x, y


def _pml(pos_margin: float, neg_margin: float, reducer, cosine: bool = False):
    dist = (
        pml_distances.CosineSimilarity()
        if cosine
        else pml_distances.LpDistance(normalize_embeddings=False)
    )
    return pml_losses.ContrastiveLoss(
        pos_margin=pos_margin, neg_margin=neg_margin, distance=dist, reducer=reducer
    )


# --------------------------------------------------------------------------- hand-worked


def test_hand_worked_both_forms() -> None:
    # anchors at the origin; partners at distance 5 (same), 0.5 (different), 0.2 (same).
    # pos_margin 0.3, margin 1:
    #   hinge:   [5 - 0.3]_+ = 4.7,  [1 - 0.5]_+ = 0.5,  [0.2 - 0.3]_+ = 0
    #   deepid2: 4.7^2 / 2 = 11.045, 0.5^2 / 2 = 0.125, 0
    a = torch.zeros(3, 2, dtype=F64)
    b = torch.tensor([[3.0, 4.0], [0.3, 0.4], [0.12, 0.16]], dtype=F64)
    t = torch.tensor([1, 0, 1])
    kw = {"margin": 1.0, "pos_margin": 0.3, "reduction": "none"}
    hinge = contrastive_loss(a, b, t, form="hinge", **kw)
    torch.testing.assert_close(hinge, torch.tensor([4.7, 0.5, 0.0], dtype=F64))
    squared = contrastive_loss(a, b, t, **kw)
    torch.testing.assert_close(squared, torch.tensor([11.045, 0.125, 0.0], dtype=F64))
    # pos_margin=0 with the default form is the DeepID2 loss as before: 5^2 / 2 = 12.5
    assert contrastive_loss(a[:1], b[:1], t[:1]).item() == pytest.approx(12.5, rel=1e-15)
    # the module carries both options
    m = ContrastiveLoss(margin=1.0, pos_margin=0.3, form="hinge", reduction="none")
    torch.testing.assert_close(m(a, b, t), hinge)


def test_hand_worked_batch_hinge() -> None:
    # x0 = (0, 0), x1 = (0, 2) (class 0), x2 = (0, 0.5) (class 1); pos_margin 0.5, margin 1.
    # pairs: (0, 1) same, d = 2: 1.5; (0, 2) different, d = 0.5: 0.5; (1, 2) different,
    # d = 1.5: 0. Mean over the 3 pairs: 2 / 3; "none": each pair split between its ends.
    x = torch.tensor([[0.0, 0.0], [0.0, 2.0], [0.0, 0.5]], dtype=F64)
    y = torch.tensor([0, 0, 1])
    kw = {"margin": 1.0, "pos_margin": 0.5, "form": "hinge"}
    assert batch_contrastive_loss(x, y, **kw).item() == pytest.approx(2.0 / 3.0, rel=1e-15)
    torch.testing.assert_close(
        batch_contrastive_loss(x, y, reduction="none", **kw),
        torch.tensor([1.0, 0.75, 0.25], dtype=F64),
    )
    torch.testing.assert_close(BatchContrastiveLoss(**kw)(x, y), batch_contrastive_loss(x, y, **kw))


# --------------------------------------------------------------------------- PML parity


@pytest.mark.parametrize("cosine", [False, True])
@pytest.mark.parametrize(("pos_margin", "margin"), [(0.0, 1.0), (0.4, 1.5)])
def test_pairs_equal_pml(pos_margin: float, margin: float, cosine: bool) -> None:
    # explicit pairs: PML's indices (a1, p, a2, n) into the concatenated embeddings
    g = gen(1)
    a = torch.randn(12, 4, generator=g, dtype=F64)
    b = a + 0.8 * torch.randn(12, 4, generator=g, dtype=F64)
    t = torch.tensor([1, 0] * 6)
    same, diff = t.nonzero().squeeze(1), (t == 0).nonzero().squeeze(1)
    idx = (same, same + 12, diff, diff + 12)
    if cosine:
        # losskit's cosine distance is 1 - cos; PML's CosineSimilarity hinges the similarity:
        # [m_p' - s]_+ = [(1 - s) - (1 - m_p')]_+, so PML's margins are 1 - ours
        peer_margins, dist = (1.0 - pos_margin, 1.0 - margin), "cosine"
    else:
        peer_margins, dist = (pos_margin, margin), "euclidean"
    per_pair = _pml(*peer_margins, pml_reducers.DoNothingReducer(), cosine)(
        torch.cat([a, b]), None, idx
    )
    ours = contrastive_loss(a, b, t, margin=margin, pos_margin=pos_margin, form="hinge",
                            distance=dist, reduction="none")  # fmt: skip
    torch.testing.assert_close(ours[same], per_pair["pos_loss"]["losses"], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours[diff], per_pair["neg_loss"]["losses"], rtol=1e-12, atol=1e-12)
    # gradients through SumReducer = losskit's "sum"
    ao, bo = a.clone().requires_grad_(), b.clone().requires_grad_()
    xp = torch.cat([a, b]).requires_grad_()
    lo = contrastive_loss(ao, bo, t, margin=margin, pos_margin=pos_margin, form="hinge",
                          distance=dist, reduction="sum")  # fmt: skip
    lp = _pml(*peer_margins, pml_reducers.SumReducer(), cosine)(xp, None, idx)
    torch.testing.assert_close(lo, lp, rtol=1e-12, atol=1e-12)
    go = torch.cat(torch.autograd.grad(lo, (ao, bo)))
    (gp,) = torch.autograd.grad(lp, xp)
    torch.testing.assert_close(go, gp, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("pos_margin", "margin"), [(0.0, 4.0), (1.0, 3.5)])
def test_batch_equals_pml(pos_margin: float, margin: float) -> None:
    # PML lists each ordered pair, (i, j) and (j, i): its per-pair terms summed by anchor are
    # twice losskit's per-sample shares, and its SumReducer total twice losskit's "sum".
    x, y = _batch(20, 5, 5, seed=2)
    kw = {"margin": margin, "pos_margin": pos_margin, "form": "hinge"}
    per_pair = _pml(pos_margin, margin, pml_reducers.DoNothingReducer())(x, y)
    by_anchor = torch.zeros(20, dtype=F64)
    for part in ("pos_loss", "neg_loss"):
        by_anchor.index_add_(0, per_pair[part]["indices"][0], per_pair[part]["losses"])
    ours = batch_contrastive_loss(x, y, reduction="none", **kw)
    torch.testing.assert_close(2.0 * ours, by_anchor, rtol=1e-12, atol=1e-12)
    xo, xp = x.clone().requires_grad_(), x.clone().requires_grad_()
    lo = batch_contrastive_loss(xo, y, reduction="sum", **kw)
    lp = _pml(pos_margin, margin, pml_reducers.SumReducer())(xp, y)
    torch.testing.assert_close(2.0 * lo, lp, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        2.0 * torch.autograd.grad(lo, xo)[0], torch.autograd.grad(lp, xp)[0],
        rtol=1e-10, atol=1e-12,
    )  # fmt: skip


def test_mean_differs_from_pml_avg_non_zero() -> None:
    # Deliberate difference: PML's default AvgNonZeroReducer averages the non-zero same-pair
    # terms and the non-zero different-pair terms separately and adds the two means; losskit's
    # "mean" is over all pairs. Rebuilt from the per-pair terms, PML's default is reproduced.
    x, y = _batch(16, 4, 4, seed=3)
    kw = {"margin": 3.0, "pos_margin": 0.5, "form": "hinge"}
    per_pair = _pml(0.5, 3.0, pml_reducers.DoNothingReducer())(x, y)
    pos, neg = per_pair["pos_loss"]["losses"], per_pair["neg_loss"]["losses"]
    rebuilt = pos[pos > 0].mean() + neg[neg > 0].mean()
    default = _pml(0.5, 3.0, pml_reducers.AvgNonZeroReducer())(x, y)
    torch.testing.assert_close(rebuilt, default, rtol=1e-12, atol=1e-12)
    # losskit's mean: every term over the P = 16 * 15 / 2 pairs (PML lists them twice)
    ours = batch_contrastive_loss(x, y, **kw)
    torch.testing.assert_close(ours, (pos.sum() + neg.sum()) / 2 / 120, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(ours, default)
