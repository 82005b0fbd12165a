"""VSD4K (content-aware SR, STDO / CaFM): per-video HR and LR frame folders cut into a grid of patches.

Layout (after ``scripts/prepare_vsd4k.py``): ``<root>/HR/<video>/00000000.png`` and
``<root>/LR_bicubic/X<s>/<video>/00000000.png``, videos named ``<topic>_<length>`` (``game_15s``, ``inter_45s``,
``vlog_15s`` ...). 1080x1920 frames at 30 fps; a ``15s`` video uses its first 450 frames.

STDO cuts each frame into a grid of ``cols x rows`` patches: 20 x 10 for x2 (HR patch 96 wide x 108 high) and
10 x 5 for x4 (192 x 216); other scales need ``patch_grid``. Patches are labelled (e.g. with the PSNR of a general
SR model) in a ``patch_labels_file`` with lines ``frame row col value``; ``num_chunks`` equal-size quantile chunks
split the patches (chunk 0 = lowest values) and ``chunk`` selects one (``chunk: null`` keeps them all). Instead of
labels, ``patch_chunks_file`` gives the chunk of each patch directly (lines ``frame row col chunk``, as written by
STDO's chunk stage, ``vsrkit.stdo``). With ``route_key`` set, each item also carries its chunk under that key for
``RoutedVSRModel``: one id per patch item, or a ``(rows, cols)`` grid of ids per whole frame. Items:
``lq (1, 3, h, w)``, ``gt (1, 3, h*s, w*s)``, ``key = '<video>/<frame:08d>/r<row>c<col>'`` (whole frames with
``patches: false``, key ``'<video>/<frame:08d>'``).
"""
from __future__ import annotations

import random
import re
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from vsrkit.data.storage import open_storage
from vsrkit.data.transforms import random_augment
from vsrkit.data.video_base import frames_to_tensor
from vsrkit.errors import ConfigError, DataError
from vsrkit.manifest import check_manifest
from vsrkit.registry import DATASETS

DEFAULT_GRIDS = {2: (20, 10), 4: (10, 5)}  # (cols, rows), from STDO's scripts
FPS = 30


def quantile_chunks(values: Sequence[float], num_chunks: int) -> np.ndarray:
    """Chunk id (0..num_chunks-1) of each value: equal-size groups by rank, chunk 0 = the lowest values."""
    values = np.asarray(values, np.float64)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), np.int64)
    ranks[order] = np.arange(len(values))
    return (ranks * num_chunks) // max(len(values), 1)


def read_patch_labels(path: str, option: str = "patch_labels_file",
                      form: str = "frame row col value") -> dict[tuple[int, int, int], float]:
    """``{(frame, row, col): value}`` from lines ``frame row col value``."""
    labels = {}
    try:
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip() or line.startswith("#"):
                    continue
                try:
                    frame, row, col, value = line.split()
                    labels[(int(frame), int(row), int(col))] = float(value)
                except ValueError:
                    raise DataError(f"{path}:{lineno}: expected '{form}', got {line.strip()!r}") from None
    except FileNotFoundError:
        raise DataError(f"{option}: {path} does not exist; write the patch labels first") from None
    return labels


def read_patch_chunks(path: str) -> dict[tuple[int, int, int], int]:
    """``{(frame, row, col): chunk}`` from lines ``frame row col chunk``."""
    return {k: int(v) for k, v in read_patch_labels(path, "patch_chunks_file", "frame row col chunk").items()}


def video_seconds(video: str) -> int | None:
    m = re.search(r"_(\d+)s(?:_|$)", video)
    return int(m.group(1)) if m else None


