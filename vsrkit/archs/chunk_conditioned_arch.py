"""One SR network for all of STDO's chunks, told which chunk each patch belongs to (vsrkit's design of STDO's
"data-aware joint training", which the paper describes only in its abstract; docs/stdo.md).

The backbone (WDSR, EDSR, ...) is unchanged; the features after its ``layer`` module (the head conv) are modulated
per chunk, channel by channel: ``f * (1 + gamma[chunk]) + beta[chunk]`` with ``gamma``, ``beta`` of shape
``(num_chunks, channels)``, initialised to 0 (the plain backbone). That adds ``2 * k * channels`` numbers (128 for
WDSR-A with k = 2) to one backbone, against k - 1 more whole networks for STDO's per-chunk models.
"""
from __future__ import annotations

import torch
from torch import nn

from vsrkit.errors import ConfigError
from vsrkit.registry import ARCHS


@ARCHS.register()
class ChunkConditionedSR(nn.Module):
    """``backbone`` with a per-chunk channel modulation after its ``layer`` module.

    Args:
        backbone: ``network_g``-style section of the backbone (``{type: WDSR, scale: 2, ...}``).
        num_chunks: k.
        layer: name of the backbone module whose output is modulated (``head`` for WDSR and EDSR, ``conv1`` for
            ESPCN); it must have ``out_channels``.

    Forward: ``lq (n, c, h, w)`` or ``(n, t, c, h, w)`` and ``chunk``: one id per item ``(n,)`` (a training patch),
    or a grid of ids per frame ``(n, gy, gx)`` / ``(n, t, gy, gx)``, in which case the frame is cut into that grid,
    each patch is run alone with its own id and the outputs are stitched (STDO's patching). Returns the backbone's
    output shape, ``(n, [t,] c, s*h, s*w)``.
    """

    def __init__(self, backbone: dict | None = None, num_chunks: int = 2, layer: str = "head"):
        super().__init__()
        cfg = dict(backbone or {"type": "WDSR", "scale": 2})
        if "type" not in cfg:
            raise ConfigError("network_g.backbone: needs a 'type' (e.g. {type: WDSR, scale: 2})")
        if int(num_chunks) < 1:
            raise ConfigError(f"network_g.num_chunks: must be >= 1, got {num_chunks}")
        kind = cfg.pop("type")
        self.backbone = ARCHS.get(kind, where="network_g.backbone.type")(**cfg)
        try:
            target = self.backbone.get_submodule(layer)
        except AttributeError:
            raise ConfigError(f"network_g.layer: {kind} has no module '{layer}' "
                              f"(WDSR/EDSR: head, ESPCN: conv1)") from None
        channels = getattr(target, "out_channels", None)
        if channels is None:
            raise ConfigError(f"network_g.layer: '{layer}' of {kind} has no out_channels; name a conv layer")
        self.num_chunks = int(num_chunks)
        self.gamma = nn.Parameter(torch.zeros(self.num_chunks, channels))
        self.beta = nn.Parameter(torch.zeros(self.num_chunks, channels))
        self._ids: torch.Tensor | None = None
        target.register_forward_hook(self._modulate)

    def _modulate(self, module, inputs, out):
        ids = self._ids
        if ids is None:  # the backbone called on its own
            return out
        if ids.numel() != out.shape[0]:  # a clip folded into the batch: one id per item, repeated over frames
            ids = ids.repeat_interleave(out.shape[0] // ids.numel())
        return out * (1 + self.gamma[ids])[:, :, None, None] + self.beta[ids][:, :, None, None]

    def _run(self, lq: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        if bool(((ids < 0) | (ids >= self.num_chunks)).any()):
            raise ConfigError(f"chunk id outside 0..{self.num_chunks - 1}; check network_g.num_chunks")
        self._ids = ids
        try:
            return self.backbone(lq)
        finally:
            self._ids = None

    def forward(self, lq: torch.Tensor, chunk: torch.Tensor) -> torch.Tensor:
        chunk = torch.as_tensor(chunk, device=lq.device).long()
        n = lq.shape[0]
        if chunk.numel() == n:
            return self._run(lq, chunk.view(n))
        clip = lq.dim() == 5
        x = lq if clip else lq[:, None]
        n, t, c, h, w = x.shape
        if chunk.dim() == 3:
            chunk = chunk[:, None].expand(n, t, *chunk.shape[1:])
        if chunk.dim() != 4 or tuple(chunk.shape[:2]) != (n, t):
            raise ConfigError(f"chunk must be (n,), (n, gy, gx) or (n, t, gy, gx) for lq {tuple(lq.shape)}, got "
                              f"{tuple(chunk.shape)}")
        gy, gx = chunk.shape[2:]
        if h % gy or w % gx:
            raise ConfigError(f"a {h}x{w} frame cannot be cut into a {gy}x{gx} patch grid")
        ph, pw = h // gy, w // gx
        patches = x.reshape(n, t, c, gy, ph, gx, pw).permute(0, 1, 3, 5, 2, 4, 6).reshape(-1, c, ph, pw)
        y = self._run(patches, chunk.reshape(-1))
        c2, sph, spw = y.shape[1:]
        y = y.reshape(n, t, gy, gx, c2, sph, spw).permute(0, 1, 4, 2, 5, 3, 6).reshape(n, t, c2, gy * sph, gx * spw)
        return y if clip else y[:, 0]
