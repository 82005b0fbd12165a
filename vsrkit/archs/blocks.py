"""Shared building blocks of the video SR networks: flow warp and composition, residual blocks, upsamplers.

One block, one place: every arch imports these instead of writing its own.

Flow convention (everywhere in vsrkit): a flow field is ``(n, 2, h, w)`` in pixels of the tensor it is applied to,
channel 0 = x (horizontal), channel 1 = y. :func:`flow_warp` is a *backward* warp: output pixel ``(x, y)`` is sampled
from the input at ``(x + flow_x, y + flow_y)``. So warping frame ``t-1`` (or its features) with the backward flow of
frame ``t`` aligns it to frame ``t``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

_PADDING_MODES = ("zeros", "border", "reflection")
_INTERPOLATIONS = ("bilinear", "nearest", "bicubic")


def base_grid(h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Pixel coordinates ``(1, 2, h, w)``: channel 0 = x in ``[0, w-1]``, channel 1 = y in ``[0, h-1]``."""
    ys = torch.arange(h, device=device, dtype=dtype)
    xs = torch.arange(w, device=device, dtype=dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy), dim=0).unsqueeze(0)


def flow_warp(x: torch.Tensor, flow: torch.Tensor, padding_mode: str = "zeros",
              interpolation: str = "bilinear") -> torch.Tensor:
    """Backward-warp ``x`` with a pixel flow.

    Args:
        x: ``(n, c, h, w)`` image or features.
        flow: ``(n, 2, h, w)`` in pixels, channel 0 = x; output ``(px, py)`` samples ``x`` at
            ``(px + flow_x, py + flow_y)``. ``(n, h, w, 2)`` (BasicSR layout) is accepted too.
        padding_mode: ``zeros`` (BasicVSR/PTIA), ``border`` (MV-VSR) or ``reflection``: what lies outside ``x``.
        interpolation: ``bilinear`` (default), ``nearest`` or ``bicubic``.

    Returns:
        ``(n, c, h, w)``, same dtype as ``x``. Uses ``grid_sample`` with ``align_corners=True`` (pixel centres at
        integer coordinates, ``0`` and ``w-1`` are the outermost pixel centres).
    """
    if padding_mode not in _PADDING_MODES:
        raise ValueError(f"flow_warp: padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"flow_warp: interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}")
    n, _, h, w = x.shape
    if flow.dim() == 4 and flow.shape[1] != 2 and flow.shape[-1] == 2:
        flow = flow.permute(0, 3, 1, 2)
    if flow.shape[0] != n or flow.shape[1] != 2 or flow.shape[2:] != (h, w):
        raise ValueError(f"flow_warp: flow shape {tuple(flow.shape)} does not fit x {tuple(x.shape)}; "
                         f"expected ({n}, 2, {h}, {w})")
    # Sampling positions in fp32 at least: bf16/fp16 cannot hold pixel coordinates of a 720p frame exactly.
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    coords = base_grid(h, w, device=x.device, dtype=work) + flow.to(work)  # (n, 2, h, w) absolute positions
    # Normalise to [-1, 1] for align_corners=True; a 1-pixel axis maps to 0 (no division by zero).
    gx = coords[:, 0] * (2.0 / max(w - 1, 1)) - 1.0
    gy = coords[:, 1] * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack((gx, gy), dim=-1)  # (n, h, w, 2)
    out = F.grid_sample(x.to(work), grid, mode=interpolation, padding_mode=padding_mode, align_corners=True)
    return out.to(x.dtype)


def compose_flow(f1: torch.Tensor, f2: torch.Tensor, padding_mode: str = "border") -> torch.Tensor:
    """Chain two backward flows: ``f1`` maps frame a -> b, ``f2`` maps frame b -> c; the result maps a -> c.

    ``f1 + warp(f2, f1)`` (the second-order chain of BasicVSR++ / MV-VSR). Shapes ``(n, 2, h, w)``, pixels.
    ``border`` padding extends the flow at image borders (a zero-padded flow would snap back to 0 there).
    """
    return f1 + flow_warp(f2, f1, padding_mode=padding_mode)


