"""REDS (sliding / recurrent, held-out partitions) and Vimeo-90K (VSR / space-time) on tiny layouts."""
import numpy as np
import pytest
import torch

from vsrkit.data.synthetic import make_paired_clips
from vsrkit.errors import ConfigError, DataError
from vsrkit.registry import DATASETS


def _u8(t):
    return (t * 255).round().byte().permute(0, 2, 3, 1).numpy()


@pytest.fixture(scope="module")
def reds(tmp_path_factory):
    root = tmp_path_factory.mktemp("reds")
    clips = {c: 6 for c in ("000", "001", "011", "015", "020", "100", "240", "269")}
    arrays = make_paired_clips(str(root / "train_sharp"), str(root / "train_sharp_bicubic" / "X4"), clips,
                               lq_size=(16, 16), scale=4)
    return root, arrays


def test_reds_sliding_window_holds_out_reds4(reds):
    root, arrays = reds
    kw = dict(dataroot_gt=str(root / "train_sharp"), dataroot_lq=str(root / "train_sharp_bicubic" / "X4"))
    train = DATASETS.get("REDSDataset")(**kw, num_frame=5, gt_size=32, interval_list=[1])
    assert train.clips == ["001", "100", "240", "269"] and len(train) == 24
    item = train[0]  # clip 001, frame 0 -> window moved inside the clip: frames 0..4, GT frame 2
    assert item["key"] == "001/00000002" and item["lq"].shape == (5, 3, 8, 8) and item["gt"].shape == (1, 3, 32, 32)
    test = DATASETS.get("REDSDataset")(**kw, num_frame=5, test_mode=True)
    assert test.clips == ["000", "011", "015", "020"] and len(test) == 24
    item = test[6]
    assert item["key"] == "011/00000000"
    np.testing.assert_array_equal(_u8(item["gt"]), arrays["011"]["gt"][:1])
    np.testing.assert_array_equal(_u8(item["lq"]), arrays["011"]["lq"][[4, 3, 0, 1, 2]])
    official = DATASETS.get("REDSDataset")(**kw, num_frame=5, test_mode=True, val_partition="official")
    assert official.clips == ["240", "269"]
    train_off = DATASETS.get("REDSDataset")(**kw, num_frame=5, val_partition="official")
    assert "000" in train_off.clips and "240" not in train_off.clips
    with pytest.raises(ConfigError, match="val_partition: 'REDS5'"):
        DATASETS.get("REDSDataset")(**kw, val_partition="REDS5")


def test_reds_recurrent(reds):
    root, arrays = reds
    kw = dict(dataroot_gt=str(root / "train_sharp"), dataroot_lq=str(root / "train_sharp_bicubic" / "X4"))
    train = DATASETS.get("REDSRecurrentDataset")(**kw, num_frame=4, gt_size=32, interval_list=[1])
    item = train[5]
    assert item["lq"].shape == (4, 3, 8, 8) and item["gt"].shape == (4, 3, 32, 32)
    with pytest.raises(DataError, match="clip has 6 frames, fewer than num_frame 4 at interval 2"):
        DATASETS.get("REDSRecurrentDataset")(**kw, num_frame=4, interval_list=[2])[0]
    test = DATASETS.get("REDSRecurrentDataset")(**kw, num_frame=None, test_mode=True)
    assert [test[i]["key"] for i in range(len(test))] == ["000", "011", "015", "020"]
    np.testing.assert_array_equal(_u8(test[3]["lq"]), arrays["020"]["lq"])


@pytest.fixture(scope="module")
def vimeo(tmp_path_factory):
    root = tmp_path_factory.mktemp("vimeo")
    clips = {"00001/0001": 7, "00001/0002": 7, "00002/0001": 7}
    arrays = make_paired_clips(str(root / "sequences"), str(root / "BIx4"), clips, lq_size=(8, 12), scale=4,
                               names=[f"im{i}.png" for i in range(1, 8)])
    (root / "sep_trainlist.txt").write_text("00001/0001\n00002/0001\n")
    (root / "fast_testset.txt").write_text("00001/0002\n")
    return root, arrays


