"""PTIA's training model: :class:`~vsrkit.models.video_sr_model.VideoSRModel` plus the published CVCP supervision.

The published CVCP model (``VideoCompressCVCPModel``) computes its pixel loss against ``gt[:, :, 0:1]``: the first
channel of the GT frames, broadcast over the network's three output channels. ``train.target: gt_first_channel``
reproduces it (the target is that channel repeated, which gives the same mean as the published broadcast);
``train.target: gt`` (default) is ordinary supervision. Which quantity channel 0 holds depends on the data: R for
RGB frames, Y for frames stored as YCbCr. Inference and evaluation are those of ``VideoSRModel``.
"""
from __future__ import annotations

import torch

from vsrkit.models.video_sr_model import VideoSRModel
from vsrkit.registry import MODELS

TARGETS = ("gt", "gt_first_channel")


@MODELS.register()
class PTIAModel(VideoSRModel):
    """Recurrent / windowed video SR with ``train.target: gt | gt_first_channel`` (see the module docstring)."""

    option_schema = {"train": {"target": TARGETS}}

    def target(self, batch: dict, out: torch.Tensor) -> torch.Tensor:
        gt = super().target(batch, out)
        if (self.opt.get("train") or {}).get("target", "gt") == "gt_first_channel":
            return gt[:, :, 0:1].expand(*gt.shape[:2], out.shape[2], *gt.shape[3:])
        return gt
