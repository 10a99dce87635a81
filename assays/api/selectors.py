"""The API's reads: plain rows (values()) in a fixed number of queries, whatever the row count.

STYLE.md §4: large collections are read as dictionaries, not model instances through nested
ModelSerializers. Every list here is one query (plus the paginator's count); related codes
come through joins and PostgreSQL aggregates, never a query per row.
"""

from django.contrib.postgres.aggregates import ArrayAgg, JSONBAgg
from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import ValidationError
from django.db.models import F, OuterRef, Q, QuerySet
from django.db.models.functions import JSONObject

from assays.models import (
    AssayDefinition,
    AssayRun,
    Instrument,
    InstrumentFile,
    QCMetric,
    Result,
    RunSample,
)
from assays.reference_models import ReferenceStandard, RunReferenceStandard
from batches.models import Aliquot, CultureBatch, ExosomeLot, ReagentLot
from lims.subqueries import related_count


def _codes(path: str) -> ArrayAgg:
    """The distinct codes at the end of a to-many path, sorted; [] when there are none."""
    return ArrayAgg(
        path, distinct=True, order_by=path, filter=Q(**{f"{path}__isnull": False}), default=[]
    )


# --- Production records ----------------------------------------------------------------------


def culture_batch_rows() -> QuerySet:
    return CultureBatch.objects.values(
        "id",
        "code",
        "status",
        "started_on",
        "created_at",
        "voided_at",
        cell_bank_code=F("cell_bank__code"),
        donor_code=F("cell_bank__donor__code"),
    ).order_by("-created_at", "-id")


def lot_rows(*, genealogy: bool = False) -> QuerySet:
    rows = ExosomeLot.objects.values(
        "id", "code", "status", "manufactured_on", "volume_ml", "created_at", "voided_at"
    )
    if genealogy:
        batch = "isolation_runs__harvests__batch"
        rows = rows.annotate(
            isolation_run_codes=_codes("isolation_runs__code"),
            culture_batch_codes=_codes(f"{batch}__code"),
            cell_bank_codes=_codes(f"{batch}__cell_bank__code"),
            donor_codes=_codes(f"{batch}__cell_bank__donor__code"),
        )
    return rows.order_by("-created_at", "-id")


def aliquot_rows() -> QuerySet:
    return Aliquot.objects.values(
        "id",
        "lot_id",  # the keyset's first column (assays.api.pagination.AliquotPagination)
        "barcode",
        "number",
        "volume_ul",
        "status",
        "created_at",
        "voided_at",
        lot_code=F("lot__code"),
        location_freezer=F("location__freezer"),
        location_rack=F("location__rack"),
        location_box=F("location__box"),
        location_position=F("location__position"),
    ).order_by("lot_id", "number")


# --- Assays and instruments ------------------------------------------------------------------


def assay_rows() -> QuerySet:
    analyte = JSONObject(
        code="analytes__code",
        name="analytes__name",
        result_type="analytes__result_type",
        unit="analytes__unit",
        allowed_values="analytes__allowed_values",
    )
    return (
        AssayDefinition.objects.values(
            "id", "code", "version", "name", "method", "sop_reference", "applies_to", "is_current"
        )
        .annotate(
            analyte_list=JSONBAgg(
                analyte,
                order_by=("analytes__position", "analytes__code"),
                filter=Q(analytes__isnull=False),
                default=[],
            )
        )
        .order_by("code", "-version")
    )


def instrument_rows() -> QuerySet:
    return Instrument.objects.values(
        "id",
        "code",
        "instrument_type",
        "make",
        "model",
        "serial_number",
        "location",
        "assay_codes",
        "status",
        "status_changed_at",
        "status_reason",
        "calibration_due_on",
    ).order_by("code")


# --- Runs and results ------------------------------------------------------------------------

_RUN_FIELDS = (
    "id",
    "status",
    "status_reason",
    "source",
    "started_at",
    "ended_at",
    "external_id",
    "backdate_reason",
    "retest_of",
    "source_file",
    "created_at",
    "voided_at",
)
_RUN_CODES = {
    "assay_code": F("assay__code"),
    "assay_version": F("assay__version"),
    "instrument_code": F("instrument__code"),
    "operator_username": F("operator__username"),
}


def run_rows() -> QuerySet:
    # Subqueries per run, not an aggregate over a join: without a GROUP BY over every run, a
    # page reads its runs by the (started_at, id) index and stops at its limit (issue 14).
    sample_labels = (
        RunSample.objects.filter(run=OuterRef("pk"))
        .order_by("label")
        .values_list("label", flat=True)
        .distinct()
    )
    return (
        AssayRun.objects.values(*_RUN_FIELDS, **_RUN_CODES)
        .annotate(
            sample_labels=ArraySubquery(sample_labels),
            result_count=related_count(Result.objects.all(), "run"),
        )
        .order_by("-started_at", "-id")
    )


