#!/usr/bin/env python3
"""Convert clips into a raw root for the crop-reading ``raw`` io_backend (one memory-mapped array per clip).

    python scripts/make_raw.py --input datasets/REDS/train_sharp --output datasets/REDS/train_sharp.raw --workers 2
    python scripts/make_raw.py --input datasets/REDS/train_sharp.lmdb --output datasets/REDS/train_sharp.raw
    python scripts/make_raw.py --input datasets/MFQEv2/test/raw --output datasets/MFQEv2/test/raw.raw --color y
    python scripts/make_raw.py --input datasets/REDS_H264/crf23_slow/motion --output .../crf23_slow/motion.raw

--input is a folder of clips (<input>/<clip>/<frames>, or one clip's frames), an LMDB from scripts/make_lmdb.py, a
folder of Name_WxH_N.yuv files (--color rgb | y: y keeps the native Y plane, for color: y datasets) or a folder of
motion <clip>.npz files (a raw motion root for dataroot_motion). Clips are converted one by one and recorded in
<output>/raw_info.json; an interrupted run resumes when the same command is run again. The disk space needed is
checked first (uint8 frames: t*h*w*3 bytes per clip; REDS train_sharp is about 75 GB). Then train with
``io_backend: {type: raw}`` and the --output folders as dataroot_gt / dataroot_lq (see docs/data_at_speed.md).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from vsrkit.cli import run_cli  # noqa: E402
from vsrkit.data.raw_writer import COLORS, make_raw  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="folder of clips, X.lmdb, folder of .yuv or of motion .npz")
    parser.add_argument("--output", required=True, help="the raw root to create (or to finish), e.g. X.raw")
    parser.add_argument("--workers", type=int, default=2, help="clips converted in parallel (default 2)")
    parser.add_argument("--color", choices=COLORS, default="rgb", help="YUV sources: rgb (BT.601) or y (Y plane)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    n = make_raw(args.input, args.output, workers=args.workers, color=args.color, overwrite=args.overwrite,
                 progress=not args.no_progress)
    print(f"wrote {n} clips to {args.output}")
    return 0


if __name__ == "__main__":
    run_cli(main)
