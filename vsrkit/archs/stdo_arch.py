"""STDO backbones (repo ``coulsonlee/STDO-CVPR2023``): WDSR-A, EDSR and ESPCN single-image SR networks.

STDO overfits one small SR network per chunk of patches of one video (``reference/methods.md`` section 5). The
networks are plain single-image SR models; data flow, per image ``x (n, c, h, w)`` in ``[0, 1]``, ``s = scale``::

    WDSR-A   y = PixelShuffle(s)(tail(blocks(head(x - m))) + skip(x - m)) + m         m = image_mean (0.5)
             head 3x3 c->F, blocks = num_blocks x [x + conv3x3(ReLU(conv3x3 F->F*width_multiplier)) ->F],
             tail 3x3 F->c*s^2, skip 5x5 c->c*s^2; every conv weight-normalised
    EDSR     h = head(x); r = conv_after_body(ResBlocks(h)) + h; y = conv_last(upsample(r))
             head 3x3 c->F, ResBlock = x + res_scale * conv(ReLU(conv x)), upsample = log2(s) x [conv F->4F,
             PixelShuffle(2)] (s = 3: conv F->9F, PixelShuffle(3)), conv_last 3x3 F->c; no mean shift
    ESPCN    y = PixelShuffle(s)(conv4(ReLU(conv3(ReLU(conv2(ReLU(conv1 x)))))))   widths c->64->64->32->c*s^2

Outputs are unclamped (as published); convs are 3x3 with zero padding unless noted. Every network also takes clips
``(n, t, c, h, w)``: the frames are folded into the batch and the result is ``(n, t, c, s*h, s*w)``, so the
video datasets and the video inference loop can drive them.

Published configurations (``official_keys.json``): WDSR-A ``num_residual_units=32, num_blocks=16,
width_multiplier=4, image_mean=0.5`` -> 1,190,100 / 1,195,605 / 1,203,312 parameters (x2/x3/x4); EDSR
``num_blocks=16, n_feats=64, res_scale=1.0`` -> 1,369,859 / 1,554,499 / 1,517,571 (the published models hold 24
more numbers, their never-applied MeanShift: ``unused_mean_shift=True`` builds it, giving 1,369,883 / 1,554,523 /
1,517,595); ESPCN 60,652 / 64,987 / 71,056.

Differences from the published code (see ``docs/stdo.md``): WDSR does not subtract the mean in place on the
caller's tensor (the published ``x -= 0.5`` changes the argument; outputs are identical); EDSR builds the
MeanShift modules its published forward never applies only on request (``unused_mean_shift``); WDSR's multi-frame
``temporal_size`` mode (unused by STDO) is not offered. Official checkpoints load through
:mod:`vsrkit.archs.stdo_convert`.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from vsrkit.archs.blocks import ResidualBlock, WideResidualBlock, make_layer, weight_norm_conv
from vsrkit.errors import ConfigError
from vsrkit.registry import ARCHS


def _check_int(arch: str, key: str, value, minimum: int, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{arch}: {key} must be an integer >= {minimum}, got {value!r}; {hint}")
    return value


def _check_positive(arch: str, key: str, value, hint: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{arch}: {key} must be a positive number, got {value!r}; {hint}")
    return float(value)


class FrameWiseSR(nn.Module):
    """Base of single-image SR networks that also accept clips.

    Subclasses set ``scale`` and ``num_channels`` and implement :meth:`forward_image`.
    """

    scale: int
    num_channels: int

    def forward_image(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, c, h, w)`` -> ``(n, c, scale*h, scale*w)``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, c, h, w)`` -> ``(n, c, s*h, s*w)``; ``(n, t, c, h, w)`` -> ``(n, t, c, s*h, s*w)`` (frames
        independently). Values in ``[0, 1]`` in, unclamped out."""
        if x.dim() not in (4, 5) or x.shape[-3] != self.num_channels:
            raise ValueError(f"{type(self).__name__}: expected (n, {self.num_channels}, h, w) images or "
                             f"(n, t, {self.num_channels}, h, w) clips, got shape {tuple(x.shape)}")
        if x.dim() == 4:
            return self.forward_image(x)
        n, t = x.shape[:2]
        out = self.forward_image(x.reshape(n * t, *x.shape[2:]))
        return out.view(n, t, *out.shape[1:])


