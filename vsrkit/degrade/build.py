"""Build a low-resolution copy of a folder of clips (BI or BD), resumable, with a manifest of its settings.

Layout: ``<input>/<clip>/<frame>.png`` -> ``<output>/<clip>/<frame>.png`` (same names) plus ``<output>/manifest.json``::

    {"tool": "vsrkit.degrade.build", "mode": "bd_matlab", "scale": 4, "sigma": 1.6, "kernel_size": 12,
     "source": "/abs/GT_ROOT", "versions": {...}, "clips": {"000": 100, ...}, "frames": 3000, "complete": true}

Every frame is written to a temporary name in its folder and renamed, so an interrupted run leaves only whole
frames; running again with the same settings skips them. An output whose manifest records other settings is
refused (:class:`~vsrkit.errors.DataError`), so BI, ``bd_matlab`` and ``bd_duf`` data are never mixed.
"""
from __future__ import annotations

import os
from importlib import metadata

import numpy as np

from vsrkit.errors import DataError
from vsrkit.fileio import atomic_path, write_json_atomic
from vsrkit.folders import list_clips
from vsrkit.manifest import MANIFEST, read_manifest

MODES = ("bi", "bd_matlab", "bd_duf")
COMPARED = ("mode", "scale", "sigma", "kernel_size", "source")


def degrade_settings(mode: str, scale: int, sigma: float | None = None) -> dict:
    """The recorded settings of a degradation: mode, scale, sigma and kernel size (None where not used)."""
    from vsrkit.degrade.blur_downsample import _matlab_kernel_size

    if mode not in MODES:
        raise DataError(f"unknown degradation mode {mode!r}; use one of {', '.join(MODES)}")
    if int(scale) != scale or scale < 1:
        raise DataError(f"--scale must be a positive integer, got {scale}")
    scale = int(scale)
    if mode == "bi":
        if sigma is not None:
            raise DataError("--sigma applies to the BD modes only; leave it out for --mode bi")
        return {"mode": mode, "scale": scale, "sigma": None, "kernel_size": None,
                "convention": "MATLAB imresize(img, 1/scale), bicubic with antialiasing"}
    if mode == "bd_matlab":
        sigma = 1.6 if sigma is None else float(sigma)
        if scale % 2:
            raise DataError(f"--mode bd_matlab samples x(s/2:s:end-s/2) and needs an even --scale, got {scale}")
        return {"mode": mode, "scale": scale, "sigma": sigma, "kernel_size": _matlab_kernel_size(sigma),
                "convention": "fspecial gaussian, imfilter replicate, x(s/2:s:end-s/2) (MATLAB BD script)"}
    sigma = 0.4 * scale if sigma is None else float(sigma)
    return {"mode": mode, "scale": scale, "sigma": sigma, "kernel_size": 13,
            "convention": "13x13 gaussian, reflect padding, centred on HR pixel s*j (BasicSR duf_downsample)"}


def degrade_frame(img: np.ndarray, settings: dict) -> np.ndarray:
    """Apply the degradation described by ``settings`` to one HWC frame (uint8 in -> uint8 out)."""
    from vsrkit.degrade import bd_duf, bd_matlab, imresize

    if settings["mode"] == "bi":
        return imresize(img, 1 / settings["scale"])
    if settings["mode"] == "bd_matlab":
        return bd_matlab(img, settings["scale"], settings["sigma"])
    return bd_duf(img, settings["scale"], settings["sigma"], settings["kernel_size"])


def tool_versions() -> dict:
    """The project's recorded tool versions (:func:`vsrkit.codec.versions.tool_versions`) plus torch."""
    from vsrkit.codec.versions import tool_versions as base_versions

    out = base_versions()
    try:
        out["torch"] = metadata.version("torch")
    except metadata.PackageNotFoundError:
        out["torch"] = None
    return out


def check_output(output: str, settings: dict) -> dict | None:
    """Refuse an output built with other settings (or not by this tool); return its manifest, if any."""
    path = os.path.join(output, MANIFEST)
    if os.path.isfile(path):
        old = read_manifest(path, f"delete {output} or choose another --output")
        diff = [k for k in COMPARED if old.get(k) != settings.get(k)]
        if diff:
            have = ", ".join(f"{k}={old.get(k)!r}" for k in diff)
            want = ", ".join(f"{k}={settings.get(k)!r}" for k in diff)
            raise DataError(f"{path}: output was built with {have}, not {want}; choose another --output "
                            f"or delete {output}")
        return old
    if os.path.isdir(output) and any(not e.startswith(".") for e in os.listdir(output)):
        raise DataError(f"{output}: exists, is not empty and has no {MANIFEST}; choose a new or empty --output")
    return None


def _degrade_one(task: tuple[str, str, dict]) -> str:
    """Worker: read ``src``, degrade, write ``dst`` atomically; returns ``dst``. Skips an existing ``dst``."""
    import cv2

    src, dst, settings = task
    if os.path.exists(dst):
        return dst
    img = cv2.imread(src, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DataError(f"{src}: unreadable or truncated PNG; re-extract this frame")
    try:
        out = degrade_frame(img, settings)  # per-channel operations: BGR order needs no conversion
    except ValueError as exc:
        raise DataError(f"{src}: {exc}") from None
    with atomic_path(dst, keep_ext=True) as tmp:  # a .png name: cv2 picks the format by the extension
        if not cv2.imwrite(tmp, out):
            raise DataError(f"{tmp}: could not write; check free space and permissions of the output folder")
    return dst


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


def make_lr(input_root: str, output_root: str, mode: str, scale: int = 4, sigma: float | None = None,
            workers: int = 1, progress: bool = True) -> dict:
    """Degrade every frame of ``input_root`` into ``output_root``; returns the written manifest.

    Args:
        mode: ``bi`` (MATLAB bicubic), ``bd_matlab`` or ``bd_duf`` (see :mod:`vsrkit.degrade.blur_downsample`).
        sigma: Gaussian sigma of the BD modes (default 1.6 for ``bd_matlab``, ``0.4 * scale`` for ``bd_duf``).
        workers: processes; 0 or 1 works in this process.
    """
    from tqdm import tqdm

    settings = degrade_settings(mode, scale, sigma)
    settings["source"] = os.path.realpath(input_root)
    clips = list_clips(input_root)
    check_output(output_root, settings)
    manifest = {"tool": "vsrkit.degrade.build", **settings, "versions": tool_versions(),
                "clips": {c: len(f) for c, f in clips.items()}, "frames": sum(map(len, clips.values())),
                "complete": False}
    os.makedirs(output_root, exist_ok=True)
    write_json_atomic(os.path.join(output_root, MANIFEST), manifest)
    tasks = []
    for clip, frames in clips.items():
        os.makedirs(os.path.join(output_root, clip), exist_ok=True)
        tasks += [(os.path.join(input_root, clip, f), os.path.join(output_root, clip, f), settings) for f in frames]
    bar = tqdm(total=len(tasks), unit="frame", desc=f"{mode} x{settings['scale']}", disable=not progress)
    try:
        if workers <= 1:
            _init_worker()
            for task in tasks:
                _degrade_one(task)
                bar.update()
        else:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
                for _ in pool.imap_unordered(_degrade_one, tasks, chunksize=4):
                    bar.update()
    finally:
        bar.close()  # before any error line is printed
    manifest["complete"] = True
    write_json_atomic(os.path.join(output_root, MANIFEST), manifest)
    return manifest
