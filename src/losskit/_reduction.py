"""The one reduction helper every losskit loss ends in.

Rules, the same for every loss in the library:

* ``reduction`` is one of ``"none"``, ``"mean"`` (the library default) or ``"sum"``.
* ``"none"`` returns the per-element (or per-sample) loss, multiplied by ``weight`` if given.
* ``"sum"`` returns ``sum(w * l)``.
* ``"mean"`` returns ``sum(w * l) / sum(w)``: a weighted mean divides by the total weight,
  not by the number of elements (torch's ``l1_loss(weight=)`` rule; see
  :func:`losskit.functional.huber_loss` for where torch itself departs from it).
  Without a weight this is the plain mean.
* An empty loss (no element, or a total weight of zero) under ``"mean"`` is ``0`` with a
  gradient (``loss.sum() * 0``), never NaN.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import Tensor

from ._autograd import traced
from ._checks import (
    all_true,
    check_broadcast,
    check_same_device,
    keep_bytes,
    keep_factor,
    not_ignored,
    surely_finite,
)

Reduction = Literal["none", "mean", "sum"]
REDUCTIONS: tuple[str, ...] = get_args(Reduction)
DEFAULT_REDUCTION: Reduction = "mean"


def check_reduction(fn: str, reduction: object) -> None:
    """Raise ``ValueError`` unless ``reduction`` is one of ``"none" | "mean" | "sum"``."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(
            f"{fn}: reduction must be one of {', '.join(map(repr, REDUCTIONS))}; got {reduction!r}"
        )


def reduce_loss(
    loss: Tensor,
    reduction: Reduction = DEFAULT_REDUCTION,
    *,
    weight: Tensor | None = None,
    fn: str = "reduce_loss",
    mean_weight: Tensor | None = None,
) -> Tensor:
    """Reduce an unreduced loss tensor.

    Args:
        loss: the unreduced loss, any shape.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        weight: optional non-negative weights broadcastable to ``loss`` (it never enlarges
            ``loss``). ``"mean"`` then divides by ``sum(weight)`` broadcast to ``loss``.
        fn: the public function's name, for error messages.
        mean_weight: what each entry counts in the denominator of ``"mean"`` when that is
            not its ``weight`` (softmax cross-entropy's class weights, torch's rule: the loss
            already carries them, the mean divides by them); broadcastable to ``loss``.

    Returns:
        ``loss * weight`` for ``"none"``; a scalar otherwise.

    Raises:
        ValueError: unknown ``reduction``, or a ``weight`` that does not broadcast to ``loss``
            without enlarging it.

    Example:
        >>> import torch
        >>> reduce_loss(torch.tensor([1.0, 3.0]), "mean", weight=torch.tensor([1.0, 3.0]))
        tensor(2.5000)
        >>> reduce_loss(torch.zeros(0), "mean")
        tensor(0.)
    """
    check_reduction(fn, reduction)
    if weight is not None:
        if torch.broadcast_shapes(weight.shape, loss.shape) != loss.shape:
            raise ValueError(
                f"{fn}: weight must broadcast to the loss shape {tuple(loss.shape)} without "
                f"enlarging it; got {tuple(weight.shape)}"
            )
        loss = loss * weight
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    counted = weight if mean_weight is None else mean_weight
    if counted is None:
        if loss.numel() == 0:
            # mean of nothing: 0, still attached to the graph
            return total * 0.0
        return total / loss.numel()
    denom = counted.expand_as(loss).sum().to(total.dtype)
    # sum(w*l)/sum(w); a total weight of 0 (or an empty loss) gives 0 rather than 0/0.
    # torch.where keeps this free of host-device synchronisation.
    safe = torch.where(denom > 0, denom, torch.ones_like(denom))
    return torch.where(denom > 0, total / safe, total * 0.0)


