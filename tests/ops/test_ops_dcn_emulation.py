"""The CUDA extension's kernels and host code, run on the CPU through tests/ops/dcn_emu (one std::thread per CUDA
thread, std::barrier for __syncthreads, emulated WMMA that checks alignment rules), compared with torchvision.

This checks the extension's index math, tiling, group handling, split-K slices, border conventions and the
deterministic fixed-point path without a GPU. The build (~40 s, g++ only) is cached under $VSRKIT_CACHE_DIR
(default ~/.cache/vsrkit), so later runs take seconds. What it cannot check: real GPU scheduling, memory
coalescing, and the speed.
"""
import os
import shutil
from pathlib import Path

import pytest
import torch
from torchvision.ops import deform_conv2d

from vsrkit.ops.dcn.backend import CSRC_DIR

EMU_DIR = Path(__file__).resolve().parent / "dcn_emu"


def _build():
    from torch.utils.cpp_extension import is_ninja_available, load

    if not is_ninja_available() or shutil.which(os.environ.get("CXX", "c++")) is None:
        pytest.skip("needs ninja and a C++20 compiler to build the CPU emulation")
    root = Path(os.environ.get("VSRKIT_CACHE_DIR", Path.home() / ".cache" / "vsrkit"))
    build_dir = root / "dcn_emu" / f"torch-{torch.__version__}".replace("+", "_")
    build_dir.mkdir(parents=True, exist_ok=True)
    return load(name="vsrkit_dcn_emu", sources=[str(CSRC_DIR / "dcn.cpp"), str(EMU_DIR / "emu_launch.cpp")],
                build_directory=str(build_dir), verbose=False,
                extra_cflags=["-O2", "-std=c++20", "-DVSRKIT_DCN_EMULATION", f"-I{CSRC_DIR}", f"-I{EMU_DIR}",
                              "-Wno-unknown-pragmas"])


@pytest.fixture(scope="module")
def emu():
    return _build()


