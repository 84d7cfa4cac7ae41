"""Registry entries for the probability (classification) losses: BCE, weighted and balanced
BCE, sigmoid and softmax focal loss, softmax cross-entropy; and the dense-detection losses:
quality focal, varifocal, Gaussian focal and distribution focal loss.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch

from .. import functional as F
from ._base import LossInputs, LossSpec
from ._explain import Curve, Panel, scalar_curve
from ._inputs import rand, randint, randn

_PAPER_FOCAL = (
    "Lin, Goyal, Girshick, He, Dollar, 'Focal Loss for Dense Object Detection', ICCV 2017, "
    "arXiv:1708.02002"
)
_PAPER_HED = "Xie, Tu, 'Holistically-Nested Edge Detection', ICCV 2015, arXiv:1504.06375"
_PAPER_LS = (
    "Szegedy, Vanhoucke, Ioffe, Shlens, Wojna, 'Rethinking the Inception Architecture for "
    "Computer Vision', CVPR 2016, arXiv:1512.00567 (label smoothing)"
)

_C = 4  # classes in the test inputs
_ALPHA = (0.4, 0.1, 0.3, 0.2)
_CLASS_WEIGHT = (1.0, 2.0, 0.5, 1.5)


# ---- input makers ----------------------------------------------------------------------------


def _dense(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    """Multi-label dense logits ``(n, 3, 4, 4)`` and soft targets in [0, 1]."""
    x = randn(generator, n, 3, 4, 4, dtype=dtype, device=device) * 2.0
    y = rand(generator, n, 3, 4, 4, dtype=dtype, device=device)
    return LossInputs(args=(x, y), batched=(True, True))


def _binary_masks(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    """Segmentation-like ``(n, 1, 4, 5)`` logits and 0/1 masks with about 20 % foreground."""
    x = randn(generator, n, 1, 4, 5, dtype=dtype, device=device) * 2.0
    y = (rand(generator, n, 1, 4, 5, dtype=torch.float64) < 0.2).to(device=device, dtype=dtype)
    return LossInputs(args=(x, y), batched=(True, True))


def _labels(g: torch.Generator, *shape: int, device: torch.device | str) -> torch.Tensor:
    """Class indices with about one in six set to the default ignore_index (-100)."""
    y = randint(g, _C, *shape)
    drop = torch.rand(*shape, generator=g) < 1 / 6
    return torch.where(drop, torch.full_like(y, -100), y).to(device)


def _dense_classes(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    x = randn(generator, n, _C, 3, dtype=dtype, device=device) * 2.0
    return LossInputs(args=(x, _labels(generator, n, 3, device=device)), batched=(True, True))


def _classes(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    x = randn(generator, n, _C, dtype=dtype, device=device) * 2.0
    return LossInputs(args=(x, _labels(generator, n, device=device)), batched=(True, True))


def _sparse_positives(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    """Dense detection: ``(n, 3, 4, 4)`` logits and 0/1 targets with about 15 % positives (the
    0/1 targets keep the harness's finite differences away from the loss's jump at 0 and 1)."""
    x = randn(generator, n, 3, 4, 4, dtype=dtype, device=device) * 2.0
    y = (rand(generator, n, 3, 4, 4, dtype=torch.float64) < 0.15).to(device=device, dtype=dtype)
    return LossInputs(args=(x, y), batched=(True, True))


_BINS = 8
_VIEWS = 3


def _views(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    """Jensen-Shannon consistency: ``(n, 4, 3)`` logits (3 views per sample), labels ``(n,)``."""
    x = randn(generator, n, _C, _VIEWS, dtype=dtype, device=device) * 2.0
    return LossInputs(args=(x, _labels(generator, n, device=device)), batched=(True, True))


def _student_teacher(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    """Distillation: student and teacher logits ``(n, 4, 3)``."""
    z = randn(generator, n, _C, 3, dtype=dtype, device=device) * 2.0
    t = randn(generator, n, _C, 3, dtype=dtype, device=device) * 3.0
    return LossInputs(args=(z, t), batched=(True, True))


def _side_distributions(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    """Distribution focal loss: ``(n, 4, 8)`` logits over 8 bins, targets in ``(0, 7)``."""
    x = randn(generator, n, 4, _BINS, dtype=dtype, device=device) * 2.0
    y = rand(generator, n, 4, dtype=torch.float64) * (_BINS - 1)
    return LossInputs(args=(x, y.to(device=device, dtype=dtype)), batched=(True, True))


# ---- explain panels ------------------------------------------------------------------------

_Z = torch.linspace(-8.0, 8.0, 401, dtype=torch.float64)


def _explain_bce() -> tuple[Panel, ...]:
    curves = tuple(
        scalar_curve(
            f"target y = {y:g}",
            _Z,
            lambda t, y=y: F.bce_loss(t, torch.full_like(t, y), reduction="none"),
        )
        for y in (1.0, 0.0)
    )
    note = "The gradient is sigmoid(z) - y: bounded by 1 and largest for a confident mistake."
    return (Panel("over the logit", "logit z", _Z, curves, note),)


def _explain_weighted() -> tuple[Panel, ...]:
    curves = tuple(
        scalar_curve(
            f"positive, beta = {b:g}",
            _Z,
            lambda t, b=b: F.weighted_bce_loss(
                t, torch.ones_like(t), pos_weight=b, reduction="none"
            ),
        )
        for b in (1.0, 3.0, 10.0)
    )
    neg = scalar_curve(
        "negative (any beta)",
        _Z,
        lambda t: F.weighted_bce_loss(t, torch.zeros_like(t), pos_weight=3.0, reduction="none"),
    )
    note = "beta scales the positive term and its gradient; the negative term is unchanged."
    return (Panel("over the logit", "logit z", _Z, (*curves, neg), note),)


def _explain_balanced() -> tuple[Panel, ...]:
    # an image of 20 pixels with 1 positive (beta = 0.95), every pixel at logit z
    target = torch.zeros(1, 20, dtype=torch.float64)
    target[0, 0] = 1.0

    def pixel(i: int) -> Callable[[torch.Tensor], torch.Tensor]:
        def loss_of(t: torch.Tensor) -> torch.Tensor:
            pred = t[:, None].expand(-1, 20)
            return F.balanced_bce_loss(pred, target.expand_as(pred), reduction="none")[:, i]

        return loss_of

    curves = (
        scalar_curve("the positive pixel (weight beta = 0.95)", _Z, pixel(0)),
        scalar_curve("a negative pixel (weight 1 - beta = 0.05)", _Z, pixel(1)),
    )
    note = "beta comes from the target: one positive in 20 pixels weighs 19x each negative."
    return (Panel("over the logit, 5 % foreground", "logit z", _Z, curves, note),)


def _explain_focal() -> tuple[Panel, ...]:
    pt = torch.linspace(0.01, 0.99, 393, dtype=torch.float64)

    def curve(gamma: float):
        def loss_of(t: torch.Tensor) -> torch.Tensor:
            z = torch.log(t / (1 - t))
            return F.focal_loss(z, torch.ones_like(z), alpha=None, gamma=gamma, reduction="none")

        return scalar_curve(f"gamma = {gamma:g}" + (" (BCE)" if gamma == 0 else ""), pt, loss_of)

    note = (
        "(1 - p_t)^gamma silences easy examples: at gamma = 2, p_t = 0.9 costs 100x less than BCE."
    )
    return (
        Panel(
            "over p_t",
            "probability of the true class p_t",
            pt,
            tuple(curve(g) for g in (0.0, 0.5, 2.0, 5.0)),
            note,
        ),
    )


def _target_margin(
    fn: Callable[..., torch.Tensor], **kw: Any
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Loss of logits (m, 0, 0, 0) with target class 0, as a function of the margin m."""

    def loss_of(t: torch.Tensor) -> torch.Tensor:
        logits = torch.cat([t[:, None], torch.zeros(t.shape[0], 3, dtype=t.dtype)], dim=1)
        return fn(logits, torch.zeros(t.shape[0], dtype=torch.long), reduction="none", **kw)

    return loss_of


