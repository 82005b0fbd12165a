"""What a model's ``infer`` returns: predicted frames and which (clip, frame) each one is."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Prediction:
    """Predicted frames of a batch, aligned frame by frame with their ground truth.

    Attributes:
        out: ``(n, k, c, H, W)`` float32 in [0, 1] on the CPU (c = 3 RGB or 1 Y).
        gt: ``(n, k, c, H, W)`` the ground truth of the same frames, or None (inference without GT).
        clips: ``n`` clip names (``source/clip`` when a test set has several LQ sources).
        frame_ids: ``(n, k)`` int64 index of each predicted frame in its clip's GT frames.
        baseline: ``(n, k, c, H, W)`` the shape's baseline of the same frames (bicubic upsampling of the matching LQ
            frame), or None; ``baseline_note`` then says why (logged once).
        baseline_name: what the baseline is; its columns are ``<baseline_name>_<metric>`` (e.g. ``bicubic_psnr``).
    """
    out: torch.Tensor
    gt: torch.Tensor | None
    clips: list[str]
    frame_ids: torch.Tensor
    baseline: torch.Tensor | None = None
    baseline_note: str = ""
    baseline_name: str = "bicubic"

    def select(self, keep: torch.Tensor) -> "Prediction":
        """The frames where ``keep`` ``(n, k)`` bool is True, for an item ``n = 1`` (windows that overlap)."""
        if self.out.shape[0] != 1:
            raise ValueError("Prediction.select works on one item at a time")
        idx = keep[0].nonzero().flatten()
        pick = (lambda x: None if x is None else x[:, idx])
        return Prediction(pick(self.out), pick(self.gt), self.clips, self.frame_ids[:, idx], pick(self.baseline),
                          self.baseline_note, self.baseline_name)


def batch_clips(batch: dict) -> list[str]:
    """The clip name of each item: ``batch['clip']`` (datasets emit it), else ``batch['key']``."""
    names = batch.get("clip", batch.get("key"))
    if names is None:
        raise KeyError("batch has neither 'clip' nor 'key'; a dataset item must name its clip")
    return [str(c) for c in names] if isinstance(names, (list, tuple)) else [str(names)]


def batch_frame_ids(batch: dict, n: int, k: int) -> torch.Tensor:
    """``(n, k)`` frame ids of the GT frames: ``batch['frame_ids']`` when the dataset emits it, else ``0..k-1``."""
    ids = batch.get("frame_ids")
    if ids is None:
        return torch.arange(k).expand(n, k).clone()
    ids = torch.as_tensor(ids).long().reshape(n, -1)
    if ids.shape[1] != k:
        raise ValueError(f"batch frame_ids has {ids.shape[1]} entries per item but the GT has {k} frames")
    return ids
