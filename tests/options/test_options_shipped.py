"""Every YAML shipped under options/ loads, every registered section passes its class's signature check, and every
network builds and runs a tiny forward on the CPU. No dataset needs to be on disk.

The MV-VSR files are also checked against the protocols they claim (methods.md section 2, BasicSR): a typo or a
changed number there fails here.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from vsrkit.builders import check_kwargs
from vsrkit.errors import ConfigError
from vsrkit.options import LOADER_KEYS, load_options
from vsrkit.registry import ARCHS, DATASETS, LOSSES, METRICS, OPTIMIZERS, SCHEDULERS

REPO = Path(__file__).resolve().parents[2]
OPTIONS = REPO / "options"
BASE_DIR = OPTIONS / "_base_"
SHIPPED = sorted(p for p in OPTIONS.rglob("*.yml") if BASE_DIR not in p.parents)
BASES = sorted(BASE_DIR.glob("*.yml"))
MVVSR_TRAIN = sorted((OPTIONS / "train" / "mvvsr").glob("*.yml"))
MVVSR_TEST = sorted((OPTIONS / "test" / "mvvsr").glob("*.yml"))
MSITF_TRAIN = sorted((OPTIONS / "train" / "msitf").glob("*.yml"))
MSITF_TEST = sorted((OPTIONS / "test" / "msitf").glob("*.yml"))


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def load(path: Path, overrides=()) -> dict:
    """load_options the way the launchers do (a _base_ file gets a probe name: it is only a fragment)."""
    extra = ["name=probe"] if BASE_DIR in path.parents else []
    return load_options(path, [*extra, *overrides], is_train="test" not in path.name)


def check_sections(opt: dict) -> None:
    """Signature-check every registered section of resolved options, as the builders do when a run starts."""
    where = opt["opt_path"]
    if opt.get("network_g"):
        cfg = dict(opt["network_g"])
        check_kwargs(ARCHS.get(cfg.pop("type"), where=f"{where}: network_g.type"), cfg, f"{where}: network_g")
    for key, section in opt["datasets"].items():
        cfg = {k: v for k, v in section.items() if k not in LOADER_KEYS}
        check_kwargs(DATASETS.get(section["type"], where=f"{where}: datasets.{key}.type"), cfg,
                     f"{where}: datasets.{key}")
    train = opt.get("train") or {}
    if train.get("pixel_opt"):
        cfg = dict(train["pixel_opt"])
        check_kwargs(LOSSES.get(cfg.pop("type"), where=f"{where}: train.pixel_opt.type"), cfg,
                     f"{where}: train.pixel_opt")
    if train.get("optim_g"):
        cfg = dict(train["optim_g"])
        check_kwargs(OPTIMIZERS.get(cfg.pop("type"), where=f"{where}: train.optim_g.type"), {"params": [], **cfg},
                     f"{where}: train.optim_g")
    if train.get("scheduler"):
        cfg = dict(train["scheduler"])
        cfg.setdefault("warmup_iter", train.get("warmup_iter", 0))
        check_kwargs(SCHEDULERS.get(cfg.pop("type"), where=f"{where}: train.scheduler.type"),
                     {"optimizer": None, **cfg}, f"{where}: train.scheduler")
    frame = np.random.default_rng(0).integers(0, 256, (32, 32, channels_of(opt)), dtype=np.uint8)
    for label, metric in (opt["val"].get("metrics") or {}).items():
        cfg = {k: v for k, v in metric.items() if k not in ("rounding", "published")}  # scorer keys
        fn = METRICS.get(cfg.pop("type", label), where=f"{where}: val.metrics.{label}.type")
        check_kwargs(fn, {"img": None, "img2": None, **cfg}, f"{where}: val.metrics.{label}")
        assert np.isfinite(fn(frame, frame[::-1].copy(), **cfg))  # values (y_mode, crop_border) are valid too
    if opt.get("demo_data"):
        from vsrkit.launch.prepare import demo_builder

        demo_builder(opt["demo_data"], f"{where}: demo_data")  # the builder its type names, its arguments


def tiny_forward(network_g: dict, num_frame: int = 3, channels: int = 3, scale: int | None = None) -> torch.Tensor:
    """Build ``network_g`` on the CPU and run 1 clip of ``num_frame`` frames of 16x16 LR with ``channels`` channels
    (zero motion, I-P-P..., two random full-resolution references), giving it the side inputs its ``forward`` names
    (as the model layer does)."""
    from vsrkit.inference.runner import forward_inputs

    cfg = dict(network_g)
    net = ARCHS.get(cfg.pop("type"))(**cfg).eval()
    gen = torch.Generator().manual_seed(0)
    lq = torch.rand(1, num_frame, channels, 16, 16, generator=gen)
    hr = 16 * (scale or network_g.get("scale", 4))
    side = {"mv_bwd": torch.zeros(1, num_frame, 2, 16, 16), "mv_fwd": torch.zeros(1, num_frame, 2, 16, 16),
            "frame_types": torch.tensor([[1] + [2] * (num_frame - 1)]),
            "ref": torch.rand(1, 2, channels, hr, hr, generator=gen),
            "valid_bwd": torch.ones(1, num_frame, 16, 16, dtype=torch.bool),
            "valid_fwd": torch.ones(1, num_frame, 16, 16, dtype=torch.bool)}
    with torch.no_grad():  # optional inputs this table does not know are left to their defaults
        return net(lq, **{k: side[k] for k in forward_inputs(net) if k in side})


def frames_in_out(opt: dict) -> tuple[int, int]:
    """LR frames a network of ``opt`` takes in a tiny forward and the frames it returns: a space-time model runs
    ``val.window`` frames (default 4) into ``2 * window - 1``; every other model returns a frame per input frame."""
    if opt.get("model_type") == "SpaceTimeVSRModel":
        window = opt["val"].get("window", 4)
        return window, 2 * window - 1
    window = (opt.get("network_g") or {}).get("num_frames")
    if window:  # a sliding-window network: num_frames LR frames -> the centre frame
        return window, 1
    return 3, 3


def channels_of(opt: dict) -> int:
    """1 when the datasets deliver the Y plane (``color: y``) or the metrics score a native Y plane (``y_mode:
    yuv``), else 3 (RGB)."""
    y_data = any(s.get("color") == "y" for s in opt.get("datasets", {}).values())
    y_metric = any((m or {}).get("y_mode") == "yuv" for m in (opt.get("val", {}).get("metrics") or {}).values())
    return 1 if y_data or y_metric else 3


def test_option_files_found():
    assert len(SHIPPED) >= 13 and len(BASES) >= 6
    assert len(MVVSR_TRAIN) >= 2 and len(MVVSR_TEST) >= 8


@pytest.mark.parametrize("path", SHIPPED + BASES, ids=rel)
def test_shipped_file_loads_and_sections_match_signatures(path):
    check_sections(load(path))


def test_every_base_is_used():
    used = set()
    for path in SHIPPED + BASES:
        bases = yaml.safe_load(path.read_text()).get("_base_") or []
        used.update((path.parent / b).resolve() for b in ([bases] if isinstance(bases, str) else bases))
    assert not [rel(b) for b in BASES if b.resolve() not in used]


def test_networks_build_and_run_on_cpu():
    configs = {}
    for path in SHIPPED:
        opt = load(path)
        net = opt.get("network_g")
        if net:
            frames, c = frames_in_out(opt), channels_of(opt)
            configs.setdefault(yaml.safe_dump([net, frames, c], sort_keys=True),
                               (rel(path), net, frames, c, opt.get("scale", net.get("scale"))))
    assert len(configs) >= 4  # demo, MV-VSR, SPyNet baseline, MSITF
    for name, net, (n_in, n_out), c, scale in configs.values():
        out = tiny_forward(net, n_in, c, scale)
        assert out.shape == (1, n_out, c, 16 * scale, 16 * scale), name
        assert torch.isfinite(out).all(), name


@pytest.mark.parametrize("line, bad", [
    ("nmae: typo", "nmae"),
    ("network_g: {mid_channel: 64}", "mid_channel"),
    ("datasets: {train: {gt_sise: 256}}", "gt_sise"),
    ("datasets: {val: {val_partiton: REDS4}}", "val_partiton"),
    ("train: {pixel_opt: {esp: 1.0e-6}}", "esp"),
    ("train: {scheduler: {T_max: 10}}", "T_max"),
    ("train: {optim_g: {betas1: 0.9}}", "betas1"),
    ("val: {metrics: {psnr_rgb: {crop: 4}}}", "crop"),
    ("val: {metrics: {psnr_rgb: {y_mode: y_fulll}}}", "y_fulll"),
    ("demo_data: {num_clips: 3}", "num_clips"),
])
def test_a_misspelled_key_in_a_shipped_file_fails(tmp_path, line, bad):
    child = tmp_path / "typo.yml"
    child.write_text(f"_base_: {OPTIONS / 'train' / 'mvvsr' / 'train_mvvsr_reds_crf23.yml'}\n{line}\n")
    with pytest.raises((ConfigError, ValueError), match=bad):
        check_sections(load(child))


def test_a_wrong_network_value_fails_the_forward():
    net = dict(load(OPTIONS / "train/mvvsr/train_mvvsr_reds_crf23.yml")["network_g"], alignment="flow")
    with pytest.raises(ConfigError, match="alignment"):
        tiny_forward(net)


# ---------------------------------------------------------------------------------------------- MV-VSR protocols
def test_mvvsr_training_protocol():
    mv = load(OPTIONS / "train/mvvsr/train_mvvsr_reds_crf23.yml")
    flow = load(OPTIONS / "train/mvvsr/train_basicvsr_spynet_reds_crf23.yml")
    for opt in (mv, flow):
        tr = opt["datasets"]["train"]
        assert tr["type"] == "REDSRecurrentDataset" and tr["val_partition"] == "REDS4"
        assert tr["meta_info_file"].endswith("reds_train_REDS4_excluded.txt")
        assert (tr["num_frame"], tr["gt_size"] // opt["scale"], tr["batch_size_per_gpu"]) == (14, 128, 16)
        assert tr["interval_list"] == [1] and tr["manifest_check"] == {"crf": 23, "preset": "slow"}
        assert tr["dataroot_lq"].startswith("datasets/") and "crf23_slow" in tr["dataroot_lq"]
        assert opt["train"]["optim_g"] == {"type": "AdamW", "lr": 2e-4, "betas": [0.9, 0.99], "weight_decay": 0.01}
        assert opt["train"]["pixel_opt"]["eps"] == 1e-6 and opt["train"]["scheduler"]["type"] == "ConstantLR"
        assert opt["precision"] == "bf16" and opt["val"]["rounding"] == "truncate"
        assert next(iter(opt["val"]["metrics"])) == "psnr_rgb"  # best checkpoint by RGB PSNR, as published
        assert opt["datasets"]["val"]["manifest_check"] == {"crf": 25}
    # like for like: only the alignment differs between the two networks
    diff = {k for k in mv["network_g"] if mv["network_g"][k] != flow["network_g"].get(k)}
    assert diff == {"alignment", "pframe_proxy"} and flow["network_g"]["alignment"] == "spynet"
    assert (mv["network_g"]["mid_channels"], mv["network_g"]["num_blocks"]) == (64, 15)
    assert mv["train"]["total_iter"] == flow["train"]["total_iter"]
    assert mv["datasets"]["train"]["dataroot_motion"] and flow["datasets"]["train"]["dataroot_motion"] is None


def test_mvvsr_parameter_count_matches_the_paper():
    cfg = dict(load(OPTIONS / "train/mvvsr/train_mvvsr_reds_crf23.yml")["network_g"])
    net = ARCHS.get(cfg.pop("type"))(**cfg)
    n = sum(p.numel() for p in net.parameters())
    assert abs(n / 1e6 - 2.598) < 0.01, n


@pytest.mark.parametrize("path", MVVSR_TEST, ids=rel)
def test_mvvsr_test_protocols(path):
    opt = load(path)
    metrics = opt["val"]["metrics"]
    if path.stem.endswith("_basicsr"):
        assert opt["val"]["rounding"] == "round"
        assert {m["y_mode"] for m in metrics.values()} == {"rgb", "y_bt601"}
        assert {m["crop_border"] for m in metrics.values()} == {0}
    else:
        assert opt["val"]["rounding"] == "truncate"
        assert {m["y_mode"] for m in metrics.values()} == {"rgb", "y_full"}
        assert {m["crop_border"] for m in metrics.values()} == {4}
    assert {m["type"] for m in metrics.values()} == {"psnr", "ssim"}
    sets = opt["datasets"]
    assert all(s["test_mode"] and s["num_frame"] is None for s in sets.values())  # whole clips
    assert all(s[k].startswith("datasets/") for s in sets.values() for k in ("dataroot_gt", "dataroot_lq"))
    if "_reds4" in path.stem:
        assert sorted(s["manifest_check"]["crf"] for s in sets.values()) == [15, 25, 35]
        assert all(s["val_partition"] == "REDS4" and s["meta_info_file"].endswith("reds_REDS4.txt")
                   for s in sets.values())
    else:
        assert [s["manifest_check"]["crf"] for s in sets.values()] == [25]
    spynet = opt["network_g"]["alignment"] == "spynet"
    assert spynet == ("spynet" in path.stem)
    assert all((s.get("dataroot_motion") is None) == spynet for s in sets.values())
    if "_official" in path.stem:  # the authors' released checkpoint, run as published
        assert opt["network_g"]["faithful"] is True and opt["path"]["pretrain_network_g"].startswith("checkpoints/")
        return
    trained = "BasicVSR_SPyNet_REDS_CRF23" if spynet else "MVVSR_REDS_CRF23"
    assert opt["path"]["pretrain_network_g"] == f"experiments/{trained}/models/net_g_latest.pth"


# ---------------------------------------------------------------------------------------------- MSITF protocols
def test_msitf_training_protocol():
    """methods.md section 3 and the published train.yml, in BI and BD."""
    assert [p.stem for p in MSITF_TRAIN] == ["train_msitf_vimeo_bd", "train_msitf_vimeo_bi"]
    for path in MSITF_TRAIN:
        opt = load(path)
        assert opt["model_type"] == "SpaceTimeVSRModel" and opt["scale"] == 4
        assert (opt["val"]["window"], opt["val"]["stride"]) == (4, 3)
        tr = opt["datasets"]["train"]
        assert tr["type"] == "Vimeo90KDataset" and tr["task"] == "stvsr"
        assert (tr["gt_size"], tr["gt_size"] // opt["scale"], tr["batch_size_per_gpu"]) == (128, 32, 16)
        assert tr["use_hflip"] and tr["use_rot"] and tr["use_temporal_flip"]
        assert tr["meta_info_file"].endswith("vimeo90k_train.txt")
        train = opt["train"]
        assert train["optim_g"] == {"type": "Adam", "lr": 2e-4, "betas": [0.9, 0.99], "weight_decay": 0}
        assert train["scheduler"] == {"type": "CosineAnnealingRestartLR", "periods": [150000] * 4,
                                      "restart_weights": [1] * 4, "eta_min": 1e-7}
        assert train["total_iter"] == 600000 and train["warmup_iter"] == 0 and train["ema_decay"] == 0
        assert train["pixel_opt"] == {"type": "CharbonnierLoss", "eps": 1e-6, "reduction": "sum"}
        val = opt["datasets"]["val"]
        assert val["drop_even_frames"] and val["test_mode"] and val["num_frame"] is None
        mode = "bd_matlab" if path.stem.endswith("_bd") else "bi"
        assert tr["manifest_check"]["mode"] == val["manifest_check"]["mode"] == mode
        assert ("BDx4" in tr["dataroot_lq"]) == ("BDx4" in val["dataroot_lq"]) == (mode != "bi")
        net = dict(opt["network_g"])
        assert net.pop("type") == "MSITF" and not net["faithful"] and net["feature_interp"] == "pcd"
        n = sum(p.numel() for p in ARCHS.get("MSITF")(**net).parameters())
        assert n == 5585611, n


@pytest.mark.parametrize("path", MSITF_TEST, ids=rel)
def test_msitf_test_protocols(path):
    opt = load(path)
    assert opt["model_type"] == "SpaceTimeVSRModel" and (opt["val"]["window"], opt["val"]["stride"]) == (4, 3)
    metrics = opt["val"]["metrics"]
    assert opt["val"]["rounding"] == "round"
    assert {m["crop_border"] for m in metrics.values()} == {0}
    assert {(m["type"], m["y_mode"]) for m in metrics.values()} == {
        (t, y) for t in ("psnr", "ssim") for y in ("rgb", "y_bt601")}
    assert sorted(k for k, m in metrics.items() if m.get("published")) == ["psnr_rgb", "psnr_y601"]
    published = opt["val"]["published_results"]["columns"]
    assert published["psnr_rgb"]["average"] == 25.149 and published["psnr_y601"]["average"] == 26.696
    for column in published.values():  # the published averages are the means of the published clips
        clips = [v for k, v in column.items() if k != "average"]
        assert abs(sum(clips) / len(clips) - column["average"]) < 1e-3
    sets = opt["datasets"]
    assert sets and all(s["test_mode"] for s in sets.values())
    for s in sets.values():
        if s["type"] == "VideoFolderDataset":  # Vid4: whole clips, even (1-based) frames dropped
            assert s["drop_even_frames"] and s["num_frame"] is None and s["dataroot_gt"] == "datasets/Vid4/GT"
        else:
            assert s["type"] == "Vimeo90KDataset" and s["task"] == "stvsr" and s["gt_size"] is None
        assert ("BDx4" in s["dataroot_lq"]) == (s["manifest_check"]["mode"] == "bd_matlab") == path.stem.endswith("_bd")
    if "_fms" in path.stem:
        assert sorted(sets) == ["test_fast", "test_medium", "test_slow"]
