"""Parity tests behind the rows of the migration guides (docs/migration/*.md) that no
family's test file covered: timm, segmentation_models_pytorch (SMP), MONAI and
pytorch-metric-learning (PML), each compared in float64 where the peer computes in the
input's dtype (values and gradients), and each deliberate difference shown as the exact
relation between the two results, written next to its test."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
import torch.nn.functional as TF

import losskit
from losskit import functional as F

from ..conftest import gen, timm_in_input_dtype

F64 = torch.float64


def _logits(*shape: int, seed: int, scale: float = 3.0) -> torch.Tensor:
    return torch.randn(*shape, generator=gen(seed), dtype=F64) * scale


def _value_and_grad(fn, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``fn(x)`` and the gradient of its sum with respect to ``x`` (a fresh leaf)."""
    leaf = x.detach().clone().requires_grad_()
    out = fn(leaf)
    (grad,) = torch.autograd.grad(out.sum(), leaf)
    return out.detach(), grad


def _assert_same(ours: tuple, theirs: tuple, tol: float = 1e-12) -> None:
    """Values and gradients equal to ``tol`` (absolute)."""
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
        assert (a - b).abs().max() < tol, (a - b).abs().max()


# ------------------------------------------------------------------ timm and SMP: BCE, CE


def test_weighted_bce_equals_timm_and_smp() -> None:
    from segmentation_models_pytorch.losses import SoftBCEWithLogitsLoss
    from timm.loss import BinaryCrossEntropy

    x = _logits(6, 5, seed=1)
    t = (torch.rand(6, 5, generator=gen(2)) < 0.4).to(F64)
    t[0] = torch.tensor([0.2, 0.9, 0.5, 0.0, 1.0], dtype=F64)  # soft targets too
    # a number and a per-class (C,) tensor; timm turns a number into a float32 tensor
    # (torch.tensor(w)), so the number is given to the peers as a float64 tensor
    for w in (2.5, torch.tensor([0.5, 1.0, 2.0, 3.0, 4.0], dtype=F64)):
        w_t = torch.as_tensor(w, dtype=F64)
        ours = _value_and_grad(lambda z, w=w: losskit.weighted_bce_loss(z, t, pos_weight=w), x)
        # timm smooths by 0.1 unless told otherwise (see the defaults test below)
        timm = BinaryCrossEntropy(smoothing=0.0, pos_weight=w_t)
        _assert_same(ours, _value_and_grad(lambda z, m=timm: m(z, t), x))
        smp = SoftBCEWithLogitsLoss(pos_weight=w_t)
        _assert_same(ours, _value_and_grad(lambda z, m=smp: m(z, t), x))
        for reduction in ("none", "sum"):
            torch.testing.assert_close(
                losskit.weighted_bce_loss(x, t, pos_weight=w, reduction=reduction),
                BinaryCrossEntropy(smoothing=0.0, pos_weight=w_t, reduction=reduction)(x, t),
                rtol=0, atol=1e-12,
            )  # fmt: skip
    # a number given to timm becomes a float32 tensor: 2.3 is 2.2999999523..., and timm's
    # loss is losskit's at that weight
    w32 = torch.tensor(2.3).item()
    assert w32 != 2.3
    torch.testing.assert_close(
        BinaryCrossEntropy(smoothing=0.0, pos_weight=2.3)(x, t),
        losskit.weighted_bce_loss(x, t, pos_weight=w32), rtol=0, atol=1e-12,
    )  # fmt: skip


