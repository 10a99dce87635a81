"""Censored values and physically impossible ones (release gate, item 6 and part of item 8).

A result below the lowest standard is reported `< LLOQ` with the limit as its number (the LAL
assay's λ, USP <85>; a BCA curve's lowest standard). It is stored with its qualifier, judged for
what it can show (`< 0.05 EU/mL` passes `< 0.5`; `< 1.0` against `< 0.5` is indeterminate and
blocks) and printed with its qualifier on the review page and the certificate. Negative amounts
and percentages of a whole above 100 are refused before anything is written.
"""

from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError

from assays import services as assay_services
from assays.models import AssayRun, Result
from release.models import Criterion, CriterionEvaluation
from release.selectors import release_blockers
from release.specifications import judge
from release.templatetags.release_tags import evaluation_result
from tests import factories
from tests.api.conftest import issue_key, key_client, register_instrument
from tests.release.helpers import committed, lot_under_review, review_runs

pytestmark = pytest.mark.django_db

BELOW = "<LLOQ"


def _metric(value, qualifier="", unit="EU/mL"):
    return SimpleNamespace(
        value=value, unit=unit, details={"qualifier": qualifier} if qualifier else {}
    )


@pytest.mark.parametrize(
    ("comparator", "lower", "upper", "metric", "expected"),
    [
        ("lt", None, 0.5, _metric(0.05, "<"), "pass"),  # < 0.05 passes < 0.5
        ("lt", None, 0.5, _metric(0.5, "<"), "pass"),  # < 0.5 shows < 0.5
        ("lt", None, 0.5, _metric(1.0, "<"), "invalid"),  # < 1.0 cannot show < 0.5
        ("lt", None, 0.5, _metric(0.6, ">"), "fail"),  # > 0.6 is above 0.5 whatever it is
        ("lt", None, 0.5, _metric(0.3, ">"), "invalid"),  # > 0.3 may or may not be < 0.5
        ("gte", 1e10, None, _metric(1e9, "<", "particle/mL"), "fail"),  # below the floor
        ("gte", 1e10, None, _metric(1e11, "<", "particle/mL"), "invalid"),
        ("gte", 20, None, _metric(50, ">", "percent"), "pass"),
        ("between", 50, 200, _metric(300, ">", "percent"), "fail"),
        ("between", 50, 200, _metric(100, ">", "percent"), "invalid"),
        ("lt", None, 0.5, _metric(0.05, "mixed"), "invalid"),
    ],
)
def test_a_censored_value_is_judged_for_what_it_can_show(
    comparator, lower, upper, metric, expected
):
    criterion = Criterion(
        test="Endotoxin", comparator=comparator, lower=lower, upper=upper, unit=metric.unit
    )
    status, note = judge(criterion, metric)
    assert status == expected, note
    if expected == "invalid" and metric.details["qualifier"] != "mixed":
        assert note.startswith("indeterminate")


def _endotoxin_run(technician, lot, value, qualifier):
    with committed():
        run = assay_services.run_record(
            assay_code="ENDOTOXIN",
            reagent_lots=factories.reagents_for("ENDOTOXIN"),
            results=[
                assay_services.ResultInput(
                    sample=lot.code, analyte="endotoxin", value=value, qualifier=qualifier
                ),
                assay_services.ResultInput(sample=lot.code, analyte="spike_recovery", value=90.0),
            ],
            source="manual",
            started_at=lot.created_at,
            actor=technician,
        )
    review_runs([run])
    return run


def _endotoxin(lot) -> CriterionEvaluation:
    return CriterionEvaluation.objects.get(lot=lot, criterion__metric_code="endotoxin.eu_per_ml")


