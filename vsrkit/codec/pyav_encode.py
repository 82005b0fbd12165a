"""Shared PyAV encoding loop: RGB frames -> yuv420p (averaged chroma) -> libx264/libx265 -> mp4, atomically."""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from vsrkit.codec.encoder_check import (capture_option_errors, check_av_options, encoder_settings_from_bitstream)
from vsrkit.codec.yuv import check_rgb_frame, rgb_to_yuv420p, yuv420p_to_i420
from vsrkit.errors import ConfigError, DataError
from vsrkit.fileio import atomic_path


def frame_rate(fps) -> Fraction:
    """A frame rate as an exact fraction: ``25``, ``29.97``, ``Fraction(30000, 1001)`` (what PyAV reports for NTSC
    video) or ``'30000/1001'``. ConfigError for anything else or a rate <= 0."""
    try:
        rate = Fraction(str(fps)) if isinstance(fps, (float, str)) else Fraction(fps)
    except (TypeError, ValueError, ZeroDivisionError):
        rate = None
    if rate is None or rate <= 0:
        raise ConfigError(f"fps={fps!r} is not a positive frame rate; give e.g. 25, 29.97 or '30000/1001'")
    return rate


def frame_rate_record(rate: Fraction) -> int | str:
    """How a frame rate is recorded in settings and manifests: an int when whole, else ``'num/den'``."""
    return rate.numerator if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"


def encode_with_pyav(frames, path: str, codec_name: str, options: dict, fps, threads: int,
                     where: str, check=None) -> tuple[int, int, int, str, dict]:
    """Encode RGB uint8 frames with PyAV into ``path`` (written to a temporary name, then renamed).

    Args:
        frames: iterable of ``(h, w, 3)`` uint8 RGB arrays (h, w even), or a ``(t, h, w, 3)`` array.
        codec_name: ``'libx264'`` or ``'libx265'``.
        options: AVOptions of the encoder (checked against its option table).
        fps: frame rate written into the container (see :func:`frame_rate`; 30000/1001 stays exact).
        threads: encoder threads (1 = deterministic and best when clips are encoded in parallel processes).
        check: ``check(encoder_options)`` raising ConfigError when a setting was not applied; it runs before the
            file is renamed to ``path``, so a refused encode leaves nothing there.
    Returns:
        ``(num_frames, width, height, encoder_version, encoder_options)``, the last two read from the SEI.
    """
    import av

    rate = frame_rate(fps)
    first_packet = b""
    n = 0
    width = height = None
    with atomic_path(path, keep_ext=True) as tmp:  # same extension as path, so the muxer picks the format
        with capture_option_errors(where):
            container = av.open(tmp, mode="w")
            try:
                stream = None
                for i, frame in enumerate(frames):
                    rgb = check_rgb_frame(frame, name=f"{where} frame {i}")
                    if stream is None:
                        height, width = rgb.shape[:2]
                        stream = container.add_stream(codec_name, rate=rate)
                        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                        stream.codec_context.thread_count = threads
                        stream.codec_context.time_base = 1 / rate
                        check_av_options(stream.codec_context, options, where)
                        stream.options = dict(options)
                    elif rgb.shape[:2] != (height, width):
                        raise DataError(f"{where} frame {i}: size {rgb.shape[1]}x{rgb.shape[0]} differs from frame 0 "
                                        f"({width}x{height}); all frames of a clip must have the same size")
                    vf = av.VideoFrame.from_ndarray(yuv420p_to_i420(*rgb_to_yuv420p(rgb)), format="yuv420p")
                    vf.pts, vf.time_base = i, 1 / rate
                    for packet in stream.encode(vf):
                        if not first_packet:
                            first_packet = bytes(packet)
                        container.mux(packet)
                    n += 1
                if stream is None:
                    raise DataError(f"{where}: no frames to encode; a clip needs at least one frame")
                for packet in stream.encode(None):
                    if not first_packet:
                        first_packet = bytes(packet)
                    container.mux(packet)
            finally:
                container.close()
        data = first_packet + (bytes(stream.codec_context.extradata or b"") if stream is not None else b"")
        version, reported = encoder_settings_from_bitstream(data)
        if check is not None:
            check(reported)
    return n, width, height, version, reported


def as_frame_list(frames) -> list:
    """Accept a ``(t, h, w, 3)`` array or an iterable of frames; return a list of frames."""
    if isinstance(frames, np.ndarray) and frames.ndim == 4:
        return list(frames)
    return list(frames)
