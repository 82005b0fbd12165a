"""MSITF's space-time protocol end to end, through the shipped option files: train on Vimeo-90K-layout septuplets
(LR im1/3/5/7 -> all 7), then test on Vid4-named clips (even frames dropped, 4-frame windows stride 3, frames
already scored skipped, published numbers printed beside the table) and on a Vimeo test list. A tiny MSITF; the
data are panning textures made here and degraded with MATLAB-exact bicubic (degradation/make_lr.py's function)."""
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml

from vsrkit import test as test_launcher
from vsrkit.archs.msitf_arch import MSITF
from vsrkit.degrade.build import make_lr
from vsrkit.metrics import calculate_psnr, tensor_to_uint8
from vsrkit.train import train_main

REPO = Path(__file__).resolve().parents[2]
TINY = {"num_feat": 8, "deformable_groups": 2, "num_extract_blocks": 1, "attn_heads": 2, "swin_depths": [1],
        "swin_heads": 2, "window_size": 4, "mlp_ratio": 1.0, "drop_path_rate": 0.0}
#: Vid4's clip names, with short lengths: city has an even number of frames (its last GT frame has no window)
VID4 = {"calendar": 9, "city": 8, "foliage": 7, "walk": 7}
HR = 32


def _pan(rng, frames: int) -> list[np.ndarray]:
    """``frames`` HR crops panning over a smooth random texture by 1-2 pixels per frame."""
    tex = cv2.resize((rng.random((24, 24, 3)) * 255).astype(np.uint8), (HR + 40, HR + 40),
                     interpolation=cv2.INTER_CUBIC)
    vy, vx = rng.integers(1, 3, size=2)
    return [np.ascontiguousarray(tex[vy * t:vy * t + HR, vx * t:vx * t + HR]) for t in range(frames)]


def _write(folder: Path, frames: list[np.ndarray], names) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for frame, name in zip(frames, names):
        cv2.imwrite(str(folder / name), frame)


def _data(root: Path) -> None:
    rng = np.random.default_rng(0)
    seq = root / "vimeo" / "sequences" / "00001"
    clips = [f"{i:04d}" for i in range(1, 4)]
    for clip in clips:
        _write(seq / clip, _pan(rng, 7), [f"im{i}.png" for i in range(1, 8)])
    (root / "vimeo" / "train.txt").write_text("".join(f"00001/{c}\n" for c in clips[:2]))
    (root / "vimeo" / "test.txt").write_text(f"00001/{clips[2]}\n")
    make_lr(str(seq), str(root / "vimeo" / "BIx4" / "00001"), "bi", 4, progress=False)
    for clip, n in VID4.items():
        _write(root / "Vid4" / "GT" / clip, _pan(rng, n), [f"{i:08d}.png" for i in range(n)])
    make_lr(str(root / "Vid4" / "GT"), str(root / "Vid4" / "BIx4_matlab"), "bi", 4, progress=False)


def _options(tmp: Path, name: str, shipped: str, extra: dict) -> Path:
    opt = {"_base_": str(REPO / "options" / shipped), "num_gpu": 0, "network_g": TINY,
           "path": {"experiments_root": str(tmp / "exp"), "results_root": str(tmp / "res" / name)}, **extra}
    path = tmp / f"{name}.yml"
    path.write_text(yaml.safe_dump(opt))
    return path


