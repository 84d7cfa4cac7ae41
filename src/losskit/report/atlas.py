"""Report section: the atlas, every registry entry drawn (its loss and gradient over the slice
of input that matters for it, as ``losskit explain`` draws it), one figure per family, with a
table of formulas and when to use each. It finishes the study notes' PyTorch chapter
(docs/claims.md, section 8), half of which the notes left "to be written"."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as TF

from ..registry import FAMILIES, REGISTRY
from ._base import Claim, ReportContext, Section, html_table, pyplot

_TITLES = {
    "regression": "regression losses",
    "classification": "probability losses",
    "box": "box losses",
    "overlap": "mask overlap losses",
    "embedding": "embedding losses",
    "constraint": "constraint losses",
    "margin": "angular-margin losses",
    "pytorch": "the PyTorch catalogue (computed by torch.nn)",
}


def _family_figure(ctx: ReportContext, family: str):
    plt = pyplot()

    specs = REGISTRY.specs(family)
    cols = 4
    rows = math.ceil(len(specs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, spec in zip(axes.flat, specs, strict=False):
        panel = spec.explain()[0]
        curve = panel.curves[0]
        x = panel.x.numpy()
        ax.plot(x, curve.loss.numpy(), lw=2, label="loss")
        ax.plot(x, curve.grad.numpy(), lw=1.5, ls="--", label="gradient")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(spec.name, fontsize=10)
        ax.set_xlabel(panel.xlabel, fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(specs) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"Atlas: {_TITLES[family]} (solid: loss, dashed: its gradient)", fontsize=12)
    fig.tight_layout()
    return ctx.save_figure(
        fig,
        f"atlas_{family}",
        f"Every {_TITLES[family].split(' (')[0]} entry over its first `losskit explain` slice; "
        "run `losskit explain NAME` for all of its panels.",
    )


def section(ctx: ReportContext) -> Section:
    figures = []
    for family in FAMILIES:
        if ctx.progress:
            ctx.progress(f"atlas: {family}", None)
        if REGISTRY.specs(family):
            figures.append(_family_figure(ctx, family))
    rows = [
        [s.name, s.family, s.formula, s.when_to_use, s.paper or s.delegates_to or "-"]
        for s in REGISTRY
    ]
    table = html_table(
        ["loss", "family", "formula", "when to use it", "paper / computed by"],
        rows,
        caption=f"The {len(rows)} registry entries",
    )

    # the study notes' section 8 formulas, checked against torch itself
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 5, generator=g, dtype=torch.float64).log_softmax(1)
    y = torch.randn(6, 5, generator=g, dtype=torch.float64).softmax(1)
    kl_err = (TF.kl_div(x, y, reduction="none") - y * (y.log() - x)).abs().max().item()
    z = torch.randn(6, 5, generator=g, dtype=torch.float64)
    t = torch.randint(0, 5, (6,), generator=g)
    ce_err = (TF.cross_entropy(z, t) - TF.nll_loss(z.log_softmax(1), t)).abs().item()
    explained = sum(s.explain is not None for s in REGISTRY)
    claims = [
        Claim(
            "KLDivLoss computes y (log y - x) with x the log-probabilities (log_softmax) and y "
            "the target probabilities.",
            held=kl_err < 1e-12,
            measured=f"max |F.kl_div(x, y) - y (log y - x)| on random distributions: {kl_err:.1e}",
        ),
        Claim(
            "CrossEntropyLoss is log_softmax followed by NLLLoss (so NLLLoss wants log-probabilities).",
            held=ce_err < 1e-12,
            measured=f"|cross_entropy(z, t) - nll_loss(log_softmax(z), t)| = {ce_err:.1e}",
        ),
        Claim(
            "Every loss of the library, the PyTorch catalogue included, has a picture of its loss "
            "and gradient and a note on when to use it.",
            held=explained == len(REGISTRY),
            measured=f"{explained} of {len(REGISTRY)} registry entries drawn; "
            f"{len(REGISTRY.specs('pytorch'))} catalogue entries",
        ),
    ]
    return Section(
        key="atlas",
        title="Atlas: every loss, drawn",
        intro=(
            "Each registry entry over the slice of input that matters for it: the residual for "
            "regression, the target logit or probability for classification, an offset for "
            "boxes, a distance for embeddings, the angle for margin losses. The PyTorch "
            "catalogue is computed by torch itself; losskit adds the description and the picture."
        ),
        figures=figures,
        claims=claims,
        tables=[table],
    )
