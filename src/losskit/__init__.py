"""losskit: every loss function of detection, segmentation, classification, metric learning
and face recognition, with one consistent API (README.md; docs/conventions.md).

``losskit.functional`` holds the functions, ``losskit.nn`` the modules; both are re-exported
here. ``losskit.registry`` (imported on first use: ``import losskit`` stays as light as
``import torch``) holds the entries that drive the tests, the report and the benchmarks;
:func:`create` builds a module from a name.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import torch

from . import functional, nn
from ._reduction import REDUCTIONS, Reduction, reduce_loss
from .functional import *  # noqa: F403
from .nn import *  # noqa: F403

if TYPE_CHECKING:  # imported lazily at run time (module __getattr__ below)
    from . import registry
    from .registry import REGISTRY, LossSpec

__version__ = "0.2.0"


def create(name: str, **kwargs: Any) -> torch.nn.Module:
    """Build the module of a registry entry from its name, for config files.

    ``name`` may be the registry name (``"arcface_loss"``), the module class name
    (``"ArcFaceLoss"``) or either without its ``loss`` suffix (``"arcface"``, ``"ArcFace"``),
    in any case. No string is evaluated: ``name`` is looked up in the registry and ``kwargs``
    are passed to the module's constructor as they are.

    Raises:
        TypeError: ``name`` is not a string, or an unknown constructor argument.
        KeyError: no such loss (the message suggests the nearest names).

    Example:
        >>> import losskit
        >>> losskit.create("smooth_l1", beta=0.5, reduction="sum")
        SmoothL1Loss(beta=0.5, reduction='sum')
    """
    from .registry import create as _create

    return _create(name, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "registry":
        return importlib.import_module(".registry", __name__)
    if name in ("REGISTRY", "LossSpec"):
        return getattr(importlib.import_module(".registry", __name__), name)
    raise AttributeError(f"module 'losskit' has no attribute {name!r}")


__all__ = [
    "REDUCTIONS",
    "REGISTRY",
    "LossSpec",
    "Reduction",
    "__version__",
    "create",
    "functional",
    "nn",
    "reduce_loss",
    "registry",
    *functional.__all__,
    *nn.__all__,
]
