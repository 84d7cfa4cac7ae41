"""NT-Xent, InfoNCE and SupCon (issue 14): hand-worked values, float64 parity with
pytorch-metric-learning (PML) in value and gradient, the chunked path equal to the dense one
without a B x B tensor, and the edges (no positive, no negative, B = 1, identical and zero
embeddings, a temperature near 0). Each deliberate difference from PML sits next to its test.
"""

from __future__ import annotations

import math

import pytest
import pytorch_metric_learning.losses as pml_losses  # a test extra: parity must run, never skip
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from losskit.functional import info_nce_loss, nt_xent_loss, supcon_loss

from ..conftest import gen

F64 = torch.float64


def _batch(b: int, d: int, classes: int, seed: int = 0, dtype=F64):
    g = gen(seed)
    x = torch.randn(b, d, generator=g, dtype=dtype)
    y = (torch.arange(b) % classes)[torch.randperm(b, generator=g)]
    return x, y


def _grad(loss: torch.Tensor, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return torch.autograd.grad(loss, xs)


# --------------------------------------------------------------------------- hand-worked


def test_hand_worked_nt_xent() -> None:
    # x0 = x1 = (1, 0) (labels 0), x2 = (0, 1) (label 1), t = 0.5: cosines s01 = 1, s02 = 0.
    # Pair (0, 1): -log(e^2 / (e^2 + e^0)) = log(1 + e^-2); pair (1, 0) likewise. Anchor 2
    # has no positive. Mean over the 2 positive pairs: log(1 + e^-2) = 0.126928...
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=F64)
    y = torch.tensor([0, 0, 1])
    want = math.log1p(math.exp(-2.0))
    assert nt_xent_loss(x, y, temperature=0.5).item() == pytest.approx(want, rel=1e-12)
    none = nt_xent_loss(x, y, temperature=0.5, reduction="none")
    torch.testing.assert_close(none, torch.tensor([want, want, 0.0], dtype=F64))


def test_hand_worked_supcon_two_positives() -> None:
    # anchor (1, 0) with positives at cos 1 and cos 0 (labels 0) and a negative at cos -1,
    # t = 1: LSE(1, 0, -1) - mean(1, 0) = log(e + 1 + 1/e) - 1/2.
    x = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]], dtype=F64)
    y = torch.tensor([0, 0, 0, 1])
    got = supcon_loss(x, y, temperature=1.0, reduction="none")[0]
    want = math.log(math.e + 1.0 + 1.0 / math.e) - 0.5
    assert got.item() == pytest.approx(want, rel=1e-12)
    # NT-Xent leaves the other positive out of each denominator: pair (0, 1) is
    # log(1 + e^{-1 - 1}), pair (0, 2) log(1 + e^{-1 - 0}); anchor 0's share is their sum
    nt = nt_xent_loss(x, y, temperature=1.0, reduction="none")[0]
    assert nt.item() == pytest.approx(math.log1p(math.exp(-2)) + math.log1p(math.exp(-1)))


def test_hand_worked_info_nce() -> None:
    # two samples, views identical and orthogonal to the other sample, t = 1.
    # symmetric=False: a_i against p_i (cos 1) and p_j (cos 0): log(1 + e^-1) per sample.
    # symmetric=True: each of the 4 views has its other view (cos 1) and two negatives
    # (cos 0): log(1 + 2 e^-1); "none" gives sample i both of its views' terms.
    a = torch.eye(2, dtype=F64)
    one = info_nce_loss(a, a.clone(), temperature=1.0, symmetric=False, reduction="none")
    torch.testing.assert_close(one, torch.full((2,), math.log1p(math.exp(-1)), dtype=F64))
    both = info_nce_loss(a, a.clone(), temperature=1.0, reduction="none")
    torch.testing.assert_close(both, torch.full((2,), 2 * math.log1p(2 * math.exp(-1)), dtype=F64))
    assert info_nce_loss(a, a.clone(), temperature=1.0).item() == pytest.approx(
        math.log1p(2 * math.exp(-1))
    )


# --------------------------------------------------------------------------- PML parity


