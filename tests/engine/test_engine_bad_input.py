"""Each bad input gives one clear line on stderr, exit status 2, and no traceback (unless --debug).

Most cases call the entry points in-process (``run_entry``); the malformed-YAML and ``--debug`` cases run the real
scripts, so the one-line contract is also checked end to end."""
import pytest
import torch
from torch import nn


def assert_one_clear_line(res, *fragments):
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in res.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for frag in fragments:
        assert frag in lines[0], lines[0]


def test_malformed_yaml_names_file_and_line(tmp_path, run_script):
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\ntrain:\n  total_iter: 3\n  optim_g: {type: Adam\n")
    assert_one_clear_line(run_script(["vsrkit/train.py", "-opt", bad]), "bad.yml:", "malformed YAML")


def test_unknown_key_suggests(tiny_opt, run_entry):
    res = run_entry(["vsrkit/train.py", "-opt", tiny_opt, "--set", "train.totl_iter=3"])
    assert_one_clear_line(res, "--set train.totl_iter=3: unknown key 'train.totl_iter'", "did you mean 'total_iter'")


def test_unknown_arch_dataset_and_model_list_close_matches(tiny_opt, run_entry):
    res = run_entry(["vsrkit/train.py", "-opt", tiny_opt, "--set", "network_g.type=MVSR"])
    assert_one_clear_line(res, "--set network_g.type=MVSR: unknown arch 'MVSR'", "did you mean 'MVVSR'")
    res = run_entry(["vsrkit/train.py", "-opt", tiny_opt, "--set", "datasets.train.type=SyntheticVideoDatset"])
    assert_one_clear_line(res, "--set datasets.train.type=SyntheticVideoDatset: unknown dataset",
                          "'SyntheticVideoDataset'")
    res = run_entry(["vsrkit/train.py", "-opt", tiny_opt, "--set", "model_type=VideoSRModle"])
    assert_one_clear_line(res, "unknown model 'VideoSRModle'", "'VideoSRModel'")
    res = run_entry(["vsrkit/train.py", "-opt", tiny_opt, "--set", "network_g.mid_chanels=8"])
    assert_one_clear_line(res, "--set network_g.mid_chanels=8: unknown key 'mid_chanels' for MVVSR",
                          "did you mean 'mid_channels'")


def test_checkpoint_of_another_arch_lists_keys(tiny_opt, tmp_path, run_entry):
    other = tmp_path / "other.pth"
    torch.save({"params": nn.Conv2d(3, 3, 3).state_dict()}, other)
    res = run_entry(["vsrkit/test.py", "-opt", tiny_opt, "--set", f"path.pretrain_network_g={other}",
                     f"path.results_root={tmp_path}/res"])
    assert_one_clear_line(res, "other.pth: does not fit MVVSR", "missing keys", "unexpected keys bias, weight")


def test_corrupt_checkpoint(tiny_opt, tmp_path, run_entry):
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"PK\x03\x04 definitely not a checkpoint")
    res = run_entry(["vsrkit/test.py", "-opt", tiny_opt, "--set", f"path.pretrain_network_g={corrupt}",
                     f"path.results_root={tmp_path}/res"])
    assert_one_clear_line(res, "corrupt.pth: unreadable checkpoint")


def test_debug_shows_the_traceback(tiny_opt, run_script):
    res = run_script(["vsrkit/train.py", "-opt", tiny_opt, "--debug", "--set", "network_g.type=MVSR"])
    assert res.returncode != 0 and "Traceback" in res.stderr and "ConfigError" in res.stderr


def _write_clip(folder, n, size):
    import cv2
    import numpy as np

    folder.mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"{i:08d}.png"), np.full((size, size, 3), 40 * i, np.uint8))


def test_dataset_section_without_type(tiny_opt, run_entry):
    res = run_entry(["vsrkit/train.py", "-opt", tiny_opt, "--set", "datasets.train={}"])
    assert_one_clear_line(res, "datasets.train", "needs a 'type' key")


def test_missing_dataset_root_and_frame_count_mismatch(tmp_path, run_entry, repo_root):
    _write_clip(tmp_path / "gt" / "clip_a", 3, 32)
    _write_clip(tmp_path / "lq" / "clip_a", 2, 8)
    yml = tmp_path / "folder.yml"
    yml.write_text(f"""
name: folder
num_gpu: 0
datasets:
  train: {{type: VideoFolderDataset, dataroot_gt: {tmp_path}/gt, dataroot_lq: {tmp_path}/lq, num_frame: 2,
          batch_size_per_gpu: 1}}
network_g: {{type: MVVSR, mid_channels: 8, num_blocks: 1, alignment: none}}
path: {{experiments_root: {tmp_path}/exp}}
train: {{total_iter: 1, optim_g: {{type: Adam, lr: 1.0e-3}}}}
""")
    res = run_entry(["vsrkit/train.py", "-opt", yml])
    assert_one_clear_line(res, "clip 'clip_a': 3 GT frames", "but 2 LQ frames")
    res = run_entry(["vsrkit/train.py", "-opt", yml, "--set", f"datasets.train.dataroot_gt={tmp_path}/missing"])
    assert_one_clear_line(res, f"{tmp_path}/missing")
