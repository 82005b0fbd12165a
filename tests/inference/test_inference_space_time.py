"""Space-time inference: streamed windows (the test protocol's windows, each output position once), tiles, and
scripts/infer_video.py doubling the frame rate of a real H.264 clip at exactly twice its frame rate."""
import importlib.util
import os
from fractions import Fraction

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from vsrkit.archs.msitf_arch import MSITF
from vsrkit.errors import ConfigError
from vsrkit.inference import InferenceSettings
from vsrkit.inference.space_time import (count_space_time_runs, iter_space_time_frames, space_time_window,
                                         window_starts)
from vsrkit.models.space_time_model import SpaceTimeVSRModel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = {"num_feat": 8, "deformable_groups": 2, "num_extract_blocks": 1, "attn_heads": 2, "swin_depths": [1],
        "swin_heads": 2, "window_size": 4, "mlp_ratio": 1.0, "drop_path_rate": 0.0}


class PixelSpaceTime(nn.Module):
    """Per-pixel toy: (n, k, 3, h, w) -> (n, 2k-1, 3, 2h, 2w); frame 2i = 2 * input i, frame 2i+1 = the sum of inputs
    i and i+1, plus the window's first frame (so each window's outputs differ) — exact under any tiling."""

    def forward(self, lq):
        n, k = lq.shape[:2]
        out = lq.new_empty(n, 2 * k - 1, *lq.shape[2:])
        out[:, 0::2] = 2 * lq
        out[:, 1::2] = lq[:, :-1] + lq[:, 1:]
        out = out + lq[:, :1]
        return out.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)


def _stream(lq):
    return ({"lq": lq[0, i]} for i in range(lq.shape[1]))


@pytest.mark.parametrize("t", [2, 3, 4, 5, 7, 9, 10])
def test_streamed_windows_are_the_test_protocols_and_every_position_comes_once(t):
    lq = torch.rand(1, t, 3, 6, 5, generator=torch.Generator().manual_seed(t))
    net = PixelSpaceTime()
    parts = list(iter_space_time_frames(net, _stream(lq), 4, 3, InferenceSettings(scale=2)))
    firsts = [f for f, _ in parts]
    out = torch.cat([o for _, o in parts], dim=1)
    assert out.shape == (1, 2 * t - 1, 3, 12, 10)
    assert firsts == [sum(o.shape[1] for _, o in parts[:i]) for i in range(len(parts))]  # contiguous, in order
    starts = window_starts(t, 4, 3)
    if t >= 4:
        model = SpaceTimeVSRModel.__new__(SpaceTimeVSRModel)  # only its window logic
        model.opt, model.where = {"val": {"window": 4, "stride": 3}}, "test"
        assert starts == model.window_starts(t)
    expected, done = [], 0  # each position from the first window that produced it
    for s in starts:
        y = net(lq[:, s:s + 4])
        expected.append(y[:, done - 2 * s:])
        done = 2 * s + y.shape[1]
    assert torch.equal(out, torch.cat(expected, dim=1))


def test_tiles_and_window_counts():
    lq = torch.rand(1, 9, 3, 20, 28, generator=torch.Generator().manual_seed(0))
    net = PixelSpaceTime()
    whole = torch.cat([o for _, o in iter_space_time_frames(net, _stream(lq), 4, 3, InferenceSettings(scale=2))], 1)
    calls = []
    settings = InferenceSettings(scale=2, tile=8, tile_overlap=2)
    tiled = torch.cat([o for _, o in iter_space_time_frames(net, _stream(lq), 4, 3, settings,
                                                            progress=type("P", (), {"update": calls.append})())], 1)
    assert torch.allclose(tiled, whole, atol=1e-6)
    assert len(calls) == count_space_time_runs(9, 20, 28, 4, 3, settings) == 3 * 3 * 5  # 3 windows (0, 3, 5), 3 x 5 tiles


