"""The package as a user installs it: the sdist holds what a build needs; a wheel built from
that sdist installs into a fresh virtual environment outside the repository and works there
(imports the installed copy, computes a loss, runs the `losskit` command); the metadata has
one version, the licence and a torch dependency with a lower bound only."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tarfile
import venv
from pathlib import Path

import pytest

import losskit

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _run(*cmd: str, cwd: Path) -> str:
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert out.returncode == 0, f"{' '.join(cmd)}\n{out.stdout}\n{out.stderr}"
    return out.stdout


def test_sdist_and_wheel_install_and_run_outside_the_repository(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(dist),
         str(ROOT), cwd=tmp_path)  # fmt: skip
    (sdist,) = dist.glob("losskit-*.tar.gz")
    assert sdist.name == f"losskit-{losskit.__version__}.tar.gz"
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
        tar.extractall(tmp_path / "src", filter="data")
    top = f"losskit-{losskit.__version__}"
    for needed in ("LICENSE", "README.md", "pyproject.toml", "src/losskit/__init__.py",
                   "src/losskit/py.typed"):  # fmt: skip
        assert f"{top}/{needed}" in names, f"the sdist lacks {needed}"
    # the wheel from the unpacked sdist, not from the working tree
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(tmp_path / "src" / top), cwd=tmp_path)  # fmt: skip
    (wheel,) = dist.glob("losskit-*.whl")

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    # the dependencies (torch, numpy) come from this environment's site-packages, appended
    # after the fresh environment's own: losskit itself is only the wheel's copy
    purelib = Path(_run(str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                        cwd=tmp_path).strip())  # fmt: skip
    (purelib / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel), cwd=tmp_path)
    code = (
        "import losskit, torch, importlib.metadata as md;"
        "print(losskit.__file__);"
        "print(md.version('losskit'));"
        "print(md.metadata('losskit')['License-Expression']);"
        "print([r for r in md.requires('losskit') if r.startswith('torch') and 'extra' not in r]);"
        "print(float(losskit.l1_loss(torch.zeros(2), torch.ones(2))))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([str(py), "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    where, version, licence, torch_req, value = out.stdout.strip().splitlines()
    assert where.startswith(str(env_dir)), f"imported {where}, not the installed wheel"
    assert version == losskit.__version__
    assert licence == "MIT"
    assert torch_req == "['torch>=2.4']", torch_req  # a lower bound only
    assert float(value) == 1.0
    cli = subprocess.run([str(env_dir / "bin" / "losskit"), "list"], cwd=tmp_path,
                         capture_output=True, text=True, env=env)  # fmt: skip
    assert cli.returncode == 0 and "arcface_loss" in cli.stdout, cli.stderr
