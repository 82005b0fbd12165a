"""Demo dataset builder: layout, manifest, held-out photos, motion consistent with the camera path, atomic build."""
import json
import os

import cv2
import numpy as np
import pytest

from vsrkit.codec import load_motion
from vsrkit.data import demo_builder
from vsrkit.data.demo_builder import TRAIN_PHOTOS, VAL_PHOTOS, build_demo_dataset
from vsrkit.errors import ConfigError, DataError

KW = dict(num_train_clips=3, num_val_clips=2, num_frames=5, hr_size=96, scale=4, crf=25, seed=3)


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    return build_demo_dataset(tmp_path_factory.mktemp("demo") / "ds", **KW)


def test_layout_and_manifest(demo_root):
    top = json.load(open(os.path.join(demo_root, "manifest.json")))
    assert top["scale"] == 4 and top["settings"]["crf"] == 25 and top["settings"]["bf"] == 0
    assert top["versions"]["av"] and top["versions"]["x264"].startswith("x264")
    for split, n in (("train", 3), ("val", 2)):
        man = json.load(open(os.path.join(demo_root, split, "manifest.json")))
        assert man["scale"] == 4 and man["codec"]["encoder_options"]["ref"] == "1"
        clips = sorted(os.listdir(os.path.join(demo_root, split, "gt")))
        assert len(clips) == n and sorted(man["clips"]) == clips
        assert sorted(os.listdir(os.path.join(demo_root, split, "lq"))) == clips
        for clip in clips:
            gt = sorted(os.listdir(os.path.join(demo_root, split, "gt", clip)))
            lq = sorted(os.listdir(os.path.join(demo_root, split, "lq", clip)))
            assert gt == lq == [f"{i:08d}.png" for i in range(5)]
            g = cv2.imread(os.path.join(demo_root, split, "gt", clip, gt[0]))
            q = cv2.imread(os.path.join(demo_root, split, "lq", clip, lq[0]))
            assert g.shape == (96, 96, 3) and q.shape == (24, 24, 3)
            assert os.path.getsize(os.path.join(demo_root, split, "bitstreams", f"{clip}.mp4")) > 0
            motion = load_motion(os.path.join(demo_root, split, "motion", f"{clip}.npz"))
            assert motion.mv_bwd.shape == (5, 2, 24, 24) and motion.frame_types.tolist() == [1, 2, 2, 2, 2]
            assert motion.qp.shape == (5, 2, 2)
    assert not [e for e in os.listdir(os.path.dirname(demo_root)) if ".tmp-" in e]


def test_val_photos_are_held_out(demo_root):
    assert not set(TRAIN_PHOTOS) & set(VAL_PHOTOS)
    train = json.load(open(os.path.join(demo_root, "train", "manifest.json")))
    val = json.load(open(os.path.join(demo_root, "val", "manifest.json")))
    train_photos = {c["photo"] for c in train["clips"].values()}
    val_photos = {c["photo"] for c in val["clips"].values()}
    assert train_photos <= set(TRAIN_PHOTOS) and val_photos <= set(VAL_PHOTOS) and val_photos


def test_lq_is_bicubic_then_h264(demo_root):
    """LQ ~ MATLAB bicubic x1/4 of GT (up to compression), and the codec motion follows the camera pan."""
    from vsrkit.degrade import imresize

    man = json.load(open(os.path.join(demo_root, "train", "manifest.json")))
    for clip, rec in man["clips"].items():
        gt = cv2.imread(os.path.join(demo_root, "train", "gt", clip, "00000002.png"))
        lq = cv2.imread(os.path.join(demo_root, "train", "lq", clip, "00000002.png"))
        psnr = 10 * np.log10(255 ** 2 / np.mean((imresize(gt, 0.25).astype(float) - lq) ** 2))
        assert psnr > 25
        pan = np.array(rec["camera"]["pan_px_per_frame"]) / 4  # LR px per frame
        motion = load_motion(os.path.join(demo_root, "train", "motion", f"{clip}.npz"))
        vec = motion.mv_bwd[1:].transpose(1, 0, 2, 3)[:, motion.valid_bwd[1:]]
        if np.abs(pan).max() > 0.3 and gt.std() > 30:  # flat photos (a page of text) may code as zero motion
            assert np.abs(np.median(vec, axis=1) - pan).max() < 0.5, rec["photo"]


def test_reuse_and_refuse(demo_root):
    mtime = os.path.getmtime(os.path.join(demo_root, "manifest.json"))
    assert build_demo_dataset(demo_root, **KW) == demo_root  # same settings: reused, not rebuilt
    assert os.path.getmtime(os.path.join(demo_root, "manifest.json")) == mtime
    with pytest.raises(DataError, match="overwrite"):
        build_demo_dataset(demo_root, **{**KW, "crf": 30})
    with pytest.raises(ConfigError, match="divisible"):
        build_demo_dataset(demo_root + "_x", **{**KW, "hr_size": 100})


def test_interrupted_build_leaves_nothing(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_builder, "write_json_atomic", boom)
    with pytest.raises(KeyboardInterrupt):
        build_demo_dataset(tmp_path / "ds", **{**KW, "num_train_clips": 1, "num_val_clips": 1})
    assert os.listdir(tmp_path) == []


def test_cli(tmp_path, capsys):
    assert demo_builder.main(["--root", str(tmp_path / "cli"), "--num-train-clips", "1", "--num-val-clips", "1",
                              "--num-frames", "3", "--hr-size", "64"]) == 0
    assert len(os.listdir(tmp_path / "cli" / "val" / "motion")) == 1
    assert demo_builder.main(["--root", str(tmp_path / "cli"), "--num-frames", "4"]) == 2
    assert "overwrite" in capsys.readouterr().err
