#!/usr/bin/env python3
"""MV-VSR alignment ablation: train every variant on the same data for the same iterations, test, compare.

    python scripts/run_ablation.py --opt options/demo/train_mvvsr_demo.yml --iters 400 \
        [--variants mv spynet none mv_no2nd] [--out results/ablation] [--test-opt TEST.yml] [--data-root DIR] \
        [--set k=v ...] [--train-set k=v ...] [--test-set k=v ...]

Each variant is a run of the real launchers in a subprocess, with the same options, seed and data except for
``network_g``: ``vsrkit/train.py -opt OPT --auto_resume --set name=<name>_ablation_<variant>
network_g.alignment=... network_g.second_order=... train.total_iter=N`` (a cosine ``train.scheduler.T_max`` follows
N), then ``vsrkit/test.py -opt TEST`` on the held-out clips with that run's ``net_g_latest.pth``. The per-variant
numbers are the ``average`` rows of the tables test.py writes (``<out>/results/<name>/<dataset>_metrics.csv``);
nothing is recomputed here. Output: ``<out>/ablation.md`` and ``<out>/ablation.csv`` (one row per dataset and
variant) and ``<out>/ablation_diff.csv`` (mv - spynet, mv - none, mv - mv_no2nd, per metric), also printed.

Variants: mv (codec motion vectors, second order), spynet (SPyNet flow, same trunk), none (no alignment),
mv_no2nd (mv without second-order propagation), mv_zero (mv with zeroed vectors, the published --ablate_mvs),
mv_fill (mv with the codec fields' holes filled: ``network_g.mv_fill: temporal,opposite,spatial``).
``--test-opt`` defaults to the training file's ``test_`` sibling (train_x.yml -> test_x.yml). ``--data-root`` moves
the generated demo data (``demo_data.root`` and every dataset path under it) to another folder. ``--set`` applies
to both launchers, ``--train-set``/``--test-set`` to one. Re-running continues interrupted training
(``--auto_resume``) and re-tests.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout

from vsrkit.cli import run_cli  # noqa: E402
from vsrkit.errors import ConfigError, VsrkitError  # noqa: E402
from vsrkit.fileio import write_text_atomic  # noqa: E402
from vsrkit.options import load_options  # noqa: E402

#: variant -> network_g overrides
VARIANTS = {
    "mv": {"alignment": "mv", "second_order": True, "ablate_mvs": False},
    "spynet": {"alignment": "spynet", "second_order": True, "ablate_mvs": False},
    "none": {"alignment": "none", "second_order": True, "ablate_mvs": False},
    "mv_no2nd": {"alignment": "mv", "second_order": False, "ablate_mvs": False},
    "mv_zero": {"alignment": "mv", "second_order": True, "ablate_mvs": True},
    # codec holes filled per pixel (issue 17): the neighbouring frame's field inverted, then constant velocity,
    # then the nearest valid blocks (vsrkit.archs.mv_fill)
    "mv_fill": {"alignment": "mv", "second_order": True, "ablate_mvs": False, "mv_fill": "temporal,opposite,spatial"},
}
#: (a, b) pairs reported as a - b when both variants ran
COMPARISONS = (("mv", "spynet"), ("mv", "none"), ("mv", "mv_no2nd"), ("mv", "mv_zero"), ("mv_fill", "spynet"),
               ("mv_fill", "none"), ("mv_fill", "mv"))
#: issue 5's quality targets on the first PSNR metric: (a, b, lowest allowed a - b in dB)
TARGETS = (("mv", "spynet", -0.2), ("mv", "none", 0.3))
DATA_KEYS = ("dataroot", "dataroot_gt", "dataroot_lq", "dataroot_motion")


class AblationError(VsrkitError):
    """A launcher run of the ablation failed (its log names the cause)."""


# ------------------------------------------------------------------------------------------------ options
def default_test_opt(train_opt: Path) -> Path:
    """``.../train_x.yml`` -> ``.../test_x.yml`` (must exist)."""
    if not train_opt.name.startswith("train_"):
        raise ConfigError(f"{train_opt}: name does not start with 'train_'; give the test options with --test-opt")
    test = train_opt.with_name("test_" + train_opt.name[len("train_"):])
    if not test.is_file():
        raise ConfigError(f"{test}: not found (the test sibling of {train_opt}); give the test options with --test-opt")
    return test


def _under(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` when it lies under it, else None."""
    p, r = os.path.normpath(path), os.path.normpath(root)
    if p == r:
        return ""
    return os.path.relpath(p, r) if p.startswith(r + os.sep) else None


def relocation_overrides(opt: dict, new_root: str) -> list[str]:
    """Overrides that move ``demo_data.root`` and every dataset path under it to ``new_root``."""
    old_root = (opt.get("demo_data") or {}).get("root")
    if not old_root:
        raise ConfigError(f"{opt['opt_path']}: --data-root needs a demo_data.root to move; these options have none")
    out = [f"demo_data.root={new_root}"]
    for key, section in (opt.get("datasets") or {}).items():
        for field in DATA_KEYS:
            value = section.get(field)
            if isinstance(value, str) and _under(value, old_root) is not None:
                out.append(f"datasets.{key}.{field}={os.path.join(new_root, _under(value, old_root))}")
    return out


