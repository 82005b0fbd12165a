"""Stage 2: the patch grid of one scale (STDO: x2 20x10 patches, HR 96x108; x4 10x5, HR 192x216 on 1080p).

The grid is recorded, not cut to files: VSD4KDataset cuts patches on the fly from the LR/HR frames, and the
labels, chunks, training and stitching stages all read the grid from here.
"""
from __future__ import annotations

import logging

from vsrkit.errors import ConfigError, DataError
from vsrkit.stdo.frames import grids_for
from vsrkit.stdo.workdir import WorkDir, check_settings, read_record, write_record

log = logging.getLogger("vsrkit")


def make_grid(work: str, scale: int, grid: tuple[int, int] | None = None, overwrite: bool = False) -> dict:
    """Record the ``(cols, rows)`` grid of ``scale`` (default: the one the frames stage cropped for)."""
    wd = WorkDir(work)
    video = wd.video()
    if str(scale) not in video["lr_sizes"]:
        raise ConfigError(f"scale {scale}: the frames stage made x{', x'.join(video['lr_sizes'])} only; rerun it "
                          f"with --scales including {scale}")
    cols, rows = grid or tuple(video["settings"]["grids"][str(scale)])
    cols, rows = grids_for([scale], {scale: (cols, rows)})[scale]
    lh, lw = video["lr_sizes"][str(scale)]
    if lh % rows or lw % cols:
        raise DataError(f"x{scale}: LR frames {lw}x{lh} do not split into a {cols}x{rows} grid; pick a grid that "
                        f"divides them or rerun the frames stage with --grid X{scale}={cols}x{rows}")
    settings = {"scale": int(scale), "cols": cols, "rows": rows}
    record = check_settings(wd.grid(scale), settings, overwrite, "grid")
    if record:
        return record
    ph, pw = lh // rows, lw // cols
    log.info("grid x%d: %dx%d patches of LR %dx%d / HR %dx%d", scale, cols, rows, pw, ph, pw * scale, ph * scale)
    return write_record(wd.grid(scale), "grid", settings, True, lr_patch=[ph, pw], hr_patch=[ph * scale, pw * scale],
                        patches_per_frame=cols * rows)


def read_grid(work: str, scale: int) -> dict:
    record = read_record(WorkDir(work).grid(scale))
    if record is None:
        raise DataError(f"{work}: no grid for x{scale}; run 'scripts/stdo_pipeline.py grid --work {work} "
                        f"--scale {scale}' first")
    return record
