"""Report section: the digits experiment (the study notes' embedding, constraint and
angular-margin losses together). See :mod:`losskit.experiments.digits` for the setup and the
metrics."""

from __future__ import annotations

import torch

from ..experiments import digits
from ._base import Claim, ReportContext, Section, html_table, pyplot


def _scatter_grid(results: list[digits.Result], dim: int, ctx: ReportContext):
    plt = pyplot()

    rs = [r for r in results if r.dim == dim]
    cols = 5
    rows = (len(rs) + cols - 1) // cols
    kw = {"projection": "3d"} if dim == 3 else {}
    fig = plt.figure(figsize=(3.3 * cols, 3.2 * rows))
    cmap = plt.get_cmap("tab10")
    for i, r in enumerate(rs):
        ax = fig.add_subplot(rows, cols, i + 1, **kw)
        f = r.test_features
        if dim == 3:
            f = torch.nn.functional.normalize(f, dim=1)
        pts, colors = f.numpy(), cmap(r.test_labels.numpy())  # one artist a panel: fast
        if dim == 2:
            ax.scatter(pts[:, 0], pts[:, 1], s=4, c=colors)
        else:
            ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], s=3, c=colors)
        ax.set_title(f"{r.loss}\nacc {r.accuracy:.1%}, TAR {r.tar:.1%}", fontsize=9)
        ax.tick_params(labelsize=6)
        if dim == 3:
            ax.set_xlim(-1, 1), ax.set_ylim(-1, 1), ax.set_zlim(-1, 1)
            ax.set_xticklabels([]), ax.set_yticklabels([]), ax.set_zticklabels([])
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], marker="o", linestyle="", color=cmap(c), markersize=4)
        for c in range(digits.NUM_CLASSES)
    ]
    labels = [str(c) for c in range(digits.NUM_CLASSES)]
    fig.legend(handles, labels, loc="lower right", ncol=10, fontsize=8, title="digit")
    what = "raw 2-D test features" if dim == 2 else "3-D test features on the unit sphere"
    fig.suptitle(f"Digits: {what}, one panel per loss", fontsize=12)
    # fixed spacing (tight_layout measures every label: slow for many panels)
    fig.subplots_adjust(left=0.04, right=0.98, bottom=0.09, top=0.9, wspace=0.3, hspace=0.45)
    caption = (
        "Raw 2-D test features (as the study notes' MNIST figure): softmax spreads each class along "
        "a ray from the origin; the normalised margin losses pack classes into narrower angles."
        if dim == 2
        else "3-D test features projected on the unit sphere: tighter caps mean smaller "
        "intra-class angles; gaps between caps are the inter-class margins."
    )
    return ctx.save_figure(fig, f"digits_features_{dim}d", caption)


def _noise_figure(results: list[digits.Result], ctx: ReportContext):
    """Example noisy digits, and the mean feature norm at each noise level per loss."""
    plt = pyplot()

    x_te = digits.load_digits_split()[2]
    g = torch.Generator().manual_seed(1)
    levels = digits.NOISE_LEVELS
    fig = plt.figure(figsize=(11, 3.4))
    grid = fig.add_gridspec(2, len(levels) + 4)
    for i, lv in enumerate(levels):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(digits.add_noise(x_te[0], lv, g).reshape(8, 8).numpy(), cmap="gray_r")
        ax.set_title(f"a = {lv:g}", fontsize=8)
        ax.set_xticks([]), ax.set_yticks([])
        ax = fig.add_subplot(grid[1, i])
        ax.imshow(digits.add_noise(x_te[1], lv, g).reshape(8, 8).numpy(), cmap="gray_r")
        ax.set_xticks([]), ax.set_yticks([])
    ax = fig.add_subplot(grid[:, len(levels) + 1 :])
    for r in results:
        assert r.noise_norms is not None and r.noise is not None  # run_noise's results
        means = torch.stack([r.noise_norms[r.noise == lv].mean() for lv in levels])
        ax.plot(levels, (means / means[0]).numpy(), "o-",
                label=f"{r.loss} (Spearman {r.norm_noise_rho:+.2f})")  # fmt: skip
    ax.set_xlabel("noise fraction a of the test image")
    ax.set_ylabel("mean feature norm / at a = 0")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.suptitle("Feature norm against image quality (3-D features, trained on noisy digits)")
    fig.tight_layout()
    return ctx.save_figure(
        fig,
        "digits_norm_vs_noise",
        "Left: test digits at each noise fraction a (sqrt(1 - a^2) x + a noise: the same pixel "
        "power, less digit). Right: the mean feature norm at each level, relative to the clean "
        "images', for ArcFace and the two heads that read the norm as image quality; the "
        "legend gives Spearman's correlation of norm and noise over every test copy.",
    )


