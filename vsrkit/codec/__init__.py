"""Video codecs: H.264/HEVC encoding, decoding, motion vectors, picture types and QP maps.

Public API (imported lazily so that ``import vsrkit.codec`` does not load PyAV):

- :func:`read_motion` / :class:`MotionClip`: decode an H.264 file into frames, dense backward/forward motion at
  unit temporal distance, picture types (FFmpeg numbering I=1, P=2, B=3) and per-macroblock QP maps.
- :func:`iter_motion` / :class:`MotionFrame`: the same one frame at a time, with memory bounded for long videos.
- :func:`save_motion` / :func:`load_motion`: the per-clip ``.npz`` files of a compressed-video dataset.
- :func:`encode_h264`, :func:`encode_hevc` (backends ``pyav``, ``x265``, ``hm``): encode RGB uint8 frames.
- :func:`decode_video` / :class:`DecodeStream`: frames, picture types and QP maps of any video PyAV reads (H.264, HEVC, ...).
- :func:`estimate_block_motion`: block motion estimated on decoded frames (the route for HEVC, whose motion vectors
  FFmpeg does not export).
"""
import importlib

_EXPORTS = {
    "MotionClip": "vsrkit.codec.motion",
    "read_motion": "vsrkit.codec.motion",
    "iter_motion": "vsrkit.codec.motion",
    "MotionFrame": "vsrkit.codec.motion",
    "save_motion": "vsrkit.codec.motion_io",
    "load_motion": "vsrkit.codec.motion_io",
    "encode_h264": "vsrkit.codec.h264",
    "encode_hevc": "vsrkit.codec.hevc",
    "hm_ldp_qp_cascade": "vsrkit.codec.hevc",
    "EncodeResult": "vsrkit.codec.encoder_check",
    "decode_video": "vsrkit.codec.decode",
    "DecodedVideo": "vsrkit.codec.decode",
    "DecodeStream": "vsrkit.codec.decode",
    "estimate_block_motion": "vsrkit.codec.block_motion",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vsrkit.codec' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
