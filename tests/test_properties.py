"""Property-based edge tests over the registry: the classes of defect a careful adversary finds.

Every losskit entry of the registry (the PyTorch catalogue delegates to torch and is left to
tests/test_harness.py) is run through:

* **bad hyperparameters**: for every annotated keyword argument, values generated from its
  annotation (NaN, inf, out of range, wrong kind, a tensor on another device, a tensor with a
  negative or NaN element) must raise ``TypeError``/``ValueError`` naming the function, from the
  function, the module constructor and the module's ``forward``;
* **every tensor argument's gradient** (inputs, target, module state, ``weight``,
  ``class_weight``, ``pos_weight``, ``alpha``, a learnable ``scale``) against finite differences;
* **double backward**: ``create_graph=True`` either gives exact second derivatives
  (``gradgradcheck``) or raises a clear error; never a gradient without a graph;
* **integer label dtypes**: int8/int16/int32/uint8 labels mean what int64 labels mean;
* **leaving entries out**: a ``mask`` equals dropping the rows (whose values, NaN included,
  are never read); ``ignore_index`` equals the ``mask`` it stands for;
* **extreme magnitudes**: where the float64 result is representable in float32, the float32
  value and gradients are finite and agree with it (the ranges of docs/conventions.md);
* **tie-heavy boxes**: the fused box backward equals autograd of the plain formulas on boxes
  snapped to a coarse grid, and a perfect prediction has a zero gradient;
* **layouts**: non-contiguous and permuted-storage inputs equal contiguous ones;
* **malformed inputs**: a wrong shape, dtype or kind of any positional argument is either a
  valid call or a ``TypeError``/``ValueError`` naming the function, never a crash inside torch.

The number of generated cases per test is printed at the end of the run (conftest.py). The
``thorough`` hypothesis profile (``HYPOTHESIS_PROFILE=thorough``) runs ten times as many.
"""

from __future__ import annotations

import inspect
import math
import re
import typing
from collections import Counter
from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args, get_origin

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from losskit._checks import BoolTensor, ClassWeight, Range
from losskit._geometry import FusedIoU, iou_similarity
from losskit.registry import REGISTRY, LossInputs, LossSpec

from .conftest import gen

#: generated cases per test in this run (printed by conftest.py's terminal summary)
CASES: Counter[str] = Counter()

SPECS = [s for s in REGISTRY if s.family != "pytorch"]
IDS = [s.name for s in SPECS]
CPU = torch.device("cpu")
F64 = torch.float64

#: the decimal exponents of input scale checked in float32: the whole range (1e-30..1e30)
#: except where docs/conventions.md ("Supported input ranges") states a narrower one: box
#: areas must be representable (coordinates below ~1.8e19; 3-D volumes: below ~7e12),
#: range_loss works in squared distances (differences above ~1e-19)
SCALE_LIMITS: dict[str, tuple[int, int]] = {
    "box": (-30, 18), "iou_3d_loss": (-30, 12), "giou_3d_loss": (-30, 12), "range_loss": (-18, 30)
}  # fmt: skip


def examples(n: int) -> Callable[[Any], Any]:
    """``settings`` with ``n`` examples (times ten under the ``thorough`` profile)."""
    scale = 10 if settings().max_examples >= 1000 else 1
    return settings(max_examples=n * scale)


# ------------------------------------------------------------------ helpers


def _inputs(spec: LossSpec, n: int, dtype: torch.dtype = F64, seed: int = 0) -> LossInputs:
    return spec.make_inputs(n, dtype=dtype, device=CPU, generator=gen(seed))


def _state(spec: LossSpec, dtype: torch.dtype = F64) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(0)
    module = spec.build().to(dtype)
    return tuple(t.detach().clone() for t in spec.module_state(module))


def _call(spec: LossSpec, args, state=(), **kw: Any) -> torch.Tensor:
    return spec.function(*args, *state, **{**spec.kwargs, **kw})


def _hints(spec: LossSpec) -> dict[str, Any]:
    """The annotated keyword-only arguments of the function (``shard`` is distributed)."""
    target = inspect.unwrap(spec.function)
    hints = typing.get_type_hints(target, include_extras=True)
    return {
        p.name: hints[p.name]
        for p in inspect.signature(target).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name in hints and p.name != "shard"
    }