def variant_overrides(variant: str) -> list[str]:
    return [f"network_g.{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in VARIANTS[variant].items()]


def schedule_overrides(opt: dict, iters: int) -> list[str]:
    """``train.total_iter=N`` and a cosine schedule stretched to N iterations."""
    out = [f"train.total_iter={iters}"]
    if "T_max" in ((opt.get("train") or {}).get("scheduler") or {}):
        out.append(f"train.scheduler.T_max={iters}")
    return out


# ------------------------------------------------------------------------------------------------ runs
def run_logged(cmd: list[str], log_path: Path, what: str) -> float:
    """Run ``cmd`` in the current folder (relative paths of the options resolve as for the launchers), output to
    ``log_path``; returns seconds; raises on failure."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        log.write(" ".join(cmd) + "\n\n")
        log.flush()
        code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - t0
    if code != 0:
        tail = log_path.read_text().strip().splitlines()[-1:] or ["(no output)"]
        raise AblationError(f"{what} failed (exit {code}): {tail[0]}; full log: {log_path}")
    return seconds


def read_average(csv_path: Path) -> tuple[dict[str, float], int]:
    """The ``average`` row of a test.py table as ``{metric: value}``, and the number of clips."""
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    if not rows or rows[-1].get("clip") != "average":
        raise AblationError(f"{csv_path}: no 'average' row; is it a table written by vsrkit/test.py?")
    avg = {k: float(v) for k, v in rows[-1].items() if k != "clip" and v not in ("", None)}
    return avg, len(rows) - 1


def test_set_names(test_opt: dict) -> list[str]:
    """Names of the sets test.py evaluates (its ``<name>_metrics.csv`` tables)."""
    sets = [v.get("name", k) for k, v in (test_opt.get("datasets") or {}).items() if k.startswith(("test", "val"))]
    if not sets:
        raise ConfigError(f"{test_opt['opt_path']}: no datasets.test_* section to evaluate")
    return sets


def run_variant(variant: str, args, train_opt: dict, test_sets: list[str], common: list[str],
                train_extra: list[str], test_extra: list[str]) -> dict:
    """Train and test one variant; returns its record (name, timings, per-dataset averages)."""
    name = f"{train_opt['name']}_ablation_{variant}"
    out = Path(args.out)
    exp, res = out / "experiments" / name, out / "results" / name
    net = variant_overrides(variant)
    train_cmd = [sys.executable, str(REPO / "vsrkit" / "train.py"), "-opt", str(args.opt), "--auto_resume", "--set",
                 f"name={name}", *net, *schedule_overrides(train_opt, args.iters), f"path.experiments_root={exp}",
                 *common, *train_extra]
    print(f"[{variant}] training {args.iters} iterations -> {exp}", flush=True)
    train_s = run_logged(train_cmd, out / "logs" / f"{name}_train.log", f"training of variant '{variant}'")
    weights = exp / "models" / "net_g_latest.pth"
    if not weights.is_file():
        raise AblationError(f"{weights}: training of variant '{variant}' wrote no final weights")
    test_cmd = [sys.executable, str(REPO / "vsrkit" / "test.py"), "-opt", str(args.test_opt), "--set",
                f"name={name}", *net, f"path.pretrain_network_g={weights}", f"path.results_root={res}", *common,
                *test_extra]
    print(f"[{variant}] testing -> {res}", flush=True)
    test_log, started = out / "logs" / f"{name}_test.log", time.time()
    test_s = run_logged(test_cmd, test_log, f"test of variant '{variant}'")
    datasets = {}
    for dataset in test_sets:
        path = res / f"{dataset}_metrics.csv"
        if not path.is_file() or path.stat().st_mtime < started:
            raise AblationError(f"{path}: test.py wrote no new table for variant '{variant}'; see {test_log}")
        datasets[dataset] = read_average(path)
    return {"variant": variant, "name": name, "train_s": train_s, "test_s": test_s, "datasets": datasets}


# ------------------------------------------------------------------------------------------------ tables
def build_tables(records: list[dict], iters: int) -> tuple[list[str], list[list], list[str], list[list]]:
    """(header, rows) of the per-variant table and of the differences table."""
    metrics: list[str] = []
    for rec in records:
        for avg, _ in rec["datasets"].values():
            metrics += [m for m in avg if m not in metrics]
    model_metrics = [m for m in metrics if not m.startswith("bicubic_")]
    header = ["dataset", "variant", "alignment", "second_order", "ablate_mvs", "iters", "clips", "train_s", *metrics]
    rows = []
    datasets = sorted({d for rec in records for d in rec["datasets"]})
    for d in datasets:
        for rec in records:
            if d not in rec["datasets"]:
                continue
            avg, clips = rec["datasets"][d]
            v = VARIANTS[rec["variant"]]
            rows.append([d, rec["variant"], v["alignment"], v["second_order"], v["ablate_mvs"], iters, clips,
                         f"{rec['train_s']:.1f}", *[avg.get(m) for m in metrics]])
    diff_header = ["dataset", "comparison", *model_metrics]
    diff_rows = []
    by = {(r[0], r[1]): dict(zip(metrics, r[8:])) for r in rows}
    for d in datasets:
        for a, b in COMPARISONS:
            if (d, a) in by and (d, b) in by:
                diff_rows.append([d, f"{a} - {b}", *[_sub(by[(d, a)].get(m), by[(d, b)].get(m))
                                                      for m in model_metrics]])
    return header, rows, diff_header, diff_rows


def _sub(a, b):
    return None if a is None or b is None else a - b


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def to_markdown(header: list[str], rows: list[list], signed: bool = False) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        cells = [(f"{v:+.4f}" if signed and isinstance(v, float) else _cell(v)) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else (f"{v:.4f}" if isinstance(v, float) else v) for v in row])
    return buf.getvalue()


def target_lines(diff_header: list[str], diff_rows: list[list]) -> list[str]:
    """Issue 5's targets checked on the first PSNR metric of each dataset."""
    psnr = next((m for m in diff_header[2:] if m.startswith("psnr")), None)
    if psnr is None:
        return []
    col = diff_header.index(psnr)
    out = []
    for row in diff_rows:
        for a, b, floor in TARGETS:
            if row[1] == f"{a} - {b}" and row[col] is not None:
                ok = row[col] >= floor
                out.append(f"- {row[0]}: {a} - {b} {psnr} = {row[col]:+.4f} dB (target >= {floor:+.1f} dB): "
                           f"{'met' if ok else 'NOT met'}")
    return out


# ------------------------------------------------------------------------------------------------ main
def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--opt", required=True, type=Path, help="training options (e.g. options/demo/train_mvvsr_demo.yml)")
    p.add_argument("--test-opt", "--test_opt", dest="test_opt", type=Path, default=None,
                   help="test options (default: the train file's test_ sibling)")
    p.add_argument("--iters", type=int, required=True, help="training iterations of every variant")
    p.add_argument("--variants", nargs="+", default=["mv", "spynet", "none", "mv_no2nd"],
                   help=f"variants to run, from: {', '.join(VARIANTS)} (default: mv spynet none mv_no2nd)")
    p.add_argument("--out", type=Path, default=Path("results/ablation"),
                   help="output folder (default results/ablation)")
    p.add_argument("--data-root", "--data_root", dest="data_root", default=None,
                   help="build/read the generated demo data here instead of demo_data.root")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="overrides for training and test")
    p.add_argument("--train-set", "--train_set", dest="train_set", nargs="+", default=[], metavar="KEY=VALUE",
                   help="overrides for training only")
    p.add_argument("--test-set", "--test_set", dest="test_set", nargs="+", default=[], metavar="KEY=VALUE",
                   help="overrides for test only")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p.parse_args(argv)


