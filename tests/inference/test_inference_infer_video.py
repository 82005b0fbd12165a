"""scripts/infer_video.py end to end on tiny generated H.264 clips (x264 defaults bf=3, ref=3) and an HEVC clip."""
import importlib.util
import os

import numpy as np
import pytest
import torch
import yaml

from vsrkit.archs.mvvsr_arch import MVVSR
from vsrkit.archs.spynet import to_basicsr_state_dict
from vsrkit.errors import ConfigError, DataError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
T, H, W = 7, 32, 48


def _script():
    spec = importlib.util.spec_from_file_location("infer_video", os.path.join(ROOT, "scripts", "infer_video.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _frames():
    """A textured scene panning 1 px right and 1 px down per frame, (T, H, W, 3) uint8."""
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (H // 4 + 4, W // 4 + 4, 3), dtype=np.uint8)
    big = np.kron(coarse, np.ones((4, 4, 1), np.uint8))
    return np.stack([big[8 - k:8 - k + H, 8 - k:8 - k + W] for k in range(T)])


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from vsrkit.codec import encode_h264

    tmp = tmp_path_factory.mktemp("infer")
    clip = tmp / "in.mp4"
    result = encode_h264(_frames(), str(clip), crf=23, preset="medium", bf=3, ref=3)
    assert result.encoder_options["bframes"] == "3" and result.encoder_options["ref"] == "3"
    opt = tmp / "opt.yml"
    opt.write_text(yaml.safe_dump({"name": "tiny", "scale": 4,
                                   "network_g": {"type": "MVVSR", "mid_channels": 4, "num_blocks": 1}}))
    torch.manual_seed(0)
    net = MVVSR(mid_channels=4, num_blocks=1)
    model = tmp / "net_g.pth"
    torch.save({"params": net.state_dict(), "params_ema": net.state_dict()}, model)
    return tmp, clip, opt, model


def _decode(path):
    from vsrkit.codec import decode_video

    video = decode_video(str(path), frames=True, qp=False)
    return video.frames


def test_round_trip_with_b_frames_tiles_chunks_and_comparison(setup):
    from vsrkit.codec import read_motion

    tmp, clip, opt, model = setup
    types = read_motion(str(clip), frames=False, qp=False).frame_types
    assert 3 in types.tolist() and 2 in types.tolist()  # really a B-frame stream
    out, png = tmp / "out.mp4", tmp / "cmp.png"
    code = _script().main(["--opt", str(opt), "--model", str(model), "--input", str(clip), "--output", str(out),
                           "--tile", "24", "--tile-overlap", "8", "--chunk", "3", "--chunk-overlap", "2",
                           "--compare", str(png), "--device", "cpu", "--quiet"])
    assert code == 0
    frames = _decode(out)
    assert frames.shape == (T, 4 * H, 4 * W, 3)
    import cv2
    img = cv2.imread(str(png))
    assert img.shape == (4 * H, 2 * 4 * W + 8, 3)
    assert not list(tmp.glob(".*tmp*"))  # nothing half-written left behind


def test_ablations_change_the_output(setup):
    tmp, clip, opt, model = setup
    script = _script()
    # Give the network real weights in its alignment path so that the ablations matter.
    torch.manual_seed(1)
    net = MVVSR(mid_channels=4, num_blocks=1)
    torch.nn.init.normal_(net.mv_refiner.net[-1].weight, std=0.5)
    strong = tmp / "strong.pth"
    torch.save({"params_ema": net.state_dict()}, strong)
    outs = {}
    for name, flags in {"full": [], "no_mv": ["--ablate_mvs"], "no_2nd": ["--ablate_second_order"]}.items():
        path = tmp / f"{name}.mp4"
        script.main(["--opt", str(opt), "--model", str(strong), "--input", str(clip), "--output", str(path),
                     "--quiet", "--crf", "0", "--preset", "ultrafast"] + flags)
        outs[name] = _decode(path).astype(np.int16)
    assert np.abs(outs["full"] - outs["no_mv"]).max() > 0
    assert np.abs(outs["full"] - outs["no_2nd"]).max() > 0


def test_non_h264_input_fails_clearly_or_falls_back_to_spynet(setup):
    from vsrkit.codec.pyav_encode import encode_with_pyav

    tmp, clip, opt, model = setup
    hevc = tmp / "in_hevc.mp4"
    # 64 x 96: x265 (4.2, via PyAV) corrupts the heap on frames smaller than its 64x64 CTU in a process that has
    # decoded video before (seen at 48 x 32), so the HEVC clip is made at least one CTU large.
    frames = np.tile(_frames(), (1, 2, 2, 1))
    encode_with_pyav(frames, str(hevc), "libx265", {"preset": "ultrafast"}, fps=25, threads=1, where="test")
    script = _script()
    common = ["--opt", str(opt), "--model", str(model), "--input", str(hevc), "--quiet"]
    with pytest.raises(DataError, match="--non-h264 spynet"):
        script.main(common + ["--output", str(tmp / "fail.mp4")])
    with pytest.raises(ConfigError, match="--fallback-model"):
        script.main(common + ["--output", str(tmp / "fail.mp4"), "--non-h264", "spynet"])
    spynet = tmp / "spynet.pth"
    from vsrkit.archs.spynet import SPyNet
    torch.save({"params": to_basicsr_state_dict(SPyNet().state_dict())}, spynet)
    out = tmp / "fallback.mp4"
    assert script.main(common + ["--output", str(out), "--non-h264", "spynet", "--spynet", str(spynet),
                                 "--max-frames", "4"]) == 0
    assert _decode(out).shape == (4, 8 * H, 8 * W, 3)


def test_cuda_request_without_cuda_is_a_clear_error(setup):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    tmp, clip, opt, model = setup
    with pytest.raises(ConfigError, match="no CUDA device"):
        _script().main(["--opt", str(opt), "--model", str(model), "--input", str(clip),
                        "--output", str(tmp / "x.mp4"), "--device", "cuda", "--quiet"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_round_trip(setup):
    tmp, clip, opt, model = setup
    out = tmp / "cuda.mp4"
    assert _script().main(["--opt", str(opt), "--model", str(model), "--input", str(clip), "--output", str(out),
                           "--device", "cuda", "--autocast", "bf16", "--quiet"]) == 0
    assert _decode(out).shape == (T, 4 * H, 4 * W, 3)


def test_streamed_output_equals_whole_clip_inference_at_the_input_frame_rate(setup, tmp_path):
    """A 40-frame 29.97 fps clip with B-frames, streamed in chunks of 6: the frames equal inference over the whole
    decoded clip with the same chunking (both written losslessly), and the frame rate stays 30000/1001."""
    from fractions import Fraction

    import av

    from vsrkit.codec import encode_h264, read_motion
    from vsrkit.inference import InferenceSettings, run_inference, to_uint8_frames

    _, _, opt, model = setup
    rng = np.random.default_rng(3)
    scene = np.kron(rng.integers(0, 256, (H // 4 + 12, W // 4 + 12, 3), dtype=np.uint8), np.ones((4, 4, 1), np.uint8))
    frames = np.stack([scene[k:k + H, k // 2:k // 2 + W] for k in range(40)])
    clip = tmp_path / "ntsc.mp4"
    encode_h264(frames, clip, crf=23, bf=3, ref=3, fps=Fraction(30000, 1001))
    out = tmp_path / "out.mp4"
    assert _script().main(["--opt", str(opt), "--model", str(model), "--input", str(clip), "--output", str(out),
                           "--chunk", "6", "--chunk-overlap", "2", "--crf", "0", "--preset", "ultrafast",
                           "--quiet"]) == 0
    with av.open(str(out)) as container:
        assert container.streams.video[0].average_rate == Fraction(30000, 1001)

    net = MVVSR(mid_channels=4, num_blocks=1)
    net.load_state_dict(torch.load(model, weights_only=True)["params_ema"])
    motion = read_motion(str(clip), qp=False)
    lq = torch.from_numpy(motion.frames).permute(0, 3, 1, 2).unsqueeze(0)
    inputs = {"mv_bwd": torch.from_numpy(motion.mv_bwd)[None], "mv_fwd": torch.from_numpy(motion.mv_fwd)[None],
              "frame_types": torch.from_numpy(motion.frame_types.astype(np.int64))[None]}
    sr = run_inference(net.eval(), lq, inputs, InferenceSettings(scale=4, chunk=6, chunk_overlap=2))
    expected = tmp_path / "expected.mp4"
    encode_h264(to_uint8_frames(sr[0]).numpy(), expected, qp=0, preset="ultrafast")
    got = _decode(out)
    assert got.shape == (40, 4 * H, 4 * W, 3)
    np.testing.assert_array_equal(got, _decode(expected))
