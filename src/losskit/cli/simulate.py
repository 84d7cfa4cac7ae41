"""``losskit simulate boxes``: the DIoU paper's simulation (:mod:`losskit.simulate`).

Prints the total error left per loss and writes one figure: per gradient mode, the total
error against the iteration and a map of the final error per anchor point.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..simulate import GRADIENTS, LOSSES, BoxSimulation, plot_box_simulation, simulate_boxes
from .main import writable_file

__all__ = ["add_simulate_parser", "run_simulate"]

#: suffixes that make ``--out`` a file rather than a folder
_FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")
_DEFAULT_NAME = "simulate_boxes.png"


def add_simulate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``simulate`` (with its ``boxes`` subcommand) to the ``losskit`` subparsers."""
    ps = subparsers.add_parser("simulate", help="simulations from the papers behind the losses")
    sims = ps.add_subparsers(dest="simulation", required=True)
    pb = sims.add_parser(
        "boxes",
        help="the DIoU paper's box-regression simulation (IoU, GIoU, DIoU, CIoU)",
        description=(
            "Zheng et al., AAAI 2020 (arXiv:1911.08287): 7 targets at (10, 10), anchors at "
            "uniform points of the disc of radius 3, 49 anchors per point, every anchor "
            "regressed to every target for T iterations of B <- B + eta (2 - IoU) (-dL/dB). "
            "--points 5000 is the paper's 1,715,000 cases. --gradients exact uses autograd "
            "through losskit's losses; authors uses the hand-coded gradients of the "
            "authors' simulation code, which the paper's figures come from."
        ),
    )
    pb.add_argument(
        "--points",
        type=int,
        default=300,
        help="anchor points, 343 cases each (default 300; the paper: 5000)",
    )
    pb.add_argument("--iterations", type=int, default=200, help="T (default 200, the paper's)")
    pb.add_argument(
        "--gradients",
        choices=[*GRADIENTS, "both"],
        default="both",
        help="exact (autograd), authors (their hand-coded rules) or both side by side (default)",
    )
    pb.add_argument(
        "--losses",
        default=",".join(LOSSES),
        help=f"comma-separated subset of {','.join(LOSSES)} (default: all)",
    )
    pb.add_argument(
        "--out",
        default=_DEFAULT_NAME,
        metavar="DIR|FILE",
        help=f"figure file (.png/.pdf/.svg) or folder to write {_DEFAULT_NAME} into "
        f"(default ./{_DEFAULT_NAME}); the numbers go to a .json beside it",
    )
    pb.add_argument("--seed", type=int, default=0, help="seed of the anchor points (default 0)")
    pb.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: the operations are small, more threads contend)",
    )
    pb.set_defaults(func=run_simulate)
    return pb


def _figure_path(out: str) -> Path:
    path = Path(out)
    if path.suffix.lower() in _FIGURE_SUFFIXES:
        return path
    if path.exists() and not path.is_dir():
        raise ValueError(
            f"--out {out} exists and is not a folder; give a folder or a file ending in "
            + ", ".join(_FIGURE_SUFFIXES)
        )
    return path / _DEFAULT_NAME


def _parse_losses(text: str) -> list[str]:
    names = [s.strip().lower() for s in text.split(",") if s.strip()]
    if not names:
        raise ValueError(f"--losses needs at least one of {','.join(LOSSES)}; got {text!r}")
    unknown = [n for n in names if n not in LOSSES]
    if unknown:
        raise ValueError(f"--losses: unknown {', '.join(unknown)}; choose from {','.join(LOSSES)}")
    return names


