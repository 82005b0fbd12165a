"""Memory-bounded inference of a video SR network over a whole clip: temporal chunks x spatial tiles.

A recurrent network sees the whole clip, so a tile or chunk border changes its output; the overlap (context) that is
computed and then discarded makes that difference small (see ``tests/inference``). Device memory is bounded by one
``(chunk + 2 * chunk_overlap) x tile x tile`` run; host memory by one chunk of HR output
(``chunk * 3 * (scale*h) * (scale*w) * 4`` bytes) besides the LR inputs.
"""
from __future__ import annotations

import contextlib
import inspect
from dataclasses import dataclass
from typing import Iterable, Iterator

import torch
from torch import nn

from vsrkit.errors import ConfigError
from vsrkit.inference.tiling import axis_weights, chunk_ranges, iter_windows, tile_starts

#: per-frame inputs a codec-aware network may take besides ``lq`` (sliced like ``lq``)
MOTION_KEYS = ("mv_bwd", "mv_fwd", "frame_types")


@dataclass
class InferenceSettings:
    """How to cut a clip.

    Attributes:
        scale: the network's upscaling factor.
        chunk: frames kept per temporal chunk (None = whole clip in one run).
        chunk_overlap: context frames added on each side of a chunk and discarded.
        tile: LR tile size in pixels (None = whole frame).
        tile_overlap: minimum overlap of neighbouring tiles in LR pixels.
        tile_mode: ``blend`` (cross-fade over the middle half of the overlap) or ``crop`` (hard seam in its middle).
        autocast: None, ``bf16`` or ``fp16`` autocast on CUDA (ignored on CPU).
    """
    scale: int = 4
    chunk: int | None = None
    chunk_overlap: int = 2
    tile: int | None = None
    tile_overlap: int = 16
    tile_mode: str = "blend"
    autocast: str | None = None


def forward_inputs(net: nn.Module) -> tuple[str, ...]:
    """The motion inputs (``mv_bwd``, ``mv_fwd``, ``frame_types``) that ``net.forward`` names."""
    params = inspect.signature(net.forward).parameters
    return tuple(k for k in MOTION_KEYS if k in params)


def _slice(x: torch.Tensor, name: str, t0: int, t1: int, ys: slice, xs: slice, hw: tuple[int, int]) -> torch.Tensor:
    """Slice a per-frame input: ``(n, t, c, h, w)`` in time and space, ``(n, t)`` in time only."""
    if x.dim() == 5:
        if tuple(x.shape[-2:]) != hw:
            raise ConfigError(f"inference: {name} has spatial size {tuple(x.shape[-2:])}, lq has {hw}; "
                              f"per-pixel inputs must be at LR size")
        return x[:, t0:t1, :, ys, xs]
    if x.dim() == 2:
        return x[:, t0:t1]
    raise ConfigError(f"inference: {name} must be (n, t, c, h, w) or (n, t), got {tuple(x.shape)}")


def _autocast(device: torch.device, kind: str | None):
    if kind is None or device.type != "cuda":
        return contextlib.nullcontext()
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16}
    if kind not in dtypes:
        raise ConfigError(f"inference: autocast must be null, bf16 or fp16, got {kind!r}")
    return torch.autocast(device_type="cuda", dtype=dtypes[kind])


def count_runs(t: int, h: int, w: int, s: InferenceSettings) -> int:
    """How many network calls (chunk x tile) :func:`iter_inference` makes."""
    tile = s.tile or max(h, w)
    return (len(chunk_ranges(t, s.chunk, s.chunk_overlap)) * len(tile_starts(h, tile, s.tile_overlap))
            * len(tile_starts(w, tile, s.tile_overlap)))


@torch.no_grad()
def iter_inference(net: nn.Module, lq: torch.Tensor, inputs: dict | None = None,
                   settings: InferenceSettings | None = None, device: torch.device | str | None = None,
                   progress=None) -> Iterator[tuple[int, torch.Tensor]]:
    """Run ``net`` over a clip chunk by chunk and tile by tile.

    Args:
        net: ``forward(lq, [mv_bwd, mv_fwd, frame_types])`` -> ``(n, t, 3, scale*h, scale*w)``; set to eval mode.
        lq: ``(n, t, 3, h, w)`` float in [0, 1], or uint8 in [0, 255] (4x less host memory for long clips); kept
            where it is, slices are moved to ``device``.
        inputs: per-frame inputs by name, ``(n, t, c, h, w)`` (motion, LR pixels) or ``(n, t)`` (frame types); only
            those that ``net.forward`` names are passed.
        settings: :class:`InferenceSettings`.
        device: where the network runs (default: the device of its parameters).
        progress: optional object with ``update(k)`` (e.g. tqdm), advanced once per network call.
    Yields:
        ``(first_frame_index, out)`` per chunk, ``out`` ``(n, k, 3, scale*h, scale*w)`` float32 on the CPU.
    """
    s = settings or InferenceSettings()
    if lq.dim() != 5:
        raise ConfigError(f"inference: lq must be (n, t, 3, h, w), got {tuple(lq.shape)}")
    wanted = forward_inputs(net)
    passed = {k: v for k, v in (inputs or {}).items() if k in wanted and v is not None}
    hw = tuple(lq.shape[-2:])
    everything = (slice(None), slice(None))
    for run0, run1, keep0, keep1 in chunk_ranges(lq.shape[1], s.chunk, s.chunk_overlap):
        run_inputs = {k: _slice(v, k, run0, run1, *everything, hw) for k, v in passed.items()}
        yield keep0, _run_tiles(net, lq[:, run0:run1], run_inputs, keep0 - run0, keep1 - run0, s, device, progress)


