"""The shared tester: every registry entry, the same checks (docs/design.md, "Tests").

Adding a LossSpec to the registry is enough to have it checked here: float64 gradcheck,
function equals module, torch.compile(fullgraph=True) equals eager, output shape per
reduction, empty input, "sum" equals "none".sum(), batch permutation, bad input, half
precision.
"""

from __future__ import annotations

import math

import pytest
import torch

from losskit.registry import REGISTRY, LossInputs, LossSpec

from .bad_inputs import catalogue
from .conftest import DEVICES, gen

SPECS = list(REGISTRY)
IDS = [s.name for s in SPECS]


def _make(spec: LossSpec, n: int, dtype=torch.float64, device="cpu", seed=0) -> LossInputs:
    return spec.make_inputs(n, dtype=dtype, device=torch.device(device), generator=gen(seed))


def _module(spec: LossSpec, reduction: str, device="cpu", dtype=torch.float64) -> torch.nn.Module:
    torch.manual_seed(0)
    return spec.build(reduction=reduction).to(device=device, dtype=dtype)


def _run(spec: LossSpec, inputs: LossInputs, reduction: str, module=None) -> torch.Tensor:
    return spec.call(inputs, module, reduction=reduction)


CATALOGUE = catalogue()


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_metadata(spec: LossSpec) -> None:
    assert spec.summary and spec.formula and spec.when_to_use, spec.name
    assert callable(spec.function) and issubclass(spec.module, torch.nn.Module)
    assert CATALOGUE.get(spec.name), f"{spec.name}: give at least one bad input"
    if spec.family != "pytorch":  # losskit's own functions: a docstring with a doctest
        assert ">>> " in (spec.function.__doc__ or ""), spec.name
        assert ">>> " in (spec.module.__doc__ or ""), spec.module.__name__


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_gradcheck_float64(spec: LossSpec) -> None:
    inputs = _make(spec, 3)
    module = _module(spec, spec.default_reduction)
    leaves = [
        a.detach().clone().requires_grad_(i in spec.grad_args) for i, a in enumerate(inputs.args)
    ]
    diff = tuple(leaves[i] for i in spec.grad_args)

    def f(*xs: torch.Tensor) -> torch.Tensor:
        args = list(leaves)
        for i, x in zip(spec.grad_args, xs, strict=True):
            args[i] = x
        li = LossInputs(tuple(args), inputs.batched, inputs.kwargs)
        return _run(spec, li, spec.default_reduction, module)

    assert torch.autograd.gradcheck(f, diff, eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_function_equals_module(spec: LossSpec, device: str) -> None:
    inputs = _make(spec, 6, device=device)
    for reduction in spec.reductions:
        module = _module(spec, reduction, device)
        expected = _run(spec, inputs, reduction, module)
        got = module(*inputs.args, **inputs.kwargs)
        torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_compile_fullgraph_equals_eager(spec: LossSpec) -> None:
    """torch.compile(fullgraph=True) gives the eager value and gradients."""
    torch._dynamo.reset()
    inputs = _make(spec, 5, dtype=torch.float32)
    module = _module(spec, spec.default_reduction, dtype=torch.float32)
    extra = spec.module_state(module)
    kwargs = {**spec.kwargs, **inputs.kwargs, "reduction": spec.default_reduction}

    def f(*args: torch.Tensor) -> torch.Tensor:
        return spec.function(*args, *extra, **kwargs)

    from torch._dynamo.utils import counters

    counters.clear()
    compiled = torch.compile(f, backend="aot_eager", fullgraph=spec.fullgraph)
    # values and the gradients of every differentiable input: the compiled forms (float
    # labels, saved derivatives, fused selects) must differentiate like the eager ones
    outs, grads = [], []
    for fn in (compiled, f):
        args = [
            a.detach().clone().requires_grad_(i in spec.grad_args) if a.is_floating_point() else a
            for i, a in enumerate(inputs.args)
        ]
        out = fn(*args)
        wanted = [args[i] for i in spec.grad_args]
        outs.append(out)
        grads.append(torch.autograd.grad(out.sum(), wanted) if wanted else ())
    torch.testing.assert_close(outs[0], outs[1])
    for got, want in zip(*grads, strict=True):
        torch.testing.assert_close(got, want)
    # dynamo really captured a graph (a delegated torch loss with graph breaks may run eagerly)
    assert counters["stats"]["unique_graphs"] >= 1 or not spec.fullgraph


#: entries whose forward or backward is a hand-written autograd function (fused box IoU,
#: fused focal and quality/varifocal, the margin softmax, chunked row-wise embedding losses,
#: the robust losses' value-and-derivative pass)
#: plus one plain entry per family: AOT autograd traces them with symbolic sizes
DYNAMIC_AOT = {
    "l1_loss", "focal_loss", "quality_focal_loss", "varifocal_loss", "softmax_cross_entropy",
    "giou_loss", "ciou_loss", "dice_loss", "lovasz_softmax_loss", "hausdorff_dt_loss",
    "batch_triplet_loss", "supcon_loss", "arcface_loss", "adaface_loss", "uniface_loss",
    "center_loss", "cauchy_loss", "balanced_l1_loss",
    "CrossEntropyLoss",
}  # fmt: skip
DYNAMIC = [
    pytest.param(s, b, id=f"{s.name}-{b}")
    for s in SPECS for b in (("eager", "aot_eager") if s.name in DYNAMIC_AOT else ("eager",))
]  # fmt: skip


def test_dynamic_aot_entries_exist() -> None:
    assert DYNAMIC_AOT <= set(IDS)


@pytest.mark.parametrize(("spec", "backend"), DYNAMIC)
def test_compile_dynamic_fullgraph_equals_eager(spec: LossSpec, backend: str) -> None:
    """torch.compile(dynamic=True, fullgraph=True) with the hyperparameters passed as call
    arguments (numbers become symbolic) runs two batch sizes through one graph."""
    torch._dynamo.reset()
    module = _module(spec, spec.default_reduction, dtype=torch.float32)
    extra = spec.module_state(module)
    kwargs = {**spec.kwargs, "reduction": spec.default_reduction}

    def f(args: tuple[torch.Tensor, ...], data: dict, hyper: dict) -> torch.Tensor:
        return spec.function(*args, *extra, **hyper, **data)

    # dynamo's capture with symbolic sizes and hyperparameters is what this test checks;
    # AOT autograd's trace of every entry is checked by the static test above and, with
    # symbolic sizes, on the entries of DYNAMIC_AOT (the fused autograd functions), below
    compiled = torch.compile(f, backend=backend, fullgraph=spec.fullgraph, dynamic=True)
    for n in (5, 7):
        inputs = _make(spec, n, dtype=torch.float32, seed=n)
        got = compiled(inputs.args, dict(inputs.kwargs), kwargs)
        torch.testing.assert_close(got, f(inputs.args, dict(inputs.kwargs), kwargs))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_output_shapes_and_sum(spec: LossSpec, device: str) -> None:
    n = 7
    inputs = _make(spec, n, device=device)
    module = _module(spec, "none", device)
    outs = {r: _run(spec, inputs, r, module) for r in spec.reductions}
    for r, out in outs.items():
        if r == "none":
            assert out.dim() >= 1
            if spec.batch_in_output:
                assert out.shape[0] == n
        else:
            assert out.shape == (), f"{spec.name}: reduction={r!r} gave shape {tuple(out.shape)}"
        assert torch.isfinite(out).all()
    if "none" in outs and "sum" in outs:
        torch.testing.assert_close(outs["sum"], outs["none"].sum())


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_empty_batch(spec: LossSpec) -> None:
    inputs = _make(spec, 0)
    leaves = [
        a.detach().clone().requires_grad_(i in spec.grad_args) for i, a in enumerate(inputs.args)
    ]
    li = LossInputs(tuple(leaves), inputs.batched, inputs.kwargs)
    module = _module(spec, spec.default_reduction)
    out = _run(spec, li, spec.default_reduction, module)
    assert out.shape == ()
    if spec.empty_mean == "zero":
        assert out.item() == 0.0
        out.backward()
        for i in spec.grad_args:
            assert leaves[i].grad is not None and leaves[i].grad.shape == leaves[i].shape
    elif spec.empty_mean == "nan":
        # documented behaviour of the delegated torch loss
        assert math.isnan(out.item())
    if "sum" in spec.reductions and spec.empty_mean != "undefined":
        assert _run(spec, li, "sum", module).item() == 0.0


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_batch_permutation(spec: LossSpec) -> None:
    if spec.order_dependent:
        pytest.skip(f"{spec.name} reads the batch order")
    n = 8
    inputs = _make(spec, n, seed=3)
    module = _module(spec, "none")
    perm = torch.randperm(n, generator=gen(5))
    permuted = LossInputs(
        tuple(a[perm] if b else a for a, b in zip(inputs.args, inputs.batched, strict=True)),
        inputs.batched,
        inputs.kwargs,
    )
    base = _run(spec, inputs, spec.default_reduction, module)
    torch.testing.assert_close(_run(spec, permuted, spec.default_reduction, module), base)
    if spec.batch_in_output and "none" in spec.reductions:
        torch.testing.assert_close(
            _run(spec, permuted, "none", module), _run(spec, inputs, "none", module)[perm]
        )


BAD = [(s, b) for s in SPECS for b in CATALOGUE.get(s.name, ())]


@pytest.mark.filterwarnings("ignore:Using a target size:UserWarning")
@pytest.mark.parametrize(("spec", "bad"), BAD, ids=[f"{s.name}-{b.label}" for s, b in BAD])
def test_bad_input_raises(spec: LossSpec, bad) -> None:
    args, kwargs = bad.make()
    with pytest.raises(bad.error, match=bad.match):
        spec.function(*args, **{**spec.kwargs, **kwargs})


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
@pytest.mark.parametrize(
    "spec", [s for s in SPECS if s.half], ids=[s.name for s in SPECS if s.half]
)
def test_half_precision(spec: LossSpec, dtype: torch.dtype) -> None:
    inputs32 = _make(spec, 16, dtype=torch.float32)
    # round the inputs to the half dtype first, so only the computation differs
    half = LossInputs(
        tuple(a.to(dtype) if a.is_floating_point() else a for a in inputs32.args),
        inputs32.batched,
        inputs32.kwargs,
    )
    ref_in = LossInputs(
        tuple(a.float() if a.is_floating_point() else a for a in half.args),
        half.batched,
        half.kwargs,
    )
    module = _module(spec, spec.default_reduction, dtype=torch.float32)
    out = _run(spec, half, spec.default_reduction, module)
    ref = _run(spec, ref_in, spec.default_reduction, module)
    assert torch.isfinite(out).all()
    if spec.family != "pytorch":
        assert out.dtype == dtype, f"{spec.name}: half input must give a half output"
    torch.testing.assert_close(out.float(), ref, rtol=spec.half_rtol, atol=spec.half_rtol)
