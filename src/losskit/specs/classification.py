"""Registry entries for the probability (classification) losses: BCE, weighted and balanced
BCE, sigmoid and softmax focal loss, softmax cross-entropy. SPEC.md sections 3, 8, 9.

Benchmark peers are imported inside the cases' ``setup``: a peer that is not installed is
left out of the comparison rather than breaking the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as TF

from .. import functional as F
from .. import nn as lnn
from ._base import BadInput, BenchCase, LossInputs, LossSpec
from ._explain import Panel, scalar_curve
from ._inputs import grad_inputs, rand, randint, randn

_PAPER_FOCAL = (
    "Lin, Goyal, Girshick, He, Dollar, 'Focal Loss for Dense Object Detection', ICCV 2017, "
    "arXiv:1708.02002"
)
_PAPER_HED = "Xie, Tu, 'Holistically-Nested Edge Detection', ICCV 2015, arXiv:1504.06375"
_PAPER_LS = (
    "Szegedy, Vanhoucke, Ioffe, Shlens, Wojna, 'Rethinking the Inception Architecture for "
    "Computer Vision', CVPR 2016, arXiv:1512.00567 (label smoothing)"
)

_C = 4  # classes in the test inputs
_ALPHA = (0.4, 0.1, 0.3, 0.2)
_CLASS_WEIGHT = (1.0, 2.0, 0.5, 1.5)


# ---- input makers ----------------------------------------------------------------------------


def _dense(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    """Multi-label dense logits ``(n, 3, 4, 4)`` and soft targets in [0, 1]."""
    x = randn(generator, n, 3, 4, 4, dtype=dtype, device=device) * 2.0
    y = rand(generator, n, 3, 4, 4, dtype=dtype, device=device)
    return LossInputs(args=(x, y), batched=(True, True))


def _binary_masks(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    """Segmentation-like ``(n, 1, 4, 5)`` logits and 0/1 masks with about 20 % foreground."""
    x = randn(generator, n, 1, 4, 5, dtype=dtype, device=device) * 2.0
    y = (rand(generator, n, 1, 4, 5, dtype=torch.float64) < 0.2).to(device=device, dtype=dtype)
    return LossInputs(args=(x, y), batched=(True, True))


def _labels(g: torch.Generator, *shape: int, device: torch.device | str) -> torch.Tensor:
    """Class indices with about one in six set to the default ignore_index (-100)."""
    y = randint(g, _C, *shape)
    drop = torch.rand(*shape, generator=g) < 1 / 6
    return torch.where(drop, torch.full_like(y, -100), y).to(device)


def _dense_classes(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    x = randn(generator, n, _C, 3, dtype=dtype, device=device) * 2.0
    return LossInputs(args=(x, _labels(generator, n, 3, device=device)), batched=(True, True))


def _classes(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    x = randn(generator, n, _C, dtype=dtype, device=device) * 2.0
    return LossInputs(args=(x, _labels(generator, n, device=device)), batched=(True, True))


# ---- bad inputs ----------------------------------------------------------------------------


def _bad_binary(fn: Callable, **kw: Any) -> tuple[BadInput, ...]:
    name = fn.__name__
    z = torch.zeros
    return (
        BadInput(
            "shape mismatch",
            lambda: ((z(2, 3, 4), z(2, 3, 5)), dict(kw)),
            ValueError,
            rf"{name}: pred and target must have the same shape; got \(2, 3, 4\) and \(2, 3, 5\)",
        ),
        BadInput(
            "integer target",
            lambda: ((z(2, 3), z(2, 3, dtype=torch.long)), dict(kw)),
            TypeError,
            rf"{name}: target must be a floating-point tensor; got dtype torch.int64",
        ),
        BadInput(
            "float mask",
            lambda: ((z(2, 3), z(2, 3)), {**kw, "mask": torch.ones(2, 3)}),
            TypeError,
            rf"{name}: mask must be a bool tensor \(True = keep\); got dtype torch.float32",
        ),
        BadInput(
            "mask that enlarges the loss",
            lambda: ((z(2, 3), z(2, 3)), {**kw, "mask": torch.ones(4, 2, 3, dtype=torch.bool)}),
            ValueError,
            rf"{name}: mask must broadcast to \(2, 3\) without enlarging it; got \(4, 2, 3\)",
        ),
        BadInput(
            "logits passed as probabilities",
            lambda: ((torch.tensor([[-2.0, 3.0]]), z(1, 2)), {**kw, "from_logits": False}),
            ValueError,
            rf"{name}: with from_logits=False, pred must hold probabilities in \[0, 1\]; got values in \[-2, 3\]",
        ),
        BadInput(
            "unknown reduction",
            lambda: ((z(2, 3), z(2, 3)), {**kw, "reduction": "avg"}),
            ValueError,
            rf"{name}: reduction must be one of 'none', 'mean', 'sum'; got 'avg'",
        ),
    )


def _bad_index(fn: Callable, pred_shape: tuple[int, ...] = (3, _C)) -> tuple[BadInput, ...]:
    name = fn.__name__
    return (
        BadInput(
            "label out of range",
            lambda: ((torch.zeros(3, _C), torch.tensor([0, 1, 9])), {}),
            ValueError,
            rf"{name}: target must lie in \[0, 3\] or equal ignore_index=-100; got values in \[0, 9\]",
        ),
        BadInput(
            "target with the wrong shape",
            lambda: ((torch.zeros(2, _C, 5), torch.zeros(2, 4, dtype=torch.long)), {}),
            ValueError,
            rf"{name}: class-index target must have shape \(2, 5\) for logits of shape \(2, 4, 5\); got \(2, 4\)",
        ),
        BadInput(
            "one-dimensional logits",
            lambda: ((torch.zeros(_C), torch.tensor(1)), {}),
            ValueError,
            rf"{name}: logits must have shape \(N, C\) or \(N, C, d1, \.\.\.\); got shape \(4,\)",
        ),
        BadInput(
            "integer logits",
            lambda: ((torch.zeros(3, _C, dtype=torch.long), torch.zeros(3, dtype=torch.long)), {}),
            TypeError,
            rf"{name}: logits must be a floating-point tensor; got dtype torch.int64",
        ),
    )


# ---- benchmark cases -----------------------------------------------------------------------


def _steps(
    x: torch.Tensor, impls: dict[str, Callable[[], torch.Tensor]]
) -> dict[str, Callable[[], None]]:
    def wrap(f: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def step() -> None:
            x.grad = None
            f().backward()

        return step

    return {k: wrap(f) for k, f in impls.items()}


def _binary_data(
    device: torch.device, shape: tuple[int, ...], fg: float
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g).to(device)
    y = (torch.rand(*shape, generator=g) < fg).float().to(device)
    (x,) = grad_inputs(x)
    return x, y


FOCAL_SHAPE = (16, 80, 128, 128)


def focal_bench_setup(device: torch.device) -> dict[str, Callable[[], None]]:
    """The issue's target: sigmoid focal loss on (16, 80, 128, 128) float32 logits with 1 %
    positives (RetinaNet-like), forward + backward, against torchvision and against torch's
    plain BCE-with-logits on the same input."""
    x, y = _binary_data(device, FOCAL_SHAPE, 0.01)
    impls: dict[str, Callable[[], torch.Tensor]] = {
        "losskit": lambda: F.focal_loss(x, y, alpha=0.25, gamma=2.0),
    }
    try:
        from torchvision.ops import sigmoid_focal_loss
    except ImportError:  # pragma: no cover - peers are optional
        pass
    else:
        impls["torchvision"] = lambda: sigmoid_focal_loss(
            x, y, alpha=0.25, gamma=2.0, reduction="mean"
        )
    impls["torch BCE-with-logits"] = lambda: TF.binary_cross_entropy_with_logits(x, y)
    return _steps(x, impls)


def _bce_setup(device: torch.device) -> dict[str, Callable[[], None]]:
    x, y = _binary_data(device, (4096, 1024), 0.3)
    return _steps(
        x,
        {
            "losskit": lambda: F.bce_loss(x, y),
            "torch": lambda: TF.binary_cross_entropy_with_logits(x, y),
        },
    )


def _weighted_setup(device: torch.device) -> dict[str, Callable[[], None]]:
    x, y = _binary_data(device, (4096, 1024), 0.05)
    pw = torch.tensor(19.0, device=device)
    return _steps(
        x,
        {
            "losskit": lambda: F.weighted_bce_loss(x, y, pos_weight=19.0),
            "torch": lambda: TF.binary_cross_entropy_with_logits(x, y, pos_weight=pw),
        },
    )


def _balanced_torch(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """HED's loss written with torch: (1 - beta) * BCEWithLogits(pos_weight = beta / (1 - beta))."""
    beta = 1.0 - y.mean(dim=tuple(range(1, y.dim())), keepdim=True)
    loss = TF.binary_cross_entropy_with_logits(
        x, y, pos_weight=beta / (1.0 - beta), reduction="none"
    )
    return ((1.0 - beta) * loss).mean()


