"""Long-tail losses: class-balanced weights, LDAM (with deferred re-weighting), Seesaw and
the equalization loss v2 (EQLv2).

The official LDAM-DRW code, mmdetection's ``seesaw_ce_loss`` and the EQLv2 authors' code
(mmdetection-based) are not installed: their formulas are written out below as naive
references and each loss must equal them in float64.
"""

from __future__ import annotations

import io
import math

import pytest
import torch
import torch.nn.functional as TF

import losskit
from losskit import EQLv2Loss, class_balanced_weights, eqlv2_loss, ldam_loss, seesaw_loss

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


# ------------------------------------------------------------------ EQLv2


def paper_eqlv2(z, labels, pos_acc, neg_acc, gamma=12.0, mu=0.8, alpha=4.0):
    """The EQLv2 paper's equations, element by element in plain autograd (float64), and the
    batch's re-weighted gradient magnitudes (the paper's accumulation, the code's sums).

    f(x) = 1 / (1 + exp(-gamma (x - mu))), g_j = acc. positive / acc. negative gradient,
    r_j = f(g_j), q_j = 1 + alpha (1 - r_j); before anything is accumulated the weights are
    1 (the code's first iteration). The loss is sum_j [q_j y_j (-log p_j) + r_j (1 - y_j)
    (-log(1 - p_j))] per sample, averaged over the samples; the gradients of a positive and
    a negative are q_j (p_j - 1) and r_j p_j.
    """
    n, c = z.shape
    q, r = [], []
    for j in range(c):
        if float(neg_acc[j]) == 0.0:
            q.append(torch.ones((), dtype=z.dtype))
            r.append(torch.ones((), dtype=z.dtype))
            continue
        g = pos_acc[j] / neg_acc[j]
        f = 1.0 / (1.0 + torch.exp(-gamma * (g - mu)))
        r.append(f)
        q.append(1.0 + alpha * (1.0 - f))
    total = torch.zeros((), dtype=z.dtype)
    pos_step = torch.zeros(c, dtype=z.dtype)
    neg_step = torch.zeros(c, dtype=z.dtype)
    for i in range(n):
        for j in range(c):
            p = 1.0 / (1.0 + torch.exp(-z[i, j]))
            pv, qv, rv = float(p.detach()), float(q[j].detach()), float(r[j].detach())
            if int(labels[i]) == j:
                total = total - q[j] * torch.log(p)
                pos_step[j] += qv * abs(pv - 1.0)
            else:
                total = total - r[j] * torch.log(1.0 - p)
                neg_step[j] += rv * pv
    return total / n, pos_step, neg_step


def test_eqlv2_hand_worked() -> None:
    z = torch.zeros(1, 2, dtype=F64)
    y = torch.tensor([1])
    # nothing accumulated: weights 1, two BCE terms of ln 2
    torch.testing.assert_close(eqlv2_loss(z, y), torch.tensor(2 * math.log(2), dtype=F64))
    # pos = (1, 0.5), neg = (1, 5): g = (1, 0.1);
    # r_0 = f(1) = 1 / (1 + e^{-12 * 0.2}) = 1 / (1 + e^{-2.4}) = 0.916827 (class 0 is a negative)
    # r_1 = f(0.1) = 1 / (1 + e^{8.4}) = 2.2482e-4, q_1 = 1 + 4 (1 - r_1) = 4.999101 (the target)
    # loss = ln 2 (r_0 + q_1) = 0.693147 * 5.915928 = 4.100609
    pos, neg = torch.tensor([1.0, 0.5], dtype=F64), torch.tensor([1.0, 5.0], dtype=F64)
    r0 = 1 / (1 + math.exp(-2.4))
    q1 = 1 + 4 * (1 - 1 / (1 + math.exp(8.4)))
    got = eqlv2_loss(z, y, pos_grad=pos, neg_grad=neg)
    torch.testing.assert_close(got, torch.tensor(math.log(2) * (r0 + q1), dtype=F64))
    assert abs(float(got) - 4.100609) < 1e-6
    # the gradient at z = 0 (p = 1/2): negative r_0 / 2, positive q_1 (1/2 - 1)
    zz = z.clone().requires_grad_()
    eqlv2_loss(zz, y, pos_grad=pos, neg_grad=neg).backward()
    torch.testing.assert_close(zz.grad, torch.tensor([[r0 / 2, -q1 / 2]], dtype=F64))
    # the module accumulates q |p - 1| = 1/2 for the positive, r p = 1/2 for the negative
    crit = EQLv2Loss(dtype=F64)
    crit(z, y)
    assert crit.pos_grad.tolist() == [0.0, 0.5] and crit.neg_grad.tolist() == [0.5, 0.0]
    # the paper's defaults: f(mu) = 1/2, so a class at g = 0.8 has r = 1/2 and q = 3
    out = eqlv2_loss(z, torch.tensor([0]), pos_grad=torch.tensor([0.8, 0.8], dtype=F64),
                     neg_grad=torch.tensor([1.0, 1.0], dtype=F64))  # fmt: skip
    torch.testing.assert_close(out, torch.tensor(math.log(2) * (3.0 + 0.5), dtype=F64))


