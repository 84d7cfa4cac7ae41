"""The ``losskit demo`` report: one section per family, written as static HTML + PNG.

A section is one function ``section(ctx) -> Section`` (see :mod:`losskit.report._base`);
:data:`SECTIONS` lists them in report order.
"""

from __future__ import annotations

import contextlib
import html
import importlib
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._base import Claim, Figure, ReportContext, Section, html_table

__all__ = [
    "Claim",
    "claim_counts",
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


#: a section's cost: (wall seconds, CPU seconds of the process that ran it, which process:
#: 1 the command's own, 2 the second)
Timing = tuple[float, float, int]


def _timed(module: str, ctx: ReportContext, process: int) -> tuple[Section, Timing]:
    """Run the section of ``module``: the section and what it cost (the first section of a
    process also pays for its first imports of matplotlib, scikit-learn and the like)."""
    wall, cpu = time.perf_counter(), time.process_time()
    sec = _load(module)(ctx)
    return sec, (time.perf_counter() - wall, time.process_time() - cpu, process)


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
.held{color:#17702a} .not-held{color:#b00020;font-weight:600} .unchecked{color:#6a5d00} .summary{background:#f7f7f7;padding:.8em 1em;border-radius:6px}
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


#: a claim's class and mark by (checked, held)
_MARKS = {
    (True, True): ("held", "&#10003; holds"),
    (True, False): ("not-held", "&#10007; does not hold"),
    (False, True): ("unchecked", "&#9675; checked in the full run only"),
    (False, False): ("unchecked", "&#9675; checked in the full run only"),
}


def claim_counts(claims: list[Claim]) -> tuple[int, int, int, int]:
    """``(checked, held, not held, checked in the full run only)`` of ``claims``."""
    checked = [c for c in claims if c.checked]
    held = sum(c.held for c in checked)
    return len(checked), held, len(checked) - held, len(claims) - len(checked)


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
            cls, mark = _MARKS[(c.checked, c.held)]
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


def process_age() -> float | None:
    """Seconds since this process started (Linux: ``/proc``), ``None`` where unknown: the
    ``losskit demo`` command's own time, the interpreter's start and the imports included."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return max(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 0.0)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _generated(
    elapsed: float,
    startup: float | None,
    quick: bool,
    timings: dict[str, Timing] | None = None,
    load: tuple[float, float] | None = None,
) -> str:
    what = "losskit demo --quick" if quick else "losskit demo"
    if startup is None:
        text = f"Generated in {elapsed:.1f} s."
    else:
        text = (
            f"Generated in {startup + elapsed:.1f} s, the whole <code>{what}</code> command "
            f"({startup:.1f} s of it starting Python and importing torch; "
            f"{elapsed:.1f} s the sections)."
        )
    if load is not None:
        text += (
            f" Load average (1 min) {load[0]:.1f} at the start, {load[1]:.1f} at the end, on "
            f"{os.cpu_count() or 1} cores (the report's own two processes count for up to 2; "
            "more means other jobs shared the cores and every time here grew)."
        )
    if timings:
        each = ", ".join(
            f"{html.escape(k)} {w:.1f} / {c:.1f}" + (" (second process)" if p == 2 else "")
            for k, (w, c, p) in timings.items()
        )
        text += f" Each section, wall / CPU seconds: {each}."
    return text


def _load_average() -> float | None:
    """The 1-minute load average (``None`` where the system does not tell)."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


def write_html(
    out: Path,
    sections: list[Section],
    elapsed: float,
    startup: float | None = None,
    *,
    quick: bool = False,
    timings: dict[str, Timing] | None = None,
    load: tuple[float, float] | None = None,
) -> Path:
    """Write ``index.html``: ``elapsed`` seconds for the sections, after ``startup`` seconds
    of starting the command (the interpreter, the imports), when known; each section's
    ``timings`` and the machine's ``load`` average at the start and the end, when given."""
    claims = [c for s in sections for c in s.claims]
    checked, held, failed, later = claim_counts(claims)

    def hold(sec: Section) -> str:
        n, h, _, k = claim_counts(sec.claims)
        return f"{h} of {n} claims hold" + (f"; {k} checked in the full run only" if k else "")

    toc = "".join(
        f'<li><a href="#{html.escape(s.key)}">{html.escape(s.title)}</a> ({hold(s)})</li>'
        for s in sections
    )
    not_held = "".join(
        f'<li><a href="#{claim_id(s, i)}">{html.escape(c.text)}</a> '
        f'<span class="measured">({html.escape(s.title)})</span></li>'
        for s in sections
        for i, c in enumerate(s.claims)
        if c.failed
    )
    unchecked = "".join(
        f'<li><a href="#{claim_id(s, i)}">{html.escape(c.text)}</a> '
        f'<span class="measured">({html.escape(s.title)})</span></li>'
        for s in sections
        for i, c in enumerate(s.claims)
        if not c.checked
    )
    not_held_html = (
        f'<p class="not-held">Claims that do not hold:</p><ul>{not_held}</ul>' if not_held else ""
    )
    if unchecked:
        not_held_html += (
            '<p class="unchecked">Checked in the full run only (<code>losskit demo</code> '
            f"without --quick; this quick run measures too little to decide them):</p>"
            f"<ul>{unchecked}</ul>"
        )
    body = "\n".join(_section_html(s, out) for s in sections)
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>losskit report</title>
<style>{_CSS}</style></head><body>
<h1>losskit report</h1>
<p>Every loss of the study notes, drawn, and every claim the notes make about it, measured (the claims and their sources: docs/claims.md in the repository). Click a figure to open it at full size.</p>
<div class="summary" id="summary"><strong>Claims checked: {checked}, held: {held}, not held: {failed}.{f" Checked in the full run only: {later}." if later else ""}</strong>
<br>{_generated(elapsed, startup, quick, timings, load)}{not_held_html}<p>Contents:</p><ul>{toc}</ul></div>
{body}
<a id="totop" href="#summary">&#8593; contents</a>
</body></html>
"""
    path = out / "index.html"
    path.write_text(doc, encoding="utf-8")
    return path


#: the sections the full run's second process runs while this one runs the others
#: (``build_report``'s ``processes=2``): the box section (the DIoU simulation), the atlas
#: (every registry entry's explanation computed and drawn), classification and embedding;
#: this process keeps the digits experiment (the report's largest piece), margin,
#: segmentation and regression. CPU seconds each of the full run (one thread; 2026-11-30,
#: load average 1.3 rising to 5.0 as other jobs started): digits 146, box 95, atlas 32,
#: classification 28, margin 13, embedding 8, segmentation 1.4, regression 1.1: 162 on each
#: side (with classification here: 190 and 134)
BACKGROUND: tuple[str, ...] = ("classification", "box", "embedding", "atlas")
#: the quick run's second process: the quick atlas draws nothing (see its section), so the
#: digits section goes there instead, beside the embedding section. Wall seconds each of the
#: quick run (2026-11-30, the cores to itself): classification 11.7, digits 9.4, box 6.0,
#: margin 5.9, embedding 3.9, segmentation 1.3, regression 0.8, atlas 0.0: 19.3 here against
#: 19.7 in the first process, which the second still finishes after: it starts once the
#: first has imported torch, and imports it again (about 2 s each)
QUICK_BACKGROUND: tuple[str, ...] = ("box", "embedding", "digits")


#: what the second process hands back: (sections, files written, error, each section's timing)
Outcome = tuple[list[Section], list[str], str | None, dict[str, Timing]]


def _run_sections(keys: list[str], out: Path, quick: bool, progress) -> Outcome:
    """Run the sections ``keys``: ``(sections, files written, error, timings)``, the error as
    its traceback's text (the files written are returned even then). The second process's
    body (``python -m losskit.report._worker``)."""
    import traceback

    ctx = _RecordingContext(out_dir=out, quick=quick, progress=progress)
    modules = dict(SECTIONS)
    sections: list[Section] = []
    timings: dict[str, Timing] = {}
    try:
        for key in keys:
            if progress:
                progress(f"section {key} (second process)", None)
            sec, timings[key] = _timed(modules[key], ctx, 2)
            sections.append(sec)
    except Exception:  # reported by the parent, with what was written
        return sections, ctx.written, traceback.format_exc(), timings
    return sections, ctx.written, None, timings


def build_report(
    out: Path,
    *,
    quick: bool = False,
    only: list[str] | None = None,
    progress=None,
    processes: int = 2,
    startup: float | None = None,
) -> list[Section]:
    """Run every section into ``out`` and write ``index.html``; returns the sections.

    With ``processes=2`` (the default, where the machine has two cores or more) the
    :data:`BACKGROUND` sections (:data:`QUICK_BACKGROUND` with ``quick``) run in a second
    process, on one torch thread, while this one runs the others, also on one thread;
    ``processes=1`` runs everything here. The numbers are the same either way (every
    experiment is seeded and runs on one thread). ``startup``: the seconds the command took
    before this call (the page's "Generated in" counts them). The page also gives each
    section's wall and CPU seconds and the load average at the start and the end.
    """
    out = Path(out)
    prepare_folder(out)
    ctx = _RecordingContext(out_dir=out, quick=quick, progress=progress)
    start = time.perf_counter()
    load_start = _load_average()
    chosen = [(k, m) for k, m in SECTIONS if not only or k in only]
    background = [k for k, _ in chosen if k in (QUICK_BACKGROUND if quick else BACKGROUND)]
    if processes < 2 or (os.cpu_count() or 1) < 2 or len(background) == len(chosen):
        background = []
    here = [(k, m) for k, m in chosen if k not in background]
    done: dict[str, Section] = {}
    timings: dict[str, Timing] = {}
    try:
        with _second_process(background, out, quick, progress) as pending:
            try:
                for i, (key, module) in enumerate(here):
                    if progress:
                        progress(f"section {key}", i / max(len(chosen), 1))
                    done[key], timings[key] = _timed(module, ctx, 1)
                if pending is not None and progress:
                    progress(f"waiting for {', '.join(background)}", len(here) / len(chosen))
            finally:  # what the second process wrote is recorded even if this one failed
                if pending is not None:
                    theirs, written, error, their_timings = pending.result()
                    ctx.written.extend(written)
                    timings.update(their_timings)
            if pending is not None:
                if error is not None:
                    raise RuntimeError(f"losskit demo: a section failed:\n{error}")
                done.update((s.key, s) for s in theirs)
        sections = [done[k] for k, _ in chosen]
        if progress:
            progress("done", 1.0)
        elapsed = time.perf_counter() - start
        load_end = _load_average()
        load = None if load_start is None or load_end is None else (load_start, load_end)
        timings = {k: timings[k] for k, _ in chosen}  # report order
        page = write_html(out, sections, elapsed, startup, quick=quick, timings=timings, load=load)
        ctx.written.append(page.name)
    finally:  # also after a failed section: the next run removes what this one wrote
        write_marker(out, ctx.written)
    return sections


class _Pending:
    """The second process's result, once it has finished."""

    def __init__(self, proc: Any, result: Path, relay: Any) -> None:
        self.proc, self.path, self.relay = proc, result, relay

    def result(self) -> Outcome:
        import pickle

        self.proc.wait()
        self.relay.join()
        try:
            with open(self.path, "rb") as f:
                return pickle.load(f)
        except (OSError, EOFError, pickle.UnpicklingError):
            return [], [], f"the second process ended with exit code {self.proc.returncode}", {}


@contextlib.contextmanager
def _second_process(keys: list[str], out: Path, quick: bool, progress) -> Iterator[Any]:
    """Run ``keys`` in a second process (``python -m losskit.report._worker``: a fresh
    interpreter, so it works from any caller, a script without a main guard included), its
    progress forwarded to ``progress``; yields the pending result (``None`` without keys).
    This process runs on one torch thread meanwhile: the two share the cores."""
    if not keys:
        yield None
        return
    import subprocess
    import sys
    import tempfile
    import threading

    import torch

    with tempfile.TemporaryDirectory(prefix="losskit-report-") as tmp:
        result = Path(tmp) / "sections.pickle"
        cmd = [sys.executable, "-m", "losskit.report._worker", str(out), str(result)]
        cmd += ["--quick"] * quick + keys
        # the child imports this very losskit, wherever the parent found it
        here = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, "PYTHONPATH": path}
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, bufsize=1, env=env)

        def forward() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if progress and line.strip():
                    progress(line.strip(), None)

        relay = threading.Thread(target=forward, daemon=True)
        relay.start()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield _Pending(proc, result, relay)
        finally:
            if proc.poll() is None and sys.exc_info()[0] is not None:
                proc.wait()  # an error here: still let the other finish (its files are listed)
            proc.wait()
            torch.set_num_threads(threads)
