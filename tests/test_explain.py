"""`losskit explain`: every registry entry's slice is finite, and the figure is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from losskit.cli.main import main
from losskit.registry import REGISTRY
from losskit.specs._explain import scalar_curve

WITH = [s for s in REGISTRY if s.explain is not None]


def test_every_registry_entry_is_explained() -> None:
    assert [s.name for s in REGISTRY if s.explain is None] == []


@pytest.mark.parametrize("spec", WITH, ids=[s.name for s in WITH])
def test_panels_are_finite(spec) -> None:
    panels = spec.explain()
    assert panels
    for p in panels:
        assert p.curves and p.xlabel
        for c in p.curves:
            assert c.loss.shape == p.x.shape == c.grad.shape
            assert torch.isfinite(c.loss).all() and torch.isfinite(c.grad).all(), (
                spec.name,
                c.label,
            )


def test_scalar_curve_gradient_is_the_derivative() -> None:
    x = torch.linspace(-2, 2, 9, dtype=torch.float64)
    c = scalar_curve("cube", x, lambda t: t**3)
    torch.testing.assert_close(c.grad, 3 * x**2)
    with pytest.raises(
        ValueError, match=r"scalar_curve: loss_of must return shape \(9,\); got \(\)"
    ):
        scalar_curve("bad", x, lambda t: t.sum())


def test_explain_cli_writes_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sl1.png"
    assert main(["explain", "smooth_l1_loss", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "When to use it" in text and "Girshick" in text
    assert out.stat().st_size > 20_000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_explain_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "nope"]) == 2
    assert "no loss named 'nope'" in capsys.readouterr().err


def test_a_curve_that_hides_another_says_so() -> None:
    # two settings that draw the same loss and gradient would hide one another: the drawn
    # label of the later one names the earlier (and it is drawn dashed on top)
    from losskit.report.explain import drawn_labels, overlaps

    found = 0
    for spec in REGISTRY:
        if spec.explain is None:
            continue
        for panel in spec.explain():
            labels = drawn_labels(panel)
            same = overlaps(panel)
            for i, label in enumerate(labels):
                if i in same:
                    found += 1
                    assert f"(same as {panel.curves[same[i]].label})" in label
                else:
                    assert "(same as" not in label
    assert found >= 1  # e.g. GIoU on IoU where one box contains the other
