"""MV-VSR: codec-guided bidirectional recurrent video SR, x4 (repo ``mohamedshakir3/mv-flow-vsr``), and its
BasicVSR-style SPyNet baseline with the same trunk (``alignment='spynet'``).

Data flow (``reference/methods.md`` section 2), per clip ``lq (n, t, 3, h, w)``::

    feat_t   = LReLU(conv(LReLU(conv(lq_t))))                              (n, C, h, w)
    flow     = MV refiner(codec MVs)  |  SPyNet(lq_t, lq_t+-1)  |  0          (n, 2, h, w), LR pixels
    backward pass, t = T-1..0:  b_t = ResBlocks(align(b_t+1, b_t+2) + feat_t)   (flows to frame t+1: mv_fwd)
    forward  pass, t = 0..T-1:  f_t = ResBlocks(align(f_t-1, f_t-2) + feat_t)   (flows to frame t-1: mv_bwd)
        align(h1, h2) = warp(h1, flow1)                                         first order
                      = 0.5 * (warp(h1, flow1) + warp(h2, flow1 + warp(flow2, flow1)))   second order (from step 2)
    out_t    = conv(PixelShuffle x2 x2(LReLU(conv(fuse1x1(cat(f_t, b_t))))))      (n, 3, 4h, 4w)

State starts at zero, so the first step of each pass is ``ResBlocks(feat_t)``.

Motion convention (vsrkit): ``mv_bwd[:, i]`` = where each pixel of frame ``i`` comes from in frame ``i-1`` (used in the
forward pass to warp the state from ``i-1`` to ``i``); ``mv_fwd[:, i]`` = where it comes from in frame ``i+1`` (used in
the backward pass). Both in LR pixels at unit temporal distance, channel 0 = x, as ``vsrkit.codec.read_motion``
returns them. ``frame_types`` uses FFmpeg numbering: I=1, P=2, B=3, 0 = unknown.

Differences from the published code, all deliberate (set the flag to get the published behaviour):

* **P-frame proxy on P-frames.** The published code applies ``where(frame_type == 1, -mv_fwd, mv_bwd)``; in FFmpeg
  numbering 1 is the I-frame, so the proxy never touched a P-frame. vsrkit tests ``== 2`` (P). A P-frame only
  references the past, so the decoder gives it motion towards ``t-1`` and none towards ``t+1``; the proxy fills the
  missing field of a P-frame from the negated other field (constant-velocity assumption). The published code names
  the fields the other way round (its "forward" field holds the past-pointing vectors, ``source <= 0``), which is why
  it reads "backward = -forward"; in vsrkit's names the usually missing field of a P-frame is ``mv_fwd``. Both
  directions are handled: a field counts as missing when it is all zero on a P-frame while the other is not.
  ``proxy_frame_type=1`` reproduces the published selection.
* **MV units.** The published refiner takes ``mv / 4.0`` and returns ``mv / 4 + delta``, so at initialisation it warps
  by a quarter of the codec motion. vsrkit's fields are already in LR pixels (``motion_x / motion_scale`` of the LR
  bitstream), so the refiner input is still normalised by ``mv_norm = 4.0`` (keeps the conv inputs small) but the
  zero-initialised residual is added in pixels: ``flow = mv + mv_norm * refiner(mv / mv_norm)``. At initialisation
  the warp follows the codec motion exactly. ``published_mv_scaling=True`` gives ``flow = mv/4 + refiner(mv/4)``.
* **Zero motion where a frame has no vector.** ``read_motion`` returns 0 where the codec gave no vector in a
  direction (intra blocks, I-frames, B-frame blocks predicted from one side only) and marks it in ``valid_*``; the
  network does not read those masks and fills nothing there (the proxy only fills a P-frame's *wholly* missing
  field), so such pixels are warped by ``mv_norm * refiner(0)`` alone: a near-static assumption. The published
  rasteriser leaves the same zeros, and its proxy never fills B-frames either. ``mv_fill`` (default ``[]``, the
  published behaviour) fills those holes per pixel after the proxy, with the fillers of :mod:`vsrkit.archs.mv_fill`
  (``opposite``: constant velocity; ``temporal``: the same frame pair's field of the neighbouring frame, inverted;
  ``spatial``: mean of the nearest valid blocks), in the order given; it reads ``valid_bwd``/``valid_fwd`` from the
  batch (without them a vector of exactly 0 counts as a hole). ``mv_valid_input`` gives the refiner the codec's
  validity as a third input channel (1 = the codec's own vector, 0 = filled or none).
* **No PartitionMap.** The published ``MVSR`` also builds ``partion_map`` (``PartitionMap(mid)``, 221,568 parameters
  at ``mid=64``) that its ``forward`` never calls; vsrkit leaves it out and the checkpoint converter
  (``mvvsr_convert.py``) drops those keys with a logged note.
* Block centres, reference distance and REDS4 exclusion are handled by the codec/data areas (``read_motion`` returns
  dense fields at unit temporal distance).

``faithful=True`` reproduces the published forward exactly (the parity fixture checks it to 1e-9 in float64):
``flow = mv/4 + refiner(mv/4)``; the P-frame proxy of the published code, i.e. an *unconditional* replacement in one
direction on the frames with ``frame_types == 1``: ``mv_fwd := -mv_bwd`` in vsrkit's names (the published
``mv_bwd := -mv_fwd``, whose fields are named the other way round), applied after ``ablate_mvs`` zeroes the motion;
and the published warp (:func:`published_warp`), whose ``[-1, 1]`` base grid is built in float32 even for a float64
network. ``proxy_frame_type`` and ``published_mv_scaling`` are implied; ``pframe_proxy=False`` still drops the proxy.

Ablations: ``ablate_mvs`` zeroes the MVs (the refiner still runs, as ``--ablate_mvs`` in the published code),
``second_order=False`` disables the chain, ``alignment='none'`` uses no warp at all (zero flow).
Default config (``mid_channels=64, num_blocks=15``, ``alignment='mv'``): 2,597,925 parameters, as published (2.598M).
"""
from __future__ import annotations

