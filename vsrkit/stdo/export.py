"""Deployment: each chunk network and the router as ONNX files, checked against PyTorch, and the stitched playback
speed (STDO's point is phone-speed playback).

- ``chunk<j>.onnx``: one chunk network, input ``lq (n, 3, h, w)`` in [0, 1] (any n, h, w), output ``sr
  (n, 3, s*h, s*w)`` unclamped. WDSR is exported with its weight normalisation folded (``weight_norm: false``: the
  same function, one fewer number per output filter). A joint model is exported once (``joint.onnx``) with a second
  input ``chunk (n,)`` int64.
- ``router.onnx``: the patch labels ``(rows, cols)`` float (the general model's PSNR, computed where the HR frame
  is, i.e. on the server, and sent with the stream) -> chunk ids ``(rows, cols)`` int64, the number of chunk edges
  below each label (the chunks stage's edges baked in).

Playback stitches in Python: the frame is cut into the grid, patches are grouped by chunk id, each group runs in
its chunk's session, and the outputs go back in place (:func:`stitch_numpy`). Needs the optional extras
``pip install onnx onnxruntime`` (``vsrkit[onnx]``).
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vsrkit.builders import build_network
from vsrkit.engine import checkpoint as ckpt
from vsrkit.errors import ConfigError, DataError
from vsrkit.fileio import write_json_atomic
from vsrkit.stdo.workdir import WorkDir, read_record

log = logging.getLogger("vsrkit")


class ChunkRouter(nn.Module):
    """Labels ``(rows, cols)`` -> chunk ids ``(rows, cols)`` int64: how many of the ``edges`` lie below each label."""

    def __init__(self, edges: list[float]):
        super().__init__()
        self.register_buffer("edges", torch.tensor(edges, dtype=torch.float32).view(1, 1, -1))

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return (labels.float().unsqueeze(-1) > self.edges).sum(-1).long()


def require_onnx():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ConfigError("ONNX export needs the optional extras: pip install onnx onnxruntime") from None


def export_module(net: nn.Module, args: tuple, names: list[str], path: Path, dynamic: dict) -> None:
    """``torch.onnx.export`` (TorchScript exporter, opset 17) to a temporary name, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.onnx.export(net, args, str(tmp), input_names=names[:len(args)], output_names=names[len(args):],
                          dynamic_axes=dynamic, opset_version=17, dynamo=False)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def deployable(network: dict, weights: dict) -> nn.Module:
    """The network of ``network`` with ``weights``, weight norm folded for WDSR, eval mode, float32."""
    cfg = dict(network)
    if cfg.get("type") == "WDSR":
        cfg["weight_norm"] = False
    net = build_network(cfg, where="export network")
    if cfg.get("type") == "WDSR":
        from vsrkit.archs.official import to_vsrkit_state_dict

        weights = to_vsrkit_state_dict(net, weights, "export")
    net.load_state_dict(weights)
    return net.eval()


def session(path: Path, threads: int = 1):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def export_work(work: str, scale: int, num_chunks: int = 2, check_patches: int = 4) -> dict:
    """Export the train stage's networks and the router of ``work``; returns (and writes) ``onnx/export.json``."""
    require_onnx()
    wd, k = WorkDir(work), int(num_chunks)
    train = read_record(wd.train_manifest(scale, k))
    chunks = read_record(wd.chunks_manifest(scale, k))
    grid = read_record(wd.grid(scale))
    if not train or not train.get("done") or not chunks or not grid:
        raise DataError(f"{work}: export needs the grid, chunks and train stages of x{scale} k={k}")
    out = wd.split_dir(scale, k) / "onnx"
    ph, pw = grid["lr_patch"]
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(check_patches, 3, ph, pw, generator=gen)
    result = {"scale": scale, "num_chunks": k, "lr_patch": [ph, pw], "models": []}
    network = train["settings"]["network"]
    joint = train["settings"]["mode"] == "joint"
    files = ([wd.models(scale, k) / "net_g_stdo_joint.pth"] if joint else
             [wd.models(scale, k) / f for f in ckpt.load_file(wd.index(scale, k))["routed"]["files"]])
    for j, file in enumerate(files):
        weights = ckpt.load_file(file)["params"]
        if joint:
            net = build_network(network, where="export network")
            net.load_state_dict(weights)
            net.eval()
            ids = torch.arange(check_patches) % k
            path, args, names = out / "joint.onnx", (x, ids), ["lq", "chunk", "sr"]
            dynamic = {"lq": {0: "n", 2: "h", 3: "w"}, "chunk": {0: "n"}, "sr": {0: "n", 2: "H", 3: "W"}}
        else:
            net = deployable(network, weights)
            path, args, names = out / f"chunk{j}.onnx", (x,), ["lq", "sr"]
            dynamic = {"lq": {0: "n", 2: "h", 3: "w"}, "sr": {0: "n", 2: "H", 3: "W"}}
        export_module(net, args, names, path, dynamic)
        with torch.no_grad():
            ref = net(*args).numpy()
            if not joint:  # the folded network against the trained (weight-normalised) one
                trained = build_network(network, where="export network")
                trained.load_state_dict(weights)
                fold_diff = float(np.abs(trained.eval()(x).numpy() - ref).max())
        feeds = {n: a.numpy() for n, a in zip(names, args)}
        got = session(path).run(None, feeds)[0]
        result["models"].append({
            "file": str(path), "bytes": path.stat().st_size, "params": sum(v.numel() for v in weights.values()),
            "max_abs_diff_vs_torch": float(np.abs(got - ref).max()),
            **({} if joint else {"max_abs_diff_folded_vs_trained": fold_diff})})
    router = ChunkRouter(chunks["edges"])
    labels = torch.tensor(np.random.default_rng(0).uniform(20, 50, (grid["settings"]["rows"],
                                                                     grid["settings"]["cols"])), dtype=torch.float32)
    export_module(router, (labels,), ["labels", "chunk"], out / "router.onnx",
                  {"labels": {0: "rows", 1: "cols"}, "chunk": {0: "rows", 1: "cols"}})
    got = session(out / "router.onnx").run(None, {"labels": labels.numpy()})[0]
    result["router"] = {"file": str(out / "router.onnx"), "edges": chunks["edges"],
                        "matches_torch": bool((got == router(labels).numpy()).all())}
    write_json_atomic(out / "export.json", result)
    return result


