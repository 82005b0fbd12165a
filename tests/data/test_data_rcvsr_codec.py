"""RCVSR's coding pipeline (degradation/make_rcvsr_data.py) step by step on a tiny generated YUV tree: key frames at
full resolution, LR frames with downscaled key frames in the key slots, the full-resolution anchor; the dataset reads
the result; references are cropped and flipped with the GT."""
import importlib.util
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from vsrkit.codec.yuv_hevc import decode_hevc_i420
from vsrkit.data.rcvsr_codec import downscale_i420, planes, read_i420
from vsrkit.data.storage import write_yuv420, yuv_file_name
from vsrkit.data.synthetic import translating_clip
from vsrkit.degrade.matlab_resize import imresize
from vsrkit.errors import DataError
from vsrkit.registry import DATASETS

_spec = importlib.util.spec_from_file_location(
    "tool_helpers", Path(__file__).resolve().parents[1] / "tools" / "tool_helpers.py")
_th = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_th)
run_tool = _th.run_tool

pytestmark = pytest.mark.skipif(shutil.which("x265") is None, reason="x265 command-line encoder not installed")

TOOL = "degradation/make_rcvsr_data.py"
N, H, W = 9, 64, 96


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """raw/ (2 sequences) -> KEY_QP37/, LR_QP32/, ANCHOR_QP32/ through the three commands."""
    root = tmp_path_factory.mktemp("rcvsr")
    (root / "raw").mkdir()
    for i, name in enumerate(("SeqA", "SeqB")):
        clip, _, _ = translating_clip(N, H, W, (2, 1), seed=i)
        write_yuv420(str(root / "raw" / yuv_file_name(name, W, H, N)), clip)
    return root


def cli(argv, capsys):
    code, out, err = run_tool(TOOL, [*map(str, argv), "--no-progress"], capsys)
    assert code == 0, err
    return out


def raw(tree, name="SeqA"):
    return np.asarray(read_i420(str(tree / "raw" / yuv_file_name(name, W, H, N)), W, H, N))


def manifest(folder):
    return json.loads((folder / "manifest.json").read_text())


def test_downscale_is_matlab_bicubic_per_plane():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 24, 16), dtype=np.uint8)  # 16x16 I420
    small = downscale_i420(frames)
    assert small.shape == (2, 12, 8)
    for p_big, p_small in zip(planes(frames[1]), planes(small[1])):
        np.testing.assert_array_equal(p_small, imresize(np.ascontiguousarray(p_big), 0.5))
    with pytest.raises(DataError, match="multiples of 4"):
        downscale_i420(rng.integers(0, 256, (1, 27, 18), dtype=np.uint8))  # 18x18


def test_keyframes_step(tree, capsys):
    out = cli(["keyframes", "--raw", tree / "raw", "--output", tree / "KEY_QP37", "--qp", 37], capsys)
    assert "approximation of HM" in out
    man = manifest(tree / "KEY_QP37")
    assert man["complete"] and man["step"] == "keyframes" and man["qp"] == 37 and man["backend"] == "x265"
    rec = man["clips"]["SeqA"]
    assert rec["coded_frames"] == 3 and rec["frame_qps"] == [37, 40, 39]  # I at QP, then the LDP cascade
    bitstream = tree / "KEY_QP37" / "bitstreams" / "SeqA.hevc"
    assert rec["bits"] == 8 * bitstream.stat().st_size
    keys = read_i420(str(tree / "KEY_QP37" / yuv_file_name("SeqA", W, H, 3)), W, H, 3)
    np.testing.assert_array_equal(keys, decode_hevc_i420(str(bitstream), W, H))
    psnr = [10 * np.log10(255 ** 2 / np.mean((planes(k)[0].astype(float) - planes(r)[0]) ** 2))
            for k, r in zip(keys, raw(tree)[::4])]
    assert 25 < min(psnr) < 60  # coded, not copied


