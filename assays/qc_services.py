"""Writes of the QC pages: starting a bulk recompute of metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from assays.metrics import RULES
from assays.models import RecomputeJob
from assays.tasks import run_recompute_job
from lims.roles import can_review_runs

if TYPE_CHECKING:
    from lims.models import User


@transaction.atomic
def recompute_job_start(*, actor: User, assay_code: str = "") -> RecomputeJob:
    """Create a recompute job for one assay (or all, ``""``) and queue it once committed.

    The job is queued on commit so the worker never looks for a row it cannot see yet; the task
    claims the job with a conditional UPDATE, so a redelivered message does not run it twice.
    """
    if not can_review_runs(actor):
        raise PermissionDenied("Only analysts start a recompute of QC metrics.")
    if assay_code and assay_code not in RULES:
        raise ValidationError(
            {"assay_code": f"No QC metrics are computed for assay '{assay_code}'."}
        )
    job = RecomputeJob(requested_by=actor, assay_code=assay_code)
    job.full_clean()
    job.save()

    transaction.on_commit(lambda: run_recompute_job.delay(job.pk))
    return job
