"""The two pieces every loss is built from: :func:`checked` for the function and
:class:`LossModule` for its module.

**The function holds the math.** ``@checked`` validates a function's keyword arguments from
their annotations (:func:`losskit._checks.make_check`: ``bool`` must be a bool, a ``Literal``
one of its choices, ``Positive`` a finite number ``> 0``, a ``Weight`` a non-negative tensor,
a ``Mask`` a bool tensor, ...), so one concept is validated the same way in every function.
Positional tensors are checked by the function itself (shapes depend on the loss).

**The module is derived from the function** (the torchmetrics idea): a subclass names its
function and lists the constructor arguments as annotated fields::

    class SmoothL1Loss(LossModule, function=smooth_l1_loss):
        beta: NonNegative = DEFAULT

``DEFAULT`` means "the function's default": the module never restates a default, its
validation is the function's, and ``extra_repr`` is built from the fields. The constructor is
generated with an explicit signature (``help()``, IDEs and type checkers see every argument,
through :pep:`681`); an unknown argument raises ``TypeError`` naming the class and the nearest
valid name. A class creation fails at import time if its fields and its function's
hyperparameters disagree. ``forward(*inputs, weight=None, mask=None)`` is one call of the
function with the module's hyperparameters and state (``state=("centers",)``: attributes
passed positionally after the inputs). Per-call data (``weight``, ``mask``, ``shard``) goes to
``forward``, never to the constructor.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor, nn

from ._checks import make_check
from ._reduction import Reduction

if sys.version_info >= (3, 11):
    from typing import dataclass_transform
else:  # Python 3.10: typing_extensions (a declared dependency there) backports it
    from typing_extensions import dataclass_transform

__all__ = ["DEFAULT", "LossModule", "checked", "field", "DATA_ARGUMENTS"]

#: keyword arguments of a loss that are per-call data, not hyperparameters
DATA_ARGUMENTS = frozenset({"weight", "mask", "shard", "avg_factor"})

F = TypeVar("F", bound=Callable[..., Any])

Check = Callable[[str, str, object], None]


class _Default:
    __slots__ = ()

    def __repr__(self) -> str:
        return "DEFAULT"


#: a module field's default: take the function's default for the argument of that name
DEFAULT: Any = _Default()


def _checks_of(fn: Callable[..., Any]) -> dict[str, Check]:
    """Checks for ``fn``'s keyword-only arguments, from their annotations (cached)."""
    cached = getattr(fn, "__losskit_checks__", None)
    if cached is not None:
        return cached
    target = inspect.unwrap(fn)
    hints = typing.get_type_hints(target, include_extras=True)
    checks: dict[str, Check] = {}
    for p in inspect.signature(target).parameters.values():
        if p.kind is p.KEYWORD_ONLY and p.name in hints:
            check = make_check(hints[p.name])
            if check is not None:
                checks[p.name] = check
    fn.__losskit_checks__ = checks  # type: ignore[attr-defined]
    return checks


def checked(fn: F) -> F:
    """Validate ``fn``'s keyword arguments from their annotations on every eager call.

    The checks are built on the first call from the annotations. While ``torch.compile``
    traces, nothing is checked here (values may be symbolic); the eager call and the module
    constructor check them.
    """
    name = fn.__name__

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if kwargs and not torch.compiler.is_compiling():
            checks = _checks_of(wrapper)
            for key, value in kwargs.items():
                check = checks.get(key)
                if check is not None:
                    check(name, key, value)
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True)
class _FieldSpec:
    default: Any
    kw_only: bool


def field(*, default: Any = DEFAULT, kw_only: bool = True) -> Any:
    """A module field: ``kw_only=False`` makes it positional (sizes such as ``num_classes``);
    without ``default`` it is required."""
    return _FieldSpec(default, kw_only)


_MISSING = inspect.Parameter.empty


@dataclass(frozen=True)
class _Field:
    name: str
    default: Any
    kw_only: bool
    owner: type


def _annotation(f: _Field) -> Any:
    """The field's type for the generated signature (``help()``, IDEs, the docs), resolved
    where possible (``Positive`` shows as ``float``), else as written."""
    try:
        return typing.get_type_hints(f.owner).get(f.name, _MISSING)
    except Exception:  # a name the defining module has not bound yet: keep the text
        return f.owner.__dict__.get("__annotations__", {}).get(f.name, _MISSING)


def _is_classvar(annotation: object) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


