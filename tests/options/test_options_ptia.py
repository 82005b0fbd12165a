"""PTIA's option files hold the published settings (methods.md section 1, the published train_*/test_*.yml), the
CVCP ``gt[:, :, 0:1]`` supervision is a named option, and Vimeo-90K's published temporal flip is the dataset's
``flip_sequence``. (That every file loads, signature-checks and builds is tests/options/test_options_shipped.py.)"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vsrkit.data.synthetic import make_paired_clips
from vsrkit.errors import ConfigError
from vsrkit.options import load_options
from vsrkit.registry import DATASETS, MODELS

REPO = Path(__file__).resolve().parents[2]
TRAIN = REPO / "options" / "train" / "ptia"
TEST = REPO / "options" / "test" / "ptia"


def load(path: Path) -> dict:
    return load_options(path, is_train="test" not in path.name)


def test_every_published_setting_has_a_file():
    assert sorted(p.stem for p in TRAIN.glob("*.yml")) == ["train_ptia_cvcp", "train_ptia_reds", "train_ptia_vimeo90k"]
    assert sorted(p.stem for p in TEST.glob("*.yml")) == ["test_ptia_mfqe_hevc_ld", "test_ptia_reds4",
                                                         "test_ptia_vid4_bd", "test_ptia_vid4_bi"]


def test_one_published_network_everywhere():
    nets = [load(p)["network_g"] for p in sorted(TRAIN.glob("*.yml")) + sorted(TEST.glob("*.yml"))]
    assert all(n == nets[0] for n in nets)
    net = nets[0]
    assert (net["type"], net["mid_channels"], net["num_blocks"], net["num_recon_blocks"]) == ("PTIA", 64, 30, 5)
    assert net["alignment"] == "tbia" and net["cafs_query"] == "first_token" and net["offset_bound"] is None
    assert net["train_spynet"] is False and net["deformable_groups"] == 8


@pytest.mark.parametrize("stem, lr, iters, batch, fix_flow", [
    ("train_ptia_reds", 2e-4, 100000, 8, 5000),
    ("train_ptia_vimeo90k", 1e-4, 400000, 2, 100000),
    ("train_ptia_cvcp", 2e-4, 100000, 4, 5000),
])
def test_training_recipes(stem, lr, iters, batch, fix_flow):
    opt = load(TRAIN / f"{stem}.yml")
    train = opt["train"]
    assert train["optim_g"] == {"type": "Adam", "lr": lr, "betas": [0.9, 0.99], "weight_decay": 0}
    assert train["scheduler"] == {"type": "CosineAnnealingRestartLR", "periods": [400000], "restart_weights": [1],
                                  "eta_min": 1e-7}
    assert train["pixel_opt"] == {"type": "CharbonnierLoss", "eps": 1e-12, "reduction": "mean"}
    assert (train["total_iter"], train["fix_flow"], train["flow_lr_mul"]) == (iters, fix_flow, 0.125)
    assert train["ema_decay"] == 0 and opt["precision"] == "fp32"
    tr = opt["datasets"]["train"]
    assert (tr["num_frame"], tr["gt_size"], tr["batch_size_per_gpu"]) == (7, 256, batch)
    assert tr["use_hflip"] and tr["use_rot"] and not tr["use_temporal_flip"]
    lqs = tr["dataroot_lq"] if stem != "train_ptia_cvcp" else tr["qps"]
    assert len(lqs) == 4  # one LQ source drawn per item
    if stem == "train_ptia_reds":
        assert tr["val_partition"] == "REDS4" and tr["meta_info_file"].endswith("REDS4_excluded.txt")
        assert lqs[0].endswith("train_sharp_BIx4") and [q[-8:] for q in lqs[1:]] == ["crf15/lq", "crf25/lq",
                                                                                     "crf35/lq"]
        assert sorted(opt["datasets"]) == ["train", "val_crf15", "val_crf25", "val_crf35"]
    elif stem == "train_ptia_vimeo90k":
        assert tr["flip_sequence"] and tr["gt_frames"] == "all" and lqs[0].endswith("BDx4")
        assert [q[-8:] for q in lqs[1:]] == ["crf15/lq", "crf25/lq", "crf35/lq"]
        assert all("BD" in s["dataroot_lq"] for k, s in opt["datasets"].items() if k.startswith("val"))
    else:
        assert opt["model_type"] == "PTIAModel" and train["target"] == "gt_first_channel"
        assert tr["qps"] == [22, 27, 32, 37] and tr["lq_template"] == "LD_QP{qp}"


def test_the_cosine_period_barely_decays_within_a_run():
    """The published 400k period over a 100k run: the lr ends at about 0.85x its start (documented)."""
    from vsrkit.registry import SCHEDULERS

    opt = load(TRAIN / "train_ptia_reds.yml")
    cfg = dict(opt["train"]["scheduler"])
    optim = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=2e-4)
    sched = SCHEDULERS.get(cfg.pop("type"))(optim, **cfg)
    sched.load_state_dict({"last_iter": opt["train"]["total_iter"], "base_lrs": [2e-4]})  # the last iteration
    assert optim.param_groups[0]["lr"] / 2e-4 == pytest.approx(0.5 * (1 + np.cos(np.pi / 4)), abs=1e-3)


@pytest.mark.parametrize("stem, y_mode, sets", [
    ("test_ptia_vid4_bi", "y_bt601", {"Vid4_BI_CRF15": 15, "Vid4_BI_CRF25": 25, "Vid4_BI_CRF35": 35}),
    ("test_ptia_vid4_bd", "y_bt601", {"Vid4_BD_CRF15": 15, "Vid4_BD_CRF25": 25, "Vid4_BD_CRF35": 35}),
    ("test_ptia_reds4", "rgb", {"REDS4_CRF15": 15, "REDS4_CRF25": 25, "REDS4_CRF35": 35}),
    ("test_ptia_mfqe_hevc_ld", "y_bt601", {f"MFQE18_LD_QP{q}": q for q in (22, 27, 32, 37)}),
])
def test_test_protocols(stem, y_mode, sets):
    opt = load(TEST / f"{stem}.yml")
    val = opt["val"]
    assert val["rounding"] == "round" and val["compare_bicubic"]
    assert {(m["type"], m["y_mode"], m["crop_border"]) for m in val["metrics"].values()} == {
        ("psnr", y_mode, 0), ("ssim", y_mode, 0)}
    found = {s["name"]: s for s in opt["datasets"].values()}
    assert set(found) == set(sets)  # one table per compression level
    for name, s in found.items():
        level = s["manifest_check"].get("crf", s["manifest_check"].get("qp"))
        assert level == sets[name] and s["test_mode"] and s.get("dataroot_motion") is None
    if "mfqe" in stem:  # 15-frame windows, reflection_circle, the centre scored, 128-px tiles, 20-px overlap
        assert all((s["num_frame"], s["padding"], s["gt_frames"]) == (15, "reflection_circle", "center")
                   for s in found.values())
        assert (val["center_frame_only"], val["tile"], val["tile_overlap"]) == (True, 128, 20)
    else:  # whole clips
        assert all(s["num_frame"] is None for s in found.values()) and not val.get("tile")


# ------------------------------------------------------------------------------------------ CVCP supervision
def test_gt_first_channel_target_matches_the_published_broadcast():
    model = MODELS.get("PTIAModel").__new__(MODELS.get("PTIAModel"))
    out = torch.rand(2, 3, 3, 8, 8)
    gt = torch.rand(2, 3, 3, 8, 8)
    model.opt = {"train": {"target": "gt_first_channel"}, "val": {}}
    target = model.target({"gt": gt}, out)
    assert target.shape == out.shape and torch.equal(target, gt[:, :, 0:1].expand_as(out))
    published = torch.sqrt((out - gt[:, :, 0:1]) ** 2 + 1e-12).mean()  # cri_pix(output, gt[:, :, 0:1])
    from vsrkit.losses import CharbonnierLoss

    assert torch.allclose(CharbonnierLoss(eps=1e-12)(out, target), published, rtol=0, atol=1e-7)
    model.opt = {"train": {"target": "gt"}, "val": {}}
    assert model.target({"gt": gt}, out) is gt
    with pytest.raises(ConfigError, match="target"):
        load_options(TRAIN / "train_ptia_cvcp.yml", ["train.target=gt_y"])


# ------------------------------------------------------------------------------------------ Vimeo flip_sequence
def test_vimeo_flip_sequence(tmp_path):
    clips = {"00001/0001": 7, "00001/0002": 7}
    arrays = make_paired_clips(str(tmp_path / "sequences"), str(tmp_path / "BDx4"), clips, lq_size=(8, 8), scale=4,
                               names=[f"im{i}.png" for i in range(1, 8)])
    (tmp_path / "list.txt").write_text("00001/0001\n00001/0002\n")
    kw = dict(dataroot_gt=str(tmp_path / "sequences"), dataroot_lq=str(tmp_path / "BDx4"),
              meta_info_file=str(tmp_path / "list.txt"), gt_frames="all", flip_sequence=True)
    item = DATASETS.get("Vimeo90KDataset")(**kw, gt_size=None, use_hflip=False, use_rot=False)[1]
    order = list(range(7)) + list(range(6, -1, -1))
    lq = (item["lq"] * 255).round().byte().permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(lq, arrays["00001/0002"]["lq"][order])
    assert item["gt"].shape == (14, 3, 32, 32) and item["frame_ids"].tolist() == order
    cropped = DATASETS.get("Vimeo90KDataset")(**kw, gt_size=16)[0]  # one crop and flip for all 14 frames
    assert torch.equal(cropped["lq"][:7], cropped["lq"][7:].flip(0))
    assert torch.equal(cropped["gt"][:7], cropped["gt"][7:].flip(0))
    test = DATASETS.get("Vimeo90KDataset")(**kw, test_mode=True)[0]  # test items are the septuplet
    assert test["lq"].shape[0] == 7
    with pytest.raises(ConfigError, match="flip_sequence"):
        DATASETS.get("Vimeo90KDataset")(**{**kw, "gt_frames": "center"})