def test_space_time_errors():
    with pytest.raises(ConfigError, match="at least 2 frames"):
        list(iter_space_time_frames(PixelSpaceTime(), _stream(torch.rand(1, 1, 3, 4, 4)), 4, 3))
    with pytest.raises(ConfigError, match="stride"):
        list(iter_space_time_frames(PixelSpaceTime(), _stream(torch.rand(1, 5, 3, 4, 4)), 4, 4))
    with pytest.raises(ConfigError, match="expected 7"):  # a network that keeps the frame rate
        list(iter_space_time_frames(nn.Upsample(scale_factor=(1, 4, 4)), _stream(torch.rand(1, 4, 3, 4, 4)), 4, 3))
    assert space_time_window({"model_type": "VideoSRModel"}) is None
    assert space_time_window({"model_type": "SpaceTimeVSRModel", "val": {"window": 5, "stride": 2}}) == (5, 2)


def _photo_clip(t: int, h: int, w: int) -> np.ndarray:
    """``t`` frames panning over a real photograph (scikit-image's astronaut), 2 px right per frame."""
    import cv2
    import skimage.data

    photo = cv2.resize(skimage.data.astronaut(), (4 * w, 4 * h), interpolation=cv2.INTER_AREA)
    return np.stack([np.ascontiguousarray(photo[h:2 * h, 2 * k:2 * k + w]) for k in range(t)])


def test_infer_video_doubles_the_frame_rate_of_a_real_clip(tmp_path):
    import av

    from vsrkit.codec import decode_video, encode_h264

    t, h, w = 6, 16, 32
    clip = tmp_path / "in.mp4"
    encode_h264(_photo_clip(t, h, w), str(clip), crf=18, fps=Fraction(30000, 1001))
    opt = tmp_path / "opt.yml"
    opt.write_text(yaml.safe_dump({"name": "st", "scale": 4, "model_type": "SpaceTimeVSRModel",
                                   "network_g": {"type": "MSITF", **TINY}, "val": {"window": 4, "stride": 3}}))
    torch.manual_seed(0)
    net = MSITF(**TINY).eval()
    model = tmp_path / "net_g.pth"
    torch.save({"params": net.state_dict()}, model)
    spec = importlib.util.spec_from_file_location("infer_video", os.path.join(ROOT, "scripts", "infer_video.py"))
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out, png = tmp_path / "out.mp4", tmp_path / "cmp.png"
    assert script.main(["--opt", str(opt), "--model", str(model), "--input", str(clip), "--output", str(out),
                        "--tile", "20", "--tile-overlap", "8", "--compare", str(png), "--compare-frame", "2",
                        "--crf", "0", "--device", "cpu", "--quiet"]) == 0
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert Fraction(stream.average_rate) == Fraction(60000, 1001)  # exactly twice 29.97
    frames = decode_video(str(out), frames=True, qp=False).frames
    assert frames.shape == (2 * t - 1, 4 * h, 4 * w, 3)
    # the same windows run directly (whole frames) on the decoded input: the output's frames, up to tiling and the
    # YUV 4:2:0 round trip of the lossless output
    lq = torch.from_numpy(decode_video(str(clip), frames=True, qp=False).frames).permute(0, 3, 1, 2)[None] / 255
    with torch.no_grad():
        first, last = net(lq[:, :4]), net(lq[:, 2:])
    direct = torch.cat([first, last[:, 3:]], dim=1)[0]  # windows at 0 and 2: positions 0..6, then 7..10
    ref = (direct.clamp(0, 1).permute(0, 2, 3, 1) * 255).round().numpy()
    mse = ((frames.astype(np.float64) - ref) ** 2).mean(axis=(1, 2, 3))
    assert (10 * np.log10(255 ** 2 / mse) > 30).all(), mse
    import cv2
    assert cv2.imread(str(png)).shape == (4 * h, 2 * 4 * w + 8, 3)

