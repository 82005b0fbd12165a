"""Streamed, tiled inference of a space-time network (``window`` LR frames -> ``2 * window - 1`` HR frames).

The windows are those of :class:`vsrkit.models.space_time_model.SpaceTimeVSRModel`: LR starts ``0, stride,
2 * stride, ...`` plus one ending at the last LR frame; output frame ``j`` of the window at ``s`` is output position
``2 * s + j`` (time ``(2 * s + j) / 2`` in input frames), and a position an earlier window produced is not produced
again. A clip of ``t`` LR frames gives ``2 * t - 1`` output frames: output ``2k`` is input frame ``k``'s time, output
``2k + 1`` lies half way to frame ``k + 1``. At twice the input frame rate every output frame keeps its input frame's
timestamp.

Host memory holds ``window`` LR frames and one window's output; device memory one ``window x tile x tile`` run.
"""
from __future__ import annotations

from collections import deque
from typing import Iterable, Iterator

import torch
from torch import nn

from vsrkit.errors import ConfigError
from vsrkit.inference.runner import InferenceSettings, _run_tiles, forward_inputs
from vsrkit.inference.tiling import tile_starts


def space_time_window(opt: dict) -> tuple[int, int] | None:
    """``(val.window, val.stride)`` of options whose ``model_type`` is ``SpaceTimeVSRModel``, else None."""
    if opt.get("model_type") != "SpaceTimeVSRModel":
        return None
    val = opt.get("val") or {}
    window, stride = int(val.get("window", 4)), int(val.get("stride", 3))
    if window < 2 or not 1 <= stride <= window - 1:
        raise ConfigError(f"{opt.get('opt_path', 'options')}: val.window ({window}) must be >= 2 and val.stride "
                          f"({stride}) between 1 and window - 1")
    return window, stride


def window_starts(t: int, window: int, stride: int) -> list[int]:
    """LR start of every window over ``t`` frames (one window of all frames when ``t < window``)."""
    if t < 2:
        raise ConfigError(f"space-time inference needs at least 2 frames to put frames between, got {t}")
    if t <= window:
        return [0]
    starts = list(range(0, t - window + 1, stride))
    if starts[-1] + window < t:
        starts.append(t - window)
    return starts


def count_space_time_runs(t: int, h: int, w: int, window: int, stride: int, s: InferenceSettings) -> int:
    """Network calls (window x tile) of :func:`iter_space_time_frames` over ``t`` frames (0 when ``t`` < 2)."""
    if t < 2:
        return 0
    tile = s.tile or max(h, w)
    return (len(window_starts(t, window, stride)) * len(tile_starts(h, tile, s.tile_overlap))
            * len(tile_starts(w, tile, s.tile_overlap)))


@torch.no_grad()
def iter_space_time_frames(net: nn.Module, frames: Iterable[dict], window: int = 4, stride: int = 3,
                           settings: InferenceSettings | None = None, device: torch.device | str | None = None,
                           progress=None) -> Iterator[tuple[int, torch.Tensor]]:
    """Run a space-time ``net`` over a stream of LR frames, window by window and tile by tile.

    Args:
        net: ``forward(lq (n, k, c, h, w))`` -> ``(n, 2k - 1, c_out, scale*h, scale*w)``, in eval mode.
        frames: per frame a dict with ``lq`` ``(3, h, w)`` (uint8 or float in [0, 1]) and any per-frame side input
            ``net.forward`` names.
        window, stride: LR frames per run and the step between runs (``1 <= stride <= window - 1``).
        settings: tiles (``tile``, ``tile_overlap``, ``tile_mode``), ``scale`` and ``autocast``; ``chunk`` is not
            used (a window is the temporal unit).
        device, progress: as in :func:`vsrkit.inference.iter_inference`.
    Yields:
        ``(first_output_position, out)`` per window, ``out`` ``(1, k, c_out, scale*h, scale*w)`` float32 on the CPU
        holding only the positions no earlier window produced; over the clip the positions are ``0 .. 2t - 2``.
    """
    if window < 2 or not 1 <= stride <= window - 1:
        raise ConfigError(f"space-time inference: window ({window}) must be >= 2 and stride ({stride}) between 1 "
                          f"and window - 1")
    s = settings or InferenceSettings()
    wanted = forward_inputs(net)
    buf: deque = deque(maxlen=window)
    done = 0  # output positions produced so far
    last = None  # LR start of the last window run
    count = 0

    def run(start: int):
        nonlocal done
        items = list(buf)
        lq = torch.stack([torch.as_tensor(f["lq"]) for f in items]).unsqueeze(0)
        if lq.dim() != 5:
            raise ConfigError(f"inference: each frame's lq must be (3, h, w), got {tuple(lq.shape[2:])}")
        inputs = {k: torch.stack([torch.as_tensor(f[k]) for f in items]).unsqueeze(0)
                  for k in wanted if items[0].get(k) is not None}
        k = lq.shape[1]
        out = _run_tiles(net, lq, inputs, 0, k, s, device, progress)
        if out.shape[1] != 2 * k - 1:
            raise ConfigError(f"space-time inference: the network returned {out.shape[1]} frames for {k}, expected "
                              f"{2 * k - 1}; is it a space-time network (model_type: SpaceTimeVSRModel)?")
        first = 2 * start
        new = out[:, done - first:]
        done = first + out.shape[1]
        return done - new.shape[1], new

    for i, frame in enumerate(frames):
        buf.append(frame)
        count = i + 1
        start = i - window + 1
        if start >= 0 and start % stride == 0:
            last = start
            yield run(start)
    if count < 2:
        window_starts(count, window, stride)  # raises with the message
    end_start = max(count - window, 0)
    if last is None or last + window < count:
        yield run(end_start)
