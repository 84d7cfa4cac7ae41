"""Inputs every pytorch loss must refuse, with the error each must raise."""

from __future__ import annotations

import torch

from losskit.specs.pytorch import AdaptiveLogSoftmaxLoss

from . import BadInput

_C = 4  # classes / features in the catalogue's inputs


def _shape_mismatch(match: str = r"size of tensor a \(4\) must match") -> BadInput:
    return BadInput(
        "shape mismatch (torch's error)",
        lambda: ((torch.zeros(3, 4), torch.zeros(3, 5)), {}),
        RuntimeError,
        match,
    )


def _label_out_of_range(error: type[Exception], match: str) -> BadInput:
    return BadInput(
        "label out of range (torch's error)",
        lambda: ((torch.zeros(3, _C), torch.tensor([0, 1, 9])), {}),
        error,
        match,
    )


BAD_INPUTS = {
    'L1Loss': (_shape_mismatch(),),
    'MSELoss': (_shape_mismatch(),),
    'CrossEntropyLoss': (_label_out_of_range(IndexError, "Target 9 is out of bounds"),),
    'NLLLoss': (_label_out_of_range(IndexError, "Target 9 is out of bounds"),),
    'NLLLoss2d': (
            BadInput(
                "target with the wrong spatial size (torch's error)",
                lambda: ((torch.zeros(2, 4, 3, 5), torch.zeros(2, 3, 4, dtype=torch.long)), {}),
                RuntimeError,
                r"size mismatch|Expected|dimension",
            ),
        ),
    'KLDivLoss': (
            BadInput(
                "shape mismatch (torch's error)",
                lambda: ((torch.zeros(3, 4), torch.zeros(3, 5)), {"reduction": "batchmean"}),
                RuntimeError,
                r"must match the size of tensor",
            ),
        ),
    'BCELoss': (
            BadInput(
                "probability above 1 (torch's error)",
                lambda: ((torch.tensor([1.5]), torch.tensor([1.0])), {}),
                RuntimeError,
                r"between 0 and 1",
            ),
        ),
    'BCEWithLogitsLoss': (
            BadInput(
                "shape mismatch (torch's error)",
                lambda: ((torch.zeros(3, 4), torch.zeros(3, 5)), {}),
                ValueError,
                r"Target size .* must be the same as input size",
            ),
        ),
    'MarginRankingLoss': (
            BadInput(
                "mismatched sizes (torch's error)",
                lambda: ((torch.zeros(3), torch.zeros(4), torch.ones(3)), {}),
                RuntimeError,
                r"size|match",
            ),
        ),
    'HingeEmbeddingLoss': (_shape_mismatch(r"size|match"),),
    'MultiLabelMarginLoss': (
            BadInput(
                "float target (torch's error)",
                lambda: ((torch.zeros(2, 4), torch.zeros(2, 4)), {}),
                RuntimeError,
                r"Long|long|dtype|scalar type",
            ),
        ),
    'SmoothL1Loss': (_shape_mismatch(),),
    'SoftMarginLoss': (_shape_mismatch(r"size|match"),),
    'MultiLabelSoftMarginLoss': (_shape_mismatch(r"size|match|shape"),),
    'CosineEmbeddingLoss': (
            BadInput(
                "mismatched feature sizes (torch's error)",
                lambda: ((torch.zeros(3, 4), torch.zeros(3, 5), torch.ones(3)), {}),
                RuntimeError,
                r"size|match",
            ),
        ),
    'MultiMarginLoss': (_label_out_of_range(RuntimeError, "target out of range"),),
    'HuberLoss': (_shape_mismatch(),),
    'GaussianNLLLoss': (
            BadInput(
                "negative variance (torch's error)",
                lambda: ((torch.zeros(3, 4), torch.zeros(3, 4), -torch.ones(3, 4)), {}),
                ValueError,
                r"var has negative entry",
            ),
        ),
    'PoissonNLLLoss': (_shape_mismatch(r"size of tensor a \(5\) must match"),),
    'TripletMarginLoss': (
            BadInput(
                "mismatched feature sizes (torch's error)",
                lambda: ((torch.zeros(3, 4), torch.zeros(3, 5), torch.zeros(3, 4)), {}),
                RuntimeError,
                r"size|match",
            ),
        ),
    'TripletMarginWithDistanceLoss': (
            BadInput(
                "mismatched feature sizes (torch's error)",
                lambda: ((torch.zeros(3, 4), torch.zeros(3, 5), torch.zeros(3, 4)), {}),
                RuntimeError,
                r"size|match",
            ),
        ),
    'CTCLoss': (
            BadInput(
                "input length beyond the frames (torch's error)",
                lambda: (
                    (torch.zeros(2, 6, _C).log_softmax(2), torch.ones(2, 3, dtype=torch.long),
                     torch.full((2,), 9), torch.ones(2, dtype=torch.long)),
                    {},
                ),
                RuntimeError,
                r"Expected input_lengths to have value at most 6",
            ),
        ),
    'LinearCrossEntropyLoss': (
            BadInput(
                "label out of range (torch's error)",
                lambda: ((torch.zeros(3, 6), torch.tensor([0, 1, 9]), torch.zeros(_C, 6)), {}),
                IndexError,
                r"Target 9 is out of bounds",
            ),
        ),
    'AdaptiveLogSoftmaxWithLoss': (
            BadInput(
                "label out of range (torch's error)",
                lambda: (
                    (torch.zeros(3, 6), torch.tensor([0, 1, 20]),
                     AdaptiveLogSoftmaxLoss(6, 9, (3, 6))),
                    {},
                ),
                RuntimeError,
                r"Target values should be in \[0, 8\]",
            ),
        ),
}