@pytest.mark.parametrize("s", [0.0, 0.1, 0.3])
def test_softmax_cross_entropy_label_smoothing_equals_timm_and_smp(s: float) -> None:
    from segmentation_models_pytorch.losses import SoftCrossEntropyLoss
    from timm.loss import LabelSmoothingCrossEntropy

    # timm: (N, C) logits; its target (1 - s) one-hot + s / C is torch's label_smoothing
    x, y = _logits(10, 7, seed=3), torch.randint(0, 7, (10,), generator=gen(4))
    ours = _value_and_grad(lambda z: losskit.softmax_cross_entropy(z, y, label_smoothing=s), x)
    peer = LabelSmoothingCrossEntropy(smoothing=s)
    _assert_same(ours, _value_and_grad(lambda z: peer(z, y), x))
    # SMP: (N, C, H, W) logits, classes on dim 1; smooth_factor has no usable default (None
    # fails in its formula), so s = 0 is passed explicitly. No label is ignore_index here.
    xs, ys = _logits(2, 4, 3, 5, seed=5), torch.randint(0, 4, (2, 3, 5), generator=gen(6))
    ours = _value_and_grad(lambda z: losskit.softmax_cross_entropy(z, ys, label_smoothing=s), xs)
    smp = SoftCrossEntropyLoss(smooth_factor=s)
    _assert_same(ours, _value_and_grad(lambda z: smp(z, ys), xs))


def test_softmax_cross_entropy_probability_targets_equal_timm() -> None:
    from timm.loss import SoftTargetCrossEntropy

    x = _logits(8, 5, seed=7)
    q = torch.rand(8, 5, generator=gen(8), dtype=F64).softmax(-1)  # e.g. Mixup targets
    ours = _value_and_grad(lambda z: losskit.softmax_cross_entropy(z, q), x)
    _assert_same(ours, _value_and_grad(lambda z: SoftTargetCrossEntropy()(z, q), x))


@pytest.mark.parametrize("s", [0.0, 0.2])
def test_smp_soft_cross_entropy_ignore_index_mean_counts_every_position(s: float) -> None:
    # deliberate: SMP's "mean" divides by every position, the ignored ones included (their
    # loss set to 0); losskit divides by the positions kept, as torch does. So SMP's value is
    # losskit's times kept / total, gradients alike; the "sum" is the same in both.
    from segmentation_models_pytorch.losses import SoftCrossEntropyLoss

    x, y = _logits(2, 4, 3, 5, seed=9), torch.randint(0, 4, (2, 3, 5), generator=gen(10))
    y[0, 0] = 255
    y[1, :, 1] = 255
    kept, total = int((y != 255).sum()), y.numel()
    assert (kept, total) == (22, 30)

    def ours(reduction):
        return lambda z: losskit.softmax_cross_entropy(
            z, y, ignore_index=255, label_smoothing=s, reduction=reduction
        )

    def smp(reduction):
        return lambda z: SoftCrossEntropyLoss(
            smooth_factor=s, ignore_index=255, reduction=reduction
        )(z, y)

    value, grad = _value_and_grad(ours("mean"), x)
    _assert_same((value * kept / total, grad * kept / total), _value_and_grad(smp("mean"), x))
    assert abs(value * kept / total - value) > 0.1  # the difference is not a rounding
    _assert_same(_value_and_grad(ours("sum"), x), _value_and_grad(smp("sum"), x))
    # torch's own rule is losskit's
    torch.testing.assert_close(
        value, TF.cross_entropy(x, y, ignore_index=255, label_smoothing=s), rtol=0, atol=1e-12
    )


# ------------------------------------------------------------------ timm: Poly-1, defaults


