"""``benchmarks/bench_bounds.py``: the operation counter, the results file's ratios, and one
small case timed end to end in this process (no timing is asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_bounds.py"


@pytest.fixture(scope="module")
def bounds():
    spec = importlib.util.spec_from_file_location("bench_bounds", PATH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_bounds"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_count_ops_and_passes(bounds) -> None:
    """Three element-wise operations on 10 elements write 30 elements (views are free)."""
    x = torch.ones(10)
    c = bounds._Count()
    with c:
        y = (x + 1).mul(2).view(2, 5)
        torch.exp(y)
    assert (c.ops, c.written) == (3, 30)


def test_markdown_ratios(bounds) -> None:
    """peer / losskit, peer / kernels and losskit / kernels from the medians, one row per
    regime, and the counts line."""
    row = {
        "case": "c", "loss": "l", "setting": "s", "size": 1000, "impls": ["losskit", "peer"],
        "kernels": ["k1", "k2"], "counts": {"losskit": {"ops": 7, "passes": 2.0},
                                            "peer": {"ops": 9, "passes": 3.5}},
        "ms": {"losskit": 2.0, "peer": 3.0, "k1": 0.5, "k2": 0.5},
    }  # fmt: skip
    text = bounds.markdown({"heap": [row]}, {"device": "cpu"})
    assert "| heap | 2.000 | 3.000 | 0.500 | 0.500 | 1.50 | 3.00 | 2.00 |" in text
    assert "losskit 7 ops, 2.0 passes, peer 9 ops, 3.5 passes" in text


def test_child_times_a_case(bounds) -> None:
    """The 64 Ki focal case in this process: every implementation and kernel timed, counts
    for each implementation."""
    (r,) = bounds.child(["focal-64k"], rounds=1, min_run_time=0.001)
    assert r["impls"][0] == "losskit" and set(r["kernels"]) == {"exp + log1p + sigmoid"}
    assert set(r["ms"]) == set(r["impls"]) | set(r["kernels"])
    assert all(v > 0 for v in r["ms"].values())
    assert r["counts"]["losskit"]["ops"] > 0


def test_unknown_case_is_refused(bounds, capsys) -> None:
    with pytest.raises(SystemExit):
        bounds.main(["--case", "nope"])
    assert "unknown nope" in capsys.readouterr().err
