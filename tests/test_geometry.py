"""The box-geometry core: formats, primitives, and the fused IoU-family kernel against the
composable (autograd) form it replaces in eager mode."""

from __future__ import annotations

import itertools

import pytest
import torch
import torchvision.ops as tvo

from losskit import _geometry as G
from losskit.specs.box import make_boxes

from .conftest import gen

B = torch.tensor([[1.0, 2.0, 4.0, 8.0], [0.0, 0.0, 0.5, 3.0]], dtype=torch.float64)


def test_box_convert_hand_values() -> None:
    # (1, 2)-(4, 8): w = 3, h = 6, centre (2.5, 5)
    torch.testing.assert_close(
        G.box_convert(B[:1], "xyxy", "xywh"),
        torch.tensor([[1.0, 2.0, 3.0, 6.0]], dtype=torch.float64),
    )
    torch.testing.assert_close(
        G.box_convert(B[:1], "xyxy", "cxcywh"),
        torch.tensor([[2.5, 5.0, 3.0, 6.0]], dtype=torch.float64),
    )


@pytest.mark.parametrize(("a", "b"), list(itertools.permutations(G.BOX_FORMATS, 2)))
def test_box_convert_matches_torchvision_and_round_trips(a: str, b: str) -> None:
    boxes, _ = make_boxes(9, dtype=torch.float64, device="cpu", generator=gen(2))
    src = G.box_convert(boxes, "xyxy", a)
    torch.testing.assert_close(G.box_convert(src, a, b), tvo.box_convert(src, a, b))
    torch.testing.assert_close(G.box_convert(G.box_convert(src, a, b), b, a), src)


def test_box_convert_same_format_copies_and_keeps_batch_dims() -> None:
    x = torch.rand(2, 3, 4)
    y = G.box_convert(x, "cxcywh", "cxcywh")
    assert y is not x and y.data_ptr() != x.data_ptr()
    assert G.box_convert(x, "xywh", "xyxy").shape == (2, 3, 4)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (
            (torch.zeros(3, 5), "xyxy", "xywh"),
            ValueError,
            r"box_convert: boxes must have shape \(\.\.\., 4\); got \(3, 5\)",
        ),
        (
            (torch.zeros(3, 4), "xyxy", "yolo"),
            ValueError,
            r"box_convert: out_fmt must be one of 'xyxy', 'xywh', 'cxcywh'; got 'yolo'",
        ),
        (
            (torch.zeros(3, 4, dtype=torch.int32), "xyxy", "xywh"),
            TypeError,
            r"box_convert: boxes must be a floating-point tensor",
        ),
    ],
)
def test_box_convert_rejects(args, error, match) -> None:
    with pytest.raises(error, match=match):
        G.box_convert(*args)


def test_primitives_hand_values() -> None:
    a = torch.tensor([0.0, 0.0, 4.0, 2.0])
    b = torch.tensor([3.0, 1.0, 5.0, 6.0])
    torch.testing.assert_close(G.box_sizes(a), torch.tensor([4.0, 2.0]))
    torch.testing.assert_close(G.box_area(b), torch.tensor(10.0))
    torch.testing.assert_close(G.intersection_sizes(a, b), torch.tensor([1.0, 1.0]))  # [3,4]x[1,2]
    torch.testing.assert_close(G.enclosing_sizes(a, b), torch.tensor([5.0, 6.0]))  # [0,5]x[0,6]
    torch.testing.assert_close(G.centre_offset(a, b), torch.tensor([2.0 - 4.0, 1.0 - 3.5]))


def test_inverted_box_has_zero_size_but_raw_corners_in_enclosing_box() -> None:
    inv = torch.tensor([3.0, 0.0, 1.0, 2.0])  # x2 < x1
    tgt = torch.tensor([0.0, 0.0, 2.0, 2.0])
    torch.testing.assert_close(G.box_sizes(inv), torch.tensor([0.0, 2.0]))
    assert G.box_area(inv) == 0
    assert G.intersection_sizes(inv, tgt).prod() == 0
    # enclosing x range: min(x1) = min(3, 0) = 0 to max(x2) = max(1, 2) = 2
    torch.testing.assert_close(G.enclosing_sizes(inv, tgt), torch.tensor([2.0, 2.0]))
    inv2 = torch.tensor([-1.0, 0.0, -3.0, 2.0])  # its x1 = -1 extends the enclosing box leftwards
    torch.testing.assert_close(G.enclosing_sizes(inv2, tgt), torch.tensor([3.0, 2.0]))
    # torchvision multiplies signed sizes: a box inverted in both axes has positive area
    both = torch.tensor([[2.0, 2.0, 0.0, 0.0]])
    assert tvo.box_area(both).item() == 4.0 and G.box_area(both).item() == 0.0


