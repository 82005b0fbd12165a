"""Stage 5: overfit one model per chunk, then write the routed index that stitched inference loads.

Two ways, by ``mode``:

- ``separate`` (default, STDO's): one vsrkit run per chunk, each a ``VideoSRModel`` on its chunk's patches only
  (batch 16 of that chunk, its own loss, its own lowest-training-loss checkpoint). Runs go one after another
  in-process, or ``jobs`` at a time as subprocesses (``gpus`` handed out round-robin, ``nproc`` > 1 runs each
  under torchrun / DDP with the batch split over the processes).
- ``routed``: one run of ``RoutedVSRModel`` over all patches, every item routed to its chunk's network; a batch
  mixes chunks, the loss is the mean over the batch and the best checkpoint goes by the summed loss, so each
  network sees ~batch/k patches a step (one process and one data loader for all k networks).

- ``joint`` (vsrkit's design of the paper's "data-aware joint training"): one network for all chunks,
  ``ChunkConditionedSR`` (the backbone plus a per-chunk channel modulation of its head features, 2 k C numbers),
  trained on every patch with difficulty-weighted sampling: each patch of chunk j appears ``r_j`` times an epoch,
  ``r_j = round((m_j / min_i m_i) ** alpha)`` (at most ``max_repeat``), ``m_j`` the chunk's mean label MSE
  (``255^2 10^(-psnr/10)``, the general model's error), ``alpha = 0.5`` by default.

``models/net_g_stdo_net<j>.pth`` hold the chunk networks and ``models/net_g_stdo.pth`` is the index
(``path.pretrain_network_g`` of a ``RoutedVSRModel``); the joint network is ``models/net_g_stdo_joint.pth``
(``path.pretrain_network_g`` of a ``VideoSRModel`` with ``network_g: {type: ChunkConditionedSR, ...}``; the
dataset's ``route_key: chunk`` feeds its ``chunk`` input).
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import torch

from vsrkit.data.vsd4k_dataset import read_patch_chunks
from vsrkit.engine import checkpoint as ckpt
from vsrkit.errors import ConfigError, DataError
from vsrkit.stdo.grid import read_grid
from vsrkit.stdo.recipe import BATCH, EPOCHS, ETA_MIN, LR, SEED, training_options
from vsrkit.stdo.runs import run_parallel, train_in_process, write_options
from vsrkit.stdo.workdir import WorkDir, check_settings, read_record, write_record

log = logging.getLogger("vsrkit")

MODES = ("separate", "routed", "joint")
JOINT_FILE = "net_g_stdo_joint.pth"


def dataset_section(wd: WorkDir, video: dict, scale: int, grid: dict, k: int, chunk: int | None, batch: int,
                    workers: int, route_key: str | None = None, test: bool = False) -> dict:
    """A VSD4KDataset section over the work folder: the training patches of ``chunk`` (all with None)."""
    section = {"type": "VSD4KDataset", "dataroot_gt": str(wd.hr), "dataroot_lq": str(wd.lr(scale)),
               "video": video["video"], "scale": scale, "frame_range": list(video["train_frames"]),
               "patch_grid": [grid["settings"]["cols"], grid["settings"]["rows"]],
               "patch_chunks_file": str(wd.chunks(scale, k)), "chunk": chunk}
    if route_key:
        section["route_key"] = route_key
    if test:
        section["test_mode"] = True
    else:
        section.update(batch_size_per_gpu=batch, num_worker_per_gpu=workers, use_shuffle=True)
    return section


def chunk_sizes(wd: WorkDir, video: dict, scale: int, k: int) -> list[int]:
    start, end = video["train_frames"]
    ids = [j for (f, _, _), j in read_patch_chunks(str(wd.chunks(scale, k))).items() if start <= f < end]
    return [ids.count(j) for j in range(k)]


def chunk_repeats(wd: WorkDir, video: dict, scale: int, k: int, alpha: float, max_repeat: int) -> list[int]:
    """``r_j`` of the joint mode (see the module docstring) from the labels of the training patches."""
    from vsrkit.data.vsd4k_dataset import read_patch_labels

    labels = read_patch_labels(str(wd.labels(scale)))
    start, end = video["train_frames"]
    mse = [[] for _ in range(k)]
    for key, j in read_patch_chunks(str(wd.chunks(scale, k))).items():
        if start <= key[0] < end:
            mse[j].append(255.0 ** 2 * 10 ** (-labels[key] / 10))
    m = [sum(v) / len(v) for v in mse]
    low = min(m) or 1e-12
    return [int(min(max_repeat, max(1, round((v / low) ** alpha)))) for v in m]


def run_options(wd: WorkDir, scale: int, k: int, mode: str, network: dict | None, epochs: int, batch: int,
                lr: float, eta_min: float, nproc: int, workers: int, seed: int, alpha: float = 0.5,
                max_repeat: int = 8) -> list[dict]:
    """The option dicts of the run(s) of ``mode``."""
    video, grid = wd.video(), read_grid(str(wd.root), scale)
    sizes = chunk_sizes(wd, video, scale, k)
    base = f"stdo_{video['video']}_x{scale}_k{k}"
    opts = []
    if mode == "joint":
        repeats = chunk_repeats(wd, video, scale, k, alpha, max_repeat)
        backbone = dict(network or {"type": "WDSR", "scale": int(scale)})
        net = {"type": "ChunkConditionedSR", "backbone": backbone, "num_chunks": k}
        n = sum(r * c for r, c in zip(repeats, sizes))
        opt = training_options(f"{base}_joint", scale, n, net, epochs, batch, lr, eta_min, nproc, seed)
        section = dataset_section(wd, video, scale, grid, k, None, batch // nproc, workers, route_key="chunk")
        opt["datasets"] = {"train": {**section, "chunk_repeat": repeats}}
        opt["path"] = {"experiments_root": str(wd.runs(scale, k) / "joint")}
        return [opt]
    if mode == "separate":
        for j, n in enumerate(sizes):
            opt = training_options(f"{base}_chunk{j}", scale, n, network, epochs, batch, lr, eta_min, nproc, seed)
            opt["datasets"] = {"train": dataset_section(wd, video, scale, grid, k, j, batch // nproc, workers)}
            opt["path"] = {"experiments_root": str(wd.runs(scale, k) / f"chunk{j}")}
            opts.append(opt)
    else:
        opt = training_options(f"{base}_routed", scale, sum(sizes), network, epochs, batch, lr, eta_min, nproc, seed)
        opt.update(model_type="RoutedVSRModel", route={"key": "chunk", "num_networks": k})
        opt["datasets"] = {"train": dataset_section(wd, video, scale, grid, k, None, batch // nproc, workers,
                                                    route_key="chunk")}
        opt["path"] = {"experiments_root": str(wd.runs(scale, k) / "routed")}
        opts.append(opt)
    return opts


def _best(models: Path, suffix: str = "") -> Path:
    best, latest = models / f"net_g_best{suffix}.pth", models / f"net_g_latest{suffix}.pth"
    if best.is_file():
        return best
    if latest.is_file():
        return latest
    raise DataError(f"{models}: no net_g_best{suffix}.pth or net_g_latest{suffix}.pth; the run did not finish")


def write_index(wd: WorkDir, scale: int, k: int, sources: list[Path], meta: dict) -> Path:
    """Copy each chunk's checkpoint to ``models/net_g_stdo_net<j>.pth`` and write the routed index."""
    models = wd.models(scale, k)
    models.mkdir(parents=True, exist_ok=True)
    files = []
    for j, src in enumerate(sources):
        name = f"net_g_stdo_net{j}.pth"
        tmp = models / f".{name}.tmp"
        shutil.copyfile(src, tmp)
        tmp.replace(models / name)
        files.append(name)
    ckpt.atomic_save({"routed": {"key": "chunk", "files": files}, "meta": meta}, wd.index(scale, k))
    return wd.index(scale, k)


