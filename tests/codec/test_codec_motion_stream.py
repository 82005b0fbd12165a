"""iter_motion: the same fields as read_motion, one frame at a time, with memory that does not grow with the clip."""
import importlib.util
import itertools
import os

import numpy as np
import pytest

from vsrkit.codec import encode_h264, iter_motion, read_motion
from vsrkit.codec.motion import MAX_REF_DISTANCE
from vsrkit.errors import DataError

_spec = importlib.util.spec_from_file_location("codec_clips", os.path.join(os.path.dirname(__file__), "codec_clips.py"))
codec_clips = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(codec_clips)

T = 60  # longer than the 2 * MAX_REF_DISTANCE + 1 frames the stream may hold


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """60 frames of a 1.5 px/frame pan, x264 defaults (bf=3, ref=3): B-frames and vectors spanning several frames."""
    path = tmp_path_factory.mktemp("stream") / "long.mp4"
    encode_h264(codec_clips.translating_clip(1.5, 0.5, num_frames=T, size=(48, 64)), path, crf=23)
    return path


def test_stream_equals_whole_clip(long_clip):
    clip = read_motion(long_clip)
    items = list(iter_motion(long_clip))
    assert [f.index for f in items] == list(range(T))
    assert 3 in clip.frame_types.tolist()  # really a stream with B-frames
    for name, field in (("frame", "frames"), ("mv_bwd", "mv_bwd"), ("mv_fwd", "mv_fwd"), ("qp", "qp"),
                        ("valid_bwd", "valid_bwd"), ("valid_fwd", "valid_fwd")):
        np.testing.assert_array_equal(np.stack([getattr(f, name) for f in items]), getattr(clip, field), err_msg=name)
    assert [f.frame_type for f in items] == clip.frame_types.tolist()
    assert np.abs(clip.mv_bwd).max() > 1  # fields are not trivially zero


def test_memory_is_bounded_and_frames_come_early(long_clip):
    stream = iter_motion(long_clip, frames=False, qp=False)
    assert stream.frame_count == T and stream.fps == 25.0
    lags = [stream.decoded - 1 - item.index for item in stream]
    assert max(lags) <= 4  # produced once its references are out (bf=3), not MAX_REF_DISTANCE frames later
    assert stream.max_held <= MAX_REF_DISTANCE + 5 < T

    partial = iter_motion(long_clip, frames=False, qp=False)
    first = list(itertools.islice(partial, 5))
    assert len(first) == 5 and partial.decoded <= 5 + 4  # nothing decoded far ahead of what was asked for


def test_stream_without_timestamps_falls_back_to_the_distance_window(long_clip, tmp_path):
    """A raw Annex-B stream carries no timestamps: references are searched among the frames within
    MAX_REF_DISTANCE, which makes the stream wait that many frames, and the vectors are still normalised."""
    import av
    from av.bitstream import BitStreamFilterContext

    raw = tmp_path / "clip.h264"
    with av.open(str(long_clip)) as src, av.open(str(raw), "w", format="h264") as dst:
        stream = src.streams.video[0]
        out = dst.add_stream_from_template(stream)
        annexb = BitStreamFilterContext("h264_mp4toannexb", stream)
        for packet in itertools.chain(src.demux(stream), [None]):
            for converted in annexb.filter(packet):
                converted.stream = out
                dst.mux(converted)
    stream = iter_motion(raw, frames=False, qp=False)
    items = list(stream)
    assert len(items) == T and stream.max_held <= 2 * MAX_REF_DISTANCE + 1
    interior = np.concatenate([f.mv_bwd[:, 8:-8, 8:-8][:, f.valid_bwd[8:-8, 8:-8]].T for f in items])
    assert np.mean(np.abs(interior - [1.5, 0.5]).max(axis=1) <= 0.25) > 0.8


def test_non_h264_fails_before_iterating(tmp_path):
    from vsrkit.codec import encode_hevc

    path = tmp_path / "clip.mp4"
    encode_hevc(codec_clips.translating_clip(1, 0, num_frames=3, size=(64, 64)), path, qp=32, backend="pyav")
    with pytest.raises(DataError, match="HEVC.*estimate_block_motion"):
        iter_motion(path)
