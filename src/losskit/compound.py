"""Combining losses: a weighted sum whose terms are reported separately (fixed weights or
weights learned by homoscedastic uncertainty), and deep supervision over several output
resolutions.

* :class:`CompoundLoss` sums any losses (losskit's, torch's, a function) with fixed weights,
  or learns the weights as Kendall, Gal and Cipolla do; :meth:`CompoundLoss.parts` returns
  every term and the total, so a training loop can log each one.
* :class:`DeepSupervisionLoss` applies one loss to a list of outputs at several resolutions,
  the target resized to each by nearest neighbour (integer labels stay integers), with
  MONAI's weight schedules; it equals MONAI's ``DeepSupervisionLoss``.
* :func:`resize_nearest` is that resizing: torch's ``"nearest-exact"`` rule for tensors of
  any dtype.

The ready compound entries of the registry (:func:`losskit.dice_ce_loss`,
:func:`losskit.dice_focal_loss`, :func:`losskit.generalized_dice_focal_loss`) live with the
overlap family; their modules have a ``parts`` method too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

__all__ = ["CompoundLoss", "DeepSupervisionLoss", "resize_nearest"]


def _check_weight(owner: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}: {name} must be a number; got {type(value).__name__}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{owner}: {name} must be a finite number >= 0; got {value!r}")
    return float(value)


class CompoundLoss(nn.Module):
    r"""A weighted sum of losses, each term reported separately.

    Formula:
        fixed:   L = sum_i w_i L_i
        learned: L = sum_i w_i (exp(-s_i) L_i + s_i) / 2,   s_i = log sigma_i^2 learned

    With ``learn_weights=True`` every term gets a learnable log-variance ``s_i`` (a
    parameter, initialised to 0) and the sum is the homoscedastic-uncertainty weighting of
    Kendall, Gal and Cipolla (the Gaussian likelihood form ``L_i / (2 sigma_i^2) + log
    sigma_i``): a term with a large loss learns a large ``sigma_i`` and a small weight, and
    the ``s_i / 2`` term keeps the weights from collapsing to 0. Optimise ``s`` with the
    model's parameters (``compound.parameters()`` holds it, and the terms' own parameters).
    The fixed weights ``w_i`` still multiply (default 1).

    Every term is called with the same inputs and per-call data; :meth:`parts` returns each
    term's value (unweighted) and ``"total"``; ``forward`` returns the total. The terms must
    return tensors of one shape (scalars, or one ``reduction="none"`` shape).

    Args:
        terms: ``{name: loss}``, each a module or function ``loss(*inputs, **data)``.
        weights: ``{name: w_i}``, a sequence in the order of ``terms``, or ``None`` (every
            weight 1); ``w_i >= 0``.
        learn_weights: learn the uncertainty weights; default ``False``.

    Paper:
        Kendall, Gal, Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses for Scene
        Geometry and Semantics", CVPR 2018, arXiv:1705.07115.

    Example:
        >>> import torch
        >>> from losskit import DiceLoss, SoftmaxCrossEntropyLoss
        >>> loss = CompoundLoss({"dice": DiceLoss(mode="multiclass"),
        ...                      "ce": SoftmaxCrossEntropyLoss()}, weights={"dice": 1.0, "ce": 0.5})
        >>> x, y = torch.zeros(1, 2, 3), torch.tensor([[0, 1, 1]])  # p = 1/2 everywhere
        >>> # Dice: class 0 1 - 2/3.5, class 1 1 - 3/4.5 (smooth 1), mean 0.381; CE ln 2
        >>> {k: round(v.item(), 4) for k, v in loss.parts(x, y).items()}
        {'dice': 0.381, 'ce': 0.6931, 'total': 0.7275}
    """

    def __init__(
        self,
        terms: Mapping[str, Callable[..., Tensor]],
        weights: Mapping[str, float] | Sequence[float] | None = None,
        *,
        learn_weights: bool = False,
    ) -> None:
        super().__init__()
        owner = "CompoundLoss"
        if not isinstance(terms, Mapping) or not terms:
            raise TypeError(f"{owner}: terms must be a non-empty mapping of name to loss")
        for name, term in terms.items():
            if not isinstance(name, str) or not name or name == "total":
                raise ValueError(f"{owner}: term names must be non-empty strings other than "
                                 f"'total'; got {name!r}")  # fmt: skip
            if not callable(term):
                raise TypeError(f"{owner}: term {name!r} must be callable; got "
                                f"{type(term).__name__}")  # fmt: skip
        if not isinstance(learn_weights, bool):
            raise TypeError(f"{owner}: learn_weights must be a bool; got "
                            f"{type(learn_weights).__name__}")  # fmt: skip
        names = list(terms)
        if weights is None:
            w = [1.0] * len(names)
        elif isinstance(weights, Mapping):
            unknown = sorted(set(weights) - set(names))
            missing = [n for n in names if n not in weights]
            if unknown or missing:
                raise ValueError(
                    f"{owner}: weights must name the terms {names}; "
                    + (f"unknown {unknown}" if unknown else f"missing {missing}")
                )
            w = [_check_weight(owner, f"weights[{n!r}]", weights[n]) for n in names]
        elif isinstance(weights, Sequence) and not isinstance(weights, str):
            if len(weights) != len(names):
                raise ValueError(f"{owner}: weights must have one value per term ({len(names)}); "
                                 f"got {len(weights)}")  # fmt: skip
            w = [_check_weight(owner, f"weights[{i}]", v) for i, v in enumerate(weights)]
        else:
            raise TypeError(f"{owner}: weights must be a mapping, a sequence or None; got "
                            f"{type(weights).__name__}")  # fmt: skip
        self.names = tuple(names)
        self.fixed = dict(zip(names, w, strict=True))
        self.modules_ = nn.ModuleDict({n: t for n, t in terms.items() if isinstance(t, nn.Module)})
        self._functions = {n: t for n, t in terms.items() if not isinstance(t, nn.Module)}
        self.learn_weights = learn_weights
        self.log_vars = nn.Parameter(torch.zeros(len(names))) if learn_weights else None

    def _term(self, name: str) -> Callable[..., Tensor]:
        return self.modules_[name] if name in self.modules_ else self._functions[name]

    def parts(self, *inputs: Any, **data: Any) -> dict[str, Tensor]:
        """``{name: term value (unweighted), ..., "total": the weighted sum}``."""
        values = {n: self._term(n)(*inputs, **data) for n in self.names}
        shapes = {tuple(v.shape) for v in values.values()}
        if len(shapes) > 1:
            got = ", ".join(f"{n} {tuple(v.shape)}" for n, v in values.items())
            raise ValueError(f"CompoundLoss: the terms must return one shape; got {got}")
        total = None
        for i, (n, v) in enumerate(values.items()):
            if self.log_vars is None:
                part = self.fixed[n] * v
            else:
                s = self.log_vars[i].to(v.dtype)
                part = self.fixed[n] * 0.5 * (torch.exp(-s) * v + s)
            total = part if total is None else total + part
        assert total is not None  # __init__ refuses an empty ``terms``
        values["total"] = total
        return values

    def forward(self, *inputs: Any, **data: Any) -> Tensor:
        """The weighted sum of the terms on ``inputs`` (see :meth:`parts`)."""
        return self.parts(*inputs, **data)["total"]

    def effective_weights(self) -> dict[str, float]:
        """What multiplies each term now: ``w_i``, or ``w_i exp(-s_i) / 2`` when learned."""
        if self.log_vars is None:
            return dict(self.fixed)
        s = self.log_vars.detach()
        return {n: self.fixed[n] * 0.5 * float(torch.exp(-s[i])) for i, n in enumerate(self.names)}

    def extra_repr(self) -> str:
        w = ", ".join(f"{n}={self.fixed[n]:g}" for n in self.names)
        return f"weights=({w}), learn_weights={self.learn_weights}"


def resize_nearest(x: Tensor, size: Sequence[int], *, spatial_dims: int | None = None) -> Tensor:
    """Resize the last ``len(size)`` dimensions of ``x`` to ``size`` by nearest neighbour
    (torch's ``"nearest-exact"`` rule: output ``j`` reads input ``floor((j + 0.5) in / out)``),
    for any dtype: integer labels stay integers.

    Args:
        x: the tensor ``(*, S_1, ..., S_d)``.
        size: the new ``(S'_1, ..., S'_d)``.
        spatial_dims: ``d``; default ``len(size)``.

    Returns:
        ``x`` resized, same dtype.

    Example:
        >>> resize_nearest(torch.tensor([[0, 1, 2, 3]]), (2,))
        tensor([[1, 3]])
    """
    d = len(size) if spatial_dims is None else spatial_dims
    if len(size) != d or x.dim() < d:
        raise ValueError(
            f"resize_nearest: size must give the last {d} dimensions of x {tuple(x.shape)}; "
            f"got {tuple(size)}"
        )
    out = x
    for k, new in enumerate(size):
        dim = x.dim() - d + k
        old = x.shape[dim]
        if new == old:
            continue
        index = ((torch.arange(new, device=x.device, dtype=torch.float64) + 0.5) * (old / new))
        index = index.floor().long().clamp(max=old - 1)
        out = out.index_select(dim, index)
    return out


Schedule = Literal["exp", "same", "two"]


class DeepSupervisionLoss(nn.Module):
    r"""One loss applied to the outputs of a deeply supervised network at several resolutions.

    Formula:
        L = sum_l w_l loss(output_l, resize(target, output_l))

    The target (and a per-position ``mask``) is resized to each output's last
    ``spatial_dims`` dimensions by nearest neighbour (:func:`resize_nearest`, torch's
    ``"nearest-exact"``): integer labels stay integers, ``ignore_index`` values survive.
    ``weight_mode`` gives ``w_l`` as MONAI's: ``"exp"`` ``max(2^-l, 1/16)`` (1, 0.5, 0.25,
    0.125, 0.0625, 0.0625, ...), ``"same"`` 1, ``"two"`` 1 then 0.5; ``weights`` gives them
    explicitly (one per output; MONAI silently falls back to the mode when it has fewer,
    losskit refuses). A single tensor is one output of weight 1. :meth:`parts` returns each
    level's unweighted loss and the total.

    Args:
        loss: the loss (module or function) ``loss(output, target, **data)``.
        weight_mode: ``"exp"`` (default), ``"same"`` or ``"two"``.
        weights: explicit ``w_l``, ``>= 0``; default ``None``.
        spatial_dims: how many trailing dimensions are resized; default 2.

    Equals MONAI's ``DeepSupervisionLoss`` (which computes in float32, ``input.float()``).

    Example:
        >>> import torch
        >>> from losskit import DiceLoss
        >>> ds = DeepSupervisionLoss(DiceLoss(mode="multiclass"))
        >>> outs = [torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 2, 2)]
        >>> y = torch.zeros(1, 4, 4, dtype=torch.long)
        >>> # level 0: (1 - 17/25 + 1 - 1/9) / 2, level 1: (1 - 5/7 + 1 - 1/3) / 2, weights 1, 1/2
        >>> ds(outs, y)
        tensor(0.8425)
    """

    def __init__(
        self,
        loss: Callable[..., Tensor],
        *,
        weight_mode: Schedule = "exp",
        weights: Sequence[float] | None = None,
        spatial_dims: int = 2,
    ) -> None:
        super().__init__()
        owner = "DeepSupervisionLoss"
        if not callable(loss):
            raise TypeError(f"{owner}: loss must be callable; got {type(loss).__name__}")
        if weight_mode not in ("exp", "same", "two"):
            raise ValueError(f"{owner}: weight_mode must be one of 'exp', 'same', 'two'; got "
                             f"{weight_mode!r}")  # fmt: skip
        if weights is not None:
            if not isinstance(weights, Sequence) or isinstance(weights, str):
                raise TypeError(f"{owner}: weights must be a sequence of numbers or None")
            weights = [_check_weight(owner, f"weights[{i}]", v) for i, v in enumerate(weights)]
        if isinstance(spatial_dims, bool) or not isinstance(spatial_dims, int) or spatial_dims < 1:
            raise ValueError(f"{owner}: spatial_dims must be an int >= 1; got {spatial_dims!r}")
        self.loss = loss
        self.weight_mode = weight_mode
        self.weights = None if weights is None else tuple(weights)
        self.spatial_dims = spatial_dims

    def level_weights(self, levels: int) -> list[float]:
        """``w_l`` for ``levels`` outputs."""
        if self.weights is not None:
            if len(self.weights) < levels:
                raise ValueError(f"DeepSupervisionLoss: {levels} outputs but {len(self.weights)} "
                                 "weights")  # fmt: skip
            return list(self.weights[:levels])
        if self.weight_mode == "same":
            return [1.0] * levels
        if self.weight_mode == "exp":
            return [max(0.5**level, 0.0625) for level in range(levels)]
        return [1.0 if level == 0 else 0.5 for level in range(levels)]

    def parts(
        self, outputs: Tensor | Sequence[Tensor], target: Tensor, **data: Any
    ) -> dict[str, Tensor]:
        """``{"level0": ..., "level1": ..., "total": the weighted sum}``."""
        outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
        if not outs or not all(isinstance(o, Tensor) for o in outs):
            raise TypeError("DeepSupervisionLoss: outputs must be a tensor or a non-empty "
                            "sequence of tensors")  # fmt: skip
        weights = [1.0] if isinstance(outputs, Tensor) else self.level_weights(len(outs))
        d = self.spatial_dims
        values: dict[str, Tensor] = {}
        total = None
        for level, (out, w) in enumerate(zip(outs, weights, strict=True)):
            size = tuple(out.shape[-d:])
            level_data = dict(data)
            mask = data.get("mask")
            if isinstance(mask, Tensor) and mask.dim() >= d and tuple(mask.shape[-d:]) != size:
                level_data["mask"] = resize_nearest(mask, size)
            t = target if tuple(target.shape[-d:]) == size else resize_nearest(target, size)
            v = self.loss(out, t, **level_data)
            values[f"level{level}"] = v
            total = w * v if total is None else total + w * v
        assert total is not None  # ``outs`` is non-empty (checked above)
        values["total"] = total
        return values

    def forward(self, outputs: Tensor | Sequence[Tensor], target: Tensor, **data: Any) -> Tensor:
        """The weighted sum over the outputs (see :meth:`parts`)."""
        return self.parts(outputs, target, **data)["total"]

    def extra_repr(self) -> str:
        how = f"weights={self.weights}" if self.weights is not None else f"weight_mode={self.weight_mode!r}"
        return f"{how}, spatial_dims={self.spatial_dims}"
