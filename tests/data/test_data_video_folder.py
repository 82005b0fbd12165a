"""VideoFolderDataset / CompressedVideoDataset on tiny on-the-fly layouts, every backend, and their bad inputs."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from vsrkit.data.synthetic import make_compressed_layout, write_motion_npz
from vsrkit.errors import ConfigError, DataError
from vsrkit.registry import DATASETS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLIPS = {"calendar": 9, "city": 7}


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    root = tmp_path_factory.mktemp("compressed")
    arrays = make_compressed_layout(str(root), CLIPS, lq_size=(16, 16), scale=4, velocity=(1, 2), with_qp=True)
    (root / "manifest.json").write_text(json.dumps({"settings": {"scale": 4, "crf": 25}, "versions": {}}))
    return root, arrays


def _warp_int(src, field):
    h, w = src.shape[-2:]
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    sx, sy = xx + field[0].round().long(), yy + field[1].round().long()
    inside = (sx >= 0) & (sx < w) & (sy >= 0) & (sy < h)
    return src[:, sy.clamp(0, h - 1), sx.clamp(0, w - 1)], inside


def test_registered_and_training_items_follow_the_contract(layout):
    root, _ = layout
    assert "CompressedVideoDataset" in DATASETS and "VideoFolderDataset" in DATASETS
    cls = DATASETS.get("CompressedVideoDataset")
    ds = cls(dataroot=str(root), num_frame=5, gt_size=32, scale=4, use_hflip=True, use_rot=True,
             use_temporal_flip=True)
    assert len(ds) == sum(CLIPS.values())
    torch.manual_seed(0)
    for i in range(0, len(ds), 3):
        item = ds[i]
        assert item["lq"].shape == (5, 3, 8, 8) and item["gt"].shape == (5, 3, 32, 32)
        assert item["lq"].dtype == torch.float32 and 0 <= item["lq"].min() and item["gt"].max() <= 1
        assert item["mv_bwd"].shape == item["mv_fwd"].shape == (5, 2, 8, 8)
        assert item["frame_types"].dtype == torch.long and item["frame_types"].shape == (5,)
        assert item["qp"].shape == (5, 8, 8)
        clip, start = item["key"].split("/")
        assert clip in CLIPS and len(start) == 8
        # the augmented motion still links the augmented frames exactly (unit distance)
        for k in range(1, 5):
            warped, inside = _warp_int(item["lq"][k - 1], item["mv_bwd"][k])
            assert inside.float().mean() > 0.5
            torch.testing.assert_close(warped[:, inside], item["lq"][k][:, inside], atol=0, rtol=0)
            warped, inside = _warp_int(item["lq"][k], item["mv_fwd"][k - 1])
            torch.testing.assert_close(warped[:, inside], item["lq"][k - 1][:, inside], atol=0, rtol=0)
    # a batch collates
    batch = torch.utils.data.default_collate([ds[0], ds[1]])
    assert batch["lq"].shape == (2, 5, 3, 8, 8) and len(batch["key"]) == 2


def test_test_mode_whole_clip_and_sliding_window(layout):
    root, arrays = layout
    ds = DATASETS.get("CompressedVideoDataset")(dataroot=str(root), test_mode=True, scale=4)
    assert len(ds) == 2
    item = ds[0]
    assert item["key"] == "calendar" and item["lq"].shape == (9, 3, 16, 16) and item["gt"].shape == (9, 3, 64, 64)
    np.testing.assert_array_equal((item["gt"] * 255).round().byte().permute(0, 2, 3, 1).numpy(),
                                  arrays["calendar"]["gt"])
    np.testing.assert_array_equal(item["qp"][:, 0, 0].numpy(), 22 + np.arange(9))
    sw = DATASETS.get("VideoFolderDataset")(dataroot_gt=str(root / "gt"), dataroot_lq=str(root / "lq"),
                                            test_mode=True, num_frame=5, padding="reflection_circle",
                                            gt_frames="center", scale=4)
    assert len(sw) == 16 and "mv_bwd" not in sw[0]
    item = sw[0]
    assert item["key"] == "calendar/00000000" and item["lq"].shape == (5, 3, 16, 16)
    assert item["gt"].shape == (1, 3, 64, 64)
    lq = arrays["calendar"]["lq"]
    expect = np.stack([lq[i] for i in (4, 3, 0, 1, 2)])
    np.testing.assert_array_equal((item["lq"] * 255).round().byte().permute(0, 2, 3, 1).numpy(), expect)


def test_drop_even_frames_for_space_time(layout):
    root, _ = layout
    ds = DATASETS.get("VideoFolderDataset")(dataroot_gt=str(root / "gt"), dataroot_lq=str(root / "lq"),
                                            test_mode=True, drop_even_frames=True, scale=4)
    item = ds[0]
    assert item["lq"].shape[0] == 5 and item["gt"].shape[0] == 9  # 1-based odd frames 1,3,5,7,9 in; all 9 out
    torch.testing.assert_close(item["lq"][1], ds.__class__(
        dataroot_gt=str(root / "gt"), dataroot_lq=str(root / "lq"), test_mode=True, scale=4)[0]["lq"][2])
    train = DATASETS.get("VideoFolderDataset")(dataroot_gt=str(root / "gt"), dataroot_lq=str(root / "lq"),
                                               num_frame=7, drop_even_frames=True, gt_size=32, scale=4)
    item = train[0]
    assert item["lq"].shape == (4, 3, 8, 8) and item["gt"].shape == (7, 3, 32, 32)
    with pytest.raises(ConfigError, match="dataroot_motion: motion is at unit frame distance"):
        DATASETS.get("VideoFolderDataset")(dataroot_gt=str(root / "gt"), dataroot_lq=str(root / "lq"),
                                           dataroot_motion=str(root / "motion"), num_frame=7,
                                           drop_even_frames=True, scale=4)


def test_lmdb_backend_gives_identical_items(layout, tmp_path):
    root, _ = layout
    for sub in ("gt", "lq"):
        subprocess.run([sys.executable, os.path.join(REPO, "scripts", "make_lmdb.py"), "--input", str(root / sub),
                        "--output", str(tmp_path / f"{sub}.lmdb"), "--workers", "1", "--no-progress"],
                       check=True, capture_output=True)
    disk = DATASETS.get("VideoFolderDataset")(dataroot_gt=str(root / "gt"), dataroot_lq=str(root / "lq"),
                                              dataroot_motion=str(root / "motion"), test_mode=True, scale=4)
    lm = DATASETS.get("VideoFolderDataset")(dataroot_gt=str(tmp_path / "gt.lmdb"),
                                            dataroot_lq=str(tmp_path / "lq.lmdb"),
                                            dataroot_motion=str(root / "motion"), test_mode=True, scale=4,
                                            io_backend={"type": "lmdb"})
    for i in range(2):
        a, b = disk[i], lm[i]
        assert a["key"] == b["key"]
        for k in ("lq", "gt", "mv_bwd", "frame_types"):
            torch.testing.assert_close(a[k], b[k], atol=0, rtol=0)
    # the LMDB carries the manifest of its source: the option check still applies
    assert (tmp_path / "lq.lmdb" / "manifest.json").read_text() == (root / "manifest.json").read_text()
    with pytest.raises(DataError, match=r"lq.lmdb/manifest.json: manifest says scale=4"):
        DATASETS.get("VideoFolderDataset")(dataroot_gt=str(tmp_path / "gt.lmdb"),
                                           dataroot_lq=str(tmp_path / "lq.lmdb"), num_frame=3, scale=2,
                                           io_backend={"type": "lmdb"})
    # training from LMDB also works
    train = DATASETS.get("VideoFolderDataset")(dataroot_gt=str(tmp_path / "gt.lmdb"),
                                               dataroot_lq=str(tmp_path / "lq.lmdb"), num_frame=3, gt_size=16,
                                               io_backend={"type": "lmdb"}, scale=4)
    assert train[3]["lq"].shape == (3, 3, 4, 4)


def test_lq_list_is_sampled_per_item(layout, tmp_path):
    root, _ = layout
    import shutil
    alt = tmp_path / "lq_crf35"
    shutil.copytree(root / "lq", alt)
    for clip in CLIPS:  # make the alternative source recognisably darker
        for f in (alt / clip).iterdir():
            from vsrkit.data.storage import read_png, write_png
            write_png(str(f), (read_png(str(f)) // 2))
    ds = DATASETS.get("VideoFolderDataset")(dataroot_gt=str(root / "gt"),
                                            dataroot_lq=[str(root / "lq"), str(alt)], num_frame=3, scale=4,
                                            use_hflip=False, use_rot=False)
    torch.manual_seed(0)
    import random
    random.seed(0)
    items = [ds[0] for _ in range(20)]
    dark = [float(it["lq"].mean() / it["gt"].mean()) < 0.75 for it in items]
    assert 0 < sum(dark) < 20  # both sources drawn
    test = DATASETS.get("VideoFolderDataset")(dataroot_gt=str(root / "gt"),
                                              dataroot_lq=[str(root / "lq"), str(alt)], test_mode=True, scale=4)
    assert [test[i]["key"] for i in range(len(test))] == ["lq/calendar", "lq/city", "lq_crf35/calendar",
                                                          "lq_crf35/city"]


def _copy_layout(root, tmp_path):
    import shutil
    dst = tmp_path / "copy"
    shutil.copytree(root, dst)
    return dst


def test_counts_that_disagree_name_the_clip(layout, tmp_path):
    root, _ = layout
    bad = _copy_layout(root, tmp_path)
    os.remove(bad / "lq" / "city" / "00000006.png")
    with pytest.raises(DataError, match=r"clip 'city': 7 GT frames .* but 6 LQ frames"):
        DATASETS.get("CompressedVideoDataset")(dataroot=str(bad), num_frame=3)
    bad2 = _copy_layout(root, tmp_path / "m")
    mv = np.zeros((5, 2, 16, 16), np.float32)
    write_motion_npz(str(bad2 / "motion" / "calendar.npz"), mv, mv)
    with pytest.raises(DataError, match=r"clip 'calendar': 9 LQ frames .* but 5 motion frames in .*calendar.npz"):
        DATASETS.get("CompressedVideoDataset")(dataroot=str(bad2), num_frame=3)
    os.remove(bad2 / "motion" / "calendar.npz")
    with pytest.raises(DataError, match=r"calendar.npz: motion file not found"):
        DATASETS.get("CompressedVideoDataset")(dataroot=str(bad2), num_frame=3)


def test_missing_folder_and_manifest_mismatch(layout, tmp_path):
    root, _ = layout
    with pytest.raises(DataError, match=r"datasets.train.dataroot_gt: .*nowhere does not exist"):
        DATASETS.get("VideoFolderDataset")(dataroot_gt=str(tmp_path / "nowhere"), dataroot_lq=str(root / "lq"),
                                           num_frame=3)
    with pytest.raises(DataError, match=r"manifest.json: manifest says scale=4 but datasets.train asks for scale=2"):
        DATASETS.get("CompressedVideoDataset")(dataroot=str(root), num_frame=3, scale=2)
    with pytest.raises(DataError, match=r"manifest says crf=25 .* crf=35"):
        DATASETS.get("CompressedVideoDataset")(dataroot=str(root), num_frame=3, manifest_check={"crf": 35})
    with pytest.raises(ConfigError, match="num_frame: training needs"):
        DATASETS.get("CompressedVideoDataset")(dataroot=str(root))


def test_meta_info_file_selects_and_checks_clips(layout, tmp_path):
    root, _ = layout
    meta = tmp_path / "meta.txt"
    subprocess.run([sys.executable, os.path.join(REPO, "scripts", "make_meta_info.py"), "--input", str(root / "gt"),
                    "--output", str(meta)], check=True, capture_output=True)
    assert meta.read_text().splitlines() == ["calendar 9 (64,64,3)", "city 7 (64,64,3)"]
    meta.write_text("city 7 (64,64,3)\n")
    ds = DATASETS.get("CompressedVideoDataset")(dataroot=str(root), meta_info_file=str(meta), test_mode=True)
    assert [ds[i]["key"] for i in range(len(ds))] == ["city"]
    meta.write_text("city 8 (64,64,3)\n")
    with pytest.raises(DataError, match=r"meta.txt: clip 'city' is listed with 8 frames"):
        DATASETS.get("CompressedVideoDataset")(dataroot=str(root), meta_info_file=str(meta), test_mode=True)


def test_lmdb_dataset_in_worker_processes(layout, tmp_path):
    """The LMDB is opened lazily in each DataLoader worker (read-only, no lock) and gives the same items."""
    root, _ = layout
    from vsrkit.data.lmdb_writer import make_lmdb

    for sub in ("gt", "lq"):
        make_lmdb(str(root / sub), str(tmp_path / f"{sub}.lmdb"), workers=1, progress=False)
    ds = DATASETS.get("CompressedVideoDataset")(dataroot=str(root), dataroot_gt=str(tmp_path / "gt.lmdb"),
                                                dataroot_lq=str(tmp_path / "lq.lmdb"), io_backend={"type": "lmdb"},
                                                test_mode=True)
    ds[0]  # opened in the main process first: workers must not reuse that handle
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=2)
    keys = []
    for batch, i in zip(loader, range(len(ds))):
        keys.append(batch["key"][0])
        torch.testing.assert_close(batch["lq"][0], ds[i]["lq"], atol=0, rtol=0)
    assert keys == ["calendar", "city"]


def test_interval_windows_and_y_channel(layout):
    root, arrays = layout
    import random

    ds = DATASETS.get("VideoFolderDataset")(dataroot_gt=str(root / "gt"), dataroot_lq=str(root / "lq"), num_frame=3,
                                            interval_list=[3], use_hflip=False, use_rot=False, color="y")
    random.seed(1)
    starts = set()
    for _ in range(12):
        item = ds[0]  # calendar (9 frames): stride 3 -> windows (s, s+3, s+6) with s in 0..2
        start = int(item["key"].split("/")[1])
        starts.add(start)
        assert item["lq"].shape == (3, 1, 16, 16)
    assert starts == {0, 1, 2}
    rgb = arrays["calendar"]["lq"][[start, start + 3, start + 6]].astype(np.float64) / 255
    y = 16 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]
    np.testing.assert_array_equal((item["lq"][:, 0] * 255).round().numpy(), np.rint(y))
