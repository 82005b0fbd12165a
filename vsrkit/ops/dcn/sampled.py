"""The ``torch`` DCN backend: modulated deformable convolution from PyTorch's own ops (the CPU default).

One ``grid_sample`` call gathers every modulated sample, one batched matmul contracts them with the weight, and
autograd differentiates both. On the CPU this is several times faster than ``torchvision.ops.deform_conv2d``,
whose CPU kernels are scalar loops (forward and backward; ``scripts/bench_dcn.py --cpu`` prints the ratio), and it
agrees with torchvision to float rounding (about 1e-14 in float64, ``tests/ops/test_ops_dcn_sampled.py``).

Why the results are torchvision's: for a deformable group, the input position of kernel point ``k`` at output pixel
``(i, j)`` is ``p = base(i, j, k) + offset``. ``grid_sample(mode="bilinear", padding_mode="zeros",
align_corners=False)`` reads the input at pixel ``p`` when it is given the normalised coordinate ``(2 p + 1) / n - 1``
(``n`` = the input's height or width), with each of the four bilinear corners that lies outside the image reading 0:
torchvision's border rule. Its gradient with respect to the grid is the bilinear weights' derivative, which the
normalisation's chain rule turns back into a gradient per input pixel.

Memory: a training call keeps its samples ``(n, c_in, kh * kw, h_out * w_out)`` twice for the backward (for the
mask's and the weight's gradients). Above :data:`RECOMPUTE_ABOVE_BYTES` the call keeps only its inputs instead and
recomputes the samples in the backward (``torch.utils.checkpoint``), which costs one more forward.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

#: Sample tensors above this size (bytes) are recomputed in the backward instead of kept.
RECOMPUTE_ABOVE_BYTES = 256 * 2 ** 20


def _sampling_grid(offset: Tensor, in_hw: tuple[int, int], out_hw: tuple[int, int], kernel: tuple[int, int],
                   stride, padding, dilation, deformable_groups: int) -> Tensor:
    """``grid_sample`` coordinates ``(n * dg, K * h_out, w_out, 2)`` (x, y, normalised) of every sampling point."""
    n = offset.shape[0]
    (h, w), (h_out, w_out), (kh, kw) = in_hw, out_hw, kernel
    dtype, device = offset.dtype, offset.device
    ky = torch.arange(kh, device=device, dtype=dtype).repeat_interleave(kw) * dilation[0]  # (K,), row-major
    kx = torch.arange(kw, device=device, dtype=dtype).repeat(kh) * dilation[1]
    rows = torch.arange(h_out, device=device, dtype=dtype) * stride[0] - padding[0]
    cols = torch.arange(w_out, device=device, dtype=dtype) * stride[1] - padding[1]
    off = offset.reshape(n, deformable_groups, kh * kw, 2, h_out, w_out)  # reshape: offsets may be channels_last
    y = off[:, :, :, 0] + (ky.view(-1, 1, 1) + rows.view(1, -1, 1))  # (n, dg, K, h_out, w_out), input pixels
    x = off[:, :, :, 1] + (kx.view(-1, 1, 1) + cols.view(1, 1, -1))
    grid = torch.stack(((2 * x + 1) / w - 1, (2 * y + 1) / h - 1), dim=-1)
    return grid.view(n * deformable_groups, kh * kw * h_out, w_out, 2)


def _deform_conv2d(x: Tensor, offset: Tensor, mask: Tensor, weight: Tensor, bias: Tensor | None,
                   stride, padding, dilation, groups: int, deformable_groups: int) -> Tensor:
    n, c_in, h, w = x.shape
    c_out, c_in_g, kh, kw = weight.shape
    k = kh * kw
    h_out, w_out = offset.shape[-2:]
    grid = _sampling_grid(offset, (h, w), (h_out, w_out), (kh, kw), stride, padding, dilation, deformable_groups)
    samples = F.grid_sample(x.reshape(n * deformable_groups, c_in // deformable_groups, h, w), grid,
                            mode="bilinear", padding_mode="zeros", align_corners=False)
    # (n * dg, c_in / dg, K * h_out, w_out) -> modulated columns (n, groups, c_in / groups * K, h_out * w_out)
    samples = samples.view(n, deformable_groups, c_in // deformable_groups, k, h_out * w_out)
    columns = samples * mask.reshape(n, deformable_groups, 1, k, h_out * w_out)
    columns = columns.view(n, groups, c_in_g * k, h_out * w_out)
    out = torch.matmul(weight.reshape(groups, c_out // groups, c_in_g * k), columns)  # (n, groups, c_out/g, P)
    out = out.view(n, c_out, h_out, w_out)
    return out if bias is None else out + bias.view(1, c_out, 1, 1)


def deform_conv2d_sampled(x: Tensor, offset: Tensor, mask: Tensor, weight: Tensor, bias: Tensor | None,
                          stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int],
                          groups: int, deformable_groups: int) -> Tensor:
    """Modulated deformable convolution (shapes checked by the caller, see ``functional.py``).

    All tensors are used in ``x``'s dtype. Returns ``(n, c_out, h_out, w_out)``.
    """
    dtype = x.dtype
    offset, mask, weight = (t if t.dtype == dtype else t.to(dtype) for t in (offset, mask, weight))
    if bias is not None and bias.dtype != dtype:
        bias = bias.to(dtype)
    args = (x, offset, mask, weight, bias, stride, padding, dilation, groups, deformable_groups)
    sample_bytes = mask.numel() * (x.shape[1] // deformable_groups) * x.element_size()  # (n, c_in, K, P)
    needs_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in args[:5])
    if needs_grad and sample_bytes > RECOMPUTE_ABOVE_BYTES:
        return checkpoint(_deform_conv2d, *args, use_reentrant=False)
    return _deform_conv2d(*args)
