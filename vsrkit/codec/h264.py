"""H.264 encoding through PyAV/libx264 (CRF or fixed QP, preset, B-frames, reference count)."""
from __future__ import annotations

from vsrkit.codec.encoder_check import (X264_SEI_NAMES, EncodeResult, format_params, parse_params, require_params,
                                        require_setting)
from vsrkit.codec.pyav_encode import encode_with_pyav, frame_rate, frame_rate_record
from vsrkit.errors import ConfigError

PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
           "placebo")


def x264_cpu_params() -> dict:
    """x264 parameters that keep its output deterministic on this CPU: ``{'asm': 'AVX2,SSE2Fast'}`` where x264 would
    use AVX-512, else ``{}``.

    x264's AVX-512 code reads uninitialised memory in the macroblock-tree rate control: on an AVX-512 machine the
    same 10 frames of 32x32 at CRF 25 came out as 2,338 to 2,875-byte streams depending on what the process had
    allocated and freed before (other pictures up to 96 px wide too; 112-320 px wide ones were stable), while with
    AVX-512 off or no asm at all it was always the 2,338 bytes of the C code. ``AVX2,SSE2Fast`` is what x264
    detects on every AVX-512 CPU (AVX2 implies FMA3, LZCNT, BMI1/2; SSSE3 implies fast SSE2) without AVX-512, so
    streams are also identical to those of AVX2 machines. The test is numpy's ``AVX512_SKX`` (F, CD, BW, DQ, VL
    with OS support), the same bits x264 checks.
    """
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__ as features
    return {"asm": "AVX2,SSE2Fast"} if features.get("AVX512_SKX") else {}


def h264_settings(crf=None, qp=None, preset="medium", bf=None, ref=None, fps=25, x264_params=None, tune=None,
                  threads=1) -> dict:
    """Validate and normalise H.264 settings (the dict recorded in manifests). ``crf`` defaults to 25."""
    if crf is not None and qp is not None:
        raise ConfigError(f"h264: give either crf ({crf}) or qp ({qp}), not both")
    if crf is None and qp is None:
        crf = 25
    if crf is not None and not 0 <= float(crf) <= 51:
        raise ConfigError(f"h264: crf={crf} is outside [0, 51]")
    if qp is not None and not 0 <= int(qp) <= 51:
        raise ConfigError(f"h264: qp={qp} is outside [0, 51]")
    if preset not in PRESETS:
        raise ConfigError(f"h264: unknown preset '{preset}'; choose one of {', '.join(PRESETS)}")
    if bf is not None and not 0 <= int(bf) <= 16:
        raise ConfigError(f"h264: bf={bf} is outside [0, 16]")
    if ref is not None and not 1 <= int(ref) <= 16:
        raise ConfigError(f"h264: ref={ref} is outside [1, 16]")
    owned = {"ref": "ref", "bframes": "bf", "crf": "crf", "qp": "qp", "preset": "preset"}
    params = parse_params(x264_params)
    for key in params:
        if key in owned:
            raise ConfigError(f"h264: x264_params sets '{key}', which has its own argument; use {owned[key]}=... "
                              f"instead so that it is checked and recorded")
    keyint, min_keyint = (params.get(k, "") for k in ("keyint", "min-keyint"))
    if keyint.isdigit() and min_keyint.isdigit() and int(min_keyint) > int(keyint) // 2 + 1:
        raise ConfigError(f"h264: x264_params min-keyint={min_keyint} is larger than keyint/2+1 = "
                          f"{int(keyint) // 2 + 1} for keyint={keyint}, and x264 would silently change both; use "
                          f"min-keyint <= {int(keyint) // 2 + 1} or a larger keyint")
    return {"codec": "h264", "crf": None if crf is None else float(crf), "qp": None if qp is None else int(qp),
            "preset": preset, "bf": None if bf is None else int(bf), "ref": None if ref is None else int(ref),
            "fps": frame_rate_record(frame_rate(fps)), "x264_params": parse_params(x264_params), "tune": tune, "threads": int(threads),
            "pix_fmt": "yuv420p", "chroma": "2x2 average, BT.601 limited range"}


