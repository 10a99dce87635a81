"""The release gate's cases through the API (`GET /api/v1/lots/{id}/evaluation/`): `releasable`
false, with the blocker codes the review page shows (release gate, item 12)."""

import pytest

from assays import services as assay_services
from tests import factories
from tests.release.helpers import committed, lot_under_review, record_manual_run, review_runs

pytestmark = pytest.mark.django_db


def _evaluation(client, qa_user, lot) -> dict:
    client.force_login(qa_user)
    response = client.get(f"/api/v1/lots/{lot.pk}/evaluation/")
    assert response.status_code == 200
    return response.json()


def test_runs_never_reviewed_make_the_lot_not_releasable(technician, qa_user, client):
    lot = lot_under_review(technician, reviewed=False).lot
    body = _evaluation(client, qa_user, lot)
    assert body["releasable"] is False
    assert {b["code"] for b in body["blockers"]} == {"run_unreviewed"}
    assert all(b["object"]["type"] == "run" for b in body["blockers"])


def test_a_run_failing_system_suitability_is_a_run_invalid_blocker(technician, qa_user, client):
    tested = lot_under_review(technician)
    lot = tested.lot
    assay_services.run_invalidate(
        actor=factories.UserFactory(role="analyst"), run=tested.runs["ENDOTOXIN"], reason="Spill"
    )
    bad = record_manual_run(
        technician, lot, "ENDOTOXIN", [("endotoxin", 0.1), ("spike_recovery", 12.0)]
    )
    body = _evaluation(client, qa_user, lot)
    assert body["releasable"] is False
    codes = [b["code"] for b in body["blockers"]]
    assert "criterion_pending" in codes and "run_invalid" in codes
    assert {"type": "run", "id": bad.pk, "code": str(bad)} in [
        b["object"] for b in body["blockers"]
    ]


def test_an_indeterminate_censored_result_is_criterion_invalid(technician, qa_user, client):
    tested = lot_under_review(technician)
    lot = tested.lot
    assay_services.run_invalidate(
        actor=factories.UserFactory(role="analyst"), run=tested.runs["ENDOTOXIN"], reason="Spill"
    )
    with committed():  # its metrics and the evaluation follow once committed
        run = assay_services.run_record(
            assay_code="ENDOTOXIN",
            reagent_lots=factories.reagents_for("ENDOTOXIN"),
            results=[
                assay_services.ResultInput(lot.code, "endotoxin", value=1.0, qualifier="<LLOQ"),
                assay_services.ResultInput(lot.code, "spike_recovery", value=90.0),
            ],
            source="manual",
            started_at=lot.created_at,
            actor=technician,
        )
    review_runs([run])
    body = _evaluation(client, qa_user, lot)
    assert body["releasable"] is False
    assert [b["code"] for b in body["blockers"]] == ["criterion_invalid"]
    assert "indeterminate" not in body["blockers"][0]["message"]  # the criterion, in QA's words
    assert body["blockers"][0]["object"]["code"] == "endotoxin.eu_per_ml"
