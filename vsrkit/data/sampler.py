"""Training sampler: distributed, enlarged, reshuffled per epoch, resumable, with a seed per item.

Every sampled item carries its own seed, derived from ``(seed, epoch, position)``, and :class:`SeededItems` seeds
python/numpy/torch from it before calling the dataset. So crops and flips depend neither on the number of loader
workers nor on where a run was interrupted: a resumed run sees exactly the items an uninterrupted run would.
"""
from __future__ import annotations

import math
import random
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

_MIX = 1_000_003


def item_seed(seed: int, epoch: int, position: int) -> int:
    """Deterministic 31-bit seed of the item at global ``position`` of ``epoch``."""
    return ((seed * _MIX + epoch) * _MIX + position) % (2**31 - 1)


class EnlargedSampler(Sampler):
    """Yields ``(dataset_index, item_seed)`` for this rank.

    The dataset is virtually repeated ``ratio`` times (BasicSR's ``dataset_enlarge_ratio``) so an epoch is long
    enough for iteration-based training; the permutation depends on ``(seed, epoch)`` only.

    Args:
        num_items: ``len(dataset)``.
        num_replicas / rank: the distributed world; each rank takes every ``num_replicas``-th item.
        ratio: enlarge ratio; shuffle: permute (else in order).
    """

    def __init__(self, num_items: int, num_replicas: int = 1, rank: int = 0, ratio: int = 1, shuffle: bool = True,
                 seed: int = 0):
        if num_items <= 0:
            raise ValueError("EnlargedSampler: the dataset is empty")
        self.num_items, self.num_replicas, self.rank = num_items, num_replicas, rank
        self.shuffle, self.seed = shuffle, seed
        self.num_samples = math.ceil(num_items * ratio / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch's permutation and skip its first ``start`` samples of this rank (for resume)."""
        self.epoch, self.start = epoch, start

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed * _MIX + self.epoch)
            order = torch.randperm(self.total_size, generator=g).tolist()
        else:
            order = list(range(self.total_size))
        for pos in range(self.start, self.num_samples):
            global_pos = pos * self.num_replicas + self.rank
            yield order[global_pos] % self.num_items, item_seed(self.seed, self.epoch, global_pos)

    def __len__(self) -> int:
        return self.num_samples - self.start


class SeededItems(Dataset):
    """Wraps a dataset so that ``self[(index, seed)]`` runs ``dataset[index]`` with all RNGs seeded by ``seed``.

    The caller's RNG states are restored afterwards (matters when loading in the main process).
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index_and_seed: tuple[int, int]):
        index, seed = index_and_seed
        saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
        try:
            random.seed(seed)
            np.random.seed(seed)
            torch.manual_seed(seed)
            return self.dataset[index]
        finally:
            random.setstate(saved[0])
            np.random.set_state(saved[1])
            torch.set_rng_state(saved[2])
