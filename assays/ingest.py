"""From an instrument file's bytes to the results of one run (no database writes here).

The parsers turn bytes into plain data; this module names which assay analyte each parsed value
is, so `services.run_record` can validate and store them like any other result.

Bounded work: a zip container (xlsx) is checked against `archive_limits()` (settings
ARCHIVE_MAX_UNCOMPRESSED_BYTES, ARCHIVE_MAX_RATIO, ARCHIVE_MAX_MEMBERS) before any reader
inflates it, here and again by the parsers themselves; the time a parse may take is the
Celery soft time limit of `assays.tasks.parse_instrument_file`.
"""

import hashlib
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings

from assays import plate_files
from assays.inputs import ResultInput
from assays.models import AssayDefinition
from assays.parsers import ParseError, detect, fcs, nanosight
from assays.parsers.archive import ArchiveLimits, ArchiveTooLarge, check_archive
from assays.parsers.file_samples import (
    FileValue,
    Role,
    SampleRecord,
    records_from_asm,
    single_sample,
)
from assays.qc import curves, plate, suitability

LIMIT_QUALIFIERS = (curves.LLOQ_FLAG, curves.ULOQ_FLAG, plate.BELOW_LAMBDA)

__all__ = [
    "ArchiveTooLarge",
    "archive_limits",
    "FileReading",
    "check_file_bounds",
    "nanosight_export",
    "read_file",
    "records_from_file",
    "results_from_records",
]

# ASM result names (allotropy) → analyte codes of the catalogue. A value whose name is not here,
# or whose analyte the assay does not have, is not a result of that assay and is left out.
ASM_ANALYTES = {
    "viability": "viability",
    "viable cell density": "viable_cell_density",
    "total cell density": "total_cell_density",
    "total cell count": "total_cell_count",
    "absorbance": "absorbance",
    "cycle threshold result": "ct",
    "Net MFI": "net_mfi",
}

NTA_STATISTICS = {
    "mean_size": "mean_nm",
    "mode_size": "mode_nm",
    "sd_size": "sd_nm",
    "d10": "d10_nm",
    "d50": "d50_nm",
    "d90": "d90_nm",
    "concentration": "concentration_per_ml",
}
NTA_UNITS = {"concentration": "particle/mL"}
NTA_DISAGREES = "recomputed value differs"


@dataclass(frozen=True)
class FileReading:
    """What reading a file gave: its format and its samples as it names them, with what a
    later step needs of it so that the bytes are never read twice: the ASM document allotropy
    wrote (kept at receipt for the worker, assays.kept_readings), the NanoSight export (its
    dilution and per-video values kept with the run, assays.nta_services)."""

    fmt: str
    records: list[SampleRecord]
    asm_document: dict[str, Any] | None = None
    nta_export: nanosight.NtaExport | None = None


def records_from_file(
    data: bytes, *, filename: str, format_hint: str = ""
) -> tuple[str, list[SampleRecord]]:
    """(detected format, the file's samples as it names them), or ParseError saying why the
    file cannot be read (ArchiveTooLarge for a zip container beyond the limits, before anything
    inflates it). A NanoSight experiment or an FCS file is one sample the file does not name."""
    reading = read_file(data, filename=filename, format_hint=format_hint)
    return reading.fmt, reading.records


