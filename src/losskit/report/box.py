"""Report section: box and mask overlap losses (the study notes' claims about them).

Each claim of the study notes is measured on small, fixed examples and recorded as a :class:`Claim`
(held or not, with the numbers). Two figures: the losses and their gradients as a predicted
box slides past its target, and CIoU's alpha against IoU next to Dice against IoU.

A last subsection runs the DIoU paper's simulation (:mod:`losskit.simulate`) with exact
gradients and with the authors' hand-coded ones, side by side, and records what it shows
(claims whose text starts with ``"DIoU simulation:"``).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..functional import box as B
from ..functional import overlap as O
from ..functional.regression import mse_loss
from ._base import Claim, ReportContext, Section, html_table, pyplot

_T = torch.tensor([[0.0, 0.0, 2.0, 1.0]], dtype=torch.float64)  # a 2 x 1 target


def _shifted(dx: float, w: float = 1.0, h: float = 2.0) -> torch.Tensor:
    """A w x h box whose centre sits dx to the right of the target's centre (1, 0.5)."""
    cx, cy = 1.0 + dx, 0.5
    return torch.tensor([[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]], dtype=torch.float64)


def _claims() -> tuple[list[Claim], dict[str, list[float]]]:
    claims: list[Claim] = []
    # 1. L2 on coordinates ignores the spatial relation
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]], dtype=torch.float64)
    p1 = a + torch.tensor([[0.5, 0.5, 0.5, 0.5]], dtype=torch.float64)  # shifted diagonally
    p2 = a + torch.tensor([[-0.5, -0.5, 0.5, 0.5]], dtype=torch.float64)  # grown around its centre
    l2 = [mse_loss(p, a).item() for p in (p1, p2)]
    ious = [1 - B.iou_loss(p, a).item() for p in (p1, p2)]
    claims.append(
        Claim(
            "L2 on box coordinates ignores the boxes' spatial relation: equal L2, different IoU.",
            abs(l2[0] - l2[1]) < 1e-12 and abs(ious[0] - ious[1]) > 0.02,
            f"L2 {l2[0]:.3f} and {l2[1]:.3f}; IoU {ious[0]:.3f} and {ious[1]:.3f}",
        )
    )
    # 2. IoU is scale-invariant
    p = _shifted(0.4)
    base = 1 - B.iou_loss(p, _T).item()
    scaled = [1 - B.iou_loss(p * k, _T * k).item() for k in (0.1, 100.0)]
    l2s = [mse_loss(p * k, _T * k).item() for k in (0.1, 100.0)]
    claims.append(
        Claim(
            "IoU is scale-invariant (L2 is not).",
            # exact up to eps / union (eps = 1e-7 in the denominator)
            all(abs(s - base) < 1e-5 for s in scaled),
            f"IoU {base:.6f} at scale 1, {scaled[0]:.6f} at 0.1, {scaled[1]:.6f} at 100; "
            f"L2 {l2s[0]:.2e} vs {l2s[1]:.2e}",
        )
    )
    # 3. IoU has no gradient for disjoint boxes; 4. GIoU tells near from far
    near, far = _shifted(2.0), _shifted(5.0)
    grads = {}
    for name, fn in (("IoU", B.iou_loss), ("GIoU", B.giou_loss)):
        x = near.clone().requires_grad_()
        fn(x, _T).backward()
        assert x.grad is not None  # x requires grad and took part in the loss
        grads[name] = x.grad.abs().sum().item()
    claims.append(
        Claim(
            "IoU loss gives no gradient when the boxes do not overlap.",
            grads["IoU"] == 0.0 and grads["GIoU"] > 0,
            f"|grad| IoU {grads['IoU']:.3g}, GIoU {grads['GIoU']:.3g} (disjoint boxes)",
        )
    )
    gn, gf = B.giou_loss(near, _T).item(), B.giou_loss(far, _T).item()
    inear, ifar = B.iou_loss(near, _T).item(), B.iou_loss(far, _T).item()
    claims.append(
        Claim(
            "GIoU tells a near miss from a far one (IoU cannot).",
            gf > gn and inear == ifar,
            f"IoU loss {inear:.3f} for both; GIoU loss {gn:.3f} (near) vs {gf:.3f} (far)",
        )
    )
    # 5. containment: GIoU == IoU, DIoU ranks
    big = torch.tensor([[0.0, 0.0, 4.0, 4.0]], dtype=torch.float64)
    centred = torch.tensor([[1.0, 1.0, 3.0, 3.0]], dtype=torch.float64)
    corner = torch.tensor([[0.0, 0.0, 2.0, 2.0]], dtype=torch.float64)
    g = [B.giou_loss(x, big).item() for x in (centred, corner)]
    d = [B.diou_loss(x, big).item() for x in (centred, corner)]
    i = [B.iou_loss(x, big).item() for x in (centred, corner)]
    claims.append(
        Claim(
            "When one box contains the other GIoU equals IoU and cannot rank them; DIoU can.",
            abs(g[0] - g[1]) < 1e-12 and abs(g[0] - i[0]) < 1e-9 and d[1] > d[0],
            f"IoU/GIoU loss {g[0]:.4f} for both; DIoU loss {d[0]:.4f} (centred) vs {d[1]:.4f} (corner)",
        )
    )
    # 6. DIoU penalty in [0, 1), loss in [0, 2)
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(20000, 2, generator=gen, dtype=torch.float64) * 200 - 100
    wh = torch.rand(20000, 2, generator=gen, dtype=torch.float64) * 5 + 0.01
    boxes = torch.cat([xy, xy + wh], -1)
    tgt = torch.tensor([[0.0, 0.0, 1.0, 3.0]], dtype=torch.float64).expand_as(boxes)
    dl = B.diou_loss(boxes, tgt, reduction="none")
    pen = dl - B.iou_loss(boxes, tgt, reduction="none")
    claims.append(
        Claim(
            "DIoU's penalty rho^2/c^2 lies in [0, 1) and the loss in [0, 2).",
            bool((pen >= 0).all() and (pen < 1).all() and (dl < 2).all()),
            f"over 20,000 random boxes: penalty in [{pen.min():.4f}, {pen.max():.4f}], loss max {dl.max():.4f}",
        )
    )
    # 7. DIoU drives the centre distance ratio to 0 (gradient descent from a disjoint start)
    x = _shifted(3.0, 2.0, 1.0).requires_grad_()
    opt = torch.optim.SGD([x], lr=0.5)
    ratio0 = (B.diou_loss(x, _T) - B.iou_loss(x, _T)).item()
    for _ in range(300):
        opt.zero_grad()
        B.diou_loss(x, _T).backward()
        opt.step()
    ratio = (B.diou_loss(x, _T) - B.iou_loss(x, _T)).item()
    claims.append(
        Claim(
            "DIoU drives the normalised centre distance rho^2/c^2 to 0.",
            ratio < 1e-3 * ratio0,
            f"rho^2/c^2 {ratio0:.4f} at the start, {ratio:.2e} after 300 SGD steps",
        )
    )
    # 8. CIoU: v in [0, 1]; alpha small at low IoU, growing as the boxes align
    alphas, ious8 = [], []
    for dx in torch.linspace(2.5, 0.0, 26).tolist():
        p = _shifted(dx)
        iou = 1 - B.iou_loss(p, _T).item()
        wp, hp = 1.0, 2.0
        v = 4 / math.pi**2 * (math.atan(2.0 / 1.0) - math.atan(wp / hp)) ** 2
        alphas.append(v / (1 - iou + v))
        ious8.append(iou)
    vmax = 4 / math.pi**2 * (math.pi / 2) ** 2
    claims.append(
        Claim(
            "CIoU: arctan bounds v and 4/pi^2 scales it into [0, 1]; alpha is small at low IoU "
            "and grows as the boxes align.",
            abs(vmax - 1) < 1e-12 and all(b >= a for a, b in zip(alphas, alphas[1:], strict=False)),
            f"v at most {vmax:.3f}; alpha {alphas[0]:.3f} at IoU {ious8[0]:.2f} -> "
            f"{alphas[-1]:.3f} at IoU {ious8[-1]:.2f}",
        )
    )
    # 9. Dice and IoU: IoU = Dice / (2 - Dice)
    g2 = torch.Generator().manual_seed(1)
    pm = (torch.rand(64, 1, 16, 16, generator=g2) < 0.5).double()
    tm = (torch.rand(64, 1, 16, 16, generator=g2) < 0.3).double()
    kw: dict[str, Any] = {
        "mode": "multilabel", "from_logits": False, "smooth": 0.0, "reduction": "none"
    }  # fmt: skip
    dice = 1 - O.dice_loss(pm, tm, **kw)
    jac = 1 - O.jaccard_loss(pm, tm, **kw)
    err = (O.dice_to_iou(dice) - jac).abs().max().item()
    claims.append(
        Claim(
            "Dice and IoU are tied: IoU = Dice / (2 - Dice).",
            err < 1e-12,
            f"max |Dice/(2-Dice) - IoU| over 64 random mask pairs: {err:.1e}",
        )
    )
    # 10. Dice is unstable for small objects
    changes = []
    for side in (2, 20):
        t = torch.zeros(1, 1, 32, 32, dtype=torch.float64)
        t[..., :side, :side] = 1
        p = t.clone()
        p[..., 0, 0] = 0  # one wrong pixel
        changes.append(O.dice_loss(p, t, mode="multilabel", from_logits=False, smooth=0.0).item())
    claims.append(
        Claim(
            "Dice is unstable for small objects: a few wrong pixels move it a lot.",
            changes[0] > 20 * changes[1],
            f"one missed pixel: Dice loss {changes[0]:.4f} on a 2x2 object, {changes[1]:.5f} on a 20x20 one",
        )
    )
    return claims, {"alpha": alphas, "alpha_iou": ious8}


