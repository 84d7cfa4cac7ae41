"""The one box-geometry core of losskit: formats, sizes, areas, intersection, union,
enclosing box, centres, and the IoU family built on them.

Every box loss (:mod:`losskit.functional.box`) and every pairwise similarity comes from
here. Two forms of the same formulas live in this file:

* the **composable** form (:func:`iou_similarity`): plain tensor operations on boxes that
  broadcast, differentiated by autograd. It serves the pairwise ``N x M`` matrices (boxes
  broadcast as ``(N, 1, 4)`` against ``(1, M, 4)``), EIoU and SIoU with an exponent,
  and higher-order gradients;
* the **fused** form (:class:`FusedIoU`): the same losses, IoU to SIoU, for equal-shape
  box pairs with a hand-derived backward pass, used by the eager box losses. It keeps only
  the inputs for the backward pass (recomputing the rest) and works on a few reused buffers,
  so it allocates a handful of temporaries where autograd allocates dozens. It is tested
  against the composable form (values and gradients, every option, alpha-IoU's power
  included).

Both take alpha-IoU's ``power`` (He et al. 2021): ``IoU^power`` and each additive penalty
term to the power (:func:`power_term`). 3-D boxes ``(x1, y1, z1, x2, y2, z2)`` have their IoU
and GIoU in :func:`iou_similarity_3d`, composable only, with the same conventions.

Conventions shared by both forms (boxes ``(..., 4)`` in ``(x1, y1, x2, y2)``):

* **Sizes** are ``w = max(x2 - x1, 0)``, ``h = max(y2 - y1, 0)``. An *inverted* box
  (``x2 < x1`` or ``y2 < y1``) is not reordered: it counts as a box of zero width (height),
  so its area and its intersection with anything are 0, and its aspect term is that of a
  degenerate box. Its corners still enter the enclosing box and the centre distance as
  given, so GIoU/DIoU/CIoU keep pulling it toward the target. (torchvision multiplies the
  signed sizes, so a box inverted in both axes gets a *positive* area.) The gradient of a
  clamped size passes where the size is ``>= 0``, so a zero-width box can grow.
* **eps** (``> 0``) enters every ratio: ``IoU = I / (U + eps)``, the GIoU penalty
  ``(C - U) / (C + eps)``, the DIoU diagonal ``c^2 + eps``, CIoU's
  ``alpha = v / (1 - IoU + v + eps)``. Identical boxes give a loss of exactly 0 and finite
  gradients; a zero-width or zero-height (even a zero-area) box gives a finite loss and
  finite gradients.
* **The aspect angle** is ``atan2(w, h)`` (equal to ``atan(w / h)`` for positive sizes, and
  finite at ``h = 0``, where torchvision's ``atan(w / h)`` gives NaN gradients); at
  ``w = h = 0`` its value is 0 with a zero gradient.
* No data-dependent Python control flow and no boolean-mask indexing: nothing here
  synchronises an accelerator with the host.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._autograd import partial_inputs
from ._checks import check_floating, check_last_dim
from ._powers import power as _power
from ._workspace import keepable, kept, new_buffer

__all__ = [
    "BOX_FORMATS",
    "ALPHA_MODES",
    "V_GRADS",
    "box_convert",
    "to_xyxy",
    "box_sizes",
    "box_area",
    "intersection_sizes",
    "enclosing_sizes",
    "centre_offset",
    "aspect_angle",
    "iou_similarity",
    "power_term",
    "iou_similarity_3d",
    "FusedIoU",
]

BOX_FORMATS: tuple[str, ...] = ("xyxy", "xywh", "cxcywh")
#: CIoU's trade-off weight: "detach" (torchvision, no gradient), "grad" (with gradient),
#: "threshold" (the authors' later form: 0 where IoU < 0.5, no gradient).
ALPHA_MODES: tuple[str, ...] = ("detach", "grad", "threshold")
#: CIoU's v gradient: "exact" (autograd's), "paper" (the DIoU paper's, without 1/(w^2+h^2)).
V_GRADS: tuple[str, ...] = ("exact", "paper")

#: 4 / pi^2, which maps the squared arctangent difference (at most (pi/2)^2) into [0, 1].
V_SCALE = 4.0 / math.pi**2


# ---------------------------------------------------------------------------------------
# formats


def to_xyxy(boxes: Tensor, fmt: str) -> Tensor:
    """``boxes`` (``(..., 4)`` in ``fmt``) as ``(x1, y1, x2, y2)``; ``xyxy`` is returned as is."""
    if fmt == "xyxy":
        return boxes
    a, b = boxes[..., :2], boxes[..., 2:]
    if fmt == "xywh":
        return torch.cat([a, a + b], dim=-1)
    half = b * 0.5
    return torch.cat([a - half, a + half], dim=-1)


def _from_xyxy(boxes: Tensor, fmt: str) -> Tensor:
    if fmt == "xyxy":
        return boxes
    p1, p2 = boxes[..., :2], boxes[..., 2:]
    if fmt == "xywh":
        return torch.cat([p1, p2 - p1], dim=-1)
    return torch.cat([(p1 + p2) * 0.5, p2 - p1], dim=-1)


def box_convert(boxes: Tensor, in_fmt: str, out_fmt: str) -> Tensor:
    r"""Convert boxes ``(..., 4)`` between ``"xyxy"``, ``"xywh"`` and ``"cxcywh"``.

    ``xyxy`` is ``(x1, y1, x2, y2)``, ``xywh`` is ``(x1, y1, w, h)``, ``cxcywh`` is
    ``(cx, cy, w, h)``. The conversion is linear (differentiable) and never reorders
    corners: an inverted box stays inverted (negative width).

    Args:
        boxes: floating tensor ``(..., 4)``.
        in_fmt: format of ``boxes``.
        out_fmt: wanted format.

    Returns:
        A new tensor ``(..., 4)`` in ``out_fmt`` (a copy even when the formats agree).

    Raises:
        TypeError: ``boxes`` is not a floating tensor.
        ValueError: last dimension is not 4, or an unknown format.

    Example:
        >>> import torch
        >>> box_convert(torch.tensor([[1.0, 2.0, 4.0, 8.0]]), "xyxy", "cxcywh")
        tensor([[2.5000, 5.0000, 3.0000, 6.0000]])
    """
    fn = "box_convert"
    check_floating(fn, "boxes", boxes)
    check_last_dim(fn, "boxes", boxes, 4)
    for name, fmt in (("in_fmt", in_fmt), ("out_fmt", out_fmt)):
        if fmt not in BOX_FORMATS:
            raise ValueError(
                f"{fn}: {name} must be one of {', '.join(map(repr, BOX_FORMATS))}; got {fmt!r}"
            )
    if in_fmt == out_fmt:
        return boxes.clone()
    return _from_xyxy(to_xyxy(boxes, in_fmt), out_fmt)


# ---------------------------------------------------------------------------------------
# composable primitives: xyxy boxes that broadcast against each other


def _nonneg(x: Tensor) -> Tensor:
    """``max(x, 0)`` whose gradient passes where ``x >= 0`` (``clamp_min`` and ``relu`` pass
    it only where ``x > 0``, which would freeze a zero-width box: it could never grow)."""
    return torch.where(x >= 0, x, torch.zeros_like(x))


def box_sizes(b: Tensor) -> Tensor:
    """``(w, h) = max(x2 - x1, 0), max(y2 - y1, 0)`` as ``(..., 2)`` (inverted -> 0)."""
    return _nonneg(b[..., 2:] - b[..., :2])


def box_area(b: Tensor) -> Tensor:
    """``w * h`` with the clamped sizes of :func:`box_sizes`, shape ``(...)``."""
    wh = box_sizes(b)
    return wh[..., 0] * wh[..., 1]


def intersection_sizes(a: Tensor, b: Tensor) -> Tensor:
    """Width and height of ``a ∩ b``: ``max(min(a2, b2) - max(a1, b1), 0)``, ``(..., 2)``."""
    return _nonneg(torch.minimum(a[..., 2:], b[..., 2:]) - torch.maximum(a[..., :2], b[..., :2]))


def enclosing_sizes(a: Tensor, b: Tensor) -> Tensor:
    """Width and height of the smallest box enclosing ``a`` and ``b``, ``(..., 2)``."""
    return _nonneg(torch.maximum(a[..., 2:], b[..., 2:]) - torch.minimum(a[..., :2], b[..., :2]))


def centre_offset(a: Tensor, b: Tensor) -> Tensor:
    """``centre(a) - centre(b)`` as ``(..., 2)`` (from the raw corners)."""
    return ((a[..., :2] + a[..., 2:]) - (b[..., :2] + b[..., 2:])) * 0.5


def aspect_angle(wh: Tensor) -> Tensor:
    """``atan2(w, h)``; 0 with a zero gradient where ``w = h = 0`` (a point box)."""
    w, h = wh[..., 0], wh[..., 1]
    ok = (w > 0) | (h > 0)
    one = torch.ones_like(w)
    # double where: the (0, 0) branch never reaches atan2's backward (0/0 there)
    return torch.where(
        ok, torch.atan2(torch.where(ok, w, one), torch.where(ok, h, one)), torch.zeros_like(w)
    )


def _ciou_alpha(iou: Tensor, v: Tensor, eps: float, alpha_mode: str) -> Tensor:
    if alpha_mode == "grad":
        return v / (1.0 - iou + v + eps)
    with torch.no_grad():
        alpha = v / (1.0 - iou + v + eps)
        if alpha_mode == "threshold":
            alpha = torch.where(iou >= 0.5, alpha, torch.zeros_like(alpha))
    return alpha


def power_term(x: Tensor, power: float) -> Tensor:
    """``x^power`` of a non-negative IoU or penalty term (alpha-IoU); ``x`` itself for power 1.

    A term at or below 0 (a penalty that vanishes, or one that rounding leaves a hair below
    0) gives 0 with a zero gradient. For ``power >= 1`` that is the true derivative at 0
    (``power x^(power - 1)`` is 0 there, or 1 at power 1, which returns ``x`` unchanged), and
    nothing below 0 reaches a fractional power (NaN).
    """
    if power == 1.0:
        return x
    pos = x > 0
    return torch.where(pos, _power(torch.where(pos, x, torch.ones_like(x)), power),
                       torch.zeros_like(x))  # fmt: skip


def _power_nonneg(x: Tensor, power: float) -> Tensor:
    """:func:`power_term` outside autograd (the fused passes): for ``power >= 1`` a clamp at 0
    and :func:`~losskit._powers.power` (products for the integer and half-integer exponents)
    instead of two selects and torch's general ``pow``."""
    if power < 1.0:
        return power_term(x, power)
    return _power(x.clamp_min(0), power)


