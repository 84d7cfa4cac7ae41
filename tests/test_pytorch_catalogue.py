"""The PyTorch catalogue is complete: every loss class of the installed ``torch.nn`` has a
registry entry, and each entry delegates to the torch class it names."""

from __future__ import annotations

import inspect

import torch
from torch import nn

from losskit.registry import REGISTRY


def _torch_loss_classes() -> set[str]:
    """Every loss class ``torch.nn`` exports: the ``_Loss`` subclasses (23 in torch 2.14.1)
    and the module that returns a loss beside its output (``AdaptiveLogSoftmaxWithLoss``)."""
    out = set()
    for name in dir(nn):
        obj = getattr(nn, name)
        if not (inspect.isclass(obj) and issubclass(obj, nn.Module)) or name.startswith("_"):
            continue
        if issubclass(obj, nn.modules.loss._Loss) or name.endswith("WithLoss"):
            out.add(name)
    return out


def test_every_torch_loss_class_is_registered() -> None:
    missing = _torch_loss_classes() - set(REGISTRY.names("pytorch"))
    assert missing == set(), f"torch.nn has loss classes the registry lacks: {sorted(missing)}"


def test_the_check_sees_torch_2_14_catalogue() -> None:
    classes = _torch_loss_classes()
    if torch.__version__.startswith("2.14."):
        # the 23 _Loss subclasses and AdaptiveLogSoftmaxWithLoss
        assert len(classes) == 24, sorted(classes)
    for name in ("CTCLoss", "GaussianNLLLoss", "HuberLoss", "PoissonNLLLoss",
                 "TripletMarginLoss", "TripletMarginWithDistanceLoss",
                 "AdaptiveLogSoftmaxWithLoss"):  # fmt: skip
        assert name in classes


def test_each_entry_delegates_to_its_torch_class() -> None:
    for spec in REGISTRY.specs("pytorch"):
        if spec.name == "NLLLoss2d":  # the retired name: NLLLoss does the work
            assert issubclass(spec.module, nn.NLLLoss)
            continue
        torch_class = getattr(nn, spec.name)
        assert issubclass(spec.module, torch_class), spec.name
        assert spec.delegates_to == f"torch.nn.{torch_class.__name__}", spec.name


def test_adapters_equal_torch() -> None:
    from losskit.specs.pytorch import (
        AdaptiveLogSoftmaxLoss,
        adaptive_log_softmax_loss,
        ctc_loss_batch_first,
        linear_cross_entropy_loss,
    )

    g = torch.Generator().manual_seed(0)
    lp = torch.randn(3, 7, 5, generator=g, dtype=torch.float64).log_softmax(2)
    tg = torch.randint(1, 5, (3, 2), generator=g)
    il, tl = torch.full((3,), 7), torch.tensor([1, 2, 2])
    for r in ("none", "mean", "sum"):
        torch.testing.assert_close(
            ctc_loss_batch_first(lp, tg, il, tl, reduction=r),
            nn.functional.ctc_loss(lp.transpose(0, 1), tg, il, tl, reduction=r),
        )
    empty = ctc_loss_batch_first(lp[:0], tg[:0], il[:0], tl[:0], reduction="sum")
    assert empty.item() == 0.0
    x, y = torch.randn(4, 6, generator=g), torch.tensor([0, 3, 8, 5])
    torch.manual_seed(0)
    asm = AdaptiveLogSoftmaxLoss(6, 9, (3, 6))
    torch.manual_seed(0)
    ref = nn.AdaptiveLogSoftmaxWithLoss(6, 9, (3, 6))
    torch.testing.assert_close(asm(x, y), ref(x, y).loss)
    torch.testing.assert_close(adaptive_log_softmax_loss(x, y, asm, reduction="none"),
                               -ref(x, y).output)  # fmt: skip
    w = torch.randn(4, 6, generator=g)
    torch.testing.assert_close(
        linear_cross_entropy_loss(x, y % 4, w), nn.functional.cross_entropy(x @ w.T, y % 4)
    )
