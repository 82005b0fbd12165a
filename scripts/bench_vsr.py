#!/usr/bin/env python3
"""Benchmark MV-VSR (codec MVs) against its SPyNet baseline on the same trunk: inference and training speed.

Measured (issue 5, item 5), on one device, random weights, synthetic inputs of the requested size:
  * inference: clips/s -> frames per second (fps), milliseconds per clip and peak GPU memory
    (``torch.cuda.max_memory_allocated``, weights included) of ``MVVSR(alignment='mv')`` and
    ``MVVSR(alignment='spynet')`` at ``--frames`` x ``--height`` x ``--width`` LR -> x4 HR, and the ratio
    fps(MV) / fps(SPyNet) (target >= 1.3x at 180x320 -> 720x1280, 15 frames, mid 64, 15 blocks);
  * share of alignment: time of ``compute_flows`` alone (MV refiner, or SPyNet on all frame pairs) divided by the
    time of the full forward, per alignment;
  * training iterations/s of ``alignment='mv'`` (forward + Charbonnier loss + backward + AdamW step) in fp32,
    bf16 autocast, channels_last (fp32 and bf16) and, with ``--compile``, bf16 + torch.compile, each with its ratio
    to fp32 (target bf16 >= 1.5x on H100/H200).
Every time is the median over ``--repeats`` runs after ``--warmup`` runs; on CUDA each run is closed by
``torch.cuda.synchronize()`` before the timer is read. "fp32" keeps PyTorch's default cuDNN TF32 setting (printed);
``--no-tf32`` gives strict fp32 convolutions.

Synthetic motion: a smooth field (global drift + a low-frequency swirl, LR pixels), I-frame then P-frames whose
``mv_fwd`` is zero, so the P-frame proxy runs as on real H.264 LDP clips.

Without CUDA the defaults shrink to a CPU smoke size (32x32, 5 frames, mid 64, 15 blocks, 2 repeats) and the output
says so: those numbers check that the script works, they are NOT the GPU targets. Peak memory reads "n/a" there.

    python scripts/bench_vsr.py                                          # GPU: full size
    python scripts/bench_vsr.py --frames 15 --height 180 --width 320 --compile --json bench_vsr.json
    python scripts/bench_vsr.py --mid 8 --blocks 1 --height 16 --width 16 --frames 3   # tiny CPU check

``--msitf`` adds the space-time row: the published MSITF network (5.59M parameters, random weights) on one window of
4 LR frames -> 7 HR frames, x4: milliseconds per window, output frames per second (7 / window time), peak GPU memory,
and the share of the window's time spent in the modulated deformable convolutions (timed with synchronising hooks
around every DCN module, in a separate run). Sizes: GPU 4x(144x180) -> 7x(576x720) (Vid4's calendar, the published
Vid4 test size), CPU smoke 4x(64x112) -> 7x(256x448); ``--msitf-height``/``--msitf-width`` choose others.

``--rcvsr`` adds the RCVSR row: the published network (Y channel, x2, random weights) on one output frame from 7 LR
frames and 2 key frames at HR size: milliseconds and frames per second, peak GPU memory and the DCN share (the same
hooks). Sizes: GPU 7x(240x416) -> 480x832 (MFQEv2's class-C sequences), CPU smoke 7x(32x48) -> 64x96.

``--ptia`` adds the PTIA rows, one per DCN backend available on the device (the CUDA extension, torchvision and
torch on a GPU; torchvision and torch on a CPU; ``--ptia-backends`` chooses): the published network (mid 64,
30 blocks, 13.9M parameters, random weights; ``--ptia-mid``/``--ptia-blocks`` for others) on one clip of ``--frames`` x
``--height`` x ``--width`` LR frames -> x4 (the MV-VSR inference size: 15 x 180x320 -> 720x1280 on a GPU), with fps,
peak memory and the DCN share (the same hooks, around TBIA's deformable convolutions).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vsrkit.archs.mvvsr_arch import MVVSR  # noqa: E402
from vsrkit.fileio import write_text_atomic  # noqa: E402
from vsrkit.losses import CharbonnierLoss  # noqa: E402

SCALE = 4
GPU_DEFAULTS = dict(frames=15, height=180, width=320, train_batch=4, train_frames=15, train_height=64,
                    train_width=64, repeats=10, warmup=3, train_repeats=10, train_warmup=3)
CPU_DEFAULTS = dict(frames=5, height=32, width=32, train_batch=1, train_frames=5, train_height=32, train_width=32,
                    repeats=2, warmup=1, train_repeats=2, train_warmup=1)
TRAIN_MODES = ("fp32", "bf16", "fp32+channels_last", "bf16+channels_last", "bf16+compile")


def synthetic_clip(n: int, t: int, h: int, w: int, device, seed: int = 0) -> dict:
    """Inputs of one batch: ``lq (n,t,3,h,w)`` in [0,1], ``gt (n,t,3,4h,4w)``, ``mv_bwd``/``mv_fwd (n,t,2,h,w)``
    in LR pixels (smooth drift + swirl; ``mv_fwd`` zero on P-frames), ``frame_types (n,t)`` I then P."""
    g = torch.Generator().manual_seed(seed)
    lq = torch.rand(n, t, 3, h, w, generator=g)
    gt = torch.rand(n, t, 3, SCALE * h, SCALE * w, generator=g)
    ys, xs = torch.meshgrid(torch.linspace(0, 2 * math.pi, h), torch.linspace(0, 2 * math.pi, w), indexing="ij")
    field = torch.stack((1.5 + 0.75 * torch.sin(ys), -0.75 + 0.75 * torch.cos(xs)))          # (2, h, w) pixels
    mv_bwd = field.expand(n, t, 2, h, w).clone()
    mv_bwd[:, 0] = 0                                                                          # I-frame: no motion
    frame_types = torch.full((n, t), 2, dtype=torch.long)
    frame_types[:, 0] = 1
    mv_fwd = torch.zeros_like(mv_bwd)                                                         # P-frames: past only
    batch = dict(lq=lq, gt=gt, mv_bwd=mv_bwd, mv_fwd=mv_fwd, frame_types=frame_types)
    return {k: v.to(device) for k, v in batch.items()}


def net_inputs(net: MVVSR, batch: dict) -> dict:
    """Keyword inputs of ``net.forward`` for its alignment (motion only for ``mv``)."""
    if net.alignment == "mv":
        return dict(mv_bwd=batch["mv_bwd"], mv_fwd=batch["mv_fwd"], frame_types=batch["frame_types"])
    return {}


def timed_median(fn, repeats: int, warmup: int, device: torch.device) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs (CUDA synchronised around each run)."""
    cuda = device.type == "cuda"
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_mib(device: torch.device) -> float | None:
    """Peak allocated CUDA memory since the last reset, MiB; None on CPU."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2 ** 20


def build_net(args, alignment: str, device: torch.device) -> MVVSR:
    torch.manual_seed(0)
    return MVVSR(mid_channels=args.mid, num_blocks=args.blocks, scale=SCALE, alignment=alignment).to(device)


def bench_inference(args, alignment: str, device: torch.device) -> dict:
    """fps, ms per clip, alignment time and share, peak memory of one alignment at the inference size."""
    net = build_net(args, alignment, device).eval()
    batch = synthetic_clip(1, args.frames, args.height, args.width, device)
    kw = net_inputs(net, batch)
    lq = batch["lq"]

    def full():
        with torch.inference_mode():
            net(lq, **kw)

    def align():
        with torch.inference_mode():
            net.compute_flows(lq, **kw)

    reset_peak(device)
    full_s = timed_median(full, args.repeats, args.warmup, device)
    peak = peak_mib(device)
    align_s = timed_median(align, args.repeats, args.warmup, device)
    row = dict(alignment=alignment, params=sum(p.numel() for p in net.parameters()), ms_per_clip=full_s * 1e3,
               fps=args.frames / full_s, align_ms=align_s * 1e3, align_share=align_s / full_s, peak_mib=peak)
    del net, batch, kw, lq
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


def bench_training(args, mode: str, device: torch.device) -> dict:
    """Training iterations/s of ``alignment='mv'`` (forward, Charbonnier, backward, AdamW step) in one mode."""
    net = build_net(args, "mv", device).train()
    channels_last = "channels_last" in mode
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    net_run = torch.compile(net) if "compile" in mode else net
    autocast_dtype = torch.bfloat16 if mode.startswith("bf16") else None
    optimizer = torch.optim.AdamW(net.parameters(), lr=2e-4)
    loss_fn = CharbonnierLoss(eps=1e-6)
    batch = synthetic_clip(args.train_batch, args.train_frames, args.train_height, args.train_width, device, seed=1)
    kw = net_inputs(net, batch)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            out = net_run(batch["lq"], **kw)
            loss = loss_fn(out.float(), batch["gt"])
        loss.backward()
        optimizer.step()

    reset_peak(device)
    step_s = timed_median(step, args.train_repeats, args.train_warmup, device)
    row = dict(mode=mode, iters_per_s=1.0 / step_s, ms_per_iter=step_s * 1e3, peak_mib=peak_mib(device))
    del net, net_run, optimizer, batch, kw
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


MSITF_GPU_SIZE, MSITF_CPU_SIZE = (144, 180), (64, 112)
RCVSR_GPU_SIZE, RCVSR_CPU_SIZE = (240, 416), (32, 48)  # GPU: 832x480 output (MFQEv2 class C), the published size


def time_with_dcn_share(net: torch.nn.Module, inputs: dict, args, device: torch.device) -> dict:
    """Median forward time of ``net(**inputs)``, peak memory, and the share of a forward spent in its modulated
    deformable convolutions (timed with synchronising hooks around every DCN module, in a separate run)."""
    from vsrkit.ops.dcn import ModulatedDeformConv2d

    def full():
        with torch.inference_mode():
            net(**inputs)

    reset_peak(device)
    full_s = timed_median(full, args.repeats, args.warmup, device)
    peak = peak_mib(device)
    spent, starts = [0.0], {}

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def before(module, _):
        sync()
        starts[id(module)] = time.perf_counter()

    def after(module, _, __):
        sync()
        spent[0] += time.perf_counter() - starts.pop(id(module))

    dcns = [m for m in net.modules() if isinstance(m, ModulatedDeformConv2d)]
    hooks = [h for m in dcns for h in (m.register_forward_pre_hook(before), m.register_forward_hook(after))]
    try:
        sync()
        start = time.perf_counter()
        full()
        sync()
        hooked_s = time.perf_counter() - start
    finally:
        for h in hooks:
            h.remove()
    return dict(params=sum(p.numel() for p in net.parameters()), seconds=full_s, peak_mib=peak,
                dcn_modules=len(dcns), dcn_ms=spent[0] * 1e3, dcn_share=spent[0] / hooked_s)


def _release(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def bench_msitf(args, device: torch.device) -> dict:
    """The space-time row: one MSITF window (4 LR frames -> 7 HR frames) timed whole and in its DCN modules."""
    from vsrkit.archs.msitf_arch import MSITF

    torch.manual_seed(0)
    net = MSITF().to(device).eval()
    lq = torch.rand(1, 4, 3, args.msitf_height, args.msitf_width, generator=torch.Generator().manual_seed(2))
    t = time_with_dcn_share(net, {"lq": lq.to(device)}, args, device)
    del net, lq
    _release(device)
    return dict(params=t["params"], frames_in=4, frames_out=7, height=args.msitf_height, width=args.msitf_width,
                ms_per_window=t["seconds"] * 1e3, fps=7 / t["seconds"], peak_mib=t["peak_mib"],
                dcn_modules=t["dcn_modules"], dcn_ms=t["dcn_ms"], dcn_share=t["dcn_share"])


def bench_rcvsr(args, device: torch.device) -> dict:
    """The RCVSR row: the published network (Y, x2) on one output frame from 7 LR frames and 2 key frames."""
    from vsrkit.archs.rcvsr_arch import RCVSR

    torch.manual_seed(0)
    net = RCVSR().to(device).eval()
    h, w = args.rcvsr_height, args.rcvsr_width
    g = torch.Generator().manual_seed(3)
    inputs = {"lq": torch.rand(1, 7, 1, h, w, generator=g).to(device),
              "ref": torch.rand(1, 2, 1, 2 * h, 2 * w, generator=g).to(device)}
    t = time_with_dcn_share(net, inputs, args, device)
    del net, inputs
    _release(device)
    return dict(params=t["params"], frames_in=7, frames_out=1, height=h, width=w, ms_per_frame=t["seconds"] * 1e3,
                fps=1 / t["seconds"], peak_mib=t["peak_mib"], dcn_modules=t["dcn_modules"], dcn_ms=t["dcn_ms"],
                dcn_share=t["dcn_share"])


def bench_ptia(args, device: torch.device) -> list[dict]:
    """The PTIA rows: one clip at the inference size, once per DCN backend (forced through
    ``VSRKIT_DCN_BACKEND``), timed whole and in its deformable convolutions."""
    from vsrkit.archs.ptia_arch import PTIA
    from vsrkit.ops.dcn import available_backends

    if args.height % 4 or args.width % 4:
        raise SystemExit(f"bench_vsr.py --ptia: PTIA needs an LR height and width divisible by 4, got "
                         f"{args.height}x{args.width}")
    have = available_backends() if device.type == "cuda" else ["torchvision", "torch"]
    torch.manual_seed(0)
    net = PTIA(mid_channels=args.ptia_mid, num_blocks=args.ptia_blocks).to(device).eval()
    lq = torch.rand(1, args.frames, 3, args.height, args.width, generator=torch.Generator().manual_seed(4))
    inputs, rows = {"lq": lq.to(device)}, []
    old = os.environ.get("VSRKIT_DCN_BACKEND")
    try:
        for backend in args.ptia_backends or have:
            if backend not in have:
                rows.append(dict(backend=backend, skipped=f"DCN backend {backend} is not available here"))
                continue
            os.environ["VSRKIT_DCN_BACKEND"] = backend
            t = time_with_dcn_share(net, inputs, args, device)
            rows.append(dict(backend=backend, params=t["params"], frames=args.frames, height=args.height,
                             width=args.width, ms_per_clip=t["seconds"] * 1e3, fps=args.frames / t["seconds"],
                             peak_mib=t["peak_mib"], dcn_modules=t["dcn_modules"], dcn_ms=t["dcn_ms"],
                             dcn_share=t["dcn_share"]))
    finally:
        if old is None:
            os.environ.pop("VSRKIT_DCN_BACKEND", None)
        else:
            os.environ["VSRKIT_DCN_BACKEND"] = old
    del net, inputs
    _release(device)
    return rows


def fmt_mem(mib: float | None) -> str:
    return "n/a" if mib is None else f"{mib:.0f}"


def print_dcn_row(title: str, name: str, row: dict, ms: float, ms_label: str, fps_label: str, cfg: dict) -> None:
    """One method's table (a row from :func:`time_with_dcn_share`): time, fps, DCN time and share, peak memory."""
    print(f"\n{title}; median of {cfg['repeats']} after {cfg['warmup']} warm-up")
    head = (f"{'network':>10} {'params':>9} {ms_label:>10} {fps_label:>9} {'DCN ms':>9} {'DCN %':>8} "
            f"{'peak MiB':>9}")
    print(head)
    print("-" * len(head))
    print(f"{name:>10} {row['params']:>9} {ms:>10.2f} {row['fps']:>9.2f} {row['dcn_ms']:>9.2f} "
          f"{100 * row['dcn_share']:>7.1f}% {fmt_mem(row['peak_mib']):>9}")


