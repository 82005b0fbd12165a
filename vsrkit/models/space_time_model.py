"""Space-time video SR: ``window`` LR frames in, ``2 * window - 1`` HR frames out (x2 frame rate), e.g. 4 -> 7.

Training items are fixed windows (Vimeo septuplets with ``drop_even_frames``: LQ = frames 1, 3, 5, 7, GT = all 7).
A test item is a whole clip whose LQ holds the clip's even frames (0-based); the model runs windows of
``val.window`` LQ frames with a stride of ``val.stride`` (the last window is moved to end at the last LQ frame),
and each window's output frame ``j`` is clip frame ``2 * start + j``. Frames that an earlier window already produced
are not scored again. GT frames after the last LQ frame (an even-length clip) have no window and are not scored.
There is no bicubic baseline column (the in-between frames have no LQ frame). ``val.baseline: trilinear`` adds a
``trilinear_<metric>`` column per metric: each LQ frame bilinearly upsampled, the in-between frames the mean of their
two neighbours (trilinear interpolation sampled at the exact output times; MSITF's published skip is a trilinear
resize whose time axis is scaled by N / (2N - 1) instead, see docs/msitf.md).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vsrkit.errors import ConfigError
from vsrkit.models.base_model import BaseModel
from vsrkit.models.prediction import Prediction, batch_clips, batch_frame_ids
from vsrkit.registry import MODELS


@MODELS.register()
class SpaceTimeVSRModel(BaseModel):
    """Windows of LQ frames -> twice the frame rate at ``scale`` x the size."""

    option_schema = {"val": {"window": int, "stride": int, "baseline": ("none", "trilinear")}}

    def window(self) -> tuple[int, int]:
        """``(val.window, val.stride)``: LQ frames per network run and the step between runs."""
        val = self.opt.get("val", {})
        window, stride = val.get("window", 4), val.get("stride", 3)
        if window < 2 or not 1 <= stride <= window - 1:
            raise ConfigError(f"{self.where}: val.window ({window}) must be >= 2 and val.stride ({stride}) between "
                              f"1 and window - 1, so that windows leave no frame out")
        return window, stride

    def window_starts(self, num_lq: int) -> list[int]:
        """First LQ frame of each window: ``0, stride, 2 * stride, ...``, plus one ending at the last LQ frame."""
        window, stride = self.window()
        if num_lq < window:
            raise ConfigError(f"{self.where}: an item has {num_lq} LQ frames, fewer than val.window ({window})")
        starts = list(range(0, num_lq - window + 1, stride))
        if starts[-1] + window < num_lq:
            starts.append(num_lq - window)
        return starts

    def baseline_frames(self, lq: torch.Tensor) -> torch.Tensor:
        """Trilinear space-time baseline of a window: ``(n, N, c, h, w)`` -> ``(n, 2N-1, c, s*h, s*w)``, output
        ``2k`` = bilinear x s of LQ frame ``k``, ``2k+1`` = the mean of outputs ``2k`` and ``2k+2``."""
        n, t, c, h, w = lq.shape
        scale = int(self.opt.get("scale", 4))
        up = F.interpolate(lq.reshape(n * t, c, h, w).float(), scale_factor=scale, mode="bilinear",
                           align_corners=False).view(n, t, c, h * scale, w * scale)
        out = up.new_empty(n, 2 * t - 1, c, h * scale, w * scale)
        out[:, 0::2] = up
        out[:, 1::2] = (up[:, :-1] + up[:, 1:]) / 2
        return out.clamp_(0, 1)

    @torch.no_grad()
    def infer(self, batch: dict, net: nn.Module | None = None) -> Prediction:
        """Every window's output frames, at clip positions ``2 * start + j``, with the matching GT frames."""
        net = net or self.eval_net
        was_training = net.training
        net.eval()
        lq, gt = batch["lq"], batch.get("gt")
        n, t = lq.shape[:2]
        window, _ = self.window()
        per_frame = {k for k, v in batch.items() if torch.is_tensor(v) and v.dim() >= 2 and v.shape[1] == t
                     and k not in ("gt", "frame_ids")}
        trilinear = self.opt.get("val", {}).get("baseline", "none") == "trilinear"
        outs, bases, positions = [], [], []
        for s in self.window_starts(t):
            part = {k: v[:, s:s + window] if k in per_frame else v for k, v in batch.items() if k != "gt"}
            part = {k: v.to(self.device) if torch.is_tensor(v) else v for k, v in part.items()}
            with self.autocast():
                y = self.run(net, part).float().clamp_(0, 1).cpu()
            outs.append(y)
            if trilinear:
                bases.append(self.baseline_frames(batch["lq"][:, s:s + window].cpu()))
            positions.extend(range(2 * s, 2 * s + y.shape[1]))
        net.train(was_training)
        out, pos = torch.cat(outs, dim=1), torch.tensor(positions)
        base = torch.cat(bases, dim=1) if trilinear else None
        gt_sel, ids = None, pos.expand(n, -1).clone()
        if gt is not None:
            inside = pos < gt.shape[1]
            out, pos = out[:, inside], pos[inside]
            base = base[:, inside] if trilinear else None
            gt_sel = gt.cpu().float()[:, pos]
            ids = batch_frame_ids(batch, n, gt.shape[1])[:, pos]
        if trilinear:
            return Prediction(out, gt_sel, batch_clips(batch), ids, base, baseline_name="trilinear")
        return Prediction(out, gt_sel, batch_clips(batch), ids, None,
                          "space-time output: the in-between frames have no LQ frame to upsample "
                          "(val.baseline: trilinear adds a trilinear column)")