def overfit_chunks(work: str, scale: int, num_chunks: int = 2, mode: str = "separate", network: dict | None = None,
                   epochs: int = EPOCHS, batch: int = BATCH, lr: float = LR, eta_min: float = ETA_MIN,
                   jobs: int = 1, gpus: list[str] | None = None, nproc: int = 1, workers: int = 2, seed: int = SEED,
                   overwrite: bool = False, alpha: float = 0.5, max_repeat: int = 8) -> dict:
    """Run the train stage (see the module docstring); returns the stage record."""
    if mode not in MODES:
        raise ConfigError(f"--mode {mode!r}: one of {', '.join(MODES)}")
    wd, k = WorkDir(work), int(num_chunks)
    chunks = read_record(wd.chunks_manifest(scale, k))
    if not chunks or not chunks.get("done"):
        raise DataError(f"{work}: no chunks for x{scale} k={k}; run the chunks stage first")
    opts = run_options(wd, scale, k, mode, network, epochs, batch, lr, eta_min, nproc, workers, seed, alpha,
                       max_repeat)
    settings = {"scale": scale, "num_chunks": k, "mode": mode, "network": opts[0]["network_g"], "epochs": epochs,
                "batch": batch, "lr": lr, "eta_min": eta_min, "nproc": nproc, "seed": seed,
                "chunks": chunks["settings"]}
    if mode == "joint":
        settings.update(alpha=alpha, max_repeat=max_repeat,
                        chunk_repeat=opts[0]["datasets"]["train"]["chunk_repeat"])
    record = check_settings(wd.train_manifest(scale, k), settings, overwrite, "train")
    if record and record.get("done") and Path(record.get("index", "")).is_file():
        log.info("train x%d k=%d: up to date (%s)", scale, k, wd.index(scale, k))
        return record
    if overwrite and wd.runs(scale, k).exists():
        shutil.rmtree(wd.runs(scale, k))
    write_record(wd.train_manifest(scale, k), "train", settings, False)
    files = [write_options(o, wd.split_dir(scale, k) / "options" / f"{o['name']}.yml") for o in opts]
    if jobs > 1 or nproc > 1:
        run_parallel(files, jobs, gpus, nproc)
    else:
        for f in files:
            train_in_process(f)
    if mode == "joint":
        src = _best(Path(opts[0]["path"]["experiments_root"]) / "models")
        wd.models(scale, k).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, wd.models(scale, k) / f".{JOINT_FILE}.tmp")
        (wd.models(scale, k) / f".{JOINT_FILE}.tmp").replace(wd.models(scale, k) / JOINT_FILE)
        size = sum(p.numel() for p in ckpt.load_file(src)["params"].values())
        return write_record(wd.train_manifest(scale, k), "train", settings, True,
                            index=str(wd.models(scale, k) / JOINT_FILE), options=[str(f) for f in files],
                            params_per_network=[size], best=[(ckpt.load_file(src).get("meta") or {}).get("value")])
    if mode == "separate":
        sources = [_best(Path(o["path"]["experiments_root"]) / "models") for o in opts]
    else:
        models = Path(opts[0]["path"]["experiments_root"]) / "models"
        sources = [_best(models, f"_net{j}") for j in range(k)]
    meta = {"arch": opts[0]["network_g"].get("type"), "network_g": opts[0]["network_g"], "scale": scale,
            "num_chunks": k, "mode": mode, "sources": [str(s) for s in sources]}
    index = write_index(wd, scale, k, sources, meta)
    sizes = [sum(p.numel() for p in ckpt.load_file(src)["params"].values()) for src in sources]
    log.info("train x%d k=%d: routed index %s (%d networks, %d parameters each)", scale, k, index, k, sizes[0])
    return write_record(wd.train_manifest(scale, k), "train", settings, True, index=str(index),
                        options=[str(f) for f in files], params_per_network=sizes,
                        best=[(ckpt.load_file(s).get("meta") or {}).get("value") for s in sources])


