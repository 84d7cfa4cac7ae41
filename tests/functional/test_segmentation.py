"""Segmentation losses of the overlap family: generalized Dice, Lovász hinge and softmax, MCC.
Hand-worked values (derivations in comments), float64 parity with MONAI,
segmentation_models_pytorch and kornia (every deliberate difference written next to its
test), and the edges: empty targets and predictions, everything left out, one class."""

from __future__ import annotations

import math

import pytest
import segmentation_models_pytorch.losses as smp
import torch
from kornia.losses import lovasz_hinge_loss as kornia_hinge
from kornia.losses import lovasz_softmax_loss as kornia_softmax
from monai.losses import GeneralizedDiceLoss as MonaiGDL

from losskit import (
    GeneralizedDiceLoss,
    LovaszSoftmaxLoss,
    dice_loss,
    generalized_dice_loss,
    lovasz_hinge_loss,
    lovasz_softmax_loss,
    mcc_loss,
)

from ..conftest import assert_compiled_equals_eager, gen, leave_out


def _multiclass(n=3, c=4, h=6, w=5, seed=0, dtype=torch.float64):
    g = gen(seed)
    logits = torch.randn(n, c, h, w, generator=g, dtype=dtype) * 2
    labels = torch.randint(0, c, (n, h, w), generator=g)
    return logits, labels


def _binary(n=3, h=6, w=5, seed=0, dtype=torch.float64, p=0.4):
    g = gen(seed)
    logits = torch.randn(n, h, w, generator=g, dtype=dtype) * 2
    target = (torch.rand(n, h, w, generator=g) < p).to(dtype)
    return logits, target


def _both(fn_ours, fn_theirs, x):
    """Values and input gradients of two implementations on copies of ``x``."""
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    va, vb = fn_ours(a), fn_theirs(b)
    va.sum().backward()
    vb.sum().backward()
    return va, vb, a.grad, b.grad


# ---- generalized Dice ---------------------------------------------------------------------