def section(ctx: ReportContext) -> Section:
    """The box and mask overlap section of the demo report."""
    plt = pyplot()

    claims, series = _claims()
    sec = Section(
        key="box",
        title="Box and mask overlap losses",
        intro=(
            "IoU, GIoU, DIoU, CIoU, EIoU and SIoU share one geometry core; Dice, Jaccard and "
            "Tversky one soft-count core. Each claim of the study notes about them is "
            "measured below on fixed examples."
        ),
        claims=claims,
    )
    # figure 1: loss and d loss / d x as a 1 x 2 box slides across a 2 x 1 target
    n = 61 if ctx.quick else 241
    dxs = torch.linspace(-4.0, 4.0, n, dtype=torch.float64)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    fns = [("IoU", B.iou_loss), ("GIoU", B.giou_loss), ("DIoU", B.diou_loss), ("CIoU", B.ciou_loss)]
    for name, fn in fns:
        vals, grads = [], []
        for dx in dxs.tolist():
            x = _shifted(dx).requires_grad_()
            loss = fn(x, _T)
            (gx,) = torch.autograd.grad(loss, x)
            vals.append(loss.item())
            grads.append((gx[0, 0] + gx[0, 2]).item())  # d loss / d (centre x)
        axes[0].plot(dxs, vals, label=name)
        axes[1].plot(dxs, grads, label=name)
    axes[0].set(xlabel="centre offset dx", ylabel="loss", title="loss vs offset")
    axes[1].set(xlabel="centre offset dx", ylabel="d loss / d cx", title="gradient vs offset")
    axes[0].legend()
    sec.figures.append(
        ctx.save_figure(
            fig,
            "box_losses_offset",
            "A 1x2 box slides across a 2x1 target: IoU is flat (zero gradient) once they stop "
            "overlapping; GIoU, DIoU and CIoU keep pulling.",
        )
    )
    # figure 2: CIoU alpha vs IoU; Dice vs IoU
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    axes[0].plot(series["alpha_iou"], series["alpha"], marker=".")
    axes[0].set(xlabel="IoU", ylabel="alpha", title="CIoU's alpha (overlap first, shape second)")
    iou = torch.linspace(0, 1, 101)
    axes[1].plot(iou, O.iou_to_dice(iou), label="Dice = 2 IoU / (1 + IoU)")
    axes[1].plot(iou, iou, "--", label="IoU")
    axes[1].set(xlabel="IoU", ylabel="score", title="Dice against IoU")
    axes[1].legend()
    sec.figures.append(
        ctx.save_figure(fig, "box_alpha_dice", "CIoU's alpha against IoU; Dice against IoU.")
    )
    # the claims are listed once, with their measurements (no second table of them)
    sec.tables.extend(_simulation(ctx, sec))
    return sec


