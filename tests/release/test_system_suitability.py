"""System suitability as data (release gate, item 5).

Each assay definition carries its validity criteria (`AssayDefinition.suitability`); a run that
fails them is recorded whole and invalidated by the system with the reason, so its results never
count: the criterion is not failed (no OOS), it waits for a valid run, and the release page says
which run is invalid and why (`run_invalid`).
"""

import pytest

from assays import services as assay_services
from assays.models import AssayDefinition, AssayRun
from assays.qc import suitability
from release.models import CriterionEvaluation, Deviation
from release.selectors import release_blockers
from tests import factories
from tests.release.helpers import committed, lot_under_review, record_manual_run, review_runs

pytestmark = pytest.mark.django_db


def test_the_catalogue_carries_the_validity_criteria():
    lal = AssayDefinition.objects.get(code="ENDOTOXIN", version=1)
    assert {r["analyte"] for r in lal.suitability} == {"spike_recovery", "curve_r"}
    assert lal.analytes.filter(code="curve_r").exists()
    potency = AssayDefinition.objects.get(code="POTENCY-MAC", version=1)
    assert potency.suitability[0]["ratio_to"] == "tnf_unstimulated"


@pytest.mark.parametrize(
    ("values", "failures"),
    [
        ({"spike_recovery": [95.0], "curve_r": [-0.995]}, []),
        ({"spike_recovery": [12.0]}, ["spike_recovery 12: positive product control"]),
        ({"spike_recovery": [250.0]}, ["spike_recovery 250: positive product control"]),
        ({"spike_recovery": [95.0], "curve_r": [-0.975]}, ["curve_r -0.975: standard curve"]),
        ({}, ["spike_recovery missing: positive product control"]),
    ],
)
def test_lal_validity_criteria(values, failures):
    found = suitability.check(suitability.LAL, values)
    assert len(found) == len(failures)
    for text, start in zip(found, failures, strict=True):
        assert text.startswith(start), text


def test_the_potency_assay_window_is_a_ratio():
    rules = suitability.POTENCY_WINDOW
    assert suitability.check(rules, {"tnf_lps": [1000.0], "tnf_unstimulated": [100.0]}) == []
    (failure,) = suitability.check(rules, {"tnf_lps": [1000.0], "tnf_unstimulated": [400.0]})
    assert failure.startswith("tnf_lps / tnf_unstimulated = 2.5:")


def test_a_lal_run_whose_spike_recovery_fails_is_invalid_not_oos(technician):
    tested = lot_under_review(technician, leave_unreviewed=("ENDOTOXIN",))
    lot, first = tested.lot, tested.runs["ENDOTOXIN"]
    assay_services.run_invalidate(
        actor=factories.UserFactory(role="analyst"), run=first, reason="Wrong plate map"
    )
    # Endotoxin 2.0 EU/mL would be an OOS, but the positive product control recovered 12 %:
    # the test did not work, so it says nothing about the lot.
    bad = record_manual_run(
        technician, lot, "ENDOTOXIN", [("endotoxin", 2.0), ("spike_recovery", 12.0)]
    )

    bad.refresh_from_db()
    assert bad.status == AssayRun.Status.INVALIDATED
    assert bad.status_reason.startswith("System suitability failed: spike_recovery 12:")
    assert bad.results.count() == 6  # recorded whole: nothing is dropped
    evaluation = CriterionEvaluation.objects.get(
        lot=lot, criterion__metric_code="endotoxin.eu_per_ml"
    )
    assert evaluation.status == "pending"
    assert not Deviation.objects.filter(lot=lot, kind="oos").exists()
    blockers = release_blockers(lot)
    assert "run_invalid" in [b.code for b in blockers]
    invalid = next(b for b in blockers if b.code == "run_invalid" and b.object["id"] == bad.pk)
    assert "spike_recovery 12" in invalid.message

    good = record_manual_run(technician, lot, "ENDOTOXIN", [("endotoxin", 0.1)])
    review_runs([good])
    assert release_blockers(lot) == []


def test_an_instrument_run_failing_suitability_is_answered_invalid(technician, client):
    from tests.api.conftest import issue_key, key_client, register_instrument

    admin = factories.UserFactory(role="admin")
    api = key_client(issue_key(admin, register_instrument(admin)))
    lot = factories.lot(technician)
    with committed():
        response = api.post(
            "/api/v1/runs/",
            {
                "assay": "ENDOTOXIN",
                "started_at": lot.created_at.isoformat(),
                "reagent_lots": [r.pk for r in factories.reagents_for("ENDOTOXIN")],
                "results": [
                    {"sample": lot.code, "analyte": "endotoxin", "value": 0.1},
                    {"sample": lot.code, "analyte": "spike_recovery", "value": 96.0},
                    {"sample": lot.code, "analyte": "curve_r", "value": -0.91},
                ],
            },
            format="json",
        )
    assert response.status_code == 201, response.content
    run = AssayRun.objects.get(pk=response.json()["id"])
    assert run.status == "invalidated"
    assert "standard curve |r| must be at least 0.980" in run.status_reason
