"""Benchmark cases of the margin family (losskit against its peers)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as TF

from .. import functional as F
from ..specs._inputs import grad_inputs, randint, randn
from ._base import BenchCase
from ._base import step as _step

_B, _BD, _BC = 256, 512, 10_000  # benchmark batch, embedding dimension, classes


def _bench_data(device: torch.device, subcenters: int | None = None):
    g = torch.Generator().manual_seed(0)
    x = randn(g, _B, _BD, dtype=torch.float32, device=device)
    y = randint(g, _BC, _B, device=device)
    shape = (_BC, _BD) if subcenters is None else (_BC, subcenters, _BD)
    centers = randn(g, *shape, dtype=torch.float32, device=device) * 0.05
    return x, y, centers


def _bench_vs_pml(
    fn: Callable, pml_class: str, ours: dict[str, Any], theirs: dict[str, Any]
) -> tuple[BenchCase, ...]:
    """losskit (dense and chunked) against a pytorch-metric-learning loss on the same class
    centres."""

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        from pytorch_metric_learning import losses

        x0, y, w0 = _bench_data(device)
        x, w = grad_inputs(x0, w0)
        peer = getattr(losses, pml_class)(num_classes=_BC, embedding_size=_BD, **theirs).to(device)
        with torch.no_grad():
            peer.W.copy_(w0.T)  # PML stores the centres as W, (D, C)
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
    logits = F.margin_logits(_cos(x, w), y, m=1.0, margin=0.3, cos_margin=0.2, scale=64.0)
    return TF.cross_entropy(logits, y)


def _ref_subcenter(x, y, w):
    cos = torch.einsum("bd,ckd->bck", TF.normalize(x, dim=-1), TF.normalize(w, dim=-1)).amax(-1)
    return TF.cross_entropy(F.margin_logits(cos, y, margin=0.5, scale=64.0), y)


# ---- the heads after ArcFace, each against its paper's formula written in plain autograd on
# the full (B, C) cosine matrix (the state the function takes is passed to both)

_T0 = 0.3  # CurricularFace's t before the step
_NORMS0 = (20.0, 5.0)  # AdaFace's norm mean and std before the step


def _onehot(y: torch.Tensor, c: int) -> torch.Tensor:
    return TF.one_hot(y, c).bool()


def _arc_target(cos_y: torch.Tensor, m: float | torch.Tensor) -> torch.Tensor:
    m = torch.as_tensor(m, dtype=cos_y.dtype, device=cos_y.device)
    theta = torch.acos(cos_y.clamp(-1, 1))
    return torch.where(theta + m <= math.pi, torch.cos(theta + m), cos_y - m * torch.sin(m))


def _ref_curricular(x, y, w, t0):
    cos = _cos(x, w)
    cos_y = cos.gather(1, y[:, None]).squeeze(1)
    t = 0.99 * t0 + 0.01 * cos_y.detach().mean()
    hard = cos > torch.cos(torch.acos(cos_y.detach().clamp(-1, 1)) + 0.5)[:, None]
    negatives = torch.where(hard, cos * (t + cos), cos)
    logits = torch.where(_onehot(y, w.shape[0]), _arc_target(cos_y, 0.5)[:, None], negatives)
    return TF.cross_entropy(64.0 * logits, y)


def _ref_adaface(x, y, w, mu0, sd0):
    norms = torch.linalg.vector_norm(x, dim=1).clamp(1e-3, 100).detach()
    mu = 0.99 * mu0 + 0.01 * norms.mean()
    sd = 0.99 * sd0 + 0.01 * norms.std()
    q = (0.333 * (norms - mu) / (sd + 1e-3)).clamp(-1, 1)
    cos = _cos(x, w)
    theta = torch.acos(cos.gather(1, y[:, None]).squeeze(1).clamp(-1, 1))
    target = torch.cos((theta - 0.4 * q).clamp(0, math.pi)) - 0.4 * (1 + q)
    logits = torch.where(_onehot(y, w.shape[0]), target[:, None], cos)
    return TF.cross_entropy(64.0 * logits, y)


def _ref_magface(x, y, w):
    a = torch.linalg.vector_norm(x, dim=1).clamp(10.0, 110.0)
    m = 0.35 / 100.0 * (a - 10.0) + 0.45
    cos = _cos(x, w)
    target = _arc_target(cos.gather(1, y[:, None]).squeeze(1), m)
    logits = torch.where(_onehot(y, w.shape[0]), target[:, None], cos)
    return TF.cross_entropy(64.0 * logits, y) + 35.0 * (1 / a + a / 110.0**2).mean()


def _ref_elastic(x, y, w):
    g = torch.Generator(device=x.device).manual_seed(0)
    m = 0.5 + 0.05 * torch.randn(x.shape[0], generator=g, device=x.device)
    cos = _cos(x, w)
    target = _arc_target(cos.gather(1, y[:, None]).squeeze(1), m)
    logits = torch.where(_onehot(y, w.shape[0]), target[:, None], cos)
    return TF.cross_entropy(64.0 * logits, y)


def _ref_elastic_cos(x, y, w):
    g = torch.Generator(device=x.device).manual_seed(0)
    m = 0.35 + 0.05 * torch.randn(x.shape[0], generator=g, device=x.device)
    cos = _cos(x, w)
    target = cos.gather(1, y[:, None]).squeeze(1) - m
    logits = torch.where(_onehot(y, w.shape[0]), target[:, None], cos)
    return TF.cross_entropy(64.0 * logits, y)


def _ref_uniface(x, y, w, b):
    cos = _cos(x, w)
    pos = TF.softplus(-(64.0 * (cos - 0.4) - b))
    neg = TF.softplus(64.0 * cos - b)
    return torch.where(_onehot(y, w.shape[0]), pos, neg).sum(1).mean()


def _bench_face(fn: Callable, reference: Callable, ours: dict[str, Any], state: Callable,
                elastic: bool = False) -> tuple[BenchCase, ...]:  # fmt: skip
    """A head after ArcFace against its plain-autograd formula and against losskit's ArcFace
    (dense), on the same inputs."""

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        x0, y, w0 = _bench_data(device)
        x, w = grad_inputs(x0, w0)
        xr, wr = grad_inputs(x0, w0)
        xa, wa = grad_inputs(x0, w0)
        st = state(device)

        def extra() -> dict[str, Any]:
            return {"generator": torch.Generator(device=device).manual_seed(0)} if elastic else {}

        return {
            "losskit": _step(lambda: fn(x, y, w, *st, **ours, **extra()), x, w),
            "torch": _step(lambda: reference(xr, y, wr, *st), xr, wr),
            "losskit arcface_loss": _step(lambda: F.arcface_loss(xa, y, wa, scale=64.0), xa, wa),
        }

    return (BenchCase(f"B={_B}, D={_BD}, C={_BC} float32", setup),)


def _no_state(device: torch.device) -> tuple[torch.Tensor, ...]:
    return ()


CASES = {
    "softmax_loss": _bench_vs_autograd(F.softmax_loss, _ref_softmax, {}, bias=True),
    "lsoftmax_loss": _bench_vs_pml(
        F.lsoftmax_loss, "LargeMarginSoftmaxLoss", {"m": 4}, {"margin": 4}
    ),
    "sphereface_loss": _bench_vs_pml(F.sphereface_loss, "SphereFaceLoss", {"m": 4}, {"margin": 4}),
    "coco_loss": _bench_vs_autograd(F.coco_loss, _ref_coco, {"scale": 16.0}),
    "l2_softmax_loss": _bench_vs_autograd(
        F.l2_softmax_loss, _ref_l2_softmax, {"scale": 16.0}, bias=True
    ),
    "normface_loss": _bench_vs_pml(
        F.normface_loss, "NormalizedSoftmaxLoss", {"scale": 20.0}, {"temperature": 0.05}
    ),
    "cosface_loss": _bench_vs_pml(
        F.cosface_loss,
        "CosFaceLoss",
        {"cos_margin": 0.35, "scale": 64.0},
        {"margin": 0.35, "scale": 64},
    ),
    "arcface_loss": _bench_vs_pml(
        F.arcface_loss,
        "ArcFaceLoss",
        {"margin": 0.5, "scale": 64.0},
        {"margin": math.degrees(0.5), "scale": 64},
    ),
    "combined_margin_loss": _bench_vs_autograd(
        F.combined_margin_loss,
        _ref_combined,
        {"m": 1.0, "margin": 0.3, "cos_margin": 0.2, "scale": 64.0},
    ),
    "subcenter_arcface_loss": _bench_vs_autograd(
        F.subcenter_arcface_loss, _ref_subcenter, {"margin": 0.5, "scale": 64.0}, subcenters=3
    ),
    "curricularface_loss": _bench_face(
        F.curricularface_loss,
        _ref_curricular,
        {"margin": 0.5, "scale": 64.0},
        lambda device: (torch.tensor(_T0, device=device),),
    ),
    "adaface_loss": _bench_face(
        F.adaface_loss,
        _ref_adaface,
        {"margin": 0.4, "scale": 64.0},
        lambda device: tuple(torch.tensor(v, device=device) for v in _NORMS0),
    ),
    "magface_loss": _bench_face(F.magface_loss, _ref_magface, {"scale": 64.0}, _no_state),
    "elastic_arcface_loss": _bench_face(
        F.elastic_arcface_loss,
        _ref_elastic,
        {"margin": 0.5, "scale": 64.0},
        _no_state,
        elastic=True,
    ),
    "elastic_cosface_loss": _bench_face(
        F.elastic_cosface_loss,
        _ref_elastic_cos,
        {"cos_margin": 0.35, "scale": 64.0},
        _no_state,
        elastic=True,
    ),
    "uniface_loss": _bench_face(
        F.uniface_loss,
        _ref_uniface,
        {"cos_margin": 0.4, "scale": 64.0},
        lambda device: (torch.tensor(math.log(10.0 * _BC), device=device),),
    ),
}
