"""Plate assays computed from the plate: a layout, the reader's values, a fit, back-calculation.

A **layout** says what each well of a 96-well plate (rows A-H, columns 1-12) holds, as groups
of wells sharing a role and a name:

``standard``  a calibrator of known ``concentration`` (e.g. BSA 2000 µg/mL, CSE 5 EU/mL);
``blank``     diluent only: its mean response is subtracted from every well when the layout
              says ``blank_subtract`` (absorbance assays; never onset times);
``sample``    a test sample at a ``dilution`` (fold: 2 means 1 + 1, so the undiluted value is
              twice the one read on the curve);
``spike``     the same sample at the same dilution with a known endotoxin ``concentration``
              added (the positive product control of USP <85>);
``control``   any other control, read on the curve and shown, not reported.

The **response** is what the reader gives each well: ``absorbance`` (an endpoint read),
``onset_time`` (kinetic LAL: seconds until the well's absorbance rises the layout's
``onset_od`` over its first reading) or ``rate`` (a kinetic read's mean slope, mOD/min, Gen5
"Mean V"). Onset times and rates are taken from the file when it has them, else computed from
the wells' kinetic reads (:mod:`assays.qc.kinetics`).

A **multiplex** plate (Luminex xPONENT, response ``mfi``: each well's net median fluorescence
per bead region) measures several analytes in every well. Its standards may then give one
concentration per analyte (``concentrations``: ``{"TNF-a": 10000, "IL-6": 5000}``, a kit's
top standards differ by analyte), and each analyte gets its own curve on its own MFI
(:func:`compute_multiplex`); the layout is otherwise the same for every analyte.

The **fit** is chosen by the layout: ``4pl`` / ``5pl`` (:mod:`assays.qc.curves`, Gen5/SoftMax
form), ``linear`` (``y = slope·x + intercept``, ordinary least squares) or ``loglog`` (kinetic
LAL, :mod:`assays.qc.endotoxin`: ``log10 onset = intercept + slope·log10 EU/mL``). Standards
enter the fit well by well (replicates as separate points). A sample's replicate wells are
averaged first (mean response), that mean is read on the curve inside the standards' range
only (never extrapolated: "<LLOQ" / ">ULOQ") and multiplied by the dilution. A sample measured
at several dilutions is reported as the mean of its quantifiable dilutions.

References: Findlay JWA & Dillard RF, AAPS J 2007;9(2):E260 (calibration, back-calculation,
no extrapolation); USP <85> and Ph. Eur. 2.6.14 (kinetic LAL: |r| ≥ 0.980, PPC recovery
50-200 %); Smith PK et al., Anal Biochem 1985;150:76 (BCA; blank-corrected A562 vs BSA).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import curves, endotoxin

ROWS = "ABCDEFGH"
COLUMNS = tuple(range(1, 13))
WELLS: tuple[str, ...] = tuple(f"{r}{c}" for r in ROWS for c in COLUMNS)
ROLES = ("standard", "blank", "sample", "spike", "control")
FITS = ("4pl", "5pl", "linear", "loglog")
RESPONSES = ("absorbance", "onset_time", "rate", "mfi")
# Kinetic LAL: the rise in absorbance over a well's first reading that marks its onset, when the
# onset times are computed from a kinetic read (assays.qc.kinetics). The kit's package insert
# gives it; the layout states it ("onset_od").
DEFAULT_ONSET_OD = 0.2
BELOW_LAMBDA = "<λ"  # USP <85>: below the lowest standard, reported as "< λ × dilution"

_WELL = re.compile(r"^\s*([A-Ha-h])\s*0?(\d{1,2})\s*$")


class LayoutError(ValueError):
    """A layout that cannot be used, with the reasons by field ("groups[2].dilution"...)."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


def normalise_well(text: str) -> str:
    """``"a01"`` → ``"A1"``; ValueError for anything that is not a well of a 96-well plate."""
    match = _WELL.match(text) if isinstance(text, str) else None
    if match is None or not 1 <= int(match[2]) <= 12:
        raise ValueError(f"{text!r} is not a well of a 96-well plate (A1-H12)")
    return f"{match[1].upper()}{int(match[2])}"


