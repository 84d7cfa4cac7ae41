"""Report section for the probability losses (the study notes on class imbalance, the
softmax table, the BCE example and the gradient through a sigmoid).

Every number the section shows is measured here, on losskit's own functions: the study notes'
BCE worked example, their softmax table, the focal factor, the gradient of L2 and of cross-entropy
through a sigmoid, sigmoid against softmax on a multi-label and an exclusive example, and a
small segmentation experiment with about 1 % foreground trained with each loss, and a
long-tailed classification problem (10 classes, 500 down to 5 training samples) trained with
cross-entropy and the long-tail losses.

The helpers (``softmax_table``, ``focal_ratios``, ``sigmoid_gradients``,
``sigmoid_vs_softmax``, ``imbalance_experiment``, ``longtail_experiment``) are importable so
that the tests check the same numbers the report prints.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..functional import classification as F
from ._base import Claim, ReportContext, Section, html_table, pyplot

# The study notes' softmax table, in percent, as printed there.
SEED_SOFTMAX_TABLE: dict[tuple[float, ...], tuple[tuple[float, ...], tuple[float, ...]]] = {
    (1.0, 1.0, 1.0, 1.0): ((25.0, 25.0, 25.0, 25.0), (25.0, 25.0, 25.0, 25.0)),
    (2.0, 1.0, 1.0, 1.0): ((40.0, 20.0, 20.0, 20.0), (47.54, 17.49, 17.49, 17.49)),
    (5.0, 1.0, 1.0, 1.0): ((62.5, 12.5, 12.5, 12.5), (94.79, 1.74, 1.74, 1.74)),
    (10.0, 1.0, 1.0, 1.0): ((76.92, 7.69, 7.69, 7.69), (99.96, 0.012, 0.012, 0.012)),
}


def _decimals(v: float) -> int:
    s = repr(v)
    return len(s.split(".")[1]) if "." in s else 0


def softmax_table() -> list[tuple[tuple[float, ...], list[float], list[float], bool]]:
    """For each row of the study notes' table: features, ``x / sum x`` and ``softmax(x)`` in
    percent (float64), and whether both agree with the notes to the decimals they print (two,
    or three for their 0.012 %)."""
    rows = []
    for feats, (lin_seed, soft_seed) in SEED_SOFTMAX_TABLE.items():
        x = torch.tensor(feats, dtype=torch.float64)
        lin = (x / x.sum() * 100).tolist()
        soft = (x.softmax(0) * 100).tolist()
        ok = all(
            round(v, max(2, _decimals(s))) == s
            for v, s in zip(lin + soft, lin_seed + soft_seed, strict=True)
        )
        rows.append((feats, lin, soft, ok))
    return rows


def bce_worked_example() -> float:
    """The study notes' BCE example (corrected): probabilities [0.39, 0.22, 0.64], labels
    [0, 1, 1]."""
    p = torch.tensor([0.39, 0.22, 0.64], dtype=torch.float64)
    y = torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)
    return float(F.bce_loss(p, y, from_logits=False))


def focal_ratios(p_t: float, gamma: float = 2.0) -> float:
    """CE / focal loss for one positive example with probability ``p_t`` (no alpha)."""
    x = torch.tensor([math.log(p_t / (1 - p_t))], dtype=torch.float64)
    y = torch.ones(1, dtype=torch.float64)
    ce = F.bce_loss(x, y, reduction="sum")
    fl = F.focal_loss(x, y, alpha=None, gamma=gamma, reduction="sum")
    return float(ce / fl)


def focal_gamma0_max_diff(seed: int = 0) -> float:
    """``max |focal(gamma=0, alpha=None) - bce|`` over random logits and soft targets, and
    over their gradients."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(64, 5, generator=g, dtype=torch.float64) * 4).requires_grad_()
    y = torch.rand(64, 5, generator=g, dtype=torch.float64)
    a = F.focal_loss(x, y, alpha=None, gamma=0.0, reduction="none")
    b = F.bce_loss(x, y, reduction="none")
    (ga,) = torch.autograd.grad(a.sum(), x)
    (gb,) = torch.autograd.grad(b.sum(), x)
    return float(max((a - b).abs().max(), (ga - gb).abs().max()).detach())


