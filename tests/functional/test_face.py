"""The face-recognition heads after ArcFace (CurricularFace, AdaFace) against independent
plain-autograd implementations written here from the papers' equations (value and gradient,
float64), hand-worked values, the running estimates of their modules (training mode only,
``state_dict``), chunked == dense, Partial FC, and the edges (norms 0 and 1e6, cos = +-1,
half precision).

Where the authors' released code departs from the paper, and which one losskit follows:

* CurricularFace (HuangYG123/CurricularFace, ``head/metrics.py``): the paper writes the
  update of ``t`` as ``alpha r + (1 - alpha) t`` with the "momentum" ``alpha = 0.99``; the
  code weighs the batch 0.01. losskit follows the code (``momentum=0.01``, BatchNorm's
  sense), since the paper's reading makes ``t`` the current batch's mean, not an estimate.
  The code's hard-negative test compares with the plain ``cos(theta_y + m)`` even past
  ``pi - m``, where its target switches to ``cos theta - m sin m``: losskit does the same.
  The code updates ``t`` under ``no_grad``: ``stop_gradient=True``.
* AdaFace (mk-minchul/AdaFace, ``head.py``): the code clamps every cosine to ``[-1 + 1e-3,
  1 - 1e-3]`` and every angle plus margin to ``[1e-3, pi - 1e-3]``, and updates its
  statistics in evaluation mode too; losskit keeps the exact cosines, clamps only the
  target's angle to ``[0, pi]`` and updates in training mode only. Like the code, losskit
  clips the norms to ``[1e-3, 100]``, uses Bessel's standard deviation, adds ``1e-3`` to it
  and starts the statistics at 20 and 100. The references below follow the paper with
  those choices; ``test_adaface_against_the_released_code`` measures the code's clamps.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as TF

from losskit import functional as F
from losskit import nn as lnn

F64 = torch.float64


def _data(b: int = 6, c: int = 7, d: int = 5, seed: int = 0, scale: float = 1.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, d, generator=g, dtype=F64) * scale
    w = torch.randn(c, d, generator=g, dtype=F64)
    y = torch.randint(0, c, (b,), generator=g)
    return x, y, w


def _cos(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return TF.normalize(x, dim=1) @ TF.normalize(w, dim=1).T


# ------------------------------------------------------------------ CurricularFace


def curricular_reference(x, y, w, t, *, margin, scale, momentum, stop_gradient=True):
    """CurricularFace from the paper's equations (8)-(10), written out on the full cosine
    matrix (the code's momentum: t <- (1 - momentum) t + momentum mean cos theta_y)."""
    cos = _cos(x, w)
    cos_y = cos.gather(1, y[:, None]).squeeze(1)
    r = cos_y.mean()
    t_new = (1 - momentum) * t + momentum * (r.detach() if stop_gradient else r)
    if stop_gradient:
        t_new = t_new.detach()
    theta = torch.acos(cos_y.clamp(-1, 1))
    target = torch.where(
        theta + margin <= math.pi, torch.cos(theta + margin), cos_y - margin * math.sin(margin)
    )
    hard = cos > torch.cos(theta + margin).detach()[:, None]
    negatives = torch.where(hard, cos * (t_new + cos), cos)
    onehot = TF.one_hot(y, w.shape[0]).bool()
    logits = scale * torch.where(onehot, target[:, None], negatives)
    return TF.cross_entropy(logits, y), t_new


@pytest.mark.parametrize("stop_gradient", [True, False])
@pytest.mark.parametrize("chunk", [None, 3])
def test_curricularface_against_the_paper(chunk, stop_gradient) -> None:
    x, y, w = _data()
    t0 = torch.tensor(0.4, dtype=F64)
    leaves = [a.clone().requires_grad_() for a in (x, w, t0)]
    ref, t_ref = curricular_reference(*leaves[:1], y, leaves[1], leaves[2], margin=0.5,
                                      scale=8.0, momentum=0.3, stop_gradient=stop_gradient)  # fmt: skip
    got_leaves = [a.clone().requires_grad_() for a in (x, w, t0)]
    got = F.curricularface_loss(got_leaves[0], y, got_leaves[1], got_leaves[2], margin=0.5,
                                scale=8.0, momentum=0.3, stop_gradient=stop_gradient,
                                chunk_size=chunk)  # fmt: skip
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    n = 2 if stop_gradient else 3  # t has no gradient under stop_gradient
    gr = torch.autograd.grad(ref, leaves[:n])
    gg = torch.autograd.grad(got, got_leaves[:n])
    for a, b in zip(gr, gg, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)
    # some negatives of this batch are hard (the modulation is exercised)
    cos = _cos(x, w)
    cos_y = cos.gather(1, y[:, None]).squeeze(1)
    assert (cos > torch.cos(torch.acos(cos_y) + 0.5)[:, None]).sum() > len(y)


def test_curricularface_hand_worked() -> None:
    # x0 = (1, 0) with label 1, W = [(1, 0.2), (0.6, 1)]: cos to class 0 = 1/sqrt(1.04) =
    # 0.9805807, to class 1 = 0.6/sqrt(1.36) = 0.5144958 (theta_y = 1.0303768). x1 = (0, 1),
    # label 1: cos_y = 1/sqrt(1.36) = 0.8574929. t = 0.01 * (0.5144958 + 0.8574929) / 2 =
    # 0.0068599. Row 0: cos(theta_y + 0.5) = 0.0404085 < 0.9805807, a hard negative: logit
    # 4 * 0.9805807 (0.0068599 + 0.9805807) = 3.8730608; target 4 * 0.0404085 = 0.1616340;
    # loss = softplus(3.8730608 - 0.1616340) = 3.7355755.
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=F64)
    w = torch.tensor([[1.0, 0.2], [0.6, 1.0]], dtype=F64)
    y = torch.tensor([1, 1])
    out = F.curricularface_loss(x, y, w, torch.tensor(0.0, dtype=F64), scale=4.0,
                                reduction="none")  # fmt: skip
    assert abs(out[0].item() - 3.7355755) < 1e-6
    # t = 1 (momentum 0): logit 4 * 0.9805807 * 1.9805807 = 7.7684765,
    # loss = softplus(7.7684765 - 0.1616340) = 7.6073395
    out = F.curricularface_loss(x, y, w, torch.tensor(1.0, dtype=F64), scale=4.0, momentum=0.0,
                                reduction="none")  # fmt: skip
    assert abs(out[0].item() - 7.6073395) < 1e-6


