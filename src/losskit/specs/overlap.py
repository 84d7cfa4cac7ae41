"""Registry entries for the mask overlap losses (Dice, Jaccard, Tversky, focal Tversky)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

from .. import functional as F
from ._base import LossInputs, LossSpec
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
_entry = partial(LossSpec, family="overlap", make_inputs=_maker)

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
        peers=("segmentation_models_pytorch.losses.TverskyLoss",),
        kwargs={"fp_weight": 0.3, "fn_weight": 0.7, "mode": "binary"},
    ),
    _entry(
        function=F.focal_tversky_loss,
        make_inputs=_maker("multiclass"),
        kwargs={"fp_weight": 0.3, "fn_weight": 0.7, "gamma": 0.75, "mode": "multiclass"},
    ),
]
