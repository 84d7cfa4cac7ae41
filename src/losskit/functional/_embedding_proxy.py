"""Proxy losses: learnable class proxies stand in for the other samples of the batch
(Proxy-Anchor, ProxyNCA, SoftTriple). Re-exported by :mod:`losskit.functional.embedding`.

The proxies are the vocabulary's ``centers``: ``(C, D)`` (``(C, K, D)`` for SoftTriple's
``K`` centres per class), passed to the function after the labels and owned, as a
parameter, by the module. Similarities are cosines (embeddings and proxies normalised
inside), as pytorch-metric-learning's defaults.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .. import _kept_activations as kept_activations
from .._api import DEFAULT, LossModule, checked, field
from .._checks import (
    Mask,
    NonNegative,
    Positive,
    PositiveInt,
    Weight,
    check_floating,
    check_labels,
    check_ndim,
    compute_dtype,
)
from .._reduction import Reduction, check_reduction, finish, zero_excluded
from ._common import labelled_rows
from ._embedding_pairs import masked_logsumexp, softplus
from .distance import normalize

__all__ = [
    "proxy_anchor_loss",
    "proxy_nca_loss",
    "soft_triple_loss",
    "ProxyAnchorLoss",
    "ProxyNCALoss",
    "SoftTripleLoss",
]


def _proxies(fn: str, embeddings: Tensor, centers: Tensor, ndim: int) -> None:
    check_floating(fn, "centers", centers)
    check_ndim(fn, "centers", centers, ndim)
    if centers.shape[-1] != embeddings.shape[1]:
        want = "(C, D)" if ndim == 2 else "(C, K, D)"
        raise ValueError(
            f"{fn}: centers must have shape {want} with D = {embeddings.shape[1]} to match "
            f"embeddings {tuple(embeddings.shape)}; got {tuple(centers.shape)}"
        )


def _one_hot(labels: Tensor, keep: Tensor | None, num_classes: int) -> Tensor:
    """``(B, C)`` bool, ``True`` at each kept sample's class (a left-out label is never read)."""
    y = labels.long() if keep is None else torch.where(keep, labels.long(), 0)
    hot = y.unsqueeze(1) == torch.arange(num_classes, device=labels.device).unsqueeze(0)
    return hot if keep is None else hot & keep.unsqueeze(1)