def print_report(result: dict) -> None:
    cfg = result["config"]
    if result["cpu_smoke"]:
        print("=" * 100)
        print("CPU SMOKE RUN: no CUDA device. These numbers only show that the benchmark runs; they are NOT the GPU")
        print("targets (MV >= 1.3x SPyNet fps at 180x320 -> 720x1280; bf16 >= 1.5x fp32 training on H100/H200).")
        print("=" * 100)
    tf32 = "n/a" if result["device"] != "cuda" else ("on" if cfg["tf32"] else "off")
    print(f"device: {result['device_name']}; torch {result['torch']}; cuDNN TF32 {tf32}; "
          f"mid {cfg['mid']}, blocks {cfg['blocks']}, x{SCALE}")
    print(f"\ninference: 1 clip of {cfg['frames']} frames, {cfg['height']}x{cfg['width']} -> "
          f"{SCALE * cfg['height']}x{SCALE * cfg['width']}; median of {cfg['repeats']} after {cfg['warmup']} warm-up")
    head = f"{'alignment':>10} {'params':>9} {'ms/clip':>10} {'fps':>9} {'align ms':>9} {'align %':>8} {'peak MiB':>9}"
    print(head)
    print("-" * len(head))
    for r in result["inference"]:
        print(f"{r['alignment']:>10} {r['params']:>9} {r['ms_per_clip']:>10.2f} {r['fps']:>9.2f} "
              f"{r['align_ms']:>9.2f} {100 * r['align_share']:>7.1f}% {fmt_mem(r['peak_mib']):>9}")
    ratio = result.get("fps_ratio_mv_over_spynet")
    if ratio is not None:
        print(f"fps ratio MV / SPyNet: {ratio:.2f}x (target >= 1.3x at full size on GPU)")
    if result["training"]:
        print(f"\ntraining (alignment mv, AdamW, Charbonnier): batch {cfg['train_batch']} x {cfg['train_frames']} "
              f"frames, {cfg['train_height']}x{cfg['train_width']} LR; median of {cfg['train_repeats']} after "
              f"{cfg['train_warmup']} warm-up")
        head = f"{'mode':>20} {'iter/s':>9} {'ms/iter':>10} {'vs fp32':>8} {'peak MiB':>9}"
        print(head)
        print("-" * len(head))
        for r in result["training"]:
            vs = "" if r.get("ratio_vs_fp32") is None else f"{r['ratio_vs_fp32']:.2f}x"
            print(f"{r['mode']:>20} {r['iters_per_s']:>9.3f} {r['ms_per_iter']:>10.2f} {vs:>8} "
                  f"{fmt_mem(r['peak_mib']):>9}")
        bf16 = next((r for r in result["training"] if r["mode"] == "bf16"), None)
        if bf16 and bf16.get("ratio_vs_fp32") is not None:
            print(f"bf16 / fp32 training: {bf16['ratio_vs_fp32']:.2f}x (target >= 1.5x on H100/H200)")
    st = result.get("space_time")
    if st:
        print_dcn_row(f"space-time (MSITF, published network, random weights): 1 window of {st['frames_in']} x "
                      f"{st['height']}x{st['width']} LR -> {st['frames_out']} x {SCALE * st['height']}x"
                      f"{SCALE * st['width']}", "MSITF", st, st["ms_per_window"], "ms/window", "out fps", cfg)
    rc = result.get("rcvsr")
    if rc:
        print_dcn_row(f"RCVSR (published network, random weights, Y x2): {rc['frames_in']} x {rc['height']}x"
                      f"{rc['width']} LR + 2 key frames -> 1 x {2 * rc['height']}x{2 * rc['width']}", "RCVSR", rc,
                      rc["ms_per_frame"], "ms/frame", "fps", cfg)
    for row in result.get("ptia", []):
        if "skipped" in row:
            print(f"\nPTIA, DCN backend {row['backend']}: skipped ({row['skipped']})")
            continue
        print_dcn_row(f"PTIA (mid {cfg['ptia_mid']}, {cfg['ptia_blocks']} blocks, random weights), DCN backend "
                      f"{row['backend']}: 1 clip of {row['frames']} x {row['height']}x{row['width']} LR -> "
                      f"{SCALE * row['height']}x{SCALE * row['width']}", "PTIA", row, row["ms_per_clip"], "ms/clip",
                      "fps", cfg)
    for note in result["notes"]:
        print(f"note: {note}")


