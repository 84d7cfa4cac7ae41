"""Docstrings where the code is: every public function and module shows, in ``help()`` and an
IDE, its formula, its arguments with shapes and defaults, the paper and an example.

The docstrings are literal (an IDE reads the source), complete (every argument listed, no
"as in X" pointing elsewhere) and parsed by the registry (summary, formula, when to use,
paper), so this test is what keeps ``losskit list`` and ``losskit explain`` informative.
"""

from __future__ import annotations

import inspect
import re

import pytest

from losskit import functional as F
from losskit import nn as lnn
from losskit.registry import REGISTRY
from losskit.specs._base import docstring_sections

#: textbook losses with no paper to cite
NO_PAPER = {"l1_loss", "mse_loss", "bce_loss", "weighted_bce_loss", "softmax_loss"}

#: phrases that send the reader elsewhere instead of documenting the argument here
ELSEWHERE = re.compile(r"\b(As|as in|Others as|Returns and Raises as|Args, Returns)\s+:(func|class):")

LOSSES = [s for s in REGISTRY if s.family != "pytorch"]
HELPERS = [
    getattr(F, n)
    for n in F.__all__
    if inspect.isfunction(getattr(F, n)) and getattr(F, n) not in {s.function for s in LOSSES}
]
MODULES = [getattr(lnn, n) for n in lnn.__all__ if n != "LossModule"]


def _args_section(doc: str) -> str:
    return docstring_sections(doc).get("Args", "")


def _listed(args: str) -> set[str]:
    return set(re.findall(r"^(\w+):", args, re.M))


@pytest.mark.parametrize("spec", LOSSES, ids=lambda s: s.name)
def test_loss_function_docstring_is_complete(spec) -> None:
    doc = inspect.getdoc(spec.function) or ""
    sections = docstring_sections(doc)
    for name in ("Formula", "When to use", "Args", "Returns", "Raises", "Example"):
        assert sections.get(name), f"{spec.name}: no {name}: section"
    params = set(inspect.signature(spec.function).parameters)
    assert params <= _listed(sections["Args"]), f"{spec.name}: Args lacks {params - _listed(sections['Args'])}"
    assert ">>> " in sections["Example"]
    assert not ELSEWHERE.search(doc), f"{spec.name}: documents an argument by reference"
    if spec.name not in NO_PAPER:
        assert sections.get("Paper"), f"{spec.name}: no Paper: section"


@pytest.mark.parametrize("cls", MODULES, ids=lambda c: c.__name__)
def test_module_docstring_is_complete(cls) -> None:
    doc = cls.__doc__ or ""  # literal in the class body: what an IDE shows
    sections = docstring_sections(doc)
    for name in ("Args", "Shape", "Example"):
        assert sections.get(name), f"{cls.__name__}: no {name}: section"
    params = set(inspect.signature(cls).parameters)
    assert params <= _listed(sections["Args"]), f"{cls.__name__}: Args lacks {params - _listed(sections['Args'])}"
    assert ">>> " in sections["Example"]
    assert not ELSEWHERE.search(doc)
    # the formula or what it computes, in the first paragraph
    assert sections["summary"]
    # forward has its own text, not torch's generic one
    assert "Define the computation" not in (cls.forward.__doc__ or "")


@pytest.mark.parametrize("fn", HELPERS, ids=lambda f: f.__name__)
def test_helper_docstring_is_complete(fn) -> None:
    doc = inspect.getdoc(fn) or ""
    sections = docstring_sections(doc)
    params = set(inspect.signature(fn).parameters)
    if params - {"x"}:  # one-argument helpers may describe their argument in prose
        assert params <= _listed(sections.get("Args", "")), (
            f"{fn.__name__}: Args lacks {params - _listed(sections.get('Args', ''))}"
        )
    assert ">>> " in sections.get("Example", ""), f"{fn.__name__}: no doctest"
    assert not ELSEWHERE.search(doc), f"{fn.__name__}: documents an argument by reference"
