"""Metric learning with a P x K sampler, a miner and a pair loss, evaluated by retrieval, on CPU
in seconds.

    python examples/train_metric.py [--steps 300] [--loss ms|triplet] [--xbm 512]

scikit-learn's bundled digits (8 x 8 images, 10 classes; nothing is downloaded), split 70/30
per class. A small MLP maps each image to a 32-D unit-length embedding, trained on batches of
``P = batch // m`` classes with ``m`` samples each (``losskit.samplers.MPerClassSampler``, so
that every anchor has positives) with

* ``--loss ms`` (default): ``losskit.miners.MultiSimilarityMiner`` picks the informative
  pairs and ``losskit.multi_similarity_loss`` weighs them (``indices=`` the mined pairs);
* ``--loss triplet``: ``losskit.miners.BatchHardMiner`` picks each anchor's hardest positive
  and negative and ``losskit.batch_triplet_loss`` takes those triplets (``indices=``);
* ``--xbm N`` (with ``ms``): ``losskit.memory.CrossBatchMemory`` keeps the last ``N``
  embeddings, and the miner and the loss compare each batch with all of them.

It logs the loss and how many pairs the miner kept, and at the end retrieves, for every
held-out digit, the other held-out digits by cosine similarity: Recall@1 (is the nearest one
of the same class) and mAP@R (Musgrave et al., "A Metric Learning Reality Check", 2020: the
precision averaged over the first R results, R the number of other samples of the query's
class), next to the same metrics on the raw pixels.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import losskit
from losskit.experiments.digits import load_digits_split
from losskit.memory import CrossBatchMemory
from losskit.miners import BatchHardMiner, MultiSimilarityMiner
from losskit.samplers import MPerClassSampler

EMBED_DIM = 32


class Embedder(nn.Module):
    """64 pixels -> a unit-length ``EMBED_DIM`` embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(64, 128), nn.PReLU(), nn.Linear(128, 128), nn.PReLU(),
            nn.Linear(128, EMBED_DIM),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.net(x), dim=1)


def retrieval_metrics(emb: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """Recall@1 and mAP@R of every sample as a query against all the others (cosine).

    For a query with ``R`` other samples of its class and ``rel_k = 1`` when its ``k``-th
    result shares its class, ``AP@R = (1/R) sum_{k<=R} rel_k * precision@k``; mAP@R is its
    mean over the queries (those with ``R >= 1``)."""
    e = nn.functional.normalize(emb, dim=1)
    sim = e @ e.T
    sim.fill_diagonal_(-float("inf"))  # a query does not retrieve itself
    same = labels[:, None] == labels[None, :]
    same.fill_diagonal_(False)
    r = same.sum(1)
    order = sim.argsort(1, descending=True)
    rel = same.gather(1, order).float()  # rel[i, k]: is query i's (k+1)-th result relevant
    ranks = torch.arange(1, len(labels) + 1, dtype=torch.float)
    precision = rel.cumsum(1) / ranks
    within_r = ranks[None, :] <= r[:, None]
    ap_at_r = (precision * rel * within_r).sum(1) / r.clamp_min(1)
    has = r > 0
    return rel[:, 0][has].mean().item(), ap_at_r[has].mean().item()


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32, help="P * K")
    ap.add_argument("--m", type=int, default=4, help="samples per class in a batch (K)")
    ap.add_argument("--loss", choices=("ms", "triplet"), default="ms")
    ap.add_argument("--xbm", type=int, default=0, metavar="N",
                    help="a cross-batch memory of N embeddings (--loss ms); 0: none")  # fmt: skip
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (the tensors are small: one is fastest)")  # fmt: skip
    args = ap.parse_args(argv)
    if args.xbm and args.loss != "ms":
        ap.error("--xbm needs --loss ms (the triplet loss takes no reference set)")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x_tr, y_tr, x_te, y_te = load_digits_split()
    sampler = MPerClassSampler(y_tr, args.m, batch_size=args.batch,
                               length=args.steps * args.batch,
                               generator=torch.Generator().manual_seed(1))  # fmt: skip
    # the sampler yields whole P x K batches in order: the loader must not shuffle them
    loader = DataLoader(TensorDataset(x_tr, y_tr), batch_size=args.batch, sampler=sampler)
    model = Embedder()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    if args.loss == "ms":
        miner = MultiSimilarityMiner(epsilon=0.1)
        xbm = (CrossBatchMemory(losskit.multi_similarity_loss, EMBED_DIM, memory_size=args.xbm,
                                miner=miner) if args.xbm else None)  # fmt: skip
    else:
        miner, xbm = BatchHardMiner(), None

    for step, (x, y) in enumerate(loader, start=1):
        emb = model(x)
        if xbm is not None:
            loss = xbm(emb, y)  # mines against the queue; the batch is in it
            filled = xbm.memory_size if xbm.has_been_filled else xbm.queue_idx
            mined = f"pairs against a queue of {filled}"
        elif args.loss == "ms":
            pairs = miner(emb, y)  # (a1, p, a2, n): kept positive and negative pairs
            loss = losskit.multi_similarity_loss(emb, y, indices=pairs)
            mined = f"{len(pairs[0])} pos + {len(pairs[2])} neg pairs"
        else:
            triplets = miner(emb, y)  # (a, p, n): one per anchor
            loss = losskit.batch_triplet_loss(emb, y, indices=triplets, margin=0.2)
            a, p, n = (emb[i].detach() for i in triplets)
            active = ((a - p).norm(dim=1) + 0.2 > (a - n).norm(dim=1)).sum()
            mined = f"{len(triplets[0])} triplets, {int(active)} inside the margin"
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % max(args.steps // 5, 1) == 0:
            print(f"step {step}: loss {loss.item():.4f}  (mined: {mined})")

    model.eval()
    with torch.no_grad():
        recall, map_r = retrieval_metrics(model(x_te), y_te)
    raw_recall, raw_map_r = retrieval_metrics(x_te, y_te)
    print(f"held-out retrieval ({len(y_te)} digits): Recall@1 {recall:.3f}, mAP@R {map_r:.3f} "
          f"(raw pixels: Recall@1 {raw_recall:.3f}, mAP@R {raw_map_r:.3f})")  # fmt: skip
    return {"recall_at_1": recall, "map_at_r": map_r, "raw_recall_at_1": raw_recall,
            "raw_map_at_r": raw_map_r, "final_loss": loss.item()}  # fmt: skip


if __name__ == "__main__":
    main()
