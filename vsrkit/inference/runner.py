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
    """The side inputs ``net.forward`` names besides its first (the LQ clip): the batch keys it is given.

    No whitelist: a ``forward(lq, ref)`` network receives ``ref``, ``forward(lq, mv_bwd, mv_fwd, frame_types)`` its
    motion. ``**kwargs`` in the signature adds nothing (name the inputs you want).
    """
    params = list(inspect.signature(net.forward).parameters.values())
    named = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return tuple(named[1:])


def _slice(x: torch.Tensor, name: str, t0: int, t1: int, ys: slice, xs: slice, hw: tuple[int, int], scale: int,
           t_total: int) -> torch.Tensor:
    """Slice a side input like the LQ clip.

    ``(n, t, c, h, w)`` per-frame inputs are cut in time (frames ``[t0, t1)``) when they have as many frames as the
    clip, and in space at LR size ``hw`` or at HR size ``scale * hw`` (full-resolution references); ``(n, t, h, w)``
    per-pixel maps at LR size (``qp``, ``valid_bwd``/``valid_fwd``) in time and space; ``(n, t)``
    per-frame values are cut in time; anything else (``(n, k)`` per-item values) is passed as is.
    """
    whole_time = (t0, t1) == (0, t_total)
    if x.dim() == 5:
        if x.shape[1] != t_total and not whole_time:
            raise ConfigError(f"inference: {name} has {x.shape[1]} frames, lq has {t_total}; only inputs with one "
                              f"entry per frame can be cut into temporal chunks (set val.chunk: null)")
        if x.shape[1] == t_total:
            x = x[:, t0:t1]
        size = tuple(x.shape[-2:])
        if size == hw:
            return x[..., ys, xs]
        if size == (hw[0] * scale, hw[1] * scale):
            hr = (slice(_mul(ys.start, scale), _mul(ys.stop, scale)), slice(_mul(xs.start, scale), _mul(xs.stop, scale)))
            return x[..., hr[0], hr[1]]
        raise ConfigError(f"inference: {name} has spatial size {size}, lq has {hw}; per-pixel inputs must be at "
                          f"LR size or at scale ({scale}) x LR size")
    if x.dim() == 4 and x.shape[1] == t_total and tuple(x.shape[-2:]) == hw:  # (n, t, h, w) per-pixel maps
        return x[:, t0:t1, ys, xs]
    if x.dim() == 2 and x.shape[1] == t_total:
        return x[:, t0:t1]
    return x


def _mul(v: int | None, scale: int) -> int | None:
    return None if v is None else v * scale


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
        net: ``forward(lq, **side_inputs)`` -> ``(n, k, c_out, scale*h, scale*w)`` (or ``(n, c_out, ...)`` for one
            frame); set to eval mode. With temporal chunks, ``k`` must equal the frames given.
        lq: ``(n, t, c, h, w)`` float in [0, 1], or uint8 in [0, 255] (4x less host memory for long clips); kept
            where it is, slices are moved to ``device``.
        inputs: side inputs by name (see :func:`_slice` for how each shape is cut); only those that ``net.forward``
            names are passed.
        settings: :class:`InferenceSettings`.
        device: where the network runs (default: the device of its parameters).
        progress: optional object with ``update(k)`` (e.g. tqdm), advanced once per network call.
    Yields:
        ``(first_frame_index, out)`` per chunk, ``out`` ``(n, k, c_out, scale*h, scale*w)`` float32 on the CPU.
    """
    s = settings or InferenceSettings()
    if lq.dim() != 5:
        raise ConfigError(f"inference: lq must be (n, t, c, h, w), got {tuple(lq.shape)}")
    wanted = forward_inputs(net)
    passed = {k: v for k, v in (inputs or {}).items() if k in wanted and v is not None}
    hw, t = tuple(lq.shape[-2:]), lq.shape[1]
    everything = (slice(None), slice(None))
    for run0, run1, keep0, keep1 in chunk_ranges(t, s.chunk, s.chunk_overlap):
        run_inputs = {k: _slice(v, k, run0, run1, *everything, hw, s.scale, t) for k, v in passed.items()}
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
    """One temporal run, tile by tile: ``lq (n, k, c, h, w)`` and its ``inputs`` -> frames ``[k0, k1)`` of the
    output, ``(n, k1 - k0, c_out, scale*h, scale*w)`` float32 on the CPU (tiles weighted by :func:`axis_weights`).
    A network that returns another number of frames than it was given (a centre frame, a space-time clip) keeps all
    of them."""
    n, k, _, h, w = lq.shape
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
    out = None
    for y0, wgt_y in zip(ys, wy):
        for x0, wgt_x in zip(xs, wx):
            sy, sx = slice(y0, y0 + th), slice(x0, x0 + tw)
            args = {name: _slice(v, name, 0, k, sy, sx, (h, w), sc, k).to(device) for name, v in inputs.items()}
            x = lq[:, :, :, sy, sx].to(device)
            x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
            with _autocast(device, s.autocast):
                y = net(x, **args)
            if y.dim() == 4:  # one output frame per item (sliding window -> centre frame)
                y = y.unsqueeze(1)
            if y.dim() != 5 or tuple(y.shape[-2:]) != (th * sc, tw * sc) or y.shape[0] != n:
                raise ConfigError(f"inference: the network returned {tuple(y.shape)} for input {tuple(x.shape)}, "
                                  f"expected (n, frames, channels, {th * sc}, {tw * sc}); check inference.scale ({sc})")
            if (k0, k1) != (0, k) and y.shape[1] != k:
                raise ConfigError(f"inference: temporal chunks need one output frame per input frame, the network "
                                  f"returned {y.shape[1]} for {k}; set val.chunk: null")
            if out is None:
                kept = y[:, k0:k1] if y.shape[1] == k else y
                out = torch.zeros(n, kept.shape[1], y.shape[2], h * sc, w * sc, dtype=torch.float32)
            weight = (wgt_y.view(-1, 1) * wgt_x.view(1, -1)).to(device)
            part = y[:, k0:k1] if y.shape[1] == k else y
            out[..., y0 * sc:(y0 + th) * sc, x0 * sc:(x0 + tw) * sc] += (part.float() * weight).cpu()
            if progress is not None:
                progress.update(1)
    return out


def run_inference(net: nn.Module, lq: torch.Tensor, inputs: dict | None = None,
                  settings: InferenceSettings | None = None, device=None, progress=None) -> torch.Tensor:
    """:func:`iter_inference` gathered into one ``(n, k, c_out, scale*h, scale*w)`` float32 CPU tensor."""
    parts = [out for _, out in iter_inference(net, lq, inputs, settings, device, progress)]
    return torch.cat(parts, dim=1)


def to_uint8_frames(out: torch.Tensor) -> torch.Tensor:
    """``(k, 3, H, W)`` float in [0, 1] -> ``(k, H, W, 3)`` uint8 (rounded, clamped)."""
    return (out.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
