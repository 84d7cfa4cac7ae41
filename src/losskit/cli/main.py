"""The ``losskit`` command: ``list``, ``explain``, ``demo``, ``bench`` and ``simulate``.

Exit codes, the same in every command: 0 success, 2 a usage error (an unknown loss name, an
unknown choice, a path that cannot be written), with a one-line message on stderr,
``losskit <command>: <message>``. Every output path is checked before any work runs.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from ..registry import FAMILIES, REGISTRY

#: the formats ``losskit explain`` writes (matplotlib's own writers, no extra package)
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


class UsageError(ValueError):
    """A mistake in the command line: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with the nearest valid choice added to an "invalid choice" error (exit 2)."""

    def error(self, message: str) -> NoReturn:
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:
            choices = re.findall(r"'([^']*)'", m.group(2)) or [
                c.strip() for c in m.group(2).split(",")
            ]
            near = difflib.get_close_matches(m.group(1), choices, n=1, cutoff=0.5)
            if near:
                message += f"; did you mean {near[0]!r}?"
        super().error(message)


def _check_folder(folder: Path, option: str, given: Path) -> None:
    """Raise UsageError unless files can be created in ``folder`` (or in the folders
    ``mkdir -p`` would make there): its nearest existing ancestor must be a folder, and a
    temporary file (removed at once) must be creatable in it."""
    near = folder
    while not near.exists() and near.parent != near:
        near = near.parent
    if not near.is_dir():
        raise UsageError(
            f"{option} needs a path inside a folder; got {given}, but {near} is a file"
        )
    try:
        with tempfile.TemporaryFile(dir=near, prefix=".losskit-probe-"):
            pass
    except OSError as e:
        raise UsageError(
            f"{option} needs a path losskit can write; got {given}, but {near} cannot be "
            f"written ({e.strerror or e})"
        ) from None


def writable_file(path: str | Path, option: str, *, suffixes: Sequence[str] = ()) -> Path:
    """``path`` once a file can be written there (checked before any work, nothing left
    behind); UsageError naming ``option`` for a wrong suffix, a folder, a path below a file or
    a folder that cannot be written."""
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        choices = (
            f"{', '.join(suffixes[:-1])} or {suffixes[-1]}" if len(suffixes) > 1 else suffixes[0]
        )
        raise UsageError(f"{option} must end in {choices}; got {path}")
    if path.is_dir():
        raise UsageError(f"{option} must be a file, not a folder; got {path}")
    if path.exists():
        try:
            open(path, "ab").close()  # opened for writing, content untouched
        except OSError as e:
            raise UsageError(
                f"{option} needs a file losskit can write; got {path} ({e.strerror or e})"
            ) from None
    else:
        _check_folder(path.parent, option, path)
    return path


def writable_folder(path: str | Path, option: str) -> Path:
    """``path`` once it is, or can be made, a folder files can be written into."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} must be a folder; got {path}, which is a file")
    _check_folder(path, option, path)
    return path


def _cmd_list(args: argparse.Namespace) -> int:
    specs = REGISTRY.specs(args.family)
    if args.json:
        rows = [
            {
                "name": s.name,
                "family": s.family,
                "summary": s.summary,
                "formula": s.formula,
                "paper": s.paper,
                "peers": list(s.peers),
                "delegates_to": s.delegates_to,
                "function": f"{s.function.__module__}.{s.function.__qualname__}",
                "module": f"{s.module.__module__}.{s.module.__qualname__}" if s.module else None,
            }
            for s in specs
        ]
        print(json.dumps(rows, indent=2))
        return 0
    header = ("name", "family", "paper", "peer equivalents")
    table = [
        (s.name, s.family, s.paper or "-", ", ".join(s.peers) or (s.delegates_to or "-"))
        for s in specs
    ]
    for line in _table_lines(header, table, _width()):
        print(line)
    print(f"\n{len(table)} losses" + (f" in family {args.family!r}" if args.family else ""))
    return 0


def _width() -> int:
    """The terminal's width; 100 columns when the output is not a terminal."""
    return shutil.get_terminal_size((100, 24)).columns if sys.stdout.isatty() else 100


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "\u2026"


