"""Guards against silently ignored encoder settings.

PyAV accepts any option dict without complaint: an unknown key is dropped, and a bad ``x264-params``/``x265-params``
entry only produces a log line. vsrkit therefore (1) checks every top-level option against the encoder's own
AVOption table (``codec_context.supported_options``), (2) captures libav's log while encoding and turns option
parse errors into :class:`ConfigError`, and (3) reads the settings the encoder actually used back from the
bitstream (x264/x265 write them into an SEI message) and compares them with what was asked for.
"""
from __future__ import annotations

import contextlib
import difflib
import re
from dataclasses import dataclass, field

from vsrkit.errors import ConfigError

# libav log lines that mean "an option you gave was not applied".
_OPTION_ERRORS = re.compile(r"Error parsing option|Unknown option|Invalid value|Bad value|Unrecognized option|"
                            r"Option .* not found", re.IGNORECASE)


@dataclass
class EncodeResult:
    """What an encoder call produced.

    Attributes:
        path: the written bitstream.
        codec: ``'h264'`` or ``'hevc'``.
        backend: ``'pyav-libx264'``, ``'pyav-libx265'``, ``'x265-cli'`` or ``'hm'``.
        num_frames: frames encoded.
        width, height: frame size in pixels.
        settings: the settings asked for (as recorded in manifests).
        encoder_options: ``key -> value`` that the encoder reports it used (from its SEI or log), may be empty
            for HM, which writes none.
        encoder_version: the encoder's version string.
    """
    path: str
    codec: str
    backend: str
    num_frames: int
    width: int
    height: int
    settings: dict
    encoder_options: dict = field(default_factory=dict)
    encoder_version: str = ""


def check_av_options(codec_context, options: dict, where: str) -> None:
    """Raise ConfigError if a key of ``options`` is not an AVOption of ``codec_context``'s encoder."""
    supported = codec_context.supported_options
    names = {o.name for o in supported.generic} | {o.name for o in supported.private}
    for key in options:
        if key not in names:
            close = difflib.get_close_matches(key, sorted(names), n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "see `ffmpeg -h encoder=" + \
                codec_context.name + "`"
            raise ConfigError(f"{where}: '{key}' is not an option of encoder {codec_context.name} (PyAV would "
                              f"silently ignore it); {hint}")


@contextlib.contextmanager
def capture_option_errors(where: str):
    """Capture libav's log inside the block; raise ConfigError if an option was rejected or not understood."""
    import av.logging

    previous = av.logging.get_level()
    av.logging.set_level(av.logging.WARNING)
    try:
        with av.logging.Capture() as logs:
            yield logs
    finally:
        av.logging.set_level(previous)
    bad = [msg.strip() for _level, _name, msg in logs if _OPTION_ERRORS.search(msg)]
    if bad:
        raise ConfigError(f"{where}: the encoder did not apply an option: {'; '.join(bad)}; fix or remove it")


def parse_params(params) -> dict:
    """``'a=1:b=2'`` or ``{'a': 1}`` -> ``{'a': '1', 'b': '2'}`` (x264/x265 ``-params`` syntax)."""
    if params is None:
        return {}
    if isinstance(params, dict):
        return {str(k): str(v) for k, v in params.items()}
    out = {}
    for item in str(params).split(":"):
        if item:
            key, _, value = item.partition("=")
            out[key.strip()] = value.strip() or "1"
    return out


def format_params(params: dict) -> str:
    return ":".join(f"{k}={v}" for k, v in params.items())


_SEI_PATTERN = re.compile(rb"(x264 - core [^\x00]*?|x265 \(build[^\x00]*?) - options: ([\x20-\x7e]*)")


def encoder_settings_from_bitstream(data: bytes) -> tuple[str, dict]:
    """Find the x264/x265 settings SEI in raw bitstream bytes.

    Returns ``(version, {option: value})``; flags without a value map to ``'1'`` and ``no-x`` flags to
    ``x -> '0'``. Returns ``('', {})`` when the bitstream carries no such SEI (e.g. HM output).
    """
    match = _SEI_PATTERN.search(data)
    if match is None:
        return "", {}
    version = match.group(1).decode("ascii", "replace").strip()
    options = {}
    for token in match.group(2).decode("ascii", "replace").split():
        key, eq, value = token.partition("=")
        if eq:
            options[key] = value
        elif key.startswith("no-"):
            options[key[3:]] = "0"
        else:
            options[key] = "1"
    return version, options


#: option name -> the name x264 gives it in its settings SEI, where the two differ beyond ``-`` -> ``_``
X264_SEI_NAMES = {"min-keyint": "keyint_min", "ipratio": "ip_ratio", "pbratio": "pb_ratio", "merange": "me_range"}


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def require_params(reported: dict, params: dict, where: str, option: str, names: dict | None = None,
                   underscores: bool = False) -> None:
    """Raise ConfigError when the encoder reports a numeric value other than the one asked for in ``params``.

    Encoders clamp or rewrite conflicting values without an error (x264 turns ``keyint=5:min-keyint=50`` into
    ``keyint=50 keyint_min=26``). Each ``key=value`` of ``params`` whose value is a plain number is compared with the
    reported ``names.get(key, key)`` (with ``underscores``, as x264 reports them, dashes become underscores;
    ``no-x`` means ``x=0``); values that are not plain numbers on both sides (``deblock=1,1``,
    ``b-pyramid=normal``) are not compared.
    """
    names = names or {}
    for key, value in params.items():
        want = _number(value)
        if key.startswith("no-") and want == 1:
            key, want = key[3:], 0.0
        name = names.get(key, key.replace("-", "_") if underscores else key)
        got = _number(reported.get(name))
        if want is None or got is None or got == want:
            continue
        raise ConfigError(f"{where}: {option} asks for {key}={value} but the encoder used {name}={reported[name]} "
                          f"(it silently rewrites conflicting or out-of-range values); make {option} consistent, "
                          f"e.g. drop or change {key}")


def require_setting(reported: dict, key: str, expected, where: str, numeric: bool = True) -> None:
    """Raise ConfigError if the encoder reports ``key`` with a value other than ``expected``."""
    if key not in reported:
        raise ConfigError(f"{where}: the encoder did not report '{key}' in its settings, cannot verify that "
                          f"{key}={expected} was applied")
    got = reported[key]
    same = float(got) == float(expected) if numeric else str(got) == str(expected)
    if not same:
        raise ConfigError(f"{where}: asked for {key}={expected} but the encoder used {key}={got}; the option was "
                          f"overridden or ignored, check the other settings")
