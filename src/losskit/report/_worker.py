"""The report's second process: ``python -m losskit.report._worker OUT RESULT [--quick] KEY...``
runs the sections ``KEY...`` into the folder ``OUT`` on one torch thread, prints each step on a
line of its own (the parent's progress bar shows it) and pickles ``(sections, files written,
error)`` to ``RESULT``. Started by :func:`losskit.report.build_report`; not a command for
people."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    import torch

    from . import _run_sections

    out, result, *rest = argv
    quick = "--quick" in rest
    keys = [k for k in rest if k != "--quick"]
    torch.set_num_threads(1)  # one core each: this process and the parent

    def progress(desc: str, frac: float | None) -> None:
        print(desc, flush=True)

    outcome = _run_sections(keys, Path(out), quick, progress)
    with open(result, "wb") as f:
        pickle.dump(outcome, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
