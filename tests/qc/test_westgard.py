import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assays.qc.westgard import RULES, evaluate, format_flags, is_rejected, z_scores

WORKED_VALUES = [101, 97, 111, 99, 117, 103, 111, 112, 106, 106, 107, 106, 102, 101]


def test_worked_example_flags_exactly_the_documented_points():
    expected = [set() for _ in WORKED_VALUES]
    expected[3 - 1] = {"1-2s"}
    expected[5 - 1] = {"1-2s", "1-3s"}
    expected[7 - 1] = {"1-2s"}
    expected[8 - 1] = {"1-2s", "2-2s"}
    for run in (10, 11, 12):
        expected[run - 1] = {"4-1s"}
    expected[14 - 1] = {"10x"}
    assert evaluate(WORKED_VALUES, 100, 5) == expected


def test_flags_format_as_one_line_per_flagged_point():
    text = format_flags(evaluate(WORKED_VALUES, 100, 5))
    assert text == "3:1-2s; 5:1-2s,1-3s; 7:1-2s; 8:1-2s,2-2s; 10:4-1s; 11:4-1s; 12:4-1s; 14:10x"
    assert format_flags([set(), set()]) == ""


def test_a_value_exactly_on_a_limit_is_not_beyond_it():
    assert evaluate([110, 90, 115], 100, 5) == [set(), set(), {"1-2s"}]


def test_2_2s_needs_both_points_beyond_the_same_limit():
    assert evaluate([111, 89], 100, 5) == [{"1-2s"}, {"1-2s"}]
    assert evaluate([89, 88], 100, 5) == [{"1-2s"}, {"1-2s", "2-2s"}]


def test_4_1s_and_10x_apply_below_the_mean_too():
    values = [94, 93, 94, 93, 99, 98, 97, 99, 98, 99]
    flags = evaluate(values, 100, 5)
    assert flags[3] == {"4-1s"}
    assert flags[9] == {"10x"}
    assert all(not f for f in flags[:3] + flags[4:9])


def test_r4s_within_one_run_flags_both_controls():
    # two control levels per run, each with its own mean and SD
    values = [205, 48, 212, 39]
    means, sds = [200, 50, 200, 50], [5, 2.5, 5, 2.5]
    flags = evaluate(values, means, sds, run_ids=["run1", "run1", "run2", "run2"])
    assert flags[:2] == [set(), set()]
    assert flags[2] == {"1-2s", "R-4s"} and flags[3] == {"1-2s", "R-4s", "1-3s"}


def test_r4s_is_not_applied_across_runs_or_without_run_ids():
    assert evaluate([112, 88], 100, 5) == [{"1-2s"}, {"1-2s"}]
    assert evaluate([112, 88], 100, 5, run_ids=[1, 2]) == [{"1-2s"}, {"1-2s"}]
    assert "R-4s" in evaluate([112, 88], 100, 5, run_ids=[1, 1])[1]


def test_2_2s_within_a_run_across_levels_even_when_not_adjacent():
    values = [211, 50, 56]
    means, sds = [200, 50, 50], [5, 2.5, 2.5]
    flags = evaluate(values, means, sds, run_ids=[1, 1, 1])
    assert flags == [{"1-2s"}, set(), {"1-2s", "2-2s"}]


def test_only_1_2s_is_a_warning():
    assert not is_rejected({"1-2s"})
    assert all(is_rejected({rule}) for rule in RULES if rule != "1-2s")


def test_z_scores_and_bad_sd():
    assert list(z_scores([110, 95], 100, 5)) == [2.0, -1.0]
    with pytest.raises(ValueError, match="SD must be positive"):
        evaluate([1.0], 0.0, 0.0)
    with pytest.raises(ValueError, match="run ids"):
        evaluate([1.0, 2.0], 0.0, 1.0, run_ids=[1])


_ints = st.integers(-10_000, 10_000)


@settings(max_examples=200, deadline=None)
@given(st.lists(_ints, min_size=1, max_size=40), _ints, st.integers(1, 500), _ints)
def test_flags_are_invariant_to_shifting_values_and_mean_together(values, mean, sd, shift):
    shifted = [v + shift for v in values]
    assert evaluate(values, mean, sd) == evaluate(shifted, mean + shift, sd)


@settings(max_examples=200, deadline=None)
@given(st.lists(_ints, min_size=1, max_size=40), _ints, st.integers(1, 500))
def test_mirroring_about_the_mean_keeps_flags_and_1_3s_implies_1_2s(values, mean, sd):
    flags = evaluate(values, mean, sd)
    mirrored = evaluate([2 * mean - v for v in values], mean, sd)
    assert flags == mirrored
    for point in flags:
        assert point <= set(RULES)
        assert "1-3s" not in point or "1-2s" in point