@checked
def proxy_anchor_loss(
    embeddings: Tensor, labels: Tensor, centers: Tensor, *, margin: NonNegative = 0.1,
    scale: Positive = 32.0, ignore_index: int | None = -100, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Proxy-Anchor loss: each class proxy is an anchor, pulling every sample of its class
    and pushing every other sample, with a soft (log-sum-exp) weighting of the hard ones.

    Formula:
        L = 1/|C+| sum_{c in C+} log(1 + sum_{i: y_i = c} e^{-a (s_ic - d)}) + 1/C sum_c log(1 + sum_{i: y_i != c} e^{a (s_ic + d)});  a = scale, d = margin

    ``s_ic`` is the cosine between sample ``i`` and proxy ``c``, ``C+`` the proxies with a
    sample of their class in the batch, ``C`` all proxies. Each proxy's terms are computed
    over the whole batch, so the loss is not a sum over samples: ``"none"`` gives the
    ``(C,)`` per-proxy terms (positive plus negative part), ``"sum"`` their sum, and
    ``"mean"`` the paper's loss above (each part divided by its own count). A left-out sample
    (``mask``, ``ignore_index``) leaves every proxy's sums.

    When to use:
        Retrieval embeddings with many classes and small batches: proxies give every sample
        all classes to compare with, so it converges in few epochs; the log-sum-exp weighting
        over the batch keeps the sample-to-sample interactions that ProxyNCA lacks. Train the
        proxies with a larger learning rate (the paper uses 100x).

    Args:
        embeddings: ``(B, D)`` embeddings (normalised inside).
        labels: ``(B,)`` integer classes in ``[0, C)`` (any integer dtype).
        centers: ``(C, D)`` class proxies (normalised inside); the module owns them.
        margin: ``d >= 0``, in cosine units; default 0.1.
        scale: ``a > 0``; default 32.
        ignore_index: samples whose label equals it leave the batch; default -100.
        mask: optional bool ``(B,)``; ``False`` = the sample leaves the batch.
        reduction: ``"none"`` (``(C,)``, per proxy), ``"mean"`` (default, the paper's) or
            ``"sum"``.

    Returns:
        A scalar, or ``(C,)`` for ``"none"``. An empty batch gives 0 (with a gradient).

    Raises:
        TypeError: non-floating embeddings or centers, non-integer labels.
        ValueError: shapes other than ``(B, D)``, ``(B,)``, ``(C, D)``, labels outside
            ``[0, C)``, a negative ``margin``, a ``scale`` that is not ``> 0``.

    Equals pytorch-metric-learning's ``ProxyAnchorLoss(num_classes, embedding_size,
    margin, alpha=scale)`` with its ``proxies`` as ``centers``.

    Paper:
        Kim, Kim, Cho, Kwak, "Proxy Anchor Loss for Deep Metric Learning", CVPR 2020,
        arXiv:2003.13911.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> # proxy 0 has sample 0 at cos 1 and sample 1 (negative) at cos 0; margin 0, scale 1:
        >>> # log(1 + e^{-1}) + log(1 + e^0) for proxy 0, the same for proxy 1
        >>> proxy_anchor_loss(x, torch.tensor([0, 1]), torch.eye(2), margin=0.0, scale=1.0,
        ...                   reduction="none")
        tensor([1.0064, 1.0064])
    """
    fn = "proxy_anchor_loss"
    keep = labelled_rows(fn, embeddings, labels, weight=None, mask=mask,
                         ignore_index=ignore_index, extra=(("centers", centers),))  # fmt: skip
    _proxies(fn, embeddings, centers, 2)
    check_reduction(fn, reduction)
    num_classes = centers.shape[0]
    check_labels(fn, labels, num_classes, ignore_index=ignore_index, keep=keep)
    out_dtype, work = embeddings.dtype, compute_dtype(embeddings)
    x = normalize(zero_excluded(embeddings.to(work), keep, 1))
    s = x @ normalize(centers.to(work)).T  # (B, C)
    pos = _one_hot(labels, keep, num_classes)
    neg = ~pos if keep is None else ~pos & keep.unsqueeze(1)
    lse_p, has_p = masked_logsumexp(-scale * (s - margin), pos, dim=0)
    lse_n, has_n = masked_logsumexp(scale * (s + margin), neg, dim=0)
    pos_t = torch.where(has_p, softplus(lse_p), 0.0)
    neg_t = torch.where(has_n, softplus(lse_n), 0.0)
    if reduction == "none":
        return (pos_t + neg_t).to(out_dtype)
    if reduction == "sum":
        return (pos_t + neg_t).sum().to(out_dtype)
    with_pos = has_p.sum().clamp_min(1).to(work)
    return (pos_t.sum() / with_pos + neg_t.sum() / max(num_classes, 1)).to(out_dtype)


@checked
def proxy_nca_loss(
    embeddings: Tensor, labels: Tensor, centers: Tensor, *, scale: Positive = 1.0,
    ignore_index: int | None = -100, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""ProxyNCA: neighbourhood component analysis against one learnable proxy per class.

    Formula:
        l_i = -log( e^{-a d_i,y_i^2} / sum_c e^{-a d_ic^2} );  d_ic = || x_i/||x_i|| - p_c/||p_c|| ||, a = scale

    A softmax over the proxies of the negative squared distances between the normalised
    embedding and the normalised proxies (``d^2 = 2 - 2 cos``, so this is a cosine softmax
    with logits ``2 a cos``). The paper's denominator leaves the true proxy out (then the
    loss is unbounded below); like pytorch-metric-learning (and ProxyNCA++), losskit keeps
    it in.

    When to use:
        Fast-converging retrieval embeddings with one proxy per class and any batch sampling;
        a larger scale sharpens the softmax (ProxyNCA++ uses a temperature of 1/9, i.e.
        scale 4.5 here).

    Args:
        embeddings: ``(B, D)`` embeddings (normalised inside).
        labels: ``(B,)`` integer classes in ``[0, C)`` (any integer dtype).
        centers: ``(C, D)`` class proxies (normalised inside); the module owns them.
        scale: ``a > 0``, multiplies the negative squared distances; default 1
            (pytorch-metric-learning's ``softmax_scale``).
        ignore_index: samples whose label equals it are left out; default -100.
        weight: optional non-negative ``(B,)`` sample weights.
        mask: optional bool ``(B,)``; ``False`` = leave the sample out.
        reduction: ``"none"`` (``(B,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        A scalar, or ``(B,)`` for ``"none"``.

    Raises:
        TypeError: non-floating embeddings or centers, non-integer labels.
        ValueError: shapes other than ``(B, D)``, ``(B,)``, ``(C, D)``, labels outside
            ``[0, C)``, a ``scale`` that is not ``> 0``, a bad ``weight``/``mask``.

    Equals pytorch-metric-learning's ``ProxyNCALoss(num_classes, embedding_size,
    softmax_scale=scale)`` with its ``proxies`` as ``centers``, which also drops a sample
    whose probability underflows to exactly 0 (an infinite loss) from its mean; losskit
    computes the log-softmax directly and never underflows there.

    Paper:
        Movshovitz-Attias, Toshev, Leung, Ioffe, Singh, "No Fuss Distance Metric Learning
        using Proxies", ICCV 2017, arXiv:1703.07464.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0]])
        >>> # d^2 = 0 to proxy 0, 2 to proxy 1: -log(1 / (1 + e^{-2}))
        >>> proxy_nca_loss(x, torch.tensor([0]), torch.eye(2))
        tensor(0.1269)
    """
    fn = "proxy_nca_loss"
    keep = labelled_rows(fn, embeddings, labels, weight=weight, mask=mask,
                         ignore_index=ignore_index, extra=(("centers", centers),))  # fmt: skip
    _proxies(fn, embeddings, centers, 2)
    num_classes = centers.shape[0]
    check_labels(fn, labels, num_classes, ignore_index=ignore_index, keep=keep)
    out_dtype, work = embeddings.dtype, compute_dtype(embeddings)
    x = normalize(zero_excluded(embeddings.to(work), keep, 1))
    cos = x @ normalize(centers.to(work)).T
    logits = -scale * (2.0 - 2.0 * cos)
    y = labels.long() if keep is None else torch.where(keep, labels.long(), 0)
    loss = torch.logsumexp(logits, 1) - logits.gather(1, y.unsqueeze(1)).squeeze(1)
    return finish(fn, loss, reduction, weight=weight, keep=keep, out_dtype=out_dtype)


@checked
def soft_triple_loss(
    embeddings: Tensor, labels: Tensor, centers: Tensor, *, margin: NonNegative = 0.01,
    scale: Positive = 20.0, temperature: Positive = 0.1, ignore_index: int | None = -100,
    weight: Weight = None, mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""SoftTriple loss: a softmax over classes, each class represented by ``K`` centres whose
    similarities are pooled by a soft maximum.

    Formula:
        l_i = -log( e^{a (S_i,y_i - d)} / (e^{a (S_i,y_i - d)} + sum_{c != y_i} e^{a S_ic}) );  S_ic = sum_k softmax_k(s_ick / t) s_ick

    ``s_ick`` is the cosine between sample ``i`` and centre ``k`` of class ``c``; ``S_ic``
    their softmax-weighted mean (temperature ``t``: ``t -> 0`` takes the closest centre);
    ``a`` the scale and ``d`` the margin of the true class. The paper's regulariser that
    merges redundant centres is not part of this loss (pytorch-metric-learning leaves it out
    by default too).

    When to use:
        Classes with several modes (poses, viewpoints) trained without sampling triplets:
        K centres per class let a class spread over clusters; K = 1 is a normalised softmax
        with a margin.

    Args:
        embeddings: ``(B, D)`` embeddings (normalised inside).
        labels: ``(B,)`` integer classes in ``[0, C)`` (any integer dtype).
        centers: ``(C, K, D)`` centres, ``K`` per class (normalised inside); the module owns
            them.
        margin: ``d >= 0``, subtracted from the true class's similarity; default 0.01.
        scale: ``a > 0`` (the paper's ``lambda``); default 20.
        temperature: ``t > 0`` of the softmax over a class's centres (the paper's
            ``gamma``); default 0.1.
        ignore_index: samples whose label equals it are left out; default -100.
        weight: optional non-negative ``(B,)`` sample weights.
        mask: optional bool ``(B,)``; ``False`` = leave the sample out.
        reduction: ``"none"`` (``(B,)``), ``"mean"`` (default) or ``"sum"``.

    Returns:
        A scalar, or ``(B,)`` for ``"none"``.

    Raises:
        TypeError: non-floating embeddings or centers, non-integer labels.
        ValueError: shapes other than ``(B, D)``, ``(B,)``, ``(C, K, D)``, labels outside
            ``[0, C)``, a negative ``margin``, a ``scale`` or ``temperature`` that is not
            ``> 0``, a bad ``weight``/``mask``.

    Equals pytorch-metric-learning's ``SoftTripleLoss(num_classes, embedding_size,
    centers_per_class=K, la=scale, gamma=temperature, margin=margin)``, whose ``fc`` of
    shape ``(D, C K)`` is ``centers.reshape(C * K, D).T``.

    Paper:
        Qian, Shang, Sun, Hu, Li, Jin, "SoftTriple Loss: Deep Metric Learning Without Triplet
        Sampling", ICCV 2019, arXiv:1909.05235.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0]])
        >>> c = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])  # K = 1 centre per class
        >>> # S = (1, 0); margin 0, scale 1: -log(e / (e + 1))
        >>> soft_triple_loss(x, torch.tensor([0]), c, margin=0.0, scale=1.0)
        tensor(0.3133)
    """
    fn = "soft_triple_loss"
    keep = labelled_rows(fn, embeddings, labels, weight=weight, mask=mask,
                         ignore_index=ignore_index, extra=(("centers", centers),))  # fmt: skip
    _proxies(fn, embeddings, centers, 3)
    num_classes, k, d = centers.shape
    check_labels(fn, labels, num_classes, ignore_index=ignore_index, keep=keep)
    out_dtype, work = embeddings.dtype, compute_dtype(embeddings)
    x = normalize(zero_excluded(embeddings.to(work), keep, 1))
    # (B, K, C): centre k of every class side by side, so that the pooling over the K centres
    # runs along contiguous rows of C (a softmax over a last dimension of K ~ 10 entries is
    # many times slower on CPU than these elementwise passes)
    w = normalize(centers.to(work)).transpose(0, 1).reshape(k * num_classes, d)
    s = (x @ w.T).view(-1, k, num_classes)
    z = s / temperature
    if torch.compiler.is_compiling():
        # the softmax as an operator whose output the backward reads back (traced, the
        # backward recomputed its exp from z)
        pooled = (kept_activations.softmax(z, 1) * s).sum(1)  # (B, C)
    else:
        e = torch.exp(z - z.detach().amax(1, keepdim=True))  # softmax_k(z) = e / sum_k e
        pooled = (e * s).sum(1) / e.sum(1)  # (B, C)
    hot = _one_hot(labels, keep, num_classes)
    logits = scale * (pooled - margin * hot.to(work))
    y = labels.long() if keep is None else torch.where(keep, labels.long(), 0)
    loss = torch.logsumexp(logits, 1) - logits.gather(1, y.unsqueeze(1)).squeeze(1)
    return finish(fn, loss, reduction, weight=weight, keep=keep, out_dtype=out_dtype)


class _ProxyModule(LossModule):
    """Shared constructor fields and state of the proxy modules: ``centers`` as a parameter."""

    num_classes: PositiveInt = field(kw_only=False)
    embedding_dim: PositiveInt = field(kw_only=False)
    device: torch.device | str | None = field(default=None)
    dtype: torch.dtype | None = field(default=None)

    def _shape(self) -> tuple[int, ...]:
        return (self.num_classes, self.embedding_dim)

    def __post_init__(self) -> None:
        factory = {"device": self.__dict__.pop("device"), "dtype": self.__dict__.pop("dtype")}
        self.centers = nn.Parameter(torch.empty(self._shape(), **factory))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw the proxies: ``N(0, 1)`` (pytorch-metric-learning's default)."""
        nn.init.normal_(self.centers)


