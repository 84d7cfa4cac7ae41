"""`losskit demo --quick`: every section, figure and number of the report is there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from losskit.report import SECTIONS, Claim, Section, write_html

#: under pytest-xdist (make test), one worker runs this module: its fixtures are built once
pytestmark = pytest.mark.xdist_group("quick_report")


@pytest.mark.slow
def test_every_section_is_in_the_report(quick_report) -> None:
    _, html = quick_report
    for key, _module in SECTIONS:
        assert f'<section id="{key}">' in html, key
        assert f'href="#{key}"' in html  # table of contents


@pytest.mark.slow
def test_every_figure_exists_and_is_a_png(quick_report) -> None:
    out, html = quick_report
    srcs = re.findall(r'<img src="([^"]+)"', html)
    assert len(srcs) >= 2 * len(SECTIONS) - 1
    for src in srcs:
        data = (out / src).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000, src


@pytest.mark.slow
def test_every_section_checks_claims_and_the_summary_adds_up(quick_report) -> None:
    _, html = quick_report
    sections = html.split('<section id="')[1:]
    for sec in sections:
        assert 'class="claim"' in sec, sec[:40]
        assert "measured:" in sec
    held = html.count("&#10003; holds")
    not_held = html.count("&#10007; does not hold")
    assert f"Claims checked: {held + not_held}, held: {held}, not held: {not_held}." in html


def test_a_claim_that_does_not_hold_is_shown(tmp_path: Path) -> None:
    sec = Section(
        "x", "X", "intro", claims=[Claim("A holds", True, "1"), Claim("B fails", False, "2")]
    )
    html = write_html(tmp_path, [sec], 0.1).read_text()
    assert "Claims checked: 2, held: 1, not held: 1." in html
    assert '<span class="not-held">&#10007; does not hold</span>: B fails' in html


@pytest.mark.slow
def test_docs_list_every_claim_the_report_checks(quick_report) -> None:
    """docs/claims.md lists each claim of the report, so a reader can see what is checked
    and where it comes from without running it."""
    import html as htmllib

    _, page = quick_report
    texts = re.findall(r'<li class="claim"(?: id="[^"]+")?><span class="[^"]+">[^<]+</span>: (.*?)<br>', page)
    docs = (Path(__file__).resolve().parents[2] / "docs" / "claims.md").read_text("utf-8")
    assert len(texts) >= 50
    missing = [t for t in map(htmllib.unescape, texts) if f"- {t}\n" not in docs]
    assert missing == []
    # the heading's count is the number of claims listed under it
    listed = docs.split("## The claims the report checks")[1]
    count = re.match(r" \((\d+)\)", listed)
    assert count and int(count.group(1)) == len(re.findall(r"^- ", listed, re.M))