@ARCHS.register()
class WDSR(FrameWiseSR):
    """WDSR-A (Yu et al. 2018) as used by STDO: wide-activation residual blocks, weight-normalised convs.

    Args:
        scale: upscaling factor (STDO: 2, 3 or 4).
        num_channels: image channels ``c`` (3 = RGB).
        num_residual_units: trunk width ``F`` (32).
        num_blocks: wide residual blocks (16).
        width_multiplier: expansion inside a block, ``F -> int(F * width_multiplier)`` (4).
        image_mean: subtracted from every channel of the input and added to the output (0.5).
        weight_norm: weight-normalised convs as published (``True``); ``False`` builds plain convs (fewer
            parameters per conv, same function), e.g. to export a trained model; a published or vsrkit
            weight-normalised checkpoint loads into it by folding ``w = g * v / ||v||``.

    Shapes: ``(n, c, h, w)`` -> ``(n, c, scale*h, scale*w)``, or clips ``(n, t, c, h, w)``.
    Initialisation as published: ``g = 1`` in head, tail and skip, ``2`` in each block's first conv,
    ``1/sqrt(num_blocks)`` in its second; biases 0.
    """

    def __init__(self, scale: int = 4, num_channels: int = 3, num_residual_units: int = 32, num_blocks: int = 16,
                 width_multiplier: float = 4, image_mean: float = 0.5, weight_norm: bool = True):
        super().__init__()
        self.scale = _check_int("WDSR", "scale", scale, 2, "use 2, 3 or 4 (STDO)")
        self.num_channels = _check_int("WDSR", "num_channels", num_channels, 1, "3 for RGB")
        feat = _check_int("WDSR", "num_residual_units", num_residual_units, 1, "published: 32")
        self.num_blocks = _check_int("WDSR", "num_blocks", num_blocks, 0, "published: 16")
        expanded = int(feat * _check_positive("WDSR", "width_multiplier", width_multiplier, "published: 4"))
        if expanded < 1:
            raise ConfigError(f"WDSR: num_residual_units * width_multiplier must be >= 1, got {feat} * "
                              f"{width_multiplier}; published: 32 * 4")
        if isinstance(image_mean, bool) or not isinstance(image_mean, (int, float)):
            raise ConfigError(f"WDSR: image_mean must be a number, got {image_mean!r}; published: 0.5")
        self.image_mean = float(image_mean)
        self.weight_norm = bool(weight_norm)
        out_ch = self.num_channels * self.scale ** 2
        res_g = 1.0 / math.sqrt(self.num_blocks) if self.num_blocks else 1.0

        self.head = weight_norm_conv(self.num_channels, feat, 3, weight_norm=self.weight_norm)
        self.body = make_layer(WideResidualBlock, self.num_blocks, num_feat=feat, expanded=expanded,
                               res_g_init=res_g, weight_norm=self.weight_norm)
        self.tail = weight_norm_conv(feat, out_ch, 3, weight_norm=self.weight_norm)
        self.skip = weight_norm_conv(self.num_channels, out_ch, 5, weight_norm=self.weight_norm)
        self.upsample = nn.PixelShuffle(self.scale)

    def forward_image(self, x: torch.Tensor) -> torch.Tensor:
        x = x - self.image_mean                                   # (n, c, h, w), not in place (published: x -= m)
        y = self.tail(self.body(self.head(x))) + self.skip(x)     # (n, c*s^2, h, w)
        return self.upsample(y) + self.image_mean                 # (n, c, s*h, s*w), unclamped


def edsr_upsampler(num_feat: int, scale: int) -> nn.Sequential:
    """EDSR's upsampler, no activation: ``log2(s)`` x [conv3x3 ``F -> 4F``, PixelShuffle(2)] for a power of two,
    [conv3x3 ``F -> 9F``, PixelShuffle(3)] for 3. ``(n, F, h, w)`` -> ``(n, F, s*h, s*w)``."""
    layers: list[nn.Module] = []
    if scale == 3:
        layers += [nn.Conv2d(num_feat, 9 * num_feat, 3, 1, 1), nn.PixelShuffle(3)]
    else:
        for _ in range(int(math.log2(scale))):
            layers += [nn.Conv2d(num_feat, 4 * num_feat, 3, 1, 1), nn.PixelShuffle(2)]
    return nn.Sequential(*layers)


EDSR_RGB_MEAN = (0.4488, 0.4371, 0.404)


