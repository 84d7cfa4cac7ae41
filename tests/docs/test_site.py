"""The documentation site: `mkdocs build --strict` (a broken link, a missing reference or a
docstring that does not render is an error), every public function and module on its
reference page, and, in headless Chromium, the navigation to `arcface_loss` and the search."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from losskit import functional as F

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", **__import__("os").environ},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return out


def test_every_public_loss_has_a_reference_entry(site: Path) -> None:
    for family in F.FAMILIES:
        short = family.__name__.rsplit(".", 1)[1]
        html = (site / "reference" / f"{short}.html").read_text(encoding="utf-8")
        for name in family.__all__:
            anchor = f'id="{family.__name__}.{name}"'
            assert anchor in html, f"{name} has no entry on reference/{short}.html"


def test_vocabulary_and_benchmark_pages_are_generated(site: Path) -> None:
    vocabulary = (site / "vocabulary.html").read_text(encoding="utf-8")
    assert "ignore_index" in vocabulary and "<table>" in vocabulary
    benchmarks = (site / "benchmarks.html").read_text(encoding="utf-8")
    for path in (ROOT / "benchmarks").glob("results-*.md"):
        assert path.name in benchmarks


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # no access log in the test output
            pass

    class Quiet(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):  # a closed connection: not an error
            pass

    server = Quiet(("127.0.0.1", 0), functools.partial(Handler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.mark.browser
@pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium: `apt-get install chromium` (.ci/run installs it)"
)
def test_site_navigation_and_search_in_headless_chromium(served: str) -> None:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{served}/index.html")
        # the navigation: the API reference, then the angular-margin page, then arcface_loss
        page.locator("nav a[href$='reference/index.html']").first.click()
        page.wait_for_url("**/reference/index.html")
        page.locator("nav a[href$='margin.html']:not([href*='families'])").first.click()
        page.wait_for_url("**/reference/margin.html")
        entry = page.locator("[id='losskit.functional.margin.arcface_loss']")
        assert entry.count() == 1
        entry.scroll_into_view_if_needed()
        assert entry.is_visible()
        # the search (a web worker over search/search_index.json) finds the focal loss
        page.goto(f"{served}/index.html")
        query = page.locator("input[data-md-component='search-query']")
        query.click()  # at 1400 px the search box sits in the header
        query.press_sequentially("focal", delay=50)  # key events drive the search
        page.wait_for_selector(".md-search-result__item", timeout=15000)
        results = page.inner_text(".md-search-result")
        browser.close()
    assert "focal" in results.lower(), results[:500]
    assert errors == [], errors
