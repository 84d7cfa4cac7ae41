"""The activations whose output the compiled backward reads back (losskit._kept_activations):
torch's values and gradients (first and second order), the operators really in the compiled
graph, and no NaN from a position whose upstream gradient is 0."""

from __future__ import annotations

import pytest
import torch

from losskit import _kept_activations as K

from .conftest import gen

OPS = {
    "sigmoid": (lambda x: torch.ops.losskit.kept_sigmoid(x), torch.sigmoid),
    "softmax dim 1": (lambda x: torch.ops.losskit.kept_softmax(x, 1), lambda x: x.softmax(1)),
    "softmax dim -1": (lambda x: torch.ops.losskit.kept_softmax(x, -1), lambda x: x.softmax(-1)),
}


@pytest.mark.parametrize("name", list(OPS))
def test_operators_first_and_second_derivatives(name: str) -> None:
    op, _ = OPS[name]
    x = (torch.randn(2, 3, 4, generator=gen(5), dtype=torch.float64) * 3).requires_grad_()
    assert torch.autograd.gradcheck(op, (x,))
    assert torch.autograd.gradgradcheck(op, (x,))


def test_operators_pass_opcheck() -> None:
    """Schema, fake (meta) implementation, autograd registration and dispatch agree."""
    x = (torch.randn(2, 3, 4, generator=gen(4), dtype=torch.float64)).requires_grad_()
    torch.library.opcheck(torch.ops.losskit.kept_sigmoid.default, (x,))
    torch.library.opcheck(torch.ops.losskit.kept_softmax.default, (x, 1))


@pytest.mark.parametrize("name", list(OPS))
def test_operators_equal_torch(name: str) -> None:
    op, ref = OPS[name]
    x = torch.randn(2, 3, 4, generator=gen(6), dtype=torch.float64) * 3
    w = torch.randn(2, 3, 4, generator=gen(7), dtype=torch.float64)
    got, want = [], []
    for f, out in ((op, got), (ref, want)):
        z = x.clone().requires_grad_()
        y = f(z)
        out += [y, *torch.autograd.grad((y * w).sum(), z)]
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-15)


def test_compiled_graph_calls_the_operators_and_equals_eager() -> None:
    graphs: list[str] = []

    def record(gm: torch.fx.GraphModule, example_inputs: list) -> object:  # noqa: ARG001
        graphs.append(str(gm.graph))
        return gm.forward

    def f(x: torch.Tensor) -> torch.Tensor:
        return (K.sigmoid(x) * K.softmax(x, 1)).sum()

    torch._dynamo.reset()
    x = torch.randn(3, 4, generator=gen(8), dtype=torch.float64)
    compiled = torch.compile(f, backend=record, fullgraph=True)
    grads = []
    for fn in (compiled, f):
        z = x.clone().requires_grad_()
        grads.append((fn(z), *torch.autograd.grad(fn(z), z)))
    assert any("losskit.kept_sigmoid" in g and "losskit.kept_softmax" in g for g in graphs)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)
    # eager: torch's own functions, no operator call
    assert K.sigmoid(x).grad_fn is None
    y = K.sigmoid(x.clone().requires_grad_())
    assert type(y.grad_fn).__name__ == "SigmoidBackward0"


def test_no_nan_where_the_upstream_gradient_is_zero() -> None:
    """A NaN logit left out by a select after the activation gets a 0 gradient (autograd's
    formula would give 0 * NaN = NaN); the kept positions get autograd's."""
    keep = torch.tensor([True, False, True])  # positions; position 1 holds NaN logits
    x = torch.tensor([[0.3, float("nan"), -1.2], [2.0, float("nan"), 0.5]], dtype=torch.float64)
    w = torch.tensor([[1.0, 2.0, -1.0], [0.5, 1.0, 3.0]], dtype=torch.float64)
    for name, op, ref in (("sigmoid", OPS["sigmoid"][0], torch.sigmoid),
                          ("softmax", lambda t: torch.ops.losskit.kept_softmax(t, 0),
                           lambda t: t.softmax(0))):  # fmt: skip
        z = x.clone().requires_grad_()
        (g,) = torch.autograd.grad((torch.where(keep, op(z), 0.0) * w).sum(), z)
        assert torch.isfinite(g).all(), name
        assert (g[:, 1] == 0).all(), name
        kept = x[:, [0, 2]].clone().requires_grad_()
        (want,) = torch.autograd.grad((ref(kept) * w[:, [0, 2]]).sum(), kept)
        torch.testing.assert_close(g[:, [0, 2]], want, rtol=1e-14, atol=1e-15)
