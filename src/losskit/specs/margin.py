"""Registry entries for the angular-margin softmax family (SPEC.md section 6).

Each module owns its class weight, so ``module_args`` hands the module's parameters to the
function and the shared tester can check function == module. A module needs its sizes at
construction; the registry's module classes are the public ones with the test sizes
(``in_features=6, num_classes=5``) as defaults, so ``losskit.create("arcface_loss",
in_features=512, num_classes=10_000)`` builds a real head.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as TF

from .. import functional as F
from .. import nn as lnn
from ._base import BadInput, BenchCase, LossInputs, LossSpec
from ._explain import Panel, scalar_curve
from ._inputs import grad_inputs, randint, randn

_D = 6  # feature dimension of the registry's inputs
_C = 5  # classes
_K = 2  # sub-centres


def _inputs(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    features = randn(generator, n, _D, dtype=dtype, device=device) * 1.5
    labels = randint(generator, _C, n, device=device)
    return LossInputs(args=(features, labels), batched=(True, True))


def _bad(
    fn: Callable, weight_shape: tuple[int, ...] = (_C, _D), extra: tuple[BadInput, ...] = ()
) -> tuple[BadInput, ...]:
    name = fn.__name__
    w = lambda: torch.randn(*weight_shape)  # noqa: E731
    x = lambda n=4: torch.randn(n, _D)  # noqa: E731
    y = lambda n=4: torch.zeros(n, dtype=torch.long)  # noqa: E731
    return (
        BadInput(
            "batch mismatch",
            lambda: ((x(4), y(3), w()), {}),
            ValueError,
            rf"{name}: features and labels must have the same batch size; got \(4, {_D}\) and \(3,\)",
        ),
        BadInput(
            "feature dimension mismatch",
            lambda: ((torch.randn(4, _D + 1), y(), w()), {}),
            ValueError,
            rf"{name}: weight's last dimension must equal the feature dimension {_D + 1}",
        ),
        BadInput(
            "label out of range",
            lambda: ((x(), torch.tensor([0, 1, 2, _C]), w()), {}),
            ValueError,
            rf"{name}: labels must lie in \[0, {_C - 1}\]; got values in \[0, {_C}\]",
        ),
        BadInput(
            "integer features",
            lambda: ((torch.zeros(4, _D, dtype=torch.long), y(), w()), {}),
            TypeError,
            rf"{name}: features must be a floating-point tensor; got dtype torch.int64",
        ),
        BadInput(
            "float labels",
            lambda: ((x(), torch.zeros(4), w()), {}),
            TypeError,
            rf"{name}: labels must be an integer tensor of class indices; got dtype torch.float32",
        ),
        BadInput(
            "unknown reduction",
            lambda: ((x(), y(), w()), {"reduction": "avg"}),
            ValueError,
            rf"{name}: reduction must be one of 'none', 'mean', 'sum'; got 'avg'",
        ),
        BadInput(
            "chunk_size 0",
            lambda: ((x(), y(), w()), {"chunk_size": 0}),
            ValueError,
            rf"{name}: chunk_size must be >= 1; got 0",
        ),
        *extra,
    )


def _bad_kw(
    name: str, kwargs: dict[str, Any], error: type[Exception], match: str, weight_shape=(_C, _D)
) -> BadInput:
    return BadInput(
        f"bad {', '.join(kwargs)}",
        lambda: (
            (torch.randn(4, _D), torch.zeros(4, dtype=torch.long), torch.randn(*weight_shape)),
            kwargs,
        ),
        error,
        match,
    )


# --------------------------------------------------------------------------- benchmarks

_B, _BD, _BC = 256, 512, 10_000  # benchmark batch, feature dimension, classes


def _bench_data(device: torch.device, subcenters: int | None = None):
    g = torch.Generator().manual_seed(0)
    x = randn(g, _B, _BD, dtype=torch.float32, device=device)
    y = randint(g, _BC, _B, device=device)
    shape = (_BC, _BD) if subcenters is None else (_BC, subcenters, _BD)
    w = randn(g, *shape, dtype=torch.float32, device=device) * 0.05
    return x, y, w


def _step(loss_of: Callable[[], torch.Tensor], *leaves: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        for t in leaves:
            t.grad = None
        loss_of().backward()

    return step


def _bench_vs_pml(
    fn: Callable, pml_class: str, ours: dict[str, Any], theirs: dict[str, Any]
) -> tuple[BenchCase, ...]:
    """losskit (dense and chunked) against a pytorch-metric-learning loss on the same W."""

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        from pytorch_metric_learning import losses

        x0, y, w0 = _bench_data(device)
        x, w = grad_inputs(x0, w0)
        peer = getattr(losses, pml_class)(num_classes=_BC, embedding_size=_BD, **theirs).to(device)
        with torch.no_grad():
            peer.W.copy_(w0.T)  # PML stores W as (D, C)
        xp = x0.detach().clone().requires_grad_(True)
        return {
            "losskit": _step(lambda: fn(x, y, w, **ours), x, w),
            "losskit chunk_size=2048": _step(lambda: fn(x, y, w, chunk_size=2048, **ours), x, w),
            "pytorch_metric_learning": _step(lambda: peer(xp, y), xp, peer.W),
        }

    return (BenchCase(f"B={_B}, D={_BD}, C={_BC} float32", setup),)


def _bench_vs_autograd(
    fn: Callable,
    reference: Callable,
    ours: dict[str, Any],
    subcenters: int | None = None,
    bias: bool = False,
) -> tuple[BenchCase, ...]:
    """losskit against the same loss written in plain torch autograd (dense logits)."""

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        x0, y, w0 = _bench_data(device, subcenters)
        x, w = grad_inputs(x0, w0)
        xr, wr = grad_inputs(x0, w0)
        if bias:
            b, br = grad_inputs(torch.zeros(_BC, device=device), torch.zeros(_BC, device=device))
            return {
                "losskit": _step(lambda: fn(x, y, w, b, **ours), x, w, b),
                "torch": _step(lambda: reference(xr, y, wr, br), xr, wr, br),
            }
        return {
            "losskit": _step(lambda: fn(x, y, w, **ours), x, w),
            "torch": _step(lambda: reference(xr, y, wr), xr, wr),
        }

    return (BenchCase(f"B={_B}, D={_BD}, C={_BC} float32", setup),)


def _cos(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return TF.linear(TF.normalize(x, dim=-1), TF.normalize(w, dim=-1))


def _ref_softmax(x, y, w, b):
    return TF.cross_entropy(TF.linear(x, w, b), y)


def _ref_l2_softmax(x, y, w, b):
    return TF.cross_entropy(TF.linear(TF.normalize(x, dim=1) * 16.0, w, b), y)


def _ref_coco(x, y, w):
    return TF.cross_entropy(_cos(x, w) * 16.0, y)


def _ref_combined(x, y, w):
    return TF.cross_entropy(F.margin_logits(_cos(x, w), y, m1=1.0, m2=0.3, m3=0.2, scale=64.0), y)


def _ref_subcenter(x, y, w):
    cos = torch.einsum("bd,ckd->bck", TF.normalize(x, dim=-1), TF.normalize(w, dim=-1)).amax(-1)
    return TF.cross_entropy(F.margin_logits(cos, y, m2=0.5, scale=64.0), y)


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

_WB = lambda m: (m.weight, m.bias)  # noqa: E731
_W = lambda m: (m.weight,)  # noqa: E731

SPECS = [
    LossSpec(
        name="softmax_loss",
        family="margin",
        function=F.softmax_loss,
        module=lnn.SoftmaxLoss,
        module_kwargs={"in_features": _D, "num_classes": _C},
        make_inputs=_inputs,
        summary="Softmax loss: a linear layer with bias, then cross-entropy.",
        formula="l = -log(e^{W_y.x + b_y} / sum_j e^{W_j.x + b_j})",
        when_to_use=(
            "The baseline classifier head. It separates classes but does not make them compact, "
            "so its features are weaker for open-set verification than a margin loss's."
        ),
        peers=("torch.nn.functional.cross_entropy(torch.nn.functional.linear(x, W, b), y)",),
        module_args=_WB,
        bad_inputs=_bad(F.softmax_loss),
        explain=_explain(
            F.softmax_loss,
            {"softmax, ||x|| = 4": {}},
            "The loss falls as theta shrinks, but once the class wins its gradient fades: "
            "softmax does not ask for compact classes.",
            norm=4.0,
            bias=True,
        ),
        bench=_bench_vs_autograd(F.softmax_loss, _ref_softmax, {}, bias=True),
    ),
    LossSpec(
        name="lsoftmax_loss",
        family="margin",
        function=F.lsoftmax_loss,
        module=lnn.LSoftmaxLoss,
        module_kwargs={"in_features": _D, "num_classes": _C},
        make_inputs=_inputs,
        summary="L-Softmax: multiplicative angular margin psi(m theta) on unnormalised logits.",
        formula=(
            "target ||W_y|| ||x|| (lambda cos t + psi(t)) / (1 + lambda), psi(t) = (-1)^k cos(m t) - 2k; "
            "others W_j.x"
        ),
        when_to_use=(
            "Historical: the first large-margin softmax. Hard to train (anneal lambda from ~1000 "
            "down) and sensitive to feature and weight norms; prefer ArcFace or CosFace today."
        ),
        paper="Liu, Wen, Yu, Yang, 'Large-Margin Softmax Loss for Convolutional Neural Networks', ICML 2016, arXiv:1612.02295",
        peers=("pytorch_metric_learning.losses.LargeMarginSoftmaxLoss",),
        kwargs={"m": 2, "lambda_": 0.5},
        module_args=_W,
        bad_inputs=_bad(
            F.lsoftmax_loss,
            extra=(
                _bad_kw(
                    "lsoftmax_loss",
                    {"m": 2.5},
                    ValueError,
                    r"lsoftmax_loss: m \(the multiplicative margin\) must be an integer >= 1; got 2.5",
                ),
                _bad_kw(
                    "lsoftmax_loss",
                    {"lambda_": -1.0},
                    ValueError,
                    r"lsoftmax_loss: lambda_ must be finite and >= 0; got -1.0",
                ),
            ),
        ),
        explain=_explain(
            F.lsoftmax_loss,
            {"m=1 (softmax)": {"m": 1}, "m=2": {"m": 2}, "m=4": {"m": 4}},
            "A larger m keeps the loss and its gradient high until theta is about m times "
            "smaller than softmax would accept. ||x|| = 4, ||W|| = 1.",
            norm=4.0,
        ),
        bench=_bench_vs_pml(F.lsoftmax_loss, "LargeMarginSoftmaxLoss", {"m": 4}, {"margin": 4}),
    ),
    LossSpec(
        name="sphereface_loss",
        family="margin",
        function=F.sphereface_loss,
        module=lnn.SphereFaceLoss,
        module_kwargs={"in_features": _D, "num_classes": _C},
        make_inputs=_inputs,
        summary="SphereFace (A-Softmax): L-Softmax with normalised class weights.",
        formula="target ||x|| (lambda cos t + psi(t)) / (1 + lambda); others ||x|| cos t_j",
        when_to_use=(
            "Angular margin on the hypersphere with a multiplicative margin m; needs the lambda "
            "annealing schedule (LambdaSchedule) to converge. Superseded by additive margins."
        ),
        paper="Liu, Wen, Yu, Li, Raj, Song, 'SphereFace: Deep Hypersphere Embedding for Face Recognition', CVPR 2017, arXiv:1704.08063",
        peers=("pytorch_metric_learning.losses.SphereFaceLoss",),
        kwargs={"m": 4, "lambda_": 1.0},
        module_args=_W,
        bad_inputs=_bad(
            F.sphereface_loss,
            extra=(
                _bad_kw(
                    "sphereface_loss",
                    {"m": 0},
                    ValueError,
                    r"sphereface_loss: m \(the multiplicative margin\) must be an integer >= 1; got 0",
                ),
            ),
        ),
        explain=_explain(
            F.sphereface_loss,
            {"m=4": {"m": 4}, "m=4, lambda=5": {"m": 4, "lambda_": 5.0}, "m=1": {"m": 1}},
            "psi(theta) makes the loss steep far from the class weight; annealing (lambda = 5) "
            "softens it toward softmax. ||x|| = 8.",
            norm=8.0,
        ),
        bench=_bench_vs_pml(F.sphereface_loss, "SphereFaceLoss", {"m": 4}, {"margin": 4}),
    ),
    LossSpec(
        name="coco_loss",
        family="margin",
        function=F.coco_loss,
        module=lnn.COCOLoss,
        module_kwargs={"in_features": _D, "num_classes": _C},
        make_inputs=_inputs,
        summary="COCO: softmax over alpha cos between normalised features and class centroids.",
        formula="l = -log(e^{alpha cos t_y} / sum_j e^{alpha cos t_j})",
        when_to_use=(
            "Person/face recognition with cosine features; the same function as NormFace. "
            "Pick alpha above the NormFace bound for your number of classes."
        ),
        paper="Liu, Li, Wang, 'Learning Deep Features via Congenerous Cosine Loss for Person Recognition', arXiv:1702.06890, 2017",
        peers=("pytorch_metric_learning.losses.NormalizedSoftmaxLoss",),
        kwargs={"scale": 8.0},
        module_args=_W,
        bad_inputs=_bad(
            F.coco_loss,
            extra=(
                _bad_kw(
                    "coco_loss",
                    {"scale": 0.0},
                    ValueError,
                    r"coco_loss: scale must be finite and > 0; got 0.0",
                ),
            ),
        ),
        explain=_explain(
            F.coco_loss,
            {"alpha=1": {"scale": 1.0}, "alpha=4": {"scale": 4.0}, "alpha=16": {"scale": 16.0}},
            "With a small alpha the loss cannot approach 0 even at theta = 0.",
        ),
        bench=_bench_vs_autograd(F.coco_loss, _ref_coco, {"scale": 16.0}),
    ),
    LossSpec(
        name="l2_softmax_loss",
        family="margin",
        function=F.l2_softmax_loss,
        module=lnn.L2SoftmaxLoss,
        module_kwargs={"in_features": _D, "num_classes": _C},
        make_inputs=_inputs,
        summary="L2-constrained softmax: features scaled to norm alpha, then a linear layer and CE.",
        formula="l = CE(W (alpha x / ||x||) + b, y)",
        when_to_use=(
            "A one-line fix for softmax features whose norm tracks sample quality: fix the norm "
            "to alpha (about 50, or learned). Weights stay unnormalised."
        ),
        paper="Ranjan, Castillo, Chellappa, 'L2-constrained Softmax Loss for Discriminative Face Verification', arXiv:1703.09507, 2017",
        kwargs={"scale": 4.0},
        module_args=_WB,
        bad_inputs=_bad(
            F.l2_softmax_loss,
            extra=(
                _bad_kw(
                    "l2_softmax_loss",
                    {"scale": -2.0},
                    ValueError,
                    r"l2_softmax_loss: scale must be finite and > 0; got -2.0",
                ),
            ),
        ),
        explain=_explain(
            F.l2_softmax_loss,
            {"alpha=1": {"scale": 1.0}, "alpha=4": {"scale": 4.0}, "alpha=16": {"scale": 16.0}},
            "The feature's norm is fixed to alpha; the loss floor drops as alpha grows.",
            bias=True,
        ),
        bench=_bench_vs_autograd(F.l2_softmax_loss, _ref_l2_softmax, {"scale": 16.0}, bias=True),
    ),
    LossSpec(
        name="normface_loss",
        family="margin",
        function=F.normface_loss,
        module=lnn.NormFaceLoss,
        module_kwargs={"in_features": _D, "num_classes": _C},
        make_inputs=_inputs,
        summary="NormFace: softmax over s cos theta, features and weights normalised.",
        formula="l = -log(e^{s cos t_y} / sum_j e^{s cos t_j}) >= log(1 + (C-1) e^{-s C/(C-1)})",
        when_to_use=(
            "Cosine classifier without a margin; the scale s is required (without it the loss "
            "is bounded far from 0). The base the additive-margin losses add to."
        ),
        paper="Wang, Xiang, Cheng, Yuille, 'NormFace: L2 Hypersphere Embedding for Face Verification', ACM MM 2017, arXiv:1704.06369",
        peers=("pytorch_metric_learning.losses.NormalizedSoftmaxLoss",),
        kwargs={"scale": 8.0},
        module_args=_W,
        bad_inputs=_bad(
            F.normface_loss,
            extra=(
                _bad_kw(
                    "normface_loss",
                    {"scale": torch.ones(2)},
                    ValueError,
                    r"normface_loss: scale must be a number or a one-element tensor; got \(2,\)",
                ),
            ),
        ),
        explain=_explain(
            F.normface_loss,
            {"s=1": {"scale": 1.0}, "s=4": {"scale": 4.0}, "s=16": {"scale": 16.0}},
            "Without a scale (s = 1) the loss stays high at theta = 0: the NormFace lower bound.",
        ),
        bench=_bench_vs_pml(
            F.normface_loss, "NormalizedSoftmaxLoss", {"scale": 20.0}, {"temperature": 0.05}
        ),
    ),
    LossSpec(
        name="cosface_loss",
        family="margin",
        function=F.cosface_loss,
        module=lnn.CosFaceLoss,
        module_kwargs={"in_features": _D, "num_classes": _C},
        make_inputs=_inputs,
        summary="CosFace / AM-Softmax: additive cosine margin, s (cos theta_y - m).",
        formula="target s (cos t_y - m); others s cos t_j",
        when_to_use=(
            "Face recognition and any large-scale open-set classification: easy to train, "
            "s = 30 to 64, m = 0.35 (cosine units)."
        ),
        paper=(
            "Wang, Cheng, Liu, Liu, 'Additive Margin Softmax for Face Verification', IEEE SPL 2018, arXiv:1801.05599; "
            "Wang et al., 'CosFace: Large Margin Cosine Loss for Deep Face Recognition', CVPR 2018, arXiv:1801.09414"
        ),
        peers=("pytorch_metric_learning.losses.CosFaceLoss",),
        kwargs={"cos_margin": 0.35, "scale": 8.0},
        module_args=_W,
        bad_inputs=_bad(
            F.cosface_loss,
            extra=(
                _bad_kw(
                    "cosface_loss",
                    {"cos_margin": -0.1},
                    ValueError,
                    r"cosface_loss: cos_margin must be finite and >= 0; got -0.1",
                ),
            ),
        ),
        explain=_explain(
            F.cosface_loss,
            {
                "m=0 (NormFace)": {"cos_margin": 0.0, "scale": 16.0},
                "m=0.35": {"cos_margin": 0.35, "scale": 16.0},
            },
            "The cosine margin shifts the loss curve: the gradient stays large until theta is "
            "well below NormFace's. s = 16.",
        ),
        bench=_bench_vs_pml(
            F.cosface_loss,
            "CosFaceLoss",
            {"cos_margin": 0.35, "scale": 64.0},
            {"margin": 0.35, "scale": 64},
        ),
    ),
    LossSpec(
        name="arcface_loss",
        family="margin",
        function=F.arcface_loss,
        module=lnn.ArcFaceLoss,
        module_kwargs={"in_features": _D, "num_classes": _C},
        make_inputs=_inputs,
        summary="ArcFace: additive angular margin, s cos(theta_y + m) (m in radians).",
        formula="target s cos(t_y + m) (s (cos t_y - m sin m) past t_y = pi - m); others s cos t_j",
        when_to_use=(
            "The default for face recognition and large-scale metric learning: a constant "
            "geodesic margin, easy to train. s = 64, m = 0.5 rad."
        ),
        paper="Deng, Guo, Xue, Zafeiriou, 'ArcFace: Additive Angular Margin Loss for Deep Face Recognition', CVPR 2019, arXiv:1801.07698",
        peers=(
            "pytorch_metric_learning.losses.ArcFaceLoss",
            "insightface arcface_torch CombinedMarginLoss",
        ),
        kwargs={"margin": 0.5, "scale": 8.0},
        module_args=_W,
        bad_inputs=_bad(
            F.arcface_loss,
            extra=(
                _bad_kw(
                    "arcface_loss",
                    {"margin": 3.5},
                    ValueError,
                    r"arcface_loss: margin \(an angle in radians\) must lie in \[0, pi\); got 3.5",
                ),
                _bad_kw(
                    "arcface_loss",
                    {"grad_mode": "detach"},
                    ValueError,
                    r"arcface_loss: grad_mode must be one of 'exact', 'straight_through'; got 'detach'",
                ),
            ),
        ),
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
        bench=_bench_vs_pml(
            F.arcface_loss,
            "ArcFaceLoss",
            {"margin": 0.5, "scale": 64.0},
            {"margin": math.degrees(0.5), "scale": 64},
        ),
    ),
    LossSpec(
        name="combined_margin_loss",
        family="margin",
        function=F.combined_margin_loss,
        module=lnn.CombinedMarginLoss,
        module_kwargs={"in_features": _D, "num_classes": _C},
        make_inputs=_inputs,
        summary="Combined margin s (cos(m1 theta_y + m2) - m3): SphereFace, ArcFace and CosFace in one.",
        formula="target s (cos(m1 t_y + m2) - m3), continued monotonically past pi; others s cos t_j",
        when_to_use=(
            "Tuning the margin's shape: (1, 0.3, 0.2) is the ArcFace paper's combination; "
            "(1, m, 0) is ArcFace, (1, 0, m) CosFace."
        ),
        paper="Deng, Guo, Xue, Zafeiriou, 'ArcFace: Additive Angular Margin Loss for Deep Face Recognition', CVPR 2019, arXiv:1801.07698",
        peers=("insightface arcface_torch CombinedMarginLoss",),
        kwargs={"m1": 1.0, "m2": 0.3, "m3": 0.2, "scale": 8.0},
        module_args=_W,
        bad_inputs=_bad(
            F.combined_margin_loss,
            extra=(
                _bad_kw(
                    "combined_margin_loss",
                    {"m1": 2.0, "fallback": "linear"},
                    ValueError,
                    r"combined_margin_loss: fallback='linear' \(cos theta - m2 sin m2\) needs m1 == 1; got m1=2.0",
                ),
                _bad_kw(
                    "combined_margin_loss",
                    {"m1": 0.0},
                    ValueError,
                    r"combined_margin_loss: m1 must be finite and > 0; got 0.0",
                ),
            ),
        ),
        explain=_explain(
            F.combined_margin_loss,
            {
                "(1, 0.3, 0.2)": {"m1": 1.0, "m2": 0.3, "m3": 0.2, "scale": 16.0},
                "(1, 0.5, 0) = ArcFace": {"m1": 1.0, "m2": 0.5, "m3": 0.0, "scale": 16.0},
                "(1, 0, 0.35) = CosFace": {"m1": 1.0, "m2": 0.0, "m3": 0.35, "scale": 16.0},
            },
            "Three margins in one formula. s = 16.",
        ),
        bench=_bench_vs_autograd(
            F.combined_margin_loss, _ref_combined, {"m1": 1.0, "m2": 0.3, "m3": 0.2, "scale": 64.0}
        ),
    ),
    LossSpec(
        name="subcenter_arcface_loss",
        family="margin",
        function=F.subcenter_arcface_loss,
        module=lnn.SubCenterArcFaceLoss,
        module_kwargs={"in_features": _D, "num_classes": _C, "subcenters": _K},
        make_inputs=_inputs,
        summary="Sub-center ArcFace: K centres per class, the closest one counts, then ArcFace.",
        formula="cos t_j = max_k cos(x, W_jk); target s cos(t_y + m); others s cos t_j",
        when_to_use=(
            "Noisy web-scale face data: noisy samples attach to a non-dominant sub-centre "
            "instead of dragging the class centre. K = 3 in the paper."
        ),
        paper="Deng, Guo, Liu, Gong, Zafeiriou, 'Sub-center ArcFace: Boosting Face Recognition by Large-scale Noisy Web Faces', ECCV 2020",
        kwargs={"margin": 0.5, "scale": 8.0},
        module_args=_W,
        bad_inputs=_bad(
            F.subcenter_arcface_loss,
            weight_shape=(_C, _K, _D),
            extra=(
                BadInput(
                    "2-d weight",
                    lambda: (
                        (torch.randn(4, _D), torch.zeros(4, dtype=torch.long), torch.randn(_C, _D)),
                        {},
                    ),
                    ValueError,
                    rf"subcenter_arcface_loss: weight must have shape \(C, K, D\); got \({_C}, {_D}\)",
                ),
            ),
        ),
        explain=_explain(
            F.subcenter_arcface_loss,
            {"K=2, m=0.5": {"margin": 0.5, "scale": 16.0}},
            "Each class has a second sub-centre 60 degrees on: the loss dips again near it, "
            "so a sample only needs to be near one of them. s = 16.",
            subcenters=True,
        ),
        bench=_bench_vs_autograd(
            F.subcenter_arcface_loss, _ref_subcenter, {"margin": 0.5, "scale": 64.0}, subcenters=3
        ),
    ),
]
