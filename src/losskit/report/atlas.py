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
    from .explain import _quantity, _scale, drawn_labels, overlaps

    plt = pyplot()

    specs = REGISTRY.specs(family)
    cols = 4
    rows = math.ceil(len(specs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 4.1 * rows), squeeze=False,
                             layout="constrained")  # fmt: skip
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, spec in zip(axes.flat, specs, strict=False):
        assert spec.explain is not None, f"{spec.name} has no explanation"
        panel = spec.explain()[0]
        x = panel.x.numpy()
        right = ax.twinx()  # the gradient on its own axis: its scale never flattens the loss
        same = overlaps(panel)
        for i, (curve, label) in enumerate(zip(panel.curves, drawn_labels(panel), strict=True)):
            colour = colours[i % len(colours)]
            dash = (0, (4, 3)) if i in same else "-"
            ax.plot(x, curve.loss.numpy(), lw=2, color=colour, ls=dash, label=label)
            right.plot(x, curve.grad.numpy(), lw=1.2, color=colour, ls=":")
        _scale(right, [c.grad.numpy() for c in panel.curves])
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(f"{spec.name}\n{panel.title}", fontsize=9)
        ax.set_xlabel(panel.xlabel, fontsize=7)
        ax.set_ylabel("loss (solid)", fontsize=7)
        right.set_ylabel(f"d loss / d {_quantity(panel.xlabel)} (dotted)", fontsize=7)
        for a in (ax, right):
            a.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if len(panel.curves) > 1:
            ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2,
                      frameon=False)  # fmt: skip
    for ax in list(axes.flat)[len(specs) :]:
        ax.axis("off")
    fig.suptitle(
        f"Atlas: {_TITLES[family]}. Solid: the loss (left axis); dotted: its gradient with "
        "respect to the x-axis variable (right axis); one colour per setting",
        fontsize=12,
    )
    return ctx.save_figure(
        fig,
        f"atlas_{family}",
        f"Every {_TITLES[family].split(' (')[0]} entry over its first `losskit explain` slice, "
        "each setting it compares in its own colour; run `losskit explain NAME` for all of "
        "its panels.",
        tight=False,
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
