"""OOS results the way the FDA guidance says (release gate, items 2 and 3).

FDA, Investigating Out-of-Specification (OOS) Test Results for Pharmaceutical Production (2006):
only an assignable laboratory cause, recorded with a signature, invalidates the original result;
without it the original OOS result stands, and a passing retest does not override it. Every run
counts toward release only after a second person's signed review (EU GMP chapter 6.17(vi);
21 CFR 211.194(a)(8)).
"""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from assays import services as assay_services
from assays.metrics import valid_metrics
from lims.models import Signature
from lims.roles import RoleRefused
from lims.signatures import SignatureRefused
from release import deviations
from release.models import CriterionEvaluation, Deviation
from release.selectors import release_blockers
from release.specifications import evaluate, judge_all
from tests.factories import PASSWORD
from tests.release.helpers import (
    committed,
    dispose,
    draft_specification,
    lot_under_review,
    record_manual_run,
    review_runs,
    signer_for,
)

pytestmark = pytest.mark.django_db


def _codes(lot) -> list[str]:
    return [b.code for b in release_blockers(lot)]


def _investigated(qa_user, deviation):
    return deviations.deviation_investigate(
        actor=qa_user,
        deviation=deviation,
        root_cause="Phase I laboratory investigation: no assignable cause found",
        impact_assessment="The lot's endotoxin result is above the limit.",
    )


def _endotoxin(lot) -> CriterionEvaluation:
    return CriterionEvaluation.objects.get(lot=lot, criterion__metric_code="endotoxin.eu_per_ml")


def test_a_passing_retest_does_not_override_a_valid_oos_result(
    technician, qa_user, make_user, client
):
    lot = lot_under_review(technician, failing="endotoxin").lot
    oos = Deviation.objects.get(lot=lot, kind="oos")
    retest = record_manual_run(technician, lot, "ENDOTOXIN", [("endotoxin", 0.1)])
    review_runs([retest])

    evaluation = _endotoxin(lot)
    assert evaluation.status == "fail"
    assert evaluation.note == "2 valid results, 1 out of specification"
    assert evaluation.metric_id == oos.metric_id  # the original failing result is the one shown
    assert "criterion_failed" in _codes(lot)

    # Closing the OOS as "no product impact" while its result stands is refused.
    _investigated(qa_user, oos)
    with pytest.raises(ValidationError) as refused:
        deviations.deviation_close(
            signer=signer_for(qa_user, "approval"), deviation=oos, outcome="no_product_impact"
        )
    assert "still valid" in str(refused.value)
    oos.refresh_from_db()
    assert oos.status != "closed"

    with pytest.raises(ValidationError, match="Endotoxin"):
        dispose(make_user("qa"), lot, "released")
    lot.refresh_from_db()
    assert lot.status == "under_review"

    # The API says the same: not releasable, the failing criterion and the open investigation.
    client.force_login(qa_user)
    body = client.get(f"/api/v1/lots/{lot.pk}/evaluation/").json()
    assert body["releasable"] is False
    assert {"criterion_failed", "oos_open"} <= {b["code"] for b in body["blockers"]}


def test_only_an_assignable_laboratory_cause_lets_a_retest_replace_the_original(
    technician, qa_user, make_user
):
    tested = lot_under_review(technician, failing="endotoxin")
    lot, original = tested.lot, tested.runs["ENDOTOXIN"]
    oos = Deviation.objects.get(lot=lot, kind="oos")
    deviations.deviation_investigate(
        actor=qa_user,
        deviation=oos,
        root_cause="Phase I: the positive product control recovered 12 % (limit 50-200 %): "
        "the test was invalid",
        impact_assessment="None: the result is invalidated, a retest is required.",
    )
    with committed():  # the lot is evaluated again once the invalidation commits
        deviations.deviation_close(
            signer=signer_for(qa_user, "approval"), deviation=oos, outcome="result_invalidated"
        )
    original.refresh_from_db()
    assert original.status == "invalidated"
    assert _endotoxin(lot).status == "pending"

    retest = record_manual_run(technician, lot, "ENDOTOXIN", [("endotoxin", 0.1)])
    assert "run_unreviewed" in _codes(lot)
    review_runs([retest])
    assert _endotoxin(lot).status == "pass"
    assert release_blockers(lot) == []
    dispose(make_user("qa"), lot, "released")
    lot.refresh_from_db()
    assert lot.status == "released"