def expand_wells(spec: str | Iterable[str]) -> tuple[str, ...]:
    """Wells from a list (``["A1", "A2"]``), a comma list (``"A1,A2"``) or rectangles
    (``"A1:C3"`` = A1-A3, B1-B3, C1-C3), in row-major order."""
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    wells: list[str] = []
    for part in parts:
        if isinstance(part, str) and ":" in part:
            first, last = (normalise_well(p) for p in part.split(":", 1))
            rows = sorted((ROWS.index(first[0]), ROWS.index(last[0])))
            cols = sorted((int(first[1:]), int(last[1:])))
            wells += [
                f"{ROWS[r]}{c}"
                for r in range(rows[0], rows[1] + 1)
                for c in range(cols[0], cols[1] + 1)
            ]
        else:
            wells.append(normalise_well(part))
    return tuple(wells)


@dataclass(frozen=True)
class WellGroup:
    """Wells holding one thing: a standard level, the blank, a sample at one dilution..."""

    role: str
    name: str
    wells: tuple[str, ...]
    concentration: float | None = None  # standards: nominal; spikes: endotoxin added
    dilution: float = 1.0
    # Multiplex standards: the nominal concentration of each analyte, where they differ.
    concentrations: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "name": self.name, "wells": list(self.wells)}
        if self.concentration is not None:
            out["concentration"] = self.concentration
        if self.concentrations:
            out["concentrations"] = dict(self.concentrations)
        if self.dilution != 1.0:
            out["dilution"] = self.dilution
        return out


