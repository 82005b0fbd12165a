"""H.264 motion vectors -> dense backward/forward motion fields at unit temporal distance.

Conventions (vsrkit-wide): fields are ``(t, 2, h, w)`` float32 in LR pixels, channel 0 = x.
``mv_bwd[t]`` says where each pixel of frame t comes from in frame t-1 (pixel (x, y) of frame t ~ (x+dx, y+dy) of
frame t-1); ``mv_fwd[t]`` the same for frame t+1. All per-frame arrays are in DISPLAY order (the decoder outputs
frames in display order; decoding order is only used to find references).

How codec vectors become these fields:

1. FFmpeg exports, per block, ``source`` (-1: predicted from a past picture, +1: from a future one), the block size
   ``w x h``, its CENTRE ``(dst_x, dst_y)`` and the vector ``motion/motion_scale`` in pixels (quarter-pel), with
   ``src = dst + motion/motion_scale``. The block covers ``[dst_x - w/2, dst_x + w/2)`` (the published MV-VSR code
   rasterised ``dst`` as the top-left corner, a half-block shift).
2. ``source`` does not say WHICH picture. With several references or B-frames (x264 defaults bf=3, ref=3; phone
   videos) a vector may span 2, 3, 4... frames. The candidates are the reference pictures the decoder holds at that
   time: the last ``max_num_ref_frames`` (SPS) pictures with ``nal_ref_idc > 0`` decoded before the current one,
   on the side given by ``source``. With one candidate it is taken; with several, each block is displaced by its
   (rounded) vector into every candidate and the one with the smallest sum of absolute luma differences wins (ties:
   the nearest). Vectorised over all 4x4 cells of a frame.
3. A vector spanning ``d`` frames is divided by ``d`` (assumes linear motion over those frames) so that every
   field is at unit temporal distance.
4. Blocks without a vector (intra blocks, all of an I-frame) are 0 and marked invalid in ``valid_bwd``/``valid_fwd``.

Blocks are rasterised on the 4x4 grid (H.264's smallest partition), then replicated to pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vsrkit.errors import DataError

MAX_REF_DISTANCE = 16


@dataclass
class MotionClip:
    """Decoded frames and codec motion of one clip (display order).

    Attributes:
        frames: ``(t, h, w, 3)`` uint8 RGB, or None (e.g. when loaded from an ``.npz``).
        mv_bwd: ``(t, 2, h, w)`` float32, motion to frame t-1 at unit temporal distance, LR pixels, channel 0 = x.
        mv_fwd: ``(t, 2, h, w)`` float32, motion to frame t+1 at unit temporal distance.
        frame_types: ``(t,)`` uint8, FFmpeg numbering I=1, P=2, B=3 (0 unknown).
        qp: ``(t, ceil(h/16), ceil(w/16))`` uint8 per-macroblock QP, or None.
        valid_bwd, valid_fwd: ``(t, h, w)`` bool, True where the codec gave a vector in that direction, or None.
    """
    frames: np.ndarray | None
    mv_bwd: np.ndarray
    mv_fwd: np.ndarray
    frame_types: np.ndarray
    qp: np.ndarray | None = None
    valid_bwd: np.ndarray | None = None
    valid_fwd: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.mv_bwd.shape[0])

    def without_frames(self) -> "MotionClip":
        return MotionClip(None, self.mv_bwd, self.mv_fwd, self.frame_types, self.qp, self.valid_bwd, self.valid_fwd)


def _no_motion_error(path, codec: str) -> DataError:
    if codec == "hevc":
        return DataError(
            f"{path}: is HEVC, and FFmpeg does not export HEVC motion vectors; either estimate block motion on the "
            f"decoded frames (vsrkit.codec.estimate_block_motion(vsrkit.codec.decode_video(path).frames)) or "
            f"encode the clip as H.264 (degradation/compress.py --codec h264)")
    return DataError(f"{path}: codec '{codec}' has no motion-vector export in vsrkit (H.264 only); re-encode the "
                     f"clip as H.264 (degradation/compress.py --codec h264) or use "
                     f"vsrkit.codec.estimate_block_motion on its decoded frames")


def read_motion(path, *, frames: bool = True, qp: bool = True, threads: int = 0) -> MotionClip:
    """Decode an H.264 video into frames, dense motion fields, picture types and QP maps.

    Args:
        path: an H.264 video file (mp4, mkv, ...).
        frames: also return the decoded RGB frames (set False when only motion is needed: faster).
        qp: also return per-macroblock QP maps.
        threads: decoder threads (0 = FFmpeg's choice, 1 = one core).
    Returns:
        :class:`MotionClip` (see the module docstring for conventions).
    Raises:
        DataError: missing/corrupt file, or a codec other than H.264 (the message names the alternative).
    """
    from vsrkit.codec.decode import decode_video, probe_codec

    codec = probe_codec(path)
    if codec != "h264":
        raise _no_motion_error(path, codec)
    video = decode_video(path, frames=frames, luma=True, qp=qp, mvs=True, refs=True, threads=threads)
    t, h, w = video.luma.shape
    mv = np.zeros((2, t, 2, h, w), np.float32)  # direction (0 = bwd, 1 = fwd), frame, xy, y, x
    valid = np.zeros((2, t, h, w), bool)
    raster = _Rasteriser(h, w)
    search = _ReferenceSearch(video)
    for i in range(t):
        vectors = video.raw_mvs[i]
        if vectors is None or len(vectors) == 0:
            continue
        cells = _block_cells(vectors)
        distance = search.distances(i, vectors, cells)
        raster.fill(vectors, distance, cells, mv[:, i], valid[:, i])
    return MotionClip(frames=video.frames, mv_bwd=mv[0], mv_fwd=mv[1], frame_types=video.frame_types,
                      qp=video.qp, valid_bwd=valid[0], valid_fwd=valid[1])


def reference_candidates(i: int, direction: int, decode_index, is_reference, max_refs) -> list[int]:
    """Display indices of the pictures frame ``i`` may predict from on side ``direction`` (-1 past, +1 future),
    nearest first: the last ``max_refs`` reference pictures decoded before frame ``i``.

    Without reference information (raw streams) every frame within :data:`MAX_REF_DISTANCE` on that side is a
    candidate.
    """
    t = len(decode_index)
    if is_reference is None:
        lo, hi = (max(0, i - MAX_REF_DISTANCE), i) if direction < 0 else (i + 1, min(t, i + 1 + MAX_REF_DISTANCE))
        cands = list(range(lo, hi))
    else:
        before = np.flatnonzero(is_reference & (decode_index < decode_index[i]))
        before = before[np.argsort(decode_index[before])]
        if max_refs:
            before = before[-max_refs:]
        cands = [int(u) for u in before if (u - i) * direction > 0 and abs(u - i) <= MAX_REF_DISTANCE]
    return sorted(cands, key=lambda u: abs(u - i))


def _block_cells(vectors: np.ndarray):
    """Expand blocks to the 4x4 cells they cover: ``(block_id, cell_y, cell_x)`` (cell units)."""
    bw4 = (vectors["w"].astype(np.int64) + 3) >> 2
    bh4 = (vectors["h"].astype(np.int64) + 3) >> 2
    x4 = (vectors["dst_x"].astype(np.int64) - (vectors["w"].astype(np.int64) >> 1)) >> 2
    y4 = (vectors["dst_y"].astype(np.int64) - (vectors["h"].astype(np.int64) >> 1)) >> 2
    count = bw4 * bh4
    block_id = np.repeat(np.arange(len(vectors)), count)
    k = np.arange(block_id.size) - np.repeat(np.cumsum(count) - count, count)
    bw = bw4[block_id]
    return block_id, y4[block_id] + k // bw, x4[block_id] + k % bw


class _ReferenceSearch:
    """Finds, for every block, the temporal distance (frames, >= 1) to the picture it predicts from."""

    def __init__(self, video):
        self.video = video
        self.luma16 = None  # (t, h*w) int16, made on the first search that needs it

    def distances(self, i: int, vectors: np.ndarray, cells) -> np.ndarray:
        video = self.video
        distance = np.ones(len(vectors), np.float32)
        source = vectors["source"]
        for direction in (-1, 1):
            on_side = source < 0 if direction < 0 else source > 0
            if not on_side.any():
                continue
            cands = reference_candidates(i, direction, video.decode_index, video.is_reference, video.max_refs)
            if not cands:
                continue  # e.g. an open-GOP B-frame whose reference was cut off: keep distance 1
            if len(cands) == 1:
                distance[on_side] = abs(cands[0] - i)
                continue
            best = self._best(i, vectors, cells, on_side, cands)
            distance[on_side] = np.abs(np.asarray(cands) - i)[best[on_side]]
        return distance

    def _best(self, i: int, vectors: np.ndarray, cells, on_side: np.ndarray, cands: list[int]) -> np.ndarray:
        """Index into ``cands`` of the picture each block matches best (valid where ``on_side``).

        The cost is the sum of absolute luma differences between the block in frame ``i`` and the block displaced
        by its (rounded) vector in the candidate, over 4 of the 16 pixels of each 4x4 cell (a 2x2 lattice: 4x less
        work, still decisive because a wrong reference is off by at least one frame of motion).
        """
        t, h, w = self.video.luma.shape
        if self.luma16 is None:
            self.luma16 = self.video.luma.reshape(t, h * w).astype(np.int16)
        block_id, cy, cx = cells
        keep = on_side[block_id]
        block_id, cy, cx = block_id[keep], cy[keep], cx[keep]
        scale = np.maximum(vectors["motion_scale"].astype(np.float32), 1)
        ox = np.rint(vectors["motion_x"] / scale).astype(np.int64)
        oy = np.rint(vectors["motion_y"] / scale).astype(np.int64)
        py = (cy[:, None] * 4 + _LATTICE_Y).ravel()
        px = (cx[:, None] * 4 + _LATTICE_X).ravel()
        pixel_block = np.repeat(block_id, 4)
        cur = self.luma16[i][np.minimum(py, h - 1) * w + np.minimum(px, w - 1)]
        ref_index = np.clip(py + oy[pixel_block], 0, h - 1) * w + np.clip(px + ox[pixel_block], 0, w - 1)
        # cells come grouped by block (see _block_cells), so per-block sums are segment sums
        starts = np.flatnonzero(np.r_[True, pixel_block[1:] != pixel_block[:-1]])
        sad = np.zeros((len(cands), len(vectors)), np.int64)
        for k, u in enumerate(cands):
            sad[k, pixel_block[starts]] = np.add.reduceat(np.abs(self.luma16[u][ref_index] - cur), starts)
        return np.argmin(sad, axis=0)  # first minimum = nearest candidate on ties


_LATTICE_Y = np.array([0, 0, 2, 2])
_LATTICE_X = np.array([0, 2, 0, 2])


class _Rasteriser:
    """Writes block vectors into dense per-pixel fields through a 4x4-cell grid."""

    def __init__(self, h: int, w: int):
        self.h, self.w = h, w
        self.h4, self.w4 = -(-h // 16) * 4, -(-w // 16) * 4  # coded size (whole macroblocks) in cells
        self.cells = self.h4 * self.w4
        self.exact = h % 4 == 0 and w % 4 == 0

    def fill(self, vectors: np.ndarray, distance: np.ndarray, cells, mv_out: np.ndarray,
             valid_out: np.ndarray) -> None:
        """Fill ``mv_out (2 dirs, 2, h, w)`` and ``valid_out (2 dirs, h, w)`` for one frame.

        ``cells`` is :func:`_block_cells` of ``vectors``; ``distance`` the per-block temporal distance.
        """
        block_id, cy, cx = cells
        cy, cx = np.clip(cy, 0, self.h4 - 1), np.clip(cx, 0, self.w4 - 1)
        scale = np.maximum(vectors["motion_scale"].astype(np.float32), 1) * distance
        vx = vectors["motion_x"] / scale
        vy = vectors["motion_y"] / scale
        direction = (vectors["source"] > 0).astype(np.int64)
        cell_dir = direction[block_id]
        for d in (0, 1):
            if d == 0 and cell_dir.all() or d == 1 and not cell_dir.any():
                continue  # no block predicts from this side: the field stays 0 and invalid
            sel = cell_dir == d
            flat = cy[sel] * self.w4 + cx[sel]
            ids = block_id[sel]
            grid = np.zeros((2, self.cells), np.float32)
            grid[0, flat] = vx[ids]
            grid[1, flat] = vy[ids]
            ok = np.zeros(self.cells, bool)
            ok[flat] = True
            self._upsample(grid.reshape(2, self.h4, self.w4), ok.reshape(self.h4, self.w4), mv_out[d],
                           valid_out[d])

    def _upsample(self, grid, ok, mv_out, valid_out) -> None:
        """4x4 cells -> pixels: repeat along x (contiguous), broadcast over the 4 rows of each cell."""
        h, w = self.h, self.w
        if self.exact:
            h4 = h // 4
            mv_out.reshape(2, h4, 4, w)[...] = grid[:, :h4].repeat(4, axis=-1)[:, :, None, :w]
            valid_out.reshape(h4, 4, w)[...] = ok[:h4].repeat(4, axis=-1)[:, None, :w]
        else:
            mv_out[...] = grid.repeat(4, axis=1).repeat(4, axis=2)[:, :h, :w]
            valid_out[...] = ok.repeat(4, axis=0).repeat(4, axis=1)[:h, :w]
