"""The RCVSR demo data (vsrkit.data.rcvsr_demo) on a tiny setting: layout, the dataset reads it, reuse, refusal;
the demo options pick its builder by ``demo_data.type``."""
import shutil

import pytest

from vsrkit.data.rcvsr_demo import build_rcvsr_demo
from vsrkit.errors import ConfigError, DataError
from vsrkit.launch.prepare import demo_builder
from vsrkit.registry import DATASETS

pytestmark = pytest.mark.skipif(shutil.which("x265") is None, reason="x265 command-line encoder not installed")
KW = dict(num_train_clips=1, num_val_clips=1, num_frames=5, hr_size=32, qp=32, seed=1)


def test_demo_layout_reuse_and_refusal(tmp_path):
    root = build_rcvsr_demo(tmp_path / "demo", **KW)
    for split in ("train", "val"):
        assert sorted(p.name for p in (tmp_path / "demo" / split).iterdir()) == ["KEY_QP37", "LR_QP32", "raw"]
    ds = DATASETS.get("MFQEv2Dataset")(
        dataroot_gt=f"{root}/val/raw", dataroot_lq=f"{root}/val/LR_QP32", dataroot_key=f"{root}/val/KEY_QP37",
        scale=2, num_frame=7, test_mode=True, manifest_check={"qp": 32, "key_qp": 37})
    item = ds[2]
    assert item["lq"].shape == (7, 1, 16, 16) and item["ref"].shape == (2, 1, 32, 32) and len(ds) == 5
    mtime = (tmp_path / "demo" / "settings.json").stat().st_mtime_ns
    assert build_rcvsr_demo(tmp_path / "demo", **KW) == root  # same settings: reused
    assert (tmp_path / "demo" / "settings.json").stat().st_mtime_ns == mtime
    with pytest.raises(DataError, match="not an RCVSR demo built with these settings"):
        build_rcvsr_demo(tmp_path / "demo", **{**KW, "qp": 27})
    with pytest.raises(ConfigError, match="multiple of 16"):
        build_rcvsr_demo(tmp_path / "other", **{**KW, "hr_size": 40})


def test_demo_options_choose_the_builder():
    builder, kwargs = demo_builder({"type": "rcvsr", "root": "x", "qp": 27})
    assert builder is build_rcvsr_demo and kwargs == {"root": "x", "qp": 27}
    assert demo_builder({"root": "x"})[0].__name__ == "build_demo_dataset"
    with pytest.raises(ConfigError, match="demo_data.type: unknown demo dataset 'edvr'"):
        demo_builder({"type": "edvr", "root": "x"})
    with pytest.raises(ConfigError, match="crf"):
        demo_builder({"type": "rcvsr", "root": "x", "crf": 25})
