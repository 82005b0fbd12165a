"""Evaluate: ``python vsrkit/test.py -opt X.yml [--set a.b=c ...] [--debug]``; prints and saves a per-clip table."""
from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a script: import from the repository root, not from vsrkit/ itself
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_main(argv) -> int:
    from vsrkit.engine.dist import cleanup
    from vsrkit.engine.tester import Tester
    from vsrkit.options import load_options
    from vsrkit.train import parse_args

    args = parse_args(argv, is_train=False)
    overrides = list(args.set)
    if args.ablate_mvs:
        overrides.append("network_g.ablate_mvs=true")
    if args.ablate_second_order:
        overrides.append("network_g.second_order=false")
    opt = load_options(args.opt, overrides, is_train=False)
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
