"""`losskit demo --quick`: every section, figure and number of the report is there."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch

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


def test_a_claim_the_quick_run_cannot_decide_says_so(tmp_path: Path) -> None:
    # counted apart (neither held nor failed), marked, and listed with a link in the summary
    sec = Section(
        "x",
        "X",
        "intro",
        claims=[Claim("A holds", True, "1"), Claim("C later", False, "3", checked=False)],
    )
    html = write_html(tmp_path, [sec], 0.1).read_text()
    assert "Claims checked: 1, held: 1, not held: 0. Checked in the full run only: 1." in html
    assert "&#10007;" not in html and "Claims that do not hold" not in html
    assert (
        '<li class="claim" id="claim-x-2"><span class="unchecked">&#9675; checked in the full '
        "run only</span>: C later" in html
    )
    assert '<a href="#claim-x-2">C later</a>' in html.split('id="summary"')[1].split("</div>")[0]
    assert "(1 of 1 claims hold; 1 checked in the full run only)" in html


@pytest.mark.slow
def test_the_quick_run_shows_no_false_failure(quick_report) -> None:
    # the one claim that does not hold in the quick run does not hold in the full run either
    # (the DIoU paper's "DIoU converges faster than GIoU", with exact gradients: see
    # docs/families/box.md); MagFace's norm claim needs the full run's epochs, and the atlas's
    # "every loss drawn" its figures (the quick run draws none), and they say so
    _, html = quick_report
    failed = re.findall(r'<span class="not-held">[^<]+</span>: ([^<]+)<br>', html)
    assert len(failed) == 1 and "DIoU loss converges faster than GIoU" in failed[0]
    assert "with exact gradients" in failed[0]
    later = re.findall(r'<span class="unchecked">[^<]+</span>: ([^<]+)<br>', html)
    assert len(later) == 2
    assert later[0].startswith("MagFace trains the feature magnitude")
    assert later[1].startswith("Every loss of the library, the PyTorch catalogue included")
    assert "Checked in the full run only: 2." in html


def test_a_second_process_runs_its_sections_into_the_same_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # build_report runs report.QUICK_BACKGROUND (quick) or report.BACKGROUND in `python -m
    # losskit.report._worker`: the page is
    # the same as from one process, in report order, and the marker lists its figures
    import losskit.report as report

    monkeypatch.setattr(report, "QUICK_BACKGROUND", ("regression",))
    steps: list[str] = []
    two = report.build_report(
        tmp_path / "two", quick=True, only=["regression", "segmentation"], processes=2,
        progress=lambda desc, frac: steps.append(desc),
    )  # fmt: skip
    one = report.build_report(
        tmp_path / "one", quick=True, only=["regression", "segmentation"], processes=1
    )
    assert [s.key for s in two] == ["regression", "segmentation"]
    assert two == one  # the same figures, claims, measurements and tables
    assert "section regression (second process)" in steps
    marker = (tmp_path / "two" / report.MARKER).read_text().splitlines()
    for sec in two:
        for fig in sec.figures:
            assert (tmp_path / "two" / fig.filename).stat().st_size > 5_000
            assert fig.filename in marker


def test_quick_settings() -> None:
    from losskit.experiments import digits
    from losskit.report import _base
    from losskit.report import classification as cls

    assert _base.ReportContext(Path("."), quick=True).dpi == _base.QUICK_DPI < _base.FULL_DPI
    assert digits.QUICK_DIMS == (3,) and digits.FULL_DIMS == (2, 3)
    # the quick run trains the losses its claims compare, none of the newer ones
    assert set(digits.QUICK_LOSSES) == {"softmax", "center", "COCO", "NormFace", "CosFace",
                                        "ArcFace"}  # fmt: skip
    assert not set(digits.QUICK_LOSSES) & set(digits.NEW_LOSSES)
    assert cls.QUICK_FIT_STEPS < cls.FULL_FIT_STEPS
    fit = cls.sigmoid_vs_softmax(cls.QUICK_FIT_STEPS)  # the quick fit still decides its claims
    assert min(fit.multi_label_sigmoid[:2]) > 0.95 and max(fit.multi_label_softmax) <= 0.5


def test_the_atlas_is_laid_out_on_a_fixed_grid(tmp_path: Path) -> None:
    # no layout engine (measuring ~200 axes' labels took a third of the atlas's time): each
    # panel's axes sit at a fixed place in its cell, inside the figure, none overlapping
    from losskit.registry import REGISTRY
    from losskit.report import atlas
    from losskit.report._base import ReportContext

    drawn = []

    class Keep(ReportContext):
        def save_figure(self, fig, name, caption, *, tight=True):
            drawn.append((fig, tight))
            return super().save_figure(fig, name, caption, tight=tight)

    atlas._family_figure(Keep(tmp_path, quick=True), "constraint")
    (fig, tight), = drawn
    assert fig.get_layout_engine() is None and tight is False
    boxes = [ax.get_position() for ax in fig.axes]
    main = boxes[::2]  # each panel: its axes, then the gradient's twin at the same place
    assert [b.bounds for b in boxes[1::2]] == [b.bounds for b in main]
    assert len(main) == len(REGISTRY.specs("constraint"))
    for i, a in enumerate(main):
        assert 0 < a.x0 < a.x1 < 1 and 0 < a.y0 < a.y1 < 1
        for b in main[i + 1 :]:
            assert not a.overlaps(b)
    assert (tmp_path / "atlas_constraint.png").stat().st_size > 20_000


@pytest.mark.slow
def test_the_family_pages_show_what_the_report_draws(quick_report) -> None:
    # docs/figures/figures.json (make docs-figures, from the full report) lists for each family
    # page the figures the report draws for it; the quick report draws the same ones, less
    # the 2-D digits features (the quick run trains 3-D features only) and the atlas's (the
    # quick run draws none)
    import importlib.util
    import json

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("_figures", root / "docs" / "_figures.py")
    assert spec and spec.loader
    figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figures)
    _, html = quick_report
    quick = figures.page_figures(html)
    listed = json.loads((root / "docs" / "figures" / "figures.json").read_text("utf-8"))
    assert set(listed) == set(quick) == set(figures.PAGES)
    for page, figs in listed.items():
        full_only = [f["file"] for f in figs if f["file"] not in {q["file"] for q in quick[page]}]
        atlas = [f["file"] for f in figs if f["section"] == "atlas"]
        assert atlas and full_only in (atlas, ["digits_features_2d.png", *atlas]), page
        assert [q["file"] for q in quick[page]] == [
            f["file"] for f in figs if f["file"] not in full_only
        ]


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
        # prose left-aligned (numbers right-aligned), the contents reachable from anywhere
        align = page.evaluate(
            "[...document.querySelectorAll('td')].map(td => [td.className,"
            " getComputedStyle(td).textAlign])"
        )
        totop = page.evaluate(
            "[getComputedStyle(document.getElementById('totop')).position,"
            " document.getElementById('totop').getAttribute('href'),"
            " document.querySelectorAll('h2 a.top[href=\"#summary\"]').length,"
            " document.querySelectorAll('section').length]"
        )
        layout = {}
        for width in (1400, 800, 390):
            page.set_viewport_size({"width": width, "height": 900})
            layout[width] = page.evaluate(
                "[document.documentElement.scrollWidth,"
                " Array.from(document.images).map(i => [i.naturalWidth, i.getBoundingClientRect().width])]"
            )
        browser.close()
    assert {a for c, a in align if c != "num"} == {"left"}
    assert {a for c, a in align if c == "num"} == {"right"}
    assert totop[:2] == ["fixed", "#summary"] and totop[2] == totop[3]
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


def test_the_quick_atlas_draws_no_figure_and_leaves_its_drawing_claim_to_the_full_run(
    tmp_path: Path,
) -> None:
    # the atlas's figures (every entry's explanation computed, 234 axes drawn) were 28 of the
    # quick run's 67 CPU seconds: the quick run keeps the table and the formula checks, and
    # shows "every loss drawn" as checked in the full run only, not as held
    from losskit.registry import REGISTRY
    from losskit.report import atlas
    from losskit.report._base import ReportContext

    sec = atlas.section(ReportContext(tmp_path, quick=True))
    assert sec.figures == [] and list(tmp_path.iterdir()) == []
    formulas, drawn = sec.claims[:2], sec.claims[2]
    assert all(c.checked and c.held for c in formulas)
    assert not drawn.checked and drawn.text.startswith("Every loss of the library")
    assert "the quick run draws no atlas figure" in drawn.measured
    assert "losskit explain NAME" in sec.intro
    assert f"The {len(REGISTRY)} registry entries" in sec.tables[0]


def test_the_digits_are_read_without_importing_scikit_learn() -> None:
    # the report's two processes each saved the scikit-learn import (over a second) by
    # reading its bundled digits file directly: the same arrays as load_digits()
    import subprocess
    import sys

    from sklearn.datasets import load_digits  # a dependency of the demo: never a silent skip

    from losskit.experiments.digits import digits_arrays

    pixels, labels = digits_arrays()
    bunch = load_digits()
    assert pixels.dtype == torch.float64 and labels.dtype == torch.int64
    assert torch.equal(pixels, torch.from_numpy(bunch.data))
    assert torch.equal(labels, torch.from_numpy(bunch.target).long())
    code = (
        "import sys; from losskit.experiments.digits import digits_arrays; digits_arrays(); "
        "print('sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