def test_curricularface_t_zero_softens_and_t_one_sharpens_hard_negatives() -> None:
    x, y, w = _data(seed=1)
    arc = F.arcface_loss(x, y, w, margin=0.5, scale=8.0, reduction="none")
    lo, hi = (
        F.curricularface_loss(
            x,
            y,
            w,
            torch.tensor(v, dtype=F64),
            margin=0.5,
            scale=8.0,
            momentum=0.0,
            reduction="none",
        )  # fmt: skip
        for v in (0.0, 1.0)
    )
    assert (lo <= arc + 1e-12).all() and (hi >= arc - 1e-12).all()
    assert (lo < arc).any() and (hi > arc).any()


def test_curricularface_module_updates_t_in_training_only() -> None:
    torch.manual_seed(0)
    head = lnn.CurricularFaceLoss(7, 5, scale=8.0, momentum=0.1, dtype=F64)
    x, y, _ = _data()
    cos_y = _cos(x, head.centers.detach()).gather(1, y[:, None]).mean()
    head(x, y)
    torch.testing.assert_close(head.t, 0.1 * cos_y)
    head.eval()
    before = head.t.clone()
    loss_eval = head(x, y)
    assert torch.equal(head.t, before)
    # evaluation uses t as it is: the function with momentum 0
    ref = F.curricularface_loss(x, y, head.centers, before, scale=8.0, momentum=0.0)
    torch.testing.assert_close(loss_eval, ref)
    # state_dict round trip, and reset
    fresh = lnn.CurricularFaceLoss(7, 5, scale=8.0, momentum=0.1, dtype=F64)
    fresh.load_state_dict(head.state_dict())
    assert torch.equal(fresh.t, head.t)
    head.reset_running_stats()
    assert head.t.item() == 0.0


def test_curricularface_left_out_rows_do_not_move_t() -> None:
    x, y, w = _data()
    keep = torch.tensor([True, False, True, True, False, True])
    t0 = torch.tensor(0.2, dtype=F64)
    _, t_mask = F.margin._curricularface(x, y, w, t0, momentum=0.5, mask=keep)
    _, t_sub = F.margin._curricularface(x[keep], y[keep], w, t0, momentum=0.5)
    torch.testing.assert_close(t_mask, t_sub)
    # every row left out: t unchanged, loss 0
    none = torch.zeros(6, dtype=torch.bool)
    loss, t_none = F.margin._curricularface(x, y, w, t0, momentum=0.5, mask=none)
    assert t_none.item() == 0.2 and loss.item() == 0.0


