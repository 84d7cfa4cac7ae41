"""The angular-margin softmax family: softmax, L-Softmax, SphereFace, COCO, L2-Softmax,
NormFace, CosFace (AM-Softmax), ArcFace, the combined margin and sub-center ArcFace, all on
one margin core (:mod:`losskit.functional._margin_core`) and one fused cross-entropy
(:mod:`losskit.functional._margin_ce`); each as a function and as a module that owns its
class centres.

Conventions, the same for every loss here:

* ``loss(embeddings, labels, centers, *, ...)``: ``embeddings`` ``(B, D)``, integer
  ``labels`` ``(B,)`` in ``[0, C)``, one learned vector per class ``centers`` ``(C, D)``
  (sub-center ArcFace: ``(C, K, D)``; the classifier rows ``W_j``). The per-sample loss is
  the cross-entropy of the loss's logits; ``weight``, ``mask``, ``ignore_index`` and
  ``reduction`` as everywhere in losskit (per sample).
* ``margin`` is an additive *angle in radians* (ArcFace's 0.5 rad is 28.6 degrees;
  pytorch-metric-learning takes degrees). CosFace's margin is subtracted from a cosine, so it
  has its own name, ``cos_margin``; the multiplicative margin of L-Softmax and SphereFace is
  ``m``. The combined margin takes all three: ``cos(m theta + margin) - cos_margin``.
* ``scale`` multiplies normalised cosines (the papers' ``s`` or ``alpha``); a one-element
  tensor (e.g. a learnable ``nn.Parameter``) is accepted wherever the papers learn it.
* ``chunk_size=None`` keeps the ``(B, C)`` probabilities for the backward pass (fastest);
  ``chunk_size=n`` never holds more than ``n`` classes' logits at a time and recomputes them
  in the backward pass (for very many classes; the result equals the dense path to float32
  rounding). Neither path creates a normalised copy of ``centers``.
* ``shard``: set by :class:`losskit.distributed.ClassShardedLoss` when the classes are split
  across ranks (a :class:`~losskit.functional._margin_ce.ClassShard`); ``None`` in one
  process.
* float16/bfloat16 embeddings or centres are computed in float32; the loss comes back in the
  embeddings' dtype, each gradient in its tensor's dtype. Norms are overflow-safe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .._api import DEFAULT, LossModule, checked, field
from .._checks import (
    Angle,
    Fraction,
    Mask,
    NonNegative,
    Positive,
    PositiveInt,
    Scale,
    Weight,
    check_floating,
    check_integer,
    check_labels,
    check_ndim,
    check_same_device,
    compute_dtype,
    make_check,
)
from .._reduction import Reduction, exclusion, finish, zero_excluded
from ._common import labelled_rows
from ._margin_ce import ClassShard, margin_ce_parts, softplus
from ._margin_core import (
    Fallback,
    GradMode,
    _target,
    margin_logits,
    margin_target,
    psi,
    resolve_fallback,
)
from .distance import normalize, safe_norm

__all__ = [
    "LambdaSchedule",
    "arcface_loss",
    "coco_loss",
    "combined_margin_loss",
    "cosface_loss",
    "l2_softmax_loss",
    "lsoftmax_loss",
    "margin_logits",
    "margin_target",
    "normface_loss",
    "normface_lower_bound",
    "partial_fc_sample",
    "psi",
    "softmax_loss",
    "sphereface_effective_margin",
    "sphereface_loss",
    "subcenter_arcface_loss",
    "ArcFaceLoss",
    "COCOLoss",
    "CombinedMarginLoss",
    "CosFaceLoss",
    "L2SoftmaxLoss",
    "LSoftmaxLoss",
    "NormFaceLoss",
    "SoftmaxLoss",
    "SphereFaceLoss",
    "SubCenterArcFaceLoss",
]

_EPS = 1e-12  # norms are clamped here: a zero embedding or class centre has cosine 0


# --------------------------------------------------------------------------- checks


def _check_inputs(
    fn: str, embeddings: Tensor, labels: Tensor, centers: Tensor, bias: Tensor | None,
    ignore_index: int | None, weight: Tensor | None, mask: Tensor | None,
    shard: ClassShard | None, *, centers_ndim: int = 2,
) -> tuple[Tensor, Tensor | None]:  # fmt: skip
    """Check the inputs of a margin loss; return the labels to compute with (``int64``, 0 at
    excluded rows) and the kept rows (``None``: all)."""
    check_floating(fn, "centers", centers)
    if centers.dim() != centers_ndim:
        want = "(C, D)" if centers_ndim == 2 else "(C, K, D)"
        raise ValueError(f"{fn}: centers must have shape {want}; got {tuple(centers.shape)}")
    keep = labelled_rows(fn, embeddings, labels, weight=weight, mask=mask, ignore_index=None,
                         extra=(("centers", centers), ("bias", bias)))  # fmt: skip
    if centers.shape[-1] != embeddings.shape[1]:
        raise ValueError(
            f"{fn}: centers' last dimension must equal the embedding dimension "
            f"{embeddings.shape[1]}; got centers {tuple(centers.shape)}"
        )
    if centers.shape[0] == 0 and shard is None:
        raise ValueError(f"{fn}: centers must hold at least one class; got {tuple(centers.shape)}")
    if bias is not None:
        check_floating(fn, "bias", bias)
        if bias.shape != (centers.shape[0],):
            raise ValueError(
                f"{fn}: bias must have shape ({centers.shape[0]},); got {tuple(bias.shape)}"
            )
    num_classes = centers.shape[0] if shard is None else shard.num_classes
    check_labels(fn, labels, num_classes, ignore_index=ignore_index, keep=keep)
    keep = exclusion(fn, labels.shape, mask=keep, labels=labels, ignore_index=ignore_index)
    y = labels.long()
    return (y if keep is None else torch.where(keep, y, 0)), keep


def _rows(embeddings: Tensor, keep: Tensor | None, dtype: torch.dtype) -> Tensor:
    """The embeddings in the compute dtype, excluded rows zeroed (never read, zero gradient)."""
    return zero_excluded(embeddings.to(dtype), keep, 1)


def _check_scale(fn: str, scale: float | Tensor, embeddings: Tensor) -> None:
    if isinstance(scale, Tensor):
        if scale.numel() != 1:
            raise ValueError(
                f"{fn}: scale must be a number or a one-element tensor; got {tuple(scale.shape)}"
            )
        check_same_device(fn, ("embeddings", embeddings), ("scale", scale))


def _check_integer_m(fn: str, m: float) -> int:
    if not float(m).is_integer():
        raise ValueError(f"{fn}: m (the multiplicative margin) must be an integer >= 1; got {m}")
    return int(m)


def _work_dtype(embeddings: Tensor, centers: Tensor) -> torch.dtype:
    return torch.promote_types(compute_dtype(embeddings), compute_dtype(centers))


def _as_scale(scale: float | Tensor, dtype: torch.dtype) -> float | Tensor:
    return scale.to(dtype).reshape(()) if isinstance(scale, Tensor) else float(scale)


def _finish(
    fn: str, lse: Tensor, target: Tensor, keep: Tensor | None, weight: Tensor | None,
    reduction: Reduction, out: torch.dtype,
) -> Tensor:  # fmt: skip
    # CE of the margined logits = log(e^t + sum_{j != y} e^z_j) - t = softplus(lse_nontarget - t)
    return finish(fn, softplus(lse - target), reduction, weight=weight, keep=keep, out_dtype=out)


def _angular(
    fn: str, embeddings: Tensor, labels: Tensor, centers: Tensor, *, scale: float | Tensor,
    m: float = 1.0, margin: float = 0.0, cos_margin: float = 0.0, easy_margin: bool = False,
    fallback: str = "auto", grad_mode: str = "exact", chunk_size: int | None,
    ignore_index: int | None, weight: Tensor | None, mask: Tensor | None,
    shard: ClassShard | None, reduction: Reduction, centers_ndim: int = 2,
) -> Tensor:  # fmt: skip
    """Normalised embeddings and class centres, ``s cos theta`` logits, margined target."""
    y, keep = _check_inputs(fn, embeddings, labels, centers, None, ignore_index, weight, mask,
                            shard, centers_ndim=centers_ndim)  # fmt: skip
    _check_scale(fn, scale, embeddings)
    mode = resolve_fallback(fn, fallback, m)
    dt = _work_dtype(embeddings, centers)
    s = _as_scale(scale, dt)
    xt = normalize(_rows(embeddings, keep, dt), 1, eps=_EPS) * s
    lse, zt, _ = margin_ce_parts(xt, centers, None, y, normalize=True, chunk_size=chunk_size,
                                 shard=shard)  # fmt: skip
    target = s * _target(zt / s, m, margin, cos_margin, 0.0, easy_margin, mode, grad_mode)
    return _finish(fn, lse, target, keep, weight, reduction, embeddings.dtype)


# --------------------------------------------------------------------------- losses


@checked
def softmax_loss(
    embeddings: Tensor, labels: Tensor, centers: Tensor, bias: Tensor | None = None, *,
    chunk_size: PositiveInt | None = None, ignore_index: int | None = -100,
    weight: Weight = None, mask: Mask = None, shard: ClassShard | None = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Softmax loss: a linear layer (with bias), then cross-entropy.

    Formula:
        l_i = -log(e^{W_y . x_i + b_y} / sum_j e^{W_j . x_i + b_j})

    Equal to ``F.cross_entropy(F.linear(embeddings, centers, bias), labels)``. The baseline of
    the family: it separates classes but does not make them compact (nothing pulls an
    embedding toward its own ``W_y`` once it is classified), which is what the margins of the
    other losses add.

    When to use:
        The baseline classifier head. It separates classes but does not make them compact,
        so its features are weaker for open-set verification than a margin loss's.

    Args:
        embeddings: ``(B, D)`` embeddings, floating point.
        labels: ``(B,)`` integer labels in ``[0, C)`` (checked on CPU).
        centers: ``(C, D)`` class weights ``W`` (the linear layer's rows).
        bias: optional ``(C,)`` bias; default ``None``.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        weight: optional non-negative ``(B,)`` sample weights.
        mask: optional bool ``(B,)``; ``False`` = leave the sample out.
        shard: the class shard under ``ClassShardedLoss``; default ``None``.
        reduction: ``"none"`` (``(B,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``embeddings``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-tensor or non-floating inputs, non-integer labels or ``chunk_size``.
        ValueError: inconsistent shapes, labels out of range, bad ``chunk_size``, weights or
            ``reduction``.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
        >>> softmax_loss(x, torch.tensor([0, 1]), torch.eye(2), reduction="none")
        tensor([0.3133, 0.1269])
    """
    fn = "softmax_loss"
    y, keep = _check_inputs(fn, embeddings, labels, centers, bias, ignore_index, weight, mask,
                            shard)  # fmt: skip
    dt = _work_dtype(embeddings, centers)
    lse, zt, _ = margin_ce_parts(_rows(embeddings, keep, dt), centers, bias, y, normalize=False,
                                 chunk_size=chunk_size, shard=shard)  # fmt: skip
    return _finish(fn, lse, zt, keep, weight, reduction, embeddings.dtype)


