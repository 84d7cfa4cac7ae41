"""What bounds the speed targets that losskit does not reach: each case's loss and peers beside
the kernels any implementation of it must run, under three allocator regimes.

    .venv/bin/python benchmarks/bench_bounds.py [--rounds 7] [--min-run-time 0.05]
        [--out benchmarks] [--regimes default,heap,fresh] [--case dice-2d,...]

For each case (a loss, a setting and a size of `benchmarks/bench_speed.py`), one process per
regime times forward + backward of losskit and each peer and, forward only into preallocated
buffers, the kernels every implementation needs (the activation's transcendental kernels,
or for the box losses the change of layout and the transcendental of the penalty), all
interleaved over the rounds. A dispatch mode counts each step's aten operations and the
elements they write (divided by the input's size: passes over memory).

The regimes are glibc's allocator set by environment variables before the process starts:

* ``default``: as a training process has it (glibc's dynamic mmap threshold; whether a
  freed buffer is reused or mapped afresh depends on the process's history);
* ``heap``: ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` set high: every freed
  buffer is reused, no step faults a page in;
* ``fresh``: ``MALLOC_MMAP_THRESHOLD_=131072``: every buffer above 128 KiB is mapped afresh
  and faults its pages in on first touch.

Writes ``<out>/results-bounds-<device>.md``. The column "peer / kernels" is the largest ratio
any implementation could reach against that peer if it ran nothing but those kernels.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from losskit.bench import sweep as S

HERE = Path(__file__).resolve().parent

REGIMES = {
    "default": {},
    "heap": {"MALLOC_MMAP_THRESHOLD_": str(2**32), "MALLOC_TRIM_THRESHOLD_": str(2**36)},
    "fresh": {"MALLOC_MMAP_THRESHOLD_": "131072"},
}

Kernels = Callable[[tuple[torch.Tensor, ...]], dict[str, Callable[[], Any]]]


def _softmax(inputs: tuple[torch.Tensor, ...]) -> dict[str, Callable[[], Any]]:
    x = inputs[0].detach()
    out = torch.empty_like(x)
    return {"softmax": lambda: torch.ops.aten._softmax.out(x, 1, False, out=out)}


def _sigmoid(inputs: tuple[torch.Tensor, ...]) -> dict[str, Callable[[], Any]]:
    x = inputs[0].detach()
    out = torch.empty_like(x)
    return {"sigmoid": lambda: torch.sigmoid(x, out=out)}


def _bce_transcendentals(inputs: tuple[torch.Tensor, ...]) -> dict[str, Callable[[], Any]]:
    # exp(-|x|) and its log1p (the softplus of BCE-with-logits) and the sigmoid of its
    # derivative: what BCE-with-logits runs; the focal losses need the first two (their
    # sigmoids come from exp(-|x|) by cheap passes) and nothing more transcendental
    x = inputs[0].detach()
    a, b = torch.empty_like(x), torch.empty_like(x)

    def run() -> None:
        torch.exp(x, out=a)
        torch.log1p(a, out=b)
        torch.sigmoid(x, out=b)

    return {"exp + log1p + sigmoid": run}


def _box_kernels(transcendental: str) -> Kernels:
    def make(inputs: tuple[torch.Tensor, ...]) -> dict[str, Callable[[], Any]]:
        from losskit._geometry import _BLOCK, _from_rows, _to_rows

        p, t = (x.detach().reshape(-1, 4) for x in inputs[:2])
        n = p.shape[0]
        blocks = [(s, min(s + _BLOCK, n)) for s in range(0, n, _BLOCK)]
        g = torch.empty_like(p)
        rows = torch.rand(4, _BLOCK) + 0.5
        # the transcendental passes of one step, in blocks: CIoU one atan per box, SIoU
        # four exp (two for the distance cost, two for the shape cost)
        count = {"atan": 1, "exp": 4}[transcendental]
        buf = torch.empty(count, _BLOCK)

        def layout() -> None:
            for s, e in blocks:
                _to_rows(p[s:e])
                _to_rows(t[s:e])
                _from_rows(rows[:, : e - s], g[s:e])

        def trans() -> None:
            for s, e in blocks:
                src = rows[:count, : e - s]
                getattr(torch, transcendental)(src, out=buf[:, : e - s])

        return {"layout (c, 4) <-> (4, c)": layout, f"{count} {transcendental} per box": trans}

    return make


#: name: (family, loss, setting prefix, size, kernels)
CASES: dict[str, tuple[str, str, str, int, Kernels]] = {
    "dice-2d": ("overlap", "dice_loss", "multiclass, (N, 4) + 2-D", 8, _softmax),
    "dice-3d": ("overlap", "dice_loss", "multiclass, (N, 3) + 3-D", 1, _softmax),
    "jaccard-2d": ("overlap", "jaccard_loss", "multilabel, (N, 4) + 2-D", 8, _sigmoid),
    "focal-64k": ("focal", "focal_loss", "", 2**16, _bce_transcendentals),
    "focal-256k": ("focal", "focal_loss", "", 2**18, _bce_transcendentals),
    "varifocal-64k": ("focal", "varifocal_loss", "", 2**16, _bce_transcendentals),
    "ciou-1m": ("box", "ciou_loss", "overlapping", 1_000_000, _box_kernels("atan")),
    "siou-1m": ("box", "siou_loss", "overlapping", 1_000_000, _box_kernels("exp")),
}


class _Count(TorchDispatchMode):
    """aten operations of a step and the elements their outputs hold."""

    def __init__(self) -> None:
        super().__init__()
        self.ops = 0
        self.written = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        out = func(*args, **(kwargs or {}))
        if func.overloadpacket not in (torch.ops.aten.view, torch.ops.aten.detach):
            self.ops += 1
            for o in out if isinstance(out, tuple | list) else (out,):
                if isinstance(o, torch.Tensor) and o._base is None:
                    self.written += o.numel()
        return out


def _sweep(family: str, loss: str, prefix: str) -> S.Sweep:
    for s in S.SWEEPS()[family]:
        if s.loss == loss and s.setting.startswith(prefix):
            return s
    raise SystemExit(f"no sweep {family}/{loss}/{prefix!r}")


def child(names: list[str], rounds: int, min_run_time: float) -> list[dict[str, Any]]:
    """Time the cases in this process (its allocator regime is set by the parent)."""
    cpu = torch.device("cpu")
    out = []
    for name in names:
        family, loss, prefix, size, kernels = CASES[name]
        sweep = _sweep(family, loss, prefix)
        inputs = sweep.make(size, cpu)
        fns = S._available(sweep, lambda m: print(m, file=sys.stderr))
        steps = {impl: S._step(fn, inputs, cpu) for impl, fn in fns.items()}
        ks = kernels(inputs)
        counts = {}
        for impl, st in steps.items():
            st()
            c = _Count()
            with c:
                st()
            counts[impl] = {"ops": c.ops, "passes": c.written / inputs[0].numel()}
        every = {**steps, **ks}
        for f in every.values():
            f()
        times: dict[str, list[float]] = {k: [] for k in every}
        for _ in range(rounds):
            for k, f in every.items():
                times[k].append(S._median_time(f, min_run_time) * 1e3)
        out.append({
            "case": name, "loss": loss, "setting": sweep.setting, "size": size,
            "impls": list(steps), "kernels": list(ks), "counts": counts,
            "ms": {k: statistics.median(v) for k, v in times.items()},
        })  # fmt: skip
    return out


def _fmt(v: float) -> str:
    return f"{v:.3f}" if v < 10 else f"{v:.1f}"


def markdown(results: dict[str, list[dict[str, Any]]], info: dict[str, Any]) -> str:
    """The results file: per case, one row per regime."""
    lines = [
        "# What bounds the unmet speed targets (" + info.get("device", "cpu") + ")",
        "",
        __doc__.split("\n\n", 2)[2].split("Writes ``")[0].strip(),
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()) + ".",
        "",
    ]
    by_case: dict[str, dict[str, dict[str, Any]]] = {}
    for regime, rows in results.items():
        for r in rows:
            by_case.setdefault(r["case"], {})[regime] = r
    for per in by_case.values():
        first = next(iter(per.values()))
        impls, kernels = first["impls"], first["kernels"]
        peers = [i for i in impls if i != "losskit"]
        lines += [f"### {first['loss']}: {first['setting']}, size {first['size']:,}", ""]
        head = ["regime"] + [f"{i} ms" for i in impls] + [f"{k} ms" for k in kernels]
        head += [f"{p} / losskit" for p in peers] + [f"{p} / kernels" for p in peers]
        head += ["losskit / kernels"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for regime, r in per.items():
            ms = r["ms"]
            kern = sum(ms[k] for k in kernels)
            cells = [regime] + [_fmt(ms[i]) for i in impls] + [_fmt(ms[k]) for k in kernels]
            cells += [f"{ms[p] / ms['losskit']:.2f}" for p in peers]
            cells += [f"{ms[p] / kern:.2f}" for p in peers]
            cells += [f"{ms['losskit'] / kern:.2f}"]
            lines.append("| " + " | ".join(cells) + " |")
        counts = first["counts"]
        lines += ["", "Operations per step (aten, after autograd) and passes (elements written / "
                  "input elements): " + ", ".join(
                      f"{i} {counts[i]['ops']} ops, {counts[i]['passes']:.1f} passes"
                      for i in impls) + ".", ""]  # fmt: skip
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--min-run-time", type=float, default=0.05)
    ap.add_argument("--out", default=str(HERE))
    ap.add_argument("--regimes", default=",".join(REGIMES))
    ap.add_argument("--case", default=",".join(CASES), help="comma-separated case names")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    names = [c for c in a.case.split(",") if c]
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        ap.error(f"--case: unknown {', '.join(unknown)}; choose from {', '.join(CASES)}")
    torch.set_num_threads(1)
    if a.child:
        print(json.dumps(child(names, a.rounds, a.min_run_time)))
        return 0
    regimes = [r for r in a.regimes.split(",") if r]
    bad = sorted(set(regimes) - set(REGIMES))
    if bad:
        ap.error(f"--regimes: unknown {', '.join(bad)}; choose from {', '.join(REGIMES)}")
    results = {}
    for regime in regimes:
        print(f"regime {regime}", file=sys.stderr)
        env = {**os.environ, **REGIMES[regime]}
        cmd = [sys.executable, __file__, "--child", "--case", ",".join(names),
               "--rounds", str(a.rounds), "--min-run-time", str(a.min_run_time)]  # fmt: skip
        done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
        results[regime] = json.loads(done.stdout.strip().splitlines()[-1])
    info = {"device": "cpu", **S.machine()}
    text = markdown(results, info)
    path = Path(a.out) / "results-bounds-cpu.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
