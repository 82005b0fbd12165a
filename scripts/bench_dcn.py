#!/usr/bin/env python3
"""Benchmark vsrkit's DCN backends against torchvision.ops.deform_conv2d, measured in the same run.

Cases (issue 4): 64->64 channels, 3x3, deformable groups 8 and 16, 180x320, batch 1/2/4/8, fp32 and bf16.
Per case it reports
  * forward+backward time of torchvision and of the extension, and the speed-up (target >= 2x);
  * the extension's forward time against the memory-bandwidth floor: bytes that a fused kernel must move
    (read x, offset, mask, weight; write y) divided by the GPU's peak bandwidth (target: within 3x), and the
    achieved GB/s;
  * max |difference| of the forward output vs torchvision (sanity).
Times are medians over --iters runs measured with CUDA events after warm-up (every run synchronised).

torchvision has no bf16 CUDA kernel: for bf16 its baseline runs in fp32 on the same values (what autocast does),
marked "tv fp32" in the table.

On a machine without CUDA it says so and prints the CPU table instead (exit code 0; use --require-gpu to exit 3):
the ``torch`` backend (the CPU default, vsrkit/ops/dcn/sampled.py) against torchvision at a few method shapes,
forward and forward+backward, with the ratio and the largest output difference. ``--cpu`` prints only that table.

    python scripts/bench_dcn.py                       # full table
    python scripts/bench_dcn.py --cpu --iters 5       # CPU backends
    python scripts/bench_dcn.py --batches 1 --groups 8 --dtypes fp32 --iters 5
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vsrkit.ops.dcn import backend as dcn_backend  # noqa: E402
from vsrkit.ops.dcn import modulated_deform_conv2d  # noqa: E402

# Peak HBM bandwidth in GB/s by device-name fragment (first match wins); override with --peak-gbps.
PEAK_GBPS = [("H200", 4800.0), ("H100 NVL", 3900.0), ("H100 PCIe", 2000.0), ("H100", 3350.0),
             ("A100-SXM4-80GB", 2039.0), ("A100 80GB", 1935.0), ("A100", 1555.0)]
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def peak_bandwidth(name: str, override: float | None) -> float | None:
    if override:
        return override
    for fragment, gbps in PEAK_GBPS:
        if fragment in name:
            return gbps
    return None


def fused_bytes(n, c_in, c_out, h, w, k, dg, elem_size) -> int:
    """Minimum traffic of a fused DCN forward (stride 1, 'same' padding): read x, offsets, masks, weight; write y."""
    pixels = n * h * w
    return elem_size * (pixels * c_in + pixels * dg * 3 * k * k + pixels * c_out + c_out * c_in * k * k + c_out)


def make_inputs(n, c_in, c_out, h, w, k, dg, dtype, device):
    g = torch.Generator(device=device).manual_seed(0)
    kw = dict(device=device, dtype=torch.float32)
    x = torch.rand(n, c_in, h, w, generator=g, **kw)
    offset = (torch.rand(n, dg * 2 * k * k, h, w, generator=g, **kw) - 0.5) * 8
    mask = torch.rand(n, dg * k * k, h, w, generator=g, **kw)
    weight = torch.randn(c_out, c_in, k, k, generator=g, **kw) / (c_in * k * k) ** 0.5
    bias = torch.randn(c_out, generator=g, **kw)
    grad = torch.randn(n, c_out, h, w, generator=g, **kw)
    return [t.to(dtype) for t in (x, offset, mask, weight, bias)], grad.to(dtype)


def cuda_time_ms(fn, iters: int, warmup: int) -> float:
    """Median milliseconds of fn() over iters runs, each bracketed by CUDA events and synchronised."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def bench_case(n, dg, dtype_name, args):
    c, k, h, w = args.channels, 3, args.height, args.width
    dtype = DTYPES[dtype_name]
    inputs, grad = make_inputs(n, c, c, h, w, k, dg, dtype, "cuda")
    leaves = [t.clone().requires_grad_(True) for t in inputs]

    def ours_fwd():
        with torch.no_grad():
            return modulated_deform_conv2d(*inputs, 1, 1, 1, 1, dg, backend="cuda")

    def ours_fwd_bwd():
        out = modulated_deform_conv2d(*leaves, 1, 1, 1, 1, dg, backend="cuda")
        out.backward(grad)

    tv_dtype_note = dtype_name
    tv_inputs, tv_grad = inputs, grad
    try:
        with torch.no_grad():
            modulated_deform_conv2d(*inputs, 1, 1, 1, 1, dg, backend="torchvision")
    except RuntimeError:
        tv_inputs, tv_grad = [t.float() for t in inputs], grad.float()
        tv_dtype_note = "tv fp32"
    tv_leaves = [t.clone().requires_grad_(True) for t in tv_inputs]

    def tv_fwd():
        with torch.no_grad():
            return modulated_deform_conv2d(*tv_inputs, 1, 1, 1, 1, dg, backend="torchvision")

    def tv_fwd_bwd():
        out = modulated_deform_conv2d(*tv_leaves, 1, 1, 1, 1, dg, backend="torchvision")
        out.backward(tv_grad)

    diff = (ours_fwd().float() - tv_fwd().float()).abs().max().item()
    row = {
        "dg": dg, "batch": n, "dtype": dtype_name, "tv_note": tv_dtype_note, "max_abs_diff": diff,
        "tv_fwd_bwd_ms": cuda_time_ms(tv_fwd_bwd, args.iters, args.warmup),
        "ours_fwd_bwd_ms": cuda_time_ms(ours_fwd_bwd, args.iters, args.warmup),
        "tv_fwd_ms": cuda_time_ms(tv_fwd, args.iters, args.warmup),
        "ours_fwd_ms": cuda_time_ms(ours_fwd, args.iters, args.warmup),
        "bytes": fused_bytes(n, c, c, h, w, k, dg, torch.empty(0, dtype=dtype).element_size()),
    }
    row["speedup"] = row["tv_fwd_bwd_ms"] / row["ours_fwd_bwd_ms"]
    row["fwd_speedup"] = row["tv_fwd_ms"] / row["ours_fwd_ms"]
    row["achieved_gbps"] = row["bytes"] / (row["ours_fwd_ms"] * 1e-3) / 1e9
    return row