@torch.no_grad()
def iter_inference_frames(net: nn.Module, frames: Iterable[dict], settings: InferenceSettings | None = None,
                          device: torch.device | str | None = None,
                          progress=None) -> Iterator[tuple[int, torch.Tensor]]:
    """:func:`iter_inference` over a stream of frames (e.g. a video being decoded), holding only one chunk.

    Args:
        frames: per frame a dict with ``lq`` ``(3, h, w)`` (uint8 or float, as in :func:`iter_inference`) and the
            frame's own inputs, ``mv_bwd``/``mv_fwd`` ``(2, h, w)`` and ``frame_types`` (a number), where present.
        settings, device, progress: as in :func:`iter_inference`; host memory holds ``chunk + 2 * chunk_overlap``
            input frames and one chunk of output.
    Yields:
        ``(first_frame_index, out)`` per chunk, exactly as :func:`iter_inference` on the stacked clip would.
    """
    s = settings or InferenceSettings()
    wanted = forward_inputs(net)
    for run0, run1, keep0, keep1, window in iter_windows(frames, s.chunk, s.chunk_overlap):
        lq = torch.stack([torch.as_tensor(f["lq"]) for f in window]).unsqueeze(0)
        run_inputs = {k: torch.stack([torch.as_tensor(f[k]) for f in window]).unsqueeze(0)
                      for k in wanted if window[0].get(k) is not None}
        if lq.dim() != 5:
            raise ConfigError(f"inference: each frame's lq must be (3, h, w), got {tuple(lq.shape[2:])}")
        yield keep0, _run_tiles(net, lq, run_inputs, keep0 - run0, keep1 - run0, s, device, progress)


def _run_tiles(net: nn.Module, lq: torch.Tensor, inputs: dict, k0: int, k1: int, s: InferenceSettings, device,
               progress) -> torch.Tensor:
    """One temporal run, tile by tile: ``lq (n, k, 3, h, w)`` and its ``inputs`` -> frames ``[k0, k1)`` of the
    output, ``(n, k1 - k0, 3, scale*h, scale*w)`` float32 on the CPU (tiles weighted by :func:`axis_weights`)."""
    n, k, c, h, w = lq.shape
    if device is None:
        param = next(net.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    device = torch.device(device)
    tile = s.tile or max(h, w)
    ys, xs = tile_starts(h, tile, s.tile_overlap), tile_starts(w, tile, s.tile_overlap)
    th, tw = min(tile, h), min(tile, w)
    wy = axis_weights(ys, th, h, s.scale, s.tile_mode)
    wx = axis_weights(xs, tw, w, s.scale, s.tile_mode)
    sc = s.scale
    out = torch.zeros(n, k1 - k0, c, h * sc, w * sc, dtype=torch.float32)
    for y0, wgt_y in zip(ys, wy):
        for x0, wgt_x in zip(xs, wx):
            sy, sx = slice(y0, y0 + th), slice(x0, x0 + tw)
            args = {name: _slice(v, name, 0, k, sy, sx, (h, w)).to(device) for name, v in inputs.items()}
            x = lq[:, :, :, sy, sx].to(device)
            x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
            with _autocast(device, s.autocast):
                y = net(x, **args)
            expected = (n, k, c, th * sc, tw * sc)
            if tuple(y.shape) != expected:
                raise ConfigError(f"inference: the network returned {tuple(y.shape)} for input "
                                  f"{tuple(x.shape)}, expected {expected}; check inference.scale ({sc})")
            weight = (wgt_y.view(-1, 1) * wgt_x.view(1, -1)).to(device)
            out[..., y0 * sc:(y0 + th) * sc, x0 * sc:(x0 + tw) * sc] += (y[:, k0:k1].float() * weight).cpu()
            if progress is not None:
                progress.update(1)
    return out


def run_inference(net: nn.Module, lq: torch.Tensor, inputs: dict | None = None,
                  settings: InferenceSettings | None = None, device=None, progress=None) -> torch.Tensor:
    """:func:`iter_inference` gathered into one ``(n, t, 3, scale*h, scale*w)`` float32 CPU tensor."""
    parts = [out for _, out in iter_inference(net, lq, inputs, settings, device, progress)]
    return torch.cat(parts, dim=1)


def to_uint8_frames(out: torch.Tensor) -> torch.Tensor:
    """``(k, 3, H, W)`` float in [0, 1] -> ``(k, H, W, 3)`` uint8 (rounded, clamped)."""
    return (out.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
