"""Training across processes with losskit.distributed, on CPU, in a few seconds.

    torchrun --nproc_per_node=2 examples/train_distributed.py [--epochs 5]

scikit-learn's bundled digits (no download) are split across the ranks. Each rank runs the
same small backbone on its share of every batch; the loss combines

* a class-sharded ArcFace head (losskit.distributed.ClassShardedLoss): each rank holds only
  its share of the 10 class centres, and the softmax normaliser is combined across ranks;
* a data-parallel batch-hard triplet loss on the global batch (losskit.distributed.gather_batch).

Both give every rank the exact gradient of its own inputs and centre rows;
``sum_gradients_(backbone)`` then gives every rank the gradient one process would compute for
the whole batch, so the replicas stay identical (checked at the end).
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
import torch.distributed as dist
from torch import nn

import losskit
from losskit.distributed import (
    ClassShardedLoss,
    broadcast_state_,
    gather_batch,
    sum_gradients_,
    world,
)
from losskit.experiments.digits import load_digits_split


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128, help="global batch size")
    args = ap.parse_args()

    dist.init_process_group("gloo")  # torchrun sets RANK, WORLD_SIZE, MASTER_ADDR/PORT
    torch.set_num_threads(1)
    rank, ws = world()
    x_tr, y_tr, x_te, y_te = load_digits_split()

    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Linear(64, 128), nn.PReLU(), nn.Linear(128, 32))
    broadcast_state_(backbone)  # identical replicas (same seed anyway; this makes sure)
    head = ClassShardedLoss(losskit.nn.ArcFaceLoss, 10, 32, margin=0.3, scale=16.0)
    triplet = losskit.nn.BatchTripletLoss(margin=0.3, mining="hard")
    opt = torch.optim.Adam([*backbone.parameters(), *head.parameters()], lr=3e-3)

    g = torch.Generator().manual_seed(1)  # same order on every rank
    for epoch in range(args.epochs):
        perm = torch.randperm(len(y_tr), generator=g)
        total = 0.0
        for i in range(0, len(perm), args.batch):
            idx = perm[i : i + args.batch]
            mine = idx[rank::ws]  # this rank's share of the global batch
            f = backbone(x_tr[mine])
            fg, yg = gather_batch(f, y_tr[mine])
            loss = head(f, y_tr[mine]) + 0.5 * triplet(fg, yg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            sum_gradients_(backbone)
            opt.step()
            total += loss.item() * len(idx)
        if rank == 0:
            print(f"epoch {epoch + 1}: loss {total / len(y_tr):.4f}", flush=True)

    with torch.no_grad():
        f = nn.functional.normalize(backbone(x_te), dim=1)
        w = nn.functional.normalize(head.centers, dim=1)
        # each rank scores its own classes; the best over ranks is the prediction
        score, cls = (f @ w.T).max(1)
        cls = cls + head.class_start
        scores = [torch.empty_like(score) for _ in range(ws)]
        classes = [torch.empty_like(cls) for _ in range(ws)]
        dist.all_gather(scores, score)
        dist.all_gather(classes, cls)
        best = torch.stack(scores).argmax(0)
        pred = torch.stack(classes).gather(0, best[None]).squeeze(0)
        acc = (pred == y_te).float().mean().item()
        # the replicas must still be identical
        flat = torch.cat([p.detach().flatten() for p in backbone.parameters()])
        ref = flat.clone()
        dist.broadcast(ref, src=0)
        same = bool(torch.equal(flat, ref))
    if rank == 0:
        print(f"test accuracy {acc:.3f}; backbone replicas identical: {same}", flush=True)
    dist.barrier()  # nobody tears the group down while another rank still talks
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
    # Skip interpreter finalisation: gloo's worker threads can still hold tensors then, and
    # tearing them down without the GIL aborts the process now and then (pytorch PR 179291).
    sys.stdout.flush()
    os._exit(0)
