"""Selective-kernel feature fusion (SKFF, as in SKNet / MIRNet): a softmax-weighted sum of parallel branches.

Used by RCVSR in five places (reference alignment, upsampler, RRM, AGE). A shared block: any arch that fuses
branches of equal width with per-channel attention imports it from here.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SelectiveKernelFusion(nn.Module):
    """Fuse ``branches`` feature maps of ``num_feat`` channels with channel-wise softmax weights over the branches.

    ``U = sum_b X_b``; ``z = PReLU(W_s * avgpool(U))`` (``hidden = max(int(num_feat / reduction), min_hidden)``
    channels, one shared PReLU slope); ``a_b = W_b * z``; ``out = sum_b softmax_b(a)_b * X_b``.

    Args:
        num_feat: channels C of each branch.
        branches: number of branches B (>= 2).
        reduction: squeeze ratio (8 in RCVSR).
        min_hidden: lower bound of the squeezed width (4 in RCVSR).
        bias: biases in the 1x1 convs (RCVSR: none).
    Shapes: ``(n, B * C, h, w)`` (the branches concatenated along channels, branch-major) -> ``(n, C, h, w)``.
    """

    def __init__(self, num_feat: int, branches: int, reduction: int = 8, min_hidden: int = 4, bias: bool = False):
        super().__init__()
        if branches < 2:
            raise ValueError(f"SelectiveKernelFusion: branches must be >= 2, got {branches}")
        hidden = max(int(num_feat / reduction), min_hidden)
        self.num_feat, self.branches = num_feat, branches
        self.squeeze = nn.Sequential(nn.Conv2d(num_feat, hidden, 1, bias=bias), nn.PReLU())
        self.excite = nn.ModuleList(nn.Conv2d(hidden, num_feat, 1, bias=bias) for _ in range(branches))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        if c != self.branches * self.num_feat:
            raise ValueError(f"SelectiveKernelFusion: expected {self.branches} x {self.num_feat} channels, got {c}")
        feats = x.view(n, self.branches, self.num_feat, h, w)
        z = self.squeeze(F.adaptive_avg_pool2d(feats.sum(dim=1), 1))                    # (n, hidden, 1, 1)
        logits = torch.cat([fc(z) for fc in self.excite], dim=1).view(n, self.branches, self.num_feat, 1, 1)
        return (feats * logits.softmax(dim=1)).sum(dim=1)
