"""Registry entries for the probability (classification) losses: BCE, weighted and balanced
BCE, sigmoid and softmax focal loss, softmax cross-entropy.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch

from .. import functional as F
from ._base import LossInputs, LossSpec
from ._explain import Panel, scalar_curve
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
]
