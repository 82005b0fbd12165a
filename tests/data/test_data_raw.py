"""The crop-reading raw backend: bitwise-identical items from every backend, raw motion, make_raw (resume, sources,
bad input), and the one-pass float conversion."""
import json
import os
import random

import numpy as np
import pytest
import torch

from vsrkit.codec import MotionClip, save_motion
from vsrkit.data.lmdb_writer import make_lmdb
from vsrkit.data.raw_writer import make_raw
from vsrkit.data.storage import open_storage, write_yuv420, yuv_file_name
from vsrkit.data.storage_raw import RAW_INDEX, RawMotion, RawStorage, clip_file
from vsrkit.data.synthetic import make_compressed_layout, translating_clip
from vsrkit.data.video_base import frames_to_tensor
from vsrkit.errors import ConfigError, DataError
from vsrkit.registry import DATASETS

CLIPS = {"000": 10, "001": 9}
LQ = (20, 24)  # LR h, w: crops land at many offsets, QP blocks are cut by the crop


def _add_validity(root):
    """Rewrite the motion files with validity maps and random sub-pel vectors (the layout writes none)."""
    rng = np.random.default_rng(0)
    for clip, n in CLIPS.items():
        shape = (n, 2, *LQ)
        bwd = (rng.integers(-40, 40, shape) / 4).astype(np.float32)
        fwd = (rng.integers(-40, 40, shape) / 4).astype(np.float32)
        qp = rng.integers(20, 40, (n, -(-LQ[0] // 16), -(-LQ[1] // 16))).astype(np.uint8)
        valid = rng.random((2, n, *LQ)) < 0.8
        types = np.array([1] + [2, 3] * (n // 2), np.uint8)[:n]
        save_motion(os.path.join(root, "motion", f"{clip}.npz"),
                    MotionClip(None, bwd, fwd, types, qp, valid[0], valid[1]))


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    """The same compressed-video layout as PNG folders, LMDB (PNG values), LMDB (raw values) and raw roots."""
    root = tmp_path_factory.mktemp("raw_layout")
    make_compressed_layout(str(root), CLIPS, lq_size=LQ, scale=4, with_qp=True)
    (root / "manifest.json").write_text(json.dumps({"scale": 4, "crf": 25}))
    _add_validity(str(root))
    for name in ("gt", "lq"):
        make_lmdb(str(root / name), str(root / f"{name}.lmdb"), workers=1, progress=False)
        make_lmdb(str(root / name), str(root / f"{name}_raw.lmdb"), workers=1, compression="raw", progress=False)
        make_raw(str(root / name), str(root / f"{name}.raw"), workers=1, progress=False)
    make_raw(str(root / "motion"), str(root / "motion.raw"), workers=1, progress=False)
    return root


BACKENDS = {
    "disk": ({"type": "disk"}, "gt", "lq", "motion"),
    "lmdb": ({"type": "lmdb"}, "gt.lmdb", "lq.lmdb", "motion"),
    "lmdb_raw": ({"type": "lmdb"}, "gt_raw.lmdb", "lq_raw.lmdb", "motion"),
    "raw": ({"type": "raw"}, "gt.raw", "lq.raw", "motion.raw"),
}


def _datasets(root, **options):
    out = {}
    for name, (backend, gt, lq, motion) in BACKENDS.items():
        out[name] = DATASETS.get("CompressedVideoDataset")(
            dataroot_gt=str(root / gt), dataroot_lq=str(root / lq), dataroot_motion=str(root / motion),
            io_backend=backend, scale=4, **options)
    return out


def _assert_items_equal(items):
    ref_name, ref = next(iter(items.items()))
    for name, item in items.items():
        assert item.keys() == ref.keys(), name
        for key, value in ref.items():
            if isinstance(value, torch.Tensor):
                assert value.dtype == item[key].dtype and torch.equal(value, item[key]), (name, key)
            else:
                assert value == item[key], (name, key)


@pytest.mark.parametrize("options", [
    dict(num_frame=4, gt_size=32, use_temporal_flip=True, interval_list=[1, 2]),  # strided windows, all flips
    dict(num_frame=3, gt_size=64, use_hflip=False, use_rot=True),
])
def test_training_items_bitwise_identical_from_every_backend(roots, options):
    sets = _datasets(roots, **options)
    assert sets["raw"].crop_region(0, "000", "k") is not None  # the raw route reads the crop only
    assert sets["disk"].crop_region(0, "000", "k") is None
    for index in range(len(sets["disk"])):
        for seed in (index, 100 + index):
            items = {}
            for name, ds in sets.items():
                random.seed(seed)
                items[name] = ds[index]
            _assert_items_equal(items)
    item = items["raw"]
    assert item["lq"].shape[-2:] == (options["gt_size"] // 4,) * 2 and "qp" in item and "valid_fwd" in item


def test_uint8_items_expand_to_the_float_items_bitwise_on_every_backend(roots):
    """``item_dtype: uint8``: frames uint8, motion fields and QP float16, 4x fewer bytes per frame; after
    ``expand_item`` (what ``to_device`` does after the copy) the item is bitwise the float32 one."""
    from vsrkit.data.loader import expand_item

    options = dict(num_frame=4, gt_size=32, use_temporal_flip=True, interval_list=[1, 2])
    floats, compact = _datasets(roots, **options), _datasets(roots, **options)
    for ds in compact.values():
        ds.item_dtype = "uint8"
    for name in floats:
        for index in range(len(floats[name])):
            random.seed(index)
            small = compact[name][index]
            random.seed(index)
            _assert_items_equal({"float32": floats[name][index], f"{name} uint8": expand_item(small)})
    assert small["lq"].dtype == small["gt"].dtype == torch.uint8
    assert small["mv_bwd"].dtype == small["qp"].dtype == torch.float16 and small["valid_fwd"].dtype == torch.bool
    assert small["gt"].shape == (4, 3, 32, 32)


def test_item_dtype_is_a_loader_key_checked_before_the_run(roots):
    from vsrkit.builders import build_dataset

    cfg = {"type": "CompressedVideoDataset", "dataroot": str(roots), "num_frame": 3, "gt_size": 32}
    assert build_dataset({**cfg, "item_dtype": "uint8"}, "datasets.train").item_dtype == "uint8"
    assert build_dataset(cfg, "datasets.train").item_dtype == "float32"
    with pytest.raises(ConfigError, match=r"datasets.train.item_dtype: SyntheticVideoDataset makes float32 items"):
        build_dataset({"type": "SyntheticVideoDataset", "item_dtype": "uint8"}, "datasets.train")


def test_test_items_bitwise_identical_from_every_backend(roots):
    for options in (dict(num_frame=None), dict(num_frame=3, padding="reflection")):
        sets = _datasets(roots, test_mode=True, **options)
        for index in range(len(sets["disk"])):
            _assert_items_equal({name: ds[index] for name, ds in sets.items()})


def test_compressed_layout_defaults_to_raw_roots(roots):
    ds = DATASETS.get("CompressedVideoDataset")(dataroot=str(roots), io_backend={"type": "raw"}, num_frame=3,
                                               gt_size=32)
    assert isinstance(ds.gt, RawStorage) and isinstance(ds.motions[0], RawMotion)
    assert ds[0]["mv_bwd"].shape == (3, 2, 8, 8)


def test_mfqe_yuv_and_raw_y_planes_give_the_same_items(tmp_path):
    """Padded (not evenly spaced) windows, native Y planes, RCVSR key-frame references cropped with the GT."""
    n, h, w = 9, 32, 48
    raw_frames, _, _ = translating_clip(n, h, w, (2, 1), seed=3)
    lr_frames, _, _ = translating_clip(n, h // 2, w // 2, (1, 1), seed=4)
    for folder, frames in (("raw", raw_frames), ("lr", lr_frames), ("key", raw_frames[::4])):
        (tmp_path / folder).mkdir()
        write_yuv420(str(tmp_path / folder / yuv_file_name("Seq", frames.shape[2], frames.shape[1], len(frames))),
                     frames)
        make_raw(str(tmp_path / folder), str(tmp_path / f"{folder}.raw"), workers=1, color="y", progress=False)
    assert RawStorage(str(tmp_path / "raw.raw")).frame_shape("Seq") == (h, w, 1)
    sets = {}
    for name, backend, suffix in (("yuv", {"type": "yuv"}, ""), ("raw", {"type": "raw"}, ".raw")):
        sets[name] = DATASETS.get("MFQEv2Dataset")(
            dataroot_gt=str(tmp_path / f"raw{suffix}"), dataroot_lq=str(tmp_path / f"lr{suffix}"),
            dataroot_key=str(tmp_path / f"key{suffix}"), io_backend=backend, scale=2, num_frame=5, gt_size=16)
    for index in (0, 3, 8):
        items = {}
        for name, ds in sets.items():
            random.seed(index)
            items[name] = ds[index]
        _assert_items_equal(items)
    assert items["raw"]["ref"].shape == (2, 1, 16, 16)


def test_raw_reads_views_and_regions(roots):
    lq = open_storage(str(roots / "lq.raw"), {"type": "raw"})
    disk = open_storage(str(roots / "lq"))
    full = np.stack(disk.read_many("000", range(10)))
    view = lq.read_region("000", [1, 3, 5], 2, 3, 8, 8)
    assert not view.flags.owndata and not view.flags.writeable  # a view of the map, read-only
    np.testing.assert_array_equal(view, full[1:6:2, 2:10, 3:11])
    np.testing.assert_array_equal(lq.read_region("000", [4, 0, 4], 0, 0, 20, 24), full[[4, 0, 4]])
    np.testing.assert_array_equal(lq.read("000", 7), full[7])
    with pytest.raises(DataError, match="outside the 24x20 frames"):
        lq.read_region("000", [0], 15, 0, 8, 8)
    with pytest.raises(DataError, match="frame 10 requested but the clip has 10 frames"):
        lq.read_region("000", [10], 0, 0, 8, 8)
    with pytest.raises(DataError, match="no clip 'nope'"):
        lq.num_frames("nope")


def test_make_raw_resumes_an_interrupted_run(roots, tmp_path):
    out = tmp_path / "gt.raw"
    make_raw(str(roots / "gt"), str(out), workers=1, progress=False)
    index_path = out / RAW_INDEX
    index = json.loads(index_path.read_text())
    # as left by a run stopped during clip 001: that clip not in the index, a partial temporary file
    del index["clips"]["001"]
    index["complete"] = False
    index_path.write_text(json.dumps(index))
    os.remove(clip_file(str(out), "001"))
    (out / ".001.npy.tmp-123").write_bytes(b"partial")
    with pytest.raises(DataError, match=r"stopped after 1 of 2 clips; run scripts/make_raw.py again"):
        RawStorage(str(out))
    before = os.stat(clip_file(str(out), "000")).st_mtime_ns
    make_raw(str(roots / "gt"), str(out), workers=1, progress=False)
    assert os.stat(clip_file(str(out), "000")).st_mtime_ns == before  # kept, not re-written
    assert not (out / ".001.npy.tmp-123").exists()
    done = RawStorage(str(out))
    np.testing.assert_array_equal(done.read("001", 5), open_storage(str(roots / "gt")).read("001", 5))
    with pytest.raises(DataError, match="already exists"):
        make_raw(str(roots / "gt"), str(out), workers=1, progress=False)
    with pytest.raises(DataError, match="another source"):
        index = json.loads(index_path.read_text())
        index["complete"] = False
        index_path.write_text(json.dumps(index))
        make_raw(str(roots / "lq"), str(out), workers=1, progress=False)


def test_make_raw_from_lmdb_and_bad_roots(roots, tmp_path):
    make_raw(str(roots / "lq.lmdb"), str(tmp_path / "from_lmdb.raw"), workers=1, progress=False)
    a, b = RawStorage(str(tmp_path / "from_lmdb.raw")), RawStorage(str(roots / "lq.raw"))
    np.testing.assert_array_equal(a.array("001"), b.array("001"))
    assert json.loads((tmp_path / "from_lmdb.raw" / "manifest.json").read_text())["crf"] == 25  # copied along
    with pytest.raises(DataError, match="crf"):
        DATASETS.get("CompressedVideoDataset")(dataroot=str(roots), io_backend={"type": "raw"}, num_frame=3,
                                               manifest_check={"crf": 23})
    with pytest.raises(DataError, match="holds raw motion, but is given as frames"):
        RawStorage(str(roots / "motion.raw"))
    with pytest.raises(DataError, match="not a raw root"):
        RawStorage(str(roots / "lq"))
    # a truncated clip file is named
    out = tmp_path / "cut.raw"
    make_raw(str(roots / "lq"), str(out), workers=1, progress=False)
    path = clip_file(str(out), "000")
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    with pytest.raises(DataError, match=r"000\.npy: unreadable or truncated"):
        RawStorage(str(out)).read("000", 0)


def test_raw_motion_matches_npz_crops(roots):
    from vsrkit.data.clip_motion import NpzMotion

    npz, raw = NpzMotion(str(roots / "motion")), RawMotion(str(roots / "motion.raw"))
    for idx, region in (([0, 1, 2], None), ([5, 3, 1], (3, 5, 12)), ([2, 4, 6], (17, 1, 3))):
        a, b = npz.load("000", idx, *LQ, region), raw.load("000", idx, *LQ, region)
        assert a.keys() == b.keys() and "qp" in a and "valid_bwd" in a
        for key in a:
            if key.startswith("mv_"):  # raw keeps the stored float16 (the item makes float32, or keeps it compact)
                assert b[key].dtype == np.float16 and np.array_equal(a[key], b[key].astype(a[key].dtype)), key
            else:
                assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key
            assert b[key].flags.writeable
    with pytest.raises(DataError, match="motion fields are 24x20 but the LQ frames are 12x10"):
        raw.load("000", [0], 10, 12)


def test_frames_to_tensor_is_bitwise_the_float_division():
    values = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, axis=3)
    old = torch.from_numpy(np.ascontiguousarray(values.transpose(0, 3, 1, 2))).float().div_(255.0)
    assert torch.equal(frames_to_tensor(values), old)
    view = values[:, ::-1].swapaxes(1, 2)  # a flipped, transposed view
    assert torch.equal(frames_to_tensor(view), frames_to_tensor(np.ascontiguousarray(view)))


def test_vsd4k_patches_from_raw_equal_disk(tmp_path):
    from vsrkit.data.synthetic import make_paired_clips

    make_paired_clips(str(tmp_path / "HR"), str(tmp_path / "LR"), {"game_15s": 3}, lq_size=(8, 12), scale=2)
    for name in ("HR", "LR"):
        make_raw(str(tmp_path / name), str(tmp_path / f"{name}.raw"), workers=1, progress=False)
    sets = {kind: DATASETS.get("VSD4KDataset")(dataroot_gt=str(tmp_path / f"HR{suffix}"),
                                               dataroot_lq=str(tmp_path / f"LR{suffix}"), video="game_15s", scale=2,
                                               patch_grid=[3, 2], io_backend={"type": kind}, use_hflip=True,
                                               use_rot=True)
            for kind, suffix in (("disk", ""), ("raw", ".raw"))}
    for index in (0, 7, 17):
        items = {}
        for name, ds in sets.items():
            random.seed(index)
            items[name] = ds[index]
        _assert_items_equal(items)