@pytest.mark.parametrize("epsilon", [-1.0, 1.0, 2.0])
@pytest.mark.parametrize("s", [0.0, 0.1])
def test_poly1_cross_entropy_equals_timm(epsilon: float, s: float) -> None:
    # timm's PolyCrossEntropy computes CE + epsilon (1 - p_t) with p_t = sum_c q_c p_c, q the
    # smoothed one-hot: losskit's formula. Its result differs from losskit's float64 one by
    # ~1e-7 (measured up to 1.9e-6 on these logits) for a reason of precision alone: timm
    # casts the logits and the target to float32 (x.float(), target.float(),
    # one_hot(...).float()), so its output is float32 whatever the input's dtype.
    from timm.loss import PolyCrossEntropy

    c = 6
    x, y = _logits(20, c, seed=11), torch.randint(0, c, (20,), generator=gen(12))
    peer = PolyCrossEntropy(epsilon=epsilon, smoothing=s, reduction="none")
    ours = _value_and_grad(
        lambda z: losskit.poly1_cross_entropy(
            z, y, poly_coef=epsilon, label_smoothing=s, reduction="none"
        ),
        x,
    )
    # 1. as timm ships it: float32 out, equal to losskit's float32 result to float32 rounding
    out32 = peer(x, y)
    assert out32.dtype == torch.float32
    torch.testing.assert_close(
        out32,
        losskit.poly1_cross_entropy(x.float(), y, poly_coef=epsilon, label_smoothing=s,
                                    reduction="none"),
    )  # fmt: skip
    # 2. timm's arithmetic in float64, given the float64 target q (its dense-target path):
    # equal to 1e-12, values and gradients
    q = TF.one_hot(y, c).to(F64) * (1 - s) + s / c
    dense = PolyCrossEntropy(epsilon=epsilon, smoothing=0.0, reduction="none")
    _assert_same(ours, _value_and_grad(lambda z: timm_in_input_dtype(dense, z, q), x))
    # 3. with class indices, timm smooths an int64 one-hot: one_hot * (1 - s) + s / C has the
    # default dtype, float32, so q is computed in float32 (0.9 -> 0.89999998) even when the
    # rest runs in float64. Without smoothing q is exact and timm equals losskit; with it,
    # timm equals the float64 formula on that float32 q.
    by_index = timm_in_input_dtype(peer, x, y)
    q_timm = TF.one_hot(y, c) * (1 - s) + s / c
    assert q_timm.dtype == torch.float32
    q32 = q_timm.to(F64)
    assert (q32 - q).abs().max() < 1e-7
    torch.testing.assert_close(by_index, timm_in_input_dtype(dense, x, q32), rtol=0, atol=1e-12)
    if s == 0.0:
        assert (by_index - ours[0]).abs().max() < 1e-12
    else:
        assert 1e-9 < (by_index - ours[0]).abs().max() < 1e-6


def test_label_smoothing_defaults_differ_from_timm() -> None:
    # deliberate: four timm losses smooth the labels by 0.1 unless told otherwise; every
    # losskit loss with label smoothing defaults to none. Read from the signatures.
    import timm.loss as timm_loss

    timm_defaults = {
        "JsdCrossEntropy": "smoothing",
        "BinaryCrossEntropy": "smoothing",
        "LabelSmoothingCrossEntropy": "smoothing",
        "AsymmetricLossSingleLabel": "eps",  # timm's name for its smoothing there
    }
    for name, arg in timm_defaults.items():
        param = inspect.signature(getattr(timm_loss, name)).parameters[arg]
        assert param.default == 0.1, (name, param.default)
    # the losskit counterparts named in the guide, functions and modules
    counterparts = [
        losskit.jsd_cross_entropy, losskit.bce_loss, losskit.softmax_cross_entropy,
        losskit.asymmetric_softmax_loss, losskit.nn.JSDCrossEntropyLoss,
        losskit.nn.BinaryCrossEntropyLoss, losskit.nn.SoftmaxCrossEntropyLoss,
        losskit.nn.AsymmetricSoftmaxLoss,
    ]  # fmt: skip
    for fn in counterparts:
        assert inspect.signature(fn).parameters["label_smoothing"].default == 0.0, fn
        if inspect.isclass(fn):
            assert fn().label_smoothing == 0.0, fn
    # and every other losskit function with the argument: 0 everywhere
    with_smoothing = [
        getattr(family, name)
        for family in F.FAMILIES
        for name in family.__all__
        if callable(getattr(family, name))
        and not inspect.isclass(getattr(family, name))
        and "label_smoothing" in inspect.signature(getattr(family, name)).parameters
    ]
    assert len(with_smoothing) >= 4
    for fn in with_smoothing:
        assert inspect.signature(fn).parameters["label_smoothing"].default == 0.0, fn.__name__


# ------------------------------------------------------------------ SMP: focal Tversky


