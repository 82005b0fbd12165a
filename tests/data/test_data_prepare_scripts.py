"""Preparation scripts on tiny fake copies of each dataset's official download layout."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from vsrkit.data.storage import write_png, write_yuv420, yuv_file_name
from vsrkit.errors import DataError
from vsrkit.registry import DATASETS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _script(name):
    spec = importlib.util.spec_from_file_location(f"vsrkit_script_{name}", os.path.join(REPO, "scripts", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _frames(folder, names, size=(8, 8), value=0):
    os.makedirs(folder, exist_ok=True)
    for i, n in enumerate(names):
        write_png(os.path.join(folder, n), np.full(size + (3,), (value + 10 * i) % 256, np.uint8))


def _leftovers(parent):
    return [n for n in os.listdir(parent) if ".tmp-" in n]


def test_prepare_reds_merges_val_as_240_to_269(tmp_path):
    src = tmp_path / "REDS"
    for clip in ("000", "011", "015", "020", "239"):
        _frames(src / "train_sharp" / clip, [f"{i:08d}.png" for i in range(3)], (16, 16))
        _frames(src / "train_sharp_bicubic" / "X4" / clip, [f"{i:08d}.png" for i in range(3)], (4, 4))
    for clip in ("000", "029"):
        _frames(src / "val_sharp" / clip, [f"{i:08d}.png" for i in range(3)], (16, 16), value=100)
        _frames(src / "val_sharp_bicubic" / "X4" / clip, [f"{i:08d}.png" for i in range(3)], (4, 4), value=100)
    out = tmp_path / "out"
    counts = _script("prepare_reds").prepare_reds(str(src), str(out), mode="copy")
    assert counts == {"train_sharp": 7, "train_sharp_bicubic/X4": 7}
    assert sorted(os.listdir(out / "train_sharp")) == ["000", "011", "015", "020", "239", "240", "269"]
    meta = out / "meta_info"
    assert (meta / "reds_REDS4.txt").read_text().split("\n")[0] == "000 3 (16,16,3)"
    assert [l.split()[0] for l in (meta / "reds_official_val.txt").read_text().split()[::3]] == ["240", "269"]
    assert "000" not in (meta / "reds_train_REDS4_excluded.txt").read_text()
    # the prepared folder feeds the dataset directly
    ds = DATASETS.get("REDSRecurrentDataset")(dataroot_gt=str(out / "train_sharp"),
                                              dataroot_lq=str(out / "train_sharp_bicubic" / "X4"),
                                              meta_info_file=str(meta / "reds_train_REDS4_excluded.txt"),
                                              num_frame=2, gt_size=8)
    assert ds.clips == ["239", "240", "269"] and ds[0]["lq"].shape == (2, 3, 2, 2)
    with pytest.raises(DataError, match="already exists"):
        _script("prepare_reds").prepare_reds(str(src), str(out))


def test_prepare_vid4_renames_and_checks_counts(tmp_path):
    src = tmp_path / "Vid4"
    _frames(src / "GT" / "calendar", [f"frame{i}.png" for i in range(1, 42)])  # natural order frame1..frame41
    _frames(src / "BIx4" / "calendar", [f"frame{i}.png" for i in range(1, 42)], (2, 2))
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "prepare_vid4.py"), "--input", str(src),
                        "--output", str(out), "--mode", "symlink"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out / "GT" / "calendar"))[:2] == ["00000000.png", "00000001.png"]
    assert os.path.realpath(out / "GT" / "calendar" / "00000010.png").endswith("frame11.png")
    assert (out / "meta_info_Vid4_GT.txt").read_text() == "calendar 41 (8,8,3)\n"
    os.remove(src / "BIx4" / "calendar" / "frame41.png")
    out2 = tmp_path / "out2"
    r = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "prepare_vid4.py"), "--input", str(src),
                        "--output", str(out2)], capture_output=True, text=True)
    assert r.returncode == 2 and "BIx4/calendar: 40 frames but GT has 41" in r.stderr
    assert not out2.exists() and not _leftovers(tmp_path)  # nothing half-written left behind
    os.remove(src / "GT" / "calendar" / "frame41.png")
    with pytest.raises(DataError, match="40 frames, Vid4's calendar has 41"):
        _script("prepare_vid4").prepare_vid4(str(src), str(out2))


def test_prepare_vimeo_lists(tmp_path):
    src = tmp_path / "vimeo_septuplet"
    ims = [f"im{i}.png" for i in range(1, 8)]
    for clip in ("00001/0001", "00001/0002", "00002/0007"):
        _frames(src / "sequences" / clip, ims, (8, 12))
    (src / "sep_trainlist.txt").write_text("00001/0001\n00002/0007\n")
    (src / "sep_testlist.txt").write_text("00001/0002\n")
    (src / "slow.txt").write_text("00001/0002\n")
    mod = _script("prepare_vimeo90k")
    counts = mod.prepare_vimeo90k(str(src), str(tmp_path / "meta"), splits={"slow": str(src / "slow.txt")})
    assert counts == {"train": 2, "test": 1, "test_slow": 1}
    assert (tmp_path / "meta" / "vimeo90k_train.txt").read_text() == "00001/0001 7 (8,12,3)\n00002/0007 7 (8,12,3)\n"
    os.remove(src / "sequences" / "00002" / "0007" / "im5.png")
    with pytest.raises(DataError, match=r"00002/0007: missing im5.png"):
        mod.prepare_vimeo90k(str(src), str(tmp_path / "meta2"))
    assert not (tmp_path / "meta2").exists()


def test_prepare_mfqev2_checks_yuv(tmp_path):
    raw, comp = tmp_path / "raw", tmp_path / "qp37"
    raw.mkdir()
    comp.mkdir()
    frames = [np.full((16, 16, 3), 60 * i, np.uint8) for i in range(3)]
    write_yuv420(str(raw / yuv_file_name("A", 16, 16, 3)), frames)
    write_yuv420(str(comp / yuv_file_name("A", 16, 16, 3)), frames)
    mod = _script("prepare_mfqev2")
    assert mod.prepare_mfqev2(str(raw), str(tmp_path / "out"), "test", {"QP37": str(comp)}) == 1
    assert (tmp_path / "out" / "meta_info_mfqev2_test.txt").read_text() == "A 3 (16,16,3)\n"
    assert os.path.islink(tmp_path / "out" / "test" / "QP37" / "A_16x16_3.yuv")
    ds = DATASETS.get("MFQEv2Dataset")(dataroot_gt=str(tmp_path / "out" / "test" / "raw"),
                                       dataroot_lq=str(tmp_path / "out" / "test" / "QP37"), test_mode=True,
                                       meta_info_file=str(tmp_path / "out" / "meta_info_mfqev2_test.txt"))
    assert len(ds) == 3
    with open(comp / "A_16x16_3.yuv", "ab") as f:
        f.write(b"\0" * 5)
    with pytest.raises(DataError, match="A_16x16_3.yuv: .*larger than its name says"):
        mod.prepare_mfqev2(str(raw), str(tmp_path / "out2"), "test", {"QP37": str(comp)})


def test_prepare_vsd4k(tmp_path):
    src = tmp_path / "dl"
    _frames(src / "game_15s" / "DIV2K_train_HR", [f"{i:04d}.png" for i in range(1, 4)], (8, 16))
    _frames(src / "game_15s" / "DIV2K_train_LR_bicubic" / "X2", [f"{i:04d}x2.png" for i in range(1, 4)], (4, 8))
    counts = _script("prepare_vsd4k").prepare_vsd4k(str(src), str(tmp_path / "VSD4K"), scales=[2])
    assert counts == {"game_15s": 3}
    ds = DATASETS.get("VSD4KDataset")(dataroot_gt=str(tmp_path / "VSD4K" / "HR"),
                                      dataroot_lq=str(tmp_path / "VSD4K" / "LR_bicubic" / "X2"), video="game_15s",
                                      scale=2, patch_grid=[2, 2])
    assert len(ds) == 12 and ds[0]["gt"].shape == (1, 3, 4, 8)


@pytest.mark.parametrize("script,args,message", [
    ("prepare_vimeo90k", ["--split", "fast"], "error: --split: expected NAME=LIST_FILE, got 'fast'"),
    ("prepare_mfqev2", ["--split", "test", "--compressed", "=x"], "error: --compressed: expected TAG=DIR, got '=x'"),
])
def test_bad_name_value_pairs_are_one_error_line(tmp_path, script, args, message):
    common = ["--input" if script == "prepare_vimeo90k" else "--raw", str(tmp_path), "--output", str(tmp_path / "o")]
    r = subprocess.run([sys.executable, os.path.join(REPO, "scripts", f"{script}.py")] + common + args,
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip() == message and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, os.path.join(REPO, "scripts", f"{script}.py")] + common + args + ["--debug"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "Traceback" in r.stderr  # --debug shows where it came from


def test_yuv_to_png_writes_the_frames_yuv_storage_reads(tmp_path):
    from vsrkit.data.storage import YuvStorage, read_png

    raw = tmp_path / "raw"
    raw.mkdir()
    rng = np.random.default_rng(0)
    write_yuv420(str(raw / yuv_file_name("A", 16, 8, 3)), list(rng.integers(0, 256, (3, 8, 16, 3), dtype=np.uint8)))
    write_yuv420(str(raw / yuv_file_name("B", 8, 8, 2)), list(rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)))
    r = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "yuv_to_png.py"), "--input", str(raw),
                        "--output", str(tmp_path / "GT")], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip().endswith(f"2 sequences, 5 frames -> {tmp_path / 'GT'}"), r.stderr
    assert sorted(os.listdir(tmp_path / "GT" / "A")) == ["00000000.png", "00000001.png", "00000002.png"]
    store = YuvStorage(str(raw), color="rgb")
    for clip, n in (("A", 3), ("B", 2)):
        for i in range(n):
            np.testing.assert_array_equal(read_png(str(tmp_path / "GT" / clip / f"{i:08d}.png")), store.read(clip, i))
    mod = _script("yuv_to_png")
    assert mod.yuv_to_png(str(raw), str(tmp_path / "only_b"), clips=["B"]) == {"B": 2}
    with pytest.raises(DataError, match=r"--clips: C not in .* \(found: A, B\)"):
        mod.yuv_to_png(str(raw), str(tmp_path / "none"), clips=["C"])
    with pytest.raises(DataError, match="already exists"):
        mod.yuv_to_png(str(raw), str(tmp_path / "GT"))
    with open(raw / "B_8x8_2.yuv", "ab") as f:  # a truncated or misnamed file stops the run before any write
        f.write(b"\0" * 7)
    r = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "yuv_to_png.py"), "--input", str(raw),
                        "--output", str(tmp_path / "GT2")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "B_8x8_2.yuv" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "GT2").exists() and not _leftovers(tmp_path)
