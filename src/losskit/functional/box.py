"""Box regression losses of the IoU family and their pairwise ``N x M`` forms: IoU, GIoU,
DIoU, CIoU, EIoU and SIoU, plus :func:`box_convert`; each loss as a function and a module.

All of them come from the one geometry core :mod:`losskit._geometry`, whose docstring gives
the shared conventions (clamped sizes and inverted boxes, where ``eps`` enters, the aspect
angle). In short:

* boxes are ``(..., 4)``; ``box_format`` is ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``;
* the loss is ``1 - similarity``, per box ``boxes.shape[:-1]`` under ``reduction="none"``;
  an optional per-box ``weight`` gives the weighted mean ``sum(w l) / sum(w)``, a per-box
  ``mask`` leaves boxes out;
* float16/bfloat16 are computed in float32 and returned in the input dtype;
* identical boxes give 0; zero-width, zero-height and inverted boxes give finite losses and
  finite gradients; no check or computation synchronises an accelerator with the host.

IoU/GIoU/DIoU/CIoU, and EIoU and SIoU at ``iou_exponent=1``, run the fused kernel with a
hand-derived gradient computed beside the loss (:class:`losskit._geometry.FusedIoU`; under
``torch.compile`` :class:`losskit._geometry.CompiledFusedIoU`, the same formulas in one
block for the compiler to fuse); EIoU and SIoU at other exponents and the pairwise forms
run as plain tensor operations differentiated by autograd.
The default reduction is ``"mean"`` (torchvision's box losses default to ``"none"``).
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import Tensor

from .._api import DEFAULT, LossModule, checked
from .._autograd import fused_apply
from .._checks import (
    AvgFactor,
    Mask,
    NonNegative,
    Positive,
    Range,
    Weight,
    check_broadcast,
    check_floating,
    check_last_dim,
    check_same_device,
    check_same_shape,
    compute_dtype,
)
from .._geometry import (
    CompiledFusedIoU,
    FusedIoU,
    _from_xyxy,
    box_convert,
    iou_similarity,
    to_xyxy,
)
from .._reduction import Reduction, check_avg_factor, exclusion, finish_avg, zero_excluded

__all__ = [
    "box_convert",
    "iou_loss",
    "giou_loss",
    "diou_loss",
    "ciou_loss",
    "eiou_loss",
    "siou_loss",
    "box_iou",
    "generalized_box_iou",
    "distance_box_iou",
    "complete_box_iou",
    "box_to_distances",
    "distances_to_box",
    "distribution_integral",
    "IoULoss",
    "GIoULoss",
    "DIoULoss",
    "CIoULoss",
    "EIoULoss",
    "SIoULoss",
]

BoxFormat = Literal["xyxy", "xywh", "cxcywh"]
#: CIoU's trade-off weight: "detach" (torchvision, no gradient), "grad" (with gradient),
#: "threshold" (the authors' later form: 0 where IoU < 0.5, no gradient).
AlphaMode = Literal["detach", "grad", "threshold"]
#: CIoU's v gradient: "exact" (autograd's), "paper" (the DIoU paper's, without 1/(w^2+h^2)).
VGrad = Literal["exact", "paper"]
#: the IoU loss's function of IoU (mmdetection's IoULoss modes): 1 - IoU, 1 - IoU^2, -ln IoU
IoUForm = Literal["linear", "square", "log"]
#: alpha-IoU's power (He et al. 2021): >= 1, so that x^alpha has a bounded gradient at x = 0
IoUExponent = Annotated[float, Range(1.0)]

_FUSED = ("iou", "giou", "diou", "ciou")


def _paired_boxes(
    fn: str, boxes: Tensor, target: Tensor, coords: int, weight: Tensor | None,
    mask: Tensor | None, avg_factor: float | Tensor | None, reduction: Reduction,
) -> tuple[Tensor, Tensor, Tensor | None]:  # fmt: skip
    """Check the inputs of a loss of paired boxes with ``coords`` coordinates (4 in 2-D, 6 in
    3-D); return both in the compute dtype with the left-out boxes zeroed, and the kept boxes
    (``None``: all)."""
    check_avg_factor(fn, avg_factor, reduction)
    check_floating(fn, "boxes", boxes)
    check_floating(fn, "target", target)
    check_same_shape(fn, boxes, target, ("boxes", "target"))
    check_last_dim(fn, "boxes", boxes, coords)
    check_same_device(fn, ("boxes", boxes), ("target", target), ("weight", weight), ("mask", mask))
    per_box = boxes.shape[:-1]
    check_broadcast(fn, "weight", weight, per_box)
    keep = exclusion(fn, per_box, mask=mask)
    work = compute_dtype(boxes)
    return (zero_excluded(boxes.to(work), keep, 1), zero_excluded(target.to(work), keep, 1),
            keep)  # fmt: skip


def _box_loss(
    fn: str, kind: str, boxes: Tensor, target: Tensor, box_format: str, eps: float,
    weight: Tensor | None, mask: Tensor | None, reduction: Reduction, alpha_mode: str = "detach",
    v_grad: str = "exact", shape_exponent: float = 4.0, avg_factor: float | Tensor | None = None,
    power: float = 1.0, form: str = "linear",
) -> Tensor:  # fmt: skip
    p, t, keep = _paired_boxes(fn, boxes, target, 4, weight, mask, avg_factor, reduction)
    p, t = to_xyxy(p, box_format), to_xyxy(t, box_format)
    out_dtype = boxes.dtype
    if form == "log":
        # -ln(max(IoU, eps)^a) = -a ln max(IoU, eps): the floor keeps disjoint boxes finite
        iou = iou_similarity(p, t, "iou", eps=eps)
        loss = torch.log(iou.clamp_min(eps)).mul(-power)
    else:
        if form == "square":  # 1 - (IoU^a)^2
            power = 2.0 * power
        fused = kind in _FUSED or (kind in ("eiou", "siou") and power == 1.0)
        if fused and torch.compiler.is_compiling():
            loss = fused_apply(CompiledFusedIoU, p, t, kind, eps, alpha_mode, v_grad, power,
                                          shape_exponent)  # fmt: skip
        elif (fused and reduction != "none" and weight is None and keep is None
              and avg_factor is None and p.numel() > 0):  # fmt: skip
            # the reduction inside the fused pass: one node, the gradient computed divided
            divisor = 1.0 if reduction == "sum" else float(p.numel() // 4)
            total = fused_apply(FusedIoU, p, t, kind, eps, alpha_mode, v_grad, power, shape_exponent,
                                   divisor)  # fmt: skip
            return total.to(out_dtype)
        elif fused:
            loss = fused_apply(FusedIoU, p, t, kind, eps, alpha_mode, v_grad, power, shape_exponent)
        else:
            sim = iou_similarity(p, t, kind, eps=eps, alpha_mode=alpha_mode, v_grad=v_grad,
                                 shape_exponent=shape_exponent, power=power)  # fmt: skip
            loss = 1.0 - sim
    return finish_avg(fn, loss, reduction, avg_factor=avg_factor, weight=weight, keep=keep,
                      out_dtype=out_dtype)  # fmt: skip


@checked
def iou_loss(
    boxes: Tensor, target: Tensor, *, box_format: BoxFormat = "xyxy", form: IoUForm = "linear",
    iou_exponent: IoUExponent = 1.0, eps: Positive = 1e-7, weight: Weight = None,
    mask: Mask = None, avg_factor: AvgFactor = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""IoU loss: ``1 -`` the intersection over union of predicted and target boxes.

    Formula:
        l = 1 - IoU^a (linear),  1 - IoU^(2a) (square),  -a ln max(IoU, eps) (log);  IoU = |A ∩ B| / (|A ∪ B| + eps),  a = iou_exponent

    Scale-invariant, but flat (zero gradient) whenever the boxes do not overlap: a
    prediction that misses its target gets no signal at all. ``form`` chooses the function
    of IoU, as mmdetection's ``IoULoss(mode=)``: ``"linear"`` (default; the GIoU paper's
    ``1 - IoU``), ``"square"`` (``1 - IoU^2``) or ``"log"`` (UnitBox's ``-ln IoU``, with IoU
    floored at ``eps`` so that disjoint boxes give ``-ln eps``, about 16.1 for the default,
    and no gradient). ``iou_exponent`` is alpha-IoU's power, applied to IoU before the form
    (``"square"`` is then ``1 - IoU^(2a)``, ``"log"`` ``-a ln IoU``). Deliberate differences
    from mmdetection: the union gets ``+ eps`` (mmdetection: ``max(U, eps)``), and only the
    ``"log"`` form floors IoU at ``eps`` (mmdetection floors it in every mode, at ``1e-6``),
    so the default form keeps its plain value ``1 - IoU``.

    When to use:
        Scale-invariant box regression when predictions already overlap their targets (e.g.
        refining proposals); a disjoint prediction gets no gradient at all.

    Args:
        boxes: predicted boxes ``(*, 4)``, floating point.
        target: the ground-truth box of each prediction, ``(*, 4)``.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        form: ``"linear"`` (default), ``"square"`` or ``"log"``, see above.
        iou_exponent: alpha-IoU's power ``alpha >= 1`` (He et al., NeurIPS 2021,
            arXiv:2110.13675; the paper recommends 3); default 1, the plain loss.
        eps: ``> 0``, added to the union (and the floor of IoU under ``"log"``); default
            ``1e-7``.
        weight: optional non-negative per-box weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave the box out.
        avg_factor: dense detection's normaliser: ``"mean"`` divides the summed loss by
            ``max(avg_factor, 1)`` (the number of positive boxes) instead of the number (weight)
            of kept boxes; a number or a one-element tensor ``>= 0``; ``None`` (default).
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default, ``sum(w l) / sum(w)``, 0
            for an empty batch) or ``"sum"``.

    Returns:
        The loss in the dtype of ``boxes``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating boxes, a non-numeric ``eps``.
        ValueError: shapes that differ or whose last dimension is not 4, an unknown
            ``box_format``, ``form`` or ``reduction``, ``eps <= 0``, ``iou_exponent < 1``, a
            bad ``weight`` or ``mask``.

    Paper:
        Yu, Jiang, Wang, Cao, Huang, "UnitBox: An Advanced Object Detection Network", ACM MM
        2016, arXiv:1608.01471. alpha-IoU: He, Erfani, Ma, Bailey, Chi, Hua, "Alpha-IoU: A
        Family of Power Intersection over Union Losses for Bounding Box Regression", NeurIPS
        2021, arXiv:2110.13675.

    Example:
        >>> import torch
        >>> iou_loss(torch.tensor([[0.0, 0.0, 2.0, 1.0]]), torch.tensor([[1.0, 0.0, 3.0, 1.0]]))
        tensor(0.6667)
    """
    return _box_loss("iou_loss", "iou", boxes, target, box_format, eps, weight, mask, reduction,
                     avg_factor=avg_factor, power=iou_exponent, form=form)  # fmt: skip


