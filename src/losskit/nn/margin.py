"""Module forms of :mod:`losskit.functional.margin`: each owns the ``(C, D)`` class weight (and
a bias or a learnable scale where the loss has one) as parameters, initialised by
``reset_parameters()`` like ``nn.Linear``, and passes them to the function explicitly.

``forward(features, labels)`` is one call of the function and never writes to ``self``.
With ``sample_rate < 1`` a module in training mode applies Partial FC class-centre sampling
(:func:`losskit.functional.partial_fc_sample`) before the call; in eval mode it uses every
class.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from .._checks import check_positive
from .._reduction import DEFAULT_REDUCTION, Reduction
from ..functional import _sharding
from ..functional import margin as F
from ..functional._margin_core import GRAD_MODES, check_margins
from ._base import LossModule

__all__ = [
    "ArcFaceLoss",
    "COCOLoss",
    "CombinedMarginLoss",
    "CosFaceLoss",
    "L2SoftmaxLoss",
    "LSoftmaxLoss",
    "NormFaceLoss",
    "SoftmaxLoss",
    "SphereFaceLoss",
    "SubCenterArcFaceLoss",
]


def _check_size(cls: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{cls}: {name} must be an int >= 1; got {value!r}")
    return value


class _MarginHead(LossModule):
    """Base: the class weight, ``chunk_size``, Partial FC ``sample_rate``, ``reduction``."""

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        subcenters: int | None = None,
        bias: bool = False,
        chunk_size: int | None = None,
        sample_rate: float = 1.0,
        reduction: Reduction = DEFAULT_REDUCTION,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(reduction=reduction)
        cls = type(self).__name__
        self.in_features = _check_size(cls, "in_features", in_features)
        self.num_classes = _check_size(cls, "num_classes", num_classes)
        if chunk_size is not None:
            _check_size(cls, "chunk_size", chunk_size)
        self.chunk_size = chunk_size
        check_positive(cls, "sample_rate", sample_rate)
        if sample_rate > 1.0:
            raise ValueError(f"{cls}: sample_rate must lie in (0, 1]; got {sample_rate}")
        self.sample_rate = float(sample_rate)
        shape = (num_classes, in_features)
        if subcenters is not None:
            shape = (num_classes, _check_size(cls, "subcenters", subcenters), in_features)
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(shape, **factory))
        self.bias = nn.Parameter(torch.empty(num_classes, **factory)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``nn.Linear``'s initialisation: uniform in ``+-1/sqrt(in_features)``."""
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def _classes(self, labels: Tensor) -> tuple[Tensor, Tensor | None, Tensor]:
        """The weight, bias and labels for this call (sampled under Partial FC)."""
        sharding = _sharding.active()
        if sharding is not None:
            # classes split across ranks: the sharded wrapper has sampled this shard already
            if sharding.index is None:
                return self.weight, self.bias, labels
            b = None if self.bias is None else self.bias[sharding.index]
            return self.weight[sharding.index], b, labels
        if self.training and self.sample_rate < 1.0:
            index, labels = F.partial_fc_sample(
                labels, self.num_classes, sample_rate=self.sample_rate
            )
            return self.weight[index], None if self.bias is None else self.bias[index], labels
        return self.weight, self.bias, labels

    def extra_repr(self) -> str:
        parts = [f"in_features={self.in_features}", f"num_classes={self.num_classes}"]
        parts += [f"{k}={v!r}" for k, v in self._hyper().items()]
        if self.chunk_size is not None:
            parts.append(f"chunk_size={self.chunk_size}")
        if self.sample_rate < 1.0:
            parts.append(f"sample_rate={self.sample_rate}")
        parts.append(f"reduction={self.reduction!r}")
        return ", ".join(parts)

    def _hyper(self) -> dict[str, object]:
        return {}


class _ScaleMixin:
    """A fixed scale (a float) or a learnable one (a 0-dim ``nn.Parameter``)."""

    def _init_scale(self, scale: float, learn_scale: bool) -> None:
        check_positive(type(self).__name__, "scale", scale)
        if learn_scale:
            self.scale = nn.Parameter(torch.tensor(float(scale)))
        else:
            self.scale = float(scale)

    def _scale_repr(self) -> object:
        s = self.scale
        return f"learnable({float(s.detach()):.4g})" if isinstance(s, Tensor) else s


