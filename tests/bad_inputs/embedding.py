"""Inputs every embedding loss must refuse, with the error each must raise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from . import BadInput


def _common_bad(name: str, good: Callable[[], tuple[Any, ...]]) -> tuple[BadInput, ...]:
    return (
        BadInput(
            "unknown reduction",
            lambda: (good(), {"reduction": "avg"}),
            ValueError,
            rf"{name}: reduction must be one of 'none', 'mean', 'sum'; got 'avg'",
        ),
        BadInput(
            "negative margin",
            lambda: (good(), {"margin": -0.5}),
            ValueError,
            rf"{name}: margin must be a finite number >= 0; got -0.5",
        ),
        BadInput(
            "unknown distance",
            lambda: (good(), {"distance": "manhattan"}),
            ValueError,
            rf"{name}: distance must be one of 'euclidean', 'cosine'; got 'manhattan'",
        ),
    )


def _batch_bad(name: str) -> tuple[BadInput, ...]:
    good = lambda: (torch.zeros(6, 3), torch.zeros(6, dtype=torch.long))  # noqa: E731
    return (
        *_common_bad(name, good),
        BadInput(
            "labels of the wrong length",
            lambda: ((torch.zeros(6, 3), torch.zeros(5, dtype=torch.long)), {}),
            ValueError,
            rf"{name}: labels must have shape \(N,\) = \(6,\) to match embeddings \(6, 3\); got \(5,\)",
        ),
        BadInput(
            "float labels",
            lambda: ((torch.zeros(6, 3), torch.zeros(6)), {}),
            TypeError,
            rf"{name}: labels must be an integer tensor of class indices; got dtype torch.float32",
        ),
        BadInput(
            "embeddings not (B, D)",
            lambda: ((torch.zeros(6), torch.zeros(6, dtype=torch.long)), {}),
            ValueError,
            rf"{name}: embeddings must have 2 dimensions; got shape \(6,\)",
        ),
        BadInput(
            "integer embeddings",
            lambda: ((torch.zeros(6, 3, dtype=torch.long), torch.zeros(6, dtype=torch.long)), {}),
            TypeError,
            rf"{name}: embeddings must be a floating-point tensor; got dtype torch.int64",
        ),
    )


_CONTRASTIVE_BAD = (
    *_common_bad("contrastive_loss", lambda: (torch.zeros(4, 3), torch.zeros(4, 3), torch.ones(4))),
    BadInput(
        "shape mismatch",
        lambda: ((torch.zeros(8, 4), torch.zeros(8, 5), torch.ones(8)), {}),
        ValueError,
        r"contrastive_loss: anchor and paired must have the same shape; got \(8, 4\) and \(8, 5\)",
    ),
    BadInput(
        "target not one per pair",
        lambda: ((torch.zeros(8, 4), torch.zeros(8, 4), torch.ones(8, 1)), {}),
        ValueError,
        r"contrastive_loss: target must have shape \(8,\), one value per row; got \(8, 1\)",
    ),
    BadInput(
        "target not a tensor",
        lambda: ((torch.zeros(8, 4), torch.zeros(8, 4), [1] * 8), {}),
        TypeError,
        r"contrastive_loss: target must be a torch.Tensor; got list",
    ),
)


_TRIPLET_BAD = (
    *_common_bad("triplet_loss", lambda: (torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(4, 3))),
    BadInput(
        "shape mismatch",
        lambda: ((torch.zeros(8, 4), torch.zeros(8, 4), torch.zeros(7, 4)), {}),
        ValueError,
        r"triplet_loss: anchor and negative must have the same shape; got \(8, 4\) and \(7, 4\)",
    ),
    BadInput(
        "squared cosine",
        lambda: (
            (torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(4, 3)),
            {"distance": "cosine", "squared": True},
        ),
        ValueError,
        r"triplet_loss: squared=True applies to the euclidean distance only; got distance='cosine'",
    ),
    BadInput(
        "weight that enlarges the loss",
        lambda: (
            (torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3, 2)),
            {"weight": torch.ones(2, 3)},
        ),
        ValueError,
        r"triplet_loss: weight must have shape \(3,\), one value per row; got \(2, 3\)",
    ),
)


_BATCH_TRIPLET_BAD = (
    *_batch_bad("batch_triplet_loss"),
    BadInput(
        "unknown mining",
        lambda: ((torch.zeros(6, 3), torch.zeros(6, dtype=torch.long)), {"mining": "random"}),
        ValueError,
        r"batch_triplet_loss: mining must be one of 'all', 'hard', 'semihard'; got 'random'",
    ),
    BadInput(
        "unknown mean_over",
        lambda: ((torch.zeros(6, 3), torch.zeros(6, dtype=torch.long)), {"mean_over": "nonzero"}),
        ValueError,
        r"batch_triplet_loss: mean_over must be one of 'all', 'active'; got 'nonzero'",
    ),
    BadInput(
        "squared cosine",
        lambda: (
            (torch.zeros(6, 3), torch.zeros(6, dtype=torch.long)),
            {"distance": "cosine", "squared": True},
        ),
        ValueError,
        r"batch_triplet_loss: squared=True applies to the euclidean distance only; got distance='cosine'",
    ),
)


def _pair_batch_bad(name: str, hyper: tuple[str, object, str]) -> tuple[BadInput, ...]:
    """The labelled-batch pair losses (NT-Xent, SupCon, multi-similarity, circle): their
    reference set, their blocks and one refused hyperparameter value ``hyper`` = (name, value,
    what the message says it must be)."""
    x, y = (lambda: torch.zeros(6, 3)), (lambda: torch.zeros(6, dtype=torch.long))  # noqa: E731
    key, value, rule = hyper
    return (
        *_batch_bad_without_distance(name),
        BadInput(
            f"bad {key}",
            lambda: ((x(), y()), {key: value}),
            ValueError,
            rf"{name}: {key} must be {rule}; got {value}",
        ),
        BadInput(
            "float chunk_size",
            lambda: ((x(), y()), {"chunk_size": 2.5}),
            TypeError,
            rf"{name}: chunk_size must be an int; got 2.5",
        ),
        BadInput(
            "ref_embeddings without ref_labels",
            lambda: ((x(), y(), torch.zeros(4, 3)), {}),
            ValueError,
            rf"{name}: ref_embeddings and ref_labels go together; got ref_embeddings alone",
        ),
        BadInput(
            "ref_embeddings of another dimension",
            lambda: ((x(), y(), torch.zeros(4, 5), torch.zeros(4, dtype=torch.long)), {}),
            ValueError,
            rf"{name}: ref_embeddings must have shape \(M, 3\) to match embeddings \(6, 3\); "
            r"got \(4, 5\)",
        ),
        BadInput(
            "ref_labels of the wrong length",
            lambda: ((x(), y(), torch.zeros(4, 3), torch.zeros(3, dtype=torch.long)), {}),
            ValueError,
            rf"{name}: ref_labels must have shape \(M,\) = \(4,\) to match ref_embeddings "
            r"\(4, 3\); got \(3,\)",
        ),
        BadInput(
            "float ref_labels",
            lambda: ((x(), y(), torch.zeros(4, 3), torch.zeros(4)), {}),
            TypeError,
            rf"{name}: ref_labels must be an integer tensor of class indices",
        ),
    )


def _batch_bad_without_distance_args(name: str, extra: tuple) -> tuple[BadInput, ...]:
    """:func:`_batch_bad_without_distance` with ``extra`` positional arguments after the
    embeddings and labels (a loss's state, such as margin_loss's boundary)."""
    out = []
    for b in _batch_bad_without_distance(name):
        def make(b=b):
            args, kwargs = b.make()
            return (*args, *extra), kwargs

        out.append(BadInput(b.label, make, b.error, b.match))
    return tuple(out)


def _batch_bad_without_distance(name: str) -> tuple[BadInput, ...]:
    """:func:`_batch_bad` less the margin and distance cases (losses without them)."""
    return tuple(
        b for b in _batch_bad(name) if b.label not in ("negative margin", "unknown distance")
    )


def _proxy_bad(name: str, ndim: int) -> tuple[BadInput, ...]:
    """The proxy losses: ``(embeddings, labels, centers)`` with 4 classes of dimension 3."""
    shape = (4, 3) if ndim == 2 else (4, 2, 3)
    want = r"\(C, D\)" if ndim == 2 else r"\(C, K, D\)"
    x, y = (lambda: torch.zeros(6, 3)), (lambda: torch.zeros(6, dtype=torch.long))  # noqa: E731
    c = lambda: torch.randn(shape)  # noqa: E731
    return (
        BadInput(
            "labels of the wrong length",
            lambda: ((x(), torch.zeros(5, dtype=torch.long), c()), {}),
            ValueError,
            rf"{name}: labels must have shape \(N,\) = \(6,\) to match embeddings",
        ),
        BadInput(
            "a label outside [0, C)",
            lambda: ((x(), torch.tensor([0, 1, 2, 3, 4, 0]), c()), {}),
            ValueError,
            rf"{name}: labels must lie in \[0, 3\] or equal ignore_index=-100; got values in "
            r"\[0, 4\]",
        ),
        BadInput(
            "centers of another dimension",
            lambda: ((x(), y(), torch.randn(*shape[:-1], 5)), {}),
            ValueError,
            rf"{name}: centers must have shape {want} with D = 3 to match embeddings \(6, 3\); "
            rf"got \({', '.join(map(str, shape[:-1]))}, 5\)",
        ),
        BadInput(
            "centers of the wrong rank",
            lambda: ((x(), y(), torch.randn(3)), {}),
            ValueError,
            rf"{name}: centers must have {ndim} dimensions; got shape \(3,\)",
        ),
        BadInput(
            "integer centers",
            lambda: ((x(), y(), torch.zeros(shape, dtype=torch.long)), {}),
            TypeError,
            rf"{name}: centers must be a floating-point tensor; got dtype torch.int64",
        ),
        BadInput(
            "float labels",
            lambda: ((x(), torch.zeros(6), c()), {}),
            TypeError,
            rf"{name}: labels must be an integer tensor of class indices",
        ),
        BadInput(
            "unknown reduction",
            lambda: ((x(), y(), c()), {"reduction": "avg"}),
            ValueError,
            rf"{name}: reduction must be one of 'none', 'mean', 'sum'; got 'avg'",
        ),
    )


_INFO_NCE_BAD = (
    BadInput(
        "views of different shapes",
        lambda: ((torch.zeros(4, 3), torch.zeros(5, 3)), {}),
        ValueError,
        r"info_nce_loss: anchor and paired must have the same shape; got \(4, 3\) and \(5, 3\)",
    ),
    BadInput(
        "views not (N, D)",
        lambda: ((torch.zeros(4), torch.zeros(4)), {}),
        ValueError,
        r"info_nce_loss: anchor must have 2 dimensions; got shape \(4,\)",
    ),
    BadInput(
        "integer views",
        lambda: ((torch.zeros(4, 3, dtype=torch.long), torch.zeros(4, 3)), {}),
        TypeError,
        r"info_nce_loss: anchor must be a floating-point tensor; got dtype torch.int64",
    ),
    BadInput(
        "negative temperature",
        lambda: ((torch.zeros(4, 3), torch.zeros(4, 3)), {"temperature": -1.0}),
        ValueError,
        r"info_nce_loss: temperature must be a finite number > 0; got -1.0",
    ),
    BadInput(
        "weight not one per sample",
        lambda: ((torch.zeros(4, 3), torch.zeros(4, 3)), {"weight": torch.ones(8)}),
        ValueError,
        r"info_nce_loss: weight must have shape \(4,\), one value per row; got \(8,\)",
    ),
)


def _ssl_bad(name: str, hyper: str) -> tuple[BadInput, ...]:
    """The two-view statistics losses (VICReg, Barlow Twins)."""
    return (
        BadInput(
            "views of different shapes",
            lambda: ((torch.zeros(4, 3), torch.zeros(4, 2)), {}),
            ValueError,
            rf"{name}: anchor and paired must have the same shape; got \(4, 3\) and \(4, 2\)",
        ),
        BadInput(
            "views not (N, D)",
            lambda: ((torch.zeros(4, 3, 2), torch.zeros(4, 3, 2)), {}),
            ValueError,
            rf"{name}: anchor must have 2 dimensions; got shape \(4, 3, 2\)",
        ),
        BadInput(
            "integer views",
            lambda: ((torch.zeros(4, 3), torch.zeros(4, 3, dtype=torch.long)), {}),
            TypeError,
            rf"{name}: paired must be a floating-point tensor; got dtype torch.int64",
        ),
        BadInput(
            f"negative {hyper}",
            lambda: ((torch.zeros(4, 3), torch.zeros(4, 3)), {hyper: -1.0}),
            ValueError,
            rf"{name}: {hyper} must be a finite number >= 0; got -1.0",
        ),
        BadInput(
            "mask of another length",
            lambda: ((torch.zeros(4, 3), torch.zeros(4, 3)),
                     {"mask": torch.ones(3, dtype=torch.bool)}),  # fmt: skip
            ValueError,
            rf"{name}: mask must broadcast to \(4,\) without enlarging it; got \(3,\)",
        ),
    )


def _contrastive_form_bad(name: str, n_args: int) -> tuple[BadInput, ...]:
    """The contrastive losses' formula option and positive margin (explicit pairs take
    ``(anchor, paired, target)``, the batch form ``(embeddings, labels)``)."""

    def good() -> tuple[torch.Tensor, ...]:
        if n_args == 3:
            return torch.zeros(4, 3), torch.zeros(4, 3), torch.ones(4)
        return torch.zeros(6, 3), torch.zeros(6, dtype=torch.long)

    return (
        BadInput(
            "unknown form",
            lambda: (good(), {"form": "squared"}),
            ValueError,
            rf"{name}: form must be one of 'deepid2', 'hinge'; got 'squared'",
        ),
        BadInput(
            "negative pos_margin",
            lambda: (good(), {"pos_margin": -0.1}),
            ValueError,
            rf"{name}: pos_margin must be a finite number >= 0; got -0.1",
        ),
    )


def _n_pair_bad() -> tuple[BadInput, ...]:
    """N-pair: the labelled-batch pair losses' refusals less the hyperparameter and chunk ones
    (it has neither), plus mined pairs out of range or of mismatched lengths."""
    name = "n_pair_loss"
    x, y = (lambda: torch.zeros(6, 3)), (lambda: torch.zeros(6, dtype=torch.long))  # noqa: E731
    shared = _pair_batch_bad(name, ("unused", 0, ""))
    i = lambda *v: torch.tensor(v)  # noqa: E731
    return (
        *(b for b in shared if b.label not in ("bad unused", "float chunk_size")),
        BadInput(
            "a mined positive outside the batch",
            lambda: ((x(), y(), None, None, (i(0, 1), i(1, 6), i(0), i(2))), {}),
            ValueError,
            rf"{name}: indices \(positive\) must lie in \[0, 5\], rows of the reference set; "
            r"got values in \[1, 6\]",
        ),
        BadInput(
            "mined pairs of mismatched lengths",
            lambda: ((x(), y(), None, None, (i(0, 1), i(1), i(0), i(2))), {}),
            ValueError,
            rf"{name}: indices \(a1, p\) must have one length; got 2 and 1",
        ),
        BadInput(
            "float mined indices",
            lambda: ((x(), y(), None, None, (i(0.0), i(1.0), i(0.0))), {}),
            TypeError,
            rf"{name}: indices \(a\) must be an integer tensor",
        ),
    )


BAD_INPUTS = {
    'contrastive_loss': (*_CONTRASTIVE_BAD, *_contrastive_form_bad("contrastive_loss", 3)),
    'batch_contrastive_loss': (
        *_batch_bad("batch_contrastive_loss"),
        *_contrastive_form_bad("batch_contrastive_loss", 2),
    ),
    'triplet_loss': _TRIPLET_BAD,
    'batch_triplet_loss': _BATCH_TRIPLET_BAD,
    'nt_xent_loss': _pair_batch_bad("nt_xent_loss", ("temperature", 0.0, "a finite number > 0")),
    'info_nce_loss': _INFO_NCE_BAD,
    'supcon_loss': _pair_batch_bad("supcon_loss", ("temperature", 0.0, "a finite number > 0")),
    'n_pair_loss': _n_pair_bad(),
    'multi_similarity_loss': _pair_batch_bad(
        "multi_similarity_loss", ("mining_margin", -0.1, "a finite number >= 0")
    ),
    'circle_loss': _pair_batch_bad("circle_loss", ("scale", 0.0, "a finite number > 0")),
    'proxy_anchor_loss': _proxy_bad("proxy_anchor_loss", 2),
    'proxy_nca_loss': _proxy_bad("proxy_nca_loss", 2),
    'soft_triple_loss': _proxy_bad("soft_triple_loss", 3),
    'margin_loss': (
        *_batch_bad_without_distance_args("margin_loss", (1.2,)),
        BadInput(
            "boundary of several elements",
            lambda: ((torch.zeros(6, 3), torch.zeros(6, dtype=torch.long), torch.ones(2)), {}),
            ValueError,
            r"margin_loss: boundary must be a number or a one-element tensor; got shape \(2,\)",
        ),
        BadInput(
            "boundary a string",
            lambda: ((torch.zeros(6, 3), torch.zeros(6, dtype=torch.long), "1.2"), {}),
            TypeError,
            r"margin_loss: boundary must be a number or a tensor; got str",
        ),
    ),
    'lifted_structure_loss': _batch_bad_without_distance("lifted_structure_loss"),
    'generalized_lifted_structure_loss': _pair_batch_bad(
        "generalized_lifted_structure_loss", ("pos_margin", -1.0, "a finite number >= 0")
    ),
    'vicreg_loss': _ssl_bad("vicreg_loss", "variance_weight"),
    'barlow_twins_loss': _ssl_bad("barlow_twins_loss", "off_diagonal_weight"),
}
