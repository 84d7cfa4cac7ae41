"""Registry entries for the mask overlap losses (Dice, Jaccard, Tversky, focal Tversky)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .. import functional as F
from .. import nn as lnn
from ._base import BadInput, BenchCase, LossInputs, LossSpec
from ._inputs import grad_inputs, rand, randint, randn

_C, _H, _W = 3, 4, 5


def _maker(mode: str) -> Callable[..., LossInputs]:
    def make(
        n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
    ) -> LossInputs:
        g = generator
        if mode == "binary":
            logits = randn(g, n, _H, _W, dtype=dtype, device=device) * 2.0
            target = (rand(g, n, _H, _W, dtype=torch.float64) < 0.4).to(device=device, dtype=dtype)
        elif mode == "multilabel":
            logits = randn(g, n, _C, _H, _W, dtype=dtype, device=device) * 2.0
            target = (rand(g, n, _C, _H, _W, dtype=torch.float64) < 0.4).to(
                device=device, dtype=dtype
            )
        else:
            logits = randn(g, n, _C, _H, _W, dtype=dtype, device=device) * 2.0
            target = randint(g, _C, n, _H, _W, device=device)
        return LossInputs(args=(logits, target), batched=(True, True))

    return make


def _bad(fn: Callable, mode: str) -> tuple[BadInput, ...]:
    name = fn.__name__
    common: tuple[BadInput, ...] = (
        BadInput(
            "unknown mode",
            lambda: ((torch.zeros(2, 3), torch.zeros(2, 3)), {"mode": "softmax"}),
            ValueError,
            rf"{name}: mode must be one of 'binary', 'multiclass', 'multilabel'; got 'softmax'",
        ),
        BadInput(
            "integer logits",
            lambda: ((torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3)), {"mode": "binary"}),
            TypeError,
            rf"{name}: pred must be a floating-point tensor; got dtype torch.int64",
        ),
        BadInput(
            "binary shape mismatch (no silent broadcasting)",
            lambda: ((torch.zeros(2, 1, 3), torch.zeros(2, 3)), {"mode": "binary"}),
            ValueError,
            rf"{name}: pred and target must have the same shape; got \(2, 1, 3\) and \(2, 3\)",
        ),
        BadInput(
            "multiclass target shape",
            lambda: (
                (torch.zeros(2, 3, 4), torch.zeros(2, 3, 4, dtype=torch.long)),
                {"mode": "multiclass"},
            ),
            ValueError,
            rf"{name}: in multiclass mode target must be \(N, \.\.\.\) = \(2, 4\) for pred \(2, 3, 4\); got \(2, 3, 4\)",
        ),
        BadInput(
            "multiclass float target",
            lambda: ((torch.zeros(2, 3, 4), torch.zeros(2, 4)), {"mode": "multiclass"}),
            TypeError,
            rf"{name}: target must be an integer tensor of class indices; got dtype torch.float32",
        ),
        BadInput(
            "label out of range",
            lambda: ((torch.zeros(2, 3, 4), torch.full((2, 4), 3)), {"mode": "multiclass"}),
            ValueError,
            rf"{name}: target must lie in \[0, 2\]; got values in \[3, 3\]",
        ),
        BadInput(
            "negative smooth",
            lambda: ((torch.zeros(2, 3), torch.zeros(2, 3)), {"mode": "binary", "smooth": -1.0}),
            ValueError,
            rf"{name}: smooth must be finite and >= 0; got -1.0",
        ),
        BadInput(
            "class weight of the wrong length",
            lambda: (
                (torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long)),
                {"mode": "multiclass", "weight": torch.ones(4)},
            ),
            ValueError,
            rf"{name}: weight must broadcast to \(2, 3\) without enlarging it; got \(4,\)",
        ),
        BadInput(
            "unknown reduction",
            lambda: (
                (torch.zeros(2, 3), torch.zeros(2, 3)),
                {"mode": "binary", "reduction": "batchmean"},
            ),
            ValueError,
            rf"{name}: reduction must be one of 'none', 'mean', 'sum'; got 'batchmean'",
        ),
    )
    return common


BENCH_SHAPE = (8, 4, 256, 256)


def _bench(
    fn: Callable, peers: dict[str, Callable[[], Any]], mode: str, **kw: Any
) -> tuple[BenchCase, ...]:
    """``peers`` maps a peer name to a factory returning ``(module, target_transform)``."""

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        g = torch.Generator().manual_seed(0)
        logits = torch.randn(*BENCH_SHAPE, generator=g).to(device)
        if mode == "multiclass":
            target = torch.randint(
                0, BENCH_SHAPE[1], BENCH_SHAPE[:1] + BENCH_SHAPE[2:], generator=g
            ).to(device)
        else:
            target = (torch.rand(*BENCH_SHAPE, generator=g) < 0.3).float().to(device)
        (x,) = grad_inputs(logits)

        def run(f: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
            def step() -> None:
                x.grad = None
                f(x).backward()

            return step

        steps = {"losskit": run(lambda z: fn(z, target, mode=mode, **kw))}
        for name, factory in peers.items():
            module, tt = factory()
            tgt = tt(target)
            steps[name] = run(lambda z, m=module, t=tgt: m(z, t))
        return steps

    return (BenchCase(f"{BENCH_SHAPE} float32 {mode}, forward+backward", setup),)


def _monai_dice(**kw: Any) -> Callable[[], Any]:
    def factory() -> Any:
        from monai.losses import DiceLoss

        if kw.get("to_onehot_y"):
            return DiceLoss(**kw), lambda t: t.unsqueeze(1)
        return DiceLoss(**kw), lambda t: t

    return factory


def _smp(cls: str, mode: str, **kw: Any) -> Callable[[], Any]:
    def factory() -> Any:
        import segmentation_models_pytorch.losses as sl

        return getattr(sl, cls)(mode=mode, from_logits=True, **kw), lambda t: t

    return factory


_EMPTY = (
    "Empty targets are explicit: an empty prediction on an empty target scores 0, false "
    "positives on it are penalised (SMP zeroes such classes)."
)

SPECS = [
    LossSpec(
        name="dice_loss",
        family="overlap",
        function=F.dice_loss,
        module=lnn.DiceLoss,
        make_inputs=_maker("multiclass"),
        summary="1 - soft Dice coefficient 2TP / (2TP + FP + FN) of a segmentation.",
        formula="l = 1 - (2 sum p g + smooth) / (sum p + sum g + smooth)  (squared: sum p^2 + sum g^2)",
        when_to_use=(
            "Segmentation with a small foreground: it scores overlap directly, so the "
            "background's pixel count does not swamp it. Unstable for tiny objects (a few "
            "pixels move it a lot); often summed with cross-entropy. " + _EMPTY
        ),
        paper=(
            "Milletari, Navab, Ahmadi, 'V-Net: Fully Convolutional Neural Networks for Volumetric "
            "Medical Image Segmentation', 3DV 2016, arXiv:1606.04797"
        ),
        peers=("monai.losses.DiceLoss", "segmentation_models_pytorch.losses.DiceLoss"),
        kwargs={"mode": "multiclass"},
        bad_inputs=_bad(F.dice_loss, "multiclass"),
        bench=_bench(
            F.dice_loss,
            {
                "monai": _monai_dice(softmax=True, to_onehot_y=True, smooth_nr=1.0, smooth_dr=1.0),
                "smp": _smp("DiceLoss", "multiclass", smooth=1.0),
            },
            "multiclass",
        ),
    ),
    LossSpec(
        name="jaccard_loss",
        family="overlap",
        function=F.jaccard_loss,
        module=lnn.JaccardLoss,
        make_inputs=_maker("multilabel"),
        summary="1 - soft Jaccard index (IoU) TP / (TP + FP + FN) of a segmentation.",
        formula="l = 1 - (sum p g + smooth) / (sum p + sum g - sum p g + smooth)",
        when_to_use=(
            "When the metric is mean IoU: the loss is its soft version. Tied to Dice by "
            "IoU = Dice / (2 - Dice), so the two rank predictions alike. " + _EMPTY
        ),
        paper=(
            "Rahman, Wang, 'Optimizing Intersection-Over-Union in Deep Neural Networks for "
            "Image Segmentation', ISVC 2016"
        ),
        peers=(
            "segmentation_models_pytorch.losses.JaccardLoss",
            "monai.losses.DiceLoss(jaccard=True)",
        ),
        kwargs={"mode": "multilabel"},
        bad_inputs=_bad(F.jaccard_loss, "multilabel"),
        bench=_bench(
            F.jaccard_loss, {"smp": _smp("JaccardLoss", "multilabel", smooth=1.0)}, "multilabel"
        ),
    ),
    LossSpec(
        name="tversky_loss",
        family="overlap",
        function=F.tversky_loss,
        module=lnn.TverskyLoss,
        make_inputs=_maker("binary"),
        summary="1 - Tversky index TP / (TP + alpha FP + beta FN): Dice with tunable FP/FN costs.",
        formula="l = 1 - (TP + smooth) / (TP + alpha FP + beta FN + smooth)",
        when_to_use=(
            "Segmentation where a miss costs more than a false alarm (small lesions): "
            "beta > alpha trades precision for recall. alpha = beta = 0.5 is Dice. " + _EMPTY
        ),
        paper=(
            "Salehi, Erdogmus, Gholipour, 'Tversky loss function for image segmentation using 3D "
            "fully convolutional deep networks', MLMI 2017, arXiv:1706.05721"
        ),
        peers=("segmentation_models_pytorch.losses.TverskyLoss",),
        kwargs={"alpha": 0.3, "beta": 0.7, "mode": "binary"},
        bad_inputs=_bad(F.tversky_loss, "binary"),
        bench=_bench(
            F.tversky_loss,
            {"smp": _smp("TverskyLoss", "multilabel", alpha=0.3, beta=0.7, smooth=1.0)},
            "multilabel",
            alpha=0.3,
            beta=0.7,
        ),
    ),
    LossSpec(
        name="focal_tversky_loss",
        family="overlap",
        function=F.focal_tversky_loss,
        module=lnn.FocalTverskyLoss,
        make_inputs=_maker("multiclass"),
        summary="(1 - Tversky index)^gamma per sample and class.",
        formula="l = (1 - TI)^gamma, TI = (TP + smooth) / (TP + alpha FP + beta FN + smooth)",
        when_to_use=(
            "Small structures that Tversky alone leaves slightly off: gamma < 1 keeps the "
            "gradient large as TI approaches 1. " + _EMPTY
        ),
        paper=(
            "Abraham, Khan, 'A Novel Focal Tversky Loss Function with Improved Attention U-Net "
            "for Lesion Segmentation', ISBI 2019, arXiv:1810.07842"
        ),
        kwargs={"alpha": 0.3, "beta": 0.7, "gamma": 0.75, "mode": "multiclass"},
        bad_inputs=_bad(F.focal_tversky_loss, "multiclass"),
    ),
]