def sigmoid_gradients(z: Tensor, y: float = 1.0) -> tuple[Tensor, Tensor]:
    """``d/dz`` of L2 ``(sigmoid(z) - y)^2`` and of cross-entropy, for each logit in ``z``
    (computed by autograd through losskit's losses)."""
    z = z.detach().to(torch.float64).requires_grad_()
    t = torch.full_like(z, y)
    l2 = (torch.sigmoid(z) - t).pow(2).sum()
    ce = F.bce_loss(z, t, reduction="sum")
    (g_l2,) = torch.autograd.grad(l2, z)
    (g_ce,) = torch.autograd.grad(ce, z)
    return g_l2, g_ce


@dataclass(frozen=True)
class SigmoidSoftmax:
    multi_label_sigmoid: list[float]  # probabilities reached for target [1, 1, 0]
    multi_label_softmax: list[float]
    exclusive_sigmoid_sum: float  # sum of sigmoid probabilities for an exclusive problem
    exclusive_softmax_sum: float


#: the steps of the sigmoid / softmax fit (the quick run's 100 already reach 0.98 and 0.498)
FULL_FIT_STEPS, QUICK_FIT_STEPS = 300, 100


def sigmoid_vs_softmax(steps: int = FULL_FIT_STEPS) -> SigmoidSoftmax:
    """Fit one free logit vector to a target, once through sigmoid + BCE and once through
    softmax + CE.

    Multi-label: a film that is American and a comedy, not a horror film, target [1, 1, 0].
    Sigmoid answers each question on its own and reaches both; softmax must share one unit of
    probability and can at best split it.

    Exclusive: a digit that is a 3 (one of 4 classes), with noisy logits ``z`` from a
    classifier; softmax probabilities always sum to 1, independent sigmoids need not.
    """
    target = torch.tensor([[1.0, 1.0, 0.0]], dtype=torch.float64)
    out = {}
    for name in ("sigmoid", "softmax"):
        z = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.SGD([z], lr=2.0)
        for _ in range(steps):
            opt.zero_grad()
            if name == "sigmoid":
                loss = F.bce_loss(z, target)
            else:
                loss = F.softmax_cross_entropy(z, target / target.sum())
            loss.backward()
            opt.step()
        with torch.no_grad():
            out[name] = (z.sigmoid() if name == "sigmoid" else z.softmax(1))[0].tolist()
    z = torch.tensor([[0.3, 1.2, -0.4, 2.5]], dtype=torch.float64)
    return SigmoidSoftmax(
        multi_label_sigmoid=out["sigmoid"],
        multi_label_softmax=out["softmax"],
        exclusive_sigmoid_sum=float(z.sigmoid().sum()),
        exclusive_softmax_sum=float(z.softmax(1).sum()),
    )


# ---- the class-imbalance experiment --------------------------------------------------------


def make_segmentation(
    n: int, size: int, generator: torch.Generator, *, contrast: float = 1.5, noise: float = 1.0
) -> tuple[Tensor, Tensor]:
    """Synthetic segmentation: ``n`` noisy ``size x size`` images with one or two bright
    squares of side 3-5 each (about 1 % foreground at ``size=48``)."""
    g = generator
    y = torch.zeros(n, 1, size, size)
    for i in range(n):
        for _ in range(int(torch.randint(1, 3, (1,), generator=g))):
            s = int(torch.randint(3, 6, (1,), generator=g))
            r, c = torch.randint(0, size - s, (2,), generator=g).tolist()
            y[i, 0, r : r + s, c : c + s] = 1.0
    x = y * contrast + noise * torch.randn(n, 1, size, size, generator=g)
    return x, y


def imbalance_losses(fg_fraction: float) -> dict[str, Callable[[Tensor, Tensor], Tensor]]:
    """The losses compared by :func:`imbalance_experiment`."""
    beta = (1.0 - fg_fraction) / fg_fraction
    return {
        "BCE": lambda z, t: F.bce_loss(z, t),
        "weighted BCE (beta = #neg/#pos)": lambda z, t: F.weighted_bce_loss(z, t, pos_weight=beta),
        "balanced BCE (HED, per image)": lambda z, t: F.balanced_bce_loss(z, t),
        "focal, gamma 2, alpha 0.75": lambda z, t: F.focal_loss(z, t, alpha=0.75, gamma=2.0),
        "focal, gamma 2, no alpha": lambda z, t: F.focal_loss(z, t, alpha=None, gamma=2.0),
        "focal, gamma 2, alpha 0.25 (paper)": lambda z, t: F.focal_loss(
            z, t, alpha=0.25, gamma=2.0
        ),
    }


