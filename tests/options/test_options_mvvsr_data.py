"""The shipped MV-VSR REDS options on a tiny REDS-like tree laid out as docs/mvvsr.md builds it (in tmp_path):
the training set holds out REDS4 and carries codec motion, manifests are checked, and test.py with the shipped REDS4
file writes one table per CRF with the published metrics (and the BasicSR ones with the _basicsr file)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from vsrkit.builders import build_dataset
from vsrkit.errors import DataError
from vsrkit.options import load_options

REPO = Path(__file__).resolve().parents[2]
TRAIN = REPO / "options/train/mvvsr/train_mvvsr_reds_crf23.yml"
TEST = REPO / "options/test/mvvsr/test_mvvsr_reds4.yml"
TEST_BASICSR = REPO / "options/test/mvvsr/test_mvvsr_reds4_basicsr.yml"
CLIPS = ("000", "001", "002", "011", "015", "020")  # REDS4 + two training clips
FRAMES, HR = 5, 64
TINY_NET = ["network_g.mid_channels=8", "network_g.num_blocks=1", "num_gpu=0"]


def write_png(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))


def hr_clip(seed: int) -> np.ndarray:
    """``(FRAMES, HR, HR, 3)`` uint8: a smooth random texture panning 2 px/frame."""
    rng = np.random.default_rng(seed)
    big = cv2.resize(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8), (HR + 4 * FRAMES, HR + 4 * FRAMES),
                     interpolation=cv2.INTER_CUBIC)
    return np.stack([big[2 * t:2 * t + HR, 2 * t:2 * t + HR] for t in range(FRAMES)])


def build_tree(root: Path) -> None:
    """datasets/REDS/{train_sharp, meta_info} and datasets/REDS_H264/{crf23_slow, crf15, crf25, crf35}."""
    from vsrkit.codec import encode_h264, read_motion, save_motion
    from vsrkit.data.meta_info import scan_storage, write_meta_info
    from vsrkit.data.storage import DiskStorage

    reds = root / "datasets/REDS"
    for i, clip in enumerate(CLIPS):
        for t, frame in enumerate(hr_clip(i)):
            write_png(reds / "train_sharp" / clip / f"{t:08d}.png", frame)
    infos = scan_storage(DiskStorage(str(reds / "train_sharp")))
    training = ("001", "002")
    write_meta_info(str(reds / "meta_info/reds_train_REDS4_excluded.txt"), [c for c in infos if c.clip in training])
    write_meta_info(str(reds / "meta_info/reds_REDS4.txt"), [c for c in infos if c.clip not in training])
    for folder, crf, preset in (("crf23_slow", 23, "slow"), ("crf15", 15, "medium"), ("crf25", 25, "medium"),
                                ("crf35", 35, "medium")):
        out = root / "datasets/REDS_H264" / folder
        (out / "motion").mkdir(parents=True)
        (out / "bitstreams").mkdir()
        for i, clip in enumerate(CLIPS):
            lr = np.stack([cv2.resize(f, (HR // 4, HR // 4), interpolation=cv2.INTER_AREA) for f in hr_clip(i)])
            mp4 = out / "bitstreams" / f"{clip}.mp4"
            encode_h264(lr, str(mp4), crf=crf, preset=preset)
            motion = read_motion(str(mp4))
            for t, frame in enumerate(motion.frames):
                write_png(out / "lq" / clip / f"{t:08d}.png", frame)
            save_motion(str(out / "motion" / f"{clip}.npz"), motion)
        (out / "manifest.json").write_text(json.dumps({"settings": {"scale": 4, "crf": crf, "preset": preset}}))


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("reds_tree")
    build_tree(root)
    return root


def test_training_set_holds_out_reds4_and_carries_motion(tree, monkeypatch):
    monkeypatch.chdir(tree)
    opt = load_options(TRAIN, ["datasets.train.num_frame=4", "datasets.train.gt_size=32"])
    train = build_dataset(opt["datasets"]["train"], "datasets.train")
    assert train.clips == ["001", "002"]
    item = train[0]
    assert item["lq"].shape == (4, 3, 8, 8) and item["gt"].shape == (4, 3, 32, 32)
    assert item["mv_bwd"].shape == (4, 2, 8, 8) and item["frame_types"].shape == (4,)
    val = build_dataset(opt["datasets"]["val"], "datasets.val")
    assert val.clips == ["000", "011", "015", "020"] and len(val) == 4  # whole clips
    # the SPyNet baseline trains on the same clips and frames without reading the motion files
    flow = load_options(REPO / "options/train/mvvsr/train_basicvsr_spynet_reds_crf23.yml",
                        ["datasets.train.num_frame=4", "datasets.train.gt_size=32"])
    flow_train = build_dataset(flow["datasets"]["train"], "datasets.train")
    assert flow_train.clips == train.clips and "mv_bwd" not in flow_train[0]
    # even without the meta-info file the dataset leaves REDS4 out
    no_meta = {**opt["datasets"]["train"], "meta_info_file": None}
    assert build_dataset(no_meta, "datasets.train").clips == ["001", "002"]


def test_manifest_of_another_crf_is_refused(tree, monkeypatch):
    monkeypatch.chdir(tree)
    opt = load_options(TRAIN, ["datasets.train.dataroot_lq=datasets/REDS_H264/crf25/lq",
                               "datasets.train.dataroot_motion=datasets/REDS_H264/crf25/motion"])
    with pytest.raises(DataError, match="crf"):
        build_dataset(opt["datasets"]["train"], "datasets.train")


def test_train_then_test_reds4_at_three_crfs(tree, monkeypatch):
    """The shipped REDS options, run in-process from the dataset tree (the relative paths of the options)."""
    from vsrkit.test import test_main
    from vsrkit.train import train_main

    monkeypatch.chdir(tree)
    assert train_main(["-opt", str(TRAIN), "--set", *TINY_NET, "train.total_iter=1", "datasets.train.num_frame=3",
                       "datasets.train.gt_size=32", "datasets.train.batch_size_per_gpu=1",
                       "datasets.train.num_worker_per_gpu=0", "val.val_freq=100", "logger.use_tb_logger=false",
                       "precision=fp32"]) == 0
    assert (tree / "experiments/MVVSR_REDS_CRF23/models/net_g_latest.pth").is_file()

    for opt_file, name, metrics in (
            (TEST, "MVVSR_REDS_CRF23_REDS4", ["psnr_rgb", "ssim_rgb", "psnr_yfull", "ssim_yfull"]),
            (TEST_BASICSR, "MVVSR_REDS_CRF23_REDS4_basicsr", ["psnr_rgb", "ssim_rgb", "psnr_y601", "ssim_y601"])):
        assert test_main(["-opt", str(opt_file), "--set", *TINY_NET]) == 0
        results = tree / "results" / name
        for crf in (15, 25, 35):
            rows = list(csv.DictReader(open(results / f"REDS4_CRF{crf}_metrics.csv")))
            assert [r["clip"] for r in rows] == ["000", "011", "015", "020", "average"]
            assert list(rows[0]) == ["clip", *metrics, *[f"bicubic_{m}" for m in metrics]]
            assert all(0 < float(r[m]) < 100 for r in rows for m in metrics)
    published = list(csv.DictReader(open(tree / "results/MVVSR_REDS_CRF23_REDS4/REDS4_CRF35_metrics.csv")))
    basicsr = list(csv.DictReader(open(tree / "results/MVVSR_REDS_CRF23_REDS4_basicsr/REDS4_CRF35_metrics.csv")))
    assert published[-1]["psnr_rgb"] != basicsr[-1]["psnr_rgb"]  # shave 4 + truncation vs crop 0 + rounding
    # more compression, lower bicubic PSNR on the same clips
    bicubic = [float(list(csv.DictReader(open(tree / f"results/MVVSR_REDS_CRF23_REDS4/REDS4_CRF{q}_metrics.csv")))[-1]
                     ["bicubic_psnr_rgb"]) for q in (15, 35)]
    assert bicubic[0] > bicubic[1]


def test_vid4_options_read_the_documented_layout(tmp_path, monkeypatch):
    """datasets/Vid4/GT (+ meta_info_Vid4_GT.txt) and datasets/Vid4_H264/crf25/{lq,motion}: whole-clip items."""
    from vsrkit.codec import encode_h264, read_motion, save_motion
    from vsrkit.data.meta_info import scan_storage, write_meta_info
    from vsrkit.data.storage import DiskStorage

    clips = ("calendar", "walk")
    out = tmp_path / "datasets/Vid4_H264/crf25"
    (out / "motion").mkdir(parents=True)
    for i, clip in enumerate(clips):
        hr = hr_clip(10 + i)[: 3 + i]
        for t, frame in enumerate(hr):
            write_png(tmp_path / "datasets/Vid4/GT" / clip / f"{t:08d}.png", frame)
        lr = np.stack([cv2.resize(f, (HR // 4, HR // 4), interpolation=cv2.INTER_AREA) for f in hr])
        encode_h264(lr, str(tmp_path / f"{clip}.mp4"), crf=25)
        motion = read_motion(str(tmp_path / f"{clip}.mp4"))
        for t, frame in enumerate(motion.frames):
            write_png(out / "lq" / clip / f"{t:08d}.png", frame)
        save_motion(str(out / "motion" / f"{clip}.npz"), motion)
    write_meta_info(str(tmp_path / "datasets/Vid4/meta_info_Vid4_GT.txt"),
                    scan_storage(DiskStorage(str(tmp_path / "datasets/Vid4/GT"))))
    (out / "manifest.json").write_text(json.dumps({"settings": {"scale": 4, "crf": 25, "preset": "medium"}}))
    monkeypatch.chdir(tmp_path)
    for name in ("test_mvvsr_vid4.yml", "test_basicvsr_spynet_vid4_basicsr.yml"):
        opt = load_options(REPO / "options/test/mvvsr" / name, is_train=False)
        (key, section), = opt["datasets"].items()
        data = build_dataset(section, f"datasets.{key}")
        assert data.clips == list(clips) and len(data) == 2
        item = data[1]
        assert item["key"] == "walk" and item["lq"].shape == (4, 3, 16, 16) and item["gt"].shape == (4, 3, 64, 64)
        assert ("mv_bwd" in item) == ("spynet" not in name)
    (out / "manifest.json").write_text(json.dumps({"settings": {"scale": 4, "crf": 35}}))
    with pytest.raises(DataError, match="crf"):
        build_dataset(section, "datasets.test_vid4")
