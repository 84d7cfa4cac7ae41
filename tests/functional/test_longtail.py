"""Long-tail losses: class-balanced weights, LDAM (with deferred re-weighting) and Seesaw.

The official LDAM-DRW code and mmdetection's ``seesaw_ce_loss`` are not installed: their
formulas are written out below as naive references and each loss must equal them in float64.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as TF

import losskit
from losskit import class_balanced_weights, ldam_loss, seesaw_loss

F64 = torch.float64


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ class-balanced weights


def test_class_balanced_hand_worked() -> None:
    # beta = 0.9: E_1 = 1, E_2 = 1.9, E_10 = (1 - 0.9^10) / 0.1 = 6.5132; w = 1 / E,
    # normalised to sum to 3
    w = class_balanced_weights(torch.tensor([1, 2, 10]), cb_beta=0.9)
    raw = torch.tensor([1.0, 1 / 1.9, 0.1 / (1 - 0.9**10)], dtype=torch.float64)
    torch.testing.assert_close(w, (raw * 3 / raw.sum()).float())
    # beta = 0: no re-weighting; beta = 1: inverse frequency
    ones = class_balanced_weights(torch.tensor([5.0, 50.0, 500.0]), cb_beta=0.0)
    torch.testing.assert_close(ones, torch.ones(3))
    inv = class_balanced_weights(torch.tensor([5.0, 50.0, 500.0], dtype=F64), cb_beta=1.0)
    want = torch.tensor([1 / 5, 1 / 50, 1 / 500], dtype=F64)
    torch.testing.assert_close(inv, want * 3 / want.sum())


def test_class_balanced_equals_the_papers_formula_and_is_safe_at_zero() -> None:
    counts = torch.tensor([4000, 1200, 300, 40, 7, 1])
    beta = 0.9999
    eff = (1.0 - torch.tensor(beta, dtype=F64) ** counts.to(F64)) / (1.0 - beta)
    ref = 1.0 / eff
    ref = ref / ref.sum() * len(counts)  # Cui et al.'s code: weights / sum * num_classes
    assert (class_balanced_weights(counts.to(F64), cb_beta=beta) - ref).abs().max() < 1e-12
    # a class with no sample: weight 0, the others normalised among themselves
    w = class_balanced_weights(torch.tensor([0.0, 10.0, 10.0]), cb_beta=0.99)
    torch.testing.assert_close(w, torch.tensor([0.0, 1.0, 1.0]))
    assert class_balanced_weights(torch.zeros(3)).tolist() == [0.0, 0.0, 0.0]
    # huge counts: finite (beta^n underflows to 0: E = 1 / (1 - beta))
    assert torch.isfinite(class_balanced_weights(torch.tensor([1e12, 1.0]))).all()


# ------------------------------------------------------------------ LDAM


def official_ldam(x, target, cls_num_list, max_m=0.5, s=30.0, weight=None):
    """The LDAM-DRW repository's LDAMLoss, in torch (float64)."""
    m_list = 1.0 / torch.sqrt(torch.sqrt(cls_num_list.to(F64)))
    m_list = m_list * (max_m / m_list.max())
    index = TF.one_hot(target, x.shape[1]).bool()
    batch_m = m_list[target].view(-1, 1)
    output = torch.where(index, x - batch_m, x)
    return TF.cross_entropy(s * output, target, weight=weight)


@pytest.mark.parametrize("drw", [False, True])
def test_ldam_equals_the_official_code(drw: bool) -> None:
    counts = torch.tensor([5000, 2000, 500, 100, 20])
    x = torch.randn(32, 5, generator=_gen(1), dtype=F64).tanh()  # cosine-like logits
    y = torch.randint(0, 5, (32,), generator=_gen(2))
    cw = class_balanced_weights(counts.to(F64), cb_beta=0.9999) if drw else None
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours = ldam_loss(a, y, counts=counts, class_weight=cw)
    ref = official_ldam(b, y, counts, weight=cw)
    assert (ours - ref).abs() < 1e-12
    ga, gb = torch.autograd.grad(ours, a)[0], torch.autograd.grad(ref, b)[0]
    assert (ga - gb).abs().max() < 1e-12


def test_ldam_margins_and_edges() -> None:
    # the rarest class gets the full margin, a class 16 times more frequent half of it
    counts = torch.tensor([16, 1])
    z = torch.zeros(2, 2, dtype=F64)
    got = ldam_loss(z, torch.tensor([0, 1]), counts=counts, scale=1.0, reduction="none")
    want = torch.tensor([math.log(1 + math.exp(0.25)), math.log(1 + math.exp(0.5))], dtype=F64)
    torch.testing.assert_close(got, want)
    # a count of 0 reads as 1 (the largest margin), not an infinite one
    out = ldam_loss(z, torch.tensor([0, 1]), counts=torch.tensor([0, 100]), scale=1.0,
                    reduction="none")  # fmt: skip
    torch.testing.assert_close(out[0], torch.tensor(math.log(1 + math.exp(0.5)), dtype=F64))
    # saturated logits, the module, ignore_index
    big = torch.tensor([[100.0, -100.0], [-100.0, 100.0]], requires_grad=True)
    loss = losskit.LDAMLoss(counts=counts)(big, torch.tensor([1, -100]))
    (g,) = torch.autograd.grad(loss, big)
    assert torch.isfinite(loss) and torch.isfinite(g).all() and (g[1] == 0).all()


