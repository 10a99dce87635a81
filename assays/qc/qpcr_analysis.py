"""qPCR relative quantification as an assay definition configures it (pure, no database).

The assay definition carries a :class:`QpcrConfig` (``AssayDefinition.qpcr``): the targets it
reports, how they are normalised (the geometric mean of one or more reference genes,
Vandesompele et al., Genome Biol 2002;3:research0034, or one exogenous spike-in such as
cel-miR-39), where each gene's amplification efficiency comes from (a validated value, or the
standard curve run on the same plate: slope → ``E = 10^(-1/slope)``, MIQE, Bustin et al., Clin
Chem 2009;55:611) and the calibrator. :func:`relative_quantities` then gives each target's
ratio by Pfaffl (Nucleic Acids Res 2001;29:e45) with its interval (assays.qc.qpcr.pfaffl_ratio);
with every efficiency 2.0 and one reference this is Livak & Schmittgen's 2^-ΔΔCt.

A Ct of ``None`` is an undetermined well (no amplification within the run's cycles): it is
left out of the mean and said so; a gene with no determined Ct on one side gives no ratio.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from assays.qc import qpcr

# MIQE (Bustin et al. 2009) and Ph. Eur. 2.6.21: an efficiency outside 90-110 % is flagged; a
# ratio on it is still computed (the analyst sees both) but it is not silently trusted.
MIQE_EFFICIENCY_PERCENT = (90.0, 110.0)
VALIDATED = "validated"
STANDARD_CURVE = "standard_curve"
SOURCES = (VALIDATED, STANDARD_CURVE)
_WELL = re.compile(r"^([A-Pa-p])0*(\d{1,2})$")  # 96- and 384-well plates (A1 … P24)


def normalise_well(text: str) -> str:
    """'b03' → 'B3'; ValueError for anything that is not a well of a 96/384 plate."""
    match = _WELL.match(str(text).strip())
    if not match or not 1 <= int(match[2]) <= 24:
        raise ValueError(f"{text!r} is not a well (A1 … P24)")
    return f"{match[1].upper()}{int(match[2])}"


@dataclass(frozen=True)
class StandardPoint:
    """A dilution of the standard: its wells and log10 of its input amount (copies, ng…)."""

    wells: tuple[str, ...]
    log10_quantity: float


@dataclass(frozen=True)
class EfficiencySource:
    """Where a gene's efficiency comes from: a validated percentage, or the standard curve of
    the run (its points by well)."""

    source: str = VALIDATED
    percent: float | None = None
    standards: tuple[StandardPoint, ...] = ()

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"an efficiency's source is one of {', '.join(SOURCES)}")
        if self.source == VALIDATED:
            if self.percent is None or not (math.isfinite(self.percent) and self.percent > 0):
                raise ValueError("a validated efficiency is a positive percentage")
        elif len({p.log10_quantity for p in self.standards}) < 2:
            raise ValueError("a standard curve needs dilutions at two or more input amounts")

    @classmethod
    def from_json(cls, raw: object, gene: str) -> EfficiencySource:
        if not isinstance(raw, Mapping):
            raise ValueError(f"{gene}: the efficiency must be an object")
        source = str(raw.get("source", VALIDATED))
        percent = raw.get("percent")
        if percent is not None and (isinstance(percent, bool) or not _is_number(percent)):
            raise ValueError(f"{gene}: the efficiency percent must be a number")
        points = []
        for point in raw.get("standards") or []:
            if not isinstance(point, Mapping) or not _is_number(point.get("log10_quantity")):
                raise ValueError(f"{gene}: each standard has wells and a log10_quantity")
            wells = point.get("wells")
            if isinstance(wells, str):
                wells = [w for w in re.split(r"[\s,;]+", wells) if w]
            if not isinstance(wells, list) or not wells:
                raise ValueError(f"{gene}: each standard names its wells")
            points.append(
                StandardPoint(
                    tuple(normalise_well(w) for w in wells), float(point["log10_quantity"])
                )
            )
        try:
            return cls(
                source=source,
                percent=float(percent) if percent is not None else None,
                standards=tuple(points),
            )
        except ValueError as exc:
            raise ValueError(f"{gene}: {exc}") from exc

    def to_json(self) -> dict[str, Any]:
        if self.source == VALIDATED:
            return {"source": VALIDATED, "percent": self.percent}
        return {
            "source": STANDARD_CURVE,
            "standards": [
                {"wells": list(p.wells), "log10_quantity": p.log10_quantity} for p in self.standards
            ],
        }


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class QpcrConfig:
    """The qPCR analysis an assay version carries.

    ``references`` are normalised by their geometric mean (one or several); ``spike_in`` is the
    alternative, an exogenous RNA added at a fixed amount (then ``references`` is empty).
    ``targets`` are the genes reported; empty: every measured gene that does not normalise.
    ``efficiency`` is every gene's source unless ``efficiencies`` names the gene.
    ``calibrator_sample``: the calibrator's name in the run's file (its ``ct`` results are
    every sample's calibrator); empty: each sample's own ``calibrator_ct`` results.
    """

    references: tuple[str, ...] = ()
    spike_in: str = ""
    targets: tuple[str, ...] = ()
    efficiency: EfficiencySource = field(default_factory=lambda: EfficiencySource(VALIDATED, 100.0))
    efficiencies: Mapping[str, EfficiencySource] = field(default_factory=dict)
    calibrator_sample: str = ""
    calibrator: str = ""  # what the calibrator is, as the page says it

    def __post_init__(self) -> None:
        if bool(self.references) == bool(self.spike_in):
            raise ValueError("normalise by one or more reference genes or by one spike-in")
        normalisers = self.normalisers
        if len({g.lower() for g in normalisers}) != len(normalisers):
            raise ValueError("each reference gene is named once")
        clash = {t.lower() for t in self.targets} & {g.lower() for g in normalisers}
        if clash:
            raise ValueError(f"a target is not also a reference: {', '.join(sorted(clash))}")
        if any(not g.strip() for g in (*normalisers, *self.targets)):
            raise ValueError("gene names are not empty")

    @property
    def normalisers(self) -> tuple[str, ...]:
        return (self.spike_in,) if self.spike_in else self.references

    @property
    def is_delta_delta_ct(self) -> bool:
        """One normaliser and every efficiency a validated 100 % (E = 2): Livak's 2^-ΔΔCt."""
        sources = [self.efficiency, *self.efficiencies.values()]
        return len(self.normalisers) == 1 and all(
            s.source == VALIDATED and s.percent == 100.0 for s in sources
        )

    def source_of(self, gene: str) -> EfficiencySource:
        return self.efficiencies.get(gene, self.efficiency)

    @classmethod
    def from_json(cls, raw: object) -> QpcrConfig:
        """Read the JSON stored on an assay definition; ValueError says what is wrong."""
        if not isinstance(raw, Mapping):
            raise ValueError("the qPCR configuration must be an object")
        unknown = set(raw) - {
            "references",
            "spike_in",
            "targets",
            "efficiency",
            "efficiencies",
            "calibrator_sample",
            "calibrator",
        }
        if unknown:
            raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
        references, targets = raw.get("references") or [], raw.get("targets") or []
        if not isinstance(references, list) or not isinstance(targets, list):
            raise ValueError("references and targets are lists of gene names")
        efficiencies = raw.get("efficiencies") or {}
        if not isinstance(efficiencies, Mapping):
            raise ValueError("efficiencies maps a gene to its efficiency")
        default = raw.get("efficiency", {"source": VALIDATED, "percent": 100.0})
        return cls(
            references=tuple(str(g).strip() for g in references),
            spike_in=str(raw.get("spike_in") or "").strip(),
            targets=tuple(str(g).strip() for g in targets),
            efficiency=EfficiencySource.from_json(default, "efficiency"),
            efficiencies={
                str(g): EfficiencySource.from_json(s, str(g)) for g, s in efficiencies.items()
            },
            calibrator_sample=str(raw.get("calibrator_sample") or "").strip(),
            calibrator=str(raw.get("calibrator") or "").strip(),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "references": list(self.references),
            "spike_in": self.spike_in,
            "targets": list(self.targets),
            "efficiency": self.efficiency.to_json(),
            "efficiencies": {g: s.to_json() for g, s in self.efficiencies.items()},
            "calibrator_sample": self.calibrator_sample,
            "calibrator": self.calibrator,
        }


# --- Efficiencies ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneEfficiency:
    """A gene's efficiency as used: percent, factor E, where from, the standard curve's fit and
    points when it came from one, and whether it lies in the MIQE 90-110 % range."""

    gene: str
    source: str
    percent: float
    factor: float
    curve: qpcr.StandardCurveFit | None = None
    points: tuple[tuple[str, float, float], ...] = ()  # (well, log10 quantity, Ct)

    @property
    def in_range(self) -> bool:
        low, high = MIQE_EFFICIENCY_PERCENT
        return low <= self.percent <= high

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "source": self.source,
            "percent": self.percent,
            "factor": self.factor,
            "in_miqe_range": self.in_range,
        }
        if self.curve is not None:
            data["standard_curve"] = {
                "slope": self.curve.slope,
                "intercept": self.curve.intercept,
                "r_squared": self.curve.r_squared,
                "n": self.curve.n,
                "points": [{"well": w, "log10_quantity": q, "ct": ct} for w, q, ct in self.points],
            }
        return data


