"""Validation: one validator per concept.

Every check raises ``TypeError`` or ``ValueError`` naming the public function (or module),
what was expected and what came, e.g.
``giou_loss: boxes and target must have the same shape; got (8, 4) and (8, 5)``.

Two kinds of check live here:

* **Hyperparameters by annotation.** A keyword argument's annotation says what it accepts:
  ``bool`` (a real ``bool``, not ``"yes"`` or ``1``), a ``Literal`` of choices, a number, a
  tensor, and, through :data:`typing.Annotated`, a :class:`Range` of allowed values (e.g.
  :data:`Positive`, :data:`UnitInterval`, :data:`Angle`) or a :class:`BoolTensor`.
  :func:`make_check` turns an annotation into a check; :func:`losskit._api.checked` runs those
  checks for every public function and :class:`losskit._api.LossModule` for every module
  constructor, so a concept is validated the same way everywhere.
* **Tensors by metadata**: type, shape, dtype, device, label ranges.

Checks on *values* (a range, NaN) read tensors only where that costs no host-device
synchronisation: on CPU tensors, and never while ``torch.compile`` traces. Metadata checks
(type, dtype, shape, device) run everywhere.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args, get_origin

import torch
from torch import Tensor

from ._autograd import traced, vmapping

# ------------------------------------------------------------------ annotation markers


@dataclass(frozen=True)
class Range:
    """Allowed values of a number (or of every element of a tensor)."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, v: float) -> bool:
        if math.isnan(v):
            return False
        lo_ok = v > self.low if self.low_open else v >= self.low
        hi_ok = v < self.high if self.high_open else v <= self.high
        return lo_ok and hi_ok and math.isfinite(v)

    def describe(self) -> str:
        """``">= 0"``, ``"> 0"`` or ``"in [0, 1]"``."""

        def num(x: float) -> str:
            return "pi" if x == math.pi else f"{x:g}"

        if math.isinf(self.high):
            if math.isinf(self.low):
                return "finite"
            return f"{'>' if self.low_open else '>='} {num(self.low)}"
        lo = "(" if self.low_open else "["
        hi = ")" if self.high_open else "]"
        return f"in {lo}{num(self.low)}, {num(self.high)}{hi}"

    def number_rule(self) -> str:
        if math.isinf(self.high):
            return f"a finite number {self.describe()}"
        return f"a number {self.describe()}"


@dataclass(frozen=True)
class Hint:
    """Text appended to the ``TypeError`` of a value of the wrong kind (what to pass instead)."""

    text: str


@dataclass(frozen=True)
class BoolTensor:
    """Marks a tensor argument that must have dtype ``torch.bool`` (a ``mask``)."""


