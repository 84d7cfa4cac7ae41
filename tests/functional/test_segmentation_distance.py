"""Distance-based overlap losses: the Hausdorff distance-transform loss equals MONAI's
HausdorffDTLoss / LogHausdorffDTLoss (which run scipy on the host) in 2-D and 3-D; the
boundary loss and its signed distance map equal the authors' formula on scipy's transform;
hand-worked values and the edges."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
from monai.losses import HausdorffDTLoss as MonaiHD
from monai.losses import LogHausdorffDTLoss as MonaiLogHD

from losskit import BoundaryLoss, boundary_loss, hausdorff_dt_loss, signed_distance_map

from ..conftest import gen

#: MONAI computes the distance maps in float32 (``.float()``): agreement to its rounding
F32 = {"rtol": 2e-6, "atol": 1e-7}


def _blob_labels(n: int, c: int, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Smooth random label maps (regions with boundaries, as segmentations have)."""
    rng = np.random.default_rng(seed)
    noise = rng.random((n, c, *shape))
    smooth = ndi.gaussian_filter(noise, (0, 0) + (1.5,) * len(shape))
    return torch.from_numpy(smooth.argmax(1))


def _logits(labels: torch.Tensor, c: int, seed: int) -> torch.Tensor:
    """Logits that mostly agree with the labels, with noise (boundaries in both maps)."""
    g = gen(seed)
    onehot = torch.nn.functional.one_hot(labels, c).movedim(-1, 1).double()
    return 3.0 * onehot + 2.0 * torch.randn(onehot.shape, generator=g, dtype=torch.float64)


def _grads(f, g, x):
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    va, vb = f(a), g(b)
    va.sum().backward()
    vb.sum().backward()
    return va, vb, a.grad, b.grad


@pytest.mark.parametrize("shape", [(12, 10), (7, 6, 8)], ids=["2-D", "3-D"])
@pytest.mark.parametrize("per_sample", [True, False], ids=["per-sample", "batch"])
@pytest.mark.parametrize("power", [1.0, 2.0])
def test_hausdorff_equals_monai_multiclass(shape, per_sample: bool, power: float) -> None:
    y = _blob_labels(3, 3, shape, seed=len(shape))
    y[1] = 0  # a sample whose target is one class everywhere: maps of 0 there
    x = _logits(y, 3, seed=1)
    peer = MonaiHD(alpha=power, include_background=True, softmax=True, to_onehot_y=True,
                   batch=not per_sample, reduction="none")  # fmt: skip
    va, vb, ga, gb = _grads(
        lambda z: hausdorff_dt_loss(z, y, mode="multiclass", distance_power=power,
                                    per_sample=per_sample, reduction="none"),  # fmt: skip
        lambda z: peer(z, y.unsqueeze(1)).reshape(-1 if not per_sample else 3, 3).squeeze(0),
        x,
    )
    torch.testing.assert_close(va, vb, **F32)
    torch.testing.assert_close(ga, gb, **F32)


def test_hausdorff_equals_monai_sigmoid_log_and_background() -> None:
    y = _blob_labels(2, 3, (11, 9), seed=5)
    t = torch.nn.functional.one_hot(y, 3).movedim(-1, 1).double()
    x = _logits(y, 3, seed=2)
    # multilabel: a sigmoid per channel
    peer = MonaiHD(include_background=True, sigmoid=True, reduction="none")
    ours = hausdorff_dt_loss(x, t, mode="multilabel", reduction="none")
    torch.testing.assert_close(ours, peer(x, t).reshape(2, 3), **F32)
    # the log form, per sample and class (MONAI applies the log after its reduction)
    peer = MonaiLogHD(include_background=True, sigmoid=True, reduction="none")
    ours = hausdorff_dt_loss(x, t, mode="multilabel", logarithmic=True, reduction="none")
    torch.testing.assert_close(ours, peer(x, t).reshape(2, 3), **F32)
    # MONAI's default include_background=False: class weight 0 on the background
    peer = MonaiHD(softmax=True, to_onehot_y=True)
    cw = torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)
    ours = hausdorff_dt_loss(x, y, mode="multiclass", class_weight=cw)
    torch.testing.assert_close(ours, peer(x, y.unsqueeze(1)), **F32)


