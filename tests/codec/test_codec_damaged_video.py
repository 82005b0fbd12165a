"""Issue 14, item 5: a damaged H.264 file (bytes changed in the middle) is detected, not decoded into silent garbage.

decode_video, read_motion, iter_motion and infer_video's InputVideo count the frames FFmpeg decoded with errors or
could not decode: one warning with the number by default, DataError with ``strict=True`` (compress's default)."""
import importlib.util
import logging
import os
from pathlib import Path

import numpy as np
import pytest

from vsrkit.errors import DataError

_spec = importlib.util.spec_from_file_location("codec_clips", Path(__file__).with_name("codec_clips.py"))
codec_clips = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(codec_clips)

T, DAMAGED = 20, 5


def _packets(path):
    import av

    with av.open(str(path)) as c:
        return [(p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size]


def damage(src, dst, index: int, where: str) -> None:
    """Copy ``src`` to ``dst`` with packet ``index`` (decoding order) damaged: ``'slice'`` flips the second half of
    its slice data (it still parses: concealed macroblocks), ``'length'`` its NAL length prefix (rejected)."""
    data = bytearray(Path(src).read_bytes())
    pos, size = _packets(src)[index]
    span = range(pos + size // 2, pos + size - 2) if where == "slice" else range(pos, pos + 2)
    for i in span:
        data[i] ^= 0x5A
    Path(dst).write_bytes(bytes(data))


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    from vsrkit.codec import encode_h264

    tmp = tmp_path_factory.mktemp("damaged")
    clean = tmp / "clean.mp4"
    encode_h264(codec_clips.translating_clip(1.0, 0.5, num_frames=T, size=(64, 96)), str(clean), crf=23, bf=0, ref=1)
    damage(clean, tmp / "slice.mp4", DAMAGED, "slice")
    damage(clean, tmp / "length.mp4", DAMAGED, "length")
    return tmp


@pytest.fixture
def warnings_seen():
    """Messages the ``vsrkit`` logger emits at WARNING or above during the test."""
    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    handler = Keep(logging.WARNING)
    logger = logging.getLogger("vsrkit")
    logger.addHandler(handler)
    yield seen
    logger.removeHandler(handler)


def test_clean_file_reports_no_damage(clips, warnings_seen):
    from vsrkit.codec import decode_video, read_motion

    assert decode_video(clips / "clean.mp4", strict=True).damaged_frames == 0
    assert read_motion(clips / "clean.mp4", strict=True).damaged_frames == 0
    assert warnings_seen == []


def test_decode_video_counts_concealed_frames(clips, warnings_seen):
    from vsrkit.codec import decode_video

    clean = decode_video(clips / "clean.mp4").frames.astype(np.float64)
    video = decode_video(clips / "slice.mp4")
    error = np.abs(video.frames - clean).mean(axis=(1, 2, 3))
    assert error[:DAMAGED].max() == 0 and error[DAMAGED] > 10  # garbage from the damaged frame on
    assert video.corrupt_frames == (DAMAGED,) and video.damaged_frames == 1
    assert len(warnings_seen) == 1
    assert "slice.mp4: 1 damaged frame: 1 decoded with errors (frames 5)" in warnings_seen[0]
    with pytest.raises(DataError, match=r"slice\.mp4: frame 5 was decoded with errors .*re-encode or replace"):
        decode_video(clips / "slice.mp4", strict=True)


def test_decode_video_counts_rejected_packets(clips, warnings_seen):
    from vsrkit.codec import decode_video

    video = decode_video(clips / "length.mp4")
    assert len(video.frames) == T - 1 and video.missing_frames == 1 and video.damaged_frames == 1
    assert len(warnings_seen) == 1 and "1 could not be decoded" in warnings_seen[0]
    with pytest.raises(DataError, match=r"length\.mp4: a picture after 5 decoded frames could not be decoded"):
        decode_video(clips / "length.mp4", strict=True)


def test_read_motion_and_iter_motion_count_damage(clips, warnings_seen):
    from vsrkit.codec import iter_motion, read_motion

    clip = read_motion(clips / "slice.mp4", frames=False)
    assert clip.corrupt_frames == (DAMAGED,) and clip.without_frames().damaged_frames == 1
    stream = iter_motion(clips / "slice.mp4", frames=False)
    assert len(list(stream)) == T and stream.corrupt == [DAMAGED]
    assert len(warnings_seen) == 2 and all("1 damaged frame" in w for w in warnings_seen)
    with pytest.raises(DataError, match="frame 5 was decoded with errors"):
        list(iter_motion(clips / "slice.mp4", frames=False, strict=True))
    with pytest.raises(DataError, match="could not be decoded"):
        read_motion(clips / "length.mp4", strict=True)


def test_infer_video_input_warns_or_stops(clips, warnings_seen):
    from vsrkit.inference.video import InputVideo

    assert len(list(InputVideo(str(clips / "slice.mp4")).frames(need_motion=True))) == T
    assert len(warnings_seen) == 1 and "1 damaged frame" in warnings_seen[0]
    assert len(list(InputVideo(str(clips / "slice.mp4"), max_frames=DAMAGED + 2).frames(need_motion=False))) == 7
    assert len(warnings_seen) == 2 and "1 of the first 7 frames were decoded with errors (frames 5)" in warnings_seen[1]
    with pytest.raises(DataError, match="frame 5 was decoded with errors"):
        list(InputVideo(str(clips / "slice.mp4"), strict=True).frames(need_motion=True))


def test_compress_decodes_strictly(tmp_path, monkeypatch):
    """Dataset preparation is strict: a bitstream that decodes with errors stops the run, and the new output that
    has no complete clip is removed."""
    import cv2

    import vsrkit.codec
    from vsrkit.codec.compress import compress_folder, compress_settings

    lr = tmp_path / "lr" / "a"
    lr.mkdir(parents=True)
    for i, frame in enumerate(codec_clips.translating_clip(1.0, 0.5, num_frames=8, size=(64, 96))):
        cv2.imwrite(str(lr / f"{i:08d}.png"), frame[:, :, ::-1])
    real_encode = vsrkit.codec.encode_h264

    def encode_then_damage(frames, path, **kw):
        result = real_encode(frames, path, **kw)
        damage(path, path, DAMAGED, "slice")
        return result

    monkeypatch.setattr(vsrkit.codec, "encode_h264", encode_then_damage)
    out = tmp_path / "out"
    settings = compress_settings("h264", crf=23, bf=0, ref=1)
    with pytest.raises(DataError, match=r"bitstreams/a\.mp4: frame 5 was decoded with errors"):
        compress_folder(str(tmp_path / "lr"), str(out), settings, progress=False)
    assert not out.exists()
