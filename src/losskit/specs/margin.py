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


def _magnitude_inputs(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    """As :func:`_inputs`, with magnitudes spread over MagFace's test bounds [1, 10]."""
    inputs = _inputs(n, dtype=dtype, device=device, generator=generator)
    return LossInputs(args=(inputs.args[0] * 2.0, inputs.args[1]), batched=inputs.batched)


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


def _target_curves(
    settings: dict[str, tuple[Callable, dict[str, Any], tuple[Any, ...]]], note: str,
    *, norm: float = 1.0, norms: dict[str, float] | None = None,
    title: str = "the target logit over the target angle",
) -> Panel:  # fmt: skip
    """The margined target logit ``f(theta_y)``, in cosine units (divided by the scale), of
    each ``label: (function, kwargs, state)``, read off the loss itself: the only other class
    is orthogonal to the plane the feature turns in, so its logit is 0 (a hard-negative
    modulation leaves 0 at 0) and the loss is ``softplus(-s f)``."""
    theta = torch.linspace(1e-3, math.pi - 1e-3, 361, dtype=torch.float64)
    w = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)

    def target_of(
        t: torch.Tensor, fn: Callable, kw: dict[str, Any], state, r: float
    ) -> torch.Tensor:
        x = r * torch.stack([torch.cos(t), torch.sin(t), torch.zeros_like(t)], dim=1)
        y = torch.zeros(t.shape[0], dtype=torch.long)
        loss = fn(x, y, w, *state, reduction="none", **kw)
        return -torch.log(torch.expm1(loss)) / kw["scale"]  # softplus(-z) = loss

    radius = {label: (norms or {}).get(label, norm) for label in settings}
    curves = tuple(
        scalar_curve(
            label, theta, lambda t, f=f, kw=kw, st=st, r=radius[label]: target_of(t, f, kw, st, r)
        )  # fmt: skip
        for label, (f, kw, st) in settings.items()
    )
    xlabel = "theta_y (radians); the curve is the target logit / s, its slope beside it"
    return Panel(title, xlabel, theta, curves, note)


def _face_explain(
    targets: dict[str, tuple[Callable, dict[str, Any], tuple[Any, ...]]], target_note: str,
    losses: dict[str, tuple[Callable, dict[str, Any], tuple[Any, ...]]], loss_note: str,
    *, norm: float = 1.0, norms: dict[str, float] | None = None,
) -> Callable[[], tuple[Panel, ...]]:  # fmt: skip
    """Two panels: each head's target logit beside ArcFace's, and the loss over theta in the
    plane of four class weights (see :func:`_explain`), again beside ArcFace."""

    def panels() -> tuple[Panel, ...]:
        first = _target_curves(targets, target_note, norm=norm, norms=norms)
        radius = {label: (norms or {}).get(label, norm) for label in losses}
        theta = torch.linspace(1e-3, math.pi, 361, dtype=torch.float64)
        w = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], dtype=torch.float64)

        def loss_of(
            t: torch.Tensor, fn: Callable, kw: dict[str, Any], state, r: float
        ) -> torch.Tensor:
            x = r * torch.stack([torch.cos(t), torch.sin(t)], dim=1)
            y = torch.zeros(t.shape[0], dtype=torch.long)
            return fn(x, y, w, *state, reduction="none", **kw)

        curves = tuple(
            scalar_curve(
                label, theta, lambda t, f=f, kw=kw, st=st, r=radius[label]: loss_of(t, f, kw, st, r)
            )  # fmt: skip
            for label, (f, kw, st) in losses.items()
        )
        xlabel = "theta (radians), the angle to the class weight"
        return first, Panel("the loss over the target angle", xlabel, theta, curves, loss_note)

    return panels


def _t(value: float) -> tuple[torch.Tensor]:
    return (torch.tensor(value, dtype=torch.float64),)


def _stats(mean: float, std: float) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.tensor(mean, dtype=torch.float64), torch.tensor(std, dtype=torch.float64))


