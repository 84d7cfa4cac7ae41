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
        for c in range(digits.NUM_CLASSES):
            pts = f[r.test_labels == c].numpy()
            if dim == 2:
                ax.scatter(pts[:, 0], pts[:, 1], s=4, color=cmap(c), label=str(c))
            else:
                ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], s=3, color=cmap(c), label=str(c))
        ax.set_title(f"{r.loss}\nacc {r.accuracy:.1%}, TAR {r.tar:.1%}", fontsize=9)
        ax.tick_params(labelsize=6)
        if dim == 3:
            ax.set_xlim(-1, 1), ax.set_ylim(-1, 1), ax.set_zlim(-1, 1)
            ax.set_xticklabels([]), ax.set_yticklabels([]), ax.set_zticklabels([])
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower right", ncol=10, fontsize=8, title="digit")
    what = "raw 2-D test features" if dim == 2 else "3-D test features on the unit sphere"
    fig.suptitle(f"Digits: {what}, one panel per loss", fontsize=12)
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    caption = (
        "Raw 2-D test features (as the study notes' MNIST figure): softmax spreads each class along "
        "a ray from the origin; the normalised margin losses pack classes into narrower angles."
        if dim == 2
        else "3-D test features projected on the unit sphere: tighter caps mean smaller "
        "intra-class angles; gaps between caps are the inter-class margins."
    )
    return ctx.save_figure(fig, f"digits_features_{dim}d", caption)


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
        (g,) = torch.autograd.grad(loss, z)
        grads[lead] = (loss.item(), -g[0, 0].item())
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
    figs = [_scatter_grid(results, 2, ctx), _scatter_grid(results, 3, ctx)]
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
    sm2, ce2, ce3 = _by(results, "softmax", 2), _by(results, "center", 2), _by(results, "center", 3)
    center_held = ce2.euclid_ratio < sm2.euclid_ratio and ce3.euclid_ratio < sm3.euclid_ratio

    # softmax leaves classes loose: the farthest same-class pair vs the closest different-class pair
    f, y = sm2.test_features, sm2.test_labels
    same = y[:, None] == y[None, :]
    d = torch.cdist(f, f)
    u = torch.nn.functional.normalize(f, dim=1)
    cd = 1 - u @ u.T
    loose_l2 = (d[same].max() > d[~same].min()).item()
    loose_cos = (cd[same].max() > cd[~same].min()).item()
    nf2, coco2 = _by(results, "NormFace", 2), _by(results, "COCO", 2)
    same_loss = torch.equal(nf2.test_features, coco2.test_features)

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
                f"2-D {sm2.euclid_ratio:.3f} vs {ce2.euclid_ratio:.3f}, 3-D {sm3.euclid_ratio:.3f} vs "
                f"{ce3.euclid_ratio:.3f}"
            ),
        ),
        Claim(
            "Under plain softmax, intra-class distance can exceed inter-class distance, in L2 and "
            "in cosine distance.",
            held=bool(loose_l2 and loose_cos),
            measured=(
                f"2-D softmax test features: largest same-class L2 distance {d[same].max():.2f} vs "
                f"smallest different-class {d[~same].min():.3f}; cosine distance "
                f"{cd[same].max():.3f} vs {cd[~same].min():.5f}"
            ),
        ),
        Claim(
            "COCO and NormFace compute the same loss (scale times the cosine to normalised class "
            "centres), so with the same scale and seed they learn the same features.",
            held=same_loss,
            measured=f"2-D test features identical: {same_loss}; accuracy {nf2.accuracy:.1%} and {coco2.accuracy:.1%}",
        ),
    ]
    return Section(
        key="digits",
        title="Feature-vector losses on digits: what the features look like",
        intro=(
            "scikit-learn's bundled 8x8 digits (1,797 images, 70/30 split), a small MLP with a 2-D or "
            "3-D feature layer, trained with each feature-vector, constraint and angular-margin loss "
            f"({run_note}, Adam, one CPU thread, fixed seeds: the same numbers on every run). "
            "Accuracy uses the loss's own classifier; contrastive and triplet use the nearest "
            "class mean. Angles are between a feature and its class's mean direction (intra) and "
            "between class mean directions (inter)."
        ),
        figures=figs,
        claims=claims,
        tables=[table],
    )