def _balanced_setup(device: torch.device) -> dict[str, Callable[[], None]]:
    x, y = _binary_data(device, (16, 1, 256, 256), 0.05)
    return _steps(
        x,
        {
            "losskit": lambda: F.balanced_bce_loss(x, y),
            "torch (pos_weight form)": lambda: _balanced_torch(x, y),
        },
    )


def _ce_setup(device: torch.device) -> dict[str, Callable[[], None]]:
    g = torch.Generator().manual_seed(0)
    (x,) = grad_inputs(torch.randn(4096, 1000, generator=g).to(device))
    y = torch.randint(0, 1000, (4096,), generator=g).to(device)
    return _steps(
        x,
        {
            "losskit": lambda: F.softmax_cross_entropy(x, y, label_smoothing=0.1),
            "torch": lambda: TF.cross_entropy(x, y, label_smoothing=0.1),
        },
    )


def _softmax_focal_setup(device: torch.device) -> dict[str, Callable[[], None]]:
    g = torch.Generator().manual_seed(0)
    (x,) = grad_inputs(torch.randn(8, 21, 128, 128, generator=g).to(device))
    y = torch.randint(0, 21, (8, 128, 128), generator=g).to(device)
    impls: dict[str, Callable[[], torch.Tensor]] = {
        "losskit": lambda: F.softmax_focal_loss(x, y, gamma=2.0)
    }
    try:
        from monai.losses import FocalLoss
    except ImportError:  # pragma: no cover
        pass
    else:
        monai = FocalLoss(use_softmax=True, to_onehot_y=True, gamma=2.0)
        impls["monai"] = lambda: monai(x, y.unsqueeze(1))
    impls["torch CE"] = lambda: TF.cross_entropy(x, y)
    return _steps(x, impls)


