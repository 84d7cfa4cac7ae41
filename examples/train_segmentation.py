"""Semantic segmentation with a compound Dice + cross-entropy loss and deep supervision, on CPU
in under a minute.

    python examples/train_segmentation.py [--steps 250] [--learn-weights] [--no-deep-supervision]

The data is generated: 64 x 64 grey images of noise holding one to four shapes of one
brightness, so that only their form tells them apart: filled discs (class 1), thin rings
(class 2) and thin straight lines (class 3); class 0 is the background. A small
encoder-decoder predicts a logit per class and pixel at full resolution and, as a deeply
supervised network does, a second set from its 32 x 32 decoder stage. The loss is

* ``losskit.compound.CompoundLoss`` of two terms, Dice (``losskit.DiceLoss``, mode
  ``"multiclass"``: the overlap term that does not let the large background drown the thin
  classes) and cross-entropy (``losskit.SoftmaxCrossEntropyLoss``: the per-pixel term whose
  gradient is well behaved early on), with fixed weights or, with ``--learn-weights``,
  weights learned by homoscedastic uncertainty (Kendall, Gal and Cipolla);
* each term a ``losskit.compound.DeepSupervisionLoss`` over the two resolutions (the label
  map resized by nearest neighbour, weights 1 and 1/2), so ``CompoundLoss.parts`` logs the
  Dice and the cross-entropy separately, each summed over the levels.

At the end it prints the per-class Dice of the full-resolution prediction (argmax) on fresh
held-out images, and the mean over the three shape classes.
"""

from __future__ import annotations

import argparse
import math

import torch
from torch import nn

import losskit
from losskit.compound import CompoundLoss, DeepSupervisionLoss

SIZE, CLASSES = 64, 4
NAMES = ("background", "disc", "ring", "line")


def make_batch(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(n, 1, 64, 64)`` and label maps ``(n, 64, 64)`` (int64, 0 = background)."""
    ys, xs = torch.meshgrid(torch.arange(SIZE).float(), torch.arange(SIZE).float(), indexing="ij")
    images = torch.rand(n, 1, SIZE, SIZE, generator=g) * 0.5
    labels = torch.zeros(n, SIZE, SIZE, dtype=torch.long)

    def uniform(lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=g))

    for i in range(n):
        for _ in range(int(torch.randint(1, 5, (), generator=g))):
            kind = int(torch.randint(1, CLASSES, (), generator=g))
            cx, cy = uniform(10, SIZE - 10), uniform(10, SIZE - 10)
            if kind == 3:  # a segment, 1.6 px wide, 16 to 40 px long
                angle, half = uniform(0, math.pi), uniform(8, 20)
                dx, dy = math.cos(angle), math.sin(angle)
                along = ((xs - cx) * dx + (ys - cy) * dy).clamp(-half, half)
                shape = (xs - cx - along * dx) ** 2 + (ys - cy - along * dy) ** 2 <= 0.8**2
            else:
                r = ((xs - cx) ** 2 + (ys - cy) ** 2).sqrt()
                radius = uniform(4, 9)
                shape = r <= radius if kind == 1 else (r - radius).abs() <= 0.8
            images[i, 0][shape] = 0.5 + uniform(0.3, 0.5)  # brighter than the noise, one level
            labels[i][shape] = kind  # a later shape covers an earlier one
    return images, labels


def conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU())


class SmallUNet(nn.Module):
    """64 -> 32 -> 16 and back, with skips; returns ``[(N, 4, 64, 64), (N, 4, 32, 32)]``
    logits (the second from the 32 x 32 decoder stage, for deep supervision). Most of the
    work is at 32 x 32 and below, so that a step costs little on a CPU."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        w = width
        self.enc1 = conv(1, w)  # 64
        self.enc2 = nn.Sequential(conv(w, 2 * w), conv(2 * w, 2 * w))  # 32
        self.mid = nn.Sequential(conv(2 * w, 4 * w), conv(4 * w, 4 * w))  # 16
        self.dec2 = conv(6 * w, 2 * w)  # 32
        self.dec1 = conv(3 * w, w)  # 64
        self.pool, self.up = nn.MaxPool2d(2), nn.Upsample(scale_factor=2, mode="nearest")
        self.head1, self.head2 = nn.Conv2d(w, CLASSES, 1), nn.Conv2d(2 * w, CLASSES, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        m = self.mid(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up(m), e2], 1))
        d1 = self.dec1(torch.cat([self.up(d2), e1], 1))
        return [self.head1(d1), self.head2(d2)]


def per_class_dice(pred: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """``2 |P_c & T_c| / (|P_c| + |T_c|)`` over all the pixels of the set, per class
    (1.0 for a class absent from both)."""
    out = []
    for c in range(CLASSES):
        p, t = pred == c, labels == c
        denominator = int(p.sum() + t.sum())
        out.append(2.0 * int((p & t).sum()) / denominator if denominator else 1.0)
    return out


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=250)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--learn-weights", action="store_true",
                    help="learn the Dice and CE weights by uncertainty")  # fmt: skip
    ap.add_argument("--no-deep-supervision", action="store_true",
                    help="train the full-resolution output only")  # fmt: skip
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (the tensors are small: one is fastest)")  # fmt: skip
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    model = SmallUNet()
    levels = [1.0] if args.no_deep_supervision else [1.0, 0.5]
    loss = CompoundLoss(
        {"dice": DeepSupervisionLoss(losskit.DiceLoss(mode="multiclass"), weights=levels),
         "ce": DeepSupervisionLoss(losskit.SoftmaxCrossEntropyLoss(), weights=levels)},
        weights={"dice": 1.0, "ce": 1.0}, learn_weights=args.learn_weights,
    )  # fmt: skip
    # loss.parameters() holds the learned log-variances (none with fixed weights)
    opt = torch.optim.Adam([*model.parameters(), *loss.parameters()], lr=3e-3)
    for step in range(1, args.steps + 1):
        images, labels = make_batch(args.batch, g)
        outputs = model(images)
        parts = loss.parts(outputs[: len(levels)], labels)
        opt.zero_grad()
        parts["total"].backward()
        opt.step()
        if step % max(args.steps // 5, 1) == 0:
            w = loss.effective_weights()
            print(f"step {step}: dice {parts['dice'].item():.4f}  ce {parts['ce'].item():.4f}  "
                  f"total {parts['total'].item():.4f}  (weights dice {w['dice']:.3f}, "
                  f"ce {w['ce']:.3f})")  # fmt: skip

    model.eval()
    with torch.no_grad():
        images, labels = make_batch(64, torch.Generator().manual_seed(2))
        pred = model(images)[0].argmax(1)
    dice = per_class_dice(pred, labels)
    result = {f"dice_{name}": d for name, d in zip(NAMES, dice, strict=True)}
    result["mean_dice"] = sum(dice[1:]) / (CLASSES - 1)
    result["final_loss"] = parts["total"].item()
    print("held-out Dice: " + ", ".join(f"{n} {d:.3f}" for n, d in zip(NAMES, dice, strict=True))
          + f"; mean over the shapes {result['mean_dice']:.3f}")  # fmt: skip
    return result


if __name__ == "__main__":
    main()
