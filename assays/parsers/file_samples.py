"""The samples of an instrument file as the file names them: one interface for every reader.

Every reader's output goes through :class:`SampleRecord`: one per sample read at one position
(a well of a plate, a row of a cell counter's table), with the file's own identifier for it, its
role on the plate (a sample, or a standard, blank or control the run needs but that is no LIMS
sample), and the values read there. Matching identifiers to LIMS samples happens later
(``assays.sample_matching``): nothing here knows the LIMS, and nothing is averaged across
samples, so a file of eleven culture batches gives eleven records, never one mean.

Roles come, in this order, from what the file says: the ASM ``sample role type`` (QuantStudio's
Task column), the plate reader's group (SoftMax Pro "Standards"), or the names that plate
software gives wells in its layout: Gen5's well IDs (SPL sample, STD standard, BLK blank, CTL
control; "SPL1:2" is sample 1 at its second dilution, Agilent BioTek Gen5 manual, "Plate
Layout") and Luminex xPONENT's sample types (Unknown, Standard, Control, Background).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from assays.parsers.asm_kinetics import KineticRead, kinetic_reads
from assays.parsers.asm_results import MeasuredValue, results_from_asm


class Role(StrEnum):
    """What a position of the file holds."""

    SAMPLE = "sample"
    STANDARD = "standard"
    BLANK = "blank"
    CONTROL = "control"


@dataclass(frozen=True)
class FileValue:
    """One value read for a sample: ``name`` as the file (or ASM) calls the quantity
    ("viability", "absorbance", "cycle threshold result", "Net MFI"), ``target`` what it was
    measured for (qPCR target, multiplex analyte), ``wavelength_nm`` the wavelength of an
    absorbance or fluorescence read as the file states it."""

    name: str
    value: float | None
    unit: str
    qualifier: str = ""
    target: str = ""
    replicate: str = ""
    wavelength_nm: float | None = None
    flags: tuple[str, ...] = ()  # what the parser noticed (e.g. an NTA value not reproduced)


@dataclass(frozen=True)
class SampleRecord:
    """One sample at one position of a file.

    ``identifier`` is the sample as the file names it, the key matched to a LIMS sample (a
    plate's layout name without its dilution suffix: "SPL1" for "SPL1:2"; prefixed by its
    group where the software numbers samples per group: "Unknowns 01"); ``label`` is the
    name exactly as written ("SPL1:2"). ``position`` is the well ("A4"), the wells a calculated
    value came from ("A1,A2,A3"), or the row of a table ("row 3"). ``layout_value`` is the
    number the plate layout gives the well (Gen5 "Conc/Dil": a standard's concentration or a
    sample's dilution), None when it gives none. ``kinetics`` is the well's kinetic read (its
    absorbance over time), for plate assays that compute onset times or rates from it.
    """

    identifier: str
    role: Role
    position: str
    values: tuple[FileValue, ...]
    label: str = ""
    plate: str = ""
    group: str = ""
    layout_value: float | None = None
    kinetics: tuple[KineticRead, ...] = ()

    @property
    def has_well(self) -> bool:
        """Whether the position is a plate's well (or wells), not a row of a table or the
        whole file."""
        return self.position != "file" and not self.position.startswith("row ")


# Gen5 layout well IDs: type, number, and for samples a dilution index after a colon.
_GEN5_WELL_ID = re.compile(r"^(SPL|STD|BLK|CTL)(\d*)(?::(\d+))?$")
_GEN5_ROLES = {"SPL": Role.SAMPLE, "STD": Role.STANDARD, "BLK": Role.BLANK, "CTL": Role.CONTROL}
# Luminex xPONENT names wells by sample type and number.
_XPONENT_NAME = re.compile(r"^(Unknown|Standard|Control|Background|Blank)\d*$", re.IGNORECASE)
_XPONENT_ROLES = {
    "unknown": Role.SAMPLE,
    "standard": Role.STANDARD,
    "control": Role.CONTROL,
    "background": Role.BLANK,
    "blank": Role.BLANK,
}


def role_from_text(text: str) -> Role | None:
    """The role an ASM sample role type or a plate group names ("standard sample role",
    "Standards", "negative control sample role", "blank role"); None when it names none."""
    lowered = text.lower()
    if "standard" in lowered or "calibrat" in lowered:
        return Role.STANDARD
    if "blank" in lowered or "background" in lowered:
        return Role.BLANK
    if "control" in lowered or lowered.startswith("ntc"):
        return Role.CONTROL
    if "unknown" in lowered or "sample" in lowered:
        return Role.SAMPLE
    return None


def identify(label: str) -> tuple[str, Role | None]:
    """(identifier, role) of a name a plate's layout gives a well: "SPL1:2" → ("SPL1", sample),
    "STD3" → ("STD3", standard), "Background0" → ("Background0", blank); any other name is
    its own identifier, with no role said."""
    gen5 = _GEN5_WELL_ID.match(label)
    if gen5:
        return f"{gen5.group(1)}{gen5.group(2)}", _GEN5_ROLES[gen5.group(1)]
    xponent = _XPONENT_NAME.match(label)
    if xponent:
        return label, _XPONENT_ROLES[xponent.group(1).lower()]
    return label, None


def records_from_asm(document: dict[str, Any]) -> list[SampleRecord]:
    """The samples of an ASM document, each with its values and its wells' kinetic reads, in
    document order. A well read kinetically but given no result by the software is a record
    too (its values are then computed from the read)."""
    records = records_from_values(results_from_asm(document))
    reads = kinetic_reads(document)
    if not reads:
        return records
    by_well: dict[tuple[str, str], list[KineticRead]] = {}
    for read in reads:
        by_well.setdefault((read.plate, read.well), []).append(read)
    out = []
    for record in records:
        found = by_well.pop((record.plate, record.position), [])
        out.append(replace(record, kinetics=tuple(found)) if found else record)
    for (plate, well), found in by_well.items():
        identifier, role = identify(found[0].sample_id)
        out.append(
            SampleRecord(
                identifier=identifier,
                role=role or Role.SAMPLE,
                position=well,
                values=(),
                label=found[0].sample_id,
                plate=plate,
                layout_value=found[0].layout_value,
                kinetics=tuple(found),
            )
        )
    return out


def records_from_values(values: Iterable[MeasuredValue]) -> list[SampleRecord]:
    """Neutral result rows grouped into one record per sample and position.

    Rows without a well (a cell counter's table) are positioned by the order their sample first
    appears: a sample counted twice is two rows, told apart by the replicate number.
    """
    grouped: dict[tuple[str, str, str, str, str], list[MeasuredValue]] = {}
    rows: dict[tuple[str, str, str, str, str], int] = {}
    for value in values:
        row_key = "" if value.well else value.replicate
        key = (value.plate, value.group, value.sample_id, value.well, row_key)
        if key not in grouped:
            grouped[key] = []
            if not value.well:
                rows[key] = len(rows) + 1
        grouped[key].append(value)
    records = []
    for key, measured in grouped.items():
        plate, group, label, well, _ = key
        identifier, role = identify(label)
        if group and identifier:
            # SoftMax Pro numbers samples anew in each group: "01" of "Standards" is not "01"
            # of "Unknowns".
            identifier = f"{group} {identifier}"
        role_type = next((v.role_type for v in measured if v.role_type), "")
        layout_value = next((v.layout_value for v in measured if v.layout_value is not None), None)
        role = (
            role_from_text(role_type)
            or role_from_text(group if group else "")
            or role
            or Role.SAMPLE
        )
        records.append(
            SampleRecord(
                identifier=identifier,
                role=role,
                position=well or f"row {rows[key]}",
                values=tuple(
                    FileValue(
                        name=v.analyte,
                        value=v.value,
                        unit=v.unit,
                        qualifier=v.qualifier,
                        target=v.target,
                        replicate=v.replicate if well else "",
                        wavelength_nm=v.wavelength_nm,
                    )
                    for v in measured
                ),
                label=label,
                plate=plate,
                group=group,
                layout_value=layout_value,
            )
        )
    return records


def single_sample(values: Iterable[FileValue], *, identifier: str = "") -> list[SampleRecord]:
    """The record of a file that holds one sample and may not name it (a NanoSight experiment,
    an FCS file): its identifier is "" unless the file gives one, and the uploader names the
    LIMS sample."""
    return [
        SampleRecord(identifier=identifier, role=Role.SAMPLE, position="file", values=tuple(values))
    ]
