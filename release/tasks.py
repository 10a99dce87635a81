"""Celery tasks of release: they take ids, call one service, and are safe to run twice.

Evaluation runs here, never in a page: when the metrics of a lot or batch change
(assays.events.metrics_changed), when a lot enters testing (batches.events.lot_status_changed:
its specification version is fixed), and in the periodic catch-up for whatever an unreachable
broker or a failed receiver left undone.

Bounded work: every task has the time limits of the settings (CELERY_TASK_SOFT_TIME_LIMIT,
CELERY_TASK_TIME_LIMIT); rendering a certificate (WeasyPrint) has tighter ones. A task past
its soft limit logs why and fails; what it left undone is found by the next catch-up.
"""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db.models import Exists, F, Max, OuterRef, Q, Subquery

from assays.models import AssayRun, QCMetric, Result
from assays.tasks import RETRY, enqueue
from batches.models import LOCKED_STATUSES, CultureBatch, ExosomeLot
from lims.system import as_system
from release import lot_progress, specifications
from release.certificate import issue_certificate
from release.models import CertificateOfAnalysis, CriterionEvaluation, Disposition, LotSpecification

# How many lots or batches one catch-up run takes on (the rest wait for the next run).
CATCH_UP_BATCH = 200
CERTIFICATE_SOFT_TIME_LIMIT = min(120, settings.CELERY_TASK_SOFT_TIME_LIMIT)
CERTIFICATE_TIME_LIMIT = min(150, settings.CELERY_TASK_TIME_LIMIT)

log = logging.getLogger(__name__)


@shared_task(**RETRY)
@as_system
def evaluate_lot(lot_id: int) -> int:
    lot = ExosomeLot.objects.get(pk=lot_id)
    if lot.is_locked:
        # What the disposition signed: re-evaluating would rewrite it and void the signature.
        return 0
    try:
        evaluated = len(specifications.evaluate(lot=lot))
    except SoftTimeLimitExceeded:
        _over_time("Lot", lot_id)
        raise
    # The evaluation may be what completes its testing (the last result judged).
    lot_progress.lot_follow_testing(lot_id)
    return evaluated


@shared_task(**RETRY)
@as_system
def evaluate_culture_batch(batch_id: int) -> int:
    try:
        return len(specifications.evaluate(culture_batch=CultureBatch.objects.get(pk=batch_id)))
    except SoftTimeLimitExceeded:
        _over_time("Culture batch", batch_id)
        raise


@shared_task(**RETRY)
@as_system
def assign_lot_specification(lot_id: int) -> str | None:
    """A lot entering testing is judged by the version effective now (fixed once)."""
    spec = specifications.specification_assign(lot=ExosomeLot.objects.get(pk=lot_id))
    return str(spec) if spec else None


@shared_task(**RETRY)
@as_system
def lots_follow_run(run_id: int) -> list[str]:
    """A run was recorded, reviewed or invalidated: the lots it tested move forward if their
    testing says so (release.lot_progress). Returns their statuses."""
    lot_ids = lot_progress.lots_tested_by(run_id)
    return [lot_progress.lot_follow_testing(pk).status for pk in lot_ids]


@shared_task(**RETRY)
@as_system
def lot_follow_testing(lot_id: int) -> str:
    return lot_progress.lot_follow_testing(lot_id).status


@shared_task(
    **RETRY, soft_time_limit=CERTIFICATE_SOFT_TIME_LIMIT, time_limit=CERTIFICATE_TIME_LIMIT
)
@as_system
def issue_lot_certificate(disposition_id: int) -> str:
    try:
        return issue_certificate(Disposition.objects.get(pk=disposition_id)).sha256
    except SoftTimeLimitExceeded:
        log.error(
            "The certificate of disposition %s was not issued: rendering ran past its time "
            "limit of %s s (the catch-up tries again)",
            disposition_id,
            CERTIFICATE_SOFT_TIME_LIMIT,
        )
        raise


def _over_time(what: str, pk: int) -> None:
    log.error("%s %s was not evaluated: the evaluation ran past its time limit", what, pk)


def stale_evaluations(model, field: str):
    """Lots or batches with metrics whose evaluation is missing or older than the newest one."""

    def newest(qs, column):
        rows = qs.filter(**{field: OuterRef("pk")}).order_by().values(field)
        return Subquery(rows.annotate(at=Max(column)).values("at")[:1])

    return model.objects.annotate(
        metric_at=newest(QCMetric.objects, "computed_at"),
        evaluated_at=newest(CriterionEvaluation.objects, "evaluated_at"),
    ).filter(
        Q(metric_at__isnull=False)
        & (Q(evaluated_at__isnull=True) | Q(metric_at__gt=F("evaluated_at")))
    )


@shared_task
@as_system
def catch_up() -> dict[str, int]:
    """Periodic: what the announcements could not get done."""
    testing = ExosomeLot.objects.filter(status=ExosomeLot.Status.IN_TESTING).exclude(
        Exists(LotSpecification.objects.filter(lot=OuterRef("pk")))
    )
    assigned = [enqueue(assign_lot_specification, pk) for pk in _ids(testing)]
    lots = stale_evaluations(ExosomeLot, "lot").exclude(status__in=LOCKED_STATUSES)
    evaluated_lots = [enqueue(evaluate_lot, pk) for pk in _ids(lots)]
    batches = stale_evaluations(CultureBatch, "culture_batch")
    evaluated_batches = [enqueue(evaluate_culture_batch, pk) for pk in _ids(batches)]
    missing = Disposition.objects.filter(decision=Disposition.Decision.RELEASED).exclude(
        Exists(CertificateOfAnalysis.objects.filter(lot=OuterRef("lot")))
    )
    issued = [enqueue(issue_lot_certificate, pk) for pk in _ids(missing)]
    followed = [enqueue(lot_follow_testing, pk) for pk in _ids(_testing_may_have_moved())]
    return {
        "specifications": len(assigned),
        "lots": len(evaluated_lots),
        "culture_batches": len(evaluated_batches),
        "certificates": len(issued),
        "lot_statuses": len(followed),
    }


def _testing_may_have_moved():
    """Lots whose testing may call for a move that an announcement did not bring about: in
    process with a standing result, or in testing, evaluated, with no run awaiting review
    (release.lot_progress decides)."""
    standing = Result.objects.filter(
        sample__lot=OuterRef("pk"), voided_at__isnull=True, run__voided_at__isnull=True
    )
    unreviewed = AssayRun.objects.filter(
        samples__lot=OuterRef("pk"), status=AssayRun.Status.RECORDED, voided_at__isnull=True
    )
    evaluated = CriterionEvaluation.objects.filter(lot=OuterRef("pk"))
    return ExosomeLot.objects.alias(
        has_result=Exists(standing), evaluated=Exists(evaluated), unreviewed=Exists(unreviewed)
    ).filter(
        Q(status=ExosomeLot.Status.IN_PROCESS, has_result=True)
        | Q(status=ExosomeLot.Status.IN_TESTING, evaluated=True, unreviewed=False)
    )


def _ids(qs) -> list[int]:
    return list(qs.order_by("pk").values_list("pk", flat=True)[:CATCH_UP_BATCH])
