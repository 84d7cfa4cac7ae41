"""Constraint losses, added to a softmax (or margin) classification loss to shape the feature
space: centre, centre-invariant, range and ring loss. SPEC.md section 5.

Each returns the constraint term alone; a model trains on ``ce + lambda * constraint``
(README, "Embedding and constraint losses"). Learnable state (class centres, the ring radius)
is an argument, held by the modules of :mod:`losskit.nn.constraint`.

Scale. The class-centre losses touch only the rows of the batch's classes: the centres are
read with ``embedding`` (a sparse gradient on request) and :func:`update_centers_` writes
them with ``index_add_``, so a step costs ``O(N D)`` whatever the number of classes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as TF
from torch import Tensor

from .._checks import (
    check_floating,
    check_integer,
    check_labels,
    check_ndim,
    check_positive,
    check_same_device,
    check_tensor,
    compute_dtype,
)
from .._reduction import Reduction, check_reduction, reduce_loss
from .distance import pairwise_euclidean_distance, safe_sqrt

__all__ = [
    "center_loss",
    "update_centers_",
    "center_invariant_loss",
    "range_loss",
    "ring_loss",
]

#: squared distances are clamped here before ``1 / D`` (a duplicate sample has ``D = 0``)
_RANGE_EPS = 1e-12


def _check_features_labels(fn: str, features: Tensor, labels: Tensor) -> None:
    check_floating(fn, "features", features)
    check_ndim(fn, "features", features, 2)
    check_integer(fn, "labels", labels)
    if labels.shape != features.shape[:1]:
        raise ValueError(
            f"{fn}: labels must have shape (N,) = ({features.shape[0]},) to match features "
            f"{tuple(features.shape)}; got {tuple(labels.shape)}"
        )
    check_same_device(fn, ("features", features), ("labels", labels))


def _check_centers(fn: str, features: Tensor, labels: Tensor, centers: Tensor) -> None:
    _check_features_labels(fn, features, labels)
    check_floating(fn, "centers", centers)
    check_ndim(fn, "centers", centers, 2)
    if centers.shape[1] != features.shape[1]:
        raise ValueError(
            f"{fn}: centers must have shape (C, D) with D = {features.shape[1]} (the feature "
            f"dimension); got {tuple(centers.shape)}"
        )
    check_same_device(fn, ("features", features), ("centers", centers))
    if not torch.compiler.is_compiling():  # a value check (CPU only): keep it out of graphs
        check_labels(fn, labels, centers.shape[0])


def center_loss(
    features: Tensor,
    labels: Tensor,
    centers: Tensor,
    *,
    sparse: bool = False,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Centre loss: ``l_i = 1/2 ||x_i - c_{y_i}||^2``, one centre per class.

    Pulls each feature toward its class centre; it only tightens classes (it does not push
    classes apart, the softmax term does). Train on ``ce + lambda * center_loss``; the seed's
    ``L_S + lambda/2 sum_i ||x_i - c_{y_i}||^2`` is ``reduction="sum"``, the default ``"mean"``
    divides it by ``N``.

    Args:
        features: ``(N, D)``.
        labels: ``(N,)`` class indices in ``[0, C)``.
        centers: ``(C, D)`` class centres. Only the batch's rows are read.
        sparse: give ``centers`` a sparse gradient (``N`` rows instead of a dense ``(C, D)``
            tensor), for optimizers that accept one (``SGD``, ``SparseAdam``, ``Adagrad``).
        reduction: ``"none"`` (``(N,)``), ``"mean"`` or ``"sum"``.

    Returns:
        The loss; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating features or centres, non-integer labels.
        ValueError: shapes other than ``(N, D)``, ``(N,)``, ``(C, D)``; labels outside
            ``[0, C)`` (checked on CPU); an unknown ``reduction``.

    The paper moves the centres with its own rule rather than by the gradient:
    :func:`update_centers_`, which :class:`losskit.nn.CenterLoss` applies by default.

    Paper: Wen, Zhang, Li, Qiao, "A Discriminative Feature Learning Approach for Deep Face
    Recognition", ECCV 2016.

    Example:
        >>> import torch
        >>> centers = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
        >>> center_loss(torch.tensor([[3.0, 4.0], [1.0, 2.0]]), torch.tensor([0, 1]), centers,
        ...             reduction="none")
        tensor([12.5000,  0.5000])
    """
    fn = "center_loss"
    _check_centers(fn, features, labels, centers)
    check_reduction(fn, reduction)
    out_dtype, work = features.dtype, compute_dtype(features)
    c = TF.embedding(labels, centers, sparse=sparse).to(work)
    loss = 0.5 * (features.to(work) - c).square().sum(1)
    return reduce_loss(loss, reduction, fn=fn).to(out_dtype)


