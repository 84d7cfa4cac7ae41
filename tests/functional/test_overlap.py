"""Mask overlap losses: hand-worked values, parity with MONAI and segmentation_models_pytorch
(every deliberate difference written next to its test), empty-target semantics,
ignore_index, mask, class and sample weights, and the Dice/IoU identity of the study
notes."""

from __future__ import annotations

import pytest
import segmentation_models_pytorch.losses as smp
import torch
from monai.losses import DiceLoss as MonaiDice

from losskit import (
    DiceLoss,
    dice_loss,
    dice_to_iou,
    focal_tversky_loss,
    iou_to_dice,
    jaccard_loss,
    tversky_loss,
)

from ..conftest import assert_compiled_equals_eager, gen, leave_out


def _multiclass(n=3, c=4, h=6, w=5, seed=0, dtype=torch.float64):
    g = gen(seed)
    logits = torch.randn(n, c, h, w, generator=g, dtype=dtype) * 2
    labels = torch.randint(0, c, (n, h, w), generator=g)
    return logits, labels


def _multilabel(n=3, c=4, h=6, w=5, seed=0, dtype=torch.float64):
    g = gen(seed)
    logits = torch.randn(n, c, h, w, generator=g, dtype=dtype) * 2
    target = (torch.rand(n, c, h, w, generator=g) < 0.4).to(dtype)
    return logits, target


def test_hand_worked_values() -> None:
    # pred {1,1,0,0}, target {1,0,1,0}: TP = 1, FP = 1, FN = 1
    p = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    g = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    kw = {"from_logits": False, "smooth": 0.0, "reduction": "none"}
    torch.testing.assert_close(
        dice_loss(p, g, **kw), torch.tensor([[1 - 2 / 4]])
    )  # 2TP/(2TP+FP+FN)
    torch.testing.assert_close(
        jaccard_loss(p, g, **kw), torch.tensor([[1 - 1 / 3]])
    )  # TP/(TP+FP+FN)
    # Tversky fp_weight=.2, fn_weight=.8: 1 / (1 + .2 + .8) = .5
    torch.testing.assert_close(
        tversky_loss(p, g, fp_weight=0.2, fn_weight=0.8, **kw), torch.tensor([[0.5]])
    )
    torch.testing.assert_close(
        focal_tversky_loss(p, g, fp_weight=0.2, fn_weight=0.8, gamma=2.0, **kw),
        torch.tensor([[0.25]]),
    )
    # the weights are not symmetric: fp_weight weighs FP, fn_weight FN. Pred {1,1,0,0} and
    # target {1,0,0,0}: TP = 1, FP = 1, FN = 0, so only fp_weight counts: 1 - 1 / (1 + .2)
    g1 = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(
        tversky_loss(p, g1, fp_weight=0.2, fn_weight=0.8, **kw), torch.tensor([[1 - 1 / 1.2]])
    )
    # squared denominator: sum p^2 + sum g^2 = 2 + 2, same as plain for hard masks
    torch.testing.assert_close(dice_loss(p, g, squared_pred=True, **kw), torch.tensor([[0.5]]))
    soft = torch.tensor([[0.5, 0.5, 0.0, 0.0]])
    # plain: 1 - 2(.5)/(1 + 2) = 2/3; squared: 1 - 1/(.5 + 2) = .6
    torch.testing.assert_close(dice_loss(soft, g, **kw), torch.tensor([[2 / 3]]))
    torch.testing.assert_close(dice_loss(soft, g, squared_pred=True, **kw), torch.tensor([[0.6]]))


def test_tversky_special_cases_are_dice_and_jaccard() -> None:
    x, t = _multilabel(seed=1)
    kw = {"mode": "multilabel", "reduction": "none"}
    torch.testing.assert_close(
        tversky_loss(x, t, fp_weight=0.5, fn_weight=0.5, smooth=0.0, **kw),
        dice_loss(x, t, smooth=0.0, **kw),
    )
    torch.testing.assert_close(
        tversky_loss(x, t, fp_weight=1.0, fn_weight=1.0, smooth=0.0, **kw),
        jaccard_loss(x, t, smooth=0.0, **kw),
    )
    torch.testing.assert_close(
        focal_tversky_loss(x, t, fp_weight=0.3, fn_weight=0.7, gamma=1.0, **kw),
        tversky_loss(x, t, fp_weight=0.3, fn_weight=0.7, **kw),
    )


# ---- MONAI -------------------------------------------------------------------------------