def test_generalized_dice_hand_worked() -> None:
    # two classes over 4 pixels; labels (0, 1, 1, 1): |G0| = 1, |G1| = 3
    # p0 = (1, 1, 0, 0), p1 = (0, 0, 1, 1): TP0 = 1, TP1 = 2, |P0| = |P1| = 2
    p = torch.tensor([[[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]], dtype=torch.float64)
    y = torch.tensor([[0, 1, 1, 1]])
    kw = {"mode": "multiclass", "from_logits": False, "smooth": 0.0, "reduction": "none"}
    # square: w = (1, 1/9): 1 - 2 (1 + 2/9) / (3 + 5/9) = 1 - 22/32
    torch.testing.assert_close(
        generalized_dice_loss(p, y, **kw), torch.tensor([10 / 32], dtype=torch.float64)
    )
    # simple: w = (1, 1/3): 1 - 2 (1 + 2/3) / (3 + 5/3) = 1 - (10/3) / (14/3) = 4/14
    torch.testing.assert_close(
        generalized_dice_loss(p, y, weighting="simple", **kw),
        torch.tensor([4 / 14], dtype=torch.float64),
    )
    # uniform: the Dice of the classes pooled: 1 - 2 * 3 / (4 + 4) = 1/4
    torch.testing.assert_close(
        generalized_dice_loss(p, y, weighting="uniform", **kw),
        torch.tensor([0.25], dtype=torch.float64),
    )


@pytest.mark.parametrize("weighting", ["square", "simple", "uniform"])
@pytest.mark.parametrize("per_sample", [True, False], ids=["per-sample", "batch"])
def test_generalized_dice_equals_monai(weighting: str, per_sample: bool) -> None:
    x, y = _multiclass(seed=1)
    y[0][y[0] == 2] = 0  # class 2 absent from sample 0: the max-weight rule is exercised
    peer = MonaiGDL(softmax=True, to_onehot_y=True, w_type=weighting, smooth_nr=1e-5,
                    smooth_dr=1e-5, batch=not per_sample, reduction="none")  # fmt: skip
    ours, theirs, ga, gb = _both(
        lambda z: generalized_dice_loss(z, y, mode="multiclass", weighting=weighting,
                                        per_sample=per_sample, reduction="none"),  # fmt: skip
        lambda z: peer(z, y.unsqueeze(1)).reshape(-1),
        x,
    )
    # MONAI computes the class weights in float32 (ground_o.float()), losskit in the input's
    # dtype: float64 agrees to float32's rounding of the weights
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(ga, gb, rtol=1e-5, atol=1e-9)
    # multilabel (sigmoid) too
    t = (torch.rand(x.shape, generator=gen(3)) < 0.3).double()
    peer = MonaiGDL(sigmoid=True, w_type=weighting, batch=not per_sample, reduction="none")
    ours = generalized_dice_loss(x, t, mode="multilabel", weighting=weighting,
                                 per_sample=per_sample, reduction="none")  # fmt: skip
    torch.testing.assert_close(ours, peer(x, t).reshape(-1), rtol=1e-6, atol=1e-9)


def test_generalized_dice_weights_do_not_cancel() -> None:
    """The paper's formula sums the weighted counts over the classes before the ratio. The
    per-class ratio that MONAI used before 1.3 (its issues 369 and 6765) cancels the weights:
    it is the same for every weighting, the mean of the per-class Dice losses."""
    x, y = _multiclass(seed=4)
    kw = {"mode": "multiclass", "smooth": 0.0, "reduction": "none"}
    square = generalized_dice_loss(x, y, **kw)
    uniform = generalized_dice_loss(x, y, weighting="uniform", **kw)
    assert (square - uniform).abs().min() > 1e-3  # the weights act
    cancelled = dice_loss(x, y, **kw).mean(1)  # 1 - 2 w TP / (w (|P| + |G|)), class mean
    assert (square - cancelled).abs().min() > 1e-3


def test_generalized_dice_absent_classes() -> None:
    """A class absent from the sample takes the largest present weight (MONAI's rule); with no
    class present at all every weight is 1, so false positives are still penalised: MONAI
    gives every weight 0 there and a loss of 0 whatever is predicted."""
    x = torch.full((2, 1, 4), 3.0, dtype=torch.float64)  # confident foreground everywhere
    empty = torch.zeros(2, 1, 4, dtype=torch.float64)
    ours = generalized_dice_loss(x, empty, mode="multilabel", reduction="none")
    theirs = MonaiGDL(sigmoid=True, reduction="none")(x, empty).reshape(-1)
    assert torch.all(theirs == 0.0)  # MONAI: no penalty for painting an empty image
    p = torch.sigmoid(torch.tensor(3.0, dtype=torch.float64))
    # w = 1: 1 - smooth / (4 p + smooth), close to 1
    torch.testing.assert_close(ours, (1 - 1e-5 / (4 * p + 1e-5)).expand(2))
    # an empty prediction on an empty target scores 0 (probabilities, any smooth)
    z = generalized_dice_loss(empty, empty, mode="multilabel", from_logits=False, smooth=0.0)
    assert z.item() == 0.0
    # finite values and gradients when a class is absent from the whole batch
    xc, yc = _multiclass(seed=5)
    yc[yc == 3] = 0
    xc.requires_grad_()
    out = generalized_dice_loss(xc, yc, mode="multiclass", per_sample=False)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(xc.grad).all()


def test_generalized_dice_everything_left_out_is_zero_with_gradient() -> None:
    x, y = _multiclass(seed=6)
    x.requires_grad_()
    out = generalized_dice_loss(x, torch.full_like(y, -100), mode="multiclass")
    out.backward()
    assert out.item() == 0.0 and torch.equal(x.grad, torch.zeros_like(x))


# ---- Lovász hinge -------------------------------------------------------------------------


def test_lovasz_hinge_hand_worked() -> None:
    # logits (2, -0.5, -3), target (1, 1, 0): hinge errors 1 - x s = (-1, 1.5, -2)
    # sorted decreasing: 1.5 (fg), -1 (fg), -2 (bg); G = 2
    # J_1 = 1 - 1/2 = 1/2, J_2 = 1 - 0/2 = 1, J_3 = 1: deltas (1/2, 1/2, 0)
    # loss = relu(1.5) 1/2 + relu(-1) 1/2 = 0.75
    x = torch.tensor([[2.0, -0.5, -3.0]], dtype=torch.float64)
    g = torch.tensor([[1.0, 1.0, 0.0]], dtype=torch.float64)
    assert lovasz_hinge_loss(x, g).item() == pytest.approx(0.75)
    # an empty target: J_k = 1 from k = 1, the loss is the largest hinge error
    e = torch.zeros(1, 3, dtype=torch.float64)
    assert lovasz_hinge_loss(x, e).item() == pytest.approx(3.0)  # 1 + 2 on the first pixel
    # ... and 0 once every logit is at most -1 (an empty prediction of margin 1)
    assert lovasz_hinge_loss(torch.full((1, 3), -1.0), torch.zeros(1, 3)).item() == 0.0


# SMP's Lovász computes its Jaccard increments in float32 (``.float()``) and cannot take
# float64 input (``torch.dot`` of float64 and float32 raises): its parity is in float32
F32 = {"rtol": 1e-5, "atol": 1e-6}


@pytest.mark.parametrize("per_sample", [True, False], ids=["per-image", "batch"])
@pytest.mark.parametrize("ignore", [None, 255])
def test_lovasz_hinge_equals_smp(per_sample: bool, ignore) -> None:
    x, t = _binary(seed=7, dtype=torch.float32)
    if ignore is not None:
        t[0, :2] = ignore
    peer = smp.LovaszLoss(mode="binary", per_image=per_sample, ignore_index=ignore)
    ours, theirs, ga, gb = _both(
        lambda z: lovasz_hinge_loss(z, t, per_sample=per_sample,
                                    ignore_index=-100 if ignore is None else ignore),  # fmt: skip
        lambda z: peer(z, t),
        x,
    )
    torch.testing.assert_close(ours, theirs, **F32)
    torch.testing.assert_close(ga, gb, **F32)


def test_lovasz_hinge_equals_kornia() -> None:
    x, t = _binary(seed=8)
    ours, theirs, ga, gb = _both(
        lambda z: lovasz_hinge_loss(z, t),
        lambda z: kornia_hinge(z.unsqueeze(1), t),
        x,
    )
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-12)


