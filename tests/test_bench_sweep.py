"""The speed-against-size benchmark machinery (``losskit.bench.sweep``): timing rows in both
modes, graph breaks, the results files and the plot. Tiny sizes, one round, the "eager"
compile backend (dynamo's capture without code generation): this tests the plumbing, not
the speed, which only the benchmark script measures."""

from __future__ import annotations

import json

import pytest
import torch

from losskit.bench import sweep as S


def _pick(family: str, loss: str, setting: str | None = None) -> S.Sweep:
    for s in S.SWEEPS()[family]:
        if s.loss == loss and (setting is None or s.setting == setting):
            return s
    raise AssertionError(f"no sweep {family}/{loss}/{setting}")


def test_every_family_has_losskit_and_a_floor() -> None:
    table = S.SWEEPS()
    assert set(table) == {"box", "focal", "overlap"}
    box_losses = {s.loss for s in table["box"]}
    assert box_losses == {"iou_loss", "giou_loss", "diou_loss", "ciou_loss", "eiou_loss",
                          "siou_loss"}  # fmt: skip
    # overlapping and disjoint boxes for each; focal sizes span 64 Ki to 20 Mi elements
    assert {s.setting for s in table["box"]} == {"overlapping boxes", "disjoint boxes"}
    assert min(table["focal"][0].sizes) == 2**16 and max(table["focal"][0].sizes) == 20 * 2**20
    for sweeps in table.values():
        for s in sweeps:
            assert "losskit" in s.impls
            assert all(s.floor_bytes(n) > 0 for n in s.sizes)
            assert list(s.sizes) == sorted(s.sizes)


def test_disjoint_boxes_do_not_overlap_and_overlapping_ones_do() -> None:
    from losskit import box_iou

    p, t = S._boxes(500, torch.device("cpu"), disjoint=True)
    assert float(box_iou(p.detach(), t).diagonal().max()) == 0.0
    p, t = S._boxes(500, torch.device("cpu"), disjoint=False)
    assert float((box_iou(p.detach(), t).diagonal() > 0).float().mean()) > 0.9


def test_rows_files_and_plot(tmp_path) -> None:
    sweeps = [_pick("box", "giou_loss", "overlapping boxes"), _pick("focal", "focal_loss")]
    logs: list[str] = []
    rows = S.run_sweeps(
        sweeps[:1],
        compile=True,
        backend="eager",
        rounds=1,
        min_run_time=1e-3,
        sizes=[1_000],
        bandwidth=1e10,
        log=logs.append,
    )
    rows += S.run_sweeps(sweeps[1:], rounds=1, min_run_time=1e-3, sizes=[2**16],
                         bandwidth=1e10, log=logs.append)  # fmt: skip
    got = {(r.loss, r.impl, r.mode, r.size) for r in rows}
    for impl in ("losskit", "torchvision"):
        for mode in ("eager", "compiled"):
            assert ("giou_loss", impl, mode, 1_000) in got
    assert ("focal_loss", "BCE-with-logits", "eager", 2**16) in got
    by = {(r.loss, r.impl, r.mode): r for r in rows}
    # losskit's losses compile into one graph (fullgraph-clean); the compile time is recorded
    assert by[("giou_loss", "losskit", "compiled")].graph_breaks == 0
    assert by[("giou_loss", "losskit", "compiled")].compile_s > 0
    assert by[("giou_loss", "losskit", "eager")].graph_breaks is None
    for r in rows:
        assert r.time_ms > 0 and len(r.rounds) == 1
        assert r.floor_ms == pytest.approx(
            (48 * r.size if r.loss == "giou_loss" else 12 * r.size) / 1e10 * 1e3
        )

    written = S.write_results(rows, sweeps, tmp_path, "cpu", 1e10, "Method: test.")
    names = sorted(p.name for p in written)
    assert names == ["results-speed-box-cpu.json", "results-speed-box-cpu.md",
                     "results-speed-focal-cpu.json", "results-speed-focal-cpu.md"]  # fmt: skip
    data = json.loads((tmp_path / "results-speed-focal-cpu.json").read_text())
    assert data["machine"]["torch"] == torch.__version__
    assert {r["impl"] for r in data["rows"]} == {"losskit", "torchvision", "BCE-with-logits"}
    md = (tmp_path / "results-speed-focal-cpu.md").read_text()
    assert "Method: test." in md and "Machine: " in md
    # BCE is the yardstick: its column is losskit / BCE, the peer's is peer / losskit
    assert "losskit / BCE-with-logits eager" in md and "torchvision / losskit eager" in md
    assert "graph break" not in md  # the focal rows were timed eager only
    box_md = (tmp_path / "results-speed-box-cpu.md").read_text()
    assert "losskit 0 graph breaks" in box_md

    png = S.plot_family(tmp_path / "results-speed-box-cpu.json", tmp_path / "box.png")
    from PIL import Image

    with Image.open(png) as im:
        w, h = im.size
    assert w >= 400 and h >= 300


