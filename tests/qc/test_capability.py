import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from assays.qc.capability import (
    capability_from_stats,
    cp,
    cpk,
    sigma_from_moving_range,
)


def test_worked_example_mu_130_sigma_8_gives_cp_1042_and_cpk_0833():
    result = capability_from_stats(130.0, 8.0, 100.0, 150.0)
    assert round(result.cp, 3) == 1.042
    assert round(result.cpk, 3) == 0.833
    assert result.cpk == result.cpu  # the mean sits nearer the USL


def test_expected_fraction_out_of_spec_is_normal_tail_area():
    result = capability_from_stats(130.0, 8.0, 100.0, 150.0)
    assert result.fraction_below_lsl == pytest.approx(stats.norm.cdf(-3.75))
    assert result.fraction_above_usl == pytest.approx(stats.norm.sf(2.5))
    assert result.fraction_out_of_spec == pytest.approx(0.006298, abs=1e-6)
    assert result.ppm_out_of_spec == pytest.approx(result.fraction_out_of_spec * 1e6)


def test_cp_from_sigma_and_from_values():
    assert cp(None, 100.0, 150.0, sigma=8.0) == pytest.approx(50 / 48)
    values = [128.0, 131.0, 125.0, 136.0, 130.0]
    assert cp(values, 100.0, 150.0) == pytest.approx(50 / (6 * np.std(values, ddof=1)))


def test_cpk_from_values_uses_sample_mean_and_sd():
    values = np.array([128.0, 131.0, 125.0, 136.0, 130.0])
    mu, s = values.mean(), values.std(ddof=1)
    assert cpk(values, 100.0, 150.0) == pytest.approx(min(150 - mu, mu - 100) / (3 * s))
    assert cpk(None, 100.0, 150.0, mean=130.0, sigma=8.0) == pytest.approx(0.8333333)


def test_one_sided_specification_gives_one_sided_cpk_and_no_cp():
    viability = capability_from_stats(95.0, 1.5, 90.0, None)
    assert viability.cpk == pytest.approx(5 / 4.5)
    assert math.isnan(viability.cp) and viability.fraction_above_usl == 0.0
    endotoxin = capability_from_stats(0.1, 0.05, None, 0.5)
    assert endotoxin.cpk == pytest.approx(0.4 / 0.15)


def test_moving_range_sigma_is_mean_moving_range_over_d2():
    assert sigma_from_moving_range([1.0, 3.0, 2.0, 4.0]) == pytest.approx((5 / 3) / 1.128)


def test_invalid_limits_and_sigma_are_refused():
    with pytest.raises(ValueError):
        capability_from_stats(130.0, 8.0, 150.0, 100.0)
    with pytest.raises(ValueError):
        capability_from_stats(130.0, 0.0, 100.0, 150.0)
    with pytest.raises(ValueError):
        capability_from_stats(130.0, 8.0, None, None)


_values = st.lists(st.floats(-1e3, 1e3), min_size=3, max_size=30)


@settings(max_examples=150, deadline=None)
@given(_values, st.floats(-2e3, 2e3), st.floats(1.0, 2e3))
def test_cpk_is_unchanged_when_data_are_mirrored_about_the_spec_centre(values, lsl, width):
    assume(np.std(values) > 1e-3)
    usl = lsl + width
    centre = (lsl + usl) / 2
    mirrored = [2 * centre - v for v in values]
    assert cpk(mirrored, lsl, usl) == pytest.approx(cpk(values, lsl, usl), rel=1e-6, abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(st.floats(-1e3, 1e3), st.floats(0.01, 1e3), st.floats(-1e3, 1e3), st.floats(0.1, 1e3))
def test_cpk_never_exceeds_cp(mean, sigma, lsl, width):
    result = capability_from_stats(mean, sigma, lsl, lsl + width)
    assert result.cpk <= result.cp + 1e-12
