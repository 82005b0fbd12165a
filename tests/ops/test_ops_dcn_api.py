"""Modulated deformable conv, public API on CPU (both CPU backends): semantics, layout and float64 gradcheck."""
import pytest
import torch
import torch.nn.functional as F

from vsrkit.ops.dcn import ModulatedDeformConv2d, modulated_deform_conv2d


def reference_dcn(x, offset, mask, weight, bias, stride, padding, dilation, groups, dg):
    """Direct loop-free DCNv2 in plain torch: bilinear samples via grid_sample (zeros, align_corners=True)."""
    n, c_in, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    h_out, w_out = offset.shape[2:]
    k = kh * kw
    ys = torch.arange(h_out, dtype=x.dtype) * stride - padding
    xs = torch.arange(w_out, dtype=x.dtype) * stride - padding
    cols = []
    for ky in range(kh):
        for kx in range(kw):
            p = ky * kw + kx
            per_group = []
            for g in range(dg):
                dy = offset[:, g * 2 * k + 2 * p]
                dx = offset[:, g * 2 * k + 2 * p + 1]
                py = ys.view(1, -1, 1) + ky * dilation + dy
                px = xs.view(1, 1, -1) + kx * dilation + dx
                grid = torch.stack((2 * px / (w - 1) - 1, 2 * py / (h - 1) - 1), dim=-1)
                xg = x[:, g * c_in // dg:(g + 1) * c_in // dg]
                s = F.grid_sample(xg, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
                per_group.append(s * mask[:, g * k + p].unsqueeze(1))
            cols.append(torch.cat(per_group, 1))  # (n, c_in, h_out, w_out)
    col = torch.stack(cols, 2)  # (n, c_in, k, h_out, w_out)
    out = []
    c_in_g, c_out_g = c_in // groups, c_out // groups
    for gr in range(groups):
        wg = weight[gr * c_out_g:(gr + 1) * c_out_g].reshape(c_out_g, c_in_g * k)
        cg = col[:, gr * c_in_g:(gr + 1) * c_in_g].reshape(n, c_in_g * k, -1)
        out.append(torch.einsum("oc,ncp->nop", wg, cg))
    y = torch.cat(out, 1).reshape(n, c_out, h_out, w_out)
    return y if bias is None else y + bias.view(1, -1, 1, 1)


def make_inputs(n=2, c_in=4, c_out=6, h=7, w=8, k=3, stride=1, padding=1, dilation=1, dg=2, groups=2,
                dtype=torch.float64, scale=2.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    h_out = (h + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    w_out = (w + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    x = torch.rand(n, c_in, h, w, generator=g, dtype=dtype)
    # Non-integer offsets keep every sample away from the bilinear kinks, so finite differences are valid.
    offset = (torch.rand(n, dg * 2 * k * k, h_out, w_out, generator=g, dtype=dtype) - 0.5) * 2 * scale
    offset = torch.where((offset - offset.round()).abs() < 0.05, offset + 0.1, offset)
    mask = torch.rand(n, dg * k * k, h_out, w_out, generator=g, dtype=dtype)
    weight = torch.randn(c_out, c_in // groups, k, k, generator=g, dtype=dtype)
    bias = torch.randn(c_out, generator=g, dtype=dtype)
    return x, offset, mask, weight, bias


CPU_BACKENDS = ["torch", "torchvision"]


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("stride,padding,dilation", [(1, 1, 1), (2, 2, 2)])
def test_matches_reference(stride, padding, dilation, backend):
    x, off, m, w, b = make_inputs(stride=stride, padding=padding, dilation=dilation, h=9, w=10)
    got = modulated_deform_conv2d(x, off, m, w, b, stride, padding, dilation, groups=2, deformable_groups=2,
                                  backend=backend)
    ref = reference_dcn(x, off, m, w, b, stride, padding, dilation, 2, 2)
    assert got.shape == ref.shape
    assert torch.allclose(got, ref, atol=1e-10)


def test_zero_offset_unit_mask_is_conv2d():
    x, off, m, w, b = make_inputs()
    got = modulated_deform_conv2d(x, torch.zeros_like(off), torch.ones_like(m), w, b, 1, 1, 1, 2, 2)
    assert torch.allclose(got, F.conv2d(x, w, b, 1, 1, 1, 2), atol=1e-12)


def test_offset_pairs_are_y_then_x():
    """A constant offset (dy=1, dx=0) reads x[i + ky, j - 1 + kx]: a conv of x padded 0 rows above, 2 below."""
    x, off, m, w, b = make_inputs(groups=1, dg=1)
    off = torch.zeros_like(off)
    off[:, 0::2] = 1.0  # dy of every sampling point
    got = modulated_deform_conv2d(x, off, torch.ones_like(m), w, b, 1, 1, 1, 1, 1)
    assert torch.allclose(got, F.conv2d(F.pad(x, (1, 1, 0, 2)), w, b), atol=1e-12)
    off = torch.zeros_like(off)
    off[:, 1::2] = 1.0  # dx of every sampling point
    got = modulated_deform_conv2d(x, off, torch.ones_like(m), w, b, 1, 1, 1, 1, 1)
    assert torch.allclose(got, F.conv2d(F.pad(x, (0, 2, 1, 1)), w, b), atol=1e-12)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("stride,padding,dilation,groups,dg", [(1, 1, 1, 2, 2), (2, 0, 2, 1, 4)])
def test_gradcheck_float64(stride, padding, dilation, groups, dg, backend):
    x, off, m, w, b = make_inputs(n=1, c_in=4, c_out=2, h=5, w=6, stride=stride, padding=padding,
                                  dilation=dilation, groups=groups, dg=dg, scale=1.5, seed=3)
    inputs = tuple(t.requires_grad_() for t in (x, off, m, w, b))

    def fn(*args):
        return modulated_deform_conv2d(*args, stride, padding, dilation, groups, dg, backend=backend)

    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6)


def test_module_forward_and_validation():
    layer = ModulatedDeformConv2d(4, 6, 3, padding=1, groups=2, deformable_groups=2).double()
    x, off, m, _, _ = make_inputs()
    y = layer(x, off, m)
    ref = reference_dcn(x, off, m, layer.weight, layer.bias, 1, 1, 1, 2, 2)
    assert torch.allclose(y, ref, atol=1e-10)
    with pytest.raises(ValueError, match="offset must be"):
        layer(x, off[:, :-2], m)
    with pytest.raises(ValueError, match="mask must be"):
        layer(x, off, m[:, :-1])
    with pytest.raises(ValueError, match="deformable_groups"):
        ModulatedDeformConv2d(6, 6, 3, deformable_groups=4)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_channels_last_tensors_give_the_same_result(backend):
    """``channels_last: true`` makes every conv output (offsets, masks, features) and weight channels_last."""
    x, offset, mask, weight, bias = make_inputs(n=2, c_in=8, c_out=8, dg=4, groups=1)
    plain = [t.clone().requires_grad_() for t in (x, offset, mask, weight)]
    last = [t.clone().to(memory_format=torch.channels_last).requires_grad_() for t in (x, offset, mask, weight)]
    assert not last[1].is_contiguous()
    out_plain = modulated_deform_conv2d(*plain, bias, 1, 1, 1, 1, 4, backend=backend)
    out_last = modulated_deform_conv2d(*last, bias, 1, 1, 1, 1, 4, backend=backend)
    torch.testing.assert_close(out_last, out_plain, rtol=0, atol=1e-12)
    grad = torch.randn_like(out_plain)
    for a, b in zip(torch.autograd.grad(out_last, last, grad), torch.autograd.grad(out_plain, plain, grad)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
