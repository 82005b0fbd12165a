#!/usr/bin/env python3
"""STDO's pipeline, one command per stage (each resumable, with progress bars and a manifest in the work folder).

    W=work/game_15s
    python scripts/stdo_pipeline.py frames   --work $W --input game_15s.mp4 --seconds 15 --held-out 45 --scales 2 4
    python scripts/stdo_pipeline.py grid     --work $W --scale 2                # 20x10 (x4: 10x5; x3: --grid 20x10)
    python scripts/stdo_pipeline.py labels   --work $W --scale 2 --general-train datasets/DIV2K/HR
    python scripts/stdo_pipeline.py chunks   --work $W --scale 2 --num-chunks 2
    python scripts/stdo_pipeline.py train    --work $W --scale 2 --num-chunks 2 [--jobs 2 --gpus 0,1]
    python scripts/stdo_pipeline.py infer    --work $W --scale 2 --num-chunks 2 --frames test
    python scripts/stdo_pipeline.py evaluate --work $W --scale 2 --num-chunks 2 --protocol stdo   # or cafm
    python scripts/stdo_pipeline.py export   --work $W --scale 2 --num-chunks 2   # ONNX (pip install onnx onnxruntime)
    python scripts/stdo_pipeline.py bench    --scale 2                           # stitched fps at 1080p on the CPU

Labels need a general SR model: ``--general-model ckpt.pth`` (vsrkit or published checkpoint; ``--general-net``
for a configuration other than WDSR-A), ``--general-train FOLDER`` (vsrkit trains a WDSR on those images first),
or ``--general-bicubic`` (the explicit fallback). See docs/stdo.md.
"""
import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import yaml  # noqa: E402

from vsrkit.cli import run_cli  # noqa: E402
from vsrkit.errors import ConfigError  # noqa: E402


def _yaml_dict(text, flag):
    if text is None:
        return None
    value = yaml.safe_load(text)
    if not isinstance(value, dict) or "type" not in value:
        raise ConfigError(f"{flag}: give a YAML mapping with a type, e.g. '{{type: WDSR, num_blocks: 8}}'")
    return value


def _grids(items):
    from vsrkit.stdo.workdir import parse_grid

    out = {}
    for item in items or []:
        scale, sep, grid = item.partition("=")
        if not sep or not scale.upper().startswith("X") or not scale[1:].isdigit():
            raise ConfigError(f"--grid {item!r}: expected X<scale>=COLSxROWS, e.g. X3=20x10")
        out[int(scale[1:])] = parse_grid(grid)
    return out


def _frames(text):
    if ":" in text:
        a, b = text.split(":", 1)
        return [int(a), int(b)]
    return text


