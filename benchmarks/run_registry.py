"""Run the benchmark cases of every registry entry that has some (``losskit.bench.cases()``:
losskit against its peers, side by side in one process) and write the table to
``benchmarks/results-<family or all>-<device>.md``.

    .venv/bin/python benchmarks/run_registry.py [--family F] [--names a,b] [--device cpu|cuda]
        [--threads 1] [--min-run-time 1.0] [--no-memory] [--compile] [--out FILE]

This is ``losskit bench`` with the output file chosen; the family scripts beside it cover
cases that do not fit one registry entry (class counts, batch sizes swept).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from losskit.bench import FAMILY_MODULES
from losskit.cli.bench import run

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", choices=FAMILY_MODULES, help="one family (default: all)")
    ap.add_argument("--names", default="", help="comma-separated loss names (default: all)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-run-time", type=float, default=1.0)
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument("--compile", action="store_true",
                    help="also time each implementation under torch.compile")  # fmt: skip
    ap.add_argument("--out", help="the results file (default: results-<family>-<device>.md "
                    "here, or results-compiled-<family>-<device>.md with --compile)")  # fmt: skip
    a = ap.parse_args()
    kind = "compiled-" if a.compile else ""
    out = Path(a.out) if a.out else Path(__file__).with_name(
        f"results-{kind}{a.family or 'all'}-{a.device}.md"
    )
    run(
        family=a.family,
        names=[n for n in a.names.split(",") if n] or None,
        device=a.device,
        threads=a.threads,
        memory=not a.no_memory,
        min_run_time=a.min_run_time,
        markdown=str(out),
        compile=a.compile,
    )
    print(f"written: {out}")
