"""Constraint losses (the study notes, constraint losses): centre (and its paper update), centre-invariant,
range and ring. Hand-worked values, naive references, the O(N D) centre step, and the
README recipe ``ce + lambda * center``."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as TF
from torch.utils._python_dispatch import TorchDispatchMode

import losskit
from losskit import (
    CenterInvariantLoss,
    CenterLoss,
    RingLoss,
    center_invariant_loss,
    center_loss,
    range_loss,
    ring_loss,
    update_centers_,
)

from ..conftest import gen

# --------------------------------------------------------------------------- centre loss


def test_center_loss_hand_worked() -> None:
    centers = torch.tensor([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]])
    x = torch.tensor([[3.0, 4.0], [1.0, 2.0], [1.0, 1.0]])
    y = torch.tensor([0, 1, 1])
    # 1/2 * 25, 1/2 * 1, 0
    torch.testing.assert_close(
        center_loss(x, y, centers, reduction="none"), torch.tensor([12.5, 0.5, 0.0])
    )
    # the seed's lambda/2 sum_i ||x_i - c_yi||^2 with lambda = 1 is reduction="sum"
    torch.testing.assert_close(center_loss(x, y, centers, reduction="sum"), torch.tensor(13.0))
    torch.testing.assert_close(center_loss(x, y, centers), torch.tensor(13.0 / 3))


def test_center_loss_gradient_is_x_minus_c() -> None:
    g = gen(1)
    centers = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    x = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 2, 2, 4, 0, 0])
    center_loss(x, y, centers, reduction="sum").backward()
    torch.testing.assert_close(x.grad, x.detach() - centers.detach()[y])
    want = torch.zeros_like(centers).index_add(0, y, centers.detach()[y] - x.detach())
    torch.testing.assert_close(centers.grad, want)
    assert torch.autograd.gradcheck(
        lambda c: center_loss(x.detach(), y, c), (centers.detach().requires_grad_(),)
    )


def test_sparse_gradient_holds_only_the_batch_rows() -> None:
    g = gen(2)
    centers = torch.randn(1000, 4, generator=g, requires_grad=True)
    x, y = torch.randn(8, 4, generator=g), torch.tensor([3, 3, 10, 999, 0, 10, 3, 500])
    center_loss(x, y, centers, sparse=True).backward()
    sparse = centers.grad.coalesce()
    assert sparse.is_sparse and set(sparse.indices()[0].tolist()) == set(y.tolist())
    dense = centers.detach().clone().requires_grad_(True)
    center_loss(x, y, dense).backward()
    torch.testing.assert_close(sparse.to_dense(), dense.grad)


def naive_paper_update(
    centers: torch.Tensor, x: torch.Tensor, y: torch.Tensor, update_rate: float
) -> torch.Tensor:
    """Wen et al., Algorithm 1: delta c_j = sum_{y_i = j} (c_j - x_i) / (1 + n_j)."""
    out = centers.clone()
    for j in y.unique().tolist():
        idx = (y == j).nonzero().flatten()
        delta = (centers[j] - x[idx]).sum(0) / (1 + len(idx))
        out[j] = centers[j] - update_rate * delta
    return out


def test_update_centers_matches_the_paper() -> None:
    g = gen(3)
    centers = torch.randn(50, 6, generator=g, dtype=torch.float64)
    x = torch.randn(20, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 7, (20,), generator=g) * 7  # repeats, and most classes untouched
    want = naive_paper_update(centers, x, y, 0.5)
    got = update_centers_(centers.clone(), x, y, update_rate=0.5)
    torch.testing.assert_close(got, want)
    untouched = torch.ones(50, dtype=torch.bool)
    untouched[y] = False
    assert torch.equal(got[untouched], centers[untouched])  # bit-for-bit


def test_update_centers_converges_to_the_class_mean() -> None:
    # update_rate = 1 and the same batch again and again: c -> mean geometrically
    centers = torch.zeros(2, 2, dtype=torch.float64)
    x = torch.tensor([[2.0, 0.0], [4.0, 3.0]], dtype=torch.float64)
    for _ in range(60):
        update_centers_(centers, x, torch.tensor([1, 1]), update_rate=1.0)
    torch.testing.assert_close(centers[1], x.mean(0))
    with pytest.raises(
        ValueError, match=r"update_centers_: update_rate must be a number in \[0, 1\]; got 1.5"
    ):
        update_centers_(centers, x, torch.tensor([1, 1]), update_rate=1.5)


def test_center_module_paper_mode() -> None:
    torch.manual_seed(0)
    m = CenterLoss(10, 3, update_rate=0.5)
    assert not list(m.parameters()) and "centers" in m.state_dict()  # a buffer, not a parameter
    x, y = torch.randn(5, 3, requires_grad=True), torch.tensor([1, 1, 4, 4, 4])
    before = m.centers.clone()
    loss = m(x, y)
    torch.testing.assert_close(loss, center_loss(x, y, before))  # computed before the update
    torch.testing.assert_close(m.centers, naive_paper_update(before, x.detach(), y, 0.5))
    loss.backward()  # the in-place update does not break the graph
    torch.testing.assert_close(x.grad, (x.detach() - before[y]) / 5)
    m.eval()
    after = m.centers.clone()
    m(x, y)
    assert torch.equal(m.centers, after)  # no update in eval mode


def test_center_module_optimizer_mode_touches_only_batch_rows() -> None:
    torch.manual_seed(0)
    m = CenterLoss(1000, 4, update="optimizer")
    assert isinstance(m.centers, torch.nn.Parameter)
    opt = torch.optim.SGD(m.parameters(), lr=0.5)
    before = m.centers.detach().clone()
    x, y = torch.randn(6, 4), torch.tensor([7, 7, 100, 999, 0, 100])
    m(x, y).backward()
    assert m.centers.grad.is_sparse
    opt.step()
    changed = (m.centers.detach() != before).any(1).nonzero().flatten()
    assert set(changed.tolist()) == set(y.tolist())
    dense = CenterLoss(1000, 4, update="optimizer", sparse=False)
    with torch.no_grad():
        dense.centers.copy_(before)
    dense(x, y).backward()
    assert not dense.centers.grad.is_sparse


class _Largest(TorchDispatchMode):
    """The largest tensor any op produces (stored values, for sparse tensors)."""

    def __init__(self) -> None:
        super().__init__()
        self.max = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = [a for a in (*args, *(kwargs or {}).values()) if isinstance(a, torch.Tensor)]
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if not isinstance(t, torch.Tensor) or any(t is a for a in inputs):
                continue  # an in-place op hands back its argument (the centres): not new memory
            n = t._values().numel() if t.is_sparse else t.numel()
            self.max = max(self.max, n)
        return out


@pytest.mark.parametrize("update", ["paper", "optimizer"])
def test_center_step_does_no_per_class_work(update: str) -> None:
    # with 200,000 classes no op may produce a (C, D) (or even (C,)) tensor: O(N D) per step
    c, d, n = 200_000, 8, 32
    torch.manual_seed(0)
    m = CenterLoss(c, d, update=update)
    opt = torch.optim.SGD(m.parameters(), lr=0.1) if update == "optimizer" else None
    x, y = torch.randn(n, d, requires_grad=True), torch.randint(0, c, (n,))
    with _Largest() as rec:
        m(x, y).backward()
        if opt is not None:
            opt.step()
    assert rec.max <= n * d, f"an op produced {rec.max} elements; C = {c}"


def test_center_module_half_features_float32_centres() -> None:
    torch.manual_seed(0)
    m = CenterLoss(4, 3)
    x, y = torch.randn(5, 3).half(), torch.tensor([0, 1, 2, 3, 0])
    out = m(x, y)
    assert out.dtype == torch.float16
    assert m.centers.dtype == torch.float32


def test_center_module_validates() -> None:
    with pytest.raises(
        ValueError, match="CenterLoss: update must be one of 'paper', 'optimizer'; got 'sgd'"
    ):
        CenterLoss(4, 3, update="sgd")
    with pytest.raises(
        ValueError, match=r"CenterLoss: update_rate must be a number in \[0, 1\]; got 2.0"
    ):
        CenterLoss(4, 3, update_rate=2.0)
    with pytest.raises(TypeError, match="CenterLoss: num_classes must be an int; got 4.0"):
        CenterLoss(4.0, 3)  # type: ignore[arg-type]
    m = losskit.create("center_loss", num_classes=12, embedding_dim=7, update="optimizer")
    assert isinstance(m, CenterLoss) and tuple(m.centers.shape) == (12, 7)


def test_recipe_ce_plus_lambda_center_tightens_classes() -> None:
    """The README recipe: ``ce + lambda * center``. On the same data and seed, the centre term
    shrinks the classes' spread relative to the distance between class means."""
    g = gen(4)
    n, c = 300, 4
    y = torch.randint(0, c, (n,), generator=g)
    means = torch.tensor([[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]])
    inputs = means[y] + 0.9 * torch.randn(n, 2, generator=g)

    def train(lam: float) -> float:
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
        head = torch.nn.Linear(2, c)
        center = CenterLoss(c, 2, update_rate=0.5)
        opt = torch.optim.SGD([*net.parameters(), *head.parameters()], lr=0.05, momentum=0.9)
        for _ in range(100):
            feats = net(inputs)
            loss = TF.cross_entropy(head(feats), y) + lam * center(feats, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            feats = net(inputs)
            class_means = torch.stack([feats[y == k].mean(0) for k in range(c)])
            spread = (feats - class_means[y]).norm(dim=1).mean()
            between = torch.pdist(class_means).min()
            return (spread / between).item()

    # measured: 0.46 without the centre term, 0.25 with it (seeds 4-6: 0.37-0.46 vs 0.23-0.26)
    assert train(1.0) < 0.75 * train(0.0)


# --------------------------------------------------------------------------- centre invariant


def test_center_invariant_hand_worked() -> None:
    centers = torch.tensor([[1.0, 0.0], [0.0, 3.0]])  # squared norms 1, 9; mean 5
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 1])
    # sample 0: 0 + (1 - 5)^2 / 4 = 4; sample 1: 1/2 * 4 + (9 - 5)^2 / 4 = 6
    torch.testing.assert_close(
        center_invariant_loss(x, y, centers, invariant_weight=1.0, reduction="none"),
        torch.tensor([4.0, 6.0]),
    )
    # invariant_weight scales the invariant term only; 0 gives the centre loss
    torch.testing.assert_close(
        center_invariant_loss(x, y, centers, invariant_weight=0.0, reduction="none"),
        center_loss(x, y, centers, reduction="none"),
    )
    # centres on one sphere: the invariant term vanishes
    sphere = TF.normalize(torch.randn(6, 2, generator=gen(5)), dim=1) * 3
    yy = torch.tensor([0, 5, 3])
    xx = torch.randn(3, 2, generator=gen(6))
    torch.testing.assert_close(
        center_invariant_loss(xx, yy, sphere, invariant_weight=7.0), center_loss(xx, yy, sphere)
    )