def test_hausdorff_hand_worked_and_edges() -> None:
    # predicted foreground at 1, 2; target at 2, 3 (1-D images): d_P = (1, 1, 1, 1),
    # d_G = (2, 1, 1, 2); squared errors at 1 and 3: ((1 + 1) + (1 + 4)) / 4
    p = torch.tensor([[[0.0, 1.0, 1.0, 0.0]]], dtype=torch.float64)
    g = torch.tensor([[[0.0, 0.0, 1.0, 1.0]]], dtype=torch.float64)
    assert hausdorff_dt_loss(p, g, from_logits=False).item() == pytest.approx(1.75)
    assert hausdorff_dt_loss(p, g, from_logits=False, distance_power=1.0).item() == pytest.approx(
        (2 + 3) / 4
    )
    e = torch.zeros(2, 5, 5, dtype=torch.float64)
    # an empty prediction on an empty target costs 0, and so does any p below 1/2 there
    assert hausdorff_dt_loss(e, e, from_logits=False).item() == 0.0
    assert hausdorff_dt_loss(e + 0.4, e, from_logits=False).item() == 0.0
    # a predicted object in an empty image is penalised through d_P
    q = e.clone()
    q[:, 2, 2] = 1.0
    assert hausdorff_dt_loss(q, e, from_logits=False).item() > 0.0
    # everything left out: 0 with a zero gradient
    x = torch.randn(2, 5, 5, dtype=torch.float64, requires_grad=True)
    out = hausdorff_dt_loss(x, e, mask=torch.zeros(2, 5, 5, dtype=torch.bool))
    out.backward()
    assert out.item() == 0.0 and torch.equal(x.grad, torch.zeros_like(x))


def _kervadec_map(seg: np.ndarray) -> np.ndarray:
    """The authors' one_hot2dist for one class image: scipy's transform."""
    pos = seg.astype(bool)
    if not pos.any():
        return np.zeros(seg.shape)
    neg = ~pos
    return ndi.distance_transform_edt(neg) * neg - (ndi.distance_transform_edt(pos) - 1) * pos


@pytest.mark.parametrize("shape", [(13, 11), (6, 7, 9)], ids=["2-D", "3-D"])
def test_signed_distance_map_equals_the_reference(shape) -> None:
    y = _blob_labels(2, 3, shape, seed=7)
    fg = y == 1
    fg[1] = False  # an image without foreground: 0
    got = signed_distance_map(fg.double(), spatial_dims=len(shape))
    want = np.stack([_kervadec_map(img) for img in fg.numpy()])
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)


def test_boundary_loss_equals_the_reference() -> None:
    y = _blob_labels(3, 4, (14, 12), seed=8)
    x = _logits(y, 4, seed=3)
    onehot = torch.nn.functional.one_hot(y, 4).movedim(-1, 1)
    maps = torch.from_numpy(np.stack([[_kervadec_map(c) for c in s] for s in onehot.numpy()]))
    xa = x.clone().requires_grad_()
    ours = boundary_loss(xa, y, mode="multiclass", reduction="none")
    ref = (torch.softmax(x, 1) * maps).mean((2, 3))
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    # the authors' SurfaceLoss leaves the background out: class weight 0 on it
    cw = torch.tensor([0.0, 1.0, 1.0, 1.0], dtype=torch.float64)
    xb = x.clone().requires_grad_()
    torch.testing.assert_close(
        boundary_loss(xb, y, mode="multiclass", class_weight=cw),
        (torch.softmax(xb, 1)[:, 1:] * maps[:, 1:]).mean(),
    )
    # linear in p: the gradient through the softmax of p * phi
    ours.sum().backward()
    xr = x.clone().requires_grad_()
    (torch.softmax(xr, 1) * maps).mean((2, 3)).sum().backward()
    torch.testing.assert_close(xa.grad, xr.grad)


