"""Bjøntegaard delta rate and delta PSNR between two rate-distortion curves (numpy only).

Each curve is a few ``(rate, PSNR)`` points (one per QP). BD-rate: the log10 rate of each curve interpolated as a
function of PSNR, integrated over the PSNR range both curves cover; the mean difference ``d`` (test - anchor) gives
``(10**d - 1) * 100`` percent (negative = fewer bits for the same quality). BD-PSNR: PSNR as a function of log10 rate
over the common rate range, mean difference in dB.

Interpolation (``method``):

- ``pchip`` (default): piecewise cubic Hermite interpolation with monotone (Fritsch-Carlson, weighted harmonic mean)
  slopes and the three-point one-sided end slopes, integrated exactly segment by segment. This is the
  interpolation of the JCT-VC common-test-conditions Excel sheet (JCTVC-L1100) and of the common Python
  implementations (``scipy.interpolate.PchipInterpolator``), which it matches to rounding. Works from 2 points
  (linear) up.
- ``cubic``: VCEG-M33's original least-squares cubic polynomial through the points (needs 4 or more points; it can
  overshoot between points, which is why the test conditions moved to PCHIP).
"""
from __future__ import annotations

import numpy as np

from vsrkit.errors import DataError

METHODS = ("pchip", "cubic")


def pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Derivatives at the knots of the monotone piecewise cubic Hermite interpolant of ``(x, y)`` (x increasing)."""
    h = np.diff(x)
    delta = np.diff(y) / h
    n = len(x)
    d = np.zeros(n)
    if n == 2:
        return np.full(2, delta[0])
    for k in range(1, n - 1):
        if delta[k - 1] * delta[k] > 0:
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])
    d[0] = _end_slope(h[0], h[1], delta[0], delta[1])
    d[-1] = _end_slope(h[-1], h[-2], delta[-1], delta[-2])
    return d


def _end_slope(h0: float, h1: float, m0: float, m1: float) -> float:
    """Three-point one-sided slope, limited to keep the shape (zero against the first secant's sign; at most 3x the
    secant where the data turn)."""
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    if np.sign(d) != np.sign(m0):
        return 0.0
    if np.sign(m0) != np.sign(m1) and abs(d) > abs(3 * m0):
        return 3 * m0
    return float(d)


def _hermite_integral(x: np.ndarray, y: np.ndarray, d: np.ndarray, a: float, b: float) -> float:
    """Exact integral over ``[a, b]`` (inside ``[x[0], x[-1]]``) of the cubic Hermite interpolant with slopes ``d``."""
    total = 0.0
    for k in range(len(x) - 1):
        lo, hi = max(a, x[k]), min(b, x[k + 1])
        if hi <= lo:
            continue
        h = x[k + 1] - x[k]

        def antiderivative(t, k=k, h=h):
            h00 = t ** 4 / 2 - t ** 3 + t
            h10 = t ** 4 / 4 - 2 * t ** 3 / 3 + t ** 2 / 2
            h01 = -t ** 4 / 2 + t ** 3
            h11 = t ** 4 / 4 - t ** 3 / 3
            return h * (y[k] * h00 + h * d[k] * h10 + y[k + 1] * h01 + h * d[k + 1] * h11)

        total += antiderivative((hi - x[k]) / h) - antiderivative((lo - x[k]) / h)
    return total


def _integral(x: np.ndarray, y: np.ndarray, a: float, b: float, method: str) -> float:
    if method == "pchip":
        return _hermite_integral(x, y, pchip_slopes(x, y), a, b)
    poly = np.polyint(np.polyfit(x, y, 3))
    return float(np.polyval(poly, b) - np.polyval(poly, a))


def _curve(rate, psnr, name: str, method: str) -> tuple[np.ndarray, np.ndarray]:
    rate, psnr = np.asarray(rate, np.float64), np.asarray(psnr, np.float64)
    need = 4 if method == "cubic" else 2
    if rate.shape != psnr.shape or rate.ndim != 1 or len(rate) < need:
        raise DataError(f"{name} curve: needs at least {need} (rate, PSNR) points of equal count for method "
                        f"{method!r}, got {len(rate)} rates and {len(psnr)} PSNRs")
    if np.any(rate <= 0) or not np.all(np.isfinite(rate)) or not np.all(np.isfinite(psnr)):
        raise DataError(f"{name} curve: rates must be positive and finite, PSNRs finite; got {rate} / {psnr}")
    order = np.argsort(rate)
    return np.log10(rate[order]), psnr[order]


def _overlap(a: np.ndarray, b: np.ndarray, what: str) -> tuple[float, float]:
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    if hi <= lo:
        raise DataError(f"the two curves do not overlap in {what} ({a.min():.4g}..{a.max():.4g} vs "
                        f"{b.min():.4g}..{b.max():.4g}); the Bjøntegaard delta is undefined")
    return lo, hi


def _strictly_increasing(x: np.ndarray, name: str, what: str) -> None:
    if np.any(np.diff(x) <= 0):
        raise DataError(f"{name} curve: {what} must strictly increase with rate; got {x}")


def bd_rate(rate_anchor, psnr_anchor, rate_test, psnr_test, method: str = "pchip") -> float:
    """Bjøntegaard delta rate of the test curve against the anchor, in percent (negative = bits saved)."""
    if method not in METHODS:
        raise DataError(f"BD method must be one of {', '.join(METHODS)}, got {method!r}")
    la, pa = _curve(rate_anchor, psnr_anchor, "anchor", method)
    lt, pt = _curve(rate_test, psnr_test, "test", method)
    _strictly_increasing(pa, "anchor", "PSNR")
    _strictly_increasing(pt, "test", "PSNR")
    lo, hi = _overlap(pa, pt, "PSNR")
    diff = (_integral(pt, lt, lo, hi, method) - _integral(pa, la, lo, hi, method)) / (hi - lo)
    return float((10 ** diff - 1) * 100)


def bd_psnr(rate_anchor, psnr_anchor, rate_test, psnr_test, method: str = "pchip") -> float:
    """Bjøntegaard delta PSNR of the test curve against the anchor, in dB (positive = better quality)."""
    if method not in METHODS:
        raise DataError(f"BD method must be one of {', '.join(METHODS)}, got {method!r}")
    la, pa = _curve(rate_anchor, psnr_anchor, "anchor", method)
    lt, pt = _curve(rate_test, psnr_test, "test", method)
    _strictly_increasing(la, "anchor", "rate")
    _strictly_increasing(lt, "test", "rate")
    lo, hi = _overlap(la, lt, "log rate")
    return float((_integral(lt, pt, lo, hi, method) - _integral(la, pa, lo, hi, method)) / (hi - lo))
