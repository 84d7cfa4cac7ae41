"""Report section: the angular-margin softmax family (the study notes' angular-margin losses)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as TF

from .. import functional as F
from ._base import Claim, ReportContext, Section, html_table, pyplot


def _step(ctx: ReportContext, what: str, frac: float) -> None:
    if ctx.progress is not None:
        ctx.progress(f"margin: {what}", frac)


def _target_curves(theta: torch.Tensor) -> dict[str, torch.Tensor]:
    """Target logit / s (or / ||x||) over the target angle, as each loss defines it."""
    c = torch.cos(theta)
    return {
        "softmax / NormFace: cos theta": c,
        "SphereFace m=4: psi(theta)": F.margin_target(c, m=4.0),
        "SphereFace m=4, lambda=5 (annealed)": F.margin_target(c, m=4.0, lambda_=5.0),
        "CosFace m=0.35: cos theta - m": F.margin_target(c, cos_margin=0.35),
        "ArcFace m=0.5: cos(theta + m)": F.margin_target(c, margin=0.5),
    }


def _train_toy(loss_of: Callable, steps: int, seed: int = 0) -> tuple[float, float]:
    """A small, hard problem: 100 Gaussian classes in 32-d, an MLP to 16-d features, a
    margin head, SGD. Returns (training accuracy by cosine, mean target angle in degrees)."""
    g = torch.Generator().manual_seed(seed)
    n_cls, d_in, d, n = 100, 32, 16, 5000
    centres = torch.randn(n_cls, d_in, generator=g)
    y = torch.randint(0, n_cls, (n,), generator=g)
    x = centres[y] + torch.randn(n, d_in, generator=g)
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(d_in, 64), torch.nn.ReLU(), torch.nn.Linear(64, d))
    w = torch.nn.Parameter(torch.randn(n_cls, d) * 0.1)
    opt = torch.optim.SGD([*net.parameters(), w], lr=0.05, momentum=0.9)
    for it in range(steps):
        idx = torch.randint(0, n, (128,), generator=g)
        loss = loss_of(net(x[idx]), y[idx], w, it)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        cos = TF.normalize(net(x), dim=1) @ TF.normalize(w, dim=1).T
        acc = (cos.argmax(1) == y).float().mean().item()
        angle = torch.rad2deg(torch.acos(cos.gather(1, y[:, None]).clamp(-1, 1))).mean().item()
    return acc, angle


#: the heads after ArcFace drawn beside it (their registry entries' first explain panel)
FACE_HEADS = (
    "curricularface_loss",
    "adaface_loss",
    "magface_loss",
    "elastic_arcface_loss",
    "elastic_cosface_loss",
    "uniface_loss",
)


def _face_toy() -> dict[str, Callable]:
    """The heads after ArcFace as ``loss_of(features, labels, w, it)`` for :func:`_train_toy`,
    each keeping its running state between steps as its module does in training mode."""
    t = {"t": torch.tensor(0.0)}
    stats = {"mean": torch.tensor(20.0), "std": torch.tensor(100.0)}
    gen = torch.Generator().manual_seed(0)
    threshold = torch.nn.Parameter(torch.tensor(math.log(1000.0)))

    def curricular(f, y, w, it):
        loss, t["t"] = F.margin._curricularface(f, y, w, t["t"], margin=0.5, scale=16.0)
        return loss

    def ada(f, y, w, it):
        loss, (stats["mean"], stats["std"]) = F.margin._adaface(
            f, y, w, stats["mean"], stats["std"], margin=0.4, scale=16.0
        )
        return loss

    def uniface(f, y, w, it):
        # the threshold learns too: an SGD step (lr 0.05) on the gradient of the last step
        if threshold.grad is not None:
            with torch.no_grad():
                threshold.sub_(0.05 * threshold.grad)
            threshold.grad = None
        return F.uniface_loss(f, y, w, threshold, cos_margin=0.35, scale=16.0)

    return {
        "CurricularFace m=0.5, s=16": curricular,
        "AdaFace m=0.4, s=16": ada,
        "MagFace (norms 1..10), s=16": lambda f, y, w, it: F.magface_loss(
            f, y, w, scale=16.0, min_norm=1.0, max_norm=10.0, reg_weight=1.0
        ),
        "ElasticFace-Arc+ m=0.5, s=16": lambda f, y, w, it: F.elastic_arcface_loss(
            f, y, w, scale=16.0, plus=True, generator=gen
        ),
        "ElasticFace-Cos m=0.35, s=16": lambda f, y, w, it: F.elastic_cosface_loss(
            f, y, w, scale=16.0, generator=gen
        ),
        "UniFace m=0.35, s=16": uniface,
        "_t": lambda: float(t["t"]),  # not a loss: CurricularFace's t after training
    }


def _free_features(loss: Callable, **kw) -> float:
    """Optimise free features against fixed unit class weights; mean angle to own class."""
    g = torch.Generator().manual_seed(8)
    w = TF.normalize(torch.randn(6, 8, generator=g, dtype=torch.float64), dim=1)
    y = torch.arange(6).repeat(8)
    x = TF.normalize(w[y] + 1.2 * torch.randn(48, 8, generator=g, dtype=torch.float64), dim=1)
    x.requires_grad_(True)
    opt = torch.optim.SGD([x], lr=0.5)
    for _ in range(150):
        opt.zero_grad()
        loss(x, y, w, **kw).backward()
        opt.step()
    cos = (TF.normalize(x.detach(), dim=1) * w[y]).sum(1)
    return torch.rad2deg(torch.acos(cos.clamp(-1, 1))).mean().item()


def _pml_parity() -> list[list[str]]:
    try:
        from pytorch_metric_learning import losses
    except ImportError:  # pragma: no cover - a test extra
        return []
    g = torch.Generator().manual_seed(0)
    b, d, c = 32, 16, 11
    x = torch.randn(b, d, generator=g, dtype=torch.float64)
    w = torch.randn(c, d, generator=g, dtype=torch.float64)
    y = torch.randint(0, c, (b,), generator=g)
    rows = []
    # (ours, our function, its kwargs, the peer, its class, its kwargs)
    cases: list[tuple[str, Callable[..., torch.Tensor], dict[str, Any], str, Any, dict[str, Any]]]
    cases = [
        ("arcface_loss(margin=0.5, scale=64)", F.arcface_loss, {"margin": 0.5, "scale": 64.0},
         "ArcFaceLoss(margin=28.648 deg, scale=64)", losses.ArcFaceLoss, {"margin": math.degrees(0.5), "scale": 64}),
        ("cosface_loss(cos_margin=0.35, scale=64)", F.cosface_loss, {"cos_margin": 0.35, "scale": 64.0},
         "CosFaceLoss(margin=0.35, scale=64)", losses.CosFaceLoss, {"margin": 0.35, "scale": 64}),
        ("sphereface_loss(m=4)", F.sphereface_loss, {"m": 4},
         "SphereFaceLoss(margin=4)", losses.SphereFaceLoss, {"margin": 4}),
        ("lsoftmax_loss(m=4)", F.lsoftmax_loss, {"m": 4},
         "LargeMarginSoftmaxLoss(margin=4)", losses.LargeMarginSoftmaxLoss, {"margin": 4}),
        ("normface_loss(scale=20)", F.normface_loss, {"scale": 20.0},
         "NormalizedSoftmaxLoss(temperature=0.05)", losses.NormalizedSoftmaxLoss, {"temperature": 0.05}),
    ]  # fmt: skip
    for ours_name, ours, okw, peer_name, peer_cls, pkw in cases:
        xa, wa = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
        la = ours(xa, y, wa, **okw)
        gx, gw = torch.autograd.grad(la, (xa, wa))
        peer = peer_cls(num_classes=c, embedding_size=d, **pkw).double()
        with torch.no_grad():
            peer.W.copy_(w.T)
        xb = x.clone().requires_grad_(True)
        lb = peer(xb, y)
        lb.backward()
        assert xb.grad is not None  # xb requires grad and took part in lb
        dl = abs(la.item() - lb.item())
        dg = max((gx - xb.grad).abs().max().item(), (gw - peer.W.grad.T).abs().max().item())
        rows.append([ours_name, peer_name, f"{la.item():.6f}", f"{dl:.1e}", f"{dg:.1e}"])
    return rows


def _dense_vs_chunked(c: int, chunk: int) -> tuple[list[list[str]], float, int, int]:
    """ArcFace dense and chunked at B = 256, D = 512: table rows, the largest difference of
    loss and gradients, and the largest tensor (elements, the weight's gradient aside) of
    each path."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    class Largest(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.numel = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor) and tuple(t.shape) != (c, 512):  # not W's gradient
                    self.numel = max(self.numel, t.numel())
            return out

    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 512, generator=g).requires_grad_(True)
    w = (torch.randn(c, 512, generator=g) * 0.05).requires_grad_(True)
    y = torch.randint(0, c, (256,), generator=g)
    rows, ref, diff, largest = [], None, 0.0, []
    for label, cs in (("dense (chunk_size=None)", None), (f"chunk_size={chunk}", chunk)):
        for leaf in (x, w):
            leaf.grad = None
        with Largest() as seen:
            t0 = time.perf_counter()
            loss = F.arcface_loss(x, y, w, chunk_size=cs)
            loss.backward()
            dt = time.perf_counter() - t0
        assert x.grad is not None and w.grad is not None  # both took part in the loss
        grads = (loss.detach(), x.grad.clone(), w.grad.clone())
        if ref is not None:
            diff = max((a - b).abs().max().item() for a, b in zip(grads, ref, strict=True))
        ref = ref or grads
        largest.append(seen.numel)
        shown = "-" if cs is None else f"{diff:.1e}"
        rows.append([label, f"{c:,}", f"{dt * 1e3:.0f}", f"{seen.numel * 4 / 2**20:.2f}", shown])
    return rows, diff, largest[0], largest[1]


