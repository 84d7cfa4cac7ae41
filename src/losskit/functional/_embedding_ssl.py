"""Self-supervised losses on the statistics of two views' embeddings: VICReg and Barlow Twins.
Re-exported by :mod:`losskit.functional.embedding`.

Neither is a sum over samples (variances, covariances and cross-correlations are batch
statistics), so ``"none"`` returns the loss's named parts, which add up to it, and ``"mean"``
and ``"sum"`` both return the loss. A left-out sample (``mask``) leaves the batch: the
statistics are those of the kept samples. Fewer than two kept samples have no variance: the
terms that need one are 0 (with a gradient).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._api import DEFAULT, LossModule, checked
from .._checks import (
    Mask,
    NonNegative,
    Positive,
    check_floating,
    check_ndim,
    check_same_device,
    check_same_shape,
    compute_dtype,
)
from .._reduction import Reduction, check_reduction, exclusion, zero_excluded
from .distance import safe_sqrt

__all__ = ["vicreg_loss", "barlow_twins_loss", "VICRegLoss", "BarlowTwinsLoss"]


def _views(fn: str, anchor: Tensor, paired: Tensor, mask: Tensor | None) -> Tensor | None:
    for name, t in (("anchor", anchor), ("paired", paired)):
        check_floating(fn, name, t)
        check_ndim(fn, name, t, 2)
    check_same_shape(fn, anchor, paired, ("anchor", "paired"))
    check_same_device(fn, ("anchor", anchor), ("paired", paired), ("mask", mask))
    return exclusion(fn, anchor.shape[:1], mask=mask)


def _scaled(x: Tensor, keep: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """``x`` divided by its largest magnitude per column (detached; 1 for a zero column), the
    kept rows' mean of that, and the scale: centred statistics then neither overflow nor
    underflow."""
    s = x.detach().abs().amax(0) if x.shape[0] else x.new_ones(x.shape[1:])
    s = torch.where(s > 0, s, torch.ones_like(s))
    xs = x / s
    n = x.shape[0] if keep is None else keep.sum()
    total = xs.sum(0) if keep is None else torch.where(keep.unsqueeze(1), xs, 0.0).sum(0)
    mean = total / torch.as_tensor(n, dtype=x.dtype).clamp_min(1)
    centred = xs - mean
    if keep is not None:
        centred = torch.where(keep.unsqueeze(1), centred, 0.0)
    return centred, s, torch.as_tensor(n, dtype=x.dtype, device=x.device)


def _finish(fn: str, parts: Tensor, reduction: str, out_dtype: torch.dtype) -> Tensor:
    check_reduction(fn, reduction)
    return (parts if reduction == "none" else parts.sum()).to(out_dtype)


@checked
def vicreg_loss(
    anchor: Tensor, paired: Tensor, *, invariance_weight: NonNegative = 25.0,
    variance_weight: NonNegative = 25.0, covariance_weight: NonNegative = 1.0,
    eps: Positive = 1e-4, mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""VICReg: variance-invariance-covariance regularisation of two views' embeddings.

    Formula:
        L = l s(Z, Z') + m [v(Z) + v(Z')] / 2 + n [c(Z) + c(Z')];  s = mean_i ||z_i - z'_i||^2 / D, v(Z) = mean_j [1 - sqrt(Var z_j + eps)]_+, c(Z) = sum_{j != k} Cov(Z)_jk^2 / D

    ``l, m, n`` are ``invariance_weight``, ``variance_weight``, ``covariance_weight``; the
    variance (unbiased, over the batch) and the covariance are per view. The variance term
    keeps every dimension's standard deviation above 1 (no collapse), the covariance term
    decorrelates the dimensions, the invariance term pulls the two views together. The
    variance term is halved as in the authors' code (the paper's equation omits the 1/2).
    ``"none"`` returns the three weighted parts ``[invariance, variance, covariance]``, whose
    sum is the loss. Fewer than two kept samples: the variance and covariance parts are 0.

    When to use:
        Self-supervised pre-training with two augmentations of each image and no negatives:
        the variance and covariance terms prevent the collapse that contrastive losses avoid
        with negatives, so small batches work. Defaults are the paper's (25, 25, 1).

    Args:
        anchor: ``(N, D)`` embeddings of the first view.
        paired: ``(N, D)`` embeddings of the second view, row ``i`` of the same sample.
        invariance_weight: ``>= 0``, ``lambda``; default 25.
        variance_weight: ``>= 0``, ``mu``; default 25.
        covariance_weight: ``>= 0``, ``nu``; default 1.
        eps: ``> 0``, added to the variance under the square root; default ``1e-4``.
        mask: optional bool ``(N,)``; ``False`` = the sample (both views) leaves the batch.
        reduction: ``"none"`` (the ``(3,)`` parts), ``"mean"`` (default) or ``"sum"`` (both
            the loss).

    Returns:
        A scalar, or ``(3,)`` for ``"none"``.

    Raises:
        TypeError: non-floating embeddings.
        ValueError: ``anchor`` and ``paired`` not of one ``(N, D)`` shape, negative weights, a
            non-positive ``eps``, a bad ``mask``.

    Equals pytorch-metric-learning's ``VICRegLoss(invariance_lambda, variance_mu,
    covariance_v, eps)(anchor, ref_emb=paired)``. Each dimension is scaled by its largest
    magnitude before its statistics are taken (the loss's own range: the invariance and
    covariance terms, in squared units, exceed float32 for embeddings above about 1e19).

    Paper:
        Bardes, Ponce, LeCun, "VICReg: Variance-Invariance-Covariance Regularization for
        Self-Supervised Learning", ICLR 2022, arXiv:2105.04906.

    Example:
        >>> import torch
        >>> z = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
        >>> # identical views: invariance 0; std (sqrt(2 + eps), sqrt(eps)) = (1.41, 0.01):
        >>> # v = mean(0, 0.99) = 0.495 per view, 25 (0.495 + 0.495) / 2; covariance 0
        >>> vicreg_loss(z, z.clone(), reduction="none")
        tensor([ 0.0000, 12.3750,  0.0000])
    """
    fn = "vicreg_loss"
    keep = _views(fn, anchor, paired, mask)
    out_dtype, work = anchor.dtype, compute_dtype(anchor)
    a, p = (zero_excluded(t.to(work), keep, 1) for t in (anchor, paired))
    d = a.shape[1]
    n = torch.as_tensor(a.shape[0] if keep is None else keep.sum(), dtype=work)
    invariance = (a - p).square().sum() / (n.clamp_min(1) * max(d, 1))
    variance = a.new_zeros(())
    covariance = a.new_zeros(())
    for x in (a, p):
        centred, s, _ = _scaled(x, keep)
        dof = (n - 1).clamp_min(1)
        scaled_var = centred.square().sum(0) / dof  # the variance over s^2
        # sqrt(var + eps) without forming s^2 where it over- or underflows: s sqrt(v + eps/s^2)
        # for s >= 1, sqrt(v s^2 + eps) below
        big = s >= 1
        s_big = torch.where(big, s, torch.ones_like(s))
        s_small = torch.where(big, torch.ones_like(s), s)
        std = torch.where(big, s_big * torch.sqrt(scaled_var + eps / s_big.square()),
                          torch.sqrt(scaled_var * s_small.square() + eps))  # fmt: skip
        variance = variance + torch.relu(1.0 - std).sum() / max(d, 1) / 2
        cov = (centred.T @ centred) / dof  # in units of s_j s_k
        off = ~torch.eye(d, dtype=torch.bool, device=a.device)
        scaled = cov * s.unsqueeze(1) * s.unsqueeze(0)
        covariance = covariance + torch.where(off, scaled, 0.0).square().sum() / max(d, 1)
    enough = n >= 2
    variance = torch.where(enough, variance, 0.0)
    covariance = torch.where(enough, covariance, 0.0)
    parts = torch.stack([invariance_weight * invariance, variance_weight * variance,
                         covariance_weight * covariance])  # fmt: skip
    return _finish(fn, parts, reduction, out_dtype)


