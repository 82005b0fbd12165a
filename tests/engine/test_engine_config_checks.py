"""Mistakes in options, caught before a run starts: one line that names who made it (the file and line, or the
``--set`` item), the key, what it must be, and nothing written."""
from typing import Optional, Sequence

import cv2
import numpy as np
import pytest

from vsrkit.builders import build_dataset, check_kwargs
from vsrkit.cli import run_cli
from vsrkit.errors import ConfigError, DataError
from vsrkit.options import load_options
from vsrkit.train import train_main


def run(opt, *sets, capfd):
    """``train.py -opt opt --set ...`` in-process -> the one error line on stderr (exit status 2, no traceback)."""
    argv = ["-opt", str(opt)] + (["--set", *sets] if sets else [])
    with pytest.raises(SystemExit) as stop:
        run_cli(train_main, argv)
    err = capfd.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert stop.value.code == 2 and "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0][len("error: "):]


# --------------------------------------------------------------------------------------------- annotations
def example(count: int, rate: float = 1.0, sizes: Sequence[int] = (1,), name: Optional[str] = None,
            flag: bool = False, pair: tuple[int, int] = (1, 2), root: str | Sequence[str] = "a", extra: dict = None):
    return count


@pytest.mark.parametrize("kwargs, message", [
    ({"count": [8]}, "'count' must be int for example, got [8]"),
    ({"count": True}, "'count' must be int for example, got True"),
    ({"count": 2.5}, "'count' must be int for example, got 2.5"),
    ({"count": 1, "rate": "1e-3"}, "'rate' must be float for example, got '1e-3'"),
    ({"count": 1, "sizes": 3}, "'sizes' must be a list of int for example, got 3"),
    ({"count": 1, "sizes": [1, "x"]}, "'sizes' must be a list of int for example, got [1, 'x']"),
    ({"count": 1, "name": 3}, "'name' must be str (or null) for example, got 3"),
    ({"count": 1, "flag": "yes"}, "'flag' must be bool for example, got 'yes'"),
    ({"count": 1, "pair": [1, 2, 3]}, "'pair' must be a list of 2 (int, int) for example, got [1, 2, 3]"),
    ({"count": 1, "root": 5}, "'root' must be str or a list of str for example, got 5"),
    ({"count": 1, "extra": [1]}, "'extra' must be a mapping for example, got [1]"),
])
def test_values_are_checked_against_the_annotations(kwargs, message):
    with pytest.raises(ConfigError) as err:
        check_kwargs(example, kwargs, "opt.yml: section")
    assert str(err.value) == f"opt.yml: section: {message}"


def test_values_that_fit_pass():
    check_kwargs(example, {"count": 1, "rate": 2, "sizes": (1, 2), "name": None, "flag": True, "pair": [3, 4],
                           "root": ["a", "b"], "extra": None}, "w")


@pytest.mark.parametrize("key, value, need", [
    ("batch_size_per_gpu", -1, "a positive int"), ("batch_size_per_gpu", 0, "a positive int"),
    ("batch_size_per_gpu", [2], "a positive int"), ("batch_size_per_gpu", 2.0, "a positive int"),
    ("num_worker_per_gpu", -1, "an int >= 0"), ("dataset_enlarge_ratio", 0, "a positive int"),
])
def test_loader_keys_are_positive_ints(key, value, need):
    with pytest.raises(ConfigError, match=rf"^datasets.train: '{key}' must be {need}, got "):
        build_dataset({"type": "SyntheticVideoDataset", key: value}, "datasets.train")


@pytest.mark.parametrize("old, new, message", [
    ("batch_size_per_gpu: 2", "batch_size_per_gpu: -1", "datasets.train: 'batch_size_per_gpu' must be a positive "
                                                        "int, got -1"),
    ("mid_channels: 8", "mid_channels: [8]", "network_g: 'mid_channels' must be int for MVVSR, got [8]"),
    ("lr: 1.0e-3,", "lrr: 1.0e-3,", "train.optim_g: unknown key 'lrr' for Adam; did you mean 'lr'?"),
])
def test_bad_values_in_the_file_are_blamed_on_the_file(tiny_opt, tmp_path, capfd, old, new, message):
    text = tiny_opt.read_text()
    assert old in text
    tiny_opt.write_text(text.replace(old, new))
    assert run(tiny_opt, capfd=capfd) == f"{tiny_opt}: {message}"
    assert not (tmp_path / "exp").exists()


