"""The stability judgement on Celery: when metrics of a lot change (assays.events.metrics_changed),
the pull results of its running studies are judged and each out-of-specification point opens an
OOS investigation (release.stability.stability_evaluate). Safe to run twice: one OOS per
failing metric (release.deviations)."""

from celery import shared_task
from django.dispatch import receiver

from assays.events import metrics_changed
from assays.tasks import RETRY, enqueue
from lims.system import as_system
from release import stability
from release.models import StabilityStudy


@shared_task(**RETRY)
@as_system
def evaluate_stability(lot_id: int) -> int:
    return sum(
        stability.stability_evaluate(study=study)
        for study in StabilityStudy.objects.filter(lot_id=lot_id, status="running")
    )


@receiver(metrics_changed, dispatch_uid="release.stability_evaluate")
def stability_follows_metrics(*, lot_ids: list[int], **kwargs: object) -> None:
    studied = StabilityStudy.objects.filter(lot_id__in=lot_ids).values_list("lot_id", flat=True)
    for lot_id in sorted(set(studied)):
        enqueue(evaluate_stability, lot_id)
