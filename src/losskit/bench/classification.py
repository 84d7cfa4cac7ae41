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


def _iou_targets(device: torch.device, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and IoU-aware targets: 1 % positives whose target is an IoU in (0, 1)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g)
    pos = torch.rand(*shape, generator=g) < 0.01
    y = torch.where(pos, torch.rand(*shape, generator=g), torch.zeros(()))
    (x,) = grad_inputs(x.to(device))
    return x, y.to(device)


def _qfl_formula(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """mmdetection's quality focal loss (dense-target form), written with torch ops."""
    return (TF.binary_cross_entropy_with_logits(x, y, reduction="none")
            * (y - x.sigmoid()).abs().pow(2.0)).mean()  # fmt: skip


def _vfl_formula(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """mmdetection's varifocal loss, written with torch ops."""
    p = x.sigmoid()
    w = y * (y > 0).float() + 0.75 * (p - y).abs().pow(2.0) * (y <= 0).float()
    return (TF.binary_cross_entropy_with_logits(x, y, reduction="none") * w).mean()


def quality_bench_setup(device: torch.device) -> dict[str, Callable[[], None]]:
    """The issue's target: quality focal loss on (16, 80, 128, 128) within 1.5x of torch's
    BCE-with-logits on the same input; the peer formula (mmdetection's) in torch ops."""
    x, y = _iou_targets(device, FOCAL_SHAPE)
    return _steps(x, {
        "losskit": lambda: F.quality_focal_loss(x, y),
        "mmdet formula (torch ops)": lambda: _qfl_formula(x, y),
        "torch BCE-with-logits": lambda: TF.binary_cross_entropy_with_logits(x, y),
    })  # fmt: skip


def varifocal_bench_setup(device: torch.device) -> dict[str, Callable[[], None]]:
    """Varifocal loss on (16, 80, 128, 128) against BCE-with-logits and mmdetection's
    formula in torch ops."""
    x, y = _iou_targets(device, FOCAL_SHAPE)
    return _steps(x, {
        "losskit": lambda: F.varifocal_loss(x, y),
        "mmdet formula (torch ops)": lambda: _vfl_formula(x, y),
        "torch BCE-with-logits": lambda: TF.binary_cross_entropy_with_logits(x, y),
    })  # fmt: skip


def _gaussian_formula(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """mmdetection's gaussian_focal_loss on probabilities (CenterNet's sigmoid first)."""
    eps = 1e-12
    pos = -(p + eps).log() * (1 - p).pow(2.0) * y.eq(1)
    neg = -(1 - p + eps).log() * p.pow(2.0) * (1 - y).pow(4.0)
    return (pos + neg).mean()


def _gaussian_setup(device: torch.device) -> dict[str, Callable[[], None]]:
    g = torch.Generator().manual_seed(0)
    shape = (16, 80, 128, 128)
    (x,) = grad_inputs(torch.randn(*shape, generator=g).to(device))
    y = torch.rand(*shape, generator=g).pow(8)  # mostly near 0, a few near 1
    y[torch.rand(*shape, generator=g) < 1e-4] = 1.0  # the peaks
    y = y.to(device)
    return _steps(x, {
        "losskit": lambda: F.gaussian_focal_loss(x, y),
        "mmdet formula (torch ops, sigmoid first)": lambda: _gaussian_formula(x.sigmoid(), y),
        "torch BCE-with-logits": lambda: TF.binary_cross_entropy_with_logits(x, y),
    })  # fmt: skip


def _dfl_formula(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """ultralytics' DFLoss (the two cross-entropies), in torch ops."""
    n = pred.shape[-1]
    tl = target.long()
    wl = tl + 1 - target
    ce_l = TF.cross_entropy(pred.reshape(-1, n), tl.view(-1), reduction="none")
    ce_r = TF.cross_entropy(pred.reshape(-1, n), (tl + 1).view(-1), reduction="none")
    return (ce_l * wl.view(-1) + ce_r * (1 - wl).view(-1)).mean()


def _dfl_setup(device: torch.device) -> dict[str, Callable[[], None]]:
    g = torch.Generator().manual_seed(0)
    (x,) = grad_inputs(torch.randn(65536, 4, 16, generator=g).to(device))
    y = (torch.rand(65536, 4, generator=g) * 14.99).to(device)
    return _steps(x, {
        "losskit": lambda: F.distribution_focal_loss(x, y),
        "ultralytics formula (torch ops)": lambda: _dfl_formula(x, y),
    })  # fmt: skip


def _asl_setup(device: torch.device) -> dict[str, Callable[[], None]]:
    """Multi-label ASL on (256, 1000) logits (Open Images-like label count), 1 % positives."""
    x, y = _binary_data(device, (256, 1000), 0.01)
    impls: dict[str, Callable[[], torch.Tensor]] = {"losskit": lambda: F.asymmetric_loss(x, y)}
    try:
        from timm.loss import AsymmetricLossMultiLabel
    except ImportError:  # pragma: no cover
        pass
    else:
        peer = AsymmetricLossMultiLabel(reduction="mean")
        impls["timm"] = lambda: peer(x, y)
    impls["torch BCE-with-logits"] = lambda: TF.binary_cross_entropy_with_logits(x, y)
    return _steps(x, impls)


def _asl_single_setup(device: torch.device) -> dict[str, Callable[[], None]]:
    g = torch.Generator().manual_seed(0)
    (x,) = grad_inputs(torch.randn(1024, 1000, generator=g).to(device))
    y = torch.randint(0, 1000, (1024,), generator=g).to(device)
    impls: dict[str, Callable[[], torch.Tensor]] = {
        "losskit": lambda: F.asymmetric_softmax_loss(x, y, label_smoothing=0.1)
    }
    try:
        from timm.loss import AsymmetricLossSingleLabel
    except ImportError:  # pragma: no cover
        pass
    else:
        peer = AsymmetricLossSingleLabel(eps=0.1)
        impls["timm"] = lambda: peer(x, y)
    return _steps(x, impls)


def _poly_formula(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The PolyLoss paper's Poly-1 CE (one-hot, softmax, sum), in torch ops."""
    onehot = TF.one_hot(y, x.shape[1]).to(x)
    pt = (onehot * x.softmax(1)).sum(1)
    return (TF.cross_entropy(x, y, reduction="none") + 2.0 * (1 - pt)).mean()


def _poly_setup(device: torch.device) -> dict[str, Callable[[], None]]:
    g = torch.Generator().manual_seed(0)
    (x,) = grad_inputs(torch.randn(4096, 1000, generator=g).to(device))
    y = torch.randint(0, 1000, (4096,), generator=g).to(device)
    return _steps(x, {
        "losskit": lambda: F.poly1_cross_entropy(x, y, poly_coef=2.0),
        "paper formula (torch ops)": lambda: _poly_formula(x, y),
        "torch CE": lambda: TF.cross_entropy(x, y),
    })  # fmt: skip


def _jsd_setup(device: torch.device) -> dict[str, Callable[[], None]]:
    g = torch.Generator().manual_seed(0)
    (flat,) = grad_inputs(torch.randn(3 * 256, 1000, generator=g).to(device))
    y = torch.randint(0, 1000, (256,), generator=g).to(device)
    impls: dict[str, Callable[[], torch.Tensor]] = {
        "losskit": lambda: F.jsd_cross_entropy(flat.view(3, 256, 1000).permute(1, 2, 0), y,
                                               label_smoothing=0.1),  # fmt: skip
    }
    try:
        from timm.loss import JsdCrossEntropy
    except ImportError:  # pragma: no cover
        pass
    else:
        peer = JsdCrossEntropy(num_splits=3, alpha=12, smoothing=0.1)
        yy = y.repeat(3)
        impls["timm"] = lambda: peer(flat, yy)
    return _steps(flat, impls)


def _kd_setup(device: torch.device) -> dict[str, Callable[[], None]]:
    g = torch.Generator().manual_seed(0)
    (x,) = grad_inputs(torch.randn(4096, 1000, generator=g).to(device))
    t = torch.randn(4096, 1000, generator=g).to(device)

    def torch_kd() -> torch.Tensor:
        kl = TF.kl_div(TF.log_softmax(x / 4, 1), TF.softmax(t / 4, 1), reduction="batchmean")
        return kl * 16

    return _steps(x, {"losskit": lambda: F.distillation_loss(x, t), "torch kl_div": torch_kd})


def _ldam_formula(x, y, m_list, cw):
    """The LDAM-DRW repository's LDAMLoss (one-hot, where, weighted CE), in torch ops."""
    index = TF.one_hot(y, x.shape[1]).bool()
    output = torch.where(index, x - m_list[y].view(-1, 1), x)
    return TF.cross_entropy(30.0 * output, y, weight=cw)


def _long_tail_data(device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    (x,) = grad_inputs(torch.randn(4096, 1000, generator=g).tanh().to(device))
    y = torch.randint(0, 1000, (4096,), generator=g).to(device)
    counts = (5000 * torch.exp(-torch.arange(1000) / 150.0)).round().clamp_min(1).to(device)
    return x, y, counts


def _ldam_setup(device: torch.device) -> dict[str, Callable[[], None]]:
    x, y, counts = _long_tail_data(device)
    cw = F.class_balanced_weights(counts)
    m_list = counts.float().pow(-0.25)
    m_list = m_list * (0.5 / m_list.max())
    return _steps(x, {
        "losskit": lambda: F.ldam_loss(x, y, counts=counts, class_weight=cw),
        "official formula (torch ops)": lambda: _ldam_formula(x, y, m_list, cw),
    })  # fmt: skip


def _seesaw_formula(x, y, cum):
    """mmdetection's seesaw_ce_loss, in torch ops."""
    onehot = TF.one_hot(y, x.shape[1]).to(x)
    ratio = cum[None, :].clamp(min=1) / cum[:, None].clamp(min=1)
    index = (ratio < 1.0).to(x)
    w = (ratio.pow(0.8) * index + (1 - index))[y, :]
    scores = TF.softmax(x.detach(), dim=1)
    self_scores = scores[torch.arange(len(y), device=x.device), y]
    sm = scores / self_scores[:, None].clamp(min=1e-2)
    index = (sm > 1.0).to(x)
    w = w * (sm.pow(2.0) * index + (1 - index))
    return TF.cross_entropy(x + w.log() * (1 - onehot), y)


def _seesaw_setup(device: torch.device) -> dict[str, Callable[[], None]]:
    x, y, counts = _long_tail_data(device)
    cum = counts.float()
    return _steps(x, {
        "losskit": lambda: F.seesaw_loss(x, y, cum),
        "mmdet formula (torch ops)": lambda: _seesaw_formula(x, y, cum),
    })  # fmt: skip


CASES = {
    "bce_loss": (BenchCase("(4096, 1024) float32", _bce_setup),),
    "weighted_bce_loss": (BenchCase("(4096, 1024) float32, 5 % positives", _weighted_setup),),
    "balanced_bce_loss": (BenchCase("(16, 1, 256, 256) float32, 5 % positives", _balanced_setup),),
    "focal_loss": (BenchCase("(16, 80, 128, 128) float32, 1 % positives", focal_bench_setup),),
    "softmax_focal_loss": (BenchCase("(8, 21, 128, 128) float32", _softmax_focal_setup),),
    "softmax_cross_entropy": (BenchCase("(4096, 1000) float32, label smoothing 0.1", _ce_setup),),
    "quality_focal_loss": (
        BenchCase("(16, 80, 128, 128) float32, 1 % IoU targets", quality_bench_setup),
    ),
    "varifocal_loss": (
        BenchCase("(16, 80, 128, 128) float32, 1 % IoU targets", varifocal_bench_setup),
    ),
    "gaussian_focal_loss": (BenchCase("(16, 80, 128, 128) float32 heatmaps", _gaussian_setup),),
    "distribution_focal_loss": (
        BenchCase("(65536, 4, 16) float32 side distributions", _dfl_setup),
    ),
    "asymmetric_loss": (BenchCase("(256, 1000) float32, 1 % positives", _asl_setup),),
    "asymmetric_softmax_loss": (
        BenchCase("(1024, 1000) float32, label smoothing 0.1", _asl_single_setup),
    ),
    "poly1_cross_entropy": (BenchCase("(4096, 1000) float32, epsilon 2", _poly_setup),),
    "jsd_cross_entropy": (BenchCase("3 views of (256, 1000) float32", _jsd_setup),),
    "distillation_loss": (BenchCase("(4096, 1000) float32, T = 4", _kd_setup),),
    "ldam_loss": (BenchCase("(4096, 1000) float32, long-tailed counts, DRW", _ldam_setup),),
    "seesaw_loss": (BenchCase("(4096, 1000) float32, long-tailed counts", _seesaw_setup),),
}
