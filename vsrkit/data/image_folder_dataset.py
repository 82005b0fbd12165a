"""Single images for a general SR model (STDO's difficulty labeller): a folder of HR images, LR made on the fly.

Each HR image is cropped (top-left kept) to a multiple of ``scale``; the LR image is its MATLAB-bicubic
downsampling (``vsrkit.degrade.imresize``, VSD4K's / DIV2K's "bicubic" LR). Training items are random ``gt_size``
crops (the LR made from the crop), optionally flipped/rotated; test items are whole images. Items:
``lq (1, 3, h, w)``, ``gt (1, 3, h*s, w*s)``, ``clip`` (the file name), ``frame_ids [0]``, ``key``.
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch
from torch.utils.data import Dataset

from vsrkit.data.prepare import image_files
from vsrkit.data.storage import read_png
from vsrkit.data.transforms import random_augment
from vsrkit.data.video_base import frames_to_tensor
from vsrkit.errors import ConfigError, DataError
from vsrkit.registry import DATASETS


@DATASETS.register()
class ImageFolderSRDataset(Dataset):
    """HR images of ``dataroot`` with bicubic LR; see the module docstring.

    Args:
        dataroot: folder of images (png, jpg, ...).
        scale: 2, 3 or 4.
        gt_size: HR crop size in training (a multiple of ``scale``); ignored in test mode.
        use_hflip, use_rot: augmentation in training.
        test_mode: whole images, no augmentation.
        max_images: use only the first N images (natural order).
    """

    #: ``float32`` items, or ``uint8`` (the loader key ``item_dtype``; see ``vsrkit.data.loader.expand_item``)
    item_dtype = "float32"

    def __init__(self, dataroot: str, scale: int = 2, gt_size: int = 96, use_hflip: bool = True,
                 use_rot: bool = True, test_mode: bool = False, max_images: int | None = None):
        super().__init__()
        where = "datasets.test" if test_mode else "datasets.train"
        self.scale, self.gt_size, self.test_mode = int(scale), int(gt_size), test_mode
        self.use_hflip, self.use_rot = use_hflip, use_rot
        if self.scale < 1:
            raise ConfigError(f"{where}.scale: must be >= 1, got {scale}")
        if not test_mode and (self.gt_size < self.scale or self.gt_size % self.scale):
            raise ConfigError(f"{where}.gt_size: {gt_size} must be a positive multiple of scale {scale}")
        self.files = [os.path.join(dataroot, f) for f in image_files(dataroot)][:max_images]
        if not self.files:
            raise DataError(f"{dataroot}: no images; point {where}.dataroot at a folder of HR images")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict:
        from vsrkit.degrade import imresize

        path, s = self.files[index], self.scale
        hr = read_png(path)
        h, w = hr.shape[0] // s * s, hr.shape[1] // s * s
        if not self.test_mode:
            if min(h, w) < self.gt_size:
                raise DataError(f"{path}: {w}x{h} is smaller than gt_size {self.gt_size}; lower gt_size")
            y, x = random.randint(0, h - self.gt_size), random.randint(0, w - self.gt_size)
            h = w = self.gt_size
            hr = hr[y:y + h, x:x + w]
        hr = np.ascontiguousarray(hr[:h, :w])
        sample = {"lq": imresize(hr, 1.0 / s)[None], "gt": hr[None]}
        if not self.test_mode and (self.use_hflip or self.use_rot):
            sample = random_augment(sample, self.use_hflip, self.use_rot, False, rng=random)
        name = os.path.basename(path)
        return {"lq": frames_to_tensor(sample["lq"], self.item_dtype),
                "gt": frames_to_tensor(sample["gt"], self.item_dtype), "clip": name,
                "frame_ids": torch.tensor([0]), "key": name}
