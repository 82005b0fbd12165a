"""degradation/compress.py end to end on two tiny clips: layout, motion, manifest, resume, refusal, dataset read-back."""
import importlib.util
import json
import os
import sys

import cv2
import numpy as np
import pytest

from vsrkit.codec import load_motion
from vsrkit.errors import ConfigError, DataError

_spec = importlib.util.spec_from_file_location("codec_clips", os.path.join(os.path.dirname(__file__), "codec_clips.py"))
codec_clips = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(codec_clips)
_spec = importlib.util.spec_from_file_location(
    "compress_cli", os.path.join(os.path.dirname(__file__), "..", "..", "degradation", "compress.py"))
compress_cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compress_cli)


@pytest.fixture
def lr_root(tmp_path):
    root = tmp_path / "lr"
    for name, (vx, vy) in {"a": (1, 0), "b": (0, -1)}.items():
        (root / name).mkdir(parents=True)
        for i, frame in enumerate(codec_clips.translating_clip(vx, vy, num_frames=5, size=(32, 48))):
            cv2.imwrite(str(root / name / f"{i:08d}.png"), frame[:, :, ::-1])
    (root / "manifest.json").write_text(json.dumps({"mode": "bi", "scale": 4, "clips": {"a": 5, "b": 5}}))
    return root


def run(*args):
    return compress_cli.main([*map(str, args), "--workers", "1", "--no-progress"])


def test_h264_layout_motion_manifest_and_dataset(lr_root, tmp_path):
    out = tmp_path / "crf25"
    assert run("--codec", "h264", "--input", lr_root, "--output", out, "--crf", 25, "--bf", 0, "--ref", 1) == 0
    for clip, (vx, vy) in {"a": (1, 0), "b": (0, -1)}.items():
        assert sorted(os.listdir(out / "lq" / clip)) == [f"{i:08d}.png" for i in range(5)]
        assert (out / "bitstreams" / f"{clip}.mp4").is_file()
        motion = load_motion(out / "motion" / f"{clip}.npz")
        assert motion.mv_bwd.shape == (5, 2, 32, 48) and motion.frame_types.tolist() == [1, 2, 2, 2, 2]
        inner = motion.mv_bwd[1:, :, 8:-8, 8:-8]
        assert np.median(inner[:, 0]) == pytest.approx(vx, abs=0.3)  # frame t = texture(x + t*v): bwd field = v
        assert np.median(inner[:, 1]) == pytest.approx(vy, abs=0.3)
    man = json.loads((out / "manifest.json").read_text())
    assert man["complete"] and man["codec"] == "h264" and man["crf"] == 25 and man["bf"] == 0
    assert man["source_manifest"]["scale"] == 4 and man["clips"] == {"a": 5, "b": 5}
    assert not [e for e in os.listdir(out / "lq") if e.startswith(".")]

    from vsrkit.data.video_folder_dataset import CompressedVideoDataset

    gt = tmp_path / "gt"
    for clip in ("a", "b"):
        (gt / clip).mkdir(parents=True)
        for i in range(5):
            cv2.imwrite(str(gt / clip / f"{i:08d}.png"), np.zeros((128, 192, 3), np.uint8))
    ds = CompressedVideoDataset(dataroot_gt=str(gt), dataroot_lq=str(out / "lq"), dataroot_motion=str(out / "motion"),
                                scale=4, test_mode=True, manifest_check={"crf": 25, "scale": 4})
    item = ds[0]
    assert item["lq"].shape == (5, 3, 32, 48) and item["mv_bwd"].shape == (5, 2, 32, 48)
    with pytest.raises(DataError, match="crf"):
        CompressedVideoDataset(dataroot_gt=str(gt), dataroot_lq=str(out / "lq"), scale=4, test_mode=True,
                               use_motion=False, manifest_check={"crf": 23})


