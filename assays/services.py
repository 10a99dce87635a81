"""Every write to assays, instruments, runs and results goes through one function here.

Results arrive three ways (a technician's form, an instrument's JSON or ASM post, a raw file
parsed in the background) and all of them end in `run_record`, so the rules are the same:
registered instrument in service and calibrated, reagent lots not expired, sample known and not
locked, analyte known, value of the right type, unit convertible to the analyte's unit.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from assays import kept_readings, sample_matching
from assays.events import (
    instrument_file_received,
    run_invalidation_requested,
    run_recorded,
    run_status_changed,
)
from assays.ingest import (
    ArchiveTooLarge,
    FileReading,
    PlateComputation,
    check_file_bounds,
    plate_from_records,
    plate_layout_for,
    plate_result_inputs,
    read_file,
    relabel_by_layout,
    results_from_records,
)
from assays.inputs import ResultInput, WorksheetRow
from assays.models import (
    Analyte,
    AssayDefinition,
    AssayRun,
    Instrument,
    InstrumentFile,
    InstrumentKey,
    InstrumentLogEntry,
    NtaRunSummary,
    Result,
    RunReagentUse,
    RunSample,
)
from assays.nta_services import nta_summary_record
from assays.parsers import ParseError
from assays.parsers.file_samples import SampleRecord
from assays.plate_models import PlateAnalysis
from assays.qc import ALGORITHM_VERSIONS, plate, suitability
from assays.qc_selectors import STANDARD_ANALYTE, PlateValue, fit_standard_curve
from assays.reference_models import ReferenceStandard, RunReferenceStandard
from assays.reference_services import check_reference_usable
from assays.sample_targets import (
    SampleTarget,
    resolve_sample,
    resolve_samples,
    target_key,
)
from assays.units import convert, is_valid_unit
from batches.models import ExosomeLot, ReagentLot
from batches.services import check_lot_not_locked, check_reagents_usable
from lims import file_store
from lims.audit import audit_context
from lims.events import announce
from lims.models import Signature, system_user
from lims.roles import (
    can_enter_results,
    can_invalidate_runs,
    can_manage_instruments,
    can_review_runs,
    require,
)
from lims.signatures import Signer, sign
from lims.training import Step, require_qualified
from lims.transitions import Move, move_status

MANAGES_INSTRUMENTS = "Only administrators manage instruments and their keys."
REVIEWS_RUNS = "Only analysts review runs."
INVALIDATES_RUNS = "Only analysts (or QA, closing an investigation) invalidate runs."
ENTERS_RESULTS = "Only technicians and analysts enter results and upload instrument files."

if TYPE_CHECKING:
    from lims.models import User


# --- Instruments ---------------------------------------------------------------------------


@transaction.atomic
def instrument_register(*, actor: User, **fields: Any) -> Instrument:
    require(can_manage_instruments, actor, MANAGES_INSTRUMENTS)
    instrument = Instrument(created_by=actor, **fields)
    unknown = set(instrument.assay_codes) - set(
        AssayDefinition.objects.values_list("code", flat=True)
    )
    if unknown:
        raise ValidationError(
            {"assay_codes": f"Unknown assay codes: {', '.join(sorted(unknown))}."}
        )
    instrument.full_clean()
    with audit_context(actor=actor, reason="Instrument registered"):
        instrument.save()
    return instrument


@transaction.atomic
def instrument_log(
    *,
    actor: User,
    instrument: Instrument,
    kind: str,
    performed_on: date,
    due_on: date | None,
    performed_by: str,
    certificate: str = "",
    notes: str = "",
) -> InstrumentLogEntry:
    """Log a calibration or maintenance; a calibration sets when the next one is due."""
    require(can_manage_instruments, actor, MANAGES_INSTRUMENTS)
    entry = InstrumentLogEntry(
        instrument=instrument,
        kind=kind,
        performed_on=performed_on,
        due_on=due_on,
        performed_by=performed_by,
        certificate=certificate,
        notes=notes,
        created_by=actor,
    )
    entry.full_clean()
    # Locked so that two calibrations logged at once settle on one due date.
    Instrument.objects.select_for_update().filter(pk=instrument.pk).first()
    with audit_context(actor=actor, reason=f"{entry.get_kind_display()} logged"):
        entry.save()
        calibrations = instrument.log.filter(kind=InstrumentLogEntry.Kind.CALIBRATION)
        # A certificate entered late (an older calibration) must not move the due date back:
        # the due date is the one the most recent calibration set.
        if kind == InstrumentLogEntry.Kind.CALIBRATION and (
            calibrations.order_by("-performed_on", "-pk").values_list("pk", flat=True).first()
            == entry.pk
        ):
            Instrument.objects.filter(pk=instrument.pk).update(calibration_due_on=due_on)
    instrument.refresh_from_db()
    return entry


# Who takes an instrument out of service and back (21 CFR 11.10(g), (h)): lims.transitions.
INSTRUMENT_MOVES = {
    ("in_service", "out_of_service"): Move(can_manage_instruments, "administrators"),
    ("out_of_service", "in_service"): Move(can_manage_instruments, "administrators"),
}


def instrument_set_status(
    *, actor: User, instrument: Instrument, to: str, reason: str
) -> Instrument:
    require(can_manage_instruments, actor, MANAGES_INSTRUMENTS)
    return move_status(
        instrument,
        to=to,
        actor=actor,
        reason=reason,
        extra_fields={"status_reason": reason, "status_changed_at": timezone.now()},
        moves=INSTRUMENT_MOVES,
    )


def check_instrument_usable(instrument: Instrument, *, on: date | None = None) -> None:
    """Refuse results from an instrument out of service or past its calibration due date."""
    on = on or timezone.localdate()
    if instrument.status != Instrument.Status.IN_SERVICE:
        since = timezone.localtime(instrument.status_changed_at)
        raise ValidationError(
            {
                "instrument": f"Instrument {instrument} is out of service since {since:%Y-%m-%d}"
                f"{': ' + instrument.status_reason if instrument.status_reason else ''}."
            }
        )
    if instrument.calibration_overdue(on):
        raise ValidationError(
            {
                "instrument": f"Instrument {instrument} is past its calibration due date "
                f"(due {instrument.calibration_due_on:%Y-%m-%d})."
            }
        )


def check_key_expiry(expiry_date: datetime, *, field: str = "expiry_date") -> None:
    """Refuse an API key's expiry that is not in the future (the forms call this too)."""
    if timezone.is_naive(expiry_date):
        expiry_date = timezone.make_aware(expiry_date)
    if expiry_date <= timezone.now():
        raise ValidationError(
            {
                field: f"The expiry {timezone.localtime(expiry_date):%Y-%m-%d %H:%M} has passed: "
                "a key cannot be issued already expired. Choose a later date."
            }
        )