def read_file(
    data: bytes,
    *,
    filename: str,
    format_hint: str = "",
    asm_document: dict[str, Any] | None = None,
) -> FileReading:
    """`records_from_file`, keeping what the reading gave beyond the records. With
    ``asm_document`` (the document allotropy wrote from these same bytes at receipt), the
    conversion, most of the time a plate takes to ingest, is not done again."""
    limits = archive_limits()
    check_file_bounds(data, filename=filename)
    if asm_document is not None:
        return FileReading("asm", records_from_asm(asm_document), asm_document=asm_document)
    hint = format_hint.strip().lower()
    vendor = None
    if hint in ("nanosight", "fcs"):
        fmt = hint
    elif hint:
        fmt = "asm"
    else:
        fmt, vendor = detect(data, filename, limits=limits)
    if fmt == "nanosight":
        export = nanosight_export(data)
        return FileReading(fmt, single_sample(_from_nanosight(export)), nta_export=export)
    if fmt == "fcs":
        return FileReading(fmt, single_sample(_from_fcs(data)))
    # Imported only for an ASM file: importing allotropy takes about a second.
    from assays.parsers import asm  # noqa: PLC0415

    # allotropy's own output from the vendor file: its schema check is skipped (asm.convert).
    document = asm.convert(
        data, filename, vendor=hint or None, limits=limits, validate=False, detected=vendor
    )
    return FileReading(fmt, records_from_asm(document), asm_document=document)


# The NanoSight exports read last in this process, by the SHA-256 of their bytes: the worker
# that records a run from a file computes its metrics next, from the same bytes (the fraction
# in the size window, assays.metrics), and reads them once. Keyed by content, so never stale.
_NTA_EXPORTS: OrderedDict[str, nanosight.NtaExport] = OrderedDict()
_NTA_EXPORTS_KEPT = 8


def nanosight_export(data: bytes) -> nanosight.NtaExport:
    """``nanosight.parse(data)``, once per content in this process (ParseError likewise)."""
    key = hashlib.sha256(data).hexdigest()
    export = _NTA_EXPORTS.get(key)
    if export is None:
        export = nanosight.parse(data)
        _NTA_EXPORTS[key] = export
        while len(_NTA_EXPORTS) > _NTA_EXPORTS_KEPT:
            _NTA_EXPORTS.popitem(last=False)
    else:
        _NTA_EXPORTS.move_to_end(key)
    return export


def results_from_records(
    records: list[SampleRecord],
    *,
    fmt: str,
    assay: AssayDefinition,
    attribution: Mapping[str, str],
    source: str = "",
) -> list[ResultInput]:
    """The results of `assay` in a file's records, each under the LIMS sample its file name is
    attributed to (`attribution`: file identifier → LIMS identifier, from
    assays.sample_matching). Standards, blanks, controls and names left out give no result of a
    sample. NoResultsForAssay when nothing is left."""
    names = ASM_ANALYTES if fmt == "asm" else None
    analyte_names = {a.code: a.name for a in assay.analytes.all()}
    items = []
    for record in records:
        if record.role != Role.SAMPLE or record.identifier not in attribution:
            continue
        for value in record.values:
            code = names.get(value.name) if names is not None else value.name
            if code is None:
                continue
            items.append(_result_input(record, value, code, attribution[record.identifier]))
    return _results_of_assay(
        _with_wavelengths(items, analyte_names),
        assay,
        what=f"the file was read ({fmt})",
        source=source,
    )


def _result_input(record: SampleRecord, value: FileValue, code: str, sample: str) -> ResultInput:
    qualifier, flags = value.qualifier, list(value.flags)
    unit = value.unit
    target = value.target
    if code == "absorbance":
        if unit == "mAU":
            # allotropy labels plate-reader absorbance "mAU" although the exports (Gen5,
            # SoftMax Pro) report optical density: 0.5 in the file is 0.5 OD, not 0.0005.
            unit = ""
        if value.wavelength_nm is not None and not target:
            target = f"{value.wavelength_nm:g} nm"  # the wavelength the file says it read at
    if len(qualifier) > 10:  # an instrument's error text, not a <LLOQ-style qualifier
        flags, qualifier = [*flags, qualifier[:40]], "error"
    return ResultInput(
        sample=sample,
        analyte=code,
        value=value.value,
        unit=unit,
        qualifier=qualifier,
        replicate=value.replicate[:40],
        well=record.position[:10] if record.has_well else "",
        target=target[:60],
        source_sample=(record.label or record.identifier)[:120],
        flags=flags,
    )


_WAVELENGTH_IN_NAME = re.compile(r"(\d+(?:\.\d+)?)\s*nm\b")


