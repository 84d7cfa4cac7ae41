"""Box regression losses of the IoU family and their pairwise ``N x M`` forms (SPEC.md
section 2): IoU, GIoU, DIoU, CIoU, EIoU and SIoU, plus :func:`box_convert`.

All of them come from the one geometry core :mod:`losskit._geometry`, whose docstring gives
the shared conventions (clamped sizes and inverted boxes, where ``eps`` enters, the aspect
angle). In short:

* boxes are ``(..., 4)``; ``box_format`` is ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``;
* the loss is ``1 - similarity``, per box ``pred.shape[:-1]`` under ``reduction="none"``;
  an optional per-box ``weight`` gives the weighted mean ``sum(w l) / sum(w)``;
* float16/bfloat16 are computed in float32 and returned in the input dtype;
* identical boxes give 0; zero-width, zero-height and inverted boxes give finite losses and
  finite gradients; no check or computation synchronises an accelerator with the host.

Eager IoU/GIoU/DIoU/CIoU run the fused kernel with a hand-derived backward pass
(:class:`losskit._geometry.FusedIoU`); under ``torch.compile`` (and for EIoU, SIoU and the
pairwise forms) the same formulas run as plain tensor operations differentiated by autograd.
The default reduction is ``"mean"`` (torchvision's box losses default to ``"none"``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._checks import (
    check_choice,
    check_floating,
    check_last_dim,
    check_positive,
    check_same_device,
    check_same_shape,
    check_weight,
    compute_dtype,
)
from .._geometry import (
    ALPHA_MODES,
    BOX_FORMATS,
    V_GRADS,
    FusedIoU,
    box_convert,
    iou_similarity,
    to_xyxy,
)
from .._reduction import Reduction, check_reduction, reduce_loss

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
]

_FUSED = ("iou", "giou", "diou", "ciou")


def _check_common(fn: str, box_format: str, eps: float) -> None:
    check_choice(fn, "box_format", box_format, BOX_FORMATS)
    check_positive(fn, "eps", eps)


def _box_loss(
    fn: str,
    kind: str,
    pred: Tensor,
    target: Tensor,
    *,
    box_format: str,
    eps: float,
    weight: Tensor | None,
    reduction: Reduction,
    alpha_mode: str = "detach",
    v_grad: str = "exact",
    theta: float = 4.0,
) -> Tensor:
    check_floating(fn, "pred", pred)
    check_floating(fn, "target", target)
    check_same_shape(fn, pred, target)
    check_last_dim(fn, "pred", pred, 4)
    check_same_device(fn, ("pred", pred), ("target", target))
    _check_common(fn, box_format, eps)
    check_reduction(fn, reduction)
    weight = check_weight(fn, weight, pred.shape[:-1])
    out_dtype = pred.dtype
    work = compute_dtype(pred)
    p = to_xyxy(pred.to(work), box_format)
    t = to_xyxy(target.to(work), box_format)
    if kind in _FUSED and not torch.compiler.is_compiling():
        loss = FusedIoU.apply(p, t, kind, eps, alpha_mode, v_grad)
    else:
        loss = 1.0 - iou_similarity(
            p, t, kind, eps=eps, alpha_mode=alpha_mode, v_grad=v_grad, theta=theta
        )
    w = None if weight is None else weight.to(work)
    return reduce_loss(loss, reduction, weight=w, fn=fn).to(out_dtype)


_ARGS = """
    Args:
        pred: predicted boxes ``(..., 4)``, floating point.
        target: target boxes, same shape as ``pred``.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        eps: ``> 0``, added to every denominator.
        weight: optional per-box weights broadcastable to ``pred.shape[:-1]``.
        reduction: ``"none"`` (shape ``pred.shape[:-1]``), ``"mean"`` (``sum(w*l)/sum(w)``,
            0 for an empty batch) or ``"sum"``.

    Returns:
        The loss, a scalar unless ``reduction="none"``; in the dtype of ``pred``.

    Raises:
        TypeError: non-tensor or non-floating inputs, or a non-numeric ``eps``.
        ValueError: shapes that differ or whose last dimension is not 4, an unknown
            ``box_format`` or ``reduction``, ``eps <= 0``, a bad ``weight``.
