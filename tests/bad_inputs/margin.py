"""Inputs every margin loss must refuse, with the error each must raise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from losskit import functional as F

from . import BadInput

_D = 6  # feature dimension of the registry's inputs


_C = 5  # classes


_K = 2  # sub-centres


def _bad(
    fn: Callable, weight_shape: tuple[int, ...] = (_C, _D), extra: tuple[BadInput, ...] = ()
) -> tuple[BadInput, ...]:
    name = fn.__name__
    w = lambda: torch.randn(*weight_shape)  # noqa: E731
    x = lambda n=4: torch.randn(n, _D)  # noqa: E731
    y = lambda n=4: torch.zeros(n, dtype=torch.long)  # noqa: E731
    return (
        BadInput(
            "batch mismatch",
            lambda: ((x(4), y(3), w()), {}),
            ValueError,
            rf"{name}: labels must have shape \(N,\) = \(4,\) to match embeddings \(4, {_D}\); got \(3,\)",
        ),
        BadInput(
            "feature dimension mismatch",
            lambda: ((torch.randn(4, _D + 1), y(), w()), {}),
            ValueError,
            rf"{name}: centers' last dimension must equal the embedding dimension {_D + 1}",
        ),
        BadInput(
            "label out of range",
            lambda: ((x(), torch.tensor([0, 1, 2, _C]), w()), {}),
            ValueError,
            rf"{name}: labels must lie in \[0, {_C - 1}\] or equal ignore_index=-100; got values in \[0, {_C}\]",
        ),
        BadInput(
            "integer embeddings",
            lambda: ((torch.zeros(4, _D, dtype=torch.long), y(), w()), {}),
            TypeError,
            rf"{name}: embeddings must be a floating-point tensor; got dtype torch.int64",
        ),
        BadInput(
            "float labels",
            lambda: ((x(), torch.zeros(4), w()), {}),
            TypeError,
            rf"{name}: labels must be an integer tensor of class indices; got dtype torch.float32",
        ),
        BadInput(
            "unknown reduction",
            lambda: ((x(), y(), w()), {"reduction": "avg"}),
            ValueError,
            rf"{name}: reduction must be one of 'none', 'mean', 'sum'; got 'avg'",
        ),
        BadInput(
            "chunk_size 0",
            lambda: ((x(), y(), w()), {"chunk_size": 0}),
            ValueError,
            rf"{name}: chunk_size must be an int >= 1; got 0",
        ),
        *extra,
    )


def _bad_kw(
    name: str, kwargs: dict[str, Any], error: type[Exception], match: str, weight_shape=(_C, _D)
) -> BadInput:
    return BadInput(
        f"bad {', '.join(kwargs)}",
        lambda: (
            (torch.randn(4, _D), torch.zeros(4, dtype=torch.long), torch.randn(*weight_shape)),
            kwargs,
        ),
        error,
        match,
    )


BAD_INPUTS = {
    'softmax_loss': _bad(F.softmax_loss),
    'lsoftmax_loss': _bad(
            F.lsoftmax_loss,
            extra=(
                _bad_kw(
                    "lsoftmax_loss",
                    {"m": 2.5},
                    TypeError,
                    r"lsoftmax_loss: m must be an int; got 2.5",
                ),
                _bad_kw(
                    "lsoftmax_loss",
                    {"lambda_": -1.0},
                    ValueError,
                    r"lsoftmax_loss: lambda_ must be a finite number >= 0; got -1.0",
                ),
            ),
        ),
    'sphereface_loss': _bad(
            F.sphereface_loss,
            extra=(
                _bad_kw(
                    "sphereface_loss",
                    {"m": 0},
                    ValueError,
                    r"sphereface_loss: m must be an int >= 1; got 0",
                ),
            ),
        ),
    'coco_loss': _bad(
            F.coco_loss,
            extra=(
                _bad_kw(
                    "coco_loss",
                    {"scale": 0.0},
                    ValueError,
                    r"coco_loss: scale must be a finite number > 0; got 0.0",
                ),
            ),
        ),
    'l2_softmax_loss': _bad(
            F.l2_softmax_loss,
            extra=(
                _bad_kw(
                    "l2_softmax_loss",
                    {"scale": -2.0},
                    ValueError,
                    r"l2_softmax_loss: scale must be a finite number > 0; got -2.0",
                ),
            ),
        ),
    'normface_loss': _bad(
            F.normface_loss,
            extra=(
                _bad_kw(
                    "normface_loss",
                    {"scale": torch.ones(2)},
                    ValueError,
                    r"normface_loss: scale must be a number or a one-element tensor; got \(2,\)",
                ),
            ),
        ),
    'cosface_loss': _bad(
            F.cosface_loss,
            extra=(
                _bad_kw(
                    "cosface_loss",
                    {"cos_margin": -0.1},
                    ValueError,
                    r"cosface_loss: cos_margin must be a finite number >= 0; got -0.1",
                ),
            ),
        ),
    'arcface_loss': _bad(
            F.arcface_loss,
            extra=(
                _bad_kw(
                    "arcface_loss",
                    {"margin": 3.5},
                    ValueError,
                    r"arcface_loss: margin must be a number in \[0, pi\); got 3.5",
                ),
                _bad_kw(
                    "arcface_loss",
                    {"grad_mode": "detach"},
                    ValueError,
                    r"arcface_loss: grad_mode must be one of 'exact', 'straight_through'; got 'detach'",
                ),
            ),
        ),
    'combined_margin_loss': _bad(
            F.combined_margin_loss,
            extra=(
                _bad_kw(
                    "combined_margin_loss",
                    {"m": 2.0, "fallback": "linear"},
                    ValueError,
                    r"combined_margin_loss: fallback='linear' \(cos theta - margin sin margin\) needs m == 1; got m=2.0",
                ),
                _bad_kw(
                    "combined_margin_loss",
                    {"m": 0.0},
                    ValueError,
                    r"combined_margin_loss: m must be a finite number > 0; got 0.0",
                ),
            ),
        ),
    'subcenter_arcface_loss': _bad(
            F.subcenter_arcface_loss,
            weight_shape=(_C, _K, _D),
            extra=(
                BadInput(
                    "2-d centers",
                    lambda: (
                        (torch.randn(4, _D), torch.zeros(4, dtype=torch.long), torch.randn(_C, _D)),
                        {},
                    ),
                    ValueError,
                    rf"subcenter_arcface_loss: centers must have shape \(C, K, D\); got \({_C}, {_D}\)",
                ),
            ),
        ),
}


# ------------------------------------------------------------------ heads with running state


def _with_state(found: tuple[BadInput, ...], state: Callable[[], tuple]) -> tuple[BadInput, ...]:
    """The same bad inputs with the running estimates appended after the centres."""

    def wrap(make: Callable) -> Callable:
        def made() -> tuple[tuple[Any, ...], dict[str, Any]]:
            args, kwargs = make()
            return (*args, *state()), kwargs

        return made

    return tuple(BadInput(b.label, wrap(b.make), b.error, b.match) for b in found)


def _xyw() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return torch.randn(4, _D), torch.zeros(4, dtype=torch.long), torch.randn(_C, _D)


_T = lambda: (torch.tensor(0.0),)  # noqa: E731
_STATS = lambda: (torch.tensor(20.0), torch.tensor(100.0))  # noqa: E731

BAD_INPUTS["curricularface_loss"] = _with_state(
    _bad(
        F.curricularface_loss,
        extra=(
            _bad_kw(
                "curricularface_loss", {"momentum": 1.5}, ValueError,
                r"curricularface_loss: momentum must be a number in \[0, 1\]; got 1.5",
            ),
        ),
    ),
    _T,
) + (
    BadInput(
        "t of two elements",
        lambda: ((*_xyw(), torch.zeros(2)), {}),
        ValueError,
        r"curricularface_loss: t must be a one-element tensor; got \(2,\)",
    ),
    BadInput(
        "integer t",
        lambda: ((*_xyw(), torch.tensor(0)), {}),
        TypeError,
        r"curricularface_loss: t must be a floating-point tensor; got dtype torch.int64",
    ),
    BadInput(
        "t as a number",
        lambda: ((*_xyw(), 0.0), {}),
        TypeError,
        r"curricularface_loss: t must be a one-element tensor; got float",
    ),
)

BAD_INPUTS["adaface_loss"] = _with_state(
    _bad(
        F.adaface_loss,
        extra=(
            _bad_kw(
                "adaface_loss", {"h": -0.1}, ValueError,
                r"adaface_loss: h must be a finite number >= 0; got -0.1",
            ),
        ),
    ),
    _STATS,
) + (
    BadInput(
        "norm_std of two elements",
        lambda: ((*_xyw(), torch.tensor(20.0), torch.ones(2)), {}),
        ValueError,
        r"adaface_loss: norm_std must be a one-element tensor; got \(2,\)",
    ),
    BadInput(
        "missing norm_std",
        lambda: ((*_xyw(), torch.tensor(20.0)), {}),
        TypeError,
        r"adaface_loss\(\) missing 1 required positional argument: 'norm_std'",
    ),
)

BAD_INPUTS["magface_loss"] = _bad(
    F.magface_loss,
    extra=(
        _bad_kw(
            "magface_loss", {"min_norm": 10.0, "max_norm": 5.0}, ValueError,
            r"magface_loss: min_norm must be below max_norm; got 10.0 and 5.0",
        ),
        _bad_kw(
            "magface_loss", {"max_margin": 3.5}, ValueError,
            r"magface_loss: max_margin must be a number in \[0, pi\); got 3.5",
        ),
        _bad_kw(
            "magface_loss", {"reg_weight": -1.0}, ValueError,
            r"magface_loss: reg_weight must be a finite number >= 0; got -1.0",
        ),
    ),
)

BAD_INPUTS["elastic_arcface_loss"] = _bad(
    F.elastic_arcface_loss,
    extra=(
        _bad_kw(
            "elastic_arcface_loss", {"sigma": -0.05}, ValueError,
            r"elastic_arcface_loss: sigma must be a finite number >= 0; got -0.05",
        ),
        _bad_kw(
            "elastic_arcface_loss", {"generator": 0}, TypeError,
            r"elastic_arcface_loss: generator must be .*Generator.*; got int",
        ),
    ),
)

BAD_INPUTS["elastic_cosface_loss"] = _bad(
    F.elastic_cosface_loss,
    extra=(
        _bad_kw(
            "elastic_cosface_loss", {"plus": "yes"}, TypeError,
            r"elastic_cosface_loss: plus must be a bool; got str",
        ),
    ),
)

BAD_INPUTS["uniface_loss"] = _with_state(
    _bad(
        F.uniface_loss,
        extra=(
            _bad_kw(
                "uniface_loss", {"negative_weight": -1.0}, ValueError,
                r"uniface_loss: negative_weight must be a finite number >= 0; got -1.0",
            ),
        ),
    ),
    lambda: (torch.tensor(2.0),),
) + (
    BadInput(
        "threshold per class",
        lambda: ((*_xyw(), torch.zeros(_C)), {}),
        ValueError,
        rf"uniface_loss: unified_threshold must be a one-element tensor; got \({_C},\)",
    ),
)
