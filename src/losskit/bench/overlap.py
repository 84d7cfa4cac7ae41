"""Benchmark cases of the overlap family (losskit against its peers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .. import functional as F
from ..specs._inputs import grad_inputs
from ._base import BenchCase

BENCH_SHAPE = (8, 4, 256, 256)


def _smooth(x: torch.Tensor, k: int = 9) -> torch.Tensor:
    """A box blur of ``(N, C, *S)`` noise over its 2 or 3 spatial axes (smooth regions)."""
    pool = torch.nn.functional.avg_pool2d if x.dim() == 4 else torch.nn.functional.avg_pool3d
    padded = torch.nn.functional.pad(x, (k // 2,) * (2 * (x.dim() - 2)), mode="replicate")
    return pool(padded, k, stride=1)


def _bench(
    fn: Callable, peers: dict[str, Callable[[], Any]], mode: str,
    shape: tuple[int, ...] = BENCH_SHAPE, blobs: bool = False, pass_mode: bool = True,
    **kw: Any,
) -> tuple[BenchCase, ...]:  # fmt: skip
    """``peers`` maps a peer name to a factory returning ``(module, target_transform)``;
    ``blobs``: a smooth target (regions with boundaries) instead of per-pixel noise."""

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        g = torch.Generator().manual_seed(0)
        logits = torch.randn(*shape, generator=g).to(device)
        if blobs:
            noise = _smooth(torch.rand(*shape, generator=g))
            labels = noise.argmax(1)
            target = labels if mode == "multiclass" else (noise > 0.5).float()
            target = target.to(device)
        elif mode == "multiclass":
            target = torch.randint(0, shape[1], shape[:1] + shape[2:], generator=g).to(device)
        else:
            target = (torch.rand(*shape, generator=g) < 0.3).float().to(device)
        (x,) = grad_inputs(logits)

        def run(f: Callable[..., torch.Tensor], *args: object) -> Callable[[], None]:
            def step() -> None:
                x.grad = None
                f(x, *args).backward()

            return step

        extra = {"mode": mode, **kw} if pass_mode else kw
        steps = {"losskit": run(lambda z: fn(z, target, **extra))}
        for name, factory in peers.items():
            module, tt = factory()
            tgt = tt(target)
            steps[name] = run(module, tgt)
        return steps

    label = f"{shape} float32 {mode}{', smooth regions' if blobs else ''}, forward+backward"
    return (BenchCase(label, setup),)


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


# ------------------------------------------------------------------ segmentation losses

#: the 3-D case of the segmentation losses
BENCH_SHAPE_3D = (2, 3, 96, 96, 96)


def _smp_mcc() -> Any:
    from segmentation_models_pytorch.losses import MCCLoss

    mcc = MCCLoss()
    return (lambda x, t: mcc(torch.sigmoid(x), t)), lambda t: t


def _monai(cls: str, onehot: bool = True, **kw: Any) -> Callable[[], Any]:
    def factory() -> Any:
        import monai.losses as ml

        return getattr(ml, cls)(**kw), (lambda t: t.unsqueeze(1)) if onehot else (lambda t: t)

    return factory


def _kornia_lovasz_softmax() -> Any:
    from kornia.losses import lovasz_softmax_loss

    return lovasz_softmax_loss, lambda t: t


def _distances(c: int) -> torch.Tensor:
    """A class distance: 1 between the background and any class, 0.5 between others."""
    m = torch.full((c, c), 0.5)
    m[0, :] = m[:, 0] = 1.0
    m.fill_diagonal_(0.0)
    return m


def _both_shapes(make: Callable[[tuple[int, ...]], tuple[BenchCase, ...]]) -> tuple[BenchCase, ...]:
    return make(BENCH_SHAPE) + make(BENCH_SHAPE_3D)


_SOFTMAX = {"softmax": True, "to_onehot_y": True}

CASES.update({
    "generalized_dice_loss": _both_shapes(lambda sh: _bench(
        F.generalized_dice_loss, {"monai": _monai("GeneralizedDiceLoss", **_SOFTMAX)},
        "multiclass", sh)),
    "lovasz_hinge_loss": _bench(
        F.lovasz_hinge_loss, {"smp": _smp("LovaszLoss", "binary", per_image=True)}, "multilabel",
        pass_mode=False),
    "lovasz_softmax_loss": _both_shapes(lambda sh: _bench(
        F.lovasz_softmax_loss,
        {"smp": _smp("LovaszLoss", "multiclass", per_image=True), "kornia": _kornia_lovasz_softmax}
        if len(sh) == 4 else {"smp": _smp("LovaszLoss", "multiclass", per_image=True)},
        "multiclass", sh, pass_mode=False, classes="all" if len(sh) == 4 else "present")),
    # SMP's MCCLoss takes probabilities and counts over the whole batch: the sigmoid is part
    # of its step, and losskit counts the same way (binary mode, per_sample=False)
    "mcc_loss": _bench(F.mcc_loss, {"smp": _smp_mcc}, "binary", per_sample=False),
    "dice_ce_loss": _both_shapes(lambda sh: _bench(
        F.dice_ce_loss, {"monai": _monai("DiceCELoss", **_SOFTMAX)}, "multiclass", sh)),
    "dice_focal_loss": _bench(
        F.dice_focal_loss, {"monai": _monai("DiceFocalLoss", **_SOFTMAX)}, "multiclass"),
    "generalized_dice_focal_loss": _bench(
        F.generalized_dice_focal_loss, {"monai": _monai("GeneralizedDiceFocalLoss", **_SOFTMAX)},
        "multiclass"),
    "generalized_wasserstein_dice_loss": _both_shapes(lambda sh: _bench(
        F.generalized_wasserstein_dice_loss,
        {"monai": _monai("GeneralizedWassersteinDiceLoss", onehot=False,
                         dist_matrix=_distances(sh[1]))},
        "multiclass", sh, pass_mode=False, class_distance=_distances(sh[1]))),
    "hausdorff_dt_loss": _both_shapes(lambda sh: _bench(
        F.hausdorff_dt_loss,
        {"monai": _monai("HausdorffDTLoss", include_background=True, **_SOFTMAX)},
        "multiclass", sh, blobs=True)),
    "boundary_loss": _both_shapes(lambda sh: _bench(F.boundary_loss, {}, "multiclass", sh,
                                                    blobs=True)),
    "cl_dice_loss": _both_shapes(lambda sh: _bench(
        F.cl_dice_loss, {"monai": _monai("SoftclDiceLoss", onehot=False, sigmoid=True)},
        "multilabel", sh, blobs=True)),
})  # fmt: skip