def main(argv) -> int:
    args = parse_args(argv)
    if args.iters < 1:
        raise ConfigError(f"--iters must be >= 1, got {args.iters}")
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        raise ConfigError(f"--variants: unknown {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    if len(set(args.variants)) != len(args.variants):
        raise ConfigError("--variants: each variant once")
    args.test_opt = args.test_opt or default_test_opt(args.opt)
    args.out = args.out.resolve()
    train_opt = load_options(args.opt, [*args.set, *args.train_set], is_train=True)
    test_opt = load_options(args.test_opt, [*args.set, *args.test_set], is_train=False)
    train_extra, test_extra = list(args.train_set), list(args.test_set)
    if args.data_root:
        root = os.path.abspath(args.data_root)
        train_extra = relocation_overrides(train_opt, root) + train_extra
        test_extra = relocation_overrides(test_opt, root) + test_extra
    args.out.mkdir(parents=True, exist_ok=True)
    test_sets = test_set_names(test_opt)
    records = [run_variant(v, args, train_opt, test_sets, list(args.set), train_extra, test_extra)
               for v in args.variants]

    header, rows, diff_header, diff_rows = build_tables(records, args.iters)
    targets = target_lines(diff_header, diff_rows)
    md = (f"# Alignment ablation: {args.opt} ({args.iters} iterations per variant, same data and seed)\n\n"
          f"Averages over the held-out clips (per frame -> per clip -> over clips), from the tables test.py wrote "
          f"under {args.out / 'results'}.\n\n{to_markdown(header, rows)}\n## Differences\n\n"
          f"{to_markdown(diff_header, diff_rows, signed=True)}")
    if targets:
        md += "\n## Quality targets (issue 5)\n\n" + "\n".join(targets) + "\n"
    write_text_atomic(args.out / "ablation.md", md)
    write_text_atomic(args.out / "ablation.csv", to_csv(header, rows))
    write_text_atomic(args.out / "ablation_diff.csv", to_csv(diff_header, diff_rows))
    print("\n" + md, flush=True)
    print(f"wrote {args.out / 'ablation.md'}, ablation.csv, ablation_diff.csv")
    return 0


if __name__ == "__main__":
    run_cli(main)