@transaction.atomic
def instrument_key_issue(
    *,
    actor: User,
    instrument: Instrument,
    name: str = "",
    expiry_date: datetime | None = None,
    reason: str = "Instrument key issued",
) -> tuple[InstrumentKey, str]:
    """A new API key for an instrument; the plain key is returned once and never stored. A key
    is never issued already expired (or expiring as it is issued): it would be a credential
    nobody can use, and an expiry set in the past is a mistake to say, not to store."""
    require(can_manage_instruments, actor, MANAGES_INSTRUMENTS)
    if expiry_date is None:
        expiry_date = timezone.now() + timedelta(days=settings.INSTRUMENT_KEY_DAYS)
    check_key_expiry(expiry_date)
    with audit_context(actor=actor, reason=reason):
        key, plain = InstrumentKey.objects.create_key(
            # The key model's name holds 50 characters and create_key() does not validate.
            name=(name or f"{instrument.code} key {timezone.now():%Y-%m-%d}")[:50],
            instrument=instrument,
            expiry_date=expiry_date,
        )
    # djangorestframework-api-key types create_key() as returning its AbstractAPIKey, not the
    # manager's model.
    return key, plain  # type: ignore[return-value]


@transaction.atomic
def instrument_key_revoke(*, actor: User, key: InstrumentKey, reason: str) -> InstrumentKey:
    require(can_manage_instruments, actor, MANAGES_INSTRUMENTS)
    if not reason.strip():
        raise ValidationError({"reason": "A reason is required to revoke a key."})
    with audit_context(actor=actor, reason=reason):
        InstrumentKey.objects.filter(pk=key.pk).update(revoked=True)
    key.refresh_from_db()
    return key


# --- Runs and results ------------------------------------------------------------------------


def current_assay(code: str) -> AssayDefinition:
    assay = AssayDefinition.objects.filter(code=code, is_current=True).first()
    if assay is None:
        raise ValidationError({"assay": f"No assay with code '{code}'."})
    return assay


class CheckedValue(TypedDict):
    """A result value as stored: numeric in the analyte's unit, or text."""

    value: float | None
    text_value: str
    unit: str


def _validated_result(analyte: Analyte, item: ResultInput) -> CheckedValue:
    """Value checked against the analyte's type; numeric values converted to its unit."""
    where = f"{item.sample} / {analyte.code}"
    if analyte.result_type == Analyte.ResultType.NUMERIC:
        if item.value is None and not item.qualifier:
            raise ValidationError({"value": f"{where}: a number is required."})
        if item.value is None and item.qualifier[:1] in ("<", ">"):
            # "< LLOQ" with no number could never be judged: the criterion would stay pending.
            raise ValidationError(
                {
                    "value": f"{where}: '{item.qualifier}' needs its limit as the value (for "
                    f"example {item.qualifier[:1]} 0.05 {analyte.unit}): the result is below or "
                    "above that number."
                }
            )
        value = item.value
        unit = item.unit if item.unit not in (None, "") else analyte.unit
        if not is_valid_unit(unit):
            raise ValidationError({"unit": f"{where}: unknown unit '{unit}'."})
        if value is not None:
            try:
                value = convert(float(value), unit, analyte.unit)
            except (ValueError, ArithmeticError) as exc:  # pint overflows on huge scales
                raise ValidationError(
                    {"unit": f"{where}: '{unit}' cannot be converted to '{analyte.unit}'."}
                ) from exc
            if not math.isfinite(value):
                # An infinite or NaN result is no measurement (and JSON cannot carry it).
                raise ValidationError(
                    {"value": f"{where}: {item.value} {unit} is out of range once converted."}
                )
            if impossible := physically_impossible(analyte, value):
                raise ValidationError({"value": f"{where}: {item.value} {unit} {impossible}."})
        return {"value": value, "text_value": "", "unit": analyte.unit}
    text = (item.text_value or ("" if item.value is None else str(item.value))).strip()
    if analyte.result_type == Analyte.ResultType.QUALITATIVE:
        allowed = {v.lower(): v for v in analyte.allowed_values}
        if text.lower() not in allowed:
            raise ValidationError(
                {
                    "text_value": f"{where}: '{text}' is not one of "
                    + ", ".join(analyte.allowed_values)
                    + "."
                }
            )
        text = allowed[text.lower()]
    elif not text:
        raise ValidationError({"text_value": f"{where}: a text result is required."})
    return {"value": None, "text_value": text, "unit": ""}


def unit_check(analyte: Analyte, unit: str) -> None:
    """Refuse a unit the system does not know, or one that does not convert to the analyte's:
    a worksheet's column is entered in one unit (each value is then checked as `run_record`
    checks it)."""
    if not is_valid_unit(unit):
        raise ValidationError({"unit": f"{analyte.name}: unknown unit '{unit}'."})
    try:
        convert(1.0, unit, analyte.unit)
    except (ValueError, ArithmeticError) as exc:
        raise ValidationError(
            {"unit": f"{analyte.name}: '{unit}' cannot be converted to '{analyte.unit}'."}
        ) from exc


# Numeric analytes that may be negative: dimensionless readings (absorbance, Ct, fold) and
# background-subtracted signals. Every amount, concentration, size, count, time and percentage
# is at least zero; percentages of a whole (positive cells, viability, size fraction) at most 100.
SIGNED_UNITS = {"", "RFU"}
# A recovery of 50-200 % is valid (USP <85>); a qPCR efficiency above 100 % is measured too
# (inhibition in the concentrated standards, primer-dimers), and judged 90-110 % (MIQE).
PERCENT_ABOVE_100 = {"spike_recovery", "efficiency"}
# Analytes with a bounded scale of their own: pH runs 0-14 in water (Ph. Eur. 2.2.3).
BOUNDED = {"ph": (0.0, 14.0)}