"""


def iou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    box_format: str = "xyxy",
    eps: float = 1e-7,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    return _box_loss(
        "iou_loss",
        "iou",
        pred,
        target,
        box_format=box_format,
        eps=eps,
        weight=weight,
        reduction=reduction,
    )


iou_loss.__doc__ = (
    r"""IoU loss, ``l = 1 - |A ∩ B| / (|A ∪ B| + eps)``.

    Scale-invariant, but flat (zero gradient) whenever the boxes do not overlap: a
    prediction that misses its target gets no signal at all (SPEC.md section 2). UnitBox
    (Yu et al., "UnitBox: An Advanced Object Detection Network", ACM MM 2016,
    arXiv:1608.01471) used ``-ln IoU``; ``1 - IoU`` is the form of the GIoU paper.
"""
    + _ARGS
    + """
    Example:
        >>> import torch
        >>> iou_loss(torch.tensor([[0.0, 0.0, 2.0, 1.0]]), torch.tensor([[1.0, 0.0, 3.0, 1.0]]))
        tensor(0.6667)
"""
)


def giou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    box_format: str = "xyxy",
    eps: float = 1e-7,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    return _box_loss(
        "giou_loss",
        "giou",
        pred,
        target,
        box_format=box_format,
        eps=eps,
        weight=weight,
        reduction=reduction,
    )


giou_loss.__doc__ = (
    r"""Generalized IoU loss, ``l = 1 - IoU + (|C| - |A ∪ B|) / (|C| + eps)``, in ``[0, 2)``.

    ``C`` is the smallest box enclosing both. The penalty tells a near miss from a far one,
    so disjoint boxes get a gradient; when one box contains the other, ``C`` is the larger
    box and GIoU equals IoU. Equals ``torchvision.ops.generalized_box_iou_loss``.

    Paper: Rezatofighi et al., "Generalized Intersection over Union: A Metric and A Loss for
    Bounding Box Regression", CVPR 2019, arXiv:1902.09630.
"""
    + _ARGS
    + """
    Example:
        >>> import torch
        >>> giou_loss(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[2.0, 0.0, 3.0, 1.0]]))
        tensor(1.3333)
"""
)


def diou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    box_format: str = "xyxy",
    eps: float = 1e-7,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    return _box_loss(
        "diou_loss",
        "diou",
        pred,
        target,
        box_format=box_format,
        eps=eps,
        weight=weight,
        reduction=reduction,
    )


diou_loss.__doc__ = (
    r"""Distance IoU loss, ``l = 1 - IoU + rho^2(b, b_gt) / (c^2 + eps)``, in ``[0, 2)``.

    ``rho`` is the distance between the box centres, ``c`` the diagonal of the enclosing
    box, so the penalty lies in ``[0, 1)``. It ranks boxes GIoU cannot (one inside the
    other) and drives the centre distance to 0 directly. Equals
    ``torchvision.ops.distance_box_iou_loss``.

    Paper: Zheng et al., "Distance-IoU Loss: Faster and Better Learning for Bounding Box
    Regression", AAAI 2020, arXiv:1911.08287.
"""
    + _ARGS
    + """
    Example:
        >>> import torch
        >>> diou_loss(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[2.0, 0.0, 3.0, 1.0]]))
        tensor(1.4000)
"""
)


def ciou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    box_format: str = "xyxy",
    eps: float = 1e-7,
    alpha_mode: str = "detach",
    v_grad: str = "exact",
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    fn = "ciou_loss"
    check_choice(fn, "alpha_mode", alpha_mode, ALPHA_MODES)
    check_choice(fn, "v_grad", v_grad, V_GRADS)
    return _box_loss(
        fn,
        "ciou",
        pred,
        target,
        box_format=box_format,
        eps=eps,
        weight=weight,
        reduction=reduction,
        alpha_mode=alpha_mode,
        v_grad=v_grad,
    )


ciou_loss.__doc__ = (
    r"""Complete IoU loss, ``l = DIoU loss + alpha v``.

    ``v = 4/pi^2 (atan(w_gt/h_gt) - atan(w/h))^2`` measures the aspect-ratio mismatch
    (``atan`` bounds it, ``4/pi^2`` scales it into ``[0, 1]``), and
    ``alpha = v / (1 - IoU + v + eps)`` is small while the boxes barely overlap (overlap
    first) and grows as they align (shape second).

    ``alpha_mode`` chooses how alpha is treated:

    * ``"detach"`` (default): alpha is a constant in the backward pass, as in torchvision's
      ``complete_box_iou_loss`` and the DIoU authors' released code;
    * ``"grad"``: alpha is differentiated like any other term;
    * ``"threshold"``: the authors' later form, alpha = 0 where IoU < 0.5 (Zheng et al.,
      "Enhancing Geometric Factors in Model Learning and Inference for Object Detection and
      Instance Segmentation", IEEE Trans. Cybernetics 2021, arXiv:2005.03572; mmdetection's
      ``ciou_loss`` uses IoU > 0.5), no gradient.

    ``v_grad="paper"`` replaces the exact gradient of ``v`` by the DIoU paper's (its eq. 12
    without the factor ``1 / (w^2 + h^2)``, which the authors drop because it explodes for
    small normalised boxes); the value of the loss is unchanged. Default ``"exact"``.

    Unlike torchvision, a zero-width or zero-height box gives finite gradients (the aspect
    angle is ``atan2(w, h)``), and ``eps`` is honoured in the DIoU part too (torchvision's
    CIoU ignores its ``eps`` there). Otherwise equal to
    ``torchvision.ops.complete_box_iou_loss``.

    Paper: Zheng et al., "Distance-IoU Loss: Faster and Better Learning for Bounding Box
    Regression", AAAI 2020, arXiv:1911.08287.
