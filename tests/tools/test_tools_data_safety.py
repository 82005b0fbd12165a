"""Issue 14, data loss: ``--mode move`` leaves the source as it was on any failure, and no tool accepts an output that
is its input, inside its input, or holds its input (after resolving symlinks)."""
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vsrkit.data.storage import write_yuv420, yuv_file_name
from vsrkit.errors import ConfigError, DataError

_spec = importlib.util.spec_from_file_location("tool_helpers", Path(__file__).with_name("tool_helpers.py"))
th = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(th)

NAMES3 = [f"{i:08d}.png" for i in range(3)]


# ------------------------------------------------------------------------------------------ download layouts
def vid4_download(root, bi_frames=41):
    th.frames(root / "GT" / "calendar", [f"frame{i}.png" for i in range(1, 42)])
    th.frames(root / "BIx4" / "calendar", [f"frame{i}.png" for i in range(1, bi_frames + 1)], (2, 2))


def reds_download(root, val_clips=("000",), lq_frames=3):
    for clip in ("000", "001"):
        th.frames(root / "train_sharp" / clip, NAMES3, (16, 16))
        th.frames(root / "train_sharp_bicubic" / "X4" / clip, NAMES3[:lq_frames], (4, 4))
    for clip in val_clips:
        th.frames(root / "val_sharp" / clip, NAMES3, (16, 16), value=100)
        th.frames(root / "val_sharp_bicubic" / "X4" / clip, NAMES3, (4, 4), value=100)


def vsd4k_download(root, lr_frames=3):
    th.frames(root / "game_15s" / "DIV2K_train_HR", ["0001.png", "0002.png", "0003.png"], (8, 8))
    th.frames(root / "game_15s" / "DIV2K_train_LR_bicubic" / "X2",
              [f"000{i}x2.png" for i in range(1, lr_frames + 1)], (4, 4))


def mfqev2_download(root):
    rng = np.random.default_rng(0)
    for folder in ("raw", "qp37"):
        os.makedirs(root / folder, exist_ok=True)
        write_yuv420(str(root / folder / yuv_file_name("Seq", 16, 16, 2)),
                     [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(2)])


def _prepare(name, src, out, **kw):
    mod = th.script(f"scripts/prepare_{name}.py")
    if name == "mfqev2":
        return mod.prepare_mfqev2(str(src / "raw"), str(out), "train", {"QP37": str(src / "qp37")}, mode="move", **kw)
    return getattr(mod, f"prepare_{name}")(str(src), str(out), mode="move", **kw)


# ------------------------------------------------------------------------------------------------ move mode
@pytest.mark.parametrize("case,match", [
    ("vid4_count", "BIx4/calendar: 40 frames but GT has 41"),
    ("reds_non_numeric", r"val_sharp/abc: not a REDS validation clip"),
    ("reds_lq_count", "has 3 GT frames but 2 in train_sharp_bicubic/X4"),
    ("vsd4k_lr_count", "2 LR frames but 3 HR frames"),
])
def test_failed_check_in_move_mode_leaves_the_source_as_it_was(tmp_path, case, match):
    """Item 1: a check that fails after frames were placed used to delete the moved originals with the staging."""
    src, out = tmp_path / "download", tmp_path / "out"
    name = case.split("_")[0]
    if case == "vid4_count":
        vid4_download(src, bi_frames=40)
    elif case == "reds_non_numeric":
        reds_download(src, val_clips=("000", "abc"))
    elif case == "reds_lq_count":
        reds_download(src, lq_frames=2)
    else:
        vsd4k_download(src, lr_frames=2)
    before = th.snapshot(src)
    with pytest.raises(DataError, match=match):
        _prepare(name, src, out)
    assert th.snapshot(src) == before
    assert not out.exists() and not th.leftovers(tmp_path)


