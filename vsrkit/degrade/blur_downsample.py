"""BD degradation (Gaussian blur, then subsampling) in its two incompatible published conventions.

==============  ===============================================  ===========================================
name            ``bd_matlab``                                    ``bd_duf``
==============  ===============================================  ===========================================
used by         MATLAB BD script (BasicVSR, MMEditing, PTIA)      BasicSR ``duf_downsample`` (DUF, EDVR, TDAN)
kernel          ``fspecial('gaussian', 12, 1.6)`` at x4:          13x13 Gaussian, sigma ``0.4 * scale``
                ``ceil(3 sigma) * 2 + 2`` taps, even-sized
borders         ``imfilter(..., 'replicate')`` (edge repeated)    ``reflect`` (mirror without the edge)
sampling        ``x(s/2 : s : end - s/2)`` (1-based): output j    output j sits on HR pixel ``s * j``
                sits on HR position ``s * j + s/2 - 0.5``
==============  ===============================================  ===========================================

They differ by ~27 dB PSNR on the same image (a 1.5-pixel shift at x4), so a dataset must record which one built
it. Both are separable; both take numpy ``(h, w)`` / ``(h, w, c)`` images (uint8 -> uint8 rounded half away from
zero as MATLAB does, float -> float) or float torch tensors ``(..., c, h, w)`` on any device.
"""
from __future__ import annotations

import math

import numpy as np


