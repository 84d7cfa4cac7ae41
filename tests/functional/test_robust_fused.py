"""The fused path of the Cauchy, Geman-McClure, balanced L1 and Wing losses (CPU, eager): the loss
and its derivative computed in one forward pass, the textbook formula where it cannot
overflow and the overflow-safe composable form elsewhere. Each test compares with the
composable form (``plain``), which the other devices and second derivatives use; under
``torch.compile`` a value-and-derivative form safe for every residual runs instead (tested
against the formulas at the end)."""

from __future__ import annotations

import pytest
import torch

import losskit
from losskit.functional import _robust as R


def _composable(name: str, kw: dict):
    """The overflow-safe composable form of ``name`` with the hyperparameters ``kw``."""
    c = kw.get("residual_scale", 1.0)
    if name == "cauchy":
        return lambda d: R._cauchy(d / c)
    if name == "geman_mcclure":
        return lambda d: R._geman_mcclure(d / c)
    if name == "balanced_l1":
        return R._balanced_l1(kw["beta"], 0.5, 1.5)[0]
    return R._wing(kw["width"], kw["curvature"])[0]


CASES = [
    ("cauchy", {}),
    ("cauchy", {"residual_scale": 0.3}),
    ("geman_mcclure", {}),
    ("geman_mcclure", {"residual_scale": 2.5}),
    *[("balanced_l1", {"beta": beta}) for beta in (1.0, 0.5, 2.0, 0.0)],
    ("wing", {"width": 10.0, "curvature": 2.0}),
    ("wing", {"width": 1.5, "curvature": 0.5}),
]


def _fn(name: str):
    return getattr(losskit, f"{name}_loss")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("name", "kw"), CASES)
def test_fused_equals_composable_in_value_and_both_gradients(name, kw, dtype) -> None:
    g = torch.Generator().manual_seed(0)
    # residuals on both sides of every switch point (|r| = 1, beta), and exact zeros
    pred = (torch.randn(300, generator=g, dtype=torch.float64) * 3).to(dtype)
    pred[:5] = 0.0
    target = torch.randn(300, generator=g, dtype=torch.float64).to(dtype)
    target[:5] = 0.0
    p1, t1 = pred.clone().requires_grad_(), target.clone().requires_grad_()
    p2, t2 = pred.clone().requires_grad_(), target.clone().requires_grad_()
    ours = _fn(name)(p1, t1, reduction="none", **kw)
    ref = _composable(name, kw)(p2 - t2)
    tol = {"rtol": 2e-6, "atol": 2e-6} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}
    torch.testing.assert_close(ours, ref, **tol)
    w = torch.rand(300, generator=g, dtype=torch.float64).to(dtype)
    ga = torch.autograd.grad((ours * w).sum(), (p1, t1))
    gb = torch.autograd.grad((ref * w).sum(), (p2, t2))
    for a, b in zip(ga, gb, strict=True):
        torch.testing.assert_close(a, b, **tol)
    torch.testing.assert_close(ga[1], -ga[0], rtol=0, atol=0)


@pytest.mark.parametrize("name", ["cauchy", "geman_mcclure"])
def test_residuals_past_the_bound_take_the_overflow_safe_form(name: str) -> None:
    # one residual of 1e30 (its square overflows float32): the whole call falls back, and
    # value and gradient stay finite and equal to the safe form's
    fused = {"cauchy": R._cauchy_fused, "geman_mcclure": R._geman_mcclure_fused}[name]
    plain = {"cauchy": R._cauchy, "geman_mcclure": R._geman_mcclure}[name]
    r = torch.tensor([0.5, -2.0, 1e30, -3e20], dtype=torch.float32)
    assert fused(r.clone(), True) is None
    assert fused(r[:2].clone(), True) is not None
    p = r.clone().requires_grad_()
    loss = _fn(name)(p, torch.zeros(4), reduction="none")
    (gp,) = torch.autograd.grad(loss.sum(), p)
    q = r.clone().requires_grad_()
    ref = plain(q)
    (gq,) = torch.autograd.grad(ref.sum(), q)
    assert torch.isfinite(loss).all() and torch.isfinite(gp).all()
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(gp, gq)


