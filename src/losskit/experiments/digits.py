"""The digits experiment: one small network, twenty-two losses, the features they learn.

scikit-learn's bundled digits (8 x 8 images, 1,797 samples, 10 classes; shipped with the
package, nothing is downloaded) are split 70/30, stratified, with a fixed seed. A small MLP
(64 -> 128 -> 128 -> D, PReLU) ends in a D = 2 or D = 3 feature layer, as in the center-loss
and SphereFace papers' MNIST figures, and is trained with each embedding, constraint and
angular-margin loss of the study notes, the metric-learning losses SupCon, multi-similarity and
Proxy-Anchor, and the face heads after ArcFace (AdaFace, CurricularFace, MagFace, ElasticFace,
UniFace). For every loss the test features are scored by:

* **accuracy**: the loss's own classifier (argmax of its logits or cosines; Proxy-Anchor's
  nearest proxy); for the pure embedding losses (contrastive, triplet, SupCon,
  multi-similarity) the nearest class mean of the training features;
* **intra angle**: mean angle between a feature and its class's mean direction (degrees);
* **inter angle**: smallest angle between two class mean directions (degrees);
* **ratio**: intra / inter (smaller = tighter classes and wider gaps);
* **euclid ratio**: mean distance to the class mean / mean distance between class means
  (scale-free Euclidean compactness);
* **TAR@FAR=1e-2**: verification from the cosine of every test pair: the threshold admits 1 %
  of different-class pairs; TAR is the fraction of same-class pairs above it.

:func:`run_noise` relates the feature norm to image quality: ArcFace, AdaFace and MagFace
trained on digits with added noise (:func:`add_noise`), each test image scored at several noise
levels, Spearman's correlation of feature norm and noise.

Everything runs on one CPU thread with fixed seeds, so the numbers are the same on every run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as TF
from torch import Tensor, nn

from .. import functional as F
from .. import nn as lnn

NUM_CLASSES = 10
#: MagFace's norm bounds and margins, rescaled to the small norms of a 3-D feature layer
MAGFACE: dict[str, Any] = dict(
    min_norm=1.0, max_norm=20.0, min_margin=0.1, max_margin=0.4, reg_weight=3.5
)
#: Proxy-Anchor's proxies learn at this multiple of the backbone's rate (its paper: 100x)
PROXY_LR_MULT = 10.0
MAGFACE_SETTINGS = "scale 16, margin 0.1-0.4 rad over norms 1-20, reg 3.5"
QUICK_EPOCHS = 25
FULL_EPOCHS = 60
#: the feature dimensions trained: the full run draws the 2-D features raw and the 3-D ones on
#: the sphere; the quick run trains the 3-D ones only (half the training)
FULL_DIMS: tuple[int, ...] = (2, 3)
QUICK_DIMS: tuple[int, ...] = (3,)


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
    LossSetup("SupCon", "embedding", "temperature 0.1"),
    LossSetup("multi-similarity", "embedding", "pos 2, neg 50, base 0.5, mined (epsilon 0.1)"),
    LossSetup("Proxy-Anchor", "classifier", "margin 0.1, scale 32; nearest proxy predicts"),
    LossSetup("AdaFace", "classifier", "scale 16, margin 0.25 rad, h 0.333"),
    LossSetup("CurricularFace", "classifier", "scale 16, margin 0.25 rad"),
    LossSetup("MagFace", "classifier", MAGFACE_SETTINGS),
    LossSetup("ElasticFace", "classifier", "Arc form, scale 16, margin 0.25 rad, sigma 0.05"),
    LossSetup("UniFace", "classifier", "scale 16, cos margin 0.25, negative weight 0.1"),
)

#: the losses of the metric-learning and face-recognition issues (SupCon onward): the full
#: run trains them at 2-D and 3-D; the quick run trains those of QUICK_NEW_LOSSES at 3-D only
#: (none: the quick run stays as cheap as before they came, and checks the face heads in the
#: noise experiment, :func:`run_noise`, alone)
NEW_LOSSES: tuple[str, ...] = tuple(s.name for s in LOSSES[14:])
QUICK_NEW_LOSSES: tuple[str, ...] = ()
#: the losses the quick run trains (3-D, :data:`QUICK_EPOCHS`): the ones its claims compare
#: (softmax against center loss and the normalised margin losses, COCO against NormFace)
QUICK_LOSSES: tuple[str, ...] = ("softmax", "center", "COCO", "NormFace", "CosFace", "ArcFace")


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
    #: with ``noise_levels``: the noise fraction of every noisy test copy, the feature norm the
    #: network gives it, and the Spearman correlation of the two
    noise: Tensor | None = None
    noise_norms: Tensor | None = None
    norm_noise_rho: float | None = None


def digits_arrays() -> tuple[Tensor, Tensor]:
    """scikit-learn's bundled digits: ``(pixels (1797, 64) in 0..16 as float64, labels
    (1797,))``, the arrays ``sklearn.datasets.load_digits()`` returns.

    Read straight from the package's ``datasets/data/digits.csv.gz`` (the file
    ``load_digits`` parses the same way, pixels then label on each line) without importing
    scikit-learn: that import costs more than a second, in each of the report's processes;
    ``load_digits`` itself where the file is not there.
    """
    import gzip
    import importlib.util
    from pathlib import Path

    import numpy as np

    spec = importlib.util.find_spec("sklearn")  # finds the package, imports nothing
    roots = spec.submodule_search_locations if spec is not None else None
    path = Path(list(roots)[0], "datasets", "data", "digits.csv.gz") if roots else None
    if path is not None and path.is_file():
        with gzip.open(path, "rt", encoding="ascii") as f:
            table = np.loadtxt(f, delimiter=",")
        pixels, labels = table[:, :-1], table[:, -1].astype(np.int64)
    else:  # pragma: no cover - a scikit-learn that stores its data elsewhere
        from sklearn.datasets import load_digits

        bunch = load_digits()
        pixels, labels = bunch.data, bunch.target
    return torch.from_numpy(np.ascontiguousarray(pixels)), torch.from_numpy(labels)


def load_digits_split(seed: int = 0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Standardised digits, 70/30 stratified split: ``(x_train, y_train, x_test, y_test)``."""
    pixels, labels = digits_arrays()
    x = pixels.to(torch.float32) / 16.0
    y = labels.to(torch.long)
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
        elif name == "SupCon":
            self.heads["emb"] = lnn.SupConLoss(temperature=0.1)
        elif name == "multi-similarity":
            self.heads["emb"] = lnn.MultiSimilarityLoss(mining_margin=0.1)
        elif name == "Proxy-Anchor":
            self.heads["cls"] = lnn.ProxyAnchorLoss(c, dim, margin=0.1, scale=32.0)
        elif name == "AdaFace":
            self.heads["cls"] = lnn.AdaFaceLoss(c, dim, margin=0.25, scale=16.0)
        elif name == "CurricularFace":
            self.heads["cls"] = lnn.CurricularFaceLoss(c, dim, margin=0.25, scale=16.0)
        elif name == "MagFace":
            self.heads["cls"] = lnn.MagFaceLoss(c, dim, scale=16.0, **MAGFACE)
        elif name == "ElasticFace":
            self.heads["cls"] = lnn.ElasticArcFaceLoss(
                c, dim, margin=0.25, sigma=0.05, scale=16.0,
                generator=torch.Generator().manual_seed(0),
            )  # fmt: skip
        elif name == "UniFace":
            self.heads["cls"] = lnn.UniFaceLoss(
                c, dim, cos_margin=0.25, scale=16.0, negative_weight=0.1
            )
        #: the head's learning rate over the backbone's (Proxy-Anchor's proxies: larger, as
        #: its paper trains them)
        self.head_lr_mult = PROXY_LR_MULT if name == "Proxy-Anchor" else 1.0
        self.weights = {"center": 0.1, "center invariant": 0.1, "range": 0.05, "ring": 0.01}

    def loss(self, f: Tensor, y: Tensor, step: int) -> Tensor:
        n = self.name
        if n == "contrastive":
            return F.batch_contrastive_loss(f, y, margin=2.0)
        if n == "triplet":
            return F.batch_triplet_loss(f, y, margin=0.5, mining="all", mean_over="active")
        if "emb" in self.heads:
            return self.heads["emb"](f, y)
        head = self.heads["cls"]
        if self.schedule is not None:
            assert isinstance(head, (lnn.LSoftmaxLoss, lnn.SphereFaceLoss))  # the annealed heads
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
        assert isinstance(w, Tensor)  # every classifier head holds its centres
        bias = getattr(head, "bias", None)  # a Parameter, None, or absent (None)
        if self.name in ("softmax", "center", "center invariant", "range", "ring", "L-Softmax"):
            logits = f @ w.T
            if isinstance(bias, Tensor):
                logits = logits + bias
            return logits.argmax(1)
        if self.name == "L2-Softmax":
            logits = TF.normalize(f, dim=1) @ w.T
            if isinstance(bias, Tensor):
                scale = head.scale
                assert isinstance(scale, (float, Tensor))  # a number, or learned
                logits = logits + bias / scale
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


