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
    assert spec.module is not None  # set by LossSpec.__post_init__
    lines += [
        f"Function: {fn.__module__}.{fn.__qualname__}",
        f"Module: {spec.module.__module__}.{spec.module.__qualname__}",
    ]
    return "\n".join(lines)


def _quantity(xlabel: str) -> str:
    """The slice variable's symbol from its axis label, its last word before any
    parenthesis: ``"theta (radians)"`` -> ``"theta"``, ``"probability of the true class
    p_t"`` -> ``"p_t"``."""
    words = xlabel.split(" (")[0].split()
    return words[-1] if words else "x"


def _scale(ax, values: list) -> None:
    """A symmetric log scale when the largest plotted magnitude is more than 30 times the
    typical one (a focal gradient of -120 beside ones of 0.1), so that every curve stays
    readable where it matters."""
    import numpy as np

    v = np.abs(np.concatenate([np.asarray(y, dtype=float).ravel() for y in values]))
    v = v[np.isfinite(v) & (v > 0)]
    if v.size and v.max() / max(np.median(v), 1e-300) > 30:
        linthresh = float(max(np.percentile(v, 10), v.max() * 1e-6))
        ax.set_yscale("symlog", linthresh=linthresh)
        signed = np.concatenate([np.asarray(y, dtype=float).ravel() for y in values])
        signed = signed[np.isfinite(signed)]
        if signed.size and signed.max() <= 0:  # one-signed: no empty decades above zero
            ax.set_ylim(top=linthresh)
        elif signed.size and signed.min() >= 0:
            ax.set_ylim(bottom=-linthresh)


def overlaps(panel) -> dict[int, int]:
    """``{i: j}``: curve ``i`` draws exactly what an earlier curve ``j`` draws (loss and
    gradient), so it would hide it or be hidden."""
    import torch

    same: dict[int, int] = {}
    for i, c in enumerate(panel.curves):
        for j in range(i):
            d = panel.curves[j]
            if torch.allclose(c.loss, d.loss, rtol=1e-6, atol=1e-9, equal_nan=True) and (
                torch.allclose(c.grad, d.grad, rtol=1e-6, atol=1e-9, equal_nan=True)
            ):
                same[i] = j
                break
    return same


def drawn_labels(panel) -> list[str]:
    """The legend label of each curve as drawn: a curve that coincides with an earlier one
    says so, ``"<label> (same as <other>)"``."""
    same = overlaps(panel)
    return [
        c.label + (f" (same as {panel.curves[same[i]].label})" if i in same else "")
        for i, c in enumerate(panel.curves)
    ]


def draw_explanation(spec: LossSpec, out: Path) -> Path:
    """Write the entry's loss and gradient figure to ``out`` (PNG, PDF or SVG).

    One row per panel: the loss and its derivative with respect to the slice variable
    (the y axis names it: ``d loss / d theta``), a symmetric log scale where a quantity spans
    decades, the legend outside the data, and a curve that coincides with another drawn
    dashed on top of it with "(same as ...)" in its label, so no setting hides another.
    """
    if spec.explain is None:
        raise ValueError(f"losskit explain: {spec.name} has no explanation to draw yet")
    plt = pyplot()

    panels = spec.explain()
    fig = plt.figure(figsize=(12, 4.2 * len(panels)), layout="constrained")
    rows = fig.subfigures(len(panels), 1, squeeze=False)[:, 0]
    for sub, panel in zip(rows, panels, strict=True):
        axes = sub.subplots(1, 2)
        same = overlaps(panel)
        labels = drawn_labels(panel)
        var = _quantity(panel.xlabel)
        for ax, what in zip(axes, ("loss", "gradient"), strict=True):
            ys = []
            for i, c in enumerate(panel.curves):
                y = (c.loss if what == "loss" else c.grad).numpy()
                ys.append(y)
                # a coinciding curve: dashed, on top of the one it coincides with
                style = {"lw": 2, "ls": (0, (4, 3))} if i in same else {"lw": 2}
                ax.plot(panel.x.numpy(), y, label=labels[i], **style)
            ax.set_xlabel(panel.xlabel)
            ax.set_ylabel("loss" if what == "loss" else f"d loss / d {var}")
            ax.set_title("loss" if what == "loss" else f"gradient, d loss / d {var}", fontsize=10)
            ax.axhline(0, color="grey", lw=0.5)
            ax.grid(alpha=0.3)
            _scale(ax, ys)
        if len(panel.curves) > 1:
            axes[1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9,
                           frameon=False)  # fmt: skip
        title = f"{spec.name}: {panel.title}"
        if panel.note:
            title += "\n" + "\n".join(textwrap.wrap(panel.note, 130))
        sub.suptitle(title, fontsize=10)
    fig.suptitle(f"{spec.name}: {spec.summary}", fontsize=11, fontweight="bold")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out
