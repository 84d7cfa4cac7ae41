"""The report's segmentation section: its synthetic scenes and the numbers behind its claims."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from losskit.report import SECTIONS
from losskit.report import segmentation as seg
from losskit.report._base import ReportContext


@pytest.fixture(scope="module")
def measured() -> dict:
    return seg.measure()


def test_the_scenes(measured) -> None:
    target, broken, thick = measured["target"], measured["broken"], measured["thick"]
    # the broken vessel is the vessel less its gap; the thick one contains the vessel
    assert torch.all(broken <= target) and torch.all(target <= thick)
    assert broken[:, seg.GAP[0] : seg.GAP[1]].sum() == 0
    assert measured["components"] == {"target": 1, "broken": 2, "thick": 1}
    # the farthest shifted disk lies wholly inside the image (its area is the unshifted one's)
    assert seg.disk(float(seg.SHIFTS[-1])).sum() == seg.disk(0.0).sum()


def test_dice_of_the_vessel_predictions_by_hand(measured) -> None:
    # smooth = 0: Dice loss = 1 - 2 |P n T| / (|P| + |T|). The broken prediction lies inside
    # the target (P n T = P), the thick one contains it (P n T = T).
    t = measured["target"].sum().item()
    b, k = measured["broken"].sum().item(), measured["thick"].sum().item()
    assert measured["vessel"]["broken"]["Dice"] == pytest.approx(1 - 2 * b / (b + t), abs=1e-12)
    assert measured["vessel"]["thick"]["Dice"] == pytest.approx(1 - 2 * t / (k + t), abs=1e-12)


def test_cldice_prefers_the_connected_vessel_and_dice_the_broken(measured) -> None:
    vb, vt = measured["vessel"]["broken"], measured["vessel"]["thick"]
    assert vb["Dice"] < vt["Dice"]
    assert vt["clDice"] < vb["clDice"]
    # the thick band holds the whole target and its skeleton lies in the target: clDice ~ 0
    assert vt["clDice"] < 1e-3


def test_shifted_disks_by_hand(measured) -> None:
    shifted = measured["shifted"]
    target = seg.disk(0.0).numpy()
    # the boundary loss's map: distance to the object outside it, minus (distance to the
    # background - 1) inside it (0 on the object's boundary pixels); scipy as the reference
    phi = (
        ndimage.distance_transform_edt(1 - target)
        - (ndimage.distance_transform_edt(target) - 1) * target
    )
    for s in seg.SHIFTS:
        pred = seg.disk(float(s)).numpy()
        assert shifted[s]["boundary"] == pytest.approx(float(np.mean(pred * phi)), abs=1e-12)
        if s > 2 * seg.RADIUS:  # disjoint: Dice loss 1; hinge errors 1 + 2 = 3 on every
            # wrong pixel, and the Lovasz extension of a fully wrong set's Jaccard loss is 3 * 1
            assert shifted[s]["Dice"] == pytest.approx(1.0, abs=1e-12)
            assert shifted[s]["Lovasz hinge"] == pytest.approx(3.0, abs=1e-9)
    for name in ("boundary", "Hausdorff DT"):
        vals = [shifted[s][name] for s in seg.SHIFTS]
        assert all(b > a for a, b in zip(vals[:-1], vals[1:], strict=True)), name
    assert shifted[0]["Hausdorff DT"] == 0.0 and shifted[0]["Dice"] == 0.0


def test_the_section(tmp_path: Path) -> None:
    assert ("segmentation", "losskit.report.segmentation") in SECTIONS
    sec = seg.section(ReportContext(out_dir=tmp_path, quick=True))
    assert sec.key == "segmentation" and len(sec.claims) == 3
    assert all(c.held for c in sec.claims), [c.measured for c in sec.claims if not c.held]
    png = (tmp_path / sec.figures[0].filename).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
    docs = (Path(__file__).resolve().parents[1] / "docs" / "claims.md").read_text("utf-8")
    assert all(f"- {c.text}\n" in docs for c in sec.claims)
