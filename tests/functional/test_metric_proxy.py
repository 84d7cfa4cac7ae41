"""Proxy-Anchor, ProxyNCA and SoftTriple (issue 14): hand-worked values, float64 parity with
pytorch-metric-learning (PML) in value and in the gradients of the embeddings and the proxies,
the modules' proxies, and the edges. Each deliberate difference sits next to its test.
"""

from __future__ import annotations

import math

import pytest
import pytorch_metric_learning.losses as pml_losses  # a test extra: parity must run, never skip
import torch

from losskit.functional import proxy_anchor_loss, proxy_nca_loss, soft_triple_loss
from losskit.nn import ProxyAnchorLoss, ProxyNCALoss, SoftTripleLoss

from ..conftest import assert_compiled_equals_eager, gen

F64 = torch.float64


def _batch(b: int, d: int, classes: int, seed: int = 0):
    g = gen(seed)
    return torch.randn(b, d, generator=g, dtype=F64), torch.randint(0, classes, (b,), generator=g)


def _parity(ours, peer, x: torch.Tensor, y: torch.Tensor, centers_of) -> None:
    """``ours(x, y, centers)`` equals ``peer(x, y)`` with the peer's proxies as ``centers``,
    in value and in the gradients of ``x`` and of the proxies."""
    peer = peer.double()
    (proxies,) = list(peer.parameters())
    centers = centers_of(proxies.detach()).clone().requires_grad_()
    xo, xp = x.clone().requires_grad_(), x.clone().requires_grad_()
    lo, lp = ours(xo, y, centers), peer(xp, y)
    torch.testing.assert_close(lo, lp, rtol=1e-12, atol=1e-12)
    go, gc = torch.autograd.grad(lo, (xo, centers))
    gp, gpp = torch.autograd.grad(lp, (xp, proxies))
    torch.testing.assert_close(go, gp, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gc, centers_of(gpp), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- hand-worked


def test_hand_worked_proxy_anchor() -> None:
    # proxies (1, 0), (0, 1); samples (1, 0) of class 0 and (0.6, 0.8) of class 1.
    # cosines: s_00 = 1, s_01 = 0, s_10 = 0.6, s_11 = 0.8; margin 0.1, scale 2.
    # proxy 0: pos log(1 + e^{-2 (1 - 0.1)}), neg log(1 + e^{2 (0.6 + 0.1)})
    # proxy 1: pos log(1 + e^{-2 (0.8 - 0.1)}), neg log(1 + e^{2 (0 + 0.1)})
    x = torch.tensor([[1.0, 0.0], [0.6, 0.8]], dtype=F64)
    y = torch.tensor([0, 1])
    c = torch.eye(2, dtype=F64)
    p0 = math.log1p(math.exp(-1.8)) + math.log1p(math.exp(1.4))
    p1 = math.log1p(math.exp(-1.4)) + math.log1p(math.exp(0.2))
    none = proxy_anchor_loss(x, y, c, margin=0.1, scale=2.0, reduction="none")
    torch.testing.assert_close(none, torch.tensor([p0, p1], dtype=F64))
    # "mean": positive parts over the 2 proxies with a sample, negative parts over C = 2
    mean = proxy_anchor_loss(x, y, c, margin=0.1, scale=2.0)
    assert mean.item() == pytest.approx((p0 + p1) / 2)
    # a third proxy without samples adds a negative part only, and to the count C
    c3 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=F64)
    neg2 = math.log1p(math.exp(2 * (-1 + 0.1)) + math.exp(2 * (-0.6 + 0.1)))
    pos = math.log1p(math.exp(-1.8)) + math.log1p(math.exp(-1.4))
    negs = math.log1p(math.exp(1.4)) + math.log1p(math.exp(0.2)) + neg2
    got = proxy_anchor_loss(x, y, c3, margin=0.1, scale=2.0)
    assert got.item() == pytest.approx(pos / 2 + negs / 3)


def test_hand_worked_proxy_nca_and_soft_triple() -> None:
    # ProxyNCA: sample (1, 0), proxies (1, 0), (0, 1), (-1, 0): d^2 = 0, 2, 4, scale 1.5:
    # -log(1 / (1 + e^{-3} + e^{-6}))
    x = torch.tensor([[1.0, 0.0]], dtype=F64)
    c = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=F64)
    got = proxy_nca_loss(x, torch.tensor([0]), c, scale=1.5)
    assert got.item() == pytest.approx(math.log1p(math.exp(-3) + math.exp(-6)), rel=1e-12)
    # SoftTriple, K = 2: class 0's centres at cos 1 and 0 with t = 1: S_0 = e/(e+1) * 1;
    # class 1's centres at cos 0 and -1: S_1 = -1/(1+e); scale 1, margin 0.1:
    # -log(e^{S_0 - 0.1} / (e^{S_0 - 0.1} + e^{S_1}))
    c2 = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, -1.0], [-1.0, 0.0]]], dtype=F64)
    s0, s1 = math.e / (math.e + 1), -1 / (1 + math.e)
    want = math.log1p(math.exp(s1 - s0 + 0.1))
    got = soft_triple_loss(x, torch.tensor([0]), c2, margin=0.1, scale=1.0, temperature=1.0)
    assert got.item() == pytest.approx(want, rel=1e-12)


# --------------------------------------------------------------------------- PML parity


