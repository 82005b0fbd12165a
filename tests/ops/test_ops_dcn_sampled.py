"""The ``torch`` DCN backend (grid_sample + matmul) against torchvision: outputs and every gradient in float64."""
import pytest
import torch

from vsrkit.ops.dcn import modulated_deform_conv2d, sampled

NAMES = ("x", "offset", "mask", "weight", "bias")


def inputs(n, c_in, c_out, h, w, k, stride, padding, dilation, groups, dg, offset_scale, seed=0, bias=True):
    g = torch.Generator().manual_seed(seed)
    h_out = (h + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    w_out = (w + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    kw = dict(generator=g, dtype=torch.float64)
    return [torch.randn(n, c_in, h, w, **kw),
            torch.randn(n, dg * 2 * k * k, h_out, w_out, **kw) * offset_scale,
            torch.rand(n, dg * k * k, h_out, w_out, **kw),
            torch.randn(c_out, c_in // groups, k, k, **kw),
            torch.randn(c_out, **kw) if bias else None]


def run(backend, tensors, conv, grad_seed=1):
    leaves = [t.clone().requires_grad_(True) if t is not None else None for t in tensors]
    out = modulated_deform_conv2d(*leaves, *conv, backend=backend)
    grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(grad_seed), dtype=out.dtype).to(out.device)
    out.backward(grad)
    return [out] + [t.grad if t is not None else None for t in leaves]


CASES = {  # n, c_in, c_out, h, w, k, stride, padding, dilation, groups, dg, offset scale
    "3x3 dg8 (PTIA TBIA)": (2, 16, 16, 9, 11, 3, 1, 1, 1, 1, 8, 2.0),
    "5x5 dg7 (RCVSR STDF)": (1, 14, 7, 8, 10, 5, 1, 2, 1, 1, 7, 3.0),
    "stride 2, dilation 2, groups 2": (2, 8, 6, 12, 9, 3, 2, 2, 2, 2, 4, 1.5),
    "1x1, no padding": (1, 4, 4, 5, 7, 1, 1, 0, 1, 1, 2, 1.0),
    "offsets far outside": (1, 4, 4, 6, 6, 3, 1, 1, 1, 1, 1, 8.0),
    "one-pixel-wide input": (1, 2, 3, 5, 1, 3, 1, 1, 1, 1, 1, 1.0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_equals_torchvision_in_float64(case):
    *shape, offset_scale = CASES[case]
    n, c_in, c_out, h, w, k, stride, padding, dilation, groups, dg = shape
    tensors = inputs(n, c_in, c_out, h, w, k, stride, padding, dilation, groups, dg, offset_scale)
    conv = (stride, padding, dilation, groups, dg)
    ours, ref = run("torch", tensors, conv), run("torchvision", tensors, conv)
    for name, a, b in zip(("output",) + NAMES, ours, ref):
        scale = max(1.0, b.abs().max().item())
        assert (a - b).abs().max().item() <= 1e-12 * scale, f"{case}: {name} differs"


def test_no_bias_and_float32_inputs_of_mixed_dtype():
    tensors = inputs(1, 4, 4, 6, 6, 3, 1, 1, 1, 1, 2, 1.0, bias=False)
    ref = modulated_deform_conv2d(*tensors, 1, 1, 1, 1, 2, backend="torchvision")
    x, offset, mask, weight, _ = tensors
    out = modulated_deform_conv2d(x.float(), offset, mask, weight, None, 1, 1, 1, 1, 2, backend="torch")
    assert out.dtype == torch.float32
    assert torch.allclose(out.double(), ref, atol=1e-5)


def test_large_calls_recompute_their_samples_with_the_same_gradients(monkeypatch):
    tensors = inputs(2, 8, 8, 7, 9, 3, 1, 1, 1, 1, 4, 2.0)
    conv = (1, 1, 1, 1, 4)
    kept = run("torch", tensors, conv)
    calls = []
    real = sampled.checkpoint
    monkeypatch.setattr(sampled, "RECOMPUTE_ABOVE_BYTES", 0)
    monkeypatch.setattr(sampled, "checkpoint", lambda *a, **k: calls.append(1) or real(*a, **k))
    recomputed = run("torch", tensors, conv)
    assert calls, "a call above the threshold must go through torch.utils.checkpoint"
    for name, a, b in zip(("output",) + NAMES, kept, recomputed):
        assert torch.equal(a, b), name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("case", ["3x3 dg8 (PTIA TBIA)", "5x5 dg7 (RCVSR STDF)", "stride 2, dilation 2, groups 2"])
def test_equals_torchvision_on_cuda_in_float64(case):
    *shape, offset_scale = CASES[case]
    n, c_in, c_out, h, w, k, stride, padding, dilation, groups, dg = shape
    tensors = [t.cuda() if t is not None else None
               for t in inputs(n, c_in, c_out, h, w, k, stride, padding, dilation, groups, dg, offset_scale)]
    conv = (stride, padding, dilation, groups, dg)
    for name, a, b in zip(("output",) + NAMES, run("torch", tensors, conv), run("torchvision", tensors, conv)):
        assert (a - b).abs().max().item() <= 1e-12 * max(1.0, b.abs().max().item()), f"{case}: {name} differs"
