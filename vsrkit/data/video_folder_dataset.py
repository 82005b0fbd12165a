"""Folders of clips (Vid4-style, any number of clips) and compressed-video datasets with motion vectors.

``VideoFolderDataset``: ``<dataroot_gt>/<clip>/00000000.png...`` paired with ``<dataroot_lq>/<clip>/...``.
``CompressedVideoDataset``: the compressed-video layout written by ``degradation/compress.py`` and the demo builder,
``<dataroot>/gt/<clip>/``, ``<dataroot>/lq/<clip>/``, ``<dataroot>/motion/<clip>.npz`` (+ ``manifest.json``);
items carry ``mv_bwd``, ``mv_fwd``, ``frame_types`` (and ``qp`` when recorded). Both read any ``io_backend``.
"""
from __future__ import annotations

import os
from typing import Sequence

from vsrkit.data.video_base import VideoClipDataset
from vsrkit.errors import ConfigError
from vsrkit.registry import DATASETS


@DATASETS.register()
class VideoFolderDataset(VideoClipDataset):
    """Generic paired clip folders; every option is documented in :class:`VideoClipDataset`.

    Typical uses: Vid4 test (``test_mode: true``, ``num_frame: null`` for whole clips or ``num_frame: 7`` with
    ``padding: reflection_circle``), MSITF's Vid4 test with ``drop_even_frames: true``, training on any folder.
    """


@DATASETS.register()
class CompressedVideoDataset(VideoClipDataset):
    """Compressed clips with motion vectors, picture types and QP maps.

    Args:
        dataroot: root of the ``gt/ lq/ motion/`` layout; fills ``dataroot_gt``, ``dataroot_lq`` and (when
            ``use_motion``) ``dataroot_motion`` that are not given explicitly (``gt.lmdb``/``lq.lmdb`` with
            ``io_backend: {type: lmdb}``; ``gt.raw``/``lq.raw`` and ``motion.raw`` if present with ``{type: raw}``).
        use_motion: read ``<dataroot>/motion/<clip>.npz`` (items then carry ``mv_bwd``, ``mv_fwd``,
            ``frame_types``, ``qp``).
        other options: see :class:`VideoClipDataset`.
    """

    def __init__(self, dataroot: str | None = None, dataroot_gt: str | None = None,
                 dataroot_lq: str | Sequence[str] | None = None,
                 dataroot_motion: str | Sequence[str] | None = None, use_motion: bool = True,
                 meta_info_file: str | None = None, io_backend: dict | None = None, scale: int = 4,
                 num_frame: int | None = None, gt_size: int | None = None, use_hflip: bool = True,
                 use_rot: bool = True, use_temporal_flip: bool = False, test_mode: bool = False,
                 padding: str = "reflection_circle", gt_frames: str = "all", interval_list: Sequence[int] = (1,),
                 color: str = "rgb", exclude_clips: Sequence[str] | None = None, manifest_check: dict | None = None):
        prefix = "datasets.val" if test_mode else "datasets.train"
        if dataroot is None and (dataroot_gt is None or dataroot_lq is None):
            raise ConfigError(f"{prefix}: give 'dataroot' (the gt/ lq/ motion/ layout) or both 'dataroot_gt' and "
                              f"'dataroot_lq'")
        suffix = {"lmdb": ".lmdb", "raw": ".raw"}.get((io_backend or {}).get("type"), "")
        if dataroot is not None:
            dataroot_gt = dataroot_gt or os.path.join(dataroot, "gt" + suffix)
            dataroot_lq = dataroot_lq or os.path.join(dataroot, "lq" + suffix)
            if use_motion and dataroot_motion is None:  # raw motion (scripts/make_raw.py) when it is there
                raw_motion = os.path.join(dataroot, "motion.raw")
                dataroot_motion = raw_motion if suffix == ".raw" and os.path.isdir(raw_motion) else \
                    os.path.join(dataroot, "motion")
        if not use_motion:
            dataroot_motion = None
        super().__init__(dataroot_gt=dataroot_gt, dataroot_lq=dataroot_lq, dataroot_motion=dataroot_motion,
                         meta_info_file=meta_info_file, io_backend=io_backend, scale=scale, num_frame=num_frame,
                         gt_size=gt_size, use_hflip=use_hflip, use_rot=use_rot,
                         use_temporal_flip=use_temporal_flip, test_mode=test_mode, padding=padding,
                         gt_frames=gt_frames, interval_list=interval_list, drop_even_frames=False, color=color,
                         exclude_clips=exclude_clips, manifest_check=manifest_check)