def _new_loss_claims(
    results: list[digits.Result],
    noise: list[digits.Result],
    run_note: str,
    noise_note: str,
    *,
    quick: bool = False,
) -> list[Claim]:
    """Claims on the metric-learning losses and the face heads after ArcFace (3-D).

    MagFace's norm-quality claim needs the full run's epochs: after the quick run's
    :data:`~losskit.experiments.digits.QUICK_NOISE_EPOCHS` MagFace's norm regulariser has not yet
    pulled ahead of ArcFace, so the quick run shows it as checked in the full run only."""
    sm3 = _by(results, "softmax", 3)
    trained = {r.loss for r in results if r.dim == 3}
    face_names = ("AdaFace", "CurricularFace", "MagFace", "ElasticFace", "UniFace")
    arc_n, ada_n, mag_n = (next(r for r in noise if r.loss == n) for n in digits.NOISE_LOSSES)
    # run_noise trains with noise_levels: its results have the norm-noise correlation
    assert arc_n.norm_noise_rho is not None and ada_n.norm_noise_rho is not None
    assert mag_n.norm_noise_rho is not None

    def acc_ratio(r: digits.Result) -> str:
        return f"{r.loss} {r.accuracy:.1%} / {r.ratio:.3f}"

    claims = []  # the quick run trains only some of the newer losses: their claims only
    if {"SupCon", "multi-similarity"} <= trained:
        sup, ms = _by(results, "SupCon", 3), _by(results, "multi-similarity", 3)
        claims.append(
            Claim(
                "Supervised contrastive and multi-similarity losses, with no classifier, learn "
                "features that a nearest-class-mean classifier reads about as well as softmax's "
                "(accuracy within 3 points) with tighter classes (intra/inter angle ratio below "
                "softmax's).",
                held=all(
                    r.accuracy >= sm3.accuracy - 0.03 and r.ratio < sm3.ratio for r in (sup, ms)
                ),
                measured=(
                    f"3-D, {run_note}: accuracy / intra-inter ratio: "
                    + ", ".join(acc_ratio(r) for r in (sm3, sup, ms))
                    + f"; TAR@1e-2 softmax {sm3.tar:.1%}, SupCon {sup.tar:.1%}, "
                    f"multi-similarity {ms.tar:.1%}"
                ),
            )
        )
    if "Proxy-Anchor" in trained:
        pa = _by(results, "Proxy-Anchor", 3)
        claims.append(
            Claim(
                "Proxy-Anchor's proxies work as a classifier: nearest-proxy accuracy within 3 "
                "points of softmax's.",
                held=pa.accuracy >= sm3.accuracy - 0.03,
                measured=(
                    f"3-D, {run_note}: accuracy softmax {sm3.accuracy:.1%}, Proxy-Anchor "
                    f"{pa.accuracy:.1%} (intra/inter ratio {pa.ratio:.3f}, smallest gap between "
                    f"class directions {pa.inter_angle:.1f} deg, TAR@1e-2 {pa.tar:.1%})"
                ),
            )
        )
    if set(face_names) <= trained:
        faces = [_by(results, n, 3) for n in face_names]
        claims.append(
            Claim(
                "The face heads after ArcFace (AdaFace, CurricularFace, MagFace, ElasticFace, "
                "UniFace) are margin losses too: each gives tighter classes and wider gaps than "
                "plain softmax (intra/inter angle ratio below softmax's).",
                held=all(r.ratio < sm3.ratio for r in faces),
                measured=(
                    f"3-D, {run_note}: accuracy / intra-inter ratio: "
                    + ", ".join(acc_ratio(r) for r in [sm3, _by(results, "ArcFace", 3), *faces])
                ),
            )
        )
    return claims + [
        Claim(
            "AdaFace's premise: in a margin-softmax model the feature norm is a proxy for image "
            "quality: on noisy digits the norm falls as the noise rises (Spearman correlation "
            "of norm and noise at most -0.3 for ArcFace and AdaFace).",
            held=max(arc_n.norm_noise_rho, ada_n.norm_noise_rho) <= -0.3,
            measured=(
                f"{noise_note}: Spearman(feature norm, noise fraction) ArcFace "
                f"{arc_n.norm_noise_rho:+.3f}, AdaFace {ada_n.norm_noise_rho:+.3f}"
            ),
        ),
        Claim(
            "MagFace trains the feature magnitude to be a quality indicator: its norm follows "
            "the image's noise more closely than ArcFace's (a more negative Spearman correlation).",
            held=mag_n.norm_noise_rho < arc_n.norm_noise_rho,
            checked=not quick,
            measured=(
                (
                    f"the quick run's {digits.QUICK_NOISE_EPOCHS} epochs are too few to decide "
                    f"(the full run trains {digits.FULL_EPOCHS}); "
                    if quick
                    else ""
                )
                + f"{noise_note}: Spearman(feature norm, noise fraction) MagFace "
                f"{mag_n.norm_noise_rho:+.3f}, ArcFace {arc_n.norm_noise_rho:+.3f}; test "
                f"accuracy on clean images MagFace {mag_n.accuracy:.1%}, ArcFace {arc_n.accuracy:.1%}"
            ),
        ),
    ]


