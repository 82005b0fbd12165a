"""Video SR: recurrent (whole clip, or chunked/tiled) and sliding window -> centre frame.

Recurrent networks return a frame per input frame; sliding-window networks (EDVR, PTIA-style, RCVSR) return the
centre frame, ``(n, c, H, W)`` or ``(n, 1, c, H, W)``, for a window item whose GT is the centre frame
(``gt_frames: center``; test windows over every frame with edge padding by name: ``padding: reflection_circle |
replicate | ...``). ``val.center_frame_only: true`` keeps only the centre output frame of a network that returns
them all (BasicSR's contract for recurrent networks tested on windows).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vsrkit.inference.runner import InferenceSettings, run_inference
from vsrkit.models.base_model import BaseModel, NonFiniteLossError
from vsrkit.models.prediction import Prediction, batch_clips, batch_frame_ids
from vsrkit.registry import MODELS

__all__ = ["VideoSRModel", "NonFiniteLossError", "bicubic_upsample"]


def bicubic_upsample(lq: torch.Tensor, scale: int) -> torch.Tensor:
    """``(n, t, c, h, w)`` -> ``(n, t, c, sh, sw)`` bicubic (align_corners=False), clamped to [0, 1]."""
    n, t, c, h, w = lq.shape
    up = F.interpolate(lq.reshape(n * t, c, h, w).float(), scale_factor=scale, mode="bicubic", align_corners=False)
    return up.reshape(n, t, c, h * scale, w * scale).clamp(0, 1)


def centre(x: torch.Tensor) -> torch.Tensor:
    """``(n, t, ...)`` -> ``(n, 1, ...)``, the frame ``t // 2``."""
    return x[:, x.shape[1] // 2:x.shape[1] // 2 + 1]


@MODELS.register()
class VideoSRModel(BaseModel):
    """Recurrent or sliding-window video SR.

    Batches: ``lq (n, t, c, h, w)``, ``gt (n, t', c, sh, sw)`` (t' = t, or 1 for a centre-frame window), ``clip``,
    ``frame_ids (n, t')`` and any side inputs the network's ``forward`` names.
    """

    @property
    def center_frame_only(self) -> bool:
        return bool(self.opt.get("val", {}).get("center_frame_only"))

    def target(self, batch: dict, out: torch.Tensor) -> torch.Tensor:
        gt = batch["gt"]
        if out.shape[1] == 1 and gt.shape[1] > 1 or self.center_frame_only and gt.shape[1] > 1:
            return centre(gt)
        return gt

    def forward_clip(self, net: nn.Module, batch: dict) -> torch.Tensor:
        """The network over a whole item (or chunked/tiled per ``val.chunk``/``val.tile``), ``(n, k, c, H, W)``."""
        val = self.opt.get("val", {})
        if val.get("tile") or val.get("chunk"):  # bounded memory: slices are moved to the device one by one
            settings = InferenceSettings(scale=self.opt.get("scale", 4), chunk=val.get("chunk"),
                                         chunk_overlap=val.get("chunk_overlap", 2), tile=val.get("tile"),
                                         tile_overlap=val.get("tile_overlap", 16),
                                         autocast=self.opt.get("precision") if self.autocast_dtype else None)
            return run_inference(net, batch["lq"], self.net_inputs(batch), settings, device=self.device)
        batch = {k: v.to(self.device) if torch.is_tensor(v) else v for k, v in batch.items()}
        with self.autocast():
            return self.run(net, batch)

    @torch.no_grad()
    def infer(self, batch: dict, net: nn.Module | None = None) -> Prediction:
        """Outputs (float, not clamped: the scorers round and clamp, or score ``rounding: none`` as they are) with
        their clip and frame ids, and the bicubic baseline of the same frames."""
        net = net or self.eval_net
        was_training = net.training
        net.eval()
        out = self.forward_clip(net, batch).float().cpu()
        net.train(was_training)
        lq = batch["lq"].cpu()
        gt = batch["gt"].cpu().float() if "gt" in batch else None
        centred = self.center_frame_only and out.shape[1] > 1
        if centred:
            out = centre(out)
        n, k = out.shape[:2]
        if gt is not None and gt.shape[1] != k and k == 1:
            gt = centre(gt)
        ids = batch_frame_ids(batch, n, gt.shape[1] if gt is not None else k)
        if ids.shape[1] != k and k == 1:
            ids = centre(ids)
        scale = self.opt.get("scale", 4)
        if k == lq.shape[1]:
            baseline, note = bicubic_upsample(lq, scale), ""
        elif k == 1:
            baseline, note = bicubic_upsample(centre(lq), scale), ""
        else:
            baseline, note = None, f"{k} output frames for {lq.shape[1]} input frames have no matching LQ frame"
        return Prediction(out, gt, batch_clips(batch), ids, baseline, note)
