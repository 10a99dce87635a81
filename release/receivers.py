"""What release does when the layers below announce something (lims.events): it re-evaluates,
on Celery, the lots and batches whose metrics changed, and fixes the specification version of a
lot entering testing."""

from django.dispatch import receiver

from assays.events import (
    metrics_changed,
    run_invalidation_requested,
    run_recorded,
    run_status_changed,
)
from assays.tasks import enqueue, follow_up
from batches.events import lot_status_changed
from batches.models import ExosomeLot
from release import tasks
from release.deviations import open_oos_resting_on


@receiver(metrics_changed, dispatch_uid="release.evaluate")
def evaluate_changed(*, lot_ids: list[int], culture_batch_ids: list[int], **kwargs: object) -> None:
    # Metrics are stored by a worker's task: the evaluation follows in that task (follow_up).
    for lot_id in lot_ids:
        follow_up(tasks.evaluate_lot, lot_id)
    for batch_id in culture_batch_ids:
        follow_up(tasks.evaluate_culture_batch, batch_id)


@receiver(lot_status_changed, dispatch_uid="release.assign_specification")
def fix_specification(*, lot_id: int, status: str, **kwargs: object) -> None:
    if status == ExosomeLot.Status.IN_TESTING:
        enqueue(tasks.assign_lot_specification, lot_id)


@receiver(run_invalidation_requested, dispatch_uid="release.oos_rests_on_run")
def refuse_invalidating_an_oos_run(*, run, investigation=None, **kwargs: object) -> str | None:
    """A run that an open OOS investigation rests on is invalidated only by QA closing that
    investigation, signed, with the outcome "result invalidated" (FDA OOS guidance, 2006)."""
    pending = [
        d for d in open_oos_resting_on(run) if investigation is None or d.pk != investigation.pk
    ]
    if pending:
        codes = ", ".join(d.code for d in pending)
        return (
            f"The OOS investigation {codes} rests on this run: only QA invalidates it, by "
            "closing the investigation with the outcome 'result invalidated' and a signature."
        )
    return None


@receiver(run_recorded, dispatch_uid="release.lots_follow_recorded_run")
@receiver(run_status_changed, dispatch_uid="release.lots_follow_reviewed_run")
def lots_follow_run(*, run_id: int, **kwargs: object) -> None:
    """A result arrived, or a run was reviewed: the lots it tested may move forward
    (release.lot_progress; the evaluation that follows may move them too)."""
    enqueue(tasks.lots_follow_run, run_id)
