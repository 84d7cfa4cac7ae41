"""The angular-margin softmax family: softmax, L-Softmax, SphereFace, COCO, L2-Softmax,
NormFace, CosFace (AM-Softmax), ArcFace, the combined margin and sub-center ArcFace, and the
heads after ArcFace (CurricularFace, AdaFace, MagFace, ElasticFace-Arc/-Cos, UniFace), all on
one margin core (:mod:`losskit.functional._margin_core`) and one fused cross-entropy
(:mod:`losskit.functional._margin_ce`); each as a function and as a module that owns its
class centres (and, for CurricularFace and AdaFace, its running estimates in buffers).

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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from .._api import DEFAULT, LossModule, checked, field
from .._autograd import traced
from .._checks import (
    Angle,
    Fraction,
    Mask,
    NonNegative,
    Positive,
    PositiveInt,
    Scale,
    UnitInterval,
    Weight,
    check_floating,
    check_integer,
    check_labels,
    check_ndim,
    check_same_device,
    compute_dtype,
    required_check,
)
from .._reduction import Reduction, exclusion, finish, zero_excluded
from ._common import labelled_rows
from ._margin_ce import (
    ClassShard,
    Modulation,
    margin_ce_parts,
    softplus,
    target_logits,
    unified_ce_parts,
)
from ._margin_core import (
    Fallback,
    GradMode,
    _target,
    margin_logits,
    margin_target,
    psi,
    resolve_fallback,
    safe_acos,
)
from .distance import normalize, safe_norm, safe_sqrt

__all__ = [
    "AdaFaceLoss",
    "LambdaSchedule",
    "adaface_loss",
    "arcface_loss",
    "coco_loss",
    "combined_margin_loss",
    "cosface_loss",
    "curricularface_loss",
    "elastic_arcface_loss",
    "elastic_cosface_loss",
    "l2_softmax_loss",
    "lsoftmax_loss",
    "margin_logits",
    "magface_loss",
    "margin_target",
    "normface_loss",
    "normface_lower_bound",
    "partial_fc_sample",
    "psi",
    "softmax_loss",
    "sphereface_effective_margin",
    "sphereface_loss",
    "subcenter_arcface_loss",
    "uniface_loss",
    "ArcFaceLoss",
    "COCOLoss",
    "CombinedMarginLoss",
    "CosFaceLoss",
    "CurricularFaceLoss",
    "ElasticArcFaceLoss",
    "ElasticCosFaceLoss",
    "L2SoftmaxLoss",
    "LSoftmaxLoss",
    "MagFaceLoss",
    "NormFaceLoss",
    "SoftmaxLoss",
    "SphereFaceLoss",
    "SubCenterArcFaceLoss",
    "UniFaceLoss",
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
    filtering: float = 0.0,
) -> Tensor:  # fmt: skip
    """Normalised embeddings and class centres, ``s cos theta`` logits, margined target;
    ``filtering > 0``: negatives whose cosine exceeds it get logit 0 (insightface's
    inter-class filtering, a :class:`Modulation` with ``a = b = 0``)."""
    y, keep = _check_inputs(fn, embeddings, labels, centers, None, ignore_index, weight, mask,
                            shard, centers_ndim=centers_ndim)  # fmt: skip
    _check_scale(fn, scale, embeddings)
    mode = resolve_fallback(fn, fallback, m)
    dt = _work_dtype(embeddings, centers)
    s = _as_scale(scale, dt)
    xt = normalize(_rows(embeddings, keep, dt), 1, eps=_EPS) * s
    modulation = None
    if filtering > 0.0:
        s_ = s.detach() if isinstance(s, Tensor) else s
        modulation = Modulation(xt.new_full((xt.shape[0],), filtering) * s_)  # logit 0 above
    lse, zt, _ = margin_ce_parts(xt, centers, None, y, normalize=True, chunk_size=chunk_size,
                                 shard=shard, modulation=modulation)  # fmt: skip
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
    interclass_filtering_threshold: UnitInterval = 0.0,
    chunk_size: PositiveInt | None = None, ignore_index: int | None = -100,
    weight: Weight = None, mask: Mask = None, shard: ClassShard | None = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""The combined margin: SphereFace, ArcFace and CosFace margins in one formula.

    Formula:
        target s (cos(m t_y + margin) - cos_margin), continued monotonically past pi;  others s cos t_j (0 where cos t_j > interclass_filtering_threshold > 0)

    The defaults ``(m, margin, cos_margin) = (1, 0.3, 0.2)`` are the ArcFace paper's
    combination; ``(1, a, 0)`` is ArcFace, ``(1, 0, b)`` CosFace. Past ``m theta + margin =
    pi`` the target is continued by :func:`margin_target`'s ``fallback`` (``"auto"``:
    ArcFace's ``cos theta - margin sin margin`` when ``m == 1``, else the monotone ``psi``
    continuation).

    ``interclass_filtering_threshold`` (insightface's option of the same name, for web data
    where one identity appears under two labels): a *negative* class whose cosine exceeds
    it is taken for a duplicate of the sample's own identity and its logit set to 0 (its
    gradient too), so that the loss stops pushing the two apart. 0 (default) turns it off,
    as in insightface; the target's logit is never filtered. It runs inside the fused
    softmax, so it works dense, chunked, with Partial FC and class-sharded.

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
        interclass_filtering_threshold: a cosine in ``[0, 1]`` above which a negative class
            is filtered out; 0 (default) filters nothing.
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
                    shard=shard, reduction=reduction,
                    filtering=interclass_filtering_threshold)  # fmt: skip


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


# --------------------------------------------------------------------------- after ArcFace

#: AdaFace's clip of the feature norms and the floor added to their standard deviation (the
#: released code's constants)
_ADA_NORM_RANGE = (1e-3, 100.0)
_ADA_STD_EPS = 1e-3


def _check_running(fn: str, name: str, value: Tensor, embeddings: Tensor) -> None:
    """A running estimate: a one-element floating tensor on the embeddings' device."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{fn}: {name} must be a one-element tensor; got {type(value).__name__}")
    check_floating(fn, name, value)
    if value.numel() != 1:
        raise ValueError(f"{fn}: {name} must be a one-element tensor; got {tuple(value.shape)}")
    check_same_device(fn, ("embeddings", embeddings), (name, value))


def _kept(keep: Tensor | None, n: int, like: Tensor) -> Tensor:
    """``(B,)`` 1 for a kept row, 0 for a left-out one, in ``like``'s dtype."""
    if keep is None:
        return like.new_ones(n)
    return keep.to(like.dtype)


def _running(old: Tensor, batch: Tensor, momentum: float, ok: Tensor, dtype: torch.dtype) -> Tensor:
    """``(1 - momentum) old + momentum batch`` where ``ok``, else ``old`` (0-dim)."""
    old = old.to(dtype).reshape(())
    return torch.where(ok, (1.0 - momentum) * old + momentum * batch, old)


