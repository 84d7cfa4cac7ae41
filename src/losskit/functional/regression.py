"""Distance (regression) losses on a residual ``d = pred - target``: L1, L2 (MSE), Smooth L1
and Huber. SPEC.md section 1.

The element-wise kernels are torch's own (fused forward and backward); losskit adds the
checks, float32 compute for half inputs, and its reduction rules. Every function takes an optional per-element ``weight`` (broadcastable to ``pred`` without
enlarging it) and reduces with the library rule: ``"mean"`` is ``sum(w*l) / sum(w)``.
"""

from __future__ import annotations

import torch.nn.functional as TF
from torch import Tensor

from .._checks import check_positive
from .._reduction import Reduction
from ._common import elementwise_loss

__all__ = ["l1_loss", "mse_loss", "smooth_l1_loss", "huber_loss"]


def l1_loss(
    pred: Tensor, target: Tensor, *, weight: Tensor | None = None, reduction: Reduction = "mean"
) -> Tensor:
    r"""Mean absolute error, ``l = |pred - target|``.

    Its gradient is ``sign(d)``: constant magnitude 1 whatever the error, so it cannot take
    small steps near the optimum (SPEC.md section 1).

    Args:
        pred: predictions, any shape, floating point.
        target: same shape as ``pred``.
        weight: optional per-element weights broadcastable to ``pred``.
        reduction: ``"none"`` (shape of ``pred``), ``"mean"`` (``sum(w*l)/sum(w)``) or ``"sum"``.

    Returns:
        The loss; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-tensor or non-floating inputs.
        ValueError: shape mismatch, bad ``weight`` or ``reduction``.

    Equals ``torch.nn.functional.l1_loss`` (same weighted-mean rule).

    Example:
        >>> import torch
        >>> l1_loss(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 0.0]))
        tensor(1.5000)
    """
    return elementwise_loss(
        "l1_loss", pred, target, weight, reduction, lambda p, t, r: TF.l1_loss(p, t, reduction=r)
    )


def mse_loss(
    pred: Tensor, target: Tensor, *, weight: Tensor | None = None, reduction: Reduction = "mean"
) -> Tensor:
    r"""Mean squared error (L2 loss), ``l = (pred - target)^2``.

    Its gradient ``2d`` grows with the error: large early errors give large steps, which can
    make early training explode (SPEC.md section 1).

    Args, Returns and Raises as :func:`l1_loss`. Equals ``torch.nn.functional.mse_loss``
    for equal shapes (torch broadcasts mismatched shapes with a warning; losskit raises).

    Example:
        >>> import torch
        >>> mse_loss(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 0.0]))
        tensor(2.5000)
    """
    return elementwise_loss(
        "mse_loss", pred, target, weight, reduction, lambda p, t, r: TF.mse_loss(p, t, reduction=r)
    )


def smooth_l1_loss(
    pred: Tensor,
    target: Tensor,
    *,
    beta: float = 1.0,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Smooth L1 loss (Girshick, "Fast R-CNN", ICCV 2015, arXiv:1504.08083).

    ``l = 0.5 d^2 / beta`` if ``|d| < beta`` else ``|d| - 0.5 beta``. Its gradient is
    ``d / beta`` near zero (small steps at the optimum) and bounded by 1 far away (no
    explosion): the best of L1 and L2. ``beta = 0`` is L1.

    Args:
        beta: the switch point, ``>= 0``.
        Others as :func:`l1_loss`.

    Equals ``torch.nn.functional.smooth_l1_loss``.

    Example:
        >>> import torch
        >>> smooth_l1_loss(torch.tensor([0.5, 3.0]), torch.zeros(2), reduction="none")
        tensor([0.1250, 2.5000])
    """
    beta = check_positive("smooth_l1_loss", "beta", beta, allow_zero=True)
    return elementwise_loss(
        "smooth_l1_loss",
        pred,
        target,
        weight,
        reduction,
        lambda p, t, r: TF.smooth_l1_loss(p, t, beta=beta, reduction=r),
    )


def huber_loss(
    pred: Tensor,
    target: Tensor,
    *,
    delta: float = 1.0,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Huber loss (Huber, "Robust Estimation of a Location Parameter", Ann. Math. Statist. 1964).

    ``l = 0.5 d^2`` if ``|d| < delta`` else ``delta (|d| - 0.5 delta)``, i.e.
    ``delta * smooth_l1(d, beta=delta)``: the Smooth L1 curve scaled by ``delta``, so its
    gradient is bounded by ``delta`` instead of 1.

    Args:
        delta: the switch point, ``> 0``.
        Others as :func:`l1_loss`.

    Weighted mean: losskit divides by ``sum(w)`` here as everywhere. torch's
    ``huber_loss(weight=)`` divides by the element count instead (``mean(w*l)``), unlike its
    own ``l1_loss(weight=)``; the two agree when no weight is given.

    Example:
        >>> import torch
        >>> huber_loss(torch.tensor([0.5, 3.0]), torch.zeros(2), delta=2.0, reduction="none")
        tensor([0.1250, 4.0000])
    """
    delta = check_positive("huber_loss", "delta", delta)
    return elementwise_loss(
        "huber_loss",
        pred,
        target,
        weight,
        reduction,
        lambda p, t, r: TF.huber_loss(p, t, delta=delta, reduction=r),
    )
