"""Inputs every overlap loss must refuse, with the error each must raise."""

from __future__ import annotations

from collections.abc import Callable

import torch

from losskit import functional as F

from . import BadInput


def _bad(fn: Callable, mode: str, smooth: bool = True) -> tuple[BadInput, ...]:
    name = fn.__name__
    common: tuple[BadInput, ...] = (
        BadInput(
            "unknown mode",
            lambda: ((torch.zeros(2, 3), torch.zeros(2, 3)), {"mode": "softmax"}),
            ValueError,
            rf"{name}: mode must be one of 'binary', 'multiclass', 'multilabel'; got 'softmax'",
        ),
        BadInput(
            "integer logits",
            lambda: ((torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3)), {"mode": "binary"}),
            TypeError,
            rf"{name}: logits must be a floating-point tensor; got dtype torch.int64",
        ),
        BadInput(
            "binary shape mismatch (no silent broadcasting)",
            lambda: ((torch.zeros(2, 1, 3), torch.zeros(2, 3)), {"mode": "binary"}),
            ValueError,
            rf"{name}: logits and target must have the same shape; got \(2, 1, 3\) and \(2, 3\)",
        ),
        BadInput(
            "multiclass target shape",
            lambda: (
                (torch.zeros(2, 3, 4), torch.zeros(2, 3, 4, dtype=torch.long)),
                {"mode": "multiclass"},
            ),
            ValueError,
            rf"{name}: in multiclass mode target must be \(N, \.\.\.\) = \(2, 4\) for logits \(2, 3, 4\); got \(2, 3, 4\)",
        ),
        BadInput(
            "multiclass float target",
            lambda: ((torch.zeros(2, 3, 4), torch.zeros(2, 4)), {"mode": "multiclass"}),
            TypeError,
            rf"{name}: target must be an integer tensor of class indices; got dtype torch.float32",
        ),
        BadInput(
            "label out of range",
            lambda: ((torch.zeros(2, 3, 4), torch.full((2, 4), 3)), {"mode": "multiclass"}),
            ValueError,
            rf"{name}: target must lie in \[0, 2\] or equal ignore_index=-100; got values in \[3, 3\]",
        ),
        BadInput(
            "negative smooth",
            lambda: ((torch.zeros(2, 3), torch.zeros(2, 3)), {"mode": "binary", "smooth": -1.0}),
            ValueError,
            rf"{name}: smooth must be a finite number >= 0; got -1.0",
        ),
        BadInput(
            "class weight of the wrong length",
            lambda: (
                (torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long)),
                {"mode": "multiclass", "class_weight": torch.ones(4)},
            ),
            ValueError,
            rf"{name}: class_weight must have shape \(3,\), one value per class; got \(4,\)",
        ),
        BadInput(
            "unknown reduction",
            lambda: (
                (torch.zeros(2, 3), torch.zeros(2, 3)),
                {"mode": "binary", "reduction": "batchmean"},
            ),
            ValueError,
            rf"{name}: reduction must be one of 'none', 'mean', 'sum'; got 'batchmean'",
        ),
    )
    if not smooth:
        common = tuple(b for b in common if b.label != "negative smooth")
    return common


def _distance(fn: Callable) -> tuple[BadInput, ...]:
    """The mode-based bad inputs with a spatial dimension, and the refusals of inputs
    without one."""
    name = fn.__name__
    return tuple(
        b for b in _bad(fn, "multiclass", smooth=False)
        if b.label not in ("multiclass target shape", "binary shape mismatch (no silent broadcasting)")
    ) + (
        BadInput(
            "no spatial dimension (multiclass)",
            lambda: ((torch.zeros(2, 3), torch.zeros(2, dtype=torch.long)), {"mode": "multiclass"}),
            ValueError,
            rf"{name}: logits must have shape \(N, C, \*spatial\) in multiclass mode; got shape \(2, 3\)",
        ),
        BadInput(
            "no spatial dimension (binary)",
            lambda: ((torch.zeros(4), torch.zeros(4)), {"mode": "binary"}),
            ValueError,
            rf"{name}: logits must have shape \(N, \*spatial\); got shape \(4,\)",
        ),
        BadInput(
            "wrong spatial size",
            lambda: ((torch.zeros(2, 3, 4, 4), torch.zeros(2, 4, 5, dtype=torch.long)),
                     {"mode": "multiclass"}),  # fmt: skip
            ValueError,
            rf"{name}: in multiclass mode target must be \(N, \.\.\.\) = \(2, 4, 4\) for "
            rf"logits \(2, 3, 4, 4\); got \(2, 4, 5\)",
        ),
        BadInput(
            "binary shape mismatch (no silent broadcasting)",
            lambda: ((torch.zeros(2, 1, 3), torch.zeros(2, 3)), {"mode": "binary"}),
            ValueError,
            rf"{name}: logits and target must have the same shape; got \(2, 1, 3\) and \(2, 3\)",
        ),
    )


