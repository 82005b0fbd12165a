"""Every method shape trains and tests through the launchers with a toy network registered here (new files only):
recurrent, sliding window -> centre frame, space-time 4 -> 7, k routed networks, and Y-only output with HR side
inputs."""
import cv2
import numpy as np
import pytest
import torch
import yaml
from torch import nn
from torch.utils.data import Dataset

from vsrkit.registry import ARCHS, DATASETS
from vsrkit import test as test_launcher
from vsrkit.train import train_main

SCALE = 2


def _upsampler(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out * SCALE * SCALE, 3, 1, 1), nn.PixelShuffle(SCALE))


@ARCHS.register()
class ToyRecurrentNet(nn.Module):
    """(n, t, 3, h, w) -> (n, t, 3, 2h, 2w): each frame plus a running mean of the previous ones."""

    def __init__(self, ch: int = 4):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(6, ch, 3, 1, 1), nn.ReLU(), _upsampler(ch, 3))

    def forward(self, lq):
        state, outs = torch.zeros_like(lq[:, 0]), []
        for i in range(lq.shape[1]):
            outs.append(self.body(torch.cat([lq[:, i], state], 1)))
            state = 0.5 * (state + lq[:, i])
        return torch.stack(outs, 1)


@ARCHS.register()
class ToyWindowNet(nn.Module):
    """(n, t, c, h, w) window -> (n, c, 2h, 2w) centre frame."""

    def __init__(self, num_frame: int = 3, channels: int = 3):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(num_frame * channels, 4, 3, 1, 1), nn.ReLU(), _upsampler(4, channels))

    def forward(self, lq):
        return self.body(lq.flatten(1, 2))


@ARCHS.register()
class ToySpaceTimeNet(nn.Module):
    """(n, 4, 3, h, w) -> (n, 7, 3, 2h, 2w): the in-between frames from each neighbouring pair."""

    def __init__(self):
        super().__init__()
        self.up = _upsampler(3, 3)
        self.mid = nn.Conv2d(6, 3, 3, 1, 1)

    def forward(self, lq):
        frames = []
        for i in range(lq.shape[1]):
            if i:
                frames.append(self.up(self.mid(torch.cat([lq[:, i - 1], lq[:, i]], 1))))
            frames.append(self.up(lq[:, i]))
        return torch.stack(frames, 1)


@ARCHS.register()
class ToyRefNet(nn.Module):
    """Y only: (n, 3, 1, h, w) window + (n, 2, 1, 2h, 2w) full-resolution references -> (n, 1, 2h, 2w)."""

    def __init__(self):
        super().__init__()
        self.up = _upsampler(3, 1)
        self.ref = nn.Conv2d(2, 1, 3, 1, 1)

    def forward(self, lq, ref):
        return self.up(lq.flatten(1, 2)) + self.ref(ref.flatten(1, 2))


@DATASETS.register()
class ToyChunkDataset(Dataset):
    """STDO-like items. Training: 8x8 LR patches with a chunk id (dark patches -> 0, bright -> 1). Test: whole
    16x16 frames with the chunk id of each patch of a 2x2 grid."""

    def __init__(self, test_mode: bool = False, num_items: int = 4):
        self.test_mode, self.num_items = test_mode, num_items
        gen = torch.Generator().manual_seed(7)
        self.gt = torch.rand(num_items, 3, 32, 32, generator=gen)
        self.gt[:, :, :16] *= 0.3  # top half dark

    def __len__(self):
        return self.num_items if self.test_mode else 4 * self.num_items

    def _lq(self, gt):
        return torch.nn.functional.avg_pool2d(gt, SCALE)

    def __getitem__(self, index):
        if self.test_mode:
            gt = self.gt[index]
            chunk = torch.tensor([[0, 0], [1, 1]])
            return {"lq": self._lq(gt)[None], "gt": gt[None], "chunk": chunk, "clip": f"frame{index}",
                    "frame_ids": torch.tensor([0]), "key": f"frame{index}"}
        item, patch = divmod(index, 4)
        r, c = divmod(patch, 2)
        gt = self.gt[item, :, r * 16:(r + 1) * 16, c * 16:(c + 1) * 16]
        return {"lq": self._lq(gt)[None], "gt": gt[None], "chunk": torch.tensor(int(r == 1)),
                "clip": f"frame{item}", "frame_ids": torch.tensor([0]), "key": f"frame{item}/{patch}"}


