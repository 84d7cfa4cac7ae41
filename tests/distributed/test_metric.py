"""The metric-learning losses of issue 14 under torch.distributed: with ``gather_batch`` each
rank's loss and the gradient of its own embeddings equal those of one process holding the
global batch (float64, gloo, 2 and 3 processes, one rank with an empty batch), for the dense
and the chunked paths, the pair-mining loss and a proxy loss (whose proxies every rank holds
and whose gradient is then the global one on every rank)."""

from __future__ import annotations

import pytest
import torch

from losskit import (
    circle_loss,
    generalized_lifted_structure_loss,
    info_nce_loss,
    margin_loss,
    multi_similarity_loss,
    nt_xent_loss,
    proxy_anchor_loss,
    supcon_loss,
    vicreg_loss,
)
from losskit.distributed import all_gather_with_grad, gather_batch

from .test_distributed import run_ranks

pytestmark = pytest.mark.distributed

D = 6
C = 5


def _data(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, D, generator=g, dtype=torch.float64)
    p = x + 0.3 * torch.randn(n, D, generator=g, dtype=torch.float64)
    y = torch.randint(0, C, (n,), generator=g)
    centers = torch.randn(C, D, generator=g, dtype=torch.float64)
    return x, p, y, centers


def _losses(x: torch.Tensor, p: torch.Tensor, y: torch.Tensor, centers: torch.Tensor) -> dict:
    """Every loss of the global batch: ``x``/``p`` the two views, ``y`` the labels."""
    return {
        "nt_xent": nt_xent_loss(x, y, temperature=0.2),
        "nt_xent chunked": nt_xent_loss(x, y, temperature=0.2, chunk_size=3),
        "supcon chunked": supcon_loss(x, y, chunk_size=2),
        "info_nce": info_nce_loss(x, p, temperature=0.3),
        "multi_similarity mined": multi_similarity_loss(x, y, mining_margin=0.1, chunk_size=4),
        "circle": circle_loss(x, y, scale=8.0),
        "proxy_anchor": proxy_anchor_loss(x, y, centers, scale=8.0),
        "margin": margin_loss(x, y, 1.1),
        "generalized lifted chunked": generalized_lifted_structure_loss(x, y, chunk_size=3),
        "vicreg": vicreg_loss(x, p),
    }


def _worker(rank: int, world_size: int, sizes: list[int]) -> dict:
    x, p, y, centers = _data(sum(sizes))
    lo = sum(sizes[:rank])
    x_r = x[lo : lo + sizes[rank]].clone().requires_grad_()
    p_r = p[lo : lo + sizes[rank]].clone().requires_grad_()
    c = centers.clone().requires_grad_()
    xg, yg = gather_batch(x_r, y[lo : lo + sizes[rank]])
    pg = all_gather_with_grad(p_r)
    out = {}
    for name, loss in _losses(xg, pg, yg, c).items():
        gx, gp, gc = torch.autograd.grad(loss, (x_r, p_r, c), allow_unused=True,
                                         retain_graph=True)  # fmt: skip
        out[name] = {
            "loss": loss.detach(),
            "grad": torch.zeros_like(x_r) if gx is None else gx,
            "grad_paired": torch.zeros_like(p_r) if gp is None else gp,
            "grad_centers": torch.zeros_like(c) if gc is None else gc,
        }
    return out


@pytest.mark.parametrize("sizes", [[5, 4], [4, 0, 6]], ids=["2 ranks", "3 ranks, one empty"])
def test_each_rank_equals_one_process(sizes: list[int]) -> None:
    results = run_ranks(_worker, len(sizes), sizes)
    x, p, y, centers = _data(sum(sizes))
    x, p, c = (t.clone().requires_grad_() for t in (x, p, centers))
    for name, loss in _losses(x, p, y, c).items():
        gx, gp, gc = torch.autograd.grad(loss, (x, p, c), allow_unused=True, retain_graph=True)
        gx = torch.zeros_like(x) if gx is None else gx
        gp = torch.zeros_like(p) if gp is None else gp
        gc = torch.zeros_like(c) if gc is None else gc
        for r, rec in enumerate(results):
            lo, hi = sum(sizes[:r]), sum(sizes[: r + 1])
            got = rec[name]
            torch.testing.assert_close(got["loss"], loss.detach(), rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(got["grad"], gx[lo:hi], rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(got["grad_paired"], gp[lo:hi], rtol=1e-10, atol=1e-12)
            # replicated proxies: every rank computes the global loss, so the global gradient
            torch.testing.assert_close(got["grad_centers"], gc, rtol=1e-10, atol=1e-12)
