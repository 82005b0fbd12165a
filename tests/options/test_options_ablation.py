"""scripts/run_ablation.py: two variants trained for 2 iterations on tiny generated demo data, tested, tabulated."""
from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vsrkit.errors import ConfigError
from vsrkit.options import load_options

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "run_ablation.py"
DEMO = REPO / "options" / "demo" / "train_mvvsr_demo.yml"


def load_script():
    spec = importlib.util.spec_from_file_location("run_ablation_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_csv(path: Path) -> list[dict]:
    return list(csv.DictReader(open(path)))


def test_ablation_two_variants_tiny(tmp_path):
    out, data = tmp_path / "out", tmp_path / "data"
    cmd = [sys.executable, str(SCRIPT), "--opt", str(DEMO), "--iters", "2", "--variants", "mv", "spynet",
           "--out", str(out), "--data-root", str(data),
           "--set", "demo_data.num_train_clips=2", "demo_data.num_val_clips=1", "demo_data.num_frames=4",
           "demo_data.hr_size=64",
           "--train-set", "datasets.train.num_frame=3", "datasets.train.gt_size=32",
           "datasets.train.batch_size_per_gpu=2", "datasets.train.num_worker_per_gpu=0", "val.val_freq=1000",
           "logger.use_tb_logger=false"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (data / "train" / "manifest.json").is_file()  # the demo data went to --data-root

    rows = read_csv(out / "ablation.csv")
    assert list(rows[0])[:8] == ["dataset", "variant", "alignment", "second_order", "ablate_mvs", "iters", "clips",
                                 "train_s"]
    assert {"psnr", "ssim", "bicubic_psnr", "bicubic_ssim"} <= set(rows[0])
    assert [(r["dataset"], r["variant"], r["alignment"], r["iters"], r["clips"]) for r in rows] == [
        ("demo_val", "mv", "mv", "2", "1"), ("demo_val", "spynet", "spynet", "2", "1")]
    for row in rows:  # the numbers are test.py's own table, reused
        name = f"mvvsr_demo_ablation_{row['variant']}"
        table = read_csv(out / "results" / name / "demo_val_metrics.csv")
        assert table[-1]["clip"] == "average"
        assert row["psnr"] == table[-1]["psnr"] and row["ssim"] == table[-1]["ssim"]
        saved = yaml.safe_load(open(out / "experiments" / name / "options.yml"))
        assert saved["network_g"]["alignment"] == row["alignment"] and saved["train"]["total_iter"] == 2
        assert saved["train"]["scheduler"]["T_max"] == 2
        assert (out / "experiments" / name / "models" / "net_g_latest.pth").is_file()
        assert 10 < float(row["psnr"]) < 60 and 0 < float(row["ssim"]) <= 1
    assert rows[0]["bicubic_psnr"] == rows[1]["bicubic_psnr"]  # same held-out clips for both

    diff = read_csv(out / "ablation_diff.csv")
    assert [(d["dataset"], d["comparison"]) for d in diff] == [("demo_val", "mv - spynet")]
    assert list(diff[0]) == ["dataset", "comparison", "psnr", "ssim"]
    assert float(diff[0]["psnr"]) == pytest.approx(float(rows[0]["psnr"]) - float(rows[1]["psnr"]), abs=2e-4)

    md = (out / "ablation.md").read_text()
    assert md in proc.stdout
    assert "| demo_val | mv - spynet |" in md and "target >= -0.2 dB" in md
    assert md.count("| demo_val | mv | mv | True | False | 2 | 1 |") == 1


def test_ablation_overrides_and_bad_input(tmp_path):
    script = load_script()
    assert script.variant_overrides("mv_no2nd") == ["network_g.alignment=mv", "network_g.second_order=false",
                                                    "network_g.ablate_mvs=false"]
    opt = load_options(DEMO)
    moved = script.relocation_overrides(opt, "/data/x")
    assert moved == ["demo_data.root=/data/x", "datasets.train.dataroot=/data/x/train",
                     "datasets.val.dataroot=/data/x/val"]
    assert script.schedule_overrides(opt, 50) == ["train.total_iter=50", "train.scheduler.T_max=50"]
    assert script.default_test_opt(DEMO) == DEMO.with_name("test_mvvsr_demo.yml")
    with pytest.raises(ConfigError, match="unknown flow"):
        script.main(["--opt", str(DEMO), "--iters", "2", "--variants", "mv", "flow", "--out", str(tmp_path)])
    with pytest.raises(ConfigError, match="--test-opt"):
        script.default_test_opt(tmp_path / "mine.yml")
