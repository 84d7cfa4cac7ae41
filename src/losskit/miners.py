"""Miners: objects that pick the pairs or triplets of a labelled batch a loss should train on.

A miner is called like pytorch-metric-learning's, ``miner(embeddings, labels)`` or
``miner(embeddings, labels, ref_embeddings, ref_labels)`` (anchors from the batch, their
positives and negatives from a reference set), without gradient, and returns index tensors:
pairs ``(a1, p, a2, n)`` (anchor-positive and anchor-negative pairs) or triplets
``(a, p, n)``. Every pair-based loss of :mod:`losskit.functional.embedding` takes them as
``indices=`` (triplets become their two pairs), and :func:`~losskit.functional.batch_triplet_loss`
takes triplets::

    miner = losskit.miners.MultiSimilarityMiner(epsilon=0.1)
    loss = losskit.multi_similarity_loss(emb, labels, indices=miner(emb, labels))
    triplets = losskit.miners.BatchHardMiner()(emb, labels)
    loss = losskit.batch_triplet_loss(emb, labels, indices=triplets, margin=0.2)

Distances follow the losses' convention: ``distance="euclidean"`` (``||a - b||`` of the
embeddings as given) or ``"cosine"`` (``1 - cos``). pytorch-metric-learning's miners
normalise the embeddings by default (``LpDistance(normalize_embeddings=True)``): normalise
them first, or use ``"cosine"``, to mine the same pairs. Each miner states the peer it equals.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from ._checks import NonNegative, Positive, check_choice, make_check
from .functional._common import labelled_rows
from .functional._embedding_pairs import check_reference, multi_similarity_pairs
from .functional.distance import normalize, pairwise_cosine_similarity, pairwise_euclidean_distance

__all__ = [
    "Miner",
    "BatchHardMiner",
    "SemiHardMiner",
    "MultiSimilarityMiner",
    "PairMarginMiner",
    "DistanceWeightedMiner",
]

Distance = Literal["euclidean", "cosine"]
_DISTANCES = ("euclidean", "cosine")


def _checked_number(owner: str, name: str, value: object, annotation: object) -> None:
    check = make_check(annotation)
    if check is not None:
        check(owner, name, value)


class Miner:
    """Base of the miners: checks the batch (and reference set) and computes the ``(B, M)``
    distances, positive and negative masks once; subclasses select from them in
    :meth:`select`."""

    #: ``"pairs"`` (returns ``(a1, p, a2, n)``) or ``"triplets"`` (``(a, p, n)``)
    kind: str = "pairs"
    distance: str = "euclidean"

    def __call__(
        self, embeddings: Tensor, labels: Tensor, ref_embeddings: Tensor | None = None,
        ref_labels: Tensor | None = None,
    ) -> tuple[Tensor, ...]:  # fmt: skip
        """The mined indices; rows of ``embeddings`` are anchors, columns index the reference
        set (``embeddings`` itself when ``ref_embeddings`` is ``None``)."""
        fn = type(self).__name__
        labelled_rows(fn, embeddings, labels, weight=None, mask=None, ignore_index=None)
        check_reference(fn, embeddings, ref_embeddings, ref_labels)
        with torch.no_grad():
            x = embeddings.detach()
            same_set = ref_embeddings is None or ref_labels is None
            r = x if same_set else ref_embeddings.detach()  # type: ignore[union-attr]
            yr = labels if same_set else ref_labels
            same = labels.unsqueeze(1) == yr.unsqueeze(0)  # type: ignore[union-attr]
            pos, neg = same, ~same
            if same_set:
                eye = torch.eye(x.shape[0], dtype=torch.bool, device=x.device)
                pos = pos & ~eye
            return self.select(self._distances(x, r, same_set), pos, neg)

    def _distances(self, x: Tensor, r: Tensor, same_set: bool) -> Tensor:
        if self.distance == "cosine":
            return 1.0 - pairwise_cosine_similarity(x, None if same_set else r)
        return pairwise_euclidean_distance(x, None if same_set else r)

    def select(self, dist: Tensor, pos: Tensor, neg: Tensor) -> tuple[Tensor, ...]:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def _pairs(pos: Tensor, neg: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    a1, p = pos.nonzero(as_tuple=True)
    a2, n = neg.nonzero(as_tuple=True)
    return a1, p, a2, n


class BatchHardMiner(Miner):
    """Batch-hard triplets (Hermans et al.): per anchor, its farthest positive and its closest
    negative; one triplet per anchor that has both.

    Args:
        distance: ``"euclidean"`` (default) or ``"cosine"``.

    Returns ``(a, p, n)``, sorted by anchor. Equals pytorch-metric-learning's
    ``BatchHardMiner`` (with ``LpDistance(normalize_embeddings=False)`` for ``"euclidean"``,
    ``CosineSimilarity`` for ``"cosine"``) on tie-free data; at a tie both take the first
    index. The same triplets as ``mine_triplets(mining="hard")``.

    Example:
        >>> import torch
        >>> x = torch.tensor([[0.0], [1.0], [1.5], [4.0]])
        >>> [t.tolist() for t in BatchHardMiner()(x, torch.tensor([0, 0, 1, 1]))]
        [[0, 1, 2, 3], [1, 0, 3, 2], [2, 2, 1, 1]]
    """

    kind = "triplets"

    def __init__(self, *, distance: Distance = "euclidean") -> None:
        self.distance = str(check_choice("BatchHardMiner", "distance", distance, _DISTANCES))

    def select(self, dist: Tensor, pos: Tensor, neg: Tensor) -> tuple[Tensor, ...]:
        valid = pos.any(1) & neg.any(1)
        p = torch.where(pos, dist, -math.inf).argmax(1)
        n = torch.where(neg, dist, math.inf).argmin(1)
        a = torch.arange(dist.shape[0], device=dist.device)
        return a[valid], p[valid], n[valid]


class SemiHardMiner(Miner):
    """Semi-hard triplets (FaceNet): every ``(a, p, n)`` whose negative is farther than the
    positive but inside the margin, ``d_ap < d_an <= d_ap + margin``.

    Args:
        margin: ``>= 0``, the width of the window; default 0.2.
        distance: ``"euclidean"`` (default) or ``"cosine"``.

    Returns ``(a, p, n)``, sorted by anchor, then positive, then negative; ``O(B^3)`` output
    at most, by nature. Equals pytorch-metric-learning's ``TripletMarginMiner(margin,
    type_of_triplets="semihard")`` (its window, closed at ``d_ap + margin``).

    Example:
        >>> import torch
        >>> x = torch.tensor([[0.0], [1.0], [1.5], [4.0]])
        >>> [t.tolist() for t in SemiHardMiner(margin=1.0)(x, torch.tensor([0, 0, 1, 1]))]
        [[0, 3], [1, 2], [2, 1]]
    """

    kind = "triplets"

    def __init__(self, *, margin: NonNegative = 0.2, distance: Distance = "euclidean") -> None:
        _checked_number("SemiHardMiner", "margin", margin, NonNegative)
        self.margin = float(margin)
        self.distance = str(check_choice("SemiHardMiner", "distance", distance, _DISTANCES))

    def select(self, dist: Tensor, pos: Tensor, neg: Tensor) -> tuple[Tensor, ...]:
        b = dist.shape[0]
        k = max(1, (1 << 22) // max(1, dist.shape[1] ** 2))
        out: list[tuple[Tensor, Tensor, Tensor]] = []
        for s in range(0, b, k):
            rows = slice(s, min(s + k, b))
            d_ap, d_an = dist[rows].unsqueeze(2), dist[rows].unsqueeze(1)
            gap = d_an - d_ap
            keep = pos[rows].unsqueeze(2) & neg[rows].unsqueeze(1) & (gap > 0)
            keep = keep & (gap <= self.margin)
            a, p, n = keep.nonzero(as_tuple=True)
            out.append((a + s, p, n))
        if not out:
            empty = torch.zeros(0, dtype=torch.long, device=dist.device)
            return empty, empty, empty
        return tuple(torch.cat(parts) for parts in zip(*out, strict=True))


class MultiSimilarityMiner(Miner):
    """Multi-similarity pair mining (Wang et al. 2019), on cosine similarities: a positive
    pair is kept when ``s_ap - epsilon < max_n s_an``, a negative pair when
    ``s_an + epsilon > min_p s_ap``.

    Args:
        epsilon: ``>= 0``, the slack; default 0.1.

    Returns pairs ``(a1, p, a2, n)`` in row-major order. The same pairs as
    pytorch-metric-learning's ``MultiSimilarityMiner(epsilon)`` (which lists each row's pairs
    in order of similarity); ``multi_similarity_loss(mining_margin=epsilon)`` mines
    the same pairs inside the loss (and then also in its chunked path).

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6], [0.6, 0.8]])
        >>> a1, p, a2, n = MultiSimilarityMiner(epsilon=0.1)(x, torch.tensor([0, 0, 1, 1]))
        >>> a1.tolist(), p.tolist()  # (2, 3) at cos 0.96 is easier than every negative
        ([0, 1], [1, 0])
    """

    distance = "cosine"

    def __init__(self, *, epsilon: NonNegative = 0.1) -> None:
        _checked_number("MultiSimilarityMiner", "epsilon", epsilon, NonNegative)
        self.epsilon = float(epsilon)

    def select(self, dist: Tensor, pos: Tensor, neg: Tensor) -> tuple[Tensor, ...]:
        p, n = multi_similarity_pairs(1.0 - dist, pos, neg, self.epsilon)
        return _pairs(p, n)


class PairMarginMiner(Miner):
    """Pairs that violate their margin: positive pairs farther than ``pos_margin``, negative
    pairs closer than ``neg_margin``.

    Args:
        pos_margin: positive pairs with ``d > pos_margin`` are kept; default 0.2.
        neg_margin: negative pairs with ``d < neg_margin`` are kept; default 0.8.
        distance: ``"euclidean"`` (default) or ``"cosine"`` (``1 - cos``).

    Returns pairs ``(a1, p, a2, n)`` in row-major order. Equals pytorch-metric-learning's
    ``PairMarginMiner(pos_margin, neg_margin)`` with ``LpDistance(normalize_embeddings=
    False)``; with ``CosineSimilarity`` its margins are similarities: ``PairMarginMiner(0.8,
    0.3)`` there is ``PairMarginMiner(pos_margin=0.2, neg_margin=0.7, distance="cosine")``.

    Example:
        >>> import torch
        >>> x = torch.tensor([[0.0], [1.0], [0.5], [3.0]])
        >>> [t.tolist() for t in PairMarginMiner(pos_margin=0.5, neg_margin=1.0)(
        ...     x, torch.tensor([0, 0, 1, 1]))]
        [[0, 1, 2, 3], [1, 0, 3, 2], [0, 1, 2, 2], [2, 2, 0, 1]]
    """

    def __init__(
        self, *, pos_margin: float = 0.2, neg_margin: float = 0.8,
        distance: Distance = "euclidean",
    ) -> None:  # fmt: skip
        for name, v in (("pos_margin", pos_margin), ("neg_margin", neg_margin)):
            _checked_number("PairMarginMiner", name, v, float)
        self.pos_margin, self.neg_margin = float(pos_margin), float(neg_margin)
        self.distance = str(check_choice("PairMarginMiner", "distance", distance, _DISTANCES))

    def select(self, dist: Tensor, pos: Tensor, neg: Tensor) -> tuple[Tensor, ...]:
        return _pairs(pos & (dist > self.pos_margin), neg & (dist < self.neg_margin))


class DistanceWeightedMiner(Miner):
    """Distance-weighted sampling (Wu et al. 2017): for every anchor-positive pair, one
    negative drawn with probability ``1 / q(d)``, the inverse of the density of distances
    between random points of the unit sphere in ``D`` dimensions.

    ``q(d) ~ d^(D-2) (1 - d^2/4)^((D-3)/2)``; the distances are those of the normalised
    embeddings, clipped below at ``cutoff`` (against the variance of tiny distances), and
    negatives at ``d >= nonzero_loss_cutoff`` (which give no loss) are never drawn. An
    anchor whose negatives are all out of reach draws none.

    Args:
        cutoff: ``> 0``, the smallest distance the weights see; default 0.5.
        nonzero_loss_cutoff: ``> 0``, negatives at this distance or farther are not drawn;
            default 1.4.
        generator: a ``torch.Generator`` for the draws; default ``None`` (the global one).

    Returns ``(a, p, n)``: one triplet per anchor-positive pair, sorted by anchor and
    positive. pytorch-metric-learning's ``DistanceWeightedMiner`` uses the same weights
    (tested) but draws its positives at random too; losskit takes every positive once.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(8, 16, generator=g)
        >>> a, p, n = DistanceWeightedMiner(generator=g)(x, torch.arange(8) % 2)
        >>> len(a) <= 24, bool((x.new_tensor(0) + (torch.arange(8) % 2)[a] != (torch.arange(8) % 2)[n]).all())
        (True, True)
    """

    kind = "triplets"

    def __init__(
        self, *, cutoff: Positive = 0.5, nonzero_loss_cutoff: Positive = 1.4,
        generator: torch.Generator | None = None,
    ) -> None:  # fmt: skip
        for name, v in (("cutoff", cutoff), ("nonzero_loss_cutoff", nonzero_loss_cutoff)):
            _checked_number("DistanceWeightedMiner", name, v, Positive)
        self.cutoff, self.nonzero_loss_cutoff = float(cutoff), float(nonzero_loss_cutoff)
        self.generator = generator

    def _distances(self, x: Tensor, r: Tensor, same_set: bool) -> Tensor:
        xn = normalize(x)
        return pairwise_euclidean_distance(xn, None if same_set else normalize(r))

    def weights(self, dist: Tensor, neg: Tensor, dim: int) -> Tensor:
        """Row-normalised sampling weights of the negatives (0 elsewhere and where a row has
        none)."""
        d = dist.clamp_min(self.cutoff)
        # log of 1 / q(d); at d = 2 (antipodal points, 1 - d^2/4 = 0) it is infinite: not drawn
        log_w = (2.0 - dim) * torch.log(d) - (dim - 3) / 2.0 * torch.log(1.0 - 0.25 * d * d)
        ok = neg & (d < self.nonzero_loss_cutoff) & torch.isfinite(log_w)
        log_w = torch.where(ok, log_w, -math.inf)
        top = log_w.amax(1, keepdim=True)
        w = torch.where(ok, torch.exp(log_w - torch.where(ok.any(1, keepdim=True), top, 0.0)), 0.0)
        total = w.sum(1, keepdim=True)
        return torch.where(total > 0, w / torch.where(total > 0, total, 1.0), 0.0)

    def __call__(
        self, embeddings: Tensor, labels: Tensor, ref_embeddings: Tensor | None = None,
        ref_labels: Tensor | None = None,
    ) -> tuple[Tensor, ...]:  # fmt: skip
        self._dim = embeddings.shape[1] if embeddings.dim() == 2 else 0
        return super().__call__(embeddings, labels, ref_embeddings, ref_labels)

    def select(self, dist: Tensor, pos: Tensor, neg: Tensor) -> tuple[Tensor, ...]:
        w = self.weights(dist.double(), neg, self._dim)
        a, p = pos.nonzero(as_tuple=True)
        drawable = w[a].sum(1) > 0
        a, p = a[drawable], p[drawable]
        if a.numel() == 0:
            return a, p, p.clone()
        n = torch.multinomial(w[a].cpu(), 1, generator=self.generator).squeeze(1).to(a.device)
        return a, p, n
