"""HEVC encoding: PyAV/libx265 fixed-QP low-delay P, the x265 CLI with HM-16.5's LDP QP cascade, or an external HM.

- ``backend='pyav'``: libx265 through PyAV, ``qp=Q:ipratio=1:bframes=0:keyint=-1:scenecut=0:ref=4:aq-mode=0:
  cutree=0`` -> I P P P ..., every frame at QP Q (without ``ipratio=1`` the I-frame would get QP Q-3).
  PyAV/ffmpeg's libx265 wrapper rejects ``qpfile`` and ignores ``zones`` under fixed QP, so it cannot do a cascade.
- ``backend='x265'``: the x265 command-line encoder (Debian package ``x265``) on raw YUV 4:2:0 with a ``--qpfile``
  that reproduces HM-16.5 ``encoder_lowdelay_P_main.cfg`` (GOP 4, QP offsets 3/2/3/1: I at Q, then P at
  Q+3, Q+2, Q+3, Q+1, repeating; 4 reference pictures). Per-frame QPs are checked in x265's CSV log.
- ``backend='hm'``: the HM reference encoder (``TAppEncoder``), a binary the user builds and names (``hm_bin``)
  with its config (``hm_cfg``, e.g. HM-16.5 ``encoder_lowdelay_P_main.cfg``). Sizes not a multiple of 8 get
  ``--ConformanceWindowMode=1``.

The x265 and HM outputs (raw Annex B) are remuxed into mp4 without re-encoding (low-delay streams only: decode order
= display order). Decoded with PyAV, they are bit-exact to the encoder's reconstruction. FFmpeg exports neither
motion vectors nor QP maps for HEVC (see :func:`vsrkit.codec.estimate_block_motion`).
"""
from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import tempfile
from fractions import Fraction

import numpy as np

from vsrkit.codec.encoder_check import (EncodeResult, format_params, parse_params, require_params,
                                        require_setting)
from vsrkit.codec.pyav_encode import as_frame_list, encode_with_pyav
from vsrkit.codec.yuv import write_yuv420p
from vsrkit.errors import ConfigError, DataError
from vsrkit.fileio import atomic_path

#: HM-16.5 encoder_lowdelay_P_main.cfg: QPOffset of Frame1..Frame4 of the GOP of 4
HM_LDP_QP_OFFSETS = (3, 2, 3, 1)
BACKENDS = ("pyav", "x265", "hm")


def hm_ldp_qp_cascade(num_frames: int, qp: int, offsets=HM_LDP_QP_OFFSETS) -> list[int]:
    """Per-frame QPs of HM's low-delay P configuration: frame 0 (I) at ``qp``, frame k>0 at
    ``qp + offsets[(k - 1) % len(offsets)]`` (HM-16.5 LDP: 32 -> 32, 35, 34, 35, 33, 35, 34, 35, 33, ...)."""
    return [int(qp)] + [int(qp) + int(offsets[(k - 1) % len(offsets)]) for k in range(1, num_frames)]


def hevc_settings(qp=32, backend="pyav", preset="medium", ref=4, cascade=None, fps=25, x265_params=None,
                  hm_bin=None, hm_cfg=None, threads=1) -> dict:
    """Validate and normalise HEVC settings (the dict recorded in manifests)."""
    if backend not in BACKENDS:
        raise ConfigError(f"hevc: unknown backend '{backend}'; choose one of {', '.join(BACKENDS)}")
    if not 0 <= int(qp) <= 51:
        raise ConfigError(f"hevc: qp={qp} is outside [0, 51]")
    if cascade not in (None, "hm_ldp"):
        raise ConfigError(f"hevc: unknown cascade '{cascade}'; use 'hm_ldp' (HM-16.5 low-delay P offsets) or none")
    if cascade and backend == "pyav":
        raise ConfigError("hevc: PyAV's libx265 cannot apply a per-frame QP cascade (it rejects qpfile and ignores "
                          "zones under fixed QP); use backend='x265' (the x265 CLI) or 'hm'")
    if backend == "hm":
        if not hm_bin or not (shutil.which(str(hm_bin)) or os.access(str(hm_bin), os.X_OK)):
            raise ConfigError(f"hevc: HM encoder binary '{hm_bin}' not found or not executable; build HM-16.5 "
                              f"(TAppEncoder) and pass its path as hm_bin / --hm-bin")
        if not hm_cfg or not os.path.isfile(str(hm_cfg)):
            raise ConfigError(f"hevc: HM config '{hm_cfg}' not found; pass e.g. HM-16.5's "
                              f"cfg/encoder_lowdelay_P_main.cfg as hm_cfg / --hm-cfg")
    params = parse_params(x265_params)
    owned = {"qp", "bframes", "ref", "keyint", "ipratio", "crf"}
    clash = sorted(owned & set(params))
    if clash:
        raise ConfigError(f"hevc: x265_params sets {', '.join(clash)}, fixed by vsrkit's low-delay-P setup (use "
                          f"qp=/ref= arguments)")
    if backend == "hm" and params:
        raise ConfigError("hevc: x265_params do not apply to the HM backend; put HM settings in hm_cfg")
    return {"codec": "hevc", "backend": backend, "qp": int(qp), "preset": preset, "ref": int(ref),
            "cascade": cascade, "fps": int(fps), "x265_params": params, "threads": int(threads),
            "hm_bin": str(hm_bin) if hm_bin else None, "hm_cfg": str(hm_cfg) if hm_cfg else None,
            "structure": "low-delay P", "pix_fmt": "yuv420p", "chroma": "2x2 average, BT.601 limited range"}


