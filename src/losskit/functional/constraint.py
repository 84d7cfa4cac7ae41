"""Constraint losses, added to a softmax (or margin) classification loss to shape the embedding
space: centre, centre-invariant, range and ring loss; each as a function and as a module that
holds the learnable state (class centres, the ring radius).

Each returns the constraint term alone; a model trains on ``ce + lambda * constraint``.

Scale. The class-centre losses touch only the rows of the batch's classes: the centres are
read with ``embedding`` (a sparse gradient on request) and :func:`update_centers_` writes
them with ``index_add_``, so a step costs ``O(N D)`` whatever the number of classes.

Exclusion and weights, per sample: ``mask`` and ``ignore_index`` leave samples out (of the
centre update too), ``weight`` weighs each sample's term.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as TF
from torch import Tensor, nn

from .._api import DEFAULT, LossModule, checked, field
from .._checks import (
    Mask,
    NonNegative,
    PositiveInt,
    UnitInterval,
    Weight,
    check_floating,
    check_labels,
    check_ndim,
    check_per_row,
    check_same_device,
    check_tensor,
    compute_dtype,
)
from .._reduction import Reduction, exclusion, finish, reduce_loss, zero_excluded
from ._common import labelled_rows
from .distance import pairwise_euclidean_distance, safe_norm

__all__ = [
    "center_loss",
    "update_centers_",
    "center_invariant_loss",
    "range_loss",
    "ring_loss",
    "CenterLoss",
    "CenterInvariantLoss",
    "RangeLoss",
    "RingLoss",
]

#: relative floor of the squared distances before ``1 / D`` (a duplicate sample has ``D = 0``)
_RANGE_EPS = 1e-12


def _check_centers(
    fn: str, embeddings: Tensor, labels: Tensor, centers: Tensor, weight: Tensor | None,
    mask: Tensor | None, ignore_index: int | None,
) -> tuple[Tensor, Tensor | None]:  # fmt: skip
    """Also ``(C, D)`` centres; returns the labels to read centres with (0 at excluded rows)
    and the kept rows."""
    keep = labelled_rows(
        fn, embeddings, labels, weight=weight, mask=mask, ignore_index=ignore_index
    )
    check_floating(fn, "centers", centers)
    check_ndim(fn, "centers", centers, 2)
    if centers.shape[1] != embeddings.shape[1]:
        raise ValueError(
            f"{fn}: centers must have shape (C, D) with D = {embeddings.shape[1]} (the "
            f"embedding dimension); got {tuple(centers.shape)}"
        )
    check_same_device(fn, ("embeddings", embeddings), ("centers", centers))
    check_labels(fn, labels, centers.shape[0], ignore_index=ignore_index, keep=keep)
    y = labels.long()
    return (y if keep is None else torch.where(keep, y, 0)), keep


@checked
def center_loss(
    embeddings: Tensor, labels: Tensor, centers: Tensor, *, sparse: bool = False,
    ignore_index: int | None = -100, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Centre loss: pull each embedding toward its learned class centre.

    Formula:
        l_i = 1/2 ||x_i - c_{y_i}||^2;  train on ce + lambda * center

    It only tightens classes (it does not push classes apart, the softmax term does). The
    paper's ``L_S + lambda/2 sum_i ||x_i - c_{y_i}||^2`` is ``reduction="sum"``; the default
    ``"mean"`` divides it by ``N``. The paper moves the centres with its own rule rather than
    by the gradient: :func:`update_centers_`, which :class:`CenterLoss` applies by default.

    When to use:
        With a softmax (or margin) head, to make classes compact for open-set verification.
        It only tightens classes; the softmax term keeps them apart. Centres cost C x D floats
        (2 GB at 1,000,000 x 512); each step touches only the batch's classes.

    Args:
        embeddings: ``(N, D)`` embeddings.
        labels: ``(N,)`` class indices in ``[0, C)``.
        centers: ``(C, D)`` class centres; only the batch's rows are read.
        sparse: give ``centers`` a sparse gradient (``N`` rows instead of a dense ``(C, D)``
            tensor), for optimizers that accept one (``SGD``, ``SparseAdam``, ``Adagrad``);
            default ``False``.
        ignore_index: labels equal to it are excluded; default -100.
        weight: optional non-negative ``(N,)`` sample weights.
        mask: optional bool ``(N,)``; ``False`` = leave the sample out.
        reduction: ``"none"`` (``(N,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``embeddings``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating embeddings or centres, non-integer labels.
        ValueError: shapes other than ``(N, D)``, ``(N,)``, ``(C, D)``; labels outside
            ``[0, C)`` (checked on CPU); bad weights, mask or ``reduction``.

    Paper:
        Wen, Zhang, Li, Qiao, "A Discriminative Feature Learning Approach for Deep Face
        Recognition", ECCV 2016.

    Example:
        >>> import torch
        >>> centers = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
        >>> center_loss(torch.tensor([[3.0, 4.0], [1.0, 2.0]]), torch.tensor([0, 1]), centers,
        ...             reduction="none")
        tensor([12.5000,  0.5000])
    """
    fn = "center_loss"
    y, keep = _check_centers(fn, embeddings, labels, centers, weight, mask, ignore_index)
    out_dtype, work = embeddings.dtype, compute_dtype(embeddings)
    c = TF.embedding(y, centers, sparse=sparse).to(work)
    loss = 0.5 * (zero_excluded(embeddings.to(work), keep, 1) - c).square().sum(1)
    return finish(fn, loss, reduction, weight=weight, keep=keep, out_dtype=out_dtype)


