"""Motion vectors from H.264: known translations, block centres, reference distance, picture types, QP maps."""
import importlib.util
import os

import numpy as np
import pytest

from vsrkit.codec import encode_h264, read_motion
from vsrkit.errors import DataError

_spec = importlib.util.spec_from_file_location("codec_clips", os.path.join(os.path.dirname(__file__), "codec_clips.py"))
codec_clips = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(codec_clips)


def _interior(field, valid, margin=8):
    """Vectors of valid pixels away from the border, as (n, 2)."""
    f = field[:, margin:-margin, margin:-margin]
    v = valid[margin:-margin, margin:-margin]
    return f[:, v].T


def test_subpixel_translation_ippp(tmp_path):
    frames = codec_clips.translating_clip(1.25, -0.75, num_frames=8, size=(96, 96))
    path = tmp_path / "ippp.mp4"
    encode_h264(frames, path, crf=18, bf=0, ref=1)
    clip = read_motion(path)
    assert clip.frames.shape == (8, 96, 96, 3)
    assert clip.mv_bwd.shape == clip.mv_fwd.shape == (8, 2, 96, 96)
    assert clip.mv_bwd.dtype == np.float32
    assert clip.frame_types.tolist() == [1, 2, 2, 2, 2, 2, 2, 2]
    assert not clip.valid_bwd[0].any() and not clip.mv_bwd[0].any()  # I-frame: no motion
    assert not clip.valid_fwd.any() and not clip.mv_fwd.any()  # no B-frames: no forward vectors
    vec = np.concatenate([_interior(clip.mv_bwd[t], clip.valid_bwd[t]) for t in range(1, 8)])
    assert len(vec) > 0.8 * 7 * 80 * 80
    med = np.median(vec, axis=0)
    assert abs(med[0] - 1.25) <= 0.25 and abs(med[1] + 0.75) <= 0.25
    mean = vec.mean(axis=0)
    assert abs(mean[0] - 1.25) < 0.15 and abs(mean[1] + 0.75) < 0.15
    assert np.mean(np.abs(vec - [1.25, -0.75]).max(axis=1) <= 0.25) > 0.8


def test_reference_distance_normalised_with_b_frames_and_3_refs(tmp_path):
    """x264 defaults (bf=3, ref=3): raw vectors span 1..4 frames; after tracking the reference every vector is
    the per-frame motion (2, 1) backward and (-2, -1) forward."""
    frames = codec_clips.translating_clip(2, 1, num_frames=12, size=(96, 96))
    path = tmp_path / "ibbbp.mp4"
    encode_h264(frames, path, crf=18, preset="medium")
    clip = read_motion(path, frames=False)
    assert clip.frames is None
    assert 3 in clip.frame_types.tolist()
    bwd = np.concatenate([_interior(clip.mv_bwd[t], clip.valid_bwd[t]) for t in range(12)])
    fwd = np.concatenate([_interior(clip.mv_fwd[t], clip.valid_fwd[t]) for t in range(12)])
    assert len(bwd) > 2000 and len(fwd) > 2000
    for vec, true in ((bwd, [2, 1]), (fwd, [-2, -1])):
        assert np.mean(np.all(vec == true, axis=1)) > 0.8
        assert np.mean(np.abs(vec - true).max(axis=1) <= 0.25) > 0.85
    # Without normalisation a P-frame 4 frames after its reference would carry (8, 4): make sure none survive.
    assert np.mean(np.abs(bwd[:, 0]) > 3) < 0.03


def test_picture_types_and_display_order_with_fixed_b_pattern(tmp_path):
    frames = codec_clips.translating_clip(1, 0, num_frames=10)
    path = tmp_path / "ibbp.mp4"
    encode_h264(frames, path, crf=20, bf=2, ref=2, x264_params="b-adapt=0:scenecut=0:b-pyramid=none")
    clip = read_motion(path)
    assert clip.frame_types.tolist() == [1, 3, 3, 2, 3, 3, 2, 3, 3, 2]
    # Display order: decoded frames match the source frames in order, not in decoding order.
    err = [np.abs(clip.frames[t].astype(int) - frames[t].astype(int)).mean() for t in range(10)]
    wrong = [np.abs(clip.frames[t].astype(int) - frames[(t + 2) % 10].astype(int)).mean() for t in range(10)]
    assert max(err) < 4 and min(wrong) > max(err)
    # B-frames carry forward motion, P-frames none
    for t, kind in enumerate(clip.frame_types):
        assert clip.valid_fwd[t].any() == (kind == 3)


def test_qp_map_of_fixed_qp_stream(tmp_path):
    frames = codec_clips.translating_clip(1, 1, num_frames=6, size=(48, 80))
    path = tmp_path / "qp.mp4"
    encode_h264(frames, path, qp=31, bf=0)
    clip = read_motion(path)
    assert clip.qp.shape == (6, 3, 5) and clip.qp.dtype == np.uint8
    assert np.all(clip.qp == 31)


def test_block_centres_rasterised_as_centres():
    """A 16x8 block with centre (24, 12) covers x 16..31, y 8..15 (not x 24..39, y 12..19)."""
    from vsrkit.codec.motion import _block_cells, _Rasteriser

    dtype = np.dtype([("source", "<i4"), ("w", "u1"), ("h", "u1"), ("src_x", "<i2"), ("src_y", "<i2"),
                      ("dst_x", "<i2"), ("dst_y", "<i2"), ("flags", "<u8"), ("motion_x", "<i4"),
                      ("motion_y", "<i4"), ("motion_scale", "<u2")])
    vec = np.zeros(2, dtype)
    vec[0] = (-1, 16, 8, 0, 0, 24, 12, 0, 6, -2, 4)  # past, (1.5, -0.5) px over 2 frames
    vec[1] = (1, 4, 4, 0, 0, 2, 30, 0, -8, 4, 4)  # future, 4x4 block at x 0..3, y 28..31
    mv = np.zeros((2, 2, 32, 48), np.float32)
    valid = np.zeros((2, 32, 48), bool)
    _Rasteriser(32, 48).fill(vec, np.array([2, 1], np.float32), _block_cells(vec), mv, valid)
    expect = np.zeros((32, 48), bool)
    expect[8:16, 16:32] = True
    assert np.array_equal(valid[0], expect)
    assert np.all(mv[0, 0][expect] == 0.75) and np.all(mv[0, 1][expect] == -0.25)
    assert not mv[0][:, ~expect].any()
    expect_f = np.zeros((32, 48), bool)
    expect_f[28:32, 0:4] = True
    assert np.array_equal(valid[1], expect_f)
    assert np.all(mv[1, 0][expect_f] == -2.0) and np.all(mv[1, 1][expect_f] == 1.0)


def test_non_h264_motion_request_raises_data_error(tmp_path):
    import av

    path = tmp_path / "clip_mpeg4.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for frame in codec_clips.translating_clip(1, 0, num_frames=3, size=(32, 32)):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with pytest.raises(DataError, match=r"clip_mpeg4\.mp4.*mpeg4.*H\.264"):
        read_motion(path)


def test_missing_and_corrupt_video(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_motion(tmp_path / "nope.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(200))
    with pytest.raises(DataError, match="bad.mp4"):
        read_motion(bad)