# ------------------------------------------------------------------ AdaFace


def adaface_reference(x, y, w, mu, sd, *, margin, h, scale, momentum, stop_gradient=True):
    """AdaFace from the paper's equations (margin g_angle = -m q, g_add = m q + m, q the
    standardised norm clipped to [-1, 1]), with the code's norm clip [1e-3, 100], Bessel's
    standard deviation and its 1e-3 floor."""
    norms = torch.linalg.vector_norm(x, dim=1).clamp(1e-3, 100)
    if stop_gradient:
        norms = norms.detach()
    mu_new = (1 - momentum) * mu + momentum * norms.mean()
    sd_new = (1 - momentum) * sd + momentum * norms.std()
    if stop_gradient:
        mu_new, sd_new = mu_new.detach(), sd_new.detach()
    q = (h * (norms - mu_new) / (sd_new + 1e-3)).clamp(-1, 1)
    cos = _cos(x, w)
    theta = torch.acos(cos.gather(1, y[:, None]).squeeze(1))
    target = torch.cos((theta - margin * q).clamp(0, math.pi)) - margin * (1 + q)
    onehot = TF.one_hot(y, w.shape[0]).bool()
    logits = scale * torch.where(onehot, target[:, None], cos)
    return TF.cross_entropy(logits, y), (mu_new, sd_new)


@pytest.mark.parametrize("stop_gradient", [True, False])
@pytest.mark.parametrize("chunk", [None, 3])
def test_adaface_against_the_paper(chunk, stop_gradient) -> None:
    x, y, w = _data(scale=3.0)
    mu0, sd0 = torch.tensor(4.0, dtype=F64), torch.tensor(2.0, dtype=F64)
    leaves = [a.clone().requires_grad_() for a in (x, w, mu0, sd0)]
    ref, (mu_r, sd_r) = adaface_reference(leaves[0], y, leaves[1], leaves[2], leaves[3],
                                          margin=0.4, h=0.5, scale=8.0, momentum=0.3,
                                          stop_gradient=stop_gradient)  # fmt: skip
    mine = [a.clone().requires_grad_() for a in (x, w, mu0, sd0)]
    got, (mu_g, sd_g) = F.margin._adaface(mine[0], y, mine[1], mine[2], mine[3], margin=0.4,
                                          h=0.5, scale=8.0, momentum=0.3,
                                          stop_gradient=stop_gradient, chunk_size=chunk)  # fmt: skip
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close((mu_g, sd_g), (mu_r.detach(), sd_r.detach()), check_stride=False)
    n = 2 if stop_gradient else 4
    for a, b in zip(torch.autograd.grad(ref, leaves[:n]), torch.autograd.grad(got, mine[:n]),
                    strict=True):  # fmt: skip
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)
    # the margins differ between samples (q is not constant)
    q = (0.5 * (torch.linalg.vector_norm(x, dim=1) - mu_r) / (sd_r + 1e-3)).clamp(-1, 1)
    assert q.max() - q.min() > 0.3


def test_adaface_hand_worked() -> None:
    # x0 = (3, 0), label 0, W = I: ||x|| = 3, q = 0.333 (3 - 2) / (1 + 1e-3) = 0.3326673;
    # theta_y = 0, the angle clamps at 0: target 4 (1 - 0.4 (1 + q)) = 1.8677323, the other
    # logit 0: loss = softplus(-1.8677323) = 0.1436445. x1 = (0, 1), label 1: q = -0.3326673,
    # theta = 0 + 0.4 * 0.3326673 = 0.1330669, target 4 (cos 0.1330669 - 0.4 * 0.6673327) =
    # 2.8969063, loss = softplus(-2.8969063) = 0.0537244.
    x = torch.tensor([[3.0, 0.0], [0.0, 1.0]], dtype=F64)
    out = F.adaface_loss(x, torch.tensor([0, 1]), torch.eye(2, dtype=F64),
                         torch.tensor(2.0, dtype=F64), torch.tensor(1.0, dtype=F64), scale=4.0,
                         momentum=0.0, reduction="none")  # fmt: skip
    torch.testing.assert_close(out, torch.tensor([0.1436445, 0.0537244], dtype=F64), atol=1e-7,
                               rtol=0)  # fmt: skip


