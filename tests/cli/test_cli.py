from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from losskit.cli.bench import _peak_in_subprocess, run
from losskit.cli.main import main
from losskit.registry import REGISTRY


def test_list_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("l1_loss", "smooth_l1_loss", "CrossEntropyLoss", "MultiMarginLoss"):
        assert name in out
    assert f"{len(REGISTRY)} losses" in out


def test_list_family_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--family", "regression", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == REGISTRY.names("regression")
    assert [r["name"] for r in rows][:4] == ["l1_loss", "mse_loss", "smooth_l1_loss", "huber_loss"]
    assert rows[2]["paper"].startswith("Girshick") and rows[2]["peers"] == [
        "torch.nn.functional.smooth_l1_loss"
    ]


def test_list_rejects_unknown_family() -> None:
    with pytest.raises(SystemExit):
        main(["list", "--family", "nope"])


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("losskit")
    res = subprocess.run(
        [str(exe), "list", "--family", "pytorch"], capture_output=True, text=True, check=True
    )
    assert "KLDivLoss" in res.stdout


def test_demo_regression_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    assert main(["demo", "--out", str(out), "--quick", "--section", "regression"]) == 0
    html = (out / "index.html").read_text()
    assert "Distance (regression) losses" in html
    for png in ("regression_loss.png", "regression_gradient.png"):
        assert (out / png).stat().st_size > 10_000
        assert f'src="{png}"' in html
    assert "Claims checked: 4, held: 4, not held: 0" in html
    assert "Claims checked: 4, held: 4" in capsys.readouterr().out
    # a second run into its own report folder is allowed
    assert main(["demo", "--out", str(out), "--quick", "--section", "regression"]) == 0


def test_demo_refuses_foreign_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["demo", "--out", str(tmp_path), "--quick"]) == 2
    assert "is not empty and is not a losskit report" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_bench_runs_and_writes_markdown(tmp_path: Path) -> None:
    md = tmp_path / "bench.md"
    rows = run(names=["l1_loss"], memory=False, min_run_time=0.01, markdown=str(md))
    impls = {r.impl for r in rows}
    assert impls == {"losskit", "torch"}
    lk = next(r for r in rows if r.impl == "losskit")
    assert lk.time_ratio == 1.0 and lk.time_ms > 0
    text = md.read_text()
    assert "| l1_loss |" in text and "time ratio" in text


def test_peak_memory_worker_measures_the_step() -> None:
    # (4096, 1024) float32 = 16 MiB per tensor: one step's gradient alone is 16 MiB
    peak = _peak_in_subprocess("mse_loss", 0, "torch", "cpu", 1)
    assert peak is not None and 16 * 2**20 <= peak < 64 * 2**20


def test_bench_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--name", "arcfase"]) == 2
    err = capsys.readouterr().err
    assert "no loss named 'arcfase'; did you mean 'arcface_loss'" in err
    assert "l1_loss" not in err  # suggests, does not list the registry


@pytest.mark.parametrize("name", ["arcface", "ArcFace", "ArcFaceLoss", "arcface_loss", "ARCFACE"])
def test_names_a_person_types(name: str) -> None:
    assert REGISTRY.resolve(name).name == "arcface_loss"


def test_exact_names_and_losskit_first() -> None:
    assert REGISTRY.resolve("L1Loss").family == "pytorch"  # torch's class name is an entry
    assert REGISTRY.resolve("l1").name == "l1_loss"  # losskit's own before the catalogue
    assert REGISTRY.resolve("SmoothL1").name == "smooth_l1_loss"


def test_usage_errors_exit_2_in_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "nope_loss"]) == 2
    assert main(["bench", "--name", "nope_loss"]) == 2
    err = capsys.readouterr().err
    assert err.count("no loss named 'nope_loss'") == 2
    for argv in (["list", "--family", "nope"], ["bench", "--device", "tpu"], ["demo", "--bad"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
