"""The space-time demo's data, built on first use by the dataset itself: clips of a camera moving over photographs
shipped with scikit-image (no download), HR frames and their MATLAB-bicubic (BI) LR frames, for 4 -> 7 space-time SR.

Each clip follows a smooth random camera path (pan, zoom, rotation, shake; ``vsrkit.data.demo_builder``), sampled
every ``frame_step`` path steps so that the motion between frames is ``frame_step`` times the demo builder's
(0.5-6 HR px per step: 1-12 HR px per frame at the default 2). Validation clips use photographs no training clip
uses. Items are read like ``VideoFolderDataset`` with ``drop_even_frames``: training windows of ``num_frame`` frames
(LQ = frames 0, 2, 4, 6, GT = all), test items whole clips.

Layout (built in ``<root>.tmp-<pid>`` and renamed at the end, so concurrent starts are safe)::

    <root>/manifest.json                     settings, clips, photos, camera paths
    <root>/<split>/gt/<clip>/00000000.png    HR, RGB
    <root>/<split>/lq/<clip>/00000000.png    BI x scale (+ <root>/<split>/lq/manifest.json: mode bi, scale)
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np

from vsrkit.data.video_base import VideoClipDataset
from vsrkit.errors import ConfigError, DataError
from vsrkit.registry import DATASETS

SCHEMA = "vsrkit-stvsr-demo/1"
SPLITS = ("train", "val")


def _settings(num_train_clips, num_val_clips, num_frames, hr_size, scale, frame_step, seed) -> dict:
    hr = [int(hr_size), int(hr_size)] if np.isscalar(hr_size) else [int(v) for v in hr_size]
    if len(hr) != 2 or hr[0] % scale or hr[1] % scale:
        raise ConfigError(f"space-time demo: hr_size {hr_size} must be divisible by scale={scale}")
    if num_train_clips < 1 or num_val_clips < 1:
        raise ConfigError("space-time demo: needs num_train_clips >= 1 and num_val_clips >= 1")
    if num_frames < 7 or num_frames % 2 == 0:
        raise ConfigError(f"space-time demo: num_frames ({num_frames}) must be odd and >= 7 (4 LR frames -> 7)")
    if frame_step < 1:
        raise ConfigError(f"space-time demo: frame_step ({frame_step}) must be >= 1")
    return {"num_train_clips": int(num_train_clips), "num_val_clips": int(num_val_clips),
            "num_frames": int(num_frames), "hr_size": hr, "scale": int(scale), "frame_step": int(frame_step),
            "seed": int(seed), "degradation": "bi_matlab_imresize"}


def _matches(root: str, settings: dict) -> bool:
    try:
        with open(os.path.join(root, "manifest.json")) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return False
    return manifest.get("schema") == SCHEMA and manifest.get("settings") == settings


def build_stvsr_demo(root, num_train_clips: int = 24, num_val_clips: int = 3, num_frames: int = 9,
                     hr_size=96, scale: int = 4, frame_step: int = 2, seed: int = 0, overwrite: bool = False) -> str:
    """Build (or reuse) the space-time demo data at ``root`` (see the module docstring); returns ``root``."""
    from vsrkit.data.demo_builder import TRAIN_PHOTOS, VAL_PHOTOS, camera_path, load_photo, render_clip
    from vsrkit.data.storage import write_png
    from vsrkit.degrade import imresize
    from vsrkit.fileio import publish_dir, write_json_atomic

    root = os.path.abspath(str(root))
    settings = _settings(num_train_clips, num_val_clips, num_frames, hr_size, scale, frame_step, seed)
    if os.path.exists(root):
        if _matches(root, settings):
            return root
        if not overwrite:
            raise DataError(f"{root}: exists but is not a space-time demo built with these settings; delete it, "
                            f"choose another root, or pass overwrite=True")
    tmp = f"{root}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    rng = np.random.default_rng(seed)
    hw = tuple(settings["hr_size"])
    steps = (num_frames - 1) * frame_step + 1
    clips, photos = {}, {}
    try:
        for split, names, count in (("train", TRAIN_PHOTOS, num_train_clips), ("val", VAL_PHOTOS, num_val_clips)):
            order = [names[i] for i in rng.permutation(len(names))]
            for k in range(count):
                photo_name = order[k % len(order)]
                clip = f"{k:03d}_{photo_name}"
                if photo_name not in photos:
                    photos[photo_name] = load_photo(photo_name)
                cam = camera_path(np.random.default_rng(rng.integers(0, 2 ** 31)), steps, hw,
                                  photos[photo_name].shape[:2])
                hr = render_clip(photos[photo_name], hw, *cam[:4])[::frame_step]
                for i, frame in enumerate(hr):
                    write_png(os.path.join(tmp, split, "gt", clip, f"{i:08d}.png"), frame)
                    write_png(os.path.join(tmp, split, "lq", clip, f"{i:08d}.png"), imresize(frame, 1.0 / scale))
                clips.setdefault(split, {})[clip] = {"photo": photo_name, "camera": cam[4]}
            write_json_atomic(os.path.join(tmp, split, "lq", "manifest.json"),
                              {"tool": "vsrkit.data.stvsr_demo", "mode": "bi", "scale": settings["scale"]})
        write_json_atomic(os.path.join(tmp, "manifest.json"),
                          {"schema": SCHEMA, "tool": "vsrkit.data.stvsr_demo", "settings": settings, "clips": clips})
        publish_dir(tmp, root, lambda: _matches(root, settings))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


@DATASETS.register()
class SpaceTimeDemoDataset(VideoClipDataset):
    """The space-time demo clips (built at ``root`` on first use, see the module docstring), LQ = even frames.

    Args:
        root, num_train_clips, num_val_clips, num_frames, hr_size, scale, frame_step, seed: the demo data
            (:func:`build_stvsr_demo`); every dataset of a run must give the same values.
        split: ``train`` or ``val`` (held-out photographs).
        num_frame: frames per training window (7: LQ frames 0, 2, 4, 6 -> GT 0..6); test items are whole clips.
        gt_size, use_hflip, use_rot, use_temporal_flip: training crop and augmentation (:class:`VideoClipDataset`).
        test_mode: whole clips, no augmentation.
    """

    def __init__(self, root: str = "datasets/demo_stvsr", num_train_clips: int = 24, num_val_clips: int = 3,
                 num_frames: int = 9, hr_size: int | list = 96, scale: int = 4, frame_step: int = 2, seed: int = 0,
                 split: str = "train", num_frame: int | None = 7, gt_size: int | None = None, use_hflip: bool = True,
                 use_rot: bool = True, use_temporal_flip: bool = True, test_mode: bool = False):
        if split not in SPLITS:
            raise ConfigError(f"SpaceTimeDemoDataset.split: {split!r} is not one of {', '.join(SPLITS)}")
        build_stvsr_demo(root, num_train_clips, num_val_clips, num_frames, hr_size, scale, frame_step, seed)
        base = os.path.join(os.path.abspath(root), split)
        super().__init__(dataroot_gt=os.path.join(base, "gt"), dataroot_lq=os.path.join(base, "lq"), scale=scale,
                         num_frame=None if test_mode else num_frame, gt_size=gt_size, use_hflip=use_hflip,
                         use_rot=use_rot, use_temporal_flip=use_temporal_flip, test_mode=test_mode,
                         drop_even_frames=True)
