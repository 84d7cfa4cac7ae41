"""Speed against input size, eager and compiled: the box losses against torchvision, the focal
losses against torchvision and BCE-with-logits, Dice/Jaccard/Tversky against MONAI and SMP.

    .venv/bin/python benchmarks/bench_speed.py [--family box,focal,overlap] [--loss giou_loss,...]
        [--compile] [--backend inductor] [--rounds 7] [--min-run-time 0.05] [--sizes 1000,...]
        [--device cpu|cuda] [--out benchmarks/results]

Writes ``<out>/results-speed-<family>-<device>.json`` and ``.md`` per family (method, machine,
every row, the ratios; ``<out>`` is ``benchmarks/``, whose ``results-*.md`` the documentation
site's benchmark page includes) and ``docs/img/results-speed-<family>-<device>.png`` (time
against size, log-log).
With ``--merge``, rows already in the family's JSON file for other losses or modes are kept,
so a family can be measured in parts (e.g. eager first, ``--compile`` later); the file keeps
its machine line, which then says when (and at what load) the re-measured losses were run.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import torch

from losskit.bench import sweep as S

HERE = Path(__file__).resolve().parent
RATIOS = """a time is the median of
its rounds; a ratio is the median over the rounds of the ratio within each round (whose steps
ran back to back), its quartiles in brackets."""
METHOD = """Method: forward + backward of one step, float32, {threads} thread(s) on {device};
each implementation of a size timed in turn, {rounds} rounds interleaved, each round the median
of `torch.utils.benchmark.Timer.blocked_autorange` ({min_run_time} s); {ratios} Compiled: `torch.compile(fn, dynamic=True, backend="{backend}")`, graph breaks from
`torch._dynamo.explain`, compile time = the first forward + backward at the smallest size.
Floor: the bytes a step must move (inputs read once, gradient written once) at the measured
bandwidth. Ratios above 1 mean losskit is faster (peer / losskit), except the column
"losskit / <reference>", which is the cost of losskit's loss relative to that yardstick.
Made by `benchmarks/bench_speed.py`."""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    table = S.SWEEPS()
    ap.add_argument("--family", default=",".join(table), help="comma-separated families")
    ap.add_argument("--loss", default="", help="comma-separated loss names (default: all)")
    ap.add_argument("--compile", action="store_true", help="add the torch.compile columns")
    ap.add_argument("--backend", default="inductor")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--min-run-time", type=float, default=0.05)
    ap.add_argument("--sizes", default="", help="only these sizes (comma-separated)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(HERE))
    ap.add_argument("--plots", default=str(HERE.parent / "docs" / "img"))
    ap.add_argument("--merge", action="store_true", help="keep the file's rows of other runs")
    ap.add_argument(
        "--bandwidth",
        type=float,
        help="memory bandwidth for the floor, GB/s (default: measured now, one large copy; "
        "on a loaded machine that copy is slowed like everything else, so pass a figure "
        "measured when the machine was quiet)",
    )
    ap.add_argument(
        "--rewrite",
        action="store_true",
        help="time nothing: rewrite the families' results files and plots from their JSON "
        "(with --bandwidth: the floor recomputed at that bandwidth)",
    )
    a = ap.parse_args(argv)
    families = [f for f in a.family.split(",") if f]
    unknown = sorted(set(families) - set(table))
    if unknown:
        ap.error(f"--family: unknown {', '.join(unknown)}; choose from {', '.join(table)}")
    losses = {n for n in a.loss.split(",") if n}
    sweeps = [s for f in families for s in table[f] if not losses or s.loss in losses]
    if losses - {s.loss for s in sweeps}:
        known = sorted({s.loss for f in families for s in table[f]})
        ap.error(f"--loss: unknown {', '.join(sorted(losses - {s.loss for s in sweeps}))}; "
                 f"choose from {', '.join(known)}")  # fmt: skip
    if a.rewrite:
        return _rewrite(families, table, a)
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    sizes = [int(s) for s in a.sizes.split(",") if s] or None
    measured = S.memory_bandwidth(device)
    bw = a.bandwidth * 1e9 if a.bandwidth else measured
    print(f"memory bandwidth: measured {measured / 1e9:.1f} GB/s, floor at {bw / 1e9:.1f} GB/s",
          file=sys.stderr, flush=True)  # fmt: skip
    rows = S.run_sweeps(
        sweeps, device=device, compile=a.compile, backend=a.backend, rounds=a.rounds,
        min_run_time=a.min_run_time, sizes=sizes, bandwidth=bw,
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )  # fmt: skip
    method = METHOD.format(threads=a.threads, device=a.device, rounds=a.rounds,
                           min_run_time=a.min_run_time, backend=a.backend, ratios=RATIOS)  # fmt: skip
    now = S.machine()
    infos: dict[str, dict] = {}  # per family: the machine line (a merged file keeps its own)
    if a.merge:
        keys = {(r.loss, r.setting, r.size, r.impl, r.mode) for r in rows}
        for f in families:
            old = Path(a.out) / f"results-speed-{f}-{a.device}.json"
            if old.exists():
                data = json.loads(old.read_text())
                kept = [S.SweepRow(**r) for r in data["rows"]]
                kept = [r for r in kept if (r.loss, r.setting, r.size, r.impl, r.mode) not in keys]
                if kept:
                    new_losses = sorted({r.loss for r in rows if r.family == f})
                    rows += kept
                    infos[f] = S.merged_machine(data["machine"], now, new_losses)
    order = {(s.loss, s.setting): i for i, s in enumerate(s for f in families for s in table[f])}
    rows.sort(key=lambda r: (order.get((r.loss, r.setting), 1e9), r.size))
    all_sweeps = [s for f in families for s in table[f]]
    for f in families:
        mine = [r for r in rows if r.family == f]
        for path in S.write_results(mine, all_sweeps, a.out, a.device, bw, method,
                                    info=infos.get(f, now)):  # fmt: skip
            print(f"written: {path}", file=sys.stderr)
            if path.suffix == ".json":
                png = Path(a.plots) / f"{path.stem}.png"
                S.plot_family(path, png)
                print(f"written: {png}", file=sys.stderr)
    return 0


def _rewrite(families: list[str], table: dict, a: argparse.Namespace) -> int:
    for f in families:
        path = Path(a.out) / f"results-speed-{f}-{a.device}.json"
        if not path.exists():
            print(f"no {path}: nothing to rewrite", file=sys.stderr)
            continue
        data = json.loads(path.read_text())
        old_bw = data["bandwidth_bytes_per_s"]
        bw = a.bandwidth * 1e9 if a.bandwidth else old_bw
        rows = [S.SweepRow(**r) for r in data["rows"]]
        for r in rows:
            r.floor_ms = r.floor_ms * old_bw / bw
        # (files written before the ratios were taken round by round say "a cell is the
        # median of its rounds": the rewritten ratios are the paired ones, so say so)
        method = re.sub(r"a cell is the median of\s+its rounds\.", RATIOS, data["method"])
        if bw != old_bw:
            method += (f"\nThe floor is taken at {bw / 1e9:.1f} GB/s (`--bandwidth`); the copy "
                       f"measured {old_bw / 1e9:.1f} GB/s during the run.")  # fmt: skip
        for out in S.write_results(rows, table[f], a.out, a.device, bw, method,
                                   info=data["machine"]):  # fmt: skip
            print(f"written: {out}", file=sys.stderr)
            if out.suffix == ".json":
                S.plot_family(out, Path(a.plots) / f"{out.stem}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
