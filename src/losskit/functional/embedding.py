"""Feature-vector (embedding) losses: contrastive (DeepID2 / Hadsell, or pytorch-metric-learning's
unsquared hinges with ``form="hinge"``) on explicit pairs and over all pairs of a labelled batch, triplet on explicit triplets and over a labelled batch with
batch-all, batch-hard and semi-hard mining, and the miner itself; each loss as a function and
a module.

Exclusion and weights. The explicit-pair and explicit-triplet losses take a per-row
``weight`` and ``mask``. The batch losses take a per-sample ``mask`` (and ``ignore_index`` on
the labels): an excluded sample leaves the batch entirely, as anchor and as candidate, so the
result equals the loss of the kept samples alone. Their per-sample ``weight`` weighs each
anchor's share of the loss (``"none"`` is per sample).

Distances come from :mod:`losskit.functional.distance` (``"euclidean"``: ``||a - b||`` with a
safe square root, or its square; ``"cosine"``: ``1 - cos(a, b)``).

Memory. The batch losses never build a ``B x B x B`` tensor: batch-hard is two masked row
reductions of the ``B x B`` distance matrix (the chosen distances are then measured directly,
an ``O(B D)`` backward), and the hinge batch-all and semi-hard losses are
linear in that matrix with integer coefficients (how many triplets each distance is active in),
which one row sort counts (:func:`batch_triplet_loss` explains how): ``O(B^2)`` memory and
``O(B^2 log B)`` time. Only the soft-margin variant of batch-all and semi-hard, whose terms do
not count up that way, visits every triplet; it does so in anchor blocks that are recomputed
in the backward pass, so its memory stays ``O(B^2)`` while its time is ``O(B^3)``.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
import torch.nn.functional as TF
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from .._api import DEFAULT, LossModule, checked
from .._autograd import fused_apply, traced
from .._checks import (
    Mask,
    NonNegative,
    Weight,
    check_floating,
    check_integer,
    check_ndim,
    check_per_row,
    check_same_device,
    check_same_shape,
    check_tensor,
    compute_dtype,
)
from .._reduction import Reduction, exclusion, finish, reduce_loss, zero_excluded
from ._common import labelled_rows
from ._embedding_pairs import reduce_counted
from ._embedding_proxy import (
    ProxyAnchorLoss,
    ProxyNCALoss,
    SoftTripleLoss,
    proxy_anchor_loss,
    proxy_nca_loss,
    soft_triple_loss,
)
from ._embedding_softmax import (
    InfoNCELoss,
    NPairLoss,
    NTXentLoss,
    SupConLoss,
    info_nce_loss,
    n_pair_loss,
    nt_xent_loss,
    supcon_loss,
)
from ._embedding_ssl import BarlowTwinsLoss, VICRegLoss, barlow_twins_loss, vicreg_loss
from ._embedding_weighting import (
    CircleLoss,
    GeneralizedLiftedStructureLoss,
    LiftedStructureLoss,
    MarginLoss,
    MultiSimilarityLoss,
    circle_loss,
    generalized_lifted_structure_loss,
    lifted_structure_loss,
    margin_loss,
    multi_similarity_loss,
)
from .distance import (
    _scaled_square_distances,
    cosine_distance,
    euclidean_distance,
    pairwise_cosine_similarity,
    pairwise_euclidean_distance,
)

__all__ = [
    "contrastive_loss",
    "batch_contrastive_loss",
    "triplet_loss",
    "batch_triplet_loss",
    "mine_triplets",
    "nt_xent_loss",
    "info_nce_loss",
    "supcon_loss",
    "n_pair_loss",
    "multi_similarity_loss",
    "circle_loss",
    "proxy_anchor_loss",
    "proxy_nca_loss",
    "soft_triple_loss",
    "vicreg_loss",
    "barlow_twins_loss",
    "margin_loss",
    "lifted_structure_loss",
    "generalized_lifted_structure_loss",
    "ContrastiveLoss",
    "BatchContrastiveLoss",
    "TripletLoss",
    "BatchTripletLoss",
    "NTXentLoss",
    "InfoNCELoss",
    "SupConLoss",
    "NPairLoss",
    "MultiSimilarityLoss",
    "CircleLoss",
    "ProxyAnchorLoss",
    "ProxyNCALoss",
    "SoftTripleLoss",
    "VICRegLoss",
    "BarlowTwinsLoss",
    "MarginLoss",
    "LiftedStructureLoss",
    "GeneralizedLiftedStructureLoss",
]

Distance = Literal["euclidean", "cosine"]
ContrastiveForm = Literal["deepid2", "hinge"]
Mining = Literal["all", "hard", "semihard"]
MeanOver = Literal["all", "active"]
DISTANCES, MININGS, MEAN_OVER = get_args(Distance), get_args(Mining), get_args(MeanOver)

#: elements of one ``(chunk, B, B)`` block of the soft-margin triplet sums (64 MiB of float32)
_CHUNK_ELEMENTS = 1 << 24


# --------------------------------------------------------------------------- shared checks


def _check_squared(fn: str, distance: str, squared: bool) -> None:
    if squared and distance == "cosine":
        raise ValueError(
            f"{fn}: squared=True applies to the euclidean distance only; got distance='cosine'"
        )


def _check_rows(fn: str, names: tuple[str, ...], *xs: Tensor) -> None:
    """Floating ``(N, D)`` tensors of one shape, on one device."""
    for name, x in zip(names, xs, strict=True):
        check_floating(fn, name, x)
        check_ndim(fn, name, x, 2)
    for name, x in zip(names[1:], xs[1:], strict=True):
        check_same_shape(fn, xs[0], x, (names[0], name))
    check_same_device(fn, *zip(names, xs, strict=True))


def _row_distance(a: Tensor, b: Tensor, distance: str, squared: bool) -> Tensor:
    if distance == "cosine":
        return cosine_distance(a, b, dim=1)
    return euclidean_distance(a, b, dim=1, squared=squared)


def _distance_matrix(x: Tensor, distance: str, squared: bool) -> Tensor:
    if distance == "cosine":
        return 1.0 - pairwise_cosine_similarity(x)
    return pairwise_euclidean_distance(x, squared=squared)


# --------------------------------------------------------------------------- contrastive


def _contrastive_terms(
    d: Tensor, same: Tensor, margin: float, pos_margin: float, form: str
) -> Tensor:
    """Per pair: ``"deepid2"``: ``[d - m_p]_+^2 / 2`` (same) or ``[m - d]_+^2 / 2``
    (different); ``"hinge"``: the unsquared hinges ``[d - m_p]_+`` and ``[m - d]_+``."""
    pos = d if pos_margin == 0 else TF.relu(d - pos_margin)  # d >= 0: [d - 0]_+ = d
    neg = TF.relu(margin - d)
    if form == "hinge":
        return torch.where(same, pos, neg)
    return 0.5 * torch.where(same, pos.square(), neg.square())


@checked
def contrastive_loss(
    anchor: Tensor, paired: Tensor, target: Tensor, *, margin: NonNegative = 1.0,
    pos_margin: NonNegative = 0.0, form: ContrastiveForm = "deepid2",
    distance: Distance = "euclidean", weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Contrastive loss on explicit pairs: DeepID2 / Hadsell's squared form, or
    pytorch-metric-learning's unsquared hinges with separate positive and negative margins.

    Formula:
        form="deepid2": l_i = 1/2 max(0, d_i - pos_margin)^2 if pair i is the same identity, else 1/2 max(0, margin - d_i)^2;  form="hinge": max(0, d_i - pos_margin), else max(0, margin - d_i);  d_i = d(anchor_i, paired_i)

    A same pair is pulled together (once it is farther apart than ``pos_margin``, 0 by
    default); a different pair is pushed apart only while it is closer than ``margin``.
    ``form="deepid2"`` (default) is DeepID2's and Hadsell et al.'s loss: halved squared
    hinges, whose force grows with the violation. ``form="hinge"`` is a different formula,
    the unsquared hinges of pytorch-metric-learning's ``ContrastiveLoss(pos_margin,
    neg_margin)`` (``neg_margin`` is ``margin`` here): a constant force on every violating
    pair.

    When to use:
        Verification data that comes as pairs (same / not same). Same pairs are always pulled
        together; different pairs are pushed apart only inside the margin.

    Args:
        anchor: ``(N, D)`` embeddings, one side of each pair.
        paired: ``(N, D)`` embeddings, the other side: row ``i`` pairs with ``anchor[i]``.
        target: ``(N,)``; pair ``i`` is *same* where ``target[i] > 0``, so ``{1, 0}``,
            ``{1, -1}`` (DeepID2's and torch's ``CosineEmbeddingLoss`` convention) and booleans
            all work. Hadsell et al. write ``Y = 0`` for a *similar* pair: flip such labels.
        margin: ``>= 0``, the different pairs' margin, in the units of the distance; default 1.
        pos_margin: ``>= 0``, the same pairs' margin: distances below it cost nothing;
            default 0.
        form: ``"deepid2"`` (default, halved squared hinges) or ``"hinge"`` (unsquared,
            pytorch-metric-learning's form).
        distance: ``"euclidean"`` (default, ``||a - b||``) or ``"cosine"`` (``1 - cos``).
        weight: optional non-negative ``(N,)`` per-pair weights.
        mask: optional bool ``(N,)``; ``False`` = leave the pair out.
        reduction: ``"none"`` (``(N,)``), ``"mean"`` (default, ``sum(w l) / sum(w)``) or
            ``"sum"``.

    Returns:
        The loss in the dtype of ``anchor``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-tensor or non-floating embeddings.
        ValueError: mismatched shapes, a ``target``, ``weight`` or ``mask`` not of shape
            ``(N,)``, a negative ``margin``, an unknown ``distance`` or ``reduction``.

    ``form="hinge"`` equals pytorch-metric-learning's ``ContrastiveLoss(pos_margin,
    neg_margin=margin)`` pair by pair (``LpDistance(normalize_embeddings=False)``; PML's
    default distance normalises the embeddings first; with ``distance="cosine"`` PML's
    ``CosineSimilarity`` with margins ``1 - pos_margin`` and ``1 - margin``); PML's default
    ``AvgNonZeroReducer`` averages the non-zero same-pair and different-pair terms separately
    and adds the two means, losskit's ``"mean"`` is over all pairs.

    Paper:
        Sun, Chen, Wang, Tang, "Deep Learning Face Representation by Joint
        Identification-Verification", NeurIPS 2014, arXiv:1406.4773; Hadsell, Chopra, LeCun,
        "Dimensionality Reduction by Learning an Invariant Mapping", CVPR 2006.

    Example:
        >>> import torch
        >>> a = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
        >>> b = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
        >>> contrastive_loss(a, b, torch.tensor([1, 0]), margin=1.0, reduction="none")
        tensor([12.5000,  0.1250])
    """
    fn = "contrastive_loss"
    _check_rows(fn, ("anchor", "paired"), anchor, paired)
    check_tensor(fn, "target", target)
    n = anchor.shape[0]
    check_per_row(fn, "target", target, n)
    check_per_row(fn, "weight", weight, n)
    check_same_device(fn, ("anchor", anchor), ("target", target), ("weight", weight),
                      ("mask", mask))  # fmt: skip
    keep = exclusion(fn, (n,), mask=mask)
    out_dtype, work = anchor.dtype, compute_dtype(anchor)
    same = target > 0
    a, b = zero_excluded(anchor.to(work), keep, 1), zero_excluded(paired.to(work), keep, 1)
    # d itself (an overflow- and underflow-safe norm), squared after: the sum of squares
    # would underflow to 0 for tiny differences and lose the hinge's gradient
    loss = _contrastive_terms(_row_distance(a, b, distance, False), same, margin, pos_margin,
                              form)  # fmt: skip
    return finish(fn, loss, reduction, weight=weight, keep=keep, out_dtype=out_dtype)


