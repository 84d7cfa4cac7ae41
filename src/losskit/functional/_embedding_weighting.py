"""Pair-weighting losses over a labelled batch: multi-similarity (with its pair mining) and
circle loss. Re-exported by :mod:`losskit.functional.embedding`.

Both score pairs by cosine similarity (embeddings normalised inside, pytorch-metric-learning's
default ``CosineSimilarity``) and read only the anchor's own row of the similarity matrix, so
they take ``chunk_size=`` (blocks of anchor rows, never the whole matrix, see
:mod:`losskit.functional._embedding_pairs`) and ``ref_embeddings``/``ref_labels``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from .._api import DEFAULT, LossModule, checked, field
from .._checks import (
    Mask,
    NonNegative,
    Positive,
    PositiveInt,
    Weight,
    check_floating,
    check_same_device,
    compute_dtype,
)
from .._reduction import Reduction, zero_excluded
from ._common import labelled_rows
from ._embedding_pairs import (
    circle_rows,
    generalized_lifted_rows,
    masked_logsumexp,
    multi_similarity_rows,
    pair_loss,
    reduce_counted,
)
from .distance import normalize, pairwise_euclidean_distance

__all__ = [
    "multi_similarity_loss",
    "circle_loss",
    "margin_loss",
    "lifted_structure_loss",
    "generalized_lifted_structure_loss",
    "MultiSimilarityLoss",
    "CircleLoss",
    "MarginLoss",
    "LiftedStructureLoss",
    "GeneralizedLiftedStructureLoss",
]

GradMode = Literal["exact", "straight_through"]


@checked
def multi_similarity_loss(
    embeddings: Tensor, labels: Tensor, ref_embeddings: Tensor | None = None,
    ref_labels: Tensor | None = None, indices: tuple[Tensor, ...] | None = None, *, pos_scale: Positive = 2.0, neg_scale: Positive = 50.0,
    base: float = 0.5, mining_margin: NonNegative | None = None,
    chunk_size: PositiveInt | None = None, ignore_index: int | None = -100,
    weight: Weight = None, mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Multi-similarity loss: every positive and negative pair of an anchor, each weighted by
    its own similarity and by its relation to the anchor's other pairs.

    Formula:
        l_i = 1/a log(1 + sum_{p in P(i)} e^{-a (s_ip - base)}) + 1/b log(1 + sum_{n in N(i)} e^{b (s_in - base)});  a = pos_scale, b = neg_scale, s = cos

    ``P(i)`` and ``N(i)`` are the anchor's positives and negatives, all of them
    (``mining_margin=None``), or those the paper's pair mining keeps (``mining_margin=eps``):
    a positive with ``s_ip - eps < max_n s_in`` (no easier than the hardest negative, with
    slack ``eps``) and a negative with ``s_in + eps > min_p s_ip``. An anchor without a
    positive (negative) has no positive (negative) term; with mining, an anchor without
    negatives keeps no positive and vice versa. The mean is over the anchors, those whose
    terms are empty included (as pytorch-metric-learning's ``MeanReducer``).

    When to use:
        Labelled batches (P classes x K samples) for retrieval embeddings: softly weights every
        pair by how hard it is, relative to the anchor's other pairs, instead of picking one
        triplet. The paper's recipe is pos_scale=2, neg_scale=50 (or 40), base=0.5 (or 1)
        with mining_margin=0.1.

    Args:
        embeddings: ``(B, D)`` embeddings (normalised inside).
        labels: ``(B,)`` integer identities (any integer dtype).
        ref_embeddings: optional ``(M, D)`` reference embeddings to take the pairs from
            instead of the batch; default ``None``.
        ref_labels: ``(M,)`` integer identities of ``ref_embeddings`` (required with them).
        indices: optional mined pairs ``(a1, p, a2, n)`` or triplets ``(a, p, n)`` (a miner's
            output, :mod:`losskit.miners`): only these pairs count, taken as listed (their
            labels are not re-read), less pairs of a sample with itself or with a left-out
            one; the rows index ``embeddings``, the columns the reference set. Held as two
            ``(B, M)`` bool masks. Default ``None``: every pair, by label.
        pos_scale: ``> 0``, the positive pairs' exponent weight (the paper's ``alpha``);
            default 2.
        neg_scale: ``> 0``, the negative pairs' exponent weight (the paper's ``beta``);
            default 50.
        base: the similarity offset ``lambda`` of both terms; default 0.5.
        mining_margin: ``>= 0``: mine pairs as above with this slack (the paper's
            ``epsilon``, 0.1); ``None`` (default): every pair.
        chunk_size: anchors per block of the similarity matrix (never held whole);
            ``None`` (default): one block.
        ignore_index: samples whose label equals it leave the batch; default -100.
        weight: optional non-negative ``(B,)`` anchor weights.
        mask: optional bool ``(B,)``; ``False`` = the sample leaves the batch.
        reduction: ``"none"`` (``(B,)``, per anchor), ``"mean"`` (default, over the anchors)
            or ``"sum"``.

    Returns:
        A scalar, or ``(B,)`` for ``"none"``.

    Raises:
        TypeError: non-floating embeddings, non-integer labels.
        ValueError: shapes other than ``(B, D)`` and ``(B,)``, a bad reference set, bad
            ``indices`` (lengths, out of range), scales
            that are not ``> 0``, a negative ``mining_margin``, a bad ``chunk_size``,
            ``weight`` or ``mask``.

    Equals pytorch-metric-learning's ``MultiSimilarityLoss(alpha=pos_scale, beta=neg_scale,
    base=base)``; with ``mining_margin=eps`` it equals that loss on the pairs of its
    ``MultiSimilarityMiner(epsilon=eps)``, computed inside the loss (so the chunked path
    mines too).

    Paper:
        Wang, Han, Huang, Dong, Scott, "Multi-Similarity Loss with General Pair Weighting for
        Deep Metric Learning", CVPR 2019, arXiv:1904.06627.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> # anchor 0: positive at cos 1, negative at cos 0; base 0.5:
        >>> # 1/2 log(1 + e^{-2 (0.5)}) + 1/50 log(1 + e^{50 (-0.5)})
        >>> multi_similarity_loss(x, torch.tensor([0, 0, 1]), reduction="none")[:2]
        tensor([0.1566, 0.1566])
    """
    return pair_loss(
        "multi_similarity_loss", multi_similarity_rows, embeddings, labels, ref_embeddings,
        ref_labels, indices, hyper=(pos_scale, neg_scale, base, mining_margin),
        chunk_size=chunk_size, ignore_index=ignore_index, weight=weight, mask=mask,
        reduction=reduction,
    )  # fmt: skip


