"""The digits experiment: one small network, fourteen losses, the features they learn.

scikit-learn's bundled digits (8 x 8 images, 1,797 samples, 10 classes; shipped with the
package, nothing is downloaded) are split 70/30, stratified, with a fixed seed. A small MLP
(64 -> 128 -> 128 -> D, PReLU) ends in a D = 2 or D = 3 feature layer, as in the center-loss
and SphereFace papers' MNIST figures, and is trained with each embedding, constraint and
angular-margin loss of the study notes. For every loss the test features are scored by:

* **accuracy**: the loss's own classifier (argmax of its logits or cosines); for the pure
  embedding losses (contrastive, triplet) the nearest class mean of the training features;
* **intra angle**: mean angle between a feature and its class's mean direction (degrees);
* **inter angle**: smallest angle between two class mean directions (degrees);
* **ratio**: intra / inter (smaller = tighter classes and wider gaps);
* **euclid ratio**: mean distance to the class mean / mean distance between class means
  (scale-free Euclidean compactness);
* **TAR@FAR=1e-2**: verification from the cosine of every test pair: the threshold admits 1 %
  of different-class pairs; TAR is the fraction of same-class pairs above it.

Everything runs on one CPU thread with fixed seeds, so the numbers are the same on every run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as TF
from torch import Tensor, nn

from .. import functional as F
from .. import nn as lnn

NUM_CLASSES = 10
QUICK_EPOCHS = 25
FULL_EPOCHS = 60


@dataclass(frozen=True)
class LossSetup:
    """How one loss is trained: its name, a head factory, and hyperparameters shown in the report."""

    name: str
    kind: str  # "classifier" (head predicts) or "embedding" (nearest class mean)
    settings: str


#: the fourteen losses, in report order, with the hyperparameters used here. Scales and margins
#: are smaller than the face-recognition defaults (s = 64, m = 0.5) because 2-D and 3-D
#: features leave little angular room for ten classes.
LOSSES: tuple[LossSetup, ...] = (
    LossSetup("softmax", "classifier", "linear layer with bias + CE"),
    LossSetup("center", "classifier", "softmax + 0.1 * center (paper update, update_rate 0.5)"),
    LossSetup(
        "center invariant", "classifier", "softmax + 0.1 * center invariant (invariant_weight 1)"
    ),
    LossSetup("range", "classifier", "softmax + 0.05 * range (k 2, margin 2)"),
    LossSetup("ring", "classifier", "softmax + 0.01 * ring (learned R)"),
    LossSetup("contrastive", "embedding", "all pairs, Euclidean, margin 2"),
    LossSetup("triplet", "embedding", "batch-all, mean over active triplets, margin 0.5"),
    LossSetup("L-Softmax", "classifier", "m 2, annealed (SphereFace schedule)"),
    LossSetup("SphereFace", "classifier", "m 4, annealed (lambda_min 5)"),
    LossSetup("COCO", "classifier", "scale 16"),
    LossSetup("L2-Softmax", "classifier", "alpha 10"),
    LossSetup("NormFace", "classifier", "scale 16"),
    LossSetup("CosFace", "classifier", "scale 16, cos margin 0.25"),
    LossSetup("ArcFace", "classifier", "scale 16, margin 0.25 rad"),
)


@dataclass(frozen=True)
class Result:
    loss: str
    dim: int
    accuracy: float
    intra_angle: float
    inter_angle: float
    ratio: float
    euclid_ratio: float
    tar: float
    test_features: Tensor
    test_labels: Tensor


def load_digits_split(seed: int = 0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Standardised digits, 70/30 stratified split: ``(x_train, y_train, x_test, y_test)``."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    train_idx, test_idx = [], []
    for c in range(NUM_CLASSES):
        idx = (y == c).nonzero().squeeze(1)
        idx = idx[torch.randperm(len(idx), generator=g)]
        cut = int(round(0.7 * len(idx)))
        train_idx.append(idx[:cut])
        test_idx.append(idx[cut:])
    tr, te = torch.cat(train_idx), torch.cat(test_idx)
    mean, std = x[tr].mean(0), x[tr].std(0).clamp_min(1e-3)
    x = (x - mean) / std
    return x[tr], y[tr], x[te], y[te]


def _backbone(dim: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(64, 128), nn.PReLU(), nn.Linear(128, 128), nn.PReLU(), nn.Linear(128, dim)
    )


class _Trainer:
    """The head(s) of one loss and how to compute its loss and predictions."""

    def __init__(self, name: str, dim: int) -> None:
        self.name = name
        self.heads = nn.ModuleDict()
        c = NUM_CLASSES
        self.schedule = F.LambdaSchedule() if name in ("L-Softmax", "SphereFace") else None
        if name in ("softmax", "center", "center invariant", "range", "ring"):
            self.heads["cls"] = lnn.SoftmaxLoss(c, dim)
        if name == "center":
            self.heads["aux"] = lnn.CenterLoss(
                c, dim, update_rate=0.5, update="paper", sparse=False
            )
        elif name == "center invariant":
            self.heads["aux"] = lnn.CenterInvariantLoss(c, dim, invariant_weight=1.0)
        elif name == "range":
            self.heads["aux"] = lnn.RangeLoss(k=2, margin=2.0)
        elif name == "ring":
            self.heads["aux"] = lnn.RingLoss(radius=1.0)
        elif name == "L-Softmax":
            self.heads["cls"] = lnn.LSoftmaxLoss(c, dim, m=2)
        elif name == "SphereFace":
            self.heads["cls"] = lnn.SphereFaceLoss(c, dim, m=4)
        elif name == "COCO":
            self.heads["cls"] = lnn.COCOLoss(c, dim, scale=16.0)
        elif name == "L2-Softmax":
            self.heads["cls"] = lnn.L2SoftmaxLoss(c, dim, scale=10.0)
        elif name == "NormFace":
            self.heads["cls"] = lnn.NormFaceLoss(c, dim, scale=16.0)
        elif name == "CosFace":
            self.heads["cls"] = lnn.CosFaceLoss(c, dim, cos_margin=0.25, scale=16.0)
        elif name == "ArcFace":
            self.heads["cls"] = lnn.ArcFaceLoss(c, dim, margin=0.25, scale=16.0)
        self.weights = {"center": 0.1, "center invariant": 0.1, "range": 0.05, "ring": 0.01}

    def loss(self, f: Tensor, y: Tensor, step: int) -> Tensor:
        n = self.name
        if n == "contrastive":
            return F.batch_contrastive_loss(f, y, margin=2.0)
        if n == "triplet":
            return F.batch_triplet_loss(f, y, margin=0.5, mining="all", mean_over="active")
        head = self.heads["cls"]
        if self.schedule is not None:
            head.lambda_ = self.schedule(step)
        loss = head(f, y)
        if n in self.weights:
            aux = self.heads["aux"]
            extra = aux(f) if n == "ring" else aux(f, y)
            loss = loss + self.weights[n] * extra
        return loss

    @torch.no_grad()
    def predict(self, f: Tensor) -> Tensor:
        head = self.heads["cls"]
        w = head.centers
        if self.name in ("softmax", "center", "center invariant", "range", "ring", "L-Softmax"):
            logits = f @ w.T
            if getattr(head, "bias", None) is not None:
                logits = logits + head.bias
            return logits.argmax(1)
        if self.name == "L2-Softmax":
            logits = TF.normalize(f, dim=1) @ w.T
            if getattr(head, "bias", None) is not None:
                logits = logits + head.bias / head.scale
            return logits.argmax(1)
        return (TF.normalize(f, dim=1) @ TF.normalize(w, dim=1).T).argmax(1)


def _angles(f: Tensor, y: Tensor) -> tuple[float, float]:
    u = TF.normalize(f, dim=1)
    mu = TF.normalize(torch.stack([u[y == c].mean(0) for c in range(NUM_CLASSES)]), dim=1)
    intra = torch.rad2deg(torch.acos((u * mu[y]).sum(1).clamp(-1, 1))).mean().item()
    cos = mu @ mu.T
    cos.fill_diagonal_(-1.0)
    inter = math.degrees(math.acos(min(1.0, cos.max().item())))
    return intra, inter


def _euclid_ratio(f: Tensor, y: Tensor) -> float:
    m = torch.stack([f[y == c].mean(0) for c in range(NUM_CLASSES)])
    intra = (f - m[y]).norm(dim=1).mean()
    d = torch.cdist(m, m)
    inter = d.sum() / (NUM_CLASSES * (NUM_CLASSES - 1))
    return (intra / inter).item()


def tar_at_far(f: Tensor, y: Tensor, far: float = 1e-2) -> float:
    """Verification rate at a false-accept rate, from the cosine of every pair."""
    u = TF.normalize(f, dim=1)
    s = u @ u.T
    iu = torch.triu_indices(len(y), len(y), offset=1)
    scores = s[iu[0], iu[1]]
    same = y[iu[0]] == y[iu[1]]
    impostor = scores[~same]
    threshold = torch.quantile(impostor.double(), 1 - far).item()
    return (scores[same] > threshold).double().mean().item()


def train_one(
    name: str,
    dim: int,
    data: tuple[Tensor, Tensor, Tensor, Tensor],
    *,
    epochs: int,
    seed: int = 0,
    batch_size: int = 128,
) -> Result:
    """Train the backbone with one loss and score its test features."""
    x_tr, y_tr, x_te, y_te = data
    torch.manual_seed(seed)
    net = _backbone(dim)
    trainer = _Trainer(name, dim)
    params = list(net.parameters()) + [p for p in trainer.heads.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=5e-3)
    # step decay: x0.1 for the last 30 % of the epochs
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[int(0.7 * epochs)], gamma=0.1)
    g = torch.Generator().manual_seed(seed)
    step = 0
    for _ in range(epochs):
        perm = torch.randperm(len(y_tr), generator=g)
        for i in range(0, len(perm), batch_size):
            idx = perm[i : i + batch_size]
            f = net(x_tr[idx])
            loss = trainer.loss(f, y_tr[idx], step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
        sched.step()
    net.eval()
    with torch.no_grad():
        f_te = net(x_te)
        if name in ("contrastive", "triplet"):
            f_tr = net(x_tr)
            means = torch.stack([f_tr[y_tr == c].mean(0) for c in range(NUM_CLASSES)])
            pred = torch.cdist(f_te, means).argmin(1)
        else:
            pred = trainer.predict(f_te)
    intra, inter = _angles(f_te, y_te)
    return Result(
        loss=name,
        dim=dim,
        accuracy=(pred == y_te).float().mean().item(),
        intra_angle=intra,
        inter_angle=inter,
        ratio=intra / max(inter, 1e-9),
        euclid_ratio=_euclid_ratio(f_te, y_te),
        tar=tar_at_far(f_te, y_te),
        test_features=f_te,
        test_labels=y_te,
    )


def run(
    *,
    quick: bool = False,
    dims: tuple[int, ...] = (2, 3),
    losses: tuple[str, ...] | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> list[Result]:
    """Every loss at every feature dimension; deterministic (one thread, fixed seeds)."""
    names = [s.name for s in LOSSES] if losses is None else list(losses)
    unknown = set(names) - {s.name for s in LOSSES}
    if unknown:
        raise ValueError(
            f"digits.run: unknown losses {sorted(unknown)}; known: {[s.name for s in LOSSES]}"
        )
    epochs = QUICK_EPOCHS if quick else FULL_EPOCHS
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = load_digits_split()
        jobs = [(n, d) for d in dims for n in names]
        out = []
        for i, (n, d) in enumerate(jobs):
            if progress:
                progress(f"digits: {n} ({d}-D)", i / len(jobs))
            out.append(train_one(n, d, data, epochs=epochs))
        return out
    finally:
        torch.set_num_threads(threads)


def long_tailed_split(
    data: tuple[Tensor, Tensor, Tensor, Tensor], *, tail_fraction: float = 0.1, seed: int = 0
):
    """The training set with classes 5-9 cut to ``tail_fraction`` of their samples (the test
    set unchanged): a long-tailed version of digits."""
    x_tr, y_tr, x_te, y_te = data
    g = torch.Generator().manual_seed(seed)
    keep = []
    for c in range(NUM_CLASSES):
        idx = (y_tr == c).nonzero().squeeze(1)
        if c >= 5:
            idx = idx[
                torch.randperm(len(idx), generator=g)[
                    : max(2, int(round(tail_fraction * len(idx))))
                ]
            ]
        keep.append(idx)
    k = torch.cat(keep)
    return x_tr[k], y_tr[k], x_te, y_te


def tail_accuracy(result: Result) -> float:
    """Nearest-class-mean accuracy on the test samples of the tail classes 5-9, from the
    test features (class means of the test features themselves: a measure of how well the
    tail classes are separated, independent of the classifier's bias toward head classes)."""
    f, y = result.test_features, result.test_labels
    means = torch.stack([f[y == c].mean(0) for c in range(NUM_CLASSES)])
    pred = torch.cdist(f, means).argmin(1)
    tail = y >= 5
    return (pred[tail] == y[tail]).float().mean().item()
