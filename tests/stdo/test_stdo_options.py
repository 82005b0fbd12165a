"""The shipped STDO option files hold the published recipe (the numbers the pipeline computes for VSD4K 15 s videos)
and the two evaluation protocols."""
from pathlib import Path

import pytest

from vsrkit.options import load_options
from vsrkit.stdo.recipe import training_options

OPTIONS = Path(__file__).resolve().parents[2] / "options"
PATCHES_PER_CHUNK = {2: 450 * 200 // 2, 3: 450 * 200 // 2, 4: 450 * 50 // 2}  # 15 s at 30 fps, k = 2
GRIDS = {2: [20, 10], 3: [20, 10], 4: [10, 5]}


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_train_files_are_the_published_recipe(scale):
    opt = load_options(OPTIONS / f"train/stdo/train_stdo_wdsr_x{scale}_vsd4k_game15s.yml", is_train=True)
    want = training_options(opt["name"], scale, PATCHES_PER_CHUNK[scale])
    assert opt["train"]["total_iter"] == want["train"]["total_iter"]
    assert opt["train"]["scheduler"] == want["train"]["scheduler"]
    assert opt["train"]["optim_g"] == {"type": "Adam", "lr": 1e-3} and opt["manual_seed"] == 226
    assert opt["train"]["losses"] == [{"type": "L1Loss", "name": "l_pix"}]
    assert opt["val"]["val_freq"] == want["val"]["val_freq"]
    assert opt["val"]["best"] == {"metric": "train/l_pix", "mode": "min"}
    assert opt["network_g"] == {"type": "WDSR", "scale": scale}
    ds = opt["datasets"]["train"]
    assert (ds["batch_size_per_gpu"], ds["frame_range"], ds["patch_grid"]) == (16, [0, 450], GRIDS[scale])
    assert not ds.get("use_hflip") and not ds.get("use_rot") and ds["chunk"] == 0


@pytest.mark.parametrize("scale", [2, 4])
def test_test_files_are_the_two_protocols(scale):
    stdo = load_options(OPTIONS / f"test/stdo/test_stdo_wdsr_x{scale}_vsd4k_game15s_stdo.yml", is_train=False)
    cafm = load_options(OPTIONS / f"test/stdo/test_stdo_wdsr_x{scale}_vsd4k_game15s_cafm.yml", is_train=False)
    for opt in (stdo, cafm):
        assert opt["model_type"] == "RoutedVSRModel" and opt["route"] == {"key": "chunk", "num_networks": 2}
        assert opt["path"]["pretrain_network_g"].endswith(f"X{scale}/k2/models/net_g_stdo.pth")
        (ds,) = opt["datasets"].values()
        assert ds["route_key"] == "chunk" and ds["chunk"] is None and ds["patch_grid"] == GRIDS[scale]
    (s,) = stdo["datasets"].values()
    (c,) = cafm["datasets"].values()
    assert s["frame_range"] == [0, 450] and s.get("patches", True)
    assert c["frame_range"] == [450, 495] and c["patches"] is False
    assert stdo["val"]["metrics"] == {"psnr_stdo": {"type": "psnr_pooled", "crop_border": scale + 4, "y_mode": "rgb"}}
    assert {m["crop_border"] for m in cafm["val"]["metrics"].values()} == {scale + 6}