# ---- explain panels ------------------------------------------------------------------------

_Z = torch.linspace(-8.0, 8.0, 401, dtype=torch.float64)


def _explain_bce() -> tuple[Panel, ...]:
    curves = tuple(
        scalar_curve(
            f"target y = {y:g}",
            _Z,
            lambda t, y=y: F.bce_loss(t, torch.full_like(t, y), reduction="none"),
        )
        for y in (1.0, 0.0)
    )
    note = "The gradient is sigmoid(z) - y: bounded by 1 and largest for a confident mistake."
    return (Panel("over the logit", "logit z", _Z, curves, note),)


def _explain_weighted() -> tuple[Panel, ...]:
    curves = tuple(
        scalar_curve(
            f"positive, beta = {b:g}",
            _Z,
            lambda t, b=b: F.weighted_bce_loss(
                t, torch.ones_like(t), pos_weight=b, reduction="none"
            ),
        )
        for b in (1.0, 3.0, 10.0)
    )
    neg = scalar_curve(
        "negative (any beta)",
        _Z,
        lambda t: F.weighted_bce_loss(t, torch.zeros_like(t), pos_weight=3.0, reduction="none"),
    )
    note = "beta scales the positive term and its gradient; the negative term is unchanged."
    return (Panel("over the logit", "logit z", _Z, (*curves, neg), note),)


