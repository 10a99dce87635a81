import pytest

from assays.qc.potency import fold_induction, m2_m1_index, percent_inhibition


def test_percent_inhibition_halfway_back_to_baseline_is_50():
    assert percent_inhibition(550.0, 1000.0, 100.0) == pytest.approx(50.0)


def test_percent_inhibition_is_0_without_effect_and_100_at_baseline():
    assert percent_inhibition(1000.0, 1000.0, 100.0) == pytest.approx(0.0)
    assert percent_inhibition(100.0, 1000.0, 100.0) == pytest.approx(100.0)


def test_increase_above_lps_gives_negative_inhibition():
    assert percent_inhibition(1450.0, 1000.0, 100.0) == pytest.approx(-50.0)


def test_replicate_wells_are_averaged_before_the_formula():
    assert percent_inhibition([500, 600], [900, 1100], [90, 110]) == pytest.approx(50.0)
    assert fold_induction([280, 320], [190, 210]) == pytest.approx(1.5)


def test_fold_induction_is_ev_over_lps():
    assert fold_induction(300.0, 200.0) == pytest.approx(1.5)


def test_m2_m1_index_is_cd206_over_cd86():
    assert m2_m1_index(40.0, 20.0) == pytest.approx(2.0)


def test_unstimulated_equal_to_lps_is_refused():
    with pytest.raises(ValueError, match="did not stimulate"):
        percent_inhibition(500.0, 100.0, 100.0)


def test_zero_denominators_are_refused():
    with pytest.raises(ValueError):
        fold_induction(300.0, 0.0)
    with pytest.raises(ValueError):
        m2_m1_index(40.0, 0.0)