def write_json(path: str, result: dict) -> None:
    """Write ``result`` to ``path`` atomically (a temporary file in the same folder, then a rename)."""
    write_text_atomic(path, json.dumps(result, indent=2) + "\n")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    p.add_argument("--frames", type=int, help="inference clip length (GPU 15, CPU 5)")
    p.add_argument("--height", type=int, help="LR height (GPU 180, CPU 32)")
    p.add_argument("--width", type=int, help="LR width (GPU 320, CPU 32)")
    p.add_argument("--mid", type=int, default=64, help="mid channels of the trunk")
    p.add_argument("--blocks", type=int, default=15, help="residual blocks per direction")
    p.add_argument("--alignments", nargs="+", default=["mv", "spynet"], choices=("mv", "spynet", "none"))
    p.add_argument("--repeats", type=int, help="timed inference runs (median)")
    p.add_argument("--warmup", type=int, help="untimed inference runs first")
    p.add_argument("--train-batch", type=int)
    p.add_argument("--train-frames", type=int)
    p.add_argument("--train-height", type=int)
    p.add_argument("--train-width", type=int)
    p.add_argument("--train-repeats", type=int)
    p.add_argument("--train-warmup", type=int)
    p.add_argument("--train-modes", nargs="*", choices=TRAIN_MODES,
                   help="training modes (default: all but bf16+compile, which --compile adds); none = skip training")
    p.add_argument("--compile", action="store_true", help="also time bf16 + torch.compile training")
    p.add_argument("--no-tf32", action="store_true", help="strict fp32 convolutions and matmuls on CUDA")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--msitf", action="store_true", help="also time the MSITF space-time window (4 -> 7 frames)")
    p.add_argument("--msitf-height", type=int, help="MSITF LR height (GPU 144, CPU 64)")
    p.add_argument("--msitf-width", type=int, help="MSITF LR width (GPU 180, CPU 112)")
    p.add_argument("--rcvsr", action="store_true", help="also time RCVSR (Y, x2, 7 frames + 2 key frames)")
    p.add_argument("--rcvsr-height", type=int, help="RCVSR LR height, a multiple of 8 (GPU 240, CPU 32)")
    p.add_argument("--rcvsr-width", type=int, help="RCVSR LR width, a multiple of 8 (GPU 416, CPU 48)")
    p.add_argument("--ptia", action="store_true", help="also time PTIA at the inference size, per DCN backend")
    p.add_argument("--ptia-mid", type=int, default=64, help="PTIA mid channels (published 64)")
    p.add_argument("--ptia-blocks", type=int, default=30, help="PTIA residual blocks per branch (published 30)")
    p.add_argument("--ptia-backends", nargs="+", choices=("cuda", "torchvision", "torch"),
                   help="DCN backends for the PTIA rows (default: every one available on the device)")
    p.add_argument("--json", metavar="OUT", help="write the numbers to this JSON file")
    return p.parse_args(argv)


