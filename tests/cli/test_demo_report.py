"""`losskit demo --quick`: every section, figure and number of the report is there."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from losskit.report import SECTIONS, Claim, Section, write_html

# The quick report is built once per session (conftest.quick_report); under pytest-xdist
# (`make test`, --dist loadfile) one worker runs this whole file, so it is built once there too.


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


# ------------------------------------------------------------------ in a real browser
# headless Chromium (Debian's package) opens index.html from disk; every image must load with
# a non-zero size and the page must log no console error

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(quick_report: tuple[Path, str]) -> Path:
    return quick_report[0]  # the whole quick report (every section), built once per session


@pytest.mark.browser
@pytest.mark.skipif(
    CHROMIUM is None,
    reason="needs Chromium: `apt-get install chromium` (.ci/run installs it)",
)
def test_report_opens_in_headless_chromium(report: Path) -> None:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
        page.goto((report / "index.html").as_uri())
        page.wait_for_load_state("load")
        images = page.eval_on_selector_all(
            "img",
            "els => els.map(e => [e.getAttribute('src'), e.complete, e.naturalWidth, e.naturalHeight])",
        )
        summary = page.inner_text("#summary")
        # every figure opens at full size: the image is a link to its own file
        linked = page.eval_on_selector_all(
            "figure img", "els => els.map(e => [e.getAttribute('src'), e.closest('a') && e.closest('a').getAttribute('href')])"
        )
        # every claim has an anchor; the summary links to every claim that does not hold
        claim_ids = page.eval_on_selector_all("li.claim", "els => els.map(e => e.id)")
        not_held = page.eval_on_selector_all(
            "li.claim", "els => els.filter(e => e.querySelector('.not-held')).map(e => e.id)"
        )
        summary_links = page.eval_on_selector_all(
            "#summary a", "els => els.map(e => e.getAttribute('href'))"
        )
        assert page.locator("meta[name=viewport]").count() == 1
        layout = {}
        for width in (1400, 800, 390):
            page.set_viewport_size({"width": width, "height": 900})
            layout[width] = page.evaluate(
                "[document.documentElement.scrollWidth,"
                " Array.from(document.images).map(i => [i.naturalWidth, i.getBoundingClientRect().width])]"
            )
        browser.close()
    assert len(images) >= 10, f"the report has only {len(images)} images"
    for src, complete, w, h in images:
        assert complete and w > 0 and h > 0, f"image {src} did not load"
    assert errors == []
    assert "Claims checked:" in summary
    for src, href in linked:
        assert href == src, f"figure {src} does not open at full size"
    assert all(claim_ids) and len(set(claim_ids)) == len(claim_ids)
    for anchor in not_held:
        assert f"#{anchor}" in summary_links, f"the summary does not link to {anchor}"
    for width, (scroll_width, sizes) in layout.items():
        assert scroll_width <= width, f"the page scrolls sideways at {width} px"
        for natural, shown in sizes:
            assert 0 < shown <= natural + 2  # never blown up past its pixels (+ the 1 px border)
    # at 1400 px a wide figure (the DIoU simulation, the atlas) uses the page's width
    wide = [(n, s) for n, s in layout[1400][1] if n > 1000]
    assert wide and all(s >= min(n, 1100) for n, s in wide)