@torch.no_grad()
def update_centers_(
    centers: Tensor, features: Tensor, labels: Tensor, *, alpha: float = 0.5
) -> Tensor:
    r"""The centre-loss paper's centre update, in place (no gradient).

    For each class ``j`` of the batch, with ``n_j`` samples::

        delta c_j = sum_{i: y_i = j} (c_j - x_i) / (1 + n_j)
        c_j <- c_j - alpha * delta c_j

    Only the batch's rows are written (``index_add_``): ``O(N D)`` work however many classes.
    ``alpha`` in ``[0, 1]`` is the centres' learning rate; ``alpha = 1`` moves a centre most of
    the way to its batch mean (``n_j / (1 + n_j)`` of it).

    Args:
        centers: ``(C, D)`` centres, modified in place.
        features: ``(N, D)``; detached.
        labels: ``(N,)`` class indices in ``[0, C)``.
        alpha: the update rate, in ``[0, 1]``.

    Returns:
        ``centers``.

    Raises:
        As :func:`center_loss`; ``ValueError`` for ``alpha`` outside ``[0, 1]``.

    Paper: Wen et al., ECCV 2016 (Algorithm 1).

    Example:
        >>> import torch
        >>> c = torch.zeros(3, 2)
        >>> x = torch.tensor([[2.0, 0.0], [4.0, 3.0]])  # class 1 twice: mean (3, 1.5)
        >>> update_centers_(c, x, torch.tensor([1, 1]), alpha=1.0)  # 2/3 of the way there
        tensor([[0., 0.],
                [2., 1.],
                [0., 0.]])
    """
    fn = "update_centers_"
    _check_centers(fn, features, labels, centers)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"{fn}: alpha must be a number in [0, 1]; got {alpha!r}")
    if labels.numel() == 0:
        return centers
    x = features.detach().to(centers.dtype)
    # n_j per sample from the sorted labels: no (C,) count vector, no data-dependent shape
    ordered = labels.sort().values
    n = torch.searchsorted(ordered, labels, right=True) - torch.searchsorted(ordered, labels)
    delta = (centers.index_select(0, labels) - x) / (1.0 + n.to(x.dtype)).unsqueeze(1)
    centers.index_add_(0, labels, delta, alpha=-float(alpha))
    return centers


