"""Dense-detection losses: quality focal, varifocal, Gaussian focal and distribution focal
loss, the avg_factor normaliser and the distance encoding of boxes.

mmdetection and ultralytics are not installed: their formulas are written out below as naive
references (the element-wise expressions of ``mmdet/models/losses/gfocal_loss.py``,
``varifocal_loss.py``, ``gaussian_focal_loss.py`` and ultralytics' ``utils/loss.py`` and
``utils/tal.py``, re-derived from the papers), and each loss must equal them in float64.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as TF

import losskit
from losskit import (
    all_reduce_avg_factor,
    box_to_distances,
    distances_to_box,
    distribution_focal_loss,
    distribution_integral,
    gaussian_focal_loss,
    quality_focal_loss,
    varifocal_loss,
)
from losskit.functional import classification as C
from losskit.functional._detection import _gaussian_plain, _qfl_plain, _vfl_plain

F64 = torch.float64
LN2 = math.log(2.0)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ naive peer references


def mmdet_qfl(pred, labels, scores, beta=2.0):
    """mmdetection's quality_focal_loss: (labels, scores) targets, summed over classes."""
    p = pred.sigmoid()
    loss = TF.binary_cross_entropy_with_logits(pred, torch.zeros_like(pred), reduction="none")
    loss = loss * p.pow(beta)
    num_classes = pred.shape[1]
    pos = ((labels >= 0) & (labels < num_classes)).nonzero().squeeze(1)
    pos_label = labels[pos]
    scale = scores[pos] - p[pos, pos_label]
    loss = loss.clone()
    loss[pos, pos_label] = TF.binary_cross_entropy_with_logits(
        pred[pos, pos_label], scores[pos], reduction="none"
    ) * scale.abs().pow(beta)
    return loss.sum(1)


def mmdet_vfl(pred, target, alpha=0.75, gamma=2.0, iou_weighted=True):
    p = pred.sigmoid()
    if iou_weighted:
        w = target * (target > 0).to(pred) + alpha * (p - target).abs().pow(gamma) * (
            target <= 0
        ).to(pred)
    else:
        w = (target > 0).to(pred) + alpha * (p - target).abs().pow(gamma) * (target <= 0).to(pred)
    return TF.binary_cross_entropy_with_logits(pred, target, reduction="none") * w


def ultralytics_vfl(pred_score, gt_score, label, alpha=0.75, gamma=2.0):
    w = alpha * pred_score.sigmoid().pow(gamma) * (1 - label) + gt_score * label
    bce = TF.binary_cross_entropy_with_logits(pred_score, gt_score, reduction="none")
    return (bce * w).mean(1).sum()


def mmdet_gaussian(pred, gaussian_target, alpha=2.0, gamma=4.0):
    eps = 1e-12
    pos_w = gaussian_target.eq(1)
    neg_w = (1 - gaussian_target).pow(gamma)
    pos = -(pred + eps).log() * (1 - pred).pow(alpha) * pos_w
    neg = -(1 - pred + eps).log() * pred.pow(alpha) * neg_w
    return pos + neg


def mmdet_dfl(pred, label):
    left = label.long()
    right = left + 1
    wl = right.to(label) - label
    wr = label - left.to(label)
    return TF.cross_entropy(pred, left, reduction="none") * wl + TF.cross_entropy(
        pred, right, reduction="none"
    ) * wr


def ultralytics_dfl(pred_dist, target, reg_max):
    """ultralytics' DFLoss: (M, reg_max) logits, (A, 4) targets; mean over the four sides."""
    target = target.clamp(0, reg_max - 1 - 0.01)
    tl = target.long()
    tr = tl + 1
    wl = tr - target
    wr = 1 - wl
    ce_l = TF.cross_entropy(pred_dist, tl.view(-1), reduction="none").view(tl.shape)
    ce_r = TF.cross_entropy(pred_dist, tr.view(-1), reduction="none").view(tl.shape)
    return (ce_l * wl + ce_r * wr).mean(-1, keepdim=True)


def ultralytics_bbox2dist(anchor_points, bbox, reg_max):
    x1y1, x2y2 = bbox.chunk(2, -1)
    return torch.cat((anchor_points - x1y1, x2y2 - anchor_points), -1).clamp_(0, reg_max - 0.01)


def ultralytics_dist2bbox(distance, anchor_points):
    lt, rb = distance.chunk(2, -1)
    return torch.cat((anchor_points - lt, anchor_points + rb), -1)