def _uniface_explain() -> tuple[Panel, ...]:
    """UniFace scores each (sample, class) pair against one threshold: its positive term
    over the target angle beside ArcFace's target logit, and the whole loss."""
    b = torch.tensor(math.log(40.0), dtype=torch.float64)  # log(10 C) for 4 classes
    theta = torch.linspace(1e-3, math.pi - 1e-3, 361, dtype=torch.float64)

    def positive(t: torch.Tensor, m: float) -> torch.Tensor:
        # the positive pair's logit s (cos theta - m) - b, as a cosine: read off the loss of
        # a sample whose only other class is orthogonal (its negative term is fixed)
        x = torch.stack([torch.cos(t), torch.sin(t), torch.zeros_like(t)], dim=1)
        w = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
        y = torch.zeros(t.shape[0], dtype=torch.long)
        loss = F.uniface_loss(x, y, w, b, cos_margin=m, scale=16.0, negative_weight=0.0,
                              reduction="none")  # fmt: skip
        return (b - torch.log(torch.expm1(loss))) / 16.0  # softplus(b - z) = loss

    first = _target_curves({"ArcFace, m=0.5": _ARCFACE}, "", norm=1.0)
    curves = (
        first.curves[0],
        scalar_curve("UniFace, m=0.4: s (cos - m) / s", theta, lambda t: positive(t, 0.4)),
        scalar_curve("UniFace, m=0 (UCE)", theta, lambda t: positive(t, 0.0)),
    )
    note = (
        "UniFace's positive logit is CosFace's; what differs is that it is compared with one "
        "learned threshold b (here log(10 C) = 3.7, i.e. a cosine of 0.23 at s = 16), not with "
        "the sample's own negatives."
    )
    xlabel = "theta_y (radians); the curve is the target logit / s, its slope beside it"
    panel = Panel("the target logit over the target angle", xlabel, theta, curves, note)
    loss_panel = _face_explain(
        {},
        "",
        {
            "ArcFace, m=0.5": _ARCFACE,
            "UniFace, m=0.4": (F.uniface_loss, {"cos_margin": 0.4, "scale": 16.0}, (b,)),
        },
        "Each pair's loss is a sigmoid's against b: even at theta = 0 the two classes at 90 "
        "degrees cost 2 log(1 + e^{-b}) = 0.05 (s = 16), where softmax's loss vanishes.",
    )()[1]
    return panel, loss_panel


