"""Registry entries for the constraint losses: centre, centre-invariant, range and ring.

The centre losses' modules need their sizes at construction: the entries give the test sizes
in ``module_kwargs``, and ``losskit.create("center", num_classes=10_000, embedding_dim=512)``
builds a real one. The module's centres (or radius) reach the function through its ``state``.
"""

from __future__ import annotations

from functools import partial

import torch

from .. import functional as F
from ._base import LossInputs, LossSpec
from ._inputs import randint, randn

_D = 5  # feature dimension of the registry's inputs
_C = 4  # classes


# --------------------------------------------------------------------------- inputs


def _features_labels(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    x = randn(generator, n, _D, dtype=dtype, device=device) * 1.5
    return LossInputs(args=(x, randint(generator, _C, n, device=device)), batched=(True, True))


def _grouped(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    """Labels with repeats (range loss needs classes of two or more samples)."""
    x = randn(generator, n, _D, dtype=dtype, device=device)
    labels = (torch.arange(n) % max(2, n // 3))[torch.randperm(n, generator=generator)]
    return LossInputs(args=(x, labels.to(device)), batched=(True, True))


def _features(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    return LossInputs(
        args=(randn(generator, n, _D, dtype=dtype, device=device) * 2.0,), batched=(True,)
    )


# --------------------------------------------------------------------------- entries

#: the keyword arguments every entry of the family shares
_entry = partial(LossSpec, family="constraint")

SPECS = [
    _entry(
        function=F.center_loss,
        module_kwargs={"num_classes": _C, "embedding_dim": _D},
        make_inputs=_features_labels,
    ),
    _entry(
        function=F.center_invariant_loss,
        module_kwargs={"num_classes": _C, "embedding_dim": _D},
        make_inputs=_features_labels,
        kwargs={"invariant_weight": 0.5},
    ),
    _entry(
        function=F.range_loss,
        make_inputs=_grouped,
        kwargs={"k": 2, "margin": 20.0},
    ),
    _entry(
        function=F.ring_loss,
        make_inputs=_features,
    ),
]