@DATASETS.register()
class VSD4KDataset(Dataset):
    """Patches (or whole frames) of one VSD4K video; see the module docstring.

    Args:
        dataroot_gt, dataroot_lq: HR and LR roots holding ``<video>/`` frame folders (any ``io_backend``).
        video: ``<topic>_<length>``, e.g. ``game_15s``.
        scale: 2, 3 or 4.
        frame_range: ``[start, end)`` 0-based; default the first ``seconds * 30`` frames (all when the name has
            no length). CaFM's held-out test frames of a 15 s video: ``[450, 495]``.
        patch_grid: ``[cols, rows]``; default 20x10 (x2) / 10x5 (x4).
        patches: items are grid patches (True) or whole frames (False).
        patch_labels_file, num_chunks, chunk: keep only the patches of one quantile chunk of the labels
            (``chunk: null``: all chunks).
        patch_chunks_file: the chunk of each patch given directly (instead of labels and quantiles).
        route_key: emit each item's chunk id (patches) or chunk grid ``(rows, cols)`` (whole frames) under this key.
        chunk_repeat: ``[r_0, ..., r_{k-1}]``: each patch of chunk j appears r_j times per epoch (difficulty-weighted
            sampling for one model trained on all chunks).
        use_hflip, use_rot: augmentation in training (STDO trains without).
        test_mode: no augmentation.
    """

    #: ``float32`` items, or ``uint8`` (the loader key ``item_dtype``; see ``vsrkit.data.loader.expand_item``)
    item_dtype = "float32"

    def __init__(self, dataroot_gt: str, dataroot_lq: str, video: str, scale: int = 2,
                 io_backend: dict | None = None, frame_range: Sequence[int] | None = None,
                 patch_grid: Sequence[int] | None = None, patches: bool = True, patch_labels_file: str | None = None,
                 num_chunks: int = 1, chunk: int | None = 0, use_hflip: bool = False, use_rot: bool = False,
                 test_mode: bool = False, manifest_check: dict | None = None, patch_chunks_file: str | None = None,
                 route_key: str | None = None, chunk_repeat: Sequence[int] | None = None):
        super().__init__()
        where = "datasets.val" if test_mode else "datasets.train"
        self.video, self.scale, self.patches, self.test_mode = video, int(scale), patches, test_mode
        self.use_hflip, self.use_rot = use_hflip, use_rot
        self.gt = open_storage(dataroot_gt, io_backend, f"{where}.dataroot_gt")
        self.lq = open_storage(dataroot_lq, io_backend, f"{where}.dataroot_lq")
        check_manifest(dataroot_lq, {"scale": self.scale, **(manifest_check or {})}, where)
        n_gt, n_lq = self.gt.num_frames(video), self.lq.num_frames(video)
        if n_gt != n_lq:
            raise DataError(f"clip '{video}': {n_gt} HR frames in {self.gt.describe(video)} but {n_lq} LR frames in "
                            f"{self.lq.describe(video)}; re-create the LR frames")
        if frame_range is None:
            seconds = video_seconds(video)
            frame_range = (0, min(n_gt, seconds * FPS) if seconds else n_gt)
        start, end = int(frame_range[0]), int(frame_range[1])
        if not 0 <= start < end <= n_gt:
            raise ConfigError(f"{where}.frame_range: [{start}, {end}) is outside the {n_gt} frames of '{video}'")
        self.frames = list(range(start, end))
        if patch_grid is None:
            if self.scale not in DEFAULT_GRIDS:
                raise ConfigError(f"{where}.patch_grid: no STDO default grid for x{self.scale}; give [cols, rows]")
            patch_grid = DEFAULT_GRIDS[self.scale]
        self.cols, self.rows = int(patch_grid[0]), int(patch_grid[1])
        lr = self.lq.read(video, start)
        h, w = lr.shape[:2]
        if h % self.rows or w % self.cols:
            raise DataError(f"{self.lq.describe(video)}: LR frames {w}x{h} do not split into a {self.cols}x{self.rows} "
                            f"grid; set patch_grid")
        self.patch_h, self.patch_w = h // self.rows, w // self.cols
        self.route_key = route_key
        grid_items = [(f, r, c) for f in self.frames for r in range(self.rows) for c in range(self.cols)]
        self.chunk_of: dict[tuple[int, int, int], int] | None = None
        if patch_labels_file is not None or patch_chunks_file is not None:
            self.chunk_of = self._chunk_ids(grid_items, patch_labels_file, patch_chunks_file, int(num_chunks), where)
        elif route_key is not None:
            raise ConfigError(f"{where}.route_key: needs patch_labels_file or patch_chunks_file to know each "
                              f"patch's chunk")
        if patches:
            items = grid_items
            if self.chunk_of is not None and chunk is not None:
                if patch_chunks_file is None and not 0 <= int(chunk) < int(num_chunks):
                    raise ConfigError(f"{where}.chunk: {chunk} is not in [0, {num_chunks})")
                items = [it for it in items if self.chunk_of[it] == int(chunk)]
                if not items:
                    raise DataError(f"{patch_chunks_file or patch_labels_file}: no patch of chunk {chunk} in frames "
                                    f"[{start}, {end}); check chunk and frame_range")
            if chunk_repeat is not None:
                if self.chunk_of is None or any(int(r) < 0 for r in chunk_repeat):
                    raise ConfigError(f"{where}.chunk_repeat: needs chunk labels and counts >= 0, got {chunk_repeat}")
                if max(self.chunk_of.values()) >= len(chunk_repeat):
                    raise ConfigError(f"{where}.chunk_repeat: {len(chunk_repeat)} counts for "
                                      f"{max(self.chunk_of.values()) + 1} chunks")
                items = [it for it in items for _ in range(int(chunk_repeat[self.chunk_of[it]]))]
        else:
            items = [(f, None, None) for f in self.frames]
        self.items = items

    @staticmethod
    def _chunk_ids(items, labels_path, chunks_path, num_chunks, where) -> dict[tuple[int, int, int], int]:
        """Chunk id of every patch of ``items``: given (``patch_chunks_file``) or quantiles of the labels."""
        if labels_path is not None and chunks_path is not None:
            raise ConfigError(f"{where}: give patch_labels_file or patch_chunks_file, not both")
        path = chunks_path or labels_path
        table = read_patch_chunks(path) if chunks_path else read_patch_labels(path)
        missing = [it for it in items if it not in table]
        if missing:
            raise DataError(f"{path}: no entry for patch frame {missing[0][0]} row {missing[0][1]} col "
                            f"{missing[0][2]} ({len(missing)} missing); label every patch of the frame range")
        if chunks_path:
            return {it: table[it] for it in items}
        return dict(zip(items, quantile_chunks([table[it] for it in items], num_chunks).tolist()))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        frame, row, col = self.items[index]
        lq = self.lq.read(self.video, frame)
        gt = self.gt.read(self.video, frame)
        s = self.scale
        if gt.shape[:2] != (lq.shape[0] * s, lq.shape[1] * s):
            raise DataError(f"clip '{self.video}' frame {frame}: HR {gt.shape[1]}x{gt.shape[0]} is not x{s} of LR "
                            f"{lq.shape[1]}x{lq.shape[0]}; check 'scale'")
        key, clip = f"{self.video}/{frame:08d}", self.video
        if row is not None:
            ph, pw = self.patch_h, self.patch_w
            lq = lq[row * ph:(row + 1) * ph, col * pw:(col + 1) * pw]
            gt = gt[row * ph * s:(row + 1) * ph * s, col * pw * s:(col + 1) * pw * s]
            key += f"/r{row:02d}c{col:02d}"
            clip = f"{self.video}/r{row:02d}c{col:02d}"  # a patch position is scored as its own clip
        sample = {"lq": lq[None], "gt": gt[None]}
        if not self.test_mode and (self.use_hflip or self.use_rot):
            sample = random_augment(sample, self.use_hflip, self.use_rot, False, rng=random)
        item = {"lq": frames_to_tensor(sample["lq"], self.item_dtype),
                "gt": frames_to_tensor(sample["gt"], self.item_dtype), "key": key,
                "clip": clip, "frame_ids": torch.tensor([frame], dtype=torch.int64)}
        if self.route_key is not None:
            if row is not None:
                item[self.route_key] = torch.tensor(self.chunk_of[(frame, row, col)], dtype=torch.int64)
            else:
                item[self.route_key] = torch.tensor([[self.chunk_of[(frame, r, c)] for c in range(self.cols)]
                                                     for r in range(self.rows)], dtype=torch.int64)
        return item