def _explain_balanced() -> tuple[Panel, ...]:
    # an image of 20 pixels with 1 positive (beta = 0.95), every pixel at logit z
    target = torch.zeros(1, 20, dtype=torch.float64)
    target[0, 0] = 1.0

    def pixel(i: int) -> Callable[[torch.Tensor], torch.Tensor]:
        def loss_of(t: torch.Tensor) -> torch.Tensor:
            pred = t[:, None].expand(-1, 20)
            return F.balanced_bce_loss(pred, target.expand_as(pred), reduction="none")[:, i]

        return loss_of

    curves = (
        scalar_curve("the positive pixel (weight beta = 0.95)", _Z, pixel(0)),
        scalar_curve("a negative pixel (weight 1 - beta = 0.05)", _Z, pixel(1)),
    )
    note = "beta comes from the target: one positive in 20 pixels weighs 19x each negative."
    return (Panel("over the logit, 5 % foreground", "logit z", _Z, curves, note),)


def _explain_focal() -> tuple[Panel, ...]:
    pt = torch.linspace(0.01, 0.99, 393, dtype=torch.float64)

    def curve(gamma: float):
        def loss_of(t: torch.Tensor) -> torch.Tensor:
            z = torch.log(t / (1 - t))
            return F.focal_loss(z, torch.ones_like(z), alpha=None, gamma=gamma, reduction="none")

        return scalar_curve(f"gamma = {gamma:g}" + (" (BCE)" if gamma == 0 else ""), pt, loss_of)

    note = (
        "(1 - p_t)^gamma silences easy examples: at gamma = 2, p_t = 0.9 costs 100x less than BCE."
    )
    return (
        Panel(
            "over p_t",
            "probability of the true class p_t",
            pt,
            tuple(curve(g) for g in (0.0, 0.5, 2.0, 5.0)),
            note,
        ),
    )


