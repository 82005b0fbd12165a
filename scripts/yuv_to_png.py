#!/usr/bin/env python3
"""Decode raw 8-bit YUV 4:2:0 sequences to folders of RGB PNG frames (BT.601 limited range).

    python scripts/yuv_to_png.py --input datasets/MFQE18_download --output datasets/MFQE18/GT [--clips A B]

Every ``Name_WxH_N.yuv`` of ``--input`` (size checked against its name) becomes ``<output>/<Name>/00000000.png ...``,
converted with the same matrix ``YuvStorage(color='rgb')`` uses (OpenCV ``COLOR_YUV2RGB_I420``). This is how
PTIA's published ``test_18_RGB`` frames of the 18 MFQE test sequences are made. The output folder appears only once
every frame is written: an interrupted run leaves nothing half-written behind.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from vsrkit.cli import run_cli  # noqa: E402
from vsrkit.data.prepare import staged_output  # noqa: E402
from vsrkit.data.storage import YuvStorage, write_png  # noqa: E402
from vsrkit.errors import DataError  # noqa: E402


def yuv_to_png(input_dir: str, output: str, clips: list[str] | None = None, overwrite: bool = False) -> dict[str, int]:
    """Write the PNG folders; returns ``{clip: frames written}``. Every file is checked before anything is written."""
    if not os.path.isdir(input_dir):
        raise DataError(f"--input {input_dir}: folder not found")
    storage = YuvStorage(input_dir, color="rgb")
    found = storage.clips()
    missing = sorted(set(clips or []) - set(found))
    if missing:
        raise DataError(f"--clips: {', '.join(missing)} not in {input_dir} (found: {', '.join(found) or 'none'})")
    chosen = [c for c in found if not clips or c in clips]
    if not chosen:
        raise DataError(f"--input {input_dir}: no Name_WxH_N.yuv files")
    counts = {clip: storage.num_frames(clip) for clip in chosen}  # size vs name checked here
    with staged_output(output, overwrite) as tmp:
        for clip, n in counts.items():
            for index in range(n):
                write_png(os.path.join(tmp, clip, f"{index:08d}.png"), storage.read(clip, index))
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="folder of Name_WxH_N.yuv files (8-bit 4:2:0)")
    parser.add_argument("--output", required=True, help="folder that receives one PNG folder per sequence")
    parser.add_argument("--clips", nargs="*", help="only these sequence names (default: all)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    counts = yuv_to_png(args.input, args.output, args.clips, args.overwrite)
    print(f"{len(counts)} sequences, {sum(counts.values())} frames -> {args.output}")
    return 0


if __name__ == "__main__":
    run_cli(main)
