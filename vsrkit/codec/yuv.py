"""RGB <-> YUV 4:2:0 (BT.601, limited range) in numpy, with chroma averaged over each 2x2 block.

``cv2.COLOR_RGB2YUV_I420`` point-samples chroma from the top-left pixel of each 2x2 block; averaging is what FFmpeg's
swscale does and what codec papers assume, so every encoder in :mod:`vsrkit.codec` goes through :func:`rgb_to_yuv420p`.
Decoding back to RGB uses swscale's BT.601 limited-range matrix (PyAV ``to_ndarray(format='rgb24')``), the inverse of
the matrix below.
"""
from __future__ import annotations

import numpy as np

from vsrkit.color import BT601_MATRIX_255, BT601_OFFSET_F32, rgb_to_y_bt601
from vsrkit.errors import DataError


def check_rgb_frame(frame, name: str = "frame", even: bool = True) -> np.ndarray:
    """Return ``frame`` as a C-contiguous ``(h, w, 3)`` uint8 array or raise DataError naming ``name``.

    4:2:0 needs even sizes; with ``even=True`` odd sizes are rejected (crop the frames to even sizes first).
    """
    arr = np.asarray(frame)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise DataError(f"{name}: expected an (h, w, 3) uint8 RGB frame, got shape {arr.shape} dtype {arr.dtype}; "
                        f"convert frames to uint8 RGB first")
    if even and (arr.shape[0] % 2 or arr.shape[1] % 2):
        raise DataError(f"{name}: frame size {arr.shape[1]}x{arr.shape[0]} is odd, YUV 4:2:0 needs even width and "
                        f"height; crop the frames to even sizes first")
    return np.ascontiguousarray(arr)


def rgb_to_yuv420p(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Convert one RGB frame to planar YUV 4:2:0.

    Args:
        rgb: ``(h, w, 3)`` uint8 RGB, h and w even.
    Returns:
        ``(y, u, v)`` uint8 planes of shapes ``(h, w)``, ``(h/2, w/2)``, ``(h/2, w/2)``; chroma is the mean of the
        2x2 block (computed from the mean RGB of the block, which is the same by linearity), rounded.
    """
    rgb = check_rgb_frame(rgb)
    h, w = rgb.shape[:2]
    x = rgb.astype(np.float32)
    mean = x.reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
    u = mean @ BT601_MATRIX_255[1] + BT601_OFFSET_F32[1]
    v = mean @ BT601_MATRIX_255[2] + BT601_OFFSET_F32[2]
    to8 = lambda p: np.clip(np.rint(p), 0, 255).astype(np.uint8)  # noqa: E731
    return rgb_to_y_bt601(x, "matrix"), to8(u), to8(v)


def yuv420p_to_i420(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Stack planes into the ``(h*3/2, w)`` layout that ``av.VideoFrame.from_ndarray(..., format='yuv420p')`` takes."""
    h, w = y.shape
    return np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(h * 3 // 2, w)


def write_yuv420p(path, frames) -> tuple[int, int, int]:
    """Write RGB frames as raw planar 8-bit YUV 4:2:0 (``I420``) to an open binary file or path.

    Returns ``(num_frames, width, height)``.
    """
    n, size = 0, None
    own = isinstance(path, (str, bytes)) or hasattr(path, "__fspath__")
    fh = open(path, "wb") if own else path
    try:
        for frame in frames:
            y, u, v = rgb_to_yuv420p(frame)
            if size is None:
                size = y.shape
            elif y.shape != size:
                raise DataError(f"frame {n} has size {y.shape[1]}x{y.shape[0]}, expected {size[1]}x{size[0]}; "
                                f"all frames of a clip must have the same size")
            fh.write(y.tobytes()); fh.write(u.tobytes()); fh.write(v.tobytes())  # noqa: E702
            n += 1
    finally:
        if own:
            fh.close()
    if size is None:
        raise DataError("no frames to write; a clip needs at least one frame")
    return n, size[1], size[0]
