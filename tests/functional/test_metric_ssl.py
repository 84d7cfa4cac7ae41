"""VICReg and Barlow Twins (issue 14): hand-worked values, float64 parity with
pytorch-metric-learning's VICRegLoss and MONAI's BarlowTwinsLoss (value and gradients of both
views), the parts returned by "none", and the edges (a batch of one, constant dimensions,
huge embeddings). Each deliberate difference sits next to its test."""

from __future__ import annotations

import math

import monai.losses as monai_losses  # a test extra
import pytest
import pytorch_metric_learning.losses as pml_losses  # a test extra: parity must run, never skip
import torch

from losskit.functional import barlow_twins_loss, vicreg_loss

from ..conftest import gen

F64 = torch.float64


def _views(n: int, d: int, seed: int = 0):
    g = gen(seed)
    a = torch.randn(n, d, generator=g, dtype=F64)
    return a, a + 0.5 * torch.randn(n, d, generator=g, dtype=F64)


def _parity(ours, peer, a: torch.Tensor, p: torch.Tensor) -> None:
    ao, po = a.clone().requires_grad_(), p.clone().requires_grad_()
    ap, pp = a.clone().requires_grad_(), p.clone().requires_grad_()
    lo, lp = ours(ao, po), peer(ap, pp)
    torch.testing.assert_close(lo, lp, rtol=1e-12, atol=1e-12)
    for g1, g2 in zip(torch.autograd.grad(lo, (ao, po)), torch.autograd.grad(lp, (ap, pp)),
                      strict=True):  # fmt: skip
        torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-12)


def test_hand_worked_vicreg() -> None:
    # views (1, 0), (-1, 0) and (1, 1), (-1, -1): invariance mean_i ||z_i - z'_i||^2 / D =
    # (1/2 + 1/2) / 2 = 0.5; view 1: std (sqrt(2 + eps), sqrt(eps)) -> v = (0 + 1 - 0.01) / 2;
    # view 2: both std sqrt(2 + eps) -> v = 0; covariance: view 1 none, view 2 Cov_01 = 2,
    # c = (2^2 + 2^2) / 2 = 4
    a = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=F64)
    p = torch.tensor([[1.0, 1.0], [-1.0, -1.0]], dtype=F64)
    parts = vicreg_loss(a, p, eps=1e-4, reduction="none")
    v1 = (1.0 - math.sqrt(1e-4)) / 2
    torch.testing.assert_close(parts, torch.tensor([12.5, 25.0 * v1 / 2, 4.0], dtype=F64))
    assert vicreg_loss(a, p).item() == pytest.approx(parts.sum().item())


@pytest.mark.parametrize(("n", "d"), [(32, 16), (7, 40)])
def test_vicreg_equals_pml(n: int, d: int) -> None:
    a, p = _views(n, d, seed=n)
    for kw, peer_kw in (
        ({}, {}),
        ({"invariance_weight": 5.0, "variance_weight": 2.0, "covariance_weight": 0.5, "eps": 1e-3},
         {"invariance_lambda": 5.0, "variance_mu": 2.0, "covariance_v": 0.5, "eps": 1e-3}),
    ):  # fmt: skip
        peer = pml_losses.VICRegLoss(**peer_kw)
        _parity(lambda x, y, kw=kw: vicreg_loss(x, y, **kw),
                lambda x, y, peer=peer: peer(x, ref_emb=y), a, p)  # fmt: skip


@pytest.mark.parametrize(("n", "d"), [(32, 16), (5, 24)])
def test_barlow_twins_equals_monai(n: int, d: int) -> None:
    a, p = _views(n, d, seed=n + 1)
    # MONAI rounds lambd to a float32 tensor: compare at a weight float32 holds exactly
    # (5e-3 itself differs by 2e-8 relative in the off-diagonal part)
    lam = 2.0**-8
    peer = monai_losses.BarlowTwinsLoss(lambd=lam)
    _parity(lambda x, y: barlow_twins_loss(x, y, off_diagonal_weight=lam), peer, a, p)


def test_parts_and_mask() -> None:
    a, p = _views(10, 6, seed=3)
    keep = torch.tensor([True, False] * 5)
    for fn in (vicreg_loss, barlow_twins_loss):
        parts = fn(a, p, reduction="none")
        torch.testing.assert_close(parts.sum(), fn(a, p))
        torch.testing.assert_close(fn(a, p, reduction="sum"), fn(a, p))
        dirty_a, dirty_p = a.clone(), p.clone()
        dirty_a[~keep] = math.nan
        torch.testing.assert_close(fn(dirty_a, dirty_p, mask=keep), fn(a[keep], p[keep]))


@pytest.mark.parametrize("fn", [vicreg_loss, barlow_twins_loss])
def test_edges_are_finite(fn) -> None:
    cases = {
        "a batch of one": _views(1, 4, seed=4),
        "an empty batch": (torch.zeros(0, 4, dtype=F64), torch.zeros(0, 4, dtype=F64)),
        "constant dimensions": (torch.ones(5, 4, dtype=F64), torch.ones(5, 4, dtype=F64)),
        "identical views": (lambda a: (a, a.clone()))(_views(6, 4, seed=5)[0]),
    }
    for name, (a, p) in cases.items():
        ag, pg = a.clone().requires_grad_(), p.clone().requires_grad_()
        out = fn(ag, pg)
        ga, gp = torch.autograd.grad(out, (ag, pg))
        assert torch.isfinite(out) and torch.isfinite(ga).all() and torch.isfinite(gp).all(), name
    # fewer than two samples: no variance, covariance or correlation term (MONAI raises)
    a, p = _views(1, 4, seed=6)
    parts = fn(a, p, reduction="none")
    assert (parts[1:] == 0).all() if fn is vicreg_loss else (parts == 0).all()


def test_huge_embeddings_stay_finite_in_float32() -> None:
    # the statistics are taken of each dimension scaled by its largest magnitude: float32 at
    # 1e-30 and 1e30 equals float64 (at 1e-30 the 1e-6 added to the standard deviation
    # dominates and the correlations vanish: the loss is D, in both)
    a, p = _views(16, 8, seed=7)
    for scale in (1e-30, 1e30):
        want = barlow_twins_loss(a * scale, p * scale)
        got = barlow_twins_loss((a * scale).float(), (p * scale).float())
        assert torch.isfinite(got) and got.item() == pytest.approx(want.item(), rel=1e-4)
    # VICReg's variance term (a hinge on the standard deviation) is finite at 1e-25 and 1e25
    for scale in (1e-25, 1e25):
        parts = vicreg_loss((a * scale).float(), (p * scale).float(), reduction="none")
        assert torch.isfinite(parts[1]), scale