import torch
from torch import nn

import torch.nn.functional as F

from vsrkit.archs.blocks import (PixelShuffleUpsampler, ResidualBlock, compose_flow, flow_warp, make_layer,
                                 upsample_image)
from vsrkit.archs.mv_fill import FILLERS, fill_motion, validity_from_zeros
from vsrkit.archs.spynet import SPyNet
from vsrkit.errors import ConfigError
from vsrkit.registry import ARCHS

ALIGNMENTS = ("mv", "spynet", "none")
P_FRAME = 2
#: the picture type the published code's proxy selects (``frame_types == 1``: the I-frame in FFmpeg numbering)
PUBLISHED_PROXY_TYPE = 1


class MVRefiner(nn.Module):
    """Zero-initialised residual correction of codec MVs: conv 2->C, ReLU, conv C->2 (C=32).

    ``(m, 2, h, w)`` MVs in LR pixels -> ``(m, 2, h, w)`` flow in LR pixels. See the module docstring for units.
    ``extra_channels`` more input channels (e.g. the codec validity, ``(m, 1, h, w)``) are concatenated to the
    normalised MVs.
    """

    def __init__(self, hidden: int = 32, mv_norm: float = 4.0, published_mv_scaling: bool = False,
                 extra_channels: int = 0):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(2 + extra_channels, hidden, 3, 1, 1), nn.ReLU(inplace=True),
                                 nn.Conv2d(hidden, 2, 3, 1, 1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.mv_norm = float(mv_norm)
        self.published_mv_scaling = published_mv_scaling

    def forward(self, mv: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        x = mv / self.mv_norm
        inp = x if extra is None else torch.cat([x, extra.to(x.dtype)], dim=1)
        if self.published_mv_scaling:
            return x + self.net(inp)
        return mv + self.net(inp) * self.mv_norm


def pframe_proxy(mv_bwd: torch.Tensor, mv_fwd: torch.Tensor, frame_types: torch.Tensor,
                 frame_type: int = P_FRAME) -> tuple[torch.Tensor, torch.Tensor]:
    """Fill the missing motion field of P-frames from the negated other field.

    Args:
        mv_bwd, mv_fwd: ``(n, t, 2, h, w)`` in pixels (vsrkit convention, see module docstring).
        frame_types: ``(n, t)`` FFmpeg picture types (I=1, P=2, B=3).
        frame_type: which frames get the proxy (2 = P; 1 reproduces the published bug).
    Returns:
        ``(mv_bwd, mv_fwd)``: on a selected frame whose ``mv_fwd`` is all zero and ``mv_bwd`` not,
        ``mv_fwd = -mv_bwd``; and symmetrically. Other frames are unchanged.
    """
    sel = (frame_types.to(mv_bwd.device) == frame_type).view(*frame_types.shape, 1, 1, 1)
    bwd_any = mv_bwd.abs().amax(dim=(2, 3, 4), keepdim=True) > 0
    fwd_any = mv_fwd.abs().amax(dim=(2, 3, 4), keepdim=True) > 0
    fill_fwd = sel & bwd_any & ~fwd_any
    fill_bwd = sel & fwd_any & ~bwd_any
    return torch.where(fill_bwd, -mv_fwd, mv_bwd), torch.where(fill_fwd, -mv_bwd, mv_fwd)


def published_pframe_proxy(mv_bwd: torch.Tensor, mv_fwd: torch.Tensor,
                           frame_types: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The published proxy: on every frame with ``frame_types == 1``, ``mv_fwd := -mv_bwd``, unconditionally.

    Args:
        mv_bwd, mv_fwd: ``(n, t, 2, h, w)`` in vsrkit's convention (``mv_bwd`` points into the past; it is the
            published ``mv_fwd``, and vsrkit's ``mv_fwd`` is the published ``mv_bwd``).
        frame_types: ``(n, t)`` FFmpeg picture types.
    Returns:
        ``(mv_bwd, mv_fwd)``: ``mv_bwd`` unchanged; ``mv_fwd`` replaced by ``-mv_bwd`` on the selected frames whatever
        it held (the published ``where(frame_types == 1, -mv_fwd, mv_bwd)`` in its own names).
    """
    sel = (frame_types.to(mv_bwd.device) == PUBLISHED_PROXY_TYPE).view(*frame_types.shape, 1, 1, 1)
    return mv_bwd, torch.where(sel, -mv_bwd, mv_fwd)


def published_warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp as the published ``MVWarp``: bilinear, ``border`` padding, ``align_corners=True``.

    ``x (n, c, h, w)``, ``flow (n, 2, h, w)`` in pixels (channel 0 = x). The sampling grid is a ``[-1, 1]`` base built
    with ``torch.linspace`` in float32 plus ``flow * 2 / (size - 1)``; for a float64 ``flow`` the float32 base is
    promoted, so positions carry float32 rounding (up to 6e-8 of the half-width). :func:`flow_warp` builds the grid
    in the working dtype instead; the two differ by about 2e-8 on the parity fixture's output. ``h`` or ``w`` of 1
    divides by zero in the published code: here it raises ValueError.
    """
    n, _, h, w = x.shape
    if h < 2 or w < 2:
        raise ValueError(f"published_warp: the published warp divides by (size - 1); got h={h}, w={w}")
    ys = torch.linspace(-1, 1, h, device=x.device, dtype=torch.float32)
    xs = torch.linspace(-1, 1, w, device=x.device, dtype=torch.float32)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    base = torch.stack([gx, gy], dim=-1).unsqueeze(0)                       # (1, h, w, 2), float32
    step = torch.stack([flow[:, 0] * (2.0 / (w - 1)), flow[:, 1] * (2.0 / (h - 1))], dim=-1)
    return F.grid_sample(x, base + step, mode="bilinear", padding_mode="border", align_corners=True)


@ARCHS.register()
class MVVSR(nn.Module):
    """Codec-guided bidirectional recurrent VSR (and its SPyNet / no-alignment variants on the same trunk).

    Args:
        mid_channels: feature channels C (64 published; 32 for the compact CPU demo).
        num_blocks: residual blocks per propagation direction (15 published; e.g. 4 for the demo).
        scale: upscaling factor, a power of two (4).
        alignment: ``mv`` (codec MVs + refiner), ``spynet`` (BasicVSR-style baseline, flows from SPyNet on the LR
            frames) or ``none`` (no warp).
        second_order: second-order propagation (chain of two flows) from the third step of each pass.
        pframe_proxy: fill the missing motion field of P-frames (``alignment='mv'`` only, needs ``frame_types``).
        proxy_frame_type: picture type the proxy applies to (2 = P; 1 = the published code's I-frame selection).
        ablate_mvs: zero the codec MVs (the paper's ``--ablate_mvs``).
        mv_norm: normalisation of the refiner input (the published ``mv / 4.0``).
        published_mv_scaling: warp with ``mv / 4 + delta`` as the published code (off: ``mv + delta``, LR pixels).
        refiner_channels: hidden channels of the MV refiner (32).
        warp_padding: ``border`` (MV-VSR) or ``zeros`` (BasicVSR) for feature and flow warps.
        image_skip: ``None`` (published: no skip) or ``bilinear`` / ``bicubic``: add the upsampled LR image. With a
            skip, ``conv_last`` starts at zero, so the untrained network outputs exactly the upsampled image and
            training only has to learn the residual (a vsrkit choice for short runs such as the CPU demo).
        spynet_pretrained: local SPyNet weights (BasicSR/mmagic layout) for ``alignment='spynet'``; None = random init.
        faithful: reproduce the published forward exactly (see the module docstring): published MV scaling, the
            published unconditional one-direction proxy on ``frame_types == 1``, the published float32-grid warp.
            Needs ``alignment='mv'``, ``scale=4``, ``mv_norm=4``, ``refiner_channels=32``, ``warp_padding='border'``
            and no ``image_skip`` (the published network); ``proxy_frame_type`` and ``published_mv_scaling`` are
            implied.
        mv_fill: per-pixel filling of the codec fields' holes after the proxy, fillers of
            :mod:`vsrkit.archs.mv_fill` applied in order (``opposite``, ``temporal``, ``spatial``; a list or a
            comma-separated string). ``[]`` (default) = the published behaviour: holes stay 0.
        mv_valid_input: give the refiner the codec validity (``valid_bwd``/``valid_fwd``) as a third channel.
    """

    def __init__(self, mid_channels: int = 64, num_blocks: int = 15, scale: int = 4, alignment: str = "mv",
                 second_order: bool = True, pframe_proxy: bool = True, proxy_frame_type: int = P_FRAME,
                 ablate_mvs: bool = False, mv_norm: float = 4.0, published_mv_scaling: bool = False,
                 refiner_channels: int = 32, warp_padding: str = "border", image_skip: str | None = None,
                 spynet_pretrained: str | None = None, faithful: bool = False,
                 mv_fill: list[str] | str | None = None, mv_valid_input: bool = False):
        super().__init__()
        if isinstance(mv_fill, str):
            mv_fill = [s.strip() for s in mv_fill.split(",") if s.strip()]
        mv_fill = list(mv_fill or [])
        bad = [f for f in mv_fill if f not in FILLERS]
        if bad:
            raise ConfigError(f"network_g.mv_fill: unknown filler(s) {', '.join(map(repr, bad))}; use a list of "
                              f"{', '.join(FILLERS)} (or [] for none)")
        if (mv_fill or mv_valid_input) and (alignment != "mv" or faithful):
            raise ConfigError("network_g.mv_fill / mv_valid_input fill or mark codec motion: they need alignment: mv "
                              "and faithful: false (the published network has neither); remove them")
        if alignment not in ALIGNMENTS:
            raise ConfigError(f"network_g.alignment: unknown value {alignment!r}; use one of {', '.join(ALIGNMENTS)}")
        if warp_padding not in ("border", "zeros", "reflection"):
            raise ConfigError(f"network_g.warp_padding: unknown value {warp_padding!r}; "
                              f"use border, zeros or reflection")
        if image_skip not in (None, "bilinear", "bicubic"):
            raise ConfigError(f"network_g.image_skip: unknown value {image_skip!r}; use null, bilinear or bicubic")
        if scale < 2 or scale & (scale - 1):
            raise ConfigError(f"network_g.scale: {scale} is not a power of two >= 2 (PixelShuffle x2 steps)")
        if spynet_pretrained and alignment != "spynet":
            raise ConfigError("network_g.spynet_pretrained is set but alignment is not 'spynet'; remove one of them")
        if faithful:
            published = {"alignment": (alignment, "mv"), "scale": (scale, 4), "mv_norm": (mv_norm, 4.0),
                         "refiner_channels": (refiner_channels, 32), "warp_padding": (warp_padding, "border"),
                         "image_skip": (image_skip, None)}
            for key, (value, want) in published.items():
                if value != want:
                    raise ConfigError(f"network_g.{key}: {value!r} does not exist in the published network that "
                                      f"faithful: true reproduces; set {key}: {want!r} or faithful: false")
            published_mv_scaling = True
        self.faithful = faithful
        self.mid_channels = mid_channels
        self.scale = scale
        self.alignment = alignment
        self.second_order = second_order
        self.pframe_proxy = pframe_proxy
        self.proxy_frame_type = proxy_frame_type
        self.ablate_mvs = ablate_mvs
        self.warp_padding = warp_padding
        self.image_skip = image_skip
        self.mv_fill = mv_fill
        self.mv_valid_input = mv_valid_input

        # Feature extraction: conv 3->C, LReLU, conv C->C, LReLU.
        self.feat_extract = nn.Sequential(
            nn.Conv2d(3, mid_channels, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(mid_channels, mid_channels, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True))
        # Alignment.
        if alignment == "mv":
            self.mv_refiner = MVRefiner(refiner_channels, mv_norm, published_mv_scaling, int(mv_valid_input))
        elif alignment == "spynet":
            self.spynet = SPyNet(pretrained=spynet_pretrained)
        # Propagation trunks.
        self.backward_trunk = make_layer(ResidualBlock, num_blocks, num_feat=mid_channels)
        self.forward_trunk = make_layer(ResidualBlock, num_blocks, num_feat=mid_channels)
        # Output head.
        self.fusion = nn.Conv2d(2 * mid_channels, mid_channels, 1, 1, 0)
        self.conv_hr = nn.Conv2d(mid_channels, mid_channels, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.1, inplace=True)
        self.upsampler = PixelShuffleUpsampler(mid_channels, scale)
        self.conv_last = nn.Conv2d(mid_channels, 3, 3, 1, 1)
        if image_skip is not None:
            nn.init.zeros_(self.conv_last.weight)
            nn.init.zeros_(self.conv_last.bias)

    # ----------------------------------------------------------------------------------------------- alignment
    def compute_flows(self, lq: torch.Tensor, mv_bwd: torch.Tensor | None = None, mv_fwd: torch.Tensor | None = None,
                      frame_types: torch.Tensor | None = None, valid_bwd: torch.Tensor | None = None,
                      valid_fwd: torch.Tensor | None = None):
        """Flows used by the two passes, ``(flows_bwd, flows_fwd)`` each ``(n, t, 2, h, w)`` in LR pixels
        (``flows_bwd[:, i]``: frame i -> i-1, used by the forward pass; ``flows_fwd[:, i]``: i -> i+1), or
        ``(None, None)`` for ``alignment='none'``. ``valid_*`` ``(n, t, h, w)`` are read only with ``mv_fill`` or
        ``mv_valid_input``."""
        n, t, _, h, w = lq.shape
        if self.alignment == "none":
            return None, None
        if self.alignment == "spynet":
            zero = lq.new_zeros(n, 1, 2, h, w)
            if t < 2:
                return zero, zero
            cur, nxt = lq[:, :-1].reshape(-1, 3, h, w), lq[:, 1:].reshape(-1, 3, h, w)
            fwd = self.spynet(cur, nxt).view(n, t - 1, 2, h, w)   # frame i -> i+1, i < t-1
            bwd = self.spynet(nxt, cur).view(n, t - 1, 2, h, w)   # frame i+1 -> i
            return torch.cat([zero, bwd], dim=1), torch.cat([fwd, zero], dim=1)
        # alignment == 'mv'
        if mv_bwd is None or mv_fwd is None:
            raise ConfigError("MVVSR(alignment='mv') needs mv_bwd and mv_fwd (n, t, 2, h, w); the dataset must "
                              "provide motion (codec clips) or set network_g.alignment: spynet")
        for name, mv in (("mv_bwd", mv_bwd), ("mv_fwd", mv_fwd)):
            if mv.shape != (n, t, 2, h, w):
                raise ValueError(f"MVVSR: {name} has shape {tuple(mv.shape)}, expected {(n, t, 2, h, w)}")
        mv_bwd, mv_fwd = mv_bwd.to(lq.dtype), mv_fwd.to(lq.dtype)
        extra = None
        if self.mv_valid_input:  # zeroed motion (ablate_mvs) carries no codec vector anywhere
            extra = lq.new_zeros(n * 2 * t, 1, h, w)
        if self.faithful:  # published order: zero (ablation), then the proxy whatever the fields hold
            if self.ablate_mvs:
                mv_bwd, mv_fwd = torch.zeros_like(mv_bwd), torch.zeros_like(mv_fwd)
            if self.pframe_proxy and frame_types is not None:
                mv_bwd, mv_fwd = published_pframe_proxy(mv_bwd, mv_fwd, frame_types.view(n, t))
        elif self.ablate_mvs:
            mv_bwd, mv_fwd = torch.zeros_like(mv_bwd), torch.zeros_like(mv_fwd)
        else:
            codec_valid = None
            if self.mv_fill or self.mv_valid_input:
                codec_valid = [self._validity(v, mv, (n, t, h, w), name) for v, mv, name in
                               ((valid_bwd, mv_bwd, "valid_bwd"), (valid_fwd, mv_fwd, "valid_fwd"))]
            if self.pframe_proxy and frame_types is not None:
                raw_b, raw_f = mv_bwd, mv_fwd
                mv_bwd, mv_fwd = pframe_proxy(mv_bwd, mv_fwd, frame_types.view(n, t), self.proxy_frame_type)
            if self.mv_fill:
                vb, vf = codec_valid
                if self.pframe_proxy and frame_types is not None:  # a proxy-filled field: valid where its source is
                    vb = vb | ((mv_bwd != raw_b).flatten(2).any(-1)[..., None, None] & codec_valid[1])
                    vf = vf | ((mv_fwd != raw_f).flatten(2).any(-1)[..., None, None] & codec_valid[0])
                mv_bwd, mv_fwd, _, _ = fill_motion(mv_bwd, mv_fwd, vb, vf, self.mv_fill)
            if self.mv_valid_input:
                extra = torch.cat(codec_valid, dim=1).reshape(-1, 1, h, w)
        both = self.mv_refiner(torch.cat([mv_bwd, mv_fwd], dim=1).view(-1, 2, h, w), extra).view(n, 2 * t, 2, h, w)
        return both[:, :t], both[:, t:]

    @staticmethod
    def _validity(valid: torch.Tensor | None, mv: torch.Tensor, shape: tuple, name: str) -> torch.Tensor:
        """``(n, t, h, w)`` bool validity of a codec field: the batch's mask, or non-zero vectors without one."""
        if valid is None:
            return validity_from_zeros(mv)
        if tuple(valid.shape) != shape:
            raise ValueError(f"MVVSR: {name} has shape {tuple(valid.shape)}, expected {shape}")
        return valid.to(device=mv.device, dtype=torch.bool)

    # ---------------------------------------------------------------------------------------------- propagation
    def _align(self, states: list, flows: torch.Tensor | None, order: list[int], step: int) -> torch.Tensor:
        """Aligned previous state for the frame ``order[step]`` (``step >= 1``)."""
        i, prev = order[step], order[step - 1]
        h1 = states[prev]
        if flows is None:
            a1 = h1
        elif self.faithful:
            flow1 = flows[:, i]
            a1 = published_warp(h1, flow1)
        else:
            flow1 = flows[:, i]
            a1 = flow_warp(h1, flow1, padding_mode=self.warp_padding)
        if not self.second_order or step < 2:
            return a1
        h2 = states[order[step - 2]]
        if flows is None:
            a2 = h2
        elif self.faithful:
            a2 = published_warp(h2, flow1 + published_warp(flows[:, prev], flow1))
        else:
            chain = compose_flow(flow1, flows[:, prev], padding_mode=self.warp_padding)
            a2 = flow_warp(h2, chain, padding_mode=self.warp_padding)
        return 0.5 * (a1 + a2)

    def _propagate(self, feats: torch.Tensor, flows: torch.Tensor | None, trunk: nn.Module, reverse: bool) -> list:
        t = feats.shape[1]
        order = list(range(t - 1, -1, -1)) if reverse else list(range(t))
        states: list = [None] * t
        for step, i in enumerate(order):
            x = feats[:, i] if step == 0 else self._align(states, flows, order, step) + feats[:, i]
            states[i] = trunk(x)
        return states

    # ------------------------------------------------------------------------------------------------- forward
    def forward(self, lq: torch.Tensor, mv_bwd: torch.Tensor | None = None, mv_fwd: torch.Tensor | None = None,
                frame_types: torch.Tensor | None = None, valid_bwd: torch.Tensor | None = None,
                valid_fwd: torch.Tensor | None = None) -> torch.Tensor:
        """``lq (n, t, 3, h, w)`` in [0, 1]; ``mv_bwd``/``mv_fwd (n, t, 2, h, w)`` LR pixels (``alignment='mv'``);
        ``frame_types (n, t)`` FFmpeg picture types; ``valid_bwd``/``valid_fwd (n, t, h, w)`` bool, where the codec
        gave a vector (read only with ``mv_fill`` / ``mv_valid_input``). Returns ``(n, t, 3, scale*h, scale*w)``."""
        if lq.dim() != 5 or lq.shape[2] != 3:
            raise ValueError(f"MVVSR: lq must be (n, t, 3, h, w), got {tuple(lq.shape)}")
        n, t, c, h, w = lq.shape
        flows_bwd, flows_fwd = self.compute_flows(lq, mv_bwd, mv_fwd, frame_types, valid_bwd, valid_fwd)
        feats = self.feat_extract(lq.reshape(-1, c, h, w)).view(n, t, -1, h, w)
        bwd_states = self._propagate(feats, flows_fwd, self.backward_trunk, reverse=True)
        fwd_states = self._propagate(feats, flows_bwd, self.forward_trunk, reverse=False)
        outs = []
        for i in range(t):
            x = self.fusion(torch.cat([fwd_states[i], bwd_states[i]], dim=1))
            x = self.conv_last(self.upsampler(self.lrelu(self.conv_hr(x))))
            if self.image_skip is not None:
                x = x + upsample_image(lq[:, i], self.scale, self.image_skip)
            outs.append(x)
        return torch.stack(outs, dim=1)
