"""The report in a real browser: headless Chromium (Debian's package) opens index.html from
disk; every image must load with a non-zero size and the page must log no console error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

#: under pytest-xdist (make test), one worker runs this module: its fixtures are built once
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("quick_report")]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(quick_report: tuple[Path, str]) -> Path:
    return quick_report[0]  # the whole quick report (every section), built once per session


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
