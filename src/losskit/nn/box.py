"""Module forms of :mod:`losskit.functional.box`."""

from __future__ import annotations

from torch import Tensor

from .._checks import check_choice, check_positive
from .._geometry import ALPHA_MODES, BOX_FORMATS, V_GRADS
from .._reduction import DEFAULT_REDUCTION, Reduction
from ..functional import box as F
from ._base import LossModule

__all__ = ["IoULoss", "GIoULoss", "DIoULoss", "CIoULoss", "EIoULoss", "SIoULoss"]


class _BoxLoss(LossModule):
    def __init__(
        self,
        *,
        box_format: str = "xyxy",
        eps: float = 1e-7,
        reduction: Reduction = DEFAULT_REDUCTION,
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.box_format = check_choice(name, "box_format", box_format, BOX_FORMATS)
        self.eps = check_positive(name, "eps", eps)

    def extra_repr(self) -> str:
        return f"box_format={self.box_format!r}, eps={self.eps}, reduction={self.reduction!r}"


class IoULoss(_BoxLoss):
    """Module form of :func:`losskit.functional.iou_loss`."""

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return F.iou_loss(
            pred,
            target,
            box_format=self.box_format,
            eps=self.eps,
            weight=weight,
            reduction=self.reduction,
        )


class GIoULoss(_BoxLoss):
    """Module form of :func:`losskit.functional.giou_loss`."""

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return F.giou_loss(
            pred,
            target,
            box_format=self.box_format,
            eps=self.eps,
            weight=weight,
            reduction=self.reduction,
        )


class DIoULoss(_BoxLoss):
    """Module form of :func:`losskit.functional.diou_loss`."""

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return F.diou_loss(
            pred,
            target,
            box_format=self.box_format,
            eps=self.eps,
            weight=weight,
            reduction=self.reduction,
        )


class EIoULoss(_BoxLoss):
    """Module form of :func:`losskit.functional.eiou_loss`."""

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return F.eiou_loss(
            pred,
            target,
            box_format=self.box_format,
            eps=self.eps,
            weight=weight,
            reduction=self.reduction,
        )


class CIoULoss(_BoxLoss):
    """Module form of :func:`losskit.functional.ciou_loss`."""

    def __init__(
        self,
        *,
        box_format: str = "xyxy",
        eps: float = 1e-7,
        alpha_mode: str = "detach",
        v_grad: str = "exact",
        reduction: Reduction = DEFAULT_REDUCTION,
    ) -> None:
        super().__init__(box_format=box_format, eps=eps, reduction=reduction)
        self.alpha_mode = check_choice("CIoULoss", "alpha_mode", alpha_mode, ALPHA_MODES)
        self.v_grad = check_choice("CIoULoss", "v_grad", v_grad, V_GRADS)

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return F.ciou_loss(
            pred,
            target,
            box_format=self.box_format,
            eps=self.eps,
            alpha_mode=self.alpha_mode,
            v_grad=self.v_grad,
            weight=weight,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, alpha_mode={self.alpha_mode!r}, v_grad={self.v_grad!r}"


class SIoULoss(_BoxLoss):
    """Module form of :func:`losskit.functional.siou_loss`."""

    def __init__(
        self,
        *,
        box_format: str = "xyxy",
        theta: float = 4.0,
        eps: float = 1e-7,
        reduction: Reduction = DEFAULT_REDUCTION,
    ) -> None:
        super().__init__(box_format=box_format, eps=eps, reduction=reduction)
        self.theta = check_positive("SIoULoss", "theta", theta)

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return F.siou_loss(
            pred,
            target,
            box_format=self.box_format,
            theta=self.theta,
            eps=self.eps,
            weight=weight,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, theta={self.theta}"
