#!/usr/bin/env python3
"""Space-time evidence: score trained space-time models on the kept and on the interpolated frames separately, beside
the trilinear space-time baseline.

    python scripts/eval_space_time.py --opt options/demo/test_msitf_demo.yml \
        --variant pcd=experiments/msitf_ev_pcd/models/net_g_latest.pth \
        --variant repeat=experiments/msitf_ev_repeat/models/net_g_latest.pth \
        --variant-set repeat:network_g.feature_interp=repeat [--set k=v ...] [--out results/msitf_evidence]

Every test set (``datasets.test*``/``val*``) of ``--opt`` is run through ``SpaceTimeVSRModel`` exactly as test.py
runs it (windows of ``val.window`` LR frames with ``val.stride``, frames already scored skipped, the scorers of
``val.metrics``); each scored frame is also counted as *kept* (an even clip frame: it has an LR frame) or
*interpolated* (odd: half way between two LR frames). Means are per clip, then over clips. The trilinear baseline
(``val.baseline: trilinear``: each LR frame bilinear x scale, the in-between frames the mean of their neighbours)
is scored on the same frames. ``--variant-set NAME:key=value`` overrides options for one variant (e.g. its network
configuration). Output: ``<out>/space_time_<set>.md`` and ``.csv`` (also printed), plus each variant's difference
to the baseline and to the first variant.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from vsrkit.cli import parse_pairs, run_cli  # noqa: E402
from vsrkit.errors import ConfigError  # noqa: E402

PARTS = ("kept", "interpolated", "all")
BASELINE = "trilinear"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--opt", required=True, help="test options of a space-time model (model_type: SpaceTimeVSRModel)")
    p.add_argument("--variant", nargs="+", action="extend", required=True, metavar="NAME=CHECKPOINT",
                   help="a trained model to score (repeatable)")
    p.add_argument("--variant-set", nargs="+", action="extend", default=[], metavar="NAME:KEY=VALUE",
                   help="an option override for one variant, e.g. repeat:network_g.feature_interp=repeat")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="option overrides for every variant")
    p.add_argument("--out", default="results/space_time_evidence", help="folder for the tables")
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


def score_sets(opt: dict, dist, tables: dict, name: str, with_baseline: bool) -> None:
    """Run the model of ``opt`` over its test sets; add its frames to ``tables[set][part]`` under ``name`` (and
    the baseline under :data:`BASELINE`) per part (kept / interpolated / all)."""
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
        parts = tables.setdefault(set_name, {part: ClipMetrics() for part in PARTS})
        seen: dict[str, set] = {}
        for batch in build_val_loader(dataset, 0, 1):
            pred = model.infer(batch)
            done = seen.setdefault(pred.clips[0], set())
            ids = pred.frame_ids[0].tolist()
            first = [f not in done and f not in ids[:i] for i, f in enumerate(ids)]
            done.update(ids)
            for part in PARTS:
                keep = [ok and (part == "all" or (f % 2 == 0) == (part == "kept")) for ok, f in zip(first, ids)]
                if not any(keep):
                    continue
                table = ClipMetrics()
                score_prediction(table, pred.select(torch.tensor([keep])), scorers, with_baseline)
                state = table.state_dict()
                for clip, per_metric in state["values"].items():
                    for label in scorers:
                        for who, column in ((name, label), (BASELINE, f"{BASELINE}_{label}")):
                            frames = state["frames"][clip].get(column, [])
                            for value, frame in zip(per_metric.get(column, []), frames):
                                parts[part].add(clip, f"{who}/{label}", value, frame)
                                parts[part].set_aggregate(f"{who}/{label}", scorers[label].aggregate)


def build_rows(parts: dict, variants: list[str], metrics: list[str]) -> tuple[list[str], list[list]]:
    header = ["model"] + [f"{m} {part}" for m in metrics for part in PARTS]
    means = {part: parts[part].means() for part in PARTS}
    rows = []
    for who in [BASELINE] + variants:
        rows.append([who] + [means[part].get(f"{who}/{m}") for m in metrics for part in PARTS])
    for who in variants:  # differences
        for ref in [BASELINE] + variants[:1]:
            if ref == who:
                continue
            rows.append([f"{who} - {ref}"] + [_sub(means[part].get(f"{who}/{m}"), means[part].get(f"{ref}/{m}"))
                                               for m in metrics for part in PARTS])
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

    variants = parse_pairs(args.variant, "--variant", "NAME=CHECKPOINT")
    names = list(variants)
    if BASELINE in names or any("/" in n for n in names):
        raise ConfigError(f"--variant: names must not be {BASELINE!r} nor contain '/'")
    extra = variant_overrides(args.variant_set, names)
    dist = init_dist(0)
    tables: dict = {}
    metrics: list[str] = []
    for i, name in enumerate(names):
        if not os.path.isfile(variants[name]):
            raise ConfigError(f"--variant {name}={variants[name]}: checkpoint not found")
        opt = load_options(args.opt, [*args.set, *extra[name], f"path.pretrain_network_g={variants[name]}",
                                      "val.baseline=trilinear"], is_train=False)
        if opt.get("model_type") != "SpaceTimeVSRModel":
            raise ConfigError(f"{args.opt}: model_type is {opt.get('model_type')!r}; this script scores space-time "
                              f"models (SpaceTimeVSRModel)")
        metrics = list(opt["val"].get("metrics") or {})
        score_sets(opt, dist, tables, name, with_baseline=i == 0)
    os.makedirs(args.out, exist_ok=True)
    for set_name, parts in tables.items():
        header, rows = build_rows(parts, names, metrics)
        md = to_markdown(header, rows)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in set_name)
        write_text_atomic(os.path.join(args.out, f"space_time_{safe}.md"), md)
        write_text_atomic(os.path.join(args.out, f"space_time_{safe}.csv"), to_csv(header, rows))
        print(f"\n{set_name}: kept = frames with an LR frame, interpolated = frames half way between two\n{md}")
    return 0


if __name__ == "__main__":
    run_cli(main)
