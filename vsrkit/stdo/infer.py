"""Stage 6: stitched inference. Every LR frame is cut into the patch grid, each patch is upscaled alone by its
chunk's network (``RoutedNetworks``, per-patch routing), and the outputs are put back in place: the seams are
exactly those of STDO's patching (each patch sees no pixel of its neighbours), nothing is blended.

Output: ``sr/<video>/<frame:08d>.png`` (8-bit, rounded) and ``sr/<video>.mp4`` (H.264, the video's frame rate).
Frames already written are kept (resume); the mp4 is made from all of them at the end.
"""
from __future__ import annotations

import logging
import time

import numpy as np
import torch
from tqdm import tqdm

from vsrkit.data.storage import read_png, write_png
from vsrkit.data.vsd4k_dataset import read_patch_chunks
from vsrkit.errors import ConfigError, DataError
from vsrkit.metrics import tensor_to_uint8
from vsrkit.stdo.grid import read_grid
from vsrkit.stdo.overfit import load_routed
from vsrkit.stdo.workdir import WorkDir, check_settings, frame_name, write_record

log = logging.getLogger("vsrkit")

RANGES = ("test", "train", "all")


def frame_range(video: dict, frames) -> tuple[int, int]:
    """``'test'`` (held-out frames), ``'train'``, ``'all'`` or ``[start, end)``."""
    if isinstance(frames, str):
        if frames not in RANGES:
            raise ConfigError(f"--frames {frames!r}: one of {', '.join(RANGES)} or START:END")
        start, end = {"test": video["test_frames"], "train": video["train_frames"],
                      "all": [0, video["num_frames"]]}[frames]
    else:
        start, end = int(frames[0]), int(frames[1])
    if not 0 <= start < end <= video["num_frames"]:
        raise ConfigError(f"--frames: [{start}, {end}) is empty or outside the {video['num_frames']} frames "
                          f"(held-out frames exist only with the frames stage's --held-out)")
    return start, end


def chunk_grids(path: str, rows: int, cols: int) -> dict[int, torch.Tensor]:
    """``{frame: (rows, cols) int64 chunk ids}`` from ``chunks.txt``."""
    grids: dict[int, torch.Tensor] = {}
    for (f, r, c), j in read_patch_chunks(path).items():
        grids.setdefault(f, torch.full((rows, cols), -1, dtype=torch.int64))[r, c] = j
    return grids


def stitch_frame(routed, lq: np.ndarray, route: torch.Tensor, device) -> np.ndarray:
    """One LR frame ``(h, w, 3)`` uint8 -> the stitched SR frame ``(s*h, s*w, 3)`` uint8."""
    x = torch.from_numpy(np.ascontiguousarray(lq)).to(device).permute(2, 0, 1).float().div_(255)[None, None]
    with torch.no_grad():
        out = routed(x, route[None].to(device))
    return tensor_to_uint8(out[0, 0].float().cpu())


def stitch_video(work: str, scale: int, num_chunks: int = 2, frames="test", device: str | None = None,
                 crf: float = 18, encode: bool = True, overwrite: bool = False, progress: bool = True) -> dict:
    """Run the infer stage on ``frames`` (see :func:`frame_range`); returns the stage record."""
    wd, k = WorkDir(work), int(num_chunks)
    video, grid = wd.video(), read_grid(work, scale)
    start, end = frame_range(video, frames)
    cols, rows = grid["settings"]["cols"], grid["settings"]["rows"]
    settings = {"scale": scale, "num_chunks": k, "frames": [start, end], "crf": crf, "encode": encode}
    out_dir = wd.sr(scale, k)
    manifest = out_dir / "manifest.json"
    record = check_settings(manifest, settings, overwrite, "infer")
    if record and record.get("done"):
        return record
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    routed, train_record = load_routed(work, scale, k, dev)
    grids = chunk_grids(str(wd.chunks(scale, k)), rows, cols)
    name = video["video"]
    write_record(manifest, "infer", settings, False)
    seconds, count = 0.0, 0
    for f in tqdm(range(start, end), desc=f"stitch x{scale}", unit="frame", disable=not progress):
        path = out_dir / name / frame_name(f)
        if path.is_file() and not overwrite:
            continue
        route = grids.get(f)
        if route is None or bool((route < 0).any()):
            raise DataError(f"{wd.chunks(scale, k)}: frame {f} has patches without a chunk; label every frame")
        lq = read_png(str(wd.lr(scale) / name / frame_name(f)))
        t0 = time.perf_counter()
        sr = stitch_frame(routed, lq, route, dev)
        seconds += time.perf_counter() - t0
        count += 1
        write_png(str(path), sr)
    mp4 = None
    if encode:
        from vsrkit.codec import encode_h264

        mp4 = out_dir / f"{name}.mp4"
        frames_iter = (read_png(str(out_dir / name / frame_name(f))) for f in range(start, end))
        encode_h264(frames_iter, str(mp4), crf=crf, fps=video.get("fps") or 30)
    return write_record(manifest, "infer", settings, True, frames_dir=str(out_dir / name),
                        video_file=str(mp4) if mp4 else None, num_frames=end - start,
                        fps_measured=(count / seconds) if seconds else None, device=str(dev),
                        train=train_record["settings"])