def test_lovasz_hinge_multilabel_is_one_mask_per_sample() -> None:
    """A (N, C, H, W) input is scored over all its channels at once, as SMP's multilabel."""
    g = gen(9)
    x = torch.randn(2, 3, 4, 5, generator=g)
    t = (torch.rand(2, 3, 4, 5, generator=g) < 0.4).float()
    peer = smp.LovaszLoss(mode="multilabel", per_image=True)
    torch.testing.assert_close(lovasz_hinge_loss(x, t), peer(x, t), **F32)


def test_lovasz_hinge_all_left_out_and_fully_masked_sample() -> None:
    x, t = _binary(seed=10)
    x.requires_grad_()
    out = lovasz_hinge_loss(x, t, mask=torch.zeros_like(t, dtype=torch.bool))
    out.backward()
    assert out.item() == 0.0 and torch.equal(x.grad, torch.zeros_like(x))
    # a sample whose every pixel is left out leaves the mean
    m = torch.ones_like(t, dtype=torch.bool)
    m[1] = False
    torch.testing.assert_close(
        lovasz_hinge_loss(x, t, mask=m), lovasz_hinge_loss(x[[0, 2]], t[[0, 2]])
    )


# ---- Lovász-softmax -----------------------------------------------------------------------


def test_lovasz_softmax_hand_worked() -> None:
    # one sample, two classes, two pixels both labelled 0; p0 = (0.9, 0.4)
    # class 0: errors (0.1, 0.6), fg (1, 1): sorted 0.6, 0.1: J = 1/2, 1: 0.6/2 + 0.1/2 = 0.35
    # class 1 is absent: "present" leaves it out; "all": errors (0.1, 0.6), fg none: J = 1, 1:
    # 0.6, and the mean (0.35 + 0.6) / 2
    p = torch.tensor([[[0.9, 0.4], [0.1, 0.6]]], dtype=torch.float64)
    y = torch.tensor([[0, 0]])
    assert lovasz_softmax_loss(p, y, from_logits=False).item() == pytest.approx(0.35)
    assert lovasz_softmax_loss(p, y, classes="all", from_logits=False).item() == pytest.approx(
        0.475
    )
    # a subset of classes: class_weight 1 on it, 0 elsewhere ("all": absent ones count)
    cw = torch.tensor([0.0, 1.0], dtype=torch.float64)
    got = lovasz_softmax_loss(p, y, classes="all", class_weight=cw, from_logits=False)
    assert got.item() == pytest.approx(0.6)


@pytest.mark.parametrize("per_sample", [True, False], ids=["per-image", "batch"])
@pytest.mark.parametrize("ignore", [None, 255])
def test_lovasz_softmax_equals_smp(per_sample: bool, ignore) -> None:
    x, y = _multiclass(seed=11, dtype=torch.float32)
    y[1][y[1] == 3] = 1  # class 3 absent from sample 1: "present" leaves it out there
    if ignore is not None:
        y[0, :2] = ignore
    peer = smp.LovaszLoss(mode="multiclass", per_image=per_sample, ignore_index=ignore)
    ours, theirs, ga, gb = _both(
        lambda z: lovasz_softmax_loss(z, y, per_sample=per_sample,
                                      ignore_index=-100 if ignore is None else ignore),  # fmt: skip
        lambda z: peer(z, y),
        x,
    )
    torch.testing.assert_close(ours, theirs, **F32)
    torch.testing.assert_close(ga, gb, **F32)