def encode_hevc(frames, path, *, qp=32, backend="pyav", preset="medium", ref=4, cascade=None, fps=25,
                x265_params=None, hm_bin=None, hm_cfg=None, threads=1) -> EncodeResult:
    """Encode RGB frames to an HEVC mp4 (low-delay P, fixed QP or HM's QP cascade).

    Args:
        frames: ``(t, h, w, 3)`` uint8 RGB or an iterable of ``(h, w, 3)`` frames, h and w even.
        path: output ``.mp4`` (written under a temporary name, then renamed).
        qp: base QP (the I-frame's).
        backend: ``'pyav'``, ``'x265'`` (CLI, needed for ``cascade``) or ``'hm'`` (with ``hm_bin``, ``hm_cfg``).
        cascade: None (every frame at ``qp``) or ``'hm_ldp'`` (see :func:`hm_ldp_qp_cascade`); ignored by HM, whose
            config holds the cascade.
        ref: reference pictures (4 as in HM's LDP config).
        x265_params: extra x265 settings (``'key=value:...'`` or dict) for ``pyav``/``x265``.
    Returns:
        :class:`EncodeResult`; for x265 backends ``encoder_options`` holds the settings x265 reports and
        ``settings['frame_qps']`` the per-frame QPs that were asked for.
    Raises:
        ConfigError: bad settings, missing encoder binaries, an option the encoder did not apply, per-frame QPs
            that differ from the ones asked for. DataError: bad frames or an encoder that failed on them.
    """
    path = str(path)
    s = hevc_settings(qp, backend, preset, ref, cascade, fps, x265_params, hm_bin, hm_cfg, threads)
    where = f"hevc encode of {path}"
    frames = as_frame_list(frames)
    if backend == "pyav":
        return _encode_pyav(frames, path, s, where)
    s["frame_qps"] = hm_ldp_qp_cascade(len(frames), s["qp"]) if cascade else [s["qp"]] * len(frames)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".vsrkit-hevc-", dir=os.path.dirname(os.path.abspath(path))) as tmp:
        raw = os.path.join(tmp, "input.yuv")
        n, width, height = write_yuv420p(raw, frames)
        bitstream = os.path.join(tmp, "out.hevc")
        if backend == "x265":
            version, reported = _run_x265_cli(raw, width, height, n, bitstream, s, tmp, where)
        else:
            s["frame_qps"] = None  # set by the HM config
            version, reported = _run_hm(raw, width, height, n, bitstream, s, tmp, where)
        num = remux_hevc_to_mp4(bitstream, path, s["fps"], where)
    if num != n:
        raise DataError(f"{where}: the encoder wrote {num} frames for {n} input frames; check its config "
                        f"(FramesToBeEncoded, FrameSkip)")
    return EncodeResult(path=path, codec="hevc", backend="x265-cli" if backend == "x265" else "hm", num_frames=n,
                        width=width, height=height, settings=s, encoder_options=reported, encoder_version=version)


