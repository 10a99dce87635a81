"""Malvern Panalytical NanoSight NTA 3.x "Experiment Summary" CSV export.

The export is a comma-separated report in labelled sections (``[Experiment Details]``,
``[Conditions]``, ``[Settings]``, ``[Results]``, ``[Size Data]`` ...). Per-video values sit in
one column per video, followed by "Average" (plain mean of the videos) and "Standard Error"
(SD/√n) columns. ``[Size Data]`` holds the printed statistics (Mean, Mode, SD, D10, D50, D90),
then the "Bin centre (nm)" table of the number-weighted size distribution (particles/mL in each
1 nm bin, already multiplied by the dilution factor the file states) and a "Percentile" table.
Layout checked against a real NTA 3.2.16 export (tidyNano ``inst/extdata/beads.csv``).

:func:`parse` returns both the statistics recomputed from the distribution
(:func:`assays.qc.nta.summarize_distribution`) and the values the file prints
(:class:`ReportedValues`), so a test or a reviewer can compare them (DOMAIN.md §4).
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from assays.parsers.errors import ParseError
from assays.qc.nta import CumulativePosition, summarize_distribution

SOURCE = "NanoSight Experiment Summary"

# Where each NTA version places a bin's cumulative fraction when it interpolates D10/D50/D90
# (DOMAIN.md §4): NTA 3.0-3.2 at the bin's lower edge (recomputing so reproduces the printed
# D-values of the NTA 3.2.16 reference file to 0.05 nm), NTA 3.3 and later at its upper edge,
# the exact percentile of grouped data (ISO 9276-2:2014), one 1 nm bin higher. A file whose
# version cannot be read is recomputed with the later (ISO) convention and says so in ``notes``.
LOWER_EDGE_UNTIL = (3, 2)
DEFAULT_CUMULATIVE_AT: CumulativePosition = "upper_edge"
_VERSION = re.compile(r"(\d+)\.(\d+)")

# A recomputed size statistic further than this from the one the file prints is flagged on the
# run (the file prints 0.1 nm; within 0.1 nm is rounding). Concentrations are printed to three
# significant figures: flagged beyond 1 %.
SIZE_AGREEMENT_NM = 0.1
CONCENTRATION_AGREEMENT = 0.01
_SIZE_STATISTICS = ("mean_nm", "mode_nm", "sd_nm", "d10_nm", "d50_nm", "d90_nm")

# Row labels of the printed per-video statistics in [Size Data], keyed by normalised label.
_STATISTIC_ROWS: dict[str, str] = {
    "mean": "mean_nm",
    "mode": "mode_nm",
    "sd": "sd_nm",
    "d10": "d10_nm",
    "d50": "d50_nm",
    "d90": "d90_nm",
}
_CONCENTRATION_LABEL = re.compile(r"^concentration \(particles ?/ ?ml\)$")
_PARTICLES_PER_FRAME = "particles per frame"
# The software's own verdicts per video: every row of these sections is kept as printed.
_WARNING_SECTIONS = {"[concentration warnings]", "[information]"}
_CREATED_WITH = re.compile(r"created with (?:nanosight )?nta\s+(\S.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class ReportedValues:
    """The values the file prints for one video (``None`` where the file leaves one out)."""

    mean_nm: float | None = None
    mode_nm: float | None = None
    sd_nm: float | None = None
    d10_nm: float | None = None
    d50_nm: float | None = None
    d90_nm: float | None = None
    concentration_per_ml: float | None = None
    percentiles_nm: Mapping[int, float] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Disagreement:
    """A statistic whose recomputed value differs from the printed one beyond the agreement
    limits (``SIZE_AGREEMENT_NM``; ``CONCENTRATION_AGREEMENT`` relative)."""

    statistic: str
    printed: float
    recomputed: float

    @property
    def difference(self) -> float:
        return self.recomputed - self.printed


# What the software's warning rows say when nothing is wrong.
_QUIET = frozenset({"", "ok", "no"})


@dataclass(frozen=True, eq=False)
class NtaVideo:
    """One video: its size distribution and the statistics recomputed from it.

    ``concentration_per_bin`` is particles/mL in each bin of ``bins_nm`` (bin centres), already
    adjusted for ``dilution_factor`` as the file reports it; ``concentration_per_ml`` is their
    sum. ``reported`` holds the file's own printed values for comparison.
    """

    name: str
    mean_nm: float
    mode_nm: float
    sd_nm: float
    d10_nm: float
    d50_nm: float
    d90_nm: float
    concentration_per_ml: float
    bins_nm: NDArray[np.float64]
    concentration_per_bin: NDArray[np.float64]
    dilution_factor: float
    reported: ReportedValues
    conditions: Mapping[str, str]
    particles_per_frame: float | None = None
    warnings: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def reportable(self, statistic: str) -> float:
        """The value that counts for ``statistic`` (a :class:`ReportedValues` field name): the
        file's printed value where it prints one (the original record, DOMAIN.md §4), else the
        value recomputed from the size distribution."""
        printed: float | None = getattr(self.reported, statistic)
        return float(printed) if printed is not None else float(getattr(self, statistic))

    @property
    def disagreements(self) -> tuple[Disagreement, ...]:
        """Printed statistics that the recomputation does not reproduce: sizes further apart
        than ``SIZE_AGREEMENT_NM``, the concentration further than ``CONCENTRATION_AGREEMENT``."""
        found = []
        for statistic in (*_SIZE_STATISTICS, "concentration_per_ml"):
            printed: float | None = getattr(self.reported, statistic)
            if printed is None:
                continue
            recomputed = float(getattr(self, statistic))
            if statistic == "concentration_per_ml":
                apart = abs(recomputed - printed) > CONCENTRATION_AGREEMENT * abs(printed)
            else:  # rounding noise (0.1 + 1e-9) is not a disagreement
                apart = abs(recomputed - printed) > SIZE_AGREEMENT_NM + 1e-9
            if apart:
                found.append(Disagreement(statistic, float(printed), recomputed))
        return tuple(found)

    @property
    def alerts(self) -> dict[str, str]:
        """The software's warnings that say something is wrong (not "OK", "No" or blank)."""
        return {k: v for k, v in self.warnings.items() if v.strip().lower() not in _QUIET}