def print_table(rows, peak_gbps):
    head = (f"{'dg':>3} {'batch':>5} {'dtype':>5} | {'tv f+b ms':>9} {'ours f+b':>9} {'speedup':>7} | "
            f"{'tv fwd':>8} {'ours fwd':>8} {'x':>5} | {'MB':>6} {'floor us':>8} {'fwd/floor':>9} {'GB/s':>7} | "
            f"{'max|diff|':>9} note")
    print(head)
    print("-" * len(head))
    for r in rows:
        floor_us = r["bytes"] / (peak_gbps * 1e9) * 1e6 if peak_gbps else float("nan")
        over = r["ours_fwd_ms"] * 1e3 / floor_us if peak_gbps else float("nan")
        print(f"{r['dg']:>3} {r['batch']:>5} {r['dtype']:>5} | {r['tv_fwd_bwd_ms']:>9.3f} "
              f"{r['ours_fwd_bwd_ms']:>9.3f} {r['speedup']:>6.2f}x | {r['tv_fwd_ms']:>8.3f} "
              f"{r['ours_fwd_ms']:>8.3f} {r['fwd_speedup']:>4.1f}x | {r['bytes'] / 1e6:>6.1f} {floor_us:>8.1f} "
              f"{over:>8.2f}x {r['achieved_gbps']:>7.0f} | {r['max_abs_diff']:>9.2e} "
              f"{r['tv_note'] if r['tv_note'] != r['dtype'] else ''}")


#: CPU cases: (label, batch, channels, height, width, kernel, deformable groups)
CPU_CASES = [("PTIA demo TBIA", 2, 16, 16, 16, 3, 8), ("64 ch, dg 8", 1, 64, 45, 80, 3, 8),
             ("64 ch, dg 8, batch 4", 4, 64, 45, 80, 3, 8), ("RCVSR-like 5x5, dg 7", 1, 56, 48, 64, 5, 7)]


