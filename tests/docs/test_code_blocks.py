"""Every ```python block of the README and the documentation runs as written, each in a fresh
namespace (a block must import what it uses), so none can rot.

A block that uses ``losskit.distributed`` runs inside a one-process gloo group (what
``torchrun --nproc_per_node=1`` would give it). Shell blocks (```bash) are not run here; the
commands they show are tested by the CLI tests.

A template (CONTRIBUTING.md's skeleton of a new loss, with ``<...>`` where the contributor
writes) is marked by the line ``<!-- template: parsed, not run -->`` right above its fence: it
must still parse as Python.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
TEMPLATE = "<!-- template: parsed, not run -->"


def _blocks() -> list[tuple[str, int, str, bool]]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), ROOT / "CONTRIBUTING.md"]
    out = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        for m in _BLOCK.finditer(text):
            line = text[: m.start()].count("\n") + 1
            template = text[: m.start()].rstrip("\n").endswith(TEMPLATE)
            out.append((str(path.relative_to(ROOT)), line, m.group(1), template))
    return out


BLOCKS = _blocks()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(("path", "line", "code", "template"), BLOCKS,
                         ids=[f"{p}:{n}" for p, n, _, _ in BLOCKS])
def test_python_block_runs(path: str, line: int, code: str, template: bool, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    compiled = compile(code, f"{path}:{line}", "exec")
    if template:
        return  # a template parses; its <...> parts are the contributor's to write
    monkeypatch.chdir(tmp_path)  # a block that writes files writes them here
    torch.manual_seed(0)
    distributed = "losskit.distributed" in code
    if distributed:
        import torch.distributed as dist

        monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
        monkeypatch.setenv("MASTER_PORT", str(_free_port()))
        dist.init_process_group("gloo", rank=0, world_size=1)
    try:
        exec(compiled, {"__name__": "__block__"})
    finally:
        if distributed:
            dist.destroy_process_group()
    assert os.getcwd() == str(tmp_path)


def test_there_are_blocks_to_run() -> None:
    assert any(p == "README.md" and not t for p, _, _, t in BLOCKS)
    # templates are the exception: only CONTRIBUTING.md's skeletons
    assert {p for p, _, _, t in BLOCKS if t} <= {"CONTRIBUTING.md", "docs/contributing.md"}
