"""``torch.func`` transforms and forward mode over every registered loss: ``grad`` equals
autograd's gradient, ``jvp`` and ``torch.autograd.forward_ad`` the directional derivative,
``jvp`` of ``grad`` autograd's double backward, ``vmap`` of the loss and of its ``grad`` a
loop over a batch of input sets.

losskit's hand-written autograd functions keep their derivative on ``ctx`` and torch's
transforms refuse such functions; each one has a ``plain`` form that
:func:`losskit._autograd.fused_apply` takes under a transform (before this, 53 of the 93
registered losses raised under ``torch.func.grad`` and ``jvp``, 56 under ``vmap`` and 63 in
forward mode). Under ``vmap`` the
checks that read a value are skipped, as under ``torch.compile``, and the distance
transform runs on the plain values."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.autograd.forward_ad as fwAD
from torch.func import grad, jvp, vmap

import losskit
from losskit.registry import REGISTRY, LossSpec

from .conftest import gen

F64 = torch.float64
CPU = torch.device("cpu")
SPECS = [s for s in REGISTRY if s.family != "pytorch"]
IDS = [s.name for s in SPECS]


def _case(spec: LossSpec, seed: int = 0) -> tuple[Callable[[torch.Tensor], Any], torch.Tensor]:
    """The loss as a function of its first floating input (the rest fixed), and that input."""
    inputs = spec.make_inputs(4, dtype=F64, device=CPU, generator=gen(seed))
    args = list(inputs.args)
    i = next(k for k, a in enumerate(args) if a.is_floating_point())
    torch.manual_seed(0)
    state = tuple(t.detach().clone().to(F64) for t in spec.module_state(spec.build()))
    kw = {**spec.kwargs, **inputs.kwargs}

    def f(z: torch.Tensor) -> Any:
        a = list(args)
        a[i] = z
        return spec.function(*a, *state, **kw)

    return f, args[i]


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_grad_equals_autograd(spec: LossSpec) -> None:
    f, x = _case(spec)
    got = grad(f)(x)
    z = x.clone().requires_grad_()
    (want,) = torch.autograd.grad(f(z), [z])
    assert torch.isfinite(got).all(), spec.name
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_forward_mode_equals_the_gradient(spec: LossSpec) -> None:
    """``torch.func.jvp`` and ``torch.autograd.forward_ad`` give the directional derivative
    ``<grad, v>`` (SIoU's shape cost through in-place products had a wrong tangent: forward
    mode's ``r.mul_(r)`` is not ``2 r r'``)."""
    f, x = _case(spec)
    v = torch.randn(x.shape, dtype=F64, generator=gen(3))
    want = (grad(f)(x) * v).sum()
    _, got = jvp(f, (x,), (v,))
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)
    with fwAD.dual_level():
        tangent = fwAD.unpack_dual(f(fwAD.make_dual(x, v))).tangent
    torch.testing.assert_close(tangent, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_hessian_vector_product_equals_double_backward(spec: LossSpec) -> None:
    """Forward over reverse (``jvp`` of ``grad``: ``torch.func.hessian``'s building block)
    equals autograd's double backward (torch's own MSE and Huber kernels fail it; those two
    take their plain formulas under a transform)."""
    f, x = _case(spec)
    v = torch.randn(x.shape, dtype=F64, generator=gen(3))
    _, got = jvp(grad(f), (x,), (v,))
    z = x.clone().requires_grad_()
    (g,) = torch.autograd.grad(f(z), [z], create_graph=True)
    (want,) = torch.autograd.grad((g * v).sum(), [z], allow_unused=True, materialize_grads=True)
    torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-10)


def _other_inputs() -> list[tuple[LossSpec, str, int]]:
    """Every floating argument after the first and every floating module state tensor
    (class centres, a learnable scale), per registered loss."""
    out = []
    for spec in SPECS:
        args = spec.make_inputs(4, dtype=F64, device=CPU, generator=gen(0)).args
        floats = [k for k, a in enumerate(args) if a.is_floating_point()][1:]
        out += [(spec, "arg", k) for k in floats]
        torch.manual_seed(0)
        state = spec.module_state(spec.build())
        out += [(spec, "state", k) for k, t in enumerate(state) if t.is_floating_point()]
    return out


OTHER = _other_inputs()


@pytest.mark.parametrize(("spec", "kind", "k"), OTHER,
                         ids=[f"{s.name}-{kind}{k}" for s, kind, k in OTHER])  # fmt: skip
def test_grad_and_jvp_of_the_other_inputs(spec: LossSpec, kind: str, k: int) -> None:
    """``grad`` and ``jvp`` with respect to targets, weights and module state equal
    autograd's gradient and ``<grad, v>``."""
    inputs = spec.make_inputs(4, dtype=F64, device=CPU, generator=gen(0))
    args = list(inputs.args)
    torch.manual_seed(0)
    state = [t.detach().clone().to(F64) for t in spec.module_state(spec.build())]
    kw = {**spec.kwargs, **inputs.kwargs}

    def f(z: torch.Tensor) -> Any:
        a, s = list(args), list(state)
        (a if kind == "arg" else s)[k] = z
        return spec.function(*a, *s, **kw)

    x = (args if kind == "arg" else state)[k]
    z = x.clone().requires_grad_()
    (want,) = torch.autograd.grad(f(z), [z], allow_unused=True, materialize_grads=True)
    torch.testing.assert_close(grad(f)(x), want, rtol=1e-9, atol=1e-12)
    v = torch.randn(x.shape, dtype=F64, generator=gen(5))
    _, tangent = jvp(f, (x,), (v,))
    torch.testing.assert_close(tangent, (want * v).sum(), rtol=1e-8, atol=1e-11)


