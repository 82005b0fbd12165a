"""Functional modulated deformable convolution (DCNv2), dispatched to the CUDA extension, torchvision or PyTorch ops.

Shapes (``kh, kw`` = kernel size, ``K = kh * kw``, ``dg`` = deformable groups, ``g`` = groups):

* ``x``: ``(n, c_in, h, w)``
* ``offset``: ``(n, dg * 2 * K, h_out, w_out)``, per group and kernel point (row-major over kh, kw) a ``(dy, dx)``
  pair in input pixels (torchvision layout)
* ``mask``: ``(n, dg * K, h_out, w_out)``, modulation scalars (usually a sigmoid output in [0, 1])
* ``weight``: ``(c_out, c_in / g, kh, kw)``; ``bias``: ``(c_out,)`` or None
* output: ``(n, c_out, h_out, w_out)`` with ``h_out = (h + 2 * pad_h - dil_h * (kh - 1) - 1) // stride_h + 1``.

Sampling point k of output pixel (i, j) reads input position
``(i * stride_h - pad_h + ky * dil_h + dy, j * stride_w - pad_w + kx * dil_w + dx)`` by bilinear interpolation with
zeros outside the image, multiplies it by the mask, and the result is contracted with the weight as a convolution.
"""
from __future__ import annotations

import os

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from vsrkit.ops.dcn.backend import BACKENDS, load_extension, select_backend
from vsrkit.ops.dcn.sampled import deform_conv2d_sampled


def _pair(value, name: str) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ValueError(f"modulated_deform_conv2d: {name} must be an int or a pair, got {value}")
    return value


