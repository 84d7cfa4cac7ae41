"""Module forms of :mod:`losskit.functional.constraint`. The modules hold the learnable state
(class centres, the ring radius) and pass it to the function explicitly."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from .._checks import check_choice, check_in_range, check_positive
from .._reduction import DEFAULT_REDUCTION, Reduction
from ..functional import constraint as F
from ._base import LossModule

__all__ = ["CenterLoss", "CenterInvariantLoss", "RangeLoss", "RingLoss"]

CenterUpdate = Literal["paper", "optimizer"]


def _check_size(owner: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner}: {name} must be an int; got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{owner}: {name} must be >= 1; got {value}")
    return value


class CenterLoss(LossModule):
    r"""Centre loss with its ``(num_classes, dim)`` centres (:func:`losskit.functional.center_loss`).

    Args:
        num_classes: ``C``.
        dim: the feature dimension ``D``.
        alpha: the paper update's rate, in ``[0, 1]`` (``update="paper"`` only).
        update: how the centres move.

            * ``"paper"`` (default): Wen et al.'s rule
              ``c_j <- c_j - alpha sum_{i: y_i=j} (c_j - x_i) / (1 + n_j)``, applied by
              ``forward`` in training mode, after the loss is computed and without gradient
              (:func:`losskit.functional.update_centers_`). The centres are then a buffer, not
              a parameter: the optimiser never sees them. This in-place update is the one
              place where a losskit ``forward`` writes to its module (like BatchNorm's running
              statistics); ``eval()`` turns it off.
            * ``"optimizer"``: the centres are an ``nn.Parameter`` learned by the optimiser
              from the loss's gradient ``c_j - x_i``.

        sparse: with ``update="optimizer"``, give the centres a sparse gradient (the batch's
            rows only) so that a step costs ``O(N D)`` with 1,000,000 classes. Use an optimiser
            that accepts sparse gradients (``torch.optim.SGD``, ``SparseAdam``, ``Adagrad``);
            set ``sparse=False`` for ``Adam``/``AdamW`` (dense ``(C, D)`` gradient, ``O(C D)`` per
            step).
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        device, dtype: where and how to allocate the centres.

    The centres start ``N(0, 1)`` (as ``nn.Embedding``); :meth:`reset_parameters` redraws them.
    Their memory is ``C D`` floats: 2 GB in float32 for 1,000,000 classes of 512 dimensions.

    Example:
        >>> import torch
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> crit = CenterLoss(10, 2, alpha=0.5)
        >>> x, y = torch.randn(4, 2), torch.tensor([0, 0, 3, 3])
        >>> before = crit.centers.clone()
        >>> loss = crit(x, y)
        >>> bool((crit.centers[[1, 2]] == before[[1, 2]]).all())  # untouched classes
        True
    """

    centers: Tensor

    def __init__(
        self,
        num_classes: int,
        dim: int,
        *,
        alpha: float = 0.5,
        update: CenterUpdate = "paper",
        sparse: bool = True,
        reduction: Reduction = DEFAULT_REDUCTION,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(reduction=reduction)
        name = "CenterLoss"
        self.num_classes = _check_size(name, "num_classes", num_classes)
        self.dim = _check_size(name, "dim", dim)
        self.alpha = check_in_range(name, "alpha", alpha, 0.0, 1.0)
        self.update: str = check_choice(name, "update", update, ("paper", "optimizer"))
        if not isinstance(sparse, bool):
            raise TypeError(f"{name}: sparse must be a bool; got {type(sparse).__name__}")
        self.sparse = sparse
        data = torch.empty(num_classes, dim, device=device, dtype=dtype)
        if update == "paper":
            self.register_buffer("centers", data)
        else:
            self.centers = nn.Parameter(data)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.centers.normal_()

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        loss = F.center_loss(
            features,
            labels,
            self.centers,
            sparse=self.sparse and self.update == "optimizer",
            reduction=self.reduction,
        )
        if self.update == "paper" and self.training:
            # the documented exception: the paper's no-grad centre update, batch rows only
            F.update_centers_(self.centers, features, labels, alpha=self.alpha)
        return loss

    def extra_repr(self) -> str:
        return (
            f"{self.num_classes}, {self.dim}, alpha={self.alpha}, update={self.update!r}, "
            f"sparse={self.sparse}, reduction={self.reduction!r}"
        )


class CenterInvariantLoss(LossModule):
    """Centre-invariant loss with learned centres
    (:func:`losskit.functional.center_invariant_loss`).

    The centres are an ``nn.Parameter`` moved by the optimiser: the invariant term acts on the
    centres only, so it needs their gradient. It reads every centre's norm, so the gradient
    is dense.

    Args:
        num_classes, dim: the centres' shape ``(C, D)``.
        gamma: the invariant term's weight relative to the centre term.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        device, dtype: where and how to allocate the centres.
    """

    def __init__(
        self,
        num_classes: int,
        dim: int,
        *,
        gamma: float = 1.0,
        reduction: Reduction = DEFAULT_REDUCTION,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(reduction=reduction)
        name = "CenterInvariantLoss"
        self.num_classes = _check_size(name, "num_classes", num_classes)
        self.dim = _check_size(name, "dim", dim)
        self.gamma = check_positive(name, "gamma", gamma, allow_zero=True)
        self.centers = nn.Parameter(torch.empty(num_classes, dim, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.centers.normal_()

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        return F.center_invariant_loss(
            features, labels, self.centers, gamma=self.gamma, reduction=self.reduction
        )

    def extra_repr(self) -> str:
        return f"{self.num_classes}, {self.dim}, gamma={self.gamma}, reduction={self.reduction!r}"


class RangeLoss(LossModule):
    """Module form of :func:`losskit.functional.range_loss` (no learnable state).

    ``reduction``: ``"mean"`` (default) or ``"sum"`` over the batch's classes, or ``"none"``
    for the unreduced ``(N + 1,)`` terms (see the function).
    """

    def __init__(
        self,
        *,
        k: int = 2,
        margin: float = 1.0,
        alpha: float = 1.0,
        beta: float = 1.0,
        reduction: Reduction = DEFAULT_REDUCTION,
    ) -> None:
        name = "RangeLoss"
        super().__init__(reduction=reduction)
        self.k = _check_size(name, "k", k)
        self.margin = check_positive(name, "margin", margin, allow_zero=True)
        self.alpha = check_positive(name, "alpha", alpha, allow_zero=True)
        self.beta = check_positive(name, "beta", beta, allow_zero=True)

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        return F.range_loss(
            features,
            labels,
            k=self.k,
            margin=self.margin,
            alpha=self.alpha,
            beta=self.beta,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return (
            f"k={self.k}, margin={self.margin}, alpha={self.alpha}, beta={self.beta}, "
            f"reduction={self.reduction!r}"
        )


class RingLoss(LossModule):
    """Ring loss with a learned radius (:func:`losskit.functional.ring_loss`).

    Args:
        radius: the initial radius ``R`` (a 0-dim ``nn.Parameter``, learned by the optimiser).
            The term is minimised by ``R`` equal to the mean feature norm, so starting near the
            features' typical norm shortens the transient.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
    """

    def __init__(self, *, radius: float = 1.0, reduction: Reduction = DEFAULT_REDUCTION) -> None:
        super().__init__(reduction=reduction)
        self.init_radius = check_positive("RingLoss", "radius", radius, allow_zero=True)
        self.radius = nn.Parameter(torch.empty(()))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.radius.fill_(self.init_radius)

    def forward(self, features: Tensor) -> Tensor:
        return F.ring_loss(features, self.radius, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"radius={self.init_radius}, reduction={self.reduction!r}"