def imbalance_experiment(
    losses: dict[str, Callable[[Tensor, Tensor], Tensor]] | None = None,
    *,
    steps: int = 150,
    n_images: int = 8,
    size: int = 48,
    seeds: tuple[int, ...] = (0,),
) -> tuple[float, dict[str, dict[str, float]]]:
    """Train the same small conv net (1 -> 8 -> 1 channels, 3x3, Adam, lr 0.02) from the same
    start with each loss (default :func:`imbalance_losses`); measure recall, precision and
    the predicted foreground fraction on held-out images at the 0.5 threshold.

    Returns ``(true foreground fraction, {loss: {"recall", "precision", "predicted_fg"}})``,
    each the mean over ``seeds`` (one data set and one initialisation per seed).

    Runs on one thread (restored afterwards): these small convolutions gain nothing from more,
    and on a busy machine two threads run them up to 20x slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _imbalance(losses, steps=steps, n_images=n_images, size=size, seeds=seeds)
    finally:
        torch.set_num_threads(threads)


def _imbalance(
    losses: dict[str, Callable[[Tensor, Tensor], Tensor]] | None,
    *,
    steps: int,
    n_images: int,
    size: int,
    seeds: tuple[int, ...],
) -> tuple[float, dict[str, dict[str, float]]]:
    sums: dict[str, dict[str, float]] = {}
    fgs = []
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        x, y = make_segmentation(n_images, size, g)
        xt, yt = make_segmentation(n_images, size, g)
        fg = float(y.mean())
        fgs.append(fg)
        for name, loss_fn in (losses or imbalance_losses(fg)).items():
            torch.manual_seed(seed)
            net = torch.nn.Sequential(
                torch.nn.Conv2d(1, 8, 3, padding=1),
                torch.nn.ReLU(),
                torch.nn.Conv2d(8, 1, 3, padding=1),
            )
            opt = torch.optim.Adam(net.parameters(), lr=0.02)
            for _ in range(steps):
                opt.zero_grad()
                loss_fn(net(x), y).backward()
                opt.step()
            with torch.no_grad():
                pred = net(xt).sigmoid() > 0.5
            pos = yt > 0.5
            tp = float((pred & pos).sum())
            acc = sums.setdefault(name, {"recall": 0.0, "precision": 0.0, "predicted_fg": 0.0})
            acc["recall"] += tp / max(float(pos.sum()), 1.0)
            acc["precision"] += tp / max(float(pred.sum()), 1.0)
            acc["predicted_fg"] += float(pred.float().mean())
    k = len(seeds)
    return sum(fgs) / k, {n: {m: v / k for m, v in r.items()} for n, r in sums.items()}


BETAS = (1.0, 3.0, 10.0, 100.0, 1000.0)


def beta_sweep(*, steps: int = 150, seed: int = 0) -> dict[float, dict[str, float]]:
    """Recall and precision of weighted BCE for each ``pos_weight`` in :data:`BETAS`."""
    out = {}
    for b in BETAS:
        _, res = imbalance_experiment(
            {"w": functools.partial(F.weighted_bce_loss, pos_weight=b)},
            steps=steps,
            seeds=(seed,),
        )
        out[b] = res["w"]
    return out


# ---- the long-tail experiment ----------------------------------------------------------------

#: training samples per class of the long-tailed problem: 500 (5/500)^(c/9), rounded
LONGTAIL_COUNTS = tuple(round(500 * (5 / 500) ** (c / 9)) for c in range(10))
#: the classes whose mean recall the report compares (the three rarest: 14, 8, 5 samples)
TAIL = (7, 8, 9)
HEAD = (0, 1, 2)


def make_longtail(
    seed: int, *, dim: int = 4, spread: float = 1.5, test_per_class: int = 200
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Gaussian blobs: one unit-variance blob per class around a centre drawn from
    ``N(0, spread^2 I)`` in ``dim`` dimensions; :data:`LONGTAIL_COUNTS` training samples per
    class and a balanced test set of ``test_per_class`` each. Returns ``(x, y, x_test,
    y_test)``."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(len(LONGTAIL_COUNTS), dim, generator=g) * spread
    parts: dict[str, list[Tensor]] = {"x": [], "y": [], "xt": [], "yt": []}
    for c, n in enumerate(LONGTAIL_COUNTS):
        parts["x"].append(centers[c] + torch.randn(n, dim, generator=g))
        parts["y"].append(torch.full((n,), c))
        parts["xt"].append(centers[c] + torch.randn(test_per_class, dim, generator=g))
        parts["yt"].append(torch.full((test_per_class,), c))
    return tuple(torch.cat(v) for v in parts.values())  # type: ignore[return-value]


LONGTAIL_METHODS = ("CE", "class-balanced CE", "LDAM-DRW", "seesaw", "EQLv2")


def longtail_experiment(
    *, steps: int = 200, seeds: tuple[int, ...] = (0,), lr: float = 0.02
) -> dict[str, list[float]]:
    """Train the same linear classifier (Adam, full batch, ``steps`` steps, from the same
    start) on :func:`make_longtail` with each of :data:`LONGTAIL_METHODS`; return each
    method's recall per class on the balanced test set, averaged over ``seeds``.

    * class-balanced CE: ``class_weight = class_balanced_weights(counts, cb_beta=0.999)``;
    * LDAM-DRW: ``ldam_loss`` (margin 1, scale 1: raw logits) with the class-balanced weights
      from step ``2 steps / 3`` on (deferred re-weighting);
    * seesaw: ``seesaw_loss`` with the counts accumulated from the batches seen;
    * EQLv2: :class:`~losskit.nn.EQLv2Loss` (sigmoid; the argmax of the logits predicts).

    Runs on one thread (restored afterwards), as :func:`imbalance_experiment`.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        sums = {m: torch.zeros(len(LONGTAIL_COUNTS), dtype=torch.float64)
                for m in LONGTAIL_METHODS}  # fmt: skip
        for seed in seeds:
            x, y, xt, yt = make_longtail(seed)
            for method in LONGTAIL_METHODS:
                sums[method] += _longtail_run(method, x, y, xt, yt, seed=seed, steps=steps, lr=lr)
        return {m: (v / len(seeds)).tolist() for m, v in sums.items()}
    finally:
        torch.set_num_threads(threads)


