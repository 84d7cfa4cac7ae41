"""Benchmark cases of the overlap family (losskit against its peers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .. import functional as F
from ..specs._inputs import grad_inputs
from ._base import BenchCase

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


CASES = {
    "dice_loss": _bench(
        F.dice_loss,
        {
            "monai": _monai_dice(softmax=True, to_onehot_y=True, smooth_nr=1.0, smooth_dr=1.0),
            "smp": _smp("DiceLoss", "multiclass", smooth=1.0),
        },
        "multiclass",
    ),
    "jaccard_loss": _bench(
        F.jaccard_loss, {"smp": _smp("JaccardLoss", "multilabel", smooth=1.0)}, "multilabel"
    ),
    "tversky_loss": _bench(
        F.tversky_loss,
        {"smp": _smp("TverskyLoss", "multilabel", alpha=0.3, beta=0.7, smooth=1.0)},
        "multilabel",
        fp_weight=0.3,
        fn_weight=0.7,
    ),
}