def test_resume_skips_done_clips_and_other_settings_are_refused(lr_root, tmp_path):
    out = tmp_path / "o"
    run("--codec", "h264", "--input", lr_root, "--output", out, "--crf", 30)
    stamp = os.path.getmtime(out / "bitstreams" / "a.mp4")
    os.replace(out / "lq" / "b", out / "lq" / ".b.tmp-123")  # as if the run had died while writing clip b
    run("--codec", "h264", "--input", lr_root, "--output", out, "--crf", 30)
    assert os.path.getmtime(out / "bitstreams" / "a.mp4") == stamp  # a was not redone
    assert len(os.listdir(out / "lq" / "b")) == 5
    with pytest.raises(DataError, match=r"manifest.json: output was made with crf=30.0"):
        run("--codec", "h264", "--input", lr_root, "--output", out, "--crf", 35)
    with pytest.raises(ConfigError, match="use --qp"):
        run("--codec", "hevc", "--input", lr_root, "--output", tmp_path / "h", "--crf", 30)


def test_corrupt_manifests_are_named(lr_root, tmp_path):
    (lr_root / "manifest.json").write_text("{broken")
    with pytest.raises(DataError, match=r"lr/manifest.json: unreadable manifest .*describes the input"):
        run("--codec", "h264", "--input", lr_root, "--output", tmp_path / "o")
    assert not (tmp_path / "o").exists()
    (lr_root / "manifest.json").unlink()
    (tmp_path / "o2").mkdir()
    (tmp_path / "o2" / "manifest.json").write_text("[1, 2]")
    with pytest.raises(DataError, match=r"o2/manifest.json: manifest is not a JSON object; delete .*o2"):
        run("--codec", "h264", "--input", lr_root, "--output", tmp_path / "o2")


def test_hevc_with_estimated_block_motion(lr_root, tmp_path):
    out = tmp_path / "hevc"
    run("--codec", "hevc", "--input", lr_root, "--output", out, "--qp", 32, "--hevc-motion", "estimate")
    man = json.loads((out / "manifest.json").read_text())
    assert man["codec"] == "hevc" and man["qp"] == 32 and man["motion"] == "block_estimate"
    assert len(os.listdir(out / "lq" / "a")) == 5
    motion = load_motion(out / "motion" / "a.npz")
    assert motion.mv_bwd.shape == (5, 2, 32, 48)


@pytest.mark.skipif(__import__("shutil").which("x265") is None, reason="x265 command-line encoder not installed")
def test_hevc_x265_backend_applies_hm_cascade(lr_root, tmp_path):
    out = tmp_path / "x265"
    run("--codec", "hevc", "--input", lr_root, "--output", out, "--qp", 30, "--hevc-backend", "x265")
    man = json.loads((out / "manifest.json").read_text())
    assert man["backend"] == "x265" and man["cascade"] == "hm_ldp" and man["complete"]
    from vsrkit.codec import decode_video

    video = decode_video(out / "bitstreams" / "b.mp4")
    assert video.codec == "hevc" and video.frame_types.tolist() == [1, 2, 2, 2, 2]
    with pytest.raises(ConfigError, match="x265"):
        run("--codec", "hevc", "--input", lr_root, "--output", tmp_path / "p", "--hevc-cascade", "hm_ldp")


def test_nested_clip_names_and_resume(lr_root, tmp_path):
    """Clips in nested folders (Vimeo-90K's 00001/0001) keep their names in lq/, bitstreams/ and motion/."""
    nested = tmp_path / "nested"
    for clip, src in (("00001/0001", "a"), ("00002/0001", "b")):
        os.makedirs(nested / clip)
        for name in os.listdir(lr_root / src):
            os.link(lr_root / src / name, nested / clip / name)
    out = tmp_path / "o"
    assert run("--codec", "h264", "--input", nested, "--output", out, "--crf", 30) == 0
    assert json.loads((out / "manifest.json").read_text())["clips"] == {"00001/0001": 5, "00002/0001": 5}
    for clip in ("00001/0001", "00002/0001"):
        assert len(os.listdir(out / "lq" / clip)) == 5
        assert (out / "bitstreams" / f"{clip}.mp4").is_file() and (out / "motion" / f"{clip}.npz").is_file()
    stamp = os.path.getmtime(out / "bitstreams" / "00001" / "0001.mp4")
    os.replace(out / "lq" / "00002" / "0001", out / "lq" / ".00002__0001.tmp-123")  # died while writing 00002/0001
    assert run("--codec", "h264", "--input", nested, "--output", out, "--crf", 30) == 0
    assert os.path.getmtime(out / "bitstreams" / "00001" / "0001.mp4") == stamp  # 00001/0001 was not redone
    assert len(os.listdir(out / "lq" / "00002" / "0001")) == 5
