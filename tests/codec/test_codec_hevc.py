"""HEVC: PyAV/libx265 fixed-QP low-delay P, x265 CLI with HM's LDP QP cascade, external HM binary, motion routes."""
import importlib.util
import os
import shutil
import stat
import sys

import numpy as np
import pytest

from vsrkit.codec import decode_video, encode_hevc, estimate_block_motion, hm_ldp_qp_cascade, read_motion
from vsrkit.errors import ConfigError, DataError

_spec = importlib.util.spec_from_file_location("codec_clips", os.path.join(os.path.dirname(__file__), "codec_clips.py"))
codec_clips = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(codec_clips)

needs_x265 = pytest.mark.skipif(shutil.which("x265") is None, reason="x265 command-line encoder not installed")


def test_hm_ldp_cascade_values():
    assert hm_ldp_qp_cascade(10, 32) == [32, 35, 34, 35, 33, 35, 34, 35, 33, 35]
    assert hm_ldp_qp_cascade(1, 27) == [27]


def test_pyav_fixed_qp_low_delay_p(tmp_path):
    frames = codec_clips.translating_clip(1, 0.5, num_frames=6)
    res = encode_hevc(frames, tmp_path / "a.mp4", qp=30)
    opts = res.encoder_options
    assert opts["rc"] == "cqp" and opts["qp"] == "30" and opts["bframes"] == "0" and opts["ref"] == "4"
    assert float(opts["ipratio"]) == 1.0 and res.settings["frame_qps"] == [30] * 6
    video = decode_video(tmp_path / "a.mp4")
    assert video.codec == "hevc" and video.frame_types.tolist() == [1, 2, 2, 2, 2, 2]
    assert video.frames.shape == (6, 64, 64, 3)


def test_pyav_rejects_unknown_x265_param_and_cascade(tmp_path):
    frames = codec_clips.translating_clip(1, 0, num_frames=3)
    with pytest.raises(ConfigError, match="foo"):
        encode_hevc(frames, tmp_path / "b.mp4", x265_params="foo=1")
    with pytest.raises(ConfigError, match="x265"):
        encode_hevc(frames, tmp_path / "b.mp4", backend="pyav", cascade="hm_ldp")
    with pytest.raises(ConfigError, match="bframes"):
        encode_hevc(frames, tmp_path / "b.mp4", x265_params="bframes=2")
    assert not os.listdir(tmp_path)


@needs_x265
def test_x265_cli_hm_cascade(tmp_path):
    frames = codec_clips.translating_clip(1, 0.5, num_frames=9, size=(64, 96))
    res = encode_hevc(frames, tmp_path / "c.mp4", qp=32, backend="x265", cascade="hm_ldp")
    assert res.backend == "x265-cli" and res.settings["frame_qps"] == [32, 35, 34, 35, 33, 35, 34, 35, 33]
    assert res.encoder_options["bframes"] == "0" and res.encoder_version.startswith("x265")
    video = decode_video(tmp_path / "c.mp4")
    assert video.codec == "hevc" and video.frame_types.tolist() == [1] + [2] * 8 and video.fps == 25
    psnr = 10 * np.log10(255 ** 2 / np.mean((video.frames.astype(float) - frames) ** 2))
    assert psnr > 25
    assert sorted(os.listdir(tmp_path)) == ["c.mp4"]


@needs_x265
def test_external_hm_binary_invocation(tmp_path):
    """The HM backend runs the user's binary with HM's command line and decodes what it writes. Here the binary is
    an HM-command-line-compatible wrapper around the x265 CLI (the HM reference encoder is not installable from a
    registry); it records its arguments so that the HM flags can be checked."""
    wrapper = tmp_path / "TAppEncoder"
    wrapper.write_text(f"""#!{sys.executable}
import json, subprocess, sys
a = sys.argv[1:]
json.dump(a, open({str(tmp_path / 'args.json')!r}, 'w'))
get = lambda k: a[a.index(k) + 1]
print("HM software: Encoder Version [16.5] (wrapper)")
subprocess.run(["x265", "--input", get("-i"), "--input-res", get("-wdt") + "x" + get("-hgt"), "--fps", get("-fr"),
                "--frames", get("-f"), "--qp", get("-q"), "--bframes", "0", "--ctu", "16", "--no-progress",
                "--log-level", "error", "--output", get("-b")], check=True, stdin=subprocess.DEVNULL, timeout=60)
""")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    cfg = tmp_path / "encoder_lowdelay_P_main.cfg"
    cfg.write_text("GOPSize : 4\n")
    frames = codec_clips.translating_clip(1, 0, num_frames=4, size=(40, 72))  # x265 (the stand-in) needs /8 sizes
    res = encode_hevc(frames, tmp_path / "out" / "d.mp4", qp=37, backend="hm", hm_bin=str(wrapper), hm_cfg=str(cfg))
    import json

    args = json.load(open(tmp_path / "args.json"))
    assert args[:2] == ["-c", str(cfg)] and args[args.index("-q") + 1] == "37"
    assert args[args.index("-wdt") + 1] == "72" and args[args.index("-hgt") + 1] == "40"
    assert "--ConformanceWindowMode=1" not in args  # only sizes that are not a multiple of 8 need it
    assert res.backend == "hm" and "16.5" in res.encoder_version
    video = decode_video(tmp_path / "out" / "d.mp4")
    assert video.frames.shape == (4, 40, 72, 3)
    with pytest.raises(ConfigError, match="hm_bin"):
        encode_hevc(frames, tmp_path / "e.mp4", backend="hm", hm_bin=str(tmp_path / "missing"), hm_cfg=str(cfg))