@pytest.mark.parametrize("per_sample", [True, False], ids=["per-sample", "batch"])
@pytest.mark.parametrize("squared_pred", [False, True])
def test_parity_with_monai_multiclass(per_sample: bool, squared_pred: bool) -> None:
    x, y = _multiclass(seed=2)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours = dice_loss(
        xa,
        y,
        mode="multiclass",
        per_sample=per_sample,
        squared_pred=squared_pred,
        smooth=1e-5,
        reduction="none",
    )
    peer = MonaiDice(
        softmax=True,
        to_onehot_y=True,
        batch=not per_sample,
        squared_pred=squared_pred,
        smooth_nr=1e-5,
        smooth_dr=1e-5,
        reduction="none",
    )
    theirs = peer(xb, y.unsqueeze(1)).reshape(ours.shape)  # MONAI keeps broadcastable (N, C, 1, 1)
    torch.testing.assert_close(ours, theirs)
    ours.mean().backward()
    theirs.mean().backward()
    torch.testing.assert_close(xa.grad, xb.grad)


@pytest.mark.parametrize("per_sample", [True, False], ids=["per-sample", "batch"])
def test_parity_with_monai_multilabel_and_jaccard(per_sample: bool) -> None:
    x, t = _multilabel(seed=3)
    kw = {"sigmoid": True, "batch": not per_sample, "smooth_nr": 1e-5, "smooth_dr": 1e-5}
    torch.testing.assert_close(
        dice_loss(x, t, mode="multilabel", per_sample=per_sample, smooth=1e-5),
        MonaiDice(**kw)(x, t),
    )
    # deliberate: MONAI's Jaccard is (2 TP + s) / (2 (TP + FP + FN) + s), i.e. it halves the
    # smoothing; losskit's is (TP + s) / (TP + FP + FN + s). MONAI with 2 s matches.
    kw.update(smooth_nr=2e-5, smooth_dr=2e-5)
    torch.testing.assert_close(
        jaccard_loss(x, t, mode="multilabel", per_sample=per_sample, smooth=1e-5),
        MonaiDice(jaccard=True, **kw)(x, t),
    )


def test_class_weight_mean_differs_from_monai() -> None:
    # deliberate: losskit's weighted mean divides by sum(w) (the library rule); MONAI
    # multiplies by the weights and divides by the count N * C. (The class weights were
    # called weight before 0.2.0; weight is now the per-sample weight, tested below.)
    x, y = _multiclass(seed=4)
    w = torch.tensor([0.5, 1.0, 2.0, 0.0], dtype=torch.float64)
    ours = dice_loss(x, y, mode="multiclass", smooth=1e-5, class_weight=w)
    per = dice_loss(x, y, mode="multiclass", smooth=1e-5, reduction="none")
    torch.testing.assert_close(ours, (per * w).sum() / (w.sum() * per.shape[0]))
    theirs = MonaiDice(softmax=True, to_onehot_y=True, smooth_nr=1e-5, smooth_dr=1e-5, weight=w)(
        x, y.unsqueeze(1)
    )
    torch.testing.assert_close(theirs, (per * w).mean())


def test_weight_is_per_sample_and_combines_with_class_weight() -> None:
    # since 0.2.0 weight is the (N,) sample weight of the library's reduction; the loss is
    # (N, C), so "mean" is sum_nc w_n cw_c l_nc / sum_nc w_n cw_c
    x, y = _multiclass(n=3, c=4, seed=12)
    per = dice_loss(x, y, mode="multiclass", reduction="none")
    w = torch.tensor([1.0, 0.0, 3.0], dtype=torch.float64)
    cw = torch.tensor([0.5, 1.0, 2.0, 0.0], dtype=torch.float64)
    kw = {"mode": "multiclass"}
    torch.testing.assert_close(dice_loss(x, y, weight=w, reduction="none", **kw), per * w[:, None])
    torch.testing.assert_close(
        dice_loss(x, y, weight=w, **kw), (per * w[:, None]).sum() / (4 * w.sum())
    )
    both = w[:, None] * cw
    torch.testing.assert_close(
        tversky_loss(x, y, weight=w, class_weight=cw, **kw),
        (tversky_loss(x, y, reduction="none", **kw) * both).sum() / both.sum(),
    )
    # a sample of weight 0 is left out: the same as dropping it from the batch
    torch.testing.assert_close(
        dice_loss(x, y, weight=torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64), **kw),
        dice_loss(x[[0, 2]], y[[0, 2]], **kw),
    )
    with pytest.raises(
        ValueError, match=r"dice_loss: weight must have shape \(3,\), one value per row; got \(4,\)"
    ):
        dice_loss(x, y, weight=cw, **kw)
    with pytest.raises(ValueError, match=r"jaccard_loss: weight is per sample"):
        jaccard_loss(x, y, per_sample=False, weight=w, **kw)