def stitch_numpy(run_chunk, lq: np.ndarray, route: np.ndarray, scale: int) -> np.ndarray:
    """Stitched SR of one LR frame ``(3, h, w)`` float32: patches grouped by ``route (rows, cols)`` and run by
    ``run_chunk(j, patches (m, 3, ph, pw)) -> (m, 3, s*ph, s*pw)``; returns ``(3, s*h, s*w)``."""
    c, h, w = lq.shape
    rows, cols = route.shape
    ph, pw = h // rows, w // cols
    patches = lq.reshape(c, rows, ph, cols, pw).transpose(1, 3, 0, 2, 4).reshape(rows * cols, c, ph, pw)
    flat = route.reshape(-1)
    out = np.empty((rows * cols, c, ph * scale, pw * scale), np.float32)
    for j in np.unique(flat):
        sel = np.nonzero(flat == j)[0]
        out[sel] = run_chunk(int(j), np.ascontiguousarray(patches[sel]))
    return out.reshape(rows, cols, c, ph * scale, pw * scale).transpose(2, 0, 3, 1, 4).reshape(
        c, h * scale, w * scale)


def bench_stitched(scale: int, network: dict | None = None, grid=None, hr=(1080, 1920), k: int = 2,
                   frames: int = 2, threads: int = 1, backends=("torch", "onnxruntime"), folder: str | None = None,
                   seed: int = 0) -> dict:
    """Stitched playback fps of k chunk networks at ``hr`` output (published WDSR-A and grid by default, random
    weights: speed does not depend on them), per backend, on the CPU with ``threads`` threads."""
    from vsrkit.stdo.frames import DEFAULT_GRIDS

    cols, rows = grid or DEFAULT_GRIDS[scale]
    torch.manual_seed(seed)
    cfg = dict(network or {"type": "WDSR", "scale": scale})
    trained = [build_network(cfg, where="bench network") for _ in range(k)]
    nets = [deployable(cfg, n.state_dict()) for n in trained]
    lq = np.random.default_rng(seed).random((3, hr[0] // scale, hr[1] // scale), dtype=np.float32)
    route = (np.arange(rows * cols).reshape(rows, cols) % k).astype(np.int64)
    torch.set_num_threads(threads)
    result = {"scale": scale, "hr": list(hr), "grid": [cols, rows], "threads": threads, "frames": frames,
              "params_per_chunk": sum(p.numel() for p in nets[0].parameters()), "backends": {}}
    runners = {}
    if "torch" in backends:
        def run_torch(j, x):
            with torch.no_grad():
                return nets[j](torch.from_numpy(x)).numpy()
        runners["torch"] = run_torch
    if "onnxruntime" in backends:
        require_onnx()
        import tempfile

        tmp = Path(folder or tempfile.mkdtemp(prefix="stdo_bench_"))
        ph, pw = lq.shape[1] // rows, lq.shape[2] // cols
        sessions = []
        for j, net in enumerate(nets):
            path = tmp / f"bench_x{scale}_chunk{j}.onnx"
            export_module(net, (torch.rand(1, 3, ph, pw),), ["lq", "sr"], path,
                          {"lq": {0: "n", 2: "h", 3: "w"}, "sr": {0: "n", 2: "H", 3: "W"}})
            sessions.append(session(path, threads))
        result["onnx_bytes_per_chunk"] = (tmp / f"bench_x{scale}_chunk0.onnx").stat().st_size
        runners["onnxruntime"] = lambda j, x: sessions[j].run(None, {"lq": x})[0]
    for name, run in runners.items():
        small = np.ascontiguousarray(lq[:, :lq.shape[1] // rows * 1, :lq.shape[2] // cols * 2])
        stitch_numpy(run, small, route[:1, :2], scale)  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(frames):
            stitch_numpy(run, lq, route, scale)
        dt, cpu = (time.perf_counter() - t0) / frames, (time.process_time() - c0) / frames
        # CPU seconds (all threads of this process) are what a frame costs on a machine shared with other work
        result["backends"][name] = {"seconds_per_frame": dt, "fps": 1.0 / dt, "cpu_seconds_per_frame": cpu}
    return result


def to_json(result: dict) -> str:
    return json.dumps(result, indent=2, sort_keys=True)