@checked
def circle_loss(
    embeddings: Tensor, labels: Tensor, ref_embeddings: Tensor | None = None,
    ref_labels: Tensor | None = None, indices: tuple[Tensor, ...] | None = None, *, margin: NonNegative = 0.4, scale: Positive = 80.0,
    grad_mode: GradMode = "exact", chunk_size: PositiveInt | None = None,
    ignore_index: int | None = -100, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Circle loss (pair form): every positive and negative similarity re-weighted by how far
    it is from its own optimum, so the decision boundary is a circle.

    Formula:
        l_i = softplus( LSE_p [-g a_p (s_ip - 1 + m)] + LSE_n [g a_n (s_in - m)] );  a_p = [1 + m - s_ip]_+, a_n = [s_in + m]_+, g = scale, m = margin

    ``s`` are cosine similarities. An anchor without a positive or without a negative has no
    term: its loss is 0 and it leaves the mean, which is over the anchors that have both
    (pytorch-metric-learning's ``AvgNonZeroReducer`` gives the same count unless a loss
    underflows to exactly 0).

    ``grad_mode``: the paper (and its official code, and pytorch-metric-learning) treat the
    weights ``a_p``, ``a_n`` as constants in the backward pass: that is
    ``grad_mode="straight_through"``. ``"exact"`` (default, losskit's rule for every loss)
    differentiates them too: the value is the same, the gradient of the loss as written.

    When to use:
        Labelled batches for face recognition, re-identification or retrieval: a pair far
        from its optimum gets a larger weight, so training focuses on the pairs that are
        most wrong. Suggested margin=0.25, scale=256 (faces), scale=128 (re-id), margin=0.4,
        scale=80 (fine-grained retrieval).

    Args:
        embeddings: ``(B, D)`` embeddings (normalised inside).
        labels: ``(B,)`` integer identities (any integer dtype).
        ref_embeddings: optional ``(M, D)`` reference embeddings to take the pairs from
            instead of the batch; default ``None``.
        ref_labels: ``(M,)`` integer identities of ``ref_embeddings`` (required with them).
        indices: optional mined pairs ``(a1, p, a2, n)`` or triplets ``(a, p, n)`` (a miner's
            output, :mod:`losskit.miners`): only these pairs count, taken as listed (their
            labels are not re-read), less pairs of a sample with itself or with a left-out
            one; the rows index ``embeddings``, the columns the reference set. Held as two
            ``(B, M)`` bool masks. Default ``None``: every pair, by label.
        margin: ``m >= 0``, the relaxation: optima ``1 + m`` and ``-m``, margins ``1 - m``
            and ``m``; default 0.4.
        scale: ``g > 0``; default 80.
        grad_mode: ``"exact"`` (default) or ``"straight_through"`` (the paper's gradient,
            the weights detached).
        chunk_size: anchors per block of the similarity matrix (never held whole);
            ``None`` (default): one block.
        ignore_index: samples whose label equals it leave the batch; default -100.
        weight: optional non-negative ``(B,)`` anchor weights.
        mask: optional bool ``(B,)``; ``False`` = the sample leaves the batch.
        reduction: ``"none"`` (``(B,)``), ``"mean"`` (default, over the anchors with a
            positive and a negative) or ``"sum"``.

    Returns:
        A scalar, or ``(B,)`` for ``"none"``.

    Raises:
        TypeError: non-floating embeddings, non-integer labels.
        ValueError: shapes other than ``(B, D)`` and ``(B,)``, a bad reference set, bad
            ``indices`` (lengths, out of range), a
            negative ``margin``, a ``scale`` that is not ``> 0``, an unknown ``grad_mode``, a
            bad ``chunk_size``, ``weight`` or ``mask``.

    Equals pytorch-metric-learning's ``CircleLoss(m=margin, gamma=scale)`` in value; in
    gradient with ``grad_mode="straight_through"``.

    Paper:
        Sun, Cheng, Zhang, Zhang, Zheng, Wang, Wei, "Circle Loss: A Unified Perspective of
        Pair Similarity Optimization", CVPR 2020, arXiv:2002.10857.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> # anchor 0: s_p = 1, s_n = 0, m = 0.4, g = 1:
        >>> # softplus(-0.4 (1 - 0.6) + 0.4 (0 - 0.4)) = softplus(-0.32)
        >>> circle_loss(x, torch.tensor([0, 0, 1]), scale=1.0, reduction="none")
        tensor([0.5459, 0.5459, 0.0000])
    """
    return pair_loss(
        "circle_loss", circle_rows, embeddings, labels, ref_embeddings, ref_labels,
        indices, hyper=(margin, scale, grad_mode == "straight_through"),
        chunk_size=chunk_size, ignore_index=ignore_index, weight=weight, mask=mask,
        reduction=reduction,
    )  # fmt: skip


class MultiSimilarityLoss(LossModule, function=multi_similarity_loss):
    """Multi-similarity loss over a labelled batch: ``1/a log(1 + sum_p e^{-a (s_p - base)}) +
    1/b log(1 + sum_n e^{b (s_n - base)})`` per anchor.

    Args:
        pos_scale: ``> 0``; default 2.
        neg_scale: ``> 0``; default 50.
        base: the similarity offset; default 0.5.
        mining_margin: ``>= 0`` to mine pairs (the paper's ``epsilon``), ``None`` (default)
            for every pair.
        chunk_size: anchors per block of the similarity matrix (``None``: dense); default
            ``None``.
        ignore_index: samples with this label leave the batch; default -100.
        reduction: ``"none"`` (per anchor), ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(embeddings, labels, ref_embeddings=None, ref_labels=None, indices=None, *,
        weight=None, mask=None)``: ``(B, D)``, ``(B,)``, optionally ``(M, D)`` and ``(M,)``. Output: a
        scalar, or ``(B,)``.

    Paper:
        Wang et al., "Multi-Similarity Loss with General Pair Weighting for Deep Metric
        Learning", CVPR 2019, arXiv:1904.06627.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> MultiSimilarityLoss(reduction="sum")(x, torch.tensor([0, 0, 1]))
        tensor(0.3133)
    """

    pos_scale: Positive = DEFAULT
    neg_scale: Positive = DEFAULT
    base: float = DEFAULT
    mining_margin: NonNegative | None = DEFAULT
    chunk_size: PositiveInt | None = DEFAULT
    ignore_index: int | None = DEFAULT


class CircleLoss(LossModule, function=circle_loss):
    """Circle loss over a labelled batch: ``softplus(LSE_p -g a_p (s_p - 1 + m) + LSE_n g a_n
    (s_n - m))`` per anchor.

    Args:
        margin: ``m >= 0``; default 0.4.
        scale: ``g > 0``; default 80.
        grad_mode: ``"exact"`` (default) or ``"straight_through"`` (the paper's detached
            weights).
        chunk_size: anchors per block of the similarity matrix (``None``: dense); default
            ``None``.
        ignore_index: samples with this label leave the batch; default -100.
        reduction: ``"none"`` (per anchor), ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(embeddings, labels, ref_embeddings=None, ref_labels=None, indices=None, *,
        weight=None, mask=None)``: ``(B, D)``, ``(B,)``, optionally ``(M, D)`` and ``(M,)``. Output: a
        scalar, or ``(B,)``.

    Paper:
        Sun et al., "Circle Loss: A Unified Perspective of Pair Similarity Optimization",
        CVPR 2020, arXiv:2002.10857.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> CircleLoss(scale=1.0)(x, torch.tensor([0, 0, 1]))
        tensor(0.5459)
    """

    margin: NonNegative = DEFAULT
    scale: Positive = DEFAULT
    grad_mode: GradMode = DEFAULT
    chunk_size: PositiveInt | None = DEFAULT
    ignore_index: int | None = DEFAULT


@checked
def margin_loss(
    embeddings: Tensor, labels: Tensor, boundary: Tensor | float, *, margin: NonNegative = 0.2,
    ignore_index: int | None = -100, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Margin loss (Wu et al.): positive pairs inside, negative pairs outside a (learnable)
    distance boundary ``beta``, each with a margin, over every triplet of the batch.

    Formula:
        sum over triplets (a, p, n) of [d_ap - beta + margin]_+ + [beta - d_an + margin]_+, divided by the number of active terms

    ``d`` is the euclidean distance between the normalised embeddings (in ``[0, 2]``).
    Over all triplets an anchor's positive pair counts once per negative and its negative
    pair once per positive, so the sum is computed in ``O(B^2)`` from the pairs:
    ``L_a = |N(a)| sum_p [d_ap - beta + m]_+ + |P(a)| sum_n [beta - d_an + m]_+``, and
    ``"mean"`` divides by the active terms counted the same way (pytorch-metric-learning's
    ``DivisorReducer``). ``boundary`` may be a tensor that requires grad (the module learns
    it).

    When to use:
        Labelled batches, as an alternative to the triplet loss that needs no relative
        comparison: one learned boundary separates positive from negative distances; pair it
        with distance-weighted sampling (losskit.miners.DistanceWeightedMiner), as the paper.

    Args:
        embeddings: ``(B, D)`` embeddings (normalised inside).
        labels: ``(B,)`` integer identities (any integer dtype).
        boundary: ``beta``, the distance boundary: a number or a one-element tensor (learned
            by the module; the paper starts it at 1.2).
        margin: ``>= 0``, on both sides of the boundary; default 0.2.
        ignore_index: samples whose label equals it leave the batch; default -100.
        weight: optional non-negative ``(B,)`` anchor weights.
        mask: optional bool ``(B,)``; ``False`` = the sample leaves the batch.
        reduction: ``"none"`` (``(B,)``, each anchor's triplet sum), ``"mean"`` (default,
            over the active terms) or ``"sum"``.

    Returns:
        A scalar, or ``(B,)`` for ``"none"``.

    Raises:
        TypeError: non-floating embeddings, non-integer labels, a ``boundary`` that is not a
            number or a tensor.
        ValueError: shapes other than ``(B, D)`` and ``(B,)``, a ``boundary`` tensor of more
            than one element, a negative ``margin``, a bad ``weight``/``mask``.

    Equals pytorch-metric-learning's ``MarginLoss(margin, beta=boundary)`` (default
    normalising ``LpDistance``, all triplets). Its ``nu`` regulariser (``nu * beta``, added
    when it learns beta) is not part of this loss: add ``nu * module.boundary`` yourself.

    Paper:
        Wu, Manmatha, Smola, Krahenbuhl, "Sampling Matters in Deep Embedding Learning", ICCV
        2017, arXiv:1706.07567.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> # anchor 0: d_ap = 0, d_an = sqrt(2); boundary 1.2, margin 0.2:
        >>> # [0 - 1.0]_+ + [1.4 - 1.414]_+ = 0; anchor 2 has no positive
        >>> margin_loss(x, torch.tensor([0, 0, 1]), 1.2, reduction="sum")
        tensor(0.)
    """
    fn = "margin_loss"
    keep = labelled_rows(fn, embeddings, labels, weight=weight, mask=mask,
                         ignore_index=ignore_index)  # fmt: skip
    if isinstance(boundary, Tensor):
        check_floating(fn, "boundary", boundary)
        if boundary.numel() != 1:
            raise ValueError(
                f"{fn}: boundary must be a number or a one-element tensor; got shape "
                f"{tuple(boundary.shape)}"
            )
        check_same_device(fn, ("embeddings", embeddings), ("boundary", boundary))
    elif isinstance(boundary, bool) or not isinstance(boundary, (int, float)):
        raise TypeError(f"{fn}: boundary must be a number or a tensor; got {type(boundary).__name__}")
    out_dtype, work = embeddings.dtype, compute_dtype(embeddings)
    x = normalize(zero_excluded(embeddings.to(work), keep, 1))
    beta = boundary.to(work).reshape(()) if isinstance(boundary, Tensor) else boundary
    if x.shape[0] == 0:  # a shape, not a value: no graph break
        return reduce_counted(fn, x.sum(1) * 0.0, x.sum(1) * 0.0, reduction, out_dtype)
    d = pairwise_euclidean_distance(x)
    pos, neg = _pair_masks(labels, keep)
    n_pos, n_neg = pos.sum(1).to(work), neg.sum(1).to(work)
    t = torch.where(pos, torch.relu(d - beta + margin), 0.0)
    u = torch.where(neg, torch.relu(beta - d + margin), 0.0)
    loss = n_neg * t.sum(1) + n_pos * u.sum(1)
    active = n_neg * (t > 0).sum(1).to(work) + n_pos * (u > 0).sum(1).to(work)
    if weight is not None:
        loss, active = loss * weight.to(work), active * weight.to(work)
    return reduce_counted(fn, loss, active, reduction, out_dtype)


def _pair_masks(labels: Tensor, keep: Tensor | None) -> tuple[Tensor, Tensor]:
    """``(B, B)`` positive (same label, not itself) and negative pairs between kept samples."""
    same = labels.unsqueeze(1) == labels.unsqueeze(0)
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    pos, neg = same & ~eye, ~same
    if keep is not None:
        both = keep.unsqueeze(1) & keep.unsqueeze(0)
        pos, neg = pos & both, neg & both
    return pos, neg


class MarginLoss(LossModule, function=margin_loss, state=("boundary",)):
    """Margin loss with a learned boundary ``beta``: ``[d_ap - beta + m]_+ + [beta - d_an +
    m]_+`` over every triplet.

    Args:
        boundary: the boundary's initial value (a learned ``nn.Parameter``); default 1.2.
        margin: ``>= 0``; default 0.2.
        ignore_index: samples with this label leave the batch; default -100.
        reduction: ``"none"`` (per anchor), ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(B, D)`` and ``(B,)``.
        Output: a scalar, or ``(B,)``.

    Give ``boundary`` its own learning rate (the paper: 0.001 with SGD) and, for the paper's
    regulariser, add ``nu * module.boundary`` to the loss.

    Paper:
        Wu et al., "Sampling Matters in Deep Embedding Learning", ICCV 2017,
        arXiv:1706.07567.

    Example:
        >>> import torch
        >>> crit = MarginLoss(boundary=1.2)
        >>> crit.boundary
        Parameter containing:
        tensor(1.2000, requires_grad=True)
    """

    boundary: NonNegative = field(default=1.2)
    margin: NonNegative = DEFAULT
    ignore_index: int | None = DEFAULT

    def __post_init__(self) -> None:
        self.init_boundary = float(self.__dict__.pop("boundary"))
        # the field's number becomes a learnable 0-dim Parameter (a change of type mypy cannot
        # follow: the annotation is the constructor's)
        self.boundary = nn.Parameter(torch.empty(()))  # type: ignore[assignment]
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Set the boundary back to its initial value."""
        assert isinstance(self.boundary, Tensor)  # the Parameter made in __post_init__
        with torch.no_grad():
            self.boundary.fill_(self.init_boundary)


@checked
def lifted_structure_loss(
    embeddings: Tensor, labels: Tensor, *, margin: NonNegative = 1.0,
    pos_margin: NonNegative = 0.0, ignore_index: int | None = -100, weight: Weight = None,
    mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Lifted structure loss (Song et al.): every positive pair against all the negatives of
    both its ends, through a smooth maximum.

    Formula:
        J_ij = log( sum_{k in N(i)} e^{margin - d_ik} + sum_{l in N(j)} e^{margin - d_jl} ) + d_ij - pos_margin;  l = mean over positive pairs (i, j) of [J_ij]_+^2 / 2

    ``d`` is the euclidean distance between the normalised embeddings. Every ordered positive
    pair ``(i, j)`` is a term (so each unordered pair counts twice, hence the 1/2), booked to
    ``i`` under ``"none"``; ``"mean"`` divides by the number of ordered positive pairs. A pair
    whose ends have no negative at all has no smooth maximum: its ``J`` is ``d_ij -
    pos_margin``.

    When to use:
        Labelled batches where every positive pair should be pushed away from its hardest
        negatives (of either end) by a margin; a smooth, batch-wide alternative to the
        triplet loss. The generalized form (generalized_lifted_structure_loss) is the one
        Hermans et al. found to train better.

    Args:
        embeddings: ``(B, D)`` embeddings (normalised inside).
        labels: ``(B,)`` integer identities (any integer dtype).
        margin: ``>= 0``, the negatives' margin; default 1.
        pos_margin: ``>= 0``, subtracted from the positive distance; default 0.
        ignore_index: samples whose label equals it leave the batch; default -100.
        weight: optional non-negative ``(B,)`` anchor weights.
        mask: optional bool ``(B,)``; ``False`` = the sample leaves the batch.
        reduction: ``"none"`` (``(B,)``, each anchor's sum over its positive pairs),
            ``"mean"`` (default, over the ordered positive pairs) or ``"sum"``.

    Returns:
        A scalar, or ``(B,)`` for ``"none"``.

    Raises:
        TypeError: non-floating embeddings, non-integer labels.
        ValueError: shapes other than ``(B, D)`` and ``(B,)``, a negative margin, a bad
            ``weight``/``mask``.

    Equals pytorch-metric-learning's ``LiftedStructureLoss(neg_margin=margin,
    pos_margin)`` (default normalising ``LpDistance``), which returns 0 for a batch with no
    negative pair where losskit keeps the pairs' ``[d_ij - pos_margin]_+^2 / 2``.

    Paper:
        Oh Song, Xiang, Jegelka, Savarese, "Deep Metric Learning via Lifted Structured Feature
        Embedding", CVPR 2016, arXiv:1511.06452.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> # pair (0, 1): d = 0; negatives of 0 and of 1 at sqrt(2), margin 1:
        >>> # J = log(2 e^{1 - 1.414}) = 0.279, loss J^2 / 2 = 0.0389
        >>> lifted_structure_loss(x, torch.tensor([0, 0, 1]))
        tensor(0.0389)
    """
    fn = "lifted_structure_loss"
    keep = labelled_rows(fn, embeddings, labels, weight=weight, mask=mask,
                         ignore_index=ignore_index)  # fmt: skip
    out_dtype, work = embeddings.dtype, compute_dtype(embeddings)
    x = normalize(zero_excluded(embeddings.to(work), keep, 1))
    if x.shape[0] == 0:  # a shape, not a value: no graph break
        return reduce_counted(fn, x.sum(1) * 0.0, x.sum(1) * 0.0, reduction, out_dtype)
    d = pairwise_euclidean_distance(x)
    pos, neg = _pair_masks(labels, keep)
    lse, has_neg = masked_logsumexp(margin - d, neg)  # log S_i per row
    lse = torch.where(has_neg, lse, float("-inf"))
    both = torch.logaddexp(lse.unsqueeze(1), lse.unsqueeze(0))  # log(S_i + S_j)
    any_neg = has_neg.unsqueeze(1) | has_neg.unsqueeze(0)
    j = torch.where(pos & any_neg, both, 0.0) + d - pos_margin
    terms = torch.where(pos, torch.relu(j).square() / 2, 0.0)
    loss, count = terms.sum(1), pos.sum(1).to(work)
    if weight is not None:
        loss, count = loss * weight.to(work), count * weight.to(work)
    return reduce_counted(fn, loss, count, reduction, out_dtype)


@checked
def generalized_lifted_structure_loss(
    embeddings: Tensor, labels: Tensor, ref_embeddings: Tensor | None = None,
    ref_labels: Tensor | None = None, indices: tuple[Tensor, ...] | None = None, *,
    margin: NonNegative = 1.0, pos_margin: NonNegative = 0.0,
    chunk_size: PositiveInt | None = None, ignore_index: int | None = -100,
    weight: Weight = None, mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Generalized lifted structure loss (Hermans et al.): per anchor, a smooth maximum of its
    positive distances against a smooth minimum of its negative ones.

    Formula:
        l_a = [ log sum_{p in P(a)} e^{d_ap - pos_margin} + log sum_{n in N(a)} e^{margin - d_an} ]_+

    ``d`` is the euclidean distance between the normalised embeddings. An anchor without a
    positive or without a negative has no term: 0, and it leaves the mean (over the anchors
    that have both). ``chunk_size=k`` computes ``k`` anchors' rows at a time, never the
    whole matrix.

    When to use:
        Labelled batches: a soft batch-hard triplet loss (the log-sum-exps are smooth maxima),
        every pair contributing with a weight that grows with its hardness.

    Args:
        embeddings: ``(B, D)`` embeddings (normalised inside).
        labels: ``(B,)`` integer identities (any integer dtype).
        ref_embeddings: optional ``(M, D)`` reference embeddings to take the pairs from
            instead of the batch; default ``None``.
        ref_labels: ``(M,)`` integer identities of ``ref_embeddings`` (required with them).
        indices: optional mined pairs ``(a1, p, a2, n)`` or triplets ``(a, p, n)`` (a miner's
            output, :mod:`losskit.miners`): only these pairs count, taken as listed (their
            labels are not re-read), less pairs of a sample with itself or with a left-out
            one; the rows index ``embeddings``, the columns the reference set. Held as two
            ``(B, M)`` bool masks. Default ``None``: every pair, by label.
        margin: ``>= 0``, the negatives' margin; default 1.
        pos_margin: ``>= 0``, subtracted from the positive distances; default 0.
        chunk_size: anchors per block of the distance matrix (never held whole);
            ``None`` (default): one block.
        ignore_index: samples whose label equals it leave the batch; default -100.
        weight: optional non-negative ``(B,)`` anchor weights.
        mask: optional bool ``(B,)``; ``False`` = the sample leaves the batch.
        reduction: ``"none"`` (``(B,)``), ``"mean"`` (default, over the anchors with a
            positive and a negative) or ``"sum"``.

    Returns:
        A scalar, or ``(B,)`` for ``"none"``.

    Raises:
        TypeError: non-floating embeddings, non-integer labels.
        ValueError: shapes other than ``(B, D)`` and ``(B,)``, a bad reference set, bad
            ``indices`` (lengths, out of range), a negative margin, a bad ``chunk_size``,
            ``weight`` or ``mask``.

    Equals pytorch-metric-learning's ``GeneralizedLiftedStructureLoss(neg_margin=margin,
    pos_margin)`` wherever every anchor has a positive and a negative; PML gives an anchor
    that lacks one the other part alone (its masked log-sum-exp reads 0) and counts it in the
    mean.

    Paper:
        Hermans, Beyer, Leibe, "In Defense of the Triplet Loss for Person Re-Identification",
        arXiv:1703.07737; Oh Song et al., CVPR 2016, arXiv:1511.06452.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> # anchors 0, 1: positive at d = 0, negative at sqrt(2): [0 + 2 - 1.414]_+; anchor 2
        >>> # has no positive and leaves the mean
        >>> generalized_lifted_structure_loss(x, torch.tensor([0, 0, 1]), margin=2.0)
        tensor(0.5858)
    """
    return pair_loss(
        "generalized_lifted_structure_loss", generalized_lifted_rows, embeddings, labels,
        ref_embeddings, ref_labels, indices, hyper=(margin, pos_margin), chunk_size=chunk_size,
        ignore_index=ignore_index, weight=weight, mask=mask, reduction=reduction,
    )  # fmt: skip


class LiftedStructureLoss(LossModule, function=lifted_structure_loss):
    """Lifted structure loss: ``[log(sum_{N(i)} e^{m - d} + sum_{N(j)} e^{m - d}) + d_ij]_+^2 /
    2`` per positive pair.

    Args:
        margin: ``>= 0``, the negatives' margin; default 1.
        pos_margin: ``>= 0``; default 0.
        ignore_index: samples with this label leave the batch; default -100.
        reduction: ``"none"`` (per anchor), ``"mean"`` (default, over positive pairs) or
            ``"sum"``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(B, D)`` and ``(B,)``.
        Output: a scalar, or ``(B,)``.

    Paper:
        Oh Song et al., "Deep Metric Learning via Lifted Structured Feature Embedding", CVPR
        2016, arXiv:1511.06452.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> LiftedStructureLoss()(x, torch.tensor([0, 0, 1]))
        tensor(0.0389)
    """

    margin: NonNegative = DEFAULT
    pos_margin: NonNegative = DEFAULT
    ignore_index: int | None = DEFAULT


class GeneralizedLiftedStructureLoss(LossModule, function=generalized_lifted_structure_loss):
    """Generalized lifted structure loss: ``[LSE_p (d_ap - pos_margin) + LSE_n (margin -
    d_an)]_+`` per anchor.

    Args:
        margin: ``>= 0``, the negatives' margin; default 1.
        pos_margin: ``>= 0``; default 0.
        chunk_size: anchors per block of the distance matrix (``None``: dense); default
            ``None``.
        ignore_index: samples with this label leave the batch; default -100.
        reduction: ``"none"`` (per anchor), ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(embeddings, labels, ref_embeddings=None, ref_labels=None, indices=None, *,
        weight=None, mask=None)``: ``(B, D)``, ``(B,)``, optionally ``(M, D)`` and ``(M,)``.
        Output: a scalar, or ``(B,)``.

    Paper:
        Hermans, Beyer, Leibe, "In Defense of the Triplet Loss for Person Re-Identification",
        arXiv:1703.07737.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> GeneralizedLiftedStructureLoss(margin=2.0)(x, torch.tensor([0, 0, 1]))
        tensor(0.5858)
    """

    margin: NonNegative = DEFAULT
    pos_margin: NonNegative = DEFAULT
    chunk_size: PositiveInt | None = DEFAULT
    ignore_index: int | None = DEFAULT
