"""Convert a dataset source into a raw root (:mod:`vsrkit.data.storage_raw`), clip by clip, resumably.

Sources, told apart by what ``input`` holds:

- an LMDB made by ``scripts/make_lmdb.py`` (``data.mdb`` + ``meta_info.txt``; PNG or raw values);
- a folder of ``Name_WxH_N.yuv`` files (MFQEv2): ``color='y'`` keeps the native Y plane ``(t, h, w, 1)`` (what the
  ``yuv`` backend gives with ``color: y``), ``color='rgb'`` the BT.601 RGB of the ``yuv`` backend;
- a folder of motion ``<clip>.npz`` files (``dataroot_motion``): a raw *motion* root (fields keep their dtype);
- otherwise a folder of clips ``<input>/<clip>/<frames>`` (PNG...), or one clip's frames (named after the folder).

Each clip is written to a temporary name (``vsrkit.fileio.atomic_path``) and renamed; after each clip the index ``raw_info.json`` is rewritten
(atomically) with the clips done so far and ``complete: false``; the last write sets ``complete: true``. Running the
same command again after an interruption keeps the clips already done (their files and sizes are checked) and
converts the rest. The source's ``manifest.json`` is copied so that datasets still check their options.
"""
from __future__ import annotations

import json
import os
import shutil
from multiprocessing import get_context

import numpy as np

from vsrkit.data.storage import DiskStorage, LmdbStorage, YuvStorage
from vsrkit.data.storage_raw import MOTION_ARRAYS, RAW_FORMAT, RAW_INDEX, RAW_VERSION, clip_file
from vsrkit.errors import ConfigError, DataError
from vsrkit.fileio import atomic_path, write_json_atomic
from vsrkit.folders import check_separate
from vsrkit.manifest import MANIFEST, find_manifest

COLORS = ("rgb", "y")


def detect_source(input_dir: str) -> str:
    """``lmdb``, ``yuv``, ``motion`` or ``disk``: the kind of source ``input_dir`` is."""
    if not os.path.isdir(input_dir):
        raise DataError(f"--input: {input_dir} is not a folder; give a folder of clips, an LMDB, a folder of YUV "
                        f"files or a folder of motion .npz files")
    if os.path.isfile(os.path.join(input_dir, "data.mdb")):
        return "lmdb"
    names = os.listdir(input_dir)
    if any(n.endswith(".yuv") for n in names):
        return "yuv"
    if any(n.endswith(".npz") for n in names) or any(
            f.endswith(".npz") for _, _, files in os.walk(input_dir) for f in files):
        return "motion"
    return "disk"


def open_source(input_dir: str, kind: str, color: str):
    """``(storage or None, {raw clip name: source clip name})`` of a source of ``kind``."""
    if kind == "lmdb":
        store = LmdbStorage(input_dir)
        return store, {c: c for c in store.clips()}
    if kind == "yuv":
        store = YuvStorage(input_dir, color=color)
        return store, {c: c for c in store.clips()}
    if kind == "motion":
        clips = {}
        for dirpath, dirnames, files in os.walk(input_dir):
            dirnames.sort()
            for f in sorted(files):
                if f.endswith(".npz"):
                    rel = os.path.relpath(os.path.join(dirpath, f[:-4]), input_dir).replace(os.sep, "/")
                    clips[rel] = rel
        return None, clips
    store = DiskStorage(input_dir)
    found = store.clips()
    if "." in found:
        if len(found) > 1:
            raise DataError(f"{input_dir}: holds frames of its own next to clip folders ({', '.join(found[1:3])}...); "
                            f"move those frames into a clip folder of their own")
        return store, {os.path.basename(os.path.realpath(input_dir)): "."}
    if not found:
        raise DataError(f"{input_dir}: no image files found under it; expected <input>/<clip>/00000000.png ...")
    return store, {c: c for c in found}


