"""RCAN residual groups: a stack of RCABs closed by a conv, with a group skip, and the trunk that feeds one.

:class:`RCAGroup` is RCAN's residual group (Zhang et al., ECCV 2018); :class:`RCAGroupWithInputConv` puts a conv and
a LeakyReLU(0.1) in front of it, which is how PTIA builds its propagation and reconstruction trunks (BasicVSR's
``ResidualBlocksWithInputConv`` with RCABs instead of plain residual blocks). The RCAB itself is
:class:`vsrkit.archs.blocks.RCAB`.
"""
from __future__ import annotations

import torch
from torch import nn

from vsrkit.archs.blocks import RCAB


class RCAGroup(nn.Module):
    """``x + conv(RCAB_n(...RCAB_1(x)))``: ``num_blocks`` RCABs (conv-ReLU-conv + channel attention) and a 3x3 conv.

    Args:
        num_feat: channels in = out.
        num_blocks: RCABs in the group (0 leaves ``x + conv(x)``).
        squeeze_factor: channel-attention reduction (16: 64 -> 4 -> 64).
    Shapes: ``(n, num_feat, h, w)`` -> same.
    """

    def __init__(self, num_feat: int = 64, num_blocks: int = 12, squeeze_factor: int = 16):
        super().__init__()
        self.blocks = nn.Sequential(*[RCAB(num_feat, squeeze_factor) for _ in range(num_blocks)])
        self.conv = nn.Conv2d(num_feat, num_feat, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(self.blocks(x))


class RCAGroupWithInputConv(nn.Module):
    """3x3 conv ``in -> out`` + LeakyReLU(0.1), then an :class:`RCAGroup` of ``num_blocks`` RCABs.

    Shapes: ``(n, in_channels, h, w)`` -> ``(n, out_channels, h, w)``.
    """

    def __init__(self, in_channels: int, out_channels: int = 64, num_blocks: int = 30, squeeze_factor: int = 16):
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.act = nn.LeakyReLU(0.1, inplace=True)
        self.group = RCAGroup(out_channels, num_blocks, squeeze_factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.group(self.act(self.conv_in(x)))
