"""The shipped RCVSR option files state the published recipe and protocol (methods.md section 4); a typo or a changed
number there fails here. Also: the model layer scores RCVSR's float protocol on unclamped outputs."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from vsrkit.engine.dist import DistInfo
from vsrkit.models.evaluation import build_scorers, new_table, score_prediction
from vsrkit.models.video_sr_model import VideoSRModel
from vsrkit.options import load_options
from vsrkit.registry import ARCHS

OPTIONS = Path(__file__).resolve().parents[2] / "options"
TRAIN = sorted((OPTIONS / "train" / "rcvsr").glob("*.yml"))
TEST = sorted((OPTIONS / "test" / "rcvsr").glob("*.yml"))


def test_files_for_both_qps_and_gpu_counts():
    assert [p.stem for p in TRAIN] == ["train_rcvsr_mfqev2_qp32", "train_rcvsr_mfqev2_qp32_2gpu",
                                       "train_rcvsr_mfqev2_qp37", "train_rcvsr_mfqev2_qp37_2gpu"]
    assert [p.stem for p in TEST] == ["test_rcvsr_mfqev2_qp32", "test_rcvsr_mfqev2_qp37"]


@pytest.mark.parametrize("path", TRAIN, ids=lambda p: p.stem)
def test_training_recipe(path):
    opt = load_options(path)
    qp = 37 if "qp37" in path.stem else 32
    assert opt["num_gpu"] == (2 if path.stem.endswith("_2gpu") else 1)
    assert opt["manual_seed"] == 7 and opt["scale"] == 2 and opt["precision"] == "fp32"
    train = opt["train"]
    assert train["optim_g"] == {"type": "Adam", "lr": 5e-5, "betas": [0.9, 0.999]}
    assert train["scheduler"] == {"type": "ConstantLR"} and train["ema_decay"] == 0 and train["total_iter"] == 1000000
    assert [(t["type"], t["weight"], t.get("eps")) for t in train["losses"]] == [
        ("CharbonnierLoss", 1.0, 1e-5), ("LogCoshLoss", 0.01, None)]
    assert {t["reduction"] for t in train["losses"]} == {"mean"}
    tr = opt["datasets"]["train"]
    assert tr["type"] == "MFQEv2Dataset" and tr["color"] == "y" and tr["io_backend"] == {"type": "yuv"}
    assert (tr["num_frame"], tr["gt_size"], tr["batch_size_per_gpu"], tr["dataset_enlarge_ratio"]) == (7, 128, 4, 300)
    assert tr["use_hflip"] and tr["use_rot"] and tr["padding"] == "replicate" and tr["key_interval"] == 4
    assert tr["manifest_check"] == {"qp": qp, "key_qp": qp + 5}
    assert tr["dataroot_lq"].endswith(f"LR_QP{qp}") and tr["dataroot_key"].endswith(f"KEY_QP{qp + 5}")
    assert "test" not in opt["datasets"]
    net = dict(opt["network_g"])
    assert net.pop("type") == "RCVSR" and not net["ablate_refs"]
    assert sum(p.numel() for p in ARCHS.get("RCVSR")(**net).parameters()) == 5689347


@pytest.mark.parametrize("path", TEST, ids=lambda p: p.stem)
def test_test_protocol(path):
    opt = load_options(path, is_train=False)
    qp = 37 if "qp37" in path.stem else 32
    assert list(opt["datasets"]) == ["test"]
    t = opt["datasets"]["test"]
    assert t["test_mode"] and t["num_frame"] == 7 and t["gt_size"] is None and t["color"] == "y"
    assert t["manifest_check"] == {"qp": qp, "key_qp": qp + 5} and t["dataroot_gt"] == "datasets/MFQEv2/test/raw"
    psnr = opt["val"]["metrics"]["psnr_y"]
    assert psnr == {"type": "psnr", "crop_border": 0, "y_mode": "yuv", "rounding": "none", "published": True}
    assert opt["val"]["compare_bicubic"] and opt["val"]["tile"] is None
    assert opt["path"]["pretrain_network_g"] == f"experiments/RCVSR_MFQEv2_QP{qp}/models/net_g_180000.pth"


def test_float_protocol_scores_unclamped_outputs(monkeypatch):
    """An output above 1 keeps its error under ``rounding: none`` (the published float PSNR), and is clamped under
    ``round``."""
    opt = load_options(TEST[0], is_train=False)
    opt = copy.deepcopy(opt)
    opt["network_g"].update(num_feat=8)
    opt["path"]["pretrain_network_g"] = None
    model = VideoSRModel(opt, DistInfo())
    batch = {"lq": torch.full((1, 7, 1, 8, 8), 0.5), "ref": torch.full((1, 2, 1, 16, 16), 0.5),
             "gt": torch.ones(1, 1, 1, 16, 16), "clip": ["c"], "frame_ids": torch.tensor([[3]])}
    monkeypatch.setattr(model, "forward_clip", lambda net, b: torch.full((1, 1, 1, 16, 16), 1.1))
    pred = model.infer(batch)
    assert float(pred.out.max()) == pytest.approx(1.1)
    scorers = build_scorers({"f": {"type": "psnr", "y_mode": "yuv", "rounding": "none"},
                             "r": {"type": "psnr", "y_mode": "yuv", "rounding": "round"}})
    table = new_table(scorers, False)
    score_prediction(table, pred, scorers, False)
    means = table.means()
    assert means["f"] == pytest.approx(10 * torch.log10(torch.tensor(255.0 ** 2 / 25.5 ** 2)).item())
    assert means["r"] == float("inf")
