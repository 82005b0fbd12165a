"""Shared command-line plumbing: one clear error line instead of a traceback."""
from __future__ import annotations

import sys
from typing import Callable, Sequence

from vsrkit.errors import VsrkitError


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