def _low_delay_params(s: dict) -> dict:
    params = {"qp": str(s["qp"]), "ipratio": "1", "bframes": "0", "keyint": "-1", "scenecut": "0",
              "ref": str(s["ref"]), "aq-mode": "0", "cutree": "0", "log-level": "error"}
    params.update(s["x265_params"])
    return params


def fitting_ctu(width: int, height: int, where: str) -> int:
    """The largest x265 CTU (64, 32, 16) that fits in the picture: x265 refuses smaller pictures, and then the
    3.5 CLI may hang and libx265 inside PyAV may corrupt the process's heap."""
    ctu = next((c for c in (64, 32, 16) if c <= min(width, height)), None)
    if ctu is None:
        raise DataError(f"{where}: frames of {width}x{height} are smaller than x265's smallest CTU (16x16)")
    return ctu


def _encode_pyav(frames, path: str, s: dict, where: str) -> EncodeResult:
    if frames:
        height, width = np.asarray(frames[0]).shape[:2]
        s["ctu"] = fitting_ctu(width, height, where)
    params = _low_delay_params(s)
    if s.get("ctu", 64) != 64:
        params["ctu"] = str(s["ctu"])
    options = {"preset": s["preset"], "x265-params": format_params(params)}
    n, w, h, version, reported = encode_with_pyav(frames, path, "libx265", options, s["fps"], s["threads"], where,
                                                  lambda reported: _check_x265_report(reported, s, where))
    s["frame_qps"] = [s["qp"]] * n
    return EncodeResult(path=path, codec="hevc", backend="pyav-libx265", num_frames=n, width=w, height=h,
                        settings=s, encoder_options=reported, encoder_version=version)


def _check_x265_report(reported: dict, s: dict, where: str) -> None:
    require_setting(reported, "rc", "cqp", where, numeric=False)
    require_setting(reported, "qp", s["qp"], where)
    require_setting(reported, "bframes", 0, where)
    require_setting(reported, "ref", s["ref"], where)
    require_setting(reported, "ipratio", 1.0, where)
    require_params(reported, s["x265_params"], where, "x265_params")


#: an external encoder that runs longer than this is stopped (x265 3.5 hangs after some start-up errors, e.g. a
#: picture smaller than one CTU); HM needs ~4 s per 720p frame here, so long clips may need more
ENCODER_TIMEOUT_S = float(os.environ.get("VSRKIT_ENCODER_TIMEOUT_S", "3600"))


def _run(cmd: list[str], where: str, cwd: str) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=ENCODER_TIMEOUT_S)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot run {cmd[0]} ({exc}); check that it is installed and executable") from exc
    except subprocess.TimeoutExpired as exc:
        said = (exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or "").strip().splitlines()[-2:]
        raise ConfigError(f"{where}: {os.path.basename(cmd[0])} did not finish in {ENCODER_TIMEOUT_S:.0f} s "
                          f"({' | '.join(said) or 'no output'}); raise VSRKIT_ENCODER_TIMEOUT_S or check the "
                          f"frame size (x265 needs at least one CTU)") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ConfigError(f"{where}: {os.path.basename(cmd[0])} failed (exit {proc.returncode}): "
                          f"{' | '.join(tail)}; check the options")
    return proc


