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
    """Base of the box-loss modules: holds ``box_format``, ``eps`` and ``reduction`` and calls
    the family function named by ``_function`` with them (plus :meth:`_extra`)."""

    _function = staticmethod(F.iou_loss)

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

    def _extra(self) -> dict[str, object]:
        """Hyperparameters beyond the shared ones (none here)."""
        return {}

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return self._function(
            pred,
            target,
            box_format=self.box_format,
            eps=self.eps,
            weight=weight,
            reduction=self.reduction,
            **self._extra(),
        )

    def extra_repr(self) -> str:
        return f"box_format={self.box_format!r}, eps={self.eps}, reduction={self.reduction!r}"


class IoULoss(_BoxLoss):
    """Module form of :func:`losskit.functional.iou_loss`."""

    _function = staticmethod(F.iou_loss)


class GIoULoss(_BoxLoss):
    """Module form of :func:`losskit.functional.giou_loss`."""

    _function = staticmethod(F.giou_loss)


class DIoULoss(_BoxLoss):
    """Module form of :func:`losskit.functional.diou_loss`."""

    _function = staticmethod(F.diou_loss)


class EIoULoss(_BoxLoss):
    """Module form of :func:`losskit.functional.eiou_loss`."""

    _function = staticmethod(F.eiou_loss)


class CIoULoss(_BoxLoss):
    """Module form of :func:`losskit.functional.ciou_loss`."""

    _function = staticmethod(F.ciou_loss)

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

    def _extra(self) -> dict[str, object]:
        return {"alpha_mode": self.alpha_mode, "v_grad": self.v_grad}

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, alpha_mode={self.alpha_mode!r}, v_grad={self.v_grad!r}"


class SIoULoss(_BoxLoss):
    """Module form of :func:`losskit.functional.siou_loss`."""

    _function = staticmethod(F.siou_loss)

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

    def _extra(self) -> dict[str, object]:
        return {"theta": self.theta}

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, theta={self.theta}"
