"""Every signature is held to the vocabulary (losskit/_vocabulary.py, the docs' vocabulary page).

A new loss is checked automatically: its function (every public function of
``losskit.functional``), its module (every class of ``losskit.nn``) and their registry entries
are read here. A name outside the table fails; a name used with an annotation the table does
not allow for it (another meaning) fails; a positional name where the table says keyword (or
the reverse) fails; a module constructor with ``**kwargs`` fails.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch
from torch import Tensor

import losskit
from losskit import functional as F
from losskit import nn as lnn
from losskit._vocabulary import VOCABULARY, Term, markdown
from losskit.registry import REGISTRY

ROOT = Path(__file__).resolve().parents[1]

#: names whose default is the same wherever they appear
FIXED_DEFAULTS = {
    "reduction": "mean",
    "weight": None,
    "mask": None,
    "shard": None,
    "ignore_index": -100,
    "from_logits": True,
    "class_weight": None,
    "per_sample": True,
    "chunk_size": None,
    "easy_margin": False,
    "grad_mode": "exact",
    "fallback": "auto",
    "box_format": "xyxy",
    "distance": "euclidean",
    "label_smoothing": 0.0,
    "device": None,
    "dtype": None,
}


def _functions() -> list:
    out = []
    for name in F.__all__:
        obj = getattr(F, name)
        if inspect.isfunction(obj):
            out.append(obj)
    for spec in REGISTRY:
        if spec.family != "pytorch" and spec.function not in out:
            out.append(spec.function)
    return out


def _modules() -> list[type]:
    return [getattr(lnn, n) for n in lnn.__all__ if n != "LossModule"]


def problems_of_function(fn) -> list[str]:
    """What in ``fn``'s signature breaks the vocabulary (empty: nothing)."""
    out = []
    for p in inspect.signature(fn).parameters.values():
        where = f"{fn.__name__}({p.name})"
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            out.append(f"{where}: *args/**kwargs hide the arguments")
            continue
        term: Term | None = VOCABULARY.get(p.name)
        if term is None:
            out.append(f"{where}: not in the vocabulary")
            continue
        keyword = p.kind is p.KEYWORD_ONLY
        if keyword and not {"option", "data"} & set(term.roles):
            out.append(f"{where}: keyword-only, but the vocabulary makes it an input")
        if not keyword and "input" not in term.roles:
            out.append(f"{where}: positional, but the vocabulary makes it a keyword")
        ann = p.annotation if isinstance(p.annotation, str) else getattr(p.annotation, "__name__", str(p.annotation))
        if term.annotations and ann not in term.annotations:
            out.append(f"{where}: annotated {ann!r}; the vocabulary allows {term.annotations}")
        if p.name in FIXED_DEFAULTS and p.default is not p.empty and p.default != FIXED_DEFAULTS[p.name]:
            out.append(f"{where}: default {p.default!r}; the vocabulary's is {FIXED_DEFAULTS[p.name]!r}")
        if p.name in {"weight", "mask", "shard"} and not keyword:
            out.append(f"{where}: per-call data must be keyword-only")
    return out


def problems_of_module(cls: type) -> list[str]:
    out = []
    for p in inspect.signature(cls).parameters.values():
        where = f"{cls.__name__}({p.name})"
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            out.append(f"{where}: **kwargs hide the constructor's arguments")
            continue
        term = VOCABULARY.get(p.name)
        if term is None:
            out.append(f"{where}: not in the vocabulary")
            continue
        if p.kind is p.KEYWORD_ONLY:
            if not {"option", "module"} & set(term.roles):
                out.append(f"{where}: the vocabulary does not make it a constructor option")
        elif "size" not in term.roles:
            out.append(f"{where}: positional, but only sizes are positional in a constructor")
        if p.name in {"weight", "mask", "shard"}:
            out.append(f"{where}: per-call data belongs to forward, not to the constructor")
        if p.name in FIXED_DEFAULTS and p.default is not p.empty and p.default != FIXED_DEFAULTS[p.name]:
            out.append(f"{where}: default {p.default!r}; the vocabulary's is {FIXED_DEFAULTS[p.name]!r}")
    fwd = inspect.signature(cls.forward)
    for p in list(fwd.parameters.values())[1:]:
        term = VOCABULARY.get(p.name)
        if term is None:
            out.append(f"{cls.__name__}.forward({p.name}): not in the vocabulary")
        elif p.kind is p.KEYWORD_ONLY and "data" not in term.roles:
            out.append(f"{cls.__name__}.forward({p.name}): only per-call data is a keyword")
    return out


