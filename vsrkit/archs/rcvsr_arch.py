"""RCVSR: multi-reference cross-scale compressed VSR, x2, Y only (repo ``lowlow-chen/RCVSR``, STDF-based).

Data flow (``reference/methods.md`` section 4), LR frames ``x (n, T, h, w)`` (T = 7, the Y planes of t-3..t+3 as
channels), key-frame references ``ref_i (n, 1, 2h, 2w)`` (past ``floor(t/4)*4`` and next ``+4``), ``C = num_feat``::

    neighbour = STDF(x)                                      U-Net offsets, DCN 5x5, T groups    (n, C, h, w)
    up        = bicubic x2 of the centre frame (align_corners=True)                         (n, 1, 2h, 2w)
    ext_i     = FEnet_i(cat[ref_i, up])                      U-Net at HR                       (n, C, 2h, 2w)
    ali_i     = AligNet_i(offsets from ext_i, deforming up)  DCNs k = 1/3/5, SK fusion         (n, C, 2h, 2w)
    feat      = Upsampler(neighbour)                         PixelShuffle | residual x2, 2 DBRB, SK fusion
    feat      = RRM(query feat, key/value SK(cat[ext_0, ext_1, ali_0, ali_1]))   U-shaped cross transformer
    res       = AGE(feat, cat[ali_0, ali_1], cat[ext_0, ext_1])                   DBRB chains, SK, 1x1 -> 1
    out       = up + res                                                                       (n, 1, 2h, 2w)

The defaults reproduce the published network (``lowlow-chen/RCVSR`` ``net_rcvsr.SR``, parity-tested against the
fixture); its quirks (AligNet deforms the upsampled LR frame, not the reference; key == value in the attention;
one channel per head in four of six attention blocks, ...) are listed in ``docs/rcvsr.md``. The options that deviate
from it are off by default: ``ref_align_source='reference'``, ``head_channels > 0``, ``image_align_corners=False``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vsrkit.archs.rcvsr_blocks import DualBranchResidualBlock, ResidualUpsample, dcn_init_
from vsrkit.archs.restormer_blocks import CrossTransformerBlock
from vsrkit.archs.skff import SelectiveKernelFusion
from vsrkit.errors import ConfigError
from vsrkit.ops.dcn import DCNPack
from vsrkit.registry import ARCHS

REF_ALIGN_SOURCES = ("upsampled_lr", "reference")
NUM_REFS = 2


def _conv_relu(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1), nn.ReLU(inplace=True)]


def _up_relu(channels: int) -> list[nn.Module]:
    return [nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1), nn.ReLU(inplace=True)]


class OffsetUNet(nn.Module):
    """STDF's U-shaped feature net (also RCVSR's FEnet): ``levels - 1`` stride-2 stages, a bottom stage that goes
    down and back up, and decoder stages that concatenate the skip, all 3x3 convs + ReLU.

    ``head``: conv in -> C; ``down[i]``: conv stride 2, conv; ``bottom``: conv stride 2, conv, 4x4 transposed conv
    stride 2; ``up[i]``: conv 2C -> C on ``cat[out, skip]``, 4x4 transposed conv stride 2; ``tail``: conv.
    Shapes: ``(n, in_channels, h, w)`` with h, w divisible by ``2**levels`` -> ``(n, C, h, w)``.
    """

    def __init__(self, in_channels: int, num_feat: int, levels: int = 3):
        super().__init__()
        self.head = nn.Sequential(*_conv_relu(in_channels, num_feat))
        self.down = nn.ModuleList(nn.Sequential(*_conv_relu(num_feat, num_feat, 2), *_conv_relu(num_feat, num_feat))
                                  for _ in range(levels - 1))
        self.up = nn.ModuleList(nn.Sequential(*_conv_relu(2 * num_feat, num_feat), *_up_relu(num_feat))
                                for _ in range(levels - 1))
        self.bottom = nn.Sequential(*_conv_relu(num_feat, num_feat, 2), *_conv_relu(num_feat, num_feat),
                                    *_up_relu(num_feat))
        self.tail = nn.Sequential(*_conv_relu(num_feat, num_feat))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.head(x)]
        for stage in self.down:
            skips.append(stage(skips[-1]))
        out = self.bottom(skips[-1])
        for i in range(len(self.up) - 1, -1, -1):
            out = self.up[i](torch.cat([out, skips[i + 1]], dim=1))
        return self.tail(out)


class NeighbourAlignment(nn.Module):
    """STDF: offsets and masks for all T frames from one U-Net, then one modulated DCN (T deformable groups, one
    per frame) over the raw frames, ReLU.

    Shapes: ``(n, T, h, w)`` (h, w divisible by ``2**levels``) -> ``(n, C, h, w)``.
    """

    def __init__(self, num_frames: int, num_feat: int, levels: int = 3, deform_ks: int = 5):
        super().__init__()
        self.unet = OffsetUNet(num_frames, num_feat, levels)
        self.dcn = dcn_init_(DCNPack(num_frames, num_feat, deform_ks, deformable_groups=num_frames,
                                     cond_channels=num_feat, head_layers=0, zero_init_offset=False))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return F.relu(self.dcn(frames, self.unet(frames)))


class ReferenceAlignment(nn.Module):
    """AligNet: three modulated DCNs (kernels 1, 3, ``deform_ks``; one deformable group) on a one-channel image,
    offsets and masks predicted by a 3x3 conv from the FEnet features, each followed by ReLU, fused by SK fusion.

    Shapes: ``cond (n, C, H, W)``, ``image (n, 1, H, W)`` -> ``(n, C, H, W)``.
    """

    def __init__(self, num_feat: int, deform_ks: int = 5):
        super().__init__()
        self.branches = nn.ModuleList(
            dcn_init_(DCNPack(1, num_feat, k, deformable_groups=1, cond_channels=num_feat, head_layers=0,
                              zero_init_offset=False)) for k in (1, 3, deform_ks))
        self.fuse = SelectiveKernelFusion(num_feat, len(self.branches))

    def forward(self, cond: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([F.relu(b(image, cond)) for b in self.branches], dim=1))


class TwoBranchUpsampler(nn.Module):
    """x2 feature upsampler: ``shuffle_branch`` (1x1 conv C -> 4C, PReLU, PixelShuffle(2)) and ``residual_branch``
    (3x3 conv C -> 2C, PReLU, :class:`ResidualUpsample` -> C), refined by DBRBs that exchange the two streams, then
    fused by SK fusion.

    Shapes: ``(n, C, h, w)`` -> ``(n, C, 2h, 2w)`` (2h, 2w >= 15 for the DSTA inside).
    """

    def __init__(self, num_feat: int, num_blocks: int = 2, align_corners: bool = True):
        super().__init__()
        self.shuffle_branch = nn.Sequential(nn.Conv2d(num_feat, 4 * num_feat, 1), nn.PReLU(), nn.PixelShuffle(2))
        self.residual_branch = nn.Sequential(nn.Conv2d(num_feat, 2 * num_feat, 3, 1, 1), nn.PReLU(),
                                             ResidualUpsample(2 * num_feat, align_corners))
        self.blocks = nn.ModuleList(DualBranchResidualBlock(num_feat) for _ in range(num_blocks))
        self.fuse = SelectiveKernelFusion(num_feat, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.shuffle_branch(x), self.residual_branch(x)
        for block in self.blocks:
            a, b = block(a, b)
        return self.fuse(torch.cat([a, b], dim=1))


class CrossTransformerUNet(nn.Module):
    """RRM: a 3-level U-shaped cross transformer. Query stream = upsampler output; key/value stream = SK fusion of
    the four reference feature maps. Both streams share the resampling convs (3x3 stride 2 + PReLU down,
    3x3 + PReLU at the bottom with a residual, 4x4 transposed stride 2 + ReLU up, skip additions); only the query
    stream passes the transformer blocks.

    Channel widths C, 2C, 4C. Heads per block (published): enc1 C, enc2 2C, enc3 4C, mid 2C, dec2 C, dec1 C, i.e.
    one channel per head except mid and dec2 (two). ``head_channels > 0`` uses ``width / head_channels`` heads in
    every block instead.

    Shapes: ``x (n, C, H, W)``, ``refs (n, 4C, H, W)`` (H, W divisible by 4) -> ``(n, C, H, W)``.
    """

    def __init__(self, num_feat: int, num_refs: int = 2 * NUM_REFS, head_channels: int = 0):
        super().__init__()
        c = num_feat

        def block(dim: int, published_heads: int) -> CrossTransformerBlock:
            return CrossTransformerBlock(dim, dim // head_channels if head_channels else published_heads)

        self.fuse = SelectiveKernelFusion(c, num_refs)
        self.enc1 = block(c, c)
        self.down1 = nn.Sequential(nn.Conv2d(c, 2 * c, 3, 2, 1), nn.PReLU())
        self.enc2 = block(2 * c, 2 * c)
        self.down2 = nn.Sequential(nn.Conv2d(2 * c, 4 * c, 3, 2, 1), nn.PReLU())
        self.enc3 = block(4 * c, 4 * c)
        self.mid_conv = nn.Sequential(nn.Conv2d(4 * c, 4 * c, 3, 1, 1), nn.PReLU())
        self.mid = block(4 * c, 2 * c)
        self.up1 = nn.Sequential(nn.ConvTranspose2d(4 * c, 2 * c, 4, stride=2, padding=1), nn.ReLU(inplace=True))
        self.dec2 = block(2 * c, c)
        self.up2 = nn.Sequential(nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1), nn.ReLU(inplace=True))
        self.dec1 = block(c, c)

    def forward(self, x: torch.Tensor, refs: torch.Tensor) -> torch.Tensor:
        y1 = self.fuse(refs)
        e1 = self.enc1(x, y1)
        y2 = self.down1(y1)
        e2 = self.enc2(self.down1(e1), y2)
        y3 = self.down2(y2)
        e3 = self.enc3(self.down2(e2), y3)
        ym = self.mid_conv(y3) + y3
        m = self.mid(self.mid_conv(e3) + e3, ym)
        yu2 = self.up1(ym) + y2
        d2 = self.dec2(self.up1(m) + e2, yu2)
        yu1 = self.up2(yu2) + y1
        return self.dec1(self.up2(d2) + e1, yu1)


class AttentionGuidedEnhancement(nn.Module):
    """AGE: SK fusion of the two AligNet outputs (``align_fuse``) and of the two FEnet outputs (``extract_fuse``);
    two chains of DBRBs pairing a copy of the RRM output with each; a DBRB at 2C on the concatenated streams;
    SK fusion of its four C-channel groups; 1x1 conv to one channel (the residual).

    Shapes: ``x (n, C, H, W)``, ``aligned (n, 2C, H, W)``, ``extracted (n, 2C, H, W)`` -> ``(n, 1, H, W)``.
    """

    def __init__(self, num_feat: int, num_blocks: int = 2):
        super().__init__()
        self.align_fuse = SelectiveKernelFusion(num_feat, NUM_REFS)
        self.extract_fuse = SelectiveKernelFusion(num_feat, NUM_REFS)
        self.chain_align = nn.ModuleList(DualBranchResidualBlock(num_feat) for _ in range(num_blocks))
        self.chain_extract = nn.ModuleList(DualBranchResidualBlock(num_feat) for _ in range(num_blocks))
        self.merge = DualBranchResidualBlock(2 * num_feat)
        self.fuse = SelectiveKernelFusion(num_feat, 4)
        self.conv_out = nn.Conv2d(num_feat, 1, 1)

    def forward(self, x: torch.Tensor, aligned: torch.Tensor, extracted: torch.Tensor) -> torch.Tensor:
        ya, ye = self.align_fuse(aligned), self.extract_fuse(extracted)
        xa = xe = x
        for block_a, block_e in zip(self.chain_align, self.chain_extract):
            xa, ya = block_a(xa, ya)
            xe, ye = block_e(xe, ye)
        ox, oy = self.merge(torch.cat([xa, xe], dim=1), torch.cat([ya, ye], dim=1))
        return self.conv_out(self.fuse(torch.cat([ox, oy], dim=1)))


@ARCHS.register()
class RCVSR(nn.Module):
    """RCVSR (IEEE TBC 70(3)), x2 on the Y plane, 7 LR frames + 2 full-resolution key frames -> 1 HR frame.

    Args:
        num_feat: width C of every part (48 published; the fixture's reduced config uses 16).
        num_frames: LR window T = 2 * radius + 1 (7 published); the centre frame is the one super-resolved.
        stdf_levels: U-Net levels of the neighbourhood alignment (STDF ``nb``, 3).
        stdf_deform_ks: kernel of the STDF DCN (5).
        ref_deform_ks: largest AligNet DCN kernel (5; the others are 1 and 3).
        upsampler_blocks: DBRBs in the upsampler (2).
        age_blocks: DBRBs per AGE chain (``attention.nb``, 2).
        scale: upscaling factor; RCVSR is x2 only (the residual upsample and the FEnet inputs are fixed to x2).
        ref_align_source: what AligNet deforms: ``upsampled_lr`` (published: the bicubic-upsampled centre frame,
            the reference only steers the offsets through FEnet) or ``reference`` (the key frame itself).
        head_channels: channels per attention head in the RRM; 0 = the published head counts (mostly one channel
            per head, where the attention reduces to ``proj_out(v)``).
        image_align_corners: ``align_corners`` of the bicubic x2 of the centre frame (image skip and FEnet/AligNet
            input) and of the residual upsample (True published; False = the pixel-centre convention of the usual
            bicubic downsampling).
        ablate_refs: no key frames: both references are replaced by the upsampled LR centre frame (the "no
            reference" ablation on the same architecture); ``ref`` may then be None.

    ``forward(lq, ref)``: see :meth:`forward`. Default config: 5,689,347 parameters, as published.
    """

    def __init__(self, num_feat: int = 48, num_frames: int = 7, stdf_levels: int = 3, stdf_deform_ks: int = 5,
                 ref_deform_ks: int = 5, upsampler_blocks: int = 2, age_blocks: int = 2, scale: int = 2,
                 ref_align_source: str = "upsampled_lr", head_channels: int = 0, image_align_corners: bool = True,
                 ablate_refs: bool = False):
        super().__init__()
        _check_config(num_feat, num_frames, stdf_levels, stdf_deform_ks, ref_deform_ks, upsampler_blocks,
                      age_blocks, scale, ref_align_source, head_channels)
        self.num_feat, self.num_frames, self.scale = num_feat, num_frames, scale
        self.ref_align_source = ref_align_source
        self.image_align_corners = image_align_corners
        self.ablate_refs = ablate_refs
        #: LR height and width are padded to a multiple of this (STDF U-Net at LR, FEnet / RRM at HR)
        self.size_multiple = max(2 ** stdf_levels, 4)

        self.neighbour_align = NeighbourAlignment(num_frames, num_feat, stdf_levels, stdf_deform_ks)
        self.ref_extract = nn.ModuleList(OffsetUNet(2, num_feat, 3) for _ in range(NUM_REFS))
        self.ref_align = nn.ModuleList(ReferenceAlignment(num_feat, ref_deform_ks) for _ in range(NUM_REFS))
        self.upsampler = TwoBranchUpsampler(num_feat, upsampler_blocks, image_align_corners)
        self.rrm = CrossTransformerUNet(num_feat, 2 * NUM_REFS, head_channels)
        self.age = AttentionGuidedEnhancement(num_feat, age_blocks)

    def forward(self, lq: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        """Super-resolve the centre frame.

        Args:
            lq: ``(n, T, 1, h, w)`` LR Y frames t-3..t+3 (T = ``num_frames``), Y/255 in [0, 1]; key-frame slots hold
                the bicubic-downscaled decoded key frames (the data pipeline's job).
            ref: ``(n, 2, 1, 2h, 2w)`` (or ``(n, 2, 2h, 2w)``) full-resolution decoded key frames, past
                ``floor(t/4)*4`` then next ``+4`` (clipped at the sequence end), Y/255. Ignored, and may be None,
                with ``ablate_refs``.
        Returns:
            ``(n, 1, 1, 2h, 2w)``: bicubic x2 of the centre frame + the predicted residual, not clamped.

        Any ``h, w >= 8`` works: sizes that are not multiples of :attr:`size_multiple` are padded (replicate) and
        the output cropped; at multiples (the published setting) nothing is padded.
        """
        if lq.dim() != 5 or lq.shape[1] != self.num_frames or lq.shape[2] != 1:
            raise ValueError(f"RCVSR: lq must be (n, {self.num_frames}, 1, h, w) LR Y frames, got {tuple(lq.shape)}")
        n, _, _, h, w = lq.shape
        if h < 8 or w < 8:
            raise ValueError(f"RCVSR: LR frames of {h}x{w} are too small (at least 8x8)")
        frames = lq[:, :, 0]
        if self.ablate_refs:
            ref = None
        else:
            if ref is None:
                raise ValueError("RCVSR: ref (n, 2, 1, 2h, 2w) key frames are required (or set ablate_refs)")
            if ref.dim() == 5 and ref.shape[2] == 1:
                ref = ref[:, :, 0]
            if ref.dim() != 4 or tuple(ref.shape) != (n, NUM_REFS, self.scale * h, self.scale * w):
                raise ValueError(f"RCVSR: ref must be ({n}, {NUM_REFS}, 1, {self.scale * h}, {self.scale * w}) "
                                 f"full-resolution key frames, got {tuple(ref.shape)}")
        ph, pw = (-h) % self.size_multiple, (-w) % self.size_multiple
        if ph or pw:
            frames = F.pad(frames, (0, pw, 0, ph), mode="replicate")
            if ref is not None:
                ref = F.pad(ref, (0, self.scale * pw, 0, self.scale * ph), mode="replicate")
        out = self._sr(frames, ref)
        return out[..., :self.scale * h, :self.scale * w].unsqueeze(1)

    def _sr(self, frames: torch.Tensor, ref: torch.Tensor | None) -> torch.Tensor:
        """``frames (n, T, h, w)``, ``ref (n, 2, 2h, 2w)`` or None -> ``(n, 1, 2h, 2w)``."""
        centre = frames[:, self.num_frames // 2:self.num_frames // 2 + 1]
        neighbour = self.neighbour_align(frames)                                          # (n, C, h, w)
        up = F.interpolate(centre, scale_factor=self.scale, mode="bicubic", align_corners=self.image_align_corners)
        extracted, aligned = [], []
        for i in range(NUM_REFS):
            ref_i = up if ref is None else ref[:, i:i + 1]
            ext = self.ref_extract[i](torch.cat([ref_i, up], dim=1))                      # (n, C, 2h, 2w)
            extracted.append(ext)
            aligned.append(self.ref_align[i](ext, up if self.ref_align_source == "upsampled_lr" else ref_i))
        extracted, aligned = torch.cat(extracted, dim=1), torch.cat(aligned, dim=1)
        feat = self.upsampler(neighbour)                                                  # (n, C, 2h, 2w)
        feat = self.rrm(feat, torch.cat([extracted, aligned], dim=1))
        return up + self.age(feat, aligned, extracted)


def _check_config(num_feat, num_frames, stdf_levels, stdf_deform_ks, ref_deform_ks, upsampler_blocks, age_blocks,
                  scale, ref_align_source, head_channels) -> None:
    if scale != 2:
        raise ConfigError(f"network_g.scale: RCVSR is x2 only, got {scale}; set scale: 2")
    if num_feat < 4:
        raise ConfigError(f"network_g.num_feat: {num_feat} is too small; use at least 4 (48 published)")
    if num_frames < 1 or num_frames % 2 == 0:
        raise ConfigError(f"network_g.num_frames: {num_frames} must be odd (centre frame +- radius; 7 published)")
    if stdf_levels < 1:
        raise ConfigError(f"network_g.stdf_levels: {stdf_levels} must be >= 1 (3 published)")
    for key, value in (("stdf_deform_ks", stdf_deform_ks), ("ref_deform_ks", ref_deform_ks)):
        if value < 1 or value % 2 == 0:
            raise ConfigError(f"network_g.{key}: {value} must be an odd kernel size (5 published)")
    for key, value in (("upsampler_blocks", upsampler_blocks), ("age_blocks", age_blocks)):
        if value < 0:
            raise ConfigError(f"network_g.{key}: {value} must be >= 0 (2 published)")
    if ref_align_source not in REF_ALIGN_SOURCES:
        raise ConfigError(f"network_g.ref_align_source: unknown value {ref_align_source!r}; "
                          f"use {' or '.join(REF_ALIGN_SOURCES)}")
    if head_channels < 0 or (head_channels and num_feat % head_channels):
        raise ConfigError(f"network_g.head_channels: {head_channels} must be 0 (published heads) or divide "
                          f"num_feat={num_feat}")
