"""Every segmentation loss on images without a boundary: a class that fills the whole image
and a class absent from it, 2-D and 3-D, in every mode the loss has, with random logits.
The value and every gradient must be finite (no boundary is a valid input, not an error).

This is the class of the bug where ``boundary_loss`` gave ``-inf`` on a full mask (the
signed distance to a background that does not exist); every loss of the family is held to it.
"""

from __future__ import annotations

import pytest
import torch

import losskit.functional as F
from losskit.registry import REGISTRY

F64 = torch.float64
C = 3
SHAPES = {2: (6, 7), 3: (4, 5, 6)}

#: the modes of each loss (None: the loss has no ``mode``, it takes the listed one's inputs)
MODES = {
    "lovasz_hinge_loss": ("binary",),
    "lovasz_softmax_loss": ("multiclass",),
    "generalized_wasserstein_dice_loss": ("multiclass",),
}
NO_MODE_ARG = {"lovasz_hinge_loss", "lovasz_softmax_loss", "generalized_wasserstein_dice_loss"}
EXTRA = {"generalized_wasserstein_dice_loss": {"class_distance": 1.0 - torch.eye(C, dtype=F64)}}


def _cases():
    for spec in REGISTRY.specs("overlap"):
        for mode in MODES.get(spec.name, ("binary", "multilabel", "multiclass")):
            for dims in (2, 3):
                yield pytest.param(spec.name, mode, dims, id=f"{spec.name}-{mode}-{dims}d")


def _inputs(mode: str, dims: int, fill: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Random logits and a boundary-less target: ``fill="full"`` (every position foreground,
    or class 1 everywhere) or ``"empty"`` (no foreground, or class 0 everywhere)."""
    g = torch.Generator().manual_seed(dims)
    s = SHAPES[dims]
    if mode == "binary":
        x = torch.randn(2, *s, generator=g, dtype=F64)
        t = torch.full((2, *s), 1.0 if fill == "full" else 0.0, dtype=F64)
    elif mode == "multilabel":
        x = torch.randn(2, C, *s, generator=g, dtype=F64)
        t = torch.full((2, C, *s), 1.0 if fill == "full" else 0.0, dtype=F64)
    else:
        x = torch.randn(2, C, *s, generator=g, dtype=F64)
        t = torch.full((2, *s), 1 if fill == "full" else 0, dtype=torch.long)
    return x.requires_grad_(True), t


def test_every_segmentation_loss_is_covered() -> None:
    names = {s.name for s in REGISTRY.specs("overlap")}
    assert names >= {"boundary_loss", "hausdorff_dt_loss", "cl_dice_loss", "mcc_loss"}
    assert set(MODES) <= names


@pytest.mark.parametrize("fill", ["full", "empty"])
@pytest.mark.parametrize(("name", "mode", "dims"), list(_cases()))
def test_no_boundary_gives_finite_values_and_gradients(
    name: str, mode: str, dims: int, fill: str
) -> None:
    fn = getattr(F, name)
    x, t = _inputs(mode, dims, fill)
    kw = dict(EXTRA.get(name, {}))
    if name not in NO_MODE_ARG:
        kw["mode"] = mode
    for reduction in ("mean", "none"):
        out = fn(x, t, reduction=reduction, **kw)
        assert torch.isfinite(out).all(), f"{name} {mode} {dims}-D {fill}: {out}"
        (grad,) = torch.autograd.grad(out.sum(), x)
        assert torch.isfinite(grad).all(), f"{name} {mode} {dims}-D {fill}: gradient"


@pytest.mark.parametrize("dims", [2, 3])
def test_the_signed_distance_map_of_a_boundaryless_image_is_zero(dims: int) -> None:
    s = SHAPES[dims]
    for value in (0, 1):
        m = F.signed_distance_map(torch.full((2, *s), value), spatial_dims=dims)
        assert torch.equal(m, torch.zeros_like(m))
    # one image full, one with a boundary: only the full one is zeroed
    t = torch.zeros(2, *s, dtype=torch.long)
    t[0] = 1
    t[1].view(-1)[: t[1].numel() // 2] = 1
    m = F.signed_distance_map(t, spatial_dims=dims)
    assert torch.equal(m[0], torch.zeros_like(m[0])) and m[1].abs().max() > 0


def test_mcc_treats_a_full_and_an_empty_image_alike() -> None:
    # the Matthews correlation treats the two classes alike: MCC is 0/0 on an image one
    # class fills. A perfect prediction (probabilities exactly 0 or 1) scores 0 on an
    # all-foreground image as on an all-background one; with logits (never exactly 0 or 1)
    # both take the same eps-regularised value
    ones, zeros = torch.ones(1, 5, 5, dtype=F64), torch.zeros(1, 5, 5, dtype=F64)
    full = F.mcc_loss(ones, ones, from_logits=False, reduction="none")
    empty = F.mcc_loss(zeros, zeros, from_logits=False, reduction="none")
    assert full.item() == 0.0 and empty.item() == 0.0
    big = torch.full((1, 5, 5), 30.0, dtype=F64)
    full = F.mcc_loss(big, ones, reduction="none")
    empty = F.mcc_loss(-big, zeros, reduction="none")
    assert full.item() == pytest.approx(empty.item(), rel=1e-9)
