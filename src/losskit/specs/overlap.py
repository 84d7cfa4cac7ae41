"""Registry entries for the mask overlap losses (Dice, Jaccard, Tversky, focal Tversky,
generalized Dice, Lovász hinge and softmax, MCC)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Literal

import torch

from .. import functional as F
from ._base import LossInputs, LossSpec
from ._explain import Curve, Panel
from ._explain_families import _looped, _mask_panels
from ._inputs import rand, randint, randn

_C, _H, _W = 3, 4, 5


def _maker(mode: str) -> Callable[..., LossInputs]:
    def make(
        n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
    ) -> LossInputs:
        g = generator
        if mode == "binary":
            logits = randn(g, n, _H, _W, dtype=dtype, device=device) * 2.0
            target = (rand(g, n, _H, _W, dtype=torch.float64) < 0.4).to(device=device, dtype=dtype)
        elif mode == "multilabel":
            logits = randn(g, n, _C, _H, _W, dtype=dtype, device=device) * 2.0
            target = (rand(g, n, _C, _H, _W, dtype=torch.float64) < 0.4).to(
                device=device, dtype=dtype
            )
        else:
            logits = randn(g, n, _C, _H, _W, dtype=dtype, device=device) * 2.0
            target = randint(g, _C, n, _H, _W, device=device)
        return LossInputs(args=(logits, target), batched=(True, True))

    return make


_EMPTY = (
    "Empty targets are explicit: an empty prediction on an empty target scores 0, false "
    "positives on it are penalised (SMP zeroes such classes)."
)

#: the keyword arguments every entry of the family shares
_entry = partial(LossSpec, family="overlap")

SPECS = [
    _entry(
        function=F.dice_loss,
        make_inputs=_maker("multiclass"),
        peers=("monai.losses.DiceLoss", "segmentation_models_pytorch.losses.DiceLoss"),
        kwargs={"mode": "multiclass"},
    ),
    _entry(
        function=F.jaccard_loss,
        make_inputs=_maker("multilabel"),
        peers=(
            "segmentation_models_pytorch.losses.JaccardLoss",
            "monai.losses.DiceLoss(jaccard=True)",
        ),
        kwargs={"mode": "multilabel"},
    ),
    _entry(
        function=F.tversky_loss,
        make_inputs=_maker("binary"),
        peers=("segmentation_models_pytorch.losses.TverskyLoss", "monai.losses.TverskyLoss"),
        kwargs={"fp_weight": 0.3, "fn_weight": 0.7, "mode": "binary"},
    ),
    _entry(
        function=F.focal_tversky_loss,
        make_inputs=_maker("multiclass"),
        kwargs={"fp_weight": 0.3, "fn_weight": 0.7, "gamma": 0.75, "mode": "multiclass"},
    ),
]


# ------------------------------------------------------------------ segmentation losses

_FG = torch.zeros(1, 8, 8, dtype=torch.float64)
_FG[:, :4, :4] = 1.0  # a quarter of the image is foreground


def _lovasz_hinge_panels() -> tuple[Panel, ...]:
    x = torch.linspace(-3.0, 3.0, 241, dtype=torch.float64)

    def fg(t: torch.Tensor) -> torch.Tensor:  # foreground logits t, background -2
        return F.lovasz_hinge_loss(_FG * t - 2.0 * (1 - _FG), _FG, reduction="sum")

    def bg(t: torch.Tensor) -> torch.Tensor:  # foreground logits 2, background t
        return F.lovasz_hinge_loss(2.0 * _FG + (1 - _FG) * t, _FG, reduction="sum")

    return (
        Panel("over the foreground logit", "logit x of every foreground pixel (background -2)",
              x, (_looped("lovasz_hinge_loss", x, fg),),
              "Linear in the hinge error, flat (0) once every margin exceeds 1."),  # fmt: skip
        Panel("over false positives", "logit x of every background pixel (foreground 2)",
              x, (_looped("lovasz_hinge_loss", x, bg),),
              "False positives cost through the Jaccard increments, not per pixel."),  # fmt: skip
    )


def _lovasz_softmax_panels() -> tuple[Panel, ...]:
    q = torch.linspace(0.0, 1.0, 201, dtype=torch.float64)
    labels = _FG.long()  # class 1 on a quarter, class 0 elsewhere

    def probs(p1_fg: torch.Tensor, p1_bg: torch.Tensor) -> torch.Tensor:
        p1 = _FG * p1_fg + (1 - _FG) * p1_bg
        return torch.stack([1 - p1, p1], 1)

    def curve(classes: Literal["present", "all"], which: str) -> Curve:
        def one(t: torch.Tensor) -> torch.Tensor:
            p = probs(t, torch.zeros(())) if which == "fg" else probs(torch.ones(()), t)
            return F.lovasz_softmax_loss(p, labels, classes=classes, from_logits=False,
                                         reduction="sum")  # fmt: skip

        return _looped(f"classes={classes!r}", q, one)

    return (
        Panel("over the foreground probability", "p of class 1 on its pixels (elsewhere 0)",
              q, (curve("present", "fg"),), "Missed foreground: linear, as the IoU is."),  # fmt: skip
        Panel("over false positives", "p of class 1 on background pixels (its pixels 1)",
              q, (curve("present", "bg"),), "Background painted as class 1."),  # fmt: skip
    )


SPECS += [
    _entry(
        function=F.generalized_dice_loss,
        make_inputs=_maker("multiclass"),
        peers=("monai.losses.GeneralizedDiceLoss",),
        kwargs={"mode": "multiclass"},
        explain=_mask_panels(F.generalized_dice_loss, "generalized_dice_loss"),
    ),
    _entry(
        function=F.lovasz_hinge_loss,
        make_inputs=_maker("binary"),
        peers=("segmentation_models_pytorch.losses.LovaszLoss(mode='binary')",),
        explain=_lovasz_hinge_panels,
    ),
    _entry(
        function=F.lovasz_softmax_loss,
        make_inputs=_maker("multiclass"),
        peers=(
            "segmentation_models_pytorch.losses.LovaszLoss(mode='multiclass')",
            "kornia.losses.lovasz_softmax_loss",
        ),
        explain=_lovasz_softmax_panels,
    ),
    _entry(
        function=F.mcc_loss,
        make_inputs=_maker("binary"),
        peers=("segmentation_models_pytorch.losses.MCCLoss", "monai.losses.MCCLoss"),
        kwargs={"mode": "binary"},
        explain=_mask_panels(F.mcc_loss, "mcc_loss"),
    ),
]


# ------------------------------------------------------------------ ready compound losses

SPECS += [
    _entry(
        function=F.dice_ce_loss,
        make_inputs=_maker("multiclass"),
        peers=("monai.losses.DiceCELoss",),
        kwargs={"mode": "multiclass"},
        explain=_mask_panels(
            lambda p, t, **kw: F.dice_ce_loss(torch.logit(p.clamp(1e-6, 1 - 1e-6)), t,
                                              **{k: v for k, v in kw.items() if k != "from_logits"}),
            "dice_ce_loss",
        ),
    ),
    _entry(
        function=F.dice_focal_loss,
        make_inputs=_maker("multiclass"),
        peers=("monai.losses.DiceFocalLoss",),
        kwargs={"mode": "multiclass"},
        explain=_mask_panels(
            lambda p, t, **kw: F.dice_focal_loss(torch.logit(p.clamp(1e-6, 1 - 1e-6)), t,
                                                 **{k: v for k, v in kw.items() if k != "from_logits"}),
            "dice_focal_loss",
        ),
    ),
    _entry(
        function=F.generalized_dice_focal_loss,
        make_inputs=_maker("multiclass"),
        peers=("monai.losses.GeneralizedDiceFocalLoss",),
        kwargs={"mode": "multiclass"},
        explain=_mask_panels(
            lambda p, t, **kw: F.generalized_dice_focal_loss(
                torch.logit(p.clamp(1e-6, 1 - 1e-6)), t,
                **{k: v for k, v in kw.items() if k != "from_logits"}),
            "generalized_dice_focal_loss",
        ),
    ),
]


# ------------------------------------------------------------------ distance-based losses

SPECS += [
    _entry(
        function=F.hausdorff_dt_loss,
        make_inputs=_maker("multiclass"),
        peers=("monai.losses.HausdorffDTLoss", "monai.losses.LogHausdorffDTLoss"),
        kwargs={"mode": "multiclass"},
        explain=_mask_panels(F.hausdorff_dt_loss, "hausdorff_dt_loss"),
    ),
    _entry(
        function=F.boundary_loss,
        make_inputs=_maker("multiclass"),
        peers=("monai.losses.BoundaryLoss",),
        kwargs={"mode": "multiclass"},
        explain=_mask_panels(F.boundary_loss, "boundary_loss"),
    ),
]


# ------------------------------------------------------------------ topology

SPECS += [
    _entry(
        function=F.cl_dice_loss,
        make_inputs=_maker("binary"),
        peers=("monai.losses.SoftclDiceLoss",),
        explain=_mask_panels(F.cl_dice_loss, "cl_dice_loss"),
    ),
    _entry(
        function=F.dice_cl_dice_loss,
        make_inputs=_maker("multilabel"),
        peers=("monai.losses.SoftDiceclDiceLoss",),
        kwargs={"mode": "multilabel"},
        explain=_mask_panels(F.dice_cl_dice_loss, "dice_cl_dice_loss"),
    ),
]


# ------------------------------------------------------------------ generalized Wasserstein Dice

#: a class distance for the 3 classes of the input makers: 1 and 2 are close (0.5)
_DIST = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [1.0, 0.5, 0.0]], dtype=torch.float64)


def _gwdl_panels() -> tuple[Panel, ...]:
    q = torch.linspace(0.0, 1.0, 201, dtype=torch.float64)
    labels = torch.ones(1, 8, dtype=torch.long)  # every position of class 1

    def curve(to: int) -> Curve:
        def one(t: torch.Tensor) -> torch.Tensor:
            # probability 1 - t on the true class 1, t moved to class `to`
            p = torch.zeros(1, 3, 8, dtype=torch.float64) + torch.zeros_like(t)
            p = p.index_put((torch.tensor(0), torch.tensor(1)), (1 - t).expand(8))
            p = p.index_put((torch.tensor(0), torch.tensor(to)), t.expand(8))
            return F.generalized_wasserstein_dice_loss(
                torch.log(p.clamp_min(1e-12)), labels, class_distance=_DIST, reduction="sum"
            )

        return _looped(f"mass moved to class {to} (distance {float(_DIST[1, to]):g})", q, one)

    return (
        Panel("over confusion with a near and a far class",
              "probability moved from the true class 1 to another class", q,
              (curve(2), curve(0)),
              "Confusing class 1 with the nearby class 2 costs half as much as with 0."),  # fmt: skip
    )


SPECS += [
    _entry(
        function=F.generalized_wasserstein_dice_loss,
        make_inputs=_maker("multiclass"),
        peers=("monai.losses.GeneralizedWassersteinDiceLoss",),
        kwargs={"class_distance": _DIST},
        explain=_gwdl_panels,
    ),
]
