"""What the history of a lot or a culture batch gathers from the assays: the runs that tested
it (a vial of a lot counts as the lot) and their results (lims.audit_trail.register_parts)."""

from django.db.models import CharField, F, Q, Value
from django.db.models.functions import Concat

from assays.lot_samples import of_lot
from assays.models import AssayRun, Result, RunSample
from batches.models import CultureBatch, ExosomeLot
from lims.audit_trail import register_label, register_parts


def _runs_and_results(samples: Q):
    rows = list(RunSample.objects.filter(samples).values_list("pk", "run_id"))
    yield RunSample, [pk for pk, _ in rows]
    yield AssayRun, {run_id for _, run_id in rows}
    results = Result.objects.filter(sample_id__in=[pk for pk, _ in rows])
    yield Result, results.values_list("pk", flat=True) if rows else []


def lot_runs(lot: ExosomeLot):
    return _runs_and_results(of_lot(lot))


def batch_runs(batch: CultureBatch):
    return _runs_and_results(Q(culture_batch=batch))


def register() -> None:
    register_label(
        AssayRun, lambda: Concat("assay__code", Value(" run "), "pk", output_field=CharField())
    )
    register_label(RunSample, lambda: F("label"))
    register_label(
        Result,
        lambda: Concat("analyte__code", Value(" of "), "sample__label", output_field=CharField()),
    )
    register_parts(ExosomeLot, lot_runs, "assay runs, results")
    register_parts(CultureBatch, batch_runs, "assay runs, results")
