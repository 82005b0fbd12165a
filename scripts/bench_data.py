#!/usr/bin/env python3
"""Data-pipeline benchmark on synthetic data made in the same run (nothing downloaded).

    python scripts/bench_data.py [--options mvvsr_reds ptia_reds rcvsr_mfqev2 msitf_vimeo] [--step-ms 100]
                                 [--items 12] [--cores 1] [--prepare]

1. Loader throughput (the default): for each shipped training option (its ``datasets.train`` dataset class and
   settings: frames per item, crop, flips, motion, LQ sources, key frames, batch size), training items per second
   on ONE core from each storage backend: PNG folders, LMDB with PNG values, LMDB with raw values, the raw backend
   (scripts/make_raw.py), the raw backend with ``item_dtype: uint8`` items (``raw uint8``: frames expanded to
   float32 on the GPU instead), and YUV for the options that ship with it. The data is synthetic at the real frame sizes
   (REDS 720p / 180x320, MFQEv2 1280x720 / 640x360, Vimeo-90K 448x256 / 112x64) and was just written, so it is
   read from the page cache: the numbers are CPU cost per item (file system calls, decoding, cropping, flips,
   float conversion), not disk speed. Beside them: the rate the option needs to keep one GPU busy at ``--step-ms``
   per training step (``batch_size_per_gpu / step``) and the loader cores that takes from each backend.
   Backends are timed interleaved, item by item, so they share the machine's conditions.
2. ``--prepare``: time to prepare a REDS-sized set (270 clips x 100 frames at 720p) on ``--workers`` cores,
   estimated from the throughput measured on a sample: HR PNG read + MATLAB-exact bicubic x4 + LR PNG write; H.264
   encode of the LR clips (CRF 25, bf=0, ref=1) + motion-vector extraction + decoded-LR PNG and motion npz writes;
   LMDB packing of GT and LQ.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
from multiprocessing import get_context

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout

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


OPTIONS = {  # name: (option file, LR (h, w) of the synthetic clips, clip names, frames per clip)
    "mvvsr_reds": ("options/train/mvvsr/train_mvvsr_reds_crf23.yml", LR_HW, ["001", "002"], 16),
    "ptia_reds": ("options/train/ptia/train_ptia_reds.yml", LR_HW, ["001", "002"], 16),
    "rcvsr_mfqev2": ("options/train/rcvsr/train_rcvsr_mfqev2_qp32.yml", (360, 640), ["SeqA", "SeqB"], 16),
    "msitf_vimeo": ("options/train/msitf/train_msitf_vimeo_bi.yml", (64, 112), ["00001/0001", "00001/0002"], 7),
}
BACKENDS = ("png", "lmdb_png", "lmdb_raw", "raw", "yuv", "raw_u8")
BACKEND_LABELS = {"png": "PNG", "lmdb_png": "LMDB-PNG", "lmdb_raw": "LMDB-raw", "raw": "raw", "yuv": "YUV",
                  "raw_u8": "raw uint8"}
#: variants that read another backend's files: ``raw_u8`` is raw storage with ``item_dtype: uint8`` items (frames
#: stay uint8, motion float16; expanded to float32 after the copy to the GPU)
SAME_FILES = {"raw_u8": "raw"}


def _train_options(name: str, overrides: list[str] = ()) -> dict | None:
    """The option's ``datasets.train`` section, with ``--set`` overrides (e.g. ``datasets.train.gt_size=256``)."""
    from vsrkit.options import load_options

    path = os.path.join(REPO, OPTIONS[name][0])
    if not os.path.isfile(path):
        return None
    return load_options(path, list(overrides))["datasets"]["train"]


def _write_frames(root: str, folder: str, clips: dict) -> None:
    from vsrkit.data.synthetic import write_clip

    for clip, frames in clips.items():
        write_clip(os.path.join(root, folder, clip), frames)