def test_eqlv2_equals_the_papers_equations_over_training_steps() -> None:
    """Five training steps of the module against the paper's equations: the loss, its
    gradient and the accumulated statistics (the weights of a step use the statistics of
    the steps before it)."""
    c = 5
    crit = EQLv2Loss(dtype=F64)
    pos_acc, neg_acc = torch.zeros(c, dtype=F64), torch.zeros(c, dtype=F64)
    g = _gen(7)
    for step in range(5):
        x = torch.randn(12, c, generator=g, dtype=F64) * 2
        # a long tail: class 0 most of the batch, class 4 rarely
        y = torch.multinomial(torch.tensor([0.5, 0.25, 0.15, 0.08, 0.02]), 12, True, generator=g)
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        ours = crit(a, y)
        ref, pos_step, neg_step = paper_eqlv2(b, y, pos_acc, neg_acc)
        assert (ours - ref).abs() < 1e-12, step
        ga, gb = torch.autograd.grad(ours, a)[0], torch.autograd.grad(ref, b)[0]
        assert (ga - gb).abs().max() < 1e-12, step
        pos_acc, neg_acc = pos_acc + pos_step, neg_acc + neg_step
        assert (crit.pos_grad - pos_acc).abs().max() < 1e-12, step
        assert (crit.neg_grad - neg_acc).abs().max() < 1e-12, step
        # the function form with the statistics given explicitly is the same loss
        torch.testing.assert_close(
            eqlv2_loss(x, y, pos_grad=pos_acc - pos_step, neg_grad=neg_acc - neg_step), ours
        )
    # the tail classes' ratio is below the head's: their negatives are down-weighted
    ratio = crit.pos_grad / crit.neg_grad
    assert ratio[0] > ratio[4]


def test_eqlv2_gradcheck_logits_and_statistics() -> None:
    x = torch.randn(4, 3, 2, generator=_gen(8), dtype=F64).requires_grad_()
    y = torch.randint(0, 3, (4, 2), generator=_gen(9))
    y[0, 0] = -100
    pos = torch.tensor([4.0, 2.0, 0.5], dtype=F64, requires_grad=True)
    neg = torch.tensor([5.0, 4.0, 3.0], dtype=F64, requires_grad=True)
    w = torch.rand(4, 2, generator=_gen(10), dtype=F64).add(0.5).requires_grad_()
    # a smaller slope keeps f away from saturation, so every argument's gradient is sizeable
    assert torch.autograd.gradcheck(
        lambda a, p, n, ww: eqlv2_loss(a, y, pos_grad=p, neg_grad=n, weight=ww, ratio_slope=3.0),
        (x, pos, neg, w),
    )
    assert torch.autograd.gradgradcheck(
        lambda a, p, n: eqlv2_loss(a, y, pos_grad=p, neg_grad=n, ratio_slope=3.0), (x, pos, neg)
    )