def physically_impossible(analyte: Analyte, value: float) -> str:
    """Why a value cannot be a measurement of the analyte (in its unit), or ""."""
    if value < 0 and analyte.unit not in SIGNED_UNITS:
        return "is negative: an amount, concentration, size or count cannot be"
    if analyte.unit == "percent" and value > 100 and analyte.code not in PERCENT_ABOVE_100:
        return "is above 100 %: a fraction of a whole cannot be"
    if analyte.code in BOUNDED:
        low, high = BOUNDED[analyte.code]
        if not low <= value <= high:
            return f"is outside {low:g}-{high:g}: the {analyte.name} scale has no such value"
    return ""


def result_check(analyte: Analyte, item: ResultInput) -> CheckedValue:
    """The check `run_record` applies to each value, for forms that show errors per field."""
    return _validated_result(analyte, item)


def check_run_dates(
    *,
    started_at: datetime,
    ended_at: datetime | None = None,
    backdate_reason: str = "",
    assay: AssayDefinition | None = None,
) -> str:
    """Refuse a run starting (or ending) in the future, a result recorded before its assay's
    minimum duration has passed, or a back-dated run without a reason.

    Returns the reason, stripped. "Back-dated" means recorded now, more than BACKDATE_DAYS
    after the run ended (after it started, when no end is given): a 14-day sterility test
    recorded the day it ends is on time.
    """
    now = timezone.now()
    latest = now + settings.RUN_FUTURE_TOLERANCE
    errors: dict[str, str] = {}
    if started_at > latest:
        errors["started_at"] = (
            f"The run cannot start in the future ({timezone.localtime(started_at):%Y-%m-%d %H:%M}"
            f" is after now, {timezone.localtime(now):%Y-%m-%d %H:%M})."
        )
    if ended_at is not None and ended_at > latest:
        errors["ended_at"] = "The run cannot end in the future."
    if assay is not None and assay.minimum_days:
        ready = started_at + timedelta(days=assay.minimum_days)
        if (ended_at or now) < ready:
            errors["ended_at" if ended_at else "started_at"] = (
                f"{assay.name} takes {assay.minimum_days} days: a run started on "
                f"{timezone.localtime(started_at):%Y-%m-%d %H:%M} has no result before "
                f"{timezone.localtime(ready):%Y-%m-%d %H:%M}."
            )
    reason = backdate_reason.strip()
    done = ended_at or started_at
    if now - done > timedelta(days=settings.BACKDATE_DAYS) and not reason:
        what = "ended" if ended_at else "started"
        errors["backdate_reason"] = (
            f"The run {what} on {timezone.localtime(done):%Y-%m-%d}, more than "
            f"{settings.BACKDATE_DAYS} days ago: say why it is recorded late."
        )
    if errors:
        raise ValidationError(errors)
    return reason


def _run_days(started_at: datetime) -> list[date]:
    """The days the instrument and the reagents must have been usable: the run's and today."""
    return sorted({timezone.localdate(started_at), timezone.localdate()})


def check_required_reagents(assay: AssayDefinition, reagent_lots: Iterable[ReagentLot]) -> None:
    """Refuse a run that does not name a reagent lot of every category its assay requires."""
    named = {lot.category for lot in reagent_lots}
    missing = [c for c in assay.required_reagents if c not in named]
    if missing:
        labels = dict(ReagentLot.Category.choices)
        names = ", ".join(str(labels.get(c, c)) for c in missing)
        raise ValidationError(
            {"reagent_lots": f"Assay {assay.code} needs a reagent lot it was not given: {names}."}
        )


def check_run_context(
    *,
    assay: AssayDefinition,
    started_at: datetime,
    ended_at: datetime | None = None,
    backdate_reason: str = "",
    instrument: Instrument | None = None,
    reagent_lots: list[ReagentLot] | None = None,
    retest_of: AssayRun | None = None,
    reference_standard: ReferenceStandard | None = None,
) -> str:
    """What `run_record` checks of a run before its results: dates, the instrument (qualified
    for the assay, in service and calibrated on the day it ran and today), the reagent lots
    (unexpired on both days, every category the assay requires), the run it retests. Returns
    the back-dating reason, stripped; refuses at the first group that fails."""
    reagent_lots = reagent_lots or []
    backdate_reason = check_run_dates(
        started_at=started_at, ended_at=ended_at, backdate_reason=backdate_reason, assay=assay
    )
    days = _run_days(started_at)
    if instrument is not None:
        if assay.code not in instrument.assay_codes:
            raise ValidationError(
                {"assay": f"Instrument {instrument} is not qualified for assay {assay.code}."}
            )
        for day in days:
            check_instrument_usable(instrument, on=day)
    try:
        for day in days:
            check_reagents_usable(reagent_lots, on=day)
    except ValidationError as exc:
        raise ValidationError({"reagent_lots": exc.message_dict["reagent_lots"]}) from exc
    check_required_reagents(assay, reagent_lots)
    check_reference_usable(reference_standard, assay=assay, started_at=started_at)
    if retest_of is not None and retest_of.assay.code != assay.code:
        raise ValidationError({"retest_of": "A retest repeats a run of the same assay."})
    return backdate_reason