def encode_h264(frames, path, *, crf=None, qp=None, preset="medium", bf=None, ref=None, fps=25, x264_params=None,
                tune=None, threads=1, av_options=None) -> EncodeResult:
    """Encode RGB frames to an H.264 mp4 with libx264 and verify that every setting was applied.

    Args:
        frames: ``(t, h, w, 3)`` uint8 RGB array or an iterable of ``(h, w, 3)`` frames; h, w even.
        path: output ``.mp4`` (written to a temporary name in the same folder, then renamed).
        crf: constant rate factor (default 25 when ``qp`` is not given).
        qp: fixed QP for every frame type (``ipratio=pbratio=1``; adaptive quantisation is off in this mode).
        preset: x264 preset.
        bf: max consecutive B-frames (None = preset default, 3 for medium). ``bf=0`` gives IPPP...
        ref: reference frames (None = preset default, 3 for medium). ``bf=0, ref=1`` makes every motion vector
            point at the previous frame.
        fps: container frame rate: a number, ``Fraction(30000, 1001)`` or ``'30000/1001'`` (kept exact).
        x264_params: extra x264 settings, ``'key=value:...'`` or a dict (unknown keys raise ConfigError).
        tune: x264 tune (e.g. ``'zerolatency'``), optional.
        threads: encoder threads; 1 keeps bitstreams identical across machines.
        av_options: further libx264 AVOptions (``{'aq-mode': '0'}``...); names are checked against the encoder.
    Returns:
        :class:`EncodeResult`; ``encoder_options`` holds the settings x264 reports in its SEI.
    Raises:
        ConfigError: conflicting or out-of-range settings, an unknown option, or a setting x264 did not apply.
        DataError: frames that are not uint8 RGB, odd sizes, sizes that change, no frames.
    """
    path = str(path)
    s = h264_settings(crf, qp, preset, bf, ref, fps, x264_params, tune, threads)
    where = f"h264 encode of {path}"
    params = {**x264_cpu_params(), **s["x264_params"]}  # not in the settings: picks code paths, not the stream
    if s["ref"] is not None:
        params["ref"] = str(s["ref"])
    if s["qp"] is not None:
        params.setdefault("ipratio", "1.0")
        params.setdefault("pbratio", "1.0")
    options = {str(k): str(v) for k, v in (av_options or {}).items()}
    clash = sorted(set(options) & {"preset", "crf", "qp", "bf", "tune", "x264-params", "refs"})
    if clash:
        raise ConfigError(f"{where}: av_options sets {', '.join(clash)}, which have their own arguments; use those")
    s["av_options"] = dict(options)
    options["preset"] = preset
    if s["crf"] is not None:
        options["crf"] = f"{s['crf']:g}"
    else:
        options["qp"] = str(s["qp"])
    if s["bf"] is not None:
        options["bf"] = str(s["bf"])
    if tune:
        options["tune"] = tune
    if params:
        options["x264-params"] = format_params(params)
    def check(reported: dict) -> None:  # before the file gets its name: a refused encode leaves nothing
        if s["crf"] is not None:
            require_setting(reported, "rc", "crf", where, numeric=False)
            require_setting(reported, "crf", s["crf"], where)
        else:
            require_setting(reported, "rc", "cqp", where, numeric=False)
            require_setting(reported, "qp", s["qp"], where)
        if s["bf"] is not None:
            require_setting(reported, "bframes", s["bf"], where)
        if s["ref"] is not None:
            require_setting(reported, "ref", s["ref"], where)
        require_params(reported, s["x264_params"], where, "x264_params", X264_SEI_NAMES, underscores=True)

    n, w, h, version, reported = encode_with_pyav(frames, path, "libx264", options, s["fps"], s["threads"], where,
                                                  check)
    return EncodeResult(path=path, codec="h264", backend="pyav-libx264", num_frames=n, width=w, height=h,
                        settings=s, encoder_options=reported, encoder_version=version)