# ------------------------------------------------------------------ hand-worked values


def test_hand_worked_values() -> None:
    x = torch.zeros(3, dtype=F64)  # p = 1/2; BCE(0, y) = ln 2 for every y
    y = torch.tensor([0.8, 0.0, 1.0], dtype=F64)
    # QFL: |y - 1/2|^2 ln 2 = (.09, .25, .25) ln 2
    torch.testing.assert_close(
        quality_focal_loss(x, y, reduction="none"), torch.tensor([0.09, 0.25, 0.25], dtype=F64) * LN2
    )
    # VFL: positives q ln 2 (.8, 1); the negative .75 * (1/2)^2 ln 2
    torch.testing.assert_close(
        varifocal_loss(x, y, reduction="none"), torch.tensor([0.8, 0.1875, 1.0], dtype=F64) * LN2
    )
    # VFL, iou_weighted=False: positives weigh 1
    torch.testing.assert_close(
        varifocal_loss(x, y, iou_weighted=False, reduction="none"),
        torch.tensor([1.0, 0.1875, 1.0], dtype=F64) * LN2,
    )
    # Gaussian focal: the peak (1 - 1/2)^2 ln 2; y = .8: (1 - .8)^4 (1/2)^2 ln 2; y = 0: 1/4 ln 2
    torch.testing.assert_close(
        gaussian_focal_loss(x, torch.tensor([1.0, 0.8, 0.0], dtype=F64), reduction="none"),
        torch.tensor([0.25, 0.2**4 * 0.25, 0.25], dtype=F64) * LN2,
    )
    # DFL on bins (.1, .6, .3): y = 1.25 splits .75 / .25 between bins 1 and 2;
    # y = 2 puts everything on bin 2 (the last bin: no clamp needed); y = 0.5: .5 / .5 on 0, 1
    z = torch.tensor([0.1, 0.6, 0.3], dtype=F64).log().expand(3, 3)
    want = torch.tensor(
        [
            -(0.75 * math.log(0.6) + 0.25 * math.log(0.3)),
            -math.log(0.3),
            -(0.5 * math.log(0.1) + 0.5 * math.log(0.6)),
        ],
        dtype=F64,
    )
    got = distribution_focal_loss(z, torch.tensor([1.25, 2.0, 0.5], dtype=F64), reduction="none")
    torch.testing.assert_close(got, want)


def test_dfl_gradient_with_respect_to_the_target() -> None:
    # linear between bins: d l / d y = log p_i - log p_{i+1}
    z = torch.tensor([[0.1, 0.6, 0.3]], dtype=F64).log()
    y = torch.tensor([1.25], dtype=F64, requires_grad=True)
    distribution_focal_loss(z, y).backward()
    torch.testing.assert_close(y.grad, torch.tensor([math.log(0.6) - math.log(0.3)], dtype=F64))


def test_distribution_integral_and_dfl_minimum() -> None:
    # the integral of a two-hot distribution at y is y itself: DFL's ideal prediction decodes
    # exactly to its target
    y = torch.tensor([0.0, 1.25, 3.5, 7.0], dtype=F64)
    probs = torch.zeros(4, 8, dtype=F64)
    left = y.floor().clamp(max=6).long()
    probs[torch.arange(4), left] = left + 1 - y
    probs[torch.arange(4), left + 1] += y - left
    logits = probs.clamp_min(1e-300).log()
    torch.testing.assert_close(distribution_integral(logits), y)
    # and DFL is minimal (its entropy) there: any other distribution costs more
    base = distribution_focal_loss(logits, y, reduction="none")
    other = distribution_focal_loss(torch.zeros(4, 8, dtype=F64), y, reduction="none")
    assert (base < other).all()


# ------------------------------------------------------------------ peer parity (float64)


def test_quality_focal_equals_mmdetection() -> None:
    g = _gen(1)
    n, c = 64, 7
    pred = torch.randn(n, c, generator=g, dtype=F64) * 3
    labels = torch.randint(0, c + 1, (n,), generator=g)  # c = background
    scores = torch.rand(n, generator=g, dtype=F64)
    dense = torch.zeros(n, c, dtype=F64)
    fg = labels < c
    dense[fg.nonzero().squeeze(1), labels[fg]] = scores[fg]
    ours = quality_focal_loss(pred, dense, reduction="none").sum(1)
    ref = mmdet_qfl(pred, labels, scores)
    assert (ours - ref).abs().max() < 1e-12
    # GFL's usage: sum / avg_factor; mmdetection's "mean" averages per anchor (C x ours)
    num_pos = float(fg.sum())
    torch.testing.assert_close(
        quality_focal_loss(pred, dense, avg_factor=num_pos), ref.sum() / num_pos
    )
    torch.testing.assert_close(quality_focal_loss(pred, dense) * c, ref.mean())