@dataclass(frozen=True, eq=False)
class NtaExport:
    """A parsed Experiment Summary: one :class:`NtaVideo` per video column.

    ``dilution_factor`` is the first video's (the file gives one per video; they differ only
    in merged experiments); ``dilution_recorded`` is False when the file says "Not recorded",
    in which case the factor is taken as 1. ``reported_average`` and
    ``reported_standard_error`` are the file's "Average" and "Standard Error" columns, keyed by
    the :class:`ReportedValues` field names. ``cumulative_at`` is the D-value convention
    of ``software_version`` (:func:`cumulative_convention`); ``notes`` says what the parser had
    to assume.
    """

    software_version: str
    cumulative_at: CumulativePosition
    dilution_factor: float
    dilution_recorded: bool
    videos: tuple[NtaVideo, ...]
    details: Mapping[str, str]
    reported_average: Mapping[str, float]
    reported_standard_error: Mapping[str, float]
    notes: tuple[str, ...] = ()


def cumulative_convention(software_version: str) -> CumulativePosition | None:
    """The D-value convention of an NTA version: ``"lower_edge"`` for 3.0-3.2, ``"upper_edge"``
    for 3.3 and later (DOMAIN.md §4); ``None`` when the version cannot be read."""
    match = _VERSION.search(software_version)
    if match is None:
        return None
    version = (int(match.group(1)), int(match.group(2)))
    if version < (3, 0):
        return None
    return "lower_edge" if version <= LOWER_EDGE_UNTIL else "upper_edge"


def looks_like_nanosight(data: bytes) -> bool:
    """True when ``data`` reads as an NTA Experiment Summary (cheap check, for routing)."""
    try:
        text = _decode(bytes(data[:8192]))
    except ParseError:
        return False
    return "NTA Experiment Summary" in text or ("[Experiment Details]" in text and "NTA" in text)