@pytest.mark.parametrize("mode", ["binary", "multiclass", "multilabel"])
@pytest.mark.parametrize("gamma", [0.75, 2.0])
def test_focal_tversky_exponent_placement_vs_smp(mode: str, gamma: float) -> None:
    # deliberate: SMP's TverskyLoss(gamma=g) raises the mean over classes of 1 - TI to the
    # power g; losskit's focal Tversky raises each class's (and, by default, each sample's)
    # 1 - TI to the power g, then averages (Abraham and Khan's form). With per_sample=False
    # and smooth=0 (SMP's batch-global sums and default) the per-class values are
    # l_c = (1 - TI_c)^g, so SMP's loss is (mean_c l_c^(1/g))^g; with one class (binary
    # mode) the two are the same loss. Every class has target pixels here (SMP zeroes an
    # absent class, see test_overlap.py).
    import segmentation_models_pytorch.losses as smp

    if mode == "multiclass":
        x = _logits(3, 4, 6, 5, seed=13, scale=2.0)
        t = torch.randint(0, 4, (3, 6, 5), generator=gen(14))
    else:
        c = 1 if mode == "binary" else 4
        x = _logits(3, c, 6, 5, seed=15, scale=2.0)
        t = (torch.rand(3, c, 6, 5, generator=gen(16)) < 0.4).to(F64)
        if mode == "binary":
            x, t = x[:, 0], t[:, 0]
    kw = {"mode": mode, "fp_weight": 0.3, "fn_weight": 0.7, "gamma": gamma,
          "per_sample": False, "smooth": 0.0}  # fmt: skip
    peer = smp.TverskyLoss(mode, alpha=0.3, beta=0.7, gamma=gamma)
    theirs = _value_and_grad(lambda z: peer(z, t), x)
    per_class = lambda z: losskit.focal_tversky_loss(z, t, reduction="none", **kw)  # noqa: E731
    _assert_same(_value_and_grad(lambda z: per_class(z).pow(1 / gamma).mean().pow(gamma), x),
                 theirs)  # fmt: skip
    ours = _value_and_grad(lambda z: losskit.focal_tversky_loss(z, t, **kw), x)
    if mode == "binary":
        _assert_same(ours, theirs)
    elif gamma != 1.0:
        # by the power mean inequality the two differ on unequal classes (Jensen)
        assert (ours[0] - theirs[0]).abs() > 1e-6


# ------------------------------------------------------------------ MONAI


@pytest.mark.parametrize("weights", [(0.3, 0.7), (0.5, 0.5), (0.9, 0.1)])
def test_tversky_equals_monai(weights: tuple[float, float]) -> None:
    # MONAI's alpha weighs the false positives, beta the false negatives (losskit's fp_weight
    # and fn_weight), with smooth_nr = smooth_dr = 1e-5 in numerator and denominator:
    # losskit's smooth=1e-5. batch=True is per_sample=False.
    from monai.losses import TverskyLoss

    a, b = weights
    x = _logits(3, 4, 6, 5, seed=17, scale=2.0)
    t = (torch.rand(3, 4, 6, 5, generator=gen(18)) < 0.4).to(F64)
    y = torch.randint(0, 4, (3, 6, 5), generator=gen(19))
    kw = {"fp_weight": a, "fn_weight": b, "smooth": 1e-5}
    cases = [
        ("multilabel", t, t, {"sigmoid": True}),
        ("multiclass", y, y[:, None], {"softmax": True, "to_onehot_y": True}),
    ]
    for mode, ours_t, monai_t, act in cases:
        for per_sample in (True, False):
            peer = TverskyLoss(alpha=a, beta=b, batch=not per_sample, reduction="none", **act)
            theirs = _value_and_grad(lambda z, p=peer, tt=monai_t: p(z, tt).flatten(), x)
            ours = _value_and_grad(
                lambda z, m=mode, tt=ours_t, ps=per_sample: losskit.tversky_loss(
                    z, tt, mode=m, per_sample=ps, reduction="none", **kw
                ).flatten(),
                x,
            )
            _assert_same(ours, theirs)
        # "mean": both average over samples and classes
        torch.testing.assert_close(
            losskit.tversky_loss(x, ours_t, mode=mode, **kw),
            TverskyLoss(alpha=a, beta=b, **act)(x, monai_t), rtol=0, atol=1e-12,
        )  # fmt: skip


#: MONAI's boxes add float32's machine epsilon to the denominators (it computes in float32)
MONAI_EPS = torch.finfo(torch.float32).eps