def _explain_softmax_focal() -> tuple[Panel, ...]:
    curves = tuple(
        scalar_curve(
            f"gamma = {g:g}" + (" (CE)" if g == 0 else ""),
            _Z,
            _target_margin(F.softmax_focal_loss, gamma=g),
        )
        for g in (0.0, 1.0, 2.0)
    )
    note = "Once the target class wins (p_y near 1) the focal term drops the loss and its gradient fast."
    return (
        Panel(
            "over the target logit's margin, 4 classes",
            "target logit - other logits",
            _Z,
            curves,
            note,
        ),
    )


def _explain_ce() -> tuple[Panel, ...]:
    curves = tuple(
        scalar_curve(
            f"label smoothing {ls:g}",
            _Z,
            _target_margin(F.softmax_cross_entropy, label_smoothing=ls),
        )
        for ls in (0.0, 0.1)
    )
    note = "The gradient is softmax(z) - y; with label smoothing the loss has a minimum at a finite margin."
    return (
        Panel(
            "over the target logit's margin, 4 classes",
            "target logit - other logits",
            _Z,
            curves,
            note,
        ),
    )


def _explain_quality() -> tuple[Panel, ...]:
    curves = tuple(
        scalar_curve(
            f"quality target y = {y:g}",
            _Z,
            lambda t, y=y: F.quality_focal_loss(t, torch.full_like(t, y), reduction="none"),
        )
        for y in (0.0, 0.5, 0.9)
    )
    note = "Zero where sigmoid(z) equals the soft target y; |y - p|^2 silences the near misses."
    return (Panel("over the logit, soft (IoU) targets", "logit z", _Z, curves, note),)


