"""The migration guides and the "Which loss should I use?" guide hold only checked claims.

Every table row of a migration guide names the test that backs it, and a named test must
exist, so a renamed or deleted parity test cannot leave a guide's claim unbacked. A row may
say "not tested" only where the peer truly cannot be compared: the row states the reason
and this file accepts it explicitly (``_UNTESTABLE``). Every `losskit.…` name a guide writes must exist in losskit, every guide must be
in the site's navigation, and every link of the which-loss guide to a reference entry must
point at a function or class that page documents."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from losskit import functional as F

ROOT = Path(__file__).resolve().parents[2]
GUIDES = sorted((ROOT / "docs" / "migration").glob("*.md"))
WHICH_LOSS = ROOT / "docs" / "guide" / "which-loss.md"
_REF = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
_CODE = re.compile(r"`([^`]+)`")
_NAME = re.compile(r"(?<![\w.])losskit(?:\.\w+)+")
_UNTESTED = "not tested"
#: the rows allowed to say "not tested": (guide, the row's first cell) -> the reason the peer
#: cannot be compared, which the row must state. Empty: every row names its test.
_UNTESTABLE: dict[tuple[str, str], str] = {}


def _table_rows(text: str) -> list[str]:
    """Table body rows: lines of a table that are neither a header (followed by |---) nor
    the separator itself."""
    lines = text.splitlines()
    return [
        line
        for i, line in enumerate(lines)
        if line.startswith("|")
        and not line.startswith("|---")
        and not (i + 1 < len(lines) and lines[i + 1].startswith("|---"))
    ]


def _row_problem(guide: str, row: str) -> str | None:
    """What is wrong with a table row of ``guide`` (its stem), or None: it must name a test,
    and it may say "not tested" only with a reason ``_UNTESTABLE`` accepts for it."""
    reason = _UNTESTABLE.get((guide, row.split("|")[1].strip()))
    if _UNTESTED in row:
        if reason is None:
            return "says 'not tested' without an accepted reason"
        return None if reason in row else f"does not state its accepted reason ({reason})"
    if reason is not None:
        return "is accepted as untestable but no longer says 'not tested'"
    return None if _REF.search(row) else "names no test"


def _resolve(dotted: str) -> object:
    """The object a dotted ``losskit.…`` name denotes: the longest importable module
    prefix, then attributes. Raises AttributeError or ImportError if there is none."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def test_there_are_guides() -> None:
    names = {g.stem for g in GUIDES}
    assert {"torchvision", "pytorch-metric-learning", "monai", "segmentation-models-pytorch",
            "timm"} <= names  # fmt: skip


@pytest.mark.parametrize("guide", GUIDES, ids=[g.stem for g in GUIDES])
def test_every_row_names_an_existing_test(guide: Path) -> None:
    text = guide.read_text(encoding="utf-8")
    body = _table_rows(text)
    refs = _REF.findall(text)
    assert refs and body, f"{guide.name} names no test"
    problems = [(row[:80], _row_problem(guide.stem, row)) for row in body]
    assert not [p for p in problems if p[1]], f"{guide.name}: {[p for p in problems if p[1]]}"
    for path, name in refs:
        file = ROOT / path
        assert file.is_file(), f"{guide.name}: {path} does not exist"
        source = file.read_text(encoding="utf-8")
        assert re.search(rf"^\s*def {name}\(", source, re.M), (
            f"{guide.name}: {path}::{name} is missing"
        )


@pytest.mark.parametrize("guide", GUIDES, ids=[g.stem for g in GUIDES])
def test_every_losskit_name_exists(guide: Path) -> None:
    names = {
        name
        for code in _CODE.findall(guide.read_text(encoding="utf-8"))
        for name in _NAME.findall(code)
    }
    assert names, f"{guide.name} names nothing in losskit"
    missing = []
    for name in sorted(names):
        try:
            _resolve(name)
        except (ImportError, AttributeError):
            missing.append(name)
    assert not missing, f"{guide.name}: not in losskit: {missing}"


def test_untestable_rows_are_accepted_explicitly() -> None:
    # every accepted exception names a row of an existing guide
    rows = {(g.stem, r.split("|")[1].strip()) for g in GUIDES for r in _table_rows(g.read_text())}
    assert not set(_UNTESTABLE) - rows, set(_UNTESTABLE) - rows
    # the row check can fail: "not tested" alone, a row without a test, and a stale exception
    ref = "`tests/docs/test_migration.py::test_there_are_guides`"
    assert _row_problem("timm", f"| `A()` | `losskit.a()` | {ref} |") is None
    assert "accepted reason" in _row_problem("timm", "| `A()` | `losskit.a()` | not tested |")
    assert _row_problem("timm", f"| `A()` | `losskit.a()` | {ref} (not tested against timm) |")
    assert _row_problem("timm", "| `A()` | `losskit.a()` | against a loop |") == "names no test"
    _UNTESTABLE[("timm", "`A()`")] = "timm has no such call"
    try:
        assert _row_problem("timm", "| `A()` | - | not tested: timm has no such call |") is None
        assert "state its" in _row_problem("timm", "| `A()` | - | not tested |")
        assert "no longer" in _row_problem("timm", f"| `A()` | `losskit.a()` | {ref} |")
    finally:
        del _UNTESTABLE[("timm", "`A()`")]


def test_resolve_can_fail() -> None:
    assert _resolve("losskit.nn.DiceLoss") is importlib.import_module("losskit.nn").DiceLoss
    assert _resolve("losskit.miners.BatchHardMiner").__name__ == "BatchHardMiner"
    with pytest.raises(AttributeError):
        _resolve("losskit.no_such_loss")
    with pytest.raises(AttributeError):
        _resolve("losskit.nn.NoSuchLoss")


def test_guides_are_in_the_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in [*GUIDES, WHICH_LOSS]:
        rel = page.relative_to(ROOT / "docs").as_posix()
        assert re.search(rf":\s*{re.escape(rel)}\s*$", nav, re.M), f"{rel} is not in mkdocs.yml nav"


def test_which_loss_links_point_at_documented_entries() -> None:
    text = WHICH_LOSS.read_text(encoding="utf-8")
    links = re.findall(r"\]\(\.\./reference/(\w+)\.md#([\w.]+)\)", text)
    assert len(links) >= 10, "the which-loss guide links its recommendations to the reference"
    families = {fam.__name__.rsplit(".", 1)[1]: fam for fam in F.FAMILIES}
    for page, anchor in links:
        assert page in families, f"which-loss.md links reference/{page}.md, not a family page"
        module, _, name = anchor.rpartition(".")
        assert module == families[page].__name__, f"#{anchor} is not on reference/{page}.md"
        assert name in families[page].__all__, f"{name} is not documented on reference/{page}.md"
