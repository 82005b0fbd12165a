"""The general SR model that labels patch difficulty: a user checkpoint, a WDSR vsrkit trains on a folder of
images, or (only when named explicitly) bicubic upsampling."""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from vsrkit.builders import build_network
from vsrkit.data.patch_grid import bicubic_patches
from vsrkit.engine import checkpoint as ckpt
from vsrkit.errors import ConfigError
from vsrkit.stdo.runs import train_in_process, write_options

log = logging.getLogger("vsrkit")

KINDS = ("checkpoint", "train", "bicubic")


class Bicubic(nn.Module):
    """The explicit fallback labeller: bicubic upsampling (``(n, 3, h, w)`` -> ``(n, 3, sh, sw)``, clamped)."""

    def __init__(self, scale: int):
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bicubic_patches(x, self.scale)


def default_network(scale: int) -> dict:
    return {"type": "WDSR", "scale": int(scale)}  # STDO's WDSR-A, published configuration


def general_settings(kind: str, scale: int, checkpoint: str | None = None, images: str | None = None,
                     network: dict | None = None, iters: int = 20000, gt_size: int = 96, batch: int = 16,
                     lr: float = 1e-3) -> dict:
    """The labeller's settings, checked: ``kind`` is ``checkpoint`` (needs ``checkpoint``), ``train`` (needs
    ``images``) or ``bicubic``."""
    if kind not in KINDS:
        raise ConfigError(f"general model: {kind!r} is not one of {', '.join(KINDS)} (--general-model PATH, "
                          f"--general-train FOLDER or --general-bicubic)")
    if kind == "checkpoint" and not checkpoint:
        raise ConfigError("general model: --general-model needs a checkpoint path")
    if kind == "train" and not images:
        raise ConfigError("general model: --general-train needs a folder of HR images")
    out = {"kind": kind}
    if kind != "bicubic":
        out["network"] = dict(network or default_network(scale))
        if int(out["network"].get("scale", scale)) != scale:
            raise ConfigError(f"general model: network scale {out['network']['scale']} is not x{scale}")
        out["network"]["scale"] = int(scale)
    if kind == "checkpoint":
        out["checkpoint"] = str(Path(checkpoint).resolve())
    if kind == "train":
        out.update(images=str(Path(images).resolve()), iters=int(iters), gt_size=int(gt_size), batch=int(batch),
                   lr=float(lr))
    return out


def train_general(folder: Path, scale: int, settings: dict, seed: int = 0) -> Path:
    """Train the general WDSR on ``settings['images']`` (L1, Adam, cosine, random crops); returns its weights."""
    iters = settings["iters"]
    opt = {
        "name": f"stdo_general_x{scale}", "model_type": "VideoSRModel", "scale": scale, "num_gpu": "auto",
        "manual_seed": seed,
        "datasets": {"train": {"type": "ImageFolderSRDataset", "dataroot": settings["images"], "scale": scale,
                               "gt_size": settings["gt_size"], "batch_size_per_gpu": settings["batch"],
                               "num_worker_per_gpu": 0}},
        "network_g": settings["network"],
        "path": {"experiments_root": str(folder)},
        "train": {"total_iter": iters, "optim_g": {"type": "Adam", "lr": settings["lr"]},
                  "scheduler": {"type": "CosineAnnealingLR", "T_max": iters, "eta_min": 1e-7},
                  "losses": [{"type": "L1Loss", "name": "l_pix"}]},
        "val": {"val_freq": 0},
        "logger": {"print_freq": max(1, min(100, iters)), "save_checkpoint_freq": max(1, min(1000, iters)),
                   "use_tb_logger": False, "keep_last": 2},
    }
    weights = folder / "models" / "net_g_latest.pth"
    if not weights.is_file():
        train_in_process(write_options(opt, folder / "general.yml"))
    return weights


def load_general(settings: dict, scale: int, folder: Path, device: torch.device) -> nn.Module:
    """The labeller of ``settings`` in eval mode on ``device`` (trained first for ``kind: train``)."""
    if settings["kind"] == "bicubic":
        log.warning("labels: bicubic fallback (named explicitly); STDO labels with a general SR model")
        return Bicubic(scale).to(device)
    net = build_network(settings["network"], where="general model network")
    path = settings["checkpoint"] if settings["kind"] == "checkpoint" else train_general(folder, scale, settings)
    ckpt.load_network(net, path)
    return net.to(device).eval()