def _explain_varifocal() -> tuple[Panel, ...]:
    curves = tuple(
        scalar_curve(
            f"positive, IoU target q = {q:g}" if q else "negative (q = 0): 0.75 p^2 BCE",
            _Z,
            lambda t, q=q: F.varifocal_loss(t, torch.full_like(t, q), reduction="none"),
        )
        for q in (0.9, 0.5, 0.0)
    )
    note = "Positives keep their full BCE (weighted by q); only negatives get the focal factor."
    return (Panel("over the logit", "logit z", _Z, curves, note),)


def _explain_gaussian() -> tuple[Panel, ...]:
    labels = {1.0: "peak (y = 1)", 0.8: "next to a peak (y = 0.8)", 0.0: "background (y = 0)"}
    curves = tuple(
        scalar_curve(
            label,
            _Z,
            lambda t, y=y: F.gaussian_focal_loss(t, torch.full_like(t, y), reduction="none"),
        )
        for y, label in labels.items()
    )
    note = "(1 - y)^4 forgives a confident prediction next to a peak: 0.2^4 = 0.0016 at y = 0.8."
    return (Panel("over the heatmap logit", "logit z", _Z, curves, note),)


def _explain_distribution() -> tuple[Panel, ...]:
    n = 8
    bins = torch.arange(n, dtype=torch.float64)
    peaked = -((bins - 3.0) ** 2) / 0.5  # a distribution concentrated on bin 3
    y = torch.linspace(0.0, n - 1.0, 351, dtype=torch.float64)
    over_target = scalar_curve(
        "prediction peaked at bin 3",
        y,
        lambda t: F.distribution_focal_loss(peaked.expand(len(t), n), t, reduction="none"),
    )
    mu = torch.linspace(0.0, n - 1.0, 351, dtype=torch.float64)

    def moving(t: torch.Tensor) -> torch.Tensor:
        logits = -((bins[None, :] - t[:, None]) ** 2) / 0.5
        return F.distribution_focal_loss(logits, torch.full_like(t, 3.3), reduction="none")

    return (
        Panel("over the continuous target", "target y (bins)", y, (over_target,),
              "Linear between bins: the target's mass is split between floor(y) and floor(y) + 1."),
        Panel("over the predicted distribution's centre", "centre mu of the logits -(i - mu)^2 / 0.5",
              mu, (scalar_curve("target y = 3.3", mu, moving),),
              "Minimal near 3.3, where bins 3 and 4 get the two-hot target's 0.7 and 0.3."),
    )  # fmt: skip


