"""Synthetic clips with known motion, and writers for the on-disk layouts (tests and benchmarks make data with it).

``translating_clip`` moves a textured image by a constant integer velocity, so its exact motion is known:
frame t is ``texture(x + t*vx, y + t*vy)``, hence the backward field of every frame is ``(vx, vy)`` (pixel (x, y) of
frame t equals pixel (x + vx, y + vy) of frame t-1) and the forward field is ``(-vx, -vy)``.
"""
from __future__ import annotations

import os

import cv2
import numpy as np

from vsrkit.data.storage import write_png


def texture(height: int, width: int, seed: int = 0, smooth: float = 1.5) -> np.ndarray:
    """``(h, w, 3)`` uint8 RGB texture: lightly blurred noise over colour gradients (compresses like real frames)."""
    rng = np.random.default_rng(seed)
    noise = rng.random((height, width, 3)).astype(np.float32)
    if smooth > 0:
        noise = cv2.GaussianBlur(noise, (0, 0), smooth)
        noise = (noise - noise.min()) / max(float(noise.max() - noise.min()), 1e-6)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    grad = np.stack([xx / max(width - 1, 1), yy / max(height - 1, 1), 0.5 + 0 * xx], axis=-1)
    return np.clip((0.6 * noise + 0.4 * grad) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def translating_clip(num_frames: int, height: int, width: int, velocity: tuple[int, int] = (1, 2),
                     seed: int = 0, smooth: float = 1.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames ``(t, h, w, 3)`` uint8 moving by integer ``velocity = (vx, vy)`` px/frame, with the exact
    backward ``(t, 2, h, w)`` float32 field ``(vx, vy)`` and forward field ``(-vx, -vy)``."""
    vx, vy = int(velocity[0]), int(velocity[1])
    pad_x, pad_y = abs(vx) * num_frames, abs(vy) * num_frames
    tex = texture(height + 2 * pad_y, width + 2 * pad_x, seed=seed, smooth=smooth)
    frames = np.stack([tex[pad_y + t * vy: pad_y + t * vy + height, pad_x + t * vx: pad_x + t * vx + width]
                       for t in range(num_frames)])
    mv_bwd = np.empty((num_frames, 2, height, width), np.float32)
    mv_bwd[:, 0], mv_bwd[:, 1] = vx, vy
    return frames, mv_bwd, -mv_bwd


def downscale(frames: np.ndarray, scale: int) -> np.ndarray:
    """Area downscale of ``(t, h, w, c)`` uint8 frames by an integer factor (a test/benchmark stand-in for BI)."""
    if scale == 1:
        return frames.copy()
    h, w = frames.shape[1] // scale, frames.shape[2] // scale
    return np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])


def write_clip(folder: str, frames: np.ndarray, names: list[str] | None = None, compression: int = 1) -> list[str]:
    """Write frames as ``00000000.png...`` (or ``names``) into ``folder``; returns the paths."""
    os.makedirs(folder, exist_ok=True)
    names = names or [f"{i:08d}.png" for i in range(len(frames))]
    paths = [os.path.join(folder, n) for n in names]
    for path, frame in zip(paths, frames):
        write_png(path, frame, compression)
    return paths


def write_motion_npz(path: str, mv_bwd: np.ndarray, mv_fwd: np.ndarray, frame_types: np.ndarray | None = None,
                     qp: np.ndarray | None = None) -> None:
    """A motion file through the codec area's ``save_motion`` (frame types default to I then P)."""
    from vsrkit.codec import MotionClip, save_motion

    t = mv_bwd.shape[0]
    types = np.asarray(frame_types, np.uint8) if frame_types is not None else np.array([1] + [2] * (t - 1), np.uint8)
    save_motion(path, MotionClip(None, mv_bwd, mv_fwd, types, None if qp is None else np.asarray(qp, np.uint8)))


def make_compressed_layout(root: str, clips: dict[str, int], lq_size: tuple[int, int] = (16, 16), scale: int = 4,
                           velocity: tuple[int, int] = (1, 2), with_motion: bool = True, with_qp: bool = False,
                           seed: int = 0) -> dict[str, dict]:
    """The compressed-video dataset layout ``<root>/{gt,lq}/<clip>/*.png`` + ``<root>/motion/<clip>.npz``.

    GT moves by ``velocity * scale`` HR px/frame; LQ is its area downscale, so the LQ motion is ``velocity``.
    (No real codec here: tests of the data pipeline need exact, known motion.) Returns per clip the arrays written.
    """
    out = {}
    h, w = lq_size
    vx, vy = velocity
    for k, (clip, n) in enumerate(sorted(clips.items())):
        gt, _, _ = translating_clip(n, h * scale, w * scale, (vx * scale, vy * scale), seed=seed + k)
        lq = downscale(gt, scale)
        write_clip(os.path.join(root, "gt", clip), gt)
        write_clip(os.path.join(root, "lq", clip), lq)
        rec = {"gt": gt, "lq": lq}
        if with_motion:
            mv_bwd = np.empty((n, 2, h, w), np.float32)
            mv_bwd[:, 0], mv_bwd[:, 1] = vx, vy
            qp = None
            if with_qp:
                qp = (22 + np.arange(n)[:, None, None] + np.zeros((1, -(-h // 16), -(-w // 16)))).astype(np.uint8)
            write_motion_npz(os.path.join(root, "motion", f"{clip}.npz"), mv_bwd, -mv_bwd, qp=qp)
            rec.update(mv_bwd=mv_bwd, mv_fwd=-mv_bwd, qp=qp)
        out[clip] = rec
    return out


def make_paired_clips(gt_root: str, lq_root: str, clips: dict[str, int], lq_size: tuple[int, int] = (16, 16),
                      scale: int = 4, names: list[str] | None = None, seed: int = 0) -> dict[str, dict]:
    """Paired HR/LR clip folders ``<gt_root>/<clip>/`` and ``<lq_root>/<clip>/`` (clip names may contain '/', as
    Vimeo's ``00001/0001``); frame files ``00000000.png...`` or ``names`` (e.g. ``im1.png..im7.png``)."""
    out = {}
    h, w = lq_size
    for k, (clip, n) in enumerate(sorted(clips.items())):
        gt, _, _ = translating_clip(n, h * scale, w * scale, (scale, 2 * scale), seed=seed + k)
        lq = downscale(gt, scale)
        write_clip(os.path.join(gt_root, clip), gt, names)
        write_clip(os.path.join(lq_root, clip), lq, names)
        out[clip] = {"gt": gt, "lq": lq}
    return out
