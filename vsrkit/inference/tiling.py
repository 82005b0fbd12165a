"""Where tiles and chunks go, and how their outputs are weighted.

Spatial tiles cover an axis of ``size`` LR pixels with windows of ``tile`` pixels that overlap by at least
``overlap``; their starts are spread evenly so that the first touches 0 and the last touches ``size``. Temporal
chunks cover ``t`` frames with cores of ``chunk`` frames, each run with ``overlap`` extra context frames on both sides
that are discarded.

Output weights (per axis, at HR resolution, separable; they sum to exactly 1 at every pixel):

* ``crop``: every output pixel comes from exactly one tile, the one whose border is farthest: the boundary between
  two neighbouring tiles is the middle of their overlap, so a kept pixel is at least ``overlap / 2`` LR pixels away
  from the border of the tile that computed it (unless it lies on the image border, where there is no other choice).
* ``blend``: a linear cross-fade over the middle half of each overlap (the outer quarters are discarded as in
  ``crop``); a kept pixel is at least ``overlap / 4`` LR pixels from its tile's border, and seams are smoothed.
"""
from __future__ import annotations

import math
from typing import Iterable, Iterator

import torch

from vsrkit.errors import ConfigError

TILE_MODES = ("blend", "crop")


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start positions of the tiles along one axis: ``[0, ..., size - tile]``, consecutive tiles overlapping by
    at least ``overlap``. A tile at least as large as ``size`` gives one window ``[0]`` (of length ``size``)."""
    if tile <= 0 or overlap < 0:
        raise ConfigError(f"tiling: tile ({tile}) must be > 0 and tile_overlap ({overlap}) >= 0")
    if tile >= size:
        return [0]
    if overlap >= tile:
        raise ConfigError(f"tiling: tile_overlap ({overlap}) must be smaller than the tile ({tile}); "
                          f"use e.g. tile_overlap <= tile // 4")
    n = math.ceil((size - overlap) / (tile - overlap))
    n = max(n, 2)
    return [round(i * (size - tile) / (n - 1)) for i in range(n)]


def axis_weights(starts: list[int], tile: int, size: int, scale: int, mode: str) -> list[torch.Tensor]:
    """Per-tile 1-D output weights along one axis (HR pixels), normalised so that they sum to 1 everywhere.

    Args:
        starts: tile starts in LR pixels (from :func:`tile_starts`).
        tile: tile length in LR pixels (clipped to ``size``).
        size: axis length in LR pixels.
        scale: upscaling factor.
        mode: ``blend`` or ``crop``.
    Returns:
        one float32 tensor of length ``min(tile, size) * scale`` per tile.
    """
    if mode not in TILE_MODES:
        raise ConfigError(f"tiling: tile_mode must be one of {', '.join(TILE_MODES)}, got {mode!r}")
    tile = min(tile, size)
    hr = [(s * scale, (s + tile) * scale) for s in starts]
    raw = []
    for i, (a, b) in enumerate(hr):
        x = torch.arange(a, b, dtype=torch.float64) + 0.5  # HR pixel centres
        w = torch.ones(b - a, dtype=torch.float64)
        if i > 0:  # rising edge over the overlap with the previous tile [a, prev_end)
            w = w * _ramp(x, a, hr[i - 1][1], mode)
        if i < len(hr) - 1:  # falling edge over the overlap with the next tile [next_start, b)
            w = w * (1.0 - _ramp(x, hr[i + 1][0], b, mode))
        raw.append(w)
    total = torch.zeros(size * scale, dtype=torch.float64)
    for (a, b), w in zip(hr, raw):
        total[a:b] += w
    if (total <= 0).any():
        raise ConfigError(f"tiling: tiles leave pixels uncovered (size {size}, tile {tile}, starts {starts})")
    return [(w / total[a:b]).float() for (a, b), w in zip(hr, raw)]


def _ramp(x: torch.Tensor, lo: int, hi: int, mode: str) -> torch.Tensor:
    """0 before and 1 after the overlap ``[lo, hi)``: a step at its middle (crop) or a linear ramp over its middle
    half (blend)."""
    mid = 0.5 * (lo + hi)
    if mode == "crop":
        return (x >= mid).to(torch.float64)
    half = 0.25 * (hi - lo)
    if half <= 0:
        return (x >= mid).to(torch.float64)
    return ((x - (mid - half)) / (2 * half)).clamp(0.0, 1.0)


def chunk_ranges(t: int, chunk: int | None, overlap: int) -> list[tuple[int, int, int, int]]:
    """Temporal chunks: ``(run_start, run_end, keep_start, keep_end)`` frame indices (end exclusive).

    The network runs on ``[run_start, run_end)``; the frames ``[keep_start, keep_end)`` of its output are kept. Cores
    of ``chunk`` frames partition ``[0, t)``; each run adds up to ``overlap`` frames of context on either side.
    ``chunk=None`` (or >= t) gives one run over the whole clip.
    """
    if overlap < 0:
        raise ConfigError(f"chunking: chunk_overlap must be >= 0, got {overlap}")
    if chunk is None or chunk >= t:
        return [(0, t, 0, t)]
    if chunk <= 0:
        raise ConfigError(f"chunking: chunk must be a positive number of frames, got {chunk}")
    out = []
    for a in range(0, t, chunk):
        b = min(a + chunk, t)
        out.append((max(0, a - overlap), min(t, b + overlap), a, b))
    return out


def iter_windows(items: Iterable, chunk: int | None, overlap: int) -> Iterator[tuple[int, int, int, int, list]]:
    """:func:`chunk_ranges` over a stream of unknown length: yields ``(run_start, run_end, keep_start, keep_end,
    window)`` with ``window`` the items ``[run_start, run_end)``, holding at most ``chunk + 2 * overlap`` items.

    The ranges are exactly those of ``chunk_ranges(t, chunk, overlap)`` for the ``t`` items the stream turns out to
    have. ``chunk=None`` collects the whole stream into one window.
    """
    chunk_ranges(1, chunk, overlap)  # the same errors for bad settings, before anything is read
    items = iter(items)
    held: list = []   # items [first, first + len(held))
    first = 0
    start = 0         # first frame of the next core
    ended = False
    while True:
        want = start + chunk + overlap if chunk else None
        while not ended and (want is None or first + len(held) < want):
            try:
                held.append(next(items))
            except StopIteration:
                ended = True
        t_seen = first + len(held)
        if start >= t_seen:
            return
        run0 = max(0, start - overlap)
        core_end = min(start + chunk, t_seen) if chunk else t_seen
        run1 = min(t_seen, core_end + overlap)
        yield run0, run1, start, core_end, held[run0 - first:run1 - first]
        start = core_end
        drop = max(0, start - overlap) - first
        if drop > 0:
            del held[:drop]
            first += drop
