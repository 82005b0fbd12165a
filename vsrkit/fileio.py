"""Atomic writes: a temporary name in the same folder, then ``os.replace`` (never a half-written file).

Every writer of the project goes through here: :func:`write_bytes_atomic`, :func:`write_text_atomic` and
:func:`write_json_atomic` for data in memory, :func:`atomic_path` for writers that need a file name (``torch.save``,
``np.savez``, ``cv2.imwrite``, encoders and muxers), and :func:`replace_dir` to swap a finished folder in.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from typing import Callable, Iterator


def temp_path(path: str | os.PathLike, keep_ext: bool = False) -> str:
    """The hidden temporary name next to ``path``: ``.<name>.tmp-<pid>``, or ``.<stem>.tmp-<pid><ext>`` with
    ``keep_ext`` (for writers that choose the format by the extension: ``cv2.imwrite``, muxers)."""
    folder, base = os.path.split(os.path.abspath(os.fspath(path)))
    if keep_ext:
        stem, ext = os.path.splitext(base)
        return os.path.join(folder, f".{stem}.tmp-{os.getpid()}{ext}")
    return os.path.join(folder, f".{base}.tmp-{os.getpid()}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, keep_ext: bool = False) -> Iterator[str]:
    """Yield a temporary path next to ``path`` (see :func:`temp_path`; parent folders created) for the block to
    write; when the block finishes it is renamed to ``path``, when the block raises it is removed and ``path`` is as
    it was. The block must create the file (or folder) at the yielded path.

    Example::

        with atomic_path("ckpt/net.pth") as tmp:
            torch.save(state, tmp)
    """
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = temp_path(path, keep_ext)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def replace_dir(src: str | os.PathLike, dst: str | os.PathLike, replace: bool = True) -> None:
    """Rename the finished folder ``src`` to ``dst``. An existing ``dst`` is first set aside (``.<name>.old-<pid>``
    next to it), put back if the rename fails, and deleted only once ``src`` is in place.

    With ``replace=False`` a ``dst`` that is there is never touched: the rename raises OSError when ``dst`` is a
    non-empty folder (e.g. another process finished the same build first) and ``src`` stays where it is.
    """
    src, dst = os.fspath(src), os.fspath(dst)
    if not replace:
        os.replace(src, dst)  # rename(2): refuses a non-empty folder
        return
    aside = None
    if os.path.lexists(dst):
        folder, base = os.path.split(os.path.abspath(dst))
        aside = os.path.join(folder, f".{base}.old-{os.getpid()}")
        _remove(aside)
        os.replace(dst, aside)
    try:
        os.replace(src, dst)
    except BaseException:
        if aside is not None:
            os.replace(aside, dst)
        raise
    if aside is not None:
        _remove(aside)


def publish_dir(src: str | os.PathLike, dst: str | os.PathLike, same_build: Callable[[], bool]) -> None:
    """Put the finished build ``src`` at ``dst`` (:func:`replace_dir`). A ``dst`` holding another build (``same_build()``
    False) is replaced; if another process published the same build first, its folder is kept (and ``src`` is
    left for the caller to delete)."""
    if os.path.lexists(dst) and not same_build():
        replace_dir(src, dst)
        return
    try:
        replace_dir(src, dst, replace=False)
    except OSError:  # another process finished first
        if not same_build():
            raise


def _remove(path: str) -> None:
    """Delete ``path`` if it exists: a folder with everything in it, else the file or symlink."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` (parent folders created) via a hidden temporary name and a rename."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, data) -> None:
    """``data`` as indented, key-sorted JSON (non-JSON values such as paths written with ``str``)."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
