"""Relative potency (USP <1034> parallel 4PL): the worked example checked by hand, no database."""

import math

import numpy as np
import pytest
from scipy import stats

from assays.qc import relative_potency as rp_module
from assays.qc import worked_examples
from assays.qc.relative_potency import relative_potency
from assays.reference_demo import dose_series

X, Y = worked_examples.RYEGRASS_CONC, worked_examples.RYEGRASS_ROOTL


def test_twice_as_potent_test_has_rp_two_and_the_ryegrass_parameters():
    result = relative_potency(X, Y, [x / 2 for x in X], Y)
    fit = result.fit
    assert result.rp == pytest.approx(2.0, abs=1e-6)
    # drc LL.4 of ryegrass (Ritz et al. 2015): a = d_drc, b, c = e, d = c_drc
    assert (fit.a, fit.b, fit.d) == pytest.approx((7.79296, 2.98222, 0.48141), abs=5e-5)
    assert fit.c_reference == pytest.approx(3.05795, abs=5e-5)
    assert fit.c_test == pytest.approx(3.05795 / 2, abs=5e-5)
    assert fit.df == 43
    assert fit.residual_se == pytest.approx(math.sqrt(2 * 20 * 0.5196256**2 / 43), abs=5e-7)


def test_interval_by_hand_from_the_orthogonal_ec50_contrast():
    """The two blocks have equal Jacobians, so ln RP is orthogonal to (a, b, d, mean ln c):
    var(ln RP) = 2 s² / Σ (∂f/∂ln c)², computed here independently of the module."""
    result = relative_potency(X, Y, [x / 2 for x in X], Y)
    f = result.fit
    x = np.asarray(X)
    u = (x / f.c_reference) ** f.b
    dfdlnc = (f.a - f.d) * f.b * u / (1 + u) ** 2
    se = math.sqrt(2 * f.residual_se**2 / np.sum(dfdlnc**2))
    assert result.se_log_rp == pytest.approx(se, rel=1e-6)
    t = stats.t.ppf(0.975, 43)
    assert (result.rp_low, result.rp_high) == pytest.approx(
        (2 * math.exp(-t * se), 2 * math.exp(t * se)), rel=1e-6
    )
    assert (result.rp_low, result.rp_high) == pytest.approx((1.74986, 2.28589), abs=5e-5)


def test_equal_slopes_but_imprecise_are_not_shown_equivalent():
    """F = 0 (p = 1) yet the slope ratio's interval 0.64-1.55 is wider than 0.80-1.25: a
    non-significant difference test is not similarity (USP <1032>)."""
    p = relative_potency(X, Y, [x / 2 for x in X], Y).parallelism
    assert p.slope_ratio == pytest.approx(1.0, abs=1e-6)
    assert p.f_statistic == pytest.approx(0.0, abs=1e-6) and p.f_p_value == pytest.approx(1.0)
    assert not p.parallel
    assert p.slope_ratio_low == pytest.approx(0.644, abs=1e-3)


def test_steeper_test_curve_is_not_parallel_and_not_reportable():
    result = relative_potency(X, Y, [x ** (2 / 3) for x in X], Y)
    assert result.parallelism.slope_ratio == pytest.approx(1.5, abs=1e-6)
    assert not result.reportable
    assert "not parallel" in result.refusal


def test_precise_parallel_plate_is_reportable():
    result = relative_potency(*dose_series(2.0), *dose_series(1.6))
    assert result.rp == pytest.approx(1.25, abs=0.005)
    assert result.rp_low < 1.25 < result.rp_high
    assert result.parallelism.parallel and result.reportable and result.refusal == ""
    assert result.details()["reportable"] is True


@pytest.mark.parametrize(
    ("ref_x", "message"),
    [
        ([1.0, 2.0] * 12, "three distinct positive doses"),
        ([-1.0] + [float(i) for i in range(1, 24)], "negative"),
        ([math.nan] + [float(i) for i in range(1, 24)], "finite"),
        ([1.0, 2.0, 3.0], "doses but"),
    ],
)
def test_bad_dose_series_refused(ref_x, message):
    with pytest.raises(ValueError, match=message):
        relative_potency(ref_x, Y, X, Y)


def test_bounds_and_level_checked():
    with pytest.raises(ValueError, match="confidence level"):
        relative_potency(X, Y, X, Y, level=95)
    with pytest.raises(ValueError, match="equivalence bounds"):
        relative_potency(X, Y, X, Y, slope_ratio_bounds=(1.1, 1.25))


def test_worked_examples_of_relative_potency_pass():
    cases = [c for c in worked_examples.run_all() if c.name.startswith(("Relative", "Parallel"))]
    assert len(cases) == 10 and all(c.passed for c in cases)
    assert rp_module.DEFAULT_SLOPE_RATIO_BOUNDS == (0.80, 1.25)
