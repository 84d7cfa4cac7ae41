"""The catalogue of inputs each loss must refuse, by registry name, one file per family.

Each family file defines ``BAD_INPUTS = {name: (BadInput, ...)}``; :func:`catalogue` joins
them for the shared harness (tests/test_harness.py). The generic mistakes (an unknown
``reduction``, a non-tensor input, a bad value of any hyperparameter) are generated for every
entry by tests/test_properties.py; these are the loss-specific ones.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BadInput:
    """An input the loss must reject: ``make()`` returns ``(args, kwargs)``; the call must
    raise ``error`` with a message matching the regular expression ``match``."""

    label: str
    make: Callable[[], tuple[tuple[Any, ...], dict[str, Any]]]
    error: type[Exception]
    match: str


FAMILIES = ("regression", "classification", "box", "overlap", "embedding", "constraint",
            "margin", "pytorch")  # fmt: skip


def catalogue() -> dict[str, tuple[BadInput, ...]]:
    out: dict[str, tuple[BadInput, ...]] = {}
    for family in FAMILIES:
        module = importlib.import_module(f".{family}", __name__)
        for name, found in module.BAD_INPUTS.items():
            out[name] = tuple(found)
    return out
