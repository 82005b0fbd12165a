"""Swin-V2 window-attention pieces and the Swin2SR-style residual trunk on feature maps (MSITF's reconstruction).

Tensors inside the trunk are channels-last maps ``(n, h, w, c)``; the trunk itself takes and returns
``(n, c, h, w)``. ``h`` and ``w`` must be multiples of the window size (the caller pads).

Swin-V2 attention (Liu et al. 2022, as used by Swin2SR):

* cosine attention: ``softmax(cos(q, k) * exp(min(logit_scale, log 100)) + 16 * sigmoid(cpb) + mask) v`` per head;
* the relative-position bias comes from a continuous position bias MLP (``cpb_mlp``: 2 -> 512 -> heads, ReLU, no
  last bias) evaluated on log-spaced relative coordinates ``sign(d) * log2(1 + 8 |d| / (ws - 1)) / 3``;
* q and v have a bias, k none;
* residual post-norm blocks: ``x + norm1(attn(x))``, then ``x + norm2(mlp(x))``, stochastic depth on both branches;
* odd blocks shift the windows by ``ws // 2`` (cyclic roll) and mask pairs of tokens that come from different image
  regions with ``-100``.

Nothing here comes from timm: timm is not a vsrkit dependency, and these ~150 lines stay readable next to the
description they implement.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: the logit-scale clamp of Swin-V2, ``log(1 / 0.01)``, evaluated in float32 as the published code does
LOGIT_SCALE_MAX = float(torch.log(torch.tensor(1.0 / 0.01)))


class DropPath(nn.Module):
    """Stochastic depth: in training, zero a sample's branch with probability ``p`` and scale survivors by
    ``1 / (1 - p)``; identity in eval mode or at ``p = 0``. Shapes: ``(n, ...)`` -> same."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"DropPath: p must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.dim() - 1)
        return x * x.new_empty(shape).bernoulli_(keep).div_(keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    """``(n, h, w, c)`` -> ``(n * h/ws * w/ws, ws*ws, c)`` windows, row-major over the window grid."""
    n, h, w, c = x.shape
    x = x.view(n, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, c)


def window_reverse(windows: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: ``(n * nW, ws*ws, c)`` -> ``(n, h, w, c)``."""
    c = windows.shape[-1]
    x = windows.view(-1, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def shifted_window_mask(h: int, w: int, ws: int, shift: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Attention mask of shifted windows ``(nW, ws*ws, ws*ws)``: 0 within one region, -100 across regions.

    After a cyclic roll by ``-shift``, a window at the bottom/right border holds tokens from up to 4 regions of the
    unrolled map (3 bands per axis: ``[0, h-ws)``, ``[h-ws, h-shift)``, ``[h-shift, h)``); tokens may only attend to
    tokens of their own region.
    """
    label = torch.zeros(1, h, w, 1, device=device, dtype=dtype)
    bands_h = (slice(0, -ws), slice(-ws, -shift), slice(-shift, None))
    bands_w = (slice(0, -ws), slice(-ws, -shift), slice(-shift, None))
    count = 0
    for bh in bands_h:
        for bw in bands_w:
            label[:, bh, bw, :] = count
            count += 1
    windows = window_partition(label, ws).squeeze(-1)  # (nW, ws*ws)
    diff = windows.unsqueeze(1) - windows.unsqueeze(2)
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


def log_spaced_relative_coords(ws: int) -> torch.Tensor:
    """Swin-V2 CPB inputs ``(1, 2ws-1, 2ws-1, 2)`` (dy, dx), float32: ``sign(d) * log2(1 + 8|d|/(ws-1)) / log2(8)``."""
    d = torch.arange(-(ws - 1), ws, dtype=torch.float32)
    table = torch.stack(torch.meshgrid(d, d, indexing="ij")).permute(1, 2, 0).contiguous().unsqueeze(0)
    table = table / (ws - 1) * 8
    return torch.sign(table) * torch.log2(table.abs() + 1.0) / math.log2(8)


def relative_position_index(ws: int) -> torch.Tensor:
    """``(ws*ws, ws*ws)`` int64: index into the ``(2ws-1)^2`` relative-offset table for each (query, key) pair."""
    coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)  # (2, ws*ws)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (ws - 1)  # (ws*ws, ws*ws, 2), >= 0
    return rel[..., 0] * (2 * ws - 1) + rel[..., 1]


class WindowAttentionV2(nn.Module):
    """Swin-V2 multi-head cosine self-attention inside windows.

    ``forward(x, mask=None)``: x ``(n * nW, ws*ws, dim)``, mask ``(nW, ws*ws, ws*ws)`` or None -> same shape as x.
    Buffers ``relative_coords_table`` (float32 computed) and ``relative_position_index`` are kept in the state dict
    so that published checkpoints (which store them) load one to one.
    """

    def __init__(self, dim: int, window_size: int, num_heads: int, cpb_hidden: int = 512):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"WindowAttentionV2: dim={dim} is not divisible by num_heads={num_heads}")
        self.dim, self.window_size, self.num_heads = dim, window_size, num_heads
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones(num_heads, 1, 1)))
        self.cpb_mlp = nn.Sequential(nn.Linear(2, cpb_hidden), nn.ReLU(inplace=True),
                                     nn.Linear(cpb_hidden, num_heads, bias=False))
        self.register_buffer("relative_coords_table", log_spaced_relative_coords(window_size))
        self.register_buffer("relative_position_index", relative_position_index(window_size))
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def position_bias(self) -> torch.Tensor:
        """``(heads, ws*ws, ws*ws)`` = ``16 * sigmoid(cpb_mlp(coords))`` gathered per (query, key) pair."""
        table = self.cpb_mlp(self.relative_coords_table).view(-1, self.num_heads)
        tokens = self.window_size * self.window_size
        bias = table[self.relative_position_index.view(-1)].view(tokens, tokens, -1).permute(2, 0, 1)
        return 16 * torch.sigmoid(bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, c = x.shape
        bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias).reshape(b, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (b, heads, n, c/heads)
        attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
        attn = attn * torch.clamp(self.logit_scale, max=LOGIT_SCALE_MAX).exp()
        attn = attn + self.position_bias().unsqueeze(0)
        if mask is not None:
            windows = mask.shape[0]
            attn = attn.view(b // windows, windows, self.num_heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, n, n)
        x = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(x)


class Mlp(nn.Module):
    """``fc2(GELU(fc1(x)))`` on the last dimension (GELU with erf)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwinV2Block(nn.Module):
    """One Swin-V2 block (residual post-norm) on a channels-last map ``(n, h, w, dim)`` -> same.

    ``shift > 0`` rolls the map by ``-shift`` before windowing. The mask for ``mask_size x mask_size`` maps is
    precomputed as the buffer ``attn_mask`` (kept for checkpoint compatibility); other sizes compute theirs on the
    fly (same values).
    """

    def __init__(self, dim: int, num_heads: int, window_size: int = 8, shift: int = 0, mlp_ratio: float = 2.0,
                 drop_path: float = 0.0, mask_size: int = 32):
        super().__init__()
        if not 0 <= shift < window_size:
            raise ValueError(f"SwinV2Block: shift must be in [0, window_size), got {shift}")
        self.window_size, self.shift = window_size, shift
        self.attn = WindowAttentionV2(dim, window_size, num_heads)
        self.norm1 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.norm2 = nn.LayerNorm(dim)
        self.drop_path = DropPath(drop_path)
        self.mask_size = mask_size
        if shift > 0:
            self.register_buffer("attn_mask", shifted_window_mask(mask_size, mask_size, window_size, shift))
        else:
            self.attn_mask = None

    def _mask(self, h: int, w: int, ref: torch.Tensor) -> torch.Tensor | None:
        if self.shift == 0:
            return None
        if (h, w) == (self.mask_size, self.mask_size):
            return self.attn_mask
        return shifted_window_mask(h, w, self.window_size, self.shift, device=ref.device, dtype=ref.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, h, w, c = x.shape
        ws = self.window_size
        shifted = torch.roll(x, (-self.shift, -self.shift), dims=(1, 2)) if self.shift else x
        windows = self.attn(window_partition(shifted, ws), mask=self._mask(h, w, x))
        shifted = window_reverse(windows, ws, h, w)
        attended = torch.roll(shifted, (self.shift, self.shift), dims=(1, 2)) if self.shift else shifted
        x = x + self.drop_path(self.norm1(attended))
        return x + self.drop_path(self.norm2(self.mlp(x)))


class ResidualSwinV2Group(nn.Module):
    """Swin2SR's RSTB with a ``1conv`` residual: ``proj1x1(conv3x3(blocks(x))) + x``.

    ``forward(x)``: channels-last ``(n, h, w, dim)`` -> same. Blocks alternate shift 0 / ``window_size // 2``.
    """

    def __init__(self, dim: int, depth: int, num_heads: int, window_size: int = 8, mlp_ratio: float = 2.0,
                 drop_path: Sequence[float] = (), mask_size: int = 32):
        super().__init__()
        rates = list(drop_path) or [0.0] * depth
        self.blocks = nn.ModuleList(
            SwinV2Block(dim, num_heads, window_size, 0 if i % 2 == 0 else window_size // 2, mlp_ratio, rates[i],
                        mask_size) for i in range(depth))
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        for block in self.blocks:
            y = block(y)
        y = self.proj(self.conv(y.permute(0, 3, 1, 2)))
        return y.permute(0, 2, 3, 1) + x


class SwinV2Trunk(nn.Module):
    """Swin2SR-style feature trunk (no upsampler): ``x0 = conv3x3(x)``; tokens = LN(proj1x1(x0));
    RSTB groups; LN; ``conv_after_body(.) + x0``.

    Args:
        dim: channels in = out = embedding dimension.
        depths: blocks per residual group (MSITF: 6 groups of 2).
        num_heads: attention heads in every block.
        window_size: attention window (the input's h, w must be multiples of it).
        mlp_ratio: MLP hidden width / dim.
        drop_path_rate: stochastic depth, increasing linearly from 0 to this over all blocks.
        mask_size: size of the precomputed shifted-window masks (Swin2SR's ``img_size``).
    Shapes: ``(n, dim, h, w)`` -> ``(n, dim, h, w)``.
    """

    def __init__(self, dim: int = 64, depths: Sequence[int] = (2, 2, 2, 2, 2, 2), num_heads: int = 4,
                 window_size: int = 8, mlp_ratio: float = 2.0, drop_path_rate: float = 0.1, mask_size: int = 32):
        super().__init__()
        self.window_size = window_size
        self.conv_first = nn.Conv2d(dim, dim, 3, 1, 1)
        self.embed = nn.Conv2d(dim, dim, 1)
        self.embed_norm = nn.LayerNorm(dim)
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        starts = [sum(depths[:i]) for i in range(len(depths))]
        self.groups = nn.ModuleList(
            ResidualSwinV2Group(dim, d, num_heads, window_size, mlp_ratio, rates[s:s + d], mask_size)
            for s, d in zip(starts, depths))
        self.norm = nn.LayerNorm(dim)
        self.conv_after_body = nn.Conv2d(dim, dim, 3, 1, 1)
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % self.window_size or w % self.window_size:
            raise ValueError(f"SwinV2Trunk: input {h}x{w} is not a multiple of window_size={self.window_size}; "
                             f"pad it first")
        x0 = self.conv_first(x)
        y = self.embed_norm(self.embed(x0).permute(0, 2, 3, 1))
        for group in self.groups:
            y = group(y)
        y = self.norm(y).permute(0, 3, 1, 2)
        return self.conv_after_body(y) + x0


def _init_weights(m: nn.Module) -> None:
    """Swin initialisation: linear weights truncated normal (std 0.02), biases 0, LayerNorm 1 / 0."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
