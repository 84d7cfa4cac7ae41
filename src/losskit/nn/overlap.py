"""Module forms of :mod:`losskit.functional.overlap`."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._checks import check_choice, check_positive
from .._reduction import DEFAULT_REDUCTION, Reduction
from ..functional import overlap as F
from ._base import LossModule

__all__ = ["DiceLoss", "JaccardLoss", "TverskyLoss", "FocalTverskyLoss"]


class _OverlapLoss(LossModule):
    def __init__(
        self,
        *,
        mode: str = "binary",
        from_logits: bool = True,
        per_sample: bool = True,
        smooth: float = 1.0,
        eps: float = 1e-7,
        ignore_index: int | None = None,
        reduction: Reduction = DEFAULT_REDUCTION,
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.mode = check_choice(name, "mode", mode, F.MODES)
        self.from_logits = bool(from_logits)
        self.per_sample = bool(per_sample)
        self.smooth = check_positive(name, "smooth", smooth, allow_zero=True)
        self.eps = check_positive(name, "eps", eps)
        self.ignore_index = ignore_index

    def _common(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "from_logits": self.from_logits,
            "per_sample": self.per_sample,
            "smooth": self.smooth,
            "eps": self.eps,
            "ignore_index": self.ignore_index,
            "reduction": self.reduction,
        }

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self._common().items())


class DiceLoss(_OverlapLoss):
    """Module form of :func:`losskit.functional.dice_loss`."""

    def __init__(self, *, squared: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.squared = bool(squared)

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return F.dice_loss(pred, target, squared=self.squared, weight=weight, **self._common())

    def extra_repr(self) -> str:
        return f"squared={self.squared}, {super().extra_repr()}"


class JaccardLoss(_OverlapLoss):
    """Module form of :func:`losskit.functional.jaccard_loss`."""

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return F.jaccard_loss(pred, target, weight=weight, **self._common())


class TverskyLoss(_OverlapLoss):
    """Module form of :func:`losskit.functional.tversky_loss`."""

    def __init__(self, *, alpha: float = 0.5, beta: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha = check_positive(type(self).__name__, "alpha", alpha, allow_zero=True)
        self.beta = check_positive(type(self).__name__, "beta", beta, allow_zero=True)

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return F.tversky_loss(
            pred, target, alpha=self.alpha, beta=self.beta, weight=weight, **self._common()
        )

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, beta={self.beta}, {super().extra_repr()}"


class FocalTverskyLoss(_OverlapLoss):
    """Module form of :func:`losskit.functional.focal_tversky_loss`."""

    def __init__(
        self, *, alpha: float = 0.3, beta: float = 0.7, gamma: float = 0.75, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.alpha = check_positive(type(self).__name__, "alpha", alpha, allow_zero=True)
        self.beta = check_positive(type(self).__name__, "beta", beta, allow_zero=True)
        self.gamma = check_positive(type(self).__name__, "gamma", gamma)

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return F.focal_tversky_loss(
            pred,
            target,
            alpha=self.alpha,
            beta=self.beta,
            gamma=self.gamma,
            weight=weight,
            **self._common(),
        )

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, beta={self.beta}, gamma={self.gamma}, {super().extra_repr()}"
