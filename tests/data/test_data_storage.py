"""Storage backends: PNG folders, LMDB and raw YUV round trips and their bad-input errors."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from vsrkit.data.storage import (DiskStorage, LmdbStorage, YuvStorage, open_storage, rgb_to_yuv420, write_yuv420,
                                 yuv_file_name)
from vsrkit.data.synthetic import texture, translating_clip, write_clip
from vsrkit.errors import ConfigError, DataError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _make_folder(root, clips=("a", "b"), n=3, size=(24, 32)):
    data = {}
    for k, clip in enumerate(clips):
        frames, _, _ = translating_clip(n, *size, seed=k)
        write_clip(os.path.join(root, clip), frames)
        data[clip] = frames
    return data


def test_disk_reads_rgb_uint8(tmp_path):
    data = _make_folder(tmp_path)
    st = open_storage(str(tmp_path), {"type": "disk"})
    assert isinstance(st, DiskStorage) and st.clips() == ["a", "b"] and st.num_frames("a") == 3
    frame = st.read("b", 2)
    assert frame.dtype == np.uint8 and frame.shape == (24, 32, 3)
    np.testing.assert_array_equal(frame, data["b"][2])
    # RGB, not OpenCV's BGR
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "b" / "00000002.png"))[..., ::-1], frame)


def test_disk_truncated_png_names_the_file(tmp_path):
    _make_folder(tmp_path, clips=("a",))
    path = tmp_path / "a" / "00000001.png"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    st = open_storage(str(tmp_path))
    st.read("a", 0)
    with pytest.raises(DataError, match="00000001.png.*truncated or corrupt"):
        st.read("a", 1)


def test_missing_root_names_option_and_path(tmp_path):
    with pytest.raises(DataError, match=r"datasets.train.dataroot_gt: .*nope does not exist"):
        open_storage(str(tmp_path / "nope"), None, "datasets.train.dataroot_gt")
    with pytest.raises(ConfigError, match="unknown backend 'hdf5'"):
        open_storage(str(tmp_path), {"type": "hdf5"})


@pytest.mark.parametrize("compression", ["png", "raw"])
def test_lmdb_round_trip_and_missing_key(tmp_path, compression):
    data = _make_folder(tmp_path / "frames", clips=("000", "011"), n=4)
    out = tmp_path / "x.lmdb"
    cmd = [sys.executable, os.path.join(REPO, "scripts", "make_lmdb.py"), "--input", str(tmp_path / "frames"),
           "--output", str(out), "--workers", "2", "--compression", compression]
    subprocess.run(cmd, check=True, capture_output=True, cwd=REPO)
    assert sorted(os.listdir(out)) == ["data.mdb", "lock.mdb", "meta_info.txt"] or \
        sorted(os.listdir(out)) == ["data.mdb", "meta_info.txt"]
    lines = (out / "meta_info.txt").read_text().splitlines()
    assert lines[0] == f"000/00000000 (24,32,3) {compression}" and len(lines) == 8
    st = open_storage(str(out), {"type": "lmdb"})
    assert isinstance(st, LmdbStorage) and st.clips() == ["000", "011"] and st.num_frames("011") == 4
    for clip in ("000", "011"):
        for i in range(4):
            np.testing.assert_array_equal(st.read(clip, i), data[clip][i])
    with pytest.raises(DataError, match=r"x.lmdb: key '011/00000009' not found"):
        st.read("011", 9)
    with pytest.raises(DataError, match="not an LMDB"):
        LmdbStorage(str(tmp_path / "frames"))


def test_yuv_round_trip_rgb_and_y(tmp_path):
    frames = texture(32, 48, seed=3)[None].repeat(2, axis=0)
    frames[1] = 255 - frames[1]
    path = tmp_path / yuv_file_name("Foo", 48, 32, 2)
    write_yuv420(str(path), frames)
    assert path.stat().st_size == 2 * 48 * 32 * 3 // 2
    st = open_storage(str(tmp_path), {"type": "yuv"})
    assert isinstance(st, YuvStorage) and st.clips() == ["Foo"] and st.num_frames("Foo") == 2
    i420 = rgb_to_yuv420(frames[1])
    # Y plane bytes are exactly what was written; RGB equals OpenCV's BT.601 limited-range conversion
    y = open_storage(str(tmp_path), {"type": "yuv", "color": "y"}).read("Foo", 1)
    assert y.shape == (32, 48, 1)
    np.testing.assert_array_equal(y[..., 0], i420[: 32 * 48].reshape(32, 48))
    rgb = st.read("Foo", 1)
    np.testing.assert_array_equal(rgb, cv2.cvtColor(i420.reshape(48, 48), cv2.COLOR_YUV2RGB_I420))
    # 4:2:0 conversion loses only chroma detail: the round trip stays close to the original
    assert np.abs(rgb.astype(int) - frames[1]).mean() < 6
    # limited range: Y=16 -> 0 and Y=235 -> 255 for neutral chroma
    grey = np.full((2, 2, 3), 255, np.uint8)
    assert rgb_to_yuv420(grey)[0] == 235 and rgb_to_yuv420(grey * 0)[0] == 16


def test_yuv_bad_sizes_name_the_file(tmp_path):
    frame = texture(16, 16)
    good = tmp_path / "ok"
    good.mkdir()
    write_yuv420(str(good / "Clip_16x16_3.yuv"), [frame] * 3)
    data = (good / "Clip_16x16_3.yuv").read_bytes()
    trunc = tmp_path / "trunc"
    trunc.mkdir()
    (trunc / "Clip_16x16_3.yuv").write_bytes(data[:-10])
    with pytest.raises(DataError, match=r"Clip_16x16_3.yuv: .*truncated"):
        open_storage(str(trunc), {"type": "yuv"}).num_frames("Clip")
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "Clip_32x16_3.yuv").write_bytes(data)
    with pytest.raises(DataError, match=r"Clip_32x16_3.yuv: .*name says 3 frames of 32x16"):
        open_storage(str(wrong), {"type": "yuv"}).read("Clip", 0)
    noframes = tmp_path / "nocount"
    noframes.mkdir()
    (noframes / "Clip_16x16.yuv").write_bytes(data)
    assert open_storage(str(noframes), {"type": "yuv"}).num_frames("Clip") == 3
    (noframes / "Clip_16x16.yuv").write_bytes(data[:-1])
    fresh = open_storage(str(noframes), {"type": "yuv"})
    with pytest.raises(DataError, match=r"Clip_16x16.yuv: .*not a whole number"):
        fresh.num_frames("Clip")
    badname = tmp_path / "badname"
    badname.mkdir()
    (badname / "clip.yuv").write_bytes(data)
    with pytest.raises(DataError, match=r"clip.yuv: YUV file name must be"):
        open_storage(str(badname), {"type": "yuv"}).clips()


@pytest.mark.parametrize("verify", [False, True])
def test_make_lmdb_truncated_input_leaves_nothing(tmp_path, verify):
    from vsrkit.data.lmdb_writer import make_lmdb

    _make_folder(tmp_path / "frames", clips=("a",), n=3)
    path = tmp_path / "frames" / "a" / "00000002.png"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataError, match=r"00000002.png: .*truncated"):
        make_lmdb(str(tmp_path / "frames"), str(tmp_path / "x.lmdb"), workers=1, progress=False, verify=verify)
    assert sorted(os.listdir(tmp_path)) == ["frames"]  # no x.lmdb, no temporary folder
