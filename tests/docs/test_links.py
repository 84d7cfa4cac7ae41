"""The repository's own Markdown outside the docs site (README, CONTRIBUTING, CHANGELOG,
the benchmark results): every relative link and image points at a file that exists.
(The site's pages are checked by ``mkdocs build --strict``, which does not read these.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(
    [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md"]
    + list((ROOT / "benchmarks").glob("*.md"))
)
#: ``[text](target)`` and ``![alt](target)``; the target up to a space, ``)`` or ``#``
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s#]+)[^)]*\)")


def _local_targets(text: str) -> list[str]:
    """The relative link targets of a Markdown text, outside code blocks."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    missing = [t for t in _local_targets(page.read_text("utf-8"))
               if not (page.parent / t).exists()]  # fmt: skip
    assert not missing, f"{page.relative_to(ROOT)} links to missing files: {missing}"


def test_link_pattern_finds_links_and_images() -> None:
    text = "see [a](docs/a.md#x), ![plot](img/p.png \"t\"), [w](https://x.org)\n```\n[c](no.md)\n```"
    assert _local_targets(text) == ["docs/a.md", "img/p.png"]
