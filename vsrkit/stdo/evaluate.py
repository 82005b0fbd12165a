"""Stage 7: evaluation, by protocol name.

- ``stdo`` (the paper's): each chunk's network on **its own training patches**; outputs rounded to 8 bits
  (``(sr * 255).round().clamp(0, 255)``), MSE per patch over RGB after a shave of ``scale + 4`` px (what the
  published ``trainer.py`` passes; methods.md's "4-px shave" is the metric's unused default, ``--shave 4`` gives
  it), and ``PSNR = 10 log10(255^2 / mean MSE)`` per chunk and pooled over every patch of every chunk (the
  published meter with ``eval_batch_size=1``).
- ``cafm`` (CaFM's held-out frames, e.g. 451-495 of a 15 s video): whole held-out frames, stitched from their
  patches routed by the chunk map, PSNR per frame over RGB after a shave of ``scale + 6`` px (EDSR-PyTorch's
  ``calc_psnr`` for non-benchmark sets, CaFM's code base; vsrkit's reading, ``--shave`` changes it), the mean over
  frames, and the pooled PSNR beside it.

Both tables have a bicubic column (torch bicubic, clamped, same protocol) and, on VSD4K videos, the paper's
table beside them. Results: ``eval_<protocol>.md`` and ``.json``.
"""
from __future__ import annotations

import logging
import math

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from vsrkit.builders import build_dataset
from vsrkit.errors import ConfigError, DataError
from vsrkit.fileio import write_json_atomic, write_text_atomic
from vsrkit.models.video_sr_model import bicubic_upsample
from vsrkit.stdo.grid import read_grid
from vsrkit.stdo.infer import chunk_grids, frame_range, stitch_frame
from vsrkit.stdo.overfit import dataset_section, load_routed
from vsrkit.stdo.published import published_markdown, published_rows
from vsrkit.stdo.workdir import WorkDir, frame_name

log = logging.getLogger("vsrkit")

PROTOCOLS = ("stdo", "cafm")


def default_shave(protocol: str, scale: int) -> int:
    return scale + 4 if protocol == "stdo" else scale + 6


def quantised_mse(out: torch.Tensor, gt: torch.Tensor, shave: int) -> torch.Tensor:
    """Per-image MSE (0..255 units) of ``(n, c, H, W)`` outputs rounded to 8 bits vs 8-bit GT, ``shave`` px off
    each side."""
    a = (out.double() * 255).round().clamp(0, 255)
    b = (gt.double() * 255).round()
    if shave:
        if 2 * shave >= min(a.shape[-2:]):
            raise ConfigError(f"shave {shave} leaves nothing of a {tuple(a.shape[-2:])} patch")
        a, b = a[..., shave:-shave, shave:-shave], b[..., shave:-shave, shave:-shave]
    return ((a - b) ** 2).flatten(1).mean(1)


def psnr_of(mse: float) -> float:
    return float("inf") if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def evaluate_stdo(wd: WorkDir, routed, scale: int, k: int, shave: int, batch: int, device, progress: bool) -> dict:
    video, grid = wd.video(), read_grid(str(wd.root), scale)
    rows, mse_all, bic_all = [], [], []
    for j in range(k):
        ds = build_dataset(dataset_section(wd, video, scale, grid, k, j, batch, 0, test=True), "stdo evaluation")
        mses, bics = [], []
        for b in tqdm(DataLoader(ds, batch_size=batch), desc=f"stdo chunk {j}", disable=not progress):
            lq, gt = b["lq"].to(device), b["gt"][:, 0]
            with torch.no_grad():
                out = routed(lq, torch.full((lq.shape[0],), j, dtype=torch.int64))[:, 0].float().cpu()
            mses.append(quantised_mse(out, gt, shave))
            bics.append(quantised_mse(bicubic_upsample(b["lq"], scale)[:, 0], gt, shave))
        m, bm = torch.cat(mses), torch.cat(bics)
        mse_all.append(m)
        bic_all.append(bm)
        rows.append({"set": f"chunk {j}", "items": int(m.numel()), "psnr": psnr_of(float(m.mean())),
                     "bicubic_psnr": psnr_of(float(bm.mean()))})
    m, bm = torch.cat(mse_all), torch.cat(bic_all)
    rows.append({"set": "all (pooled)", "items": int(m.numel()), "psnr": psnr_of(float(m.mean())),
                 "bicubic_psnr": psnr_of(float(bm.mean()))})
    return {"rows": rows, "unit": "patches"}


