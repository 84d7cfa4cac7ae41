"""Plumbing shared by the element-wise losses of every family: validate, compute in float32
for half-precision inputs, reduce with :func:`losskit._reduction.reduce_loss`, and return in
the input dtype."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from .._checks import (
    check_floating,
    check_same_device,
    check_same_shape,
    check_weight,
    compute_dtype,
)
from .._reduction import Reduction, check_reduction, reduce_loss

#: ``kernel(pred, target, reduction)`` with torch's reduction semantics.
Kernel = Callable[[Tensor, Tensor, str], Tensor]


def elementwise_loss(
    fn: str,
    pred: Tensor,
    target: Tensor,
    weight: Tensor | None,
    reduction: Reduction,
    kernel: Kernel,
) -> Tensor:
    """Run an element-wise ``kernel`` with the library's checks, upcasting and reduction.

    Unweighted, non-empty "mean" and "sum" go straight to the kernel's own reduction (one
    fused pass); everything else reduces the unreduced loss with :func:`reduce_loss`, which
    gives the weighted mean ``sum(w*l)/sum(w)`` and 0 (not NaN) for an empty mean.
    """
    check_floating(fn, "pred", pred)
    check_floating(fn, "target", target)
    check_same_shape(fn, pred, target)
    check_same_device(fn, ("pred", pred), ("target", target))
    check_reduction(fn, reduction)
    weight = check_weight(fn, weight, pred.shape)
    out_dtype = pred.dtype
    work = compute_dtype(pred)
    p, t = pred.to(work), target.to(work)
    if weight is None and reduction != "none" and pred.numel() > 0:
        return kernel(p, t, reduction).to(out_dtype)
    loss = kernel(p, t, "none")
    w = None if weight is None else weight.to(work)
    return reduce_loss(loss, reduction, weight=w, fn=fn).to(out_dtype)