def test_center_invariant_gradcheck_on_centres() -> None:
    g = gen(7)
    centers = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    x = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 1, 4, 0, 2])
    assert torch.autograd.gradcheck(
        lambda xx, cc: center_invariant_loss(xx, y, cc, invariant_weight=0.7), (x, centers)
    )


def test_center_invariant_pulls_norms_together() -> None:
    torch.manual_seed(0)
    m = CenterInvariantLoss(6, 4, invariant_weight=1.0)
    with torch.no_grad():
        m.centers.mul_(torch.linspace(0.2, 3.0, 6).unsqueeze(1))  # very different norms
    spread0 = m.centers.detach().square().sum(1).std()
    opt = torch.optim.SGD(m.parameters(), lr=0.01)
    y = torch.arange(6).repeat(4)
    for _ in range(300):
        x = m.centers.detach()[y]  # features at the centres: only the invariant term acts
        opt.zero_grad()
        m(x, y).backward()
        opt.step()
    assert m.centers.detach().square().sum(1).std() < 0.05 * spread0


# --------------------------------------------------------------------------- range loss


def naive_range(x, y, *, k, margin, intra_weight, inter_weight, reduction):
    classes = sorted(set(y.tolist()))
    terms = []
    for c in classes:
        idx = (y == c).nonzero().flatten().tolist()
        ds = sorted(
            ((x[i] - x[j]).square().sum() for i, j in itertools.combinations(idx, 2)),
            key=lambda t: -t.item(),
        )[:k]
        if ds:
            terms.append(len(ds) / sum(1 / d for d in ds))
    intra = sum(terms) if reduction == "sum" else (sum(terms) / len(terms) if terms else 0.0)
    inter = 0.0
    if len(classes) > 1:
        means = {c: x[y == c].mean(0) for c in classes}
        closest = min(
            (means[a] - means[b]).square().sum() for a, b in itertools.combinations(classes, 2)
        )
        inter = torch.relu(margin - closest)
    return intra_weight * intra + inter_weight * inter


