"""MFQEv2 (YUV, Y/RGB, key-frame references), VSD4K patch grids and chunks, CVCP QP sampling, on tiny layouts."""
import numpy as np
import pytest

from vsrkit.data.mfqe_dataset import key_frame_refs
from vsrkit.data.storage import rgb_to_yuv420, write_yuv420, yuv_file_name
from vsrkit.data.synthetic import downscale, make_paired_clips, translating_clip
from vsrkit.data.vsd4k_dataset import quantile_chunks
from vsrkit.errors import ConfigError, DataError
from vsrkit.registry import DATASETS


@pytest.fixture(scope="module")
def mfqe(tmp_path_factory):
    root = tmp_path_factory.mktemp("mfqe")
    n, h, w = 9, 32, 48
    raw, _, _ = translating_clip(n, h, w, (2, 2), seed=1)
    (root / "raw").mkdir()
    (root / "qp37").mkdir()
    (root / "lr_qp32").mkdir()
    (root / "key").mkdir()
    write_yuv420(str(root / "raw" / yuv_file_name("Seq", w, h, n)), raw)
    comp = np.clip(raw.astype(int) + 3, 0, 255).astype(np.uint8)  # a stand-in for decoded frames
    write_yuv420(str(root / "qp37" / yuv_file_name("Seq", w, h, n)), comp)
    lr = downscale(raw, 2)
    write_yuv420(str(root / "lr_qp32" / yuv_file_name("Seq", w // 2, h // 2, n)), lr)
    keys = raw[::4]  # frames 0, 4, 8 at full resolution
    write_yuv420(str(root / "key" / yuv_file_name("Seq", w, h, len(keys))), keys)
    return root, raw, comp, keys


def _y(frames):
    return np.stack([rgb_to_yuv420(f)[: f.shape[0] * f.shape[1]].reshape(f.shape[:2]) for f in frames])


def test_mfqe_y_windows_match_native_planes(mfqe):
    root, raw, comp, _ = mfqe
    ds = DATASETS.get("MFQEv2Dataset")(dataroot_gt=str(root / "raw"), dataroot_lq=str(root / "qp37"),
                                       test_mode=True, num_frame=7)
    assert len(ds) == 9
    item = ds[1]
    assert item["key"] == "Seq/00000001" and item["lq"].shape == (7, 1, 32, 48) and item["gt"].shape == (1, 1, 32, 48)
    expect = _y(comp)[[0, 0, 0, 1, 2, 3, 4]]  # replicate padding
    np.testing.assert_array_equal((item["lq"][:, 0] * 255).round().byte().numpy(), expect)
    np.testing.assert_array_equal((item["gt"][0, 0] * 255).round().byte().numpy(), _y(raw)[1])
    rgb = DATASETS.get("MFQEv2Dataset")(dataroot_gt=str(root / "raw"), dataroot_lq=str(root / "qp37"),
                                        color="rgb", num_frame=3, gt_size=16)
    item = rgb[4]
    assert item["lq"].shape == (3, 3, 16, 16) and item["gt"].shape == (1, 3, 16, 16)


def test_mfqe_rcvsr_key_frame_references(mfqe):
    root, raw, _, keys = mfqe
    assert [key_frame_refs(t, 9) for t in (0, 3, 4, 7, 8)] == [(0, 4), (0, 4), (4, 8), (4, 8), (8, 8)]
    ds = DATASETS.get("MFQEv2Dataset")(dataroot_gt=str(root / "raw"), dataroot_lq=str(root / "lr_qp32"),
                                       dataroot_key=str(root / "key"), scale=2, test_mode=True, num_frame=7)
    item = ds[6]
    assert item["lq"].shape == (7, 1, 16, 24) and item["gt"].shape == (1, 1, 32, 48)
    assert item["ref"].shape == (2, 1, 32, 48)
    np.testing.assert_array_equal((item["ref"][:, 0] * 255).round().byte().numpy(), _y(keys)[[1, 2]])
    train = DATASETS.get("MFQEv2Dataset")(dataroot_gt=str(root / "raw"), dataroot_lq=str(root / "lr_qp32"),
                                          dataroot_key=str(root / "key"), scale=2, gt_size=16)
    item = train[2]
    assert item["ref"].shape == (2, 1, 16, 16) and item["lq"].shape == (7, 1, 8, 8)
    with pytest.raises(DataError, match=r"clip 'Seq': GT frames in .*Seq_48x32_9.yuv are 48x32, LQ frames .* not scale 2"):
        DATASETS.get("MFQEv2Dataset")(dataroot_gt=str(root / "raw"), dataroot_lq=str(root / "qp37"), scale=2,
                                      test_mode=True)[0]


def test_mfqe_truncated_yuv(mfqe, tmp_path):
    root, *_ = mfqe
    data = (root / "qp37" / "Seq_48x32_9.yuv").read_bytes()
    (tmp_path / "Seq_48x32_9.yuv").write_bytes(data[:-100])
    with pytest.raises(DataError, match=r"Seq_48x32_9.yuv: .*truncated"):
        DATASETS.get("MFQEv2Dataset")(dataroot_gt=str(root / "raw"), dataroot_lq=str(tmp_path), test_mode=True)


@pytest.fixture(scope="module")
def vsd4k(tmp_path_factory):
    root = tmp_path_factory.mktemp("vsd4k")
    arrays = make_paired_clips(str(root / "HR"), str(root / "LR_bicubic" / "X2"), {"game_15s": 3},
                               lq_size=(20, 40), scale=2)
    return root, arrays


def test_vsd4k_patch_grid_and_chunks(vsd4k, tmp_path):
    root, arrays = vsd4k
    kw = dict(dataroot_gt=str(root / "HR"), dataroot_lq=str(root / "LR_bicubic" / "X2"), video="game_15s", scale=2)
    ds = DATASETS.get("VSD4KDataset")(**kw)
    assert len(ds) == 3 * 200 and (ds.patch_h, ds.patch_w) == (2, 2)  # 20 x 10 grid of a 40x20 LR frame
    item = ds[200 + 21]  # frame 1, row 1, col 1
    assert item["key"] == "game_15s/00000001/r01c01" and item["lq"].shape == (1, 3, 2, 2)
    np.testing.assert_array_equal((item["gt"][0] * 255).round().byte().permute(1, 2, 0).numpy(),
                                  arrays["game_15s"]["gt"][1, 4:8, 4:8])
    labels = tmp_path / "labels.txt"
    rng = np.random.default_rng(0)
    values = {}
    with open(labels, "w") as f:
        for fr in range(3):
            for r in range(10):
                for c in range(20):
                    values[(fr, r, c)] = float(rng.normal(40, 3))
                    f.write(f"{fr} {r} {c} {values[(fr, r, c)]:.4f}\n")
    low = DATASETS.get("VSD4KDataset")(**kw, patch_labels_file=str(labels), num_chunks=2, chunk=0)
    high = DATASETS.get("VSD4KDataset")(**kw, patch_labels_file=str(labels), num_chunks=2, chunk=1)
    assert len(low) == len(high) == 300
    assert max(round(values[it], 4) for it in low.items) <= min(round(values[it], 4) for it in high.items)
    np.testing.assert_array_equal(quantile_chunks([5, 1, 3, 2], 2), [1, 0, 1, 0])
    whole = DATASETS.get("VSD4KDataset")(**kw, patches=False, frame_range=[1, 3], test_mode=True)
    assert len(whole) == 2 and whole[0]["gt"].shape == (1, 3, 40, 80) and whole[0]["key"] == "game_15s/00000001"
    with pytest.raises(ConfigError, match="no STDO default grid for x3"):
        DATASETS.get("VSD4KDataset")(**{**kw, "scale": 3})
    with pytest.raises(DataError, match="do not split into a 7x10 grid"):
        DATASETS.get("VSD4KDataset")(**kw, patch_grid=[7, 10])


def test_cvcp_draws_qps(tmp_path):
    gt, _, _ = translating_clip(4, 32, 32, (4, 4), seed=0)
    lq = downscale(gt, 4)
    from vsrkit.data.synthetic import write_clip
    write_clip(str(tmp_path / "GT" / "c1"), gt)
    for k, qp in enumerate((22, 37)):
        write_clip(str(tmp_path / f"LD_QP{qp}" / "c1"), (lq // (k + 1)).astype(np.uint8))
    ds = DATASETS.get("CVCPDataset")(dataroot=str(tmp_path), qps=[22, 37], num_frame=3, gt_size=16)
    items = [ds[0] for _ in range(16)]
    dark = [float(it["lq"].mean() / it["gt"].mean()) < 0.75 for it in items]
    assert 0 < sum(dark) < 16
    test = DATASETS.get("CVCPDataset")(dataroot=str(tmp_path), qps=[22, 37], num_frame=None, test_mode=True)
    assert [test[i]["key"] for i in range(2)] == ["LD_QP22/c1", "LD_QP37/c1"]
    with pytest.raises(DataError, match=r"dataroot_lq\[1\]: .*LD_QP27 does not exist"):
        DATASETS.get("CVCPDataset")(dataroot=str(tmp_path), qps=[22, 27], num_frame=3)
