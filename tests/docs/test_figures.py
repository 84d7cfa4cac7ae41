"""The report's figures on the family pages: every page shows its figures (docs/figures/,
written by `make docs-figures`), each one exists, and the list matches what the report draws
(that half, which needs a report, is in tests/cli/test_demo_report.py)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "docs" / "figures"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_family_page_shows_its_figures() -> None:
    pages = _module("_figures").PAGES
    on_disk = {p.stem for p in (ROOT / "docs" / "families").glob("*.md")}
    assert set(pages) == on_disk
    for page in pages:
        text = (ROOT / "docs" / "families" / f"{page}.md").read_text("utf-8")
        assert re.findall(r"<!-- losskit:figures (\S+) -->", text) == [page]


def test_every_figure_a_page_shows_exists() -> None:
    hooks = _module("_hooks")
    listed = json.loads((FIGURES / "figures.json").read_text("utf-8"))
    shown: set[str] = set()
    for page in listed:
        text = (ROOT / "docs" / "families" / f"{page}.md").read_text("utf-8")
        block = hooks.on_page_markdown(text)
        images = re.findall(r"!\[[^\]]*(?:\\\][^\]]*)*\]\(\.\./figures/([^)]+)\)", block)
        assert images == [f["file"] for f in listed[page]], page
        for f in listed[page]:
            assert f["caption"] in block.replace("\\[", "[").replace("\\]", "]")
            assert f"index.html#{f['section']}" in block
        shown.update(images)
    for name in shown:
        assert (FIGURES / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    # no figure left over from an earlier list
    assert {p.name for p in FIGURES.glob("*.png")} == shown


def test_page_figures_reads_a_report(tmp_path: Path) -> None:
    # a report with two sections: the page takes its sections' figures, then its atlas ones
    figures = _module("_figures")
    page = (
        '<section id="regression"><h2>Regression &amp; co<a class="top" href="#summary">up</a></h2>'
        '<figure><a href="r.png" title="t"><img src="r.png" alt="R &lt;1&gt;"></a></figure>'
        "</section>"
        '<section id="atlas"><h2>Atlas<a class="top" href="#summary">up</a></h2>'
        '<figure class="wide"><a href="atlas_regression.png"><img src="atlas_regression.png" '
        'alt="A"></a></figure><figure><a href="atlas_box.png"><img src="atlas_box.png" alt="B">'
        "</a></figure></section>"
    )
    sections = figures.report_figures(page)
    assert sections["regression"] == ("Regression & co", [("r.png", "R <1>")])
    figures.PAGES = {"regression": (("regression",), ("regression",))}
    assert figures.page_figures(page) == {
        "regression": [
            {"file": "r.png", "caption": "R <1>", "section": "regression",
             "title": "Regression & co"},
            {"file": "atlas_regression.png", "caption": "A", "section": "atlas", "title": "Atlas"},
        ]
    }  # fmt: skip