def _range_example() -> tuple[torch.Tensor, torch.Tensor, float, float]:
    """Two classes of 2 and 3 samples: the class terms 4 and 72/13 and the inter term."""
    x = torch.tensor([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [10.0, 1.0], [10.0, 3.0]])
    y = torch.tensor([0, 0, 1, 1, 1])
    # class 0: D = {4}: 4; class 1: D = {9, 4, 1}, k = 2 largest {9, 4}: 2 / (1/9 + 1/4) = 72/13
    # means (1, 0), (10, 4/3): 81 + 16/9; margin 100 -> 100 - 82.777...
    return x, y, 72 / 13, 100 - (81 + 16 / 9)


def test_range_loss_hand_worked() -> None:
    x, y, intra1, inter = _range_example()
    out = range_loss(x, y, k=2, margin=100.0, intra_weight=1.0, inter_weight=1.0)
    assert out.item() == pytest.approx((4 + intra1) / 2 + inter, rel=1e-6)  # "mean": of classes
    total = range_loss(x, y, k=2, margin=100.0, reduction="sum")
    assert total.item() == pytest.approx(4 + intra1 + inter, rel=1e-6)  # "sum": the paper's
    # "none": each sample holds its class term over the class size (2 and 3 samples) plus the
    # inter term over the 5 samples, so the shares sum to "sum"
    parts = range_loss(x, y, k=2, margin=100.0, reduction="none")
    assert parts.shape == (5,)
    share = torch.tensor([4 / 2] * 2 + [intra1 / 3] * 3) + inter / 5
    torch.testing.assert_close(parts, share)
    torch.testing.assert_close(parts.sum(), total)
    # the term weights scale the intra and inter parts of every share
    weighted = range_loss(
        x, y, k=2, margin=100.0, intra_weight=0.5, inter_weight=2.0, reduction="none"
    )
    want = 0.5 * torch.tensor([4 / 2] * 2 + [intra1 / 3] * 3) + 2.0 * inter / 5
    torch.testing.assert_close(weighted, want)


