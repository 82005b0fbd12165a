"""Helpers of the dataset preparation scripts (``scripts/prepare_*.py``): staged outputs, frame renaming, links.

A preparation step builds its output under ``<output>.tmp-<pid>`` and renames it at the end, so an interrupted run
leaves nothing at ``<output>``. Frames are placed by ``mode``: ``symlink`` (default, no copy of big datasets),
``hardlink``, ``copy`` or ``move``.

``move`` never loses a source file: inside :func:`staged_output` a moved frame is first a symlink to its source; only
when the whole output has been built and checked are the sources moved in, and if one of those moves fails, the
ones already done are moved back. A failed run therefore leaves the source exactly as it was.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import re
import shutil
from typing import Iterator

from vsrkit.data.storage import IMAGE_EXTENSIONS
from vsrkit.errors import ConfigError, DataError
from vsrkit.fileio import replace_dir

MODES = ("symlink", "hardlink", "copy", "move")
RESTORE_LIST = "RESTORE.txt"

#: ``(source, staged destination)`` of the ``move`` placements of the innermost active :func:`staged_output`.
_MOVES: contextvars.ContextVar = contextvars.ContextVar("vsrkit_prepare_moves", default=None)


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
        moves = _MOVES.get()
        if moves is None:  # outside staged_output: nothing to verify first
            shutil.move(src, dst)
        else:  # a stand-in until the staged output is complete, see staged_output
            os.symlink(os.path.abspath(src), dst)
            moves.append((os.path.abspath(src), dst))


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
    """Yield a temporary folder next to ``output``; on success it replaces ``output``, on failure it is removed.

    ``move`` placements made inside the block are symlinks until the block has finished without error; then the
    sources are moved in (moved back if any move fails) and the folder replaces ``output`` (an old ``output`` is set
    aside until then and restored if the replacement fails). On any failure the sources are where they were.
    """
    output = os.path.abspath(output)
    if os.path.exists(output) and not overwrite:
        raise DataError(f"{output}: already exists; remove it or pass --overwrite")
    tmp = f"{output}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    moves: list[tuple[str, str]] = []
    keep_tmp = False
    token = _MOVES.set(moves)
    try:
        try:
            yield tmp
        finally:
            _MOVES.reset(token)
        done = _move_sources(moves, tmp)
        try:
            replace_dir(tmp, output)  # an old output is set aside and deleted only afterwards
        except BaseException:
            keep_tmp = not _move_back(done, tmp)
            raise
    finally:
        if not keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _move_sources(moves: list[tuple[str, str]], tmp: str) -> list[tuple[str, str]]:
    """Replace each stand-in symlink by its moved source; on a failure move the done ones back and raise."""
    seen: dict[str, str] = {}
    for src, dst in moves:
        if src in seen:
            raise DataError(f"{src}: would be moved to both {seen[src]} and {dst}; use --mode copy or symlink "
                            f"(nothing was moved)")
        seen[src] = dst
    done: list[tuple[str, str]] = []
    try:
        for src, dst in moves:
            os.remove(dst)
            shutil.move(src, dst)
            done.append((src, dst))
    except BaseException as exc:
        if not _move_back(done, tmp):
            raise DataError(f"{tmp}: moving the sources failed ({exc}) and some could not be moved back; they are "
                            f"in this folder, {RESTORE_LIST} lists where each one belongs") from exc
        if isinstance(exc, OSError):
            raise DataError(f"{exc.filename or tmp}: could not be moved ({exc.strerror}); nothing was moved, the "
                            f"source is as it was") from exc
        raise
    return done


def _move_back(done: list[tuple[str, str]], tmp: str) -> bool:
    """Move ``done`` placements back to their sources (last first); False, with a restore list written into
    ``tmp``, if some could not be moved back."""
    left = []
    for src, dst in reversed(done):
        try:
            os.makedirs(os.path.dirname(src), exist_ok=True)
            shutil.move(dst, src)
        except OSError:
            left.append((src, dst))
    if left:
        with open(os.path.join(tmp, RESTORE_LIST), "w") as f:
            f.writelines(f"{dst}\t{src}\n" for src, dst in left)
    return not left
