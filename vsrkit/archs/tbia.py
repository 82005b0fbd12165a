"""TBIA: PTIA's progressive inter-frame alignment of a neighbour's propagated feature onto the current frame.

Inputs per call: the neighbour's and the current frame's encoder features at three scales (``L`` = LR size, ``M`` =
1/2, ``S`` = 1/4), the propagated feature ``h`` to align (it lives on the neighbour's grid) and a SPyNet flow
``f`` (current -> neighbour, LR pixels, channel 0 = x). Data flow::

    f_S = down(f, 1/4) / 4,  f_M = down(f, 1/2) / 2          bilinear, align_corners=True
    r_S = level_S(warp(nbr_S, f_S), cur_S)                     residual flow at 1/4
    u_M = 2 up(r_S)
    r_M = level_M(warp(nbr_M, f_M + u_M), cur_M)               residual flow at 1/2
    u_L = 2 up(r_M + u_M)
    r_L = level_L(warp(nbr_L, f + u_L), cur_L)                 residual flow at LR size
    F   = f + u_L + r_L                                         refined flow
    offsets, masks = affine_offsets_8(warp(nbr_L, F), cur_L)    8 groups x 9 points, sigmoid masks
    out = CAFS(DCN3x3(warp(h, F), offsets, masks))              modulated DCN, 8 deformable groups

``up`` is a x2 bilinear resize with ``align_corners=True``; every ``warp`` is :func:`blocks.flow_warp` with zero
padding. A level is an :class:`AffineOffsets` block (one group) whose 18 offset channels a 3x3 conv turns into a
2-channel residual flow. The DCN offsets are used as predicted, relative to the warped feature: the flow is not added
to them, and they are unbounded unless ``offset_bound`` is set (``bound * tanh``, as BasicVSR++).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vsrkit.archs.blocks import flow_warp
from vsrkit.archs.cafs import CAFSBlock
from vsrkit.ops.dcn import ModulatedDeformConv2d

#: the regular 3x3 sampling grid, row-major: (dy, dx) of kernel point k
GRID_DY = (-1.0, -1.0, -1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0)
GRID_DX = (-1.0, 0.0, 1.0, -1.0, 0.0, 1.0, -1.0, 0.0, 1.0)
#: TBIA initialisations: PyTorch's defaults (published) or the identity alignment (see :class:`TBIA`)
INITS = ("published", "identity")


class GroupedConv2d(nn.Conv2d):
    """``nn.Conv2d`` with ``groups > 1`` (stride 1, 'same' zero padding) that avoids PyTorch's per-group loop on CPU
    float64.

    PyTorch has no fused grouped-conv kernel for float64 on CPU and runs one convolution per group (128 + 64 calls per
    :class:`AffineOffsets`), which makes float64 checks of PTIA minutes long. There this module computes the same sum
    as one unfold + batched matmul; every other dtype/device uses ``nn.Conv2d`` unchanged. Same parameters and keys.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.groups == 1 or x.dtype != torch.float64 or x.device.type != "cpu":
            return super().forward(x)
        n, _, h, w = x.shape
        g, (kh, kw) = self.groups, self.kernel_size
        cols = F.unfold(x, (kh, kw), padding=self.padding).view(n, g, -1, h * w)  # (n, g, cin/g*kh*kw, h*w)
        weight = self.weight.reshape(g, self.out_channels // g, -1)               # (g, cout/g, cin/g*kh*kw)
        out = torch.matmul(weight, cols).view(n, self.out_channels, h, w)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)