def test_giou_loss_equals_monai_2d() -> None:
    # MONAI's BoxGIoULoss casts both box sets to float32, computes 1 - GIoU there and casts
    # back to the input's dtype. On float32 boxes, with losskit's eps set to float32's machine
    # epsilon (MONAI's), the two agree to one float32 ulp (the 2-D operations run in another
    # order: 14 of these 40 values differ by 1.2e-7); on float64 boxes losskit computes in
    # float64, and the two agree to MONAI's float32 rounding (3.1e-7 here).
    from monai.data.box_utils import box_pair_giou
    from monai.losses import BoxGIoULoss

    g = gen(20)
    lo = torch.rand(40, 2, generator=g, dtype=F64) * 10
    p = torch.cat([lo, lo + 0.5 + torch.rand(40, 2, generator=g, dtype=F64) * 5], 1)
    lo = p[:, :2] + torch.randn(40, 2, generator=g, dtype=F64) * 2
    t = torch.cat([lo, lo + 0.5 + torch.rand(40, 2, generator=g, dtype=F64) * 5], 1)
    p32, t32 = p.float(), t.float()
    ulp = {"rtol": 0, "atol": 2.4e-7}  # two float32 ulps at 1, the loss ranging in [0, 2)
    ours = losskit.giou_loss(p32, t32, eps=MONAI_EPS, reduction="none")
    torch.testing.assert_close(ours, BoxGIoULoss(reduction="none")(p32, t32), **ulp)
    torch.testing.assert_close(ours, 1 - box_pair_giou(p32, t32), **ulp)
    assert (ours > 1).any()  # disjoint pairs: the GIoU penalty is exercised
    torch.testing.assert_close(losskit.giou_loss(p32, t32, eps=MONAI_EPS), BoxGIoULoss()(p32, t32),
                               **ulp)  # fmt: skip
    # float64 boxes: MONAI's float32 arithmetic, returned as float64
    theirs = BoxGIoULoss(reduction="none")(p, t)
    assert theirs.dtype == F64
    torch.testing.assert_close(losskit.giou_loss(p, t, reduction="none"), theirs,
                               rtol=0, atol=1e-6)  # fmt: skip
    # gradients (with respect to the predicted boxes) to float32's precision
    ours_g = _value_and_grad(lambda z: losskit.giou_loss(z, t32, eps=MONAI_EPS, reduction="sum"),
                             p32)  # fmt: skip
    theirs_g = _value_and_grad(lambda z: BoxGIoULoss(reduction="sum")(z, t32), p32)
    torch.testing.assert_close(ours_g[1], theirs_g[1], rtol=1e-5, atol=1e-6)