@dataclass(frozen=True)
class PlateLayout:
    """What each well holds, the fit to use and the units (see the module docstring)."""

    groups: tuple[WellGroup, ...]
    fit: str = "4pl"
    unit: str = "ug/mL"
    response: str = "absorbance"
    blank_subtract: bool = True
    name: str = ""
    onset_od: float = DEFAULT_ONSET_OD

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlateLayout:
        """A layout from its JSON form; LayoutError listing every problem at once."""
        errors: dict[str, list[str]] = {}

        def err(key: str, message: str) -> None:
            errors.setdefault(key, []).append(message)

        if not isinstance(data, Mapping):
            raise LayoutError({"layout": ["must be an object"]})
        fit = str(data.get("fit", "4pl"))
        if fit not in FITS:
            err("fit", f"must be one of {', '.join(FITS)}")
        response = str(data.get("response", "onset_time" if fit == "loglog" else "absorbance"))
        if response not in RESPONSES:
            err("response", f"must be one of {', '.join(RESPONSES)}")
        raw_onset = data.get("onset_od")
        onset_od = DEFAULT_ONSET_OD if raw_onset in (None, "") else _number(raw_onset)
        if onset_od is None or onset_od <= 0:
            err("onset_od", "the onset OD is a positive rise in absorbance (e.g. 0.2)")
        groups: list[WellGroup] = []
        raw_groups = data.get("groups")
        if not isinstance(raw_groups, list) or not raw_groups:
            err("groups", "at least one group of wells is required")
            raw_groups = []
        owner: dict[str, str] = {}
        for i, raw in enumerate(raw_groups):
            key = f"groups[{i}]"
            if not isinstance(raw, Mapping):
                err(key, "must be an object")
                continue
            role = str(raw.get("role", ""))
            name = str(raw.get("name", "")).strip()
            if role not in ROLES:
                err(f"{key}.role", f"must be one of {', '.join(ROLES)}")
            if not name and role != "blank":
                err(f"{key}.name", "a name is required")
            try:
                wells = expand_wells(raw.get("wells") or [])
            except (ValueError, TypeError) as exc:
                err(f"{key}.wells", str(exc))
                continue
            if not wells:
                err(f"{key}.wells", "at least one well is required")
            for well in wells:
                if well in owner:
                    err(f"{key}.wells", f"{well} is already {owner[well]}")
                owner[well] = f"{role} {name}".strip()
            concentration = _number(raw.get("concentration"))
            dilution = _number(raw.get("dilution", 1.0))
            per_analyte = _per_analyte(raw.get("concentrations"), f"{key}.concentrations", err)
            if role == "standard" and per_analyte and concentration is None:
                pass  # every analyte's concentration is given
            elif role in ("standard", "spike"):
                if (
                    concentration is None
                    or concentration < 0
                    or (fit == "loglog" and concentration <= 0)
                ):
                    err(
                        f"{key}.concentration",
                        "a positive concentration is required"
                        if fit == "loglog" or role == "spike"
                        else "a concentration ≥ 0 is required",
                    )
                elif role == "spike" and concentration == 0:
                    err(f"{key}.concentration", "the spike added must be positive")
            if dilution is None or dilution < 1:
                err(f"{key}.dilution", "the dilution is a fold ≥ 1 (2 for 1 + 1)")
            groups.append(
                WellGroup(
                    role,
                    name or "Blank",
                    wells,
                    concentration,
                    dilution or 1.0,
                    per_analyte if role == "standard" else {},
                )
            )
        standards = {
            (g.concentration, tuple(sorted(g.concentrations.items())))
            for g in groups
            if g.role == "standard"
        }
        if raw_groups and len(standards) < (3 if fit == "loglog" else 2):
            err("groups", f"the {fit} fit needs more standard concentrations than {len(standards)}")
        if raw_groups and not any(g.role == "sample" for g in groups):
            err("groups", "no sample wells: nothing to report")
        for spike in (g for g in groups if g.role == "spike"):
            if not any(
                g.role == "sample" and g.name == spike.name and g.dilution == spike.dilution
                for g in groups
            ):
                err(
                    "groups",
                    f"spike {spike.name} has no unspiked sample at dilution {spike.dilution:g}",
                )
        if errors:
            raise LayoutError(errors)
        return cls(
            groups=tuple(groups),
            fit=fit,
            unit=str(
                data.get(
                    "unit",
                    "EU/mL" if fit == "loglog" else "pg/mL" if response == "mfi" else "ug/mL",
                )
            ),
            response=response,
            blank_subtract=bool(data.get("blank_subtract", response == "absorbance")),
            name=str(data.get("name", "")),
            onset_od=onset_od or DEFAULT_ONSET_OD,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "fit": self.fit,
            "unit": self.unit,
            "response": self.response,
            "blank_subtract": self.blank_subtract,
            "groups": [g.to_dict() for g in self.groups],
        }
        if self.response == "onset_time":
            out["onset_od"] = self.onset_od
        return out

    def group_of(self) -> dict[str, WellGroup]:
        return {well: g for g in self.groups for well in g.wells}

    def for_analyte(self, analyte: str) -> PlateLayout:
        """The layout of one analyte of a multiplex plate: each standard at that analyte's
        concentration (its ``concentrations`` entry, else its ``concentration``). LayoutError
        when a standard gives none for it."""
        groups = []
        missing = []
        for g in self.groups:
            if g.role == "standard":
                nominal = g.concentrations.get(analyte, g.concentration)
                if nominal is None:
                    missing.append(g.name)
                g = WellGroup(g.role, g.name, g.wells, nominal, g.dilution)
            groups.append(g)
        if missing:
            raise LayoutError(
                {"groups": [f"no concentration of {analyte} for standard {', '.join(missing)}"]}
            )
        return dataclasses.replace(self, groups=tuple(groups))


def _per_analyte(raw: Any, key: str, err: Callable[[str, str], None]) -> dict[str, float]:
    """A multiplex standard's ``{"analyte": concentration ≥ 0}``; {} when not given."""
    if raw is None or raw == {}:
        return {}
    if not isinstance(raw, Mapping):
        err(key, "must map each analyte to its concentration")
        return {}
    out = {}
    for analyte, value in raw.items():
        number = _number(value)
        if not str(analyte).strip() or number is None or number < 0:
            err(key, f"{analyte}: a concentration ≥ 0 is required")
        else:
            out[str(analyte).strip()] = number
    return out