_ARC = {"margin": 0.5, "scale": 16.0}
_ARCFACE = (F.arcface_loss, _ARC, ())


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
    _entry(
        function=F.curricularface_loss,
        peers=("CurricularFace (HuangYG123/CurricularFace head/metrics.py)",),
        kwargs={"margin": 0.5, "scale": 8.0, "momentum": 0.5, "stop_gradient": False},
        explain=_face_explain(
            {
                "ArcFace, m=0.5": _ARCFACE,
                "CurricularFace, m=0.5": (
                    F.curricularface_loss,
                    {**_ARC, "momentum": 0.0},
                    _t(0.3),
                ),
            },
            "The target is ArcFace's: cos(theta_y + m), then cos theta - m sin m past pi - m. "
            "What CurricularFace changes is the negatives (next panel).",
            {
                "ArcFace, m=0.5": _ARCFACE,
                "t=0 (early)": (F.curricularface_loss, {**_ARC, "momentum": 0.0}, _t(0.0)),
                "t=0.5": (F.curricularface_loss, {**_ARC, "momentum": 0.0}, _t(0.5)),
                "t=1 (late)": (F.curricularface_loss, {**_ARC, "momentum": 0.0}, _t(1.0)),
            },
            "Once a neighbour's cosine beats cos(theta_y + m) it is a hard negative, logit "
            "s c (t + c): with t near 0 (early) it counts less than in ArcFace, with t near 1 "
            "(late) more. s = 16.",
        ),
    ),
    _entry(
        function=F.adaface_loss,
        peers=("AdaFace (mk-minchul/AdaFace head.py)",),
        kwargs={"margin": 0.4, "scale": 8.0, "momentum": 0.5, "stop_gradient": False},
        explain=_face_explain(
            {
                "ArcFace, m=0.5": _ARCFACE,
                "AdaFace, q=-1 (low quality)": (
                    F.adaface_loss,
                    {"margin": 0.4, "scale": 16.0, "h": 1.0, "momentum": 0.0},
                    _stats(10.0, 0.999),
                ),
                "AdaFace, q=0": (
                    F.adaface_loss,
                    {"margin": 0.4, "scale": 16.0, "h": 1.0, "momentum": 0.0},
                    _stats(9.0, 0.999),
                ),
                "AdaFace, q=+1 (high quality)": (
                    F.adaface_loss,
                    {"margin": 0.4, "scale": 16.0, "h": 1.0, "momentum": 0.0},
                    _stats(8.0, 0.999),
                ),
            },
            "Feature norm 9, standardised to q = -1, 0, +1 (norm statistics 10, 9, 8; h = 1): "
            "low quality gets ArcFace's angular margin, high quality CosFace's 2m and a "
            "negative angular margin (the curve is steepest far from the class).",
            {
                "ArcFace, m=0.5": _ARCFACE,
                "AdaFace, q=-1": (
                    F.adaface_loss,
                    {"margin": 0.4, "scale": 16.0, "h": 1.0, "momentum": 0.0},
                    _stats(10.0, 0.999),
                ),
                "AdaFace, q=+1": (
                    F.adaface_loss,
                    {"margin": 0.4, "scale": 16.0, "h": 1.0, "momentum": 0.0},
                    _stats(8.0, 0.999),
                ),
            },
            "A low-quality sample (q = -1) that is far from its class is asked for less than "
            "a high-quality one. s = 16, ||x|| = 9.",
            norm=9.0,
        ),
    ),
    _entry(
        function=F.magface_loss,
        peers=("MagFace (IrvingMeng/MagFace models/magface.py)",),
        make_inputs=_magnitude_inputs,
        kwargs={"scale": 8.0, "min_norm": 1.0, "max_norm": 10.0, "reg_weight": 2.0},
        explain=_face_explain(
            {
                "ArcFace, m=0.5": _ARCFACE,
                "MagFace, ||x|| = 10 (m = 0.45)": (
                    F.magface_loss,
                    {"scale": 16.0, "reg_weight": 0.0},
                    (),
                ),
                "MagFace, ||x|| = 110 (m = 0.8)": (
                    F.magface_loss,
                    {"scale": 16.0, "reg_weight": 0.0},
                    (),
                ),
            },
            "The margin grows with the magnitude, from 0.45 at ||x|| = 10 to 0.8 at 110: a "
            "large norm must sit closer to its class (regulariser left out here).",
            {
                "ArcFace, m=0.5": _ARCFACE,
                "MagFace, ||x|| = 10": (F.magface_loss, {"scale": 16.0}, ()),
                "MagFace, ||x|| = 110": (F.magface_loss, {"scale": 16.0}, ()),
            },
            "With the regulariser (lambda_g = 35): a small magnitude pays 35 (1/a + a/u_a^2), "
            "3.53 at a = 10 against 0.64 at 110, wherever the sample is.",
            norms={
                "MagFace, ||x|| = 10 (m = 0.45)": 10.0,
                "MagFace, ||x|| = 110 (m = 0.8)": 110.0,
                "MagFace, ||x|| = 10": 10.0,
                "MagFace, ||x|| = 110": 110.0,
            },
        ),
    ),
    _entry(
        function=F.elastic_arcface_loss,
        peers=("ElasticArcFace (fdbtrs/ElasticFace utils/losses.py)",),
        # the harness needs a deterministic call: sigma 0 here (ArcFace); the random draws
        # are tested in tests/functional/test_face.py with seeded generators
        kwargs={"margin": 0.5, "sigma": 0.0, "scale": 8.0},
        explain=_face_explain(
            {
                "ArcFace, m=0.5": _ARCFACE,
                "ElasticFace-Arc, m = 0.5 - 2 sigma": (
                    F.elastic_arcface_loss,
                    {"margin": 0.4, "sigma": 0.0, "scale": 16.0},
                    (),
                ),
                "ElasticFace-Arc, m = 0.5 + 2 sigma": (
                    F.elastic_arcface_loss,
                    {"margin": 0.6, "sigma": 0.0, "scale": 16.0},
                    (),
                ),
            },
            "Each sample's margin is drawn from N(0.5, 0.05^2): about 95 % of the target "
            "curves fall between these two (m = 0.4 and 0.6) around ArcFace's.",
            {
                "ArcFace, m=0.5": _ARCFACE,
                "m = 0.4": (
                    F.elastic_arcface_loss,
                    {"margin": 0.4, "sigma": 0.0, "scale": 16.0},
                    (),
                ),
                "m = 0.6": (
                    F.elastic_arcface_loss,
                    {"margin": 0.6, "sigma": 0.0, "scale": 16.0},
                    (),
                ),
            },
            "The loss of a sample with the smallest and the largest usual margin. s = 16.",
        ),
    ),
    _entry(
        function=F.elastic_cosface_loss,
        peers=("ElasticCosFace (fdbtrs/ElasticFace utils/losses.py)",),
        kwargs={"cos_margin": 0.35, "sigma": 0.0, "scale": 8.0},
        explain=_face_explain(
            {
                "ArcFace, m=0.5": _ARCFACE,
                "ElasticFace-Cos, m = 0.35": (
                    F.elastic_cosface_loss,
                    {"cos_margin": 0.35, "sigma": 0.0, "scale": 16.0},
                    (),
                ),
                "m = 0.25": (
                    F.elastic_cosface_loss,
                    {"cos_margin": 0.25, "sigma": 0.0, "scale": 16.0},
                    (),
                ),
                "m = 0.45": (
                    F.elastic_cosface_loss,
                    {"cos_margin": 0.45, "sigma": 0.0, "scale": 16.0},
                    (),
                ),
            },
            "The cosine margin shifts the curve down by m ~ N(0.35, 0.05^2): between the "
            "m = 0.25 and 0.45 curves for about 95 % of the samples.",
            {
                "ArcFace, m=0.5": _ARCFACE,
                "ElasticFace-Cos, m = 0.35": (
                    F.elastic_cosface_loss,
                    {"cos_margin": 0.35, "sigma": 0.0, "scale": 16.0},
                    (),
                ),
            },
            "s = 16.",
        ),
    ),
    _entry(
        function=F.uniface_loss,
        peers=("Unified_Cross_Entropy_Loss (CVI-SZU/UniFace head.py)",),
        kwargs={"cos_margin": 0.4, "scale": 8.0},
        explain=_uniface_explain,
    ),
]