def _table_lines(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], width: int) -> list[str]:
    """Columns fitted to ``width``: the first two whole, the last two sharing what is left
    (clipped with an ellipsis; ``--json`` has the full text)."""
    fixed = [max(len(r[i]) for r in [header, *rows]) for i in range(2)]
    left = max(width - sum(fixed) - 6, 20)
    paper = min(max(len(r[2]) for r in [header, *rows]), max(left * 3 // 5, 10))
    peers = max(left - paper, 10)
    widths = [*fixed, paper, peers]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header).rstrip(), fmt.format(*("-" * w for w in widths))]
    for r in rows:
        lines.append(fmt.format(*(_clip(c, w) for c, w in zip(r, widths, strict=True))).rstrip())
    return lines


def _progress_printer():
    """A rich progress bar when rich is installed, else plain lines."""
    try:
        from rich.progress import Progress
    except ImportError:  # pragma: no cover - rich is in the demo extra

        def plain(desc: str, frac: float | None) -> None:
            print(
                f"[{'    ' if frac is None else format(frac, '4.0%')}] {desc}",
                file=sys.stderr,
                flush=True,
            )

        return plain, None
    progress = Progress(transient=False)
    task = progress.add_task("report", total=1.0)

    def update(desc: str, frac: float | None) -> None:
        if frac is None:  # a step inside a section: description only
            progress.update(task, description=desc)
        else:
            progress.update(task, completed=frac, description=desc)

    return update, progress


def _cmd_demo(args: argparse.Namespace) -> int:
    from ..report import ReportFolderError, build_report, process_age

    # the page's "Generated in" is the whole command's time when this process is the command
    # (not a program calling main(), whose own time before the call is not the command's)
    startup = process_age() if Path(sys.argv[0]).stem in {"losskit", "main"} else None
    out = writable_folder(args.out, "--out")
    update, progress = _progress_printer()
    try:
        if progress is not None:
            with progress:
                sections = build_report(
                    out, quick=args.quick, only=args.section, progress=update, startup=startup
                )
        else:
            sections = build_report(
                out, quick=args.quick, only=args.section, progress=update, startup=startup
            )
    except ReportFolderError as e:
        raise UsageError(str(e)) from None
    _print_summary(sections)
    print(f"Report: {(out / 'index.html').resolve()}")
    return 0


def _print_summary(sections) -> None:
    """The claims per section as a table (rich when installed), then every claim not held."""
    from ..report import claim_counts

    claims = [c for s in sections for c in s.claims]
    checked, held, failed, later = claim_counts(claims)
    rows = [(s.title, *claim_counts(s.claims)) for s in sections]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is in the demo extra
        for title, n, h, f, k in rows:
            print(f"  {title}: {n} claims checked, {h} held, {f} not held, {k} full run only")
    else:
        table = Table(title="The study notes' claims, checked")
        for col in ("section", "checked", "held", "not held", "full run only"):
            table.add_column(col, justify="left" if col == "section" else "right")
        for title, *counts in rows:
            table.add_row(title, *map(str, counts))
        table.add_row("all", str(checked), str(held), str(failed), str(later), style="bold")
        Console().print(table)
    for s in sections:
        for c in s.claims:
            if c.failed:
                print(f"  NOT HELD ({s.key}): {c.text} [measured: {c.measured}]")
    for s in sections:
        for c in s.claims:
            if not c.checked:
                print(f"  FULL RUN ONLY ({s.key}): {c.text} [quick run measured: {c.measured}]")
    print(
        f"\nClaims checked: {checked}, held: {held}, not held: {failed}"
        + (f"; checked in the full run only: {later}" if later else "")
    )


def _resolve(name: str):
    try:
        return REGISTRY.resolve(name)
    except KeyError as e:
        raise UsageError(e.args[0]) from None


