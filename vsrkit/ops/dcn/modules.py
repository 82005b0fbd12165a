"""nn.Module wrappers: :class:`ModulatedDeformConv2d` (offsets and masks given) and :class:`DCNPack` (predicted)."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from vsrkit.ops.dcn.functional import _pair, modulated_deform_conv2d


class ModulatedDeformConv2d(nn.Module):
    """Modulated deformable convolution (DCNv2) with explicit offsets and masks.

    ``forward(x, offset, mask)``: x ``(n, in_channels, h, w)``, offset ``(n, dg * 2 * kh * kw, h_out, w_out)`` with
    ``(dy, dx)`` pairs per group and kernel point (torchvision layout, input pixels), mask
    ``(n, dg * kh * kw, h_out, w_out)`` -> ``(n, out_channels, h_out, w_out)``. Weight initialised like
    :class:`torch.nn.Conv2d`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3, stride=1, padding=0, dilation=1,
                 groups: int = 1, deformable_groups: int = 1, bias: bool = True, deterministic: bool | None = None):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"ModulatedDeformConv2d: in_channels={in_channels} and out_channels={out_channels} "
                             f"must be divisible by groups={groups}")
        if in_channels % deformable_groups:
            raise ValueError(f"ModulatedDeformConv2d: in_channels={in_channels} must be divisible by "
                             f"deformable_groups={deformable_groups}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride, self.padding = _pair(stride, "stride"), _pair(padding, "padding")
        self.dilation = _pair(dilation, "dilation")
        self.groups, self.deformable_groups = groups, deformable_groups
        self.deterministic = deterministic
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.kernel_size[0] * self.kernel_size[1]
            nn.init.uniform_(self.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))

    def forward(self, x: Tensor, offset: Tensor, mask: Tensor) -> Tensor:
        return modulated_deform_conv2d(x, offset, mask, self.weight, self.bias, self.stride, self.padding,
                                       self.dilation, self.groups, self.deformable_groups, self.deterministic)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
                f"deformable_groups={self.deformable_groups}, bias={self.bias is not None}")


class DCNPack(ModulatedDeformConv2d):
    """Modulated DCN whose offsets and masks are predicted from a condition feature (EDVR / BasicVSR++ style).

    ``forward(x, cond, flow=None)``:

    * x: ``(n, in_channels, h, w)``, the feature to align.
    * cond: ``(n, cond_channels, h_out, w_out)``, the feature the offsets are predicted from (e.g. the concatenation
      of x, the reference feature and a warped feature, built by the network).
    * flow: ``(n, 2, h_out, w_out)`` in pixels, channel 0 = x (vsrkit convention); required when
      ``flow_guided=True``, ignored otherwise.
    * returns ``(n, out_channels, h_out, w_out)``.

    The offset head is ``head_layers`` x (3x3 conv to ``head_channels`` + LeakyReLU(0.1)) followed by a 3x3 conv to
    ``3 * dg * kh * kw`` channels, split into offset ``(dg * 2 * kh * kw)`` and mask logits ``(dg * kh * kw)``:
    ``residual = max_magnitude * tanh(o)`` when ``max_magnitude`` is set (10 in BasicVSR++ / MSITF), else ``o``;
    ``offset = residual + flow`` repeated over all sampling points in (y, x) order when ``flow_guided`` (BasicVSR++),
    else ``offset = residual``; ``mask = sigmoid(m)``.

    With ``zero_init_offset=True`` the last head conv starts at zero: offsets start at 0 (or at the flow) and masks
    at 0.5, so at initialisation the output is ``0.5 * conv2d(x, weight) + bias`` (flow-guided: the same on the
    flow-warped input).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3, stride=1, padding=None, dilation=1,
                 groups: int = 1, deformable_groups: int = 8, bias: bool = True, cond_channels: int | None = None,
                 head_layers: int = 0, head_channels: int = 64, max_magnitude: float | None = None,
                 zero_init_offset: bool = True, flow_guided: bool = False, deterministic: bool | None = None):
        kernel = _pair(kernel_size, "kernel_size")
        dil = _pair(dilation, "dilation")
        if padding is None:  # 'same' output size at stride 1
            padding = (dil[0] * (kernel[0] - 1) // 2, dil[1] * (kernel[1] - 1) // 2)
        super().__init__(in_channels, out_channels, kernel, stride, padding, dilation, groups, deformable_groups,
                         bias, deterministic)
        if max_magnitude is not None and max_magnitude <= 0:
            raise ValueError(f"DCNPack: max_magnitude must be positive or None, got {max_magnitude}")
        self.max_magnitude = max_magnitude
        self.flow_guided = flow_guided
        self.cond_channels = in_channels if cond_channels is None else cond_channels
        points = deformable_groups * kernel[0] * kernel[1]
        layers: list[nn.Module] = []
        channels = self.cond_channels
        for _ in range(head_layers):
            layers += [nn.Conv2d(channels, head_channels, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True)]
            channels = head_channels
        layers.append(nn.Conv2d(channels, 3 * points, 3, 1, 1))
        self.offset_head = nn.Sequential(*layers)
        if zero_init_offset:
            nn.init.zeros_(self.offset_head[-1].weight)
            nn.init.zeros_(self.offset_head[-1].bias)

    def offset_and_mask(self, cond: Tensor, flow: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Offsets ``(n, dg * 2 * kh * kw, h, w)`` ((dy, dx) pairs) and masks ``(n, dg * kh * kw, h, w)`` in [0, 1]."""
        out = self.offset_head(cond)
        points = out.shape[1] // 3
        residual, mask_logits = out[:, :2 * points], out[:, 2 * points:]
        if self.max_magnitude is not None:
            residual = self.max_magnitude * torch.tanh(residual)
        if self.flow_guided:
            if flow is None:
                raise ValueError("DCNPack(flow_guided=True).forward needs flow (n, 2, h, w), channel 0 = x")
            if flow.shape[0] != cond.shape[0] or flow.shape[1] != 2 or flow.shape[2:] != out.shape[2:]:
                raise ValueError(f"DCNPack: flow must be (n, 2, h, w) = {(out.shape[0], 2, *out.shape[2:])}, "
                                 f"got {tuple(flow.shape)}")
            residual = residual + flow.flip(1).repeat(1, points, 1, 1)  # (x, y) -> (y, x), once per sampling point
        return residual, torch.sigmoid(mask_logits)

    def forward(self, x: Tensor, cond: Tensor, flow: Tensor | None = None) -> Tensor:  # type: ignore[override]
        offset, mask = self.offset_and_mask(cond, flow)
        return modulated_deform_conv2d(x, offset, mask, self.weight, self.bias, self.stride, self.padding,
                                       self.dilation, self.groups, self.deformable_groups, self.deterministic)