def test_adaface_against_the_released_code() -> None:
    """The released head's forward (re-derived: cosines clamped to 1 -+ 1e-3, angle plus
    margin to [1e-3, pi - 1e-3]) differs from losskit's exact cosines by a little: here is
    how much, for typical features (a deliberate difference, see the module docstring)."""
    x, y, w = _data(b=16, c=9, d=8, scale=5.0, seed=4)
    mu, sd = torch.tensor(20.0, dtype=F64), torch.tensor(100.0, dtype=F64)
    norms = torch.linalg.vector_norm(x, dim=1).clamp(1e-3, 100)
    mu_n, sd_n = 0.99 * mu + 0.01 * norms.mean(), 0.99 * sd + 0.01 * norms.std()
    q = (0.333 * (norms - mu_n) / (sd_n + 1e-3)).clamp(-1, 1)
    cos = _cos(x, w).clamp(-1 + 1e-3, 1 - 1e-3)
    onehot = TF.one_hot(y, 9).to(F64)
    theta = (torch.acos(cos) + onehot * (-0.4 * q)[:, None]).clamp(1e-3, math.pi - 1e-3)
    logits = 64.0 * (torch.cos(theta) - onehot * (0.4 + 0.4 * q)[:, None])
    code = TF.cross_entropy(logits, y)
    ours = F.adaface_loss(x, y, w, mu, sd)
    assert abs(ours.item() - code.item()) < 1e-3 * code.item()


def test_adaface_module_statistics() -> None:
    head = lnn.AdaFaceLoss(7, 5, momentum=0.5, dtype=F64)
    x, y, _ = _data(scale=3.0)
    norms = torch.linalg.vector_norm(x, dim=1)
    head(x, y)
    torch.testing.assert_close(head.norm_mean, 0.5 * 20.0 + 0.5 * norms.mean())
    torch.testing.assert_close(head.norm_std, 0.5 * 100.0 + 0.5 * norms.std())
    head.eval()
    before = (head.norm_mean.clone(), head.norm_std.clone())
    head(x, y)
    assert torch.equal(head.norm_mean, before[0]) and torch.equal(head.norm_std, before[1])
    assert {"centers", "norm_mean", "norm_std"} == set(head.state_dict())
    head.reset_running_stats()
    assert (head.norm_mean.item(), head.norm_std.item()) == (20.0, 100.0)


def test_adaface_one_sample_keeps_the_std() -> None:
    x, y, w = _data(b=1)
    mu, sd = torch.tensor(3.0, dtype=F64), torch.tensor(2.0, dtype=F64)
    loss, (m, s) = F.margin._adaface(x, y, w, mu, sd, momentum=0.5)
    assert torch.isfinite(loss) and s.item() == 2.0
    assert m.item() == pytest.approx(0.5 * 3.0 + 0.5 * x.norm().item())


# ------------------------------------------------------------------ shared behaviour

HEADS = {
    "curricularface": (F.curricularface_loss, lambda: (torch.tensor(0.3),)),
    "adaface": (F.adaface_loss, lambda: (torch.tensor(5.0), torch.tensor(2.0))),
    "magface": (F.magface_loss, lambda: ()),
    "elastic_arcface": (F.elastic_arcface_loss, lambda: ()),
    "elastic_cosface": (F.elastic_cosface_loss, lambda: ()),
    "uniface": (F.uniface_loss, lambda: (torch.tensor(3.0),)),
}


def _kw(name: str) -> dict:
    """Per-call keywords: a freshly seeded generator for the ElasticFace draws."""
    return {"generator": torch.Generator().manual_seed(0)} if name.startswith("elastic") else {}


#: the margin's name and the range its edges are tested over, per head
MARGIN_EDGES = {
    "curricularface": ("margin", (0.0, 0.5, math.pi - 1e-6)),
    "adaface": ("margin", (0.0, 0.4, math.pi - 1e-6)),
    "magface": ("max_margin", (0.0, 0.8, math.pi - 1e-6)),
    "elastic_arcface": ("margin", (0.0, 0.5, math.pi - 1e-6)),
    "elastic_cosface": ("cos_margin", (0.0, 0.35, 2.0)),
    "uniface": ("cos_margin", (0.0, 0.4, 2.0)),
}


