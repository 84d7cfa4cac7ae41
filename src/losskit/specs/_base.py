"""The data types of the registry. Kept apart from :mod:`losskit.registry` so that each
family's spec module can import them without a cycle."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ._explain import Panel

FAMILIES: tuple[str, ...] = (
    "regression",
    "classification",
    "embedding",
    "constraint",
    "margin",
    "box",
    "overlap",
    "pytorch",
)


@dataclass(frozen=True)
class LossInputs:
    """Inputs of one loss call.

    Attributes:
        args: positional tensors, in the order the function takes them.
        kwargs: keyword arguments that belong to the data (e.g. a ``mask``), not to the
            loss's hyperparameters.
        batched: for each positional arg, whether its dim 0 is the batch (permuted together
            by the permutation test).
    """

    args: tuple[Tensor, ...]
    batched: tuple[bool, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)


#: ``make_inputs(n, *, dtype, device, generator)`` builds a batch of ``n`` samples (``n`` may
#: be 0). Floating inputs have ``dtype``; labels stay integer.
InputMaker = Callable[..., LossInputs]


@dataclass(frozen=True)
class BadInput:
    """An input the loss must reject: ``make()`` returns ``(args, kwargs)``; the call must
    raise ``error`` with a message matching the regular expression ``match``."""

    label: str
    make: Callable[[], tuple[tuple[Any, ...], dict[str, Any]]]
    error: type[Exception]
    match: str


@dataclass(frozen=True)
class BenchCase:
    """One benchmark case. ``setup(device)`` returns ``{implementation: step}``; each step
    runs one forward and backward pass. ``"losskit"`` must be among the keys; the others are
    the peers (e.g. ``"torch"``, ``"torchvision"``)."""

    label: str
    setup: Callable[[torch.device], dict[str, Callable[[], Any]]]


@dataclass(frozen=True)
class LossSpec:
    """A registry entry: everything the tests, ``losskit list``, the report and the
    benchmarks need to know about one loss.

    Attributes:
        name: unique registry name (the functional name for losskit's own losses, the
            ``torch.nn`` class name for the PyTorch catalogue).
        family: one of :data:`FAMILIES`.
        function: the functional form, ``function(*inputs.args, *module_args(m), **kwargs,
            reduction=r, **inputs.kwargs)``.
        module: the ``nn.Module`` class, ``module(**kwargs, reduction=r)``.
        make_inputs: see :data:`InputMaker`.
        summary: one line on what the loss computes.
        formula: the formula in plain text.
        when_to_use: a paragraph on when a practitioner reaches for it.
        paper: authors, title, venue, arXiv id (empty for textbook losses).
        peers: dotted names of equivalent implementations in peer libraries.
        delegates_to: for the PyTorch catalogue, the torch object that does the computation.
        kwargs: hyperparameters passed to both the function and the module constructor.
        module_kwargs: constructor-only arguments of the module that the tests, report and
            benchmarks use (e.g. ``in_features`` and ``num_classes`` for a head that owns
            its class weight); :func:`losskit.create` does not apply them.
        module_args: extracts the module's learnable tensors that the function takes
            positionally after the inputs (e.g. class centres).
        reductions: the reductions the loss accepts; the second is the module default.
        grad_args: indexes of the positional inputs that gradcheck differentiates.
        batch_in_output: ``"none"`` returns one value per sample along dim 0, so permuting
            the batch permutes it.
        empty_mean: what ``"mean"`` over an empty batch gives: ``"zero"`` (losskit's rule),
            ``"nan"`` (a delegated torch loss; documented, tested) or ``"undefined"`` (a
            delegated torch loss that returns an arbitrary finite value; only run).
        half: float16/bfloat16 supported on CPU.
        half_rtol: relative tolerance of half precision against float32.
        bad_inputs: inputs the loss must reject.
        bench: benchmark cases.
        explain: the panels ``losskit explain`` draws (see :mod:`losskit.specs._explain`).
    """

    name: str
    family: str
    function: Callable[..., Tensor]
    module: type[nn.Module]
    make_inputs: InputMaker
    summary: str
    formula: str
    when_to_use: str
    paper: str = ""
    peers: tuple[str, ...] = ()
    delegates_to: str | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    module_kwargs: Mapping[str, Any] = field(default_factory=dict)
    module_args: Callable[[nn.Module], tuple[Tensor, ...]] | None = None
    reductions: tuple[str, ...] = ("none", "mean", "sum")
    grad_args: tuple[int, ...] = (0,)
    batch_in_output: bool = True
    empty_mean: str = "zero"
    half: bool = True
    half_rtol: float = 2e-2
    bad_inputs: tuple[BadInput, ...] = ()
    bench: tuple[BenchCase, ...] = ()
    explain: Callable[[], tuple[Panel, ...]] | None = None

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(
                f"LossSpec {self.name!r}: family must be one of {FAMILIES}; got {self.family!r}"
            )
        if self.empty_mean not in ("zero", "nan", "undefined"):
            raise ValueError(
                f"LossSpec {self.name!r}: empty_mean must be 'zero', 'nan' or 'undefined'"
            )

    @property
    def default_reduction(self) -> str:
        return self.reductions[1] if len(self.reductions) > 1 else self.reductions[0]

    def build(self, **overrides: Any) -> nn.Module:
        """The module with the spec's hyperparameters, overridden by ``overrides``."""
        return self.module(**{**self.module_kwargs, **self.kwargs, **overrides})

    def call(self, inputs: LossInputs, module: nn.Module | None = None, **overrides: Any) -> Tensor:
        """The functional form on ``inputs`` (with ``module``'s learnable tensors, if any)."""
        extra = self.module_args(module) if (self.module_args and module is not None) else ()
        return self.function(*inputs.args, *extra, **{**self.kwargs, **overrides}, **inputs.kwargs)
