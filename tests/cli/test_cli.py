from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

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
    # called from a program (here pytest): the sections' time only, nothing before the call
    assert re.search(r"<br>Generated in \d+\.\d s\.", html)
    # a second run into its own report folder is allowed, and keeps what a person put there
    (out / "notes.png").write_bytes(b"mine")
    assert main(["demo", "--out", str(out), "--quick", "--section", "regression"]) == 0
    assert (out / "notes.png").read_bytes() == b"mine"
    assert (out / "regression_loss.png").stat().st_size > 10_000


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


def _tiny_case():
    """A cheap fake benchmark case with two implementations."""
    import torch

    from losskit.bench import BenchCase

    def setup(device):
        x = torch.randn(64, requires_grad=True)

        def step() -> None:
            x.grad = None
            (x * x).sum().backward()

        return {"losskit": step, "peer": lambda: step()}

    return {"l1_loss": (BenchCase("a tiny case", setup),)}


@pytest.mark.slow
def test_bench_compile_adds_compiled_rows(tmp_path: Path) -> None:
    md, js = tmp_path / "bench.md", tmp_path / "bench.json"
    rows = run(names=["l1_loss"], memory=False, min_run_time=0.01, markdown=str(md),
               json_out=str(js), compile=True)  # fmt: skip
    eager = {r.impl: r for r in rows if not r.compiled}
    comp = {r.impl: r for r in rows if r.compiled}
    assert set(eager) == set(comp) == {"losskit", "torch"}
    assert comp["losskit"].time_ratio == 1.0
    for r in comp.values():
        assert r.graph_breaks == 0 and r.compile_s is not None and r.compile_s >= 0
        assert r.eager_ratio == pytest.approx(r.time_ms / eager["losskit"].time_ms)
        assert r.peak_mb is None
    text = md.read_text()
    assert "Compiled (`torch.compile`" in text and "| graph breaks |" in text
    assert '"compiled": true' in js.read_text()


def test_bench_compile_failures_are_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a peer that does not compile loses its compiled row, with a message; losskit failing
    # to compile leaves the case without compiled rows (nothing to compare against)
    import torch

    fake = _tiny_case()
    monkeypatch.setattr("losskit.cli.bench.cases", lambda: fake)
    for fail, left in (("peer", {"losskit"}), ("losskit", set())):
        steps = fake["l1_loss"][0].setup(torch.device("cpu"))
        failing = steps[fail]

        def refuse(fn, failing=failing):
            # the case's setup runs again inside run(): match the step by its code object
            def compiled() -> None:
                raise RuntimeError("this step refuses to compile")

            return compiled if fn.__code__ is failing.__code__ else fn

        monkeypatch.setattr(torch, "compile", refuse)
        rows = run(names=["l1_loss"], memory=False, min_run_time=0.01, compile=True)
        assert {r.impl for r in rows if not r.compiled} == {"losskit", "peer"}
        assert {r.impl for r in rows if r.compiled} == left
        err = capsys.readouterr().err
        assert f"{fail} does not compile (RuntimeError: this step refuses" in err, err


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
    for argv in (
        ["list", "--family", "nope"],
        ["bench", "--device", "tpu"],
        ["demo", "--bad"],
        ["demo", "--section", "nope"],
    ):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2


# --- usage errors: exit 2, one line `losskit <command>: ...`, checked before any work -----


def _usage_error(capsys: pytest.CaptureFixture[str], argv: list[str], command: str) -> str:
    """Run ``losskit argv``; assert exit 2 with one line ``losskit <command>: ...`` on stderr."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"losskit {command}: "), err
    assert "Traceback" not in err and "losskit: " not in err, err
    return err


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any command gets as far as its work (a benchmark, a simulation, the
    report, a figure)."""
    import losskit.cli.bench
    import losskit.cli.simulate
    import losskit.report
    import losskit.report.explain

    def ran(*args: object, **kwargs: object) -> None:
        raise AssertionError("the command ran its work before refusing its arguments")

    monkeypatch.setattr(losskit.cli.bench, "run", ran)
    monkeypatch.setattr(losskit.cli.simulate, "simulate_boxes", ran)
    monkeypatch.setattr(losskit.report, "build_report", ran)
    monkeypatch.setattr(losskit.report.explain, "draw_explanation", ran)


#: (command in the message, argv before the path, suffix of the path) for each output path
OUTPUTS = {
    "explain --out": ("explain", ["explain", "l1_loss", "--out"], "out.png"),
    "demo --out": ("demo", ["demo", "--quick", "--out"], "report"),
    "bench --markdown": ("bench", ["bench", "--name", "l1_loss", "--markdown"], "b.md"),
    "bench --json": ("bench", ["bench", "--name", "l1_loss", "--json"], "b.json"),
    "simulate --out": (
        "simulate boxes",
        ["simulate", "boxes", "--points", "1", "--iterations", "1", "--out"],
        "sim.png",
    ),
}