def test_hevc_motion_request_names_the_alternative(tmp_path):
    frames = codec_clips.translating_clip(1, 0, num_frames=3)
    encode_hevc(frames, tmp_path / "clip_hevc.mp4", qp=30)
    with pytest.raises(DataError, match=r"clip_hevc\.mp4.*HEVC.*does not export.*estimate_block_motion"):
        read_motion(tmp_path / "clip_hevc.mp4")


def test_estimate_block_motion_recovers_translation():
    frames = codec_clips.translating_clip(1.25, -0.75, num_frames=4, size=(96, 96))
    clip = estimate_block_motion(frames, block=8, search=4)
    assert clip.mv_bwd.shape == (4, 2, 96, 96) and not clip.valid_bwd[0].any() and clip.valid_fwd[0].all()
    bwd = clip.mv_bwd[1:, :, 8:-8, 8:-8]
    fwd = clip.mv_fwd[:-1, :, 8:-8, 8:-8]
    assert abs(np.median(bwd[:, 0]) - 1.25) < 0.2 and abs(np.median(bwd[:, 1]) + 0.75) < 0.2
    assert abs(np.median(fwd[:, 0]) + 1.25) < 0.2 and abs(np.median(fwd[:, 1]) - 0.75) < 0.2
    assert np.mean(np.abs(bwd[:, 0] - 1.25) <= 0.5) > 0.7


@pytest.mark.skipif(shutil.which("x265") is None, reason="needs the x265 CLI (apt-get install x265)")
def test_x265_cli_small_frames_use_a_smaller_ctu(tmp_path):
    """x265 3.5 crashes or hangs on pictures smaller than one 64-px CTU: vsrkit picks the largest CTU that fits."""
    frames = codec_clips.translating_clip(1, 0, num_frames=3, size=(40, 72))
    res = encode_hevc(frames, tmp_path / "x.mp4", qp=32, backend="x265", cascade="hm_ldp")
    assert res.settings["ctu"] == 32 and res.settings["frame_qps"] == [32, 35, 34]
    assert decode_video(tmp_path / "x.mp4").frames.shape == (3, 40, 72, 3)


def test_pyav_hevc_picks_a_ctu_that_fits_small_frames(tmp_path):
    frames = codec_clips.translating_clip(1, 0, num_frames=3, size=(32, 48))  # smaller than one 64-px CTU
    res = encode_hevc(frames, tmp_path / "small.mp4", qp=32)
    assert res.settings["ctu"] == 32
    assert decode_video(tmp_path / "small.mp4").frames.shape == (3, 32, 48, 3)


def test_external_encoder_that_hangs_is_stopped_with_a_clear_error(tmp_path, monkeypatch):
    """An encoder that never finishes (x265 3.5 hangs after some start-up errors) is killed after
    VSRKIT_ENCODER_TIMEOUT_S; the error quotes its last words and nothing is left behind."""
    import time

    import vsrkit.codec.hevc as hevc

    hanging = tmp_path / "TAppEncoder"
    hanging.write_text(f"#!{sys.executable}\nimport sys, time\nprint('x265 [error]: stuck', file=sys.stderr, "
                       f"flush=True)\ntime.sleep(60)\n")
    hanging.chmod(hanging.stat().st_mode | stat.S_IEXEC)
    cfg = tmp_path / "encoder_lowdelay_P_main.cfg"
    cfg.write_text("GOPSize : 4\n")
    monkeypatch.setattr(hevc, "ENCODER_TIMEOUT_S", 1.0)
    out = tmp_path / "out"
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"TAppEncoder did not finish in 1 s \(x265 \[error\]: stuck\).*"
                                          r"VSRKIT_ENCODER_TIMEOUT_S"):
        encode_hevc(codec_clips.translating_clip(1, 0, num_frames=2, size=(16, 16)), out / "d.mp4", backend="hm",
                    hm_bin=str(hanging), hm_cfg=str(cfg))
    assert time.monotonic() - start < 30
    assert not out.exists() or not list(out.iterdir())
