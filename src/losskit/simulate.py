r"""The DIoU paper's simulation of bounding-box regression, vectorised.

Zheng et al., "Distance-IoU Loss: Faster and Better Learning for Bounding Box Regression",
AAAI 2020, arXiv:1911.08287, section "Analysis to IoU and GIoU Losses" (figures 3 and 4 of
the arXiv version), and the authors' released simulation code (MATLAB, GitHub
``Zzh-tju/DIoU``, folder ``simulation experiment``).

**Setup** (as in the paper):

* 7 target boxes centred at ``(10, 10)``, area 1, aspect ratios ``w:h`` of
  1:4, 1:3, 1:2, 1:1, 2:1, 3:1, 4:1;
* anchor centres uniform in the disc of radius 3 around ``(10, 10)``
  (``r = 3 sqrt(u)``, ``phi = 2 pi u'``);
* at each anchor centre 49 anchors: 7 areas ``{0.5, 0.67, 0.75, 1, 1.33, 1.5, 2}`` times the
  target area, each with the 7 aspect ratios above;
* every anchor is regressed to every target: ``P`` points give ``P * 7 * 49 = 343 P``
  regression cases (``P = 5000`` gives the paper's 1,715,000);
* for ``t = 1 .. T`` (``T = 200``) each box ``B = (x, y, w, h)`` moves by
  ``B <- B + eta (2 - IoU) (-dL/dB)``, with ``eta = 0.1``, then ``0.01`` after 80 % and
  ``0.001`` after 90 % of the iterations (the factor ``2 - IoU`` speeds up boxes that overlap
  little);
* the error of a case is ``|x - x_gt| + |y - y_gt| + |w - w_gt| + |h - h_gt|``; the paper plots
  the sum over all cases against the iteration, and for each anchor point the sum over its
  343 cases at ``t = T``.

All cases move together as one ``(N, 4)`` batch: there is no Python loop over boxes.

**Two ways to get** ``-dL/dB`` (``gradients=``):

* ``"exact"`` (default): autograd through losskit's own :func:`~losskit.iou_loss`,
  :func:`~losskit.giou_loss`, :func:`~losskit.diou_loss` and :func:`~losskit.ciou_loss`
  (``box_format="cxcywh"``, CIoU with its default ``alpha_mode="detach"``). This is what a
  user of these losses gets.
* ``"authors"``: the hand-derived gradients of the authors' MATLAB code, re-derived here and
  vectorised (not translated line by line). They depart from the exact gradient in the
  ways listed in :data:`AUTHORS_RULES`; :func:`authors_direction` with ``rules=()`` is the
  exact gradient again, which the tests check against autograd. The paper's figures come
  from these gradients.

The functions return numbers; :func:`plot_box_simulation` draws them (matplotlib is
imported only there). ``losskit simulate boxes`` is the command line front end.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ._checks import check_choice

__all__ = [
    "LOSSES",
    "GRADIENTS",
    "AUTHORS_RULES",
    "ASPECT_RATIOS",
    "ANCHOR_AREAS",
    "BoxSimulation",
    "simulation_cases",
    "learning_rate",
    "authors_direction",
    "exact_direction",
    "simulate_boxes",
    "plot_box_simulation",
]

#: the losses the paper compares, in its order
LOSSES: tuple[str, ...] = ("iou", "giou", "diou", "ciou")
#: where ``-dL/dB`` comes from (see the module docstring)
GRADIENTS: tuple[str, ...] = ("exact", "authors")
#: ``w:h`` of the targets and of the anchors: 1:4, 1:3, 1:2, 1:1, 2:1, 3:1, 4:1
ASPECT_RATIOS: tuple[float, ...] = (1 / 4, 1 / 3, 1 / 2, 1.0, 2.0, 3.0, 4.0)
#: anchor areas as multiples of the target area (the paper's values, 0.67 and 1.33 as printed)
ANCHOR_AREAS: tuple[float, ...] = (0.5, 0.67, 0.75, 1.0, 1.33, 1.5, 2.0)

#: The authors' hand-coded gradients (``"authors"`` mode) depart from the exact gradient of
#: the loss in these ways; each key names one departure, each value says what it does. Read
#: from the released MATLAB files ``dIOU.m``, ``dGIOU.m``, ``dDIOU.m``, ``dCIOU.m`` and
#: ``to_xywh.m``; the exact gradient is re-derived in the comments of
#: :func:`authors_direction`.
AUTHORS_RULES: dict[str, str] = {
    "unhalved_wh": (
        "IoU and GIoU gradients are taken on the edges (l, t, r, b) and mapped to (w, h) as "
        "dr - dl and db - dt; with l = x - w/2, r = x + w/2 the chain rule gives half of that. "
        "For GIoU the whole gradient is mapped so; for DIoU and CIoU their IoU term."
    ),
    "signed_intersection": (
        "GIoU's enclosing term (C - U)/C uses the union U = A + A_gt - I with the signed "
        "intersection I = (min r - max l)(min b - max t), not clamped at 0, in its value and "
        "its gradient: for disjoint boxes U is too large (disjoint in one axis) or too small "
        "(in both)."
    ),
    "centre_sign": (
        "DIoU/CIoU: in the gradient of rho^2/c^2 with respect to the centre (x, y), the term "
        "from the enclosing box's diagonal c^2 enters with the opposite sign, so it pulls the "
        "box toward the target where the exact gradient partly pushes it away."
    ),
    "shared_enclosing_record": (
        "DIoU/CIoU: the derivatives of the enclosing box's width and height are kept in one "
        "record, so dc_h/dx, dc_h/dw, dc_w/dy, dc_w/dh (all 0) take the values of "
        "dc_w/dx, dc_w/dw, dc_h/dy, dc_h/dh."
    ),
    "containment_sign": (
        "DIoU/CIoU: where the prediction spans the target horizontally (vertically), "
        "dc_w/dw (dc_h/dh) is set to -1; it is +1."
    ),
    "v_unscaled": (
        "CIoU: dv/dw and dv/dh drop the factor 1/(w^2 + h^2) (the paper's eq. 12 and its "
        "remark that it is dropped because it explodes for small normalised boxes)."
    ),
}

#: cases per block of the authors' gradients on the CPU
_AUTHORS_BLOCK = 16384

#: the paper's learning rates and when they start (fraction of the iterations done)
_SCHEDULE: tuple[tuple[float, float], ...] = ((0.0, 0.1), (0.8, 0.01), (0.9, 0.001))

ProgressFn = Callable[[str, int, int], Any]


def _check_int(fn: str, name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{fn}: {name} must be an int; got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{fn}: {name} must be >= {low}; got {value}")
    return value


def _check_losses(fn: str, losses: object) -> tuple[str, ...]:
    if isinstance(losses, str) or not isinstance(losses, Sequence) or len(losses) == 0:
        raise ValueError(
            f"{fn}: losses must be a non-empty sequence of {', '.join(map(repr, LOSSES))}; "
            f"got {losses!r}"
        )
    for name in losses:
        check_choice(fn, "losses", name, LOSSES)
    if len(set(losses)) != len(losses):
        raise ValueError(f"{fn}: losses must not repeat a name; got {list(losses)}")
    return tuple(losses)


def _check_rules(fn: str, rules: Collection[str] | None) -> frozenset[str]:
    if rules is None:
        return frozenset(AUTHORS_RULES)
    if isinstance(rules, str):
        raise ValueError(f"{fn}: rules must be a collection of names, not a string; got {rules!r}")
    for r in rules:
        check_choice(fn, "rules", r, tuple(AUTHORS_RULES))
    return frozenset(rules)


# ---------------------------------------------------------------------------------------
# the cases


def learning_rate(t: int, iterations: int) -> float:
    """The paper's ``eta`` at iteration ``t`` (1-based) of ``iterations``: 0.1, then 0.01
    after 80 % and 0.001 after 90 % of them (iterations 1-160, 161-180, 181-200 for 200).

    Example:
        >>> [learning_rate(t, 200) for t in (1, 160, 161, 180, 181, 200)]
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    """
    eta = _SCHEDULE[0][1]
    for start, value in _SCHEDULE[1:]:
        if t > round(start * iterations):
            eta = value
    return eta


def simulation_cases(
    points: int,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> tuple[Tensor, Tensor, Tensor]:
    """The regression cases of the simulation.

    Returns ``(centres, anchors, targets)``: ``centres`` ``(points, 2)`` are the anchor
    points; ``anchors`` and ``targets`` ``(343 * points, 4)`` are the boxes in
    ``(cx, cy, w, h)``, one row per case. Row ``343 p + 49 j + 7 k + m`` is anchor point
    ``p``, target aspect ratio ``j``, anchor area ``k``, anchor aspect ratio ``m`` (the
    order of the authors' loops). The points are drawn on the CPU with ``torch.Generator``
    seeded by ``seed``, so a seed gives the same cases on every device.
    """
    fn = "simulation_cases"
    _check_int(fn, "points", points, 1)
    _check_int(fn, "seed", seed, 0)
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(2, points, generator=gen, dtype=torch.float64)
    radius, phi = 3.0 * u[0].sqrt(), 2.0 * math.pi * u[1]
    centres = torch.stack([10.0 + radius * phi.cos(), 10.0 + radius * phi.sin()], dim=-1)
    ratio = torch.tensor(ASPECT_RATIOS, dtype=torch.float64)
    # w:h = ratio and w h = area give w = sqrt(area ratio), h = sqrt(area / ratio)
    shape = torch.stack([ratio.sqrt(), ratio.rsqrt()], dim=-1)  # (7, 2), area 1
    area = torch.tensor(ANCHOR_AREAS, dtype=torch.float64)
    # target j, area k, anchor ratio m: sizes (7, 7, 7, 2); every target has area 1
    anchor_wh = (area.sqrt()[:, None, None] * shape[None]).expand(7, 7, 2)
    anchor_wh = anchor_wh.unsqueeze(0).expand(7, 7, 7, 2)
    target_wh = shape[:, None, None, :].expand(7, 7, 7, 2)
    n = points * 343
    xy = centres[:, None, :].expand(points, 343, 2).reshape(n, 2)
    anchors = torch.cat([xy, anchor_wh.reshape(1, 343, 2).expand(points, 343, 2).reshape(n, 2)], -1)
    t_xy = torch.full((n, 2), 10.0, dtype=torch.float64)
    targets = torch.cat(
        [t_xy, target_wh.reshape(1, 343, 2).expand(points, 343, 2).reshape(n, 2)], -1
    )
    return (
        centres.to(device=device, dtype=dtype),
        anchors.to(device=device, dtype=dtype).contiguous(),
        targets.to(device=device, dtype=dtype).contiguous(),
    )


# ---------------------------------------------------------------------------------------
# the descent directions -dL/dB on (cx, cy, w, h)


def _losskit_loss(kind: str) -> Callable[..., Tensor]:
    from .functional import box

    return {
        "iou": box.iou_loss,
        "giou": box.giou_loss,
        "diou": box.diou_loss,
        "ciou": box.ciou_loss,
    }[kind]


def exact_direction(kind: str, boxes: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """``(-dL/dB, IoU)`` per case from autograd through losskit's own loss ``kind``.

    ``boxes`` and ``targets`` are ``(N, 4)`` in ``(cx, cy, w, h)``. The boxes go through
    :func:`losskit.box_convert`'s ``cxcywh -> xyxy`` map and the loss (``reduction="sum"``,
    so row ``i`` of the gradient is the gradient of case ``i`` alone), and autograd carries
    the gradient back to ``(cx, cy, w, h)``. IoU is losskit's (with its ``eps``).
    """
    check_choice("exact_direction", "kind", kind, LOSSES)
    from ._geometry import to_xyxy
    from .functional.box import iou_loss

    t = to_xyxy(targets, "cxcywh")
    b = boxes.detach().requires_grad_(True)
    p = to_xyxy(b, "cxcywh")
    if kind == "iou":
        per_case = iou_loss(p, t, reduction="none")
        (grad,) = torch.autograd.grad(per_case.sum(), b)
        iou = 1.0 - per_case.detach()
    else:
        loss = _losskit_loss(kind)(p, t, reduction="sum")
        (grad,) = torch.autograd.grad(loss, b)
        with torch.no_grad():
            iou = 1.0 - iou_loss(p.detach(), t, reduction="none")
    return grad.neg_(), iou


def authors_direction(
    kind: str, boxes: Tensor, targets: Tensor, *, rules: Collection[str] | None = None
) -> tuple[Tensor, Tensor]:
    """``(-dL/dB, IoU)`` per case as the authors' simulation code computes them.

    ``boxes`` and ``targets`` are ``(N, 4)`` in ``(cx, cy, w, h)``. ``rules`` picks which of
    the departures in :data:`AUTHORS_RULES` to apply (default: all, as in the authors'
    code); with ``rules=()`` the result is the exact gradient of the loss (no ``eps``, and
    the IoU term's gradient is 0 unless the boxes overlap with positive width and height,
    as in the authors' code). As there, IoU is 0 for boxes that do not overlap, CIoU's
    ``alpha = v / (1 - IoU + v + 1e-7)`` is a constant, and the enclosing box of DIoU/CIoU
    is taken from the raw edges.

    An inverted box (``w < 0`` or ``h < 0``; the authors' GIoU gradients invert a few, see
    :attr:`BoxSimulation.inverted`) goes through the same signed formulas, as in their code
    (its edge swap for inverted boxes acts on an IoU gradient that is 0 there, since an
    inverted box cannot overlap, so it changes nothing).
    """
    fn = "authors_direction"
    check_choice(fn, "kind", kind, LOSSES)
    on = _check_rules(fn, rules)
    # rows layout: (2, N) blocks, so every operation runs over N contiguous values
    p, q = boxes.t().contiguous(), targets.t().contiguous()
    c, wh, cg, whg = p[:2], p[2:], q[:2], q[2:]
    # edges as (x, y) pairs: lo = (l, t), hi = (r, b)
    lo, hi = c - 0.5 * wh, c + 0.5 * wh
    lo_g, hi_g = cg - 0.5 * whg, cg + 0.5 * whg

    # --- IoU = I / U on the edges. I = iw ih with the signed extents
    # (iw, ih) = min(hi, hi_g) - max(lo, lo_g); U = w h + w_g h_g - I.
    iwh = torch.minimum(hi, hi_g) - torch.maximum(lo, lo_g)
    inter_s = iwh[0] * iwh[1]
    overlap = (iwh[0] > 0) & (iwh[1] > 0)
    zero1 = torch.zeros_like(inter_s)
    inter = torch.where(overlap, inter_s, zero1)
    area = wh[0] * wh[1]
    area_g = whg[0] * whg[1]
    union = area + area_g - inter
    ok = overlap & (union > 0)
    u_safe = torch.where(ok, union, torch.ones_like(union))
    iou = torch.where(ok, inter / u_safe, zero1)
    # dI/d lo = -(other extent) where lo is the intersection's edge (lo > lo_g), 0 else;
    # dI/d hi = +(other extent) where hi < hi_g; dA/d lo = -(other size), dA/d hi = +(other).
    other, size_other = iwh.flip(0), wh.flip(0)
    zero = torch.zeros_like(other)
    d_inter_lo = torch.where(lo > lo_g, -other, zero)
    d_inter_hi = torch.where(hi < hi_g, other, zero)
    # dIoU = (U dI - I dU) / U^2 = ((U + I) dI - I dA) / U^2 where the boxes overlap, else 0
    r = torch.where(ok, 1.0 / u_safe**2, zero1)
    a_coef, b_coef = (u_safe + inter) * r, inter * r
    g_lo = a_coef * d_inter_lo + b_coef * size_other
    g_hi = a_coef * d_inter_hi - b_coef * size_other

    lo_out, hi_out = lo < lo_g, hi > hi_g  # which enclosing edges are the prediction's
    cwh = torch.maximum(hi, hi_g) - torch.minimum(lo, lo_g)  # enclosing box (c_w, c_h)
    if kind == "giou":
        # similarity IoU - (C - U)/C = IoU - 1 + U/C: add d(U/C) = (C dU - U dC)/C^2, with
        # dC/d lo = -(other enclosing size) where lo < lo_g, dC/d hi = +(...) where hi > hi_g
        if "signed_intersection" in on:
            # U = A + A_gt - iw ih with the signed extents, and its exact derivative
            u_c = area + area_g - inter_s
            di_lo = torch.where(lo > lo_g, -other, zero)
            di_hi = torch.where(hi < hi_g, other, zero)
        else:
            u_c = union
            mask = overlap.unsqueeze(0)
            di_lo = torch.where(mask, d_inter_lo, zero)
            di_hi = torch.where(mask, d_inter_hi, zero)
        du_lo, du_hi = -size_other - di_lo, size_other - di_hi
        c_area = cwh[0] * cwh[1]
        c_other = cwh.flip(0)
        dc_lo = torch.where(lo_out, -c_other, zero)
        dc_hi = torch.where(hi_out, c_other, zero)
        g_lo = g_lo + (c_area * du_lo - u_c * dc_lo) / c_area**2
        g_hi = g_hi + (c_area * du_hi - u_c * dc_hi) / c_area**2

    # edges -> (centre, size): lo = c - wh/2, hi = c + wh/2, so d/dc = d/dlo + d/dhi and
    # d/dwh = (d/dhi - d/dlo) / 2; the authors' to_xywh omits the 1/2
    half = 1.0 if "unhalved_wh" in on else 0.5
    g_c = g_lo + g_hi
    g_wh = half * (g_hi - g_lo)

    if kind in ("diou", "ciou"):
        # similarity IoU - rho^2/c^2, rho^2 = |c - c_g|^2, c^2 = c_w^2 + c_h^2. With
        # s_lo = [lo < lo_g], s_hi = [hi > hi_g] (which enclosing edges are the
        # prediction's): d(c_w, c_h)/d(x, y) = s_hi - s_lo and d(c_w, c_h)/d(w, h) =
        # (s_hi + s_lo)/2, each per axis (dc_w/dy = dc_w/dh = dc_h/dx = dc_h/dw = 0).
        # -d(rho^2/c^2)/dc = (-2 (c - c_g) c^2 + rho^2 dc^2/dc) / c^4,
        # -d(rho^2/c^2)/dwh = rho^2 dc^2/dwh / c^4.
        s_lo, s_hi = lo_out.to(wh.dtype), hi_out.to(wh.dtype)
        k_c, k_s = s_hi - s_lo, 0.5 * (s_hi + s_lo)
        k_self = k_s
        if "containment_sign" in on:
            k_self = torch.where(lo_out & hi_out, -torch.ones_like(k_s), k_s)
        if "shared_enclosing_record" in on:
            # one record for both enclosing sizes: each derivative is taken with c_w + c_h
            dc2_dc = 2.0 * (cwh[0] + cwh[1]) * k_c
            dc2_dwh = 2.0 * cwh * k_self + 2.0 * cwh.flip(0) * k_s
        else:
            dc2_dc = 2.0 * cwh * k_c
            dc2_dwh = 2.0 * cwh * k_self
        c2 = cwh[0] * cwh[0] + cwh[1] * cwh[1]
        off = c - cg
        rho2 = off[0] * off[0] + off[1] * off[1]
        sign = -1.0 if "centre_sign" in on else 1.0
        inv_c4 = 1.0 / (c2 * c2)
        g_c = g_c + (-2.0 * c2 * inv_c4) * off + (sign * rho2 * inv_c4) * dc2_dc
        g_wh = g_wh + (rho2 * inv_c4) * dc2_dwh
        if kind == "ciou":
            # v = 4/pi^2 (atan(w_g/h_g) - atan(w/h))^2, alpha constant:
            # -alpha dv/d(w, h) = alpha 8/pi^2 (atan(w_g/h_g) - atan(w/h)) (h, -w) / (w^2 + h^2)
            dang = torch.atan(whg[0] / whg[1]) - torch.atan(wh[0] / wh[1])
            v = (4.0 / math.pi**2) * dang * dang
            alpha = v / (1.0 - iou + v + 1e-7)
            coef = alpha * (8.0 / math.pi**2) * dang
            if "v_unscaled" not in on:
                coef = coef / (wh[0] * wh[0] + wh[1] * wh[1])
            g_wh = g_wh + coef * torch.stack([wh[1], -wh[0]])
    return torch.cat([g_c, g_wh]).t(), iou


# ---------------------------------------------------------------------------------------
# the simulation


@dataclass
class BoxSimulation:
    """What :func:`simulate_boxes` measured.

    Attributes:
        gradients: ``"exact"`` or ``"authors"``.
        losses: the losses run, e.g. ``("iou", "giou", "diou", "ciou")``.
        iterations: ``T``.
        seed: the seed of the anchor points.
        centres: ``(P, 2)`` anchor points.
        curves: per loss, ``(T + 1,)`` total error over all cases; index 0 is the
            initial error, index ``t`` the error after iteration ``t``.
        final_error: per loss, ``(P,)`` the final error summed over each point's 343 cases
            (the paper's per-point map).
        case_initial_error: ``(N,)`` each case's initial error.
        case_final_error: per loss, ``(N,)`` each case's error at ``t = T``.
        initially_disjoint: ``(N,)`` whether anchor and target start without overlap.
        inverted: per loss, how many cases had ``w <= 0`` or ``h <= 0`` after some
            iteration.
        seconds: per loss, the time its run took.
    """

    gradients: str
    losses: tuple[str, ...]
    iterations: int
    seed: int
    centres: Tensor
    curves: dict[str, Tensor] = field(default_factory=dict)
    final_error: dict[str, Tensor] = field(default_factory=dict)
    case_initial_error: Tensor | None = None
    case_final_error: dict[str, Tensor] = field(default_factory=dict)
    initially_disjoint: Tensor | None = None
    inverted: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def points(self) -> int:
        return int(self.centres.shape[0])

    @property
    def cases(self) -> int:
        return self.points * 343

    def remaining(self, loss: str, t: int | None = None) -> float:
        """Total error at iteration ``t`` (default ``T``) as a fraction of the initial."""
        curve = self.curves[loss]
        return float(curve[self.iterations if t is None else t] / curve[0])

    def summary(self) -> list[dict[str, Any]]:
        """One row per loss: initial and final total error, the fraction left at
        ``t = T/4``, ``T/2`` and ``T``, and the fraction of initially disjoint cases whose
        error did not change at all."""
        rows = []
        quarter, half = max(self.iterations // 4, 1), max(self.iterations // 2, 1)
        assert self.initially_disjoint is not None, "summary() needs a finished run"
        for name in self.losses:
            still = self.case_final_error[name] == self.case_initial_error
            disj = self.initially_disjoint
            rows.append(
                {
                    "loss": name,
                    "initial": float(self.curves[name][0]),
                    "final": float(self.curves[name][-1]),
                    f"left@{quarter}": self.remaining(name, quarter),
                    f"left@{half}": self.remaining(name, half),
                    "left@T": self.remaining(name),
                    "disjoint_unmoved": float((still & disj).sum() / disj.sum().clamp_min(1)),
                }
            )
        return rows


def simulate_boxes(
    points: int = 300,
    *,
    iterations: int = 200,
    gradients: str = "exact",
    losses: Sequence[str] = LOSSES,
    seed: int = 0,
    rules: Collection[str] | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
    threads: int | None = None,
    progress: ProgressFn | None = None,
) -> BoxSimulation:
    r"""Run the DIoU paper's simulation (module docstring) and return its measurements.

    Args:
        points: anchor points (``343 * points`` cases); the paper used 5000.
        iterations: ``T``, the paper's 200.
        gradients: ``"exact"`` (autograd through losskit's losses) or ``"authors"`` (the
            hand-coded gradients of the authors' simulation code).
        losses: which of ``"iou", "giou", "diou", "ciou"`` to run.
        seed: seed of the anchor points (same seed, same result).
        rules: ``"authors"`` mode only: which departures of :data:`AUTHORS_RULES` to apply
            (default: all of them, as in the authors' code).
        dtype: floating dtype of the computation (default float64, as MATLAB's double).
        device: where to compute.
        threads: torch CPU threads for the run (restored afterwards); ``None`` keeps
            torch's setting. On a small or shared machine 1 is often fastest: the
            operations are small and extra threads only contend.
        progress: optional ``progress(loss, iterations_done, iterations)``, called after
            each iteration.

    Returns:
        A :class:`BoxSimulation`.

    Raises:
        TypeError: a non-int ``points``, ``iterations``, ``seed`` or ``threads``.
        ValueError: ``points < 1``, ``iterations < 1``, ``seed < 0``, ``threads < 1``, an unknown
            ``gradients`` or loss, repeated losses, ``rules`` in ``"exact"`` mode or an
            unknown rule, a non-floating ``dtype``.

    Example:
        >>> sim = simulate_boxes(2, iterations=20, losses=("iou", "diou"))
        >>> sim.cases, sim.curves["diou"].shape
        (686, torch.Size([21]))
        >>> sim.remaining("diou") < sim.remaining("iou")
        True
    """
    fn = "simulate_boxes"
    _check_int(fn, "points", points, 1)
    _check_int(fn, "iterations", iterations, 1)
    _check_int(fn, "seed", seed, 0)
    if threads is not None:
        _check_int(fn, "threads", threads, 1)
    check_choice(fn, "gradients", gradients, GRADIENTS)
    losses = _check_losses(fn, losses)
    if gradients == "exact" and rules is not None:
        raise ValueError(f"{fn}: rules apply to gradients='authors' only; got rules={rules!r}")
    rules_on = _check_rules(fn, rules) if gradients == "authors" else frozenset()
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"{fn}: dtype must be a floating torch.dtype; got {dtype!r}")

    centres, anchors, targets = simulation_cases(points, seed=seed, dtype=dtype, device=device)
    case_error0 = (anchors - targets).abs().sum(-1)
    with torch.no_grad():
        from .functional.box import iou_loss

        disjoint = iou_loss(anchors, targets, box_format="cxcywh", reduction="none") >= 1.0
    sim = BoxSimulation(
        gradients=gradients,
        losses=losses,
        iterations=iterations,
        seed=seed,
        centres=centres.cpu(),
        case_initial_error=case_error0.cpu(),
        initially_disjoint=disjoint.cpu(),
    )
    # exact: the whole batch at once (losskit's kernel blocks internally); authors': in
    # cache-sized blocks on the CPU (about 3x faster than whole-batch temporaries there)
    n = anchors.shape[0]
    step = n if gradients == "exact" or anchors.device.type != "cpu" else _AUTHORS_BLOCK
    blocks = [(s, min(s + step, n)) for s in range(0, n, step)]
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        for name in losses:
            start = time.perf_counter()
            boxes = anchors.clone()
            curve = torch.empty(iterations + 1, dtype=torch.float64, device=device)
            curve[0] = case_error0.sum()
            inverted = torch.zeros(n, dtype=torch.bool, device=device)
            for t in range(1, iterations + 1):
                eta = learning_rate(t, iterations)
                for s, e in blocks:
                    b, g = boxes[s:e], targets[s:e]
                    if gradients == "exact":
                        direction, iou = exact_direction(name, b, g)
                    else:
                        direction, iou = authors_direction(name, b, g, rules=rules_on)
                    # B <- B + eta (2 - IoU) (-dL/dB)
                    b.addcmul_(direction, iou.neg().add_(2.0).mul_(eta).unsqueeze(-1))
                inverted |= (boxes[:, 2:] <= 0).any(-1)
                curve[t] = (boxes - targets).abs().sum()
                if progress is not None:
                    progress(name, t, iterations)
            case_final = (boxes - targets).abs().sum(-1)
            sim.curves[name] = curve.cpu()
            sim.case_final_error[name] = case_final.cpu()
            sim.final_error[name] = case_final.view(points, 343).sum(-1).cpu()
            sim.inverted[name] = int(inverted.sum())
            sim.seconds[name] = time.perf_counter() - start
    finally:
        torch.set_num_threads(old_threads)
    return sim


# ---------------------------------------------------------------------------------------
# the figure

_NAMES = {"iou": "IoU", "giou": "GIoU", "diou": "DIoU", "ciou": "CIoU"}
_COLOURS = {"iou": "k", "giou": "tab:blue", "diou": "tab:red", "ciou": "tab:cyan"}
_MODE_TITLE = {
    "exact": "exact gradients (autograd of losskit's losses)",
    "authors": "the authors' hand-coded gradients (the paper's figure)",
}


def plot_box_simulation(sims: Sequence[BoxSimulation], path: str | Path | None = None) -> Any:
    """Draw one row per simulation (e.g. exact next to authors'): the total error against
    the iteration for each loss (log scale), then, per loss, the map of the final error
    summed over each anchor point's 343 cases (one colour scale for the whole figure).

    Returns the matplotlib figure; if ``path`` is given, saves it there and closes it.
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    if not sims:
        raise ValueError("plot_box_simulation: no simulation to draw")
    n_maps = max(len(s.losses) for s in sims)
    fig, axes = plt.subplots(
        len(sims),
        1 + n_maps,
        figsize=(4.6 + 2.6 * n_maps, 3.7 * len(sims)),
        squeeze=False,
        layout="constrained",
        gridspec_kw={"width_ratios": [1.7] + [1.0] * n_maps},
    )
    finals = torch.cat([v for s in sims for v in s.final_error.values()])
    floor = max(float(finals.max()) * 1e-6, 1e-9)
    norm = LogNorm(vmin=max(float(finals.min()), floor), vmax=max(float(finals.max()), floor * 10))
    mappable = None
    for row, sim in zip(axes, sims, strict=True):
        ax = row[0]
        for name in sim.losses:
            ax.plot(
                range(sim.iterations + 1),
                sim.curves[name].numpy(),
                color=_COLOURS[name],
                lw=1.6,
                label=f"{_NAMES[name]}: {100 * sim.remaining(name):.3g} % left",
            )
        ax.set_yscale("log")
        ax.set(xlabel="iteration", ylabel="total error")
        ax.set_title(f"{_MODE_TITLE[sim.gradients]}\n{sim.cases:,} cases", fontsize=9)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, which="both")
        xy = sim.centres.numpy()
        for ax, name in zip(row[1:], sim.losses, strict=False):
            vals = sim.final_error[name].clamp_min(floor).numpy()
            mappable = ax.scatter(xy[:, 0], xy[:, 1], c=vals, s=9, norm=norm, cmap="viridis")
            ax.set_aspect("equal")
            ax.set_title(
                f"{_NAMES[name]}, {sim.gradients}\nfinal error, sum {float(sim.final_error[name].sum()):.3g}",
                fontsize=9,
            )
            ax.set_xticks([7, 10, 13])
            ax.set_yticks([7, 10, 13])
            ax.tick_params(labelsize=8)
        for ax in row[1 + len(sim.losses) :]:
            ax.axis("off")
    if mappable is not None:
        fig.colorbar(
            mappable,
            ax=axes[:, 1:].ravel().tolist(),
            shrink=0.8,
            label="final error of the point's 343 cases",
        )
    if path is not None:
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
    return fig