def parse(data: bytes) -> NtaExport:
    """Read a NanoSight NTA 3.x Experiment Summary CSV; :class:`ParseError` if it is not one."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ParseError(f"expected bytes, got {type(data).__name__}", source=SOURCE)
    rows = _read_rows(_decode(bytes(data)))
    bin_header = _find(rows, lambda key: key.startswith("bin centre"))
    if bin_header is None:
        raise ParseError(
            "no 'Bin centre (nm)' size-distribution table: not an NTA 3.x Experiment Summary",
            source=SOURCE,
        )
    n_videos = _video_count(rows[bin_header])
    bins, per_video_bins, table_end = _read_bins(rows, bin_header, n_videos)

    size_start = _find(rows, lambda key: key == "[size data]") or 0
    statistics = {
        attr: _row_values(rows, size_start, bin_header, label, n_videos)
        for label, attr in _STATISTIC_ROWS.items()
    }
    concentration_row = _find(rows, _CONCENTRATION_LABEL.match, stop=bin_header)
    statistics["concentration_per_ml"] = _values(rows, concentration_row, n_videos)
    percentiles = _read_percentiles(rows, table_end, n_videos)
    dilutions, dilution_recorded = _dilution_factors(rows, bin_header, n_videos)
    names = _video_names(rows, size_start, bin_header, n_videos)
    conditions = _conditions(rows, n_videos)
    particles_per_frame = _values(
        rows, _find(rows, _PARTICLES_PER_FRAME.__eq__, 0, bin_header), n_videos
    )
    warnings = _warnings(rows, n_videos)
    software_version = _software_version(rows)
    notes = []
    cumulative_at = cumulative_convention(software_version)
    if cumulative_at is None:
        cumulative_at = DEFAULT_CUMULATIVE_AT
        notes.append(
            f"NTA software version {software_version or 'not stated'}: D-values recomputed "
            "with the NTA 3.3+ (upper-edge, ISO 9276-2) convention"
        )
    if not dilution_recorded:
        notes.append("Dilution factor not recorded in the file")

    videos = []
    for i in range(n_videos):
        reported = ReportedValues(
            **{attr: values[i] for attr, values in statistics.items()},
            percentiles_nm=MappingProxyType(percentiles[i]),
        )
        video = _video(
            names[i],
            bins,
            per_video_bins[:, i],
            dilutions[i],
            reported,
            conditions[i],
            cumulative_at,
        )
        videos.append(
            replace(
                video,
                particles_per_frame=particles_per_frame[i],
                warnings=MappingProxyType(warnings[i]),
            )
        )

    averages, errors = _summary_columns(rows, size_start, bin_header, concentration_row, n_videos)
    return NtaExport(
        software_version=software_version,
        cumulative_at=cumulative_at,
        dilution_factor=dilutions[0],
        dilution_recorded=dilution_recorded,
        videos=tuple(videos),
        details=MappingProxyType(_details(rows)),
        reported_average=MappingProxyType(averages),
        reported_standard_error=MappingProxyType(errors),
        notes=tuple(notes),
    )


def _video(
    name: str,
    bins: NDArray[np.float64],
    concentration: NDArray[np.float64],
    dilution_factor: float,
    reported: ReportedValues,
    conditions: dict[str, str],
    cumulative_at: CumulativePosition,
) -> NtaVideo:
    with np.errstate(all="ignore"):  # overflow is reported below as a ParseError
        try:
            summary = summarize_distribution(bins, concentration, cumulative_at=cumulative_at)
        except ValueError as exc:
            raise ParseError(f"video {name!r}: {exc}", source=SOURCE) from exc
    values = (summary.mean, summary.mode, summary.sd, summary.d10, summary.d50, summary.d90)
    if not all(math.isfinite(v) for v in (*values, summary.total_concentration)):
        raise ParseError(f"video {name!r}: size table values out of range", source=SOURCE)
    concentration = concentration.copy()
    concentration.setflags(write=False)
    return NtaVideo(
        name=name,
        mean_nm=summary.mean,
        mode_nm=summary.mode,
        sd_nm=summary.sd,
        d10_nm=summary.d10,
        d50_nm=summary.d50,
        d90_nm=summary.d90,
        concentration_per_ml=summary.total_concentration,
        bins_nm=bins,
        concentration_per_bin=concentration,
        dilution_factor=dilution_factor,
        reported=reported,
        conditions=MappingProxyType(conditions),
    )


def _decode(data: bytes) -> str:
    # NTA runs on Windows: exports are UTF-8 or the ANSI code page; some tools re-save as UTF-16.
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ParseError(f"invalid UTF-16 text ({exc.reason})", source=SOURCE) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _read_rows(text: str) -> list[list[str]]:
    try:
        return [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text))]
    except csv.Error as exc:
        raise ParseError(f"not readable as CSV ({exc})", source=SOURCE) from exc


def _key(row: Sequence[str]) -> str:
    """A row's label, normalised: lower case, single spaces, no trailing colon."""
    if not row:
        return ""
    return " ".join(row[0].lower().split()).rstrip(":").strip()


