"""Upscale a video with a trained vsrkit network: mp4 in -> mp4 out.

    python scripts/infer_video.py --opt options/demo/test_mvvsr_demo.yml \
        --model experiments/mvvsr_demo/models/net_g_latest.pth --input in.mp4 --output out.mp4 \
        [--tile 128 --tile-overlap 16] [--chunk 20 --chunk-overlap 4] [--compare out.png] [--device cpu|cuda|auto]
        [--ablate_mvs] [--ablate_second_order] [--non-h264 fail|spynet] [--set network_g.x=y ...]

Any H.264 file works, including phone videos with B-frames and several reference frames: ``vsrkit.codec.iter_motion``
decodes it, exports the motion vectors and brings them to unit temporal distance. The clip is streamed: decoded,
super-resolved in temporal chunks (context frames on both sides are computed and discarded) and spatial tiles
(overlapping, cross-faded), and encoded with PyAV/libx264 at the input's exact frame rate, so memory does not grow
with the video's length: device memory is bounded by one ``(chunk + 2*chunk_overlap) x tile x tile`` run, host
memory by ``chunk + 2*chunk_overlap`` LR frames with their motion (``~ h*w*19`` bytes each), the 17 luma planes of the
reference search and one chunk of HR output. A non-H.264 input (e.g. HEVC) has no exported motion vectors: with
``--non-h264 fail`` (default) the script stops with a clear message; ``--non-h264 spynet`` switches to
``alignment: spynet`` (same trunk, SPyNet flow), with trained flow from ``--fallback-model`` (a checkpoint of the
SPyNet baseline) or ``--spynet`` (local SPyNet weights). Networks with ``alignment: spynet`` or ``none`` read any video
PyAV decodes.

A space-time model (``model_type: SpaceTimeVSRModel`` in the options, e.g. MSITF) doubles the frame rate in the same
run: windows of ``val.window`` LR frames with a stride of ``val.stride`` (as in test.py) give ``2t - 1`` frames for
``t`` input frames, each input frame followed by one half way to the next, written at exactly twice the input's frame
rate (every output frame keeps its input frame's timestamp); ``--chunk`` does not apply, tiles do.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--opt", required=True, help="options YAML of the model (its network_g section is used)")
    p.add_argument("--model", required=True, help="checkpoint (net_g_*.pth)")
    p.add_argument("--input", required=True, help="input video (H.264 mp4 for alignment: mv)")
    p.add_argument("--output", required=True, help="output mp4 (H.264, scale x the input size)")
    p.add_argument("--tile", type=int, default=None, help="LR tile size in pixels (default: val.tile of the options, "
                                                          "else whole frames)")
    p.add_argument("--tile-overlap", type=int, default=None, help="LR overlap of tiles (default: val.tile_overlap)")
    p.add_argument("--tile-mode", choices=("blend", "crop"), default="blend")
    p.add_argument("--chunk", type=int, default=None, help="frames per temporal chunk (default: val.chunk, else 20; "
                                                           "not used by space-time models)")
    p.add_argument("--chunk-overlap", type=int, default=None,
                   help="context frames on each side of a chunk (default: val.chunk_overlap, else 4)")
    p.add_argument("--compare", default=None, help="write a side-by-side PNG (bicubic | vsrkit) of one frame")
    p.add_argument("--compare-frame", type=int, default=None, help="frame index for --compare (default: middle)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (cuda if available)")
    p.add_argument("--autocast", choices=("bf16", "fp16"), default=None, help="mixed precision on CUDA")
    p.add_argument("--ablate_mvs", action="store_true", help="zero the codec motion vectors (paper ablation)")
    p.add_argument("--ablate_second_order", action="store_true", help="disable second-order propagation")
    p.add_argument("--non-h264", choices=("fail", "spynet"), default="fail",
                   help="what to do with a non-H.264 input for an alignment: mv model")
    p.add_argument("--fallback-model", default=None, help="--non-h264 spynet: checkpoint of the SPyNet baseline")
    p.add_argument("--spynet", default=None, help="--non-h264 spynet: local SPyNet weights (BasicSR/mmagic)")
    p.add_argument("--param-key", default=None, help="params_ema or params (default: path.param_key_g)")
    p.add_argument("--crf", type=float, default=18.0, help="x264 CRF of the output (default 18; 0 = lossless)")
    p.add_argument("--preset", default="medium", help="x264 preset of the output")
    p.add_argument("--max-frames", type=int, default=None, help="only the first N frames")
    p.add_argument("--strict-decode", action="store_true",
                   help="stop at the first damaged input frame (default: warn with the number of damaged frames)")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="option overrides")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p.parse_args(argv)


def resolve_device(name: str):
    import torch

    from vsrkit.errors import ConfigError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: no CUDA device is available here; use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name}: not a device name; use cpu, cuda or cuda:N") from None


def main(argv=None) -> int:
    args = parse_args(argv)
    from tqdm import tqdm

    from vsrkit.codec import encode_h264
    from vsrkit.errors import ConfigError
    from vsrkit.folders import check_separate
    from vsrkit.inference import InferenceSettings, count_runs, forward_inputs, iter_inference_frames, to_uint8_frames
    from vsrkit.inference.space_time import count_space_time_runs, iter_space_time_frames, space_time_window
    from vsrkit.inference.video import (InputVideo, build_and_load, check_output_video, network_config, side_by_side,
                                        spynet_fallback, write_png)
    from vsrkit.options import load_options

    reads = {"--input": args.input, "--opt": args.opt, "--model": args.model, "--fallback-model": args.fallback_model,
             "--spynet": args.spynet}
    check_output_video(args.output, reads)
    if args.compare:
        check_separate(args.compare, {**reads, "--output": args.output}, "--compare")
    video = InputVideo(args.input, args.max_frames, strict=args.strict_decode)  # a bad input fails before loading
    opt = load_options(args.opt, args.set, is_train=False)
    val = opt.get("val") or {}
    space_time = space_time_window(opt)  # (window, stride) of a space-time model (x2 frame rate), else None
    param_key = args.param_key or (opt.get("path") or {}).get("param_key_g", "params_ema")
    device = resolve_device(args.device)
    cfg = network_config(opt, args.ablate_mvs, args.ablate_second_order)
    net = build_and_load(cfg, args.model, param_key)
    need_motion = "mv_bwd" in forward_inputs(net) and getattr(net, "alignment", "mv") == "mv"
    if need_motion and video.codec != "h264" and args.non_h264 == "spynet":
        if args.ablate_mvs:
            raise ConfigError("--ablate_mvs has no meaning with --non-h264 spynet (there are no codec MVs)")
        print(f"{args.input}: {video.codec} has no exported motion vectors; using alignment: spynet", file=sys.stderr)
        net = spynet_fallback(opt, args.model, param_key, args.spynet, args.fallback_model, args.ablate_second_order)
        need_motion = False
    lq_stream = video.frames(need_motion)
    net = net.to(device)
    scale = int(getattr(net, "scale", opt.get("scale", 4)))
    t, h, w = video.frame_count, video.height, video.width
    chunk = args.chunk if args.chunk is not None else (val.get("chunk") or 20)
    settings = InferenceSettings(
        scale=scale, chunk=chunk,
        chunk_overlap=args.chunk_overlap if args.chunk_overlap is not None else val.get("chunk_overlap", 4),
        tile=args.tile if args.tile is not None else val.get("tile"),
        tile_overlap=args.tile_overlap if args.tile_overlap is not None else val.get("tile_overlap", 16),
        tile_mode=args.tile_mode, autocast=args.autocast)
    compare_at = args.compare_frame if args.compare_frame is not None else t // 2
    if args.compare and (compare_at < 0 or t and compare_at >= t):
        raise ConfigError(f"--compare-frame {compare_at}: the clip has {t} frames (0..{t - 1})")
    compare = {}

    runs = count_space_time_runs(t, h, w, *space_time, settings) if space_time else count_runs(t, h, w, settings)
    progress = tqdm(total=runs if t else None, unit="run",
                    desc=f"x{scale} {w}x{h}->{w * scale}x{h * scale}", disable=args.quiet, file=sys.stderr)

    def lq_frames():
        for i, item in enumerate(lq_stream):
            if args.compare and i == compare_at:
                compare["lq"] = item["rgb"]
            yield item

    compare_out = 2 * compare_at if space_time else compare_at  # the output frame at the input frame's time

    def sr_frames():
        if space_time:
            runs = iter_space_time_frames(net, lq_frames(), *space_time, settings, device=device, progress=progress)
        else:
            runs = iter_inference_frames(net, lq_frames(), settings, device=device, progress=progress)
        for first, out in runs:
            sr = to_uint8_frames(out[0]).numpy()
            if args.compare and first <= compare_out < first + len(sr):
                compare["sr"] = sr[compare_out - first].copy()
            yield from sr

    start = time.perf_counter()
    # x264 turns CRF 0 into lossless constant QP 0: ask for that directly so that the settings check agrees.
    rate = {"crf": args.crf} if args.crf > 0 else {"qp": 0}
    fps = video.fps * 2 if space_time else video.fps  # exact (a Fraction): 30000/1001 -> 60000/1001
    result = encode_h264(sr_frames(), args.output, preset=args.preset, fps=fps, threads=0, **rate)
    progress.close()
    seconds = time.perf_counter() - start
    if args.compare:
        if "sr" not in compare:
            raise ConfigError(f"--compare-frame {compare_at}: the clip has only {result.num_frames} frames "
                              f"(0..{result.num_frames - 1}); {args.output} was written, the comparison was not")
        write_png(args.compare, side_by_side(compare["lq"], compare["sr"], scale))
    print(f"{args.output}: {result.num_frames} frames {result.width}x{result.height} @ {float(fps):.3f} fps "
          f"(input {video.codec} {w}x{h} @ {float(video.fps):.3f} fps; decode + SR + encode {seconds:.1f} s = "
          f"{result.num_frames / max(seconds, 1e-9):.2f} frames/s on {device})"
          + (f"; comparison: {args.compare}" if args.compare else ""))
    return 0


if __name__ == "__main__":
    from vsrkit.cli import run_cli

    run_cli(main)
