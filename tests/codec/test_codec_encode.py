"""H.264 encoding: settings verified from the bitstream, unknown/ignored options rejected, 4:2:0 with averaged chroma."""
import importlib.util
import os
from fractions import Fraction

import numpy as np
import pytest

from vsrkit.codec import decode_video, encode_h264
from vsrkit.codec.yuv import rgb_to_yuv420p
from vsrkit.errors import ConfigError, DataError

_spec = importlib.util.spec_from_file_location("codec_clips", os.path.join(os.path.dirname(__file__), "codec_clips.py"))
codec_clips = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(codec_clips)


def test_encode_reports_applied_settings(tmp_path):
    frames = codec_clips.translating_clip(1, 0, num_frames=5)
    res = encode_h264(frames, tmp_path / "a.mp4", crf=27, preset="fast", bf=0, ref=1)
    assert res.num_frames == 5 and (res.width, res.height) == (64, 64)
    opts = res.encoder_options
    assert opts["rc"] == "crf" and float(opts["crf"]) == 27 and opts["bframes"] == "0" and opts["ref"] == "1"
    assert res.encoder_version.startswith("x264 - core")
    assert res.settings["crf"] == 27 and res.settings["preset"] == "fast"
    video = decode_video(tmp_path / "a.mp4")
    assert video.frames.shape == (5, 64, 64, 3) and video.codec == "h264" and video.fps == 25
    assert not [p for p in os.listdir(tmp_path) if "tmp" in p]


@pytest.mark.parametrize("fps,recorded", [(Fraction(30000, 1001), "30000/1001"), ("30000/1001", "30000/1001"),
                                          (29.97, "2997/100"), (24.0, 24)])
def test_fractional_frame_rates_stay_exact(tmp_path, fps, recorded):
    import av

    res = encode_h264(codec_clips.translating_clip(1, 0, num_frames=3), tmp_path / "ntsc.mp4", fps=fps)
    assert res.settings["fps"] == recorded
    with av.open(str(tmp_path / "ntsc.mp4")) as container:
        assert container.streams.video[0].average_rate == Fraction(recorded)


@pytest.mark.parametrize("fps", [0, -25, "fast", None])
def test_bad_frame_rate_is_one_clear_error(tmp_path, fps):
    with pytest.raises(ConfigError, match="not a positive frame rate"):
        encode_h264(codec_clips.translating_clip(1, 0, num_frames=2), tmp_path / "x.mp4", fps=fps)
    assert not os.listdir(tmp_path)


def test_unknown_x264_param_raises(tmp_path):
    frames = codec_clips.translating_clip(1, 0, num_frames=3)
    with pytest.raises(ConfigError, match="foo"):
        encode_h264(frames, tmp_path / "b.mp4", x264_params="foo=1")
    assert not (tmp_path / "b.mp4").exists()
    assert not os.listdir(tmp_path)  # nothing half-written


def test_unknown_av_option_raises_with_suggestion(tmp_path):
    frames = codec_clips.translating_clip(1, 0, num_frames=3)
    with pytest.raises(ConfigError, match="'aq-mod'.*aq-mode"):
        encode_h264(frames, tmp_path / "c.mp4", av_options={"aq-mod": "0"})


def test_overridden_setting_is_detected(tmp_path):
    """bframes given twice (bf and the legacy x264opts): x264 keeps x264opts, vsrkit notices from the SEI."""
    frames = codec_clips.translating_clip(1, 0, num_frames=3)
    with pytest.raises(ConfigError, match="bframes"):
        encode_h264(frames, tmp_path / "d.mp4", bf=2, av_options={"x264opts": "bframes=0"})


def test_conflicting_settings(tmp_path):
    frames = codec_clips.translating_clip(1, 0, num_frames=3)
    with pytest.raises(ConfigError, match="crf.*qp"):
        encode_h264(frames, tmp_path / "e.mp4", crf=20, qp=30)
    with pytest.raises(ConfigError, match="ref"):
        encode_h264(frames, tmp_path / "e.mp4", x264_params="ref=2")
    with pytest.raises(ConfigError, match="preset"):
        encode_h264(frames, tmp_path / "e.mp4", preset="medum")


def test_bad_frames(tmp_path):
    with pytest.raises(DataError, match="odd"):
        encode_h264(np.zeros((2, 33, 32, 3), np.uint8), tmp_path / "f.mp4")
    with pytest.raises(DataError, match="uint8"):
        encode_h264(np.zeros((2, 32, 32, 3), np.float32), tmp_path / "f.mp4")
    assert not os.listdir(tmp_path)


def test_chroma_is_averaged_over_2x2():
    """Columns alternate red/blue: averaged chroma is the chroma of purple, point sampling would give red's."""
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[:, 0::2, 0] = 200
    rgb[:, 1::2, 2] = 200
    y, u, v = rgb_to_yuv420p(rgb)
    _, u_avg, v_avg = rgb_to_yuv420p(np.full((2, 2, 3), (100, 0, 100), np.uint8))
    assert y.shape == (4, 4) and u.shape == (2, 2)
    assert np.array_equal(u, np.full((2, 2), u_avg[0, 0])) and np.array_equal(v, np.full((2, 2), v_avg[0, 0]))
    assert u_avg[0, 0] == round(128 + (-37.797 * 100 + 112 * 100) / 255)


def test_round_trip_close_to_source(tmp_path):
    frames = codec_clips.translating_clip(0.5, 0.5, num_frames=4)
    encode_h264(frames, tmp_path / "g.mp4", qp=4, bf=0)
    decoded = decode_video(tmp_path / "g.mp4").frames
    psnr = 10 * np.log10(255 ** 2 / np.mean((decoded.astype(float) - frames) ** 2))
    assert psnr > 38  # 4:2:0 + BT.601 limited-range round trip at near-lossless QP


def test_same_frames_give_the_same_stream_whatever_the_process_did_before(tmp_path):
    """x264's AVX-512 rate-control code reads uninitialised memory (x264_cpu_params): without the fix, on an AVX-512
    machine, this 32x32 clip encoded to 2,338..2,875 bytes depending on earlier allocations and decodes."""
    from vsrkit.codec import read_motion

    frames = codec_clips.translating_clip(1.0, 0.5, num_frames=10, size=(32, 32))
    digests = set()
    for k in range(6):
        junk = np.random.default_rng(k).integers(0, 255, 5_000_000, dtype=np.uint8)  # dirty the heap
        del junk
        path = tmp_path / f"{k}.mp4"
        encode_h264(frames, path, crf=25, bf=0, ref=1)
        read_motion(path)  # a decoder's freed buffers are what x264 used to pick up
        digests.add(path.read_bytes())
    assert len(digests) == 1


def test_x264_cpu_params_drop_only_avx512(monkeypatch):
    import numpy._core._multiarray_umath as umath

    from vsrkit.codec.h264 import x264_cpu_params

    monkeypatch.setattr(umath, "__cpu_features__", {**umath.__cpu_features__, "AVX512_SKX": True})
    assert x264_cpu_params() == {"asm": "AVX2,SSE2Fast"}
    monkeypatch.setattr(umath, "__cpu_features__", {**umath.__cpu_features__, "AVX512_SKX": False})
    assert x264_cpu_params() == {}
