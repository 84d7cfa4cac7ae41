"""A one-stage detection head trained with a box loss and a focal loss, on CPU in seconds.

    python examples/train_detection.py [--steps 300]

The data is generated: 32 x 32 grey images, each holding one to three bright rectangles on
noise. A small fully convolutional network predicts, for every cell of an 8 x 8 grid,

* an objectness logit, trained with ``losskit.focal_loss`` (most cells are background: the
  focal term keeps the easy negatives from swamping the few positives);
* a box, trained with ``losskit.giou_loss`` on the cells that hold an object's centre (the
  loss's ``mask`` leaves the other cells out; their predicted boxes are never read), the
  summed loss divided by the number of positives as dense detectors do.

It prints the two losses as training goes and, at the end, the mean IoU of the boxes predicted
at the object centres of fresh images and the objectness accuracy.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import losskit

SIZE, GRID = 32, 8
CELL = SIZE // GRID


def make_batch(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images ``(n, 1, 32, 32)``, objectness ``(n, 8, 8)`` in {0, 1} and target boxes
    ``(n, 8, 8, 4)`` (xyxy, pixels; defined where objectness is 1)."""
    images = torch.rand(n, 1, SIZE, SIZE, generator=g) * 0.3
    obj = torch.zeros(n, GRID, GRID)
    boxes = torch.zeros(n, GRID, GRID, 4)
    for i in range(n):
        for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
            w, h = (torch.randint(6, 15, (2,), generator=g)).tolist()
            x1 = int(torch.randint(0, SIZE - w, (1,), generator=g))
            y1 = int(torch.randint(0, SIZE - h, (1,), generator=g))
            images[i, 0, y1 : y1 + h, x1 : x1 + w] = 1.0
            cx, cy = (x1 + w / 2) // CELL, (y1 + h / 2) // CELL
            obj[i, int(cy), int(cx)] = 1.0
            boxes[i, int(cy), int(cx)] = torch.tensor([x1, y1, x1 + w, y1 + h], dtype=torch.float)
    return images, obj, boxes


class Head(nn.Module):
    """A tiny FCN: 32 x 32 -> an 8 x 8 grid of (objectness, 4 box offsets)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 5, 1),
        )  # fmt: skip
        ys, xs = torch.meshgrid(torch.arange(GRID), torch.arange(GRID), indexing="ij")
        self.register_buffer("centre", torch.stack([xs, ys], -1).float() * CELL + CELL / 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.body(x).permute(0, 2, 3, 1)  # (N, 8, 8, 5)
        logit = out[..., 0]
        # distances from the cell centre to the four sides, positive through softplus
        d = nn.functional.softplus(out[..., 1:]) * CELL
        c = self.centre
        boxes = torch.stack(
            [c[..., 0] - d[..., 0], c[..., 1] - d[..., 1], c[..., 0] + d[..., 2],
             c[..., 1] + d[..., 3]], -1)  # fmt: skip
        return logit, boxes


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args(argv)

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    model = Head()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(1, args.steps + 1):
        images, obj, boxes = make_batch(args.batch, g)
        logit, pred = model(images)
        positives = obj.sum().clamp_min(1.0)
        cls = losskit.focal_loss(logit, obj, alpha=0.25, gamma=2.0, reduction="sum") / positives
        box = losskit.giou_loss(pred, boxes, mask=obj > 0, reduction="sum") / positives
        opt.zero_grad()
        (cls + 2.0 * box).backward()
        opt.step()
        if step % max(args.steps // 5, 1) == 0:
            print(f"step {step}: focal {cls.item():.4f}  giou {box.item():.4f}")

    model.eval()
    with torch.no_grad():
        images, obj, boxes = make_batch(256, torch.Generator().manual_seed(2))
        logit, pred = model(images)
        at = obj > 0
        iou = 1.0 - losskit.iou_loss(pred[at], boxes[at], reduction="none")
        accuracy = ((logit > 0).float() == obj).float().mean()
    result = {"mean_iou": iou.mean().item(), "objectness_accuracy": accuracy.item()}
    print(f"test: mean IoU at object centres {result['mean_iou']:.3f}; "
          f"objectness accuracy {result['objectness_accuracy']:.3f}")  # fmt: skip
    return result


if __name__ == "__main__":
    main()
