"""Distance (regression) losses on a residual ``d = pred - target``: L1, L2 (MSE), Smooth L1
and Huber, each as a function and as a module.

The element-wise kernels are torch's own (fused forward and backward); losskit adds the
checks, float32 compute for half inputs, ``weight``/``mask`` and its reduction rule:
``"mean"`` is ``sum(w l) / sum(w)`` over the kept elements.
"""

from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as TF
from torch import Tensor

from .._api import DEFAULT, LossModule, checked
from .._autograd import transforms_active
from .._checks import Mask, NonNegative, Positive, Weight
from .._reduction import Reduction, reduce_loss
from ._common import elementwise_loss

__all__ = [
    "l1_loss",
    "mse_loss",
    "smooth_l1_loss",
    "huber_loss",
    "log_cosh_loss",
    "L1Loss",
    "MSELoss",
    "SmoothL1Loss",
    "HuberLoss",
    "LogCoshLoss",
    # robust losses (functional/_robust.py)
    "charbonnier_loss",
    "cauchy_loss",
    "geman_mcclure_loss",
    "welsch_loss",
    "general_robust_loss",
    "wing_loss",
    "balanced_l1_loss",
    "CharbonnierLoss",
    "CauchyLoss",
    "GemanMcClureLoss",
    "WelschLoss",
    "GeneralRobustLoss",
    "WingLoss",
    "BalancedL1Loss",
]


def _mse_kernel(p: Tensor, t: Tensor, reduction: Reduction) -> Tensor:
    """torch's ``mse_loss``; under a ``torch.func`` transform or in forward mode the plain
    ``(p - t)^2`` (torch's kernel fails forward-over-reverse, ``jvp(grad(f))``, on an
    immutable zero tensor)."""
    if transforms_active():
        d = p - t
        return reduce_loss(d * d, reduction, fn="mse_loss")
    return TF.mse_loss(p, t, reduction=reduction)


def _huber_kernel(p: Tensor, t: Tensor, reduction: Reduction, *, delta: float) -> Tensor:
    """torch's ``huber_loss``; under a ``torch.func`` transform or in forward mode the plain
    formula (torch's ``huber_loss_backward`` has no forward-mode derivative, so Hessian-vector
    products failed)."""
    if transforms_active():
        d = p - t
        a = d.abs()
        quad = a < delta  # as torch's kernel
        small = torch.where(quad, d, torch.zeros_like(d))  # no square of a large d is kept
        loss = torch.where(quad, 0.5 * small * small, delta * (a - 0.5 * delta))
        return reduce_loss(loss, reduction, fn="huber_loss")
    return TF.huber_loss(p, t, delta=delta, reduction=reduction)


@checked
def l1_loss(
    pred: Tensor, target: Tensor, *, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Mean absolute error (L1 loss).

    Formula:
        l = |pred - target|;  dl/dpred = sign(pred - target)

    Its gradient has magnitude 1 whatever the error, so it keeps taking full-size steps near
    the optimum.

    When to use:
        Robust to outliers (each error counts linearly), but its gradient has magnitude 1
        everywhere, so near the optimum it keeps taking full-size steps and oscillates.

    Args:
        pred: predicted values, any shape ``(*)``, floating point.
        target: target values, the shape of ``pred``.
        weight: optional non-negative per-element weights broadcastable to ``(*)``; default
            ``None`` (all 1).
        mask: optional bool tensor broadcastable to ``(*)``, ``False`` = leave the element
            out; default ``None``.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default: ``sum(w l) / sum(w)``
            over the kept elements, 0 when none is kept) or ``"sum"``.

    Returns:
        The loss in the dtype of ``pred``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-tensor or non-floating inputs, a non-bool ``mask``.
        ValueError: different shapes (no silent broadcasting), a ``weight`` or ``mask`` that
            does not broadcast to ``pred``, a negative or NaN ``weight``, an unknown
            ``reduction``.

    Equals ``torch.nn.functional.l1_loss``.

    Example:
        >>> import torch
        >>> l1_loss(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 0.0]))
        tensor(1.5000)
    """
    return elementwise_loss(
        "l1_loss",
        pred,
        target,
        weight,
        mask,
        reduction,
        lambda p, t, r: TF.l1_loss(p, t, reduction=r),
    )


@checked
def mse_loss(
    pred: Tensor, target: Tensor, *, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Mean squared error (L2 loss).

    Formula:
        l = (pred - target)^2;  dl/dpred = 2 (pred - target)

    Its gradient grows with the error: large early errors give large steps, which can make
    early training explode.

    When to use:
        The maximum-likelihood loss under Gaussian noise. Its gradient grows with the error,
        so outliers and large early errors dominate and can make training explode.

    Args:
        pred: predicted values, any shape ``(*)``, floating point.
        target: target values, the shape of ``pred``.
        weight: optional non-negative per-element weights broadcastable to ``(*)``; default
            ``None``.
        mask: optional bool tensor broadcastable to ``(*)``, ``False`` = leave out; default
            ``None``.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default, ``sum(w l) / sum(w)``)
            or ``"sum"``.

    Returns:
        The loss in the dtype of ``pred``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-tensor or non-floating inputs, a non-bool ``mask``.
        ValueError: different shapes (torch broadcasts ``(3, 1)`` against ``(3,)`` into
            ``(3, 3)`` with a warning; losskit raises), a bad ``weight``/``mask``/``reduction``.

    Equals ``torch.nn.functional.mse_loss`` for equal shapes.

    Example:
        >>> import torch
        >>> mse_loss(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 0.0]))
        tensor(2.5000)
    """
    return elementwise_loss(
        "mse_loss",
        pred,
        target,
        weight,
        mask,
        reduction,
        _mse_kernel,
    )


