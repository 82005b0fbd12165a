"""REDS: sliding-window training (EDVR) and recurrent sequences (BasicVSR), with the held-out partitions.

Layout (after ``scripts/prepare_reds.py``): ``train_sharp/<clip>/00000000.png`` for clips 000..269, where the
official validation clips 000..029 have been renamed 240..269 (the BasicSR convention), and the matching LQ folder
(``train_sharp_bicubic/X4`` or a compressed version). Partitions held out of training and used for test:

- ``REDS4``: clips 000, 011, 015, 020 (the usual benchmark);
- ``official``: clips 240..269 (the official validation set).
"""
from __future__ import annotations

from typing import Sequence

from vsrkit.data.video_base import VideoClipDataset
from vsrkit.errors import ConfigError
from vsrkit.registry import DATASETS

REDS4 = ("000", "011", "015", "020")
OFFICIAL_VAL = tuple(f"{i:03d}" for i in range(240, 270))
PARTITIONS = {"REDS4": REDS4, "official": OFFICIAL_VAL}


def partition_clips(val_partition: str, where: str) -> tuple[str, ...]:
    """Clip names of a held-out partition (``REDS4`` or ``official``)."""
    if val_partition not in PARTITIONS:
        raise ConfigError(f"{where}.val_partition: '{val_partition}' is not one of {', '.join(PARTITIONS)}")
    return PARTITIONS[val_partition]


class _REDSBase(VideoClipDataset):
    def __init__(self, dataroot_gt, dataroot_lq, dataroot_motion, meta_info_file, val_partition, io_backend, scale,
                 num_frame, gt_size, use_hflip, use_rot, use_temporal_flip, test_mode, padding, gt_frames,
                 interval_list, manifest_check):
        where = "datasets.val" if test_mode else "datasets.train"
        held_out = partition_clips(val_partition, where)
        self.val_partition = val_partition
        self._held_out = held_out
        super().__init__(dataroot_gt=dataroot_gt, dataroot_lq=dataroot_lq, dataroot_motion=dataroot_motion,
                         meta_info_file=meta_info_file, io_backend=io_backend, scale=scale, num_frame=num_frame,
                         gt_size=gt_size, use_hflip=use_hflip, use_rot=use_rot,
                         use_temporal_flip=use_temporal_flip, test_mode=test_mode, padding=padding,
                         gt_frames=gt_frames, interval_list=interval_list,
                         exclude_clips=None if test_mode else held_out, manifest_check=manifest_check)

    def _make_samples(self):
        if self.test_mode:  # test on the held-out partition only (the clips present)
            self.clips = [c for c in self.clips if c in self._held_out]
            if not self.clips:
                raise ConfigError(f"{self.prefix}: none of the {self.val_partition} clips "
                                  f"({', '.join(self._held_out[:4])}...) is in {self.gt.root}")
        return super()._make_samples()


@DATASETS.register()
class REDSDataset(_REDSBase):
    """REDS sliding windows: ``num_frame`` LQ frames around a centre, GT = the centre frame (EDVR-style).

    Training: one item per (clip, frame) of the training clips (the ``val_partition`` excluded), a window with a
    stride drawn from ``interval_list``, ``gt_size`` crop, flips/rotations and optional temporal flip.
    Test (``test_mode: true``): every frame of the held-out clips, windows padded with ``padding``.
    Other options: see :class:`~vsrkit.data.video_base.VideoClipDataset`.
    """

    def __init__(self, dataroot_gt: str, dataroot_lq: str | Sequence[str],
                 dataroot_motion: str | Sequence[str] | None = None, meta_info_file: str | None = None,
                 val_partition: str = "REDS4", io_backend: dict | None = None, scale: int = 4, num_frame: int = 5,
                 gt_size: int | None = 256, use_hflip: bool = True, use_rot: bool = True,
                 use_temporal_flip: bool = False, test_mode: bool = False, padding: str = "reflection_circle",
                 interval_list: Sequence[int] = (1,), manifest_check: dict | None = None):
        super().__init__(dataroot_gt, dataroot_lq, dataroot_motion, meta_info_file, val_partition, io_backend, scale,
                         num_frame, gt_size, use_hflip, use_rot, use_temporal_flip, test_mode, padding, "center",
                         interval_list, manifest_check)


@DATASETS.register()
class REDSRecurrentDataset(_REDSBase):
    """REDS recurrent sequences: ``num_frame`` consecutive frames in, all of them out (BasicVSR-style).

    Training: a random window of ``num_frame`` frames (stride from ``interval_list``) of a training clip, cropped
    and augmented. Test: whole held-out clips (``num_frame: null``) or sliding windows.
    Other options: see :class:`~vsrkit.data.video_base.VideoClipDataset`.
    """

    def __init__(self, dataroot_gt: str, dataroot_lq: str | Sequence[str],
                 dataroot_motion: str | Sequence[str] | None = None, meta_info_file: str | None = None,
                 val_partition: str = "REDS4", io_backend: dict | None = None, scale: int = 4,
                 num_frame: int | None = 15, gt_size: int | None = 256, use_hflip: bool = True, use_rot: bool = True,
                 use_temporal_flip: bool = False, test_mode: bool = False, padding: str = "reflection_circle",
                 interval_list: Sequence[int] = (1,), manifest_check: dict | None = None):
        super().__init__(dataroot_gt, dataroot_lq, dataroot_motion, meta_info_file, val_partition, io_backend, scale,
                         num_frame, gt_size, use_hflip, use_rot, use_temporal_flip, test_mode, padding, "all",
                         interval_list, manifest_check)
