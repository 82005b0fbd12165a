"""Data loaders for training (seeded, distributed, resumable) and validation (sharded by rank), and prefetchers."""
from __future__ import annotations

from typing import Iterable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Subset, default_collate

from vsrkit.data.sampler import EnlargedSampler, SeededItems


def build_train_loader(dataset: Dataset, ds_opt: dict, rank: int, world_size: int, seed: int,
                       pin_memory: bool = False) -> tuple[DataLoader, EnlargedSampler]:
    """DataLoader over ``dataset`` with an :class:`EnlargedSampler`; ``batch_size_per_gpu`` per rank.

    ``pin_memory``: whether the run has a GPU to copy to; the option ``pin_memory: false`` turns pinning off there,
    and a CPU run never pins (torch would only warn)."""
    sampler = EnlargedSampler(len(dataset), world_size, rank, ds_opt.get("dataset_enlarge_ratio", 1),
                              ds_opt.get("use_shuffle", True), seed)
    workers = ds_opt.get("num_worker_per_gpu", 0)
    loader = DataLoader(
        SeededItems(dataset), batch_size=ds_opt.get("batch_size_per_gpu", 1), sampler=sampler, drop_last=True,
        num_workers=workers, pin_memory=pin_memory and ds_opt.get("pin_memory", True),
        persistent_workers=False, generator=torch.Generator().manual_seed(seed),  # never consumes the global RNG
        prefetch_factor=2 if workers > 0 else None)
    return loader, sampler


def build_val_loader(dataset: Dataset, rank: int, world_size: int, num_workers: int = 0) -> DataLoader:
    """Each rank takes clips ``rank, rank + world_size, ...`` (no padding, so no clip is scored twice)."""
    shard = Subset(dataset, list(range(rank, len(dataset), world_size)))
    return DataLoader(shard, batch_size=1, shuffle=False, num_workers=num_workers, collate_fn=collate_expanded)


def collate_expanded(items: list[dict]) -> dict:
    """Validation batches are float32 whatever the set's ``item_dtype`` (expanded on the CPU: inference may slice
    and move them to the device piece by piece)."""
    return expand_item(default_collate(items))


_UNIT_TABLES: dict[torch.device, torch.Tensor] = {}


def uint8_to_unit(v: torch.Tensor) -> torch.Tensor:
    """uint8 frames -> float32 ``v / 255``, bitwise what the CPU's ``.float().div_(255)`` gives, on any device.

    The CPU divides. On other devices the values are looked up in a 256-entry table made by that CPU division:
    PyTorch's CUDA kernel divides by a Python number as a multiplication by its reciprocal, which can differ from
    the correctly rounded quotient in the last bit.
    """
    if v.device.type == "cpu":
        return v.float().div_(255.0)
    table = _UNIT_TABLES.get(v.device)
    if table is None:
        table = _UNIT_TABLES[v.device] = torch.arange(256, dtype=torch.float32).div_(255.0).to(v.device)
    return table[v.long()]


def expand_item(batch: dict) -> dict:
    """The float32 item of the contract from a compact one (``item_dtype: uint8``): uint8 frames -> ``v / 255``
    (:func:`uint8_to_unit`), float16 side inputs -> float32. Both are exact, so the values are bitwise those of a
    float32 item; float32, bool and integer tensors pass unchanged (a uint8 tensor in an item is always frames)."""
    out = {}
    for k, v in batch.items():
        if torch.is_tensor(v) and v.dtype == torch.uint8:
            v = uint8_to_unit(v)
        elif torch.is_tensor(v) and v.dtype == torch.float16:
            v = v.float()
        out[k] = v
    return out


def to_device(batch: dict, device: torch.device, non_blocking: bool = False) -> dict:
    """``batch`` on ``device``, compact items expanded there (:func:`expand_item`): 4x fewer bytes to copy."""
    return expand_item({k: v.to(device, non_blocking=non_blocking) if torch.is_tensor(v) else v
                        for k, v in batch.items()})


def cpu_prefetch(loader: Iterable[dict], device: torch.device) -> Iterator[dict]:
    """Batches moved to ``device`` synchronously (the DataLoader's workers already prefetch on the CPU side)."""
    for batch in loader:
        yield to_device(batch, device)


def cuda_prefetch(loader: Iterable[dict], device: torch.device) -> Iterator[dict]:
    """Copies the next batch to the GPU on a side stream while the current one is used (pin_memory recommended)."""
    stream = torch.cuda.Stream(device=device)
    it = iter(loader)
    nxt = None

    def preload():
        try:
            batch = next(it)
        except StopIteration:
            return None
        with torch.cuda.stream(stream):
            return to_device(batch, device, non_blocking=True)

    nxt = preload()
    while nxt is not None:
        torch.cuda.current_stream(device).wait_stream(stream)
        batch = nxt
        for v in batch.values():
            if torch.is_tensor(v):
                v.record_stream(torch.cuda.current_stream(device))
        nxt = preload()
        yield batch


def prefetch(loader: Iterable[dict], device: torch.device, mode: str | None) -> Iterator[dict]:
    """``mode``: None/'cpu' -> :func:`cpu_prefetch`; 'cuda' -> :func:`cuda_prefetch` (CPU device falls back)."""
    if mode == "cuda" and device.type == "cuda":
        return cuda_prefetch(loader, device)
    return cpu_prefetch(loader, device)
