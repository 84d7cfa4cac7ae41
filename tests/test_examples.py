"""The task examples under examples/ run as written (briefly: fewer steps) and learn.
The distributed one has its own test (tests/distributed/test_example.py)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_detection_example(capsys: pytest.CaptureFixture[str]) -> None:
    result = _load("train_detection").main(["--steps", "60"])
    out = capsys.readouterr().out
    assert "focal" in out and "giou" in out
    assert result["mean_iou"] > 0.4  # boxes at the object centres already overlap well
    assert result["objectness_accuracy"] > 0.9


def test_face_example(capsys: pytest.CaptureFixture[str]) -> None:
    result = _load("train_face").main(["--steps", "100"])
    out = capsys.readouterr().out
    assert "centre rows with a gradient: 400 of 2000" in out  # Partial FC samples a fifth
    assert math.isfinite(result["final_loss"]) and result["final_loss"] < 16.0