def _confusion(p: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Soft TP, TN, FP, FN over the spatial dimensions of ``(N, C, H, W)``."""
    dims = (2, 3)
    return ((p * t).sum(dims), ((1 - p) * (1 - t)).sum(dims), (p * (1 - t)).sum(dims),
            ((1 - p) * t).sum(dims))  # fmt: skip


def test_mcc_equals_monai() -> None:
    # MONAI's MCCLoss regularises 0/0 by adding smooth_dr (1e-5) under the square root of the
    # denominator's product; losskit adds eps (1e-5) to each of the four counts (SMP's
    # form). Without regularisation the two are the same loss: MONAI with smooth_dr = 0 and
    # losskit with eps = 1e-20 (below float64's resolution on these counts) agree to 1e-12,
    # values and gradients; MONAI's default is that MCC times sqrt(P / (P + 1e-5)), P the
    # product (TP + FP)(TP + FN)(TN + FP)(TN + FN).
    from monai.losses import MCCLoss

    x = _logits(3, 2, 6, 5, seed=21, scale=2.0)
    t = (torch.rand(3, 2, 6, 5, generator=gen(22)) < 0.4).to(F64)
    for per_sample in (True, False):
        ours = _value_and_grad(
            lambda z, ps=per_sample: losskit.mcc_loss(
                z, t, mode="multilabel", eps=1e-20, per_sample=ps, reduction="none"
            ),
            x,
        )
        peer = MCCLoss(sigmoid=True, smooth_dr=0.0, batch=not per_sample, reduction="none")
        _assert_same(ours, _value_and_grad(lambda z, m=peer: m(z, t), x))
    # probabilities (from_logits=False), binary mode on one channel, MONAI's defaults
    p = torch.rand(3, 1, 6, 5, generator=gen(23), dtype=F64)
    unregularised = losskit.mcc_loss(p[:, 0], t[:, 0], from_logits=False, eps=1e-20,
                                     reduction="none").flatten()  # fmt: skip
    tp, tn, fp, fn = _confusion(p, t[:, :1])
    prod = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    monai_default = MCCLoss(reduction="none")(p, t[:, :1])
    torch.testing.assert_close(
        monai_default[:, 0], 1 - (1 - unregularised) * torch.sqrt(prod / (prod + 1e-5))[:, 0],
        rtol=0, atol=1e-12,
    )  # fmt: skip
    # the two regularisations differ below 1e-5 on these counts, but they do differ
    default = losskit.mcc_loss(p[:, 0], t[:, 0], from_logits=False, reduction="none").flatten()
    assert 1e-9 < (default - monai_default[:, 0]).abs().max() < 1e-5


def test_boundary_loss_equals_monai() -> None:
    # Both integrate the probabilities against Kervadec et al.'s signed distance map (dist
    # to the foreground outside, -(dist to the background - 1) inside, 0 for a class absent
    # from the image) and average over the pixels. MONAI computes its map in float32 (the
    # distances rounded to float32, then 1 subtracted there), losskit in the input's dtype:
    # the maps agree to float32's rounding (3.8e-7 on values up to 8), so the losses, means
    # of p times the map with 0 <= p <= 1, agree to within that (1.1e-8 measured), and the
    # same formula on MONAI's own map gives MONAI's loss to 1e-12 (values and gradients).
    # A class that fills a whole image differs: see the next test.
    from monai.losses import BoundaryLoss

    y = torch.zeros(3, 9, 8, dtype=torch.long)
    y[0, 2:5, 3:7] = 1
    y[0, 6:9, 0:2] = 2
    y[1, 1:3, 1:3] = 2
    y[1, 4:9, 3:8] = 1
    y[2, 3:6, 2:4] = 1  # sample 2 has no class 2: its map is 0
    x = _logits(3, 3, 9, 8, seed=24, scale=2.0)
    onehot = TF.one_hot(y, 3).permute(0, 3, 1, 2).to(F64)
    monai_map = BoundaryLoss().compute_distance_map(onehot)
    ours_map = torch.stack([losskit.signed_distance_map(image) for image in onehot])
    assert ours_map.dtype == F64 and monai_map.dtype == torch.float32
    map_gap = (ours_map - monai_map.to(F64)).abs().max().item()
    assert map_gap < 1e-6
    assert (monai_map[2, 2] == 0).all() and (ours_map[2, 2] == 0).all()
    for per_sample in (True, False):
        ours = _value_and_grad(
            lambda z, ps=per_sample: losskit.boundary_loss(
                z, y, mode="multiclass", per_sample=ps, reduction="none"
            ),
            x,
        )
        peer = BoundaryLoss(softmax=True, to_onehot_y=True, batch=not per_sample,
                            reduction="none")  # fmt: skip
        theirs = _value_and_grad(lambda z, m=peer: m(z, y), x)
        assert (ours[0] - theirs[0]).abs().max() <= map_gap
        assert (ours[1] - theirs[1]).abs().max() < 1e-6

        # exactly: the same formula on MONAI's float32 map (batch=True: MONAI averages the
        # per-sample losses over the batch, the same as the mean map's loss)
        def formula(z, ps=per_sample):
            per = (z.softmax(1) * monai_map.to(F64)).mean((2, 3))
            return per if ps else per.mean(0)

        _assert_same(_value_and_grad(formula, x), theirs)
    # sigmoid on multi-label targets
    ours = losskit.boundary_loss(x, onehot, mode="multilabel", reduction="none")
    theirs = BoundaryLoss(sigmoid=True, reduction="none")(x, onehot)
    assert (ours - theirs).abs().max() <= map_gap


def test_boundary_loss_of_a_full_mask_equals_monai() -> None:
    # A class whose target covers the whole image (a sample that is all background, in
    # multi-class mode; an all-ones binary mask) has no boundary: MONAI's map is 0 there, as
    # for an absent class, and so is losskit's (it once gave -inf: minus the distance to a
    # background that does not exist).
    from monai.losses import BoundaryLoss

    x = torch.zeros(1, 4, 4, dtype=F64, requires_grad=True)
    full = torch.ones(1, 4, 4, dtype=F64)
    assert BoundaryLoss(sigmoid=True)(x[:, None], full[:, None]).item() == 0.0
    out = losskit.boundary_loss(x, full)
    (grad,) = torch.autograd.grad(out, x)
    assert out.item() == 0.0 and torch.isfinite(grad).all()
    y = torch.zeros(1, 4, 4, dtype=torch.long)  # all background
    z = torch.zeros(1, 2, 4, 4, dtype=F64)
    assert BoundaryLoss(softmax=True, to_onehot_y=True)(z, y).item() == 0.0
    assert losskit.boundary_loss(z, y, mode="multiclass").item() == 0.0


# ------------------------------------------------------------------ PML


def test_subcenter_arcface_equals_pml() -> None:
    # PML's SubCenterArcFaceLoss keeps W as (D, C K), class c's sub-centres in columns
    # c K .. c K + K - 1, its margin in degrees; losskit's centers are (C, K, D), the margin
    # in radians. Both take the closest sub-centre, then ArcFace's margin on the target.
    from pytorch_metric_learning.losses import SubCenterArcFaceLoss as PMLSubCenter

    n_cls, dim, k = 7, 8, 3
    ours = losskit.nn.SubCenterArcFaceLoss(n_cls, dim, subcenters=k, margin=0.5, scale=16.0,
                                           dtype=F64)  # fmt: skip
    peer = PMLSubCenter(num_classes=n_cls, embedding_size=dim, sub_centers=k,
                        margin=math.degrees(0.5), scale=16).double()  # fmt: skip
    with torch.no_grad():
        peer.W.copy_(ours.centers.reshape(n_cls * k, dim).T)
    x = _logits(20, dim, seed=25, scale=1.0)
    y = torch.randint(0, n_cls, (20,), generator=gen(26))
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, ref = ours(xa, y), peer(xb, y)
    out.backward()
    ref.backward()
    assert (out - ref).abs() < 1e-12
    assert (xa.grad - xb.grad).abs().max() < 1e-12
    assert (ours.centers.grad.reshape(n_cls * k, dim).T - peer.W.grad).abs().max() < 1e-12
    # a margin that puts targets past pi - m: both switch to cos theta - m sin m
    with torch.no_grad():
        cos = TF.normalize(x, dim=1) @ TF.normalize(ours.centers, dim=2).reshape(-1, dim).T
        theta = cos.view(20, n_cls, k).amax(2).gather(1, y[:, None]).clamp(-1, 1).acos()
    assert (theta > math.pi - 2.0).sum() >= 3
    ours.margin = 2.0
    peer2 = PMLSubCenter(num_classes=n_cls, embedding_size=dim, sub_centers=k,
                         margin=math.degrees(2.0), scale=16).double()  # fmt: skip
    with torch.no_grad():
        peer2.W.copy_(ours.centers.reshape(n_cls * k, dim).T)
    assert (ours(x, y) - peer2(x, y)).abs() < 1e-12


def test_pairwise_distances_equal_pml() -> None:
    from pytorch_metric_learning.distances import CosineSimilarity, LpDistance

    a, b = _logits(9, 6, seed=27, scale=1.0), _logits(7, 6, seed=28, scale=1.0)
    lp, lp2, cos = (LpDistance(normalize_embeddings=False),
                    LpDistance(normalize_embeddings=False, power=2), CosineSimilarity())  # fmt: skip
    pairs = [
        (lambda z: losskit.pairwise_euclidean_distance(z, b), lambda z: lp(z, b)),
        (lambda z: losskit.pairwise_euclidean_distance(z, b, squared=True), lambda z: lp2(z, b)),
        (lambda z: losskit.pairwise_cosine_similarity(z, b), lambda z: cos(z, b)),
    ]
    for ours, theirs in pairs:
        _assert_same(_value_and_grad(ours, a), _value_and_grad(theirs, a))
    # one set against itself (b omitted): the values (the diagonal's distance is 0, where
    # the gradient of a norm is a choice)
    torch.testing.assert_close(losskit.pairwise_euclidean_distance(a), lp(a), rtol=0, atol=1e-12)
    torch.testing.assert_close(losskit.pairwise_cosine_similarity(a), cos(a), rtol=0, atol=1e-12)


def test_distance_weighted_miner_weights_equal_pml_positives_differ(monkeypatch) -> None:
    # The weights over the negatives are PML's, read from PML's miner itself (its call to the
    # triplet sampler is intercepted); where an anchor has no negative in reach PML's row is
    # 0/0 (NaN, never drawn), losskit's 0. The deliberate difference is in the positives:
    # PML draws, for each anchor, as many random positives (with replacement) as its class
    # has members, so at least one repeats; losskit takes every anchor-positive pair once
    # and draws one negative for each.
    import pytorch_metric_learning.miners.distance_weighted_miner as pml_dw

    from losskit.miners import DistanceWeightedMiner

    x, dim = _logits(16, 5, seed=29, scale=1.0), 5
    y = torch.arange(16) % 4  # four classes of four
    # class 0 near +e1, the others on the -e1 side: class 0's negatives all lie beyond
    # nonzero_loss_cutoff (cos < 0, d > 1.41), so its anchors draw nothing in either miner
    x[y == 0, 1:] *= 0.1
    x[y == 0, 0] = 3.0
    x[y != 0, 0] = -x[y != 0, 0].abs() - 0.5
    caught: dict[str, torch.Tensor] = {}
    sampler = pml_dw.lmu.get_random_triplet_indices

    def spy(labels, ref_labels=None, t_per_anchor=None, weights=None):
        caught["weights"] = weights
        return sampler(labels, ref_labels=ref_labels, t_per_anchor=t_per_anchor, weights=weights)

    monkeypatch.setattr(pml_dw.lmu, "get_random_triplet_indices", spy)
    torch.manual_seed(0)
    pa, pp, pn = pml_dw.DistanceWeightedMiner(cutoff=0.5, nonzero_loss_cutoff=1.4)(x, y)
    theirs_w = caught["weights"]
    miner = DistanceWeightedMiner(cutoff=0.5, nonzero_loss_cutoff=1.4,
                                  generator=torch.Generator().manual_seed(0))  # fmt: skip
    xn = TF.normalize(x, dim=1)
    neg = y[:, None] != y[None, :]
    ours_w = miner.weights(losskit.pairwise_euclidean_distance(xn), neg, dim)
    finite = torch.isfinite(theirs_w).all(1)
    assert torch.equal(finite, y != 0)
    torch.testing.assert_close(ours_w[finite], theirs_w[finite], rtol=1e-12, atol=1e-14)
    assert (ours_w[~finite] == 0).all()
    # PML: class size (4) triplets per anchor with a negative in reach, positives drawn
    # among the 3 others, so each such anchor repeats a positive
    assert torch.equal(pa.unique(), torch.nonzero(y != 0).flatten())
    for anchor in pa.unique():
        ps = pp[pa == anchor]
        assert len(ps) == 4 and len(ps.unique()) < 4 and (y[ps] == y[anchor]).all()
    # losskit: every anchor-positive pair exactly once (3 per anchor), for each one negative
    a, p, n = miner(x, y)
    pos = (y[:, None] == y[None, :]) & ~torch.eye(16, dtype=torch.bool)
    expected = {(int(i), int(j)) for i, j in pos.nonzero() if y[i] != 0}
    assert len(expected) == 36  # 12 anchors with a negative in reach, 3 positives each
    assert sorted(zip(a.tolist(), p.tolist(), strict=True)) == sorted(expected)
    assert (y[n] != y[a]).all() and (ours_w[a, n] > 0).all()
    assert (y[pn] != y[pa]).all()