def _by(results: list[digits.Result], loss: str, dim: int) -> digits.Result:
    return next(r for r in results if r.loss == loss and r.dim == dim)


def _extra_claims(ctx: ReportContext, progress) -> list[Claim]:
    """The study notes' claims about softmax's satisfaction and the constraint losses."""
    from .. import functional as F
    from .. import nn as lnn

    # softmax is satisfied with (5, 1, 1, 1): the push toward (10, 1, 1, 1) fades
    grads = {}
    for lead in (2.0, 5.0, 10.0):
        z = torch.tensor([[lead, 1.0, 1.0, 1.0]], dtype=torch.float64, requires_grad=True)
        loss = torch.nn.functional.cross_entropy(z, torch.tensor([0]))
        (gz,) = torch.autograd.grad(loss, z)
        grads[lead] = (loss.item(), -gz[0, 0].item())
    satisfied = grads[5.0][1] < 0.15 * grads[2.0][1]

    # centre loss memory with many classes: the centres a CenterLoss really allocates
    sizes_mb = {}
    for classes in (10_000, 100_000):
        centers = lnn.CenterLoss(classes, 512).centers
        sizes_mb[classes] = centers.numel() * centers.element_size() / 2**20
        del centers
    per_class_kb = sizes_mb[100_000] / 100_000 * 1024

    # centre invariant: the term alone pulls the centres to one radius
    g = torch.Generator().manual_seed(0)
    centers = torch.nn.functional.normalize(
        torch.randn(10, 3, generator=g, dtype=torch.float64), dim=1
    )
    centers = (
        centers * torch.linspace(0.5, 5.0, 10, dtype=torch.float64)[:, None]
    ).requires_grad_()
    spread0 = (centers.norm(dim=1).std() / centers.norm(dim=1).mean()).item()
    opt = torch.optim.SGD([centers], lr=0.002)
    labels = torch.arange(10)
    for _ in range(300):
        # one feature per class sitting on its own centre: only the invariant term acts
        loss = F.center_invariant_loss(
            centers.detach(), labels, centers, invariant_weight=1.0, reduction="sum"
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    spread1 = (centers.norm(dim=1).std() / centers.norm(dim=1).mean()).item()

    # range loss on long-tailed digits (classes 5-9 cut to 10 %)
    data = digits.long_tailed_split(digits.load_digits_split())
    epochs = digits.QUICK_EPOCHS if ctx.quick else digits.FULL_EPOCHS
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        progress("digits: long-tailed softmax", None)
        soft = digits.train_one("softmax", 3, data, epochs=epochs)
        progress("digits: long-tailed range", None)
        rng = digits.train_one("range", 3, data, epochs=epochs)
    finally:
        torch.set_num_threads(threads)
    tail_soft, tail_range = digits.tail_accuracy(soft), digits.tail_accuracy(rng)
    return [
        Claim(
            "Softmax is satisfied with a margin like (5, 1, 1, 1) and does not push on to "
            "(10, 1, 1, 1): the gradient on the target logit fades once it leads.",
            held=satisfied,
            measured=(
                "CE loss / push on the target logit: "
                + ", ".join(
                    f"({lead:g},1,1,1): {lv:.4f} / {gv:.4f}" for lead, (lv, gv) in grads.items()
                )
            ),
        ),
        Claim(
            "Center loss keeps one centre per class: past ~10,000 classes its centres cost real memory.",
            held=sizes_mb[100_000] >= 100,
            measured=(
                f"CenterLoss(C, 512) centres allocated: {sizes_mb[10_000]:.0f} MB at 10,000 classes, "
                f"{sizes_mb[100_000]:.0f} MB at 100,000 ({per_class_kb:.0f} KB a class, so "
                f"{per_class_kb * 1_000_000 / 1024**2:.1f} GB at 1,000,000), plus as much again for "
                "their gradient or optimiser state"
            ),
        ),
        Claim(
            "The centre-invariant term pulls all class centres to one radius (against class imbalance).",
            held=spread1 < 0.1 * spread0,
            measured=f"spread of the centre norms (std / mean): {spread0:.3f} at the start, {spread1:.4f} after 300 steps of the term alone",
        ),
        Claim(
            "Range loss helps long-tailed data: the rare classes are better separated than under softmax.",
            held=tail_range > tail_soft,
            measured=(
                f"digits with classes 5-9 cut to 10 % of their training samples, 3-D features, {epochs} epochs: "
                f"nearest-mean accuracy on the tail classes' test samples softmax {tail_soft:.1%}, "
                f"softmax + 0.05 range {tail_range:.1%}"
            ),
        ),
    ]


def section(ctx: ReportContext) -> Section:
    def progress(desc: str, frac: float) -> None:
        if ctx.progress:
            ctx.progress(desc, None)

    results = digits.run(quick=ctx.quick, progress=progress)
    noise = digits.run_noise(quick=ctx.quick, progress=progress)
    dims = sorted({r.dim for r in results})  # the quick run: 3-D only
    figs = [*(_scatter_grid(results, d, ctx) for d in dims), _noise_figure(noise, ctx)]
    settings = {s.name: s.settings for s in digits.LOSSES}
    rows = [
        [r.loss, f"{r.dim}-D", f"{r.accuracy:.1%}", f"{r.intra_angle:.1f}", f"{r.inter_angle:.1f}",
         f"{r.ratio:.3f}", f"{r.euclid_ratio:.3f}", f"{r.tar:.1%}", settings[r.loss]]
        for r in sorted(results, key=lambda r: (r.dim, [s.name for s in digits.LOSSES].index(r.loss)))
    ]  # fmt: skip
    table = html_table(
        ["loss", "features", "test accuracy", "intra angle (deg)", "min inter angle (deg)",
         "intra / inter", "Euclid ratio", "TAR@FAR=1e-2", "settings"],
        rows,
        caption="Digits test set, per loss and feature dimension (smaller ratios: tighter classes, wider gaps)",
    )  # fmt: skip
    epochs = digits.QUICK_EPOCHS if ctx.quick else digits.FULL_EPOCHS
    run_note = f"{epochs} epochs" + (" (quick run)" if ctx.quick else "")

    sm3, cos3, arc3 = (_by(results, n, 3) for n in ("softmax", "CosFace", "ArcFace"))
    margin_held = all(
        r.ratio <= 0.75 * sm3.ratio and r.inter_angle > sm3.inter_angle for r in (cos3, arc3)
    )
    # center loss against softmax at every dimension trained
    centre = {d: (_by(results, "softmax", d), _by(results, "center", d)) for d in dims}
    center_held = all(ce.euclid_ratio < sm.euclid_ratio for sm, ce in centre.values())

    # softmax leaves classes loose: the farthest same-class pair vs the closest different-class
    # pair, on the raw features of the lowest dimension trained (2-D; 3-D in the quick run)
    low = dims[0]
    sm2 = _by(results, "softmax", low)
    f, y = sm2.test_features, sm2.test_labels
    same = y[:, None] == y[None, :]
    d = torch.cdist(f, f)
    u = torch.nn.functional.normalize(f, dim=1)
    cd = 1 - u @ u.T
    loose_l2 = (d[same].max() > d[~same].min()).item()
    loose_cos = (cd[same].max() > cd[~same].min()).item()
    nf2, coco2 = _by(results, "NormFace", low), _by(results, "COCO", low)
    same_loss = torch.equal(nf2.test_features, coco2.test_features)

    noise_epochs = digits.QUICK_NOISE_EPOCHS if ctx.quick else digits.FULL_EPOCHS
    assert noise[0].noise is not None  # run_noise trains with noise_levels
    noise_note = (
        f"3-D, trained on digits with noise fraction drawn from [0, {digits.TRAIN_NOISE:g}], "
        f"{noise_epochs} epochs; {len(noise[0].noise)} noisy test copies at a = "
        + ", ".join(f"{lv:g}" for lv in digits.NOISE_LEVELS)
    )
    new_claims = _new_loss_claims(results, noise, run_note, noise_note, quick=ctx.quick)
    claims = _extra_claims(ctx, progress) + [
        Claim(
            "The normalised margin losses (CosFace, ArcFace) give markedly tighter classes and "
            "wider gaps than plain softmax (intra/inter angle ratio at most 0.75x softmax's, "
            "wider smallest gap).",
            held=margin_held,
            measured=(
                f"3-D, {run_note}: intra/inter ratio softmax {sm3.ratio:.3f}, CosFace {cos3.ratio:.3f}, "
                f"ArcFace {arc3.ratio:.3f}; smallest gap softmax {sm3.inter_angle:.1f} deg, CosFace "
                f"{cos3.inter_angle:.1f}, ArcFace {arc3.inter_angle:.1f}; TAR@1e-2 softmax {sm3.tar:.1%}, "
                f"CosFace {cos3.tar:.1%}, ArcFace {arc3.tar:.1%}"
            ),
        ),
        Claim(
            "Center loss tightens classes in Euclidean distance.",
            held=center_held,
            measured=(
                f"{run_note}: distance to class mean / distance between means, softmax vs center: "
                + ", ".join(
                    f"{d}-D {sm.euclid_ratio:.3f} vs {ce.euclid_ratio:.3f}"
                    for d, (sm, ce) in centre.items()
                )
            ),
        ),
        Claim(
            "Under plain softmax, intra-class distance can exceed inter-class distance, in L2 and "
            "in cosine distance.",
            held=bool(loose_l2 and loose_cos),
            measured=(
                f"{low}-D softmax test features: largest same-class L2 distance {d[same].max():.2f} vs "
                f"smallest different-class {d[~same].min():.3f}; cosine distance "
                f"{cd[same].max():.3f} vs {cd[~same].min():.5f}"
            ),
        ),
        Claim(
            "COCO and NormFace compute the same loss (scale times the cosine to normalised class "
            "centres), so with the same scale and seed they learn the same features.",
            held=same_loss,
            measured=f"{low}-D test features identical: {same_loss}; accuracy {nf2.accuracy:.1%} and {coco2.accuracy:.1%}",
        ),
        *new_claims,
    ]
    return Section(
        key="digits",
        title="Feature-vector losses on digits: what the features look like",
        intro=(
            "scikit-learn's bundled 8x8 digits (1,797 images, 70/30 split), a small MLP with a "
            + (
                "3-D feature layer (the full run also trains a 2-D one)"
                if dims == [3]
                else "2-D or 3-D feature layer"
            )
            + ", trained with each feature-vector, constraint and angular-margin loss "
            f"({run_note}, Adam, one CPU thread, fixed seeds: the same numbers on every run). "
            "Accuracy uses the loss's own classifier; contrastive and triplet use the nearest "
            "class mean (SupCon and multi-similarity too; Proxy-Anchor its nearest proxy). "
            "Angles are between a feature and its class's mean direction (intra) and "
            "between class mean directions (inter). "
            + (
                "This quick run trains only "
                + ", ".join(digits.QUICK_LOSSES)
                + " (the losses its claims compare); the full run (losskit demo without "
                "--quick) trains every loss above, the metric-learning losses and the face "
                "heads after ArcFace (SupCon onward) included. "
                if ctx.quick
                else ""
            )
            + "A last experiment trains ArcFace, AdaFace and MagFace on digits with added noise "
            "and relates the feature norm to the noise."
        ),
        figures=figs,
        claims=claims,
        tables=[table],
    )