@pytest.mark.usefixtures("no_work")
@pytest.mark.parametrize("output", OUTPUTS)
def test_output_below_a_file_is_refused_before_the_work(
    output: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command, argv, name = OUTPUTS[output]
    afile = tmp_path / "somefile.txt"
    afile.write_text("mine")
    err = _usage_error(capsys, [*argv, str(afile / name)], command)
    option = argv[-1]
    assert f"{option} needs a path inside a folder; got {afile / name}" in err
    assert f"but {afile} is a file" in err
    assert afile.read_text() == "mine" and capsys.readouterr().out == ""


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
@pytest.mark.usefixtures("no_work")
@pytest.mark.parametrize("output", OUTPUTS)
def test_unwritable_output_is_refused_before_the_work(
    output: str, capsys: pytest.CaptureFixture[str]
) -> None:
    command, argv, name = OUTPUTS[output]
    path = f"/proc/losskit-test/{name}"
    err = _usage_error(capsys, [*argv, path], command)
    assert f"{argv[-1]} needs a path losskit can write; got {path}, but /proc cannot be " in err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
@pytest.mark.usefixtures("no_work")
@pytest.mark.parametrize("output", OUTPUTS)
def test_read_only_folder_is_refused_before_the_work(
    output: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command, argv, name = OUTPUTS[output]
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        err = _usage_error(capsys, [*argv, str(folder / name)], command)
    finally:
        folder.chmod(0o700)
    assert f"but {folder} cannot be written (Permission denied)" in err
    assert list(folder.iterdir()) == []  # the check leaves nothing behind


@pytest.mark.usefixtures("no_work")
@pytest.mark.parametrize(
    ("argv", "command", "message"),
    [
        (["explain", "l1_loss", "--out", "{tmp}"], "explain", "--out must end in .png"),
        (["explain", "l1_loss", "--out", "{tmp}/f.png"], "explain", "--out must be a file, not"),
        (["bench", "--markdown", "{tmp}"], "bench", "--markdown must be a file, not a folder"),
        (["bench", "--json", "{tmp}"], "bench", "--json must be a file, not a folder"),
        (["simulate", "boxes", "--out", "{tmp}/f.png"], "simulate boxes", "--out must be a file"),
        (["demo", "--out", "{tmp}/somefile.txt"], "demo", "--out must be a folder; got"),
    ],
)
def test_output_of_the_wrong_kind_is_refused(
    argv: list[str], command: str, message: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    (tmp_path / "f.png").mkdir()  # a folder where a file is wanted
    (tmp_path / "somefile.txt").write_text("mine")  # a file where a folder is wanted
    err = _usage_error(capsys, [a.format(tmp=tmp_path) for a in argv], command)
    assert message in err


@pytest.mark.usefixtures("no_work")
@pytest.mark.parametrize("name", ["fig.txt", "fig", "fig.png.bak"])
def test_explain_refuses_a_format_it_does_not_write(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / name
    err = _usage_error(capsys, ["explain", "l1_loss", "--out", str(out)], "explain")
    assert f"--out must end in .png, .pdf or .svg; got {out}" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("suffix", "head"), [(".svg", b"<?xml"), (".pdf", b"%PDF"), (".PNG", b"\x89PNG")]
)
def test_explain_writes_svg_and_pdf(suffix: str, head: bytes, tmp_path: Path) -> None:
    out = tmp_path / "new folder" / f"l1{suffix}"
    assert main(["explain", "l1_loss", "--out", str(out)]) == 0
    assert out.read_bytes().startswith(head)


@pytest.mark.usefixtures("no_work")
@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--threads", "0", "--threads must be >= 1; got 0"),
        ("--threads", "-2", "--threads must be >= 1; got -2"),
        ("--min-run-time", "0", "--min-run-time must be a number of seconds > 0; got 0.0"),
        ("--min-run-time", "nan", "--min-run-time must be a number of seconds > 0; got nan"),
    ],
)
def test_bench_refuses_bad_numbers_before_running(
    option: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _usage_error(capsys, ["bench", "--name", "l1_loss", option, value], "bench")
    assert message in err


@pytest.mark.usefixtures("no_work")
def test_bench_refuses_cuda_without_cuda(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    err = _usage_error(capsys, ["bench", "--device", "cuda"], "bench")
    assert "--device cuda needs CUDA" in err


@pytest.mark.usefixtures("no_work")
def test_bench_refuses_names_it_would_silently_skip(capsys: pytest.CaptureFixture[str]) -> None:
    from losskit.bench import cases

    err = _usage_error(capsys, ["bench", "--family", "regression", "--name", "arcface"], "bench")
    assert "--name arcface_loss is in family 'margin'; got --family regression" in err
    without = next(n for n in REGISTRY.names() if n not in cases())
    err = _usage_error(capsys, ["bench", "--name", without], "bench")
    assert f"--name {without}: this loss has no benchmark case" in err


def test_unknown_name_is_one_line_with_suggestions(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("bench", "explain"):
        argv = ["bench", "--name", "arcfase"] if command == "bench" else ["explain", "arcfase"]
        err = _usage_error(capsys, argv, command)
        assert err.startswith(f"losskit {command}: no loss named 'arcfase'; did you mean ")


def test_bench_writes_outputs_into_a_new_folder(tmp_path: Path) -> None:
    md, js = tmp_path / "new" / "b.md", tmp_path / "new" / "b.json"
    argv = ["bench", "--name", "l1_loss", "--no-memory", "--min-run-time", "0.01"]
    assert main([*argv, "--markdown", str(md), "--json", str(js)]) == 0
    assert "| l1_loss |" in md.read_text()
    assert {r["impl"] for r in json.loads(js.read_text())} == {"losskit", "torch"}


# --- a rerun of `losskit demo` removes what the last run wrote, and only that ----------------


def _fake_report(monkeypatch: pytest.MonkeyPatch, figures: list[str], fail: bool = False) -> None:
    """Make the report one section that saves ``figures`` (then fails if ``fail``)."""
    import losskit.report
    from losskit.report._base import Section, pyplot

    def section(ctx):
        plt = pyplot()
        sec = Section("fake", "Fake", "intro")
        for name in figures:
            fig, _ = plt.subplots(figsize=(1, 1))
            sec.figures.append(ctx.save_figure(fig, name, name))
        if fail:
            raise RuntimeError("the section failed")
        return sec

    monkeypatch.setattr(losskit.report, "SECTIONS", [("fake", "fake.module")])
    monkeypatch.setattr(losskit.report, "_load", lambda module: section)


def test_demo_rerun_keeps_user_files_and_removes_stale_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from losskit.report import MARKER

    out = tmp_path / "report"
    _fake_report(monkeypatch, ["old_figure", "kept_figure"])
    assert main(["demo", "--out", str(out)]) == 0
    assert (out / "old_figure.png").exists()
    mine = ["notes.png", "notes.html", "style.css", "data.json", "notes.txt"]
    for name in mine:
        (out / name).write_text("mine")
    (out / "figures").mkdir()
    _fake_report(monkeypatch, ["kept_figure", "new_figure"])
    assert main(["demo", "--out", str(out)]) == 0
    assert not (out / "old_figure.png").exists()  # the last run's figure, not drawn now
    for name in ("kept_figure.png", "new_figure.png", "index.html"):
        assert (out / name).stat().st_size > 0
    for name in mine:
        assert (out / name).read_text() == "mine", name
    assert (out / "figures").is_dir()
    listed = (out / MARKER).read_text().splitlines()[1:]
    assert sorted(listed) == ["index.html", "kept_figure.png", "new_figure.png"]


def test_demo_rerun_after_a_failed_run_removes_what_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report"
    _fake_report(monkeypatch, ["half_done"], fail=True)
    with pytest.raises(RuntimeError, match="the section failed"):
        main(["demo", "--out", str(out)])
    assert (out / "half_done.png").exists()
    _fake_report(monkeypatch, ["whole"])
    assert main(["demo", "--out", str(out)]) == 0
    assert not (out / "half_done.png").exists() and (out / "whole.png").exists()


def test_demo_rerun_removes_only_names_inside_its_folder(tmp_path: Path) -> None:
    from losskit.report import prepare_folder, write_marker

    out = tmp_path / "report"
    out.mkdir()
    (tmp_path / "outside.png").write_text("mine")
    (out / "sub").mkdir()
    (out / "sub" / "inner.png").write_text("mine")
    write_marker(out, ["../outside.png", str(tmp_path / "outside.png"), "sub", "sub/inner.png"])
    prepare_folder(out)
    assert (tmp_path / "outside.png").read_text() == "mine"
    assert (out / "sub" / "inner.png").read_text() == "mine"


def test_demo_rerun_over_a_report_of_an_older_losskit(tmp_path: Path) -> None:
    """Its marker lists no files: it wrote index.html and the figures that page shows."""
    from losskit.report import MARKER, prepare_folder

    (tmp_path / MARKER).write_text("This folder was written by `losskit demo`.\n")
    (tmp_path / "index.html").write_text('<img src="old_loss.png" alt="a"><img src="a&amp;b.png">')
    for name in ("old_loss.png", "a&b.png", "notes.png"):
        (tmp_path / name).write_text(name)
    prepare_folder(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [MARKER, "notes.png"]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import losskit

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"losskit {losskit.__version__}"


@pytest.mark.parametrize(
    ("argv", "near"),
    [
        (["demo", "--section", "regresion"], "regression"),
        (["bench", "--family", "overlapp"], "overlap"),
        (["list", "--family", "margins"], "margin"),
        (["bench", "--device", "cudaa"], "cuda"),
    ],
)
def test_unknown_choice_lists_the_choices_and_the_nearest(
    argv: list[str], near: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2  # the same code as every other usage error
    err = capsys.readouterr().err
    assert "choose from" in err and f"did you mean {near!r}?" in err


def test_list_fits_100_columns_and_json_keeps_the_full_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["list"]) == 0
    table = capsys.readouterr().out
    assert max(len(line) for line in table.splitlines()) <= 100
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    longest = max((", ".join(r["peers"]) for r in rows), key=len)
    assert longest not in table  # clipped in the table ...
    assert longest[:15] in table  # ... after its start


def test_bench_skips_a_missing_peer_with_a_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from losskit import bench as bench_cases
    from losskit.bench import BenchCase

    def setup(device):
        import losskit_no_such_peer  # noqa: F401

    fake = {"l1_loss": (BenchCase("a case whose peer is missing", setup),)}
    monkeypatch.setattr(bench_cases, "cases", lambda: fake)
    monkeypatch.setattr("losskit.cli.bench.cases", lambda: fake)
    rows = run(names=["l1_loss"], memory=False, min_run_time=0.01)
    assert rows == []
    err = capsys.readouterr().err
    assert "skipping l1_loss" in err and "'losskit_no_such_peer' is not installed" in err


def test_a_closed_pipe_is_not_an_error(tmp_path: Path) -> None:
    # `losskit list --json | head -c 10`: the reader goes away after 10 bytes (the JSON is
    # larger than a pipe's buffer, so the writer meets the closed pipe): exit 0, no traceback
    exe = Path(sys.executable).with_name("losskit")
    proc = subprocess.Popen(
        [str(exe), "list", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(10) == b'[\n  {\n    '
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 0 and err == ""


def test_bench_and_simulate_show_a_progress_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each long step advances a rich progress bar: one step a benchmark case, one an
    # iteration of the simulation
    from losskit.cli import bench, simulate

    update, bar = bench._progress(3)
    update("l1_loss", 2)
    assert bar is not None and bar.tasks[0].completed == 2
    assert bar.tasks[0].description == "l1_loss"
    update, bar = simulate._progress(10)
    for t in range(1, 6):
        update("exact giou", t, 5)
    assert bar is not None and bar.tasks[0].completed == 5
    assert bar.tasks[0].description == "exact giou"
    # and the commands drive them: every iteration of every loss of the simulation
    seen: list[tuple[str, int]] = []
    real = simulate._progress

    def recording(total: int):
        update, bar = real(total)
        seen.append(("total", total))
        return (lambda label, t, n: (seen.append((label, t)), update(label, t, n))), bar

    monkeypatch.setattr(simulate, "_progress", recording)
    out = tmp_path / "sim.png"
    args = ["simulate", "boxes", "--points", "2", "--iterations", "4", "--out", str(out)]
    assert main([*args, "--gradients", "exact"]) == 0
    total = seen[0][1]
    assert len(seen) - 1 == total and seen[-1][1] == 4


def test_the_report_times_the_whole_command(tmp_path: Path) -> None:
    # run as the `losskit` command, the page's time starts with the process: Python's start
    # and the imports are part of what a person waits for
    exe = Path(sys.executable).with_name("losskit")
    out = tmp_path / "report"
    subprocess.run(
        [str(exe), "demo", "--quick", "--section", "regression", "--out", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    html = (out / "index.html").read_text()
    m = re.search(
        r"Generated in (\d+\.\d) s, the whole <code>losskit demo --quick</code> command "
        r"\((\d+\.\d) s of it starting Python and importing torch; (\d+\.\d) s the sections\)",
        html,
    )
    assert m, html[:2000]
    total, startup, sections = map(float, m.groups())
    assert startup > 0 and abs(total - startup - sections) <= 0.11