def center_invariant_loss(
    features: Tensor,
    labels: Tensor,
    centers: Tensor,
    *,
    gamma: float = 1.0,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Centre-invariant loss: the centre term plus a pull of every used centre to one radius.

    ``l_i = 1/2 ||x_i - c_{y_i}||^2 + gamma/4 (||c_{y_i}||^2 - (1/C) sum_k ||c_k||^2)^2``

    The second term keeps a frequent class's centre from growing larger than a rare one's
    (class imbalance shows up as centre norm), so all centres sit near one sphere. Train on
    ``ce + lambda * center_invariant_loss(..., gamma=g)``; the seed's
    ``L_S + gamma'/4 (...)^2 + lambda/2 ||x_i - c_y||^2`` is ``gamma = gamma' / lambda``.

    Args:
        features: ``(N, D)``.
        labels: ``(N,)`` class indices in ``[0, C)``.
        centers: ``(C, D)``; learned by the optimiser (the invariant term is a gradient on
            them). The mean squared norm reads all ``C`` centres: ``O(C D)`` per call and a
            dense gradient, unlike :func:`center_loss`.
        gamma: ``>= 0``, the weight of the invariant term relative to the centre term.
        reduction: ``"none"`` (``(N,)``), ``"mean"`` or ``"sum"``.

    Returns:
        The loss; a scalar unless ``reduction="none"``.

    Raises:
        As :func:`center_loss`; ``ValueError`` for a negative ``gamma``.

    Paper: Wu, Liu, Li, Fu, "Deep Face Recognition with Center Invariant Loss", ACM
    Multimedia 2017 Thematic Workshops.

    Example:
        >>> import torch
        >>> centers = torch.tensor([[1.0, 0.0], [0.0, 3.0]])  # squared norms 1 and 9, mean 5
        >>> center_invariant_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([0]), centers,
        ...                       gamma=1.0)                 # 0 + (1 - 5)^2 / 4
        tensor(4.)
    """
    fn = "center_invariant_loss"
    _check_centers(fn, features, labels, centers)
    check_positive(fn, "gamma", gamma, allow_zero=True)
    check_reduction(fn, reduction)
    out_dtype, work = features.dtype, compute_dtype(features)
    cw = centers.to(work)
    norms = cw.square().sum(1)  # (C,)
    c = cw.index_select(0, labels)
    pull = 0.5 * (features.to(work) - c).square().sum(1)
    spread = norms.index_select(0, labels) - norms.mean()
    loss = pull + 0.25 * gamma * spread.square()
    return reduce_loss(loss, reduction, fn=fn).to(out_dtype)


def range_loss(
    features: Tensor,
    labels: Tensor,
    *,
    k: int = 2,
    margin: float = 1.0,
    alpha: float = 1.0,
    beta: float = 1.0,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Range loss: shrink each class's largest spans, separate the two closest class centres.

    ``L = alpha L_intra + beta L_inter`` over the classes present in the batch:

    * ``L_intra``: per class ``c``, the harmonic mean of its ``k`` largest intra-class squared
      distances ``D_1 >= ... >= D_k``, ``k / sum_j 1/D_j`` (fewer when the class has fewer than
      ``k`` pairs; a class of one sample has none). The harmonic mean is led by the *smallest*
      of the ``k``, so it penalises the class's overall range rather than one outlier pair.
      ``"sum"`` adds the classes (the paper), ``"mean"`` averages them.
    * ``L_inter = max(margin - ||xbar_Q - xbar_R||^2, 0)`` for the two closest class means
      ``Q, R`` of the batch (0 with fewer than two classes).

    Aimed at long-tailed data: every class of the batch contributes one term, whatever its
    frequency. Train on ``ce + lambda * range_loss``.

    Args:
        features: ``(N, D)``.
        labels: ``(N,)`` integer identities.
        k: ``>= 1``, how many of a class's largest distances to use.
        margin: ``>= 0``, in squared-distance units.
        alpha, beta: ``>= 0``, the weights of the two terms.
        reduction: how ``L_intra`` combines its classes: ``"mean"`` (default) or ``"sum"``
            (the paper); ``"none"`` returns the terms unreduced, shape ``(N + 1,)``: entry
            ``i < N`` is ``alpha`` times the intra term of the class whose first sample is
            ``i`` (0 at the other samples), entry ``N`` is ``beta L_inter``. It sums to
            ``"sum"``.

    Returns:
        A scalar, or ``(N + 1,)`` for ``"none"``. ``"mean"`` of an empty batch is 0 (with a
        gradient).

    Raises:
        TypeError: non-floating features, non-integer labels, non-integer ``k``.
        ValueError: shapes other than ``(N, D)`` and ``(N,)``; ``k < 1``; a negative
            ``margin``, ``alpha`` or ``beta``; an unknown ``reduction``.

    Memory ``O(N^2 k)``: per class, the top ``k`` of each sample's row of the distance matrix,
    then the top ``k`` of those, with no data-dependent shapes (``torch.compile`` friendly).
    Squared distances are clamped at ``1e-12`` before their reciprocal.

    Paper: Zhang, Fang, Wen, Li, Qiao, "Range Loss for Deep Face Recognition with Long-tailed
    Training Data", ICCV 2017, arXiv:1611.08976.

    Example:
        >>> import torch
        >>> x = torch.tensor([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [10.0, 1.0]])
        >>> # class 0: D = 4, class 1: D = 1; closest means (1, 0), (10, 0.5): 81.25
        >>> range_loss(x, torch.tensor([0, 0, 1, 1]), k=2, margin=100.0)  # (4 + 1)/2 + 18.75
        tensor(21.2500)
    """
    fn = "range_loss"
    _check_features_labels(fn, features, labels)
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"{fn}: k must be an int; got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"{fn}: k must be >= 1; got {k}")
    check_positive(fn, "margin", margin, allow_zero=True)
    check_positive(fn, "alpha", alpha, allow_zero=True)
    check_positive(fn, "beta", beta, allow_zero=True)
    check_reduction(fn, reduction)
    out_dtype, work = features.dtype, compute_dtype(features)
    x = features.to(work)
    n = x.shape[0]
    if n == 0:  # a shape, not a value: no graph break
        empty = x.sum(1) * 0.0
        if reduction == "none":
            return torch.cat([empty, empty.sum().reshape(1)]).to(out_dtype)
        return reduce_loss(empty, reduction, fn=fn).to(out_dtype)
    dist = pairwise_euclidean_distance(x, squared=True)
    same = labels.unsqueeze(1) == labels.unsqueeze(0)
    upper = torch.ones(n, n, dtype=torch.bool, device=x.device).triu(1)
    kk = min(k, n)
    # each pair once (row i < column j), then each sample's k largest
    row_top = torch.where(same & upper, dist, -torch.inf).topk(kk, dim=1).values  # (N, kk)
    # a class's k largest lie among its rows' k largest; gathered at its first sample
    cand = torch.where(same.unsqueeze(2), row_top.unsqueeze(0), -torch.inf).reshape(n, n * kk)
    top = cand.topk(kk, dim=1).values  # (N, kk)
    valid = torch.isfinite(top)
    count = valid.sum(1)
    inv = torch.where(valid, 1.0 / torch.where(valid, top, 1.0).clamp_min(_RANGE_EPS), 0.0)
    harmonic = count.to(work) / inv.sum(1).clamp_min(_RANGE_EPS)
    first = ~(same & upper.T).any(1)  # no earlier sample of the same class
    has_term = first & (count > 0)
    intra = torch.where(has_term, harmonic, 0.0)
    # class means, one row per sample; the closest pair of different classes
    members = same.to(work)
    means = (members @ x) / members.sum(1, keepdim=True)
    centre_dist = torch.where(~same, pairwise_euclidean_distance(means, squared=True), torch.inf)
    closest = centre_dist.amin()
    has_pair = (~same).any()
    inter = torch.where(has_pair, TF.relu(margin - torch.where(has_pair, closest, 0.0)), 0.0)
    if reduction == "none":
        return torch.cat([alpha * intra, (beta * inter).reshape(1)]).to(out_dtype)
    intra = reduce_loss(intra, reduction, weight=has_term.to(work), fn=fn)
    return (alpha * intra + beta * inter).to(out_dtype)