def test_aspect_angle_is_atan2_and_safe_at_a_point() -> None:
    wh = torch.tensor([[3.0, 1.0], [2.0, 0.0], [0.0, 0.0]], requires_grad=True)
    ang = G.aspect_angle(wh)
    torch.testing.assert_close(
        ang.detach(), torch.tensor([torch.atan(torch.tensor(3.0)).item(), torch.pi / 2, 0.0])
    )
    ang.sum().backward()
    assert torch.isfinite(wh.grad).all()
    torch.testing.assert_close(wh.grad[2], torch.zeros(2))


CONFIGS = [("iou", "detach", "exact"), ("giou", "detach", "exact"), ("diou", "detach", "exact"),
           ("eiou", "detach", "exact"), ("siou", "detach", "exact")] + [
    ("ciou", a, v) for a in G.ALPHA_MODES for v in G.V_GRADS
]


def _pairs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    p, t = make_boxes(n, dtype=torch.float64, device="cpu", generator=gen(seed))
    # a few inverted, zero-width, zero-area and identical pairs among the random ones
    p[0] = torch.tensor([2.0, 1.0, 1.0, 3.0], dtype=torch.float64)
    p[1, 2] = p[1, 0]
    p[2, 2:] = p[2, :2]
    t[3] = p[3] + 0.25  # same shape, shifted
    return p, t


@pytest.mark.parametrize(("kind", "alpha_mode", "v_grad"), CONFIGS)
def test_fused_matches_autograd_of_composable_form(
    kind: str, alpha_mode: str, v_grad: str, monkeypatch
) -> None:
    monkeypatch.setattr(G, "_BLOCK", 7)  # several blocks, one partial
    p, t = _pairs(40, seed=11)
    p, t = p.view(5, 8, 4), t.view(5, 8, 4)  # leading batch dims
    g = torch.randn(5, 8, generator=gen(12), dtype=torch.float64)
    a1, b1 = p.clone().requires_grad_(), t.clone().requires_grad_()
    a2, b2 = p.clone().requires_grad_(), t.clone().requires_grad_()
    fused = G.FusedIoU.apply(a1, b1, kind, 1e-7, alpha_mode, v_grad)
    ref = 1.0 - G.iou_similarity(a2, b2, kind, eps=1e-7, alpha_mode=alpha_mode, v_grad=v_grad)
    torch.testing.assert_close(fused, ref)
    fused.backward(g)
    ref.backward(g)
    torch.testing.assert_close(a1.grad, a2.grad)
    torch.testing.assert_close(b1.grad, b2.grad)


@pytest.mark.parametrize("theta", [0.25, 0.5, 1.0, 2.5, 4.0])
def test_fused_siou_matches_autograd_for_every_shape_exponent(theta: float, monkeypatch) -> None:
    """SIoU's fused kernel (``shape_exponent`` theta) equals autograd of the composable form
    in value and float64 gradient of both boxes, with equal sides (theta below 1: the shape
    cost's zero-gradient branch), coincident centres (the angle cost's 0/eps) and inverted
    boxes among the pairs."""
    monkeypatch.setattr(G, "_BLOCK", 9)
    p, t = _pairs(48, seed=13)
    t[4] = p[4]  # identical
    t[5] = p[5] + 1.0  # same size, shifted: omega = 0 on both sides
    t[6, 0::2] = p[6, 0::2] + 2.0  # same width, centres offset along x only
    g = torch.rand(48, generator=gen(14), dtype=torch.float64)
    a1, b1 = p.clone().requires_grad_(), t.clone().requires_grad_()
    a2, b2 = p.clone().requires_grad_(), t.clone().requires_grad_()
    fused = G.FusedIoU.apply(a1, b1, "siou", 1e-7, "detach", "exact", 1.0, theta)
    ref = 1.0 - G.iou_similarity(a2, b2, "siou", eps=1e-7, shape_exponent=theta)
    torch.testing.assert_close(fused, ref, rtol=1e-12, atol=1e-12)
    fused.backward(g)
    ref.backward(g)
    assert torch.isfinite(a1.grad).all() and torch.isfinite(b1.grad).all()
    torch.testing.assert_close(a1.grad, a2.grad, rtol=1e-7, atol=1e-12)
    torch.testing.assert_close(b1.grad, b2.grad, rtol=1e-7, atol=1e-12)


