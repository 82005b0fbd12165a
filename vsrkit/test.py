"""Evaluate: ``python vsrkit/test.py -opt X.yml [--set a.b=c ...] [--debug]``; prints and saves a per-clip table."""
from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a script: import from the repository root, not from vsrkit/ itself
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_main(argv) -> int:
    from vsrkit.engine.dist import cleanup
    from vsrkit.launch.tester import Tester
    from vsrkit.builders import check_override
    from vsrkit.options import load_options
    from vsrkit.train import parse_args

    args = parse_args(argv, is_train=False)
    opt = load_options(args.opt, args.set, is_train=False)
    for item in args.set:
        check_override(opt, item)
    try:
        Tester(opt).run()
    finally:
        cleanup()
    return 0


def main() -> None:
    from vsrkit.cli import run_cli

    run_cli(test_main)


if __name__ == "__main__":
    main()
