"""Writes of the NTA run reading (assays.nta_models): the file's values at parse time, and the
dilution factor an analyst records when the file says "Not recorded" (DOMAIN.md §4)."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction

from assays.events import run_recorded
from assays.models import AssayRun, NtaDilutionRecord, NtaRunSummary
from assays.parsers.nanosight import NtaExport, NtaVideo
from batches.models import ExosomeLot
from batches.services import check_lot_not_locked
from lims.audit import audit_context
from lims.events import announce
from lims.roles import ANALYST, has_role, require

if TYPE_CHECKING:
    from lims.models import User

RECORDS_DILUTION = "Only analysts record a dilution factor the NTA file left out."
_STATISTICS = ("mean_nm", "mode_nm", "sd_nm", "d10_nm", "d50_nm", "d90_nm", "concentration_per_ml")


def can_record_nta_dilution(user: Any) -> bool:
    """An analyst records the factor: it changes a reportable concentration (a GMP correction)."""
    return bool(user.is_authenticated and user.is_active and has_role(user, ANALYST))


def _video_row(video: NtaVideo) -> dict[str, Any]:
    return {
        "name": video.name,
        "printed": {s: getattr(video.reported, s) for s in _STATISTICS},
        "recomputed": {s: float(getattr(video, s)) for s in _STATISTICS},
        "particles_per_frame": video.particles_per_frame,
        "warnings": dict(video.warnings),
        "alerts": video.alerts,
    }


def nta_summary_fields(export: NtaExport) -> dict[str, Any]:
    """The NtaRunSummary fields of a parsed export (no database access)."""
    return {
        "software_version": export.software_version[:80],
        "cumulative_at": export.cumulative_at,
        "dilution_in_file": export.dilution_factor if export.dilution_recorded else None,
        "dilution_pending": not export.dilution_recorded,
        "videos": [_video_row(video) for video in export.videos],
        "disagreements": [
            {"video": video.name, **asdict(d), "difference": d.difference}
            for video in export.videos
            for d in video.disagreements
        ],
        "notes": list(export.notes),
    }


def nta_summary_record(*, run: AssayRun, export: NtaExport) -> NtaRunSummary:
    """Keep what the run's file says beside its results; called in the transaction that records
    the run (assays.services.instrument_file_parse)."""
    summary = NtaRunSummary(run=run, created_by=run.created_by, **nta_summary_fields(export))
    summary.full_clean()
    instrument = run.instrument.code if run.instrument is not None else None
    with audit_context(actor=run.created_by, instrument=instrument, reason="NTA file read"):
        summary.save()
    return summary


@transaction.atomic
def nta_dilution_record(
    *, actor: User, run: AssayRun, dilution_factor: float, reason: str
) -> NtaDilutionRecord:
    """Record the dilution factor of an NTA run whose file says "Not recorded", with a reason.

    The run then counts again: its concentration is the file's (unadjusted) value times this
    factor, computed anew once committed. Refused for a file that states its factor (the file is
    the record), a run already reviewed or invalidated, a released lot, without a reason, or by
    anyone but an analyst. A second record supersedes the first and is audited alike.
    """
    require(can_record_nta_dilution, actor, RECORDS_DILUTION)
    errors: dict[str, str] = {}
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = "Say why this is the dilution factor (e.g. the bench record it is from)."
    if not isinstance(dilution_factor, int | float) or not math.isfinite(dilution_factor):
        errors["dilution_factor"] = "Enter the dilution factor as a number."
    elif dilution_factor < 1.0:
        errors["dilution_factor"] = "A dilution factor is at least 1 (1 = undiluted)."
    if errors:
        raise ValidationError(errors)
    run = AssayRun.objects.select_for_update(of=("self",)).get(pk=run.pk)
    summary = NtaRunSummary.objects.select_for_update().filter(run=run).first()
    if summary is None:
        raise ValidationError(f"{run} was not read from a NanoSight file: no dilution to record.")
    if summary.dilution_in_file is not None:
        raise ValidationError(
            f"The file of {run} states its dilution factor (×{summary.dilution_in_file:g}): "
            "the file is the record."
        )
    if run.status != AssayRun.Status.RECORDED:
        raise ValidationError(
            f"{run} is {run.get_status_display().lower()}: its dilution can no longer change."
        )
    for lot in ExosomeLot.objects.filter(assay_samples__run=run).distinct():
        check_lot_not_locked(lot)
    record = NtaDilutionRecord(
        run=run, dilution_factor=float(dilution_factor), reason=reason, created_by=actor
    )
    record.full_clean()
    with audit_context(actor=actor, reason=f"NTA dilution factor recorded: {reason}"):
        record.save()
        if summary.dilution_pending:
            summary.dilution_pending = False
            summary.save(update_fields=["dilution_pending"])
        AssayRun.objects.filter(pk=run.pk).update(metrics_computed_at=None)
    announce(run_recorded, run_id=run.pk)  # its metrics again, with the factor
    return record


def current_dilution(run: AssayRun) -> NtaDilutionRecord | None:
    """The dilution record in force for the run (the newest), if any."""
    return NtaDilutionRecord.objects.filter(run=run).order_by("-created_at", "-pk").first()
