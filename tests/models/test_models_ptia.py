"""PTIA end to end: a tiny PTIA trains a few iterations on generated clips (LQ drawn per item from two sources, the
CVCP ``gt[:, :, 0:1]`` target) through ``train.py`` and is tested through ``test.py`` in both published protocols:
whole clips (Vid4 / REDS4) and 15-frame-style windows scored at the centre and run in overlapping tiles (the MFQE
HEVC sequences), here with 3-frame windows and 8-px tiles."""
import numpy as np
import torch
import yaml

from vsrkit import test as test_launcher
from vsrkit.data.synthetic import make_paired_clips, write_clip
from vsrkit.train import train_main

TINY_PTIA = {"type": "PTIA", "mid_channels": 8, "num_blocks": 1, "num_recon_blocks": 1, "scale": 4,
             "deformable_groups": 2, "cafs_heads": 2}


def _data(root):
    """Two 4-frame clips, LR 8x12 (x4), moving; a second LQ source (a darker copy) for the mixed-LQ training."""
    arrays = make_paired_clips(str(root / "gt"), str(root / "lq_a"), {"clip0": 4, "clip1": 4}, lq_size=(8, 12),
                               scale=4)
    for clip, rec in arrays.items():
        write_clip(str(root / "lq_b" / clip), (rec["lq"].astype(np.int16) * 7 // 8).astype(np.uint8))
    return arrays


def _folders(root, **kw):
    return {"type": "VideoFolderDataset", "dataroot_gt": str(root / "gt"), "scale": 4, **kw}


def test_ptia_trains_and_tests_in_both_protocols(tmp_path):
    _data(tmp_path)
    exp, res = tmp_path / "exp", tmp_path / "res"
    opt = {"name": "ptia_e2e", "model_type": "PTIAModel", "scale": 4, "num_gpu": 0, "manual_seed": 0,
           "network_g": TINY_PTIA,
           "datasets": {"train": _folders(tmp_path, dataroot_lq=[str(tmp_path / "lq_a"), str(tmp_path / "lq_b")],
                                          num_frame=3, gt_size=32, batch_size_per_gpu=1)},
           "train": {"total_iter": 2, "optim_g": {"type": "Adam", "lr": 1e-3, "betas": [0.9, 0.99]},
                     "scheduler": {"type": "CosineAnnealingRestartLR", "periods": [400], "eta_min": 1e-7},
                     "pixel_opt": {"type": "CharbonnierLoss", "eps": 1e-12}, "target": "gt_first_channel",
                     "fix_flow": 1, "flow_lr_mul": 0.125},
           "val": {"metrics": {"psnr_y601": {"type": "psnr", "y_mode": "y_bt601"}}},
           "path": {"experiments_root": str(exp), "results_root": str(res)},
           "logger": {"print_freq": 1, "save_checkpoint_freq": 2, "use_tb_logger": False}}
    path = tmp_path / "ptia.yml"
    path.write_text(yaml.safe_dump(opt))
    assert train_main(["-opt", str(path)]) == 0
    ckpt = exp / "models" / "net_g_latest.pth"
    state = torch.load(ckpt, weights_only=True)["params"]
    log = next((exp / "logs").glob("train_*.log")).read_text()
    assert "l_pix: " in log

    def run_test(name, dataset, val):
        test = dict(opt, name=name, datasets={"test_a": dataset}, val={**opt["val"], **val})
        tpath = tmp_path / f"{name}.yml"
        tpath.write_text(yaml.safe_dump(test))
        assert test_launcher.test_main(["-opt", str(tpath), "--set", f"path.pretrain_network_g={ckpt}",
                                        "path.param_key_g=params"]) == 0
        rows = [line.split(",") for line in (res / "test_a_metrics.csv").read_text().splitlines()]
        (res / "test_a_metrics.csv").rename(res / f"{name}.csv")
        return rows

    whole = run_test("ptia_whole", _folders(tmp_path, dataroot_lq=str(tmp_path / "lq_a"), test_mode=True), {})
    assert whole[0] == ["clip", "psnr_y601", "bicubic_psnr_y601"]
    assert [r[0] for r in whole[1:]] == ["clip0", "clip1", "average"]
    windows = run_test("ptia_windows", _folders(tmp_path, dataroot_lq=str(tmp_path / "lq_a"), test_mode=True,
                                                num_frame=3, padding="reflection_circle", gt_frames="center",
                                                exclude_clips=["clip1"]),
                       {"center_frame_only": True, "tile": 8, "tile_overlap": 4})  # 2 tiles of 8x8 per window
    assert [r[0] for r in windows[1:]] == ["clip0", "average"]  # 4 windows, one score for the clip
    # the bicubic baseline is the same frames in both protocols; the network's scores differ (windows, tiles)
    assert whole[1][2] == windows[1][2] and all(np.isfinite(float(r[1])) for r in whole[1:] + windows[1:])
    assert set(state) == set(torch.load(ckpt, weights_only=True)["params"])
