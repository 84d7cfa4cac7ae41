"""The angular-margin family of the study notes: the margin core, a formula-level reference
for every loss, the chunked path against the dense one, per-sample weight, mask and
ignore_index, parity with pytorch-metric-learning and insightface, Partial FC, the modules,
and the seed's claims.

The reference below is written from the papers' formulas with plain ``torch.acos`` and full
``(B, C)`` logits, independently of losskit's fused cross-entropy, Chebyshev polynomials and
safe square roots.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as TF
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

import losskit
from losskit import functional as F
from losskit import nn as lnn
from losskit.functional._margin_ce import margin_ce_parts

from ..conftest import gen


@pytest.fixture(autouse=True)
def _one_thread():
    # these tests run many small ops: one thread is faster, and much faster on a loaded machine
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# --------------------------------------------------------------------------- reference


def _psi_ref(theta: torch.Tensor, m: float) -> torch.Tensor:
    # the study notes: psi(theta) = (-1)^k cos(m theta) - 2k on [k pi/m, (k+1) pi/m]
    k = torch.floor(m * theta / math.pi)
    return (-1.0) ** k * torch.cos(m * theta) - 2.0 * k


def _ref_logits(name: str, x, y, w, b, kw) -> torch.Tensor:
    """Full (B, C) logits of each loss, straight from its paper's formula."""
    onehot = TF.one_hot(y, w.shape[0]).bool()
    if name == "softmax_loss":
        return x @ w.T + b
    if name == "l2_softmax_loss":
        return kw["scale"] * x / x.norm(dim=1, keepdim=True) @ w.T + b
    xn = x / x.norm(dim=1, keepdim=True)
    if w.dim() == 3:  # sub-centres: the closest one counts
        cos = torch.einsum("bd,ckd->bck", xn, w / w.norm(dim=-1, keepdim=True)).amax(-1)
    else:
        cos = xn @ (w / w.norm(dim=1, keepdim=True)).T
    theta = torch.acos(cos.clamp(-1.0, 1.0))
    if name in ("lsoftmax_loss", "sphereface_loss"):
        m, lam = kw["m"], kw.get("lambda_", 0.0)
        f = (lam * cos + _psi_ref(theta, m)) / (1.0 + lam)
        r = x.norm(dim=1, keepdim=True)
        if name == "lsoftmax_loss":
            r = r * w.norm(dim=1)  # ||x|| ||W_j||
        return torch.where(onehot, r * f, r * cos)
    s = kw["scale"]
    if name in ("normface_loss", "coco_loss"):
        return s * cos
    if name == "cosface_loss":
        return s * torch.where(onehot, cos - kw["cos_margin"], cos)
    if name in ("arcface_loss", "subcenter_arcface_loss"):
        m = kw["margin"]
        f = torch.where(theta + m <= math.pi, torch.cos(theta + m), cos - m * math.sin(m))
        if kw.get("easy_margin"):
            f = torch.where(cos > 0, f, cos)
        return s * torch.where(onehot, f, cos)
    if name == "combined_margin_loss":
        m, margin, cos_margin = kw["m"], kw["margin"], kw["cos_margin"]
        phi = m * theta + margin
        if m == 1.0:  # ArcFace's linear continuation
            f = torch.where(phi <= math.pi, torch.cos(phi), cos - margin * math.sin(margin))
        else:  # the monotone psi continuation
            k = torch.floor(phi / math.pi)
            f = (-1.0) ** k * torch.cos(phi) - 2.0 * k
        return s * torch.where(onehot, f - cos_margin, cos)
    raise AssertionError(name)


# name, function, kwargs, has bias, sub-centres
CASES = [
    ("softmax_loss", F.softmax_loss, {}, True, None),
    ("lsoftmax_loss", F.lsoftmax_loss, {"m": 3, "lambda_": 0.5}, False, None),
    ("lsoftmax_loss", F.lsoftmax_loss, {"m": 4}, False, None),
    ("sphereface_loss", F.sphereface_loss, {"m": 4, "lambda_": 2.0}, False, None),
    ("sphereface_loss", F.sphereface_loss, {"m": 2}, False, None),
    ("coco_loss", F.coco_loss, {"scale": 7.0}, False, None),
    ("l2_softmax_loss", F.l2_softmax_loss, {"scale": 3.0}, True, None),
    ("normface_loss", F.normface_loss, {"scale": 9.0}, False, None),
    ("cosface_loss", F.cosface_loss, {"cos_margin": 0.3, "scale": 10.0}, False, None),
    ("arcface_loss", F.arcface_loss, {"margin": 0.6, "scale": 10.0}, False, None),
    ("arcface_loss", F.arcface_loss, {"margin": 0.6, "scale": 10.0, "easy_margin": True}, False, None),
    ("combined_margin_loss", F.combined_margin_loss, {"m": 1.0, "margin": 0.3, "cos_margin": 0.2, "scale": 10.0}, False, None),
    ("combined_margin_loss", F.combined_margin_loss, {"m": 1.5, "margin": 0.2, "cos_margin": 0.1, "scale": 6.0}, False, None),
    ("combined_margin_loss", F.combined_margin_loss, {"m": 2.0, "margin": 0.0, "cos_margin": 0.1, "scale": 6.0}, False, None),
    ("subcenter_arcface_loss", F.subcenter_arcface_loss, {"margin": 0.5, "scale": 10.0}, False, 3),
]  # fmt: skip
IDS = [f"{c[0]}-{'-'.join(f'{k}={v}' for k, v in c[2].items())}" for c in CASES]


def _data(b: int, d: int, c: int, *, bias: bool, k: int | None, dtype=torch.float64, seed=0):
    g = gen(seed)
    x = torch.randn(b, d, generator=g, dtype=torch.float64) * 2.0
    y = torch.randint(0, c, (b,), generator=g)
    shape = (c, d) if k is None else (c, k, d)
    w = torch.randn(*shape, generator=g, dtype=torch.float64)
    bb = torch.randn(c, generator=g, dtype=torch.float64) if bias else None
    cast = lambda t: None if t is None else t.to(dtype).requires_grad_(True)  # noqa: E731
    return cast(x), y, cast(w), cast(bb)


