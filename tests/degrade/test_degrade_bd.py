"""BD blur-downsampling: both conventions on a ramp with outputs derived by hand, and against independent
implementations (OpenCV filtering for MATLAB, BasicSR's pad + strided conv for DUF)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vsrkit.degrade import bd_duf, bd_matlab

H, W = 64, 48
A, C, B = 1.0, 0.25, 10.0  # ramp value at (row i, col j) = A*i + C*j + B


def _ramp() -> np.ndarray:
    i, j = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64), indexing="ij")
    return A * i + C * j + B


def _gauss(size: int, sigma: float) -> np.ndarray:
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-x**2 / (2 * sigma**2))
    return g / g.sum()


def test_bd_matlab_ramp_inside_sits_at_4j_plus_1_5():
    out = bd_matlab(_ramp())
    assert out.shape == (H // 4, W // 4)
    # A symmetric normalised kernel returns a linear function's value at its centre: MATLAB's x(2:4:end-2) picks
    # 1-based row 4j+2 (0-based 4j+1), and the even 12-tap kernel centres half a pixel after it: 4j+1.5.
    rows, cols = np.arange(1, 15), np.arange(1, 11)  # outputs whose taps stay inside the image
    expected = A * (4 * rows[:, None] + 1.5) + C * (4 * cols[None, :] + 1.5) + B
    np.testing.assert_allclose(out[1:15, 1:11], expected, atol=1e-12)


def test_bd_matlab_ramp_border_replicates():
    out = bd_matlab(_ramp())
    g = _gauss(12, 1.6)  # fspecial('gaussian', 12, 1.6): taps at -5.5..5.5
    # Output row 0 reads rows 1-5 .. 1+6 = -4..7 with replicate padding: negative rows read row 0.
    row0 = sum(g[k] * max(0, k - 4) for k in range(12))
    col_centre = 4 * 5 + 1.5  # an inside column
    assert out[0, 5] == pytest.approx(A * row0 + C * col_centre + B, abs=1e-12)
    # Last output row 15 reads rows 61-5 .. 61+6 = 56..67, rows above 63 read row 63.
    row15 = sum(g[k] * min(63, 56 + k) for k in range(12))
    assert out[15, 5] == pytest.approx(A * row15 + C * col_centre + B, abs=1e-12)


def test_bd_duf_ramp_inside_sits_at_4j():
    out = bd_duf(_ramp())
    assert out.shape == (H // 4, W // 4)
    rows, cols = np.arange(2, 15), np.arange(2, 11)  # taps 4j-6 .. 4j+6 inside
    expected = A * 4 * rows[:, None] + C * 4 * cols[None, :] + B
    np.testing.assert_allclose(out[2:15, 2:11], expected, atol=1e-12)


def test_bd_duf_ramp_border_reflects():
    out = bd_duf(_ramp())
    g = _gauss(13, 1.6)  # 13 taps at -6..6, sigma 0.4 * 4
    # Output row 0 is centred on row 0: reflect padding (edge not repeated) reads row |q| for q = -6..6.
    row0 = sum(g[k] * abs(k - 6) for k in range(13))
    # Output row 15 is centred on row 60: rows 64, 65, 66 reflect to 62, 61, 60.
    row15 = sum(g[k] * (60 + k - 6 if 60 + k - 6 <= 63 else 126 - (60 + k - 6)) for k in range(13))
    assert out[0, 5] == pytest.approx(A * row0 + C * 20 + B, abs=1e-12)
    assert out[15, 5] == pytest.approx(A * row15 + C * 20 + B, abs=1e-12)


def test_the_two_conventions_differ():
    ramp = _ramp()
    # On a ramp the sampling grids differ by exactly 1.5 HR pixels in each direction.
    diff = bd_matlab(ramp)[2:14, 2:10] - bd_duf(ramp)[2:14, 2:10]
    np.testing.assert_allclose(diff, 1.5 * A + 1.5 * C, atol=1e-12)
    rng = np.random.default_rng(0)
    img = rng.random((64, 64, 3))
    mse = np.mean((bd_matlab(img) - bd_duf(img)) ** 2)
    assert mse > 1e-3


def test_bd_matlab_equals_opencv_filter():
    import cv2

    rng = np.random.default_rng(1)
    img = rng.random((40, 52, 3))
    g = _gauss(12, 1.6)
    ref = cv2.sepFilter2D(img, -1, g, g, anchor=(5, 5), borderType=cv2.BORDER_REPLICATE)[1::4, 1::4]
    np.testing.assert_allclose(bd_matlab(img), ref, atol=1e-12)


def test_bd_duf_equals_basicsr_pad_and_strided_conv():
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.random((2, 3, 32, 40)))  # (t, c, h, w)
    k = torch.from_numpy(np.outer(_gauss(13, 1.6), _gauss(13, 1.6)))[None, None]
    pad = 13 // 2 + 2 * 4
    flat = F.pad(x.reshape(-1, 1, 32, 40), (pad, pad, pad, pad), mode="reflect")
    ref = F.conv2d(flat, k, stride=4)[:, :, 2:-2, 2:-2].reshape(2, 3, 8, 10)
    torch.testing.assert_close(bd_duf(x), ref, atol=1e-12, rtol=0)


def test_numpy_torch_and_uint8_agree():
    rng = np.random.default_rng(3)
    img = (rng.random((32, 36, 3)) * 255).astype(np.uint8)
    for fn in (bd_matlab, bd_duf):
        ref = fn(img.astype(np.float64))
        out8 = fn(img)
        assert out8.dtype == np.uint8
        np.testing.assert_array_equal(out8, np.floor(ref + 0.5).astype(np.uint8))
        t = torch.from_numpy(img.astype(np.float32) / 255).permute(2, 0, 1)[None]
        np.testing.assert_allclose(fn(t)[0].permute(1, 2, 0).numpy() * 255, ref, atol=1e-3)


def test_other_scales_and_sigma():
    out = bd_matlab(_ramp(), scale=2, sigma=1.0)  # ceil(3)*2+2 = 8 taps, samples x(1:2:end-1)
    assert out.shape == (32, 24)
    assert out[10, 10] == pytest.approx(A * (2 * 10 + 0.5) + C * (2 * 10 + 0.5) + B, abs=1e-12)
    assert bd_duf(_ramp(), scale=2).shape == (32, 24)
    assert math.isclose(bd_duf(_ramp(), scale=3)[5, 5], A * 15 + C * 15 + B, abs_tol=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="even scale"):
        bd_matlab(np.zeros((30, 30)), scale=3)
    with pytest.raises(ValueError, match="larger"):
        bd_duf(np.zeros((12, 12)), scale=4)
    with pytest.raises(TypeError):
        bd_duf(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