def _explain_asymmetric() -> tuple[Panel, ...]:
    def curve(label: str, y: float, **kw: Any) -> Curve:
        return scalar_curve(label, _Z, lambda t: F.asymmetric_loss(
            t, torch.full_like(t, y), reduction="none", **kw))  # fmt: skip

    curves = (
        curve("positive (gamma_pos = 1)", 1.0),
        curve("negative (gamma_neg = 4, clip 0.05)", 0.0),
        curve("negative, BCE (no focusing, no clip)", 0.0, gamma_pos=0.0, gamma_neg=0.0, clip=0.0),
    )
    note = "Easy negatives cost nothing: p below the clip 0.05 is discarded, p^4 silences the rest."
    return (Panel("over the logit of one label", "logit z", _Z, curves, note),)


def _explain_asymmetric_softmax() -> tuple[Panel, ...]:
    curves = tuple(
        scalar_curve(
            label,
            _Z,
            _target_margin(F.asymmetric_softmax_loss, label_smoothing=0.1, **kw),
        )
        for label, kw in (
            ("gamma_pos 0, gamma_neg 0 (smoothed CE)", {"gamma_pos": 0.0, "gamma_neg": 0.0}),
            ("gamma_pos 1, gamma_neg 4", {}),
        )
    )
    note = "With label smoothing, p_c^4 stops pulling mass towards the classes already ruled out."
    return (Panel("over the target logit's margin, 4 classes, smoothing 0.1",
                  "target logit - other logits", _Z, curves, note),)  # fmt: skip


def _explain_poly_ce() -> tuple[Panel, ...]:
    curves = tuple(
        scalar_curve(f"epsilon = {e:g}" + (" (CE)" if e == 0 else ""), _Z,
                     _target_margin(F.poly1_cross_entropy, poly_coef=e))  # fmt: skip
        for e in (-1.0, 0.0, 2.0)
    )
    note = "epsilon (1 - p_t) adds a constant -epsilon p_t (1 - p_t) to the logit's gradient."
    return (Panel("over the target logit's margin, 4 classes", "target logit - other logits",
                  _Z, curves, note),)  # fmt: skip


def _explain_poly_focal() -> tuple[Panel, ...]:
    curves = tuple(
        scalar_curve(f"epsilon = {e:g}" + (" (focal)" if e == 0 else ""), _Z,
                     lambda t, e=e: F.poly1_focal_loss(t, torch.ones_like(t), poly_coef=e,
                                                       reduction="none"))  # fmt: skip
        for e in (-1.0, 0.0, 1.0)
    )
    note = "epsilon (1 - p_t)^3 reshapes the focal loss where the example is still hard."
    return (Panel("over the logit of a positive", "logit z", _Z, curves, note),)


def _explain_jsd() -> tuple[Panel, ...]:
    # clean view (2, 0, 0, 0); one augmented view's target logit moves; the other = clean
    def loss_of(weight: float):
        def f(t: torch.Tensor) -> torch.Tensor:
            k = len(t)
            clean = torch.tensor([2.0, 0.0, 0.0, 0.0], dtype=t.dtype).expand(k, 4)
            moved = torch.cat([t[:, None], torch.zeros(k, 3, dtype=t.dtype)], 1)
            z = torch.stack([clean, moved, clean], 2)
            return F.jsd_cross_entropy(z, torch.zeros(k, dtype=torch.long),
                                       consistency_weight=weight, reduction="none")  # fmt: skip

        return f

    curves = tuple(scalar_curve(f"lambda = {w:g}", _Z, loss_of(w)) for w in (0.0, 12.0))
    note = "Minimal where the augmented view agrees with the clean one (target logit 2)."
    return (Panel("over one augmented view's target logit", "target logit of view 2", _Z,
                  curves, note),)  # fmt: skip