@pytest.mark.parametrize(("b", "classes"), [(32, 8), (48, 3), (40, 37)])
@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_nt_xent_and_supcon_equal_pml(b: int, classes: int, temperature: float) -> None:
    x, y = _batch(b, 16, classes, seed=b + classes)
    for ours, peer in (
        (nt_xent_loss, pml_losses.NTXentLoss(temperature=temperature)),
        (supcon_loss, pml_losses.SupConLoss(temperature=temperature)),
    ):
        xo, xp = x.clone().requires_grad_(), x.clone().requires_grad_()
        lo, lp = ours(xo, y, temperature=temperature), peer(xp, y)
        torch.testing.assert_close(lo, lp, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(*_grad(lo, xo), *_grad(lp, xp), rtol=1e-10, atol=1e-12)


def test_reference_set_equals_pml() -> None:
    x, y = _batch(24, 8, 6, seed=1)
    r, ry = _batch(40, 8, 6, seed=2)
    for ours, peer in (
        (nt_xent_loss, pml_losses.NTXentLoss(temperature=0.2)),
        (supcon_loss, pml_losses.SupConLoss(temperature=0.2)),
    ):
        xo, xp = x.clone().requires_grad_(), x.clone().requires_grad_()
        ro, rp = r.clone().requires_grad_(), r.clone().requires_grad_()
        lo = ours(xo, y, ro, ry, temperature=0.2)
        lp = peer(xp, y, ref_emb=rp, ref_labels=ry)
        torch.testing.assert_close(lo, lp, rtol=1e-12, atol=1e-12)
        for a, b in zip(_grad(lo, xo, ro), _grad(lp, xp, rp), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("symmetric", [True, False])
def test_info_nce_equals_pml_self_supervised(symmetric: bool) -> None:
    a, _ = _batch(20, 8, 20, seed=3)
    p = a + 0.5 * _batch(20, 8, 20, seed=4)[0]
    peer = pml_losses.SelfSupervisedLoss(pml_losses.NTXentLoss(temperature=0.1), symmetric=symmetric)
    ao, po = a.clone().requires_grad_(), p.clone().requires_grad_()
    ap, pp = a.clone().requires_grad_(), p.clone().requires_grad_()
    lo = info_nce_loss(ao, po, temperature=0.1, symmetric=symmetric)
    lp = peer(ap, pp)
    torch.testing.assert_close(lo, lp, rtol=1e-12, atol=1e-12)
    for g1, g2 in zip(_grad(lo, ao, po), _grad(lp, ap, pp), strict=True):
        torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-12)


def test_info_nce_symmetric_is_nt_xent_of_the_concatenated_views() -> None:
    a, _ = _batch(10, 6, 10, seed=5)
    p, _ = _batch(10, 6, 10, seed=6)
    ids = torch.arange(10)
    cat = nt_xent_loss(torch.cat([a, p]), torch.cat([ids, ids]), temperature=0.3,
                       reduction="none")  # fmt: skip
    got = info_nce_loss(a, p, temperature=0.3, reduction="none")
    torch.testing.assert_close(got, cat[:10] + cat[10:])


def test_supcon_anchor_without_positive_leaves_the_mean() -> None:
    # PML's AvgNonZeroReducer drops the zero losses of such anchors silently (its issue 744);
    # losskit defines it: 0 for that anchor, with a gradient, and out of the mean's count
    x, y = _batch(9, 4, 3, seed=7)
    y = torch.tensor([0, 0, 0, 1, 1, 1, 2, 3, 4])  # anchors 6, 7, 8 have no positive
    x.requires_grad_()
    none = supcon_loss(x, y, reduction="none")
    assert (none[6:] == 0).all() and (none[:6] > 0).all()
    mean = supcon_loss(x, y)
    torch.testing.assert_close(mean, none[:6].mean())
    torch.testing.assert_close(mean, pml_losses.SupConLoss()(x, y))
    (g,) = torch.autograd.grad(mean, x)
    assert torch.isfinite(g).all()


def test_supcon_all_labels_equal_is_defined_where_pml_gives_zero() -> None:
    # deliberate difference: with no negative pair the formula still holds (the positives
    # compete among themselves); PML returns 0 for the whole batch
    x, _ = _batch(6, 4, 1, seed=8)
    y = torch.zeros(6, dtype=torch.long)
    assert pml_losses.SupConLoss()(x, y).item() == 0.0
    got = supcon_loss(x, y)
    assert got.item() > 0 and math.isfinite(got.item())
    # ... and equals the formula written out: LSE over the 5 others minus their mean
    xn = torch.nn.functional.normalize(x, dim=1)
    s = xn @ xn.T / 0.1
    s.fill_diagonal_(-math.inf)
    lse = torch.logsumexp(s, 1)
    mean_pos = torch.where(torch.isinf(s), 0.0, s).sum(1) / 5
    torch.testing.assert_close(got, (lse - mean_pos).mean())


# --------------------------------------------------------------------------- chunked


@pytest.mark.parametrize("chunk", [1, 3, 7, 64])
@pytest.mark.parametrize("fn", [nt_xent_loss, supcon_loss])
def test_chunked_equals_dense(fn, chunk: int) -> None:
    x, y = _batch(23, 6, 5, seed=chunk)
    r, ry = _batch(11, 6, 5, seed=chunk + 1)
    mask = torch.rand(23, generator=gen(chunk)) > 0.2
    w = torch.rand(23, generator=gen(chunk + 2), dtype=F64)
    for extra, kw in (((), {}), ((r, ry), {}), ((), {"mask": mask, "weight": w})):
        for reduction in ("none", "mean"):
            xd, xc = x.clone().requires_grad_(), x.clone().requires_grad_()
            dense = fn(xd, y, *extra, reduction=reduction, **kw)
            chunked = fn(xc, y, *extra, chunk_size=chunk, reduction=reduction, **kw)
            torch.testing.assert_close(chunked, dense, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(*_grad(chunked.sum(), xc), *_grad(dense.sum(), xd),
                                       rtol=1e-10, atol=1e-12)  # fmt: skip


@pytest.mark.parametrize("symmetric", [True, False])
def test_info_nce_chunked_equals_dense(symmetric: bool) -> None:
    a, _ = _batch(13, 5, 13, seed=9)
    p, _ = _batch(13, 5, 13, seed=10)
    a32, p32 = a.float().requires_grad_(), p.float().requires_grad_()
    a33, p33 = a.float().requires_grad_(), p.float().requires_grad_()
    dense = info_nce_loss(a32, p32, symmetric=symmetric)
    chunked = info_nce_loss(a33, p33, symmetric=symmetric, chunk_size=4)
    # float32: equal to the rounding of the blocks' matrix products
    torch.testing.assert_close(chunked, dense, rtol=1e-5, atol=1e-6)
    for g1, g2 in zip(_grad(chunked, a33, p33), _grad(dense, a32, p32), strict=True):
        torch.testing.assert_close(g1, g2, rtol=1e-4, atol=1e-6)


class _MaxNumel(TorchDispatchMode):
    """Records the largest tensor any op produces."""

    def __init__(self) -> None:
        super().__init__()
        self.max = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.max = max(self.max, t.numel())
        return out


@pytest.mark.parametrize("fn", [nt_xent_loss, supcon_loss])
def test_chunked_never_holds_the_b_by_b_matrix(fn) -> None:
    b, chunk = 512, 32
    x, y = _batch(b, 16, 128, seed=11, dtype=torch.float32)
    x.requires_grad_()
    with _MaxNumel() as rec:
        fn(x, y, chunk_size=chunk).backward()
    assert rec.max <= chunk * b, rec.max  # forward and backward: one block of rows at most
    with _MaxNumel() as dense:
        fn(x, y).backward()
    assert dense.max >= b * b  # the dense path does build it


def test_chunked_double_backward() -> None:
    x, y = _batch(6, 3, 2, seed=12)
    x.requires_grad_()
    for fn in (nt_xent_loss, supcon_loss):
        assert torch.autograd.gradgradcheck(lambda t, fn=fn: fn(t, y, chunk_size=2), (x,))


# --------------------------------------------------------------------------- edges


@pytest.mark.parametrize("fn", [nt_xent_loss, supcon_loss])
def test_edges_are_finite(fn) -> None:
    cases = {
        "B = 1": (torch.randn(1, 4, dtype=F64), torch.tensor([0])),
        "no positive pair": (torch.randn(4, 4, dtype=F64), torch.arange(4)),
        "all labels equal": (torch.randn(4, 4, dtype=F64), torch.zeros(4, dtype=torch.long)),
        "identical embeddings": (torch.ones(4, 4, dtype=F64), torch.tensor([0, 0, 1, 1])),
        "zero vectors": (torch.zeros(4, 4, dtype=F64), torch.tensor([0, 0, 1, 1])),
    }
    for name, (x, y) in cases.items():
        for t in (1e-4, 0.07, 10.0):
            for chunk in (None, 2):
                xg = x.clone().requires_grad_()
                out = fn(xg, y, temperature=t, chunk_size=chunk)
                (g,) = torch.autograd.grad(out, xg)
                assert torch.isfinite(out) and torch.isfinite(g).all(), (name, t, chunk)
    # no positive pair: 0 with a gradient
    x = torch.randn(4, 4, dtype=F64, requires_grad=True)
    out = fn(x, torch.arange(4))
    assert out.item() == 0.0 and out.requires_grad


def test_temperature_near_zero_is_the_hardest_negative_margin() -> None:
    # t -> 0: t * NT-Xent of a pair -> relu(max_n s_in - s_ip), finite throughout
    x = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8]], dtype=F64)
    y = torch.tensor([0, 0, 1])
    t = 1e-6
    got = nt_xent_loss(x, y, temperature=t, reduction="none")[0] * t
    assert got.item() == pytest.approx(0.0, abs=1e-9)  # positive (0.8) beats negative (0.6)
    y2 = torch.tensor([0, 1, 0])  # now the positive is at 0.6, the negative at 0.8
    got2 = nt_xent_loss(x, y2, temperature=t, reduction="none")[0] * t
    assert got2.item() == pytest.approx(0.2, rel=1e-6)
