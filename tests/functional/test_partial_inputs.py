"""The hand-written backward passes under ``create_graph=True`` return partial derivatives.

Each fused loss differentiates a plain formula in its backward pass when a graph of the
gradient is asked for (a gradient penalty, meta-learning). When one of its inputs is computed
from another (a target from the prediction, CurricularFace's running ``t`` from the
embeddings), differentiating with respect to the saved tensors themselves counted the path
between them twice: the gradient with ``create_graph=True`` then differed from the one
without (by 0.1-0.7 here), while ``gradgradcheck``, which differentiates that same backward,
passed. Each case below compares the two, and ``losskit._autograd.partial_inputs`` is what
makes them agree.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import losskit.functional as F
from losskit.functional import margin as M

from ..conftest import gen


def _box_loss(fn: Callable[..., torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    def loss(x: torch.Tensor) -> torch.Tensor:
        boxes = torch.cat([x[:, :2], x[:, :2] + x[:, 2:].exp()], 1)
        # the target computed from the predicted boxes themselves (not from x apart)
        return fn(boxes, boxes.flip(0) + 0.3, reduction="sum")

    return loss


def _curricular(x: torch.Tensor) -> torch.Tensor:
    centers = torch.randn(5, 4, generator=gen(61), dtype=torch.float64)
    t = torch.tensor(0.3, dtype=torch.float64)
    labels = torch.tensor([0, 2, 4, 1, 3, 0])
    loss, _ = M._curricularface(x, labels, centers, t, margin=0.5, scale=8.0, momentum=0.5,
                                stop_gradient=False)  # fmt: skip
    return loss


CASES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    # the target a function of the prediction
    "cauchy": lambda x: F.cauchy_loss(x, 0.5 * x.tanh(), reduction="sum"),
    "geman_mcclure": lambda x: F.geman_mcclure_loss(x, x.sin(), reduction="sum"),
    "balanced_l1": lambda x: F.balanced_l1_loss(x, 0.5 * x.tanh(), reduction="sum"),
    "wing": lambda x: F.wing_loss(x, 0.5 * x.tanh(), reduction="sum"),
    "focal": lambda x: F.focal_loss(x, torch.sigmoid(x), reduction="sum"),
    "quality_focal": lambda x: F.quality_focal_loss(x, torch.sigmoid(x), reduction="sum"),
    "varifocal": lambda x: F.varifocal_loss(x, torch.sigmoid(x), reduction="sum"),
    "giou": _box_loss(F.giou_loss),
    "ciou": _box_loss(F.ciou_loss),
    # CurricularFace's running t computed from the embeddings (its gradient not stopped)
    "curricularface": _curricular,
    # one tensor in two roles
    "batch_triplet": lambda x: F.batch_triplet_loss(x, torch.tensor([0, 0, 1, 1, 2, 2]),
                                                     reduction="sum"),  # fmt: skip
}


@pytest.mark.parametrize("seed", [0, 60])
@pytest.mark.parametrize("name", list(CASES))
def test_create_graph_gradient_equals_the_first_order_one(name: str, seed: int) -> None:
    x = torch.randn(6, 4, generator=gen(seed), dtype=torch.float64).requires_grad_()
    loss = CASES[name](x)
    (with_graph,) = torch.autograd.grad(loss, x, create_graph=True, retain_graph=True)
    (plain,) = torch.autograd.grad(loss, x)
    torch.testing.assert_close(with_graph.detach(), plain, rtol=1e-10, atol=1e-12)
    # and the first-order one is the function's: central differences (not for CIoU, whose
    # trade-off factor alpha is held constant in the gradient, as the paper and torchvision
    # hold it)
    if name != "ciou":
        assert torch.autograd.gradcheck(lambda z: CASES[name](z), (x,), eps=1e-6, atol=1e-5)


def test_partial_inputs_are_aliases_with_the_graph() -> None:
    from losskit._autograd import partial_inputs

    a = torch.randn(3, requires_grad=True)
    b = a * 2.0
    pa, pb, none = partial_inputs(a, b, None)
    assert none is None
    assert pa is not a and torch.equal(pa, a) and pa.requires_grad
    # the derivative with respect to the alias of a misses the path a -> b
    (g,) = torch.autograd.grad((pa + pb).sum(), pa)
    torch.testing.assert_close(g, torch.ones(3))