@transaction.atomic
def run_record(
    *,
    assay_code: str,
    results: list[ResultInput],
    source: str,
    started_at: datetime,
    ended_at: datetime | None = None,
    actor: User | None = None,
    instrument: Instrument | None = None,
    reagent_lots: Iterable[ReagentLot] = (),
    retest_of: AssayRun | None = None,
    source_file: InstrumentFile | None = None,
    external_id: str = "",
    backdate_reason: str = "",
    reference_standard: ReferenceStandard | None = None,
) -> AssayRun:
    """Record a run with its results in one transaction, or refuse it whole.

    Its dates must tell the truth: no start in the future (beyond RUN_FUTURE_TOLERANCE), a
    reason when it is recorded more than BACKDATE_DAYS after it started (the run is then flagged
    as back-dated), and the instrument and reagent lots usable both on the day it ran and today.
    """
    if actor is None and instrument is None:
        raise ValidationError("A run is recorded by a person or an instrument.")
    if actor is not None:
        require(can_enter_results, actor, ENTERS_RESULTS)
    if not results:
        raise ValidationError({"results": "A run needs at least one result."})
    assay = current_assay(assay_code)
    # Training (lims.training, 21 CFR 211.25(a)): qualified when the run was performed, and
    # now to enter its results; only where QA declared the assay's required SOPs.
    require_qualified(actor, assay.code, Step.PERFORM, at=started_at, field="assay")
    require_qualified(actor, assay.code, Step.ENTER, field="assay")
    reagent_lots = list(reagent_lots)
    if reference_standard is not None:
        # Read again under a lock: a withdrawal committed since the caller loaded it counts.
        reference_standard = ReferenceStandard.objects.select_for_update().get(
            pk=reference_standard.pk
        )
    backdate_reason = check_run_context(
        assay=assay,
        started_at=started_at,
        ended_at=ended_at,
        backdate_reason=backdate_reason,
        instrument=instrument,
        reagent_lots=reagent_lots,
        retest_of=retest_of,
        reference_standard=reference_standard,
    )

    analytes = {a.code: a for a in assay.analytes.all()}
    # Every sample read at once: a fixed number of queries however many samples the run has.
    targets = resolve_samples({item.sample for item in results}, assay)
    samples: dict[str, SampleTarget] = {}
    rows = []
    for item in results:
        analyte = analytes.get(item.analyte)
        if analyte is None:
            raise ValidationError(
                {
                    "analyte": f"Assay {assay.code} has no analyte '{item.analyte}' "
                    f"(known: {', '.join(sorted(analytes))})."
                }
            )
        if item.sample not in samples:
            target = targets[item.sample]
            if isinstance(target, ValidationError):
                raise target
            samples[item.sample] = target
        rows.append((item, analyte, _validated_result(analyte, item)))

    run = AssayRun(
        assay=assay,
        instrument=instrument,
        operator=actor,
        source=source,
        source_file=source_file,
        started_at=started_at,
        ended_at=ended_at,
        retest_of=retest_of,
        external_id=external_id,
        backdate_reason=backdate_reason,
        created_by=actor or system_user(),
    )
    run.full_clean()
    measured_by = instrument.code if instrument else None
    with audit_context(actor=actor, instrument=measured_by, reason="Run recorded"):
        run.save()
        RunReagentUse.objects.bulk_create(
            RunReagentUse(run=run, reagent_lot=lot, created_by=run.created_by)
            for lot in reagent_lots
        )
        if reference_standard is not None:
            RunReferenceStandard.objects.create(
                run=run, reference=reference_standard, created_by=run.created_by
            )
        sample_rows = {
            label: RunSample(
                run=run,
                label=label,
                created_by=run.created_by,
                culture_batch=target.get("culture_batch"),
                lot=target.get("lot"),
                aliquot=target.get("aliquot"),
            )
            for label, target in samples.items()
        }
        RunSample.objects.bulk_create(sample_rows.values())
        Result.objects.bulk_create(
            Result(
                run=run,
                sample=sample_rows[item.sample],
                analyte=analyte,
                qualifier=item.qualifier,
                replicate=item.replicate,
                well=item.well,
                target=item.target,
                source_sample=item.source_sample,
                flags=item.flags,
                source_file=source_file,
                created_by=run.created_by,
                **checked,
            )
            for item, analyte, checked in rows
        )
    run = _check_suitability(run, assay, rows)
    _after_run_recorded(run)
    return run


def _check_suitability(
    run: AssayRun, assay: AssayDefinition, rows: list[tuple[ResultInput, Analyte, CheckedValue]]
) -> AssayRun:
    """A run that fails its assay's validity criteria is recorded, whole, and invalidated at
    once by the system with the failures as its reason: its results never count, and nobody has
    to notice (assays.qc.suitability)."""
    rules = assay.suitability or []
    values: dict[str, list[suitability.Value]] = {}
    for _, analyte, checked in rows:
        value = checked["value"] if checked["value"] is not None else checked["text_value"]
        if value != "":
            values.setdefault(analyte.code, []).append(value)
    if any(r["analyte"] in suitability.CURVE_ANALYTES for r in rules):
        values.update(_standard_curve_values(rows))
    failures = suitability.check(rules, values)
    if not failures:
        return run
    reason = "System suitability failed: " + "; ".join(failures)
    return move_status(
        run,
        to="invalidated",
        actor=system_user(),
        reason=reason,
        extra_fields={"status_reason": reason},
    )


def _standard_curve_values(
    rows: list[tuple[ResultInput, Analyte, CheckedValue]],
) -> dict[str, list[suitability.Value]]:
    """The standard curve's statistics computed from the run's standards, where it has them
    (absorbance results named as standards, with their concentration: the plate convention of
    assays.qc_selectors); {} without standards, and the entered statistics are checked."""
    curve = fit_standard_curve(
        PlateValue(
            label=item.source_sample or item.sample,
            well=item.well,
            response=checked["value"],
            target=item.target,
            source_sample=item.source_sample,
            replicate=item.replicate,
        )
        for item, analyte, checked in rows
        if analyte.code == STANDARD_ANALYTE and checked["value"] is not None
    )
    if curve is None:
        return {}
    if curve.fit is None:  # standards that no 4PL can be fitted to (too few, mixed units)
        return {suitability.CURVE_CONVERGED: [0.0]}
    return suitability.curve_values(curve.fit)


def _after_run_recorded(run: AssayRun) -> None:
    """Its QC metrics follow once the run is committed (assays.receivers)."""
    announce(run_recorded, run_id=run.pk)


# --- Worksheets: one assay, many samples, one run ---------------------------------------------

# The samples of one worksheet, at most: a 96-well plate's worth, the most one run holds at the
# bench; more is a second worksheet.
WORKSHEET_MAX_ROWS = 96

