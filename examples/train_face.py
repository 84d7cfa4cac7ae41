"""A face-recognition head with Partial FC, on CPU in seconds: ArcFace over 2,000 identities
of which each step samples a fifth.

    python examples/train_face.py [--steps 300]

The data is generated: each identity is a random direction in a 32-D "face space"; a sample
is its identity plus noise (pose, light), seen through a fixed random nonlinear "camera" as a
96-D input. A small backbone maps inputs to 64-D embeddings; ``losskit.nn.ArcFaceLoss`` owns
the 2,000 class centres and, in training mode with ``sample_rate=0.2``, computes the softmax
over the batch's identities plus a random share of the others (Partial FC: a fifth of the
class-centre work and gradient rows per step); ``chunk_size`` bounds the logits held at once.

At the end it verifies pairs of samples of 200 identities never seen in training (cosine
similarity of the embeddings) and prints the true-accept rate at a 1 % false-accept rate.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import losskit

TRAIN_IDS, TEST_IDS, FACE_DIM, INPUT_DIM, EMBED_DIM = 2000, 200, 32, 96, 64


class World:
    """Identities and a fixed random camera: ``sample(ids)`` draws one input per id."""

    def __init__(self, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        ids = torch.randn(TRAIN_IDS + TEST_IDS, FACE_DIM, generator=g)
        self.ids = nn.functional.normalize(ids, dim=1) * 3.0
        self.w1 = torch.randn(FACE_DIM, INPUT_DIM, generator=g) / FACE_DIM**0.5
        self.w2 = torch.randn(INPUT_DIM, INPUT_DIM, generator=g) / INPUT_DIM**0.5

    def sample(self, ids: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        face = self.ids[ids] + torch.randn(len(ids), FACE_DIM, generator=g) * 0.35
        return torch.tanh(face @ self.w1) @ self.w2


def tar_at_far(emb: torch.Tensor, labels: torch.Tensor, far: float) -> float:
    """True-accept rate at the threshold where a fraction ``far`` of impostor pairs pass."""
    e = nn.functional.normalize(emb, dim=1)
    sim = e @ e.T
    upper = torch.triu(torch.ones_like(sim, dtype=torch.bool), diagonal=1)
    same = (labels[:, None] == labels[None, :]) & upper
    impostor = (labels[:, None] != labels[None, :]) & upper
    threshold = torch.quantile(sim[impostor], 1.0 - far)
    return (sim[same] > threshold).float().mean().item()


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args(argv)

    torch.manual_seed(0)
    world, g = World(), torch.Generator().manual_seed(1)
    backbone = nn.Sequential(nn.Linear(INPUT_DIM, 256), nn.PReLU(), nn.Linear(256, EMBED_DIM))
    head = losskit.nn.ArcFaceLoss(TRAIN_IDS, EMBED_DIM, margin=0.3, scale=32.0,
                                  sample_rate=0.2, chunk_size=512)  # fmt: skip
    opt = torch.optim.Adam([*backbone.parameters(), *head.parameters()], lr=2e-3)
    for step in range(1, args.steps + 1):
        labels = torch.randint(0, TRAIN_IDS, (args.batch,), generator=g)
        loss = head(backbone(world.sample(labels, g)), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % max(args.steps // 5, 1) == 0:
            touched = int((head.centers.grad.abs().sum(1) > 0).sum())
            print(f"step {step}: loss {loss.item():.3f}  (centre rows with a gradient: "
                  f"{touched} of {TRAIN_IDS})")  # fmt: skip

    backbone.eval()
    with torch.no_grad():
        test = torch.arange(TRAIN_IDS, TRAIN_IDS + TEST_IDS).repeat_interleave(5)
        emb = backbone(world.sample(test, torch.Generator().manual_seed(2)))
        tar = tar_at_far(emb, test, far=0.01)
    print(f"unseen identities: TAR {tar:.3f} at FAR 0.01")
    return {"tar_at_far_0.01": tar, "final_loss": loss.item()}


if __name__ == "__main__":
    main()
