"""Registry entries for the constraint losses (SPEC.md section 5): centre, centre-invariant,
range and ring.

The centre losses' modules need their sizes at construction; the registry's module classes
are the public ones with the test sizes (``num_classes=4, dim=5``) as defaults, so
``losskit.create("center_loss", num_classes=10_000, dim=512)`` builds a real one.
``module_args`` hands the module's centres (or radius) to the function.

No peer library ships these losses; the benchmarks compare with the same formula written in
plain torch (for the centre loss: a dense ``(C, D)`` gradient, what ``centers[labels]`` on an
``nn.Parameter`` gives).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .. import functional as F
from .. import nn as lnn
from ._base import BadInput, BenchCase, LossInputs, LossSpec
from ._inputs import grad_inputs, randint, randn

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


# --------------------------------------------------------------------------- bad inputs


def _centre_bad(name: str) -> tuple[BadInput, ...]:
    x, y = torch.zeros(6, 3), torch.zeros(6, dtype=torch.long)
    return (
        BadInput(
            "centres of another dimension",
            lambda: ((x, y, torch.zeros(4, 2)), {}),
            ValueError,
            rf"{name}: centers must have shape \(C, D\) with D = 3 \(the feature dimension\); got \(4, 2\)",
        ),
        BadInput(
            "label out of range",
            lambda: ((x, torch.tensor([0, 1, 2, 3, 4, 1]), torch.zeros(4, 3)), {}),
            ValueError,
            rf"{name}: labels must lie in \[0, 3\]; got values in \[0, 4\]",
        ),
        BadInput(
            "float labels",
            lambda: ((x, torch.zeros(6), torch.zeros(4, 3)), {}),
            TypeError,
            rf"{name}: labels must be an integer tensor of class indices; got dtype torch.float32",
        ),
        BadInput(
            "labels of the wrong length",
            lambda: ((x, torch.zeros(5, dtype=torch.long), torch.zeros(4, 3)), {}),
            ValueError,
            rf"{name}: labels must have shape \(N,\) = \(6,\) to match features \(6, 3\); got \(5,\)",
        ),
        BadInput(
            "integer features",
            lambda: ((torch.zeros(6, 3, dtype=torch.long), y, torch.zeros(4, 3)), {}),
            TypeError,
            rf"{name}: features must be a floating-point tensor; got dtype torch.int64",
        ),
        BadInput(
            "unknown reduction",
            lambda: ((x, y, torch.zeros(4, 3)), {"reduction": "avg"}),
            ValueError,
            rf"{name}: reduction must be one of 'none', 'mean', 'sum'; got 'avg'",
        ),
    )


_RANGE_BAD = (
    BadInput(
        "unknown reduction",
        lambda: ((torch.zeros(6, 3), torch.zeros(6, dtype=torch.long)), {"reduction": "avg"}),
        ValueError,
        r"range_loss: reduction must be one of 'none', 'mean', 'sum'; got 'avg'",
    ),
    BadInput(
        "k below 1",
        lambda: ((torch.zeros(6, 3), torch.zeros(6, dtype=torch.long)), {"k": 0}),
        ValueError,
        r"range_loss: k must be >= 1; got 0",
    ),
    BadInput(
        "negative margin",
        lambda: ((torch.zeros(6, 3), torch.zeros(6, dtype=torch.long)), {"margin": -1.0}),
        ValueError,
        r"range_loss: margin must be finite and >= 0; got -1.0",
    ),
    BadInput(
        "labels of the wrong length",
        lambda: ((torch.zeros(6, 3), torch.zeros(4, dtype=torch.long)), {}),
        ValueError,
        r"range_loss: labels must have shape \(N,\) = \(6,\) to match features \(6, 3\); got \(4,\)",
    ),
)

_RING_BAD = (
    BadInput(
        "radius with several elements",
        lambda: ((torch.zeros(6, 3), torch.ones(2)), {}),
        ValueError,
        r"ring_loss: radius must have one element; got shape \(2,\)",
    ),
    BadInput(
        "features not (N, D)",
        lambda: ((torch.zeros(6), torch.tensor(1.0)), {}),
        ValueError,
        r"ring_loss: features must have 2 dimensions; got shape \(6,\)",
    ),
    BadInput(
        "integer radius tensor",
        lambda: ((torch.zeros(6, 3), torch.tensor(1)), {}),
        TypeError,
        r"ring_loss: radius must be a floating-point tensor; got dtype torch.int64",
    ),
)


# --------------------------------------------------------------------------- benchmarks


def _step(loss: Callable[[], torch.Tensor], *leaves: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        for t in leaves:
            t.grad = None
        loss().backward()

    return step


def bench_center_step(classes: int, dim: int = 512, batch: int = 256) -> BenchCase:
    """A centre-loss training step at ``classes`` classes: losskit's paper update (forward,
    backward, centre update) and its sparse-gradient optimiser mode (forward, backward,
    ``SGD.step``) against centres indexed as a dense ``nn.Parameter`` (the same with a dense
    ``(C, D)`` gradient). The three share one centre table, so a 1,000,000 x 512 case holds
    2 GB of centres, not 6."""

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        g = torch.Generator().manual_seed(0)
        x0 = randn(g, batch, dim, dtype=torch.float32, device=device)
        y = randint(g, classes, batch, device=device)
        table = torch.randn(classes, dim, generator=g).to(device)
        (x,) = grad_inputs(x0)
        paper = lnn.CenterLoss(classes, dim, update="paper", device="meta")
        paper.centers = table
        sparse = lnn.CenterLoss(classes, dim, update="optimizer", sparse=True, device="meta")
        sparse.centers = nn.Parameter(table)
        sgd = torch.optim.SGD(sparse.parameters(), lr=0.1)
        dense = nn.Parameter(table)
        dense_sgd = torch.optim.SGD([dense], lr=0.1)

        def paper_step() -> None:
            x.grad = None
            paper(x, y).backward()  # the centre update runs inside forward

        def sparse_step() -> None:
            x.grad = None
            sgd.zero_grad()
            sparse(x, y).backward()
            sgd.step()

        def dense_step() -> None:
            x.grad = None
            dense_sgd.zero_grad()
            (0.5 * (x - dense[y]).square().sum(1)).mean().backward()
            dense_sgd.step()

        return {
            "losskit": paper_step,
            "losskit (optimizer, sparse)": sparse_step,
            "torch (dense grad)": dense_step,
        }

    return BenchCase(f"step, C={classes:,}, D={dim}, N={batch} float32", setup)


def _bench_center_invariant() -> BenchCase:
    c, dim, batch = 10_000, 512, 256

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        g = torch.Generator().manual_seed(0)
        x0 = randn(g, batch, dim, dtype=torch.float32, device=device)
        w0 = randn(g, c, dim, dtype=torch.float32, device=device)
        y = randint(g, c, batch, device=device)
        x, w = grad_inputs(x0, w0)
        xt, wt = grad_inputs(x0, w0)

        def plain_torch() -> torch.Tensor:
            norms = wt.square().sum(1)
            pull = 0.5 * (xt - wt[y]).square().sum(1)
            return (pull + 0.25 * (norms[y] - norms.mean()).square()).mean()

        return {
            "losskit": _step(lambda: F.center_invariant_loss(x, y, w, gamma=1.0), x, w),
            "torch": _step(plain_torch, xt, wt),
        }

    return BenchCase(f"C={c}, D={dim}, N={batch} float32", setup)


def _bench_range() -> BenchCase:
    n, dim = 512, 128

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        g = torch.Generator().manual_seed(0)
        x0 = randn(g, n, dim, dtype=torch.float32, device=device)
        y = (torch.arange(n) % 128)[torch.randperm(n, generator=g)].to(device)
        (x,) = grad_inputs(x0)
        return {"losskit": _step(lambda: F.range_loss(x, y, k=2, margin=200.0), x)}

    return BenchCase(f"N={n}, D={dim}, 128 classes float32", setup)


def _bench_ring() -> BenchCase:
    n, dim = 4096, 512

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        g = torch.Generator().manual_seed(0)
        x0 = randn(g, n, dim, dtype=torch.float32, device=device)
        x, xt = grad_inputs(x0, x0)
        r, rt = grad_inputs(torch.tensor(20.0, device=device), torch.tensor(20.0, device=device))

        def plain_torch() -> torch.Tensor:
            return (0.5 * (xt.norm(dim=1) - rt).square()).mean()

        return {
            "losskit": _step(lambda: F.ring_loss(x, r), x, r),
            "torch": _step(plain_torch, xt, rt),
        }

    return BenchCase(f"N={n}, D={dim} float32", setup)


# --------------------------------------------------------------------------- entries

_CENTERS = lambda m: (m.centers,)  # noqa: E731

SPECS = [
    LossSpec(
        name="center_loss",
        family="constraint",
        function=F.center_loss,
        module=lnn.CenterLoss,
        module_kwargs={"num_classes": _C, "dim": _D},
        make_inputs=_features_labels,
        summary="Centre loss: pull each feature to its learned class centre.",
        formula="l_i = 1/2 ||x_i - c_{y_i}||^2; train on ce + lambda * center",
        when_to_use=(
            "With a softmax (or margin) head, to make classes compact for open-set verification. "
            "It only tightens classes; the softmax term keeps them apart. Centres cost C x D "
            "floats (2 GB at 1,000,000 x 512); each step touches only the batch's classes."
        ),
        paper=(
            "Wen, Zhang, Li, Qiao, 'A Discriminative Feature Learning Approach for Deep Face "
            "Recognition', ECCV 2016"
        ),
        module_args=_CENTERS,
        bad_inputs=_centre_bad("center_loss"),
        bench=(bench_center_step(100_000),),
    ),
    LossSpec(
        name="center_invariant_loss",
        family="constraint",
        function=F.center_invariant_loss,
        module=lnn.CenterInvariantLoss,
        module_kwargs={"num_classes": _C, "dim": _D},
        make_inputs=_features_labels,
        summary="Centre loss plus a pull of every class centre to one common radius.",
        formula="l_i = 1/2 ||x_i - c_{y_i}||^2 + gamma/4 (||c_{y_i}||^2 - mean_k ||c_k||^2)^2",
        when_to_use=(
            "Imbalanced classes: frequent classes grow larger centres (and features) than rare "
            "ones; holding every centre to the mean squared norm removes that bias."
        ),
        paper=(
            "Wu, Liu, Li, Fu, 'Deep Face Recognition with Center Invariant Loss', ACM Multimedia "
            "2017 Thematic Workshops"
        ),
        kwargs={"gamma": 0.5},
        module_args=_CENTERS,
        bad_inputs=_centre_bad("center_invariant_loss"),
        bench=(_bench_center_invariant(),),
    ),
    LossSpec(
        name="range_loss",
        family="constraint",
        function=F.range_loss,
        module=lnn.RangeLoss,
        make_inputs=_grouped,
        summary="Range loss: shrink each class's largest spans, push the two closest class means apart.",
        formula=(
            "alpha * mean_c [k / sum_{j<=k} 1/D_j(c)] + beta * max(margin - ||xbar_Q - xbar_R||^2, 0)"
        ),
        when_to_use=(
            "Long-tailed data: every class of the batch contributes one term whatever its "
            "frequency, and the margin acts on the two closest class means."
        ),
        paper=(
            "Zhang, Fang, Wen, Li, Qiao, 'Range Loss for Deep Face Recognition with Long-tailed "
            "Training Data', ICCV 2017, arXiv:1611.08976"
        ),
        kwargs={"k": 2, "margin": 20.0},
        batch_in_output=False,  # "none" is (N + 1,): class terms at first samples, then inter
        bad_inputs=_RANGE_BAD,
        bench=(_bench_range(),),
    ),
    LossSpec(
        name="ring_loss",
        family="constraint",
        function=F.ring_loss,
        module=lnn.RingLoss,
        make_inputs=_features,
        summary="Ring loss: pull feature norms to a learned radius R.",
        formula="l_i = 1/2 (||x_i|| - R)^2, R learned; train on ce + lambda * ring",
        when_to_use=(
            "A soft feature normalisation before a softmax or margin head: the norm is pulled "
            "to one value without the hard projection (and its gradient issues) of x / ||x||."
        ),
        paper=(
            "Zheng, Pal, Savvides, 'Ring loss: Convex Feature Normalization for Face "
            "Recognition', CVPR 2018, arXiv:1803.00130"
        ),
        module_args=lambda m: (m.radius,),
        bad_inputs=_RING_BAD,
        bench=(_bench_ring(),),
    ),
]