CellErrors = dict[str, list[str]]


class WorksheetRefused(ValidationError):
    """A worksheet refused whole, nothing written: the run's own errors by field (`fields`:
    started_at, instrument, reagent_lots...) and each row's by cell (`rows`: row index ->
    "sample" or an analyte code -> messages)."""

    def __init__(self, *, fields: CellErrors, rows: dict[int, CellErrors]):
        self.fields = fields
        self.rows = rows
        summary: dict[str, list[str]] = {key: list(messages) for key, messages in fields.items()}
        for index, cells in sorted(rows.items()):
            summary[f"row {index + 1}"] = [m for messages in cells.values() for m in messages]
        super().__init__(summary)


def worksheet_row_errors(assay: AssayDefinition, rows: list[WorksheetRow]) -> dict[int, CellErrors]:
    """Each row checked as `run_record` checks its results (the sample is known, the assay tests
    it, it is not locked; each value of the right type, in a unit that converts, possible), and
    no sample twice: the errors by row index and cell. Reads the samples in a fixed number of
    queries, however many rows."""
    analytes = {a.code: a for a in assay.analytes.all()}
    targets = resolve_samples({row.sample for row in rows if row.sample.strip()}, assay)
    first_row: dict[tuple[object, ...], int] = {}
    errors: dict[int, CellErrors] = {}
    for index, row in enumerate(rows):
        cells: CellErrors = {}
        sample = row.sample.strip()
        if not sample:
            cells["sample"] = ["Enter the sample these results are of."]
        else:
            target = targets[row.sample]
            if isinstance(target, ValidationError):
                cells["sample"] = target.message_dict["sample"]
            else:
                key = target_key(target)
                if key in first_row:
                    cells["sample"] = [
                        f"{sample} is already on row {first_row[key] + 1}: one row per sample."
                    ]
                else:
                    first_row[key] = index
            if not row.results:
                cells.setdefault("sample", []).append(f"No result entered for {sample}.")
        for item in row.results:
            analyte = analytes.get(item.analyte)
            if analyte is None:
                cells[item.analyte] = [f"Assay {assay.code} has no analyte '{item.analyte}'."]
                continue
            try:
                result_check(analyte, item)
            except ValidationError as exc:
                cells.setdefault(analyte.code, []).extend(exc.messages)
        if cells:
            errors[index] = cells
    return errors


def worksheet_errors(
    *,
    assay: AssayDefinition,
    rows: list[WorksheetRow],
    started_at: datetime,
    ended_at: datetime | None = None,
    backdate_reason: str = "",
    instrument: Instrument | None = None,
    reagent_lots: Iterable[ReagentLot] = (),
    reference_standard: ReferenceStandard | None = None,
) -> tuple[CellErrors, dict[int, CellErrors]]:
    """Everything `worksheet_record` would refuse, all at once and writing nothing: the run's
    errors by field, and each row's by cell (a technician checks the sheet before saving it)."""
    fields: CellErrors = {}
    if not rows:
        fields["rows"] = ["Enter at least one sample and its results."]
    elif len(rows) > WORKSHEET_MAX_ROWS:
        fields["rows"] = [
            f"A worksheet holds at most {WORKSHEET_MAX_ROWS} samples; enter the others on another."
        ]
    try:
        check_run_context(
            assay=assay,
            started_at=started_at,
            ended_at=ended_at,
            backdate_reason=backdate_reason,
            instrument=instrument,
            reagent_lots=list(reagent_lots),
            reference_standard=reference_standard,
        )
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            fields.setdefault(key, []).extend(messages)
    return fields, worksheet_row_errors(assay, rows)


@transaction.atomic
def worksheet_record(
    *,
    actor: User,
    assay_code: str,
    rows: Iterable[WorksheetRow],
    started_at: datetime,
    ended_at: datetime | None = None,
    instrument: Instrument | None = None,
    reagent_lots: Iterable[ReagentLot] = (),
    backdate_reason: str = "",
    reference_standard: ReferenceStandard | None = None,
) -> AssayRun:
    """One assay on many samples, entered as a grid at the bench, recorded as one run by
    `run_record` (one transaction, one audit context), or refused whole with every row's errors
    (WorksheetRefused): a sheet is never saved in part (ALCOA+ complete; EU GMP Annex 11 §6,
    accuracy checks of manually entered data)."""
    require(can_enter_results, actor, ENTERS_RESULTS)
    assay = current_assay(assay_code)
    rows = [
        WorksheetRow(
            sample=row.sample,
            results=[dataclasses.replace(item, sample=row.sample) for item in row.results],
        )
        for row in rows
    ]
    reagent_lots = list(reagent_lots)
    fields, row_errors = worksheet_errors(
        assay=assay,
        rows=rows,
        started_at=started_at,
        ended_at=ended_at,
        backdate_reason=backdate_reason,
        instrument=instrument,
        reagent_lots=reagent_lots,
        reference_standard=reference_standard,
    )
    if fields or row_errors:
        raise WorksheetRefused(fields=fields, rows=row_errors)
    return run_record(
        actor=actor,
        source=AssayRun.Source.MANUAL,
        assay_code=assay.code,
        results=[item for row in rows for item in row.results],
        started_at=started_at,
        ended_at=ended_at,
        instrument=instrument,
        reagent_lots=reagent_lots,
        backdate_reason=backdate_reason,
        reference_standard=reference_standard,
    )


def subjects_of(runs: Iterable[int]) -> tuple[list[int], list[int]]:
    """The lots and culture batches the runs tested: (lot ids, culture batch ids)."""
    samples = RunSample.objects.filter(run__in=runs)
    lots = samples.filter(lot__isnull=False).values_list("lot", flat=True).distinct()
    batches = samples.filter(culture_batch__isnull=False).values_list("culture_batch", flat=True)
    return sorted(set(lots)), sorted(set(batches))


