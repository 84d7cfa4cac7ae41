"""The one margin core of the angular-margin family.

Every loss of :mod:`losskit.functional.margin` replaces the target class's cosine ``c = cos
theta`` by a *margined* cosine and leaves the other classes alone. One function,
:func:`margin_target`, computes that margined cosine for all of them:

``f(theta) = cos(m1 theta + m2) - m3``, extended monotonically past ``m1 theta + m2 = pi``,

optionally annealed as ``(lambda c + f) / (1 + lambda)`` (SphereFace, L-Softmax), with
ArcFace's ``easy_margin`` and insightface's straight-through gradient as options.
:func:`margin_logits` applies it to a full ``(B, C)`` cosine matrix; :func:`psi` is the
multiplicative margin's monotone ``psi(theta) = (-1)^k cos(m theta) - 2k``.

Numerics: the target's cosine is clamped to ``[-1, 1]`` (rounding can push a normalised dot
product a hair past 1). ``sqrt(1 - c^2)`` and ``acos`` have an infinite derivative at
``c = +-1``; here they are *safe* (value exact, gradient 0 exactly at ``+-1``, large but finite
next to it), so a feature that coincides with its class centre does not poison the backward
pass. Integer multiplicative margins use the Chebyshev polynomial ``T_m(c) = cos(m theta)``,
whose gradient is exact everywhere, including ``theta = 0``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from .._api import checked
from .._checks import (
    Angle,
    NonNegative,
    Positive,
    Scale,
    check_floating,
    check_integer,
    check_labels,
    check_ndim,
)
from .distance import safe_sqrt

__all__ = ["margin_logits", "margin_target", "psi", "safe_acos"]

Fallback = Literal["auto", "monotone", "linear"]
GradMode = Literal["exact", "straight_through"]


def safe_acos(c: Tensor) -> Tensor:
    """``acos(clamp(c, -1, 1))`` as ``atan2(sqrt(1 - c^2), c)`` with a safe square root.

    The value is exact; the gradient ``-1 / sqrt(1 - c^2)`` is finite everywhere (0 exactly
    at ``c = +-1`` where the true derivative is infinite).
    """
    c = c.clamp(-1.0, 1.0)
    return torch.atan2(safe_sqrt((1.0 - c) * (1.0 + c)), c)


def _is_int(x: float) -> bool:
    return float(x).is_integer()


def _chebyshev(c: Tensor, m: int) -> Tensor:
    """``T_m(c) = cos(m acos c)`` by the three-term recurrence (stable on ``[-1, 1]``)."""
    if m == 0:
        return torch.ones_like(c)
    prev, cur = torch.ones_like(c), c
    for _ in range(m - 1):
        prev, cur = cur, 2.0 * c * cur - prev
    return cur


def _monotone(cos_phi: Tensor, k: Tensor) -> Tensor:
    """``(-1)^k cos(phi) - 2k``: continuous and decreasing in ``phi`` on ``[0, inf)`` when
    ``k = floor(phi / pi)`` (each half-period is flipped and shifted down by 2)."""
    sign = 1.0 - 2.0 * torch.remainder(k, 2.0)
    return sign * cos_phi - 2.0 * k


def resolve_fallback(fn: str, fallback: str, m: float) -> str:
    """``"auto"`` -> ``"linear"`` for ``m == 1``, else ``"monotone"``; ``"linear"`` needs
    ``m == 1``."""
    if fallback == "auto":
        return "linear" if m == 1.0 else "monotone"
    if fallback == "linear" and m != 1.0:
        raise ValueError(
            f"{fn}: fallback='linear' (cos theta - margin sin margin) needs m == 1; got m={m}"
        )
    return fallback


def _margined(
    c: Tensor, m1: float, m2: float | Tensor, m3: float | Tensor, fallback: str
) -> Tensor:
    """``cos(m1 theta + m2) - m3`` with its monotone continuation (no annealing); ``m1`` is
    the multiplicative margin ``m``, ``m2`` the angle ``margin``, ``m3`` the ``cos_margin``
    (``m2`` and ``m3`` may be tensors of per-sample margins; a tensor ``m2`` needs
    ``m1 == 1``)."""
    c = c.clamp(-1.0, 1.0)
    if isinstance(m2, Tensor):
        # one angle per sample (MagFace, ElasticFace), broadcast against c; m1 == 1
        cm, sm = torch.cos(m2), torch.sin(m2)
        cos_phi = c * cm - safe_sqrt((1.0 - c) * (1.0 + c)) * sm
        beyond = c < -cm  # theta + m2 > pi: cos(pi - m2) = -cos(m2)
        tail = c - m2 * sm if fallback == "linear" else -cos_phi - 2.0
        return torch.where(beyond, tail, cos_phi) - m3
    if m1 == 1.0:
        if m2 == 0.0:
            return c - m3 if isinstance(m3, Tensor) or m3 else c
        # cos(theta + m2) = c cos m2 - sin(theta) sin m2: no acos on the way
        sin_t = safe_sqrt((1.0 - c) * (1.0 + c))
        cos_phi = c * math.cos(m2) - sin_t * math.sin(m2)
        beyond = c < math.cos(math.pi - m2)  # theta + m2 > pi
        if fallback == "linear":
            # ArcFace / insightface: past pi - m2 use cos theta - m2 sin m2 (a CosFace margin)
            tail = c - m2 * math.sin(m2)
        else:
            tail = -cos_phi - 2.0  # k = 1 of the monotone continuation
        return torch.where(beyond, tail, cos_phi) - m3
    if _is_int(m1) and m2 == 0.0:
        m = int(m1)
        # k = #{j in 1..m-1 : theta >= j pi / m}, read off c without acos
        k = torch.zeros_like(c)
        for j in range(1, m):
            k = k + (c <= math.cos(j * math.pi / m)).to(c.dtype)
        return _monotone(_chebyshev(c, m), k) - m3
    phi = m1 * safe_acos(c) + m2
    k = torch.floor(phi.detach() / math.pi)
    return _monotone(torch.cos(phi), k) - m3


@checked
def margin_target(
    cos: Tensor, *, m: Positive = 1.0, margin: Angle = 0.0, cos_margin: NonNegative = 0.0,
    lambda_: NonNegative = 0.0, easy_margin: bool = False, fallback: Fallback = "auto",
    grad_mode: GradMode = "exact",
) -> Tensor:  # fmt: skip
    r"""The margined target cosine of the whole angular-margin family, element-wise.

    Formula:
        f(theta) = cos(m theta + margin) - cos_margin,  continued monotonically past m theta + margin = pi

    Past ``pi`` the plain formula turns back up (it is not monotone), so it is continued:
    ``fallback="monotone"`` gives ``(-1)^k cos(m theta + margin) - 2k - cos_margin`` with
    ``k = floor((m theta + margin) / pi)`` (SphereFace's ``psi`` generalised: continuous and
    strictly decreasing on ``[0, pi]``); ``fallback="linear"`` (``m == 1`` only) gives
    ``cos theta - margin sin margin - cos_margin`` past ``theta = pi - margin``, the rule of
    the ArcFace paper's code, insightface and pytorch-metric-learning; ``"auto"`` picks
    ``"linear"`` when ``m == 1``, else ``"monotone"``. Then ``lambda_ > 0`` anneals:
    ``(lambda_ cos theta + f) / (1 + lambda_)``. ``easy_margin`` keeps ``cos theta`` wherever
    ``cos theta <= 0``. ``grad_mode="straight_through"`` keeps the value but passes the
    gradient through as if ``f(c) = c`` (insightface's ArcFace applies the margin under
    ``no_grad``).

    Args:
        cos: target cosines, any shape, floating point.
        m: multiplicative angular margin, ``> 0`` (SphereFace's); default 1.
        margin: additive angular margin in radians, ``[0, pi)`` (ArcFace's); default 0.
        cos_margin: additive cosine margin, ``>= 0`` (CosFace's); default 0.
        lambda_: annealing weight, ``>= 0``; default 0.
        easy_margin: apply the margin only where ``cos theta > 0``; default ``False``.
        fallback: ``"auto"`` (default), ``"monotone"`` or ``"linear"``.
        grad_mode: ``"exact"`` (default) or ``"straight_through"``.

    Returns:
        ``f``, same shape and dtype as ``cos``.

    Raises:
        TypeError: non-floating ``cos`` or non-numeric margins.
        ValueError: margins out of range, ``fallback="linear"`` with ``m != 1``, unknown
            ``fallback`` or ``grad_mode``.

    Example:
        >>> import math, torch
        >>> c = torch.tensor([1.0, 0.0])
        >>> margin_target(c, margin=0.5)  # ArcFace: cos(theta + 0.5)
        tensor([ 0.8776, -0.4794])
        >>> margin_target(c, cos_margin=0.35)  # CosFace: cos theta - 0.35
        tensor([ 0.6500, -0.3500])
        >>> margin_target(torch.tensor([math.cos(math.pi / 4)]), m=4.0)  # psi(pi/4), m=4
        tensor([-1.])
    """
    fn = "margin_target"
    check_floating(fn, "cos", cos)
    mode = resolve_fallback(fn, fallback, m)
    return _target(cos, m, margin, cos_margin, lambda_, easy_margin, mode, grad_mode)


def _target(
    cos: Tensor,
    m1: float,
    m2: float | Tensor,
    m3: float | Tensor,
    lambda_: float,
    easy: bool,
    mode: str,
    grad_mode: str,
) -> Tensor:
    """:func:`margin_target` without the checks (for the losses, which check once)."""
    f = _margined(cos, m1, m2, m3, mode)
    if lambda_:
        f = (lambda_ * cos.clamp(-1.0, 1.0) + f) / (1.0 + lambda_)
    if easy:
        f = torch.where(cos > 0, f, cos)
    if grad_mode == "straight_through":
        f = cos + (f - cos).detach()
    return f


@checked
def psi(theta: Tensor, *, m: Positive = 4.0) -> Tensor:
    r"""SphereFace's monotone multiplicative margin, ``psi(theta) = (-1)^k cos(m theta) - 2k``
    for ``theta in [k pi / m, (k + 1) pi / m]``.

    ``cos(m theta)`` alone rises again past ``theta = pi / m``; flipping every other
    half-period and shifting it down by 2 makes ``psi`` continuous and strictly decreasing
    on ``[0, pi]``, from ``psi(0) = 1`` to ``psi(pi) = 1 - 2m`` (integer ``m``).

    Formula:
        psi(theta) = (-1)^k cos(m theta) - 2k,  k = floor(m theta / pi)

    Args:
        theta: angles in radians, any shape, floating point (``[0, pi]`` is the useful range).
        m: the multiplicative margin, ``> 0`` (an integer in the papers); default 4.

    Returns:
        ``psi(theta)``, same shape and dtype as ``theta``.

    Raises:
        TypeError: non-floating ``theta``.
        ValueError: ``m <= 0``.

    Liu et al., "SphereFace: Deep Hypersphere Embedding for Face Recognition", CVPR 2017,
    arXiv:1704.08063 (and L-Softmax, arXiv:1612.02295).

    Example:
        >>> import math, torch
        >>> psi(torch.tensor([0.0, math.pi / 4, math.pi / 2, math.pi]), m=4)
        tensor([ 1., -1., -3., -7.])
    """
    check_floating("psi", "theta", theta)
    phi = m * theta
    return _monotone(torch.cos(phi), torch.floor(phi.detach() / math.pi))


@checked
def margin_logits(
    cos: Tensor, labels: Tensor, *, m: Positive = 1.0, margin: Angle = 0.0,
    cos_margin: NonNegative = 0.0, scale: Scale = 1.0, lambda_: NonNegative = 0.0,
    easy_margin: bool = False, fallback: Fallback = "auto", grad_mode: GradMode = "exact",
) -> Tensor:  # fmt: skip
    r"""Margined logits: ``scale * f(cos theta_y)`` for each row's target, ``scale * cos
    theta_j`` elsewhere, with ``f`` from :func:`margin_target`.

    Formula:
        z_ij = scale (cos(m theta_ij + margin) - cos_margin) if j = y_i else scale cos theta_ij

    The dense form of the whole family: SphereFace is ``(m=m, scale=||x||)``, NormFace
    ``(scale=s)``, CosFace ``(cos_margin=m, scale=s)``, ArcFace ``(margin=m, scale=s)``, the
    combined margin all three. ``F.cross_entropy(margin_logits(...), labels)`` is the loss;
    the losses of :mod:`losskit.functional.margin` compute the same value without
    materialising more than they must (see their ``chunk_size``).

    Args:
        cos: ``(B, C)`` cosines.
        labels: ``(B,)`` integer class indices in ``[0, C)``.
        m: multiplicative margin, ``> 0``; default 1.
        margin: additive angle in radians, ``[0, pi)``; default 0.
        cos_margin: additive cosine margin, ``>= 0``; default 0.
        scale: a number ``> 0`` or a tensor broadcastable to ``(B, C)`` (e.g. ``(B, 1)``
            feature norms for SphereFace); default 1.
        lambda_: annealing weight, ``>= 0``; default 0.
        easy_margin: margin only where ``cos theta > 0``; default ``False``.
        fallback: ``"auto"`` (default), ``"monotone"`` or ``"linear"``.
        grad_mode: ``"exact"`` (default) or ``"straight_through"``.

    Returns:
        ``(B, C)`` logits in the dtype of ``cos`` (promoted with ``scale``).

    Raises:
        TypeError: non-floating ``cos`` or non-integer ``labels``.
        ValueError: bad shapes, labels out of range (CPU), margins out of range.

    Example:
        >>> import torch
        >>> cos = torch.tensor([[0.5, 0.1], [0.2, 0.9]])
        >>> margin_logits(cos, torch.tensor([0, 1]), cos_margin=0.2, scale=10.0)
        tensor([[3., 1.],
                [2., 7.]])
    """
    fn = "margin_logits"
    check_floating(fn, "cos", cos)
    check_integer(fn, "labels", labels)
    check_ndim(fn, "cos", cos, 2)
    check_ndim(fn, "labels", labels, 1)
    if labels.shape[0] != cos.shape[0]:
        raise ValueError(
            f"{fn}: labels must have shape ({cos.shape[0]},) to match cos {tuple(cos.shape)}; "
            f"got {tuple(labels.shape)}"
        )
    check_labels(fn, labels, cos.shape[1])
    mode = resolve_fallback(fn, fallback, m)
    idx = labels.long().unsqueeze(1)
    target = _target(cos.gather(1, idx), m, margin, cos_margin, lambda_, easy_margin, mode,
                     grad_mode)  # fmt: skip
    return cos.scatter(1, idx, target) * scale
