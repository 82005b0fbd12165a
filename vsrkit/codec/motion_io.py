"""Per-clip motion files (``<root>/motion/<clip>.npz``): save atomically, load with validation.

Keys: ``mv_bwd``, ``mv_fwd`` ``(t, 2, h, w)`` float16 on disk (quarter-pel vectors over a few frames are exact in
float16), ``frame_types`` ``(t,)`` uint8, optional ``qp`` ``(t, h/16, w/16)`` uint8, optional ``valid_bwd``,
``valid_fwd`` ``(t, h, w)`` bool. Loaded fields are float32.
"""
from __future__ import annotations

import os
import zipfile

import numpy as np

from vsrkit.codec.motion import MotionClip
from vsrkit.errors import DataError
from vsrkit.fileio import atomic_path

REQUIRED_KEYS = ("mv_bwd", "mv_fwd", "frame_types")


def save_motion(npz_path, clip: MotionClip) -> None:
    """Write ``clip``'s motion (frames are not saved) to ``npz_path`` atomically (:func:`vsrkit.fileio.atomic_path`)."""
    npz_path = str(npz_path)
    arrays = {"mv_bwd": np.asarray(clip.mv_bwd, np.float16), "mv_fwd": np.asarray(clip.mv_fwd, np.float16),
              "frame_types": np.asarray(clip.frame_types, np.uint8)}
    if clip.qp is not None:
        arrays["qp"] = np.asarray(clip.qp, np.uint8)
    if clip.valid_bwd is not None:
        arrays["valid_bwd"] = np.asarray(clip.valid_bwd, bool)
    if clip.valid_fwd is not None:
        arrays["valid_fwd"] = np.asarray(clip.valid_fwd, bool)
    with atomic_path(npz_path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def load_motion(npz_path) -> MotionClip:
    """Read a motion ``.npz`` into a :class:`MotionClip` (``frames=None``, fields float32).

    Raises:
        DataError: missing, truncated or corrupt file, missing keys, or shapes that disagree.
    """
    npz_path = str(npz_path)
    if not os.path.isfile(npz_path):
        raise DataError(f"{npz_path}: motion file not found; build it with degradation/compress.py --codec h264")
    try:
        with np.load(npz_path, allow_pickle=False) as data:
            missing = [k for k in REQUIRED_KEYS if k not in data.files]
            if missing:
                raise DataError(f"{npz_path}: motion file lacks key(s) {', '.join(missing)}; rebuild it with "
                                f"degradation/compress.py")
            arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
        raise DataError(f"{npz_path}: unreadable motion file ({exc}); delete it and rebuild it with "
                        f"degradation/compress.py") from exc
    bwd, fwd, types = arrays["mv_bwd"], arrays["mv_fwd"], arrays["frame_types"]
    if bwd.ndim != 4 or bwd.shape[1] != 2 or fwd.shape != bwd.shape or types.shape != (bwd.shape[0],):
        raise DataError(f"{npz_path}: inconsistent shapes mv_bwd {bwd.shape}, mv_fwd {fwd.shape}, frame_types "
                        f"{types.shape} (expected (t, 2, h, w) twice and (t,)); rebuild the file")
    t, _, h, w = bwd.shape
    qp = arrays.get("qp")
    if qp is not None and (qp.ndim != 3 or qp.shape[0] != t):
        raise DataError(f"{npz_path}: qp has shape {qp.shape}, expected ({t}, h/16, w/16); rebuild the file")
    for key in ("valid_bwd", "valid_fwd"):
        if key in arrays and arrays[key].shape != (t, h, w):
            raise DataError(f"{npz_path}: {key} has shape {arrays[key].shape}, expected {(t, h, w)}; rebuild it")
    return MotionClip(frames=None, mv_bwd=bwd.astype(np.float32), mv_fwd=fwd.astype(np.float32),
                      frame_types=types.astype(np.uint8), qp=qp, valid_bwd=arrays.get("valid_bwd"),
                      valid_fwd=arrays.get("valid_fwd"))
