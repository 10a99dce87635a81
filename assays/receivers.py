"""The assay layer's own follow-ups of its announcements: metrics and parsing run on Celery."""

from django.dispatch import receiver

from assays import tasks
from assays.events import instrument_file_received, run_recorded, run_status_changed


@receiver(run_recorded, dispatch_uid="assays.compute_run_metrics")
def compute_metrics_of_new_run(*, run_id: int, **kwargs: object) -> None:
    # Recorded by a worker (a file parsed): its metrics in the same task (tasks.follow_up).
    tasks.follow_up(tasks.compute_run_metrics, run_id)


@receiver(instrument_file_received, dispatch_uid="assays.parse_instrument_file")
def parse_received_file(*, file_id: str, **kwargs: object) -> None:
    tasks.enqueue(tasks.parse_instrument_file, file_id)


@receiver(run_status_changed, dispatch_uid="assays.refresh_after_run_change")
def refresh_after_run_change(*, run_id: int, **kwargs: object) -> None:
    tasks.enqueue(tasks.refresh_after_run_change, run_id)
