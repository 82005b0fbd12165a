"""True camera motion of the generated demo clips, on the LR grid, for measuring codec motion against it.

The demo builder (:mod:`vsrkit.data.demo_builder`) renders frame ``t`` by sampling the (downscaled) photograph at
``S_t(p) = M_t p + c_t - M_t o`` for HR pixel ``p``, with ``M_t = zoom_t R(angle_t)`` and ``o`` the window centre
(:func:`vsrkit.data.demo_builder.render_clip`). The scene point seen at ``p`` in frame ``t`` is therefore at
``S_u^-1(S_t(p))`` in frame ``u``: the true flow is an exact affine map per frame pair.

File: ``<root>/<split>/true_flow/<clip>.npz`` with ``flow_bwd``, ``flow_fwd`` ``(t, 2, h, w)`` float32 in LR pixels,
channel 0 = x, in the convention of ``vsrkit.codec.read_motion`` (``flow_bwd[t]``: where each LR pixel of frame t is
in frame t-1; ``flow_fwd[t]``: in frame t+1). ``flow_bwd[0]`` and ``flow_fwd[t-1]`` have no neighbour and are 0.
"""
from __future__ import annotations

import os

import numpy as np

from vsrkit.errors import DataError
from vsrkit.fileio import atomic_path

FOLDER = "true_flow"


def lr_pixel_centres(lh: int, lw: int, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """HR coordinates ``(x, y)``, each ``(lh, lw)`` float64, of the LR pixel centres: LR pixel ``q`` has its centre
    at HR ``scale * q + (scale - 1) / 2`` (MATLAB bicubic)."""
    qy, qx = np.meshgrid(np.arange(lh, dtype=np.float64), np.arange(lw, dtype=np.float64), indexing="ij")
    return qx * scale + (scale - 1) / 2.0, qy * scale + (scale - 1) / 2.0


def true_flow(centres, zooms, angles, hr_hw, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """``(flow_bwd, flow_fwd)``, each ``(t, 2, h // scale, w // scale)`` float32 LR pixels (module docstring).

    Args:
        centres: ``(t, 2)`` window centres (x, y) in source pixels; zooms ``(t,)``; angles ``(t,)`` radians, as
            returned by :func:`vsrkit.data.demo_builder.camera_path`.
        hr_hw: HR frame size ``(h, w)``.
        scale: LR downscaling factor (:func:`lr_pixel_centres`); LR displacements are HR displacements divided by
            ``scale``.
    """
    h, w = int(hr_hw[0]), int(hr_hw[1])
    lh, lw = h // scale, w // scale
    p = np.stack(lr_pixel_centres(lh, lw, scale)).reshape(2, -1)  # (2, n) HR xy
    o = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    mats = [float(z) * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) for z, a in zip(zooms, angles)]
    offs = [np.asarray(c, np.float64) - m @ o for c, m in zip(centres, mats)]
    t = len(mats)
    flows = np.zeros((2, t, 2, lh, lw), np.float32)
    for i in range(t):
        seen = mats[i] @ p + offs[i][:, None]
        for d, u in ((0, i - 1), (1, i + 1)):
            if 0 <= u < t:
                there = np.linalg.solve(mats[u], seen - offs[u][:, None])
                flows[d, i] = ((there - p) / scale).reshape(2, lh, lw)
    return flows[0], flows[1]


def true_flow_path(split_root: str, clip: str) -> str:
    return os.path.join(split_root, FOLDER, f"{clip}.npz")


def save_true_flow(path: str, flow_bwd: np.ndarray, flow_fwd: np.ndarray) -> None:
    """Write ``flow_bwd``/``flow_fwd`` to ``path`` (npz, atomically)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, flow_bwd=np.asarray(flow_bwd, np.float32), flow_fwd=np.asarray(flow_fwd, np.float32))


def load_true_flow(path: str) -> tuple[np.ndarray, np.ndarray]:
    """``(flow_bwd, flow_fwd)`` from a file written by :func:`save_true_flow`."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: no true flow; rebuild the demo data with the current vsrkit.data.demo_builder "
                        f"(it writes <split>/{FOLDER}/<clip>.npz)")
    with np.load(path, allow_pickle=False) as data:
        if "flow_bwd" not in data.files or "flow_fwd" not in data.files:
            raise DataError(f"{path}: lacks flow_bwd/flow_fwd; rebuild the demo data")
        return data["flow_bwd"], data["flow_fwd"]