def _with_wavelengths(items: list[ResultInput], analyte_names: dict[str, str]) -> list[ResultInput]:
    """A value read at another wavelength than the analyte's name states ("Absorbance 562 nm"
    read at 630 nm) is kept under the file's wavelength and flagged, never relabelled."""
    for item in items:
        stated = _WAVELENGTH_IN_NAME.search(analyte_names.get(item.analyte, ""))
        read = _WAVELENGTH_IN_NAME.search(item.target)
        if stated and read and float(stated[1]) != float(read[1]):
            item.flags = [*item.flags, f"read at {read[1]} nm, not {stated[1]} nm"[:40]]
    return items


def archive_limits() -> ArchiveLimits:
    """What a zip container (xlsx) may expand to, from settings."""
    return ArchiveLimits(
        max_uncompressed_bytes=settings.ARCHIVE_MAX_UNCOMPRESSED_BYTES,
        max_ratio=settings.ARCHIVE_MAX_RATIO,
        max_members=settings.ARCHIVE_MAX_MEMBERS,
    )


def check_file_bounds(data: bytes, *, filename: str) -> None:
    """ArchiveTooLarge for a zip container (xlsx) that would expand beyond the limits; cheap
    (the archive's directory only), so an upload is refused at once, before it is queued."""
    check_archive(data, filename=filename, limits=archive_limits())


class NoResultsForAssay(ParseError):
    """The data was read, but none of its values is a result of the assay it was sent for."""


def results_from_asm_document(
    document: dict, *, assay: AssayDefinition, sample: str
) -> list[ResultInput]:
    """The results of `assay` in an ASM document (as posted by an instrument or middleware).

    ParseError when the document is not ASM; NoResultsForAssay when it holds none of the
    assay's analytes. A posted document is checked against its ASM schema first.
    """
    from assays.parsers import asm  # noqa: PLC0415  (importing allotropy takes about a second)

    asm.validate_document(document)
    items = asm_result_inputs(document, sample)
    return _results_of_assay(items, assay, what="the ASM document was read", source="")


def _results_of_assay(
    items: list[ResultInput], assay: AssayDefinition, *, what: str, source: str
) -> list[ResultInput]:
    wanted = {a.code for a in assay.analytes.all()}
    kept = [item for item in items if item.analyte in wanted]
    if not kept:
        found = sorted({item.analyte for item in items}) or ["nothing"]
        raise NoResultsForAssay(
            f"{what} but none of its values is a result of assay {assay.code} "
            f"(it gives: {', '.join(found)}; assay expects: {', '.join(sorted(wanted))})",
            source=source,
        )
    return kept


def _from_nanosight(export: nanosight.NtaExport) -> list[FileValue]:
    """Per video, the values the file prints (the original record, DOMAIN.md §4), recomputed
    where it prints none; a value the recomputation does not reproduce is flagged (both are
    kept on the run's NTA reading, assays.nta_models.NtaRunSummary)."""
    values = []
    for video in export.videos:
        differing = {d.statistic for d in video.disagreements}
        for code, attribute in NTA_STATISTICS.items():
            printed = getattr(video.reported, attribute) is not None
            flags = () if printed else ("recomputed (not printed)",)
            if attribute in differing:
                flags = (*flags, NTA_DISAGREES)
            values.append(
                FileValue(
                    name=code,
                    value=video.reportable(attribute),
                    unit=NTA_UNITS.get(code, "nm"),
                    replicate=video.name,
                    flags=flags,
                )
            )
    return values


def _from_fcs(data: bytes) -> list[FileValue]:
    parsed = fcs.parse(data)
    return [FileValue(name="event_count", value=float(parsed.event_count), unit="")]


def asm_result_inputs(document: dict, sample: str) -> list[ResultInput]:
    """Every ASM value whose name maps to an analyte code (ASM_ANALYTES), for one sample (an
    ASM document posted for one named sample; a file's samples go through
    `results_from_records`)."""
    items = []
    for record in records_from_asm(document):
        for value in record.values:
            code = ASM_ANALYTES.get(value.name)
            if code is not None:
                items.append(_result_input(record, value, code, sample))
    return items


