"""PSNR / SSIM compatible with BasicSR, Y-channel variants, and the per-clip accumulator used by validation/test.

Frames are numpy ``(h, w, 3)`` RGB arrays, uint8 (or float already in 0..255 units), or ``(h, w)`` / ``(h, w, 1)``
Y planes for ``y_mode='yuv'``. ``y_mode`` picks what is compared:

* ``rgb``: all three channels (SSIM = mean of the per-channel SSIMs).
* ``y_bt601``: MATLAB ``rgb2ycbcr`` studio-range Y = 65.481 R + 128.553 G + 24.966 B + 16 with R, G, B in [0, 1];
  float, not rounded, computed exactly as BasicSR's ``to_y_channel`` (inputs / 255 in float32, result float32).
* ``y_full``: OpenCV ``COLOR_RGB2YCrCb`` full-range Y = 0.299 R + 0.587 G + 0.114 B, rounded to uint8 by OpenCV for
  uint8 input (as MV-VSR's evaluation); float input gives the unrounded value.
* ``yuv``: the input already is a Y plane (MFQEv2 / RCVSR), compared as is.

PSNR uses a peak of 255 and returns ``inf`` for identical inputs (as BasicSR). SSIM uses an 11x11 Gaussian window
(sigma 1.5) on the 'valid' region, C1 = (0.01*255)^2, C2 = (0.03*255)^2 (Wang et al. / BasicSR). ``crop_border``
pixels are removed from each side first. Per frame -> mean per clip -> mean over clips: :class:`ClipMetrics`.
"""
from __future__ import annotations

import csv
import io
import math
from typing import Iterable, Mapping

import numpy as np

from vsrkit.color import rgb_to_y_bt601
from vsrkit.registry import METRICS

Y_MODES = ("rgb", "y_bt601", "y_full", "yuv")


def tensor_to_uint8(tensor, rounding: str = "round") -> np.ndarray:
    """Float tensor ``(..., c, h, w)`` in [0, 1] -> uint8 numpy ``(..., h, w, c)`` (e.g. ``(t,c,h,w) -> (t,h,w,c)``).

    Values are clamped to [0, 1] and scaled by 255 in float32, then ``rounding='round'`` rounds half to even
    (BasicSR ``tensor2img``) and ``'truncate'`` drops the fraction (``astype(uint8)``, as MV-VSR's evaluation).
    """
    if rounding not in ("round", "truncate"):
        raise ValueError(f"tensor_to_uint8: rounding must be 'round' or 'truncate', got {rounding!r}")
    if tensor.ndim < 3:
        raise ValueError(f"tensor_to_uint8: expected (..., c, h, w), got shape {tuple(tensor.shape)}")
    x = tensor.detach().float().cpu().clamp(0, 1).numpy() * np.float32(255.0)
    x = np.round(x) if rounding == "round" else np.floor(x)
    return np.ascontiguousarray(np.moveaxis(x.astype(np.uint8), -3, -1))


def to_y(img: np.ndarray, y_mode: str) -> np.ndarray:
    """The compared planes of ``img`` as float64: ``(h, w, 3)`` for ``rgb``, ``(h, w)`` for the Y modes."""
    if y_mode not in Y_MODES:
        raise ValueError(f"y_mode must be one of {', '.join(Y_MODES)}, got {y_mode!r}")
    if y_mode == "yuv":
        if img.ndim == 3 and img.shape[2] == 1:
            img = img[..., 0]
        if img.ndim != 2:
            raise ValueError(f"y_mode 'yuv' expects a Y plane (h, w) or (h, w, 1), got shape {img.shape}")
        return img.astype(np.float64)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"y_mode {y_mode!r} expects an RGB frame (h, w, 3), got shape {img.shape}")
    if y_mode == "rgb":
        return img.astype(np.float64)
    if y_mode == "y_bt601":
        return rgb_to_y_bt601(img, "basicsr")  # BasicSR's to_y_channel, bit for bit
    if img.dtype == np.uint8:
        import cv2

        return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2YCrCb)[..., 0].astype(np.float64)
    return img.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _prepare(img: np.ndarray, img2: np.ndarray, crop_border: int, y_mode: str) -> tuple[np.ndarray, np.ndarray]:
    if img.shape != img2.shape:
        raise ValueError(f"metric inputs differ in shape: {img.shape} vs {img2.shape}")
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    if crop_border:
        if 2 * crop_border >= min(img.shape[:2]):
            raise ValueError(f"crop_border {crop_border} leaves nothing of a {img.shape[:2]} frame")
        img = img[crop_border:-crop_border, crop_border:-crop_border, ...]
        img2 = img2[crop_border:-crop_border, crop_border:-crop_border, ...]
    return to_y(img, y_mode), to_y(img2, y_mode)