class AffineOffsets(nn.Module):
    """Per-pixel affine deformation of the regular 3x3 grid, per group: 3x3 DCN offsets (and optional masks).

    From ``cat(x, ref)`` (``2C`` channels) two grouped convs with LeakyReLU(0.2) (``2C -> 2C`` depthwise, then
    ``2C -> C`` in groups of two channels) give a context feature; ``k x k`` convs on it predict, per group ``g`` and
    pixel, a 2x2 matrix ``A = [[a_4g, a_4g+1], [a_4g+2, a_4g+3]]``, a translation ``(t_2g, t_2g+1) = (dy, dx)`` and,
    with ``with_mask``, 9 mask logits. Offset of kernel point ``p = (dy_k, dx_k)``: ``A p - p + t``.

    Args:
        channels: ``C``, channels of ``x`` and ``ref`` each.
        groups: deformable groups ``G`` (1 for the flow levels, 8 for the DCN).
        kernel_size: size of the matrix / translation / mask convs (3 for the flow levels, 5 for the DCN).
        with_mask: also predict modulation masks (``sigmoid``).
    Shapes: ``x``, ``ref`` ``(n, C, h, w)`` -> offsets ``(n, G * 18, h, w)`` ordered ``[group][point][dy, dx]``
    (the :mod:`vsrkit.ops.dcn` layout), in pixels; with ``with_mask`` also masks ``(n, G * 9, h, w)`` in ``(0, 1)``.
    """

    def __init__(self, channels: int = 64, groups: int = 1, kernel_size: int = 3, with_mask: bool = False):
        super().__init__()
        self.groups = groups
        pad = kernel_size // 2
        self.fuse = nn.Sequential(
            GroupedConv2d(2 * channels, 2 * channels, 3, 1, 1, groups=2 * channels), nn.LeakyReLU(0.2, inplace=True),
            GroupedConv2d(2 * channels, channels, 3, 1, 1, groups=channels), nn.LeakyReLU(0.2, inplace=True))
        self.matrix = nn.Conv2d(channels, 4 * groups, kernel_size, 1, pad)
        self.translation = nn.Conv2d(channels, 2 * groups, kernel_size, 1, pad)
        self.mask = nn.Conv2d(channels, 9 * groups, kernel_size, 1, pad) if with_mask else None
        self.register_buffer("grid", torch.tensor([GRID_DY, GRID_DX]).view(2, 1, 1, 9, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor, ref: torch.Tensor):
        n, _, h, w = x.shape
        ctx = self.fuse(torch.cat([x, ref], dim=1))
        a = self.matrix(ctx).view(n, self.groups, 4, 1, h, w)           # (n, G, 4, 1, h, w)
        t = self.translation(ctx).view(n, self.groups, 2, 1, h, w)      # (n, G, 2, 1, h, w): dy, dx
        dy, dx = self.grid[0].to(a.dtype), self.grid[1].to(a.dtype)     # (1, 1, 9, 1, 1)
        off_y = (a[:, :, 0] * dy + a[:, :, 1] * dx) - dy + t[:, :, 0]   # (n, G, 9, h, w)
        off_x = (a[:, :, 2] * dy + a[:, :, 3] * dx) - dx + t[:, :, 1]
        offsets = torch.stack((off_y, off_x), dim=3).reshape(n, self.groups * 18, h, w)
        if self.mask is None:
            return offsets
        return offsets, torch.sigmoid(self.mask(ctx))

    @torch.no_grad()
    def identity_init_(self) -> None:
        """Start at the regular grid: ``A = I`` and ``t = 0`` for every pixel (zero offsets), mask logits 0 (masks
        0.5), as BasicVSR++ zero-initialises its offset head. Only the last convs change; they still get gradients."""
        nn.init.zeros_(self.matrix.weight)
        self.matrix.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0]).repeat(self.groups))
        nn.init.zeros_(self.translation.weight)
        nn.init.zeros_(self.translation.bias)
        if self.mask is not None:
            nn.init.zeros_(self.mask.weight)
            nn.init.zeros_(self.mask.bias)


