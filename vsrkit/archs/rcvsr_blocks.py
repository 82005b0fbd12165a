"""RCVSR's own blocks: DSTA (deformable spatial attention), DBRB (dual-branch residual block) and the residual x2
upsample of the upsampler's second branch. Facts: ``reference/methods.md`` section 4 and the fixture README.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vsrkit.ops.dcn import ModulatedDeformConv2d


def dcn_init_(dcn: ModulatedDeformConv2d) -> ModulatedDeformConv2d:
    """Published DCNv2 initialisation: weight uniform in ``+-1/sqrt(fan_in)`` (already so), bias 0."""
    if dcn.bias is not None:
        nn.init.zeros_(dcn.bias)
    return dcn


class ResidualUpsample(nn.Module):
    """x2 upsample that halves the channels: ``learned(x) + interp(x)``.

    ``learned``: 1x1 conv, PReLU, 3x3 transposed conv stride 2 (padding 1, output padding 1), PReLU, 1x1 conv to
    ``channels / 2``. ``interp``: bicubic x2 (``align_corners`` True as published), 1x1 conv to ``channels / 2``.
    No biases. Shapes: ``(n, channels, h, w)`` -> ``(n, channels // 2, 2h, 2w)``.
    """

    def __init__(self, channels: int, align_corners: bool = True):
        super().__init__()
        self.learned = nn.Sequential(
            nn.Conv2d(channels, channels, 1, bias=False), nn.PReLU(),
            nn.ConvTranspose2d(channels, channels, 3, stride=2, padding=1, output_padding=1, bias=False), nn.PReLU(),
            nn.Conv2d(channels, channels // 2, 1, bias=False))
        self.interp = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bicubic", align_corners=align_corners),
            nn.Conv2d(channels, channels // 2, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.learned(x) + self.interp(x)


class DSTA(nn.Module):
    """Deformable spatial attention (ESA-style) with channel attention: ``x * sigmoid(spatial) * channel``.

    With ``f = channels // 4``::

        r     = reduce(x)                                   1x1, C -> f                     (n, f, H, W)
        v     = max_pool(down(r), 7, stride 3)             3x3 stride 2, no padding          (n, f, h', w')
        c     = relu(refine2(relu(refine1(relu(conv_max(v))))))                               3x3 convs
        om    = offset_mask(c) + bicubic(coarse_offset_mask(coarse(c)), size of c)            27f channels
        a     = relu(dcn(v, om[:, :18f], sigmoid(om[:, 18f:])))   3x3 DCN, f deformable groups  (n, f, h', w')
        gate  = channel_gate(a)                            avgpool, 1x1 f -> 2f, ReLU, 1x1 -> C, sigmoid
        out   = x * sigmoid(expand(bicubic(a, (H, W)) + skip(r))) * gate

    ``coarse`` is a 3x3 stride-2 conv + ReLU; bicubic resizes use ``align_corners=False``.
    Needs ``H, W >= 15`` (the stride-2 conv and 7x7 pool without padding).
    Shapes: ``(n, C, H, W)`` -> same.
    """

    def __init__(self, channels: int):
        super().__init__()
        f = channels // 4
        if f < 1:
            raise ValueError(f"DSTA: channels must be >= 4, got {channels}")
        self.f = f
        self.reduce = nn.Conv2d(channels, f, 1)
        self.skip = nn.Conv2d(f, f, 1)
        self.down = nn.Conv2d(f, f, 3, stride=2, padding=0)
        self.conv_max = nn.Conv2d(f, f, 3, 1, 1)
        self.refine1 = nn.Conv2d(f, f, 3, 1, 1)
        self.refine2 = nn.Conv2d(f, f, 3, 1, 1)
        self.offset_mask = nn.Conv2d(f, 27 * f, 3, 1, 1)
        self.coarse = nn.Sequential(nn.Conv2d(f, f, 3, stride=2, padding=1), nn.ReLU(inplace=True))
        self.coarse_offset_mask = nn.Conv2d(f, 27 * f, 3, 1, 1)
        self.dcn = dcn_init_(ModulatedDeformConv2d(f, f, 3, padding=1, deformable_groups=f))
        self.channel_gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(f, 2 * f, 1), nn.ReLU(inplace=True), nn.Conv2d(2 * f, channels, 1),
            nn.Sigmoid())
        self.expand = nn.Conv2d(f, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h < 15 or w < 15:
            raise ValueError(f"DSTA: input {h}x{w} is too small (needs at least 15x15)")
        r = self.reduce(x)
        v = F.max_pool2d(self.down(r), kernel_size=7, stride=3)
        c = F.relu(self.conv_max(v))
        c = F.relu(self.refine2(F.relu(self.refine1(c))))
        om = self.offset_mask(c)
        coarse = self.coarse_offset_mask(self.coarse(c))
        om = om + F.interpolate(coarse, size=om.shape[-2:], mode="bicubic", align_corners=False)
        a = F.relu(self.dcn(v, om[:, :18 * self.f], torch.sigmoid(om[:, 18 * self.f:])))
        gate = self.channel_gate(a)
        a = F.interpolate(a, size=(h, w), mode="bicubic", align_corners=False)
        spatial = torch.sigmoid(self.expand(a + self.skip(r)))
        return x * spatial * gate


class DualBranchResidualBlock(nn.Module):
    """DBRB: two streams that exchange their residuals.

    Each branch is conv3x3 -> PReLU -> DSTA -> conv3x3 (C -> C). With ``x' = branch_x(x)``, ``y' = branch_y(y)``
    and one shared PReLU: ``out_x = PReLU(x' + x + y')``, ``out_y = PReLU(x' + y + y')``.

    Shapes: ``x, y (n, C, H, W)`` (H, W >= 15) -> ``(out_x, out_y)``, each ``(n, C, H, W)``.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.branch_x = self._branch(channels)
        self.branch_y = self._branch(channels)
        self.act = nn.PReLU()

    @staticmethod
    def _branch(channels: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1), nn.PReLU(), DSTA(channels),
                             nn.Conv2d(channels, channels, 3, 1, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rx, ry = self.branch_x(x), self.branch_y(y)
        return self.act(rx + x + ry), self.act(rx + y + ry)