@METRICS.register("psnr")
def calculate_psnr(img: np.ndarray, img2: np.ndarray, crop_border: int = 0, y_mode: str = "rgb",
                   channel_mean: bool = False) -> float:
    """PSNR in dB (peak 255) of two frames; ``inf`` when they are equal. See the module docstring for inputs.

    ``channel_mean``: for ``rgb``, the mean of the three per-channel PSNRs (the codec-guided VSR paper's
    ``eval_psnr.py``) instead of one PSNR over all channels (BasicSR); they differ by up to ~0.1 dB.
    """
    a, b = _prepare(img, img2, crop_border, y_mode)
    if channel_mean and a.ndim == 3:
        return float(np.mean([_psnr_of_mse(float(np.mean((a[..., i] - b[..., i]) ** 2))) for i in range(a.shape[2])]))
    return _psnr_of_mse(float(np.mean((a - b) ** 2)))


def _psnr_of_mse(mse: float) -> float:
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0 * 255.0 / mse)


@METRICS.register("psnr_pooled")
def calculate_mse(img: np.ndarray, img2: np.ndarray, crop_border: int = 0, y_mode: str = "rgb") -> float:
    """Per frame the MSE (0..255 units); the table turns the mean MSE of a clip, and over clips, into
    ``10*log10(255^2 / mean MSE)``: STDO's pooled-MSE PSNR over a set of patches or frames."""
    a, b = _prepare(img, img2, crop_border, y_mode)
    return float(np.mean((a - b) ** 2))


calculate_mse.aggregate = "pooled_psnr"


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum()