def test_below_the_limit_of_quantitation_passes_and_prints_with_its_qualifier(technician):
    tested = lot_under_review(technician, leave_unreviewed=("ENDOTOXIN",))
    lot = tested.lot
    # The lot's endotoxin, read below the lowest standard instead of 0.1 EU/mL.
    analyst = factories.UserFactory(role="analyst")
    assay_services.run_invalidate(actor=analyst, run=tested.runs["ENDOTOXIN"], reason="Plate map")
    run = _endotoxin_run(technician, lot, 0.05, BELOW)

    stored = Result.objects.get(run=run, analyte__code="endotoxin")
    assert (stored.value, stored.qualifier) == (0.05, BELOW)
    evaluation = _endotoxin(lot)
    assert evaluation.status == "pass"
    assert evaluation_result(evaluation) == "< 0.05"  # as the review page and the CoA print it
    assert release_blockers(lot) == []


def test_a_limit_above_the_specification_is_indeterminate_and_blocks(technician):
    tested = lot_under_review(technician, leave_unreviewed=("ENDOTOXIN",))
    lot = tested.lot
    analyst = factories.UserFactory(role="analyst")
    assay_services.run_invalidate(actor=analyst, run=tested.runs["ENDOTOXIN"], reason="Dilution")
    _endotoxin_run(technician, lot, 1.0, BELOW)  # diluted too far: λ × dilution = 1.0 EU/mL

    evaluation = _endotoxin(lot)
    assert evaluation.status == "invalid"
    assert "indeterminate: < 1 EU/mL cannot show < 0.5 EU/mL" in evaluation.note
    assert [b.code for b in release_blockers(lot)] == ["criterion_invalid"]


@pytest.mark.parametrize(
    ("assay", "analyte", "value", "qualifier", "message"),
    [
        ("ENDOTOXIN", "endotoxin", None, BELOW, "needs its limit as the value"),
        ("BCA", "protein", -45.0, "", "is negative"),
        ("ENDOTOXIN", "endotoxin", -0.1, "", "is negative"),
        ("VIABILITY", "viability", 120.0, "", "above 100 %"),
        ("ISCT-FLOW", "CD73_pct", -2.0, "", "is negative"),
    ],
)
def test_impossible_or_unjudgeable_values_are_refused_and_nothing_is_written(
    technician, assay, analyte, value, qualifier, message
):
    lot = factories.lot(technician)
    sample = lot.code if assay in ("ENDOTOXIN", "BCA") else factories.culture_batch(technician).code
    before = (AssayRun.objects.count(), Result.objects.count())
    with pytest.raises(ValidationError) as refused:
        assay_services.run_record(
            assay_code=assay,
            reagent_lots=factories.reagents_for(assay),
            results=[
                assay_services.ResultInput(
                    sample=sample, analyte=analyte, value=value, qualifier=qualifier
                )
            ],
            source="manual",
            started_at=lot.created_at,
            actor=technician,
        )
    assert message in " ".join(refused.value.message_dict["value"])
    assert (AssayRun.objects.count(), Result.objects.count()) == before


def test_a_spike_recovery_above_100_percent_is_a_valid_measurement(technician):
    lot = factories.lot(technician)
    run = assay_services.run_record(
        assay_code="ENDOTOXIN",
        reagent_lots=factories.reagents_for("ENDOTOXIN"),
        results=[
            assay_services.ResultInput(sample=lot.code, analyte="endotoxin", value=0.1),
            assay_services.ResultInput(sample=lot.code, analyte="spike_recovery", value=150.0),
        ],
        source="manual",
        started_at=lot.created_at,
        actor=technician,
    )
    assert run.results.count() == 2


def test_the_api_refuses_a_censored_result_without_its_limit_field_by_field(technician):
    admin = factories.UserFactory(role="admin")
    client = key_client(issue_key(admin, register_instrument(admin)))
    lot = factories.lot(technician)
    response = client.post(
        "/api/v1/runs/",
        {
            "assay": "ENDOTOXIN",
            "started_at": lot.created_at.isoformat(),
            "reagent_lots": [r.pk for r in factories.reagents_for("ENDOTOXIN")],
            "results": [{"sample": lot.code, "analyte": "endotoxin", "qualifier": BELOW}],
        },
        format="json",
    )
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == "unprocessable"
    assert "needs its limit" in " ".join(body["errors"]["value"])
