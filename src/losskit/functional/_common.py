"""Plumbing shared by the element-wise losses: validate, compute in float32 for half-precision
inputs, exclude and weigh with :func:`losskit._reduction.finish`, return in the input dtype."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from .._checks import (
    check_broadcast,
    check_floating,
    check_integer,
    check_ndim,
    check_per_row,
    check_same_device,
    check_same_shape,
    surely_finite,
)
from .._checks import compute_dtype as compute_dtype
from .._reduction import Reduction, exclusion, finish, zero_excluded

#: ``kernel(pred, target, reduction)`` with torch's reduction semantics.
Kernel = Callable[[Tensor, Tensor, Reduction], Tensor]


def elementwise_loss(
    fn: str,
    pred: Tensor,
    target: Tensor,
    weight: Tensor | None,
    mask: Tensor | None,
    reduction: Reduction,
    kernel: Kernel,
) -> Tensor:
    """Run an element-wise ``kernel`` with the library's checks, upcasting and reduction.

    Unweighted, unmasked, non-empty "mean" and "sum" go straight to the kernel's own reduction
    (one fused pass); everything else reduces the unreduced loss with :func:`finish`.
    """
    check_floating(fn, "pred", pred)
    check_floating(fn, "target", target)
    check_same_shape(fn, pred, target)
    check_same_device(fn, ("pred", pred), ("target", target), ("weight", weight), ("mask", mask))
    keep = exclusion(fn, pred.shape, mask=mask)
    check_broadcast(fn, "weight", weight, pred.shape)
    out_dtype = pred.dtype
    work = compute_dtype(pred)
    p, t = pred.to(work), target.to(work)
    if keep is not None and not (surely_finite(p) and surely_finite(t)):
        # a NaN or inf left out must reach nothing; finite inputs give a finite loss, which
        # finish weighs 0 there (value and gradient) without these selects
        p, t = zero_excluded(p, keep), zero_excluded(t, keep)
    if weight is None and keep is None and reduction != "none" and pred.numel() > 0:
        return kernel(p, t, reduction).to(out_dtype)
    loss = kernel(p, t, "none")
    return finish(fn, loss, reduction, weight=weight, keep=keep, out_dtype=out_dtype)


def labelled_rows(
    fn: str, embeddings: Tensor, labels: Tensor, *, weight: Tensor | None, mask: Tensor | None,
    ignore_index: int | None, extra: tuple[tuple[str, Tensor | None], ...] = (),
) -> Tensor | None:  # fmt: skip
    """Check a labelled batch, ``embeddings (N, D)`` floating and ``labels (N,)`` integer, a
    per-row ``weight``, the ``mask``, and ``extra`` named tensors on the same device; return
    the kept rows (``None``: all), from ``mask`` and ``ignore_index``."""
    check_floating(fn, "embeddings", embeddings)
    check_ndim(fn, "embeddings", embeddings, 2)
    check_integer(fn, "labels", labels)
    if labels.shape != embeddings.shape[:1]:
        raise ValueError(
            f"{fn}: labels must have shape (N,) = ({embeddings.shape[0]},) to match embeddings "
            f"{tuple(embeddings.shape)}; got {tuple(labels.shape)}"
        )
    check_same_device(fn, ("embeddings", embeddings), ("labels", labels), ("weight", weight),
                      ("mask", mask), *extra)  # fmt: skip
    check_per_row(fn, "weight", weight, embeddings.shape[0])
    return exclusion(fn, labels.shape, mask=mask, labels=labels, ignore_index=ignore_index)