def test_range_loss_none_permutes_with_the_batch() -> None:
    g = gen(13)
    x = torch.randn(17, 4, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 3, 4, 4, 4, 0, 1, 5])
    perm = torch.randperm(17, generator=g)
    kw = dict(k=2, margin=3.0, intra_weight=0.7, inter_weight=1.3)
    parts = range_loss(x, y, reduction="none", **kw)
    assert parts.shape == (17,)
    torch.testing.assert_close(range_loss(x[perm], y[perm], reduction="none", **kw), parts[perm])
    torch.testing.assert_close(parts.sum(), range_loss(x, y, reduction="sum", **kw))
    # singletons (classes 3 and 5) have no intra term: they hold only the inter share
    torch.testing.assert_close(parts[10], parts[16])


def test_range_loss_sample_weights_hand_worked() -> None:
    x, y, intra1, inter = _range_example()
    w = torch.tensor([1.0, 3.0, 0.0, 1.0, 2.0])  # mean weight 2 in class 0, 1 in class 1
    parts = range_loss(x, y, k=2, margin=100.0, weight=w, reduction="none")
    want = w * (torch.tensor([4 / 2] * 2 + [intra1 / 3] * 3) + inter / 5)
    torch.testing.assert_close(parts, want)
    total = range_loss(x, y, k=2, margin=100.0, weight=w, reduction="sum")
    assert total.item() == pytest.approx(2 * 4 + 1 * intra1 + 7 / 5 * inter, rel=1e-6)
    torch.testing.assert_close(parts.sum(), total)
    # "mean": the class terms averaged with their mean weights, the inter term times the mean
    # weight of the batch
    mean = range_loss(x, y, k=2, margin=100.0, weight=w)
    assert mean.item() == pytest.approx((2 * 4 + 1 * intra1) / 3 + 7 / 5 * inter, rel=1e-6)
    ones = range_loss(x, y, k=2, margin=100.0, weight=torch.ones(5))
    torch.testing.assert_close(ones, range_loss(x, y, k=2, margin=100.0))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_range_loss_mask_and_ignore_index_leave_the_batch(reduction: str) -> None:
    g = gen(14)
    x = torch.randn(12, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 0, 1, 1, 1, 2, 2, 0, 3, 3, 1, 2])
    keep = torch.tensor([1, 1, 0, 1, 1, 1, 0, 1, 0, 1, 1, 1], dtype=torch.bool)
    kw = dict(k=2, margin=5.0, reduction=reduction)
    out = range_loss(x, y, mask=keep, **kw)
    alone = range_loss(x[keep], y[keep], **kw)
    if reduction == "none":
        torch.testing.assert_close(out[keep], alone)
        assert (out[~keep] == 0).all()
    else:
        torch.testing.assert_close(out, alone)
    torch.testing.assert_close(range_loss(x, torch.where(keep, y, -100), **kw), out)
    torch.testing.assert_close(range_loss(x, torch.where(keep, y, 9), ignore_index=9, **kw), out)
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert (grad[~keep] == 0).all()