def _parse(tp: Any) -> tuple[Range | None, bool, set[type], list[object], bool]:
    """(range, bool tensor?, kinds, literal choices, None allowed) of an annotation."""
    meta: list[Any] = []
    if get_origin(tp) is Annotated:
        tp, *extra = get_args(tp)
        meta += extra
    union = get_origin(tp) in (typing.Union, __import__("types").UnionType)
    options = get_args(tp) if union else (tp,)
    kinds: set[type] = set()
    choices: list[object] = []
    allow_none = False
    for o in options:
        if get_origin(o) is Annotated:
            o, *extra = get_args(o)
            meta += extra
        if o is type(None):
            allow_none = True
        elif get_origin(o) is Literal:
            choices += list(get_args(o))
        elif isinstance(o, type):
            kinds.add(o)
    rng = next((m for m in meta if isinstance(m, Range)), None)
    return rng, any(isinstance(m, BoolTensor) for m in meta), kinds, choices, allow_none


def _fill(t: torch.Tensor, value: float) -> torch.Tensor:
    out = t.detach().clone()
    out.view(-1)[0] = value
    return out


def _valid_tensor(
    spec: LossSpec, name: str, inputs: LossInputs, state
) -> tuple[torch.Tensor | None, dict[str, Any]]:
    """A valid value of the tensor argument ``name`` for these inputs (``None``: none found),
    and the keyword arguments it needs (a per-sample ``weight`` of an overlap loss needs
    ``per_sample=True``)."""
    x0 = inputs.args[0]
    dt = x0.dtype
    none = _call(spec, inputs.args, state, reduction="none", **inputs.kwargs)
    g = gen(11)
    per_sample = (x0.shape[0],) + (1,) * max(none.dim() - 1, 0)
    spatial = (x0.shape[0],) + tuple(x0.shape[2:]) if x0.dim() > 2 else None
    cands: list[torch.Tensor] = []
    if name == "weight":
        cands = [torch.rand(none.shape, generator=g, dtype=dt) + 0.5,
                 torch.rand(x0.shape[:1], generator=g, dtype=dt) + 0.5]  # fmt: skip
        if spatial is not None:
            cands.append(torch.rand(spatial, generator=g, dtype=dt) + 0.5)
    elif name == "mask":
        shapes = [none.shape, per_sample] + ([spatial] if spatial is not None else [])
        for shape in shapes:
            m = torch.rand(shape, generator=g) > 0.3
            m.view(-1)[0] = True
            cands.append(m)
    elif name == "pos_weight":
        cands = [torch.rand(x0.shape, generator=g, dtype=dt) + 0.5]
    elif name == "alpha":
        given_alpha = spec.kwargs.get("alpha")
        like = given_alpha if isinstance(given_alpha, torch.Tensor) else x0
        cands = [torch.rand(like.shape, generator=g, dtype=dt) * 0.8 + 0.1]
    elif name == "class_weight" or _hints(spec)[name] == ClassWeight:  # any per-class tensor
        sizes = [x0.shape[1]] if x0.dim() > 1 else []
        cands = [torch.rand(c, generator=g, dtype=dt) + 0.5 for c in sizes + [1]]
    elif name == "scale":
        cands = [torch.tensor(float(spec.kwargs.get("scale", 8.0)), dtype=dt)]
    options: list[dict[str, Any]] = [{}]
    if "per_sample" in _hints(spec):
        options.append({"per_sample": True})
    for extra in options:
        for c in cands:
            try:
                _call(spec, inputs.args, state, **{**inputs.kwargs, **extra, name: c})
            except (ValueError, TypeError):
                continue
            return c, extra
    return None, {}


