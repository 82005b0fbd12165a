"""Benchmark: H.264 motion-vector extraction + dense rasterisation speed (frames/s) on one CPU core.

Encodes two 320x180 clips of a real photograph under synthetic camera motion (one ``bf=0, ref=1`` stream, one with
x264 defaults ``bf=3, ref=3``, which exercises the reference-distance search), then times
``vsrkit.codec.read_motion(path, frames=False)`` (decode + MV export + reference tracking + dense fields + QP maps)
against plain decoding of the same file. Target (issue 3): >= 1000 frames/s at 320x180 on one core.

    python scripts/bench_codec.py [--frames 200] [--repeat 3] [--width 320 --height 180]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_clip(num_frames: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    from vsrkit.data.demo_builder import camera_path, load_photo, render_clip

    photo = load_photo("hubble_deep_field" if width <= 400 else "retina")
    rng = np.random.default_rng(seed)
    path = camera_path(rng, num_frames, (height, width), photo.shape[:2])
    return render_clip(photo, (height, width), *path[:4])


def time_call(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--target", type=float, default=1000.0, help="frames/s to reach")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    from vsrkit.codec import decode_video, encode_h264, read_motion

    frames = make_clip(args.frames, args.width, args.height)
    n = len(frames)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{n} frames at {args.width}x{args.height}, one core, best of {args.repeat}")
        print(f"{'stream':<28} {'decode only':>14} {'read_motion':>14} {'+RGB frames':>14}")
        for label, kw in (("bf=0 ref=1 (crf 25)", dict(bf=0, ref=1)),
                          ("x264 defaults bf=3 ref=3", dict())):
            path = os.path.join(tmp, "clip.mp4")
            encode_h264(frames, path, crf=25, preset="medium", **kw)
            t_dec = time_call(lambda: decode_video(path, frames=False, qp=False, threads=1), args.repeat)
            t_mv = time_call(lambda: read_motion(path, frames=False, threads=1), args.repeat)
            t_all = time_call(lambda: read_motion(path, frames=True, threads=1), args.repeat)
            fps = n / t_mv
            ok &= fps >= args.target
            print(f"{label:<28} {n / t_dec:>10.0f} f/s {fps:>10.0f} f/s {n / t_all:>10.0f} f/s")
    print(f"target {args.target:.0f} frames/s for read_motion: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