@contextmanager
def _one_thread() -> Iterator[None]:
    """The section's many small steps run faster on one thread (and far faster on a loaded
    machine, where idle OpenMP workers spin); the setting is restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def section(ctx: ReportContext) -> Section:
    with _one_thread():
        return _section(ctx)


def _section(ctx: ReportContext) -> Section:
    plt = pyplot()

    figs = []
    # ---- the target logit against theta
    _step(ctx, "target logit over theta", 0.0)
    theta = torch.linspace(0.0, math.pi, 721, dtype=torch.float64)
    curves = _target_curves(theta)
    fig, ax = plt.subplots(figsize=(6.8, 4.4))
    for name, f in curves.items():
        ax.plot(torch.rad2deg(theta).numpy(), f.numpy(), label=name, lw=2)
    ax.set_xlabel("angle theta between the feature and its class weight (degrees)")
    ax.set_ylabel("target logit / s  (SphereFace: / ||x||)")
    ax.set_title("The target logit each margin loss asks to be high")
    ax.set_ylim(-2.2, 1.1)
    ax.axhline(0, color="grey", lw=0.5)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    figs.append(
        ctx.save_figure(
            fig,
            "margin_target_logit",
            "Target logit over theta. Every margin lowers the target's curve below softmax's "
            "cos theta, so the feature must come closer to its class weight to win. SphereFace's "
            "psi drops fastest (m theta) and continues monotonically past pi/4 (it leaves the axis "
            "at -2.2 and reaches -7 at pi); annealing with lambda = 5 flattens it. CosFace shifts "
            "the curve down by m; ArcFace shifts it right by m and switches to cos theta - m sin m "
            "past pi - m.",
        )
    )

    # ---- the scale
    _step(ctx, "scale", 0.15)
    s = torch.linspace(0.5, 64.0, 400, dtype=torch.float64)
    p_onehot = torch.exp(s) / (torch.exp(s) + 3.0)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    a1.plot(s.numpy(), 100 * p_onehot.numpy(), lw=2)
    a1.scatter([1.0], [100 * math.e / (math.e + 3)], color="C3", zorder=3)
    a1.annotate("s = 1: 47.54 %", (1.0, 47.54), (8, 40), arrowprops={"arrowstyle": "->"})
    a1.set_xlabel("scale s")
    a1.set_ylabel("softmax probability of the target (%)")
    a1.set_title("One-hot cosines (1, 0, 0, 0)")
    a1.grid(alpha=0.3)
    for n_cls in (10, 1000, 100_000):
        bound = [F.normface_lower_bound(n_cls, scale=v) for v in s.tolist()]
        a2.semilogy(s.numpy(), bound, lw=2, label=f"C = {n_cls:,}")
    a2.set_xlabel("scale s")
    a2.set_ylabel("lowest reachable loss")
    a2.set_title("NormFace's lower bound log(1 + (C-1) e^{-sC/(C-1)})")
    a2.grid(alpha=0.3)
    a2.legend()
    figs.append(
        ctx.save_figure(
            fig,
            "margin_scale",
            "Why normalised softmax needs a scale. Left: with cosines in [-1, 1] the target can "
            "never take much of the probability (47.54 % for a perfect one-hot feature among 4 "
            "classes); s = 60 gives ~100 %. Right: the smallest loss any model can reach, which "
            "stays far from 0 for small s and grows with the number of classes.",
        )
    )

    # ---- the heads after ArcFace: each target logit beside ArcFace's
    _step(ctx, "after ArcFace", 0.25)
    from ..registry import REGISTRY

    fig, axes = plt.subplots(2, 3, figsize=(13, 7.2), sharey=True)
    for ax, name in zip(axes.flat, FACE_HEADS, strict=True):
        explain = REGISTRY.get(name).explain
        assert explain is not None  # every face head has panels
        panel = explain()[0]
        for curve in panel.curves:
            ax.plot(torch.rad2deg(panel.x).numpy(), curve.loss.numpy(), lw=2, label=curve.label,
                    ls="--" if curve.label.startswith("ArcFace") else "-")  # fmt: skip
        ax.set_title(name)
        ax.set_xlabel("theta_y (degrees)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    for ax in axes[:, 0]:
        ax.set_ylabel("target logit / s")
    figs.append(
        ctx.save_figure(
            fig,
            "margin_face_target_logit",
            "The target logit of each head after ArcFace (solid) beside ArcFace's (dashed, m = "
            "0.5), read off each loss (the other class orthogonal, its logit 0). CurricularFace "
            "keeps ArcFace's target and changes the hard negatives instead; AdaFace moves from "
            "an angular margin (low feature norm, q = -1) to a cosine one (high norm, q = +1); "
            "MagFace's margin grows with the norm; ElasticFace's spreads around its mean; "
            "UniFace's positive logit is CosFace's, compared with one learned threshold.",
        )
    )

    # ---- claims
    _step(ctx, "claims", 0.3)
    x1, w4, y0 = (
        torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=torch.float64),
        torch.eye(4, dtype=torch.float64),
        torch.tensor([0]),
    )
    p1 = math.exp(-F.normface_loss(x1, y0, w4, scale=1.0).item())
    loss60 = F.normface_loss(x1, y0, w4, scale=60.0).item()
    e = torch.eye(10, dtype=torch.float64)
    simplex = e - e.mean(0)
    at_simplex = F.normface_loss(simplex, torch.arange(10), simplex, scale=1.0).item()
    bound10 = F.normface_lower_bound(10, scale=1.0)

    th = torch.linspace(0.0, math.pi, 20001, dtype=torch.float64)
    psi_steps = [F.psi(th, m=m).diff() for m in (1, 2, 3, 4, 5)]
    psi_dec = max(st.max().item() for st in psi_steps)
    psi_jump = max(st.abs().max().item() for st in psi_steps)

    g = torch.Generator().manual_seed(1)
    xr = torch.randn(64, 16, generator=g, dtype=torch.float64, requires_grad=True)
    wr = torch.randn(20, 16, generator=g, dtype=torch.float64)
    yr = torch.randint(0, 20, (64,), generator=g)
    nf = F.normface_loss(xr, yr, wr, scale=30.0)
    zero_diff = 0.0
    for other in (
        F.arcface_loss(xr, yr, wr, margin=0.0, scale=30.0),
        F.cosface_loss(xr, yr, wr, cos_margin=0.0, scale=30.0),
    ):
        ga, gb = (
            torch.autograd.grad(other, xr)[0],
            torch.autograd.grad(nf, xr, retain_graph=True)[0],
        )
        zero_diff = max(zero_diff, abs(other.item() - nf.item()), (ga - gb).abs().max().item())

    eff = F.sphereface_effective_margin(5.0, m=4)
    sched = F.LambdaSchedule()

    _step(ctx, "toy training", 0.45)
    steps = 100 if ctx.quick else 200
    toy = {
        "softmax": lambda f, y, w, it: F.lsoftmax_loss(f, y, w, m=1),
        "SphereFace m=4, no annealing": lambda f, y, w, it: F.sphereface_loss(f, y, w, m=4),
        "SphereFace m=4, annealed": lambda f, y, w, it: F.sphereface_loss(f, y, w, m=4, lambda_=sched(it)),
        "NormFace s=16": lambda f, y, w, it: F.normface_loss(f, y, w, scale=16.0),
        "CosFace m=0.35, s=16": lambda f, y, w, it: F.cosface_loss(f, y, w, cos_margin=0.35, scale=16.0),
        "ArcFace m=0.5, s=16": lambda f, y, w, it: F.arcface_loss(f, y, w, margin=0.5, scale=16.0),
        "ArcFace m=0.5, s=16, easy_margin": lambda f, y, w, it: F.arcface_loss(f, y, w, margin=0.5, scale=16.0, easy_margin=True),
    }  # fmt: skip
    face = _face_toy()
    t_after = face.pop("_t")
    toy.update(face)
    trained = {name: _train_toy(fn, steps) for name, fn in toy.items()}
    t_final = t_after()  # CurricularFace's t once its toy head has trained
    acc = {k: v[0] for k, v in trained.items()}
    soft = acc["softmax"]
    sphere_hard = acc["SphereFace m=4, no annealing"] < 0.5 * soft
    cos_easy = acc["CosFace m=0.35, s=16"] >= 0.8 * soft
    arc_easy = acc["ArcFace m=0.5, s=16"] >= 0.8 * soft

    _step(ctx, "intra-class angle", 0.7)
    angles = {
        "NormFace": _free_features(F.normface_loss, scale=16.0),
        "CosFace": _free_features(F.cosface_loss, cos_margin=0.35, scale=16.0),
        "ArcFace": _free_features(F.arcface_loss, margin=0.5, scale=16.0),
    }

    _step(ctx, "dense vs chunked", 0.8)
    n_cls, chunk = (8_000, 256) if ctx.quick else (50_000, 1024)
    dvc, chunk_diff, dense_n, chunk_n = _dense_vs_chunked(n_cls, chunk)
    chunk_mb, dense_mb = chunk_n * 4 / 2**20, dense_n * 4 / 2**20

    claims = [
        Claim(
            "Normalised features and weights without a scale cannot converge: one-hot cosines "
            "(1, 0, 0, 0) give the target only 47.54 % (17.49 % each for the others); scaled by "
            "60 they give ~100 %.",
            held=round(100 * p1, 2) == 47.54
            and round(100 * (1 - p1) / 3, 2) == 17.49
            and loss60 < 1e-20,
            measured=f"s = 1: target {100 * p1:.2f} %, others {100 * (1 - p1) / 3:.2f} %; "
            f"s = 60: -log p = {loss60:.2e}, p = 1 - {loss60:.1e}",
        ),
        Claim(
            "NormFace's lower bound log(1 + (C-1) exp(-s C/(C-1))): for s = 1 and 10 classes no "
            "model gets below 1.38, reached by a regular simplex of weights.",
            held=abs(at_simplex - bound10) < 1e-12,
            measured=f"bound {bound10:.6f}; loss at the simplex {at_simplex:.6f}",
        ),
        Claim(
            "psi(theta) = (-1)^k cos(m theta) - 2k is continuous and monotonically decreasing on [0, pi].",
            held=psi_dec < 0 and psi_jump < 1e-2,
            measured=f"m = 1..5 on a 20,001-point grid: largest step {psi_dec:.2e} (< 0: decreasing), "
            f"largest |step| {psi_jump:.2e} (no jump)",
        ),
        Claim(
            "With margin 0, ArcFace and CosFace are NormFace.",
            held=zero_diff < 1e-12,
            measured=f"max |difference| of loss and feature gradient: {zero_diff:.1e}",
        ),
        Claim(
            "Annealing lambda down to 5 leaves SphereFace (m = 4) with an effective margin near 1.5.",
            held=1.3 <= eff <= 1.7,
            measured=f"mean decision-boundary ratio acos(f(theta_1)) / theta_1 over theta_1 in (0, pi/2]: "
            f"{eff:.2f} at lambda = 5 (4.00 at lambda = 0); LambdaSchedule() reaches 5 at "
            f"iteration {next(i for i in range(0, 10**6, 50) if sched(i) == 5.0):,}",
        ),
        Claim(
            "Multiplicative margins (SphereFace) are hard to train; additive ones (CosFace, "
            "ArcFace) are easy.",
            held=sphere_hard and cos_easy and arc_easy,
            measured=f"training accuracy after {steps} SGD steps on a 100-class toy problem: "
            + "; ".join(f"{k} {100 * v:.0f} %" for k, v in acc.items())
            + (
                ". SphereFace without annealing fails and CosFace trains like softmax, but "
                "ArcFace from scratch lags too here unless easy_margin is on"
                if not arc_easy
                else ""
            ),
        ),
        Claim(
            "The margin pulls each class's features toward its weight vector (an intra-class "
            "angle constraint).",
            held=angles["ArcFace"] < angles["NormFace"] and angles["CosFace"] < angles["NormFace"],
            measured="mean angle to the own class weight after optimising free features against "
            "fixed weights (s = 16): " + ", ".join(f"{k} {v:.1f} deg" for k, v in angles.items()),
        ),
        Claim(
            "(losskit) CurricularFace's t, the running mean of the target cosine, grows from 0 "
            "as the classes become compact (the curriculum's 'later stage').",
            held=t_final > 0.1,
            measured=f"t after {steps} SGD steps of the toy problem (momentum 0.01): "
            f"{t_final:.2f}",
        ),
        Claim(
            "(losskit) The softmax heads after ArcFace (CurricularFace, AdaFace, MagFace, "
            "ElasticFace) train the toy problem as well as ArcFace (within 0.9 of its "
            "accuracy); UniFace, a sigmoid loss whose learned threshold starts at log(10 C), is "
            "slower to start on it.",
            held=all(
                acc[k] >= 0.9 * acc["ArcFace m=0.5, s=16"] for k in face if "UniFace" not in k
            ),
            measured="training accuracy: "
            + "; ".join(f"{k} {100 * acc[k]:.0f} %" for k in face)
            + f" (ArcFace {100 * acc['ArcFace m=0.5, s=16']:.0f} %)",
        ),
        Claim(
            "(losskit) The chunked path equals the dense one to float32 rounding and never holds "
            "the B x C logits.",
            # one block holds at most chunk x max(B, D) floats; the dense path holds B x C
            held=chunk_diff < 1e-4 and chunk_n <= chunk * 512 and dense_n >= 256 * n_cls,
            measured=f"B = 256, D = 512, C = {n_cls:,}: max |difference| of loss and gradients "
            f"{chunk_diff:.1e}; largest tensor besides the weight's gradient {chunk_mb:.1f} MB "
            f"chunked (chunk_size = {chunk}), {dense_mb:.1f} MB dense (the B x C logits are "
            f"{256 * n_cls * 4 / 2**20:.1f} MB)",
        ),
    ]

    _step(ctx, "tables", 0.9)
    family = html_table(
        ["loss", "target logit", "other logits", "normalised", "losskit defaults"],
        [
            ["softmax_loss", "W_y.x + b_y", "W_j.x + b_j", "-", "-"],
            ["lsoftmax_loss", "||W_y|| ||x|| psi(theta)", "W_j.x", "-", "m = 4"],
            ["sphereface_loss", "||x|| psi(theta)", "||x|| cos theta_j", "W", "m = 4, lambda_ = 0"],
            ["coco_loss", "alpha cos theta", "alpha cos theta_j", "x, centres", "scale = 16"],
            ["l2_softmax_loss", "W_y.(alpha x/||x||) + b_y", "W_j.(alpha x/||x||) + b_j", "x", "scale = 50"],
            ["normface_loss", "s cos theta", "s cos theta_j", "x, W", "scale = 16"],
            ["cosface_loss", "s (cos theta - m)", "s cos theta_j", "x, W", "cos_margin = 0.35, scale = 30"],
            ["arcface_loss", "s cos(theta + m)", "s cos theta_j", "x, W", "margin = 0.5 rad, scale = 64"],
            ["combined_margin_loss", "s (cos(m theta + margin) - cos_margin)", "s cos theta_j", "x, W", "m = 1, margin = 0.3, cos_margin = 0.2, scale = 64"],
            ["subcenter_arcface_loss", "s cos(theta + m), theta to the closest of K", "s cos theta_j", "x, W", "margin = 0.5, scale = 64"],
            ["curricularface_loss", "s cos(theta + m)", "s c (t + c) if c > cos(theta_y + m) else s c", "x, W", "margin = 0.5, scale = 64, momentum = 0.01"],
            ["adaface_loss", "s (cos(theta - m q) - m (1 + q)), q from ||x||", "s cos theta_j", "W (x for the cosines)", "margin = 0.4, h = 0.333, scale = 64"],
            ["magface_loss", "s cos(theta + m(||x||)) + lambda_g g(||x||)", "s cos theta_j", "W (x for the cosines)", "norms 10..110, margins 0.45..0.8, reg_weight = 35"],
            ["elastic_arcface_loss", "s cos(theta + m_i), m_i ~ N(m, sigma^2)", "s cos theta_j", "x, W", "margin = 0.5, sigma = 0.05, scale = 64"],
            ["elastic_cosface_loss", "s (cos theta - m_i), m_i ~ N(m, sigma^2)", "s cos theta_j", "x, W", "cos_margin = 0.35, sigma = 0.05, scale = 64"],
            ["uniface_loss", "sigmoid CE: log(1 + e^{-(s (cos theta - m) - b)})", "log(1 + e^{s cos theta_j - b}) each", "x, W", "cos_margin = 0.4, scale = 64, b learned"],
        ],
        caption="The family at a glance (theta: angle to the target class weight)",
    )  # fmt: skip
    tables = [family]
    parity = _pml_parity()
    if parity:
        tables.append(
            html_table(
                [
                    "losskit",
                    "pytorch-metric-learning",
                    "loss",
                    "|loss difference|",
                    "max |gradient difference|",
                ],
                parity,
                caption="Parity with pytorch-metric-learning (float64, B = 32, D = 16, C = 11)",
            )
        )
    tables.append(
        html_table(
            ["ArcFace path", "C", "time (ms)", "largest tensor (MB)", "max |difference|"],
            dvc,
            caption="Dense against chunked (B = 256, D = 512; the weight's gradient not counted)",
        )
    )
    tables.append(
        html_table(
            ["loss", "training accuracy", "mean target angle (deg)"],
            [[k, f"{100 * v[0]:.1f} %", f"{v[1]:.1f}"] for k, v in trained.items()],
            caption=f"Toy training: 100 Gaussian classes, MLP 32 -> 16, {steps} SGD steps",
        )
    )
    _step(ctx, "done", 1.0)
    return Section(
        key="margin",
        title="Large angular margin losses",
        intro=(
            "Softmax, L-Softmax, SphereFace, COCO, L2-Softmax, NormFace, CosFace, ArcFace, the "
            "combined margin, sub-center ArcFace and the heads after it (CurricularFace, "
            "AdaFace, MagFace, ElasticFace, UniFace) all replace the target class's logit by a "
            "smaller one, so a feature has to sit closer to its class weight than plain softmax "
            "asks. losskit computes all of them with one margin core and one fused cross-entropy "
            "that never normalises a copy of the weight and, with chunk_size, never holds the "
            "B x C logits."
        ),
        figures=figs,
        claims=claims,
        tables=tables,
    )
