#!/usr/bin/env python3
"""Benchmark PTIA inference: fps, peak memory and the share of time spent in the deformable convolution, per DCN
backend (the CUDA extension and torchvision on GPU; torchvision on CPU).

For each backend: one clip of ``--frames`` LR frames ``--height`` x ``--width`` -> x4, random weights, the published
configuration by default (``mid 64, 30 blocks``: 13.9M parameters). The time of every DCN call is measured with
forward hooks around the TBIA ``ModulatedDeformConv2d`` modules (CUDA-synchronised on GPU); the DCN share is that
time over the time of the hooked forward. Every time is the median over ``--repeats`` runs after ``--warmup`` runs.

Without CUDA the defaults shrink to a CPU smoke size (5 frames, 32x32, 2 repeats) and the output says so: those
numbers check that the script works; the GPU sizes are the targets (180x320 -> 720x1280).

    python scripts/bench_ptia.py                                 # GPU: 15 frames 180x320, both backends
    python scripts/bench_ptia.py --device cpu --mid 16 --blocks 2 --frames 3 --height 16 --width 16
    python scripts/bench_ptia.py --json ptia.json                # also write the numbers
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vsrkit.archs.ptia_arch import PTIA  # noqa: E402
from vsrkit.ops.dcn import ModulatedDeformConv2d, available_backends  # noqa: E402

GPU_DEFAULTS = dict(frames=15, height=180, width=320, repeats=5, warmup=2)
CPU_DEFAULTS = dict(frames=5, height=32, width=32, repeats=2, warmup=1)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class DCNTimer:
    """Forward hooks that add up the wall time of every ``ModulatedDeformConv2d`` call of a network."""

    def __init__(self, net: torch.nn.Module, device: torch.device):
        self.device, self.total, self._start = device, 0.0, 0.0
        self.handles = []
        for module in net.modules():
            if isinstance(module, ModulatedDeformConv2d):
                self.handles.append(module.register_forward_pre_hook(self._pre))
                self.handles.append(module.register_forward_hook(self._post))

    def _pre(self, *_):
        _sync(self.device)
        self._start = time.perf_counter()

    def _post(self, *_):
        _sync(self.device)
        self.total += time.perf_counter() - self._start

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def bench_backend(net: PTIA, lq: torch.Tensor, backend: str, repeats: int, warmup: int) -> dict:
    """fps, ms per clip, peak memory and DCN share of ``net(lq)`` with the DCN forced to ``backend``."""
    device = lq.device
    old = os.environ.get("VSRKIT_DCN_BACKEND")
    os.environ["VSRKIT_DCN_BACKEND"] = backend
    try:
        with torch.no_grad():
            for _ in range(warmup):
                net(lq)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            plain = []
            for _ in range(repeats):
                _sync(device)
                t0 = time.perf_counter()
                net(lq)
                _sync(device)
                plain.append(time.perf_counter() - t0)
            shares = []
            for _ in range(repeats):
                timer = DCNTimer(net, device)
                _sync(device)
                t0 = time.perf_counter()
                net(lq)
                _sync(device)
                shares.append(timer.total / (time.perf_counter() - t0))
                timer.remove()
    finally:
        if old is None:
            os.environ.pop("VSRKIT_DCN_BACKEND", None)
        else:
            os.environ["VSRKIT_DCN_BACKEND"] = old
    sec = statistics.median(plain)
    peak = torch.cuda.max_memory_allocated(device) / 2 ** 20 if device.type == "cuda" else None
    return dict(backend=backend, ms_per_clip=1000 * sec, fps=lq.shape[1] / sec, peak_mib=peak,
                dcn_share=statistics.median(shares))


def run(device: str = "auto", frames: int | None = None, height: int | None = None, width: int | None = None,
        mid: int = 64, blocks: int = 30, repeats: int | None = None, warmup: int | None = None,
        backends: list[str] | None = None) -> dict:
    """Benchmark PTIA on every requested (and available) DCN backend; returns the result dict."""
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if cuda and not torch.cuda.is_available():
        raise SystemExit("bench_ptia.py: --device cuda but torch sees no CUDA device; use --device cpu")
    dev = torch.device("cuda" if cuda else "cpu")
    d = GPU_DEFAULTS if cuda else CPU_DEFAULTS
    frames, height, width = frames or d["frames"], height or d["height"], width or d["width"]
    repeats, warmup = repeats or d["repeats"], d["warmup"] if warmup is None else warmup
    if height % 4 or width % 4:
        raise SystemExit(f"bench_ptia.py: PTIA needs a height and width divisible by 4, got {height}x{width}")
    have = available_backends() if cuda else ["torchvision"]
    wanted = backends or (["cuda", "torchvision"] if cuda else ["torchvision"])
    notes = [f"DCN backend {b} unavailable here: skipped" for b in wanted if b not in have]
    if not cuda:
        notes.append("CPU smoke size: checks that the script works; the targets are the GPU sizes")
    torch.manual_seed(0)
    net = PTIA(mid_channels=mid, num_blocks=blocks).to(dev).eval()
    lq = torch.rand(1, frames, 3, height, width, device=dev)
    rows = [bench_backend(net, lq, b, repeats, warmup) for b in wanted if b in have]
    return dict(device=torch.cuda.get_device_name(dev) if cuda else f"CPU ({torch.get_num_threads()} threads)",
                torch=torch.__version__, frames=frames, height=height, width=width, mid=mid, blocks=blocks,
                params=sum(p.numel() for p in net.parameters()), repeats=repeats, warmup=warmup, rows=rows,
                notes=notes)


def format_report(result: dict) -> str:
    h, w = result["height"], result["width"]
    lines = [f"PTIA (mid {result['mid']}, {result['blocks']} blocks, {result['params']:,} parameters) on "
             f"{result['device']}: 1 clip of {result['frames']} frames {h}x{w} -> {4 * h}x{4 * w}; median of "
             f"{result['repeats']} after {result['warmup']} warm-up",
             f"{'DCN backend':>12} {'ms/clip':>10} {'fps':>8} {'DCN %':>7} {'peak MiB':>9}"]
    for r in result["rows"]:
        peak = "n/a" if r["peak_mib"] is None else f"{r['peak_mib']:.0f}"
        lines.append(f"{r['backend']:>12} {r['ms_per_clip']:>10.1f} {r['fps']:>8.2f} {100 * r['dcn_share']:>6.1f}% "
                     f"{peak:>9}")
    lines += [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    p.add_argument("--frames", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--width", type=int)
    p.add_argument("--mid", type=int, default=64)
    p.add_argument("--blocks", type=int, default=30)
    p.add_argument("--repeats", type=int)
    p.add_argument("--warmup", type=int)
    p.add_argument("--backends", nargs="+", choices=("cuda", "torchvision"))
    p.add_argument("--json", metavar="OUT", help="write the numbers to this JSON file")
    args = p.parse_args(argv)
    result = run(args.device, args.frames, args.height, args.width, args.mid, args.blocks, args.repeats,
                 args.warmup, args.backends)
    print(format_report(result))
    if args.json:
        from vsrkit.fileio import write_json_atomic

        write_json_atomic(args.json, result)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
