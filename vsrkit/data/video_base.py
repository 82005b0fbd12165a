"""The shared machinery of the paired clip datasets: sources, up-front checks, window choice, loading, tensors.

Every dataset family (video folders, compressed clips, REDS, Vimeo-90K, MFQEv2, VSD4K, CVCP) is a subclass of
:class:`VideoClipDataset` that decides which clips and which frames an item holds; reading goes through
``vsrkit.data.storage`` so each family reads any backend (``io_backend: {type: disk|lmdb|yuv}``), in training and
in test.

An item (the brief's contract) is a dict of

- ``lq`` ``(t, c, h, w)`` float32 in [0, 1] (c = 3 RGB, or 1 with ``color: y``); with the loader key
  ``item_dtype: uint8`` the frames stay uint8 and the motion fields and QP maps float16 until
  :func:`vsrkit.data.loader.expand_item` (after the copy to the device) makes the same float32 item;
- ``gt`` ``(t', c, h*scale, w*scale)`` float32 (t' = t, 1 for the centre frame, or more with ``drop_even_frames``);
- with ``dataroot_motion``: ``mv_bwd``, ``mv_fwd`` ``(t, 2, h, w)`` float32 LR pixels, ``frame_types`` ``(t,)`` long,
  ``qp`` ``(t, h, w)`` float32 (per-pixel macroblock QP) when the motion files carry QP maps, and ``valid_bwd``,
  ``valid_fwd`` ``(t, h, w)`` bool (where the codec gave a vector) when they record them;
- ``key`` str: ``clip/00000010`` (first frame of a training window; the centre frame with ``gt_frames: center`` and
  of a sliding test window) or ``clip`` for a whole-clip test item;
- ``clip`` str: the clip's name (``<LQ folder>/<clip>`` when a test set has several LQ sources) and ``frame_ids``
  ``(t',)`` int64: the clip frame of each GT frame. Evaluation groups by (clip, frame), so the windows of a clip
  are scored as one clip.

Motion at the padded positions of a sliding test window is the motion of the frame repeated there (padding repeats
frames, not their relation to the neighbours); recurrent models should test on whole clips.
"""
from __future__ import annotations

import inspect
import os
import random
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from vsrkit.color import rgb_to_y_bt601
from vsrkit.data.chw import to_chw_uint8
from vsrkit.data.clip_motion import open_motion
from vsrkit.data.frame_indices import PADDING_MODES, generate_frame_indices
from vsrkit.data.meta_info import read_meta_info
from vsrkit.data.storage import FrameStorage, open_storage
from vsrkit.data.transforms import draw_crop, paired_random_crop, random_augment
from vsrkit.errors import ConfigError, DataError
from vsrkit.manifest import check_manifest


def rgb_to_y(frames: np.ndarray) -> np.ndarray:
    """``(..., 3)`` uint8 RGB -> ``(..., 1)`` uint8 Y, BT.601 limited range (16..235), rounded
    (:func:`vsrkit.color.rgb_to_y_bt601`, recipe ``'channels'``)."""
    return rgb_to_y_bt601(frames, "channels")[..., None]


def frames_to_tensor(frames: np.ndarray, item_dtype: str = "float32") -> torch.Tensor:
    """``(t, h, w, c)`` uint8 -> ``(t, c, h, w)`` float32 in [0, 1], or uint8 with ``item_dtype='uint8'``.

    uint8 input (also a strided view: flipped, transposed, a crop of a memory map) is first copied channels-first
    by :func:`vsrkit.data.chw.to_chw_uint8`, then divided into the new tensor: each value is ``float32(v) / 255``
    correctly rounded, bitwise what ``.float().div_(255)`` gives; other dtypes take that route. With ``'uint8'``
    the item is that channels-first uint8 copy (a quarter of the bytes; channels-last items would skip the copy
    without rotation but cost 3-10x more with it), and :func:`vsrkit.data.loader.expand_item` makes the same
    float32 values later, after the copy to the GPU.
    """
    frames = np.asarray(frames)
    if frames.dtype == np.uint8 and frames.ndim == 4:
        chw = to_chw_uint8(frames)  # one fast pass out of the strided view (vsrkit.data.chw)
        if item_dtype == "uint8":
            return torch.from_numpy(chw)
        out = torch.empty(chw.shape, dtype=torch.float32)
        np.divide(chw, np.float32(255.0), out=out.numpy())
        return out
    arr = np.ascontiguousarray(frames.transpose(0, 3, 1, 2))
    return torch.from_numpy(arr).float().div_(255.0)


