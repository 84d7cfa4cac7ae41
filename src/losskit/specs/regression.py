"""Registry entries for the regression (distance) losses."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as TF

from .. import functional as F
from .. import nn as lnn
from ._base import BadInput, BenchCase, LossInputs, LossSpec
from ._explain import Panel, scalar_curve
from ._inputs import grad_inputs, randn

_SHAPE = 5


def _pair(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    pred = randn(generator, n, _SHAPE, dtype=dtype, device=device) * 2.0
    target = randn(generator, n, _SHAPE, dtype=dtype, device=device)
    return LossInputs(args=(pred, target), batched=(True, True))


def _bad(fn: Callable) -> tuple[BadInput, ...]:
    name = fn.__name__
    return (
        BadInput(
            "shape mismatch",
            lambda: ((torch.zeros(8, 4), torch.zeros(8, 5)), {}),
            ValueError,
            rf"{name}: pred and target must have the same shape; got \(8, 4\) and \(8, 5\)",
        ),
        BadInput(
            "no silent broadcasting",
            lambda: ((torch.zeros(3, 1), torch.zeros(3)), {}),
            ValueError,
            rf"{name}: pred and target must have the same shape",
        ),
        BadInput(
            "integer input",
            lambda: ((torch.zeros(3, dtype=torch.long), torch.zeros(3)), {}),
            TypeError,
            rf"{name}: pred must be a floating-point tensor; got dtype torch.int64",
        ),
        BadInput(
            "unknown reduction",
            lambda: ((torch.zeros(3), torch.zeros(3)), {"reduction": "avg"}),
            ValueError,
            rf"{name}: reduction must be one of 'none', 'mean', 'sum'; got 'avg'",
        ),
        BadInput(
            "weight that enlarges the loss",
            lambda: ((torch.zeros(3), torch.zeros(3)), {"weight": torch.ones(2, 3)}),
            ValueError,
            rf"{name}: weight must broadcast to \(3,\) without enlarging it; got \(2, 3\)",
        ),
    )


def _bench(fn: Callable, peer: Callable, peer_name: str, **kw: float) -> tuple[BenchCase, ...]:
    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        g = torch.Generator().manual_seed(0)
        pred, target = (
            randn(g, 4096, 1024, dtype=torch.float32, device=device),
            randn(g, 4096, 1024, dtype=torch.float32, device=device),
        )
        (p,) = grad_inputs(pred)

        def run(f: Callable) -> Callable[[], None]:
            def step() -> None:
                p.grad = None
                f(p, target, **kw).backward()

            return step

        return {"losskit": run(fn), peer_name: run(peer)}

    return (BenchCase("(4096, 1024) float32", setup),)


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


SPECS = [
    LossSpec(
        name="l1_loss",
        family="regression",
        function=F.l1_loss,
        module=lnn.L1Loss,
        make_inputs=_pair,
        summary="Mean absolute error |pred - target|.",
        formula="l = |d|, d = pred - target; dl/dd = sign(d)",
        when_to_use=(
            "Robust to outliers (each error counts linearly), but its gradient has magnitude 1 "
            "everywhere, so near the optimum it keeps taking full-size steps and oscillates."
        ),
        peers=("torch.nn.functional.l1_loss",),
        grad_args=_GRAD,
        bad_inputs=_bad(F.l1_loss),
        explain=_explain(
            F.l1_loss,
            {"L1": {}},
            "The gradient is +-1 everywhere: the same step size at d = 0.01 as at d = 3.",
        ),
        bench=_bench(F.l1_loss, TF.l1_loss, "torch"),
    ),
    LossSpec(
        name="mse_loss",
        family="regression",
        function=F.mse_loss,
        module=lnn.MSELoss,
        make_inputs=_pair,
        summary="Mean squared error (L2 loss) (pred - target)^2.",
        formula="l = d^2; dl/dd = 2 d",
        when_to_use=(
            "The maximum-likelihood loss under Gaussian noise. Its gradient grows with the "
            "error, so outliers and large early errors dominate and can make training explode."
        ),
        peers=("torch.nn.functional.mse_loss",),
        grad_args=_GRAD,
        bad_inputs=_bad(F.mse_loss),
        explain=_explain(
            F.mse_loss,
            {"L2": {}},
            "The gradient 2d grows without bound: large errors take large steps.",
        ),
        bench=_bench(F.mse_loss, TF.mse_loss, "torch"),
    ),
    LossSpec(
        name="smooth_l1_loss",
        family="regression",
        function=F.smooth_l1_loss,
        module=lnn.SmoothL1Loss,
        make_inputs=_pair,
        summary="Quadratic near zero, linear far away (Fast R-CNN's box regression loss).",
        formula="l = 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta; |dl/dd| <= 1",
        when_to_use=(
            "Box-coordinate and other regression where both outliers and fine convergence "
            "matter: the gradient is d/beta near zero and bounded by 1 far away."
        ),
        paper="Girshick, 'Fast R-CNN', ICCV 2015, arXiv:1504.08083",
        peers=("torch.nn.functional.smooth_l1_loss",),
        kwargs={"beta": 1.0},
        grad_args=_GRAD,
        bad_inputs=_bad(F.smooth_l1_loss),
        explain=_explain(
            F.smooth_l1_loss,
            {"beta=0.5": {"beta": 0.5}, "beta=1": {"beta": 1.0}, "beta=2": {"beta": 2.0}},
            "Quadratic inside |d| < beta (gradient d/beta), linear outside (gradient +-1).",
        ),
        bench=_bench(F.smooth_l1_loss, TF.smooth_l1_loss, "torch", beta=1.0),
    ),
    LossSpec(
        name="huber_loss",
        family="regression",
        function=F.huber_loss,
        module=lnn.HuberLoss,
        make_inputs=_pair,
        summary="Huber loss: Smooth L1 scaled by delta (gradient bounded by delta).",
        formula="l = 0.5 d^2 if |d| < delta else delta (|d| - 0.5 delta) = delta * smooth_l1(d, beta=delta)",
        when_to_use=(
            "Robust regression with a switch point in the units of the target: errors below "
            "delta are treated as Gaussian noise, larger ones as outliers."
        ),
        paper="Huber, 'Robust Estimation of a Location Parameter', Ann. Math. Statist. 35(1), 1964",
        peers=("torch.nn.functional.huber_loss",),
        kwargs={"delta": 1.5},
        grad_args=_GRAD,
        bad_inputs=_bad(F.huber_loss),
        explain=_explain(
            F.huber_loss,
            {"delta=0.5": {"delta": 0.5}, "delta=1": {"delta": 1.0}, "delta=2": {"delta": 2.0}},
            "Quadratic inside |d| < delta (gradient d), linear outside (gradient +-delta).",
        ),
        bench=_bench(F.huber_loss, TF.huber_loss, "torch", delta=1.5),
    ),
]
