"""STDO's whole pipeline on a tiny mp4: frames -> grid -> labels -> chunks -> per-chunk training -> stitched SR video
-> both evaluation protocols, through scripts/stdo_pipeline.py, plus resume and refusal of changed settings."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vsrkit.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
NET = "{type: WDSR, scale: 2, num_blocks: 1, num_residual_units: 4, width_multiplier: 2}"


def _cli():
    spec = importlib.util.spec_from_file_location("stdo_pipeline", REPO / "scripts" / "stdo_pipeline.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


def _tiny_video(path, frames=8, h=32, w=64):
    """A camera pan over a scikit-image photo, H.264 at 8 fps."""
    from vsrkit.codec import encode_h264
    from vsrkit.data.demo_builder import camera_path, load_photo, render_clip

    photo = load_photo("astronaut")
    cam = camera_path(np.random.default_rng(0), frames, (h, w), photo.shape[:2])
    encode_h264(render_clip(photo, (h, w), *cam[:4]), str(path), crf=10, fps=8)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stdo")
    _tiny_video(tmp / "clip.mp4")
    work, main = str(tmp / "work"), _cli()
    common = ["--work", work, "--quiet"]
    assert main(["frames", *common, "--input", str(tmp / "clip.mp4"), "--seconds", "0.75", "--held-out", "2",
                 "--scales", "2", "--grid", "X2=4x2"]) == 0
    assert main(["grid", *common, "--scale", "2"]) == 0
    assert main(["labels", *common, "--scale", "2", "--general-bicubic"]) == 0
    assert main(["chunks", *common, "--scale", "2", "--num-chunks", "2"]) == 0
    assert main(["train", *common, "--scale", "2", "--net", NET, "--epochs", "1", "--batch", "4",
                 "--workers", "0"]) == 0
    assert main(["infer", *common, "--scale", "2", "--frames", "test"]) == 0
    assert main(["evaluate", *common, "--scale", "2", "--protocol", "stdo"]) == 0
    assert main(["evaluate", *common, "--scale", "2", "--protocol", "cafm"]) == 0
    return Path(work), main


def test_frames_grid_labels_chunks(run):
    work, _ = run
    video = json.loads((work / "manifest.json").read_text())
    assert video["train_frames"] == [0, 6] and video["test_frames"] == [6, 8] and video["hr_size"] == [32, 64]
    assert len(list((work / "LR_bicubic" / "X2" / "clip").glob("*.png"))) == 8
    labels = (work / "X2" / "labels.txt").read_text().splitlines()
    assert len(labels) == 8 * 8  # every frame, held-out ones too, 4x2 patches each
    chunks = json.loads((work / "X2" / "k2" / "chunks.json").read_text())
    assert [c["train_patches"] for c in chunks["chunks"]] == [24, 24]  # equal quantile chunks of 6 x 8 patches
    value = {tuple(map(int, line.split()[:3])): float(line.split()[3]) for line in labels}
    ids = {tuple(map(int, line.split()[:3])): int(line.split()[3])
           for line in (work / "X2" / "k2" / "chunks.txt").read_text().splitlines()}
    edge = chunks["edges"][0]
    assert all((value[key] > edge) == bool(j) for key, j in ids.items())  # chunk 0 = lowest PSNR (hardest)


def test_stitched_video_is_each_patch_through_its_chunk_network(run):
    from vsrkit.codec import decode_video
    from vsrkit.data.storage import read_png
    from vsrkit.stdo.overfit import load_routed

    work, _ = run
    sr_dir = work / "X2" / "k2" / "sr"
    decoded = decode_video(str(sr_dir / "clip.mp4"), qp=False)
    assert decoded.frames.shape == (2, 32, 64, 3)
    routed, _ = load_routed(str(work), 2, 2)
    ids = {tuple(map(int, line.split()[:3])): int(line.split()[3])
           for line in (work / "X2" / "k2" / "chunks.txt").read_text().splitlines()}
    lq = torch.from_numpy(read_png(str(work / "LR_bicubic" / "X2" / "clip" / "00000007.png"))).permute(2, 0, 1)
    lq = lq.float()[None] / 255
    saved = read_png(str(sr_dir / "clip" / "00000007.png")).astype(int)
    with torch.no_grad():
        for r in range(2):
            for c in range(4):
                patch = routed.nets[ids[(7, r, c)]](lq[..., r * 8:r * 8 + 8, c * 8:c * 8 + 8])
                want = (patch[0].clamp(0, 1) * 255).round().permute(1, 2, 0).numpy().astype(int)
                assert np.abs(saved[r * 16:r * 16 + 16, c * 16:c * 16 + 16] - want).max() <= 1


def test_evaluation_tables(run):
    work, _ = run
    stdo = json.loads((work / "X2" / "k2" / "eval_stdo.json").read_text())
    assert stdo["shave"] == 6 and [r["items"] for r in stdo["rows"]] == [24, 24, 48]
    mse = [10 ** (-r["psnr"] / 10) for r in stdo["rows"]]  # pooled = mean MSE of equal-size chunks
    assert mse[2] == pytest.approx((mse[0] + mse[1]) / 2, rel=1e-9)
    cafm = json.loads((work / "X2" / "k2" / "eval_cafm.json").read_text())
    assert cafm["shave"] == 8 and sorted(cafm["per_frame"]) == ["6", "7"]
    md = (work / "X2" / "k2" / "eval_cafm.md").read_text()
    assert "| cafm protocol | frames |" in md and "Published" not in md  # not a VSD4K video


def test_stages_resume_and_refuse_other_settings(run):
    work, main = run
    chunks = (work / "X2" / "k2" / "chunks.txt").read_text()
    labels = work / "X2" / "labels.txt"
    full = labels.read_text()
    manifest = json.loads((work / "X2" / "labels.json").read_text())
    labels.write_text(full[:len(full) // 2 + 5])  # interrupted mid-frame
    (work / "X2" / "labels.json").write_text(json.dumps({**manifest, "done": False}))
    assert main(["labels", "--work", str(work), "--quiet", "--scale", "2", "--general-bicubic"]) == 0
    assert labels.read_text() == full  # the partial frame was redone, complete frames kept
    assert main(["chunks", "--work", str(work), "--quiet", "--scale", "2"]) == 0
    assert (work / "X2" / "k2" / "chunks.txt").read_text() == chunks
    with pytest.raises(ConfigError, match="other settings.*--overwrite"):
        main(["train", "--work", str(work), "--quiet", "--scale", "2", "--net", NET, "--epochs", "2",
              "--batch", "4", "--workers", "0"])


def test_published_table_beside_vsd4k_results():
    from vsrkit.stdo.published import published_markdown, published_rows, vsd4k_video

    assert vsd4k_video("game_15s") == "game_15s" and vsd4k_video("vlog15s_x2") == "vlog_15s"
    assert vsd4k_video("game_45s") is None and published_rows("clip", 2) == []
    assert dict(published_rows("inter_15s", 4))["STDO"] == 38.76
    assert "| STDO | 37.04 (typo?) |" in published_markdown("game_15s", 3)


def test_test_py_on_the_shipped_stdo_protocol_gives_the_pipeline_number(run, tmp_path):
    """vsrkit/test.py with the shipped STDO-protocol file (paths and sizes pointed at the tiny work folder) routes
    every training patch to its chunk's network and pools the MSE: the evaluate stage's number."""
    import yaml

    from vsrkit import test as test_launcher

    work, _ = run
    opt = yaml.safe_load((REPO / "options/test/stdo/test_stdo_wdsr_x2_vsd4k_game15s_stdo.yml").read_text())
    ds = opt["datasets"]["test_stdo"]
    ds.update(dataroot_gt=str(work / "HR"), dataroot_lq=str(work / "LR_bicubic/X2"), video="clip",
              frame_range=[0, 6], patch_grid=[4, 2], patch_chunks_file=str(work / "X2/k2/chunks.txt"))
    opt["network_g"] = yaml.safe_load(NET)
    opt["path"] = {"pretrain_network_g": str(work / "X2/k2/models/net_g_stdo.pth"), "param_key_g": "params",
                   "results_root": str(tmp_path / "res")}
    opt["num_gpu"] = 0
    path = tmp_path / "stdo.yml"
    path.write_text(yaml.safe_dump(opt))
    assert test_launcher.test_main(["-opt", str(path)]) == 0
    csv = (tmp_path / "res" / "game15s_x2_train_patches_metrics.csv").read_text()
    rows = [line.split(",") for line in csv.splitlines()]
    average = dict(zip(rows[0], next(r for r in rows if r[0] == "average")))
    pooled = json.loads((work / "X2" / "k2" / "eval_stdo.json").read_text())["rows"][-1]
    assert float(average["psnr_stdo"]) == pytest.approx(pooled["psnr"], abs=6e-5)  # the CSV has 4 decimals
    assert float(average["bicubic_psnr_stdo"]) == pytest.approx(pooled["bicubic_psnr"], abs=6e-5)


def test_joint_mode_one_conditioned_network_with_weighted_sampling(run, tmp_path):
    import shutil

    from vsrkit.data.vsd4k_dataset import VSD4KDataset
    from vsrkit.stdo.overfit import load_routed

    work, main = run
    joint = tmp_path / "work"
    shutil.copytree(work, joint, ignore=shutil.ignore_patterns("runs", "models", "sr", "train.json", "eval_*"))
    assert main(["train", "--work", str(joint), "--quiet", "--scale", "2", "--mode", "joint", "--net", NET,
                 "--epochs", "1", "--batch", "4", "--workers", "0"]) == 0
    record = json.loads((joint / "X2" / "k2" / "train.json").read_text())
    repeat = record["settings"]["chunk_repeat"]
    assert repeat[0] > repeat[1] == 1  # the hard chunk is drawn more often
    ds = VSD4KDataset(str(joint / "HR"), str(joint / "LR_bicubic" / "X2"), "clip", 2, frame_range=[0, 6],
                      patch_grid=[4, 2], patch_chunks_file=str(joint / "X2/k2/chunks.txt"), chunk=None,
                      route_key="chunk", chunk_repeat=repeat)
    assert len(ds) == 24 * repeat[0] + 24 and ds[0]["chunk"].shape == ()
    model, _ = load_routed(str(joint), 2, 2)
    backbone_params = sum(p.numel() for p in model.net.backbone.parameters())
    assert record["params_per_network"] == [backbone_params + 2 * 2 * 4]  # + gamma, beta of 4 head channels x 2
    assert main(["evaluate", "--work", str(joint), "--quiet", "--scale", "2", "--protocol", "cafm"]) == 0


def test_onnx_export_of_chunk_networks_and_router(run):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from vsrkit.stdo.export import bench_stitched

    work, main = run
    assert main(["export", "--work", str(work), "--quiet", "--scale", "2"]) == 0
    result = json.loads((work / "X2" / "k2" / "onnx" / "export.json").read_text())
    assert len(result["models"]) == 2 and result["router"]["matches_torch"]
    for m in result["models"]:
        assert m["max_abs_diff_vs_torch"] < 1e-5 and m["max_abs_diff_folded_vs_trained"] < 1e-5 and m["bytes"] > 0
    speed = bench_stitched(2, yaml_net(), grid=(4, 2), hr=(32, 64), frames=1)
    assert set(speed["backends"]) == {"torch", "onnxruntime"} and speed["backends"]["torch"]["fps"] > 0


def yaml_net():
    import yaml

    return yaml.safe_load(NET)