def exclusion(
    fn: str,
    shape: torch.Size | tuple[int, ...],
    *,
    mask: Tensor | None = None,
    labels: Tensor | None = None,
    ignore_index: int | None = None,
) -> Tensor | None:
    """The one exclusion rule: which entries of a loss of ``shape`` are kept.

    ``mask`` (bool, ``True`` = keep) must broadcast to ``shape`` without enlarging it;
    ``ignore_index`` is sugar for ``mask=labels != ignore_index`` (``labels`` of ``shape``).
    Both may be given; an entry is kept where both keep it. ``None`` when nothing is
    excluded.
    """
    keep = check_broadcast(fn, "mask", mask, shape)
    by_label = None
    if ignore_index is not None and labels is not None:
        if (
            keep is None
            and labels.device.type == "cpu"
            and labels.dtype != torch.bool
            and labels.numel()
            and not traced()
        ):
            lo, hi = labels.aminmax()  # one pass, no bool tensor: is ignore_index there at all?
            if ignore_index < lo or ignore_index > hi:
                return None
        by_label = not_ignored(labels, ignore_index)
    if by_label is not None:
        if (
            keep is None
            and by_label.device.type == "cpu"  # labels' device (by_label = labels != i)
            and not traced()
            and bool(all_true(by_label))
        ):
            return None  # nothing to leave out: the losses take their unmasked fast paths
        keep = by_label if keep is None else keep & by_label
    return keep


def zero_excluded(x: Tensor, keep: Tensor | None, trailing: int = 0) -> Tensor:
    """``x`` with its excluded entries set to 0, so that a loss computed on it can neither read
    nor differentiate through whatever an excluded entry held (NaN, inf, a void label).

    ``keep`` broadcasts against ``x`` from the right after ``trailing`` dimensions of ``x``
    that it does not cover: 0 for an element-wise mask, 1 for a per-row mask of ``(N, D)``
    embeddings or a per-box mask of ``(*, 4)`` boxes.
    """
    if keep is None:
        return x
    k = keep.reshape(*keep.shape, *([1] * trailing))
    if surely_finite(x):  # (CPU, eager) nothing to guard against: a product, 3x cheaper
        return x * keep_bytes(k)
    return torch.where(k, x, torch.zeros((), dtype=x.dtype, device=x.device))


def finish(
    fn: str,
    loss: Tensor,
    reduction: Reduction,
    *,
    weight: Tensor | None = None,
    keep: Tensor | None = None,
    out_dtype: torch.dtype | None = None,
    mean_weight: Tensor | None = None,
) -> Tensor:
    """The one finishing step of every loss: exclude, weigh, reduce, cast back.

    Excluded entries (``keep`` False) read 0 under ``"none"``, get a zero gradient and leave
    both the numerator and the denominator of ``"mean"``; whatever they held (a 255 "void"
    label, a NaN from an undefined branch) never reaches the result. ``weight`` (non-negative,
    broadcastable to ``loss`` without enlarging it) gives ``"mean" = sum(w l) / sum(w)`` over
    the kept entries, and 0 (with a gradient) when nothing is kept. ``mean_weight``: see
    :func:`reduce_loss`.
    """
    check_broadcast(fn, "weight", weight, loss.shape)
    check_broadcast(fn, "mask", keep, loss.shape)
    check_same_device(fn, ("the loss", loss), ("weight", weight), ("mask", keep))
    w = None if weight is None else weight.to(loss.dtype)
    if keep is not None:
        k = keep_factor(keep, loss.dtype)  # one conversion for the product and the count
        if surely_finite(loss) and (w is None or surely_finite(w)):
            # (CPU, eager) every entry finite: a left-out one weighs 0, in value and gradient,
            # without the selects (a bool select costs about three float products on CPU)
            w = k if w is None else w * k
        else:
            loss = torch.where(keep, loss, torch.zeros((), dtype=loss.dtype, device=loss.device))
            w = (
                k
                if w is None
                else torch.where(keep, w, torch.zeros((), dtype=w.dtype, device=w.device))
            )
    if mean_weight is not None:
        mw = mean_weight.to(loss.dtype)
        if weight is not None:
            mw = mw * weight.to(loss.dtype)
        if keep is not None:
            mw = torch.where(keep, mw, torch.zeros((), dtype=mw.dtype, device=mw.device))
        mean_weight = mw
    out = reduce_loss(loss, reduction, weight=w, fn=fn, mean_weight=mean_weight)
    return out if out_dtype is None else out.to(out_dtype)