def _mean_shift(sign: float, rgb_range: float = 255.0) -> nn.Conv2d:
    """EDSR's MeanShift as the published model builds it (std 1): frozen 1x1 conv, ``y = x + sign * 255 * mean``."""
    conv = nn.Conv2d(3, 3, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        conv.bias.copy_(sign * rgb_range * torch.tensor(EDSR_RGB_MEAN))
    conv.requires_grad_(False)
    return conv


@ARCHS.register()
class EDSR(FrameWiseSR):
    """EDSR (Lim et al. 2017) as shipped (byte code only) with STDO; the backbone CaFM uses too.

    Args:
        scale: 3 or a power of two (STDO: 2, 3, 4).
        num_blocks: residual blocks (16).
        n_feats: trunk width ``F`` (64).
        res_scale: multiplies each block's residual branch (1.0).
        num_channels: image channels ``c`` (3).
        unused_mean_shift: also build the published ``sub_mean``/``add_mean`` (frozen 1x1 convs, RGB mean
            ``(0.4488, 0.4371, 0.404)`` x 255) that the published forward never applies: only so that the state
            dict and parameter count equal the published ones (24 numbers). Off by default.

    Shapes: ``(n, c, h, w)`` -> ``(n, c, scale*h, scale*w)``, or clips ``(n, t, c, h, w)``. PyTorch default init.
    No mean shift is applied, as published.
    """

    def __init__(self, scale: int = 4, num_blocks: int = 16, n_feats: int = 64, res_scale: float = 1.0,
                 num_channels: int = 3, unused_mean_shift: bool = False):
        super().__init__()
        self.scale = _check_int("EDSR", "scale", scale, 2, "use 2, 3 or 4")
        if scale != 3 and scale & (scale - 1):
            raise ConfigError(f"EDSR: scale must be 3 or a power of two, got {scale}; use 2, 3 or 4")
        self.num_channels = _check_int("EDSR", "num_channels", num_channels, 1, "3 for RGB")
        self.num_blocks = _check_int("EDSR", "num_blocks", num_blocks, 0, "published: 16")
        feat = _check_int("EDSR", "n_feats", n_feats, 1, "published: 64")
        res_scale = _check_positive("EDSR", "res_scale", res_scale, "published: 1.0")

        self.head = nn.Conv2d(self.num_channels, feat, 3, 1, 1)
        self.body = make_layer(ResidualBlock, self.num_blocks, num_feat=feat, res_scale=res_scale)
        self.conv_after_body = nn.Conv2d(feat, feat, 3, 1, 1)
        self.upsample = edsr_upsampler(feat, self.scale)
        self.conv_last = nn.Conv2d(feat, self.num_channels, 3, 1, 1)
        if unused_mean_shift:
            if self.num_channels != 3:
                raise ConfigError(f"EDSR: unused_mean_shift needs num_channels 3, got {self.num_channels}; "
                                  f"set unused_mean_shift: false")
            self.sub_mean = _mean_shift(-1.0)
            self.add_mean = _mean_shift(1.0)

    def forward_image(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)                                  # (n, F, h, w)
        r = self.conv_after_body(self.body(h)) + h        # global residual
        return self.conv_last(self.upsample(r))           # (n, c, s*h, s*w), unclamped


@ARCHS.register()
class ESPCN(FrameWiseSR):
    """ESPCN (Shi et al. 2016) as shipped (byte code only) with STDO: four 3x3 convs and a pixel shuffle.

    Args:
        scale: any integer >= 2 (STDO: 2, 3, 4).
        num_channels: image channels ``c`` (3).

    Shapes: ``(n, c, h, w)`` -> ``(n, c, scale*h, scale*w)``, or clips ``(n, t, c, h, w)``. No mean handling, no
    output activation, PyTorch default init. Widths ``c -> 64 -> 64 -> 32 -> c*s^2``, ReLU after the first three.
    """

    def __init__(self, scale: int = 4, num_channels: int = 3):
        super().__init__()
        self.scale = _check_int("ESPCN", "scale", scale, 2, "use 2, 3 or 4")
        self.num_channels = _check_int("ESPCN", "num_channels", num_channels, 1, "3 for RGB")
        self.conv1 = nn.Conv2d(self.num_channels, 64, 3, 1, 1)
        self.conv2 = nn.Conv2d(64, 64, 3, 1, 1)
        self.conv3 = nn.Conv2d(64, 32, 3, 1, 1)
        self.conv4 = nn.Conv2d(32, self.num_channels * self.scale ** 2, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)
        self.upsample = nn.PixelShuffle(self.scale)

    def forward_image(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = self.relu(self.conv3(x))
        return self.upsample(self.conv4(x))               # (n, c, s*h, s*w), unclamped