def run_review_content(run: AssayRun) -> dict[str, Any]:
    """What a reviewer's signature is bound to: the run and every result it holds."""
    return {
        "run": run.pk,
        "assay": run.assay.code,
        "instrument": run.instrument.code if run.instrument is not None else None,
        "started_at": run.started_at.isoformat(),
        "results": list(
            run.results.order_by("pk").values_list(
                "pk", "analyte__code", "value", "text_value", "unit", "qualifier", "replicate"
            )
        ),
    }


@transaction.atomic
def run_review(*, signer: Signer, run: AssayRun, reason: str = "Reviewed") -> AssayRun:
    """Second-person review of a run, signed (meaning: review): only a reviewed run counts
    toward release (EU GMP Annex 11 section 6 and chapter 6.17(vi); 21 CFR 211.194(a)(8)).
    Neither the run's operator nor the person who recorded it may review it."""
    actor = signer.user
    require(can_review_runs, actor, REVIEWS_RUNS)
    if signer.meaning != Signature.Meaning.REVIEW:
        raise ValidationError("A run is reviewed with a signature meaning review.")
    run = (
        AssayRun.objects.select_for_update(of=("self",))
        .select_related("assay", "instrument")
        .get(pk=run.pk)
    )
    _refuse_if_locked(run)
    if actor.pk in (run.operator_id, run.created_by_id):
        raise ValidationError(
            "A second person reviews a run: not the analyst who performed or recorded it."
        )
    if run.status != AssayRun.Status.RECORDED:
        raise ValidationError(f"{run} is {run.get_status_display().lower()}: nothing to review.")
    require_qualified(actor, run.assay.code, Step.REVIEW, field="username")
    if NtaRunSummary.objects.filter(run=run, dilution_pending=True).exists():
        raise ValidationError(
            f"The NTA file of {run} does not record its dilution factor: an analyst records it, "
            "with a reason, before the run is reviewed."
        )
    sign(signer=signer, record=run, content=run_review_content(run), comment=reason)
    run = move_status(
        run, to="reviewed", actor=actor, reason=reason, extra_fields={"reviewed_by": actor}
    )
    announce(run_status_changed, run_id=run.pk, status=run.status)
    return run


def _refuse_if_locked(run: AssayRun) -> None:
    for lot in ExosomeLot.objects.filter(assay_samples__run=run).distinct():
        check_lot_not_locked(lot)


@transaction.atomic
def run_invalidate(
    *, actor: User, run: AssayRun, reason: str, investigation: Any = None
) -> AssayRun:
    """Invalidate a run; its metrics no longer count, which is announced once committed.

    `investigation`: the deviation whose signed closure invalidates the run (release); the
    layers above may refuse any other invalidation (assays.events.run_invalidation_requested)."""
    require(can_invalidate_runs, actor, INVALIDATES_RUNS)
    _refuse_if_locked(run)
    for _, refusal in run_invalidation_requested.send(
        sender=AssayRun, run=run, investigation=investigation
    ):
        if refusal:
            raise ValidationError(refusal)
    run = move_status(
        run, to="invalidated", actor=actor, reason=reason, extra_fields={"status_reason": reason}
    )
    announce(run_status_changed, run_id=run.pk, status=run.status)
    return run


# --- Instrument files ------------------------------------------------------------------------


def store_original(data: bytes) -> str:
    """Keep the bytes as the original, under their SHA-256 (lims.file_store: written to a
    temporary file, fsync'ed, checked and renamed atomically); returns it."""
    return file_store.store(data, folder=InstrumentFile.STORE_FOLDER)


def instrument_file_preview(
    *,
    data: bytes,
    filename: str,
    assay: AssayDefinition,
    format_hint: str = "",
    sample_identifier: str = "",
    sample_map: Mapping[str, str] | None = None,
    excluded: Mapping[str, str] | None = None,
    plate_layout: Mapping[str, Any] | None = None,
) -> tuple[str, list[SampleRecord], sample_matching.Matching]:
    """Read a file and match its sample names to LIMS samples; writes nothing (the upload's
    confirmation page shows this). ParseError when the file cannot be read. With a
    ``plate_layout`` the wells are named as the layout names them (the layout decides what a
    well held), and those names are matched."""
    reading, records, matching = _read_and_match(
        data=data,
        filename=filename,
        assay=assay,
        format_hint=format_hint,
        sample_identifier=sample_identifier,
        sample_map=sample_map,
        excluded=excluded,
        plate_layout=plate_layout,
    )
    return reading.fmt, records, matching


def _read_and_match(
    *,
    data: bytes,
    filename: str,
    assay: AssayDefinition,
    format_hint: str,
    sample_identifier: str,
    sample_map: Mapping[str, str] | None,
    excluded: Mapping[str, str] | None,
    plate_layout: Mapping[str, Any] | None,
) -> tuple[FileReading, list[SampleRecord], sample_matching.Matching]:
    reading = read_file(data, filename=filename, format_hint=format_hint)
    records = reading.records
    if plate_layout:
        layout, _ = plate_layout_for(records, assay=assay, layout=plate_layout)
        records = relabel_by_layout(records, layout)
    matching = sample_matching.match_samples(
        records, assay, mapping=sample_map, excluded=excluded, sample=sample_identifier
    )
    return reading, records, matching