def test_eqlv2_statistics_update_in_training_mode_only() -> None:
    x = torch.randn(6, 4, generator=_gen(11))
    y = torch.tensor([0, 0, 1, 2, 0, 3])
    crit = EQLv2Loss()
    assert crit.pos_grad.numel() == 0  # nothing accumulated, sized by the first call
    crit.eval()
    first = crit(x, y)
    assert crit.pos_grad.numel() == 0 and crit.neg_grad.numel() == 0
    crit.train()
    assert torch.equal(crit(x, y), first)  # the first step still has weights 1
    pos, neg = crit.pos_grad.clone(), crit.neg_grad.clone()
    assert pos.shape == (4,) and (pos > 0).all() and (neg > 0).all()
    crit.eval()
    frozen = crit(x, y)
    assert torch.equal(crit.pos_grad, pos) and torch.equal(crit.neg_grad, neg)
    assert not torch.equal(frozen, first)  # the statistics re-weight it now
    crit.train()
    crit(x, y)
    assert (crit.pos_grad > pos).all() and (crit.neg_grad > neg).all()
    crit.reset_running_stats()
    assert crit.pos_grad.numel() == 0
    assert torch.equal(crit(x, y), first)


def test_eqlv2_state_dict_round_trip() -> None:
    g = _gen(12)
    crit = EQLv2Loss(ratio_slope=6.0)
    for _ in range(3):
        crit(torch.randn(8, 5, generator=g), torch.randint(0, 5, (8,), generator=g))
    state = crit.state_dict()
    assert set(state) == {"pos_grad", "neg_grad"}
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    fresh = EQLv2Loss(ratio_slope=6.0)  # empty statistics take the saved size
    fresh.load_state_dict(torch.load(buf))
    assert torch.equal(fresh.pos_grad, crit.pos_grad)
    assert torch.equal(fresh.neg_grad, crit.neg_grad)
    x, y = torch.randn(8, 5, generator=g), torch.randint(0, 5, (8,), generator=g)
    torch.testing.assert_close(fresh(x, y), crit(x, y))
    torch.testing.assert_close(fresh.pos_grad, crit.pos_grad)
    # initial statistics given to the constructor, and the module moves them with .to()
    init = EQLv2Loss(pos_grad=crit.pos_grad, neg_grad=crit.neg_grad).eval().to(F64)
    assert init.pos_grad.dtype == F64
    torch.testing.assert_close(init(x.double(), y),
                               eqlv2_loss(x.double(), y, pos_grad=crit.pos_grad.double(),
                                          neg_grad=crit.neg_grad.double()))  # fmt: skip
    with pytest.raises(ValueError, match=r"EQLv2Loss: pos_grad and neg_grad must have the same"):
        EQLv2Loss(pos_grad=torch.zeros(3), neg_grad=torch.zeros(4))
    with pytest.raises(ValueError, match=r"EQLv2Loss: pos_grad must hold finite values >= 0"):
        EQLv2Loss(pos_grad=-torch.ones(3))