def test_lovasz_softmax_equals_kornia_with_all_classes() -> None:
    """kornia averages every class of every image: classes="all", per sample. Its class
    weight multiplies each class's loss and divides by C, where losskit divides by the total
    class weight (a weighted mean), so the two differ with a class weight."""
    x, y = _multiclass(seed=12)
    y[0][y[0] == 1] = 0  # an absent class: kornia counts it
    ours, theirs, ga, gb = _both(
        lambda z: lovasz_softmax_loss(z, y, classes="all"), lambda z: kornia_softmax(z, y), x
    )
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-12)
    cw = torch.tensor([1.0, 2.0, 0.5, 0.5], dtype=torch.float64)
    ours = lovasz_softmax_loss(x, y, classes="all", class_weight=cw)
    theirs = kornia_softmax(x, y, weight=cw)
    torch.testing.assert_close(ours * cw.sum() / 4, theirs, rtol=1e-12, atol=1e-12)


def test_lovasz_softmax_float32_follows_float64_order() -> None:
    """The sort order is taken in float64, so a float32 call differentiates the same
    piece of the loss as a float64 one even where float32 rounds probabilities to ties."""
    x, y = _multiclass(seed=13)
    x = (x * 1e-9).float().double()
    grads = []
    for dt in (torch.float64, torch.float32):
        z = x.to(dt).detach().requires_grad_()
        lovasz_softmax_loss(z, y).backward()
        grads.append(z.grad.double())
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-3, atol=1e-3 * grads[0].abs().max())


