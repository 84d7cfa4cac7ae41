"""Topology losses: the soft skeleton, soft-clDice and Dice + soft-clDice equal MONAI's
SoftclDiceLoss and SoftDiceclDiceLoss (2-D and 3-D, one channel); hand-worked values and what
clDice rewards that Dice does not (a broken thin structure)."""

from __future__ import annotations

import pytest
import torch
from monai.losses import SoftclDiceLoss as MonaiCl
from monai.losses import SoftDiceclDiceLoss as MonaiDiceCl
from monai.losses.cldice import soft_skel

from losskit import ClDiceLoss, cl_dice_loss, dice_cl_dice_loss, dice_loss, soft_skeleton
from losskit.functional._topology import _Window3

from ..conftest import gen


def _vessels(n: int, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Thin random lines (tubular structures) as 0/1 float64 images ``(N, *shape)``."""
    g = gen(seed)
    t = torch.zeros(n, *shape, dtype=torch.float64)
    for i in range(n):
        for _ in range(3):
            axis = int(torch.randint(0, len(shape), (1,), generator=g))
            idx = [slice(None)] * len(shape)
            for a in range(len(shape)):
                if a != axis:
                    idx[a] = int(torch.randint(1, shape[a] - 1, (1,), generator=g))
            t[(i, *idx)] = 1.0
    return t


@pytest.mark.parametrize("shape", [(9, 11), (6, 7, 8)], ids=["2-D", "3-D"])
@pytest.mark.parametrize("iterations", [0, 1, 3])
def test_soft_skeleton_equals_monai(shape, iterations: int) -> None:
    x = torch.rand(2, 3, *shape, generator=gen(1), dtype=torch.float64)
    torch.testing.assert_close(soft_skeleton(x, iterations=iterations), soft_skel(x, iterations),
                               rtol=0, atol=0)  # fmt: skip


@pytest.mark.parametrize("shape", [(12, 13), (7, 8, 9)], ids=["2-D", "3-D"])
@pytest.mark.parametrize("iterations", [1, 3])
def test_cl_dice_equals_monai(shape, iterations: int) -> None:
    t = _vessels(3, shape, seed=2)
    x = 3.0 * (2 * t - 1) + torch.randn(t.shape, generator=gen(3), dtype=torch.float64)
    peer = MonaiCl(iter_=iterations, sigmoid=True, reduction="none")
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours = cl_dice_loss(a, t, iterations=iterations, reduction="none")[:, 0]
    theirs = peer(b.unsqueeze(1), t.unsqueeze(1))
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    ours.sum().backward()
    theirs.sum().backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-12, atol=1e-12)
    # Dice + clDice
    peer = MonaiDiceCl(iter_=iterations, alpha=0.3, sigmoid=True)
    got = dice_cl_dice_loss(x, t, iterations=iterations, cl_weight=0.3)
    torch.testing.assert_close(got, peer(x.unsqueeze(1), t.unsqueeze(1)), rtol=1e-12, atol=1e-12)


def test_cl_dice_pools_channels_in_monai_and_not_here() -> None:
    """With several channels MONAI scores them together (one value per sample); losskit scores
    each class, as its Dice does. On each channel alone the two agree."""
    t = torch.stack([_vessels(2, (10, 10), seed=4), _vessels(2, (10, 10), seed=5)], 1)
    x = 3.0 * (2 * t - 1) + torch.randn(t.shape, generator=gen(6), dtype=torch.float64)
    ours = cl_dice_loss(x, t, mode="multilabel", reduction="none")
    for c in range(2):
        peer = MonaiCl(sigmoid=True, reduction="none")(x[:, c : c + 1], t[:, c : c + 1])
        torch.testing.assert_close(ours[:, c], peer, rtol=1e-12, atol=1e-12)
    pooled = MonaiCl(sigmoid=True, reduction="none")(x, t)
    assert not torch.allclose(ours.mean(1), pooled)


def test_cl_dice_hand_worked_and_what_it_rewards() -> None:
    g = torch.zeros(1, 7, 7, dtype=torch.float64)
    g[:, 3, :] = 1.0  # a thin line, its own skeleton
    broken = g.clone()
    broken[:, 3, 3] = 0.0
    # Tprec = 6/6, Tsens = 6/7: 1 - 2 (6/7) / (1 + 6/7 + eps)
    want = 1 - 2 * (6 / 7) / (1 + 6 / 7 + 1e-4)
    assert cl_dice_loss(broken, g, from_logits=False, smooth=0.0).item() == pytest.approx(want)
    # a thick line with one gap: Dice hardly notices the gap, clDice does
    thick = torch.zeros(1, 9, 20, dtype=torch.float64)
    thick[:, 3:6, :] = 1.0
    gap = thick.clone()
    gap[:, 3:6, 9:11] = 0.0  # cut through: the structure is disconnected
    widened = thick.clone()
    widened[:, 2, :] = 1.0  # one row too wide: connected, more pixels wrong
    kw = {"from_logits": False, "smooth": 0.0}
    assert dice_loss(gap, thick, **kw) < dice_loss(widened, thick, **kw)
    assert cl_dice_loss(gap, thick, **kw) > cl_dice_loss(widened, thick, **kw)


def test_cl_dice_edges() -> None:
    e = torch.zeros(2, 6, 6, dtype=torch.float64)
    # an empty prediction on an empty target: Tprec = Tsens = 1, eps / (2 + eps)
    assert cl_dice_loss(e, e, from_logits=False).item() == pytest.approx(1e-4 / (2 + 1e-4))
    # everything left out: 0 with a zero gradient
    x = torch.randn(2, 6, 6, dtype=torch.float64, requires_grad=True)
    out = cl_dice_loss(x, e, mask=torch.zeros(2, 6, 6, dtype=torch.bool))
    out.backward()
    assert out.item() == 0.0 and torch.equal(x.grad, torch.zeros_like(x))
    # multiclass labels, 3-D, the module
    y = torch.randint(0, 3, (2, 5, 6, 7), generator=gen(7))
    z = torch.randn(2, 3, 5, 6, 7, generator=gen(8), dtype=torch.float64)
    out = ClDiceLoss(mode="multiclass", reduction="none")(z, y)
    assert out.shape == (2, 3) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="soft_skeleton: x must be"):
        soft_skeleton(torch.zeros(2, 3))


def test_cl_dice_float32_probabilities_decide_as_float64() -> None:
    """From probabilities the pools compare input values, whose order float32 holds exactly:
    a float32 call (computed in float32) gives the float64 value and gradient to float32
    rounding, ties included (probabilities quantised to eighths tie everywhere)."""
    t = _vessels(2, (24, 20), seed=40)
    p = (torch.rand(2, 24, 20, generator=gen(41), dtype=torch.float64) * 8).round() / 8
    out = []
    for dt in (torch.float64, torch.float32):
        z = p.to(dt).detach().requires_grad_()
        loss = dice_cl_dice_loss(z, t.to(dt), from_logits=False)
        loss.backward()
        assert loss.dtype == dt
        out.append((loss.double(), z.grad.double()))
    (v64, g64), (v32, g32) = out
    torch.testing.assert_close(v32, v64, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g32, g64, rtol=1e-4, atol=1e-6 * g64.abs().max().item())


def test_soft_skeleton_reuses_each_erosion() -> None:
    """Each step's erosion is the next step's image, computed once: the skeleton equals the
    textbook recursion (which erodes it twice) exactly."""
    from losskit.functional._topology import _dilate, _erode

    x = torch.rand(2, 2, 12, 13, generator=gen(42), dtype=torch.float64)
    skel = torch.relu(x - _dilate(_erode(x)))
    y = x
    for _ in range(4):
        y = _erode(y)
        delta = torch.relu(y - _dilate(_erode(y)))
        skel = skel + torch.relu(delta - skel * delta)
    assert torch.equal(soft_skeleton(x, iterations=4), skel)


@pytest.mark.parametrize("shape", [(2, 3, 9, 11), (2, 2, 6, 7, 8), (1, 2, 1, 5), (1, 1, 2, 1, 3)],
                         ids=["2-D", "3-D", "one row", "thin 3-D"])  # fmt: skip
@pytest.mark.parametrize("levels", [None, 4, 1], ids=["continuous", "quarters", "0/1"])
def test_soft_skeleton_gradient_equals_monai_ties_included(shape, levels) -> None:
    """The pools are element-wise passes over shifted views with their own backward: each
    window's gradient goes to its first extreme, as MONAI's max-pools route it, also where
    values tie (quantised images tie everywhere; erosion copies values into neighbours)."""
    x = torch.rand(*shape, generator=gen(50), dtype=torch.float64)
    if levels is not None:
        x = (x * levels).round() / levels
    w = torch.randn(shape, generator=gen(51), dtype=torch.float64)
    for iterations in (0, 1, 3):
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        ours, theirs = soft_skeleton(a, iterations=iterations), soft_skel(b, iterations)
        assert torch.equal(ours, theirs)
        (ours * w).sum().backward()
        (theirs * w).sum().backward()
        # the same terms summed in another order: equal to float64 rounding
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("shape", [(2, 3, 9, 11), (2, 2, 6, 7, 8)], ids=["2-D", "3-D"])
def test_dilation_equals_max_pool_ties_included(shape) -> None:
    from losskit.functional._topology import _dilate

    pool = torch.nn.functional.max_pool2d if len(shape) == 4 else torch.nn.functional.max_pool3d
    x = (torch.rand(*shape, generator=gen(52), dtype=torch.float64) * 3).round()
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours, theirs = _dilate(a), pool(b, 3, 1, 1)
    assert torch.equal(ours, theirs)
    w = torch.randn(shape, generator=gen(53), dtype=torch.float64)
    (ours * w).sum().backward()
    (theirs * w).sum().backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("shape", [(1, 2, 5, 6), (1, 1, 3, 4, 5), (1, 1, 1, 4)])
def test_soft_skeleton_second_derivative(shape) -> None:
    """The pools' backward is linear in the incoming gradient and differentiable: gradgradcheck
    holds, and a gradient of a gradient equals MONAI's."""
    x = torch.rand(*shape, generator=gen(54), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda t: soft_skeleton(t, iterations=2), (x,))
    w = torch.randn(shape, generator=gen(55), dtype=torch.float64)
    a, b = x.detach().clone().requires_grad_(), x.detach().clone().requires_grad_()
    (ga,) = torch.autograd.grad((soft_skeleton(a, iterations=2) ** 2 * w).sum(), a,
                                create_graph=True)  # fmt: skip
    (gb,) = torch.autograd.grad((soft_skel(b, 2) ** 2 * w).sum(), b, create_graph=True)
    torch.testing.assert_close(ga, gb, rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(torch.autograd.grad(ga.sum(), a)[0],
                               torch.autograd.grad(gb.sum(), b)[0], rtol=1e-13, atol=1e-14)  # fmt: skip


@pytest.mark.parametrize("backend", ["record", "aot_eager"])
@pytest.mark.parametrize("shape", [(2, 3, 9, 11), (1, 2, 5, 6, 7)], ids=["2-D", "3-D"])
def test_compiled_soft_skeleton_calls_the_window_operators(shape, backend) -> None:
    """Under torch.compile every pool is the operator ``losskit::window3`` (the compiler's
    own max-pool lowering and the traced backward ran 3.6x slower than eager): in the graph,
    and the eager values and gradients exactly, ties included (a quantised image)."""
    graphs: list[str] = []

    def record(gm: torch.fx.GraphModule, example_inputs: list) -> object:  # noqa: ARG001
        graphs.append(str(gm.graph))
        return gm.forward

    torch._dynamo.reset()
    x = (torch.rand(*shape, generator=gen(56), dtype=torch.float64) * 4).round() / 4
    w = torch.randn(shape, generator=gen(57), dtype=torch.float64)
    compiled = torch.compile(lambda t: soft_skeleton(t, iterations=2),
                             backend=record if backend == "record" else backend, fullgraph=True)  # fmt: skip
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours, eager = compiled(a), soft_skeleton(b, iterations=2)
    assert torch.equal(ours, eager)
    (ours * w).sum().backward()
    (eager * w).sum().backward()
    assert torch.equal(a.grad, b.grad)
    if backend == "record":
        # 2 iterations: 3 erosions and 3 dilations, one pool per axis each
        assert graphs and graphs[0].count("losskit.window3") == 6 * (len(shape) - 2)
        assert "max_pool" not in graphs[0]


def test_window_operators_pass_opcheck() -> None:
    """Schema, fake implementation, autograd registration and dispatch of the operators
    the compiled soft skeleton takes agree; their values and gradients are the eager
    pool's."""
    x = torch.rand(2, 3, 5, 6, generator=gen(58), dtype=torch.float64).requires_grad_()
    for dim in (2, 3):
        for largest in (True, False):
            torch.library.opcheck(torch.ops.losskit.window3.default, (x, dim, largest))
            want = _Window3.apply(x, dim, largest)  # the eager autograd function
            got = torch.ops.losskit.window3(x, dim, largest)
            assert torch.equal(got, want)
            assert torch.equal(got, _Window3.plain(x, dim, largest))
            w = torch.randn(x.shape, generator=gen(59), dtype=torch.float64)
            assert torch.equal(torch.autograd.grad((got * w).sum(), x)[0],
                               torch.autograd.grad((want * w).sum(), x)[0])  # fmt: skip
    y = torch.ops.losskit.window3(x.detach(), 3, True)
    g = torch.randn(x.shape, generator=gen(60), dtype=torch.float64)
    torch.library.opcheck(torch.ops.losskit.window3_backward.default, (g, x.detach(), y, 3))
    # transposed and strided inputs: the results' layouts are the fake implementations'
    xt = x.detach().transpose(2, 3).requires_grad_()
    torch.library.opcheck(torch.ops.losskit.window3.default, (xt, 2, False))
    yt = torch.ops.losskit.window3(xt.detach(), 2, False)
    torch.library.opcheck(torch.ops.losskit.window3_backward.default,
                          (g.transpose(2, 3), xt.detach(), yt, 2))  # fmt: skip
    torch.library.opcheck(torch.ops.losskit.window3.default, (x.detach()[:, :, :, ::2], 3, True))
