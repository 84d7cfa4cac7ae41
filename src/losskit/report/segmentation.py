"""Report section: what the topology and boundary losses reward that Dice does not.

Two synthetic 64 x 64 scenes, scored exactly (hard 0/1 predictions given as probabilities,
float64, no training):

* **a thin vessel**: a sine-shaped band about 3 px wide; one prediction is the vessel with a
  6 px gap (thin but broken), the other a band about 7 px wide around it (too thick, but
  connected). Dice counts pixels; clDice (Shit et al., CVPR 2021) compares each mask's soft
  skeleton with the other mask, so it counts the broken centreline;
* **a misplaced boundary**: a disk of radius 10 and the same disk shifted by 0 to 36 px.
  The overlap losses (Dice, Lovasz hinge) stop changing once the disks no longer overlap; the
  boundary loss (Kervadec et al., MIDL 2019) and the Hausdorff distance-transform loss
  (Karimi and Salcudean, TMI 2019) weigh each wrong pixel by its distance to the target's
  boundary and keep growing with the shift.
"""

from __future__ import annotations

import math
from typing import Any, TypedDict

import torch
from torch import Tensor

from .. import functional as F
from ._base import Claim, ReportContext, Section, html_table, pyplot

SIZE = 64
#: the vessel's half-width and the thick prediction's (pixels, distance to the centre curve)
VESSEL_HALF, THICK_HALF = 1.0, 3.0
#: the columns cut out of the broken prediction
GAP = (28, 34)
RADIUS = 10.0
SHIFTS = tuple(range(0, 37, 4))  # the farthest disk still lies inside the image


def _grid() -> tuple[Tensor, Tensor]:
    idx = torch.arange(SIZE, dtype=torch.float64)
    yy, xx = torch.meshgrid(idx, idx, indexing="ij")
    return yy, xx


def vessel(half_width: float) -> Tensor:
    """A band of pixels within ``half_width`` of the curve ``y = 32 + 10 sin(2 pi x / 64)``
    (the vertical offset divided by the curve's slope factor: the distance to first order)."""
    yy, xx = _grid()
    phase = 2 * math.pi * xx / SIZE
    slope = 10 * 2 * math.pi / SIZE * torch.cos(phase)
    dist = (yy - (SIZE / 2 + 10 * torch.sin(phase))).abs() / torch.sqrt(1 + slope**2)
    return (dist <= half_width).double()


def disk(shift: float) -> Tensor:
    """The radius-10 disk centred at (32, 16 + shift)."""
    yy, xx = _grid()
    return (((yy - SIZE / 2) ** 2 + (xx - 16 - shift) ** 2) <= RADIUS**2).double()


def components(mask: Tensor) -> int:
    """The number of 8-connected components of a 0/1 mask."""
    from scipy import ndimage

    return int(ndimage.label(mask.numpy() > 0.5, structure=[[1, 1, 1]] * 3)[1])


def _scores(pred: Tensor, target: Tensor, names: tuple[str, ...]) -> list[dict[str, float]]:
    """Each loss of ``names`` for every image of a batch ``(B, H, W)`` of hard predictions
    against its target (one call per loss: the distance transforms run batched)."""
    p, t = pred[:, None], target[:, None]
    kw: dict[str, Any] = {"from_logits": False, "reduction": "none"}
    losses = {
        "Dice": lambda: F.dice_loss(p, t, smooth=0.0, **kw),
        "clDice": lambda: F.cl_dice_loss(p, t, smooth=0.0, **kw),
        "boundary": lambda: F.boundary_loss(p, t, **kw),
        "Hausdorff DT": lambda: F.hausdorff_dt_loss(p, t, **kw),
        # the hinge takes logits: +-2 for the hard mask
        "Lovasz hinge": lambda: F.lovasz_hinge_loss(2 * (2 * p - 1), t, reduction="none"),
    }
    values = {n: losses[n]().reshape(len(pred)).tolist() for n in names}
    return [{n: values[n][i] for n in names} for i in range(len(pred))]


class Measurements(TypedDict):
    """What :func:`measure` returns."""

    #: the thin vessel, its prediction with a gap and the thick connected prediction
    target: Tensor
    broken: Tensor
    thick: Tensor
    #: ``{"broken" | "thick": {"Dice" | "clDice": loss}}``
    vessel: dict[str, dict[str, float]]
    #: the number of connected components of each of the three masks
    components: dict[str, int]
    #: ``{shift: {loss name: loss}}`` for the shifted disks
    shifted: dict[int, dict[str, float]]