@checked
@torch.no_grad()
def update_centers_(
    centers: Tensor, embeddings: Tensor, labels: Tensor, *, update_rate: UnitInterval = 0.5,
    ignore_index: int | None = -100, mask: Mask = None,
) -> Tensor:  # fmt: skip
    r"""The centre-loss paper's centre update, in place (no gradient).

    Formula:
        c_j <- c_j - update_rate * sum_{i: y_i = j} (c_j - x_i) / (1 + n_j)

    For each class ``j`` of the batch, with ``n_j`` kept samples. Only the batch's rows are
    written (``index_add_``): ``O(N D)`` work however many classes. ``update_rate = 1`` moves a
    centre most of the way to its batch mean (``n_j / (1 + n_j)`` of it).

    Args:
        centers: ``(C, D)`` centres, modified in place.
        embeddings: ``(N, D)``; detached.
        labels: ``(N,)`` class indices in ``[0, C)``.
        update_rate: the centres' learning rate, in ``[0, 1]``; default 0.5.
        ignore_index: samples whose label equals it do not move a centre; default -100.
        mask: optional bool ``(N,)``; ``False`` = the sample does not move a centre.

    Returns:
        ``centers``.

    Raises:
        TypeError: non-floating tensors, non-integer labels.
        ValueError: bad shapes, labels out of range, ``update_rate`` outside ``[0, 1]``.

    Paper:
        Wen, Zhang, Li, Qiao, ECCV 2016 (Algorithm 1).

    Example:
        >>> import torch
        >>> c = torch.zeros(3, 2)
        >>> x = torch.tensor([[2.0, 0.0], [4.0, 3.0]])  # class 1 twice: mean (3, 1.5)
        >>> update_centers_(c, x, torch.tensor([1, 1]), update_rate=1.0)  # 2/3 of the way there
        tensor([[0., 0.],
                [2., 1.],
                [0., 0.]])
    """
    fn = "update_centers_"
    y, keep = _check_centers(fn, embeddings, labels, centers, None, mask, ignore_index)
    if y.numel() == 0:
        return centers
    x = zero_excluded(embeddings.detach().to(centers.dtype), keep, 1)
    if keep is not None:
        # an excluded sample is moved to its class's centre: it then adds 0 and does not count
        x = torch.where(keep.unsqueeze(1), x, centers.index_select(0, y))
    kept = torch.ones_like(y) if keep is None else keep.long()
    # n_j per sample from the sorted labels: no (C,) count vector, no data-dependent shape
    order = y.argsort()
    ranked, kept_sorted = y[order], kept[order].cumsum(0)
    pad = torch.cat([kept_sorted.new_zeros(1), kept_sorted])
    n = pad[torch.searchsorted(ranked, y, right=True)] - pad[torch.searchsorted(ranked, y)]
    delta = (centers.index_select(0, y) - x) / (1.0 + n.to(x.dtype)).unsqueeze(1)
    centers.index_add_(0, y, delta, alpha=-float(update_rate))
    return centers


