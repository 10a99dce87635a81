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


# --- Cases 7-9 of the issue, through the API --------------------------------------------------


def test_records_that_do_not_add_up_are_refused_and_leave_nothing(technician, client_for_key, lot):
    """Case 7: protein −45 mg/mL, and sterility "no growth" the day the 14-day test started."""
    from datetime import timedelta

    from django.utils import timezone

    from assays.models import AssayRun
    from tests.api.conftest import a_run

    negative = a_run(lot.code)
    negative["results"][0]["value"] = -45
    response = client_for_key.post("/api/v1/runs/", negative, format="json")
    # 422: well formed, refused by what an amount can be (assays/api/errors.py)
    assert response.status_code == 422
    assert "is negative" in response.json()["errors"]["value"][0]

    started = timezone.now() - timedelta(hours=8)
    sterility = a_run(
        lot.code,
        assay="STERILITY",
        started_at=started.isoformat(),
        results=[{"sample": lot.code, "analyte": "sterility", "text_value": "no growth"}],
    )
    response = client_for_key.post("/api/v1/runs/", sterility, format="json")
    assert response.status_code == 422
    assert "Sterility takes 14 days" in response.json()["errors"]["started_at"][0]
    assert not AssayRun.objects.exists()  # nothing half-written


def test_the_run_behind_an_open_oos_stays_valid_and_the_api_shows_the_failing_value(
    technician, qa_user, client
):
    """Case 8: an analyst cannot invalidate the run an open OOS rests on; the evaluation keeps
    the failing value (not "pending") and says the OOS is open."""
    from django.core.exceptions import ValidationError

    from release.models import Deviation

    tested = lot_under_review(technician, failing="endotoxin")
    lot, run = tested.lot, tested.runs["ENDOTOXIN"]
    oos = Deviation.objects.get(lot=lot, kind="oos")
    with pytest.raises(ValidationError, match=f"OOS investigation {oos.code} rests on this run"):
        assay_services.run_invalidate(
            actor=factories.UserFactory(role="analyst"), run=run, reason="Pipetting error"
        )
    run.refresh_from_db()
    assert run.status != "invalidated"
    body = _evaluation(client, qa_user, lot)
    endotoxin = next(c for c in body["criteria"] if c["test"] == "Endotoxin")
    assert (endotoxin["status"], endotoxin["value"], endotoxin["run"]) == ("fail", 2.0, run.pk)
    assert body["releasable"] is False
    assert {"type": "deviation", "id": oos.pk, "code": oos.code} in [
        b["object"] for b in body["blockers"] if b["code"] == "oos_open"
    ]


def test_the_vials_of_a_rejected_lot_are_rejected_in_the_api(technician, client_for_key):
    """Case 9: vials of a rejected lot are "rejected", not "available"."""
    from batches import services as batch_services
    from tests.release.helpers import dispose

    lot = lot_under_review(technician).lot
    batch_services.aliquots_create(
        actor=technician,
        lot=lot,
        volume_ul=100,
        locations=factories.storage_positions(technician, 2),
    )
    listed = client_for_key.get("/api/v1/aliquots/", {"lot": lot.code}).json()["results"]
    assert [v["status"] for v in listed] == ["quarantine", "quarantine"]
    dispose(
        factories.UserFactory(role="qa"),
        lot,
        "rejected",
        reason="Potency trend out of the validated range",
    )
    listed = client_for_key.get("/api/v1/aliquots/", {"lot": lot.code}).json()["results"]
    assert [v["status"] for v in listed] == ["rejected", "rejected"]
