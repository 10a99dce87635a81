import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import curve_fit

from assays.qc.curves import (
    LLOQ_FLAG,
    NOT_CALCULABLE,
    ULOQ_FLAG,
    BackCalc,
    fit_five_pl,
    fit_four_pl,
    five_pl,
    five_pl_inverse,
    four_pl,
    four_pl_inverse,
    from_drc_ll4,
)
from assays.qc.worked_examples import RYEGRASS_CONC, RYEGRASS_ROOTL


@pytest.fixture(scope="module")
def ryegrass():
    return fit_four_pl(RYEGRASS_CONC, RYEGRASS_ROOTL)


def _elisa_standards():
    """Noiseless increasing ELISA-like curve: blank 0.05 OD, top 3.0 OD, EC50 200 pg/mL."""
    x = np.array([0.0] + [1000.0 / 2**k for k in range(7)][::-1])
    return x, four_pl(x, 0.05, 1.2, 200.0, 3.0)


def test_four_pl_reproduces_drc_ryegrass_fit(ryegrass):
    drc = ryegrass.to_drc_ll4()
    assert drc["b"] == pytest.approx(2.98222, abs=5e-5)
    assert drc["c"] == pytest.approx(0.48141, abs=5e-5)
    assert drc["d"] == pytest.approx(7.79296, abs=5e-5)
    assert drc["e"] == pytest.approx(3.05795, abs=5e-5)
    assert ryegrass.residual_se == pytest.approx(0.5196256, abs=5e-7)
    assert ryegrass.df == 20
    assert ryegrass.n == 24
    assert ryegrass.converged


def test_gen5_parameters_map_to_drc_ll4(ryegrass):
    # a = d_drc (response at x = 0), d = c_drc, c = e, b = b
    assert ryegrass.a == ryegrass.to_drc_ll4()["d"]
    assert ryegrass.d == ryegrass.to_drc_ll4()["c"]
    assert from_drc_ll4(**ryegrass.to_drc_ll4()) == ryegrass.parameters
    x = np.array([0.5, 1.0, 3.0, 10.0, 30.0])
    p = ryegrass.to_drc_ll4()
    ll4 = p["c"] + (p["d"] - p["c"]) / (1 + np.exp(p["b"] * (np.log(x) - np.log(p["e"]))))
    assert ryegrass.predict(x) == pytest.approx(ll4, rel=1e-12)


def test_blank_standards_at_zero_concentration_sit_on_the_upper_asymptote(ryegrass):
    assert ryegrass.predict(0.0) == pytest.approx(ryegrass.a)
    assert ryegrass.standards_range == (0.94, 30.0)


def test_r_squared_and_residual_se_follow_their_definitions(ryegrass):
    y = np.asarray(RYEGRASS_ROOTL)
    sse = float(np.sum(ryegrass.residuals**2))
    assert ryegrass.sse == pytest.approx(sse)
    assert ryegrass.r_squared == pytest.approx(1 - sse / np.sum((y - y.mean()) ** 2))
    assert ryegrass.residual_se == pytest.approx(math.sqrt(sse / 20))


def test_parameter_standard_errors_match_scipy_curve_fit(ryegrass):
    _, cov = curve_fit(
        four_pl, RYEGRASS_CONC, RYEGRASS_ROOTL, p0=list(ryegrass.parameters.values())
    )
    expected = dict(zip("abcd", np.sqrt(np.diag(cov)), strict=True))
    assert ryegrass.std_errors == pytest.approx(expected, rel=1e-4)


def test_back_calculation_reports_values_only_inside_the_standards_range(ryegrass):
    inside = ryegrass.back_calculate([5.0, 1.0])
    assert all(r.quantifiable for r in inside)
    assert inside[0].value == pytest.approx(ryegrass.inverse(5.0))
    assert ryegrass.predict(inside[1].value) == pytest.approx(1.0)
    low_response_high_conc = float(ryegrass.predict(40.0))  # decreasing curve
    high_response_low_conc = float(ryegrass.predict(0.5))
    assert ryegrass.back_calculate([high_response_low_conc, low_response_high_conc]) == [
        BackCalc(None, LLOQ_FLAG),
        BackCalc(None, ULOQ_FLAG),
    ]


