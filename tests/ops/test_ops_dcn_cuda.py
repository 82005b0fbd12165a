"""CUDA extension vs torchvision on the GPU: outputs and all five gradients, fp32 / fp16 / bf16, batch > 32,
deterministic backward. Every test skips cleanly without CUDA.

Run: python -m pytest tests/ops/test_ops_dcn_cuda.py -q   (on a GPU machine; builds the extension on first use)
"""
import pytest
import torch

from vsrkit.ops.dcn import backend, modulated_deform_conv2d

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

# (n, c_in, c_out, h, w, k, stride, padding, dilation, groups, dg)
CASES = {
    "64to64_dg8": (2, 64, 64, 24, 40, 3, 1, 1, 1, 1, 8),
    "partial_tiles_groups": (3, 12, 10, 17, 23, 3, 2, 2, 2, 2, 3),
    "dg16_5x5": (1, 32, 48, 15, 21, 5, 1, 2, 1, 1, 16),
    "1x1_dg1_wide": (2, 96, 80, 9, 13, 1, 1, 0, 1, 1, 1),
    "batch40": (40, 16, 16, 8, 8, 3, 1, 1, 1, 1, 4),
}


@pytest.fixture(scope="module")
def ext():
    torch.backends.cuda.matmul.allow_tf32 = False  # torchvision's GEMM must run in true fp32 for the 1e-4 check
    module = backend.load_extension()
    assert module is not None, f"the CUDA extension did not load: {backend.extension_error()}"
    return module


