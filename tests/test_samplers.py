"""The M-per-class sampler (losskit.samplers): P x K batches, distinct classes per batch,
without replacement inside a class where it can, reproducible with a generator, usable by a
DataLoader; and its bad arguments."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from losskit.samplers import MPerClassSampler


def test_every_batch_is_p_classes_by_k_samples() -> None:
    labels = torch.arange(103) % 13  # classes of 7 or 8 samples
    sampler = MPerClassSampler(labels, 4, batch_size=24, generator=torch.Generator().manual_seed(0))
    idx = torch.tensor(list(sampler))
    assert len(idx) == len(sampler) == 96  # 103 rounded down to a multiple of 24
    for batch in idx.view(-1, 24):
        counts = torch.bincount(labels[batch], minlength=13)
        assert sorted(counts[counts > 0].tolist()) == [4] * 6  # P = 6 classes, K = 4 each
        assert len(set(batch.tolist())) == 24  # no sample twice: every class has >= 4


def test_small_classes_are_drawn_with_replacement_and_draws_reproduce() -> None:
    labels = torch.tensor([0, 0, 1, 1, 1, 1, 2])
    make = lambda: MPerClassSampler(labels, 3, batch_size=6, length=60,  # noqa: E731
                                    generator=torch.Generator().manual_seed(5))  # fmt: skip
    a, b = list(make()), list(make())
    assert a == b and len(a) == 60
    for batch in torch.tensor(a).view(-1, 6):
        assert (torch.bincount(labels[batch], minlength=3).sort().values[1:] == 3).all()


def test_with_a_dataloader() -> None:
    labels = torch.arange(64) % 8
    data = TensorDataset(torch.randn(64, 3), labels)
    sampler = MPerClassSampler(labels, 4, batch_size=16, generator=torch.Generator().manual_seed(1))
    batches = list(DataLoader(data, batch_size=16, sampler=sampler))
    assert len(batches) == 4
    for _, y in batches:
        assert sorted(torch.bincount(y).tolist(), reverse=True)[:4] == [4, 4, 4, 4]


def test_bad_arguments() -> None:
    labels = torch.arange(20) % 5
    with pytest.raises(ValueError, match=r"^MPerClassSampler: batch_size must be a multiple of m"):
        MPerClassSampler(labels, 3, batch_size=8)
    with pytest.raises(ValueError, match=r"^MPerClassSampler: batch_size // m = 6 classes"):
        MPerClassSampler(labels, 2, batch_size=12)
    with pytest.raises(ValueError, match=r"^MPerClassSampler: m must be an int >= 1"):
        MPerClassSampler(labels, 0, batch_size=8)
    with pytest.raises(ValueError, match=r"^MPerClassSampler: labels must be a 1-D sequence"):
        MPerClassSampler(torch.rand(20), 2, batch_size=8)
