"""Registry entries for the regression (distance) losses."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

from .. import functional as F
from ._base import LossInputs, LossSpec
from ._explain import Panel, scalar_curve
from ._inputs import randn

_SHAPE = 5


def _pair(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    pred = randn(generator, n, _SHAPE, dtype=dtype, device=device) * 2.0
    target = randn(generator, n, _SHAPE, dtype=dtype, device=device)
    return LossInputs(args=(pred, target), batched=(True, True))


_GRAD = (0, 1)


def _explain(
    fn: Callable, settings: dict[str, dict[str, float]], note: str
) -> Callable[[], tuple[Panel, ...]]:
    def panels() -> tuple[Panel, ...]:
        d = torch.linspace(-3.0, 3.0, 601, dtype=torch.float64)
        curves = tuple(
            scalar_curve(
                label, d, lambda t, kw=kw: fn(t, torch.zeros_like(t), reduction="none", **kw)
            )
            for label, kw in settings.items()
        )
        return (Panel("over the residual", "residual d = pred - target", d, curves, note),)

    return panels


#: the keyword arguments every entry of the family shares
_entry = partial(LossSpec, family="regression", make_inputs=_pair)

SPECS = [
    _entry(
        function=F.l1_loss,
        peers=("torch.nn.functional.l1_loss",),
        grad_args=_GRAD,
        explain=_explain(
            F.l1_loss,
            {"L1": {}},
            "The gradient is +-1 everywhere: the same step size at d = 0.01 as at d = 3.",
        ),
    ),
    _entry(
        function=F.mse_loss,
        peers=("torch.nn.functional.mse_loss",),
        grad_args=_GRAD,
        explain=_explain(
            F.mse_loss,
            {"L2": {}},
            "The gradient 2d grows without bound: large errors take large steps.",
        ),
    ),
    _entry(
        function=F.smooth_l1_loss,
        peers=("torch.nn.functional.smooth_l1_loss",),
        kwargs={"beta": 1.0},
        grad_args=_GRAD,
        explain=_explain(
            F.smooth_l1_loss,
            {"beta=0.5": {"beta": 0.5}, "beta=1": {"beta": 1.0}, "beta=2": {"beta": 2.0}},
            "Quadratic inside |d| < beta (gradient d/beta), linear outside (gradient +-1).",
        ),
    ),
    _entry(
        function=F.huber_loss,
        peers=("torch.nn.functional.huber_loss",),
        kwargs={"delta": 1.5},
        grad_args=_GRAD,
        explain=_explain(
            F.huber_loss,
            {"delta=0.5": {"delta": 0.5}, "delta=1": {"delta": 1.0}, "delta=2": {"delta": 2.0}},
            "Quadratic inside |d| < delta (gradient d), linear outside (gradient +-delta).",
        ),
    ),
    _entry(
        function=F.log_cosh_loss,
        peers=("tensorflow.keras.losses.LogCosh",),
        grad_args=_GRAD,
        explain=_explain(
            F.log_cosh_loss,
            {"log-cosh": {}},
            "Smooth everywhere: gradient tanh(d), about d near zero and bounded by 1 far away.",
        ),
    ),
]
