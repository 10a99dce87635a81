"""QC metrics through a real Celery worker and Redis broker, including the fault cases
(DOMAIN.md §4; issue: worker killed mid-task, broker down)."""

import signal
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from assays import services
from assays.models import AssayRun, QCMetric
from tests import factories
from tests.celery_worker.conftest import wait_for

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

BCA_EXPECTED = {"bca.protein"}


def _record_bca_run(actor, lot, values=(110.0, 130.0)):
    """A manual BCA run of a lot: its metric is the mean protein concentration."""
    return services.run_record(
        assay_code="BCA",
        reagent_lots=factories.reagents_for("BCA"),
        results=factories.with_run_controls(
            "BCA",
            [
                services.ResultInput(
                    sample=lot.code, analyte="protein", value=v, unit="ug/mL", replicate=str(i)
                )
                for i, v in enumerate(values, start=1)
            ],
        ),
        source=AssayRun.Source.MANUAL,
        started_at=timezone.now() - timedelta(minutes=30),
        actor=actor,
    )


def _metrics(run):
    return list(QCMetric.objects.filter(run=run).values_list("code", "value"))


def test_posting_a_run_produces_its_metrics_on_the_worker(
    technician, shared_broker, celery_app_on, start_worker
):
    """On the machine's Redis, as production runs it."""
    worker = start_worker(broker=shared_broker)
    celery_app_on(shared_broker, worker.queue)
    lot = factories.lot(technician)

    run = _record_bca_run(technician, lot)

    metrics = wait_for(lambda: _metrics(run), what="metrics from the worker")
    assert metrics == [("bca.protein", 120.0)]
    run.refresh_from_db()
    assert run.metrics_computed_at is not None
    assert "compute_run_metrics" in worker.output()


def test_a_run_produces_its_metrics_on_a_private_broker_too(
    technician, broker, celery_app_on, start_worker
):
    """The same path on a private redis-server, so laptops without TEST_REDIS_URL run it."""
    worker = start_worker()
    celery_app_on(broker, worker.queue)
    lot = factories.lot(technician)

    run = _record_bca_run(technician, lot, values=(90.0, 110.0))

    assert wait_for(lambda: _metrics(run), what="metrics") == [("bca.protein", 100.0)]


def test_worker_killed_mid_task_loses_nothing_and_duplicates_nothing(
    technician, broker, celery_app_on, start_worker
):
    # The metrics task waits 4 s before working, so the child can be killed while it holds it.
    worker = start_worker(QC_FAULT_DELAY_SECONDS=4)
    celery_app_on(broker, worker.queue)
    lot = factories.lot(technician)

    run = _record_bca_run(technician, lot)
    wait_for(
        lambda: "compute_run_metrics" in worker.output() and "received" in worker.output(),
        what="the task to reach the worker",
    )
    time.sleep(1.0)
    children = worker.children()
    assert children, "the prefork pool has a child process"
    for child in children:
        child.send_signal(signal.SIGKILL)

    # acks_late + reject_on_worker_lost: the message goes back to the queue and a new child
    # runs it again; the unique metric key makes the second attempt the only writer.
    wait_for(lambda: _metrics(run), timeout=90, what="metrics after the redelivery")
    time.sleep(2.0)
    assert _metrics(run) == [("bca.protein", 120.0)]
    assert QCMetric.objects.filter(run=run).count() == 1
    assert "WorkerLostError" in worker.output() or "lost" in worker.output().lower()


def test_broker_down_recording_still_succeeds_and_catch_up_computes_later(
    technician, broker, celery_app_on, start_worker, caplog
):
    lot = factories.lot(technician)
    broker.stop()
    app = celery_app_on(broker, "lims-test-down")
    # Publishing gives up after a bounded number of quick retries (not kombu's default of
    # retrying a connection for seconds each time): that, not a stopwatch, keeps recording quick.
    policy = app.conf.task_publish_retry_policy
    assert policy["max_retries"] <= 2 and policy["interval_max"] <= 0.5
    assert app.conf.broker_connection_timeout <= 2

    with caplog.at_level("WARNING", logger="assays.tasks"):
        run = _record_bca_run(technician, lot)

    assert AssayRun.objects.filter(pk=run.pk).exists()
    # The task was given up at once and left for the periodic catch-up.
    assert any(
        r.name == "assays.tasks"
        and "Broker unreachable" in r.getMessage()
        and "compute_run_metrics" in r.getMessage()
        for r in caplog.records
    ), [r.getMessage() for r in caplog.records]
    assert _metrics(run) == []

    broker.start()
    # The periodic task (Celery beat inside the worker, every 2 s here) finds the owed run.
    worker = start_worker(beat=True, MISSING_METRICS_EVERY_SECONDS=2)
    wait_for(lambda: _metrics(run), timeout=90, what="metrics from the periodic catch-up")
    assert _metrics(run) == [("bca.protein", 120.0)]
    assert "compute_missing_metrics" in worker.output()
    connection.close()