class ProxyAnchorLoss(_ProxyModule, function=proxy_anchor_loss, state=("centers",)):
    """Proxy-Anchor loss with its ``(num_classes, embedding_dim)`` proxies.

    Args:
        num_classes: ``C``.
        embedding_dim: the embedding dimension ``D``.
        margin: ``>= 0``, in cosine units; default 0.1.
        scale: ``> 0``; default 32.
        ignore_index: samples with this label leave the batch; default -100.
        reduction: ``"none"`` (per proxy), ``"mean"`` (default) or ``"sum"``.
        device: where to allocate the proxies; default ``None``.
        dtype: their dtype; default ``None``.

    Shape:
        ``forward(embeddings, labels, *, mask=None)``: ``(B, D)`` and ``(B,)``. Output: a
        scalar, or ``(C,)``.

    The proxies start as pytorch-metric-learning's: Kaiming normal, ``fan_out`` mode
    (:meth:`reset_parameters`). Give them a larger learning rate than the backbone.

    Paper:
        Kim, Kim, Cho, Kwak, "Proxy Anchor Loss for Deep Metric Learning", CVPR 2020,
        arXiv:2003.13911.

    Example:
        >>> import torch
        >>> crit = ProxyAnchorLoss(10, 4)
        >>> crit(torch.randn(8, 4), torch.randint(0, 10, (8,))).shape
        torch.Size([])
    """

    margin: NonNegative = DEFAULT
    scale: Positive = DEFAULT
    ignore_index: int | None = DEFAULT

    def reset_parameters(self) -> None:
        """Draw the proxies: Kaiming normal in ``fan_out`` mode (the paper's code)."""
        nn.init.kaiming_normal_(self.centers, mode="fan_out")