#: ``> 0``: eps, scale, delta, sizes of things.
Positive = Annotated[float, Range(0.0, low_open=True)]
#: ``>= 0``: margins, exponents, weights of terms.
NonNegative = Annotated[float, Range(0.0)]
#: ``[0, 1]``: probabilities, rates, smoothing.
UnitInterval = Annotated[float, Range(0.0, 1.0)]
#: ``(0, 1]``: a sampled fraction.
Fraction = Annotated[float, Range(0.0, 1.0, low_open=True)]
#: ``[0, pi)``: an additive angular margin in radians.
Angle = Annotated[float, Range(0.0, math.pi, high_open=True)]
#: ``(0, 0.5)``: the clamp of probabilities to ``[eps, 1 - eps]``.
ProbabilityEps = Annotated[float, Range(0.0, 0.5, low_open=True, high_open=True)]
#: an ``int >= 1``: sizes, counts, block lengths.
PositiveInt = Annotated[int, Range(1.0)]
#: an optional non-negative tensor broadcastable to the unreduced loss (the reduction weight).
Weight = Annotated[Tensor | None, Range(0.0)]
#: an optional bool tensor, ``True`` = keep.
Mask = Annotated[Tensor | None, BoolTensor()]
#: an optional non-negative ``(C,)`` tensor, one value per class.
ClassWeight = Annotated[Tensor | None, Range(0.0)]
#: an optional non-negative ``(C,)`` focal balance factor per class (softmax focal loss).
ClassAlpha = Annotated[
    Tensor | None,
    Range(0.0),
    Hint(
        "a single number only scales the loss; MONAI's scalar alpha means "
        "tensor([1 - alpha, alpha, ..., alpha])"
    ),
]
#: a non-negative number or tensor (weighted BCE's ``pos_weight``).
PosWeight = Annotated[float | Tensor, Range(0.0)]
#: the focal balance factor: a number or tensor in ``[0, 1]``, or ``None``.
FocalAlpha = Annotated[float | Tensor | None, Range(0.0, 1.0)]
#: a scale ``> 0``: a number or a one-element tensor (learnable).
Scale = Annotated[float | Tensor, Range(0.0, low_open=True)]
#: dense detection's normaliser: what ``"mean"`` divides the summed loss by (a count of
#: positives), a number or a one-element tensor ``>= 0``, or ``None``.
AvgFactor = Annotated[float | Tensor | None, Range(0.0)]
#: an ``int >= 0``: iteration counts that may be 0.
NonNegativeInt = Annotated[int, Range(0.0)]
#: a required non-negative tensor (the generalized Wasserstein Dice's ``(C, C)`` distances).
ClassDistance = Annotated[Tensor, Range(0.0)]
#: PolyLoss's coefficient of ``(1 - p_t)``: a number ``>= -1`` (the loss stays non-negative).
PolyCoef = Annotated[float, Range(-1.0)]
#: per-class sample counts ``(C,)``, ``>= 0`` (long-tail losses; never differentiated).
ClassCounts = Annotated[Tensor, Range(0.0)]
#: Barron's shape parameter ``alpha``: any finite number, or a tensor of finite values.
RobustShape = Annotated[float | Tensor, Range()]

_NONE = type(None)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _type_name(v: object) -> str:
    if isinstance(v, Tensor):
        return f"a tensor of dtype {v.dtype}"
    return type(v).__name__