def test_fused_siou_refuses_a_power() -> None:
    p, t = _pairs(4, seed=2)
    with pytest.raises(ValueError, match="siou is fused for power 1 only"):
        G.FusedIoU.apply(p, t, "siou", 1e-7, "detach", "exact", 2.0)


def test_fused_target_only_gradient_and_no_gradient() -> None:
    p, t = _pairs(6, seed=3)
    t.requires_grad_()
    G.FusedIoU.apply(p, t, "diou", 1e-7, "detach", "exact").sum().backward()
    t2 = t.detach().clone().requires_grad_()
    (1.0 - G.iou_similarity(p, t2, "diou")).sum().backward()
    torch.testing.assert_close(t.grad, t2.grad)
    with torch.no_grad():
        out = G.FusedIoU.apply(p, t, "ciou", 1e-7, "detach", "exact")
    assert not out.requires_grad and out.shape == (6,)


def test_fused_empty_batch() -> None:
    p = torch.zeros(0, 4, requires_grad=True)
    out = G.FusedIoU.apply(p, torch.zeros(0, 4), "ciou", 1e-7, "detach", "exact")
    assert out.shape == (0,)
    out.sum().backward()
    assert p.grad.shape == (0, 4)


def test_fused_backward_at_tied_edges_equals_torchvision() -> None:
    # the example: x1 ties with the target's x1 (the enclosing box's left edge is
    # shared). A tie splits the gradient 1/2-1/2 between min/max branches, like autograd
    p = torch.tensor([[0.0, 5, 12, 20]], requires_grad=True)
    t = torch.tensor([[0.0, 4, 10, 21]])
    import losskit

    losskit.diou_loss(p, t, reduction="sum").backward()
    q = p.detach().clone().requires_grad_()
    tvo.distance_box_iou_loss(q, t, reduction="sum").backward()
    torch.testing.assert_close(p.grad, q.grad)
    assert abs(p.grad[0, 0].item() - 0.0117) < 1e-4


@pytest.mark.parametrize("kind", ["iou", "giou", "diou", "ciou", "eiou", "siou"])
def test_fused_perfect_prediction_has_no_gradient(kind: str) -> None:
    t = torch.tensor([[0.0, 0.0, 20.0, 40.0], [3.0, 3.0, 3.0, 9.0]], dtype=torch.float64)
    p = t.clone().requires_grad_()
    G.FusedIoU.apply(p, t, kind, 1e-12, "detach", "exact").sum().backward()
    assert p.grad[0].abs().max() < 1e-12  # one SGD step leaves it where it is


@pytest.mark.parametrize("kind", ["iou", "giou", "diou", "ciou", "eiou", "siou"])
def test_fused_backward_for_huge_and_tiny_boxes(kind: str) -> None:
    # sides above 4e9 keep their gradient (no squared union in float32), a tiny eps on
    # zero-area boxes gives finite gradients
    for scale in (1e10, 1e15):
        t, b = make_boxes(6, dtype=torch.float64, device="cpu", generator=gen(4))
        t, b = t * scale, b * scale
        out = []
        for dt in (torch.float32, torch.float64):
            p = b.to(dt).requires_grad_()
            G.FusedIoU.apply(p, t.to(dt), kind, 1e-7, "detach", "exact").sum().backward()
            out.append(p.grad.double() * scale)
        torch.testing.assert_close(out[0], out[1], rtol=1e-3, atol=1e-6)
    z = torch.tensor([[1.0, 1.0, 1.0, 1.0]], requires_grad=True)
    for eps in (1e-20, 1e-25):
        g = torch.autograd.grad(G.FusedIoU.apply(z, z.detach(), kind, eps, "detach", "exact"), z)
        assert torch.isfinite(g[0]).all()
