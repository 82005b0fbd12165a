import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

TINY_OPTIONS = """
name: tiny
scale: 4
manual_seed: 3
deterministic: true
num_gpu: 0
datasets:
  train:
    type: SyntheticVideoDataset
    num_clips: 6
    num_frame: 3
    lq_size: 8
    batch_size_per_gpu: 2
    num_worker_per_gpu: 0
    dataset_enlarge_ratio: 2
  val:
    type: SyntheticVideoDataset
    num_clips: 2
    num_frame: 3
    lq_size: 8
    seed: 100
network_g: {type: MVVSR, mid_channels: 8, num_blocks: 1, alignment: mv}
path: {experiments_root: EXP}
train:
  total_iter: 12
  ema_decay: 0.9
  optim_g: {type: Adam, lr: 1.0e-3, betas: [0.9, 0.99]}
  scheduler: {type: CosineAnnealingLR, T_max: 12, eta_min: 1.0e-5}
  pixel_opt: {type: CharbonnierLoss, eps: 1.0e-6}
val:
  val_freq: 6
  metrics:
    psnr: {type: psnr, crop_border: 0}
logger: {print_freq: 2, save_checkpoint_freq: 4, use_tb_logger: true}
"""


@pytest.fixture
def tiny_opt(tmp_path):
    """Write the tiny training options (experiments under tmp_path/exp) and return the file path."""
    path = tmp_path / "tiny.yml"
    path.write_text(textwrap.dedent(TINY_OPTIONS).replace("EXP", str(tmp_path / "exp")))
    return path


def _run_script(args, cwd=REPO, timeout=300, env=None):
    """Run ``python <args>`` in a subprocess with 1 thread (bitwise-reproducible CPU numbers)."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0", **(env or {})}
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


@pytest.fixture
def run_script():
    """``run_script([script, args...])`` -> CompletedProcess, run from the repository root."""
    return _run_script


@pytest.fixture
def repo_root():
    return REPO


@pytest.fixture
def run_entry(capfd):
    """``run_entry(["vsrkit/train.py" | "vsrkit/test.py", args...])`` -> an object with ``returncode`` and ``stderr``,
    like :func:`run_script` but in this process (no interpreter and torch import per call: seconds each). Use
    ``run_script`` where the real script's process is the point (tracebacks, signals, torchrun)."""
    from types import SimpleNamespace

    from vsrkit.cli import run_cli
    from vsrkit.test import test_main
    from vsrkit.train import train_main

    def run(args):
        script, *argv = map(str, args)
        main = {"vsrkit/train.py": train_main, "vsrkit/test.py": test_main}[script]
        capfd.readouterr()
        with pytest.raises(SystemExit) as stop:
            run_cli(main, argv)
        return SimpleNamespace(returncode=stop.value.code, stderr=capfd.readouterr().err)

    return run
