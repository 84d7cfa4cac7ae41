"""Classifier losses: asymmetric loss (multi- and single-label), PolyLoss (Poly-1 CE and
focal), Jensen-Shannon consistency, knowledge distillation and binary label smoothing.

Parity in float64 with timm (AsymmetricLossMultiLabel, AsymmetricLossSingleLabel,
JsdCrossEntropy, BinaryCrossEntropy) and segmentation_models_pytorch (SoftBCEWithLogitsLoss);
the PolyLoss paper's code and mmdetection's distillation formula are written out below.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as TF

import losskit
from losskit import (
    asymmetric_loss,
    asymmetric_softmax_loss,
    bce_loss,
    distillation_loss,
    jsd_cross_entropy,
    poly1_cross_entropy,
    poly1_focal_loss,
)

from ..conftest import timm_in_input_dtype

F64 = torch.float64
LN2 = math.log(2.0)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _logits(*shape: int, seed: int = 0, scale: float = 3.0) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed), dtype=F64) * scale


# ------------------------------------------------------------------ asymmetric loss


def test_asymmetric_hand_worked() -> None:
    # p = 1/2: a positive costs (1 - p)^1 (-ln p) = ln 2 / 2; a negative, with p_m = .5 - .05
    # = .45: .45^4 (-ln .55)
    got = asymmetric_loss(torch.zeros(2, dtype=F64), torch.tensor([1.0, 0.0], dtype=F64),
                          reduction="none")  # fmt: skip
    want = torch.tensor([LN2 / 2, 0.45**4 * -math.log(0.55)], dtype=F64)
    torch.testing.assert_close(got, want)
    # a negative below the clip costs exactly 0 (p = 0.04 < 0.05)
    x = torch.tensor([math.log(0.04 / 0.96)], dtype=F64)
    assert asymmetric_loss(x, torch.zeros(1, dtype=F64)).item() == 0.0
    # no focusing, no clip: BCE
    x, y = _logits(5, 4), (torch.rand(5, 4, generator=_gen(1)) < 0.3).to(F64)
    torch.testing.assert_close(
        asymmetric_loss(x, y, gamma_pos=0.0, gamma_neg=0.0, clip=0.0), bce_loss(x, y)
    )


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("clip", [0.0, 0.05])
@pytest.mark.parametrize("soft", [False, True])
def test_asymmetric_equals_timm(smoothing: float, clip: float, soft: bool) -> None:
    from timm.loss import AsymmetricLossMultiLabel

    x = _logits(16, 6, seed=2)
    y = torch.rand(16, 6, generator=_gen(3), dtype=F64)
    if not soft:
        y = (y < 0.3).to(F64)
    for reduction in ("none", "mean", "sum"):
        peer = AsymmetricLossMultiLabel(gamma_neg=4, gamma_pos=1, clip=clip, smoothing=smoothing,
                                        reduction=reduction)  # fmt: skip
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        ours = asymmetric_loss(a, y, clip=clip, label_smoothing=smoothing, reduction=reduction)
        ref = timm_in_input_dtype(peer, b, y)
        assert (ours - ref).abs().max() < 1e-12
        ga = torch.autograd.grad(ours.sum(), a)[0]
        gb = torch.autograd.grad(ref.sum(), b)[0]
        assert (ga - gb).abs().max() < 1e-12
    # timm's default "batchmean" is our "sum" over the batch size
    peer = AsymmetricLossMultiLabel(clip=clip, smoothing=smoothing)
    torch.testing.assert_close(
        asymmetric_loss(x, y, clip=clip, label_smoothing=smoothing, reduction="sum") / 16,
        timm_in_input_dtype(peer, x, y),
    )


@pytest.mark.parametrize("gammas", [(1.0, 4.0), (0.0, 4.0), (0.5, 2.0)])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_asymmetric_softmax_equals_timm(gammas: tuple[float, float], smoothing: float) -> None:
    from timm.loss import AsymmetricLossSingleLabel

    gp, gn = gammas
    x = _logits(12, 5, seed=4)
    labels = torch.randint(0, 5, (12,), generator=_gen(5))
    peer = AsymmetricLossSingleLabel(gamma_pos=gp, gamma_neg=gn, eps=smoothing)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours = asymmetric_softmax_loss(a, labels, gamma_pos=gp, gamma_neg=gn,
                                   label_smoothing=smoothing)  # fmt: skip
    ref = peer(b, labels)
    assert (ours - ref).abs() < 1e-12
    ga, gb = torch.autograd.grad(ours, a)[0], torch.autograd.grad(ref, b)[0]
    assert (ga - gb).abs().max() < 1e-12
    # per sample: timm's reduction='none' sums over classes
    peer_none = AsymmetricLossSingleLabel(
        gamma_pos=gp, gamma_neg=gn, eps=smoothing, reduction="none"
    )
    ours_none = asymmetric_softmax_loss(x, labels, gamma_pos=gp, gamma_neg=gn,
                                        label_smoothing=smoothing, reduction="none")  # fmt: skip
    assert (ours_none - peer_none(x, labels)).abs().max() < 1e-12


def test_asymmetric_softmax_without_smoothing_is_softmax_focal() -> None:
    x, labels = _logits(7, 4, 3, seed=6), torch.randint(0, 4, (7, 3), generator=_gen(7))
    torch.testing.assert_close(
        asymmetric_softmax_loss(x, labels, gamma_pos=2.0),
        losskit.softmax_focal_loss(x, labels, gamma=2.0),
    )


def test_asymmetric_edges() -> None:
    x = torch.tensor([100.0, -100.0, 100.0, -100.0, 0.0], requires_grad=True)
    y = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.5])
    for kw in ({}, {"clip": 0.0}, {"gamma_pos": 0.5, "gamma_neg": 0.5}):
        out = asymmetric_loss(x, y, reduction="sum", **kw)
        (g,) = torch.autograd.grad(out, x)
        assert torch.isfinite(out) and torch.isfinite(g).all(), kw
    # the eps floor: a confident mistake costs at most -log(eps) (no focusing, no clip)
    big = asymmetric_loss(torch.tensor([-100.0]), torch.ones(1), gamma_pos=0.0)
    torch.testing.assert_close(big, torch.tensor(-math.log(1e-8)))
    z = torch.tensor([[100.0, -100.0, 0.0]], requires_grad=True)
    out = asymmetric_softmax_loss(z, torch.tensor([1]), label_smoothing=0.1, gamma_neg=0.5)
    (g,) = torch.autograd.grad(out, z)
    assert torch.isfinite(out) and torch.isfinite(g).all()


def test_tensor_exponent_power_is_accurate_and_safe_at_zero() -> None:
    """The focusing weight ``base^exponent`` with a per-element exponent (the asymmetric
    loss's ``gamma_pos y + gamma_neg (1 - y)``) is ``exp(exponent log base)``: within 24
    units in the last place of the float64 power wherever the power is above 1e-8, ``0^0 =
    1``, and finite gradients at a zero base (floored at the dtype's tiny)."""
    from losskit.functional._recognition import _safe_pow

    g = torch.Generator().manual_seed(5)
    base = torch.rand(4000, generator=g, dtype=torch.float64)
    base[:8] = torch.tensor([0.0, 1.0, 1e-3, 0.5, 0.999, 1e-30, 0.25, 0.75], dtype=torch.float64)
    exponent = torch.rand(4000, generator=g, dtype=torch.float64) * 4.0
    exponent[:4] = torch.tensor([0.0, 4.0, 0.0, 1.0], dtype=torch.float64)
    want = base.pow(exponent)
    for dtype in (torch.float32, torch.float64):
        b = base.to(dtype).requires_grad_()
        got = _safe_pow(b, exponent.to(dtype))
        ref = b.detach().double().clamp_min(torch.finfo(dtype).tiny).pow(exponent)
        big = ref > 1e-8
        ulp = torch.finfo(dtype).eps * ref[big]
        assert ((got.double()[big] - ref[big]).abs() <= 24 * ulp).all(), dtype
        assert got[0] == 1.0  # 0^0
        (gb,) = torch.autograd.grad(got.sum(), b)
        assert torch.isfinite(gb).all()
    assert torch.allclose(want[1:], _safe_pow(base, exponent)[1:], rtol=1e-13, atol=0.0)


# ------------------------------------------------------------------ PolyLoss


def paper_poly1_ce(logits, labels, epsilon, smoothing=0.0):
    """The PolyLoss paper's poly1_cross_entropy (its Listing 1), in torch."""
    c = logits.shape[-1]
    onehot = TF.one_hot(labels, c).to(logits)
    onehot = onehot * (1 - smoothing) + smoothing / c
    pt = (onehot * logits.softmax(-1)).sum(-1)
    ce = -(onehot * logits.log_softmax(-1)).sum(-1)
    return ce + epsilon * (1 - pt)


def paper_poly1_focal(logits, labels, epsilon, gamma=2.0, alpha=0.25):
    """The paper's poly1_focal_loss (its Listing 2) on top of the sigmoid focal loss."""
    from torchvision.ops import sigmoid_focal_loss

    p = logits.sigmoid()
    pt = labels * p + (1 - labels) * (1 - p)
    fl = sigmoid_focal_loss(logits, labels, alpha=alpha, gamma=gamma, reduction="none")
    return fl + epsilon * (1 - pt).pow(gamma + 1)


def test_poly1_hand_worked() -> None:
    z, y = torch.tensor([[2.0, 1.0, 1.0, 1.0]], dtype=F64), torch.tensor([0])
    p = math.exp(2) / (math.exp(2) + 3 * math.e)  # softmax of (2, 1, 1, 1) at class 0
    torch.testing.assert_close(
        poly1_cross_entropy(z, y), torch.tensor(-math.log(p) + 1 - p, dtype=F64)
    )
    # with smoothing 0.1: p_t = .9 p + .1 / 4
    pt = 0.9 * p + 0.025
    ce = TF.cross_entropy(z, y, label_smoothing=0.1)
    torch.testing.assert_close(
        poly1_cross_entropy(z, y, poly_coef=2.0, label_smoothing=0.1), ce + 2 * (1 - pt)
    )
    # epsilon = 0 is cross-entropy; epsilon = -1 stays non-negative
    x, labels = _logits(9, 5, seed=8), torch.randint(0, 5, (9,), generator=_gen(9))
    torch.testing.assert_close(
        poly1_cross_entropy(x, labels, poly_coef=0.0), TF.cross_entropy(x, labels)
    )
    assert (poly1_cross_entropy(x, labels, poly_coef=-1.0, reduction="none") >= 0).all()


@pytest.mark.parametrize("epsilon", [-1.0, 1.0, 2.0])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_poly1_cross_entropy_equals_paper(epsilon: float, smoothing: float) -> None:
    x, labels = _logits(20, 6, seed=10), torch.randint(0, 6, (20,), generator=_gen(11))
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours = poly1_cross_entropy(a, labels, poly_coef=epsilon, label_smoothing=smoothing,
                               reduction="none")  # fmt: skip
    ref = paper_poly1_ce(b, labels, epsilon, smoothing)
    assert (ours - ref).abs().max() < 1e-12
    ga, gb = torch.autograd.grad(ours.sum(), a)[0], torch.autograd.grad(ref.sum(), b)[0]
    assert (ga - gb).abs().max() < 1e-12


@pytest.mark.parametrize("epsilon", [-1.0, 0.0, 1.0])
def test_poly1_focal_equals_paper(epsilon: float) -> None:
    x = _logits(8, 5, seed=12)
    y = (torch.rand(8, 5, generator=_gen(13)) < 0.3).to(F64)
    ours = poly1_focal_loss(x, y, poly_coef=epsilon, reduction="none")
    assert (ours - paper_poly1_focal(x, y, epsilon)).abs().max() < 1e-12
    # epsilon = 0 is the focal loss
    if epsilon == 0.0:
        torch.testing.assert_close(ours, losskit.focal_loss(x, y, reduction="none"))


def test_poly_edges() -> None:
    z = torch.tensor([[100.0, -100.0, 0.0]], requires_grad=True)
    out = poly1_cross_entropy(z, torch.tensor([1]), label_smoothing=0.1)
    (g,) = torch.autograd.grad(out, z)
    assert torch.isfinite(out) and torch.isfinite(g).all()
    x = torch.tensor([100.0, -100.0, 0.0], requires_grad=True)
    out = poly1_focal_loss(x, torch.tensor([0.0, 0.0, 1.0]), gamma=0.5, reduction="sum")
    (g,) = torch.autograd.grad(out, x)
    assert torch.isfinite(out) and torch.isfinite(g).all()


# ------------------------------------------------------------------ JSD and distillation


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("splits", [2, 3])
def test_jsd_equals_timm(smoothing: float, splits: int) -> None:
    from timm.loss import JsdCrossEntropy

    n, c = 10, 7
    flat = _logits(splits * n, c, seed=14, scale=2.0)  # timm's (S * N, C) batch
    labels = torch.randint(0, c, (n,), generator=_gen(15))
    peer = JsdCrossEntropy(num_splits=splits, alpha=12, smoothing=smoothing)
    a = flat.clone().requires_grad_()
    b = flat.clone().requires_grad_()
    ref = peer(b, labels.repeat(splits))
    ours = jsd_cross_entropy(a.view(splits, n, c).permute(1, 2, 0), labels, num_splits=splits,
                             label_smoothing=smoothing)  # fmt: skip
    assert (ours - ref).abs() < 1e-12
    ga, gb = torch.autograd.grad(ours, a)[0], torch.autograd.grad(ref, b)[0]
    assert (ga - gb).abs().max() < 1e-12


def test_jsd_hand_worked_and_bounds() -> None:
    # two views, one certain of class 0, the other of class 1: JS = log 2 exactly (the
    # maximum for 2 views), so l = CE + lambda log 2
    z = torch.tensor([[[200.0, 0.0], [0.0, 200.0]]], dtype=F64)  # (1, C=2, S=2)
    got = jsd_cross_entropy(z, torch.tensor([0]), num_splits=2, consistency_weight=1.0)
    torch.testing.assert_close(got, torch.tensor(LN2, dtype=F64), atol=1e-12, rtol=0)
    x = _logits(6, 5, 3, seed=16)
    js = jsd_cross_entropy(
        x, torch.zeros(6, dtype=torch.long), reduction="none"
    ) - TF.cross_entropy(x[..., 0], torch.zeros(6, dtype=torch.long), reduction="none")
    assert (js >= -1e-12).all() and (js <= 12 * math.log(3) + 1e-12).all()


def mmdet_kd(pred, soft_label, t):
    """mmdetection's knowledge_distillation_kl_div_loss (KL averaged over classes)."""
    target = TF.softmax(soft_label / t, dim=1)
    return TF.kl_div(TF.log_softmax(pred / t, dim=1), target, reduction="none").mean(1) * (t * t)


def test_distillation_equals_torch_and_mmdetection() -> None:
    z, t = _logits(8, 6, seed=17), _logits(8, 6, seed=18)
    for temp in (1.0, 4.0, 10.0):
        kl = TF.kl_div(TF.log_softmax(z / temp, 1), TF.softmax(t / temp, 1), reduction="batchmean")
        torch.testing.assert_close(distillation_loss(z, t, temperature=temp), kl * temp**2)
        ours = distillation_loss(z, t, temperature=temp, reduction="none")
        assert (ours / 6 - mmdet_kd(z, t, temp)).abs().max() < 1e-12
    # the teacher gets its gradient unless detached; equal logits cost 0 with zero gradient
    tg = t.clone().requires_grad_()
    distillation_loss(z, tg).backward()
    assert tg.grad.abs().sum() > 0
    zg = t.clone().requires_grad_()
    out = distillation_loss(zg, t)
    out.backward()
    assert out.abs() < 1e-12 and zg.grad.abs().max() < 1e-12


def test_distillation_t_squared_keeps_the_gradient_scale() -> None:
    # for large T the gradient tends to (z - t) / (C T^2) times T^2: independent of T
    z, t = _logits(4, 5, seed=19, scale=0.5), _logits(4, 5, seed=20, scale=0.5)
    grads = []
    for temp in (20.0, 40.0):
        zz = z.clone().requires_grad_()
        distillation_loss(zz, t, temperature=temp, reduction="sum").backward()
        grads.append(zz.grad)
    scale = grads[1].abs().max().item()
    assert (grads[0] - grads[1]).abs().max() < 0.05 * scale
    # without the T^2 factor the two would differ by a factor 4
    assert scale > 0.1 * (z - t).abs().max().item() / 5


def test_distillation_edges() -> None:
    z = torch.tensor([[100.0, -100.0, 0.0]], requires_grad=True)
    t = torch.tensor([[-100.0, 100.0, 0.0]])
    out = distillation_loss(z, t, temperature=1.0)
    (g,) = torch.autograd.grad(out, z)
    assert torch.isfinite(out) and torch.isfinite(g).all()
    dense = distillation_loss(_logits(2, 4, 3, 3), _logits(2, 4, 3, 3, seed=1), reduction="none")
    assert dense.shape == (2, 3, 3)


# ------------------------------------------------------------------ binary label smoothing


@pytest.mark.parametrize("s", [0.0, 0.1, 0.3])
def test_binary_label_smoothing_equals_timm_and_smp(s: float) -> None:
    import segmentation_models_pytorch as smp
    from timm.loss import BinaryCrossEntropy

    x = _logits(6, 5, seed=21)
    y = (torch.rand(6, 5, generator=_gen(22)) < 0.4).to(F64)
    ours = bce_loss(x, y, label_smoothing=s)
    timm = BinaryCrossEntropy(smoothing=s, smooth_dense=True)(x, y)
    smp_loss = smp.losses.SoftBCEWithLogitsLoss(smooth_factor=s / 2)(x, y)
    assert (ours - timm).abs() < 1e-12 and (ours - smp_loss).abs() < 1e-12
    # timm's class-index targets: one-hot smoothed towards 1 / C
    labels = torch.randint(0, 5, (6,), generator=_gen(23))
    timm_idx = BinaryCrossEntropy(smoothing=s)(x, labels)
    onehot = TF.one_hot(labels, 5).to(F64) * (1 - s) + s / 5
    assert (bce_loss(x, onehot) - timm_idx).abs() < 1e-12
    # the module
    torch.testing.assert_close(losskit.BinaryCrossEntropyLoss(label_smoothing=s)(x, y), ours)