@checked
def center_invariant_loss(
    embeddings: Tensor, labels: Tensor, centers: Tensor, *, invariant_weight: NonNegative = 1.0,
    ignore_index: int | None = -100, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Centre-invariant loss: the centre term plus a pull of every used centre to one radius.

    Formula:
        l_i = 1/2 ||x_i - c_{y_i}||^2 + invariant_weight/4 (||c_{y_i}||^2 - (1/C) sum_k ||c_k||^2)^2

    The second term keeps a frequent class's centre from growing larger than a rare one's
    (class imbalance shows up as centre norm), so all centres sit near one sphere. Train on
    ``ce + lambda * center_invariant_loss(..., invariant_weight=g)``; the paper's
    ``L_S + gamma/4 (...)^2 + lambda/2 ||x_i - c_y||^2`` is ``invariant_weight = gamma / lambda``.

    When to use:
        Imbalanced classes: frequent classes grow larger centres (and features) than rare
        ones; holding every centre to the mean squared norm removes that bias.

    Args:
        embeddings: ``(N, D)`` embeddings.
        labels: ``(N,)`` class indices in ``[0, C)``.
        centers: ``(C, D)``; learned by the optimiser (the invariant term is a gradient on
            them). The mean squared norm reads all ``C`` centres: ``O(C D)`` per call and a
            dense gradient, unlike :func:`center_loss`.
        invariant_weight: ``>= 0``, the weight of the invariant term relative to the centre
            term (the paper's gamma); default 1.
        ignore_index: labels equal to it are excluded; default -100.
        weight: optional non-negative ``(N,)`` sample weights.
        mask: optional bool ``(N,)``; ``False`` = leave the sample out.
        reduction: ``"none"`` (``(N,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``embeddings``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating embeddings or centres, non-integer labels.
        ValueError: bad shapes, labels out of range, a negative ``invariant_weight``.

    Paper:
        Wu, Liu, Li, Fu, "Deep Face Recognition with Center Invariant Loss", ACM Multimedia
        2017 Thematic Workshops.

    Example:
        >>> import torch
        >>> centers = torch.tensor([[1.0, 0.0], [0.0, 3.0]])  # squared norms 1 and 9, mean 5
        >>> center_invariant_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([0]), centers)
        tensor(4.)
    """
    fn = "center_invariant_loss"
    y, keep = _check_centers(fn, embeddings, labels, centers, weight, mask, ignore_index)
    out_dtype, work = embeddings.dtype, compute_dtype(embeddings)
    cw = centers.to(work)
    norms = cw.square().sum(1)  # (C,)
    pull = 0.5 * (zero_excluded(embeddings.to(work), keep, 1) - cw.index_select(0, y)).square().sum(
        1
    )
    spread = norms.index_select(0, y) - norms.mean()
    loss = pull + 0.25 * invariant_weight * spread.square()
    return finish(fn, loss, reduction, weight=weight, keep=keep, out_dtype=out_dtype)


@checked
def range_loss(
    embeddings: Tensor, labels: Tensor, *, k: PositiveInt = 2, margin: NonNegative = 1.0,
    intra_weight: NonNegative = 1.0, inter_weight: NonNegative = 1.0,
    ignore_index: int | None = -100, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Range loss: shrink each class's largest spans, push the two closest class means apart.

    Formula:
        L = intra_weight mean_c [k / sum_{j<=k} 1/D_j(c)] + inter_weight max(margin - ||xbar_Q - xbar_R||^2, 0)

    Over the classes present in the batch:

    * the intra term of class ``c`` is the harmonic mean of its ``k`` largest intra-class
      squared distances ``D_1 >= ... >= D_k`` (fewer when the class has fewer than ``k``
      pairs; a class of one sample has none). The harmonic mean is led by the *smallest* of
      the ``k``, so it penalises the class's overall range rather than one outlier pair.
      ``"sum"`` adds the classes (the paper), ``"mean"`` averages them;
    * the inter term acts on the two closest class means ``Q, R`` of the batch (0 with fewer
      than two classes).

    Every term is booked to samples, so ``"none"`` is per sample: sample ``i`` of class ``c``
    (``n_c`` kept samples) holds ``w_i`` times its class's intra term over ``n_c`` plus
    ``w_i`` times the inter term over the number of kept samples ``N'``. ``"sum"`` is the sum
    of those shares; ``"mean"`` averages the class terms weighted by their samples' mean
    weight and adds the inter term times the mean weight. With no ``weight`` this is the
    formula above.

    When to use:
        Long-tailed data: every class of the batch contributes one term whatever its
        frequency, and the margin acts on the two closest class means.

    Args:
        embeddings: ``(N, D)`` embeddings.
        labels: ``(N,)`` integer identities.
        k: ``>= 1``, how many of a class's largest distances to use; default 2.
        margin: ``>= 0``, in squared-distance units; default 1.
        intra_weight: ``>= 0``, the weight of the intra-class term (the paper's alpha);
            default 1.
        inter_weight: ``>= 0``, the weight of the inter-class term (the paper's beta);
            default 1.
        ignore_index: samples whose label equals it leave the batch; default -100.
        weight: optional non-negative ``(N,)`` sample weights (see above).
        mask: optional bool ``(N,)``; ``False`` = the sample leaves the batch.
        reduction: ``"none"`` (``(N,)`` shares), ``"mean"`` (default) or ``"sum"``.

    Returns:
        A scalar, or ``(N,)`` for ``"none"``. ``"mean"`` of an empty batch is 0 (with a
        gradient).

    Raises:
        TypeError: non-floating embeddings, non-integer labels or ``k``.
        ValueError: shapes other than ``(N, D)`` and ``(N,)``; ``k < 1``; negative ``margin``
            or term weights; an unknown ``reduction``.

    Memory ``O(N^2 k)``: per class, the top ``k`` of each sample's row of the distance
    matrix, then the top ``k`` of those, with no data-dependent shapes (``torch.compile``
    friendly). The harmonic mean is computed relative to the class's largest distance, so
    it holds at any scale of the embeddings.

    Paper:
        Zhang, Fang, Wen, Li, Qiao, "Range Loss for Deep Face Recognition with Long-tailed
        Training Data", ICCV 2017, arXiv:1611.08976.

    Example:
        >>> import torch
        >>> x = torch.tensor([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [10.0, 1.0]])
        >>> # class 0: D = 4, class 1: D = 1; closest means (1, 0), (10, 0.5): 81.25
        >>> range_loss(x, torch.tensor([0, 0, 1, 1]), k=2, margin=100.0)  # (4 + 1)/2 + 18.75
        tensor(21.2500)
    """
    fn = "range_loss"
    keep = labelled_rows(
        fn, embeddings, labels, weight=weight, mask=mask, ignore_index=ignore_index
    )
    out_dtype, work = embeddings.dtype, compute_dtype(embeddings)
    x = zero_excluded(embeddings.to(work), keep, 1)
    n = x.shape[0]
    if n == 0:  # a shape, not a value: no graph break
        return reduce_loss(x.sum(1) * 0.0, reduction, fn=fn).to(out_dtype)
    kept = torch.ones(n, dtype=torch.bool, device=x.device) if keep is None else keep
    both = kept.unsqueeze(1) & kept.unsqueeze(0)
    dist = pairwise_euclidean_distance(x, squared=True)
    same = (labels.unsqueeze(1) == labels.unsqueeze(0)) & both
    upper = torch.ones(n, n, dtype=torch.bool, device=x.device).triu(1)
    kk = min(k, n)
    # each pair once (row i < column j), then each sample's k largest
    row_top = torch.where(same & upper, dist, -torch.inf).topk(kk, dim=1).values  # (N, kk)
    # a class's k largest lie among its rows' k largest; every sample of the class gets them
    cand = torch.where(same.unsqueeze(2), row_top.unsqueeze(0), -torch.inf).reshape(n, n * kk)
    top = cand.topk(kk, dim=1).values  # (N, kk), descending
    valid = torch.isfinite(top)
    count = valid.sum(1)
    # harmonic mean relative to the largest distance D_1: D_1 / mean(D_1 / D_j), scale-free
    big = torch.where(valid[:, :1], top[:, :1], 1.0).detach().clamp_min(torch.finfo(work).tiny)
    rel = torch.where(valid, top / big, 1.0).clamp_min(_RANGE_EPS)
    inv = torch.where(valid, 1.0 / rel, 0.0)
    harmonic = big[:, 0] * count.to(work) / torch.where(count > 0, inv.sum(1), 1.0)
    has_term = kept & (count > 0)
    intra = intra_weight * torch.where(has_term, harmonic, 0.0)
    size = same.sum(1).clamp_min(1).to(work)  # kept samples of each sample's class
    # class means, one row per sample; the closest pair of different kept classes
    members = same.to(work)
    means = (members @ x) / members.sum(1, keepdim=True).clamp_min(1.0)
    apart = ~same & both
    centre_dist = torch.where(apart, pairwise_euclidean_distance(means, squared=True), torch.inf)
    closest = centre_dist.amin()
    has_pair = apart.any()
    inter = inter_weight * torch.where(
        has_pair, TF.relu(margin - torch.where(has_pair, closest, 0.0)), 0.0
    )
    w = kept.to(work) if weight is None else weight.to(work) * kept.to(work)
    class_share = torch.where(has_term, w / size, 0.0)  # each sample's part of its class term
    n_kept = kept.sum().clamp_min(1).to(work)
    if reduction == "none":
        return (class_share * intra + inter * w / n_kept).to(out_dtype)
    intra_part = reduce_loss(intra, reduction, weight=class_share, fn=fn)
    return (intra_part + inter * w.sum() / n_kept).to(out_dtype)


@checked
def ring_loss(
    embeddings: Tensor, radius: Tensor | float, *, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Ring loss: pull embedding norms to a learned radius ``R``.

    Formula:
        l_i = 1/2 (||x_i|| - R)^2,  R learned;  train on ce + lambda * ring

    A soft feature normalisation: embeddings are pulled onto the sphere of radius ``R`` while
    ``R`` itself is learned (pass it as a parameter, :class:`RingLoss` does). The paper's
    ``lambda/(2m) sum_i (||F(x_i)|| - R)^2`` is ``lambda * ring_loss`` with the default
    ``"mean"``. The norm uses a safe square root (gradient 0, not NaN, at ``x = 0``) and is
    overflow-safe.

    When to use:
        A soft feature normalisation before a softmax or margin head: the norm is pulled to
        one value without the hard projection (and its gradient issues) of x / ||x||.

    Args:
        embeddings: ``(N, D)`` embeddings.
        radius: ``R``, a one-element tensor (learnable) or a number.
        weight: optional non-negative ``(N,)`` sample weights.
        mask: optional bool ``(N,)``; ``False`` = leave the sample out.
        reduction: ``"none"`` (``(N,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        The loss in the dtype of ``embeddings``; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating embeddings or radius.
        ValueError: embeddings not ``(N, D)``, a radius with more than one element, bad
            weights, mask or ``reduction``.

    Paper:
        Zheng, Pal, Savvides, "Ring loss: Convex Feature Normalization for Face Recognition",
        CVPR 2018, arXiv:1803.00130.

    Example:
        >>> import torch
        >>> ring_loss(torch.tensor([[3.0, 4.0], [0.0, 1.0]]), torch.tensor(2.0), reduction="none")
        tensor([4.5000, 0.5000])
    """
    fn = "ring_loss"
    check_floating(fn, "embeddings", embeddings)
    check_ndim(fn, "embeddings", embeddings, 2)
    n = embeddings.shape[0]
    check_per_row(fn, "weight", weight, n)
    check_same_device(fn, ("embeddings", embeddings), ("weight", weight), ("mask", mask))
    keep = exclusion(fn, (n,), mask=mask)
    out_dtype, work = embeddings.dtype, compute_dtype(embeddings)
    if isinstance(radius, (int, float)) and not isinstance(radius, bool):
        r = torch.tensor(float(radius), dtype=work, device=embeddings.device)
    else:
        check_tensor(fn, "radius", radius)
        assert isinstance(radius, Tensor)  # a bool: check_tensor raised
        check_floating(fn, "radius", radius)
        if radius.numel() != 1:
            raise ValueError(f"{fn}: radius must have one element; got shape {tuple(radius.shape)}")
        check_same_device(fn, ("embeddings", embeddings), ("radius", radius))
        r = radius.reshape(()).to(work)
    loss = 0.5 * (safe_norm(zero_excluded(embeddings.to(work), keep, 1), 1) - r).square()
    return finish(fn, loss, reduction, weight=weight, keep=keep, out_dtype=out_dtype)


# ----------------------------------------------------------------------------- modules


class CenterLoss(LossModule, function=center_loss, state=("centers",)):
    r"""Centre loss with its ``(num_classes, embedding_dim)`` centres, ``1/2 ||x_i - c_{y_i}||^2``.

    Args:
        num_classes: ``C``.
        embedding_dim: the embedding dimension ``D``.
        sparse: with ``update="optimizer"``, give the centres a sparse gradient (the batch's
            rows only) so that a step costs ``O(N D)`` with 1,000,000 classes; use an
            optimiser that accepts sparse gradients (``SGD``, ``SparseAdam``, ``Adagrad``) or
            ``sparse=False`` for ``Adam``; default ``True`` (the function's default is
            ``False``: a plain call gives a dense gradient).
        ignore_index: labels equal to it are excluded (and do not move a centre); default -100.
        update_rate: the paper update's rate, in ``[0, 1]`` (``update="paper"`` only); default
            0.5.
        update: how the centres move: ``"paper"`` (default: Wen et al.'s rule
            :func:`update_centers_`, applied by ``forward`` in training mode, after the loss
            and without gradient; the centres are a buffer the optimiser never sees; the one
            documented place where a losskit ``forward`` writes to its module, like
            BatchNorm's running statistics; ``eval()`` turns it off) or ``"optimizer"`` (an
            ``nn.Parameter`` learned from the loss's gradient ``c_j - x_i``).
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.
        device: where to allocate the centres; default ``None``.
        dtype: their dtype; default ``None``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(N, D)`` and ``(N,)``.
        Output: a scalar, or ``(N,)``.

    The centres start ``N(0, 1)`` (as ``nn.Embedding``); :meth:`reset_parameters` redraws
    them. Their memory is ``C D`` floats: 2 GB in float32 for 1,000,000 classes of 512.

    Paper:
        Wen, Zhang, Li, Qiao, "A Discriminative Feature Learning Approach for Deep Face
        Recognition", ECCV 2016.

    Example:
        >>> import torch
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> crit = CenterLoss(10, 2, update_rate=0.5)
        >>> x, y = torch.randn(4, 2), torch.tensor([0, 0, 3, 3])
        >>> before = crit.centers.clone()
        >>> loss = crit(x, y)
        >>> bool((crit.centers[[1, 2]] == before[[1, 2]]).all())  # untouched classes
        True
    """

    num_classes: PositiveInt = field(kw_only=False)
    embedding_dim: PositiveInt = field(kw_only=False)
    sparse: bool = True
    ignore_index: int | None = DEFAULT
    update_rate: UnitInterval = field(default=0.5)
    update: Literal["paper", "optimizer"] = field(default="paper")
    device: torch.device | str | None = field(default=None)
    dtype: torch.dtype | None = field(default=None)

    def __post_init__(self) -> None:
        factory = {"device": self.__dict__.pop("device"), "dtype": self.__dict__.pop("dtype")}
        data = torch.empty(self.num_classes, self.embedding_dim, **factory)
        if self.update == "paper":
            self.register_buffer("centers", data)
        else:
            self.centers: Tensor = nn.Parameter(data)  # a buffer with the paper's update
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.centers.normal_()

    def forward(
        self, embeddings: Tensor, labels: Tensor, *, weight: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> Tensor:  # fmt: skip
        """The centre loss of ``embeddings`` ``(N, D)`` with ``labels`` ``(N,)``; in training
        mode with ``update="paper"``, then the centre update of the kept samples."""
        loss = center_loss(embeddings, labels, self.centers,
                           sparse=self.sparse and self.update == "optimizer",
                           ignore_index=self.ignore_index, weight=weight, mask=mask,
                           reduction=self.reduction)  # fmt: skip
        if self.update == "paper" and self.training:
            # the documented exception: the paper's no-grad centre update, batch rows only
            update_centers_(self.centers, embeddings, labels, update_rate=self.update_rate,
                            ignore_index=self.ignore_index, mask=mask)  # fmt: skip
        return loss


class CenterInvariantLoss(LossModule, function=center_invariant_loss, state=("centers",)):
    """Centre-invariant loss with learned ``(num_classes, embedding_dim)`` centres.

    The centres are an ``nn.Parameter`` moved by the optimiser: the invariant term acts on the
    centres only, so it needs their gradient. It reads every centre's norm, so the gradient
    is dense.

    Args:
        num_classes: ``C``.
        embedding_dim: ``D``.
        invariant_weight: the invariant term's weight relative to the centre term; default 1.
        ignore_index: labels equal to it are excluded; default -100.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.
        device: where to allocate the centres; default ``None``.
        dtype: their dtype; default ``None``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(N, D)`` and ``(N,)``.
        Output: a scalar, or ``(N,)``.

    Paper:
        Wu, Liu, Li, Fu, "Deep Face Recognition with Center Invariant Loss", ACM Multimedia
        2017 Thematic Workshops.

    Example:
        >>> CenterInvariantLoss(10, 3).centers.shape
        torch.Size([10, 3])
    """

    num_classes: PositiveInt = field(kw_only=False)
    embedding_dim: PositiveInt = field(kw_only=False)
    invariant_weight: NonNegative = DEFAULT
    ignore_index: int | None = DEFAULT
    device: torch.device | str | None = field(default=None)
    dtype: torch.dtype | None = field(default=None)

    def __post_init__(self) -> None:
        factory = {"device": self.__dict__.pop("device"), "dtype": self.__dict__.pop("dtype")}
        self.centers = nn.Parameter(torch.empty(self.num_classes, self.embedding_dim, **factory))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.centers.normal_()


class RangeLoss(LossModule, function=range_loss):
    """Range loss: the harmonic mean of each class's ``k`` largest squared spans, plus a margin
    on the two closest class means.

    Args:
        k: ``>= 1``; default 2.
        margin: ``>= 0``, in squared-distance units; default 1.
        intra_weight: the intra-class term's weight; default 1.
        inter_weight: the inter-class term's weight; default 1.
        ignore_index: samples with this label leave the batch; default -100.
        reduction: ``"none"`` (per-sample shares), ``"mean"`` (default, over the classes) or
            ``"sum"``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(N, D)`` and ``(N,)``.
        Output: a scalar, or ``(N,)``.

    Paper:
        Zhang, Fang, Wen, Li, Qiao, "Range Loss for Deep Face Recognition with Long-tailed
        Training Data", ICCV 2017, arXiv:1611.08976.

    Example:
        >>> import torch
        >>> x = torch.tensor([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [10.0, 1.0]])
        >>> RangeLoss(margin=100.0)(x, torch.tensor([0, 0, 1, 1]))
        tensor(21.2500)
    """

    k: PositiveInt = DEFAULT
    margin: NonNegative = DEFAULT
    intra_weight: NonNegative = DEFAULT
    inter_weight: NonNegative = DEFAULT
    ignore_index: int | None = DEFAULT


class RingLoss(LossModule, function=ring_loss, state=("radius",)):
    """Ring loss with a learned radius: ``1/2 (||x_i|| - R)^2``.

    Args:
        radius: the initial radius ``R`` (a 0-dim ``nn.Parameter``, learned by the
            optimiser), ``>= 0``; default 1. The term is minimised by ``R`` equal to the mean
            embedding norm, so starting near the typical norm shortens the transient.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(embeddings, *, weight=None, mask=None)``: ``(N, D)``. Output: a scalar, or
        ``(N,)``.

    Paper:
        Zheng, Pal, Savvides, "Ring loss: Convex Feature Normalization for Face Recognition",
        CVPR 2018, arXiv:1803.00130.

    Example:
        >>> import torch
        >>> ring = RingLoss(radius=2.0)  # the radius is a parameter, learned with the model
        >>> ring(torch.tensor([[3.0, 4.0], [0.0, 1.0]])).item()
        2.5
    """

    radius: NonNegative = field(default=1.0)

    def __post_init__(self) -> None:
        self.init_radius = float(self.__dict__.pop("radius"))
        # the field's number becomes a learnable 0-dim Parameter (a change of type mypy cannot
        # follow: the annotation is the constructor's)
        self.radius = nn.Parameter(torch.empty(()))  # type: ignore[assignment]
        self.reset_parameters()

    def reset_parameters(self) -> None:
        assert isinstance(self.radius, Tensor)  # the Parameter made in __post_init__
        with torch.no_grad():
            self.radius.fill_(self.init_radius)