def _repr_value(v: object) -> str:
    if isinstance(v, nn.Parameter) and v.dim() == 0:
        return f"learnable({float(v.detach()):.4g})"
    if isinstance(v, Tensor):
        return f"tensor{tuple(v.shape)}"
    return repr(v)


@dataclass_transform(kw_only_default=True, field_specifiers=(field,))
class LossModule(nn.Module):
    """Base of every losskit module: hyperparameters as fields, math in :attr:`function`.

    See the module docstring of :mod:`losskit._api` for how a subclass is written.
    """

    #: the loss function this module calls
    function: ClassVar[Callable[..., Tensor]]
    #: attributes passed to the function positionally after the forward inputs
    state: ClassVar[tuple[str, ...]] = ()
    _fields: ClassVar[tuple[_Field, ...]] = ()
    _hyper: ClassVar[tuple[str, ...]] = ()

    reduction: Reduction = DEFAULT

    def __init_subclass__(
        cls,
        *,
        function: Callable[..., Tensor] | None = None,
        state: tuple[str, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if state is not None:
            cls.state = state
        own: dict[str, _Field] = {}
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():
            if _is_classvar(annotation):
                continue
            raw = cls.__dict__.get(name, _MISSING)
            spec = (
                raw
                if isinstance(raw, _FieldSpec)
                else _FieldSpec(DEFAULT if raw is _MISSING else raw, True)
            )
            own[name] = _Field(name, spec.default, spec.kw_only, cls)
            if name in cls.__dict__:
                # the class keeps no default: instances hold every field (nn.Module may then
                # turn one into a parameter or buffer)
                delattr(cls, name)
        cls._own_fields = own  # type: ignore[attr-defined]
        fields: dict[str, _Field] = {}
        for klass in reversed(cls.__mro__):
            for name, f in klass.__dict__.get("_own_fields", {}).items():
                fields.pop(name, None)
                fields[name] = f
        if function is None:
            function = cls.__dict__.get("function") or getattr(cls, "function", None)
            if function is None:
                cls._fields = tuple(fields.values())
                return
        else:
            cls.function = staticmethod(function)
            function.__losskit_module__ = cls  # type: ignore[attr-defined]
        _build(cls, function, fields)

    def __post_init__(self) -> None:
        """Create parameters and buffers after the fields are set (override in subclasses)."""

    def hyperparameters(self) -> dict[str, Any]:
        """The keyword arguments this module passes to :attr:`function`."""
        return {name: getattr(self, name) for name in self._hyper}

    def state_tensors(self) -> tuple[Any, ...]:
        """The module's state that the function takes positionally after the inputs."""
        return tuple(getattr(self, name) for name in self.state)

    # ``*inputs: Any``: a subclass may declare its own inputs (as nn.Module's forward allows)
    def forward(self, *inputs: Any, **data: Any) -> Tensor:
        """One call of :attr:`function` on ``inputs`` with this module's hyperparameters.

        ``data`` holds the per-call keyword arguments the function accepts (``weight``,
        ``mask``); the class docstring gives the shapes.
        """
        return self.function(*inputs, *self.state_tensors(), **self.hyperparameters(), **data)

    def extra_repr(self) -> str:
        parts = []
        for f in self._fields:
            v = getattr(self, f.name, _MISSING)
            if v is _MISSING:  # consumed by __post_init__ (device, dtype)
                continue
            flags: dict[str, bool] = self.__dict__["_flags"]
            if f.name in flags and not isinstance(v, bool):
                v = flags[f.name]  # a flag that __post_init__ turned into state (bias)
            parts.append(_repr_value(v) if not f.kw_only else f"{f.name}={_repr_value(v)}")
        return ", ".join(parts)


# the base's own field, recorded as __init_subclass__ records a subclass's
LossModule._own_fields = {"reduction": _Field("reduction", DEFAULT, True, LossModule)}  # type: ignore[attr-defined]
del LossModule.reduction


def _build(cls: type[LossModule], function: Callable[..., Any], fields: dict[str, _Field]) -> None:
    sig = inspect.signature(function)
    fn_kw = [
        p
        for p in sig.parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name not in DATA_ARGUMENTS
    ]
    fn_names = {p.name for p in fn_kw}
    missing = [p.name for p in fn_kw if p.name not in fields]
    if missing:
        raise TypeError(
            f"{cls.__name__}: declare the hyperparameters of {function.__name__} as fields: "
            f"{', '.join(missing)}"
        )
    defaults: dict[str, Any] = {}
    params_pos: list[inspect.Parameter] = []
    params_kw: list[inspect.Parameter] = []
    for f in fields.values():
        default = f.default
        if f.name in fn_names:
            if default is DEFAULT:
                default = sig.parameters[f.name].default
        elif default is DEFAULT:
            default = _MISSING
        if default is not _MISSING:
            defaults[f.name] = default
        kind = (
            inspect.Parameter.KEYWORD_ONLY if f.kw_only else inspect.Parameter.POSITIONAL_OR_KEYWORD
        )
        param = inspect.Parameter(f.name, kind, default=default, annotation=_annotation(f))
        (params_kw if f.kw_only else params_pos).append(param)
    order = {p.name: i for i, p in enumerate(fn_kw)}
    params_kw.sort(key=lambda p: order.get(p.name, len(order)))
    signature = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)] + params_pos + params_kw
    )
    cls._fields = tuple(fields[p.name] for p in params_pos + params_kw)
    cls._hyper = tuple(p.name for p in fn_kw)
    names = [p.name for p in params_pos + params_kw]

    def __init__(self: LossModule, *args: Any, **kwargs: Any) -> None:
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as e:
            raise TypeError(_bind_message(type(self).__name__, e, kwargs, names)) from None
        nn.Module.__init__(self)
        owner = type(self).__name__
        fn_checks = _checks_of(function)
        own_checks = _field_checks(type(self))
        values = {**defaults, **{k: v for k, v in bound.arguments.items() if k != "self"}}
        self.__dict__["_flags"] = {k: v for k, v in values.items() if isinstance(v, bool)}
        for name, value in values.items():
            check = fn_checks.get(name) or own_checks.get(name)
            if check is not None:
                check(owner, name, value)
            if isinstance(value, Tensor) and not isinstance(value, nn.Parameter):
                # tensor hyperparameters move with .to(); not saved in state_dict
                self.register_buffer(name, value.detach().clone(), persistent=False)
            else:
                setattr(self, name, value)
        self.__post_init__()

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__module__ = cls.__module__
    __init__.__doc__ = (
        f"Build a {cls.__name__}; the arguments are described in the class docstring."
    )
    cls.__init__ = __init__  # type: ignore[method-assign, assignment]

    inputs = [
        p.replace(kind=p.POSITIONAL_OR_KEYWORD, default=p.default)
        for p in sig.parameters.values()
        if p.kind is not p.KEYWORD_ONLY and p.name not in cls.state
    ]
    data = [sig.parameters[n] for n in sig.parameters if n in DATA_ARGUMENTS]
    if cls.forward is LossModule.forward:

        def forward(self: LossModule, *inputs: Tensor, **data: Any) -> Tensor:
            return LossModule.forward(self, *inputs, **data)

        forward.__doc__ = (
            f"``{function.__name__}`` on the inputs with this module's hyperparameters: "
            f"({', '.join(p.name for p in inputs)})"
            + (f", per-call {', '.join(p.name for p in data)}" if data else "")
            + "; see the class docstring for shapes."
        )
        forward.__qualname__ = f"{cls.__qualname__}.forward"
        cls.forward = forward  # type: ignore[method-assign]
    cls.forward.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY), *inputs, *data]
    )


def _field_checks(cls: type) -> dict[str, Check]:
    cached = cls.__dict__.get("_losskit_field_checks")
    if cached is not None:
        return cached
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if isinstance(klass, type) and issubclass(klass, LossModule):
            hints.update(
                typing.get_type_hints(klass, include_extras=True, localns=dict(vars(klass)))
            )
    checks = {}
    for f in cls._fields:  # type: ignore[attr-defined]
        if f.name in hints and not _is_classvar(hints[f.name]):
            check = make_check(hints[f.name])
            if check is not None:
                checks[f.name] = check
    cls._losskit_field_checks = checks  # type: ignore[attr-defined]
    return checks


def _bind_message(owner: str, error: TypeError, kwargs: dict[str, Any], names: list[str]) -> str:
    unknown = [k for k in kwargs if k not in names]
    if unknown:
        near = difflib.get_close_matches(unknown[0], names, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        return f"{owner}: unexpected argument {unknown[0]!r}{hint} (arguments: {', '.join(names)})"
    return f"{owner}: {error}"
