"""A lot's status follows its testing by itself (release.lot_progress): in testing at its first
release-test result, under review once every required result of its specification is in and
every run that tested it is reviewed. Always through the lot transition service, as the system
account with a reason; never backwards, never out of quarantine or a final status."""

import pytest

from assays import services as assay_services
from assays.models import AssayRun
from batches import services as batch_services
from batches.models import ExosomeLot
from lims.models import AuditEvent
from release import lot_progress, tasks
from tests import factories
from tests.release.helpers import (
    PASSING,
    dispose,
    lot_under_review,
    record_manual_run,
    record_passing_results,
    record_passing_source_cells,
    results_for,
    review_runs,
)

pytestmark = pytest.mark.django_db


def _status_moves(lot) -> list[tuple[str, str | None, str | None]]:
    """(new status, who, why) of every status change of the lot in its audit trail."""
    events = AuditEvent.objects.filter(
        pgh_obj_model="batches.ExosomeLot", pgh_obj_id=str(lot.pk), pgh_label="update"
    ).order_by("pgh_created_at", "pgh_id")
    return [
        (e.pgh_diff["status"][1], e.actor, e.reason)
        for e in events
        if "status" in (e.pgh_diff or {})
    ]


def test_the_first_result_puts_the_lot_in_testing_as_the_system_with_a_reason(technician):
    lot = factories.lot(technician)
    assert lot.status == ExosomeLot.Status.IN_PROCESS

    run = record_manual_run(technician, lot, "NTA", PASSING["NTA"])

    lot.refresh_from_db()
    assert lot.status == ExosomeLot.Status.IN_TESTING
    ((status, who, why),) = _status_moves(lot)
    assert (status, who) == ("in_testing", "system (release.tasks.lots_follow_run)")
    assert why == (
        f"Moved by the system: its first release-test result was recorded (NTA run {run.pk})."
    )
    # Entering testing fixes the specification version, as for a move made by a person.
    assert lot.judged_by.specification.version == 1


def test_a_result_for_another_lot_moves_only_that_lot(technician):
    waiting, tested = factories.lot(technician), factories.lot(technician)

    record_manual_run(technician, tested, "NTA", PASSING["NTA"])

    waiting.refresh_from_db()
    tested.refresh_from_db()
    assert waiting.status == ExosomeLot.Status.IN_PROCESS
    assert _status_moves(waiting) == []
    assert tested.status == ExosomeLot.Status.IN_TESTING


def test_a_culture_batch_result_does_not_move_the_lots_made_from_it(technician):
    lot = factories.lot(technician)
    record_passing_source_cells(technician, lot)
    lot.refresh_from_db()
    assert lot.status == ExosomeLot.Status.IN_PROCESS


@pytest.mark.parametrize("voided", ["results", "run"])
def test_a_voided_result_does_not_start_testing(
    technician, voided, django_capture_on_commit_callbacks
):
    lot = factories.lot(technician)
    with django_capture_on_commit_callbacks() as announced:  # not yet committed
        run = assay_services.run_record(
            assay_code="TEM",
            results=results_for(lot, PASSING["TEM"]),
            source=AssayRun.Source.MANUAL,
            actor=technician,
            reagent_lots=factories.reagents_for("TEM"),
            started_at=factories.run_times("TEM", hours_ago=0)[0],
        )
    # Voided (entered against the wrong lot) before the announcement reaches release.
    records = list(run.results.all()) if voided == "results" else [run]
    for record in records:
        batch_services.record_void(record, actor=technician, reason="Entered for the wrong lot")
    for send in announced:
        send()

    lot.refresh_from_db()
    assert lot.status == ExosomeLot.Status.IN_PROCESS
    assert lot_progress.first_result(lot.pk) is None
    assert tasks.lots_follow_run(run.pk) == ["in_process"]


def test_under_review_once_every_required_result_is_in_and_every_run_reviewed(technician):
    tested = lot_under_review(technician, status="in_testing", leave_unreviewed=("TEM",))
    lot = tested.refresh()
    # Every result is in, but one run awaits its second-person review.
    assert lot.status == ExosomeLot.Status.IN_TESTING
    assert lot_progress.results_owed(lot) == []

    review_runs([tested.runs["TEM"]])

    lot = tested.refresh()
    assert lot.status == ExosomeLot.Status.UNDER_REVIEW
    moves = _status_moves(lot)
    assert [m[0] for m in moves] == ["in_testing", "under_review"]
    status, who, why = moves[-1]
    assert who == "system (release.tasks.lots_follow_run)"  # after the review of TEM
    assert why == (
        "Moved by the system: every required result of MSC-sEV drug substance v1 is in and "
        "every run that tested the lot is reviewed."
    )


def test_a_missing_required_result_keeps_the_lot_in_testing(technician):
    lot = factories.lot(technician)
    runs = [
        record_manual_run(technician, lot, code, pairs)
        for code, pairs in PASSING.items()
        if code != "STERILITY"
    ]
    review_runs(runs)

    lot.refresh_from_db()
    assert lot.status == ExosomeLot.Status.IN_TESTING
    assert [c.test for c in lot_progress.results_owed(lot)] == ["Sterility"]
    # The periodic catch-up asks again, and changes nothing.
    tasks.catch_up()
    lot.refresh_from_db()
    assert lot.status == ExosomeLot.Status.IN_TESTING


