"""Bjøntegaard delta rate / PSNR (vsrkit.codec.bjontegaard) on textbook rate-distortion points."""
import numpy as np
import pytest

from vsrkit.codec.bjontegaard import bd_psnr, bd_rate, pchip_slopes
from vsrkit.errors import DataError

# Four-QP RD points (kbit/s, dB) of two HEVC encoder settings, the example set of the FAU-LMS bjontegaard package:
# test 1 (4 points), test 2 (high rates), test 3 (6 points).
CASES = [
    ([9487.76, 4593.60, 2486.44, 1358.24], [40.037, 38.615, 36.845, 34.851],
     [9787.80, 4469.00, 2451.52, 1356.24], [40.121, 38.651, 36.970, 34.987]),
    ([82472.76, 26875.24, 9487.76, 4593.6], [43.825, 41.404, 40.037, 38.615],
     [99896.96, 33952.04, 9787.8, 4469.0], [44.731, 41.875, 40.121, 38.651]),
    ([82472.76, 26875.24, 9487.76, 4593.6, 3600, 2900], [43.825, 41.404, 40.037, 38.615, 36.5, 35.1],
     [99896.96, 33952.04, 9787.8, 4469.0, 4040, 3300], [44.731, 41.875, 40.121, 38.651, 37, 36.5]),
]


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_same_quality_at_a_fixed_fraction_of_the_rate(method):
    rate, psnr = CASES[0][:2]
    assert bd_rate(rate, psnr, np.array(rate) * 0.8, psnr, method) == pytest.approx(-20.0, abs=1e-9)
    assert bd_rate(rate, psnr, np.array(rate) * 1.25, psnr, method) == pytest.approx(25.0, abs=1e-9)
    assert bd_psnr(rate, psnr, rate, np.array(psnr) + 0.5, method) == pytest.approx(0.5, abs=1e-12)
    assert bd_rate(rate, psnr, rate, psnr, method) == pytest.approx(0.0, abs=1e-12)


def test_cubic_curves_are_reproduced_exactly_by_the_cubic_fit():
    """log10 rate an exact cubic of PSNR, the test curve 0.1 lower everywhere: BD-rate = 10^-0.1 - 1."""
    psnr = np.array([34.0, 36.0, 38.5, 40.0])
    log_rate = 3 + 0.1 * (psnr - 34) + 0.01 * (psnr - 34) ** 2 + 0.002 * (psnr - 34) ** 3
    got = bd_rate(10 ** log_rate, psnr, 10 ** (log_rate - 0.1), psnr, "cubic")
    assert got == pytest.approx((10 ** -0.1 - 1) * 100, abs=1e-9)


def test_pchip_matches_the_reference_implementation():
    """The common reference implementation (scipy's PchipInterpolator, as in the JCT-VC CTC sheet) to rounding."""
    si = pytest.importorskip("scipy.interpolate")
    for ra, pa, rt, pt in CASES:
        ra, pa, rt, pt = (np.asarray(v, float)[::-1] for v in (ra, pa, rt, pt))
        ia, it = si.PchipInterpolator(pa, np.log10(ra)), si.PchipInterpolator(pt, np.log10(rt))
        lo, hi = max(pa.min(), pt.min()), min(pa.max(), pt.max())
        want = (10 ** ((it.integrate(lo, hi) - ia.integrate(lo, hi)) / (hi - lo)) - 1) * 100
        assert bd_rate(ra, pa, rt, pt) == pytest.approx(want, abs=1e-9)
        ja, jt = si.PchipInterpolator(np.log10(ra), pa), si.PchipInterpolator(np.log10(rt), pt)
        lo, hi = max(np.log10(ra).min(), np.log10(rt).min()), min(np.log10(ra).max(), np.log10(rt).max())
        assert bd_psnr(ra, pa, rt, pt) == pytest.approx((jt.integrate(lo, hi) - ja.integrate(lo, hi)) / (hi - lo),
                                                        abs=1e-12)
        np.testing.assert_allclose(pchip_slopes(pa, np.log10(ra)), ia.derivative()(pa), rtol=0, atol=1e-12)


def test_textbook_values():
    """Pinned values of the first example (test 1): the test setting saves 4.42% (PCHIP) at +0.120 dB."""
    assert bd_rate(*CASES[0]) == pytest.approx(-4.4175, abs=1e-4)
    assert bd_psnr(*CASES[0]) == pytest.approx(0.1197, abs=1e-4)
    assert bd_rate(*CASES[0], method="cubic") == pytest.approx(-4.4205, abs=1e-4)
    # the 6-point example is where the cubic fit overshoots and PCHIP does not
    assert bd_rate(*CASES[2]) == pytest.approx(-2.9528, abs=1e-4)
    assert bd_rate(*CASES[2], method="cubic") == pytest.approx(-0.6393, abs=1e-4)


def test_two_points_are_linear_and_bad_curves_are_refused():
    # two points: the interpolant is the straight line, so a parallel shift in log rate is exact
    assert bd_rate([100, 200], [30, 33], [80, 160], [30, 33]) == pytest.approx(-20.0, abs=1e-9)
    with pytest.raises(DataError, match="at least 4"):
        bd_rate([100, 200], [30, 33], [80, 160], [30, 33], "cubic")
    with pytest.raises(DataError, match="do not overlap"):
        bd_rate([100, 200], [30, 33], [100, 200], [40, 43])
    with pytest.raises(DataError, match="strictly increase"):
        bd_rate([100, 200, 300], [30, 33, 32], [100, 200, 300], [30, 33, 34])
    with pytest.raises(DataError, match="positive"):
        bd_psnr([0, 200], [30, 33], [100, 200], [30, 33])
