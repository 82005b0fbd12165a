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

import bisect
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
        corrupt_frames: display indices of the frames FFmpeg decoded with errors (see :mod:`vsrkit.codec.decode`).
        missing_frames: frames of the file that could not be decoded at all.
    """
    frames: np.ndarray | None
    mv_bwd: np.ndarray
    mv_fwd: np.ndarray
    frame_types: np.ndarray
    qp: np.ndarray | None = None
    valid_bwd: np.ndarray | None = None
    valid_fwd: np.ndarray | None = None
    corrupt_frames: tuple = ()
    missing_frames: int = 0

    @property
    def num_frames(self) -> int:
        return int(self.mv_bwd.shape[0])

    @property
    def damaged_frames(self) -> int:
        """Frames damaged or missing when this clip was decoded."""
        return len(self.corrupt_frames) + self.missing_frames

    def without_frames(self) -> "MotionClip":
        return MotionClip(None, self.mv_bwd, self.mv_fwd, self.frame_types, self.qp, self.valid_bwd, self.valid_fwd,
                          self.corrupt_frames, self.missing_frames)


def _no_motion_error(path, codec: str) -> DataError:
    if codec == "hevc":
        return DataError(
            f"{path}: is HEVC, and FFmpeg does not export HEVC motion vectors; either estimate block motion on the "
            f"decoded frames (vsrkit.codec.estimate_block_motion(vsrkit.codec.decode_video(path).frames)) or "
            f"encode the clip as H.264 (degradation/compress.py --codec h264)")
    return DataError(f"{path}: codec '{codec}' has no motion-vector export in vsrkit (H.264 only); re-encode the "
                     f"clip as H.264 (degradation/compress.py --codec h264) or use "
                     f"vsrkit.codec.estimate_block_motion on its decoded frames")


@dataclass
class MotionFrame:
    """One frame of :func:`iter_motion` (display order).

    Attributes:
        index: display index.
        frame: ``(h, w, 3)`` uint8 RGB, or None when frames were not requested.
        mv_bwd, mv_fwd: ``(2, h, w)`` float32 at unit temporal distance, LR pixels, channel 0 = x.
        frame_type: FFmpeg picture type (I=1, P=2, B=3, 0 unknown).
        qp: ``(ceil(h/16), ceil(w/16))`` uint8 per-macroblock QP, or None.
        valid_bwd, valid_fwd: ``(h, w)`` bool, True where the codec gave a vector in that direction.
    """
    index: int
    frame: np.ndarray | None
    mv_bwd: np.ndarray
    mv_fwd: np.ndarray
    frame_type: int
    qp: np.ndarray | None
    valid_bwd: np.ndarray
    valid_fwd: np.ndarray


def iter_motion(path, *, frames: bool = True, qp: bool = True, threads: int = 0,
                strict: bool = False) -> "MotionStream":
    """Stream an H.264 video as :class:`MotionFrame` items in display order, with bounded memory.

    A frame is produced as soon as every picture decoded before it has come out of the decoder (so that its
    references are known), or :data:`MAX_REF_DISTANCE` frames later at the latest; the luma of the last
    :data:`MAX_REF_DISTANCE` frames is kept for the reference search. Memory therefore does not grow with the length
    of the clip. :func:`read_motion` is this stream gathered into arrays.

    Damaged frames (FFmpeg reported decoding errors, see :mod:`vsrkit.codec.decode`) are counted in the stream's
    ``corrupt`` / ``missing`` and warned about once at the end; ``strict=True`` raises at the first one instead.

    Raises:
        DataError: missing/corrupt file, or a codec other than H.264 (the message names the alternative); the codec
            is checked here, decoding errors (and with ``strict`` damaged frames) surface during iteration.
    """
    from vsrkit.codec.decode import probe_codec

    codec = probe_codec(path)
    if codec != "h264":
        raise _no_motion_error(path, codec)
    return MotionStream(path, frames=frames, qp=qp, threads=threads, strict=strict)


def read_motion(path, *, frames: bool = True, qp: bool = True, threads: int = 0,
                strict: bool = False) -> MotionClip:
    """Decode an H.264 video into frames, dense motion fields, picture types and QP maps.

    Holds the whole clip (about ``t*h*w*21`` bytes with frames); for long videos iterate :func:`iter_motion`.

    Args:
        path: an H.264 video file (mp4, mkv, raw ``.h264``...).
        frames: also return the decoded RGB frames (set False when only motion is needed: faster).
        qp: also return per-macroblock QP maps.
        threads: decoder threads (0 = FFmpeg's choice, 1 = one core).
        strict: raise at the first damaged frame instead of warning (the damage is recorded in the result's
            ``corrupt_frames`` / ``missing_frames`` either way).
    Returns:
        :class:`MotionClip` (see the module docstring for conventions).
    Raises:
        DataError: missing/corrupt file, or a codec other than H.264 (the message names the alternative); with
            ``strict`` a damaged frame.
    """
    stream = iter_motion(path, frames=frames, qp=qp, threads=threads, strict=strict)
    store = _FieldStore(stream.frame_count)
    stream.allocate = store.allocate  # fields are written in place: no per-frame allocation, no stacking
    rgb, types, qps = [], [], []
    for item in stream:
        rgb.append(item.frame)
        types.append(item.frame_type)
        qps.append(item.qp)
    t = len(types)
    return MotionClip(
        frames=np.stack(rgb) if frames else None, mv_bwd=store.mv[0, :t], mv_fwd=store.mv[1, :t],
        frame_types=np.array(types, np.uint8), qp=np.stack(qps) if qp and all(q is not None for q in qps) else None,
        valid_bwd=store.valid[0, :t], valid_fwd=store.valid[1, :t], corrupt_frames=tuple(stream.corrupt),
        missing_frames=stream.missing)


class _FieldStore:
    """Whole-clip field arrays ``mv (2 dirs, t, 2, h, w)`` and ``valid (2 dirs, t, h, w)`` that a
    :class:`MotionStream` writes into; sized by the container's frame count and grown (doubling) past it."""

    def __init__(self, capacity: int):
        self.capacity = max(int(capacity), 1)
        self.mv = self.valid = None

    def allocate(self, i: int, h: int, w: int):
        if self.mv is None:
            self.mv = np.zeros((2, self.capacity, 2, h, w), np.float32)
            self.valid = np.zeros((2, self.capacity, h, w), bool)
        if i >= self.mv.shape[1]:
            grown = 2 * max(self.mv.shape[1], i + 1)
            mv, valid = np.zeros((2, grown, 2, h, w), np.float32), np.zeros((2, grown, h, w), bool)
            mv[:, :self.mv.shape[1]], valid[:, :self.valid.shape[1]] = self.mv, self.valid
            self.mv, self.valid = mv, valid
        return self.mv[:, i], self.valid[:, i]


def _new_fields(i: int, h: int, w: int):
    """Zeroed ``mv (2 dirs, 2, h, w)`` float32 and ``valid (2 dirs, h, w)`` bool for frame ``i``."""
    return np.zeros((2, 2, h, w), np.float32), np.zeros((2, h, w), bool)


class MotionStream:
    """Iterable of :class:`MotionFrame` (see :func:`iter_motion`); iterate once.

    Attributes:
        fps, frame_count: the stream's average frame rate and the container's frame count (0.0 / 0 if unknown).
        decoded: frames that have come out of the decoder so far.
        corrupt, missing: display indices of frames decoded with errors, and the number of frames lost (so far).
        max_held: the most frames held at once (for the memory bound; at most ``2 * MAX_REF_DISTANCE + 1``).
        allocate: ``allocate(i, h, w) -> (mv (2, 2, h, w), valid (2, h, w))``, the zeroed arrays frame ``i``'s
            backward/forward fields are written into (default: new arrays per frame).
    """

    def __init__(self, path, *, frames: bool, qp: bool, threads: int, strict: bool = False):
        from vsrkit.codec.decode import DecodeStream

        self.decoder = DecodeStream(path, frames=frames, luma=True, qp=qp, mvs=True, refs=True, threads=threads,
                                    strict=strict)
        self.fps, self.frame_count = self.decoder.fps, self.decoder.frame_count
        self.max_held = 0
        self._held: dict = {}           # display index -> decoder record (+ "luma16"), for frames still needed
        self._decode_index: list = []   # display index -> position in decoding order (None: unknown)
        self._display_of_pts: dict = {}
        self._out_positions: set = set()
        self._low_mark = 0              # every picture at a decoding position below this has been output
        self._raster = None
        self.allocate = _new_fields

    @property
    def decoded(self) -> int:
        return self.decoder.output

    @property
    def corrupt(self) -> list[int]:
        return self.decoder.corrupt

    @property
    def missing(self) -> int:
        return self.decoder.missing

    def __iter__(self):
        from vsrkit.codec.decode import check_size

        done, last_pts, size = 0, None, None
        for record in self.decoder:
            i = record["out"]
            size = size or (record["h"], record["w"])
            check_size(self.decoder.path, i, record, *size)
            pts = record["pts"]
            if pts is not None and last_pts is not None and pts <= last_pts:
                raise DataError(f"{self.decoder.path}: frame {i} comes out of the decoder before an earlier "
                                f"timestamp ({pts} after {last_pts}); remux the file (e.g. into mp4) and retry")
            last_pts = pts
            self._add(i, record)
            while done < len(self._decode_index) and self._ready(done):
                yield self._finish(done)
                done += 1
        while done < len(self._decode_index):
            yield self._finish(done)
            done += 1

    def _add(self, i: int, record: dict) -> None:
        pts = record["pts"]
        position = self.decoder.pts_to_decode.get(pts) if pts is not None else None
        self._decode_index.append(position)
        if position is not None:
            self._display_of_pts[pts] = i
            self._out_positions.add(position)
            while self._low_mark in self._out_positions:
                self._out_positions.discard(self._low_mark)
                self._low_mark += 1
        self._held[i] = record
        self.max_held = max(self.max_held, len(self._held))

    def _ready(self, i: int) -> bool:
        """Frame ``i`` can be finished: its references have come out (or it is MAX_REF_DISTANCE frames behind)."""
        if len(self._decode_index) - 1 - i >= MAX_REF_DISTANCE:
            return True
        position = self._decode_index[i]
        return position is not None and self._low_mark >= position

    def _finish(self, i: int) -> MotionFrame:
        record = self._held[i]
        h, w = record["h"], record["w"]
        if self._raster is None:
            self._raster = _Rasteriser(h, w)
        mv, valid = self.allocate(i, h, w)  # direction (0 = bwd, 1 = fwd), [xy,] y, x
        vectors = record["mvs"]
        if vectors is not None and len(vectors):
            cells = _block_cells(vectors)
            distance = _reference_distances(i, vectors, cells, self._candidates, self._luma16)
            self._raster.fill(vectors, distance, cells, mv, valid)
        item = MotionFrame(i, record["rgb"], mv[0], mv[1], record["type"], record["qp"], valid[0], valid[1])
        record["rgb"] = record["mvs"] = record["qp"] = None  # only the luma is needed from here on
        for old in [k for k in self._held if k <= i - MAX_REF_DISTANCE]:
            del self._held[old]
        return item

    def _luma16(self, u: int) -> np.ndarray:
        record = self._held[u]
        if "luma16" not in record:
            record["luma16"] = record["luma"].astype(np.int16)
        return record["luma16"]

    def _candidates(self, i: int, direction: int) -> list[int]:
        """Display indices frame ``i`` may predict from on side ``direction`` (-1 past, +1 future), nearest first.

        With reference information: the last ``max_num_ref_frames`` (SPS) reference pictures decoded before frame
        ``i``. Without (raw streams carry no timestamps to match packets to frames): every frame within
        :data:`MAX_REF_DISTANCE` on that side. Either way only frames within :data:`MAX_REF_DISTANCE`.
        """
        dec = self.decoder
        position = self._decode_index[i]
        t = len(self._decode_index)
        if position is None or not dec.refs:
            lo, hi = (max(0, i - MAX_REF_DISTANCE), i) if direction < 0 else (i + 1, min(t, i + 1 + MAX_REF_DISTANCE))
            cands = list(range(lo, hi))
        else:
            end = bisect.bisect_left(dec.ref_decode_positions, position)  # references decoded before frame i
            refs = dec.ref_decode_positions[max(0, end - (dec.max_refs or end)):end]
            shown = (self._display_of_pts.get(dec.decode_pts[r]) for r in refs)
            cands = [u for u in shown if u is not None and (u - i) * direction > 0 and abs(u - i) <= MAX_REF_DISTANCE]
        return sorted(cands, key=lambda u: abs(u - i))


def _reference_distances(i: int, vectors: np.ndarray, cells, candidates, luma16) -> np.ndarray:
    """Temporal distance (frames, >= 1) from frame ``i`` to the picture each block predicts from.

    ``candidates(i, direction)`` gives the possible reference pictures (display indices, nearest first);
    ``luma16(u)`` the ``(h, w)`` int16 luma of frame ``u``.
    """
    distance = np.ones(len(vectors), np.float32)
    source = vectors["source"]
    for direction in (-1, 1):
        on_side = source < 0 if direction < 0 else source > 0
        if not on_side.any():
            continue
        cands = candidates(i, direction)
        if not cands:
            continue  # e.g. an open-GOP B-frame whose reference was cut off: keep distance 1
        if len(cands) == 1:
            distance[on_side] = abs(cands[0] - i)
            continue
        best = _best_reference(i, vectors, cells, on_side, cands, luma16)
        distance[on_side] = np.abs(np.asarray(cands) - i)[best[on_side]]
    return distance


def _block_cells(vectors: np.ndarray):
    """Expand blocks to the 4x4 cells they cover: ``(block_id, cell_y, cell_x, cells_per_block)`` (cell units);
    the cells of a block are consecutive, blocks in their order in ``vectors``."""
    w, h = vectors["w"].astype(np.int64), vectors["h"].astype(np.int64)
    bw4 = (w + 3) >> 2
    count = bw4 * ((h + 3) >> 2)
    x4 = (vectors["dst_x"] - (w >> 1)) >> 2
    y4 = (vectors["dst_y"] - (h >> 1)) >> 2
    block_id = np.repeat(np.arange(len(vectors)), count)
    k = np.arange(block_id.size) - np.repeat(np.cumsum(count) - count, count)
    dy, dx = np.divmod(k, bw4[block_id])
    return block_id, y4[block_id] + dy, x4[block_id] + dx, count


def _best_reference(i: int, vectors: np.ndarray, cells, on_side: np.ndarray, cands: list[int], luma16) -> np.ndarray:
    """Index into ``cands`` of the picture each block matches best (valid where ``on_side``).

    The cost is the sum of absolute luma differences between the block in frame ``i`` and the block displaced
    by its (rounded) vector in the candidate, over 4 of the 16 pixels of each 4x4 cell (a 2x2 lattice: 4x less
    work, still decisive because a wrong reference is off by at least one frame of motion).
    """
    h, w = luma16(i).shape
    block_id, cy, cx, count = cells
    keep = on_side[block_id]
    block_id, cy, cx = block_id[keep], cy[keep], cx[keep]
    blocks = np.flatnonzero(on_side)  # the blocks searched, in order; their cells are consecutive
    scale = np.maximum(vectors["motion_scale"].astype(np.float32), 1)
    ox = np.rint(vectors["motion_x"] / scale).astype(np.int64)
    oy = np.rint(vectors["motion_y"] / scale).astype(np.int64)
    py = (cy[:, None] * 4 + _LATTICE_Y).ravel()
    px = (cx[:, None] * 4 + _LATTICE_X).ravel()
    pixel_block = np.repeat(block_id, 4)
    cur = np.take(luma16(i), np.minimum(py, h - 1) * w + np.minimum(px, w - 1))
    ry = np.minimum(np.maximum(py + oy[pixel_block], 0), h - 1)
    rx = np.minimum(np.maximum(px + ox[pixel_block], 0), w - 1)
    ref_index = ry * w + rx
    # per-block sums are segment sums over the consecutive samples of each block (4 per cell)
    lengths = 4 * count[blocks]
    starts = np.cumsum(lengths) - lengths
    sad = np.zeros((len(cands), len(vectors)), np.int64)
    for k, u in enumerate(cands):
        diff = np.take(luma16(u), ref_index)
        np.subtract(diff, cur, out=diff)
        sad[k, blocks] = np.add.reduceat(np.abs(diff, out=diff), starts)
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
        block_id, cy, cx, _ = cells
        flat_all = np.minimum(np.maximum(cy, 0), self.h4 - 1) * self.w4 + np.minimum(np.maximum(cx, 0), self.w4 - 1)
        scale = np.maximum(vectors["motion_scale"].astype(np.float32), 1) * distance
        vx = vectors["motion_x"] / scale
        vy = vectors["motion_y"] / scale
        direction = (vectors["source"] > 0).astype(np.int64)
        cell_dir = direction[block_id]
        for d in (0, 1):
            if d == 0 and cell_dir.all() or d == 1 and not cell_dir.any():
                continue  # no block predicts from this side: the field stays 0 and invalid
            sel = cell_dir == d
            flat = flat_all[sel]
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
