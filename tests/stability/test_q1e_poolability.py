"""ICH Q1E batch poolability (assays.qc.stability_pooling): the F tests against their hand
formulas, the chosen model's shelf life against a root search on the bound written with
explicit matrices, lower and upper limits, and the data it refuses.

The batches are built from the ICH Q1E single-batch example of assays.qc.worked_examples
(hand-worked, DOMAIN.md §4); the published multi-batch data sets (LeBlond et al. 2011, JMP's
Stability.jmp) were not reachable from this workplace (see the report on issue 13)."""

import math

import numpy as np
import pytest
from scipy import optimize, stats

from assays.qc import stability, stability_pooling, worked_examples

T = np.array(worked_examples.Q1E_TIMES)
Y = np.array(worked_examples.Q1E_POTENCY)


def _batches(*series):
    return {f"lot {i + 1}": (T, y) for i, y in enumerate(series)}


def _single():
    return stability.fit_line(T, Y)


def test_worked_example_cases_of_poolability_pass():
    cases = [
        c for c in worked_examples.run_all() if "poolability" in c.name or "ICH Q1E " in c.name
    ]
    assert len(cases) >= 9
    assert all(c.passed for c in cases), [c for c in cases if not c.passed]


def test_shifted_batches_f_for_intercepts_is_the_hand_formula():
    shifts = np.array([0.0, 0.5, -0.4])
    result = stability_pooling.pooled_shelf_life(_batches(*(Y + d for d in shifts)), lower=95)
    fit = _single()
    sse_one = fit.residual_sd**2 * fit.df
    mse_full = 3 * sse_one / (21 - 6)
    by_hand = (7 * ((shifts - shifts.mean()) ** 2).sum() / 2) / mse_full
    assert result.f_slopes == 0.0 and result.p_slopes == 1.0
    assert result.f_intercepts == pytest.approx(by_hand, rel=1e-9)
    assert result.p_intercepts == pytest.approx(stats.f.sf(by_hand, 2, 15), rel=1e-9)
    assert result.model == stability_pooling.COMMON_SLOPE and result.governing == "lot 3"
    assert result.df_error == 15


def test_common_slope_crossing_agrees_with_a_root_search_on_explicit_matrices():
    shifts = (0.0, 0.5, -0.4)
    result = stability_pooling.pooled_shelf_life(_batches(*(Y + d for d in shifts)), lower=95)
    t = np.tile(T, 3)
    y = np.concatenate([Y + d for d in shifts])
    x = np.column_stack([np.kron(np.eye(3), np.ones((7, 1))), t])
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    s2 = ((y - x @ beta) ** 2).sum() / (21 - 4)
    cov = s2 * np.linalg.inv(x.T @ x)
    q = stats.t.ppf(0.95, 17)

    def bound(month, i):
        row = np.array([i == 0, i == 1, i == 2, month], dtype=float)
        return row @ beta - q * math.sqrt(row @ cov @ row)

    for i, line in enumerate(result.lines):
        searched = optimize.brentq(lambda m, i=i: bound(m, i) - 95, 0, 200)
        assert line.estimate == pytest.approx(searched)
    assert result.estimate == min(line.estimate for line in result.lines)


def test_different_slopes_each_batch_alone_and_the_shortest_governs():
    changes = (0.0, -0.1, 0.05)
    series = [Y + d * T for d in changes]
    result = stability_pooling.pooled_shelf_life(_batches(*series), lower=95)
    sxx = ((T - T.mean()) ** 2).sum()
    fit = _single()
    by_hand = (sxx * ((np.array(changes) - np.mean(changes)) ** 2).sum() / 2) / (
        3 * fit.residual_sd**2 * fit.df / 15
    )
    assert result.f_slopes == pytest.approx(by_hand, rel=1e-9)
    assert result.model == stability_pooling.SEPARATE
    alone = [stability.shelf_life(T, y, lower=95).estimate for y in series]
    assert [line.estimate for line in result.lines] == pytest.approx(alone)
    assert result.estimate == pytest.approx(min(alone)) and result.governing == "lot 2"


def test_identical_batches_pool_into_one_line_on_every_result():
    result = stability_pooling.pooled_shelf_life(_batches(Y, Y, Y), lower=95)
    assert result.model == stability_pooling.POOLED and result.p_intercepts == 1.0
    assert result.estimate == pytest.approx(
        stability.shelf_life(np.tile(T, 3), np.tile(Y, 3), lower=95).estimate
    )
    # Three lots' data narrow the bound: later than one lot alone (30.76 months).
    assert result.estimate > stability.shelf_life(T, Y, lower=95).estimate


@pytest.mark.parametrize("shifts", [(0.0, 0.5, -0.4), (0.0, 0.0, 0.0)])
def test_an_upper_limit_mirrors_a_lower_one(shifts):
    """A rising attribute (aggregates) is the mirror image of a falling one: 200 − y against
    an upper limit of 105 gives the same tests, model and shelf life as y against 95."""
    falling = stability_pooling.pooled_shelf_life(_batches(*(Y + d for d in shifts)), lower=95)
    rising = stability_pooling.pooled_shelf_life(
        _batches(*(200 - (Y + d) for d in shifts)), upper=105
    )
    assert rising.model == falling.model and rising.limited_by == "upper"
    assert rising.p_intercepts == pytest.approx(falling.p_intercepts)
    assert rising.estimate == pytest.approx(falling.estimate)


def test_the_significance_level_decides_the_model():
    data = _batches(*(Y + d for d in (0.0, 0.5, -0.4)))  # p intercepts ≈ 8e-7
    assert stability_pooling.pooled_shelf_life(data, lower=95).model == "common slope"
    assert stability_pooling.pooled_shelf_life(data, lower=95, alpha=1e-7).model == "pooled"


def test_limit_already_crossed_at_time_zero_is_stated_not_a_shelf_life():
    result = stability_pooling.pooled_shelf_life(_batches(Y, Y - 6.5), lower=95)
    assert result.estimate == 0.0 and result.beyond_at_start


def test_two_limits_the_nearer_one_governs():
    result = stability_pooling.pooled_shelf_life(_batches(Y, Y + 0.3), lower=95, upper=101.3)
    assert result.limited_by == "upper" and result.beyond_at_start  # 101.5 at T0 > 101.3


@pytest.mark.parametrize(
    ("batches", "message"),
    [
        ({"lot 1": (T, Y)}, "two or more batches"),
        ({"lot 1": (T, Y), "lot 2": ([0, 3, 3], [100, 99, 99.2])}, "lot 2: at least three"),
        ({"lot 1": (T, Y), "lot 2": ([0, 3], [100, 99])}, "lot 2: at least three"),
        ({"lot 1": (T, Y), "lot 2": (T, [*Y[:-1], math.nan])}, "finite"),
        ({"lot 1": (T, Y), "lot 2": (T, Y[:-1])}, "differ in length"),
    ],
)
def test_refuses_data_that_cannot_be_compared(batches, message):
    with pytest.raises(ValueError, match=message):
        stability_pooling.pooled_shelf_life(batches, lower=95)


def test_refuses_without_a_limit_or_with_a_meaningless_level():
    with pytest.raises(ValueError, match="limit"):
        stability_pooling.pooled_shelf_life(_batches(Y, Y))
    with pytest.raises(ValueError, match="significance"):
        stability_pooling.pooled_shelf_life(_batches(Y, Y), lower=95, alpha=1.5)
