"""MSITF: one-stage space-time video SR, x4 in space and x2 in frame rate (repo ``carpenterChina/MSITF``, class
``Net``; a Zooming Slow-Mo descendant). ``reference/methods.md`` section 3.

Data flow, ``lq (n, N, 3, h, w)`` -> ``(n, 2N-1, 3, 4h, 4w)`` (published: N = 4 -> 7 frames)::

    f_t        = ResBlocks(LReLU(conv(lq_t)))  on the LReLU features zero-padded right/bottom to a multiple of 8
    pyramid    = f_t (L1), two stride-2 levels (L2, L3)
    i_t,t+1    = fusion1x1(PCD(pyr_t, pyr_t+1))                     feature interpolation, (n, C, H, W)
    sequence   = [f0, i01, f1, i12, f2, ..., f_N-1]                   (n, 2N-1, C, H, W)
    lstm       = conv1x1(cat(DConvLSTM(seq), flip(DConvLSTM(flip(seq)))))   same weights both ways
    attn       = lstm + MHSA over time, per pixel                      tokens (n*H*W, 2N-1, C)
    trunk      = SwinV2Trunk(attn), cropped back to (h, w)
    out        = conv_last(LReLU(HRconv(LReLU(PS(conv(LReLU(PS(conv(trunk)))))))))  + trilinear(lq)

PCD (EDVR pyramid, cascading, deformable): at each level the offset feature comes from ``cat(a, b)`` (L2 and L1 also
take the coarser offset feature, bilinearly upsampled and multiplied by 2); a modulated DCN (``10 * tanh`` offsets,
zero-initialised offset head, sigmoid masks) deforms a feature; the deformed L3/L2 features are merged into the finer
level with a 2C -> C conv.

Deformable ConvLSTM step: ``h~ = A_h(x_t, h)``, ``c~ = A_c(x_t, c)`` where each ``A`` is a pyramid + PCD + 1x1
fusion; gates ``i, f, o, g = conv3x3(cat(x_t, h~))``; ``c = sigmoid(f) c~ + sigmoid(i) tanh(g)``;
``h = sigmoid(o) tanh(c)``; zero initial state.

**The deformed feature** (option ``faithful``). The published ``PCD_Align`` deforms ``(fea1 + fea1) / 2``, i.e. the
first input only: the interpolated feature between frames t and t+1 is frame t's feature warped by offsets that
merely look at t+1, and in the ConvLSTM ``h`` and ``c`` only steer the offsets applied to ``x_t`` (the state itself
is never aligned). The evident intent is ``(fea1 + fea2) / 2``, the midpoint of the two inputs; vsrkit deforms that
by default. ``faithful: true`` deforms ``fea1`` as published and loads published checkpoints to the same numbers.

Other published behaviour kept in both modes (see ``docs/msitf.md``): features, not images, are padded; the trilinear
skip uses time scale N/(2N-1) (4/7), not 1/2, so a "kept" output frame is not exactly its input frame upsampled
(``skip: midpoint`` is the alternative); the Swin trunk precomputes masks for 32x32 maps only (others are computed on
the fly, same values).

Published default ``MSITF()`` (nf 64, 8 deformable groups, 5 residual blocks): 5,585,611 parameters.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vsrkit.archs.blocks import ResidualBlock, make_layer
from vsrkit.archs.swinv2 import SwinV2Trunk
from vsrkit.errors import ConfigError
from vsrkit.ops.dcn import DCNPack
from vsrkit.registry import ARCHS

PAD_MULTIPLE = 8
SKIPS = ("trilinear", "midpoint")
INTERPOLATIONS = ("pcd", "repeat")


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.1)


def _up2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class FeaturePyramid(nn.Module):
    """Two stride-2 levels below a feature map: ``(m, C, H, W)`` -> ``[L1 (H, W), L2 (H/2, W/2), L3 (H/4, W/4)]``
    (each level: LReLU(conv stride 2), LReLU(conv))."""

    def __init__(self, num_feat: int = 64):
        super().__init__()
        self.l2_conv1 = nn.Conv2d(num_feat, num_feat, 3, 2, 1)
        self.l2_conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.l3_conv1 = nn.Conv2d(num_feat, num_feat, 3, 2, 1)
        self.l3_conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)

    def forward(self, l1: torch.Tensor) -> list[torch.Tensor]:
        l2 = _lrelu(self.l2_conv2(_lrelu(self.l2_conv1(l1))))
        l3 = _lrelu(self.l3_conv2(_lrelu(self.l3_conv1(l2))))
        return [l1, l2, l3]


class PCDInterp(nn.Module):
    """Pyramid, cascading and deformable feature interpolation between two pyramids.

    ``forward(a, b)``: pyramids ``[L1 (m, C, H, W), L2, L3]`` -> ``(m, C, H, W)``. Offsets are predicted from
    ``cat(a, b)``; the deformed feature is ``(a + b) / 2`` (default) or ``a`` (``faithful=True``, published).
    Activations as published: L3 DCN -> LReLU; L2 DCN none, L2 merge conv LReLU; L1 DCN none, L1 merge conv none.
    """

    def __init__(self, num_feat: int = 64, deformable_groups: int = 8, max_offset: float = 10.0,
                 faithful: bool = False):
        super().__init__()
        self.faithful = faithful
        c = num_feat

        def dcn() -> DCNPack:
            return DCNPack(c, c, 3, deformable_groups=deformable_groups, cond_channels=c, head_layers=0,
                           max_magnitude=max_offset, zero_init_offset=True)

        self.l3_offset_conv1 = nn.Conv2d(2 * c, c, 3, 1, 1)
        self.l3_offset_conv2 = nn.Conv2d(c, c, 3, 1, 1)
        self.l3_dcn = dcn()
        self.l2_offset_conv1 = nn.Conv2d(2 * c, c, 3, 1, 1)
        self.l2_offset_conv2 = nn.Conv2d(2 * c, c, 3, 1, 1)
        self.l2_offset_conv3 = nn.Conv2d(c, c, 3, 1, 1)
        self.l2_dcn = dcn()
        self.l2_fea_conv = nn.Conv2d(2 * c, c, 3, 1, 1)
        self.l1_offset_conv1 = nn.Conv2d(2 * c, c, 3, 1, 1)
        self.l1_offset_conv2 = nn.Conv2d(2 * c, c, 3, 1, 1)
        self.l1_offset_conv3 = nn.Conv2d(c, c, 3, 1, 1)
        self.l1_dcn = dcn()
        self.l1_fea_conv = nn.Conv2d(2 * c, c, 3, 1, 1)

    def _source(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a if self.faithful else (a + b) / 2

    def forward(self, a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
        # L3
        off3 = _lrelu(self.l3_offset_conv1(torch.cat([a[2], b[2]], dim=1)))
        off3 = _lrelu(self.l3_offset_conv2(off3))
        fea3 = _lrelu(self.l3_dcn(self._source(a[2], b[2]), off3))
        # L2
        off2 = _lrelu(self.l2_offset_conv1(torch.cat([a[1], b[1]], dim=1)))
        off2 = _lrelu(self.l2_offset_conv2(torch.cat([off2, _up2(off3) * 2], dim=1)))
        off2 = _lrelu(self.l2_offset_conv3(off2))
        fea2 = self.l2_dcn(self._source(a[1], b[1]), off2)
        fea2 = _lrelu(self.l2_fea_conv(torch.cat([fea2, _up2(fea3)], dim=1)))
        # L1
        off1 = _lrelu(self.l1_offset_conv1(torch.cat([a[0], b[0]], dim=1)))
        off1 = _lrelu(self.l1_offset_conv2(torch.cat([off1, _up2(off2) * 2], dim=1)))
        off1 = _lrelu(self.l1_offset_conv3(off1))
        fea1 = self.l1_dcn(self._source(a[0], b[0]), off1)
        return self.l1_fea_conv(torch.cat([fea1, _up2(fea2)], dim=1))


class PyramidAlign(nn.Module):
    """Zooming Slow-Mo's "easy PCD" of the ConvLSTM: own pyramid of both inputs, :class:`PCDInterp`, 1x1 fusion.

    ``forward(x, s)``: ``(m, C, H, W)`` each (H, W multiples of 4) -> ``(m, C, H, W)``; offsets from ``cat(x, s)``.
    """

    def __init__(self, num_feat: int = 64, deformable_groups: int = 8, max_offset: float = 10.0,
                 faithful: bool = False):
        super().__init__()
        self.pyramid = FeaturePyramid(num_feat)
        self.align = PCDInterp(num_feat, deformable_groups, max_offset, faithful)
        self.fusion = nn.Conv2d(num_feat, num_feat, 1)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        m = x.shape[0]
        levels = self.pyramid(torch.cat([x, s], dim=0))  # both pyramids in one pass
        return self.fusion(self.align([f[:m] for f in levels], [f[m:] for f in levels]))


class DeformableConvLSTM(nn.Module):
    """One-layer ConvLSTM whose state is aligned to each input by :class:`PyramidAlign` (hidden = C, 3x3 gates).

    ``forward(x)``: ``(n, T, C, H, W)`` -> hidden states ``(n, T, C, H, W)``; zero initial state.
    """

    def __init__(self, num_feat: int = 64, deformable_groups: int = 8, max_offset: float = 10.0,
                 faithful: bool = False):
        super().__init__()
        self.num_feat = num_feat
        self.align_h = PyramidAlign(num_feat, deformable_groups, max_offset, faithful)
        self.align_c = PyramidAlign(num_feat, deformable_groups, max_offset, faithful)
        self.gates = nn.Conv2d(2 * num_feat, 4 * num_feat, 3, 1, 1)  # -> i, f, o, g

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c, h, w = x.shape
        hidden = x.new_zeros(n, c, h, w)
        cell = x.new_zeros(n, c, h, w)
        outs = []
        for i in range(t):
            x_t = x[:, i]
            h_al = self.align_h(x_t, hidden)
            c_al = self.align_c(x_t, cell)
            gi, gf, go, gg = torch.split(self.gates(torch.cat([x_t, h_al], dim=1)), c, dim=1)
            cell = torch.sigmoid(gf) * c_al + torch.sigmoid(gi) * torch.tanh(gg)
            hidden = torch.sigmoid(go) * torch.tanh(cell)
            outs.append(hidden)
        return torch.stack(outs, dim=1)


class BiDeformableConvLSTM(nn.Module):
    """The same :class:`DeformableConvLSTM` forwards and on the time-reversed sequence; both outputs (the reversed
    one flipped back) concatenated and reduced 2C -> C by a 1x1 conv. ``(n, T, C, H, W)`` -> same."""

    def __init__(self, num_feat: int = 64, deformable_groups: int = 8, max_offset: float = 10.0,
                 faithful: bool = False):
        super().__init__()
        self.lstm = DeformableConvLSTM(num_feat, deformable_groups, max_offset, faithful)
        self.fuse = nn.Conv2d(2 * num_feat, num_feat, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c, h, w = x.shape
        both = self.lstm(torch.cat([x, x.flip(1)], dim=0))  # both directions in one batch
        fwd, bwd = both[:n], both[n:].flip(1)
        out = self.fuse(torch.cat([fwd, bwd], dim=2).view(n * t, 2 * c, h, w))
        return out.view(n, t, c, h, w)


class TemporalSelfAttention(nn.Module):
    """Multi-head self-attention across time at every pixel, with a residual: ``x + proj(MHSA(x))``.

    ``(n, T, C, H, W)`` -> same; tokens are ``(n*H*W, T, C)``, scale ``(C / heads) ** -0.5``, qkv with bias.
    """

    def __init__(self, num_feat: int = 64, num_heads: int = 8):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(num_feat, 3 * num_feat)
        self.proj = nn.Linear(num_feat, num_feat)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c, h, w = x.shape
        tokens = x.permute(0, 3, 4, 1, 2).reshape(n * h * w, t, c)
        qkv = self.qkv(tokens).reshape(-1, t, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (m, heads, T, c/heads)
        attn = (q @ k.transpose(-2, -1)) * (c // self.num_heads) ** -0.5
        y = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(-1, t, c)
        y = self.proj(y).view(n, h, w, t, c).permute(0, 3, 4, 1, 2)
        return x + y


def space_time_skip(lq: torch.Tensor, mode: str = "trilinear") -> torch.Tensor:
    """Image skip ``(n, N, c, h, w)`` -> ``(n, 2N-1, c, 4h, 4w)``.

    ``trilinear`` (published): one trilinear resize to ``(2N-1, 4h, 4w)`` with ``align_corners=False``; its time
    axis has scale N/(2N-1), so output frame ``2k`` is not exactly input ``k`` (e.g. frame 2 = 0.071 f0 + 0.929 f1).
    ``midpoint``: bilinear x4 per frame; even outputs are the inputs, odd ones the mean of their two neighbours.
    """
    n, t, c, h, w = lq.shape
    if mode == "trilinear":
        out = F.interpolate(lq.transpose(1, 2), size=(2 * t - 1, 4 * h, 4 * w), mode="trilinear",
                            align_corners=False)
        return out.transpose(1, 2)
    up = F.interpolate(lq.reshape(n * t, c, h, w), scale_factor=4, mode="bilinear", align_corners=False)
    up = up.view(n, t, c, 4 * h, 4 * w)
    out = up.new_empty(n, 2 * t - 1, c, 4 * h, 4 * w)
    out[:, 0::2] = up
    out[:, 1::2] = (up[:, :-1] + up[:, 1:]) / 2
    return out


@ARCHS.register()
class MSITF(nn.Module):
    """MSITF space-time SR: ``forward(lq)`` with lq ``(n, N, 3, h, w)`` RGB in [0, 1], N >= 2 (published 4), any
    h, w -> ``(n, 2N-1, 3, 4h, 4w)`` (unclamped); output ``2k`` is input frame ``k``'s time, odd outputs lie midway.

    Args:
        num_feat: feature channels C everywhere (published 64).
        deformable_groups: DCN groups (published 8); must divide num_feat.
        num_extract_blocks: no-BN residual blocks after the first conv (published 5).
        attn_heads: heads of the temporal self-attention (published 8); must divide num_feat.
        swin_depths: blocks per Swin residual group (published six groups of 2).
        swin_heads: heads of the Swin window attention (published 4); must divide num_feat.
        window_size: Swin window (published 8); features are padded to a multiple of ``lcm(8, window_size)``.
        mlp_ratio: Swin MLP width / C (published 2).
        drop_path_rate: Swin stochastic depth, 0 -> this over the blocks (published 0.1; training only).
        max_offset: DCN offset bound ``max_offset * tanh`` in pixels of each pyramid level (published 10).
        feature_interp: ``pcd`` (published) or ``repeat`` (ablation: the missing frames' features are copies of
            the preceding frame's; no PCD module is built).
        skip: ``trilinear`` (published image skip) or ``midpoint`` (see :func:`space_time_skip`).
        faithful: deform the first PCD input as published (``(fea1 + fea1) / 2``) instead of the midpoint of both
            inputs; requires the published ``feature_interp`` and ``skip``.
    """

    def __init__(self, num_feat: int = 64, deformable_groups: int = 8, num_extract_blocks: int = 5,
                 attn_heads: int = 8, swin_depths: Sequence[int] = (2, 2, 2, 2, 2, 2), swin_heads: int = 4,
                 window_size: int = 8, mlp_ratio: float = 2.0, drop_path_rate: float = 0.1,
                 max_offset: float = 10.0, feature_interp: str = "pcd", skip: str = "trilinear",
                 faithful: bool = False):
        super().__init__()
        _check_options(num_feat, deformable_groups, num_extract_blocks, attn_heads, swin_depths, swin_heads,
                       window_size, mlp_ratio, drop_path_rate, max_offset, feature_interp, skip, faithful)
        c = num_feat
        self.faithful, self.feature_interp, self.skip = faithful, feature_interp, skip
        self.pad_multiple = math.lcm(PAD_MULTIPLE, window_size)
        # per-frame features and pyramid
        self.conv_first = nn.Conv2d(3, c, 3, 1, 1)
        self.feat_blocks = make_layer(ResidualBlock, num_extract_blocks, num_feat=c, init_scale=0.1)
        self.pyramid = FeaturePyramid(c)
        # feature interpolation
        if feature_interp == "pcd":
            self.interp = PCDInterp(c, deformable_groups, max_offset, faithful)
            self.interp_fusion = nn.Conv2d(c, c, 1)
        # temporal modelling
        self.lstm = BiDeformableConvLSTM(c, deformable_groups, max_offset, faithful)
        self.temporal_attn = TemporalSelfAttention(c, attn_heads)
        # reconstruction and x4 upsampling
        self.trunk = SwinV2Trunk(c, tuple(swin_depths), swin_heads, window_size, mlp_ratio, drop_path_rate)
        self.upconv1 = nn.Conv2d(c, 4 * c, 3, 1, 1)
        self.upconv2 = nn.Conv2d(c, 64 * 4, 3, 1, 1)
        self.hr_conv = nn.Conv2d(64, 64, 3, 1, 1)
        self.conv_last = nn.Conv2d(64, 3, 3, 1, 1)

    def interpolate_features(self, feats: torch.Tensor) -> torch.Tensor:
        """``(n, N, C, H, W)`` frame features -> ``(n, 2N-1, C, H, W)`` = ``[f0, i01, f1, ..., f_N-1]``."""
        n, t, c, h, w = feats.shape
        if self.feature_interp == "repeat":
            mids = feats[:, :-1]
        else:
            levels = [lvl.view(n, t, *lvl.shape[1:]) for lvl in self.pyramid(feats.view(n * t, c, h, w))]
            a = [lvl[:, :-1].reshape(-1, *lvl.shape[2:]) for lvl in levels]  # frames 0..N-2, all pairs at once
            b = [lvl[:, 1:].reshape(-1, *lvl.shape[2:]) for lvl in levels]  # frames 1..N-1
            mids = self.interp_fusion(self.interp(a, b)).view(n, t - 1, c, h, w)
        seq = feats.new_empty(n, 2 * t - 1, c, h, w)
        seq[:, 0::2] = feats
        seq[:, 1::2] = mids
        return seq

    def forward(self, lq: torch.Tensor) -> torch.Tensor:
        if lq.dim() != 5 or lq.shape[2] != 3 or lq.shape[1] < 2:
            raise ValueError(f"MSITF: lq must be (n, N >= 2, 3, h, w), got {tuple(lq.shape)}")
        n, t, _, h, w = lq.shape
        feats = _lrelu(self.conv_first(lq.reshape(n * t, 3, h, w)))
        ph, pw = -h % self.pad_multiple, -w % self.pad_multiple
        feats = F.pad(feats, (0, pw, 0, ph))  # zero-pad features right/bottom (published)
        feats = self.feat_blocks(feats)
        hp, wp = feats.shape[-2:]
        seq = self.interpolate_features(feats.view(n, t, -1, hp, wp))
        seq = self.temporal_attn(self.lstm(seq))
        tt = seq.shape[1]
        out = self.trunk(seq.reshape(n * tt, -1, hp, wp))[..., :h, :w]
        out = _lrelu(F.pixel_shuffle(self.upconv1(out), 2))
        out = _lrelu(F.pixel_shuffle(self.upconv2(out), 2))
        out = self.conv_last(_lrelu(self.hr_conv(out)))
        return out.view(n, tt, 3, 4 * h, 4 * w) + space_time_skip(lq, self.skip)


def _check_options(num_feat, deformable_groups, num_extract_blocks, attn_heads, swin_depths, swin_heads,
                   window_size, mlp_ratio, drop_path_rate, max_offset, feature_interp, skip, faithful) -> None:
    def bad(key: str, why: str) -> ConfigError:
        return ConfigError(f"network_g.{key}: {why}")

    for key, value in (("num_feat", num_feat), ("deformable_groups", deformable_groups),
                       ("num_extract_blocks", num_extract_blocks), ("attn_heads", attn_heads),
                       ("swin_heads", swin_heads), ("window_size", window_size)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad(key, f"must be an integer, got {value!r}")
    for key, value in (("mlp_ratio", mlp_ratio), ("drop_path_rate", drop_path_rate), ("max_offset", max_offset)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(key, f"must be a number, got {value!r}")
    if not isinstance(faithful, bool):
        raise bad("faithful", f"must be true or false, got {faithful!r}")
    if (not isinstance(swin_depths, (list, tuple)) or not swin_depths
            or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in swin_depths)):
        raise bad("swin_depths", f"must be a non-empty list of positive block counts (published [2, 2, 2, 2, 2, 2]), "
                                 f"got {swin_depths!r}")
    if num_feat < 1:
        raise bad("num_feat", f"must be positive, got {num_feat}")
    for key, value in (("deformable_groups", deformable_groups), ("attn_heads", attn_heads),
                       ("swin_heads", swin_heads)):
        if value < 1 or num_feat % value:
            raise bad(key, f"{value} does not divide num_feat={num_feat}; use a divisor (published 8, 8, 4)")
    if num_extract_blocks < 0:
        raise bad("num_extract_blocks", f"must be >= 0, got {num_extract_blocks}")
    if window_size < 2 or window_size % 2:
        raise bad("window_size", f"must be an even number >= 2 (shift = window_size / 2), got {window_size}")
    if mlp_ratio <= 0:
        raise bad("mlp_ratio", f"must be positive, got {mlp_ratio}")
    if not 0 <= drop_path_rate < 1:
        raise bad("drop_path_rate", f"must be in [0, 1), got {drop_path_rate}")
    if max_offset <= 0:
        raise bad("max_offset", f"must be positive, got {max_offset}")
    if feature_interp not in INTERPOLATIONS:
        raise bad("feature_interp", f"unknown value {feature_interp!r}; use one of {', '.join(INTERPOLATIONS)}")
    if skip not in SKIPS:
        raise bad("skip", f"unknown value {skip!r}; use one of {', '.join(SKIPS)}")
    if faithful:
        for key, value, want in (("feature_interp", feature_interp, "pcd"), ("skip", skip, "trilinear")):
            if value != want:
                raise bad(key, f"{value!r} does not exist in the published network that faithful: true "
                               f"reproduces; set {key}: {want} or faithful: false")
