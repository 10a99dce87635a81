"""From an instrument file's samples (assays.parsers.file_samples) to a plate's readings and,
where the plate software wrote one, its layout (pure functions, no database).

Gen5 writes its plate layout into the export: STD wells with their concentration, BLK wells,
SPL wells with a dilution written as the fraction of sample in the well ("0.5" for 1 + 1, Agilent
BioTek Gen5 manual, "Plate Layout"), which the layout here states as a fold (2).
"""

from __future__ import annotations

from collections.abc import Iterable

from assays.parsers.file_samples import Role, SampleRecord
from assays.qc import kinetics
from assays.qc.plate import DEFAULT_ONSET_OD, PlateLayout, normalise_well

# In order of preference: SoftMax Pro's "Reduced" value is the one its own groups compute with
# (e.g. 450 − 650 nm when the plate was read at two wavelengths), the raw absorbance otherwise.
RESPONSE_NAMES = {
    "absorbance": ("Reduced", "absorbance"),
    "onset_time": ("onset time", "Onset Time"),
    "rate": (),  # always computed from the kinetic read: the file's "Mean V" is only compared
    # xPONENT's Net MFI: the median fluorescence of each bead region less the background wells'
    # (allotropy's "Net MFI" data cube), per analyte.
    "mfi": ("Net MFI",),
}


def plate_readings(
    records: Iterable[SampleRecord],
    *,
    response: str = "absorbance",
    onset_od: float = DEFAULT_ONSET_OD,
) -> tuple[dict[str, dict[str, float | None]], set[float]]:
    """plate → well → response of every well, and the wavelengths (nm) the file says were
    read. A well read twice (two wavelengths) keeps its first value.

    Onset times the file does not give, and rates, come from the wells' kinetic reads
    (assays.qc.kinetics): an onset time is the time the well's absorbance first rises
    ``onset_od`` over its first reading (None: no onset within the read)."""
    names = RESPONSE_NAMES.get(response, (response,))
    plates: dict[str, dict[str, float | None]] = {}
    wavelengths: set[float] = set()
    for record in records:
        try:
            well = normalise_well(record.position)
        except ValueError:
            continue  # not a well (a calculated value over several wells, a table row)
        for value in record.values:
            if value.name in names and value.wavelength_nm is not None:
                wavelengths.add(value.wavelength_nm)
        matching = [v for v in record.values if v.name in names]
        if matching:
            reported = [v for v in matching if v.value is not None]
            best = min(reported, key=lambda v: names.index(v.name), default=None)
            plates.setdefault(record.plate, {}).setdefault(well, best.value if best else None)
        if well in plates.get(record.plate, {}) or response not in ("onset_time", "rate"):
            continue
        for read in record.kinetics[:1]:  # the first wavelength read, as for endpoint reads
            computed = (
                kinetics.onset_time(read.times_s, read.values, onset_od=onset_od)
                if response == "onset_time"
                else kinetics.mean_rate(read.times_s, read.values)
            )
            plates.setdefault(record.plate, {})[well] = computed
            if read.wavelength_nm is not None:
                wavelengths.add(read.wavelength_nm)
    return plates, wavelengths


def multiplex_readings(
    records: Iterable[SampleRecord], *, response: str = "mfi"
) -> dict[str, dict[str, dict[str, float | None]]]:
    """analyte → plate → well → response of a multiplex file (Luminex xPONENT): each value's
    target names its analyte (bead region). A well read twice for an analyte keeps its first."""
    names = RESPONSE_NAMES.get(response, (response,))
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for record in records:
        try:
            well = normalise_well(record.position)
        except ValueError:
            continue
        for value in record.values:
            if value.name in names and value.target:
                plate = out.setdefault(value.target, {}).setdefault(record.plate, {})
                plate.setdefault(well, value.value)
    return out


def layout_from_file(
    records: Iterable[SampleRecord], *, fit: str, unit: str, name: str = ""
) -> PlateLayout | None:
    """The layout the plate software wrote into the file (Gen5), or None when the file names
    no standard with a concentration. Raises plate.LayoutError when the file's layout is not
    usable (e.g. too few standards for the fit)."""
    groups: dict[tuple[str, str, float | None], list[str]] = {}
    for record in records:
        try:
            well = normalise_well(record.position)
        except ValueError:
            continue
        if record.role == Role.STANDARD and record.layout_value is None:
            continue
        key = (record.role.value, record.identifier or record.label, record.layout_value)
        if well not in groups.setdefault(key, []):
            groups[key].append(well)
    if not any(role == "standard" for role, _, _ in groups):
        return None
    out = []
    for (role, identifier, value), wells in groups.items():
        group: dict[str, object] = {"role": role, "name": identifier, "wells": wells}
        if role == "standard":
            group["concentration"] = value
        elif role == "sample" and value:
            group["dilution"] = 1.0 / value if value < 1 else value
        out.append(group)
    return PlateLayout.from_dict(
        {"name": name or "as written in the file", "fit": fit, "unit": unit, "groups": out}
    )
