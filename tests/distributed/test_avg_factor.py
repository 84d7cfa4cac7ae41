"""avg_factor across ranks: every rank divides its summed detection loss by the positives
count averaged over the ranks (``all_reduce_avg_factor``), and the data-parallel step (the
ranks' gradients averaged, as DistributedDataParallel does) equals one process dividing the
whole batch's loss by the whole batch's count. Run with 2 and 3 gloo processes, uneven
batches and a rank without positives."""

from __future__ import annotations

import pytest
import torch

from losskit import all_reduce_avg_factor, quality_focal_loss, varifocal_loss

from .test_distributed import run_ranks

pytestmark = pytest.mark.distributed

C = 5


def _data(n: int, positive_rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, C, generator=g, dtype=torch.float64) * 2
    y = torch.zeros(n, C, dtype=torch.float64)
    cls = torch.randint(0, C, (n,), generator=g)
    iou = torch.rand(n, generator=g, dtype=torch.float64)
    for i in positive_rows:
        y[i, cls[i]] = iou[i]
    return x, y


def _worker(rank: int, world_size: int, sizes: list[int], positive_rows: list[int]) -> dict:
    x, y = _data(sum(sizes), positive_rows)
    lo = sum(sizes[:rank])
    x_r = x[lo : lo + sizes[rank]].clone().requires_grad_()
    y_r = y[lo : lo + sizes[rank]]
    out = {}
    for name, fn in (("qfl", quality_focal_loss), ("vfl", varifocal_loss)):
        x_r.grad = None
        n_pos = (y_r > 0).sum()
        n_bar = all_reduce_avg_factor(n_pos)
        loss = fn(x_r, y_r, avg_factor=n_bar)
        loss.backward()
        out[name] = (loss.detach(), x_r.grad.clone(), n_bar)
    return out


@pytest.mark.parametrize(
    ("sizes", "positive_rows"),
    [
        ([6, 6], [0, 3, 7, 8, 11]),
        ([4, 0, 7], [1, 2, 9]),  # an empty rank
        ([5, 3, 4], [0, 1, 2, 3]),  # ranks 1 and 2 have no positives
    ],
)
def test_data_parallel_equals_one_process(sizes: list[int], positive_rows: list[int]) -> None:
    ws = len(sizes)
    results = run_ranks(_worker, ws, sizes, positive_rows)
    x, y = _data(sum(sizes), positive_rows)
    total = float(len(positive_rows))
    for name, fn in (("qfl", quality_focal_loss), ("vfl", varifocal_loss)):
        xx = x.clone().requires_grad_()
        want = fn(xx, y, reduction="sum") / max(total, 1.0)
        (gx,) = torch.autograd.grad(want, xx)
        # the loss: the ranks' mean; the gradient: each rank's divided by the world size
        got = sum(r[name][0] for r in results) / ws
        torch.testing.assert_close(got, want.detach(), rtol=1e-12, atol=1e-12)
        for r, res in enumerate(results):
            assert res[name][2].item() == pytest.approx(total / ws)
            lo = sum(sizes[:r])
            torch.testing.assert_close(
                res[name][1] / ws, gx[lo : lo + sizes[r]], rtol=1e-10, atol=1e-12
            )