def output_size(h: int, w: int, kernel, stride, padding, dilation) -> tuple[int, int]:
    """Output ``(h_out, w_out)`` of a convolution with these settings (all pairs)."""
    return ((h + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1,
            (w + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1)


def _check_shapes(x, offset, mask, weight, bias, stride, padding, dilation, groups, deformable_groups):
    if x.dim() != 4:
        raise ValueError(f"modulated_deform_conv2d: x must be (n, c, h, w), got {tuple(x.shape)}")
    n, c_in, h, w = x.shape
    c_out, c_in_g, kh, kw = weight.shape
    if groups < 1 or c_in % groups or c_out % groups or c_in_g * groups != c_in:
        raise ValueError(f"modulated_deform_conv2d: weight {tuple(weight.shape)} does not fit c_in={c_in} with "
                         f"groups={groups} (need weight.shape[1] * groups == c_in and c_out % groups == 0)")
    if deformable_groups < 1 or c_in % deformable_groups:
        raise ValueError(f"modulated_deform_conv2d: c_in={c_in} is not divisible by "
                         f"deformable_groups={deformable_groups}")
    h_out, w_out = output_size(h, w, (kh, kw), stride, padding, dilation)
    if h_out < 1 or w_out < 1:
        raise ValueError(f"modulated_deform_conv2d: input {h}x{w} is too small for kernel {kh}x{kw}")
    k = kh * kw
    expect_off = (n, deformable_groups * 2 * k, h_out, w_out)
    expect_mask = (n, deformable_groups * k, h_out, w_out)
    if tuple(offset.shape) != expect_off:
        raise ValueError(f"modulated_deform_conv2d: offset must be {expect_off} (dg*2*kh*kw channels), "
                         f"got {tuple(offset.shape)}")
    if tuple(mask.shape) != expect_mask:
        raise ValueError(f"modulated_deform_conv2d: mask must be {expect_mask} (dg*kh*kw channels), "
                         f"got {tuple(mask.shape)}")
    if bias is not None and tuple(bias.shape) != (c_out,):
        raise ValueError(f"modulated_deform_conv2d: bias must be ({c_out},), got {tuple(bias.shape)}")


def deterministic_requested(deterministic: bool | None) -> bool:
    """Resolve the ``deterministic`` argument: explicit value, else ``VSRKIT_DCN_DETERMINISTIC=1``, else
    :func:`torch.are_deterministic_algorithms_enabled`."""
    if deterministic is not None:
        return bool(deterministic)
    if os.environ.get("VSRKIT_DCN_DETERMINISTIC", "") in ("1", "true", "yes"):
        return True
    return torch.are_deterministic_algorithms_enabled()


class _ModulatedDeformConv2dCUDA(torch.autograd.Function):
    """Autograd wrapper of the extension; the backward returns grads of x, offset, mask, weight and bias."""

    @staticmethod
    def forward(ctx, x, offset, mask, weight, bias, stride, padding, dilation, groups, deformable_groups,
                deterministic):
        ext = load_extension()
        x, offset, mask, weight = (t.contiguous() for t in (x, offset, mask, weight))
        has_bias = bias is not None
        bias_t = bias.contiguous() if has_bias else x.new_empty(0)
        out = ext.forward(x, offset, mask, weight, bias_t, stride[0], stride[1], padding[0], padding[1],
                          dilation[0], dilation[1], groups, deformable_groups)
        ctx.save_for_backward(x, offset, mask, weight)
        ctx.conv = (stride, padding, dilation, groups, deformable_groups)
        ctx.has_bias = has_bias
        ctx.deterministic = deterministic
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, offset, mask, weight = ctx.saved_tensors
        stride, padding, dilation, groups, deformable_groups = ctx.conv
        grad_x, grad_offset, grad_mask, grad_weight, grad_bias = load_extension().backward(
            grad_out.contiguous(), x, offset, mask, weight, stride[0], stride[1], padding[0], padding[1],
            dilation[0], dilation[1], groups, deformable_groups, ctx.has_bias, ctx.deterministic)
        return (grad_x, grad_offset, grad_mask, grad_weight, grad_bias if ctx.has_bias else None,
                None, None, None, None, None, None)


def modulated_deform_conv2d(x: Tensor, offset: Tensor, mask: Tensor, weight: Tensor, bias: Tensor | None = None,
                            stride=1, padding=0, dilation=1, groups: int = 1, deformable_groups: int = 1,
                            deterministic: bool | None = None, backend: str | None = None) -> Tensor:
    """Modulated deformable convolution; shapes in the module docstring.

    Args:
        stride, padding, dilation: int or (h, w) pair.
        groups: convolution groups (``weight.shape[1] == c_in / groups``).
        deformable_groups: groups of input channels that share one offset/mask field.
        deterministic: CUDA extension only: bitwise repeatable backward (grad of x accumulated in int64 fixed point,
            which is order independent; every other gradient is reduced without atomics). None: see
            :func:`deterministic_requested`. The torchvision and torch backends ignore it (the torch backend is
            deterministic on the CPU).
        backend: ``"cuda"`` / ``"torchvision"`` / ``"torch"`` to bypass the automatic choice (tests, benchmarks);
            None: automatic (:func:`vsrkit.ops.dcn.backend.select_backend`).
    Returns:
        ``(n, c_out, h_out, w_out)``. The CUDA backend casts all inputs to the autocast dtype inside
        ``torch.autocast("cuda")``, else to the dtype of ``x``; the torch backend casts to the dtype of ``x``;
        torchvision needs equal dtypes (or its own autocast, which runs in float32).
    """
    stride, padding, dilation = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    _check_shapes(x, offset, mask, weight, bias, stride, padding, dilation, groups, deformable_groups)
    if backend is None:
        backend = select_backend(x.device)
    if backend == "cuda":
        if load_extension() is None or x.device.type != "cuda":
            raise RuntimeError("modulated_deform_conv2d: backend='cuda' needs CUDA tensors and the extension")
        # The extension needs one dtype: the autocast dtype inside torch.autocast (tensor cores), else x's dtype.
        dtype = torch.get_autocast_dtype("cuda") if torch.is_autocast_enabled("cuda") else x.dtype
        x, offset, mask, weight = (t if t.dtype == dtype else t.to(dtype) for t in (x, offset, mask, weight))
        if bias is not None and bias.dtype != dtype:
            bias = bias.to(dtype)
        return _ModulatedDeformConv2dCUDA.apply(x, offset, mask, weight, bias, stride, padding, dilation, groups,
                                                deformable_groups, deterministic_requested(deterministic))
    if backend == "torch":
        return deform_conv2d_sampled(x, offset, mask, weight, bias, stride, padding, dilation, groups,
                                     deformable_groups)
    if backend != "torchvision":
        raise ValueError(f"modulated_deform_conv2d: unknown backend {backend!r} (use one of {', '.join(BACKENDS)})")
    from torchvision.ops import deform_conv2d

    # torchvision infers groups from weight.shape[1] and deformable groups from offset.shape[1]; both were checked.
    return deform_conv2d(x, offset, weight, bias, stride=stride, padding=padding, dilation=dilation, mask=mask)
