"""Distance-based segmentation losses of the overlap family: the Hausdorff distance-transform
loss (and its log form) and the boundary (surface) loss, each a function and a module
(re-exported by :mod:`losskit.functional.overlap`).

Both weigh each position's error by its distance to a boundary, computed by the exact torch
Euclidean distance transform (:func:`losskit.distance_transform_edt`) for the whole batch on
the input's device: no scipy, no host round trip. The distance maps are constants (no
gradient flows through them), as in the papers.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import _kept_activations as kept_activations
from .._api import DEFAULT, LossModule, checked
from .._autograd import transforms_active
from .._checks import (
    ClassWeight,
    Mask,
    NonNegative,
    Weight,
    all_true,
    any_true,
    check_floating,
    check_labels,
    check_min_ndim,
    check_same_device,
    check_same_shape,
    check_tensor,
    check_unit_values,
    compute_dtype,
    float_onehot,
    keep_factor,
    scatter_onehot,
)
from .._distance_transform import distance_transform_edt
from .._reduction import Reduction, exclusion, zero_excluded
from .overlap import Mode, _finish

__all__ = [
    "hausdorff_dt_loss",
    "boundary_loss",
    "signed_distance_map",
    "HausdorffDTLoss",
    "BoundaryLoss",
]


def _class_maps(
    fn: str, logits: Tensor, target: Tensor, *, mode: str, from_logits: bool,
    ignore_index: int | None, mask: Tensor | None, foreground: bool = True,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:  # fmt: skip
    """Validate and activate: ``(p, g, keep, fg)``, each ``(N, C, *S)`` (``keep`` broadcastable
    to it or ``None``; ``C = 1`` in binary mode): the probabilities in the compute dtype, the
    0/1 target (0 at excluded positions) and the predicted foreground ``p > 1/2`` (decided in
    float64, so that float32 and float64 inputs give the same maps; ``None`` unless
    ``foreground``: in multiclass mode it costs a float64 softmax)."""
    check_floating(fn, "logits", logits)
    check_tensor(fn, "target", target)
    check_same_device(fn, ("logits", logits), ("target", target), ("mask", mask))
    work = compute_dtype(logits)
    if mode == "multiclass":
        check_min_ndim(fn, "logits", logits, 3, "(N, C, *spatial) in multiclass mode")
        spatial = logits.shape[:1] + logits.shape[2:]
        if target.shape != spatial:
            raise ValueError(
                f"{fn}: in multiclass mode target must be (N, ...) = {tuple(spatial)} for "
                f"logits {tuple(logits.shape)}; got {tuple(target.shape)}"
            )
        c = logits.shape[1]
        if torch.compiler.is_compiling() and c < 2**24:
            return _compiled_class_maps(fn, logits, target, from_logits, ignore_index, mask,
                                        foreground, work)  # fmt: skip
        keep = exclusion(fn, spatial, mask=mask, labels=target, ignore_index=ignore_index)
        check_labels(fn, target, c, name="target", ignore_index=ignore_index, keep=keep)
        if not from_logits:  # left-out positions hold anything (zeroed below)
            check_unit_values(fn, "logits", logits, " (from_logits=False: probabilities)",
                              None if keep is None else keep.unsqueeze(1))  # fmt: skip
        k = None if keep is None else keep.unsqueeze(1)
        x = zero_excluded(logits.to(work), k)
        p = torch.softmax(x, 1) if from_logits else x
        labels = target.long() if keep is None else torch.where(keep, target.long(), 0)
        # the 0/1 target in the compute dtype directly (no int64 one-hot tensor)
        g = scatter_onehot(x, labels)
        fg = None
        if foreground:
            with torch.no_grad():
                fg = _foreground64(x, from_logits)
    else:
        check_same_shape(fn, logits, target, ("logits", "target"))
        lead = 2 if mode == "multilabel" else 1
        check_min_ndim(fn, "logits", logits, lead + 1,
                       "(N, C, *spatial) in multilabel mode" if lead == 2 else "(N, *spatial)")  # fmt: skip
        if target.is_complex():
            raise TypeError(f"{fn}: target must be real; got dtype {target.dtype}")
        keep = exclusion(fn, logits.shape, mask=mask, labels=target, ignore_index=ignore_index)
        check_unit_values(fn, "target", target, " (binary targets; exclude void labels with "
                          "ignore_index or mask)", keep)  # fmt: skip
        if not from_logits:  # left-out positions hold anything (zeroed below)
            check_unit_values(fn, "logits", logits, " (from_logits=False: probabilities)", keep)
        x = zero_excluded(logits.to(work), keep)
        p = torch.sigmoid(x) if from_logits else x
        g = target.to(work) if keep is None else zero_excluded(target.to(work), keep)
        fg = None
        if foreground:
            with torch.no_grad():
                # (probabilities: x > 0.5 in x's float dtype is the float64 decision, exactly)
                fg = x > 0 if from_logits else x > 0.5
                if torch.compiler.is_compiling():  # a float 0/1 map there (see _maps_op)
                    fg = fg.to(x.dtype)
        k = keep
        if mode == "binary":
            p, g = p.unsqueeze(1), g.unsqueeze(1)
            fg = None if fg is None else fg.unsqueeze(1)
            k = None if k is None else k.unsqueeze(1)
    return p, g, k, fg


def _compiled_class_maps(
    fn: str, logits: Tensor, target: Tensor, from_logits: bool, ignore_index: int | None,
    mask: Tensor | None, foreground: bool, work: torch.dtype,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:  # fmt: skip
    """:func:`_class_maps` in multiclass mode under ``torch.compile``: the same maps (a
    left-out position has the logits 0 and the label 0, as eagerly), with the labels as
    floats and their one-hot form as float arithmetic
    (:func:`~losskit._checks.float_onehot`), and the softmax kept for the backward
    (:mod:`losskit._kept_activations`). The compiler had compared the int64 labels on its
    slow AVX2 path and scattered them, and recomputed the softmax's ``exp`` in the backward.
    Value checks are skipped while compiling, as everywhere."""
    check_labels(fn, target, logits.shape[1], name="target", ignore_index=ignore_index)
    if not from_logits:
        check_unit_values(fn, "logits", logits, " (from_logits=False: probabilities)")
    t = target.to(work)
    keep = exclusion(fn, t.shape, mask=mask, labels=t, ignore_index=ignore_index)
    k = None if keep is None else keep.unsqueeze(1)
    x = zero_excluded(logits.to(work), k)
    p = kept_activations.softmax(x, 1) if from_logits else x
    g = float_onehot((t if keep is None else torch.where(keep, t, 0.0)).unsqueeze(1),
                     logits.shape[1])  # fmt: skip
    fg = None
    if foreground:
        with torch.no_grad():
            fg = _foreground64(x, from_logits)
    return p, g, k, fg


#: the multiclass foreground is decided on the float64 softmax of about this many logits at a
#: time (a float64 copy of the whole batch doubled the Hausdorff loss's peak memory)
_FG_CHUNK = 1 << 20


def _foreground64(x: Tensor, from_logits: bool) -> Tensor:
    """``p > 1/2`` for the multiclass ``x`` ``(N, C, *S)`` (logits: ``p = softmax`` over dim
    1), decided in float64 a block of positions at a time: bool, of ``x``'s shape (under
    ``torch.compile`` a 0/1 map in ``x``'s dtype)."""
    if torch.compiler.is_compiling() or transforms_active():
        # out= into a block of fg (non-contiguous) would break a compiled graph (torch.func's
        # transforms and forward mode take no out= either): the whole batch at once;
        # compiled, as a float 0/1 map (a boolean one is slow to write there, see _maps_op)
        fg = (torch.softmax(x.double(), 1) if from_logits else x.double()) > 0.5
        return fg.to(x.dtype) if torch.compiler.is_compiling() else fg
    n, c = x.shape[:2]
    flat = x.reshape(n, c, math.prod(x.shape[2:]))
    fg = torch.empty(flat.shape, dtype=torch.bool, device=x.device)
    step = max(1, _FG_CHUNK // max(n * c, 1))
    for a in range(0, flat.shape[2], step):
        part = flat[:, :, a : a + step].double()
        p = torch.softmax(part, 1) if from_logits else part
        torch.gt(p, 0.5, out=fg[:, :, a : a + step])
    return fg.view(x.shape)


@torch.library.custom_op("losskit::distance_maps", mutates_args=())
def _maps_op(fg: Tensor, kind: str, spatial_dims: int, double: bool) -> Tensor:
    """The no-gradient distance maps of the Hausdorff (``kind="field"``:
    :func:`_boundary_field`) and boundary (``"signed"``: :func:`_signed_distance_map`)
    losses as one operator under ``torch.compile``, from a map ``fg`` (bool, or floats whose
    values above 1/2 are the foreground, as the eager losses threshold the target): the
    eager functions, called as they are.

    Traced, the maps' boolean tensors (the foreground, its complement, the stack the
    transform takes) were written by the compiler's CPU code one byte at a time: a boolean
    ``(8, 4, 256, 256)`` took 27 ms to write where a float one takes 0.3 ms, and the compiled
    Hausdorff and boundary steps ran 1.5-1.9x their eager time. The callers pass the
    foreground as a float map, which the compiler writes at full speed."""
    dtype = torch.float64 if double else torch.float32
    if kind == "field":
        out = _boundary_field(fg, dtype)
    else:
        out = _signed_distance_map(fg, spatial_dims, dtype)
    return out.contiguous()  # the layout the fake implementation promises, whatever fg's


@_maps_op.register_fake
def _(fg: Tensor, kind: str, spatial_dims: int, double: bool) -> Tensor:  # noqa: ARG001
    return torch.empty(fg.shape, dtype=torch.float64 if double else torch.float32,
                       device=fg.device)  # fmt: skip


def _boundary_field(fg: Tensor, dtype: torch.dtype) -> Tensor:
    """MONAI's distance field of a 0/1 map ``(N, C, *S)``, in ``dtype``: each position's
    distance to the other set (the foreground's to the background and the reverse), 0 for an
    image that is all foreground or all background. ``fg``: bool, or floats whose values
    above 1/2 are the foreground (what :func:`_maps_op` takes under ``torch.compile``)."""
    if torch.compiler.is_compiling():
        return _maps_op(fg.detach(), "field", fg.dim() - 2, dtype == torch.float64)
    if fg.dtype != torch.bool:
        fg = fg > 0.5
    spatial = fg.dim() - 2
    # the distance of each foreground position to the background, and the reverse: one
    # transform of the stacked bool masks, straight into the compute dtype
    d = distance_transform_edt(torch.stack([fg, ~fg]), spatial_dims=spatial, dtype=dtype)
    field = d[0].add_(d[1])  # one of the two is 0 at every position (inf: no other set)
    flat = fg.reshape(fg.shape[0], fg.shape[1], math.prod(fg.shape[2:]))
    mixed = any_true(flat, -1) & ~all_true(flat, -1)
    return field.masked_fill_(~mixed.view(*mixed.shape, *([1] * spatial)), 0.0)


def _per_sample_mean(
    loss: Tensor, keep: Tensor | None, per_sample: bool
) -> tuple[Tensor, Tensor | None]:
    """The mean over the kept positions ``(N, C)`` (or ``(C,)``) and the ``(N, 1)`` samples
    that keep a position."""
    n, c = loss.shape[:2]
    size = math.prod(loss.shape[2:])
    if keep is None:
        count = torch.full((n, 1), float(size), dtype=loss.dtype, device=loss.device)
        kept = None
    else:
        k = keep.expand(loss.shape[:1] + keep.shape[1:2] + loss.shape[2:])
        k = k.reshape(n, k.shape[1], size)
        count = keep_factor(k, loss.dtype).sum(-1)  # (N, 1) or (N, C)
        loss = torch.where(keep, loss, 0.0)
        kept = (count > 0).any(-1, keepdim=True)
    total = loss.reshape(n, c, size).sum(-1)
    if not per_sample:
        total, count = total.sum(0), count.sum(0)
    safe = torch.where(count > 0, count, 1.0)
    return torch.where(count > 0, total / safe, total * 0.0), kept


@checked
def hausdorff_dt_loss(
    logits: Tensor, target: Tensor, *, distance_power: NonNegative = 2.0,
    logarithmic: bool = False, mode: Mode = "binary", from_logits: bool = True,
    per_sample: bool = True, ignore_index: int | None = -100, class_weight: ClassWeight = None,
    weight: Weight = None, mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Hausdorff distance-transform loss: the squared error weighted by the distances to the
    predicted and the true boundaries, a differentiable proxy of the Hausdorff distance.

    Formula:
        l = mean_i (p_i - g_i)^2 (d_P(i)^a + d_G(i)^a),  a = distance_power;  logarithmic: log(1 + l)

    ``d_G(i)`` is the distance from position ``i`` to the target's boundary: for a foreground
    position the distance to the nearest background one, for a background position the
    distance to the nearest foreground one (the sum of the two Euclidean distance transforms,
    computed in torch); ``d_P`` is the same for the predicted mask ``p > 1/2``. An image (one
    sample and class) that is all foreground or all background has no boundary: its map is 0,
    so an empty prediction on an empty target costs 0 and so does any prediction below 1/2
    there, while a predicted foreground in an empty target is penalised through ``d_P``. The
    maps carry no gradient (the paper's). Positions left out (``mask``, ``ignore_index``)
    leave the mean and count as background for the distance transforms.
    ``logarithmic=True`` takes ``log(1 + l)`` per sample and class (MONAI's
    ``LogHausdorffDTLoss`` takes it after its reduction: equal under ``reduction="none"``).

    When to use:
        Fine-tuning a segmentation for boundary accuracy (Hausdorff distance, surface
        distance): errors far from both boundaries cost the most. Usually beside Dice, which
        it does not replace (it is 0 wherever prediction and target agree).

    Args:
        logits: logits (``from_logits=True``) or probabilities; ``(N, *spatial)`` in binary
            mode, ``(N, C, *spatial)`` otherwise; 2-D or 3-D (any number of spatial dims).
        target: 0/1 targets of the shape of ``logits`` (binary, multilabel) or integer class
            indices ``(N, *spatial)`` (multiclass).
        distance_power: the exponent ``a`` of the distances, ``>= 0``; default 2.
        logarithmic: return ``log(1 + l)``; default ``False``.
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        from_logits: apply a sigmoid (binary, multilabel) or a softmax over dim 1
            (multiclass) first; default ``True``.
        per_sample: one loss per sample and class (default ``True``) or per class over the
            batch (MONAI's ``batch=True``).
        ignore_index: target value left out; default -100, ``None`` for none.
        class_weight: optional non-negative ``(C,)`` class weights (0 for the background is
            MONAI's ``include_background=False``).
        weight: optional non-negative ``(N,)`` sample weights (``per_sample=True`` only).
        mask: optional bool tensor broadcastable to the per-position shape.
        reduction: ``"none"`` (``(N, C)``, or ``(C,)`` with ``per_sample=False``), ``"mean"``
            (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``, a non-tensor ``target``, non-integer labels in
            multiclass mode.
        ValueError: unknown ``mode``/``reduction``, shapes that do not match the mode or no
            spatial dimension, labels or binary targets out of range (CPU), a negative
            ``distance_power``, a bad ``weight``/``class_weight``/``mask``.

    Equals MONAI's ``HausdorffDTLoss`` (``alpha = distance_power``, ``include_background=True``,
    ``batch = not per_sample``; ``softmax=True, to_onehot_y=True`` for multiclass,
    ``sigmoid=True`` otherwise), which runs scipy's transform on the host; MONAI computes the
    maps in float32.

    Paper:
        Karimi, Salcudean, "Reducing the Hausdorff Distance in Medical Image Segmentation with
        Convolutional Neural Networks", IEEE TMI 2019, arXiv:1904.10030.

    Example:
        >>> import torch
        >>> p = torch.tensor([[[0.0, 1.0, 1.0, 0.0]]])  # predicted foreground at 1, 2
        >>> g = torch.tensor([[[0.0, 0.0, 1.0, 1.0]]])  # target foreground at 2, 3
        >>> # d_P = (1, 1, 1, 1), d_G = (2, 1, 1, 2); errors at 1 and 3: ((1 + 1) + (1 + 4)) / 4
        >>> hausdorff_dt_loss(p, g, from_logits=False)
        tensor(1.7500)
    """
    fn = "hausdorff_dt_loss"
    p, g, keep, fg = _class_maps(fn, logits, target, mode=mode, from_logits=from_logits,
                                 ignore_index=ignore_index, mask=mask)  # fmt: skip
    assert fg is not None  # foreground=True
    with torch.no_grad():
        d_pred = _boundary_field(fg, p.dtype)
        d_true = _boundary_field(g.detach(), p.dtype)  # the target above 1/2
        dist = d_pred.pow_(distance_power).add_(d_true.pow_(distance_power))
    loss, kept = _per_sample_mean((p - g).pow(2) * dist, keep, per_sample)
    if logarithmic:
        loss = torch.log1p(loss)
    return _finish(fn, loss, logits, per_sample, class_weight, weight, reduction, kept)


def signed_distance_map(target: Tensor, *, spatial_dims: int = 2) -> Tensor:
    r"""The signed distance map of the boundary loss: for every 0/1 image of ``target``, the
    distance to the foreground outside it and minus (the distance to the background - 1)
    inside it (0 on the inner boundary); 0 for an image without foreground or without
    background (no boundary: MONAI's ``BoundaryLoss`` gives 0 there too).

    The map of Kervadec et al.'s released code, computed with the torch transform
    (:func:`losskit.distance_transform_edt`) for the whole batch; its ``mean(p * map)`` is
    the boundary loss.

    Args:
        target: 0/1 images ``(*, S_1, ..., S_d)``; non-zero = foreground.
        spatial_dims: ``d``, how many trailing dimensions form an image; default 2.

    Returns:
        The map, float64 if ``target`` is float64, else float32.

    Example:
        >>> signed_distance_map(torch.tensor([[0, 1, 1, 1, 0, 0]]), spatial_dims=1)
        tensor([[ 1.,  0., -1.,  0.,  1.,  2.]])
    """
    out_dtype = torch.float64 if target.dtype == torch.float64 else torch.float32
    return _signed_distance_map(target != 0, spatial_dims, out_dtype)


def _signed_distance_map(fg: Tensor, spatial_dims: int, dtype: torch.dtype) -> Tensor:
    """:func:`signed_distance_map` of the foreground ``fg`` (bool, or floats whose values
    above 1/2 are the foreground, as for :func:`_boundary_field`), in ``dtype``."""
    if torch.compiler.is_compiling():
        return _maps_op(fg.detach(), "signed", spatial_dims, dtype == torch.float64)
    if fg.dtype != torch.bool:
        fg = fg > 0.5
    d = distance_transform_edt(torch.stack([~fg, fg]), spatial_dims=spatial_dims, dtype=dtype)
    out = torch.where(fg, 1.0 - d[1], d[0])
    # an image without foreground, or without background, has no boundary: its map is 0
    # (the distance to the missing side would be infinite)
    lead = fg.shape[: fg.dim() - spatial_dims]
    flat = fg.reshape(*lead, math.prod(fg.shape[fg.dim() - spatial_dims :]))
    both_sides = any_true(flat, -1) & ~all_true(flat, -1)
    out = torch.where(both_sides.view(*both_sides.shape, *([1] * spatial_dims)), out, 0.0)
    return out


@checked
def boundary_loss(
    logits: Tensor, target: Tensor, *, mode: Mode = "binary", from_logits: bool = True,
    per_sample: bool = True, ignore_index: int | None = -100, class_weight: ClassWeight = None,
    weight: Weight = None, mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Boundary (surface) loss: the predicted probabilities integrated against the target's
    signed distance map, a differentiable form of the distance between the two boundaries.

    Formula:
        l = mean_i p_i phi_G(i),  phi_G = dist to the foreground outside, -(dist to the background - 1) inside

    ``phi_G`` is :func:`signed_distance_map` of each sample and class (the torch transform),
    a constant: the loss is linear in ``p``, lowest when ``p`` covers exactly the inside of
    the target (where ``phi_G <= 0``), and it can be negative. A class absent from the
    sample's target has ``phi_G = 0``: it costs nothing, whatever is predicted there (the
    reference implementation's rule), so pair the loss with a region loss (the paper uses
    generalized Dice, with a weight growing during training; :class:`losskit.compound.
    CompoundLoss` sums the two). Positions left out leave the mean and count as background
    for the map.

    When to use:
        Highly unbalanced segmentation (small lesions) once a region loss has found the
        object: the loss moves the predicted boundary toward the true one in proportion to
        how far it is, where Dice only sees the overlap.

    Args:
        logits: logits (``from_logits=True``) or probabilities; ``(N, *spatial)`` in binary
            mode, ``(N, C, *spatial)`` otherwise; 2-D or 3-D.
        target: 0/1 targets of the shape of ``logits`` (binary, multilabel) or integer class
            indices ``(N, *spatial)`` (multiclass).
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        from_logits: apply a sigmoid (binary, multilabel) or a softmax over dim 1
            (multiclass) first; default ``True``.
        per_sample: one loss per sample and class (default ``True``) or per class over the
            batch.
        ignore_index: target value left out; default -100, ``None`` for none.
        class_weight: optional non-negative ``(C,)`` class weights (the paper leaves the
            background out: weight 0).
        weight: optional non-negative ``(N,)`` sample weights (``per_sample=True`` only).
        mask: optional bool tensor broadcastable to the per-position shape.
        reduction: ``"none"`` (``(N, C)``, or ``(C,)`` with ``per_sample=False``), ``"mean"``
            (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating ``logits``, a non-tensor ``target``, non-integer labels in
            multiclass mode.
        ValueError: unknown ``mode``/``reduction``, shapes that do not match the mode or no
            spatial dimension, labels or binary targets out of range (CPU), a bad
            ``weight``/``class_weight``/``mask``.

    Equals the authors' ``SurfaceLoss`` on maps from their ``one_hot2dist`` (scipy), and
    MONAI's ``BoundaryLoss`` to the rounding of MONAI's float32 distance map (an image that a
    class fills entirely, without boundary, gives 0 in both).

    Paper:
        Kervadec, Bouchtiba, Desrosiers, Granger, Dolz, Ben Ayed, "Boundary loss for highly
        unbalanced segmentation", MIDL 2019, arXiv:1812.07032.

    Example:
        >>> import torch
        >>> g = torch.tensor([[0.0, 1.0, 1.0, 1.0, 0.0, 0.0]])  # phi = (1, 0, -1, 0, 1, 2)
        >>> p = torch.tensor([[0.0, 1.0, 1.0, 1.0, 0.0, 1.0]])  # one false positive at 2 px
        >>> boundary_loss(p, g, from_logits=False)  # (0 - 1 + 0 + 2) / 6
        tensor(0.1667)
    """
    fn = "boundary_loss"
    p, g, keep, _ = _class_maps(fn, logits, target, mode=mode, from_logits=from_logits,
                                ignore_index=ignore_index, mask=mask, foreground=False)  # fmt: skip
    with torch.no_grad():
        phi = _signed_distance_map(g.detach(), g.dim() - 2, p.dtype)  # the target above 1/2
    loss, kept = _per_sample_mean(p * phi, keep, per_sample)
    return _finish(fn, loss, logits, per_sample, class_weight, weight, reduction, kept)


# ----------------------------------------------------------------------------- modules


class HausdorffDTLoss(LossModule, function=hausdorff_dt_loss):
    """Hausdorff distance-transform loss, ``mean (p - g)^2 (d_P^a + d_G^a)`` per sample and
    class (``log(1 + .)`` with ``logarithmic=True``).

    Args:
        distance_power: the exponent of the distances; default 2.
        logarithmic: the log form; default ``False``.
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        from_logits: apply the sigmoid/softmax first; default ``True``.
        per_sample: per sample and class (default) or per class over the batch.
        ignore_index: target value left out; default -100.
        class_weight: optional ``(C,)`` class weights (a buffer).
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``: ``logits`` ``(N, *S)`` or
        ``(N, C, *S)``; ``target`` of that shape or ``(N, *S)`` labels. Output: a scalar, or
        ``(N, C)`` / ``(C,)``.

    Paper:
        Karimi, Salcudean, "Reducing the Hausdorff Distance in Medical Image Segmentation with
        Convolutional Neural Networks", IEEE TMI 2019, arXiv:1904.10030.

    Example:
        >>> import torch
        >>> HausdorffDTLoss(from_logits=False)(torch.tensor([[[0.0, 1, 1, 0]]]),
        ...                                    torch.tensor([[[0.0, 0, 1, 1]]]))
        tensor(1.7500)
    """

    distance_power: NonNegative = DEFAULT
    logarithmic: bool = DEFAULT
    mode: Mode = DEFAULT
    from_logits: bool = DEFAULT
    per_sample: bool = DEFAULT
    ignore_index: int | None = DEFAULT
    class_weight: ClassWeight = DEFAULT


class BoundaryLoss(LossModule, function=boundary_loss):
    """Boundary (surface) loss, ``mean p phi_G`` per sample and class, ``phi_G`` the target's
    signed distance map.

    Args:
        mode: ``"binary"`` (default), ``"multiclass"`` or ``"multilabel"``.
        from_logits: apply the sigmoid/softmax first; default ``True``.
        per_sample: per sample and class (default) or per class over the batch.
        ignore_index: target value left out; default -100.
        class_weight: optional ``(C,)`` class weights (a buffer).
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(logits, target, *, weight=None, mask=None)``: ``logits`` ``(N, *S)`` or
        ``(N, C, *S)``; ``target`` of that shape or ``(N, *S)`` labels. Output: a scalar, or
        ``(N, C)`` / ``(C,)``.

    Paper:
        Kervadec et al., "Boundary loss for highly unbalanced segmentation", MIDL 2019,
        arXiv:1812.07032.

    Example:
        >>> import torch
        >>> BoundaryLoss(from_logits=False)(torch.tensor([[0.0, 1, 1, 1, 0, 1]]),
        ...                                 torch.tensor([[0.0, 1, 1, 1, 0, 0]]))
        tensor(0.1667)
    """

    mode: Mode = DEFAULT
    from_logits: bool = DEFAULT
    per_sample: bool = DEFAULT
    ignore_index: int | None = DEFAULT
    class_weight: ClassWeight = DEFAULT