def default_init(module: nn.Module, scale: float = 1.0) -> None:
    """Kaiming-normal (fan_in, a=0) init of every conv/linear in ``module`` scaled by ``scale``; biases 0.

    ``scale=0.1`` is the EDSR/BasicSR residual-block initialisation that keeps a deep residual trunk near identity.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in", nonlinearity="relu")
            m.weight.data.mul_(scale)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class ResidualBlock(nn.Module):
    """No-BN residual block ``x + res_scale * conv(relu(conv(x)))`` (EDSR / BasicVSR / MV-VSR).

    Args:
        num_feat: channels in = out.
        res_scale: multiplies the residual branch (1.0 in MV-VSR/BasicVSR, 0.1 in large EDSR).
        init_scale: ``None`` keeps PyTorch's default conv init (MV-VSR); a float (e.g. 0.1) uses scaled Kaiming
            init as in BasicSR's ``ResidualBlockNoBN``.
    Shapes: ``(n, num_feat, h, w)`` -> same.
    """

    def __init__(self, num_feat: int = 64, res_scale: float = 1.0, init_scale: float | None = None):
        super().__init__()
        self.res_scale = res_scale
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        if init_scale is not None:
            default_init(self, init_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.relu(self.conv1(x)))
        return x + out * self.res_scale if self.res_scale != 1.0 else x + out


def make_layer(block: type[nn.Module], num_blocks: int, **kwargs) -> nn.Sequential:
    """``nn.Sequential`` of ``num_blocks`` instances of ``block(**kwargs)`` (``num_blocks=0`` -> identity)."""
    return nn.Sequential(*[block(**kwargs) for _ in range(num_blocks)])


class ResidualBlocksWithInputConv(nn.Module):
    """Conv ``in -> out`` + LReLU(0.1), then ``num_blocks`` no-BN residual blocks (BasicVSR's propagation branch).

    Shapes: ``(n, in_channels, h, w)`` -> ``(n, out_channels, h, w)``.
    """

    def __init__(self, in_channels: int, out_channels: int = 64, num_blocks: int = 30):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.act = nn.LeakyReLU(0.1, inplace=True)
        self.blocks = make_layer(ResidualBlock, num_blocks, num_feat=out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.act(self.conv(x)))


class PixelShuffleUpsampler(nn.Module):
    """``log2(scale)`` steps of conv ``c -> 4c`` + PixelShuffle(2) + LReLU(0.1) (BasicVSR / MV-VSR head).

    Args:
        num_feat: channels ``c`` kept through the steps.
        scale: a power of two (2, 4, 8, ...).
    Shapes: ``(n, c, h, w)`` -> ``(n, c, scale*h, scale*w)``.
    """

    def __init__(self, num_feat: int = 64, scale: int = 4):
        super().__init__()
        steps = math.log2(scale) if scale > 0 else -1
        if scale < 2 or steps != int(steps):
            raise ValueError(f"PixelShuffleUpsampler: scale must be a power of two >= 2, got {scale}")
        layers: list[nn.Module] = []
        for _ in range(int(steps)):
            layers += [nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1), nn.PixelShuffle(2), nn.LeakyReLU(0.1, inplace=True)]
        self.body = nn.Sequential(*layers)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def upsample_image(lq: torch.Tensor, scale: int, mode: str) -> torch.Tensor:
    """Image skip of SR heads: ``(n, c, h, w)`` -> ``(n, c, scale*h, scale*w)`` by ``bilinear`` or ``bicubic``
    (``align_corners=False``, as BasicVSR's ``img_upsample``)."""
    if mode not in ("bilinear", "bicubic", "nearest"):
        raise ValueError(f"upsample_image: mode must be bilinear, bicubic or nearest, got {mode!r}")
    kwargs = {} if mode == "nearest" else {"align_corners": False}
    return F.interpolate(lq, scale_factor=scale, mode=mode, **kwargs)


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation channel attention (RCAN): ``x * sigmoid(fc(relu(fc(avgpool(x)))))``.

    Shapes: ``(n, c, h, w)`` -> same.
    """

    def __init__(self, num_feat: int, squeeze_factor: int = 16):
        super().__init__()
        hidden = max(num_feat // squeeze_factor, 1)
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(num_feat, hidden, 1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, num_feat, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.attention(x)


class RCAB(nn.Module):
    """Residual channel-attention block (RCAN): ``x + res_scale * CA(conv(relu(conv(x))))``."""

    def __init__(self, num_feat: int = 64, squeeze_factor: int = 16, res_scale: float = 1.0):
        super().__init__()
        self.res_scale = res_scale
        self.body = nn.Sequential(
            nn.Conv2d(num_feat, num_feat, 3, 1, 1), nn.ReLU(inplace=True), nn.Conv2d(num_feat, num_feat, 3, 1, 1),
            ChannelAttention(num_feat, squeeze_factor))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) * self.res_scale


def weight_norm_conv(in_channels: int, out_channels: int, kernel_size: int, g_init: float = 1.0,
                     weight_norm: bool = True) -> nn.Conv2d:
    """Conv2d (bias, zero padding ``k // 2``) with weight normalisation ``w = g * v / ||v||`` per output channel.

    Uses torch's parametrization: ``g`` is ``parametrizations.weight.original0`` ``(out, 1, 1, 1)`` and ``v`` is
    ``parametrizations.weight.original1`` ``(out, in, k, k)``. Initialisation as WDSR: ``v`` keeps PyTorch's default
    conv init, ``g`` is the constant ``g_init`` (every output filter has norm ``g_init``), the bias is 0.
    ``weight_norm=False`` gives a plain conv holding that same effective weight (for export / fast inference).
    Shapes: ``(n, in_channels, h, w)`` -> ``(n, out_channels, h, w)``.
    """
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
    nn.init.zeros_(conv.bias)
    if weight_norm:
        conv = nn.utils.parametrizations.weight_norm(conv, name="weight", dim=0)
        with torch.no_grad():
            conv.parametrizations.weight.original0.fill_(g_init)
    else:
        with torch.no_grad():
            v = conv.weight
            conv.weight.copy_(v * (g_init / v.flatten(1).norm(dim=1)).view(-1, 1, 1, 1))
    return conv


class WideResidualBlock(nn.Module):
    """WDSR-A wide-activation residual block ``x + conv2(relu(conv1(x)))`` with weight-normalised convs.

    ``conv1``: ``num_feat -> expanded`` (3x3), ``g`` initialised to 2.0; ``conv2``: ``expanded -> num_feat`` (3x3),
    ``g`` initialised to ``res_g_init`` (WDSR: ``1 / sqrt(num_blocks)``, its only residual scaling); biases 0.
    Shapes: ``(n, num_feat, h, w)`` -> same.
    """

    def __init__(self, num_feat: int = 32, expanded: int = 128, res_g_init: float = 1.0, weight_norm: bool = True):
        super().__init__()
        self.conv1 = weight_norm_conv(num_feat, expanded, 3, g_init=2.0, weight_norm=weight_norm)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = weight_norm_conv(expanded, num_feat, 3, g_init=res_g_init, weight_norm=weight_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.relu(self.conv1(x))) + x