@pytest.mark.parametrize("name", HEADS)
def test_chunked_equals_dense_to_float32_rounding(name) -> None:
    fn, state = HEADS[name]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 16, generator=g) * 4
    w = torch.randn(300, 16, generator=g)
    y = torch.randint(0, 300, (32,), generator=g)
    outs = []
    for chunk in (None, 7, 64):
        xx, ww = x.clone().requires_grad_(), w.clone().requires_grad_()
        loss = fn(xx, y, ww, *state(), scale=16.0, chunk_size=chunk, **_kw(name))
        loss.backward()
        outs.append((loss.detach(), xx.grad, ww.grad))
    for other in outs[1:]:
        for a, b in zip(outs[0], other, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "cls",
    [lnn.CurricularFaceLoss, lnn.AdaFaceLoss, lnn.MagFaceLoss, lnn.UniFaceLoss,
     lnn.ElasticCosFaceLoss],
)  # fmt: skip
def test_partial_fc_samples_as_arcface_does(cls) -> None:
    """In training mode with sample_rate < 1 a head computes its loss over the same Partial
    FC sample as ArcFace (the positives plus random others), and its state is not sampled."""
    torch.manual_seed(0)
    extra = {"sigma": 0.0} if cls is lnn.ElasticCosFaceLoss else {}
    head = cls(50, 6, sample_rate=0.2, scale=8.0, dtype=F64, **extra)
    x, y, _ = _data(b=6, c=50, d=6, seed=2)
    before = [getattr(head, n).detach().clone() for n in head.state[1:]]
    torch.manual_seed(123)
    loss = head(x, y)
    torch.manual_seed(123)
    index, new = F.partial_fc_sample(y, 50, sample_rate=0.2)
    state = [getattr(head, n).clone() for n in head.state[1:]]
    ref = head.function(x, new, head.centers[index], *before, **head.hyperparameters())
    torch.testing.assert_close(loss, ref)
    loss.backward()
    untouched = torch.ones(50, dtype=torch.bool)
    untouched[index] = False
    assert (head.centers.grad[untouched] == 0).all() and index.numel() == 10
    assert all(s.shape == () for s in state)


@pytest.mark.parametrize("name", HEADS)
@pytest.mark.parametrize("norm", [0.0, 1e-30, 1e6, 1e30])
def test_edges_are_finite(name, norm) -> None:
    fn, state = HEADS[name]
    x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]], dtype=F64) * norm
    w = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=F64)
    y = torch.tensor([0, 0, 0])  # cos = 1, 0 and -1 to the target (exactly)
    name_m, values = MARGIN_EDGES[name]
    extra = {"stop_gradient": False} if name in ("curricularface", "adaface") else {}
    for margin in values:
        xx, ww = x.clone().requires_grad_(), w.clone().requires_grad_()
        st = [s.to(F64).requires_grad_() for s in state()]
        loss = fn(xx, y, ww, *st, **{name_m: margin}, **extra)
        grads = torch.autograd.grad(loss, [xx, ww, *st], allow_unused=True)
        assert torch.isfinite(loss)
        assert all(g is None or torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", HEADS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_computed_in_float32(name, dtype) -> None:
    fn, state = HEADS[name]
    x, y, w = _data(b=16, c=9, d=8, scale=3.0)
    xh, wh = x.to(dtype).requires_grad_(), w.to(dtype).requires_grad_()
    # (the same ElasticFace draws for both: _kw seeds a fresh generator per call)
    loss = fn(xh, y, wh, *state(), scale=16.0, **_kw(name))
    loss.backward()
    assert loss.dtype == dtype and xh.grad.dtype == dtype and torch.isfinite(xh.grad).all()
    ref = fn(xh.detach().double(), y, wh.detach().double(), *state(), scale=16.0, **_kw(name))
    assert abs(loss.double() - ref) < 2e-2 * ref.abs() + 1e-2


# ------------------------------------------------------------------ MagFace


def magface_reference(x, y, w, *, scale, l_a, u_a, l_m, u_m, lam, easy=False):
    """MagFace from the paper: a = clip(||x||, l_a, u_a), m(a) linear from l_m to u_m, target
    cos(theta + m(a)) (ArcFace's cos theta - m sin m past pi - m), CE plus lam g(a)."""
    a = torch.linalg.vector_norm(x, dim=1).clamp(l_a, u_a)
    m = (u_m - l_m) / (u_a - l_a) * (a - l_a) + l_m
    cos = _cos(x, w)
    cos_y = cos.gather(1, y[:, None]).squeeze(1)
    theta = torch.acos(cos_y.clamp(-1, 1))
    target = torch.where(theta + m <= math.pi, torch.cos(theta + m), cos_y - m * torch.sin(m))
    if easy:
        target = torch.where(cos_y > 0, target, cos_y)
    onehot = TF.one_hot(y, w.shape[0]).bool()
    logits = scale * torch.where(onehot, target[:, None], cos)
    g = 1 / a + a / u_a**2
    return TF.cross_entropy(logits, y, reduction="none") + lam * g


@pytest.mark.parametrize("easy", [False, True])
@pytest.mark.parametrize("chunk", [None, 3])
def test_magface_against_the_paper(chunk, easy) -> None:
    x, y, w = _data(scale=4.0)  # norms 6.6 to 11.6: two clipped at 8 and 11, four inside
    kw = dict(l_a=8.0, u_a=11.0, l_m=0.45, u_m=0.8, lam=2.0)
    xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
    ref = magface_reference(xr, y, wr, scale=8.0, easy=easy, **kw)
    xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()
    got = F.magface_loss(xg, y, wg, scale=8.0, min_norm=8.0, max_norm=11.0, reg_weight=2.0,
                         easy_margin=easy, chunk_size=chunk, reduction="none")  # fmt: skip
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(torch.autograd.grad(ref.sum(), [xr, wr]), torch.autograd.grad(got.sum(), [xg, wg]),
                    strict=True):  # fmt: skip
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)
    norms = torch.linalg.vector_norm(x, dim=1)
    assert ((norms > 8) & (norms < 11)).any() and ((norms < 8) | (norms > 11)).any()