# --- Plate assays computed from the plate (issue 10 item 5) ---------------------------------


@dataclass
class PlateComputation:
    """A plate file computed with a layout: the outcome, the layout's origin, what was read."""

    outcome: plate.PlateOutcome
    layout_origin: str
    readings: dict[str, Any]  # plate → well → value; a multiplex plate: analyte → that
    wavelengths_nm: list[float]
    reports: str
    # A multiplex plate (response "mfi"): each analyte's own curve and samples. ``outcome`` is
    # then the first analyte's (the layout and the sample names are the same for every one).
    by_analyte: dict[str, plate.PlateOutcome] = field(default_factory=dict)
    layout: plate.PlateLayout | None = None  # a multiplex plate's layout, every analyte's

    @property
    def failures(self) -> list[str]:
        """Why the plate is not usable: a multiplex plate's failures name their analyte."""
        if not self.by_analyte:
            return list(self.outcome.failures)
        return [f"{a}: {f}" for a, o in self.by_analyte.items() for f in o.failures]


def plate_template(assay: AssayDefinition, given: dict | None) -> tuple[dict, str]:
    """The layout (JSON) to use and where it comes from: the one given on upload, else the
    assay's first template; ({}, "") for an assay without templates."""
    if given:
        return given, "chosen on upload"
    templates = assay.plate_layouts or []
    if not templates:
        return {}, ""
    return templates[0], f"template: {templates[0].get('name', '1')}"


def plate_layout_for(
    records: list[SampleRecord], *, assay: AssayDefinition, layout: Mapping | None
) -> tuple[plate.PlateLayout, str]:
    """The layout a plate file is computed with, and where it comes from: the one chosen or
    edited on upload wins; without one, the layout the plate software wrote in the file (Gen5)
    with the assay's first template's fit, else that template. ParseError when it is unusable."""
    chosen, origin = plate_template(assay, dict(layout) if layout else None)
    try:
        parsed = plate.PlateLayout.from_dict(chosen)
        if not layout:
            from_file = plate_files.layout_from_file(
                records, fit=parsed.fit, unit=parsed.unit, name="as written in the file"
            )
            if from_file is not None:
                parsed, origin = from_file, f"the file's own layout, {parsed.fit} fit"
    except plate.LayoutError as exc:
        raise ParseError(f"the plate layout cannot be used ({exc})") from exc
    return parsed, origin


def relabel_by_layout(records: list[SampleRecord], layout: plate.PlateLayout) -> list[SampleRecord]:
    """The file's wells as the layout names them: its role and name decide (the layout says what
    a well held, whatever name the plate software gave it), so that matching
    (assays.sample_matching) maps the layout's sample names to LIMS samples. Wells the layout
    leaves empty are no sample of the run (the plate record keeps their readings)."""
    by_well = layout.group_of()
    out = []
    for record in records:
        try:
            group = by_well.get(plate.normalise_well(record.position))
        except ValueError:
            group = None  # a value computed over several wells, or a table row
        if group is None:
            continue
        out.append(
            replace(
                record,
                identifier=group.name,
                role=Role(group.role) if group.role != "spike" else Role.SAMPLE,
                label=group.name,
            )
        )
    return out


