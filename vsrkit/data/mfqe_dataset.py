"""MFQEv2: raw YUV 4:2:0 sequences (``Name_WxH_N.yuv``) and their compressed versions, Y-only or RGB.

Layout (after ``scripts/prepare_mfqev2.py``): ``<root>/<split>/raw/Name_WxH_N.yuv`` (HR originals) and one folder
per coding setting, e.g. ``<root>/<split>/HM16.5_LDP/QP37/Name_WxH_N.yuv`` (decoded, same size, ``scale: 1`` for
quality enhancement) or ``.../LR_QP32/Name_(W/2)x(H/2)_N.yuv`` (RCVSR: decoded half-size frames, ``scale: 2``).
Clips are matched by ``Name``. ``dataroot_lq`` may be a list of QP folders, sampled per training item.

Items: a ``num_frame`` window of compressed frames around a centre frame (``padding`` at the ends; ``replicate`` as
STDF/RCVSR) and the centre raw frame as GT: ``lq (t, c, h, w)``, ``gt (1, c, H, W)``, c = 1 with ``color: y`` (the
native Y plane) or 3 with ``color: rgb`` (BT.601 limited range).

RCVSR references (``dataroot_key``): decoded full-resolution key frames (index % ``key_interval`` == 0, coded at
the LR QP + 5). The item then carries ``ref (2, c, H, W)``: the previous key frame ``floor(t/4)*4`` and the next one
(+4; the previous one again where the clip has no later key frame). A key-frame file holds either every frame of
the clip (only key positions are read) or only the key frames, in order.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from vsrkit.data.storage import open_storage
from vsrkit.data.video_base import VideoClipDataset
from vsrkit.errors import DataError
from vsrkit.registry import DATASETS


def key_frame_refs(t: int, num_frames: int, key_interval: int = 4) -> tuple[int, int]:
    """(previous key frame, next key frame) of frame ``t``; the next one falls back to the previous at the end."""
    prev = (t // key_interval) * key_interval
    nxt = prev + key_interval
    return prev, (nxt if nxt <= num_frames - 1 else prev)


@DATASETS.register()
class MFQEv2Dataset(VideoClipDataset):
    """MFQEv2 YUV sequences; see the module docstring. Other options: :class:`VideoClipDataset`."""

    def __init__(self, dataroot_gt: str, dataroot_lq: str | Sequence[str], dataroot_key: str | None = None,
                 meta_info_file: str | None = None, io_backend: dict | None = None, color: str = "y",
                 scale: int = 1, num_frame: int = 7, gt_size: int | None = 128, use_hflip: bool = True,
                 use_rot: bool = True, test_mode: bool = False, padding: str = "replicate", key_interval: int = 4,
                 manifest_check: dict | None = None):
        self.key_interval = int(key_interval)
        super().__init__(dataroot_gt=dataroot_gt, dataroot_lq=dataroot_lq, meta_info_file=meta_info_file,
                         io_backend=io_backend or {"type": "yuv"}, scale=scale, num_frame=num_frame,
                         gt_size=gt_size, use_hflip=use_hflip, use_rot=use_rot, use_temporal_flip=False,
                         test_mode=test_mode, padding=padding, gt_frames="center", color=color,
                         manifest_check=manifest_check)
        self.keys = None
        if dataroot_key is not None:
            self.keys = open_storage(dataroot_key, self.io_backend, f"{self.prefix}.dataroot_key")
            for clip in self.clips:
                n, n_key = self.num_frames[clip], self.keys.num_frames(clip)
                if n_key not in (n, -(-n // self.key_interval)):
                    raise DataError(f"{self.keys.describe(clip)}: {n_key} key frames for a {n}-frame clip; expected "
                                    f"{n} (all frames) or {-(-n // self.key_interval)} (every {self.key_interval}th)")

    def _make_samples(self):
        if self.test_mode:
            return [(s, c, f) for s in range(len(self.lqs)) for c in self.clips for f in range(self.num_frames[c])]
        return super()._make_samples()

    def train_indices(self, clip, frame):
        """Training windows are centred on ``frame`` and padded like test windows (every frame is a target)."""
        return self.test_indices(clip, frame)

    def test_indices(self, clip, center):
        from vsrkit.data.frame_indices import generate_frame_indices

        window = generate_frame_indices(center, self.num_frame, self.num_frames[clip], self.padding)
        return window, [center], f"{clip}/{center:08d}"

    def load(self, source, clip, lq_idx, gt_idx, region=None):
        sample = super().load(source, clip, lq_idx, gt_idx, region=region)
        if self.keys is not None:
            n = self.num_frames[clip]
            refs = key_frame_refs(gt_idx[0], n, self.key_interval)
            all_frames = self.keys.num_frames(clip) == n
            idx = list(refs) if all_frames else [r // self.key_interval for r in refs]
            if region is None:
                ref = self.read_frames(self.keys, clip, idx)
                ref_hw, gt_hw = ref.shape[1:3], sample["gt"].shape[1:3]
            else:  # the GT-sized crop of the key frames, after checking their full size
                ref_hw, gt_hw = self.keys.frame_shape(clip)[:2], self.gt.frame_shape(clip)[:2]
            if ref_hw != gt_hw:
                raise DataError(f"{self.keys.describe(clip)}: key frames are {ref_hw[1]}x{ref_hw[0]}, the GT "
                                f"frames {gt_hw[1]}x{gt_hw[0]}; key frames must be at full resolution")
            if region is not None:
                ref = self.read_frames(self.keys, clip, idx, region, self.scale)
            sample["ref"] = np.ascontiguousarray(ref)
        return sample
