"""Per-clip motion files of a compressed-video dataset (``<root>/motion/<clip>.npz``) as seen by the datasets.

The file format belongs to the codec area (``vsrkit.codec.save_motion`` / ``load_motion``; npz keys ``mv_bwd``,
``mv_fwd`` ``(t, 2, h, w)`` (float16 on disk is fine), ``frame_types`` ``(t,)`` and optional ``qp``
``(t, ceil(h/16), ceil(w/16))``). Here: a cheap frame count for up-front checks, and loading into arrays (motion fields
as stored, QP float32) with the QP map expanded to one value per LR pixel (so that it crops and flips like the frames).

A motion root is either a folder of ``.npz`` files (:class:`NpzMotion`) or a raw motion root made by
``scripts/make_raw.py`` (:class:`vsrkit.data.storage_raw.RawMotion`, which reads only the crop of a window);
:func:`open_motion` tells them apart by the raw index. Both give bitwise the same arrays.
"""
from __future__ import annotations

import os
import zipfile

import numpy as np

from vsrkit.errors import DataError

MB = 16  # macroblock size of the QP maps


def motion_path(root: str, clip: str) -> str:
    return os.path.join(root, f"{clip}.npz")


def motion_num_frames(path: str) -> int:
    """Number of frames of a motion file, read from the ``mv_bwd`` array header only (no decompression)."""
    try:
        with zipfile.ZipFile(path) as zf, zf.open("mv_bwd.npy") as f:
            major, _ = np.lib.format.read_magic(f)
            header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, _, _ = header(f)
    except FileNotFoundError:
        raise DataError(f"{path}: motion file not found; run degradation/compress.py with motion export or "
                        f"drop dataroot_motion") from None
    except (KeyError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise DataError(f"{path}: not a readable motion npz with an 'mv_bwd' array ({exc}); re-create it") from None
    return int(shape[0])


def qp_to_pixels(qp: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(t, ceil(h/16), ceil(w/16))`` per-macroblock QP -> ``(t, h, w)`` float32, each pixel its block's QP."""
    full = np.repeat(np.repeat(np.asarray(qp, np.float32), MB, axis=1), MB, axis=2)
    return np.ascontiguousarray(full[:, :height, :width])


def load_clip_motion(path: str, indices: list[int], height: int, width: int) -> dict:
    """Motion of frames ``indices`` of a clip (read with ``vsrkit.codec.load_motion``) as arrays.

    Returns a dict with ``mv_bwd``, ``mv_fwd`` ``(t, 2, h, w)`` (LR pixels, the file's dtype: float16), ``frame_types`` ``(t,)`` int64,
    ``qp`` ``(t, h, w)`` float32 (only when the file has QP maps) and ``valid_bwd``, ``valid_fwd`` ``(t, h, w)`` bool
    (only when recorded: True where the codec gave a vector). A frame count or spatial size that does not fit the
    LQ frames raises DataError naming the file.
    """
    from vsrkit.codec import load_motion

    clip = load_motion(path)
    t = clip.num_frames
    idx = np.asarray(indices, np.int64)
    if idx.size and idx.max() >= t:
        raise DataError(f"{path}: motion file has {t} frames, frame {int(idx.max())} requested; "
                        f"the motion and LQ frame counts disagree: re-create the motion file")
    shape = tuple(clip.mv_bwd.shape[2:])
    if shape != (height, width):
        raise DataError(f"{path}: motion fields are {shape[1]}x{shape[0]} but the LQ frames are {width}x{height}; "
                        f"re-create the motion file from the same LQ clip")
    out = {
        "mv_bwd": np.asarray(clip.mv_bwd[idx]),  # as stored (float16 in the files); the item makes float32
        "mv_fwd": np.asarray(clip.mv_fwd[idx]),
        "frame_types": np.asarray(clip.frame_types, np.int64)[idx],
    }
    if clip.qp is not None:
        out["qp"] = qp_to_pixels(np.asarray(clip.qp)[idx], height, width)
    for key in ("valid_bwd", "valid_fwd"):
        if getattr(clip, key, None) is not None:
            out[key] = np.asarray(getattr(clip, key), bool)[idx]
    return out


def crop_motion(motion: dict, region: tuple[int, int, int]) -> dict:
    """The arrays of :func:`load_clip_motion` cropped to ``region = (top, left, size)`` LR pixels."""
    top, left, size = region
    out = dict(motion)
    for key in ("mv_bwd", "mv_fwd"):
        out[key] = motion[key][:, :, top:top + size, left:left + size]
    for key in ("qp", "valid_bwd", "valid_fwd"):
        if key in motion:
            out[key] = motion[key][:, top:top + size, left:left + size]
    return out


class NpzMotion:
    """A folder of per-clip motion ``.npz`` files (decompressed whole, then windowed and cropped)."""

    def __init__(self, root: str):
        self.root = root

    def describe(self, clip: str) -> str:
        return motion_path(self.root, clip)

    def num_frames(self, clip: str) -> int:
        return motion_num_frames(motion_path(self.root, clip))

    def load(self, clip: str, indices, height: int, width: int, region: tuple[int, int, int] | None = None) -> dict:
        """:func:`load_clip_motion` of the clip, cropped to ``region = (top, left, size)`` when given."""
        motion = load_clip_motion(motion_path(self.root, clip), list(indices), height, width)
        return motion if region is None else crop_motion(motion, region)


def open_motion(root: str):
    """The motion source at ``root``: :class:`~vsrkit.data.storage_raw.RawMotion` when it is a raw motion root
    (scripts/make_raw.py), else :class:`NpzMotion`."""
    from vsrkit.data.storage_raw import RawMotion, is_raw_root

    return RawMotion(root) if is_raw_root(root) else NpzMotion(root)