"""
    + _ARGS.replace(
        "        weight:",
        '        alpha_mode: ``"detach"``, ``"grad"`` or ``"threshold"`` (see above).\n'
        '        v_grad: ``"exact"`` or ``"paper"`` (see above).\n        weight:',
    ).replace(
        "an unknown\n            ``box_format``",
        "an unknown\n            ``box_format``, ``alpha_mode``, ``v_grad``",
    )
    + """
    Example:
        >>> import torch
        >>> ciou_loss(torch.tensor([[0.0, 0.0, 2.0, 1.0]]), torch.tensor([[0.0, 0.0, 1.0, 2.0]]))
        tensor(0.7629)
"""
)


def eiou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    box_format: str = "xyxy",
    eps: float = 1e-7,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    return _box_loss(
        "eiou_loss",
        "eiou",
        pred,
        target,
        box_format=box_format,
        eps=eps,
        weight=weight,
        reduction=reduction,
    )


eiou_loss.__doc__ = (
    r"""Efficient IoU loss,
    ``l = 1 - IoU + rho^2(b, b_gt)/(c^2 + eps) + (w - w_gt)^2/(c_w^2 + eps) + (h - h_gt)^2/(c_h^2 + eps)``.

    DIoU plus separate width and height terms, normalised by the enclosing box's width
    ``c_w`` and height ``c_h``: unlike CIoU's aspect term it moves w and h independently
    and vanishes only when both match.

    Paper: Zhang et al., "Focal and Efficient IOU Loss for Accurate Bounding Box
    Regression", Neurocomputing 506, 2022, arXiv:2101.08158 (the focal weighting
    ``IoU^gamma`` of that paper is not included; multiply by a ``weight`` for it).
"""
    + _ARGS
    + """
    Example:
        >>> import torch
        >>> eiou_loss(torch.tensor([[0.0, 0.0, 2.0, 1.0]]), torch.tensor([[0.0, 0.0, 1.0, 2.0]]))
        tensor(1.2292)
"""
)


def siou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    box_format: str = "xyxy",
    theta: float = 4.0,
    eps: float = 1e-7,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    check_positive("siou_loss", "theta", theta)
    return _box_loss(
        "siou_loss",
        "siou",
        pred,
        target,
        box_format=box_format,
        eps=eps,
        weight=weight,
        reduction=reduction,
        theta=theta,
    )


siou_loss.__doc__ = (
    r"""SCYLLA IoU loss, ``l = 1 - IoU + (Delta + Omega) / 2``.

    * angle cost ``Lambda = sin(2 a)``, ``a`` the angle between the centre line and its
      nearest axis, i.e. ``2 |dx| |dy| / (dx^2 + dy^2 + eps)`` (the paper's
      ``1 - 2 sin^2(arcsin(x) - pi/4)`` rewritten without arcsin or square root; 0 for
      coincident centres);
    * distance cost ``Delta = sum_{t=x,y} 1 - exp(-(2 - Lambda) (d_t / (c_t + eps))^2)``,
      ``c_x, c_y`` the enclosing box's width and height;
    * shape cost ``Omega = sum_{t=w,h} (1 - exp(-|t - t_gt| / (max(t, t_gt) + eps)))^theta``.

    Paper: Gevorgyan, "SIoU Loss: More Powerful Learning for Bounding Box Regression",
    arXiv:2205.12740, 2022.
