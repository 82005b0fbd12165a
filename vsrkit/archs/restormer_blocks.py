"""Restormer-style transformer pieces on ``(n, c, h, w)`` maps: channel LayerNorm, transposed (channel) attention,
gated feed-forward, and the cross-attention block that combines them (RCVSR's RRM).

Transposed attention attends over channels, not pixels: for each head the ``c_h x c_h`` matrix
``softmax(temperature * q_hat k_hat^T)`` (``q_hat, k_hat`` L2-normalised over the ``h*w`` pixels) mixes the value
channels, so the cost is linear in the number of pixels.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of every pixel of an ``(n, c, h, w)`` map.

    ``bias=True``: ``(x - mean) / sqrt(var + eps) * weight + bias``. ``bias=False`` (Restormer's "BiasFree"):
    ``x / sqrt(var + eps) * weight`` -- the variance is still taken about the mean, but the mean is not subtracted.
    ``var`` is the biased (population) variance. Shapes: ``(n, c, h, w)`` -> same.
    """

    def __init__(self, num_channels: int, bias: bool = True, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var = x.var(dim=1, keepdim=True, unbiased=False)
        if self.bias is None:
            return x / torch.sqrt(var + self.eps) * self.weight.view(1, -1, 1, 1)
        mean = x.mean(dim=1, keepdim=True)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class GatedFeedForward(nn.Module):
    """Gated depthwise feed-forward: ``proj_out(act(a) * b)`` with ``(a, b) = dwconv3x3(project_in(x))`` split in two.

    Args:
        dim: channels in = out.
        expansion: hidden width = ``int(dim * expansion)`` per half (project_in makes twice that).
        activation: ``elu`` (RCVSR) or ``gelu`` (Restormer).
        bias: biases in the convs (none in RCVSR / Restormer).
    Shapes: ``(n, dim, h, w)`` -> same.
    """

    def __init__(self, dim: int, expansion: float = 2.0, activation: str = "elu", bias: bool = False):
        super().__init__()
        if activation not in ("elu", "gelu"):
            raise ValueError(f"GatedFeedForward: activation must be elu or gelu, got {activation!r}")
        hidden = int(dim * expansion)
        self.act = F.elu if activation == "elu" else F.gelu
        self.project_in = nn.Conv2d(dim, 2 * hidden, 1, bias=bias)
        self.dwconv = nn.Conv2d(2 * hidden, 2 * hidden, 3, 1, 1, groups=2 * hidden, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(self.act(a) * b)


class TransposedCrossAttention(nn.Module):
    """Transposed (channel) attention with the query from ``x`` and key/value from ``y`` (RCVSR's cross MDTA).

    One 1x1 projection ``proj`` (dim -> dim, no bias) is shared by both streams; the query passes the depthwise 3x3
    ``dw_q``, key and value both ``dw_kv(proj(y))`` -- so key == value, as published. Per head (``dim / num_heads``
    channels): ``out = softmax(temperature * q_hat k_hat^T) v`` with ``q_hat, k_hat`` L2-normalised over the pixels
    (eps 1e-12); then the 1x1 ``proj_out``. With one channel per head the softmax is over a single entry, so the
    output is ``proj_out(v)`` and ``temperature`` / ``dw_q`` receive exactly zero gradient (the published setting of
    four of RCVSR's six blocks).

    Shapes: ``x, y (n, dim, h, w)`` -> ``(n, dim, h, w)``.
    """

    def __init__(self, dim: int, num_heads: int, bias: bool = False):
        super().__init__()
        if num_heads < 1 or dim % num_heads:
            raise ValueError(f"TransposedCrossAttention: dim={dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.proj = nn.Conv2d(dim, dim, 1, bias=bias)
        self.dw_q = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim, bias=bias)
        self.dw_kv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim, bias=bias)
        self.proj_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q = self.dw_q(self.proj(x)).reshape(n, self.num_heads, c // self.num_heads, h * w)
        v = self.dw_kv(self.proj(y)).reshape(n, self.num_heads, c // self.num_heads, h * w)
        q, k = F.normalize(q, dim=-1), F.normalize(v, dim=-1)
        attn = ((q @ k.transpose(-2, -1)) * self.temperature).softmax(dim=-1)   # (n, heads, c_h, c_h)
        return self.proj_out((attn @ v).reshape(n, c, h, w))


class CrossTransformerBlock(nn.Module):
    """``a = x + attn(LN(cat[x, y]))``, ``out = a + ffn(LN(a))`` (RCVSR's ``*_a`` / ``*_m`` pair).

    The first LayerNorm runs over the concatenated ``2 * dim`` channels of query and key/value streams (so both are
    normalised jointly), then splits them again. Both LayerNorms are bias-free as published.

    Args:
        dim: channels of each stream.
        num_heads: attention heads (``dim / num_heads`` channels each).
        ffn_expansion: hidden width factor of the gated FFN (2).
    Shapes: ``x, y (n, dim, h, w)`` -> ``(n, dim, h, w)``.
    """

    def __init__(self, dim: int, num_heads: int, ffn_expansion: float = 2.0):
        super().__init__()
        self.norm_attn = LayerNorm2d(2 * dim, bias=False)
        self.attn = TransposedCrossAttention(dim, num_heads)
        self.norm_ffn = LayerNorm2d(dim, bias=False)
        self.ffn = GatedFeedForward(dim, ffn_expansion, activation="elu")

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        qx, ky = self.norm_attn(torch.cat([x, y], dim=1)).chunk(2, dim=1)
        a = self.attn(qx, ky) + x
        return self.ffn(self.norm_ffn(a)) + a
