"""ICH Q1E shelf life (assays.qc.stability) against the worked example in
assays.qc.worked_examples (ICH Q1E Appendix B.1 method, worked by hand) and its edge cases."""

import math

import pytest
from scipy import optimize

from assays.qc import stability, worked_examples


def test_worked_example_cases_pass():
    names = [c for c in worked_examples.run_all() if "Q1E" in c.name or "Q5C" in c.name]
    assert len(names) == 15  # one batch (6) and several (9, tests/stability/test_q1e_poolability)
    assert all(c.passed for c in names), names


def test_closed_form_crossing_agrees_with_a_root_search():
    result = stability.shelf_life(
        worked_examples.Q1E_TIMES, worked_examples.Q1E_POTENCY, lower=95.0
    )
    searched = optimize.brentq(lambda t: result.fit.lower_bound(t) - 95.0, 0, 200)
    assert result.estimate == pytest.approx(searched, abs=1e-9)
    assert result.limited_by == "lower" and result.extrapolated


def test_upper_limit_of_a_rising_attribute():
    result = stability.shelf_life([0, 3, 6, 9, 12], [1.0, 1.4, 2.1, 2.4, 3.1], upper=5.0)
    assert result.limited_by == "upper"
    assert result.fit.upper_bound(result.estimate) == pytest.approx(5.0)


def test_no_crossing_when_the_attribute_moves_away_from_the_limit():
    result = stability.shelf_life([0, 3, 6], [100.0, 100.5, 101.1], lower=95.0)
    assert result.estimate is None
    assert result.supported == 6.0


def test_already_beyond_the_limit_at_time_zero():
    assert stability.shelf_life([0, 1, 2], [94.0, 93.0, 92.5], lower=95.0).estimate == 0.0


@pytest.mark.parametrize(
    ("times", "values"),
    [([0, 1], [1.0, 2.0]), ([3, 3, 3], [1.0, 2.0, 3.0]), ([0, 1, math.nan], [1, 2, 3])],
)
def test_refuses_data_that_cannot_be_regressed(times, values):
    with pytest.raises(ValueError):
        stability.shelf_life(times, values, lower=0.5)


def test_published_single_batch_example():
    """The published worksheet's printed figures (intercept, slope, their SEs, R², residual SD,
    64.770 months) are reproduced to the digits it prints; its lower limit decides, not 110 %."""
    cases = [c for c in worked_examples.run_all() if c.name.startswith("Published batch")]
    assert len(cases) == 7
    assert all(c.passed for c in cases), [c for c in cases if not c.passed]
    result = stability.shelf_life(
        worked_examples.OVAIS_TIMES, worked_examples.OVAIS_ASSAY, lower=90.0, upper=110.0
    )
    assert result.limited_by == "lower"
    assert result.fit.lower_bound(result.estimate) == pytest.approx(90.0, abs=1e-9)
    # The same data one digit off (the 18-month point 95.0 -> 96.0) no longer reproduces it.
    changed = list(worked_examples.OVAIS_ASSAY)
    changed[6] = 96.0
    moved = stability.shelf_life(worked_examples.OVAIS_TIMES, changed, lower=90.0)
    assert abs(moved.estimate - 64.770) > 1