def test_an_invalid_run_is_no_result_in(technician):
    """A run that failed its system suitability gives no valid result: a retest is owed."""
    lot = factories.lot(technician)
    runs = [
        record_manual_run(technician, lot, code, pairs)
        for code, pairs in PASSING.items()
        if code != "ENDOTOXIN"
    ]
    # Without the positive product control's recovery in range (USP <85>): invalid.
    invalid = record_manual_run(
        technician, lot, "ENDOTOXIN", [("endotoxin", 0.1), ("spike_recovery", 20.0)]
    )
    assert invalid.status == AssayRun.Status.INVALIDATED
    review_runs(runs)

    lot.refresh_from_db()
    assert lot.status == ExosomeLot.Status.IN_TESTING
    assert [c.test for c in lot_progress.results_owed(lot)] == ["Endotoxin"]


def test_a_failing_result_is_a_result_in_and_qa_judges_it_under_review(technician):
    lot = lot_under_review(technician, failing="endotoxin", status="in_testing").refresh()
    assert lot.status == ExosomeLot.Status.UNDER_REVIEW
    assert lot.deviations.filter(kind="oos").exists()


def test_a_lot_under_review_is_never_moved_back_by_a_new_result(technician):
    lot = lot_under_review(technician, status="in_testing").refresh()
    assert lot.status == ExosomeLot.Status.UNDER_REVIEW
    before = _status_moves(lot)

    record_manual_run(technician, lot, "TEM", PASSING["TEM"])  # a further run, unreviewed

    lot.refresh_from_db()
    assert lot.status == ExosomeLot.Status.UNDER_REVIEW
    assert _status_moves(lot) == before


def test_a_quarantined_lot_stays_in_quarantine(technician):
    lot = factories.lot(technician)
    batch_services.lot_set_status(
        actor=technician, lot=lot, to="quarantined", reason="Freezer excursion"
    )
    runs = record_passing_results(technician, lot)
    review_runs(runs.values())

    lot.refresh_from_db()
    assert lot.status == ExosomeLot.Status.QUARANTINED
    assert lot_progress.lot_follow_testing(lot.pk).status == ExosomeLot.Status.QUARANTINED
    assert [m[0] for m in _status_moves(lot)] == ["quarantined"]


def test_a_released_lot_is_never_moved(technician, qa_approver):
    tested = lot_under_review(technician)
    dispose(qa_approver, tested.lot, "released")
    lot = tested.refresh()
    assert lot.status == ExosomeLot.Status.RELEASED
    before = _status_moves(lot)

    assert tasks.lots_follow_run(tested.runs["NTA"].pk) == ["released"]
    assert tasks.lot_follow_testing(lot.pk) == "released"
    tasks.catch_up()

    lot.refresh_from_db()
    assert lot.status == ExosomeLot.Status.RELEASED
    assert _status_moves(lot) == before


def test_a_rejected_lot_is_never_moved(technician, qa_approver):
    tested = lot_under_review(technician, failing="sterility")
    dispose(qa_approver, tested.lot, "rejected", reason="Sterility failed")
    lot = tested.refresh()
    assert lot.status == ExosomeLot.Status.REJECTED

    assert tasks.lot_follow_testing(lot.pk) == "rejected"
    assert tasks.evaluate_lot(lot.pk) == 0


def test_the_catch_up_moves_a_lot_whose_announcement_was_lost(
    technician, django_capture_on_commit_callbacks
):
    lot = factories.lot(technician)
    with django_capture_on_commit_callbacks():  # the announcements are never sent
        assay_services.run_record(
            assay_code="TEM",
            results=results_for(lot, PASSING["TEM"]),
            source=AssayRun.Source.MANUAL,
            actor=technician,
            reagent_lots=factories.reagents_for("TEM"),
            started_at=factories.run_times("TEM", hours_ago=0)[0],
        )
    lot.refresh_from_db()
    assert lot.status == ExosomeLot.Status.IN_PROCESS

    assert tasks.catch_up()["lot_statuses"] == 1

    lot.refresh_from_db()
    assert lot.status == ExosomeLot.Status.IN_TESTING


def test_a_voided_lot_is_never_moved(technician, django_capture_on_commit_callbacks):
    lot = factories.lot(technician)
    with django_capture_on_commit_callbacks() as announced:
        run = assay_services.run_record(
            assay_code="TEM",
            results=results_for(lot, PASSING["TEM"]),
            source=AssayRun.Source.MANUAL,
            actor=technician,
            reagent_lots=factories.reagents_for("TEM"),
            started_at=factories.run_times("TEM", hours_ago=0)[0],
        )
    batch_services.record_void(lot, actor=technician, reason="Registered twice")
    for send in announced:
        send()

    lot.refresh_from_db()
    assert lot.status == ExosomeLot.Status.IN_PROCESS
    assert tasks.lots_follow_run(run.pk) == ["in_process"]