def iou_similarity(
    a: Tensor,
    b: Tensor,
    kind: str,
    *,
    eps: float = 1e-7,
    alpha_mode: str = "detach",
    v_grad: str = "exact",
    shape_exponent: float = 4.0,
    power: float = 1.0,
) -> Tensor:
    """The similarity of one member of the IoU family (its loss is ``1 - similarity``),
    composable form.

    ``a`` (predicted) and ``b`` (target) are xyxy boxes that broadcast against each other;
    ``kind`` is ``"iou" | "giou" | "diou" | "ciou" | "eiou" | "siou"``. The formulas are
    those of :mod:`losskit.functional.box`; the conventions those of this module. ``power``
    is alpha-IoU's exponent (He et al. 2021): ``IoU^power`` minus each additive penalty term
    of the loss raised to ``power`` (GIoU's and SIoU's penalty as one term, DIoU's distance
    term, CIoU's distance and ``alpha v`` terms, EIoU's distance, width and height terms);
    CIoU's ``alpha`` is computed from the plain IoU.
    """
    wh_a, wh_b = box_sizes(a), box_sizes(b)
    iwh = intersection_sizes(a, b)
    inter = iwh[..., 0] * iwh[..., 1]
    union = wh_a[..., 0] * wh_a[..., 1] + wh_b[..., 0] * wh_b[..., 1] - inter
    iou = inter / (union + eps)
    if power != 1.0:
        return _powered_similarity(a, b, kind, iou, union, wh_a, wh_b, eps, alpha_mode, v_grad,
                                   shape_exponent, power)  # fmt: skip
    if kind == "iou":
        return iou
    cwh = enclosing_sizes(a, b)
    if kind == "giou":
        area_c = cwh[..., 0] * cwh[..., 1]
        return iou - (area_c - union) / (area_c + eps)
    d = centre_offset(a, b)
    if kind == "siou":
        return iou - _siou_penalty(d, cwh, wh_a, wh_b, eps, shape_exponent)
    c2 = (cwh * cwh).sum(-1) + eps
    sim = iou - (d * d).sum(-1) / c2
    if kind == "diou":
        return sim
    if kind == "eiou":
        dwh = wh_a - wh_b
        return sim - (dwh * dwh / (cwh * cwh + eps)).sum(-1)
    return sim - _ciou_alpha_v(iou, wh_a, wh_b, eps, alpha_mode, v_grad)


def _ciou_alpha_v(
    iou: Tensor, wh_a: Tensor, wh_b: Tensor, eps: float, alpha_mode: str, v_grad: str
) -> Tensor:
    """CIoU's aspect term ``alpha v``."""
    ang_a, ang_b = aspect_angle(wh_a), aspect_angle(wh_b)
    if v_grad == "paper":
        # the DIoU paper's dv/dw, dv/dh omit the factor 1/(w^2 + h^2): scale the angle's
        # gradient by (w^2 + h^2) and leave its value alone
        s_a = (wh_a * wh_a).sum(-1).detach()
        s_b = (wh_b * wh_b).sum(-1).detach()
        ang_a = ang_a.detach() + (ang_a - ang_a.detach()) * s_a
        ang_b = ang_b.detach() + (ang_b - ang_b.detach()) * s_b
    diff = ang_b - ang_a
    v = V_SCALE * diff * diff
    return _ciou_alpha(iou, v, eps, alpha_mode) * v


def _powered_similarity(
    a: Tensor, b: Tensor, kind: str, iou: Tensor, union: Tensor, wh_a: Tensor, wh_b: Tensor,
    eps: float, alpha_mode: str, v_grad: str, shape_exponent: float, power: float,
) -> Tensor:  # fmt: skip
    """alpha-IoU: ``IoU^power - sum_k R_k^power`` over the loss's additive penalty terms."""
    sim = power_term(iou, power)
    if kind == "iou":
        return sim
    cwh = enclosing_sizes(a, b)
    if kind == "giou":
        area_c = cwh[..., 0] * cwh[..., 1]
        return sim - power_term((area_c - union) / (area_c + eps), power)
    d = centre_offset(a, b)
    if kind == "siou":
        return sim - power_term(_siou_penalty(d, cwh, wh_a, wh_b, eps, shape_exponent), power)
    c2 = (cwh * cwh).sum(-1) + eps
    sim = sim - power_term((d * d).sum(-1) / c2, power)
    if kind == "diou":
        return sim
    if kind == "eiou":
        dwh = wh_a - wh_b
        return sim - power_term(dwh * dwh / (cwh * cwh + eps), power).sum(-1)
    return sim - power_term(_ciou_alpha_v(iou, wh_a, wh_b, eps, alpha_mode, v_grad), power)


