"""mkdocs hooks: pages whose content is generated from the repository at build time, so the
site never restates what the code or another file already says.

* ``<!-- losskit:vocabulary -->`` becomes the vocabulary table (:mod:`losskit._vocabulary`);
* ``<!-- losskit:include PATH -->`` becomes the text of ``PATH`` (relative to the repository
  root; a Markdown file's first ``# `` title is dropped, the page has its own);
* ``<!-- losskit:benchmarks -->`` becomes every ``benchmarks/results-*.md``, each under a
  heading named after its family;
* ``<!-- losskit:figures PAGE -->`` becomes the report's figures for the family page ``PAGE``
  (listed in ``docs/figures/figures.json``, written with the PNGs by ``make docs-figures``:
  see docs/_figures.py), each with its caption and the report section it comes from.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_INCLUDE = re.compile(r"<!-- losskit:include (\S+) -->")
_FIGURES = re.compile(r"<!-- losskit:figures (\S+) -->")


def figures_block(page: str) -> str:
    """The family page ``page``'s figures as Markdown (an open, collapsible block)."""
    import json

    listed = json.loads((ROOT / "docs" / "figures" / "figures.json").read_text("utf-8"))
    if page not in listed:
        raise KeyError(f"docs/figures/figures.json has no page {page!r}; run make docs-figures")
    figures = listed[page]
    lines = [
        f'???+ example "The report\'s figures for this page ({len(figures)}; click one to '
        'open it at full size)"',
        "",
    ]
    for f in figures:
        src = f"../figures/{f['file']}"
        caption = f["caption"].replace("[", "\\[").replace("]", "\\]")
        lines += [
            f"    [![{caption}]({src})]({src})",
            "",
            f"    *{caption}* From the report's section \"{f['title']}\" (`losskit demo`, "
            f"`losskit-report/index.html#{f['section']}`; see [the report](../report.md)).",
            "",
        ]
    return "\n".join(lines)


def _include(match: re.Match[str]) -> str:
    text = (ROOT / match.group(1)).read_text(encoding="utf-8")
    if text.startswith("# "):
        text = text.split("\n", 1)[1]
    return text


def on_page_markdown(markdown: str, **kwargs: object) -> str:
    if "<!-- losskit:vocabulary -->" in markdown:
        from losskit._vocabulary import markdown as vocabulary_table

        markdown = markdown.replace("<!-- losskit:vocabulary -->", vocabulary_table())
    if "<!-- losskit:benchmarks -->" in markdown:
        parts = []
        for path in sorted((ROOT / "benchmarks").glob("results-*.md")):
            family = path.stem.removeprefix("results-")
            parts.append(f"## {family}\n\n`{path.relative_to(ROOT)}`\n\n{path.read_text('utf-8')}")
        markdown = markdown.replace("<!-- losskit:benchmarks -->", "\n\n".join(parts))
    markdown = _FIGURES.sub(lambda m: figures_block(m.group(1)), markdown)
    return _INCLUDE.sub(_include, markdown)
