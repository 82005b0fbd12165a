"""PTIA: progressive temporal inter-frame alignment for compressed video SR, x4 (repo ``submition/PTIA``).

BasicVSR++ layout with PTIA's alignment (``reference/methods.md`` section 1). Per clip ``lq (n, t, 3, h, w)``, RGB in
``[0, 1]``, ``h`` and ``w`` divisible by 4::

    flows      SPyNet on neighbouring LR frames, both directions          (n, t-1, 2, h, w), LR pixels
               (frozen: computed under no_grad unless train_spynet)
    L_i        VGGFeatureEncoder(lq_i)                                    (n, C, h, w)
    M_i, S_i   bilinear x1/2, x1/4 of L_i (align_corners=False)           (n, C, h/2, w/2), (n, C, h/4, w/4)
    branches   backward_1, forward_1, backward_2, forward_2, each in its time order; step 0: p = 0, no alignment;
               c1 = TBIA(pyr_{i-+1}, pyr_i, h_{prev}, flow)                first order
               c2 = TBIA(pyr_{i-+2}, pyr_i, h_{prev2}, flow1 + warp(flow2, flow1))  from step 2 on, else 0
               p  = fuse1x1(cat(c1, L_i, c2))
               h_i = p + trunk(cat(L_i, earlier branches at i, p))         trunk = conv + LReLU + RCAGroup(30 RCAB)
    out_i      conv_last(LReLU(conv_hr(upsample x4(RCAGroupTrunk(cat(L_i, b1_i, f1_i, b2_i, f2_i))))))
               + bilinear x4 of lq_i (align_corners=False)               (n, 3, 4h, 4w), not clamped

TBIA (``archs/tbia.py``) refines the flow coarse to fine, predicts affine DCN offsets and masks and applies a
modulated DCN (8 groups) to the flow-warped propagated feature, followed by CAFS (``archs/cafs.py``).

Published behaviour kept by default (``docs/ptia.md`` lists every quirk and deviation):

* SPyNet runs under ``torch.no_grad()``: it is never trained (``train_spynet=True`` trains it).
* CAFS uses only the top-left token as query and broadcasts its result (``cafs_query='all_tokens'``: every pixel).
* DCN offsets unbounded (``offset_bound``: ``b * tanh``); flow warps with zero padding, also in the second-order
  flow composition.

Ablations (not in the published code): ``alignment='flow'`` replaces TBIA by a plain warp of the propagated feature
with the SPyNet flow (no residual flow, DCN or CAFS); ``alignment='none'`` passes it unaligned (identity; no SPyNet).
Published configuration (``mid_channels=64, num_blocks=30``): 13,917,267 parameters.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vsrkit.archs.blocks import PixelShuffleUpsampler, compose_flow, flow_warp, upsample_image
from vsrkit.archs.cafs import QUERIES
from vsrkit.archs.rcan import RCAGroupWithInputConv
from vsrkit.archs.spynet import SPyNet
from vsrkit.archs.tbia import INITS as TBIA_INITS, TBIA
from vsrkit.archs.vgg import VGGFeatureEncoder
from vsrkit.errors import ConfigError
from vsrkit.registry import ARCHS

BRANCHES = ("backward_1", "forward_1", "backward_2", "forward_2")
ALIGNMENTS = ("tbia", "flow", "none")


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"network_g.{key}: {message}")


@ARCHS.register()
class PTIA(nn.Module):
    """PTIA network (see module docstring).

    Args:
        mid_channels: feature channels C (64 published).
        num_blocks: RCABs per propagation trunk (30 published).
        num_recon_blocks: RCABs of the reconstruction trunk (5 published).
        scale: upscaling factor, a power of two (4 published).
        deformable_groups: DCN groups in TBIA (8 published); C must be divisible by it.
        offset_bound: None (published: unbounded DCN offsets) or a positive ``b`` for ``b * tanh(offset)``.
        cafs: apply CAFS after the DCN (published: true).
        cafs_query: ``first_token`` (published broadcast of the top-left query) or ``all_tokens``.
        cafs_heads: attention heads (8); C must be divisible by it.
        cafs_mlp_ratio: CAFS MLP width over C (4).
        alignment: ``tbia`` (published), ``flow`` (plain flow warp, ablation) or ``none`` (identity, ablation).
        alignment_init: ``published`` (random TBIA heads) or ``identity`` (TBIA starts as the plain flow warp; not
            in the published code, see :class:`~vsrkit.archs.tbia.TBIA`).
        train_spynet: compute flows with gradients so SPyNet trains (published: false, frozen under no_grad).
        spynet_pretrained: local SPyNet weights (BasicSR/mmagic layout); None = random init.
        vgg_pretrained: local VGG16 weights (torchvision or a PTIA checkpoint) for the encoder; None = from scratch.

    ``forward(lq)``: ``(n, t, 3, h, w)`` -> ``(n, t, 3, scale*h, scale*w)``.
    """

    def __init__(self, mid_channels: int = 64, num_blocks: int = 30, num_recon_blocks: int = 5, scale: int = 4,
                 deformable_groups: int = 8, offset_bound: float | None = None, cafs: bool = True,
                 cafs_query: str = "first_token", cafs_heads: int = 8, cafs_mlp_ratio: float = 4.0,
                 alignment: str = "tbia", train_spynet: bool = False, spynet_pretrained: str | None = None,
                 vgg_pretrained: str | None = None, alignment_init: str = "published"):
        super().__init__()
        _check(mid_channels > 0 and mid_channels % deformable_groups == 0 and mid_channels % cafs_heads == 0,
               "mid_channels", f"{mid_channels} must be positive and divisible by deformable_groups "
               f"({deformable_groups}) and cafs_heads ({cafs_heads}), e.g. 64")
        _check(deformable_groups > 0, "deformable_groups", f"{deformable_groups} must be positive (8 published)")
        _check(cafs_heads > 0, "cafs_heads", f"{cafs_heads} must be positive (8 published)")
        _check(num_blocks >= 0, "num_blocks", f"{num_blocks} must be >= 0 (30 published)")
        _check(num_recon_blocks >= 0, "num_recon_blocks", f"{num_recon_blocks} must be >= 0 (5 published)")
        _check(scale >= 2 and math.log2(scale).is_integer(), "scale", f"{scale} must be a power of two (4 published)")
        _check(offset_bound is None or offset_bound > 0, "offset_bound",
               f"{offset_bound} must be positive, or null for unbounded offsets (published)")
        _check(cafs_query in QUERIES, "cafs_query", f"{cafs_query!r} must be one of {', '.join(QUERIES)}")
        _check(cafs_mlp_ratio > 0, "cafs_mlp_ratio", f"{cafs_mlp_ratio} must be positive (4 published)")
        _check(alignment in ALIGNMENTS, "alignment", f"{alignment!r} must be one of {', '.join(ALIGNMENTS)}")
        _check(alignment_init in TBIA_INITS, "alignment_init",
               f"{alignment_init!r} must be one of {', '.join(TBIA_INITS)} (published: random heads)")
        self.mid_channels, self.scale, self.alignment = mid_channels, scale, alignment
        self.train_spynet = train_spynet

        self.spynet = SPyNet(pretrained=spynet_pretrained) if alignment != "none" else None
        self.encoder = VGGFeatureEncoder(mid_channels, pretrained=vgg_pretrained)
        self.align = nn.ModuleDict()
        if alignment == "tbia":
            for name in BRANCHES:
                self.align[name] = TBIA(mid_channels, deformable_groups, offset_bound, cafs, cafs_heads,
                                        cafs_mlp_ratio, cafs_query, init=alignment_init)
        self.fusion = nn.ModuleDict({name: nn.Conv2d(3 * mid_channels, mid_channels, 1) for name in BRANCHES})
        self.trunk = nn.ModuleDict({name: RCAGroupWithInputConv((2 + i) * mid_channels, mid_channels, num_blocks)
                                    for i, name in enumerate(BRANCHES)})
        self.recon = RCAGroupWithInputConv((1 + len(BRANCHES)) * mid_channels, mid_channels, num_recon_blocks)
        self.upsampler = PixelShuffleUpsampler(mid_channels, scale)
        self.conv_hr = nn.Conv2d(mid_channels, mid_channels, 3, 1, 1)
        self.conv_last = nn.Conv2d(mid_channels, 3, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.1, inplace=True)

    # ------------------------------------------------------------------ flow and features
    def compute_flows(self, lq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """SPyNet flows between neighbours, LR pixels, channel 0 = x.

        Returns ``(flows_forward, flows_backward)``, each ``(n, t-1, 2, h, w)``: ``flows_backward[:, i]`` warps frame
        ``i+1`` onto frame ``i`` (used by the backward branches), ``flows_forward[:, i]`` warps frame ``i`` onto
        ``i+1`` (forward branches).
        """
        n, t, c, h, w = lq.shape
        if t < 2:
            empty = lq.new_zeros(n, 0, 2, h, w)
            return empty, empty
        earlier = lq[:, :-1].reshape(-1, c, h, w)
        later = lq[:, 1:].reshape(-1, c, h, w)
        with torch.set_grad_enabled(self.train_spynet and torch.is_grad_enabled()):
            flows_backward = self.spynet(earlier, later).view(n, t - 1, 2, h, w)
            flows_forward = self.spynet(later, earlier).view(n, t - 1, 2, h, w)
        return flows_forward, flows_backward

    def pyramid(self, lq: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Encoder features per frame at three scales: ``[(L_i, M_i, S_i) for i in range(t)]``."""
        n, t, c, h, w = lq.shape
        feat_l = self.encoder(lq.reshape(-1, c, h, w))
        feat_m = F.interpolate(feat_l, scale_factor=0.5, mode="bilinear", align_corners=False)
        feat_s = F.interpolate(feat_l, scale_factor=0.25, mode="bilinear", align_corners=False)
        levels = [f.view(n, t, *f.shape[1:]) for f in (feat_l, feat_m, feat_s)]
        return [(levels[0][:, i], levels[1][:, i], levels[2][:, i]) for i in range(t)]

    # ------------------------------------------------------------------ propagation
    def _align(self, name: str, nbr, cur, feat: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        if self.alignment == "tbia":
            return self.align[name](nbr, cur, feat, flow)
        if self.alignment == "flow":
            return flow_warp(feat, flow)
        return feat

    def propagate(self, name: str, pyr, flows: torch.Tensor, done: dict[str, list[torch.Tensor]]) -> list[torch.Tensor]:
        """Run branch ``name`` over the clip; returns its features ``(n, C, h, w)`` per frame, in frame order.

        ``flows``: ``flows_backward`` for backward branches, ``flows_forward`` for forward ones; ``done``: the
        branches already computed (their features are concatenated into this branch's trunk input).
        """
        t = len(pyr)
        backward = name.startswith("backward")
        order = range(t - 1, -1, -1) if backward else range(t)
        step = 1 if backward else -1  # neighbour = idx + step
        feat_l = pyr[0][0]
        feat_prop = feat_l.new_zeros(feat_l.shape[0], self.mid_channels, *feat_l.shape[2:])
        out: list[torch.Tensor] = []
        for i, idx in enumerate(order):
            cur = pyr[idx]
            if i > 0:
                flow1 = flows[:, idx] if backward else flows[:, idx - 1]
                cond1 = self._align(name, pyr[idx + step], cur, feat_prop, flow1)
                cond2 = torch.zeros_like(cond1)
                if i > 1:
                    flow2 = flows[:, idx + 1] if backward else flows[:, idx - 2]
                    flow2 = compose_flow(flow1, flow2, padding_mode="zeros")
                    cond2 = self._align(name, pyr[idx + 2 * step], cur, out[-2], flow2)
                feat_prop = self.fusion[name](torch.cat([cond1, cur[0], cond2], dim=1))
            trunk_in = torch.cat([cur[0]] + [done[k][idx] for k in done] + [feat_prop], dim=1)
            feat_prop = feat_prop + self.trunk[name](trunk_in)
            out.append(feat_prop)
        return out[::-1] if backward else out

    # ------------------------------------------------------------------ reconstruction
    def reconstruct(self, lq_i: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        """One frame: ``lq_i`` (n, 3, h, w) and ``[L_i, b1_i, f1_i, b2_i, f2_i]`` -> (n, 3, scale*h, scale*w)."""
        hr = self.upsampler(self.recon(torch.cat(feats, dim=1)))
        hr = self.conv_last(self.lrelu(self.conv_hr(hr)))
        return hr + upsample_image(lq_i, self.scale, "bilinear")

    def forward(self, lq: torch.Tensor) -> torch.Tensor:
        if lq.dim() != 5 or lq.shape[2] != 3:
            raise ValueError(f"PTIA: input must be (n, t, 3, h, w), got {tuple(lq.shape)}")
        n, t, _, h, w = lq.shape
        if h % 4 or w % 4:
            raise ValueError(f"PTIA: h and w must be divisible by 4 (three-scale pyramid), got {h}x{w}; "
                             f"pad the input (the tiled inference does)")
        lq = lq.contiguous()
        if self.spynet is not None:
            flows_forward, flows_backward = self.compute_flows(lq)
        else:
            flows_forward = flows_backward = lq.new_zeros(n, max(t - 1, 0), 2, h, w)
        pyr = self.pyramid(lq)
        done: dict[str, list[torch.Tensor]] = {}
        for name in BRANCHES:
            flows = flows_backward if name.startswith("backward") else flows_forward
            done[name] = self.propagate(name, pyr, flows, done)
        outputs = [self.reconstruct(lq[:, i], [pyr[i][0]] + [done[k][i] for k in BRANCHES]) for i in range(t)]
        return torch.stack(outputs, dim=1)