class SoftmaxLoss(_MarginHead):
    """Module form of :func:`losskit.functional.softmax_loss` (owns ``weight`` and ``bias``)."""

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        bias: bool = True,
        chunk_size: int | None = None,
        sample_rate: float = 1.0,
        reduction: Reduction = DEFAULT_REDUCTION,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            in_features, num_classes, bias=bias, chunk_size=chunk_size, sample_rate=sample_rate,
            reduction=reduction, device=device, dtype=dtype,
        )  # fmt: skip

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        w, b, y = self._classes(labels)
        return F.softmax_loss(
            features, y, w, b, chunk_size=self.chunk_size, reduction=self.reduction
        )


class _MultiplicativeHead(_MarginHead):
    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        m: int = 4,
        lambda_: float = 0.0,
        chunk_size: int | None = None,
        sample_rate: float = 1.0,
        reduction: Reduction = DEFAULT_REDUCTION,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            in_features, num_classes, chunk_size=chunk_size, sample_rate=sample_rate,
            reduction=reduction, device=device, dtype=dtype,
        )  # fmt: skip
        self.m = F._check_int_margin(type(self).__name__, m)
        check_margins(
            type(self).__name__, float(m), 0.0, 0.0, lambda_, ("m", "m2", "m3", "lambda_")
        )
        #: the annealing weight; set it from a :class:`~losskit.functional.LambdaSchedule`
        #: at each step: ``head.lambda_ = schedule(step)``
        self.lambda_ = float(lambda_)

    def _hyper(self) -> dict[str, object]:
        return {"m": self.m, "lambda_": self.lambda_}


class LSoftmaxLoss(_MultiplicativeHead):
    """Module form of :func:`losskit.functional.lsoftmax_loss`. Anneal by setting
    ``lambda_`` from a :class:`~losskit.functional.LambdaSchedule` each step."""

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        w, _, y = self._classes(labels)
        return F.lsoftmax_loss(
            features,
            y,
            w,
            m=self.m,
            lambda_=self.lambda_,
            chunk_size=self.chunk_size,
            reduction=self.reduction,
        )


class SphereFaceLoss(_MultiplicativeHead):
    """Module form of :func:`losskit.functional.sphereface_loss`. Anneal by setting
    ``lambda_`` from a :class:`~losskit.functional.LambdaSchedule` each step."""

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        w, _, y = self._classes(labels)
        return F.sphereface_loss(
            features,
            y,
            w,
            m=self.m,
            lambda_=self.lambda_,
            chunk_size=self.chunk_size,
            reduction=self.reduction,
        )


class _ScaledHead(_ScaleMixin, _MarginHead):
    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        scale: float,
        learn_scale: bool = False,
        bias: bool = False,
        subcenters: int | None = None,
        chunk_size: int | None = None,
        sample_rate: float = 1.0,
        reduction: Reduction = DEFAULT_REDUCTION,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        _MarginHead.__init__(
            self, in_features, num_classes, subcenters=subcenters, bias=bias, chunk_size=chunk_size,
            sample_rate=sample_rate, reduction=reduction, device=device, dtype=dtype,
        )  # fmt: skip
        self._init_scale(scale, learn_scale)

    def _hyper(self) -> dict[str, object]:
        return {"scale": self._scale_repr()}


class COCOLoss(_ScaledHead):
    """Module form of :func:`losskit.functional.coco_loss` (``learn_scale=True`` learns alpha)."""

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        scale: float = 16.0,
        learn_scale: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(in_features, num_classes, scale=scale, learn_scale=learn_scale, **kwargs)

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        w, _, y = self._classes(labels)
        return F.coco_loss(
            features, y, w, scale=self.scale, chunk_size=self.chunk_size, reduction=self.reduction
        )


class NormFaceLoss(_ScaledHead):
    """Module form of :func:`losskit.functional.normface_loss` (``learn_scale=True`` learns s)."""

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        scale: float = 16.0,
        learn_scale: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(in_features, num_classes, scale=scale, learn_scale=learn_scale, **kwargs)

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        w, _, y = self._classes(labels)
        return F.normface_loss(
            features, y, w, scale=self.scale, chunk_size=self.chunk_size, reduction=self.reduction
        )


