"""The angular-margin softmax family (SPEC.md section 6): softmax, L-Softmax, SphereFace,
COCO, L2-Softmax, NormFace, CosFace (AM-Softmax), ArcFace, the combined margin and
sub-center ArcFace, all on one margin core (:mod:`losskit.functional._margin_core`) and one
fused cross-entropy (:mod:`losskit.functional._margin_ce`).

Conventions, the same for every loss here:

* ``loss(features, labels, weight, *, ...)``: ``features`` ``(B, D)``, integer ``labels``
  ``(B,)`` in ``[0, C)``, class weights (centres) ``weight`` ``(C, D)`` (sub-center ArcFace:
  ``(C, K, D)``). The per-sample loss is the cross-entropy of the loss's logits; ``reduction``
  as everywhere in losskit.
* ``margin`` is an additive *angle in radians* (ArcFace's 0.5 rad is 28.6 degrees;
  pytorch-metric-learning takes degrees). CosFace's margin is subtracted from a cosine, so it
  has its own name, ``cos_margin``; the multiplicative margin of L-Softmax and SphereFace is
  the integer ``m``. ``combined_margin_loss`` uses the paper's ``m1, m2, m3``.
* ``scale`` multiplies normalised cosines (the papers' ``s`` or ``alpha``); a 0-dim tensor
  (e.g. a learnable ``nn.Parameter``) is accepted wherever the papers learn it.
* ``chunk_size=None`` keeps the ``(B, C)`` probabilities for the backward pass (fastest);
  ``chunk_size=n`` never holds more than ``n`` classes' logits at a time and recomputes them
  in the backward pass (for very many classes; the result equals the dense path to float32
  rounding). Neither path creates a normalised copy of ``weight``.
* float16/bfloat16 features or weights are computed in float32; the loss comes back in the
  features' dtype, each gradient in its tensor's dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .._checks import (
    check_floating,
    check_integer,
    check_ndim,
    check_positive,
    check_same_device,
    compute_dtype,
)
from .._reduction import Reduction, check_reduction, reduce_loss
from ._margin_ce import margin_ce_parts, softplus
from ._margin_core import (
    GRAD_MODES,
    Fallback,
    GradMode,
    _resolve_fallback,
    _target,
    check_label_range,
    check_margins,
    margin_logits,
    margin_target,
    psi,
)

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
]

_EPS = 1e-12  # norms are clamped here: a zero feature or class centre has cosine 0


# --------------------------------------------------------------------------- checks


def _check_inputs(
    fn: str,
    features: object,
    labels: object,
    weight: object,
    bias: object,
    chunk_size: object,
    reduction: object,
    *,
    weight_ndim: int = 2,
) -> None:
    features = check_floating(fn, "features", features)
    labels = check_integer(fn, "labels", labels)
    weight = check_floating(fn, "weight", weight)
    check_ndim(fn, "features", features, 2)
    check_ndim(fn, "labels", labels, 1)
    if weight.dim() != weight_ndim:
        want = "(C, D)" if weight_ndim == 2 else "(C, K, D)"
        raise ValueError(f"{fn}: weight must have shape {want}; got {tuple(weight.shape)}")
    if labels.shape[0] != features.shape[0]:
        raise ValueError(
            f"{fn}: features and labels must have the same batch size; "
            f"got {tuple(features.shape)} and {tuple(labels.shape)}"
        )
    if weight.shape[-1] != features.shape[1]:
        raise ValueError(
            f"{fn}: weight's last dimension must equal the feature dimension {features.shape[1]}; "
            f"got weight {tuple(weight.shape)}"
        )
    if weight.shape[0] == 0:
        raise ValueError(f"{fn}: weight must hold at least one class; got {tuple(weight.shape)}")
    named = [("features", features), ("labels", labels), ("weight", weight)]
    if bias is not None:
        bias = check_floating(fn, "bias", bias)
        if bias.shape != (weight.shape[0],):
            raise ValueError(
                f"{fn}: bias must have shape ({weight.shape[0]},); got {tuple(bias.shape)}"
            )
        named.append(("bias", bias))
    check_same_device(fn, *named)
    check_reduction(fn, reduction)
    if chunk_size is not None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
            raise TypeError(
                f"{fn}: chunk_size must be None or an int; got {type(chunk_size).__name__}"
            )
        if chunk_size < 1:
            raise ValueError(f"{fn}: chunk_size must be >= 1; got {chunk_size}")
    check_label_range(fn, labels, weight.shape[0])


def _check_scale(fn: str, scale: object, name: str = "scale") -> None:
    if isinstance(scale, Tensor):
        check_floating(fn, name, scale)
        if scale.numel() != 1:
            raise ValueError(
                f"{fn}: {name} must be a number or a one-element tensor; got {tuple(scale.shape)}"
            )
        return
    check_positive(fn, name, scale)  # type: ignore[arg-type]


def _check_int_margin(fn: str, m: object) -> int:
    if isinstance(m, bool) or not isinstance(m, (int, float)):
        raise TypeError(f"{fn}: m must be an integer; got {type(m).__name__}")
    if not float(m).is_integer() or m < 1:
        raise ValueError(f"{fn}: m (the multiplicative margin) must be an integer >= 1; got {m}")
    return int(m)


def _work_dtype(features: Tensor, weight: Tensor) -> torch.dtype:
    return torch.promote_types(compute_dtype(features), compute_dtype(weight))


def _unit(x: Tensor) -> Tensor:
    # x / max(||x||, eps): a zero feature has cosine 0 with every class, with finite gradients
    return x / torch.linalg.vector_norm(x, dim=1, keepdim=True).clamp_min(_EPS)


def _as_scale(scale: float | Tensor, dtype: torch.dtype) -> float | Tensor:
    return scale.to(dtype).reshape(()) if isinstance(scale, Tensor) else float(scale)


def _finish(fn: str, lse: Tensor, target: Tensor, reduction: Reduction, out: torch.dtype) -> Tensor:
    # CE of the margined logits = log(e^t + sum_{j != y} e^z_j) - t = softplus(lse_nontarget - t)
    return reduce_loss(softplus(lse - target), reduction, fn=fn).to(out)


def _angular(
    fn: str,
    features: Tensor,
    labels: Tensor,
    weight: Tensor,
    *,
    scale: float | Tensor,
    m1: float = 1.0,
    m2: float = 0.0,
    m3: float = 0.0,
    easy_margin: bool = False,
    fallback: str = "auto",
    grad_mode: str = "exact",
    chunk_size: int | None,
    reduction: Reduction,
    weight_ndim: int = 2,
    names: tuple[str, str, str, str] = ("m1", "m2", "m3", "lambda_"),
) -> Tensor:
    """Normalised features and class centres, ``s cos theta`` logits, margined target."""
    _check_inputs(
        fn, features, labels, weight, None, chunk_size, reduction, weight_ndim=weight_ndim
    )
    _check_scale(fn, scale)
    check_margins(fn, m1, m2, m3, 0.0, names)
    mode = _resolve_fallback(fn, fallback, m1)
    if grad_mode not in GRAD_MODES:
        raise ValueError(
            f"{fn}: grad_mode must be one of {', '.join(map(repr, GRAD_MODES))}; got {grad_mode!r}"
        )
    dt = _work_dtype(features, weight)
    s = _as_scale(scale, dt)
    xt = _unit(features.to(dt)) * s
    lse, zt, _ = margin_ce_parts(xt, weight, None, labels, normalize=True, chunk_size=chunk_size)
    target = s * _target(zt / s, m1, m2, m3, 0.0, easy_margin, mode, grad_mode)
    return _finish(fn, lse, target, reduction, features.dtype)


# --------------------------------------------------------------------------- losses


def softmax_loss(
    features: Tensor,
    labels: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    *,
    chunk_size: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Softmax loss: a linear layer (with bias), then cross-entropy.

    ``l_i = -log( e^{W_{y_i} . x_i + b_{y_i}} / sum_j e^{W_j . x_i + b_j} )``, equal to
    ``F.cross_entropy(F.linear(features, weight, bias), labels)``.

    The baseline of the family: it separates classes but does not make them compact (nothing
    pulls a feature toward its own ``W_y`` once it is classified), which is what the margins
    of the other losses add (SPEC.md sections 4 and 6).

    Args:
        features: ``(B, D)`` features, floating point.
        labels: ``(B,)`` integer labels in ``[0, C)`` (checked on CPU).
        weight: ``(C, D)`` class weights.
        bias: optional ``(C,)`` bias.
        chunk_size: ``None`` (dense) or the number of classes per block (see module docs).
        reduction: ``"none"`` (``(B,)``), ``"mean"`` or ``"sum"``.

    Returns:
        The loss, in the dtype of ``features``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-tensor or non-floating inputs, non-integer labels or ``chunk_size``.
        ValueError: inconsistent shapes, labels out of range, bad ``chunk_size`` or
            ``reduction``.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
        >>> softmax_loss(x, torch.tensor([0, 1]), torch.eye(2), reduction="none")
        tensor([0.3133, 0.1269])
    """
    fn = "softmax_loss"
    _check_inputs(fn, features, labels, weight, bias, chunk_size, reduction)
    dt = _work_dtype(features, weight)
    lse, zt, _ = margin_ce_parts(
        features.to(dt), weight, bias, labels, normalize=False, chunk_size=chunk_size
    )
    return _finish(fn, lse, zt, reduction, features.dtype)


