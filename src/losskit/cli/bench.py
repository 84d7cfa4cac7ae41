"""``losskit bench``: every registry benchmark case, losskit against each peer, in one process.

Time: forward + backward of one step, median of ``torch.utils.benchmark.Timer``'s
``blocked_autorange``, the implementations interleaved over three rounds (one thread by default: on a shared 2-core machine two threads run up to
35x slower whenever a neighbour holds a core, while one-thread medians hold to about 15 %).

Peak memory: each implementation runs in a fresh subprocess (so allocator state and other
implementations do not leak into it). On CUDA it is ``max_memory_allocated`` minus the memory
allocated before the step (after one warm-up step); on CPU it is the rise of the process's
peak resident set (VmHWM, reset through ``/proc/self/clear_refs``) over two steps above the
resident set before the first, with glibc's mmap threshold fixed at 64 KiB so that freed buffers leave the
resident set at once. Both measure what the step adds on top of its inputs.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..bench import BenchCase, cases
from ..registry import REGISTRY, LossSpec


@dataclass
class BenchRow:
    loss: str
    family: str
    case: str
    impl: str
    time_ms: float
    peak_mb: float | None
    time_ratio: float  # impl time / losskit time (> 1: losskit is faster)
    mem_ratio: float | None  # impl peak / losskit peak (> 1: losskit uses less)


def _vm(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure_peak(spec_name: str, case_index: int, impl: str, device: str, threads: int) -> float:
    """Peak memory (bytes) one step of ``impl`` adds on top of its inputs (see module doc)."""
    torch.set_num_threads(threads)
    dev = torch.device(device)
    steps = cases()[spec_name][case_index].setup(dev)
    step = steps[impl]
    if dev.type == "cuda":
        step()  # warm-up: lazy initialisation is not the loss's memory
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return float(torch.cuda.max_memory_allocated() - before)
    # On CPU the baseline is taken before any step, so gradients a step keeps alive count.
    before = _vm("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current resident set
    step()
    step()
    return float(_vm("VmHWM") - before)


def _peak_in_subprocess(
    spec_name: str, case_index: int, impl: str, device: str, threads: int
) -> float | None:
    cmd = [
        sys.executable,
        "-m",
        "losskit.cli.bench",
        "--peak",
        spec_name,
        str(case_index),
        impl,
        device,
        str(threads),
    ]
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        # A fixed mmap threshold turns off glibc's dynamic one, so every buffer of 64 KiB or
        # more is mapped on allocation and unmapped on free: the resident set then follows
        # the live tensors instead of whatever the heap kept from the warm-up step.
        "MALLOC_MMAP_THRESHOLD_": "65536",
    }
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        sys.stderr.write(f"peak-memory worker failed for {spec_name}/{impl}: {res.stderr[-500:]}\n")
        return None
    return float(res.stdout.strip().splitlines()[-1])


def time_steps(steps: dict, min_run_time: float, rounds: int = 3) -> dict[str, float]:
    """Median seconds per step of each implementation.

    The implementations are timed in turn, ``rounds`` times over, and each one's result is
    the median of its rounds: a neighbour's load that comes and goes then hits every
    implementation alike instead of whichever happened to run at that moment.
    """
    from statistics import median

    from torch.utils import benchmark

    timers = {}
    for name, step in steps.items():
        step()  # warm-up
        timers[name] = benchmark.Timer(stmt="step()", globals={"step": step})
    results: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, timer in timers.items():
            results[name].append(timer.blocked_autorange(min_run_time=min_run_time / rounds).median)
    return {name: median(v) for name, v in results.items()}


def bench_spec(
    spec: LossSpec, found: tuple[BenchCase, ...], *, device: str, threads: int, memory: bool,
    min_run_time: float,
) -> list[BenchRow]:  # fmt: skip
    torch.set_num_threads(threads)
    rows: list[BenchRow] = []
    for ci, case in enumerate(found):
        try:
            steps = case.setup(torch.device(device))
        except ModuleNotFoundError as e:  # a peer that is not installed: say so, go on
            print(
                f"losskit bench: skipping {spec.name} ({case.label}): its peer {e.name!r} is "
                "not installed (pip install 'losskit[bench]')",
                file=sys.stderr,
                flush=True,
            )
            continue
        if "losskit" not in steps:
            raise ValueError(
                f"losskit bench: case {case.label!r} of {spec.name} has no 'losskit' step"
            )
        times = time_steps(steps, min_run_time)
        if device == "cuda":
            torch.cuda.synchronize()
        del steps
        peaks = {
            name: (_peak_in_subprocess(spec.name, ci, name, device, threads) if memory else None)
            for name in times
        }
        lk_t, lk_m = times["losskit"], peaks["losskit"]
        for name in times:
            m = peaks[name]
            rows.append(
                BenchRow(
                    loss=spec.name,
                    family=spec.family,
                    case=case.label,
                    impl=name,
                    time_ms=times[name] * 1e3,
                    peak_mb=None if m is None else m / 2**20,
                    time_ratio=times[name] / lk_t,
                    mem_ratio=None if (m is None or not lk_m) else m / lk_m,
                )
            )
    return rows


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def markdown_table(rows: list[BenchRow], device: str, threads: int) -> str:
    lines = [
        f"Device: {device}, threads: {threads}, torch {torch.__version__}. "
        "Ratios are peer / losskit (above 1: losskit is faster or lighter).",
        "",
        "| loss | case | implementation | time (ms) | time ratio | peak (MB) | memory ratio |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.loss} | {r.case} | {r.impl} | {r.time_ms:.2f} | {r.time_ratio:.2f} | "
            f"{_fmt(r.peak_mb, '.1f')} | {_fmt(r.mem_ratio, '.2f')} |"
        )
    return "\n".join(lines) + "\n"


def _progress(total: int):
    """``(update(description, done), context)``: a rich progress bar on stderr when rich is
    installed, else one line per step."""
    try:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    except ImportError:  # pragma: no cover - rich is in the demo and bench extras

        def plain(desc: str, done: int) -> None:
            print(f"[{done}/{total}] {desc}", file=sys.stderr, flush=True)

        return plain, None
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   console=Console(stderr=True), transient=False)  # fmt: skip
    task = bar.add_task("bench", total=max(total, 1))

    def update(desc: str, done: int) -> None:
        bar.update(task, description=desc, completed=done)

    return update, bar


def run(
    *,
    family: str | None = None,
    names: list[str] | None = None,
    device: str = "cpu",
    threads: int = 1,
    memory: bool = True,
    min_run_time: float = 0.5,
    markdown: str | None = None,
    json_out: str | None = None,
) -> list[BenchRow]:
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("losskit bench: --device cuda requested but CUDA is not available")
    table_of_cases = cases()
    wanted = {REGISTRY.resolve(n).name for n in names} if names else None  # KeyError: unknown
    specs = [
        s
        for s in REGISTRY.specs(family)
        if s.name in table_of_cases and (wanted is None or s.name in wanted)
    ]
    rows: list[BenchRow] = []
    update, bar = _progress(len(specs))
    with bar if bar is not None else contextlib.nullcontext():
        for i, spec in enumerate(specs):
            update(f"benchmarking {spec.name}", i)
            rows.extend(
                bench_spec(
                    spec,
                    table_of_cases[spec.name],
                    device=device,
                    threads=threads,
                    memory=memory,
                    min_run_time=min_run_time,
                )  # fmt: skip
            )
        update("done", len(specs))
    table = markdown_table(rows, device, threads)
    print(table)
    for path, text in (
        (markdown, table),
        (json_out, json.dumps([asdict(r) for r in rows], indent=1)),
    ):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text)
    return rows


if __name__ == "__main__":  # the peak-memory worker
    if len(sys.argv) == 7 and sys.argv[1] == "--peak":
        _, _, name, idx, impl, dev, thr = sys.argv
        print(measure_peak(name, int(idx), impl, dev, int(thr)))
    else:
        raise SystemExit("usage: python -m losskit.cli.bench --peak NAME CASE IMPL DEVICE THREADS")