@pytest.mark.parametrize("name", ["vid4", "reds", "vsd4k", "mfqev2"])
def test_a_move_that_fails_midway_is_undone(tmp_path, monkeypatch, name):
    """Item 1: the second file move fails (a full disk, a permission): the one done is moved back."""
    src, out = tmp_path / "download", tmp_path / "out"
    {"vid4": vid4_download, "reds": reds_download, "vsd4k": vsd4k_download, "mfqev2": mfqev2_download}[name](src)
    before = th.snapshot(src)
    real_move, calls = shutil.move, []

    def flaky_move(a, b, *args, **kw):
        calls.append(a)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(a))
        return real_move(a, b, *args, **kw)

    monkeypatch.setattr(shutil, "move", flaky_move)
    with pytest.raises(DataError, match="could not be moved .*No space left on device.*source is as it was"):
        _prepare(name, src, out)
    assert th.snapshot(src) == before and not th.leftovers(tmp_path)
    if name == "mfqev2":  # the output root holds the splits; only the split is staged
        assert not (out / "train").exists() and not th.leftovers(out)
    else:
        assert not out.exists()


def test_a_failed_final_rename_moves_the_sources_back_and_keeps_the_old_output(tmp_path, monkeypatch):
    """Item 1: the staged folder cannot replace the output: the old output and the sources are as they were."""
    from vsrkit.data import prepare

    src, out = tmp_path / "download", tmp_path / "out"
    vid4_download(src)
    out.mkdir()
    (out / "old.txt").write_text("previous result")
    before = th.snapshot(src)
    real_replace = os.replace

    def failing_replace(a, b):
        if ".tmp-" in os.fspath(a) and os.fspath(b) == str(out):
            raise OSError(13, "Permission denied", os.fspath(b))
        return real_replace(a, b)

    monkeypatch.setattr(prepare.os, "replace", failing_replace)
    with pytest.raises(OSError, match="Permission denied"):
        _prepare("vid4", src, out, overwrite=True)
    assert th.snapshot(src) == before
    assert (out / "old.txt").read_text() == "previous result" and not th.leftovers(tmp_path)


def test_successful_move_moves_real_files(tmp_path):
    src, out = tmp_path / "download", tmp_path / "out"
    vid4_download(src)
    _prepare("vid4", src, out)
    first = out / "GT" / "calendar" / "00000000.png"
    assert first.is_file() and not first.is_symlink()
    assert not os.listdir(src / "GT" / "calendar")  # the frames were moved, not copied
    assert (out / "meta_info_Vid4_GT.txt").read_text() == "calendar 41 (8,8,3)\n"


# --------------------------------------------------------------------------------------------- same folders
def test_check_separate_resolves_symlinks_and_hard_links(tmp_path):
    from vsrkit.folders import check_separate

    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "alias").symlink_to(data)
    video = tmp_path / "in.mp4"
    video.write_bytes(b"x")
    os.link(video, tmp_path / "hard.mp4")
    for output, match in [(data, "is the same as --input"), (tmp_path / "alias", "is the same as --input"),
                          (tmp_path / "alias" / "sub", "is inside --input"),
                          (tmp_path, "--input .* is inside --output")]:
        with pytest.raises(ConfigError, match=match):
            check_separate(str(output), {"--input": str(data)})
    with pytest.raises(ConfigError, match="is the same as --input"):
        check_separate(str(tmp_path / "hard.mp4"), {"--input": str(video)})
    check_separate(str(tmp_path / "data.lmdb"), {"--input": str(data), "--lq": None})  # a sibling is fine


def test_prepare_vid4_input_as_output_with_overwrite_is_refused(tmp_path):
    """Item 2, the reported command: it deleted X, left dangling symlinks and exited 0."""
    src = tmp_path / "Vid4"
    vid4_download(src)
    before = th.snapshot(src)
    r = subprocess.run([sys.executable, os.path.join(th.REPO, "scripts", "prepare_vid4.py"), "--input", str(src),
                        "--output", str(src), "--overwrite"], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "--output" in r.stderr and str(src) in r.stderr
    assert th.snapshot(src) == before and not th.leftovers(tmp_path)


def test_infer_video_output_equal_to_input_is_refused(tmp_path, capsys):
    """Item 3: --output equal to --input silently replaced the input video (also through a symlink)."""
    video = tmp_path / "in.mp4"
    video.write_bytes(b"not decoded: refused before anything is read")
    (tmp_path / "link.mp4").symlink_to(video)
    for output in (video, tmp_path / "link.mp4"):
        code, _, err = th.run_tool("scripts/infer_video.py", ["--opt", tmp_path / "o.yml", "--model",
                                                              tmp_path / "m.pth", "--input", video, "--output",
                                                              output], capsys)
        assert code == 2 and "is the same as --input" in err and err.count("\n") == 1
    assert video.read_bytes() == b"not decoded: refused before anything is read"
