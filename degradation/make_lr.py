#!/usr/bin/env python3
"""Build low-resolution frames from a folder of HR clips: BI (MATLAB bicubic) or BD (both conventions).

    python degradation/make_lr.py --input GT_ROOT --output LR_ROOT --mode bi|bd_matlab|bd_duf --scale 4 [--workers N]

GT_ROOT holds clip folders of PNG frames (``GT_ROOT/<clip>/00000000.png``); LR_ROOT gets the same layout and a
``manifest.json`` (mode, scale, sigma, kernel size, source, tool versions). Re-running with the same settings resumes;
an LR_ROOT built with other settings is refused. Modes:

  bi         MATLAB imresize(img, 1/scale), bicubic with antialiasing (bit-exact)
  bd_matlab  fspecial('gaussian', 12, 1.6) + imfilter replicate + x(2:4:end-2)   (BasicVSR / MMEditing / PTIA)
  bd_duf     13x13 Gaussian sigma 0.4*scale, reflect, centred on HR pixel 4j     (BasicSR duf_downsample)
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from vsrkit.cli import run_cli  # noqa: E402
from vsrkit.degrade.build import MODES, make_lr  # noqa: E402


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
    manifest = make_lr(args.input, args.output, args.mode, args.scale, args.sigma, workers=args.workers,
                       progress=not args.no_progress)
    print(f"wrote {manifest['frames']} frames of {len(manifest['clips'])} clips to {args.output} "
          f"({args.mode}, x{args.scale})")
    return 0


if __name__ == "__main__":
    run_cli(main)