# ---- segmentation_models_pytorch ---------------------------------------------------------


@pytest.mark.parametrize("mode", ["binary", "multiclass", "multilabel"])
def test_parity_with_smp_dice_jaccard_tversky(mode: str) -> None:
    # SMP sums over the batch (batch-global, per_sample=False) and uses smooth=0 by default.
    # Every class has target pixels here (see the empty-target test for the difference).
    if mode == "multiclass":
        x, t = _multiclass(seed=5)
    elif mode == "multilabel":
        x, t = _multilabel(seed=5)
    else:
        x, t = _multilabel(c=1, seed=5)
        x, t = x[:, 0], t[:, 0]
    kw = {"mode": mode, "per_sample": False, "smooth": 0.0}
    pairs = [
        (dice_loss(x, t, **kw), smp.DiceLoss(mode)(x, t)),
        (jaccard_loss(x, t, **kw), smp.JaccardLoss(mode)(x, t)),
        (
            # SMP calls the weights of FP and FN alpha and beta
            tversky_loss(x, t, fp_weight=0.3, fn_weight=0.7, **kw),
            smp.TverskyLoss(mode, alpha=0.3, beta=0.7)(x, t),
        ),
    ]
    for ours, theirs in pairs:
        torch.testing.assert_close(ours, theirs)


def test_smp_zeroes_empty_classes_losskit_penalises_false_positives() -> None:
    # deliberate: class 1 has no target pixel but is predicted everywhere. SMP sets that
    # class's loss to 0, so nothing pushes the false positives down; losskit scores it
    # |P| / (|P| + smooth) (close to 1) with a gradient that lowers those probabilities.
    t = torch.zeros(2, 1, 4, 4)
    t[:, 0, :2] = 1.0  # class 0 present, class 1 empty
    x = torch.cat([torch.zeros(2, 1, 4, 4), torch.full((2, 1, 4, 4), 3.0)], dim=1).requires_grad_()
    target = torch.cat([t, torch.zeros_like(t)], dim=1)
    ours = dice_loss(x, target, mode="multilabel", per_sample=False, reduction="none")
    theirs_raw = smp.DiceLoss("multilabel", smooth=1.0)
    assert ours[1] > 0.9
    # on the present class SMP's smooth=1 equals losskit's smooth=2 (SMP's Dice doubles the
    # smoothing, see the README); the empty class 1 contributes 0 to SMP's mean over 2 classes
    ours_smp_smooth = dice_loss(
        x, target, mode="multilabel", per_sample=False, reduction="none", smooth=2.0
    )
    torch.testing.assert_close(theirs_raw(x, target), ours_smp_smooth[0] / 2)
    (g,) = torch.autograd.grad(ours[1], x)
    assert (g[:, 1] > 0).all()  # lowering the logits of the empty class lowers the loss


def test_empty_prediction_on_empty_target_is_zero_for_any_smooth() -> None:
    p = torch.zeros(2, 3, 3)
    t = torch.zeros(2, 3, 3)
    for smooth in (0.0, 1.0):
        for fn in (dice_loss, jaccard_loss, tversky_loss, focal_tversky_loss):
            out = fn(p, t, from_logits=False, smooth=smooth, reduction="none")
            torch.testing.assert_close(out, torch.zeros(2, 1))
    # a single false-positive pixel on an empty target: 1 - 1/(1 + 1) with smooth 1
    p[0, 0, 0] = 1.0
    torch.testing.assert_close(
        dice_loss(p, t, from_logits=False, reduction="none"), torch.tensor([[0.5], [0.0]])
    )
    torch.testing.assert_close(
        dice_loss(p, t, from_logits=False, smooth=0.0, reduction="none"),
        torch.tensor([[1.0], [0.0]]),
    )


# ---- options -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["binary", "multiclass", "multilabel"])
def test_ignore_index_is_excluded_from_every_sum(mode: str) -> None:
    g = gen(6)
    if mode == "multiclass":
        x, t = _multiclass(seed=6)
        t = t.clone()
    else:
        x, t = _multilabel(seed=6)
        if mode == "binary":
            x, t = x[:, 0], t[:, 0]
        t = t.clone()
    ignore = torch.rand(t.shape, generator=g) < 0.3
    clean = t.clone()
    t[ignore] = 255
    kw = {"mode": mode, "reduction": "none"}
    got = dice_loss(x, t, ignore_index=255, **kw)
    # ignore_index is sugar for a mask: mask=False leaves the same positions out
    torch.testing.assert_close(dice_loss(x, clean, mask=~ignore, **kw), got)
    # reference: drop the ignored positions by hand, pixel by pixel
    if mode == "multiclass":
        p = torch.softmax(x, 1)
        keep = (~ignore).unsqueeze(1)
        oh = torch.stack([(t == c) for c in range(x.shape[1])], 1) & keep
        pk = p * keep
    else:
        p = torch.sigmoid(x)
        keep = ~ignore
        oh = (t == 1) & keep
        pk = p * keep
        if mode == "binary":
            pk, oh = pk.unsqueeze(1), oh.unsqueeze(1)
    dims = tuple(range(2, pk.dim()))
    tp = (pk * oh).sum(dims)
    want = 1 - (2 * tp + 1) / (pk.sum(dims) + oh.sum(dims) + 1)
    torch.testing.assert_close(got, want)