@pytest.mark.parametrize("iou_weighted", [True, False])
def test_varifocal_equals_mmdetection_and_ultralytics(iou_weighted: bool) -> None:
    g = _gen(2)
    pred = torch.randn(50, 6, generator=g, dtype=F64) * 3
    label = (torch.rand(50, 6, generator=g) < 0.2).to(F64)
    target = label * torch.rand(50, 6, generator=g, dtype=F64)
    for p in (pred, pred.detach().requires_grad_()):
        ours = varifocal_loss(p, target, iou_weighted=iou_weighted, reduction="none")
        ref = mmdet_vfl(p, target, iou_weighted=iou_weighted)
        assert (ours - ref).abs().max() < 1e-12
    # gradients too: the focal weight is differentiated in both peers
    a = pred.detach().requires_grad_()
    b = pred.detach().requires_grad_()
    varifocal_loss(a, target, iou_weighted=iou_weighted, reduction="sum").backward()
    mmdet_vfl(b, target, iou_weighted=iou_weighted).sum().backward()
    assert (a.grad - b.grad).abs().max() < 1e-12
    if iou_weighted:
        ul = ultralytics_vfl(pred, target, label)
        ours = varifocal_loss(pred, target, reduction="none").mean(1).sum()
        assert (ours - ul).abs() < 1e-12


def test_gaussian_focal_equals_mmdetection() -> None:
    g = _gen(3)
    p = torch.rand(2, 3, 16, 16, generator=g, dtype=F64) * 0.98 + 0.01
    # a Gaussian heatmap with exact peaks
    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    heat = torch.exp(-((yy - 5) ** 2 + (xx - 9) ** 2) / 8).to(F64)
    target = heat.expand(2, 3, 16, 16).clone()
    target[0, 1] = 0.0
    ours = gaussian_focal_loss(p, target, from_logits=False, reduction="none")
    ref = mmdet_gaussian(p, target)
    # mmdetection adds 1e-12 inside the logarithms: a difference of at most 1e-12 / 0.01
    assert (ours - ref).abs().max() < 1e-9
    # on logits, the same loss
    logit = torch.log(p / (1 - p))
    torch.testing.assert_close(gaussian_focal_loss(logit, target, reduction="none"), ours)
    num_pos = float((target == 1).sum())
    torch.testing.assert_close(
        gaussian_focal_loss(logit, target, avg_factor=num_pos), ref.sum() / num_pos
    )


def test_distribution_focal_equals_mmdetection_and_ultralytics() -> None:
    g = _gen(4)
    n_bins = 16
    pred = torch.randn(40, n_bins, generator=g, dtype=F64) * 2
    label = torch.rand(40, generator=g, dtype=F64) * (n_bins - 1.01)
    ours = distribution_focal_loss(pred, label, reduction="none")
    assert (ours - mmdet_dfl(pred, label)).abs().max() < 1e-12
    # ultralytics: (A, 4, reg_max) side logits, targets clamped below reg_max - 1 - 0.01
    sides = pred.view(10, 4, n_bins)
    target = label.view(10, 4) * 1.02
    ul = ultralytics_dfl(sides.reshape(-1, n_bins), target, n_bins)
    ours = distribution_focal_loss(
        sides, target.clamp(0, n_bins - 1 - 0.01), reduction="none"
    ).mean(-1, keepdim=True)
    assert (ours - ul).abs().max() < 1e-12


def test_distance_encoding_equals_ultralytics() -> None:
    g = _gen(5)
    points = torch.rand(30, 2, generator=g, dtype=F64) * 20
    boxes = torch.cat([points - torch.rand(30, 2, generator=g, dtype=F64) * 20,
                       points + torch.rand(30, 2, generator=g, dtype=F64) * 20], 1)  # fmt: skip
    reg_max = 15
    torch.testing.assert_close(
        box_to_distances(points, boxes, max_distance=reg_max - 0.01),
        ultralytics_bbox2dist(points, boxes, reg_max),
    )
    d = box_to_distances(points, boxes)
    torch.testing.assert_close(distances_to_box(points, d), boxes)
    torch.testing.assert_close(distances_to_box(points, d), ultralytics_dist2bbox(d, points))
    # formats and broadcasting: (A, 2) points against (B, A, 4) boxes
    cxcywh = losskit.box_convert(boxes, "xyxy", "cxcywh")
    torch.testing.assert_close(box_to_distances(points, cxcywh, box_format="cxcywh"), d)
    torch.testing.assert_close(distances_to_box(points, d, box_format="cxcywh"), cxcywh)
    both = box_to_distances(points, boxes.expand(3, 30, 4))
    assert both.shape == (3, 30, 4)
    with pytest.raises(ValueError, match="box_to_distances: anchor_points .* broadcastable"):
        box_to_distances(points, boxes[:7])


