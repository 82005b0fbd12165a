"""Faults and bad checkpoints around training: nothing of an earlier run is lost, and each failure is one clear line.

Runs go through ``vsrkit.cli.run_cli`` in-process (exit status, stderr) on the tiny options of conftest.py; one
test kills a real training process (SIGKILL) while it writes a checkpoint.
"""
import errno
import hashlib
import importlib.util
import os
import signal
import textwrap
from pathlib import Path

import pytest
import torch

from vsrkit.cli import run_cli
from vsrkit.engine import checkpoint as ckpt
from vsrkit.errors import CheckpointError
from vsrkit.train import train_main

FAST = ["logger.use_tb_logger=false", "val.val_freq=0", "datasets.val=null"]


def train(opt, *extra, sets=()):
    """``run_cli(train_main)`` in-process -> (exit status, stdout, stderr) captured by pytest's capfd."""
    argv = ["-opt", str(opt), *extra, "--set", *FAST, *sets]
    try:
        run_cli(train_main, argv)
    except SystemExit as stop:
        return stop.code
    raise AssertionError("run_cli always exits")


def one_line(err: str, *fragments: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("error: "), err
    for frag in fragments:
        assert frag in lines[0], lines[0]
    return lines[0]


def digest(folder) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``folder``."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def params(path):
    return torch.load(path, map_location="cpu", weights_only=True)["params"]


def assert_same_weights(a, b):
    """Equal weights (bitwise with one thread, as CI runs; a thread pool may reorder float sums, hence the
    tolerance)."""
    wa, wb = params(a), params(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=1e-5, atol=1e-6, msg=key)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted 12-iteration run (checkpoints at 4, 8, 12): the weights every resumed run must reach."""
    spec = importlib.util.spec_from_file_location("engine_conftest", Path(__file__).with_name("conftest.py"))
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    root = tmp_path_factory.mktemp("reference")
    opt = root / "tiny.yml"
    opt.write_text(textwrap.dedent(conftest.TINY_OPTIONS).replace("EXP", str(root / "exp")))
    assert train(opt) == 0
    return root / "exp" / "models" / "net_g_latest.pth"


# --------------------------------------------------------------------------------------------- unreadable states
def test_auto_resume_stops_when_every_state_is_unreadable_and_restart_archives(tiny_opt, tmp_path, capfd):
    exp = tmp_path / "exp"
    assert train(tiny_opt, sets=["train.total_iter=8"]) == 0
    (exp / "training_states" / "8.state").write_bytes(b"")  # zero bytes
    four = exp / "training_states" / "4.state"
    four.write_bytes(four.read_bytes()[:200])  # truncated
    before = digest(exp)
    capfd.readouterr()

    assert train(tiny_opt, "--auto_resume", sets=["train.total_iter=8"]) == 2
    line = one_line(capfd.readouterr().err, "--auto_resume: no training state", "2 unreadable", "8.state: empty",
                    "4.state: unreadable", "--restart", "nothing is deleted")
    assert "IndexError" not in line
    assert digest(exp) == before  # the earlier run's networks (net_g_8, net_g_best...) are untouched

    assert train(tiny_opt, "--restart", sets=["train.total_iter=4"]) == 0
    archived = [p for p in tmp_path.iterdir() if p.name.startswith("exp_archived_")]
    assert len(archived) == 1 and digest(archived[0]) == before  # moved whole, nothing deleted
    assert sorted(p.name for p in (exp / "training_states").iterdir()) == ["4.state"]


def test_auto_resume_refuses_to_overwrite_networks_without_states(tiny_opt, tmp_path, capfd):
    exp = tmp_path / "exp"
    assert train(tiny_opt, sets=["train.total_iter=2", "logger.save_checkpoint_freq=100"]) == 0  # latest only
    before = digest(exp / "models")
    capfd.readouterr()
    assert train(tiny_opt, sets=["train.total_iter=2"]) == 2
    one_line(capfd.readouterr().err, "already holds checkpoints", "net_g_latest.pth", "--restart")
    assert train(tiny_opt, "--auto_resume", sets=["train.total_iter=2"]) == 2
    one_line(capfd.readouterr().err, "no training state to continue from", "would overwrite them", "--restart")
    assert digest(exp / "models") == before
    assert train(tiny_opt, "--auto_resume", "--restart") == 2
    one_line(capfd.readouterr().err, "give one of them")


def test_zero_byte_state_is_skipped_like_a_truncated_one(tiny_opt, tmp_path, capfd, reference):
    exp = tmp_path / "exp"
    assert train(tiny_opt, sets=["train.total_iter=8"]) == 0
    (exp / "training_states" / "8.state").write_bytes(b"")
    capfd.readouterr()
    assert train(tiny_opt, "--auto_resume") == 0
    out = capfd.readouterr().out
    assert "skipping" in out and "8.state: empty checkpoint (0 bytes" in out and "(iter 4, epoch" in out
    assert_same_weights(reference, exp / "models" / "net_g_latest.pth")


@pytest.mark.parametrize("content, what", [
    (b"", "empty checkpoint (0 bytes"),
    ("namespace", "holds Python objects (argparse.Namespace)"),
])
def test_load_file_says_what_is_wrong(tmp_path, content, what):
    path = tmp_path / "x.pth"
    if content == "namespace":
        import argparse

        torch.save({"params": argparse.Namespace(a=1)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        ckpt.load_file(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: {what}") and "\n" not in msg
    if content == "namespace":
        assert "refused for safety" in msg and "corrupt" not in msg


# --------------------------------------------------------------------------------------------- checkpoint contents
@pytest.mark.parametrize("obj, what", [
    ([torch.ones(2)], "holds list, not a training state"),
    (torch.ones(2), "holds Tensor, not a training state"),
    ({"params": [torch.ones(2)]}, "is a network checkpoint, not a training state"),
    ({"params": {"w": torch.ones(2)}, "meta": {}}, "is a network checkpoint, not a training state"),
    ({"iter": 4, "epoch": 0}, "not a training state of vsrkit (missing or wrong: sampler_pos, model, rng)"),
])
def test_training_state_contents_are_checked(tmp_path, obj, what):
    with pytest.raises(CheckpointError, match=r"^.*x\.state: " + what.replace("(", r"\(").replace(")", r"\)")):
        ckpt.check_training_state(obj, tmp_path / "x.state")


@pytest.mark.parametrize("obj, what", [
    ([torch.ones(2)], "holds list, not network weights"),
    (torch.ones(2), "holds Tensor, not network weights"),
    ({"params": [torch.ones(2)]}, "holds a mapping whose values are not all tensors"),
])
def test_network_contents_are_checked(obj, what):
    with pytest.raises(CheckpointError, match=what):
        ckpt.extract_state_dict(obj, "params", "x.pth")


def test_resume_state_pointing_at_a_network_file(tiny_opt, tmp_path, capfd):
    assert train(tiny_opt, sets=["train.total_iter=4"]) == 0
    capfd.readouterr()
    net = tmp_path / "exp" / "models" / "net_g_4.pth"
    code = train(tiny_opt, sets=[f"path.resume_state={net}", f"path.experiments_root={tmp_path}/other"])
    assert code == 2
    one_line(capfd.readouterr().err, "net_g_4.pth: is a network checkpoint, not a training state",
             "path.pretrain_network_g")
    assert not (tmp_path / "other").exists()


def test_resume_state_of_another_experiment_uses_its_own_networks(tiny_opt, tmp_path, capfd, reference):
    assert train(tiny_opt, sets=["train.total_iter=4"]) == 0
    state = tmp_path / "exp" / "training_states" / "4.state"
    assert train(tiny_opt, sets=[f"path.resume_state={state}", f"path.experiments_root={tmp_path}/b"]) == 0
    assert "resumed from" in capfd.readouterr().out
    assert_same_weights(reference, tmp_path / "b" / "models" / "net_g_latest.pth")

    alone = tmp_path / "copied" / "training_states" / "4.state"
    alone.parent.mkdir(parents=True)
    alone.write_bytes(state.read_bytes())
    assert train(tiny_opt, sets=[f"path.resume_state={alone}", f"path.experiments_root={tmp_path}/c"]) == 2
    one_line(capfd.readouterr().err, "4.state: the networks of this state (iter 4) are missing",
             f"{tmp_path}/copied/models/net_g_4.pth")


# --------------------------------------------------------------------------------------------- write faults
def test_disk_full_during_a_checkpoint_write(tiny_opt, tmp_path, capfd, monkeypatch, reference):
    """ENOSPC while writing 8.state: one line (file, size needed, previous state intact), the error in the run's
    log, no temporary left; --auto_resume then finishes with the uninterrupted run's weights."""
    exp = tmp_path / "exp"
    real_write = os.write

    def full_disk(fd, data):
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(".8.state.tmp-"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full_disk)
    assert train(tiny_opt) == 2
    monkeypatch.setattr(os, "write", real_write)
    line = one_line(capfd.readouterr().err, f"{exp}/training_states/8.state: could not write checkpoint, disk full",
                    "MB free", "the previous checkpoints are intact")
    assert "needs " in line and "unexpected pos" not in line
    assert sorted(p.name for p in (exp / "training_states").iterdir()) == ["4.state"]  # no temporary left
    log = next((exp / "logs").glob("*.log")).read_text()
    assert line in log  # the error line is in the run's log

    before = digest(exp / "models")
    assert train(tiny_opt, "--auto_resume") == 0
    assert "(iter 4, epoch" in capfd.readouterr().out
    after = digest(exp / "models")
    assert after["net_g_4.pth"] == before["net_g_4.pth"]
    assert_same_weights(reference, exp / "models" / "net_g_latest.pth")


def test_sigkill_during_a_checkpoint_write_loses_nothing(tiny_opt, tmp_path, capfd, reference):
    """A forked training process is killed (SIGKILL) half-way through writing 8.state; --auto_resume then removes
    the half-written temporary, resumes from 4.state and ends with the uninterrupted run's weights."""
    exp = tmp_path / "exp"
    pid = os.fork()
    if pid == 0:  # the child trains and kills itself; it never returns into pytest
        try:
            torch.set_num_threads(1)
            real_write = os.write

            def write_then_die(fd, data):
                if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(".8.state.tmp-"):
                    real_write(fd, data[: len(data) // 2])
                    os.kill(os.getpid(), signal.SIGKILL)
                return real_write(fd, data)

            os.write = write_then_die
            train(tiny_opt)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
    states = {p.name for p in (exp / "training_states").iterdir()}
    half = {n for n in states if n.startswith(".8.state.tmp-")}
    assert states - half == {"4.state"} and len(half) == 1  # killed while writing 8.state
    earlier = {k: v for k, v in digest(exp).items() if k in ("models/net_g_4.pth", "training_states/4.state")}
    assert len(earlier) == 2
    capfd.readouterr()
    assert train(tiny_opt, "--auto_resume") == 0
    out = capfd.readouterr().out
    assert "(iter 4, epoch" in out and "unfinished checkpoint write of a killed run" in out
    now = digest(exp)
    assert all(now[k] == v for k, v in earlier.items())
    assert sorted(p.name for p in (exp / "training_states").iterdir()) == ["12.state", "4.state", "8.state"]
    assert_same_weights(reference, exp / "models" / "net_g_latest.pth")


# --------------------------------------------------------------------------------------------- failed runs
def test_failed_start_leaves_no_experiment_folder(tiny_opt, tmp_path, capfd):
    code = train(tiny_opt, sets=[f"path.pretrain_network_g={tmp_path}/missing.pth"])
    assert code == 2
    one_line(capfd.readouterr().err, "checkpoint not found", "missing.pth")
    assert not (tmp_path / "exp").exists()


def test_failed_test_run_leaves_no_results_folder(tiny_opt, tmp_path, capfd):
    from vsrkit.test import test_main

    argv = ["-opt", str(tiny_opt), "--set", f"path.pretrain_network_g={tmp_path}/missing.pth",
            f"path.results_root={tmp_path}/results"]
    with pytest.raises(SystemExit) as stop:
        run_cli(test_main, argv)
    assert stop.value.code == 2
    one_line(capfd.readouterr().err, "checkpoint not found", "missing.pth")
    assert not (tmp_path / "results").exists()


def test_an_error_during_a_test_run_is_written_into_its_log(tiny_opt, tmp_path, capfd, monkeypatch):
    from vsrkit.errors import DataError
    from vsrkit.launch import tester
    from vsrkit.test import test_main

    def refuse(path, text):
        raise DataError(f"{path}: could not write, disk full")

    monkeypatch.setattr(tester, "write_text_atomic", refuse)
    with pytest.raises(SystemExit) as stop:
        run_cli(test_main, ["-opt", str(tiny_opt), "--set", f"path.results_root={tmp_path}/results"])
    assert stop.value.code == 2
    err = capfd.readouterr().err
    errors = [ln for ln in err.splitlines() if ln.startswith("error: ")]  # (the other lines: tqdm's progress bar)
    assert len(errors) == 1 and "Traceback" not in err and "val_metrics.csv: could not write, disk full" in errors[0]
    line = errors[0]
    log = next((tmp_path / "results").glob("test_*.log")).read_text()
    assert line in log and "evaluating randomly initialised weights" in log