def measure() -> Measurements:
    """Every number the section shows."""
    target = vessel(VESSEL_HALF)
    broken = target.clone()
    broken[:, GAP[0] : GAP[1]] = 0
    thick = vessel(THICK_HALF)
    on_vessel = _scores(torch.stack([broken, thick]), target.expand(2, -1, -1), ("Dice", "clDice"))
    disks = torch.stack([disk(float(s)) for s in SHIFTS])
    shifted = _scores(
        disks, disk(0.0).expand(len(SHIFTS), -1, -1),
        ("Dice", "Lovasz hinge", "boundary", "Hausdorff DT"),
    )  # fmt: skip
    return {
        "target": target,
        "broken": broken,
        "thick": thick,
        "vessel": {"broken": on_vessel[0], "thick": on_vessel[1]},
        "components": {
            k: components(m) for k, m in (("target", target), ("broken", broken), ("thick", thick))
        },  # fmt: skip
        "shifted": dict(zip(SHIFTS, shifted, strict=True)),
    }


def _figure(m: Measurements, ctx: ReportContext):
    plt = pyplot()

    fig, axes = plt.subplots(2, 3, figsize=(13, 8))
    target = m["target"].numpy()
    for ax, key, mask, title in ((axes[0, 0], "broken", m["broken"], "thin, broken"),
                                 (axes[0, 1], "thick", m["thick"], "thick, connected")):  # fmt: skip
        pred = mask.numpy()
        rgb = torch.zeros(SIZE, SIZE, 3).numpy() + 1.0
        rgb[(pred > 0.5) & (target > 0.5)] = (0.2, 0.2, 0.2)  # both
        rgb[(pred > 0.5) & (target < 0.5)] = (0.95, 0.6, 0.1)  # predicted only
        rgb[(pred < 0.5) & (target > 0.5)] = (0.2, 0.5, 0.95)  # missed
        ax.imshow(rgb, interpolation="nearest")
        s = m["vessel"][key]
        ax.set_title(
            f"prediction: {title}\nDice loss {s['Dice']:.3f}, clDice loss {s['clDice']:.3f}"
        )
        ax.set_xticks([]), ax.set_yticks([])
    ax = axes[0, 2]
    names = ("Dice", "clDice")
    xs = torch.arange(len(names)).numpy()
    ax.bar(xs - 0.2, [m["vessel"]["broken"][n] for n in names], 0.4, label="thin, broken")
    ax.bar(xs + 0.2, [m["vessel"]["thick"][n] for n in names], 0.4, label="thick, connected")
    ax.set_xticks(xs, [f"{n} loss" for n in names])
    ax.set_title("lower is preferred")
    ax.legend()

    t_disk = disk(0.0)
    ax = axes[1, 0]
    sdm = F.signed_distance_map(t_disk[None, None])[0, 0].numpy()
    from matplotlib.colors import TwoSlopeNorm

    # two slopes about 0: the disk's inside (down to -radius) is as visible as the outside
    im = ax.imshow(sdm, cmap="RdBu_r", norm=TwoSlopeNorm(0.0, sdm.min(), sdm.max()))
    for shift in (0, 10, 20, 30):
        ax.contour(disk(float(shift)).numpy(), levels=[0.5], colors="k", linewidths=0.8)
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(
        "target's signed distance map (boundary loss's weights)\nshifted disks: 0, 10, 20, 30 px"
    )
    ax.set_xticks([]), ax.set_yticks([])
    ax = axes[1, 1]
    shifts = list(m["shifted"])
    for name in ("Dice", "Lovasz hinge", "boundary", "Hausdorff DT"):
        vals = torch.tensor([m["shifted"][s][name] for s in shifts])
        lo, hi = vals.min(), vals.max()
        ax.plot(shifts, ((vals - lo) / (hi - lo)).numpy(), "o-", ms=3, label=name)
    ax.axvline(2 * RADIUS, color="grey", ls=":", label="disks stop overlapping")
    ax.set_xlabel("shift of the predicted disk (px)")
    ax.set_ylabel("loss, scaled to [0, 1] over the shifts")
    ax.set_title("a misplaced boundary")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax = axes[1, 2]
    for name in ("boundary", "Hausdorff DT"):
        ax.plot(shifts, [m["shifted"][s][name] for s in shifts], "o-", ms=3, label=name)
    ax.set_yscale("symlog", linthresh=0.1)
    ax.axvline(2 * RADIUS, color="grey", ls=":")
    ax.set_xlabel("shift of the predicted disk (px)")
    ax.set_title("the distance losses, raw values")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return ctx.save_figure(
        fig,
        "segmentation_topology_boundary",
        "Top: a 3 px vessel (grey: predicted and true, blue: missed, orange: predicted only). "
        "Dice prefers the thin prediction with a gap; clDice prefers the thick connected one. "
        "Bottom: a disk shifted away from its target: Dice and Lovasz saturate once the disks "
        "stop overlapping, the boundary and Hausdorff distance-transform losses keep growing "
        "with the distance.",
    )


