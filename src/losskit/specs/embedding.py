"""Registry entries for the embedding losses: contrastive and triplet, on explicit pairs and
triplets and over labelled batches.

The batch losses' ``"none"`` is per sample (a pair split between its two ends; a triplet
booked to its anchor), so the shared permutation test applies to them as it does to the
explicit-pair and explicit-triplet forms.
"""

from __future__ import annotations

from functools import partial

import torch

from .. import functional as F
from ._base import LossInputs, LossSpec
from ._inputs import randint, randn

_D = 5  # feature dimension of the registry's inputs
_PAPER_CONTRASTIVE = (
    "Sun, Chen, Wang, Tang, 'Deep Learning Face Representation by Joint "
    "Identification-Verification', NeurIPS 2014, arXiv:1406.4773; Hadsell, Chopra, LeCun, "
    "'Dimensionality Reduction by Learning an Invariant Mapping', CVPR 2006"
)
_PAPER_TRIPLET = (
    "Schroff, Kalenichenko, Philbin, 'FaceNet: A Unified Embedding for Face Recognition and "
    "Clustering', CVPR 2015, arXiv:1503.03832; Hermans, Beyer, Leibe, 'In Defense of the "
    "Triplet Loss for Person Re-Identification', arXiv:1703.07737"
)


# --------------------------------------------------------------------------- inputs


def _labels(n: int, g: torch.Generator, device: torch.device | str) -> torch.Tensor:
    """Identities with repeats (every batch of 3 or more has a positive and a negative)."""
    classes = max(2, n // 3)
    return (torch.arange(n) % classes)[torch.randperm(n, generator=g)].to(device)


def _pairs(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    x1 = randn(generator, n, _D, dtype=dtype, device=device)
    x2 = randn(generator, n, _D, dtype=dtype, device=device) * 0.5
    same = randint(generator, 2, n, device=device)
    return LossInputs(args=(x1, x2, same), batched=(True, True, True))


def _triplets(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    a = randn(generator, n, _D, dtype=dtype, device=device)
    p = a + 0.7 * randn(generator, n, _D, dtype=dtype, device=device)
    neg = randn(generator, n, _D, dtype=dtype, device=device)
    return LossInputs(args=(a, p, neg), batched=(True, True, True))


def _batch(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    x = randn(generator, n, _D, dtype=dtype, device=device)
    return LossInputs(args=(x, _labels(n, generator, device)), batched=(True, True))


# --------------------------------------------------------------------------- entries

#: the keyword arguments every entry of the family shares
_entry = partial(LossSpec, family="embedding")

SPECS = [
    _entry(
        function=F.contrastive_loss,
        make_inputs=_pairs,
        peers=(
            "pytorch_metric_learning.losses.ContrastiveLoss (unsquared hinge: a different loss)",
        ),
        kwargs={"margin": 1.0},
        grad_args=(0, 1),
    ),
    _entry(
        function=F.batch_contrastive_loss,
        make_inputs=_batch,
        peers=(
            "pytorch_metric_learning.losses.ContrastiveLoss (unsquared hinge: a different loss)",
        ),
        kwargs={"margin": 1.0},
    ),
    _entry(
        function=F.triplet_loss,
        make_inputs=_triplets,
        peers=(
            "torch.nn.TripletMarginLoss",
            "pytorch_metric_learning.losses.TripletMarginLoss (explicit indices)",
        ),
        kwargs={"margin": 1.0},
        grad_args=(0, 1, 2),
    ),
    _entry(
        function=F.batch_triplet_loss,
        make_inputs=_batch,
        peers=(
            "pytorch_metric_learning.losses.TripletMarginLoss",
            "pytorch_metric_learning.miners.BatchHardMiner",
            "pytorch_metric_learning.miners.TripletMarginMiner(type_of_triplets='semihard')",
        ),
        kwargs={"margin": 1.0},
    ),
]