def _curricularface(
    embeddings: Tensor, labels: Tensor, centers: Tensor, t: Tensor, *, margin: Angle = 0.5,
    scale: Scale = 64.0, momentum: UnitInterval = 0.01, stop_gradient: bool = True,
    chunk_size: PositiveInt | None = None, ignore_index: int | None = -100,
    weight: Weight = None, mask: Mask = None, shard: ClassShard | None = None,
    reduction: Reduction = "mean",
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """:func:`curricularface_loss` and the updated ``t`` (for the module)."""
    fn = "curricularface_loss"
    y, keep = _check_inputs(fn, embeddings, labels, centers, None, ignore_index, weight, mask,
                            shard)  # fmt: skip
    _check_scale(fn, scale, embeddings)
    _check_running(fn, "t", t, embeddings)
    dt = _work_dtype(embeddings, centers)
    s = _as_scale(scale, dt)
    xt = normalize(_rows(embeddings, keep, dt), 1, eps=_EPS) * s
    # the target cosines first (O(B D)): the batch's mean updates t, and cos(theta_y + m)
    # decides which negatives are hard, before the pass over the classes
    cos_y = target_logits(xt, centers, y, normalize=True, eps=_EPS, shard=shard) / s
    kept = _kept(keep, xt.shape[0], cos_y)
    count = kept.sum()
    mean = (cos_y * kept).sum() / count.clamp_min(1.0)
    t_new = _running(t, mean.detach() if stop_gradient else mean, momentum, count > 0, dt)
    if stop_gradient:
        t_new = t_new.detach()
    c = cos_y.detach().clamp(-1.0, 1.0)
    s_ = s.detach() if isinstance(s, Tensor) else s
    # hard: cos theta_j > cos(theta_y + m) (the plain formula, as the paper and its code)
    threshold = s_ * (c * math.cos(margin) - safe_sqrt((1.0 - c) * (1.0 + c)) * math.sin(margin))
    inv_s = xt.new_ones(()) / s
    lse, zt, _ = margin_ce_parts(xt, centers, None, y, normalize=True, chunk_size=chunk_size,
                                 shard=shard, modulation=Modulation(threshold, t_new, inv_s))  # fmt: skip
    target = s * _target(zt / s, 1.0, margin, 0.0, 0.0, False, "linear", "exact")
    return _finish(fn, lse, target, keep, weight, reduction, embeddings.dtype), t_new


# the module's call: checked like the public function, errors named after it
_curricularface.__name__ = "curricularface_loss"
_curricularface = checked(_curricularface)


@checked
def curricularface_loss(
    embeddings: Tensor, labels: Tensor, centers: Tensor, t: Tensor, *, margin: Angle = 0.5,
    scale: Scale = 64.0, momentum: UnitInterval = 0.01, stop_gradient: bool = True,
    chunk_size: PositiveInt | None = None, ignore_index: int | None = -100,
    weight: Weight = None, mask: Mask = None, shard: ClassShard | None = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""CurricularFace: ArcFace's target, and hard negatives re-weighted by an adaptive ``t``.

    Formula:
        target s cos(t_y + margin);  others s N(cos t_j), N(c) = c (t + c) if c > cos(t_y + margin) else c;  t <- (1 - momentum) t + momentum mean_i cos t_yi

    A negative class is *hard* for a sample when its cosine beats the sample's margined
    target, ``cos theta_j > cos(theta_y + m)``. Its logit becomes ``s c (t + c)``: early in
    training ``t`` (the running mean of the target cosines) is near 0, so hard negatives count
    *less* than in ArcFace (``c (0 + c) < c``), and as training makes the classes compact
    ``t`` grows toward 1 and they count more: a curriculum from easy to hard samples, set by
    the model's own progress. The target is ArcFace's, with the same rule past
    ``theta_y = pi - margin`` (``cos theta - margin sin margin``).

    ``t`` is the estimate *before* this batch; the loss uses the updated one, ``(1 -
    momentum) t + momentum r`` with ``r`` the mean target cosine of the kept rows (``t``
    unchanged when no row is kept). ``momentum=0`` uses ``t`` as it is (evaluation).
    :class:`CurricularFaceLoss` keeps ``t`` in a buffer and updates it in training mode.
    With ``stop_gradient=True`` (the paper's code, which updates ``t`` under ``no_grad``)
    the updated ``t`` is a constant of the backward pass; ``False`` differentiates through
    it (to ``t``, the embeddings and the centres). The hard-negative mask has no gradient.

    The paper writes the update as ``t = alpha r + (1 - alpha) t`` with ``alpha`` its
    "momentum" 0.99, which taken literally makes ``t`` almost the current batch's mean; the
    authors' released code weighs the batch by 0.01 (``t = 0.01 r + 0.99 t``) and starts
    from ``t = 0``. losskit follows the code, with ``momentum`` in torch BatchNorm's sense
    (the weight of the new batch), default 0.01. The code's hard-negative test uses the
    plain ``cos(theta_y + m)``, also past ``pi - m``; so does losskit.

    When to use:
        Face recognition on large, clean identity sets where ArcFace plateaus: the
        curriculum emphasises hard negatives only once the model can afford them. s = 64,
        margin = 0.5; hold the head in a module so t persists.

    Args:
        embeddings: ``(B, D)`` embeddings (normalised inside).
        labels: ``(B,)`` integer labels in ``[0, C)``.
        centers: ``(C, D)`` class weights (normalised inside).
        t: one-element tensor, the running mean of the target cosine before this batch
            (0 at the start of training).
        margin: ``m`` in radians, ``[0, pi)``; default 0.5.
        scale: ``s``, a number ``> 0`` or a one-element tensor; default 64.
        momentum: the batch's weight in the update of ``t``, ``[0, 1]``; default 0.01.
        stop_gradient: treat the updated ``t`` as a constant; default ``True``.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        weight: optional non-negative ``(B,)`` sample weights.
        mask: optional bool ``(B,)``; ``False`` = leave the sample out (and out of ``t``).
        shard: the class shard under ``ClassShardedLoss``; default ``None``.
        reduction: ``"none"`` (``(B,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``embeddings``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs or ``t``, non-integer labels.
        ValueError: inconsistent shapes, labels out of range, ``t`` not one element,
            ``margin`` outside ``[0, pi)``, ``momentum`` outside ``[0, 1]``, a scale ``<= 0``.

    Paper:
        Huang et al., "CurricularFace: Adaptive Curriculum Learning Loss for Deep Face
        Recognition", CVPR 2020, arXiv:2004.00288.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> w = torch.tensor([[1.0, 0.2], [0.6, 1.0]])
        >>> y = torch.tensor([1, 1])  # row 0: class 0 (cos 0.98) is a hard negative
        >>> curricularface_loss(x, y, w, torch.tensor(0.0), scale=4.0, reduction="none")
        tensor([3.7356, 0.2544])
        >>> curricularface_loss(x, y, w, torch.tensor(0.5), scale=4.0, momentum=0.0, reduction="none")
        tensor([5.6492, 0.2544])
    """
    return _curricularface(embeddings, labels, centers, t, margin=margin, scale=scale,
                           momentum=momentum, stop_gradient=stop_gradient,
                           chunk_size=chunk_size, ignore_index=ignore_index, weight=weight,
                           mask=mask, shard=shard, reduction=reduction)[0]  # fmt: skip


def _adaface(
    embeddings: Tensor, labels: Tensor, centers: Tensor, norm_mean: Tensor, norm_std: Tensor,
    *, margin: Angle = 0.4, h: NonNegative = 0.333, scale: Scale = 64.0,
    momentum: UnitInterval = 0.01, stop_gradient: bool = True,
    chunk_size: PositiveInt | None = None, ignore_index: int | None = -100,
    weight: Weight = None, mask: Mask = None, shard: ClassShard | None = None,
    reduction: Reduction = "mean",
) -> tuple[Tensor, tuple[Tensor, Tensor]]:  # fmt: skip
    """:func:`adaface_loss` and the updated ``(norm_mean, norm_std)`` (for the module)."""
    fn = "adaface_loss"
    y, keep = _check_inputs(fn, embeddings, labels, centers, None, ignore_index, weight, mask,
                            shard)  # fmt: skip
    _check_scale(fn, scale, embeddings)
    _check_running(fn, "norm_mean", norm_mean, embeddings)
    _check_running(fn, "norm_std", norm_std, embeddings)
    dt = _work_dtype(embeddings, centers)
    x = _rows(embeddings, keep, dt)
    norms = safe_norm(x, 1).clamp(*_ADA_NORM_RANGE)
    if stop_gradient:  # the paper's: the norm is a proxy of quality, not something to optimise
        norms = norms.detach()
    kept = _kept(keep, x.shape[0], norms)
    count = kept.sum()
    mean = (norms * kept).sum() / count.clamp_min(1.0)
    var = ((norms - mean).square() * kept).sum() / (count - 1.0).clamp_min(1.0)  # Bessel's
    mu = _running(norm_mean, mean, momentum, count > 0, dt)
    sd = _running(norm_std, safe_sqrt(var), momentum, count > 1, dt)
    if stop_gradient:
        mu, sd = mu.detach(), sd.detach()
    quality = (h * (norms - mu) / (sd + _ADA_STD_EPS)).clamp(-1.0, 1.0)
    s = _as_scale(scale, dt)
    xt = normalize(x, 1, eps=_EPS) * s
    lse, zt, _ = margin_ce_parts(xt, centers, None, y, normalize=True, chunk_size=chunk_size,
                                 shard=shard)  # fmt: skip
    theta = safe_acos(zt / s)
    # angular margin -m q, additive margin m (1 + q); the angle stays in [0, pi]
    theta_m = (theta - margin * quality).clamp(0.0, math.pi)
    target = s * (torch.cos(theta_m) - margin * (1.0 + quality))
    return _finish(fn, lse, target, keep, weight, reduction, embeddings.dtype), (mu, sd)


# the module's call: checked like the public function, errors named after it
_adaface.__name__ = "adaface_loss"
_adaface = checked(_adaface)


@checked
def adaface_loss(
    embeddings: Tensor, labels: Tensor, centers: Tensor, norm_mean: Tensor, norm_std: Tensor,
    *, margin: Angle = 0.4, h: NonNegative = 0.333, scale: Scale = 64.0,
    momentum: UnitInterval = 0.01, stop_gradient: bool = True,
    chunk_size: PositiveInt | None = None, ignore_index: int | None = -100,
    weight: Weight = None, mask: Mask = None, shard: ClassShard | None = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""AdaFace: a margin that adapts to image quality, read off the feature norm.

    Formula:
        q = clip(h (||x|| - mu) / (sigma + 1e-3), -1, 1);  target s (cos(clip(t_y - margin q, 0, pi)) - margin (1 + q));  others s cos t_j

    The norm of an embedding tracks the quality of its image. ``q`` is the norm standardised
    by the running batch statistics ``mu`` and ``sigma`` (about 68 % of the samples fall in
    ``q in [-h, h]``). A high-quality sample (``q -> 1``) gets CosFace's margin ``2 m`` and a
    negative angular margin: hard samples are emphasised; a low-quality one (``q -> -1``)
    gets ArcFace's angular margin ``m`` and no cosine margin: it is de-emphasised where it is
    hard, since a hard, unrecognisable image should not drive training. ``q = 0`` is the
    combined margin ``cos(theta + 0) - m``.

    ``norm_mean`` and ``norm_std`` are the estimates *before* this batch; the loss uses the
    updated ones, ``(1 - momentum) old + momentum batch`` over the kept rows (the standard
    deviation with Bessel's correction; an estimate stays as it is with no kept row, the
    standard deviation with fewer than two). ``momentum=0`` uses them as they are.
    :class:`AdaFaceLoss` keeps them in buffers (starting at 20 and 100, the released code's
    values) and updates them in training mode. Norms are clipped to ``[1e-3, 100]`` before
    the statistics and ``q`` (as the code does: a feature of norm 0 or 1e6 stays finite).
    ``stop_gradient=True`` (the paper) makes the norm, and so ``q``, a constant of the
    backward pass; ``False`` differentiates through the norm and the statistics.

    Where the authors' code departs from the paper: it clamps *every* cosine to ``[-1 +
    1e-3, 1 - 1e-3]`` and every angle plus margin to ``[1e-3, pi - 1e-3]`` (a small change to
    all logits), updates the statistics in evaluation mode too, and adds ``1e-3`` to
    ``sigma``. losskit keeps the exact cosines (a safe ``acos`` with a finite gradient at
    +-1), clamps only the target's angle to ``[0, pi]``, updates only in training mode (as
    BatchNorm) and keeps the ``1e-3`` floor of ``sigma`` (it keeps ``sigma = 0`` finite).

    When to use:
        Face recognition on data of mixed quality (surveillance, low resolution,
        TinyFace, IJB-S): easy low-quality images are not forced to fit. s = 64, margin =
        0.4, h = 0.333; hold the head in a module so the statistics persist.

    Args:
        embeddings: ``(B, D)`` embeddings (their norm is the quality proxy; normalised
            inside for the cosines).
        labels: ``(B,)`` integer labels in ``[0, C)``.
        centers: ``(C, D)`` class weights (normalised inside).
        norm_mean: one-element tensor, the running mean of the feature norm before this
            batch.
        norm_std: one-element tensor, the running standard deviation of the feature norm.
        margin: ``m``, ``[0, pi)``; default 0.4.
        h: how far the standardised norm reaches, ``>= 0`` (0: a fixed margin); default
            0.333.
        scale: ``s``, a number ``> 0`` or a one-element tensor; default 64.
        momentum: the batch's weight in the update of the statistics, ``[0, 1]``; default
            0.01.
        stop_gradient: treat the norm and the statistics as constants; default ``True``.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        weight: optional non-negative ``(B,)`` sample weights.
        mask: optional bool ``(B,)``; ``False`` = leave the sample out (and out of the
            statistics).
        shard: the class shard under ``ClassShardedLoss``; default ``None``.
        reduction: ``"none"`` (``(B,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``embeddings``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs or statistics, non-integer labels.
        ValueError: inconsistent shapes, labels out of range, statistics not one element,
            ``margin`` outside ``[0, pi)``, negative ``h``, ``momentum`` outside ``[0, 1]``,
            a scale ``<= 0``.

    Paper:
        Kim, Jain, Liu, "AdaFace: Quality Adaptive Margin for Face Recognition", CVPR 2022,
        arXiv:2204.00964.

    Example:
        >>> import torch
        >>> x = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
        >>> mu, sigma = torch.tensor(2.0), torch.tensor(1.0)
        >>> adaface_loss(x, torch.tensor([0, 1]), torch.eye(2), mu, sigma, scale=4.0, momentum=0.0, reduction="none")
        tensor([0.1436, 0.0537])
    """
    return _adaface(embeddings, labels, centers, norm_mean, norm_std, margin=margin, h=h,
                    scale=scale, momentum=momentum, stop_gradient=stop_gradient,
                    chunk_size=chunk_size, ignore_index=ignore_index, weight=weight, mask=mask,
                    shard=shard, reduction=reduction)[0]  # fmt: skip


@checked
def magface_loss(
    embeddings: Tensor, labels: Tensor, centers: Tensor, *, scale: Scale = 64.0,
    min_norm: Positive = 10.0, max_norm: Positive = 110.0, min_margin: Angle = 0.45,
    max_margin: Angle = 0.8, reg_weight: NonNegative = 35.0, easy_margin: bool = False,
    chunk_size: PositiveInt | None = None, ignore_index: int | None = -100,
    weight: Weight = None, mask: Mask = None, shard: ClassShard | None = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""MagFace: an ArcFace margin that grows with the feature's magnitude, and a regulariser
    that pulls the magnitude up, so that the norm becomes a measure of quality.

    Formula:
        a = clip(||x||, min_norm, max_norm);  m(a) = min_margin + (max_margin - min_margin) (a - min_norm) / (max_norm - min_norm);  l = CE(target s cos(t_y + m(a)), others s cos t_j) + reg_weight (1 / a + a / max_norm^2)

    A larger norm asks for a larger angular margin, which only a sample close to its class
    centre can meet; the regulariser ``g(a) = 1 / a + a / max_norm^2`` (decreasing on
    ``[min_norm, max_norm]``) rewards a large norm. Their balance puts easy, high-quality
    samples at large norms near their centre and hard, low-quality ones at small norms, so
    ``||x||`` can be read as a quality score at test time. The gradient flows through the
    norm (as in the paper); outside ``[min_norm, max_norm]`` the clip stops it. Past
    ``theta_y = pi - m(a)`` the target is ``cos theta_y - m sin m`` (ArcFace's rule).

    The authors' released ``MagLinear`` defaults to ``easy_margin=True`` (the margin only
    where ``cos theta_y > 0``), which the paper's formula does not have; losskit follows the
    paper by default and offers ``easy_margin=True`` for the code's behaviour. The defaults
    (10, 110, 0.45, 0.8, 35, s = 64) are the released training script's.

    When to use:
        Face recognition where a quality score per image is wanted for free (the feature
        norm): template aggregation, rejecting unrecognisable faces. The norm bounds must
        suit the backbone's feature scale (10 to 110 for an iResNet's 512-d features).

    Args:
        embeddings: ``(B, D)`` embeddings (their norm is the magnitude ``a``).
        labels: ``(B,)`` integer labels in ``[0, C)``.
        centers: ``(C, D)`` class weights (normalised inside).
        scale: ``s``, a number ``> 0`` or a one-element tensor; default 64.
        min_norm: ``l_a``, the lower bound of the magnitude, ``> 0``; default 10.
        max_norm: ``u_a``, the upper bound, ``> min_norm``; default 110.
        min_margin: ``l_m``, the margin at ``min_norm`` in radians, ``[0, pi)``; default 0.45.
        max_margin: ``u_m``, the margin at ``max_norm`` in radians, ``[0, pi)``; default 0.8.
        reg_weight: ``lambda_g``, the weight of the regulariser, ``>= 0``; default 35.
        easy_margin: apply the margin only where ``cos theta_y > 0``; default ``False``.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        weight: optional non-negative ``(B,)`` sample weights.
        mask: optional bool ``(B,)``; ``False`` = leave the sample out.
        shard: the class shard under ``ClassShardedLoss``; default ``None``.
        reduction: ``"none"`` (``(B,)``, each sample's CE plus its regulariser), ``"mean"``
            (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``embeddings``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, non-integer labels.
        ValueError: inconsistent shapes, labels out of range, ``min_norm >= max_norm``,
            margins outside ``[0, pi)``, a negative ``reg_weight``, a scale ``<= 0``.

    Paper:
        Meng, Zhao, Jiang, Wang, "MagFace: A Universal Representation for Face Recognition
        and Quality Assessment", CVPR 2021, arXiv:2103.06627.

    Example:
        >>> import torch
        >>> x = torch.tensor([[10.0, 0.0], [0.0, 110.0]])  # magnitudes at both bounds
        >>> magface_loss(x, torch.tensor([0, 1]), torch.eye(2), scale=4.0, reg_weight=0.0, reduction="none")
        tensor([0.0269, 0.0598])
    """
    fn = "magface_loss"
    if min_norm >= max_norm:
        raise ValueError(f"{fn}: min_norm must be below max_norm; got {min_norm} and {max_norm}")
    y, keep = _check_inputs(fn, embeddings, labels, centers, None, ignore_index, weight, mask,
                            shard)  # fmt: skip
    _check_scale(fn, scale, embeddings)
    dt = _work_dtype(embeddings, centers)
    x = _rows(embeddings, keep, dt)
    a = safe_norm(x, 1).clamp(min_norm, max_norm)
    m_a = min_margin + (max_margin - min_margin) * (a - min_norm) / (max_norm - min_norm)
    s = _as_scale(scale, dt)
    xt = normalize(x, 1, eps=_EPS) * s
    lse, zt, _ = margin_ce_parts(xt, centers, None, y, normalize=True, chunk_size=chunk_size,
                                 shard=shard)  # fmt: skip
    target = s * _target(zt / s, 1.0, m_a, 0.0, 0.0, easy_margin, "linear", "exact")
    ce = softplus(lse - target)
    g = 1.0 / a + a / (max_norm * max_norm)
    return finish(fn, ce + reg_weight * g, reduction, weight=weight, keep=keep,
                  out_dtype=embeddings.dtype)  # fmt: skip


def _elastic_margins(
    fn: str, n: int, margin: float, sigma: float, plus: bool, cos_y: Tensor,
    keep: Tensor | None, generator: torch.Generator | None,
) -> Tensor | float:  # fmt: skip
    """``(B,)`` margins drawn from ``N(margin, sigma^2)`` (``margin`` itself when ``sigma =
    0``); with ``plus``, sorted so that the kept row with the k-th largest target cosine gets
    the k-th smallest draw."""
    if sigma == 0.0:
        return margin
    where = generator.device if generator is not None else cos_y.device
    z = torch.randn(n, generator=generator, device=where, dtype=cos_y.dtype).to(cos_y.device)
    if plus:
        kept = torch.ones_like(z, dtype=torch.bool) if keep is None else keep
        order = torch.where(kept, cos_y.detach(), -torch.inf).argsort(descending=True,
                                                                        stable=True)  # fmt: skip
        ranked = torch.where(kept, z, torch.inf).sort().values
        z = torch.empty_like(z).scatter_(0, order, ranked)
        z = torch.where(kept, z, 0.0)  # a left-out row's draw is never read
    return margin + sigma * z


def _elastic(
    fn: str, embeddings: Tensor, labels: Tensor, centers: Tensor, *, arc: bool, margin: float,
    sigma: float, plus: bool, scale: float | Tensor, generator: torch.Generator | None,
    chunk_size: int | None, ignore_index: int | None, weight: Tensor | None,
    mask: Tensor | None, shard: ClassShard | None, reduction: Reduction,
) -> Tensor:  # fmt: skip
    y, keep = _check_inputs(fn, embeddings, labels, centers, None, ignore_index, weight, mask,
                            shard)  # fmt: skip
    _check_scale(fn, scale, embeddings)
    dt = _work_dtype(embeddings, centers)
    s = _as_scale(scale, dt)
    xt = normalize(_rows(embeddings, keep, dt), 1, eps=_EPS) * s
    lse, zt, _ = margin_ce_parts(xt, centers, None, y, normalize=True, chunk_size=chunk_size,
                                 shard=shard)  # fmt: skip
    cos_y = zt / s
    m = _elastic_margins(fn, xt.shape[0], margin, sigma, plus, cos_y, keep, generator)
    if arc:
        target = _target(cos_y, 1.0, m, 0.0, 0.0, False, "linear", "exact")
    else:
        target = _target(cos_y, 1.0, 0.0, m, 0.0, False, "linear", "exact")
    return _finish(fn, lse, s * target, keep, weight, reduction, embeddings.dtype)


@checked
def elastic_arcface_loss(
    embeddings: Tensor, labels: Tensor, centers: Tensor, *, margin: Angle = 0.5,
    sigma: NonNegative = 0.05, plus: bool = False, scale: Scale = 64.0,
    generator: torch.Generator | None = None, chunk_size: PositiveInt | None = None,
    ignore_index: int | None = -100, weight: Weight = None, mask: Mask = None,
    shard: ClassShard | None = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""ElasticFace-Arc: ArcFace with each sample's angular margin drawn from a normal
    distribution.

    Formula:
        m_i ~ N(margin, sigma^2);  target s cos(t_y + m_i) (s (cos t_y - m_i sin m_i) past t_y = pi - m_i);  others s cos t_j

    A fixed margin pushes every class toward the same decision boundary; drawing it per
    sample and per step lets the boundary breathe, which the paper finds generalises
    better. ``plus=True`` (ElasticFace+) sorts the draws against the samples' target
    cosines: the kept sample closest to its class centre gets the smallest margin, the
    farthest the largest. The draws come from ``generator`` (a ``torch.Generator``, so runs
    are reproducible; ``None``: torch's global generator), one per row of the batch;
    ``sigma=0`` is :func:`arcface_loss`.

    Where the authors' code departs: it lets ``cos(theta + m)`` rise again past ``theta =
    pi - m`` (a target that rewards moving further away); losskit continues it as ArcFace
    does (``cos theta - m sin m``), as the ArcFace paper's code. For the plus variant the
    code indexes the sorted draws with the sort permutation (``margin[order]``) where the
    pairing of its two sorts needs its inverse; losskit pairs them by rank as intended.

    When to use:
        Face recognition with ArcFace's setting where a fixed margin overfits the training
        identities: margin = 0.5, sigma = 0.05, s = 64 (the paper's). Keep one generator
        per run, seeded the same on every rank under ClassShardedLoss.

    Args:
        embeddings: ``(B, D)`` embeddings (normalised inside).
        labels: ``(B,)`` integer labels in ``[0, C)``.
        centers: ``(C, D)`` class weights (normalised inside).
        margin: the mean of the angular margin in radians, ``[0, pi)``; default 0.5.
        sigma: its standard deviation, ``>= 0``; default 0.05.
        plus: ElasticFace+: sort the margins against the target cosines; default ``False``.
        scale: ``s``, a number ``> 0`` or a one-element tensor; default 64.
        generator: the ``torch.Generator`` the margins are drawn from; default ``None``.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        weight: optional non-negative ``(B,)`` sample weights.
        mask: optional bool ``(B,)``; ``False`` = leave the sample out.
        shard: the class shard under ``ClassShardedLoss``; default ``None``.
        reduction: ``"none"`` (``(B,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``embeddings``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, non-integer labels, a generator that is not one.
        ValueError: inconsistent shapes, labels out of range, ``margin`` outside ``[0, pi)``,
            a negative ``sigma``, a scale ``<= 0``.

    Paper:
        Boutros, Damer, Kirchbuchner, Kuijper, "ElasticFace: Elastic Margin Loss for Deep
        Face Recognition", CVPR Workshops 2022, arXiv:2109.09416.

    Example:
        >>> import torch
        >>> x, w = torch.tensor([[1.0, 0.0]]), torch.eye(2)
        >>> g = torch.Generator().manual_seed(0)
        >>> a = elastic_arcface_loss(x, torch.tensor([0]), w, scale=4.0, generator=g)
        >>> b = elastic_arcface_loss(x, torch.tensor([0]), w, scale=4.0, generator=g.manual_seed(0))
        >>> bool(a == b), elastic_arcface_loss(x, torch.tensor([0]), w, scale=4.0, sigma=0.0)
        (True, tensor(0.0294))
    """
    return _elastic("elastic_arcface_loss", embeddings, labels, centers, arc=True,
                    margin=margin, sigma=sigma, plus=plus, scale=scale, generator=generator,
                    chunk_size=chunk_size, ignore_index=ignore_index, weight=weight, mask=mask,
                    shard=shard, reduction=reduction)  # fmt: skip


@checked
def elastic_cosface_loss(
    embeddings: Tensor, labels: Tensor, centers: Tensor, *, cos_margin: NonNegative = 0.35,
    sigma: NonNegative = 0.05, plus: bool = False, scale: Scale = 64.0,
    generator: torch.Generator | None = None, chunk_size: PositiveInt | None = None,
    ignore_index: int | None = -100, weight: Weight = None, mask: Mask = None,
    shard: ClassShard | None = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""ElasticFace-Cos: CosFace with each sample's cosine margin drawn from a normal
    distribution.

    Formula:
        m_i ~ N(cos_margin, sigma^2);  target s (cos t_y - m_i);  others s cos t_j

    ElasticFace's construction with CosFace's margin: one draw per row of the batch from
    ``generator``; ``plus=True`` gives the kept sample closest to its class centre the
    smallest draw and the farthest the largest; ``sigma=0`` is :func:`cosface_loss`. The
    authors' code and losskit agree here (a cosine margin needs no continuation), but for
    the plus variant's pairing: the code indexes the sorted draws with the sort permutation
    where its two sorts need the inverse; losskit pairs them by rank.

    When to use:
        As CosFace (cos_margin = 0.35, s = 64) with a margin that varies per sample, sigma =
        0.05 (the paper's).

    Args:
        embeddings: ``(B, D)`` embeddings (normalised inside).
        labels: ``(B,)`` integer labels in ``[0, C)``.
        centers: ``(C, D)`` class weights (normalised inside).
        cos_margin: the mean of the cosine margin, ``>= 0``; default 0.35.
        sigma: its standard deviation, ``>= 0``; default 0.05.
        plus: ElasticFace+: sort the margins against the target cosines; default ``False``.
        scale: ``s``, a number ``> 0`` or a one-element tensor; default 64.
        generator: the ``torch.Generator`` the margins are drawn from; default ``None``.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        weight: optional non-negative ``(B,)`` sample weights.
        mask: optional bool ``(B,)``; ``False`` = leave the sample out.
        shard: the class shard under ``ClassShardedLoss``; default ``None``.
        reduction: ``"none"`` (``(B,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``embeddings``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, non-integer labels, a generator that is not one.
        ValueError: inconsistent shapes, labels out of range, a negative ``cos_margin`` or
            ``sigma``, a scale ``<= 0``.

    Paper:
        Boutros, Damer, Kirchbuchner, Kuijper, "ElasticFace: Elastic Margin Loss for Deep
        Face Recognition", CVPR Workshops 2022, arXiv:2109.09416.

    Example:
        >>> import torch
        >>> x, w = torch.tensor([[1.0, 0.0]]), torch.eye(2)
        >>> elastic_cosface_loss(x, torch.tensor([0]), w, scale=4.0, sigma=0.0)
        tensor(0.0716)
    """
    return _elastic("elastic_cosface_loss", embeddings, labels, centers, arc=False,
                    margin=cos_margin, sigma=sigma, plus=plus, scale=scale,
                    generator=generator, chunk_size=chunk_size, ignore_index=ignore_index,
                    weight=weight, mask=mask, shard=shard, reduction=reduction)  # fmt: skip


@checked
def uniface_loss(
    embeddings: Tensor, labels: Tensor, centers: Tensor, unified_threshold: Tensor, *,
    cos_margin: NonNegative = 0.4, scale: Scale = 64.0, negative_weight: NonNegative = 1.0,
    chunk_size: PositiveInt | None = None, ignore_index: int | None = -100,
    weight: Weight = None, mask: Mask = None, shard: ClassShard | None = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""UniFace: the unified cross-entropy, one learned threshold ``b`` for every pair of a
    sample and a class.

    Formula:
        l_i = log(1 + e^{-(s (cos t_y - cos_margin) - b)}) + negative_weight sum_{j != y} log(1 + e^{s cos t_j - b})

    Softmax cross-entropy only asks each sample's target to beat *its own* negatives; the
    decision threshold between a positive and a negative pair then differs from sample to
    sample, and a single verification threshold fits none of them well. UniFace scores
    every (sample, class) pair with a sigmoid against one shared threshold ``b`` (the
    ``unified_threshold``, learned): positives must lie above ``b`` with the CosFace margin,
    negatives below it. ``negative_weight`` (the paper's ``lambda``) balances the ``C - 1``
    negative terms against the one positive.

    The negative terms run in the fused pass over class blocks (``chunk_size``), with
    Partial FC and class-sharded like the softmax heads. The authors' code clamps each
    term's argument to ``[-s, s]`` (a cap on each term and no gradient beyond it); losskit
    computes ``log(1 + e^u)`` exactly and stably instead. :class:`UniFaceLoss` initialises
    ``b = log(10 C)`` as their code does (its ``r = 1``).

    When to use:
        Face verification where one threshold must separate genuine from impostor pairs
        across the whole population; cos_margin = 0.4, s = 64 (the paper's).

    Args:
        embeddings: ``(B, D)`` embeddings (normalised inside).
        labels: ``(B,)`` integer labels in ``[0, C)``.
        centers: ``(C, D)`` class weights (normalised inside).
        unified_threshold: ``b``, a one-element tensor (a learnable parameter of the module).
        cos_margin: the margin of the positive pair, in cosine units, ``>= 0``; default 0.4.
        scale: ``s``, a number ``> 0`` or a one-element tensor; default 64.
        negative_weight: ``lambda``, the weight of the negative terms, ``>= 0``; default 1.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        weight: optional non-negative ``(B,)`` sample weights.
        mask: optional bool ``(B,)``; ``False`` = leave the sample out.
        shard: the class shard under ``ClassShardedLoss``; default ``None``.
        reduction: ``"none"`` (``(B,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``embeddings``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs or threshold, non-integer labels.
        ValueError: inconsistent shapes, labels out of range, a threshold of more than one
            element, negative ``cos_margin`` or ``negative_weight``, a scale ``<= 0``.

    Paper:
        Zhou, Jia, Li, Shen, Duan, "UniFace: Unified Cross-Entropy Loss for Deep Face
        Recognition", ICCV 2023.

    Example:
        >>> import torch
        >>> x, w = torch.tensor([[1.0, 0.0]]), torch.eye(2)
        >>> uniface_loss(x, torch.tensor([0]), w, torch.tensor(1.0), scale=4.0)  # sp(-1.4) + sp(-1)
        tensor(0.5337)
    """
    fn = "uniface_loss"
    y, keep = _check_inputs(fn, embeddings, labels, centers, None, ignore_index, weight, mask,
                            shard)  # fmt: skip
    _check_scale(fn, scale, embeddings)
    _check_running(fn, "unified_threshold", unified_threshold, embeddings)
    dt = _work_dtype(embeddings, centers)
    s = _as_scale(scale, dt)
    b = unified_threshold.to(dt).reshape(())
    xt = normalize(_rows(embeddings, keep, dt), 1, eps=_EPS) * s
    negatives, zt = unified_ce_parts(xt, centers, b, y, normalize=True, chunk_size=chunk_size,
                                     shard=shard)  # fmt: skip
    positive = softplus(b - (zt - s * cos_margin))
    return finish(fn, positive + negative_weight * negatives, reduction, weight=weight,
                  keep=keep, out_dtype=embeddings.dtype)  # fmt: skip


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
        check = required_check(NonNegative)
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
    required_check(NonNegative)("sphereface_effective_margin", "lambda_", lambda_)
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
    required_check(PositiveInt)(fn, "num_classes", num_classes)
    y = labels.long()
    if labels.device.type == "cpu" and y.numel() and not traced() and int(y.max()) >= num_classes:
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


#: the state of a head indexed by class (Partial FC samples its rows)
_PER_CLASS = frozenset({"centers", "bias"})


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
        factory: dict[str, Any] = {
            "device": self.__dict__.pop("device"), "dtype": self.__dict__.pop("dtype")
        }  # fmt: skip
        self._at_least = math.ceil(self.sample_rate * self.num_classes)
        self.centers = nn.Parameter(torch.empty(self._shape(), **factory))
        if "bias" in self.state:
            has_bias = self.__dict__.pop("bias")
            self.bias = nn.Parameter(torch.empty(self.num_classes, **factory)) if has_bias else None
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
        index = None
        if shard is not None:
            # classes split across ranks: the sharded wrapper sampled this shard already
            index = shard.index
        elif self.training and self.sample_rate < 1.0:
            keep = exclusion(type(self).__name__, labels.shape, mask=mask, labels=labels,
                             ignore_index=getattr(self, "ignore_index", None))  # fmt: skip
            present = labels.long() if keep is None else torch.where(keep, labels.long(), -1)
            # the sample size from an int fixed at construction: a float attribute would be a
            # symbolic value under torch.compile(dynamic=True)
            index, new = _sample_classes(present, self.num_classes, self._at_least, None)
            labels, mask = new.clamp_min(0), new >= 0
        if index is not None:  # only the per-class state is sampled (not a running estimate)
            state = [t[index] if n in _PER_CLASS and t is not None else t
                     for n, t in zip(self.state, state, strict=True)]  # fmt: skip
        return self._loss(embeddings, labels, state, weight=weight, mask=mask, shard=shard)

    def _loss(
        self, embeddings: Tensor, labels: Tensor, state: list[Tensor | None], *,
        weight: Tensor | None, mask: Tensor | None, shard: ClassShard | None,
    ) -> Tensor:  # fmt: skip
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

    # a flag for the constructor; _MarginHead.__post_init__ stores the Parameter (or None) under
    # the same name, a change of type mypy cannot follow
    bias: bool = field(default=True)  # type: ignore[assignment]


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

    def __post_init__(self) -> None:
        factory: dict[str, Any] = {
            "device": self.__dict__.get("device"), "dtype": self.__dict__.get("dtype")
        }  # fmt: skip
        super().__post_init__()
        if self.learn_scale and not isinstance(self.scale, Tensor):
            scale = float(self.scale)
            del self.scale
            self.scale = nn.Parameter(torch.tensor(scale, **factory))


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

    # a flag for the constructor; _MarginHead.__post_init__ stores the Parameter (or None) under
    # the same name, a change of type mypy cannot follow
    bias: bool = field(default=True)  # type: ignore[assignment]


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
        interclass_filtering_threshold: negatives above this cosine get logit 0; 0
            (default) filters nothing.
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
    interclass_filtering_threshold: UnitInterval = DEFAULT

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


class _RunningHead(_ScaledHead):
    """A head with running estimates in buffers (``_running``: name -> initial value):
    created in ``__post_init__``, saved in ``state_dict``, passed to the function after the
    centres, updated in training mode only (the function's ``momentum``; 0 in evaluation)."""

    _running: ClassVar[dict[str, float]] = {}
    #: ``(*function's arguments) -> (loss, the new running estimates)``, one per subclass
    _update: ClassVar[Callable[..., tuple[Tensor, tuple[Tensor, ...]]]]
    momentum: UnitInterval = DEFAULT
    stop_gradient: bool = DEFAULT

    def __post_init__(self) -> None:
        factory: dict[str, Any] = {
            "device": self.__dict__.get("device"), "dtype": self.__dict__.get("dtype")
        }  # fmt: skip
        super().__post_init__()
        for name, value in self._running.items():
            self.register_buffer(name, torch.tensor(float(value), **factory))

    def reset_running_stats(self) -> None:
        """Put the running estimates back to their initial values."""
        with torch.no_grad():
            for name, value in self._running.items():
                getattr(self, name).fill_(value)

    def _loss(
        self, embeddings: Tensor, labels: Tensor, state: list[Tensor | None], *,
        weight: Tensor | None, mask: Tensor | None, shard: ClassShard | None,
    ) -> Tensor:  # fmt: skip
        hyper = self.hyperparameters()
        if not self.training:
            hyper["momentum"] = 0.0
        loss, new = self._update(embeddings, labels, *state, **hyper, weight=weight, mask=mask,
                                 shard=shard)  # fmt: skip
        if self.training:
            with torch.no_grad():
                for name, value in zip(self._running, new, strict=True):
                    buf = getattr(self, name)
                    buf.copy_(value.detach().reshape(buf.shape))
        return loss


class CurricularFaceLoss(_RunningHead, function=curricularface_loss, state=("centers", "t")):
    """CurricularFace with its ``(C, D)`` class weights and the running ``t`` (a buffer).

    In training mode every call updates ``t`` (``(1 - momentum) t + momentum`` times the
    batch's mean target cosine) and uses the updated value; in evaluation mode ``t`` is used
    as it is. ``t`` starts at 0 and is saved in ``state_dict``; ``reset_running_stats()``
    puts it back. Under :class:`~losskit.distributed.ClassShardedLoss` every rank sees the
    global batch, so ``t`` stays the same on every rank (one process's value).

    Args:
        num_classes: ``C``.
        embedding_dim: ``D``.
        margin: ``[0, pi)`` radians; default 0.5.
        scale: ``s``, ``> 0``; default 64.
        momentum: the batch's weight in the update of ``t``, ``[0, 1]``; default 0.01.
        stop_gradient: treat the updated ``t`` as a constant; default ``True``.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        sample_rate: Partial FC's fraction of classes in training mode; default 1.
        learn_scale: learn ``s``; default ``False``.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.
        device: where to allocate the class weights and ``t``; default ``None``.
        dtype: their dtype; default ``None``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(B, D)`` and ``(B,)``.
        Output: a scalar, or ``(B,)``.

    Paper:
        Huang et al., "CurricularFace: Adaptive Curriculum Learning Loss for Deep Face
        Recognition", CVPR 2020, arXiv:2004.00288.

    Example:
        >>> import torch
        >>> head = CurricularFaceLoss(10, 4)
        >>> loss = head(torch.randn(8, 4), torch.randint(0, 10, (8,)))
        >>> bool(head.t > 0) or bool(head.t < 0), "t" in head.state_dict()
        (True, True)
    """

    _running: ClassVar[dict[str, float]] = {"t": 0.0}
    margin: Angle = DEFAULT

    @staticmethod
    def _update(*args: Any, **kwargs: Any) -> tuple[Tensor, tuple[Tensor, ...]]:
        loss, t = _curricularface(*args, **kwargs)
        return loss, (t,)


class AdaFaceLoss(_RunningHead, function=adaface_loss, state=("centers", "norm_mean", "norm_std")):
    """AdaFace with its ``(C, D)`` class weights and the running norm statistics (buffers).

    In training mode every call updates ``norm_mean`` and ``norm_std`` from the batch's
    feature norms and uses the updated values; in evaluation mode they are used as they are.
    They start at 20 and 100 (the released code's values), are saved in ``state_dict`` and
    ``reset_running_stats()`` puts them back. Under
    :class:`~losskit.distributed.ClassShardedLoss` every rank sees the global batch, so the
    statistics are one process's on every rank.

    Args:
        num_classes: ``C``.
        embedding_dim: ``D``.
        margin: ``m``, ``[0, pi)``; default 0.4.
        h: how far the standardised norm reaches, ``>= 0``; default 0.333.
        scale: ``s``, ``> 0``; default 64.
        momentum: the batch's weight in the update, ``[0, 1]``; default 0.01.
        stop_gradient: treat the norms and statistics as constants; default ``True``.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        sample_rate: Partial FC's fraction of classes in training mode; default 1.
        learn_scale: learn ``s``; default ``False``.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.
        device: where to allocate the class weights and statistics; default ``None``.
        dtype: their dtype; default ``None``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(B, D)`` (not
        normalised: the norm is the quality signal) and ``(B,)``. Output: a scalar, or
        ``(B,)``.

    Paper:
        Kim, Jain, Liu, "AdaFace: Quality Adaptive Margin for Face Recognition", CVPR 2022,
        arXiv:2204.00964.

    Example:
        >>> import torch
        >>> head = AdaFaceLoss(10, 4, momentum=0.5)
        >>> loss = head(torch.full((2, 4), 2.0), torch.tensor([1, 2]))  # norms 4 and 4
        >>> head.norm_mean, head.norm_std
        (tensor(12.), tensor(50.))
    """

    _running: ClassVar[dict[str, float]] = {"norm_mean": 20.0, "norm_std": 100.0}
    margin: Angle = DEFAULT
    h: NonNegative = DEFAULT

    @staticmethod
    def _update(*args: Any, **kwargs: Any) -> tuple[Tensor, tuple[Tensor, ...]]:
        return _adaface(*args, **kwargs)


class MagFaceLoss(_ScaledHead, function=magface_loss):
    """MagFace with its ``(C, D)`` class weights: ``s cos(theta_y + m(||x||))`` plus the
    magnitude regulariser.

    Args:
        num_classes: ``C``.
        embedding_dim: ``D``.
        scale: ``s``, ``> 0``; default 64.
        min_norm: ``l_a``, ``> 0``; default 10.
        max_norm: ``u_a``, ``> min_norm``; default 110.
        min_margin: the margin at ``min_norm``, ``[0, pi)``; default 0.45.
        max_margin: the margin at ``max_norm``, ``[0, pi)``; default 0.8.
        reg_weight: ``lambda_g``, ``>= 0``; default 35.
        easy_margin: margin only where ``cos theta_y > 0`` (the released code's); default
            ``False``.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        sample_rate: Partial FC's fraction of classes in training mode; default 1.
        learn_scale: learn ``s``; default ``False``.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.
        device: where to allocate the class weights; default ``None``.
        dtype: their dtype; default ``None``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(B, D)`` (not
        normalised: the magnitude matters) and ``(B,)``. Output: a scalar, or ``(B,)``.

    Paper:
        Meng, Zhao, Jiang, Wang, "MagFace: A Universal Representation for Face Recognition
        and Quality Assessment", CVPR 2021, arXiv:2103.06627.

    Example:
        >>> import torch
        >>> head = MagFaceLoss(10, 4, min_norm=1.0, max_norm=20.0)
        >>> head(10 * torch.randn(3, 4), torch.tensor([0, 5, 9])).ndim
        0
    """

    min_norm: Positive = DEFAULT
    max_norm: Positive = DEFAULT
    min_margin: Angle = DEFAULT
    max_margin: Angle = DEFAULT
    reg_weight: NonNegative = DEFAULT
    easy_margin: bool = DEFAULT

    def __post_init__(self) -> None:
        if self.min_norm >= self.max_norm:
            raise ValueError(
                f"MagFaceLoss: min_norm must be below max_norm; got {self.min_norm} and "
                f"{self.max_norm}"
            )
        super().__post_init__()


class _ElasticHead(_ScaledHead):
    """An ElasticFace head: in training mode the margins are drawn from ``generator``; in
    evaluation mode every sample gets the mean margin (``sigma`` 0)."""

    sigma: NonNegative = DEFAULT
    plus: bool = DEFAULT
    generator: torch.Generator | None = DEFAULT

    def _loss(
        self, embeddings: Tensor, labels: Tensor, state: list[Tensor | None], *,
        weight: Tensor | None, mask: Tensor | None, shard: ClassShard | None,
    ) -> Tensor:  # fmt: skip
        hyper = self.hyperparameters()
        if not self.training:
            hyper["sigma"] = 0.0
        return self.function(embeddings, labels, *state, **hyper, weight=weight, mask=mask,
                             shard=shard)  # fmt: skip


class ElasticArcFaceLoss(_ElasticHead, function=elastic_arcface_loss):
    """ElasticFace-Arc with its ``(C, D)`` class weights: ArcFace with per-sample margins
    drawn from ``N(margin, sigma^2)`` (training mode; the mean margin in evaluation mode).

    The draws come from ``generator`` (kept by the module, so a seeded generator makes a run
    reproducible; its state is not part of ``state_dict``: save ``generator.get_state()``).
    Under :class:`~losskit.distributed.ClassShardedLoss` (whose own ``generator`` argument
    draws its Partial FC sample) set ``sharded.inner.generator`` to a generator seeded the
    same on every rank: every rank then draws the same margins for the global batch.

    Args:
        num_classes: ``C``.
        embedding_dim: ``D``.
        margin: the mean angular margin, ``[0, pi)``; default 0.5.
        sigma: its standard deviation, ``>= 0``; default 0.05.
        plus: ElasticFace+ (margins sorted against the target cosines); default ``False``.
        scale: ``s``, ``> 0``; default 64.
        generator: the ``torch.Generator`` of the draws; default ``None`` (torch's global).
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
        Boutros, Damer, Kirchbuchner, Kuijper, "ElasticFace: Elastic Margin Loss for Deep
        Face Recognition", CVPR Workshops 2022, arXiv:2109.09416.

    Example:
        >>> import torch
        >>> head = ElasticArcFaceLoss(10, 4, plus=True, generator=torch.Generator().manual_seed(0))
        >>> head(torch.randn(3, 4), torch.tensor([0, 5, 9])).ndim
        0
    """

    margin: Angle = DEFAULT


class ElasticCosFaceLoss(_ElasticHead, function=elastic_cosface_loss):
    """ElasticFace-Cos with its ``(C, D)`` class weights: CosFace with per-sample margins
    drawn from ``N(cos_margin, sigma^2)`` (training mode; the mean in evaluation mode).

    See :class:`ElasticArcFaceLoss` for the generator.

    Args:
        num_classes: ``C``.
        embedding_dim: ``D``.
        cos_margin: the mean cosine margin, ``>= 0``; default 0.35.
        sigma: its standard deviation, ``>= 0``; default 0.05.
        plus: ElasticFace+ (margins sorted against the target cosines); default ``False``.
        scale: ``s``, ``> 0``; default 64.
        generator: the ``torch.Generator`` of the draws; default ``None`` (torch's global).
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
        Boutros, Damer, Kirchbuchner, Kuijper, "ElasticFace: Elastic Margin Loss for Deep
        Face Recognition", CVPR Workshops 2022, arXiv:2109.09416.

    Example:
        >>> import torch
        >>> ElasticCosFaceLoss(10, 4, sigma=0.1).eval()(torch.randn(3, 4), torch.tensor([0, 5, 9])).ndim
        0
    """

    cos_margin: NonNegative = DEFAULT


class UniFaceLoss(_ScaledHead, function=uniface_loss, state=("centers", "unified_threshold")):
    """UniFace with its ``(C, D)`` class weights and the learned unified threshold ``b``.

    ``b`` is a one-element ``nn.Parameter``, initialised to ``unified_threshold`` (default
    ``None``: ``log(10 num_classes)``, the released code's with ``r = 1``). Under
    :class:`~losskit.distributed.ClassShardedLoss` each rank's inner head holds only its
    shard's classes: pass ``unified_threshold=math.log(10 * C)`` for the global ``C``.

    Args:
        num_classes: ``C``.
        embedding_dim: ``D``.
        unified_threshold: the initial ``b``; default ``None`` (``log(10 C)``).
        cos_margin: the positive pair's cosine margin, ``>= 0``; default 0.4.
        scale: ``s``, ``> 0``; default 64.
        negative_weight: ``lambda``, ``>= 0``; default 1.
        chunk_size: ``None`` (default: dense) or the number of classes per block.
        ignore_index: labels equal to it are excluded; default -100.
        sample_rate: Partial FC's fraction of classes in training mode; default 1.
        learn_scale: learn ``s``; default ``False``.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.
        device: where to allocate the parameters; default ``None``.
        dtype: their dtype; default ``None``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(B, D)`` and ``(B,)``.

    Paper:
        Zhou, Jia, Li, Shen, Duan, "UniFace: Unified Cross-Entropy Loss for Deep Face
        Recognition", ICCV 2023.

    Example:
        >>> import math, torch
        >>> head = UniFaceLoss(10, 4)
        >>> round(float(head.unified_threshold), 4) == round(math.log(100), 4)
        True
    """

    unified_threshold: float | None = field(default=None)
    cos_margin: NonNegative = DEFAULT
    negative_weight: NonNegative = DEFAULT

    def __post_init__(self) -> None:
        factory: dict[str, Any] = {
            "device": self.__dict__.get("device"), "dtype": self.__dict__.get("dtype")
        }  # fmt: skip
        init = self.__dict__.pop("unified_threshold")
        if init is None:
            init = math.log(10.0 * self.num_classes)
        required_check(float)("UniFaceLoss", "unified_threshold", init)
        super().__post_init__()
        # the field's number becomes a learnable 0-dim Parameter (a change of type mypy cannot
        # follow: the annotation is the constructor's)
        self.unified_threshold = nn.Parameter(  # type: ignore[assignment]
            torch.tensor(float(init), **factory)
        )
        self._threshold_init = float(init)

    def reset_parameters(self) -> None:
        """``nn.Linear``'s initialisation of the class weights; ``b`` back to its start."""
        super().reset_parameters()
        b = getattr(self, "unified_threshold", None)
        if isinstance(b, Tensor):
            with torch.no_grad():
                b.fill_(self._threshold_init)
