"""Reads of assays, instruments and runs shared by the pages (the writes are in services)."""

from datetime import date, timedelta

from django.contrib.postgres.aggregates import StringAgg
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from assays.models import AssayDefinition, AssayRun, Instrument, Result
from batches.models import CultureBatch, ExosomeLot

CALIBRATION_WARNING_DAYS = 30


def assays_with_counts() -> QuerySet[AssayDefinition]:
    return AssayDefinition.objects.annotate(
        analyte_count=Count("analytes", distinct=True), run_count=Count("runs", distinct=True)
    )


def runs_with_summary() -> QuerySet[AssayRun]:
    """Runs with what a list shows in one query: assay, instrument, operator, samples, count."""
    return AssayRun.objects.select_related("assay", "instrument", "operator").annotate(
        sample_labels=StringAgg("samples__label", ", ", distinct=True, default=""),
        result_count=Count("results", distinct=True),
    )


def runs_listed() -> QuerySet[AssayRun]:
    """Runs with what a list shows, without its aggregates: a page of runs is chosen first
    (by the index on its sort key) and summarised after (with_run_summaries); aggregating every
    run's results before taking 25 grew with the history (issue 14)."""
    return AssayRun.objects.select_related("assay", "instrument", "operator")


def with_run_summaries(runs) -> list[AssayRun]:
    """The runs of one page with their sample labels and result count, in one query."""
    runs = list(runs)
    summaries = {
        row["pk"]: row
        for row in AssayRun.objects.filter(pk__in=[r.pk for r in runs])
        .values("pk")
        .annotate(
            labels=StringAgg("samples__label", ", ", distinct=True, default=""),
            result_total=Count("results", distinct=True),
        )
        .order_by()
    }
    for run in runs:
        summary = summaries.get(run.pk, {})
        run.sample_labels = summary.get("labels", "")
        run.result_count = summary.get("result_total", 0)
    return runs


def instruments_calibration_due(
    *, within_days: int = CALIBRATION_WARNING_DAYS, on: date | None = None
) -> QuerySet[Instrument]:
    """Instruments whose calibration is overdue or due within `within_days`, soonest first."""
    on = on or timezone.localdate()
    return Instrument.objects.filter(
        calibration_due_on__lte=on + timedelta(days=within_days)
    ).order_by("calibration_due_on", "code")


def calibration_state(instrument: Instrument, on: date | None = None) -> str:
    """ "overdue", "due_soon", "ok" or "" (no calibration tracked) for badges and highlights."""
    on = on or timezone.localdate()
    due = instrument.calibration_due_on
    if due is None:
        return ""
    if due < on:
        return "overdue"
    if due <= on + timedelta(days=CALIBRATION_WARNING_DAYS):
        return "due_soon"
    return "ok"


def instruments_for_assay(code: str) -> QuerySet[Instrument]:
    """Every instrument qualified for an assay, whatever its status (the service decides)."""
    return Instrument.objects.filter(assay_codes__contains=[code]).order_by("code")


def runs_of_sample(*, lot=None, culture_batch=None) -> QuerySet[AssayRun]:
    """The runs that tested a lot (or one of its vials) or a culture batch, each with only that
    sample's results prefetched, newest first."""
    if (lot is None) == (culture_batch is None):
        raise ValueError("Give a lot or a culture batch.")
    where = Q(sample__lot=lot) if lot is not None else Q(sample__culture_batch=culture_batch)
    run_where = Q(samples__lot=lot) if lot is not None else Q(samples__culture_batch=culture_batch)
    results = Result.objects.filter(where).select_related("analyte", "sample")
    return (
        AssayRun.objects.filter(pk__in=AssayRun.objects.filter(run_where).values("pk"))
        .select_related("assay", "instrument", "source_file")
        .prefetch_related(Prefetch("results", queryset=results, to_attr="sample_results"))
        .order_by("-started_at", "-pk")
    )


# The samples a worksheet offers to pick, newest first: enough for a day at the bench; any
# other is typed or scanned (and checked by the service either way).
ELIGIBLE_SAMPLES_SHOWN = 200


def eligible_samples(assay: AssayDefinition) -> list[tuple[str, str]]:
    """(code, label) of the samples a run of `assay` may take, in one query: culture batches
    still in culture or harvested for a culture-batch assay; otherwise exosome lots that still
    take results (not released or rejected; their vials are scanned by barcode)."""
    if assay.applies_to == AssayDefinition.AppliesTo.CULTURE_BATCH:
        statuses = dict(CultureBatch.Status.choices)
        batches = CultureBatch.objects.filter(
            status__in=[CultureBatch.Status.IN_CULTURE, CultureBatch.Status.HARVESTED]
        ).order_by("-created_at", "-pk")
        return [
            (code, f"{code} ({statuses[status].lower()})")
            for code, status in batches.values_list("code", "status")[:ELIGIBLE_SAMPLES_SHOWN]
        ]
    statuses = dict(ExosomeLot.Status.choices)
    lots = ExosomeLot.objects.exclude(
        status__in=[ExosomeLot.Status.RELEASED, ExosomeLot.Status.REJECTED]
    ).order_by("-created_at", "-pk")
    return [
        (code, f"{code} ({statuses[status].lower()})")
        for code, status in lots.values_list("code", "status")[:ELIGIBLE_SAMPLES_SHOWN]
    ]