def _multiplicative(
    fn: str, embeddings: Tensor, labels: Tensor, centers: Tensor, m: float, lambda_: float,
    chunk_size: int | None, ignore_index: int | None, weight: Tensor | None,
    mask: Tensor | None, shard: ClassShard | None, reduction: Reduction, normalize_centers: bool,
) -> Tensor:  # fmt: skip
    """L-Softmax (``normalize_centers=False``) and SphereFace: ``psi(m theta)`` on the target."""
    y, keep = _check_inputs(fn, embeddings, labels, centers, None, ignore_index, weight, mask,
                            shard)  # fmt: skip
    m = _check_integer_m(fn, m)
    dt = _work_dtype(embeddings, centers)
    x = _rows(embeddings, keep, dt)
    lse, zt, wn = margin_ce_parts(x, centers, None, y, normalize=normalize_centers,
                                  chunk_size=chunk_size, target_norm=not normalize_centers,
                                  shard=shard)  # fmt: skip
    r = safe_norm(x, 1)  # ||x||
    if not normalize_centers:
        r = r * wn  # ||W_y|| ||x||
    r = r.clamp_min(_EPS)
    target = r * _target(zt / r, float(m), 0.0, 0.0, lambda_, False, "monotone", "exact")
    return _finish(fn, lse, target, keep, weight, reduction, embeddings.dtype)


