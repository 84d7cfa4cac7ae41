"""The task examples under examples/ run as written (briefly: fewer steps) and learn.
The distributed one has its own test (tests/distributed/test_example.py)."""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Run each example on one thread (its tensors are small: extra threads only contend for
    the cores), as the newer ones do by default (``--threads 1``); then restore the count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


def test_segmentation_example(capsys: pytest.CaptureFixture[str]) -> None:
    result = _load("train_segmentation").main(["--steps", "40"])
    out = capsys.readouterr().out
    logged = re.findall(r"step \d+: dice (\S+)  ce (\S+)  total (\S+)", out)
    assert len(logged) == 5  # each part logged separately
    dice, ce, totals = ([float(v) for v in column] for column in zip(*logged, strict=True))
    assert totals[-1] < totals[0] and dice[-1] < dice[0] and ce[-1] < ce[0]
    # each term is summed over the two levels with weights 1 and 1/2: Dice at most 1.5
    assert all(0.0 < d <= 1.5 for d in dice)
    assert result["dice_background"] > 0.95
    assert result["dice_disc"] > 0.8  # the blobs come first; rings and lines need more steps
    assert 0.0 <= result["mean_dice"] <= 1.0


def test_segmentation_example_learned_weights(capsys: pytest.CaptureFixture[str]) -> None:
    _load("train_segmentation").main(
        ["--steps", "10", "--batch", "8", "--learn-weights", "--no-deep-supervision"]
    )
    out = capsys.readouterr().out
    logged = re.findall(r"\(weights dice (\S+), ce (\S+)\)", out)
    assert len(logged) == 5
    weights = [float(w) for pair in logged for w in pair]
    # exp(-s) / 2 starts at 0.5 (s = 0) and moves as the log-variances learn
    assert weights and all(0.0 < w < 1.0 for w in weights)
    assert any(abs(w - 0.5) > 0.005 for w in weights)


def test_retrieval_metrics_hand_worked() -> None:
    recall_map = _load("train_metric").retrieval_metrics
    # unit vectors at 0, 10, 50, 100 degrees, classes 0, 0, 1, 0. Query 0 ranks 10 (class 0),
    # 50, 100: R = 2, rel = (1, 0), AP@R = (1/1) / 2 = 0.5. Query 10 the same: 0.5. Query 50
    # has no other of its class (left out). Query 100 ranks 50 (class 1), 10, 0: rel = (0, 1),
    # AP@R = (1/2) / 2 = 0.25. mAP@R = 1.25 / 3; Recall@1 = 2 / 3.
    angle = torch.tensor([0.0, 10.0, 50.0, 100.0]).deg2rad()
    emb = torch.stack([angle.cos(), angle.sin()], 1)
    recall, map_r = recall_map(emb, torch.tensor([0, 0, 1, 0]))
    assert recall == pytest.approx(2 / 3) and map_r == pytest.approx(1.25 / 3)


def test_retrieval_metrics_match_pytorch_metric_learning() -> None:
    # test extras: the parity check must run, never skip
    import pytorch_metric_learning.distances as distances
    import pytorch_metric_learning.utils.accuracy_calculator as accuracy
    import pytorch_metric_learning.utils.inference as inference
    recall_map = _load("train_metric").retrieval_metrics
    g = torch.Generator().manual_seed(0)
    emb, labels = torch.randn(120, 8, generator=g), torch.randint(0, 6, (120,), generator=g)
    calc = accuracy.AccuracyCalculator(
        include=("precision_at_1", "mean_average_precision_at_r"),
        knn_func=inference.CustomKNN(distances.CosineSimilarity()),
    )
    peer = calc.get_accuracy(emb, labels)  # the queries are the references, self left out
    recall, map_r = recall_map(emb, labels)
    assert recall == pytest.approx(peer["precision_at_1"], abs=1e-6)
    assert map_r == pytest.approx(peer["mean_average_precision_at_r"], abs=1e-6)


def test_metric_example(capsys: pytest.CaptureFixture[str]) -> None:
    result = _load("train_metric").main(["--steps", "50"])
    out = capsys.readouterr().out
    assert "pos +" in out and "neg pairs" in out  # the miner's pairs are logged
    assert result["recall_at_1"] > 0.9
    # the pixels already find a nearest neighbour of the class; the embedding ranks the class
    assert result["map_at_r"] > result["raw_map_at_r"] + 0.2


@pytest.mark.parametrize("flags", [["--loss", "triplet"], ["--xbm", "128"]])
def test_metric_example_variants(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    result = _load("train_metric").main(["--steps", "30", *flags])
    out = capsys.readouterr().out
    assert ("inside the margin" in out) if flags[0] == "--loss" else ("queue of 128" in out)
    assert math.isfinite(result["final_loss"])
    assert result["map_at_r"] > result["raw_map_at_r"] + 0.15


def test_metric_example_refuses_xbm_with_triplets() -> None:
    with pytest.raises(SystemExit):
        _load("train_metric").main(["--loss", "triplet", "--xbm", "64"])
