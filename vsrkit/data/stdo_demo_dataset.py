"""The STDO demo's data, built on first use by the dataset itself: one synthetic video (a camera moving over a
scikit-image photograph, no download), cut and labelled as STDO's pipeline would, in VSD4KDataset's layout.

The first ``num_frames`` frames are the training frames (the video the models overfit), the next
``held_out_frames`` the held-out frames (CaFM's protocol). LR frames are MATLAB-bicubic. Patch labels are the
PSNR of **bicubic** upsampling per patch: the pipeline's explicitly named fallback labeller (STDO labels with a
general SR model; ``scripts/stdo_pipeline.py labels --general-train`` does that, at minutes of CPU the demo does
not have). The training patches are split at the median into 2 chunks (chunk 0 = lowest PSNR) and the held-out
patches assigned by the edge between them.

``STDODemoDataset`` builds (or reuses) the data and reads it as a ``VSD4KDataset``: ``split: train`` gives the training
patches with their chunk id, ``split: test`` the whole held-out frames with their chunk grid. The build is atomic (a
temporary folder renamed at the end), so several processes starting at once are safe.

Layout::

    <root>/manifest.json                    settings, photo, camera, chunk edge
    <root>/HR/demo/00000000.png             HR frames (train + held-out)
    <root>/LR_bicubic/X<s>/demo/...         LR frames (+ manifest.json with the scale)
    <root>/labels.txt                       frame row col psnr
    <root>/chunks.txt                       frame row col chunk
"""
from __future__ import annotations

import os
import shutil

import numpy as np

from vsrkit.data.patch_grid import assign_chunks, bicubic_patches, chunk_edges, patch_psnr, to_patches
from vsrkit.data.vsd4k_dataset import VSD4KDataset
from vsrkit.errors import ConfigError, DataError
from vsrkit.fileio import publish_dir, write_json_atomic, write_text_atomic
from vsrkit.registry import DATASETS

SCHEMA = "vsrkit-stdo-demo/1"
PHOTO = "astronaut"
VIDEO = "demo"