def test_ignore_index_equal_to_a_class_drops_its_positions() -> None:
    x, y = _multiclass(seed=7)
    out = dice_loss(x, y, mode="multiclass", ignore_index=0, reduction="none")
    keep = (y != 0).unsqueeze(1)
    p = torch.softmax(x, 1) * keep
    oh = torch.stack([(y == c) for c in range(4)], 1) & keep
    want = 1 - (2 * (p * oh).sum((2, 3)) + 1) / (p.sum((2, 3)) + oh.sum((2, 3)) + 1)
    torch.testing.assert_close(out, want)
    # class 0's target is now empty, so its probability mass elsewhere counts as false
    # positives (the positions themselves are excluded, not the class)
    assert (out[:, 0] > 0).all()


def test_probabilities_equal_logits_after_activation() -> None:
    x, y = _multiclass(seed=8)
    torch.testing.assert_close(
        dice_loss(torch.softmax(x, 1), y, mode="multiclass", from_logits=False),
        dice_loss(x, y, mode="multiclass"),
    )
    x2, t2 = _multilabel(seed=8)
    torch.testing.assert_close(
        jaccard_loss(torch.sigmoid(x2), t2, mode="multilabel", from_logits=False),
        jaccard_loss(x2, t2, mode="multilabel"),
    )


@pytest.mark.parametrize("c", [4, 20])
@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("how", ["none", "ignore", "mask"])
def test_probability_counts_equal_the_one_hot_sums(c: int, squared: bool, how: str) -> None:
    """Multiclass counts from probabilities (``from_logits=False``, differentiated by
    autograd) equal the one-hot sums written out, in value and in the gradient to the
    probabilities, with positions left out (their probability reaches nothing)."""
    from losskit.functional.overlap import _counts

    x, y = _multiclass(n=3, c=c, h=4, w=5, seed=51)
    p = torch.softmax(x, 1)
    kwargs = leave_out(p, y, how)
    if how == "ignore":
        p[0, :, 0, 0] = 0.25  # a probability, not the NaN logit leave_out puts there
    keep = torch.ones(3, 4, 5, dtype=torch.bool)
    if how == "ignore":
        keep = y != 255
    elif how == "mask":
        keep = kwargs["mask"]
    a, b = p.clone().requires_grad_(), p.clone().requires_grad_()
    tp, sp, sg, _ = _counts("t", a, y, mode="multiclass", from_logits=False, per_sample=True,
                            ignore_index=kwargs.get("ignore_index"), mask=kwargs.get("mask"),
                            squared=squared)  # fmt: skip
    k = keep.unsqueeze(1).to(p.dtype)
    oh = torch.stack([(y == i) for i in range(c)], 1).to(p.dtype) * k
    pk = torch.where(keep.unsqueeze(1), b, 0.0)  # the inf left out in "mask" reaches nothing
    want = ((pk * oh).sum((2, 3)), ((pk * pk) if squared else pk).sum((2, 3)), oh.sum((2, 3)))
    for got, ref in zip((tp, sp, sg), want, strict=True):
        torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    w = torch.rand(3, c, generator=gen(52), dtype=p.dtype)
    (ga,) = torch.autograd.grad(((tp + 2 * sp) * w).sum(), a)
    (gb,) = torch.autograd.grad(((want[0] + 2 * want[1]) * w).sum(), b)
    torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("squared", [False, True])