@checked
def lsoftmax_loss(
    embeddings: Tensor, labels: Tensor, centers: Tensor, *, m: PositiveInt = 4,
    lambda_: NonNegative = 0.0, chunk_size: PositiveInt | None = None,
    ignore_index: int | None = -100, weight: Weight = None, mask: Mask = None,
    shard: ClassShard | None = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Large-margin softmax (L-Softmax): a multiplicative angular margin, nothing normalised.

    Formula:
        target ||W_y|| ||x|| (lambda cos t + psi(t)) / (1 + lambda),  psi(t) = (-1)^k cos(m t) - 2k;  others W_j . x

    With :func:`psi` the monotone ``(-1)^k cos(m theta) - 2k``, the target must beat the
    others at ``m`` times its angle. ``lambda_`` anneals the margin in (large early, decayed
    toward 0 by a schedule; see :class:`LambdaSchedule`): the papers could not train from
    scratch without it.

    When to use:
        Historical: the first large-margin softmax. Hard to train (anneal lambda from ~1000
        down) and sensitive to feature and weight norms; prefer ArcFace or CosFace today.

    Args:
        embeddings: ``(B, D)`` embeddings, floating point.
        labels: ``(B,)`` integer labels in ``[0, C)``.
        centers: ``(C, D)`` class weights (not normalised).
        m: the integer multiplicative margin, ``>= 1`` (``m = 1`` is the softmax loss);
            default 4.
        lambda_: annealing weight, ``>= 0``; default 0.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        weight: optional non-negative ``(B,)`` sample weights.
        mask: optional bool ``(B,)``; ``False`` = leave the sample out.
        shard: the class shard under ``ClassShardedLoss``; default ``None``.
        reduction: ``"none"`` (``(B,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``embeddings``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, non-integer labels or ``m``.
        ValueError: inconsistent shapes, labels out of range, ``m < 1``, negative ``lambda_``.

    Paper:
        Liu, Wen, Yu, Yang, "Large-Margin Softmax Loss for Convolutional Neural Networks",
        ICML 2016, arXiv:1612.02295.

    Example:
        >>> import torch
        >>> x = torch.tensor([[2.0, 1.0]])
        >>> lsoftmax_loss(x, torch.tensor([0]), torch.eye(2), m=2)
        tensor(0.5368)
    """
    return _multiplicative("lsoftmax_loss", embeddings, labels, centers, m, lambda_, chunk_size,
                           ignore_index, weight, mask, shard, reduction, False)  # fmt: skip


@checked
def sphereface_loss(
    embeddings: Tensor, labels: Tensor, centers: Tensor, *, m: PositiveInt = 4,
    lambda_: NonNegative = 0.0, chunk_size: PositiveInt | None = None,
    ignore_index: int | None = -100, weight: Weight = None, mask: Mask = None,
    shard: ClassShard | None = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""SphereFace (A-Softmax): L-Softmax with normalised class weights.

    Formula:
        target ||x|| (lambda cos t + psi(t)) / (1 + lambda);  others ||x|| cos t_j

    With ``||W_j|| = 1`` and no bias the decision depends on angles only, so the margin
    ``m`` is a margin on the hypersphere. With ``lambda_`` annealed down to SphereFace's
    ``lambda_min = 5`` the effective margin for ``m = 4`` is about 1.5 (see
    :func:`sphereface_effective_margin`); the multiplicative margin is hard to train without
    this annealing, which is why the additive margins (CosFace, ArcFace) replaced it.

    When to use:
        Angular margin on the hypersphere with a multiplicative margin m; needs the lambda
        annealing schedule (LambdaSchedule) to converge. Superseded by additive margins.

    Args:
        embeddings: ``(B, D)`` embeddings, floating point (their norm is kept).
        labels: ``(B,)`` integer labels in ``[0, C)``.
        centers: ``(C, D)`` class weights (normalised inside).
        m: the integer multiplicative margin, ``>= 1``; default 4.
        lambda_: annealing weight, ``>= 0``; default 0.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        weight: optional non-negative ``(B,)`` sample weights.
        mask: optional bool ``(B,)``; ``False`` = leave the sample out.
        shard: the class shard under ``ClassShardedLoss``; default ``None``.
        reduction: ``"none"`` (``(B,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``embeddings``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, non-integer labels or ``m``.
        ValueError: inconsistent shapes, labels out of range, ``m < 1``, negative ``lambda_``.

    Paper:
        Liu, Wen, Yu, Li, Raj, Song, "SphereFace: Deep Hypersphere Embedding for Face
        Recognition", CVPR 2017, arXiv:1704.08063.

    Example:
        >>> import torch
        >>> x = torch.tensor([[2.0, 1.0]])
        >>> sphereface_loss(x, torch.tensor([0]), 3.0 * torch.eye(2), m=2)
        tensor(0.5368)
    """
    return _multiplicative("sphereface_loss", embeddings, labels, centers, m, lambda_,
                           chunk_size, ignore_index, weight, mask, shard, reduction, True)  # fmt: skip


@checked
def coco_loss(
    embeddings: Tensor, labels: Tensor, centers: Tensor, *, scale: Scale = 16.0,
    chunk_size: PositiveInt | None = None, ignore_index: int | None = -100,
    weight: Weight = None, mask: Mask = None, shard: ClassShard | None = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""COCO (congenerous cosine) loss: softmax over ``alpha cos`` between the normalised
    embedding and normalised, learned class centroids.

    Formula:
        l_i = -log(e^{alpha cos t_y} / sum_j e^{alpha cos t_j})

    The same function as :func:`normface_loss`, reached independently (COCO calls the centres
    centroids and the scale ``alpha``); both need the scale, see :func:`normface_lower_bound`.

    When to use:
        Person/face recognition with cosine features; the same function as NormFace. Pick
        alpha above the NormFace bound for your number of classes.

    Args:
        embeddings: ``(B, D)`` embeddings (normalised inside).
        labels: ``(B,)`` integer labels in ``[0, C)``.
        centers: ``(C, D)`` class centroids (normalised inside).
        scale: ``alpha``, a number ``> 0`` or a one-element tensor (learnable); default 16.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        weight: optional non-negative ``(B,)`` sample weights.
        mask: optional bool ``(B,)``; ``False`` = leave the sample out.
        shard: the class shard under ``ClassShardedLoss``; default ``None``.
        reduction: ``"none"`` (``(B,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``embeddings``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, non-integer labels.
        ValueError: inconsistent shapes, labels out of range, a scale ``<= 0``.

    Paper:
        Liu, Li, Wang, "Learning Deep Features via Congenerous Cosine Loss for Person
        Recognition", arXiv:1702.06890, 2017.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
        >>> coco_loss(x, torch.tensor([0]), torch.eye(4), scale=1.0).neg().exp()  # p_y
        tensor(0.4754)
    """
    return _angular("coco_loss", embeddings, labels, centers, scale=scale,
                    chunk_size=chunk_size, ignore_index=ignore_index, weight=weight, mask=mask,
                    shard=shard, reduction=reduction)  # fmt: skip


@checked
def l2_softmax_loss(
    embeddings: Tensor, labels: Tensor, centers: Tensor, bias: Tensor | None = None, *,
    scale: Scale = 50.0, chunk_size: PositiveInt | None = None,
    ignore_index: int | None = -100, weight: Weight = None, mask: Mask = None,
    shard: ClassShard | None = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""L2-constrained softmax: embeddings scaled to norm ``alpha``, then a linear layer and CE.

    Formula:
        l_i = CE(W (alpha x_i / ||x_i||) + b, y_i)

    Only the embeddings are normalised (the class weights are not). Fixing the norm removes
    the softmax's incentive to grow the norm of easy samples; ``alpha`` must be large enough
    for the target probability to approach 1 (about 50, or learned: pass a tensor).

    When to use:
        A one-line fix for softmax features whose norm tracks sample quality: fix the norm to
        alpha (about 50, or learned). Weights stay unnormalised.

    Args:
        embeddings: ``(B, D)`` embeddings (normalised inside).
        labels: ``(B,)`` integer labels in ``[0, C)``.
        centers: ``(C, D)`` class weights (not normalised).
        bias: optional ``(C,)`` bias; default ``None``.
        scale: ``alpha``, a number ``> 0`` or a one-element tensor; default 50.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        weight: optional non-negative ``(B,)`` sample weights.
        mask: optional bool ``(B,)``; ``False`` = leave the sample out.
        shard: the class shard under ``ClassShardedLoss``; default ``None``.
        reduction: ``"none"`` (``(B,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``embeddings``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, non-integer labels.
        ValueError: inconsistent shapes, labels out of range, a scale ``<= 0``.

    Paper:
        Ranjan, Castillo, Chellappa, "L2-constrained Softmax Loss for Discriminative Face
        Verification", arXiv:1703.09507, 2017.

    Example:
        >>> import torch
        >>> x = torch.tensor([[3.0, 4.0]])
        >>> l2_softmax_loss(x, torch.tensor([1]), torch.eye(2), scale=5.0)
        tensor(0.3133)
    """
    fn = "l2_softmax_loss"
    y, keep = _check_inputs(fn, embeddings, labels, centers, bias, ignore_index, weight, mask,
                            shard)  # fmt: skip
    _check_scale(fn, scale, embeddings)
    dt = _work_dtype(embeddings, centers)
    xt = normalize(_rows(embeddings, keep, dt), 1, eps=_EPS) * _as_scale(scale, dt)
    lse, zt, _ = margin_ce_parts(xt, centers, bias, y, normalize=False, chunk_size=chunk_size,
                                 shard=shard)  # fmt: skip
    return _finish(fn, lse, zt, keep, weight, reduction, embeddings.dtype)


@checked
def normface_loss(
    embeddings: Tensor, labels: Tensor, centers: Tensor, *, scale: Scale = 16.0,
    chunk_size: PositiveInt | None = None, ignore_index: int | None = -100,
    weight: Weight = None, mask: Mask = None, shard: ClassShard | None = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""NormFace: softmax over ``s cos theta_j``, embeddings and class centres both normalised.

    Formula:
        l_i = -log(e^{s cos t_y} / sum_j e^{s cos t_j}) >= log(1 + (C - 1) e^{-s C / (C - 1)})

    Without the scale ``s`` the logits live in ``[-1, 1]`` and the loss cannot go below the
    bound above at ``s = 1`` (:func:`normface_lower_bound`): one-hot cosines give the target
    only 47.54 % of the probability for 4 classes, so training cannot converge; ``s = 60``
    gives ~100 %. ``s`` may be fixed or learned (a tensor).

    When to use:
        Cosine classifier without a margin; the scale s is required (without it the loss is
        bounded far from 0). The base the additive-margin losses add to.

    Args:
        embeddings: ``(B, D)`` embeddings (normalised inside).
        labels: ``(B,)`` integer labels in ``[0, C)``.
        centers: ``(C, D)`` class weights (normalised inside).
        scale: ``s``, a number ``> 0`` or a one-element tensor (learnable); default 16.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        weight: optional non-negative ``(B,)`` sample weights.
        mask: optional bool ``(B,)``; ``False`` = leave the sample out.
        shard: the class shard under ``ClassShardedLoss``; default ``None``.
        reduction: ``"none"`` (``(B,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``embeddings``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, non-integer labels.
        ValueError: inconsistent shapes, labels out of range, a scale ``<= 0``.

    Equals pytorch-metric-learning's ``NormalizedSoftmaxLoss(temperature=1 / s)``.

    Paper:
        Wang, Xiang, Cheng, Yuille, "NormFace: L2 Hypersphere Embedding for Face
        Verification", ACM MM 2017, arXiv:1704.06369.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
        >>> normface_loss(x, torch.tensor([0]), torch.eye(4), scale=60.0)
        tensor(2.6270e-26)
    """
    return _angular("normface_loss", embeddings, labels, centers, scale=scale,
                    chunk_size=chunk_size, ignore_index=ignore_index, weight=weight, mask=mask,
                    shard=shard, reduction=reduction)  # fmt: skip


@checked
def cosface_loss(
    embeddings: Tensor, labels: Tensor, centers: Tensor, *, cos_margin: NonNegative = 0.35,
    scale: Scale = 30.0, chunk_size: PositiveInt | None = None,
    ignore_index: int | None = -100, weight: Weight = None, mask: Mask = None,
    shard: ClassShard | None = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""CosFace / AM-Softmax: an additive *cosine* margin, ``s (cos theta_y - m)``.

    Formula:
        target s (cos t_y - cos_margin);  others s cos t_j

    The margin is subtracted from the cosine, so it is not an angle: it is called
    ``cos_margin`` (pytorch-metric-learning and insightface call it ``margin`` / ``m``).
    ``cos_margin=0`` is :func:`normface_loss`.

    When to use:
        Face recognition and any large-scale open-set classification: easy to train, s = 30
        to 64, cos_margin = 0.35.

    Args:
        embeddings: ``(B, D)`` embeddings (normalised inside).
        labels: ``(B,)`` integer labels in ``[0, C)``.
        centers: ``(C, D)`` class weights (normalised inside).
        cos_margin: ``>= 0``, in cosine units; default 0.35.
        scale: ``s``, a number ``> 0`` or a one-element tensor (30 in AM-Softmax, 64 in
            CosFace); default 30.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        weight: optional non-negative ``(B,)`` sample weights.
        mask: optional bool ``(B,)``; ``False`` = leave the sample out.
        shard: the class shard under ``ClassShardedLoss``; default ``None``.
        reduction: ``"none"`` (``(B,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``embeddings``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, non-integer labels.
        ValueError: inconsistent shapes, labels out of range, a negative ``cos_margin``, a
            scale ``<= 0``.

    Paper:
        Wang, Cheng, Liu, Liu, "Additive Margin Softmax for Face Verification", IEEE SPL 2018,
        arXiv:1801.05599; Wang et al., "CosFace: Large Margin Cosine Loss for Deep Face
        Recognition", CVPR 2018, arXiv:1801.09414.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0]])
        >>> cosface_loss(x, torch.tensor([0]), torch.eye(2), cos_margin=0.35, scale=4.0)
        tensor(0.0716)
    """
    return _angular("cosface_loss", embeddings, labels, centers, scale=scale,
                    cos_margin=cos_margin, chunk_size=chunk_size, ignore_index=ignore_index,
                    weight=weight, mask=mask, shard=shard, reduction=reduction)  # fmt: skip


@checked
def arcface_loss(
    embeddings: Tensor, labels: Tensor, centers: Tensor, *, margin: Angle = 0.5,
    scale: Scale = 64.0, easy_margin: bool = False, grad_mode: GradMode = "exact",
    chunk_size: PositiveInt | None = None, ignore_index: int | None = -100,
    weight: Weight = None, mask: Mask = None, shard: ClassShard | None = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""ArcFace: an additive *angular* margin, ``s cos(theta_y + m)`` (``m`` in radians).

    Formula:
        target s cos(t_y + margin) (s (cos t_y - margin sin margin) past t_y = pi - margin);  others s cos t_j

    Past ``theta_y + margin = pi``, where ``cos(theta + m)`` would rise again, the target is
    ``s (cos theta_y - m sin m)`` (the paper's code, insightface and pytorch-metric-learning
    do the same). ``margin=0`` is :func:`normface_loss`. ``grad_mode="straight_through"``
    (insightface's ``arcface_torch``) adds the margin under ``no_grad``: the same values, a
    gradient ``sin(theta) / sin(theta + m)`` times the exact one (``1 / cos(m)``, 14 % larger,
    at ``theta = pi / 2`` where random features start).

    When to use:
        The default for face recognition and large-scale metric learning: a constant
        geodesic margin, easy to train. s = 64, margin = 0.5 rad.

    Args:
        embeddings: ``(B, D)`` embeddings (normalised inside).
        labels: ``(B,)`` integer labels in ``[0, C)``.
        centers: ``(C, D)`` class weights (normalised inside).
        margin: ``m`` in **radians**, ``[0, pi)`` (0.5 rad = 28.6 degrees); default 0.5.
        scale: ``s``, a number ``> 0`` or a one-element tensor; default 64.
        easy_margin: apply the margin only where ``cos theta_y > 0``; default ``False``.
        grad_mode: ``"exact"`` (default) or ``"straight_through"``, see above.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        weight: optional non-negative ``(B,)`` sample weights.
        mask: optional bool ``(B,)``; ``False`` = leave the sample out.
        shard: the class shard under ``ClassShardedLoss``; default ``None``.
        reduction: ``"none"`` (``(B,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``embeddings``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, non-integer labels.
        ValueError: inconsistent shapes, labels out of range, ``margin`` outside ``[0, pi)``,
            a scale ``<= 0``, unknown ``grad_mode``.

    Paper:
        Deng, Guo, Xue, Zafeiriou, "ArcFace: Additive Angular Margin Loss for Deep Face
        Recognition", CVPR 2019, arXiv:1801.07698.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0]])
        >>> arcface_loss(x, torch.tensor([0]), torch.eye(2), margin=0.5, scale=4.0)
        tensor(0.0294)
    """
    return _angular("arcface_loss", embeddings, labels, centers, scale=scale, margin=margin,
                    easy_margin=easy_margin, fallback="linear", grad_mode=grad_mode,
                    chunk_size=chunk_size, ignore_index=ignore_index, weight=weight, mask=mask,
                    shard=shard, reduction=reduction)  # fmt: skip


@checked
def combined_margin_loss(
    embeddings: Tensor, labels: Tensor, centers: Tensor, *, m: Positive = 1.0,
    margin: Angle = 0.3, cos_margin: NonNegative = 0.2, scale: Scale = 64.0,
    fallback: Fallback = "auto", grad_mode: GradMode = "exact",
    chunk_size: PositiveInt | None = None, ignore_index: int | None = -100,
    weight: Weight = None, mask: Mask = None, shard: ClassShard | None = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""The combined margin: SphereFace, ArcFace and CosFace margins in one formula.

    Formula:
        target s (cos(m t_y + margin) - cos_margin), continued monotonically past pi;  others s cos t_j

    The defaults ``(m, margin, cos_margin) = (1, 0.3, 0.2)`` are the ArcFace paper's
    combination; ``(1, a, 0)`` is ArcFace, ``(1, 0, b)`` CosFace. Past ``m theta + margin =
    pi`` the target is continued by :func:`margin_target`'s ``fallback`` (``"auto"``:
    ArcFace's ``cos theta - margin sin margin`` when ``m == 1``, else the monotone ``psi``
    continuation).

    When to use:
        Tuning the margin's shape: (1, 0.3, 0.2) is the ArcFace paper's combination;
        (1, a, 0) is ArcFace, (1, 0, b) CosFace.

    Args:
        embeddings: ``(B, D)`` embeddings (normalised inside).
        labels: ``(B,)`` integer labels in ``[0, C)``.
        centers: ``(C, D)`` class weights (normalised inside).
        m: multiplicative margin, ``> 0``; default 1.
        margin: additive angle in radians, ``[0, pi)``; default 0.3.
        cos_margin: additive cosine margin, ``>= 0``; default 0.2.
        scale: ``s``, a number ``> 0`` or a one-element tensor; default 64.
        fallback: ``"auto"`` (default), ``"monotone"`` or ``"linear"``.
        grad_mode: ``"exact"`` (default) or ``"straight_through"`` (see :func:`arcface_loss`).
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        weight: optional non-negative ``(B,)`` sample weights.
        mask: optional bool ``(B,)``; ``False`` = leave the sample out.
        shard: the class shard under ``ClassShardedLoss``; default ``None``.
        reduction: ``"none"`` (``(B,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``embeddings``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, non-integer labels.
        ValueError: inconsistent shapes, labels out of range, margins out of range,
            ``fallback="linear"`` with ``m != 1``, unknown ``fallback`` or ``grad_mode``.

    Paper:
        Deng, Guo, Xue, Zafeiriou, "ArcFace: Additive Angular Margin Loss for Deep Face
        Recognition", CVPR 2019, arXiv:1801.07698 (the combined margin).

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0]])
        >>> combined_margin_loss(x, torch.tensor([0]), torch.eye(2), scale=4.0)
        tensor(0.0476)
    """
    return _angular("combined_margin_loss", embeddings, labels, centers, scale=scale, m=m,
                    margin=margin, cos_margin=cos_margin, fallback=fallback, grad_mode=grad_mode,
                    chunk_size=chunk_size, ignore_index=ignore_index, weight=weight, mask=mask,
                    shard=shard, reduction=reduction)  # fmt: skip


@checked
def subcenter_arcface_loss(
    embeddings: Tensor, labels: Tensor, centers: Tensor, *, margin: Angle = 0.5,
    scale: Scale = 64.0, easy_margin: bool = False, chunk_size: PositiveInt | None = None,
    ignore_index: int | None = -100, weight: Weight = None, mask: Mask = None,
    shard: ClassShard | None = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Sub-center ArcFace: ``K`` centres per class; a class's cosine is its closest
    sub-centre's, then ArcFace.

    Formula:
        cos t_j = max_k cos(x, W_jk);  target s cos(t_y + margin);  others s cos t_j

    A noisy sample only has to be near *one* sub-centre of its class, so label noise and
    intra-class modes stop dragging the dominant centre; after training the non-dominant
    sub-centres can be dropped. ``K = 1`` is :func:`arcface_loss`.

    When to use:
        Noisy web-scale face data: noisy samples attach to a non-dominant sub-centre instead
        of dragging the class centre. K = 3 in the paper.

    Args:
        embeddings: ``(B, D)`` embeddings (normalised inside).
        labels: ``(B,)`` integer labels in ``[0, C)``.
        centers: ``(C, K, D)`` sub-centres (normalised inside).
        margin: ``m`` in radians, ``[0, pi)``; default 0.5.
        scale: ``s``, a number ``> 0`` or a one-element tensor; default 64.
        easy_margin: apply the margin only where ``cos theta_y > 0``; default ``False``.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        weight: optional non-negative ``(B,)`` sample weights.
        mask: optional bool ``(B,)``; ``False`` = leave the sample out.
        shard: the class shard under ``ClassShardedLoss``; default ``None``.
        reduction: ``"none"`` (``(B,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``embeddings``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, non-integer labels.
        ValueError: ``centers`` not 3-dimensional, inconsistent shapes, labels out of range,
            ``margin`` outside ``[0, pi)``, a scale ``<= 0``.

    Paper:
        Deng, Guo, Liu, Gong, Zafeiriou, "Sub-center ArcFace: Boosting Face Recognition by
        Large-scale Noisy Web Faces", ECCV 2020.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0]])
        >>> w = torch.tensor([[[0.0, 1.0], [1.0, 0.0]], [[0.0, -1.0], [0.0, 1.0]]])  # (2, 2, 2)
        >>> subcenter_arcface_loss(x, torch.tensor([0]), w, margin=0.5, scale=4.0)
        tensor(0.0294)
    """
    return _angular("subcenter_arcface_loss", embeddings, labels, centers, scale=scale,
                    margin=margin, easy_margin=easy_margin, fallback="linear",
                    chunk_size=chunk_size, ignore_index=ignore_index, weight=weight, mask=mask,
                    shard=shard, reduction=reduction, centers_ndim=3)  # fmt: skip


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class LambdaSchedule:
    r"""SphereFace's annealing schedule: ``lambda = max(lambda_min, base (1 + decay
    iteration)^(-power))``.

    Feed it to :func:`sphereface_loss` / :func:`lsoftmax_loss` (or set
    ``SphereFaceLoss.lambda_``) at each step; the large early ``lambda`` makes the target
    logit almost ``cos theta`` (plain softmax) and the margin phases in as it decays. The
    defaults are SphereFace's released settings.

    Example:
        >>> schedule = LambdaSchedule()
        >>> schedule(0), round(schedule(100), 2), schedule(10_000)
        (1000.0, 76.92, 5.0)
    """

    base: float = 1000.0
    decay: float = 0.12
    power: float = 1.0
    lambda_min: float = 5.0

    def __post_init__(self) -> None:
        check = make_check(NonNegative)
        for name in ("base", "decay", "power", "lambda_min"):
            check("LambdaSchedule", name, getattr(self, name))

    def __call__(self, iteration: int) -> float:
        if isinstance(iteration, bool) or not isinstance(iteration, int) or iteration < 0:
            raise ValueError(f"LambdaSchedule: iteration must be an int >= 0; got {iteration!r}")
        return max(self.lambda_min, self.base * (1.0 + self.decay * iteration) ** (-self.power))


@checked
def sphereface_effective_margin(
    lambda_: float, *, m: PositiveInt = 4, points: PositiveInt = 2001
) -> float:
    r"""The multiplicative margin that the annealed SphereFace target really imposes.

    For two classes the sample is assigned to class 1 when ``f(theta_1) > cos theta_2``,
    ``f(theta) = (lambda cos theta + psi(theta)) / (1 + lambda)``: the decision boundary is
    ``theta_2 = acos f(theta_1)``, which for A-Softmax without annealing is exactly
    ``theta_2 = m theta_1``. This returns the mean of ``acos f(theta_1) / theta_1`` over
    ``theta_1`` in ``(0, pi / 2]`` (where ``f >= -1``): ``m`` at ``lambda = 0``, about 1.5 for
    ``m = 4, lambda = 5`` (SphereFace's ``lambda_min``), tending to 1 as ``lambda`` grows.

    Args:
        lambda_: the annealing weight, ``>= 0``.
        m: the integer multiplicative margin, ``>= 1``; default 4.
        points: how many angles in ``(0, pi / 2]`` to average over; default 2001.

    Returns:
        The effective multiplicative margin, a float.

    Example:
        >>> round(sphereface_effective_margin(0.0, m=4), 3)
        4.0
        >>> round(sphereface_effective_margin(5.0, m=4), 2)
        1.54
    """
    make_check(NonNegative)("sphereface_effective_margin", "lambda_", lambda_)
    theta = torch.linspace(math.pi / 2 / points, math.pi / 2, points, dtype=torch.float64)
    f = (lambda_ * torch.cos(theta) + psi(theta, m=m)) / (1.0 + lambda_)
    ok = f >= -1.0
    return float((torch.acos(f[ok]) / theta[ok]).mean())


@checked
def normface_lower_bound(num_classes: int, *, scale: Positive) -> float:
    r"""NormFace's lower bound of the normalised softmax loss,
    ``log(1 + (C - 1) exp(-s C / (C - 1)))``.

    Reached when the ``C`` class weights form a regular simplex and every feature sits on its
    class weight (cosine 1 to its own class, ``-1 / (C - 1)`` to the others). With ``s = 1``
    and 10 classes it is 1.38: no feature can make the loss small, so training without a
    scale cannot converge.

    Args:
        num_classes: ``C``, an int ``>= 2``.
        scale: ``s``, ``> 0``.

    Returns:
        The bound, a float.

    Raises:
        ValueError: ``num_classes < 2`` or ``scale <= 0``.

    Example:
        >>> round(normface_lower_bound(10, scale=1.0), 4)
        1.3769
    """
    fn = "normface_lower_bound"
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"{fn}: num_classes must be an int >= 2; got {num_classes!r}")
    c = num_classes
    return math.log1p((c - 1) * math.exp(-scale * c / (c - 1)))


@checked
def partial_fc_sample(
    labels: Tensor, num_classes: int, *, sample_rate: Fraction,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    r"""Partial FC class-centre sampling: every class that occurs in ``labels`` plus a uniform
    random subset of the others.

    Formula:
        S = min(C, max(ceil(sample_rate * C), B)) classes: the present ones, then random others

    Use the returned ``index`` to take the sampled rows of the centres and the remapped labels
    in place of ``labels``: ``arcface_loss(x, new_labels, centers[index])``. Only the sampled
    rows receive a gradient; with ``sample_rate=0.1`` the softmax costs a tenth of the full
    one and, the paper reports, loses no accuracy. This is the one Partial FC sampler of
    losskit: the modules and :class:`losskit.distributed.ClassShardedLoss` (per shard) use it.
    The sample size depends on the batch size ``B``, not on the labels (insightface's is
    ``max(ceil(sample_rate C), #classes present)``; the two agree whenever ``sample_rate C >=
    B``, the usual case), so the sampling compiles with ``torch.compile(fullgraph=True)``.

    Args:
        labels: ``(B,)`` integer labels in ``[0, num_classes)``; a negative label marks a row
            whose class is not among these ``num_classes`` (excluded, or on another rank): it
            is not sampled and stays ``-1``.
        num_classes: ``C``, an int ``>= 1``.
        sample_rate: fraction of classes to keep, in ``(0, 1]``.
        generator: optional generator for the random negatives (they are drawn on its device
            and moved to ``labels``' device); default ``None``.

    Returns:
        ``(index, new_labels)``: the sorted ``(S,)`` indices of the sampled classes and the
        ``(B,)`` labels as positions in ``index`` (``-1`` where ``labels`` is negative).

    Raises:
        TypeError: non-integer labels.
        ValueError: ``sample_rate`` outside ``(0, 1]``, bad ``num_classes`` or labels
            ``>= num_classes`` (CPU).

    Paper:
        An et al., "Partial FC: Training 10 Million Identities on a Single Machine", ICCV
        Workshops 2021, arXiv:2010.05222.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> index, new = partial_fc_sample(torch.tensor([7, 2, 7]), 10, sample_rate=0.3, generator=g)
        >>> index.numel(), bool((index[new] == torch.tensor([7, 2, 7])).all())
        (3, True)
    """
    fn = "partial_fc_sample"
    check_integer(fn, "labels", labels)
    check_ndim(fn, "labels", labels, 1)
    make_check(PositiveInt)(fn, "num_classes", num_classes)
    y = labels.long()
    compiling = torch.compiler.is_compiling()
    if labels.device.type == "cpu" and y.numel() and not compiling and int(y.max()) >= num_classes:
        raise ValueError(
            f"{fn}: labels must lie in [0, {num_classes - 1}] (or be negative: no class here); "
            f"got a maximum of {int(y.max())}"
        )
    return _sample_classes(y, num_classes, math.ceil(sample_rate * num_classes), generator)


def _sample_classes(
    y: Tensor, num_classes: int, at_least: int, generator: torch.Generator | None
) -> tuple[Tensor, Tensor]:
    """:func:`partial_fc_sample` after its checks, with ``at_least = ceil(sample_rate C)``."""
    here = y >= 0
    # the classes present, without data-dependent shapes (compiles without a graph break)
    present = torch.zeros(num_classes, dtype=torch.long, device=y.device)
    present = present.index_add_(0, y.clamp_min(0), here.long()) > 0
    # a size known before reading the labels: at least the batch, which bounds the classes
    # present, so every one of them is kept
    num_sample = min(num_classes, max(at_least, y.numel()))
    if num_sample >= num_classes:
        index = torch.arange(num_classes, device=y.device)
    else:
        where = generator.device if generator is not None else y.device
        score = torch.rand(num_classes, generator=generator, device=where).to(y.device)
        score = torch.where(present, 2.0, score)  # present classes first, then random ones
        index = score.topk(num_sample).indices.sort().values
    position = torch.full((num_classes,), -1, dtype=torch.long, device=y.device)
    position = position.scatter(0, index, torch.arange(index.numel(), device=y.device))
    return index, torch.where(here, position[y.clamp_min(0)], torch.full_like(y, -1))


# --------------------------------------------------------------------------- modules


class _MarginHead(LossModule, state=("centers",)):
    """The class centres, Partial FC and the call shared by every margin head."""

    num_classes: PositiveInt = field(kw_only=False)
    embedding_dim: PositiveInt = field(kw_only=False)
    chunk_size: PositiveInt | None = DEFAULT
    ignore_index: int | None = DEFAULT
    sample_rate: Fraction = field(default=1.0)
    device: torch.device | str | None = field(default=None)
    dtype: torch.dtype | None = field(default=None)

    def _shape(self) -> tuple[int, ...]:
        return (self.num_classes, self.embedding_dim)

    def __post_init__(self) -> None:
        factory = {"device": self.__dict__.pop("device"), "dtype": self.__dict__.pop("dtype")}
        self._at_least = math.ceil(self.sample_rate * self.num_classes)
        self.centers = nn.Parameter(torch.empty(self._shape(), **factory))
        if "bias" in self.state:
            has_bias = self.__dict__.pop("bias")
            self.bias = nn.Parameter(torch.empty(self.num_classes, **factory)) if has_bias else None
        scale = getattr(self, "scale", None)
        if getattr(self, "learn_scale", False) and not isinstance(scale, Tensor):
            del self.scale
            self.scale = nn.Parameter(torch.tensor(float(scale), **factory))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``nn.Linear``'s initialisation: uniform in ``+-1/sqrt(embedding_dim)``."""
        bound = 1.0 / math.sqrt(self.embedding_dim)
        nn.init.uniform_(self.centers, -bound, bound)
        bias = getattr(self, "bias", None)
        if isinstance(bias, Tensor):
            nn.init.uniform_(bias, -bound, bound)

    def forward(
        self, embeddings: Tensor, labels: Tensor, *, weight: Tensor | None = None,
        mask: Tensor | None = None, shard: ClassShard | None = None,
    ) -> Tensor:  # fmt: skip
        """The loss of ``embeddings`` ``(B, D)`` with ``labels`` ``(B,)``; with
        ``sample_rate < 1`` in training mode, over the Partial FC sample of the classes."""
        state = list(self.state_tensors())
        if shard is not None:
            # classes split across ranks: the sharded wrapper sampled this shard already
            if shard.index is not None:
                state = [t if t is None else t[shard.index] for t in state]
        elif self.training and self.sample_rate < 1.0:
            keep = exclusion(type(self).__name__, labels.shape, mask=mask, labels=labels,
                             ignore_index=getattr(self, "ignore_index", None))  # fmt: skip
            present = labels.long() if keep is None else torch.where(keep, labels.long(), -1)
            # the sample size from an int fixed at construction: a float attribute would be a
            # symbolic value under torch.compile(dynamic=True)
            index, new = _sample_classes(present, self.num_classes, self._at_least, None)
            state = [t if t is None else t[index] for t in state]
            labels, mask = new.clamp_min(0), new >= 0
        return self.function(embeddings, labels, *state, **self.hyperparameters(),
                             weight=weight, mask=mask, shard=shard)  # fmt: skip


class SoftmaxLoss(_MarginHead, function=softmax_loss, state=("centers", "bias")):
    """Softmax loss with its ``(C, D)`` class weights and bias: a linear layer, then CE.

    Args:
        num_classes: ``C``.
        embedding_dim: ``D``.
        bias: own a ``(C,)`` bias (``nn.Linear``'s convention); default ``True``.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        sample_rate: Partial FC's fraction of classes in training mode, ``(0, 1]``; default 1.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.
        device: where to allocate the parameters; default ``None``.
        dtype: their dtype; default ``None``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(B, D)`` and ``(B,)``.
        Output: a scalar, or ``(B,)``.

    Example:
        >>> import torch
        >>> head = SoftmaxLoss(10, 4)
        >>> head(torch.randn(3, 4), torch.tensor([0, 5, 9])).shape
        torch.Size([])
    """

    bias: bool = field(default=True)


class LSoftmaxLoss(_MarginHead, function=lsoftmax_loss):
    """L-Softmax with its ``(C, D)`` class weights: the multiplicative margin ``psi(m theta)``.

    Anneal by setting ``head.lambda_ = schedule(step)`` from a :class:`LambdaSchedule`.

    Args:
        num_classes: ``C``.
        embedding_dim: ``D``.
        m: the integer multiplicative margin, ``>= 1``; default 4.
        lambda_: annealing weight, ``>= 0``; default 0.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        sample_rate: Partial FC's fraction of classes in training mode; default 1.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.
        device: where to allocate the class weights; default ``None``.
        dtype: their dtype; default ``None``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(B, D)`` and ``(B,)``.

    Paper:
        Liu, Wen, Yu, Yang, "Large-Margin Softmax Loss for Convolutional Neural Networks",
        ICML 2016, arXiv:1612.02295.

    Example:
        >>> import torch
        >>> LSoftmaxLoss(10, 4, m=2, lambda_=5.0)(torch.randn(3, 4), torch.tensor([0, 5, 9])).ndim
        0
    """

    m: PositiveInt = DEFAULT
    lambda_: NonNegative = DEFAULT


class SphereFaceLoss(_MarginHead, function=sphereface_loss):
    """SphereFace (A-Softmax) with its ``(C, D)`` class weights (normalised in the loss).

    Anneal by setting ``head.lambda_ = schedule(step)`` from a :class:`LambdaSchedule`.

    Args:
        num_classes: ``C``.
        embedding_dim: ``D``.
        m: the integer multiplicative margin, ``>= 1``; default 4.
        lambda_: annealing weight, ``>= 0``; default 0.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        sample_rate: Partial FC's fraction of classes in training mode; default 1.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.
        device: where to allocate the class weights; default ``None``.
        dtype: their dtype; default ``None``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(B, D)`` and ``(B,)``.

    Paper:
        Liu, Wen, Yu, Li, Raj, Song, "SphereFace: Deep Hypersphere Embedding for Face
        Recognition", CVPR 2017, arXiv:1704.08063.

    Example:
        >>> import torch
        >>> SphereFaceLoss(10, 4, lambda_=5.0)(torch.randn(3, 4), torch.tensor([0, 5, 9])).ndim
        0
    """

    m: PositiveInt = DEFAULT
    lambda_: NonNegative = DEFAULT


class _ScaledHead(_MarginHead):
    """A head whose ``scale`` is fixed (a number) or learned (``learn_scale=True``: a 0-dim
    ``nn.Parameter`` initialised at ``scale``)."""

    scale: Scale = DEFAULT
    learn_scale: bool = field(default=False)


class COCOLoss(_ScaledHead, function=coco_loss):
    """COCO (congenerous cosine) loss with its ``(C, D)`` class centroids.

    Args:
        num_classes: ``C``.
        embedding_dim: ``D``.
        scale: ``alpha``, ``> 0``; default 16.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        sample_rate: Partial FC's fraction of classes in training mode; default 1.
        learn_scale: learn ``alpha`` (a parameter); default ``False``.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.
        device: where to allocate the centroids; default ``None``.
        dtype: their dtype; default ``None``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(B, D)`` and ``(B,)``.

    Paper:
        Liu, Li, Wang, "Learning Deep Features via Congenerous Cosine Loss for Person
        Recognition", arXiv:1702.06890, 2017.

    Example:
        >>> import torch
        >>> COCOLoss(10, 4, learn_scale=True).scale
        Parameter containing:
        tensor(16., requires_grad=True)
    """


class L2SoftmaxLoss(_ScaledHead, function=l2_softmax_loss, state=("centers", "bias")):
    """L2-constrained softmax with its ``(C, D)`` class weights and bias.

    Args:
        num_classes: ``C``.
        embedding_dim: ``D``.
        scale: ``alpha``, ``> 0``; default 50.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        sample_rate: Partial FC's fraction of classes in training mode; default 1.
        learn_scale: learn ``alpha``; default ``False``.
        bias: own a ``(C,)`` bias; default ``True``.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.
        device: where to allocate the parameters; default ``None``.
        dtype: their dtype; default ``None``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(B, D)`` and ``(B,)``.

    Paper:
        Ranjan, Castillo, Chellappa, "L2-constrained Softmax Loss for Discriminative Face
        Verification", arXiv:1703.09507, 2017.

    Example:
        >>> import torch
        >>> L2SoftmaxLoss(10, 4, bias=False).bias is None
        True
    """

    bias: bool = field(default=True)


class NormFaceLoss(_ScaledHead, function=normface_loss):
    """NormFace with its ``(C, D)`` class weights: softmax over ``s cos theta``.

    Args:
        num_classes: ``C``.
        embedding_dim: ``D``.
        scale: ``s``, ``> 0``; default 16.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        sample_rate: Partial FC's fraction of classes in training mode; default 1.
        learn_scale: learn ``s``; default ``False``.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.
        device: where to allocate the class weights; default ``None``.
        dtype: their dtype; default ``None``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(B, D)`` and ``(B,)``.

    Paper:
        Wang, Xiang, Cheng, Yuille, "NormFace: L2 Hypersphere Embedding for Face
        Verification", ACM MM 2017, arXiv:1704.06369.

    Example:
        >>> NormFaceLoss(10, 4, scale=30.0)
        NormFaceLoss(10, 4, scale=30.0, chunk_size=None, ignore_index=-100, reduction='mean', sample_rate=1.0, learn_scale=False)
    """


class CosFaceLoss(_ScaledHead, function=cosface_loss):
    """CosFace / AM-Softmax with its ``(C, D)`` class weights: ``s (cos theta_y - m)``.

    Args:
        num_classes: ``C``.
        embedding_dim: ``D``.
        cos_margin: ``>= 0``, in cosine units; default 0.35.
        scale: ``s``, ``> 0``; default 30.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        sample_rate: Partial FC's fraction of classes in training mode; default 1.
        learn_scale: learn ``s``; default ``False``.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.
        device: where to allocate the class weights; default ``None``.
        dtype: their dtype; default ``None``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(B, D)`` and ``(B,)``.

    Paper:
        Wang et al., "CosFace: Large Margin Cosine Loss for Deep Face Recognition", CVPR 2018,
        arXiv:1801.09414.

    Example:
        >>> import torch
        >>> CosFaceLoss(10, 4)(torch.randn(3, 4), torch.tensor([0, 5, 9])).ndim
        0
    """

    cos_margin: NonNegative = DEFAULT


class ArcFaceLoss(_ScaledHead, function=arcface_loss):
    """ArcFace with its ``(C, D)`` class weights: ``s cos(theta_y + m)``, ``m`` in radians.

    Args:
        num_classes: ``C``.
        embedding_dim: ``D``.
        margin: ``[0, pi)`` radians; default 0.5.
        scale: ``s``, ``> 0``; default 64.
        easy_margin: margin only where ``cos theta_y > 0``; default ``False``.
        grad_mode: ``"exact"`` (default) or ``"straight_through"``.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        sample_rate: Partial FC's fraction of classes in training mode; default 1.
        learn_scale: learn ``s``; default ``False``.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.
        device: where to allocate the class weights; default ``None``.
        dtype: their dtype; default ``None``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(B, D)`` and ``(B,)``.
        Output: a scalar, or ``(B,)``.

    Paper:
        Deng, Guo, Xue, Zafeiriou, "ArcFace: Additive Angular Margin Loss for Deep Face
        Recognition", CVPR 2019, arXiv:1801.07698.

    Example:
        >>> import torch
        >>> head = ArcFaceLoss(1000, 64, margin=0.5, scale=64.0, sample_rate=0.1)
        >>> head.centers.shape
        torch.Size([1000, 64])
        >>> head(torch.randn(8, 64), torch.randint(0, 1000, (8,))).ndim
        0
    """

    margin: Angle = DEFAULT
    easy_margin: bool = DEFAULT
    grad_mode: GradMode = DEFAULT


class CombinedMarginLoss(_ScaledHead, function=combined_margin_loss):
    """The combined margin with its ``(C, D)`` class weights: ``s (cos(m theta + margin) - cos_margin)``.

    Args:
        num_classes: ``C``.
        embedding_dim: ``D``.
        m: multiplicative margin, ``> 0``; default 1.
        margin: additive angle in radians, ``[0, pi)``; default 0.3.
        cos_margin: additive cosine margin, ``>= 0``; default 0.2.
        scale: ``s``, ``> 0``; default 64.
        fallback: ``"auto"`` (default), ``"monotone"`` or ``"linear"``.
        grad_mode: ``"exact"`` (default) or ``"straight_through"``.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        sample_rate: Partial FC's fraction of classes in training mode; default 1.
        learn_scale: learn ``s``; default ``False``.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.
        device: where to allocate the class weights; default ``None``.
        dtype: their dtype; default ``None``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(B, D)`` and ``(B,)``.

    Paper:
        Deng, Guo, Xue, Zafeiriou, "ArcFace", CVPR 2019, arXiv:1801.07698.

    Example:
        >>> import torch
        >>> CombinedMarginLoss(10, 4, m=1.0, margin=0.3, cos_margin=0.2)(torch.randn(3, 4), torch.tensor([0, 5, 9])).ndim
        0
    """

    m: Positive = DEFAULT
    margin: Angle = DEFAULT
    cos_margin: NonNegative = DEFAULT
    fallback: Fallback = DEFAULT
    grad_mode: GradMode = DEFAULT

    def __post_init__(self) -> None:
        resolve_fallback(type(self).__name__, self.fallback, self.m)
        super().__post_init__()


class SubCenterArcFaceLoss(_ScaledHead, function=subcenter_arcface_loss):
    """Sub-center ArcFace with its ``(C, K, D)`` sub-centres (``subcenters=K``, 3 in the paper).

    Args:
        num_classes: ``C``.
        embedding_dim: ``D``.
        margin: ``[0, pi)`` radians; default 0.5.
        scale: ``s``, ``> 0``; default 64.
        easy_margin: margin only where ``cos theta_y > 0``; default ``False``.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        sample_rate: Partial FC's fraction of classes in training mode; default 1.
        learn_scale: learn ``s``; default ``False``.
        subcenters: ``K``, an int ``>= 1``; default 3.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.
        device: where to allocate the sub-centres; default ``None``.
        dtype: their dtype; default ``None``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(B, D)`` and ``(B,)``.

    Paper:
        Deng, Guo, Liu, Gong, Zafeiriou, "Sub-center ArcFace", ECCV 2020.

    Example:
        >>> SubCenterArcFaceLoss(10, 4, subcenters=2).centers.shape
        torch.Size([10, 2, 4])
    """

    margin: Angle = DEFAULT
    easy_margin: bool = DEFAULT
    subcenters: PositiveInt = field(default=3)

    def _shape(self) -> tuple[int, ...]:
        return (self.num_classes, self.subcenters, self.embedding_dim)
