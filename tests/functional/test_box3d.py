"""3-D boxes ``(x1, y1, z1, x2, y2, z2)``: hand-worked values, parity with MONAI's
``box_iou``, ``box_giou`` and ``box_pair_giou`` (float64 inputs), agreement with the 2-D
losses on boxes of unit depth, gradients and edges. Every deliberate difference from MONAI is
written next to its test."""

from __future__ import annotations

import pytest
import torch
from monai.data import box_utils as mbu

import losskit
from losskit import (
    box_iou,
    box_iou_3d,
    generalized_box_iou,
    generalized_box_iou_3d,
    giou_3d_loss,
    giou_loss,
    iou_3d_loss,
    iou_loss,
)
from losskit.specs.box import make_boxes, make_boxes_3d

from ..conftest import gen

F64 = torch.float64
#: MONAI adds float32's machine epsilon to its denominators (it computes in float32)
MONAI_EPS = torch.finfo(torch.float32).eps
LOSSES = [iou_3d_loss, giou_3d_loss]
IDS = [f.__name__ for f in LOSSES]


def _t(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=F64)


def _monai_boxes(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Valid 3-D boxes (MONAI refuses inverted ones) in float64, rounded to float32 values so
    that MONAI's float32 computation starts from the same numbers."""
    p, t = make_boxes_3d(n, dtype=torch.float32, device="cpu", generator=gen(seed))
    return p.double(), t.double()


def test_hand_worked_values() -> None:
    # 2x2x2 cubes shifted by 1 along x: I = 1*2*2 = 4, U = 8 + 8 - 4 = 12, IoU = 1/3; the
    # enclosing box 3x2x2 = 12 = U, so GIoU = IoU
    a, b = _t([0.0, 0.0, 0.0, 2.0, 2.0, 2.0]), _t([1.0, 0.0, 0.0, 3.0, 2.0, 2.0])
    eps = 1e-12
    torch.testing.assert_close(iou_3d_loss(a, b, eps=eps), torch.tensor(2 / 3, dtype=F64))
    torch.testing.assert_close(giou_3d_loss(a, b, eps=eps), torch.tensor(2 / 3, dtype=F64))
    # unit cubes 1 apart along x: IoU 0, U = 2, C = 3x1x1 = 3: GIoU loss 1 + 1/3
    c, d = _t([0.0, 0.0, 0.0, 1.0, 1.0, 1.0]), _t([2.0, 0.0, 0.0, 3.0, 1.0, 1.0])
    torch.testing.assert_close(giou_3d_loss(c, d, eps=eps), torch.tensor(4 / 3, dtype=F64))
    # a 1x1x1 box in a corner of a 2x2x2 one: IoU = 1/8; nested, so GIoU = IoU
    e, f = _t([0.0, 0.0, 0.0, 1.0, 1.0, 1.0]), _t([0.0, 0.0, 0.0, 2.0, 2.0, 2.0])
    torch.testing.assert_close(iou_3d_loss(e, f, eps=eps), torch.tensor(7 / 8, dtype=F64))
    torch.testing.assert_close(giou_3d_loss(e, f, eps=eps), torch.tensor(7 / 8, dtype=F64))
    # forms and alpha-IoU: square 1 - (1/8)^2, log ln 8, a = 2: 1 - (1/8)^2 for IoU; GIoU of
    # the disjoint cubes with a = 2: 1 - 0 + (1/3)^2
    torch.testing.assert_close(
        iou_3d_loss(e, f, form="square", eps=eps), torch.tensor(1 - 1 / 64, dtype=F64)
    )
    torch.testing.assert_close(
        iou_3d_loss(e, f, form="log", eps=eps), torch.log(torch.tensor(8.0, dtype=F64))
    )
    torch.testing.assert_close(
        giou_3d_loss(c, d, iou_exponent=2.0, eps=eps), torch.tensor(1 + 1 / 9, dtype=F64)
    )
    # pairwise: entry [i, j] compares boxes1[i] with boxes2[j]
    torch.testing.assert_close(
        box_iou_3d(_t([0.0, 0.0, 0.0, 2.0, 2.0, 2.0]), _t(b[0].tolist(), e[0].tolist()), eps=eps),
        _t([1 / 3, 1 / 8]),
    )


# ---- MONAI parity --------------------------------------------------------------------------


def test_pairwise_equal_monai_box_iou_and_box_giou() -> None:
    # MONAI computes in float32 from float64 inputs and adds float32's eps; with that eps the
    # difference is float32 rounding (measured: below 1e-7)
    a, _ = _monai_boxes(40, 51)
    _, b = _monai_boxes(30, 52)
    ours = box_iou_3d(a, b, eps=MONAI_EPS)
    theirs = mbu.box_iou(a, b)
    assert ours.shape == (40, 30) and theirs.dtype == F64
    assert (ours > 0).sum() > 20  # some pairs overlap
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    g_ours = generalized_box_iou_3d(a, b, eps=MONAI_EPS)
    torch.testing.assert_close(g_ours, mbu.box_giou(a, b), rtol=0, atol=1e-6)
    assert (g_ours < 0).any()


def test_losses_equal_monai_paired_forms() -> None:
    p, t = _monai_boxes(200, 53)
    torch.testing.assert_close(
        giou_3d_loss(p, t, eps=MONAI_EPS, reduction="none"),
        1 - mbu.box_pair_giou(p, t),
        rtol=0,
        atol=1e-6,
    )
    torch.testing.assert_close(
        iou_3d_loss(p, t, eps=MONAI_EPS, reduction="none"),
        1 - torch.diagonal(mbu.box_iou(p, t)),
        rtol=0,
        atol=1e-6,
    )
    # on float32 inputs both compute in float32 with the same eps: bit for bit equal
    p32, t32 = p.float(), t.float()
    assert torch.equal(
        giou_3d_loss(p32, t32, eps=MONAI_EPS, reduction="none"), 1 - mbu.box_pair_giou(p32, t32)
    )
    assert torch.equal(box_iou_3d(p32, t32, eps=MONAI_EPS), mbu.box_iou(p32, t32))
    assert torch.equal(generalized_box_iou_3d(p32, t32, eps=MONAI_EPS), mbu.box_giou(p32, t32))
    # and the pairwise form's diagonal is the paired one
    torch.testing.assert_close(
        torch.diagonal(generalized_box_iou_3d(p, t)), 1 - giou_3d_loss(p, t, reduction="none")
    )


def test_gradients_equal_monai() -> None:
    # MONAI's box_pair_giou is plain torch operations in float32: its gradient agrees to
    # float32 precision
    p, t = _monai_boxes(50, 54)
    a, b = p.clone().requires_grad_(), p.float().requires_grad_()
    giou_3d_loss(a, t, eps=MONAI_EPS, reduction="sum").backward()
    (1 - mbu.box_pair_giou(b, t.float())).sum().backward()
    torch.testing.assert_close(a.grad.float(), b.grad, rtol=1e-4, atol=1e-6)


def test_inverted_box_differs_from_monai() -> None:
    # deliberate: MONAI refuses a box with a negative size; losskit gives it volume 0 (the 2-D
    # family's rule), its raw corners still enter the enclosing box
    inv = _t([2.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    t = _t([0.0, 0.0, 0.0, 2.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="invalid values"):
        mbu.box_pair_giou(inv, t)
    assert iou_3d_loss(inv, t).item() == 1.0
    # U = 0 + 2 = 2, C = 2 (x from 0 to 2): penalty 0
    torch.testing.assert_close(giou_3d_loss(inv, t), torch.tensor(1.0, dtype=F64))


# ---- agreement with the 2-D losses ---------------------------------------------------------


def _lift(b2: torch.Tensor) -> torch.Tensor:
    """2-D xyxy boxes as 3-D boxes of depth 1 (z from 0 to 1)."""
    zeros, ones = torch.zeros_like(b2[..., :1]), torch.ones_like(b2[..., :1])
    return torch.cat([b2[..., :2], zeros, b2[..., 2:], ones], dim=-1)


@pytest.mark.parametrize("power", [1.0, 3.0])
def test_unit_depth_boxes_equal_the_2d_losses(power: float) -> None:
    # volumes = areas x 1 and the enclosing depth is 1: every 3-D quantity is the 2-D one
    p, t = make_boxes(32, dtype=F64, device="cpu", generator=gen(55))
    for fn3, fn2 in ((iou_3d_loss, iou_loss), (giou_3d_loss, giou_loss)):
        torch.testing.assert_close(
            fn3(_lift(p), _lift(t), iou_exponent=power, reduction="none"),
            fn2(p, t, iou_exponent=power, reduction="none"),
        )
    for form in ("square", "log"):
        torch.testing.assert_close(
            iou_3d_loss(_lift(p), _lift(t), form=form), iou_loss(p, t, form=form)
        )
    a, b = p.view(4, 8, 4), t.view(4, 8, 4)[:, :5]
    torch.testing.assert_close(box_iou_3d(_lift(a), _lift(b)), box_iou(a, b))
    torch.testing.assert_close(
        generalized_box_iou_3d(_lift(a), _lift(b)), generalized_box_iou(a, b)
    )


# ---- gradients and edges -------------------------------------------------------------------


@pytest.mark.parametrize("power", [1.0, 3.0])
@pytest.mark.parametrize("fn", LOSSES, ids=IDS)
def test_gradcheck(fn, power: float) -> None:
    p, t = make_boxes_3d(5, dtype=F64, device="cpu", generator=gen(56))
    # plus a nested pair (GIoU penalty 0) off-centre
    p = torch.cat([p, _t([1.0, 1.0, 1.0, 2.5, 2.0, 1.5])])
    t = torch.cat([t, _t([0.0, 0.0, 0.0, 4.0, 4.0, 3.0])])
    p.requires_grad_()
    t.requires_grad_()

    def f(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return fn(a, b, iou_exponent=power, reduction="none")

    assert torch.autograd.gradcheck(f, (p, t))
    assert torch.autograd.gradgradcheck(f, (p, t))
    a = p.detach()[:, None].repeat(1, 3, 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: generalized_box_iou_3d(x, t.detach()), (a[:3, 0],))


@pytest.mark.parametrize("fn", LOSSES, ids=IDS)
def test_identical_touching_and_degenerate_boxes(fn) -> None:
    t = _t([0.0, 0.0, 0.0, 2.0, 1.0, 3.0], [1.0, 1.0, 1.0, 2.0, 4.0, 2.0])
    p = t.clone().requires_grad_()
    loss = fn(p, t, eps=1e-12, reduction="sum")
    (g,) = torch.autograd.grad(loss, p)
    # a perfect prediction: ties everywhere, shared 1/2-1/2, no gradient beyond eps's
    assert loss.abs() < 1e-9 and g.abs().max() < 1e-9
    # touching faces, a flat box (zero depth), a point box, an inverted box
    q = _t(
        [2.0, 0.0, 0.0, 3.0, 1.0, 1.0],
        [0.0, 0.0, 1.0, 2.0, 1.0, 1.0],
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        [1.5, 0.0, 0.0, 0.5, 1.0, 3.0],
    )
    q.requires_grad_()
    target = _t(*[[0.0, 0.0, 0.0, 2.0, 1.0, 3.0]] * 4)
    for power in (1.0, 3.0):
        out = fn(q, target, iou_exponent=power)
        (g,) = torch.autograd.grad(out, q)
        assert torch.isfinite(out) and torch.isfinite(g).all()
        if fn is giou_3d_loss and power == 1.0:
            assert g[0].abs().sum() > 0  # the touching box is pulled in


def test_weight_mask_avg_factor_and_modules() -> None:
    p, t = make_boxes_3d(6, dtype=F64, device="cpu", generator=gen(57))
    w = _t([0.0, 1.0, 2.0, 0.5, 0.0, 3.0])[0]
    per = giou_3d_loss(p, t, reduction="none")
    torch.testing.assert_close(giou_3d_loss(p, t, weight=w), (per * w).sum() / w.sum())
    m = torch.tensor([True, False, True, True, False, True])
    torch.testing.assert_close(giou_3d_loss(p, t, mask=m), giou_3d_loss(p[m], t[m]))
    torch.testing.assert_close(
        iou_3d_loss(p, t, avg_factor=2.0), iou_3d_loss(p, t, reduction="sum") / 2
    )
    mod = losskit.IoU3DLoss(form="log", iou_exponent=2.0, reduction="none")
    assert "form='log'" in repr(mod) and "iou_exponent=2.0" in repr(mod)
    torch.testing.assert_close(
        mod(p, t), iou_3d_loss(p, t, form="log", iou_exponent=2.0, reduction="none")
    )
    torch.testing.assert_close(losskit.GIoU3DLoss()(p, t, weight=w), giou_3d_loss(p, t, weight=w))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_computed_in_float32(dtype) -> None:
    p, t = make_boxes_3d(16, dtype=torch.float32, device="cpu", generator=gen(58))
    ph = p.to(dtype).requires_grad_()
    out = giou_3d_loss(ph, t.to(dtype), reduction="none")
    out.sum().backward()
    assert out.dtype == dtype and ph.grad.dtype == dtype
    ref = giou_3d_loss(ph.detach().float(), t.to(dtype).float(), reduction="none")
    torch.testing.assert_close(out.float(), ref, atol=1e-2, rtol=1e-2)
    assert box_iou_3d(p.half(), t.half()).dtype == torch.float16


def test_pairwise_shapes_and_bad_inputs() -> None:
    a, b = make_boxes_3d(12, dtype=F64, device="cpu", generator=gen(59))
    assert box_iou_3d(a.view(2, 6, 6), b.view(2, 6, 6)[:, :4]).shape == (2, 6, 4)
    with pytest.raises(
        ValueError,
        match=r"box_iou_3d: boxes1 and boxes2 must be \(\.\.\., N, 6\) and \(\.\.\., M, 6\) with "
        r"the same leading dimensions; got \(2, 3, 6\) and \(3, 3, 6\)",
    ):
        box_iou_3d(torch.zeros(2, 3, 6), torch.zeros(3, 3, 6))
    with pytest.raises(
        ValueError,
        match=r"generalized_box_iou_3d: boxes2 must have shape \(\.\.\., 6\); got \(3, 4\)",
    ):
        generalized_box_iou_3d(torch.zeros(3, 6), torch.zeros(3, 4))
    with pytest.raises(TypeError, match=r"box_iou_3d: boxes1 must be a floating-point tensor"):
        box_iou_3d(torch.zeros(3, 6, dtype=torch.long), torch.zeros(3, 6))


def test_compiled_equals_eager() -> None:
    p, t = make_boxes_3d(9, dtype=torch.float32, device="cpu", generator=gen(60))
    torch._dynamo.reset()
    f = torch.compile(
        lambda a, b: giou_3d_loss(a, b, iou_exponent=3.0, reduction="none"),
        backend="aot_eager",
        fullgraph=True,
    )
    torch.testing.assert_close(f(p, t), giou_3d_loss(p, t, iou_exponent=3.0, reduction="none"))