def side_to_tensor(values: np.ndarray, item_dtype: str = "float32", integral: bool = False) -> torch.Tensor:
    """A float side input (motion field, QP map) as float32, or with ``item_dtype='uint8'`` as float16 where that
    is exact: values already stored as float16 (motion fields) or ``integral`` ones (QP, 0..51).
    :func:`vsrkit.data.loader.expand_item` widens them to the same float32 values later."""
    values = np.asarray(values)
    if item_dtype == "uint8" and (values.dtype == np.float16 or integral):
        return torch.from_numpy(np.ascontiguousarray(values, np.float16))
    return torch.from_numpy(np.ascontiguousarray(values, np.float32))


def stack_frames(frames: list[np.ndarray], storage: FrameStorage, clip: str, indices: list[int]) -> np.ndarray:
    """``(t, h, w, c)`` from the frames read at ``indices``; frames of different sizes raise DataError naming the
    first odd frame (its file for image folders) and the size it should have."""
    odd = next((i for i, f in enumerate(frames) if f.shape != frames[0].shape), None)
    if odd is None:
        return np.stack(frames)
    files = getattr(storage, "frame_files", None)

    def name(i: int) -> str:
        return files(clip)[indices[i]] if files else f"{storage.describe(clip)} frame {indices[i]}"

    def size(f: np.ndarray) -> str:
        return "x".join(str(v) for v in (f.shape[1], f.shape[0]) + tuple(f.shape[2:]))

    raise DataError(f"{name(odd)}: frame is {size(frames[odd])} but {name(0)} is {size(frames[0])} (width x height x "
                    f"channels); every frame of a clip must have the same size — re-create this clip's frames")


def as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


