"""The data types of the registry. Kept apart from :mod:`losskit.registry` so that each
family's spec module can import them without a cycle.

A :class:`LossSpec` keeps only what the shared tests, :func:`losskit.create`, ``losskit list``
and ``losskit explain`` need. What the docstring says (summary, formula, when to use it, the
paper) is read from the function's docstring (:func:`docstring_sections`), not restated;
benchmark cases live in :mod:`losskit.bench`, the catalogue of bad inputs with the tests.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

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

_SECTION = re.compile(r"^([A-Z][A-Za-z ]*):\s*$")


def docstring_sections(doc: str | None) -> dict[str, str]:
    """Split a Google-style docstring into ``{"summary": ..., "Formula": ..., ...}``.

    The summary is the first paragraph (joined into one line); each ``Name:`` line at the
    docstring's base indentation opens a section whose text is the indented block below it
    (dedented; paragraphs joined into lines).

    Example:
        >>> d = docstring_sections('''Sum of squares.
        ...
        ...     Formula:
        ...         l = x^2
        ...     ''')
        >>> d["summary"], d["Formula"]
        ('Sum of squares.', 'l = x^2')
    """
    text = inspect.cleandoc(doc or "")
    out: dict[str, str] = {}
    paragraphs = text.split("\n\n")
    out["summary"] = " ".join(line.strip() for line in paragraphs[0].splitlines()).strip()
    current: str | None = None
    body: list[str] = []

    def close() -> None:
        if current is not None:
            out[current] = inspect.cleandoc("\n".join(body)).strip()

    for line in text.splitlines()[len(paragraphs[0].splitlines()) :]:
        m = _SECTION.match(line)
        if m:
            close()
            current, body = m.group(1), []
        elif current is not None:
            if line and not line.startswith(" "):
                close()
                current, body = None, []
            else:
                body.append(line)
    close()
    return out


def _one_line(text: str) -> str:
    """Plain text on one line: whitespace collapsed, reST literal quotes and emphasis dropped."""
    text = re.sub(r"(?<![\w*])\*(\S[^*]*?)\*(?![\w*])", r"\1", text.replace("``", ""))
    return " ".join(text.split())


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
class LossSpec:
    """A registry entry: what the tests, ``losskit list``, ``explain`` and ``create`` need
    about one loss.

    Attributes:
        function: the functional form, ``function(*inputs.args, *module_state, **kwargs,
            reduction=r, **inputs.kwargs)``. Its name is the entry's name, its module (the
            :class:`~losskit._api.LossModule` derived from it) the entry's module, and its
            docstring gives the summary, formula, "when to use" and paper.
        family: one of :data:`FAMILIES`.
        make_inputs: see :data:`InputMaker`.
        peers: dotted names of equivalent implementations in peer libraries.
        kwargs: hyperparameters passed to both the function and the module constructor.
        module_kwargs: constructor-only arguments of the module that the tests, report and
            benchmarks use (e.g. ``num_classes`` and ``embedding_dim`` for a head that owns its
            class centres); :func:`losskit.create` does not apply them.
        reductions: the reductions the loss accepts; the second is the module default.
        grad_args: indexes of the positional inputs that gradcheck differentiates.
        batch_in_output: ``"none"`` returns one value per sample along dim 0, so permuting
            the batch permutes it.
        empty_mean: what ``"mean"`` over an empty batch gives: ``"zero"`` (losskit's rule),
            ``"nan"`` (a delegated torch loss; documented, tested) or ``"undefined"`` (a
            delegated torch loss that returns an arbitrary finite value; only run).
        half: float16/bfloat16 supported on CPU.
        half_rtol: relative tolerance of half precision against float32.
        fullgraph: ``torch.compile(fullgraph=True)`` captures the loss in one graph; ``False``
            only for losses with a data-dependent check or output shape (delegated torch
            losses; N-pair's selection of each class's first pair), compiled with graph breaks.
        order_dependent: the loss reads the order of the batch (N-pair takes each class's
            first pair), so the permutation test does not apply.
        explain: the panels ``losskit explain`` draws (see :mod:`losskit.specs._explain`).
        name: the registry name; only the PyTorch catalogue sets it (its torch class name).
        module: the module class; only the PyTorch catalogue sets it (the torch class).
        delegates_to: for the PyTorch catalogue, the torch object that does the computation.
        text: for the PyTorch catalogue (whose docstrings are torch's), the ``summary``,
            ``formula``, ``when_to_use`` and ``paper``.
    """

    function: Callable[..., Tensor]
    family: str
    make_inputs: InputMaker
    peers: tuple[str, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    module_kwargs: Mapping[str, Any] = field(default_factory=dict)
    reductions: tuple[str, ...] = ("none", "mean", "sum")
    grad_args: tuple[int, ...] = (0,)
    batch_in_output: bool = True
    empty_mean: str = "zero"
    half: bool = True
    half_rtol: float = 2e-2
    fullgraph: bool = True
    order_dependent: bool = False
    explain: Callable[[], tuple[Panel, ...]] | None = None
    name: str = ""
    module: type[nn.Module] | None = None
    delegates_to: str | None = None
    text: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.function.__name__)
        if self.module is None:
            module = getattr(self.function, "__losskit_module__", None)
            if module is None:
                raise ValueError(f"LossSpec {self.name!r}: {self.name} has no module class")
            object.__setattr__(self, "module", module)
        if self.family not in FAMILIES:
            raise ValueError(
                f"LossSpec {self.name!r}: family must be one of {FAMILIES}; got {self.family!r}"
            )
        if self.empty_mean not in ("zero", "nan", "undefined"):
            raise ValueError(
                f"LossSpec {self.name!r}: empty_mean must be 'zero', 'nan' or 'undefined'"
            )

    @cached_property
    def _doc(self) -> dict[str, str]:
        if self.text:
            return dict(self.text)
        d = docstring_sections(self.function.__doc__)
        return {
            "summary": _one_line(d.get("summary", "")),
            "formula": _one_line(d.get("Formula", "")),
            "when_to_use": _one_line(d.get("When to use", "")),
            "paper": _one_line(d.get("Paper", "")),
        }

    @property
    def summary(self) -> str:
        """The docstring's first paragraph."""
        return self._doc.get("summary", "")

    @property
    def formula(self) -> str:
        """The docstring's ``Formula:`` section."""
        return self._doc.get("formula", "")

    @property
    def when_to_use(self) -> str:
        """The docstring's ``When to use:`` section."""
        return self._doc.get("when_to_use", "")

    @property
    def paper(self) -> str:
        """The docstring's ``Paper:`` section (empty for textbook losses)."""
        return self._doc.get("paper", "")

    @property
    def default_reduction(self) -> str:
        return self.reductions[1] if len(self.reductions) > 1 else self.reductions[0]

    def build(self, **overrides: Any) -> nn.Module:
        """The module with the spec's hyperparameters, overridden by ``overrides``."""
        assert self.module is not None
        return self.module(**{**self.module_kwargs, **self.kwargs, **overrides})

    def module_state(self, module: nn.Module | None) -> tuple[Any, ...]:
        """The module's learnable state that the function takes after the inputs."""
        state = getattr(module, "state_tensors", None)
        return tuple(state()) if state is not None else ()

    def call(self, inputs: LossInputs, module: nn.Module | None = None, **overrides: Any) -> Tensor:
        """The functional form on ``inputs`` (with ``module``'s learnable state, if any)."""
        extra = self.module_state(module)
        return self.function(*inputs.args, *extra, **{**self.kwargs, **overrides}, **inputs.kwargs)
