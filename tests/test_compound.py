"""Compound losses: the ready entries (Dice + CE, Dice + focal, generalized Dice + focal) equal
MONAI's in float64; the generic weighted sum (fixed and learned uncertainty weights) reports
its terms; deep supervision equals MONAI's DeepSupervisionLoss and keeps integer labels."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as TF
from monai.losses import DeepSupervisionLoss as MonaiDS
from monai.losses import DiceCELoss as MonaiDiceCE
from monai.losses import DiceFocalLoss as MonaiDiceFocal
from monai.losses import DiceLoss as MonaiDice
from monai.losses import GeneralizedDiceFocalLoss as MonaiGDFocal

from losskit import (
    DiceCELoss,
    DiceFocalLoss,
    DiceLoss,
    GeneralizedDiceFocalLoss,
    SoftmaxCrossEntropyLoss,
    dice_ce_loss,
    dice_focal_loss,
    dice_loss,
    generalized_dice_focal_loss,
    softmax_cross_entropy,
)
from losskit.compound import CompoundLoss, DeepSupervisionLoss, resize_nearest

from .conftest import gen


def _multiclass(n=3, c=4, h=6, w=5, seed=0, dtype=torch.float64):
    g = gen(seed)
    return torch.randn(n, c, h, w, generator=g, dtype=dtype) * 2, torch.randint(0, c, (n, h, w), generator=g)


#: agreement with a peer that computes part of the loss in float32
F32 = {"rtol": 2e-6, "atol": 1e-7}


def _close(a, b, **kw):
    torch.testing.assert_close(a, b, **({"rtol": 1e-12, "atol": 1e-12} | kw))


def _grads(f, g, x):
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    va, vb = f(a), g(b)
    va.backward()
    vb.backward()
    return va, vb, a.grad, b.grad


# ---- the ready entries against MONAI --------------------------------------------------------


@pytest.mark.parametrize("per_sample", [True, False], ids=["per-sample", "batch"])
@pytest.mark.parametrize("lambdas", [(1.0, 1.0), (0.3, 1.7)])
def test_dice_ce_equals_monai_multiclass(per_sample: bool, lambdas) -> None:
    x, y = _multiclass(seed=1)
    peer = MonaiDiceCE(softmax=True, to_onehot_y=True, batch=not per_sample,
                       lambda_dice=lambdas[0], lambda_ce=lambdas[1])  # fmt: skip
    va, vb, ga, gb = _grads(
        lambda z: dice_ce_loss(z, y, mode="multiclass", per_sample=per_sample,
                               dice_weight=lambdas[0], ce_weight=lambdas[1]),  # fmt: skip
        lambda z: peer(z, y.unsqueeze(1)),
        x,
    )
    _close(va, vb)
    _close(ga, gb)


def test_dice_ce_equals_monai_multilabel_and_binary() -> None:
    g = gen(2)
    x = torch.randn(3, 4, 5, 6, generator=g, dtype=torch.float64)
    t = (torch.rand(3, 4, 5, 6, generator=g) < 0.3).double()
    # multilabel: sigmoid Dice per channel; MONAI's CE on a multi-channel float target is
    # torch's cross_entropy with probability targets, so compare its sigmoid form on 1 channel
    peer = MonaiDiceCE(sigmoid=True)
    x1, t1 = x[:, :1], t[:, :1]
    _close(dice_ce_loss(x1, t1, mode="binary"), peer(x1, t1))  # 1 channel: BCE
    # the multilabel Dice term equals MONAI's sigmoid Dice; the BCE term is the mean BCE
    parts = DiceCELoss(mode="multilabel").parts(x, t)
    _close(parts["dice"], MonaiDice(sigmoid=True, smooth_nr=1e-5, smooth_dr=1e-5)(x, t))
    _close(parts["ce"], TF.binary_cross_entropy_with_logits(x, t))


@pytest.mark.parametrize("alpha", [None, 0.25])
@pytest.mark.parametrize("per_sample", [True, False], ids=["per-sample", "batch"])
def test_dice_focal_equals_monai(alpha, per_sample: bool) -> None:
    x, y = _multiclass(seed=3)
    peer = MonaiDiceFocal(softmax=True, to_onehot_y=True, batch=not per_sample, gamma=2.0,
                          alpha=alpha, lambda_dice=0.7, lambda_focal=1.3)  # fmt: skip
    va, vb, ga, gb = _grads(
        lambda z: dice_focal_loss(z, y, mode="multiclass", per_sample=per_sample, gamma=2.0,
                                  alpha=alpha, dice_weight=0.7, focal_weight=1.3),  # fmt: skip
        lambda z: peer(z, y.unsqueeze(1)),
        x,
    )
    # MONAI's FocalLoss computes in float32 (input.float()): the focal term agrees to
    # float32's rounding, the Dice term exactly
    _close(va, vb, **F32)
    _close(ga, gb, **F32)
    # multilabel (sigmoid Dice)
    t = (torch.rand(x.shape, generator=gen(4)) < 0.3).double()
    peer = MonaiDiceFocal(sigmoid=True, gamma=1.5, batch=not per_sample)
    _close(dice_focal_loss(x, t, mode="multilabel", gamma=1.5, per_sample=per_sample),
           peer(x, t), **F32)  # fmt: skip


@pytest.mark.parametrize("weighting", ["square", "simple", "uniform"])
def test_generalized_dice_focal_equals_monai(weighting: str) -> None:
    x, y = _multiclass(seed=5)
    y[0][y[0] == 1] = 0  # an absent class
    peer = MonaiGDFocal(softmax=True, to_onehot_y=True, w_type=weighting, lambda_gdl=1.2)
    va, vb, ga, gb = _grads(
        lambda z: generalized_dice_focal_loss(z, y, mode="multiclass", weighting=weighting,
                                              dice_weight=1.2),  # fmt: skip
        lambda z: peer(z, y.unsqueeze(1)),
        x,
    )
    # MONAI's volume weights (see generalized_dice_loss) and its focal term are float32
    _close(va, vb, **F32)
    _close(ga, gb, **F32)


def test_parts_sum_to_the_total_and_match_the_single_losses() -> None:
    x, y = _multiclass(seed=6)
    y[0, 0, 0] = -100
    m = DiceCELoss(mode="multiclass", dice_weight=0.4, ce_weight=2.0)
    parts = m.parts(x, y)
    _close(parts["total"], m(x, y))
    _close(parts["total"], 0.4 * parts["dice"] + 2.0 * parts["ce"])
    # the Dice term is dice_loss's class mean (with smooth 1e-5); the CE term the mean over
    # samples of each sample's mean CE (sample 0 keeps one position fewer: each sample still
    # weighs the same, where torch's global mean would weigh it by its kept count)
    _close(parts["dice"], dice_loss(x, y, mode="multiclass", smooth=1e-5))
    per_sample = torch.stack([softmax_cross_entropy(x[i : i + 1], y[i : i + 1]) for i in range(3)])
    _close(parts["ce"], per_sample.mean())
    assert not torch.allclose(parts["ce"], softmax_cross_entropy(x, y), rtol=1e-9, atol=0)
    for cls in (DiceFocalLoss, GeneralizedDiceFocalLoss):
        mod = cls(mode="multiclass", focal_weight=0.5)
        p = mod.parts(x, y)
        assert set(p) == ({"dice", "focal", "total"} if cls is DiceFocalLoss
                          else {"generalized_dice", "focal", "total"})  # fmt: skip
        _close(p["total"], mod(x, y))


def test_compound_edges() -> None:
    x, y = _multiclass(seed=7)
    # every position left out: 0 with a zero gradient
    x.requires_grad_()
    for fn in (dice_ce_loss, dice_focal_loss, generalized_dice_focal_loss):
        out = fn(x, torch.full_like(y, -100), mode="multiclass")
        (g,) = torch.autograd.grad(out, x)
        assert out.item() == 0.0 and torch.equal(g, torch.zeros_like(g))
    # an empty target and an empty prediction (binary, probabilities near 0): finite, small
    z = torch.full((2, 5, 5), -30.0, dtype=torch.float64)
    e = torch.zeros(2, 5, 5, dtype=torch.float64)
    # Dice |P| / (|P| + smooth) with |P| = 25 sigmoid(-30), BCE log(1 + e^-30): about 2e-7
    assert dice_ce_loss(z, e).item() < 1e-6
    # a sample whose positions are all left out leaves the mean
    m = torch.ones_like(y, dtype=torch.bool)
    m[1] = False
    _close(dice_ce_loss(x, y, mode="multiclass", mask=m),
           dice_ce_loss(x[[0, 2]], y[[0, 2]], mode="multiclass"))  # fmt: skip


# ---- CompoundLoss -------------------------------------------------------------------------


def test_compound_loss_fixed_weights() -> None:
    x, y = _multiclass(seed=8)
    loss = CompoundLoss({"dice": DiceLoss(mode="multiclass"), "ce": softmax_cross_entropy},
                        weights={"dice": 2.0, "ce": 0.5})  # fmt: skip
    parts = loss.parts(x, y)
    assert list(parts) == ["dice", "ce", "total"]
    _close(parts["dice"], dice_loss(x, y, mode="multiclass"))
    _close(parts["ce"], softmax_cross_entropy(x, y))
    _close(parts["total"], 2.0 * parts["dice"] + 0.5 * parts["ce"])
    _close(loss(x, y), parts["total"])
    assert loss.effective_weights() == {"dice": 2.0, "ce": 0.5}
    assert list(dict(loss.named_parameters())) == []  # nothing learned
    # a sequence of weights in the order of the terms; per-call data reaches every term
    seq = CompoundLoss({"dice": DiceLoss(mode="multiclass"), "ce": SoftmaxCrossEntropyLoss()},
                       [2.0, 0.5])  # fmt: skip
    mask = torch.rand(y.shape, generator=gen(1)) > 0.3
    _close(seq(x, y, mask=mask), 2.0 * dice_loss(x, y, mode="multiclass", mask=mask)
           + 0.5 * softmax_cross_entropy(x, y, mask=mask))  # fmt: skip


def test_compound_loss_learned_uncertainty_weights() -> None:
    x, y = _multiclass(seed=9)
    loss = CompoundLoss({"dice": DiceLoss(mode="multiclass"), "ce": SoftmaxCrossEntropyLoss()},
                        learn_weights=True).double()  # fmt: skip
    (s,) = list(loss.parameters())
    assert s.shape == (2,) and torch.equal(s, torch.zeros(2, dtype=torch.float64))
    with torch.no_grad():
        s.copy_(torch.tensor([0.3, -0.7], dtype=torch.float64))
    parts = loss.parts(x, y)
    d, c = parts["dice"], parts["ce"]
    # L = sum_i (exp(-s_i) L_i + s_i) / 2
    want = 0.5 * (math.exp(-0.3) * d + 0.3) + 0.5 * (math.exp(0.7) * c - 0.7)
    _close(parts["total"], want)
    # dL/ds_i = (1 - exp(-s_i) L_i) / 2: the optimum is exp(s_i) = L_i
    (g,) = torch.autograd.grad(parts["total"], s)
    _close(g, 0.5 * (1 - torch.exp(-s.detach()) * torch.stack([d, c]).detach()))
    w = loss.effective_weights()
    assert w["dice"] == pytest.approx(0.5 * math.exp(-0.3))


def test_compound_loss_refuses() -> None:
    dl = DiceLoss()
    with pytest.raises(TypeError, match="CompoundLoss: terms must be a non-empty mapping"):
        CompoundLoss({})
    with pytest.raises(ValueError, match="CompoundLoss: term names must be"):
        CompoundLoss({"total": dl})
    with pytest.raises(TypeError, match="CompoundLoss: term 'a' must be callable"):
        CompoundLoss({"a": 3})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match=r"CompoundLoss: weights must name the terms \['a'\]; unknown \['b'\]"):
        CompoundLoss({"a": dl}, {"b": 1.0})
    with pytest.raises(ValueError, match=r"CompoundLoss: weights\['a'\] must be a finite number >= 0"):
        CompoundLoss({"a": dl}, {"a": -1.0})
    with pytest.raises(ValueError, match="one value per term"):
        CompoundLoss({"a": dl}, [1.0, 2.0])
    with pytest.raises(TypeError, match="learn_weights must be a bool"):
        CompoundLoss({"a": dl}, learn_weights=1)  # type: ignore[arg-type]
    x = torch.randn(2, 3)
    t = torch.zeros(2, 3)
    mixed = CompoundLoss({"a": DiceLoss(reduction="none"), "b": DiceLoss()})
    with pytest.raises(ValueError, match="the terms must return one shape"):
        mixed(x, t)


# ---- deep supervision ---------------------------------------------------------------------


def test_resize_nearest_is_torch_nearest_exact() -> None:
    g = gen(10)
    x = torch.randint(0, 5, (2, 3, 13, 11), generator=g)
    for size in [(6, 5), (4, 11), (13, 3), (20, 17), (1, 1)]:
        ref = TF.interpolate(x.double(), size=size, mode="nearest-exact")
        got = resize_nearest(x, size)
        assert got.dtype == x.dtype and torch.equal(got.double(), ref)
    v = torch.randint(0, 3, (1, 1, 9, 7, 8), generator=g)
    ref = TF.interpolate(v.double(), size=(4, 3, 5), mode="nearest-exact")
    assert torch.equal(resize_nearest(v, (4, 3, 5)).double(), ref)
    with pytest.raises(ValueError, match="resize_nearest: size must give the last 3 dimensions"):
        resize_nearest(x, (3, 4), spatial_dims=3)


@pytest.mark.parametrize("mode", ["exp", "same", "two"])
def test_deep_supervision_equals_monai(mode: str) -> None:
    g = gen(11)
    y = torch.randint(0, 3, (2, 1, 16, 16), generator=g)
    outs = [torch.randn(2, 3, s, s, generator=g) for s in (16, 8, 4, 2, 1)]
    peer = MonaiDS(MonaiDice(softmax=True, to_onehot_y=True), weight_mode=mode)
    ours = DeepSupervisionLoss(
        DiceLoss(mode="multiclass", smooth=1e-5), weight_mode=mode  # MONAI's Dice smooth
    )
    # losskit takes the labels (N, H, W) as they are; MONAI resizes (N, 1, H, W) floats
    _close(ours(outs, y[:, 0]), peer(outs, y.float()), rtol=1e-6, atol=1e-7)
    assert ours.level_weights(6) == peer.get_weights(6)


def test_deep_supervision_weights_labels_and_mask() -> None:
    g = gen(12)
    y = torch.randint(0, 3, (2, 12, 12), generator=g)
    y[:, :3] = -100  # void labels survive the resizing
    outs = [torch.randn(2, 3, s, s, generator=g, dtype=torch.float64) for s in (12, 6, 3)]
    seen = []

    def spy(out, target, **data):
        seen.append((target.dtype, target.shape, data.get("mask")))
        return dice_loss(out, target, mode="multiclass", **data)

    mask = torch.rand(2, 12, 12, generator=g) > 0.2
    ds = DeepSupervisionLoss(spy, weights=[1.0, 0.25, 0.125])
    parts = ds.parts(outs, y, mask=mask)
    assert list(parts) == ["level0", "level1", "level2", "total"]
    _close(parts["total"], parts["level0"] + 0.25 * parts["level1"] + 0.125 * parts["level2"])
    assert [s[0] for s in seen] == [torch.int64] * 3
    assert [tuple(s[1]) for s in seen] == [(2, 12, 12), (2, 6, 6), (2, 3, 3)]
    assert seen[1][2].shape == (2, 6, 6) and seen[1][2].dtype == torch.bool
    _close(parts["level1"], dice_loss(outs[1], resize_nearest(y, (6, 6)), mode="multiclass",
                                      mask=resize_nearest(mask, (6, 6))))  # fmt: skip
    # a single tensor is one output of weight 1
    _close(ds(outs[0], y, mask=mask), parts["level0"])
    with pytest.raises(ValueError, match="3 outputs but 2 weights"):
        DeepSupervisionLoss(spy, weights=[1.0, 0.5])(outs, y)
    with pytest.raises(ValueError, match="weight_mode must be one of"):
        DeepSupervisionLoss(spy, weight_mode="linear")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="outputs must be a tensor or a non-empty sequence"):
        ds([], y)
    # 3-D: the last three dimensions are resized
    y3 = torch.randint(0, 2, (1, 8, 8, 8), generator=g)
    o3 = [torch.randn(1, 2, s, s, s, generator=g, dtype=torch.float64) for s in (8, 4)]
    ds3 = DeepSupervisionLoss(DiceLoss(mode="multiclass"), spatial_dims=3)
    _close(ds3(o3, y3), dice_loss(o3[0], y3, mode="multiclass")
           + 0.5 * dice_loss(o3[1], resize_nearest(y3, (4, 4, 4)), mode="multiclass"))  # fmt: skip


# ---- generalized Wasserstein Dice -----------------------------------------------------------

from monai.losses import GeneralizedWassersteinDiceLoss as MonaiGWDL  # noqa: E402

from losskit import GeneralizedWassersteinDiceLoss, generalized_wasserstein_dice_loss  # noqa: E402

_M = torch.tensor([[0.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.6, 0.5], [1.0, 0.6, 0.0, 0.7],
                   [1.0, 0.5, 0.7, 0.0]], dtype=torch.float64)  # fmt: skip


@pytest.mark.parametrize(("ours", "theirs"), [("foreground", "default"), ("inverse_volume", "GDL")])
@pytest.mark.parametrize("shape", [(6, 5), (4, 5, 3)], ids=["2-D", "3-D"])
def test_generalized_wasserstein_dice_equals_monai(ours: str, theirs: str, shape) -> None:
    g = gen(20)
    x = torch.randn(3, 4, *shape, generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, 4, (3, *shape), generator=g)
    y[1] = 0  # an all-background sample
    peer = MonaiGWDL(dist_matrix=2.0 * _M, weighting_mode=theirs, reduction="none")
    va, vb, ga, gb = _grads(
        lambda z: generalized_wasserstein_dice_loss(z, y, class_distance=2.0 * _M,
                                                    tp_weighting=ours, reduction="none").sum(),  # fmt: skip
        lambda z: peer(z, y).sum(),
        x,
    )
    # "GDL" weights are float32 in MONAI; "default" weights are 0/1
    tol = F32 if theirs == "GDL" else {}
    _close(va, vb, **tol)
    _close(ga, gb, **tol)


def test_generalized_wasserstein_dice_hand_worked_and_edges() -> None:
    m = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [1.0, 0.5, 0.0]], dtype=torch.float64)
    # one position of class 1 predicted as class 2 (distance 0.5): W = 0.5, TP = 0.5,
    # l = 1 - 1 / (1 + 0.5)
    p = torch.tensor([[[0.0], [0.0], [1.0]]], dtype=torch.float64)
    x = torch.log(p.clamp_min(1e-300))
    got = generalized_wasserstein_dice_loss(x, torch.tensor([[1]]), class_distance=m, smooth=0.0)
    assert got.item() == pytest.approx(1 / 3)
    # confusing with the far class 0 costs more: W = 1, TP = 0, l = 1
    q = torch.log(torch.tensor([[[1.0], [0.0], [0.0]]], dtype=torch.float64).clamp_min(1e-300))
    far = generalized_wasserstein_dice_loss(q, torch.tensor([[1]]), class_distance=m, smooth=0.0)
    assert far.item() == pytest.approx(1.0)
    # everything left out: 0 with a zero gradient; the module holds the distances
    z = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    out = generalized_wasserstein_dice_loss(z, torch.full((2, 4), -100), class_distance=m)
    out.backward()
    assert out.item() == 0.0 and torch.equal(z.grad, torch.zeros_like(z))
    mod = GeneralizedWassersteinDiceLoss(class_distance=m)
    assert torch.equal(mod.class_distance, m)
    with pytest.raises(TypeError, match="generalized_wasserstein_dice_loss: class_distance"):
        generalized_wasserstein_dice_loss(z, torch.zeros(2, 4, dtype=torch.long),
                                          class_distance=None)  # type: ignore[arg-type]


def test_generalized_wasserstein_map_backward_equals_autograd() -> None:
    """The hand-written backward of W = sum_c M[y, c] softmax(x)_c (rows of M gathered in
    the layout of p, dL/dx = p g (R - W)) gives autograd's float64 gradient, exact second
    derivatives (create_graph recomputes on the graph), and with a class_distance that needs
    its gradient the plain (M p)-at-the-label form is taken, which gives it one."""
    from losskit.functional._segmentation import _WassersteinMap

    g = gen(22)
    x = torch.randn(2, 4, 9, generator=g, dtype=torch.float64, requires_grad=True)
    x.data[0, :, :2] *= 40.0  # saturated softmax
    t = torch.randint(0, 4, (2, 1, 9), generator=g)
    w = torch.randn(2, 9, generator=g, dtype=torch.float64)
    m = _M / _M.max()

    def plain(z: torch.Tensor) -> torch.Tensor:
        return (m[t[:, 0]] * torch.softmax(z, 1).transpose(1, 2)).sum(-1)

    _close(_WassersteinMap.apply(x, t, m), plain(x), rtol=1e-12, atol=1e-12)
    (ga,) = torch.autograd.grad((_WassersteinMap.apply(x, t, m) * w).sum(), x)
    (gb,) = torch.autograd.grad((plain(x) * w).sum(), x)
    _close(ga, gb, rtol=1e-10, atol=1e-14)
    small = x[:, :, 2:6].detach().clone().requires_grad_()
    assert torch.autograd.gradgradcheck(
        lambda z: (_WassersteinMap.apply(z, t[:, :, 2:6], m) * w[:, 2:6]).sum(), (small,))
    loss = (_WassersteinMap.apply(x, t, m) * w).sum()
    (g1,) = torch.autograd.grad(loss, x, retain_graph=True)
    (g2,) = torch.autograd.grad(loss, x)
    assert torch.equal(g1, g2)  # the retained graph's second walk recomputes the same values
    dist = (2.0 * _M).clone().requires_grad_()
    y = torch.randint(0, 4, (2, 5), generator=g)
    generalized_wasserstein_dice_loss(torch.randn(2, 4, 5, generator=g, dtype=torch.float64),
                                      y, class_distance=dist).backward()  # fmt: skip
    assert dist.grad is not None and torch.isfinite(dist.grad).all()
