"""Softmax losses over the pairs of a batch: NT-Xent (labelled batches), InfoNCE (two views),
supervised contrastive (SupCon), N-pair. Re-exported by :mod:`losskit.functional.embedding`.

NT-Xent, InfoNCE and SupCon score pairs by the cosine similarity of the embeddings divided by a
temperature (pytorch-metric-learning's default ``CosineSimilarity``) and take ``chunk_size=``: the
``B x B`` similarity matrix is then built ``chunk_size`` anchor rows at a time, each block's
gradient formed with its loss (:mod:`losskit.functional._embedding_pairs`), so its memory is
``O(chunk_size * B)`` instead of ``O(B^2)``. N-pair uses one pair per class, so its softmax is
``N x N`` for ``N`` classes and needs no chunks.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._api import DEFAULT, LossModule, checked
from .._checks import (
    Mask,
    Positive,
    PositiveInt,
    Weight,
    check_floating,
    check_ndim,
    check_per_row,
    check_same_device,
    check_same_shape,
    compute_dtype,
    not_ignored,
)
from .._reduction import Reduction, exclusion, zero_excluded
from ._common import labelled_rows
from ._embedding_pairs import (
    blockwise,
    check_reference,
    nt_xent_rows,
    pair_loss,
    pairs_of,
    reduce_counted,
    selection,
    supcon_rows,
)
from .distance import normalize

__all__ = [
    "nt_xent_loss",
    "info_nce_loss",
    "supcon_loss",
    "n_pair_loss",
    "NTXentLoss",
    "InfoNCELoss",
    "SupConLoss",
    "NPairLoss",
]


@checked
def nt_xent_loss(
    embeddings: Tensor, labels: Tensor, ref_embeddings: Tensor | None = None,
    ref_labels: Tensor | None = None, indices: tuple[Tensor, ...] | None = None, *, temperature: Positive = 0.07,
    chunk_size: PositiveInt | None = None, ignore_index: int | None = -100,
    weight: Weight = None, mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""NT-Xent (normalised temperature-scaled cross-entropy) over the positive pairs of a
    labelled batch.

    Formula:
        l_ip = -log( e^{s_ip/t} / (e^{s_ip/t} + sum_{n: y_n != y_i} e^{s_in/t}) );  s = cos, mean over positive pairs (i, p)

    Every positive pair ``(i, p)`` (``y_p = y_i``, ``p != i``) is one softmax term whose
    competitors are the anchor's negatives only (the other positives of ``i`` are left out of
    the denominator; :func:`supcon_loss` keeps them). With two views of ``N`` samples and
    labels ``[0..N-1, 0..N-1]`` this is SimCLR's loss (:func:`info_nce_loss` does that for
    you). An anchor with no negative gives ``-log 1 = 0`` for each of its pairs, which still
    count in the mean (as in pytorch-metric-learning). Cosine similarities: a zero embedding
    has similarity 0 with everything.

    ``chunk_size=k`` computes the similarity rows of ``k`` anchors at a time, and their
    gradient with them: memory ``O(k B + B D)`` instead of ``O(B^2)``, the same result (to the
    rounding of the matrix product).

    When to use:
        Self-supervised and supervised contrastive pre-training with a large batch: each
        positive pair is classified against the anchor's negatives with a softmax, so every
        negative contributes, weighted by how hard it is. A low temperature focuses on the
        hardest negatives.

    Args:
        embeddings: ``(B, D)`` embeddings (normalised inside).
        labels: ``(B,)`` integer identities (any integer dtype).
        ref_embeddings: optional ``(M, D)`` reference embeddings: the anchors' positives and
            negatives are then taken from them instead of from the batch (no pair is then the
            anchor itself). Default ``None``.
        ref_labels: ``(M,)`` integer identities of ``ref_embeddings`` (required with them).
        indices: optional mined pairs ``(a1, p, a2, n)`` or triplets ``(a, p, n)`` (a miner's
            output, :mod:`losskit.miners`): only these pairs count, taken as listed (their
            labels are not re-read), less pairs of a sample with itself or with a left-out
            one; the rows index ``embeddings``, the columns the reference set. Held as two
            ``(B, M)`` bool masks. Default ``None``: every pair, by label.
        temperature: ``> 0``, the softmax temperature ``t``; default 0.07 (pytorch-metric-
            learning's).
        chunk_size: anchors per block of the similarity matrix (never held whole);
            ``None`` (default): one block.
        ignore_index: samples whose label equals it leave the batch (and reference rows
            whose label equals it leave the reference set); default -100.
        weight: optional non-negative ``(B,)`` anchor weights: each scales its anchor's
            share and what it counts in ``"mean"``.
        mask: optional bool ``(B,)``; ``False`` = the sample leaves the batch.
        reduction: ``"none"`` (``(B,)``: each anchor's sum over its positive pairs),
            ``"mean"`` (default: over the positive pairs) or ``"sum"``.

    Returns:
        A scalar, or ``(B,)`` for ``"none"``. ``"mean"`` with no positive pair is 0 (with a
        gradient).

    Raises:
        TypeError: non-floating embeddings, non-integer labels.
        ValueError: shapes other than ``(B, D)`` and ``(B,)``, a reference set of another
            ``D`` or without its labels, ``indices`` that are not 3 or 4 integer index
            tensors of matching lengths within range, a ``temperature`` that is not ``> 0``, a
            ``chunk_size`` that is not an int ``>= 1``, a bad ``weight``/``mask``.

    Equals pytorch-metric-learning's ``NTXentLoss(temperature)`` (default
    ``CosineSimilarity``, ``MeanReducer`` over positive pairs), with and without
    ``ref_emb``, up to its ``log(x + tiny)`` guard; it returns 0 without a gradient when the
    batch has no positive or no negative pair, losskit 0 with a (zero) gradient.

    Paper:
        Chen, Kornblith, Norouzi, Hinton, "A Simple Framework for Contrastive Learning of
        Visual Representations", ICML 2020, arXiv:2002.05709; Sohn, "Improved Deep Metric
        Learning with Multi-class N-pair Loss Objective", NeurIPS 2016.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> # the pair (0, 1) at cos 1 against the negative 2 at cos 0: log(1 + e^{-1/t})
        >>> nt_xent_loss(x, torch.tensor([0, 0, 1]), temperature=1.0)
        tensor(0.3133)
    """
    return pair_loss(
        "nt_xent_loss", nt_xent_rows, embeddings, labels, ref_embeddings, ref_labels,
        indices, hyper=(temperature,), chunk_size=chunk_size, ignore_index=ignore_index,
        weight=weight, mask=mask, reduction=reduction,
    )  # fmt: skip


