"""Flow cytometry runs from their FCS files: the sample tube and its isotype/unstained control.

The assay definition carries the gating (``AssayDefinition.flow_gating``, assays.qc.flow): a
parent gate on two channels, each marker's channel, the control percentile. Both originals are
kept byte for byte (ALCOA+ original), % positive per marker and the event count become the
run's results, and a ``flow.gate`` metric records the gate counts, each marker's threshold and
both files, so the run page can redraw the histograms and the gate from the originals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from assays import metrics
from assays.inputs import ResultInput
from assays.models import AssayDefinition, AssayRun, Instrument, InstrumentFile, QCMetric
from assays.parsers import ParseError, fcs
from assays.qc import flow
from assays.sample_targets import resolve_sample
from assays.services import (
    ENTERS_RESULTS,
    check_instrument_usable,
    current_assay,
    run_record,
    store_original,
)
from batches.models import ReagentLot
from lims.audit import audit_context
from lims.roles import can_enter_results, require

if TYPE_CHECKING:
    from lims.models import User

GATE_METRIC = "flow.gate"
ALGORITHM = "flow.gated_percent_positive"
# The code of a refusal because a file is not a readable FCS file (assays.parsers.fcs
# ParseError): the request itself is wrong, so the instrument API answers it with 400.
UNREADABLE = "unreadable_file"


@dataclass(frozen=True)
class FcsUpload:
    """One uploaded FCS file: its name as sent and its bytes."""

    name: str
    data: bytes


def assay_gating(assay: AssayDefinition) -> flow.FlowGating:
    """The gating the assay version carries, or a field error saying it has none."""
    if not assay.flow_gating:
        raise ValidationError(
            {"assay": f"Assay {assay} carries no flow gating: it does not take FCS files."}
        )
    try:
        return flow.FlowGating.from_json(assay.flow_gating)
    except ValueError as exc:
        raise ValidationError({"assay": f"Assay {assay}: flow gating: {exc}."}) from exc


def _parsed(upload: FcsUpload, field: str) -> fcs.FcsData:
    if not upload.data:
        raise ValidationError({field: "The file is empty."})
    if len(upload.data) > settings.FILE_UPLOAD_MAX_BYTES:
        raise ValidationError({field: "The file is larger than the upload limit."})
    try:
        return fcs.parse(upload.data)
    except ParseError as exc:
        raise ValidationError(
            {field: ValidationError(f"{upload.name}: {exc.detail}", code=UNREADABLE)}
        ) from exc


def with_marker_channels(gating: flow.FlowGating, channels: Mapping[str, str]) -> flow.FlowGating:
    """The gating with some markers' channels named for this run (a panel whose $PnS labels do
    not name the markers: ``{"CD73": "BL1-A"}``, a $PnN or $PnS). Only the gating's own markers
    may be named: a mapping never adds a marker to the assay's panel."""
    known = {m.marker for m in gating.markers}
    unknown = sorted(set(channels) - known)
    if unknown:
        raise ValidationError(
            {
                "markers": f"{', '.join(unknown)}: not a marker of the assay's gating "
                f"({', '.join(sorted(known))})."
            }
        )
    return dataclasses.replace(
        gating,
        markers=tuple(
            flow.MarkerChannel(m.marker, channels.get(m.marker, "").strip() or m.channel)
            for m in gating.markers
        ),
    )


def channels_of(data: fcs.FcsData) -> list[tuple[str, str]]:
    return [(c.name, c.label) for c in data.channels]


def analyse(
    sample: fcs.FcsData, control: fcs.FcsData, gating: flow.FlowGating
) -> flow.FlowAnalysis:
    """The gating applied to both files (assays.qc.flow.analyse_events)."""
    return flow.analyse_events(
        sample,
        control,
        gating,
        sample_channels=channels_of(sample),
        control_channels=channels_of(control),
    )


