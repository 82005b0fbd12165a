"""End-to-end training on synthetic clips: train/test launchers, resume after SIGKILL, DDP, bad input."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch



def weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_train_writes_experiment_and_test_writes_tables(tiny_opt, tmp_path, run_script):
    res = run_script(["vsrkit/train.py", "-opt", tiny_opt])
    assert res.returncode == 0, res.stderr
    exp = tmp_path / "exp"
    assert sorted(p.name for p in (exp / "training_states").iterdir()) == ["12.state", "4.state", "8.state"]
    assert {"net_g_4.pth", "net_g_12.pth", "net_g_latest.pth", "net_g_best.pth"} <= {
        p.name for p in (exp / "models").iterdir()}
    ckpt = weights(exp / "models" / "net_g_latest.pth")
    assert set(ckpt) == {"params", "params_ema", "meta"} and ckpt["meta"]["iter"] == 12
    assert any(not torch.equal(ckpt["params"][k], ckpt["params_ema"][k]) for k in ckpt["params"])
    assert (exp / "options.yml").is_file() and list((exp / "tb").glob("events.out.tfevents.*"))
    log = next((exp / "logs").glob("train_tiny_*.log")).read_text()
    assert "validation val @ iter 6: psnr" in log and "it/s | eta" in log

    res = run_script(["vsrkit/test.py", "-opt", tiny_opt, "--set", f"path.pretrain_network_g={exp}/models/net_g_latest.pth",
                      f"path.results_root={tmp_path}/results"])
    assert res.returncode == 0, res.stderr
    csv = (tmp_path / "results" / "val_metrics.csv").read_text().splitlines()
    assert csv[0].startswith("clip") and "psnr" in csv[0] and "bicubic_psnr" in csv[0]
    assert [row.split(",")[0] for row in csv[1:]] == ["synthetic_0000", "synthetic_0001", "average"]
    assert "| average |" in res.stdout


def test_sigkill_and_auto_resume_equals_uninterrupted(tiny_opt, tmp_path, run_script, repo_root):
    common = ["--set", "train.total_iter=60", "logger.save_checkpoint_freq=10", "val.val_freq=0",
              "logger.use_tb_logger=false"]
    ref = run_script(["vsrkit/train.py", "-opt", tiny_opt, *common, f"path.experiments_root={tmp_path}/ref"])
    assert ref.returncode == 0, ref.stderr

    exp = tmp_path / "killed"
    cmd = [sys.executable, "vsrkit/train.py", "-opt", str(tiny_opt), *common, f"path.experiments_root={exp}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen(cmd, cwd=repo_root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list((exp / "training_states").glob("*.state")) and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (exp / "models" / "net_g_latest.pth").exists(), "run finished before it could be killed"

    # a plain restart refuses to start over; --auto_resume continues from the newest readable state
    again = run_script(["vsrkit/train.py", "-opt", tiny_opt, *common, f"path.experiments_root={exp}"])
    assert again.returncode == 2 and "pass --auto_resume" in again.stderr
    resumed = run_script(["vsrkit/train.py", "-opt", tiny_opt, *common, f"path.experiments_root={exp}",
                          "--auto_resume"])
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout
    a = weights(tmp_path / "ref" / "models" / "net_g_latest.pth")
    b = weights(exp / "models" / "net_g_latest.pth")
    for key in a["params"]:
        assert torch.equal(a["params"][key], b["params"][key]), key
        assert torch.equal(a["params_ema"][key], b["params_ema"][key]), key


def test_auto_resume_skips_a_truncated_state(tiny_opt, tmp_path, run_script):
    res = run_script(["vsrkit/train.py", "-opt", tiny_opt, "--set", "val.val_freq=0"])
    assert res.returncode == 0, res.stderr
    states = tmp_path / "exp" / "training_states"
    newest = states / "12.state"
    newest.write_bytes(newest.read_bytes()[:100])
    res = run_script(["vsrkit/train.py", "-opt", tiny_opt, "--auto_resume", "--set", "train.total_iter=14",
                      "val.val_freq=0"])
    assert res.returncode == 0, res.stderr
    assert "skipping" in res.stdout and "12.state" in res.stdout
    assert "(iter 8, epoch" in res.stdout


def test_torchrun_two_ranks_end_with_identical_weights(tiny_opt, tmp_path, run_script):
    res = run_script(["-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29633",
                      "vsrkit/train.py", "-opt", tiny_opt, "--set", "train.total_iter=6", "val.val_freq=3",
                      "logger.save_checkpoint_freq=3"], timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "parameters identical across 2 ranks: True" in res.stdout
    assert "world size 2" in res.stdout
    assert res.stdout.count("validation val @ iter 3") == 1  # only rank 0 logs
    log_files = list((tmp_path / "exp" / "logs").glob("*.log"))
    assert len(log_files) == 1