@checked
def giou_loss(
    boxes: Tensor, target: Tensor, *, box_format: BoxFormat = "xyxy",
    iou_exponent: IoUExponent = 1.0, eps: Positive = 1e-7, weight: Weight = None,
    mask: Mask = None, avg_factor: AvgFactor = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Generalized IoU loss: the IoU loss plus the empty fraction of the enclosing box.

    Formula:
        l = 1 - IoU + (|C| - |A ∪ B|) / (|C| + eps),  C the smallest enclosing box;  l in [0, 2)

    The penalty tells a near miss from a far one, so disjoint boxes get a gradient; when one
    box contains the other, ``C`` is the larger box and GIoU equals IoU.

    ``iou_exponent = a`` gives alpha-IoU's ``1 - IoU^a + pen^a``, ``pen`` the penalty above.

    When to use:
        Box regression from anchors or queries that may not overlap their targets (DETR uses
        it): the penalty gives disjoint boxes a gradient, growing with the gap.

    Args:
        boxes: predicted boxes ``(*, 4)``, floating point.
        target: ground-truth boxes ``(*, 4)``, one per prediction.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        iou_exponent: alpha-IoU's power ``alpha >= 1`` (He et al., NeurIPS 2021,
            arXiv:2110.13675; the paper recommends 3); default 1, the plain loss.
        eps: ``> 0``, added to the union and to the enclosing area; default ``1e-7``.
        weight: optional non-negative per-box weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave the box out.
        avg_factor: dense detection's normaliser: ``"mean"`` divides the summed loss by
            ``max(avg_factor, 1)`` (the number of positive boxes) instead of the number (weight)
            of kept boxes; a number or a one-element tensor ``>= 0``; ``None`` (default).
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``boxes``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating boxes.
        ValueError: mismatched or non-``(*, 4)`` shapes, unknown ``box_format``/``reduction``,
            ``eps <= 0``, a bad ``weight``/``mask``.

    Equals ``torchvision.ops.generalized_box_iou_loss``.

    Paper:
        Rezatofighi, Tsoi, Gwak, Sadeghian, Reid, Savarese, "Generalized Intersection over
        Union: A Metric and A Loss for Bounding Box Regression", CVPR 2019, arXiv:1902.09630.

    Example:
        >>> import torch
        >>> giou_loss(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[2.0, 0.0, 3.0, 1.0]]))
        tensor(1.3333)
    """
    return _box_loss("giou_loss", "giou", boxes, target, box_format, eps, weight, mask, reduction,
                     avg_factor=avg_factor, power=iou_exponent)  # fmt: skip


@checked
def diou_loss(
    boxes: Tensor, target: Tensor, *, box_format: BoxFormat = "xyxy",
    iou_exponent: IoUExponent = 1.0, eps: Positive = 1e-7, weight: Weight = None,
    mask: Mask = None, avg_factor: AvgFactor = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Distance IoU loss: the IoU loss plus the squared centre distance over the enclosing diagonal.

    Formula:
        l = 1 - IoU + rho^2(b, b_gt) / (c^2 + eps);  penalty in [0, 1), l in [0, 2)

    ``rho`` is the distance between the box centres, ``c`` the diagonal of the enclosing box.
    It ranks boxes GIoU cannot (one inside the other) and drives the centre distance to 0
    directly.

    ``iou_exponent = a`` gives alpha-IoU's ``1 - IoU^a + (rho^2 / c^2)^a``.

    When to use:
        Box regression that should converge fast and rank nested boxes (where GIoU equals
        IoU); it pulls the centres together directly.

    Args:
        boxes: predicted boxes ``(*, 4)``, floating point.
        target: the target boxes, ``(*, 4)``.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        iou_exponent: alpha-IoU's power ``alpha >= 1`` (He et al., NeurIPS 2021,
            arXiv:2110.13675; the paper recommends 3); default 1, the plain loss.
        eps: ``> 0``, added to the union and the squared diagonal; default ``1e-7``.
        weight: optional non-negative per-box weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave the box out.
        avg_factor: dense detection's normaliser: ``"mean"`` divides the summed loss by
            ``max(avg_factor, 1)`` (the number of positive boxes) instead of the number (weight)
            of kept boxes; a number or a one-element tensor ``>= 0``; ``None`` (default).
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``boxes``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating boxes.
        ValueError: mismatched or non-``(*, 4)`` shapes, unknown ``box_format``/``reduction``,
            ``eps <= 0``, a bad ``weight``/``mask``.

    Equals ``torchvision.ops.distance_box_iou_loss``.

    Paper:
        Zheng, Wang, Liu, Li, Ye, Ren, "Distance-IoU Loss: Faster and Better Learning for
        Bounding Box Regression", AAAI 2020, arXiv:1911.08287.

    Example:
        >>> import torch
        >>> diou_loss(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[2.0, 0.0, 3.0, 1.0]]))
        tensor(1.4000)
    """
    return _box_loss("diou_loss", "diou", boxes, target, box_format, eps, weight, mask, reduction,
                     avg_factor=avg_factor, power=iou_exponent)  # fmt: skip


