"""Registry entries for the feature-vector (embedding) losses (SPEC.md section 4).

The batch losses' ``"none"`` is per sample (a pair split between its two ends; a triplet
booked to its anchor), so the shared permutation test applies to them as it does to the
explicit-pair and explicit-triplet forms.

Benchmark peers: torch's ``TripletMarginLoss`` and pytorch-metric-learning (imported inside
the cases; it is a test extra). Every peer uses ``LpDistance(normalize_embeddings=False)``,
the distance losskit computes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .. import functional as F
from .. import nn as lnn
from ._base import BadInput, BenchCase, LossInputs, LossSpec
from ._inputs import grad_inputs, randint, randn

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


# --------------------------------------------------------------------------- bad inputs


def _common_bad(name: str, good: Callable[[], tuple[Any, ...]]) -> tuple[BadInput, ...]:
    return (
        BadInput(
            "unknown reduction",
            lambda: (good(), {"reduction": "avg"}),
            ValueError,
            rf"{name}: reduction must be one of 'none', 'mean', 'sum'; got 'avg'",
        ),
        BadInput(
            "negative margin",
            lambda: (good(), {"margin": -0.5}),
            ValueError,
            rf"{name}: margin must be finite and >= 0; got -0.5",
        ),
        BadInput(
            "unknown distance",
            lambda: (good(), {"distance": "manhattan"}),
            ValueError,
            rf"{name}: distance must be one of 'euclidean', 'cosine'; got 'manhattan'",
        ),
    )


def _batch_bad(name: str) -> tuple[BadInput, ...]:
    good = lambda: (torch.zeros(6, 3), torch.zeros(6, dtype=torch.long))  # noqa: E731
    return (
        *_common_bad(name, good),
        BadInput(
            "labels of the wrong length",
            lambda: ((torch.zeros(6, 3), torch.zeros(5, dtype=torch.long)), {}),
            ValueError,
            rf"{name}: labels must have shape \(B,\) = \(6,\) to match embeddings \(6, 3\); got \(5,\)",
        ),
        BadInput(
            "float labels",
            lambda: ((torch.zeros(6, 3), torch.zeros(6)), {}),
            TypeError,
            rf"{name}: labels must be an integer tensor of class indices; got dtype torch.float32",
        ),
        BadInput(
            "embeddings not (B, D)",
            lambda: ((torch.zeros(6), torch.zeros(6, dtype=torch.long)), {}),
            ValueError,
            rf"{name}: embeddings must have 2 dimensions; got shape \(6,\)",
        ),
        BadInput(
            "integer embeddings",
            lambda: ((torch.zeros(6, 3, dtype=torch.long), torch.zeros(6, dtype=torch.long)), {}),
            TypeError,
            rf"{name}: embeddings must be a floating-point tensor; got dtype torch.int64",
        ),
    )


_CONTRASTIVE_BAD = (
    *_common_bad("contrastive_loss", lambda: (torch.zeros(4, 3), torch.zeros(4, 3), torch.ones(4))),
    BadInput(
        "shape mismatch",
        lambda: ((torch.zeros(8, 4), torch.zeros(8, 5), torch.ones(8)), {}),
        ValueError,
        r"contrastive_loss: x1 and x2 must have the same shape; got \(8, 4\) and \(8, 5\)",
    ),
    BadInput(
        "target not one per pair",
        lambda: ((torch.zeros(8, 4), torch.zeros(8, 4), torch.ones(8, 1)), {}),
        ValueError,
        r"contrastive_loss: target must have shape \(8,\), one value per row; got \(8, 1\)",
    ),
    BadInput(
        "target not a tensor",
        lambda: ((torch.zeros(8, 4), torch.zeros(8, 4), [1] * 8), {}),
        TypeError,
        r"contrastive_loss: target must be a torch.Tensor; got list",
    ),
)

_TRIPLET_BAD = (
    *_common_bad("triplet_loss", lambda: (torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(4, 3))),
    BadInput(
        "shape mismatch",
        lambda: ((torch.zeros(8, 4), torch.zeros(8, 4), torch.zeros(7, 4)), {}),
        ValueError,
        r"triplet_loss: anchor and negative must have the same shape; got \(8, 4\) and \(7, 4\)",
    ),
    BadInput(
        "squared cosine",
        lambda: (
            (torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(4, 3)),
            {"distance": "cosine", "squared": True},
        ),
        ValueError,
        r"triplet_loss: squared=True applies to the euclidean distance only; got distance='cosine'",
    ),
    BadInput(
        "weight that enlarges the loss",
        lambda: (
            (torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3, 2)),
            {"weight": torch.ones(2, 3)},
        ),
        ValueError,
        r"triplet_loss: weight must broadcast to \(3,\) without enlarging it; got \(2, 3\)",
    ),
)

_BATCH_TRIPLET_BAD = (
    *_batch_bad("batch_triplet_loss"),
    BadInput(
        "unknown mining",
        lambda: ((torch.zeros(6, 3), torch.zeros(6, dtype=torch.long)), {"mining": "random"}),
        ValueError,
        r"batch_triplet_loss: mining must be one of 'all', 'hard', 'semihard'; got 'random'",
    ),
    BadInput(
        "unknown mean_over",
        lambda: ((torch.zeros(6, 3), torch.zeros(6, dtype=torch.long)), {"mean_over": "nonzero"}),
        ValueError,
        r"batch_triplet_loss: mean_over must be one of 'all', 'active'; got 'nonzero'",
    ),
    BadInput(
        "squared cosine",
        lambda: (
            (torch.zeros(6, 3), torch.zeros(6, dtype=torch.long)),
            {"distance": "cosine", "squared": True},
        ),
        ValueError,
        r"batch_triplet_loss: squared=True applies to the euclidean distance only; got distance='cosine'",
    ),
)


# --------------------------------------------------------------------------- benchmarks

_BB, _BDIM = 512, 128  # the batch-triplet case


def _step(loss: Callable[[], torch.Tensor], *leaves: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        for t in leaves:
            t.grad = None
        loss().backward()

    return step


def _batch_data(device: torch.device, b: int, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = randn(g, b, _BDIM, dtype=torch.float32, device=device)
    y = (torch.arange(b) % classes)[torch.randperm(b, generator=g)].to(device)
    return x, y


def _pml_distance() -> Any:
    from pytorch_metric_learning.distances import LpDistance

    return LpDistance(normalize_embeddings=False)


def _bench_batch_triplet(mining: str, classes: int, b: int = _BB) -> BenchCase:
    margin = 0.2

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        from pytorch_metric_learning import losses, miners

        x0, y = _batch_data(device, b, classes)
        x, xp = grad_inputs(x0, x0)
        pml = losses.TripletMarginLoss(margin=margin, distance=_pml_distance())
        ours = lambda: F.batch_triplet_loss(x, y, margin=margin, mining=mining, mean_over="active")  # noqa: E731
        if mining == "all":
            peer = lambda: pml(xp, y)  # noqa: E731
        elif mining == "hard":
            miner = miners.BatchHardMiner(distance=_pml_distance())
            peer = lambda: pml(xp, y, miner(xp, y))  # noqa: E731
        else:
            miner = miners.TripletMarginMiner(
                margin=margin, type_of_triplets="semihard", distance=_pml_distance()
            )
            peer = lambda: pml(xp, y, miner(xp, y))  # noqa: E731
        return {"losskit": _step(ours, x), "pytorch-metric-learning": _step(peer, xp)}

    return BenchCase(
        f"{mining}, B={b}, D={_BDIM}, {classes} classes x {b // classes} float32", setup
    )


def _bench_batch_contrastive() -> BenchCase:
    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        from pytorch_metric_learning import losses

        x0, y = _batch_data(device, _BB, 128)
        x, xp = grad_inputs(x0, x0)
        # PML's ContrastiveLoss is the unsquared hinge (a different formula, the same work)
        pml = losses.ContrastiveLoss(pos_margin=0.0, neg_margin=1.0, distance=_pml_distance())
        return {
            "losskit": _step(lambda: F.batch_contrastive_loss(x, y, margin=1.0), x),
            "pytorch-metric-learning": _step(lambda: pml(xp, y), xp),
        }

    return BenchCase(f"B={_BB}, D={_BDIM}, 128 classes float32", setup)


def _bench_triplet() -> BenchCase:
    n = 1024  # PML builds the (3n x 3n) distance matrix of the concatenated embeddings

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        from pytorch_metric_learning import losses

        g = torch.Generator().manual_seed(0)
        a0, p0, n0 = (randn(g, n, _BDIM, dtype=torch.float32, device=device) for _ in range(3))
        a, p, neg = grad_inputs(a0, p0, n0)
        at, pt, nt = grad_inputs(a0, p0, n0)
        ap, pp, np_ = grad_inputs(a0, p0, n0)
        from pytorch_metric_learning.reducers import MeanReducer

        torch_loss = torch.nn.TripletMarginLoss(margin=1.0)
        pml = losses.TripletMarginLoss(margin=1.0, distance=_pml_distance(), reducer=MeanReducer())
        idx = torch.arange(n, device=device)
        triplets = (idx, idx + n, idx + 2 * n)

        def pml_step() -> torch.Tensor:
            return pml(torch.cat([ap, pp, np_]), None, triplets)

        return {
            "losskit": _step(lambda: F.triplet_loss(a, p, neg, margin=1.0), a, p, neg),
            "torch": _step(lambda: torch_loss(at, pt, nt), at, pt, nt),
            "pytorch-metric-learning": _step(pml_step, ap, pp, np_),
        }

    return BenchCase(f"N={n}, D={_BDIM} float32", setup)


def _bench_contrastive() -> BenchCase:
    n = 4096

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        g = torch.Generator().manual_seed(0)
        a0, b0 = (randn(g, n, _BDIM, dtype=torch.float32, device=device) for _ in range(2))
        same = randint(g, 2, n, device=device)
        a, b = grad_inputs(a0, b0)
        at, bt = grad_inputs(a0, b0)

        def plain_torch() -> torch.Tensor:
            # the DeepID2 formula written directly in torch (no peer library implements it)
            d = torch.nn.functional.pairwise_distance(at, bt)
            return 0.5 * torch.where(same > 0, d.square(), torch.relu(1.0 - d).square()).mean()

        return {
            "losskit": _step(lambda: F.contrastive_loss(a, b, same, margin=1.0), a, b),
            "torch": _step(plain_torch, at, bt),
        }

    return BenchCase(f"N={n}, D={_BDIM} float32", setup)


# --------------------------------------------------------------------------- entries

SPECS = [
    LossSpec(
        name="contrastive_loss",
        family="embedding",
        function=F.contrastive_loss,
        module=lnn.ContrastiveLoss,
        make_inputs=_pairs,
        summary="Contrastive loss on explicit pairs (DeepID2 / Hadsell form).",
        formula="same pair: 1/2 d^2; different pair: 1/2 max(0, margin - d)^2",
        when_to_use=(
            "Verification data that comes as pairs (same / not same). Same pairs are always "
            "pulled together; different pairs are pushed apart only inside the margin."
        ),
        paper=_PAPER_CONTRASTIVE,
        peers=(
            "pytorch_metric_learning.losses.ContrastiveLoss (unsquared hinge: a different loss)",
        ),
        kwargs={"margin": 1.0},
        grad_args=(0, 1),
        bad_inputs=_CONTRASTIVE_BAD,
        bench=(_bench_contrastive(),),
    ),
    LossSpec(
        name="batch_contrastive_loss",
        family="embedding",
        function=F.batch_contrastive_loss,
        module=lnn.BatchContrastiveLoss,
        make_inputs=_batch,
        summary="Contrastive loss (DeepID2 form) over every pair of a labelled batch.",
        formula="mean over pairs i<j of: 1/2 d_ij^2 if y_i = y_j else 1/2 max(0, margin - d_ij)^2",
        when_to_use=(
            "A labelled batch instead of explicit pairs: all B(B-1)/2 pairs from one B x B "
            "distance matrix. Different pairs outnumber same pairs, so sample several images "
            "per identity."
        ),
        paper=_PAPER_CONTRASTIVE,
        peers=(
            "pytorch_metric_learning.losses.ContrastiveLoss (unsquared hinge: a different loss)",
        ),
        kwargs={"margin": 1.0},
        bad_inputs=_batch_bad("batch_contrastive_loss"),
        bench=(_bench_batch_contrastive(),),
    ),
    LossSpec(
        name="triplet_loss",
        family="embedding",
        function=F.triplet_loss,
        module=lnn.TripletLoss,
        make_inputs=_triplets,
        summary="Triplet loss on explicit (anchor, positive, negative) triplets.",
        formula="l = [d(a, p) - d(a, n) + margin]_+ (d = ||.|| or ||.||^2 with squared=True)",
        when_to_use=(
            "When triplets come ready-made. Most random triplets already satisfy the margin and "
            "give no gradient; with labelled batches use batch_triplet_loss, which mines them."
        ),
        paper=_PAPER_TRIPLET,
        peers=(
            "torch.nn.TripletMarginLoss",
            "pytorch_metric_learning.losses.TripletMarginLoss (explicit indices)",
        ),
        kwargs={"margin": 1.0},
        grad_args=(0, 1, 2),
        bad_inputs=_TRIPLET_BAD,
        bench=(_bench_triplet(),),
    ),
    LossSpec(
        name="batch_triplet_loss",
        family="embedding",
        function=F.batch_triplet_loss,
        module=lnn.BatchTripletLoss,
        make_inputs=_batch,
        summary="Triplet loss over a labelled batch with batch-all, batch-hard or semi-hard mining.",
        formula=(
            "sum over mined (a, p, n) of [d_ap - d_an + margin]_+ (or softplus), mean over all "
            "or active triplets"
        ),
        when_to_use=(
            "Metric learning from labelled batches (P identities x K images). Mining decides "
            "whether it trains at all: batch-hard (Hermans et al.) is the robust default, "
            "batch-all with mean_over='active' the gentler one, semi-hard is FaceNet's choice."
        ),
        paper=_PAPER_TRIPLET,
        peers=(
            "pytorch_metric_learning.losses.TripletMarginLoss",
            "pytorch_metric_learning.miners.BatchHardMiner",
            "pytorch_metric_learning.miners.TripletMarginMiner(type_of_triplets='semihard')",
        ),
        kwargs={"margin": 1.0},
        bad_inputs=_BATCH_TRIPLET_BAD,
        bench=(
            _bench_batch_triplet("all", 128),
            _bench_batch_triplet("hard", 128),
            _bench_batch_triplet("semihard", 128),
            _bench_batch_triplet("all", 16),
        ),
    ),
]
