"""Benchmark the probability losses against their peers, side by side in one process.

    .venv/bin/python benchmarks/bench_classification.py [--cases focal,bce,...] [--rounds 3]
        [--min-run-time 1.0] [--no-memory] [--markdown PATH]

Cases are the family's benchmark cases (``losskit.bench.classification``): focal loss on
(16, 80, 128, 128) float32 logits against torchvision's ``sigmoid_focal_loss`` and torch's
``binary_cross_entropy_with_logits`` (the issue's performance target), BCE, weighted and
balanced BCE against torch, softmax cross-entropy against torch, softmax focal loss against
MONAI; quality focal and varifocal loss on (16, 80, 128, 128) against BCE-with-logits (the
target: within 1.5x) and mmdetection's formulas in torch ops, Gaussian focal loss against
mmdetection's formula, distribution focal loss against ultralytics' formula (mmdetection and
ultralytics are not installed: their formulas are written with torch ops); asymmetric loss
(multi- and single-label) and Jensen-Shannon consistency against timm, Poly-1 cross-entropy
against the paper's formula, distillation against torch's ``kl_div``, LDAM and Seesaw against
the official and mmdetection formulas in torch ops.

Time: one forward + backward step, on one thread (``torch.set_num_threads(1)``), median of
``torch.utils.benchmark.Timer.blocked_autorange``; the implementations of a case are timed in
turn, ``--rounds`` times over, and each keeps the median of its rounds, so a neighbour's load
that comes and goes hits all of them alike. Ratios are peer / losskit (above 1: losskit is
faster or lighter).

Peak memory (CPU): each implementation runs in a fresh subprocess. After the inputs exist,
the process's peak resident set is reset to the current one (``/proc/self/clear_refs``,
Linux) and two steps run; the peak is the rise of ``VmHWM`` over the resident set before the
first step (on systems without ``clear_refs``: the rise of ``ru_maxrss``). glibc's mmap
threshold is fixed at 64 KiB (``MALLOC_MMAP_THRESHOLD_``) so that freed buffers leave the
resident set at once and the peak follows the live tensors. On CUDA: ``max_memory_allocated``
over one step after a warm-up step, minus the memory allocated before it.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
from statistics import median

import torch
from torch.utils import benchmark

from losskit.bench import BenchCase
from losskit.bench.classification import CASES as FAMILY_CASES

#: short name on the command line -> registry name of the loss
CASES = {
    "focal": "focal_loss",
    "bce": "bce_loss",
    "weighted": "weighted_bce_loss",
    "balanced": "balanced_bce_loss",
    "ce": "softmax_cross_entropy",
    "softmax_focal": "softmax_focal_loss",
    "quality": "quality_focal_loss",
    "varifocal": "varifocal_loss",
    "gaussian": "gaussian_focal_loss",
    "dfl": "distribution_focal_loss",
    "asl": "asymmetric_loss",
    "asl_single": "asymmetric_softmax_loss",
    "poly": "poly1_cross_entropy",
    "jsd": "jsd_cross_entropy",
    "kd": "distillation_loss",
    "ldam": "ldam_loss",
    "seesaw": "seesaw_loss",
}
#: dense-detection cases whose target (issue 15) is at most 1.5x BCE-with-logits
DENSE_TARGETS = ("quality", "varifocal")


def _case(name: str) -> BenchCase:
    """The first benchmark case of the loss ``name`` (its registry name)."""
    return FAMILY_CASES[name][0]


def _status(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def peak_worker(name: str, impl: str, device: str) -> float:
    """Run in a fresh process: bytes one step of ``impl`` adds on top of its inputs."""
    torch.set_num_threads(1)
    dev = torch.device(device)
    step = _case(name).setup(dev)[impl]
    if dev.type == "cuda":
        step()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return float(torch.cuda.max_memory_allocated() - before)
    before = _status("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current resident set
        step()
        step()
        return float(_status("VmHWM") - before)  # type: ignore[operator]
    except OSError:
        # no clear_refs: ru_maxrss (KiB on Linux) rise over the peak so far
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        step()
        step()
        return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024


def peak_in_subprocess(name: str, impl: str, device: str) -> float | None:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, __file__, "--peak-worker", name, impl, device]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        sys.stderr.write(f"memory worker failed for {name}/{impl}:\n{res.stderr[-800:]}\n")
        return None
    return float(res.stdout.strip().splitlines()[-1])


def time_case(steps: dict, *, rounds: int, min_run_time: float, device: str) -> dict[str, float]:
    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    timers = {}
    for name, step in steps.items():
        step()  # warm-up
        sync()
        timers[name] = benchmark.Timer(
            stmt="step(); sync()", globals={"step": step, "sync": sync}, num_threads=1
        )
    runs: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, timer in timers.items():
            runs[name].append(timer.blocked_autorange(min_run_time=min_run_time).median)
    return {name: median(v) for name, v in runs.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--cases", default=",".join(CASES), help=f"comma-separated, from {', '.join(CASES)}"
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--min-run-time", type=float, default=1.0, help="seconds per implementation and round"
    )
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument(
        "--peak-worker", nargs=3, metavar=("LOSS", "IMPL", "DEVICE"), help=argparse.SUPPRESS
    )
    a = ap.parse_args()
    if a.peak_worker:
        print(peak_worker(*a.peak_worker))
        return

    torch.set_num_threads(1)
    lines = [
        f"Device: {a.device}, 1 thread, torch {torch.__version__}. Time: forward + backward, median of "
        f"{a.rounds} interleaved rounds. Ratios are peer / losskit (above 1: losskit is faster or lighter).",
        "",
        "| loss | case | implementation | time (ms) | time ratio | peak (MB) | memory ratio |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    focal_result = None
    dense_results: dict[str, dict[str, float]] = {}
    for key in a.cases.split(","):
        if key not in CASES:
            ap.error(f"--cases: unknown {key!r}; choose from {', '.join(CASES)}")
        name = CASES[key]
        case = _case(name)
        print(f"{name}: {case.label} ...", file=sys.stderr, flush=True)
        steps = case.setup(torch.device(a.device))
        times = time_case(steps, rounds=a.rounds, min_run_time=a.min_run_time, device=a.device)
        del steps
        peaks = {n: (None if a.no_memory else peak_in_subprocess(name, n, a.device)) for n in times}
        t0, m0 = times["losskit"], peaks["losskit"]
        for n, t in times.items():
            m = peaks[n]
            lines.append(
                f"| {name} | {case.label} | {n} | {t * 1e3:.1f} | {t / t0:.2f} | "
                + ("-" if m is None else f"{m / 2**20:.0f}")
                + " | "
                + ("-" if (m is None or not m0) else f"{m / m0:.2f}")
                + " |"
            )
        if key == "focal":
            focal_result = (times, peaks)
        if key in DENSE_TARGETS:
            dense_results[name] = times
    table = "\n".join(lines) + "\n"
    print(table)
    if focal_result is not None:
        times, peaks = focal_result
        tv, bce, lk = times.get("torchvision"), times["torch BCE-with-logits"], times["losskit"]
        print("Focal targets (issue 3):")
        if tv is not None:
            print(
                f"  torchvision / losskit time  = {tv / lk:.2f}  (target >= 2)   {'met' if tv / lk >= 2 else 'NOT met'}"
            )
        print(
            f"  losskit / BCE-with-logits   = {lk / bce:.2f}  (target <= 1.5) {'met' if lk / bce <= 1.5 else 'NOT met'}"
        )
        if peaks.get("torchvision") and peaks.get("losskit"):
            r = peaks["losskit"] / peaks["torchvision"]
            print(
                f"  losskit / torchvision peak  = {r:.2f}  (target <= 0.5) {'met' if r <= 0.5 else 'NOT met'}"
            )
    if dense_results:
        print("Dense-detection targets (issue 15):")
    for name, times in dense_results.items():
        r = times["losskit"] / times["torch BCE-with-logits"]
        print(f"  {name} / BCE-with-logits = {r:.2f}  (target <= 1.5) "
              f"{'met' if r <= 1.5 else 'NOT met'}")  # fmt: skip
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(table)


if __name__ == "__main__":
    main()
