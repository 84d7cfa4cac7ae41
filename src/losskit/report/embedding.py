"""Report section for the embedding and constraint losses (the study notes: embedding losses,
constraint losses and vector geometry).

Everything is measured on real features: small networks trained here on scikit-learn's
handwritten digits (``load_digits``, 1797 8x8 images, shipped with scikit-learn).

* Softmax features: a network with a 2-D feature layer trained with plain softmax
  cross-entropy, and the same network trained with ``ce + lambda * center``. How often a
  same-class sample is farther from an anchor than an other-class sample (over every triplet
  of the held-out digits), in L2 and in cosine distance; how tight the classes are.
* ``d = sqrt(2 - 2 cos)`` on the normalised features.
* Mining: an embedding trained with batch-hard triplets; after every epoch, the fraction of
  triplets with a non-zero loss among random triplets, all triplets (batch-all) and the
  batch-hard ones, and the share of all triplets that are semi-hard.

The helpers (``softmax_feature_study``, ``unit_identity_error``, ``mining_study``) are
importable so tests can check the numbers the report prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as TF
from torch import Tensor, nn

from ..functional import distance as D
from ..functional import embedding as E
from ..functional.constraint import CenterLoss
from ._base import Claim, ReportContext, Section, html_table, pyplot

__all__ = [
    "FeatureStats",
    "MiningTrace",
    "load_digits_tensors",
    "feature_stats",
    "softmax_feature_study",
    "unit_identity_error",
    "mining_study",
    "section",
]


def load_digits_tensors(seed: int = 0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """scikit-learn's digits, scaled to [0, 1], split 2/3 train, 1/3 test (fixed shuffle)."""
    from ..experiments.digits import digits_arrays

    pixels, labels = digits_arrays()
    x = pixels.to(torch.float32) / 16.0
    y = labels.to(torch.long)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    x, y = x[perm], y[perm]
    cut = 2 * len(y) // 3
    return x[:cut], y[:cut], x[cut:], y[cut:]


# --------------------------------------------------------------------------- softmax features


@dataclass(frozen=True)
class FeatureStats:
    """How loose the classes of a feature set are.

    ``violating``: over every triplet (anchor, same-class sample, other-class sample), the
    fraction where the same-class sample is the farther one (intra > inter);
    ``max_intra`` / ``min_inter``: the largest same-class and the smallest different-class
    distance; ``tightness``: mean distance to the class mean over the smallest distance
    between class means (lower: tighter classes).
    """

    violating_l2: float
    violating_cos: float
    max_intra_l2: float
    min_inter_l2: float
    max_intra_cos: float
    min_inter_cos: float
    tightness: float


def _violations(dmat: Tensor, y: Tensor) -> tuple[float, float, float]:
    same = y.unsqueeze(1) == y.unsqueeze(0)
    pos = same & ~torch.eye(len(y), dtype=torch.bool)
    # per anchor, how many other-class samples are closer than each same-class one: sorted
    # other-class distances and a binary search, no (n, n, n) tensor
    others = torch.where(~same, dmat, torch.inf).sort(dim=1).values
    closer = torch.searchsorted(others, dmat.contiguous())
    violating = torch.where(pos, closer, 0).sum().item()
    total = (pos.sum(1) * (~same).sum(1)).sum().item()
    return (
        violating / max(total, 1),
        torch.where(pos, dmat, -torch.inf).max().item(),
        torch.where(~same, dmat, torch.inf).min().item(),
    )


def feature_stats(feats: Tensor, y: Tensor) -> FeatureStats:
    f = feats.double()
    l2 = D.pairwise_euclidean_distance(f)
    cos = 1.0 - D.pairwise_cosine_similarity(f)
    v_l2, intra_l2, inter_l2 = _violations(l2, y)
    v_cos, intra_cos, inter_cos = _violations(cos, y)
    classes = y.unique()
    means = torch.stack([f[y == c].mean(0) for c in classes])
    spread = (f - means[torch.searchsorted(classes, y)]).norm(dim=1).mean()
    between = torch.pdist(means).min()
    return FeatureStats(
        v_l2, v_cos, intra_l2, inter_l2, intra_cos, inter_cos, (spread / between).item()
    )


def _feature_net(dim: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, dim)
    )