def test_lr_step_holds_downscaled_key_frames(tree, capsys):
    if not (tree / "KEY_QP37").exists():
        cli(["keyframes", "--raw", tree / "raw", "--output", tree / "KEY_QP37", "--qp", 37], capsys)
    cli(["lr", "--raw", tree / "raw", "--keys", tree / "KEY_QP37", "--output", tree / "LR_QP32", "--qp", 32], capsys)
    man = manifest(tree / "LR_QP32")
    rec = man["clips"]["SeqA"]
    assert (man["scale"], man["key_qp"], rec["coded_frames"], rec["size"]) == (2, 37, 6, [48, 32])
    assert rec["bits"] == rec["bits_lr"] + rec["bits_key"]
    assert rec["bits_key"] == manifest(tree / "KEY_QP37")["clips"]["SeqA"]["bits"]
    assert rec["bits_lr"] == 8 * (tree / "LR_QP32" / "bitstreams" / "SeqA.hevc").stat().st_size
    lr = read_i420(str(tree / "LR_QP32" / yuv_file_name("SeqA", W // 2, H // 2, N)), W // 2, H // 2, N)
    keys = read_i420(str(tree / "KEY_QP37" / yuv_file_name("SeqA", W, H, 3)), W, H, 3)
    np.testing.assert_array_equal(lr[[0, 4, 8]], downscale_i420(np.asarray(keys)))
    decoded = decode_hevc_i420(str(tree / "LR_QP32" / "bitstreams" / "SeqA.hevc"), W // 2, H // 2)
    np.testing.assert_array_equal(lr[[1, 2, 3, 5, 6, 7]], decoded)
    assert not np.array_equal(lr[[1, 2, 3]], downscale_i420(raw(tree)[[1, 2, 3]]))  # coded

    # the dataset reads the three folders: LR window with key slots, references at full resolution
    ds = DATASETS.get("MFQEv2Dataset")(dataroot_gt=str(tree / "raw"), dataroot_lq=str(tree / "LR_QP32"),
                                       dataroot_key=str(tree / "KEY_QP37"), scale=2, test_mode=True, num_frame=7,
                                       manifest_check={"qp": 32, "key_qp": 37})
    item = ds[5]  # SeqA frame 5: window 2..8, references 4 and 8
    assert item["lq"].shape == (7, 1, 32, 48) and item["ref"].shape == (2, 1, 64, 96)
    np.testing.assert_array_equal((item["lq"][:, 0] * 255).round().byte().numpy(),
                                  np.stack([planes(f)[0] for f in lr[2:9]]))
    np.testing.assert_array_equal((item["ref"][:, 0] * 255).round().byte().numpy(),
                                  np.stack([planes(k)[0] for k in keys[[1, 2]]]))
    with pytest.raises(DataError, match="qp=32 but .* asks for qp=37"):
        DATASETS.get("MFQEv2Dataset")(dataroot_gt=str(tree / "raw"), dataroot_lq=str(tree / "LR_QP32"), scale=2,
                                      test_mode=True, num_frame=7, manifest_check={"qp": 37})


def test_anchor_step_writes_psnr_table(tree, capsys):
    cli(["anchor", "--raw", tree / "raw", "--output", tree / "ANCHOR_QP32", "--qp", 32], capsys)
    man = manifest(tree / "ANCHOR_QP32")
    rec = man["clips"]["SeqB"]
    assert rec["coded_frames"] == N and rec["frame_qps"] == [32, 35, 34, 35, 33, 35, 34, 35, 33]
    dec = read_i420(str(tree / "ANCHOR_QP32" / yuv_file_name("SeqB", W, H, N)), W, H, N)
    psnr = [10 * np.log10(255 ** 2 / np.mean((planes(d)[0].astype(float) - planes(r)[0]) ** 2))
            for d, r in zip(dec, raw(tree, "SeqB"))]
    np.testing.assert_allclose(rec["psnr_y"], psnr, rtol=0, atol=1e-9)
    rows = dict(line.split(",") for line in (tree / "ANCHOR_QP32" / "psnr_y.csv").read_text().splitlines())
    assert rows["clip"] == "psnr_y" and abs(float(rows["SeqB"]) - np.mean(psnr)) < 1e-4


def test_resume_and_refusals(tree, capsys):
    if not (tree / "KEY_QP37").exists():
        cli(["keyframes", "--raw", tree / "raw", "--output", tree / "KEY_QP37", "--qp", 37], capsys)
    before = (tree / "KEY_QP37" / "manifest.json").read_text()
    cli(["keyframes", "--raw", tree / "raw", "--output", tree / "KEY_QP37", "--qp", 37], capsys)  # resumes
    assert json.loads(before)["clips"] == manifest(tree / "KEY_QP37")["clips"]
    for argv, words in [
        (["keyframes", "--qp", 32, "--output", tree / "KEY_QP37"], "output was made with qp=37"),
        (["lr", "--qp", 27, "--keys", tree / "KEY_QP37", "--output", tree / "LR_bad"], "LR QP 27 needs key QP 32"),
        (["lr", "--qp", 32, "--output", tree / "LR_bad"], "--keys names the keyframes step's output"),
        (["anchor", "--qp", 32, "--output", tree / "raw" / "x"], "is inside --raw"),
    ]:
        code, _, err = run_tool(TOOL, [*map(str, argv), "--raw", str(tree / "raw"), "--no-progress"], capsys)
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
    assert not (tree / "LR_bad").exists()


def test_references_are_cropped_and_flipped_with_the_gt(tree):
    """Key frames = the raw frames themselves: for a key-frame target the first reference equals the GT patch after
    any crop, flip and rotation."""
    keys = tree / "KEY_raw"
    keys.mkdir(exist_ok=True)
    for name in ("SeqA", "SeqB"):
        frames = np.asarray(read_i420(str(tree / "raw" / yuv_file_name(name, W, H, N)), W, H, N))[::4]
        frames.tofile(keys / yuv_file_name(name, W, H, len(frames)))
    lq = tree / "LR_plain"
    lq.mkdir(exist_ok=True)
    for name in ("SeqA", "SeqB"):
        downscale_i420(np.asarray(read_i420(str(tree / "raw" / yuv_file_name(name, W, H, N)), W, H, N))).tofile(
            lq / yuv_file_name(name, W // 2, H // 2, N))
    ds = DATASETS.get("MFQEv2Dataset")(dataroot_gt=str(tree / "raw"), dataroot_lq=str(lq), dataroot_key=str(keys),
                                       scale=2, num_frame=7, gt_size=32, use_hflip=True, use_rot=True)
    random.seed(3)
    shapes = set()
    for _ in range(8):
        item = ds[4]  # SeqA frame 4, a key frame
        assert item["ref"].shape == (2, 1, 32, 32) and item["lq"].shape == (7, 1, 16, 16)
        assert item["frame_ids"].tolist() == [4]
        np.testing.assert_array_equal(item["ref"][0].numpy(), item["gt"][0].numpy())
        shapes.add(float(item["gt"].sum()))
    assert len(shapes) > 1  # crops/flips differ between draws


def test_x265_info_sei_is_not_counted_as_rate(tree):
    """x265's version/options SEI is removed from the stored stream; the pictures decode the same."""
    from vsrkit.codec.yuv_hevc import encode_i420_hevc, resolve_backend, strip_user_data_sei

    frames = raw(tree)[:3]
    info = encode_i420_hevc(frames, str(tree / "sei.hevc"), 30, resolve_backend("x265"))
    assert info["removed_sei_bits"] > 1000 and info["bits"] == 8 * (tree / "sei.hevc").stat().st_size
    stored = (tree / "sei.hevc").read_bytes()
    assert b"x265" not in stored and strip_user_data_sei(stored) == (stored, 0)
    decoded = decode_hevc_i420(str(tree / "sei.hevc"), W, H)
    psnr = [10 * np.log10(255 ** 2 / np.mean((planes(d)[0].astype(float) - planes(r)[0]) ** 2))
            for d, r in zip(decoded, frames)]
    assert min(psnr) > 30
    # another SEI and the parameter sets pass through byte for byte
    other = b"\x00\x00\x00\x01" + bytes([39 << 1, 1, 4, 1, 0x80]) + b"\x00\x00\x01" + bytes([32 << 1, 1, 9])
    assert strip_user_data_sei(other) == (other, 0)
    user = b"\x00\x00\x01" + bytes([39 << 1, 1, 5, 2, 7, 7, 0x80])
    assert strip_user_data_sei(other + user) == (other, len(user))
