"""Registry entries for the angular-margin softmax family.

Each module owns its class centres (its ``state``), which the shared tester hands to the
function to check function == module. A head needs its sizes at construction: the entries
give the test sizes (``num_classes=5, embedding_dim=6``) in ``module_kwargs``, and
``losskit.create("arcface", num_classes=10_000, embedding_dim=512)`` builds a real head.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import torch

from .. import functional as F
from ._base import LossInputs, LossSpec
from ._explain import Panel, scalar_curve
from ._inputs import randint, randn

_D = 6  # embedding dimension of the registry's inputs
_C = 5  # classes
_K = 2  # sub-centres


def _inputs(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    embeddings = randn(generator, n, _D, dtype=dtype, device=device) * 1.5
    labels = randint(generator, _C, n, device=device)
    return LossInputs(args=(embeddings, labels), batched=(True, True))


# --------------------------------------------------------------------------- explain


def _explain(
    fn: Callable,
    settings: dict[str, dict[str, Any]],
    note: str,
    *,
    norm: float = 1.0,
    bias: bool = False,
    subcenters: bool = False,
) -> Callable[[], tuple[Panel, ...]]:
    """Loss and d loss / d theta of one feature at angle theta from its class weight, in a
    plane with four class weights 90 degrees apart (the feature turns toward class 1)."""

    def panels() -> tuple[Panel, ...]:
        theta = torch.linspace(1e-3, math.pi, 361, dtype=torch.float64)
        w = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], dtype=torch.float64)
        if subcenters:  # a second sub-centre per class, 60 degrees further on
            rot = torch.tensor(
                [[0.5, math.sqrt(3) / 2], [-math.sqrt(3) / 2, 0.5]], dtype=torch.float64
            )
            w = torch.stack([w, w @ rot.T], dim=1)

        def loss_of(t: torch.Tensor, kw: dict[str, Any]) -> torch.Tensor:
            x = norm * torch.stack([torch.cos(t), torch.sin(t)], dim=1)
            y = torch.zeros(t.shape[0], dtype=torch.long)
            extra = (torch.zeros(4, dtype=torch.float64),) if bias else ()
            return fn(x, y, w, *extra, reduction="none", **kw)

        curves = tuple(
            scalar_curve(label, theta, lambda t, kw=kw: loss_of(t, kw))
            for label, kw in settings.items()
        )
        xlabel = "theta (radians), the angle to the class weight"
        return (Panel("over the target angle", xlabel, theta, curves, note),)

    return panels


# --------------------------------------------------------------------------- entries

#: the keyword arguments every entry of the family shares
_entry = partial(
    LossSpec,
    family="margin",
    make_inputs=_inputs,
    module_kwargs={"num_classes": _C, "embedding_dim": _D},
)

SPECS = [
    _entry(
        function=F.softmax_loss,
        peers=("torch.nn.functional.cross_entropy(torch.nn.functional.linear(x, W, b), y)",),
        explain=_explain(
            F.softmax_loss,
            {"softmax, ||x|| = 4": {}},
            "The loss falls as theta shrinks, but once the class wins its gradient fades: "
            "softmax does not ask for compact classes.",
            norm=4.0,
            bias=True,
        ),
    ),
    _entry(
        function=F.lsoftmax_loss,
        peers=("pytorch_metric_learning.losses.LargeMarginSoftmaxLoss",),
        kwargs={"m": 2, "lambda_": 0.5},
        explain=_explain(
            F.lsoftmax_loss,
            {"m=1 (softmax)": {"m": 1}, "m=2": {"m": 2}, "m=4": {"m": 4}},
            "A larger m keeps the loss and its gradient high until theta is about m times "
            "smaller than softmax would accept. ||x|| = 4, ||W|| = 1.",
            norm=4.0,
        ),
    ),
    _entry(
        function=F.sphereface_loss,
        peers=("pytorch_metric_learning.losses.SphereFaceLoss",),
        kwargs={"m": 4, "lambda_": 1.0},
        explain=_explain(
            F.sphereface_loss,
            {"m=4": {"m": 4}, "m=4, lambda=5": {"m": 4, "lambda_": 5.0}, "m=1": {"m": 1}},
            "psi(theta) makes the loss steep far from the class weight; annealing (lambda = 5) "
            "softens it toward softmax. ||x|| = 8.",
            norm=8.0,
        ),
    ),
    _entry(
        function=F.coco_loss,
        peers=("pytorch_metric_learning.losses.NormalizedSoftmaxLoss",),
        kwargs={"scale": 8.0},
        explain=_explain(
            F.coco_loss,
            {"alpha=1": {"scale": 1.0}, "alpha=4": {"scale": 4.0}, "alpha=16": {"scale": 16.0}},
            "With a small alpha the loss cannot approach 0 even at theta = 0.",
        ),
    ),
    _entry(
        function=F.l2_softmax_loss,
        kwargs={"scale": 4.0},
        explain=_explain(
            F.l2_softmax_loss,
            {"alpha=1": {"scale": 1.0}, "alpha=4": {"scale": 4.0}, "alpha=16": {"scale": 16.0}},
            "The feature's norm is fixed to alpha; the loss floor drops as alpha grows.",
            bias=True,
        ),
    ),
    _entry(
        function=F.normface_loss,
        peers=("pytorch_metric_learning.losses.NormalizedSoftmaxLoss",),
        kwargs={"scale": 8.0},
        explain=_explain(
            F.normface_loss,
            {"s=1": {"scale": 1.0}, "s=4": {"scale": 4.0}, "s=16": {"scale": 16.0}},
            "Without a scale (s = 1) the loss stays high at theta = 0: the NormFace lower bound.",
        ),
    ),
    _entry(
        function=F.cosface_loss,
        peers=("pytorch_metric_learning.losses.CosFaceLoss",),
        kwargs={"cos_margin": 0.35, "scale": 8.0},
        explain=_explain(
            F.cosface_loss,
            {
                "m=0 (NormFace)": {"cos_margin": 0.0, "scale": 16.0},
                "m=0.35": {"cos_margin": 0.35, "scale": 16.0},
            },
            "The cosine margin shifts the loss curve: the gradient stays large until theta is "
            "well below NormFace's. s = 16.",
        ),
    ),
    _entry(
        function=F.arcface_loss,
        peers=(
            "pytorch_metric_learning.losses.ArcFaceLoss",
            "insightface arcface_torch CombinedMarginLoss",
        ),
        kwargs={"margin": 0.5, "scale": 8.0},
        explain=_explain(
            F.arcface_loss,
            {
                "m=0 (NormFace)": {"margin": 0.0, "scale": 16.0},
                "m=0.5": {"margin": 0.5, "scale": 16.0},
                "m=0.5, easy_margin": {"margin": 0.5, "scale": 16.0, "easy_margin": True},
            },
            "The angular margin asks theta to be 0.5 rad smaller; past pi - m the target switches "
            "to cos theta - m sin m (a jump in the loss). s = 16.",
        ),
    ),
    _entry(
        function=F.combined_margin_loss,
        peers=("insightface arcface_torch CombinedMarginLoss",),
        kwargs={"m": 1.0, "margin": 0.3, "cos_margin": 0.2, "scale": 8.0},
        explain=_explain(
            F.combined_margin_loss,
            {
                "(1, 0.3, 0.2)": {"m": 1.0, "margin": 0.3, "cos_margin": 0.2, "scale": 16.0},
                "(1, 0.5, 0) = ArcFace": {
                    "m": 1.0,
                    "margin": 0.5,
                    "cos_margin": 0.0,
                    "scale": 16.0,
                },
                "(1, 0, 0.35) = CosFace": {
                    "m": 1.0,
                    "margin": 0.0,
                    "cos_margin": 0.35,
                    "scale": 16.0,
                },
            },
            "Three margins in one formula. s = 16.",
        ),
    ),
    _entry(
        function=F.subcenter_arcface_loss,
        module_kwargs={"num_classes": _C, "embedding_dim": _D, "subcenters": _K},
        kwargs={"margin": 0.5, "scale": 8.0},
        explain=_explain(
            F.subcenter_arcface_loss,
            {"K=2, m=0.5": {"margin": 0.5, "scale": 16.0}},
            "Each class has a second sub-centre 60 degrees on: the loss dips again near it, "
            "so a sample only needs to be near one of them. s = 16.",
            subcenters=True,
        ),
    ),
]
