"""PSNR/SSIM against scikit-image and hand computations; Y definitions; crop_border; tensor -> uint8."""
import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from vsrkit.metrics import calculate_psnr, calculate_ssim, tensor_to_uint8, to_y
from vsrkit.registry import METRICS


def _pair(seed=0, h=40, w=48):
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    noisy = np.clip(gt.astype(np.int16) + rng.integers(-20, 21, gt.shape), 0, 255).astype(np.uint8)
    return noisy, gt


def test_registered():
    assert METRICS.get("psnr") is calculate_psnr and METRICS.get("ssim") is calculate_ssim


def test_psnr_rgb_matches_skimage_and_formula():
    out, gt = _pair()
    ours = calculate_psnr(out, gt)
    mse = np.mean((out.astype(np.float64) - gt) ** 2)
    assert ours == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-12)
    assert ours == pytest.approx(peak_signal_noise_ratio(gt, out, data_range=255), abs=1e-10)
    assert calculate_psnr(gt, gt) == math.inf


def test_ssim_matches_skimage_gaussian():
    out, gt = _pair(1)
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    ref_rgb = structural_similarity(gt, out, channel_axis=2, **kw)
    # Same window (11 taps), same constants, same 'valid' region: equal up to float summation order.
    assert calculate_ssim(out, gt) == pytest.approx(ref_rgb, abs=1e-10)
    y_out, y_gt = to_y(out, "y_bt601"), to_y(gt, "y_bt601")
    assert calculate_ssim(out, gt, y_mode="y_bt601") == pytest.approx(structural_similarity(y_gt, y_out, **kw),
                                                                       abs=1e-10)
    assert calculate_ssim(gt, gt) == pytest.approx(1.0, abs=1e-12)
    assert 0 < calculate_ssim(out, gt) < 1


def test_bt601_y_by_hand():
    img = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 200, 30]]], np.uint8)
    y = to_y(img, "y_bt601")[0]
    expected = [65.481 + 16, 128.553 + 16, 24.966 + 16, (65.481 * 10 + 128.553 * 200 + 24.966 * 30) / 255 + 16]
    np.testing.assert_allclose(y, expected, atol=1e-4)  # float32 as BasicSR, not rounded
    assert not np.allclose(y, np.round(y))
    black_white = np.array([[[0, 0, 0], [255, 255, 255]]], np.uint8)
    np.testing.assert_allclose(to_y(black_white, "y_bt601")[0], [16.0, 235.0], atol=1e-4)


def test_y_full_is_opencv_full_range_and_differs_from_bt601():
    img = np.array([[[10, 200, 30], [255, 255, 255]]], np.uint8)
    y = to_y(img, "y_full")[0]
    assert y[0] == round(0.299 * 10 + 0.587 * 200 + 0.114 * 30) and y[1] == 255
    out, gt = _pair(2)
    assert calculate_psnr(out, gt, y_mode="y_full") != pytest.approx(calculate_psnr(out, gt, y_mode="y_bt601"))


def test_psnr_y_bt601_by_hand():
    out, gt = _pair(3)
    w = np.array([65.481, 128.553, 24.966])
    ya = out.astype(np.float64) / 255 @ w + 16
    yb = gt.astype(np.float64) / 255 @ w + 16
    ref = 10 * math.log10(255**2 / np.mean((ya - yb) ** 2))
    assert calculate_psnr(out, gt, y_mode="y_bt601") == pytest.approx(ref, abs=1e-4)


def test_yuv_mode_takes_a_plane():
    out, gt = _pair(4)
    a, b = out[..., 0], gt[..., 0]
    assert calculate_psnr(a, b, y_mode="yuv") == pytest.approx(peak_signal_noise_ratio(b, a, data_range=255))
    assert calculate_psnr(a[..., None], b[..., None], y_mode="yuv") == calculate_psnr(a, b, y_mode="yuv")
    with pytest.raises(ValueError, match="Y plane"):
        calculate_psnr(out, gt, y_mode="yuv")
    with pytest.raises(ValueError, match="y_mode"):
        calculate_psnr(out, gt, y_mode="ycbcr")


def test_crop_border():
    out, gt = _pair(5)
    bad = out.copy()
    bad[:4] = 255 - bad[:4]  # damage only the top 4 rows
    assert calculate_psnr(bad, gt, crop_border=4) == pytest.approx(calculate_psnr(out[4:-4, 4:-4], gt[4:-4, 4:-4]))
    assert calculate_psnr(bad, gt, crop_border=4) > calculate_psnr(bad, gt) + 3
    assert calculate_ssim(bad, gt, crop_border=4) == pytest.approx(calculate_ssim(out[4:-4, 4:-4], gt[4:-4, 4:-4]))
    with pytest.raises(ValueError):
        calculate_psnr(out, gt, crop_border=30)
    with pytest.raises(ValueError, match="shape"):
        calculate_psnr(out, gt[:-1])


def test_tensor_to_uint8_round_and_truncate():
    t = torch.tensor([0.0, 0.5 / 255, 1.5 / 255, 2.6 / 255, 1.2, -0.1]).view(1, 1, 6)  # (c=1, h=1, w=6)
    x = torch.stack([t, t, t], dim=1)[0]  # (3, 1, 6)
    r = tensor_to_uint8(x, "round")
    tr = tensor_to_uint8(x, "truncate")
    assert r.shape == (1, 6, 3) and r.dtype == np.uint8
    np.testing.assert_array_equal(r[0, :, 0], [0, 0, 2, 3, 255, 0])  # half to even, clamped
    np.testing.assert_array_equal(tr[0, :, 0], [0, 0, 1, 2, 255, 0])
    clip = torch.rand(5, 3, 8, 10)
    assert tensor_to_uint8(clip).shape == (5, 8, 10, 3)
    with pytest.raises(ValueError):
        tensor_to_uint8(clip, "floor")
