"""The benchmark cases of every family, by registry name: losskit against each peer that has
the loss, run side by side in one process by ``losskit bench`` (:mod:`losskit.cli.bench`) and
by the scripts in the repository's ``benchmarks/`` folder.

A family keeps its cases in ``losskit/bench/<family>.py`` as ``CASES = {name: (BenchCase,
...)}``; :func:`cases` joins them. Nothing here is imported by ``import losskit``.
"""

from __future__ import annotations

import importlib

from ._base import BenchCase, step

__all__ = ["BenchCase", "cases", "step", "FAMILY_MODULES"]

#: the families that have benchmark cases, in report order
FAMILY_MODULES = ("regression", "classification", "box", "overlap", "embedding", "constraint",
                  "margin")  # fmt: skip


def cases() -> dict[str, tuple[BenchCase, ...]]:
    """``{registry name: benchmark cases}`` over every family."""
    out: dict[str, tuple[BenchCase, ...]] = {}
    for family in FAMILY_MODULES:
        module = importlib.import_module(f".{family}", __name__)
        for name, found in module.CASES.items():
            if name in out:
                raise ValueError(f"losskit.bench: two families give cases for {name!r}")
            out[name] = tuple(found)
    return out
