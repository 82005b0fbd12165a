"""The RCVSR demo's data: raw YUV 4:2:0 sequences rendered from scikit-image's photographs, coded with RCVSR's pipeline.

Each sequence is a window moving over one photograph (the MV-VSR demo's camera paths, :mod:`vsrkit.data.demo_builder`),
written as ``Name_WxH_N.yuv``; then :mod:`vsrkit.data.rcvsr_codec` codes it as RCVSR's data: key frames (every 4th)
at full resolution at ``qp + 5``, the other frames x2-down at ``qp``, HEVC low-delay P (x265 CLI with HM's QP cascade,
or HM). Layout (``train`` and ``val`` splits; validation photographs are never used for training)::

    <root>/<split>/raw/Seq000_WxH_N.yuv         HR originals (GT)
    <root>/<split>/KEY_QP<qp+5>/...             decoded key frames (dataroot_key)
    <root>/<split>/LR_QP<qp>/...                LR frames, key slots = downscaled decoded key frames (dataroot_lq)
    <root>/settings.json                        the settings; a root built with others is refused

Built in ``<root>.tmp-<pid>`` and renamed at the end. Command line: ``python -m vsrkit.data.rcvsr_demo --root R``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

import numpy as np

from vsrkit.errors import ConfigError, DataError
from vsrkit.fileio import replace_dir, write_json_atomic

SCHEMA = "vsrkit-rcvsr-demo/1"


def _render(split: str, photos: tuple, count: int, num_frames: int, hr: int, rng: np.random.Generator, out: str):
    from vsrkit.data.demo_builder import camera_path, load_photo, render_clip
    from vsrkit.data.storage import write_yuv420, yuv_file_name

    os.makedirs(out, exist_ok=True)
    for i in range(count):
        photo = load_photo(photos[i % len(photos)])
        source_scale, centres, zooms, angles, _ = camera_path(rng, num_frames, (hr, hr), photo.shape[:2])
        frames = render_clip(photo, (hr, hr), source_scale, centres, zooms, angles)
        write_yuv420(os.path.join(out, yuv_file_name(f"{split}{i:03d}", hr, hr, num_frames)), frames)


def build_rcvsr_demo(root, num_train_clips: int = 12, num_val_clips: int = 3, num_frames: int = 9,
                     hr_size: int = 96, qp: int = 32, seed: int = 0, preset: str = "ultrafast",
                     overwrite: bool = False, progress: bool = False) -> str:
    """Build (or reuse) the RCVSR demo data at ``root``; returns ``root``.

    Args:
        num_train_clips, num_val_clips: sequences per split; num_frames: frames per sequence.
        hr_size: square HR size, a multiple of 16 (LR = hr_size / 2, a multiple of 8 as the published net needs).
        qp: LR QP; key frames at ``qp + 5``. preset: x265 preset.
        seed: photos order and camera paths derive from it.
    Raises:
        ConfigError: bad sizes or a missing encoder. DataError: ``root`` holds something else (unless ``overwrite``).
    """
    from vsrkit.codec.yuv_hevc import resolve_backend
    from vsrkit.data.demo_builder import TRAIN_PHOTOS, VAL_PHOTOS
    from vsrkit.data.rcvsr_codec import make_keyframes, make_lr

    if hr_size % 16 or hr_size < 32:
        raise ConfigError(f"demo_data.hr_size: {hr_size} must be a multiple of 16 and >= 32")
    if num_frames < 2 or num_train_clips < 1 or num_val_clips < 1:
        raise ConfigError("demo_data: needs num_frames >= 2 and at least one clip per split")
    root = os.path.abspath(str(root))
    settings = {"schema": SCHEMA, "num_train_clips": num_train_clips, "num_val_clips": num_val_clips,
                "num_frames": num_frames, "hr_size": hr_size, "qp": qp, "seed": seed, "preset": preset}
    path = os.path.join(root, "settings.json")
    if os.path.exists(root):
        try:
            with open(path) as f:
                same = json.load(f).get("settings") == settings
        except (OSError, ValueError):
            same = False
        if same:
            return root
        if not overwrite:
            raise DataError(f"{root}: exists but is not an RCVSR demo built with these settings; delete it or choose "
                            f"another root")
    encoder = resolve_backend("auto")
    tmp = f"{root}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    rng = np.random.default_rng(seed)
    try:
        for split, photos, count in (("train", TRAIN_PHOTOS, num_train_clips), ("val", VAL_PHOTOS, num_val_clips)):
            raw = os.path.join(tmp, split, "raw")
            _render(split, photos, count, num_frames, hr_size, rng, raw)
            keys = os.path.join(tmp, split, f"KEY_QP{qp + 5}")
            make_keyframes(raw, keys, qp + 5, encoder, progress=progress, preset=preset)
            make_lr(raw, keys, os.path.join(tmp, split, f"LR_QP{qp}"), qp, encoder, progress=progress,
                    preset=preset)
        write_json_atomic(os.path.join(tmp, "settings.json"), {"settings": settings, "encoder": encoder["label"]})
        replace_dir(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True)
    parser.add_argument("--qp", type=int, default=32)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    print(build_rcvsr_demo(args.root, qp=args.qp, overwrite=args.overwrite, progress=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