# ------------------------------------------------------------------ Seesaw


def mmdet_seesaw_ce(cls_score, labels, cum_samples, p=0.8, q=2.0, eps=1e-2):
    """mmdetection's seesaw_ce_loss (label_weights 1, reduction 'none')."""
    num_classes = cls_score.shape[1]
    onehot = TF.one_hot(labels, num_classes).to(cls_score)
    seesaw_weights = cls_score.new_ones(onehot.size())
    if p > 0:
        ratio = cum_samples[None, :].clamp(min=1) / cum_samples[:, None].clamp(min=1)
        index = (ratio < 1.0).to(cls_score)
        sample_weights = ratio.pow(p) * index + (1 - index)
        seesaw_weights = seesaw_weights * sample_weights[labels, :]
    if q > 0:
        scores = TF.softmax(cls_score.detach(), dim=1)
        self_scores = scores[torch.arange(len(labels)), labels]
        score_matrix = scores / self_scores[:, None].clamp(min=eps)
        index = (score_matrix > 1.0).to(cls_score)
        seesaw_weights = seesaw_weights * (score_matrix.pow(q) * index + (1 - index))
    cls_score = cls_score + seesaw_weights.log() * (1 - onehot)
    return TF.cross_entropy(cls_score, labels, reduction="none")


@pytest.mark.parametrize("pq", [(0.8, 2.0), (0.8, 0.0), (0.0, 2.0), (1.5, 1.0)])
def test_seesaw_equals_mmdetection(pq: tuple[float, float]) -> None:
    p, q = pq
    counts = torch.tensor([900.0, 300.0, 40.0, 0.0, 6.0], dtype=F64)  # one class not seen yet
    x = torch.randn(40, 5, generator=_gen(3), dtype=F64) * 3
    y = torch.randint(0, 5, (40,), generator=_gen(4))
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours = seesaw_loss(a, y, counts, mitigation_exponent=p, compensation_exponent=q,
                       reduction="none")  # fmt: skip
    ref = mmdet_seesaw_ce(b, y, counts, p, q)
    assert (ours - ref).abs().max() < 1e-12
    ga, gb = torch.autograd.grad(ours.sum(), a)[0], torch.autograd.grad(ref.sum(), b)[0]
    assert (ga - gb).abs().max() < 1e-12
    # mmdetection's detection heads divide by avg_factor
    torch.testing.assert_close(seesaw_loss(x, y, counts, mitigation_exponent=p,
                                           compensation_exponent=q, avg_factor=10),
                               ref.sum() / 10)  # fmt: skip


def test_seesaw_without_factors_is_cross_entropy_and_edges() -> None:
    x = torch.randn(6, 4, 3, generator=_gen(5), dtype=F64)
    y = torch.randint(0, 4, (6, 3), generator=_gen(6))
    counts = torch.tensor([10, 5, 0, 1])
    torch.testing.assert_close(
        seesaw_loss(x, y, counts, mitigation_exponent=0.0, compensation_exponent=0.0),
        TF.cross_entropy(x, y),
    )
    # integer counts of any dtype; logits of +-100
    big = torch.tensor([[100.0, -100.0, 0.0, 0.0]], requires_grad=True)
    out = seesaw_loss(big, torch.tensor([1]), counts.to(torch.int32))
    (g,) = torch.autograd.grad(out, big)
    assert torch.isfinite(out) and torch.isfinite(g).all()
    # the module with counts accumulated by the caller
    counts = torch.zeros(4)
    labels = torch.tensor([0, 0, 1, 3])
    counts += torch.bincount(labels, minlength=4)
    crit = losskit.SeesawLoss()
    torch.testing.assert_close(crit(torch.zeros(4, 4), labels, counts),
                               seesaw_loss(torch.zeros(4, 4), labels, counts))  # fmt: skip


def test_seesaw_mitigation_shrinks_the_tail_negative_gradient() -> None:
    # a head-class sample (1000 seen) pushes a tail class's logit (10 seen) down
    # (10 / 1000)^0.8 = 0.025 times as hard as plain cross-entropy does (at equal logits)
    counts = torch.tensor([1000.0, 10.0], dtype=F64)
    z = torch.zeros(1, 2, dtype=F64, requires_grad=True)
    seesaw_loss(z, torch.tensor([0]), counts, compensation_exponent=0.0).backward()
    z2 = torch.zeros(1, 2, dtype=F64, requires_grad=True)
    TF.cross_entropy(z2, torch.tensor([0])).backward()
    s = 0.01**0.8
    # d/dz_1 of -log(1 / (1 + s e^{z_1 - z_0})) = s / (1 + s) at z = 0; CE's: 1/2
    torch.testing.assert_close(z.grad[0, 1], torch.tensor(s / (1 + s), dtype=F64))
    assert z.grad[0, 1] < 0.06 * z2.grad[0, 1]