def _longtail_run(
    method: str, x: Tensor, y: Tensor, xt: Tensor, yt: Tensor, *, seed: int, steps: int,
    lr: float,
) -> Tensor:  # fmt: skip
    counts = torch.tensor(LONGTAIL_COUNTS)
    num_classes = len(LONGTAIL_COUNTS)
    cb = F.class_balanced_weights(counts, cb_beta=0.999)
    torch.manual_seed(seed)
    net = torch.nn.Linear(x.shape[1], num_classes)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    eqlv2 = F.EQLv2Loss()
    seen = torch.zeros(num_classes)
    for step in range(steps):
        opt.zero_grad()
        z = net(x)
        if method == "CE":
            loss = F.softmax_cross_entropy(z, y)
        elif method == "class-balanced CE":
            loss = F.softmax_cross_entropy(z, y, class_weight=cb)
        elif method == "LDAM-DRW":
            drw = cb if step >= 2 * steps // 3 else None
            loss = F.ldam_loss(z, y, counts=counts, margin=1.0, scale=1.0, class_weight=drw)
        elif method == "seesaw":
            seen += torch.bincount(y, minlength=num_classes)
            loss = F.seesaw_loss(z, y, seen)
        else:
            loss = eqlv2(z, y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = net(xt).argmax(1)
    return torch.stack([(pred[yt == c] == c).double().mean() for c in range(num_classes)])


def _mean(values: list[float], classes: tuple[int, ...]) -> float:
    return sum(values[c] for c in classes) / len(classes)


# ---- the section ---------------------------------------------------------------------------


def section(ctx: ReportContext) -> Section:
    plt = pyplot()

    sec = Section(
        key="classification",
        title="Probability losses: BCE, weighted and balanced BCE, focal, softmax cross-entropy",
        intro=(
            "Binary cross-entropy answers one yes/no question per output (sigmoid); softmax "
            "cross-entropy picks one of several exclusive classes. With rare positives, plain "
            "BCE is dominated by the easy background; weighted BCE (a hand-tuned beta), HED's "
            "balanced BCE (beta read off each target) and focal loss (easy examples "
            "down-weighted by (1 - p_t)^gamma) counter that. All numbers below are measured "
            "with losskit's own functions."
        ),
    )

    # 1. the study notes' BCE worked example
    v = bce_worked_example()
    sec.claims.append(
        Claim(
            "BCE worked example of the study notes (corrected): sigmoid outputs [0.39, 0.22, 0.64] "
            "with labels [0, 1, 1] give 0.8182",
            round(v, 4) == 0.8182,
            f"bce_loss(from_logits=False) = {v:.6f}",
        )
    )

    # 2. the softmax table
    rows = softmax_table()
    sec.tables.append(
        html_table(
            ["features", "x / sum x (%)", "softmax (%)", "matches the study notes"],
            [
                [
                    ", ".join(f"{f:g}" for f in feats),
                    ", ".join(f"{v:.2f}" for v in lin),
                    ", ".join(f"{v:.3f}" if v < 0.1 else f"{v:.2f}" for v in soft),
                    "yes" if ok else "no",
                ]
                for feats, lin, soft, ok in rows
            ],
            caption="Linear normalisation against softmax (the study notes' table)",
        )
    )
    sec.claims.append(
        Claim(
            "The study notes' softmax table: (2,1,1,1) -> 47.54/17.49 %, "
            "(5,1,1,1) -> 94.79/1.74 %, "
            "(10,1,1,1) -> 99.96/0.012 %; x / sum x -> 40/20, 62.5/12.5, 76.92/7.69 %",
            all(r[3] for r in rows),
            "; ".join(
                f"({','.join(f'{f:g}' for f in r[0])}): softmax {r[2][0]:.2f}/{r[2][1]:.3f} %"
                for r in rows
            ),
        )
    )
    ctx.step("classification: tables")

    # 3. focal loss against cross-entropy
    d0 = focal_gamma0_max_diff()
    sec.claims.append(
        Claim(
            "Focal loss with gamma = 0 and no alpha is BCE",
            d0 < 1e-12,
            f"max |focal - BCE| over values and gradients (float64) = {d0:.1e}",
        )
    )
    r9, r1 = focal_ratios(0.9), focal_ratios(0.1)
    sec.claims.append(
        Claim(
            "Focal loss shrinks the loss of easy examples and keeps hard ones: at gamma = 2 an "
            "example with p_t = 0.9 costs 100x less than under CE",
            abs(r9 - 100.0) < 1e-6 and r1 < 1.3,
            f"CE / focal = {r9:.4f} at p_t = 0.9, {r1:.4f} at p_t = 0.1",
        )
    )
    pt = torch.linspace(0.005, 0.995, 300, dtype=torch.float64)
    xs = torch.log(pt / (1 - pt))
    fig, ax = plt.subplots(figsize=(6, 4))
    for gamma in (0.0, 0.5, 1.0, 2.0, 5.0):
        loss = F.focal_loss(xs, torch.ones_like(xs), alpha=None, gamma=gamma, reduction="none")
        ax.plot(pt, loss, label=f"gamma = {gamma:g}" + (" (CE)" if gamma == 0 else ""))
    ax.set_xlabel("probability of the ground-truth class p_t")
    ax.set_ylabel("loss")
    ax.set_ylim(0, 5)
    ax.legend()
    ax.set_title("Focal loss: (1 - p_t)^gamma silences easy examples")
    sec.figures.append(
        ctx.save_figure(
            fig,
            "classification_focal",
            "Focal loss against p_t for several gamma (Lin et al., Fig. 1).",
        )
    )
    ctx.step("classification: focal")

    # 4. why CE and not L2 through a sigmoid
    z = torch.linspace(-10, 10, 401, dtype=torch.float64)
    g_l2, g_ce = sigmoid_gradients(z, 1.0)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(z, g_l2, label="L2: 2 (sigma(z) - y) sigma'(z)")
    ax.plot(z, g_ce, label="CE: sigma(z) - y")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("logit z (target y = 1: z << 0 is a confident wrong answer)")
    ax.set_ylabel("dL/dz")
    ax.legend()
    ax.set_title("Gradient through a sigmoid")
    sec.figures.append(
        ctx.save_figure(
            fig,
            "classification_ce_vs_l2",
            "L2's gradient carries sigma'(z) and vanishes for a confident wrong answer; CE's is sigma(z) - y.",
        )
    )
    l2_at, ce_at = float(g_l2[0]), float(g_ce[0])
    sec.claims.append(
        Claim(
            "Why CE, not L2, for classification: through a sigmoid L2's gradient carries sigma'(z) "
            "and vanishes when the unit saturates on a wrong answer; CE's is sigma(z) - y",
            abs(l2_at) < 1e-3 and abs(ce_at + 1.0) < 1e-3,
            f"at z = -10, y = 1: dL2/dz = {l2_at:.2e}, dCE/dz = {ce_at:.5f}",
        )
    )

    # 5. sigmoid for multi-label, softmax for exclusive classes
    ss = sigmoid_vs_softmax(QUICK_FIT_STEPS if ctx.quick else FULL_FIT_STEPS)
    sig, soft = ss.multi_label_sigmoid, ss.multi_label_softmax
    sec.claims.append(
        Claim(
            "Sigmoid suits multi-label problems (a film can be American and a comedy): fitted to "
            "target [1, 1, 0], sigmoid reaches both labels, softmax can only split its mass",
            min(sig[:2]) > 0.9 and sig[2] < 0.1 and max(soft) <= 0.5 + 1e-6,
            "sigmoid "
            + ", ".join(f"{v:.3f}" for v in sig)
            + "; softmax "
            + ", ".join(f"{v:.3f}" for v in soft),
        )
    )
    sec.claims.append(
        Claim(
            "Softmax suits mutually exclusive classes: its probabilities form one distribution "
            "(sum 1), independent sigmoids do not",
            abs(ss.exclusive_softmax_sum - 1.0) < 1e-12
            and abs(ss.exclusive_sigmoid_sum - 1.0) > 0.1,
            f"logits (0.3, 1.2, -0.4, 2.5): softmax sums to {ss.exclusive_softmax_sum:.6f}, "
            f"sigmoids to {ss.exclusive_sigmoid_sum:.3f}",
        )
    )
    ctx.step("classification: sigmoid/softmax")

    # 6. class imbalance
    seeds = (0,) if ctx.quick else (0, 1, 2)
    steps = 150
    fg, res = imbalance_experiment(steps=steps, seeds=seeds)
    names = list(res)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    idx = range(len(names))
    ax.bar([i - 0.2 for i in idx], [res[n]["recall"] for n in names], width=0.4, label="recall")
    ax.bar(
        [i + 0.2 for i in idx], [res[n]["precision"] for n in names], width=0.4, label="precision"
    )
    ax.set_xticks(list(idx))
    ax.set_xticklabels([n.replace(" (", "\n(").replace(", ", "\n") for n in names], fontsize=7)
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title(f"Segmentation with {fg * 100:.2f} % foreground, {steps} Adam steps")
    sec.figures.append(
        ctx.save_figure(
            fig,
            "classification_imbalance",
            "Recall and precision at threshold 0.5 on held-out images, the same net and start for "
            f"each loss (mean over {len(seeds)} seed{'s' if len(seeds) > 1 else ''}).",
        )
    )
    paper = next(n for n in res if "paper" in n)
    sec.tables.append(
        html_table(
            ["loss", "recall", "precision", "predicted foreground"],
            [
                [
                    n,
                    f"{r['recall']:.3f}",
                    f"{r['precision']:.3f}",
                    f"{r['predicted_fg'] * 100:.2f} %",
                ]
                for n, r in res.items()
            ],
            caption=(
                f"Class imbalance: true foreground {fg * 100:.2f} % of pixels. Focal loss's alpha "
                "weighs the positive term: 0.75 points it at the rare foreground; the paper's 0.25 "
                "(tuned for detection, where gamma already silences the easy background) "
                f"reaches recall {res[paper]['recall']:.3f} here."
            ),
        )
    )
    bce = res["BCE"]
    sec.claims.append(
        Claim(
            "With far more background than foreground pixels, plain BCE learns to predict background",
            bce["recall"] < 0.2 and bce["predicted_fg"] < fg / 2,
            f"BCE: recall {bce['recall']:.3f}, predicts {bce['predicted_fg'] * 100:.2f} % foreground "
            f"(true {fg * 100:.2f} %)",
        )
    )
    recovered = {
        n: res[n]
        for n in names
        if n.startswith(("weighted", "balanced", "focal, gamma 2, alpha 0.75"))
    }
    sec.claims.append(
        Claim(
            "Weighted BCE, balanced BCE and focal loss (alpha on the rare class) recover the "
            "foreground: recall >= 0.5 and at least 3x BCE's",
            all(r["recall"] >= max(0.5, 3 * bce["recall"]) for r in recovered.values()),
            "; ".join(f"{n}: recall {r['recall']:.3f}" for n, r in recovered.items()),
        )
    )
    ctx.step("classification: imbalance")

    sweep = beta_sweep(steps=steps)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogx(list(sweep), [r["recall"] for r in sweep.values()], "o-", label="recall")
    ax.semilogx(list(sweep), [r["precision"] for r in sweep.values()], "s-", label="precision")
    ax.set_xlabel("pos_weight (beta)")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("Weighted BCE: beta sets the operating point")
    sec.figures.append(
        ctx.save_figure(
            fig, "classification_beta", "Weighted BCE on the same task for several beta (seed 0)."
        )
    )
    rec = [r["recall"] for r in sweep.values()]
    prec = [r["precision"] for r in sweep.values()]
    sec.claims.append(
        Claim(
            "Weighted BCE needs beta tuned by hand: too small and the foreground is missed, too "
            "large and precision collapses",
            rec[0] < 0.3 and rec[-1] > 0.8 and prec[-1] < 0.5 * max(prec),
            ", ".join(
                f"beta {b:g}: R {r['recall']:.2f} / P {r['precision']:.2f}"
                for b, r in sweep.items()
            ),
        )
    )
    ctx.step("classification: imbalance")

    # 7. long-tailed classification
    lt_seeds = (0,) if ctx.quick else (0, 1, 2)
    lt_steps = 200
    recall = longtail_experiment(steps=lt_steps, seeds=lt_seeds)
    fig, ax = plt.subplots(figsize=(7, 4))
    classes = list(range(len(LONGTAIL_COUNTS)))
    for (method, values), marker in zip(recall.items(), "osD^v", strict=True):
        ax.plot(classes, values, marker=marker, label=method)
    ax.set_xticks(classes)
    ax.set_xticklabels([f"{c}\n({n})" for c, n in enumerate(LONGTAIL_COUNTS)], fontsize=8)
    ax.set_xlabel("class (training samples)")
    ax.set_ylabel("recall on a balanced test set")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title(f"Long-tailed classification, {lt_steps} Adam steps")
    sec.figures.append(
        ctx.save_figure(
            fig,
            "classification_longtail",
            "Per-class recall of a linear classifier on 10 Gaussian blobs (4-D) with 500 down to "
            "5 training samples per class, the same start for each loss (mean over "
            f"{len(lt_seeds)} seed{'s' if len(lt_seeds) > 1 else ''}).",
        )
    )
    sec.tables.append(
        html_table(
            ["loss", "head recall (classes 0-2)", "tail recall (classes 7-9)", "mean recall"],
            [
                [m, f"{_mean(v, HEAD):.3f}", f"{_mean(v, TAIL):.3f}",
                 f"{sum(v) / len(v):.3f}"]  # fmt: skip
                for m, v in recall.items()
            ],
            caption=(
                "Long tail: training counts " + ", ".join(map(str, LONGTAIL_COUNTS)) + ". "
                "Re-weighting and margins trade some head recall for the tail's. EQLv2 is a "
                "sigmoid loss built for detection, where background negatives dominate; its "
                "gradient statistics start empty and re-weight only as they accumulate."
            ),
        )
    )
    tail = {m: _mean(v, TAIL) for m, v in recall.items()}
    sec.claims.append(
        Claim(
            "On a long-tailed problem (10 classes, 500 down to 5 training samples) the tail "
            "classes' mean recall is higher with LDAM-DRW and with seesaw than with "
            "cross-entropy",
            tail["LDAM-DRW"] > tail["CE"] and tail["seesaw"] > tail["CE"],
            "tail (classes 7-9) mean recall: "
            + ", ".join(f"{m} {t:.3f}" for m, t in tail.items()),
        )
    )
    ctx.step("classification: long tail")
    return sec
