"""Embedding and constraint losses against their peers: forward+backward time and peak memory.

Run: ``.venv/bin/python benchmarks/bench_embedding.py [--quick] [--no-memory] [--rounds 3]
[--cases batch_triplet_loss,center_loss] [--skip B=4096] [--device cpu|cuda] [--markdown FILE]``

Method
------
* **Time**: every implementation of a case is timed side by side in this one process with
  ``torch.utils.benchmark.Timer`` on 1 thread (``blocked_autorange``, after a warm-up step).
  The implementations take turns for ``--rounds`` rounds and each keeps its best median, so
  a burst of load from a neighbour on a shared machine hits one round, not one
  implementation. The table reports that time and the ratio peer / losskit (> 1: losskit is
  faster). Ratios taken in one run are what to read; absolute times move with the machine.
* **Peak memory** (CPU): each implementation runs in a fresh subprocess (``--peak`` worker,
  ``MALLOC_MMAP_THRESHOLD_=65536`` so freed tensors leave the resident set). It first builds
  the case once and runs one step, then throws that copy away: code pages and lazy
  initialisation are then resident and do not count. It builds the case again, resets the
  process's resident-set high-water mark (``echo 5 > /proc/self/clear_refs``), runs two steps
  and reports the high-water mark (``VmHWM``, the counter behind ``ru_maxrss``) minus the
  resident set before the first step: what a training step touches beyond its inputs,
  gradients it leaves alive included (a dense ``(C, D)`` centre gradient counts). ``getrusage``'s own ``ru_maxrss`` cannot be reset and
  a child inherits the launching process's peak through ``exec`` (a 1.5 GB parent gives its
  child a 1.5 GB ``ru_maxrss`` before it allocates anything), so the worker reads the same
  counter from ``/proc`` after resetting it; where ``clear_refs`` is not writable it falls
  back to the ``ru_maxrss`` delta. On CUDA the peak is ``torch.cuda.max_memory_allocated``
  over two steps minus the memory allocated before them.

``--chunks`` runs instead the chunked losses' dense path (``losskit``) beside their chunked
path at several chunk sizes, at B = 512 (64, 128, 256) and B = 8192 (256, 1024), 4 samples
per identity, no peer: the ratio column is then chunked / dense time and memory.

``--big`` runs instead the issue's memory figure for the softmax pair losses: one forward and
backward step of SupCon and NT-Xent at B = 65,536, D = 128 (16,384 classes x 4) with
``chunk_size=256``, each in a fresh subprocess, reporting its time and the rise of its peak
resident set (the dense ``B x B`` float32 matrix alone would be 17 GB).

Cases: the ``CASES`` of ``losskit.bench.embedding`` and ``losskit.bench.constraint`` (the
cases ``losskit bench`` runs for these families), plus the issue's scaling checks: a
centre-loss step at 10,000 and 1,000,000 classes of 512 dimensions (its time must not grow
with the class count) and batch triplet losses at B = 4096 (pytorch-metric-learning's
all-triplets mask would hold 68.7 G entries there; it is not run).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable

import torch
from torch.utils import benchmark

from losskit.bench import BenchCase
from losskit.bench import constraint as constraint_cases
from losskit.bench import embedding as embedding_cases

QUICK_SKIP = ("C=1,000,000", "B=4096", "16 classes")


def _b4096(mining: str) -> BenchCase:
    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        from losskit import batch_triplet_loss

        g = torch.Generator().manual_seed(0)
        x = torch.randn(4096, 128, generator=g).to(device).requires_grad_(True)
        y = (torch.arange(4096) % 1024)[torch.randperm(4096, generator=g)].to(device)

        def step() -> None:
            x.grad = None
            batch_triplet_loss(x, y, margin=0.2, mining=mining, mean_over="active").backward()

        return {"losskit": step}

    return BenchCase(f"{mining}, B=4096, D=128, 1024 classes x 4 float32", setup)


def cases(chunks: bool = False) -> list[tuple[str, BenchCase]]:
    """Every case, in a fixed order (the ``--peak`` worker finds its case by index); with
    ``chunks``, the chunk-size cases instead."""
    if chunks:
        return [(name, case) for name, found in embedding_cases.CHUNK_CASES.items()
                for case in found]  # fmt: skip
    out = [
        (name, case)
        for family in (embedding_cases, constraint_cases)
        for name, found in family.CASES.items()
        for case in found
    ]
    out += [
        ("center_loss", constraint_cases.bench_center_step(10_000)),
        ("center_loss", constraint_cases.bench_center_step(1_000_000)),
    ]
    out += [("batch_triplet_loss", _b4096(m)) for m in ("all", "hard", "semihard")]
    return out


# --------------------------------------------------------------------------- memory worker


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_worker(index: int, impl: str, device: str, chunks: bool = False) -> float:
    torch.set_num_threads(1)
    dev = torch.device(device)
    case = cases(chunks)[index][1]
    warm = case.setup(dev)[impl]
    warm()  # code pages, kernels' lazy initialisation: not the step's memory
    del warm
    gc.collect()
    step = case.setup(dev)[impl]
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        step()
        torch.cuda.synchronize()
        return float(torch.cuda.max_memory_allocated() - before)
    before = _status("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM (ru_maxrss's counter) to the current resident set
        reset = True
    except OSError:
        reset = False
        before_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    step()
    step()
    if reset:
        return float(_status("VmHWM") - before)
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before_max)


def _peak(index: int, impl: str, device: str, chunks: bool = False) -> float | None:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "MALLOC_MMAP_THRESHOLD_": "65536"}
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--peak",
        str(index),
        impl,
        "--device",
        device,
    ] + (["--chunks"] if chunks else [])
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        sys.stderr.write(f"peak worker failed for case {index} / {impl}: {res.stderr[-400:]}\n")
        return None
    return float(res.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- timing


def _time(
    steps: dict[str, Callable[[], None]], min_run_time: float, rounds: int, cuda: bool
) -> dict[str, float]:
    best: dict[str, float] = {}
    for step in steps.values():
        step()  # warm-up
    for _ in range(rounds):
        for name, step in steps.items():
            if cuda:
                torch.cuda.synchronize()
            t = benchmark.Timer("step()", globals={"step": step}, num_threads=1)
            m = t.blocked_autorange(min_run_time=min_run_time).median
            best[name] = min(best.get(name, float("inf")), m)
    return best


BIG_B, BIG_D, BIG_CHUNK = 65_536, 128, 256


def big_worker(name: str) -> str:
    """One step of ``name`` at B = 65,536 (chunked): ``"<seconds> <peak bytes>"``."""
    import time

    import losskit

    torch.set_num_threads(1)
    fn = getattr(losskit, name)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(BIG_B, BIG_D, generator=g).requires_grad_()
    y = (torch.arange(BIG_B) % (BIG_B // 4))[torch.randperm(BIG_B, generator=g)]
    gc.collect()
    before = _status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    t = time.perf_counter()
    fn(x, y, chunk_size=BIG_CHUNK).backward()
    return f"{time.perf_counter() - t} {_status('VmHWM') - before}"


def big() -> None:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "MALLOC_MMAP_THRESHOLD_": "65536"}
    print(f"B={BIG_B}, D={BIG_D}, chunk_size={BIG_CHUNK}, 1 thread, torch {torch.__version__}")
    print("| loss | time (s) | peak above inputs (MB) |\n|---|---:|---:|")
    for name in ("supcon_loss", "nt_xent_loss"):
        cmd = [sys.executable, os.path.abspath(__file__), "--big-worker", name]
        res = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if res.returncode != 0:
            print(f"| {name} | failed: {res.stderr[-300:]} | |")
            continue
        secs, peak = res.stdout.split()
        print(f"| {name} | {float(secs):.0f} | {float(peak) / 2**20:.0f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--quick", action="store_true", help="skip the 1M-class, B=4096 and 16-class cases"
    )
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--min-run-time", type=float, default=0.5)
    ap.add_argument("--cases", default="", help="comma-separated loss names")
    ap.add_argument(
        "--skip", default="", help="comma-separated label fragments to leave out (e.g. B=4096)"
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--markdown", default="", help="also write the table here")
    ap.add_argument("--json", default="")
    ap.add_argument("--peak", nargs=2, metavar=("INDEX", "IMPL"), help=argparse.SUPPRESS)
    ap.add_argument("--big", action="store_true", help="SupCon and NT-Xent at B=65,536 only")
    ap.add_argument("--big-worker", help=argparse.SUPPRESS)
    ap.add_argument(
        "--chunks", action="store_true",
        help="the chunked losses' dense path against chunk sizes at B=512 and B=8192 only",
    )  # fmt: skip
    args = ap.parse_args()
    if args.big_worker:
        print(big_worker(args.big_worker))
        return
    if args.big:
        big()
        return
    if args.peak:
        print(peak_worker(int(args.peak[0]), args.peak[1], args.device, args.chunks))
        return

    torch.set_num_threads(1)
    dev = torch.device(args.device)
    names = {n for n in args.cases.split(",") if n}
    rows = []
    for index, (name, case) in enumerate(cases(args.chunks)):
        if names and name not in names:
            continue
        if args.quick and any(s in case.label for s in QUICK_SKIP):
            continue
        if any(s and s in case.label for s in args.skip.split(",")):
            continue
        print(f"{name}: {case.label} ...", file=sys.stderr, flush=True)
        steps = case.setup(dev)
        times = _time(steps, args.min_run_time, args.rounds, dev.type == "cuda")
        del steps
        gc.collect()
        peaks = {
            impl: (None if args.no_memory else _peak(index, impl, args.device, args.chunks))
            for impl in times
        }
        for impl, t in times.items():
            m, m0 = peaks[impl], peaks["losskit"]
            rows.append(
                {
                    "loss": name,
                    "case": case.label,
                    "impl": impl,
                    "time_ms": t * 1e3,
                    "time_ratio": t / times["losskit"],
                    "peak_mb": None if m is None else m / 2**20,
                    "mem_ratio": None if (m is None or not m0) else m / m0,
                }
            )

    def fmt(x: float | None, spec: str) -> str:
        return "-" if x is None else format(x, spec)

    lines = [
        f"Device: {args.device}, 1 thread, torch {torch.__version__}; best of {args.rounds} rounds. "
        "Ratios are peer / losskit (above 1: losskit is faster or lighter).",
        "",
        "| loss | case | implementation | time (ms) | time ratio | peak (MB) | memory ratio |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['loss']} | {r['case']} | {r['impl']} | {r['time_ms']:.2f} | {r['time_ratio']:.2f} | "
            f"{fmt(r['peak_mb'], '.1f')} | {fmt(r['mem_ratio'], '.2f')} |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