def run_detail(run_id: int) -> dict | None:
    """A run with its samples, reagent lots and results (four queries)."""
    run = AssayRun.objects.values(*_RUN_FIELDS, **_RUN_CODES).filter(pk=run_id).first()
    if run is None:
        return None
    run["samples"] = list(
        RunSample.objects.filter(run_id=run_id)
        .values(
            "label",
            culture_batch_code=F("culture_batch__code"),
            lot_code=F("lot__code"),
            aliquot_barcode=F("aliquot__barcode"),
        )
        .order_by("id")
    )
    run["reagent_lots"] = list(
        ReagentLot.objects.filter(assay_runs=run_id)
        .values("id", "name", "supplier", "lot_number", "expiry_date")
        .order_by("id")
    )
    run["results"] = list(result_rows().filter(run_id=run_id).order_by("id"))
    run.update(run_reference(run_id))
    return run


def run_reference(run_id: int) -> dict:
    """The reference standard a run was tested against and, once its metrics are computed, the
    relative potency against it (one query, two with a reference)."""
    use = (
        RunReferenceStandard.objects.filter(run_id=run_id)
        .values("reference_id", code=F("reference__code"), material=F("reference__material"))
        .first()
    )
    if use is None:
        return {"reference_standard": None, "relative_potency": None}
    reference = {"id": use["reference_id"], "code": use["code"], "material": use["material"]}
    metric = (
        QCMetric.objects.filter(run_id=run_id, code="potency.relative_potency")
        .order_by("-computed_at", "-id")
        .values("value", "unit", "details")
        .first()
    )
    potency = None
    if metric is not None:
        details = metric["details"]
        potency = {
            "value": metric["value"],
            "unit": metric["unit"],
            "low": details.get("potency_low"),
            "high": details.get("potency_high"),
            "level": details.get("level"),
            "parallel": details.get("parallel"),
            "slope_ratio": details.get("slope_ratio"),
            "slope_ratio_low": details.get("slope_ratio_low"),
            "slope_ratio_high": details.get("slope_ratio_high"),
            "slope_ratio_bounds": details.get("slope_ratio_bounds", ""),
            "reportable": details.get("reportable"),
            "refusal": details.get("refusal", ""),
        }
    return {"reference_standard": reference, "relative_potency": potency}


def result_rows() -> QuerySet:
    return Result.objects.values(
        "id",
        "value",
        "text_value",
        "unit",
        "qualifier",
        "replicate",
        "well",
        "target",
        "flags",
        "source_sample",
        "source_file",
        "created_at",
        "voided_at",
        run_ref=F("run_id"),
        assay_code=F("analyte__assay__code"),
        analyte_code=F("analyte__code"),
        sample_label=F("sample__label"),
        culture_batch_code=F("sample__culture_batch__code"),
        lot_code=F("sample__lot__code"),
        aliquot_barcode=F("sample__aliquot__barcode"),
        instrument_code=F("run__instrument__code"),
    ).order_by("-run_id", "id")


# --- Instrument files ------------------------------------------------------------------------


def instrument_file_detail(file_id, *, instrument: Instrument | None = None) -> dict | None:
    """A received file with the run and results it produced; with `instrument`, only that
    instrument's files are found (a key reads only what its instrument sent)."""
    files = InstrumentFile.objects.filter(pk=file_id)
    if instrument is not None:
        files = files.filter(instrument=instrument)
    record = files.values(
        "id",
        "sha256",
        "size",
        "original_name",
        "format_hint",
        "detected_format",
        "sample_identifier",
        "assay_code",
        "status",
        "error",
        "created_at",
        "parsed_at",
        instrument_code=F("instrument__code"),
    ).first()
    if record is None:
        return None
    run = (
        AssayRun.objects.filter(source_file=file_id)
        .values(*_RUN_FIELDS, **_RUN_CODES)
        .order_by("id")
        .first()
    )
    record["run"] = run
    record["results"] = (
        list(result_rows().filter(source_file=file_id).order_by("id")) if run else []
    )
    return record


# --- References in posted runs ---------------------------------------------------------------


def reagent_lots_by_id(ids: list[int]) -> list[ReagentLot]:
    """The reagent lots a run names, in the order given; unknown ids are a 422 (records)."""
    found = ReagentLot.objects.in_bulk(ids)
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise ValidationError({"reagent_lots": f"No reagent lot with id {', '.join(missing)}."})
    return [found[i] for i in dict.fromkeys(ids)]


def reference_by_id(reference_id: int | None) -> ReferenceStandard | None:
    """The reference standard a posted run names; an unknown id is a 422 on its field."""
    if reference_id is None:
        return None
    reference = ReferenceStandard.objects.filter(pk=reference_id).first()
    if reference is None:
        raise ValidationError(
            {"reference_standard": f"No reference standard with id {reference_id}."}
        )
    return reference


def run_by_id(run_id: int | None) -> AssayRun | None:
    if run_id is None:
        return None
    run = AssayRun.objects.select_related("assay").filter(pk=run_id).first()
    if run is None:
        raise ValidationError({"retest_of": f"No run with id {run_id}."})
    return run