def run(args) -> dict:
    """Run the benchmark described by ``args``; returns the result dict (also what ``--json`` writes)."""
    want_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if want_cuda and not torch.cuda.is_available():
        raise SystemExit("bench_vsr.py: --device cuda but torch sees no CUDA device; use --device cpu")
    device = torch.device("cuda" if want_cuda else "cpu")
    defaults = GPU_DEFAULTS if want_cuda else CPU_DEFAULTS
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    size = MSITF_GPU_SIZE if want_cuda else MSITF_CPU_SIZE
    args.msitf_height = args.msitf_height or size[0]
    args.msitf_width = args.msitf_width or size[1]
    size = RCVSR_GPU_SIZE if want_cuda else RCVSR_CPU_SIZE
    args.rcvsr_height = args.rcvsr_height or size[0]
    args.rcvsr_width = args.rcvsr_width or size[1]
    if args.threads:
        torch.set_num_threads(args.threads)
    if want_cuda:
        torch.backends.cudnn.allow_tf32 = not args.no_tf32
        torch.backends.cuda.matmul.allow_tf32 = not args.no_tf32
        torch.backends.cudnn.benchmark = True
    notes = []
    modes = args.train_modes
    if modes is None:
        modes = [m for m in TRAIN_MODES if m != "bf16+compile"]
        if args.compile:
            modes.append("bf16+compile")
    elif "bf16+compile" in modes and not args.compile:
        notes.append("bf16+compile was listed in --train-modes; it runs because it was asked for explicitly")
    if not want_cuda and not args.compile and "bf16+compile" not in modes:
        notes.append("torch.compile skipped on CPU (pass --compile to time it)")

    result = dict(device=device.type, cpu_smoke=not want_cuda,
                  device_name=torch.cuda.get_device_name(device) if want_cuda else f"CPU ({torch.get_num_threads()} "
                  "threads)", torch=torch.__version__,
                  config=dict(frames=args.frames, height=args.height, width=args.width, mid=args.mid,
                              blocks=args.blocks, repeats=args.repeats, warmup=args.warmup,
                              train_batch=args.train_batch, train_frames=args.train_frames,
                              train_height=args.train_height, train_width=args.train_width,
                              train_repeats=args.train_repeats, train_warmup=args.train_warmup,
                              tf32=bool(want_cuda and torch.backends.cudnn.allow_tf32), ptia_mid=args.ptia_mid,
                              ptia_blocks=args.ptia_blocks),
                  inference=[], training=[], notes=notes)
    for alignment in args.alignments:
        result["inference"].append(bench_inference(args, alignment, device))
    by_align = {r["alignment"]: r for r in result["inference"]}
    if "mv" in by_align and "spynet" in by_align:
        result["fps_ratio_mv_over_spynet"] = by_align["mv"]["fps"] / by_align["spynet"]["fps"]
    for mode in modes:
        result["training"].append(bench_training(args, mode, device))
    fp32 = next((r for r in result["training"] if r["mode"] == "fp32"), None)
    for r in result["training"]:
        r["ratio_vs_fp32"] = r["iters_per_s"] / fp32["iters_per_s"] if fp32 else None
    if args.msitf:
        result["space_time"] = bench_msitf(args, device)
    if args.rcvsr:
        result["rcvsr"] = bench_rcvsr(args, device)
    if args.ptia:
        result["ptia"] = bench_ptia(args, device)
    return result


def main(argv=None) -> int:
    args = parse_args(argv)
    result = run(args)
    print_report(result)
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
