"""Regression losses: hand-worked values, parity with torch.nn.functional, the weighted-mean
rule, and the claims of the study notes about their gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as TF

import losskit
from losskit import huber_loss, l1_loss, mse_loss, smooth_l1_loss

from ..conftest import gen

D = torch.tensor([-3.0, -0.5, 0.0, 0.25, 2.0])  # residuals, pred = D, target = 0
Z = torch.zeros(5)


def test_hand_worked_values() -> None:
    # L1: |d| -> 3, .5, 0, .25, 2
    torch.testing.assert_close(
        l1_loss(D, Z, reduction="none"), torch.tensor([3.0, 0.5, 0.0, 0.25, 2.0])
    )
    # L2: d^2 -> 9, .25, 0, .0625, 4
    torch.testing.assert_close(
        mse_loss(D, Z, reduction="none"), torch.tensor([9.0, 0.25, 0.0, 0.0625, 4.0])
    )
    # Smooth L1, beta=1: |d|>=1 -> |d| - .5 (2.5, 1.5); else .5 d^2 (.125, 0, .03125)
    torch.testing.assert_close(
        smooth_l1_loss(D, Z, reduction="none"), torch.tensor([2.5, 0.125, 0.0, 0.03125, 1.5])
    )
    # Huber, delta=2: |d|>=2 -> 2(|d| - 1) (4, 2); else .5 d^2 (.125, 0, .03125)
    torch.testing.assert_close(
        huber_loss(D, Z, delta=2.0, reduction="none"), torch.tensor([4.0, 0.125, 0.0, 0.03125, 2.0])
    )


@pytest.mark.parametrize(
    ("ours", "theirs", "kw"),
    [
        (l1_loss, TF.l1_loss, {}),
        (mse_loss, TF.mse_loss, {}),
        (smooth_l1_loss, TF.smooth_l1_loss, {"beta": 0.7}),
        (huber_loss, TF.huber_loss, {"delta": 1.3}),
    ],
)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_parity_with_torch(ours, theirs, kw, reduction, device) -> None:
    g = gen(1)
    p = torch.randn(6, 7, generator=g, dtype=torch.float64).to(device).requires_grad_()
    t = torch.randn(6, 7, generator=g, dtype=torch.float64).to(device)
    a = ours(p, t, reduction=reduction, **kw)
    b = theirs(p, t, reduction=reduction, **kw)
    torch.testing.assert_close(a, b)
    (ga,) = torch.autograd.grad(a.sum(), p)
    (gb,) = torch.autograd.grad(b.sum(), p)
    torch.testing.assert_close(ga, gb)


@pytest.mark.parametrize("fn", [l1_loss, mse_loss])
def test_weighted_mean_matches_torch(fn) -> None:
    # torch's l1_loss / mse_loss(weight=) divide by sum(w): same rule as losskit
    g = gen(2)
    p, t = torch.randn(10, generator=g), torch.randn(10, generator=g)
    w = torch.rand(10, generator=g) * 3
    torch.testing.assert_close(fn(p, t, weight=w), getattr(TF, fn.__name__)(p, t, weight=w))
    torch.testing.assert_close(fn(p, t, weight=w), (w * fn(p, t, reduction="none")).sum() / w.sum())


def test_huber_weighted_mean_differs_from_torch() -> None:
    # Deliberate difference: torch's huber_loss(weight=) returns mean(w*l) (divides by the
    # element count), unlike its own l1_loss(weight=). losskit divides by sum(w) everywhere.
    p, t = torch.tensor([3.0, 0.5, -2.0]), torch.zeros(3)
    w = torch.tensor([1.0, 1.0, 4.0])
    per = huber_loss(p, t, reduction="none")  # 2.5, .125, 1.5
    ours = huber_loss(p, t, weight=w)
    assert ours.item() == pytest.approx((2.5 + 0.125 + 6.0) / 6.0)
    assert TF.huber_loss(p, t, weight=w).item() == pytest.approx((w * per).mean().item())
    assert ours.item() != pytest.approx(TF.huber_loss(p, t, weight=w).item())


def test_per_sample_weight_broadcasts() -> None:
    p, t = torch.ones(2, 3), torch.zeros(2, 3)
    w = torch.tensor([[1.0], [0.0]])
    assert l1_loss(p * torch.tensor([[1.0], [5.0]]), t, weight=w).item() == pytest.approx(1.0)


@pytest.mark.parametrize("fn", [l1_loss, mse_loss, smooth_l1_loss, huber_loss])
def test_mask_leaves_elements_out_of_numerator_and_denominator(fn) -> None:
    g = gen(5)
    p = torch.randn(4, 6, generator=g, dtype=torch.float64).requires_grad_()
    t = torch.randn(4, 6, generator=g, dtype=torch.float64)
    m = torch.rand(4, 6, generator=g) < 0.6
    t_void = torch.where(m, t, torch.full_like(t, 1e6))  # a "void" value where masked
    none = fn(p, t_void, mask=m, reduction="none")
    assert torch.isfinite(none).all() and (none[~m] == 0).all()
    torch.testing.assert_close(none[m], fn(p, t, reduction="none")[m])
    mean = fn(p, t_void, mask=m)
    torch.testing.assert_close(mean, fn(p[m], t[m]))
    torch.testing.assert_close(fn(p, t_void, mask=m, reduction="sum"), none.sum())
    (grad,) = torch.autograd.grad(mean, p)
    assert torch.isfinite(grad).all() and (grad[~m] == 0).all()
    # mask and weight combine: sum(w l) / sum(w) over the kept elements
    w = torch.rand(4, 6, generator=g, dtype=torch.float64)
    per = fn(p, t, reduction="none")
    torch.testing.assert_close(fn(p, t, weight=w, mask=m), (w * per)[m].sum() / w[m].sum())


@pytest.mark.parametrize("fn", [l1_loss, mse_loss, smooth_l1_loss, huber_loss])
def test_masked_missing_targets_get_zero_gradient(fn) -> None:
    # missing targets stored as NaN and masked out (depth maps, sparse labels): the masked
    # elements get a zero gradient and their NaN never reaches the result (the exclusion rule
    # of losskit._reduction.finish)
    p = torch.tensor([1.0, 2.0, -0.5], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.0, float("nan"), 0.5], dtype=torch.float64)
    m = ~torch.isnan(t)
    out = fn(p, t, mask=m)
    torch.testing.assert_close(out, fn(p[m], t[m]))
    (grad,) = torch.autograd.grad(out, p)
    assert torch.isfinite(grad).all() and grad[1] == 0


def test_identities() -> None:
    g = gen(3)
    p, t = (
        torch.randn(50, generator=g, dtype=torch.float64) * 3,
        torch.zeros(50, dtype=torch.float64),
    )
    # Smooth L1 with beta = 0 is L1
    torch.testing.assert_close(smooth_l1_loss(p, t, beta=0.0), l1_loss(p, t))
    # Huber(delta) = delta * SmoothL1(beta=delta): the same curve scaled
    for delta in (0.3, 1.0, 2.5):
        torch.testing.assert_close(
            huber_loss(p, t, delta=delta, reduction="none"),
            delta * smooth_l1_loss(p, t, beta=delta, reduction="none"),
        )


def _grad(fn, d: torch.Tensor, **kw) -> torch.Tensor:
    d = d.clone().requires_grad_()
    (g,) = torch.autograd.grad(fn(d, torch.zeros_like(d), reduction="sum", **kw), d)
    return g


def test_seed_claims_about_gradients() -> None:
    d = torch.linspace(-10, 10, 2001, dtype=torch.float64)
    d = d[d != 0]
    # L1's gradient has constant magnitude 1: it cannot fine-tune near the optimum
    torch.testing.assert_close(_grad(l1_loss, d).abs(), torch.ones_like(d))
    # L2's gradient grows with the error: 2d
    torch.testing.assert_close(_grad(mse_loss, d), 2 * d)
    # Smooth L1: d near zero, bounded by 1 far away
    g = _grad(smooth_l1_loss, d)
    assert g.abs().max().item() <= 1.0
    near = d.abs() < 1
    torch.testing.assert_close(g[near], d[near])


def test_half_precision_returns_input_dtype() -> None:
    p = torch.randn(100, generator=gen(4)).half()
    out = smooth_l1_loss(p, torch.zeros_like(p))
    assert out.dtype == torch.float16 and torch.isfinite(out)
    ref = smooth_l1_loss(p.float(), torch.zeros(100))
    assert out.float().item() == pytest.approx(ref.item(), rel=1e-3)


def test_bad_hyperparameters() -> None:
    with pytest.raises(ValueError, match=r"huber_loss: delta must be a finite number > 0; got 0"):
        huber_loss(D, Z, delta=0)
    with pytest.raises(
        ValueError, match=r"smooth_l1_loss: beta must be a finite number >= 0; got -1"
    ):
        smooth_l1_loss(D, Z, beta=-1)
    with pytest.raises(TypeError, match=r"smooth_l1_loss: beta must be a number; got str"):
        smooth_l1_loss(D, Z, beta="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"SmoothL1Loss: reduction must be one of"):
        losskit.SmoothL1Loss(reduction="avg")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"l1_loss: target must be a torch.Tensor; got list"):
        l1_loss(D, [0.0] * 5)  # type: ignore[arg-type]


def test_log_cosh_hand_worked_and_stable() -> None:
    """log cosh(1) = log((e + 1/e) / 2) = 0.43378; log cosh(100) = 100 - log 2 + log1p(e^-200)
    (cosh(100) itself is inf in float32); the gradient is tanh(d)."""
    d = torch.tensor([0.0, 1.0, -1.0, 100.0, -100.0], requires_grad=True)
    loss = losskit.log_cosh_loss(d, torch.zeros(5), reduction="none")
    expected = torch.tensor([0.0, 0.433781, 0.433781, 100 - math.log(2), 100 - math.log(2)])
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-6)
    loss.sum().backward()
    torch.testing.assert_close(d.grad, torch.tanh(d.detach()))
    assert torch.isinf(torch.cosh(torch.tensor(100.0)))  # the naive formula would overflow


def test_log_cosh_equals_the_naive_formula_in_float64() -> None:
    g = torch.Generator().manual_seed(0)
    p, t = torch.randn(64, generator=g, dtype=torch.float64) * 3, torch.randn(64, generator=g, dtype=torch.float64)
    naive = torch.log(torch.cosh(p - t))
    torch.testing.assert_close(losskit.log_cosh_loss(p, t, reduction="none"), naive)
    # between L2 / 2 and L1: d^2/2 >= log cosh d >= |d| - log 2
    d = (p - t).abs()
    assert (naive <= d.square() / 2 + 1e-12).all() and (naive >= d - math.log(2) - 1e-12).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_log_cosh_is_relatively_exact_for_tiny_residuals(dtype) -> None:
    # value d^2/2 and gradient tanh(d) ~ d down to the smallest residuals: no cancellation
    # of |d| + softplus(-2|d|) - log 2 below |d| = 1
    d = torch.tensor([1e-30, 1e-10, 1e-3, 0.5, 0.999, 1.0, 1.001, 5.0, 1e30], dtype=dtype)
    p = d.clone().requires_grad_()
    out = losskit.log_cosh_loss(p, torch.zeros_like(d), reduction="none")
    (g,) = torch.autograd.grad(out.sum(), p)
    d64 = d.double()
    # reference: the Taylor series below 0.1 (terms past d^8 under 1e-20 relative), log cosh
    # itself above (no cancellation there)
    d2 = d64 * d64
    series = d2 / 2 - d2**2 / 12 + d2**3 / 45 - 17 * d2**4 / 2520
    ref = torch.where(d64 < 0.1, series, torch.log(torch.cosh(d64.clamp_max(700))))
    ref = torch.where(d64 > 700, d64 - math.log(2.0), ref)
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    ok = ref > torch.finfo(dtype).tiny * 100  # representable in the dtype
    torch.testing.assert_close(out.double()[ok], ref[ok], rtol=tol, atol=0)
    torch.testing.assert_close(g.double(), torch.tanh(d64), rtol=tol, atol=0)


# ------------------------------------------------------------------ robust losses (issue 15)


def _residuals(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(64, 7, generator=g, dtype=torch.float64) * 3
    target = torch.randn(64, 7, generator=g, dtype=torch.float64)
    return pred, target


@pytest.mark.parametrize("name", ["charbonnier", "cauchy", "geman_mcclure", "welsch"])
def test_robust_losses_equal_kornia(name: str) -> None:
    import kornia.losses as kl

    pred, target = _residuals(1)
    ours_fn = getattr(losskit, f"{name}_loss")
    peer_fn = getattr(kl, f"{name}_loss")
    for reduction in ("none", "mean", "sum"):
        a, b = pred.clone().requires_grad_(), pred.clone().requires_grad_()
        ours = ours_fn(a, target, reduction=reduction)
        ref = peer_fn(b, target, reduction=reduction)
        assert (ours - ref).abs().max() < 1e-12
        ga = torch.autograd.grad(ours.sum(), a)[0]
        gb = torch.autograd.grad(ref.sum(), b)[0]
        assert (ga - gb).abs().max() < 1e-12
    # a residual scale c equals kornia on d / c
    torch.testing.assert_close(
        ours_fn(pred, target, residual_scale=2.5, reduction="none"),
        peer_fn(pred / 2.5, target / 2.5, reduction="none"),
    )


def test_robust_losses_hand_worked() -> None:
    d = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    z = torch.zeros(3, dtype=torch.float64)
    r = dict(reduction="none")
    # Charbonnier: sqrt(d^2 + 1) - 1; Cauchy: ln(1 + d^2 / 2); Geman-McClure: 2 d^2 / (d^2 + 4);
    # Welsch: 1 - exp(-d^2 / 2)
    torch.testing.assert_close(losskit.charbonnier_loss(d, z, **r), (d**2 + 1).sqrt() - 1)
    torch.testing.assert_close(losskit.cauchy_loss(d, z, **r), torch.log1p(d**2 / 2))
    torch.testing.assert_close(losskit.geman_mcclure_loss(d, z, **r), 2 * d**2 / (d**2 + 4))
    torch.testing.assert_close(losskit.welsch_loss(d, z, **r), 1 - torch.exp(-(d**2) / 2))
    # Wing (w = 10, eps = 2): 10 ln(1 + |d| / 2) inside, |d| - C outside, C = 10 - 10 ln 6
    big = torch.tensor([20.0], dtype=torch.float64)
    torch.testing.assert_close(losskit.wing_loss(d, z, **r), 10 * torch.log1p(d / 2))
    torch.testing.assert_close(losskit.wing_loss(big, torch.zeros(1, dtype=torch.float64), **r),
                               big - (10 - 10 * math.log(6)))  # fmt: skip


def test_general_robust_loss_covers_the_family() -> None:
    pred, target = _residuals(2)
    d = pred - target
    g = losskit.general_robust_loss
    r = dict(reduction="none")
    torch.testing.assert_close(g(pred, target, robust_shape=2.0, **r), 0.5 * d**2)
    torch.testing.assert_close(g(pred, target, robust_shape=1.0, **r),
                               losskit.charbonnier_loss(pred, target, **r))  # fmt: skip
    torch.testing.assert_close(g(pred, target, robust_shape=0.0, **r),
                               losskit.cauchy_loss(pred, target, **r))  # fmt: skip
    torch.testing.assert_close(g(pred, target, robust_shape=-2.0, **r),
                               losskit.geman_mcclure_loss(pred, target, **r))  # fmt: skip
    # towards Welsch as alpha -> -inf; continuous across the special values 0 and 2
    torch.testing.assert_close(g(pred, target, robust_shape=-1e6, **r),
                               losskit.welsch_loss(pred, target, **r), atol=1e-5, rtol=1e-5)  # fmt: skip
    for a in (0.0, 2.0):
        torch.testing.assert_close(g(pred, target, robust_shape=a + 1e-7, **r),
                                   g(pred, target, robust_shape=a, **r), atol=1e-5, rtol=1e-5)  # fmt: skip


def test_general_robust_loss_learns_its_shape() -> None:
    pred, target = _residuals(3)
    alpha = torch.tensor([0.7, -1.3, 1.5, 0.2, -4.0, 1.9, -0.5], dtype=torch.float64,
                         requires_grad=True)  # fmt: skip
    assert torch.autograd.gradcheck(
        lambda a: losskit.general_robust_loss(pred[:5], target[:5], robust_shape=a), (alpha,)
    )
    # the module with an nn.Parameter: alpha is among its parameters and gets a gradient
    module = losskit.GeneralRobustLoss(robust_shape=torch.nn.Parameter(torch.tensor(1.0)))
    assert [n for n, _ in module.named_parameters()] == ["robust_shape"]
    module(pred.float(), target.float()).backward()
    assert module.robust_shape.grad is not None and torch.isfinite(module.robust_shape.grad)


def mmdet_balanced_l1(pred, target, beta=1.0, alpha=0.5, gamma=1.5):
    diff = torch.abs(pred - target)
    b = math.e ** (gamma / alpha) - 1
    return torch.where(
        diff < beta,
        alpha / b * (b * diff + 1) * torch.log(b * diff / beta + 1) - alpha * diff,
        gamma * diff + gamma / b - alpha * beta,
    )


def test_balanced_l1_equals_mmdetection_and_is_smooth_at_beta() -> None:
    pred, target = _residuals(4)
    for beta in (1.0, 0.5):
        a, b = pred.clone().requires_grad_(), pred.clone().requires_grad_()
        ours = losskit.balanced_l1_loss(a, target, beta=beta, reduction="none")
        ref = mmdet_balanced_l1(b, target, beta=beta)
        assert (ours - ref).abs().max() < 1e-12
        ga, gb = torch.autograd.grad(ours.sum(), a)[0], torch.autograd.grad(ref.sum(), b)[0]
        assert (ga - gb).abs().max() < 1e-12
    # value and gradient continuous at |d| = beta
    x = torch.tensor([1 - 1e-9, 1 + 1e-9], dtype=torch.float64, requires_grad=True)
    v = losskit.balanced_l1_loss(x, torch.zeros(2, dtype=torch.float64), reduction="none")
    (gx,) = torch.autograd.grad(v.sum(), x)
    assert abs(v[0] - v[1]) < 1e-8 and abs(gx[0] - gx[1]) < 1e-6


def test_wing_is_continuous_at_the_width() -> None:
    x = torch.tensor([10 - 1e-9, 10 + 1e-9], dtype=torch.float64)
    v = losskit.wing_loss(x, torch.zeros(2, dtype=torch.float64), reduction="none")
    assert abs(v[0] - v[1]) < 1e-7


@pytest.mark.parametrize(
    "name", ["charbonnier", "cauchy", "geman_mcclure", "welsch", "general_robust", "wing",
             "balanced_l1"],
)  # fmt: skip
def test_robust_losses_are_finite_at_any_residual(name: str) -> None:
    fn = getattr(losskit, f"{name}_loss")
    x = torch.tensor([0.0, 1e-30, 1e-3, 1e3, 1e30, -1e30], requires_grad=True)
    out = fn(x, torch.zeros(6), reduction="none")
    (g,) = torch.autograd.grad(out.sum(), x)
    assert torch.isfinite(out).all() and torch.isfinite(g).all(), (name, out, g)
    assert out[0] == 0 and g[0] == 0
