"""The crop-reading raw backend: one memory-mapped uint8 ``(t, h, w, c)`` array per clip, read a crop at a time.

    io_backend: {type: raw}        # <root> made by scripts/make_raw.py (from PNG folders, an LMDB or YUV files)

Layout of a raw root (frames)::

    <root>/raw_info.json           the index: format, kind 'frames', complete, clips {name: {shape: [t, h, w, c]}}
    <root>/<clip>.npy              (t, h, w, c) uint8 RGB (c = 3) or native Y (c = 1), NumPy .npy (header + rows)
    <root>/manifest.json           copied from the source, so datasets still check their options against it

and of a raw motion root (``dataroot_motion`` of a compressed-video dataset, converted from ``<clip>.npz`` files)::

    <root>/raw_info.json           kind 'motion', clips {name: {frames, height, width, frame_types, arrays}}
    <root>/<clip>.mv_bwd.npy       (t, 2, h, w) float16 (as in the npz), likewise <clip>.mv_fwd.npy
    <root>/<clip>.qp.npy           (t, ceil(h/16), ceil(w/16)) uint8, when the clip has QP maps
    <root>/<clip>.valid_bwd.npy    (t, h, w) bool, likewise <clip>.valid_fwd.npy, when recorded

Why it is fast: a training item needs a ``gt_size`` crop of a few frames, and the arrays are mapped, not read: a crop
touches only the rows it covers (from the page cache, without decoding), and flips and rotations act on the crop.
A window of evenly spaced frames is a strided *view* of the map, so frames go from the page cache to the float
tensor of the item in one pass (see :func:`vsrkit.data.video_base.frames_to_tensor`). Files are opened lazily and
once per process (safe with DataLoader workers, which re-open them after fork).

The index is written last by ``scripts/make_raw.py`` (clip by clip, so an interrupted conversion resumes); a root
whose index is not ``complete`` is refused with the command that finishes it.
"""
from __future__ import annotations

import json
import os

import numpy as np

from vsrkit.data.storage import BACKENDS, FrameStorage
from vsrkit.errors import DataError

RAW_INDEX = "raw_info.json"
RAW_FORMAT = "vsrkit-raw"
RAW_VERSION = 1
MOTION_ARRAYS = ("mv_bwd", "mv_fwd", "qp", "valid_bwd", "valid_fwd")
MOTION_DTYPES = {"mv_bwd": np.float16, "mv_fwd": np.float16, "qp": np.uint8, "valid_bwd": np.bool_,
                 "valid_fwd": np.bool_}
MB = 16  # macroblock size of the QP maps


def is_raw_root(root: str) -> bool:
    """True when ``root`` is a folder with a raw index (made by scripts/make_raw.py)."""
    return os.path.isfile(os.path.join(root, RAW_INDEX))


def clip_file(root: str, clip: str, array: str | None = None) -> str:
    """``<root>/<clip>.npy`` (frames) or ``<root>/<clip>.<array>.npy`` (motion arrays)."""
    return os.path.join(root, *clip.split("/")) + (f".{array}" if array else "") + ".npy"


def read_raw_index(root: str, kind: str) -> dict:
    """The index of a raw root after checking its format, kind (``frames`` or ``motion``) and completeness."""
    path = os.path.join(root, RAW_INDEX)
    fix = f"re-create it with scripts/make_raw.py --output {root}"
    if not os.path.isfile(path):
        raise DataError(f"{root}: not a raw root (no {RAW_INDEX}); make one with scripts/make_raw.py --input "
                        f"SOURCE --output {root}")
    try:
        with open(path) as f:
            index = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: unreadable raw index ({exc}); {fix}") from None
    if not isinstance(index, dict) or index.get("format") != RAW_FORMAT or not isinstance(index.get("clips"), dict):
        raise DataError(f"{path}: not a vsrkit raw index; {fix}")
    if index.get("version") != RAW_VERSION:
        raise DataError(f"{path}: raw format version {index.get('version')}, this vsrkit reads {RAW_VERSION}; {fix}")
    if index.get("kind") != kind:
        what = {"frames": "frames (dataroot_gt / dataroot_lq)", "motion": "motion (dataroot_motion)"}[kind]
        raise DataError(f"{root}: holds raw {index.get('kind')}, but is given as {what}; check the path")
    if not index.get("complete"):
        done, total = len(index["clips"]), index.get("total_clips", "?")
        raise DataError(f"{root}: the conversion stopped after {done} of {total} clips; run scripts/make_raw.py "
                        f"again with the same arguments to finish it")
    return index


