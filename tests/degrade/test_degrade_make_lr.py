"""degradation/make_lr.py: outputs equal the library functions, manifest, resume, parallel workers, bad input."""
import importlib.util
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from vsrkit.degrade import bd_duf, bd_matlab, imresize
from vsrkit.errors import DataError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "degradation", "make_lr.py")


def _load_script():
    spec = importlib.util.spec_from_file_location("vsrkit_script_make_lr", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_lr_main = _load_script().main


@pytest.fixture
def gt_root(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "gt"
    for clip in ("000", "011"):
        (root / clip).mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(root / clip / f"{i:08d}.png"), rng.integers(0, 256, (32, 40, 3), dtype=np.uint8))
    return root


def _run(gt, out, *extra):
    return make_lr_main(["--input", str(gt), "--output", str(out), "--no-progress", *extra])


@pytest.mark.parametrize("mode,fn", [("bi", lambda x: imresize(x, 1 / 4)), ("bd_matlab", bd_matlab),
                                     ("bd_duf", bd_duf)])
def test_outputs_equal_the_library(gt_root, tmp_path, mode, fn):
    out = tmp_path / f"lr_{mode}"
    assert _run(gt_root, out, "--mode", mode, "--scale", "4", "--workers", "1") == 0
    for clip in ("000", "011"):
        names = sorted(os.listdir(out / clip))
        assert names == [f"{i:08d}.png" for i in range(3)]  # no temporary files left
        for name in names:
            hr = cv2.imread(str(gt_root / clip / name), cv2.IMREAD_UNCHANGED)
            lr = cv2.imread(str(out / clip / name), cv2.IMREAD_UNCHANGED)
            assert lr.shape == (8, 10, 3)
            np.testing.assert_array_equal(lr, fn(hr))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["mode"] == mode and manifest["scale"] == 4 and manifest["complete"] is True
    assert manifest["clips"] == {"000": 3, "011": 3} and manifest["frames"] == 6
    assert manifest["source"] == os.path.realpath(gt_root)
    assert {"vsrkit", "numpy", "torch", "opencv"} <= set(manifest["versions"])
    expected = {"bi": (None, None), "bd_matlab": (1.6, 12), "bd_duf": (pytest.approx(1.6), 13)}[mode]
    assert (manifest["sigma"], manifest["kernel_size"]) == expected


def test_parallel_workers_give_the_same_bytes(gt_root, tmp_path):
    _run(gt_root, tmp_path / "a", "--mode", "bd_matlab", "--workers", "1")
    _run(gt_root, tmp_path / "b", "--mode", "bd_matlab", "--workers", "2")
    for clip in ("000", "011"):
        for name in os.listdir(tmp_path / "a" / clip):
            assert (tmp_path / "a" / clip / name).read_bytes() == (tmp_path / "b" / clip / name).read_bytes()


def test_resume_rewrites_only_missing_frames(gt_root, tmp_path):
    out = tmp_path / "lr"
    _run(gt_root, out, "--mode", "bi", "--workers", "1")
    kept = out / "000" / "00000000.png"
    os.utime(kept, (1, 1))  # a frame that must not be rewritten
    lost = out / "011" / "00000002.png"
    reference = lost.read_bytes()
    lost.unlink()
    _run(gt_root, out, "--mode", "bi", "--workers", "1")
    assert lost.read_bytes() == reference
    assert kept.stat().st_mtime == 1


def test_other_settings_are_refused_with_one_line(gt_root, tmp_path):
    out = tmp_path / "lr"
    _run(gt_root, out, "--mode", "bd_matlab", "--workers", "1")
    proc = subprocess.run([sys.executable, SCRIPT, "--input", str(gt_root), "--output", str(out), "--mode", "bd_duf",
                           "--workers", "1", "--no-progress"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "manifest.json" in lines[0] and "mode='bd_matlab'" in lines[0] and "mode='bd_duf'" in lines[0]
    with pytest.raises(DataError, match="sigma=1.6"):
        _run(gt_root, out, "--mode", "bd_matlab", "--sigma", "1.2", "--workers", "1")


def test_bad_input(gt_root, tmp_path):
    with pytest.raises(DataError, match="input folder not found"):
        _run(tmp_path / "missing", tmp_path / "o1", "--mode", "bi")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("someone else's data")
    with pytest.raises(DataError, match="no manifest.json"):
        _run(gt_root, foreign, "--mode", "bi")
    with pytest.raises(DataError, match="even --scale"):
        _run(gt_root, tmp_path / "o2", "--mode", "bd_matlab", "--scale", "3")
    bad = gt_root / "011" / "00000001.png"
    bad.write_bytes(bad.read_bytes()[:50])  # truncated PNG
    with pytest.raises(DataError, match="00000001.png: unreadable or truncated"):
        _run(gt_root, tmp_path / "o3", "--mode", "bi", "--workers", "1")
    assert not any(n.startswith(".") and n != "manifest.json" for n in os.listdir(tmp_path / "o3" / "011"))


def test_nested_clip_folders_keep_their_names(tmp_path):
    """Vimeo-90K's sequences/00001/0001/im1.png: the clip is 00001/0001, in the output and its manifest."""
    from vsrkit.folders import MAX_CLIP_DEPTH, list_clips

    rng = np.random.default_rng(1)
    gt = tmp_path / "sequences"
    for clip in ("00001/0001", "00001/0002", "00002/0001"):
        (gt / clip).mkdir(parents=True)
        for i in range(1, 3):
            cv2.imwrite(str(gt / clip / f"im{i}.png"), rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    (gt / ".00003.tmp-1" / "0001").mkdir(parents=True)  # hidden (a tool's temporary folder): skipped
    cv2.imwrite(str(gt / ".00003.tmp-1" / "0001" / "im1.png"), np.zeros((16, 16, 3), np.uint8))
    assert _run(gt, tmp_path / "lr", "--mode", "bi") == 0
    manifest = json.loads((tmp_path / "lr" / "manifest.json").read_text())
    assert manifest["clips"] == {"00001/0001": 2, "00001/0002": 2, "00002/0001": 2}
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "lr" / "00002" / "0001" / "im2.png")),
                                  imresize(cv2.imread(str(gt / "00002" / "0001" / "im2.png")), 1 / 4))
    deep = tmp_path / "deep" / ("d/" * (MAX_CLIP_DEPTH + 1))
    deep.mkdir(parents=True)
    cv2.imwrite(str(deep / "0.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DataError, match="no clip folders with PNG frames"):  # deeper than MAX_CLIP_DEPTH: not a clip
        list_clips(str(tmp_path / "deep"))