def _progress(total: int):
    """``(callback, context)``: a rich progress bar when rich is importable, else lines."""
    try:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    except ImportError:  # pragma: no cover - rich is in the demo extra
        state = {"done": 0}

        def plain(label: str, t: int, iterations: int) -> None:
            state["done"] += 1
            if t == iterations:
                print(f"[{state['done'] / total:4.0%}] {label} done", file=sys.stderr, flush=True)

        return plain, None
    bar = Progress(
        TextColumn("{task.description:<14}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        transient=True,
    )
    task = bar.add_task("simulate", total=total)

    def update(label: str, t: int, iterations: int) -> None:
        bar.update(task, advance=1, description=label)

    return update, bar


def _table(sim: BoxSimulation) -> str:
    quarter, half = max(sim.iterations // 4, 1), max(sim.iterations // 2, 1)
    head = (
        f"{'loss':<6}{'initial':>12}{f'left@{quarter}':>11}{f'left@{half}':>11}"
        f"{f'left@{sim.iterations}':>11}{'disjoint unmoved':>18}{'inverted':>10}{'s':>7}"
    )
    lines = [
        f"gradients={sim.gradients}: {sim.cases:,} cases ({sim.points} points x 343), "
        f"T={sim.iterations}, seed={sim.seed}",
        head,
        "-" * len(head),
    ]
    for row in sim.summary():
        name = str(row["loss"])
        lines.append(
            f"{name:<6}{row['initial']:>12.4g}{100 * sim.remaining(name, quarter):>10.3g}%"
            f"{100 * sim.remaining(name, half):>10.3g}%{100 * row['left@T']:>10.3g}%"
            f"{100 * row['disjoint_unmoved']:>17.3g}%{sim.inverted[name]:>10}"
            f"{sim.seconds[name]:>7.1f}"
        )
    return "\n".join(lines)


def _as_json(sims: list[BoxSimulation]) -> dict[str, Any]:
    return {
        s.gradients: {
            "points": s.points,
            "cases": s.cases,
            "iterations": s.iterations,
            "seed": s.seed,
            "summary": s.summary(),
            "inverted_cases": s.inverted,
            "curves": {k: v.tolist() for k, v in s.curves.items()},
        }
        for s in sims
    }


def run_simulate(args: argparse.Namespace) -> int:
    """Run ``losskit simulate boxes``; 0 on success, 2 on a bad argument."""
    prog = "losskit simulate boxes"
    try:
        losses = _parse_losses(args.losses)
        figure = _figure_path(args.out)
        for path in (figure, figure.with_suffix(".json")):  # both, before the run
            writable_file(path, "--out")
        modes = list(GRADIENTS) if args.gradients == "both" else [args.gradients]
        for name in ("points", "iterations", "threads"):
            if getattr(args, name) < 1:
                raise ValueError(f"--{name} must be >= 1; got {getattr(args, name)}")
        if args.seed < 0:
            raise ValueError(f"--seed must be >= 0; got {args.seed}")
        import matplotlib  # noqa: F401  (fail before the run, not after it)
    except ImportError:
        print(f"{prog}: the figure needs matplotlib (pip install 'losskit[demo]')", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2

    update, bar = _progress(len(modes) * len(losses) * args.iterations)
    sims: list[BoxSimulation] = []

    def run_all() -> None:
        for mode in modes:

            def report(name: str, t: int, n: int, mode: str = mode) -> None:
                update(f"{mode} {name}", t, n)

            sims.append(
                simulate_boxes(
                    args.points,
                    iterations=args.iterations,
                    gradients=mode,
                    losses=losses,
                    seed=args.seed,
                    threads=args.threads,
                    progress=report,
                )
            )

    if bar is not None:
        with bar:
            run_all()
    else:
        run_all()

    for sim in sims:
        print(_table(sim))
        print()
    figure.parent.mkdir(parents=True, exist_ok=True)
    plot_box_simulation(sims, figure)
    numbers = figure.with_suffix(".json")
    numbers.write_text(json.dumps(_as_json(sims), indent=1), encoding="utf-8")
    print(
        "left@t: total error after iteration t as a share of the initial error; disjoint "
        "unmoved: initially disjoint cases whose error did not change at all; inverted: "
        "cases whose box reached w <= 0 or h <= 0"
    )
    print(f"Figure: {figure.resolve()}")
    print(f"Numbers: {numbers.resolve()}")
    return 0