def test_magface_regulariser_pulls_the_norm_up() -> None:
    # on [l_a, u_a], g(a) = 1/a + a/u_a^2 decreases: the gradient of the regulariser alone
    # along x points outward (d g / d a = -1/a^2 + 1/u_a^2 < 0)
    x = torch.tensor([[3.0, 4.0]], dtype=F64, requires_grad=True)  # a = 5
    w = torch.eye(2, dtype=F64)
    only_g = F.magface_loss(x, torch.tensor([0]), w, min_norm=1.0, max_norm=10.0,
                            reg_weight=1.0, reduction="none") - F.magface_loss(
        x, torch.tensor([0]), w, min_norm=1.0, max_norm=10.0, reg_weight=0.0, reduction="none"
    )  # fmt: skip
    torch.testing.assert_close(only_g, torch.tensor([1 / 5 + 5 / 100], dtype=F64))
    (grad,) = torch.autograd.grad(only_g.sum(), x)
    torch.testing.assert_close(grad, (-1 / 25 + 1 / 100) * x.detach() / 5)


def test_magface_module_checks_the_bounds() -> None:
    with pytest.raises(
        ValueError, match="MagFaceLoss: min_norm must be below max_norm; got 5.0 and 5.0"
    ):
        lnn.MagFaceLoss(3, 4, min_norm=5.0, max_norm=5.0)


# ------------------------------------------------------------------ ElasticFace


def elastic_reference(x, y, w, margins, *, scale, arc):
    """ElasticFace from the paper's equations with the margins given: cos(theta + m_i)
    (ArcFace's continuation past pi - m_i) or cos theta - m_i."""
    cos = _cos(x, w)
    cos_y = cos.gather(1, y[:, None]).squeeze(1)
    if arc:
        theta = torch.acos(cos_y.clamp(-1, 1))
        target = torch.where(theta + margins <= math.pi, torch.cos(theta + margins),
                             cos_y - margins * torch.sin(margins))  # fmt: skip
    else:
        target = cos_y - margins
    onehot = TF.one_hot(y, w.shape[0]).bool()
    return TF.cross_entropy(scale * torch.where(onehot, target[:, None], cos), y)


def _draws(n: int, seed: int, mean: float, sigma: float) -> torch.Tensor:
    return mean + sigma * torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=F64)


