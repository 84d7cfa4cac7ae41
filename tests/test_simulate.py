"""The DIoU paper's simulation (losskit.simulate, `losskit simulate boxes`).

Small runs (a few anchor points, T = 200) checked against the qualitative facts of the paper
and of the exact gradients; the authors' hand-coded gradients checked rule by rule against
autograd.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from losskit.cli.main import main
from losskit.simulate import (
    ANCHOR_AREAS,
    AUTHORS_RULES,
    LOSSES,
    authors_direction,
    exact_direction,
    learning_rate,
    plot_box_simulation,
    simulate_boxes,
    simulation_cases,
)

from .conftest import gen


@pytest.fixture(scope="module")
def runs():
    """8 anchor points (2,744 cases), the paper's T = 200, both gradient modes."""
    return {m: simulate_boxes(8, gradients=m, threads=1) for m in ("exact", "authors")}


def _random_pairs(n: int = 3000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(cx, cy, w, h) predictions around the simulation's targets: overlapping, disjoint,
    containing and contained, non-square."""
    _, _, targets = simulation_cases(10, seed=seed)
    g = gen(seed)
    t = targets[torch.randperm(targets.shape[0], generator=g)[:n]]
    c = 10.0 + (torch.rand(n, 2, generator=g, dtype=torch.float64) - 0.5) * 5.0
    wh = 0.1 + torch.rand(n, 2, generator=g, dtype=torch.float64) * 2.5
    return torch.cat([c, wh], -1), t


# --- the setup -------------------------------------------------------------------------


def test_learning_rate_schedule() -> None:
    assert [learning_rate(t, 200) for t in (1, 160, 161, 180, 181, 200)] == [
        0.1,
        0.1,
        0.01,
        0.01,
        0.001,
        0.001,
    ]
    assert [learning_rate(t, 10) for t in range(1, 11)] == [0.1] * 8 + [0.01, 0.001]


def test_cases_follow_the_paper() -> None:
    centres, anchors, targets = simulation_cases(5, seed=3)
    assert centres.shape == (5, 2) and anchors.shape == targets.shape == (5 * 343, 4)
    assert ((centres - 10.0).norm(dim=-1) <= 3.0).all()
    assert (targets[:, :2] == 10.0).all()
    t_area = targets[:, 2] * targets[:, 3]
    torch.testing.assert_close(t_area, torch.ones_like(t_area))
    ratios = sorted({round(r, 9) for r in (targets[:, 2] / targets[:, 3]).tolist()})
    assert ratios == [round(r, 9) for r in (1 / 4, 1 / 3, 1 / 2, 1, 2, 3, 4)]
    # row 343 p + 49 j + 7 k + m: point p, target ratio j, anchor area k, anchor ratio m
    a = anchors.view(5, 7, 7, 7, 4)
    assert (a[..., :2] == centres[:, None, None, None, :]).all()
    areas = (a[..., 2] * a[..., 3])[0, 0, :, 0]
    torch.testing.assert_close(areas, torch.tensor(ANCHOR_AREAS, dtype=torch.float64))
    anchor_ratio = (a[..., 2] / a[..., 3])[0, 0, 0]
    target_ratio = (targets.view(5, 7, 7, 7, 4)[..., 2] / targets.view(5, 7, 7, 7, 4)[..., 3])[
        0, :, 0, 0
    ]
    torch.testing.assert_close(anchor_ratio, target_ratio)
    # one seed, one set of points; another seed, another set
    assert torch.equal(simulation_cases(5, seed=3)[0], centres)
    assert not torch.equal(simulation_cases(5, seed=4)[0], centres)


# --- the gradients -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", LOSSES)
def test_authors_gradient_without_its_departures_is_the_exact_gradient(kind: str) -> None:
    b, t = _random_pairs()
    g_exact, iou_exact = exact_direction(kind, b, t)
    g_auth, iou_auth = authors_direction(kind, b, t, rules=())
    # losskit adds eps = 1e-7 to its denominators, the authors' code does not
    torch.testing.assert_close(g_auth, g_exact, atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(iou_auth, iou_exact, atol=1e-6, rtol=1e-6)
    assert (iou_exact == 0).any() and (iou_exact > 0.5).any()  # disjoint and good overlaps


#: which losses each departure touches
_TOUCHES = {
    "unhalved_wh": {"iou", "giou", "diou", "ciou"},
    "signed_intersection": {"giou"},
    "centre_sign": {"diou", "ciou"},
    "shared_enclosing_record": {"diou", "ciou"},
    "containment_sign": {"diou", "ciou"},
    "v_unscaled": {"ciou"},
}


@pytest.mark.parametrize("rule", sorted(AUTHORS_RULES))
def test_each_departure_changes_only_its_losses(rule: str) -> None:
    assert set(_TOUCHES) == set(AUTHORS_RULES)
    b, t = _random_pairs()
    for kind in LOSSES:
        exact, _ = authors_direction(kind, b, t, rules=())
        one, _ = authors_direction(kind, b, t, rules=(rule,))
        changed = not torch.allclose(one, exact, atol=1e-9, rtol=0)
        assert changed == (kind in _TOUCHES[rule]), (rule, kind)


def test_unhalved_wh_doubles_the_size_gradient_of_iou() -> None:
    b, t = _random_pairs()
    exact, _ = exact_direction("iou", b, t)
    auth, _ = authors_direction("iou", b, t, rules=("unhalved_wh",))
    torch.testing.assert_close(auth[:, :2], exact[:, :2], atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(auth[:, 2:], 2 * exact[:, 2:], atol=4e-6, rtol=1e-5)


def test_signed_intersection_acts_on_disjoint_boxes_only() -> None:
    b, t = _random_pairs()
    _, iou = exact_direction("iou", b, t)
    exact, _ = authors_direction("giou", b, t, rules=())
    signed, _ = authors_direction("giou", b, t, rules=("signed_intersection",))
    overlap = iou > 0
    torch.testing.assert_close(signed[overlap], exact[overlap], atol=1e-12, rtol=0)
    assert not torch.allclose(signed[~overlap], exact[~overlap])


def test_centre_sign_flips_the_enclosing_term_of_the_centre_gradient() -> None:
    b, t = _random_pairs()
    exact, _ = authors_direction("diou", b, t, rules=())
    flipped, _ = authors_direction("diou", b, t, rules=("centre_sign",))
    torch.testing.assert_close(flipped[:, 2:], exact[:, 2:], atol=1e-12, rtol=0)
    # centre gradient = IoU part - 2 (c - c_gt) / c^2 + s * enclosing part, s = +1 / -1:
    # flipped - exact = -2 * enclosing part, and the pull toward the target grows
    pull_exact = -((b[:, :2] - t[:, :2]) * exact[:, :2]).sum(-1)
    pull_flipped = -((b[:, :2] - t[:, :2]) * flipped[:, :2]).sum(-1)
    assert (pull_flipped >= pull_exact - 1e-12).all() and (pull_flipped > pull_exact).any()


def test_v_unscaled_drops_one_over_w2_plus_h2() -> None:
    b, t = _random_pairs()
    ciou, _ = authors_direction("ciou", b, t, rules=())
    diou, _ = authors_direction("diou", b, t, rules=())
    unscaled, _ = authors_direction("ciou", b, t, rules=("v_unscaled",))
    v_part, v_unscaled = ciou - diou, unscaled - diou
    torch.testing.assert_close(v_part[:, :2], torch.zeros_like(v_part[:, :2]), atol=1e-12, rtol=0)
    s = (b[:, 2:] ** 2).sum(-1, keepdim=True)
    torch.testing.assert_close(v_unscaled[:, 2:], v_part[:, 2:] * s, atol=1e-10, rtol=1e-9)


# --- the simulation -----------------------------------------------------------------------


def test_exact_iou_loss_leaves_every_disjoint_case_where_it_was(runs) -> None:
    sim = runs["exact"]
    disjoint = sim.initially_disjoint
    assert disjoint.any() and not disjoint.all()
    final = sim.case_final_error["iou"]
    assert torch.equal(final[disjoint], sim.case_initial_error[disjoint])
    # overlapping cases do move, so the error falls only a little
    assert (final[~disjoint] < sim.case_initial_error[~disjoint]).all()
    assert 0.8 < sim.remaining("iou") < 1.0
    assert sim.summary()[0]["disjoint_unmoved"] == 1.0


def test_exact_giou_diou_ciou_converge_and_ciou_ends_lowest(runs) -> None:
    sim = runs["exact"]
    for name in ("giou", "diou", "ciou"):
        assert sim.remaining(name) < 0.02, name
        assert (sim.case_final_error[name] < sim.case_initial_error).all(), name
    assert min(LOSSES, key=sim.remaining) == "ciou"
    curve = sim.curves["giou"]
    assert curve.shape == (201,) and curve[0] == sim.case_initial_error.sum()
    assert sim.inverted == {n: 0 for n in LOSSES}


def test_authors_gradients_give_the_papers_curves(runs) -> None:
    exact, authors = runs["exact"], runs["authors"]
    # GIoU stalls (the signed intersection), DIoU and CIoU are fast (the centre sign)
    assert authors.remaining("giou") > 0.1 > 0.02 > exact.remaining("giou")
    for name in ("diou", "ciou"):
        assert authors.remaining(name) < authors.remaining("giou") / 100
        assert authors.remaining(name, 50) < exact.remaining(name, 50) / 3
    # the paper's claim "DIoU faster than GIoU" holds with its gradients, not with exact ones
    assert authors.remaining("diou", 50) < authors.remaining("giou", 50)
    assert exact.remaining("diou", 50) > exact.remaining("giou", 50)
    # IoU: the same stall in both modes (its gradient is 0 for disjoint boxes either way)
    disjoint = authors.initially_disjoint
    assert torch.equal(
        authors.case_final_error["iou"][disjoint], authors.case_initial_error[disjoint]
    )
    assert authors.final_error["giou"].shape == (8,)
    torch.testing.assert_close(
        authors.final_error["giou"].sum(), authors.case_final_error["giou"].sum()
    )


def test_seed_determines_the_result() -> None:
    kw = {"iterations": 30, "losses": ("giou", "ciou"), "threads": 1}
    a = simulate_boxes(2, seed=5, gradients="authors", **kw)
    b = simulate_boxes(2, seed=5, gradients="authors", **kw)
    c = simulate_boxes(2, seed=6, gradients="authors", **kw)
    for name in ("giou", "ciou"):
        assert torch.equal(a.curves[name], b.curves[name])
        assert torch.equal(a.case_final_error[name], b.case_final_error[name])
        assert not torch.equal(a.curves[name], c.curves[name])


def test_threads_are_restored() -> None:
    before = torch.get_num_threads()
    simulate_boxes(1, iterations=2, losses=("iou",), threads=1)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"points": 0}, ValueError, "simulate_boxes: points must be >= 1; got 0"),
        ({"points": 2.5}, TypeError, "simulate_boxes: points must be an int; got float"),
        ({"iterations": 0}, ValueError, "iterations must be >= 1"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
        ({"threads": 0}, ValueError, "threads must be >= 1"),
        ({"gradients": "paper"}, ValueError, "gradients must be one of 'exact', 'authors'"),
        ({"losses": ("iou", "eiou")}, ValueError, "losses must be one of"),
        ({"losses": "iou"}, ValueError, "losses must be a non-empty sequence"),
        ({"losses": ()}, ValueError, "losses must be a non-empty sequence"),
        ({"losses": ("iou", "iou")}, ValueError, "must not repeat"),
        ({"rules": ()}, ValueError, "rules apply to gradients='authors' only"),
        ({"gradients": "authors", "rules": ("nope",)}, ValueError, "rules must be one of"),
        ({"dtype": torch.int64}, ValueError, "dtype must be a floating torch.dtype"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, error, match) -> None:
    kw = {"points": 1, "iterations": 1, **kwargs}
    with pytest.raises(error, match=match):
        simulate_boxes(**kw)


def test_plot_one_mode_with_some_losses(tmp_path: Path) -> None:
    sim = simulate_boxes(3, iterations=10, losses=("diou", "giou"), threads=1)
    out = tmp_path / "fig.png"
    plot_box_simulation([sim], out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    with pytest.raises(ValueError, match="no simulation"):
        plot_box_simulation([], out)


# --- the command line and the report ------------------------------------------------------


def test_cli_writes_figure_and_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "figs"
    argv = ["simulate", "boxes", "--points", "2", "--iterations", "20", "--out", str(out)]
    assert main([*argv, "--losses", "iou, diou"]) == 0
    text = capsys.readouterr().out
    assert "gradients=exact: 686 cases" in text and "gradients=authors: 686 cases" in text
    png = out / "simulate_boxes.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    numbers = json.loads((out / "simulate_boxes.json").read_text())
    assert set(numbers) == {"exact", "authors"}
    assert set(numbers["exact"]["curves"]) == {"iou", "diou"}
    assert len(numbers["authors"]["curves"]["diou"]) == 21
    left = numbers["exact"]["summary"][1]["left@T"]
    curve = numbers["exact"]["curves"]["diou"]
    assert math.isclose(left, curve[-1] / curve[0])
    # a file name, one mode
    fig = tmp_path / "one.png"
    argv = ["simulate", "boxes", "--points", "1", "--iterations", "5", "--gradients", "exact"]
    assert main([*argv, "--losses", "giou", "--out", str(fig)]) == 0
    assert fig.exists() and set(json.loads(fig.with_suffix(".json").read_text())) == {"exact"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--losses", "iou,foo"], "--losses: unknown foo"),
        (["--losses", ","], "--losses needs at least one"),
        (["--points", "0"], "--points must be >= 1"),
        (["--iterations", "0"], "--iterations must be >= 1"),
        (["--seed", "-2"], "--seed must be >= 0"),
    ],
)
def test_cli_bad_arguments(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "boxes", "--out", str(tmp_path / "f.png"), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "f.png").exists()


def test_cli_rejects_unknown_gradients() -> None:
    with pytest.raises(SystemExit):
        main(["simulate", "boxes", "--gradients", "paper"])


def test_report_subsection(tmp_path: Path) -> None:
    from losskit.report._base import ReportContext, Section
    from losskit.report.box import SIMULATION_PREFIX, _simulation

    sec = Section("box", "Box", "intro")
    tables = _simulation(ReportContext(out_dir=tmp_path, quick=True), sec)
    assert [f.filename for f in sec.figures] == ["box_diou_simulation.png"]
    assert (tmp_path / "box_diou_simulation.png").stat().st_size > 10_000
    assert len(sec.claims) == 5 and all(c.text.startswith(SIMULATION_PREFIX) for c in sec.claims)
    held = [c.held for c in sec.claims]
    # IoU stalls, the others converge, CIoU lowest; the paper's "DIoU faster than GIoU" does
    # not hold with exact gradients and does with the authors'
    assert held == [True, True, True, False, True]
    assert "with exact gradients" in sec.claims[3].text
    assert "GIoU" in sec.claims[3].measured and "%" in sec.claims[3].measured
    assert len(tables) == 1 and "DIoU simulation" in tables[0]