def test_vimeo_vsr_center_and_all(vimeo):
    root, arrays = vimeo
    kw = dict(dataroot_gt=str(root / "sequences"), dataroot_lq=str(root / "BIx4"))
    test = DATASETS.get("Vimeo90KDataset")(**kw, meta_info_file=str(root / "fast_testset.txt"), test_mode=True)
    item = test[0]
    assert len(test) == 1 and item["key"] == "00001/0002"
    np.testing.assert_array_equal(_u8(item["lq"]), arrays["00001/0002"]["lq"])
    np.testing.assert_array_equal(_u8(item["gt"]), arrays["00001/0002"]["gt"][3:4])  # im4
    five = DATASETS.get("Vimeo90KDataset")(**kw, meta_info_file=str(root / "fast_testset.txt"), test_mode=True,
                                           num_frame=5, gt_frames="all")[0]
    np.testing.assert_array_equal(_u8(five["lq"]), arrays["00001/0002"]["lq"][1:6])
    assert five["gt"].shape[0] == 5
    train = DATASETS.get("Vimeo90KDataset")(**kw, meta_info_file=str(root / "sep_trainlist.txt"), gt_size=32,
                                            use_temporal_flip=True)
    assert len(train) == 2 and train[1]["lq"].shape == (7, 3, 8, 8) and train[1]["gt"].shape == (1, 3, 32, 32)


def test_vimeo_space_time(vimeo):
    root, arrays = vimeo
    kw = dict(dataroot_gt=str(root / "sequences"), dataroot_lq=str(root / "BIx4"), task="stvsr")
    item = DATASETS.get("Vimeo90KDataset")(**kw, meta_info_file=str(root / "fast_testset.txt"), test_mode=True)[0]
    np.testing.assert_array_equal(_u8(item["lq"]), arrays["00001/0002"]["lq"][[0, 2, 4, 6]])  # im1, im3, im5, im7
    np.testing.assert_array_equal(_u8(item["gt"]), arrays["00001/0002"]["gt"])
    train = DATASETS.get("Vimeo90KDataset")(**kw, meta_info_file=str(root / "sep_trainlist.txt"), gt_size=16,
                                            use_temporal_flip=True)
    item = train[0]
    assert item["lq"].shape == (4, 3, 4, 4) and item["gt"].shape == (7, 3, 16, 16)
    # the LQ frames are still the even GT positions after crop/flip/rotation/reversal (4x area downscale)
    down = torch.nn.functional.avg_pool2d(item["gt"][::2] * 255, 4)
    assert (down - item["lq"] * 255).abs().max() <= 1.0


def test_vimeo_bad_septuplet(vimeo, tmp_path):
    root, _ = vimeo
    import shutil
    shutil.copytree(root, tmp_path / "v")
    for sub in ("sequences", "BIx4"):
        (tmp_path / "v" / sub / "00001" / "0001" / "im7.png").unlink()
    with pytest.raises(DataError, match="septuplet has 7 frames, found 6"):
        DATASETS.get("Vimeo90KDataset")(dataroot_gt=str(tmp_path / "v" / "sequences"),
                                        dataroot_lq=str(tmp_path / "v" / "BIx4"),
                                        meta_info_file=str(tmp_path / "v" / "sep_trainlist.txt"))
    with pytest.raises(ConfigError, match="odd number of frames <= 7"):
        DATASETS.get("Vimeo90KDataset")(dataroot_gt=str(root / "sequences"), dataroot_lq=str(root / "BIx4"),
                                        meta_info_file=str(root / "sep_trainlist.txt"), num_frame=9)


def test_vimeo_from_lmdb_nested_clip_names(vimeo, tmp_path):
    from vsrkit.data.lmdb_writer import make_lmdb

    root, arrays = vimeo
    make_lmdb(str(root / "sequences"), str(tmp_path / "gt.lmdb"), workers=1, progress=False)
    make_lmdb(str(root / "BIx4"), str(tmp_path / "lq.lmdb"), workers=1, progress=False)
    assert (tmp_path / "gt.lmdb" / "meta_info.txt").read_text().split("\n")[6] == "00001/0001/00000006 (32,48,3) png"
    ds = DATASETS.get("Vimeo90KDataset")(dataroot_gt=str(tmp_path / "gt.lmdb"), dataroot_lq=str(tmp_path / "lq.lmdb"),
                                         meta_info_file=str(root / "fast_testset.txt"), io_backend={"type": "lmdb"},
                                         task="stvsr", test_mode=True)
    item = ds[0]
    np.testing.assert_array_equal(_u8(item["lq"]), arrays["00001/0002"]["lq"][[0, 2, 4, 6]])
    np.testing.assert_array_equal(_u8(item["gt"]), arrays["00001/0002"]["gt"])