# ------------------------------------------------------------------ the fused kernel


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 1.5, 2.0, 3.0])
@pytest.mark.parametrize("kind", ["quality", "vari"])
def test_fused_kernel_equals_plain_formula(monkeypatch, kind: str, gamma: float) -> None:
    """Blocked forward and analytic backward against autograd of the plain formula, over
    several blocks of 2^14 (a ragged last one), each reduction (the mean's 1 / n inside the
    kernel), with saturated logits and soft targets."""
    monkeypatch.setattr(C, "_FOCAL_BLOCK", 1 << 14)
    g = _gen(6)
    n = (1 << 16) + 1234
    x = torch.randn(n, generator=g, dtype=F64) * 4
    x[:8] = torch.tensor([100.0, -100.0, 30.0, -30.0, 0.0, 1e-9, 80.0, -80.0], dtype=F64)
    y = torch.rand(n, generator=g, dtype=F64)
    y[torch.rand(n, generator=g) < 0.5] = 0.0
    y[:8] = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.5, 0.5, 0.3, 0.0], dtype=F64)
    fn = quality_focal_loss if kind == "quality" else varifocal_loss
    kw = {"gamma": gamma} if kind == "quality" else {"gamma": gamma, "alpha": 0.6}
    w = torch.rand(n, generator=g, dtype=F64)

    def plain(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return _qfl_plain(a, b, gamma) if kind == "quality" else _vfl_plain(a, b, 0.6, gamma, True)

    for reduction in ("mean", "sum", "none"):
        _fused_equals_plain(lambda a, b, r=reduction: fn(a, b, reduction=r, **kw), plain, x, y,
                            w, reduction)  # fmt: skip


def _fused_equals_plain(fused, plain, x, y, w, reduction: str) -> tuple[torch.Tensor, ...]:
    """``fused(x, y)`` against autograd of the per-element ``plain(x, y)`` reduced by
    ``reduction``: the value and the gradients to ``x`` and ``y`` (weighted by ``w`` under
    ``"none"``), finite; returns the fused gradients."""
    xa, ya = x.clone().requires_grad_(), y.clone().requires_grad_()
    xb, yb = x.clone().requires_grad_(), y.clone().requires_grad_()
    got, ref = fused(xa, ya), plain(xb, yb)
    ref = {"mean": ref.mean, "sum": ref.sum}.get(reduction, lambda: ref)()
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-14)
    gw = w if reduction == "none" else None
    ga = torch.autograd.grad(got, (xa, ya), gw)
    gb = torch.autograd.grad(ref, (xb, yb), gw)
    for a, b in zip(ga, gb, strict=True):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    return ga


@pytest.mark.parametrize("gamma", [0.0, 1.0, 1.5, 2.0, 3.0])
@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 2.0, 2.5, 3.0, 4.0])
def test_fused_gaussian_focal_equals_plain_formula(monkeypatch, gamma: float, beta: float) -> None:
    """The Gaussian focal loss's blocked pass (the peaks and the rest joined by a 0/1
    factor, the powers of 1 to 4 as products) against autograd of the plain formula, over
    several blocks of 2^14, each reduction, with saturated logits at peaks and away from
    them, heatmap values near 1 and exactly 0."""
    monkeypatch.setattr(C, "_FOCAL_BLOCK", 1 << 14)
    g = _gen(16)
    n = (1 << 16) + 777
    x = torch.randn(n, generator=g, dtype=F64) * 4
    x[:8] = torch.tensor([100.0, -100.0, 30.0, -30.0, 0.0, 1e-9, 80.0, -80.0], dtype=F64)
    y = torch.rand(n, generator=g, dtype=F64) ** 3
    y[torch.rand(n, generator=g) < 0.05] = 1.0  # the peaks
    y[:8] = torch.tensor([1.0, 1.0, 0.0, 0.999, 1.0, 0.5, 0.0, 1.0 - 1e-12], dtype=F64)
    w = torch.rand(n, generator=g, dtype=F64)
    for reduction in ("mean", "sum", "none"):
        ga = _fused_equals_plain(
            lambda a, b, r=reduction: gaussian_focal_loss(a, b, gamma=gamma,
                                                          penalty_exponent=beta, reduction=r),
            lambda a, b: _gaussian_plain(TF.softplus(-a), TF.softplus(a), b, gamma, beta),
            x, y, w, reduction,
        )  # fmt: skip
        assert (ga[1][y == 1.0] == 0).all()  # no gradient to the target at the peaks


