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
    _entry(
        function=F.charbonnier_loss,
        peers=("kornia.losses.charbonnier_loss",),
        kwargs={"residual_scale": 0.5},
        grad_args=_GRAD,
        explain=_explain(
            F.charbonnier_loss,
            {"c = 0.5": {"residual_scale": 0.5}, "c = 1": {}, "c = 2": {"residual_scale": 2.0}},
            "Quadratic below c, linear above: a smooth L1 whose gradient tends to +-1 / c.",
        ),
    ),
    _entry(
        function=F.cauchy_loss,
        peers=("kornia.losses.cauchy_loss",),
        kwargs={"residual_scale": 0.5},
        grad_args=_GRAD,
        explain=_explain(
            F.cauchy_loss,
            {"c = 0.5": {"residual_scale": 0.5}, "c = 1": {}},
            "Logarithmic growth: the gradient peaks at |d| = sqrt(2) c and then decays.",
        ),
    ),
    _entry(
        function=F.geman_mcclure_loss,
        peers=("kornia.losses.geman_mcclure_loss",),
        kwargs={"residual_scale": 0.5},
        grad_args=_GRAD,
        explain=_explain(
            F.geman_mcclure_loss,
            {"c = 0.5": {"residual_scale": 0.5}, "c = 1": {}},
            "Bounded by 2: a gross outlier costs a constant and gets (almost) no gradient.",
        ),
    ),
    _entry(
        function=F.welsch_loss,
        peers=("kornia.losses.welsch_loss",),
        kwargs={"residual_scale": 0.5},
        grad_args=_GRAD,
        explain=_explain(
            F.welsch_loss,
            {"c = 0.5": {"residual_scale": 0.5}, "c = 1": {}},
            "A Gaussian well bounded by 1: residuals beyond a few c are ignored.",
        ),
    ),
    _entry(
        function=F.general_robust_loss,
        peers=("Barron's robust_loss_pytorch general.lossfun (formula re-derived)",),
        kwargs={"robust_shape": -0.5, "residual_scale": 0.5},
        grad_args=_GRAD,
        explain=_explain(
            F.general_robust_loss,
            {f"alpha = {a:g}": {"robust_shape": a} for a in (2.0, 1.0, 0.0, -2.0, -10.0)},
            "One shape parameter: L2 (2), Charbonnier (1), Cauchy (0), Geman-McClure (-2), "
            "towards Welsch.",
        ),
    ),
    _entry(
        function=F.wing_loss,
        peers=("mmpose.models.losses.WingLoss (formula re-derived)",),
        kwargs={"width": 2.0, "curvature": 0.5},
        grad_args=_GRAD,
        explain=_explain(
            F.wing_loss,
            {"w = 2, eps = 0.5": {"width": 2.0, "curvature": 0.5},
             "w = 1, eps = 0.25": {"width": 1.0, "curvature": 0.25}},
            "Logarithmic (steep near 0) inside |d| < w, L1 outside.",
        ),
    ),
    _entry(
        function=F.balanced_l1_loss,
        peers=("mmdet.models.losses.balanced_l1_loss (formula re-derived)",),
        kwargs={"beta": 1.0, "balance": 0.5, "error_bound": 1.5},
        grad_args=_GRAD,
        explain=_explain(
            F.balanced_l1_loss,
            {"balanced L1": {}},
            "Inliers (|d| < 1) get a*ln(b|d| + 1) of gradient, more than Smooth L1's; "
            "outliers a constant 1.5.",
        ),
    ),
]