def flow_run_record(
    *,
    actor: User | None,
    assay_code: str,
    sample_identifier: str,
    sample_file: FcsUpload,
    control_file: FcsUpload,
    instrument: Instrument | None = None,
    started_at: datetime | None = None,
    reagent_lots: Iterable[ReagentLot] = (),
    backdate_reason: str = "",
    marker_channels: Mapping[str, str] | None = None,
    external_id: str = "",
) -> AssayRun:
    """Record a flow run from its sample and control FCS files, or refuse it whole.

    ``actor`` is the person uploading in the browser, or None when the instrument posts through
    the API (its key names ``instrument``). ``marker_channels`` names the channel of markers
    whose $PnS labels do not name them (:func:`with_marker_channels`).

    Refusals are field errors: ``assay`` (no gating), ``markers`` (not the gating's),
    ``sample_file``/``control_file`` (not FCS or truncated, with code ``UNREADABLE``; a channel
    the gating names is missing, nothing in the gate).
    """
    if actor is not None:
        require(can_enter_results, actor, ENTERS_RESULTS)
    elif instrument is None:
        raise ValidationError(
            {"instrument": "A flow run is recorded by a person or an instrument."}
        )
    assay = current_assay(assay_code)
    gating = assay_gating(assay)
    if marker_channels:
        gating = with_marker_channels(gating, marker_channels)
    resolve_sample(sample_identifier, assay)
    if instrument is not None:
        if assay.code not in instrument.assay_codes:
            raise ValidationError(
                {"instrument": f"Instrument {instrument} is not qualified for assay {assay.code}."}
            )
        check_instrument_usable(instrument)
    # Parsing and gating (slow for a large file) before any transaction.
    sample = _parsed(sample_file, "sample_file")
    control = _parsed(control_file, "control_file")
    for data, field in ((sample, "sample_file"), (control, "control_file")):
        try:
            flow.gate_mask(data, gating.gate)
        except ValueError as exc:
            raise ValidationError({field: str(exc)}) from exc
        for marker, channel in (marker_channels or {}).items():
            try:
                data.channel_index(channel)
            except KeyError:
                raise ValidationError(
                    {
                        "markers": f"{marker}: the {field.split('_')[0]} file has no channel "
                        f"{channel!r} ($PnN or $PnS)."
                    }
                ) from None
    try:
        analysis = analyse(sample, control, gating)
    except ValueError as exc:
        field = "control_file" if "control" in str(exc) else "sample_file"
        raise ValidationError({field: str(exc)}) from exc

    analytes = set(assay.analytes.values_list("code", flat=True))
    results = [
        ResultInput(
            sample=sample_identifier,
            analyte=f"{m.marker}_pct",
            value=m.percent_positive,
            unit="percent",
            target=m.channel[:60],
        )
        for m in analysis.markers
        if f"{m.marker}_pct" in analytes
    ]
    if "event_count" in analytes:
        results.append(
            ResultInput(sample=sample_identifier, analyte="event_count", value=sample.event_count)
        )
    if not results:
        raise ValidationError(
            {"assay": f"None of the gating's markers is an analyte of assay {assay.code}."}
        )
    digests = [store_original(sample_file.data), store_original(control_file.data)]
    with transaction.atomic():
        records = []
        for upload, digest, role in (
            (sample_file, digests[0], "sample"),
            (control_file, digests[1], gating.control),
        ):
            record = InstrumentFile(
                sha256=digest,
                size=len(upload.data),
                original_name=upload.name[:255],
                format_hint="fcs",
                detected_format="fcs",
                sample_identifier=sample_identifier,
                assay_code=assay.code,
                reagent_lot_ids=[lot.pk for lot in reagent_lots],
                instrument=instrument,
                uploaded_by=actor,
                status=InstrumentFile.Status.PARSED,
                parsed_at=timezone.now(),
            )
            with audit_context(
                actor=actor,
                instrument=instrument.code if instrument is not None else None,
                reason=f"Flow {role} file received and read",
            ):
                record.save()
            records.append(record)
        run = run_record(
            assay_code=assay.code,
            results=results,
            source=AssayRun.Source.FILE,
            started_at=started_at or timezone.now(),
            actor=actor,
            instrument=instrument,
            reagent_lots=reagent_lots,
            source_file=records[0],
            backdate_reason=backdate_reason,
            external_id=external_id,
        )
        _store_gate_metric(run, analysis, gating, records)
    return run


def _store_gate_metric(
    run: AssayRun,
    analysis: flow.FlowAnalysis,
    gating: flow.FlowGating,
    files: list[InstrumentFile],
) -> None:
    sample = run.samples.get()
    inputs = list(run.results.filter(analyte__code__endswith="_pct"))
    details = {
        "sample_file": str(files[0].pk),
        "control_file": str(files[1].pk),
        "gating": gating.to_json(),
        "sample_events": analysis.sample_events,
        "sample_in_gate": analysis.sample_in_gate,
        "control_events": analysis.control_events,
        "control_in_gate": analysis.control_in_gate,
        "markers": [
            {
                "marker": m.marker,
                "channel": m.channel,
                "threshold": m.threshold,
                "positive": m.positive,
                "parent": m.parent,
                "percent_positive": m.percent_positive,
            }
            for m in sorted(analysis.markers, key=_panel_order)
        ],
        "unmeasured": list(analysis.unmeasured),
        "identity_passed": analysis.verdict.passed,
    }
    metrics.store(
        [
            metrics.Computed(
                GATE_METRIC,
                100.0 * analysis.sample_in_gate / analysis.sample_events,
                "percent",
                ALGORITHM,
                inputs,
                details,
                [files[0].pk, files[1].pk],
            )
        ],
        run=run,
        lot=sample.lot,
        culture_batch=sample.culture_batch,
    )


_PANEL = [marker for criterion in flow.ISCT_DEFAULT_SPEC for marker in criterion.markers]


def _panel_order(statistic: flow.MarkerStatistic) -> tuple[int, str]:
    """ISCT order (positive markers first), then any other marker by name: the JSON column
    keeps no key order, so the gating's own order cannot be read back."""
    if statistic.marker in _PANEL:
        return _PANEL.index(statistic.marker), ""
    return len(_PANEL), statistic.marker


def gate_metric(run: AssayRun) -> QCMetric | None:
    """The run's ``flow.gate`` metric (the newest), if it was recorded from FCS files."""
    return run.metrics.filter(code=GATE_METRIC).order_by("-computed_at").first()