@pytest.mark.parametrize(("k", "reduction"), [(1, "mean"), (2, "sum"), (3, "mean"), (10, "sum")])
def test_range_loss_matches_naive(k: int, reduction: str) -> None:
    g = gen(8)
    x = torch.randn(17, 4, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 3, 4, 4, 4, 0, 1, 5])  # 3 and 5: singletons
    kw = dict(k=k, margin=3.0, intra_weight=0.7, inter_weight=1.3, reduction=reduction)
    ref = naive_range(x, y, **kw)
    out = range_loss(x, y, **kw)
    torch.testing.assert_close(out, ref)
    (g_ref,) = torch.autograd.grad(ref, x)
    (g_out,) = torch.autograd.grad(out, x)
    torch.testing.assert_close(g_out, g_ref)
    assert torch.autograd.gradcheck(lambda t: range_loss(t, y, **kw), (x,))


def test_range_loss_edges() -> None:
    one_class = torch.randn(4, 3, generator=gen(9), requires_grad=True)
    out = range_loss(one_class, torch.zeros(4, dtype=torch.long), margin=5.0)
    out.backward()  # no inter term with one class
    assert torch.isfinite(one_class.grad).all()
    singles = torch.randn(3, 3, generator=gen(10))
    # every class a singleton: no intra term, only the margin on the closest means
    out = range_loss(singles, torch.arange(3), margin=1e6, intra_weight=1.0, inter_weight=1.0)
    assert out.item() == pytest.approx(1e6 - torch.pdist(singles).square().min().item(), rel=1e-6)
    dup = torch.ones(4, 2, requires_grad=True)  # D = 0: clamped before 1/D, no NaN
    range_loss(dup, torch.tensor([0, 0, 1, 1])).backward()
    assert torch.isfinite(dup.grad).all()


def test_range_loss_compiles_without_graph_break() -> None:
    torch._dynamo.reset()
    x = torch.randn(9, 3, generator=gen(11))
    y = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3, 0])
    f = lambda t: range_loss(t, y, k=2, margin=4.0)  # noqa: E731
    torch.testing.assert_close(torch.compile(f, backend="aot_eager", fullgraph=True)(x), f(x))


# --------------------------------------------------------------------------- ring loss


def test_ring_loss_hand_worked_and_radius_forms() -> None:
    x = torch.tensor([[3.0, 4.0], [0.0, 1.0], [0.0, 0.0]])
    torch.testing.assert_close(
        ring_loss(x, torch.tensor(2.0), reduction="none"), torch.tensor([4.5, 0.5, 2.0])
    )
    torch.testing.assert_close(ring_loss(x, 2.0), ring_loss(x, torch.tensor([2.0])))


def test_ring_loss_gradients() -> None:
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0]], requires_grad=True)
    r = torch.tensor(2.0, requires_grad=True)
    ring_loss(x, r, reduction="sum").backward()
    # d/dR = -sum(||x|| - R) = -(3 + -2); d/dx = (||x|| - R) x / ||x||, 0 at x = 0
    assert r.grad.item() == pytest.approx(-1.0)
    torch.testing.assert_close(x.grad, torch.tensor([[1.8, 2.4], [0.0, 0.0]]))


