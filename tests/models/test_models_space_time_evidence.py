"""scripts/eval_frame_groups.py: kept and interpolated frames scored apart, beside the trilinear baseline; key-frame
positions and the frames between them, beside bicubic; and the space-time demo data (built on first use from
scikit-image photographs, BI x4, held-out photos)."""
import importlib.util
import json
import os

import cv2
import numpy as np
import pytest
import torch
import yaml
from torch import nn

from vsrkit.errors import ConfigError, DataError
from vsrkit.registry import ARCHS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@ARCHS.register()
class ToyTrilinearST(nn.Module):
    """(n, k, 3, h, w) -> (n, 2k-1, 3, 2h, 2w): bilinear x2 frames, in-between frames their neighbours' mean (the
    trilinear baseline itself), plus ``bias`` on the in-between frames only."""

    def __init__(self, bias: float = 0.0):
        super().__init__()
        self.bias = nn.Parameter(torch.tensor(float(bias)))

    def forward(self, lq):
        n, k, c, h, w = lq.shape
        up = nn.functional.interpolate(lq.flatten(0, 1), scale_factor=2, mode="bilinear", align_corners=False)
        up = up.view(n, k, c, 2 * h, 2 * w)
        out = up.new_empty(n, 2 * k - 1, c, 2 * h, 2 * w)
        out[:, 0::2] = up
        out[:, 1::2] = (up[:, :-1] + up[:, 1:]) / 2 + self.bias
        return out


@ARCHS.register()
class ToyKeyFrameBlend(nn.Module):
    """(n, T, 1, h, w) LR Y frames + (n, 2, 1, 2h, 2w) key frames -> (n, 1, 2h, 2w): the bicubic x2 of the centre
    frame blended with the past key frame by ``alpha`` (0: the bicubic baseline itself)."""

    def __init__(self, alpha: float = 0.0):
        super().__init__()
        self.alpha = nn.Parameter(torch.tensor(float(alpha)))

    def forward(self, lq, ref):
        from vsrkit.models.video_sr_model import bicubic_upsample, centre

        return (1 - self.alpha) * bicubic_upsample(centre(lq), 2)[:, 0] + self.alpha * ref[:, 0]


