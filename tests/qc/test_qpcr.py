import math

import numpy as np
import pytest
from scipy import stats

from assays.qc.qpcr import delta_ct, delta_delta_ct, relative_quantity


def test_delta_delta_ct_of_minus_two_gives_relative_quantity_four():
    # Livak & Schmittgen 2001: ΔCt(sample) = 22 - 18 = 4, ΔCt(calibrator) = 25 - 19 = 6.
    result = relative_quantity(22.0, 18.0, 25.0, 19.0)
    assert result.ddct == -2.0
    assert result.rq == 4.0


def test_measured_efficiency_replaces_two_as_the_base():
    assert relative_quantity(22.0, 18.0, 25.0, 19.0, efficiency=1.9).rq == pytest.approx(1.9**2)


def test_delta_ct_is_target_minus_reference():
    assert delta_ct(25.5, 20.0).value == 5.5
    assert delta_delta_ct(22.0, 18.0, 25.0, 19.0).value == -2.0


def test_technical_replicates_are_averaged_first():
    replicated = relative_quantity([21.9, 22.0, 22.1], [18.1, 17.9], [25.0, 25.2, 24.8], 19.0)
    assert replicated.ddct == pytest.approx(-2.0)
    assert replicated.rq == pytest.approx(4.0)


def test_interval_is_propagated_from_the_delta_ct_standard_errors():
    target, reference = [20.0, 20.2, 20.4], [16.0, 16.1, 16.2]
    cal_target, cal_reference = [23.0, 23.3, 23.6], [17.1, 17.2, 17.3]
    result = relative_quantity(target, reference, cal_target, cal_reference)
    # s^2/n per group: 0.04/3, 0.01/3, 0.09/3, 0.01/3 -> se = sqrt(0.15/3) = sqrt(0.05)
    variances = np.array([0.04, 0.01, 0.09, 0.01]) / 3
    se = math.sqrt(variances.sum())
    df = variances.sum() ** 2 / np.sum(variances**2 / 2)  # Welch-Satterthwaite
    t = stats.t.ppf(0.975, df)
    assert result.ddct == pytest.approx(-2.0)
    assert result.se == pytest.approx(se)
    assert result.df == pytest.approx(df)
    assert result.ci_low == pytest.approx(2 ** -(-2.0 + t * se))
    assert result.ci_high == pytest.approx(2 ** -(-2.0 - t * se))
    assert result.ci_low < result.rq < result.ci_high
    assert result.ci_low * result.ci_high == pytest.approx(result.rq**2)  # symmetric in log


def test_single_replicates_give_no_interval():
    result = relative_quantity(22.0, 18.0, 25.0, 19.0)
    assert math.isnan(result.se) and math.isnan(result.ci_low) and math.isnan(result.ci_high)


def test_identical_replicates_give_a_zero_width_interval():
    result = relative_quantity([22.0, 22.0], [18.0, 18.0], [25.0, 25.0], [19.0, 19.0])
    assert result.ci_low == result.rq == result.ci_high == 4.0


def test_wider_confidence_gives_a_wider_interval():
    args = ([20.0, 20.3], [16.0, 16.1], [23.0, 23.4], [17.1, 17.3])
    narrow, wide = relative_quantity(*args, confidence=0.9), relative_quantity(*args)
    assert wide.ci_low < narrow.ci_low and narrow.ci_high < wide.ci_high


@pytest.mark.parametrize("efficiency", [0.95, 1.0, math.nan])
def test_efficiency_must_be_an_amplification_factor_above_one(efficiency):
    with pytest.raises(ValueError, match="amplification factor"):
        relative_quantity(22.0, 18.0, 25.0, 19.0, efficiency=efficiency)


def test_undetermined_ct_is_refused():
    with pytest.raises(ValueError, match="finite"):
        delta_ct([22.0, math.nan], 18.0)