def _explain_distillation() -> tuple[Panel, ...]:
    teacher = torch.tensor([[3.0, 1.0, 0.0, 0.0]], dtype=torch.float64)

    def loss_of(temperature: float):
        def f(t: torch.Tensor) -> torch.Tensor:
            k = len(t)
            z = torch.cat([t[:, None], torch.tensor([1.0, 0.0, 0.0], dtype=t.dtype).expand(k, 3)], 1)
            return F.distillation_loss(z, teacher.expand(k, 4), temperature=temperature,
                                       reduction="none")  # fmt: skip

        return f

    curves = tuple(scalar_curve(f"T = {tt:g}", _Z, loss_of(tt)) for tt in (1.0, 4.0))
    note = "Zero where the student's logit equals the teacher's (3); T^2 keeps the slopes comparable."
    return (Panel("over the student's first logit, teacher (3, 1, 0, 0)", "student logit z_0",
                  _Z, curves, note),)  # fmt: skip


_COUNTS = (500, 100, 20, 5)  # a long tail over the 4 classes


def _classes_with_counts(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    """Seesaw: ``(n, 4)`` logits, labels and the classes' integer counts so far (not
    batched; integer, as counts are: the shared gradient checks leave them alone)."""
    base = _classes(n, dtype=dtype, device=device, generator=generator)
    # below 128: the label-dtype test casts every integer input to int8 as well
    counts = torch.tensor((120, 40, 10, 3)) + randint(generator, 3, _C)
    return LossInputs(args=(*base.args, counts.to(device)), batched=(True, True, False))


def _explain_ldam() -> tuple[Panel, ...]:
    counts = torch.tensor(_COUNTS)

    def target(cls: int):
        def f(t: torch.Tensor) -> torch.Tensor:
            k = len(t)
            z = torch.zeros(k, _C, dtype=t.dtype)
            z[:, cls] = t
            return F.ldam_loss(z, torch.full((k,), cls), counts=counts, scale=4.0,
                               reduction="none")  # fmt: skip

        return f

    curves = tuple(
        scalar_curve(f"class {c} ({_COUNTS[c]} samples, margin {0.5 * (5 / _COUNTS[c]) ** 0.25:.2f})",
                     _Z, target(c))  # fmt: skip
        for c in (0, 3)
    )
    note = "The tail class must lead by its larger margin before its loss falls (scale s = 4)."
    return (Panel("over the target logit's lead, counts (500, 100, 20, 5)",
                  "target logit - other logits", _Z, curves, note),)  # fmt: skip


def _explain_seesaw() -> tuple[Panel, ...]:
    counts = torch.tensor(_COUNTS)

    def negative(j: int, p: float):
        def f(t: torch.Tensor) -> torch.Tensor:
            k = len(t)
            z = torch.zeros(k, _C, dtype=t.dtype)
            z[:, 0] = 2.0
            z[:, j] = t
            return F.seesaw_loss(z, torch.zeros(k, dtype=torch.long), counts,
                                 mitigation_exponent=p, reduction="none")  # fmt: skip

        return f

    curves = (
        scalar_curve("a head sample, tail negative (class 3), p = 0.8", _Z, negative(3, 0.8)),
        scalar_curve("the same without mitigation (p = 0)", _Z, negative(3, 0.0)),
    )
    note = ("(5/500)^0.8 = 0.025: the head's samples barely push the tail logit down, "
            "until it wins (compensation).")  # fmt: skip
    return (Panel("over a negative logit, target class 0 (500 samples) at logit 2",
                  "logit of the negative class", _Z, curves, note),)  # fmt: skip


def _explain_eqlv2() -> tuple[Panel, ...]:
    # statistics (C = 4): class 0 balanced (g = 1), class 3 a tail class (g = 0.05)
    pos = torch.tensor([10.0, 5.0, 2.0, 0.5], dtype=torch.float64)
    neg = torch.tensor([10.0, 10.0, 10.0, 10.0], dtype=torch.float64)

    def negative(j: int, stats: bool):
        def f(t: torch.Tensor) -> torch.Tensor:
            k = len(t)
            z = torch.zeros(k, _C, dtype=t.dtype)
            z[:, j] = t
            labels = torch.full((k,), 1 if j != 1 else 2)
            p, n = (pos, neg) if stats else (None, None)
            return F.eqlv2_loss(z, labels, pos_grad=p, neg_grad=n, reduction="none")

        return f

    curves = (
        scalar_curve("negative of class 0 (g = 1: r = 0.92)", _Z, negative(0, True)),
        scalar_curve("negative of class 3 (g = 0.05: r = 1e-4)", _Z, negative(3, True)),
        scalar_curve("no statistics yet (r = q = 1)", _Z, negative(3, False)),
    )
    note = ("A tail class's accumulated gradients are mostly negative (g << mu = 0.8): its "
            "negatives are muted (and its positives weighted up to 1 + alpha = 5).")  # fmt: skip
    return (Panel("over a negative logit, the sample of another class",
                  "logit of the negative class", _Z, curves, note),)  # fmt: skip


#: the keyword arguments every entry of the family shares
_entry = partial(LossSpec, family="classification")

SPECS = [
    _entry(
        function=F.bce_loss,
        make_inputs=_dense,
        peers=(
            "torch.nn.functional.binary_cross_entropy_with_logits",
            "torch.nn.functional.binary_cross_entropy",
        ),
        grad_args=(0, 1),
        explain=_explain_bce,
    ),
    _entry(
        function=F.weighted_bce_loss,
        make_inputs=_dense,
        peers=("torch.nn.functional.binary_cross_entropy_with_logits(pos_weight=)",),
        kwargs={"pos_weight": 3.0},
        grad_args=(0, 1),
        explain=_explain_weighted,
    ),
    _entry(
        function=F.balanced_bce_loss,
        make_inputs=_binary_masks,
        peers=("(1 - beta) * torch BCEWithLogits(pos_weight=beta / (1 - beta))",),
        kwargs={"per_sample": True},
        # beta is a constant of the target (detached), so only the logits are gradchecked
        grad_args=(0,),
        explain=_explain_balanced,
    ),
    _entry(
        function=F.focal_loss,
        make_inputs=_dense,
        peers=(
            "torchvision.ops.sigmoid_focal_loss",
            "monai.losses.FocalLoss",
            "segmentation_models_pytorch.losses.FocalLoss",
        ),
        kwargs={"alpha": 0.25, "gamma": 2.0},
        grad_args=(0, 1),
        explain=_explain_focal,
    ),
    _entry(
        function=F.softmax_focal_loss,
        make_inputs=_dense_classes,
        peers=(
            "monai.losses.FocalLoss(use_softmax=True)",
            "segmentation_models_pytorch.losses.FocalLoss('multiclass')",
        ),
        kwargs={"alpha": torch.tensor(_ALPHA), "gamma": 2.0},
        explain=_explain_softmax_focal,
    ),
    _entry(
        function=F.softmax_cross_entropy,
        make_inputs=_classes,
        peers=("torch.nn.functional.cross_entropy",),
        kwargs={"class_weight": torch.tensor(_CLASS_WEIGHT), "label_smoothing": 0.1},
        explain=_explain_ce,
    ),
    _entry(
        function=F.quality_focal_loss,
        make_inputs=_dense,
        peers=("mmdet.models.losses.quality_focal_loss_tensor_target (formula re-derived)",),
        kwargs={"gamma": 2.0},
        grad_args=(0, 1),
        explain=_explain_quality,
    ),
    _entry(
        function=F.varifocal_loss,
        make_inputs=_sparse_positives,
        peers=(
            "mmdet.models.losses.varifocal_loss (formula re-derived)",
            "ultralytics.utils.loss.VarifocalLoss (formula re-derived)",
        ),
        kwargs={"alpha": 0.75, "gamma": 2.0},
        explain=_explain_varifocal,
    ),
    _entry(
        function=F.gaussian_focal_loss,
        make_inputs=_sparse_positives,
        peers=("mmdet.models.losses.gaussian_focal_loss (formula re-derived)",),
        kwargs={"gamma": 2.0, "penalty_exponent": 4.0},
        explain=_explain_gaussian,
    ),
    _entry(
        function=F.distribution_focal_loss,
        make_inputs=_side_distributions,
        peers=(
            "mmdet.models.losses.distribution_focal_loss (formula re-derived)",
            "ultralytics.utils.loss.DFLoss (formula re-derived)",
        ),
        grad_args=(0, 1),
        explain=_explain_distribution,
    ),
    _entry(
        function=F.asymmetric_loss,
        make_inputs=_dense,
        peers=("timm.loss.AsymmetricLossMultiLabel",),
        kwargs={"gamma_pos": 1.0, "gamma_neg": 4.0, "clip": 0.05},
        grad_args=(0, 1),
        explain=_explain_asymmetric,
    ),
    _entry(
        function=F.asymmetric_softmax_loss,
        make_inputs=_classes,
        peers=("timm.loss.AsymmetricLossSingleLabel",),
        kwargs={"gamma_pos": 1.0, "gamma_neg": 4.0, "label_smoothing": 0.1},
        explain=_explain_asymmetric_softmax,
    ),
    _entry(
        function=F.poly1_cross_entropy,
        make_inputs=_classes,
        peers=("timm.loss.PolyCrossEntropy", "PolyLoss paper's poly1_cross_entropy"),
        kwargs={"poly_coef": 2.0, "label_smoothing": 0.1},
        explain=_explain_poly_ce,
    ),
    _entry(
        function=F.poly1_focal_loss,
        make_inputs=_dense,
        peers=("PolyLoss paper's poly1_focal_loss (formula re-derived)",),
        kwargs={"poly_coef": -1.0, "alpha": 0.25, "gamma": 2.0},
        grad_args=(0, 1),
        explain=_explain_poly_focal,
    ),
    _entry(
        function=F.jsd_cross_entropy,
        make_inputs=_views,
        peers=("timm.loss.JsdCrossEntropy",),
        kwargs={"num_splits": _VIEWS, "consistency_weight": 12.0, "label_smoothing": 0.1},
        explain=_explain_jsd,
    ),
    _entry(
        function=F.distillation_loss,
        make_inputs=_student_teacher,
        peers=("mmdet.models.losses.KnowledgeDistillationKLDivLoss (x C: it averages over classes)",),
        kwargs={"temperature": 4.0},
        grad_args=(0, 1),
        explain=_explain_distillation,
    ),
    _entry(
        function=F.ldam_loss,
        make_inputs=_classes,
        peers=("LDAM-DRW's official LDAMLoss (formula re-derived)",),
        kwargs={
            "counts": torch.tensor(_COUNTS),
            "margin": 0.5,
            "scale": 4.0,
            "class_weight": F.class_balanced_weights(torch.tensor(_COUNTS), cb_beta=0.99),
        },
        explain=_explain_ldam,
    ),
    _entry(
        function=F.seesaw_loss,
        make_inputs=_classes_with_counts,
        peers=("mmdet.models.losses.seesaw_loss.seesaw_ce_loss (formula re-derived)",),
        # the compensation factor is a constant of the (detached) scores, as in the paper and
        # mmdetection: finite differences of it cannot agree with the gradient, so the shared
        # gradient checks run without it (tests/functional/test_longtail.py covers it)
        kwargs={"mitigation_exponent": 0.8, "compensation_exponent": 0.0},
        explain=_explain_seesaw,
    ),
    _entry(
        function=F.eqlv2_loss,
        make_inputs=_classes,
        peers=("EQLv2 (tztztztztz/eqlv2 mmdet/models/losses/eqlv2.py; formula re-derived)",),
        # accumulated statistics (the module's initial buffers): g = (0.8, 0.3, 0.1) and a
        # class with nothing accumulated (neg_grad 0: weights 1)
        kwargs={
            "pos_grad": torch.tensor([8.0, 3.0, 1.0, 0.5]),
            "neg_grad": torch.tensor([10.0, 10.0, 10.0, 0.0]),
            "ratio_slope": 12.0,
            "ratio_center": 0.8,
            "pos_gain": 4.0,
        },
        explain=_explain_eqlv2,
    ),
]
