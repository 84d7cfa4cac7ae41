"""The ``losskit demo`` report: one section per family, written as static HTML + PNG.

A section is one function ``section(ctx) -> Section`` (see :mod:`losskit.report._base`);
:data:`SECTIONS` lists them in report order.
"""

from __future__ import annotations

import html
import importlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._base import Claim, Figure, ReportContext, Section, html_table

__all__ = [
    "Claim",
    "Figure",
    "ReportContext",
    "Section",
    "SECTIONS",
    "build_report",
    "MARKER",
    "html_table",
]

#: file that marks a folder as a losskit report (``losskit demo`` only overwrites those)
MARKER = ".losskit-report"

#: report sections in order: (key, module path); each module defines ``section(ctx)``
SECTIONS: list[tuple[str, str]] = [
    ("regression", "losskit.report.regression"),
    ("classification", "losskit.report.classification"),
    ("box", "losskit.report.box"),
    ("segmentation", "losskit.report.segmentation"),
    ("embedding", "losskit.report.embedding"),
    ("margin", "losskit.report.margin"),
    ("digits", "losskit.report.digits"),
    ("atlas", "losskit.report.atlas"),
]


def _load(module: str) -> Callable[[ReportContext], Section]:
    return importlib.import_module(module).section


class ReportFolderError(ValueError):
    pass


#: the marker's first line; the lines after it name the files the report wrote
_MARKER_HEAD = (
    "This folder was written by `losskit demo`. It wrote the files listed below; "
    "a rerun removes these and no others."
)
#: the marker of reports written before the marker listed its files
_LEGACY_MARKER = "This folder was written by `losskit demo`."


def _written_before(out: Path) -> list[str]:
    """The files the report in ``out`` wrote, as its marker lists them (plain names only).

    A marker from before the list names none; that report wrote ``index.html`` and the
    figures it shows, so those are the ones returned.
    """
    lines = (out / MARKER).read_text(encoding="utf-8", errors="replace").splitlines()
    names = [line.strip() for line in lines[1:]]
    if [line.strip() for line in lines] == [_LEGACY_MARKER] and (out / "index.html").is_file():
        page = (out / "index.html").read_text(encoding="utf-8", errors="replace")
        names = ["index.html", *(html.unescape(s) for s in re.findall(r'<img src="([^"]+)"', page))]
    return [n for n in names if n and n == Path(n).name and n not in {".", "..", MARKER}]


def write_marker(out: Path, written: list[str]) -> None:
    """Mark ``out`` as a losskit report that wrote the files ``written``."""
    text = "\n".join([_MARKER_HEAD, *dict.fromkeys(written)]) + "\n"
    (out / MARKER).write_text(text, encoding="utf-8")


def prepare_folder(out: Path) -> None:
    """Create ``out``; refuse a non-empty folder that is not a losskit report.

    In an earlier report's folder, remove the files that report wrote (its marker lists
    them) and nothing else: files a person put there stay.
    """
    if out.exists():
        if not out.is_dir():
            raise ReportFolderError(f"losskit demo: {out} exists and is not a folder")
        if any(out.iterdir()) and not (out / MARKER).exists():
            raise ReportFolderError(
                f"losskit demo: {out} is not empty and is not a losskit report; "
                "choose another folder with --out"
            )
    try:
        out.mkdir(parents=True, exist_ok=True)
        if (out / MARKER).exists():
            for name in _written_before(out):
                old = out / name
                if old.is_symlink() or old.is_file():
                    old.unlink()
        write_marker(out, [])
    except OSError as e:
        raise ReportFolderError(
            f"losskit demo: cannot write the report folder {out} ({e.strerror or e})"
        ) from None


@dataclass
class _RecordingContext(ReportContext):
    """A ReportContext that notes the name of every figure it saves."""

    written: list[str] = field(default_factory=list)

    def save_figure(self, fig: Any, name: str, caption: str, *, tight: bool = True) -> Figure:
        figure = super().save_figure(fig, name, caption, tight=tight)
        self.written.append(figure.filename)
        return figure


