#!/usr/bin/env python3
"""Build low-resolution frames from a folder of HR clips: BI (MATLAB bicubic) or BD (both conventions).

    python degradation/make_lr.py --input GT_ROOT --output LR_ROOT --mode bi|bd_matlab|bd_duf --scale 4 [--workers N]

GT_ROOT holds clip folders of PNG frames (``GT_ROOT/<clip>/00000000.png``; nested folders such as Vimeo-90K's
``sequences/00001/0001/im1.png`` are clip ``00001/0001``); LR_ROOT gets the same layout and a
``manifest.json`` (mode, scale, sigma, kernel size, source, tool versions). Re-running with the same settings resumes;
an LR_ROOT built with other settings is refused, and so is an LR_ROOT inside GT_ROOT (or the reverse). Every HR
frame must be a multiple of --scale in both sizes, so that HR = scale x LR exactly: other sizes are refused (crop
the HR clips first; vsrkit does not crop silently, the GT the datasets read would no longer match). Modes:

  bi         MATLAB imresize(img, 1/scale), bicubic with antialiasing (bit-exact)
  bd_matlab  fspecial('gaussian', 12, 1.6) + imfilter replicate + x(2:4:end-2)   (BasicVSR / MMEditing / PTIA)
  bd_duf     13x13 Gaussian sigma 0.4*scale, reflect, centred on HR pixel 4j     (BasicSR duf_downsample)
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from vsrkit.cli import run_cli  # noqa: E402
from vsrkit.degrade.build import MODES, degrade_settings, make_lr  # noqa: E402
from vsrkit.errors import DataError  # noqa: E402
from vsrkit.folders import check_separate, list_clips  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_divisible(input_root: str, scale: int) -> None:
    """DataError naming the first HR frame whose width or height ``scale`` does not divide (sizes read from the PNG
    headers; unreadable files are left to the degradation step, which names them)."""
    for clip, names in list_clips(input_root).items():
        for name in names:
            path = os.path.join(input_root, clip, name)
            with open(path, "rb") as f:
                head = f.read(24)
            if head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
                continue
            w, h = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
            if w % scale or h % scale:
                raise DataError(f"{path}: {w}x{h} is not a multiple of --scale {scale}; crop the HR clips to "
                                f"{w - w % scale}x{h - h % scale} first (the GT must stay {scale} x the LR), or "
                                f"choose a scale that divides the size")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="HR root: <input>/<clip>/<frame>.png")
    parser.add_argument("--output", required=True, help="LR root to create or resume")
    parser.add_argument("--mode", required=True, choices=MODES)
    parser.add_argument("--scale", type=int, default=4, help="downscaling factor (default 4)")
    parser.add_argument("--sigma", type=float, default=None,
                        help="BD Gaussian sigma in HR pixels (default 1.6 for bd_matlab, 0.4*scale for bd_duf)")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="parallel processes")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    check_separate(args.output, {"--input": args.input})
    degrade_settings(args.mode, args.scale, args.sigma)  # bad settings first, then the frames
    check_divisible(args.input, args.scale)
    manifest = make_lr(args.input, args.output, args.mode, args.scale, args.sigma, workers=args.workers,
                       progress=not args.no_progress)
    print(f"wrote {manifest['frames']} frames of {len(manifest['clips'])} clips to {args.output} "
          f"({args.mode}, x{args.scale})")
    return 0


if __name__ == "__main__":
    run_cli(main)