def softmax_feature_study(
    *, center_weight: float = 0.0, steps: int = 400, dim: int = 2, seed: int = 0
) -> tuple[FeatureStats, Tensor, Tensor, float]:
    """Train a digits classifier with a ``dim``-D feature layer on ``ce + center_weight *
    center`` (full batch, Adam). Returns the test features' :class:`FeatureStats`, the test
    features and labels, and the test accuracy."""
    xtr, ytr, xte, yte = load_digits_tensors(seed)
    torch.manual_seed(seed)
    net, head = _feature_net(dim), nn.Linear(dim, 10)
    center = CenterLoss(10, dim, update_rate=0.5)
    opt = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=3e-3)
    for _ in range(steps):
        feats = net(xtr)
        loss = TF.cross_entropy(head(feats), ytr)
        if center_weight > 0:
            loss = loss + center_weight * center(feats, ytr)  # the README recipe
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        feats = net(xte)
        acc = (head(feats).argmax(1) == yte).double().mean().item()
    return feature_stats(feats, yte), feats, yte, acc


def unit_identity_error(feats: Tensor) -> float:
    """``max |‖a - b‖ - sqrt(2 - 2 cos(a, b))|`` over all pairs of the L2-normalised
    features (float64): the study notes' identity for unit vectors."""
    u = TF.normalize(feats.double(), dim=1)
    direct = torch.cdist(u, u, compute_mode="donot_use_mm_for_euclid_dist")
    via_cos = D.euclidean_from_cosine(D.pairwise_cosine_similarity(u))
    return (direct - via_cos).abs().max().item()


# --------------------------------------------------------------------------- mining


@dataclass
class MiningTrace:
    """Per epoch, on a fixed held-out batch: the fraction of triplets with a non-zero loss
    among ``random`` triplets (one random positive and negative per anchor), ``all``
    triplets and the batch-``hard`` ones, and the share of all triplets that are
    ``semihard``; ``loss`` is the training loss."""

    epochs: list[int] = field(default_factory=list)
    random: list[float] = field(default_factory=list)
    all: list[float] = field(default_factory=list)
    hard: list[float] = field(default_factory=list)
    semihard: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)


def _pk_batch(y: Tensor, p: int, k: int, g: torch.Generator) -> Tensor:
    """Indices of a batch of ``p`` classes x ``k`` samples."""
    classes = y.unique()
    chosen = classes[torch.randperm(len(classes), generator=g)[:p]]
    idx = []
    for c in chosen.tolist():
        members = (y == c).nonzero().flatten()
        idx.append(members[torch.randperm(len(members), generator=g)[:k]])
    return torch.cat(idx)


def _active_fractions(
    emb: Tensor, y: Tensor, margin: float, g: torch.Generator
) -> tuple[float, float, float, float]:
    n = len(y)
    same = y.unsqueeze(1) == y.unsqueeze(0)
    # one random positive and one random negative per anchor
    pos_w = (same & ~torch.eye(n, dtype=torch.bool)).double()
    p = torch.multinomial(pos_w, 1, generator=g).flatten()
    neg = torch.multinomial((~same).double(), 1, generator=g).flatten()
    random = (
        (E.triplet_loss(emb, emb[p], emb[neg], margin=margin, reduction="none") > 0).double().mean()
    )
    a, pp, nn_ = E.mine_triplets(emb, y, mining="all")
    all_active = (
        (E.triplet_loss(emb[a], emb[pp], emb[nn_], margin=margin, reduction="none") > 0)
        .double()
        .mean()
    )
    a, pp, nn_ = E.mine_triplets(emb, y, mining="hard")
    hard = (
        (E.triplet_loss(emb[a], emb[pp], emb[nn_], margin=margin, reduction="none") > 0)
        .double()
        .mean()
    )
    n_semi = E.mine_triplets(emb, y, mining="semihard", margin=margin)[0].numel()
    n_all = ((same.sum(1) - 1) * (~same).sum(1)).sum().item()
    return random.item(), all_active.item(), hard.item(), n_semi / max(n_all, 1)


def mining_study(
    *, epochs: int = 20, steps_per_epoch: int = 15, margin: float = 0.2, seed: int = 0
) -> MiningTrace:
    """Train a 32-D unit-norm embedding of the digits with batch-hard triplets (P = 10 classes
    x K = 8) and trace the active fractions (see :class:`MiningTrace`) on a held-out batch of
    10 x 10 test digits, before training and after every epoch."""
    xtr, ytr, xte, yte = load_digits_tensors(seed)
    g = torch.Generator().manual_seed(seed)
    eval_idx = _pk_batch(yte, 10, 10, g)
    torch.manual_seed(seed)
    net = _feature_net(32)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    trace = MiningTrace()

    def record(epoch: int, loss: float) -> None:
        with torch.no_grad():
            emb = TF.normalize(net(xte[eval_idx]), dim=1)
        r, a, h, s = _active_fractions(
            emb, yte[eval_idx], margin, torch.Generator().manual_seed(epoch)
        )
        trace.epochs.append(epoch)
        trace.random.append(r)
        trace.all.append(a)
        trace.hard.append(h)
        trace.semihard.append(s)
        trace.loss.append(loss)

    record(0, float("nan"))
    for epoch in range(1, epochs + 1):
        total = 0.0
        for _ in range(steps_per_epoch):
            idx = _pk_batch(ytr, 10, 8, g)
            emb = TF.normalize(net(xtr[idx]), dim=1)
            loss = E.batch_triplet_loss(emb, ytr[idx], margin=margin, mining="hard")
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        record(epoch, total / steps_per_epoch)
    return trace


