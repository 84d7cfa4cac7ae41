"""Box losses: hand-worked values on non-square boxes, parity with torchvision (values and
gradients), the CIoU options, numerics at the edges, and the claims of the study notes
about box losses. Every deliberate difference from torchvision is written next to its test."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision.ops as tvo

import losskit
from losskit import _workspace as workspace
from losskit import (
    box_convert,
    box_iou,
    ciou_loss,
    complete_box_iou,
    diou_loss,
    distance_box_iou,
    eiou_loss,
    generalized_box_iou,
    giou_loss,
    iou_loss,
    siou_loss,
)
from losskit.specs.box import make_boxes

from ..conftest import assert_same_in_threads, gen

LOSSES = [iou_loss, giou_loss, diou_loss, ciou_loss, eiou_loss, siou_loss]
TV = [
    (giou_loss, tvo.generalized_box_iou_loss),
    (diou_loss, tvo.distance_box_iou_loss),
    (ciou_loss, tvo.complete_box_iou_loss),
]


def _t(*rows: list[float], dtype=torch.float64) -> torch.Tensor:
    return torch.tensor(rows, dtype=dtype)


def test_hand_worked_values_on_non_square_boxes() -> None:
    # prediction 2x1 at the origin, target 1x2 at the origin: I = 1, U = 3, IoU = 1/3;
    # centres (1, .5) and (.5, 1): rho^2 = .5; enclosing (0,0)-(2,2): c^2 = 8, C = 4
    p, t = _t([0.0, 0.0, 2.0, 1.0]), _t([0.0, 0.0, 1.0, 2.0])
    iou = 1 / 3
    v = 4 / math.pi**2 * (math.atan(0.5) - math.atan(2.0)) ** 2
    alpha = v / (1 - iou + v)
    expected = {
        iou_loss: 1 - iou,
        giou_loss: 1 - iou + (4 - 3) / 4,
        diou_loss: 1 - iou + 0.5 / 8,
        ciou_loss: 1 - iou + 0.5 / 8 + alpha * v,
        eiou_loss: 1 - iou + 0.5 / 8 + 1 / 4 + 1 / 4,  # (w - w_gt)^2 / c_w^2 = 1/4, same for h
    }
    for fn, want in expected.items():
        torch.testing.assert_close(
            fn(p, t, reduction="none"), torch.tensor([want], dtype=torch.float64), atol=1e-6, rtol=0
        )


def test_siou_hand_worked_value() -> None:
    # 2x2 boxes shifted by 1 along x: IoU = 2/6; centre offset (-1, 0) lies on an axis, so
    # Lambda = 0, gamma = 2; enclosing 3 x 2: rho_x = 1/9, rho_y = 0; same shape: Omega = 0
    p, t = _t([0.0, 0.0, 2.0, 2.0]), _t([1.0, 0.0, 3.0, 2.0])
    want = 1 - 1 / 3 + 0.5 * (1 - math.exp(-2 / 9))
    torch.testing.assert_close(
        siou_loss(p, t, reduction="none"),
        torch.tensor([want], dtype=torch.float64),
        atol=1e-6,
        rtol=0,
    )
    # a 45-degree offset maximises the angle cost: Lambda = 1, gamma = 1
    p2, t2 = _t([0.0, 0.0, 1.0, 1.0]), _t([1.0, 1.0, 2.0, 2.0])
    want2 = 1 - 0 + 0.5 * 2 * (1 - math.exp(-1 * 0.25))
    torch.testing.assert_close(
        siou_loss(p2, t2, reduction="none"),
        torch.tensor([want2], dtype=torch.float64),
        atol=1e-6,
        rtol=0,
    )


@pytest.mark.parametrize("shape_exponent", [0.25, 0.5, 1.0, 4.0])
def test_siou_matching_side_has_finite_gradient_for_every_shape_exponent(shape_exponent) -> None:
    # a side of the prediction equal to the target's (omega = 0): the shape cost is 0 there,
    # and its gradient 0 for every exponent > 0 (below 1, 0^theta's slope is infinite and
    # the chain rule gave inf * 0 = NaN); the other coordinates keep their gradient
    p = torch.tensor([[0.0, 0.0, 2.0, 3.0], [1.0, 1.0, 4.0, 5.0]], requires_grad=True)
    t = torch.tensor([[0.5, 0.0, 2.5, 3.0], [1.0, 1.0, 4.0, 6.0]])
    for loss in (siou_loss(p, t, shape_exponent=shape_exponent),
                 siou_loss(p, p.detach(), shape_exponent=shape_exponent)):  # fmt: skip
        (g,) = torch.autograd.grad(loss, p)
        assert torch.isfinite(g).all()
    g = torch.autograd.grad(siou_loss(p, t, shape_exponent=shape_exponent), p)[0]
    assert g[1, 3] != 0  # the mismatched height still pulls


@pytest.mark.parametrize("shape_exponent", [1.0, 4.0])
def test_siou_shape_exponent(shape_exponent: float) -> None:
    # same centre, widths 2 and 1, same height: IoU = 1/2, no angle or distance cost, shape
    # cost Omega = (1 - exp(-|w - w_gt| / max(w, w_gt)))^shape_exponent = (1 - e^-0.5)^theta
    p, t = _t([0.0, 0.0, 2.0, 2.0]), _t([0.5, 0.0, 1.5, 2.0])
    want = 1 - 0.5 + 0.5 * (1 - math.exp(-0.5)) ** shape_exponent
    torch.testing.assert_close(
        siou_loss(p, t, shape_exponent=shape_exponent, reduction="none"),
        torch.tensor([want], dtype=torch.float64),
        atol=1e-6,
        rtol=0,
    )
    m = losskit.SIoULoss(shape_exponent=shape_exponent, reduction="none")
    assert f"shape_exponent={shape_exponent}" in repr(m)
    torch.testing.assert_close(
        m(p, t), siou_loss(p, t, shape_exponent=shape_exponent, reduction="none")
    )


# ---- torchvision parity ------------------------------------------------------------------


@pytest.mark.parametrize(("ours", "theirs"), TV, ids=["giou", "diou", "ciou"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_parity_with_torchvision_values_and_gradients(ours, theirs, reduction: str) -> None:
    # random non-square boxes (so CIoU's aspect term is active), most overlapping
    p, t = make_boxes(64, dtype=torch.float64, device="cpu", generator=gen(7))
    a = p.clone().requires_grad_()
    b = p.clone().requires_grad_()
    la = ours(a, t, reduction=reduction)
    lb = theirs(b, t, reduction=reduction)
    torch.testing.assert_close(la, lb)
    (la.sum() if reduction == "none" else la).backward()
    (lb.sum() if reduction == "none" else lb).backward()
    torch.testing.assert_close(a.grad, b.grad)


@pytest.mark.parametrize(("ours", "theirs"), TV, ids=["giou", "diou", "ciou"])
def test_parity_with_torchvision_target_gradient_float32(ours, theirs) -> None:
    p, t = make_boxes(64, dtype=torch.float32, device="cpu", generator=gen(8))
    ta, tb = t.clone().requires_grad_(), t.clone().requires_grad_()
    ours(p, ta).backward()
    theirs(p, tb, reduction="mean").backward()
    torch.testing.assert_close(ta.grad, tb.grad, rtol=1e-4, atol=1e-6)


# torchvision's canonical cases (test/test_ops.py, TestGeneralizedBoxIouLoss,
# TestDistanceBoxIouLoss, TestCompleteBoxIouLoss): squares, so CIoU equals DIoU there.
BOX1, BOX2, BOX3, BOX4 = (
    [-1.0, -1.0, 1.0, 1.0],
    [0.0, 0.0, 1.0, 1.0],
    [0.0, 1.0, 1.0, 2.0],
    [1.0, 1.0, 2.0, 2.0],
)
CANON = {
    # identical; quarter box inside; side by side (touching); diagonal neighbours
    giou_loss: [(BOX1, BOX1, 0.0), (BOX1, BOX2, 0.75), (BOX2, BOX3, 1.0), (BOX2, BOX4, 1.5)],
    diou_loss: [(BOX1, BOX1, 0.0), (BOX1, BOX2, 0.8125), (BOX1, BOX3, 1.1923), (BOX1, BOX4, 1.25)],
    ciou_loss: [(BOX1, BOX1, 0.0), (BOX1, BOX2, 0.8125), (BOX1, BOX3, 1.1923), (BOX1, BOX4, 1.25)],
}
CANON_BATCH = {giou_loss: (1.25, 2.5), diou_loss: (1.225, 2.45), ciou_loss: (1.225, 2.45)}


@pytest.mark.parametrize("fn", list(CANON), ids=["giou", "diou", "ciou"])
def test_torchvision_canonical_cases(fn) -> None:
    peer = dict(TV)[fn]
    for a, b, want in CANON[fn]:
        ours = fn(_t(a, dtype=torch.float32), _t(b, dtype=torch.float32), reduction="sum")
        theirs = peer(_t(a, dtype=torch.float32), _t(b, dtype=torch.float32), reduction="sum")
        torch.testing.assert_close(ours, torch.tensor(want), atol=1e-4, rtol=0)
        torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)
    box1s = _t(BOX2, BOX2, dtype=torch.float32)
    box2s = _t(BOX3, BOX4, dtype=torch.float32)
    mean, total = CANON_BATCH[fn]
    torch.testing.assert_close(fn(box1s, box2s), torch.tensor(mean), atol=1e-4, rtol=0)
    torch.testing.assert_close(
        fn(box1s, box2s, reduction="sum"), torch.tensor(total), atol=1e-4, rtol=0
    )


def test_default_reduction_differs_from_torchvision() -> None:
    # deliberate: losskit's default reduction is "mean" everywhere; torchvision's box losses
    # default to "none"
    p, t = make_boxes(5, dtype=torch.float64, device="cpu", generator=gen(1))
    assert giou_loss(p, t).shape == ()
    assert tvo.generalized_box_iou_loss(p, t).shape == (5,)


def test_ciou_eps_is_honoured_in_the_diou_part() -> None:
    # deliberate: torchvision's complete_box_iou_loss passes no eps to its DIoU part (that part
    # always uses 1e-7), so a larger eps changes only its alpha; losskit uses eps everywhere
    p, t = make_boxes(8, dtype=torch.float64, device="cpu", generator=gen(4))
    eps = 0.5
    ours = ciou_loss(p, t, eps=eps, reduction="none")
    theirs = tvo.complete_box_iou_loss(p, t, eps=eps)
    assert not torch.allclose(ours, theirs)
    iou = 1 - iou_loss(p, t, eps=eps, reduction="none")
    diou_part = diou_loss(p, t, eps=eps, reduction="none")
    wh_p, wh_t = p[:, 2:] - p[:, :2], t[:, 2:] - t[:, :2]
    v = (
        4
        / math.pi**2
        * (torch.atan(wh_t[:, 0] / wh_t[:, 1]) - torch.atan(wh_p[:, 0] / wh_p[:, 1])) ** 2
    )
    torch.testing.assert_close(ours, diou_part + v / (1 - iou + v + eps) * v)


# ---- pairwise ----------------------------------------------------------------------------

PAIR = [
    (box_iou, tvo.box_iou),
    (generalized_box_iou, tvo.generalized_box_iou),
    (distance_box_iou, tvo.distance_box_iou),
    (complete_box_iou, tvo.complete_box_iou),
]


@pytest.mark.parametrize(("ours", "theirs"), PAIR, ids=["iou", "giou", "diou", "ciou"])
def test_pairwise_matches_torchvision(ours, theirs) -> None:
    # torchvision's own case: [0,0,100,100], [0,0,50,50], [200,200,300,300] (IoU .25 between
    # the first two), plus random non-square boxes with a leading batch dimension.
    # Deliberate: losskit adds eps = 1e-7 to the IoU and GIoU denominators, torchvision adds
    # none (so two empty boxes give NaN there); relative effect ~1e-7 / area.
    canon = torch.tensor(
        [[0.0, 0.0, 100.0, 100.0], [0.0, 0.0, 50.0, 50.0], [200.0, 200.0, 300.0, 300.0]]
    )
    torch.testing.assert_close(ours(canon, canon), theirs(canon, canon))
    assert abs(box_iou(canon, canon)[0, 1].item() - 0.25) < 1e-6
    a, _ = make_boxes(10, dtype=torch.float64, device="cpu", generator=gen(5))
    b, _ = make_boxes(6, dtype=torch.float64, device="cpu", generator=gen(6))
    a, b = a.view(2, 5, 4), b.view(2, 3, 4)
    got = ours(a, b)
    assert got.shape == (2, 5, 3)
    torch.testing.assert_close(got, theirs(a, b), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("fmt", ["xywh", "cxcywh"])
def test_pairwise_and_losses_accept_formats(fmt: str) -> None:
    p, t = make_boxes(7, dtype=torch.float64, device="cpu", generator=gen(9))
    pf, tf = box_convert(p, "xyxy", fmt), box_convert(t, "xyxy", fmt)
    torch.testing.assert_close(box_iou(pf, tf, box_format=fmt), box_iou(p, t))
    for fn in LOSSES:
        torch.testing.assert_close(
            fn(pf, tf, box_format=fmt, reduction="none"), fn(p, t, reduction="none")
        )


def test_pairwise_bad_shapes() -> None:
    with pytest.raises(
        ValueError,
        match=r"box_iou: boxes1 and boxes2 must be \(\.\.\., N, 4\) and \(\.\.\., M, 4\) with the same leading dimensions; got \(2, 3, 4\) and \(3, 3, 4\)",
    ):
        box_iou(torch.zeros(2, 3, 4), torch.zeros(3, 3, 4))
    with pytest.raises(
        ValueError, match=r"generalized_box_iou: boxes2 must have shape \(\.\.\., 4\); got \(3, 2\)"
    ):
        generalized_box_iou(torch.zeros(3, 4), torch.zeros(3, 2))


def test_pairwise_is_differentiable_and_half_in_half_out() -> None:
    a, b = make_boxes(4, dtype=torch.float32, device="cpu", generator=gen(2))
    a.requires_grad_()
    complete_box_iou(a, b).sum().backward()
    assert torch.isfinite(a.grad).all()
    out = distance_box_iou(a.detach().half(), b.half())
    assert out.dtype == torch.float16
    torch.testing.assert_close(
        out.float(),
        distance_box_iou(a.detach().half().float(), b.half().float()),
        atol=2e-3,
        rtol=2e-3,
    )


# ---- CIoU options ------------------------------------------------------------------------


def test_ciou_alpha_modes() -> None:
    p, t = make_boxes(32, dtype=torch.float64, device="cpu", generator=gen(10))
    iou = 1 - iou_loss(p, t, reduction="none")
    diou = diou_loss(p, t, reduction="none")
    detach = ciou_loss(p, t, reduction="none")
    # the value of alpha is the same in "detach" and "grad"
    torch.testing.assert_close(ciou_loss(p, t, alpha_mode="grad", reduction="none"), detach)
    # "threshold": the aspect term vanishes where IoU < 0.5 (the authors' later form)
    thr = ciou_loss(p, t, alpha_mode="threshold", reduction="none")
    low = iou < 0.5
    assert low.any() and (~low).any()
    torch.testing.assert_close(thr[low], diou[low])
    torch.testing.assert_close(thr[~low], detach[~low])
    # "grad" differentiates alpha: gradcheck against finite differences
    pg = p[:6].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda x: ciou_loss(x, t[:6], alpha_mode="grad"), (pg,))
    # "detach" differs from the full gradient wherever v > 0
    g1 = torch.autograd.grad(ciou_loss(pg, t[:6]), pg)[0]
    g2 = torch.autograd.grad(ciou_loss(pg, t[:6], alpha_mode="grad"), pg)[0]
    assert not torch.allclose(g1, g2)


def test_ciou_paper_v_gradient_drops_the_denominator() -> None:
    # one box, IoU kept fixed by moving only the aspect term: compare the gradient of the
    # alpha v part between "exact" and "paper" on w and h
    p, t = make_boxes(16, dtype=torch.float64, device="cpu", generator=gen(13))
    pe, pp = p.clone().requires_grad_(), p.clone().requires_grad_()
    ge = torch.autograd.grad(
        ciou_loss(pe, t, reduction="sum") - diou_loss(pe, t, reduction="sum"), pe
    )[0]
    gp = torch.autograd.grad(
        ciou_loss(pp, t, v_grad="paper", reduction="sum") - diou_loss(pp, t, reduction="sum"), pp
    )[0]
    wh = p[:, 2:] - p[:, :2]
    scale = (wh**2).sum(-1, keepdim=True)
    torch.testing.assert_close(gp[:, 2:], ge[:, 2:] * scale)  # d/dx2 = d/dw, d/dy2 = d/dh
    torch.testing.assert_close(ciou_loss(p, t, v_grad="paper"), ciou_loss(p, t))


# ---- numerics ----------------------------------------------------------------------------


@pytest.mark.parametrize("fn", LOSSES, ids=[f.__name__ for f in LOSSES])
@pytest.mark.parametrize(
    "boxes",
    [[1.0, 1.0, 1.0, 3.0], [1.0, 1.0, 3.0, 1.0], [1.0, 1.0, 1.0, 1.0]],
    ids=["zero-width", "zero-height", "point"],
)
def test_degenerate_prediction_gives_finite_loss_and_gradient(fn, boxes) -> None:
    p = torch.tensor([boxes], requires_grad=True)
    t = torch.tensor([[0.0, 0.0, 2.0, 4.0]])
    loss = fn(p, t)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(p.grad).all()
    if fn in (giou_loss, diou_loss, ciou_loss, eiou_loss, siou_loss) and boxes[0] != boxes[2]:
        assert p.grad.abs().sum() > 0


def test_zero_width_box_torchvision_ciou_gives_nan() -> None:
    # deliberate difference: torchvision's atan(w / h) has a NaN gradient at h = 0
    p = torch.tensor([[1.0, 1.0, 3.0, 1.0]], requires_grad=True)
    t = torch.tensor([[0.0, 0.0, 2.0, 4.0]])
    tvo.complete_box_iou_loss(p, t, reduction="sum").backward()
    assert torch.isnan(p.grad).any()
    p.grad = None
    ciou_loss(p, t).backward()
    assert torch.isfinite(p.grad).all()


@pytest.mark.parametrize("fn", LOSSES, ids=[f.__name__ for f in LOSSES])
def test_identical_boxes_give_zero_with_finite_gradient(fn) -> None:
    t = torch.tensor([[0.0, 0.0, 2.0, 1.0], [3.0, 1.0, 4.0, 5.0]])
    p = t.clone().requires_grad_()
    loss = fn(p, t)
    loss.backward()
    # 1 - A / (A + eps): zero up to eps / area
    torch.testing.assert_close(loss, torch.tensor(0.0), atol=1e-6, rtol=0)
    assert torch.isfinite(p.grad).all()


@pytest.mark.parametrize("fn", LOSSES, ids=[f.__name__ for f in LOSSES])
def test_inverted_prediction_documented_behaviour(fn) -> None:
    # an inverted box (x2 < x1) counts as zero width: area 0, IoU 0; its raw corners still
    # enter the enclosing box and the centre distance, so the penalties keep a gradient
    inv = torch.tensor([[1.5, 0.0, 0.5, 2.0]], requires_grad=True)
    t = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    loss = fn(inv, t)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(inv.grad).all()
    iou = 1 - iou_loss(inv.detach(), t)
    assert iou.item() == 0.0
    # deliberate: torchvision multiplies signed sizes, so a box inverted in both axes gets a
    # positive area (4 here) and enters GIoU's union; losskit gives it area 0
    both = torch.tensor([[2.0, 2.0, 0.0, 0.0]])
    assert (1 - iou_loss(both, t)).item() == 0.0
    # enclosing box = target (C = 4); union: losskit 0 + 4 = 4 -> penalty 0; torchvision 4 + 4 = 8
    torch.testing.assert_close(giou_loss(both, t), torch.tensor(1.0))
    torch.testing.assert_close(
        tvo.generalized_box_iou_loss(both, t, reduction="sum"), torch.tensor(0.0), atol=1e-6, rtol=0
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("fn", LOSSES, ids=[f.__name__ for f in LOSSES])
def test_half_precision_is_computed_in_float32(fn, dtype) -> None:
    p, t = make_boxes(32, dtype=torch.float32, device="cpu", generator=gen(14))
    ph, th = p.to(dtype).requires_grad_(), t.to(dtype)
    out = fn(ph, th, reduction="none")
    out.sum().backward()
    assert out.dtype == dtype and ph.grad.dtype == dtype
    ref = fn(ph.detach().float(), th.float(), reduction="none")
    torch.testing.assert_close(out.float(), ref, atol=1e-2, rtol=1e-2)


def test_weighted_mean_is_sum_w_l_over_sum_w() -> None:
    p, t = make_boxes(6, dtype=torch.float64, device="cpu", generator=gen(15))
    w = torch.tensor([0.0, 1.0, 2.0, 0.5, 0.0, 3.0], dtype=torch.float64)
    per = ciou_loss(p, t, reduction="none")
    torch.testing.assert_close(ciou_loss(p, t, weight=w), (per * w).sum() / w.sum())
    torch.testing.assert_close(
        ciou_loss(p, t, weight=torch.zeros(6, dtype=torch.float64)),
        torch.tensor(0.0, dtype=torch.float64),
    )
    # a per-box mask leaves boxes out of the mean: the same as dropping them
    m = torch.tensor([True, False, True, True, False, True])
    for fn in LOSSES:
        torch.testing.assert_close(fn(p, t, mask=m), fn(p[m], t[m]))
        torch.testing.assert_close(
            fn(p, t, mask=m, reduction="none")[~m], torch.zeros(2, dtype=torch.float64)
        )


@pytest.mark.parametrize("fn", LOSSES, ids=[f.__name__ for f in LOSSES])
def test_masked_missing_boxes_get_zero_gradient(fn) -> None:
    # a box without a target (stored as NaN) and masked out gets a zero gradient, and its NaN
    # never reaches the result (the exclusion rule of losskit._reduction.finish)
    p, t = make_boxes(3, dtype=torch.float64, device="cpu", generator=gen(21))
    t[1] = float("nan")
    m = torch.tensor([True, False, True])
    p.requires_grad_()
    out = fn(p, t, mask=m)
    torch.testing.assert_close(out, fn(p[m], t[m]))
    (grad,) = torch.autograd.grad(out, p)
    assert torch.isfinite(grad).all() and (grad[1] == 0).all()


@pytest.mark.parametrize(
    ("fn", "kwargs"),
    [(iou_loss, {}), (giou_loss, {}), (diou_loss, {}), (ciou_loss, {}),
     (ciou_loss, {"alpha_mode": "grad", "v_grad": "paper"}), (eiou_loss, {}),
     (giou_loss, {"iou_exponent": 3.0}), (eiou_loss, {"iou_exponent": 2.0}), (siou_loss, {})],
    ids=["iou", "giou", "diou", "ciou", "ciou-grad-paper", "eiou", "giou-a3", "eiou-a2", "siou"],
)  # fmt: skip
def test_compiled_path_equals_fused_eager_path(fn, kwargs) -> None:
    # under torch.compile the fused losses run CompiledFusedIoU (one block, the gradient saved
    # from the forward graph), eager runs FusedIoU: values and both gradients agree, the
    # upstream gradient applied per box, with no graph break
    p, t = make_boxes(9, dtype=torch.float64, device="cpu", generator=gen(16))
    w = torch.rand(3, 3, generator=gen(161), dtype=torch.float64)
    p, t = p.view(3, 3, 4), t.view(3, 3, 4)
    torch._dynamo.reset()
    compiled = torch.compile(lambda a, b: fn(a, b, reduction="none", **kwargs),
                             backend="aot_eager", fullgraph=True)  # fmt: skip
    out = []
    for f in (compiled, lambda a, b: fn(a, b, reduction="none", **kwargs)):
        a, b = p.clone().requires_grad_(), t.clone().requires_grad_()
        loss = f(a, b)
        out.append((loss, *torch.autograd.grad(loss, (a, b), w)))
    for x, y in zip(*out, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)


def test_compiled_fused_kernel_equals_eager_kernel_without_compiling() -> None:
    from losskit._geometry import CompiledFusedIoU, FusedIoU

    p, t = make_boxes(12, dtype=torch.float64, device="cpu", generator=gen(162))
    for kind in ("iou", "giou", "diou", "ciou", "eiou", "siou"):
        for need in ((True, True), (True, False), (False, True)):
            got, want = [], []
            for fn, acc in ((CompiledFusedIoU, got), (FusedIoU, want)):
                a = p.clone().requires_grad_(need[0])
                b = t.clone().requires_grad_(need[1])
                loss = fn.apply(a, b, kind, 1e-7, "detach", "exact")
                wanted = [x for x, n in zip((a, b), need, strict=True) if n]
                acc += [loss, *torch.autograd.grad(loss, wanted, torch.arange(12.0).double())]
            for x, y in zip(got, want, strict=True):
                torch.testing.assert_close(x, y, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize(
    ("fn", "kwargs"),
    [(iou_loss, {}), (giou_loss, {}), (diou_loss, {}), (ciou_loss, {"alpha_mode": "grad"}),
     (eiou_loss, {}), (siou_loss, {}), (giou_loss, {"iou_exponent": 3.0})],
    ids=["iou", "giou", "diou", "ciou-grad", "eiou", "siou", "giou-a3"],
)  # fmt: skip
def test_reduction_inside_the_fused_pass_equals_reducing_the_per_box_loss(
    fn, kwargs, reduction: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "mean"/"sum" without weight or mask is summed (and divided) inside FusedIoU, the
    # gradient computed already divided; it equals reducing reduction="none"'s loss, in
    # value, both gradients (one block and several), a second backward pass through the
    # retained graph, and second derivatives
    import losskit._geometry as G

    p, t = make_boxes(37, dtype=torch.float64, device="cpu", generator=gen(163))
    p, t = p.view(37, 1, 4), t.view(37, 1, 4)
    for block in (G._BLOCK, 8):  # one block, then five
        monkeypatch.setattr(G, "_BLOCK", block)
        got, want = [], []
        for fused, acc in ((True, got), (False, want)):
            a, b = p.clone().requires_grad_(), t.clone().requires_grad_()
            if fused:
                loss = fn(a, b, reduction=reduction, **kwargs)
                assert type(loss.grad_fn).__name__.startswith("FusedIoU")  # the path under test
            else:
                per_box = fn(a, b, reduction="none", **kwargs)
                loss = per_box.mean() if reduction == "mean" else per_box.sum()
            first = torch.autograd.grad(loss, (a, b), retain_graph=True)
            again = torch.autograd.grad(loss, (a, b))
            acc += [loss, *first, *again]
        for x, y in zip(got, want, strict=True):
            torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-14)
    a = p.clone().requires_grad_()
    assert torch.autograd.gradgradcheck(lambda x: fn(x, t, reduction=reduction, **kwargs), (a,))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_no_host_device_sync_on_cuda() -> None:
    p, t = make_boxes(1000, dtype=torch.float32, device="cuda", generator=gen(17))
    p.requires_grad_()
    w = torch.rand(1000, device="cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for fn in LOSSES:
            fn(p, t, weight=w).backward()
        complete_box_iou(p, t)
    finally:
        torch.cuda.set_sync_debug_mode("default")


# ---- the claims of the study notes ------------------------------------------------------


def test_iou_is_scale_invariant_and_l2_is_not() -> None:
    p, t = make_boxes(8, dtype=torch.float64, device="cpu", generator=gen(18))
    for fn in (iou_loss, giou_loss, diou_loss, ciou_loss):
        torch.testing.assert_close(fn(p * 10, t * 10, reduction="none"), fn(p, t, reduction="none"))
    assert not torch.allclose(losskit.mse_loss(p * 10, t * 10), losskit.mse_loss(p, t))


def test_iou_has_no_gradient_for_disjoint_boxes_but_giou_does() -> None:
    p = torch.tensor([[0.0, 0.0, 1.0, 1.0]], requires_grad=True)
    t = torch.tensor([[3.0, 0.0, 4.0, 2.0]])
    assert torch.autograd.grad(iou_loss(p, t), p)[0].abs().sum() == 0
    assert torch.autograd.grad(giou_loss(p, t), p)[0].abs().sum() > 0
    # GIoU tells a near miss from a far one; IoU does not
    far = torch.tensor([[0.0, 0.0, 1.0, 1.0]]) - torch.tensor([5.0, 0.0, 5.0, 0.0])
    assert iou_loss(p.detach(), t) == iou_loss(far, t)
    assert giou_loss(far, t) > giou_loss(p.detach(), t)


def test_giou_cannot_rank_nested_boxes_diou_can() -> None:
    t = torch.tensor([[0.0, 0.0, 4.0, 4.0]])
    centred = torch.tensor([[1.0, 1.0, 3.0, 3.0]])
    corner = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    torch.testing.assert_close(giou_loss(centred, t), iou_loss(centred, t))
    torch.testing.assert_close(giou_loss(centred, t), giou_loss(corner, t))
    assert diou_loss(corner, t) > diou_loss(centred, t)


def test_diou_penalty_in_unit_interval_and_loss_below_two() -> None:
    p, t = make_boxes(200, dtype=torch.float64, device="cpu", generator=gen(19))
    p = p + torch.randn(200, 2, dtype=torch.float64, generator=gen(20)).repeat(1, 2) * 20
    pen = diou_loss(p, t, reduction="none") - iou_loss(p, t, reduction="none")
    assert (pen >= 0).all() and (pen < 1).all()
    loss = diou_loss(p, t, reduction="none")
    assert (loss >= 0).all() and (loss < 2).all()


def test_report_section_measures_every_claim(tmp_path) -> None:
    from losskit.report._base import ReportContext
    from losskit.report.box import section

    sec = section(ReportContext(out_dir=tmp_path, quick=True))
    # the DIoU-simulation subsection's claims are checked in tests/test_simulate.py (one of
    # them, the paper's "DIoU faster than GIoU" with exact gradients, measures as not held)
    seed_claims = [c for c in sec.claims if not c.text.startswith("DIoU simulation: ")]
    assert len(seed_claims) == 10
    not_held = [c.text for c in seed_claims if not c.held]
    assert not not_held, not_held
    for fig in sec.figures:
        assert (tmp_path / fig.filename).stat().st_size > 0


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_one_atan_angle_difference_equals_two_atan2(dtype: torch.dtype) -> None:
    # the fused CIoU takes atan2(w_t, h_t) - atan2(w_p, h_p) as one atan of
    # (a - b) / (1 + a b) with capped ratios: equal to the two atan2 of the composable form
    # (a point box's angle 0, a zero height's pi/2) for sides from 0 to 1e30 and tiny ones
    from losskit._geometry import _angle_diff

    sides = torch.tensor([0.0, 1e-30, 1e-7, 0.3, 1.0, 1.0 + 2**-20, 3.0, 1e7, 1e30],
                         dtype=torch.float64)  # fmt: skip
    w, h = torch.meshgrid(sides, sides, indexing="ij")
    wh = torch.stack([w.reshape(-1), h.reshape(-1)])  # (2, 81): every pair of sides
    wht = wh.repeat_interleave(wh.shape[1], 1)  # every box against every box
    whp = wh.repeat(1, wh.shape[1])
    got = _angle_diff(wht.to(dtype), whp.to(dtype)).double()
    want = torch.atan2(wht[0], wht[1]) - torch.atan2(whp[0], whp[1])
    want = torch.where((whp[0] == 0) & (whp[1] == 0), torch.atan2(wht[0], wht[1]), want)
    want = torch.where((wht[0] == 0) & (wht[1] == 0), -torch.atan2(whp[0], whp[1]), want)
    want = torch.where((wht == 0).all(0) & (whp == 0).all(0), 0.0, want)
    # float32: a few units in the last place of pi/2 (its inputs are rounded to float32 too)
    tol = 1e-15 if dtype == torch.float64 else 4e-7
    torch.testing.assert_close(got, want, rtol=0, atol=tol)


# ---- the (4, c) rows kept between calls (CPU) -----------------------------------------------

_KEPT_ROWS_LOSSES = ("iou", "giou", "diou", "ciou", "eiou", "siou")


def _pairs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = gen(seed)
    xy = torch.rand(n, 2, generator=g) * 100
    wh = torch.rand(n, 2, generator=g) * 20 + 1
    p = torch.cat([xy, xy + wh], 1)
    return p, p + torch.randn(n, 4, generator=g)


@pytest.mark.parametrize("n", [2**14, 3 * 2**15 + 5], ids=["one block", "blocks"])
@pytest.mark.parametrize("kind", _KEPT_ROWS_LOSSES)
def test_kept_box_rows_never_reach_results(kind: str, n: int) -> None:
    """The fused box losses keep the blocks' ``(4, c)`` rows between calls on CPU (per thread
    and dtype). No result (loss, per-box loss, either gradient) may be one of them or share
    its memory: later calls over other boxes leave every earlier result unchanged."""

    f = getattr(losskit, f"{kind}_loss")
    results = []
    for i, reduction in enumerate(("none", "mean", "sum")):
        p, t = _pairs(n, 40 + i)
        p.requires_grad_()
        t.requires_grad_()
        out = f(p, t, reduction=reduction)
        w = torch.rand(out.shape, generator=gen(50 + i))
        results.append((out.detach(), *torch.autograd.grad(out, (p, t), w)))
    snapshots = [tuple(x.clone() for x in r) for r in results]
    kept = workspace.kept("box rows", p)
    assert kept, "no rows were kept: this test checks nothing"
    storages = {b.untyped_storage().data_ptr() for b in kept}
    for r in results:
        assert not any(x.untyped_storage().data_ptr() in storages for x in r)
    for i in range(2):  # calls that write the kept rows again
        p, t = _pairs(n, 60 + i)
        f(p.requires_grad_(), t, reduction="none").sum().backward()
    for r, snap in zip(results, snapshots, strict=True):
        for x, y in zip(r, snap, strict=True):
            torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_kept_box_rows_per_thread_inference_mode_and_bounds() -> None:
    """Kept rows are ordinary tensors (first made under inference mode, then written outside
    it), one pair per thread and dtype of the block's length, and none below
    ``_KEPT_ROWS_MIN`` boxes or for a tensor subclass; two threads at once get the results
    each gets alone."""
    from losskit import _geometry as G

    workspace.release()
    p, t = _pairs(2**14, 7)
    with torch.inference_mode():
        inferred = losskit.ciou_loss(p, t)
    assert workspace.kept_buffers()
    assert not any(b.is_inference() for b in workspace.kept_buffers())
    pg = p.clone().requires_grad_()
    out = losskit.ciou_loss(pg, t)
    out.backward()
    torch.testing.assert_close(out.detach(), inferred, rtol=0, atol=0)
    losskit.giou_loss(p.double(), t.double())
    for d in (torch.float32, torch.float64):
        rows = workspace.kept("box rows", torch.empty(0, dtype=d))
        assert [r.shape for r in rows] == [(4, 2**14)] * 2
    assert G._kept_rows(p, G._KEPT_ROWS_MIN - 1) is None
    assert G._kept_rows(p.as_subclass(_Sub), 2**14) is None

    assert_same_in_threads(lambda a, b: losskit.giou_loss(a, b, reduction="none"),
                           [_pairs(2**15, 70 + i) for i in range(4)])


class _Sub(torch.Tensor):
    pass
