"""Class-sharded ArcFace at C = 1,000,000 classes on 1, 2 and 4 processes (gloo, CPU).

    .venv/bin/python benchmarks/bench_distributed.py [--classes 1000000] [--worlds 1 2 4]

Each rank holds its shard of the (C, 512) float32 class centres and gets 256 / world of a global
batch of 256 features; the loss is losskit.distributed.ClassShardedLoss(ArcFaceLoss, ...,
chunk_size=65536) over the whole batch. Per rank: the step time (forward + backward, mean
of the timed steps after one warm-up step, one torch thread per rank) and the peak resident
memory: VmHWM, and its rise over the resident set once torch is imported and the process
group is up (the shard, its gradient and the step's temporaries). With more ranks than cores
the ranks share the CPU, so the step time shows the work per rank only when world <= cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _vm(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def _worker(
    rank: int, ws: int, init: str, out: str, classes: int, dim: int, batch: int, steps: int
) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=ws)
    from losskit.distributed import ClassShardedLoss, shard_range
    from losskit.nn import ArcFaceLoss

    base = _vm("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    head = ClassShardedLoss(ArcFaceLoss, classes, dim, margin=0.5, scale=64.0, chunk_size=65536)
    lo, hi = shard_range(batch, rank, ws)
    g = torch.Generator().manual_seed(rank)
    x = torch.randn(hi - lo, dim, generator=g, requires_grad=True)
    y = torch.randint(0, classes, (hi - lo,), generator=g)
    times = []
    for i in range(steps + 1):
        dist.barrier()
        t = time.perf_counter()
        head(x, y).backward()
        head.centers.grad = None
        x.grad = None
        dist.barrier()
        if i > 0:
            times.append(time.perf_counter() - t)
    peak = _vm("VmHWM")
    Path(out, f"rank{rank}.txt").write_text(f"{statistics.mean(times)} {peak} {peak - base}")
    dist.destroy_process_group()
    os._exit(0)  # skip finalisation: gloo threads holding tensors can abort it (pytorch PR 179291)


def run(
    classes: int, worlds: list[int], dim: int = 512, batch: int = 256, steps: int = 2
) -> list[tuple]:
    rows = []
    for ws in worlds:
        with tempfile.TemporaryDirectory() as tmp:
            init = "file://" + os.path.join(tmp, "rendezvous")
            mp.start_processes(
                _worker,
                args=(ws, init, tmp, classes, dim, batch, steps),
                nprocs=ws,
                start_method="spawn",
            )
            vals = [
                tuple(map(float, Path(tmp, f"rank{r}.txt").read_text().split())) for r in range(ws)
            ]
        t = max(v[0] for v in vals)
        hwm = max(v[1] for v in vals) / 2**20
        rise = max(v[2] for v in vals) / 2**20
        rows.append((ws, t, hwm, rise))
        print(
            f"world {ws}: step {t:.2f} s, per-rank peak RSS {hwm:.0f} MB (rise {rise:.0f} MB)",
            flush=True,
        )
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--classes", type=int, default=1_000_000)
    ap.add_argument("--worlds", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--steps", type=int, default=2)
    a = ap.parse_args()
    rows = run(a.classes, a.worlds, steps=a.steps)
    print(
        f"\nClass-sharded ArcFace, C = {a.classes:,}, D = 512, global batch 256, chunk_size 65536, CPU (gloo)\n"
    )
    print(
        "| processes | step time (s) | per-rank peak RSS (MB) | per-rank rise (MB) | rise x processes (MB) |"
    )
    print("|---:|---:|---:|---:|---:|")
    for ws, t, hwm, rise in rows:
        print(f"| {ws} | {t:.2f} | {hwm:.0f} | {rise:.0f} | {rise * ws:.0f} |")