# --------------------------------------------------------------------------- the section


def section(ctx: ReportContext) -> Section:
    # the networks here are tiny: one thread is as fast, and on a shared or busy machine
    # several threads waiting on each other are many times slower
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _section(ctx)
    finally:
        torch.set_num_threads(threads)


def _section(ctx: ReportContext) -> Section:
    plt = pyplot()

    sec = Section(
        key="embedding",
        title="Embedding and constraint losses: contrastive, triplet and mining, centre, ring, range",
        intro=(
            "Softmax learns to separate classes, not to make them compact; metric-learning "
            "losses (contrastive, triplet) shape distances directly, and constraint losses "
            "(centre, centre-invariant, range, ring) are added to the softmax loss to tighten "
            "the classes. Everything below is measured on networks trained here on "
            "scikit-learn's handwritten digits."
        ),
    )
    steps = 200 if ctx.quick else 500
    lam = 0.1

    # 1. softmax features: loose classes, and what the centre loss does to them
    ctx.step("embedding: softmax features")
    soft, f_soft, y_soft, acc_soft = softmax_feature_study(center_weight=0.0, steps=steps)
    ctx.step("embedding: softmax + centre features")
    cent, f_cent, y_cent, acc_cent = softmax_feature_study(center_weight=lam, steps=steps)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    for ax, f, y, title in (
        (axes[0], f_soft, y_soft, f"softmax (test accuracy {acc_soft:.1%})"),
        (axes[1], f_cent, y_cent, f"softmax + {lam:g} x centre (test accuracy {acc_cent:.1%})"),
    ):
        sc = ax.scatter(f[:, 0], f[:, 1], c=y, cmap="tab10", s=6)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("feature 1")
        ax.set_ylabel("feature 2")
    fig.colorbar(sc, ax=axes, label="digit")
    sec.figures.append(
        ctx.save_figure(
            fig,
            "embedding_softmax_vs_center",
            "2-D features of held-out digits. Softmax spreads each class along a ray (the "
            "logit only needs the right direction to win); adding the centre loss pulls each "
            "class to its centre.",
        )
    )
    sec.claims.append(
        Claim(
            "Softmax separates classes but leaves them loose: a sample's intra-class L2 distance "
            "can exceed its inter-class distance (the study notes, embedding losses)",
            soft.violating_l2 > 0,
            f"in {soft.violating_l2:.1%} of the (anchor, same-class, other-class) triplets of "
            f"held-out digits the same-class sample is the farther one; largest intra-class "
            f"distance {soft.max_intra_l2:.2f} vs smallest inter-class {soft.min_inter_l2:.3f}",
        )
    )
    sec.claims.append(
        Claim(
            "The same holds in cosine distance (the study notes, embedding losses)",
            soft.violating_cos > 0,
            f"in {soft.violating_cos:.1%} of the triplets in 1 - cos; largest intra-class "
            f"cosine distance {soft.max_intra_cos:.3f} vs smallest inter-class {soft.min_inter_cos:.4f}",
        )
    )
    sec.claims.append(
        Claim(
            "Centre loss tightens the classes (the study notes, constraint losses): "
            "ce + lambda * center",
            cent.tightness < soft.tightness,
            f"mean distance to the class mean / smallest distance between class means: "
            f"{soft.tightness:.3f} (softmax) -> {cent.tightness:.3f} (softmax + {lam:g} x centre); "
            f"triplets with intra > inter (L2) {soft.violating_l2:.1%} -> {cent.violating_l2:.1%}",
        )
    )
    sec.tables.append(
        html_table(
            ["training", "test accuracy", "L2 violations", "cosine violations", "tightness"],
            [
                [
                    "softmax",
                    f"{acc_soft:.1%}",
                    f"{soft.violating_l2:.1%}",
                    f"{soft.violating_cos:.1%}",
                    f"{soft.tightness:.3f}",
                ],
                [
                    f"softmax + {lam:g} x centre",
                    f"{acc_cent:.1%}",
                    f"{cent.violating_l2:.1%}",
                    f"{cent.violating_cos:.1%}",
                    f"{cent.tightness:.3f}",
                ],
            ],
            caption="Held-out digits, 2-D features: a violation is a triplet (anchor, same-class, "
            "other-class sample) whose same-class sample is the farther one",
        )
    )

    # 2. sqrt(2 - 2 cos)
    err = unit_identity_error(f_soft)
    # float64 rounding: near cos = 1 both sides are square roots of ~1e-16 quantities, so
    # they can differ by about sqrt(2 eps) = 2.1e-8 however exact the identity is
    tol = 4 * (2 * torch.finfo(torch.float64).eps) ** 0.5
    u = TF.normalize(f_soft.double(), dim=1)[:200]
    cos = D.pairwise_cosine_similarity(u).flatten()
    dist = torch.cdist(u, u).flatten()
    fig, ax = plt.subplots(figsize=(5, 3.8))
    ax.scatter(cos, dist, s=2, alpha=0.3, label="pairs of normalised features")
    grid = torch.linspace(-1, 1, 200, dtype=torch.float64)
    ax.plot(grid, D.euclidean_from_cosine(grid), color="k", lw=1, label="sqrt(2 - 2 cos)")
    ax.set_xlabel("cos(a, b)")
    ax.set_ylabel("||a - b||")
    ax.legend(fontsize=8)
    sec.figures.append(
        ctx.save_figure(
            fig,
            "embedding_unit_identity",
            "For unit vectors the Euclidean distance is a function of the cosine.",
        )
    )
    sec.claims.append(
        Claim(
            "For normalised features d = sqrt(2 - 2 cos) (the study notes, vector geometry)",
            err < tol,
            f"max |‖a - b‖ - sqrt(2 - 2 cos)| = {err:.2e} over all pairs of held-out features "
            f"(float64; rounding bound near cos = 1: 4 sqrt(2 eps) = {tol:.1e})",
        )
    )
    ctx.step("embedding: mining")

    # 3. mining
    trace = mining_study(epochs=10 if ctx.quick else 20)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(trace.epochs, trace.random, "o-", label="random triplets")
    ax.plot(trace.epochs, trace.all, "s-", label="all triplets (batch-all)")
    ax.plot(trace.epochs, trace.hard, "^-", label="hardest per anchor (batch-hard)")
    ax.plot(trace.epochs, trace.semihard, "--", label="semi-hard share of all triplets")
    ax.set_xlabel("epoch (batch-hard training, margin 0.2)")
    ax.set_ylabel("fraction with non-zero loss")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    sec.figures.append(
        ctx.save_figure(
            fig,
            "embedding_active_fraction",
            "Active (non-zero loss) triplets on a held-out batch of 10 x 10 digits while a "
            "32-D unit embedding trains with batch-hard mining. The first epochs pull every "
            "embedding together (all triplets active, a known batch-hard transient); once the "
            "classes spread out, random triplets stop teaching, the hardest ones keep a gradient.",
        )
    )
    last = -1
    sec.claims.append(
        Claim(
            "Triplet selection decides whether training has anything to learn from: with random "
            "triplets most are inactive, mining keeps finding active ones (the study notes, "
            "embedding losses)",
            trace.random[last] < 0.5 and trace.hard[last] > trace.random[last],
            f"after {trace.epochs[last]} epochs: active random triplets {trace.random[last]:.1%}, "
            f"all triplets {trace.all[last]:.1%}, batch-hard {trace.hard[last]:.1%}; semi-hard "
            f"triplets are {trace.semihard[last]:.1%} of all (before training: random "
            f"{trace.random[0]:.1%}, batch-hard {trace.hard[0]:.1%})",
        )
    )
    sec.tables.append(
        html_table(
            ["epoch", "random", "batch-all", "batch-hard", "semi-hard share", "train loss"],
            [
                [e, f"{r:.1%}", f"{a:.1%}", f"{h:.1%}", f"{s:.1%}", "-" if e == 0 else f"{lo:.4f}"]
                for e, r, a, h, s, lo in zip(
                    trace.epochs,
                    trace.random,
                    trace.all,
                    trace.hard,
                    trace.semihard,
                    trace.loss,
                    strict=True,
                )
            ],
            caption="Active triplets per mining strategy during batch-hard training",
        )
    )
    ctx.step("embedding: done")
    return sec
