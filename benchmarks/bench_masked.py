"""Losses with positions left out (void labels, a mask) against their peers and against
losskit on the same input with nothing left out, side by side in one process.

    .venv/bin/python benchmarks/bench_masked.py [--rounds 5] [--min-run-time 0.3]
        [--markdown PATH]

Segmentation targets carry void labels (255 in Cityscapes and VOC, -100 by torch's
convention) and dense detection heads carry ignored anchors, so the masked path is the one
users train with. Each case times one forward + backward step, float32, CPU, one thread, with
``torch.utils.benchmark.Timer`` (median of ``blocked_autorange``); the implementations of a
case run in turn, ``--rounds`` times over, and each keeps the median of its rounds. Ratios:
peer / losskit (above 1: losskit faster) and losskit masked / losskit with nothing left out
(the cost of the mask).

Cases (one in 32 positions left out, in bands, as void borders are):

* multilabel Jaccard (8, 4, 256, 256), ``ignore_index=-100`` in the target: MONAI's
  ``MaskedDiceLoss(sigmoid=True, jaccard=True)`` with the same mask;
* multiclass Dice (8, 4, 256, 256), ``ignore_index=-100``: SMP's
  ``DiceLoss("multiclass", ignore_index=-100)``;
* softmax cross-entropy (8, 19, 128, 128), ``ignore_index=-100``: ``torch.nn.functional.
  cross_entropy`` with the same ``ignore_index``;
* BCE (8, 4, 256, 256) with a ``mask``: torch's ``binary_cross_entropy_with_logits`` with the
  mask as a 0/1 ``weight``, summed and divided by the kept count (losskit's mean);
* sigmoid focal (8, 4, 256, 256) with a ``mask``: torchvision's ``sigmoid_focal_loss``
  (``reduction="none"``) times the mask, summed and divided by the kept count.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from statistics import median

import torch
import torch.nn.functional as TF
from torch.utils import benchmark

import losskit.functional as F

Step = Callable[[], None]


def _void(shape: tuple[int, ...]) -> torch.Tensor:
    """True at one in 32 positions, in bands along the second-to-last axis."""
    keep = torch.ones(shape, dtype=torch.bool)
    keep[..., : shape[-2] // 32, :] = False
    return keep


def _step(x: torch.Tensor, loss: Callable[[], torch.Tensor]) -> Step:
    def run() -> None:
        x.grad = None
        loss().backward()

    return run


def cases() -> list[tuple[str, dict[str, Step], Step]]:
    """``(name, {implementation: step}, losskit with nothing left out)`` per case."""
    from monai.losses import MaskedDiceLoss
    from segmentation_models_pytorch.losses import DiceLoss as SmpDice
    from torchvision.ops import sigmoid_focal_loss

    g = torch.Generator().manual_seed(0)
    out: list[tuple[str, dict[str, Step], Step]] = []

    shape = (8, 4, 256, 256)
    x = torch.randn(shape, generator=g, requires_grad=True)
    t = (torch.rand(shape, generator=g) < 0.5).float()
    keep1 = _void((8, 1, 256, 256))  # MONAI's mask has one channel
    tv = torch.where(keep1, t, -100.0)
    monai = MaskedDiceLoss(sigmoid=True, jaccard=True, smooth_nr=1.0, smooth_dr=1.0)
    kf1 = keep1.float()
    out.append((
        "Jaccard, multilabel, ignore_index (8, 4, 256, 256)",
        {
            "losskit": _step(x, lambda: F.jaccard_loss(x, tv, mode="multilabel")),
            "monai": _step(x, lambda: monai(x, t, mask=kf1)),
        },
        _step(x, lambda: F.jaccard_loss(x, t, mode="multilabel")),
    ))  # fmt: skip

    labels = torch.randint(0, 4, (8, 256, 256), generator=g)
    lv = torch.where(_void((8, 256, 256)), labels, -100)
    smp = SmpDice("multiclass", ignore_index=-100, from_logits=True)
    out.append((
        "Dice, multiclass, ignore_index (8, 4, 256, 256)",
        {
            "losskit": _step(x, lambda: F.dice_loss(x, lv, mode="multiclass")),
            "smp": _step(x, lambda: smp(x, lv)),
        },
        _step(x, lambda: F.dice_loss(x, labels, mode="multiclass")),
    ))  # fmt: skip

    z = torch.randn(8, 19, 128, 128, generator=g, requires_grad=True)
    y = torch.randint(0, 19, (8, 128, 128), generator=g)
    yv = torch.where(_void((8, 128, 128)), y, -100)
    out.append((
        "softmax cross-entropy, ignore_index (8, 19, 128, 128)",
        {
            "losskit": _step(z, lambda: F.softmax_cross_entropy(z, yv)),
            "torch": _step(z, lambda: TF.cross_entropy(z, yv)),
        },
        _step(z, lambda: F.softmax_cross_entropy(z, y)),
    ))  # fmt: skip

    keep = _void(shape)
    kf = keep.float()

    def torch_bce() -> torch.Tensor:
        return TF.binary_cross_entropy_with_logits(x, t, weight=kf, reduction="sum") / kf.sum()

    out.append((
        "BCE, mask (8, 4, 256, 256)",
        {"losskit": _step(x, lambda: F.bce_loss(x, t, mask=keep)), "torch": _step(x, torch_bce)},
        _step(x, lambda: F.bce_loss(x, t)),
    ))  # fmt: skip

    def tv_focal() -> torch.Tensor:
        return (sigmoid_focal_loss(x, t, reduction="none") * kf).sum() / kf.sum()

    out.append((
        "sigmoid focal, mask (8, 4, 256, 256)",
        {
            "losskit": _step(x, lambda: F.focal_loss(x, t, mask=keep)),
            "torchvision": _step(x, tv_focal),
        },
        _step(x, lambda: F.focal_loss(x, t)),
    ))  # fmt: skip
    return out


def _time(step: Step, min_run_time: float) -> float:
    step()  # warm-up
    timer = benchmark.Timer("step()", globals={"step": step}, num_threads=1)
    return timer.blocked_autorange(min_run_time=min_run_time).median * 1e3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-run-time", type=float, default=0.3)
    ap.add_argument("--markdown", default=None, help="write the table to this file too")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    lines = [
        "# Losses with positions left out (cpu)",
        "",
        f"Method: `benchmarks/bench_masked.py --rounds {args.rounds} --min-run-time "
        f"{args.min_run_time}`; see its docstring. Machine: {platform.processor() or 'cpu'}, "
        f"torch {torch.__version__}, python {platform.python_version()}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        "| case | losskit ms | peer | peer ms | peer / losskit | losskit, nothing left out ms "
        "| masked / unmasked |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for name, impls, plain in cases():
        runs: dict[str, list[float]] = {k: [] for k in [*impls, "plain"]}
        for _ in range(args.rounds):
            for k, step in [*impls.items(), ("plain", plain)]:
                runs[k].append(_time(step, args.min_run_time))
        ms = {k: median(v) for k, v in runs.items()}
        peer = next(k for k in impls if k != "losskit")
        lines.append(
            f"| {name} | {ms['losskit']:.2f} | {peer} | {ms[peer]:.2f} | "
            f"{ms[peer] / ms['losskit']:.2f} | {ms['plain']:.2f} | "
            f"{ms['losskit'] / ms['plain']:.2f} |"
        )
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