def _find(
    rows: list[list[str]], match: Callable[[str], object], start: int = 0, stop: int | None = None
) -> int | None:
    """Index of the first row in ``rows[start:stop]`` whose label satisfies ``match``."""
    for index in range(start, len(rows) if stop is None else stop):
        if match(_key(rows[index])):
            return index
    return None


def _cell(row: Sequence[str], index: int) -> str:
    return row[index] if index < len(row) else ""


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _values(rows: list[list[str]], index: int | None, n: int) -> list[float | None]:
    """The per-video numbers of row ``index`` (columns 1..n); ``None`` for blanks and text."""
    if index is None:
        return [None] * n
    return [_number(_cell(rows[index], i + 1)) for i in range(n)]


def _row_values(
    rows: list[list[str]], start: int, stop: int, label: str, n: int
) -> list[float | None]:
    return _values(rows, _find(rows, label.__eq__, start, stop), n)


def _video_count(header: Sequence[str]) -> int:
    # Header: "Bin centre (nm)", one "Concentration (particles / ml)" per video, then
    # "Concentration average" and "Standard Error".
    count = 0
    for cell in header[1:]:
        label = cell.lower()
        if "concentration" not in label or "average" in label:
            break
        count += 1
    if count == 0:
        raise ParseError("the size table has no per-video concentration columns", source=SOURCE)
    return count


def _read_bins(
    rows: list[list[str]], header: int, n: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], int]:
    """Bin centres and an (n_bins, n_videos) array of concentrations; index after the table."""
    centres: list[float] = []
    concentrations: list[list[float]] = []
    index = header + 1
    while index < len(rows) and (centre := _number(_cell(rows[index], 0))) is not None:
        values = [value for value in _values(rows, index, n) if value is not None]
        if len(values) != n:
            raise ParseError(
                f"size table row {index + 1}: expected {n} numeric concentrations", source=SOURCE
            )
        centres.append(centre)
        concentrations.append(values)
        index += 1
    if len(centres) < 2:
        raise ParseError("the size table has fewer than two bins", source=SOURCE)
    bins = np.array(centres, dtype=np.float64)
    bins.setflags(write=False)
    return bins, np.array(concentrations, dtype=np.float64), index


def _read_percentiles(rows: list[list[str]], start: int, n: int) -> list[dict[int, float]]:
    """The "Percentile" table (percentile → size in nm per video), when the export has it."""
    result: list[dict[int, float]] = [{} for _ in range(n)]
    header = _find(rows, "percentile".__eq__, start)
    if header is None:
        return result
    for row in rows[header + 1 :]:
        percentile = _number(_cell(row, 0))
        if percentile is None or not percentile.is_integer() or not 0 <= percentile <= 100:
            break
        for i, value in enumerate(_values([row], 0, n)):
            if value is not None:
                result[i][int(percentile)] = value
    return result


