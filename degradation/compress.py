#!/usr/bin/env python3
"""Compress LR clips with H.264 or HEVC: bitstreams, decoded LQ frames, motion vectors, picture types, QP maps.

    python degradation/compress.py --codec h264 --input LR_ROOT --output OUT_ROOT [--crf 25 | --qp 32]
        [--preset medium] [--bf N] [--ref N] [--workers N]
    python degradation/compress.py --codec hevc --input LR_ROOT --output OUT_ROOT --qp 32
        [--hevc-backend pyav|x265|hm --hm-bin PATH --hm-cfg PATH] [--hevc-cascade none|hm_ldp]
        [--hevc-motion none|estimate]

LR_ROOT holds clip folders of PNG frames (nested ones keep their names: ``00001/0001``); OUT_ROOT gets
``bitstreams/``, ``lq/<clip>/``, ``motion/<clip>.npz`` and a ``manifest.json`` that datasets check
(``manifest_check: {crf: 23, preset: slow}``). H.264 motion comes from the bitstream; FFmpeg exports no HEVC motion
vectors, so ``--hevc-motion estimate`` estimates block motion on the decoded frames instead. Re-running with the
same settings resumes; an output made with other settings is refused. HEVC backends: ``pyav`` (libx265 fixed-QP
low-delay P), ``x265`` (the x265 CLI with HM-16.5's LDP QP cascade), ``hm`` (your HM TAppEncoder binary and
config).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from vsrkit.cli import run_cli  # noqa: E402
from vsrkit.codec.compress import HEVC_MOTION, compress_folder, compress_settings  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codec", required=True, choices=("h264", "hevc"))
    parser.add_argument("--input", required=True, help="LR root: <input>/<clip>/<frame>.png")
    parser.add_argument("--output", required=True, help="output root to create or resume")
    parser.add_argument("--crf", type=float, default=None, help="H.264 constant rate factor (default 25)")
    parser.add_argument("--qp", type=int, default=None, help="fixed QP (H.264), or the base QP (HEVC, default 32)")
    parser.add_argument("--preset", default="medium", help="x264/x265 preset (default medium)")
    parser.add_argument("--bf", type=int, default=None, help="H.264 max consecutive B-frames (default: preset's)")
    parser.add_argument("--ref", type=int, default=None, help="reference frames (default: preset's / 4 for HEVC)")
    parser.add_argument("--hevc-backend", default="pyav", choices=("pyav", "x265", "hm"))
    parser.add_argument("--hm-bin", default=None, help="HM encoder binary (TAppEncoder) for --hevc-backend hm")
    parser.add_argument("--hm-cfg", default=None, help="HM config, e.g. encoder_lowdelay_P_main.cfg")
    parser.add_argument("--hevc-cascade", default=None, choices=("none", "hm_ldp"),
                        help="HEVC per-frame QPs: hm_ldp = HM-16.5 low-delay P offsets 3/2/3/1 (default with "
                             "--hevc-backend x265), none = every frame at --qp")
    parser.add_argument("--hevc-motion", default="none", choices=HEVC_MOTION,
                        help="HEVC: also estimate block motion on the decoded frames")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="parallel processes")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    settings = compress_settings(args.codec, crf=args.crf, qp=args.qp, preset=args.preset, bf=args.bf, ref=args.ref,
                                 hevc_backend=args.hevc_backend, hm_bin=args.hm_bin, hm_cfg=args.hm_cfg,
                                 hevc_motion=args.hevc_motion, hevc_cascade=args.hevc_cascade)
    manifest = compress_folder(args.input, args.output, settings, workers=args.workers,
                               progress=not args.no_progress)
    print(f"wrote {manifest['frames']} frames of {len(manifest['clips'])} clips to {args.output} ({args.codec})")
    return 0


if __name__ == "__main__":
    run_cli(main)