@pytest.mark.parametrize(("margin", "scale"), [(0.1, 32.0), (0.3, 8.0)])
def test_proxy_anchor_equals_pml(margin: float, scale: float) -> None:
    torch.manual_seed(0)
    x, y = _batch(40, 12, 7, seed=1)  # some of the 9 classes have no sample
    peer = pml_losses.ProxyAnchorLoss(9, 12, margin=margin, alpha=scale)
    _parity(lambda a, b, c: proxy_anchor_loss(a, b, c, margin=margin, scale=scale), peer, x, y,
            lambda p: p)  # fmt: skip


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_proxy_nca_equals_pml(scale: float) -> None:
    torch.manual_seed(1)
    x, y = _batch(30, 8, 6, seed=2)
    peer = pml_losses.ProxyNCALoss(6, 8, softmax_scale=scale)
    _parity(lambda a, b, c: proxy_nca_loss(a, b, c, scale=scale), peer, x, y, lambda p: p)


@pytest.mark.parametrize("k", [1, 4])
def test_soft_triple_equals_pml(k: int) -> None:
    torch.manual_seed(2)
    x, y = _batch(24, 8, 5, seed=3)
    peer = pml_losses.SoftTripleLoss(5, 8, centers_per_class=k, la=20, gamma=0.1, margin=0.01)
    # PML's fc is (D, C K); losskit's centers (C, K, D) = fc.T reshaped
    _parity(soft_triple_loss, peer, x, y, lambda fc: fc.T.reshape(5, k, 8))


# --------------------------------------------------------------------------- modules


def test_modules_hold_their_proxies() -> None:
    torch.manual_seed(3)
    x, y = _batch(8, 4, 3, seed=4)
    for module, shape in (
        (ProxyAnchorLoss(3, 4), (3, 4)),
        (ProxyNCALoss(3, 4), (3, 4)),
        (SoftTripleLoss(3, 4, subcenters=2), (3, 2, 4)),
    ):
        module = module.double()
        assert isinstance(module.centers, torch.nn.Parameter) and module.centers.shape == shape
        loss = module(x, y)
        loss.backward()
        assert module.centers.grad is not None and torch.isfinite(module.centers.grad).all()
        assert "centers" in dict(module.named_parameters())


def test_proxy_initialisation_matches_pml() -> None:
    # the same initialisers as PML: Kaiming normal (fan_out) for Proxy-Anchor, N(0, 1) for
    # ProxyNCA, Kaiming uniform (a = sqrt(5)) on the (D, C K) layout for SoftTriple
    torch.manual_seed(5)
    ours = ProxyAnchorLoss(50, 64).centers.detach()
    torch.manual_seed(5)
    theirs = pml_losses.ProxyAnchorLoss(50, 64).proxies.detach()
    torch.testing.assert_close(ours, theirs)
    torch.manual_seed(6)
    ours = SoftTripleLoss(5, 8, subcenters=3).centers.detach()
    torch.manual_seed(6)
    fc = pml_losses.SoftTripleLoss(5, 8, centers_per_class=3).fc.detach()
    torch.testing.assert_close(ours, fc.T.reshape(5, 3, 8))


# --------------------------------------------------------------------------- edges


@pytest.mark.parametrize("fn", [proxy_anchor_loss, proxy_nca_loss, soft_triple_loss])
def test_edges_are_finite(fn) -> None:
    centers = torch.randn(3, 2, 4, dtype=F64) if fn is soft_triple_loss else torch.randn(3, 4, dtype=F64)
    cases = {
        "B = 1": (torch.randn(1, 4, dtype=F64), torch.tensor([2])),
        "all labels equal": (torch.randn(4, 4, dtype=F64), torch.zeros(4, dtype=torch.long)),
        "identical embeddings": (torch.ones(4, 4, dtype=F64), torch.tensor([0, 0, 1, 1])),
        "zero vectors": (torch.zeros(4, 4, dtype=F64), torch.tensor([0, 0, 1, 1])),
    }
    for name, (x, y) in cases.items():
        xg, cg = x.clone().requires_grad_(), centers.clone().requires_grad_()
        out = fn(xg, y, cg)
        gx, gc = torch.autograd.grad(out, (xg, cg))
        assert torch.isfinite(out) and torch.isfinite(gx).all() and torch.isfinite(gc).all(), name
    # a void label under ignore_index is never read
    x = torch.randn(3, 4, dtype=F64)
    y = torch.tensor([0, -100, 1])
    torch.testing.assert_close(fn(x, y, centers), fn(x[[0, 2]], y[[0, 2]], centers))


@pytest.mark.parametrize("left_out", [False, True])
def test_soft_triple_compiled_equals_eager(left_out: bool) -> None:
    """Under torch.compile the pooling over a class's centres takes its softmax from
    losskit._kept_activations (an operator whose backward reads the weights back): value and
    gradient equal the eager form's, with an ignored row holding NaN too."""
    g = gen(71)
    x = torch.randn(8, 6, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 3, (8,), generator=g)
    centers = torch.randn(3, 4, 6, generator=g, dtype=torch.float64)
    kwargs = {}
    if left_out:
        labels[2] = -100
        x[2] = float("nan")
        kwargs["ignore_index"] = -100
    call = lambda z: soft_triple_loss(z, labels, centers, **kwargs)  # noqa: E731
    assert_compiled_equals_eager(call, x)