@checked
def ciou_loss(
    boxes: Tensor, target: Tensor, *, box_format: BoxFormat = "xyxy", eps: Positive = 1e-7,
    alpha_mode: AlphaMode = "detach", v_grad: VGrad = "exact", iou_exponent: IoUExponent = 1.0,
    weight: Weight = None, mask: Mask = None, avg_factor: AvgFactor = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Complete IoU loss: the DIoU loss plus a weighted aspect-ratio term.

    Formula:
        l = 1 - IoU + rho^2/c^2 + alpha v,  v = 4/pi^2 (atan(w_gt/h_gt) - atan(w/h))^2,  alpha = v / (1 - IoU + v)

    ``v`` measures the aspect-ratio mismatch (``atan`` bounds it, ``4/pi^2`` scales it into
    ``[0, 1]``) and ``alpha`` is small while the boxes barely overlap (overlap first) and
    grows as they align (shape second). ``alpha_mode`` chooses how alpha is treated:
    ``"detach"`` (a constant in the backward pass, as in torchvision's
    ``complete_box_iou_loss`` and the authors' released code), ``"grad"`` (differentiated like
    any other term) or ``"threshold"`` (the authors' later form, alpha = 0 where IoU < 0.5, no
    gradient; Zheng et al., IEEE Trans. Cybernetics 2021, arXiv:2005.03572). ``v_grad="paper"``
    replaces the exact gradient of ``v`` by the DIoU paper's (its eq. 12 without the factor
    ``1 / (w^2 + h^2)``); the value is unchanged. Unlike torchvision, a zero-width or
    zero-height box gives finite gradients (the aspect angle is ``atan2(w, h)``), and ``eps``
    is honoured in the DIoU part too.

    ``iou_exponent = a`` gives alpha-IoU's ``1 - IoU^a + (rho^2 / c^2)^a + (alpha v)^a``,
    alpha computed from the plain IoU (the paper's form).

    When to use:
        The usual choice of one-stage detectors (YOLO family): overlap, centre distance and
        aspect ratio in one loss, the aspect term weighted up only as boxes align.

    Args:
        boxes: predicted boxes ``(*, 4)``, floating point.
        target: ground-truth boxes of the same shape.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        eps: ``> 0``, added to every denominator; default ``1e-7``.
        alpha_mode: ``"detach"`` (default), ``"grad"`` or ``"threshold"``, see above.
        v_grad: ``"exact"`` (default) or ``"paper"``, see above.
        iou_exponent: alpha-IoU's power ``alpha >= 1`` (He et al., NeurIPS 2021,
            arXiv:2110.13675; the paper recommends 3); default 1, the plain loss.
        weight: optional non-negative per-box weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave the box out.
        avg_factor: dense detection's normaliser: ``"mean"`` divides the summed loss by
            ``max(avg_factor, 1)`` (the number of positive boxes) instead of the number (weight)
            of kept boxes; a number or a one-element tensor ``>= 0``; ``None`` (default).
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``boxes``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating boxes.
        ValueError: mismatched shapes, unknown ``box_format``/``alpha_mode``/``v_grad``/
            ``reduction``, ``eps <= 0``, a bad ``weight``/``mask``.

    Otherwise equal to ``torchvision.ops.complete_box_iou_loss``.

    Paper:
        Zheng, Wang, Liu, Li, Ye, Ren, "Distance-IoU Loss: Faster and Better Learning for
        Bounding Box Regression", AAAI 2020, arXiv:1911.08287.

    Example:
        >>> import torch
        >>> ciou_loss(torch.tensor([[0.0, 0.0, 2.0, 1.0]]), torch.tensor([[0.0, 0.0, 1.0, 2.0]]))
        tensor(0.7629)
    """
    return _box_loss("ciou_loss", "ciou", boxes, target, box_format, eps, weight, mask,
                     reduction, alpha_mode, v_grad, avg_factor=avg_factor,
                     power=iou_exponent)  # fmt: skip


@checked
def eiou_loss(
    boxes: Tensor, target: Tensor, *, box_format: BoxFormat = "xyxy",
    iou_exponent: IoUExponent = 1.0, eps: Positive = 1e-7, weight: Weight = None,
    mask: Mask = None, avg_factor: AvgFactor = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Efficient IoU loss: the DIoU loss plus separate width and height terms.

    Formula:
        l = 1 - IoU + rho^2/(c^2 + eps) + (w - w_gt)^2/(c_w^2 + eps) + (h - h_gt)^2/(c_h^2 + eps)

    The width and height terms are normalised by the enclosing box's width ``c_w`` and
    height ``c_h``: unlike CIoU's aspect term they move w and h independently and vanish only
    when both match. The focal weighting ``IoU^gamma`` of the paper is not included (multiply
    by a ``weight`` for it).

    ``iou_exponent = a`` gives alpha-IoU's form: IoU and each of the three penalty terms
    raised to ``a``.

    When to use:
        Like CIoU, but width and height converge independently (CIoU's aspect term vanishes
        for any box of the right aspect ratio, whatever its size).

    Args:
        boxes: predicted boxes ``(*, 4)``, floating point.
        target: target boxes ``(*, 4)``.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        iou_exponent: alpha-IoU's power ``alpha >= 1`` (He et al., NeurIPS 2021,
            arXiv:2110.13675; the paper recommends 3); default 1, the plain loss.
        eps: ``> 0``, added to every denominator; default ``1e-7``.
        weight: optional non-negative per-box weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave the box out.
        avg_factor: dense detection's normaliser: ``"mean"`` divides the summed loss by
            ``max(avg_factor, 1)`` (the number of positive boxes) instead of the number (weight)
            of kept boxes; a number or a one-element tensor ``>= 0``; ``None`` (default).
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``boxes``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating boxes.
        ValueError: mismatched shapes, unknown options, ``eps <= 0``, a bad ``weight``/``mask``.

    Paper:
        Zhang, Ren, Zhang, Jia, Wang, Tan, "Focal and Efficient IOU Loss for Accurate Bounding
        Box Regression", Neurocomputing 506, 2022, arXiv:2101.08158.

    Example:
        >>> import torch
        >>> eiou_loss(torch.tensor([[0.0, 0.0, 2.0, 1.0]]), torch.tensor([[0.0, 0.0, 1.0, 2.0]]))
        tensor(1.2292)
    """
    return _box_loss("eiou_loss", "eiou", boxes, target, box_format, eps, weight, mask, reduction,
                     avg_factor=avg_factor, power=iou_exponent)  # fmt: skip