def test_responses_beyond_the_asymptotes_are_flagged_not_extrapolated(ryegrass):
    above_a, below_d = ryegrass.a + 0.5, ryegrass.d - 0.1
    assert math.isnan(ryegrass.inverse(above_a)) and math.isnan(ryegrass.inverse(below_d))
    results = ryegrass.back_calculate([above_a, below_d, math.nan])
    assert [r.qualifier for r in results] == [LLOQ_FLAG, ULOQ_FLAG, NOT_CALCULABLE]
    assert all(r.value is None for r in results)


def test_standards_back_calculate_inside_their_own_range_at_the_edges():
    x, y = _elisa_standards()
    fit = fit_four_pl(x, y)
    values = fit.back_calculate(y[1:])
    assert [r.qualifier for r in values] == [None] * 7
    assert [r.value for r in values] == pytest.approx(x[1:], rel=1e-6)


def test_dilution_multiplies_back_calculated_values_and_range_can_be_narrowed():
    x, y = _elisa_standards()
    fit = fit_four_pl(x, y)
    response = float(four_pl(50.0, 0.05, 1.2, 200.0, 3.0))
    assert fit.back_calculate(response, dilution=10)[0].value == pytest.approx(500.0, rel=1e-6)
    narrowed = fit.back_calculate(response, quantitation_range=(62.5, 1000.0))
    assert narrowed == [BackCalc(None, LLOQ_FLAG)]


def test_increasing_curve_is_recovered_with_a_at_zero_concentration():
    x, y = _elisa_standards()
    fit = fit_four_pl(x, y)
    assert fit.parameters == pytest.approx({"a": 0.05, "b": 1.2, "c": 200.0, "d": 3.0}, rel=1e-6)
    assert fit.r_squared == pytest.approx(1.0)
    # a response below the blank is below the lower limit of quantitation
    assert fit.back_calculate(0.01) == [BackCalc(None, LLOQ_FLAG)]
    assert fit.back_calculate(3.5) == [BackCalc(None, ULOQ_FLAG)]


def test_weighted_fit_matches_scipy_with_sigma_one_over_sqrt_weight(ryegrass):
    w = 1.0 / np.asarray(RYEGRASS_ROOTL) ** 2
    fit = fit_four_pl(RYEGRASS_CONC, RYEGRASS_ROOTL, weights=w)
    p, _ = curve_fit(
        four_pl,
        RYEGRASS_CONC,
        RYEGRASS_ROOTL,
        p0=list(ryegrass.parameters.values()),
        sigma=1 / np.sqrt(w),
        ftol=1e-14,
        xtol=1e-14,
        gtol=1e-14,
    )
    assert list(fit.parameters.values()) == pytest.approx(p, rel=1e-5)
    assert fit.sse == pytest.approx(np.sum(w * (RYEGRASS_ROOTL - four_pl(RYEGRASS_CONC, *p)) ** 2))


def test_five_pl_recovers_an_asymmetric_curve():
    x = np.array([0.0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512])
    true = {"a": 0.1, "b": 1.5, "c": 40.0, "d": 2.5, "g": 0.4}
    fit = fit_five_pl(x, five_pl(x, **true))
    assert fit.parameters == pytest.approx(true, rel=1e-5)
    assert fit.df == len(x) - 5
    assert fit.to_drc_ll5()["f"] == pytest.approx(0.4, rel=1e-5)


def test_five_pl_fits_ryegrass_at_least_as_well_as_four_pl(ryegrass):
    fit5 = fit_five_pl(RYEGRASS_CONC, RYEGRASS_ROOTL)
    assert fit5.sse <= ryegrass.sse + 1e-9
    assert fit5.df == 19
    value = fit5.back_calculate(4.0)[0].value
    assert fit5.predict(value) == pytest.approx(4.0)


