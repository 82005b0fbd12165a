#!/usr/bin/env python3
"""Data-pipeline benchmark on synthetic REDS-like data made in the same run (nothing downloaded).

    python scripts/bench_data.py [--clips 2] [--frames 20] [--items 8] [--workers 2] [--no-codec]

1. LMDB vs PNG: time to load one REDS-like recurrent training item (15 frames, 64x64 LR crop, 256x256 GT crop, LR
   180x320, GT 720x1280, flips/rotation) through ``VideoFolderDataset`` from PNG folders and from LMDBs of the same
   frames (made with scripts/make_lmdb.py's code, PNG-compressed values, and raw values). All read from the page
   cache (the data was just written), so the ratios are CPU cost (file system calls + PNG decode), not disk speed.
2. Time to prepare a REDS-sized set (270 clips x 100 frames at 720p) on ``--workers`` cores, estimated from the
   throughput measured on the sample: HR PNG read + MATLAB-exact bicubic x4 + LR PNG write; H.264 encode of the LR
   clips (CRF 25, bf=0, ref=1) + motion-vector extraction + decoded-LR PNG and motion npz writes; LMDB packing of
   GT and LQ.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
from multiprocessing import get_context

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import numpy as np  # noqa: E402

REDS_FRAMES = 270 * 100
LR_HW, SCALE = (180, 320), 4


def make_sample(root: str, clips: int, frames: int) -> float:
    """HR clips of a textured image panning 8 HR px/frame; returns seconds spent."""
    from vsrkit.data.synthetic import translating_clip, write_clip

    t0 = time.perf_counter()
    h, w = LR_HW[0] * SCALE, LR_HW[1] * SCALE
    for c in range(clips):
        hr, _, _ = translating_clip(frames, h, w, velocity=(8, 4), seed=c)
        write_clip(os.path.join(root, "gt", f"{c:03d}"), hr)
    return time.perf_counter() - t0


def _downscale_job(job):
    from vsrkit.data.storage import read_png, write_png
    from vsrkit.degrade import imresize

    src, dst = job
    write_png(dst, imresize(read_png(src), 1.0 / SCALE))


def _codec_job(job):
    from vsrkit.codec import encode_h264, read_motion, save_motion
    from vsrkit.data.storage import DiskStorage
    from vsrkit.data.synthetic import write_clip

    lr_root, out_root, clip = job
    store = DiskStorage(lr_root)
    frames = np.stack(store.read_many(clip, range(store.num_frames(clip))))
    mp4 = os.path.join(out_root, "bitstreams", f"{clip}.mp4")
    os.makedirs(os.path.dirname(mp4), exist_ok=True)
    encode_h264(frames, mp4, crf=25, bf=0, ref=1, threads=1)
    motion = read_motion(mp4, threads=1)
    write_clip(os.path.join(out_root, "lq", clip), motion.frames)
    save_motion(os.path.join(out_root, "motion", f"{clip}.npz"), motion.without_frames())
    return len(frames)


def _warm(_):
    import torch

    torch.set_num_threads(1)  # one core per worker process
    import vsrkit.codec.motion  # noqa: F401  (imports paid before timing)
    import vsrkit.data.lmdb_writer  # noqa: F401
    import vsrkit.degrade  # noqa: F401
    return os.getpid()


def bench_prepare(root: str, workers: int, codec: bool) -> dict:
    """Seconds per frame of each preparation stage, steady state on a warm pool of ``workers`` processes."""
    from vsrkit.data.lmdb_writer import make_lmdb
    from vsrkit.data.storage import DiskStorage

    gt = DiskStorage(os.path.join(root, "gt"))
    jobs = [(path, os.path.join(root, "lr", clip, os.path.basename(path)))
            for clip in gt.clips() for path in gt.frame_files(clip)]
    for clip in gt.clips():
        os.makedirs(os.path.join(root, "lr", clip), exist_ok=True)
    n = len(jobs)
    stages = {}
    with get_context("spawn").Pool(workers) as pool:
        pool.map(_warm, range(4 * workers), chunksize=1)
        t0 = time.perf_counter()
        pool.map(_downscale_job, jobs, chunksize=1)
        stages["HR read + MATLAB bicubic x4 + LR write"] = (time.perf_counter() - t0) / n
        if codec:
            t0 = time.perf_counter()
            pool.map(_codec_job, [(os.path.join(root, "lr"), root, c) for c in gt.clips()], chunksize=1)
            stages["H.264 encode + MV extraction + LQ/motion write"] = (time.perf_counter() - t0) / n
        lq_dir = os.path.join(root, "lq") if codec else os.path.join(root, "lr")
        for name, folder in (("gt", os.path.join(root, "gt")), ("lq", lq_dir)):
            t0 = time.perf_counter()
            make_lmdb(folder, os.path.join(root, f"{name}.lmdb"), progress=False, pool=pool)
            stages[f"LMDB packing ({name}, PNG bytes)"] = (time.perf_counter() - t0) / n
        make_lmdb(os.path.join(root, "gt"), os.path.join(root, "gt_raw.lmdb"), compression="raw", progress=False,
                  pool=pool)
        make_lmdb(lq_dir, os.path.join(root, "lq_raw.lmdb"), compression="raw", progress=False, pool=pool)
    return stages


def bench_loading(root: str, items: int, lq_name: str) -> dict:
    """ms per training item from PNG folders and from LMDB, interleaved to share cache and CPU conditions."""
    import random

    import torch

    from vsrkit.data.video_folder_dataset import VideoFolderDataset

    common = dict(num_frame=15, gt_size=64 * SCALE, scale=SCALE, use_hflip=True, use_rot=True)
    sets = {
        "png": VideoFolderDataset(dataroot_gt=os.path.join(root, "gt"), dataroot_lq=os.path.join(root, lq_name),
                                  **common),
        "lmdb": VideoFolderDataset(dataroot_gt=os.path.join(root, "gt.lmdb"),
                                   dataroot_lq=os.path.join(root, "lq.lmdb"), io_backend={"type": "lmdb"}, **common),
        "lmdb_raw": VideoFolderDataset(dataroot_gt=os.path.join(root, "gt_raw.lmdb"),
                                       dataroot_lq=os.path.join(root, "lq_raw.lmdb"), io_backend={"type": "lmdb"},
                                       **common),
    }
    times = {k: [] for k in sets}
    random.seed(0)
    torch.manual_seed(0)
    for ds in sets.values():
        ds[0]  # warm-up (imports, LMDB open)
    for i in range(items):
        idx = (i * 7) % len(sets["png"])
        for name, ds in sets.items():
            t0 = time.perf_counter()
            item = ds[idx]
            times[name].append(time.perf_counter() - t0)
        assert item["lq"].shape == (15, 3, 64, 64) and item["gt"].shape == (15, 3, 256, 256)
    return {k: 1000 * float(np.median(v)) for k, v in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=2)
    parser.add_argument("--frames", type=int, default=20, help="frames per clip (>= 15)")
    parser.add_argument("--items", type=int, default=8, help="items timed per backend")
    parser.add_argument("--workers", type=int, default=2, help="processes for the preparation estimate")
    parser.add_argument("--no-codec", action="store_true", help="skip the H.264 stage")
    parser.add_argument("--keep", help="keep the synthetic data in this folder")
    args = parser.parse_args(argv)
    if args.frames < 15:
        parser.error("--frames must be >= 15 (one training item is 15 frames)")
    root = args.keep or tempfile.mkdtemp(prefix="vsrkit_bench_data_")
    os.makedirs(root, exist_ok=True)
    try:
        n = args.clips * args.frames
        print(f"sample: {args.clips} clips x {args.frames} frames, GT {LR_HW[0] * SCALE}x{LR_HW[1] * SCALE}, "
              f"LR {LR_HW[0]}x{LR_HW[1]}; cpu count {os.cpu_count()}, workers {args.workers}")
        secs = make_sample(root, args.clips, args.frames)
        print(f"made {n} synthetic HR frames in {secs:.1f} s")
        stages = bench_prepare(root, args.workers, not args.no_codec)
        print(f"\npreparation throughput on {args.workers} worker(s), per frame:")
        for name, s in stages.items():
            print(f"  {name:<50s} {1000 * s:8.2f} ms/frame  -> REDS-sized ({REDS_FRAMES} frames): "
                  f"{REDS_FRAMES * s / 60:6.1f} min")
        total = REDS_FRAMES * sum(stages.values())
        print(f"  {'total (estimate, REDS-sized set)':<50s} {1000 * sum(stages.values()):8.2f} ms/frame  -> "
              f"{total / 60:6.1f} min ({total / 3600:.2f} h)")
        ms = bench_loading(root, args.items, "lq" if not args.no_codec else "lr")
        print(f"\nREDS-like training item (15 frames, LR crop 64x64, GT crop 256x256, median of {args.items}):")
        print(f"  PNG folders: {ms['png']:8.1f} ms/item")
        print(f"  LMDB       : {ms['lmdb']:8.1f} ms/item")
        print(f"  LMDB (raw) : {ms['lmdb_raw']:8.1f} ms/item")
        print(f"  ratio PNG folders / LMDB (PNG values) = {ms['png'] / ms['lmdb']:.2f}x "
              f"(page-cached; both decode the same PNG bytes)")
        print(f"  ratio PNG folders / LMDB (raw values) = {ms['png'] / ms['lmdb_raw']:.2f}x (no decode; "
              f"{os.path.getsize(os.path.join(root, 'gt_raw.lmdb', 'data.mdb')) / max(1, os.path.getsize(os.path.join(root, 'gt.lmdb', 'data.mdb'))):.1f}x the bytes)")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
