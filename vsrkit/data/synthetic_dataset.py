"""Synthetic moving-texture clips with exact motion: for smoke tests and throughput benchmarks, no files needed."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from vsrkit.registry import DATASETS


@DATASETS.register()
class SyntheticVideoDataset(Dataset):
    """Random smooth textures panned by a whole number of LR pixels per frame.

    Item ``i`` is the same on every call (seeded by ``seed + i``). LR frames are ``scale x scale`` box averages of
    the HR frames, so the LR motion is exact and ``mv_bwd``/``mv_fwd`` are the true fields.

    Returns dict: ``lq (t,3,h,w)``, ``gt (t,3,h*scale,w*scale)`` float32 in [0,1], ``mv_bwd``/``mv_fwd``
    ``(t,2,h,w)`` LR pixels (x first), ``frame_types (t,)`` (1 = I for the first frame, 2 = P), ``key``.
    """

    def __init__(self, num_clips: int = 8, num_frame: int = 5, lq_size: int = 16, scale: int = 4,
                 max_motion: int = 2, seed: int = 0):
        self.num_clips, self.num_frame, self.lq_size = num_clips, num_frame, lq_size
        self.scale, self.max_motion, self.seed = scale, max_motion, seed

    def __len__(self) -> int:
        return self.num_clips

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng(self.seed + index)
        s, t, h = self.scale, self.num_frame, self.lq_size
        vx, vy = (int(v) for v in rng.integers(-self.max_motion, self.max_motion + 1, size=2))
        margin = (abs(vx) + abs(vy)) * t + 1
        canvas = h + 2 * margin
        # smooth random texture: a few random sinusoids per channel, HR resolution
        yy, xx = np.mgrid[0:canvas * s, 0:canvas * s].astype(np.float32) / (canvas * s)
        tex = np.zeros((3, canvas * s, canvas * s), np.float32)
        for c in range(3):
            for _ in range(4):
                fx, fy, ph = rng.uniform(1, 6), rng.uniform(1, 6), rng.uniform(0, 2 * np.pi)
                tex[c] += np.sin(2 * np.pi * (fx * xx + fy * yy) + ph)
        tex = (tex - tex.min()) / (tex.max() - tex.min() + 1e-8)
        gts = []
        for i in range(t):
            oy, ox = (margin - i * vy) * s, (margin - i * vx) * s  # content moves by (vx, vy) LR px per frame
            gts.append(tex[:, oy:oy + h * s, ox:ox + h * s])
        gt = torch.from_numpy(np.stack(gts))
        lq = gt.reshape(t, 3, h, s, h, s).mean(dim=(3, 5))
        flow = torch.tensor([float(vx), float(vy)]).view(1, 2, 1, 1).expand(t, 2, h, h)
        mv_bwd, mv_fwd = -flow.clone(), flow.clone()
        mv_bwd[0] = 0  # no previous frame
        mv_fwd[-1] = 0  # no next frame
        frame_types = torch.full((t,), 2, dtype=torch.long)
        frame_types[0] = 1
        return {"lq": lq, "gt": gt, "mv_bwd": mv_bwd, "mv_fwd": mv_fwd, "frame_types": frame_types,
                "key": f"synthetic_{index:04d}", "clip": f"synthetic_{index:04d}", "frame_ids": torch.arange(t)}