def _siou_penalty(
    d: Tensor, cwh: Tensor, wh_a: Tensor, wh_b: Tensor, eps: float, shape_exponent: float
) -> Tensor:
    # angle cost: Lambda = 1 - 2 sin^2(arcsin(x) - pi/4) = sin(2 alpha), alpha the angle of the
    # centre line to its nearest axis; sin(2 alpha) = 2 |dx| |dy| / (dx^2 + dy^2): no arcsin, no
    # sqrt, and 0 (not 0/0) for coincident centres thanks to eps
    ad = d.abs()
    lam = 2.0 * ad[..., 0] * ad[..., 1] / ((d * d).sum(-1) + eps)
    gamma = (2.0 - lam).unsqueeze(-1)
    rho = (d / (cwh + eps)) ** 2
    dist = (1.0 - torch.exp(-gamma * rho)).sum(-1)
    omega = (wh_a - wh_b).abs() / (torch.maximum(wh_a, wh_b) + eps)
    # power_term: a side that matches exactly (omega = 0) gives 0 with a zero gradient for
    # every exponent (0^theta's derivative is infinite below theta = 1: inf * 0 was NaN)
    shape = power_term(1.0 - torch.exp(-omega), shape_exponent).sum(-1)
    return 0.5 * (dist + shape)


# ---------------------------------------------------------------------------------------
# fused form: IoU / GIoU / DIoU / CIoU, and EIoU / SIoU (power 1), with an analytic backward
#
# The kernels below work on one block of boxes transposed to (4, c): rows 0-1 are (x1, y1),
# rows 2-3 (x2, y2), so every (x, y) pair is a contiguous (2, c) block and each operation
# is one vectorised pass. The driver (FusedIoU) walks the boxes in blocks of _BLOCK on the
# CPU, so every temporary stays in cache and is small enough to be reused from the
# allocator's free lists instead of being page-faulted in afresh; on an accelerator a block
# is the whole batch. Only the loss and the gradient are full size.

#: boxes per block on the CPU: 32 Ki measured 10-17 % faster than 16 Ki at 1,000,000 boxes
#: (GIoU, CIoU; AMD EPYC, 512 KiB L2 per core: fewer operations' dispatch), the same at
#: 100,000
_BLOCK = 32768


def _fused(
    p: Tensor, t: Tensor, kind: str, eps: float, alpha_mode: str, power: float = 1.0,
    shape_exponent: float = 4.0,
) -> dict[str, Tensor]:  # fmt: skip
    """Forward quantities of one (4, c) block: the loss and what the backward pass needs
    (the backward pass calls this again rather than keeping them between the passes).

    ``power != 1`` (alpha-IoU) gives ``1 - IoU^power + sum_k R_k^power`` over the penalty
    terms ``R_k`` (GIoU's ``pen``, the distance term ``dist``, CIoU's ``av = alpha v``), which
    are kept for the backward pass."""
    if power != 1.0:
        return _fused_powered(p, t, kind, eps, alpha_mode, power)
    p1, p2, t1, t2 = p[:2], p[2:], t[:2], t[2:]
    whp = torch.sub(p2, p1).clamp_min_(0)
    wht = torch.sub(t2, t1).clamp_min_(0)
    # the intersection's and the enclosing box's sizes before their clamp at 0 are kept: the
    # backward pass's clamp masks are their signs (min - max >= 0 exactly when min >= max)
    iraw = torch.minimum(p2, t2).sub_(torch.maximum(p1, t1))
    iwh = iraw.clamp_min(0)
    inter = iwh[0] * iwh[1]
    ue = torch.mul(whp[0], whp[1]).addcmul_(wht[0], wht[1]).sub_(inter).add_(eps)  # union + eps
    iou = inter / ue
    out = {"whp": whp, "wht": wht, "iraw": iraw, "iwh": iwh, "inter": inter, "ue": ue,
           "iou": iou}  # fmt: skip
    loss = torch.neg(iou).add_(1.0)
    if kind != "iou":
        craw = torch.maximum(p2, t2).sub_(torch.minimum(p1, t1))
        cwh = craw.clamp_min(0)
        out.update(craw=craw, cwh=cwh)
        if kind == "giou":
            ce = torch.mul(cwh[0], cwh[1]).add_(eps)  # C + eps
            # (C - U) / (C + eps) = 1 - (U + eps) / (C + eps)
            loss.add_(1.0).sub_(ue / ce)
            out["ce"] = ce
        elif kind == "siou":
            d = _centre_offset(p, t, out)
            out.update(_siou_terms(d, cwh, whp, wht, eps, shape_exponent))
            loss.add_(out["pen"])
        else:
            c2 = torch.mul(cwh[0], cwh[0]).addcmul_(cwh[1], cwh[1]).add_(eps)
            d = _centre_offset(p, t, out)
            rho2 = torch.mul(d[0], d[0]).addcmul_(d[1], d[1])
            loss.add_(rho2 / c2)
            out.update(c2=c2, d=d, rho2=rho2)
            if kind == "eiou":
                # the side terms (w_p - w_t)^2 / (cw^2 + eps), (h_p - h_t)^2 / (ch^2 + eps)
                dwh = torch.sub(whp, wht)
                cw2e = torch.mul(cwh, cwh).add_(eps)
                side = torch.mul(dwh, dwh).div_(cw2e)
                loss.add_(side[0]).add_(side[1])
                out.update(dwh=dwh, cw2e=cw2e, side=side)
            if kind == "ciou":
                dang = _angle_diff(wht, whp)
                v = dang.pow(2).mul_(V_SCALE)
                alpha = v / torch.neg(iou).add_(1.0 + eps).add_(v)
                if alpha_mode == "threshold":
                    alpha.mul_(_ge(iou, 0.5))  # a 0/1 float: a bool factor costs ~5 products
                loss.addcmul_(alpha, v)
                out.update(dang=dang, v=v, alpha=alpha)
    out["loss"] = loss
    return out


def _centre_offset(p: Tensor, t: Tensor, out: dict[str, Tensor]) -> Tensor:
    """The centre offset ``((p1 - t1) + (p2 - t2)) / 2`` of a ``(4, c)`` block (0 exactly for
    equal boxes); the corner offsets ``p - t`` go into ``out["dpt"]``, whose signs the
    backward pass's min/max shares are."""
    dpt = torch.sub(p, t)
    out["dpt"] = dpt
    return torch.add(dpt[:2], dpt[2:]).mul_(0.5)


def _siou_terms(
    d: Tensor, cwh: Tensor, whp: Tensor, wht: Tensor, eps: float, theta: float
) -> dict[str, Tensor]:
    """SIoU's penalty ``0.5 (dist + shape)`` of one ``(2, c)`` block (the composable form's
    :func:`_siou_penalty`) and what its backward needs: ``lam = 2 |dx| |dy| / S`` with ``S =
    dx^2 + dy^2 + eps``, ``gamma = 2 - lam``, ``rho_k = (d_k / (c_k + eps))^2``, ``e_k =
    exp(-gamma rho_k)``, ``dist = sum_k 1 - e_k``; ``omega_k = |w_p - w_t| / (max(w_p, w_t) +
    eps)`` per side, ``shape = sum_k power_term(1 - exp(-omega_k), theta)``."""
    ad = d.abs()
    big_s = torch.mul(d[0], d[0]).addcmul_(d[1], d[1]).add_(eps)
    lam = torch.mul(ad[0], ad[1]).mul_(2.0).div_(big_s)
    gamma = torch.neg(lam).add_(2.0)
    ce = torch.add(cwh, eps)
    qd = torch.div(d, ce)
    rho = torch.mul(qd, qd)
    e = torch.mul(rho, gamma).neg_().exp_()
    dwh = torch.sub(whp, wht)
    me = torch.maximum(whp, wht).add_(eps)
    omega = dwh.abs().div_(me)
    eo = torch.neg(omega).exp_()
    sv = torch.neg(eo).add_(1.0)
    shape = _power_nonneg(sv, theta)
    pen = torch.neg(e[0]).sub_(e[1]).add_(2.0).add_(shape[0]).add_(shape[1]).mul_(0.5)
    return {"d": d, "ad": ad, "big_s": big_s, "lam": lam, "gamma": gamma, "ce": ce, "qd": qd,
            "rho": rho, "e": e, "dwh": dwh, "me": me, "omega": omega, "eo": eo, "sv": sv,
            "pen": pen}  # fmt: skip