def _open_array(path: str, shape: tuple, dtype) -> np.ndarray:
    """The ``.npy`` file at ``path`` memory-mapped read-only, as a plain ndarray, checked against the index."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: raw clip file not found; re-create the raw root with scripts/make_raw.py") from None
    except (ValueError, OSError) as exc:  # a truncated file cannot be mapped at its declared size
        raise DataError(f"{path}: unreadable or truncated raw array ({exc}); re-create it with "
                        f"scripts/make_raw.py") from None
    if tuple(arr.shape) != tuple(shape) or arr.dtype != np.dtype(dtype):
        raise DataError(f"{path}: holds {arr.dtype} {tuple(arr.shape)}, the index says {np.dtype(dtype)} "
                        f"{tuple(shape)}; re-create it with scripts/make_raw.py")
    return arr.view(np.ndarray)  # keeps the map alive through .base; no np.memmap subclass in the results


def _frames_slice(indices) -> slice | None:
    """``indices`` as a basic slice (a view of the map, no copy) when they are evenly spaced and increasing."""
    idx = [int(i) for i in indices]
    if not idx:
        return None
    step = idx[1] - idx[0] if len(idx) > 1 else 1
    if step <= 0 or any(b - a != step for a, b in zip(idx, idx[1:])):
        return None
    return slice(idx[0], idx[-1] + 1, step)


class _Maps:
    """Per-process cache of opened maps (dropped after fork and when pickled to DataLoader workers)."""

    def __init__(self):
        self.maps: dict = {}
        self.pid = os.getpid()

    def get(self, key, opener):
        if self.pid != os.getpid():
            self.maps, self.pid = {}, os.getpid()
        arr = self.maps.get(key)
        if arr is None:
            arr = self.maps[key] = opener()
        return arr

    def __getstate__(self):
        return {"maps": {}, "pid": None}


class RawStorage(FrameStorage):
    """Frames of a raw root (see the module docstring); ``read_region`` reads crops without touching the rest."""

    kind = "raw"
    #: datasets draw their crop first and call :meth:`read_region` (``vsrkit.data.video_base``)
    supports_regions = True

    def __init__(self, root: str):
        super().__init__(root)
        index = read_raw_index(self.root, "frames")
        self._shapes: dict[str, tuple[int, int, int, int]] = {}
        for clip, entry in index["clips"].items():
            shape = tuple(int(v) for v in entry.get("shape", ()))
            if len(shape) != 4 or shape[3] not in (1, 3):
                raise DataError(f"{os.path.join(self.root, RAW_INDEX)}: clip '{clip}' has shape {shape}, expected "
                                f"[t, h, w, 1 or 3]; re-create it with scripts/make_raw.py")
            self._shapes[clip] = shape
        self._maps = _Maps()

    def array(self, clip: str) -> np.ndarray:
        """The whole clip ``(t, h, w, c)`` uint8, memory-mapped read-only (nothing is read until used)."""
        shape = self._shape(clip)
        return self._maps.get(clip, lambda: _open_array(clip_file(self.root, clip), shape, np.uint8))

    def _shape(self, clip: str) -> tuple[int, int, int, int]:
        if clip not in self._shapes:
            raise DataError(f"{self.root}: no clip '{clip}' in {RAW_INDEX}; check the clip name or the meta-info file")
        return self._shapes[clip]

    def clips(self) -> list[str]:
        return sorted(self._shapes)

    def num_frames(self, clip: str) -> int:
        return self._shape(clip)[0]

    def frame_shape(self, clip: str, index: int = 0) -> tuple[int, int, int]:
        """``(h, w, c)`` of the clip's frames, from the index (nothing read)."""
        return tuple(self._shape(clip)[1:])

    def read(self, clip: str, index: int) -> np.ndarray:
        self._check_index(clip, index)
        return np.array(self.array(clip)[index])

    def read_many(self, clip: str, indices) -> list[np.ndarray]:
        idx = [int(i) for i in indices]
        for i in set(idx):
            self._check_index(clip, i)
        arr = self.array(clip)
        return [np.array(arr[i]) for i in idx]

    def read_region(self, clip: str, indices, top: int, left: int, height: int, width: int) -> np.ndarray:
        """Frames ``indices`` cropped to rows ``top:top+height`` and columns ``left:left+width``: ``(t, height,
        width, c)`` uint8, read-only. A view of the map when the indices are evenly spaced (no copy until used),
        else a copy of just the crops."""
        t, h, w, _ = self._shape(clip)
        idx = [int(i) for i in indices]
        bad = [i for i in idx if not 0 <= i < t]
        if bad:
            raise DataError(f"{self.describe(clip)}: frame {bad[0]} requested but the clip has {t} frames")
        if top < 0 or left < 0 or top + height > h or left + width > w:
            raise DataError(f"{self.describe(clip)}: crop {width}x{height} at ({left}, {top}) is outside the "
                            f"{w}x{h} frames")
        rows, cols = slice(top, top + height), slice(left, left + width)
        arr = self.array(clip)
        window = _frames_slice(idx)
        if window is not None:
            return arr[window, rows, cols]
        return np.stack([arr[i, rows, cols] for i in idx])

    def describe(self, clip: str) -> str:
        return clip_file(self.root, clip)