def _run_x265_cli(raw, width, height, n, bitstream, s, tmp, where):
    exe = shutil.which("x265")
    if exe is None:
        raise ConfigError(f"{where}: the x265 command-line encoder is not installed (Debian: apt-get install x265); "
                          f"it is needed for backend='x265' (HM's QP cascade)")
    qpfile = os.path.join(tmp, "qpfile.txt")
    with open(qpfile, "w") as f:
        for k, q in enumerate(s["frame_qps"]):
            f.write(f"{k} {'I' if k == 0 else 'P'} {q}\n")
    log = os.path.join(tmp, "frames.csv")
    cmd = [exe, "--input", raw, "--input-res", f"{width}x{height}", "--input-csp", "i420", "--fps", str(s["fps"]),
           "--frames", str(n), "--preset", s["preset"], "--qp", str(s["qp"]), "--bframes", "0", "--keyint", "-1",
           "--no-scenecut", "--ref", str(s["ref"]), "--ipratio", "1.0", "--aq-mode", "0", "--no-cutree",
           "--qpfile", qpfile, "--frame-threads", str(max(1, s["threads"])), "--no-wpp", "--no-progress",
           "--log-level", "error", "--csv", log, "--csv-log-level", "1", "--output", bitstream]
    ctu = fitting_ctu(width, height, where)
    if ctu != 64:
        cmd[1:1] = ["--ctu", str(ctu)]
    s["ctu"] = ctu
    for key, value in s["x265_params"].items():
        cmd += [f"--{key}"] if value == "1" else [f"--{key}", value]
    _run(cmd, where, tmp)
    qps, types = _x265_csv_frames(log, where)
    if len(qps) != n:
        raise ConfigError(f"{where}: x265 logged {len(qps)} frames for {n} inputs; check the options")
    if qps != s["frame_qps"] or types[0] != "I" or any(t != "P" for t in types[1:]):
        raise ConfigError(f"{where}: x265 used QPs {qps} / types {''.join(types)}, asked for {s['frame_qps']} "
                          f"I P P ...; the qpfile was not honoured, check the x265 version and options")
    with open(bitstream, "rb") as f:
        from vsrkit.codec.encoder_check import encoder_settings_from_bitstream

        version, reported = encoder_settings_from_bitstream(f.read(1 << 16))
    require_setting(reported, "bframes", 0, where)
    require_setting(reported, "ref", s["ref"], where)
    return version, reported


def _x265_csv_frames(log: str, where: str) -> tuple[list[int], list[str]]:
    """Per-frame ``(QPs, types)`` in display (POC) order from x265's ``--csv-log-level 1`` log."""
    try:
        text = open(log).read()
    except OSError as exc:
        raise ConfigError(f"{where}: x265 wrote no frame log ({exc})") from exc
    rows = list(csv.reader(io.StringIO(text.split("\n\n")[0])))
    header = [h.strip() for h in rows[0]]
    ip, iq, it = header.index("POC"), header.index("QP"), header.index("Type")
    frames = sorted((int(r[ip]), round(float(r[iq])), r[it].strip()[0]) for r in rows[1:] if len(r) > iq)
    return [q for _, q, _ in frames], [t for _, _, t in frames]


def _run_hm(raw, width, height, n, bitstream, s, tmp, where):
    cmd = [s["hm_bin"], "-c", s["hm_cfg"], "-i", raw, "-b", bitstream, "-o", os.path.join(tmp, "recon.yuv"),
           "-wdt", str(width), "-hgt", str(height), "-fr", str(s["fps"]), "-f", str(n), "-q", str(s["qp"]),
           "--InputBitDepth=8", "--OutputBitDepth=8"]
    if width % 8 or height % 8:
        cmd.append("--ConformanceWindowMode=1")
    proc = _run(cmd, where, tmp)
    if not os.path.isfile(bitstream) or os.path.getsize(bitstream) == 0:
        raise ConfigError(f"{where}: HM ({s['hm_bin']}) wrote no bitstream; check hm_cfg")
    first = (proc.stdout or "").strip().splitlines()
    version = next((line.strip() for line in first if "HM software" in line or "Version" in line), "HM")
    return version, {}


def remux_hevc_to_mp4(bitstream: str, path: str, fps: int, where: str) -> int:
    """Copy a raw HEVC Annex B stream into an mp4 (no re-encoding); returns the number of frames.

    Only for low-delay streams (no picture reordering): timestamps are the packet index.
    """
    import av

    count = 0
    try:
        with atomic_path(path, keep_ext=True) as tmp, av.open(bitstream, format="hevc") as inp:
            stream = inp.streams.video[0]
            with av.open(tmp, "w") as out:
                ostream = out.add_stream_from_template(stream)
                ostream.time_base = Fraction(1, fps)
                for packet in inp.demux(stream):
                    if packet.size == 0:
                        continue
                    packet.stream = ostream
                    packet.pts = packet.dts = count
                    packet.duration = 1
                    packet.time_base = Fraction(1, fps)
                    out.mux(packet)
                    count += 1
            if stream.codec_context.has_b_frames:
                raise ConfigError(f"{where}: the HEVC stream reorders pictures (random-access config); vsrkit "
                                  f"supports low-delay configs only (e.g. HM encoder_lowdelay_P_main.cfg)")
    except av.error.FFmpegError as exc:
        raise DataError(f"{where}: cannot read the encoder's HEVC output ({exc})") from exc
    return count
