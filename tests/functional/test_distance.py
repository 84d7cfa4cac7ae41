"""Vector geometry (the study notes, vector geometry): cosine, Euclidean, pairwise forms, the
identity d = sqrt(2 - 2 cos) for unit vectors, and overflow-safe norms."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as TF

from losskit import (
    cosine_distance,
    cosine_from_euclidean,
    cosine_similarity,
    euclidean_distance,
    euclidean_from_cosine,
    pairwise_cosine_similarity,
    pairwise_euclidean_distance,
)
from losskit.functional.distance import normalize, safe_norm

from ..conftest import gen


def test_hand_worked() -> None:
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 4.0])
    assert euclidean_distance(a, b).item() == pytest.approx(5.0)
    assert euclidean_distance(a, b, squared=True).item() == pytest.approx(25.0)
    assert cosine_similarity(a, b).item() == pytest.approx(0.0)
    assert cosine_distance(a, a).item() == pytest.approx(0.0)
    assert cosine_similarity(
        torch.tensor([1.0, 1.0]), torch.tensor([2.0, 0.0])
    ).item() == pytest.approx(1 / math.sqrt(2))


def test_identity_for_unit_vectors_to_1e12() -> None:
    g = gen(0)
    a = TF.normalize(torch.randn(500, 16, generator=g, dtype=torch.float64), dim=1)
    b = TF.normalize(torch.randn(500, 16, generator=g, dtype=torch.float64), dim=1)
    cos = cosine_similarity(a, b)
    d = euclidean_distance(a, b)
    assert (euclidean_from_cosine(cos) - d).abs().max().item() < 1e-12
    assert (cosine_from_euclidean(d) - cos).abs().max().item() < 1e-12
    torch.testing.assert_close(cosine_from_euclidean(dist=d), cosine_from_euclidean(d))
    # the edges: cos = 1 -> 0, cos = -1 -> 2
    torch.testing.assert_close(
        euclidean_from_cosine(torch.tensor([1.0, -1.0], dtype=torch.float64)),
        torch.tensor([0.0, 2.0], dtype=torch.float64),
    )


def test_gradients_finite_at_distance_zero() -> None:
    a = torch.randn(4, 8, generator=gen(1), dtype=torch.float64, requires_grad=True)
    b = a.detach().clone()
    euclidean_distance(a, b).sum().backward()
    assert torch.isfinite(a.grad).all() and (a.grad == 0).all()
    a.grad = None
    pairwise_euclidean_distance(a).sum().backward()
    assert torch.isfinite(a.grad).all()
    c = torch.tensor([1.0, 1.0 + 1e-12], dtype=torch.float64, requires_grad=True)
    euclidean_from_cosine(c).sum().backward()
    assert torch.isfinite(c.grad).all()


def test_zero_vector_cosine_is_finite() -> None:
    a = torch.zeros(2, 3, requires_grad=True)
    b = torch.randn(2, 3, generator=gen(2))
    out = cosine_similarity(a, b)
    out.sum().backward()
    assert (out == 0).all() and torch.isfinite(a.grad).all()


def test_pairwise_matches_loops() -> None:
    g = gen(3)
    a = torch.randn(5, 7, generator=g, dtype=torch.float64)
    b = torch.randn(4, 7, generator=g, dtype=torch.float64)
    want_d = torch.tensor(
        [[euclidean_distance(x, y).item() for y in b] for x in a], dtype=torch.float64
    )
    want_c = torch.tensor(
        [[cosine_similarity(x, y).item() for y in b] for x in a], dtype=torch.float64
    )
    torch.testing.assert_close(pairwise_euclidean_distance(a, b), want_d)
    torch.testing.assert_close(pairwise_euclidean_distance(a, b, squared=True), want_d**2)
    torch.testing.assert_close(pairwise_cosine_similarity(a, b), want_c)
    torch.testing.assert_close(pairwise_euclidean_distance(a, b), torch.cdist(a, b))
    # b defaults to a; the diagonal is exactly 0
    assert (pairwise_euclidean_distance(a).diagonal() == 0).all()


@pytest.mark.parametrize("scale", [1e30, 1e-30])
def test_norms_are_overflow_and_underflow_safe(scale: float) -> None:
    # float32: x * x overflows above about 1.8e19 and underflows below about 1e-23; every norm
    # is scaled by the largest magnitude first
    a = (torch.tensor([[3.0, 4.0], [0.0, 0.0]], dtype=torch.float64) * scale).float()
    naive = a.square().sum(1).sqrt()[0].item()
    assert naive in (math.inf, 0.0)  # what the plain formula gives
    zero = torch.zeros_like(a)
    want = torch.tensor([5 * scale, 0.0])
    torch.testing.assert_close(euclidean_distance(a, zero), want)
    torch.testing.assert_close(safe_norm(a), want)
    torch.testing.assert_close(
        pairwise_euclidean_distance(a), torch.tensor([[0.0, 5 * scale], [5 * scale, 0.0]])
    )
    torch.testing.assert_close(
        pairwise_euclidean_distance(a, -a),
        torch.tensor([[10 * scale, 5 * scale], [5 * scale, 0.0]]),
    )
    unit = torch.tensor([[0.6, 0.8], [0.0, 0.0]])
    # the gradient of ||a - b|| is the unit direction, at any scale
    x = a.clone().requires_grad_(True)
    euclidean_distance(x, zero).sum().backward()
    torch.testing.assert_close(x.grad, unit)
    if scale > 1:  # above the eps floors of normalize and the cosine
        torch.testing.assert_close(normalize(a), unit)
        b = (torch.tensor([[4.0, 3.0], [1.0, 0.0]], dtype=torch.float64) * scale).float()
        torch.testing.assert_close(cosine_similarity(a, b), torch.tensor([0.96, 0.0]))
        torch.testing.assert_close(
            pairwise_cosine_similarity(a), torch.tensor([[1.0, 0.0], [0.0, 0.0]])
        )
        # a squared distance beyond float32's range is inf, not a wrong finite number
        assert euclidean_distance(a, zero, squared=True)[0].item() == math.inf


#: the row scales of the compiled-norm test: the middle, near the top of the dtype's range
#: (the plain sum of squares overflows), small (it underflows), at the bottom of the normal
#: numbers and subnormal; each row is (3, 4, 0) times the scale, exact in every one
_EDGE_SCALES = {
    torch.float32: (1.0, 1e30, 1e37, 1e-30, 2.0**-126, 2.0**-147),
    torch.bfloat16: (1.0, 1e30, 1e-30),
    torch.float64: (1.0, 1e200, 1e307, 1e-200, 2.0**-1022, 2.0**-1072),
}


@pytest.mark.parametrize("dtype", list(_EDGE_SCALES))
def test_compiled_norm_is_safe_and_equals_eager(dtype: torch.dtype) -> None:
    # compiled on CPU a norm takes three sums of squares in one pass (plain, scaled down,
    # scaled up by powers of two) and keeps the one in range, row by row: exact from the top
    # of the range to the subnormals, in value and gradient, and equal to the eager norm
    torch._dynamo.reset()
    scales = _EDGE_SCALES[dtype]
    rows = [torch.tensor([3.0, 4.0, 0.0], dtype=torch.float64) * s for s in scales]
    a = torch.stack([*rows, torch.zeros(3, dtype=torch.float64)]).to(dtype)
    compiled = torch.compile(lambda t: safe_norm(t, 1), backend="aot_eager", fullgraph=True)
    out = []
    for f in (compiled, lambda t: safe_norm(t, 1)):
        x = a.clone().requires_grad_()
        n = f(x)
        (g,) = torch.autograd.grad(n.sum(), x)
        out.append((n, g))
    (nc, gc), (ne, ge) = out
    assert torch.isfinite(nc).all() and torch.isfinite(gc).all()
    torch.testing.assert_close(nc, ne)
    torch.testing.assert_close(gc, ge)
    want = torch.tensor([5.0 * s for s in scales] + [0.0], dtype=torch.float64).to(dtype)
    if dtype == torch.bfloat16:  # (3, 4) s is rounded to bfloat16 first
        torch.testing.assert_close(nc, want)
    else:
        torch.testing.assert_close(nc, want, atol=0.0, rtol=0.0)
    unit = torch.tensor([0.6, 0.8, 0.0], dtype=dtype).expand(len(scales), 3)
    torch.testing.assert_close(gc[:-1], unit)  # the direction, at every scale
    assert (gc[-1] == 0).all()  # the zero row: gradient 0, not NaN


@pytest.mark.parametrize("plain", [True, False])
def test_cpu_norm_backward_is_differentiable(plain: bool) -> None:
    # the CPU norm, plain and ranged (its backward g x / n written by hand): first and
    # second derivatives against finite differences, in float64
    from losskit.functional.distance import _cpu_norm, _NormGrad

    x = torch.randn(3, 5, generator=gen(7), dtype=torch.float64, requires_grad=True)

    def f(t: torch.Tensor) -> torch.Tensor:
        n, ranged = _cpu_norm(t.detach(), 1, plain)
        assert ranged is not plain
        return _NormGrad.apply(t, n, ranged)

    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(f, (x,))


@pytest.mark.parametrize("self_distance", [True, False])
def test_pairwise_backward_equals_the_plain_form(self_distance: bool) -> None:
    # the hand-written backward pass of the pairwise distances against autograd through the
    # plain formula, in float64, with a repeated row (a zero distance: gradient 0 there)
    from losskit.functional.distance import _pairwise_plain

    g = gen(11)
    a0 = torch.randn(6, 4, generator=g, dtype=torch.float64)
    a0[3] = a0[1]
    b0 = a0 if self_distance else torch.randn(5, 4, generator=g, dtype=torch.float64)
    b0 = b0.clone()
    if not self_distance:
        b0[2] = a0[0]
    up = torch.randn(6, 6 if self_distance else 5, generator=g, dtype=torch.float64)

    def ours(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return pairwise_euclidean_distance(a, None if self_distance else b)

    def plain(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return _pairwise_plain(a, a if self_distance else b, self_distance, False)

    grads = []
    for f in (ours, plain):
        a, b = a0.clone().requires_grad_(), b0.clone().requires_grad_()
        d = f(a, b)
        grads.append((d, torch.autograd.grad(d, [a] if self_distance else [a, b], up)))
    (d1, g1), (d2, g2) = grads
    torch.testing.assert_close(d1, d2, rtol=1e-12, atol=1e-12)
    for x, y in zip(g1, g2, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-12)


def test_pairwise_gradient_is_exact_for_subnormal_rows() -> None:
    # the scaled form's gradient passed through G s, subnormal here: (0.5625, 0.75)
    a = (torch.tensor([[3.0, 4.0], [0.0, 0.0]], dtype=torch.float64) * 2.0**-147).float()
    a.requires_grad_()
    (g,) = torch.autograd.grad(pairwise_euclidean_distance(a)[0, 1], a)
    torch.testing.assert_close(g, torch.tensor([[0.6, 0.8], [-0.6, -0.8]]), rtol=0.0, atol=0.0)


def test_pairwise_second_derivatives() -> None:
    # create_graph=True differentiates the plain form: second derivatives against finite
    # differences, for two inputs and for one input in both roles
    g = gen(12)
    a = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda x, y: pairwise_euclidean_distance(x, y), (a, b))
    assert torch.autograd.gradgradcheck(lambda x: pairwise_euclidean_distance(x), (a,))


def test_gradcheck() -> None:
    g = gen(4)
    a = torch.randn(3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: cosine_similarity(x, y), (a, b))
    assert torch.autograd.gradcheck(lambda x, y: euclidean_distance(x, y), (a, b))
    assert torch.autograd.gradcheck(lambda x, y: pairwise_euclidean_distance(x, y), (a, b))
    assert torch.autograd.gradcheck(lambda x, y: pairwise_cosine_similarity(x, y), (a, b))


def test_errors() -> None:
    with pytest.raises(
        ValueError,
        match=r"cosine_similarity: a and b must have the same shape; got \(2, 3\) and \(3,\)",
    ):
        cosine_similarity(torch.zeros(2, 3), torch.zeros(3))
    with pytest.raises(
        ValueError, match=r"pairwise_euclidean_distance: a must have 2 dimensions; got shape \(3,\)"
    ):
        pairwise_euclidean_distance(torch.zeros(3))
    with pytest.raises(
        ValueError,
        match=r"pairwise_cosine_similarity: a and b must have the same feature dimension",
    ):
        pairwise_cosine_similarity(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(
        TypeError, match=r"euclidean_from_cosine: cos must be a floating-point tensor"
    ):
        euclidean_from_cosine(torch.tensor([1]))


def test_torch_func_transforms_take_the_norms_and_distances() -> None:
    # under torch.func (grad, vmap) the hand-written backward passes give way to plain
    # operations: per-sample gradients of losses built on them equal autograd's
    from losskit import ring_loss, triplet_loss

    g = gen(13)
    x = torch.randn(5, 4, generator=g, dtype=torch.float64)
    losses = {
        "pairwise": lambda t: pairwise_euclidean_distance(t).sum(),
        "cross": lambda t: pairwise_euclidean_distance(t, t.flip(0) + 1.0).sum(),
        "norm": lambda t: normalize(t, 1).square().sum(1).add(safe_norm(t, 1)).sum(),
        "triplet": lambda t: triplet_loss(t, t.flip(0), t.roll(1, 0), margin=2.0),
        "ring": lambda t: ring_loss(t, 1.5),
    }
    for name, f in losses.items():
        xa = x.clone().requires_grad_()
        (want,) = torch.autograd.grad(f(xa), xa)
        torch.testing.assert_close(torch.func.grad(f)(x), want, msg=name)
    # vmap of a per-sample gradient: each sample's own rows
    per_sample = torch.func.vmap(torch.func.grad(losses["triplet"]))(x.unsqueeze(1).expand(5, 3, 4))
    for i in range(5):
        xi = x[i].expand(3, 4).clone().requires_grad_()
        (want,) = torch.autograd.grad(losses["triplet"](xi), xi)
        torch.testing.assert_close(per_sample[i], want)
