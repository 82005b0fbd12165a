"""Shared command-line plumbing: one clear error line instead of a traceback."""
from __future__ import annotations

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