@pytest.mark.parametrize(
    "x, y, message",
    [
        ([0, 1, 2, 3], [4, 3, 2, 1], "more than 4"),
        ([1, 1, 2, 2, 3, 3], [4, 4, 3, 3, 2, 2], "distinct"),
        ([0, 1, 2, -3, 4], [4, 3, 2, 1, 0], "negative"),
        ([0, 1, 2, 3, 4], [4, 3, math.nan, 1, 0], "finite"),
    ],
)
def test_unusable_standards_are_refused(x, y, message):
    with pytest.raises(ValueError, match=message):
        fit_four_pl(x, y)


_params = st.fixed_dictionaries(
    {
        "a": st.floats(-100, 100),
        "b": st.floats(0.3, 5).flatmap(lambda b: st.sampled_from([b, -b])),
        "c": st.floats(1e-3, 1e4),
        "d": st.floats(-100, 100),
    }
)


@settings(max_examples=200, deadline=None)
@given(_params, st.floats(-6, 6))
def test_inverse_of_predict_returns_x_inside_the_range(params, log_u):
    assume(abs(params["a"] - params["d"]) > 1.0)
    x = params["c"] * math.exp(log_u / abs(params["b"]))  # (x/c)^|b| between e^-6 and e^6
    assert four_pl_inverse(four_pl(x, **params), **params) == pytest.approx(x, rel=1e-6)


@settings(max_examples=200, deadline=None)
@given(_params, st.floats(0.2, 5), st.floats(-6, 6))
def test_five_pl_inverse_of_predict_returns_x(params, g, log_u):
    assume(abs(params["a"] - params["d"]) > 1.0)
    x = params["c"] * math.exp(log_u / abs(params["b"]))
    # The curve is y = d + (a - d) s with s = (1 + u)^-g and u = (x/c)^b = e^(±log_u): the sign
    # is b's, so for b < 0 a small x gives a large u. Where s < e^-8 (ln s = -g ln(1 + u)), y is
    # within e^-8 (a - d) of the far asymptote d and y - d has lost too many digits to recover
    # x to 1e-6: keep away from there whatever the sign of b.
    log_u_of_x = log_u if params["b"] > 0 else -log_u
    assume(g * math.log1p(math.exp(log_u_of_x)) < 8)
    y = five_pl(x, g=g, **params)
    assert five_pl_inverse(y, g=g, **params) == pytest.approx(x, rel=1e-6)


@settings(max_examples=100, deadline=None)
@given(st.floats(0.94, 30.0))
def test_ryegrass_fit_inverts_its_own_predictions(ryegrass, x):
    result = ryegrass.back_calculate(ryegrass.predict(x))[0]
    assert result.qualifier is None
    assert result.value == pytest.approx(x, rel=1e-8)


def test_a_curve_the_standards_do_not_determine_converts_nothing():
    """A step between two standards: the fit converges with R² ≈ 1 but any slope fits it
    (b = 69, SE(b) = 6.5e10); before, 1.5 back-calculated to a 'quantifiable' 0.615."""
    x = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2] * 2
    y = [1.0, 1.01, 0.99, 2.0, 2.01, 1.99, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
    fit = fit_four_pl(x, y)
    assert fit.converged and fit.r_squared > 0.999
    assert set(fit.undetermined) >= {"b"}
    assert fit.back_calculate([1.5, 1.2]) == [BackCalc(None, "NC"), BackCalc(None, "NC")]
    failures = fit.suitability_failures()
    assert failures[0].startswith("parameters not determined by the standards")
    assert "at least 75% must" in failures[-1]


def test_ryegrass_is_determined_and_its_standards_recovery_is_reported(ryegrass):
    assert ryegrass.undetermined == []
    recovery = ryegrass.standards_recovery()
    assert len(recovery) == sum(1 for c in RYEGRASS_CONC if c > 0)
    assert all(r is None or r > 0 for _, r in recovery)
