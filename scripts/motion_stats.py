#!/usr/bin/env python3
"""Codec motion of a generated demo dataset against the camera's true motion, per frame type.

    python scripts/motion_stats.py --root datasets/demo_mvvsr [--split val] [--fill opposite temporal spatial]

Reads ``<root>/<split>/motion/<clip>.npz`` (codec fields and validity, ``vsrkit.codec.read_motion``) and
``<root>/<split>/true_flow/<clip>.npz`` (written by ``vsrkit.data.demo_builder``, see ``vsrkit.data.demo_truth``)
and prints, per frame type (I/P/B, FFmpeg's picture types) and direction (``bwd``: to frame t-1, used by the
forward pass; ``fwd``: to frame t+1, used by the backward pass):

* ``holes %``: share of pixels with no codec vector in that direction;
* ``true``: mean length of the true motion (the end-point error of assuming no motion, ``alignment: none``);
* end-point error (EPE, mean Euclidean distance in LR pixels to the true motion) of the fields the network would
  warp with: ``raw`` (holes = 0, what ``MVVSR`` gets with ``mv_fill: []`` and no proxy), ``raw@valid`` (on pixels
  with a vector only: the quality of the vectors themselves), ``proxy`` (the default P-frame proxy), and each
  ``network_g.mv_fill`` chain after the proxy (``--fill`` adds chains, e.g. ``--fill temporal,spatial``).

Frame 0's ``bwd`` and the last frame's ``fwd`` field are never used by the network and are left out. Every frame
type row averages over pixels of that type's frames; ``all`` over every used field.

Quality per frame type: ``--results NAME=DIR ...`` (folders of super-resolved frames ``DIR/<clip>/<frame>.png``, as
``vsrkit/test.py --set val.save_img=true`` writes them under ``results/<name>/<dataset>/``) adds a table of the mean
per-frame PSNR (Y BT.601, ``--crop`` border, as the demo's metric) of each folder and of bicubic upsampling of the
decoded LR frames, per frame type, over the clips of the first ``--split``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout

import numpy as np  # noqa: E402
import torch  # noqa: E402

from vsrkit.archs.mv_fill import FILLERS, fill_motion  # noqa: E402
from vsrkit.archs.mvvsr_arch import pframe_proxy  # noqa: E402
from vsrkit.cli import run_cli  # noqa: E402
from vsrkit.codec import load_motion  # noqa: E402
from vsrkit.data.demo_truth import load_true_flow, true_flow_path  # noqa: E402
from vsrkit.errors import ConfigError, DataError  # noqa: E402

TYPE_NAMES = {1: "I", 2: "P", 3: "B", 0: "?"}
DEFAULT_CHAINS = ("opposite", "temporal", "spatial", "opposite,spatial", "temporal,opposite,spatial")


def parse_chain(text: str) -> tuple[str, ...]:
    steps = tuple(s for s in text.split(",") if s)
    bad = [s for s in steps if s not in FILLERS]
    if bad or not steps:
        raise ConfigError(f"--fill: unknown filler(s) {', '.join(bad) or '(empty)'} in {text!r}; use comma-separated "
                          f"names from {', '.join(FILLERS)}")
    return steps


def clip_fields(split_root: str, clip: str, chains) -> dict:
    """Every candidate field of one clip, as numpy ``(t, 2, h, w)`` per direction, plus validity and types."""
    motion = load_motion(os.path.join(split_root, "motion", f"{clip}.npz"))
    if motion.valid_bwd is None or motion.valid_fwd is None:
        raise DataError(f"{split_root}/motion/{clip}.npz: no validity masks; rebuild the data with the current "
                        f"vsrkit.codec.read_motion")
    true_bwd, true_fwd = load_true_flow(true_flow_path(split_root, clip))
    if true_bwd.shape != motion.mv_bwd.shape:
        raise DataError(f"{split_root}: true flow {true_bwd.shape} and motion {motion.mv_bwd.shape} of {clip} differ")
    tt = lambda a: torch.from_numpy(np.asarray(a))[None]  # noqa: E731
    bwd, fwd = tt(motion.mv_bwd), tt(motion.mv_fwd)
    vb, vf = tt(motion.valid_bwd).bool(), tt(motion.valid_fwd).bool()
    types = tt(motion.frame_types.astype(np.int64))
    pb, pf = pframe_proxy(bwd, fwd, types)
    # a proxy-filled field is valid where the field it was copied from is (as in MVVSR)
    pvb = vb | ((pb != bwd).flatten(2).any(-1)[..., None, None] & vf)
    pvf = vf | ((pf != fwd).flatten(2).any(-1)[..., None, None] & vb)
    fields = {"raw": (bwd, fwd), "proxy": (pb, pf)}
    for chain in chains:
        b, f, _, _ = fill_motion(pb, pf, pvb, pvf, chain)
        fields[",".join(chain)] = (b, f)
    return {"fields": {k: (b[0].numpy(), f[0].numpy()) for k, (b, f) in fields.items()},
            "valid": (motion.valid_bwd, motion.valid_fwd), "true": (true_bwd, true_fwd),
            "types": motion.frame_types}


def accumulate(stats: dict, data: dict) -> None:
    """Add one clip's sums to ``stats[(type, direction)]``."""
    t = len(data["types"])
    for d, direction in enumerate(("bwd", "fwd")):
        frames = range(1, t) if d == 0 else range(0, t - 1)
        for i in frames:
            key = (TYPE_NAMES.get(int(data["types"][i]), "?"), direction)
            true = data["true"][d][i]
            valid = data["valid"][d][i]
            row = stats.setdefault(key, {"pixels": 0, "holes": 0, "true": 0.0, "valid_px": 0, "raw@valid": 0.0,
                                         "frames": 0})
            row["frames"] += 1
            row["pixels"] += valid.size
            row["holes"] += int((~valid).sum())
            row["true"] += float(np.linalg.norm(true, axis=0).sum())
            for name, pair in data["fields"].items():
                epe = np.linalg.norm(pair[d][i] - true, axis=0)
                row[name] = row.get(name, 0.0) + float(epe.sum())
                if name == "raw":
                    row["valid_px"] += int(valid.sum())
                    row["raw@valid"] += float(epe[valid].sum())


