"""STDO's published training recipe as vsrkit options (methods.md section 5, docs/stdo.md): WDSR-A, L1, Adam
1e-3, cosine over 50 epochs stepped per epoch down to 4e-8, batch 16 whole patches, shuffled, no augmentation,
seed 226, and the checkpoint with the lowest epoch training loss."""
from __future__ import annotations

import math

EPOCHS = 50
BATCH = 16
LR = 1e-3
ETA_MIN = 4e-8
SEED = 226


def iters_per_epoch(num_patches: int, batch: int = BATCH, nproc: int = 1) -> int:
    """Optimiser steps per epoch with ``drop_last`` (per rank: ``ceil(n / nproc)`` items in batches of
    ``batch / nproc``)."""
    per_gpu = batch // nproc
    return math.ceil(num_patches / nproc) // per_gpu


def training_options(name: str, scale: int, num_patches: int, network: dict | None = None, epochs: int = EPOCHS,
                     batch: int = BATCH, lr: float = LR, eta_min: float = ETA_MIN, nproc: int = 1,
                     seed: int = SEED) -> dict:
    """Options of one STDO training run on ``num_patches`` patches (the dataset section is left to the caller)."""
    if batch % nproc:
        raise ValueError(f"batch {batch} is not divisible by {nproc} processes")
    ipe = iters_per_epoch(num_patches, batch, nproc)
    if ipe < 1:
        raise ValueError(f"{num_patches} patches make no batch of {batch}; lower the batch size")
    return {
        "name": name, "model_type": "VideoSRModel", "scale": int(scale), "num_gpu": "auto", "manual_seed": seed,
        "network_g": dict(network or {"type": "WDSR", "scale": int(scale)}),
        "train": {"total_iter": epochs * ipe, "optim_g": {"type": "Adam", "lr": lr},
                  "scheduler": {"type": "EpochCosineAnnealingLR", "T_max": epochs, "iters_per_epoch": ipe,
                                "eta_min": eta_min},
                  "losses": [{"type": "L1Loss", "name": "l_pix"}]},
        "val": {"val_freq": ipe, "best": {"metric": "train/l_pix", "mode": "min"}},
        "logger": {"print_freq": max(1, min(100, ipe)), "save_checkpoint_freq": ipe, "use_tb_logger": False,
                   "keep_last": 2},
    }