def make_case(n, c_in, c_out, h, w, k, stride, padding, dilation, groups, dg, dtype=torch.float32, seed=0,
              integer_offsets=False):
    g = torch.Generator(device="cuda").manual_seed(seed)
    h_out = (h + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    w_out = (w + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    dev = dict(device="cuda", dtype=torch.float32)
    x = torch.rand(n, c_in, h, w, generator=g, **dev)
    offset = (torch.rand(n, dg * 2 * k * k, h_out, w_out, generator=g, **dev) - 0.5) * 6  # crosses the borders
    if integer_offsets:  # exactly on pixels, on the -1 / size borders and on half pixels
        offset = (offset * 2).round() / 2
    mask = torch.rand(n, dg * k * k, h_out, w_out, generator=g, **dev)
    weight = torch.randn(c_out, c_in // groups, k, k, generator=g, **dev) / (c_in // groups * k * k) ** 0.5
    bias = torch.randn(c_out, generator=g, **dev)
    grad_out = torch.randn(n, c_out, h_out, w_out, generator=g, **dev)
    return [t.to(dtype) for t in (x, offset, mask, weight, bias)], grad_out.to(dtype)


def run(inputs, grad_out, conv, backend_name, deterministic=None, upcast=False):
    leaves = [t.detach().clone().double().float() if upcast else t.detach().clone() for t in inputs]
    for t in leaves:
        t.requires_grad_(True)
    stride, padding, dilation, groups, dg = conv
    out = modulated_deform_conv2d(*leaves, stride, padding, dilation, groups, dg, deterministic=deterministic,
                                  backend=backend_name)
    out.backward(grad_out.float() if upcast else grad_out)
    return [out.detach()] + [t.grad.detach() for t in leaves]


NAMES = ["output", "grad_x", "grad_offset", "grad_mask", "grad_weight", "grad_bias"]


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("deterministic", [False, True])
def test_fp32_parity_with_torchvision(ext, case, deterministic):
    n, c_in, c_out, h, w, k, stride, padding, dilation, groups, dg = CASES[case]
    inputs, grad_out = make_case(*CASES[case])
    conv = (stride, padding, dilation, groups, dg)
    ours = run(inputs, grad_out, conv, "cuda", deterministic)
    ref = run(inputs, grad_out, conv, "torchvision")
    for name, a, b in zip(NAMES, ours, ref):
        assert a.shape == b.shape and a.dtype == b.dtype, name
        err = (a - b).abs().max().item()
        assert err <= 1e-4, f"{case} {name}: max abs diff {err:.3g} > 1e-4 (max |ref| {b.abs().max().item():.3g})"


def test_border_conventions_with_integer_offsets(ext):
    """Samples exactly on pixels and at -1 / the far border follow torchvision's value and gradient conventions."""
    case = CASES["64to64_dg8"]
    inputs, grad_out = make_case(*case, seed=5, integer_offsets=True)
    conv = case[6:]
    for name, a, b in zip(NAMES, run(inputs, grad_out, conv, "cuda"), run(inputs, grad_out, conv, "torchvision")):
        err = (a - b).abs().max().item()
        assert err <= 1e-4, f"{name}: max abs diff {err:.3g}"


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("case", ["64to64_dg8", "partial_tiles_groups", "batch40"])
def test_half_precision_parity(ext, case, dtype):
    """16-bit extension vs torchvision in fp32 on the same (rounded) inputs: error relative to the largest value
    within a few bf16/fp16 ulps of the accumulated result."""
    n, c_in, c_out, h, w, k, stride, padding, dilation, groups, dg = CASES[case]
    inputs, grad_out = make_case(*CASES[case], dtype=dtype)
    conv = (stride, padding, dilation, groups, dg)
    ours = run(inputs, grad_out, conv, "cuda")
    ref = run(inputs, grad_out, conv, "torchvision", upcast=True)
    tol = 3e-2 if dtype == torch.bfloat16 else 5e-3
    for name, a, b in zip(NAMES, ours, ref):
        assert a.dtype == dtype, name
        rel = ((a.float() - b).abs().max() / b.abs().max().clamp_min(1e-6)).item()
        assert rel <= tol, f"{case} {dtype} {name}: max error / max |ref| = {rel:.3g} > {tol}"


def test_deterministic_backward_is_bitwise_repeatable(ext):
    inputs, grad_out = make_case(*CASES["64to64_dg8"], seed=1)
    conv = (1, 1, 1, 1, 8)
    first = run(inputs, grad_out, conv, "cuda", deterministic=True)
    for _ in range(3):
        again = run(inputs, grad_out, conv, "cuda", deterministic=True)
        for name, a, b in zip(NAMES, first, again):
            assert torch.equal(a, b), f"{name} differs between deterministic runs"


def test_benchmark_shape_parity(ext):
    """The benchmark's shape (64->64, 3x3, dg 16, 180x320): catches indexing bugs that only large planes show."""
    case = (1, 64, 64, 180, 320, 3, 1, 1, 1, 1, 16)
    inputs, grad_out = make_case(*case, seed=2)
    ours = run(inputs, grad_out, (1, 1, 1, 1, 16), "cuda")
    ref = run(inputs, grad_out, (1, 1, 1, 1, 16), "torchvision")
    for name, a, b in zip(NAMES, ours, ref):
        tol = 1e-4 if name not in ("grad_weight", "grad_bias") else 1e-4 * max(1.0, b.abs().max().item() / 100)
        err = (a - b).abs().max().item()
        assert err <= tol, f"{name}: max abs diff {err:.3g} > {tol:.3g}"


def test_automatic_choice_is_the_extension(ext, monkeypatch):
    monkeypatch.delenv("VSRKIT_DCN_BACKEND", raising=False)
    assert backend.select_backend("cuda") == "cuda"
    monkeypatch.setenv("VSRKIT_DCN_BACKEND", "torchvision")
    assert backend.select_backend("cuda") == "torchvision"


def test_bad_dtype_is_rejected(ext):
    inputs, _ = make_case(*CASES["batch40"])
    with pytest.raises(RuntimeError, match="unsupported dtype"):
        modulated_deform_conv2d(*[t.double() for t in inputs], 1, 1, 1, 1, 4, backend="cuda")


def test_autocast_runs_in_bf16_on_tensor_cores(ext):
    """fp32 inputs inside torch.autocast(bfloat16): the extension casts to bf16; result close to fp32."""
    inputs, grad_out = make_case(*CASES["64to64_dg8"], seed=4)
    ref = modulated_deform_conv2d(*inputs, 1, 1, 1, 1, 8, backend="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = modulated_deform_conv2d(*inputs, 1, 1, 1, 1, 8, backend="cuda")
    assert out.dtype == torch.bfloat16
    assert ((out.float() - ref).abs().max() / ref.abs().max()).item() <= 3e-2


def test_empty_batch_on_gpu(ext):
    inputs, grad_out = make_case(0, 8, 6, 5, 5, 3, 1, 1, 1, 1, 2)
    outs = run(inputs, grad_out, (1, 1, 1, 1, 2), "cuda")
    assert outs[0].shape == (0, 6, 5, 5)
    assert all(g.shape == t.shape for g, t in zip(outs[1:], inputs))
