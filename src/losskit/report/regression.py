"""Report section: the regression losses over the residual (the study notes' claims about
their gradients)."""

from __future__ import annotations

import torch

from .. import functional as F
from ._base import Claim, ReportContext, Section, html_table, pyplot


def _loss_and_grad(fn, d: torch.Tensor, **kw) -> tuple[torch.Tensor, torch.Tensor]:
    x = d.clone().requires_grad_()
    loss = fn(x, torch.zeros_like(x), reduction="none", **kw)
    (g,) = torch.autograd.grad(loss.sum(), x)
    return loss.detach(), g


def section(ctx: ReportContext) -> Section:
    plt = pyplot()

    d = torch.linspace(-3, 3, 601, dtype=torch.float64)
    curves = {
        "L1": _loss_and_grad(F.l1_loss, d),
        "L2 (MSE)": _loss_and_grad(F.mse_loss, d),
        "Smooth L1 (beta=1)": _loss_and_grad(F.smooth_l1_loss, d, beta=1.0),
        "Huber (delta=2)": _loss_and_grad(F.huber_loss, d, delta=2.0),
    }
    figs = []
    for idx, (what, label) in enumerate([("loss", "loss l(d)"), ("gradient", "gradient dl/dd")]):
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for name, lg in curves.items():
            ax.plot(d.numpy(), lg[idx].numpy(), label=name, lw=2)
        ax.set_xlabel("residual d = pred - target")
        ax.set_ylabel(label)
        ax.set_title(f"Regression losses: {what} over the residual")
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        if what == "loss":
            ax.set_ylim(-0.2, 5)
        ax.legend()
        ax.grid(alpha=0.3)
        caption = (
            "Loss over the residual. L2 grows quadratically, L1 linearly; Smooth L1 is quadratic "
            "inside |d| < beta and linear outside; Huber is Smooth L1 scaled by delta."
            if what == "loss"
            else "Gradient over the residual. L1's is a step of height 1 everywhere; L2's is the "
            "line 2d; Smooth L1's follows d near 0 and saturates at +-1; Huber's saturates at +-delta."
        )
        figs.append(ctx.save_figure(fig, f"regression_{what}", caption))

    nz = d[d != 0]
    _, g1 = _loss_and_grad(F.l1_loss, nz)
    g1_min, g1_max = g1.abs().min().item(), g1.abs().max().item()
    probes = torch.tensor([0.1, 1.0, 3.0], dtype=torch.float64)
    _, g2 = _loss_and_grad(F.mse_loss, probes)
    _, gs = _loss_and_grad(F.smooth_l1_loss, d, beta=1.0)
    inner = d.abs() < 1
    near_err = (gs[inner] - d[inner]).abs().max().item()
    gs_max = gs.abs().max().item()
    hub, _ = _loss_and_grad(F.huber_loss, d, delta=2.0)
    sm2, _ = _loss_and_grad(F.smooth_l1_loss, d, beta=2.0)
    scale_err = (hub - 2.0 * sm2).abs().max().item()
    claims = [
        Claim(
            "L1's gradient has constant magnitude, so it cannot fine-tune near the optimum.",
            held=g1_min == 1.0 and g1_max == 1.0,
            measured=f"|dl/dd| over d in [-3, 3], d != 0: min {g1_min:g}, max {g1_max:g}",
        ),
        Claim(
            "L2's gradient grows with the error, so large early errors give large steps.",
            held=torch.allclose(g2, 2 * probes),
            measured="dl/dd at d = 0.1, 1, 3: " + ", ".join(f"{v:g}" for v in g2.tolist()),
        ),
        Claim(
            "Smooth L1 takes the best of both: gradient d near zero, bounded by 1 far away.",
            held=near_err < 1e-12 and gs_max <= 1.0,
            measured=f"max |grad - d| for |d| < 1: {near_err:.1e}; max |grad| over [-3, 3]: {gs_max:g}",
        ),
        Claim(
            "Huber is the Smooth L1 curve scaled by its switch point (delta = beta).",
            held=scale_err < 1e-12,
            measured=f"max |huber(d; 2) - 2 smooth_l1(d; beta=2)| = {scale_err:.1e}",
        ),
    ]
    table = html_table(
        ["residual d", "L1 grad", "L2 grad", "Smooth L1 grad", "Huber (delta=2) grad"],
        [
            [f"{v:g}"]
            + [
                f"{_loss_and_grad(fn, torch.tensor([v], dtype=torch.float64), **kw)[1].item():g}"
                for fn, kw in (
                    (F.l1_loss, {}),
                    (F.mse_loss, {}),
                    (F.smooth_l1_loss, {}),
                    (F.huber_loss, {"delta": 2.0}),
                )
            ]
            for v in (0.05, 0.5, 1.0, 3.0, 10.0)
        ],
        caption="Gradient magnitude at a few residuals",
    )
    return Section(
        key="regression",
        title="Distance (regression) losses",
        intro=(
            "L1, L2, Smooth L1 and Huber act on the residual d = pred - target. What matters for "
            "training is the gradient: how large a step each residual asks for."
        ),
        figures=figs,
        claims=claims,
        tables=[table],
    )
