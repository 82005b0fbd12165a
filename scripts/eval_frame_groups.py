#!/usr/bin/env python3
"""Score trained video SR models on groups of frames apart, beside the model's own baseline: the kept and the
interpolated frames of a space-time model (MSITF), or the key-frame positions and the frames between them of a
key-frame-referenced model (RCVSR).

    python scripts/eval_frame_groups.py --groups space_time --opt options/demo/test_msitf_demo.yml \
        --variant pcd=experiments/msitf_ev_pcd/models/net_g_latest.pth \
        --variant repeat=experiments/msitf_ev_repeat/models/net_g_latest.pth \
        --variant-set repeat:network_g.feature_interp=repeat [--set k=v ...] [--out results/msitf_evidence]
    python scripts/eval_frame_groups.py --groups key_frames --opt options/demo/test_rcvsr_demo.yml \
        --variant refs=experiments/rcvsr_demo/models/net_g_latest.pth \
        --variant norefs=experiments/rcvsr_demo_norefs/models/net_g_latest.pth \
        --variant-set norefs:network_g.ablate_refs=true

Every test set (``datasets.test*``/``val*``) of ``--opt`` is run through its model exactly as test.py runs it (the
windows and scorers of ``val``; frames already scored skipped), and each scored frame is also counted in its group:

* ``space_time`` (``SpaceTimeVSRModel``): *kept* (an even clip frame: it has an LR frame) or *interpolated* (odd:
  half way between two LR frames); baseline ``trilinear`` (each LR frame bilinear x scale, the in-between frames
  the mean of their neighbours).
* ``key_frames`` (``VideoSRModel``, a dataset with ``dataroot_key``): *key* (``frame % key_interval == 0``, the
  dataset's ``key_interval``, 4 by default: the reference is this very frame at full resolution) or *other*;
  baseline ``bicubic`` of the centre LR frame.

Means are per clip, then over clips. ``--variant-set NAME:key=value`` overrides options for one variant (e.g. its
network configuration). Output: ``<out>/<groups>_<set>.md`` and ``.csv`` (also printed), plus each variant's
difference to the baseline and to the first variant.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from typing import Callable, NamedTuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from vsrkit.cli import parse_pairs, run_cli  # noqa: E402
from vsrkit.errors import ConfigError  # noqa: E402


def kept_or_interpolated(frame: int, section: dict) -> str:
    """Space-time output frame ``frame``: even frames have an LR frame (kept), odd ones are interpolated."""
    return "kept" if frame % 2 == 0 else "interpolated"


def key_or_other(frame: int, section: dict) -> str:
    """Frame ``frame`` of a key-frame-referenced dataset: a key-frame position every ``key_interval`` (4) frames."""
    return "key" if frame % int(section.get("key_interval", 4)) == 0 else "other"


class Grouping(NamedTuple):
    """How ``--groups`` splits the frames (``part_of(frame, dataset section)``; ``all`` is added), the model type it
    scores, its baseline, the option overrides that turn that baseline on, and a dataset key it needs."""
    parts: tuple[str, str]
    part_of: Callable[[int, dict], str]
    model_type: str
    baseline: str
    overrides: tuple[str, ...]
    needs: str | None
    legend: str


GROUPINGS = {
    "space_time": Grouping(("kept", "interpolated"), kept_or_interpolated, "SpaceTimeVSRModel", "trilinear",
                           ("val.baseline=trilinear",), None,
                           "kept = frames with an LR frame, interpolated = frames half way between two"),
    "key_frames": Grouping(("key", "other"), key_or_other, "VideoSRModel", "bicubic", (), "dataroot_key",
                           "key = key-frame positions (the reference is the frame itself, at full resolution), "
                           "other = the frames between them"),
}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--groups", choices=sorted(GROUPINGS), default="space_time",
                   help="how to split the frames (default space_time)")
    p.add_argument("--opt", required=True, help="test options of the model (space_time: SpaceTimeVSRModel; "
                   "key_frames: VideoSRModel with dataroot_key)")
    p.add_argument("--variant", nargs="+", action="extend", required=True, metavar="NAME=CHECKPOINT",
                   help="a trained model to score (repeatable)")
    p.add_argument("--variant-set", nargs="+", action="extend", default=[], metavar="NAME:KEY=VALUE",
                   help="an option override for one variant, e.g. repeat:network_g.feature_interp=repeat")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="option overrides for every variant")
    p.add_argument("--out", default="results/frame_groups", help="folder for the tables")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p.parse_args(argv)


def variant_overrides(items: list[str], names: list[str]) -> dict[str, list[str]]:
    """``['repeat:network_g.x=y']`` -> ``{'repeat': ['network_g.x=y']}`` (names must be variants)."""
    out: dict[str, list[str]] = {n: [] for n in names}
    for item in items:
        name, sep, setting = item.partition(":")
        if not sep or "=" not in setting:
            raise ConfigError(f"--variant-set {item!r}: expected NAME:KEY=VALUE, e.g. "
                              f"repeat:network_g.feature_interp=repeat")
        if name not in out:
            raise ConfigError(f"--variant-set {item!r}: no --variant named {name!r} ({', '.join(names)})")
        out[name].append(setting)
    return out


def score_sets(opt: dict, dist, tables: dict, name: str, with_baseline: bool, grouping: Grouping) -> None:
    """Run the model of ``opt`` over its test sets; add its frames to ``tables[set][part]`` under ``name`` (and
    the baseline under ``grouping.baseline``) per part (``grouping.parts`` and ``all``)."""
    import torch

    from vsrkit.builders import build_dataset
    from vsrkit.data.loader import build_val_loader
    from vsrkit.metrics import ClipMetrics
    from vsrkit.models.evaluation import build_scorers, score_prediction
    from vsrkit.registry import MODELS

    model = MODELS.get(opt["model_type"], where="model_type")(opt, dist)
    scorers = build_scorers(opt["val"].get("metrics"), opt["val"].get("rounding", "round"), "val.metrics")
    if not scorers:
        raise ConfigError(f"{opt['opt_path']}: val.metrics is empty")
    sets = {k: v for k, v in opt.get("datasets", {}).items() if k.startswith(("test", "val"))}
    if not sets:
        raise ConfigError(f"{opt['opt_path']}: no datasets.test_* section to evaluate")
    for key, section in sets.items():
        set_name = section.get("name", key)
        dataset = build_dataset(section, f"{opt['opt_path']}: datasets.{key}")
        if grouping.needs and not section.get(grouping.needs):
            raise ConfigError(f"{opt['opt_path']}: datasets.{key} has no {grouping.needs}; these frame groups need "
                              f"it (the key-frame references)")
        parts = tables.setdefault(set_name, {part: ClipMetrics() for part in (*grouping.parts, "all")})
        seen: dict[str, set] = {}
        for batch in build_val_loader(dataset, 0, 1):
            pred = model.infer(batch)
            done = seen.setdefault(pred.clips[0], set())
            ids = pred.frame_ids[0].tolist()
            first = [f not in done and f not in ids[:i] for i, f in enumerate(ids)]
            done.update(ids)
            for part in parts:
                keep = [ok and part in ("all", grouping.part_of(f, section)) for ok, f in zip(first, ids)]
                if not any(keep):
                    continue
                table = ClipMetrics()
                score_prediction(table, pred.select(torch.tensor([keep])), scorers, with_baseline)
                state = table.state_dict()
                for clip, per_metric in state["values"].items():
                    for label in scorers:
                        for who, column in ((name, label), (grouping.baseline, f"{grouping.baseline}_{label}")):
                            frames = state["frames"][clip].get(column, [])
                            for value, frame in zip(per_metric.get(column, []), frames):
                                parts[part].add(clip, f"{who}/{label}", value, frame)
                                parts[part].set_aggregate(f"{who}/{label}", scorers[label].aggregate)


def build_rows(parts: dict, variants: list[str], metrics: list[str], baseline: str) -> tuple[list[str], list[list]]:
    header = ["model"] + [f"{m} {part}" for m in metrics for part in parts]
    means = {part: table.means() for part, table in parts.items()}
    rows = []
    for who in [baseline] + variants:
        rows.append([who] + [means[part].get(f"{who}/{m}") for m in metrics for part in parts])
    for who in variants:  # differences
        for ref in [baseline] + variants[:1]:
            if ref == who:
                continue
            rows.append([f"{who} - {ref}"] + [_sub(means[part].get(f"{who}/{m}"), means[part].get(f"{ref}/{m}"))
                                               for m in metrics for part in parts])
    return header, rows


def _sub(a, b):
    return None if a is None or b is None else a - b


def to_markdown(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for row in rows:
        signed = " - " in str(row[0])
        cells = ["-" if v is None else (f"{v:+.3f}" if signed else f"{v:.3f}") for v in row[1:]]
        lines.append("| " + " | ".join([str(row[0])] + cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(header, rows) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[row[0]] + ["" if v is None else f"{v:.4f}" for v in row[1:]] for row in rows])
    return buf.getvalue()


def main(argv=None) -> int:
    args = parse_args(argv)
    from vsrkit.engine.dist import init_dist
    from vsrkit.fileio import write_text_atomic
    from vsrkit.options import load_options

    grouping = GROUPINGS[args.groups]
    variants = parse_pairs(args.variant, "--variant", "NAME=CHECKPOINT")
    names = list(variants)
    if grouping.baseline in names or any("/" in n for n in names):
        raise ConfigError(f"--variant: names must not be {grouping.baseline!r} nor contain '/'")
    extra = variant_overrides(args.variant_set, names)
    dist = init_dist(0)
    tables: dict = {}
    metrics: list[str] = []
    for i, name in enumerate(names):
        if not os.path.isfile(variants[name]):
            raise ConfigError(f"--variant {name}={variants[name]}: checkpoint not found")
        settings = [*args.set, *extra[name], f"path.pretrain_network_g={variants[name]}"]
        model_type = load_options(args.opt, settings, is_train=False).get("model_type")
        if model_type != grouping.model_type:  # checked before the grouping's own overrides, which assume it
            raise ConfigError(f"{args.opt}: model_type is {model_type!r}; --groups {args.groups} scores "
                              f"{grouping.model_type} models")
        opt = load_options(args.opt, [*settings, *grouping.overrides], is_train=False)
        metrics = list(opt["val"].get("metrics") or {})
        score_sets(opt, dist, tables, name, i == 0, grouping)
    os.makedirs(args.out, exist_ok=True)
    for set_name, parts in tables.items():
        header, rows = build_rows(parts, names, metrics, grouping.baseline)
        md = to_markdown(header, rows)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in set_name)
        write_text_atomic(os.path.join(args.out, f"{args.groups}_{safe}.md"), md)
        write_text_atomic(os.path.join(args.out, f"{args.groups}_{safe}.csv"), to_csv(header, rows))
        print(f"\n{set_name}: {grouping.legend}\n{md}")
    return 0


if __name__ == "__main__":
    run_cli(main)
