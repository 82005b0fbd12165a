"""Stage 3: difficulty labels. Each patch's label is the PSNR (dB) of the general SR model on that patch.

The LR patch is upscaled alone (as STDO's patch files are), the output rounded to 8 bits, and the PSNR taken over
the RGB patch without shave; lower = harder. Every extracted frame is labelled, the held-out ones too (the server
that overfits the video has their HR, and the chunk map of each patch ships with the stream). ``labels.txt`` holds
``frame row col psnr`` lines (VSD4KDataset's ``patch_labels_file``); an interrupted run keeps its complete frames
and continues after them.
"""
from __future__ import annotations

import logging
import os

import numpy as np
import torch
from tqdm import tqdm

from vsrkit.data.patch_grid import patch_psnr, to_patches
from vsrkit.data.storage import read_png
from vsrkit.errors import DataError
from vsrkit.fileio import write_text_atomic
from vsrkit.stdo.general import load_general
from vsrkit.stdo.grid import read_grid
from vsrkit.stdo.workdir import WorkDir, check_settings, frame_name, write_record

log = logging.getLogger("vsrkit")


def _complete_frames(path: str, per_frame: int) -> dict[int, list[str]]:
    """Lines of ``labels.txt`` grouped by frame, frames with all ``per_frame`` patches only."""
    frames: dict[int, list[str]] = {}
    if os.path.isfile(path):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 4 and line.endswith("\n"):
                    frames.setdefault(int(parts[0]), []).append(line)
    return {k: v for k, v in frames.items() if len(v) == per_frame}


def label_patches(work: str, scale: int, general: dict, batch: int = 256, device: str | None = None,
                  overwrite: bool = False, progress: bool = True) -> dict:
    """Run the labels stage for ``scale`` with the labeller ``general``
    (see :func:`vsrkit.stdo.general.general_settings`)."""
    wd = WorkDir(work)
    video, grid = wd.video(), read_grid(work, scale)
    cols, rows = grid["settings"]["cols"], grid["settings"]["rows"]
    settings = {"scale": scale, "cols": cols, "rows": rows, "general": general}
    record = check_settings(wd.labels_manifest(scale), settings, overwrite, "labels")
    if record and record.get("done"):
        log.info("labels x%d: up to date (%d patches)", scale, record["num_patches"])
        return record
    path = str(wd.labels(scale))
    if overwrite and os.path.exists(path):
        os.remove(path)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    net = load_general(general, scale, wd.scale_dir(scale) / "general", dev)
    write_record(wd.labels_manifest(scale), "labels", settings, False)
    done = _complete_frames(path, rows * cols)
    write_text_atomic(path, "".join(line for f in sorted(done) for line in done[f]))  # drop a partial frame
    name, total = video["video"], video["num_frames"]
    with open(path, "a") as out, torch.no_grad():
        for f in tqdm(range(total), desc=f"labels x{scale}", unit="frame", disable=not progress):
            if f in done:
                continue
            lq = to_patches(read_png(str(wd.lr(scale) / name / frame_name(f))), rows, cols)
            hr = to_patches(read_png(str(wd.hr / name / frame_name(f))), rows, cols)
            sr = torch.cat([net(lq[i:i + batch].to(dev)).float().cpu() for i in range(0, len(lq), batch)])
            if sr.shape != hr.shape:
                raise DataError(f"general model output {tuple(sr.shape[1:])} for HR patches {tuple(hr.shape[1:])}; "
                                f"is it a x{scale} model?")
            values = patch_psnr(sr, hr)
            out.write("".join(f"{f} {i // cols} {i % cols} {v:.6f}\n" for i, v in enumerate(values)))
            out.flush()
    values = np.array([float(line.split()[3]) for line in open(path)])
    return write_record(wd.labels_manifest(scale), "labels", settings, True, num_patches=int(values.size),
                        psnr_mean=float(values[np.isfinite(values)].mean()), psnr_min=float(values.min()),
                        psnr_max=float(values.max()))