class RawMotion:
    """Motion of a raw motion root (see the module docstring), read a window and a crop at a time; the same
    interface and results as :class:`vsrkit.data.clip_motion.NpzMotion` (bitwise: float16 fields, float32 QP)."""

    def __init__(self, root: str):
        self.root = os.fspath(root)
        index = read_raw_index(self.root, "motion")
        self._clips: dict[str, dict] = {}
        for clip, entry in index["clips"].items():
            try:
                t, h, w = int(entry["frames"]), int(entry["height"]), int(entry["width"])
                types = np.asarray(entry["frame_types"], np.int64)
                arrays = [a for a in entry["arrays"] if a in MOTION_ARRAYS]
            except (KeyError, TypeError, ValueError):
                raise DataError(f"{os.path.join(self.root, RAW_INDEX)}: bad entry for clip '{clip}'; re-create it "
                                f"with scripts/make_raw.py") from None
            if types.shape != (t,) or "mv_bwd" not in arrays or "mv_fwd" not in arrays:
                raise DataError(f"{os.path.join(self.root, RAW_INDEX)}: clip '{clip}' lacks frame types or fields; "
                                f"re-create it with scripts/make_raw.py")
            self._clips[clip] = {"t": t, "h": h, "w": w, "frame_types": types, "arrays": arrays}
        self._maps = _Maps()

    def _entry(self, clip: str) -> dict:
        if clip not in self._clips:
            raise DataError(f"{self.root}: no motion for clip '{clip}' in {RAW_INDEX}; convert the clip's motion "
                            f"with scripts/make_raw.py")
        return self._clips[clip]

    def describe(self, clip: str) -> str:
        return clip_file(self.root, clip, "mv_bwd")

    def num_frames(self, clip: str) -> int:
        return self._entry(clip)["t"]

    def array(self, clip: str, name: str) -> np.ndarray:
        e = self._entry(clip)
        t, h, w = e["t"], e["h"], e["w"]
        shape = {"mv_bwd": (t, 2, h, w), "mv_fwd": (t, 2, h, w), "qp": (t, -(-h // MB), -(-w // MB)),
                 "valid_bwd": (t, h, w), "valid_fwd": (t, h, w)}[name]
        return self._maps.get((clip, name), lambda: _open_array(clip_file(self.root, clip, name), shape,
                                                                MOTION_DTYPES[name]))

    def load(self, clip: str, indices, height: int, width: int, region: tuple[int, int, int] | None = None) -> dict:
        """Motion of frames ``indices`` (keys and conventions of :func:`vsrkit.data.clip_motion.load_clip_motion`),
        cropped to ``region = (top, left, size)`` LR pixels when given; fresh writable arrays."""
        e = self._entry(clip)
        path = self.describe(clip)
        idx = np.asarray([int(i) for i in indices], np.int64)
        if idx.size and idx.max() >= e["t"]:
            raise DataError(f"{path}: motion file has {e['t']} frames, frame {int(idx.max())} requested; "
                            f"the motion and LQ frame counts disagree: re-create the motion file")
        if (e["h"], e["w"]) != (height, width):
            raise DataError(f"{path}: motion fields are {e['w']}x{e['h']} but the LQ frames are {width}x{height}; "
                            f"re-create the motion file from the same LQ clip")
        top, left, size = region if region is not None else (0, 0, None)
        rh, rw = (size, size) if size is not None else (height, width)
        rows, cols = slice(top, top + rh), slice(left, left + rw)
        window = _frames_slice(idx)
        frames = window if window is not None else idx

        def take(name, *lead):
            return self.array(clip, name)[(frames, *lead, rows, cols)]

        out = {"mv_bwd": np.array(take("mv_bwd", slice(None))),  # float16 as stored; the item makes float32
               "mv_fwd": np.array(take("mv_fwd", slice(None))),
               "frame_types": e["frame_types"][idx]}
        if "qp" in e["arrays"]:
            qp = self.array(clip, "qp")
            mb_rows, mb_cols = slice(top // MB, (top + rh - 1) // MB + 1), slice(left // MB, (left + rw - 1) // MB + 1)
            blocks = np.asarray(qp[(frames, mb_rows, mb_cols)], np.float32)
            full = np.repeat(np.repeat(blocks, MB, axis=1), MB, axis=2)
            out["qp"] = np.ascontiguousarray(full[:, top % MB:top % MB + rh, left % MB:left % MB + rw])
        for name in ("valid_bwd", "valid_fwd"):
            if name in e["arrays"]:
                out[name] = np.array(take(name), bool)
        return out


BACKENDS["raw"] = RawStorage