def _batch_contrastive_shares(
    x: Tensor, same: Tensor, pair_ok: Tensor | None, distance: str,
    cfg: tuple[float, float, str],
) -> Tensor:  # fmt: skip
    """Each sample's half of its pairs' contrastive terms, ``1/2 sum_j L_ij`` (plain tensor
    operations)."""
    # d itself, squared after: d^2 through the scaled matrix would underflow to 0 (and lose
    # the hinge's gradient) for tiny embeddings and overflow for huge ones
    pair = _contrastive_terms(_distance_matrix(x, distance, False), same, *cfg)
    if pair_ok is not None:
        pair = torch.where(pair_ok, pair, 0.0)
    return 0.5 * pair.sum(1)  # sample i's half of each of its pairs' terms


class _BatchContrastive(torch.autograd.Function):
    """:func:`_batch_contrastive_shares` with the euclidean distance, its backward pass
    written by hand: the forward pass keeps ``K_ij = (d share_i / d d_ij) / d'_ij`` (0 where
    ``d'_ij = 0``, as ``safe_sqrt``'s gradient) with ``d' = d / s`` and ``a = x / s`` the
    distances and rows scaled by the largest magnitude ``s``, and since ``d d_ij / d x_i =
    (a_i - a_j) / d'_ij``, the gradient for per-sample gradients ``g`` is, with ``W = diag(g)
    K``, ``diag(W 1 + W^T 1) a - (W + W^T) a``: one matrix product and a few passes over
    ``B x B`` where autograd through the plain formulas makes some twenty. (In the unscaled
    space ``1 / d`` overflows for subnormal rows and their gradient was NaN.) Under
    ``create_graph=True`` the backward pass differentiates the plain formulas."""

    @staticmethod
    def plain(x: Tensor, same: Tensor, pair_ok: Tensor | None, cfg: tuple[float, float, str]
              ) -> Tensor:  # fmt: skip
        """The same result as plain operations (:func:`~losskit._autograd.fused_apply`)."""
        return _batch_contrastive_shares(x, same, pair_ok, "euclidean", cfg)

    @staticmethod
    def forward(
        ctx, x: Tensor, same: Tensor, pair_ok: Tensor | None, cfg: tuple[float, float, str]
    ) -> Tensor:
        margin, pos_margin, form = cfg
        # pairwise_euclidean_distance's: the rows scaled by the largest magnitude s first
        sq, s = _scaled_square_distances(x, x, True)
        d_ = sq.sqrt_()
        d = d_ * s
        hinge = form == "hinge"
        t_pos = d.sub(pos_margin).clamp_min_(0.0) if pos_margin else d
        t_neg = torch.rsub(d, margin).clamp_min_(0.0)
        # d pair / d d: deepid2 t_pos (same) and -t_neg; hinge [d > m_p] (1 for m_p = 0: the
        # term is d itself) and -[m - d > 0]
        if hinge:
            pair = torch.where(same, t_pos, t_neg)
            slope_pos = (t_pos > 0).to(d.dtype) if pos_margin else torch.ones_like(d)
            slope = torch.where(same, slope_pos, -(t_neg > 0).to(d.dtype))
        else:
            pair = torch.where(same, t_pos.square(), t_neg.square()).mul_(0.5)
            slope = torch.where(same, t_pos, t_neg.neg())
        if pair_ok is not None:
            pair = pair.masked_fill_(~pair_ok, 0.0)
            slope = slope.masked_fill_(~pair_ok, 0.0)
        share = pair.sum(1).mul_(0.5)
        if ctx.needs_input_grad[0]:
            # K = (1/2 slope) / d', 0 where d' = 0, in the scaled space (d = s d'): 1 / d
            # overflows for subnormal rows, and inf times their 0 differences is NaN
            k = slope.mul_(0.5).div_(d_.masked_fill_(d_ <= 0, float("inf")))
            ctx.save_for_backward(x, same, pair_ok, k, s)
            ctx.cfg = cfg
        return share

    @staticmethod
    def backward(ctx, g: Tensor):
        x, same, pair_ok, k, s = ctx.saved_tensors
        if torch.is_grad_enabled():
            # create_graph=True: differentiate the plain formulas, so the gradient has a graph
            share = _batch_contrastive_shares(x, same, pair_ok, "euclidean", ctx.cfg)
            (gx,) = torch.autograd.grad(share, x, g, create_graph=True)
            return gx, None, None, None
        w = k * g.to(k.dtype).unsqueeze(1)
        coef = w.sum(1).add_(w.sum(0))
        a = x / s  # d d_ij / d x_i = (a_i - a_j) / d'_ij
        gx = torch.mm(w + w.T, a).neg_().addcmul_(coef.unsqueeze(1), a)
        return gx, None, None, None