def test_boundary_loss_hand_worked_and_edges() -> None:
    g = torch.tensor([[0.0, 1.0, 1.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    # phi = (1, 0, -1, 0, 1, 2): a perfect prediction scores -1/6, the minimum over p in [0, 1]
    assert boundary_loss(g, g, from_logits=False).item() == pytest.approx(-1 / 6)
    p = g.clone()
    p[0, 5] = 1.0  # a false positive 2 pixels out
    assert boundary_loss(p, g, from_logits=False).item() == pytest.approx(1 / 6)
    # an absent class costs nothing (phi = 0), whatever is predicted
    e = torch.zeros(1, 6, dtype=torch.float64)
    assert boundary_loss(torch.ones(1, 6), e, from_logits=False).item() == 0.0
    # the module, 3-D, float32 and float64 agree
    y = _blob_labels(2, 2, (5, 6, 7), seed=9)
    x = _logits(y, 2, seed=4)
    torch.testing.assert_close(
        BoundaryLoss(mode="multiclass")(x.float(), y).double(),
        boundary_loss(x, y, mode="multiclass"), rtol=1e-5, atol=1e-6,
    )


def test_the_foreground_is_decided_in_float64_block_by_block(monkeypatch) -> None:
    # the multiclass foreground p > 1/2 comes from a float64 softmax of a block of positions
    # at a time: blocks of any size (uneven, one position) give the whole-batch decision, for
    # float32 and float64 logits alike, and so the same Hausdorff and boundary losses
    from losskit.functional import _boundary as B

    labels = _blob_labels(3, 4, (9, 11), seed=61)
    x = _logits(labels, 4, seed=62)
    x[0, :, 0, 0] = torch.tensor([0.0, 0.0, -50.0, -50.0], dtype=torch.float64)  # p = 1/2: not fg
    want = torch.softmax(x, 1) > 0.5
    for chunk in (1, 7, 12 * 99, 1 << 20):
        monkeypatch.setattr(B, "_FG_CHUNK", chunk)
        assert torch.equal(B._foreground64(x, True), want)
        assert torch.equal(B._foreground64(x.float(), True), torch.softmax(x.float().double(), 1) > 0.5)
    monkeypatch.setattr(B, "_FG_CHUNK", 5)
    small = (hausdorff_dt_loss(x, labels, mode="multiclass"), boundary_loss(x, labels, mode="multiclass"))
    monkeypatch.setattr(B, "_FG_CHUNK", 1 << 20)
    whole = (hausdorff_dt_loss(x, labels, mode="multiclass"), boundary_loss(x, labels, mode="multiclass"))
    assert torch.equal(small[0], whole[0]) and torch.equal(small[1], whole[1])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_compiled_multiclass_maps_equal_eager_with_left_out_positions(dtype) -> None:
    """Under torch.compile the multiclass maps take float labels, a float one-hot form and
    the kept softmax, and the distance maps are one operator (``losskit::distance_maps``)
    fed float 0/1 maps: the graph holds the operators, and the values and gradients equal
    the eager ones with positions left out by ignore_index and by a mask (a NaN logit at one
    of them reaching nothing), for the Hausdorff, boundary and clDice losses."""
    from losskit import cl_dice_loss

    labels = _blob_labels(2, 3, (10, 12), seed=67)
    labels[0, 2:4, 3:6] = -100
    mask = torch.ones(2, 10, 12, dtype=torch.bool)
    mask[1, 5:8, 0:4] = False
    x = _logits(labels.clamp_min(0), 3, seed=68).to(dtype)
    x[0, :, 2, 3] = float("nan")
    cases = {
        hausdorff_dt_loss: {"mode": "multiclass"},
        boundary_loss: {"mode": "multiclass"},
        cl_dice_loss: {"mode": "multiclass", "iterations": 2},
    }
    for fn, kw in cases.items():
        graphs: list[str] = []

        def record(
            gm: torch.fx.GraphModule, example_inputs: list, graphs: list[str] = graphs  # noqa: ARG001
        ) -> object:
            graphs.append(str(gm.graph))
            return gm.forward

        def f(z: torch.Tensor, fn=fn, kw=kw) -> torch.Tensor:
            return fn(z, labels, mask=mask, **kw)

        for backend in (record, "aot_eager"):
            torch._dynamo.reset()
            compiled = torch.compile(f, backend=backend, fullgraph=True)
            got, want = [], []
            for h, out in ((compiled, got), (f, want)):
                z = x.clone().requires_grad_()
                v = h(z)
                out.extend([v, *torch.autograd.grad(v, z)])
            assert torch.isfinite(got[1]).all()
            tol = 1e-12 if dtype == torch.float64 else 1e-5
            for a, b in zip(got, want, strict=True):
                torch.testing.assert_close(a, b, rtol=tol, atol=tol)
        graph = graphs[0]
        assert "losskit.kept_softmax" in graph and "scatter" not in graph
        assert ("losskit.distance_maps" in graph) == (fn is not cl_dice_loss)


@pytest.mark.parametrize("fn", [hausdorff_dt_loss, boundary_loss], ids=["hausdorff", "boundary"])
def test_compiled_maps_threshold_soft_targets_as_eager(fn) -> None:
    """Soft binary targets (values in [0, 1]): the target's map is its part above 1/2,
    compiled (the float map handed to ``losskit::distance_maps``) as eagerly; a map taken
    from the non-zero values instead fails."""
    x = torch.randn(2, 9, 11, generator=gen(70), dtype=torch.float64)
    t = torch.zeros(2, 9, 11, dtype=torch.float64)
    t[:, 2:7, 3:8] = 0.3
    t[:, 3:6, 4:7] = 1.0
    torch._dynamo.reset()
    compiled = torch.compile(lambda z: fn(z, t), backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(x), fn(x, t), rtol=1e-12, atol=1e-12)


def test_losses_without_a_predicted_map_skip_the_float64_foreground(monkeypatch) -> None:
    """The boundary loss (the target's map only) and clDice (skeletons of probabilities) never
    decide the predicted foreground: its float64 softmax was computed and thrown away (eager
    boundary loss 1.40x slower on (8, 4, 256, 256)); the Hausdorff loss still decides it."""
    from losskit import cl_dice_loss
    from losskit.functional import _boundary as B

    calls: list[int] = []
    real = B._foreground64

    def counted(x: torch.Tensor, from_logits: bool) -> torch.Tensor:
        calls.append(1)
        return real(x, from_logits)

    monkeypatch.setattr(B, "_foreground64", counted)
    labels = _blob_labels(2, 3, (10, 12), seed=65)
    x = _logits(labels, 3, seed=66)
    boundary_loss(x, labels, mode="multiclass")
    cl_dice_loss(x, labels, mode="multiclass")
    assert calls == []
    hausdorff_dt_loss(x, labels, mode="multiclass")
    assert calls == [1]


def test_compiled_distance_losses_have_no_graph_break(monkeypatch) -> None:
    # under torch.compile the foreground is one fused comparison (eager: blocks of positions,
    # written into slices of the result, which dynamo cannot trace): the Hausdorff and
    # boundary losses compile whole (fullgraph) with several blocks' worth of positions, and
    # equal their eager values and gradients
    from losskit.functional import _boundary as B

    monkeypatch.setattr(B, "_FG_CHUNK", 64)
    labels = _blob_labels(2, 3, (10, 12), seed=63)
    x = _logits(labels, 3, seed=64)
    for fn in (hausdorff_dt_loss, boundary_loss):
        torch._dynamo.reset()
        compiled = torch.compile(lambda z, f=fn: f(z, labels, mode="multiclass"),
                                 backend="aot_eager", fullgraph=True)  # fmt: skip
        got, want = [], []
        for f, out in ((compiled, got), (lambda z, f=fn: f(z, labels, mode="multiclass"), want)):
            z = x.clone().requires_grad_()
            v = f(z)
            out.extend([v, *torch.autograd.grad(v, z)])
        for a, b in zip(got, want, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_distance_maps_operator_passes_opcheck_and_equals_the_eager_maps() -> None:
    """``losskit::distance_maps`` (the compiled Hausdorff and boundary losses' maps): schema,
    fake implementation and dispatch agree, and a float 0/1 map gives the eager maps of the
    boolean one."""
    from losskit.functional import _boundary as B

    labels = _blob_labels(2, 3, (9, 11), seed=69)
    onehot = torch.nn.functional.one_hot(labels, 3).movedim(-1, 1).double()
    fg = onehot > 0.5
    for double, dtype in ((True, torch.float64), (False, torch.float32)):
        for kind, want in (("field", B._boundary_field(fg, dtype)),
                           ("signed", B._signed_distance_map(fg, 2, dtype))):  # fmt: skip
            # (onehot is not contiguous: the result is, as the fake implementation says)
            args = (onehot.to(dtype), kind, 2, double)
            torch.library.opcheck(torch.ops.losskit.distance_maps.default, args)
            got = torch.ops.losskit.distance_maps(*args)
            assert got.dtype == dtype and got.is_contiguous() and torch.equal(got, want)