@checked
def smooth_l1_loss(
    pred: Tensor, target: Tensor, *, beta: NonNegative = 1.0, weight: Weight = None,
    mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Smooth L1 loss: quadratic near zero, linear far away (Fast R-CNN's box loss).

    Formula:
        l = 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta,  d = pred - target

    Its gradient is ``d / beta`` near zero (small steps at the optimum) and bounded by 1 far
    away (no explosion): the best of L1 and L2. ``beta = 0`` is L1.

    When to use:
        Box-coordinate and other regression where both outliers and fine convergence matter:
        the gradient is d/beta near zero and bounded by 1 far away.

    Args:
        pred: predicted values, any shape ``(*)``, floating point.
        target: target values, the shape of ``pred``.
        beta: the switch point, ``>= 0``; default 1.
        weight: optional non-negative per-element weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``, ``False`` = leave out.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``pred``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, a non-numeric ``beta``.
        ValueError: different shapes, a negative ``beta``, a bad ``weight``/``mask``/``reduction``.

    Equals ``torch.nn.functional.smooth_l1_loss``.

    Paper:
        Girshick, "Fast R-CNN", ICCV 2015, arXiv:1504.08083.

    Example:
        >>> import torch
        >>> smooth_l1_loss(torch.tensor([0.5, 3.0]), torch.zeros(2), reduction="none")
        tensor([0.1250, 2.5000])
    """
    return elementwise_loss(
        "smooth_l1_loss", pred, target, weight, mask, reduction,
        lambda p, t, r: TF.smooth_l1_loss(p, t, beta=beta, reduction=r),
    )  # fmt: skip


@checked
def huber_loss(
    pred: Tensor, target: Tensor, *, delta: Positive = 1.0, weight: Weight = None,
    mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Huber loss: Smooth L1 scaled by ``delta``, so its gradient is bounded by ``delta``.

    Formula:
        l = 0.5 d^2 if |d| < delta else delta (|d| - 0.5 delta) = delta * smooth_l1(d, beta=delta)

    When to use:
        Robust regression with a switch point in the units of the target: errors below delta
        are treated as Gaussian noise, larger ones as outliers.

    Args:
        pred: predicted values, any shape ``(*)``, floating point.
        target: target values, the shape of ``pred``.
        delta: the switch point, ``> 0``; default 1.
        weight: optional non-negative per-element weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``, ``False`` = leave out.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``pred``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, a non-numeric ``delta``.
        ValueError: different shapes, ``delta <= 0``, a bad ``weight``/``mask``/``reduction``.

    Weighted mean: losskit divides by ``sum(w)`` here as everywhere. torch's
    ``huber_loss(weight=)`` divides by the element count instead (``mean(w l)``), unlike its
    own ``l1_loss(weight=)``; the two agree when no weight is given.

    Paper:
        Huber, "Robust Estimation of a Location Parameter", Ann. Math. Statist. 35(1), 1964.

    Example:
        >>> import torch
        >>> huber_loss(torch.tensor([0.5, 3.0]), torch.zeros(2), delta=2.0, reduction="none")
        tensor([0.1250, 4.0000])
    """
    return elementwise_loss(
        "huber_loss", pred, target, weight, mask, reduction,
        partial(_huber_kernel, delta=delta),
    )  # fmt: skip


def _log_cosh(p: Tensor, t: Tensor, reduction: str) -> Tensor:
    # |d| < 1: log cosh d = log1p(2 sinh(|d|/2)^2), relatively exact down to the smallest
    # residual (value and gradient tanh d). |d| >= 1: |d| + softplus(-2|d|) - log 2, no cosh
    # to overflow (cosh(90) is inf in float32) and no cancellation there.
    d = p - t
    a = d.abs()
    near = a < 1.0
    s = torch.sinh(torch.where(near, d, 0.0) * 0.5)  # d, not |d|: exact second derivative at 0
    far = torch.where(near, 1.0, a)
    loss = torch.where(
        near, torch.log1p(2.0 * s * s), far + TF.softplus(-2.0 * far) - math.log(2.0)
    )
    return loss if reduction == "none" else (loss.sum() if reduction == "sum" else loss.mean())


@checked
def log_cosh_loss(
    pred: Tensor, target: Tensor, *, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Log-cosh loss: the logarithm of the hyperbolic cosine of the residual.

    Formula:
        l = log(cosh(d)),  d = pred - target;  dl/dd = tanh(d)

    About ``d^2 / 2`` for small residuals and ``|d| - log 2`` for large ones, like Huber's,
    but smooth everywhere (every derivative exists) and with no switch point to tune. It is
    computed as ``log1p(2 sinh(|d|/2)^2)`` below ``|d| = 1`` (relatively exact for the
    smallest residuals, value and gradient) and as ``|d| + softplus(-2 |d|) - log 2`` above,
    finite for any finite residual (``cosh`` itself overflows float32 past ``|d| = 89``).

    When to use:
        Regression that wants Huber's robustness without choosing delta, or a twice
        differentiable loss (second-order optimisers): quadratic near zero, linear far away.

    Args:
        pred: predicted values, any shape ``(*)``, floating point.
        target: target values, the shape of ``pred``.
        weight: optional non-negative per-element weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave out.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default, ``sum(w l) / sum(w)``) or
            ``"sum"``.

    Returns:
        The loss in the dtype of ``pred``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, a non-bool ``mask``.
        ValueError: different shapes, a bad ``weight``/``mask``/``reduction``.

    Paper:
        Chen, Chen, Zhang, "Log Hyperbolic Cosine Loss Improves Variational Auto-Encoder",
        OpenReview (ICLR 2019 submission); the function is older (robust statistics).

    Example:
        >>> import torch
        >>> log_cosh_loss(torch.tensor([0.0, 1.0, 100.0]), torch.zeros(3), reduction="none")
        tensor([ 0.0000,  0.4338, 99.3069])
    """
    return elementwise_loss("log_cosh_loss", pred, target, weight, mask, reduction, _log_cosh)


# ----------------------------------------------------------------------------- modules


class L1Loss(LossModule, function=l1_loss):
    """Mean absolute error (L1 loss), ``l = |pred - target|``.

    Args:
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(pred, target, *, weight=None, mask=None)``: ``pred`` and ``target`` of one
        shape ``(*)``; ``weight``/``mask`` broadcastable to it. Output: a scalar, or ``(*)``
        with ``reduction="none"``.

    Example:
        >>> import torch
        >>> L1Loss(reduction="sum")(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 0.0]))
        tensor(3.)
    """


class MSELoss(LossModule, function=mse_loss):
    """Mean squared error (L2 loss), ``l = (pred - target)^2``.

    Args:
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(pred, target, *, weight=None, mask=None)``: ``pred`` and ``target`` of one
        shape ``(*)``. Output: a scalar, or ``(*)`` with ``reduction="none"``.

    Example:
        >>> import torch
        >>> MSELoss()(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 0.0]))
        tensor(2.5000)
    """


class SmoothL1Loss(LossModule, function=smooth_l1_loss):
    """Smooth L1 loss, ``0.5 d^2 / beta`` for ``|d| < beta`` else ``|d| - 0.5 beta``.

    Args:
        beta: the switch point, ``>= 0``; default 1 (``beta = 0`` is L1).
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(pred, target, *, weight=None, mask=None)``: ``pred`` and ``target`` of one
        shape ``(*)``. Output: a scalar, or ``(*)`` with ``reduction="none"``.

    Paper:
        Girshick, "Fast R-CNN", ICCV 2015, arXiv:1504.08083.

    Example:
        >>> import torch
        >>> SmoothL1Loss(beta=0.5)(torch.tensor([0.25, 3.0]), torch.zeros(2))
        tensor(1.4062)
    """

    beta: NonNegative = DEFAULT


class HuberLoss(LossModule, function=huber_loss):
    """Huber loss, ``0.5 d^2`` for ``|d| < delta`` else ``delta (|d| - 0.5 delta)``.

    Args:
        delta: the switch point, ``> 0``; default 1.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(pred, target, *, weight=None, mask=None)``: ``pred`` and ``target`` of one
        shape ``(*)``. Output: a scalar, or ``(*)`` with ``reduction="none"``.

    Paper:
        Huber, "Robust Estimation of a Location Parameter", Ann. Math. Statist. 35(1), 1964.

    Example:
        >>> import torch
        >>> HuberLoss(delta=2.0, reduction="sum")(torch.tensor([0.5, 3.0]), torch.zeros(2))
        tensor(4.1250)
    """

    delta: Positive = DEFAULT


class LogCoshLoss(LossModule, function=log_cosh_loss):
    """Log-cosh loss, ``log(cosh(pred - target))``: quadratic near zero, linear far away.

    Args:
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(pred, target, *, weight=None, mask=None)``: ``pred`` and ``target`` of one
        shape ``(*)``. Output: a scalar, or ``(*)`` with ``reduction="none"``.

    Example:
        >>> import torch
        >>> LogCoshLoss(reduction="sum")(torch.tensor([1.0, -1.0]), torch.zeros(2))
        tensor(0.8676)
    """


# the robust losses live in their own file, on the same element-wise plumbing
from ._robust import (  # noqa: E402
    BalancedL1Loss,
    CauchyLoss,
    CharbonnierLoss,
    GemanMcClureLoss,
    GeneralRobustLoss,
    WelschLoss,
    WingLoss,
    balanced_l1_loss,
    cauchy_loss,
    charbonnier_loss,
    geman_mcclure_loss,
    general_robust_loss,
    welsch_loss,
    wing_loss,
)