def _cmd_explain(args: argparse.Namespace) -> int:
    from ..report.explain import draw_explanation, explanation_text

    spec = _resolve(args.name)
    out = writable_file(args.out or f"{spec.name}.png", "--out", suffixes=FIGURE_SUFFIXES)
    print(explanation_text(spec))
    if spec.explain is None:
        raise UsageError(f"{spec.name} has no figure yet")
    out = draw_explanation(spec, out)
    print(f"\nFigure: {out.resolve()}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from ..bench import cases
    from .bench import run

    # every check before the first benchmark: a mistake must not wait for the whole run
    specs = [_resolve(name) for name in args.name or ()]
    if args.threads < 1:
        raise UsageError(f"--threads must be >= 1; got {args.threads}")
    if not (math.isfinite(args.min_run_time) and args.min_run_time > 0):
        raise UsageError(f"--min-run-time must be a number of seconds > 0; got {args.min_run_time}")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda needs CUDA; got a torch without a CUDA device")
    with_cases = cases() if specs else {}
    for spec in specs:
        if spec.name not in with_cases:
            raise UsageError(f"--name {spec.name}: this loss has no benchmark case")
        if args.family and spec.family != args.family:
            raise UsageError(
                f"--name {spec.name} is in family {spec.family!r}; got --family {args.family}"
            )
    for option, path in (("--markdown", args.markdown), ("--json", args.json)):
        if path is not None:
            writable_file(path, option)
    run(
        family=args.family,
        names=args.name,
        device=args.device,
        threads=args.threads,
        memory=not args.no_memory,
        min_run_time=args.min_run_time,
        markdown=args.markdown,
        json_out=args.json,
        compile=args.compile,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from ..report import SECTIONS
    from . import simulate  # imports this module: not at the top

    p = _Parser(prog="losskit", description="Loss functions: list, explain, benchmark.")
    p.add_argument("--version", action="version", version=f"losskit {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    pl = sub.add_parser("list", help="the registry as a table")
    pl.add_argument("--family", choices=FAMILIES, help="only this family")
    pl.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pl.set_defaults(func=_cmd_list)

    pe = sub.add_parser("explain", help="draw one loss and its gradient, with when to use it")
    pe.add_argument(
        "name", help="a loss: arcface, ArcFace, ArcFaceLoss or arcface_loss (see `losskit list`)"
    )
    pe.add_argument(
        "--out", metavar="FILE", help="figure to write: .png, .pdf or .svg (default: NAME.png)"
    )
    pe.set_defaults(func=_cmd_explain)

    pd = sub.add_parser(
        "demo", help="write the report (HTML + PNG) that checks every claim of the study notes"
    )
    pd.add_argument(
        "--out", default="losskit-report", help="report folder (default: ./losskit-report)"
    )
    pd.add_argument("--quick", action="store_true", help="smaller experiments, for a fast look")
    pd.add_argument(
        "--section",
        action="append",
        choices=[key for key, _ in SECTIONS],
        help="only this section (repeatable)",
    )
    pd.set_defaults(func=_cmd_demo)

    pb = sub.add_parser("bench", help="losskit against its peers, time and peak memory ratios")
    pb.add_argument("--family", choices=FAMILIES, help="only this family")
    pb.add_argument("--name", action="append", help="only this loss (repeatable)")
    pb.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    pb.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    pb.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    pb.add_argument(
        "--min-run-time", type=float, default=0.5, help="seconds of timing per implementation"
    )
    pb.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown")
    pb.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    pb.add_argument(
        "--compile",
        action="store_true",
        help="also time every implementation under torch.compile (graph breaks, compile time)",
    )
    pb.set_defaults(func=_cmd_bench)

    simulate.add_simulate_parser(sub)
    return p


def _one_line(message: str, command: str) -> str:
    """``message`` as one line, without a ``losskit:`` or ``losskit <command>:`` of its own."""
    for prefix in (f"losskit {command}: ", "losskit: "):
        message = message.removeprefix(prefix)
    return " ".join(message.split())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as e:
        print(f"losskit {args.command}: {_one_line(str(e), args.command)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (`losskit list | head`): not an error of ours; silence the
        # interpreter's own flush of the closed pipe at exit
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
