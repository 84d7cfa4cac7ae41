"""Robust regression losses on a residual ``d = pred - target``: Barron's general robust loss
and its named members (Charbonnier, Cauchy, Geman-McClure, Welsch), Wing loss (landmarks)
and balanced L1 (Libra R-CNN); re-exported by :mod:`losskit.functional.regression`.

Every loss is written so that it is finite in value and gradient for any finite residual: no
``d^2`` that overflows where the loss itself is representable (the Charbonnier loss of a
residual of ``1e30`` is ``1e30``, not ``inf``), no ``1 - exp`` or ``sqrt(1 + x) - 1`` that
cancels for small residuals.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._api import DEFAULT, LossModule, checked
from .._autograd import fused_apply, partial_inputs
from .._checks import (
    Mask,
    NonNegative,
    Positive,
    RobustShape,
    Weight,
    check_broadcast,
    check_floating,
    check_same_device,
)
from .._reduction import Reduction
from ._common import elementwise_loss

__all__ = [
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


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


#: above this ``|t|``, ``log(1 + t^2)`` is ``2 log|t|`` to either float's resolution (the
#: term dropped, ``log1p(1 / t^2) < 2^-64``, is far below the last bit of ``2 log|t| >= 44``);
#: below it ``t^2 <= 2^64`` cannot overflow
_SQ_LARGE = 2.0**32


def _charbonnier(r: Tensor) -> Tensor:
    """``sqrt(r^2 + 1) - 1 = r * r / (hypot(r, 1) + 1)``: no cancellation near 0, no overflow
    of ``r^2`` far away; written in ``r``, not ``|r|``, so that the second derivative at
    ``r = 0`` is exact. Under ``torch.compile``, ``sqrt(r^2 + 1)`` below ``|r| = 2^32`` and
    ``|r| - 1`` above (equal to either float's resolution; the branch not taken sees 0, so
    its backward meets no overflow): the compiler does not vectorise ``hypot`` (13x a
    ``sqrt`` there), while eagerly the one ``hypot`` pass is cheaper than the selects."""
    if torch.compiler.is_compiling():
        a = r.abs()
        small = a <= _SQ_LARGE
        rs = torch.where(small, r, 0.0)
        return torch.where(small, rs * (rs / (torch.sqrt(rs * rs + 1.0) + 1.0)), a - 1.0)
    return r * (r / (torch.hypot(r, torch.ones_like(r)) + 1.0))


def _log1p_sq(t: Tensor) -> Tensor:
    """``log(1 + t^2)``: ``log1p(t^2)`` up to ``|t| = 2^32``, ``2 log|t|`` above (equal to
    either float's resolution, see :data:`_SQ_LARGE`). Each branch is safe for every ``t``
    through a clamp (``t^2`` clamped at ``2^64``, ``|t|`` at 1 below), so one select joins
    them: guarding the inputs with selects instead cost 1.6-2x as much compiled. The clamps
    pass no gradient where they bite; at the seam the second branch is taken."""
    a = t.abs()
    return torch.where(a < _SQ_LARGE, torch.log1p((t * t).clamp_max(_SQ_LARGE * _SQ_LARGE)),
                       2.0 * torch.log(a.clamp_min(1.0)))  # fmt: skip


def _cauchy(r: Tensor) -> Tensor:
    """``log(1 + r^2 / 2) = log(1 + (r / sqrt 2)^2)``."""
    return _log1p_sq(r * math.sqrt(0.5))


def _geman_mcclure(r: Tensor) -> Tensor:
    """``2 r^2 / (r^2 + 4) = 2 / (1 + (2 / r)^2)``, the second form above ``|r| = 1``."""
    a = r.abs()
    small = a < 1.0
    r_small = torch.where(small, r, torch.zeros_like(r))  # r, not |r|: exact at r = 0 twice
    a_large = torch.where(small, torch.ones_like(a), a)
    q = r_small * r_small
    inv = 2.0 / a_large
    return torch.where(small, 2.0 * q / (q + 4.0), 2.0 / (1.0 + inv * inv))


def _welsch(r: Tensor) -> Tensor:
    """``1 - exp(-r^2 / 2) = -expm1(-r^2 / 2)``: exact for small residuals (and, squaring
    ``r`` rather than ``|r|``, in its second derivative at 0)."""
    return -torch.expm1(-0.5 * r * r)


def _elementwise_scaled(
    fn: str, pred: Tensor, target: Tensor, residual_scale: float, weight: Tensor | None,
    mask: Tensor | None, reduction: Reduction, rho, fused=None, pair=None,
) -> Tensor:  # fmt: skip
    def kernel(p: Tensor, t: Tensor, r: str) -> Tensor:
        return _reduce(_residual_loss(p, t, residual_scale, rho, fused, pair), r)

    return elementwise_loss(fn, pred, target, weight, mask, reduction, kernel)


# ----------------------------------------------------------------- fused value + derivative
#
# Cauchy, Geman-McClure and balanced L1 evaluate their overflow-safe forms above with
# ``torch.where`` branches, which on a CPU cost many times a multiply in the forward and the
# backward pass. On CPU they run instead through :class:`_Fused`: one forward pass computes
# the loss and its derivative together (the textbook formula, in place), and the backward
# pass only scales the held derivative. The textbook formula is used where it cannot
# overflow, decided once per call from the residuals' extreme values; otherwise (and on other
# devices and for second derivatives) the safe forms above are used. Under ``torch.compile``
# the same split runs through :class:`_FusedTraced` with a value-and-derivative form that is
# safe for every residual (no data-dependent choice, which would break the graph).


def _cauchy_fused(r: Tensor, want: bool) -> tuple[Tensor, Tensor | None] | None:
    """``log1p(r^2 / 2)`` and ``r / (1 + r^2 / 2)``, or None where ``r^2`` could overflow."""
    if not _bounded(r, math.sqrt(torch.finfo(r.dtype).max) / 4.0):
        return None
    q = (r * r).mul_(0.5)
    loss = torch.log1p(q)
    return loss, (r.div_(q.add_(1.0)) if want else None)


def _geman_mcclure_fused(r: Tensor, want: bool) -> tuple[Tensor, Tensor | None] | None:
    """``2 r^2 / (r^2 + 4)`` and ``16 r / (r^2 + 4)^2``, or None where ``(r^2 + 4)^2`` could
    overflow."""
    if not _bounded(r, torch.finfo(r.dtype).max ** 0.25 / 4.0):
        return None
    q = r * r
    den = q + 4.0
    loss = q.mul_(2.0).div_(den)
    return loss, (r.mul_(16.0).div_(den.square_()) if want else None)


def _cauchy_pair(r: Tensor) -> tuple[Tensor, Tensor]:
    """``log(1 + r^2 / 2)`` and its derivative for every finite ``r``, with one logarithm:
    with ``s = r / sqrt 2`` and ``u = 1 + s^2``, ``log1p(s^2)`` and ``r / u`` below ``|s| =
    2^32``; above, ``2 log1p(|s| - 1) = 2 log|s|`` and ``sqrt 2 sign(s) / u`` with ``u = |s|``
    (``|s| - 1 + 1`` is ``|s|`` exactly: float32 cannot hold the 1, float64 adds it back
    exactly), equal to either float's resolution (see :data:`_SQ_LARGE`)."""
    s = r * math.sqrt(0.5)
    a = s.abs()
    small = a < _SQ_LARGE
    x = torch.where(small, s * s, a - 1.0)
    loss = torch.log1p(x) * torch.where(small, 1.0, 2.0)
    return loss, torch.where(small, r, math.sqrt(2.0) * s.sign()) / (x + 1.0)


def _geman_mcclure_pair(r: Tensor) -> tuple[Tensor, Tensor]:
    """``2 r^2 / (r^2 + 4)`` and its derivative ``16 r / (r^2 + 4)^2`` for every finite ``r``,
    with one division: ``w = 4 / (r^2 + 4)``, the loss ``q w / 2`` and the derivative
    ``(r w) w`` (in this order: ``w^2`` underflows in float32 from ``|r| = 2^32`` on, ``r w``
    does not). Where ``r^2`` overflows, ``w = 0``: the loss is its bound 2 (the difference,
    ``8 / r^2``, is far below 2's last bit), the derivative 0 (``16 / |r|^3`` underflows)."""
    q = r * r
    w = 4.0 / (q + 4.0)
    return torch.where(w > 0.0, 0.5 * q * w, 2.0), (r * w) * w


def _bounded(r: Tensor, limit: float) -> bool:
    """Every ``|r| <= limit`` (one pass; False for a NaN or an empty ``r``)."""
    if r.numel() == 0:
        return False
    lo, hi = torch.aminmax(r)
    return bool(torch.maximum(-lo, hi) <= limit)


class _Fused(torch.autograd.Function):
    """``rho((pred - target) / c)`` element-wise, its derivative computed in the forward pass.

    ``forward(pred, target, plain, fused, c)``: ``fused(r, want)`` returns the loss and
    (if ``want``) ``d rho / d r`` computed in place on its own ``r``, or None to fall back to
    ``plain(r)`` (the overflow-safe composable form, differentiated by autograd). The
    derivative, divided by ``c``, is held for the backward pass (a second backward pass through
    the same graph recomputes it); under ``create_graph=True`` the backward pass
    differentiates ``plain`` instead, so second derivatives are exact.
    """

    @staticmethod
    def plain(pred: Tensor, target: Tensor, plain, fused, c: float) -> Tensor:
        """The same result as plain operations (:func:`~losskit._autograd.fused_apply`):
        the composable form ``plain``."""
        return plain(_scaled(pred - target, c))

    @staticmethod
    def forward(ctx, pred: Tensor, target: Tensor, plain, fused, c: float) -> Tensor:
        ctx.save_for_backward(pred, target)
        ctx.fns = (plain, fused, c)
        want = any(ctx.needs_input_grad[:2])
        loss, ctx.held = _fused_pass(pred, target, plain, fused, c, want)
        return loss

    @staticmethod
    def backward(ctx, grad: Tensor):
        pred, target = ctx.saved_tensors
        plain, fused, c = ctx.fns
        need_p, need_t = ctx.needs_input_grad[:2]
        if torch.is_grad_enabled():
            # create_graph=True: differentiate the composable form on aliases of the saved
            # inputs (partial derivatives: partial_inputs)
            pred, target = partial_inputs(pred, target)
            loss = plain(_scaled(pred - target, c))
            wanted = [t for t, n in ((pred, need_p), (target, need_t)) if n]
            it = iter(torch.autograd.grad(loss, wanted, grad, create_graph=True))
            return (next(it) if need_p else None), (next(it) if need_t else None), None, None, None
        held, ctx.held = ctx.held, None
        if held is None:  # a second backward pass through this graph: recompute
            held = _fused_pass(pred, target, plain, fused, c, True)[1]
        assert held is not None  # computed whenever an input needs a gradient
        gp = held.mul_(grad)  # the held derivative is this graph's own buffer
        if not need_t:
            return gp, None, None, None, None
        return (gp, -gp, None, None, None) if need_p else (None, gp.neg_(), None, None, None)


class _FusedTraced(torch.autograd.Function):
    """:class:`_Fused` under ``torch.compile``: ``pair(r)`` returns the loss and its
    derivative for every finite ``r``; the derivative (divided by ``c``) is saved, so the
    compiler fuses the forward pass into one kernel that writes it and the backward pass into
    one that scales it. Left to differentiate the select-joined safe forms, the compiler
    evaluated every branch in both passes (and a function that saved the residual instead
    of the derivative was no faster: the compiler moved the derivative into a second forward
    loop over the inputs). Per compiled step on ``(4096, 1024)`` (``benchmarks/results-compiled-regression-cpu.md``)
    Cauchy 16.6 -> 11.8-12.2 ms (kornia's ``log1p(r^2 / 2)``, ``inf`` where ``r^2``
    overflows: 10.1-12.8), Geman-McClure 8.3 -> 4.6-4.9 (kornia 4.9-5.2), balanced L1 20.9 ->
    12.6-13.1 (mmdetection's formula 17.6-17.9). The Wing loss stays composable: its saved
    derivative's division cost more than the recomputation (12.0 against 10.5 ms).
    ``torch.compile`` takes no second derivatives through a compiled graph, so the backward
    need not be differentiable.
    """

    @staticmethod
    def plain(pred: Tensor, target: Tensor, pair, c: float) -> Tensor:
        """The same result as plain operations (:func:`~losskit._autograd.fused_apply`):
        the loss of ``pair``, differentiated as written."""
        return pair(_scaled(pred - target, c))[0]

    @staticmethod
    def forward(ctx, pred: Tensor, target: Tensor, pair, c: float) -> Tensor:
        loss, deriv = pair(_scaled(pred - target, c))
        ctx.save_for_backward(_scaled(deriv, c))
        return loss

    @staticmethod
    def backward(ctx, grad: Tensor):
        (deriv,) = ctx.saved_tensors
        gp = grad * deriv
        return gp, -gp, None, None


def _fused_pass(
    pred: Tensor, target: Tensor, plain, fused, c: float, want: bool
) -> tuple[Tensor, Tensor | None]:
    r = pred - target
    if c != 1.0:
        r.div_(c)
    out = fused(r, want)
    if out is None:  # the safe form and its derivative by autograd
        with torch.enable_grad():
            r = _scaled(pred.detach() - target.detach(), c).requires_grad_(want)
            loss = plain(r)
            deriv = torch.autograd.grad(loss.sum(), r)[0] if want else None
        return loss.detach(), deriv if deriv is None or c == 1.0 else deriv.div_(c)
    loss, deriv = out
    return loss, deriv if deriv is None or c == 1.0 else deriv.div_(c)


def _scaled(d: Tensor, c: float) -> Tensor:
    return d if c == 1.0 else d / c


def _residual_loss(p: Tensor, t: Tensor, c: float, plain, fused, pair=None) -> Tensor:
    """``plain((p - t) / c)`` element-wise: through :class:`_Fused` on CPU in eager mode,
    through :class:`_FusedTraced` with ``pair`` under ``torch.compile``, and as the composable
    form on other devices (as fast there: the GPU's selects and divisions are cheap)."""
    if torch.compiler.is_compiling():
        if pair is not None:
            return fused_apply(_FusedTraced, p, t, pair, c)
    elif fused is not None and p.device.type == "cpu":
        return fused_apply(_Fused, p, t, plain, fused, c)
    return plain(_scaled(p - t, c))


@checked
def charbonnier_loss(
    pred: Tensor, target: Tensor, *, residual_scale: Positive = 1.0, weight: Weight = None,
    mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Charbonnier (pseudo-Huber, L1-L2) loss: a smooth L1.

    Formula:
        l = sqrt((d / c)^2 + 1) - 1,  d = pred - target,  c = residual_scale

    Quadratic (``r^2 / 2``) for residuals well below ``c``, linear (``|d| / c - 1``) far above
    it, smooth everywhere (Barron's general loss at ``alpha = 1``). Computed as
    ``r^2 / (hypot(r, 1) + 1)`` with ``r = |d| / c``: exact for tiny residuals, finite for any
    finite one.

    Equals kornia's ``charbonnier_loss`` at ``c = 1`` (kornia has no scale: it passes ``d / c``).
    Some image-restoration papers use ``sqrt(d^2 + eps^2)`` instead: that is ``eps`` times this
    loss with ``c = eps``, plus ``eps``.

    When to use:
        Image restoration, optical flow and super-resolution: L1's robustness to outliers with
        a gradient that vanishes smoothly at zero (no oscillation). c sets where the
        quadratic part ends.

    Args:
        pred: predicted values, any shape ``(*)``, floating point.
        target: target values, the shape of ``pred``.
        residual_scale: ``c > 0``, the residual at which the loss turns from quadratic to
            linear; default 1.
        weight: optional non-negative per-element weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave out.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``pred``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, a non-bool ``mask``.
        ValueError: different shapes, ``residual_scale <= 0``, a bad
            ``weight``/``mask``/``reduction``.

    Paper:
        Charbonnier, Blanc-Feraud, Aubert, Barlaud, "Two Deterministic Half-Quadratic
        Regularization Algorithms for Computed Imaging", ICIP 1994; Barron, "A General and
        Adaptive Robust Loss Function", CVPR 2019, arXiv:1701.03077.

    Example:
        >>> import torch
        >>> charbonnier_loss(torch.tensor([0.0, 1.0, 1e30]), torch.zeros(3), reduction="none")
        tensor([0.0000e+00, 4.1421e-01, 1.0000e+30])
    """
    return _elementwise_scaled("charbonnier_loss", pred, target, residual_scale, weight, mask,
                               reduction, _charbonnier)  # fmt: skip


@checked
def cauchy_loss(
    pred: Tensor, target: Tensor, *, residual_scale: Positive = 1.0, weight: Weight = None,
    mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Cauchy (Lorentzian) loss: logarithmic growth, so outliers count little.

    Formula:
        l = log(1 + (d / c)^2 / 2),  d = pred - target,  c = residual_scale

    The negative log-likelihood of Cauchy noise (Barron's general loss at ``alpha = 0``): its
    gradient ``r / (1 + r^2 / 2) / c`` peaks at ``|d| = sqrt(2) c`` and then decays, so large
    residuals are down-weighted but never ignored. Finite for any finite residual (above
    ``|d| = c`` it is computed as ``2 log r - log 2 + log1p(2 / r^2)``).

    Equals kornia's ``cauchy_loss`` at ``c = 1``.

    When to use:
        Regression with heavy-tailed noise or many outliers (structure from motion, pose
        and flow estimation): outliers still pull, but only logarithmically.

    Args:
        pred: predicted values, any shape ``(*)``, floating point.
        target: target values, the shape of ``pred``.
        residual_scale: ``c > 0``, the residual scale; default 1.
        weight: optional non-negative per-element weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave out.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``pred``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, a non-bool ``mask``.
        ValueError: different shapes, ``residual_scale <= 0``, a bad
            ``weight``/``mask``/``reduction``.

    Paper:
        Black, Anandan, "The Robust Estimation of Multiple Motions", CVIU 1996; Barron, "A
        General and Adaptive Robust Loss Function", CVPR 2019, arXiv:1701.03077.

    Example:
        >>> import torch
        >>> cauchy_loss(torch.tensor([0.0, 2.0]), torch.zeros(2), reduction="none")  # ln 3
        tensor([0.0000, 1.0986])
    """
    return _elementwise_scaled("cauchy_loss", pred, target, residual_scale, weight, mask,
                               reduction, _cauchy, _cauchy_fused, _cauchy_pair)  # fmt: skip


@checked
def geman_mcclure_loss(
    pred: Tensor, target: Tensor, *, residual_scale: Positive = 1.0, weight: Weight = None,
    mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Geman-McClure loss: bounded by 2, so an outlier costs at most a constant.

    Formula:
        l = 2 (d / c)^2 / ((d / c)^2 + 4),  d = pred - target,  c = residual_scale

    Barron's general loss at ``alpha = -2``: quadratic near zero, saturating at 2; the
    gradient peaks at ``|d| = 2 c / sqrt(3)`` and then vanishes, so gross outliers are
    effectively ignored (a redescending M-estimator). Above ``|d| = c`` it is computed as
    ``2 / (1 + (2 c / d)^2)``: finite for any finite residual.

    Equals kornia's ``geman_mcclure_loss`` at ``c = 1``.

    When to use:
        Registration and robust fitting with gross outliers that should stop influencing the
        fit; non-convex, so start from a reasonable estimate.

    Args:
        pred: predicted values, any shape ``(*)``, floating point.
        target: target values, the shape of ``pred``.
        residual_scale: ``c > 0``, the residual scale; default 1.
        weight: optional non-negative per-element weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave out.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``pred``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, a non-bool ``mask``.
        ValueError: different shapes, ``residual_scale <= 0``, a bad
            ``weight``/``mask``/``reduction``.

    Paper:
        Geman, McClure, "Statistical Methods for Tomographic Image Reconstruction", Bulletin of
        the ISI 1987; Barron, "A General and Adaptive Robust Loss Function", CVPR 2019,
        arXiv:1701.03077.

    Example:
        >>> import torch
        >>> geman_mcclure_loss(torch.tensor([0.0, 2.0, 1e30]), torch.zeros(3), reduction="none")
        tensor([0., 1., 2.])
    """
    return _elementwise_scaled("geman_mcclure_loss", pred, target, residual_scale, weight, mask,
                               reduction, _geman_mcclure, _geman_mcclure_fused,
                               _geman_mcclure_pair)  # fmt: skip


@checked
def welsch_loss(
    pred: Tensor, target: Tensor, *, residual_scale: Positive = 1.0, weight: Weight = None,
    mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Welsch (Leclerc) loss: a Gaussian well, bounded by 1.

    Formula:
        l = 1 - exp(-(d / c)^2 / 2),  d = pred - target,  c = residual_scale

    Barron's general loss in the limit ``alpha -> -inf``: quadratic near zero, saturating at 1
    faster than Geman-McClure; residuals beyond a few ``c`` have practically no gradient.
    Computed as ``-expm1(-r^2 / 2)``: exact for tiny residuals.

    Equals kornia's ``welsch_loss`` at ``c = 1``.

    When to use:
        Robust fitting where outliers must be ignored completely once they are a few c away
        (correntropy, mode seeking); needs a good initial estimate.

    Args:
        pred: predicted values, any shape ``(*)``, floating point.
        target: target values, the shape of ``pred``.
        residual_scale: ``c > 0``, the residual scale; default 1.
        weight: optional non-negative per-element weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave out.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``pred``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, a non-bool ``mask``.
        ValueError: different shapes, ``residual_scale <= 0``, a bad
            ``weight``/``mask``/``reduction``.

    Paper:
        Dennis, Welsch, "Techniques for Nonlinear Least Squares and Robust Regression",
        Communications in Statistics 1978; Barron, "A General and Adaptive Robust Loss
        Function", CVPR 2019, arXiv:1701.03077.

    Example:
        >>> import torch
        >>> welsch_loss(torch.tensor([0.0, 1.0]), torch.zeros(2), reduction="none")  # 1 - e^-0.5
        tensor([0.0000, 0.3935])
    """
    return _elementwise_scaled("welsch_loss", pred, target, residual_scale, weight, mask,
                               reduction, _welsch)  # fmt: skip


def _general(r: Tensor, shape: Tensor | float) -> Tensor:
    """Barron's ``rho(r, alpha)`` at ``c = 1``, exact at ``alpha`` = 0, 2 and the limits.

    ``|alpha - 2| / alpha ((r^2 / |alpha - 2| + 1)^(alpha / 2) - 1)`` is computed as
    ``|alpha - 2| / alpha * expm1(alpha / 2 * log1p(r^2 / |alpha - 2|))`` (no cancellation
    for small residuals), with ``alpha = 0`` replaced by the limit ``log1p(r^2 / 2)`` and
    ``alpha = 2`` by ``r^2 / 2``.
    """
    a = torch.as_tensor(shape, dtype=r.dtype, device=r.device)
    is_zero, is_two = a == 0.0, a == 2.0
    # safe alpha for the general branch (0 and 2 are taken by their limits)
    a_safe = torch.where(is_zero | is_two, torch.full_like(a, 1.0), a)
    b = (a_safe - 2.0).abs()
    # log1p(r^2 / b) without overflowing r^2: the loss is finite wherever its value is
    general = b / a_safe * torch.expm1(0.5 * a_safe * _log1p_sq(r / b.sqrt()))
    out = torch.where(is_zero, _cauchy(r), general)
    return torch.where(is_two, 0.5 * r * r, out)


@checked
def general_robust_loss(
    pred: Tensor, target: Tensor, *, robust_shape: RobustShape = 1.0,
    residual_scale: Positive = 1.0, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Barron's general robust loss: one shape parameter ``alpha`` moves continuously through
    L2, Charbonnier, Cauchy, Geman-McClure and Welsch.

    Formula:
        l = |alpha - 2| / alpha [((d / c)^2 / |alpha - 2| + 1)^(alpha / 2) - 1],  d = pred - target

    ``alpha = 2`` is ``(d / c)^2 / 2`` (L2), ``1`` Charbonnier, ``0`` (the limit) Cauchy,
    ``-2`` Geman-McClure; lower values approach Welsch. Smaller ``alpha`` is more robust.
    ``robust_shape`` (``alpha``) is a number or a tensor broadcastable to ``pred`` (one
    value per dimension or per element); a tensor that requires grad (an ``nn.Parameter`` of
    the module) receives its gradient, so the shape can be learned. Learning it by minimising
    this loss alone drives it towards the most robust value, which is why Barron's adaptive
    loss adds the log partition function of the corresponding distribution (not included
    here: bound or regularise a learned shape). Computed with ``expm1``/``log1p``, exact at
    ``alpha = 0`` and ``2`` (their limits), finite for any residual where the loss is.

    When to use:
        When the right robustness is unknown: treat alpha as a hyperparameter (or a learned
        parameter with your own regulariser) and let one loss cover L2 (2) to Welsch (very
        negative); c sets the scale of an inlier.

    Args:
        pred: predicted values, any shape ``(*)``, floating point.
        target: target values, the shape of ``pred``.
        robust_shape: ``alpha``, a finite number or a floating tensor broadcastable to ``(*)``
            without enlarging it; a tensor that requires grad gets its gradient; default 1
            (Charbonnier).
        residual_scale: ``c > 0``, the residual scale; default 1.
        weight: optional non-negative per-element weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave out.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``pred``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, a ``robust_shape`` that is neither a number nor a
            floating tensor, a non-bool ``mask``.
        ValueError: different shapes, a ``robust_shape`` tensor that does not broadcast to
            ``pred``, a non-finite ``robust_shape``, ``residual_scale <= 0``, a bad
            ``weight``/``mask``/``reduction``.

    Paper:
        Barron, "A General and Adaptive Robust Loss Function", CVPR 2019, arXiv:1701.03077.

    Example:
        >>> import torch
        >>> d, z = torch.tensor([1.0, 1.0, 1.0]), torch.zeros(3)
        >>> general_robust_loss(d, z, robust_shape=torch.tensor([2.0, 1.0, 0.0]), reduction="none")
        tensor([0.5000, 0.4142, 0.4055])
    """
    fn = "general_robust_loss"
    if isinstance(robust_shape, Tensor):
        check_floating(fn, "robust_shape", robust_shape)
        check_same_device(fn, ("pred", pred), ("robust_shape", robust_shape))
        check_broadcast(fn, "robust_shape", robust_shape, pred.shape)

    def rho(r: Tensor) -> Tensor:
        s = robust_shape.to(r.dtype) if isinstance(robust_shape, Tensor) else robust_shape
        return _general(r, s)

    return _elementwise_scaled(fn, pred, target, residual_scale, weight, mask, reduction, rho)


@checked
def wing_loss(
    pred: Tensor, target: Tensor, *, width: Positive = 10.0, curvature: Positive = 2.0,
    weight: Weight = None, mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Wing loss (facial landmarks): logarithmic for small and medium errors, L1 for large.

    Formula:
        l = w ln(1 + |d| / eps) if |d| < w else |d| - C,  C = w - w ln(1 + w / eps)

    ``w = width`` bounds the logarithmic region, ``eps = curvature`` sets its curvature;
    ``C`` joins the two pieces continuously. The logarithm gives small and medium errors a
    larger gradient (``w / (eps + |d|)``) than L1 or L2 would, which the paper found to matter
    for landmark localisation once the large errors are fixed.

    When to use:
        Facial landmark and keypoint coordinate regression (the paper's w = 10, eps = 2 for
        coordinates in pixels).

    Args:
        pred: predicted values, any shape ``(*)``, floating point.
        target: target values, the shape of ``pred``.
        width: ``w > 0``, the half-width of the logarithmic region; default 10.
        curvature: ``eps > 0``, the curvature of the logarithmic region; default 2.
        weight: optional non-negative per-element weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave out.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``pred``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, a non-bool ``mask``.
        ValueError: different shapes, ``width``/``curvature <= 0``, a bad
            ``weight``/``mask``/``reduction``.

    Paper:
        Feng, Kittler, Awais, Huber, Wu, "Wing Loss for Robust Facial Landmark Localisation
        with Convolutional Neural Networks", CVPR 2018, arXiv:1711.06753.

    Example:
        >>> import torch
        >>> wing_loss(torch.tensor([0.0, 2.0, 20.0]), torch.zeros(3), reduction="none")  # 10 ln 2; 20 - C
        tensor([ 0.0000,  6.9315, 27.9176])
    """
    plain, fused = _wing(width, curvature)

    def kernel(p: Tensor, t: Tensor, r: str) -> Tensor:
        return _reduce(_residual_loss(p, t, 1.0, plain, fused), r)

    return elementwise_loss("wing_loss", pred, target, weight, mask, reduction, kernel)


def _wing(width: float, curvature: float):
    """Wing loss of a residual ``r``: the two-piece (composable) form and the fused one.

    The fused form is ``w ln(1 + m / eps) + relu(|r| - w)`` with ``m = min(|r|, w)`` (the
    pieces meet at ``w``: ``C`` is chosen so), and its derivative ``(1 + [|r| < w] (w / (eps +
    m) - 1)) sign(r)``.
    """
    const = width - width * math.log1p(width / curvature)

    def plain(r: Tensor) -> Tensor:
        a = r.abs()
        # (log1p of any finite |r| / eps is finite, as is its derivative: no guard needed)
        return torch.where(a < width, width * torch.log1p(a / curvature), a - const)

    def fused(r: Tensor, want: bool) -> tuple[Tensor, Tensor | None]:
        a = r.abs()
        m = a.clamp_max(width)
        loss = (m / curvature).log1p_().mul_(width).add_(a.sub_(width).clamp_min_(0.0))
        if not want:
            return loss, None
        inner = torch.lt(m, width).to(m.dtype)
        deriv = m.add_(curvature).reciprocal_().mul_(width).sub_(1.0).mul_(inner).add_(1.0)
        return loss, deriv.mul_(r.sign_())

    return plain, fused


@checked
def balanced_l1_loss(
    pred: Tensor, target: Tensor, *, beta: NonNegative = 1.0, balance: Positive = 0.5,
    error_bound: Positive = 1.5, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Balanced L1 loss (Libra R-CNN): Smooth L1 with the inliers' gradient raised.

    Formula:
        l = a / b (b |d| + 1) ln(b |d| / beta + 1) - a |d| if |d| < beta else g |d| + g / b - a beta,  b = e^(g / a) - 1

    ``a = balance`` raises the gradient of the inliers (``|d| < beta``), whose gradient is
    ``a ln(b |d| / beta + 1)``; ``g = error_bound`` caps the outliers' gradient at ``g``; ``b``
    makes the two pieces meet with a continuous gradient at ``|d| = beta``. The paper's
    defaults ``a = 0.5``, ``g = 1.5``, ``beta = 1``.

    Equals mmdetection's ``balanced_l1_loss`` (its ``alpha``, ``gamma`` are ``balance``,
    ``error_bound`` here; losskit's ``alpha`` and ``gamma`` mean the focal factors).
    ``beta = 0`` is ``g |d| + g / b``.

    When to use:
        Box regression in two-stage detectors where the many accurate (inlier) boxes should
        contribute more gradient than under Smooth L1, without letting outliers dominate.

    Args:
        pred: predicted values, any shape ``(*)``, floating point.
        target: target values, the shape of ``pred``.
        beta: the switch point ``>= 0``; default 1.
        balance: ``a > 0``, the inliers' gradient factor; default 0.5.
        error_bound: ``g > 0``, the outliers' gradient bound; default 1.5.
        weight: optional non-negative per-element weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave out.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``pred``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating inputs, a non-bool ``mask``.
        ValueError: different shapes, a negative ``beta``, non-positive ``balance`` or
            ``error_bound``, a bad ``weight``/``mask``/``reduction``.

    Paper:
        Pang, Chen, Shi, Feng, Ouyang, Lin, "Libra R-CNN: Towards Balanced Learning for
        Object Detection", CVPR 2019, arXiv:1904.02701.

    Example:
        >>> import torch
        >>> balanced_l1_loss(torch.tensor([0.0, 0.5, 2.0]), torch.zeros(3), reduction="none")
        tensor([0.0000, 0.4006, 2.5786])
    """
    plain, fused = _balanced_l1(beta, balance, error_bound)

    def kernel(p: Tensor, t: Tensor, r: str) -> Tensor:
        return _reduce(_residual_loss(p, t, 1.0, plain, fused, lambda x: fused(x, True)), r)

    return elementwise_loss("balanced_l1_loss", pred, target, weight, mask, reduction, kernel)


def _balanced_l1(beta: float, balance: float, error_bound: float):
    """Balanced L1 of a residual ``r``: the two-piece (composable) form and the fused one.

    The fused form writes the loss as one expression, ``inlier(min(|r|, beta)) + g relu(|r| -
    beta)`` (the pieces meet at ``beta`` with equal values), and its derivative as
    ``(a ln(b m / beta + 1) + [|r| < beta] a (1 - beta) / (b m + beta)) sign(r)`` with
    ``m = min(|r|, beta)``: above ``beta`` that is ``g sign(r)``, because ``a ln(b + 1) = g`` by
    the choice of ``b``, so the inliers' logarithm serves both pieces. (The second term, 0 at
    the default ``beta = 1``, is the derivative of mmdetection's ``(b |r| + 1)`` factor, which
    keeps no ``/ beta``; the gradient then jumps at ``beta``, as mmdetection's does.)
    """
    b = math.expm1(error_bound / balance)

    def plain(r: Tensor) -> Tensor:
        a = r.abs()
        inner = a < beta
        ai = torch.where(inner, a, torch.zeros_like(a))
        inlier = (
            balance / b * (b * ai + 1.0) * torch.log1p(b * ai / beta) - balance * ai
            if beta > 0
            else ai
        )
        outlier = error_bound * a + error_bound / b - balance * beta
        return torch.where(inner, inlier, outlier)

    def fused(r: Tensor, want: bool) -> tuple[Tensor, Tensor | None]:
        a = r.abs()
        if beta == 0:
            return a.mul_(error_bound).add_(error_bound / b), (
                r.sign_().mul_(error_bound) if want else None
            )
        ai = a.clamp_max(beta)
        log = (ai * (b / beta)).log1p_()
        loss = (ai * b).add_(1.0).mul_(log).mul_(balance / b).add_(ai, alpha=-balance)
        loss.add_(a.sub_(beta).clamp_min_(0.0), alpha=error_bound)
        if not want:
            return loss, None
        deriv = log.mul_(balance)
        if beta != 1.0:  # the inliers' derivative has a term that vanishes only at beta = 1
            inner = torch.lt(ai, beta).to(ai.dtype)
            deriv.add_(ai.mul_(b).add_(beta).reciprocal_().mul_(inner), alpha=balance * (1 - beta))
        return loss, deriv.mul_(r.sign_())

    return plain, fused


# ----------------------------------------------------------------------------- modules


class _RobustModule(LossModule):
    residual_scale: Positive = DEFAULT


class CharbonnierLoss(_RobustModule, function=charbonnier_loss):
    """Charbonnier loss, ``sqrt((d / c)^2 + 1) - 1``.

    Args:
        residual_scale: ``c > 0``; default 1.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(pred, target, *, weight=None, mask=None)``: ``(*)`` each. Output: a scalar,
        or ``(*)``.

    Paper:
        Barron, "A General and Adaptive Robust Loss Function", CVPR 2019, arXiv:1701.03077.

    Example:
        >>> import torch
        >>> CharbonnierLoss(reduction="sum")(torch.tensor([1.0]), torch.zeros(1))
        tensor(0.4142)
    """


class CauchyLoss(_RobustModule, function=cauchy_loss):
    """Cauchy loss, ``log(1 + (d / c)^2 / 2)``.

    Args:
        residual_scale: ``c > 0``; default 1.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(pred, target, *, weight=None, mask=None)``: ``(*)`` each. Output: a scalar,
        or ``(*)``.

    Paper:
        Barron, "A General and Adaptive Robust Loss Function", CVPR 2019, arXiv:1701.03077.

    Example:
        >>> import torch
        >>> CauchyLoss()(torch.tensor([2.0]), torch.zeros(1))
        tensor(1.0986)
    """


class GemanMcClureLoss(_RobustModule, function=geman_mcclure_loss):
    """Geman-McClure loss, ``2 (d / c)^2 / ((d / c)^2 + 4)``.

    Args:
        residual_scale: ``c > 0``; default 1.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(pred, target, *, weight=None, mask=None)``: ``(*)`` each. Output: a scalar,
        or ``(*)``.

    Paper:
        Barron, "A General and Adaptive Robust Loss Function", CVPR 2019, arXiv:1701.03077.

    Example:
        >>> import torch
        >>> GemanMcClureLoss()(torch.tensor([2.0]), torch.zeros(1))
        tensor(1.)
    """


class WelschLoss(_RobustModule, function=welsch_loss):
    """Welsch loss, ``1 - exp(-(d / c)^2 / 2)``.

    Args:
        residual_scale: ``c > 0``; default 1.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(pred, target, *, weight=None, mask=None)``: ``(*)`` each. Output: a scalar,
        or ``(*)``.

    Paper:
        Barron, "A General and Adaptive Robust Loss Function", CVPR 2019, arXiv:1701.03077.

    Example:
        >>> import torch
        >>> WelschLoss()(torch.tensor([1.0]), torch.zeros(1))
        tensor(0.3935)
    """


class GeneralRobustLoss(_RobustModule, function=general_robust_loss):
    """Barron's general robust loss; pass ``robust_shape=nn.Parameter(...)`` to learn ``alpha``.

    Args:
        robust_shape: ``alpha``, a number, a tensor (a buffer) or an ``nn.Parameter`` (learned
            with the model), broadcastable to the input; default 1.
        residual_scale: ``c > 0``; default 1.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(pred, target, *, weight=None, mask=None)``: ``(*)`` each. Output: a scalar,
        or ``(*)``.

    Paper:
        Barron, "A General and Adaptive Robust Loss Function", CVPR 2019, arXiv:1701.03077.

    Example:
        >>> import torch
        >>> GeneralRobustLoss(robust_shape=0.0)(torch.tensor([2.0]), torch.zeros(1))  # Cauchy, ln 3
        tensor(1.0986)
    """

    robust_shape: RobustShape = DEFAULT


class WingLoss(LossModule, function=wing_loss):
    """Wing loss, ``w ln(1 + |d| / eps)`` inside ``|d| < w``, ``|d| - C`` outside.

    Args:
        width: ``w > 0``; default 10.
        curvature: ``eps > 0``; default 2.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(pred, target, *, weight=None, mask=None)``: ``(*)`` each. Output: a scalar,
        or ``(*)``.

    Paper:
        Feng et al., "Wing Loss for Robust Facial Landmark Localisation with Convolutional
        Neural Networks", CVPR 2018, arXiv:1711.06753.

    Example:
        >>> import torch
        >>> WingLoss()(torch.tensor([2.0]), torch.zeros(1))
        tensor(6.9315)
    """

    width: Positive = DEFAULT
    curvature: Positive = DEFAULT


class BalancedL1Loss(LossModule, function=balanced_l1_loss):
    """Balanced L1 loss (Libra R-CNN): Smooth L1 with raised inlier gradients.

    Args:
        beta: the switch point ``>= 0``; default 1.
        balance: the inliers' gradient factor ``> 0``; default 0.5.
        error_bound: the outliers' gradient bound ``> 0``; default 1.5.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(pred, target, *, weight=None, mask=None)``: ``(*)`` each. Output: a scalar,
        or ``(*)``.

    Paper:
        Pang et al., "Libra R-CNN", CVPR 2019, arXiv:1904.02701.

    Example:
        >>> import torch
        >>> BalancedL1Loss()(torch.tensor([2.0]), torch.zeros(1))  # 1.5 * 2 + 1.5 / b - 0.5
        tensor(2.5786)
    """

    beta: NonNegative = DEFAULT
    balance: Positive = DEFAULT
    error_bound: Positive = DEFAULT
