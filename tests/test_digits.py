"""The digits experiment: deterministic, metrics that mean what they say."""

from __future__ import annotations

import pytest
import torch

from losskit.experiments import digits


@pytest.fixture(scope="module")
def data():
    return digits.load_digits_split()


def test_split_is_stratified_and_fixed(data) -> None:
    x_tr, y_tr, x_te, y_te = data
    assert x_tr.shape[1] == 64 and len(y_tr) + len(y_te) == 1797
    assert set(y_te.tolist()) == set(range(10))
    frac = len(y_tr) / 1797
    assert 0.69 < frac < 0.71
    again = digits.load_digits_split()
    assert torch.equal(again[1], y_tr) and torch.equal(again[2], x_te)


@pytest.mark.parametrize("loss", ["softmax", "ArcFace", "triplet", "center", "SphereFace"])
def test_same_numbers_on_every_run(data, loss: str) -> None:
    a = digits.train_one(loss, 2, data, epochs=1)
    b = digits.train_one(loss, 2, data, epochs=1)
    assert torch.equal(a.test_features, b.test_features)
    assert (a.accuracy, a.ratio, a.tar) == (b.accuracy, b.ratio, b.tar)
    assert 0.0 <= a.accuracy <= 1.0 and 0.0 <= a.tar <= 1.0


def test_training_learns(data) -> None:
    r = digits.train_one("softmax", 3, data, epochs=8)
    assert r.accuracy > 0.85  # chance is 0.1
    assert r.intra_angle < r.inter_angle


def test_tar_at_far_on_separable_and_random_scores() -> None:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(4).repeat_interleave(25)
    centres = torch.eye(4)
    tight = centres[y] + 0.01 * torch.randn(100, 4, generator=g)
    assert digits.tar_at_far(tight, y) == 1.0
    noise = torch.randn(100, 4, generator=g)
    assert digits.tar_at_far(noise, y) < 0.2  # no better than the 1 % false accepts


def test_angles_of_a_known_configuration() -> None:
    # two classes at 90 degrees, every feature exactly on its class direction
    f = torch.tensor([[1.0, 0.0]] * 3 + [[0.0, 2.0]] * 3 + [[1.0, 1.0]] * 3 + [[-1.0, 1.0]] * 3
                     + [[-1.0, 0.0]] * 3 + [[-1.0, -1.0]] * 3 + [[0.0, -1.0]] * 3 + [[1.0, -1.0]] * 3
                     + [[0.5, 0.1]] * 3 + [[0.1, 0.5]] * 3)  # fmt: skip
    y = torch.arange(10).repeat_interleave(3)
    intra, inter = digits._angles(f, y)
    assert intra == pytest.approx(0.0, abs=1e-3)
    # the closest pair of directions: (0.5, 0.1) vs (1, 0): atan(0.2) = 11.31 degrees
    assert inter == pytest.approx(11.3099, abs=1e-3)


def test_unknown_loss_name() -> None:
    with pytest.raises(ValueError, match=r"digits.run: unknown losses \['nope'\]"):
        digits.run(losses=("nope",))


def test_rank_and_spearman_by_hand() -> None:
    # ties share their mean rank: [10, 20, 20, 30] -> [1, 2.5, 2.5, 4]
    assert digits.rank(torch.tensor([10.0, 20.0, 20.0, 30.0])).tolist() == [1.0, 2.5, 2.5, 4.0]
    a = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    assert digits.spearman(a, a**3) == pytest.approx(1.0)  # monotone: +1
    assert digits.spearman(a, -a) == pytest.approx(-1.0)
    # ranks (1, 2, 3) vs (2, 1, 3): centred (-1, 0, 1) . (0, -1, 1) = 1 over |.| |.| = 2 -> 0.5
    assert digits.spearman(torch.tensor([1.0, 2, 3]), torch.tensor([5.0, 4, 6])) == pytest.approx(
        0.5
    )


def test_noise_keeps_the_pixel_power(data) -> None:
    x_te = data[2]
    xs, lv = digits.noisy_copies(x_te, (0.0, 0.6))
    assert xs.shape == (2 * len(x_te), 64)
    assert torch.equal(lv, torch.tensor([0.0, 0.6]).repeat_interleave(len(x_te)))
    assert torch.equal(xs[: len(x_te)], x_te)  # a = 0: the clean image
    clean, noisy = x_te.pow(2).mean(), xs[len(x_te) :].pow(2).mean()
    assert noisy == pytest.approx(clean.item(), rel=0.05)  # 0.64 x + 0.36 noise power


@pytest.mark.parametrize("loss", digits.NEW_LOSSES)
def test_newer_losses_train(data, loss: str) -> None:
    r = digits.train_one(loss, 3, data, epochs=1)
    assert torch.isfinite(r.test_features).all() and 0.0 <= r.accuracy <= 1.0


@pytest.mark.parametrize("loss", ["ElasticFace", "AdaFace"])
def test_random_margins_and_running_stats_repeat(data, loss: str) -> None:
    # ElasticFace draws its margins from its own seeded generator; AdaFace keeps running norm
    # statistics: a second run from scratch still gives the same numbers
    a = digits.train_one(loss, 3, data, epochs=1)
    b = digits.train_one(loss, 3, data, epochs=1)
    assert torch.equal(a.test_features, b.test_features)


def test_norm_against_noise_is_scored(data) -> None:
    r = digits.train_one("MagFace", 3, data, epochs=1, train_noise=0.9, noise_levels=(0.0, 0.8))
    assert r.noise.shape == r.noise_norms.shape == (2 * len(data[3]),)
    assert r.norm_noise_rho == pytest.approx(digits.spearman(r.noise_norms, r.noise))
    assert digits.train_one("softmax", 3, data, epochs=1).norm_noise_rho is None


def test_quick_run_leaves_out_the_newer_losses() -> None:
    assert set(digits.QUICK_NEW_LOSSES) <= set(digits.NEW_LOSSES)
    assert digits.NEW_LOSSES[0] == "SupCon" and "UniFace" in digits.NEW_LOSSES
