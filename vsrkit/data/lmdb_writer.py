"""Pack a folder of clips (``<input>/<clip>/<frames>``) into an LMDB that :class:`~vsrkit.data.storage.LmdbStorage`
reads: ``data.mdb`` + ``meta_info.txt`` (``clip/00000000 (h,w,c) png|raw`` per frame), keys ``clip/00000000``.

Frames are read by a pool of worker processes (PNG input is stored as is, its shape taken from the header; other
formats are decoded and re-encoded; ``verify`` decodes everything), written
by the main process in batched transactions, into ``<output>.tmp-<pid>`` that is renamed to ``<output>`` at the end:
an interrupted run leaves nothing at ``<output>``. The ``manifest.json`` of the input (or of its parent folder) is
copied into the LMDB so that datasets can still check their options against it.
"""
from __future__ import annotations

import os
import shutil
from multiprocessing import get_context
from typing import Iterator

import numpy as np

from vsrkit.data.storage import DiskStorage, LMDB_META, decode_image, encode_png, lmdb_key, png_shape
from vsrkit.errors import DataError
from vsrkit.fileio import replace_dir
from vsrkit.folders import check_separate
from vsrkit.manifest import MANIFEST, find_manifest

COMPRESSIONS = ("png", "raw")


def list_frames(input_dir: str) -> list[tuple[str, str]]:
    """``(key, path)`` of every frame under ``input_dir``, clip by clip, frames in sorted name order.

    A folder that holds the frames of a single clip itself is packed as that one clip, named after the folder;
    frames next to clip folders are refused (they would belong to no clip)."""
    store = DiskStorage(input_dir)
    clips = store.clips()
    names = {clip: clip for clip in clips}
    if "." in clips:
        if len(clips) > 1:
            raise DataError(f"{input_dir}: holds frames of its own next to clip folders ({', '.join(clips[1:3])}...); "
                            f"move those frames into a clip folder of their own")
        names["."] = os.path.basename(os.path.realpath(input_dir))
    items = []
    for clip in clips:
        for i, path in enumerate(store.frame_files(clip)):
            items.append((lmdb_key(names[clip], i), path))
    if not items:
        raise DataError(f"{input_dir}: no image files found under it; expected <input>/<clip>/00000000.png ...")
    return items


def _encode(job: tuple[str, str, str, int, bool]) -> tuple[str, bytes, tuple[int, int, int]]:
    """Value and shape of one frame. PNG input stored as PNG is not decoded unless ``verify`` (its header gives the
    shape and its IEND chunk shows it is complete); anything else is decoded."""
    key, path, compression, level, verify = job
    with open(path, "rb") as f:
        data = f.read()
    if compression == "png" and path.lower().endswith(".png") and not verify:
        return key, data, png_shape(data, path)
    frame = decode_image(data, path)
    if compression == "raw":
        return key, np.ascontiguousarray(frame).tobytes(), frame.shape
    if not path.lower().endswith(".png"):
        data = encode_png(frame, level)
    return key, data, frame.shape


def _encoded(items, compression: str, level: int, workers: int, pool=None,
             verify: bool = False) -> Iterator[tuple[str, bytes, tuple]]:
    jobs = [(k, p, compression, level, verify) for k, p in items]
    if pool is not None:
        yield from pool.imap(_encode, jobs, chunksize=8)
        return
    if workers <= 1:
        yield from map(_encode, jobs)
        return
    with get_context("spawn").Pool(workers) as pool:
        yield from pool.imap(_encode, jobs, chunksize=8)


def make_lmdb(input_dir: str, output: str, workers: int = 2, compression: str = "png", png_level: int = 1,
              overwrite: bool = False, progress: bool = True, batch: int = 256, pool=None,
              verify: bool = False) -> int:
    """Pack ``input_dir`` into the LMDB ``output``; returns the number of frames written.

    ``pool``: an existing ``multiprocessing`` pool to read frames with (instead of starting ``workers`` processes).
    ``verify``: decode every PNG (finds corruption inside files; by default PNG input is only checked for a valid
    header and a complete end, which is enough to catch truncated copies, and stored without decoding).
    """
    import lmdb

    if compression not in COMPRESSIONS:
        raise DataError(f"--compression: '{compression}' is not one of {', '.join(COMPRESSIONS)}")
    check_separate(output, {"--input": input_dir})
    output = os.path.abspath(output)
    if os.path.exists(output) and not overwrite:
        raise DataError(f"{output}: already exists; remove it or pass --overwrite")
    items = list_frames(input_dir)
    if compression == "raw":
        first = decode_image(open(items[0][1], "rb").read(), items[0][1])
        estimate = len(items) * first.nbytes
    else:
        estimate = sum(os.path.getsize(p) for _, p in items) * 2  # re-encoded non-PNG frames may grow
    map_size = int(estimate * 1.5) + (64 << 20)
    tmp = f"{output}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    meta_lines = []
    try:
        env = lmdb.open(tmp, map_size=map_size, subdir=True, lock=True)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(items), unit="frame", desc=f"lmdb {os.path.basename(output)}")
        txn = env.begin(write=True)
        for n, (key, data, shape) in enumerate(_encoded(items, compression, png_level, workers, pool, verify), 1):
            txn.put(key.encode("ascii"), data)
            meta_lines.append(f"{key} ({shape[0]},{shape[1]},{shape[2]}) {compression}")
            if n % batch == 0:
                txn.commit()
                txn = env.begin(write=True)
            if bar is not None:
                bar.update(1)
        txn.commit()
        env.sync()
        env.close()
        if bar is not None:
            bar.close()
        with open(os.path.join(tmp, LMDB_META), "w") as f:
            f.write("\n".join(meta_lines) + "\n")
        manifest = find_manifest(input_dir)
        if manifest is not None:  # the LMDB keeps the settings its frames were made with
            shutil.copy2(manifest, os.path.join(tmp, MANIFEST))
        lock = os.path.join(tmp, "lock.mdb")
        if os.path.exists(lock):
            os.remove(lock)
        replace_dir(tmp, output)  # an old output (--overwrite) is set aside, then deleted
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return len(items)
