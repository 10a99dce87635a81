import math

import numpy as np
import pytest

from assays.qc.endotoxin import (
    K_EU_PER_KG,
    dose_per_kg,
    endotoxin_limit,
    fit_standard_curve,
    maximum_valid_dilution,
    recovery_is_valid,
    sample_concentration,
    spike_recovery,
)

STANDARDS = np.array([0.005, 0.05, 0.5, 5.0])


def _onset(eu_per_ml):
    """Ideal kinetic curve: log10(onset s) = 3.0 - 0.25 log10(EU/mL)."""
    return 10 ** (3.0 - 0.25 * np.log10(eu_per_ml))


def test_k_over_m_for_a_2_ml_bolus_in_a_70_kg_adult_is_175_eu_per_ml():
    assert endotoxin_limit(K_EU_PER_KG["parenteral"], dose_per_kg(2.0, 70.0)) == pytest.approx(175)
    assert endotoxin_limit(5.0, 2.0 / 70.0) == pytest.approx(175.0)


def test_intrathecal_k_gives_a_25_fold_lower_limit():
    assert endotoxin_limit(K_EU_PER_KG["intrathecal"], 2.0 / 70.0) == pytest.approx(7.0)


def test_log_log_regression_recovers_slope_intercept_and_r():
    curve = fit_standard_curve(STANDARDS, _onset(STANDARDS))
    assert curve.slope == pytest.approx(-0.25)
    assert curve.intercept == pytest.approx(3.0)
    assert curve.r == pytest.approx(-1.0)
    assert curve.valid
    assert curve.lambda_eu_per_ml == 0.005 and curve.n_levels == 4


def test_sample_concentration_is_interpolated_value_times_dilution():
    curve = fit_standard_curve(STANDARDS, _onset(STANDARDS))
    assert sample_concentration(curve, float(_onset(0.1)), dilution=10) == pytest.approx(1.0)


def test_replicate_standards_enter_as_separate_points():
    x = np.repeat(STANDARDS, 2)
    onsets = _onset(x) * np.tile([0.98, 1.02], 4)
    curve = fit_standard_curve(x, onsets)
    assert curve.n_points == 8 and curve.n_levels == 4
    assert curve.valid and abs(curve.r) < 1


def test_poorly_correlated_standards_make_the_curve_invalid():
    onsets = _onset(STANDARDS) * np.array([1.0, 2.5, 0.4, 1.0])
    curve = fit_standard_curve(STANDARDS, onsets)
    assert abs(curve.r) < 0.980
    assert not curve.valid


def test_correlation_limit_is_a_parameter():
    onsets = _onset(STANDARDS) * np.array([1.0, 1.3, 0.8, 1.0])
    curve = fit_standard_curve(STANDARDS, onsets)
    assert 0.95 < abs(curve.r) < 0.980
    assert not curve.valid
    assert fit_standard_curve(STANDARDS, onsets, min_abs_r=0.95).valid


def test_two_standard_levels_are_not_enough_for_a_valid_test():
    curve = fit_standard_curve([0.05, 5.0], _onset(np.array([0.05, 5.0])))
    assert curve.r == pytest.approx(-1.0)
    assert not curve.valid


def test_spike_recovery_is_percent_of_the_added_spike():
    assert spike_recovery(0.6, 0.1, 0.5) == pytest.approx(100.0)
    assert spike_recovery(0.3, 0.1, 0.5) == pytest.approx(40.0)


@pytest.mark.parametrize(
    "percent, valid", [(49.9, False), (50.0, True), (120.0, True), (200.0, True), (200.1, False)]
)
def test_spike_recovery_is_valid_from_50_to_200_percent(percent, valid):
    assert recovery_is_valid(percent) is valid


def test_maximum_valid_dilution_is_limit_over_lambda():
    assert maximum_valid_dilution(175.0, 0.005) == pytest.approx(35000.0)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan])
def test_nonpositive_dose_or_k_is_refused(bad):
    with pytest.raises(ValueError):
        endotoxin_limit(5.0, bad)
    with pytest.raises(ValueError):
        endotoxin_limit(bad, 1.0)