def make_case(n, c_in, c_out, h, w, k, stride, padding, dilation, groups, dg, dtype=torch.float32, seed=0,
              integer_offsets=False):
    g = torch.Generator().manual_seed(seed)
    h_out = (h + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    w_out = (w + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    x = torch.rand(n, c_in, h, w, generator=g)
    if integer_offsets:  # lands exactly on pixels, on the -1 / size borders and on half pixels
        offset = torch.randint(-6, 7, (n, dg * 2 * k * k, h_out, w_out), generator=g).float() / 2
    else:
        offset = (torch.rand(n, dg * 2 * k * k, h_out, w_out, generator=g) - 0.5) * 6
    mask = torch.rand(n, dg * k * k, h_out, w_out, generator=g)
    weight = torch.randn(c_out, c_in // groups, k, k, generator=g) / (c_in // groups * k * k) ** 0.5
    bias = torch.randn(c_out, generator=g)
    grad_out = torch.randn(n, c_out, h_out, w_out, generator=g)
    return [t.to(dtype) for t in (x, offset, mask, weight, bias)], grad_out.to(dtype)


def run_emu(emu, inputs, grad_out, conv, deterministic=False):
    stride, padding, dilation, groups, dg = conv
    args = (stride, stride, padding, padding, dilation, dilation, groups, dg)
    out = emu.forward(*inputs, *args)
    grads = emu.backward(grad_out, *inputs[:4], *args, True, deterministic)
    return [out, *grads]


def run_torchvision(inputs, grad_out, conv):
    stride, padding, dilation, _, _ = conv
    leaves = [t.detach().float().requires_grad_() for t in inputs]
    x, offset, mask, weight, bias = leaves
    out = deform_conv2d(x, offset, weight, bias, stride=stride, padding=padding, dilation=dilation, mask=mask)
    out.backward(grad_out.float())
    return [out.detach()] + [t.grad for t in leaves]


NAMES = ["output", "grad_x", "grad_offset", "grad_mask", "grad_weight", "grad_bias"]
# (n, c_in, c_out, h, w, k, stride, padding, dilation, groups, dg)
CASES = {
    "64to64_dg8": (2, 64, 64, 10, 14, 3, 1, 1, 1, 1, 8),
    "groups_stride_dilation": (3, 12, 10, 13, 17, 3, 2, 2, 2, 2, 3),
    "dg16_5x5_partial_tiles": (1, 32, 48, 9, 11, 5, 1, 2, 1, 1, 16),
    "batch40": (40, 8, 8, 5, 5, 3, 1, 1, 1, 1, 4),
    "cin130_groups2_dg5": (1, 130, 70, 5, 7, 3, 1, 1, 1, 2, 5),
}


@pytest.mark.parametrize("case", list(CASES))
def test_fp32_matches_torchvision(emu, case):
    conv = CASES[case][6:]
    inputs, grad_out = make_case(*CASES[case])
    for name, a, b in zip(NAMES, run_emu(emu, inputs, grad_out, conv), run_torchvision(inputs, grad_out, conv)):
        err = (a - b).abs().max().item()
        assert err <= 1e-4, f"{case} {name}: max abs diff {err:.3g}"


def test_border_conventions_with_integer_offsets(emu):
    """Samples exactly on pixels, at -1 and at the far border: torchvision's value and gradient conventions."""
    case = CASES["64to64_dg8"]
    inputs, grad_out = make_case(*case, seed=5, integer_offsets=True)
    conv = case[6:]
    for name, a, b in zip(NAMES, run_emu(emu, inputs, grad_out, conv), run_torchvision(inputs, grad_out, conv)):
        err = (a - b).abs().max().item()
        assert err <= 1e-4, f"{name}: max abs diff {err:.3g}"


@pytest.mark.parametrize("dtype,tol", [(torch.bfloat16, 2e-2), (torch.float16, 3e-3)])
def test_tensor_core_path_matches_torchvision(emu, dtype, tol):
    """bf16 / fp16 go through the (emulated) WMMA tiles; error relative to the largest reference value."""
    for case in ("64to64_dg8", "dg16_5x5_partial_tiles"):
        inputs, grad_out = make_case(*CASES[case], dtype=dtype, seed=1, integer_offsets=case == "64to64_dg8")
        conv = CASES[case][6:]
        ours = run_emu(emu, inputs, grad_out, conv)
        ref = run_torchvision(inputs, grad_out, conv)
        for name, a, b in zip(NAMES, ours, ref):
            assert a.dtype == dtype
            rel = ((a.float() - b).abs().max() / b.abs().max()).item()
            assert rel <= tol, f"{case} {dtype} {name}: relative error {rel:.3g}"


def test_deterministic_backward(emu):
    """Fixed-point grad x: bitwise repeatable and equal to the float-atomic result within fp32 rounding."""
    case = CASES["64to64_dg8"]
    inputs, grad_out = make_case(*case, seed=2)
    first = run_emu(emu, inputs, grad_out, case[6:], deterministic=True)
    again = run_emu(emu, inputs, grad_out, case[6:], deterministic=True)
    atomic = run_emu(emu, inputs, grad_out, case[6:], deterministic=False)
    for name, a, b, c in zip(NAMES, first, again, atomic):
        assert torch.equal(a, b), f"{name} not bitwise repeatable"
        assert (a - c).abs().max().item() <= 1e-5, name


def test_weight_gradient_independent_of_slicing(emu, monkeypatch):
    """Split-K over columns: 1 slice (1 emulated SM) and many slices give the same weight gradient."""
    case = CASES["groups_stride_dilation"]
    inputs, grad_out = make_case(*case, seed=3)
    monkeypatch.setenv("VSRKIT_EMU_SMS", "1")
    one = run_emu(emu, inputs, grad_out, case[6:])[4]
    monkeypatch.setenv("VSRKIT_EMU_SMS", "64")
    many = run_emu(emu, inputs, grad_out, case[6:])[4]
    assert (one - many).abs().max().item() <= 1e-5


def test_empty_batch(emu):
    inputs, grad_out = make_case(0, 8, 6, 5, 5, 3, 1, 1, 1, 1, 2)
    outs = run_emu(emu, inputs, grad_out, (1, 1, 1, 1, 2))
    assert outs[0].shape == (0, 6, 5, 5)
    for grad, t in zip(outs[1:], inputs):
        assert grad.shape == t.shape and torch.count_nonzero(grad) == 0