def test_probability_counts_second_derivatives(squared: bool) -> None:
    """The multiclass counts from probabilities have a hand-written backward; under
    ``create_graph=True`` it differentiates the one-hot sums, so second derivatives hold
    (gradgradcheck, float64, with a position left out)."""
    g = gen(54)
    p = torch.softmax(torch.randn(2, 3, 3, 4, generator=g, dtype=torch.float64), 1)
    y = torch.randint(0, 3, (2, 3, 4), generator=g)
    y[0, 0, 0] = 255
    p.requires_grad_()
    assert torch.autograd.gradgradcheck(
        lambda q: dice_loss(q, y, mode="multiclass", from_logits=False, squared_pred=squared,
                            ignore_index=255, reduction="sum"), (p,))  # fmt: skip
    assert torch.autograd.gradcheck(
        lambda q: dice_loss(q, y, mode="multiclass", from_logits=False, squared_pred=squared,
                            ignore_index=255, reduction="sum"), (p,))  # fmt: skip
    # the create_graph backward (what gradgradcheck differentiates) gives the first-order one
    loss = dice_loss(p, y, mode="multiclass", from_logits=False, squared_pred=squared,
                     ignore_index=255, reduction="sum")  # fmt: skip
    (with_graph,) = torch.autograd.grad(loss, p, create_graph=True, retain_graph=True)
    (plain,) = torch.autograd.grad(loss, p)
    torch.testing.assert_close(with_graph, plain, rtol=1e-12, atol=1e-12)


_PROBABILITY_LOSSES = [
    ("dice", "multiclass"), ("dice", "multilabel"), ("dice", "binary"),
    ("generalized_dice", "multiclass"), ("lovasz_softmax", "multiclass"),
    ("hausdorff_dt", "multiclass"), ("hausdorff_dt", "multilabel"),
    ("boundary", "multiclass"), ("cl_dice", "multilabel"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "mode"), _PROBABILITY_LOSSES,
                         ids=[f"{n}-{m}" for n, m in _PROBABILITY_LOSSES])  # fmt: skip
def test_probabilities_left_out_are_not_checked(name: str, mode: str) -> None:
    """With ``from_logits=False`` a position the mask leaves out may hold anything (as a
    left-out logit may): the range check of the probabilities skips it, and the loss equals
    the one with a valid probability there. A kept value out of range is still refused."""
    import losskit.functional as F

    fn = getattr(F, f"{name}_loss")
    x, y = (_multilabel if mode != "multiclass" else _multiclass)(n=2, c=3, h=6, w=6, seed=53)
    if mode == "binary":
        x, y = x[:, 0], y[:, 0]
    p = torch.softmax(x, 1) if mode == "multiclass" else torch.sigmoid(x)
    keep = torch.ones(p.shape if mode != "multiclass" else y.shape, dtype=torch.bool)
    keep[1, ..., 2, 3] = False
    kw = {"mode": mode} if name != "lovasz_softmax" else {}
    bad = p.clone()
    bad[1, ..., 2, 3] = 5.0  # out of [0, 1], left out
    good = p.clone()
    good[1, ..., 2, 3] = 0.5
    want = fn(good, y, from_logits=False, mask=keep, **kw)
    got = fn(bad, y, from_logits=False, mask=keep, **kw)
    torch.testing.assert_close(got, want)
    with pytest.raises(ValueError, match="values in"):
        fn(bad, y, from_logits=False, **kw)


def test_shapes_per_sample_and_batch_global() -> None:
    x, y = _multiclass(n=3, c=4)
    assert dice_loss(x, y, mode="multiclass", reduction="none").shape == (3, 4)
    assert dice_loss(x, y, mode="multiclass", per_sample=False, reduction="none").shape == (4,)
    xb, tb = _multilabel(n=3, c=1)
    assert dice_loss(xb[:, 0], tb[:, 0], reduction="none").shape == (3, 1)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_in_half_out(dtype) -> None:
    x, y = _multiclass(dtype=torch.float32, seed=9)
    xh = x.to(dtype).requires_grad_()
    out = dice_loss(xh, y, mode="multiclass")
    out.backward()
    assert out.dtype == dtype and xh.grad.dtype == dtype
    torch.testing.assert_close(
        out.float(), dice_loss(xh.detach().float(), y, mode="multiclass"), atol=1e-2, rtol=1e-2
    )


def test_focal_tversky_perfect_match_has_finite_zero_gradient() -> None:
    t = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    p = t.clone().requires_grad_()
    out = focal_tversky_loss(p, t, from_logits=False, smooth=0.0)
    out.backward()
    assert out.item() == 0.0 and torch.isfinite(p.grad).all()


def test_module_repr_and_forward() -> None:
    m = DiceLoss(mode="multiclass", squared_pred=True, smooth=0.5)
    x, y = _multiclass(seed=10)
    torch.testing.assert_close(
        m(x, y), dice_loss(x, y, mode="multiclass", squared_pred=True, smooth=0.5)
    )
    assert "squared_pred=True" in repr(m) and "mode='multiclass'" in repr(m)


# ---- the identity of the study notes -----------------------------------------------------


