"""Run a vsrkit training from generated options: the option file is written next to the run (it documents the
exact run) and ``vsrkit/train.py`` runs it in-process with ``--auto_resume`` (an interrupted run continues)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from vsrkit.errors import VsrkitError
from vsrkit.fileio import write_text_atomic

REPO = Path(__file__).resolve().parents[2]


def write_options(opt: dict, path: Path) -> Path:
    write_text_atomic(path, "# written by vsrkit.stdo; rerun: python vsrkit/train.py -opt <this file> --auto_resume\n"
                      + yaml.safe_dump(opt, sort_keys=False))
    return path


def train_in_process(options_file: Path) -> None:
    from vsrkit.train import train_main

    train_main(["-opt", str(options_file), "--auto_resume"])


def train_command(options_file: Path, nproc: int = 1) -> list[str]:
    """The command line of one run: ``python vsrkit/train.py`` or, with ``nproc > 1``, under torchrun (DDP)."""
    train = str(REPO / "vsrkit" / "train.py")
    if nproc > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", train,
                "-opt", str(options_file), "--auto_resume"]
    return [sys.executable, train, "-opt", str(options_file), "--auto_resume"]


def run_parallel(files: list[Path], jobs: int, gpus: list[str] | None, nproc: int = 1) -> None:
    """Run the trainings of ``files`` as subprocesses, ``jobs`` at a time; job ``i`` sees the GPUs ``gpus[i %
    len(gpus)]`` (a comma list for torchrun runs). Raises when a run fails, after the others finished."""
    pending, running, failed = list(enumerate(files)), [], []
    while pending or running:
        while pending and len(running) < jobs:
            i, f = pending.pop(0)
            env = dict(os.environ)
            if gpus:
                env["CUDA_VISIBLE_DEVICES"] = gpus[i % len(gpus)]
            log_path = Path(f).with_suffix(".log")
            out = open(log_path, "ab")
            running.append((f, subprocess.Popen(train_command(f, nproc), env=env, stdout=out, stderr=out), out))
        f, proc, out = running.pop(0)
        if proc.wait() != 0:
            failed.append(f"{f} (exit {proc.returncode}, log {Path(f).with_suffix('.log')})")
        out.close()
    if failed:
        raise VsrkitError(f"training failed: {'; '.join(failed)}")