def _call(fn, x, y, w, b, kw, **extra):
    return fn(x, y, w, b, **kw, **extra) if b is not None else fn(x, y, w, **kw, **extra)


def _grads(loss: torch.Tensor, *leaves):
    return torch.autograd.grad(loss, [t for t in leaves if t is not None])


@pytest.mark.parametrize("chunk", [None, 1, 4, 64])
@pytest.mark.parametrize(("name", "fn", "kw", "bias", "k"), CASES, ids=IDS)
def test_matches_paper_formula(name, fn, kw, bias, k, chunk) -> None:
    x, y, w, b = _data(11, 6, 9, bias=bias, k=k)
    ours = _call(fn, x, y, w, b, kw, chunk_size=chunk, reduction="none")
    ref = TF.cross_entropy(_ref_logits(name, x, y, w, b, kw), y, reduction="none")
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)
    # a weighted sum, so every row's gradient is checked with a different weight
    u = torch.linspace(0.5, 1.5, 11, dtype=torch.float64)
    for go, gr in zip(
        _grads((ours * u).sum(), x, w, b), _grads((ref * u).sum(), x, w, b), strict=True
    ):
        torch.testing.assert_close(go, gr, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("chunk", [None, 2])
@pytest.mark.parametrize(("name", "fn", "kw", "bias", "k"), CASES, ids=IDS)
def test_gradcheck_features_weight_bias(name, fn, kw, bias, k, chunk) -> None:
    # the shared harness differentiates the features only; the custom backward also writes
    # the weight and bias gradients, checked here against finite differences
    x, y, w, b = _data(4, 5, 6, bias=bias, k=k, seed=1)
    leaves = tuple(t for t in (x, w, b) if t is not None)

    def f(*ts):
        return _call(
            fn, ts[0], y, ts[1], ts[2] if bias else None, kw, chunk_size=chunk, reduction="sum"
        )

    assert torch.autograd.gradcheck(f, leaves, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize(("name", "fn", "kw", "bias", "k"), CASES, ids=IDS)
def test_chunked_equals_dense_float32(name, fn, kw, bias, k) -> None:
    x, y, w, b = _data(16, 24, 300, bias=bias, k=k, dtype=torch.float32, seed=2)
    dense = _call(fn, x, y, w, b, kw, reduction="none")
    gd = _grads(dense.sum(), x, w, b)
    for chunk in (7, 64, 1000):
        out = _call(fn, x, y, w, b, kw, chunk_size=chunk, reduction="none")
        torch.testing.assert_close(out, dense, rtol=2e-6, atol=2e-6)
        for gc, gdd in zip(_grads(out.sum(), x, w, b), gd, strict=True):
            # float32 rounding of sums whose terms cancel: relative to the gradient's scale
            torch.testing.assert_close(gc, gdd, rtol=1e-5, atol=1e-5 * gdd.abs().max().item())


@pytest.mark.parametrize("chunk", [None, 2])
@pytest.mark.parametrize(("name", "fn", "kw", "bias", "k"), CASES, ids=IDS)
def test_weight_mask_and_ignore_index(name, fn, kw, bias, k, chunk) -> None:
    # per-sample weight, a bool mask and ignore_index (sugar for mask=labels != ignore_index):
    # "mean" is sum(w l) / sum(w) over the kept rows, an excluded row reads 0 under "none"
    # and gets no gradient, whatever its label held
    x, y, w, b = _data(11, 6, 9, bias=bias, k=k, seed=20)
    u = torch.linspace(0.5, 2.0, 11, dtype=torch.float64)
    keep = torch.arange(11) % 3 != 0
    per = _call(fn, x, y, w, b, kw, chunk_size=chunk, reduction="none")
    ref = (per * u)[keep].sum() / u[keep].sum()
    g_ref = _grads(ref, x, w, b)
    ignored = torch.where(keep, y, -100)
    for out in (
        _call(fn, x, y, w, b, kw, chunk_size=chunk, weight=u, mask=keep),
        _call(fn, x, ignored, w, b, kw, chunk_size=chunk, weight=u),
        _call(fn, x, torch.where(keep, y, 9), w, b, kw, chunk_size=chunk, weight=u, ignore_index=9),
    ):
        torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
        for go, gr in zip(_grads(out, x, w, b), g_ref, strict=True):
            torch.testing.assert_close(go, gr, rtol=1e-10, atol=1e-12)
    none = _call(fn, x, ignored, w, b, kw, chunk_size=chunk, reduction="none")
    assert (none[~keep] == 0).all()
    torch.testing.assert_close(none[keep], per[keep], rtol=1e-12, atol=1e-12)
    (gx,) = torch.autograd.grad(none.sum(), x)
    assert (gx[~keep] == 0).all()
    total = _call(fn, x, y, w, b, kw, chunk_size=chunk, weight=u, mask=keep, reduction="sum")
    torch.testing.assert_close(total, (per * u)[keep].sum(), rtol=1e-12, atol=1e-12)


class _LargestTensors(TorchDispatchMode):
    """Records the shape of every tensor any aten op creates (forward and backward)."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.shapes += [tuple(t.shape) for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        return out


@pytest.mark.parametrize(("name", "fn", "kw", "bias", "k"), CASES[::2], ids=IDS[::2])
def test_chunked_path_never_holds_the_logits(name, fn, kw, bias, k) -> None:
    B, D, C, chunk = 32, 4, 2000, 50  # B x C = 64,000 >> C x D = 8,000 (the weight gradient)
    x, y, w, b = _data(B, D, C, bias=bias, k=k, dtype=torch.float32)
    kk = k or 1
    for chunk_size, must_hold in ((chunk, False), (None, True)):
        with _LargestTensors() as seen:
            _call(fn, x, y, w, b, kw, chunk_size=chunk_size).backward()
        # the weight's (and bias's) gradient aside
        biggest = max(math.prod(s) for s in seen.shapes if s not in ((C, D), (C, kk, D), (C,)))
        if must_hold:  # the dense path keeps the (C, B) probabilities
            assert biggest >= B * C
        else:  # nothing beyond one block of classes (c x B, or c x K x B sub-centres)
            assert biggest <= chunk * kk * max(B, D), (name, biggest)


# --------------------------------------------------------------------------- the margin core


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 2.5])
def test_psi_is_continuous_and_decreasing(m) -> None:
    theta = torch.linspace(0.0, math.pi, 20001, dtype=torch.float64)
    p = F.psi(theta, m=m)
    steps = p.diff()
    assert (steps < 0).all()  # strictly decreasing on [0, pi]
    assert steps.abs().max() < 1e-2  # no jump: steps stay of order d(theta) * m
    torch.testing.assert_close(p, _psi_ref(theta, m))
    # equals cos(m theta) on [0, pi/m]; psi(pi) = 1 - 2m for an integer m
    head = theta <= math.pi / m
    torch.testing.assert_close(p[head], torch.cos(m * theta[head]))
    if float(m).is_integer():
        assert p[-1].item() == pytest.approx(1.0 - 2.0 * m)


@pytest.mark.parametrize("m", [1, 2, 3, 4, 6])
def test_chebyshev_route_equals_psi(m) -> None:
    # integer m uses T_m(cos theta) (no acos); it must be psi(theta) itself
    c = torch.linspace(-1.0, 1.0, 4001, dtype=torch.float64)
    torch.testing.assert_close(F.margin_target(c, m=float(m)), F.psi(torch.acos(c), m=m))


def test_arcface_target_and_its_fallbacks() -> None:
    m = 0.5
    theta = torch.linspace(0.0, math.pi, 2001, dtype=torch.float64)
    c = torch.cos(theta)
    lin = F.margin_target(c, margin=m)  # "auto" = "linear" for m = 1
    inside = theta + m <= math.pi
    torch.testing.assert_close(lin[inside], torch.cos(theta[inside] + m))
    torch.testing.assert_close(lin[~inside], c[~inside] - m * math.sin(m))
    assert (lin.diff() <= 1e-12).all()  # decreasing (with a jump down at pi - m)
    mono = F.margin_target(c, margin=m, fallback="monotone")
    assert (mono.diff() < 0).all() and mono.diff().abs().max() < 1e-2  # continuous
    torch.testing.assert_close(mono[~inside], -torch.cos(theta[~inside] + m) - 2.0)


def test_general_route_is_monotone() -> None:
    theta = torch.linspace(0.0, math.pi, 4001, dtype=torch.float64)
    f = F.margin_target(torch.cos(theta), m=1.7, margin=0.4, cos_margin=0.1)
    assert (f.diff() < 0).all() and f.diff().abs().max() < 1e-2
    torch.testing.assert_close(f[0], torch.tensor(math.cos(0.4) - 0.1, dtype=torch.float64))


@pytest.mark.parametrize(
    "kw",
    [
        {"margin": 0.5},
        {"m": 4.0},
        {"m": 1.5, "margin": 0.3},
        {"cos_margin": 0.35},
        {"m": 4.0, "lambda_": 5.0},
    ],
)
def test_margin_target_finite_gradient_at_plus_minus_one(kw) -> None:
    # d/dc of cos(m acos c + margin) is infinite at c = +-1 for some margins; losskit's value is
    # exact there and its gradient finite
    c = torch.tensor([1.0, -1.0, 1.0 + 1e-7, -1.0 - 1e-7], dtype=torch.float64, requires_grad=True)
    f = F.margin_target(c, **kw)
    (g,) = torch.autograd.grad(f.sum(), c)
    assert torch.isfinite(g).all()
    theta = torch.tensor([0.0, math.pi, 0.0, math.pi], dtype=torch.float64)
    m, margin, cos_margin, lam = (
        kw.get("m", 1.0),
        kw.get("margin", 0.0),
        kw.get("cos_margin", 0.0),
        kw.get("lambda_", 0.0),
    )
    k = torch.floor((m * theta + margin) / math.pi)
    plain = (-1.0) ** k * torch.cos(m * theta + margin) - 2.0 * k
    if m == 1.0 and margin > 0:  # ArcFace's linear continuation at theta = pi
        plain[1::2] = -1.0 - margin * math.sin(margin)
    expected = (lam * torch.cos(theta) + plain - cos_margin) / (1.0 + lam)
    torch.testing.assert_close(f.detach(), expected)


def test_easy_margin_and_straight_through() -> None:
    c = torch.tensor([-0.5, 0.2, 0.9], dtype=torch.float64, requires_grad=True)
    easy = F.margin_target(c, margin=0.5, easy_margin=True)
    torch.testing.assert_close(easy[0], c[0])  # cos <= 0: no margin
    torch.testing.assert_close(easy[1:], torch.cos(torch.acos(c[1:]) + 0.5))
    st = F.margin_target(c, margin=0.5, grad_mode="straight_through")
    torch.testing.assert_close(st, F.margin_target(c, margin=0.5))
    (g,) = torch.autograd.grad(st.sum(), c)
    torch.testing.assert_close(g, torch.ones(3, dtype=torch.float64))


def test_margin_logits_is_the_dense_form_of_the_losses() -> None:
    x, y, w, _ = _data(9, 5, 7, bias=False, k=None)
    xn, wn = TF.normalize(x, dim=1), TF.normalize(w, dim=1)
    cos = xn @ wn.T
    norms = x.norm(dim=1, keepdim=True)

    def ce(**kw):
        return TF.cross_entropy(F.margin_logits(cos, y, **kw), y)

    torch.testing.assert_close(
        F.arcface_loss(x, y, w, margin=0.4, scale=12.0), ce(margin=0.4, scale=12.0)
    )
    torch.testing.assert_close(
        F.cosface_loss(x, y, w, cos_margin=0.2, scale=12.0), ce(cos_margin=0.2, scale=12.0)
    )
    torch.testing.assert_close(F.normface_loss(x, y, w, scale=5.0), ce(scale=5.0))
    torch.testing.assert_close(
        F.sphereface_loss(x, y, w, m=3, lambda_=1.0), ce(m=3.0, lambda_=1.0, scale=norms)
    )
    outer = norms * w.norm(dim=1)  # ||x|| ||W_j||
    torch.testing.assert_close(F.lsoftmax_loss(x, y, w, m=2), ce(m=2.0, scale=outer))
    torch.testing.assert_close(
        F.combined_margin_loss(x, y, w, m=1.2, margin=0.2, cos_margin=0.1, scale=8.0),
        ce(m=1.2, margin=0.2, cos_margin=0.1, scale=8.0),
    )


def test_margin_logits_errors() -> None:
    cos = torch.zeros(3, 4)
    with pytest.raises(
        ValueError,
        match=r"margin_logits: labels must have shape \(3,\) to match cos \(3, 4\); got \(2,\)",
    ):
        F.margin_logits(cos, torch.zeros(2, dtype=torch.long))
    with pytest.raises(
        ValueError, match=r"margin_logits: labels must lie in \[0, 3\]; got values in \[0, 4\]"
    ):
        F.margin_logits(cos, torch.tensor([0, 4, 1]))
    with pytest.raises(
        ValueError,
        match=r"margin_target: margin must be a number in \[0, pi\); got 4.0",
    ):
        F.margin_target(cos, margin=4.0)
    with pytest.raises(
        ValueError,
        match="margin_target: fallback must be one of 'auto', 'monotone', 'linear'; got 'x'",
    ):
        F.margin_target(cos, fallback="x")


# --------------------------------------------------------------------------- the seed's claims


def test_one_hot_cosines_without_scale_cannot_converge() -> None:
    # the study notes: one-hot cosines (1, 0, 0, 0) give softmax 47.54 / 17.49 %: with |logits| <= 1
    # the target can never take most of the probability
    x, w, y = torch.tensor([[1.0, 0.0, 0.0, 0.0]]), torch.eye(4), torch.tensor([0])
    p = torch.exp(-F.normface_loss(x, y, w, scale=1.0))
    assert round(p.item() * 100, 2) == 47.54
    others = (1.0 - p.item()) / 3
    assert round(others * 100, 2) == 17.49
    # scaled by 60: ~100 % (the loss -log p is 3 e^-60 = 2.6e-26)
    loss60 = F.normface_loss(x.double(), y, w.double(), scale=60.0).item()
    assert loss60 == pytest.approx(3 * math.exp(-60.0), rel=1e-9)


@pytest.mark.parametrize(("c", "s"), [(2, 1.0), (4, 1.0), (10, 1.0), (10, 5.0), (50, 16.0)])
def test_normface_lower_bound(c, s) -> None:
    # the bound log(1 + (C-1) exp(-s C/(C-1))) is reached when the class weights form a
    # regular simplex and each feature sits on its own weight; random inputs stay above it
    e = torch.eye(c, dtype=torch.float64)
    simplex = e - e.mean(0)  # C unit-ish vectors with pairwise cosine -1/(C-1)
    y = torch.arange(c)
    best = F.normface_loss(simplex, y, simplex, scale=s)
    assert best.item() == pytest.approx(F.normface_lower_bound(c, scale=s), rel=1e-12)
    # it bounds the mean over a class-balanced batch, whatever the features and weights
    for seed in range(5):
        x, _, w, _ = _data(4 * c, c + 3, c, bias=False, k=None, seed=seed)
        assert F.normface_loss(x, y.repeat(4), w, scale=s).item() >= best.item() - 1e-12


@pytest.mark.parametrize("fn", [F.arcface_loss, F.cosface_loss, F.combined_margin_loss])
def test_zero_margin_is_normface(fn) -> None:
    x, y, w, _ = _data(12, 6, 8, bias=False, k=None, seed=6)
    zero = {"arcface_loss": {"margin": 0.0}, "cosface_loss": {"cos_margin": 0.0}}.get(
        fn.__name__, {"m": 1.0, "margin": 0.0, "cos_margin": 0.0}
    )
    ours = fn(x, y, w, scale=13.0, reduction="none", **zero)
    ref = F.normface_loss(x, y, w, scale=13.0, reduction="none")
    torch.testing.assert_close(ours, ref)
    for a, b in zip(_grads(ours.sum(), x, w), _grads(ref.sum(), x, w), strict=True):
        torch.testing.assert_close(a, b)


def test_family_reductions() -> None:
    x, y, w, _ = _data(12, 6, 8, bias=False, k=None, seed=7)
    close = torch.testing.assert_close
    close(F.coco_loss(x, y, w, scale=9.0), F.normface_loss(x, y, w, scale=9.0))  # same function
    close(
        F.combined_margin_loss(x, y, w, m=1.0, margin=0.4, cos_margin=0.0, scale=9.0),
        F.arcface_loss(x, y, w, margin=0.4, scale=9.0),
    )
    close(
        F.combined_margin_loss(x, y, w, m=1.0, margin=0.0, cos_margin=0.3, scale=9.0),
        F.cosface_loss(x, y, w, cos_margin=0.3, scale=9.0),
    )
    close(
        F.subcenter_arcface_loss(x, y, w.unsqueeze(1), margin=0.4),
        F.arcface_loss(x, y, w, margin=0.4),
    )  # K = 1
    close(F.lsoftmax_loss(x, y, w, m=1), F.softmax_loss(x, y, w))  # m = 1: plain softmax
    close(F.lsoftmax_loss(x, y, w, m=4, lambda_=1e12), F.softmax_loss(x, y, w))  # lambda -> inf
    # annealing interpolates the target logit: lambda = 1 is the mean of the two targets
    xn, wn = TF.normalize(x, dim=1), TF.normalize(w, dim=1)
    cos = (xn @ wn.T).gather(1, y[:, None])
    torch.testing.assert_close(
        F.margin_target(cos, m=4.0, lambda_=1.0), 0.5 * (cos + F.psi(torch.acos(cos), m=4))
    )  # fmt: skip


def test_margin_pulls_features_toward_their_class_weight() -> None:
    # the study notes: the margin is an intra-class angle constraint. Optimise free unit features
    # against fixed class weights: once NormFace classifies a feature its gradient fades,
    # ArcFace keeps pulling it until theta is about m smaller.
    g = gen(8)
    w = TF.normalize(torch.randn(6, 8, generator=g, dtype=torch.float64), dim=1)
    y = torch.arange(6).repeat(8)
    start = TF.normalize(w[y] + 1.2 * torch.randn(48, 8, generator=g, dtype=torch.float64), dim=1)
    angles = {}
    for name, loss in (("normface", F.normface_loss), ("arcface", F.arcface_loss)):
        x = start.clone().requires_grad_(True)
        opt = torch.optim.SGD([x], lr=0.5)
        for _ in range(150):
            opt.zero_grad()
            loss(x, y, w, scale=16.0).backward()
            opt.step()
        cos = (TF.normalize(x.detach(), dim=1) * w[y]).sum(1)
        angles[name] = torch.rad2deg(torch.acos(cos.clamp(-1, 1))).mean().item()
    assert angles["arcface"] < 0.7 * angles["normface"], angles


def test_annealed_sphereface_effective_margin() -> None:
    # the study notes: lambda decays during training; with m = 4 the effective margin ends near 1.5
    assert F.sphereface_effective_margin(0.0, m=4) == pytest.approx(4.0, abs=1e-9)
    at_min = F.sphereface_effective_margin(5.0, m=4)  # SphereFace's lambda_min
    assert 1.4 < at_min < 1.7
    seq = [F.sphereface_effective_margin(lam, m=4) for lam in (0.0, 1.0, 5.0, 20.0, 1000.0)]
    assert all(a > b for a, b in zip(seq, seq[1:], strict=False)) and seq[-1] < 1.01


def test_lambda_schedule() -> None:
    sched = F.LambdaSchedule(base=1000.0, decay=0.12, power=1.0, lambda_min=5.0)
    assert sched(0) == 1000.0
    assert sched(10) == pytest.approx(1000.0 / 2.2)  # base (1 + decay t)^-power
    assert sched(100_000) == 5.0  # floored at lambda_min
    vals = [sched(t) for t in range(0, 5000, 50)]
    assert all(a >= b for a, b in zip(vals, vals[1:], strict=False))
    with pytest.raises(ValueError, match="LambdaSchedule: iteration must be an int >= 0; got -1"):
        sched(-1)
    with pytest.raises(
        ValueError, match="LambdaSchedule: decay must be a finite number >= 0; got -0.1"
    ):
        F.LambdaSchedule(decay=-0.1)


# --------------------------------------------------------------------------- peers


def _pml_pair(pml_class: str, ours, ours_kw: dict, theirs_kw: dict, seed: int = 9):
    import pytorch_metric_learning.losses as losses  # a test extra: parity must run
    x, y, w, _ = _data(24, 10, 13, bias=False, k=None, seed=seed)
    peer = getattr(losses, pml_class)(num_classes=13, embedding_size=10, **theirs_kw).double()
    with torch.no_grad():
        peer.W.copy_(w.detach().T)  # deliberate: PML stores W as (D, C), losskit as (C, D)
    xp = x.detach().clone().requires_grad_(True)
    ref = peer(xp, y)
    ref.backward()
    out = ours(x, y, w, **ours_kw)
    gx, gw = torch.autograd.grad(out, (x, w))
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gx, xp.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gw, peer.W.grad.T, rtol=1e-10, atol=1e-12)


def test_parity_pml_arcface() -> None:
    # deliberate difference: PML's margin is in degrees, losskit's in radians
    _pml_pair(
        "ArcFaceLoss",
        F.arcface_loss,
        {"margin": 0.5, "scale": 64.0},
        {"margin": math.degrees(0.5), "scale": 64},
    )


def test_parity_pml_arcface_past_pi_minus_m() -> None:
    # a large margin puts many targets past theta = pi - m: both switch to cos theta - m sin m
    _pml_pair(
        "ArcFaceLoss",
        F.arcface_loss,
        {"margin": 1.4, "scale": 8.0},
        {"margin": math.degrees(1.4), "scale": 8},
    )


def test_parity_pml_cosface() -> None:
    # deliberate difference: the cosine margin is called cos_margin here (PML: margin)
    _pml_pair(
        "CosFaceLoss",
        F.cosface_loss,
        {"cos_margin": 0.35, "scale": 64.0},
        {"margin": 0.35, "scale": 64},
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # PML's scipy/numpy call
@pytest.mark.parametrize("m", [2, 4])
def test_parity_pml_sphereface(m) -> None:
    # PML has no annealing (lambda_=0) and an extra scale (left at 1)
    _pml_pair("SphereFaceLoss", F.sphereface_loss, {"m": m}, {"margin": m})


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # PML's scipy/numpy call
@pytest.mark.parametrize("m", [2, 4])
def test_parity_pml_large_margin_softmax(m) -> None:
    _pml_pair("LargeMarginSoftmaxLoss", F.lsoftmax_loss, {"m": m}, {"margin": m})


def test_parity_pml_normalized_softmax() -> None:
    # PML's NormalizedSoftmaxLoss is CE(cos / T): NormFace with scale = 1 / T
    _pml_pair("NormalizedSoftmaxLoss", F.normface_loss, {"scale": 20.0}, {"temperature": 0.05})


def _insightface_arcface(
    cos: torch.Tensor, labels: torch.Tensor, s: float, m: float
) -> torch.Tensor:
    """insightface arcface_torch's CombinedMarginLoss for (m1, m2, m3) = (1, m, 0) (losskit's
    ``m``, ``margin``, ``cos_margin``), re-derived from its formula: cos(theta + m) on the
    target, applied under no_grad, then times s."""
    logits = cos.clone()
    with torch.no_grad():
        theta = torch.acos(logits.gather(1, labels[:, None]).clamp(-1, 1))
        logits.scatter_(1, labels[:, None], torch.cos(theta + m))  # a no_grad write: no gradient
    return logits * s


def test_straight_through_matches_insightface() -> None:
    x, y, w, _ = _data(20, 12, 9, bias=False, k=None, seed=10)
    cos = TF.normalize(x, dim=1) @ TF.normalize(w, dim=1).T
    ref = TF.cross_entropy(_insightface_arcface(cos, y, 64.0, 0.5), y)
    ours = F.arcface_loss(x, y, w, margin=0.5, scale=64.0, grad_mode="straight_through")
    torch.testing.assert_close(ours, ref)
    for a, b in zip(_grads(ours, x, w), _grads(ref, x, w), strict=True):
        torch.testing.assert_close(a, b)


def test_straight_through_gradient_difference() -> None:
    # The straight-through gradient w.r.t. the target cosine is sin(theta)/sin(theta + m)
    # times the exact one: 1/cos(0.5) = 1.14 at theta = pi/2. On freshly initialised features
    # (D = 512, theta ~ pi/2) the feature gradients of the two modes differ by about 13 %.
    g = gen(11)
    x = torch.randn(256, 512, generator=g, dtype=torch.float64)
    w = torch.randn(1000, 512, generator=g, dtype=torch.float64)
    y = torch.randint(0, 1000, (256,), generator=g)
    grads = {}
    for mode in ("exact", "straight_through"):
        xx = x.clone().requires_grad_(True)
        F.arcface_loss(xx, y, w, margin=0.5, scale=64.0, grad_mode=mode).backward()
        grads[mode] = xx.grad
    rel = ((grads["straight_through"] - grads["exact"]).norm() / grads["exact"].norm()).item()
    assert 0.11 < rel < 0.16, rel
    c = torch.tensor([0.0, 0.5, -0.3], dtype=torch.float64, requires_grad=True)
    (ge,) = torch.autograd.grad(F.margin_target(c, margin=0.5).sum(), c)
    theta = torch.acos(c.detach())
    torch.testing.assert_close(1.0 / ge, torch.sin(theta) / torch.sin(theta + 0.5))


# --------------------------------------------------------------------------- Partial FC


def test_partial_fc_sample() -> None:
    labels = torch.tensor([3, 17, 3, 42, 99, 17])
    index, new = F.partial_fc_sample(labels, 100, sample_rate=0.1, generator=gen(12))
    assert index.numel() == 10 and (index.diff() > 0).all()
    assert set(labels.tolist()) <= set(index.tolist())  # every positive class is kept
    assert torch.equal(index[new], labels)
    again, _ = F.partial_fc_sample(labels, 100, sample_rate=0.1, generator=gen(12))
    assert torch.equal(index, again)  # reproducible with a generator
    # more positives than the rate allows: all of them, nothing else
    many = torch.arange(0, 100, 3)
    idx, new = F.partial_fc_sample(many, 100, sample_rate=0.1)
    assert torch.equal(idx, many) and torch.equal(new, torch.arange(34))
    full, new = F.partial_fc_sample(labels, 100, sample_rate=1.0)
    assert torch.equal(full, torch.arange(100)) and torch.equal(new, labels)
    with pytest.raises(
        ValueError, match=r"partial_fc_sample: sample_rate must be a number in \(0, 1\]; got 1.5"
    ):
        F.partial_fc_sample(labels, 100, sample_rate=1.5)
    with pytest.raises(ValueError, match=r"partial_fc_sample: labels must lie in \[0, 9\]"):
        F.partial_fc_sample(labels, 10, sample_rate=0.5)


@pytest.mark.parametrize("chunk", [None, 4])
def test_partial_fc_loss_is_the_loss_over_the_sampled_classes(chunk) -> None:
    x, _, w, _ = _data(10, 6, 40, bias=False, k=None, seed=13)
    y = torch.randint(0, 40, (10,), generator=gen(14))
    index, new = F.partial_fc_sample(y, 40, sample_rate=0.3, generator=gen(15))
    loss = F.arcface_loss(x, new, w[index], margin=0.5, scale=16.0, chunk_size=chunk)
    logits = _ref_logits("arcface_loss", x, y, w, None, {"margin": 0.5, "scale": 16.0})[:, index]
    torch.testing.assert_close(loss, TF.cross_entropy(logits, new))
    (gw,) = torch.autograd.grad(loss, w)
    rest = torch.ones(40, dtype=torch.bool)
    rest[index] = False
    assert (gw[rest] == 0).all() and (gw[index].abs().sum(1) > 0).all()  # only sampled rows


def test_module_partial_fc_only_in_training() -> None:
    torch.manual_seed(0)
    head = lnn.ArcFaceLoss(50, 6, sample_rate=0.2, scale=16.0)
    x, y = torch.randn(8, 6), torch.randint(0, 50, (8,))
    head(x, y).backward()
    touched = (head.centers.grad.abs().sum(1) > 0).sum().item()
    assert touched == 10  # ceil(0.2 * 50) sampled classes
    head.eval()
    torch.testing.assert_close(head(x, y), F.arcface_loss(x, y, head.centers, scale=16.0))


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8])
def test_module_partial_fc_leaves_excluded_rows_out(dtype) -> None:
    # an excluded row (mask False, or its label == ignore_index) does not put its class into
    # the sample: the module's loss is the loss over partial_fc_sample of the kept labels
    torch.manual_seed(0)
    head = lnn.ArcFaceLoss(50, 6, sample_rate=0.2, scale=16.0, chunk_size=4)
    x = torch.randn(8, 6, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([3, 7, 7, 12, 40, 3, 9, 21])
    keep = torch.tensor([True, True, True, False, False, True, True, False])
    u = torch.linspace(0.5, 2.0, 8, dtype=torch.float64)
    torch.manual_seed(1)  # the sampler draws its negatives from the global generator
    out = head(x, y.to(dtype), weight=u, mask=keep)
    torch.manual_seed(1)
    index, new = F.partial_fc_sample(torch.where(keep, y, -1), 50, sample_rate=0.2)
    assert index.numel() == 10 and (new >= 0).equal(keep)
    ref = F.arcface_loss(
        x, new.clamp_min(0), head.centers[index], scale=16.0, weight=u, mask=new >= 0
    )
    torch.testing.assert_close(out, ref)
    (gx,) = torch.autograd.grad(out, x)
    assert (gx[~keep] == 0).all()
    if dtype != torch.uint8:  # ignore_index: the same rows left out
        torch.manual_seed(1)
        again = head(x, torch.where(keep, y, -100).to(dtype), weight=u)
        torch.testing.assert_close(again, ref)


# --------------------------------------------------------------------------- modules


MODULES = [
    (lnn.SoftmaxLoss, {}),
    (lnn.LSoftmaxLoss, {"m": 2}),
    (lnn.SphereFaceLoss, {"m": 4, "lambda_": 5.0}),
    (lnn.COCOLoss, {"learn_scale": True}),
    (lnn.L2SoftmaxLoss, {"learn_scale": True}),
    (lnn.NormFaceLoss, {"learn_scale": True}),
    (lnn.CosFaceLoss, {}),
    (lnn.ArcFaceLoss, {"grad_mode": "straight_through"}),
    (lnn.CombinedMarginLoss, {"m": 1.2}),
    (lnn.SubCenterArcFaceLoss, {"subcenters": 3}),
]


@pytest.mark.parametrize(("cls", "kw"), MODULES, ids=[c.__name__ for c, _ in MODULES])
def test_module_owns_parameters_and_never_writes_to_self(cls, kw) -> None:
    torch.manual_seed(0)
    head = cls(11, 8, chunk_size=4, **kw)
    before = {k: v.clone() for k, v in head.state_dict().items()}
    x = torch.randn(5, 8, dtype=torch.float64, requires_grad=True)  # float64 into a float32 head
    loss = head(x, torch.randint(0, 11, (5,)))
    loss.backward()
    assert loss.dtype == torch.float64
    after = head.state_dict()
    assert before.keys() == after.keys()
    for k in before:  # no dtype rewriting, no new buffers, no in-place edits
        assert after[k].dtype == before[k].dtype == torch.float32 and torch.equal(
            after[k], before[k]
        )
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.dtype == p.dtype and torch.isfinite(p.grad).all(), name
    if kw.get("learn_scale"):
        assert head.scale.grad.abs().item() > 0
    assert repr(head).startswith(f"{cls.__name__}(11, 8, ")
    head.reset_parameters()
    bound = 1 / math.sqrt(8)
    assert head.centers.abs().max() <= bound


def test_learnable_scale_as_a_tensor() -> None:
    x, y, w, _ = _data(7, 5, 6, bias=False, k=None, seed=16)
    s = torch.tensor(9.0, dtype=torch.float64, requires_grad=True)
    out = F.normface_loss(x, y, w, scale=s)
    (gs,) = torch.autograd.grad(out, s)
    eps = 1e-6
    num = (
        F.normface_loss(x, y, w, scale=9.0 + eps) - F.normface_loss(x, y, w, scale=9.0 - eps)
    ) / (2 * eps)
    torch.testing.assert_close(gs, num.detach(), rtol=1e-6, atol=1e-9)


def test_create_from_registry_builds_a_real_head() -> None:
    head = losskit.create("arcface_loss", num_classes=100, embedding_dim=32, margin=0.3)
    assert (
        isinstance(head, lnn.ArcFaceLoss) and head.centers.shape == (100, 32) and head.margin == 0.3
    )


def test_module_constructor_errors() -> None:
    with pytest.raises(
        ValueError, match=r"ArcFaceLoss: sample_rate must be a number in \(0, 1\]; got 2.0"
    ):
        lnn.ArcFaceLoss(3, 4, sample_rate=2.0)
    with pytest.raises(ValueError, match="SphereFaceLoss: num_classes must be an int >= 1; got 0"):
        lnn.SphereFaceLoss(0, 4)
    with pytest.raises(
        ValueError,
        match=r"ArcFaceLoss: margin must be a number in \[0, pi\); got 28.6",
    ):
        lnn.ArcFaceLoss(3, 4, margin=28.6)  # someone passing degrees


# --------------------------------------------------------------------------- numerics


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("chunk", [None, 5])
def test_half_features_and_half_weight(dtype, chunk) -> None:
    x, y, w, _ = _data(9, 8, 13, bias=False, k=None, dtype=torch.float32, seed=17)
    ref = F.arcface_loss(x, y, w, scale=16.0)
    xh = x.detach().to(dtype).requires_grad_(True)
    out = F.arcface_loss(xh, y, w, scale=16.0, chunk_size=chunk)
    assert out.dtype == dtype
    out.backward()
    assert xh.grad.dtype == dtype
    wh = w.detach().to(dtype).requires_grad_(True)  # a half-precision head, float32 features
    out2 = F.arcface_loss(x.detach(), y, wh, scale=16.0, chunk_size=chunk)
    out2.backward()
    assert out2.dtype == torch.float32 and wh.grad.dtype == dtype
    torch.testing.assert_close(out.float(), ref, rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(out2, ref, rtol=2e-2, atol=2e-2)


def _subnormal(t: torch.Tensor) -> int:
    tiny = torch.finfo(t.dtype).tiny
    return int(((t != 0) & (t.abs() < tiny)).sum())


@pytest.mark.parametrize("chunk", [None, 16])
def test_no_subnormal_numbers_reach_the_matrix_products(chunk) -> None:
    # L-Softmax with large norms spreads the logits over thousands of units: most
    # probabilities underflow. pytorch-metric-learning's version then computes with
    # subnormal floats (slow on x86 unless the user flushes them); losskit sets them to 0.
    g = gen(18)
    x = (torch.randn(32, 16, generator=g) * 30).requires_grad_(True)
    w = (torch.randn(200, 16, generator=g) * 30).requires_grad_(True)
    y = torch.randint(0, 200, (32,), generator=g)
    lse, zt, _ = margin_ce_parts(x, w, None, y, normalize=False, chunk_size=chunk)
    saved = [t for t in lse.grad_fn.saved_tensors if t is not None and t.is_floating_point()]
    assert all(_subnormal(t) == 0 for t in saved)
    F.lsoftmax_loss(x, y, w, m=4, chunk_size=chunk).backward()
    assert _subnormal(w.grad) == 0 and _subnormal(x.grad) == 0
    assert torch.isfinite(w.grad).all() and torch.isfinite(x.grad).all()


def test_single_class_and_empty_batch() -> None:
    # C = 1: the target is the only class, the loss is exactly 0 with zero gradients
    x = torch.randn(3, 4, requires_grad=True)
    w = torch.randn(1, 4, requires_grad=True)
    for chunk in (None, 1):
        out = F.arcface_loss(
            x, torch.zeros(3, dtype=torch.long), w, chunk_size=chunk, reduction="none"
        )
        assert torch.equal(out, torch.zeros(3))
        gx, gw = torch.autograd.grad(out.sum(), (x, w))
        assert torch.isfinite(gx).all() and torch.isfinite(gw).all()
    # empty batch: "mean" is 0 with a gradient (also through the chunked path)
    x0 = torch.zeros(0, 4, requires_grad=True)
    out = F.cosface_loss(x0, torch.zeros(0, dtype=torch.long), w, chunk_size=1)
    assert out.item() == 0.0
    out.backward()
    assert x0.grad.shape == (0, 4)


@pytest.mark.parametrize("dtype", [torch.int32, torch.uint8])
def test_any_integer_label_dtype(dtype) -> None:
    x, y, w, _ = _data(6, 4, 5, bias=False, k=None, seed=19)
    for chunk in (None, 2):
        torch.testing.assert_close(
            F.arcface_loss(x, y.to(dtype), w, chunk_size=chunk),
            F.arcface_loss(x, y, w, chunk_size=chunk),
        )
    cos = torch.rand(6, 5, dtype=torch.float64)
    torch.testing.assert_close(
        F.margin_logits(cos, y.to(dtype), margin=0.3), F.margin_logits(cos, y, margin=0.3)
    )
    index, new = F.partial_fc_sample(y.to(dtype), 5, sample_rate=0.5)
    assert torch.equal(index[new], y)


def test_zero_feature_and_zero_weight_are_finite() -> None:
    x = torch.zeros(2, 4, requires_grad=True)
    w = torch.cat([torch.zeros(1, 4), torch.randn(2, 4)]).requires_grad_(True)
    for fn in (F.arcface_loss, F.sphereface_loss, F.lsoftmax_loss, F.normface_loss):
        out = fn(x, torch.tensor([0, 1]), w)
        gx, gw = torch.autograd.grad(out, (x, w))
        assert torch.isfinite(out) and torch.isfinite(gx).all() and torch.isfinite(gw).all(), (
            fn.__name__
        )


@pytest.mark.parametrize("chunk", [None, 4])
def test_module_partial_fc_compiles_with_dynamic_shapes(chunk) -> None:
    # the sample size is known before the labels are read (max(ceil(rC), B)): training-mode
    # Partial FC compiles to one graph with dynamic shapes, and equals eager on the same draw
    torch._dynamo.reset()
    torch.manual_seed(0)
    head = lnn.ArcFaceLoss(50, 6, sample_rate=0.2, scale=16.0, chunk_size=chunk)
    compiled = torch.compile(head, backend="aot_eager", fullgraph=True, dynamic=True)
    for n in (8, 12):
        x, y = torch.randn(n, 6, generator=gen(n)), torch.randint(0, 50, (n,), generator=gen(n))
        torch.manual_seed(3)
        got = compiled(x, y)
        torch.manual_seed(3)
        torch.testing.assert_close(got, head(x, y))


def test_double_backward_through_the_fused_softmax() -> None:
    # create_graph=True differentiates the plain formulas: a gradient penalty on the embeddings
    # and the class centres is exact (dense and chunked, flat and sub-centre weights)
    x = torch.randn(4, 6, dtype=torch.float64, generator=gen(1), requires_grad=True)
    y = torch.tensor([0, 2, 4, 1])
    w = torch.randn(5, 6, dtype=torch.float64, generator=gen(2), requires_grad=True)
    w3 = torch.randn(5, 2, 6, dtype=torch.float64, generator=gen(3), requires_grad=True)
    for chunk in (None, 2):
        assert torch.autograd.gradgradcheck(
            lambda a, b, c=chunk: F.arcface_loss(a, y, b, scale=8.0, chunk_size=c),
            (x, w),
            atol=1e-4,
        )
    assert torch.autograd.gradgradcheck(
        lambda a, b: F.subcenter_arcface_loss(a, y, b, scale=8.0), (x, w3), atol=1e-4
    )
    (gx,) = torch.autograd.grad(F.softmax_loss(x, y, w), x, create_graph=True)
    assert gx.requires_grad