def test_dice_and_iou_identity() -> None:
    # for hard masks with smooth = 0: IoU = Dice / (2 - Dice) per sample and class
    g = gen(11)
    p = (torch.rand(4, 3, 8, 8, generator=g) < 0.5).double()
    t = (torch.rand(4, 3, 8, 8, generator=g) < 0.3).double()
    kw = {"mode": "multilabel", "from_logits": False, "smooth": 0.0, "reduction": "none"}
    dice = 1 - dice_loss(p, t, **kw)
    iou = 1 - jaccard_loss(p, t, **kw)
    torch.testing.assert_close(dice_to_iou(dice), iou)
    torch.testing.assert_close(iou_to_dice(iou), dice)
    assert abs(dice_to_iou(0.5) - 1 / 3) < 1e-12 and abs(iou_to_dice(1 / 3) - 0.5) < 1e-12


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("with_ce", [False, True])
def test_fused_softmax_counts_equal_autograd(squared: bool, with_ce: bool) -> None:
    """The fused multiclass counts (one softmax, no one-hot, hand-written backward) give the
    values and float64 gradients of the plain autograd form: softmax, one-hot products and
    a log-softmax cross-entropy."""
    from losskit.functional.overlap import _SoftmaxCounts

    g = gen(3)
    x = torch.randn(2, 4, 30, dtype=torch.float64, generator=g, requires_grad=True)
    x.data[0, :, :5] *= 40.0  # large logit gaps: the cross-entropy must not underflow
    t = torch.randint(0, 4, (2, 1, 30), generator=g)
    w = [torch.randn(2, 4, dtype=torch.float64, generator=g) for _ in range(2)]
    w.append(torch.randn(2, dtype=torch.float64, generator=g))

    def fused(z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return _SoftmaxCounts.apply(z, t, squared, with_ce)

    def plain(z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        p = torch.softmax(z, 1)
        onehot = torch.nn.functional.one_hot(t[:, 0], 4).movedim(-1, 1).double()
        sp = (p * p).sum(2) if squared else p.sum(2)
        ce = -(torch.log_softmax(z, 1) * onehot).sum((1, 2)) if with_ce else z.new_zeros(2)
        return (p * onehot).sum(2), sp, onehot.sum(2), ce

    got, want = fused(x), plain(x)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)

    def total(parts: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return (parts[0] * w[0]).sum() + (parts[1] * w[1]).sum() + (parts[3] * w[2]).sum()

    (ga,) = torch.autograd.grad(total(fused(x)), x)
    (gb,) = torch.autograd.grad(total(plain(x)), x)
    torch.testing.assert_close(ga, gb, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(lambda z: [fused(z)[i] for i in (0, 1, 3)], (x,))


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("with_ce", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fused_softmax_counts_class_by_class_backward_equals_the_dense_one(
    squared: bool, with_ce: bool, dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    # up to 16 classes the first-order backward runs class by class into the softmax's own
    # buffer (no (N, C, S) temporary, no scatter): the same sums in the same order as the
    # dense form, so bit-equal to it, with positions left out and saturated logits
    from losskit.functional import overlap as O

    g = gen(31)
    x = torch.randn(3, 5, 40, dtype=dtype, generator=g)
    x[0, :, :6] *= 200.0  # saturated: the label's term must cancel to exactly 0
    t = torch.randint(0, 5, (3, 1, 40), generator=g)
    keep = torch.rand(3, 1, 40, generator=g) > 0.2
    w = [torch.randn(3, 5, dtype=dtype, generator=g) for _ in range(2)]
    w.append(torch.randn(3, dtype=dtype, generator=g))
    grads = []
    for limit in (16, 0):  # class by class, then the dense form
        monkeypatch.setattr(O, "_CLASSWISE_UP_TO", limit)
        for k in (None, keep):
            z = x.clone().requires_grad_()
            tp, sp, _, ce = O._SoftmaxCounts.apply(z, t, squared, with_ce, k)
            total = (tp * w[0]).sum() + (sp * w[1]).sum() + (ce * w[2]).sum()
            grads.append(torch.autograd.grad(total, z)[0])
    for a, b in zip(grads[:2], grads[2:], strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(grads[0], grads[1])  # the left-out positions did change it


def test_fused_softmax_counts_second_derivatives() -> None:
    """create_graph=True: the fused counts' backward recomputes its softmax on the graph, so
    second derivatives are exact; a retained graph can be walked twice."""
    from losskit.functional.overlap import _SoftmaxCounts

    g = gen(4)
    x = torch.randn(2, 3, 7, dtype=torch.float64, generator=g, requires_grad=True)
    t = torch.randint(0, 3, (2, 1, 7), generator=g)
    for squared, with_ce in ((False, True), (True, False)):

        def f(z: torch.Tensor, squared: bool = squared, with_ce: bool = with_ce) -> torch.Tensor:
            tp, sp, _, ce = _SoftmaxCounts.apply(z, t, squared, with_ce)
            return (tp / (sp + 1.0)).sum() + 0.1 * ce.sum()

        assert torch.autograd.gradgradcheck(f, (x,))
        loss = f(x)
        (g1,) = torch.autograd.grad(loss, x, retain_graph=True)
        (g2,) = torch.autograd.grad(loss, x)
        assert torch.equal(g1, g2)


@pytest.mark.parametrize("squared", [False, True])
def test_fused_sigmoid_counts_equal_autograd(squared: bool) -> None:
    """The fused binary/multilabel counts (sigmoid, products, sums, a two-pass hand-written
    backward) give the values and float64 gradients of the plain autograd form, exact second
    derivatives, and a retained graph can be walked twice."""
    from losskit.functional.overlap import _SigmoidCounts

    g = gen(5)
    x = torch.randn(2, 3, 40, dtype=torch.float64, generator=g, requires_grad=True)
    x.data[0, :, :5] *= 40.0  # saturated sigmoids: the derivative must vanish, not go NaN
    t = (torch.rand(2, 3, 40, generator=g) < 0.4).double()
    t[1, 0, :3] = 0.25  # soft targets are allowed
    w = [torch.randn(2, 3, dtype=torch.float64, generator=g) for _ in range(2)]

    def plain(z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        p = torch.sigmoid(z)
        if squared:
            return (p * t).sum(2), (p * p).sum(2), (t * t).sum(2)
        return (p * t).sum(2), p.sum(2), t.sum(2)

    got, want = _SigmoidCounts.apply(x, t, squared), plain(x)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)

    def total(parts: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return (parts[0] * w[0]).sum() + (parts[1] * w[1]).sum()

    (ga,) = torch.autograd.grad(total(_SigmoidCounts.apply(x, t, squared)), x)
    (gb,) = torch.autograd.grad(total(plain(x)), x)
    torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-15)
    small = x[:, :, 5:12].detach().clone().requires_grad_()
    ts = t[:, :, 5:12]

    def f(z: torch.Tensor) -> torch.Tensor:
        tp, sp, sg = _SigmoidCounts.apply(z, ts, squared)
        return (tp / (sp + sg + 1.0)).sum()

    assert torch.autograd.gradcheck(f, (small,))
    assert torch.autograd.gradgradcheck(f, (small,))
    loss = f(small)
    (g1,) = torch.autograd.grad(loss, small, retain_graph=True)
    (g2,) = torch.autograd.grad(loss, small)
    assert torch.equal(g1, g2)


def test_one_pass_target_check_keeps_every_error_and_exclusion() -> None:
    """The one-aminmax fast path for targets (in range, ignore_index absent) leaves every
    error message and exclusion as the general checks give them: an out-of-range value, a
    present ignore_index, a float label tensor and a target that needs its gradient."""
    x, y = _multiclass()
    with pytest.raises(ValueError, match="target must lie in"):
        dice_loss(x, y + 1, mode="multiclass")
    with pytest.raises(TypeError, match="integer"):
        dice_loss(x, y.double(), mode="multiclass")
    y2 = y.clone()
    y2[0, 0, 0] = -100  # present: the position leaves every sum
    keep = y2 != -100
    torch.testing.assert_close(dice_loss(x, y2, mode="multiclass"),
                               dice_loss(x, y.clamp_min(0), mode="multiclass", mask=keep))  # fmt: skip
    xl, t = _multilabel()
    with pytest.raises(ValueError, match="values in \\[0, 1\\]"):
        jaccard_loss(xl, t * 2, mode="multilabel")
    t2 = t.clone()
    t2[0, 0, 0, 0] = -100
    torch.testing.assert_close(jaccard_loss(xl, t2, mode="multilabel"),
                               jaccard_loss(xl, t.clamp_min(0), mode="multilabel",
                                            mask=t2 != -100))  # fmt: skip
    # a soft target that requires grad takes the autograd path: its gradient is kept
    soft = (t * 0.5).requires_grad_()
    jaccard_loss(xl, soft, mode="multilabel").backward()
    assert soft.grad is not None and soft.grad.abs().sum() > 0


_COMPILED_CASES = [
    ("dice", {}),
    ("dice", {"per_sample": False, "squared_pred": True}),
    ("dice", {"from_logits": False}),
    ("dice", {"ignore": True}),
    ("dice", {"mask": True, "per_sample": False}),
    ("jaccard", {"ignore": True}),
    ("tversky", {"fp_weight": 0.3, "fn_weight": 0.7}),
    ("generalized_dice", {"ignore": True}),
    ("dice_ce", {"ignore": True}),
    ("dice_ce", {"squared_pred": True, "per_sample": False}),
    # the cross-entropy term's compiled form (class weights or smoothing): one-hot rows as
    # probability targets, the mean over the class weights of the positions
    ("dice_ce", {"ignore": True,
                 "class_weight": torch.tensor([0.5, 1.0, 2.0, 1.5], dtype=torch.float64)}),
    ("dice_ce", {"mask": True, "label_smoothing": 0.1}),
    ("dice_ce", {"ignore": True, "label_smoothing": 0.2, "per_sample": False,
                 "class_weight": torch.tensor([1.0, 3.0, 0.5, 1.0], dtype=torch.float64)}),
    ("dice_focal", {"ignore": True}),
    # the focal term's compiled form: a left-out position as a very negative logit with no
    # class (gamma 0 too: its loss there is softplus of that logit, exactly 0), class
    # weights and a balance factor
    ("dice_focal", {"mask": True, "gamma": 0.0}),
    ("dice_focal", {"ignore": True, "alpha": 0.25,
                    "class_weight": torch.tensor([0.5, 1.0, 2.0, 1.5], dtype=torch.float64)}),
    ("dice_focal", {"mask": True, "alpha": torch.tensor([0.2, 0.4, 0.6, 0.8],
                                                        dtype=torch.float64).reshape(4, 1, 1)}),
    ("generalized_dice_focal", {}),
    ("generalized_dice_focal", {"mask": True, "per_sample": False}),
]


_COMPILED_SIGMOID_CASES = [
    ("dice", "multilabel", "ignore"), ("dice", "binary", "mask"),
    ("jaccard", "multilabel", "ignore"), ("jaccard", "multilabel", "mask"),
    ("jaccard", "multilabel", "none"), ("tversky", "multilabel", "ignore"),
    ("focal_tversky", "binary", "ignore"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "mode", "how"), _COMPILED_SIGMOID_CASES,
                         ids=["-".join(c) for c in _COMPILED_SIGMOID_CASES])  # fmt: skip
def test_compiled_sigmoid_counts_equal_eager(name: str, mode: str, how: str) -> None:
    """Under torch.compile the binary and multilabel counts take the sigmoid as an operator
    whose output the backward reads back, and the select of the left-out positions after it
    (fused into the sums): values and gradients equal the eager kernel's, finite, with a NaN
    logit at an ignored position and an inf one under a mask."""
    import losskit.functional as F

    logits, target = _multilabel(n=3, c=4, h=6, w=5, seed=43)
    if mode == "binary":
        logits, target = logits[:, 0].contiguous(), target[:, 0].contiguous()
    kwargs: dict = {}
    if how == "ignore":
        target[0, ..., :2] = 255.0
        logits[0, ..., 0] = float("nan")
        kwargs["ignore_index"] = 255
    elif how == "mask":
        keep = torch.ones(target.shape, dtype=torch.bool)
        keep[1, ..., 1:] = False
        logits[1, ..., 2] = float("inf")
        kwargs["mask"] = keep
    fn = getattr(F, f"{name}_loss")
    call = lambda z: fn(z, target, mode=mode, **kwargs)  # noqa: E731
    assert_compiled_equals_eager(call, logits)


@pytest.mark.parametrize(("name", "kwargs"), _COMPILED_CASES,
                         ids=[f"{n}-{'-'.join(k) or 'plain'}" for n, k in _COMPILED_CASES])  # fmt: skip
def test_compiled_multiclass_counts_equal_the_eager_kernel(name: str, kwargs: dict) -> None:
    """Under torch.compile the multiclass counts are reductions against a one-hot comparison
    with the labels as floats (no gather, no scatter); eager runs the fused softmax kernel.
    Values and gradients agree, also with positions left out (ignore_index, a mask) that
    hold a NaN logit, a void label 255 and a class absent from the batch."""
    import losskit.functional as F

    fn = getattr(F, f"{name}_loss")
    kwargs = dict(kwargs)
    logits, labels = _multiclass(n=3, c=4, h=6, w=5, seed=41)
    labels[labels == 3] = 2  # class 3 absent
    for how in ("ignore", "mask"):
        if kwargs.pop(how, False):
            kwargs.update(leave_out(logits, labels, how))
    if kwargs.get("from_logits") is False:
        logits = logits.softmax(1)
    call = lambda z: fn(z, labels, mode="multiclass", **kwargs)  # noqa: E731
    assert_compiled_equals_eager(call, logits)
