"""``losskit._powers.power``: products for the integer and half-integer exponents, equal to
``torch.pow`` in value and gradient; and the class test that no registered loss reaches
torch's general ``pow`` for an exponent that products cover (it runs about 50x a product
per element on the CPU: SIoU's shape exponent 4 cost a fifth of its step)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from losskit._powers import power
from losskit.registry import REGISTRY, LossSpec

from .conftest import gen

F64 = torch.float64
#: integers and halves (products), and exponents left to torch.pow
EXPONENTS = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 8.5, 9.0, 0.75,
             2.2, -1.0, -1.5]  # fmt: skip


def _values(dtype: torch.dtype) -> torch.Tensor:
    fi = torch.finfo(dtype)
    edge = [0.0, fi.tiny, fi.tiny / 8, 1e-3, 0.5, 1.0, 1.7, 3.0, 1e3, -0.0, -2.0, -0.3,
            float("inf"), float("-inf"), float("nan")]  # fmt: skip
    return torch.cat([torch.tensor(edge, dtype=dtype), torch.rand(64, generator=gen(1),
                                                                  dtype=F64).to(dtype) * 4])


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("e", EXPONENTS)
def test_power_equals_pow(e: float, dtype: torch.dtype) -> None:
    """Value as torch.pow's to a few units in the last place (up to four roundings in a
    chain), the same NaN and infinite entries, the sign of a negative base's odd power."""
    x = _values(dtype)
    got, want = power(x, e), torch.pow(x, e)
    if e != int(e) and e == int(e) + 0.5 and e > 0:
        # the one documented difference: sqrt(-inf) is NaN, pow(-inf, k + 1/2) is inf
        minus_inf = x == float("-inf")
        assert got[minus_inf].isnan().all()
        want = torch.where(minus_inf, got, want)
    torch.testing.assert_close(got, want, rtol=4 * torch.finfo(dtype).eps, atol=0.0,
                               equal_nan=True)  # fmt: skip
    out = torch.empty_like(x)
    assert power(x, e, out=out) is out
    torch.testing.assert_close(out, got, rtol=0.0, atol=0.0, equal_nan=True)


@pytest.mark.parametrize("e", EXPONENTS)
def test_power_gradient_equals_pow(e: float) -> None:
    """Under autograd the gradient is torch.pow's everywhere, 0 included (half-integers take
    torch.pow there: the square root's infinite slope at 0 times 0 would be NaN)."""
    x = torch.tensor([0.0, 1e-3, 0.5, 1.0, 2.5, 7.0], dtype=F64)
    if e == int(e):
        x = torch.cat([x, -x[1:]])
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    (ga,) = torch.autograd.grad(power(a, e).sum(), a)
    (gb,) = torch.autograd.grad(torch.pow(b, e).sum(), b)
    torch.testing.assert_close(ga, gb, rtol=1e-14, atol=0.0, equal_nan=True)
    if e >= 1.0 or e == 0.0:
        z = (x.abs() + 0.1).requires_grad_()
        assert torch.autograd.gradcheck(lambda t: power(t, e), (z,))
        assert torch.autograd.gradgradcheck(lambda t: power(t, e), (z,))


def test_power_refuses_out_under_autograd() -> None:
    x = torch.ones(3, requires_grad=True)
    with pytest.raises(ValueError, match="power: out= cannot be used where"):
        power(x, 4.0, out=torch.empty(3))


def test_power_writes_no_chain_into_its_input() -> None:
    """The in-place steps of a chain act on the result, never on ``x``."""
    x = torch.tensor([1.5, 2.0])
    before = x.clone()
    for e in (3.0, 5.0, 7.0, 8.0, 2.5):
        power(x, e)
    assert torch.equal(x, before)


# ------------------------------------------------------------------ the class test

#: exponents torch's CPU pow has fast paths for (a fill, a copy, a square, a cube, roots,
#: reciprocals)
_POW_FAST = {0.0, 1.0, 2.0, 3.0, 0.5, -0.5, -1.0, -2.0}
#: keyword arguments that are exponents in some loss (set to 4 to reach the general pow)
_EXPONENT_NAMES = ("gamma", "gamma_pos", "gamma_neg", "beta", "power", "shape_exponent",
                   "exponent")  # fmt: skip


class _PowCalls(TorchDispatchMode):
    """The Python-number exponents of every ``aten.pow`` call (and its in-place form)."""

    def __init__(self) -> None:
        super().__init__()
        self.exponents: list[float] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        if func.overloadpacket in (torch.ops.aten.pow, torch.ops.aten.pow_) and isinstance(
            args[1], int | float
        ):
            self.exponents.append(float(args[1]))
        return func(*args, **(kwargs or {}))


def _slow(exponents: list[float]) -> list[float]:
    """Exponents that took torch's general pow although products cover them."""
    return sorted({e for e in exponents if e not in _POW_FAST and e == int(e) and 0 <= e <= 8})


def _run(spec: LossSpec, **kw: Any) -> list[float]:
    inputs = spec.make_inputs(4, dtype=torch.float32, device=torch.device("cpu"),
                              generator=gen(0))  # fmt: skip
    args = [a.clone().requires_grad_() if a.is_floating_point() else a for a in inputs.args]
    torch.manual_seed(0)
    state = tuple(t.detach().clone() for t in spec.module_state(spec.build()))
    mode = _PowCalls()
    with mode:
        out = spec.function(*args, *state, **{**spec.kwargs, **inputs.kwargs, **kw})
        wrt = [a for a in args if a.requires_grad]
        if out.requires_grad and wrt:
            torch.autograd.grad(out.sum(), wrt, allow_unused=True)
    return mode.exponents


SPECS = [s for s in REGISTRY if s.family != "pytorch"]


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_no_general_pow_for_integer_exponents(spec: LossSpec) -> None:
    """Forward and backward of every registered loss, at its defaults and with each exponent
    argument it takes set to 4: no ``pow`` with an integer exponent from 0 to 8 outside
    torch's fast set (a loss that rejects 4 for an argument is run at its defaults only)."""
    params = inspect.signature(inspect.unwrap(spec.function)).parameters
    runs: list[dict[str, Any]] = [{}] + [{n: 4.0} for n in _EXPONENT_NAMES if n in params]
    for kw in runs:
        try:
            calls = _run(spec, **kw)
        except ValueError:
            assert kw, f"{spec.name}: its registry inputs raise"
            continue
        assert not _slow(calls), f"{spec.name} {kw}: torch.pow with {_slow(calls)}"
