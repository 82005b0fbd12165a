"""The STDO demo builds its own data on first use, trains the routed chunk networks and validates on held-out frames
stitched from routed patches (shipped options, shrunk to a few iterations)."""
from pathlib import Path

import pytest

from vsrkit.data.stdo_demo_dataset import STDODemoDataset, build_stdo_demo
from vsrkit.errors import DataError

REPO = Path(__file__).resolve().parents[2]


def test_demo_data_is_built_once_and_routed(tmp_path):
    root = tmp_path / "demo"
    kw = dict(num_frames=4, held_out_frames=2, hr_size=(32, 64), scale=2, patch_grid=(4, 2))
    train = STDODemoDataset(str(root), **kw, split="train")
    test = STDODemoDataset(str(root), **kw, split="test")
    assert len(train) == 4 * 8 and len(test) == 2
    assert train[0]["lq"].shape == (1, 3, 8, 8) and train[0]["chunk"].shape == ()
    assert test[0]["gt"].shape == (1, 3, 32, 64) and test[0]["chunk"].shape == (2, 4)
    assert sorted(int(train[i]["chunk"]) for i in range(len(train))) == [0] * 16 + [1] * 16  # median split
    stamp = (root / "manifest.json").stat().st_mtime_ns
    build_stdo_demo(str(root), **kw)  # reused
    assert (root / "manifest.json").stat().st_mtime_ns == stamp
    with pytest.raises(DataError, match="other settings|these settings"):
        build_stdo_demo(str(root), **{**kw, "num_frames": 5})


def test_shipped_demo_trains_and_validates(tmp_path):
    from vsrkit.train import train_main

    root = tmp_path / "demo"
    sets = []
    for split in ("train", "val"):
        for key, value in (("root", root), ("num_frames", 4), ("held_out_frames", 2), ("hr_size", "[32,64]")):
            sets.append(f"datasets.{split}.{key}={value}")
    assert train_main(["-opt", str(REPO / "options/demo/train_stdo_demo.yml"), "--set", *sets,
                       "train.total_iter=2", "train.scheduler.T_max=2", "val.val_freq=2",
                       "datasets.train.batch_size_per_gpu=4", "network_g.num_blocks=1",
                       f"path.experiments_root={tmp_path / 'exp'}"]) == 0
    models = tmp_path / "exp" / "models"
    assert (models / "net_g_best_net0.pth").is_file() and (models / "net_g_best_net1.pth").is_file()
    log = next((tmp_path / "exp" / "logs").glob("train_*.log")).read_text()
    assert "validation val @ iter 2: psnr" in log and "bicubic_psnr" in log
