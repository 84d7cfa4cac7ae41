"""Small helpers for the registry's input makers: reproducible tensors from a CPU generator,
moved to the requested device and dtype."""

from __future__ import annotations

import torch
from torch import Tensor


def randn(
    g: torch.Generator, *shape: int, dtype: torch.dtype, device: torch.device | str = "cpu"
) -> Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)


def rand(
    g: torch.Generator, *shape: int, dtype: torch.dtype, device: torch.device | str = "cpu"
) -> Tensor:
    return torch.rand(*shape, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)


def randint(
    g: torch.Generator, high: int, *shape: int, device: torch.device | str = "cpu"
) -> Tensor:
    return torch.randint(0, high, shape, generator=g).to(device=device)


def signs(
    g: torch.Generator, *shape: int, dtype: torch.dtype, device: torch.device | str = "cpu"
) -> Tensor:
    """Random +-1 labels."""
    return (torch.randint(0, 2, shape, generator=g) * 2 - 1).to(device=device, dtype=dtype)


def grad_inputs(*tensors: Tensor) -> tuple[Tensor, ...]:
    """Leaf copies that require grad (for benchmarks)."""
    return tuple(t.detach().clone().requires_grad_(True) for t in tensors)