def section(ctx: ReportContext) -> Section:
    ctx.step("segmentation: synthetic vessel and disks")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small images: one thread is the fastest (no thread hand-offs)
    try:
        m = measure()
    finally:
        torch.set_num_threads(threads)
    vb, vt = m["vessel"]["broken"], m["vessel"]["thick"]
    comps = m["components"]
    shifted = m["shifted"]
    apart = [s for s in SHIFTS if s > 2 * RADIUS]
    first, last = apart[0], apart[-1]

    def flat(name: str) -> bool:
        vals = [shifted[s][name] for s in apart]
        return max(vals) - min(vals) <= 1e-3 * max(abs(v) for v in vals)

    def grows(name: str) -> bool:
        vals = [shifted[s][name] for s in SHIFTS]
        return all(b > a for a, b in zip(vals[:-1], vals[1:], strict=True))

    claims = [
        Claim(
            "clDice rewards connectivity that Dice does not see: of a thin vessel predicted with "
            "a gap and a thicker but connected one, Dice prefers the broken one and clDice the "
            "connected one.",
            held=vb["Dice"] < vt["Dice"] and vt["clDice"] < vb["clDice"],
            measured=(
                f"3 px vessel on 64 x 64, gap of {GAP[1] - GAP[0]} px, thick band about 7 px: "
                f"Dice loss broken {vb['Dice']:.4f} vs connected {vt['Dice']:.4f}; clDice loss "
                f"broken {vb['clDice']:.4f} vs connected {vt['clDice']:.4f}; connected "
                f"components: target {comps['target']}, broken {comps['broken']}, "
                f"thick {comps['thick']}"
            ),
        ),
        Claim(
            "Overlap losses saturate for a misplaced boundary: once prediction and target no "
            "longer overlap, Dice and Lovasz losses stop changing with the distance.",
            held=flat("Dice") and flat("Lovasz hinge"),
            measured=(
                f"radius-10 disk shifted {first} to {last} px: Dice loss "
                f"{shifted[first]['Dice']:.4f} to {shifted[last]['Dice']:.4f}, Lovasz hinge "
                f"{shifted[first]['Lovasz hinge']:.4f} to {shifted[last]['Lovasz hinge']:.4f}"
            ),
        ),
        Claim(
            "The boundary loss and the Hausdorff distance-transform loss grow with the distance "
            "of a misplaced boundary, also after the overlap is gone.",
            held=grows("boundary") and grows("Hausdorff DT"),
            measured=(
                "shift 0 / 12 / 20 / 28 / 36 px: boundary "
                + " / ".join(f"{shifted[s]['boundary']:.3f}" for s in (0, 12, 20, 28, 36))
                + "; Hausdorff DT "
                + " / ".join(f"{shifted[s]['Hausdorff DT']:.2f}" for s in (0, 12, 20, 28, 36))
                + f"; each strictly increasing over every 4 px step from 0 to {SHIFTS[-1]}"
            ),
        ),
    ]
    rows = [
        [s, *(f"{shifted[s][n]:.4f}" for n in ("Dice", "Lovasz hinge", "boundary", "Hausdorff DT"))]
        for s in SHIFTS
    ]
    table = html_table(
        ["shift (px)", "Dice loss", "Lovasz hinge", "boundary loss", "Hausdorff DT loss"],
        rows,
        caption="A radius-10 disk shifted from its target (the disks stop overlapping at 20 px)",
    )
    return Section(
        key="segmentation",
        title="Segmentation: what topology and boundary losses reward that Dice does not",
        intro=(
            "Two synthetic 64 x 64 scenes scored exactly (hard predictions given as "
            "probabilities, float64, no training): a thin vessel predicted broken or too thick, "
            "and a disk predicted further and further from its place. Dice counts pixels; "
            "clDice compares skeletons; the boundary and Hausdorff distance-transform losses "
            "weigh each wrong pixel by its distance to the target's boundary (distance "
            "transform computed in torch)."
        ),
        figures=[_figure(m, ctx)],
        claims=claims,
        tables=[table],
    )