def cpu_seconds(fn, iters: int) -> float:
    """Median wall-clock seconds of ``fn`` over ``iters`` runs after one warm-up run."""
    fn()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cpu_table(args) -> list[dict]:
    """The CPU backends, timed in the same run: ``torch`` (grid_sample + matmul, the CPU default) vs torchvision."""
    print(f"CPU: torch backend vs torchvision, fp32, {torch.get_num_threads()} thread(s), "
          f"median of {args.iters} runs (wall clock)")
    print(f"{'case':<22} {'shape':<22} | {'tv fwd':>8} {'torch fwd':>9} {'ratio':>6} | "
          f"{'tv f+b':>8} {'torch f+b':>9} {'ratio':>6} | {'max |diff|':>10}")
    rows = []
    for label, n, c, h, w, k, dg in CPU_CASES:
        inputs, grad = make_inputs(n, c, c, h, w, k, dg, torch.float32, "cpu")
        pad = k // 2
        leaves = {b: [t.clone().requires_grad_(True) for t in inputs] for b in ("torchvision", "torch")}

        def fwd(b):
            with torch.no_grad():
                return modulated_deform_conv2d(*inputs, 1, pad, 1, 1, dg, backend=b)

        def fwd_bwd(b):
            modulated_deform_conv2d(*leaves[b], 1, pad, 1, 1, dg, backend=b).backward(grad)

        row = {"case": label, "shape": f"{n}x{c}x{h}x{w} k{k} dg{dg}"}
        for b in ("torchvision", "torch"):
            row[f"{b}_fwd_ms"] = cpu_seconds(lambda: fwd(b), args.iters) * 1e3
            row[f"{b}_fwd_bwd_ms"] = cpu_seconds(lambda: fwd_bwd(b), args.iters) * 1e3
        row["max_abs_diff"] = (fwd("torch") - fwd("torchvision")).abs().max().item()
        rows.append(row)
        print(f"{label:<22} {row['shape']:<22} | {row['torchvision_fwd_ms']:>8.2f} {row['torch_fwd_ms']:>9.2f} "
              f"{row['torchvision_fwd_ms'] / row['torch_fwd_ms']:>5.1f}x | {row['torchvision_fwd_bwd_ms']:>8.2f} "
              f"{row['torch_fwd_bwd_ms']:>9.2f} {row['torchvision_fwd_bwd_ms'] / row['torch_fwd_bwd_ms']:>5.1f}x | "
              f"{row['max_abs_diff']:>10.2e}")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--groups", type=int, nargs="+", default=[8, 16], help="deformable groups")
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=sorted(DTYPES))
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--peak-gbps", type=float, default=None, help="GPU peak memory bandwidth (default: by name)")
    parser.add_argument("--deterministic", action="store_true", help="time the deterministic backward")
    parser.add_argument("--require-gpu", action="store_true", help="exit 3 instead of 0 when no GPU is present")
    parser.add_argument("--cpu", action="store_true", help="only the CPU table (torch backend vs torchvision)")
    args = parser.parse_args(argv)
    if args.cpu or not torch.cuda.is_available():
        if not args.cpu:
            print("bench_dcn.py: no CUDA device here, so the extension cannot be benchmarked (run this on an "
                  "H100/H200); the CPU backends instead.")
        cpu_table(args)
        return 3 if args.require_gpu and not torch.cuda.is_available() else 0
    if dcn_backend.load_extension() is None:
        print(f"bench_dcn.py: the DCN CUDA extension is unavailable: {dcn_backend.extension_error()}")
        return 2
    if args.deterministic:
        import os

        os.environ["VSRKIT_DCN_DETERMINISTIC"] = "1"
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 baseline in true fp32, like the extension's fp32 path
    name = torch.cuda.get_device_name()
    peak = peak_bandwidth(name, args.peak_gbps)
    print(f"device: {name}; torch {torch.__version__}; peak bandwidth "
          f"{f'{peak:.0f} GB/s' if peak else 'unknown (pass --peak-gbps)'}; {args.channels}->{args.channels}, 3x3, "
          f"{args.height}x{args.width}; median of {args.iters} runs; backward "
          f"{'deterministic' if args.deterministic else 'atomic'}")
    rows = [bench_case(n, dg, dt, args) for dt in args.dtypes for dg in args.groups for n in args.batches]
    print_table(rows, peak)
    speedups = [r["speedup"] for r in rows]
    print(f"fwd+bwd speed-up vs torchvision: min {min(speedups):.2f}x, max {max(speedups):.2f}x (target >= 2x)")
    if peak:
        overs = [r["ours_fwd_ms"] * 1e3 / (r["bytes"] / (peak * 1e9) * 1e6) for r in rows]
        print(f"forward / memory floor: min {min(overs):.2f}x, max {max(overs):.2f}x (target <= 3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