def _skeleton(fn: Callable) -> tuple[BadInput, ...]:
    """As :func:`_distance`, with 2-D images where the skeleton needs them."""
    name = fn.__name__
    return tuple(b for b in _distance(fn) if b.label != "class weight of the wrong length") + (
        BadInput(
            "class weight of the wrong length",
            lambda: (
                (torch.zeros(2, 3, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long)),
                {"mode": "multiclass", "class_weight": torch.ones(4)},
            ),
            ValueError,
            rf"{name}: class_weight must have shape \(3,\), one value per class; got \(4,\)",
        ),
    )


def _gwdl() -> tuple[BadInput, ...]:
    name = "generalized_wasserstein_dice_loss"
    m = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [1.0, 0.5, 0.0]])

    def call(x, y, **kw):
        return lambda: ((x, y), {"class_distance": m, **kw})

    return (
        BadInput(
            "float labels",
            call(torch.zeros(2, 3, 4), torch.zeros(2, 4)),
            TypeError,
            rf"{name}: target must be an integer tensor of class indices; got dtype torch.float32",
        ),
        BadInput(
            "label out of range",
            call(torch.zeros(2, 3, 4), torch.full((2, 4), 3)),
            ValueError,
            rf"{name}: target must lie in \[0, 2\] or equal ignore_index=-100; got values in \[3, 3\]",
        ),
        BadInput(
            "a class distance of the wrong size",
            lambda: ((torch.zeros(2, 4, 4), torch.zeros(2, 4, dtype=torch.long)),
                     {"class_distance": m}),  # fmt: skip
            ValueError,
            rf"{name}: class_distance must have shape \(4, 4\), one row and column per class; "
            rf"got \(3, 3\)",
        ),
        BadInput(
            "a negative distance",
            lambda: ((torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long)),
                     {"class_distance": -m}),  # fmt: skip
            ValueError,
            rf"{name}: class_distance",
        ),
        BadInput(
            "all distances zero",
            lambda: ((torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long)),
                     {"class_distance": torch.zeros(3, 3)}),  # fmt: skip
            ValueError,
            rf"{name}: class_distance must have a positive entry; got all zeros",
        ),
        BadInput(
            "wrong spatial size",
            call(torch.zeros(2, 3, 4), torch.zeros(2, 5, dtype=torch.long)),
            ValueError,
            rf"{name}: target must be \(N, \.\.\.\) = \(2, 4\) for logits \(2, 3, 4\); got \(2, 5\)",
        ),
    )


def _lovasz_hinge() -> tuple[BadInput, ...]:
    name = "lovasz_hinge_loss"
    return (
        BadInput(
            "shape mismatch (no silent broadcasting)",
            lambda: ((torch.zeros(2, 1, 3), torch.zeros(2, 3)), {}),
            ValueError,
            rf"{name}: logits and target must have the same shape; got \(2, 1, 3\) and \(2, 3\)",
        ),
        BadInput(
            "integer logits",
            lambda: ((torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3)), {}),
            TypeError,
            rf"{name}: logits must be a floating-point tensor; got dtype torch.int64",
        ),
        BadInput(
            "a target that is not 0/1 (a void label without ignore_index)",
            lambda: ((torch.zeros(2, 3), torch.full((2, 3), 255.0)), {"ignore_index": None}),
            ValueError,
            rf"{name}: target must hold values in \[0, 1\]; got values in \[255, 255\]",
        ),
        BadInput(
            "per-sample weight with per_sample=False",
            lambda: ((torch.zeros(2, 3), torch.zeros(2, 3)),
                     {"per_sample": False, "weight": torch.ones(2)}),  # fmt: skip
            ValueError,
            rf"{name}: weight is per sample, and with per_sample=False",
        ),
    )


