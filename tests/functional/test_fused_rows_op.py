"""The fused pair-row losses under ``torch.compile`` (issue 19): the compiler can call their
fused path as two operators (``losskit::fused_pair_rows`` and its backward) instead of tracing
the plain row functions; the multi-similarity loss does (1.6-2x faster compiled), the others
trace (as fast or faster; ``COMPILE_AS_OPERATOR``). These tests send all five through the
operators: torch's operator checks, and the compiled losses equal to the eager ones in
float64 through every branch the operators carry: a reference set (the two inputs' gradients
apart), chunks, a mask, explicit pairs, one upstream gradient per row and unequal ones, and a
hyperparameter that may be None or a flag."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import losskit.functional as F
from losskit.functional import _embedding_pairs as EP
from losskit.functional._embedding_pairs import _OP_ROWS, _pack, _unpack

from ..conftest import gen

F64 = torch.float64

#: each loss on the fused path, with hyperparameters off their defaults where a kind of value
#: (None, a flag) travels through the operator
LOSSES: dict[str, dict[str, Any]] = {
    "supcon_loss": {"temperature": 0.2},
    "nt_xent_loss": {"temperature": 0.3},
    "multi_similarity_loss": {"mining_margin": None},
    "circle_loss": {"grad_mode": "straight_through"},
    "generalized_lifted_structure_loss": {"margin": 0.5},
}

#: each loss's row function
ROWS = {
    "supcon_loss": EP.supcon_rows,
    "nt_xent_loss": EP.nt_xent_rows,
    "multi_similarity_loss": EP.multi_similarity_rows,
    "circle_loss": EP.circle_rows,
    "generalized_lifted_structure_loss": EP.generalized_lifted_rows,
}

#: the branches of the operators: reference set, chunks, mask, explicit pairs, per-row weights
#: (unequal upstream gradients: the reference gradient recomputed block by block)
VARIANTS = ("plain", "ref", "chunk", "mask", "indices", "weight", "sum")


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = gen(seed)
    x = torch.randn(24, 6, generator=g, dtype=F64)
    y = (torch.arange(24) % 5)[torch.randperm(24, generator=g)]
    return x, y


def _call(name: str, variant: str) -> tuple[Callable[..., torch.Tensor], int]:
    """``(f(x, r) -> loss, number of differentiable inputs)`` for one loss and variant."""
    fn = getattr(F, name)
    kw = dict(LOSSES[name])
    _, y = _batch()
    if variant == "chunk":
        kw["chunk_size"] = 5
    elif variant == "mask":
        kw["mask"] = torch.arange(24) % 7 != 3
    elif variant == "indices":
        a = torch.tensor([0, 1, 2, 3, 4, 5])
        kw["indices"] = (a, (a + 5) % 24, a, (a + 7) % 24)
    elif variant == "weight":
        kw["weight"] = torch.rand(24, generator=gen(3), dtype=F64)
    elif variant == "sum":
        kw["reduction"] = "sum"
    if variant == "ref":
        yr = (torch.arange(10) % 5).flip(0)
        return lambda x, r: fn(x, y, r, yr, **kw), 2
    return lambda x, r: fn(x, y, **kw), 1  # noqa: ARG005


@pytest.fixture
def all_as_operator(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every fused row function compiled as the operator (by default only some are)."""
    monkeypatch.setattr(EP, "COMPILE_AS_OPERATOR", set(_OP_ROWS))


@pytest.mark.usefixtures("all_as_operator")
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", list(LOSSES))
def test_compiled_equals_eager_in_float64(name: str, variant: str) -> None:
    f, n_inputs = _call(name, variant)
    x0, _ = _batch()
    r0 = torch.randn(10, 6, generator=gen(1), dtype=F64)
    results = []
    torch._dynamo.reset()
    for run in (f, torch.compile(f, backend="aot_eager", fullgraph=True)):
        x, r = x0.clone().requires_grad_(), r0.clone().requires_grad_()
        loss = run(x, r)
        wanted = [x, r][:n_inputs]
        results.append((loss, torch.autograd.grad(loss.sum(), wanted)))
    (le, ge), (lc, gc) = results
    torch.testing.assert_close(lc, le, rtol=1e-12, atol=1e-12)
    for a, b in zip(gc, ge, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(LOSSES))
def test_compiled_graph_calls_the_operator(name: str) -> None:
    # the traced graph of a row function in COMPILE_AS_OPERATOR holds the operator and no
    # exponential of its own (the row function's softmax or log-sum-exp would show as exp /
    # logsumexp); the others' graphs trace the row function
    graphs: list[torch.fx.GraphModule] = []

    def record(gm: torch.fx.GraphModule, _inputs: list[torch.Tensor]) -> Callable[..., Any]:
        graphs.append(gm)
        return gm.forward

    f, _ = _call(name, "plain")
    x0, _ = _batch()
    torch._dynamo.reset()
    torch.compile(f, backend=record, fullgraph=True)(x0.clone().requires_grad_(), None)
    (gm,) = graphs
    targets = {str(n.target) for n in gm.graph.nodes if n.op == "call_function"}
    as_operator = ROWS[name] in EP.COMPILE_AS_OPERATOR
    assert any("fused_pair_rows" in t for t in targets) == as_operator, targets
    assert any("exp" in t or "logsumexp" in t for t in targets) != as_operator, targets


@pytest.mark.parametrize("need", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("row_fn", list(_OP_ROWS))
def test_operator_passes_torch_opcheck(row_fn: Any, need: tuple[bool, bool]) -> None:
    # schema, fake (meta) implementation, autograd registration and the compiled dispatch
    name, kinds = _OP_ROWS[row_fn]
    defaults = {"f": 0.5, "f?": None, "b": True}
    hyper = _pack(tuple(defaults[k] for k in kinds))
    x, y = _batch()
    q = torch.nn.functional.normalize(x, dim=1).requires_grad_(need[0])
    r = torch.nn.functional.normalize(x[:10].flip(1), dim=1).requires_grad_(need[1])
    yr = y[:10].flip(0)
    args = (q, r, y, yr, None, None, None, None, False, 7, name, hyper, *need)
    torch.library.opcheck(torch.ops.losskit.fused_pair_rows.default, args)


def test_hyperparameters_travel_as_numbers_and_back() -> None:
    # None as NaN and a flag as 0 / 1, read back by each row function's kinds
    for row_fn, (name, kinds) in _OP_ROWS.items():
        values = {"f": 0.25, "f?": None, "b": False}
        hyper = tuple(values[k] for k in kinds)
        back_fn, back = _unpack(name, _pack(hyper))
        assert back_fn is row_fn
        assert back == hyper
        assert [type(v) for v in back] == [type(v) for v in hyper]