def plate_from_records(
    records: list[SampleRecord], *, assay: AssayDefinition, layout: Mapping | None
) -> PlateComputation:
    """A plate reader's wells (the file's records) computed with the plate layout.
    NoResultsForAssay when the file holds no reading of the layout's response."""
    parsed, origin = plate_layout_for(records, assay=assay, layout=layout)
    chosen, _ = plate_template(assay, dict(layout) if layout else None)
    reports = str(chosen.get("reports") or _template_reports(assay))
    if parsed.response == "mfi":
        multiplex = plate_files.multiplex_readings(records, response=parsed.response)
        if not multiplex:
            raise NoResultsForAssay("the file holds no Net MFI reading of a well per analyte")
        by_analyte = plate.compute_multiplex(parsed, multiplex)
        return PlateComputation(
            outcome=next(iter(by_analyte.values())),
            layout_origin=origin,
            readings=multiplex,
            wavelengths_nm=[],
            reports=reports,
            by_analyte=by_analyte,
            layout=parsed,
        )
    readings, wavelengths = plate_files.plate_readings(
        records, response=parsed.response, onset_od=parsed.onset_od
    )
    if not readings:
        raise NoResultsForAssay(
            f"the file holds no {parsed.response.replace('_', ' ')} reading of a well"
        )
    return PlateComputation(
        outcome=plate.compute_plate(parsed, readings),
        layout_origin=origin,
        readings=readings,
        wavelengths_nm=sorted(wavelengths),
        reports=reports,
    )


def _template_reports(assay: AssayDefinition) -> str:
    templates = assay.plate_layouts or []
    return str(templates[0].get("reports", "")) if templates else ""


def _sample_values(
    outcome: plate.PlateOutcome, reports: str, samples: dict[str, str], *, target: str = ""
) -> list[ResultInput]:
    """Each sample group's value read on the curve × dilution; out of the standards' range the
    limit × dilution with its qualifier ("<LLOQ", ">ULOQ", "<λ"), never an extrapolation."""
    items = []
    curve = outcome.curve
    for g in outcome.samples:
        found = g.found
        if found is None:
            continue
        value, qualifier = found.value, found.qualifier or ""
        if value is None and curve is not None and qualifier in LIMIT_QUALIFIERS:
            low, high = curve.standards_range
            value = (high if qualifier == curves.ULOQ_FLAG else low) * g.group.dilution
        items.append(
            ResultInput(
                sample=samples[g.name],
                analyte=reports,
                value=value,
                unit=outcome.layout.unit,
                qualifier=qualifier,
                replicate=f"1:{g.group.dilution:g}" + (f" {g.plate}" if g.plate else ""),
                well=g.group.wells[0],
                target=target[:60],
                source_sample=g.name,
                flags=["computed from plate"],
            )
        )
    return items


def plate_result_inputs(
    computation: PlateComputation, samples: dict[str, str]
) -> list[ResultInput]:
    """The run's results from a computed plate: one value per sample and dilution (× dilution;
    out of the range: the limit with "<LLOQ" / ">ULOQ" / "<λ"), and the curve's own controls.
    ``samples`` maps each layout sample name to the LIMS sample it is."""
    if computation.by_analyte:
        # One value per sample, dilution and analyte (the result's target names the analyte);
        # the assay's own validity rules judge the run, and a curve that fails invalidates it
        # (services.plate_analysis_record).
        return [
            item
            for analyte, outcome in computation.by_analyte.items()
            for item in _sample_values(outcome, computation.reports, samples, target=analyte)
        ]
    outcome = computation.outcome
    curve = outcome.curve
    items = _sample_values(outcome, computation.reports, samples)
    first = next(iter(samples.values()))
    controls: dict[str, float | None] = {}
    if outcome.layout.fit == "loglog" and outcome.layout.response == "onset_time":
        controls["curve_r"] = curve.statistics["r"] if curve is not None else None
    else:
        controls[suitability.CURVE_CONVERGED] = 1.0 if curve is not None and outcome.valid else 0.0
        controls[suitability.STANDARDS_IN_TOLERANCE] = outcome.standards_within_percent()
    for code, number in controls.items():
        if number is not None:
            items.append(
                ResultInput(sample=first, analyte=code, value=number, flags=["computed from plate"])
            )
    for spike in outcome.spikes:
        items.append(
            ResultInput(
                sample=samples[spike.name],
                analyte="spike_recovery",
                value=spike.percent,
                unit="percent",
                qualifier="" if spike.percent is not None else "NC",
                replicate=f"1:{spike.dilution:g}",
                source_sample=spike.name,
                flags=["computed from plate"],
            )
        )
    return items