# ---------------------------------------------------------------------------------------
# the DIoU paper's simulation (Zheng et al., AAAI 2020, arXiv:1911.08287)

#: prefix of the claims measured by the simulation subsection
SIMULATION_PREFIX = "DIoU simulation: "


def _pct(x: float) -> str:
    return f"{100 * x:.3g} %"


def _faster(sim, quarter: int) -> bool:
    """DIoU below GIoU at t = T/4 and at t = T."""
    return sim.remaining("diou", quarter) < sim.remaining("giou", quarter) and sim.remaining(
        "diou"
    ) < sim.remaining("giou")


_NAME = {"iou": "IoU", "giou": "GIoU", "diou": "DIoU", "ciou": "CIoU"}


def _simulation(ctx: ReportContext, sec: Section) -> list[str]:
    """The DIoU paper's simulation in both gradient modes: adds a figure and claims to
    ``sec`` and returns its tables."""
    from ..simulate import AUTHORS_RULES, plot_box_simulation, simulate_boxes

    tables: list[str] = []

    # quick: 8 points (2,744 cases, a few seconds); full: the CLI's default 300 points
    points = 8 if ctx.quick else 300
    exact = simulate_boxes(points, gradients="exact", threads=1)
    authors = simulate_boxes(points, gradients="authors", threads=1)
    T = exact.iterations
    quarter = T // 4
    fig = plot_box_simulation([exact, authors])
    sec.figures.append(
        ctx.save_figure(
            fig,
            "box_diou_simulation",
            f"The DIoU paper's simulation, {exact.cases:,} cases ({points} anchor points x 343). "
            "Top: exact gradients (autograd of losskit's losses); bottom: the hand-coded "
            "gradients of the authors' simulation code, which the paper's figures come from. "
            "Left: total |dx|+|dy|+|dw|+|dh| against the iteration (log scale); right: the "
            "final error of each anchor point's 343 cases (one colour scale). "
            "`losskit simulate boxes --points 5000` runs the paper's 1,715,000 cases.",
        )
    )
    disj = exact.initially_disjoint
    assert disj is not None, "a finished run"
    frac_disjoint = float(disj.double().mean())
    unmoved = [s.summary()[0]["disjoint_unmoved"] for s in (exact, authors)]
    sec.claims.append(
        Claim(
            SIMULATION_PREFIX + "IoU loss gives no gradient to disjoint boxes, so every "
            "initially disjoint anchor stays where it was and most of the error remains.",
            unmoved[0] == 1.0 and unmoved[1] == 1.0,
            f"{_pct(frac_disjoint)} of {exact.cases:,} cases start disjoint; unmoved after "
            f"T={T}: {_pct(unmoved[0])} (exact), {_pct(unmoved[1])} (authors'); IoU loss "
            f"leaves {_pct(exact.remaining('iou'))} of the initial error (exact), "
            f"{_pct(authors.remaining('iou'))} (authors')",
        )
    )
    left = {name: exact.remaining(name) for name in ("giou", "diou", "ciou")}
    sec.claims.append(
        Claim(
            SIMULATION_PREFIX + "GIoU, DIoU and CIoU losses all converge (under 2 % of the "
            "initial error left at T), with exact gradients.",
            all(v < 0.02 for v in left.values()),
            "left at T, exact: "
            + ", ".join(f"{_NAME[n]} {_pct(v)}" for n, v in left.items())
            + "; authors': "
            + ", ".join(f"{_NAME[n]} {_pct(authors.remaining(n))}" for n in left),
        )
    )
    lowest = {s.gradients: min(s.losses, key=s.remaining) for s in (exact, authors)}
    sec.claims.append(
        Claim(
            SIMULATION_PREFIX + "CIoU ends lowest: its aspect term fits the shape too "
            "(exact gradients).",
            lowest["exact"] == "ciou",
            f"lowest at T: {_NAME[lowest['exact']]} with exact gradients, "
            f"{_NAME[lowest['authors']]} with the authors' (CIoU {_pct(authors.remaining('ciou'))}"
            f", DIoU {_pct(authors.remaining('diou'))})",
        )
    )
    for sim, how in ((exact, "exact gradients"), (authors, "the authors' hand-coded gradients")):
        sec.claims.append(
            Claim(
                SIMULATION_PREFIX + "the DIoU paper's figure: DIoU loss converges faster than "
                f"GIoU loss (lower error at t = T/4 and at T), with {how}.",
                _faster(sim, quarter),
                f"left at t={quarter}: GIoU {_pct(sim.remaining('giou', quarter))}, DIoU "
                f"{_pct(sim.remaining('diou', quarter))}; at t={T}: GIoU "
                f"{_pct(sim.remaining('giou'))}, DIoU {_pct(sim.remaining('diou'))}",
            )
        )
    rows = [
        [
            s.gradients,
            f"{s.cases:,}",
            *(_pct(s.remaining(n, quarter)) + " / " + _pct(s.remaining(n)) for n in s.losses),
            sum(s.inverted.values()),
        ]
        for s in (exact, authors)
    ]
    tables.append(
        html_table(
            [
                "gradients",
                "cases",
                *(f"{_NAME[n]} left at {quarter} / {T}" for n in exact.losses),
                "inverted boxes",
            ],
            rows,
            "DIoU simulation: share of the initial total error left",
        )
    )
    if ctx.quick:
        return tables
    # which of the authors' departures makes which curve: each one removed in turn
    ab_points = 60
    rows = []
    variants: list[tuple[str, set[str] | None]] = [("all (the authors' code)", None)]
    variants += [(f"all but {r}", set(AUTHORS_RULES) - {r}) for r in AUTHORS_RULES]
    variants.append(("none (the exact gradient, no eps)", set()))
    for label, rules in variants:
        sim = simulate_boxes(
            ab_points, gradients="authors", losses=("giou", "diou", "ciou"), rules=rules, threads=1
        )
        rows.append(
            [label, *(_pct(sim.remaining(n, quarter)) + " / " + _pct(sim.remaining(n))
                      for n in sim.losses)]
        )  # fmt: skip
    tables.append(
        html_table(
            [
                "authors' rules applied",
                *(f"{n} left at {quarter} / {T}" for n in ("GIoU", "DIoU", "CIoU")),
            ],
            rows,
            f"DIoU simulation, the authors' departures from the exact gradient removed one at a "
            f"time ({ab_points} points); see losskit.simulate.AUTHORS_RULES",
        )
    )
    return tables
