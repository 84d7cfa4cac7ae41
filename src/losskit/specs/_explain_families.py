"""``losskit explain`` panels for the box, mask-overlap, embedding and constraint losses.

Each function returns the panels of one loss; :func:`attach` puts them on the family's
registry entries. The slices are the ones that show why each loss behaves as it does:

* boxes: a horizontal offset (IoU's flat region once the boxes are disjoint), a uniform
  scale about the same centre (one box contains the other: GIoU equals IoU there) and a
  small box moving inside a large one (IoU and GIoU are constant, DIoU still ranks);
* masks: the probability given to the foreground pixels, and to background pixels (false
  positives), on a mask with a quarter of foreground;
* embeddings: the distance between a pair, or the anchor-negative distance of a triplet;
* constraints: the distance of a feature to its centre, or the feature norm for the ring.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from .. import functional as F
from ._base import LossSpec
from ._explain import Curve, Panel, scalar_curve

Panels = Callable[[], tuple[Panel, ...]]


def _looped(label: str, x: Tensor, loss_of_one: Callable[[Tensor], Tensor]) -> Curve:
    """A curve for a loss that takes a whole batch: one call per slice value."""

    def loss_of(t: Tensor) -> Tensor:
        return torch.stack([loss_of_one(ti) for ti in t])

    return scalar_curve(label, x, loss_of)


# --------------------------------------------------------------------------- boxes

_REF = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64)


def _box_panels(fn: Callable, name: str) -> Panels:
    def loss_with(boxes: Tensor, target: Tensor, f: Callable) -> Tensor:
        return f(boxes, target.expand_as(boxes), reduction="none")

    def curves(x: Tensor, make: Callable[[Tensor], tuple[Tensor, Tensor]]) -> tuple[Curve, ...]:
        out = [scalar_curve(name, x, lambda t: loss_with(*make(t), fn))]
        if fn is not F.iou_loss:
            out.append(
                scalar_curve("iou_loss (reference)", x, lambda t: loss_with(*make(t), F.iou_loss))
            )
        return tuple(out)

    def panels() -> tuple[Panel, ...]:
        dx = torch.linspace(-3.0, 3.0, 601, dtype=torch.float64)

        def shifted(t: Tensor) -> tuple[Tensor, Tensor]:
            z = torch.zeros_like(t)
            return torch.stack([t, z, t + 1, z + 1], 1), _REF

        scale = torch.linspace(0.25, 3.0, 276, dtype=torch.float64)

        def scaled(s: Tensor) -> tuple[Tensor, Tensor]:
            h = s / 2
            return torch.stack([0.5 - h, 0.5 - h, 0.5 + h, 0.5 + h], 1), _REF

        inside = torch.linspace(-0.75, 0.75, 301, dtype=torch.float64)
        big = torch.tensor([-1.0, -1.0, 1.0, 1.0], dtype=torch.float64)

        def contained(t: Tensor) -> tuple[Tensor, Tensor]:
            z = torch.zeros_like(t)
            return torch.stack([t - 0.25, z - 0.25, t + 0.25, z + 0.25], 1), big

        width = torch.linspace(0.25, 4.0, 301, dtype=torch.float64)

        def aspect(w: Tensor) -> tuple[Tensor, Tensor]:
            # same centre and height as the 1x1 target; only the width (aspect ratio) changes
            h = w / 2
            z = torch.zeros_like(w)
            return torch.stack([0.5 - h, z, 0.5 + h, z + 1], 1), _REF

        return (
            Panel(
                "over a horizontal offset",
                "dx: offset of a 1x1 box from its 1x1 target",
                dx,
                curves(dx, shifted),
                "Disjoint for |dx| >= 1: IoU is flat there (zero gradient).",
            ),
            Panel(
                "over a uniform scale (same centre)",
                "s: side of the predicted box, target side 1",
                scale,
                curves(scale, scaled),
                "One box contains the other everywhere: the GIoU penalty is 0 and GIoU = IoU.",
            ),
            Panel(
                "over a small box moving inside a large one",
                "cx: centre of a 0.5x0.5 box inside a 2x2 target",
                inside,
                curves(inside, contained),
                "IoU and GIoU are constant; DIoU and CIoU still pull the centre in.",
            ),
            Panel(
                "over the aspect ratio (same centre, same height)",
                "w: width of the predicted box, height 1, target 1x1",
                width,
                curves(width, aspect),
                "CIoU adds the aspect-ratio term v; EIoU penalises width and height directly.",
            ),
        )

    return panels


# --------------------------------------------------------------------------- masks

_TARGET = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
_TARGET[..., :4, :4] = 1.0  # a quarter of the mask is foreground


def _mask_panels(fn: Callable, name: str) -> Panels:
    p = torch.linspace(0.0, 1.0, 201, dtype=torch.float64)

    def fg(t: Tensor) -> Tensor:
        pred = _TARGET * t  # foreground pixels get probability t, background 0
        return fn(pred, _TARGET, from_logits=False, reduction="sum")

    def bg(t: Tensor) -> Tensor:
        pred = _TARGET + (1 - _TARGET) * t  # foreground right, background gets t
        return fn(pred, _TARGET, from_logits=False, reduction="sum")

    def panels() -> tuple[Panel, ...]:
        return (
            Panel(
                "over the foreground probability",
                "p given to every foreground pixel (background 0)",
                p,
                (_looped(name, p, fg),),
                "Missed foreground (false negatives).",
            ),
            Panel(
                "over false positives",
                "q given to every background pixel (foreground 1)",
                p,
                (_looped(name, p, bg),),
                "Background predicted as foreground.",
            ),
        )

    return panels


# --------------------------------------------------------------------------- embeddings

_D = torch.linspace(0.0, 3.0, 301, dtype=torch.float64)


def _at(d: Tensor) -> tuple[Tensor, Tensor]:
    """Pairs of 2-D points at distance d."""
    z = torch.zeros_like(d)
    return torch.stack([z, z], 1), torch.stack([d, z], 1)


def _contrastive() -> tuple[Panel, ...]:
    curves = tuple(
        scalar_curve(
            label,
            _D,
            lambda t, y=y: F.contrastive_loss(
                *_at(t), torch.full_like(t, y), margin=1.5, reduction="none"
            ),
        )
        for label, y in (("same pair", 1.0), ("different pair", 0.0))
    )
    return (
        Panel("over the pair's distance", "d: distance between the pair (margin 1.5)", _D, curves),
    )


def _batch_contrastive() -> tuple[Panel, ...]:
    def make(same: bool) -> Callable[[Tensor], Tensor]:
        def one(t: Tensor) -> Tensor:
            x = torch.stack([torch.zeros(2, dtype=t.dtype), torch.stack([t, t * 0])])
            y = torch.tensor([0, 0 if same else 1])
            return F.batch_contrastive_loss(x, y, margin=1.5, reduction="sum")

        return one

    curves = (
        _looped("batch of a same pair", _D, make(True)),
        _looped("batch of a different pair", _D, make(False)),
    )
    return (
        Panel(
            "over the distance in a batch of two", "d: distance between the two samples", _D, curves
        ),
    )


def _triplet_points(t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    z = torch.zeros_like(t)
    anchor = torch.stack([z, z], 1)
    positive = torch.stack([z + 1.0, z], 1)  # d(a, p) = 1
    negative = torch.stack([z, t], 1)  # d(a, n) = t
    return anchor, positive, negative


def _triplet() -> tuple[Panel, ...]:
    curves = (
        scalar_curve(
            "plain distances",
            _D,
            lambda t: F.triplet_loss(*_triplet_points(t), margin=0.5, reduction="none"),
        ),
        scalar_curve(
            "squared distances (the study notes)",
            _D,
            lambda t: F.triplet_loss(
                *_triplet_points(t), margin=0.5, squared=True, reduction="none"
            ),
        ),
        scalar_curve(
            "soft margin",
            _D,
            lambda t: F.triplet_loss(*_triplet_points(t), margin=0.5, soft=True, reduction="none"),
        ),
    )
    return (
        Panel(
            "over the anchor-negative distance",
            "d(a, n), with d(a, p) = 1 and margin 0.5",
            _D,
            curves,
            "Inactive (zero loss, zero gradient) once d(a, n) > d(a, p) + margin.",
        ),
    )


def _batch_triplet() -> tuple[Panel, ...]:
    Mining = Literal["all", "hard", "semihard"]

    def make(mining: Mining) -> Callable[[Tensor], Tensor]:
        def one(t: Tensor) -> Tensor:
            a, p, n = (v[0] for v in _triplet_points(t.reshape(1)))
            x = torch.stack([a, p, n])
            return F.batch_triplet_loss(
                x, torch.tensor([0, 0, 1]), margin=0.5, mining=mining, reduction="sum"
            )

        return one

    minings: tuple[Mining, ...] = ("all", "hard", "semihard")
    curves = tuple(_looped(f"mining={m!r}", _D, make(m)) for m in minings)
    return (
        Panel(
            "over the negative's distance in a batch of three",
            "d(a, n), with d(a, p) = 1 and margin 0.5",
            _D,
            curves,
            "Semi-hard keeps only negatives farther than the positive but inside the margin.",
        ),
    )


# --------------------------------------------------------------------------- constraints


def _center() -> tuple[Panel, ...]:
    centers = torch.zeros(2, 2, dtype=torch.float64)
    c = scalar_curve(
        "center loss",
        _D,
        lambda t: F.center_loss(
            torch.stack([t, t * 0], 1),
            torch.zeros(len(t), dtype=torch.long),
            centers,
            reduction="none",
        ),
    )
    return (
        Panel(
            "over the distance to the class centre",
            "||x - c_y||",
            _D,
            (c,),
            "Pulls only: no term pushes classes apart.",
        ),
    )


def _center_invariant() -> tuple[Panel, ...]:
    r = torch.linspace(0.0, 3.0, 301, dtype=torch.float64)

    def one(t: Tensor) -> Tensor:
        centers = torch.stack([torch.stack([t, t * 0]), torch.tensor([0.0, 1.0], dtype=t.dtype)])
        x = (
            centers[:1].detach().clone()
        )  # the feature sits on its centre: only the invariant term is left
        return F.center_invariant_loss(
            x, torch.tensor([0]), centers, invariant_weight=1.0, reduction="sum"
        )

    c = _looped("centre-invariant term", r, one)
    return (
        Panel(
            "over one centre's norm (the other centre at norm 1)",
            "||c_0||",
            r,
            (c,),
            "Zero when every centre has the same norm: the term pulls all centres to one radius.",
        ),
    )


def _range() -> tuple[Panel, ...]:
    def one(t: Tensor) -> Tensor:
        z = t * 0
        x = torch.stack(
            [
                torch.stack([z, z]),
                torch.stack([z, z + 0.5]),
                torch.stack([t, z]),
                torch.stack([t, z + 0.5]),
            ]
        )
        return F.range_loss(x, torch.tensor([0, 0, 1, 1]), k=1, margin=2.0, reduction="sum")

    c = _looped("range loss", _D, one)
    return (
        Panel(
            "over the distance between two class means",
            "||mean_Q - mean_R|| (each class spans 0.5; margin 2 in squared units)",
            _D,
            (c,),
            "The inter-class hinge stops once the squared distance of the closest means passes the margin.",
        ),
    )


def _ring() -> tuple[Panel, ...]:
    c = scalar_curve(
        "ring loss (R = 1)",
        _D,
        lambda t: F.ring_loss(torch.stack([t, t * 0], 1), 1.0, reduction="none"),
    )
    return (
        Panel(
            "over the feature norm",
            "||x|| (target radius R = 1)",
            _D,
            (c,),
            "Pulls every norm to the learned radius R.",
        ),
    )


EXPLAIN: dict[str, Panels] = {
    **{
        n: _box_panels(getattr(F, n), n)
        for n in ("iou_loss", "giou_loss", "diou_loss", "ciou_loss", "eiou_loss", "siou_loss")
    },
    **{
        n: _mask_panels(getattr(F, n), n)
        for n in ("dice_loss", "jaccard_loss", "tversky_loss", "focal_tversky_loss")
    },
    "contrastive_loss": _contrastive,
    "batch_contrastive_loss": _batch_contrastive,
    "triplet_loss": _triplet,
    "batch_triplet_loss": _batch_triplet,
    "center_loss": _center,
    "center_invariant_loss": _center_invariant,
    "range_loss": _range,
    "ring_loss": _ring,
}


def attach(specs: list[LossSpec]) -> list[LossSpec]:
    """The same entries, each with its ``explain`` panels (entries that have one keep it)."""
    return [
        s
        if s.explain is not None or s.name not in EXPLAIN
        else dataclasses.replace(s, explain=EXPLAIN[s.name])
        for s in specs
    ]