@pytest.mark.parametrize("item, message", [
    ("train.totl_iter=3", "unknown key 'train.totl_iter'; did you mean 'total_iter'?"),
    ("train.total_iter=abc", "'train.total_iter' must be int, got 'abc'"),
    ("trian.total_iter=3", "unknown key 'trian'; did you mean 'train'?"),
    ("network_g.mid_chanels=8", "unknown key 'mid_chanels' for MVVSR; did you mean 'mid_channels'?"),
    ("network_g.mid_channels=[8]", "'mid_channels' must be int for MVVSR, got [8]"),
    ("train.optim_g.lrr=1", "unknown key 'lrr' for Adam; did you mean 'lr'?"),
    ("datasets.train.batch_size_per_gpu=-1", "'batch_size_per_gpu' must be a positive int, got -1"),
    ("datasets.train.num_frme=3", "unknown key 'num_frme' for SyntheticVideoDataset; did you mean 'num_frame'?"),
    ("train.scheduler.T_mx=3", "unknown key 'T_mx' for CosineAnnealingLR; did you mean 'T_max'?"),
    ("network_g.type=MVSR", "unknown arch 'MVSR'; did you mean"),
    ("a=!!python/object/apply:os.system [ls]", "asks for a Python object"),
])
def test_a_typo_in_set_is_blamed_on_set(tiny_opt, tmp_path, capfd, item, message):
    line = run(tiny_opt, item, capfd=capfd)
    assert line.startswith(f"--set {item}: ") or line.startswith(f"--set {item!r}: "), line
    assert message in line and str(tiny_opt) not in line
    assert not (tmp_path / "exp").exists()


# --------------------------------------------------------------------------------------------- YAML
def test_duplicate_keys_are_refused_with_file_and_line(tmp_path):
    path = tmp_path / "dup.yml"
    path.write_text("name: a\ntrain:\n  total_iter: 3\n  optim_g: {type: Adam}\n  total_iter: 5\n")
    with pytest.raises(ConfigError) as err:
        load_options(path)
    assert str(err.value).startswith(f"{path}:5:3: duplicate key 'total_iter' (first at line 3); YAML would keep "
                                     f"only the last one")
    path.write_text("name: a\nname: b\n")
    with pytest.raises(ConfigError, match=r"dup\.yml:2:1: duplicate key 'name' \(first at line 1\)"):
        load_options(path)


def test_merge_keys_may_still_be_overridden(tmp_path):
    path = tmp_path / "merge.yml"
    path.write_text("name: a\ndatasets:\n  train: &t {type: SyntheticVideoDataset, num_clips: 2}\n"
                    "  val: {<<: *t, num_clips: 3}\n")
    opt = load_options(path)
    assert opt["datasets"]["val"] == {"type": "SyntheticVideoDataset", "num_clips": 3}


def test_python_tag_is_refused_for_safety_not_called_malformed(tmp_path):
    path = tmp_path / "evil.yml"
    path.write_text("name: a\nmanual_seed: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError) as err:
        load_options(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:2:14: the tag '!!python/object/apply:os.system' asks for a Python object")
    assert "refused for safety" in msg and "malformed" not in msg


def test_binary_options_file(tmp_path):
    path = tmp_path / "model.pth"
    path.write_bytes(b"PK\x03\x04\x00\xff\xfe binary")
    with pytest.raises(ConfigError, match=r"model\.pth: not a text file \(byte 5 is not UTF-8\); -opt takes a YAML"):
        load_options(path)


# --------------------------------------------------------------------------------------------- scale
@pytest.mark.parametrize("item, message", [
    ("network_g.scale=2", "network_g.scale is 2 but scale is 4"),
    ("datasets.train.scale=2", "datasets.train.scale is 2 but scale is 4"),
    ("scale=2", "network_g.scale is 4 (its default) but scale is 2"),
])
def test_scales_are_compared_before_training(tiny_opt, tmp_path, capfd, item, message):
    line = run(tiny_opt, item, capfd=capfd)
    assert line.startswith(f"{tiny_opt}: {message}; set the same scale"), line
    assert not (tmp_path / "exp").exists()


# --------------------------------------------------------------------------------------------- data
def test_frames_of_different_sizes_name_the_file(tmp_path):
    for root, size in (("gt", 32), ("lq", 8)):
        folder = tmp_path / root / "clip"
        folder.mkdir(parents=True)
        for i in range(3):
            h = size + (1 if root == "lq" and i == 2 else 0)
            cv2.imwrite(str(folder / f"{i:08d}.png"), np.full((h, size, 3), 40 * i, np.uint8))
    ds = build_dataset({"type": "VideoFolderDataset", "dataroot_gt": str(tmp_path / "gt"),
                        "dataroot_lq": str(tmp_path / "lq"), "test_mode": True}, "datasets.test")
    with pytest.raises(DataError) as err:
        ds[0]
    assert str(err.value) == (f"{tmp_path}/lq/clip/00000002.png: frame is 8x9x3 but {tmp_path}/lq/clip/00000000.png "
                              f"is 8x8x3 (width x height x channels); every frame of a clip must have the same size — "
                              f"re-create this clip's frames")