@pytest.mark.parametrize("arc", [True, False])
@pytest.mark.parametrize("plus", [False, True])
@pytest.mark.parametrize("chunk", [None, 4])
def test_elasticface_against_the_paper(arc, plus, chunk) -> None:
    x, y, w = _data(b=8, seed=3)
    fn = F.elastic_arcface_loss if arc else F.elastic_cosface_loss
    mean = 0.5 if arc else 0.35
    key = {"margin": mean} if arc else {"cos_margin": mean}
    draws = _draws(8, 11, mean, 0.2)
    if plus:  # the sample nearest its centre gets the smallest draw, and so on
        cos_y = _cos(x, w).gather(1, y[:, None]).squeeze(1)
        margins = torch.empty_like(draws)
        margins[cos_y.argsort(descending=True)] = draws.sort().values
    else:
        margins = draws
    xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
    ref = elastic_reference(xr, y, wr, margins, scale=8.0, arc=arc)
    xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()
    got = fn(xg, y, wg, **key, sigma=0.2, plus=plus, scale=8.0,
             generator=torch.Generator().manual_seed(11), chunk_size=chunk)  # fmt: skip
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(torch.autograd.grad(ref, [xr, wr]), torch.autograd.grad(got, [xg, wg]),
                    strict=True):  # fmt: skip
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("fn", [F.elastic_arcface_loss, F.elastic_cosface_loss])
def test_elasticface_gradcheck_with_reseeded_draws(fn) -> None:
    x, y, w = _data(b=4, c=5, d=3, seed=5)

    def f(xx, ww):
        g = torch.Generator().manual_seed(2)
        return fn(xx, y, ww, sigma=0.1, plus=True, scale=4.0, generator=g)

    assert torch.autograd.gradcheck(f, (x.requires_grad_(), w.requires_grad_()))


def test_elasticface_draws_and_module() -> None:
    x, y, w = _data(b=6, seed=1)
    # one draw per row per call: the generator advances; sigma 0 is ArcFace
    g = torch.Generator().manual_seed(0)
    first = F.elastic_arcface_loss(x, y, w, scale=8.0, generator=g)
    second = F.elastic_arcface_loss(x, y, w, scale=8.0, generator=g)
    assert first != second
    torch.testing.assert_close(
        F.elastic_arcface_loss(x, y, w, sigma=0.0, scale=8.0),
        F.arcface_loss(x, y, w, scale=8.0),
    )
    torch.testing.assert_close(
        F.elastic_cosface_loss(x, y, w, sigma=0.0, scale=8.0),
        F.cosface_loss(x, y, w, scale=8.0),
    )
    # the module draws from its generator in training mode: equal to the function with a
    # generator in the same state; in evaluation mode the mean margin
    head = lnn.ElasticArcFaceLoss(7, 5, scale=8.0, generator=torch.Generator().manual_seed(4),
                                  dtype=F64)  # fmt: skip
    got = head(x, y)
    want = F.elastic_arcface_loss(x, y, head.centers, scale=8.0,
                                  generator=torch.Generator().manual_seed(4))  # fmt: skip
    torch.testing.assert_close(got, want)
    head.eval()
    torch.testing.assert_close(head(x, y), F.arcface_loss(x, y, head.centers, scale=8.0))


