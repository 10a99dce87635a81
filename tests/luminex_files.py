"""The repository's real xPONENT export (tests/data/instruments/luminex_xponent_example02.csv: four
unknowns, analytes alpha and bravo, no standards: its protocol ran with analysis off and no
plate definition) with standard and background wells added in xPONENT's own layout, so that a
plate can be computed from it. Everything the file had is kept as it was: the added wells are
new rows in each "DataType:" section, numbered on after the file's own.

Not a general writer: it knows the sections that example writes (Median, Count, Net MFI, Avg
Net MFI, Dilution Factor).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent / "data" / "instruments" / "luminex_xponent_example02.csv"
ANALYTES = ("alpha", "bravo")


@dataclass(frozen=True)
class Well:
    """An added well: its position, its xPONENT name ("Standard1", "Background0") and its
    Net MFI (= median here: the example's Net MFI equals its median) per analyte."""

    well: str
    name: str
    mfi: Mapping[str, float]


def _row(*cells: object) -> str:
    return ",".join(f'"{c}"' for c in cells)


def _number(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def with_wells(wells: Sequence[Well], *, count: int = 50) -> bytes:
    """The example export with ``wells`` added after its own four (locations 5, 6...)."""
    text = EXAMPLE.read_bytes().decode("latin-1")
    nl = "\r\n" if "\r\n" in text else "\n"  # the example ends its lines with CRLF
    sections = re.split(r'(?=\r?\n"DataType:",)', text)
    out = []
    for section in sections:
        kind = re.match(r'\r?\n"DataType:","([^"]+)"', section)
        name = kind.group(1) if kind else ""
        added = []
        for i, w in enumerate(wells, start=5):
            location = f"{i}(1,{w.well})"
            mfi = [_number(w.mfi[a]) for a in ANALYTES]
            if name in ("Median", "Net MFI"):
                added.append(_row(location, w.name, *mfi, count * len(ANALYTES)))
            elif name == "Count":
                added.append(_row(location, w.name, *[count] * len(ANALYTES), count * 2))
            elif name == "Dilution Factor":
                added.append(_row(location, w.name, 1))
        if name == "Avg Net MFI":
            seen: dict[str, list[Well]] = {}
            for w in wells:
                seen.setdefault(w.name, []).append(w)
            for label, group in seen.items():
                means = [sum(w.mfi[a] for w in group) / len(group) for a in ANALYTES]
                added.append(_row(label, *map(_number, means), count * 2))
        if added:  # after the section's last row, before the blank lines that end it
            body = section.rstrip("\r\n")
            section = body + nl + nl.join(added) + section[len(body) :]
        out.append(section)
    return "".join(out).encode("latin-1")