def _siou_grads(
    q: dict[str, Tensor], g: Tensor, theta: float, want_t: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """``(g_d, g_cwh, g_whp, g_wht)`` of SIoU's penalty for the upstream gradient ``g``:
    ``g_d`` per corner of ``p`` (half the derivative in the centre offset ``d``), ``g_cwh``
    on the enclosing sizes, ``g_whp``/``g_wht`` on the two boxes' sizes. With ``h = g / 2``:

    * ``d dist / d rho_k = gamma e_k``, ``d dist / d gamma = sum_k rho_k e_k``, ``d gamma /
      d lam = -1``; ``d rho_k / d d_k = 2 q_k / c'_k`` and ``d rho_k / d c_k = -2 rho_k /
      c'_k`` (``q_k = d_k / c'_k``, ``c'_k = c_k + eps``);
    * ``d lam / d d_k = 2 (sign(d_k) |d_other| - lam d_k) / S`` (``sign(0) = 0``, as
      autograd's ``abs``);
    * ``d shape / d omega_k = theta sv_k^(theta - 1) exp(-omega_k)`` (0 where ``sv_k = 0``
      below ``theta = 1``, :func:`power_term`), ``d omega_k / d w_p = (sign(w_p - w_t) -
      omega_k s_p) / m'_k`` and ``d omega_k / d w_t = (-sign(w_p - w_t) - omega_k (1 - s_p)) /
      m'_k``, ``s_p`` the predicted side's share of the maximum (1/2 at a tie, as autograd's
      ``torch.maximum``)."""
    h = torch.mul(g, 0.5)
    e, rho, gamma, qd, ce = q["e"], q["rho"], q["gamma"], q["qd"], q["ce"]
    g_rho = torch.mul(e, gamma).mul_(h)  # (2, c)
    g_lam = torch.mul(rho, e).sum(0).mul_(h).neg_()  # (c,)
    d, ad, lam = q["d"], q["ad"], q["lam"]
    dlam = torch.sign(d).mul_(ad.flip(0)).sub_(torch.mul(d, lam)).mul_(g_lam.mul_(2.0).div_(q["big_s"]))
    g_d = torch.mul(qd, g_rho).div_(ce).add_(dlam.mul_(0.5))  # 0.5 * (2 q / c' g_rho + ...)
    g_cwh = g_rho.mul_(rho).div_(ce).mul_(-2.0)
    sv, omega = q["sv"], q["omega"]
    # power_term(sv, 1) is sv itself (derivative 1 at 0 too); otherwise 0 where sv = 0
    g_s = h.expand(sv.shape) if theta == 1.0 else _dpow(sv, theta).mul_(h)
    g_om = torch.mul(g_s, q["eo"]).div_(q["me"])
    sgn = torch.sign(q["dwh"])
    share = _share(q["whp"], q["wht"])
    g_whp = torch.mul(omega, share).neg_().add_(sgn).mul_(g_om)
    g_wht = None
    if want_t:
        g_wht = share.sub_(1.0).mul_(omega).sub_(sgn).mul_(g_om)
    return g_d, g_cwh, g_whp, g_wht


def _fused_powered(
    p: Tensor, t: Tensor, kind: str, eps: float, alpha_mode: str, power: float
) -> dict[str, Tensor]:
    # the plain quantities, then each term raised to the power (a term <= 0 gives 0)
    if kind in ("eiou", "siou"):
        raise ValueError(f"FusedIoU: {kind} is fused for power 1 only (use iou_similarity)")
    out = _fused(p, t, "iou" if kind == "iou" else "diou" if kind == "ciou" else kind, eps,
                 alpha_mode)  # fmt: skip
    loss = _power_nonneg(out["iou"], power).neg_().add_(1.0)
    if kind == "giou":
        out["pen"] = torch.div(out["ue"], out["ce"]).neg_().add_(1.0)  # (C - U) / (C + eps)
        loss.add_(_power_nonneg(out["pen"], power))
    elif kind != "iou":
        out["dist"] = out["rho2"] / out["c2"]
        loss.add_(_power_nonneg(out["dist"], power))
        if kind == "ciou":
            dang = _angle_diff(out["wht"], out["whp"])
            v = dang.pow(2).mul_(V_SCALE)
            alpha = v / torch.neg(out["iou"]).add_(1.0 + eps).add_(v)
            if alpha_mode == "threshold":
                alpha.mul_(_ge(out["iou"], 0.5))
            out.update(dang=dang, v=v, alpha=alpha, av=alpha * v)
            loss.add_(_power_nonneg(out["av"], power))
    out["loss"] = loss
    return out


def _dpow(x: Tensor, power: float) -> Tensor:
    """``d x^power / dx = power x^(power - 1)`` for ``x > 0``, 0 elsewhere, for any ``power >
    0`` (below 1, the ``inf`` of ``0^(power - 1)`` at ``x = 0`` is discarded by the select;
    no autograd runs through it)."""
    if power > 1.0:  # x^(power - 1) is 0 at x = 0 already: a clamp, no select
        return _power(x.clamp_min(0), power - 1.0).mul_(power)
    return torch.where(x > 0, x.clamp_min(0).pow(power - 1.0).mul_(power), torch.zeros_like(x))


#: the aspect ratios w / h are capped here in :func:`_angle_diff` (their product stays finite
#: in float32; atan of the cap is pi/2 to within 2^-60)
_RATIO_CAP = 2.0**60


def _angle_diff(wht: Tensor, whp: Tensor) -> Tensor:
    """``atan2(w_t, h_t) - atan2(w_p, h_p)`` for sizes ``>= 0`` (``(2, c)`` each), with one
    ``atan`` (the CPU's ``atan`` is not vectorised: 3 ns per element here, ten cheap passes'
    worth): ``atan(a) - atan(b) = atan((a - b) / (1 + a b))`` for ``a, b >= 0``, with the
    ratios ``a = w / max(h, tiny)`` capped at 2^60 (``h = 0`` gives pi/2, a point box 0, as
    atan2 of its ratio). The backward pass never differentiates it."""
    tiny = torch.finfo(wht.dtype).tiny
    a = torch.div(wht[0], wht[1].clamp_min(tiny)).clamp_max_(_RATIO_CAP)
    b = torch.div(whp[0], whp[1].clamp_min(tiny)).clamp_max_(_RATIO_CAP)
    den = torch.mul(a, b).add_(1.0)
    return a.sub_(b).div_(den).atan_()


def _fused_backward(
    g: Tensor,
    p: Tensor,
    t: Tensor,
    kind: str,
    eps: float,
    alpha_mode: str,
    v_grad: str,
    want_t: bool,
    power: float = 1.0,
    q: dict[str, Tensor] | None = None,
    shape_exponent: float = 4.0,
) -> tuple[Tensor, Tensor | None]:
    """Gradients ``(4, c)`` of one block for the upstream gradient ``g`` (``(c,)``, or a
    0-dim tensor that broadcasts); ``q`` is the block's :func:`_fused` (recomputed when not
    given), whose entries this consumes in place."""
    if q is None:
        q = _fused(p, t, kind, eps, alpha_mode, power, shape_exponent)
    p1, p2, t1, t2 = p[:2], p[2:], t[:2], t[2:]
    whp, wht, iwh, ue = q["whp"], q["wht"], q["iwh"], q["ue"]

    # alpha-IoU: the chain rule through each powered term, d R^a / dR = a R^(a - 1); the
    # upstream gradient of each term (g_pen for GIoU's penalty, g_dist for the distance term,
    # g_av for CIoU's alpha v) then flows through the plain formulas below
    g_dist = g_pen = g_av = g
    g_side = None  # EIoU's side terms' gradient on the sizes of p
    siou_wh: tuple[Tensor, Tensor | None] | None = None  # SIoU's shape cost's, on p and t
    if power != 1.0:
        if kind != "iou":
            g_pen = g_dist = g * _dpow(q["pen" if kind == "giou" else "dist"], power)
        if kind == "ciou":
            g_av = g * _dpow(q["av"], power)
        g_iou = torch.mul(g, _dpow(q["iou"], power)).neg_()
        if kind == "ciou" and alpha_mode == "grad":
            # d(alpha v)/dIoU = alpha^2 (see below)
            g_iou.addcmul_(q["alpha"].pow(2), g_av)
    # dL/dIoU
    elif kind == "ciou" and alpha_mode == "grad":
        # alpha v = v^2 / D with D = 1 - IoU + v + eps: d(alpha v)/dIoU = alpha^2,
        # d(alpha v)/dv = 2 alpha - alpha^2
        g_iou = q["alpha"].pow(2).sub_(1.0).mul_(g)
    else:
        g_iou = torch.neg(g)
    # IoU = I / (U + eps), U = Ap + At - I: dIoU/dI = (ue + I) / ue^2 = (1 + IoU) / ue and
    # dIoU/dA = -I / ue^2 = -IoU / ue; written without ue^2, which overflows for sides above
    # about 4e9 in float32 and underflows for a tiny eps
    r = g_iou / ue
    g_inter = q["iou"].add(1.0).mul_(r)
    g_area = r.mul_(q["iou"]).neg_()
    if kind == "giou":
        # pen = 1 - (U + eps) / ce: dpen/dU = -1/ce, dpen/dC = (U + eps) / ce^2
        ce = q["ce"]
        g_u = torch.div(g_pen, ce)
        g_inter.add_(g_u)
        g_area.sub_(g_u)
        g_c = g_u.mul_(ue).div_(ce)
        g_cwh = q["cwh"].flip(0).mul_(g_c)  # dC/d(cw, ch) = (ch, cw)
    elif kind == "siou":
        g_d, g_cwh, g_sp, g_st = _siou_grads(q, g_dist, shape_exponent, want_t)
        siou_wh = (g_sp, g_st)
    elif kind != "iou":
        if kind == "eiou":
            # T = dwh^2 / cw2e per axis, dwh = wh_p - wh_t, cw2e = cwh^2 + eps:
            # dT/d wh_p = -dT/d wh_t = 2 dwh / cw2e, dT/d cwh = -2 cwh T / cw2e
            cw2e = q["cw2e"]
            g_side = torch.div(q["dwh"], cw2e).mul_(torch.mul(g_dist, 2.0))
            g_cwh_side = torch.mul(q["side"], q["cwh"]).div_(cw2e).mul_(torch.mul(g_dist, -2.0))
        # R = rho2 / c2 with d = (p1 + p2 - t1 - t2) / 2: dR/dp1 = dR/dp2 = d / c2,
        # dR/dc2 = -rho2 / c2^2 and dc2/d(cw, ch) = 2 (cw, ch)
        c2 = q["c2"]
        gc2 = torch.div(g_dist, c2)
        g_d = q["d"].mul_(gc2)
        g_cwh = q["cwh"].mul_(gc2.mul_(q["rho2"]).div_(c2).mul_(-2.0))
        if g_side is not None:
            g_cwh.add_(g_cwh_side)
    # area and v gradients on the sizes (w, h): dA/d(w, h) = (h, w)
    g_whp = whp.flip(0).mul_(g_area)
    g_wht = wht.flip(0).mul_(g_area) if want_t else None
    if g_side is not None:
        g_whp.add_(g_side)
        if g_wht is not None:
            g_wht.sub_(g_side)
    if siou_wh is not None:
        g_whp.add_(siou_wh[0])
        if g_wht is not None and siou_wh[1] is not None:
            g_wht.add_(siou_wh[1])
    if kind == "ciou":
        a = q["alpha"]
        gv = g_av * a if alpha_mode != "grad" else torch.mul(g_av, a).mul_(torch.neg(a).add_(2.0))
        # v = k (ang_t - ang_p)^2: dv/d ang_t = -dv/d ang_p = 2 k (ang_t - ang_p)
        coef = q["dang"].mul_(gv).mul_(2.0 * V_SCALE)
        _add_angle_grad(g_whp, whp, coef.neg(), v_grad)
        if g_wht is not None:  # i.e. want_t
            _add_angle_grad(g_wht, wht, coef, v_grad)

    # sizes -> corners; the clamp passes the gradient where the raw size is >= 0
    g_whp.mul_(_ge(p2, p1))
    gp = torch.cat([torch.neg(g_whp), g_whp])
    if g_wht is not None:  # i.e. want_t
        g_wht.mul_(_ge(t2, t1))
        gt = torch.cat([torch.neg(g_wht), g_wht])
    # intersection I = iw ih, (iw, ih) = max(min(p2, t2) - max(p1, t1), 0). Where the two
    # boxes' edges tie, min and max share the gradient equally between them, as autograd's
    # torch.minimum/maximum do: the fused backward equals autograd of the plain formulas
    # everywhere, and a perfect prediction gets no gradient
    g_iwh = iwh.flip(0).mul_(g_inter).mul_(_ge(q["iraw"], 0.0))
    # p's part of max(p1, t1) and of min(p2, t2); t's are 1 minus them. The enclosing box
    # takes min(p1, t1) and max(p2, t2), where p's parts are those same 1 minus them, so one
    # pair of shares serves both boxes: with dd = g_iwh - g_cwh,
    #   gp[:2] -= g_cwh + dd lo,  gp[2:] += g_cwh + dd hi,
    #   gt[:2] -= g_iwh - dd lo,  gt[2:] += g_iwh - dd hi
    # (as _share(p1, t1) and _share(t2, p2): (sign(p - t) + 1) / 2 on the low corners and
    # (1 - sign(p - t)) / 2 on the high ones, in one pass over the four rows)
    shares = q["dpt"] if "dpt" in q else torch.sub(p, t)
    shares.sign_()
    shares[2:].neg_()
    shares.add_(1.0).mul_(0.5)
    lo_p, hi_p = shares[:2], shares[2:]
    if kind == "iou":
        gp[:2].addcmul_(g_iwh, lo_p, value=-1.0)
        gp[2:].addcmul_(g_iwh, hi_p)
        if want_t:
            gt[:2].sub_(g_iwh).addcmul_(g_iwh, lo_p)
            gt[2:].add_(g_iwh).addcmul_(g_iwh, hi_p, value=-1.0)
    else:
        # enclosing box (cw, ch) = max(max(p2, t2) - min(p1, t1), 0)
        g_cwh.mul_(_ge(q["craw"], 0.0))
        dd = g_iwh.sub(g_cwh)
        if kind != "giou":
            # the centre distance: d(rho2 / c2)/dp1 = dp2 = g_d, dt1 = dt2 = -g_d
            gp[:2].add_(g_d)
            gp[2:].add_(g_d)
        gp[:2].sub_(g_cwh).addcmul_(dd, lo_p, value=-1.0)
        gp[2:].add_(g_cwh).addcmul_(dd, hi_p)
        if want_t:
            if kind != "giou":
                gt[:2].sub_(g_d)
                gt[2:].sub_(g_d)
            gt[:2].sub_(g_iwh).addcmul_(dd, lo_p)
            gt[2:].add_(g_iwh).addcmul_(dd, hi_p, value=-1.0)
    return gp, (gt if want_t else None)


def _share(a: Tensor, b: Tensor) -> Tensor:
    """``a``'s part of the gradient of ``max(a, b)``: 1 where ``a > b``, 1/2 at a tie, else 0
    (so ``_share(b, a)`` is ``a``'s part of ``min(a, b)``), as autograd's ``torch.maximum``
    shares it: ``(sign(a - b) + 1) / 2``, in floating point throughout (a bool mask and its
    conversion cost several times a float pass on the CPU)."""
    return torch.sub(a, b).sign_().add_(1.0).mul_(0.5)


def _ge(a: Tensor, b: Tensor | float) -> Tensor:
    """``a >= b`` as 1.0 / 0.0 in ``a``'s dtype, written straight into a float tensor."""
    return torch.ge(a, b, out=torch.empty_like(a))


def _add_angle_grad(g_wh: Tensor, wh: Tensor, coef: Tensor, v_grad: str) -> None:
    """``g_wh += coef * d atan2(w, h) / d(w, h) = coef * (h, -w) / (w^2 + h^2)``.

    ``v_grad="paper"`` drops the ``1 / (w^2 + h^2)`` factor. The exact factor is computed
    relative to ``m = max(w, h)`` (``(h/m) / (m ((w/m)^2 + (h/m)^2))``), so it neither overflows
    for huge boxes nor underflows for tiny ones; a point box (``w = h = 0``) gets 0.
    """
    hw = wh.flip(0).mul_(coef)
    hw[1].neg_()
    if v_grad == "exact":
        m = torch.maximum(wh[0], wh[1])
        tiny = torch.finfo(wh.dtype).tiny
        safe = m.clamp_min(tiny)
        rel = wh / safe
        den = torch.mul(rel[0], rel[0]).addcmul_(rel[1], rel[1]).mul_(safe)
        hw.div_(safe).div_(den.clamp_min_(tiny))
    g_wh.add_(hw)


def _blocks(n: int, device: torch.device) -> list[tuple[int, int]]:
    step = _BLOCK if device.type == "cpu" else max(n, 1)
    return [(s, min(s + step, n)) for s in range(0, n, step)]


class FusedIoU(torch.autograd.Function):
    """IoU / GIoU / DIoU / CIoU / EIoU / SIoU loss of equal-shape xyxy box pairs, analytic
    gradient.

    ``apply(pred, target, kind, eps, alpha_mode, v_grad[, power[, shape_exponent[,
    divisor]]])`` with ``pred`` and ``target`` ``(..., 4)`` returns the unreduced loss
    ``(...)``, or with a ``divisor > 0`` the 0-dim ``sum(loss) / divisor`` (``"mean"`` and
    ``"sum"`` in the same pass: no reduction nodes in the graph, the gradient computed
    already divided); ``power`` (default 1) is alpha-IoU's exponent (see
    :func:`iou_similarity`; EIoU and SIoU at 1 only), ``shape_exponent`` SIoU's theta
    (default 4). Each box's loss
    depends on its own pair only, so when an input needs a gradient the forward pass
    computes each box's derivative beside its loss from the same quantities, block by
    block, and the backward
    pass scales it by the upstream gradient: nothing is computed twice, and what is held
    between the passes is the gradient (the size of the boxes) rather than the forward
    quantities. A second backward pass through the same graph (``retain_graph=True``)
    recomputes it; under ``create_graph=True`` the backward differentiates
    :func:`iou_similarity` instead, so second derivatives are exact. Eager only: under
    ``torch.compile`` the box losses use :func:`iou_similarity`, which the compiler fuses.
    """

    @staticmethod
    def plain(
        p: Tensor, t: Tensor, kind: str, eps: float, alpha_mode: str, v_grad: str,
        power: float = 1.0, shape_exponent: float = 4.0, divisor: float | None = None,
    ) -> Tensor:  # fmt: skip
        """The same result as plain operations (:func:`~losskit._autograd.fused_apply`):
        one minus the composable :func:`iou_similarity`."""
        loss = 1.0 - iou_similarity(p, t, kind, eps=eps, alpha_mode=alpha_mode, v_grad=v_grad,
                                    shape_exponent=shape_exponent, power=power)  # fmt: skip
        return loss if divisor is None else loss.sum() / divisor

    @staticmethod
    def forward(
        ctx, p: Tensor, t: Tensor, kind: str, eps: float, alpha_mode: str, v_grad: str,
        power: float = 1.0, shape_exponent: float = 4.0, divisor: float | None = None,
    ) -> Tensor:  # fmt: skip
        ctx.save_for_backward(p, t)
        ctx.cfg = (kind, eps, alpha_mode, v_grad, power, shape_exponent)
        ctx.divisor = divisor
        need_p, need_t = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        loss, gp, gt = _fused_pass(p, t, ctx.cfg, need_p or need_t, need_t, divisor)
        ctx.grads = (gp, gt)  # not the output: ctx -> output -> grad_fn -> ctx is a cycle
        return loss

    @staticmethod
    def backward(ctx, g: Tensor):
        p, t = ctx.saved_tensors
        kind, eps, alpha_mode, v_grad, power, shape_exponent = ctx.cfg
        want_p, want_t = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        none = (None,) * 7
        divisor = ctx.divisor
        if torch.is_grad_enabled():
            # create_graph=True: differentiate the composable formulas on aliases of the saved
            # boxes, so the gradient has a graph (second derivatives are exact) and each is a
            # partial derivative (partial_inputs: a target computed from the prediction)
            p, t = partial_inputs(p, t)
            sim = iou_similarity(p, t, kind, eps=eps, alpha_mode=alpha_mode, v_grad=v_grad,
                                 power=power, shape_exponent=shape_exponent)  # fmt: skip
            loss = 1.0 - sim
            if divisor is not None:
                loss = loss.sum() / divisor
            wanted = [x for x, w in ((p, want_p), (t, want_t)) if w]
            grads = iter(torch.autograd.grad(loss, wanted, g, create_graph=True))
            return (next(grads) if want_p else None), (next(grads) if want_t else None), *none
        held, ctx.grads = ctx.grads, None
        if held is None:  # a second backward pass through this graph: recompute
            held = _fused_pass(p, t, ctx.cfg, True, want_t, divisor)[1:]
        gp, gt = held
        # the held gradients are this graph's own buffers: scale them in place
        gs = g if divisor is not None else g.unsqueeze(-1)
        return (
            gp.mul_(gs) if want_p and gp is not None else None,
            gt.mul_(gs) if want_t and gt is not None else None,
            *none,
        )


class CompiledFusedIoU(torch.autograd.Function):
    """:class:`FusedIoU`'s formulas for ``torch.compile``: same arguments and result.

    The whole batch is one block, and the gradient is computed in the forward graph from the
    same quantities as the loss and saved; the backward pass scales it by the upstream
    gradient. The compiler fuses the loss and its gradient into a few kernels, where the
    composable form's autograd graph compiles to a separate forward and backward (CIoU,
    1,000,000 boxes, one CPU thread: 43-45 ms against 109 ms, compiled torchvision 91-167 ms).
    Eager calls use :class:`FusedIoU`, whose cache-sized blocks the compiler would not need.
    A compiled graph has no second derivative (AOTAutograd does not differentiate twice).
    """

    #: the same result as plain operations: :meth:`FusedIoU.plain` (no divisor here)
    plain = staticmethod(FusedIoU.plain)

    @staticmethod
    def forward(
        ctx, p: Tensor, t: Tensor, kind: str, eps: float, alpha_mode: str, v_grad: str,
        power: float = 1.0, shape_exponent: float = 4.0,
    ) -> Tensor:  # fmt: skip
        need_p, need_t = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        pb, tb = _to_rows(p.reshape(-1, 4)), _to_rows(t.reshape(-1, 4))
        q = _fused(pb, tb, kind, eps, alpha_mode, power, shape_exponent)
        loss = q["loss"]
        bp = bt = None
        if need_p or need_t:
            one = torch.ones((), dtype=p.dtype, device=p.device)
            bp, bt = _fused_backward(one, pb, tb, kind, eps, alpha_mode, v_grad, need_t, power, q,
                                     shape_exponent)  # fmt: skip
        ctx.save_for_backward(bp if need_p else None, bt)
        return loss.view(p.shape[:-1])

    @staticmethod
    def backward(ctx, g: Tensor):
        bp, bt = ctx.saved_tensors
        gs = g.reshape(1, -1)

        def back(b: Tensor | None) -> Tensor | None:
            return None if b is None else (b * gs).t().reshape(*g.shape, 4)

        return back(bp), back(bt), None, None, None, None, None, None


def _to_rows(x: Tensor, out: Tensor | None = None) -> Tensor:
    """``(c, k)`` -> ``(k, c)`` contiguous (into ``out`` when given): one stack of the k
    columns (about 2.5x faster on CPU than ``x.t().contiguous()``, whose strided copy is not
    vectorised)."""
    return torch.stack(x.unbind(1), out=out)


#: blocks of at least this many boxes keep their ``(4, c)`` rows between calls on CPU (from
#: here a rows buffer reaches glibc's initial ``mmap`` threshold, 128 KiB in float32)
_KEPT_ROWS_MIN = 8192


def _kept_rows(like: Tensor, step: int) -> tuple[Tensor, Tensor] | None:
    """Two ``(4, step)`` buffers for the prediction's and the target's rows, kept per thread
    and dtype between calls (:mod:`losskit._workspace`): a fresh one can be mapped and
    page-faulted in on every call (GIoU at 16 Ki boxes 2.6x faster in a process whose
    allocator did so; no change at 10,000 boxes in one where it did not); None where
    :func:`~losskit._workspace.keepable` says no or below ``_KEPT_ROWS_MIN`` boxes. They are
    only read by the block (every result is a tensor of its own); at most 2 x 4 x 32 Ki
    values per thread and dtype (1 MiB in float32)."""
    if step < _KEPT_ROWS_MIN or not keepable(like):
        return None
    rows = kept("box rows", like)
    if len(rows) != 2 or rows[0].shape[1] != step:
        rows[:] = [new_buffer(like, 4, step), new_buffer(like, 4, step)]
    return rows[0], rows[1]


def _from_rows(y: Tensor, out: Tensor) -> None:
    """Write ``(k, c)`` ``y`` into ``(c, k)`` ``out``, a column at a time (about 2x faster on
    CPU than ``out.copy_(y.t())``)."""
    for k in range(y.shape[0]):
        out[:, k] = y[k]


def _fused_pass(
    p: Tensor, t: Tensor, cfg: tuple, need_grad: bool, need_t: bool,
    divisor: float | None = None,
) -> tuple[Tensor, Tensor | None, Tensor | None]:  # fmt: skip
    """``(loss (...), dloss/dp (..., 4), dloss/dt (..., 4))`` of :class:`FusedIoU`, block by
    block in the transposed ``(4, c)`` layout (the gradients only when asked); with a
    ``divisor``, ``sum(loss) / divisor`` and the gradients of that."""
    kind, eps, alpha_mode, v_grad, power, shape_exponent = cfg
    pf, tf = p.reshape(-1, 4), t.reshape(-1, 4)
    n = pf.shape[0]
    blocks = _blocks(n, p.device)
    # the upstream gradient of each box's loss: 1, or 1 / divisor (as autograd's mean has it)
    up = torch.full((), 1.0 if divisor is None else 1.0 / divisor, dtype=p.dtype,
                    device=p.device)  # fmt: skip
    per_box = divisor is None and len(blocks) > 1
    loss = torch.empty(n, dtype=p.dtype, device=p.device) if per_box else None
    sums = []
    gp = torch.empty_like(pf) if need_grad else None
    gt = torch.empty_like(tf) if need_grad and need_t else None
    rows = _kept_rows(pf, blocks[0][1] - blocks[0][0]) if blocks else None
    for s, e in blocks:
        if rows is not None and e - s == rows[0].shape[1]:
            pb, tb = _to_rows(pf[s:e], rows[0]), _to_rows(tf[s:e], rows[1])
        else:
            pb, tb = _to_rows(pf[s:e]), _to_rows(tf[s:e])
        q = _fused(pb, tb, kind, eps, alpha_mode, power, shape_exponent)
        if divisor is not None:
            sums.append(q["loss"].sum())
        elif loss is None:
            loss = q["loss"]
        else:
            loss[s:e] = q["loss"]
        if gp is not None:
            bp, bt = _fused_backward(up, pb, tb, kind, eps, alpha_mode, v_grad, need_t, power, q,
                                     shape_exponent)  # fmt: skip
            _from_rows(bp, gp[s:e])
            if gt is not None and bt is not None:
                _from_rows(bt, gt[s:e])
    if divisor is not None:
        total = sums[0] if len(sums) == 1 else torch.stack(sums).sum()
        loss = total.div_(divisor)
    elif loss is None:  # no boxes
        loss = torch.empty(0, dtype=p.dtype, device=p.device)
    return (
        loss if divisor is not None else loss.view(p.shape[:-1]),
        None if gp is None else gp.view(p.shape),
        None if gt is None else gt.view(t.shape),
    )


# ---------------------------------------------------------------------------------------
# 3-D boxes (x1, y1, z1, x2, y2, z2): IoU and GIoU, composable form


def _volume(s: Tensor) -> Tensor:
    return s[..., 0] * s[..., 1] * s[..., 2]


def iou_similarity_3d(
    a: Tensor, b: Tensor, kind: str, *, eps: float = 1e-7, power: float = 1.0
) -> Tensor:
    """IoU (``kind="iou"``) or GIoU (``"giou"``) of ``(x1, y1, z1, x2, y2, z2)`` boxes that
    broadcast against each other, with the conventions of the 2-D forms: sizes clamped at 0
    (an inverted box has volume 0, its raw corners still enter the enclosing box), ``eps``
    added to the union and the enclosing volume, alpha-IoU's ``power`` on IoU and on GIoU's
    penalty (:func:`power_term`)."""
    sa = _nonneg(a[..., 3:] - a[..., :3])
    sb = _nonneg(b[..., 3:] - b[..., :3])
    lo, hi = torch.maximum(a[..., :3], b[..., :3]), torch.minimum(a[..., 3:], b[..., 3:])
    inter = _volume(_nonneg(hi - lo))
    union = _volume(sa) + _volume(sb) - inter
    sim = power_term(inter / (union + eps), power)
    if kind == "iou":
        return sim
    lo, hi = torch.minimum(a[..., :3], b[..., :3]), torch.maximum(a[..., 3:], b[..., 3:])
    vol_c = _volume(_nonneg(hi - lo))
    return sim - power_term((vol_c - union) / (vol_c + eps), power)


# ---------------------------------------------------------------------------------------
# 3-D boxes, fused form: IoU and GIoU losses of equal-shape pairs with an analytic gradient
#
# One block of pairs transposed to (6, c): rows 0-2 the low corners (x1, y1, z1), rows 3-5
# the high ones, so each axis triple is a contiguous (3, c) block. The gradient is computed
# beside the loss in the forward pass, as FusedIoU does for 2-D boxes.


def _others(s: Tensor) -> Tensor:
    """``(3, c)``: for each axis, the product of the other two rows of ``s`` (``dV/ds_k`` of
    the volume ``V = s_0 s_1 s_2``)."""
    return torch.stack([s[1] * s[2], s[0] * s[2], s[0] * s[1]])


def _fused3d_block(
    p: Tensor, t: Tensor, giou: bool, eps: float, need_t: bool
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Loss ``(c,)`` and gradients ``(6, c)`` of one transposed block (``dL/dt`` only when
    ``need_t``). With ``I``, ``U = Va + Vb - I``, ``ue = U + eps``, ``iou = I / ue`` and,
    for GIoU, ``ce = C + eps``: ``L = 1 - iou`` (+ ``1 - ue / ce``);
    ``dL/dI = -(1 + iou) / ue`` (+ ``1 / ce``), ``dL/dVa = dL/dVb = iou / ue`` (- ``1 / ce``),
    ``dL/dC = ue / ce^2``; each volume's derivative reaches the sizes through the products
    of the other two sizes, the sizes reach the corners through the clamps (which pass the
    gradient where the raw size is ``>= 0``) and through ``min``/``max``, whose ties share it
    equally (as autograd's ``torch.minimum``/``maximum`` do)."""
    p1, p2, t1, t2 = p[:3], p[3:], t[:3], t[3:]
    rsp, rst = torch.sub(p2, p1), torch.sub(t2, t1)
    sp, st = rsp.clamp_min(0), rst.clamp_min(0)
    lo, hi = torch.maximum(p1, t1), torch.minimum(p2, t2)
    riw = hi.sub_(lo)
    iw = riw.clamp_min(0)
    oi, op, ot = _others(iw), _others(sp), _others(st)
    # the values in the order of iou_similarity_3d (and MONAI's box_pair_giou), so that the
    # loss is the same to the bit: V = (s0 s1) s2, U = (Va + Vb) - I, I / (U + eps)
    inter = oi[2] * iw[2]
    u = torch.mul(op[2], sp[2]).add_(ot[2] * st[2]).sub_(inter)
    ue = u + eps
    iou = inter.div_(ue)
    g_i = torch.add(iou, 1.0).div_(ue).neg_()
    g_v = torch.div(iou, ue)
    if giou:
        rcw = torch.maximum(p2, t2).sub_(torch.minimum(p1, t1))
        cw = rcw.clamp_min(0)
        oc = _others(cw)
        vc = oc[2] * cw[2]
        ce = vc + eps
        loss = torch.sub(vc, u).div_(ce).sub_(iou).add_(1.0)  # 1 - (IoU - (C - U) / (C + eps))
        inv_ce = ce.reciprocal()
        g_i.add_(inv_ce)
        g_v.sub_(inv_ce)
        g_cw = oc.mul_(ue.mul(inv_ce).mul_(inv_ce)).mul_(_ge(rcw, 0.0))
    else:
        loss = torch.neg(iou).add_(1.0)
    g_iw = oi.mul_(g_i).mul_(_ge(riw, 0.0))
    g_sp = op.mul_(g_v).mul_(_ge(rsp, 0.0))
    lo_p, hi_p = _share(p1, t1), _share(t2, p2)  # p's part of max(p1, t1), min(p2, t2)
    gp = torch.cat([torch.neg(g_sp), g_sp])
    if giou:
        # the enclosing box's min(p1, t1), max(p2, t2): p's parts are 1 - lo_p, 1 - hi_p
        dd = g_iw.sub(g_cw)
        gp[:3].sub_(g_cw).addcmul_(dd, lo_p, value=-1.0)
        gp[3:].add_(g_cw).addcmul_(dd, hi_p)
    else:
        gp[:3].addcmul_(g_iw, lo_p, value=-1.0)
        gp[3:].addcmul_(g_iw, hi_p)
    gt = None
    if need_t:
        g_st = ot.mul_(g_v).mul_(_ge(rst, 0.0))
        gt = torch.cat([torch.neg(g_st), g_st])
        if giou:
            gt[:3].sub_(g_iw).addcmul_(dd, lo_p)
            gt[3:].add_(g_iw).addcmul_(dd, hi_p, value=-1.0)
        else:
            gt[:3].sub_(g_iw).addcmul_(g_iw, lo_p)
            gt[3:].add_(g_iw).addcmul_(g_iw, hi_p, value=-1.0)
    return loss, gp, gt


class FusedIoU3D(torch.autograd.Function):
    """IoU (``giou=False``) or GIoU loss of equal-shape ``(..., 6)`` 3-D box pairs with the
    conventions of :func:`iou_similarity_3d` (``power`` 1), analytic gradient computed in the
    forward pass (see :class:`FusedIoU`). Eager only; double backward differentiates
    :func:`iou_similarity_3d`."""

    @staticmethod
    def plain(p: Tensor, t: Tensor, giou: bool, eps: float) -> Tensor:
        """The same result as plain operations (:func:`~losskit._autograd.fused_apply`)."""
        return 1.0 - iou_similarity_3d(p, t, "giou" if giou else "iou", eps=eps)

    @staticmethod
    def forward(ctx, p: Tensor, t: Tensor, giou: bool, eps: float) -> Tensor:
        ctx.save_for_backward(p, t)
        ctx.cfg = (giou, eps)
        need_p, need_t = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        loss, gp, gt = _fused3d_pass(p, t, giou, eps, need_t, need_p or need_t)
        ctx.grads = (gp, gt)  # not the output: ctx -> output -> grad_fn -> ctx is a cycle
        return loss

    @staticmethod
    def backward(ctx, g: Tensor):
        p, t = ctx.saved_tensors
        giou, eps = ctx.cfg
        want_p, want_t = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if torch.is_grad_enabled():
            sim = iou_similarity_3d(p, t, "giou" if giou else "iou", eps=eps)
            wanted = [x for x, w in ((p, want_p), (t, want_t)) if w]
            grads = iter(torch.autograd.grad(1.0 - sim, wanted, g, create_graph=True))
            return (next(grads) if want_p else None), (next(grads) if want_t else None), None, None
        held, ctx.grads = ctx.grads, None
        if held is None:  # a second backward pass through this graph: recompute
            held = _fused3d_pass(p, t, giou, eps, want_t, True)[1:]
        gp, gt = held
        gs = g.unsqueeze(-1)
        return (
            gp.mul_(gs) if want_p and gp is not None else None,
            gt.mul_(gs) if want_t and gt is not None else None,
            None,
            None,
        )


def _fused3d_pass(
    p: Tensor, t: Tensor, giou: bool, eps: float, need_t: bool, need_grad: bool
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """``(loss (...), dL/dp, dL/dt)`` of :class:`FusedIoU3D`, block by block (the gradients
    only when asked)."""
    pf, tf = p.reshape(-1, 6), t.reshape(-1, 6)
    n = pf.shape[0]
    loss = torch.empty(n, dtype=p.dtype, device=p.device)
    gp = torch.empty_like(pf) if need_grad else None
    gt = torch.empty_like(tf) if need_grad and need_t else None
    for s, e in _blocks(n, p.device):
        bl, bp, bt = _fused3d_block(_to_rows(pf[s:e]), _to_rows(tf[s:e]), giou,
                                    eps, need_t)  # fmt: skip
        loss[s:e] = bl
        if gp is not None:
            _from_rows(bp, gp[s:e])
        if gt is not None and bt is not None:
            _from_rows(bt, gt[s:e])
    return (
        loss.view(p.shape[:-1]),
        None if gp is None else gp.view(p.shape),
        None if gt is None else gt.view(t.shape),
    )
