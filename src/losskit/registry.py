"""The registry: an explicit list of :class:`LossSpec` entries that drives the shared tests,
``losskit list``, the report and ``losskit bench``. A new loss is one entry away from being
tested, listed and benchmarked.

Each family keeps its entries in ``losskit/specs/<family>.py`` as a list ``SPECS``; this
module concatenates them in a fixed order and refuses duplicate names.
"""

from __future__ import annotations

from collections.abc import Iterable
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
from .specs._base import FAMILIES, BadInput, BenchCase, LossInputs, LossSpec
from .specs._explain_families import attach as attach_explanations

__all__ = [
    "FAMILIES",
    "BadInput",
    "BenchCase",
    "LossInputs",
    "LossSpec",
    "Registry",
    "REGISTRY",
    "create",
    "get",
    "names",
]


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

    def get(self, name: str) -> LossSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise KeyError(
                f"losskit: no loss named {name!r}; known names: {', '.join(self._specs)}"
            ) from None

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

    def __iter__(self):
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
    """The registry entry called ``name`` (``KeyError`` listing the known names if none)."""
    return REGISTRY.get(name)


def names(family: str | None = None) -> list[str]:
    """Registry names, optionally of one family."""
    return REGISTRY.names(family)


def create(name: str, **kwargs: Any) -> nn.Module:
    """Build the module of the registry entry ``name`` with ``kwargs``, for config files.

    No string is evaluated: ``name`` is looked up in the registry and ``kwargs`` are passed
    to the module's constructor as they are.

    Example:
        >>> import losskit
        >>> losskit.create("smooth_l1_loss", beta=0.5, reduction="sum")
        SmoothL1Loss(beta=0.5, reduction='sum')
    """
    if not isinstance(name, str):
        raise TypeError(f"create: name must be a str; got {type(name).__name__}")
    return REGISTRY.get(name).module(**kwargs)