"""
    + _ARGS.replace(
        "        eps:",
        "        theta: the shape cost's exponent, ``> 0`` (paper: 4).\n        eps:",
    )
    + """
    Example:
        >>> import torch
        >>> siou_loss(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]]))
        tensor(0.7663)
"""
)


# ---------------------------------------------------------------------------------------
# pairwise N x M forms


def _pairwise(
    fn: str,
    kind: str,
    boxes1: Tensor,
    boxes2: Tensor,
    box_format: str,
    eps: float,
    alpha_mode: str = "detach",
) -> Tensor:
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
    _check_common(fn, box_format, eps)
    out_dtype = boxes1.dtype
    work = compute_dtype(boxes1)
    a = to_xyxy(boxes1.to(work), box_format).unsqueeze(-2)  # (..., N, 1, 4)
    b = to_xyxy(boxes2.to(work), box_format).unsqueeze(-3)  # (..., 1, M, 4)
    return iou_similarity(a, b, kind, eps=eps, alpha_mode=alpha_mode).to(out_dtype)


_PAIR_ARGS = """
    Args:
        boxes1: ``(..., N, 4)`` floating boxes.
        boxes2: ``(..., M, 4)`` floating boxes with the same leading dimensions.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        eps: ``> 0``, added to every denominator (torchvision's ``box_iou`` and
            ``generalized_box_iou`` add none, so two empty boxes give NaN there, 0 here).

    Returns:
        ``(..., N, M)``: entry ``[i, j]`` compares ``boxes1[i]`` with ``boxes2[j]``.

    Raises:
        TypeError: non-floating inputs.
        ValueError: bad shapes, unknown ``box_format``, ``eps <= 0``.
"""


def box_iou(
    boxes1: Tensor, boxes2: Tensor, *, box_format: str = "xyxy", eps: float = 1e-7
) -> Tensor:
    return _pairwise("box_iou", "iou", boxes1, boxes2, box_format, eps)


box_iou.__doc__ = (
    """Pairwise IoU (Jaccard index) ``I / (U + eps)`` of two sets of boxes, for matching.
"""
    + _PAIR_ARGS
    + """
    Example:
        >>> import torch
        >>> box_iou(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0], [0.0, 0.0, 1.0, 1.0]]))
        tensor([[0.3333, 0.2500]])
"""
)


def generalized_box_iou(
    boxes1: Tensor, boxes2: Tensor, *, box_format: str = "xyxy", eps: float = 1e-7
) -> Tensor:
    return _pairwise("generalized_box_iou", "giou", boxes1, boxes2, box_format, eps)


generalized_box_iou.__doc__ = (
    """Pairwise GIoU ``IoU - (C - U) / (C + eps)``, in ``(-1, 1]`` (see :func:`giou_loss`).
"""
    + _PAIR_ARGS
    + """
    Example:
        >>> import torch
        >>> generalized_box_iou(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[2.0, 0.0, 3.0, 1.0]]))
        tensor([[-0.3333]])
"""
)


def distance_box_iou(
    boxes1: Tensor, boxes2: Tensor, *, box_format: str = "xyxy", eps: float = 1e-7
) -> Tensor:
    return _pairwise("distance_box_iou", "diou", boxes1, boxes2, box_format, eps)


distance_box_iou.__doc__ = (
    """Pairwise DIoU ``IoU - rho^2 / (c^2 + eps)``, in ``(-1, 1]`` (see :func:`diou_loss`).
"""
    + _PAIR_ARGS
    + """
    Example:
        >>> import torch
        >>> distance_box_iou(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[2.0, 0.0, 3.0, 1.0]]))
        tensor([[-0.4000]])
"""
)


def complete_box_iou(
    boxes1: Tensor,
    boxes2: Tensor,
    *,
    box_format: str = "xyxy",
    eps: float = 1e-7,
    alpha_mode: str = "detach",
) -> Tensor:
    check_choice("complete_box_iou", "alpha_mode", alpha_mode, ALPHA_MODES)
    return _pairwise("complete_box_iou", "ciou", boxes1, boxes2, box_format, eps, alpha_mode)


complete_box_iou.__doc__ = (
    """Pairwise CIoU ``DIoU - alpha v`` (see :func:`ciou_loss`; ``alpha_mode`` as there).
"""
    + _PAIR_ARGS
    + """
    Example:
        >>> import torch
        >>> complete_box_iou(torch.tensor([[0.0, 0.0, 2.0, 1.0]]), torch.tensor([[0.0, 0.0, 1.0, 2.0]]))
        tensor([[0.2371]])
"""
)
