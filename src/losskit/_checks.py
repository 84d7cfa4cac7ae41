"""Validation helpers. Each raises ``TypeError`` or ``ValueError`` naming the public
function, what was expected and what came, e.g.
``giou_loss: pred and target must have the same shape; got (8, 4) and (8, 5)``.

They check metadata only (type, shape, dtype, device); value checks such as a label range
run only for CPU tensors so that no check forces a host-device synchronisation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor


def _shape(x: Tensor) -> tuple[int, ...]:
    return tuple(x.shape)


def check_tensor(fn: str, name: str, x: object) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: {name} must be a torch.Tensor; got {type(x).__name__}")
    return x


def check_floating(fn: str, name: str, x: object) -> Tensor:
    x = check_tensor(fn, name, x)
    if not x.is_floating_point():
        raise TypeError(f"{fn}: {name} must be a floating-point tensor; got dtype {x.dtype}")
    return x


def check_integer(fn: str, name: str, x: object) -> Tensor:
    x = check_tensor(fn, name, x)
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise TypeError(
            f"{fn}: {name} must be an integer tensor of class indices; got dtype {x.dtype}"
        )
    return x


def check_same_shape(
    fn: str, a: Tensor, b: Tensor, names: tuple[str, str] = ("pred", "target")
) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{fn}: {names[0]} and {names[1]} must have the same shape; "
            f"got {_shape(a)} and {_shape(b)}"
        )


def check_same_device(fn: str, *named: tuple[str, Tensor]) -> None:
    devices = {t.device for _, t in named}
    if len(devices) > 1:
        got = ", ".join(f"{n} on {t.device}" for n, t in named)
        raise ValueError(f"{fn}: all tensors must be on one device; got {got}")


def check_ndim(fn: str, name: str, x: Tensor, ndims: int | Sequence[int]) -> None:
    allowed = (ndims,) if isinstance(ndims, int) else tuple(ndims)
    if x.dim() not in allowed:
        want = " or ".join(str(d) for d in allowed)
        raise ValueError(f"{fn}: {name} must have {want} dimensions; got shape {_shape(x)}")


def check_last_dim(fn: str, name: str, x: Tensor, size: int) -> None:
    if x.dim() == 0 or x.shape[-1] != size:
        raise ValueError(f"{fn}: {name} must have shape (..., {size}); got {_shape(x)}")


def check_weight(fn: str, weight: object, shape: torch.Size, name: str = "weight") -> Tensor | None:
    """A weight must be a tensor broadcastable to ``shape`` without enlarging it."""
    if weight is None:
        return None
    weight = check_tensor(fn, name, weight)
    try:
        out = torch.broadcast_shapes(weight.shape, shape)
    except RuntimeError:
        out = None
    if out != shape:
        raise ValueError(
            f"{fn}: {name} must broadcast to {tuple(shape)} without enlarging it; got {_shape(weight)}"
        )
    return weight


def check_positive(fn: str, name: str, value: float, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{fn}: {name} must be a number; got {type(value).__name__}")
    ok = value >= 0 if allow_zero else value > 0
    if not ok or not math.isfinite(value):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{fn}: {name} must be finite and {bound}; got {value}")
    return float(value)


def check_in_range(fn: str, name: str, value: float, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{fn}: {name} must be a number; got {type(value).__name__}")
    if not (low <= value <= high):
        raise ValueError(f"{fn}: {name} must lie in [{low}, {high}]; got {value}")
    return float(value)


def check_choice(fn: str, name: str, value: object, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            f"{fn}: {name} must be one of {', '.join(map(repr, choices))}; got {value!r}"
        )
    return value


def check_labels(
    fn: str,
    labels: Tensor,
    num_classes: int,
    *,
    name: str = "labels",
    ignore_index: int | None = None,
) -> None:
    """Integer labels in ``[0, num_classes)`` (or equal to ``ignore_index``).

    The range is checked on CPU tensors only: on an accelerator it would force a sync.
    """
    check_integer(fn, name, labels)
    if labels.device.type != "cpu" or labels.numel() == 0:
        return
    valid = labels if ignore_index is None else labels[labels != ignore_index]
    if valid.numel() == 0:
        return
    lo, hi = int(valid.min()), int(valid.max())
    if lo < 0 or hi >= num_classes:
        raise ValueError(
            f"{fn}: {name} must lie in [0, {num_classes - 1}]"
            + (f" or equal ignore_index={ignore_index}" if ignore_index is not None else "")
            + f"; got values in [{lo}, {hi}]"
        )


def compute_dtype(x: Tensor) -> torch.dtype:
    """float16/bfloat16 are computed in float32; float32/float64 as they are."""
    return torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