_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1200px;margin:1.5em auto;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
h2 a.top{font-size:.6em;font-weight:400;margin-left:.6em;text-decoration:none}
figure{display:inline-block;margin:.5em;max-width:560px;width:100%;vertical-align:top}
figure.wide{display:block;max-width:100%;margin:.8em 0}
figure img{max-width:100%;height:auto;border:1px solid #eee;display:block}
figcaption{font-size:.9em;color:#444} figcaption a{white-space:nowrap}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:1em 0;font-size:.92em} td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th{background:#f4f4f4} caption{text-align:left;font-weight:600;margin-bottom:.3em}
.held{color:#17702a} .not-held{color:#b00020;font-weight:600} .summary{background:#f7f7f7;padding:.8em 1em;border-radius:6px}
li.claim{margin:.4em 0} li.claim:target{background:#fff6d6} .measured{color:#555;font-size:.92em}
#totop{position:fixed;right:1em;bottom:1em;background:#fff;border:1px solid #ccc;border-radius:6px;padding:.3em .6em;text-decoration:none;font-size:.9em}
@media (max-width:600px){body{margin:.5em auto;padding:0 .6em} figure{margin:.5em 0}}
"""

_NUMBER = re.compile(r"<td>(\s*[-+\u2212]?(?:[\d.,]+|inf|nan)\s*(?:%|x|\u00d7|ms|s|MB)?\s*)</td>")


def _png_width(path: Path) -> int | None:
    """A PNG's width in pixels from its header (``None`` if it is not a readable PNG)."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return None
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big")


def claim_id(sec: Section, i: int) -> str:
    """The anchor of the ``i``-th claim of a section: ``claim-<section>-<i + 1>``."""
    return f"claim-{sec.key}-{i + 1}"


def _section_html(sec: Section, out: Path | None = None) -> str:
    parts = [
        f'<section id="{html.escape(sec.key)}"><h2>{html.escape(sec.title)}'
        '<a class="top" href="#summary" title="back to the contents">&#8593; contents</a></h2>',
        f"<p>{html.escape(sec.intro)}</p>",
    ]
    for fig in sec.figures:
        width = _png_width(out / fig.filename) if out is not None else None
        wide = ' class="wide"' if width is not None and width > 1000 else ""
        src = html.escape(fig.filename)
        parts.append(
            f'<figure{wide}><a href="{src}" title="open at full size">'
            f'<img src="{src}" alt="{html.escape(fig.caption)}"></a>'
            f"<figcaption>{html.escape(fig.caption)} "
            f'<a href="{src}">(full size)</a></figcaption></figure>'
        )
    if sec.claims:
        parts.append("<h3>The study notes' claims, checked</h3><ul>")
        for i, c in enumerate(sec.claims):
            cls, mark = (
                ("held", "&#10003; holds") if c.held else ("not-held", "&#10007; does not hold")
            )
            parts.append(
                f'<li class="claim" id="{claim_id(sec, i)}"><span class="{cls}">{mark}</span>: '
                f"{html.escape(c.text)}"
                f'<br><span class="measured">measured: {html.escape(c.measured)}</span></li>'
            )
        parts.append("</ul>")
    for table in sec.tables:
        numeric = _NUMBER.sub(r'<td class="num">\1</td>', table)
        parts.append(f'<div class="scroll">{numeric}</div>')
    parts.append("</section>")
    return "\n".join(parts)


def write_html(out: Path, sections: list[Section], elapsed: float) -> Path:
    claims = [c for s in sections for c in s.claims]
    held = sum(c.held for c in claims)
    toc = "".join(
        f'<li><a href="#{html.escape(s.key)}">{html.escape(s.title)}</a> '
        f"({sum(c.held for c in s.claims)} of {len(s.claims)} claims hold)</li>"
        for s in sections
    )
    not_held = "".join(
        f'<li><a href="#{claim_id(s, i)}">{html.escape(c.text)}</a> '
        f'<span class="measured">({html.escape(s.title)})</span></li>'
        for s in sections
        for i, c in enumerate(s.claims)
        if not c.held
    )
    not_held_html = (
        f'<p class="not-held">Claims that do not hold:</p><ul>{not_held}</ul>' if not_held else ""
    )
    body = "\n".join(_section_html(s, out) for s in sections)
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>losskit report</title>
<style>{_CSS}</style></head><body>
<h1>losskit report</h1>
<p>Every loss of the study notes, drawn, and every claim the notes make about it, measured (the claims and their sources: docs/claims.md in the repository). Click a figure to open it at full size.</p>
<div class="summary" id="summary"><strong>Claims checked: {len(claims)}, held: {held}, not held: {len(claims) - held}.</strong>
<br>Generated in {elapsed:.1f} s.{not_held_html}<p>Contents:</p><ul>{toc}</ul></div>
{body}
<a id="totop" href="#summary">&#8593; contents</a>
</body></html>
"""
    path = out / "index.html"
    path.write_text(doc, encoding="utf-8")
    return path


def build_report(
    out: Path, *, quick: bool = False, only: list[str] | None = None, progress=None
) -> list[Section]:
    """Run every section into ``out`` and write ``index.html``; returns the sections."""
    out = Path(out)
    prepare_folder(out)
    ctx = _RecordingContext(out_dir=out, quick=quick, progress=progress)
    start = time.perf_counter()
    chosen = [(k, m) for k, m in SECTIONS if not only or k in only]
    sections = []
    try:
        for i, (key, module) in enumerate(chosen):
            if progress:
                progress(f"section {key}", i / max(len(chosen), 1))
            sections.append(_load(module)(ctx))
        if progress:
            progress("done", 1.0)
        ctx.written.append(write_html(out, sections, time.perf_counter() - start).name)
    finally:  # also after a failed section: the next run removes what this one wrote
        write_marker(out, ctx.written)
    return sections