def _script():
    path = os.path.join(ROOT, "scripts", "eval_frame_groups.py")
    spec = importlib.util.spec_from_file_location("eval_frame_groups", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kept_and_interpolated_frames_beside_the_trilinear_baseline(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for c in range(2):
        for f in range(9):
            gt = cv2.resize((rng.random((6, 6, 3)) * 255).astype(np.uint8), (16, 16), interpolation=cv2.INTER_CUBIC)
            for sub, img in (("gt", gt), ("lq", cv2.resize(gt, (8, 8), interpolation=cv2.INTER_AREA))):
                path = tmp_path / sub / f"clip{c}" / f"{f:08d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(path), img)
    opt = tmp_path / "test.yml"
    opt.write_text(yaml.safe_dump({
        "name": "ev", "model_type": "SpaceTimeVSRModel", "scale": 2, "num_gpu": 0,
        "network_g": {"type": "ToyTrilinearST"}, "val": {"window": 4, "stride": 3, "metrics": {
            "psnr": {"type": "psnr"}, "ssim": {"type": "ssim"}}},
        "datasets": {"test": {"name": "toy", "type": "VideoFolderDataset", "dataroot_gt": str(tmp_path / "gt"),
                              "dataroot_lq": str(tmp_path / "lq"), "scale": 2, "test_mode": True,
                              "drop_even_frames": True}}}))
    for name, bias in (("same", 0.0), ("brighter", 0.05)):
        torch.save({"params": ToyTrilinearST(bias).state_dict()}, tmp_path / f"{name}.pth")
    out = tmp_path / "out"
    assert _script().main(["--opt", str(opt), "--variant", f"same={tmp_path / 'same.pth'}",
                           f"brighter={tmp_path / 'brighter.pth'}", "--out", str(out)]) == 0
    assert "kept = frames with an LR frame" in capsys.readouterr().out
    rows = {r[0]: r[1:] for r in (line.split(",") for line in (out / "space_time_toy.csv").read_text().splitlines())}
    assert rows["model"] == [f"{m} {p}" for m in ("psnr", "ssim") for p in ("kept", "interpolated", "all")]
    assert rows["same"] == rows["trilinear"]  # the baseline network scores exactly as the baseline
    assert [float(v) for v in rows["same - trilinear"]] == [0.0] * 6
    kept, interp, _ = (float(v) for v in rows["brighter - same"][:3])
    assert kept == 0.0 and interp < -0.1  # only the in-between frames changed
    # the kept baseline frames, by hand: every even frame of each clip (LR frames 0, 2, 4, 6, 8), mean per clip
    from vsrkit.metrics import calculate_psnr

    per_clip = []
    for c in range(2):
        vals = []
        for f in range(0, 9, 2):
            lr = cv2.imread(str(tmp_path / "lq" / f"clip{c}" / f"{f:08d}.png"))[..., ::-1].copy()
            up = nn.functional.interpolate(torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255, scale_factor=2,
                                           mode="bilinear", align_corners=False)[0]
            base = (up.clamp(0, 1).permute(1, 2, 0) * 255).round().byte().numpy()
            vals.append(calculate_psnr(base, cv2.imread(str(tmp_path / "gt" / f"clip{c}" / f"{f:08d}.png"))[..., ::-1]))
        per_clip.append(np.mean(vals))
    assert float(rows["trilinear"][0]) == pytest.approx(np.mean(per_clip), abs=1e-4)
    with pytest.raises(ConfigError, match="no --variant named"):
        _script().main(["--opt", str(opt), "--variant", f"a={tmp_path / 'same.pth'}", "--variant-set", "b:x=1"])


def test_key_frame_positions_apart_from_the_others_beside_bicubic(tmp_path, capsys):
    from vsrkit.data.storage import write_yuv420, yuv_file_name
    from vsrkit.data.synthetic import downscale, translating_clip

    n, h, w = 9, 32, 32
    for c in range(2):
        raw, _, _ = translating_clip(n, h, w, (2, 1), seed=c)
        keys = np.clip(raw[::4].astype(int) + 1, 0, 255).astype(np.uint8)  # frames 0, 4, 8, slightly off
        for sub, frames in (("raw", raw), ("lr", downscale(raw, 2)), ("key", keys)):
            (tmp_path / sub).mkdir(exist_ok=True)
            write_yuv420(str(tmp_path / sub / yuv_file_name(f"seq{c}", *frames.shape[2:0:-1], len(frames))), frames)
    opt = tmp_path / "test.yml"
    opt.write_text(yaml.safe_dump({
        "name": "ev", "model_type": "VideoSRModel", "scale": 2, "num_gpu": 0, "network_g": {"type": "ToyKeyFrameBlend"},
        "val": {"rounding": "none", "metrics": {"psnr_y": {"type": "psnr", "y_mode": "yuv", "rounding": "none"}}},
        "datasets": {"test": {"name": "toy", "type": "MFQEv2Dataset", "dataroot_gt": str(tmp_path / "raw"),
                              "dataroot_lq": str(tmp_path / "lr"), "dataroot_key": str(tmp_path / "key"),
                              "scale": 2, "num_frame": 3, "test_mode": True, "color": "y"}}}))
    for name, alpha in (("same", 0.0), ("copy", 1.0)):
        torch.save({"params": ToyKeyFrameBlend(alpha).state_dict()}, tmp_path / f"{name}.pth")
    out = tmp_path / "out"
    assert _script().main(["--groups", "key_frames", "--opt", str(opt), "--variant", f"same={tmp_path / 'same.pth'}",
                           f"copy={tmp_path / 'copy.pth'}", "--out", str(out)]) == 0
    assert "key = key-frame positions" in capsys.readouterr().out
    rows = {r[0]: r[1:] for r in (line.split(",") for line in (out / "key_frames_toy.csv").read_text().splitlines())}
    assert rows["model"] == ["psnr_y key", "psnr_y other", "psnr_y all"]
    assert rows["same"] == rows["bicubic"] and [float(v) for v in rows["same - bicubic"]] == [0.0] * 3
    key, other, _ = (float(v) for v in rows["copy - bicubic"])
    assert key > 2 and other < -10  # the key frame is the target at key positions, a moved frame elsewhere
    with pytest.raises(ConfigError, match="model_type is 'VideoSRModel'; --groups space_time"):
        _script().main(["--opt", str(opt), "--variant", f"a={tmp_path / 'same.pth'}"])


def test_space_time_demo_data(tmp_path):
    from vsrkit.data.demo_builder import VAL_PHOTOS
    from vsrkit.data.stvsr_demo_dataset import SpaceTimeDemoDataset, build_stvsr_demo

    root = tmp_path / "demo"
    kw = dict(num_train_clips=2, num_val_clips=1, num_frames=7, hr_size=32, frame_step=2)
    train = SpaceTimeDemoDataset(str(root), split="train", gt_size=16, **kw)
    item = train[0]
    assert item["lq"].shape == (4, 3, 4, 4) and item["gt"].shape == (7, 3, 16, 16)
    val = SpaceTimeDemoDataset(str(root), split="val", test_mode=True, **kw)
    assert len(val) == 1 and val[0]["lq"].shape == (4, 3, 8, 8) and val[0]["gt"].shape == (7, 3, 32, 32)
    manifest = json.loads((root / "manifest.json").read_text())
    assert all(v["photo"] in VAL_PHOTOS for v in manifest["clips"]["val"].values())
    assert not any(v["photo"] in VAL_PHOTOS for v in manifest["clips"]["train"].values())
    # LR = MATLAB bicubic of the HR frame; the camera moves between frames
    from vsrkit.degrade import imresize

    clip = next(iter(manifest["clips"]["val"]))
    gt = [cv2.imread(str(root / "val" / "gt" / clip / f"{i:08d}.png")) for i in range(7)]
    lq = cv2.imread(str(root / "val" / "lq" / clip / "00000000.png"))
    assert np.abs(imresize(gt[0], 0.25).astype(int) - lq.astype(int)).max() == 0
    assert np.abs(gt[1].astype(int) - gt[0].astype(int)).mean() > 1
    mtime = (root / "manifest.json").stat().st_mtime_ns
    build_stvsr_demo(str(root), **kw)  # reused as it is
    assert (root / "manifest.json").stat().st_mtime_ns == mtime
    with pytest.raises(DataError, match="other settings|these settings"):
        build_stvsr_demo(str(root), **{**kw, "seed": 1})
    with pytest.raises(ConfigError, match="odd"):
        SpaceTimeDemoDataset(str(tmp_path / "x"), num_frames=8)
