from __future__ import annotations

import pytest
import torch

import losskit
from losskit import registry
from losskit.registry import FAMILIES, Registry

NOTES_NAMES = [
    # every loss of sections 1 and 8 of the study notes (docs/claims.md)
    "l1_loss", "mse_loss", "smooth_l1_loss", "huber_loss",
    "L1Loss", "MSELoss", "CrossEntropyLoss", "NLLLoss", "NLLLoss2d", "KLDivLoss", "BCELoss",
    "BCEWithLogitsLoss", "MarginRankingLoss", "HingeEmbeddingLoss", "MultiLabelMarginLoss",
    "SmoothL1Loss", "SoftMarginLoss", "MultiLabelSoftMarginLoss", "CosineEmbeddingLoss",
    "MultiMarginLoss",
]  # fmt: skip


def test_registry_holds_the_seed_catalogue() -> None:
    for name in NOTES_NAMES:
        assert name in losskit.REGISTRY
    # the notes' 16 torch.nn losses; the rest of torch's catalogue: tests/test_pytorch_catalogue.py
    assert {n for n in NOTES_NAMES if n[0].isupper()} <= set(losskit.REGISTRY.names("pytorch"))


def test_duplicate_name_raises() -> None:
    spec = registry.get("l1_loss")
    with pytest.raises(ValueError, match="Registry.add: duplicate loss name 'l1_loss'"):
        Registry([spec, spec])


def test_add_rejects_non_spec() -> None:
    with pytest.raises(TypeError, match="Registry.add: expected a LossSpec; got dict"):
        Registry([{}])  # type: ignore[list-item]


def test_unknown_name_suggests_the_nearest() -> None:
    with pytest.raises(KeyError, match="no loss named 'focl'; did you mean 'focal_loss'") as e:
        registry.get("focl")
    assert "l1_loss" not in str(e.value)  # no list of every name
    with pytest.raises(KeyError, match=r"no loss named 'zzzz' \(`losskit list` shows them all\)"):
        registry.get("zzzz")


def test_unknown_family() -> None:
    with pytest.raises(ValueError, match="family must be one of"):
        registry.names("misc")


def test_families_are_known() -> None:
    for spec in losskit.REGISTRY:
        assert spec.family in FAMILIES


def test_create_builds_module_from_name() -> None:
    m = losskit.create("huber_loss", delta=2.0, reduction="sum")
    assert isinstance(m, losskit.HuberLoss) and m.delta == 2.0 and m.reduction == "sum"
    out = m(torch.tensor([3.0]), torch.tensor([0.0]))
    assert out.item() == pytest.approx(2.0 * (3.0 - 1.0))
    tm = losskit.create("CrossEntropyLoss", label_smoothing=0.1)
    assert isinstance(tm, torch.nn.CrossEntropyLoss)


def test_create_does_not_evaluate_strings() -> None:
    with pytest.raises(KeyError):
        losskit.create("__import__('os').system('true')")
    with pytest.raises(TypeError, match="create: name must be a str; got int"):
        losskit.create(3)  # type: ignore[arg-type]


def test_public_api_is_explicit() -> None:
    for name in losskit.__all__:
        assert hasattr(losskit, name), name


def test_create_builds_the_real_class_and_needs_sizes() -> None:
    head = losskit.create("ArcFace", num_classes=3, embedding_dim=8, margin=0.3)
    assert type(head) is losskit.nn.ArcFaceLoss and head.centers.shape == (3, 8)
    with pytest.raises(TypeError, match="ArcFaceLoss: missing a required argument"):
        losskit.create("arcface_loss")  # a head needs its sizes: nothing is made up
    with pytest.raises(TypeError, match="unexpected argument 'sample_rte'; did you mean 'sample_rate'"):
        losskit.create("arcface", num_classes=3, embedding_dim=8, sample_rte=0.1)
    spec = registry.get("center_loss")
    assert spec.module is losskit.nn.CenterLoss
    assert spec.build().centers.shape == (
        spec.module_kwargs["num_classes"],
        spec.module_kwargs["embedding_dim"],
    )


def test_entries_read_their_text_from_the_docstring() -> None:
    spec = registry.get("arcface_loss")
    assert spec.summary.startswith("ArcFace: an additive angular margin")
    assert spec.formula.startswith("target s cos(t_y + margin)")
    assert spec.paper.startswith("Deng, Guo, Xue, Zafeiriou")
    assert spec.when_to_use.startswith("The default for face recognition")
    assert "`" not in spec.summary  # reST quotes are for the docs, not for the terminal
    for spec in losskit.REGISTRY:
        assert spec.summary and spec.formula and spec.when_to_use, spec.name


def test_import_losskit_is_light() -> None:
    """``import losskit`` imports neither the registry (its input makers), the report,
    matplotlib nor any peer library."""
    import subprocess
    import sys

    code = (
        "import sys, losskit; bad = [m for m in sys.modules if m.split('.')[0] in "
        "('matplotlib', 'monai', 'pytorch_metric_learning', 'segmentation_models_pytorch', "
        "'torchvision', 'sklearn', 'rich') or m.startswith(('losskit.registry', "
        "'losskit.specs', 'losskit.report', 'losskit.bench', 'losskit.cli'))]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_entry_has_a_feature_table_row() -> None:
    """The README's feature table names every registry entry (the torch catalogue as a list)."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("<!-- feature-table:start -->") : readme.index("<!-- feature-table:end -->")]
    def listed(spec) -> bool:
        if spec.family == "pytorch":  # one row lists torch's classes by name
            return f" {spec.name}," in table or f" {spec.name} |" in table
        return f"`{spec.name}`" in table or f"`{spec.name}(" in table

    missing = [s.name for s in losskit.REGISTRY if not listed(s)]
    assert missing == []