def _bad_values(tp: Any, valid: torch.Tensor | None) -> list[tuple[str, object, type]]:
    """(label, value, error) for values the annotation ``tp`` refuses."""
    rng, bool_tensor, kinds, choices, allow_none = _parse(tp)
    out: list[tuple[str, object, type]] = []
    numeric = bool(kinds & {int, float})
    if choices:
        out.append(("unknown-choice", "no-such-option", ValueError))
    if bool in kinds:
        out += [("str-for-bool", "yes", TypeError), ("int-for-bool", 1, TypeError)]
    if numeric:
        integer = int in kinds and float not in kinds
        num: Callable[[float], object] = int if integer else float
        # a float where an int is expected is the wrong kind, whatever its value
        non_finite = TypeError if integer else ValueError
        out += [("nan", math.nan, non_finite), ("inf", math.inf, non_finite),
                ("-inf", -math.inf, non_finite), ("bool-for-number", True, TypeError)]  # fmt: skip
        if not choices:
            out.append(("str-for-number", "1", TypeError))
        if integer:
            out.append(("float-for-int", 1.5, TypeError))
        if rng is not None:
            if math.isfinite(rng.low):
                out.append(("below-range", num(rng.low - 1.0), ValueError))
                if rng.low_open:
                    out.append(("open-low-end", num(rng.low), ValueError))
            if math.isfinite(rng.high):
                out.append(("above-range", num(rng.high + 1.0), ValueError))
                if rng.high_open:
                    out.append(("open-high-end", num(rng.high), ValueError))
    elif torch.Tensor not in kinds and not choices and bool not in kinds:
        out.append(("wrong-kind", "x", TypeError))
    if torch.Tensor in kinds and valid is not None:
        if bool_tensor:
            out.append(("float-mask", valid.double(), TypeError))
        else:
            if rng is not None:
                out.append(("tensor-nan", _fill(valid, math.nan), ValueError))
                if math.isfinite(rng.low):
                    out.append(("tensor-below-range", _fill(valid, rng.low - 1.0), ValueError))
                    if rng.low_open:
                        out.append(("tensor-open-low-end", _fill(valid, rng.low), ValueError))
                if math.isfinite(rng.high):
                    out.append(("tensor-above-range", _fill(valid, rng.high + 1.0), ValueError))
            out.append(("bool-tensor", valid > 0, TypeError))
        out.append(("other-device", valid.to("meta"), ValueError))
    if torch.Tensor not in kinds and numeric:
        out.append(("tensor-for-number", torch.tensor(1.0), TypeError))
    if not allow_none:
        out.append(("none", None, TypeError))
    return out


def _bad_cases() -> list[tuple[LossSpec, str, str, object, type, dict[str, Any]]]:
    cases = []
    for spec in SPECS:
        inputs = _inputs(spec, 4)
        state = _state(spec)
        for name, tp in _hints(spec).items():
            valid, extra = None, {}
            if torch.Tensor in _parse(tp)[2]:
                valid, extra = _valid_tensor(spec, name, inputs, state)
            for label, value, error in _bad_values(tp, valid):
                cases.append((spec, name, label, value, error, extra))
    return cases


BAD = _bad_cases()


def _ids(cases) -> list[str]:
    return [f"{s.name}-{n}-{label}" for s, n, label, *_ in cases]


@pytest.mark.parametrize(("spec", "name", "label", "value", "error", "extra"), BAD, ids=_ids(BAD))
def test_bad_hyperparameter_is_refused(spec, name, label, value, error, extra) -> None:
    """The function, the module constructor and the module's forward refuse the value."""
    CASES["bad hyperparameter"] += 1
    inputs = _inputs(spec, 4)
    state = _state(spec)
    fn = spec.function.__name__
    cls = spec.module.__name__
    pattern = rf"^({fn}|{cls}): .*{re.escape(name)}"
    with pytest.raises(error, match=pattern):
        _call(spec, inputs.args, state, **{**inputs.kwargs, **extra, name: value})
    params = inspect.signature(spec.module).parameters
    if name in params and label != "other-device":  # refused by the constructor (a buffer
        # follows the module to its device, so only the call can see a device mismatch)
        with pytest.raises(error, match=pattern):
            spec.build(**{name: value})
    elif name in ("weight", "mask"):  # per-call data: refused by forward
        module = spec.build(**extra).to(F64)
        with pytest.raises(error, match=pattern):
            module(*inputs.args, **{**inputs.kwargs, name: value})


def test_every_annotated_hyperparameter_has_bad_values() -> None:
    """The generator above covers every keyword argument of every loss."""
    covered = {(s.name, n) for s, n, *_ in BAD}
    for spec in SPECS:
        for name in _hints(spec):
            assert (spec.name, name) in covered, f"{spec.name}: no bad value for {name}"


# ------------------------------------------------------------------ gradients