def ring_loss(features: Tensor, radius: Tensor | float, *, reduction: Reduction = "mean") -> Tensor:
    r"""Ring loss: ``l_i = 1/2 (||x_i||_2 - R)^2`` with a learned radius ``R``.

    A soft feature normalisation: features are pulled onto the sphere of radius ``R`` while
    ``R`` itself is learned (pass it as a parameter, :class:`losskit.nn.RingLoss` does). The
    seed's ``lambda/(2m) sum_i (||F(x_i)|| - R)^2`` is ``lambda * ring_loss`` with the default
    ``"mean"``. The norm uses a safe square root (gradient 0, not NaN, at ``x = 0``).

    Args:
        features: ``(N, D)``.
        radius: ``R``, a one-element tensor (learnable) or a number.
        reduction: ``"none"`` (``(N,)``), ``"mean"`` or ``"sum"``.

    Returns:
        The loss; a scalar unless ``reduction="none"``.

    Raises:
        TypeError: non-floating features or radius.
        ValueError: features not ``(N, D)``, a radius with more than one element, an unknown
            ``reduction``.

    Paper: Zheng, Pal, Savvides, "Ring loss: Convex Feature Normalization for Face
    Recognition", CVPR 2018, arXiv:1803.00130.

    Example:
        >>> import torch
        >>> ring_loss(torch.tensor([[3.0, 4.0], [0.0, 1.0]]), torch.tensor(2.0), reduction="none")
        tensor([4.5000, 0.5000])
    """
    fn = "ring_loss"
    check_floating(fn, "features", features)
    check_ndim(fn, "features", features, 2)
    check_reduction(fn, reduction)
    out_dtype, work = features.dtype, compute_dtype(features)
    if isinstance(radius, (int, float)) and not isinstance(radius, bool):
        r = torch.tensor(float(radius), dtype=work, device=features.device)
    else:
        check_tensor(fn, "radius", radius)
        check_floating(fn, "radius", radius)
        if radius.numel() != 1:
            raise ValueError(f"{fn}: radius must have one element; got shape {tuple(radius.shape)}")
        check_same_device(fn, ("features", features), ("radius", radius))
        r = radius.reshape(()).to(work)
    norm = safe_sqrt(features.to(work).square().sum(1))
    loss = 0.5 * (norm - r).square()
    return reduce_loss(loss, reduction, fn=fn).to(out_dtype)
