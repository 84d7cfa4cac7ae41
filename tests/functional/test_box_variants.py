"""IoU-loss forms (mmdetection's ``IoULoss`` modes) and alpha-IoU (He et al., NeurIPS 2021) on
every IoU-family loss: hand-worked values, the formulas of mmdetection and of the paper
re-derived, the default that changes nothing, gradients (fused kernel against autograd,
finite differences, tied edges), compile and half precision."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import losskit
from losskit import ciou_loss, diou_loss, eiou_loss, giou_loss, iou_loss, siou_loss
from losskit._geometry import FusedIoU, iou_similarity
from losskit.specs.box import make_boxes

from ..conftest import gen

LOSSES = [iou_loss, giou_loss, diou_loss, ciou_loss, eiou_loss, siou_loss]
IDS = [f.__name__ for f in LOSSES]
#: the losses with a fused eager kernel at exponent 1
KIND = {iou_loss: "iou", giou_loss: "giou", diou_loss: "diou", ciou_loss: "ciou",
        eiou_loss: "eiou", siou_loss: "siou"}  # fmt: skip
F64 = torch.float64


def _t(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=F64)


def _close(got: torch.Tensor, want: float | torch.Tensor, atol: float = 1e-10) -> None:
    torch.testing.assert_close(
        got, torch.as_tensor(want, dtype=F64).expand_as(got), atol=atol, rtol=0
    )


# ---- the IoU loss's forms ----------------------------------------------------------------


def test_forms_hand_worked_values() -> None:
    # 2x1 boxes shifted by 1 along x: I = 1, U = 2 + 2 - 1 = 3, IoU = 1/3
    p, t = _t([0.0, 0.0, 2.0, 1.0]), _t([1.0, 0.0, 3.0, 1.0])
    eps = 1e-12
    _close(iou_loss(p, t, form="linear", eps=eps), 2 / 3)
    _close(iou_loss(p, t, form="square", eps=eps), 1 - 1 / 9)
    _close(iou_loss(p, t, form="log", eps=eps), math.log(3.0))
    # alpha-IoU is applied to IoU before the form: linear 1 - IoU^3, square 1 - IoU^6,
    # log -3 ln IoU
    _close(iou_loss(p, t, form="linear", iou_exponent=3.0, eps=eps), 1 - 1 / 27)
    _close(iou_loss(p, t, form="square", iou_exponent=3.0, eps=eps), 1 - 1 / 729)
    _close(iou_loss(p, t, form="log", iou_exponent=3.0, eps=eps), 3 * math.log(3.0))
    m = losskit.IoULoss(form="log", reduction="none")
    assert "form='log'" in repr(m)
    torch.testing.assert_close(m(p, t), iou_loss(p, t, form="log", reduction="none"))


def _mmdet_iou_loss(
    pred: torch.Tensor, target: torch.Tensor, mode: str, eps: float
) -> torch.Tensor:
    """mmdetection's ``iou_loss`` (mmdet/models/losses/iou_loss.py) re-derived from its
    formulas: ``bbox_overlaps(is_aligned=True)`` takes the signed areas, floors the union at
    ``eps`` (``max(U, eps)``) and the loss floors IoU at ``eps`` in every mode; then
    ``1 - IoU``, ``1 - IoU^2`` or ``-ln IoU``."""
    area_p = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    area_t = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    wh = torch.minimum(pred[:, 2:], target[:, 2:]) - torch.maximum(pred[:, :2], target[:, :2])
    wh = wh.clamp(min=0)
    overlap = wh[:, 0] * wh[:, 1]
    union = torch.maximum(area_p + area_t - overlap, torch.tensor(eps, dtype=pred.dtype))
    ious = (overlap / union).clamp(min=eps)
    return {"linear": 1 - ious, "square": 1 - ious**2, "log": -ious.log()}[mode]


@pytest.mark.parametrize("form", ["linear", "square", "log"])
def test_forms_equal_mmdetection_formula(form: str) -> None:
    # overlapping boxes (IoU > eps): equal in value and gradient once both use the same eps;
    # the union differs by eps (U + eps here, max(U, eps) there), 1e-12 of it at eps = 1e-12
    p, t = make_boxes(64, dtype=F64, device="cpu", generator=gen(31))
    keep = (1 - iou_loss(p, t, reduction="none")) > 1e-3
    assert keep.sum() > 40
    p, t = p[keep], t[keep]
    eps = 1e-12
    a, b = p.clone().requires_grad_(), p.clone().requires_grad_()
    ours = iou_loss(a, t, form=form, eps=eps, reduction="none")
    theirs = _mmdet_iou_loss(b, t, form, eps)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
    ours.sum().backward()
    theirs.sum().backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-12)


def test_forms_on_disjoint_boxes() -> None:
    # IoU = 0: the log form floors it at eps (mmdetection's rule), giving -ln eps with no
    # gradient; deliberate: the linear and square forms are not floored here (mmdetection
    # gives 1 - eps and 1 - eps^2), so the default form keeps its plain value 1 - IoU = 1
    p = _t([0.0, 0.0, 1.0, 1.0]).requires_grad_()
    t = _t([3.0, 0.0, 4.0, 2.0])
    eps = 1e-6
    log = iou_loss(p, t, form="log", eps=eps)
    _close(log, -math.log(eps))
    _close(_mmdet_iou_loss(p.detach(), t, "log", eps), -math.log(eps))
    assert torch.autograd.grad(log, p)[0].abs().sum() == 0
    _close(iou_loss(p.detach(), t, form="linear", eps=eps), 1.0)
    _close(_mmdet_iou_loss(p.detach(), t, "linear", eps), 1.0 - eps)


def test_square_form_is_linear_with_twice_the_exponent() -> None:
    p, t = make_boxes(16, dtype=F64, device="cpu", generator=gen(32))
    torch.testing.assert_close(
        iou_loss(p, t, form="square", iou_exponent=1.5, reduction="none"),
        iou_loss(p, t, iou_exponent=3.0, reduction="none"),
    )


@pytest.mark.parametrize("form", ["square", "log"])
def test_forms_gradcheck(form: str) -> None:
    p, t = make_boxes(6, dtype=F64, device="cpu", generator=gen(33))
    p.requires_grad_()
    t.requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: iou_loss(a, b, form=form), (p, t))
    assert torch.autograd.gradgradcheck(lambda a, b: iou_loss(a, b, form=form), (p, t))


# ---- alpha-IoU -----------------------------------------------------------------------------


@pytest.mark.parametrize("fn", LOSSES, ids=IDS)
def test_exponent_one_changes_nothing(fn) -> None:
    # the default 1 takes the unpowered code path: values and gradients bit for bit those of
    # the plain formulas (the fused kernel called without a power, or the composable form)
    p, t = make_boxes(32, dtype=torch.float32, device="cpu", generator=gen(34))
    a, b = p.clone().requires_grad_(), p.clone().requires_grad_()
    got = fn(a, t, iou_exponent=1.0, reduction="none")
    if fn in KIND:
        want = FusedIoU.apply(b, t, KIND[fn], 1e-7, "detach", "exact")
    else:
        want = 1.0 - iou_similarity(b, t, fn.__name__[:-5], eps=1e-7)
    assert torch.equal(got, want)
    w = torch.rand(32, generator=gen(35))
    assert torch.equal(*(torch.autograd.grad(x, y, w)[0] for x, y in ((got, a), (want, b))))
    assert torch.equal(fn(p, t), fn(p, t, iou_exponent=1.0))


def test_alpha_iou_hand_worked_values() -> None:
    # prediction 2x1, target 1x2 at the origin (test_box.py): IoU = 1/3, GIoU penalty
    # (C - U) / C = (4 - 3) / 4 = 1/4, DIoU term rho^2 / c^2 = .5 / 8 = 1/16, EIoU's width and
    # height terms (w - w_gt)^2 / c_w^2 = 1/4 each, CIoU's alpha from the plain IoU. a = 3:
    # every term cubed
    p, t = _t([0.0, 0.0, 2.0, 1.0]), _t([0.0, 0.0, 1.0, 2.0])
    a, iou, eps = 3.0, 1 / 3, 1e-12
    v = 4 / math.pi**2 * (math.atan(0.5) - math.atan(2.0)) ** 2
    alpha_v = v / (1 - iou + v) * v
    want = {
        iou_loss: 1 - iou**a,
        giou_loss: 1 - iou**a + (1 / 4) ** a,
        diou_loss: 1 - iou**a + (1 / 16) ** a,
        ciou_loss: 1 - iou**a + (1 / 16) ** a + alpha_v**a,
        eiou_loss: 1 - iou**a + (1 / 16) ** a + 2 * (1 / 4) ** a,
    }
    for fn, value in want.items():
        _close(fn(p, t, iou_exponent=a, eps=eps), value, atol=1e-10)
    # SIoU: the whole penalty (Delta + Omega) / 2 is one term
    pen = siou_loss(p, t, eps=eps) - iou_loss(p, t, eps=eps)
    _close(siou_loss(p, t, iou_exponent=a, eps=eps), 1 - iou**a + pen**a, atol=1e-10)


def _alpha_reference(p: torch.Tensor, t: torch.Tensor, kind: str, a: float) -> torch.Tensor:
    """The paper's alpha-IoU losses (arXiv:2110.13675, eq. 4-6) re-derived in plain autograd
    operations on valid xyxy boxes: ``1 - IoU^a + R^a`` with GIoU's penalty, DIoU's
    ``rho^2 / c^2`` and CIoU's ``(beta v)^a`` (beta from the plain IoU, no gradient: the
    detach mode) each a term of its own."""
    eps = 1e-7
    wp, hp = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]
    wt, ht = t[:, 2] - t[:, 0], t[:, 3] - t[:, 1]
    iw = (torch.minimum(p[:, 2], t[:, 2]) - torch.maximum(p[:, 0], t[:, 0])).clamp(min=0)
    ih = (torch.minimum(p[:, 3], t[:, 3]) - torch.maximum(p[:, 1], t[:, 1])).clamp(min=0)
    inter = iw * ih
    union = wp * hp + wt * ht - inter
    iou = inter / (union + eps)
    loss = 1 - iou**a
    cw = torch.maximum(p[:, 2], t[:, 2]) - torch.minimum(p[:, 0], t[:, 0])
    ch = torch.maximum(p[:, 3], t[:, 3]) - torch.minimum(p[:, 1], t[:, 1])
    if kind == "giou":
        # nested boxes give C = U, where rounding can leave C - U a hair below 0 (NaN under a
        # fractional power): the paper's code guards it with max(C, U), this with a clamp
        return loss + ((cw * ch - union) / (cw * ch + eps)).clamp(min=0) ** a
    if kind == "iou":
        return loss
    rho2 = (
        (p[:, 0] + p[:, 2] - t[:, 0] - t[:, 2]) ** 2 + (p[:, 1] + p[:, 3] - t[:, 1] - t[:, 3]) ** 2
    ) / 4
    loss = loss + (rho2 / (cw**2 + ch**2 + eps)) ** a
    if kind == "diou":
        return loss
    v = 4 / math.pi**2 * (torch.atan(wt / ht) - torch.atan(wp / hp)) ** 2
    with torch.no_grad():
        beta = v / (1 - iou + v + eps)
    return loss + (beta * v) ** a


@pytest.mark.parametrize("a", [2.0, 3.0, 5.5])
@pytest.mark.parametrize("kind", ["iou", "giou", "diou", "ciou"])
def test_alpha_iou_equals_paper_formula(kind: str, a: float) -> None:
    # values and gradients (box and target) of the fused kernel against the paper's formulas
    p, t = make_boxes(64, dtype=F64, device="cpu", generator=gen(36))
    fn = {"iou": iou_loss, "giou": giou_loss, "diou": diou_loss, "ciou": ciou_loss}[kind]
    pa, ta = p.clone().requires_grad_(), t.clone().requires_grad_()
    pb, tb = p.clone().requires_grad_(), t.clone().requires_grad_()
    ours = fn(pa, ta, iou_exponent=a, reduction="none")
    ref = _alpha_reference(pb, tb, kind, a)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-14)
    w = torch.rand(64, generator=gen(37), dtype=F64)
    for x, y in zip(
        torch.autograd.grad(ours, (pa, ta), w), torch.autograd.grad(ref, (pb, tb), w), strict=True
    ):
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-13)


def test_alpha_eiou_powers_each_term() -> None:
    p, t = make_boxes(32, dtype=F64, device="cpu", generator=gen(38))
    a = 3.0
    iou = 1 - iou_loss(p, t, reduction="none")
    dist = diou_loss(p, t, reduction="none") - (1 - iou)
    wp, hp = (p[:, 2:] - p[:, :2]).unbind(-1)
    wt, ht = (t[:, 2:] - t[:, :2]).unbind(-1)
    cw = torch.maximum(p[:, 2], t[:, 2]) - torch.minimum(p[:, 0], t[:, 0])
    ch = torch.maximum(p[:, 3], t[:, 3]) - torch.minimum(p[:, 1], t[:, 1])
    terms = [dist, (wp - wt) ** 2 / (cw**2 + 1e-7), (hp - ht) ** 2 / (ch**2 + 1e-7)]
    want = 1 - iou**a + sum(x**a for x in terms)
    torch.testing.assert_close(eiou_loss(p, t, iou_exponent=a, reduction="none"), want)


def _tie_boxes() -> tuple[torch.Tensor, torch.Tensor]:
    """Every pair of boxes on a 0..2 grid with sides 0..2 (shared edges, identical, nested,
    touching, degenerate boxes): 1296 pairs."""
    boxes = [
        [x, y, x + w, y + h]
        for x, y, w, h in itertools.product(range(2), range(2), range(3), range(3))
    ]
    pairs = list(itertools.product(boxes, boxes))
    return _t(*[a for a, _ in pairs]), _t(*[b for _, b in pairs])


@pytest.mark.parametrize("a", [1.5, 3.0])
@pytest.mark.parametrize(
    ("kind", "alpha_mode", "v_grad"),
    [
        ("iou", "detach", "exact"),
        ("giou", "detach", "exact"),
        ("diou", "detach", "exact"),
        ("ciou", "detach", "exact"),
        ("ciou", "grad", "paper"),
        ("ciou", "threshold", "exact"),
    ],
)
def test_fused_power_backward_equals_autograd_at_ties(kind, alpha_mode, v_grad, a) -> None:
    # min/max ties share the gradient 1/2-1/2, a term at 0 gets a zero gradient, in both forms
    p0, t0 = _tie_boxes()
    out = []
    for fused in (True, False):
        p, t = p0.clone().requires_grad_(), t0.clone().requires_grad_()
        if fused:
            loss = FusedIoU.apply(p, t, kind, 1e-7, alpha_mode, v_grad, a)
        else:
            sim = iou_similarity(
                p, t, kind, eps=1e-7, alpha_mode=alpha_mode, v_grad=v_grad, power=a
            )
            loss = 1.0 - sim
        g = torch.rand(loss.shape, generator=gen(39), dtype=F64)
        out.append((loss, *torch.autograd.grad(loss, (p, t), g)))
    for x, y in zip(*out, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("fn", LOSSES, ids=IDS)
def test_alpha_iou_gradcheck_including_tied_edges(fn) -> None:
    # random boxes, plus nested boxes (GIoU's penalty 0: pen^a is smooth there for a > 1)
    # and, where no penalty term depends on the union, boxes that touch (IoU = 0: IoU^a is
    # smooth there, although the intersection has a kink; GIoU's and SIoU's penalties keep
    # the kink of the union, which no power removes); both arguments, second order too
    p, t = make_boxes(4, dtype=F64, device="cpu", generator=gen(40))
    p = torch.cat([p, _t([1.0, 1.0, 2.5, 2.0])])  # off-centre: SIoU's |dx| has a kink at dx = 0
    t = torch.cat([t, _t([0.0, 0.0, 4.0, 4.0])])
    if fn not in (giou_loss, siou_loss):
        p = torch.cat([p, _t([0.0, 0.0, 1.0, 1.0])])
        t = torch.cat([t, _t([1.0, 0.2, 2.0, 1.3])])
    p.requires_grad_()
    t.requires_grad_()
    kw = {"alpha_mode": "grad"} if fn is ciou_loss else {}

    def f(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return fn(a, b, iou_exponent=3.0, reduction="none", **kw)

    assert torch.autograd.gradcheck(f, (p, t))
    assert torch.autograd.gradgradcheck(f, (p, t))


@pytest.mark.parametrize("fn", LOSSES, ids=IDS)
def test_alpha_iou_perfect_prediction_and_degenerate_boxes(fn) -> None:
    t = _t([0.0, 0.0, 2.0, 1.0], [3.0, 1.0, 4.0, 5.0])
    p = t.clone().requires_grad_()
    loss = fn(p, t, iou_exponent=3.0, eps=1e-12, reduction="sum")
    (g,) = torch.autograd.grad(loss, p)
    assert loss.abs() < 1e-9 and g.abs().max() < 1e-9
    # zero-width, zero-height, point and inverted predictions: finite loss and gradient
    q = _t([1.0, 1.0, 1.0, 3.0], [1.0, 1.0, 3.0, 1.0], [1.0, 1.0, 1.0, 1.0], [1.5, 0.0, 0.5, 2.0])
    q.requires_grad_()
    target = _t(*[[0.0, 0.0, 2.0, 4.0]] * 4)
    loss = fn(q, target, iou_exponent=3.0)
    (g,) = torch.autograd.grad(loss, q)
    assert torch.isfinite(loss) and torch.isfinite(g).all()


@pytest.mark.parametrize("fn", LOSSES, ids=IDS)
def test_alpha_iou_loss_range_and_ordering(fn) -> None:
    # a > 1 shrinks every term in [0, 1]: IoU^a <= IoU and R^a <= R. So the alpha loss is at
    # least its IoU part 1 - IoU^a (the penalties are >= 0) and, where every penalty term is
    # at most 1 (GIoU's, DIoU's, CIoU's always are; EIoU's width and height terms and SIoU's
    # penalty can exceed 1), at most 1 - IoU^a plus the plain penalties
    p, t = make_boxes(64, dtype=F64, device="cpu", generator=gen(41))
    a = 3.0
    iou = 1 - iou_loss(p, t, reduction="none")
    plain_penalty = fn(p, t, reduction="none") - (1 - iou)
    powered = fn(p, t, iou_exponent=a, reduction="none")
    assert torch.isfinite(powered).all()
    assert (powered >= 1 - iou**a - 1e-12).all()
    if fn not in (eiou_loss, siou_loss):
        assert (powered <= 1 - iou**a + plain_penalty + 1e-12).all()


def test_alpha_iou_compiled_equals_eager_and_modules() -> None:
    p, t = make_boxes(9, dtype=torch.float32, device="cpu", generator=gen(42))
    for fn in (giou_loss, ciou_loss):
        torch._dynamo.reset()
        compiled = torch.compile(
            lambda a, b, f=fn: f(a, b, iou_exponent=3.0, reduction="none"),
            backend="aot_eager",
            fullgraph=True,
        )
        torch.testing.assert_close(compiled(p, t), fn(p, t, iou_exponent=3.0, reduction="none"))
    for cls, fn in (
        (losskit.GIoULoss, giou_loss),
        (losskit.SIoULoss, siou_loss),
        (losskit.CIoULoss, ciou_loss),
    ):
        m = cls(iou_exponent=3.0)
        assert "iou_exponent=3.0" in repr(m)
        torch.testing.assert_close(m(p, t), fn(p, t, iou_exponent=3.0))


@pytest.mark.parametrize("fn", LOSSES, ids=IDS)
def test_alpha_iou_half_precision(fn) -> None:
    p, t = make_boxes(32, dtype=torch.float32, device="cpu", generator=gen(43))
    ph = p.half().requires_grad_()
    out = fn(ph, t.half(), iou_exponent=3.0, reduction="none")
    out.sum().backward()
    assert out.dtype == torch.float16 and torch.isfinite(ph.grad.float()).all()
    ref = fn(ph.detach().float(), t.half().float(), iou_exponent=3.0, reduction="none")
    torch.testing.assert_close(out.float(), ref, atol=1e-2, rtol=1e-2)


def test_iou_exponent_below_one_is_refused() -> None:
    # deliberate: the paper's experiments use alpha > 1 (3 recommended); below 1 the gradient of
    # x^alpha is unbounded as IoU or a penalty term goes to 0, so it is refused
    box = _t([0.0, 0.0, 1.0, 1.0])
    with pytest.raises(
        ValueError, match=r"giou_loss: iou_exponent must be a finite number >= 1; got 0.5"
    ):
        giou_loss(box, box, iou_exponent=0.5)
    with pytest.raises(ValueError, match=r"iou_exponent must be a finite number >= 1"):
        losskit.DIoULoss(iou_exponent=0.9)