def _target_margin(
    fn: Callable[..., torch.Tensor], **kw: Any
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Loss of logits (m, 0, 0, 0) with target class 0, as a function of the margin m."""

    def loss_of(t: torch.Tensor) -> torch.Tensor:
        logits = torch.cat([t[:, None], torch.zeros(t.shape[0], 3, dtype=t.dtype)], dim=1)
        return fn(logits, torch.zeros(t.shape[0], dtype=torch.long), reduction="none", **kw)

    return loss_of


def _explain_softmax_focal() -> tuple[Panel, ...]:
    curves = tuple(
        scalar_curve(
            f"gamma = {g:g}" + (" (CE)" if g == 0 else ""),
            _Z,
            _target_margin(F.softmax_focal_loss, gamma=g),
        )
        for g in (0.0, 1.0, 2.0)
    )
    note = "Once the target class wins (p_y near 1) the focal term drops the loss and its gradient fast."
    return (
        Panel(
            "over the target logit's margin, 4 classes",
            "target logit - other logits",
            _Z,
            curves,
            note,
        ),
    )


def _explain_ce() -> tuple[Panel, ...]:
    curves = tuple(
        scalar_curve(
            f"label smoothing {ls:g}",
            _Z,
            _target_margin(F.softmax_cross_entropy, label_smoothing=ls),
        )
        for ls in (0.0, 0.1)
    )
    note = "The gradient is softmax(z) - y; with label smoothing the loss has a minimum at a finite margin."
    return (
        Panel(
            "over the target logit's margin, 4 classes",
            "target logit - other logits",
            _Z,
            curves,
            note,
        ),
    )


SPECS = [
    LossSpec(
        name="bce_loss",
        family="classification",
        function=F.bce_loss,
        module=lnn.BinaryCrossEntropyLoss,
        make_inputs=_dense,
        summary="Binary cross-entropy on logits (or probabilities), for binary and multi-label targets.",
        formula="l = -[y log p + (1 - y) log(1 - p)], p = sigmoid(x); dl/dx = p - y",
        when_to_use=(
            "Each output is its own yes/no question: binary classification, multi-label "
            "classification (a film can be American and a comedy), dense binary masks. Its "
            "gradient sigmoid(x) - y stays large for confident mistakes."
        ),
        peers=(
            "torch.nn.functional.binary_cross_entropy_with_logits",
            "torch.nn.functional.binary_cross_entropy",
        ),
        grad_args=(0, 1),
        bad_inputs=_bad_binary(F.bce_loss),
        explain=_explain_bce,
        bench=(BenchCase("(4096, 1024) float32", _bce_setup),),
    ),
    LossSpec(
        name="weighted_bce_loss",
        family="classification",
        function=F.weighted_bce_loss,
        module=lnn.WeightedBCELoss,
        make_inputs=_dense,
        summary="Binary cross-entropy with the positive term weighted by beta (pos_weight).",
        formula="l = -[beta y log p + (1 - y) log(1 - p)]",
        when_to_use=(
            "Rare positives (small objects, edges, rare labels): beta > 1, e.g. "
            "#negatives / #positives, keeps the model from predicting background everywhere. "
            "beta has to be tuned by hand per data set."
        ),
        peers=("torch.nn.functional.binary_cross_entropy_with_logits(pos_weight=)",),
        kwargs={"pos_weight": 3.0},
        grad_args=(0, 1),
        bad_inputs=(
            *_bad_binary(F.weighted_bce_loss, pos_weight=3.0),
            BadInput(
                "negative pos_weight",
                lambda: ((torch.zeros(2), torch.zeros(2)), {"pos_weight": -1.0}),
                ValueError,
                r"weighted_bce_loss: pos_weight must be finite and >= 0; got -1.0",
            ),
        ),
        explain=_explain_weighted,
        bench=(BenchCase("(4096, 1024) float32, 5 % positives", _weighted_setup),),
    ),
    LossSpec(
        name="balanced_bce_loss",
        family="classification",
        function=F.balanced_bce_loss,
        module=lnn.BalancedBCELoss,
        make_inputs=_binary_masks,
        summary="HED's class-balanced BCE: beta = fraction of negative pixels, read off each target.",
        formula="l = -[beta y log p + (1 - beta)(1 - y) log(1 - p)], beta = 1 - |Y+| / |Y| per image",
        when_to_use=(
            "Dense binary maps where the foreground fraction varies from image to image (edges, "
            "thin structures): the weight adapts to each image, nothing to tune."
        ),
        paper=_PAPER_HED,
        peers=("(1 - beta) * torch BCEWithLogits(pos_weight=beta / (1 - beta))",),
        kwargs={"per_image": True},
        # beta is a constant of the target (detached), so only the logits are gradchecked
        grad_args=(0,),
        bad_inputs=(
            *_bad_binary(F.balanced_bce_loss, per_image=False),
            BadInput(
                "per_image with one-dimensional input",
                lambda: ((torch.zeros(5), torch.zeros(5)), {}),
                ValueError,
                r"balanced_bce_loss: per_image=True needs pred of shape \(N, \.\.\.\) with at least 2 dimensions; got shape \(5,\)",
            ),
        ),
        explain=_explain_balanced,
        bench=(BenchCase("(16, 1, 256, 256) float32, 5 % positives", _balanced_setup),),
    ),
    LossSpec(
        name="focal_loss",
        family="classification",
        function=F.focal_loss,
        module=lnn.FocalLoss,
        make_inputs=_dense,
        summary="Sigmoid focal loss: BCE with easy examples down-weighted by (1 - p_t)^gamma.",
        formula="l = -[alpha (1-p)^gamma y log p + (1 - alpha) p^gamma (1 - y) log(1 - p)]",
        when_to_use=(
            "Dense detection and segmentation with overwhelming easy background: the many "
            "well-classified examples stop dominating the loss (p_t = 0.9 costs 100x less than "
            "under BCE at gamma = 2). Paper defaults: alpha = 0.25, gamma = 2."
        ),
        paper=_PAPER_FOCAL,
        peers=(
            "torchvision.ops.sigmoid_focal_loss",
            "monai.losses.FocalLoss",
            "segmentation_models_pytorch.losses.FocalLoss",
        ),
        kwargs={"alpha": 0.25, "gamma": 2.0},
        grad_args=(0, 1),
        bad_inputs=(
            *_bad_binary(F.focal_loss),
            BadInput(
                "alpha outside [0, 1]",
                lambda: ((torch.zeros(2), torch.zeros(2)), {"alpha": 1.5}),
                ValueError,
                r"focal_loss: alpha must lie in \[0.0, 1.0\]; got 1.5",
            ),
            BadInput(
                "per-class alpha of the wrong length",
                lambda: ((torch.zeros(2, 3), torch.zeros(2, 3)), {"alpha": torch.ones(4) / 2}),
                ValueError,
                r"focal_loss: a 1-D alpha holds one value per class \(dim 1 of pred\) and must have length 3; got 4",
            ),
            BadInput(
                "negative gamma",
                lambda: ((torch.zeros(2), torch.zeros(2)), {"gamma": -1.0}),
                ValueError,
                r"focal_loss: gamma must be finite and >= 0; got -1.0",
            ),
        ),
        explain=_explain_focal,
        bench=(BenchCase("(16, 80, 128, 128) float32, 1 % positives", focal_bench_setup),),
    ),
    LossSpec(
        name="softmax_focal_loss",
        family="classification",
        function=F.softmax_focal_loss,
        module=lnn.SoftmaxFocalLoss,
        make_inputs=_dense_classes,
        summary="Softmax focal loss for exclusive classes, with ignore_index and per-class alpha.",
        formula="l = -alpha_y (1 - p_y)^gamma log p_y, p = softmax(z)",
        when_to_use=(
            "Multi-class segmentation or classification with many easy examples of a dominant "
            "class; gamma = 0 without alpha is softmax cross-entropy."
        ),
        paper=_PAPER_FOCAL,
        peers=(
            "monai.losses.FocalLoss(use_softmax=True)",
            "segmentation_models_pytorch.losses.FocalLoss('multiclass')",
        ),
        kwargs={"alpha": torch.tensor(_ALPHA), "gamma": 2.0},
        bad_inputs=(
            *_bad_index(F.softmax_focal_loss),
            BadInput(
                "scalar alpha",
                lambda: ((torch.zeros(3, _C), torch.zeros(3, dtype=torch.long)), {"alpha": 0.25}),
                TypeError,
                r"softmax_focal_loss: alpha must be None or a \(C,\) tensor of per-class weights; got float",
            ),
        ),
        explain=_explain_softmax_focal,
        bench=(BenchCase("(8, 21, 128, 128) float32", _softmax_focal_setup),),
    ),
    LossSpec(
        name="softmax_cross_entropy",
        family="classification",
        function=F.softmax_cross_entropy,
        module=lnn.SoftmaxCrossEntropyLoss,
        make_inputs=_classes,
        summary="Softmax cross-entropy with class weights, ignore_index, label smoothing, soft targets.",
        formula="l = -sum_j y_j log softmax(z)_j; dl/dz = softmax(z) - y",
        when_to_use=(
            "Mutually exclusive classes (one label per sample or pixel). An empty batch or an "
            "all-ignored one gives 0, not torch's NaN."
        ),
        paper=_PAPER_LS,
        peers=("torch.nn.functional.cross_entropy",),
        kwargs={"class_weight": torch.tensor(_CLASS_WEIGHT), "label_smoothing": 0.1},
        bad_inputs=(
            *_bad_index(F.softmax_cross_entropy),
            BadInput(
                "class_weight of the wrong length",
                lambda: (
                    (torch.zeros(3, _C), torch.zeros(3, dtype=torch.long)),
                    {"class_weight": torch.ones(3)},
                ),
                ValueError,
                r"softmax_cross_entropy: class_weight must have shape \(4,\), one value per class; got \(3,\)",
            ),
            BadInput(
                "label_smoothing above 1",
                lambda: (
                    (torch.zeros(3, _C), torch.zeros(3, dtype=torch.long)),
                    {"label_smoothing": 1.5},
                ),
                ValueError,
                r"softmax_cross_entropy: label_smoothing must lie in \[0.0, 1.0\]; got 1.5",
            ),
        ),
        explain=_explain_ce,
        bench=(BenchCase("(4096, 1000) float32, label smoothing 0.1", _ce_setup),),
    ),
]
