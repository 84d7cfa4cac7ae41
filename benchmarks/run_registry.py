"""Run every registry benchmark case (losskit against its peers, side by side in one process)
and write the table to ``benchmarks/results-<device>.md``.

    .venv/bin/python benchmarks/run_registry.py [--family F] [--device cpu|cuda] [--threads 1]

This is ``losskit bench`` with the output file chosen; the family scripts beside it cover
cases that do not fit one registry entry (class counts, batch sizes swept).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from losskit.cli.bench import run

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--family")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-run-time", type=float, default=1.0)
    a = ap.parse_args()
    out = Path(__file__).with_name(f"results-{a.family or 'all'}-{a.device}.md")
    run(
        family=a.family,
        device=a.device,
        threads=a.threads,
        min_run_time=a.min_run_time,
        markdown=str(out),
    )
    print(f"written: {out}")