def gaussian_taps(size: int, sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian of ``size`` taps centred between/at the middle (``fspecial`` / scipy convention).

    Tap ``k`` sits at ``k - (size - 1) / 2``; the 2-D kernels of both conventions are ``outer(g, g)``.
    """
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum()


def _matlab_kernel_size(sigma: float) -> int:
    return int(math.ceil(sigma * 3)) * 2 + 2


def _replicate(q: np.ndarray, n: int) -> np.ndarray:
    return np.clip(q, 0, n - 1)


def _reflect(q: np.ndarray, n: int) -> np.ndarray:
    period = 2 * (n - 1)
    q = np.mod(q, period) if n > 1 else np.zeros_like(q)
    return np.where(q > n - 1, period - q, q)


def bd_matlab_taps(n: int, scale: int, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis taps of ``bd_matlab``: ``(weights (n_out, k), indices (n_out, k))``.

    ``imfilter`` correlates with its anchor at tap ``floor((k + 1) / 2)`` (1-based), i.e. offsets
    ``-(k/2 - 1) .. k/2`` for an even ``k``; outputs are HR rows ``s/2 - 1 + s * j`` (0-based).
    """
    if scale % 2:
        raise ValueError(f"bd_matlab: the MATLAB script samples x(s/2:s:end-s/2), which needs an even scale, "
                         f"got {scale}")
    size = _matlab_kernel_size(sigma)
    g = gaussian_taps(size, sigma)
    anchor = (size + 1) // 2 - 1
    centres = np.arange(scale // 2 - 1, n - scale // 2, scale)
    idx = _replicate(centres[:, None] + np.arange(size)[None, :] - anchor, n)
    return np.broadcast_to(g, idx.shape), idx


def bd_duf_taps(n: int, scale: int, sigma: float, kernel_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis taps of ``bd_duf``: ``(weights (n_out, k), indices (n_out, k))``.

    BasicSR pads by ``k // 2 + 2 * s`` (reflect), convolves with stride ``s`` and crops 2 outputs per side, so
    output ``j`` is centred on HR pixel ``s * j``.
    """
    pad = kernel_size // 2 + 2 * scale
    if pad >= n:
        raise ValueError(f"bd_duf: reflect padding of {pad} px needs an image larger than {pad} px, got {n}")
    n_out = (n + 2 * pad - kernel_size) // scale + 1 - 4
    g = gaussian_taps(kernel_size, sigma)
    centres = scale * np.arange(n_out)
    idx = _reflect(centres[:, None] + np.arange(kernel_size)[None, :] - kernel_size // 2, n)
    return np.broadcast_to(g, idx.shape), idx


def _apply_np(img: np.ndarray, taps_h, taps_w) -> np.ndarray:
    """``out[i, j] = sum_a sum_b wh[i, a] ww[j, b] img[ih[i, a], iw[j, b]]`` in float64, rows first."""
    is_int = np.issubdtype(img.dtype, np.integer)
    x = img.astype(np.float64)
    for axis, (w, idx) in ((0, taps_h), (1, taps_w)):
        x = np.moveaxis(x, axis, 0)
        shape = (w.shape[0],) + (1,) * (x.ndim - 1)
        out = x[idx[:, 0]] * w[:, 0].reshape(shape)
        for k in range(1, w.shape[1]):
            out += x[idx[:, k]] * w[:, k].reshape(shape)
        x = np.moveaxis(out, 0, axis)
    if is_int:
        info = np.iinfo(img.dtype)
        return np.clip(np.floor(x + 0.5), info.min, info.max).astype(img.dtype)
    return x.astype(img.dtype)


def _apply_torch(img, taps_h, taps_w):
    """Same as :func:`_apply_np` for a float tensor ``(..., h, w)`` on its device and in its dtype."""
    import torch

    if not img.is_floating_point():
        raise TypeError(f"BD: torch input must be a float tensor in [0, 1], got {img.dtype}")
    x = img
    for dim, (w, idx) in ((-2, taps_h), (-1, taps_w)):
        w_t = torch.from_numpy(np.ascontiguousarray(w)).to(device=x.device, dtype=x.dtype)
        idx_t = torch.from_numpy(np.ascontiguousarray(idx)).to(x.device)
        view = [1] * x.ndim
        view[dim] = w.shape[0]
        out = x.index_select(dim, idx_t[:, 0]) * w_t[:, 0].view(view)
        for k in range(1, w.shape[1]):
            out = out + x.index_select(dim, idx_t[:, k]) * w_t[:, k].view(view)
        x = out
    return x


def _dispatch(img, taps_of):
    if isinstance(img, np.ndarray):
        if img.ndim not in (2, 3):
            raise ValueError(f"BD: numpy input must be (h, w) or (h, w, c), got shape {img.shape}")
        h, w = img.shape[:2]
        return _apply_np(img, taps_of(h), taps_of(w))
    if type(img).__module__.startswith("torch"):
        h, w = img.shape[-2:]
        return _apply_torch(img, taps_of(h), taps_of(w))
    raise TypeError(f"BD: expected a numpy array or torch tensor, got {type(img).__name__}")


def bd_matlab(img, scale: int = 4, sigma: float = 1.6):
    """MATLAB BD: ``imfilter(img, fspecial('gaussian', ceil(3*sigma)*2+2, sigma), 'replicate')`` then
    ``x(s/2:s:end-s/2, s/2:s:end-s/2)``. Output ``(h // s, w // s)`` spatially for sizes divisible by ``s``.

    Args:
        img: numpy ``(h, w[, c])`` (uint8 or float) or float tensor ``(..., c, h, w)``.
        scale: even downscale factor (4 in all published uses).
        sigma: Gaussian sigma in HR pixels (1.6; the kernel is 12 taps at 1.6).
    """
    return _dispatch(img, lambda n: bd_matlab_taps(n, int(scale), float(sigma)))


def bd_duf(img, scale: int = 4, sigma: float | None = None, kernel_size: int = 13):
    """BasicSR ``duf_downsample``: ``kernel_size`` x ``kernel_size`` Gaussian (sigma ``0.4 * scale`` by default),
    reflect padding, output ``j`` centred on HR pixel ``scale * j``. Output ``(h // s, w // s)`` for sizes divisible
    by ``s``; the image must be larger than ``kernel_size // 2 + 2 * scale`` pixels.
    """
    sigma = 0.4 * scale if sigma is None else float(sigma)
    return _dispatch(img, lambda n: bd_duf_taps(n, int(scale), sigma, int(kernel_size)))
