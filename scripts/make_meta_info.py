#!/usr/bin/env python3
"""Write a meta-info file (``clip num_frames (h,w,c)`` per line) from a folder of clips, an LMDB or YUV files.

    python scripts/make_meta_info.py --input datasets/REDS/train_sharp --output meta/reds_train.txt \
        [--exclude 000 011 015 020] [--backend disk|lmdb|yuv]

Meta-info files are always generated from the data, never written by hand.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from vsrkit.cli import run_cli  # noqa: E402
from vsrkit.data.meta_info import scan_storage, write_meta_info  # noqa: E402
from vsrkit.data.storage import open_storage  # noqa: E402


def make_meta_info(input_dir: str, output: str, backend: str = "disk", include: list[str] | None = None,
                   exclude: list[str] | None = None) -> int:
    """Scan ``input_dir`` and write ``output``; returns the number of clips written."""
    storage = open_storage(input_dir, {"type": backend}, "--input")
    clips = [c for c in storage.clips() if (not include or c in include) and c not in set(exclude or [])]
    infos = scan_storage(storage, clips)
    write_meta_info(output, infos)
    return len(infos)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="folder of clips, X.lmdb, or folder of .yuv files")
    parser.add_argument("--output", required=True, help="meta-info file to write")
    parser.add_argument("--backend", choices=("disk", "lmdb", "yuv"), default="disk")
    parser.add_argument("--include", nargs="*", help="only these clips")
    parser.add_argument("--exclude", nargs="*", help="leave these clips out (e.g. REDS4: 000 011 015 020)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    n = make_meta_info(args.input, args.output, args.backend, args.include, args.exclude)
    print(f"wrote {n} clips to {args.output}")
    return 0


if __name__ == "__main__":
    run_cli(main)
