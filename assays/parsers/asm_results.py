"""Allotrope Simple Model (ASM) JSON → neutral result rows (:class:`MeasuredValue`).

ASM documents differ per technique (cell counting, plate reader, qPCR, multi analyte
profiling...) but share a shape: ``<technique> aggregate document`` → ``<technique> document``
list → ``measurement aggregate document`` → ``measurement document`` list, each with a
``sample document`` (sample and well), settings (``device control``/``data processing``
documents) and results as ``{"value": ..., "unit": ...}`` quantities, possibly nested in
``processed data``, ``analyte`` or ``statistics`` documents. Values computed by the software
(means, back-calculated concentrations) sit in ``calculated data document`` entries that point
at their inputs through ``data source identifier``.

This walk reads that shared shape instead of one schema per technique, so a new allotropy
parser usually needs no change here. Reference: Allotrope Foundation ASM schemas as shipped
with allotropy (``allotropy/allotrope/schemas``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, TypeGuard

from assays.parsers.errors import ParseError, shorten

SOURCE = "ASM document"

# Subtrees holding settings, metadata, images or raw curves rather than results.
_NOT_RESULTS = frozenset(
    {
        "device control aggregate document",
        "data processing document",
        "custom information document",
        "sample document",
        "error aggregate document",
        "image aggregate document",
        "data source aggregate document",
        "data system document",
        "device system document",
    }
)
# Keys whose value is an identifier a calculated datum may point at.
_REFERENCEABLE = (
    "measurement identifier",
    "analyte identifier",
    "processed data identifier",
    "calculated data identifier",
)
# ASM tags some terms with the technique ("viability (cell counter)"); the row says it already.
_TECHNIQUE_TAG = re.compile(r"\s+\((?:cell counter|qPCR|dPCR|plate reader|chromatography)\)$")
_MAX_DEPTH = 64
# The result every measurement of a technique should carry: (analyte, unit).
_EXPECTED_RESULT = {"qpcr aggregate document": ("cycle threshold result", "(unitless)")}
_NOT_REPORTED = "not reported (e.g. Undetermined)"


@dataclass(frozen=True)
class MeasuredValue:
    """One result, independent of the instrument that produced it.

    ``analyte`` names the measured quantity ("viability", "absorbance", "cycle threshold
    result", "fluorescence (median)", or a software-calculated name such as "Net MFI");
    ``target`` is what it was measured for: the qPCR target (gene) or the multiplex analyte
    (cytokine). ``value`` is None when the instrument gave no number, and ``qualifier`` then
    says why (e.g. "NaN" or the instrument's error text). ``well`` and ``plate`` locate the
    sample (a calculated value over several wells lists them, comma-separated). ``group`` is the
    plate-reader group the sample belongs to (SoftMax Pro numbers samples "01", "02"... anew in
    each group such as "Standards" and "Unknowns", so the sample id alone is ambiguous there).
    ``replicate`` numbers repeated measurements of one sample, analyte and target in a group
    (1, 2, ...; empty when measured once). ``role_type`` is the ASM ``sample role type``
    ("standard sample role"...), ``layout_value`` the number a plate layout gives the well
    (Gen5 "Conc/Dil"), ``wavelength_nm`` the detector wavelength the measurement was read at.
    """

    sample_id: str
    analyte: str
    value: float | None
    unit: str
    well: str = ""
    replicate: str = ""
    qualifier: str = ""
    target: str = ""
    plate: str = ""
    group: str = ""
    role_type: str = ""
    layout_value: float | None = None
    wavelength_nm: float | None = None


@dataclass(frozen=True)
class _Context:
    sample_id: str = ""
    well: str = ""
    plate: str = ""
    group: str = ""
    target: str = ""
    feature: str = ""
    role_type: str = ""
    layout_value: float | None = None
    wavelength_nm: float | None = None
    errors: tuple[tuple[str, str], ...] = ()
    in_measurement: bool = False


def results_from_asm(asm: dict[str, Any]) -> list[MeasuredValue]:
    """Every measured and calculated result in an ASM document, in document order."""
    aggregate = _aggregate(asm)
    walk = _Walk(expected=_EXPECTED_RESULT.get(_aggregate_key(asm)))
    walk.visit(aggregate, _Context(), parent_key="", depth=0)
    measured = _number_replicates(walk.measured)
    return measured + list(walk.calculated_values())


def asm_technique(asm: dict[str, Any]) -> str:
    """The ASM technique, from the aggregate document's name (e.g. "cell counting", "qpcr")."""
    return _aggregate_key(asm).removesuffix(" aggregate document")


def asm_vendor_label(asm: dict[str, Any]) -> str:
    """Software and instrument that produced the data.

    E.g. "Gen5 3.12.08" or "Thermo QuantStudio 1.0 (ViiA 7)" (software, version, model).
    """
    aggregate = _aggregate(asm)
    system = _dict(aggregate.get("data system document"))
    device = _dict(aggregate.get("device system document"))
    software = " ".join(
        str(system[key]) for key in ("software name", "software version") if system.get(key)
    )
    model = str(device.get("model number") or "")
    # allotropy writes "N/A" when the export does not name the instrument model.
    if model.lower() in ("", "n/a") or model.lower() in software.lower():
        return software
    return f"{software} ({model})" if software else model


class _Walk:
    """One pass over the ASM tree collecting result quantities and calculated data."""

    def __init__(self, expected: tuple[str, str] | None = None) -> None:
        self.expected = expected
        self.measured: list[MeasuredValue] = []
        self.contexts: dict[str, _Context] = {}
        self.calculated: list[dict[str, Any]] = []

    def visit(self, node: Any, context: _Context, *, parent_key: str, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise ParseError("nested too deeply to be an ASM document", source=SOURCE)
        if isinstance(node, list):
            for item in node:
                self.visit(item, context, parent_key=parent_key, depth=depth + 1)
            return
        if not isinstance(node, dict):
            return
        is_measurement = parent_key == "measurement document"
        if is_measurement:
            context = replace(context, in_measurement=True)
        context = _narrow(context, node)
        first_row = len(self.measured)
        for key in _REFERENCEABLE:
            if isinstance(node.get(key), str):
                self.contexts[node[key]] = context
        for key, child in node.items():
            if key in _NOT_RESULTS or "setting" in key or key.endswith("data cube"):
                continue
            if key == "calculated data document":
                self.calculated.extend(item for item in _list(child) if isinstance(item, dict))
            elif _is_quantity(child):
                # Quantities outside a measurement (plate well count, well volume) describe
                # the container, not a result.
                if context.in_measurement:
                    self.measured.append(_value(key, child, context))
            else:
                self.visit(child, context, parent_key=key, depth=depth + 1)
        if is_measurement and self.expected:
            self._flag_missing(self.measured[first_row:], context, self.expected)

    def _flag_missing(
        self, rows: list[MeasuredValue], context: _Context, expected: tuple[str, str]
    ) -> None:
        # allotropy drops a result the instrument could not give (a QuantStudio "Undetermined"
        # Ct leaves no Ct and no error in the ASM). A missing Ct means "no amplification" to a
        # mycoplasma or miRNA assay, so it must show up as a row, not vanish.
        analyte, unit = expected
        if not any(row.analyte == analyte for row in rows):
            self.measured.append(
                replace(
                    _value(analyte, {"value": None, "unit": unit}, context),
                    qualifier=_NOT_REPORTED,
                )
            )

    def calculated_values(self) -> Iterator[MeasuredValue]:
        by_id = {
            document["calculated data identifier"]: document
            for document in self.calculated
            if isinstance(document.get("calculated data identifier"), str)
        }
        for document in self.calculated:
            result = document.get("calculated result")
            name = document.get("calculated data name")
            if _is_quantity(result) and isinstance(name, str):
                context = self._context_of_calculated(document, by_id, depth=0)
                yield _value(name, result, context, keep_name=True)

    def _context_of_calculated(
        self, document: dict[str, Any], by_id: dict[str, dict[str, Any]], depth: int
    ) -> _Context:
        # A calculated datum has no sample of its own: it belongs to the measurements (or the
        # other calculated data) it was computed from. The depth limit cuts cycles in bad input.
        contexts = []
        sources = _dict(document.get("data source aggregate document")).get("data source document")
        for source in _list(sources):
            identifier = _dict(source).get("data source identifier")
            if not isinstance(identifier, str):
                continue
            if identifier in self.contexts:
                contexts.append(self.contexts[identifier])
            elif identifier in by_id and depth < _MAX_DEPTH:
                contexts.append(self._context_of_calculated(by_id[identifier], by_id, depth + 1))
        return _merge(contexts)


def _aggregate_key(asm: Any) -> str:
    if not isinstance(asm, dict):
        raise ParseError(f"expected a JSON object, got {type(asm).__name__}", source=SOURCE)
    for key, value in asm.items():
        if isinstance(key, str) and key.endswith("aggregate document") and isinstance(value, dict):
            return key
    raise ParseError("no '<technique> aggregate document': not an ASM document", source=SOURCE)


def _aggregate(asm: Any) -> dict[str, Any]:
    # _aggregate_key only returns a key whose value is a dict.
    return _dict(asm[_aggregate_key(asm)])


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, dict | list) else str(value).strip()


def _narrow(context: _Context, node: dict[str, Any]) -> _Context:
    """The context refined by what ``node`` says about sample, well, target and errors."""
    changes: dict[str, Any] = {}
    sample = _dict(node.get("sample document"))
    if sample:
        changes["sample_id"] = _text(sample.get("sample identifier"))
        changes["well"] = _text(
            sample.get("well location identifier") or sample.get("location identifier")
        )
        changes["plate"] = _text(sample.get("well plate identifier"))
        changes["group"] = _text(
            sample.get("group identifier")
            or _dict(sample.get("custom information document")).get("group identifier")
        )
        changes["role_type"] = _text(sample.get("sample role type"))
        changes["layout_value"] = _number(
            _dict(sample.get("custom information document")).get("Conc/Dil")
        )
    wavelength = _wavelength(node)
    if wavelength is not None:
        changes["wavelength_nm"] = wavelength
    if node.get("target DNA description"):
        changes["target"] = _text(node["target DNA description"])
    if node.get("analyte name"):
        changes["target"] = _text(node["analyte name"])
    if node.get("statistical feature"):
        changes["feature"] = _text(node["statistical feature"])
    errors = _list(_dict(node.get("error aggregate document")).get("error document"))
    if errors:
        changes["errors"] = context.errors + tuple(
            (_text(_dict(e).get("error feature")), _text(_dict(e).get("error"))) for e in errors
        )
    return replace(context, **changes) if changes else context


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _wavelength(node: dict[str, Any]) -> float | None:
    """The detector wavelength a measurement's device control documents state, in nm."""
    controls = _dict(node.get("device control aggregate document")).get("device control document")
    for control in _list(controls):
        setting = _dict(_dict(control).get("detector wavelength setting"))
        if setting.get("unit") == "nm":
            return _number(setting.get("value"))
    return None


def _is_quantity(node: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(node, dict) and "value" in node and isinstance(node.get("unit"), str)


def _value(
    key: str, quantity: dict[str, Any], context: _Context, *, keep_name: bool = False
) -> MeasuredValue:
    analyte = key if keep_name else _TECHNIQUE_TAG.sub("", key)
    if key == "statistical value":
        role = _text(quantity.get("has statistic datum role")).removesuffix(" role")
        analyte = f"{context.feature or 'statistic'} ({role})" if role else context.feature
    raw = quantity.get("value")
    value: float | None = None
    qualifier = ""
    if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
        value = float(raw)
        # allotropy writes 0 with a "Not reported" error where the file has no number (a
        # SoftMax Pro export of reduced data only has no raw absorbance): no measurement.
        for feature, message in context.errors:
            if feature.lower() == key.lower() and message.strip().lower() == "not reported":
                value, qualifier = None, shorten(message)
                break
    else:
        # ASM writes "NaN", "+Infinity" or "-Infinity" where JSON has no number.
        qualifier = shorten(raw) if raw is not None else "no value"
        for feature, message in context.errors:
            if message and (not feature or feature in key):
                qualifier = shorten(message)
                break
    return MeasuredValue(
        sample_id=context.sample_id,
        analyte=analyte or key,
        value=value,
        unit=quantity["unit"],
        well=context.well,
        qualifier=qualifier,
        target=context.target,
        plate=context.plate,
        group=context.group,
        role_type=context.role_type,
        layout_value=context.layout_value,
        wavelength_nm=context.wavelength_nm,
    )


def _merge(contexts: list[_Context]) -> _Context:
    """One context for a value computed from several wells: shared fields, wells listed."""

    def joined(field: str) -> str:
        values = dict.fromkeys(getattr(c, field) for c in contexts if getattr(c, field))
        return ",".join(values)

    if len(contexts) == 1:
        return contexts[0]
    return _Context(
        sample_id=joined("sample_id"),
        well=joined("well"),
        plate=joined("plate"),
        group=joined("group"),
        target=joined("target"),
        role_type=joined("role_type") if len({c.role_type for c in contexts}) == 1 else "",
        wavelength_nm=_shared(c.wavelength_nm for c in contexts),
    )


def _shared(values: Iterator[float | None]) -> float | None:
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def _number_replicates(values: list[MeasuredValue]) -> list[MeasuredValue]:
    """Number repeated measurements of one sample, analyte and target in document order."""

    def series(v: MeasuredValue) -> tuple[str, ...]:
        return (v.plate, v.group, v.sample_id, v.analyte, v.target)

    sizes = Counter(series(v) for v in values if v.sample_id)
    seen: Counter[tuple[str, ...]] = Counter()
    numbered = []
    for v in values:
        key = series(v)
        if v.sample_id and sizes[key] > 1:
            seen[key] += 1
            v = replace(v, replicate=str(seen[key]))
        numbered.append(v)
    return numbered
