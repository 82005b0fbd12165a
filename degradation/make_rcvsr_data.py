#!/usr/bin/env python3
"""RCVSR's mixed-resolution HEVC data from raw YUV 4:2:0 sequences (one command per step; docs/rcvsr.md).

    # 1. key frames (every 4th frame) at full resolution, low-delay P at the LR QP + 5
    python degradation/make_rcvsr_data.py keyframes --raw RAW --output OUT/KEY_QP37 --qp 37
    # 2. the other frames downsampled x2 and coded low-delay P; key-frame slots = downscaled decoded key frames
    python degradation/make_rcvsr_data.py lr --raw RAW --keys OUT/KEY_QP37 --output OUT/LR_QP32 --qp 32
    # 3. the rate-distortion anchor: full-resolution HEVC at the same QP, same encoder
    python degradation/make_rcvsr_data.py anchor --raw RAW --output OUT/ANCHOR_QP32 --qp 32

RAW holds ``Name_WxH_N.yuv`` files (e.g. ``datasets/MFQEv2/test/raw`` from scripts/prepare_mfqev2.py). Encoder:
``--backend auto`` (default) uses HM when ``--hm-bin`` (or ``TAppEncoder`` on the PATH) and ``--hm-cfg`` (HM-16.5
``encoder_lowdelay_P_main.cfg``) are given, else the x265 CLI with HM-16.5's LDP QP cascade, an approximation of HM
that every manifest and BD-rate table names. Outputs: decoded ``.yuv`` files, ``bitstreams/<Name>.hevc`` and
``manifest.json`` (per-sequence bits); the anchor also writes ``psnr_y.csv``. Re-running resumes.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from vsrkit.cli import run_cli  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("keyframes", "lr", "anchor"))
    parser.add_argument("--raw", required=True, help="folder of raw Name_WxH_N.yuv sequences")
    parser.add_argument("--output", required=True, help="output folder to create or resume")
    parser.add_argument("--qp", type=int, required=True, help="base QP of this step's streams")
    parser.add_argument("--keys", default=None, help="lr: the keyframes step's output folder")
    parser.add_argument("--key-qp-offset", type=int, default=5,
                        help="lr: required key QP - LR QP (default 5, the paper's); -1 accepts any")
    parser.add_argument("--key-interval", type=int, default=4, help="keyframes: key frame every N frames (4)")
    parser.add_argument("--scale", type=int, default=2, help="lr: downscaling factor (2; RCVSR is x2 only)")
    parser.add_argument("--backend", default="auto", choices=("auto", "hm", "x265"))
    parser.add_argument("--hm-bin", default=None, help="HM encoder binary (TAppEncoder)")
    parser.add_argument("--hm-cfg", default=None, help="HM config, e.g. cfg/encoder_lowdelay_P_main.cfg")
    parser.add_argument("--preset", default="medium", help="x265 preset (default medium)")
    parser.add_argument("--ref", type=int, default=4, help="reference pictures (x265; HM takes its config's)")
    parser.add_argument("--threads", type=int, default=1, help="x265 frame threads per sequence")
    parser.add_argument("--workers", type=int, default=1, help="sequences coded in parallel")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)

    from vsrkit.codec.yuv_hevc import resolve_backend
    from vsrkit.data import rcvsr_codec
    from vsrkit.errors import ConfigError

    encoder = resolve_backend(args.backend, args.hm_bin, args.hm_cfg)
    common = dict(workers=args.workers, progress=not args.no_progress, preset=args.preset, ref=args.ref,
                  threads=args.threads)
    if args.step != "lr" and args.keys:
        raise ConfigError(f"--keys belongs to the lr step, not {args.step}")
    if args.step == "keyframes":
        man = rcvsr_codec.make_keyframes(args.raw, args.output, args.qp, encoder, key_interval=args.key_interval,
                                         **common)
    elif args.step == "lr":
        if not args.keys:
            raise ConfigError("lr: --keys names the keyframes step's output (run it first)")
        offset = None if args.key_qp_offset < 0 else args.key_qp_offset
        man = rcvsr_codec.make_lr(args.raw, args.keys, args.output, args.qp, encoder, scale=args.scale,
                                  key_qp_offset=offset, **common)
    else:
        man = rcvsr_codec.make_anchor(args.raw, args.output, args.qp, encoder, **common)
    bits = sum(r["bits"] for r in man["clips"].values())
    print(f"{args.step}: {len(man['clips'])} sequences, QP {args.qp}, {bits / 8e3:.1f} kB -> {args.output} "
          f"({encoder['label']})")
    return 0


if __name__ == "__main__":
    run_cli(main)