# --------------------------------------------------------------------------------------------
# dense detection's normaliser: "mean" divides the summed loss by a count of positives
# --------------------------------------------------------------------------------------------


def check_avg_factor(fn: str, avg_factor: object, reduction: str) -> None:
    """``avg_factor`` (already checked by its annotation: ``None``, a number or a tensor
    ``>= 0``) is one value and goes with ``reduction="mean"`` only."""
    if avg_factor is None:
        return
    if isinstance(avg_factor, Tensor) and avg_factor.numel() != 1:
        raise ValueError(
            f"{fn}: avg_factor must be a number or a one-element tensor; "
            f"got shape {tuple(avg_factor.shape)}"
        )
    if reduction != "mean":
        raise ValueError(
            f"{fn}: avg_factor sets what reduction='mean' divides by; got "
            f"reduction={reduction!r} (drop avg_factor, or use 'mean')"
        )


def finish_avg(
    fn: str,
    loss: Tensor,
    reduction: Reduction,
    *,
    avg_factor: float | Tensor | None = None,
    weight: Tensor | None = None,
    keep: Tensor | None = None,
    out_dtype: torch.dtype | None = None,
) -> Tensor:
    """:func:`finish` with dense detection's normaliser.

    Without ``avg_factor`` this is :func:`finish`. With it (``reduction="mean"`` only),
    ``"mean"`` is ``sum(w l) / max(avg_factor, 1)`` over the kept entries: the summed loss
    divided by a count the caller gives (the number of positive anchors, mmdetection's
    ``avg_factor``), not by the number or weight of the entries. A count below 1 (a batch
    without positives) divides by 1, as the detectors of mmdetection and ultralytics clamp
    it, so an all-negative batch keeps its finite loss and gradient.

    Example:
        >>> import torch
        >>> finish_avg("f", torch.tensor([1.0, 2.0, 3.0]), "mean", avg_factor=2.0)
        tensor(3.)
        >>> finish_avg("f", torch.tensor([1.0, 2.0, 3.0]), "mean", avg_factor=0)
        tensor(6.)
    """
    check_avg_factor(fn, avg_factor, reduction)
    if avg_factor is None:
        return finish(fn, loss, reduction, weight=weight, keep=keep, out_dtype=out_dtype)
    total = finish(fn, loss, "sum", weight=weight, keep=keep)
    denom: Tensor | float
    if isinstance(avg_factor, Tensor):
        check_same_device(fn, ("the loss", loss), ("avg_factor", avg_factor))
        denom = avg_factor.reshape(()).to(total.dtype).clamp_min(1.0)
    else:
        denom = max(float(avg_factor), 1.0)
    out = total / denom
    return out if out_dtype is None else out.to(out_dtype)


def mean_over_ranks(count: Tensor | float) -> Tensor:
    """``count`` averaged over the ranks of the default process group (``all_reduce`` of the
    sum, divided by the world size); outside ``torch.distributed`` (not available or not
    initialised) the count itself; a 0-dim float64 tensor either way.

    Why the mean: data-parallel training averages the ranks' gradients, so a rank that
    divides its summed loss by the *mean* count ``n_bar = sum_r n_r / R`` contributes
    ``S_r / n_bar``, and the average over ranks is ``sum_r S_r / sum_r n_r``: the loss of the
    whole global batch divided by the global count (mmdetection's ``reduce_mean``).

    The count is detached (it is a count, not a function of the parameters); the result
    lies on the count's device (a Python number: on CPU for gloo, on the current
    accelerator for NCCL).
    """
    import torch.distributed as dist

    # float64: the mean of integer counts over any number of ranks is then exact enough
    # that dividing a float64 loss by it agrees with one process to rounding
    if isinstance(count, Tensor):
        t = count.detach().to(torch.float64).reshape(()).clone()
    else:
        device = torch.device("cpu")
        if dist.is_available() and dist.is_initialized() and dist.get_backend() == "nccl":
            device = torch.device("cuda", torch.cuda.current_device())
        t = torch.tensor(float(count), dtype=torch.float64, device=device)
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return t
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t / dist.get_world_size()