# (well, target) → Ct (None: undetermined), the wells of the run's file.
WellCts = Mapping[tuple[str, str], float | None]


def gene_efficiency(gene: str, source: EfficiencySource, wells: WellCts) -> GeneEfficiency:
    """The efficiency of ``gene``: its validated value, or the line through the standard wells
    of the run (undetermined wells left out). ValueError when the curve cannot be fitted."""
    if source.source == VALIDATED:
        percent = float(source.percent or 0.0)
        return GeneEfficiency(gene, VALIDATED, percent, qpcr.amplification_factor(percent))
    points = []
    for point in source.standards:
        for well in point.wells:
            ct = wells.get((well, gene))
            if ct is not None and math.isfinite(ct):
                points.append((well, point.log10_quantity, float(ct)))
    if not points:
        raise ValueError(f"{gene}: none of its standard wells has a Ct in the run's file")
    fit = qpcr.standard_curve([p[1] for p in points], [p[2] for p in points])
    return GeneEfficiency(
        gene, STANDARD_CURVE, fit.efficiency_percent, fit.amplification_factor, fit, tuple(points)
    )


# --- Ratios ---------------------------------------------------------------------------------

Cts = Mapping[str, Sequence[float | None]]  # gene → replicate Cts (None: undetermined)


@dataclass(frozen=True)
class TargetOutcome:
    """One target: its Pfaffl ratio, or ``error`` saying why there is none; ``flags`` are what
    the analyst must see (efficiency outside MIQE's range, undetermined replicates left out)."""

    target: str
    ratio: qpcr.PfafflRatio | None
    error: str = ""
    flags: tuple[str, ...] = ()