def _batched_case(
    spec: LossSpec, labels: bool = False
) -> tuple[Callable[..., Any], list[torch.Tensor]]:
    """The loss as a function of all its floating inputs (``labels``: of every input), and
    those inputs of two input sets stacked along a new leading dimension."""
    first = spec.make_inputs(4, dtype=F64, device=CPU, generator=gen(0))
    second = spec.make_inputs(4, dtype=F64, device=CPU, generator=gen(1))
    args = list(first.args)
    idx = [k for k, a in enumerate(args)
           if (labels or a.is_floating_point()) and second.args[k].shape == a.shape]  # fmt: skip
    torch.manual_seed(0)
    state = tuple(t.detach().clone().to(F64) for t in spec.module_state(spec.build()))
    kw = {**spec.kwargs, **first.kwargs}

    def f(*zs: torch.Tensor) -> Any:
        a = list(args)
        for k, z in zip(idx, zs, strict=True):
            a[k] = z
        return spec.function(*a, *state, **kw)

    return f, [torch.stack([args[k], second.args[k]]) for k in idx]


@pytest.mark.filterwarnings("error:There is a performance drop")
@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_vmap_equals_a_loop(spec: LossSpec) -> None:
    """``vmap`` over two input sets (every floating input, a new leading dimension) of the
    loss and of its ``grad`` (with respect to the first): each slice as that set alone, and
    no operation without a batching rule (torch would loop over the batch; the in-place
    one-hot scatters did)."""
    f, xs = _batched_case(spec)
    one = [[x[j] for x in xs] for j in range(2)]
    torch.testing.assert_close(vmap(f)(*xs), torch.stack([f(*a) for a in one]),
                               rtol=1e-10, atol=1e-12)  # fmt: skip
    torch.testing.assert_close(vmap(grad(f))(*xs), torch.stack([grad(f)(*a) for a in one]),
                               rtol=1e-9, atol=1e-12)  # fmt: skip


#: the one registered loss whose labels ``vmap`` cannot batch: its pairs are selected by the
#: labels' values, a shape that depends on them
LABELS_NOT_BATCHED = {"n_pair_loss"}


@pytest.mark.parametrize(
    "spec",
    [pytest.param(s, marks=pytest.mark.xfail(strict=True, raises=RuntimeError,
                                             reason="pairs chosen by the labels' values"))
     if s.name in LABELS_NOT_BATCHED else s for s in SPECS],
    ids=IDS,
)  # fmt: skip
def test_vmap_over_the_labels_too(spec: LossSpec) -> None:
    """``vmap`` over every input of two input sets, integer labels and indices included."""
    f, xs = _batched_case(spec, labels=True)
    one = [[x[j] for x in xs] for j in range(2)]
    torch.testing.assert_close(vmap(f)(*xs), torch.stack([f(*a) for a in one]),
                               rtol=1e-10, atol=1e-12)  # fmt: skip


def _functions() -> list[type[torch.autograd.Function]]:
    """Every ``torch.autograd.Function`` defined in losskit (the distributed module's
    collectives aside: a transform over a process group is not supported)."""
    found = {}
    for info in pkgutil.walk_packages(losskit.__path__, "losskit."):
        if info.name.startswith(("losskit.distributed", "losskit.cli", "losskit.report")):
            continue
        mod = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(mod, inspect.isclass):
            if (
                issubclass(obj, torch.autograd.Function)
                and obj.__module__ == mod.__name__
            ):
                found[obj.__qualname__] = obj
    return list(found.values())


def test_every_function_has_a_plain_form() -> None:
    """Each hand-written autograd function has ``plain`` (what a transform runs) or is in the
    ``setup_context`` form, which the transforms take themselves."""
    fns = _functions()
    assert len(fns) >= 19
    missing = [
        f.__qualname__ for f in fns
        if not hasattr(f, "plain")
        and f.setup_context is torch.autograd.Function.setup_context
    ]  # fmt: skip
    assert not missing, f"no plain form: {missing}"


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("dim", [2, 3])
def test_window_plain_form_routes_ties_as_the_fused_one(largest: bool, dim: int) -> None:
    """The soft skeleton's three-wide extreme: its plain form (a max-pool) gives the same
    values and sends each window's gradient to the same one of tied entries as the fused
    form (random inputs of the registry never tie)."""
    from losskit.functional._topology import _Window3

    x = torch.randint(0, 3, (2, 2, 5, 6), generator=gen(0)).to(F64)  # many ties
    w = torch.randn(2, 2, 5, 6, dtype=F64, generator=gen(1))
    z = x.clone().requires_grad_()
    fused = _Window3.apply(z, dim, largest)
    (want,) = torch.autograd.grad((fused * w).sum(), z)
    assert torch.equal(_Window3.plain(x, dim, largest), fused.detach())
    # equal up to the order of the sums of a window's shares (a routing difference is O(1))
    got = grad(lambda t: (_Window3.plain(t, dim, largest) * w).sum())(x)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