def test_fused_kernel_double_backward_is_exact() -> None:
    g = _gen(7)
    x = torch.randn(12, generator=g, dtype=F64, requires_grad=True)
    y = torch.rand(12, generator=g, dtype=F64, requires_grad=True)
    for fn in (quality_focal_loss, varifocal_loss, gaussian_focal_loss):
        assert torch.autograd.gradgradcheck(lambda a, b, f=fn: f(a, b, gamma=1.5), (x, y))


# ------------------------------------------------------------------ avg_factor


@pytest.mark.parametrize(
    "fn", [quality_focal_loss, varifocal_loss, gaussian_focal_loss, losskit.focal_loss]
)
def test_avg_factor_divides_the_sum(fn) -> None:
    g = _gen(8)
    x = torch.randn(4, 5, generator=g, dtype=F64)
    y = (torch.rand(4, 5, generator=g) < 0.3).to(F64)
    w = torch.rand(4, 5, generator=g, dtype=F64)
    m = torch.rand(4, 5, generator=g) < 0.7
    total = fn(x, y, reduction="sum", weight=w, mask=m)
    torch.testing.assert_close(fn(x, y, weight=w, mask=m, avg_factor=3.0), total / 3.0)
    torch.testing.assert_close(fn(x, y, weight=w, mask=m, avg_factor=torch.tensor(3)), total / 3.0)
    # no positives: a count of 0 (or below 1) divides by 1; finite value and gradient
    xg = x.clone().requires_grad_()
    out = fn(xg, torch.zeros_like(y), avg_factor=0)
    out.backward()
    torch.testing.assert_close(out, fn(x, torch.zeros_like(y), reduction="sum"))
    assert torch.isfinite(xg.grad).all() and xg.grad.abs().sum() > 0
    # the fused fast path (no weight, no mask) equals the general one
    torch.testing.assert_close(fn(x, y, avg_factor=2.5), fn(x, y, reduction="sum") / 2.5)


@pytest.mark.parametrize("name", ["iou", "giou", "diou", "ciou", "eiou", "siou"])
def test_avg_factor_on_every_box_loss(name: str) -> None:
    fn = getattr(losskit, f"{name}_loss")
    g = _gen(11)
    t = torch.rand(6, 4, generator=g, dtype=F64)
    t[:, 2:] += t[:, :2] + 0.5
    p = t + 0.3 * torch.randn(6, 4, generator=g, dtype=F64)
    w = torch.rand(6, generator=g, dtype=F64)
    total = fn(p, t, weight=w, reduction="sum")
    torch.testing.assert_close(fn(p, t, weight=w, avg_factor=4), total / 4)
    torch.testing.assert_close(fn(p, t, weight=w, avg_factor=0.0), total)
    module = getattr(losskit, f"{name.upper().replace('IOU', 'IoU')}Loss")()
    torch.testing.assert_close(module(p, t, weight=w, avg_factor=torch.tensor(4.0)), total / 4)
    with pytest.raises(ValueError, match=f"{name}_loss: avg_factor sets what reduction='mean'"):
        fn(p, t, avg_factor=4, reduction="none")


def test_avg_factor_through_the_module_forward() -> None:
    x, y = torch.zeros(2, 3), torch.tensor([[0.8, 0.0, 0.0], [0.0, 0.0, 0.0]])
    m = losskit.QualityFocalLoss()
    torch.testing.assert_close(m(x, y, avg_factor=2), quality_focal_loss(x, y, reduction="sum") / 2)
    dfl = losskit.DistributionFocalLoss()
    z, t = torch.zeros(2, 4, 5), torch.full((2, 4), 1.5)
    torch.testing.assert_close(dfl(z, t, avg_factor=4.0), dfl(z, t) * 8 / 4)


