"""Vector geometry: cosine similarity, Euclidean distance, their pairwise ``(N, M)`` forms and
the seed's identity for unit vectors, ``d = sqrt(2 - 2 cos)`` (SPEC.md section 7).

Every square root here is a *safe* square root: its value at 0 is exactly 0 and its gradient
there is 0 rather than ``inf``/NaN, so two identical embeddings do not poison a backward pass.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._checks import check_floating, check_ndim, check_positive, check_same_shape

__all__ = [
    "cosine_similarity",
    "cosine_distance",
    "euclidean_distance",
    "pairwise_cosine_similarity",
    "pairwise_euclidean_distance",
    "euclidean_from_cosine",
    "cosine_from_euclidean",
    "safe_sqrt",
]


def safe_sqrt(x: Tensor) -> Tensor:
    """``sqrt(max(x, 0))`` with value 0 and gradient 0 wherever ``x <= 0``.

    The double ``where`` keeps the unused branch's ``inf`` gradient out of the graph.
    """
    pos = x > 0
    return torch.where(
        pos, torch.sqrt(torch.where(pos, x, torch.ones_like(x))), torch.zeros_like(x)
    )


def _normalize(x: Tensor, dim: int, eps: float) -> Tensor:
    # x / max(||x||, eps): a zero vector maps to zero (cosine 0), with finite gradients.
    return x / torch.linalg.vector_norm(x, dim=dim, keepdim=True).clamp_min(eps)


def cosine_similarity(a: Tensor, b: Tensor, *, dim: int = -1, eps: float = 1e-8) -> Tensor:
    r"""``cos(a, b) = a.b / (max(||a||, eps) max(||b||, eps))`` along ``dim``.

    ``a`` and ``b`` must have the same shape (no silent broadcasting). A zero vector has
    cosine 0 with everything. Unlike ``torch.nn.functional.cosine_similarity`` (which clamps
    the product of the norms) each norm is clamped on its own, so the gradient stays finite
    for a zero vector.

    Example:
        >>> import torch
        >>> cosine_similarity(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0]))
        tensor(0.7071)
    """
    fn = "cosine_similarity"
    check_floating(fn, "a", a)
    check_floating(fn, "b", b)
    check_same_shape(fn, a, b, ("a", "b"))
    check_positive(fn, "eps", eps)
    return (_normalize(a, dim, eps) * _normalize(b, dim, eps)).sum(dim)


def cosine_distance(a: Tensor, b: Tensor, *, dim: int = -1, eps: float = 1e-8) -> Tensor:
    """``1 - cos(a, b)``, in ``[0, 2]``."""
    return 1.0 - cosine_similarity(a, b, dim=dim, eps=eps)


def euclidean_distance(a: Tensor, b: Tensor, *, dim: int = -1, squared: bool = False) -> Tensor:
    r"""``d(a, b) = sqrt(sum_i (a_i - b_i)^2)`` along ``dim`` (or its square).

    The gradient at ``a == b`` is 0 (safe square root), not NaN as with ``torch.norm``.

    Example:
        >>> import torch
        >>> euclidean_distance(torch.tensor([0.0, 0.0]), torch.tensor([3.0, 4.0]))
        tensor(5.)
    """
    fn = "euclidean_distance"
    check_floating(fn, "a", a)
    check_floating(fn, "b", b)
    check_same_shape(fn, a, b, ("a", "b"))
    sq = (a - b).square().sum(dim)
    return sq if squared else safe_sqrt(sq)


def _pairwise_checks(fn: str, a: Tensor, b: Tensor) -> None:
    check_floating(fn, "a", a)
    check_floating(fn, "b", b)
    check_ndim(fn, "a", a, 2)
    check_ndim(fn, "b", b, 2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{fn}: a and b must have the same feature dimension; got (N, {a.shape[1]}) and (M, {b.shape[1]})"
        )


def pairwise_cosine_similarity(a: Tensor, b: Tensor | None = None, *, eps: float = 1e-8) -> Tensor:
    """``(N, D)`` x ``(M, D)`` -> ``(N, M)`` cosine similarities (``b`` defaults to ``a``)."""
    fn = "pairwise_cosine_similarity"
    b = a if b is None else b
    _pairwise_checks(fn, a, b)
    check_positive(fn, "eps", eps)
    return _normalize(a, 1, eps) @ _normalize(b, 1, eps).T


def pairwise_euclidean_distance(
    a: Tensor, b: Tensor | None = None, *, squared: bool = False
) -> Tensor:
    """``(N, D)`` x ``(M, D)`` -> ``(N, M)`` Euclidean distances (``b`` defaults to ``a``).

    Uses ``||a||^2 + ||b||^2 - 2 a.b`` (one matrix product, O(N M) memory), clamped at 0
    against rounding (as ``torch.cdist`` does for large inputs, so close but distinct points
    carry a rounding error of about ``sqrt(eps) * ||a||``). When ``b`` is omitted the
    diagonal is exactly 0. The gradient is 0 where two rows coincide.
    """
    fn = "pairwise_euclidean_distance"
    self_distance = b is None
    b = a if b is None else b
    _pairwise_checks(fn, a, b)
    sq = a.square().sum(1, keepdim=True) + b.square().sum(1).unsqueeze(0) - 2.0 * (a @ b.T)
    sq = sq.clamp_min(0.0)
    if self_distance:
        sq = sq.masked_fill(torch.eye(a.shape[0], dtype=torch.bool, device=a.device), 0.0)
    return sq if squared else safe_sqrt(sq)


def euclidean_from_cosine(cos: Tensor) -> Tensor:
    r"""Euclidean distance between unit vectors from their cosine: ``sqrt(2 - 2 cos)``.

    For ``||a|| = ||b|| = 1``: ``||a - b||^2 = 2 - 2 a.b``. The argument is clamped at 0
    (rounding can push ``cos`` a hair above 1); the gradient at ``cos = 1`` is 0.

    Example:
        >>> import torch
        >>> euclidean_from_cosine(torch.tensor([1.0, 0.0, -1.0]))
        tensor([0.0000, 1.4142, 2.0000])
    """
    check_floating("euclidean_from_cosine", "cos", cos)
    return safe_sqrt(2.0 - 2.0 * cos)


def cosine_from_euclidean(distance: Tensor) -> Tensor:
    """Inverse of :func:`euclidean_from_cosine` for unit vectors: ``cos = 1 - d^2 / 2``."""
    check_floating("cosine_from_euclidean", "distance", distance)
    return 1.0 - 0.5 * distance.square()
