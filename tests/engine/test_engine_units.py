import math
import os
import random

import numpy as np
import pytest
import torch
from torch import nn

from vsrkit.data.sampler import EnlargedSampler, SeededItems
from vsrkit.engine import checkpoint as ckpt
from vsrkit.engine.ema import ModelEMA
from vsrkit.engine.optim import CosineAnnealingLR, CosineAnnealingRestartLR, MultiStepLR
from vsrkit.engine.seed import get_rng_state, set_rng_state
from vsrkit.errors import CheckpointError


def test_atomic_save_leaves_no_partial_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "models" / "net.pth"
    ckpt.atomic_save({"a": torch.ones(3)}, target)
    before = target.read_bytes()

    def exploding_save(obj, f):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", exploding_save)
    with pytest.raises(KeyboardInterrupt):
        ckpt.atomic_save({"a": torch.zeros(3)}, target)
    assert target.read_bytes() == before  # old file untouched
    assert sorted(p.name for p in target.parent.iterdir()) == ["net.pth"]  # no temporary left


def test_corrupt_and_truncated_checkpoints_raise_clear_error(tmp_path):
    good = tmp_path / "good.pth"
    ckpt.atomic_save({"params": {"w": torch.ones(2)}}, good)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(good.read_bytes()[:50])
    with pytest.raises(CheckpointError, match=r"bad\.pth: unreadable checkpoint .*corrupt or truncated"):
        ckpt.load_file(bad)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        ckpt.load_file(tmp_path / "none.pth")


def test_find_resume_state_skips_corrupt_newest(tmp_path, caplog):
    ckpt.atomic_save({"iter": 10}, tmp_path / "10.state")
    ckpt.atomic_save({"iter": 20}, tmp_path / "20.state")
    (tmp_path / "20.state").write_bytes((tmp_path / "20.state").read_bytes()[:40])
    state, path = ckpt.find_resume_state(tmp_path)
    assert state["iter"] == 10 and path.name == "10.state"
    assert "skipping" in caplog.text and "20.state" in caplog.text


def test_load_network_lists_missing_and_unexpected_keys(tmp_path):
    src = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 3, 3))
    path = tmp_path / "net.pth"
    ckpt.save_network(path, src, None, {})
    other = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 3, 3))
    with pytest.raises(CheckpointError, match=r"missing keys 2.bias, 2.weight; unexpected keys 1.bias, 1.weight"):
        ckpt.load_network(other, path)
    same = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 3, 3))
    ckpt.load_network(same, path)
    assert torch.equal(same[0].weight, src[0].weight)


def test_prune_keeps_newest(tmp_path):
    for it in (5, 10, 15, 20):
        (tmp_path / f"{it}.state").write_text("x")
    ckpt.prune(tmp_path, r"^(\d+)\.state$", 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["15.state", "20.state"]


def test_ema_averages_parameters_and_buffers():
    net = nn.BatchNorm1d(2)
    ema = ModelEMA(net, decay=0.5)
    with torch.no_grad():
        net.weight.fill_(3.0)
        net.running_mean.fill_(4.0)
    net.num_batches_tracked.fill_(7)
    ema.update(net)
    assert torch.allclose(ema.module.weight, torch.full((2,), 2.0))  # 0.5*1 + 0.5*3
    assert torch.allclose(ema.module.running_mean, torch.full((2,), 2.0))  # 0.5*0 + 0.5*4
    assert int(ema.module.num_batches_tracked) == 7


def _lrs(sched_cls, n, **kw):
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = sched_cls(opt, **kw)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        sched.step()
    return out, sched, opt


def test_schedulers_values_and_resume():
    lrs, _, _ = _lrs(MultiStepLR, 6, milestones=[2, 4], gamma=0.1)
    assert lrs == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    lrs, _, _ = _lrs(CosineAnnealingLR, 5, T_max=4, eta_min=0.0)
    assert lrs == pytest.approx([1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5, 0.5 * (1 + math.cos(3 * math.pi / 4)), 0.0])
    lrs, _, _ = _lrs(CosineAnnealingRestartLR, 6, periods=[2, 4], restart_weights=[1, 0.5], eta_min=0.0)
    assert lrs[:3] == pytest.approx([1.0, 0.5, 0.5])
    lrs, _, _ = _lrs(MultiStepLR, 4, milestones=[100], warmup_iter=4)
    assert lrs == pytest.approx([0.25, 0.5, 0.75, 1.0])
    _, sched, _ = _lrs(CosineAnnealingLR, 3, T_max=10)
    opt2 = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched2 = CosineAnnealingLR(opt2, T_max=10)
    sched2.load_state_dict(sched.state_dict())
    assert sched2.get_last_lr() == sched.get_last_lr()


def test_rng_state_round_trip():
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    state = get_rng_state()
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


def test_sampler_shards_resumes_and_seeds_items():
    full = list(EnlargedSampler(5, num_replicas=2, rank=0, ratio=2, seed=3))
    other = list(EnlargedSampler(5, num_replicas=2, rank=1, ratio=2, seed=3))
    assert len(full) == len(other) == 5
    seeds = [s for _, s in full + other]
    assert len(set(seeds)) == 10  # every item has its own seed
    assert sorted(i for i, _ in full + other) == sorted(list(range(5)) * 2)
    resumed = EnlargedSampler(5, num_replicas=2, rank=0, ratio=2, seed=3)
    resumed.set_epoch(0, start=3)
    assert list(resumed) == full[3:]
    s = EnlargedSampler(5, seed=3)
    s.set_epoch(1)
    assert list(s) != list(EnlargedSampler(5, seed=3))  # reshuffled per epoch


def test_seeded_items_are_reproducible_and_restore_caller_rng():
    class Rand(torch.utils.data.Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            return (random.random(), float(np.random.rand()), torch.rand(1).item())

    wrapped = SeededItems(Rand())
    torch.manual_seed(0)
    before = torch.get_rng_state()
    assert wrapped[(0, 42)] == wrapped[(0, 42)] != wrapped[(0, 43)]
    assert torch.equal(torch.get_rng_state(), before)


def test_slurm_variables_become_torch_distributed_ones(monkeypatch):
    from vsrkit.engine import dist

    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env.update(SLURM_PROCID="5", SLURM_NTASKS="8", SLURM_LOCALID="1", SLURM_JOB_NODELIST="node17,node18",
               PATH="/nonexistent")  # no scontrol: the first listed node is the master
    monkeypatch.setattr(os, "environ", env)  # a private copy: nothing leaks into later tests' subprocesses
    dist._slurm_env_to_torch_env(port=29611)
    assert [os.environ[k] for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")] == \
        ["5", "8", "1", "node17", "29611"]
