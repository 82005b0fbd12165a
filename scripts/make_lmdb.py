#!/usr/bin/env python3
"""Pack a folder of clips into an LMDB for the ``lmdb`` io_backend.

    python scripts/make_lmdb.py --input datasets/REDS/train_sharp --output datasets/REDS/train_sharp.lmdb --workers 2

Keys are ``clip/00000000`` (frame position in sorted name order); ``meta_info.txt`` records ``key (h,w,c)
compression`` per frame. The LMDB is built under a temporary name and renamed when complete. A folder that holds
one clip's frames itself is packed as that clip, named after the folder; --output may not be inside --input.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from vsrkit.cli import run_cli  # noqa: E402
from vsrkit.data.lmdb_writer import COMPRESSIONS, make_lmdb  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="folder of clips: <input>/<clip>/<frames>")
    parser.add_argument("--output", required=True, help="the LMDB folder to create, e.g. X.lmdb")
    parser.add_argument("--workers", type=int, default=2, help="parallel frame readers (default 2)")
    parser.add_argument("--compression", choices=COMPRESSIONS, default="png",
                        help="png: store PNG bytes (default); raw: store decoded RGB (bigger, no decode cost)")
    parser.add_argument("--png-level", type=int, default=1, help="zlib level when re-encoding non-PNG input")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.add_argument("--verify", action="store_true",
                        help="decode every PNG while packing (slower; finds corruption inside files)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    n = make_lmdb(args.input, args.output, workers=args.workers, compression=args.compression,
                  png_level=args.png_level, overwrite=args.overwrite, progress=not args.no_progress,
                  verify=args.verify)
    print(f"wrote {n} frames to {args.output}")
    return 0


if __name__ == "__main__":
    run_cli(main)
