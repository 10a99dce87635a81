"""What release does when the layers below announce something (lims.events): it re-evaluates,
on Celery, the lots and batches whose metrics changed, and fixes the specification version of a
lot entering testing."""

from django.dispatch import receiver

from assays.events import metrics_changed
from assays.tasks import enqueue
from batches.events import lot_status_changed
from batches.models import ExosomeLot
from release import tasks


@receiver(metrics_changed, dispatch_uid="release.evaluate")
def evaluate_changed(*, lot_ids: list[int], culture_batch_ids: list[int], **kwargs: object) -> None:
    for lot_id in lot_ids:
        enqueue(tasks.evaluate_lot, lot_id)
    for batch_id in culture_batch_ids:
        enqueue(tasks.evaluate_culture_batch, batch_id)


@receiver(lot_status_changed, dispatch_uid="release.assign_specification")
def fix_specification(*, lot_id: int, status: str, **kwargs: object) -> None:
    if status == ExosomeLot.Status.IN_TESTING:
        enqueue(tasks.assign_lot_specification, lot_id)