def _settings(num_frames, held_out_frames, hr_size, scale, patch_grid, seed) -> dict:
    hr = [int(hr_size), int(hr_size)] if np.isscalar(hr_size) else [int(v) for v in hr_size]
    cols, rows = (int(v) for v in (patch_grid or (4, 2)))
    if len(hr) != 2 or hr[0] % (scale * rows) or hr[1] % (scale * cols) or (hr[0] // scale) % 2:
        raise ConfigError(f"stdo demo: hr_size {hr} must be divisible by scale x grid ({scale}x{rows} high, "
                          f"{scale}x{cols} wide)")
    if num_frames < 2 or held_out_frames < 1:
        raise ConfigError("stdo demo: needs num_frames >= 2 and held_out_frames >= 1")
    return {"builder": "stdo", "photo": PHOTO, "video": VIDEO, "num_frames": int(num_frames),
            "held_out_frames": int(held_out_frames), "hr_size": hr, "scale": int(scale), "patch_grid": [cols, rows],
            "seed": int(seed), "labeller": "bicubic", "num_chunks": 2}


def _matches(manifest: str, settings: dict) -> bool:
    import json

    try:
        with open(manifest) as f:
            return json.load(f).get("settings") == settings
    except (OSError, ValueError):
        return False


def build_stdo_demo(root, num_frames: int = 30, held_out_frames: int = 6, hr_size=(96, 192), scale: int = 2,
                    patch_grid=(4, 2), seed: int = 0, overwrite: bool = False) -> str:
    """Build (or reuse) the STDO demo data at ``root`` (see the module docstring); returns ``root``."""
    import torch

    from vsrkit.data.demo_builder import camera_path, load_photo, render_clip
    from vsrkit.data.storage import write_png
    from vsrkit.data.vsd4k_dataset import quantile_chunks
    from vsrkit.degrade import imresize

    root = os.path.abspath(str(root))
    settings = _settings(num_frames, held_out_frames, hr_size, scale, patch_grid, seed)
    manifest = os.path.join(root, "manifest.json")
    if os.path.exists(root):
        if _matches(manifest, settings):
            return root
        if not overwrite:
            raise DataError(f"{root}: exists but is not a STDO demo built with these settings; delete it or pass "
                            f"overwrite=True")
    tmp = f"{root}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        total = settings["num_frames"] + settings["held_out_frames"]
        photo = load_photo(PHOTO)
        cam = camera_path(np.random.default_rng(seed), total, tuple(settings["hr_size"]), photo.shape[:2])
        hr = render_clip(photo, tuple(settings["hr_size"]), *cam[:4])
        cols, rows = settings["patch_grid"]
        lines, values = [], {}
        for f, frame in enumerate(hr):
            lr = imresize(frame, 1.0 / scale)
            write_png(os.path.join(tmp, "HR", VIDEO, f"{f:08d}.png"), frame)
            write_png(os.path.join(tmp, "LR_bicubic", f"X{scale}", VIDEO, f"{f:08d}.png"), lr)
            psnr = patch_psnr(bicubic_patches(to_patches(lr, rows, cols), scale), to_patches(frame, rows, cols))
            for i, v in enumerate(psnr):
                values[(f, i // cols, i % cols)] = v
                lines.append(f"{f} {i // cols} {i % cols} {v:.6f}\n")
        write_text_atomic(os.path.join(tmp, "labels.txt"), "".join(lines))
        train = [key for key in sorted(values) if key[0] < settings["num_frames"]]
        test = [key for key in sorted(values) if key[0] >= settings["num_frames"]]
        v_train = np.array([values[key] for key in train])
        ids = quantile_chunks(v_train, 2)
        edges = chunk_edges(v_train, ids, 2)
        chunk_of = dict(zip(train, ids.tolist()))
        chunk_of.update(zip(test, assign_chunks(np.array([values[key] for key in test]), edges).tolist()))
        write_text_atomic(os.path.join(tmp, "chunks.txt"),
                          "".join(f"{f} {r} {c} {j}\n" for (f, r, c), j in sorted(chunk_of.items())))
        write_json_atomic(os.path.join(tmp, "LR_bicubic", f"X{scale}", "manifest.json"),
                          {"schema": SCHEMA, "scale": scale})
        write_json_atomic(os.path.join(tmp, "manifest.json"),
                          {"schema": SCHEMA, "tool": "vsrkit.data.stdo_demo", "settings": settings, "camera": cam[4],
                           "edges": edges, "torch": torch.__version__})
        publish_dir(tmp, root, lambda: _matches(manifest, settings))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


@DATASETS.register()
class STDODemoDataset(VSD4KDataset):
    """The STDO demo video (built at ``root`` on first use, see the module docstring) as a ``VSD4KDataset``.

    Args:
        root, num_frames, held_out_frames, hr_size, scale, patch_grid, seed: the demo data
            (:func:`build_stdo_demo`); every dataset of a run must give the same values.
        split: ``train`` (training patches, each with its chunk id) or ``test`` (whole held-out frames, each with
            its ``(rows, cols)`` chunk grid).
        route_key: the batch key of the chunk ids (``RoutedVSRModel``'s ``route.key``).
        chunk: keep one chunk's patches only (``train``), or all (None).
        test_mode: no augmentation (none is used either way, as STDO).
    """

    def __init__(self, root: str = "datasets/demo_stdo", num_frames: int = 30, held_out_frames: int = 6,
                 hr_size: list | int = (96, 192), scale: int = 2, patch_grid: list = (4, 2), seed: int = 0,
                 split: str = "train", route_key: str | None = "chunk", chunk: int | None = None,
                 test_mode: bool = False):
        if split not in ("train", "test"):
            raise ConfigError(f"STDODemoDataset.split: {split!r} is not train or test")
        build_stdo_demo(root, num_frames, held_out_frames, hr_size, scale, patch_grid, seed)
        frames = [0, num_frames] if split == "train" else [num_frames, num_frames + held_out_frames]
        super().__init__(os.path.join(root, "HR"), os.path.join(root, "LR_bicubic", f"X{scale}"), VIDEO, scale,
                         frame_range=frames, patch_grid=list(patch_grid), patches=split == "train",
                         patch_chunks_file=os.path.join(root, "chunks.txt"), chunk=chunk, route_key=route_key,
                         test_mode=test_mode or split == "test")
