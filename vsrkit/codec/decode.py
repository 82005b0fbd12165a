"""Decoding with PyAV: frames in display order, picture types, per-block QP maps, decode order and raw MV side data.

Picture types use FFmpeg numbering: I=1, P=2, B=3 (0 = unknown).

Damaged files. FFmpeg reports what it finds wrong in a bitstream: a packet it cannot parse is rejected, and a frame
whose slices failed to decode is output with the damaged macroblocks concealed and flagged corrupt. Such a frame
(and the frames predicted from it, up to the next key frame) shows garbage, and so does its motion. Every decoder
here counts them: by default (``strict=False``) the damaged frames are skipped or kept as FFmpeg outputs them, and
one warning on the ``vsrkit`` logger says how many there were and which; with ``strict=True`` (the default of
dataset preparation) the first one raises :class:`DataError`. Damage that still decodes into valid syntax is
indistinguishable from content and is not detected (an mp4 carries no checksum).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from vsrkit.errors import DataError

#: codec name -> motion vectors exported by FFmpeg (``+export_mvs``)
MV_CODECS = ("h264",)

log = logging.getLogger("vsrkit")


@dataclass
class DecodedVideo:
    """A decoded clip, all per-frame arrays in display order.

    Attributes:
        frames: ``(t, h, w, 3)`` uint8 RGB, or None when not requested.
        luma: ``(t, h, w)`` uint8 Y planes, or None when not requested.
        frame_types: ``(t,)`` uint8, FFmpeg numbering (I=1, P=2, B=3, 0 unknown).
        qp: ``(t, ceil(h/16), ceil(w/16))`` uint8 per-macroblock QP, or None when the decoder exports none
            (FFmpeg's HEVC decoder exports no QP map).
        decode_index: ``(t,)`` int64, position of each displayed frame in decoding order (output order when the
            file has no timestamps, e.g. a raw elementary stream).
        codec: the stream's codec name (``'h264'``, ``'hevc'``...).
        width, height: frame size; fps: the stream's average frame rate (0.0 if unknown).
        corrupt_frames: display indices of the frames FFmpeg flagged as damaged (errors concealed).
        missing_frames: frames that could not be decoded at all (rejected or silently dropped packets).
    """
    frames: np.ndarray | None
    luma: np.ndarray | None
    frame_types: np.ndarray
    qp: np.ndarray | None
    decode_index: np.ndarray
    codec: str
    width: int
    height: int
    fps: float
    corrupt_frames: tuple = ()
    missing_frames: int = 0

    @property
    def damaged_frames(self) -> int:
        """Frames that are damaged or missing (see the module docstring)."""
        return len(self.corrupt_frames) + self.missing_frames


def open_video(path):
    """Open ``path`` with PyAV and return ``(container, video_stream)``; DataError for missing/unreadable files."""
    import av

    path = str(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: video file not found; check the path")
    try:
        container = av.open(path)
    except (av.error.FFmpegError, OSError) as exc:
        raise DataError(f"{path}: not a readable video ({exc}); re-encode or replace the file") from exc
    if not container.streams.video:
        container.close()
        raise DataError(f"{path}: contains no video stream")
    return container, container.streams.video[0]


def probe_codec(path) -> str:
    """The codec name of the first video stream of ``path`` (e.g. ``'h264'``, ``'hevc'``)."""
    container, stream = open_video(path)
    try:
        return stream.codec_context.name
    finally:
        container.close()


def _luma(frame) -> np.ndarray:
    plane = frame.planes[0]
    buf = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return buf[:, :plane.width].copy()


class DecodeStream:
    """The frames of a video one at a time, in the order the decoder outputs them (display order), with what the
    demuxer has seen so far (decode order and reference flags by pts). Iterate once; the file is closed at the end
    of the iteration or when the iterator is dropped.

    Each item is a dict: ``pts`` (None in raw elementary streams), ``out`` (output index), ``type`` (FFmpeg picture
    type), ``h``, ``w``, and ``rgb`` ``(h, w, 3)`` uint8 / ``luma`` ``(h, w)`` uint8 / ``qp`` ``(ceil(h/16),
    ceil(w/16))`` uint8 / ``mvs`` (structured ``MOTION_VECTORS`` array) where requested and present, else None.

    Damage (see the module docstring): ``strict=True`` raises DataError at the first damaged or undecodable frame;
    otherwise ``corrupt`` (output indices of frames flagged damaged) and ``missing`` (frames lost) are counted and
    one warning is logged at the end of the iteration.

    Attributes (valid during iteration):
        codec, fps, frame_count (the container's count, 0 if unknown), output (frames yielded so far);
        corrupt: output indices of the frames FFmpeg flagged as damaged; missing: frames that could not be decoded;
        pts_to_decode: pts -> position in decoding order, for every packet demuxed so far;
        decode_pts: the pts of those packets in decoding order;
        pts_is_ref: pts -> ``nal_ref_idc > 0`` (H.264 with ``refs=True``);
        ref_decode_positions: decoding-order positions of the reference packets, ascending (``refs=True``).
    """

    def __init__(self, path, *, frames: bool = True, luma: bool = False, qp: bool = True, mvs: bool = False,
                 refs: bool = False, threads: int = 0, strict: bool = False):
        self.path = str(path)
        self.strict = strict
        self.corrupt: list[int] = []
        self.missing = 0
        self._whole_packets = 0   # packets with data that the decoder accepted (one picture each)
        self.container, self.stream = open_video(self.path)
        ctx = self.stream.codec_context
        side = [s for s, on in (("mvs", mvs), ("venc_params", qp)) if on]
        if side:
            ctx.options = {"export_side_data": "+".join(side)}
        ctx.thread_count = threads
        self.codec = ctx.name
        rate = self.stream.average_rate
        self.fps = float(rate) if rate else 0.0
        self.frame_count = int(self.stream.frames or 0)
        self.want = (frames, luma, qp, mvs)
        self.refs = refs and self.codec == "h264"
        self.length_size, self.sps_units, self._max_refs = 4, [], None
        if self.refs:
            from vsrkit.codec.h264_bitstream import avcc_info
            self.length_size, self.sps_units = avcc_info(bytes(ctx.extradata) if ctx.extradata else None)
        self.pts_to_decode: dict = {}
        self.decode_pts: list = []
        self.pts_is_ref: dict = {}
        self.ref_decode_positions: list = []
        self.output = 0

    @property
    def max_refs(self) -> int | None:
        """``max_num_ref_frames`` of the first SPS seen (H.264 with ``refs=True``), else None (parsed once)."""
        if self._max_refs is None and self.refs and self.sps_units:
            from vsrkit.codec.h264_bitstream import sps_max_num_ref_frames
            try:
                self._max_refs = sps_max_num_ref_frames(self.sps_units[0])
            except (IndexError, ValueError):
                self._max_refs = 0  # unparsable SPS: every earlier reference picture is a candidate
        return self._max_refs or None

    @property
    def damaged(self) -> int:
        """Frames damaged or missing so far."""
        return len(self.corrupt) + self.missing

    def damage_report(self) -> str:
        """One line on the damage found (empty when none)."""
        if not self.damaged:
            return ""
        parts = []
        if self.corrupt:
            shown = ", ".join(map(str, self.corrupt[:8])) + (", ..." if len(self.corrupt) > 8 else "")
            parts.append(f"{len(self.corrupt)} decoded with errors (frames {shown})")
        if self.missing:
            parts.append(f"{self.missing} could not be decoded")
        return (f"{self.path}: {self.damaged} damaged frame{'s' if self.damaged > 1 else ''}: {'; '.join(parts)}; "
                f"FFmpeg reported decoding errors, so these frames and those predicted from them up to the next key "
                f"frame show garbage (and so does their motion); re-encode or replace the file")

    def _damage(self, what: str) -> None:
        if self.strict:
            raise DataError(f"{self.path}: {what}; the file is corrupt, re-encode or replace it (FFmpeg reported "
                            f"decoding errors)")

    def _decode(self, packet) -> list:
        """The frames of one packet; a packet the decoder rejects as invalid data is counted as a missing frame."""
        import av

        try:
            frames = packet.decode()
        except av.error.InvalidDataError as exc:
            if not packet.size:
                raise
            self._damage(f"a picture after {self.output} decoded frames could not be decoded ({exc})")
            self.missing += 1
            return []
        if packet.size and not packet.is_discard:
            self._whole_packets += 1
        return frames

    def __iter__(self):
        import av

        if self.refs:
            from vsrkit.codec.h264_bitstream import packet_reference_info
        try:
            for packet in self.container.demux(self.stream):
                if packet.pts is not None and packet.pts not in self.pts_to_decode:
                    position = len(self.decode_pts)
                    self.pts_to_decode[packet.pts] = position
                    self.decode_pts.append(packet.pts)
                    if self.refs and packet.size:
                        is_ref, sps_in_packet = packet_reference_info(bytes(packet), self.length_size)
                        self.pts_is_ref[packet.pts] = is_ref
                        if is_ref:
                            self.ref_decode_positions.append(position)
                        self.sps_units = self.sps_units or sps_in_packet
                for frame in self._decode(packet):
                    if frame.is_corrupt:
                        self._damage(f"frame {self.output} was decoded with errors (damaged macroblocks concealed)")
                        self.corrupt.append(self.output)
                    record = _record(frame, *self.want, self.output)
                    self.output += 1
                    yield record
        except av.error.FFmpegError as exc:
            raise DataError(f"{self.path}: decoding failed after {self.output} frames ({exc}); the file is "
                            f"truncated or corrupt, re-encode it") from exc
        finally:
            self.container.close()
        if not self.output:
            raise DataError(f"{self.path}: no decodable video frames; the file is empty or corrupt")
        if self.pts_to_decode and self._whole_packets > self.output:  # accepted packets that gave no picture
            self._damage(f"{self._whole_packets - self.output} packets gave no picture")
            self.missing += self._whole_packets - self.output
        if self.damaged:
            log.warning(self.damage_report())


def decode_video(path, *, frames: bool = True, luma: bool = False, qp: bool = True,
                 threads: int = 0, strict: bool = False) -> DecodedVideo:
    """Decode a video file into display-ordered arrays.

    Args:
        path: any file PyAV reads (mp4, mkv, raw ``.h264``/``.hevc``...).
        frames: return RGB frames (BT.601 conversion by swscale).
        luma: return the decoded Y planes (what motion compensation saw).
        qp: return per-macroblock QP maps when the decoder exports them.
        threads: decoder threads (0 = FFmpeg's choice).
        strict: raise at the first damaged frame instead of warning (see the module docstring); the damage is in
            ``corrupt_frames`` / ``missing_frames`` of the result either way.
    For motion vectors see :func:`vsrkit.codec.read_motion`.
    Raises:
        DataError: missing, unreadable or truncated file, or a file without decodable frames; with ``strict`` a
            damaged frame.
    """
    stream = DecodeStream(path, frames=frames, luma=luma, qp=qp, threads=threads, strict=strict)
    records = list(stream)
    # Display order = presentation timestamps; fall back to output order when timestamps are missing.
    have_pts = all(r["pts"] is not None for r in records)
    order = sorted(range(len(records)), key=lambda i: records[i]["pts"]) if have_pts else list(range(len(records)))
    records = [records[i] for i in order]
    pts_to_decode = stream.pts_to_decode
    if have_pts and len(pts_to_decode) >= len(records):
        decode_index = np.array([pts_to_decode.get(r["pts"], r["out"]) for r in records], dtype=np.int64)
    else:  # raw elementary streams carry no pts in packets: output order is display order, decode order unknown
        decode_index = np.array([r["out"] for r in records], dtype=np.int64)
    h, w = records[0]["h"], records[0]["w"]
    for i, r in enumerate(records):
        check_size(stream.path, i, r, h, w)
    qps = None
    if qp and all(r["qp"] is not None for r in records):
        qps = np.stack([r["qp"] for r in records])
    return DecodedVideo(
        frames=np.stack([r["rgb"] for r in records]) if frames else None,
        luma=np.stack([r["luma"] for r in records]) if luma else None,
        frame_types=np.array([r["type"] for r in records], dtype=np.uint8),
        qp=qps, decode_index=decode_index, codec=stream.codec, width=w, height=h, fps=stream.fps,
        corrupt_frames=tuple(order.index(i) for i in stream.corrupt), missing_frames=stream.missing)


def check_size(path: str, index: int, record: dict, h: int, w: int) -> None:
    """DataError when frame ``index`` is not ``w x h`` (the size of frame 0)."""
    if (record["h"], record["w"]) != (h, w):
        raise DataError(f"{path}: frame {index} has size {record['w']}x{record['h']}, frame 0 {w}x{h}; resolution "
                        f"changes inside a clip are not supported, split the video")


def _record(frame, want_rgb, want_luma, want_qp, want_mvs, out_index) -> dict:
    rec = {"pts": frame.pts, "out": out_index, "type": int(frame.pict_type), "h": frame.height, "w": frame.width,
           "rgb": frame.to_ndarray(format="rgb24") if want_rgb else None,
           "luma": _luma(frame) if want_luma else None, "qp": None, "mvs": None}
    if want_qp or want_mvs:
        side = frame.side_data
        if want_qp:
            params = side.get("VIDEO_ENC_PARAMS")
            if params is not None:
                rec["qp"] = np.clip(params.qp_map(), 0, 255).astype(np.uint8)
        if want_mvs:
            vectors = side.get("MOTION_VECTORS")
            rec["mvs"] = vectors.to_ndarray() if vectors is not None else None
    return rec