@checked
def batch_contrastive_loss(
    embeddings: Tensor, labels: Tensor, *, margin: NonNegative = 1.0,
    pos_margin: NonNegative = 0.0, form: ContrastiveForm = "deepid2",
    distance: Distance = "euclidean", ignore_index: int | None = -100, weight: Weight = None,
    mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Contrastive loss (DeepID2 form, or pytorch-metric-learning's unsquared hinges) over
    every pair ``i < j`` of a labelled batch.

    Formula:
        mean over pairs i<j of: 1/2 max(0, d_ij - pos_margin)^2 if y_i = y_j else 1/2 max(0, margin - d_ij)^2;  form="hinge": the unsquared hinges, without the 1/2

    ``L_ij`` is :func:`contrastive_loss`'s term for the pair ``(i, j)``, same identity when
    ``labels[i] == labels[j]``; there are ``P = B (B - 1) / 2`` pairs of kept samples. Each
    pair is split between its two ends, so ``"none"`` gives sample ``i``'s share
    ``1/2 sum_{j != i} L_ij``, sums to ``"sum"`` and permutes with the batch. Memory ``O(B^2)``
    (one distance matrix).

    When to use:
        A labelled batch instead of explicit pairs: all B(B-1)/2 pairs from one B x B distance
        matrix. Different pairs outnumber same pairs, so sample several images per identity.

    Args:
        embeddings: ``(B, D)`` embeddings.
        labels: ``(B,)`` integer identities.
        margin: ``>= 0``, the different pairs' margin, in the units of the distance; default 1.
        pos_margin: ``>= 0``, the same pairs' margin; default 0.
        form: ``"deepid2"`` (default, halved squared hinges) or ``"hinge"`` (unsquared,
            pytorch-metric-learning's ``ContrastiveLoss`` form).
        distance: ``"euclidean"`` (default) or ``"cosine"`` (``1 - cos``).
        ignore_index: samples whose label equals it leave the batch; default -100.
        weight: optional non-negative ``(B,)`` sample weights: each scales its sample's share;
            ``"mean"`` is ``sum_i w_i s_i / sum_i w_i (B' - 1) / 2`` with ``B'`` kept samples.
        mask: optional bool ``(B,)``; ``False`` = the sample leaves the batch.
        reduction: ``"none"`` (``(B,)`` shares), ``"mean"`` (default: over the pairs) or
            ``"sum"``.

    Returns:
        A scalar, or ``(B,)`` for ``"none"``. ``"mean"`` of fewer than two samples is 0.

    Raises:
        TypeError: non-floating embeddings or non-integer labels.
        ValueError: shapes other than ``(B, D)`` and ``(B,)``, a negative ``margin``, an unknown
            ``distance`` or ``reduction``, a bad ``weight``/``mask``.

    ``form="hinge"`` equals pytorch-metric-learning's ``ContrastiveLoss(pos_margin,
    neg_margin=margin)`` term by term: PML lists every ordered pair, ``(i, j)`` and ``(j, i)``,
    so its ``SumReducer`` total is twice losskit's ``"sum"``, and its default
    ``AvgNonZeroReducer`` (the non-zero same-pair and different-pair terms averaged
    separately, the two means added) is not losskit's ``"mean"`` over all pairs.

    Paper:
        Sun, Chen, Wang, Tang, "Deep Learning Face Representation by Joint
        Identification-Verification", NeurIPS 2014, arXiv:1406.4773.

    Example:
        >>> import torch
        >>> x = torch.tensor([[0.0, 0.0], [0.0, 2.0], [0.0, 0.5]])
        >>> batch_contrastive_loss(x, torch.tensor([0, 0, 1]), margin=1.0)  # (2 + 0 + 0.125) / 3
        tensor(0.7083)
    """
    fn = "batch_contrastive_loss"
    keep = labelled_rows(
        fn, embeddings, labels, weight=weight, mask=mask, ignore_index=ignore_index
    )
    out_dtype, work = embeddings.dtype, compute_dtype(embeddings)
    b = embeddings.shape[0]
    x = zero_excluded(embeddings.to(work), keep, 1)
    if b == 0:  # a shape, not a value: no graph break
        return reduce_loss(x.sum(1) * 0.0, reduction, fn=fn).to(out_dtype)
    same = labels.unsqueeze(1) == labels.unsqueeze(0)
    pair_ok = None
    if distance != "euclidean" or keep is not None:
        # the euclidean diagonal is exactly 0 with a zero gradient, so its same-pair term is 0
        # in either form; the cosine one (1 - cos) is not, nor is a left-out sample's row
        pair_ok = ~torch.eye(b, dtype=torch.bool, device=x.device)
        if keep is not None:
            pair_ok = pair_ok & keep.unsqueeze(1) & keep.unsqueeze(0)
    cfg = (margin, pos_margin, form)
    if distance == "euclidean" and not torch.compiler.is_compiling():
        share = fused_apply(_BatchContrastive, x, same, pair_ok, cfg)
    else:
        share = _batch_contrastive_shares(x, same, pair_ok, distance, cfg)
    # count (B' - 1) / 2 per kept sample: "mean" then divides the total by B' (B' - 1) / 2 pairs
    kept = b if keep is None else keep.sum().to(work)
    count = torch.full_like(share, 1.0) * (kept - 1) / 2.0
    if keep is not None:
        count = torch.where(keep, count, 0.0)
    if weight is not None:
        count = count * weight.to(work)
        share = share * weight.to(work)
    return reduce_counted(fn, share, count, reduction, out_dtype)


# --------------------------------------------------------------------------- triplet


def _hinge_or_soft(z: Tensor, soft: bool) -> Tensor:
    return TF.softplus(z) if soft else TF.relu(z)


@checked
def triplet_loss(
    anchor: Tensor, positive: Tensor, negative: Tensor, *, margin: NonNegative = 1.0,
    squared: bool = False, distance: Distance = "euclidean", soft: bool = False,
    swap: bool = False, weight: Weight = None, mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Triplet loss on explicit ``(anchor, positive, negative)`` triplets.

    Formula:
        l_i = [d(a_i, p_i) - d(a_i, n_i) + margin]_+   (softplus(...) with soft=True)

    Hermans et al.'s soft margin is ``soft=True, margin=0``.

    * ``squared=True``: ``d = ||.||^2``, the study notes' and FaceNet's form
      ``[||a - p||^2 - ||a - n||^2 + alpha]_+`` (FaceNet: unit embeddings, ``alpha = 0.2``).
    * ``squared=False`` (default): ``d = ||.||``, torch's ``TripletMarginLoss`` (p = 2), which
      Hermans et al. found to train more stably.
    * ``swap=True``: ``d_an`` becomes ``min(d(a, n), d(p, n))`` (Balntas et al.'s distance swap,
      torch's ``swap``).

    When to use:
        When triplets come ready-made. Most random triplets already satisfy the margin and
        give no gradient; with labelled batches use batch_triplet_loss, which mines them.

    Args:
        anchor: ``(N, D)`` anchor embeddings.
        positive: ``(N, D)``, row ``i`` of the anchor's identity.
        negative: ``(N, D)``, row ``i`` of another identity.
        margin: ``>= 0``; default 1.
        squared: square the euclidean distance (not with ``distance="cosine"``); default
            ``False``.
        distance: ``"euclidean"`` (default) or ``"cosine"`` (``1 - cos``).
        soft: softplus instead of the hinge; default ``False``.
        swap: use the distance swap; default ``False``.
        weight: optional non-negative ``(N,)`` per-triplet weights.
        mask: optional bool ``(N,)``; ``False`` = leave the triplet out.
        reduction: ``"none"`` (``(N,)``), ``"mean"`` (default, ``sum(w l) / sum(w)``) or
            ``"sum"``.

    Returns:
        The loss; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating embeddings, a non-bool ``squared``.
        ValueError: mismatched shapes, a bad ``weight``, a negative ``margin``, an unknown
            ``distance`` or ``reduction``, ``squared`` with cosine.

    Equals ``torch.nn.TripletMarginLoss(margin, p=2, swap=swap)`` (``squared=False``) up to
    torch's ``eps = 1e-6`` added to every coordinate difference (``||a - p + eps||``); losskit
    uses the exact distance with a safe square root (gradient 0, not NaN, at ``a == p``).

    Paper:
        Schroff, Kalenichenko, Philbin, "FaceNet: A Unified Embedding for Face Recognition and
        Clustering", CVPR 2015, arXiv:1503.03832; Hermans, Beyer, Leibe, "In Defense of the
        Triplet Loss for Person Re-Identification", arXiv:1703.07737.

    Example:
        >>> import torch
        >>> a, p, n = torch.zeros(1, 2), torch.tensor([[0.0, 1.0]]), torch.tensor([[0.0, 1.5]])
        >>> triplet_loss(a, p, n, margin=1.0)               # 1 - 1.5 + 1
        tensor(0.5000)
        >>> triplet_loss(a, p, n, margin=1.0, squared=True)  # 1 - 2.25 + 1
        tensor(0.)
    """
    fn = "triplet_loss"
    _check_rows(fn, ("anchor", "positive", "negative"), anchor, positive, negative)
    _check_squared(fn, distance, squared)
    n = anchor.shape[0]
    check_per_row(fn, "weight", weight, n)
    check_same_device(fn, ("anchor", anchor), ("weight", weight), ("mask", mask))
    keep = exclusion(fn, (n,), mask=mask)
    out_dtype, work = anchor.dtype, compute_dtype(anchor)
    a, p, ng = (zero_excluded(t.to(work), keep, 1) for t in (anchor, positive, negative))
    d_ap = _row_distance(a, p, distance, squared)
    d_an = _row_distance(a, ng, distance, squared)
    if swap:
        d_an = torch.minimum(d_an, _row_distance(p, ng, distance, squared))
    loss = _hinge_or_soft(d_ap - d_an + margin, soft)
    return finish(fn, loss, reduction, weight=weight, keep=keep, out_dtype=out_dtype)


def _masks(labels: Tensor, keep: Tensor | None) -> tuple[Tensor, Tensor]:
    """``pos[a, p]``: same label, ``p != a``; ``neg[a, n]``: different label; both only between
    kept samples."""
    same = labels.unsqueeze(1) == labels.unsqueeze(0)
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    pos, neg = same & ~eye, ~same
    if keep is not None:
        both = keep.unsqueeze(1) & keep.unsqueeze(0)
        pos, neg = pos & both, neg & both
    return pos, neg


@torch.no_grad()
def _hard_indices(
    x: Tensor, pos: Tensor, neg: Tensor, distance: str, squared: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """Batch-hard selection: per anchor, the farthest positive and the closest negative, and
    whether the anchor has both. Euclidean distances are compared squared (the square root
    is monotone, so the choice is the same and no ``B x B`` square root is taken)."""
    dmat = _distance_matrix(x, distance, squared or distance == "euclidean")
    valid = pos.any(1) & neg.any(1)
    p = torch.where(pos, dmat, -math.inf).argmax(1)
    n = torch.where(neg, dmat, math.inf).argmin(1)
    return p, n, valid


def _hard(
    x: Tensor, pos: Tensor, neg: Tensor, margin: float, soft: bool, distance: str, squared: bool
) -> tuple[Tensor, Tensor]:
    """Batch-hard loss per anchor and its count (1 for an anchor with a triplet).

    The selection runs without gradient on the ``B x B`` matrix; the loss then measures the
    ``2 B`` chosen distances directly from the embeddings, so the backward pass is ``O(B D)``
    (no ``B x B`` matrix, no matrix product) and the distances carry no ``||a||^2 + ||b||^2 -
    2 a.b`` cancellation. An anchor without a positive or a negative gets index 0 and is
    masked out.
    """
    p, n, valid = _hard_indices(x, pos, neg, distance, squared)
    d_ap = _row_distance(x, x[p], distance, squared)
    d_an = _row_distance(x, x[n], distance, squared)
    loss = torch.where(valid, _hinge_or_soft(d_ap - d_an + margin, soft), 0.0)
    return loss, valid.to(loss.dtype)


def _listed(
    fn: str, x: Tensor, indices: object, keep: Tensor | None, margin: float, soft: bool,
    distance: str, squared: bool,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:  # fmt: skip
    """The loss of listed triplets ``(a, p, n)``, each booked to its anchor: per-anchor sums
    and counts (all listed triplets, the active ones)."""
    if not isinstance(indices, (tuple, list)) or len(indices) != 3:
        raise TypeError(
            f"{fn}: indices must be a tuple of 3 tensors (anchor, positive, negative); got "
            f"{type(indices).__name__}"
            + (f" of length {len(indices)}" if isinstance(indices, (tuple, list)) else "")
        )
    b = x.shape[0]
    for name, t in zip(("a", "p", "n"), indices, strict=True):
        check_integer(fn, f"indices ({name})", t)
        check_ndim(fn, f"indices ({name})", t, 1)
        check_same_device(fn, ("embeddings", x), (f"indices ({name})", t))
        if t.shape != indices[0].shape:
            raise ValueError(
                f"{fn}: indices (a, p, n) must have one length; got "
                f"{', '.join(str(u.shape[0]) for u in indices)}"
            )
        if x.device.type == "cpu" and t.numel() and not traced():
            lo, hi = int(t.min()), int(t.max())
            if lo < 0 or hi >= b:
                raise ValueError(
                    f"{fn}: indices ({name}) must lie in [0, {b - 1}]; got values in [{lo}, {hi}]"
                )
    a, p, n = (t.long() for t in indices)
    d_ap = _row_distance(x[a], x[p], distance, squared)
    d_an = _row_distance(x[a], x[n], distance, squared)
    terms = _hinge_or_soft(d_ap - d_an + margin, soft)
    valid = torch.ones_like(terms, dtype=torch.bool) if keep is None else keep[a] & keep[p] & keep[n]
    terms = torch.where(valid, terms, 0.0)
    zero = x.new_zeros(b)
    loss = zero.index_add(0, a, terms)
    listed = zero.index_add(0, a, valid.to(x.dtype))
    active = zero.index_add(0, a, (valid & (terms > 0)).to(x.dtype))
    return loss, (listed, active)


def _row_order(keys: Tensor, late: Tensor) -> Tensor:
    """Flat indices into ``keys.flatten()`` that sort each row of ``keys (B, L)`` ascending;
    among equal keys the entries where ``late`` is True come last.

    float32 rows are packed into one int64 per entry, ``row << 33 | ordered_bits(key) << 1 |
    late``, and sorted as a single flat array (torch radix-sorts it; several times faster on CPU
    than its row-wise float sort). Other dtypes use two stable row sorts.
    """
    b, width = keys.shape
    rows = torch.arange(b, device=keys.device, dtype=torch.int64).unsqueeze(1)
    if keys.dtype == torch.float32:
        # -0.0 == 0.0 must tie: give both the bits of +0.0
        bits = torch.where(keys == 0, 0.0, keys).contiguous().view(torch.int32)
        # IEEE-754 bits -> an int32 with the order of the floats (negative floats reversed)
        ordered = (bits ^ ((bits >> 31) & 0x7FFFFFFF)).to(torch.int64) + 2**31  # in [0, 2^32)
        packed = (rows << 33) | (ordered << 1) | late.to(torch.int64)
        return packed.flatten().sort().indices.view(b, width)
    by_flag = late.to(torch.int8).sort(dim=1, stable=True).indices
    by_key = keys.gather(1, by_flag).sort(dim=1, stable=True).indices
    return by_flag.gather(1, by_key) + rows * width


@torch.no_grad()
def _hinge_coefficients(
    dmat: Tensor, pos: Tensor, neg: Tensor, margin: float, semihard: bool
) -> tuple[Tensor, Tensor]:
    """Integer coefficients that make the hinge batch-all / semi-hard loss linear in ``dmat``.

    For anchor ``a`` the loss is ``sum over active (p, n) of d_ap + margin - d_an``, that is::

        L_a = sum_p c_ap d_ap - sum_n q_an d_an + margin * A_a

    with ``c_ap`` the number of negatives active with ``p``, ``q_an`` the number of positives
    active with ``n`` and ``A_a = sum_p c_ap = sum_n q_an`` the active count. Returns
    ``C (B, B)`` (``c`` at positive entries, ``-q`` at negative ones, 0 elsewhere) and ``A``.
    Since ``C`` rows sum to 0, the value does not change when a per-row constant is taken off
    ``dmat`` (better float32 accuracy), and autograd gives the exact (sub)gradient ``C``.

    Counting without a ``B x B x B`` mask: sort each row of the merged keys ``t = d_ap + margin``
    (positive entries) and ``y = d_an`` (negative entries); then ``c`` of a positive is the
    number of negatives before it and ``q`` of a negative the number of positives after it.
    Ties put the positive first, so a pair counts only when ``y < t`` (a tie has loss 0).
    Semi-hard keeps ``d_ap < y < t``: it subtracts the same counts for ``y <= d_ap``, from a
    second sort with ``d_ap`` at the positive entries (ties put the negative first).
    """
    b = dmat.shape[0]
    coef = dmat.new_zeros(b * b)
    if semihard:
        # a positive whose t rounds to d_ap has an empty window: leave it out of both counts
        pos = pos & (dmat + margin > dmat)
    n_pos = pos.sum(1, keepdim=True)

    def counts(keys: Tensor, late: Tensor, sign: float) -> Tensor:
        order = _row_order(keys, late)
        is_neg = neg.flatten()[order]
        is_pos = pos.flatten()[order]
        c = is_neg.cumsum(1)  # negatives before (or at) each entry
        q = n_pos - is_pos.cumsum(1)  # positives after each entry
        sorted_coef = torch.where(is_pos, c, 0) - torch.where(is_neg, q, 0)
        coef.index_add_(0, order.flatten(), sorted_coef.flatten().to(coef.dtype), alpha=sign)
        return torch.where(is_pos, c, 0).sum(1)

    keys = torch.where(neg, dmat, torch.where(pos, dmat + margin, math.inf))
    active = counts(keys, neg, 1.0)  # y < t: on a tie the negative sorts after t
    if semihard:
        keys = torch.where(neg | pos, dmat, math.inf)
        active = active - counts(keys, pos, -1.0)  # y <= d_ap: on a tie the negative first
    return coef.view(b, b), active.to(dmat.dtype)


def _sorted_hinge(
    dmat: Tensor, pos: Tensor, neg: Tensor, margin: float, semihard: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-anchor hinge sum, selected count and active count for batch-all / semi-hard, in
    ``O(B^2)`` memory and ``O(B^2 log B)`` time (see :func:`_hinge_coefficients`)."""
    if semihard and margin == 0:  # an empty window (a hyperparameter, not a value)
        zero = dmat.new_zeros(dmat.shape[0])
        return 0.0 * dmat.sum(1), zero, zero
    coef, active = _hinge_coefficients(dmat, pos, neg, margin, semihard)
    # rows of coef sum to 0: centring each row changes nothing but float32 cancellation
    centred = dmat - dmat.detach().mean(1, keepdim=True)
    sums = (coef * centred).sum(1) + margin * active
    # semi-hard's window is open (d_ap < d_an < d_ap + margin): every selected triplet is active
    selected = active if semihard else (pos.sum(1) * neg.sum(1)).to(dmat.dtype)
    return sums, selected, active


def _soft_counts(dmat: Tensor, pos: Tensor, neg: Tensor, margin: float, semihard: bool) -> Tensor:
    """The number of triplets the soft-margin loss sums per anchor (every one is active)."""
    if not semihard:
        return (pos.sum(1) * neg.sum(1)).to(dmat.dtype)
    return _sorted_hinge(dmat.detach(), pos, neg, margin, True)[1]


def _window(d_ap: Tensor, d_an: Tensor, margin: float) -> Tensor:
    """The semi-hard window ``d_ap < d_an < d_ap + margin`` (the comparisons of
    :func:`_hinge_coefficients`)."""
    return (d_an > d_ap) & (d_an < d_ap + margin)


def _soft_block(
    x: Tensor, y: Tensor, pos: Tensor, neg: Tensor, margin: float, semihard: bool
) -> Tensor:
    """Soft-margin sum over one block of anchors: ``(k, B)`` rows -> ``(k,)``."""
    d_ap, d_an = x.unsqueeze(2), y.unsqueeze(1)
    z = d_ap - d_an + margin  # (k, P, N)
    keep = pos.unsqueeze(2) & neg.unsqueeze(1)
    if semihard:
        keep = keep & _window(d_ap, d_an, margin)
    return torch.where(keep, TF.softplus(z), 0.0).sum((1, 2))


def _soft_chunked(dmat: Tensor, pos: Tensor, neg: Tensor, margin: float, semihard: bool) -> Tensor:
    b = dmat.shape[0]
    k = max(1, _CHUNK_ELEMENTS // (b * b))
    parts = []
    for s in range(0, b, k):
        rows = slice(s, min(s + k, b))
        args = (dmat[rows], dmat[rows], pos[rows], neg[rows], margin, semihard)
        if dmat.requires_grad:
            # recompute the block in backward: O(k B^2) live memory, never B^3
            parts.append(checkpoint(_soft_block, *args, use_reentrant=False))
        else:
            parts.append(_soft_block(*args))
    return torch.cat(parts)


@checked
def batch_triplet_loss(
    embeddings: Tensor, labels: Tensor, indices: tuple[Tensor, ...] | None = None, *,
    margin: NonNegative = 1.0, mining: Mining = "all",
    squared: bool = False, distance: Distance = "euclidean", soft: bool = False,
    mean_over: MeanOver = "all", ignore_index: int | None = -100, weight: Weight = None,
    mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Triplet loss over a labelled batch with online mining (batch-all, batch-hard, semi-hard).

    Formula:
        sum over mined (a, p, n) of [d_ap - d_an + margin]_+ (or softplus), over all or active triplets

    Every anchor ``a``, positive ``p`` (``labels[p] == labels[a]``, ``p != a``) and negative
    ``n`` (``labels[n] != labels[a]``) of the batch is a candidate triplet with loss
    ``[d_ap - d_an + margin]_+`` (``softplus(...)`` when ``soft=True``). ``mining`` picks which
    ones count:

    * ``"all"`` (batch-all, Hermans et al.): every candidate.
    * ``"hard"`` (batch-hard, Hermans et al.): per anchor, its farthest positive with its
      closest negative; one triplet per anchor that has both.
    * ``"semihard"`` (FaceNet): every candidate with ``d_ap < d_an < d_ap + margin``: farther
      than the positive but inside the margin, so every one has a positive loss
      (pytorch-metric-learning's ``TripletMarginMiner(type_of_triplets="semihard")`` closes the
      window at ``d_ap + margin``; the two differ only on a negative exactly there, whose loss
      is 0).

    ``mean_over`` says what ``"mean"`` divides by:

    * ``"all"``: the number of selected triplets (batch-all: ``sum_a |P(a)| |N(a)|``;
      batch-hard: the anchors that have a triplet). As training succeeds most batch-all
      triplets become inactive and this mean shrinks.
    * ``"active"``: the number of selected triplets with a positive loss (Hermans et al.'s
      ``BA != 0``; pytorch-metric-learning's default ``AvgNonZeroReducer``). With ``soft=True``
      every selected triplet counts as active.

    When to use:
        Metric learning from labelled batches (P identities x K images). Mining decides
        whether it trains at all: batch-hard (Hermans et al.) is the robust default, batch-all
        with mean_over='active' the gentler one, semi-hard is FaceNet's choice.

    Args:
        embeddings: ``(B, D)`` embeddings.
        labels: ``(B,)`` integer identities.
        indices: optional triplets ``(a, p, n)`` from a miner (:mod:`losskit.miners`):
            then exactly these count (``mining`` is not applied; a triplet with a left-out
            sample is dropped), each booked to its anchor, and ``"mean"`` divides by their
            number (``mean_over="all"``) or by the active ones. Default ``None``.
        margin: ``>= 0``; also the width of the semi-hard window; default 1.
        mining: ``"all"`` (default), ``"hard"`` or ``"semihard"``.
        squared: squared euclidean distances (FaceNet); not with cosine; default ``False``.
        distance: ``"euclidean"`` (default) or ``"cosine"`` (``1 - cos``).
        soft: softplus instead of the hinge; default ``False``.
        mean_over: ``"all"`` (default) or ``"active"``, see above.
        ignore_index: samples whose label equals it leave the batch; default -100.
        weight: optional non-negative ``(B,)`` anchor weights: each scales its anchor's loss
            and what it counts in ``"mean"``.
        mask: optional bool ``(B,)``; ``False`` = the sample leaves the batch (neither anchor
            nor candidate).
        reduction: ``"none"``: ``(B,)``, anchor ``a``'s summed loss over its selected
            triplets (so it sums to ``"sum"`` and permutes with the batch); ``"sum"``: the
            total; ``"mean"`` (default): the total over the count chosen by ``mean_over``.

    Returns:
        A scalar, or ``(B,)`` for ``"none"``. ``"mean"`` with no triplet is 0 (with a gradient).

    Raises:
        TypeError: non-floating embeddings, non-integer labels, a non-bool ``squared`` or
            ``soft``.
        ValueError: shapes other than ``(B, D)`` and ``(B,)``, a negative ``margin``, an unknown
            ``mining``, ``mean_over``, ``distance`` or ``reduction``, ``squared`` with cosine,
            ``indices`` that are not three integer tensors of one length in ``[0, B)``.

    Cost: batch-hard selects with two masked row reductions of the ``B x B`` distance matrix
    (no gradient), then measures the ``2 B`` chosen distances directly: an ``O(B D)`` backward
    pass. The hinge
    batch-all and semi-hard losses are linear in the distances once it is known which triplets
    are active: ``L_a = sum_p c_ap d_ap - sum_n q_an d_an + margin * A_a``, with ``c_ap`` the
    number of negatives active with positive ``p``, ``q_an`` the number of positives active
    with negative ``n`` and ``A_a`` the active count. Sorting each row of the merged keys
    ``d_ap + margin`` (positives) and ``d_an`` (negatives) gives every ``c`` and ``q`` as a running
    count, so the loss and its exact gradient cost ``O(B^2)`` memory and ``O(B^2 log B)`` time: a
    batch of 4096 runs where a ``B x B x B`` mask (pytorch-metric-learning) needs 68 G entries.
    The soft-margin batch-all and semi-hard losses do not reduce to counts; they visit every
    triplet in anchor blocks recomputed during backward (``O(B^2)`` memory, ``O(B^3)`` time).

    Matches pytorch-metric-learning's ``TripletMarginLoss`` (with ``LpDistance(
    normalize_embeddings=False)``; its default normalises) on all triplets, and on the triplets
    of its ``BatchHardMiner`` and semi-hard ``TripletMarginMiner``, with ``mean_over="active"``.
    :func:`mine_triplets` returns the selected triplets themselves.

    Paper:
        Hermans, Beyer, Leibe, "In Defense of the Triplet Loss for Person Re-Identification",
        arXiv:1703.07737; Schroff, Kalenichenko, Philbin, "FaceNet", CVPR 2015,
        arXiv:1503.03832.

    Example:
        >>> import torch
        >>> x = torch.tensor([[0.0], [1.0], [1.5], [4.0]])
        >>> y = torch.tensor([0, 0, 1, 1])
        >>> batch_triplet_loss(x, y, margin=1.0, mining="hard", reduction="none")
        tensor([0.5000, 1.5000, 3.0000, 0.5000])
    """
    fn = "batch_triplet_loss"
    keep = labelled_rows(
        fn, embeddings, labels, weight=weight, mask=mask, ignore_index=ignore_index
    )
    _check_squared(fn, distance, squared)
    out_dtype, work = embeddings.dtype, compute_dtype(embeddings)
    x = zero_excluded(embeddings.to(work), keep, 1)
    if x.shape[0] == 0:  # a shape, not a value: no graph break
        return reduce_loss(x.sum(1) * 0.0, reduction, fn=fn).to(out_dtype)
    if indices is not None:
        loss, counts = _listed(fn, x, indices, keep, margin, soft, distance, squared)
        if mean_over == "active" and not soft:
            listed_count = counts[1]
        else:
            listed_count = counts[0]
        if weight is not None:
            loss, listed_count = loss * weight.to(work), listed_count * weight.to(work)
        return reduce_counted(fn, loss, listed_count, reduction, out_dtype)
    pos, neg = _masks(labels, keep)
    if mining == "hard":
        loss, count = _hard(x, pos, neg, margin, soft, distance, squared)
        if mean_over == "active" and not soft:
            count = count * (loss > 0).to(count.dtype)
    elif soft:
        semihard = mining == "semihard"
        dmat = _distance_matrix(x, distance, squared)
        loss = _soft_chunked(dmat, pos, neg, margin, semihard)
        count = _soft_counts(dmat.detach(), pos, neg, margin, semihard)
    else:
        dmat = _distance_matrix(x, distance, squared)
        loss, selected, active = _sorted_hinge(dmat, pos, neg, margin, mining == "semihard")
        count = active if mean_over == "active" else selected
    if weight is not None:  # each anchor's share, and what it counts in the mean, scaled
        loss, count = loss * weight.to(work), count * weight.to(work)
    return reduce_counted(fn, loss, count, reduction, out_dtype)


@checked
@torch.no_grad()
def mine_triplets(
    embeddings: Tensor, labels: Tensor, *, mining: Mining = "hard", margin: NonNegative = 1.0,
    squared: bool = False, distance: Distance = "euclidean", ignore_index: int | None = -100,
    mask: Mask = None,
) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    r"""The triplets :func:`batch_triplet_loss` selects, as index tensors ``(anchor, positive,
    negative)``.

    For inspection (how many triplets does a strategy keep? are they active?) and for feeding
    :func:`triplet_loss` or another library. The loss itself never lists triplets.

    Args:
        embeddings: ``(B, D)`` embeddings.
        labels: ``(B,)`` integer identities.
        mining: ``"all"``, ``"hard"`` (default) or ``"semihard"``.
        margin: ``>= 0``, the semi-hard window's width; default 1.
        squared: squared euclidean distances; default ``False``.
        distance: ``"euclidean"`` (default) or ``"cosine"``.
        ignore_index: samples whose label equals it are not mined; default -100.
        mask: optional bool ``(B,)``; ``False`` = the sample is not mined.

    Returns:
        Three ``int64`` tensors of one length, sorted by anchor, then positive, then negative.
        ``"hard"``: one triplet per anchor that has a positive and a negative.

    Raises:
        TypeError: non-floating embeddings, non-integer labels.
        ValueError: bad shapes, a negative ``margin``, unknown ``mining`` or ``distance``,
            ``squared`` with cosine.

    Memory: ``O(B^2)`` plus the output; ``"all"`` lists ``sum_a |P(a)| |N(a)|`` triplets,
    which is ``O(B^3)`` by nature, so prefer the loss for large batches.

    Example:
        >>> import torch
        >>> x = torch.tensor([[0.0], [1.0], [1.5], [4.0]])
        >>> a, p, n = mine_triplets(x, torch.tensor([0, 0, 1, 1]), mining="hard")
        >>> a.tolist(), p.tolist(), n.tolist()
        ([0, 1, 2, 3], [1, 0, 3, 2], [2, 2, 1, 1])
    """
    fn = "mine_triplets"
    kept = labelled_rows(fn, embeddings, labels, weight=None, mask=mask, ignore_index=ignore_index)
    _check_squared(fn, distance, squared)
    x = zero_excluded(embeddings.to(compute_dtype(embeddings)), kept, 1)
    b = x.shape[0]
    empty = torch.zeros(0, dtype=torch.long, device=x.device)
    if b == 0:
        return empty, empty, empty
    pos, neg = _masks(labels, kept)
    if mining == "hard":
        p, n, valid = _hard_indices(x, pos, neg, distance, squared)
        return torch.arange(b, device=x.device)[valid], p[valid], n[valid]
    dmat = _distance_matrix(x, distance, squared)
    k = max(1, _CHUNK_ELEMENTS // (b * b))
    out: list[tuple[Tensor, Tensor, Tensor]] = []
    for s in range(0, b, k):
        rows = slice(s, min(s + k, b))
        keep = pos[rows].unsqueeze(2) & neg[rows].unsqueeze(1)
        if mining == "semihard":
            keep = keep & _window(dmat[rows].unsqueeze(2), dmat[rows].unsqueeze(1), margin)
        a, p, n = keep.nonzero(as_tuple=True)
        out.append((a + s, p, n))
    return tuple(torch.cat(parts) for parts in zip(*out, strict=True))  # type: ignore[return-value]


# --------------------------------------------------------------------------- modules


class ContrastiveLoss(LossModule, function=contrastive_loss):
    """Contrastive loss on explicit pairs: ``1/2 [d - pos_margin]_+^2`` for a same pair,
    ``1/2 max(0, margin - d)^2`` for a different one; ``form="hinge"``: the unsquared hinges
    (pytorch-metric-learning's ``ContrastiveLoss``).

    Args:
        margin: ``>= 0``, the different pairs' margin, in distance units; default 1.
        pos_margin: ``>= 0``, the same pairs' margin; default 0.
        form: ``"deepid2"`` (default) or ``"hinge"``.
        distance: ``"euclidean"`` (default) or ``"cosine"``.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(anchor, paired, target, *, weight=None, mask=None)``: ``(N, D)``, ``(N, D)``
        and ``(N,)`` (1 = same identity). Output: a scalar, or ``(N,)``.

    Paper:
        Sun, Chen, Wang, Tang, "Deep Learning Face Representation by Joint
        Identification-Verification", NeurIPS 2014, arXiv:1406.4773.

    Example:
        >>> import torch
        >>> ContrastiveLoss(reduction="sum")(torch.zeros(2, 2), torch.tensor([[3.0, 4.0], [0.3, 0.4]]),
        ...                                  torch.tensor([1, 0]))
        tensor(12.6250)
    """

    margin: NonNegative = DEFAULT
    pos_margin: NonNegative = DEFAULT
    form: ContrastiveForm = DEFAULT
    distance: Distance = DEFAULT


class BatchContrastiveLoss(LossModule, function=batch_contrastive_loss):
    """Contrastive loss (DeepID2 form, or ``form="hinge"``: pytorch-metric-learning's) over
    every pair of a labelled batch.

    Args:
        margin: ``>= 0``, the different pairs' margin, in distance units; default 1.
        pos_margin: ``>= 0``, the same pairs' margin; default 0.
        form: ``"deepid2"`` (default) or ``"hinge"``.
        distance: ``"euclidean"`` (default) or ``"cosine"``.
        ignore_index: samples with this label leave the batch; default -100.
        reduction: ``"none"`` (per-sample shares), ``"mean"`` (default, over pairs) or
            ``"sum"``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(B, D)`` and ``(B,)``.
        Output: a scalar, or ``(B,)``.

    Paper:
        Sun, Chen, Wang, Tang, NeurIPS 2014, arXiv:1406.4773.

    Example:
        >>> import torch
        >>> x = torch.tensor([[0.0, 0.0], [0.0, 2.0], [0.0, 0.5]])
        >>> BatchContrastiveLoss()(x, torch.tensor([0, 0, 1]))
        tensor(0.7083)
    """

    margin: NonNegative = DEFAULT
    pos_margin: NonNegative = DEFAULT
    form: ContrastiveForm = DEFAULT
    distance: Distance = DEFAULT
    ignore_index: int | None = DEFAULT


class TripletLoss(LossModule, function=triplet_loss):
    """Triplet loss on explicit triplets, ``[d(a, p) - d(a, n) + margin]_+``.

    Args:
        margin: ``>= 0``; default 1.
        squared: squared euclidean distances (FaceNet); default ``False``.
        distance: ``"euclidean"`` (default) or ``"cosine"``.
        soft: softplus instead of the hinge; default ``False``.
        swap: the distance swap of Balntas et al.; default ``False``.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(anchor, positive, negative, *, weight=None, mask=None)``: three ``(N, D)``.
        Output: a scalar, or ``(N,)``.

    Paper:
        Schroff, Kalenichenko, Philbin, "FaceNet", CVPR 2015, arXiv:1503.03832.

    Example:
        >>> import torch
        >>> TripletLoss()(torch.zeros(1, 2), torch.tensor([[0.0, 1.0]]), torch.tensor([[0.0, 1.5]]))
        tensor(0.5000)
    """

    margin: NonNegative = DEFAULT
    squared: bool = DEFAULT
    distance: Distance = DEFAULT
    soft: bool = DEFAULT
    swap: bool = DEFAULT


class BatchTripletLoss(LossModule, function=batch_triplet_loss):
    """Triplet loss over a labelled batch with online mining.

    Args:
        margin: ``>= 0``; default 1.
        mining: ``"all"`` (default), ``"hard"`` or ``"semihard"``.
        squared: squared euclidean distances; default ``False``.
        distance: ``"euclidean"`` (default) or ``"cosine"``.
        soft: softplus instead of the hinge; default ``False``.
        mean_over: ``"all"`` (default) or ``"active"`` triplets.
        ignore_index: samples with this label leave the batch; default -100.
        reduction: ``"none"`` (per anchor), ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(B, D)`` and ``(B,)``.
        Output: a scalar, or ``(B,)``.

    Paper:
        Hermans, Beyer, Leibe, "In Defense of the Triplet Loss for Person Re-Identification",
        arXiv:1703.07737.

    Example:
        >>> import torch
        >>> x, y = torch.tensor([[0.0], [1.0], [1.5], [4.0]]), torch.tensor([0, 0, 1, 1])
        >>> BatchTripletLoss(mining="hard", reduction="sum")(x, y)
        tensor(5.5000)
    """

    margin: NonNegative = DEFAULT
    mining: Mining = DEFAULT
    squared: bool = DEFAULT
    distance: Distance = DEFAULT
    soft: bool = DEFAULT
    mean_over: MeanOver = DEFAULT
    ignore_index: int | None = DEFAULT