def instrument_file_check(
    *,
    data: bytes,
    filename: str,
    assay_code: str,
    instrument: Instrument | None,
    uploaded_by: User | None = None,
    reagent_lots: Iterable[ReagentLot] = (),
    plate_layout: dict[str, Any] | None = None,
) -> AssayDefinition:
    """What can be checked of an upload before its samples are read: who sends it, its size,
    the assay, its plate layout (refused with its errors if unusable), the reagent lots and the
    instrument (named, qualified, in service, calibrated). Writes nothing; returns the current
    assay. The browser's upload checks these before it shows the file's samples, the receipt
    checks them again."""
    if uploaded_by is not None:
        require(can_enter_results, uploaded_by, ENTERS_RESULTS)
    if len(data) > settings.FILE_UPLOAD_MAX_BYTES:
        raise ValidationError({"file": "The file is larger than the upload limit."})
    if not data:
        raise ValidationError({"file": "The file is empty."})
    try:
        # A zip container (xlsx) that would inflate beyond the limits is refused at the door
        # (its directory only is read), not left for a worker to choke on.
        check_file_bounds(data, filename=filename)
    except ArchiveTooLarge as exc:
        raise ValidationError({"file": ValidationError(exc.detail, code=exc.code)}) from exc
    except ParseError:
        pass  # a damaged container: the parse says so, on the file's record
    assay = current_assay(assay_code)
    if plate_layout:
        check_plate_layout(assay, plate_layout)
    reagent_lots = list(reagent_lots)
    check_reagents_usable(reagent_lots)
    check_required_reagents(assay, reagent_lots)
    # A file names no reference standard: an assay reported against one is entered otherwise.
    check_reference_usable(None, assay=assay, started_at=timezone.now())
    if instrument is None:
        raise ValidationError(
            {
                "instrument": "Name the instrument that produced the file: its checks (qualified "
                "for the assay, in service, calibrated) are never skipped."
            }
        )
    if assay.code not in instrument.assay_codes:
        raise ValidationError(
            {"assay": f"Instrument {instrument} is not qualified for assay {assay.code}."}
        )
    check_instrument_usable(instrument)
    return assay


def instrument_file_receive(
    *,
    data: bytes,
    filename: str,
    assay_code: str,
    instrument: Instrument | None = None,
    sample_identifier: str = "",
    sample_map: Mapping[str, str] | None = None,
    excluded: Mapping[str, str] | None = None,
    format_hint: str = "",
    uploaded_by: User | None = None,
    reagent_lots: Iterable[ReagentLot] = (),
    plate_layout: dict[str, Any] | None = None,
) -> InstrumentFile:
    """Keep the original file and queue its parsing. Checks what can be checked up front.

    The file names its instrument, always: the instrument checks (qualified for the assay, in
    service, calibrated) are never skipped. Its samples are matched by the names the file gives
    them (assays.sample_matching: `sample_map` maps a name the LIMS does not know, `excluded`
    leaves one out with a reason, `sample_identifier` names the one sample of a file that does
    not name it); a name left unattributed refuses the file, with the names listed. The
    attribution is kept with the file and the run parsed from it follows it. The reagent lots
    the run used are kept with the file and named by the run parsed from it.
    ``plate_layout`` (a plate assay's layout chosen or edited on upload) is checked here: a
    layout that cannot be used is refused with its errors before anything is kept; the wells'
    names are then the layout's, and those are the names matched.
    """
    reagent_lots = list(reagent_lots)
    assay = instrument_file_check(
        data=data,
        filename=filename,
        assay_code=assay_code,
        instrument=instrument,
        uploaded_by=uploaded_by,
        reagent_lots=reagent_lots,
        plate_layout=plate_layout,
    )
    attribution: dict[str, Any] = {}
    asm_sha256 = ""
    try:
        # Slow I/O, outside any transaction.
        reading, _, matching = _read_and_match(
            data=data,
            filename=filename,
            assay=assay,
            format_hint=format_hint,
            sample_identifier=sample_identifier,
            sample_map=sample_map,
            excluded=excluded,
            plate_layout=plate_layout,
        )
    except ParseError:
        # Unreadable: kept and failed with the reason on its record, like any bad file.
        if sample_identifier:
            resolve_sample(sample_identifier, assay)
    else:
        if not matching.ok:
            raise matching.refusal()
        attribution = matching.as_record()
        if reading.asm_document is not None:
            # The worker records the run from this reading, not from a second conversion.
            asm_sha256 = kept_readings.keep(reading.asm_document)
    # Slow I/O outside the transaction; the content-addressed write is idempotent.
    digest = store_original(data)
    with transaction.atomic():
        record = InstrumentFile(
            sha256=digest,
            size=len(data),
            original_name=filename[:255],
            format_hint=format_hint,
            sample_identifier=sample_identifier.strip(),
            sample_map=attribution,
            assay_code=assay.code,
            reagent_lot_ids=[lot.pk for lot in reagent_lots],
            instrument=instrument,
            uploaded_by=uploaded_by,
            plate_layout=plate_layout or {},
            asm_sha256=asm_sha256,
        )
        measured_by = instrument.code if instrument else None
        with audit_context(
            actor=uploaded_by, instrument=measured_by, reason="Instrument file received"
        ):
            record.save()
        # Parsed by a task once committed (assays.receivers).
        announce(instrument_file_received, file_id=str(record.pk))
    return record


def instrument_file_parse(file_id: str | uuid.UUID) -> InstrumentFile:
    """Parse a queued file into a run and its results, or mark it failed with the reason.

    Safe to run twice (a redelivered task, two workers): the row lock and the status check
    let only the first one record a run.
    """
    record = InstrumentFile.objects.select_related("instrument", "uploaded_by").get(pk=file_id)
    if record.status != InstrumentFile.Status.QUEUED:
        return record
    try:
        data = record.original_bytes()
    except file_store.OriginalUnavailable as exc:
        # The bytes never arrived whole (a writer killed mid-write) or changed since: nothing
        # to parse, and waiting will not bring them; the file fails with the reason.
        return _mark_failed(record, exc)
    computation: PlateComputation | None = None
    try:
        assay = current_assay(record.assay_code)
        reading = read_file(
            data,
            filename=record.original_name,
            format_hint=record.format_hint,
            asm_document=kept_readings.kept(record.asm_sha256),
        )
        fmt, records = reading.fmt, reading.records
        named = records
        if record.plate_layout:
            computation = plate_from_records(records, assay=assay, layout=record.plate_layout)
            named = relabel_by_layout(records, computation.outcome.layout)
        if record.sample_map:
            attribution = sample_matching.attribution_of(record.sample_map)
        else:  # received before files named their samples: its one sample, as then
            matching = sample_matching.match_samples(named, assay, sample=record.sample_identifier)
            if not matching.ok:
                raise matching.refusal()
            attribution = matching.attribution()
        if computation is not None:
            items = plate_result_inputs(computation, plate_samples(computation, attribution))
            if computation.by_analyte:
                # A multiplex plate keeps each sample well's MFI beside the concentrations.
                items += results_from_records(
                    named,
                    fmt=fmt,
                    assay=assay,
                    attribution=attribution,
                    source=record.original_name,
                )
        else:
            items = results_from_records(
                records, fmt=fmt, assay=assay, attribution=attribution, source=record.original_name
            )
    except (ParseError, ValidationError) as exc:
        return _mark_failed(record, exc)
    # What an NTA file says beyond its results (printed beside recomputed values, warnings,
    # an unrecorded dilution) is kept with the run (assays.nta_models).
    nta_export = reading.nta_export
    try:
        with transaction.atomic():
            locked = InstrumentFile.objects.select_for_update().get(pk=record.pk)
            if locked.status != InstrumentFile.Status.QUEUED:
                return locked
            run = run_record(
                assay_code=locked.assay_code,
                results=items,
                source=AssayRun.Source.FILE,
                started_at=locked.created_at,
                actor=locked.uploaded_by,
                instrument=locked.instrument,
                reagent_lots=ReagentLot.objects.filter(pk__in=locked.reagent_lot_ids),
                source_file=locked,
            )
            if computation is not None:
                plate_analysis_record(run=run, computation=computation, source_file=locked)
            if nta_export is not None:
                nta_summary_record(run=run, export=nta_export)
            locked.status = InstrumentFile.Status.PARSED
            locked.detected_format = fmt
            locked.parsed_at = timezone.now()
            with audit_context(
                actor=locked.uploaded_by,
                reason="File parsed",
                instrument=locked.instrument.code if locked.instrument else None,
            ):
                locked.save(update_fields=["status", "detected_format", "parsed_at"])
            return locked
    except ValidationError as exc:
        return _mark_failed(record, exc)


