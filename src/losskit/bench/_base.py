"""The type of a benchmark case."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class BenchCase:
    """One benchmark case. ``setup(device)`` returns ``{implementation: step}``; each step
    runs one forward and backward pass. ``"losskit"`` must be among the keys; the others are
    the peers (e.g. ``"torch"``, ``"torchvision"``), imported inside ``setup`` so that a peer
    that is not installed is left out of the comparison with a message, never a traceback."""

    label: str
    setup: Callable[[torch.device], dict[str, Callable[[], Any]]]


def step(loss: Callable[[], torch.Tensor], *leaves: torch.Tensor) -> Callable[[], None]:
    """One benchmark step: clear the leaves' gradients, compute ``loss()``, backward."""

    def run() -> None:
        for t in leaves:
            t.grad = None
        loss().backward()

    return run