@checked
def barlow_twins_loss(
    anchor: Tensor, paired: Tensor, *, off_diagonal_weight: NonNegative = 5e-3,
    mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Barlow Twins: the cross-correlation matrix of two views' standardised embeddings
    driven to the identity.

    Formula:
        L = sum_j (1 - C_jj)^2 + l sum_{j != k} C_jk^2;  C = Z_n^T Z'_n / N,  Z_n = (Z - mean) / (std + 1e-6)

    Each dimension of each view is standardised over the batch (unbiased standard
    deviation, plus ``1e-6``); ``C_jk`` is the correlation of dimension ``j`` of one view with
    ``k`` of the other. The diagonal term makes the views agree, the off-diagonal term
    (weight ``l``) removes redundancy between dimensions. ``"none"`` returns the parts
    ``[on-diagonal, off-diagonal]`` (weighted), whose sum is the loss. Fewer than two kept
    samples: no correlation is defined and the loss is 0 (MONAI raises).

    When to use:
        Self-supervised pre-training with two augmentations and no negatives, robust to small
        batches and helped by a wide projector; the paper uses off_diagonal_weight 5e-3
        with 8192 dimensions.

    Args:
        anchor: ``(N, D)`` embeddings of the first view.
        paired: ``(N, D)`` embeddings of the second view, row ``i`` of the same sample.
        off_diagonal_weight: ``>= 0``, ``lambda``; default ``5e-3``.
        mask: optional bool ``(N,)``; ``False`` = the sample (both views) leaves the batch.
        reduction: ``"none"`` (the ``(2,)`` parts), ``"mean"`` (default) or ``"sum"`` (both
            the loss).

    Returns:
        A scalar, or ``(2,)`` for ``"none"``.

    Raises:
        TypeError: non-floating embeddings.
        ValueError: ``anchor`` and ``paired`` not of one ``(N, D)`` shape, a negative
            ``off_diagonal_weight``, a bad ``mask``.

    Equals MONAI's ``BarlowTwinsLoss(lambd)(anchor, paired)`` (unbiased standard deviation,
    the correlation divided by ``N``), which rounds ``lambd`` to float32 and refuses a batch
    of one. Each dimension is standardised after scaling it by its largest magnitude, so any
    finite float32 embedding works (the loss is scale invariant while the standard deviations
    are well above the ``1e-6`` added to them).

    Paper:
        Zbontar, Jing, Misra, LeCun, Deny, "Barlow Twins: Self-Supervised Learning via
        Redundancy Reduction", ICML 2021, arXiv:2103.03230.

    Example:
        >>> import torch
        >>> z = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])
        >>> # std sqrt(2) (unbiased), z_n = +-1/sqrt(2), C = z_n^T z_n / 2 = [[.5, .5], [.5, .5]]:
        >>> # diagonal 2 (1 - 0.5)^2, off-diagonal 0.5 * 2 * 0.5^2
        >>> barlow_twins_loss(z, z.clone(), off_diagonal_weight=0.5, reduction="none")
        tensor([0.5000, 0.2500])
    """
    fn = "barlow_twins_loss"
    keep = _views(fn, anchor, paired, mask)
    out_dtype, work = anchor.dtype, compute_dtype(anchor)
    a, p = (zero_excluded(t.to(work), keep, 1) for t in (anchor, paired))
    d = a.shape[1]
    standardised = []
    n = torch.as_tensor(0.0)
    for x in (a, p):
        centred, s, n = _scaled(x, keep)
        # safe: a constant dimension (or a batch of one) has std 0 and a finite gradient
        std = safe_sqrt(centred.square().sum(0) / (n - 1).clamp_min(1))
        standardised.append(centred / (std + 1e-6 / s))
    c = standardised[0].T @ standardised[1] / n.clamp_min(1)
    eye = torch.eye(d, dtype=torch.bool, device=a.device)
    on = torch.where(eye, (1.0 - c).square(), 0.0).sum()
    off = torch.where(eye, 0.0, c.square()).sum()
    enough = n >= 2
    parts = torch.stack([torch.where(enough, on, 0.0 * on),
                         torch.where(enough, off_diagonal_weight * off, 0.0 * off)])  # fmt: skip
    return _finish(fn, parts, reduction, out_dtype)


class VICRegLoss(LossModule, function=vicreg_loss):
    """VICReg: ``l s(Z, Z') + m [v(Z) + v(Z')] / 2 + n [c(Z) + c(Z')]`` for two views.

    Args:
        invariance_weight: ``>= 0``; default 25.
        variance_weight: ``>= 0``; default 25.
        covariance_weight: ``>= 0``; default 1.
        eps: ``> 0`` under the square root of the variance; default ``1e-4``.
        reduction: ``"none"`` (the three parts), ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(anchor, paired, *, mask=None)``: two ``(N, D)``. Output: a scalar, or
        ``(3,)``.

    Paper:
        Bardes, Ponce, LeCun, "VICReg", ICLR 2022, arXiv:2105.04906.

    Example:
        >>> import torch
        >>> z = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
        >>> VICRegLoss()(z, z.clone())
        tensor(12.3750)
    """

    invariance_weight: NonNegative = DEFAULT
    variance_weight: NonNegative = DEFAULT
    covariance_weight: NonNegative = DEFAULT
    eps: Positive = DEFAULT


class BarlowTwinsLoss(LossModule, function=barlow_twins_loss):
    """Barlow Twins: ``sum_j (1 - C_jj)^2 + l sum_{j != k} C_jk^2`` of the views'
    cross-correlation ``C``.

    Args:
        off_diagonal_weight: ``>= 0``; default ``5e-3``.
        reduction: ``"none"`` (the two parts), ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(anchor, paired, *, mask=None)``: two ``(N, D)``. Output: a scalar, or
        ``(2,)``.

    Paper:
        Zbontar et al., "Barlow Twins", ICML 2021, arXiv:2103.03230.

    Example:
        >>> import torch
        >>> z = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])
        >>> BarlowTwinsLoss(off_diagonal_weight=0.5)(z, z.clone())
        tensor(0.7500)
    """

    off_diagonal_weight: NonNegative = DEFAULT
