"""Block motion estimated on decoded frames: the route for codecs whose motion vectors FFmpeg does not export (HEVC).

Full-search block matching on the luma plane: for every ``block x block`` block of frame t and every integer
displacement within ``+-search`` pixels, the sum of absolute differences against frame t-1 (backward) or t+1
(forward); the best displacement is refined to sub-pixel precision by an equiangular (V-shaped) fit through the
costs of its neighbours in x and in y (clamped to +-0.5 px). Ties prefer the smaller displacement. The result uses the same
conventions as :func:`vsrkit.codec.read_motion` (unit temporal distance by construction, since every search is
between neighbouring frames). It is not the encoder's motion: it is what a codec-MV model can use when the codec's
own vectors are not available. Cost: ``(2*search+1)^2`` frame-sized SAD passes per frame and direction.
"""
from __future__ import annotations

import numpy as np

from vsrkit.codec.motion import MotionClip
from vsrkit.errors import ConfigError, DataError


def _luma_full_range(frames: np.ndarray) -> np.ndarray:
    """Full-range luma 0.299 R + 0.587 G + 0.114 B (float32, 0..255) of ``(t, h, w, 3)`` uint8 RGB, for block
    matching only; not the studio-range Y of :mod:`vsrkit.color`."""
    return frames[..., 0] * np.float32(0.299) + frames[..., 1] * np.float32(0.587) + \
        frames[..., 2] * np.float32(0.114)


def _match(cur: np.ndarray, ref: np.ndarray, block: int, search: int) -> tuple[np.ndarray, np.ndarray]:
    """Displacement ``(2, hb, wb)`` per block of ``cur`` into ``ref`` (pixels), and the per-block best SAD."""
    import cv2

    h, w = cur.shape
    hb, wb = -(-h // block), -(-w // block)
    pad_h, pad_w = hb * block - h, wb * block - w
    cur_p = np.pad(cur, ((0, pad_h), (0, pad_w)), mode="edge")
    ref_p = cv2.copyMakeBorder(ref, search, search + pad_h, search, search + pad_w, cv2.BORDER_REPLICATE)
    offsets = np.arange(-search, search + 1)
    cost = np.empty((len(offsets), len(offsets), hb, wb), np.float32)
    for iy, dy in enumerate(offsets):
        for ix, dx in enumerate(offsets):
            shifted = ref_p[search + dy:search + dy + hb * block, search + dx:search + dx + wb * block]
            diff = cv2.absdiff(cur_p, shifted)
            cost[iy, ix] = cv2.resize(diff, (wb, hb), interpolation=cv2.INTER_AREA)  # block mean
    # prefer small displacements on ties (flat areas)
    bias = 1e-4 * (np.abs(offsets)[:, None] + np.abs(offsets)[None, :])
    flat = (cost + bias[:, :, None, None].astype(np.float32)).reshape(-1, hb, wb)
    best = flat.argmin(axis=0)
    iy, ix = np.divmod(best, len(offsets))
    mv = np.stack([offsets[ix], offsets[iy]]).astype(np.float32)
    rows, cols = np.mgrid[0:hb, 0:wb]
    for axis, idx in ((0, ix), (1, iy)):
        lo, hi = np.maximum(idx - 1, 0), np.minimum(idx + 1, len(offsets) - 1)
        if axis == 0:
            c0, cm, cp = cost[iy, ix, rows, cols], cost[iy, lo, rows, cols], cost[iy, hi, rows, cols]
        else:
            c0, cm, cp = cost[iy, ix, rows, cols], cost[lo, ix, rows, cols], cost[hi, ix, rows, cols]
        denom = np.maximum(cm, cp) - c0  # equiangular (V-shaped) fit: SAD grows linearly around its minimum
        inside = (idx > 0) & (idx < len(offsets) - 1) & (denom > 1e-6)
        sub = np.where(inside, (cm - cp) / (2 * np.where(inside, denom, 1)), 0)
        mv[axis] += np.clip(sub, -0.5, 0.5)
    return mv, cost.reshape(-1, hb, wb).min(axis=0)


def estimate_block_motion(frames, block: int = 8, search: int = 8, frame_types=None) -> MotionClip:
    """Backward and forward block motion of decoded frames.

    Args:
        frames: ``(t, h, w, 3)`` uint8 RGB (e.g. ``vsrkit.codec.decode_video(path).frames``).
        block: block size in pixels (8 ~ HEVC's smallest inter prediction unit; 16 = H.264 macroblocks).
        search: search range in pixels per frame (+-).
        frame_types: optional ``(t,)`` picture types to carry along (default 0 = unknown).
    Returns:
        :class:`MotionClip` with ``mv_bwd``/``mv_fwd`` ``(t, 2, h, w)`` float32 (every pixel of a block gets the
        block's vector), ``valid_bwd`` False only on frame 0, ``valid_fwd`` False only on the last frame, ``qp=None``.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise DataError(f"estimate_block_motion: expected (t, h, w, 3) uint8 RGB frames, got {frames.shape} "
                        f"{frames.dtype}")
    if block < 2 or search < 1:
        raise ConfigError(f"estimate_block_motion: need block >= 2 and search >= 1 (got {block}, {search})")
    t, h, w = frames.shape[:3]
    luma = _luma_full_range(frames)
    mv_bwd = np.zeros((t, 2, h, w), np.float32)
    mv_fwd = np.zeros((t, 2, h, w), np.float32)
    for i in range(t):
        for out, j in ((mv_bwd, i - 1), (mv_fwd, i + 1)):
            if 0 <= j < t:
                mv, _ = _match(luma[i], luma[j], block, search)
                out[i] = mv.repeat(block, axis=1).repeat(block, axis=2)[:, :h, :w]
    valid_bwd = np.ones((t, h, w), bool)
    valid_bwd[0] = False
    valid_fwd = np.ones((t, h, w), bool)
    valid_fwd[-1] = False
    types = np.zeros(t, np.uint8) if frame_types is None else np.asarray(frame_types, np.uint8)
    return MotionClip(frames=frames, mv_bwd=mv_bwd, mv_fwd=mv_fwd, frame_types=types, qp=None,
                      valid_bwd=valid_bwd, valid_fwd=valid_fwd)
