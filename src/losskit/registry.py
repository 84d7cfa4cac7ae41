"""The registry: an explicit list of :class:`LossSpec` entries that drives the shared tests,
``losskit list``, ``losskit explain``, the report and ``losskit bench``. A new loss is one
entry away from being tested, listed, explained and benchmarked.

Each family keeps its entries in ``losskit/specs/<family>.py`` as a list ``SPECS``; this
module concatenates them in a fixed order and refuses duplicate names. ``import losskit``
does not import this module (nor the input makers and figures it brings); it loads on first
use of ``losskit.registry``, ``losskit.REGISTRY`` or :func:`losskit.create`.

Names a person types: :meth:`Registry.resolve` accepts the registry name
(``"arcface_loss"``), the module's class name (``"ArcFaceLoss"``) and either without its
``loss`` suffix (``"arcface"``, ``"ArcFace"``), in any case. An unknown name raises a
``KeyError`` that suggests the nearest names.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from typing import Any

from torch import nn

from .specs import box as _box
from .specs import classification as _classification
from .specs import constraint as _constraint
from .specs import embedding as _embedding
from .specs import margin as _margin
from .specs import overlap as _overlap
from .specs import pytorch as _pytorch
from .specs import regression as _regression
from .specs._base import FAMILIES, LossInputs, LossSpec, docstring_sections
from .specs._explain_families import attach as attach_explanations

__all__ = [
    "FAMILIES",
    "LossInputs",
    "LossSpec",
    "Registry",
    "REGISTRY",
    "create",
    "docstring_sections",
    "get",
    "names",
]


def _key(name: str) -> str:
    """``"ArcFaceLoss"``, ``"arcface_loss"``, ``"ArcFace"``, ``"arcface"`` -> ``"arcface"``."""
    k = re.sub(r"[^a-z0-9]", "", name.lower())
    return k[:-4] if k.endswith("loss") and len(k) > 4 else k


class Registry:
    """An ordered, duplicate-free collection of :class:`LossSpec`."""

    def __init__(self, specs: Iterable[LossSpec] = ()) -> None:
        self._specs: dict[str, LossSpec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: LossSpec) -> None:
        if not isinstance(spec, LossSpec):
            raise TypeError(f"Registry.add: expected a LossSpec; got {type(spec).__name__}")
        if spec.name in self._specs:
            raise ValueError(f"Registry.add: duplicate loss name {spec.name!r}")
        self._specs[spec.name] = spec

    def resolve(self, name: str) -> LossSpec:
        """The entry a person means by ``name`` (see the module docstring).

        An exact registry name wins (``"L1Loss"`` is torch's, the PyTorch catalogue's name);
        otherwise the names that normalise alike (``arcface`` for ``ArcFaceLoss``), losskit's
        own entry before a catalogue one.
        """
        if not isinstance(name, str):
            raise TypeError(f"losskit: a loss name must be a str; got {type(name).__name__}")
        if name in self._specs:
            return self._specs[name]
        key = _key(name)
        hits = [
            s
            for s in self._specs.values()
            if key in (_key(s.name), _key(getattr(s.module, "__name__", "")))
        ]
        hits.sort(key=lambda s: s.family == "pytorch")
        if hits:
            return hits[0]
        raise KeyError(self.unknown(name))

    def unknown(self, name: str) -> str:
        """The message for a name that is not in the registry, with the nearest names."""
        spellings: dict[str, str] = {}
        for s in self._specs.values():
            spellings.setdefault(_key(s.name), s.name)
        near = difflib.get_close_matches(_key(name), list(spellings), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(spellings[k]) for k in near)}?" if near else ""
        return f"losskit: no loss named {name!r}{hint} (`losskit list` shows them all)"

    def get(self, name: str) -> LossSpec:
        """Alias of :meth:`resolve`."""
        return self.resolve(name)

    def names(self, family: str | None = None) -> list[str]:
        return [s.name for s in self.specs(family)]

    def specs(self, family: str | None = None) -> list[LossSpec]:
        if family is not None and family not in FAMILIES:
            raise ValueError(
                f"losskit: family must be one of {', '.join(FAMILIES)}; got {family!r}"
            )
        return [s for s in self._specs.values() if family is None or s.family == family]

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[LossSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)


REGISTRY = Registry(
    attach_explanations(
        [
            *_regression.SPECS,
            *_classification.SPECS,
            *_box.SPECS,
            *_overlap.SPECS,
            *_embedding.SPECS,
            *_constraint.SPECS,
            *_margin.SPECS,
            *_pytorch.SPECS,
        ]
    )
)


def get(name: str) -> LossSpec:
    """The registry entry called ``name`` (see :meth:`Registry.resolve`)."""
    return REGISTRY.resolve(name)


def names(family: str | None = None) -> list[str]:
    """Registry names, optionally of one family."""
    return REGISTRY.names(family)


def create(name: str, **kwargs: Any) -> nn.Module:
    """Build the module of the registry entry ``name`` with ``kwargs`` (see
    :func:`losskit.create`)."""
    if not isinstance(name, str):
        raise TypeError(f"create: name must be a str; got {type(name).__name__}")
    spec = REGISTRY.resolve(name)
    assert spec.module is not None
    return spec.module(**kwargs)
