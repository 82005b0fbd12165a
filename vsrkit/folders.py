"""Folder helpers shared by the dataset tools: list the clips of a folder of PNG clips, keep outputs apart from inputs.

A neutral module (it imports only :mod:`vsrkit.errors`), used by ``vsrkit.degrade``, ``vsrkit.codec``,
``vsrkit.data``, ``vsrkit.inference`` and the command-line tools without any of them importing another.
"""
from __future__ import annotations

import os

from vsrkit.errors import ConfigError, DataError


#: how deep :func:`list_clips` looks for clip folders (Vimeo-90K's ``sequences/00001/0001`` is 2)
MAX_CLIP_DEPTH = 3


def list_clips(root: str) -> dict[str, list[str]]:
    """``{clip: [frame file names, sorted]}`` for every folder under ``root`` holding PNGs.

    A folder with PNGs is a clip and is not looked into further; a folder without PNGs is searched for clip folders,
    down to :data:`MAX_CLIP_DEPTH` levels, so nested layouts keep their relative names as clip names
    (``00001/0001`` for Vimeo-90K's ``sequences/00001/0001/im1.png``, as the datasets and meta-info files name
    them). Hidden folders (``.name``, e.g. the tools' temporary ones) are skipped.
    """
    if not os.path.isdir(root):
        raise DataError(f"{root}: input folder not found; pass --input <folder of clip folders of PNGs>")
    clips: dict[str, list[str]] = {}

    def visit(rel: str, depth: int) -> None:
        folder = os.path.join(root, rel)
        entries = sorted(e for e in os.listdir(folder) if not e.startswith("."))
        frames = [e for e in entries if e.lower().endswith(".png")]
        if frames and rel:
            clips[rel.replace(os.sep, "/")] = frames
        elif depth < MAX_CLIP_DEPTH:
            for entry in entries:
                if os.path.isdir(os.path.join(folder, entry)):
                    visit(os.path.join(rel, entry), depth + 1)

    visit("", 0)
    if not clips:
        raise DataError(f"{root}: no clip folders with PNG frames; expected {root}/<clip>/00000000.png ...")
    return clips


def check_separate(output: str, inputs: dict[str, str | None], out_flag: str = "--output") -> None:
    """Refuse an ``output`` that is one of ``inputs`` or lies inside one of them, or an input inside ``output``.

    Paths are compared after resolving symlinks (``os.path.realpath``), and two existing paths that are the same
    file (e.g. hard links) count as the same. Every tool that reads ``inputs`` and replaces or fills ``output`` calls
    this first, so that no run can overwrite, delete or re-read its own input.

    Args:
        output: the path the tool writes (file or folder; need not exist yet).
        inputs: ``{flag: path}`` of everything the tool reads (``None`` values are skipped), e.g.
            ``{'--input': 'datasets/Vid4'}``; the flag is named in the error.
        out_flag: how the output is named in the error.
    Raises:
        ConfigError: one line naming both flags, both paths and the fix.
    """
    out = os.path.realpath(output)
    for flag, path in inputs.items():
        if path is None:
            continue
        src = os.path.realpath(path)
        same = src == out or (os.path.exists(src) and os.path.exists(out) and os.path.samefile(src, out))
        if same:
            raise ConfigError(f"{out_flag} {output} is the same as {flag} {path}; write to another path (the output "
                              f"is replaced, which would destroy the input)")
        if os.path.commonpath([src, out]) == src:
            raise ConfigError(f"{out_flag} {output} is inside {flag} {path}; choose an output outside the input "
                              f"(the tool would read or replace its own output)")
        if os.path.commonpath([src, out]) == out:
            raise ConfigError(f"{flag} {path} is inside {out_flag} {output}; choose an output outside the input "
                              f"(replacing the output would delete the input)")
