"""The report in a real browser: headless Chromium (Debian's package) opens index.html from
disk; every image must load with a non-zero size and the page must log no console error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

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
        browser.close()
    assert len(images) >= 10, f"the report has only {len(images)} images"
    for src, complete, w, h in images:
        assert complete and w > 0 and h > 0, f"image {src} did not load"
    assert errors == []
    assert "Claims checked:" in summary