@checked
def info_nce_loss(
    anchor: Tensor, paired: Tensor, *, temperature: Positive = 0.07, symmetric: bool = True,
    chunk_size: PositiveInt | None = None, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""InfoNCE / NT-Xent for two views: row ``i`` of ``anchor`` and of ``paired`` are two
    views of one sample, every other sample is a negative.

    Formula:
        symmetric: l_i = -log( e^{s(z_i, z_i')/t} / sum_{k != i} e^{s(z_i, z_k)/t} ) over the 2N views z;  else l_i = -log( e^{s(a_i, p_i)/t} / sum_j e^{s(a_i, p_j)/t} )

    * ``symmetric=True`` (default): SimCLR's NT-Xent. Both views of every sample are anchors
      (``2N`` of them); each has one positive (its other view) and ``2N - 2`` negatives (the
      views of the other samples, from both sets). Equals :func:`nt_xent_loss` of the
      concatenated views with labels ``[0..N-1, 0..N-1]``.
    * ``symmetric=False``: van den Oord et al.'s InfoNCE with in-batch negatives (MoCo's and
      CLIP's one-directional term): anchor ``a_i`` is classified among ``paired`` rows by a
      softmax whose correct class is ``p_i``.

    Similarities are cosines (embeddings normalised inside) over the temperature ``t``.
    ``chunk_size=k`` computes ``k`` anchors' rows at a time, never the whole matrix.

    When to use:
        Self-supervised pre-training on two augmentations of each image (SimCLR, MoCo-style
        in-batch negatives) or paired modalities (CLIP, with ``symmetric=False`` in each
        direction). Large batches give more negatives; chunk_size keeps them affordable.

    Args:
        anchor: ``(N, D)`` embeddings of the first view.
        paired: ``(N, D)`` embeddings of the second view: row ``i`` pairs with ``anchor[i]``.
        temperature: ``> 0``, the softmax temperature; default 0.07.
        symmetric: both views as anchors among all ``2N`` views (default ``True``), or
            ``anchor`` rows against ``paired`` rows only (``False``).
        chunk_size: anchors per block of the similarity matrix (never held whole);
            ``None`` (default): one block.
        weight: optional non-negative ``(N,)`` per-sample weights (both views' terms of
            sample ``i`` are scaled by ``weight[i]``).
        mask: optional bool ``(N,)``; ``False`` = sample ``i`` (both views) leaves the batch.
        reduction: ``"none"`` (``(N,)``: sample ``i``'s terms, both views with
            ``symmetric=True``), ``"mean"`` (default: over the anchors, ``2N`` or ``N``) or
            ``"sum"``.

    Returns:
        A scalar, or ``(N,)`` for ``"none"``.

    Raises:
        TypeError: non-floating embeddings, a non-bool ``symmetric``.
        ValueError: ``anchor`` and ``paired`` not of one ``(N, D)`` shape, a ``temperature``
            that is not ``> 0``, a bad ``chunk_size``, ``weight`` or ``mask``.

    Equals pytorch-metric-learning's ``SelfSupervisedLoss(NTXentLoss(temperature),
    symmetric=symmetric)(anchor, paired)``.

    Paper:
        van den Oord, Li, Vinyals, "Representation Learning with Contrastive Predictive
        Coding", arXiv:1807.03748; Chen, Kornblith, Norouzi, Hinton, "A Simple Framework for
        Contrastive Learning of Visual Representations", ICML 2020, arXiv:2002.05709.

    Example:
        >>> import torch
        >>> a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> # a_0 against p_0 (cos 1) and p_1 (cos 0): log(1 + e^{-1})
        >>> info_nce_loss(a, a.clone(), temperature=1.0, symmetric=False)
        tensor(0.3133)
    """
    fn = "info_nce_loss"
    for name, t in (("anchor", anchor), ("paired", paired)):
        check_floating(fn, name, t)
        check_ndim(fn, name, t, 2)
    check_same_shape(fn, anchor, paired, ("anchor", "paired"))
    n = anchor.shape[0]
    check_per_row(fn, "weight", weight, n)
    check_same_device(fn, ("anchor", anchor), ("paired", paired), ("weight", weight),
                      ("mask", mask))  # fmt: skip
    keep = exclusion(fn, (n,), mask=mask)
    out_dtype, work = anchor.dtype, compute_dtype(anchor)
    a = normalize(zero_excluded(anchor.to(work), keep, 1))
    p = normalize(zero_excluded(paired.to(work), keep, 1))
    ids = torch.arange(n, device=anchor.device)
    hyper = (temperature,)
    if symmetric:
        z, y = torch.cat([a, p]), torch.cat([ids, ids])
        k = None if keep is None else torch.cat([keep, keep])
        total, count = blockwise(nt_xent_rows, z, z, y, y, k, k, True, chunk_size, hyper)
        total, count = total[:n] + total[n:], count[:n] + count[n:]
    else:
        total, count = blockwise(nt_xent_rows, a, p, ids, ids, keep, keep, False, chunk_size,
                                 hyper)  # fmt: skip
    if weight is not None:
        total, count = total * weight.to(work), count * weight.to(work)
    return reduce_counted(fn, total, count, reduction, out_dtype)


@checked
def supcon_loss(
    embeddings: Tensor, labels: Tensor, ref_embeddings: Tensor | None = None,
    ref_labels: Tensor | None = None, indices: tuple[Tensor, ...] | None = None, *, temperature: Positive = 0.1,
    chunk_size: PositiveInt | None = None, ignore_index: int | None = -100,
    weight: Weight = None, mask: Mask = None, reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Supervised contrastive loss (SupCon, the ``L_out`` form): every other sample of the
    anchor's class is a positive, all other samples are the softmax's competitors.

    Formula:
        l_i = -1/|P(i)| sum_{p in P(i)} log( e^{s_ip/t} / sum_{a in A(i)} e^{s_ia/t} );  A(i) = every sample but i, P(i) = those of i's class

    Equivalently ``l_i = LSE_{a in A(i)}(s_ia / t) - mean_{p in P(i)} s_ip / t``, with cosine
    similarities ``s`` (embeddings normalised inside) and temperature ``t``.

    **An anchor without a positive** (the only sample of its class in the batch) has no
    term to average: its loss is 0, with a (zero) gradient, and it leaves the mean, which
    divides by the anchors that have a positive. pytorch-metric-learning's ``SupConLoss``
    gives such an anchor 0 as well and leaves it out of its ``AvgNonZeroReducer`` without
    saying so (its issue 744). A batch with positives but no negatives (all labels equal) is
    still defined by the formula (the positives compete among themselves); pytorch-metric-
    learning returns 0 there.

    ``chunk_size=k`` computes ``k`` anchors' similarity rows at a time, never the whole
    matrix: ``O(k B + B D)`` memory, the same result.

    When to use:
        Supervised pre-training or fine-tuning of an embedding with labels and large batches:
        pulls every same-class pair together and pushes all others apart with one softmax per
        anchor; more robust to hyperparameters than cross-entropy (Khosla et al.).

    Args:
        embeddings: ``(B, D)`` embeddings (normalised inside).
        labels: ``(B,)`` integer identities (any integer dtype).
        ref_embeddings: optional ``(M, D)`` reference embeddings: ``A(i)`` and ``P(i)`` are
            then taken from them (a queue, another view); default ``None``.
        ref_labels: ``(M,)`` integer identities of ``ref_embeddings`` (required with them).
        indices: optional mined pairs ``(a1, p, a2, n)`` or triplets ``(a, p, n)`` (a miner's
            output, :mod:`losskit.miners`): only these pairs count, taken as listed (their
            labels are not re-read), less pairs of a sample with itself or with a left-out
            one; the rows index ``embeddings``, the columns the reference set. Held as two
            ``(B, M)`` bool masks. Default ``None``: every pair, by label.
        temperature: ``> 0``, the softmax temperature ``t``; default 0.1 (pytorch-metric-
            learning's; Khosla et al. use 0.1 as well).
        chunk_size: anchors per block of the similarity matrix (never held whole);
            ``None`` (default): one block.
        ignore_index: samples whose label equals it leave the batch (reference rows leave the
            reference set); default -100.
        weight: optional non-negative ``(B,)`` anchor weights: each scales its anchor's loss
            and what it counts in ``"mean"``.
        mask: optional bool ``(B,)``; ``False`` = the sample leaves the batch.
        reduction: ``"none"`` (``(B,)``, per anchor; 0 without a positive), ``"mean"``
            (default: over the anchors that have a positive) or ``"sum"``.

    Returns:
        A scalar, or ``(B,)`` for ``"none"``. ``"mean"`` with no positive pair is 0 (with a
        gradient).

    Raises:
        TypeError: non-floating embeddings, non-integer labels.
        ValueError: shapes other than ``(B, D)`` and ``(B,)``, a reference set of another
            ``D`` or without its labels, ``indices`` that are not 3 or 4 integer index
            tensors of matching lengths within range, a ``temperature`` that is not ``> 0``, a bad
            ``chunk_size``, ``weight`` or ``mask``.

    Equals pytorch-metric-learning's ``SupConLoss(temperature)`` wherever the batch has a
    negative pair and no anchor's loss is exactly 0 (see above).

    Paper:
        Khosla, Teterwak, Wang, Sarna, Tian, Isola, Maschinot, Liu, Krishnan, "Supervised
        Contrastive Learning", NeurIPS 2020, arXiv:2004.11362.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> # anchors 0 and 1: log(e^1 + e^0) - 1 = log(1 + e^{-1}); anchor 2 has no positive
        >>> supcon_loss(x, torch.tensor([0, 0, 1]), temperature=1.0, reduction="none")
        tensor([0.3133, 0.3133, 0.0000])
    """
    return pair_loss(
        "supcon_loss", supcon_rows, embeddings, labels, ref_embeddings, ref_labels,
        indices, hyper=(temperature,), chunk_size=chunk_size, ignore_index=ignore_index,
        weight=weight, mask=mask, reduction=reduction,
    )  # fmt: skip


class NTXentLoss(LossModule, function=nt_xent_loss):
    """NT-Xent over the positive pairs of a labelled batch: ``-log(e^{s_ip/t} / (e^{s_ip/t} +
    sum_n e^{s_in/t}))``, cosine similarities ``s``.

    Args:
        temperature: ``> 0``; default 0.07.
        chunk_size: anchors per block of the similarity matrix (``None``: dense); default
            ``None``.
        ignore_index: samples with this label leave the batch; default -100.
        reduction: ``"none"`` (per anchor), ``"mean"`` (default, over positive pairs) or
            ``"sum"``.

    Shape:
        ``forward(embeddings, labels, ref_embeddings=None, ref_labels=None, indices=None, *,
        weight=None, mask=None)``: ``(B, D)``, ``(B,)``, optionally ``(M, D)`` and ``(M,)``. Output: a
        scalar, or ``(B,)``.

    Paper:
        Chen, Kornblith, Norouzi, Hinton, "A Simple Framework for Contrastive Learning of
        Visual Representations", ICML 2020, arXiv:2002.05709.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> NTXentLoss(temperature=1.0)(x, torch.tensor([0, 0, 1]))
        tensor(0.3133)
    """

    temperature: Positive = DEFAULT
    chunk_size: PositiveInt | None = DEFAULT
    ignore_index: int | None = DEFAULT


class InfoNCELoss(LossModule, function=info_nce_loss):
    """InfoNCE / NT-Xent for two views of each sample (SimCLR with ``symmetric=True``).

    Args:
        temperature: ``> 0``; default 0.07.
        symmetric: both views as anchors among all ``2N`` views (default ``True``), or
            ``anchor`` against ``paired`` only.
        chunk_size: anchors per block of the similarity matrix (``None``: dense); default
            ``None``.
        reduction: ``"none"`` (per sample), ``"mean"`` (default) or ``"sum"``.

    Shape:
        ``forward(anchor, paired, *, weight=None, mask=None)``: two ``(N, D)``. Output: a
        scalar, or ``(N,)``.

    Paper:
        van den Oord, Li, Vinyals, "Representation Learning with Contrastive Predictive
        Coding", arXiv:1807.03748.

    Example:
        >>> import torch
        >>> a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> InfoNCELoss(temperature=1.0, symmetric=False)(a, a.clone())
        tensor(0.3133)
    """

    temperature: Positive = DEFAULT
    symmetric: bool = DEFAULT
    chunk_size: PositiveInt | None = DEFAULT


class SupConLoss(LossModule, function=supcon_loss):
    """Supervised contrastive loss: per anchor, ``LSE_a s_ia / t - mean_p s_ip / t``; an anchor
    without a positive gives 0 and leaves the mean.

    Args:
        temperature: ``> 0``; default 0.1.
        chunk_size: anchors per block of the similarity matrix (``None``: dense); default
            ``None``.
        ignore_index: samples with this label leave the batch; default -100.
        reduction: ``"none"`` (per anchor), ``"mean"`` (default, over anchors with a
            positive) or ``"sum"``.

    Shape:
        ``forward(embeddings, labels, ref_embeddings=None, ref_labels=None, indices=None, *,
        weight=None, mask=None)``: ``(B, D)``, ``(B,)``, optionally ``(M, D)`` and ``(M,)``. Output: a
        scalar, or ``(B,)``.

    Paper:
        Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020, arXiv:2004.11362.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> SupConLoss(temperature=1.0)(x, torch.tensor([0, 0, 1]))
        tensor(0.3133)
    """

    temperature: Positive = DEFAULT
    chunk_size: PositiveInt | None = DEFAULT
    ignore_index: int | None = DEFAULT


def _first_pair_per_label(a: Tensor, p: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """The first pair ``(a[k], p[k])`` (in the listed order) of each distinct anchor label
    ``labels[a[k]]``, ordered by label; ``a`` and ``p`` may be empty."""
    ya = labels[a]
    uniq, inv = torch.unique(ya, return_inverse=True)
    order = torch.arange(a.shape[0], device=a.device)
    first = torch.full((uniq.shape[0],), a.shape[0], dtype=order.dtype, device=a.device)
    first = first.scatter_reduce(0, inv, order, "amin")
    return a[first], p[first]


def _first_two_per_label(labels: Tensor, keep: Tensor | None) -> tuple[Tensor, Tensor]:
    """The first and second kept sample of each label that has two, ordered by label: the
    first positive pair of each label in row-major order, found by one stable sort
    (``O(B log B)``, no ``B x B`` mask)."""
    idx = torch.arange(labels.shape[0], device=labels.device)
    if keep is not None:
        idx = idx[keep]
    y, perm = torch.sort(labels[idx], stable=True)
    order = idx[perm]
    # position k starts a label group that has a second member at k + 1
    starts = torch.ones_like(y, dtype=torch.bool)
    starts[1:] = y[1:] != y[:-1]
    two = torch.zeros_like(starts)
    two[:-1] = starts[:-1] & (y[1:] == y[:-1])
    first = two.nonzero().squeeze(1)
    return order[first], order[first + 1]


@checked
def n_pair_loss(
    embeddings: Tensor, labels: Tensor, ref_embeddings: Tensor | None = None,
    ref_labels: Tensor | None = None, indices: tuple[Tensor, ...] | None = None, *,
    ignore_index: int | None = -100, weight: Weight = None, mask: Mask = None,
    reduction: Reduction = "mean",
) -> Tensor:  # fmt: skip
    r"""Multi-class N-pair loss: one positive pair per class, each classified against the
    other classes' positives with a softmax.

    Formula:
        l_c = -log( e^{s(a_c, p_c)} / sum_{c'} e^{s(a_c, p_c')} ) = LSE_{c'} s(a_c, p_c') - s(a_c, p_c);  mean over the classes c with a pair

    For each class ``c`` that has a positive pair, ``(a_c, p_c)`` is its *first* pair in
    row-major order of the batch: ``a_c`` the first sample of the class and ``p_c`` the
    second (with ``ref_embeddings``: the first sample of ``embeddings`` whose class is in the
    reference set and the first reference row of that class; with ``indices``: the first
    listed positive pair of each anchor label). The other samples of the class, and the
    classes with a single sample, take no part. ``s`` is the cosine similarity (embeddings
    normalised inside, pytorch-metric-learning's default ``DotProductSimilarity``). With
    ``N`` classes the loss is an ``N``-way softmax cross-entropy whose correct class is the
    anchor's own positive: Sohn's ``(N+1)``-tuplet loss computed efficiently from ``N`` pairs
    (``log(1 + sum_{c' != c} e^{s_cc' - s_cc})`` is the same number).

    The paper adds an L2 regulariser of the (unnormalised) embeddings, ``lambda/N sum
    (||a_c||^2 + ||p_c||^2)``. With normalised embeddings it is a constant, and
    pytorch-metric-learning leaves it out by default; so does losskit (add
    ``lambda * embeddings.square().sum(1).mean()`` yourself if you train unnormalised
    features).

    When to use:
        P x K batches (``K >= 2``) where every class should beat all the others at once: a
        cheap ``N``-way softmax over ``N`` pairs instead of ``N`` triplets, the precursor of
        NT-Xent and SupCon (which use every pair and a temperature). Its logits are cosines
        in ``[-1, 1]``, so the loss stays above ``log(1 + (N - 1) e^{-2})``; for a sharper
        softmax use :func:`supcon_loss` or :func:`nt_xent_loss` with a temperature.

    Args:
        embeddings: ``(B, D)`` embeddings (normalised inside).
        labels: ``(B,)`` integer identities (any integer dtype).
        ref_embeddings: optional ``(M, D)`` reference embeddings: the positives ``p_c`` are
            then taken from them (the first reference row of each class); default ``None``.
        ref_labels: ``(M,)`` integer identities of ``ref_embeddings`` (required with them).
        indices: optional mined pairs ``(a1, p, a2, n)`` or triplets ``(a, p, n)`` (a miner's
            output, :mod:`losskit.miners`): the pairs ``(a_c, p_c)`` are the first listed
            positive pair of each anchor label (their labels are not re-read; the negative
            pairs are not used: each anchor's negatives are the other classes' positives),
            less pairs of a sample with itself or with a left-out one. Default ``None``: the
            pairs by label.
        ignore_index: samples whose label equals it leave the batch (reference rows whose
            label equals it leave the reference set); default -100.
        weight: optional non-negative ``(B,)`` anchor weights: each scales its anchor's loss
            and what it counts in ``"mean"``.
        mask: optional bool ``(B,)``; ``False`` = the sample leaves the batch.
        reduction: ``"none"`` (``(B,)``: ``l_c`` at anchor ``a_c``, 0 at every other
            sample), ``"mean"`` (default: over the classes with a pair) or ``"sum"``.

    Returns:
        A scalar, or ``(B,)`` for ``"none"``. ``"mean"`` with no positive pair is 0 (with a
        gradient).

    Raises:
        TypeError: non-floating embeddings, non-integer labels.
        ValueError: shapes other than ``(B, D)`` and ``(B,)``, a reference set of another
            ``D`` or without its labels, ``indices`` that are not 3 or 4 integer index
            tensors of matching lengths within range, a bad ``weight``/``mask``.

    Equals pytorch-metric-learning's ``NPairsLoss()`` (default ``DotProductSimilarity``,
    which normalises, and ``MeanReducer``), with and without ``indices``; PML refuses
    ``ref_emb``.

    Paper:
        Sohn, "Improved Deep Metric Learning with Multi-class N-pair Loss Objective", NeurIPS
        2016.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
        >>> # two classes, pairs (0, 1) and (2, 3): each anchor at cos 1 with its positive,
        >>> # cos 0 with the other: log(e^1 + e^0) - 1 = log(1 + e^-1)
        >>> n_pair_loss(x, torch.tensor([0, 0, 1, 1]))
        tensor(0.3133)
    """
    fn = "n_pair_loss"
    keep = labelled_rows(
        fn, embeddings, labels, weight=weight, mask=mask, ignore_index=ignore_index
    )
    check_reference(fn, embeddings, ref_embeddings, ref_labels)
    out_dtype, work = embeddings.dtype, compute_dtype(embeddings)
    q = normalize(zero_excluded(embeddings.to(work), keep, 1))
    if ref_embeddings is None or ref_labels is None:
        r, yr, kr, same_set = q, labels, keep, True
    else:
        kr = None if ignore_index is None else not_ignored(ref_labels, ignore_index)
        r = normalize(zero_excluded(ref_embeddings.to(work), kr, 1))
        yr, same_set = ref_labels, False
    b, m = q.shape[0], r.shape[0]
    selection(fn, indices, b, m, q.device)  # checks the listed pairs (types, lengths, range)
    with torch.no_grad():
        if indices is None and same_set:
            a, p = _first_two_per_label(labels, keep)
        elif indices is None:
            pos, _ = pairs_of(q, r, 0, labels, yr, keep, kr, same_set, None, None)
            pa, pp = pos.nonzero(as_tuple=True)  # pos is (B, M): two index tensors
            a, p = _first_pair_per_label(pa, pp, labels)
        else:
            a, p = indices[0].long(), indices[1].long()
            ok = torch.ones_like(a, dtype=torch.bool)
            if same_set:
                ok = ok & (a != p)
            if keep is not None:
                ok = ok & keep[a]
            if kr is not None:
                ok = ok & kr[p]
            a, p = _first_pair_per_label(a[ok], p[ok], labels)
    s = q[a] @ r[p].T  # (N, N): anchor c against every class's positive
    terms = torch.logsumexp(s, 1) - s.diagonal()
    # every sample's total (0 but at the anchors), with a graph even when no class has a pair
    total = (q.sum(1) * 0.0).index_add(0, a, terms)
    count = torch.zeros(b, dtype=work, device=q.device).index_add(
        0, a, torch.ones_like(terms, dtype=work)
    )
    if weight is not None:
        total, count = total * weight.to(work), count * weight.to(work)
    return reduce_counted(fn, total, count, reduction, out_dtype)


class NPairLoss(LossModule, function=n_pair_loss):
    """Multi-class N-pair loss: the first positive pair of each class, an ``N``-way softmax
    over the classes' positives per anchor (cosine similarities).

    Args:
        ignore_index: samples with this label leave the batch; default -100.
        reduction: ``"none"`` (per sample, the loss at each class's anchor), ``"mean"``
            (default, over the classes with a pair) or ``"sum"``.

    Shape:
        ``forward(embeddings, labels, ref_embeddings=None, ref_labels=None, indices=None, *,
        weight=None, mask=None)``: ``(B, D)``, ``(B,)``, optionally ``(M, D)`` and ``(M,)``.
        Output: a scalar, or ``(B,)``.

    Paper:
        Sohn, "Improved Deep Metric Learning with Multi-class N-pair Loss Objective", NeurIPS
        2016.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
        >>> NPairLoss()(x, torch.tensor([0, 0, 1, 1]))
        tensor(0.3133)
    """

    ignore_index: int | None = DEFAULT
