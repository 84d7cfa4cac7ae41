from __future__ import annotations

from pathlib import Path

import pytest
import torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    return torch.device(request.param)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`losskit demo --quick`, run once per test session: (folder, index.html text)."""
    from losskit.cli.main import main

    out = tmp_path_factory.mktemp("demo") / "report"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    return out, (out / "index.html").read_text(encoding="utf-8")