def check_plate_layout(assay: AssayDefinition, layout: dict[str, Any]) -> plate.PlateLayout:
    """The layout, or a ValidationError on ``plate_layout`` naming each part that is wrong
    ("groups[2].dilution: ..."); a layout for an assay that is no plate assay is refused."""
    if not assay.plate_layouts:
        raise ValidationError({"plate_layout": f"Assay {assay.code} is not a plate assay."})
    try:
        parsed = plate.PlateLayout.from_dict(layout)
    except plate.LayoutError as exc:
        raise ValidationError(
            {"plate_layout": [f"{key}: {m}" for key, ms in exc.errors.items() for m in ms]}
        ) from exc
    return parsed


def plate_samples(computation: PlateComputation, attribution: Mapping[str, str]) -> dict[str, str]:
    """The LIMS sample of each of the layout's sample names (``attribution``, from
    assays.sample_matching over the wells named by the layout). A name without one refuses
    the file: its values are never put on another sample."""
    names = list(dict.fromkeys(g.name for g in computation.outcome.samples))
    missing = [name for name in names if name not in attribution]
    if missing:
        raise ValidationError(
            {
                "plate_layout": f"The plate's sample names {', '.join(missing)} are attributed "
                "to no LIMS sample: map each to its lot, vial or batch."
            }
        )
    return {name: attribution[name] for name in names}


@transaction.atomic
def plate_analysis_record(
    *, run: AssayRun, computation: PlateComputation, source_file: InstrumentFile | None
) -> PlateAnalysis:
    """Keep how a plate run was computed with the run. A plate that is not usable (no curve,
    parameters not determined, a positive product control outside 50-200 %, a well missing)
    makes the run invalid with those reasons, whatever the assay's own rules judged from the
    mean of its values: each spike is judged on its own (USP <85>)."""
    outcome = computation.outcome
    curve = outcome.curve
    parameters: dict[str, Any] = curve.parameters if curve is not None else {}
    statistics: dict[str, Any] = _finite(curve.statistics) if curve is not None else {}
    if computation.by_analyte:  # a multiplex plate: one curve per analyte
        parameters = {
            a: o.curve.parameters for a, o in computation.by_analyte.items() if o.curve is not None
        }
        statistics = {
            a: _finite(o.curve.statistics)
            for a, o in computation.by_analyte.items()
            if o.curve is not None
        }
    failures = computation.failures
    analysis = PlateAnalysis(
        run=run,
        source_file=source_file,
        layout=(computation.layout or outcome.layout).to_dict(),
        layout_origin=computation.layout_origin[:200],
        readings=computation.readings,
        fit=outcome.layout.fit,
        parameters=parameters,
        statistics=statistics,
        failures=failures,
        blank_mean=outcome.blank_mean,
        wavelengths_nm=computation.wavelengths_nm,
        algorithm_version=ALGORITHM_VERSIONS["plate.compute"],
        created_by=run.created_by,
    )
    analysis.full_clean()
    with audit_context(actor=run.operator, reason="Plate computed"):
        analysis.save()
    if failures and run.status != AssayRun.Status.INVALIDATED:
        reason = "Plate not usable: " + "; ".join(failures)
        move_status(
            run,
            to="invalidated",
            actor=system_user(),
            reason=reason,
            extra_fields={"status_reason": reason},
        )
    return analysis


def _finite(values: dict[str, float]) -> dict[str, float | None]:
    return {k: (v if math.isfinite(v) else None) for k, v in values.items()}


def instrument_file_fail(*, file_id: str | uuid.UUID, reason: str) -> InstrumentFile:
    """A queued file the system gave up on (its parse ran past its time limit) ends `failed`
    with the reason, never `queued` forever. A file already parsed or failed is left as is."""
    record = InstrumentFile.objects.select_related("instrument", "uploaded_by").get(pk=file_id)
    return _mark_failed(record, RuntimeError(reason))


def _mark_failed(record: InstrumentFile, exc: Exception) -> InstrumentFile:
    message = str(exc) if not isinstance(exc, ValidationError) else "; ".join(exc.messages)
    with transaction.atomic():
        locked = InstrumentFile.objects.select_for_update().get(pk=record.pk)
        if locked.status != InstrumentFile.Status.QUEUED:
            return locked
        locked.status = InstrumentFile.Status.FAILED
        locked.error = message[:2000]
        with audit_context(
            actor=locked.uploaded_by,
            reason="File could not be parsed",
            instrument=locked.instrument.code if locked.instrument else None,
        ):
            locked.save(update_fields=["status", "error"])
    return locked