class FlowLevel(nn.Module):
    """One pyramid level of TBIA: :class:`AffineOffsets` (one group) then a 3x3 conv 18 -> 2 = residual flow.

    Shapes: ``warped``, ``ref`` ``(n, C, h, w)`` -> ``(n, 2, h, w)`` in pixels of this level.
    """

    def __init__(self, channels: int = 64):
        super().__init__()
        self.offsets = AffineOffsets(channels, groups=1, kernel_size=3)
        self.to_flow = nn.Conv2d(18, 2, 3, 1, 1)

    def forward(self, warped: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return self.to_flow(self.offsets(warped, ref))

    @torch.no_grad()
    def zero_init_(self) -> None:
        """Start with a zero residual flow (the last conv zeroed; it still gets gradients)."""
        nn.init.zeros_(self.to_flow.weight)
        nn.init.zeros_(self.to_flow.bias)


def _resize_flow(flow: torch.Tensor, factor: float) -> torch.Tensor:
    """Resize a pixel flow by ``factor`` (a power of two; bilinear, align_corners=True) and scale its values with it
    (exactly: multiplying by a power of two is exact)."""
    return F.interpolate(flow, scale_factor=factor, mode="bilinear", align_corners=True) * factor


class TBIA(nn.Module):
    """Progressive (coarse-to-fine) flow refinement + affine-offset modulated DCN + CAFS (module docstring).

    Args:
        channels: feature channels ``C`` (64).
        deformable_groups: DCN groups (8); ``C`` divisible by it.
        offset_bound: None (published: unbounded offsets) or ``b`` for ``b * tanh(offset)``.
        cafs: apply the :class:`CAFSBlock` to the DCN output (published: yes).
        cafs_heads, cafs_mlp_ratio, cafs_query: see :class:`CAFSBlock`.
        init: ``published`` (PyTorch's default init everywhere: random residual flows and DCN offsets at the start)
            or ``identity`` (not in the published code: zero residual flows, zero DCN offsets and masks 0.5 at the
            start, so an untrained TBIA is the SPyNet warp followed by a plain 3x3 conv and CAFS).

    ``forward(nbr, cur, feat, flow)``: ``nbr`` and ``cur`` are ``(L, M, S)`` tuples of ``(n, C, h, w)``,
    ``(n, C, h/2, w/2)``, ``(n, C, h/4, w/4)`` encoder features of the neighbour and the current frame; ``feat``
    ``(n, C, h, w)`` is the neighbour's propagated feature; ``flow`` ``(n, 2, h, w)`` warps the neighbour onto the
    current frame. Returns the aligned feature ``(n, C, h, w)``. ``h`` and ``w`` must be divisible by 4.
    """

    def __init__(self, channels: int = 64, deformable_groups: int = 8, offset_bound: float | None = None,
                 cafs: bool = True, cafs_heads: int = 8, cafs_mlp_ratio: float = 4.0, cafs_query: str = "first_token",
                 init: str = "published"):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"TBIA init {init!r} must be one of {', '.join(INITS)}")
        self.offset_bound = offset_bound
        self.levels = nn.ModuleList(FlowLevel(channels) for _ in range(3))  # S (1/4), M (1/2), L (1)
        self.dcn_offsets = AffineOffsets(channels, groups=deformable_groups, kernel_size=5, with_mask=True)
        self.dcn = ModulatedDeformConv2d(channels, channels, 3, padding=1, deformable_groups=deformable_groups)
        nn.init.zeros_(self.dcn.bias)  # mmcv's ModulatedDeformConv2d init (weight U(+-1/sqrt(C*9)), bias 0)
        self.cafs = CAFSBlock(channels, cafs_heads, cafs_mlp_ratio, cafs_query) if cafs else nn.Identity()
        if init == "identity":
            for level in self.levels:
                level.zero_init_()
            self.dcn_offsets.identity_init_()

    def refine_flow(self, nbr, cur, flow: torch.Tensor) -> torch.Tensor:
        """Coarse-to-fine residual refinement of ``flow`` (n, 2, h, w) -> refined flow, same shape (pixels)."""
        (nbr_l, nbr_m, nbr_s), (cur_l, cur_m, cur_s) = nbr, cur
        level_s, level_m, level_l = self.levels
        flow_s, flow_m = _resize_flow(flow, 0.25), _resize_flow(flow, 0.5)
        up_m = _resize_flow(level_s(flow_warp(nbr_s, flow_s), cur_s), 2.0)
        res_m = level_m(flow_warp(nbr_m, flow_m + up_m), cur_m)
        up_l = _resize_flow(res_m + up_m, 2.0)
        res_l = level_l(flow_warp(nbr_l, flow + up_l), cur_l)
        return res_l + up_l + flow

    def forward(self, nbr, cur, feat: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        flow = self.refine_flow(nbr, cur, flow)
        offsets, masks = self.dcn_offsets(flow_warp(nbr[0], flow), cur[0])
        if self.offset_bound is not None:
            offsets = self.offset_bound * torch.tanh(offsets)
        return self.cafs(self.dcn(flow_warp(feat, flow), offsets, masks))
