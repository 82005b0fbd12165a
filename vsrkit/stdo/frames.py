"""Stage 1: a video (or a folder of frames) -> HR frames of its first N seconds (+ held-out frames) and
MATLAB-bicubic LR frames per scale, in VSD4KDataset's layout.

HR frames are cropped (top-left kept) to the largest size that every scale's patch grid divides exactly
(``scale * cols`` wide, ``scale * rows`` high); 1080x1920 needs no crop for STDO's grids (x2 20x10, x4 10x5, x3
20x10). The first ``round(seconds * fps)`` frames are the training frames (VSD4K: 450 for 15 s at 30 fps);
``held_out`` further frames are kept for CaFM's held-out protocol (451-495 of a 15 s video: ``held_out: 45``).
"""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vsrkit.data.storage import read_png, write_png
from vsrkit.errors import ConfigError, DataError
from vsrkit.stdo.workdir import WorkDir, check_settings, frame_name, write_record

log = logging.getLogger("vsrkit")

#: STDO's patch grids ``(cols, rows)`` per scale; x3 has no published grid (20x10 gives x2's HR patch size)
DEFAULT_GRIDS = {2: (20, 10), 3: (20, 10), 4: (10, 5)}
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def grids_for(scales, grids: dict | None) -> dict[int, tuple[int, int]]:
    """``{scale: (cols, rows)}``: the given grids, else STDO's defaults."""
    out = {}
    for s in scales:
        g = (grids or {}).get(s) or DEFAULT_GRIDS.get(int(s))
        if g is None:
            raise ConfigError(f"scale {s}: no default patch grid; give --grid X{s}=COLSxROWS")
        out[int(s)] = (int(g[0]), int(g[1]))
    return out


def crop_size(h: int, w: int, grids: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """The largest ``(h', w') <= (h, w)`` that every ``scale * grid`` divides."""
    my = math.lcm(*(s * rows for s, (cols, rows) in grids.items()))
    mx = math.lcm(*(s * cols for s, (cols, rows) in grids.items()))
    ch, cw = h // my * my, w // mx * mx
    if ch == 0 or cw == 0:
        raise DataError(f"frames of {w}x{h} are smaller than one patch grid cell at every scale (needs a multiple "
                        f"of {mx}x{my}); use smaller --grid values")
    return ch, cw


def _source_frames(source: str):
    """``(fps, count or 0, iterator of (h, w, 3) uint8 RGB)`` of a video file or a folder of images."""
    if os.path.isdir(source):
        from vsrkit.data.prepare import natural_key

        files = sorted((f for f in os.listdir(source) if f.lower().endswith(IMAGE_EXTS)), key=natural_key)
        if not files:
            raise DataError(f"{source}: no image files; give a video file or a folder of frames")
        return 0.0, len(files), (read_png(os.path.join(source, f)) for f in files)
    from vsrkit.codec.decode import DecodeStream

    stream = DecodeStream(source, frames=True, qp=False)
    return stream.fps, stream.frame_count, (rec["rgb"] for rec in stream)


def extract_frames(work: str, source: str, scales=(2, 4), seconds: float | None = 15, held_out: int = 0,
                   fps: float | None = None, name: str | None = None, grids: dict | None = None,
                   overwrite: bool = False, progress: bool = True) -> dict:
    """Run the frames stage (see the module docstring); returns the stage record.

    Args:
        work: the work folder. source: a video file PyAV reads, or a folder of frame images (needs ``fps``).
        scales: LR scales to make. seconds: training length (None: every frame but the held-out ones).
        held_out: frames after the training frames, kept for the held-out protocol.
        fps: frame rate (default: the video's). name: the video's name (default: the file's stem).
        grids: ``{scale: (cols, rows)}`` (default STDO's). overwrite: redo a stage made with other settings.
    """
    from vsrkit.degrade import imresize

    wd = WorkDir(work)
    scales = sorted({int(s) for s in scales})
    if not scales or min(scales) < 2:
        raise ConfigError(f"--scales {scales}: give one or more integer scales >= 2")
    grids = grids_for(scales, grids)
    name = name or Path(source.rstrip("/")).stem
    if held_out < 0 or (seconds is not None and seconds <= 0):
        raise ConfigError("--seconds must be > 0 and --held-out >= 0")
    settings = {"source": os.path.abspath(source), "video": name, "scales": scales, "seconds": seconds,
                "held_out": int(held_out), "fps": fps, "grids": {str(s): list(g) for s, g in grids.items()}}
    record = check_settings(wd.manifest, settings, overwrite, "frames")
    if record and record.get("done"):
        log.info("frames: %s is up to date (%d frames)", wd.root, record["num_frames"])
        return record
    src_fps, count, frames = _source_frames(source)
    rate = fps or src_fps
    if seconds is not None:
        if not rate:
            raise ConfigError(f"{source}: frame rate unknown; give --fps")
        train = int(round(seconds * rate))
    else:
        if not count:
            raise ConfigError(f"{source}: frame count unknown; give --seconds")
        train = count - held_out
    total = train + held_out
    if train < 1:
        raise ConfigError(f"{source}: no training frames (seconds={seconds}, held_out={held_out})")
    write_record(wd.manifest, "frames", settings, False)
    hr_dir, size, first = wd.hr / name, None, None
    done = 0
    bar = tqdm(total=total, desc="frames", unit="frame", disable=not progress)
    for i, rgb in enumerate(frames):
        if i >= total:
            break
        if size is None:
            first = rgb.shape[:2]
            size = crop_size(first[0], first[1], grids)
        if rgb.shape[:2] != first:
            raise DataError(f"{source}: frame {i} is {rgb.shape[1]}x{rgb.shape[0]}, frame 0 is {first[1]}x{first[0]}; "
                            f"all frames of a video must have one size")
        paths = [hr_dir / frame_name(i)] + [wd.lr(s) / name / frame_name(i) for s in scales]
        if not all(p.is_file() for p in paths):  # resume: frames already written are kept
            hr = np.ascontiguousarray(rgb[:size[0], :size[1]])
            write_png(str(paths[0]), hr)
            for s, p in zip(scales, paths[1:]):
                write_png(str(p), imresize(hr, 1.0 / s))
        done += 1
        bar.update(1)
    bar.close()
    if done < total:
        raise DataError(f"{source}: {done} frames, but {train} training + {held_out} held-out frames were asked; "
                        f"lower --seconds or --held-out")
    for s in scales:  # VSD4KDataset checks the scale of its LR root against this
        write_record(wd.lr(s) / "manifest.json", "frames", settings, True, scale=s)
    return write_record(wd.manifest, "frames", settings, True, video=name, fps=rate, num_frames=total,
                        train_frames=[0, train], test_frames=[train, total], hr_size=[size[0], size[1]],
                        lr_sizes={str(s): [size[0] // s, size[1] // s] for s in scales})
