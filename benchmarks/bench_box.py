"""Box and mask overlap losses against their peers: forward+backward time and peak memory.

Run: ``.venv/bin/python benchmarks/bench_box.py [--quick] [--no-memory] [--cases giou_loss,...]``

Method
------
* **Time**: the implementations of a case take turns in this one process on 1 thread
  (``losskit bench``'s ``time_steps``: after a warm-up step each, three rounds of
  ``torch.utils.benchmark.Timer.blocked_autorange``, every implementation once per round);
  the table reports each one's median over the rounds and the ratio peer / losskit (> 1:
  losskit is faster).
  Timings on a shared machine are noisy; the ratios, taken in one run, are what to read.
* **Peak memory** (CPU): each implementation runs in a fresh subprocess that builds the
  inputs and runs one warm-up step (which also allocates ``.grad``); it then resets the
  kernel's resident-set high-water mark (after ``malloc_trim``, with glibc's
  ``MALLOC_MMAP_THRESHOLD_=65536`` so that freed tensors leave the resident set) (``VmHWM``, the counter ``ru_maxrss`` reports;
  ``echo 5 > /proc/self/clear_refs``), runs one step and reports ``VmHWM`` minus the
  resident set before the step: the extra memory one forward+backward pass touches beyond
  its inputs. Where ``clear_refs`` is not writable it falls back to the ``ru_maxrss``
  delta. On CUDA it is ``torch.cuda.max_memory_allocated`` minus the memory allocated
  before the step.

The cases are the ``BenchCase`` entries of the ``box`` and ``overlap`` families
(``losskit.bench.box`` and ``losskit.bench.overlap``).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import subprocess
import sys

import torch


def _cases(names: list[str] | None):
    """``[(loss name, BenchCase)]`` of the box and overlap families, optionally only ``names``."""
    from losskit.bench import box, overlap

    out = []
    for family in (box, overlap):
        for name, found in family.CASES.items():
            if names and name not in names:
                continue
            for case in found:
                out.append((name, case))
    return out


def _time(steps: dict, min_run_time: float) -> dict[str, float]:
    """Median seconds per step of each implementation, the implementations taking turns
    (``losskit bench``'s ``time_steps``: three rounds, each one's median of its rounds)."""
    from losskit.cli.bench import time_steps

    torch.set_num_threads(1)
    return time_steps(steps, min_run_time)


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def _child(spec_name: str, index: str, impl: str, device: str) -> None:
    """Measure one implementation's peak memory on case ``index`` of ``spec_name`` (run in
    a fresh process)."""
    torch.set_num_threads(1)
    dev = torch.device(device)
    case = [c for _, c in _cases([spec_name])][int(index)]
    step = case.setup(dev)[impl]
    step()  # warm-up: lazy initialisation, the first .grad
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
    else:
        # reset the resident-set high-water mark (VmHWM, what ru_maxrss reports) so that
        # the input construction does not mask the step's peak; fall back to ru_maxrss
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed heap pages back first
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            base = _rss_kib("VmRSS")
            step()
            peak = (_rss_kib("VmHWM") - base) * 1024
        except OSError:
            base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            step()
            peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024
    print(json.dumps({"peak_bytes": peak}))


def _memory(spec_name: str, index: int, impl: str, device: str) -> float | None:
    # every allocation of 64 KiB or more is its own mapping, returned to the OS when freed,
    # so the resident set follows the live tensors (glibc otherwise keeps freed blocks)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "65536"}
    res = subprocess.run(
        [sys.executable, __file__, "--child", spec_name, str(index), impl, device],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    for line in res.stdout.splitlines()[::-1]:
        if line.startswith("{"):
            return json.loads(line)["peak_bytes"] / 2**20
    sys.stderr.write(res.stderr[-2000:])
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="shorter timing runs")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument("--cases", default="", help="comma-separated loss names, e.g. giou_loss")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(*args.child)
        return 0
    names = [n for n in args.cases.split(",") if n] or None
    known = {name for name, _ in _cases(None)}
    unknown = sorted(set(names or ()) - known)
    if unknown:
        ap.error(f"--cases: unknown {', '.join(unknown)}; choose from {', '.join(sorted(known))}")
    dev = torch.device(args.device)
    print(
        f"torch {torch.__version__}, device {dev}, 1 thread; ratio = peer / losskit (> 1: losskit faster)"
    )
    header = f"| {'loss':<14} | {'case':<46} | {'implementation':<12} | {'time (ms)':>9} | {'ratio':>6} | {'peak MB':>8} | {'mem ratio':>9} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    index: dict[str, int] = {}  # each case's position among its loss's cases
    for spec_name, case in _cases(names):
        i = index[spec_name] = index.get(spec_name, -1) + 1
        steps = case.setup(dev)
        times = _time(steps, 0.5 if args.quick else 2.0)
        mems = {
            k: (None if args.no_memory else _memory(spec_name, i, k, args.device)) for k in steps
        }
        base_t, base_m = times["losskit"], mems["losskit"]
        for impl, t in times.items():
            m = mems[impl]
            ratio = f"{t / base_t:6.2f}"
            mem = "-" if m is None else f"{m:8.1f}"
            mratio = "-" if (m is None or not base_m) else f"{m / base_m:9.2f}"
            print(
                f"| {spec_name:<14} | {case.label:<46} | {impl:<12} | {t * 1e3:9.1f} | {ratio} | {mem:>8} | {mratio:>9} |"
            )
        del steps
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