def clip_bytes(store, kind: str, input_dir: str, source_clip: str) -> int:
    """Bytes the raw files of one clip take (for the disk-space check before converting)."""
    if kind == "motion":
        with np.load(os.path.join(input_dir, *source_clip.split("/")) + ".npz") as data:
            t, _, h, w = data["mv_bwd"].shape  # header only
            per = 2 * 2 * 2 * h * w + 2 * h * w + -(-h // 16) * -(-w // 16)
            return int(t * per)
    t = store.num_frames(source_clip)
    if isinstance(store, DiskStorage):
        h, w, c = store.frame_shape(source_clip)
    else:
        h, w, c = store.read(source_clip, 0).shape
    return t * h * w * c


def _write_npy(path: str, array: np.ndarray) -> None:
    """``array`` as a .npy file at ``path``, written to a temporary name and renamed."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array, allow_pickle=False)


def _convert_frames(store, source_clip: str, path: str) -> dict:
    """Write every frame of ``source_clip`` into ``path`` as one ``(t, h, w, c)`` uint8 .npy; its index entry."""
    t = store.num_frames(source_clip)
    first = store.read(source_clip, 0)
    shape = (t, *first.shape)
    with atomic_path(path) as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        arr[0] = first
        for i in range(1, t):
            frame = store.read(source_clip, i)
            if frame.shape != first.shape:
                raise DataError(f"{store.describe(source_clip)}: frame {i} is {frame.shape[1]}x{frame.shape[0]}, "
                                f"frame 0 {first.shape[1]}x{first.shape[0]}; a clip must keep one size")
            arr[i] = frame
        arr.flush()
        del arr
    return {"shape": list(shape)}


def _convert_motion(npz_path: str, output: str, clip: str) -> dict:
    """Write the arrays of one motion npz as raw .npy files (dtypes kept); its index entry."""
    from vsrkit.codec import load_motion

    motion = load_motion(npz_path)  # validates keys and shapes
    t, _, h, w = motion.mv_bwd.shape
    arrays = []
    with np.load(npz_path, allow_pickle=False) as data:
        for name in MOTION_ARRAYS:
            if name not in data.files:
                continue
            value = data[name]
            if name in ("mv_bwd", "mv_fwd") and value.dtype != np.float16:
                raise DataError(f"{npz_path}: {name} is {value.dtype}, the raw motion format keeps float16 fields "
                                f"(as vsrkit.codec.save_motion writes them); re-save the motion file")
            _write_npy(clip_file(output, clip, name), np.ascontiguousarray(value))
            arrays.append(name)
    return {"frames": int(t), "height": int(h), "width": int(w),
            "frame_types": [int(v) for v in motion.frame_types], "arrays": arrays}


def _job(job: tuple) -> tuple[str, dict]:
    kind, input_dir, color, output, clip, source_clip = job
    if kind == "motion":
        return clip, _convert_motion(os.path.join(input_dir, *source_clip.split("/")) + ".npz", output, clip)
    store, _ = open_source(input_dir, kind, color) if kind != "disk" else (DiskStorage(input_dir), None)
    return clip, _convert_frames(store, source_clip, clip_file(output, clip))


def _entry_files(output: str, clip: str, entry: dict, kind: str) -> list[tuple[str, int | None]]:
    if kind == "motion":
        return [(clip_file(output, clip, a), None) for a in entry.get("arrays", [])]
    return [(clip_file(output, clip), int(np.prod(entry["shape"])))]


def _entry_ok(output: str, clip: str, entry: dict, kind: str) -> bool:
    """The files of a clip done by an earlier run exist and hold the data size the index says."""
    try:
        for path, nbytes in _entry_files(output, clip, entry, kind):
            if not os.path.isfile(path):
                return False
            if nbytes is not None and os.path.getsize(path) < nbytes:
                return False
        return True
    except (KeyError, TypeError, ValueError):
        return False


def _write_index(output: str, index: dict) -> None:
    write_json_atomic(os.path.join(output, RAW_INDEX), index)


def make_raw(input_dir: str, output: str, workers: int = 2, color: str = "rgb", overwrite: bool = False,
             progress: bool = True, pool=None) -> int:
    """Convert ``input_dir`` into the raw root ``output`` (resuming an interrupted run); returns the clip count.

    ``color``: for YUV sources, ``rgb`` or ``y`` (native Y plane); other sources keep their RGB.
    ``pool``: an existing ``multiprocessing`` pool (instead of starting ``workers`` processes).
    """
    if color not in COLORS:
        raise ConfigError(f"--color: '{color}' is not one of {', '.join(COLORS)}")
    check_separate(output, {"--input": input_dir})
    input_dir, output = os.path.abspath(input_dir), os.path.abspath(output)
    source_kind = detect_source(input_dir)
    kind = "motion" if source_kind == "motion" else "frames"
    store, clips = open_source(input_dir, source_kind, color)
    settings = {"source": input_dir, "source_kind": source_kind, "color": color if source_kind == "yuv" else "rgb"}
    index_path = os.path.join(output, RAW_INDEX)
    done: dict = {}
    if os.path.exists(output):
        previous = None
        if os.path.isfile(index_path):
            try:
                with open(index_path) as f:
                    previous = json.load(f)
            except (OSError, json.JSONDecodeError):
                previous = None
        if overwrite:
            shutil.rmtree(output)
        elif previous is None or previous.get("format") != RAW_FORMAT:
            if os.listdir(output):
                raise DataError(f"{output}: exists and is not a raw root; remove it or pass --overwrite")
        elif previous.get("complete"):
            raise DataError(f"{output}: already exists (complete); remove it or pass --overwrite")
        elif {k: previous.get(k) for k in settings} != settings or previous.get("kind") != kind:
            raise DataError(f"{output}: an unfinished conversion of another source or color "
                            f"({previous.get('source')}, {previous.get('color')}); pass --overwrite to start over")
        else:  # resume: keep the clips whose files are complete
            done = {c: e for c, e in previous.get("clips", {}).items()
                    if c in clips and _entry_ok(output, c, e, kind)}
    os.makedirs(output, exist_ok=True)
    for dirpath, _, files in os.walk(output):  # leftovers of an interrupted run
        for f in files:
            if ".tmp-" in f:
                os.remove(os.path.join(dirpath, f))
    todo = [c for c in clips if c not in done]
    need = sum(clip_bytes(store, source_kind, input_dir, clips[c]) for c in todo)
    free = shutil.disk_usage(output).free
    if need > free:
        raise DataError(f"{output}: the raw clips need {need / 1e9:.1f} GB and the disk has {free / 1e9:.1f} GB free; "
                        f"free space or choose another --output (LMDB with PNG values is ~3-4x smaller)")
    index = {"format": RAW_FORMAT, "version": RAW_VERSION, "kind": kind, "complete": False,
             "total_clips": len(clips), "clips": dict(done), **settings}
    _write_index(output, index)
    jobs = [(source_kind, input_dir, color, output, c, clips[c]) for c in todo]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(clips), initial=len(done), unit="clip", desc=f"raw {os.path.basename(output)}")

    def results():
        if pool is not None:
            yield from pool.imap_unordered(_job, jobs)
        elif workers <= 1 or len(jobs) <= 1:
            yield from map(_job, jobs)
        else:
            with get_context("spawn").Pool(min(workers, len(jobs))) as own:
                yield from own.imap_unordered(_job, jobs)

    for clip, entry in results():
        index["clips"][clip] = entry
        _write_index(output, index)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    manifest = find_manifest(input_dir)
    if manifest is not None:  # the root keeps the settings its data were made with
        shutil.copy2(manifest, os.path.join(output, MANIFEST))
    index["complete"] = True
    index["clips"] = dict(sorted(index["clips"].items()))
    _write_index(output, index)
    return len(clips)