class ProxyNCALoss(_ProxyModule, function=proxy_nca_loss, state=("centers",)):
    """ProxyNCA with its ``(num_classes, embedding_dim)`` proxies.

    Args:
        num_classes: ``C``.
        embedding_dim: the embedding dimension ``D``.
        scale: ``> 0``; default 1.
        ignore_index: samples with this label are left out; default -100.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.
        device: where to allocate the proxies; default ``None``.
        dtype: their dtype; default ``None``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(B, D)`` and ``(B,)``.
        Output: a scalar, or ``(B,)``.

    The proxies start ``N(0, 1)`` (:meth:`reset_parameters`).

    Paper:
        Movshovitz-Attias et al., "No Fuss Distance Metric Learning using Proxies", ICCV
        2017, arXiv:1703.07464.

    Example:
        >>> import torch
        >>> crit = ProxyNCALoss(10, 4)
        >>> crit(torch.randn(8, 4), torch.randint(0, 10, (8,))).shape
        torch.Size([])
    """

    scale: Positive = DEFAULT
    ignore_index: int | None = DEFAULT


class SoftTripleLoss(_ProxyModule, function=soft_triple_loss, state=("centers",)):
    """SoftTriple loss with its ``(num_classes, subcenters, embedding_dim)`` centres.

    Args:
        num_classes: ``C``.
        embedding_dim: the embedding dimension ``D``.
        subcenters: centres per class ``K``; default 10.
        margin: ``>= 0``; default 0.01.
        scale: ``> 0``; default 20.
        temperature: ``> 0`` of the softmax over a class's centres; default 0.1.
        ignore_index: samples with this label are left out; default -100.
        reduction: ``"none"``, ``"mean"`` (default) or ``"sum"``.
        device: where to allocate the centres; default ``None``.
        dtype: their dtype; default ``None``.

    Shape:
        ``forward(embeddings, labels, *, weight=None, mask=None)``: ``(B, D)`` and ``(B,)``.
        Output: a scalar, or ``(B,)``.

    The centres start as pytorch-metric-learning's ``fc``: Kaiming uniform (``a = sqrt(5)``)
    on the ``(D, C K)`` matrix (:meth:`reset_parameters`).

    Paper:
        Qian et al., "SoftTriple Loss: Deep Metric Learning Without Triplet Sampling", ICCV
        2019, arXiv:1909.05235.

    Example:
        >>> import torch
        >>> crit = SoftTripleLoss(10, 4, subcenters=3)
        >>> crit.centers.shape
        torch.Size([10, 3, 4])
    """

    subcenters: PositiveInt = field(default=10)
    margin: NonNegative = DEFAULT
    scale: Positive = DEFAULT
    temperature: Positive = DEFAULT
    ignore_index: int | None = DEFAULT

    def _shape(self) -> tuple[int, ...]:
        return (self.num_classes, self.subcenters, self.embedding_dim)

    def reset_parameters(self) -> None:
        """Kaiming uniform (``a = sqrt(5)``) on the ``(D, C K)`` layout, as the paper's code."""
        c, k, d = self.centers.shape
        w = torch.empty(d, c * k, dtype=self.centers.dtype, device=self.centers.device)
        nn.init.kaiming_uniform_(w, a=math.sqrt(5))
        with torch.no_grad():
            self.centers.copy_(w.T.reshape(c, k, d))
