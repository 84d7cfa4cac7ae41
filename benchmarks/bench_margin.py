"""Benchmark the angular-margin family against pytorch-metric-learning, and its chunked path
against its dense one, side by side in one process.

    .venv/bin/python benchmarks/bench_margin.py [--classes 10000,100000] [--million]
        [--chunk-size 1024] [--rounds 3] [--min-run-time 1.0] [--no-memory] [--markdown PATH]

Cases, all at B = 256, D = 512, float32, CPU, one thread (the issue's setting):

* ArcFace and CosFace at each ``--classes``: losskit (dense, then ``chunk_size``) against
  pytorch-metric-learning's ``ArcFaceLoss`` / ``CosFaceLoss`` on the same class centres;
* L-Softmax at 10,000 classes against ``LargeMarginSoftmaxLoss``, with PML's default
  ``N(0, 1)`` initialisation of the centres, whose huge logits make most probabilities
  subnormal;
* ``--million``: ArcFace at C = 1,000,000, losskit dense against chunked (PML is not run:
  it needs several copies of the 2 GB centres).
* ``--face``: instead, the heads after ArcFace (CurricularFace, AdaFace, MagFace,
  ElasticFace-Arc+ and -Cos, UniFace, the combined margin with inter-class filtering) beside
  losskit's ArcFace on the same input, dense and chunked, at each ``--classes``; with
  ``--million`` also each head chunked at C = 1,000,000 beside ArcFace chunked. The ratios
  of the table are then head / ArcFace dense; the verdicts compare each mode with ArcFace's
  same mode (target: 1.15 in time and peak memory).

Time: one forward + backward step (gradients of the features and the centres), with
``torch.utils.benchmark.Timer`` on one thread, median of ``blocked_autorange``; the
implementations of a case are timed in turn, ``--rounds`` times over, and each keeps the
median of its rounds, so a neighbour's load that comes and goes hits all of them alike.
Ratios are peer / losskit: above 1, losskit is faster or lighter.

Peak memory: each implementation runs in a fresh subprocess: after a warm-up step at
C = 1,000 (which loads the libraries) the inputs are built, the process's peak resident set
is reset to the current one (``/proc/self/clear_refs``; elsewhere the rise of ``ru_maxrss``
is used) and one step runs; the peak is the rise of ``VmHWM`` over the resident set before
the step. It therefore counts everything the step allocates, the centres' gradient
(``C x D x 4`` bytes) included, and not the inputs and centres themselves. glibc's mmap
threshold is fixed at 64 KiB (``MALLOC_MMAP_THRESHOLD_``) so that freed buffers leave the
resident set at once and the peak follows the live tensors. "beyond W and grad" subtracts the
gradient.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from statistics import median

import torch
from torch.utils import benchmark

import losskit.functional as F

B, D = 256, 512
DTYPE = torch.float32


_CACHE: dict[tuple[int, float], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}


def _inputs(c: int, *, centers_std: float = 0.05, seed: int = 0):
    """The same embeddings, labels and class centres for every implementation of a case (built
    once: at C = 1,000,000 a second 2 GB copy of the centres would only add memory pressure)."""
    key = (c, centers_std)
    if key not in _CACHE:
        _CACHE.clear()
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(B, D, generator=g, dtype=DTYPE).requires_grad_(True)
        y = torch.randint(0, c, (B,), generator=g)
        centers = torch.randn(c, D, generator=g, dtype=DTYPE).mul_(centers_std)
        _CACHE[key] = (x, y, centers.requires_grad_(True))
    return _CACHE[key]


def _losskit(fn: Callable, kw: dict, chunk: int | None, centers_std: float = 0.05):
    def make(c: int) -> Callable[[], None]:
        x, y, centers = _inputs(c, centers_std=centers_std)

        def step() -> None:
            x.grad = centers.grad = None
            fn(x, y, centers, chunk_size=chunk, **kw).backward()

        return step

    return make


def _pml(cls_name: str, kw: dict, centers_std: float = 0.05):
    def make(c: int) -> Callable[[], None]:
        from pytorch_metric_learning import losses

        x, y, centers = _inputs(c, centers_std=centers_std)
        peer = getattr(losses, cls_name)(num_classes=c, embedding_size=D, **kw)
        with torch.no_grad():
            peer.W.copy_(centers.T)  # the same centres (PML stores them as W, (D, C))

        def step() -> None:
            x.grad = peer.W.grad = None
            peer(x, y).backward()

        return step

    return make


def _state(name: str, c: int) -> tuple[torch.Tensor, ...]:
    """The running estimates / learned threshold a face head takes after its centres."""
    if name == "CurricularFace":
        return (torch.tensor(0.3),)
    if name == "AdaFace":
        return (torch.tensor(20.0), torch.tensor(5.0))
    if name == "UniFace":
        return (torch.tensor(math.log(10.0 * c)),)
    return ()


#: the heads after ArcFace, each timed against losskit's ArcFace on the same input
FACE = {
    "CurricularFace": (F.curricularface_loss, {"margin": 0.5, "scale": 64.0}),
    "AdaFace": (F.adaface_loss, {"margin": 0.4, "scale": 64.0}),
    "MagFace": (F.magface_loss, {"scale": 64.0}),
    "ElasticFace-Arc": (F.elastic_arcface_loss, {"margin": 0.5, "scale": 64.0, "plus": True}),
    "ElasticFace-Cos": (F.elastic_cosface_loss, {"cos_margin": 0.35, "scale": 64.0}),
    "UniFace": (F.uniface_loss, {"cos_margin": 0.4, "scale": 64.0}),
    "Combined + filtering": (
        F.combined_margin_loss,
        {"margin": 0.3, "cos_margin": 0.2, "scale": 64.0, "interclass_filtering_threshold": 0.3},
    ),
}


def _face(name: str, chunk: int | None) -> Callable:
    fn, kw = FACE[name]

    def make(c: int) -> Callable[[], None]:
        x, y, centers = _inputs(c)
        state = _state(name, c)
        extra = {"generator": torch.Generator().manual_seed(0)} if "Elastic" in name else {}

        def step() -> None:
            x.grad = centers.grad = None
            fn(x, y, centers, *state, chunk_size=chunk, **kw, **extra).backward()

        return step

    return make


def face_cases(chunk: int) -> dict[str, tuple[list[int], dict[str, Callable]]]:
    """``face: <head>`` at the ``--classes`` (dense and chunked, beside ArcFace's) and
    ``face 1M: <head>`` (chunked only, beside ArcFace's)."""
    arc = {"margin": 0.5, "scale": 64.0}
    out: dict[str, tuple[list[int], dict[str, Callable]]] = {}
    for name in FACE:
        out[f"face: {name}"] = (
            [],
            {
                "losskit": _losskit(F.arcface_loss, arc, None),
                name: _face(name, None),
                f"losskit chunk_size={chunk}": _losskit(F.arcface_loss, arc, chunk),
                f"{name} chunk_size={chunk}": _face(name, chunk),
            },
        )
        out[f"face 1M: {name}"] = (
            [1_000_000],
            {
                "losskit": _losskit(F.arcface_loss, arc, chunk),
                f"{name} chunk_size={chunk}": _face(name, chunk),
            },
        )
    return out


def cases(chunk: int) -> dict[str, tuple[list[int], dict[str, Callable]]]:
    """case name -> (class counts it runs at, {implementation: maker(C) -> step})."""
    arc = {"margin": 0.5, "scale": 64.0}
    cos = {"cos_margin": 0.35, "scale": 64.0}
    return {
        "ArcFace": (
            [],
            {
                "losskit": _losskit(F.arcface_loss, arc, None),
                f"losskit chunk_size={chunk}": _losskit(F.arcface_loss, arc, chunk),
                "PML ArcFaceLoss": _pml("ArcFaceLoss", {"margin": math.degrees(0.5), "scale": 64}),
            },
        ),
        "CosFace": (
            [],
            {
                "losskit": _losskit(F.cosface_loss, cos, None),
                f"losskit chunk_size={chunk}": _losskit(F.cosface_loss, cos, chunk),
                "PML CosFaceLoss": _pml("CosFaceLoss", {"margin": 0.35, "scale": 64}),
            },
        ),
        "L-Softmax": (
            [10_000],
            {
                "losskit": _losskit(F.lsoftmax_loss, {"m": 4}, None, centers_std=1.0),
                "PML LargeMarginSoftmaxLoss": _pml(
                    "LargeMarginSoftmaxLoss", {"margin": 4}, centers_std=1.0
                ),
            },
        ),
        "ArcFace 1M": (
            [1_000_000],
            {
                "losskit": _losskit(F.arcface_loss, arc, None),
                f"losskit chunk_size={chunk}": _losskit(F.arcface_loss, arc, chunk),
            },
        ),
        **face_cases(chunk),
    }


# --------------------------------------------------------------------------- memory


def _status(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def peak_worker(case: str, impl: str, c: int, chunk: int) -> float:
    """Run in a fresh process: the bytes one step of ``impl`` adds on top of its inputs."""
    torch.set_num_threads(1)
    makers = cases(chunk)[case][1]
    makers[impl](1_000)()  # warm-up: load the libraries at a small size
    step = makers[impl](c)
    before = _status("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current resident set
        step()
        return float(_status("VmHWM") - before)  # type: ignore[operator]
    except OSError:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        step()
        return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024


def peak_in_subprocess(case: str, impl: str, c: int, chunk: int) -> float | None:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, __file__, "--peak-worker", case, impl, str(c), str(chunk)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        sys.stderr.write(f"memory worker failed for {case}/{impl}/{c}:\n{res.stderr[-800:]}\n")
        return None
    return float(res.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- time


def time_impls(
    steps: dict[str, Callable[[], None]], *, rounds: int, min_run_time: float
) -> dict[str, float]:
    timers = {}
    for name, step in steps.items():
        step()  # warm-up
        timers[name] = benchmark.Timer(stmt="step()", globals={"step": step}, num_threads=1)
    runs: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, timer in timers.items():
            runs[name].append(timer.blocked_autorange(min_run_time=min_run_time).median)
    return {name: median(v) for name, v in runs.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--classes", default="10000,100000", help="comma-separated class counts for ArcFace/CosFace"
    )
    ap.add_argument(
        "--million",
        action="store_true",
        help="also run ArcFace at C = 1,000,000 (dense vs chunked)",
    )
    ap.add_argument("--only", default="", help="comma-separated case names to run (default: all)")
    ap.add_argument(
        "--face",
        action="store_true",
        help="the heads after ArcFace (CurricularFace, AdaFace, MagFace, ElasticFace, UniFace, "
        "inter-class filtering) beside losskit's ArcFace instead of the peer cases; with "
        "--million also their chunked runs at C = 1,000,000",
    )
    ap.add_argument("--chunk-size", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--min-run-time", type=float, default=1.0, help="seconds per implementation and round"
    )
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument(
        "--peak-worker", nargs=4, metavar=("CASE", "IMPL", "C", "CHUNK"), help=argparse.SUPPRESS
    )
    a = ap.parse_args()
    if a.peak_worker:
        case, impl, c, chunk = a.peak_worker
        print(peak_worker(case, impl, int(c), int(chunk)))
        return

    torch.set_num_threads(1)
    classes = [int(c) for c in a.classes.split(",") if c]
    only = {s.strip() for s in a.only.split(",") if s.strip()}
    lines = [
        f"CPU, 1 thread, torch {torch.__version__}, B = {B}, D = {D}, float32, forward + backward. "
        f"Time: median of {a.rounds} interleaved rounds. Peak: what one step adds to the process's "
        "resident set (the weight's gradient included). Ratios are peer / losskit "
        "(above 1: losskit is faster or lighter).",
        "",
        "| loss | C | implementation | time (s) | time ratio | peak (MB) | peak beyond W grad (MB) | memory ratio |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    verdicts: list[str] = []
    for case, (sizes, makers) in cases(a.chunk_size).items():
        if only and case not in only:
            continue
        run_at = sizes or classes
        if case.startswith("face") != a.face:
            continue
        if case.endswith("1M") or case.startswith("face 1M"):
            if not a.million:
                continue
        for c in run_at:
            print(f"{case} at C = {c:,} ...", file=sys.stderr, flush=True)
            steps = {name: make(c) for name, make in makers.items()}
            times = time_impls(
                steps,
                rounds=min(a.rounds, 2) if c >= 1_000_000 else a.rounds,
                min_run_time=a.min_run_time,
            )
            del steps
            _CACHE.clear()
            peaks = {
                n: (None if a.no_memory else peak_in_subprocess(case, n, c, a.chunk_size))
                for n in makers
            }
            grad = c * D * 4
            t0, m0 = times["losskit"], peaks["losskit"]
            for n in makers:
                t, m = times[n], peaks[n]
                lines.append(
                    f"| {case} | {c:,} | {n} | {t:.3f} | {t / t0:.2f} | "
                    + ("-" if m is None else f"{m / 2**20:.0f}")
                    + " | "
                    + ("-" if m is None else f"{(m - grad) / 2**20:.0f}")
                    + " | "
                    + ("-" if (m is None or not m0) else f"{m / m0:.2f}")
                    + " |"
                )
            verdicts += _verdicts(case, c, times, peaks, grad, a.chunk_size)
    table = "\n".join(lines) + "\n"
    print(table)
    print("\n".join(verdicts))
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(table + "\n" + "\n".join(f"- {v}" for v in verdicts) + "\n")


def _verdicts(case: str, c: int, times: dict, peaks: dict, grad: int, chunk: int) -> list[str]:
    out = []
    ok = lambda b: "met" if b else "NOT met"  # noqa: E731
    chunked = f"losskit chunk_size={chunk}"
    if case.startswith("face"):  # each head against ArcFace in the same mode
        name = case.split(": ", 1)[1]
        pairs = [(name, "losskit"), (f"{name} chunk_size={chunk}", chunked)]
        if case.startswith("face 1M"):
            pairs = [(f"{name} chunk_size={chunk}", "losskit")]
        for head, base in pairs:
            if head not in times or base not in times:
                continue
            tr = times[head] / times[base]
            line = f"{case} C={c:,}: {head} / ArcFace time = {tr:.2f} (target <= 1.15: {ok(tr <= 1.15)})"
            if peaks.get(head) and peaks.get(base):
                mr = peaks[head] / peaks[base]
                line += f"; peak = {mr:.2f} (target <= 1.15: {ok(mr <= 1.15)})"
            out.append(line)
        return out
    for peer in (n for n in times if n.startswith("PML")):
        tr = times[peer] / times["losskit"]
        line = f"{case} C={c:,}: {peer} / losskit time = {tr:.2f} (target > 1: {ok(tr > 1)})"
        if peaks.get(peer) and peaks.get("losskit"):
            mr = peaks["losskit"] / peaks[peer]
            line += f"; losskit / {peer} peak = {mr:.2f} (target <= 0.5: {ok(mr <= 0.5)})"
        out.append(line)
    if chunked in times and c >= 1_000_000:
        tr = times[chunked] / times["losskit"]
        line = f"{case} C={c:,}: chunked / dense time = {tr:.2f} (target <= 1.2: {ok(tr <= 1.2)})"
        if peaks.get(chunked) and peaks.get("losskit"):
            mr = (peaks[chunked] - grad) / (peaks["losskit"] - grad)
            line += f"; chunked / dense peak beyond W grad = {mr:.3f} (target <= 0.10: {ok(mr <= 0.10)})"
        out.append(line)
    return out


if __name__ == "__main__":
    main()
