"""From an instrument file's bytes to the results of one run (no database writes here).

The parsers turn bytes into plain data; this module names which assay analyte each parsed value
is, so `services.run_record` can validate and store them like any other result.

Bounded work: a zip container (xlsx) is checked against `archive_limits()` (settings
ARCHIVE_MAX_UNCOMPRESSED_BYTES, ARCHIVE_MAX_RATIO, ARCHIVE_MAX_MEMBERS) before any reader
inflates it, here and again by the parsers themselves; the time a parse may take is the
Celery soft time limit of `assays.tasks.parse_instrument_file`.
"""

from django.conf import settings

from assays.inputs import ResultInput
from assays.models import AssayDefinition
from assays.parsers import ParseError, asm_results, detect_format, fcs, nanosight
from assays.parsers.archive import ArchiveLimits, ArchiveTooLarge, check_archive

__all__ = ["ArchiveTooLarge", "archive_limits", "check_file_bounds", "results_from_file"]

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


def results_from_file(
    data: bytes, *, filename: str, assay: AssayDefinition, sample: str, format_hint: str = ""
) -> tuple[str, list[ResultInput]]:
    """(detected format, results) or ParseError saying why the file gives no results
    (ArchiveTooLarge for a zip container beyond the limits, before anything inflates it)."""
    limits = archive_limits()
    check_file_bounds(data, filename=filename)
    hint = format_hint.strip().lower()
    if hint in ("nanosight", "fcs"):
        fmt = hint
    else:
        fmt = "asm" if hint else detect_format(data, filename, limits=limits)
    if fmt == "nanosight":
        items = _from_nanosight(data, sample)
    elif fmt == "fcs":
        items = _from_fcs(data, sample)
    else:
        items = _from_asm(data, filename, hint or None, sample, limits)
    return fmt, _results_of_assay(items, assay, what=f"the file was read ({fmt})", source=filename)


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
    assay's analytes.
    """
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


def _from_nanosight(data: bytes, sample: str) -> list[ResultInput]:
    export = nanosight.parse(data)
    items = []
    for video in export.videos:
        for code, attribute in NTA_STATISTICS.items():
            items.append(
                ResultInput(
                    sample=sample,
                    analyte=code,
                    value=float(getattr(video, attribute)),
                    unit=NTA_UNITS.get(code, "nm"),
                    replicate=video.name,
                )
            )
    return items


def _from_fcs(data: bytes, sample: str) -> list[ResultInput]:
    parsed = fcs.parse(data)
    return [ResultInput(sample=sample, analyte="event_count", value=float(parsed.event_count))]


def _from_asm(
    data: bytes, filename: str, vendor: str | None, sample: str, limits: ArchiveLimits
) -> list[ResultInput]:
    # Imported only for an ASM file: importing allotropy takes about a second.
    from assays.parsers import asm  # noqa: PLC0415

    return asm_result_inputs(asm.convert(data, filename, vendor=vendor, limits=limits), sample)


def asm_result_inputs(document: dict, sample: str) -> list[ResultInput]:
    """Every ASM value whose name maps to an analyte code (ASM_ANALYTES), for one sample."""
    items = []
    for mv in asm_results.results_from_asm(document):
        code = ASM_ANALYTES.get(mv.analyte)
        if code is None:
            continue
        qualifier, flags = mv.qualifier, []
        unit = mv.unit
        if code == "absorbance" and unit == "mAU":
            # allotropy labels plate-reader absorbance "mAU" although the exports (Gen5,
            # SoftMax Pro) report optical density: 0.5 in the file is 0.5 OD, not 0.0005.
            unit = ""
        if len(qualifier) > 10:  # an instrument's error text, not a <LLOQ-style qualifier
            flags, qualifier = [qualifier[:40]], "error"
        items.append(
            ResultInput(
                sample=sample,
                analyte=code,
                value=mv.value,
                unit=unit,
                qualifier=qualifier,
                replicate=mv.replicate[:40],
                well=mv.well[:10],
                target=mv.target[:60],
                source_sample=mv.sample_id[:120],
                flags=flags,
            )
        )
    return items