def test_lovasz_softmax_module_and_one_class() -> None:
    x, y = _multiclass(seed=14)
    torch.testing.assert_close(LovaszSoftmaxLoss(classes="all")(x, y),
                               lovasz_softmax_loss(x, y, classes="all"))  # fmt: skip
    # one class: the softmax is 1 everywhere, a perfect prediction
    one = torch.randn(2, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    out = lovasz_softmax_loss(one, torch.zeros(2, 3, 3, dtype=torch.long))
    out.backward()
    assert out.item() == 0.0 and torch.isfinite(one.grad).all()


# ---- MCC ----------------------------------------------------------------------------------


def test_mcc_hand_worked() -> None:
    # TP = 2, FP = 0, FN = 1, TN = 1: MCC = (2 - 0) / sqrt(2 * 3 * 1 * 2) = 2 / sqrt(12)
    p = torch.tensor([[1.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    g = torch.tensor([[1.0, 1.0, 1.0, 0.0]], dtype=torch.float64)
    got = mcc_loss(p, g, from_logits=False, eps=1e-12)
    assert got.item() == pytest.approx(1 - 2 / 12**0.5)
    # perfectly anti-correlated: MCC = -1, loss 2
    assert mcc_loss(1 - g, g, from_logits=False, eps=1e-12).item() == pytest.approx(2.0)


def test_mcc_equals_smp() -> None:
    """SMP's MCCLoss: binary, probabilities, counts over the whole batch."""
    x, t = _binary(seed=15)
    p = torch.sigmoid(x)
    ours, theirs, ga, gb = _both(
        lambda z: mcc_loss(z, t, from_logits=False, per_sample=False),
        lambda z: smp.MCCLoss()(z, t),
        p,
    )
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-12)


def test_mcc_empty_prediction_on_empty_target_is_zero() -> None:
    """A deliberate difference from SMP: its eps-regularised 0/0 gives about 0.5 for a perfect
    empty prediction; losskit scores it 0, as every overlap loss does."""
    e = torch.zeros(2, 5, dtype=torch.float64)
    assert mcc_loss(e, e, from_logits=False).item() == 0.0
    assert smp.MCCLoss()(e, e).item() == pytest.approx(0.5, abs=1e-3)


def test_mcc_multiclass_and_ignore_index() -> None:
    x, y = _multiclass(seed=16)
    y[0, 0] = -100
    got = mcc_loss(x, y, mode="multiclass", reduction="none")
    assert got.shape == (3, 4) and torch.isfinite(got).all()
    # equals the multilabel loss on the one-hot target with those positions masked out
    keep = y != -100
    onehot = torch.nn.functional.one_hot(y.clamp_min(0), 4).movedim(-1, 1).double()
    ref = mcc_loss(torch.softmax(x, 1), onehot, mode="multilabel", from_logits=False,
                   mask=keep.unsqueeze(1), reduction="none")  # fmt: skip
    torch.testing.assert_close(got, ref)


def test_generalized_dice_module_repr() -> None:
    m = GeneralizedDiceLoss(mode="multiclass", weighting="simple")
    assert "weighting='simple'" in repr(m)


def test_lovasz_radix_order_is_the_stable_descending_sort() -> None:
    """The integer-bits order (a radix sort) is the permutation of a stable descending float
    sort, ties (including -0.0 against +0.0) kept in position order, +-inf in place, for
    float32 and float64 keys, above and below the size where torch switches to radix."""
    from losskit.functional.overlap import _descending_order

    g = gen(30)
    for dtype in (torch.float32, torch.float64):
        for n in (9, 40000):
            k = (torch.randn(n, generator=g) * 3).round().to(dtype)  # many ties
            k[::5] = torch.randn(len(k[::5]), generator=g).to(dtype)
            k[::11], k[::13], k[::17], k[::19] = 0.0, -0.0, -float("inf"), float("inf")
            want = k.sort(descending=True, stable=True).indices
            assert torch.equal(_descending_order(k), want), (dtype, n)


def test_lovasz_weights_scattered_back_equal_the_sorted_sum() -> None:
    """The Lovász sum taken as errors times weights scattered back to their positions equals
    the textbook form (errors sorted, times the Jaccard increments) in value and in float64
    gradient, with excluded positions and ties."""
    from losskit.functional.overlap import _jaccard_increments, _lovasz

    g = gen(31)
    e = torch.rand(2, 3, 50, generator=g, dtype=torch.float64).requires_grad_()
    key = e.detach().clone()
    key[:, :, 10:20] = 0.5  # ties: broken by position
    fg = (torch.rand(2, 3, 50, generator=g) < 0.4).double()
    keep = torch.rand(2, 3, 50, generator=g) < 0.8
    got = _lovasz(e, lambda i: key[i], fg, keep)
    kk = torch.where(keep, key, -math.inf)
    order = kk.sort(dim=-1, descending=True, stable=True).indices
    ee, ff = torch.where(keep, e, 0.0), torch.where(keep, fg, 0.0)
    want = (ee.gather(-1, order) * _jaccard_increments(ff.gather(-1, order))).sum(-1)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    # a 0/1 foreground may be gathered from a uint8 copy: the same weights
    assert torch.equal(_lovasz(e, lambda i: key[i], fg, keep, binary=True), got)
    w = torch.randn(2, 3, generator=g, dtype=torch.float64)
    (ga,) = torch.autograd.grad((got * w).sum(), e)
    (gb,) = torch.autograd.grad((want * w).sum(), e)
    torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-12)


def test_lovasz_softmax_leaves_float64_probabilities_untouched() -> None:
    """The float64 sort key is built in place: on its own copy, never on the caller's
    float64 probabilities."""
    x, y = _multiclass(seed=32)
    p = torch.softmax(x, 1)
    before = p.clone()
    lovasz_softmax_loss(p, y, from_logits=False)
    lovasz_softmax_loss(p, y, from_logits=False, per_sample=False)
    assert torch.equal(p, before)


@pytest.mark.parametrize("tp_weighting", ["inverse_volume", "foreground"])
@pytest.mark.parametrize("how", ["none", "ignore", "mask"])
def test_compiled_wasserstein_dice_equals_eager(tp_weighting: str, how: str) -> None:
    """Under torch.compile the Wasserstein map and the volume weights come from the labels'
    one-hot form (sums over the class axis, no gather or scatter-add); eager runs the
    hand-written map. Values and gradients agree, with positions left out that hold a NaN
    logit and a void label, and a class absent from the batch."""
    from losskit import generalized_wasserstein_dice_loss

    g = gen(43)
    logits = torch.randn(3, 4, 5, 6, generator=g, dtype=torch.float64) * 2
    labels = torch.randint(0, 3, (3, 5, 6), generator=g)  # class 3 absent
    dist = torch.rand(4, 4, generator=g, dtype=torch.float64)
    dist = (dist + dist.T).fill_diagonal_(0.0)
    kwargs: dict = {"class_distance": dist, "tp_weighting": tp_weighting}
    kwargs.update(leave_out(logits, labels, how))
    call = lambda z: generalized_wasserstein_dice_loss(z, labels, **kwargs)  # noqa: E731
    assert_compiled_equals_eager(call, logits)
