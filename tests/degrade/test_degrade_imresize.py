"""MATLAB-exact bicubic: real MATLAB R2017b outputs, analytic properties, numpy/torch agreement."""
from pathlib import Path

import numpy as np
import pytest
import torch

from vsrkit.degrade import imresize
from vsrkit.degrade.matlab_resize import contributions

MATLAB_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "matlab_imresize"
CASES = {"down_x2": 1 / 2, "down_x3": 1 / 3, "down_x4": 1 / 4, "up_x2": 2, "up_x3": 3}


def _read_png(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, path
    return img[..., ::-1].copy()  # RGB; per-channel resizing does not care, but keep the convention


@pytest.fixture(scope="module")
def baboon():
    if not (MATLAB_DIR / "baboon.png").is_file():
        pytest.skip(f"MATLAB reference images not found at {MATLAB_DIR} (expected beside the repo in ../shared)")
    return _read_png(MATLAB_DIR / "baboon.png")


def _matlab(name: str) -> np.ndarray:
    return _read_png(MATLAB_DIR / f"baboon_{name}_matlab.png")


@pytest.mark.parametrize("name", sorted(CASES))
def test_uint8_numpy_equals_matlab(baboon, name):
    out = imresize(baboon, CASES[name])
    ref = _matlab(name)
    assert out.dtype == np.uint8 and out.shape == ref.shape
    # Measured: 0 differing pixels in all five cases, up x2 included.
    assert int((out != ref).sum()) == 0


def test_uint8_tensor_takes_the_exact_route(baboon):
    t = torch.from_numpy(baboon).permute(2, 0, 1)[None]  # (1, 3, h, w) uint8
    out = imresize(t, 1 / 4)
    assert out.dtype == torch.uint8 and out.shape == (1, 3, 120, 123)
    assert torch.equal(out[0].permute(1, 2, 0), torch.from_numpy(_matlab("down_x4")))


# Float tensors go through torch's antialiased bicubic on a padded input; exact ties then round differently.
# Measured differing pixels (all off by 1) after *255 and rounding: float64 0/0/0/55/0, float32 2/0/0/68/529.
FLOAT_BOUNDS = {torch.float64: {"down_x2": 0, "down_x3": 0, "down_x4": 0, "up_x2": 55, "up_x3": 0},
                torch.float32: {"down_x2": 2, "down_x3": 0, "down_x4": 0, "up_x2": 68, "up_x3": 529}}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", sorted(CASES))
def test_float_tensor_close_to_matlab(baboon, name, dtype):
    x = torch.from_numpy(baboon).permute(2, 0, 1).to(dtype) / 255
    out = imresize(x, CASES[name])
    assert out.dtype == dtype
    got = np.clip(np.floor(out.permute(1, 2, 0).double().numpy() * 255 + 0.5), 0, 255)
    diff = np.abs(got - _matlab(name).astype(np.float64))
    assert diff.max() <= 1
    assert int((diff > 0).sum()) <= FLOAT_BOUNDS[dtype][name]


def test_contributions_rows_sum_to_one_and_stay_inside():
    for n_in, n_out, s in [(10, 3, 0.25), (7, 21, 3.0), (13, 8, 0.6)]:
        w, idx = contributions(n_in, n_out, s)
        np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
        assert idx.min() >= 0 and idx.max() < n_in


def test_up_x2_weights_are_the_keys_cubic():
    # Output 0 of x2 upscaling sits at input position -0.25: taps at -2..1 (mirrored), distances 1.75,0.75,0.25,1.25.
    w, idx = contributions(8, 16, 2.0)
    cubic = lambda d: (1.5 * d**3 - 2.5 * d**2 + 1) if d <= 1 else (-0.5 * d**3 + 2.5 * d**2 - 4 * d + 2)
    np.testing.assert_allclose(w[0], [cubic(1.75), cubic(0.75), cubic(0.25), cubic(1.25)], atol=1e-15)
    np.testing.assert_array_equal(idx[0], [1, 0, 0, 1])  # symmetric mirror repeats the edge


@pytest.mark.parametrize("scale", [1 / 4, 1 / 3, 2, 1.5])
def test_linear_ramp_is_reproduced_inside(scale):
    # The Keys kernel (a = -0.5) reproduces linear functions at any shift; the stretched (antialiasing) kernel of
    # a 1/d downscale is sampled symmetrically around u. So away from the borders output i equals the ramp at
    # u_i = (i + 0.5) / scale - 0.5 (0-based), MATLAB's sampling grid.
    h, w = 96, 40
    ramp = np.tile(np.arange(h, dtype=np.float64)[:, None], (1, w)) * 0.5 + 3.0
    out = imresize(ramp, scale)
    assert out.shape == (int(np.ceil(h * scale)), int(np.ceil(w * scale)))
    u = (np.arange(out.shape[0]) + 0.5) / scale - 0.5
    margin = int(np.ceil(3 / min(scale, 1)))
    inside = (u > margin) & (u < h - 1 - margin)
    np.testing.assert_allclose(out[inside], (u[inside] * 0.5 + 3.0)[:, None].repeat(out.shape[1], 1), atol=1e-10)


def test_constant_stays_constant_and_uint8_saturates():
    img = np.full((9, 11, 3), 255, np.uint8)
    assert (imresize(img, 2) == 255).all()
    assert (imresize(img, 1 / 3) == 255).all()
    ring = np.zeros((12, 12), np.uint8)
    ring[4:8, 4:8] = 255  # cubic overshoot above 255 / below 0 must clip, not wrap
    up = imresize(ring, 2)
    assert up.max() == 255 and up.min() == 0


@pytest.mark.parametrize("scale,size", [(1 / 4, None), (1 / 3, None), (0.6, None), (2, None), (1.5, None),
                                        ((0.5, 0.25), None), (None, (5, 9))])
def test_torch_matches_numpy(scale, size):
    rng = np.random.default_rng(0)
    img = rng.random((2, 3, 23, 36))  # (t, c, h, w); 23 is not divisible by 2, 3 or 4
    ref = np.stack([imresize(f.transpose(1, 2, 0), scale, size).transpose(2, 0, 1) for f in img])
    out64 = imresize(torch.from_numpy(img), scale, size)
    out32 = imresize(torch.from_numpy(img).float(), scale, size)
    assert out64.shape == ref.shape and out32.dtype == torch.float32
    np.testing.assert_allclose(out64.numpy(), ref, atol=1e-12)
    np.testing.assert_allclose(out32.numpy(), ref, atol=2e-6)


def test_integer_factor_route_matches_exact_route():
    rng = np.random.default_rng(1)
    img = rng.random((48, 60, 3))
    for s in (1 / 2, 1 / 4, 3):
        ref = imresize(img, s)
        out = imresize(torch.from_numpy(img).permute(2, 0, 1), s).permute(1, 2, 0).numpy()
        np.testing.assert_allclose(out, ref, atol=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="exactly one"):
        imresize(np.zeros((4, 4)), 0.5, (2, 2))
    with pytest.raises(TypeError):
        imresize([[1, 2], [3, 4]], 0.5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    x = torch.rand(2, 3, 64, 80, dtype=torch.float64)
    for s in (1 / 4, 0.6, 2):
        torch.testing.assert_close(imresize(x.cuda(), s).cpu(), imresize(x, s), atol=1e-12, rtol=0)