def _ssim_plane(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two float64 planes ``(h, w)`` in 0..255 units, averaged over the 'valid' window positions."""
    import cv2

    if min(a.shape) < 11:
        raise ValueError(f"SSIM needs planes of at least 11x11 pixels, got {a.shape}")
    g = _gaussian_window()

    def filt(x):  # 'valid' separable Gaussian: full-size filter then drop the 5-px border the window overhangs
        return cv2.sepFilter2D(x, cv2.CV_64F, g, g, borderType=cv2.BORDER_REFLECT)[5:-5, 5:-5]

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu1, mu2 = filt(a), filt(b)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s1 = filt(a * a) - mu1_sq
    s2 = filt(b * b) - mu2_sq
    s12 = filt(a * b) - mu12
    ssim_map = ((2 * mu12 + c1) * (2 * s12 + c2)) / ((mu1_sq + mu2_sq + c1) * (s1 + s2 + c2))
    return float(ssim_map.mean())


@METRICS.register("ssim")
def calculate_ssim(img: np.ndarray, img2: np.ndarray, crop_border: int = 0, y_mode: str = "rgb") -> float:
    """SSIM (BasicSR definition) of two frames; for ``rgb`` the mean of the three channel SSIMs."""
    a, b = _prepare(img, img2, crop_border, y_mode)
    if a.ndim == 2:
        return _ssim_plane(a, b)
    return float(np.mean([_ssim_plane(a[..., i], b[..., i]) for i in range(a.shape[2])]))


class ClipMetrics:
    """Per-frame metric values grouped by clip: per frame -> mean per clip -> mean over clips.

    A frame may be given an id (its index in the clip); a frame already recorded for a clip and metric is not
    recorded again, so overlapping windows and merged rank states count every frame once. The state is a plain
    picklable dict (``state_dict()``), so ranks can gather and :meth:`merge` their parts. Columns are metric labels
    in first-seen order; a baseline (e.g. bicubic) is just more labels, added directly (``add(clip,
    'bicubic_psnr', v)``) or merged from its own accumulator with ``merge(other, prefix='bicubic_')``.

    Args:
        aggregate: ``{metric: 'mean' | 'pooled_psnr'}``; ``pooled_psnr`` metrics hold per-frame MSEs and report
            ``10*log10(255^2 / mean MSE)`` per clip and over clips (the mean MSE of the clips). Default ``mean``.
    """

    AVERAGE = "average"

    def __init__(self, aggregate: Mapping[str, str] | None = None):
        self._values: dict[str, dict[str, dict]] = {}
        self._metrics: list[str] = []
        self._aggregate: dict[str, str] = dict(aggregate or {})

    def add(self, clip: str, metric: str, value: float, frame: int | None = None) -> bool:
        """Record one frame's ``value`` of ``metric`` for ``clip``; False (nothing recorded) when ``frame`` is
        already there."""
        if metric not in self._metrics:
            self._metrics.append(metric)
        per_frame = self._values.setdefault(str(clip), {}).setdefault(metric, {})
        key = ("#", len(per_frame)) if frame is None else int(frame)
        if key in per_frame:
            return False
        per_frame[key] = float(value)
        return True

    def set_aggregate(self, metric: str, how: str) -> None:
        if how not in ("mean", "pooled_psnr"):
            raise ValueError(f"aggregate must be 'mean' or 'pooled_psnr', got {how!r}")
        self._aggregate[metric] = how

    def state_dict(self) -> dict:
        """``{'metrics', 'values': {clip: {metric: [floats]}}, 'frames': {clip: {metric: [id or None]}},
        'aggregate'}`` (a deep copy)."""
        return {"metrics": list(self._metrics), "aggregate": dict(self._aggregate),
                "values": {c: {m: list(v.values()) for m, v in d.items()} for c, d in self._values.items()},
                "frames": {c: {m: [None if isinstance(k, tuple) else k for k in v] for m, v in d.items()}
                           for c, d in self._values.items()}}

    @classmethod
    def from_state_dict(cls, state: Mapping) -> "ClipMetrics":
        table = cls()
        table.merge(state)
        return table

    def merge(self, other: "ClipMetrics | Mapping", prefix: str = "") -> "ClipMetrics":
        """Add the frames of ``other`` (an accumulator or its state dict), metric labels prefixed by ``prefix``."""
        state = other.state_dict() if isinstance(other, ClipMetrics) else other
        for metric in state.get("metrics", []):
            if prefix + metric not in self._metrics:
                self._metrics.append(prefix + metric)
        for metric, how in state.get("aggregate", {}).items():
            self._aggregate.setdefault(prefix + metric, how)
        frames = state.get("frames", {})
        for clip, per_metric in state.get("values", {}).items():
            for metric, values in per_metric.items():
                ids = frames.get(clip, {}).get(metric) or [None] * len(values)
                for v, frame in zip(values, ids):
                    self.add(clip, prefix + metric, v, frame)
        return self

    @property
    def metrics(self) -> list[str]:
        return list(self._metrics)

    @property
    def clips(self) -> list[str]:
        return sorted(self._values)

    def num_frames(self, clip: str, metric: str) -> int:
        return len(self._values.get(clip, {}).get(metric, {}))

    def frame_ids(self, clip: str, metric: str) -> set[int]:
        """The ids of the frames recorded for ``clip`` and ``metric`` (frames added without an id are left out)."""
        return {k for k in self._values.get(str(clip), {}).get(metric, {}) if not isinstance(k, tuple)}

    def _reduce(self, metric: str, values: Iterable[float]) -> float:
        mean = float(np.mean(list(values)))
        return _psnr_of_mse(mean) if self._aggregate.get(metric) == "pooled_psnr" else mean

    def clip_means(self) -> dict[str, dict[str, float]]:
        """``{clip: {metric: mean over that clip's frames}}``, clips sorted by name."""
        return {c: {m: self._reduce(m, v.values()) for m, v in self._values[c].items()} for c in self.clips}

    def means(self) -> dict[str, float]:
        """``{metric: mean over clips of the per-clip means}`` (each clip weighs the same, whatever its length)."""
        out = {}
        for m in self._metrics:
            per_clip = [float(np.mean(list(d[m].values()))) for d in self._values.values() if m in d]
            if per_clip:
                out[m] = self._reduce(m, per_clip)
        return out

    def rows(self, columns: Iterable[str] | None = None) -> tuple[list[str], list[list]]:
        """Header ``['clip', *columns]`` and one row per clip plus a final ``average`` row (None where missing)."""
        columns = list(self._metrics if columns is None else columns)
        per_clip = self.clip_means()
        body = [[c] + [per_clip[c].get(m) for m in columns] for c in per_clip]
        means = self.means()
        body.append([self.AVERAGE] + [means.get(m) for m in columns])
        return ["clip"] + columns, body

    def to_csv(self, columns: Iterable[str] | None = None, digits: int = 4) -> str:
        """The table as CSV text (values with ``digits`` decimals, empty cells where a clip lacks a metric)."""
        header, body = self.rows(columns)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        for row in body:
            writer.writerow([row[0]] + [_fmt(v, digits, "") for v in row[1:]])
        return buf.getvalue()

    def to_markdown(self, columns: Iterable[str] | None = None, digits: int = 4,
                    marked: Iterable[str] = (), mark: str = "†") -> str:
        """The table as a Markdown pipe table (``-`` where a clip lacks a metric); columns in ``marked`` get
        ``mark`` after their name (e.g. the columns a paper published)."""
        header, body = self.rows(columns)
        marked = set(marked)
        header = [h + mark if h in marked else h for h in header]
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        for row in body:
            lines.append("| " + " | ".join([str(row[0])] + [_fmt(v, digits, "-") for v in row[1:]]) + " |")
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return f"ClipMetrics(clips={len(self._values)}, metrics={self._metrics})"


def _fmt(value, digits: int, missing: str) -> str:
    return missing if value is None else f"{value:.{digits}f}"
