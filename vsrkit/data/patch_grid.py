"""STDO's patch grid helpers shared by the pipeline (``vsrkit.stdo``) and the demo data: frames cut into patches,
per-patch PSNR labels, and chunk ids from quantile edges (``quantile_chunks`` lives with VSD4KDataset)."""
from __future__ import annotations

import math

import numpy as np
import torch


def to_patches(frame: np.ndarray, rows: int, cols: int) -> torch.Tensor:
    """``(h, w, 3)`` uint8 -> ``(rows*cols, 3, h/rows, w/cols)`` float in [0, 1], row-major."""
    h, w, c = frame.shape
    t = torch.from_numpy(np.ascontiguousarray(frame)).float().div_(255)
    t = t.reshape(rows, h // rows, cols, w // cols, c).permute(0, 2, 4, 1, 3)
    return t.reshape(rows * cols, c, h // rows, w // cols)


def patch_psnr(sr: torch.Tensor, hr: torch.Tensor) -> list[float]:
    """PSNR (dB, peak 255) of each of ``(n, c, h, w)`` outputs in [0, 1] (rounded to 8 bits) against 8-bit GT."""
    a = (sr.clamp(0, 1) * 255).round().double()
    b = (hr * 255).round().double()
    mse = ((a - b) ** 2).flatten(1).mean(1)
    return [float("inf") if m == 0 else 10 * math.log10(255.0 ** 2 / float(m)) for m in mse]


def bicubic_patches(lq: torch.Tensor, scale: int) -> torch.Tensor:
    """``(n, 3, h, w)`` -> bicubic ``(n, 3, sh, sw)`` clamped to [0, 1] (the explicit fallback labeller)."""
    return torch.nn.functional.interpolate(lq, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)


def chunk_edges(values: np.ndarray, ids: np.ndarray, k: int) -> list[float]:
    """Midpoints between the top of chunk j and the bottom of chunk j+1 (k-1 values, ascending)."""
    return [float((values[ids == j].max() + values[ids == j + 1].min()) / 2) for j in range(k - 1)]


def assign_chunks(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Chunk of each value by the edges: the number of edges strictly below it."""
    return np.searchsorted(np.asarray(edges, np.float64), values, side="left").astype(np.int64)
