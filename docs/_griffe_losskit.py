"""A griffe extension for the API reference: losskit's docstrings in the site's terms.

* ``Example:`` sections are read as Google-style ``Examples:`` (doctests shown as code);
* ``Formula:`` sections are shown as code, so ``*`` and ``_`` in a formula stay themselves.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_SECTION = re.compile(r"^(\s*)(Example|Formula):\s*$")


def rewrite(doc: str) -> str:
    lines = doc.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = _SECTION.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        indent, title = m.group(1), m.group(2)
        if title == "Example":
            out.append(f"{indent}Examples:")
            i += 1
            continue
        body: list[str] = []
        j = i + 1
        while j < len(lines) and (not lines[j].strip() or lines[j].startswith(indent + " ")):
            body.append(lines[j])
            j += 1
        while body and not body[-1].strip():
            body.pop()
        inner = indent + "    "
        out.append(f"{indent}Formula:")
        out.append(f"{inner}```text")
        out.extend(body)
        out.append(f"{inner}```")
        out.append("")
        i = j
    return "\n".join(out)


class LosskitDocstrings(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
