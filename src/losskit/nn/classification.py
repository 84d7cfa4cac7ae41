"""Module forms of :mod:`losskit.functional.classification`.

Hyperparameters are fixed at construction; per-call data (a ``weight``, a ``mask``) goes to
``forward``. Tensor hyperparameters (a per-class ``alpha``, ``pos_weight`` or
``class_weight``) are registered as buffers, so ``module.to(device)`` moves them.
"""

from __future__ import annotations

from torch import Tensor

from .._checks import check_in_range, check_positive
from .._reduction import DEFAULT_REDUCTION, Reduction
from ..functional import classification as F
from ._base import LossModule

__all__ = [
    "BinaryCrossEntropyLoss",
    "WeightedBCELoss",
    "BalancedBCELoss",
    "FocalLoss",
    "SoftmaxFocalLoss",
    "SoftmaxCrossEntropyLoss",
]


def _as_buffer(module: LossModule, name: str, value: float | Tensor | None) -> None:
    """Tensors become (non-persistent) buffers so that ``.to()`` moves them."""
    if isinstance(value, Tensor):
        module.register_buffer(name, value.detach().clone(), persistent=False)
    else:
        setattr(module, name, value)


class _BinaryLoss(LossModule):
    """Base of the sigmoid (binary, multi-label) losses: holds ``from_logits``, ``eps`` and
    ``reduction`` and calls ``_function`` with them, the per-call ``weight`` and ``mask``, and
    the subclass's hyperparameters from :meth:`_extra`."""

    _function = staticmethod(F.bce_loss)

    def __init__(
        self,
        *,
        from_logits: bool = True,
        eps: float = 1e-7,
        reduction: Reduction = DEFAULT_REDUCTION,
    ) -> None:
        super().__init__(reduction=reduction)
        self.from_logits = from_logits
        self.eps = check_positive(type(self).__name__, "eps", eps)

    def _extra(self) -> dict[str, object]:
        return {}

    def forward(
        self, pred: Tensor, target: Tensor, weight: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        return self._function(
            pred,
            target,
            from_logits=self.from_logits,
            weight=weight,
            mask=mask,
            eps=self.eps,
            reduction=self.reduction,
            **self._extra(),
        )

    def extra_repr(self) -> str:
        extra = "".join(
            f"{k}={f'tensor{tuple(v.shape)}' if isinstance(v, Tensor) else v}, "
            for k, v in self._extra().items()
        )
        return f"{extra}from_logits={self.from_logits}, reduction={self.reduction!r}"


class BinaryCrossEntropyLoss(_BinaryLoss):
    """Module form of :func:`losskit.functional.bce_loss` (logits by default; unlike
    ``torch.nn.BCELoss``, which takes probabilities)."""

    _function = staticmethod(F.bce_loss)


class WeightedBCELoss(_BinaryLoss):
    """Module form of :func:`losskit.functional.weighted_bce_loss`."""

    _function = staticmethod(F.weighted_bce_loss)

    def __init__(
        self,
        *,
        pos_weight: float | Tensor,
        from_logits: bool = True,
        eps: float = 1e-7,
        reduction: Reduction = DEFAULT_REDUCTION,
    ) -> None:
        super().__init__(from_logits=from_logits, eps=eps, reduction=reduction)
        if not isinstance(pos_weight, Tensor):
            pos_weight = check_positive(
                type(self).__name__, "pos_weight", pos_weight, allow_zero=True
            )
        _as_buffer(self, "pos_weight", pos_weight)

    def _extra(self) -> dict[str, object]:
        return {"pos_weight": self.pos_weight}


class BalancedBCELoss(_BinaryLoss):
    """Module form of :func:`losskit.functional.balanced_bce_loss` (HED's class-balanced BCE)."""

    _function = staticmethod(F.balanced_bce_loss)

    def __init__(
        self,
        *,
        per_image: bool = True,
        from_logits: bool = True,
        eps: float = 1e-7,
        reduction: Reduction = DEFAULT_REDUCTION,
    ) -> None:
        super().__init__(from_logits=from_logits, eps=eps, reduction=reduction)
        self.per_image = per_image

    def _extra(self) -> dict[str, object]:
        return {"per_image": self.per_image}


class FocalLoss(_BinaryLoss):
    """Module form of :func:`losskit.functional.focal_loss` (sigmoid focal loss)."""

    _function = staticmethod(F.focal_loss)

    def __init__(
        self,
        *,
        alpha: float | Tensor | None = 0.25,
        gamma: float = 2.0,
        from_logits: bool = True,
        eps: float = 1e-7,
        reduction: Reduction = DEFAULT_REDUCTION,
    ) -> None:
        super().__init__(from_logits=from_logits, eps=eps, reduction=reduction)
        name = type(self).__name__
        if alpha is not None and not isinstance(alpha, Tensor):
            alpha = check_in_range(name, "alpha", alpha, 0.0, 1.0)
        _as_buffer(self, "alpha", alpha)
        self.gamma = check_positive(name, "gamma", gamma, allow_zero=True)

    def _extra(self) -> dict[str, object]:
        return {"alpha": self.alpha, "gamma": self.gamma}


class SoftmaxFocalLoss(LossModule):
    """Module form of :func:`losskit.functional.softmax_focal_loss`."""

    def __init__(
        self,
        *,
        alpha: Tensor | None = None,
        gamma: float = 2.0,
        ignore_index: int = -100,
        reduction: Reduction = DEFAULT_REDUCTION,
    ) -> None:
        super().__init__(reduction=reduction)
        _as_buffer(self, "alpha", alpha)
        self.gamma = check_positive(type(self).__name__, "gamma", gamma, allow_zero=True)
        self.ignore_index = ignore_index

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.softmax_focal_loss(
            logits,
            target,
            alpha=self.alpha,
            gamma=self.gamma,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, ignore_index={self.ignore_index}, reduction={self.reduction!r}"


class SoftmaxCrossEntropyLoss(LossModule):
    """Module form of :func:`losskit.functional.softmax_cross_entropy`."""

    def __init__(
        self,
        *,
        class_weight: Tensor | None = None,
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
        reduction: Reduction = DEFAULT_REDUCTION,
    ) -> None:
        super().__init__(reduction=reduction)
        _as_buffer(self, "class_weight", class_weight)
        self.ignore_index = ignore_index
        self.label_smoothing = check_in_range(
            type(self).__name__, "label_smoothing", label_smoothing, 0.0, 1.0
        )

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.softmax_cross_entropy(
            logits,
            target,
            class_weight=self.class_weight,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return (
            f"ignore_index={self.ignore_index}, label_smoothing={self.label_smoothing}, "
            f"reduction={self.reduction!r}"
        )
