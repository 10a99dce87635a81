"""A lot's status follows its testing by itself: *in testing* once its first release-test result
is recorded, *under review* once every required criterion of its specification has a valid
result and every run that tested it has had its second-person review.

The layers below announce what happened once it is committed (assays.events.run_recorded,
run_status_changed; release.tasks.evaluate_lot after an evaluation); release.receivers hands the
lots concerned to `lot_follow_testing` on Celery. The move goes through the one lot transition
service (batches.services.lot_set_status, so lims.transitions checks it against the lot's table
and the audit trail records it) as the system account, with a reason that says why.

Only these two moves forward are made, and only from the status they start from: a lot is
never moved backwards, nor out of quarantine (QA's signed decision), nor once released or
rejected (final). Everything else stays a person's decision (21 CFR 211.22: the quality unit
decides; the system only records that testing started and that it is complete).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from assays.lot_samples import of_lot
from assays.models import AssayRun, Result
from batches import services as batch_services
from batches.models import ExosomeLot
from lims.models import system_user
from release.models import Criterion, CriterionEvaluation
from release.specifications import judging_specification

# Evaluations that rest on a valid result: a fail is a result in (QA judges it under review);
# pending has none, invalid has none that counts (a retest is owed).
RESULT_IN = (
    CriterionEvaluation.Status.PASS,
    CriterionEvaluation.Status.ALERT,
    CriterionEvaluation.Status.FAIL,
)


def _of_lot(lot_id: int) -> Q:
    """Samples of the lot itself or of one of its vials."""
    return of_lot(lot_id, "sample__")


def first_result(lot_id: int) -> Result | None:
    """The lot's first release-test result that stands: neither it nor its run voided."""
    return (
        Result.objects.filter(_of_lot(lot_id), voided_at__isnull=True, run__voided_at__isnull=True)
        .select_related("run__assay")
        .order_by("created_at", "pk")
        .first()
    )


def unreviewed_runs(lot_id: int):
    """Runs that tested the lot (or a vial of it), count (not invalidated, not voided) and wait
    for their second-person review."""
    return AssayRun.objects.filter(
        of_lot(lot_id, "samples__"),
        status=AssayRun.Status.RECORDED,
        voided_at__isnull=True,
    )


def results_owed(lot: ExosomeLot) -> list[Criterion] | None:
    """The required criteria of the lot's specification without a valid result yet (None: no
    specification judges the lot, so there is nothing to complete)."""
    spec = judging_specification(lot=lot)
    if spec is None:
        return None
    evaluated = CriterionEvaluation.objects.filter(
        lot=lot, criterion=OuterRef("pk"), status__in=RESULT_IN
    )
    return list(
        spec.criteria.filter(required=True, voided_at__isnull=True)
        .exclude(Exists(evaluated))
        .order_by("position", "pk")
    )


def testing_complete(lot: ExosomeLot) -> bool:
    """Every required result of its specification is in and its runs are reviewed."""
    spec = judging_specification(lot=lot)
    if spec is None or not spec.criteria.filter(required=True, voided_at__isnull=True).exists():
        return False
    return results_owed(lot) == [] and not unreviewed_runs(lot.pk).exists()


@transaction.atomic
def lot_follow_testing(lot_id: int) -> ExosomeLot:
    """Move the lot forward if its testing says so; otherwise leave it as it is.

    The lot row is locked before its status is read, so a person moving it at the same moment
    (a quarantine, a disposition) is serialised with this and its move is the one seen here.
    """
    lot = ExosomeLot.objects.select_for_update().get(pk=lot_id)
    if lot.is_voided:  # entered in error: it is not tested, whatever was recorded against it
        return lot
    if lot.status == ExosomeLot.Status.IN_PROCESS:
        first = first_result(lot.pk)
        if first is None:
            return lot
        lot = batch_services.lot_set_status(
            actor=system_user(),
            lot=lot,
            to=ExosomeLot.Status.IN_TESTING,
            reason=(
                f"Moved by the system: its first release-test result was recorded "
                f"({first.run.assay.code} run {first.run_id})."
            ),
        )
    if lot.status == ExosomeLot.Status.IN_TESTING and testing_complete(lot):
        spec = judging_specification(lot=lot)
        lot = batch_services.lot_set_status(
            actor=system_user(),
            lot=lot,
            to=ExosomeLot.Status.UNDER_REVIEW,
            reason=(
                f"Moved by the system: every required result of {spec} is in and every run "
                "that tested the lot is reviewed."
            ),
        )
    return lot


def lots_tested_by(run_id: int) -> list[int]:
    """The lots a run tested (directly or through a vial)."""
    rows = AssayRun.objects.filter(pk=run_id).values_list("samples__lot_id", flat=True)
    return sorted({pk for pk in rows if pk is not None})