def test_a_missing_peer_is_left_out_with_a_message() -> None:
    def missing():
        raise ModuleNotFoundError("no", name="not_a_peer")

    base = _pick("focal", "focal_loss")
    sweep = S.Sweep(family="focal", loss="focal_loss", setting="test", sizes=(64,),
                    make=base.make, impls={"losskit": base.impls["losskit"], "ghost": missing},
                    floor_bytes=base.floor_bytes)  # fmt: skip
    logs: list[str] = []
    rows = S.run_sweeps([sweep], rounds=1, min_run_time=1e-3, bandwidth=1e10, log=logs.append)
    assert {r.impl for r in rows} == {"losskit"}
    assert any("ghost left out" in m and "not_a_peer" in m for m in logs)


def test_merged_machine_keeps_the_old_line_and_says_what_was_rerun() -> None:
    """A file measured in parts (``--merge``) keeps its machine line; each re-run adds which
    losses, when and at what load."""
    old = {"cpu": "x", "date": "day 1", "load_average": [1.0]}
    now = {"cpu": "x", "date": "day 2", "load_average": [0.5]}
    once = S.merged_machine(old, now, ["siou_loss"])
    assert once["date"] == "day 1" and old.get("merged") is None
    assert once["merged"] == "siou_loss re-measured day 2 (load average [0.5])"
    twice = S.merged_machine(once, {"date": "day 3", "load_average": [2.0]}, ["a", "b"])
    assert twice["merged"] == once["merged"] + "; a, b re-measured day 3 (load average [2.0])"


def _row(impl: str, rounds: list[float], size: int = 10) -> S.SweepRow:
    import statistics

    return S.SweepRow(family="box", loss="giou_loss", setting="overlapping boxes", size=size,
                      impl=impl, mode="eager", time_ms=statistics.median(rounds), floor_ms=0.01,
                      rounds=rounds)  # fmt: skip


def test_ratios_are_taken_round_by_round_with_their_quartiles() -> None:
    """A ratio pairs the two implementations' times of each round (timed back to back): a
    round slowed as a whole cancels, which the ratio of the two medians does not."""
    # rounds 3-5 slow for both by the same factor but ordered differently: per-round
    # ratios 1, 1, 2, 2, 0.5 (median 1); the medians' ratio would be 10 / 5 = 2
    peer = _row("torchvision", [1.0, 1.0, 10.0, 10.0, 10.0])
    lk = _row("losskit", [1.0, 1.0, 5.0, 5.0, 20.0])
    med, q1, q3 = S.paired_ratio(peer, lk)
    assert (med, q1, q3) == (1.0, 1.0, 2.0)
    assert S._ratio_cell(peer, lk) == "1.00 (1.00-2.00)"
    # fewer than three rounds, or different counts: the medians' ratio, no quartiles
    assert S.paired_ratio(_row("a", [4.0, 4.0]), _row("b", [2.0, 2.0])) == (2.0, None, None)
    assert S._ratio_cell(_row("a", [4.0, 4.0, 4.0]), _row("b", [2.0, 2.0])) == "2.00"


def test_results_file_shows_paired_ratios(tmp_path) -> None:
    sweep = _pick("box", "giou_loss", "overlapping boxes")
    rows = [_row("losskit", [1.0, 2.0, 1.0, 1.0]), _row("torchvision", [3.0, 4.0, 3.0, 2.0])]
    md = S.markdown(rows, {"cpu": "x"}, 1e10, "Method: test.", [sweep])
    # per-round ratios 3, 2, 3, 2: median 2.5, quartiles 2 and 3 ("inclusive" method)
    assert "| 2.50 (2.00-3.00) |" in md


def test_rewrite_states_the_paired_ratios(tmp_path) -> None:
    """``bench_speed.py --rewrite`` of a file written before the ratios were paired says how
    its ratios are now taken."""
    import importlib.util
    from dataclasses import asdict
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_speed.py"
    spec = importlib.util.spec_from_file_location("bench_speed", script)
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = [_row("losskit", [1.0, 2.0, 1.0]), _row("torchvision", [3.0, 4.0, 3.0])]
    old = ("Method: x; each round the median\nof `Timer` (0.05 s); a cell is the median of\n"
           "its rounds. Compiled: y.")  # fmt: skip
    (tmp_path / "results-speed-box-cpu.json").write_text(json.dumps({
        "method": old, "machine": {"cpu": "x"}, "bandwidth_bytes_per_s": 1e10,
        "rows": [asdict(r) for r in rows]}))  # fmt: skip
    assert bench.main(["--family", "box", "--rewrite", "--out", str(tmp_path),
                       "--plots", str(tmp_path)]) == 0  # fmt: skip
    md = (tmp_path / "results-speed-box-cpu.md").read_text()
    assert "a cell is the median" not in md
    assert "the ratio within each round" in md and "quartiles in brackets" in md
    assert "| 3.00 (2.50-3.00) |" in md  # per-round ratios 3, 2, 3