def test_ring_module_learns_the_mean_norm() -> None:
    m = RingLoss(radius=1.0)
    x = torch.randn(256, 8, generator=gen(12)) * 3
    opt = torch.optim.SGD(m.parameters(), lr=0.5)
    for _ in range(100):
        opt.zero_grad()
        m(x).backward()
        opt.step()
    assert m.radius.item() == pytest.approx(x.norm(dim=1).mean().item(), rel=1e-4)
    m.reset_parameters()
    assert m.radius.item() == 1.0


# --------------------------------------------------------------------------- exclusion, weights


def _rows(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = gen(seed)
    centers = torch.randn(5, 3, generator=g, dtype=torch.float64)
    x = torch.randn(8, 3, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 2, 2, 4, 0, 1, 2, 4])
    keep = torch.tensor([1, 0, 1, 1, 0, 1, 1, 0], dtype=torch.bool)
    return centers, x, y, keep


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_center_losses_mask_and_ignore_index(reduction: str) -> None:
    centers, x, y, keep = _rows(20)
    calls = [
        lambda xx, yy, **kw: center_loss(xx, yy, centers, reduction=reduction, **kw),
        lambda xx, yy, **kw: center_invariant_loss(
            xx, yy, centers, invariant_weight=0.7, reduction=reduction, **kw
        ),
    ]
    for f in calls:
        out = f(x, y, mask=keep)
        if reduction == "none":
            torch.testing.assert_close(out[keep], f(x[keep], y[keep]))
            assert (out[~keep] == 0).all()
        else:
            torch.testing.assert_close(out, f(x[keep], y[keep]))
        # an ignored label may lie outside [0, C): it is never used to read a centre
        torch.testing.assert_close(f(x, torch.where(keep, y, -100)), out)
        torch.testing.assert_close(f(x, torch.where(keep, y, 77), ignore_index=77), out)


def test_center_losses_sample_weights() -> None:
    centers, x, y, _ = _rows(21)
    w = torch.tensor([1.0, 0.0, 2.0, 0.5, 3.0, 1.0, 0.0, 4.0], dtype=torch.float64)
    for f in (center_loss, center_invariant_loss, lambda xx, yy, c, **kw: ring_loss(xx, 1.5, **kw)):
        per = f(x, y, centers, reduction="none")
        torch.testing.assert_close(f(x, y, centers, weight=w, reduction="none"), w * per)
        torch.testing.assert_close(f(x, y, centers, weight=w, reduction="sum"), (w * per).sum())
        torch.testing.assert_close(f(x, y, centers, weight=w), (w * per).sum() / w.sum())


def test_ring_loss_mask() -> None:
    _, x, _, keep = _rows(22)
    for reduction in ("mean", "sum"):
        torch.testing.assert_close(
            ring_loss(x, 2.0, mask=keep, reduction=reduction),
            ring_loss(x[keep], 2.0, reduction=reduction),
        )
    out = ring_loss(x, 2.0, mask=keep, reduction="none")
    torch.testing.assert_close(out[keep], ring_loss(x[keep], 2.0, reduction="none"))
    assert (out[~keep] == 0).all()


def test_update_centers_skips_excluded_samples() -> None:
    centers, x, y, keep = _rows(23)
    want = naive_paper_update(centers, x[keep], y[keep], 0.5)
    torch.testing.assert_close(update_centers_(centers.clone(), x, y, mask=keep), want)
    ignored = torch.where(keep, y, -100)
    torch.testing.assert_close(update_centers_(centers.clone(), x, ignored), want)
    # class 4's samples are all excluded: its centre is untouched, bit for bit
    got = update_centers_(centers.clone(), x, y, mask=keep & (y != 4))
    assert torch.equal(got[4], centers[4])


def test_center_module_mask_moves_only_kept_samples() -> None:
    torch.manual_seed(0)
    m = CenterLoss(5, 3, update_rate=0.5, dtype=torch.float64)
    _, x, y, keep = _rows(24)
    before = m.centers.clone()
    loss = m(x, y, mask=keep)
    torch.testing.assert_close(loss, center_loss(x[keep], y[keep], before))
    torch.testing.assert_close(m.centers, naive_paper_update(before, x[keep], y[keep], 0.5))