def test_elasticface_draws_follow_the_normal() -> None:
    # the margins the loss uses: recover them from the CosFace form, m_i = cos_y - target/s
    g = torch.Generator().manual_seed(0)
    n = 4000
    x = torch.randn(n, 4, generator=g, dtype=F64)
    y = torch.zeros(n, dtype=torch.long)
    w = torch.eye(4, dtype=F64)[:2]
    draws = _draws(n, 9, 0.35, 0.05)
    assert abs(draws.mean() - 0.35) < 3 * 0.05 / n**0.5 * 2 and abs(draws.std() - 0.05) < 0.005
    ref = elastic_reference(x, y, w, draws, scale=4.0, arc=False)
    got = F.elastic_cosface_loss(x, y, w, scale=4.0, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(got, ref)


def test_elasticface_plus_leaves_excluded_rows_out_of_the_ranking() -> None:
    x, y, w = _data(b=6, seed=2)
    keep = torch.tensor([True, True, False, True, True, True])
    got = F.elastic_arcface_loss(x, y, w, sigma=0.3, plus=True, scale=8.0, mask=keep,
                                 generator=torch.Generator().manual_seed(1), reduction="none")  # fmt: skip
    assert got[2] == 0 and torch.isfinite(got).all()
    # the kept rows hold the kept draws, paired by rank
    z = torch.randn(6, generator=torch.Generator().manual_seed(1), dtype=F64)
    cos_y = _cos(x, w).gather(1, y[:, None]).squeeze(1)
    idx = keep.nonzero().squeeze(1)
    margins = torch.empty(5, dtype=F64)
    margins[cos_y[idx].argsort(descending=True)] = (0.5 + 0.3 * z[idx]).sort().values
    ref = elastic_reference(x[idx], y[idx], w, margins, scale=8.0, arc=True)
    torch.testing.assert_close(got[idx].mean(), ref)


# ------------------------------------------------------------------ UniFace


def uniface_reference(x, y, w, b, *, m, scale, lam):
    """The unified cross-entropy from the paper's equation: log(1 + e^{-(s(cos_y - m) - b)})
    + lam sum_{j != y} log(1 + e^{s cos_j - b}), summed over classes, mean over the batch."""
    cos = _cos(x, w)
    onehot = TF.one_hot(y, w.shape[0]).bool()
    pos = torch.log1p(torch.exp(-(scale * (cos - m) - b)))
    neg = torch.log1p(torch.exp(scale * cos - b)) * lam
    return torch.where(onehot, pos, neg).sum(1).mean()


@pytest.mark.parametrize("chunk", [None, 3])
def test_uniface_against_the_paper(chunk) -> None:
    x, y, w = _data()
    b0 = torch.tensor(2.5, dtype=F64)
    leaves = [a.clone().requires_grad_() for a in (x, w, b0)]
    ref = uniface_reference(leaves[0], y, leaves[1], leaves[2], m=0.4, scale=8.0, lam=0.7)
    mine = [a.clone().requires_grad_() for a in (x, w, b0)]
    got = F.uniface_loss(mine[0], y, mine[1], mine[2], cos_margin=0.4, scale=8.0,
                         negative_weight=0.7, chunk_size=chunk)  # fmt: skip
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(torch.autograd.grad(ref, leaves), torch.autograd.grad(got, mine), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)


def test_uniface_against_the_released_code() -> None:
    """The released head clamps each term's argument to [-s, s]: with s = 64 and b = log(10 C)
    that changes nothing for cosines in [-1, 1] but the far negatives, whose terms are below
    e^-64 anyway."""
    x, y, w = _data(b=16, c=9, d=8, seed=4)
    b = torch.tensor(math.log(90.0), dtype=F64)
    cos = _cos(x, w)
    p = torch.log1p(torch.exp(-(64.0 * (cos - 0.4) - b).clamp(-64, 64)))
    n = torch.log1p(torch.exp((64.0 * cos - b).clamp(-64, 64)))
    onehot = TF.one_hot(y, 9).bool()
    code = (onehot * p + (~onehot) * n).sum(1).mean()
    torch.testing.assert_close(F.uniface_loss(x, y, w, b), code, rtol=1e-12, atol=1e-12)


def test_uniface_module_learns_its_threshold() -> None:
    head = lnn.UniFaceLoss(7, 5, scale=8.0, dtype=F64)
    assert head.unified_threshold.item() == pytest.approx(math.log(70.0))
    x, y, _ = _data()
    head(x, y).backward()
    assert head.unified_threshold.grad is not None and head.unified_threshold.grad != 0
    assert lnn.UniFaceLoss(7, 5, unified_threshold=1.5).unified_threshold.item() == 1.5


# ------------------------------------------------------------------ inter-class filtering


def filtering_reference(x, y, w, *, threshold, margin, cos_margin, scale):
    """insightface's CombinedMarginLoss with interclass_filtering_threshold, re-derived: the
    negatives whose cosine exceeds the threshold are multiplied by 0, then the margin."""
    cos = _cos(x, w)
    onehot = TF.one_hot(y, w.shape[0]).bool()
    dirty = (cos > threshold) & ~onehot
    cos = torch.where(dirty, 0.0, cos)
    cos_y = cos.gather(1, y[:, None]).squeeze(1)
    theta = torch.acos(cos_y)
    target = torch.cos(theta + margin) - cos_margin
    return TF.cross_entropy(scale * torch.where(onehot, target[:, None], cos), y)


@pytest.mark.parametrize("chunk", [None, 2])
def test_interclass_filtering_against_insightface(chunk) -> None:
    x, y, w = _data(b=8, seed=6)
    xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
    ref = filtering_reference(xr, y, wr, threshold=0.2, margin=0.3, cos_margin=0.2, scale=8.0)
    xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()
    got = F.combined_margin_loss(xg, y, wg, margin=0.3, cos_margin=0.2, scale=8.0,
                                 interclass_filtering_threshold=0.2, chunk_size=chunk)  # fmt: skip
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(torch.autograd.grad(ref, [xr, wr]), torch.autograd.grad(got, [xg, wg]),
                    strict=True):  # fmt: skip
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)
    assert got < F.combined_margin_loss(x, y, w, margin=0.3, cos_margin=0.2, scale=8.0)
    # the module carries the option
    head = lnn.CombinedMarginLoss(7, 5, interclass_filtering_threshold=0.2, dtype=F64)
    assert "interclass_filtering_threshold=0.2" in repr(head)
