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

Compiled (``--compile``): each implementation's whole step (forward and backward) also runs
under ``torch.compile`` (inductor, static shapes), timed interleaved with the eager steps. Per
implementation: the graph breaks ``torch._dynamo.explain`` finds (the ``Tensor.backward()``
call that ends every step is not counted: every implementation has it), and the compile time
(the first compiled step, less the second). A compiled row's time ratio is against
compiled losskit; its "vs losskit eager" ratio is against eager losskit (above 1: eager
losskit beats the compiled implementation). Peak memory is measured eager only.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
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
    compiled: bool = False  # the step under torch.compile (time_ratio: vs compiled losskit)
    graph_breaks: int | None = None  # compiled rows: graph breaks besides the backward call
    compile_s: float | None = None  # compiled rows: the first compiled step less the second
    eager_ratio: float | None = None  # compiled rows: impl time / eager losskit time


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


def _graph_breaks(step: Callable[[], None]) -> int:
    """Graph breaks of ``step`` under ``torch.compile``, the ``Tensor.backward()`` call that
    ends every benchmark step left out."""
    import torch._dynamo

    torch._dynamo.reset()
    found = torch._dynamo.explain(step)()
    torch._dynamo.reset()
    return sum("Tensor.backward" not in str(r.reason) for r in found.break_reasons)


def compile_steps(
    steps: dict[str, Callable[[], None]], device: str, label: str
) -> tuple[dict[str, Callable[[], None]], dict[str, tuple[int, float]]]:
    """Each step under ``torch.compile``: ``({name: compiled step}, {name: (graph breaks,
    compile seconds)})``. An implementation that fails to compile is left out with a message
    (losskit's failure leaves the case without compiled rows)."""
    import warnings

    with warnings.catch_warnings():
        # peers' steps under the tracer repeat their own warnings: not the benchmark's output
        warnings.simplefilter("ignore")
        return _compile_each(steps, device, label)


def _cannot_compile(label: str, name: str, e: Exception) -> None:
    first = (str(e).splitlines() or [""])[0][:200]
    print(f"losskit bench: {label}: {name} does not compile ({type(e).__name__}: {first})",
          file=sys.stderr, flush=True)  # fmt: skip


def _compile_each(
    steps: dict[str, Callable[[], None]], device: str, label: str
) -> tuple[dict[str, Callable[[], None]], dict[str, tuple[int, float]]]:
    import time

    import torch._dynamo

    breaks: dict[str, int] = {}
    for name, step in steps.items():
        try:
            breaks[name] = _graph_breaks(step)
        except Exception as e:  # a peer the compiler cannot trace: say so, go on
            _cannot_compile(label, name, e)
    # the steps of one family often share one code object (one closure per implementation):
    # a fresh cache per case keeps them under dynamo's recompilation limit
    torch._dynamo.reset()
    compiled: dict[str, Callable[[], None]] = {}
    info: dict[str, tuple[int, float]] = {}
    for name in breaks:
        step = steps[name]
        fn = torch.compile(step)
        try:
            t0 = time.perf_counter()
            fn()
            if device == "cuda":
                torch.cuda.synchronize()
            first = time.perf_counter() - t0
        except Exception as e:
            _cannot_compile(label, name, e)
            continue
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        compiled[name] = fn
        info[name] = (breaks[name], max(first - (time.perf_counter() - t0), 0.0))
    return compiled, info


def bench_spec(
    spec: LossSpec, found: tuple[BenchCase, ...], *, device: str, threads: int, memory: bool,
    min_run_time: float, compile: bool = False,
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
        compiled: dict[str, Callable[[], None]] = {}
        info: dict[str, tuple[int, float]] = {}
        if compile:
            compiled, info = compile_steps(steps, device, f"{spec.name} ({case.label})")
            if "losskit" not in compiled:
                compiled, info = {}, {}
        everything = {**steps, **{_COMPILED + name: fn for name, fn in compiled.items()}}
        all_times = time_steps(everything, min_run_time)
        times = {name: all_times[name] for name in steps}
        if device == "cuda":
            torch.cuda.synchronize()
        del steps, everything, compiled
        peaks = {
            name: (_peak_in_subprocess(spec.name, ci, name, device, threads) if memory else None)
            for name in times
        }
        lk_t, lk_m = times["losskit"], peaks["losskit"]
        row = partial(BenchRow, loss=spec.name, family=spec.family, case=case.label)
        for name in times:
            m = peaks[name]
            rows.append(row(
                impl=name, time_ms=times[name] * 1e3, peak_mb=None if m is None else m / 2**20,
                time_ratio=times[name] / lk_t,
                mem_ratio=None if (m is None or not lk_m) else m / lk_m,
            ))  # fmt: skip
        for name, (n_breaks, seconds) in info.items():
            t = all_times[_COMPILED + name]
            rows.append(row(
                impl=name, time_ms=t * 1e3, peak_mb=None,
                time_ratio=t / all_times[_COMPILED + "losskit"], mem_ratio=None, compiled=True,
                graph_breaks=n_breaks, compile_s=seconds, eager_ratio=t / lk_t,
            ))  # fmt: skip
    return rows


#: the timing key of an implementation's compiled step
_COMPILED = "compiled: "


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
        if r.compiled:
            continue
        lines.append(
            f"| {r.loss} | {r.case} | {r.impl} | {r.time_ms:.2f} | {r.time_ratio:.2f} | "
            f"{_fmt(r.peak_mb, '.1f')} | {_fmt(r.mem_ratio, '.2f')} |"
        )
    compiled = [r for r in rows if r.compiled]
    if compiled:
        lines += [
            "",
            "Compiled (`torch.compile`, inductor): time ratio = implementation / compiled "
            "losskit; vs losskit eager = implementation / eager losskit (above 1: eager "
            "losskit is faster); graph breaks besides the step's `backward()` call; compile "
            "time = the first compiled step less the second.",
            "",
            "| loss | case | implementation | compiled time (ms) | time ratio | vs losskit eager "
            "| graph breaks | compile (s) |",
            "|---|---|---|---:|---:|---:|---:|---:|",
        ]
        for r in compiled:
            lines.append(
                f"| {r.loss} | {r.case} | {r.impl} | {r.time_ms:.2f} | {r.time_ratio:.2f} | "
                f"{_fmt(r.eager_ratio, '.2f')} | {r.graph_breaks} | {_fmt(r.compile_s, '.1f')} |"
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
    compile: bool = False,
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
                    compile=compile,
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
