"""Train: ``python vsrkit/train.py -opt X.yml [--set a.b=c ...] [--auto_resume | --restart] [--debug]``.

Works unchanged under ``torchrun --nproc_per_node=N`` (also ``--nnodes`` with rendezvous) and SLURM ``srun``.
"""
from __future__ import annotations

import argparse
import os
import sys

if __package__ in (None, ""):  # run as a script: import from the repository root, not from vsrkit/ itself
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv, is_train: bool) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vsrkit/train.py" if is_train else "vsrkit/test.py")
    parser.add_argument("-opt", "--opt", required=True, help="path to the YAML options file")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override options, e.g. --set train.total_iter=100 datasets.train.batch_size_per_gpu=2")
    if is_train:
        parser.add_argument("--auto_resume", action="store_true", help="continue from the newest readable state")
        parser.add_argument("--restart", action="store_true",
                            help="start over: move an existing experiment folder to <folder>_archived_<time> "
                                 "(nothing is deleted)")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    parser.add_argument("--launcher", default=None, help="ignored (kept for BasicSR command lines)")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def train_main(argv) -> int:
    from vsrkit.engine.dist import cleanup
    from vsrkit.launch.trainer import Trainer
    from vsrkit.builders import check_override
    from vsrkit.options import load_options

    args = parse_args(argv, is_train=True)
    opt = load_options(args.opt, args.set, is_train=True)
    for item in args.set:
        check_override(opt, item)
    try:
        Trainer(opt, auto_resume=args.auto_resume, restart=args.restart).train()
    finally:
        cleanup()
    return 0


def main() -> None:
    from vsrkit.cli import run_cli

    run_cli(train_main)


if __name__ == "__main__":
    main()