def test_a_nan_residual_is_not_taken_for_bounded() -> None:
    # aminmax propagates NaN, and NaN <= limit is False: the safe form decides what NaN gives
    assert not R._bounded(torch.tensor([1.0, float("nan")]), 10.0)
    assert not R._bounded(torch.empty(0), 10.0)
    assert R._bounded(torch.tensor([-10.0, 10.0]), 10.0)


@pytest.mark.parametrize("name", ["cauchy", "geman_mcclure", "balanced_l1", "wing"])
def test_second_backward_through_the_same_graph_recomputes_the_derivative(name: str) -> None:
    g = torch.Generator().manual_seed(1)
    p = torch.randn(50, generator=g, dtype=torch.float64).mul_(3).requires_grad_()
    t = torch.randn(50, generator=g, dtype=torch.float64)
    loss = _fn(name)(p, t, reduction="sum")
    (g1,) = torch.autograd.grad(loss, p, retain_graph=True)
    (g2,) = torch.autograd.grad(loss, p)
    torch.testing.assert_close(g1, g2, rtol=0, atol=0)
    # and the held derivative was scaled by the upstream gradient, not returned as is
    (g3,) = torch.autograd.grad(2.0 * _fn(name)(p, t, reduction="sum"), p)
    torch.testing.assert_close(g3, 2.0 * g1)


@pytest.mark.parametrize("name", ["cauchy", "geman_mcclure", "balanced_l1", "wing"])
def test_create_graph_differentiates_the_composable_form(name: str) -> None:
    # a zero residual too for the two smooth losses (their composable forms square r itself);
    # balanced L1 and Wing are written in |r|, whose second derivative autograd takes as 0 at r = 0
    zero = 0.0 if name in ("cauchy", "geman_mcclure") else 0.05
    p = torch.tensor([0.3, -1.7, 2.5, zero], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.1, 0.2, -0.4, 0.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(
        lambda a, b: _fn(name)(a, b, reduction="sum"), (p, t), eps=1e-6, atol=1e-5
    )


def test_without_a_gradient_no_derivative_is_computed() -> None:
    # an input that needs no gradient: the forward pass returns the loss only
    p, t = torch.randn(10), torch.randn(10)
    with torch.no_grad():
        out = losskit.cauchy_loss(p, t, reduction="none")
    torch.testing.assert_close(out, R._cauchy(p - t))
    assert R._cauchy_fused((p - t).clone(), False)[1] is None


@pytest.mark.parametrize(
    ("name", "kw", "curvature"),
    [
        ("mse", {}, 2.0),  # d^2
        ("huber", {}, 1.0),  # d^2 / 2 near 0
        ("smooth_l1", {}, 1.0),  # d^2 / (2 beta), beta = 1
        ("charbonnier", {}, 1.0),  # sqrt(d^2 + 1) - 1
        ("cauchy", {}, 1.0),  # log(1 + d^2 / 2)
        ("geman_mcclure", {}, 1.0),  # 2 d^2 / (d^2 + 4)
        ("welsch", {}, 1.0),  # 1 - exp(-d^2 / 2)
        ("log_cosh", {}, 1.0),  # log cosh d
        *[("general_robust", {"robust_shape": a}, 1.0) for a in (-2.0, 0.0, 0.5, 1.0, 2.0)],
        ("cauchy", {"residual_scale": 0.5}, 4.0),  # 1 / c^2
    ],
)
def test_second_derivative_at_a_zero_residual_is_exact(name: str, kw: dict, curvature: float):
    # the class of defect: a smooth loss written in |d| has autograd's second derivative 0 at
    # d = 0 (abs' = sign(0) = 0); each smooth loss's curvature there is its Taylor term
    p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    t = torch.zeros(3, dtype=torch.float64)
    loss = getattr(losskit, f"{name}_loss")(p, t, reduction="sum", **kw)
    (g,) = torch.autograd.grad(loss, p, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), p)
    torch.testing.assert_close(h, torch.full_like(h, curvature), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["charbonnier", "cauchy", "geman_mcclure", "welsch", "wing",
                                  "balanced_l1"])  # fmt: skip