class VideoClipDataset(Dataset):
    """Paired LQ/GT clips under ``<dataroot>/<clip>/...``, optionally with motion files ``<dataroot_motion>/<clip>.npz``.

    Args:
        dataroot_gt: root of the HR clips (folder, X.lmdb or folder of YUV files, per ``io_backend``).
        dataroot_lq: root of the LQ clips, or a list of roots: each training item draws one at random (PTIA's
            {BI, CRF15, CRF25, CRF35}); in test every root is evaluated (keys prefixed with the root's folder name).
        dataroot_motion: folder of ``<clip>.npz`` motion files or a raw motion root (scripts/make_raw.py), or a
            list parallel to ``dataroot_lq``.
        meta_info_file: clips to use (``clip num_frames (h,w,c)`` lines from scripts/make_meta_info.py, or an
            official one-clip-per-line list); default: every clip of ``dataroot_gt``.
        io_backend: ``{type: disk}`` (default), ``{type: lmdb}``, ``{type: yuv, color: rgb|y}`` or ``{type: raw}``
            (scripts/make_raw.py; training reads only the crop: the crop is drawn first, then read).
        scale: HR / LR size ratio; checked against the frames and against ``manifest.json`` of the LQ folders.
        num_frame: frames per item. Training: window length (required). Test: None/0 = whole clip, odd number =
            sliding window centred on each frame with ``padding`` at the clip ends.
        gt_size: HR crop side in training (None = no crop).
        use_hflip, use_rot, use_temporal_flip: training augmentation (flips, vflip+transpose, reversed order).
        test_mode: test items (every clip / every window, no randomness) instead of training items.
        padding: sliding-window padding: replicate | reflection | reflection_circle | circle.
        gt_frames: ``all`` (GT for every LQ frame) or ``center`` (GT of the centre frame only, as EDVR/BasicSR
            sliding-window models).
        interval_list: temporal strides a training window draws from (e.g. ``[1, 2, 3]``).
        drop_even_frames: space-time input: keep only 0-based even positions (1-based odd frames) of the window or
            clip as LQ; GT keeps every frame.
        color: ``rgb`` or ``y`` (BT.601 Y for images; the native Y plane for YUV storage).
        exclude_clips: clips left out (e.g. a held-out test partition).
        manifest_check: extra ``{key: value}`` the LQ folders' ``manifest.json`` must agree with (``scale`` is
            always checked).
    """

    #: True for datasets whose items are fixed windows (Vimeo septuplets) rather than sliding windows over clips
    fixed_window = False
    #: ``float32`` items, or ``uint8`` (set from the loader key ``item_dtype`` by ``builders.build_dataset``)
    item_dtype = "float32"

    def __init__(self, dataroot_gt: str, dataroot_lq: str | Sequence[str], dataroot_motion: str | Sequence[str] | None = None,
                 meta_info_file: str | None = None, io_backend: dict | None = None, scale: int = 4,
                 num_frame: int | None = None, gt_size: int | None = None, use_hflip: bool = True,
                 use_rot: bool = True, use_temporal_flip: bool = False, test_mode: bool = False,
                 padding: str = "reflection_circle", gt_frames: str = "all", interval_list: Sequence[int] = (1,),
                 drop_even_frames: bool = False, color: str = "rgb", exclude_clips: Sequence[str] | None = None,
                 manifest_check: dict | None = None):
        super().__init__()
        self.prefix = "datasets.val" if test_mode else "datasets.train"
        self.scale, self.num_frame, self.gt_size = int(scale), num_frame, gt_size
        self.use_hflip, self.use_rot, self.use_temporal_flip = use_hflip, use_rot, use_temporal_flip
        self.test_mode, self.padding, self.gt_frames = test_mode, padding, gt_frames
        self.interval_list = [int(i) for i in as_list(interval_list)] or [1]
        self.drop_even_frames, self.color = drop_even_frames, color
        self._check_options()

        backend = dict(io_backend or {"type": "disk"})
        if backend.get("type") == "yuv":
            backend.setdefault("color", color)
        self.io_backend = backend
        self.gt = open_storage(dataroot_gt, backend, f"{self.prefix}.dataroot_gt")
        lq_roots = as_list(dataroot_lq)
        if not lq_roots:
            raise ConfigError(f"{self.prefix}.dataroot_lq: needs a path (or a list of paths)")
        many = len(lq_roots) > 1
        self.lq_roots = lq_roots
        self.lqs: list[FrameStorage] = [
            open_storage(r, backend, f"{self.prefix}.dataroot_lq" + (f"[{i}]" if many else ""))
            for i, r in enumerate(lq_roots)]
        self.motion_roots = self._motion_roots(dataroot_motion, len(lq_roots))
        self.motions = [open_motion(r) if r is not None else None for r in self.motion_roots]
        self._region_load = "region" in inspect.signature(self.load).parameters
        for root in lq_roots:
            check_manifest(root, {"scale": self.scale, **(manifest_check or {})}, self.prefix)

        infos = read_meta_info(meta_info_file) if meta_info_file else None
        clips = [i.clip for i in infos] if infos else self.gt.clips()
        excluded = set(as_list(exclude_clips))
        self.clips = [c for c in clips if c not in excluded]
        if not self.clips:
            raise DataError(f"{self.prefix}: no clips left in {dataroot_gt} (meta_info_file={meta_info_file}, "
                            f"excluded {sorted(excluded)}); check the paths")
        declared = {i.clip: i.num_frames for i in infos} if infos else {}
        self.num_frames = {c: self._check_clip(c, declared.get(c), meta_info_file) for c in self.clips}
        self.samples = self._make_samples()

    # ------------------------------------------------------------------------------------------------ setup
    def _check_options(self) -> None:
        p = self.prefix
        if self.padding not in PADDING_MODES:
            raise ConfigError(f"{p}.padding: unknown mode '{self.padding}'; use one of {', '.join(PADDING_MODES)}")
        if self.gt_frames not in ("all", "center"):
            raise ConfigError(f"{p}.gt_frames: '{self.gt_frames}' is not 'all' or 'center'")
        if self.color not in ("rgb", "y"):
            raise ConfigError(f"{p}.color: '{self.color}' is not 'rgb' or 'y'")
        if not self.test_mode and not self.num_frame:
            raise ConfigError(f"{p}.num_frame: training needs the number of frames per item (e.g. 7)")
        if self.num_frame and self.gt_frames == "center" and self.num_frame % 2 == 0:
            raise ConfigError(f"{p}.num_frame: gt_frames 'center' needs an odd num_frame, got {self.num_frame}")
        if self.test_mode and self.num_frame and self.num_frame % 2 == 0 and not self.fixed_window:
            raise ConfigError(f"{p}.num_frame: a sliding test window needs an odd num_frame, got {self.num_frame} "
                              f"(or null for whole clips)")
        if self.drop_even_frames and self.gt_frames == "center":
            raise ConfigError(f"{p}.drop_even_frames: space-time items need gt_frames 'all'")
        if self.drop_even_frames and self.test_mode and self.num_frame and not self.fixed_window:
            raise ConfigError(f"{p}.drop_even_frames: in test use whole clips (num_frame: null); the model windows "
                              f"the kept frames itself")

    def _motion_roots(self, dataroot_motion, n_lq: int) -> list[str | None]:
        roots = as_list(dataroot_motion)
        if not roots:
            return [None] * n_lq
        if len(roots) != n_lq:
            raise ConfigError(f"{self.prefix}.dataroot_motion: give one motion folder per dataroot_lq entry "
                              f"({n_lq}), got {len(roots)}")
        if self.drop_even_frames:
            raise ConfigError(f"{self.prefix}.dataroot_motion: motion is at unit frame distance and cannot be used "
                              f"with drop_even_frames")
        for i, root in enumerate(roots):
            if not os.path.isdir(root):
                suffix = f"[{i}]" if n_lq > 1 else ""
                raise DataError(f"{self.prefix}.dataroot_motion{suffix}: {root} does not exist; fix the path or "
                                f"build the motion files with degradation/compress.py")
        return roots

    def _check_clip(self, clip: str, declared: int | None, meta_file: str | None) -> int:
        """Frame count of ``clip`` after checking GT, every LQ source, motion and the meta-info file agree."""
        n = self.gt.num_frames(clip)
        if declared is not None and declared != n:
            raise DataError(f"{meta_file}: clip '{clip}' is listed with {declared} frames but "
                            f"{self.gt.describe(clip)} has {n}; re-create it with scripts/make_meta_info.py")
        for lq, motion in zip(self.lqs, self.motions):
            n_lq = self.lq_frame_count(lq, clip)
            if n_lq != n:
                raise DataError(f"clip '{clip}': {n} GT frames in {self.gt.describe(clip)} but {n_lq} LQ frames in "
                                f"{lq.describe(clip)}; re-create the LQ clip or remove the clip")
            if motion is not None:
                n_mv = motion.num_frames(clip)
                if n_mv != n_lq:
                    raise DataError(f"clip '{clip}': {n_lq} LQ frames in {lq.describe(clip)} but {n_mv} motion "
                                    f"frames in {motion.describe(clip)}; re-create the motion file from the same "
                                    f"LQ clip")
        return n

    def lq_frame_count(self, lq: FrameStorage, clip: str) -> int:
        """Frames of ``clip`` in an LQ source (subclasses whose LQ holds other frames override)."""
        return lq.num_frames(clip)

    def _make_samples(self) -> list[tuple]:
        """Training: ``(clip, frame)`` for every frame; test: ``(source, clip, centre or None)``."""
        if not self.test_mode:
            return [(c, f) for c in self.clips for f in range(self.num_frames[c])]
        out = []
        for s in range(len(self.lqs)):
            for c in self.clips:
                if self.num_frame:
                    out.extend((s, c, f) for f in range(self.num_frames[c]))
                else:
                    out.append((s, c, None))
        return out

    # ------------------------------------------------------------------------------------------------ items
    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        if self.test_mode:
            source, clip, center = self.samples[index]
            lq_idx, gt_idx, key = self.test_indices(clip, center)
            name = clip
            if len(self.lqs) > 1:
                key = f"{os.path.basename(os.path.normpath(self.lq_roots[source]))}/{key}"
                name = f"{os.path.basename(os.path.normpath(self.lq_roots[source]))}/{clip}"
            sample = self.load(source, clip, lq_idx, gt_idx)
        else:
            clip, frame = self.samples[index]
            lq_idx, gt_idx, key = self.train_indices(clip, frame)
            source = random.randrange(len(self.lqs))
            region = self.crop_region(source, clip, key)
            if region is None:
                sample = self.train_transform(self.load(source, clip, lq_idx, gt_idx), key)
            else:  # crop drawn first (same draws), only the crop read
                sample = self.train_transform(self.load(source, clip, lq_idx, gt_idx, region=region), key,
                                              region=region)
            name = clip
        item = self.to_item(sample, key)
        item["clip"] = name
        item["frame_ids"] = torch.tensor(gt_idx, dtype=torch.int64)
        return item

    def window_span(self, interval: int) -> int:
        return (self.num_frame - 1) * interval + 1

    def train_indices(self, clip: str, frame: int) -> tuple[list[int], list[int], str]:
        """A training window of ``num_frame`` frames: random start (gt ``all``) or centred on ``frame``
        (gt ``center``, moved inside the clip when too close to an end)."""
        n = self.num_frames[clip]
        interval = random.choice(self.interval_list)
        span = self.window_span(interval)
        if span > n:
            raise DataError(f"{self.gt.describe(clip)}: clip has {n} frames, fewer than num_frame {self.num_frame} "
                            f"at interval {interval}; lower num_frame or exclude the clip")
        if self.gt_frames == "center":
            reach = (self.num_frame // 2) * interval
            center = min(max(frame, reach), n - 1 - reach)
            start = center - reach
        else:
            start = random.randint(0, n - span)
        window = [start + k * interval for k in range(self.num_frame)]
        named = window[len(window) // 2] if self.gt_frames == "center" else start
        return self.split_window(window) + (f"{clip}/{named:08d}",)

    def split_window(self, window: list[int]) -> tuple[list[int], list[int]]:
        """(LQ indices, GT indices) of a window of clip frames."""
        lq_idx = window[::2] if self.drop_even_frames else window
        gt_idx = [window[len(window) // 2]] if self.gt_frames == "center" else window
        return lq_idx, gt_idx

    def test_indices(self, clip: str, center: int | None) -> tuple[list[int], list[int], str]:
        n = self.num_frames[clip]
        if center is None:
            window = list(range(n))
            return self.split_window(window) + (clip,)
        window = generate_frame_indices(center, self.num_frame, n, self.padding)
        gt_idx = [center] if self.gt_frames == "center" else window
        return window, gt_idx, f"{clip}/{center:08d}"

    def read_frames(self, storage: FrameStorage, clip: str, indices: list[int],
                    region: tuple[int, int, int] | None = None, scale: int = 1) -> np.ndarray:
        """``(t, h, w, c)`` uint8 frames, converted to Y when ``color: y``; only the crop ``region = (top, left,
        size)`` (LR pixels, times ``scale`` for GT-sized frames) when given (storages with ``read_region``)."""
        if region is None:
            frames = stack_frames(storage.read_many(clip, indices), storage, clip, indices)
        else:
            top, left, size = (v * scale for v in region)
            frames = storage.read_region(clip, indices, top, left, size, size)
        if self.color == "y" and frames.shape[-1] == 3:
            frames = rgb_to_y(frames)
        return frames

    def crop_region(self, source: int, clip: str, key: str) -> tuple[int, int, int] | None:
        """The training crop ``(top, left, lq_size)`` drawn before reading, when the frame storages read regions
        (the raw backend) and ``gt_size`` is set; None otherwise (the frames are read whole and cropped after).
        The draws and checks are those of :func:`~vsrkit.data.transforms.paired_random_crop`, in the same order,
        so both routes give the same item."""
        lq = self.lqs[source]
        if not (self.gt_size and self._region_load and getattr(lq, "supports_regions", False)
                and getattr(self.gt, "supports_regions", False)):
            return None
        return draw_crop(lq.frame_shape(clip)[:2], self.gt.frame_shape(clip)[:2], self.gt_size, self.scale,
                         source=key)

    def load(self, source: int, clip: str, lq_idx: list[int], gt_idx: list[int],
             region: tuple[int, int, int] | None = None) -> dict:
        """Read frames (and motion) of one item as numpy arrays, only the crop ``region`` when given (see
        :meth:`crop_region`); checks the LQ/GT size ratio."""
        lq_store = self.lqs[source]
        if region is None:
            lq = self.read_frames(lq_store, clip, lq_idx)
            gt = self.read_frames(self.gt, clip, gt_idx)
            h, w = lq.shape[1:3]
            gh, gw = gt.shape[1:3]
        else:
            (h, w), (gh, gw) = lq_store.frame_shape(clip)[:2], self.gt.frame_shape(clip)[:2]
        if (gh, gw) != (h * self.scale, w * self.scale):
            raise DataError(f"clip '{clip}': GT frames in {self.gt.describe(clip)} are {gw}x{gh}, "
                            f"LQ frames in {lq_store.describe(clip)} are {w}x{h}: not scale {self.scale}; "
                            f"check 'scale' and the folders")
        if region is not None:
            lq = self.read_frames(lq_store, clip, lq_idx, region)
            gt = self.read_frames(self.gt, clip, gt_idx, region, self.scale)
        sample = {"lq": lq, "gt": gt}
        motion = self.motions[source]
        if motion is not None:
            sample.update(motion.load(clip, lq_idx, h, w, region))
        return sample

    def train_transform(self, sample: dict, key: str, region: tuple[int, int, int] | None = None) -> dict:
        """Crop (unless ``region`` says the sample was read cropped) and augment; frames stay strided views
        until :meth:`to_item` copies them into the item's tensors."""
        if self.gt_size and region is None:
            sample = paired_random_crop(sample, self.gt_size, self.scale, source=key)
        return random_augment(sample, self.use_hflip, self.use_rot, self.use_temporal_flip, contiguous=False)

    def to_item(self, sample: dict, key: str) -> dict:
        dtype = self.item_dtype
        item: dict[str, Any] = {"lq": frames_to_tensor(sample["lq"], dtype),
                                "gt": frames_to_tensor(sample["gt"], dtype)}
        if sample.get("ref") is not None:
            item["ref"] = frames_to_tensor(sample["ref"], dtype)
        for name in ("mv_bwd", "mv_fwd", "qp"):
            if sample.get(name) is not None:
                item[name] = side_to_tensor(sample[name], dtype, integral=name == "qp")
        for name in ("valid_bwd", "valid_fwd"):
            if sample.get(name) is not None:
                item[name] = torch.from_numpy(np.ascontiguousarray(sample[name], bool))
        if sample.get("frame_types") is not None:
            item["frame_types"] = torch.from_numpy(np.ascontiguousarray(sample["frame_types"], np.int64))
        item["key"] = key
        return item