def test_all_reduce_avg_factor_single_process() -> None:
    assert all_reduce_avg_factor(7).item() == 7.0
    t = torch.tensor(5, dtype=torch.long)
    out = all_reduce_avg_factor(t)
    assert out.dtype == F64 and out.shape == () and out.item() == 5.0
    assert all_reduce_avg_factor(torch.tensor([2.5])).item() == 2.5


# ------------------------------------------------------------------ edges


@pytest.mark.parametrize(
    "fn", [quality_focal_loss, varifocal_loss, gaussian_focal_loss], ids=lambda f: f.__name__
)
def test_saturated_logits_and_probabilities_are_finite(fn) -> None:
    x = torch.tensor([100.0, -100.0, 100.0, -100.0, 0.0], requires_grad=True)
    y = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.5])
    out = fn(x, y, reduction="sum")
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(x.grad).all()
    # correct, confident predictions cost (about) nothing
    assert fn(x[:2].detach(), y[:2], reduction="sum").item() < 1e-30
    # probabilities at exactly 0 and 1 (from_logits=False), in float32 and float16
    for dt in (torch.float32, torch.float16):
        p = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.5], dtype=dt, requires_grad=True)
        out = fn(p, y.to(dt), from_logits=False, reduction="sum")
        out.backward()
        assert torch.isfinite(out) and torch.isfinite(p.grad).all(), (fn.__name__, dt)


def test_all_negative_batch() -> None:
    x = torch.randn(3, 4, 5, requires_grad=True)
    zeros = torch.zeros(3, 4, 5)
    for fn in (quality_focal_loss, varifocal_loss, gaussian_focal_loss):
        out = fn(x, zeros, avg_factor=(zeros == 1).sum())
        (g,) = torch.autograd.grad(out, x)
        assert torch.isfinite(out) and out > 0 and torch.isfinite(g).all()


def test_gaussian_focal_penalty_reduction_near_a_peak() -> None:
    # a confident prediction (p = 0.9) one step from a peak costs (1 - y)^4 of the background's
    x = torch.full((2,), math.log(9.0), dtype=F64)
    near, background = gaussian_focal_loss(x, torch.tensor([0.8, 0.0], dtype=F64), reduction="none")
    torch.testing.assert_close(near / background, torch.tensor(0.2**4, dtype=F64))


def test_gaussian_focal_small_penalty_exponent_has_finite_target_gradient() -> None:
    x = torch.zeros(3, dtype=F64)
    y = torch.tensor([1.0, 0.999, 0.3], dtype=F64, requires_grad=True)
    gaussian_focal_loss(x, y, penalty_exponent=0.5, reduction="sum").backward()
    assert torch.isfinite(y.grad).all() and y.grad[0] == 0


def test_dfl_edges() -> None:
    z = torch.randn(5, 8, generator=_gen(9), dtype=F64, requires_grad=True)
    y = torch.tensor([0.0, 7.0, 3.0, 6.9999, 0.5], dtype=F64)  # ends and integers
    out = distribution_focal_loss(z, y)
    (g,) = torch.autograd.grad(out, z)
    assert torch.isfinite(out) and torch.isfinite(g).all()
    # an integer target is the cross-entropy of its bin
    ce = TF.cross_entropy(z.detach(), y.long(), reduction="none")
    got = distribution_focal_loss(z.detach(), y, reduction="none")
    torch.testing.assert_close(got[:3], ce[:3])
    # logits of +-100 (a saturated distribution): finite
    big = torch.tensor([[100.0, -100.0, -100.0]], requires_grad=True)
    out = distribution_focal_loss(big, torch.tensor([0.5]))
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(big.grad).all()
    # a masked-out target beyond the bins is never read
    masked = distribution_focal_loss(z.detach(), torch.tensor([1.0, 99.0, 2.0, 3.0, 4.0],
                                     dtype=F64), mask=torch.tensor([1, 0, 1, 1, 1]).bool())  # fmt: skip
    assert torch.isfinite(masked)


def test_half_precision_is_computed_in_float32() -> None:
    g = _gen(10)
    x = (torch.randn(2, 3, 8, 8, generator=g) * 3).half()
    y = torch.rand(2, 3, 8, 8, generator=g).half()
    for fn in (quality_focal_loss, varifocal_loss, gaussian_focal_loss):
        out = fn(x, y)
        assert out.dtype == torch.float16
        torch.testing.assert_close(out.float(), fn(x.float(), y.float()), rtol=2e-3, atol=1e-4)
