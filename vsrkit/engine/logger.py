"""Logging: a text log (stdout + file, rank 0 only), TensorBoard scalars/images, and a progress line."""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import torch

LOGGER_NAME = "vsrkit"


def setup_logger(log_file: str | Path | None, is_main: bool) -> logging.Logger:
    """Configure the ``vsrkit`` logger: INFO to stdout and ``log_file`` on rank 0, errors only elsewhere."""
    log = logging.getLogger(LOGGER_NAME)
    log.handlers.clear()
    log.propagate = False
    log.setLevel(logging.INFO if is_main else logging.ERROR)
    fmt = logging.Formatter("%(asctime)s %(levelname)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    stream = logging.StreamHandler(sys.stdout)
    stream.setFormatter(fmt)
    log.addHandler(stream)
    if log_file is not None and is_main:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(log_file)
        fh.setFormatter(fmt)
        log.addHandler(fh)
    return log


class TensorBoardLogger:
    """Thin wrapper around SummaryWriter; a no-op when disabled or not on rank 0."""

    def __init__(self, log_dir: str | Path | None):
        self.writer = None
        if log_dir is not None:
            from torch.utils.tensorboard import SummaryWriter  # imported lazily: tensorboard is slow to import

            self.writer = SummaryWriter(str(log_dir))

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self.writer:
            for key, value in values.items():
                self.writer.add_scalar(key, value, step)

    def image(self, tag: str, chw: torch.Tensor, step: int) -> None:
        """``chw``: float tensor (3, h, w) in [0, 1]."""
        if self.writer:
            self.writer.add_image(tag, chw.clamp(0, 1), step, dataformats="CHW")

    def flush(self) -> None:
        if self.writer:
            self.writer.flush()

    def close(self) -> None:
        if self.writer:
            self.writer.close()


class ProgressMeter:
    """Tracks iterations/s and ETA since (re)start."""

    def __init__(self, start_iter: int, total_iter: int):
        self.start_iter = start_iter
        self.total_iter = total_iter
        self.t0 = time.perf_counter()
        self.last_t = self.t0
        self.last_iter = start_iter

    def rate(self, it: int) -> float:
        """Iterations per second since the previous call."""
        now = time.perf_counter()
        r = (it - self.last_iter) / max(now - self.last_t, 1e-9)
        self.last_t, self.last_iter = now, it
        return r

    def eta_seconds(self, it: int) -> float:
        done = it - self.start_iter
        if done <= 0:
            return float("nan")
        return (time.perf_counter() - self.t0) / done * (self.total_iter - it)


def format_eta(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
