"""The torch Euclidean distance transform equals scipy.ndimage.distance_transform_edt (to the
rounding of the final square root), in 1-D, 2-D and 3-D, batched, with anisotropic spacing;
both of its envelope forms (the stack and the brute-force minimum) agree; its edges."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from losskit import _distance_transform as dt
from losskit import distance_transform_edt

from .conftest import gen


def _scipy(x: torch.Tensor, spatial_dims: int, spacing=None) -> np.ndarray:
    a = x.cpu().numpy()
    lead = a.shape[: a.ndim - spatial_dims]
    flat = a.reshape(-1, *a.shape[a.ndim - spatial_dims :])
    out = np.stack([ndi.distance_transform_edt(img, sampling=spacing) for img in flat])
    return out.reshape(*lead, *out.shape[1:])


def _blobs(
    shape: tuple[int, ...], seed: int, fill: float = 0.5, sigma: float = 2.0, spatial: int = 0
) -> torch.Tensor:
    """Smooth random blobs (long runs: many parabolas pushed and popped) with at least one
    zero per image (the last ``spatial`` dimensions; default all but the first)."""
    rng = np.random.default_rng(seed)
    spatial = spatial or len(shape) - 1
    lead = len(shape) - spatial
    m = ndi.gaussian_filter(rng.random(shape), (0,) * lead + (sigma,) * spatial) > fill
    m.reshape(int(np.prod(shape[:lead])), -1)[:, 0] = False
    return torch.from_numpy(m)


@pytest.mark.parametrize(
    ("shape", "spatial_dims"),
    [((5, 40), 1), ((4, 37, 29), 2), ((3, 50, 64), 2), ((2, 3, 17, 21, 13), 3), ((2, 40, 33, 35), 3)],
)
@pytest.mark.parametrize("fill", [0.3, 0.5, 0.62])
def test_equals_scipy(device, shape, spatial_dims, fill) -> None:
    x = _blobs(shape, len(shape) + int(fill * 10), fill, spatial=spatial_dims).to(device)
    got = distance_transform_edt(x, spatial_dims=spatial_dims)
    want = _scipy(x, spatial_dims)
    got64 = distance_transform_edt(x.double(), spatial_dims=spatial_dims)
    assert got64.dtype == torch.float64 and got.dtype == torch.float32
    if x.device.type == "cpu":
        # unit spacing: exact integer squares and a correctly rounded root (numpy's; torch's
        # CPU root is not), so bit-equal to scipy's float64 result, and in float32 to its
        # rounding (a double rounding of a root is exact)
        np.testing.assert_array_equal(got64.numpy(), want)
        np.testing.assert_array_equal(got.numpy(), want.astype(np.float32))
    else:
        np.testing.assert_allclose(got.cpu().double().numpy(), want, rtol=1e-6)
        np.testing.assert_allclose(got64.cpu().numpy(), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_random_noise_and_sparse_zeros(seed: int) -> None:
    """Salt noise (short runs) and a single zero per image (one parabola wins everywhere)."""
    g = gen(seed)
    noise = torch.rand(3, 45, 38, generator=g) > 0.15
    sparse = torch.ones(2, 61, 47, dtype=torch.int64)
    sparse[0, 30, 7] = 0
    sparse[1, 0, 46] = 0
    for x in (noise, sparse):
        got = distance_transform_edt(x.double())
        np.testing.assert_allclose(got.numpy(), _scipy(x, 2), rtol=1e-12, atol=1e-12)


def test_squared_distances_are_exact_integers() -> None:
    x = _blobs((3, 41, 53), seed=7)
    sq = distance_transform_edt(x.double(), squared=True)
    assert torch.equal(sq, sq.round())
    np.testing.assert_array_equal(sq.numpy(), np.round(_scipy(x, 2) ** 2))


@pytest.mark.parametrize("spacing", [(0.5, 2.0), (1.3, 0.7), 2.5])
def test_anisotropic_spacing(spacing) -> None:
    x = _blobs((2, 33, 28), seed=3)
    got = distance_transform_edt(x.double(), spacing=spacing)
    ref_spacing = spacing if isinstance(spacing, tuple) else (spacing, spacing)
    np.testing.assert_allclose(got.numpy(), _scipy(x, 2, ref_spacing), rtol=1e-12, atol=1e-12)
    x3 = _blobs((2, 12, 15, 11), seed=4)
    got3 = distance_transform_edt(x3.double(), spatial_dims=3, spacing=(0.5, 1.0, 3.0))
    np.testing.assert_allclose(got3.numpy(), _scipy(x3, 3, (0.5, 1.0, 3.0)), rtol=1e-12, atol=1e-12)


def test_the_two_envelope_forms_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """The windowed form (CPU, long axes: dense rounds, sparse rounds), the stack form (its
    fallback) and the brute-force form (accelerators, short axes) give the same squared
    distances, bit for bit."""
    x = _blobs((4, 70, 90), seed=11)
    monkeypatch.setattr(dt, "_DENSE_UP_TO", 10_000)
    dense = distance_transform_edt(x.double(), squared=True)
    monkeypatch.setattr(dt, "_DENSE_UP_TO", 0)
    windowed = distance_transform_edt(x.double(), squared=True)  # dense rounds, then sparse
    assert torch.equal(dense, windowed)
    monkeypatch.setattr(dt, "_SPARSE_BELOW", 2.0)  # sparse from the first round
    for step in (1, 4, 7):  # offsets per sparse round: elements finish inside a round
        monkeypatch.setattr(dt, "_SPARSE_STEP", step)
        assert torch.equal(distance_transform_edt(x.double(), squared=True), dense)
        got = distance_transform_edt(x, spacing=(0.5, 1.7))
        np.testing.assert_allclose(got.numpy(), _scipy(x, 2, (0.5, 1.7)), rtol=1e-6)
    monkeypatch.setattr(dt, "_SPARSE_BELOW", 0.0)  # dense rounds only
    assert torch.equal(distance_transform_edt(x.double(), squared=True), dense)
    monkeypatch.setattr(dt, "_SPARSE_BELOW", 0.08)
    # the dense rounds' stop is decided on a sample of each line: a sample of one position
    # per line (a poor estimate) or of every position changes the work, never the result
    for sample in (1, 10_000):
        monkeypatch.setattr(dt, "_SAMPLE", sample)
        assert torch.equal(distance_transform_edt(x.double(), squared=True), dense)
    monkeypatch.setattr(dt, "_STACK_FROM", 1)  # the stack envelope for every axis
    stack = distance_transform_edt(x.double(), squared=True)
    assert torch.equal(dense, stack)
    # 3-D with the stack form on the windowed axes: its results are new tensors between
    # the buffers the windowed form passes from axis to axis
    x4 = _blobs((2, 34, 36, 40), seed=13)
    want = distance_transform_edt(x4, spatial_dims=3, squared=True)
    np.testing.assert_array_equal(want.numpy(), np.round(_scipy(x4, 3) ** 2))
    assert torch.equal(distance_transform_edt(x4, spatial_dims=3, squared=True), want)
    monkeypatch.setattr(dt, "_STACK_FROM", 48)
    x3 = _blobs((2, 40, 41, 39), seed=12)  # blocks split across columns on the first axis
    monkeypatch.setattr(dt, "_CPU_BLOCK", 200)
    monkeypatch.setattr(dt, "_SCAN_BLOCK", 100)  # the scan two lines at a time
    got = distance_transform_edt(x3, spatial_dims=3, spacing=(0.5, 1.0, 3.0))
    np.testing.assert_allclose(got.numpy(), _scipy(x3, 3, (0.5, 1.0, 3.0)), rtol=1e-6)
    f = torch.randint(0, 40, (37, 300), generator=gen(2)).double() ** 2
    assert torch.equal(dt._lower_envelope(f, 1.0), dt._lower_envelope_dense(f, 1.0))
    assert torch.equal(
        dt._lower_envelope(f, 0.75), dt._lower_envelope_dense(f, 0.75, chunk=1000)
    )


def test_edges() -> None:
    # all zeros: distance 0 everywhere; no zero at all: no distance to give, inf
    assert torch.equal(distance_transform_edt(torch.zeros(2, 5, 4)), torch.zeros(2, 5, 4))
    x = torch.ones(2, 5, 4)
    x[0, 2, 1] = 0  # the first image has a zero, the second none
    out = distance_transform_edt(x)
    assert torch.isfinite(out[0]).all() and torch.isinf(out[1]).all()
    # an empty batch, a single pixel, a 1-pixel-wide image
    assert distance_transform_edt(torch.ones(0, 6, 6)).shape == (0, 6, 6)
    assert distance_transform_edt(torch.zeros(1, 1, 1)).item() == 0.0
    thin = torch.tensor([[[1], [0], [1], [1]]])
    assert distance_transform_edt(thin).flatten().tolist() == [1.0, 0.0, 1.0, 2.0]
    # bool, integer and float inputs mean the same (non-zero = object); no gradient
    b = _blobs((2, 20, 20), seed=5)
    ref = distance_transform_edt(b)
    assert torch.equal(distance_transform_edt(b.to(torch.uint8)), ref)
    f = b.float().requires_grad_()
    out = distance_transform_edt(f)
    assert torch.equal(out, ref) and not out.requires_grad


@pytest.mark.slow
def test_compiled_is_the_eager_transform_without_a_graph_break() -> None:
    """Under torch.compile the transform is one opaque operator (losskit::distance_transform_
    edt) that runs the eager algorithm: fullgraph compiles, and the result is the eager one
    bit for bit (an image without a zero included: inf), in 2-D and 3-D, squared or not,
    with a spacing, for bool, integer and float inputs."""
    torch._dynamo.reset()
    x2 = _blobs((3, 45, 52), seed=21)
    x2[2] = True  # no zero: inf everywhere
    x3 = _blobs((2, 19, 23, 17), seed=22)
    cases = [
        (x2, {}), (x2.to(torch.uint8), {"squared": True}), (x2.double(), {"spacing": (0.5, 2.0)}),
        (x3, {"spatial_dims": 3}), (x3.float(), {"spatial_dims": 3, "spacing": 1.5}),
    ]  # fmt: skip
    for x, kw in cases:
        compiled = torch.compile(lambda t, kw=kw: distance_transform_edt(t, **kw), fullgraph=True)
        got, ref = compiled(x), distance_transform_edt(x, **kw)
        assert got.dtype == ref.dtype and torch.equal(got, ref), kw


def test_bad_input() -> None:
    with pytest.raises(TypeError, match="distance_transform_edt: x must be a torch.Tensor"):
        distance_transform_edt(np.zeros((3, 3)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"spatial_dims must lie in \[1, x.dim\(\)\] = \[1, 2\]; got 3"):
        distance_transform_edt(torch.zeros(3, 3), spatial_dims=3)
    with pytest.raises(TypeError, match="spatial_dims must be an int"):
        distance_transform_edt(torch.zeros(3, 3), spatial_dims=2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="spacing must be a number or 2 numbers"):
        distance_transform_edt(torch.zeros(3, 3), spacing=(1.0,))
    with pytest.raises(ValueError, match="spacing must be finite and > 0"):
        distance_transform_edt(torch.zeros(3, 3), spacing=0.0)
    with pytest.raises(TypeError, match="x must be real"):
        distance_transform_edt(torch.zeros(3, 3, dtype=torch.complex64))


def test_four_spatial_dimensions_pass_their_buffers_along() -> None:
    # every axis longer than the brute-force limit: three windowed axes after the scan, each
    # writing into the buffer the axis before the previous one used, the last buffer then
    # holding the distances; against the brute-force minimum over every zero
    x = _blobs((1, 34, 35, 33, 36), seed=14, fill=0.45, sigma=3.0)
    got = distance_transform_edt(x, spatial_dims=4, squared=True)[0]
    img = x[0]
    zeros = img.logical_not().nonzero().double()  # (Z, 4)
    grid = torch.stack(torch.meshgrid(*[torch.arange(n) for n in img.shape], indexing="ij"), -1)
    pts = grid.reshape(-1, 4).double()
    want = torch.cat([torch.cdist(c, zeros).amin(1) ** 2 for c in pts.split(8192)])
    assert torch.equal(got.reshape(-1).double(), want.round())
    root = torch.from_numpy(np.sqrt(got.double().numpy())).float()  # correctly rounded
    assert torch.equal(distance_transform_edt(x, spatial_dims=4)[0], root)


@pytest.mark.parametrize("dtype", [torch.bool, torch.float64])
def test_distance_is_the_exact_root_of_the_squared_distance(dtype: torch.dtype) -> None:
    # the CPU root is numpy's, in place (torch's CPU root of 0 is slow, and torch's CPU root
    # is not correctly rounded: a fifth of the float32 roots of 0 .. 5e6 differ from the
    # rounded exact one): bit-equal to the correctly rounded root of the squared distances
    # (float32: the float64 root rounded, exact), with an image without zeros (inf) in the
    # batch, in 1-D, 2-D, 3-D
    for x, sd, spacing in (
        (_blobs((3, 45, 38), seed=21), 2, None),
        (torch.cat([_blobs((2, 45, 38), seed=22), torch.ones(1, 45, 38, dtype=torch.bool)]), 2, None),
        (_blobs((4, 70), seed=23), 1, None),
        (_blobs((2, 36, 34, 40), seed=24), 3, (0.5, 1.0, 2.0)),
    ):
        x = x.to(dtype)
        sq = distance_transform_edt(x, spatial_dims=sd, spacing=spacing, squared=True)
        d = distance_transform_edt(x, spatial_dims=sd, spacing=spacing)
        root = torch.from_numpy(np.sqrt(sq.double().numpy())).to(sq.dtype)
        assert d.dtype == sq.dtype and torch.equal(d, root)
        assert torch.equal(d == 0, x.logical_not())  # 0 exactly at the zeros, nowhere else


def test_int16_and_int32_dense_rounds_mix(monkeypatch: pytest.MonkeyPatch) -> None:
    # blocks whose values stay below int16's top take their dense rounds in int16, the
    # others in int32: a batch of both (long zero-free runs: squared row distances up to
    # 399^2; a line without any zero), one image per block, equals scipy and the all-int32
    # transform
    x = _blobs((3, 60, 400), seed=25, fill=0.55)
    x[1] = True
    x[1, :, 0] = False  # every row's only zero at its start: distances up to 399
    x[1, 30, 0] = True  # and one row without a zero
    x[2, :, 200:] = True
    monkeypatch.setattr(dt, "_CPU_BLOCK", 60 * 400)
    got = distance_transform_edt(x, squared=True)
    np.testing.assert_array_equal(got.numpy(), np.round(_scipy(x, 2) ** 2))
    y = x.transpose(1, 2)  # the long axis windowed: (3, 400, 60)
    np.testing.assert_array_equal(distance_transform_edt(y, squared=True).numpy(),
                                  np.round(_scipy(y, 2) ** 2))  # fmt: skip
    monkeypatch.setattr(dt, "_STACK_FROM", 10**6)  # no int16 block: top would be below 0
    assert torch.equal(distance_transform_edt(x, squared=True), got)


def test_numpy_helpers_equal_the_torch_forms() -> None:
    # on CPU the sampled count, the open elements' list and the root run in numpy on the
    # tensors' memory; an accelerator takes the torch forms: both give the same answers, on
    # strided views, int16/int32/float64 values and a broadcast threshold
    g = gen(31)
    for dtype in (torch.int16, torch.int32, torch.float64):
        out = torch.randint(0, 500, (3, 40, 17), generator=g).to(dtype)
        final = torch.randint(0, 500, (3, 1, 17), generator=g).to(dtype)
        final[1, 0, 3] = torch.iinfo(dtype).max if not dtype.is_floating_point else math.inf
        want = (out > final).reshape(-1).nonzero().squeeze(1)
        got = dt._open(out, final)
        assert got.dtype == torch.int64 and torch.equal(got, want)
        sample = out[:, ::7]
        for thr in (0, 123, 499, 600):
            assert dt._count_above_np(sample, thr) == dt._count_above(sample, thr)
    assert dt._open(torch.zeros(2, 3), torch.ones(2, 1)).numel() == 0


def test_dtype_chooses_the_result_dtype_without_a_float_copy() -> None:
    # a bool mask with dtype=float64 gives the float64 transform of its float64 copy, and a
    # float64 mask with dtype=float32 its rounding; any other dtype is refused by name
    x = _blobs((3, 41, 37), seed=41)
    want = distance_transform_edt(x.double())
    got = distance_transform_edt(x, dtype=torch.float64)
    assert got.dtype == torch.float64 and torch.equal(got, want)
    got32 = distance_transform_edt(x.double(), dtype=torch.float32)
    assert got32.dtype == torch.float32 and torch.equal(got32, want.float())
    sq = distance_transform_edt(x, squared=True, dtype=torch.float64)
    assert torch.equal(sq, distance_transform_edt(x.double(), squared=True))
    for bad in (torch.float16, torch.int32, "float64"):
        with pytest.raises(TypeError, match="distance_transform_edt: dtype must be"):
            distance_transform_edt(x, dtype=bad)