def any_true(b: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """``b.any(dim)`` for a bool ``b``; on CPU (eager) the maximum of its bytes, about 35x
    faster there (torch's CPU ``any``/``all`` on bool run element by element: 1.5 ms against
    0.04 ms on two million entries)."""
    if b.dtype != torch.bool or b.device.type != "cpu" or b.numel() == 0 or traced():
        return b.any() if dim is None else b.any(dim, keepdim=keepdim)
    u = b.view(torch.uint8)
    return (u.amax() if dim is None else u.amax(dim, keepdim=keepdim)).bool()


def all_true(b: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """``b.all(dim)`` for a bool ``b``; the minimum of its bytes on CPU (see :func:`any_true`)."""
    if b.dtype != torch.bool or b.device.type != "cpu" or b.numel() == 0 or traced():
        return b.all() if dim is None else b.all(dim, keepdim=keepdim)
    u = b.view(torch.uint8)
    return (u.amin() if dim is None else u.amin(dim, keepdim=keepdim)).bool()


def keep_factor(keep: Tensor, dtype: torch.dtype) -> Tensor:
    """A bool ``keep`` as a 0/1 tensor of ``dtype``; on CPU (eager) through its bytes, about
    3x faster there than torch's bool-to-float conversion."""
    if keep.dtype != torch.bool or keep.device.type != "cpu" or traced():
        return keep.to(dtype)
    return keep.view(torch.uint8).to(dtype)


def float_onehot(t: Tensor, num_classes: int) -> Tensor:
    """The one-hot form of float labels ``t`` ``(N, 1, *)`` holding integer values: ``(N, C,
    *)`` in the dtype of ``t``, 1 where ``t == c`` and 0 elsewhere (also for a label outside
    ``[0, C)``), as ``max(0, 1 - |t - c|)``.

    For ``torch.compile``: compiled CPU code compares and converts int64 labels on a slow
    path on AVX2, and stores a bool one-hot tensor (saved for the backward) byte by byte
    (generalized Dice of (2, 3, 96^3): 127 ms per compiled step with a bool one-hot, 31 ms
    with this form); this form is float arithmetic the compiler fuses into its consumers."""
    shape = (1, num_classes) + (1,) * (t.dim() - 2)
    classes = torch.arange(num_classes, device=t.device, dtype=t.dtype).view(shape)
    return (1.0 - (t - classes).abs()).clamp_min(0.0)


def scatter_onehot(like: Tensor, labels: Tensor, value: float | bool = 1.0) -> Tensor:
    """Zeros of ``like``'s shape (and dtype, or bool for a bool ``value``) with ``value`` at
    each label along dim 1 (``labels`` ``(N, *)``, valid classes): one scatter into a fresh
    tensor, in place (under ``torch.func.vmap`` out of place: the in-place scatter has no
    batching rule there, and torch falls back to a loop over the batch)."""
    base = torch.zeros_like(like, dtype=torch.bool if isinstance(value, bool) else None)
    index = labels.unsqueeze(1)
    return base.scatter(1, index, value) if vmapping() else base.scatter_(1, index, value)


def keep_bytes(keep: Tensor) -> Tensor:
    """A bool ``keep`` as a factor for a product with a float tensor (which the product
    promotes): on CPU (eager) its bytes viewed as ``uint8``, no copy, about twice as fast
    there as a bool operand and cheaper than :func:`keep_factor`'s fresh float tensor;
    elsewhere ``keep`` itself."""
    if keep.dtype != torch.bool or keep.device.type != "cpu" or traced():
        return keep
    return keep.view(torch.uint8)


def surely_finite(x: Tensor) -> bool:
    """``True`` only when every value of ``x`` is finite, known from one sum (a NaN or an inf
    makes the sum non-finite; an overflowing sum of finite values answers ``False``, which is
    only conservative). CPU and eager only (``False`` elsewhere: no sync, nothing traced).

    Lets a loss skip the bool select that guards left-out entries (``where(keep, x, 0)``),
    about 4x a float product on CPU, when there is nothing to guard against."""
    if x.device.type != "cpu" or traced() or not x.is_floating_point():
        return False
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    return bool(torch.isfinite(x.detach().sum(dtype=acc)))


def check_tensor_values(fn: str, name: str, x: Tensor, allowed: Range) -> None:
    """Every element finite and in ``allowed`` (CPU tensors only, never while compiling)."""
    if x.device.type != "cpu" or x.numel() == 0 or traced():
        return
    if x.dtype == torch.bool:
        return
    v = x.detach()
    if v.is_floating_point() and bool(any_true(torch.isnan(v))):
        raise ValueError(f"{fn}: {name} must not contain NaN")
    lo, hi = float(v.min()), float(v.max())
    if lo not in allowed or hi not in allowed:
        raise ValueError(
            f"{fn}: {name} must hold finite values {allowed.describe()}; "
            f"got values in [{lo:.4g}, {hi:.4g}]"
        )


def make_check(tp: Any) -> Callable[[str, str, object], None] | None:
    """The check an annotation asks for, or ``None`` when it asks for nothing checkable.

    ``check(fn, name, value)`` raises ``TypeError`` for a value of the wrong kind and
    ``ValueError`` for a value of the right kind outside its :class:`Range`.
    """
    meta: tuple[Any, ...] = ()
    if get_origin(tp) is Annotated:
        tp, *extra = get_args(tp)
        meta = tuple(extra)
    origin = get_origin(tp)
    options = get_args(tp) if origin in (typing.Union, types.UnionType) else (tp,)
    choices: list[object] = []
    kinds: list[type] = []
    allow_none = False
    flat = []
    for o in options:  # ``Annotated[int, Range] | None``: the metadata of a member counts too
        if get_origin(o) is Annotated:
            o, *extra = get_args(o)
            meta += tuple(extra)
        flat.append(o)
    for o in flat:
        if o is _NONE or o is None:
            allow_none = True
        elif get_origin(o) is Literal:
            choices.extend(get_args(o))
        elif isinstance(o, type):
            kinds.append(o)
    allowed = next((m for m in meta if isinstance(m, Range)), None)
    want_bool_tensor = any(isinstance(m, BoolTensor) for m in meta)
    hint = "".join(f" ({m.text})" for m in meta if isinstance(m, Hint))
    if not choices and not kinds:
        return None
    numeric = float in kinds or int in kinds
    integer_only = int in kinds and float not in kinds
    tensors = Tensor in kinds
    others = tuple(k for k in kinds if k not in (float, int, bool, Tensor))
    expected = []
    if bool in kinds:
        expected.append("a bool")
    if numeric:
        expected.append("an int" if integer_only else "a number")
    if tensors:
        expected.append("a bool tensor" if want_bool_tensor else "a tensor")
    expected += [f"a {k.__name__}" for k in others]
    if allow_none:
        expected.append("None")
    if choices:
        expected = [f"one of {', '.join(map(repr, choices))}"] + (["None"] if allow_none else [])

    def check(fn: str, name: str, v: object) -> None:
        if v is None:
            if allow_none:
                return
        elif choices:
            if isinstance(v, str) and v in choices:
                return
            if not kinds:
                raise ValueError(f"{fn}: {name} must be {' or '.join(expected)}; got {v!r}")
        if isinstance(v, bool):
            if bool in kinds:
                return
        elif numeric and _is_number(v):
            if integer_only and not isinstance(v, int):
                raise TypeError(f"{fn}: {name} must be an int; got {v!r}")
            number = float(typing.cast(float, v))
            if allowed is not None and number not in allowed:
                rule = f"an int {allowed.describe()}" if integer_only else allowed.number_rule()
                raise ValueError(f"{fn}: {name} must be {rule}; got {v!r}")
            if allowed is None and not math.isfinite(number):
                raise ValueError(f"{fn}: {name} must be finite; got {v!r}")
            return
        elif tensors and isinstance(v, Tensor):
            if want_bool_tensor and v.dtype != torch.bool:
                raise TypeError(
                    f"{fn}: {name} must be a bool tensor (True = keep); got dtype {v.dtype}"
                )
            if not want_bool_tensor and v.dtype == torch.bool and allowed is not None:
                raise TypeError(f"{fn}: {name} must be a numeric tensor; got dtype torch.bool")
            if allowed is not None:
                check_tensor_values(fn, name, v, allowed)
            return
        elif others and isinstance(v, others):
            return
        if choices and isinstance(v, str):
            raise ValueError(f"{fn}: {name} must be {' or '.join(expected)}; got {v!r}")
        raise TypeError(f"{fn}: {name} must be {' or '.join(expected)}; got {_type_name(v)}{hint}")

    return check


def required_check(tp: Any) -> Callable[[str, str, object], None]:
    """:func:`make_check` for an annotation that asks for a check (``PositiveInt``,
    ``Fraction``, ``float``): the check itself, never ``None``."""
    check = make_check(tp)
    if check is None:
        raise TypeError(f"required_check: {tp!r} asks for no check")
    return check


def check_choice(fn: str, name: str, value: object, choices: Sequence[object]) -> object:
    """``value`` one of ``choices`` (for options not given by an annotation)."""
    if value not in choices:
        raise ValueError(
            f"{fn}: {name} must be one of {', '.join(map(repr, choices))}; got {value!r}"
        )
    return value


# ------------------------------------------------------------------ tensors by metadata


def _shape(x: Tensor) -> tuple[int, ...]:
    return tuple(x.shape)


def check_tensor(fn: str, name: str, x: object) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: {name} must be a torch.Tensor; got {type(x).__name__}")
    return x


def check_floating(fn: str, name: str, x: object) -> Tensor:
    x = check_tensor(fn, name, x)
    if not x.is_floating_point():
        raise TypeError(f"{fn}: {name} must be a floating-point tensor; got dtype {x.dtype}")
    return x


def check_integer(fn: str, name: str, x: object) -> Tensor:
    """Integer class indices: every integer dtype (int8 to int64, uint8) is accepted."""
    x = check_tensor(fn, name, x)
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise TypeError(
            f"{fn}: {name} must be an integer tensor of class indices; got dtype {x.dtype}"
        )
    return x


def check_same_shape(
    fn: str, a: Tensor, b: Tensor, names: tuple[str, str] = ("pred", "target")
) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{fn}: {names[0]} and {names[1]} must have the same shape; "
            f"got {_shape(a)} and {_shape(b)}"
        )


def check_same_device(fn: str, *named: tuple[str, Tensor | None]) -> None:
    """Every given tensor (``None`` entries are skipped) on one device."""
    present = [(n, t) for n, t in named if isinstance(t, Tensor)]
    devices = {t.device for _, t in present}
    if len(devices) > 1:
        got = ", ".join(f"{n} on {t.device}" for n, t in present)
        raise ValueError(f"{fn}: all tensors must be on one device; got {got}")


def check_ndim(fn: str, name: str, x: Tensor, ndims: int | Sequence[int]) -> None:
    allowed = (ndims,) if isinstance(ndims, int) else tuple(ndims)
    if x.dim() not in allowed:
        want = " or ".join(str(d) for d in allowed)
        raise ValueError(f"{fn}: {name} must have {want} dimensions; got shape {_shape(x)}")


def check_min_ndim(fn: str, name: str, x: Tensor, ndim: int, layout: str) -> None:
    if x.dim() < ndim:
        raise ValueError(f"{fn}: {name} must have shape {layout}; got shape {_shape(x)}")


def check_last_dim(fn: str, name: str, x: Tensor, size: int) -> None:
    if x.dim() == 0 or x.shape[-1] != size:
        raise ValueError(f"{fn}: {name} must have shape (..., {size}); got {_shape(x)}")


def check_broadcast(
    fn: str, name: str, x: Tensor | None, shape: torch.Size | tuple[int, ...]
) -> Tensor | None:
    """``x`` broadcastable to ``shape`` without enlarging it (``None`` passes)."""
    if x is None:
        return None
    shape = torch.Size(shape)
    try:
        out = torch.broadcast_shapes(x.shape, shape)
    except RuntimeError:
        out = None
    if out != shape:
        raise ValueError(
            f"{fn}: {name} must broadcast to {tuple(shape)} without enlarging it; got {_shape(x)}"
        )
    return x


def check_per_row(fn: str, name: str, x: Tensor | None, n: int) -> Tensor | None:
    """``x`` of shape ``(n,)``, one value per row (``None`` passes)."""
    if x is not None and x.shape != (n,):
        raise ValueError(f"{fn}: {name} must have shape ({n},), one value per row; got {_shape(x)}")
    return x


def check_class_vector(fn: str, name: str, x: Tensor | None, num_classes: int) -> Tensor | None:
    """A ``(C,)`` floating tensor, one value per class (``None`` passes)."""
    if x is None:
        return None
    check_floating(fn, name, x)
    if x.shape != (num_classes,):
        raise ValueError(
            f"{fn}: {name} must have shape ({num_classes},), one value per class; got {_shape(x)}"
        )
    return x


def not_ignored(labels: Tensor, ignore_index: int) -> Tensor | None:
    """``labels != ignore_index`` without wrap-around: a value the dtype cannot hold (-100 in
    ``uint8``, where the comparison would read it as 156) matches nothing (``None``)."""
    if not labels.is_floating_point() and labels.dtype != torch.bool:
        info = torch.iinfo(labels.dtype)
        if not info.min <= ignore_index <= info.max:
            return None
    return labels != ignore_index


def kept_range(
    x: Tensor, sel: Tensor | None, lo: float, hi: float, *, whole: bool = True
) -> tuple[float, float] | None:
    """``None`` when every value of ``x`` that ``sel`` (bool, broadcastable; ``None``: all)
    keeps lies in ``[lo, hi]`` (NaN does not), else the kept values' ``(min, max)``.

    With a ``sel``, one plain ``aminmax`` first (every value in range: so are the kept ones;
    ``whole=False`` when the caller has just found that false), then one select and one
    ``aminmax``: left-out values are replaced by ``lo``, which passes. Boolean indexing
    (``x[sel]``: a ``nonzero`` and a gather, about 15x a pass over the tensor on CPU) is paid
    only on the way to an error, for its message."""
    v = x.detach()
    if v.numel() == 0:
        return None
    if v.dtype == torch.bool:
        v = v.to(torch.uint8)  # aminmax takes no bool
    s = None if sel is None else sel.expand(v.shape)
    if s is not None and whole:  # every value in range, so the kept ones too: no select
        a, b = v.aminmax()
        if lo <= float(a) and float(b) <= hi:
            return None
    fill: float | None = lo
    if not v.is_floating_point():  # the filler must be a value of the dtype, inside [lo, hi]
        info = torch.iinfo(v.dtype)
        fill = max(math.ceil(lo), info.min)
        fill = fill if fill <= min(hi, info.max) else None
    if s is None or fill is not None:
        w = v if s is None else torch.where(s, v, torch.tensor(fill, dtype=v.dtype, device=v.device))
        a, b = w.aminmax()
        if lo <= float(a) and float(b) <= hi:  # NaN fails both comparisons
            return None
    kept = v if s is None else v[s]
    if kept.numel() == 0:
        return None
    a, b = kept.aminmax()
    return float(a), float(b)


def check_labels(
    fn: str,
    labels: Tensor,
    num_classes: int,
    *,
    name: str = "labels",
    ignore_index: int | None = None,
    keep: Tensor | None = None,
) -> None:
    """Integer labels in ``[0, num_classes)`` (or equal to ``ignore_index``) wherever ``keep``
    (bool, broadcastable to ``labels``; ``None``: everywhere) keeps them: a left-out label is
    never read, so its value is free (a 255 "void" label under a mask).

    The range is checked on CPU tensors only (on an accelerator it would force a sync) and
    never while ``torch.compile`` traces.
    """
    check_integer(fn, name, labels)
    if labels.device.type != "cpu" or labels.numel() == 0 or traced():
        return
    if labels.dtype != torch.bool:  # every label in range: so are the kept ones (one pass)
        lo_t, hi_t = labels.aminmax()
        if lo_t >= 0 and hi_t < num_classes:
            return
    sel = None if ignore_index is None else not_ignored(labels, ignore_index)
    if keep is not None:
        k = keep.expand(labels.shape)
        sel = k if sel is None else sel & k
    # the plain pass above (non-bool labels) already found a value out of range
    bad = kept_range(labels, sel, 0, num_classes - 1, whole=labels.dtype == torch.bool)
    if bad is not None:
        lo, hi = int(bad[0]), int(bad[1])
        raise ValueError(
            f"{fn}: {name} must lie in [0, {num_classes - 1}]"
            + (f" or equal ignore_index={ignore_index}" if ignore_index is not None else "")
            + f"; got values in [{lo}, {hi}]"
        )


def check_unit_values(
    fn: str, name: str, x: Tensor, hint: str = "", keep: Tensor | None = None
) -> None:
    """Values in ``[0, 1]`` (binary targets, probabilities) where ``keep`` is True (all when
    ``None``); CPU only, never while compiling."""
    if x.device.type != "cpu" or x.numel() == 0 or traced():
        return
    bad = kept_range(x, keep, 0.0, 1.0)
    if bad is not None:
        lo, hi = bad
        raise ValueError(
            f"{fn}: {name} must hold values in [0, 1]; got values in [{lo:.4g}, {hi:.4g}]" + hint
        )


def compute_dtype(x: Tensor) -> torch.dtype:
    """float16/bfloat16 are computed in float32; float32/float64 as they are."""
    return torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