def _determined(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def _undetermined_flags(gene: str, side: str, values: Sequence[float | None]) -> list[str]:
    left_out = len(values) - len(_determined(values))
    if left_out and _determined(values):
        return [f"{gene} {side}: {left_out} undetermined replicate(s) left out"]
    return []


def reported_targets(config: QpcrConfig, sample: Cts) -> list[str]:
    """The targets a sample is reported for: the configured ones, else every measured gene
    that does not normalise."""
    if config.targets:
        return list(config.targets)
    normalisers = {g.lower() for g in config.normalisers}
    return sorted(g for g in sample if g.lower() not in normalisers)


def relative_quantities(
    config: QpcrConfig,
    sample: Cts,
    calibrator: Cts,
    efficiencies: Mapping[str, GeneEfficiency | str],
    *,
    confidence: float = 0.95,
) -> list[TargetOutcome]:
    """Pfaffl's ratio of each reported target of one sample against the calibrator.

    ``efficiencies`` gives each gene's :class:`GeneEfficiency`, or the text of why it has none
    (a standard curve that could not be fitted). A reference gene without a determined Ct, or
    without an efficiency, leaves every target without a ratio: normalising by the other
    references alone would change the normaliser between samples (Vandesompele 2002)."""
    outcomes = []
    shared_flags: list[str] = []
    shared_error = ""
    for gene in config.normalisers:
        eff = efficiencies.get(gene)
        if not _determined(sample.get(gene, [])) or not _determined(calibrator.get(gene, [])):
            where = "sample" if not _determined(sample.get(gene, [])) else "calibrator"
            shared_error = shared_error or f"reference {gene} has no determined Ct in the {where}"
        elif not isinstance(eff, GeneEfficiency):
            shared_error = shared_error or f"reference {gene}: no efficiency ({eff})"
        else:
            shared_flags += _efficiency_flags(eff)
            shared_flags += _undetermined_flags(gene, "sample", sample[gene])
            shared_flags += _undetermined_flags(gene, "calibrator", calibrator[gene])
    for target in reported_targets(config, sample):
        flags = list(shared_flags)
        eff = efficiencies.get(target)
        s, c = sample.get(target, []), calibrator.get(target, [])
        error = shared_error
        if not error and not _determined(s):
            error = f"{target} not determined in the sample" if s else f"{target} not measured"
        if not error and not _determined(c):
            error = f"{target} has no determined Ct in the calibrator"
        if not error and not isinstance(eff, GeneEfficiency):
            error = f"{target}: no efficiency ({eff})"
        if error or not isinstance(eff, GeneEfficiency):
            outcomes.append(TargetOutcome(target, None, error, tuple(flags)))
            continue
        flags = _efficiency_flags(eff) + flags
        flags += _undetermined_flags(target, "sample", s)
        flags += _undetermined_flags(target, "calibrator", c)
        try:
            ratio = qpcr.pfaffl_ratio(
                qpcr.GeneCts(target, _determined(s), _determined(c), eff.factor),
                [
                    qpcr.GeneCts(
                        g,
                        _determined(sample[g]),
                        _determined(calibrator[g]),
                        cast(GeneEfficiency, efficiencies[g]).factor,  # checked above
                    )
                    for g in config.normalisers
                ],
                confidence=confidence,
            )
        except ValueError as exc:
            outcomes.append(TargetOutcome(target, None, str(exc), tuple(flags)))
            continue
        outcomes.append(TargetOutcome(target, ratio, "", tuple(flags)))
    return outcomes


def _efficiency_flags(eff: GeneEfficiency) -> list[str]:
    if eff.in_range:
        return []
    low, high = MIQE_EFFICIENCY_PERCENT
    return [
        f"{eff.gene} efficiency {eff.percent:.1f} % outside {low:g}-{high:g} % (MIQE)",
    ]