def table(stats: dict, names: list[str]) -> str:
    header = ["type", "dir", "frames", "holes %", "true", "raw", "raw@valid", *names[1:]]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|"]
    order = [(ty, d) for ty in ("I", "P", "B", "?", "all") for d in ("bwd", "fwd")]
    total: dict = {}
    for row in stats.values():
        for k, v in row.items():
            total[k] = total.get(k, 0) + v
    for ty, d in order:
        if ty == "all":
            row = {k: 0 for k in total}
            for (t2, d2), r in stats.items():
                if d2 == d:
                    for k, v in r.items():
                        row[k] += v
        else:
            row = stats.get((ty, d))
        if not row or not row["pixels"]:
            continue
        px = row["pixels"]
        cells = [ty, d, str(row["frames"]), f"{100.0 * row['holes'] / px:.1f}", f"{row['true'] / px:.3f}",
                 f"{row['raw'] / px:.3f}",
                 f"{row['raw@valid'] / row['valid_px']:.3f}" if row["valid_px"] else "-"]
        cells += [f"{row[n] / px:.3f}" for n in names[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def read_rgb(path: str) -> np.ndarray:
    import cv2

    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(f"{path}: missing or unreadable PNG")
    return np.ascontiguousarray(img[:, :, ::-1])


def quality_table(split_root: str, results: dict, crop: int) -> str:
    """Mean per-frame PSNR per frame type of each results folder and of bicubic (see the module docstring)."""
    from vsrkit.archs.blocks import upsample_image
    from vsrkit.metrics import calculate_psnr

    sums: dict = {}
    clips = sorted(os.listdir(os.path.join(split_root, "gt")))
    for clip in clips:
        types = load_motion(os.path.join(split_root, "motion", f"{clip}.npz")).frame_types
        for i, ftype in enumerate(types):
            name = f"{i:08d}.png"
            gt = read_rgb(os.path.join(split_root, "gt", clip, name))
            lq = read_rgb(os.path.join(split_root, "lq", clip, name))
            scale = gt.shape[0] // lq.shape[0]
            x = torch.from_numpy(lq).permute(2, 0, 1)[None].double() / 255.0
            bic = upsample_image(x, scale, "bicubic")[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
            outs = {"bicubic": bic, **{k: read_rgb(os.path.join(d, clip, name)) for k, d in results.items()}}
            for key in (TYPE_NAMES.get(int(ftype), "?"), "all"):
                row = sums.setdefault(key, {"frames": 0})
                row["frames"] += 1
                for k, img in outs.items():
                    row[k] = row.get(k, 0.0) + calculate_psnr(img, gt, crop, "y_bt601")
    names = ["bicubic", *results]
    diffs = [(a, "bicubic") for a in results] + [(a, b) for j, a in enumerate(results) for b in list(results)[j + 1:]]
    header = ["type", "frames", *names, *[f"{a} - {b}" for a, b in diffs]]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "|".join(["---:"] * (len(header) - 1)) + "|"]
    for key in ("I", "P", "B", "?", "all"):
        row = sums.get(key)
        if not row:
            continue
        mean = {k: row[k] / row["frames"] for k in names}
        lines.append("| " + " | ".join([key, str(row["frames"]), *[f"{mean[k]:.3f}" for k in names],
                                        *[f"{mean[a] - mean[b]:+.3f}" for a, b in diffs]]) + " |")
    return "\n".join(lines) + "\n"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, type=Path, help="demo dataset root (vsrkit.data.demo_builder)")
    p.add_argument("--split", nargs="+", default=["val"], help="splits to measure (default: val)")
    p.add_argument("--fill", nargs="+", default=list(DEFAULT_CHAINS),
                   help=f"mv_fill chains to measure, comma-separated steps (default: {' '.join(DEFAULT_CHAINS)})")
    p.add_argument("--results", nargs="+", default=[], metavar="NAME=DIR",
                   help="folders of super-resolved frames (DIR/<clip>/<frame>.png) to score per frame type")
    p.add_argument("--crop", type=int, default=4, help="border cropped before PSNR (default 4, the demo's)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p.parse_args(argv)


def main(argv) -> int:
    args = parse_args(argv)
    chains = [parse_chain(c) for c in args.fill]
    results = {}
    for item in args.results:
        name, sep, folder = item.partition("=")
        if not sep or not name or not os.path.isdir(folder):
            raise ConfigError(f"--results: {item!r} is not NAME=DIR with an existing folder of frames")
        results[name] = folder
    torch.set_num_threads(1)
    for split in args.split:
        split_root = str(args.root / split)
        motion_dir = os.path.join(split_root, "motion")
        if not os.path.isdir(motion_dir):
            raise DataError(f"{motion_dir}: not found; --root must be a demo dataset (vsrkit.data.demo_builder)")
        clips = sorted(f[:-4] for f in os.listdir(motion_dir) if f.endswith(".npz"))
        stats: dict = {}
        names: list[str] = []
        for clip in clips:
            data = clip_fields(split_root, clip, chains)
            names = list(data["fields"])
            accumulate(stats, data)
        settings = {}
        manifest = os.path.join(str(args.root), "manifest.json")
        if os.path.isfile(manifest):
            with open(manifest) as f:
                settings = json.load(f).get("settings", {})
        codec = ", ".join(f"{k}={settings[k]}" for k in ("crf", "bf", "ref", "preset", "pan_speed") if k in settings)
        print(f"## {args.root} {split}: {len(clips)} clips ({codec})\n")
        print("EPE = mean end-point error against the true camera motion, LR pixels; holes % = pixels without a "
              "codec vector.\n")
        print(table(stats, names))
    if results:
        print(f"## Y-PSNR (BT.601, crop {args.crop}) per frame type, {args.root} {args.split[0]}: mean over frames\n")
        print(quality_table(str(args.root / args.split[0]), results, args.crop))
    return 0


if __name__ == "__main__":
    run_cli(main)