def test_a_criterion_may_judge_the_mean_of_its_results_each_within_limits(technician, qa_user):
    spec = draft_specification(qa_user)
    criterion = spec.criteria.get(metric_code="endotoxin.eu_per_ml")  # < 0.5 EU/mL
    criterion.combination = "mean"
    lot = lot_under_review(technician).lot
    record_manual_run(technician, lot, "ENDOTOXIN", [("endotoxin", 0.3)])
    metrics = valid_metrics(lot=lot)["endotoxin.eu_per_ml"]
    assert [m.value for m in metrics] == pytest.approx([0.1, 0.3])
    status, note, _, failing = judge_all(criterion, metrics)
    assert (status, failing) == ("pass", [])
    assert note.startswith("mean of 2 results")

    record_manual_run(technician, lot, "ENDOTOXIN", [("endotoxin", 0.6)])
    metrics = valid_metrics(lot=lot)["endotoxin.eu_per_ml"]
    # The mean (0.33) conforms, but one result does not: each must be within the limits.
    status, _, metric, failing = judge_all(criterion, metrics)
    assert status == "fail" and failing == [metric] and metric.value == pytest.approx(0.6)
    evaluate(lot=lot)  # the lot's own specification (v1, every result) fails it as well
    assert _endotoxin(lot).status == "fail"


def test_an_unreviewed_run_blocks_release_until_a_second_person_signs_its_review(
    technician, make_user
):
    tested = lot_under_review(technician, leave_unreviewed=("BCA",))
    lot, run = tested.lot, tested.runs["BCA"]
    blockers = release_blockers(lot)
    assert [b.code for b in blockers] == ["run_unreviewed"]
    assert blockers[0].object == {"type": "run", "id": run.pk, "code": str(run)}

    analyst = make_user("analyst")
    # A technician cannot review (the performing analyst neither: test_segregation_of_duties);
    # nor can a signature of another meaning, or a wrong password.
    with pytest.raises(RoleRefused):
        assay_services.run_review(signer=signer_for(technician, "review"), run=run)
    with pytest.raises(ValidationError, match="meaning review"):
        assay_services.run_review(signer=signer_for(analyst, "approval"), run=run)
    with pytest.raises(SignatureRefused):
        signer_for(analyst, "review", password="not-the-password")
    run.refresh_from_db()
    assert run.status == "recorded"

    review_runs([run], reviewer=analyst)
    run.refresh_from_db()
    assert run.status == "reviewed" and run.reviewed_by == analyst
    signature = Signature.objects.get(record_type="assays.AssayRun", record_id=str(run.pk))
    assert signature.meaning == "review" and signature.signer == analyst
    assert signature.content["results"]  # bound to the results as reviewed
    assert release_blockers(lot) == []


def test_the_run_page_reviews_with_user_id_and_password(technician, make_user, client):
    tested = lot_under_review(technician, leave_unreviewed=("TEM",))
    run = tested.runs["TEM"]
    analyst = make_user("analyst")
    client.force_login(analyst)
    url = reverse("assays:run_review", args=[run.pk])

    wrong = client.post(url, {"reason": "Raw data checked", "username": analyst.username})
    assert wrong.status_code == 200 and "Enter your password to sign." in wrong.content.decode()
    run.refresh_from_db()
    assert run.status == "recorded"

    done = client.post(
        url, {"reason": "Raw data checked", "username": analyst.username, "password": PASSWORD}
    )
    assert done.status_code == 302
    run.refresh_from_db()
    assert run.status == "reviewed"
    assert Signature.objects.filter(signer=analyst, meaning="review").count() == 1


def test_the_run_behind_an_open_oos_is_invalidated_only_by_qa_closing_it_signed(
    technician, analyst, qa_user, client
):
    tested = lot_under_review(technician, failing="endotoxin")
    run = tested.runs["ENDOTOXIN"]
    oos = Deviation.objects.get(lot=tested.lot, kind="oos")

    with pytest.raises(ValidationError, match=f"{oos.code} rests on this run"):
        assay_services.run_invalidate(actor=analyst, run=run, reason="Pipetting error")
    with pytest.raises(ValidationError, match="rests on this run"):
        assay_services.run_invalidate(actor=qa_user, run=run, reason="Unsigned shortcut")
    run.refresh_from_db()
    assert run.status == "reviewed"
    assert _endotoxin(tested.lot).status == "fail"  # the checklist keeps the failing value

    # The close form names exactly the runs the outcome will invalidate, before it is signed.
    _investigated(qa_user, oos)
    client.force_login(qa_user)
    page = client.get(reverse("release:deviation_close", args=[oos.pk])).content.decode()
    assert f"invalidates exactly these runs: {run} (" in page
    with committed():
        deviations.deviation_close(
            signer=signer_for(qa_user, "approval"), deviation=oos, outcome="result_invalidated"
        )
    run.refresh_from_db()
    assert run.status == "invalidated"
    others = [r for code, r in tested.runs.items() if code != "ENDOTOXIN"]
    for other in others:  # nothing else was touched
        other.refresh_from_db()
        assert other.status == "reviewed"
