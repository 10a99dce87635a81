"""Kinetic reads in an ASM plate-reader document: each well's absorbance at each read time.

allotropy writes a Gen5 or SoftMax Pro kinetic read as one ``measurement document`` per well
holding a ``... profile data cube``: one dimension (``elapsed time``, s) and one measure (the
absorbance, fluorescence... read at each time). The result walk (:mod:`asm_results`) skips data
cubes, which are curves rather than results; plate assays that need the curve (kinetic LAL onset
times, Gen5 "Mean V" rates, :mod:`assays.qc.kinetics`) read it here.

allotropy labels the Gen5 absorbance measure "mAU" while the numbers are the OD the export
prints (0.069, not 69): they are kept as printed, in the file's own scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

_MAX_DEPTH = 64


@dataclass(frozen=True)
class KineticRead:
    """One well's kinetic read: ``values[i]`` read at ``times_s[i]`` seconds."""

    plate: str
    well: str
    sample_id: str
    times_s: tuple[float, ...]
    values: tuple[float | None, ...]
    quantity: str = "absorbance"
    wavelength_nm: float | None = None
    layout_value: float | None = None  # Gen5 "Conc/Dil" of the well


def kinetic_reads(document: dict[str, Any]) -> list[KineticRead]:
    """Every well's kinetic read in the document, in document order ([] when it has none)."""
    found: list[KineticRead] = []
    _visit(document, found, depth=0)
    return found


def _visit(node: Any, found: list[KineticRead], *, depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, list):
        for item in node:
            _visit(item, found, depth=depth + 1)
        return
    if not isinstance(node, dict):
        return
    for key, child in node.items():
        if key.endswith("profile data cube") and isinstance(child, dict):
            read = _read(node, child)
            if read is not None:
                found.append(read)
        elif isinstance(child, dict | list):
            _visit(child, found, depth=depth + 1)


def _read(measurement: dict[str, Any], cube: dict[str, Any]) -> KineticRead | None:
    structure = _dict(cube.get("cube-structure"))
    dimensions = _list(structure.get("dimensions"))
    measures = _list(structure.get("measures"))
    if not dimensions or _dict(dimensions[0]).get("concept") != "elapsed time":
        return None  # a spectrum (wavelength dimension), not a read over time
    scale = {"s": 1.0, "min": 60.0, "h": 3600.0}.get(str(_dict(dimensions[0]).get("unit")))
    data = _dict(cube.get("data"))
    times, values = _list(data.get("dimensions")), _list(data.get("measures"))
    if scale is None or not times or not values:
        return None
    time_axis, value_axis = _list(times[0]), _list(values[0])
    if len(time_axis) != len(value_axis) or not time_axis:
        return None
    if not all(_number(t) is not None for t in time_axis):
        return None
    sample = _dict(measurement.get("sample document"))
    return KineticRead(
        plate=_text(sample.get("well plate identifier")),
        well=_text(sample.get("location identifier") or sample.get("well location identifier")),
        sample_id=_text(sample.get("sample identifier")),
        times_s=tuple(float(t) * scale for t in time_axis),
        values=tuple(_number(v) for v in value_axis),
        quantity=str(_dict(measures[0]).get("concept", "")) if measures else "",
        wavelength_nm=_number_text(cube.get("label")),
        layout_value=_number(_dict(sample.get("custom information document")).get("Conc/Dil")),
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _number_text(value: Any) -> float | None:
    """The wavelength allotropy writes as the cube's label ("420.0")."""
    try:
        number = float(str(value))
    except ValueError:
        return None
    return number if math.isfinite(number) and number > 0 else None