class L2SoftmaxLoss(_ScaledHead):
    """Module form of :func:`losskit.functional.l2_softmax_loss`: owns ``weight`` and
    ``bias``; ``learn_scale=True`` learns alpha."""

    def __init__(
        self, in_features: int, num_classes: int, *, scale: float = 50.0, learn_scale: bool = False,
        bias: bool = True, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(
            in_features, num_classes, scale=scale, learn_scale=learn_scale, bias=bias, **kwargs
        )

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        w, b, y = self._classes(labels)
        return F.l2_softmax_loss(
            features,
            y,
            w,
            b,
            scale=self.scale,
            chunk_size=self.chunk_size,
            reduction=self.reduction,
        )


class CosFaceLoss(_ScaledHead):
    """Module form of :func:`losskit.functional.cosface_loss`."""

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        cos_margin: float = 0.35,
        scale: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(in_features, num_classes, scale=scale, **kwargs)
        check_margins(
            type(self).__name__, 1.0, 0.0, cos_margin, 0.0, ("m1", "m2", "cos_margin", "lambda_")
        )
        self.cos_margin = float(cos_margin)

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        w, _, y = self._classes(labels)
        return F.cosface_loss(
            features, y, w, cos_margin=self.cos_margin, scale=self.scale, chunk_size=self.chunk_size,
            reduction=self.reduction,
        )  # fmt: skip

    def _hyper(self) -> dict[str, object]:
        return {"cos_margin": self.cos_margin, **super()._hyper()}


def _check_grad_mode(cls: str, grad_mode: str) -> str:
    if grad_mode not in GRAD_MODES:
        raise ValueError(
            f"{cls}: grad_mode must be one of {', '.join(map(repr, GRAD_MODES))}; got {grad_mode!r}"
        )
    return grad_mode


class ArcFaceLoss(_ScaledHead):
    """Module form of :func:`losskit.functional.arcface_loss` (``margin`` in radians)."""

    def __init__(
        self, in_features: int, num_classes: int, *, margin: float = 0.5, scale: float = 64.0,
        easy_margin: bool = False, grad_mode: str = "exact", **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(in_features, num_classes, scale=scale, **kwargs)
        check_margins(type(self).__name__, 1.0, margin, 0.0, 0.0, ("m1", "margin", "m3", "lambda_"))
        self.margin = float(margin)
        self.easy_margin = bool(easy_margin)
        self.grad_mode = _check_grad_mode(type(self).__name__, grad_mode)

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        w, _, y = self._classes(labels)
        return F.arcface_loss(
            features, y, w, margin=self.margin, scale=self.scale, easy_margin=self.easy_margin,
            grad_mode=self.grad_mode, chunk_size=self.chunk_size, reduction=self.reduction,
        )  # fmt: skip

    def _hyper(self) -> dict[str, object]:
        return {
            "margin": self.margin,
            **super()._hyper(),
            "easy_margin": self.easy_margin,
            "grad_mode": self.grad_mode,
        }


class CombinedMarginLoss(_ScaledHead):
    """Module form of :func:`losskit.functional.combined_margin_loss`."""

    def __init__(
        self, in_features: int, num_classes: int, *, m1: float = 1.0, m2: float = 0.3, m3: float = 0.2,
        scale: float = 64.0, fallback: str = "auto", grad_mode: str = "exact", **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(in_features, num_classes, scale=scale, **kwargs)
        cls = type(self).__name__
        check_margins(cls, m1, m2, m3, 0.0)
        F._resolve_fallback(cls, fallback, m1)
        self.m1, self.m2, self.m3 = float(m1), float(m2), float(m3)
        self.fallback = fallback
        self.grad_mode = _check_grad_mode(cls, grad_mode)

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        w, _, y = self._classes(labels)
        return F.combined_margin_loss(
            features, y, w, m1=self.m1, m2=self.m2, m3=self.m3, scale=self.scale, fallback=self.fallback,
            grad_mode=self.grad_mode, chunk_size=self.chunk_size, reduction=self.reduction,
        )  # fmt: skip

    def _hyper(self) -> dict[str, object]:
        return {"m1": self.m1, "m2": self.m2, "m3": self.m3, **super()._hyper()}


class SubCenterArcFaceLoss(_ScaledHead):
    """Module form of :func:`losskit.functional.subcenter_arcface_loss`: owns the
    ``(C, K, D)`` sub-centres (``subcenters=K``, 3 in the paper)."""

    def __init__(
        self, in_features: int, num_classes: int, *, subcenters: int = 3, margin: float = 0.5,
        scale: float = 64.0, easy_margin: bool = False, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(in_features, num_classes, scale=scale, subcenters=subcenters, **kwargs)
        check_margins(type(self).__name__, 1.0, margin, 0.0, 0.0, ("m1", "margin", "m3", "lambda_"))
        self.subcenters = subcenters
        self.margin = float(margin)
        self.easy_margin = bool(easy_margin)

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        w, _, y = self._classes(labels)
        return F.subcenter_arcface_loss(
            features, y, w, margin=self.margin, scale=self.scale, easy_margin=self.easy_margin,
            chunk_size=self.chunk_size, reduction=self.reduction,
        )  # fmt: skip

    def _hyper(self) -> dict[str, object]:
        return {"subcenters": self.subcenters, "margin": self.margin, **super()._hyper()}
