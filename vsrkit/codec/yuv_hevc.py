"""HEVC low-delay P on raw YUV 4:2:0 frames (no RGB round trip): encode with HM or the x265 CLI, decode to planes.

:func:`vsrkit.codec.encode_hevc` takes RGB frames; codec experiments on raw sequences (MFQEv2, RCVSR's rate-distortion
study) must code the native planes. Here frames are I420 stacks ``(t, h*3/2, w)`` uint8 (Y rows, then U, then V), as
:class:`vsrkit.data.storage.YuvStorage` reads them. The encoders are the ones of :mod:`vsrkit.codec.hevc`:

- ``backend='hm'``: the HM reference encoder (``TAppEncoder``, the user's binary) with its config (e.g. HM-16.5
  ``encoder_lowdelay_P_main.cfg``, whose QP cascade it applies);
- ``backend='x265'``: the x265 CLI with HM-16.5's low-delay P QP cascade (I at QP, then P at QP+3, +2, +3, +1, 4
  reference pictures), checked in x265's frame log. An approximation of HM: same picture types, QPs and reference
  count, but x265's own mode decisions and rate-distortion optimisation, so the bits and PSNR differ from HM's.

The bitstream is kept as the raw Annex B elementary stream (``.hevc``); its size is the bit count of rate-distortion
tables. x265 writes its version and option string into a user-data SEI (about 10 kbit per stream), which HM does not
write and which no decoder needs: it is removed from the stored stream (:func:`strip_user_data_sei`, after the
settings it reports were checked), so that it does not count as rate. Decoding goes through PyAV and is bit-exact to
the encoder's reconstruction.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile

import numpy as np

from vsrkit.errors import ConfigError, DataError
from vsrkit.fileio import write_bytes_atomic

#: how each backend is named in manifests and tables
BACKEND_LABELS = {
    "hm": "HM (TAppEncoder, low-delay P config)",
    "x265": "x265 CLI with the HM-16.5 LDP QP cascade (approximation of HM)",
}
HM_NAMES = ("TAppEncoder", "TAppEncoderStatic")


def resolve_backend(backend: str = "auto", hm_bin: str | None = None, hm_cfg: str | None = None) -> dict:
    """``{'backend', 'hm_bin', 'hm_cfg', 'label'}``: ``auto`` = HM when a binary is given (or ``TAppEncoder`` is on
    the PATH) and a config is given, else the x265 CLI. ConfigError when the chosen encoder is missing."""
    if backend not in ("auto", "hm", "x265"):
        raise ConfigError(f"--backend must be auto, hm or x265, got {backend!r}")
    if backend == "auto":
        found = hm_bin or next((shutil.which(n) for n in HM_NAMES if shutil.which(n)), None)
        backend = "hm" if found and hm_cfg else "x265"
        hm_bin = found if backend == "hm" else hm_bin
    if backend == "hm":
        if not hm_bin or not (shutil.which(str(hm_bin)) or os.access(str(hm_bin), os.X_OK)):
            raise ConfigError(f"--backend hm: HM encoder binary '{hm_bin}' not found or not executable; build HM-16.5 "
                              f"(TAppEncoder) and pass --hm-bin, or use --backend x265")
        if not hm_cfg or not os.path.isfile(str(hm_cfg)):
            raise ConfigError(f"--backend hm: HM config '{hm_cfg}' not found; pass HM's "
                              f"cfg/encoder_lowdelay_P_main.cfg as --hm-cfg")
        return {"backend": "hm", "hm_bin": os.path.abspath(str(hm_bin)) if os.path.exists(str(hm_bin)) else hm_bin,
                "hm_cfg": os.path.abspath(str(hm_cfg)), "label": BACKEND_LABELS["hm"]}
    if shutil.which("x265") is None:
        raise ConfigError("--backend x265: the x265 command-line encoder is not installed (Debian: apt-get install "
                          "x265); or give an HM encoder with --hm-bin and --hm-cfg")
    return {"backend": "x265", "hm_bin": None, "hm_cfg": None, "label": BACKEND_LABELS["x265"]}


def check_i420(frames: np.ndarray, where: str) -> tuple[int, int, int]:
    """``(t, height, width)`` of an I420 stack ``(t, h*3/2, w)`` uint8; DataError otherwise."""
    arr = np.asarray(frames)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[1] % 3 or arr.shape[0] == 0:
        raise DataError(f"{where}: expected I420 frames (t, h*3/2, w) uint8, got shape {arr.shape} {arr.dtype}")
    t, rows, w = arr.shape
    h = rows * 2 // 3
    if h % 2 or w % 2:
        raise DataError(f"{where}: {w}x{h} frames; 4:2:0 needs even sizes")
    return t, h, w


#: HEVC NAL unit type of a prefix SEI, and the SEI payload type of user data unregistered (x265's info SEI)
PREFIX_SEI, USER_DATA_UNREGISTERED = 39, 5


def strip_user_data_sei(data: bytes) -> tuple[bytes, int]:
    """Remove the prefix-SEI NAL units whose first message is user data unregistered from an Annex B HEVC stream
    (with their start codes); returns ``(stream, bytes removed)``. Other NAL units are kept byte for byte."""
    starts = [m.start() for m in re.finditer(b"\x00\x00\x01", data)]
    if not starts:
        return data, 0
    begins, floor = [], 0
    for s in starts:
        b = s
        while b > floor and data[b - 1] == 0:  # the leading zero of a 4-byte start code (or trailing zeros)
            b -= 1
        begins.append(b)
        floor = s + 3
    keep, removed = [data[:begins[0]]], 0
    for i, s in enumerate(starts):
        segment = data[begins[i]:begins[i + 1] if i + 1 < len(starts) else len(data)]
        nal_type = (data[s + 3] >> 1) & 0x3F if s + 3 < len(data) else -1
        if nal_type == PREFIX_SEI and s + 5 < len(data) and data[s + 5] == USER_DATA_UNREGISTERED:
            removed += len(segment)
            continue
        keep.append(segment)
    return b"".join(keep), removed


def encode_i420_hevc(frames: np.ndarray, bitstream: str, qp: int, backend: dict, preset: str = "medium",
                     ref: int = 4, fps: int = 25, threads: int = 1) -> dict:
    """Encode I420 frames low-delay P into the Annex B file ``bitstream`` (written atomically).

    Args:
        frames: ``(t, h*3/2, w)`` uint8.
        qp: base QP (the I picture's; the P pictures follow the LDP cascade).
        backend: from :func:`resolve_backend`.
    Returns:
        ``{'bits', 'frames', 'frame_qps' (x265; None for HM: its config decides), 'encoder_version'}``.
    """
    from vsrkit.codec.hevc import _run_hm, _run_x265_cli, hevc_settings, hm_ldp_qp_cascade

    where = f"hevc encode of {bitstream}"
    n, h, w = check_i420(frames, where)
    kind = backend["backend"]
    s = hevc_settings(qp=qp, backend=kind, preset=preset, ref=ref, cascade="hm_ldp" if kind == "x265" else None,
                      fps=fps, hm_bin=backend.get("hm_bin"), hm_cfg=backend.get("hm_cfg"), threads=threads)
    s["frame_qps"] = hm_ldp_qp_cascade(n, s["qp"]) if kind == "x265" else None
    folder = os.path.dirname(os.path.abspath(bitstream))
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".vsrkit-hevc-", dir=folder) as tmp:
        raw = os.path.join(tmp, "input.yuv")
        np.ascontiguousarray(frames).tofile(raw)
        out = os.path.join(tmp, "out.hevc")
        run = _run_x265_cli if kind == "x265" else _run_hm
        version, _ = run(raw, w, h, n, out, s, tmp, where)
        if not os.path.isfile(out) or os.path.getsize(out) == 0:
            raise ConfigError(f"{where}: the encoder wrote no bitstream; check its options")
        with open(out, "rb") as f:
            data, removed = strip_user_data_sei(f.read())
        write_bytes_atomic(bitstream, data)
    return {"bits": 8 * os.path.getsize(bitstream), "frames": n, "frame_qps": s["frame_qps"],
            "encoder_version": version, "removed_sei_bits": 8 * removed}


def decode_hevc_i420(path: str, width: int, height: int) -> np.ndarray:
    """Decode an Annex B HEVC file into ``(t, h*3/2, w)`` I420 frames (output order = display order for low-delay
    streams). DataError for unreadable files, damaged frames or another frame size."""
    import av

    if not os.path.isfile(path):
        raise DataError(f"{path}: bitstream not found")
    frames = []
    try:
        with av.open(path, format="hevc") as container:
            for frame in container.decode(video=0):
                if frame.is_corrupt:
                    raise DataError(f"{path}: frame {len(frames)} decoded with errors; re-encode the sequence")
                if (frame.width, frame.height) != (width, height):
                    raise DataError(f"{path}: frame {len(frames)} is {frame.width}x{frame.height}, expected "
                                    f"{width}x{height}")
                frames.append(frame.to_ndarray(format="yuv420p"))
    except av.error.FFmpegError as exc:
        raise DataError(f"{path}: cannot decode ({exc}); re-encode the sequence") from exc
    if not frames:
        raise DataError(f"{path}: no decodable frames")
    return np.stack(frames)