def lsoftmax_loss(
    features: Tensor,
    labels: Tensor,
    weight: Tensor,
    *,
    m: int = 4,
    lambda_: float = 0.0,
    chunk_size: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Large-margin softmax (L-Softmax): a multiplicative angular margin, nothing normalised.

    Target logit ``||W_y|| ||x|| (lambda cos theta_y + psi(theta_y)) / (1 + lambda)``, other
    logits ``W_j . x = ||W_j|| ||x|| cos theta_j``, with :func:`psi` the monotone
    ``(-1)^k cos(m theta) - 2k``. The target must beat the others at ``m`` times its angle.
    ``lambda_`` anneals the margin in (large early, decayed toward 0 by a schedule; see
    :class:`LambdaSchedule`): the papers could not train from scratch without it.

    Args:
        features, labels, weight, chunk_size, reduction: as :func:`softmax_loss` (no bias).
        m: the integer multiplicative margin, ``>= 1`` (``m = 1`` is the softmax loss).
        lambda_: annealing weight, ``>= 0``.

    Returns:
        As :func:`softmax_loss`.

    Raises:
        As :func:`softmax_loss`, and ``ValueError``/``TypeError`` for a bad ``m`` or
        ``lambda_``.

    Liu, Wen, Yu, Yang, "Large-Margin Softmax Loss for Convolutional Neural Networks",
    ICML 2016, arXiv:1612.02295.

    Example:
        >>> import torch
        >>> x = torch.tensor([[2.0, 1.0]])
        >>> lsoftmax_loss(x, torch.tensor([0]), torch.eye(2), m=2)
        tensor(0.5368)
    """
    fn = "lsoftmax_loss"
    _check_inputs(fn, features, labels, weight, None, chunk_size, reduction)
    m = _check_int_margin(fn, m)
    check_margins(fn, float(m), 0.0, 0.0, lambda_, ("m", "m2", "m3", "lambda_"))
    dt = _work_dtype(features, weight)
    x = features.to(dt)
    lse, zt, wn = margin_ce_parts(
        x, weight, None, labels, normalize=False, chunk_size=chunk_size, target_norm=True
    )
    r = (wn * torch.linalg.vector_norm(x, dim=1)).clamp_min(_EPS)  # ||W_y|| ||x||
    target = r * _target(zt / r, float(m), 0.0, 0.0, lambda_, False, "monotone", "exact")
    return _finish(fn, lse, target, reduction, features.dtype)


def sphereface_loss(
    features: Tensor,
    labels: Tensor,
    weight: Tensor,
    *,
    m: int = 4,
    lambda_: float = 0.0,
    chunk_size: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""SphereFace (A-Softmax): L-Softmax with normalised class weights.

    Target logit ``||x|| (lambda cos theta_y + psi(theta_y)) / (1 + lambda)``, other logits
    ``||x|| cos theta_j`` (``||W_j|| = 1``, no bias): the decision depends on angles only, so
    the margin ``m`` is a margin on the hypersphere. With ``lambda_`` annealed down to
    SphereFace's ``lambda_min = 5`` the effective margin for ``m = 4`` is about 1.5 (see
    :func:`sphereface_effective_margin`); the multiplicative margin is hard to train without
    this annealing, which is why the additive margins (CosFace, ArcFace) replaced it.

    Args:
        As :func:`lsoftmax_loss`.

    Returns:
        As :func:`softmax_loss`.

    Raises:
        As :func:`lsoftmax_loss`.

    Liu, Wen, Yu, Li, Raj, Song, "SphereFace: Deep Hypersphere Embedding for Face
    Recognition", CVPR 2017, arXiv:1704.08063.

    Example:
        >>> import torch
        >>> x = torch.tensor([[2.0, 1.0]])
        >>> sphereface_loss(x, torch.tensor([0]), 3.0 * torch.eye(2), m=2)
        tensor(0.5368)
    """
    fn = "sphereface_loss"
    _check_inputs(fn, features, labels, weight, None, chunk_size, reduction)
    m = _check_int_margin(fn, m)
    check_margins(fn, float(m), 0.0, 0.0, lambda_, ("m", "m2", "m3", "lambda_"))
    dt = _work_dtype(features, weight)
    x = features.to(dt)
    lse, zt, _ = margin_ce_parts(x, weight, None, labels, normalize=True, chunk_size=chunk_size)
    r = torch.linalg.vector_norm(x, dim=1).clamp_min(_EPS)  # ||x||
    target = r * _target(zt / r, float(m), 0.0, 0.0, lambda_, False, "monotone", "exact")
    return _finish(fn, lse, target, reduction, features.dtype)


def coco_loss(
    features: Tensor,
    labels: Tensor,
    weight: Tensor,
    *,
    scale: float | Tensor = 16.0,
    chunk_size: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""COCO (congenerous cosine) loss: softmax over ``alpha cos theta_j`` between the
    normalised feature and normalised, learned class centroids ``weight``.

    ``l_i = -log( e^{alpha cos theta_{y_i}} / sum_j e^{alpha cos theta_j} )``. The same
    function as :func:`normface_loss`, reached independently (COCO calls the centres
    centroids and the scale ``alpha``); both need the scale, see
    :func:`normface_lower_bound`.

    Args:
        features, labels, chunk_size, reduction: as :func:`softmax_loss`.
        weight: ``(C, D)`` class centroids (normalised inside).
        scale: ``alpha``, a positive number or a one-element tensor (learnable).

    Returns:
        As :func:`softmax_loss`.

    Raises:
        As :func:`softmax_loss`, and for a bad ``scale``.

    Liu, Li, Wang, "Learning Deep Features via Congenerous Cosine Loss for Person
    Recognition", arXiv:1702.06890, 2017; "Rethinking Feature Discrimination and
    Polymerization for Large-scale Recognition", arXiv:1710.00870, 2017.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
        >>> coco_loss(x, torch.tensor([0]), torch.eye(4), scale=1.0).exp().reciprocal()  # p_y
        tensor(0.4754)
    """
    return _angular(
        "coco_loss",
        features,
        labels,
        weight,
        scale=scale,
        chunk_size=chunk_size,
        reduction=reduction,
    )


def l2_softmax_loss(
    features: Tensor,
    labels: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    *,
    scale: float | Tensor = 50.0,
    chunk_size: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""L2-constrained softmax: features normalised and scaled to norm ``alpha``, then an
    ordinary linear layer and cross-entropy.

    ``l_i = CE(W (alpha x_i / ||x_i||) + b, y_i)``. Only the features are normalised (the
    weights are not). Fixing the feature norm removes the softmax's incentive to grow the
    norm of easy samples; ``alpha`` must be large enough for the target probability to
    approach 1 (``alpha`` fixed, about 50, or learned: pass a tensor).

    Args:
        features, labels, weight, bias, chunk_size, reduction: as :func:`softmax_loss`.
        scale: ``alpha``, a positive number or a one-element tensor (learnable).

    Returns:
        As :func:`softmax_loss`.

    Raises:
        As :func:`softmax_loss`, and for a bad ``scale``.

    Ranjan, Castillo, Chellappa, "L2-constrained Softmax Loss for Discriminative Face
    Verification", arXiv:1703.09507, 2017.

    Example:
        >>> import torch
        >>> x = torch.tensor([[3.0, 4.0]])
        >>> l2_softmax_loss(x, torch.tensor([1]), torch.eye(2), scale=5.0)
        tensor(0.3133)
    """
    fn = "l2_softmax_loss"
    _check_inputs(fn, features, labels, weight, bias, chunk_size, reduction)
    _check_scale(fn, scale)
    dt = _work_dtype(features, weight)
    xt = _unit(features.to(dt)) * _as_scale(scale, dt)
    lse, zt, _ = margin_ce_parts(xt, weight, bias, labels, normalize=False, chunk_size=chunk_size)
    return _finish(fn, lse, zt, reduction, features.dtype)


def normface_loss(
    features: Tensor,
    labels: Tensor,
    weight: Tensor,
    *,
    scale: float | Tensor = 16.0,
    chunk_size: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""NormFace: softmax over ``s cos theta_j``, features and class weights both normalised.

    ``l_i = -log( e^{s cos theta_{y_i}} / sum_j e^{s cos theta_j} )``. Without the scale
    ``s`` the logits live in ``[-1, 1]`` and the loss cannot go below
    ``log(1 + (C - 1) e^{-s C / (C - 1)})`` at ``s = 1`` (:func:`normface_lower_bound`): one-hot
    cosines give the target only 47.54 % of the probability for 4 classes, so training
    cannot converge; ``s = 60`` gives ~100 %. ``s`` may be fixed or learned (a tensor).

    Args:
        features, labels, chunk_size, reduction: as :func:`softmax_loss`.
        weight: ``(C, D)`` class weights (normalised inside).
        scale: ``s``, a positive number or a one-element tensor (learnable).

    Returns:
        As :func:`softmax_loss`.

    Raises:
        As :func:`softmax_loss`, and for a bad ``scale``.

    Equals pytorch-metric-learning's ``NormalizedSoftmaxLoss(temperature=1 / s)``.

    Wang, Xiang, Cheng, Yuille, "NormFace: L2 Hypersphere Embedding for Face Verification",
    ACM MM 2017, arXiv:1704.06369.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
        >>> normface_loss(x, torch.tensor([0]), torch.eye(4), scale=60.0)
        tensor(2.6270e-26)
    """
    return _angular(
        "normface_loss",
        features,
        labels,
        weight,
        scale=scale,
        chunk_size=chunk_size,
        reduction=reduction,
    )


def cosface_loss(
    features: Tensor,
    labels: Tensor,
    weight: Tensor,
    *,
    cos_margin: float = 0.35,
    scale: float | Tensor = 30.0,
    chunk_size: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""CosFace / AM-Softmax: an additive *cosine* margin.

    Target logit ``s (cos theta_y - m)``, others ``s cos theta_j``, features and weights
    normalised. The margin is subtracted from the cosine, so it is not an angle: it is called
    ``cos_margin`` (pytorch-metric-learning and insightface call it ``margin`` / ``m``).
    ``cos_margin=0`` is :func:`normface_loss`.

    Args:
        features, labels, weight, chunk_size, reduction: as :func:`normface_loss`.
        cos_margin: ``m >= 0``, in cosine units.
        scale: ``s`` (30 in AM-Softmax, 64 in CosFace).

    Returns:
        As :func:`softmax_loss`.

    Raises:
        As :func:`normface_loss`, and for a bad ``cos_margin``.

    Wang, Cheng, Liu, Liu, "Additive Margin Softmax for Face Verification", IEEE SPL 2018,
    arXiv:1801.05599; Wang et al., "CosFace: Large Margin Cosine Loss for Deep Face
    Recognition", CVPR 2018, arXiv:1801.09414.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0]])
        >>> cosface_loss(x, torch.tensor([0]), torch.eye(2), cos_margin=0.35, scale=4.0)
        tensor(0.0716)
    """
    return _angular(
        "cosface_loss",
        features,
        labels,
        weight,
        scale=scale,
        m3=cos_margin,
        chunk_size=chunk_size,
        reduction=reduction,
        names=("m1", "m2", "cos_margin", "lambda_"),
    )


def arcface_loss(
    features: Tensor,
    labels: Tensor,
    weight: Tensor,
    *,
    margin: float = 0.5,
    scale: float | Tensor = 64.0,
    easy_margin: bool = False,
    grad_mode: GradMode = "exact",
    chunk_size: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""ArcFace: an additive *angular* margin, ``s cos(theta_y + m)``.

    Target logit ``s cos(theta_y + m)`` while ``theta_y + m <= pi``; past it, where
    ``cos(theta + m)`` would rise again, ``s (cos theta_y - m sin m)`` (the paper's code,
    insightface and pytorch-metric-learning do the same). Other logits ``s cos theta_j``.
    ``margin=0`` is :func:`normface_loss`.

    Args:
        features, labels, weight, chunk_size, reduction: as :func:`normface_loss`.
        margin: ``m`` in **radians**, ``[0, pi)`` (0.5 rad = 28.6 degrees).
        scale: ``s``.
        easy_margin: apply the margin only where ``cos theta_y > 0`` (else plain
            ``cos theta_y``).
        grad_mode: ``"exact"`` (differentiate ``cos(theta + m)``) or ``"straight_through"``
            (insightface's ``arcface_torch``: the margin is added under ``no_grad``, so the
            gradient flows as if the target logit were ``s cos theta``). The values are the
            same; the straight-through gradient with respect to the target cosine is
            ``sin(theta) / sin(theta + m)`` times the exact one: ``1 / cos(m)``, 14 % larger,
            at ``theta = pi / 2`` where random features start.

    Returns:
        As :func:`softmax_loss`.

    Raises:
        As :func:`normface_loss`, and for a bad ``margin`` or ``grad_mode``.

    Deng, Guo, Xue, Zafeiriou, "ArcFace: Additive Angular Margin Loss for Deep Face
    Recognition", CVPR 2019, arXiv:1801.07698.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0]])
        >>> arcface_loss(x, torch.tensor([0]), torch.eye(2), margin=0.5, scale=4.0)
        tensor(0.0294)
    """
    return _angular(
        "arcface_loss",
        features,
        labels,
        weight,
        scale=scale,
        m2=margin,
        easy_margin=easy_margin,
        fallback="linear",
        grad_mode=grad_mode,
        chunk_size=chunk_size,
        reduction=reduction,
        names=("m1", "margin", "m3", "lambda_"),
    )


def combined_margin_loss(
    features: Tensor,
    labels: Tensor,
    weight: Tensor,
    *,
    m1: float = 1.0,
    m2: float = 0.3,
    m3: float = 0.2,
    scale: float | Tensor = 64.0,
    fallback: Fallback = "auto",
    grad_mode: GradMode = "exact",
    chunk_size: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""The combined margin: target logit ``s (cos(m1 theta_y + m2) - m3)``, others
    ``s cos theta_j``.

    SphereFace (``m1``), ArcFace (``m2``, radians) and CosFace (``m3``, cosine units) in one
    formula; the defaults ``(1, 0.3, 0.2)`` are the ArcFace paper's combination. Past
    ``m1 theta + m2 = pi`` the target is continued by :func:`margin_target`'s ``fallback``
    (``"auto"``: ArcFace's ``cos theta - m2 sin m2`` when ``m1 == 1``, else the monotone
    ``psi`` continuation).

    Args:
        features, labels, weight, chunk_size, reduction: as :func:`normface_loss`.
        m1: multiplicative margin, ``> 0``; m2: additive angle in radians, ``[0, pi)``;
            m3: additive cosine margin, ``>= 0``.
        scale: ``s``.
        fallback: ``"auto"``, ``"monotone"`` or ``"linear"``.
        grad_mode: ``"exact"`` or ``"straight_through"`` (see :func:`arcface_loss`).

    Returns:
        As :func:`softmax_loss`.

    Raises:
        As :func:`normface_loss`, and for bad margins, ``fallback`` or ``grad_mode``.

    Deng, Guo, Xue, Zafeiriou, "ArcFace: Additive Angular Margin Loss for Deep Face
    Recognition", CVPR 2019, arXiv:1801.07698 (section on the combined margin).

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0]])
        >>> combined_margin_loss(x, torch.tensor([0]), torch.eye(2), scale=4.0)
        tensor(0.0476)
    """
    return _angular(
        "combined_margin_loss",
        features,
        labels,
        weight,
        scale=scale,
        m1=m1,
        m2=m2,
        m3=m3,
        fallback=fallback,
        grad_mode=grad_mode,
        chunk_size=chunk_size,
        reduction=reduction,
    )


def subcenter_arcface_loss(
    features: Tensor,
    labels: Tensor,
    weight: Tensor,
    *,
    margin: float = 0.5,
    scale: float | Tensor = 64.0,
    easy_margin: bool = False,
    chunk_size: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Sub-center ArcFace: ``K`` centres per class; a class's cosine is its closest
    sub-centre's, ``cos theta_j = max_k cos(x, W_jk)``, then ArcFace.

    A noisy sample only has to be near *one* sub-centre of its class, so label noise and
    intra-class modes stop dragging the dominant centre; after training the non-dominant
    sub-centres can be dropped. ``K = 1`` is :func:`arcface_loss`.

    Args:
        features, labels, chunk_size, reduction: as :func:`arcface_loss`.
        weight: ``(C, K, D)`` sub-centres.
        margin, scale, easy_margin: as :func:`arcface_loss`.

    Returns:
        As :func:`softmax_loss`.

    Raises:
        As :func:`arcface_loss`; ``weight`` must be 3-dimensional.

    Deng, Guo, Liu, Gong, Zafeiriou, "Sub-center ArcFace: Boosting Face Recognition by
    Large-scale Noisy Web Faces", ECCV 2020 (also in arXiv:1801.07698 v4).

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0]])
        >>> w = torch.tensor([[[0.0, 1.0], [1.0, 0.0]], [[0.0, -1.0], [0.0, 1.0]]])  # (2, 2, 2)
        >>> subcenter_arcface_loss(x, torch.tensor([0]), w, margin=0.5, scale=4.0)
        tensor(0.0294)
    """
    return _angular(
        "subcenter_arcface_loss",
        features,
        labels,
        weight,
        scale=scale,
        m2=margin,
        easy_margin=easy_margin,
        fallback="linear",
        chunk_size=chunk_size,
        reduction=reduction,
        weight_ndim=3,
        names=("m1", "margin", "m3", "lambda_"),
    )


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class LambdaSchedule:
    r"""SphereFace's annealing schedule: ``lambda = max(lambda_min, base (1 + gamma
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
    gamma: float = 0.12
    power: float = 1.0
    lambda_min: float = 5.0

    def __post_init__(self) -> None:
        for name in ("base", "gamma", "power", "lambda_min"):
            check_positive("LambdaSchedule", name, getattr(self, name), allow_zero=True)

    def __call__(self, iteration: int) -> float:
        if isinstance(iteration, bool) or not isinstance(iteration, int) or iteration < 0:
            raise ValueError(f"LambdaSchedule: iteration must be an int >= 0; got {iteration!r}")
        return max(self.lambda_min, self.base * (1.0 + self.gamma * iteration) ** (-self.power))


def sphereface_effective_margin(lambda_: float, *, m: int = 4, points: int = 2001) -> float:
    r"""The multiplicative margin that the annealed SphereFace target really imposes.

    For two classes the sample is assigned to class 1 when ``f(theta_1) > cos theta_2``,
    ``f(theta) = (lambda cos theta + psi(theta)) / (1 + lambda)``: the decision boundary is
    ``theta_2 = acos f(theta_1)``, which for A-Softmax without annealing is exactly
    ``theta_2 = m theta_1``. This returns the mean of ``acos f(theta_1) / theta_1`` over
    ``theta_1`` in ``(0, pi / 2]`` (where ``f >= -1``): ``m`` at ``lambda = 0``, about 1.5 for
    ``m = 4, lambda = 5`` (SphereFace's ``lambda_min``), tending to 1 as ``lambda`` grows.

    Example:
        >>> round(sphereface_effective_margin(0.0, m=4), 3)
        4.0
        >>> round(sphereface_effective_margin(5.0, m=4), 2)
        1.54
    """
    fn = "sphereface_effective_margin"
    m = _check_int_margin(fn, m)
    check_positive(fn, "lambda_", lambda_, allow_zero=True)
    theta = torch.linspace(math.pi / 2 / points, math.pi / 2, points, dtype=torch.float64)
    f = (lambda_ * torch.cos(theta) + psi(theta, m=m)) / (1.0 + lambda_)
    ok = f >= -1.0
    return float((torch.acos(f[ok]) / theta[ok]).mean())


def normface_lower_bound(num_classes: int, scale: float) -> float:
    r"""NormFace's lower bound of the normalised softmax loss,
    ``log(1 + (C - 1) exp(-s C / (C - 1)))``.

    Reached when the ``C`` class weights form a regular simplex and every feature sits on its
    class weight (cosine 1 to its own class, ``-1 / (C - 1)`` to the others). With ``s = 1``
    and 10 classes it is 1.38: no feature can make the loss small, so training without a
    scale cannot converge.

    Example:
        >>> round(normface_lower_bound(10, 1.0), 4)
        1.3769
    """
    fn = "normface_lower_bound"
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"{fn}: num_classes must be an int >= 2; got {num_classes!r}")
    s = check_positive(fn, "scale", scale)
    c = num_classes
    return math.log1p((c - 1) * math.exp(-s * c / (c - 1)))


def partial_fc_sample(
    labels: Tensor,
    num_classes: int,
    *,
    sample_rate: float,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    r"""Partial FC class-centre sampling: every class that occurs in ``labels`` plus a uniform
    random subset of the others, ``max(ceil(sample_rate * C), #positives)`` classes in all.

    Use the returned ``index`` to take the sampled rows of the weight and the remapped labels
    in place of ``labels``: ``arcface_loss(x, new_labels, weight[index])``. Only the sampled
    rows receive a gradient; with ``sample_rate=0.1`` the softmax costs a tenth of the full
    one and, the paper reports, loses no accuracy.

    Args:
        labels: ``(B,)`` integer labels in ``[0, num_classes)``.
        num_classes: ``C``.
        sample_rate: fraction of classes to keep, in ``(0, 1]``.
        generator: optional generator (on ``labels``' device) for the random negatives.

    Returns:
        ``(index, new_labels)``: the sorted ``(S,)`` indices of the sampled classes and the
        ``(B,)`` labels as positions in ``index``.

    Raises:
        TypeError: non-integer labels.
        ValueError: ``sample_rate`` outside ``(0, 1]``, bad ``num_classes`` or labels out of
            range (CPU).

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
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"{fn}: num_classes must be an int >= 1; got {num_classes!r}")
    check_positive(fn, "sample_rate", sample_rate)
    if sample_rate > 1.0:
        raise ValueError(f"{fn}: sample_rate must lie in (0, 1]; got {sample_rate}")
    check_label_range(fn, labels, num_classes)
    labels = labels.long()
    positive = torch.unique(labels)
    num_sample = max(math.ceil(sample_rate * num_classes), positive.numel())
    if num_sample >= num_classes:
        index = torch.arange(num_classes, device=labels.device)
    else:
        score = torch.rand(num_classes, generator=generator, device=labels.device)
        score[positive] = 2.0  # positives first, then random negatives
        index = score.topk(num_sample).indices.sort().values
    return index, torch.searchsorted(index, labels)