@pytest.mark.parametrize("fn", _functions(), ids=lambda f: f.__name__)
def test_function_signature_follows_the_vocabulary(fn) -> None:
    assert problems_of_function(fn) == []


@pytest.mark.parametrize("cls", _modules(), ids=lambda c: c.__name__)
def test_module_signature_follows_the_vocabulary(cls: type) -> None:
    assert problems_of_module(cls) == []


def test_sizes_come_in_one_order() -> None:
    for cls in _modules():
        sizes = [
            p.name
            for p in inspect.signature(cls).parameters.values()
            if p.kind is p.POSITIONAL_OR_KEYWORD
        ]
        assert sizes in ([], ["num_classes", "embedding_dim"]), (cls.__name__, sizes)


def test_the_checker_catches_each_kind_of_mistake() -> None:
    """The test above can fail: each kind of mistake, made on purpose, is reported."""

    def unknown_name(pred: Tensor, target: Tensor, *, sharpness: float = 1.0):
        return pred

    def alpha_as_a_rate(embeddings: Tensor, *, alpha: float = 0.5):
        return embeddings

    def positional_weight(pred: Tensor, weight: Tensor | None = None):
        return pred

    def other_default(pred: Tensor, *, reduction: str = "sum"):
        return pred

    assert "not in the vocabulary" in problems_of_function(unknown_name)[0]
    assert "the vocabulary allows" in problems_of_function(alpha_as_a_rate)[0]
    assert any("keyword" in p for p in problems_of_function(positional_weight))
    assert any("default" in p for p in problems_of_function(other_default))

    class Hidden(torch.nn.Module):
        def __init__(self, num_classes: int, **kwargs):
            super().__init__()

    assert "**kwargs" in " ".join(problems_of_module(Hidden))


def test_every_term_is_used() -> None:
    """No dead entries: each name of the table appears in some signature."""
    used = set()
    for fn in _functions():
        used |= set(inspect.signature(fn).parameters)
    for cls in _modules():
        used |= set(inspect.signature(cls).parameters)
        used |= set(inspect.signature(cls.forward).parameters)
    assert set(VOCABULARY) - used == set()


def test_the_docs_show_the_table() -> None:
    """The vocabulary page is generated from losskit/_vocabulary.py when the site is built
    (docs/_hooks.py), so it cannot go stale; the README links to it and holds no copy."""
    page = (ROOT / "docs" / "vocabulary.md").read_text(encoding="utf-8")
    assert "<!-- losskit:vocabulary -->" in page
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/vocabulary.md)" in readme
    assert "<!-- vocabulary:start -->" not in readme
    table = markdown()
    assert table.count("\n") == len(VOCABULARY) + 2  # header, rule, one row per name


def test_public_exports_are_derived() -> None:
    assert set(losskit.nn.__all__) == {
        n for n in losskit.__all__ if isinstance(getattr(losskit, n), type)
        and issubclass(getattr(losskit, n), torch.nn.Module)
    }
    for name in F.__all__:
        assert getattr(losskit, name) is getattr(F, name)
    assert not [n for n in F.__all__ if isinstance(getattr(F, n), type)
                and issubclass(getattr(F, n), torch.nn.Module)]