def build_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="stage", required=True)

    def stage(name, help_, scale=True, chunks=False):
        s = sub.add_parser(name, help=help_)
        s.add_argument("--work", required=True, help="the video's work folder")
        if scale:
            s.add_argument("--scale", type=int, required=True)
        if chunks:
            s.add_argument("--num-chunks", type=int, default=2, help="k (published: 2)")
        s.add_argument("--overwrite", action="store_true", help="redo a stage made with other settings")
        s.add_argument("--debug", action="store_true", help="show tracebacks")
        s.add_argument("--quiet", action="store_true", help="no progress bars")
        return s

    s = stage("frames", "video -> HR frames (first N seconds + held-out) and bicubic LR per scale", scale=False)
    s.add_argument("--input", required=True, help="video file, or a folder of frame images")
    s.add_argument("--seconds", type=float, default=15, help="training length (VSD4K: 15 or 45)")
    s.add_argument("--held-out", type=int, default=0, help="frames after them for CaFM's protocol (15 s: 45)")
    s.add_argument("--fps", type=float, help="frame rate (default: the video's; needed for a frame folder)")
    s.add_argument("--scales", type=int, nargs="+", default=[2, 4])
    s.add_argument("--name", help="video name (default: the file's stem; VSD4K: game_15s, inter_15s, vlog_15s...)")
    s.add_argument("--grid", nargs="*", default=[], help="X<s>=COLSxROWS (default x2/x3 20x10, x4 10x5)")

    s = stage("grid", "record the patch grid of a scale")
    s.add_argument("--grid", help="COLSxROWS (default: the frames stage's)")

    s = stage("labels", "difficulty label (general model PSNR) of every patch")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--general-model", metavar="CKPT", help="checkpoint of a general SR model at this scale")
    g.add_argument("--general-train", metavar="FOLDER", help="train a general WDSR on these HR images first")
    g.add_argument("--general-bicubic", action="store_true", help="fallback: bicubic PSNR as the label")
    s.add_argument("--general-net", help="network_g of the general model as YAML (default: WDSR-A published)")
    s.add_argument("--general-iters", type=int, default=20000)
    s.add_argument("--general-gt-size", type=int, default=96)
    s.add_argument("--batch", type=int, default=256, help="patches per forward")
    s.add_argument("--device")

    stage("chunks", "split the patches at quantiles into k chunks", chunks=True)

    s = stage("train", "overfit one model per chunk and write the routed index", chunks=True)
    s.add_argument("--mode", choices=("separate", "routed", "joint"), default="separate",
                   help="separate: one run per chunk (STDO); routed: one run, k networks; joint: one network for "
                        "all chunks with difficulty-weighted sampling and chunk conditioning (vsrkit's design)")
    s.add_argument("--alpha", type=float, default=0.5, help="joint: sampling weight = (chunk label MSE)^alpha")
    s.add_argument("--net", help="network_g as YAML (default: WDSR-A at this scale)")
    s.add_argument("--epochs", type=int, default=50)
    s.add_argument("--batch", type=int, default=16)
    s.add_argument("--lr", type=float, default=1e-3)
    s.add_argument("--eta-min", type=float, default=4e-8)
    s.add_argument("--jobs", type=int, default=1, help="chunk runs at once (subprocesses)")
    s.add_argument("--gpus", help="comma list handed to the jobs round-robin, e.g. 0,1 (or '0,1;2,3' with --nproc)")
    s.add_argument("--nproc", type=int, default=1, help="processes (GPUs) per run under torchrun")
    s.add_argument("--workers", type=int, default=2, help="data loader workers per process")
    s.add_argument("--seed", type=int, default=226)

    s = stage("infer", "stitched SR frames and video", chunks=True)
    s.add_argument("--frames", type=_frames, default="test", help="test (held-out), train, all or START:END")
    s.add_argument("--crf", type=float, default=18)
    s.add_argument("--no-video", action="store_true", help="PNG frames only")
    s.add_argument("--device")

    s = stage("evaluate", "PSNR table by protocol, beside bicubic (and the paper on VSD4K)", chunks=True)
    s.add_argument("--protocol", choices=("stdo", "cafm"), default="stdo")
    s.add_argument("--shave", type=int, help="px off each side (default stdo: scale+4, cafm: scale+6)")
    s.add_argument("--batch", type=int, default=64)
    s.add_argument("--device")

    s = stage("export", "ONNX files of the chunk networks and the router, checked against PyTorch", chunks=True)

    s = sub.add_parser("bench", help="stitched playback fps at 1080p on the CPU (published WDSR-A, random weights)")
    s.add_argument("--scale", type=int, required=True)
    s.add_argument("--net", help="network_g as YAML (default: WDSR-A at this scale)")
    s.add_argument("--frames", type=int, default=2)
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--backends", nargs="+", default=["torch", "onnxruntime"], choices=["torch", "onnxruntime"])
    s.add_argument("--hr", type=int, nargs=2, default=[1080, 1920], metavar=("H", "W"))
    s.add_argument("--debug", action="store_true")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    progress = not getattr(args, "quiet", False)
    if args.stage == "frames":
        from vsrkit.stdo.frames import extract_frames

        r = extract_frames(args.work, args.input, args.scales, args.seconds, args.held_out, args.fps, args.name,
                           _grids(args.grid), args.overwrite, progress)
        print(f"frames: {r['num_frames']} ({r['train_frames']} train, {r['test_frames']} held out), HR "
              f"{r['hr_size'][1]}x{r['hr_size'][0]} -> {args.work}")
    elif args.stage == "grid":
        from vsrkit.stdo.grid import make_grid
        from vsrkit.stdo.workdir import parse_grid

        r = make_grid(args.work, args.scale, parse_grid(args.grid) if args.grid else None, args.overwrite)
        print(f"grid x{args.scale}: {r['settings']['cols']}x{r['settings']['rows']}, LR patch {r['lr_patch']}, "
              f"HR patch {r['hr_patch']}")
    elif args.stage == "labels":
        from vsrkit.stdo.general import general_settings
        from vsrkit.stdo.labels import label_patches

        kind = "checkpoint" if args.general_model else "train" if args.general_train else "bicubic"
        general = general_settings(kind, args.scale, args.general_model, args.general_train,
                                   _yaml_dict(args.general_net, "--general-net"), args.general_iters,
                                   args.general_gt_size)
        r = label_patches(args.work, args.scale, general, args.batch, args.device, args.overwrite, progress)
        print(f"labels x{args.scale}: {r['num_patches']} patches, PSNR {r['psnr_min']:.2f} .. {r['psnr_max']:.2f} "
              f"(mean {r['psnr_mean']:.2f}) by {kind}")
    elif args.stage == "chunks":
        from vsrkit.stdo.chunks import split_chunks

        r = split_chunks(args.work, args.scale, args.num_chunks, args.overwrite)
        print(f"chunks x{args.scale} k={args.num_chunks}: edges {[round(e, 3) for e in r['edges']]}; "
              + ", ".join(f"chunk {c['chunk']} {c['train_patches']} patches" for c in r["chunks"]))
    elif args.stage == "train":
        from vsrkit.stdo.overfit import overfit_chunks

        gpus = args.gpus.split(";") if args.gpus and ";" in args.gpus else (args.gpus.split(",") if args.gpus else None)
        r = overfit_chunks(args.work, args.scale, args.num_chunks, args.mode, _yaml_dict(args.net, "--net"),
                           args.epochs, args.batch, args.lr, args.eta_min, args.jobs, gpus, args.nproc,
                           args.workers, args.seed, args.overwrite, args.alpha)
        print(f"train x{args.scale} k={args.num_chunks}: {r['index']}")
    elif args.stage == "infer":
        from vsrkit.stdo.infer import stitch_video

        r = stitch_video(args.work, args.scale, args.num_chunks, args.frames, args.device, args.crf,
                         not args.no_video, args.overwrite, progress)
        print(f"infer x{args.scale}: {r['num_frames']} frames -> {r['video_file'] or r['frames_dir']}")
    elif args.stage == "evaluate":
        from vsrkit.stdo.evaluate import evaluate

        evaluate(args.work, args.scale, args.num_chunks, args.protocol, args.shave, args.batch, args.device,
                 progress)
    elif args.stage == "export":
        from vsrkit.stdo.export import export_work, to_json

        print(to_json(export_work(args.work, args.scale, args.num_chunks)))
    elif args.stage == "bench":
        from vsrkit.stdo.export import bench_stitched, to_json

        print(to_json(bench_stitched(args.scale, _yaml_dict(args.net, "--net"), hr=tuple(args.hr), frames=args.frames,
                                     threads=args.threads, backends=tuple(args.backends))))
    return 0


if __name__ == "__main__":
    run_cli(main)
