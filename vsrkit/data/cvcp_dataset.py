"""CVCP-style HEVC clips for PTIA: one GT folder and one decoded LQ folder per HEVC low-delay QP.

Layout: ``<dataroot>/<gt_folder>/<clip>/00000000.png`` and ``<dataroot>/<lq_template.format(qp=QP)>/<clip>/...``
for each QP of ``qps`` (default ``GT`` and ``LD_QP22`` .. ``LD_QP37``). Each training item draws one QP (PTIA:
LQ from HEVC LD QP 22/27/32/37, 32-frame clips); test evaluates every QP (keys ``LD_QP22/<clip>``...).
Compressed at the same resolution (``scale: 1``) or downscaled first (``scale: 4``), as the folders hold.
"""
from __future__ import annotations

import os
from typing import Sequence

from vsrkit.data.video_base import VideoClipDataset
from vsrkit.errors import ConfigError
from vsrkit.registry import DATASETS


@DATASETS.register()
class CVCPDataset(VideoClipDataset):
    """Recurrent clips with the LQ source drawn among HEVC QPs. Other options: :class:`VideoClipDataset`."""

    def __init__(self, dataroot: str, qps: Sequence[int] = (22, 27, 32, 37), gt_folder: str = "GT",
                 lq_template: str = "LD_QP{qp}", meta_info_file: str | None = None, io_backend: dict | None = None,
                 scale: int = 4, num_frame: int | None = 32, gt_size: int | None = 256, use_hflip: bool = True,
                 use_rot: bool = True, use_temporal_flip: bool = False, test_mode: bool = False,
                 padding: str = "reflection_circle", color: str = "rgb", manifest_check: dict | None = None):
        where = "datasets.val" if test_mode else "datasets.train"
        if not qps:
            raise ConfigError(f"{where}.qps: give at least one QP")
        if "{qp}" not in lq_template:
            raise ConfigError(f"{where}.lq_template: '{lq_template}' must contain '{{qp}}'")
        self.qps = [int(q) for q in qps]
        super().__init__(dataroot_gt=os.path.join(dataroot, gt_folder),
                         dataroot_lq=[os.path.join(dataroot, lq_template.format(qp=q)) for q in self.qps],
                         meta_info_file=meta_info_file, io_backend=io_backend, scale=scale, num_frame=num_frame,
                         gt_size=gt_size, use_hflip=use_hflip, use_rot=use_rot, use_temporal_flip=use_temporal_flip,
                         test_mode=test_mode, padding=padding, gt_frames="all", color=color,
                         manifest_check=manifest_check)
