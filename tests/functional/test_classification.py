"""Probability losses: hand-worked values, the claims of the study notes (class imbalance,
the softmax table, the BCE example, the gradient through a sigmoid), parity with torch,
torchvision, MONAI and segmentation_models_pytorch (every deliberate difference written next
to its test), ignore_index / mask semantics, and numerics at the edges. The shared harness
(tests/test_harness.py) adds gradcheck, compile, empty batch, permutation, bad input and half
precision for every registry entry."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as TF

import losskit
from losskit import _workspace as workspace
from losskit import (
    balanced_bce_loss,
    bce_loss,
    focal_loss,
    softmax_cross_entropy,
    softmax_focal_loss,
    weighted_bce_loss,
)
from losskit.functional import classification as C
from losskit.report import classification as R

from ..conftest import assert_compiled_equals_eager, assert_same_in_threads, gen, leave_out

BINARY = [bce_loss, weighted_bce_loss, balanced_bce_loss, focal_loss]
EXTRA = {weighted_bce_loss: {"pos_weight": 3.0}}


@pytest.fixture(autouse=True)
def _one_thread():
    # small convolutions and element-wise kernels on a shared 2-core machine run up to 20x
    # slower with two threads whenever a neighbour holds a core
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _logits(*shape: int, seed: int = 0, scale: float = 2.0, dtype=torch.float64) -> torch.Tensor:
    return (torch.randn(*shape, generator=gen(seed), dtype=dtype) * scale).requires_grad_()


def _binary(*shape: int, seed: int = 1, p: float = 0.3, dtype=torch.float64) -> torch.Tensor:
    return (torch.rand(*shape, generator=gen(seed), dtype=dtype) < p).to(dtype)


def _grad(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    (g,) = torch.autograd.grad(out.sum(), x)
    return g


# ---- hand-worked values and the claims of the study notes ------------------------------------


def test_bce_worked_example() -> None:
    # the study notes' BCE example (corrected): -(ln(1 - .39) + ln .22 + ln .64) / 3 = 0.8182
    p, y = torch.tensor([0.39, 0.22, 0.64]), torch.tensor([0.0, 1.0, 1.0])
    expected = -(math.log(0.61) + math.log(0.22) + math.log(0.64)) / 3
    assert bce_loss(p, y, from_logits=False).item() == pytest.approx(expected, rel=1e-6)
    assert round(expected, 4) == 0.8182
    # the same from the logits of those probabilities
    x = torch.log(p / (1 - p))
    assert bce_loss(x, y).item() == pytest.approx(expected, rel=1e-5)
    assert R.bce_worked_example() == pytest.approx(expected, rel=1e-12)


def test_softmax_table_of_the_seed() -> None:
    # the study notes' softmax table: x / sum x and softmax, to the decimals the notes print
    rows = R.softmax_table()
    assert len(rows) == 4 and all(ok for *_, ok in rows)
    soft = dict((feats, s) for feats, _, s, _ in rows)
    assert [round(v, 2) for v in soft[(2.0, 1.0, 1.0, 1.0)]] == [47.54, 17.49, 17.49, 17.49]
    assert [round(v, 2) for v in soft[(5.0, 1.0, 1.0, 1.0)]] == [94.79, 1.74, 1.74, 1.74]
    assert (
        round(soft[(10.0, 1.0, 1.0, 1.0)][0], 2) == 99.96
        and round(soft[(10.0, 1.0, 1.0, 1.0)][1], 3) == 0.012
    )


def test_softmax_table_check_can_fail() -> None:
    # the table check compares with the study notes' numbers rather than with itself
    saved = dict(R.SEED_SOFTMAX_TABLE)
    try:
        R.SEED_SOFTMAX_TABLE[(2.0, 1.0, 1.0, 1.0)] = (
            (40.0, 20.0, 20.0, 20.0),
            (47.55, 17.49, 17.49, 17.49),
        )
        assert not all(ok for *_, ok in R.softmax_table())
    finally:
        R.SEED_SOFTMAX_TABLE.clear()
        R.SEED_SOFTMAX_TABLE.update(saved)


def test_focal_gamma0_without_alpha_is_bce() -> None:
    x, y = _logits(6, 5), torch.rand(6, 5, generator=gen(2), dtype=torch.float64)
    for r in ("none", "mean", "sum"):
        a, b = focal_loss(x, y, gamma=0.0, alpha=None, reduction=r), bce_loss(x, y, reduction=r)
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(_grad(a, x), _grad(b, x))
    assert R.focal_gamma0_max_diff() < 1e-12


def test_focal_easy_example_costs_100x_less() -> None:
    # gamma = 2: (1 - p_t)^2 = 0.01 at p_t = 0.9; 0.81 at p_t = 0.1
    assert R.focal_ratios(0.9) == pytest.approx(100.0, rel=1e-9)
    assert R.focal_ratios(0.1) == pytest.approx(1 / 0.81, rel=1e-9)
    # a negative example with p = 0.1 (p_t = 0.9) is treated alike
    x = torch.tensor([math.log(0.1 / 0.9)], dtype=torch.float64)
    y = torch.zeros(1, dtype=torch.float64)
    ratio = bce_loss(x, y) / focal_loss(x, y, alpha=None)
    assert ratio.item() == pytest.approx(100.0, rel=1e-9)


def test_ce_gradient_does_not_vanish_l2_does() -> None:
    # the study notes (why CE, not L2): d/dz of (sigma(z) - 1)^2 is 2 (sigma - 1) sigma'(z),
    # -> 0 as z -> -inf; CE's is sigma(z) - 1 -> -1
    z = torch.tensor([-10.0, -5.0, 0.0, 5.0], dtype=torch.float64)
    g_l2, g_ce = R.sigmoid_gradients(z, 1.0)
    s = torch.sigmoid(z)
    torch.testing.assert_close(g_ce, s - 1)
    torch.testing.assert_close(g_l2, 2 * (s - 1) * s * (1 - s))
    assert abs(g_l2[0].item()) < 1e-4 and g_ce[0].item() == pytest.approx(-1.0, abs=1e-4)
    assert abs(g_l2[0]) < abs(g_l2[1]) < abs(g_l2[2])  # L2's gradient fades as the error grows


def test_sigmoid_for_multi_label_softmax_for_exclusive() -> None:
    ss = R.sigmoid_vs_softmax(steps=200)
    assert min(ss.multi_label_sigmoid[:2]) > 0.9 and ss.multi_label_sigmoid[2] < 0.1
    assert max(ss.multi_label_softmax) <= 0.5 + 1e-9  # one unit of mass, split between two labels
    assert ss.exclusive_softmax_sum == pytest.approx(1.0, abs=1e-12)
    assert abs(ss.exclusive_sigmoid_sum - 1.0) > 0.1


def test_class_imbalance_recall_per_loss() -> None:
    # the study notes (class imbalance): with ~1 % foreground, BCE drifts toward
    # all-background; weighted and balanced BCE and focal loss with alpha on the rare class
    # recover the foreground. The paper's alpha = 0.25 (which down-weights positives) does
    # not, on this budget.
    fg, res = R.imbalance_experiment(steps=150, seeds=(0,))
    assert 0.005 < fg < 0.02
    bce = res["BCE"]
    assert bce["recall"] < 0.2 and bce["predicted_fg"] < fg / 2
    for name in (
        "weighted BCE (beta = #neg/#pos)",
        "balanced BCE (HED, per image)",
        "focal, gamma 2, alpha 0.75",
    ):
        assert res[name]["recall"] >= max(0.5, 3 * bce["recall"]), (name, res[name])
    assert res["focal, gamma 2, alpha 0.25 (paper)"]["recall"] < 0.5


# ---- parity: torch -------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_bce_parity_with_torch(reduction: str, device: str) -> None:
    x = _logits(5, 3, 4).detach().to(device).requires_grad_()
    y = torch.rand(5, 3, 4, generator=gen(3), dtype=torch.float64).to(device)
    a = bce_loss(x, y, reduction=reduction)
    b = TF.binary_cross_entropy_with_logits(x, y, reduction=reduction)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(_grad(a, x), _grad(b, x))
    # probabilities away from 0 and 1: torch's binary_cross_entropy
    p = torch.sigmoid(x.detach()).requires_grad_()
    a = bce_loss(p, y, from_logits=False, reduction=reduction)
    b = TF.binary_cross_entropy(p, y, reduction=reduction)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(_grad(a, p), _grad(b, p))


def test_bce_weighted_mean_differs_from_torch() -> None:
    # Deliberate difference: torch's BCE(weight=) "mean" is mean(w * l); losskit's weighted
    # mean is sum(w * l) / sum(w) for every loss. "none" and "sum" agree.
    x, y = _logits(8), _binary(8)
    w = torch.rand(8, generator=gen(4), dtype=torch.float64) * 3
    per = TF.binary_cross_entropy_with_logits(x, y, reduction="none")
    torch.testing.assert_close(bce_loss(x, y, weight=w), (w * per).sum() / w.sum())
    torch.testing.assert_close(
        TF.binary_cross_entropy_with_logits(x, y, weight=w), (w * per).mean()
    )
    torch.testing.assert_close(
        bce_loss(x, y, weight=w, reduction="sum"),
        TF.binary_cross_entropy_with_logits(x, y, weight=w, reduction="sum"),
    )


@pytest.mark.parametrize("pos_weight", [3.0, "per-class"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_weighted_bce_parity_with_torch(pos_weight, reduction: str) -> None:
    x, y = _logits(4, 3, 2, 2), _binary(4, 3, 2, 2)
    pw = (
        torch.tensor([0.5, 2.0, 9.0], dtype=torch.float64).view(3, 1, 1)
        if pos_weight == "per-class"
        else pos_weight
    )
    a = weighted_bce_loss(x, y, pos_weight=pw, reduction=reduction)
    tpw = pw if isinstance(pw, torch.Tensor) else torch.tensor(pw, dtype=torch.float64)
    b = TF.binary_cross_entropy_with_logits(x, y, pos_weight=tpw, reduction=reduction)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(_grad(a, x), _grad(b, x))
    # the probability path computes the same formula
    p = torch.sigmoid(x.detach())
    torch.testing.assert_close(
        weighted_bce_loss(p, y, pos_weight=pw, from_logits=False, reduction=reduction), b.detach()
    )


def test_weighted_bce_seed_formula() -> None:
    # -[beta y log p + (1 - y) log(1 - p)]: beta multiplies the positive term only
    x, y = torch.tensor([0.3, -1.2, 2.0]), torch.tensor([1.0, 0.0, 1.0])
    p = torch.sigmoid(x)
    expected = -(5.0 * y * p.log() + (1 - y) * (1 - p).log())
    torch.testing.assert_close(weighted_bce_loss(x, y, pos_weight=5.0, reduction="none"), expected)


@pytest.mark.parametrize("per_sample", [True, False])
def test_balanced_bce_equals_scaled_bce_with_pos_weight(per_sample: bool) -> None:
    # HED: balanced BCE == (1 - beta) * BCEWithLogits(pos_weight = beta / (1 - beta)),
    # beta = 1 - |Y+| / |Y| per sample (HED's per image) or over the batch
    x, y = _logits(3, 1, 6, 5), _binary(3, 1, 6, 5, p=0.2)
    dims = (1, 2, 3) if per_sample else (0, 1, 2, 3)
    beta = 1 - y.mean(dim=dims, keepdim=True)
    ref = (1 - beta) * TF.binary_cross_entropy_with_logits(
        x, y, pos_weight=beta / (1 - beta), reduction="none"
    )
    ours = balanced_bce_loss(x, y, per_sample=per_sample, reduction="none")
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(_grad(ours, x), _grad(ref, x))
    torch.testing.assert_close(balanced_bce_loss(x, y, per_sample=per_sample), ref.mean())


def test_balanced_bce_fused_path_equals_formula() -> None:
    # the logits path calls torch's fused BCE with pos_weight; a target that needs a gradient
    # takes the explicit formula. Both agree, including an image without positives (beta = 1)
    # and one that is all positive (beta = 0).
    x = _logits(4, 1, 3, 3)
    y = _binary(4, 1, 3, 3, p=0.3)
    y[1] = 0.0
    y[2] = 1.0
    fused = balanced_bce_loss(x, y, reduction="none")
    formula = balanced_bce_loss(x, y.clone().requires_grad_(), reduction="none")
    torch.testing.assert_close(fused, formula)
    torch.testing.assert_close(_grad(fused, x), _grad(formula, x))
    assert (fused[1][y[1] == 0] == 0).all() and (fused[2] == 0).all()


def test_balanced_bce_beta_per_sample_and_constant() -> None:
    # image 0 has 1 positive of 4 (beta = .75), image 1 has none (beta = 1: negatives cost 0)
    x = torch.zeros(2, 4, requires_grad=True)
    y = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], requires_grad=True)
    out = balanced_bce_loss(x, y, reduction="none")
    ln2 = math.log(2)
    torch.testing.assert_close(
        out.detach(), torch.tensor([[0.75, 0.25, 0.25, 0.25], [0.0, 0.0, 0.0, 0.0]]) * ln2
    )
    # beta carries no gradient: d/dy = beta (-log p) - (1 - beta)(-log(1 - p)) = (2 beta - 1) ln 2
    (gy,) = torch.autograd.grad(out.sum(), y)
    torch.testing.assert_close(gy, torch.tensor([[0.5] * 4, [1.0] * 4]) * ln2)
    # batch-level beta: 1 positive of 8
    out_b = balanced_bce_loss(x, y, per_sample=False, reduction="none")
    torch.testing.assert_close(out_b.detach()[0, 0], torch.tensor(7 / 8 * ln2))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("ls", [0.0, 0.2])
def test_softmax_cross_entropy_parity_with_torch_index_targets(
    reduction: str, ls: float, device: str
) -> None:
    x = _logits(7, 5, 3).detach().to(device).requires_grad_()
    y = torch.randint(0, 5, (7, 3), generator=gen(5)).to(device)
    y[0, 0] = y[3, 2] = -100
    w = torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5], dtype=torch.float64, device=device)
    a = softmax_cross_entropy(x, y, class_weight=w, label_smoothing=ls, reduction=reduction)
    b = TF.cross_entropy(x, y, weight=w, label_smoothing=ls, reduction=reduction)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(_grad(a, x), _grad(b, x))
    a = softmax_cross_entropy(x, y.clamp_min(0), ignore_index=2, reduction=reduction)
    b = TF.cross_entropy(x, y.clamp_min(0), ignore_index=2, reduction=reduction)
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_softmax_cross_entropy_probability_targets(reduction: str) -> None:
    x = _logits(6, 4)
    q = torch.rand(6, 4, generator=gen(6), dtype=torch.float64).softmax(1)
    a = softmax_cross_entropy(x, q, label_smoothing=0.1, reduction=reduction)
    b = TF.cross_entropy(x, q, label_smoothing=0.1, reduction=reduction)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(_grad(a, x), _grad(b, x))


def test_softmax_cross_entropy_one_hot_with_class_weight_matches_index_targets() -> None:
    # Deliberate difference: torch divides a class-weighted "mean" by sum(w[y]) for index
    # targets but by N for probability targets, so the same one-hot labels give two values.
    # losskit divides by sum_n sum_c w_c y_nc, which is sum(w[y]) for one-hot targets.
    x = _logits(6, 4)
    y = torch.tensor([0, 1, 3, 3, 2, 1])
    onehot = TF.one_hot(y, 4).double()
    w = torch.tensor([1.0, 2.0, 0.5, 3.0], dtype=torch.float64)
    by_index = softmax_cross_entropy(x, y, class_weight=w)
    by_prob = softmax_cross_entropy(x, onehot, class_weight=w)
    torch.testing.assert_close(by_prob, by_index)
    torch.testing.assert_close(by_index, TF.cross_entropy(x, y, weight=w))
    torch_prob = TF.cross_entropy(x, onehot, weight=w)
    assert not torch.allclose(torch_prob, by_index)
    torch.testing.assert_close(torch_prob * 6 / w[y].sum(), by_index)
    # "sum" agrees with torch either way
    torch.testing.assert_close(
        softmax_cross_entropy(x, onehot, class_weight=w, reduction="sum"),
        TF.cross_entropy(x, onehot, weight=w, reduction="sum"),
    )


def test_softmax_cross_entropy_all_ignored_is_zero_not_nan() -> None:
    # Deliberate difference: torch's mean over no target is NaN (0/0); losskit's is 0 with a grad
    x = _logits(3, 4)
    y = torch.full((3,), -100)
    assert torch.isnan(TF.cross_entropy(x, y))
    out = softmax_cross_entropy(x, y)
    assert out.item() == 0.0
    assert torch.equal(_grad(out, x), torch.zeros_like(x))
    w = torch.ones(4, dtype=torch.float64)
    assert softmax_cross_entropy(x, y, class_weight=w).item() == 0.0


def test_softmax_focal_gamma0_is_cross_entropy() -> None:
    x, y = _logits(5, 4, 3), torch.randint(0, 4, (5, 3), generator=gen(7))
    y[1, 1] = -100
    for r in ("none", "mean", "sum"):
        a, b = softmax_focal_loss(x, y, gamma=0.0, reduction=r), TF.cross_entropy(x, y, reduction=r)
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(_grad(a, x), _grad(b, x))


def test_softmax_focal_hand_value() -> None:
    # p_y = softmax(2,1,1,1)_0 = 0.475367, loss = alpha_y (1 - p_y)^2 (-ln p_y)
    x, y = torch.tensor([[2.0, 1.0, 1.0, 1.0]], dtype=torch.float64), torch.tensor([0])
    p = math.exp(2) / (math.exp(2) + 3 * math.e)
    alpha = torch.tensor([0.4, 0.2, 0.2, 0.2], dtype=torch.float64)
    expected = 0.4 * (1 - p) ** 2 * -math.log(p)
    assert softmax_focal_loss(x, y, alpha=alpha).item() == pytest.approx(expected, rel=1e-12)


# ---- parity: torchvision, MONAI, SMP --------------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize(("alpha", "gamma"), [(0.25, 2.0), (0.6, 1.5), (None, 0.5), (None, 0.0)])
def test_focal_parity_with_torchvision(reduction: str, alpha, gamma: float) -> None:
    from torchvision.ops import sigmoid_focal_loss

    x, y = _logits(4, 3, 5, 5), _binary(4, 3, 5, 5)
    a = focal_loss(x, y, alpha=alpha, gamma=gamma, reduction=reduction)
    b = sigmoid_focal_loss(
        x, y, alpha=-1 if alpha is None else alpha, gamma=gamma, reduction=reduction
    )
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(_grad(a, x), _grad(b, x))


def test_focal_soft_targets_use_the_seed_formula_not_torchvisions() -> None:
    # Deliberate difference: for soft targets losskit mixes the two terms linearly,
    # l(y) = y l(1) + (1 - y) l(0) (the study notes' formula); torchvision modulates the whole
    # BCE by (1 - p_t)^gamma with p_t = p y + (1 - p)(1 - y). They agree on 0/1 targets (above).
    from torchvision.ops import sigmoid_focal_loss

    x = _logits(50).detach()
    y = torch.rand(50, generator=gen(8), dtype=torch.float64)
    ours = focal_loss(x, y, reduction="none")
    mix = y * focal_loss(x, torch.ones_like(y), reduction="none") + (1 - y) * focal_loss(
        x, torch.zeros_like(y), reduction="none"
    )
    torch.testing.assert_close(ours, mix)
    assert not torch.allclose(ours, sigmoid_focal_loss(x, y, reduction="none"))


@pytest.fixture
def monai_focal():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from monai.losses import FocalLoss
    return FocalLoss


def test_focal_parity_with_monai_sigmoid(monai_focal) -> None:
    x, y = _logits(2, 3, 4, 5).detach().float(), _binary(2, 3, 4, 5).float()
    for alpha in (None, 0.25):
        ours = focal_loss(x, y, alpha=alpha, gamma=2.0, reduction="none")
        torch.testing.assert_close(
            monai_focal(gamma=2.0, alpha=alpha, reduction="none")(x, y), ours
        )
        torch.testing.assert_close(
            monai_focal(gamma=2.0, alpha=alpha, reduction="mean")(x, y), ours.mean()
        )
        # Deliberate difference: MONAI's "sum" averages the spatial dimensions first, then sums
        # over batch and channels; losskit's "sum" is the plain sum.
        torch.testing.assert_close(
            monai_focal(gamma=2.0, alpha=alpha, reduction="sum")(x, y), ours.sum() / 20
        )


def test_focal_per_class_alpha_differs_from_monai(monai_focal) -> None:
    # Deliberate difference: with a per-class alpha, losskit weights positives by alpha_c and
    # negatives by 1 - alpha_c (the paper's alpha_t per class); MONAI weights positives by
    # alpha_c and leaves negatives at 1.
    x, y = _logits(2, 3, 4, 4).detach().float(), _binary(2, 3, 4, 4).float()
    a = torch.tensor([0.2, 0.5, 0.9])
    theirs = monai_focal(gamma=2.0, alpha=a.tolist(), reduction="none")(x, y)
    ours = focal_loss(x, y, alpha=a, gamma=2.0, reduction="none")
    ac = a.view(3, 1, 1)
    torch.testing.assert_close(
        ours, focal_loss(x, y, alpha=None, reduction="none", weight=torch.where(y == 1, ac, 1 - ac))
    )
    torch.testing.assert_close(
        theirs, focal_loss(x, y, alpha=None, reduction="none", weight=torch.where(y == 1, ac, 1.0))
    )


def test_softmax_focal_parity_with_monai(monai_focal) -> None:
    # MONAI's softmax focal on one-hot targets. Its scalar alpha means
    # [1 - alpha, alpha, ..., alpha] (background first): pass that tensor to losskit.
    # Deliberate differences: MONAI's "mean" averages over the C channels of its one-hot loss
    # too (C - 1 of them zero), so it is losskit's mean / C; its "sum" averages the spatial
    # dimensions first.
    x = _logits(2, 4, 3, 5).detach().float()
    y = torch.randint(0, 4, (2, 3, 5), generator=gen(9))
    a = 0.3
    alpha = torch.tensor([1 - a, a, a, a])
    ours_none = softmax_focal_loss(x, y, alpha=alpha, gamma=2.0, reduction="none")
    m_none = monai_focal(use_softmax=True, to_onehot_y=True, gamma=2.0, alpha=a, reduction="none")(
        x, y.unsqueeze(1)
    )
    torch.testing.assert_close(m_none.sum(1), ours_none)
    m_mean = monai_focal(use_softmax=True, to_onehot_y=True, gamma=2.0, alpha=a, reduction="mean")(
        x, y.unsqueeze(1)
    )
    torch.testing.assert_close(m_mean * 4, softmax_focal_loss(x, y, alpha=alpha, gamma=2.0))
    m_sum = monai_focal(use_softmax=True, to_onehot_y=True, gamma=2.0, alpha=a, reduction="sum")(
        x, y.unsqueeze(1)
    )
    torch.testing.assert_close(m_sum, ours_none.sum() / 15)


@pytest.fixture
def smp_focal():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from segmentation_models_pytorch.losses import FocalLoss
    return FocalLoss


def test_focal_parity_with_smp(smp_focal) -> None:
    x, y = _logits(2, 1, 6, 6).detach().float(), _binary(2, 1, 6, 6).float()
    torch.testing.assert_close(smp_focal("binary", alpha=0.25, gamma=2.0)(x, y), focal_loss(x, y))
    torch.testing.assert_close(
        smp_focal("binary", alpha=None, gamma=2.0)(x, y), focal_loss(x, y, alpha=None)
    )
    # ignore_index in binary mode: SMP 0.6 drops the ignored elements from the mean, the same
    # as losskit's mask
    yi = y.clone()
    yi[0, 0, :2] = 255
    keep = yi != 255
    torch.testing.assert_close(
        smp_focal("binary", alpha=0.25, gamma=2.0, ignore_index=255)(x, yi),
        focal_loss(x, yi, mask=keep),
    )


def test_focal_parity_with_smp_multiclass(smp_focal) -> None:
    # SMP's "multiclass" focal is a sigmoid focal loss on one-hot targets (per class, then
    # averaged): losskit's focal_loss on one_hot(target), with the ignored pixels masked.
    x = _logits(2, 3, 5, 5).detach().float()
    y = torch.randint(0, 3, (2, 5, 5), generator=gen(10))
    y[0, :2] = 255
    valid = y != 255
    onehot = TF.one_hot(torch.where(valid, y, 0), 3).permute(0, 3, 1, 2).float()
    theirs = smp_focal("multiclass", alpha=0.25, gamma=2.0, ignore_index=255)(x, y)
    torch.testing.assert_close(theirs, focal_loss(x, onehot, mask=valid.unsqueeze(1)))


# ---- ignore_index and mask semantics --------------------------------------------------------


@pytest.mark.parametrize("fn", BINARY, ids=lambda f: f.__name__)
def test_mask_excludes_from_numerator_and_denominator(fn) -> None:
    kw = EXTRA.get(fn, {})
    x, y = _logits(3, 2, 4, 4), _binary(3, 2, 4, 4)
    mask = torch.rand(3, 2, 4, 4, generator=gen(11)) < 0.7
    garbage = torch.where(mask, y, torch.full_like(y, 255.0))  # a "void" label under the mask
    none = fn(x, garbage, mask=mask, reduction="none", **kw)
    assert torch.isfinite(none).all() and (none[~mask] == 0).all()
    mean = fn(x, garbage, mask=mask, **kw)
    assert torch.isfinite(mean)
    torch.testing.assert_close(mean, none[mask].mean())
    torch.testing.assert_close(fn(x, garbage, mask=mask, reduction="sum", **kw), none.sum())
    g = _grad(mean, x)
    assert torch.isfinite(g).all() and (g[~mask] == 0).all()
    if fn is not balanced_bce_loss:  # (balanced: beta is computed from the kept pixels only)
        torch.testing.assert_close(none[mask], fn(x, y, reduction="none", **kw)[mask])


def test_balanced_bce_beta_ignores_masked_pixels() -> None:
    x = torch.zeros(1, 6)
    y = torch.tensor([[1.0, 0.0, 0.0, 0.0, 1.0, 1.0]])
    mask = torch.tensor([[True, True, True, True, False, False]])  # kept: 1 positive of 4
    out = balanced_bce_loss(x, y, mask=mask, reduction="none")
    ln2 = math.log(2)
    torch.testing.assert_close(out, torch.tensor([[0.75, 0.25, 0.25, 0.25, 0.0, 0.0]]) * ln2)


def test_mask_and_weight_combine() -> None:
    x, y = _logits(10), _binary(10)
    w = torch.rand(10, generator=gen(12), dtype=torch.float64)
    m = torch.arange(10) % 3 != 0
    per = bce_loss(x, y, reduction="none")
    torch.testing.assert_close(bce_loss(x, y, weight=w, mask=m), (w * per)[m].sum() / w[m].sum())


def test_everything_masked_is_zero_with_grad() -> None:
    x, y = _logits(2, 3), _binary(2, 3)
    m = torch.zeros(2, 3, dtype=torch.bool)
    for fn in BINARY:
        out = fn(x, y, mask=m, **EXTRA.get(fn, {}))
        assert out.item() == 0.0
        assert torch.equal(_grad(out, x), torch.zeros_like(x))


@pytest.mark.parametrize(
    "fn", [softmax_cross_entropy, softmax_focal_loss], ids=lambda f: f.__name__
)
def test_ignore_index_excluded_from_numerator_and_denominator(fn) -> None:
    x = _logits(6, 4, 5)
    y = torch.randint(0, 4, (6, 5), generator=gen(13))
    y[y == 3] = 255
    none = fn(x, y, ignore_index=255, reduction="none")
    keep = y != 255
    assert (none[~keep] == 0).all()
    torch.testing.assert_close(fn(x, y, ignore_index=255), none[keep].mean())
    g = _grad(fn(x, y, ignore_index=255), x)
    assert (g.permute(0, 2, 1)[~keep] == 0).all()


# ---- numerics -----------------------------------------------------------------------------


@pytest.mark.parametrize("fn", BINARY, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_extreme_logits_finite(fn, dtype) -> None:
    kw = EXTRA.get(fn, {})
    x = torch.tensor([[100.0, -100.0, 100.0, -100.0, 0.0, 30.0]], dtype=dtype, requires_grad=True)
    y = torch.tensor([[1.0, 1.0, 0.0, 0.0, 1.0, 0.0]], dtype=dtype)
    out = fn(x, y, reduction="none", **kw)
    assert out.dtype == dtype and torch.isfinite(out).all()
    (g,) = torch.autograd.grad(out.sum(), x)
    assert torch.isfinite(g).all()
    # confident and right costs ~0; confident and wrong costs ~100 (times the class factor)
    assert out[0, 0].item() == pytest.approx(0.0, abs=1e-6) and out[0, 3].item() == pytest.approx(
        0.0, abs=1e-6
    )
    if fn is bce_loss:
        assert out[0, 1].item() == pytest.approx(100.0, rel=1e-2)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0])
def test_focal_saturated_logits_finite_for_small_gamma(gamma: float) -> None:
    # (1 - p_t)^gamma with gamma < 1 has an infinite derivative at p_t = 1; torchvision's
    # autograd gives NaN there (inf * 0). losskit's analytic gradient has no (1 - p_t)^(gamma-1).
    from torchvision.ops import sigmoid_focal_loss

    x = torch.tensor([40.0, -40.0, 100.0], requires_grad=True)
    y = torch.tensor([1.0, 0.0, 1.0])
    g = _grad(focal_loss(x, y, gamma=gamma), x)
    assert torch.isfinite(g).all()
    if 0.0 < gamma < 1.0:
        assert torch.isnan(_grad(sigmoid_focal_loss(x, y, gamma=gamma, reduction="mean"), x)).any()


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_softmax_focal_saturated_finite(gamma: float) -> None:
    x = torch.tensor([[100.0, 0.0, 0.0], [-100.0, 100.0, 0.0]], requires_grad=True)
    y = torch.tensor([0, 0])  # one certain and right, one certain and wrong
    out = softmax_focal_loss(x, y, gamma=gamma, reduction="none")
    assert (
        torch.isfinite(out).all() and out[0].item() == 0.0 and out[1].item() == pytest.approx(200.0)
    )
    assert torch.isfinite(_grad(out, x)).all()
    assert (
        torch.isfinite(softmax_cross_entropy(x, y))
        and torch.isfinite(_grad(softmax_cross_entropy(x, y), x)).all()
    )


@pytest.mark.parametrize("fn", BINARY, ids=lambda f: f.__name__)
def test_probabilities_exactly_0_and_1(fn) -> None:
    # from_logits=False: p is clamped to [eps, 1 - eps] (documented); the loss of one element
    # is at most -log(eps) and the gradient is finite and points the right way
    kw = EXTRA.get(fn, {})
    p = torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.5]], requires_grad=True)
    y = torch.tensor([[1.0, 0.0, 0.0, 1.0, 1.0]])
    out = fn(p, y, from_logits=False, reduction="none", **kw)
    assert torch.isfinite(out).all()
    factor = 3.0 if fn is weighted_bce_loss else 1.0
    assert out.max().item() <= factor * -math.log(1e-7) * 1.001
    g = _grad(out, p)
    assert torch.isfinite(g).all()
    assert g[0, 0] < 0 and g[0, 1] > 0  # wrong answers are pushed toward the label
    if fn is bce_loss:
        assert out[0, 0].item() == pytest.approx(-math.log(1e-7), rel=1e-3)
        # torch clamps its logs at -100 instead: same value away from the edges
        torch.testing.assert_close(out[0, 4], TF.binary_cross_entropy(p[0, 4], y[0, 4]))


def test_autocast_bfloat16() -> None:
    # under CPU autocast a Linear layer gives bfloat16 logits; every loss computes in float32
    g = gen(14)
    lin = torch.nn.Linear(8, 4)
    feats = torch.randn(32, 8, generator=g)
    y_bin = (torch.rand(32, 4, generator=g) < 0.3).float()
    y_cls = torch.randint(0, 4, (32,), generator=g)
    calls = {
        "bce": lambda z: bce_loss(z, y_bin),
        "weighted": lambda z: weighted_bce_loss(z, y_bin, pos_weight=2.0),
        "balanced": lambda z: balanced_bce_loss(z, y_bin),
        "focal": lambda z: focal_loss(z, y_bin),
        "ce": lambda z: softmax_cross_entropy(z, y_cls, label_smoothing=0.1),
        "softmax focal": lambda z: softmax_focal_loss(z, y_cls),
    }
    for name, f in calls.items():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            z = lin(feats)
            assert z.dtype == torch.bfloat16
            out = f(z)
        ref = f(z.float())
        assert torch.isfinite(out), name
        torch.testing.assert_close(out.float(), ref, rtol=1e-2, atol=1e-2)
        lin.zero_grad()
        out.float().backward()
        assert torch.isfinite(lin.weight.grad).all(), name


# ---- the blocked focal kernel --------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_focal_blocks_equal_one_pass(monkeypatch, reduction: str) -> None:
    # the CPU kernel works through blocks; any block size gives the same loss and gradients
    x = _logits(2, 2, 5, 7)  # 140 elements: blocks of 32 leave a ragged last block
    y = torch.rand(2, 2, 5, 7, generator=gen(15), dtype=torch.float64).requires_grad_()
    alpha = torch.tensor([0.3, 0.8], dtype=torch.float64)
    results = {}
    for block in (10**9, 32, 7):
        monkeypatch.setattr(C, "_FOCAL_BLOCK", block)
        for kind, a in (("scalar", 0.25), ("per-class", alpha)):
            out = focal_loss(x, y, alpha=a, gamma=1.7, reduction=reduction)
            results[block, kind] = (out, *torch.autograd.grad(out.sum(), (x, y)))
    for (_, kind), got in results.items():
        for u, v in zip(got, results[10**9, kind], strict=True):
            torch.testing.assert_close(u, v)
    monkeypatch.setattr(C, "_FOCAL_BLOCK", 16)
    xs, ys = (
        x[:1, :, :3].detach().requires_grad_(),
        y[:1, :, :3].detach().requires_grad_(),
    )  # 42 elements
    assert torch.autograd.gradcheck(
        lambda a, b: focal_loss(a, b, gamma=1.7, reduction=reduction), (xs, ys)
    )


@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0, 1.7])
@pytest.mark.parametrize("alpha", [None, 0.25, "tensor"], ids=["none", "scalar", "tensor"])
def test_focal_kernel_equals_plain_formula(monkeypatch, gamma: float, alpha) -> None:
    """The blocked kernel (each modulator branch: gamma 0, 1, 2 and general; alpha None, a
    number, a tensor; the summed loss from three reductions, the per-element one from a
    lerp) against autograd of the plain formula in float64, over several blocks sharing
    their work buffers, with saturated logits and soft targets."""
    monkeypatch.setattr(C, "_FOCAL_BLOCK", 1000)
    g = gen(18)
    n = 3 * 1000 + 17  # ragged last block
    x = torch.randn(n, generator=g, dtype=torch.float64) * 4
    x[:8] = torch.tensor([100.0, -100.0, 30.0, -30.0, 0.0, 1e-9, 80.0, -80.0])
    y = torch.rand(n, generator=g, dtype=torch.float64)
    y[torch.rand(n, generator=g) < 0.5] = 0.0
    y[:8] = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.5, 0.5, 0.3, 1.0])
    a = torch.rand(n, generator=g, dtype=torch.float64) if alpha == "tensor" else alpha
    w = torch.rand(n, generator=g, dtype=torch.float64)
    for reduction in ("sum", "mean", "none"):  # (the mean's 1 / n rides on the modulators)
        xa, ya = x.clone().requires_grad_(), y.clone().requires_grad_()
        xb, yb = x.clone().requires_grad_(), y.clone().requires_grad_()
        got = focal_loss(xa, ya, alpha=a, gamma=gamma, reduction=reduction)
        ref = C._focal_plain(xb, yb, a, gamma)
        ref = ref.sum() if reduction == "sum" else ref.mean() if reduction == "mean" else ref
        torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-14)
        gw = w if reduction == "none" else None
        for u, v in zip(torch.autograd.grad(got, (xa, ya), gw),
                        torch.autograd.grad(ref, (xb, yb), gw), strict=True):  # fmt: skip
            assert torch.isfinite(u).all()
            torch.testing.assert_close(u, v, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_exp_and_sigmoids_from_one_sigmoid_are_accurate(dtype: torch.dtype) -> None:
    """The focal blocks' ``exp(-|x|)``, ``sigmoid(x)`` and ``sigmoid(-x)`` (from one
    ``sigmoid``, :func:`C._exp_sigmoids_of_abs` and :func:`C._by_sign`) agree with float64
    references to a few units in the last place over every magnitude, are exact at 0 and
    finite beyond the overflow of ``exp(|x|)``; neither sigmoid is ``1 -`` the other (which
    would lose all relative accuracy where it is small)."""
    ulp = torch.finfo(dtype).eps
    x = torch.cat([torch.linspace(-120.0, 120.0, 20001, dtype=dtype),
                   torch.tensor([0.0, -0.0, 1e-40, -1e-40, 1e-8, 88.8, -88.8, 1e30, -1e30,
                                 torch.finfo(dtype).max, -torch.finfo(dtype).max], dtype=dtype)])  # fmt: skip
    na = torch.sub(x.clamp_max(0.0), x.clamp_min(0.0))
    bufs = [torch.empty_like(x) for _ in range(3)]
    e, big, small = C._exp_sigmoids_of_abs(na.clone(), bufs[0], bufs[1])
    p, q = C._by_sign(x, big, small, bufs[2], torch.empty_like(x))
    r = x.double()
    refs = {"exp(-|x|)": (e, torch.exp(-r.abs())), "sigmoid(x)": (p, torch.sigmoid(r)),
            "sigmoid(-x)": (q, torch.sigmoid(-r))}  # fmt: skip
    tiny = torch.finfo(dtype).tiny
    for what, (got, ref) in refs.items():
        assert torch.isfinite(got).all(), what
        assert ((got >= 0) & (got <= 1)).all(), what
        normal = ref > tiny / ulp  # (where the reference is a normal number with room)
        rel = ((got.double() - ref).abs() / ref)[normal]
        assert rel.max() <= 4 * ulp, (what, rel.max().item() / ulp)
        assert (got[~normal].double() - ref[~normal]).abs().max() <= 2 * tiny / ulp, what
    zero = x == 0
    assert (p[zero] == 0.5).all() and (q[zero] == 0.5).all() and (e[zero] == 1.0).all()


# ---- work buffers kept between passes (CPU) ------------------------------------------------

#: every loss that computes through the blocked kernels (classification.py, _detection.py)
_BLOCKED = {
    "focal": lambda x, y, r: focal_loss(x, y, reduction=r),
    "focal, gamma 1.5, no alpha": lambda x, y, r: focal_loss(x, y, alpha=None, gamma=1.5,
                                                             reduction=r),  # fmt: skip
    "quality focal": lambda x, y, r: losskit.quality_focal_loss(x, y, reduction=r),
    "varifocal": lambda x, y, r: losskit.varifocal_loss(x, y, reduction=r),
    "gaussian focal": lambda x, y, r: losskit.gaussian_focal_loss(x, y, reduction=r),
}


def _heatmap(n: int, seed: int, dtype=torch.float32) -> torch.Tensor:
    """Targets every blocked loss takes: values in [0, 1], a tenth exactly 1 (the Gaussian
    focal loss's peaks), a third exactly 0."""
    g = gen(seed)
    y = torch.rand(n, generator=g, dtype=dtype)
    y[torch.rand(n, generator=g) < 0.1] = 1.0
    y[torch.rand(n, generator=g) < 0.3] = 0.0
    return y


def _kept() -> list[torch.Tensor]:
    """The blocked kernels' kept float32 buffers."""
    return workspace.kept("focal blocks", torch.empty(0))


@pytest.mark.parametrize("n", [C._SHARED_SCRATCH_MIN + 5, 2 * C._FOCAL_BLOCK + 3],
                         ids=["one block", "blocks"])  # fmt: skip
@pytest.mark.parametrize("name", list(_BLOCKED))
def test_kept_work_buffers_never_reach_results(name: str, n: int) -> None:
    """On CPU the blocked kernels keep their work buffers between passes (per thread and
    dtype). No result of a call (the loss, the per-element loss, either gradient) may be
    one of them or share its memory: later calls over other inputs of the same size, which
    write those buffers again, leave every earlier result unchanged."""
    f = _BLOCKED[name]
    results = []
    for i, reduction in enumerate(("none", "mean", "sum")):
        x = (torch.randn(n, generator=gen(50 + i)) * 3).requires_grad_()
        y = _heatmap(n, 60 + i).requires_grad_()
        out = f(x, y, reduction)
        w = torch.rand(out.shape, generator=gen(70 + i))
        results.append((out.detach(), *torch.autograd.grad(out, (x, y), w)))
    snapshots = [tuple(t.clone() for t in r) for r in results]
    kept = _kept()
    assert kept, "the kernels kept no work buffer: this test checks nothing"
    storages = {b.untyped_storage().data_ptr() for b in kept}
    for r in results:
        assert not any(t.untyped_storage().data_ptr() in storages for t in r)
    for i in range(2):  # passes that write the kept buffers again
        x = (torch.randn(n, generator=gen(80 + i)) * 5).requires_grad_()
        f(x, _heatmap(n, 90 + i), "none").sum().backward()
    for r, snap in zip(results, snapshots, strict=True):
        for t, u in zip(r, snap, strict=True):
            torch.testing.assert_close(t, u, rtol=0, atol=0)


def test_kept_work_buffers_are_bounded_and_cpu_only() -> None:
    """What stays kept is bounded by the largest CPU block (2 blocks' worth is one block) and
    a work list per dtype, all its buffers of one length whatever the order of the sizes and
    of the losses (a loss taking more buffers than the one before it, at a smaller size, then
    a larger one: no buffer too short for a later pass, which torch would resize with a
    warning); small blocks, tensor subclasses and accelerators keep nothing."""
    workspace.release()
    big, small = 2 * C._FOCAL_BLOCK, C._SHARED_SCRATCH_MIN
    # the focal loss's 6 buffers at the largest size, the Gaussian focal loss's 13 at a
    # small one, then at the largest; then every loss at sizes of one block and of several
    calls = [("focal", big), ("gaussian focal", small), ("gaussian focal", big)]
    calls += [(k, n) for n in (small + 1, 3 * C._FOCAL_BLOCK + 11, big) for k in _BLOCKED]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, n in calls:
            f = _BLOCKED[name]
            x = torch.randn(n, requires_grad=True)
            y = _heatmap(n, 3)
            f(x, y, "mean").backward()
            x64 = x.detach().double().requires_grad_()
            f(x64, y.double(), "mean").backward()  # (float64: its own kept list)
            torch.testing.assert_close(x.grad, x64.grad.float(), rtol=1e-4, atol=1e-4 / n)
    kept = {d: workspace.kept("focal blocks", torch.empty(0, dtype=d))
            for d in (torch.float32, torch.float64)}  # fmt: skip
    assert len(workspace.kept_buffers()) == sum(len(b) for b in kept.values())
    for dtype, bufs in kept.items():
        assert 0 < len(bufs) <= 16
        assert all(b.dtype == dtype and b.shape == (2 * C._FOCAL_BLOCK,) for b in bufs)
    like = torch.empty(C._SHARED_SCRATCH_MIN)
    assert C._shared_scratch(like, C._SHARED_SCRATCH_MIN) is kept[torch.float32]
    assert C._shared_scratch(like, C._SHARED_SCRATCH_MIN - 1) is None
    assert C._shared_scratch(like.as_subclass(_Sub), C._SHARED_SCRATCH_MIN) is None
    assert C._shared_scratch(torch.empty(1 << 20, device="meta"), 1 << 16) is None


class _Sub(torch.Tensor):
    pass


def test_kept_work_buffers_outlive_inference_mode() -> None:
    """Buffers first allocated under ``torch.inference_mode`` are kept for later passes: they
    must be ordinary tensors, which a pass outside inference mode may write (an inference
    tensor would refuse the in-place writes there)."""
    workspace.release()  # let inference mode allocate them
    n = 2 * C._SHARED_SCRATCH_MIN
    x, y = torch.randn(n, generator=gen(5)), _heatmap(n, 6)
    with torch.inference_mode():
        inferred = {k: f(x, y, "mean") for k, f in _BLOCKED.items()}
    assert not any(b.is_inference() for b in _kept())
    for k, f in _BLOCKED.items():
        xg = x.clone().requires_grad_()
        out = f(xg, y, "mean")
        out.backward()
        torch.testing.assert_close(out.detach(), inferred[k], rtol=0, atol=0)
    with torch.inference_mode():  # and back inside inference mode
        for k, f in _BLOCKED.items():
            torch.testing.assert_close(f(x, y, "mean"), inferred[k], rtol=0, atol=0)


def test_kept_work_buffers_are_per_thread() -> None:
    """Two threads computing blocked losses at once (the kernels release the GIL) each get
    their own kept buffers: every result equals the one computed alone."""
    n = 2 * C._FOCAL_BLOCK
    cases = [(torch.randn(n, generator=gen(100 + i)) * (i + 1), _heatmap(n, 110 + i))
             for i in range(4)]  # fmt: skip
    assert_same_in_threads(lambda x, y: focal_loss(x, y, reduction="none"), cases, rounds=12)


def test_focal_double_backward_is_exact() -> None:
    # The analytic backward used to be once_differentiable (double backward raised). Now a
    # backward under create_graph=True differentiates the plain formula instead (documented in
    # losskit.functional.classification), so second derivatives are exact: they equal
    # torchvision's (autograd through its formula; equal on 0/1 targets) and pass gradgradcheck.
    from torchvision.ops import sigmoid_focal_loss

    x, y = _logits(4), _binary(4)
    (g,) = torch.autograd.grad(focal_loss(x, y), x, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), x)
    ref = sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0, reduction="mean")
    (g_ref,) = torch.autograd.grad(ref, x, create_graph=True)
    (h_ref,) = torch.autograd.grad(g_ref.sum(), x)
    torch.testing.assert_close(g, g_ref)
    torch.testing.assert_close(h, h_ref)
    yg = torch.rand(4, generator=gen(17), dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradgradcheck(
        lambda a, b: focal_loss(a, b, alpha=0.3, gamma=1.5, reduction="sum"), (x, yg)
    )


def test_focal_compiled_forward_and_backward_equal_eager() -> None:
    torch._dynamo.reset()
    x, y = _logits(3, 4, 5, dtype=torch.float32), _binary(3, 4, 5, dtype=torch.float32)

    def f(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return focal_loss(a, b, alpha=0.25, gamma=2.0)

    compiled = torch.compile(f, backend="aot_eager", fullgraph=True)
    out_c = compiled(x, y)
    out_e = f(x, y)
    torch.testing.assert_close(out_c, out_e)
    torch.testing.assert_close(_grad(out_c, x), _grad(out_e, x))


# ---- modules ------------------------------------------------------------------------------


def test_modules_hold_tensor_hyperparameters_as_buffers() -> None:
    m = losskit.FocalLoss(alpha=torch.tensor([0.2, 0.5, 0.9]), gamma=1.0, reduction="sum")
    assert "alpha" in dict(m.named_buffers())
    m = m.to(torch.float64)
    assert m.alpha.dtype == torch.float64
    x, y = _logits(2, 3), _binary(2, 3)
    torch.testing.assert_close(m(x, y), focal_loss(x, y, alpha=m.alpha, gamma=1.0, reduction="sum"))
    ce = losskit.SoftmaxCrossEntropyLoss(class_weight=torch.ones(3), label_smoothing=0.1)
    assert "label_smoothing=0.1" in repr(ce)
    assert isinstance(
        losskit.create("balanced_bce_loss", per_sample=False), losskit.BalancedBCELoss
    )
    with pytest.raises(ValueError, match=r"FocalLoss: alpha must be a number in \[0, 1\]; got 2.0"):
        losskit.FocalLoss(alpha=2.0)


def test_module_passes_mask() -> None:
    x, y = _logits(4, 3), _binary(4, 3)
    m = torch.rand(4, 3, generator=gen(16)) < 0.5
    torch.testing.assert_close(
        losskit.BinaryCrossEntropyLoss()(x, y, mask=m), bce_loss(x, y, mask=m)
    )
    torch.testing.assert_close(
        losskit.WeightedBCELoss(pos_weight=2.0)(x, y, mask=m),
        weighted_bce_loss(x, y, pos_weight=2.0, mask=m),
    )


@pytest.mark.parametrize("fn", [losskit.bce_loss, losskit.focal_loss])
def test_float16_probabilities_of_exactly_0_and_1_have_finite_gradients(fn) -> None:
    # float16 cannot hold 1 - 1e-7: the clamp of probabilities is raised to 2/65504 there
    p = torch.tensor([0.0, 1.0, 0.0, 1.0], dtype=torch.float16, requires_grad=True)
    y = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=torch.float16)
    out = fn(p, y, from_logits=False)
    (g,) = torch.autograd.grad(out, p)
    assert torch.isfinite(out) and torch.isfinite(g).all()
    assert g[0] < 0 and g[1] > 0  # wrong answers are pushed toward the target


def test_learnable_pos_weight_and_class_weight_get_their_gradients() -> None:
    # torch's fused kernels cannot differentiate pos_weight or weight: the formulas are written
    # out when these require grad, with the same values
    x = torch.randn(5, 3, dtype=torch.float64, generator=gen(1))
    y = torch.rand(5, 3, dtype=torch.float64, generator=gen(2))
    pw = torch.rand(3, dtype=torch.float64, generator=gen(3)).requires_grad_()
    out = losskit.weighted_bce_loss(x, y, pos_weight=pw)
    torch.testing.assert_close(out, TF.binary_cross_entropy_with_logits(x, y, pos_weight=pw.detach()))
    assert torch.autograd.gradcheck(lambda w: losskit.weighted_bce_loss(x, y, pos_weight=w), (pw,))
    z = torch.randn(6, 4, dtype=torch.float64, generator=gen(4))
    labels = torch.tensor([0, 1, 2, 3, 1, -100])
    cw = torch.rand(4, dtype=torch.float64, generator=gen(5)).add(0.5).requires_grad_()
    for smoothing in (0.0, 0.2):
        out = losskit.softmax_cross_entropy(z, labels, class_weight=cw, label_smoothing=smoothing)
        ref = TF.cross_entropy(z, labels, weight=cw.detach(), label_smoothing=smoothing)
        torch.testing.assert_close(out, ref)
        assert torch.autograd.gradcheck(
            lambda w, s=smoothing: losskit.softmax_cross_entropy(
                z, labels, class_weight=w, label_smoothing=s
            ),
            (cw,),
        )


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8, torch.int16, torch.int32])
def test_a_left_out_label_is_never_read(dtype) -> None:
    # a "void" label (255, or anything out of range) under mask=False is not checked, and a
    # -100 ignore_index does not wrap around in uint8 (where 156 would read as -100)
    z = torch.randn(3, 200, generator=gen(6))
    big = 156 if dtype != torch.int8 else 100
    labels = torch.tensor([big, 1, 2]).to(dtype)
    torch.testing.assert_close(
        losskit.softmax_cross_entropy(z, labels), losskit.softmax_cross_entropy(z, labels.long())
    )
    few = z[:, :4]
    void = torch.tensor([0, 1, 127]).to(dtype)  # 127: out of range for 4 classes
    with pytest.raises(ValueError, match="softmax_cross_entropy: target must lie in"):
        losskit.softmax_cross_entropy(few, void)
    out = losskit.softmax_cross_entropy(few, void, mask=torch.tensor([False, True, False]))
    torch.testing.assert_close(out, losskit.softmax_cross_entropy(few[1:2], void[1:2].long()))


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"gamma": 0.0}, {"gamma": 1.5, "alpha": "vector"}, {"ignore": True},
     {"mask": True, "alpha": "vector"}, {"reduction": "none", "ignore": True}],
    ids=["plain", "gamma0", "alpha", "ignore", "mask-alpha", "none-ignore"],
)  # fmt: skip
def test_compiled_softmax_focal_equals_eager(kwargs: dict) -> None:
    """Under torch.compile the label's log-probability and alpha come from the labels'
    one-hot form (float labels; no gather, so no scatter in the backward); eager gathers.
    Values and gradients agree, also with positions left out that hold a NaN logit and a
    void label (ignore_index 255, or a mask over valid and out-of-range labels)."""
    kwargs = dict(kwargs)
    g = gen(44)
    x = torch.randn(3, 5, 4, 6, generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, 5, (3, 4, 6), generator=g)
    if kwargs.get("alpha") == "vector":
        kwargs["alpha"] = torch.rand(5, generator=g, dtype=torch.float64)
    for how in ("ignore", "mask"):
        if kwargs.pop(how, False):
            kwargs.update(leave_out(x, y, how))
    call = lambda z: softmax_focal_loss(z, y, **kwargs)  # noqa: E731
    assert_compiled_equals_eager(call, x)