def _number(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# ----------------------------------------------------------------------------------- curves


class Curve(Protocol):
    """What every fitted curve offers: parameters, statistics, predict and back-calculate."""

    @property
    def method(self) -> str: ...

    @property
    def parameters(self) -> dict[str, float]: ...

    @property
    def statistics(self) -> dict[str, float]: ...

    @property
    def standards_range(self) -> tuple[float, float]: ...

    def predict(self, x: ArrayLike) -> NDArray[np.float64]: ...

    def back_calculate(self, y: float, *, dilution: float) -> curves.BackCalc: ...

    def failures(self, response: str) -> list[str]: ...


@dataclass
class LogisticCurve:
    """A 4PL or 5PL fit (:mod:`assays.qc.curves`)."""

    fit: curves.FourPLFit | curves.FivePLFit
    method: str = "4pl"

    @property
    def parameters(self) -> dict[str, float]:
        return self.fit.parameters

    @property
    def statistics(self) -> dict[str, float]:
        within = self.fit.standards_within_tolerance()
        return {
            "r_squared": self.fit.r_squared,
            "residual_se": self.fit.residual_se,
            "df": float(self.fit.df),
            "standards_within_percent": 100.0 * within if within is not None else math.nan,
        }

    @property
    def standards_range(self) -> tuple[float, float]:
        return self.fit.standards_range

    def predict(self, x: ArrayLike) -> NDArray[np.float64]:
        return self.fit.predict(x)

    def back_calculate(self, y: float, *, dilution: float) -> curves.BackCalc:
        return self.fit.back_calculate([y], dilution=dilution)[0]

    def failures(self, response: str) -> list[str]:
        return self.fit.suitability_failures()


@dataclass
class LinearCurve:
    """``y = slope·x + intercept`` by ordinary least squares over the standards."""

    slope: float
    intercept: float
    r_squared: float
    standards_range: tuple[float, float]
    method: str = "linear"

    @property
    def parameters(self) -> dict[str, float]:
        return {"slope": self.slope, "intercept": self.intercept}

    @property
    def statistics(self) -> dict[str, float]:
        return {"r_squared": self.r_squared}

    def predict(self, x: ArrayLike) -> NDArray[np.float64]:
        return self.slope * np.asarray(x, dtype=np.float64) + self.intercept

    def back_calculate(self, y: float, *, dilution: float) -> curves.BackCalc:
        if not math.isfinite(y) or self.slope == 0:
            return curves.BackCalc(None, curves.NOT_CALCULABLE)
        x = (y - self.intercept) / self.slope
        return _in_range(x, self.standards_range, dilution)

    def failures(self, response: str) -> list[str]:
        return [] if self.slope != 0 else ["the standard curve is flat"]


def fit_linear(x: ArrayLike, y: ArrayLike) -> LinearCurve:
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if np.unique(xa).size < 2:
        raise ValueError("need at least two distinct standard concentrations")
    dx, dy = xa - xa.mean(), ya - ya.mean()
    slope = float(dx @ dy / (dx @ dx))
    sst = float(dy @ dy)
    sse = float(np.sum((dy - slope * dx) ** 2))
    positive = xa[xa > 0]
    return LinearCurve(
        slope=slope,
        intercept=float(ya.mean() - slope * xa.mean()),
        r_squared=1.0 - sse / sst if sst > 0 else math.nan,
        standards_range=(float(positive.min()), float(positive.max())),
    )


@dataclass
class LogLogCurve:
    """Kinetic LAL: ``log10 onset = intercept + slope·log10 EU/mL`` (:mod:`assays.qc.endotoxin`)."""

    curve: endotoxin.EndotoxinCurve
    method: str = "loglog"
    below: str = BELOW_LAMBDA  # "<λ" for onset times (USP <85>), "<LLOQ" for absorbance

    @property
    def parameters(self) -> dict[str, float]:
        return {"slope": self.curve.slope, "intercept": self.curve.intercept}

    @property
    def statistics(self) -> dict[str, float]:
        return {"r": self.curve.r, "levels": float(self.curve.n_levels)}

    @property
    def standards_range(self) -> tuple[float, float]:
        return (self.curve.lambda_eu_per_ml, self.curve.highest_eu_per_ml)

    def predict(self, x: ArrayLike) -> NDArray[np.float64]:
        log_x = np.log10(np.asarray(x, dtype=np.float64))
        return np.asarray(10.0 ** (self.curve.intercept + self.curve.slope * log_x))

    def back_calculate(self, y: float, *, dilution: float) -> curves.BackCalc:
        if not (math.isfinite(y) and y > 0):
            # No onset within the read time: below every standard.
            return curves.BackCalc(None, self.below)
        x = endotoxin.sample_concentration(self.curve, y)
        found = _in_range(x, self.standards_range, dilution)
        if found.qualifier == curves.LLOQ_FLAG:
            return curves.BackCalc(None, self.below)
        return found

    def failures(self, response: str) -> list[str]:
        if response != "onset_time":  # the USP <85> criteria are the LAL test's
            return []
        out = []
        if abs(self.curve.r) < endotoxin.MIN_ABS_R_DEFAULT:
            out.append(
                f"|r| = {abs(self.curve.r):.4f} < {endotoxin.MIN_ABS_R_DEFAULT:.3f} (USP <85>)"
            )
        if self.curve.n_levels < endotoxin.MIN_STANDARD_LEVELS_DEFAULT:
            out.append(f"{self.curve.n_levels} standard levels; USP <85> asks for 3 or more")
        return out


def _in_range(x: float, limits: tuple[float, float], dilution: float) -> curves.BackCalc:
    low, high = limits
    if x < low * (1 - 1e-9):
        return curves.BackCalc(None, curves.LLOQ_FLAG)
    if x > high * (1 + 1e-9):
        return curves.BackCalc(None, curves.ULOQ_FLAG)
    return curves.BackCalc(x * dilution, None)


def fit_curve(method: str, x: ArrayLike, y: ArrayLike, response: str = "absorbance") -> Curve:
    """The fitted curve of ``method`` (one of FITS); ValueError when the standards cannot be
    fitted."""
    if method == "4pl":
        return LogisticCurve(curves.fit_four_pl(x, y), "4pl")
    if method == "5pl":
        return LogisticCurve(curves.fit_five_pl(x, y), "5pl")
    if method == "linear":
        return fit_linear(x, y)
    if method == "loglog":
        below = BELOW_LAMBDA if response == "onset_time" else curves.LLOQ_FLAG
        return LogLogCurve(endotoxin.fit_standard_curve(x, y), below=below)
    raise ValueError(f"unknown fit {method!r}")


# ------------------------------------------------------------------------------ computation


@dataclass
class GroupResult:
    """One group's wells, their responses (blank-corrected), and what the curve makes of them."""

    group: WellGroup
    responses: list[float | None]
    mean_response: float | None
    cv_percent: float | None
    found: curves.BackCalc | None = None  # read on the curve, × dilution
    plate: str = ""

    @property
    def role(self) -> str:
        return self.group.role

    @property
    def name(self) -> str:
        return self.group.name


@dataclass
class SpikeRecovery:
    """Positive product control: (spiked − unspiked) / added, at the same dilution."""

    name: str
    dilution: float
    added: float
    percent: float | None

    @property
    def valid(self) -> bool:
        return self.percent is not None and endotoxin.recovery_is_valid(self.percent)


@dataclass
class Reportable:
    """A sample's reportable value: mean of its quantifiable dilutions, else the flag."""

    name: str
    value: float | None
    qualifier: str
    dilutions: list[GroupResult]


@dataclass
class PlateOutcome:
    layout: PlateLayout
    blank_mean: float | None
    groups: list[GroupResult]
    curve: Curve | None
    failures: list[str] = field(default_factory=list)
    spikes: list[SpikeRecovery] = field(default_factory=list)
    unassigned: list[str] = field(default_factory=list)  # wells read but not in the layout

    @property
    def standards(self) -> list[GroupResult]:
        return [g for g in self.groups if g.role == "standard"]

    @property
    def samples(self) -> list[GroupResult]:
        return [g for g in self.groups if g.role == "sample"]

    @property
    def valid(self) -> bool:
        return not self.failures

    def standard_points(self) -> tuple[list[float], list[float]]:
        """(concentration, response) of every standard well with a response."""
        xs, ys = [], []
        for g in self.standards:
            for r in g.responses:
                if r is not None and g.group.concentration is not None:
                    xs.append(g.group.concentration)
                    ys.append(r)
        return xs, ys

    def standards_within_percent(
        self, *, tolerance: float = 0.20, end_tolerance: float = 0.25
    ) -> float | None:
        """Per cent of standard levels (x > 0) whose mean response back-calculates within
        ±``tolerance`` of the nominal concentration (±``end_tolerance`` at the lowest and
        highest level; FDA 2018 bioanalytical method validation); None without a curve."""
        if self.curve is None:
            return None
        levels = [g for g in self.standards if (g.group.concentration or 0) > 0]
        if not levels:
            return None
        nominal = [g.group.concentration or 0.0 for g in levels]
        low, high = min(nominal), max(nominal)
        within = 0
        for g, x in zip(levels, nominal, strict=True):
            found = g.found.value if g.found is not None else None
            limit = end_tolerance if x in (low, high) else tolerance
            if found is not None and abs(found / x - 1) <= limit + 1e-12:
                within += 1
        return 100.0 * within / len(levels)

    def reportables(self) -> list[Reportable]:
        by_name: dict[str, list[GroupResult]] = {}
        for g in self.samples:
            by_name.setdefault(g.name, []).append(g)
        out = []
        for name, groups in by_name.items():
            values = [g.found.value for g in groups if g.found and g.found.value is not None]
            if values:
                out.append(Reportable(name, sum(values) / len(values), "", groups))
            else:
                qualifiers = {g.found.qualifier for g in groups if g.found and g.found.qualifier}
                out.append(
                    Reportable(name, None, "/".join(sorted(q for q in qualifiers if q)), groups)
                )
        return out


def _mean_cv(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2 or mean == 0:
        return mean, None
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return mean, 100.0 * sd / abs(mean)


Readings = Mapping[str, float | None]


def compute_plate(layout: PlateLayout, readings: Readings | Mapping[str, Readings]) -> PlateOutcome:
    """Fit the layout's standards and read every other group on the curve.

    ``readings`` maps well → response for one plate, or plate name → (well → response) for a
    file of several plates read with the same layout: the standards of every plate then make one
    curve (as SoftMax Pro's ``InterpX(STD@StandardCurve)`` does) and each plate's groups are
    read on it. Never raises for bad data: an unusable plate comes back with ``failures`` (and
    no curve when none could be fitted).
    """
    plates = _by_plate(readings)
    failures: list[str] = []
    groups: list[GroupResult] = []
    blank_means: list[float] = []
    unassigned: list[str] = []
    assigned = layout.group_of()
    for plate_name, values in plates.items():
        where = f"{plate_name} " if len(plates) > 1 else ""
        missing = [w for g in layout.groups for w in g.wells if values.get(w) is None]
        if missing and layout.response != "onset_time":
            failures.append(f"no reading for {where}{', '.join(missing)}")
        elif layout.response == "onset_time":
            # A sample without onset holds less endotoxin than λ; a standard without one
            # fails the curve (USP <85>: every standard must react within the read).
            late = [
                w
                for g in layout.groups
                if g.role == "standard"
                for w in g.wells
                if values.get(w) is None
            ]
            if late:
                failures.append(f"no onset within the read for standard {where}{', '.join(late)}")
        unassigned += [f"{where}{w}" for w in sorted(set(values) - set(assigned), key=WELLS.index)]
        blank_mean = None
        if layout.blank_subtract:
            blanks = [values.get(w) for g in layout.groups if g.role == "blank" for w in g.wells]
            numbers = [v for v in blanks if v is not None]
            if numbers:
                blank_mean = sum(numbers) / len(numbers)
                blank_means.append(blank_mean)
            else:
                failures.append(f"{where}blank subtraction asked but no blank well has a reading")
        for spec in layout.groups:
            responses = [
                None if (v := values.get(w)) is None else v - (blank_mean or 0.0)
                for w in spec.wells
            ]
            mean, cv = _mean_cv([r for r in responses if r is not None])
            groups.append(GroupResult(spec, responses, mean, cv, plate=plate_name))
    outcome = PlateOutcome(
        layout=layout,
        blank_mean=sum(blank_means) / len(blank_means) if blank_means else None,
        groups=groups,
        curve=None,
        failures=failures,
        unassigned=unassigned,
    )
    xs, ys = outcome.standard_points()
    try:
        curve = fit_curve(layout.fit, xs, ys, layout.response)
    except ValueError as exc:
        failures.append(f"no {layout.fit} fit: {exc}")
        return outcome
    outcome.curve = curve
    failures.extend(curve.failures(layout.response))
    for g in groups:
        if g.role == "blank":
            continue
        dilution = 1.0 if g.role == "standard" else g.group.dilution
        if g.mean_response is None:
            no_onset = layout.response == "onset_time"  # no onset within the read: below λ
            g.found = curves.BackCalc(None, BELOW_LAMBDA if no_onset else curves.NOT_CALCULABLE)
        else:
            g.found = curve.back_calculate(g.mean_response, dilution=dilution)
    outcome.spikes = _spike_recoveries(outcome)
    for spike in outcome.spikes:
        if not spike.valid:
            shown = "not calculable" if spike.percent is None else f"{spike.percent:.0f} %"
            failures.append(
                f"spike recovery of {spike.name} (1:{spike.dilution:g}) {shown}, outside "
                "50-200 % (USP <85>)"
            )
    return outcome


def _by_plate(readings: Readings | Mapping[str, Readings]) -> dict[str, dict[str, float | None]]:
    nested = any(isinstance(v, Mapping) for v in readings.values())
    plates: Mapping[str, Any] = readings if nested else {"": readings}
    out: dict[str, dict[str, float | None]] = {}
    for name, values in plates.items():
        out[str(name)] = {
            normalise_well(w): (float(v) if v is not None and math.isfinite(v) else None)
            for w, v in values.items()
        }
    return out


def _raw_concentration(g: GroupResult, curve: Curve) -> float | None:
    """The concentration read on the curve at the group's own dilution (no × dilution), with
    values below the range taken as 0 (no endotoxin found in the unspiked sample)."""
    if g.found is None:
        return None
    if g.found.value is not None:
        return g.found.value / g.group.dilution
    if g.found.qualifier in (curves.LLOQ_FLAG, BELOW_LAMBDA):
        return 0.0
    return None


def _spike_recoveries(outcome: PlateOutcome) -> list[SpikeRecovery]:
    if outcome.curve is None:
        return []
    out = []
    for spike in (g for g in outcome.groups if g.role == "spike"):
        unspiked = next(
            g
            for g in outcome.samples
            if g.name == spike.name
            and g.group.dilution == spike.group.dilution
            and g.plate == spike.plate
        )
        spiked_conc = _raw_concentration(spike, outcome.curve)
        unspiked_conc = _raw_concentration(unspiked, outcome.curve)
        added = spike.group.concentration or 0.0
        percent = (
            endotoxin.spike_recovery(spiked_conc, unspiked_conc, added)
            if spiked_conc is not None and unspiked_conc is not None and added > 0
            else None
        )
        out.append(SpikeRecovery(spike.name, spike.group.dilution, added, percent))
    return out


def compute_multiplex(
    layout: PlateLayout, readings: Mapping[str, Readings | Mapping[str, Readings]]
) -> dict[str, PlateOutcome]:
    """A multiplex plate (Luminex): ``readings`` maps analyte → its readings (as for
    :func:`compute_plate`); each analyte is fitted on its own standards' responses at its own
    concentrations (:meth:`PlateLayout.for_analyte`) and its samples read on its own curve,
    inside its own standards' range only. An analyte whose standards have no concentration
    comes back with that failure and no curve."""
    outcomes = {}
    for analyte, values in readings.items():
        try:
            own = layout.for_analyte(analyte)
        except LayoutError as exc:
            outcomes[analyte] = PlateOutcome(
                layout=layout, blank_mean=None, groups=[], curve=None, failures=[str(exc)]
            )
            continue
        outcomes[analyte] = compute_plate(own, values)
    return outcomes
