"""The building blocks of the ``losskit demo`` report.

A report section is one function ``section(ctx: ReportContext) -> Section``; sections are
listed in :data:`losskit.report.SECTIONS`. A section draws figures with matplotlib (saved via
``ctx.save_figure``), measures the numbers behind each claim of the study notes, and records each claim
with whether it held. A claim that does not hold is reported as not holding, never hidden; one
the quick run cannot decide is shown as checked in the full run only (``Claim.checked``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Claim:
    """A claim of the study notes (listed in docs/claims.md) and what was measured for it."""

    text: str
    held: bool
    measured: str
    #: ``False`` where the quick run does not measure enough to decide (too few epochs or
    #: samples): shown as "checked in the full run only", counted apart from held and not held,
    #: never as a failure
    checked: bool = True

    @property
    def failed(self) -> bool:
        """Checked and did not hold."""
        return self.checked and not self.held


@dataclass(frozen=True)
class Figure:
    filename: str
    caption: str


@dataclass
class Section:
    key: str
    title: str
    intro: str
    figures: list[Figure] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    #: extra HTML fragments (tables), already escaped
    tables: list[str] = field(default_factory=list)


#: figure resolutions (dots per inch) of the full and the quick report
FULL_DPI, QUICK_DPI = 110, 90


@dataclass
class ReportContext:
    out_dir: Path
    quick: bool = False
    #: optional progress callback: progress(description, fraction_done); a section reports
    #: its inner steps with fraction_done=None (description only)
    progress: Any = None

    @property
    def dpi(self) -> int:
        """The figures' resolution: 110 dpi, 90 in the quick run (a third fewer pixels to
        draw and encode; every label stays legible at full size)."""
        return QUICK_DPI if self.quick else FULL_DPI

    def step(self, what: str) -> None:
        """Report a step inside a section (a description, no fraction) to the progress bar."""
        if self.progress is not None:
            self.progress(what, None)

    def save_figure(self, fig: Any, name: str, caption: str, *, tight: bool = True) -> Figure:
        """Save a matplotlib figure as ``<out_dir>/<name>.png`` and close it.

        ``tight=False`` for a figure whose constrained layout already fits its contents: the
        tight bounding box costs a second full draw (half the time of a large figure). PNG
        compression level 1: a fifth of level 6's encoding time for a slightly larger file.
        """
        import matplotlib.pyplot as plt

        filename = f"{name}.png"
        fig.savefig(self.out_dir / filename, dpi=self.dpi, bbox_inches="tight" if tight else None,
                    pil_kwargs={"compress_level": 1})  # fmt: skip
        plt.close(fig)
        return Figure(filename, caption)


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend (the report never opens a window)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def html_table(header: list[str], rows: list[list[Any]], caption: str = "") -> str:
    """A small escaped HTML table."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
