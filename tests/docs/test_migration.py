"""Every row of a migration guide names the test that backs it: the test must exist, so a
renamed or deleted parity test cannot leave a guide's claim unbacked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDES = sorted((ROOT / "docs" / "migration").glob("*.md"))
_REF = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


@pytest.mark.parametrize("guide", GUIDES, ids=[g.stem for g in GUIDES])
def test_every_row_names_an_existing_test(guide: Path) -> None:
    text = guide.read_text(encoding="utf-8")
    lines = text.splitlines()
    # table body rows: lines of a table that are neither a header (followed by |---) nor
    # the separator itself
    body = [
        line
        for i, line in enumerate(lines)
        if line.startswith("|")
        and not line.startswith("|---")
        and not (i + 1 < len(lines) and lines[i + 1].startswith("|---"))
    ]
    refs = _REF.findall(text)
    assert refs and body, f"{guide.name} names no test"
    for row in body:
        assert _REF.search(row), f"{guide.name}: a row without its test: {row[:80]}"
    for path, name in refs:
        source = (ROOT / path).read_text(encoding="utf-8")
        assert re.search(rf"^def {name}\(", source, re.M), f"{guide.name}: {path}::{name} is missing"
