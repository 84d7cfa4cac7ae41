from __future__ import annotations

import math

import pytest
import torch

from losskit import reduce_loss


def test_plain_reductions() -> None:
    loss = torch.tensor([1.0, 2.0, 6.0])
    assert reduce_loss(loss, "none") is loss
    assert reduce_loss(loss, "sum").item() == 9.0
    assert reduce_loss(loss, "mean").item() == 3.0


def test_weighted_mean_divides_by_total_weight() -> None:
    loss = torch.tensor([1.0, 2.0, 6.0])
    w = torch.tensor([1.0, 0.0, 3.0])
    # sum(w*l) / sum(w) = (1 + 0 + 18) / 4
    assert reduce_loss(loss, "mean", weight=w).item() == pytest.approx(19 / 4)
    assert reduce_loss(loss, "sum", weight=w).item() == pytest.approx(19.0)
    torch.testing.assert_close(reduce_loss(loss, "none", weight=w), torch.tensor([1.0, 0.0, 18.0]))


def test_broadcast_weight_counts_every_element() -> None:
    loss = torch.arange(6.0).reshape(2, 3)
    w = torch.tensor([[1.0], [3.0]])  # per-row weight
    # sum(w*l) = 1*(0+1+2) + 3*(3+4+5) = 39; sum(w broadcast) = 3*1 + 3*3 = 12
    assert reduce_loss(loss, "mean", weight=w).item() == pytest.approx(39 / 12)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_empty_is_zero_with_gradient(reduction: str) -> None:
    x = torch.zeros(0, requires_grad=True)
    out = reduce_loss(x * 2, reduction)
    assert out.item() == 0.0 and not math.isnan(out.item())
    out.backward()
    assert x.grad is not None and x.grad.shape == (0,)


def test_zero_total_weight_is_zero_not_nan() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    out = reduce_loss(x, "mean", weight=torch.zeros(2))
    assert out.item() == 0.0
    out.backward()
    assert torch.isfinite(x.grad).all()


def test_errors() -> None:
    with pytest.raises(
        ValueError, match=r"reduce_loss: reduction must be one of 'none', 'mean', 'sum'; got 'avg'"
    ):
        reduce_loss(torch.ones(2), "avg")  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"my_loss: weight must broadcast to the loss shape \(2,\)"
    ):
        reduce_loss(torch.ones(2), "mean", weight=torch.ones(3, 2), fn="my_loss")
