"""Shared command-line plumbing: one clear error line instead of a traceback."""
from __future__ import annotations

import os
import sys
from typing import Callable, Sequence

from vsrkit.errors import ConfigError, VsrkitError


def run_cli(main: Callable[[Sequence[str]], int | None], argv: Sequence[str] | None = None) -> None:
    """Run ``main(argv)``; a :class:`VsrkitError` prints ``error: <message>`` on stderr and exits with status 2.

    With ``--debug`` in ``argv`` the full traceback is shown instead.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        code = main(argv)
    except VsrkitError as err:
        if "--debug" in argv:
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)


def parse_pairs(items: Sequence[str], flag: str, form: str = "NAME=VALUE") -> dict[str, str]:
    """``['fast=a.txt', 'slow=b.txt']`` -> ``{'fast': 'a.txt', 'slow': 'b.txt'}`` (split at the first ``=``);
    a ConfigError naming ``flag`` and the expected ``form`` for an item without ``=`` or without a name."""
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"{flag}: expected {form}, got '{item}'")
        pairs[name] = value
    return pairs


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