def _make_motion(root: str, clips: dict) -> None:
    """Motion files with QP and validity maps (random quarter-pel vectors) for the LR clips."""
    from vsrkit.codec import MotionClip, save_motion

    rng = np.random.default_rng(0)
    for clip, frames in clips.items():
        t, h, w = frames.shape[:3]
        bwd, fwd = ((rng.integers(-64, 64, (t, 2, h, w)) / 4).astype(np.float32) for _ in range(2))
        qp = rng.integers(20, 40, (t, -(-h // 16), -(-w // 16))).astype(np.uint8)
        valid = rng.random((2, t, h, w)) < 0.9
        types = np.array([1] + [2] * (t - 1), np.uint8)
        save_motion(os.path.join(root, "motion", f"{clip}.npz"), MotionClip(None, bwd, fwd, types, qp, *valid))


def make_option_data(root: str, name: str, train: dict) -> dict:
    """Synthetic GT/LQ (+ motion, + key frames) for one option in every backend; ``{backend: {role: path}}``."""
    from vsrkit.data.lmdb_writer import make_lmdb
    from vsrkit.data.raw_writer import make_raw
    from vsrkit.data.storage import write_yuv420, yuv_file_name
    from vsrkit.data.synthetic import downscale, translating_clip

    _, (lh, lw), names, n = OPTIONS[name]
    scale = int(train.get("scale", 4))
    gt, lq = {}, {}
    for k, clip in enumerate(names):
        hr, _, _ = translating_clip(n, lh * scale, lw * scale, velocity=(2 * scale, scale), seed=k)
        gt[clip], lq[clip] = hr, downscale(hr, scale)
    roles = {"gt": gt, "lq": lq}
    if train.get("dataroot_key"):
        roles["key"] = gt  # key frames at full resolution (every frame of the clip; only key positions are read)
    for role, clips in roles.items():
        _write_frames(root, role, clips)
    paths = {b: {} for b in BACKENDS}
    for role in roles:
        folder = os.path.join(root, role)
        paths["png"][role] = folder
        make_lmdb(folder, folder + ".lmdb", workers=1, progress=False)
        paths["lmdb_png"][role] = folder + ".lmdb"
        make_lmdb(folder, folder + "_raw.lmdb", workers=1, compression="raw", progress=False)
        paths["lmdb_raw"][role] = folder + "_raw.lmdb"
    color = train.get("color", "rgb")
    if (train.get("io_backend") or {}).get("type") == "yuv":
        for role, clips in roles.items():
            os.makedirs(os.path.join(root, role + "_yuv"), exist_ok=True)
            for clip, frames in clips.items():
                write_yuv420(os.path.join(root, role + "_yuv", yuv_file_name(clip, frames.shape[2], frames.shape[1],
                                                                                len(frames))), frames)
            paths["yuv"][role] = os.path.join(root, role + "_yuv")
            # the raw frames of a YUV option hold what its yuv backend gives (the native Y plane for color: y)
            make_raw(paths["yuv"][role], os.path.join(root, role + ".raw"), workers=1, color=color, progress=False)
            paths["raw"][role] = os.path.join(root, role + ".raw")
    else:
        paths.pop("yuv")
        for role in roles:
            make_raw(os.path.join(root, role), os.path.join(root, role + ".raw"), workers=1, progress=False)
            paths["raw"][role] = os.path.join(root, role + ".raw")
    if train.get("dataroot_motion"):
        _make_motion(root, lq)
        make_raw(os.path.join(root, "motion"), os.path.join(root, "motion.raw"), workers=1, progress=False)
        for backend in paths:
            paths[backend]["motion"] = os.path.join(root, "motion.raw" if backend == "raw" else "motion")
    return paths


def build_dataset(train: dict, backend: str, paths: dict):
    """The option's training dataset over the synthetic ``paths`` of one backend."""
    import inspect

    from vsrkit.registry import DATASETS

    cls = DATASETS.get(train["type"])
    accepted = inspect.signature(cls.__init__).parameters
    kwargs = {k: v for k, v in train.items() if k in accepted}
    kwargs.update(meta_info_file=None, manifest_check=None)
    storage = SAME_FILES.get(backend, backend)
    kwargs["io_backend"] = {"type": {"png": "disk", "lmdb_png": "lmdb", "lmdb_raw": "lmdb"}.get(storage, storage)}
    kwargs["dataroot_gt"] = paths["gt"]
    lq = train["dataroot_lq"]
    kwargs["dataroot_lq"] = [paths["lq"]] * len(lq) if isinstance(lq, list) else paths["lq"]
    if "dataroot_motion" in kwargs and train.get("dataroot_motion"):
        motion = train["dataroot_motion"]
        kwargs["dataroot_motion"] = [paths["motion"]] * len(motion) if isinstance(motion, list) else paths["motion"]
    if train.get("dataroot_key"):
        kwargs["dataroot_key"] = paths["key"]
    dataset = cls(**{k: v for k, v in kwargs.items() if k in accepted})
    if backend == "raw_u8":
        dataset.item_dtype = "uint8"
    return dataset


def bench_loading(sets: dict, items: int, clock=time.process_time) -> dict:
    """Items per second of CPU time (``clock``: process CPU time, user + system, so page faults count) of each
    dataset in this process, timed interleaved item by item; ``{backend: rate}``."""
    import random

    import torch

    times = {k: 0.0 for k in sets}
    n = min(len(ds) for ds in sets.values())
    for ds in sets.values():
        ds[0]  # warm-up (imports, LMDB/map open)
    for i in range(items):
        idx = (i * 7919) % n
        for name, ds in sets.items():
            random.seed(i)
            torch.manual_seed(i)
            t0 = clock()
            ds[idx]
            times[name] += clock() - t0
    return {k: items / v for k, v in times.items()}


def item_shapes(ds) -> str:
    import random

    random.seed(0)
    item = ds[0]
    parts = [f"{k} {tuple(item[k].shape)}" for k in ("lq", "gt", "ref", "mv_bwd") if k in item]
    return ", ".join(parts)


def run_loaders(args) -> None:
    import math

    clock = "wall-clock second" if args.wall_time else "second of CPU time (user + system)"
    print(f"loader throughput: items per {clock} on ONE core (page-cached synthetic data; {args.items} items per "
          f"backend, interleaved); need = batch_size_per_gpu / {args.step_ms:g} ms step")
    rows = []
    for name in args.options:
        train = _train_options(name, args.set)
        if train is None:
            print(f"  {name}: {OPTIONS[name][0]} not present, skipped")
            continue
        root = os.path.join(args.root, name)
        os.makedirs(root, exist_ok=True)
        t0 = time.perf_counter()
        paths = make_option_data(root, name, train)
        paths.update({b: paths[src] for b, src in SAME_FILES.items() if src in paths})
        sets = {b: build_dataset(train, b, p) for b, p in paths.items() if b in args.backends}
        shapes = item_shapes(next(iter(sets.values())))
        rates = bench_loading(sets, args.items, time.perf_counter if args.wall_time else time.process_time)
        need = float(train.get("batch_size_per_gpu", 1)) * 1000.0 / args.step_ms
        print(f"\n{name}: {OPTIONS[name][0]} ({train['type']}, shipped io_backend "
              f"{(train.get('io_backend') or {}).get('type', 'disk')}; data made in {time.perf_counter() - t0:.0f} s)")
        print(f"  item: {shapes}; batch {train.get('batch_size_per_gpu', 1)} -> needs {need:.0f} items/s per GPU")
        print(f"  {'backend':<10} {'items/s/core':>12} {'ms/item':>9} {'cores per GPU':>14}")
        for backend, rate in rates.items():
            print(f"  {BACKEND_LABELS[backend]:<10} {rate:12.1f} {1000 / rate:9.1f} {math.ceil(need / rate):14d}")
        if "raw_u8" in rates and "lmdb_raw" in rates:
            print(f"  raw uint8 / LMDB-raw = {rates['raw_u8'] / rates['lmdb_raw']:.1f}x (same run)")
        if "raw" in rates and "lmdb_raw" in rates:
            print(f"  raw / LMDB-raw = {rates['raw'] / rates['lmdb_raw']:.1f}x, raw / PNG = "
                  f"{rates['raw'] / rates.get('png', float('nan')):.0f}x (same run)")
        rows.append((name, rates, need))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--options", nargs="+", choices=list(OPTIONS), default=list(OPTIONS),
                        help="shipped training options to measure (default: all present)")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--items", type=int, default=12, help="items timed per backend and option")
    parser.add_argument("--step-ms", type=float, default=100.0, help="GPU time of one training step (ms)")
    parser.add_argument("--cores", type=int, default=1, help="cores the loader measurement is pinned to (1)")
    parser.add_argument("--wall-time", action="store_true",
                        help="time wall clock instead of process CPU time (on a quiet machine they agree)")
    parser.add_argument("--prepare", action="store_true", help="also estimate REDS-sized preparation time")
    parser.add_argument("--clips", type=int, default=2, help="--prepare: clips of the sample")
    parser.add_argument("--frames", type=int, default=20, help="--prepare: frames per clip")
    parser.add_argument("--workers", type=int, default=2, help="--prepare: processes")
    parser.add_argument("--no-codec", action="store_true", help="--prepare: skip the H.264 stage")
    parser.add_argument("--keep", help="keep the synthetic data in this folder")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override the options, e.g. datasets.train.gt_size=256 datasets.train.num_frame=15")
    args = parser.parse_args(argv)
    root = args.keep or tempfile.mkdtemp(prefix="vsrkit_bench_data_")
    os.makedirs(root, exist_ok=True)
    args.root = root
    try:
        import torch

        torch.set_num_threads(1)
        if hasattr(os, "sched_setaffinity"):
            cores = sorted(os.sched_getaffinity(0))
            os.sched_setaffinity(0, set(cores[:max(1, args.cores)]))
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"cpu count {os.cpu_count()}, pinned to {args.cores} core(s), load average {load:.1f} at start")
        run_loaders(args)
        if args.prepare:
            if hasattr(os, "sched_setaffinity"):
                os.sched_setaffinity(0, set(cores))
            prep = os.path.join(root, "prepare")
            os.makedirs(prep, exist_ok=True)
            n = args.clips * args.frames
            secs = make_sample(prep, args.clips, args.frames)
            print(f"\nmade {n} synthetic HR frames in {secs:.1f} s")
            stages = bench_prepare(prep, args.workers, not args.no_codec)
            print(f"preparation throughput on {args.workers} worker(s), per frame:")
            for name, s in stages.items():
                print(f"  {name:<50s} {1000 * s:8.2f} ms/frame  -> REDS-sized ({REDS_FRAMES} frames): "
                      f"{REDS_FRAMES * s / 60:6.1f} min")
            total = REDS_FRAMES * sum(stages.values())
            print(f"  {'total (estimate, REDS-sized set)':<50s} {1000 * sum(stages.values()):8.2f} ms/frame  -> "
                  f"{total / 60:6.1f} min ({total / 3600:.2f} h)")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