def test_eqlv2_left_out_and_weighted_samples() -> None:
    x = torch.randn(6, 4, 3, generator=_gen(13), dtype=F64)
    y = torch.randint(0, 4, (6, 3), generator=_gen(14))
    pos = torch.tensor([3.0, 1.0, 0.2, 0.0], dtype=F64)
    neg = torch.tensor([4.0, 4.0, 4.0, 0.0], dtype=F64)
    # (N, C, d) equals the flattened (N d, C) problem
    flat = eqlv2_loss(x.movedim(1, -1).reshape(-1, 4), y.reshape(-1), pos_grad=pos, neg_grad=neg)
    torch.testing.assert_close(eqlv2_loss(x, y, pos_grad=pos, neg_grad=neg), flat)
    # a left-out position: NaN logits and a void label are never read, and it adds nothing
    # to the statistics
    keep = torch.ones(6, 3, dtype=torch.bool)
    keep[2, 1] = False
    bad_x, bad_y = x.clone(), y.clone()
    bad_x[2, :, 1] = float("nan")
    bad_y[2, 1] = 255
    a, b = EQLv2Loss(dtype=F64), EQLv2Loss(dtype=F64)
    got = a(bad_x, bad_y, mask=keep)
    sub = b(x.movedim(1, -1)[keep], y[keep])
    torch.testing.assert_close(got, sub)
    torch.testing.assert_close(a.pos_grad, b.pos_grad)
    torch.testing.assert_close(a.neg_grad, b.neg_grad)
    # a sample weight of 2 counts as the sample twice, in the loss and in the statistics
    w = torch.ones(6, 3, dtype=F64)
    w[0, 0] = 2.0
    c, d = EQLv2Loss(dtype=F64), EQLv2Loss(dtype=F64)
    xs, ys = x.movedim(1, -1).reshape(-1, 4), y.reshape(-1)
    lw = c(xs, ys, weight=w.reshape(-1))
    ld = d(torch.cat([xs, xs[:1]]), torch.cat([ys, ys[:1]]))
    torch.testing.assert_close(lw, ld)
    torch.testing.assert_close(c.pos_grad, d.pos_grad)
    torch.testing.assert_close(c.neg_grad, d.neg_grad)
    # mmdetection's avg_factor: the sum divided by it
    s = eqlv2_loss(xs, ys, pos_grad=pos, neg_grad=neg, reduction="sum")
    torch.testing.assert_close(eqlv2_loss(xs, ys, pos_grad=pos, neg_grad=neg, avg_factor=7.0),
                               s / 7)  # fmt: skip
    # saturated logits: finite loss and gradient
    big = torch.tensor([[100.0, -100.0, 50.0, -50.0]], requires_grad=True)
    out = eqlv2_loss(big, torch.tensor([1]), pos_grad=pos.float(), neg_grad=neg.float())
    (gb,) = torch.autograd.grad(out, big)
    assert torch.isfinite(out) and torch.isfinite(gb).all()


def _eqlv2_rank(rank: int, world_size: int) -> dict:
    g = _gen(15)
    batches = [(torch.randn(10, 4, generator=g, dtype=F64), torch.randint(0, 4, (10,), generator=g))
               for _ in range(2)]  # fmt: skip
    crit = EQLv2Loss(dtype=F64)
    out = {"loss": [], "pos": [], "neg": []}
    for x, y in batches:
        half = slice(5 * rank, 5 * rank + 5)
        out["loss"].append(crit(x[half], y[half]).detach())
        out["pos"].append(crit.pos_grad.clone())
        out["neg"].append(crit.neg_grad.clone())
    return out


@pytest.mark.distributed
def test_eqlv2_statistics_are_summed_over_ranks() -> None:
    """Two gloo ranks, each with half of every batch: the statistics on each rank equal one
    process's over the whole batches (so the weights agree), and the ranks' mean loss is the
    one-process loss."""
    from tests.distributed.test_distributed import run_ranks

    results = run_ranks(_eqlv2_rank, 2)
    g = _gen(15)
    crit = EQLv2Loss(dtype=F64)
    for step in range(2):
        x, y = torch.randn(10, 4, generator=g, dtype=F64), torch.randint(0, 4, (10,), generator=g)
        want = crit(x, y)
        got = (results[0]["loss"][step] + results[1]["loss"][step]) / 2
        torch.testing.assert_close(got, want.detach(), rtol=1e-12, atol=1e-12)
        for r in results:
            torch.testing.assert_close(r["pos"][step], crit.pos_grad, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(r["neg"][step], crit.neg_grad, rtol=1e-12, atol=1e-12)
