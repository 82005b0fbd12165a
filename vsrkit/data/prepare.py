"""Helpers of the dataset preparation scripts (``scripts/prepare_*.py``): staged outputs, frame renaming, links.

A preparation step builds its output under ``<output>.tmp-<pid>`` and renames it at the end, so an interrupted run
leaves nothing at ``<output>``. Frames are placed by ``mode``: ``symlink`` (default, no copy of big datasets),
``hardlink``, ``copy`` or ``move``.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
from typing import Iterator

from vsrkit.data.storage import IMAGE_EXTENSIONS
from vsrkit.errors import ConfigError, DataError

MODES = ("symlink", "hardlink", "copy", "move")


def natural_key(name: str) -> list:
    """Sort key that orders ``frame2`` before ``frame10`` (numbers compared as numbers)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def image_files(folder: str) -> list[str]:
    """Image file names in ``folder`` in natural order; a missing folder raises DataError naming it."""
    if not os.path.isdir(folder):
        raise DataError(f"{folder}: folder not found; check --input against the dataset's download layout")
    return sorted((n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS)), key=natural_key)


def place(src: str, dst: str, mode: str) -> None:
    """Put ``src`` at ``dst`` by ``mode`` (symlinks are absolute)."""
    if mode not in MODES:
        raise ConfigError(f"--mode: '{mode}' is not one of {', '.join(MODES)}")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if mode == "symlink":
        os.symlink(os.path.abspath(src), dst)
    elif mode == "hardlink":
        os.link(src, dst)
    elif mode == "copy":
        shutil.copy2(src, dst)
    else:
        shutil.move(src, dst)


def place_clip(src_dir: str, dst_dir: str, mode: str, start: int = 0) -> int:
    """Place the frames of ``src_dir`` into ``dst_dir`` renamed ``00000000.png...`` (natural order); returns count."""
    names = image_files(src_dir)
    if not names:
        raise DataError(f"{src_dir}: no image files; check the download")
    for i, name in enumerate(names):
        ext = os.path.splitext(name)[1].lower()
        place(os.path.join(src_dir, name), os.path.join(dst_dir, f"{start + i:08d}{ext}"), mode)
    return len(names)


@contextlib.contextmanager
def staged_output(output: str, overwrite: bool = False) -> Iterator[str]:
    """Yield a temporary folder next to ``output``; on success it replaces ``output``, on failure it is removed."""
    output = os.path.abspath(output)
    if os.path.exists(output) and not overwrite:
        raise DataError(f"{output}: already exists; remove it or pass --overwrite")
    tmp = f"{output}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        yield tmp
        if os.path.exists(output):
            shutil.rmtree(output)
        os.replace(tmp, output)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
