"""Drawing for ``losskit explain NAME``: each panel of the entry's explanation as a row of two
plots (the loss, and its gradient with respect to the slice variable), plus a text block."""

from __future__ import annotations

import textwrap
from pathlib import Path

from ..specs._base import LossSpec
from ._base import pyplot


def explanation_text(spec: LossSpec) -> str:
    """The paragraph printed beside the figure."""
    lines = [f"{spec.name} ({spec.family})", "", spec.summary, "", f"Formula: {spec.formula}", ""]
    lines += textwrap.wrap(f"When to use it: {spec.when_to_use}", 88)
    if spec.paper:
        lines += ["", f"Paper: {spec.paper}"]
    if spec.delegates_to:
        lines += [f"Computed by: {spec.delegates_to}"]
    elif spec.peers:
        lines += [f"Peer equivalents: {', '.join(spec.peers)}"]
    fn = spec.function
    lines += [
        f"Function: {fn.__module__}.{fn.__qualname__}",
        f"Module: {spec.module.__module__}.{spec.module.__qualname__}",
    ]
    return "\n".join(lines)


def draw_explanation(spec: LossSpec, out: Path) -> Path:
    """Write the entry's loss and gradient figure to ``out`` (PNG)."""
    if spec.explain is None:
        raise ValueError(f"losskit explain: {spec.name} has no explanation to draw yet")
    plt = pyplot()

    panels = spec.explain()
    fig, axes = plt.subplots(len(panels), 2, figsize=(11, 3.8 * len(panels)), squeeze=False)
    for row, panel in zip(axes, panels, strict=True):
        for ax, what in zip(row, ("loss", "gradient"), strict=True):
            for c in panel.curves:
                y = c.loss if what == "loss" else c.grad
                ax.plot(panel.x.numpy(), y.numpy(), lw=2, label=c.label)
            ax.set_xlabel(panel.xlabel)
            ax.set_ylabel("loss" if what == "loss" else "d loss / d (x-axis value)")
            ax.set_title(f"{spec.name}: {what} {panel.title}")
            ax.axhline(0, color="grey", lw=0.5)
            ax.grid(alpha=0.3)
            if len(panel.curves) > 1:
                ax.legend()
        if panel.note:
            row[0].annotate(
                panel.note, xy=(0, -0.28), xycoords="axes fraction", fontsize=9, color="#444"
            )
    fig.suptitle(f"{spec.name}: {spec.summary}", fontsize=11)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out
