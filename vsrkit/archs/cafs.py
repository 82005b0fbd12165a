"""CAFS: PTIA's cross-attention feature selection block on an aligned feature map.

Pre-norm transformer block over the ``h * w`` pixel tokens of ``(n, c, h, w)``::

    x = tokens(feat)                                   (n, h*w, c)
    x = x + proj(attention(q(LN1(x)[query]), k(LN1(x)), v(LN1(x))))
    x = x + fc2(GELU(fc1(LN2(x))))                     hidden = mlp_ratio * c, exact (erf) GELU

``qkv`` without bias, ``num_heads`` heads, scale ``(c / num_heads) ** -0.5``.

Query (``query`` argument):

* ``first_token`` (published): only token 0, the top-left pixel, is a query. Its ``(n, 1, c)`` result, an attention
  pooling of the whole map seen from that pixel, is broadcast-added to every position. This is what the published code
  computes; spatially it acts as a global, input-dependent bias per channel, not as per-pixel selection.
* ``all_tokens``: every pixel is a query (ordinary multi-head attention over the ``h * w`` tokens); memory grows with
  ``(h * w) ** 2`` unless a fused attention kernel is available.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

QUERIES = ("first_token", "all_tokens")


class CAFSBlock(nn.Module):
    """Cross-attention feature selection (see module docstring).

    Args:
        dim: channels ``c`` (64 in PTIA); divisible by ``num_heads``.
        num_heads: attention heads (8).
        mlp_ratio: MLP hidden width over ``dim`` (4).
        query: ``first_token`` (published broadcast of the top-left query) or ``all_tokens``.
    Shapes: ``(n, dim, h, w)`` -> same.
    """

    def __init__(self, dim: int = 64, num_heads: int = 8, mlp_ratio: float = 4.0, query: str = "first_token"):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"CAFSBlock: dim={dim} must be divisible by num_heads={num_heads}")
        if query not in QUERIES:
            raise ValueError(f"CAFSBlock: query must be one of {QUERIES}, got {query!r}")
        self.num_heads = num_heads
        self.query = query
        self.norm_attn = nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(dim, dim, bias=False)
        self.v = nn.Linear(dim, dim, bias=False)
        self.proj = nn.Linear(dim, dim)
        self.norm_mlp = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        n, length, c = x.shape  # (n, L, c) -> (n, heads, L, c / heads)
        return x.view(n, length, self.num_heads, c // self.num_heads).transpose(1, 2)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """Attention branch on tokens ``(n, L, c)``: ``(n, 1, c)`` (first_token) or ``(n, L, c)`` (all_tokens)."""
        normed = self.norm_attn(x)
        queries = normed[:, :1] if self.query == "first_token" else normed
        q, k, v = self._heads(self.q(queries)), self._heads(self.k(normed)), self._heads(self.v(normed))
        out = F.scaled_dot_product_attention(q, k, v)  # (n, heads, Lq, c / heads), scale (c / heads) ** -0.5
        return self.proj(out.transpose(1, 2).reshape(x.shape[0], queries.shape[1], x.shape[2]))

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        n, c, h, w = feat.shape
        x = feat.permute(0, 2, 3, 1).reshape(n, h * w, c)
        x = x + self.attention(x)  # first_token: (n, 1, c) broadcast to every position
        x = x + self.mlp(self.norm_mlp(x))
        return x.view(n, h, w, c).permute(0, 3, 1, 2).contiguous()
