"""Benchmark cases of the classification family (losskit against its peers)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as TF

from .. import functional as F
from ..specs._inputs import grad_inputs
from ._base import BenchCase, step


def _steps(
    x: torch.Tensor, impls: dict[str, Callable[[], torch.Tensor]]
) -> dict[str, Callable[[], None]]:
    return {k: step(f, x) for k, f in impls.items()}


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


CASES = {
    "bce_loss": (BenchCase("(4096, 1024) float32", _bce_setup),),
    "weighted_bce_loss": (BenchCase("(4096, 1024) float32, 5 % positives", _weighted_setup),),
    "balanced_bce_loss": (BenchCase("(16, 1, 256, 256) float32, 5 % positives", _balanced_setup),),
    "focal_loss": (BenchCase("(16, 80, 128, 128) float32, 1 % positives", focal_bench_setup),),
    "softmax_focal_loss": (BenchCase("(8, 21, 128, 128) float32", _softmax_focal_setup),),
    "softmax_cross_entropy": (BenchCase("(4096, 1000) float32, label smoothing 0.1", _ce_setup),),
}
