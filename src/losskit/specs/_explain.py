"""What ``losskit explain NAME`` draws: the loss and its gradient over the slice of input that
matters for that loss (the residual for regression, the target logit's margin for
cross-entropy, p_t for focal, theta for a margin loss, ...).

A registry entry's ``explain`` is a function returning one or more :class:`Panel`; each panel
is one slice (one x axis) with one or more curves (one per setting worth comparing).
:func:`scalar_curve` computes a curve: it varies one scalar ``t``, builds the loss's inputs
from it, and takes the loss and ``d loss / d t`` with autograd.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Curve:
    label: str
    loss: Tensor
    grad: Tensor


@dataclass(frozen=True)
class Panel:
    title: str
    xlabel: str
    x: Tensor
    curves: tuple[Curve, ...]
    #: what to look for in this panel
    note: str = ""


# ``loss_of`` is called with one tensor; it is typed ``Callable[..., Tensor]`` because the
# panels bind their loop variables as lambda defaults (``lambda t, y=y: ...``), a lambda mypy
# cannot match to ``Callable[[Tensor], Tensor]``
def scalar_curve(label: str, x: Tensor, loss_of: Callable[..., Tensor]) -> Curve:
    """Loss and gradient along a 1-D slice.

    ``loss_of(t)`` receives the slice values ``t`` of shape ``(K,)`` (requiring grad) and must
    return ``(K,)`` losses, the ``k``-th depending on ``t[k]`` only; the gradient is then
    ``d loss_k / d t_k``.
    """
    t = x.detach().clone().to(torch.float64).requires_grad_(True)
    loss = loss_of(t)
    if loss.shape != t.shape:
        raise ValueError(
            f"scalar_curve: loss_of must return shape {tuple(t.shape)}; got {tuple(loss.shape)}"
        )
    (grad,) = torch.autograd.grad(loss.sum(), t)
    return Curve(label, loss.detach(), grad.detach())
