"""Paths of a STDO work folder and the per-stage manifests that make every stage resumable."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from vsrkit.errors import ConfigError, DataError
from vsrkit.fileio import write_json_atomic

SCHEMA = "vsrkit-stdo/1"


@dataclass(frozen=True)
class WorkDir:
    """The folders and files of one video's STDO run (see :mod:`vsrkit.stdo`)."""
    root: Path

    def __init__(self, root: str | os.PathLike):
        object.__setattr__(self, "root", Path(root))

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def hr(self) -> Path:
        return self.root / "HR"

    def lr(self, scale: int) -> Path:
        return self.root / "LR_bicubic" / f"X{scale}"

    def scale_dir(self, scale: int) -> Path:
        return self.root / f"X{scale}"

    def grid(self, scale: int) -> Path:
        return self.scale_dir(scale) / "grid.json"

    def labels(self, scale: int) -> Path:
        return self.scale_dir(scale) / "labels.txt"

    def labels_manifest(self, scale: int) -> Path:
        return self.scale_dir(scale) / "labels.json"

    def split_dir(self, scale: int, k: int) -> Path:
        return self.scale_dir(scale) / f"k{k}"

    def chunks(self, scale: int, k: int) -> Path:
        return self.split_dir(scale, k) / "chunks.txt"

    def chunks_manifest(self, scale: int, k: int) -> Path:
        return self.split_dir(scale, k) / "chunks.json"

    def runs(self, scale: int, k: int) -> Path:
        return self.split_dir(scale, k) / "runs"

    def models(self, scale: int, k: int) -> Path:
        return self.split_dir(scale, k) / "models"

    def index(self, scale: int, k: int) -> Path:
        return self.models(scale, k) / "net_g_stdo.pth"

    def train_manifest(self, scale: int, k: int) -> Path:
        return self.split_dir(scale, k) / "train.json"

    def sr(self, scale: int, k: int) -> Path:
        return self.split_dir(scale, k) / "sr"

    def evaluation(self, scale: int, k: int, protocol: str) -> Path:
        return self.split_dir(scale, k) / f"eval_{protocol}"

    # ------------------------------------------------------------------ the frames stage's record
    def video(self) -> dict:
        """The frames stage's manifest (``video``, ``train_frames``, ``test_frames``, sizes, scales...)."""
        record = read_record(self.manifest)
        if record is None or not record.get("done"):
            raise DataError(f"{self.root}: no finished frames stage (manifest.json); run "
                            f"'scripts/stdo_pipeline.py frames --work {self.root} --input <video>' first")
        return record


def read_record(path: Path) -> dict | None:
    """A stage manifest, or None when absent; DataError when unreadable."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: unreadable stage manifest ({exc}); delete it to redo the stage") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise DataError(f"{path}: not a vsrkit STDO stage manifest; delete it or choose another --work folder")
    return data


def check_settings(path: Path, settings: dict, overwrite: bool, stage: str) -> dict | None:
    """The existing record of ``stage`` at ``path`` when its settings equal ``settings`` (to resume or skip), None
    when there is none (or ``overwrite``); ConfigError when the folder was made with other settings."""
    record = read_record(path)
    if record is None or overwrite:
        return None
    if record.get("settings") != json.loads(json.dumps(settings)):
        old, new = record.get("settings", {}), json.loads(json.dumps(settings))
        diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        raise ConfigError(f"{path}: the {stage} stage was run with other settings ({', '.join(diff)}: "
                          f"{[old.get(k) for k in diff]} on disk, {[new.get(k) for k in diff]} now); pass "
                          f"--overwrite to redo it, or use another --work folder")
    return record


def write_record(path: Path, stage: str, settings: dict, done: bool, **info) -> dict:
    record = {"schema": SCHEMA, "stage": stage, "settings": settings, "done": done, **info}
    write_json_atomic(path, record)
    return record


def frame_name(index: int) -> str:
    return f"{index:08d}.png"


def parse_grid(text: str) -> tuple[int, int]:
    """``'20x10'`` -> ``(cols, rows)``."""
    try:
        cols, rows = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise ConfigError(f"grid {text!r}: give COLSxROWS, e.g. 20x10") from None
    if cols < 1 or rows < 1:
        raise ConfigError(f"grid {text!r}: columns and rows must be >= 1")
    return cols, rows
