"""3-D box losses and pairwise similarities: IoU and GIoU of ``(x1, y1, z1, x2, y2, z2)``
boxes (MONAI's ``StandardMode`` for 3-D); re-exported by :mod:`losskit.functional.box`.

Separate functions rather than a 3-D ``box_format`` of the 2-D losses: the 2-D family's
options that have no 3-D meaning (CIoU's aspect angle, SIoU's angle cost, the 2-D formats)
would otherwise be errors half the time, the fused 2-D kernel does not apply, and each 3-D
loss is its own registry entry, so the shared harness and property tests run over it. The
conventions are the 2-D family's (:mod:`losskit._geometry`): sizes clamped at 0 (an
inverted box has volume 0, its raw corners still enter the enclosing box), ``eps`` added to
the union and the enclosing volume, ``"mean"`` by default, ``weight``/``mask``/``avg_factor``
per box, half precision computed in float32, alpha-IoU's ``iou_exponent``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._api import DEFAULT, LossModule, checked
from .._autograd import fused_apply
from .._checks import (
    AvgFactor,
    Mask,
    Positive,
    Weight,
    check_floating,
    check_last_dim,
    check_same_device,
    compute_dtype,
)
from .._geometry import FusedIoU3D, iou_similarity_3d
from .._reduction import Reduction, finish_avg
from .box import IoUExponent, IoUForm, _paired_boxes

__all__ = [
    "iou_3d_loss",
    "giou_3d_loss",
    "box_iou_3d",
    "generalized_box_iou_3d",
    "IoU3DLoss",
    "GIoU3DLoss",
]


def _box3d_loss(
    fn: str, kind: str, boxes: Tensor, target: Tensor, eps: float, power: float, form: str,
    weight: Tensor | None, mask: Tensor | None, avg_factor: float | Tensor | None,
    reduction: Reduction,
) -> Tensor:  # fmt: skip
    p, t, keep = _paired_boxes(fn, boxes, target, 6, weight, mask, avg_factor, reduction)
    out_dtype = boxes.dtype
    if form == "log":
        iou = iou_similarity_3d(p, t, "iou", eps=eps)
        loss = torch.log(iou.clamp_min(eps)).mul(-power)
    else:
        power = 2.0 * power if form == "square" else power
        if power == 1.0 and not torch.compiler.is_compiling():
            loss = fused_apply(FusedIoU3D, p, t, kind == "giou", eps)
        else:
            loss = 1.0 - iou_similarity_3d(p, t, kind, eps=eps, power=power)
    return finish_avg(fn, loss, reduction, avg_factor=avg_factor, weight=weight, keep=keep,
                      out_dtype=out_dtype)  # fmt: skip


@checked
def iou_3d_loss(
    boxes: Tensor, target: Tensor, *, form: IoUForm = "linear", iou_exponent: IoUExponent = 1.0,
    eps: Positive = 1e-7, weight: Weight = None, mask: Mask = None,
    avg_factor: AvgFactor = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""IoU loss of 3-D boxes ``(x1, y1, z1, x2, y2, z2)``: ``1 -`` intersection over union
    of the volumes.

    Formula:
        l = 1 - IoU^a (linear),  1 - IoU^(2a) (square),  -a ln max(IoU, eps) (log);  IoU = |A ∩ B| / (|A ∪ B| + eps),  a = iou_exponent

    The 3-D form of :func:`~losskit.functional.iou_loss`, with its ``form`` and alpha-IoU
    ``iou_exponent``; zero gradient for disjoint boxes. Sizes are clamped at 0, so an
    inverted box has volume 0 (MONAI refuses such boxes).

    When to use:
        Volumetric detection (CT, MRI: MONAI's RetinaNet) when predicted boxes already overlap
        their targets; use :func:`giou_3d_loss` when they may not.

    Args:
        boxes: predicted boxes ``(*, 6)`` as ``(x1, y1, z1, x2, y2, z2)``, floating point.
        target: the ground-truth box of each prediction, ``(*, 6)``.
        form: ``"linear"`` (default), ``"square"`` or ``"log"`` (IoU floored at ``eps``).
        iou_exponent: alpha-IoU's power ``alpha >= 1`` on IoU; default 1, the plain loss.
        eps: ``> 0``, added to the union (and the floor of IoU under ``"log"``); default
            ``1e-7``.
        weight: optional non-negative per-box weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave the box out.
        avg_factor: dense detection's normaliser: ``"mean"`` divides the summed loss by
            ``max(avg_factor, 1)`` instead of the number (weight) of kept boxes; ``None``.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``boxes``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating boxes.
        ValueError: shapes that differ or whose last dimension is not 6, an unknown ``form``
            or ``reduction``, ``eps <= 0``, ``iou_exponent < 1``, a bad ``weight`` or ``mask``.

    Equals ``1 - monai.data.box_utils.box_iou`` on the diagonal (with ``eps`` = float32's
    machine epsilon, MONAI's; MONAI computes in float32).

    Paper:
        Yu, Jiang, Wang, Cao, Huang, "UnitBox: An Advanced Object Detection Network", ACM MM
        2016, arXiv:1608.01471.

    Example:
        >>> import torch
        >>> iou_3d_loss(torch.tensor([[0.0, 0.0, 0.0, 2.0, 1.0, 1.0]]),
        ...             torch.tensor([[1.0, 0.0, 0.0, 3.0, 1.0, 1.0]]))
        tensor(0.6667)
    """
    return _box3d_loss("iou_3d_loss", "iou", boxes, target, eps, iou_exponent, form, weight, mask,
                       avg_factor, reduction)  # fmt: skip