class JointRouter(torch.nn.Module):
    """The joint network behind the routed interface: ``forward(lq, route)`` passes the route as its ``chunk``."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, lq: torch.Tensor, route: torch.Tensor) -> torch.Tensor:
        return self.net(lq, route)


def load_routed(work: str, scale: int, k: int, device: torch.device | str = "cpu"):
    """The train stage's networks behind one interface, ``model(lq (n, t, c, h, w), route)`` with a route per item
    or a chunk grid per frame: the k chunk networks as ``RoutedNetworks``, or the joint network (eval mode); and
    the train record."""
    from vsrkit.builders import build_network
    from vsrkit.models.routed_model import RoutedNetworks

    wd = WorkDir(work)
    record = read_record(wd.train_manifest(scale, k))
    if not record or not record.get("done"):
        raise DataError(f"{work}: no trained chunk models for x{scale} k={k}; run the train stage first")
    if record["settings"]["mode"] == "joint":
        net = build_network(record["settings"]["network"], where="train record network")
        ckpt.load_network(net, wd.models(scale, k) / JOINT_FILE, "params")
        return JointRouter(net).to(device).eval(), record
    index = ckpt.load_file(wd.index(scale, k))
    nets = []
    for name in index["routed"]["files"]:
        net = build_network(record["settings"]["network"], where="train record network")
        ckpt.load_network(net, wd.models(scale, k) / name, "params")
        nets.append(net)
    return RoutedNetworks(nets).to(device).eval(), record
