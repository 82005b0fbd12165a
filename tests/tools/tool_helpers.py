"""Helpers of the command-line tool tests: load a script as a module, run it like its ``__main__``, snapshot folders."""
import hashlib
import importlib.util
import os

import numpy as np

from vsrkit.cli import run_cli
from vsrkit.data.storage import write_png

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_MODULES: dict = {}


def script(rel: str):
    """The module of ``scripts/<name>.py`` or ``degradation/<name>.py`` (``rel`` relative to the repository)."""
    if rel not in _MODULES:
        name = "vsrkit_tool_" + rel.replace("/", "_").replace(".py", "")
        spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, rel))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _MODULES[rel] = module
    return _MODULES[rel]


def run_tool(rel: str, argv, capsys) -> tuple[int, str, str]:
    """Run ``rel``'s ``main`` through :func:`run_cli` as its ``__main__`` does: ``(exit code, stdout, stderr)``.

    An exception that is not a VsrkitError is not caught here, so a traceback fails the calling test."""
    main = script(rel).main
    try:
        run_cli(main, [str(a) for a in argv])
        code = 0
    except SystemExit as stop:
        code = stop.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def frames(folder, names, size=(8, 8), value=0) -> None:
    """PNG frames ``names`` of ``size`` (h, w) in ``folder``, each a different flat colour."""
    os.makedirs(folder, exist_ok=True)
    for i, n in enumerate(names):
        write_png(os.path.join(folder, n), np.full(tuple(size) + (3,), (value + 10 * i) % 256, np.uint8))


def snapshot(root) -> dict:
    """``{relative path: content hash | 'dir' | 'link -> target'}`` of everything under ``root`` (links not
    followed): equal snapshots mean nothing was moved, deleted, added or changed."""
    root = os.fspath(root)
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                out[rel] = "link -> " + os.readlink(path)
            elif os.path.isdir(path):
                out[rel] = "dir"
            else:
                with open(path, "rb") as f:
                    out[rel] = hashlib.sha256(f.read()).hexdigest()
    return out


def leftovers(parent) -> list[str]:
    """Temporary or set-aside names a staged tool may have left in ``parent``."""
    return sorted(n for n in os.listdir(parent) if ".tmp-" in n or ".old-" in n)