@checked
def giou_3d_loss(
    boxes: Tensor, target: Tensor, *, iou_exponent: IoUExponent = 1.0, eps: Positive = 1e-7,
    weight: Weight = None, mask: Mask = None, avg_factor: AvgFactor = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Generalized IoU loss of 3-D boxes: the IoU loss plus the empty fraction of the
    enclosing box.

    Formula:
        l = 1 - IoU^a + ((|C| - |A ∪ B|) / (|C| + eps))^a,  C the smallest enclosing box,  a = iou_exponent;  l in [0, 2)

    Volumes instead of areas, otherwise :func:`~losskit.functional.giou_loss`: disjoint boxes
    get a gradient that grows with the gap; nested boxes give GIoU = IoU.

    When to use:
        Volumetric box regression from anchors or queries that may not overlap their targets
        (the GIoU loss of MONAI's 3-D detectors).

    Args:
        boxes: predicted boxes ``(*, 6)`` as ``(x1, y1, z1, x2, y2, z2)``, floating point.
        target: ground-truth boxes ``(*, 6)``, one per prediction.
        iou_exponent: alpha-IoU's power ``alpha >= 1`` on IoU and on the penalty; default 1.
        eps: ``> 0``, added to the union and the enclosing volume; default ``1e-7``.
        weight: optional non-negative per-box weights broadcastable to ``(*)``.
        mask: optional bool tensor broadcastable to ``(*)``; ``False`` = leave the box out.
        avg_factor: dense detection's normaliser: ``"mean"`` divides the summed loss by
            ``max(avg_factor, 1)`` instead of the number (weight) of kept boxes; ``None``.
        reduction: ``"none"`` (shape ``(*)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``boxes``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating boxes.
        ValueError: mismatched or non-``(*, 6)`` shapes, an unknown ``reduction``,
            ``eps <= 0``, ``iou_exponent < 1``, a bad ``weight``/``mask``.

    Equals ``1 - monai.data.box_utils.box_pair_giou`` (with ``eps`` = float32's machine
    epsilon; MONAI computes in float32).

    Paper:
        Rezatofighi, Tsoi, Gwak, Sadeghian, Reid, Savarese, "Generalized Intersection over
        Union: A Metric and A Loss for Bounding Box Regression", CVPR 2019, arXiv:1902.09630.

    Example:
        >>> import torch
        >>> giou_3d_loss(torch.tensor([[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]]),
        ...              torch.tensor([[2.0, 0.0, 0.0, 3.0, 1.0, 1.0]]))
        tensor(1.3333)
    """
    return _box3d_loss("giou_3d_loss", "giou", boxes, target, eps, iou_exponent, "linear",
                       weight, mask, avg_factor, reduction)  # fmt: skip


def _pairwise_3d(fn: str, kind: str, boxes1: Tensor, boxes2: Tensor, eps: float) -> Tensor:
    check_floating(fn, "boxes1", boxes1)
    check_floating(fn, "boxes2", boxes2)
    check_last_dim(fn, "boxes1", boxes1, 6)
    check_last_dim(fn, "boxes2", boxes2, 6)
    if boxes1.dim() < 2 or boxes2.dim() < 2 or boxes1.shape[:-2] != boxes2.shape[:-2]:
        raise ValueError(
            f"{fn}: boxes1 and boxes2 must be (..., N, 6) and (..., M, 6) with the same leading "
            f"dimensions; got {tuple(boxes1.shape)} and {tuple(boxes2.shape)}"
        )
    check_same_device(fn, ("boxes1", boxes1), ("boxes2", boxes2))
    out_dtype, work = boxes1.dtype, compute_dtype(boxes1)
    a = boxes1.to(work).unsqueeze(-2)  # (..., N, 1, 6)
    b = boxes2.to(work).unsqueeze(-3)  # (..., 1, M, 6)
    return iou_similarity_3d(a, b, kind, eps=eps).to(out_dtype)


@checked
def box_iou_3d(boxes1: Tensor, boxes2: Tensor, *, eps: Positive = 1e-7) -> Tensor:
    """Pairwise IoU of two sets of 3-D boxes ``(x1, y1, z1, x2, y2, z2)``, for matching.

    Formula:
        IoU_ij = |B1_i ∩ B2_j| / (|B1_i ∪ B2_j| + eps)

    Equals ``monai.data.box_utils.box_iou`` on 3-D boxes with ``eps`` = float32's machine
    epsilon (MONAI's); MONAI computes in float32 and refuses inverted boxes, this computes in
    the input's precision (float32 for half) and gives an inverted box volume 0.

    Args:
        boxes1: ``(..., N, 6)`` floating boxes.
        boxes2: ``(..., M, 6)`` floating boxes with the same leading dimensions.
        eps: ``> 0``, added to the union; default ``1e-7``.

    Returns:
        ``(..., N, M)``: entry ``[i, j]`` compares ``boxes1[i]`` with ``boxes2[j]``.

    Raises:
        TypeError: non-floating inputs.
        ValueError: bad shapes, ``eps <= 0``.

    Example:
        >>> import torch
        >>> box_iou_3d(torch.tensor([[0.0, 0.0, 0.0, 2.0, 2.0, 2.0]]),
        ...            torch.tensor([[1.0, 0.0, 0.0, 3.0, 2.0, 2.0], [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]]))
        tensor([[0.3333, 0.1250]])
    """
    return _pairwise_3d("box_iou_3d", "iou", boxes1, boxes2, eps)


@checked
def generalized_box_iou_3d(boxes1: Tensor, boxes2: Tensor, *, eps: Positive = 1e-7) -> Tensor:
    """Pairwise GIoU of two sets of 3-D boxes, in ``(-1, 1]`` (see :func:`giou_3d_loss`).

    Formula:
        GIoU_ij = IoU_ij - (C_ij - U_ij) / (C_ij + eps)

    Equals ``monai.data.box_utils.box_giou`` on 3-D boxes (its diagonal, for equal sets,
    ``box_pair_giou``), with ``eps`` = float32's machine epsilon; MONAI computes in float32.

    Args:
        boxes1: ``(..., N, 6)`` floating boxes.
        boxes2: ``(..., M, 6)`` floating boxes, the same leading dimensions.
        eps: ``> 0``, added to the union and the enclosing volume; default ``1e-7``.

    Returns:
        ``(..., N, M)`` similarities.

    Raises:
        TypeError: non-floating inputs.
        ValueError: bad shapes, ``eps <= 0``.

    Example:
        >>> import torch
        >>> generalized_box_iou_3d(torch.tensor([[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]]),
        ...                        torch.tensor([[2.0, 0.0, 0.0, 3.0, 1.0, 1.0]]))
        tensor([[-0.3333]])
    """
    return _pairwise_3d("generalized_box_iou_3d", "giou", boxes1, boxes2, eps)


class _Box3DModule(LossModule):
    """The options every 3-D box-loss module shares (fields only; no function of its own)."""

    iou_exponent: IoUExponent = DEFAULT
    eps: Positive = DEFAULT


class IoU3DLoss(_Box3DModule, function=iou_3d_loss):
    """IoU loss of 3-D boxes ``(x1, y1, z1, x2, y2, z2)``, ``1 - |A ∩ B| / (|A ∪ B| + eps)``.

    Args:
        form: ``"linear"`` (default), ``"square"`` or ``"log"``.
        iou_exponent: alpha-IoU's power ``>= 1``; default 1 (the plain loss).
        eps: ``> 0``; default ``1e-7``.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(boxes, target, *, weight=None, mask=None, avg_factor=None)``: ``(*, 6)``
        boxes; ``weight`` and ``mask`` broadcastable to ``(*)``. Output: a scalar, or ``(*)``.

    Paper:
        Yu et al., "UnitBox: An Advanced Object Detection Network", ACM MM 2016,
        arXiv:1608.01471.

    Example:
        >>> import torch
        >>> IoU3DLoss()(torch.tensor([[0.0, 0.0, 0.0, 2.0, 1.0, 1.0]]),
        ...             torch.tensor([[1.0, 0.0, 0.0, 3.0, 1.0, 1.0]]))
        tensor(0.6667)
    """

    form: IoUForm = DEFAULT


class GIoU3DLoss(_Box3DModule, function=giou_3d_loss):
    """GIoU loss of 3-D boxes, ``1 - IoU + (|C| - |A ∪ B|) / (|C| + eps)``.

    Args:
        iou_exponent: alpha-IoU's power ``>= 1``; default 1 (the plain loss).
        eps: ``> 0``; default ``1e-7``.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(boxes, target, *, weight=None, mask=None, avg_factor=None)``: ``(*, 6)``
        boxes. Output: a scalar, or ``(*)``.

    Paper:
        Rezatofighi et al., "Generalized Intersection over Union", CVPR 2019,
        arXiv:1902.09630.

    Example:
        >>> import torch
        >>> GIoU3DLoss()(torch.tensor([[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]]),
        ...              torch.tensor([[2.0, 0.0, 0.0, 3.0, 1.0, 1.0]]))
        tensor(1.3333)
    """
