"""Celery tasks: they take ids, call one service, and are safe to run twice.

Transient database errors (a restarted PostgreSQL, a failover) are retried with exponential
backoff; with acks_late and reject_on_worker_lost a task whose worker dies is redelivered (by
Redis after the visibility timeout, settings.CELERY_BROKER_TRANSPORT_OPTIONS), and the
services' idempotency makes the second run harmless.

Bounded work: every task has the soft and hard time limits of the settings; reading an
instrument file (allotropy, pandas) has tighter ones (FILE_PARSE_SOFT_TIME_LIMIT). A task past
its soft limit gets SoftTimeLimitExceeded and marks what it was doing failed with the reason (a
file `failed`, a recompute job `failed`), so nothing waits `queued` or `running` for ever and
the periodic catch-up does not hand the same file to a worker again and again.
"""

import logging
import time
from datetime import timedelta
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celery.signals import worker_init
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from assays import metrics, services
from assays.events import metrics_changed
from assays.models import AssayRun, InstrumentFile, RecomputeJob
from lims.events import announce
from lims.system import as_system

log = logging.getLogger(__name__)

RETRY: dict[str, Any] = dict(
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    # Below the Redis visibility timeout (checked by the settings): a task waiting for its
    # retry is not delivered a second time meanwhile.
    retry_backoff_max=settings.TASK_RETRY_BACKOFF_MAX_SECONDS,
    max_retries=8,
)


def over_time(limit: float) -> str:
    """The reason a job stopped by its time limit ends failed with."""
    return f"Stopped at the time limit of {limit:.0f} s: too large or too slow to process."


def _fail_file_past_time_limit(task, exc, task_id, args, kwargs, einfo) -> None:
    """The hard limit killed the parse before it could say so (the soft limit's handler did
    not run): the worker's main process marks the file failed."""
    if not (isinstance(exc, TimeLimitExceeded) and args):
        return
    try:
        services.instrument_file_fail(
            file_id=args[0], reason=over_time(settings.FILE_PARSE_TIME_LIMIT)
        )
    except Exception:  # never into the worker's main loop; the file is left for the catch-up
        log.exception("Could not mark instrument file %s failed after its time limit", args[0])


@shared_task(
    **RETRY,
    soft_time_limit=settings.FILE_PARSE_SOFT_TIME_LIMIT,
    time_limit=settings.FILE_PARSE_TIME_LIMIT,
    on_failure=_fail_file_past_time_limit,
)
@as_system
def parse_instrument_file(file_id: str) -> str:
    try:
        return services.instrument_file_parse(file_id).status
    except SoftTimeLimitExceeded:
        log.error("Parsing instrument file %s ran past its time limit", file_id)
        return services.instrument_file_fail(
            file_id=file_id, reason=over_time(settings.FILE_PARSE_SOFT_TIME_LIMIT)
        ).status


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


# True in a Celery worker's processes (worker_init is sent in the main process before the pool
# forks its children, which inherit it): where `follow_up` runs a task at once.
_in_worker = False


@worker_init.connect
def _mark_worker_process(**kwargs: object) -> None:
    global _in_worker  # noqa: PLW0603  (set once per process, read by follow_up)
    _in_worker = True


def follow_up(task, *args) -> bool:
    """A step of the same operation as the task running now (the metrics of the run it has
    just recorded; the evaluation of the lots whose metrics it has just stored): in a worker,
    run here at once, in its own transaction(s), after the previous step's commit, instead of a
    broker round trip and a wait in the queue each (issue 10 item 7). Anywhere else it is sent
    as `enqueue` sends it: a page or an API request never waits for it.

    Run here without retries of its own: if it fails (a database error, the time limit), it is
    sent to the broker instead, where it is retried with backoff like any task. The tasks are
    idempotent, so a step that ran here and is sent again is harmless."""
    if not _in_worker:
        return enqueue(task, *args)
    try:
        # retries=max_retries: a failure is raised here at once (not retried eagerly, without
        # backoff), and handed to the broker below.
        task.apply(args=args, retries=task.max_retries, throw=True)
    except Exception:
        log.warning("%s%r failed here: sent to the broker", task.name, args, exc_info=True)
        return enqueue(task, *args)
    return True


@shared_task(**RETRY)
@as_system
def compute_run_metrics(run_id: int) -> int:
    if settings.QC_FAULT_DELAY_SECONDS:
        time.sleep(settings.QC_FAULT_DELAY_SECONDS)
    added = metrics.compute_run_metrics(run_id)
    lot_ids, batch_ids = services.subjects_of([run_id])
    for lot_id in lot_ids:
        added += metrics.compute_lot_metrics(lot_id)
    announce(metrics_changed, lot_ids=lot_ids, culture_batch_ids=batch_ids)
    return added


@shared_task(**RETRY)
@as_system
def refresh_after_run_change(run_id: int) -> int:
    """A run was reviewed or invalidated: the lot-level metrics resting on it again, then the
    lots and batches it tested are announced as changed."""
    lot_ids, batch_ids = services.subjects_of([run_id])
    added = sum(metrics.compute_lot_metrics(lot_id) for lot_id in lot_ids)
    announce(metrics_changed, lot_ids=lot_ids, culture_batch_ids=batch_ids)
    return added


@shared_task
@as_system
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
@as_system
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
@as_system
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
        lot_ids, batch_ids = services.subjects_of(run_ids)
        for lot_id in lot_ids:
            added += metrics.compute_lot_metrics(lot_id)
    except Exception as exc:
        error = (
            over_time(settings.CELERY_TASK_SOFT_TIME_LIMIT)
            if isinstance(exc, SoftTimeLimitExceeded)
            else str(exc)
        )
        RecomputeJob.objects.filter(pk=job_id).update(
            status=RecomputeJob.Status.FAILED, error=error[:2000], finished_at=timezone.now()
        )
        raise
    RecomputeJob.objects.filter(pk=job_id).update(
        status=RecomputeJob.Status.DONE, metrics_added=added, finished_at=timezone.now()
    )
    announce(metrics_changed, lot_ids=lot_ids, culture_batch_ids=batch_ids)
    return RecomputeJob.Status.DONE
