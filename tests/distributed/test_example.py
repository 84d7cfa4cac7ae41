"""The README's distributed example runs under torchrun with 2 CPU processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_example_trains_and_keeps_replicas_identical() -> None:
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
        str(ROOT / "examples" / "train_distributed.py"), "--epochs", "2",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = [line for line in res.stdout.splitlines() if line.startswith(("epoch", "test"))]
    assert lines[0].startswith("epoch 1: loss") and lines[1].startswith("epoch 2: loss")
    first, second = (float(line.split()[-1]) for line in lines[:2])
    assert second < first  # it learns
    assert lines[-1].endswith("backbone replicas identical: True")
    acc = float(lines[-1].split()[2].rstrip(";"))
    assert acc > 0.8