def _is_binary(t: torch.Tensor) -> bool:
    return bool(((t == 0) | (t == 1)).all())


def _diff_positions(spec: LossSpec, inputs: LossInputs) -> list[int]:
    """Floating positional inputs that can be perturbed: the spec's gradient inputs and any
    other floating input whose values are not a binary {0, 1} target."""
    return [
        i
        for i, a in enumerate(inputs.args)
        if a.is_floating_point() and (i in spec.grad_args or not _is_binary(a))
    ]


TENSOR_HYPER = ("weight", "pos_weight", "alpha", "class_weight", "scale")


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
@examples(4)
@given(n=st.integers(1, 5), seed=st.integers(0, 2**16), r=st.integers(0, 2))
def test_every_tensor_argument_gradient(spec: LossSpec, n: int, seed: int, r: int) -> None:
    """gradcheck over every tensor argument together: inputs, module state and tensor
    hyperparameters. A dropped gradient (an argument the loss detaches) fails here."""
    CASES["gradient of every tensor argument"] += 1
    inputs = _inputs(spec, n, seed=seed)
    state = _state(spec)
    reduction = spec.reductions[r % len(spec.reductions)]
    hints = _hints(spec)
    hyper: dict[str, torch.Tensor] = {}
    extra: dict[str, Any] = {}
    for name in TENSOR_HYPER:
        if name in hints and torch.Tensor in _parse(hints[name])[2]:
            valid, needs = _valid_tensor(spec, name, inputs, state)
            if valid is not None and all(extra.get(k, v) == v for k, v in needs.items()):
                hyper[name] = valid
                extra.update(needs)
    pos = _diff_positions(spec, inputs)
    leaves = [inputs.args[i] for i in pos] + list(state) + list(hyper.values())
    leaves = [t.detach().clone().requires_grad_() for t in leaves]

    def f(*xs: torch.Tensor) -> torch.Tensor:
        args = list(inputs.args)
        for i, x in zip(pos, xs[: len(pos)], strict=True):
            args[i] = x
        st_ = xs[len(pos) : len(pos) + len(state)]
        hy = dict(zip(hyper, xs[len(pos) + len(state) :], strict=True))
        return _call(spec, args, st_, reduction=reduction, **inputs.kwargs, **extra, **hy)

    assert torch.autograd.gradcheck(f, tuple(leaves), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
@examples(2)
@given(seed=st.integers(0, 2**16))
def test_double_backward_is_exact(spec: LossSpec, seed: int) -> None:
    """create_graph=True gives the first-order gradient and exact second derivatives (over
    inputs and module state)."""
    CASES["double backward"] += 1
    inputs = _inputs(spec, 3, seed=seed)
    state = _state(spec)
    pos = _diff_positions(spec, inputs)
    leaves = [inputs.args[i] for i in pos] + list(state)
    leaves = [t.detach().clone().requires_grad_() for t in leaves]

    def f(*xs: torch.Tensor) -> torch.Tensor:
        args = list(inputs.args)
        for i, x in zip(pos, xs[: len(pos)], strict=True):
            args[i] = x
        return _call(spec, args, xs[len(pos) :], **inputs.kwargs)

    loss = f(*leaves)
    grads = torch.autograd.grad(loss, leaves, create_graph=True, retain_graph=True)
    assert any(g.requires_grad for g in grads), f"{spec.name}: gradient without a graph"
    # the create_graph backward (what gradgradcheck differentiates) must give the first-order
    # gradient of the same graph: a hand-written backward that switches to another form
    # under create_graph could otherwise pass gradgradcheck with a wrong but self-consistent
    # form (one forward pass: a stateful loss moves its state on every call)
    plain = torch.autograd.grad(loss, leaves)
    for g_graph, g_plain in zip(grads, plain, strict=True):
        torch.testing.assert_close(g_graph.detach(), g_plain, rtol=1e-9, atol=1e-12)
    assert torch.autograd.gradgradcheck(f, tuple(leaves), eps=1e-6, atol=1e-4)


# ------------------------------------------------------------------ labels and exclusion


def _int_positions(inputs: LossInputs) -> list[int]:
    return [
        i
        for i, a in enumerate(inputs.args)
        if not a.is_floating_point() and a.dtype != torch.bool
    ]


LABELLED = [s for s in SPECS if _int_positions(_inputs(s, 2))]


@pytest.mark.parametrize("spec", LABELLED, ids=[s.name for s in LABELLED])
@examples(4)
@given(
    seed=st.integers(0, 2**16),
    dtype=st.sampled_from([torch.int8, torch.int16, torch.int32, torch.uint8]),
    with_class_weight=st.booleans(),
)
def test_integer_label_dtypes(
    spec: LossSpec, seed: int, dtype: torch.dtype, with_class_weight: bool
) -> None:
    """Every integer dtype means class indices, with or without ``class_weight``."""
    CASES["integer label dtypes"] += 1
    inputs = _inputs(spec, 6, seed=seed)
    state = _state(spec)
    kw = dict(inputs.kwargs)
    if with_class_weight and "class_weight" in _hints(spec):
        cw, needs = _valid_tensor(spec, "class_weight", inputs, state)
        if cw is not None and not needs:
            kw["class_weight"] = cw
    args = list(inputs.args)
    for i in _int_positions(inputs):
        if dtype == torch.uint8 and bool((args[i] < 0).any()):
            return
        args[i] = args[i].to(dtype)
    for reduction in spec.reductions:
        expected = _call(spec, inputs.args, state, reduction=reduction, **kw)
        got = _call(spec, args, state, reduction=reduction, **kw)
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


MASKED = [s for s in SPECS if "mask" in _hints(s)]


def _mask_shape(spec: LossSpec, inputs: LossInputs, state) -> tuple[int, ...]:
    """The per-sample mask shape the loss accepts: ``(N, 1, ..., 1)``."""
    x0 = inputs.args[0]
    none = _call(spec, inputs.args, state, reduction="none", **inputs.kwargs)
    n = x0.shape[0]
    for k in sorted({none.dim() - 1, x0.dim() - 2, x0.dim() - 1, 0}):
        shape = (n,) + (1,) * max(k, 0)
        try:
            _call(spec, inputs.args, state, mask=torch.ones(shape, dtype=torch.bool),
                  **inputs.kwargs)  # fmt: skip
        except (ValueError, TypeError):
            continue
        return shape
    raise AssertionError(f"{spec.name}: no per-sample mask shape accepted")


@pytest.mark.parametrize("dirt", [math.nan, 0.5], ids=["nan", "finite"])
@pytest.mark.parametrize("spec", MASKED, ids=[s.name for s in MASKED])
@examples(5)
@given(seed=st.integers(0, 2**16), keep=st.lists(st.booleans(), min_size=6, max_size=6))
def test_mask_equals_dropping_the_rows(
    spec: LossSpec, dirt: float, seed: int, keep: list[bool]
) -> None:
    """A per-sample mask equals the loss of the kept samples alone; the left-out rows hold
    NaN, which reaches neither the value nor any gradient. With a finite value there the
    losses may skip their selects and weigh the row 0 instead (the CPU fast path of masked
    losses): the same value, and a gradient of exactly 0 on it."""
    CASES["mask equals subset"] += 1
    n = 6
    inputs = _inputs(spec, n, seed=seed)
    state = _state(spec)
    shape = _mask_shape(spec, inputs, state)
    kept = torch.tensor(keep)
    mask = kept.view(shape)
    dirty = []
    for a, b in zip(inputs.args, inputs.batched, strict=True):
        if b and a.is_floating_point():
            a = a.clone()
            a[~kept] = dirt
        dirty.append(a.detach().requires_grad_(a.is_floating_point()))
    subset = [a[kept] if b else a for a, b in zip(inputs.args, inputs.batched, strict=True)]
    for reduction in spec.reductions:
        got = _call(spec, dirty, state, reduction=reduction, mask=mask, **inputs.kwargs)
        assert torch.isfinite(got).all(), f"{spec.name}: a left-out NaN reached the value"
        if kept.any():
            want = _call(spec, subset, state, reduction=reduction, **inputs.kwargs)
            if reduction == "none":
                got = got[kept] if spec.batch_in_output else got
                if not spec.batch_in_output:
                    continue
            torch.testing.assert_close(got, want)
        elif reduction != "none":
            assert got.item() == 0.0
    out = _call(spec, dirty, state, mask=mask, **inputs.kwargs)
    grads = torch.autograd.grad(out, [a for a in dirty if a.requires_grad], allow_unused=True)
    for g in grads:
        if g is not None:
            assert torch.isfinite(g).all(), f"{spec.name}: NaN gradient from a left-out row"
            assert (g[~kept] == 0).all(), f"{spec.name}: a left-out row got a gradient"


IGNORING = [s for s in SPECS if "ignore_index" in _hints(s) and _int_positions(_inputs(s, 2))]


@pytest.mark.parametrize("spec", IGNORING, ids=[s.name for s in IGNORING])
@examples(5)
@given(seed=st.integers(0, 2**16), void=st.lists(st.booleans(), min_size=6, max_size=6))
def test_ignore_index_equals_mask(spec: LossSpec, seed: int, void: list[bool]) -> None:
    """Labels equal to ``ignore_index`` give what ``mask=labels != ignore_index`` gives."""
    CASES["ignore_index equals mask"] += 1
    inputs = _inputs(spec, 6, seed=seed)
    state = _state(spec)
    i = _int_positions(inputs)[0]
    labels = inputs.args[i].clone()
    rows = torch.tensor(void)
    labels[rows] = -100
    args = list(inputs.args)
    args[i] = labels
    mask = labels != -100
    for reduction in spec.reductions:
        got = _call(spec, args, state, reduction=reduction, **inputs.kwargs)
        want = _call(spec, args, state, reduction=reduction, mask=mask, ignore_index=None,
                     **inputs.kwargs)  # fmt: skip
        torch.testing.assert_close(got, want)


# ------------------------------------------------------------------ magnitudes


def _scaled_positions(spec: LossSpec, inputs: LossInputs) -> list[int]:
    """The inputs that carry the data's scale: all floating inputs, except targets that are
    probabilities (classification, overlap), whose scale is fixed."""
    fl = [i for i, a in enumerate(inputs.args) if a.is_floating_point()]
    if spec.family in ("classification", "overlap"):
        return fl[:1]
    return fl


FLOAT32_MAX = 3.0e37  # a margin under float32's 3.4e38


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
@examples(6)
@given(k=st.integers(-30, 30), seed=st.integers(0, 2**16))
def test_extreme_magnitudes(spec: LossSpec, k: int, seed: int) -> None:
    """float32 at scale 10^k agrees with float64 wherever float64's result is representable
    in float32 (within the loss's SCALE_LIMITS)."""
    lo, hi = SCALE_LIMITS.get(spec.name, SCALE_LIMITS.get(spec.family, (-30, 30)))
    k = max(lo, min(hi, k))
    CASES["extreme magnitudes"] += 1
    inputs = _inputs(spec, 4, seed=seed)
    state = _state(spec)
    scaled = _scaled_positions(spec, inputs)
    results = {}
    # the scaled inputs rounded to float32 first: only the computation differs
    rounded = [
        ((a * 10.0**k) if i in scaled else a).float() if a.is_floating_point() else a
        for i, a in enumerate(inputs.args)
    ]
    for dt in (F64, torch.float32):
        args = [
            a.to(dt).requires_grad_(i in scaled) if a.is_floating_point() else a
            for i, a in enumerate(rounded)
        ]
        st_ = [t.float().to(dt) for t in state]
        out = _call(spec, args, st_, reduction="sum", **inputs.kwargs)
        grads = torch.autograd.grad(out, [args[i] for i in scaled])
        results[dt] = (out.double(), [g.double() for g in grads])
    v64, g64 = results[F64]
    v32, g32 = results[torch.float32]
    assert torch.isfinite(v64), f"{spec.name}: float64 not finite at scale 1e{k}"
    if abs(v64) > FLOAT32_MAX or any(g.abs().max() > FLOAT32_MAX for g in g64):
        return  # float64's answer is not a float32 number
    assert torch.isfinite(v32), f"{spec.name}: float32 gives {v32.item()} at scale 1e{k}"
    assert abs(v32 - v64) <= 1e-3 * abs(v64) + 1e-6, (spec.name, k, v32.item(), v64.item())
    for a, b in zip(g64, g32, strict=True):
        assert torch.isfinite(b).all(), f"{spec.name}: float32 gradient not finite at 1e{k}"
        # relative to the largest gradient, with a floor at float32's resolution of the loss
        # per unit of input (a saturated softmax has gradients of order exp(-10^k) that float32
        # resolves only to about 1e-7 of the loss)
        floor = 1e-6 * abs(v64) / max(10.0**k, 1.0) + 1e-30
        tol = 1e-2 * a.abs().max() + floor
        assert (a - b).abs().max() <= tol, (spec.name, k, (a - b).abs().max().item())


#: float32 scale of the subnormal test: 2^-140, inside the subnormal numbers (below 2^-126)
SUBNORMAL = 2.0**-140


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_subnormal_inputs_give_finite_results(spec: LossSpec) -> None:
    """float32 inputs scaled into the subnormal numbers: the loss and the gradient of every
    scaled input finite (a loss whose documented range stops above 1e-30 is skipped). A
    hand-written backward that divided by an unscaled distance (``1 / d`` overflows there;
    the batch contrastive loss) gave NaN."""
    lo, _ = SCALE_LIMITS.get(spec.name, SCALE_LIMITS.get(spec.family, (-30, 30)))
    if lo > -30:
        pytest.skip(f"{spec.name}: inputs supported down to 1e{lo} (docs/conventions.md)")
    CASES["subnormal inputs"] += 1
    inputs = _inputs(spec, 4, seed=0)
    scaled = _scaled_positions(spec, inputs)
    args = [
        ((a * SUBNORMAL).float().requires_grad_() if i in scaled else a.float())
        if a.is_floating_point() else a
        for i, a in enumerate(inputs.args)
    ]
    st_ = [t.float() for t in _state(spec)]
    out = _call(spec, args, st_, reduction="sum", **inputs.kwargs)
    assert torch.isfinite(out), f"{spec.name}: {out.item()} at subnormal inputs"
    for i, g in zip(scaled, torch.autograd.grad(out, [args[i] for i in scaled]), strict=True):
        assert torch.isfinite(g).all(), f"{spec.name}: gradient of input {i} not finite"


# ------------------------------------------------------------------ boxes on a grid

BOXES = [s for s in SPECS if s.family == "box"]


@st.composite
def grid_boxes(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs of xyxy boxes on a 0..4 integer grid: shared edges, identical and degenerate
    boxes are frequent."""
    n = draw(st.integers(1, 6))
    rows_p, rows_t = [], []
    for _ in range(n):
        x1, y1 = draw(st.integers(0, 4)), draw(st.integers(0, 4))
        w, h = draw(st.integers(0, 3)), draw(st.integers(0, 3))
        p = [x1, y1, x1 + w, y1 + h]
        if draw(st.booleans()):
            t = list(p)
        else:
            tx, ty = draw(st.integers(0, 4)), draw(st.integers(0, 4))
            t = [tx, ty, tx + draw(st.integers(0, 3)), ty + draw(st.integers(0, 3))]
        rows_p.append(p)
        rows_t.append(t)
    return torch.tensor(rows_p, dtype=F64), torch.tensor(rows_t, dtype=F64)


@examples(40)
@given(
    pair=grid_boxes(),
    kind=st.sampled_from(["iou", "giou", "diou", "ciou", "eiou", "siou"]),
    alpha_mode=st.sampled_from(["detach", "grad", "threshold"]),
    v_grad=st.sampled_from(["exact", "paper"]),
)
def test_fused_box_backward_equals_autograd_at_ties(pair, kind, alpha_mode, v_grad) -> None:
    CASES["fused box backward at ties"] += 1
    p0, t0 = pair
    out = []
    for fused in (True, False):
        p, t = p0.clone().requires_grad_(), t0.clone().requires_grad_()
        if fused:
            loss = FusedIoU.apply(p, t, kind, 1e-7, alpha_mode, v_grad)
        else:
            loss = 1.0 - iou_similarity(p, t, kind, eps=1e-7, alpha_mode=alpha_mode, v_grad=v_grad)
        g = torch.rand(loss.shape, generator=gen(3), dtype=F64)
        out.append((loss, *torch.autograd.grad(loss, (p, t), g)))
    for a, b in zip(*out, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("spec", BOXES, ids=[s.name for s in BOXES])
@examples(10)
@given(pair=grid_boxes())
def test_perfect_box_prediction_has_zero_gradient(spec: LossSpec, pair) -> None:
    CASES["perfect box prediction"] += 1
    _, t = pair
    t = t.clone()
    t[:, 2:] += 1.0  # boxes with area: IoU 1 is reachable
    if _inputs(spec, 1).args[0].shape[-1] == 6:  # 3-D boxes: z copies y (depth = height)
        t = torch.cat([t[:, :2], t[:, 1:2], t[:, 2:], t[:, 3:]], dim=-1)
    p = t.clone().requires_grad_()
    # eps (default 1e-7) keeps IoU = A / (A + eps) just under 1, with a gradient of order
    # eps / A; a tiny eps shows that nothing else (a min/max tie) moves a perfect box
    loss = _call(spec, (p, t), reduction="sum", eps=1e-12)
    (g,) = torch.autograd.grad(loss, p)
    assert loss.abs().item() < 1e-9
    assert g.abs().max().item() < 1e-9, f"{spec.name}: {g}"


# ------------------------------------------------------------------ layouts


def _strided(a: torch.Tensor, how: str) -> torch.Tensor:
    """``a``'s values in a non-contiguous layout."""
    if a.dim() == 0:
        return a
    if how == "every-other":
        big = torch.zeros(a.shape + (2,), dtype=a.dtype)
        big[..., 0] = a
        return big[..., 0]
    return a.movedim(0, -1).contiguous().movedim(-1, 0)  # batch dim innermost in memory


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
@examples(2)
@given(how=st.sampled_from(["every-other", "batch-innermost"]), seed=st.integers(0, 2**16))
def test_non_contiguous_inputs(spec: LossSpec, how: str, seed: int) -> None:
    CASES["non-contiguous layouts"] += 1
    inputs = _inputs(spec, 5, seed=seed)
    state = _state(spec)
    pos = _diff_positions(spec, inputs)
    results = []
    for layout in (None, how):
        args = [a.clone() if layout is None else _strided(a, layout) for a in inputs.args]
        for i in pos:
            args[i] = args[i].detach().requires_grad_()
        st_ = [t if layout is None else _strided(t, layout) for t in state]
        out = _call(spec, args, st_, reduction="sum", **inputs.kwargs)
        results.append((out, *torch.autograd.grad(out, [args[i] for i in pos])))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ malformed inputs

MUTATIONS = ("0-dim", "1-dim", "drop-last-dim", "extra-dim", "grow-last", "shrink-batch",
             "int-dtype", "float-dtype", "bool-dtype", "not-a-tensor")  # fmt: skip


def _mutate(a: torch.Tensor, how: str) -> object:
    if how == "0-dim":
        return a.reshape(-1)[0].clone() if a.numel() else torch.tensor(0, dtype=a.dtype)
    if how == "1-dim":
        return a.reshape(-1)
    if how == "drop-last-dim":
        return a[..., 0] if a.dim() else a
    if how == "extra-dim":
        return a.unsqueeze(-1).expand(*a.shape, 2).clone()
    if how == "grow-last":
        return torch.cat([a, a[..., :1]], -1) if a.dim() else a
    if how == "shrink-batch":
        return a[:-1] if a.dim() else a
    if how == "int-dtype":
        return a.long()
    if how == "float-dtype":
        return a.double()
    if how == "bool-dtype":
        return a != 0
    return a.tolist()


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("spec", SPECS, ids=IDS)
@examples(12)
@given(data=st.data())
def test_malformed_input_is_valid_or_a_clear_error(spec: LossSpec, data: st.DataObject) -> None:
    CASES["malformed inputs"] += 1
    inputs = _inputs(spec, 4)
    state = _state(spec)
    i = data.draw(st.integers(0, len(inputs.args) - 1), label="argument")
    how = data.draw(st.sampled_from(MUTATIONS), label="mutation")
    args = list(inputs.args)
    args[i] = _mutate(args[i], how)
    fn = spec.function.__name__
    try:
        out = _call(spec, args, state, **inputs.kwargs)
    except (TypeError, ValueError) as e:
        assert str(e).startswith(f"{fn}: "), f"{fn} ({how} argument {i}): {e}"
        return
    assert isinstance(out, torch.Tensor) and torch.isfinite(out).all(), (fn, how, i)