def test_msitf_trains_and_tests_the_space_time_protocol(tmp_path, capsys):
    _data(tmp_path)
    vimeo, vid4 = tmp_path / "vimeo", tmp_path / "Vid4"
    vid4_set = {"dataroot_gt": str(vid4 / "GT"), "dataroot_lq": str(vid4 / "BIx4_matlab"), "meta_info_file": None}
    train = _options(tmp_path, "train", "train/msitf/train_msitf_vimeo_bi.yml", {
        "datasets": {"train": {"dataroot_gt": str(vimeo / "sequences"), "dataroot_lq": str(vimeo / "BIx4"),
                               "meta_info_file": str(vimeo / "train.txt"), "gt_size": 16, "batch_size_per_gpu": 2,
                               "num_worker_per_gpu": 0, "pin_memory": False},
                     "val": vid4_set},
        "train": {"total_iter": 2, "scheduler": {"periods": [2], "restart_weights": [1]}},
        "val": {"val_freq": 100},  # no validation during these 2 iterations: test.py scores below
        "logger": {"print_freq": 1, "save_checkpoint_freq": 2, "use_tb_logger": False}})
    assert train_main(["-opt", str(train)]) == 0
    ckpt = tmp_path / "exp" / "models" / "net_g_latest.pth"
    log = next((tmp_path / "exp" / "logs").glob("train_*.log")).read_text()
    # Charbonnier summed over 2 x 7 x 3 x 16 x 16 elements: far above any mean-reduced value
    assert float(log.split("l_pix: ")[1].split()[0].rstrip(",")) > 100

    capsys.readouterr()
    test = _options(tmp_path, "vid4", "test/msitf/test_msitf_vid4_bi.yml", {
        "datasets": {"test_vid4": vid4_set}, "val": {"save_img": True}})
    assert test_launcher.test_main(["-opt", str(test), "--set", f"path.pretrain_network_g={ckpt}"]) == 0
    printed = capsys.readouterr().out
    res = tmp_path / "res" / "vid4"
    rows = [r.split(",") for r in (res / "Vid4_BIx4_metrics.csv").read_text().splitlines()]
    assert rows[0] == ["clip", "psnr_rgb", "psnr_y601", "ssim_rgb", "ssim_y601"]  # no bicubic column
    assert [r[0] for r in rows[1:]] == ["calendar", "city", "foliage", "walk", "average"]
    # the published numbers beside ours, with the difference
    assert "published results: MSITF published Vid4 test log" in printed
    side = printed.split("published results:")[1]
    calendar = next(line for line in side.splitlines() if line.startswith("| calendar"))
    ours = float(rows[1][1])
    assert calendar.split(" | ")[1:4] == [f"{ours:.3f}", "22.477", f"{ours - 22.477:+.3f}"]
    assert "| average |" in side and "25.149" in side and "26.696" in side

    # every GT frame a window produces, once: 9 frames -> LR 0,2,..,8 -> windows at LR 0 and 1 -> HR 0..8;
    # city's 8 frames -> LR 0,2,4,6 -> one window -> HR 0..6 (frame 7 follows the last LR frame)
    saved = {c: sorted(p.name for p in (res / "Vid4_BIx4" / c).glob("*.png")) for c in VID4}
    assert saved == {c: [f"{i:08d}.png" for i in range(n if n % 2 else n - 1)] for c, n in VID4.items()}
    # the frames are the network's outputs at clip positions 2 * start + j; frame 2 comes from the first window
    # (scored once, not replaced by the second window's), frame 8 from the second
    net = MSITF(**TINY)
    net.load_state_dict(torch.load(ckpt, weights_only=True)["params"])
    lr = np.stack([cv2.imread(str(vid4 / "BIx4_matlab" / "calendar" / f"{i:08d}.png"))[..., ::-1]
                   for i in range(0, 9, 2)])
    lq = torch.from_numpy(lr.copy()).permute(0, 3, 1, 2).float().div(255)[None]
    with torch.no_grad():
        first, second = net.eval()(lq[:, :4]), net(lq[:, 1:])
    for frame, expected in ((2, first[0, 2]), (8, second[0, 6]), (7, second[0, 5])):
        png = cv2.imread(str(res / "Vid4_BIx4" / "calendar" / f"{frame:08d}.png"))[..., ::-1]
        ref = (expected.clamp(0, 1).permute(1, 2, 0) * 255).round().numpy()
        assert np.abs(png.astype(float) - ref).max() <= 1, frame
    assert not np.array_equal(first[0, 2].numpy(), second[0, 0].numpy())

    # a Vimeo test list: one septuplet, all 7 frames scored; clips that are not Vid4 print no published table;
    # val.baseline: trilinear adds the space-time baseline's columns
    test = _options(tmp_path, "vimeo", "test/msitf/test_msitf_vimeo_bi.yml", {
        "datasets": {"test_vimeo": {"dataroot_gt": str(vimeo / "sequences"), "dataroot_lq": str(vimeo / "BIx4"),
                                    "meta_info_file": str(vimeo / "test.txt")}}})
    assert test_launcher.test_main(["-opt", str(test), "--set", f"path.pretrain_network_g={ckpt}",
                                    "val.baseline=trilinear"]) == 0
    assert "published results:" not in capsys.readouterr().out
    rows = [r.split(",") for r in (tmp_path / "res" / "vimeo" / "Vimeo_test_BIx4_metrics.csv").read_text().splitlines()]
    assert [r[0] for r in rows[1:]] == ["00001/0003", "average"]
    assert rows[0][5:] == ["trilinear_psnr_rgb", "trilinear_psnr_y601", "trilinear_ssim_rgb", "trilinear_ssim_y601"]
    # the baseline: LR im1/3/5/7 bilinear x4, the in-between frames the mean of their neighbours
    read = (lambda root, i: cv2.imread(str(root / "00001" / "0003" / f"im{i}.png"))[..., ::-1].copy())
    lr = torch.from_numpy(np.stack([read(vimeo / "BIx4", i) for i in (1, 3, 5, 7)])).permute(0, 3, 1, 2) / 255
    up = torch.nn.functional.interpolate(lr, scale_factor=4, mode="bilinear", align_corners=False)
    frames = torch.stack([up[0], (up[0] + up[1]) / 2, up[1], (up[1] + up[2]) / 2, up[2], (up[2] + up[3]) / 2, up[3]])
    base = tensor_to_uint8(frames.clamp(0, 1))
    psnr = np.mean([calculate_psnr(base[i], read(vimeo / "sequences", i + 1)) for i in range(7)])
    assert abs(float(rows[1][5]) - psnr) < 1e-3