def evaluate_cafm(wd: WorkDir, routed, scale: int, k: int, shave: int, device, progress: bool) -> dict:
    from vsrkit.data.storage import read_png

    video, grid = wd.video(), read_grid(str(wd.root), scale)
    start, end = frame_range(video, "test")
    cols, rows_ = grid["settings"]["cols"], grid["settings"]["rows"]
    grids = chunk_grids(str(wd.chunks(scale, k)), rows_, cols)
    name = video["video"]
    mses, bics = [], []
    for f in tqdm(range(start, end), desc="cafm frames", disable=not progress):
        lq = read_png(str(wd.lr(scale) / name / frame_name(f)))
        gt = torch.from_numpy(read_png(str(wd.hr / name / frame_name(f)))).permute(2, 0, 1)[None].float() / 255
        sr = torch.from_numpy(stitch_frame(routed, lq, grids[f], device)).permute(2, 0, 1)[None].float() / 255
        lq_t = torch.from_numpy(lq).permute(2, 0, 1)[None, None].float() / 255
        mses.append(quantised_mse(sr, gt, shave))
        bics.append(quantised_mse(bicubic_upsample(lq_t, scale)[:, 0], gt, shave))
    m, bm = torch.cat(mses), torch.cat(bics)
    per = [psnr_of(float(v)) for v in m]
    per_b = [psnr_of(float(v)) for v in bm]
    return {"rows": [{"set": f"frames {start}-{end - 1} (mean of per-frame PSNR)", "items": len(per),
                      "psnr": float(np.mean(per)), "bicubic_psnr": float(np.mean(per_b))},
                     {"set": f"frames {start}-{end - 1} (pooled)", "items": len(per),
                      "psnr": psnr_of(float(m.mean())), "bicubic_psnr": psnr_of(float(bm.mean()))}],
            "unit": "frames", "per_frame": {str(start + i): v for i, v in enumerate(per)}}


def to_markdown(result: dict) -> str:
    unit = result["unit"]
    lines = [f"| {result['protocol']} protocol | {unit} | PSNR (dB) | bicubic PSNR (dB) |", "|---|---|---|---|"]
    lines += [f"| {r['set']} | {r['items']} | {r['psnr']:.2f} | {r['bicubic_psnr']:.2f} |" for r in result["rows"]]
    return "\n".join(lines) + "\n"


def evaluate(work: str, scale: int, num_chunks: int = 2, protocol: str = "stdo", shave: int | None = None,
             batch: int = 64, device: str | None = None, progress: bool = True) -> dict:
    """Run the evaluate stage with ``protocol`` (``stdo`` or ``cafm``); prints and writes the table."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"--protocol {protocol!r}: one of {', '.join(PROTOCOLS)}")
    wd, k = WorkDir(work), int(num_chunks)
    video = wd.video()
    if protocol == "cafm" and video["test_frames"][0] == video["test_frames"][1]:
        raise DataError(f"{work}: CaFM's protocol needs held-out frames; rerun the frames stage with --held-out N")
    shave = default_shave(protocol, scale) if shave is None else int(shave)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    routed, train = load_routed(work, scale, k, dev)
    if protocol == "stdo":
        result = evaluate_stdo(wd, routed, scale, k, shave, batch, dev, progress)
    else:
        result = evaluate_cafm(wd, routed, scale, k, shave, dev, progress)
    result.update(protocol=protocol, video=video["video"], scale=scale, num_chunks=k, shave=shave,
                  train=train["settings"], published=dict(published_rows(video["video"], scale)))
    md = (f"STDO x{scale}, k={k}, video {video['video']}, {protocol} protocol (shave {shave} px, RGB, 8-bit)\n\n"
          + to_markdown(result))
    pub = published_markdown(video["video"], scale)
    if pub:
        md += "\n" + pub
    out = wd.evaluation(scale, k, protocol)
    write_json_atomic(out.with_suffix(".json"), result)
    write_text_atomic(out.with_suffix(".md"), md)
    print("\n" + md, flush=True)
    return result
