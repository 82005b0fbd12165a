"""Vimeo-90K septuplets (``sequences/00001/0001/im1.png .. im7.png``) for VSR and space-time VSR.

Clips are listed by ``meta_info_file``: an official list (``sep_trainlist.txt``, ``sep_testlist.txt``, or the
fast/medium/slow test lists of space-time VSR) or a meta-info file made by ``scripts/prepare_vimeo90k.py``.
Frames im1..im7 are positions 0..6 (the disk backend sorts names; LMDB keys are ``00001/0001/00000000``...).

- ``task: vsr``: ``num_frame`` (odd, <= 7) LQ frames centred on im4; GT = im4 (``gt_frames: center``) or the same
  frames (``gt_frames: all``).
- ``task: stvsr``: LQ = im1, im3, im5, im7; GT = all seven (MSITF / Zooming Slow-Mo).
- ``flip_sequence: true`` (training, ``task: vsr``, ``gt_frames: all``): the window followed by the same frames
  reversed, 14 frames for 7 (BasicSR's Vimeo90KRecurrentDataset and PTIA's Vimeo-90K training).

Training and test use the same frames; training adds the ``gt_size`` crop and augmentation.
"""
from __future__ import annotations

from typing import Sequence

from vsrkit.data.video_base import VideoClipDataset
from vsrkit.errors import ConfigError, DataError
from vsrkit.registry import DATASETS

SEPTUPLET = 7
TASKS = ("vsr", "stvsr")


@DATASETS.register()
class Vimeo90KDataset(VideoClipDataset):
    """Vimeo-90K septuplets; see the module docstring. Other options: :class:`VideoClipDataset`."""

    fixed_window = True

    def __init__(self, dataroot_gt: str, dataroot_lq: str | Sequence[str], meta_info_file: str,
                 dataroot_motion: str | Sequence[str] | None = None, task: str = "vsr", num_frame: int = 7,
                 gt_frames: str = "center", io_backend: dict | None = None, scale: int = 4,
                 gt_size: int | None = 256, use_hflip: bool = True, use_rot: bool = True,
                 use_temporal_flip: bool = False, test_mode: bool = False, manifest_check: dict | None = None,
                 flip_sequence: bool = False):
        where = "datasets.val" if test_mode else "datasets.train"
        if flip_sequence and (task != "vsr" or gt_frames != "all" or dataroot_motion is not None):
            raise ConfigError(f"{where}.flip_sequence: needs task 'vsr', gt_frames 'all' and no dataroot_motion "
                              f"(the reversed frames have a GT each and no codec motion)")
        self.flip_sequence = bool(flip_sequence) and not test_mode
        if task not in TASKS:
            raise ConfigError(f"{where}.task: '{task}' is not one of {', '.join(TASKS)}")
        if task == "vsr" and not (num_frame and num_frame % 2 == 1 and num_frame <= SEPTUPLET):
            raise ConfigError(f"{where}.num_frame: VSR on septuplets takes an odd number of frames <= 7, "
                              f"got {num_frame}")
        self.task = task
        stvsr = task == "stvsr"
        super().__init__(dataroot_gt=dataroot_gt, dataroot_lq=dataroot_lq, dataroot_motion=dataroot_motion,
                         meta_info_file=meta_info_file, io_backend=io_backend, scale=scale,
                         num_frame=SEPTUPLET if stvsr else num_frame, gt_size=gt_size, use_hflip=use_hflip,
                         use_rot=use_rot, use_temporal_flip=use_temporal_flip, test_mode=test_mode,
                         gt_frames="all" if stvsr else gt_frames, drop_even_frames=stvsr,
                         manifest_check=manifest_check)

    def _make_samples(self):
        for clip, n in self.num_frames.items():
            if n != SEPTUPLET:
                raise DataError(f"{self.gt.describe(clip)}: a Vimeo-90K septuplet has 7 frames, found {n}; "
                                f"re-download the clip or remove it from the list")
        if self.test_mode:
            return [(s, c, None) for s in range(len(self.lqs)) for c in self.clips]
        return [(c, 0) for c in self.clips]

    def _window(self) -> list[int]:
        first = (SEPTUPLET - self.num_frame) // 2
        return list(range(first, first + self.num_frame))

    def train_indices(self, clip, frame):
        window = self._window()
        if self.flip_sequence:
            window = window + window[::-1]
        return self.split_window(window) + (clip,)

    def test_indices(self, clip, center):
        return self.split_window(self._window()) + (clip,)