def _lovasz_softmax() -> tuple[BadInput, ...]:
    name = "lovasz_softmax_loss"
    return (
        BadInput(
            "float labels",
            lambda: ((torch.zeros(2, 3, 4), torch.zeros(2, 4)), {}),
            TypeError,
            rf"{name}: target must be an integer tensor of class indices; got dtype torch.float32",
        ),
        BadInput(
            "label out of range",
            lambda: ((torch.zeros(2, 3, 4), torch.full((2, 4), 3)), {}),
            ValueError,
            rf"{name}: target must lie in \[0, 2\] or equal ignore_index=-100; got values in \[3, 3\]",
        ),
        BadInput(
            "wrong spatial size",
            lambda: ((torch.zeros(2, 3, 4), torch.zeros(2, 5, dtype=torch.long)), {}),
            ValueError,
            rf"{name}: target must be \(N, \.\.\.\) = \(2, 4\) for logits \(2, 3, 4\); got \(2, 5\)",
        ),
        BadInput(
            "logits without a class dimension",
            lambda: ((torch.zeros(4), torch.zeros(4, dtype=torch.long)), {}),
            ValueError,
            rf"{name}: logits must have shape \(N, C, \.\.\.\); got shape \(4,\)",
        ),
        BadInput(
            "unknown classes",
            lambda: ((torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long)),
                     {"classes": "some"}),  # fmt: skip
            ValueError,
            rf"{name}: classes must be one of 'present', 'all'; got 'some'",
        ),
    )


BAD_INPUTS = {
    'dice_loss': _bad(F.dice_loss, "multiclass"),
    'jaccard_loss': _bad(F.jaccard_loss, "multilabel"),
    'tversky_loss': _bad(F.tversky_loss, "binary"),
    'focal_tversky_loss': _bad(F.focal_tversky_loss, "multiclass"),
    "generalized_dice_loss": _bad(F.generalized_dice_loss, "multiclass") + (
        BadInput(
            "unknown weighting",
            lambda: ((torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long)),
                     {"mode": "multiclass", "weighting": "log"}),  # fmt: skip
            ValueError,
            r"generalized_dice_loss: weighting must be one of 'square', 'simple', 'uniform'; "
            r"got 'log'",
        ),
    ),
    "lovasz_hinge_loss": _lovasz_hinge(),
    "lovasz_softmax_loss": _lovasz_softmax(),
    "mcc_loss": _bad(F.mcc_loss, "binary", smooth=False),
    "dice_ce_loss": _bad(F.dice_ce_loss, "multiclass") + (
        BadInput(
            "negative ce_weight",
            lambda: ((torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long)),
                     {"mode": "multiclass", "ce_weight": -1.0}),  # fmt: skip
            ValueError,
            r"dice_ce_loss: ce_weight must be a finite number >= 0; got -1.0",
        ),
    ),
    "dice_focal_loss": _bad(F.dice_focal_loss, "multiclass"),
    "generalized_dice_focal_loss": _bad(F.generalized_dice_focal_loss, "multiclass"),
    "hausdorff_dt_loss": _distance(F.hausdorff_dt_loss) + (
        BadInput(
            "negative distance_power",
            lambda: ((torch.zeros(2, 3, 4), torch.zeros(2, 3, 4)),
                     {"mode": "multilabel", "distance_power": -1.0}),  # fmt: skip
            ValueError,
            r"hausdorff_dt_loss: distance_power must be a finite number >= 0; got -1.0",
        ),
    ),
    "boundary_loss": _distance(F.boundary_loss),
    "generalized_wasserstein_dice_loss": _gwdl(),
    "cl_dice_loss": _skeleton(F.cl_dice_loss) + (
        BadInput(
            "1-D images (the skeleton needs 2-D or 3-D)",
            lambda: ((torch.zeros(2, 5), torch.zeros(2, 5)), {"mode": "binary"}),
            ValueError,
            r"cl_dice_loss: the soft skeleton needs 2-D or 3-D images",
        ),
        BadInput(
            "negative iterations",
            lambda: ((torch.zeros(2, 4, 4), torch.zeros(2, 4, 4)),
                     {"mode": "binary", "iterations": -1}),  # fmt: skip
            ValueError,
            r"cl_dice_loss: iterations must be an int >= 0; got -1",
        ),
    ),
    "dice_cl_dice_loss": _skeleton(F.dice_cl_dice_loss) + (
        BadInput(
            "cl_weight above 1",
            lambda: ((torch.zeros(2, 4, 4), torch.zeros(2, 4, 4)),
                     {"mode": "binary", "cl_weight": 1.5}),  # fmt: skip
            ValueError,
            r"dice_cl_dice_loss: cl_weight must be a number in \[0, 1\]; got 1.5",
        ),
    ),
}
