"""Celery tasks: they take ids, call one service, and are safe to run twice.

Transient database errors (a restarted PostgreSQL, a failover) are retried with exponential
backoff; with acks_late and reject_on_worker_lost a task whose worker dies is redelivered, and
the services' idempotency makes the second run harmless.
"""

import logging
import time
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from assays import metrics, services
from assays.models import AssayRun, InstrumentFile, RecomputeJob

log = logging.getLogger(__name__)

RETRY = dict(
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=8,
)


@shared_task(**RETRY)
def parse_instrument_file(file_id: str) -> str:
    return services.instrument_file_parse(file_id).status


def enqueue(task, *args) -> bool:
    """Send a task; a broker outage must not fail the write that asked for it.

    What could not be sent is found later by the periodic catch-up (compute_missing_metrics,
    parse_queued_files), so nothing is lost.
    """
    try:
        task.delay(*args)
    except Exception:  # kombu raises several types when the broker is unreachable
        log.warning(
            "Broker unreachable: %s%r left for the periodic catch-up",
            task.name,
            args,
            exc_info=True,
        )
        return False
    return True


def enqueue_run_metrics(run_id: int) -> None:
    """Called on commit of a new run (settings.LIMS_AFTER_RUN_RECORDED)."""
    enqueue(compute_run_metrics, run_id)


@shared_task(**RETRY)
def compute_run_metrics(run_id: int) -> int:
    if settings.QC_FAULT_DELAY_SECONDS:
        time.sleep(settings.QC_FAULT_DELAY_SECONDS)
    added = metrics.compute_run_metrics(run_id)
    _enqueue_evaluations(AssayRun.objects.filter(pk=run_id))
    return added


def _enqueue_evaluations(runs) -> None:
    lots = set(runs.filter(samples__lot__isnull=False).values_list("samples__lot", flat=True))
    batches = set(
        runs.filter(samples__culture_batch__isnull=False).values_list(
            "samples__culture_batch", flat=True
        )
    )
    for lot_id in lots:
        transaction.on_commit(lambda i=lot_id: enqueue(evaluate_lot, i))
    for batch_id in batches:
        transaction.on_commit(lambda i=batch_id: enqueue(evaluate_culture_batch, i))


@shared_task(**RETRY)
def evaluate_lot(lot_id: int) -> int:
    return metrics.evaluate_lot(lot_id)


@shared_task(**RETRY)
def evaluate_culture_batch(batch_id: int) -> int:
    return metrics.evaluate_culture_batch(batch_id)


@shared_task
def compute_missing_metrics() -> int:
    """Periodic: runs recorded while the broker was down still get their metrics."""
    owed = list(
        AssayRun.objects.filter(metrics_computed_at__isnull=True)
        .exclude(status=AssayRun.Status.INVALIDATED)
        .values_list("pk", flat=True)[:500]
    )
    for run_id in owed:
        compute_run_metrics.delay(run_id)
    parse_queued_files.delay()
    return len(owed)


@shared_task
def parse_queued_files() -> int:
    """Periodic: files received while the broker was down are parsed all the same."""
    stale = timezone.now() - timedelta(minutes=2)
    queued = list(
        InstrumentFile.objects.filter(
            status=InstrumentFile.Status.QUEUED, created_at__lt=stale
        ).values_list("pk", flat=True)[:200]
    )
    for file_id in queued:
        parse_instrument_file.delay(str(file_id))
    return len(queued)


@shared_task(**RETRY)
def run_recompute_job(job_id: int) -> str:
    """Recompute the metrics of every run of an assay (or all), reporting progress."""
    claimed = RecomputeJob.objects.filter(pk=job_id, status=RecomputeJob.Status.QUEUED).update(
        status=RecomputeJob.Status.RUNNING
    )
    if not claimed:  # already running or finished elsewhere (a redelivered task)
        return RecomputeJob.objects.get(pk=job_id).status
    job = RecomputeJob.objects.get(pk=job_id)
    runs = AssayRun.objects.exclude(status=AssayRun.Status.INVALIDATED)
    if job.assay_code:
        runs = runs.filter(assay__code=job.assay_code)
    run_ids = list(runs.order_by("pk").values_list("pk", flat=True))
    RecomputeJob.objects.filter(pk=job_id).update(total=len(run_ids))
    added = 0
    try:
        for i, run_id in enumerate(run_ids, start=1):
            added += metrics.compute_run_metrics(run_id)
            if i % 10 == 0 or i == len(run_ids):
                RecomputeJob.objects.filter(pk=job_id).update(done=i, metrics_added=added)
        for lot_id in set(
            runs.filter(samples__lot__isnull=False).values_list("samples__lot", flat=True)
        ):
            added += metrics.evaluate_lot(lot_id)
    except Exception as exc:
        RecomputeJob.objects.filter(pk=job_id).update(
            status=RecomputeJob.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    RecomputeJob.objects.filter(pk=job_id).update(
        status=RecomputeJob.Status.DONE, metrics_added=added, finished_at=timezone.now()
    )
    return RecomputeJob.Status.DONE