@DATASETS.register()
class ToyRefDataset(Dataset):
    """Y windows of 3 LR frames, 2 full-resolution key-frame references, the HR centre frame as GT."""

    def __init__(self, test_mode: bool = False, num_items: int = 4):
        self.num_items = num_items
        gen = torch.Generator().manual_seed(3)
        self.frames = torch.rand(num_items, 5, 1, 16, 16, generator=gen)

    def __len__(self):
        return self.num_items

    def __getitem__(self, index):
        hr = self.frames[index]
        lq = torch.nn.functional.avg_pool2d(hr[1:4], SCALE)
        return {"lq": lq, "ref": hr[[0, 4]], "gt": hr[2:3], "clip": f"clip{index // 2}",
                "frame_ids": torch.tensor([index % 2]), "key": f"clip{index // 2}/{index % 2}"}


def _write_clips(root, clips=2, frames=9, size=16):
    """GT (size x size) and LQ (size / 2) PNG clips under root/gt and root/lq."""
    rng = np.random.default_rng(0)
    for c in range(clips):
        for f in range(frames):
            gt = (rng.random((size, size, 3)) * 255).astype(np.uint8)
            lq = cv2.resize(gt, (size // SCALE, size // SCALE), interpolation=cv2.INTER_AREA)
            for sub, img in (("gt", gt), ("lq", lq)):
                path = root / sub / f"clip{c}" / f"{f:08d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(path), img)


def _run(tmp_path, options: dict, name: str):
    """Train 2 iterations, then test the latest weights; returns the test table rows, experiment and result folders."""
    exp, res = tmp_path / "exp", tmp_path / "res"
    opt = {"name": name, "scale": SCALE, "num_gpu": 0,
           "train": {"total_iter": 2, "optim_g": {"type": "Adam", "lr": 1e-3},
                     "losses": [{"type": "L1Loss", "name": "l_pix"},
                                {"type": "MSELoss", "weight": 0.5, "name": "l_mse"}]},
           "val": {"val_freq": 2, "metrics": {"psnr": {"type": "psnr", "published": True},
                                              "psnr_float": {"type": "psnr", "rounding": "none"}}},
           "path": {"experiments_root": str(exp), "results_root": str(res)},
           "logger": {"print_freq": 1, "save_checkpoint_freq": 2, "use_tb_logger": False}}
    for key, value in options.items():
        opt[key] = {**opt[key], **value} if isinstance(opt.get(key), dict) else value
    path = tmp_path / f"{name}.yml"
    path.write_text(yaml.safe_dump(opt))
    assert train_main(["-opt", str(path)]) == 0
    assert test_launcher.test_main(["-opt", str(path), "--set",
                                    f"path.pretrain_network_g={exp}/models/net_g_latest.pth", "val.save_img=true"]) == 0
    csv = (res / "test_metrics.csv").read_text().splitlines()
    return [line.split(",") for line in csv], exp, res


def _synthetic(**kw):
    return {"type": "SyntheticVideoDataset", "num_clips": 2, "num_frame": 3, "lq_size": 8, "scale": SCALE, **kw}


def _folders(root, **kw):
    return {"type": "VideoFolderDataset", "dataroot_gt": str(root / "gt"), "dataroot_lq": str(root / "lq"),
            "scale": SCALE, **kw}


def test_recurrent_whole_clip(tmp_path):
    rows, exp, res = _run(tmp_path, {
        "datasets": {"train": _synthetic(batch_size_per_gpu=2), "val": _synthetic(num_frame=4, seed=50),
                     "test": _synthetic(num_frame=4, seed=50)},
        "network_g": {"type": "ToyRecurrentNet"}}, "recurrent")
    assert rows[0] == ["clip", "psnr", "psnr_float", "bicubic_psnr", "bicubic_psnr_float"]
    assert [r[0] for r in rows[1:]] == ["synthetic_0000", "synthetic_0001", "average"]
    assert len(list((res / "test" / "synthetic_0000").glob("*.png"))) == 4
    log = next((exp / "logs").glob("train_*.log")).read_text()
    assert "l_pix: " in log and "l_mse: " in log and "l_total: " in log
    md = (res / "test_metrics.md").read_text()
    assert md.startswith("| clip | psnr† | psnr_float | bicubic_psnr† |") and "† the paper's published" in md


def test_sliding_window_centre_frame(tmp_path):
    _write_clips(tmp_path)
    rows, _, res = _run(tmp_path, {
        "datasets": {"train": _folders(tmp_path, num_frame=3, gt_frames="center", gt_size=8, batch_size_per_gpu=2),
                     "test": _folders(tmp_path, test_mode=True, num_frame=3, gt_frames="center",
                                      padding="replicate")},
        "network_g": {"type": "ToyWindowNet", "num_frame": 3}}, "window")
    assert [r[0] for r in rows[1:]] == ["clip0", "clip1", "average"]  # windows grouped into their clips
    assert sorted(p.name for p in (res / "test" / "clip0").glob("*.png")) == [f"{i:08d}.png" for i in range(9)]


def test_space_time_four_to_seven(tmp_path):
    _write_clips(tmp_path)
    rows, _, res = _run(tmp_path, {
        "model_type": "SpaceTimeVSRModel",
        "datasets": {"train": _folders(tmp_path, num_frame=7, drop_even_frames=True, batch_size_per_gpu=1),
                     "test": _folders(tmp_path, test_mode=True, drop_even_frames=True)},
        "network_g": {"type": "ToySpaceTimeNet"}, "val": {"window": 4, "stride": 3}}, "spacetime")
    assert rows[0] == ["clip", "psnr", "psnr_float"]  # no bicubic column for in-between frames
    # 9 frames -> 5 LQ frames -> windows at LQ 0 and 1 -> HR 0..6 and 2..8: every frame once
    assert sorted(p.name for p in (res / "test" / "clip1").glob("*.png")) == [f"{i:08d}.png" for i in range(9)]


def test_routed_networks_one_file_each_and_stitched_frames(tmp_path):
    rows, exp, res = _run(tmp_path, {
        "model_type": "RoutedVSRModel", "route": {"key": "chunk", "num_networks": 2},
        "datasets": {"train": {"type": "ToyChunkDataset", "batch_size_per_gpu": 4},
                     "test": {"type": "ToyChunkDataset", "test_mode": True}},
        "network_g": {"type": "ToyWindowNet", "num_frame": 1}}, "routed")
    models = exp / "models"
    assert (models / "net_g_latest_net0.pth").is_file() and (models / "net_g_latest_net1.pth").is_file()
    index = torch.load(models / "net_g_latest.pth", weights_only=True)
    assert index["routed"]["files"] == ["net_g_latest_net0.pth", "net_g_latest_net1.pth"]
    # the stitched test frame equals each patch run through its own network
    nets = []
    for j in range(2):
        net = ToyWindowNet(num_frame=1)
        net.load_state_dict(torch.load(models / f"net_g_latest_net{j}.pth", weights_only=True)["params"])
        nets.append(net.eval())
    lq = ToyChunkDataset(test_mode=True)[0]["lq"][None]
    with torch.no_grad():  # 2x2 grid of 8x8 LR patches; the top row goes to network 0, the bottom row to 1
        rows_out = [torch.cat([nets[r](lq[..., 8 * r:8 * r + 8, 8 * c:8 * c + 8]) for c in range(2)], dim=-1)
                    for r in range(2)]
    expected = (torch.cat(rows_out, dim=-2)[0].clamp(0, 1).permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    saved = cv2.imread(str(res / "test" / "frame0" / "00000000.png"))[..., ::-1]
    diff = np.abs(saved.astype(int) - expected.astype(int))  # batched vs single convs: float rounding only
    assert diff.max() <= 1 and (diff == 0).mean() > 0.99
    assert len(rows) == 1 + 4 + 1


def test_y_only_output_with_full_resolution_references(tmp_path):
    rows, _, _ = _run(tmp_path, {
        "datasets": {"train": {"type": "ToyRefDataset", "batch_size_per_gpu": 2},
                     "test": {"type": "ToyRefDataset", "test_mode": True}},
        "network_g": {"type": "ToyRefNet"},
        "val": {"metrics": {"psnr": {"type": "psnr", "y_mode": "yuv"}}}}, "yref")
    assert rows[0] == ["clip", "psnr", "bicubic_psnr"]
    assert [r[0] for r in rows[1:]] == ["clip0", "clip1", "average"]


def test_best_checkpoint_by_lowest_training_loss(tmp_path):
    _, exp, _ = _run(tmp_path, {
        "datasets": {"train": _synthetic(batch_size_per_gpu=1), "test": _synthetic(num_clips=1)},
        "network_g": {"type": "ToyRecurrentNet"}, "val": {"val_freq": 1, "best": {"metric": "train/l_pix",
                                                                                  "mode": "min"}}}, "bestloss")
    best = torch.load(exp / "models" / "net_g_best.pth", weights_only=True)["meta"]
    assert best["metric"] == "train/l_pix" and best["mode"] == "min"


def test_model_declared_option_keys_are_checked(tmp_path):
    from vsrkit.errors import ConfigError
    from vsrkit.options import load_options

    path = tmp_path / "o.yml"
    path.write_text("name: x\nmodel_type: SpaceTimeVSRModel\nval: {window: 4, strid: 3}\n")
    with pytest.raises(ConfigError, match=r"unknown key 'val.strid'; did you mean 'stride'"):
        load_options(path)
    path.write_text("name: x\nval: {window: 4}\n")  # VideoSRModel does not declare 'window'
    with pytest.raises(ConfigError, match=r"unknown key 'val.window'"):
        load_options(path)
    path.write_text("name: x\nmodel_type: RoutedVSRModel\nroute: {key: chunk, num_networks: 2}\n")
    assert load_options(path)["route"] == {"key": "chunk", "num_networks": 2}