def test_compiled_equals_eager_at_every_scale(name: str) -> None:
    """The compiled forms (branch-free where the eager one branches on the data, ``sqrt``
    where it takes ``hypot``) give the eager values and gradients from 0 to residuals whose
    square overflows, finite wherever the loss is representable."""
    torch._dynamo.reset()
    fn = _fn(name)
    d = torch.tensor([0.0, 1e-6, -0.3, 1.0, 2.0, -7.5, 1e3, 2.0**32, -(2.0**33), 1e20, -1e30, 1e38])
    compiled = torch.compile(lambda p, t: fn(p, t, reduction="none"), backend="aot_eager",
                             fullgraph=True)  # fmt: skip
    a, b = d.clone().requires_grad_(), d.clone().requires_grad_()
    zero = torch.zeros_like(d)
    got, ref = compiled(a, zero), fn(b, zero, reduction="none")
    torch.testing.assert_close(got, ref, rtol=2e-6, atol=1e-30)
    w = torch.linspace(0.5, 2.0, d.numel())
    (got * w).sum().backward()
    (ref * w).sum().backward()
    assert torch.isfinite(got).all() and torch.isfinite(a.grad).all()
    torch.testing.assert_close(a.grad, b.grad, rtol=2e-6, atol=1e-30)


def test_log1p_sq_is_exact_across_its_seam() -> None:
    """``log(1 + t^2)`` (Cauchy's and the general robust loss's core) switches from
    ``log1p(t^2)`` to ``2 log|t|`` at ``|t| = 2^32``: value and gradient equal the formula's on
    both sides and at the seam itself (each branch's clamp passes no gradient where it bites,
    so the seam is neither doubled nor dropped), and stay finite where ``t^2`` overflows."""
    import math

    s = 2.0**32
    ts = [0.0, 1e-3, -1.0, 7.0, s * (1 - 2**-30), s, -s, s * (1 + 2**-30), 1e30, -1e300]
    t = torch.tensor(ts, dtype=torch.float64, requires_grad=True)
    y = R._log1p_sq(t)
    y.sum().backward()
    for v, got, grad in zip(ts, y.tolist(), t.grad.tolist(), strict=True):
        want = 2.0 * math.log(abs(v)) + math.log1p(1.0 / (v * v)) if abs(v) > 1e100 else math.log1p(v * v)
        assert got == pytest.approx(want, rel=1e-15, abs=0.0), v
        assert grad == pytest.approx(2.0 * v / (1.0 + v * v) if abs(v) < 1e100 else 2.0 / v,
                                     rel=1e-15, abs=0.0), v  # fmt: skip


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["cauchy", "geman_mcclure"])
def test_compiled_value_and_derivative_pair_is_exact_at_every_scale(name: str, dtype) -> None:
    """The value-and-derivative forms ``torch.compile`` runs (one select-joined expression
    each, safe for every residual) against the formulas in 50-digit arithmetic, from 0 and
    tiny residuals through the seams (``|r| / sqrt 2 = 2^32`` for Cauchy) to residuals whose
    square overflows: within 4 units in the last place, or below the dtype's smallest normal
    number where the exact value underflows."""
    import mpmath

    mpmath.mp.dps = 50
    pair = {"cauchy": R._cauchy_pair, "geman_mcclure": R._geman_mcclure_pair}[name]
    top = 1e300 if dtype == torch.float64 else 1e38
    s = 2.0**32 * 2.0**0.5
    rs = [0.0, 1e-30, -1e-7, 0.3, -1.0, 2.0 / 3.0**0.5, 7.5, -1e3, 6e9, s * (1 - 2**-20), s,
          -s * (1 + 2**-20), -1e12, 1e19, -2e19, 1e30, top]  # fmt: skip
    r = torch.tensor(rs, dtype=dtype)
    loss, deriv = pair(r)
    info = torch.finfo(dtype)
    for v, got_l, got_d in zip(r.tolist(), loss.tolist(), deriv.tolist(), strict=True):
        x = mpmath.mpf(v)
        if name == "cauchy":
            want_l, want_d = mpmath.log1p(x * x / 2), x / (1 + x * x / 2)
        else:
            want_l, want_d = 2 * x * x / (x * x + 4), 16 * x / (x * x + 4) ** 2
        for got, want in ((got_l, want_l), (got_d, want_d)):
            bound = max(4 * info.eps * abs(float(want)), info.tiny)
            assert abs(got - float(want)) <= bound, (name, dtype, v, got, float(want))