def _dilution_factors(rows: list[list[str]], stop: int, n: int) -> tuple[list[float], bool]:
    # "Dilution factor (concentrations adjusted for this factor)": concentrations in the file
    # are already multiplied by it, so it is informational; "Not recorded" means no dilution.
    values = _values(rows, _find(rows, lambda key: key.startswith("dilution factor"), 0, stop), n)
    if any(value is not None and value <= 0 for value in values):
        raise ParseError("dilution factor must be positive", source=SOURCE)
    recorded = any(value is not None for value in values)
    return [1.0 if value is None else value for value in values], recorded


def _video_names(rows: list[list[str]], size_start: int, stop: int, n: int) -> list[str]:
    index = _find(rows, "filename".__eq__, size_start, stop)
    if index is None:
        index = _find(rows, "filename".__eq__, 0, stop)
    names = [_cell(rows[index], i + 1) if index is not None else "" for i in range(n)]
    return [name or f"video {i + 1}" for i, name in enumerate(names)]


def _section_rows(rows: list[list[str]], names: set[str]) -> Iterator[tuple[str, list[str]]]:
    """Rows inside the sections named in ``names`` (e.g. ``"[conditions]"``)."""
    inside = False
    for row in rows:
        key = _key(row)
        if key.startswith("["):
            inside = key in names
        elif inside and key:
            yield key, row


def _conditions(rows: list[list[str]], n: int) -> list[dict[str, str]]:
    """Per-video acquisition conditions and analysis settings (temperature, camera level...)."""
    result: list[dict[str, str]] = [{} for _ in range(n)]
    for _, row in _section_rows(rows, {"[conditions]", "[settings]"}):
        for i in range(n):
            if value := _cell(row, i + 1):
                result[i][row[0]] = value
    return result


def _warnings(rows: list[list[str]], n: int) -> list[dict[str, str]]:
    """Per video, every row of the software's [Concentration Warnings] and [Information]
    sections as printed, keyed "Section: label"."""
    result: list[dict[str, str]] = [{} for _ in range(n)]
    section = ""
    for row in rows:
        key = _key(row)
        if key.startswith("["):
            section = row[0].strip("[] ") if key in _WARNING_SECTIONS else ""
        elif section and key:
            for i in range(n):
                result[i][f"{section}: {row[0]}"] = _cell(row, i + 1)
    return result


def _details(rows: list[list[str]]) -> dict[str, str]:
    return {
        row[0].rstrip(":"): _cell(row, 1)
        for key, row in _section_rows(rows, {"[experiment details]"})
        if key != "filename"
    }


def _software_version(rows: list[list[str]]) -> str:
    for key, row in _section_rows(rows, {"[experiment details]"}):
        if key == "software version" and _cell(row, 1).lower() not in ("", "unknown"):
            return _cell(row, 1)
    # NTA 3.2 leaves "Software Version" as "Unknown" but names itself in the second line.
    for row in rows[:5]:
        if row and (match := _CREATED_WITH.search(row[0])):
            return match.group(1).strip()
    return ""


def _summary_columns(
    rows: list[list[str]], size_start: int, stop: int, concentration_row: int | None, n: int
) -> tuple[dict[str, float], dict[str, float]]:
    """The file's "Average" and "Standard Error" columns for the printed statistics."""
    averages: dict[str, float] = {}
    errors: dict[str, float] = {}
    blocks = [(_find(rows, "filename".__eq__, size_start, stop), size_start, stop)]
    if concentration_row is not None:
        results_header = _find(rows, "[results]".__eq__, 0, concentration_row)
        blocks.append((results_header, concentration_row, concentration_row + 1))
    for header, start, end in blocks:
        if header is None or _cell(rows[header], n + 1).lower() != "average":
            continue
        for index in range(start, end):
            attr = _STATISTIC_ROWS.get(_key(rows[index]))
            if _CONCENTRATION_LABEL.match(_key(rows[index])):
                attr = "concentration_per_ml"
            if attr is None or attr in averages:
                continue
            if (average := _number(_cell(rows[index], n + 1))) is not None:
                averages[attr] = average
            if (error := _number(_cell(rows[index], n + 2))) is not None:
                errors[attr] = error
    return averages, errors