@checked
def siou_loss(
    boxes: Tensor, target: Tensor, *, box_format: BoxFormat = "xyxy",
    shape_exponent: Positive = 4.0, iou_exponent: IoUExponent = 1.0, eps: Positive = 1e-7,
    weight: Weight = None, mask: Mask = None, avg_factor: AvgFactor = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""SCYLLA IoU loss: the IoU loss plus angle-aware distance and shape costs.

    Formula:
        l = 1 - IoU + (Delta + Omega) / 2

    * angle cost ``Lambda = sin(2 a)``, ``a`` the angle between the centre line and its
      nearest axis, i.e. ``2 |dx| |dy| / (dx^2 + dy^2 + eps)`` (the paper's
      ``1 - 2 sin^2(arcsin(x) - pi/4)`` without arcsin or square root; 0 for coincident
      centres);
    * distance cost ``Delta = sum_{t=x,y} 1 - exp(-(2 - Lambda) (d_t / (c_t + eps))^2)``,
      ``c_x, c_y`` the enclosing box's width and height;
    * shape cost ``Omega = sum_{t=w,h} (1 - exp(-|t - t_gt| / (max(t, t_gt) + eps)))^theta``
      with ``theta = shape_exponent``.

    ``iou_exponent = a`` gives alpha-IoU's ``1 - IoU^a + ((Delta + Omega) / 2)^a``.

    When to use:
        Detectors (YOLOv6 and later) that want the prediction to first slide onto the nearest
        axis of the target's centre, then along it.

    Args:
        boxes: predicted boxes ``(*, 4)``, floating point.
        target: target boxes ``(*, 4)``.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        shape_exponent: the shape cost's exponent ``theta``, ``> 0``; default 4 (the paper's).
        iou_exponent: alpha-IoU's power ``alpha >= 1`` (He et al., NeurIPS 2021,
            arXiv:2110.13675; the paper recommends 3); default 1, the plain loss.
        eps: ``> 0``, added to every denominator; default ``1e-7``.
        weight: optional non-negative per-box weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave the box out.
        avg_factor: dense detection's normaliser: ``"mean"`` divides the summed loss by
            ``max(avg_factor, 1)`` (the number of positive boxes) instead of the number (weight)
            of kept boxes; a number or a one-element tensor ``>= 0``; ``None`` (default).
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``boxes``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating boxes.
        ValueError: mismatched shapes, unknown options, ``eps`` or ``shape_exponent`` ``<= 0``,
            a bad ``weight``/``mask``.

    Paper:
        Gevorgyan, "SIoU Loss: More Powerful Learning for Bounding Box Regression",
        arXiv:2205.12740, 2022.

    Example:
        >>> import torch
        >>> siou_loss(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]]))
        tensor(0.7663)
    """
    return _box_loss("siou_loss", "siou", boxes, target, box_format, eps, weight, mask,
                     reduction, shape_exponent=shape_exponent, avg_factor=avg_factor,
                     power=iou_exponent)  # fmt: skip


# ---------------------------------------------------------------------------------------
# distance encoding of boxes (anchor-free heads, distribution focal loss)


def _points_and(fn: str, anchor_points: Tensor, other: Tensor, name: str) -> torch.Size:
    check_floating(fn, "anchor_points", anchor_points)
    check_floating(fn, name, other)
    check_last_dim(fn, "anchor_points", anchor_points, 2)
    check_last_dim(fn, name, other, 4)
    check_same_device(fn, ("anchor_points", anchor_points), (name, other))
    try:
        return torch.broadcast_shapes(anchor_points.shape[:-1], other.shape[:-1])
    except RuntimeError:
        raise ValueError(
            f"{fn}: anchor_points (*, 2) and {name} (*, 4) must have broadcastable leading "
            f"dimensions; got {tuple(anchor_points.shape)} and {tuple(other.shape)}"
        ) from None


@checked
def box_to_distances(
    anchor_points: Tensor, boxes: Tensor, *, max_distance: NonNegative | None = None,
    box_format: BoxFormat = "xyxy",
) -> Tensor:  # fmt: skip
    """Encode boxes as the distances from anchor points to their four sides.

    Formula:
        (l, t, r, b) = (px - x1, py - y1, x2 - px, y2 - py), clamped to [0, max_distance]

    The regression target of anchor-free heads (FCOS, GFL, the YOLO heads since YOLOv8).
    For distribution focal loss the distances are in bins (divide points and boxes by the
    stride first) and ``max_distance`` is the last bin, ``n - 1``: a side beyond the
    distribution's range is clamped to its end. A point outside its box gets the negative
    distances clamped to 0. mmdetection's ``bbox2distance(points, bbox, max_dis, eps)``
    clamps to ``max_dis - eps``, ultralytics' ``bbox2dist`` to ``reg_max - 1 - 0.01``; this
    clamps to ``max_distance`` itself, which :func:`distribution_focal_loss` accepts (it
    needs no margin below the last bin).

    Args:
        anchor_points: ``(*, 2)`` points ``(x, y)``; its leading dimensions broadcast with the
            boxes' (``(A, 2)`` points against ``(B, A, 4)`` boxes).
        boxes: ``(*, 4)`` boxes in ``box_format``.
        max_distance: the upper clamp ``>= 0`` (``None``: none); default ``None``.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.

    Returns:
        ``(*, 4)`` distances ``(left, top, right, bottom)``, differentiable in both inputs
        (except where clamped).

    Raises:
        TypeError: non-floating inputs.
        ValueError: last dimensions other than 2 and 4, leading dimensions that do not
            broadcast, a negative ``max_distance``, an unknown ``box_format``.

    Example:
        >>> import torch
        >>> box_to_distances(torch.tensor([[2.0, 3.0]]), torch.tensor([[0.0, 0.0, 10.0, 4.0]]), max_distance=7.0)
        tensor([[2., 3., 7., 1.]])
    """
    fn = "box_to_distances"
    _points_and(fn, anchor_points, boxes, "boxes")
    b = to_xyxy(boxes, box_format)
    d = torch.cat([anchor_points - b[..., :2], b[..., 2:] - anchor_points], -1)
    return d.clamp(0.0, max_distance)


@checked
def distances_to_box(
    anchor_points: Tensor, distances: Tensor, *, box_format: BoxFormat = "xyxy"
) -> Tensor:
    """Decode distances from anchor points to the four sides back into boxes.

    Formula:
        (x1, y1, x2, y2) = (px - l, py - t, px + r, py + b)

    The inverse of :func:`box_to_distances` (where nothing was clamped): mmdetection's
    ``distance2bbox`` and ultralytics' ``dist2bbox`` without their optional clipping to the
    image. With distribution focal loss the distances come from
    :func:`distribution_integral` of the side logits, times the stride.

    Args:
        anchor_points: ``(*, 2)`` points ``(x, y)``, leading dimensions broadcastable with the
            distances'.
        distances: ``(*, 4)`` distances ``(left, top, right, bottom)``.
        box_format: the format of the boxes returned: ``"xyxy"`` (default), ``"xywh"`` or
            ``"cxcywh"``.

    Returns:
        ``(*, 4)`` boxes, differentiable in both inputs.

    Raises:
        TypeError: non-floating inputs.
        ValueError: last dimensions other than 2 and 4, leading dimensions that do not
            broadcast, an unknown ``box_format``.

    Example:
        >>> import torch
        >>> distances_to_box(torch.tensor([[2.0, 3.0]]), torch.tensor([[2.0, 3.0, 8.0, 1.0]]))
        tensor([[ 0.,  0., 10.,  4.]])
    """
    fn = "distances_to_box"
    _points_and(fn, anchor_points, distances, "distances")
    xyxy = torch.cat([anchor_points - distances[..., :2], anchor_points + distances[..., 2:]], -1)
    return _from_xyxy(xyxy, box_format)


@checked
def distribution_integral(logits: Tensor) -> Tensor:
    """The expected bin of a distribution over bins ``0 .. n - 1`` given by its logits.

    Formula:
        y_hat = sum_i i softmax(z)_i

    The decoding of distribution focal loss (mmdetection's ``Integral``, ultralytics' ``DFL``
    layer): each box side's ``n`` logits become one continuous distance, in bins. Computed
    in float32 for half inputs.

    Args:
        logits: ``(*, n)`` logits over ``n >= 1`` bins (the last dimension).

    Returns:
        ``(*)`` values in ``[0, n - 1]``, in the dtype of ``logits``.

    Raises:
        TypeError: non-floating ``logits``.
        ValueError: a 0-dimensional ``logits`` or no bins.

    Example:
        >>> import torch
        >>> distribution_integral(torch.tensor([[0.1, 0.6, 0.3]]).log())  # .6 + 2 * .3
        tensor([1.2000])
    """
    fn = "distribution_integral"
    check_floating(fn, "logits", logits)
    if logits.dim() == 0 or logits.shape[-1] == 0:
        raise ValueError(
            f"{fn}: logits must have shape (*, n) with n >= 1 bins; got {tuple(logits.shape)}"
        )
    work = compute_dtype(logits)
    z = logits.to(work)
    bins = torch.arange(z.shape[-1], dtype=work, device=z.device)
    return (torch.softmax(z, -1) @ bins).to(logits.dtype)


# ---------------------------------------------------------------------------------------
# pairwise N x M forms


def _pairwise(
    fn: str, kind: str, boxes1: Tensor, boxes2: Tensor, box_format: str, eps: float,
    alpha_mode: str = "detach",
) -> Tensor:  # fmt: skip
    check_floating(fn, "boxes1", boxes1)
    check_floating(fn, "boxes2", boxes2)
    check_last_dim(fn, "boxes1", boxes1, 4)
    check_last_dim(fn, "boxes2", boxes2, 4)
    if boxes1.dim() < 2 or boxes2.dim() < 2 or boxes1.shape[:-2] != boxes2.shape[:-2]:
        raise ValueError(
            f"{fn}: boxes1 and boxes2 must be (..., N, 4) and (..., M, 4) with the same leading "
            f"dimensions; got {tuple(boxes1.shape)} and {tuple(boxes2.shape)}"
        )
    check_same_device(fn, ("boxes1", boxes1), ("boxes2", boxes2))
    out_dtype, work = boxes1.dtype, compute_dtype(boxes1)
    a = to_xyxy(boxes1.to(work), box_format).unsqueeze(-2)  # (..., N, 1, 4)
    b = to_xyxy(boxes2.to(work), box_format).unsqueeze(-3)  # (..., 1, M, 4)
    return iou_similarity(a, b, kind, eps=eps, alpha_mode=alpha_mode).to(out_dtype)


@checked
def box_iou(
    boxes1: Tensor, boxes2: Tensor, *, box_format: BoxFormat = "xyxy", eps: Positive = 1e-7
) -> Tensor:
    """Pairwise IoU (Jaccard index) of two sets of boxes, for matching.

    Formula:
        IoU_ij = I_ij / (U_ij + eps)

    Args:
        boxes1: ``(..., N, 4)`` floating boxes.
        boxes2: ``(..., M, 4)`` floating boxes with the same leading dimensions.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        eps: ``> 0``, added to the union (torchvision's ``box_iou`` adds none, so two empty
            boxes give NaN there, 0 here); default ``1e-7``.

    Returns:
        ``(..., N, M)``: entry ``[i, j]`` compares ``boxes1[i]`` with ``boxes2[j]``.

    Raises:
        TypeError: non-floating inputs.
        ValueError: bad shapes, unknown ``box_format``, ``eps <= 0``.

    Example:
        >>> import torch
        >>> box_iou(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0], [0.0, 0.0, 1.0, 1.0]]))
        tensor([[0.3333, 0.2500]])
    """
    return _pairwise("box_iou", "iou", boxes1, boxes2, box_format, eps)


@checked
def generalized_box_iou(
    boxes1: Tensor, boxes2: Tensor, *, box_format: BoxFormat = "xyxy", eps: Positive = 1e-7
) -> Tensor:
    """Pairwise GIoU of two sets of boxes, in ``(-1, 1]`` (see :func:`giou_loss`).

    Formula:
        GIoU_ij = IoU_ij - (C_ij - U_ij) / (C_ij + eps)

    Args:
        boxes1: ``(..., N, 4)`` floating boxes.
        boxes2: ``(..., M, 4)`` floating boxes, the same leading dimensions.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        eps: ``> 0``, added to the union and the enclosing area; default ``1e-7``.

    Returns:
        ``(..., N, M)`` similarities.

    Raises:
        TypeError: non-floating inputs.
        ValueError: bad shapes, unknown ``box_format``, ``eps <= 0``.

    Example:
        >>> import torch
        >>> generalized_box_iou(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[2.0, 0.0, 3.0, 1.0]]))
        tensor([[-0.3333]])
    """
    return _pairwise("generalized_box_iou", "giou", boxes1, boxes2, box_format, eps)


@checked
def distance_box_iou(
    boxes1: Tensor, boxes2: Tensor, *, box_format: BoxFormat = "xyxy", eps: Positive = 1e-7
) -> Tensor:
    """Pairwise DIoU of two sets of boxes, in ``(-1, 1]`` (see :func:`diou_loss`).

    Formula:
        DIoU_ij = IoU_ij - rho_ij^2 / (c_ij^2 + eps)

    Args:
        boxes1: ``(..., N, 4)`` floating boxes.
        boxes2: ``(..., M, 4)`` floating boxes sharing the leading dimensions of ``boxes1``.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        eps: ``> 0``, added to the union and the squared diagonal; default ``1e-7``.

    Returns:
        ``(..., N, M)`` similarities.

    Raises:
        TypeError: non-floating inputs.
        ValueError: bad shapes, unknown ``box_format``, ``eps <= 0``.

    Example:
        >>> import torch
        >>> distance_box_iou(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[2.0, 0.0, 3.0, 1.0]]))
        tensor([[-0.4000]])
    """
    return _pairwise("distance_box_iou", "diou", boxes1, boxes2, box_format, eps)


@checked
def complete_box_iou(
    boxes1: Tensor, boxes2: Tensor, *, box_format: BoxFormat = "xyxy", eps: Positive = 1e-7,
    alpha_mode: AlphaMode = "detach",
) -> Tensor:  # fmt: skip
    """Pairwise CIoU of two sets of boxes (see :func:`ciou_loss`).

    Formula:
        CIoU_ij = DIoU_ij - alpha_ij v_ij

    Args:
        boxes1: ``(..., N, 4)`` floating boxes.
        boxes2: ``(..., M, 4)`` floating boxes, same leading dimensions.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        eps: ``> 0``, added to every denominator; default ``1e-7``.
        alpha_mode: ``"detach"`` (default), ``"grad"`` or ``"threshold"`` (see :func:`ciou_loss`).

    Returns:
        ``(..., N, M)`` similarities.

    Raises:
        TypeError: non-floating inputs.
        ValueError: bad shapes, unknown ``box_format`` or ``alpha_mode``, ``eps <= 0``.

    Example:
        >>> import torch
        >>> complete_box_iou(torch.tensor([[0.0, 0.0, 2.0, 1.0]]), torch.tensor([[0.0, 0.0, 1.0, 2.0]]))
        tensor([[0.2371]])
    """
    return _pairwise("complete_box_iou", "ciou", boxes1, boxes2, box_format, eps, alpha_mode)


# ---------------------------------------------------------------------------------------
# modules


class _BoxModule(LossModule):
    """The options every box-loss module shares (fields only; no function of its own)."""

    box_format: BoxFormat = DEFAULT
    iou_exponent: IoUExponent = DEFAULT
    eps: Positive = DEFAULT


class IoULoss(_BoxModule, function=iou_loss):
    """IoU loss, ``1 - |A ∩ B| / (|A ∪ B| + eps)`` (or its square or log form).

    Args:
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        form: ``"linear"`` (default), ``"square"`` or ``"log"``.
        iou_exponent: alpha-IoU's power ``>= 1``; default 1 (the plain loss).
        eps: ``> 0``; default ``1e-7``.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(boxes, target, *, weight=None, mask=None)``: ``(*, 4)`` boxes; ``weight``
        and ``mask`` broadcastable to ``(*)``. Output: a scalar, or ``(*)``.

    Paper:
        Yu et al., "UnitBox: An Advanced Object Detection Network", ACM MM 2016,
        arXiv:1608.01471.

    Example:
        >>> import torch
        >>> IoULoss()(torch.tensor([[0.0, 0.0, 2.0, 1.0]]), torch.tensor([[1.0, 0.0, 3.0, 1.0]]))
        tensor(0.6667)
    """

    form: IoUForm = DEFAULT


class GIoULoss(_BoxModule, function=giou_loss):
    """GIoU loss, ``1 - IoU + (|C| - |A ∪ B|) / (|C| + eps)``.

    Args:
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        iou_exponent: alpha-IoU's power ``>= 1``; default 1 (the plain loss).
        eps: ``> 0``; default ``1e-7``.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(boxes, target, *, weight=None, mask=None)``: ``(*, 4)`` boxes. Output: a
        scalar, or ``(*)``.

    Paper:
        Rezatofighi et al., "Generalized Intersection over Union", CVPR 2019,
        arXiv:1902.09630.

    Example:
        >>> import torch
        >>> GIoULoss()(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[2.0, 0.0, 3.0, 1.0]]))
        tensor(1.3333)
    """


class DIoULoss(_BoxModule, function=diou_loss):
    """DIoU loss, ``1 - IoU + rho^2 / (c^2 + eps)``.

    Args:
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        iou_exponent: alpha-IoU's power ``>= 1``; default 1 (the plain loss).
        eps: ``> 0``; default ``1e-7``.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(boxes, target, *, weight=None, mask=None)``: ``(*, 4)`` boxes. Output: a
        scalar, or ``(*)``.

    Paper:
        Zheng et al., "Distance-IoU Loss", AAAI 2020, arXiv:1911.08287.

    Example:
        >>> import torch
        >>> DIoULoss()(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[2.0, 0.0, 3.0, 1.0]]))
        tensor(1.4000)
    """


class CIoULoss(_BoxModule, function=ciou_loss):
    """CIoU loss, ``1 - IoU + rho^2 / c^2 + alpha v``.

    Args:
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        eps: ``> 0``; default ``1e-7``.
        alpha_mode: ``"detach"`` (default), ``"grad"`` or ``"threshold"``.
        v_grad: ``"exact"`` (default) or ``"paper"``.
        iou_exponent: alpha-IoU's power ``>= 1``; default 1 (the plain loss).
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(boxes, target, *, weight=None, mask=None)``: ``(*, 4)`` boxes. Output: a
        scalar, or ``(*)``.

    Paper:
        Zheng et al., "Distance-IoU Loss", AAAI 2020, arXiv:1911.08287.

    Example:
        >>> import torch
        >>> CIoULoss()(torch.tensor([[0.0, 0.0, 2.0, 1.0]]), torch.tensor([[0.0, 0.0, 1.0, 2.0]]))
        tensor(0.7629)
    """

    alpha_mode: AlphaMode = DEFAULT
    v_grad: VGrad = DEFAULT


class EIoULoss(_BoxModule, function=eiou_loss):
    """EIoU loss, the DIoU loss plus ``(w - w_gt)^2 / c_w^2 + (h - h_gt)^2 / c_h^2``.

    Args:
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        iou_exponent: alpha-IoU's power ``>= 1``; default 1 (the plain loss).
        eps: ``> 0``; default ``1e-7``.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(boxes, target, *, weight=None, mask=None)``: ``(*, 4)`` boxes. Output: a
        scalar, or ``(*)``.

    Paper:
        Zhang et al., "Focal and Efficient IOU Loss", Neurocomputing 506, 2022,
        arXiv:2101.08158.

    Example:
        >>> import torch
        >>> EIoULoss()(torch.tensor([[0.0, 0.0, 2.0, 1.0]]), torch.tensor([[0.0, 0.0, 1.0, 2.0]]))
        tensor(1.2292)
    """


class SIoULoss(_BoxModule, function=siou_loss):
    """SIoU loss, ``1 - IoU + (Delta + Omega) / 2`` (angle-aware distance and shape costs).

    Args:
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        shape_exponent: the shape cost's exponent, ``> 0``; default 4.
        iou_exponent: alpha-IoU's power ``>= 1``; default 1 (the plain loss).
        eps: ``> 0``; default ``1e-7``.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(boxes, target, *, weight=None, mask=None)``: ``(*, 4)`` boxes. Output: a
        scalar, or ``(*)``.

    Paper:
        Gevorgyan, "SIoU Loss", arXiv:2205.12740, 2022.

    Example:
        >>> import torch
        >>> SIoULoss()(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]]))
        tensor(0.7663)
    """

    shape_exponent: Positive = DEFAULT


# 3-D boxes live in their own file, built on the options above
from ._box3d import (  # noqa: E402
    GIoU3DLoss,
    IoU3DLoss,
    box_iou_3d,
    generalized_box_iou_3d,
    giou_3d_loss,
    iou_3d_loss,
)

__all__ += [
    "iou_3d_loss",
    "giou_3d_loss",
    "box_iou_3d",
    "generalized_box_iou_3d",
    "IoU3DLoss",
    "GIoU3DLoss",
]
