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


#: the atlas's fixed layout, in inches: each panel's cell, and the room around its axes for
#: the two-line title (top), the left axis (left), the gradient axis (right) and the x label
#: with a legend of up to three rows below it (bottom)
CELL = (4.6, 4.3)
PAD = {"left": 0.72, "right": 0.8, "top": 0.62, "bottom": 1.25}
#: the suptitle's band at the top of each figure
HEAD = 0.55
COLUMNS = 4


def _panel(ax, spec, panel, colours) -> None:
    """One registry entry: its loss (left axis, solid) and gradient (right axis, dotted)."""
    from matplotlib.ticker import MaxNLocator, NullLocator

    from .explain import _quantity, _scale, drawn_labels, overlaps

    x = panel.x.numpy()
    right = ax.twinx()  # the gradient on its own axis: its scale never flattens the loss
    same = overlaps(panel)
    for i, (curve, label) in enumerate(zip(panel.curves, drawn_labels(panel), strict=True)):
        colour = colours[i % len(colours)]
        dash = (0, (4, 3)) if i in same else "-"
        ax.plot(x, curve.loss.numpy(), lw=2, color=colour, ls=dash, label=label)
        right.plot(x, curve.grad.numpy(), lw=1.2, color=colour, ls=":")
    _scale(right, [c.grad.numpy() for c in panel.curves])
    if right.get_yscale() == "symlog":  # a tick every few decades, no minor ticks
        right.yaxis.get_major_locator().set_params(numticks=6)
        right.yaxis.set_minor_locator(NullLocator())
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_title(f"{spec.name}\n{panel.title}", fontsize=9)
    ax.set_xlabel(panel.xlabel, fontsize=7)
    ax.set_ylabel("loss (solid)", fontsize=7)
    right.set_ylabel(f"d loss / d {_quantity(panel.xlabel)} (dotted)", fontsize=7)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(5))
    for a in (ax, right):
        a.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    if len(panel.curves) > 1:
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2,
                  frameon=False)  # fmt: skip


def _family_figure(ctx: ReportContext, family: str):
    """The family's atlas figure, laid out on a fixed grid: every panel's axes at a fixed
    place in its cell (no layout engine measuring the ~200 axes' labels: a third of the time
    it took), the room around them sized for the titles, labels and legends they draw."""
    plt = pyplot()

    specs = REGISTRY.specs(family)
    rows = math.ceil(len(specs) / COLUMNS)
    width, height = CELL[0] * COLUMNS, CELL[1] * rows + HEAD
    fig = plt.figure(figsize=(width, height))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    inner = (CELL[0] - PAD["left"] - PAD["right"], CELL[1] - PAD["top"] - PAD["bottom"])
    for k, spec in enumerate(specs):
        assert spec.explain is not None, f"{spec.name} has no explanation"
        r, c = divmod(k, COLUMNS)
        left = c * CELL[0] + PAD["left"]
        bottom = height - HEAD - (r + 1) * CELL[1] + PAD["bottom"]
        ax = fig.add_axes((left / width, bottom / height, inner[0] / width, inner[1] / height))
        _panel(ax, spec, spec.explain()[0], colours)
    fig.suptitle(
        f"Atlas: {_TITLES[family]}. Solid: the loss (left axis); dotted: its gradient with "
        "respect to the x-axis variable (right axis); one colour per setting",
        fontsize=12,
        y=1 - 0.15 / height,
        va="top",
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
    # the quick run leaves the atlas's figures to the full one: every entry's explanation
    # computed (16 CPU s, mostly the per-point loops of the mask-overlap, embedding and
    # constraint entries) and 234 axes drawn (12 s) were 28 of its 67 CPU seconds; the table
    # and the formula checks stay
    draw = not ctx.quick
    for family in FAMILIES if draw else ():
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
            measured=(
                f"{explained} of {len(REGISTRY)} registry entries drawn; "
                f"{len(REGISTRY.specs('pytorch'))} catalogue entries"
                if draw
                else f"the quick run draws no atlas figure, so it cannot tell; {explained} of "
                f"{len(REGISTRY)} registry entries have an explanation to draw, "
                f"{len(REGISTRY.specs('pytorch'))} of them catalogue entries"
            ),
            checked=draw,
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
            + (
                ""
                if draw
                else " This quick run draws none of the atlas's figures (every entry's "
                "explanation computed and drawn was 40 % of the quick run's work): "
                "`losskit demo` without --quick draws them all, `losskit explain NAME` any one."
            )
        ),
        figures=figures,
        claims=claims,
        tables=[table],
    )
