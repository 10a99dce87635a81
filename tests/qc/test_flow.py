import numpy as np
import pytest

from assays.qc.flow import (
    ISCT_DEFAULT_SPEC,
    IdentityCriterion,
    isct_identity,
    percent_positive,
    threshold_from_control,
)

MSC_PANEL = {
    "CD73": 99.1,
    "CD90": 98.7,
    "CD105": 96.2,
    "CD45": 0.4,
    "CD34": 0.8,
    "CD14": 0.3,
    "CD19": 0.2,
    "HLA-DR": 1.1,
}


def test_threshold_is_the_99th_percentile_of_the_control():
    assert threshold_from_control(np.arange(101.0)) == pytest.approx(99.0)
    assert threshold_from_control(np.arange(101.0), percentile=95) == pytest.approx(95.0)


def test_percent_positive_counts_events_strictly_above_threshold_over_parent():
    assert percent_positive(np.arange(1.0, 11.0), 8.0) == pytest.approx(20.0)


def test_control_gated_on_its_own_99th_percentile_is_about_1_percent_positive():
    rng = np.random.default_rng(7)
    control = rng.normal(100.0, 10.0, 20_000)
    stained = np.concatenate([rng.normal(100.0, 10.0, 5_000), rng.normal(1000.0, 100.0, 15_000)])
    threshold = threshold_from_control(control)
    assert percent_positive(control, threshold) == pytest.approx(1.0, abs=0.01)
    assert percent_positive(stained, threshold) == pytest.approx(75.25, abs=0.5)


def test_typical_msc_panel_meets_isct_identity():
    verdict = isct_identity(MSC_PANEL)
    assert verdict.passed
    assert verdict.missing == () and verdict.failed == ()
    assert {r.marker for r in verdict.results} == set(MSC_PANEL)


def test_positive_marker_below_95_percent_fails_identity():
    verdict = isct_identity({**MSC_PANEL, "CD105": 94.9})
    assert not verdict.passed
    assert verdict.failed == ("CD105",)
    (cd105,) = [r for r in verdict.results if r.marker == "CD105"]
    assert cd105.minimum == 95.0 and cd105.passed is False


@pytest.mark.parametrize("value, passed", [(2.0, True), (2.1, False)])
def test_negative_marker_limit_is_inclusive_at_2_percent(value, passed):
    assert isct_identity({**MSC_PANEL, "HLA-DR": value}).passed is passed


def test_either_alternative_marker_satisfies_an_or_criterion():
    panel = {k: v for k, v in MSC_PANEL.items() if k not in ("CD14", "CD19")}
    verdict = isct_identity({**panel, "CD11b": 0.5, "CD79a": 0.4})
    assert verdict.passed


def test_every_measured_alternative_must_pass():
    assert not isct_identity({**MSC_PANEL, "CD11b": 5.0}).passed


def test_unmeasured_criterion_is_reported_missing_and_fails():
    panel = {k: v for k, v in MSC_PANEL.items() if k not in ("CD14",)}
    verdict = isct_identity(panel)
    assert not verdict.passed
    assert verdict.missing == ("CD14 or CD11b",)


def test_marker_names_match_regardless_of_case_dash_and_greek_alpha():
    panel = {k: v for k, v in MSC_PANEL.items() if k not in ("CD19", "HLA-DR")}
    assert isct_identity({**panel, "CD79α": 0.4, "hla dr": 1.0}).passed


def test_limits_come_from_the_specification_passed_in():
    spec = [IdentityCriterion(("CD73",), minimum=90.0), IdentityCriterion(("CD45",), maximum=5.0)]
    assert isct_identity({"CD73": 92.0, "CD45": 3.0}, spec=spec).passed
    assert not isct_identity({"CD73": 92.0, "CD45": 3.0}).passed  # ISCT defaults


def test_default_spec_is_the_isct_panel():
    limits = {c.name: (c.minimum, c.maximum) for c in ISCT_DEFAULT_SPEC}
    assert limits == {
        "CD73": (95.0, None),
        "CD90": (95.0, None),
        "CD105": (95.0, None),
        "CD45": (None, 2.0),
        "CD34": (None, 2.0),
        "CD14 or CD11b": (None, 2.0),
        "CD79a or CD19": (None, 2.0),
        "HLA-DR": (None, 2.0),
    }


def test_empty_parent_gate_is_refused():
    with pytest.raises(ValueError, match="no events"):
        percent_positive([], 1.0)