def rank(x: Tensor) -> Tensor:
    """Ranks 1..n of a 1-D tensor, tied values sharing their mean rank."""
    _, inverse, counts = torch.unique(x, sorted=True, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    return (ends - (counts.double() - 1) / 2)[inverse]


def spearman(a: Tensor, b: Tensor) -> float:
    """Spearman's rank correlation of two 1-D tensors (Pearson's of their tie-averaged ranks)."""
    ra, rb = rank(a), rank(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return (ra @ rb / (ra.norm() * rb.norm()).clamp_min(1e-300)).item()


def add_noise(x: Tensor, level: Tensor | float, generator: torch.Generator) -> Tensor:
    """``sqrt(1 - a^2) x + a n`` with Gaussian ``n`` and noise fraction ``a = level`` in
    ``[0, 1]``: the image's quality falls with ``a`` while its power stays the same (the
    pixels are standardised: std 1), so the feature norm cannot just follow the input's."""
    a = torch.as_tensor(level, dtype=x.dtype)
    return (1 - a * a).sqrt() * x + a * torch.randn(x.shape, generator=generator)


def noisy_copies(x: Tensor, levels: tuple[float, ...], seed: int = 1) -> tuple[Tensor, Tensor]:
    """Every image of ``x`` once per noise level (:func:`add_noise`): ``(images, level of
    each)``."""
    g = torch.Generator().manual_seed(seed)
    xs = torch.cat([add_noise(x, lv, g) for lv in levels])
    lv = torch.tensor(levels, dtype=x.dtype).repeat_interleave(len(x))
    return xs, lv


def train_one(
    name: str,
    dim: int,
    data: tuple[Tensor, Tensor, Tensor, Tensor],
    *,
    epochs: int,
    seed: int = 0,
    batch_size: int = 128,
    train_noise: float = 0.0,
    noise_levels: tuple[float, ...] | None = None,
) -> Result:
    """Train the backbone with one loss and score its test features.

    ``train_noise > 0`` adds noise to every training image (:func:`add_noise`), its fraction
    drawn per image uniformly from ``[0, train_noise]`` (images of every quality);
    ``noise_levels`` also scores the feature norm of the test images at each of these noise
    fractions (:func:`noisy_copies`) against the noise: ``Result.norm_noise_rho``.
    """
    x_tr, y_tr, x_te, y_te = data
    torch.manual_seed(seed)
    net = _backbone(dim)
    trainer = _Trainer(name, dim)
    head_params = [p for p in trainer.heads.parameters() if p.requires_grad]
    groups: list[dict[str, Any]] = [{"params": list(net.parameters())}]
    if head_params:
        groups.append({"params": head_params, "lr": 5e-3 * trainer.head_lr_mult})
    # foreach: the same numbers as the per-tensor loop, a little faster
    opt = torch.optim.Adam(groups, lr=5e-3, foreach=True)
    # step decay: x0.1 for the last 30 % of the epochs
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[int(0.7 * epochs)], gamma=0.1)
    g = torch.Generator().manual_seed(seed)
    step = 0
    for _ in range(epochs):
        perm = torch.randperm(len(y_tr), generator=g)
        for i in range(0, len(perm), batch_size):
            idx = perm[i : i + batch_size]
            x = x_tr[idx]
            if train_noise > 0:
                x = add_noise(x, train_noise * torch.rand(len(idx), 1, generator=g), g)
            f = net(x)
            loss = trainer.loss(f, y_tr[idx], step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
        sched.step()
    net.eval()
    with torch.no_grad():
        f_te = net(x_te)
        if "cls" not in trainer.heads:  # the pure embedding losses: nearest class mean
            f_tr = net(x_tr)
            means = torch.stack([f_tr[y_tr == c].mean(0) for c in range(NUM_CLASSES)])
            pred = torch.cdist(f_te, means).argmin(1)
        else:
            pred = trainer.predict(f_te)
        noise = norms = rho = None
        if noise_levels is not None:
            x_noisy, noise = noisy_copies(x_te, noise_levels)
            norms = net(x_noisy).norm(dim=1)
            rho = spearman(norms, noise)
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
        noise=noise,
        noise_norms=norms,
        norm_noise_rho=rho,
    )


def run(
    *,
    quick: bool = False,
    dims: tuple[int, ...] | None = None,
    losses: tuple[str, ...] | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> list[Result]:
    """Every loss at every feature dimension (``dims``, default :data:`FULL_DIMS`, in the
    quick run :data:`QUICK_DIMS`); the quick run's losses default to :data:`QUICK_LOSSES`.
    Deterministic (one thread, fixed seeds)."""
    if dims is None:
        dims = QUICK_DIMS if quick else FULL_DIMS
    if losses is None:
        losses = QUICK_LOSSES if quick else tuple(s.name for s in LOSSES)
    names = list(losses)
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
        jobs = [(n, d) for d in dims for n in names if not (quick and n in NEW_LOSSES)]
        if quick and 3 in dims:  # the newer losses: a subset, at 3-D only
            jobs += [(n, 3) for n in names if n in QUICK_NEW_LOSSES]
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


#: the noise experiment: ArcFace (whose norm no loss term sets) and the two heads that read the
#: feature norm as image quality, trained and tested on digits with added noise
NOISE_LOSSES: tuple[str, ...] = ("ArcFace", "AdaFace", "MagFace")
#: the training images' noise fraction is drawn from [0, TRAIN_NOISE]; the test set is scored
#: at each of NOISE_LEVELS (see :func:`add_noise`)
TRAIN_NOISE = 0.9
NOISE_LEVELS: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8)
QUICK_NOISE_EPOCHS = 12


def run_noise(
    *, quick: bool = False, dim: int = 3, progress: Callable[[str, float], None] | None = None
) -> list[Result]:
    """Feature norm against image quality: each of :data:`NOISE_LOSSES` trained on noisy
    digits, its test features scored at every noise level (``Result.norm_noise_rho``:
    Spearman's correlation of feature norm and noise fraction; negative when the norm falls
    as the image gets worse). Deterministic, one thread."""
    epochs = QUICK_NOISE_EPOCHS if quick else FULL_EPOCHS
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = load_digits_split()
        out = []
        for i, n in enumerate(NOISE_LOSSES):
            if progress:
                progress(f"digits: {n} on noisy digits", i / len(NOISE_LOSSES))
            out.append(
                train_one(
                    n, dim, data, epochs=epochs, train_noise=TRAIN_NOISE, noise_levels=NOISE_LEVELS
                )
            )
        return out
    finally:
        torch.set_num_threads(threads)
