"""``item_dtype: uint8``: items travel as uint8 frames (float16 motion) and are expanded after the copy to the
device. A training run and its validation must be bitwise those of float32 items."""
import pytest
import torch
import yaml

from vsrkit.data.synthetic import make_compressed_layout
from vsrkit.train import train_main


def _train(tmp_path, root, name: str, item_dtype: str | None):
    train = {"type": "CompressedVideoDataset", "dataroot": str(root), "num_frame": 3, "gt_size": 32,
             "batch_size_per_gpu": 2, "num_worker_per_gpu": 0, "use_temporal_flip": True}
    if item_dtype:
        train["item_dtype"] = item_dtype
    opt = {"name": name, "scale": 4, "num_gpu": 0, "manual_seed": 5, "deterministic": True,
           "datasets": {"train": train,
                        "val": {"type": "CompressedVideoDataset", "dataroot": str(root), "test_mode": True,
                                **({"item_dtype": item_dtype} if item_dtype else {})}},
           "network_g": {"type": "MVVSR", "mid_channels": 8, "num_blocks": 1, "alignment": "mv"},
           "train": {"total_iter": 3, "optim_g": {"type": "Adam", "lr": 1e-3},
                     "pixel_opt": {"type": "CharbonnierLoss", "eps": 1e-6}},
           "val": {"val_freq": 3, "metrics": {"psnr": {"type": "psnr", "rounding": "none"}}},
           "path": {"experiments_root": str(tmp_path / name)},
           "logger": {"print_freq": 1, "save_checkpoint_freq": 3, "use_tb_logger": False}}
    path = tmp_path / f"{name}.yml"
    path.write_text(yaml.safe_dump(opt))
    assert train_main(["-opt", str(path)]) == 0
    weights = torch.load(tmp_path / name / "models" / "net_g_latest.pth", weights_only=True)["params"]
    log = next((tmp_path / name / "logs").glob("train_*.log")).read_text()
    return weights, [line.split("validation val @ ")[1] for line in log.splitlines() if "validation val @" in line]


def test_uint8_items_train_and_validate_bitwise_like_float32_items(tmp_path):
    root = tmp_path / "data"
    make_compressed_layout(str(root), {"000": 5, "001": 4}, lq_size=(12, 12), with_qp=True)
    floats, float_psnr = _train(tmp_path, root, "float32", None)
    compact, compact_psnr = _train(tmp_path, root, "uint8", "uint8")
    assert floats.keys() == compact.keys()
    assert all(torch.equal(floats[k], compact[k]) for k in floats)
    assert float_psnr and float_psnr == compact_psnr


def test_item_dtype_takes_float32_or_uint8(tmp_path):
    from vsrkit.builders import build_dataset
    from vsrkit.errors import ConfigError

    with pytest.raises(ConfigError, match="datasets.train.item_dtype: must be float32 or uint8"):
        build_dataset({"type": "CompressedVideoDataset", "dataroot": str(tmp_path), "item_dtype": "float16"},
                      "datasets.train")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"))])
def test_uint8_frames_expand_to_the_correctly_rounded_quotients_on_every_device(device):
    """CUDA divides by a Python number as a product with its reciprocal (last-bit differences on 126 of the 256
    values); the expansion must give IEEE ``v / 255`` (numpy's division) wherever it runs."""
    import numpy as np

    from vsrkit.data.loader import expand_item

    values = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 1, 16, 16).expand(2, 3, 3, 16, 16)
    out = expand_item({"lq": values.to(device), "mv_bwd": torch.full((2, 3, 2, 16, 16), 0.25, dtype=torch.float16,
                                                                      device=device)})
    exact = torch.from_numpy(np.arange(256, dtype=np.float32) / np.float32(255)).reshape(16, 16)
    assert out["lq"].dtype == torch.float32 and out["lq"].device.type == device
    assert torch.equal(out["lq"].cpu(), exact.expand(2, 3, 3, 16, 16))
    assert out["mv_bwd"].dtype == torch.float32 and bool((out["mv_bwd"] == 0.25).all())
