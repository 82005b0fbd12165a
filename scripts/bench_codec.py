"""Benchmark: H.264 motion-vector extraction + dense rasterisation speed (frames/s) on one CPU core.

Encodes two 320x180 clips of a real photograph under synthetic camera motion (one ``bf=0, ref=1`` stream, one with
x264 defaults ``bf=3, ref=3``, which exercises the reference-distance search), then times on the same core, in the
same run:

- ``decode only``: plain decoding (no side data);
- ``floor``: what ``read_motion`` needs from PyAV and cannot avoid: decoding with MV and QP export, the MV arrays,
  QP maps, luma planes and RGB frames (``vsrkit.codec.decode.DecodeStream`` iterated, nothing else);
- ``read_motion`` without and with RGB frames (decode + MV export + reference tracking + dense fields + QP maps),
  and the ratio of the latter to the floor (1.0 = vsrkit's own work is free).

Target (issue 16): >= 3000 frames/s for x264 defaults at 320x180, frames and QP maps included, on one quiet core.
``--cpu-time`` times process CPU time instead of wall time (for a machine shared with other jobs; the ratios are
the meaningful part there).

    python scripts/bench_codec.py [--frames 200] [--repeat 3] [--width 320 --height 180] [--cpu-time]
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


def time_call(fn, repeat: int, clock=time.perf_counter) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = clock()
        fn()
        best = min(best, clock() - start)
    return best


def decode_floor(path: str) -> int:
    """Iterate the decoder exactly as ``read_motion(frames=True)`` does, and do nothing else; frames decoded."""
    from vsrkit.codec.decode import DecodeStream

    n = 0
    for _ in DecodeStream(path, frames=True, luma=True, qp=True, mvs=True, refs=True, threads=1):
        n += 1
    return n


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--target", type=float, default=3000.0, help="frames/s to reach (x264 defaults, +RGB)")
    parser.add_argument("--cpu-time", action="store_true", help="time process CPU time instead of wall time")
    args = parser.parse_args(argv)
    clock = time.process_time if args.cpu_time else time.perf_counter
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    from vsrkit.codec import decode_video, encode_h264, read_motion

    frames = make_clip(args.frames, args.width, args.height)
    n = len(frames)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"{n} frames at {args.width}x{args.height}, one core, best of {args.repeat}, "
              f"{'CPU' if args.cpu_time else 'wall'} time, load average {load:.1f}")
        print(f"{'stream':<28} {'decode only':>14} {'floor':>14} {'read_motion':>14} {'+RGB frames':>14} "
              f"{'floor/+RGB':>10}")
        for label, kw in (("bf=0 ref=1 (crf 25)", dict(bf=0, ref=1)),
                          ("x264 defaults bf=3 ref=3", dict())):
            path = os.path.join(tmp, "clip.mp4")
            encode_h264(frames, path, crf=25, preset="medium", **kw)
            t_dec = time_call(lambda: decode_video(path, frames=False, qp=False, threads=1), args.repeat, clock)
            t_floor = time_call(lambda: decode_floor(path), args.repeat, clock)
            t_mv = time_call(lambda: read_motion(path, frames=False, threads=1), args.repeat, clock)
            t_all = time_call(lambda: read_motion(path, frames=True, threads=1), args.repeat, clock)
            if not kw:
                ok = n / t_all >= args.target
            print(f"{label:<28} {n / t_dec:>10.0f} f/s {n / t_floor:>10.0f} f/s {n / t_mv:>10.0f} f/s "
                  f"{n / t_all:>10.0f} f/s {t_floor / t_all:>10.2f}")
    print(f"target {args.target:.0f} frames/s for read_motion(frames=True) on x264 defaults: "
          f"{'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
