"""Flow cytometry: % positive against a control-derived threshold and the ISCT MSC identity panel.

A marker-positive gate is set on an isotype or FMO control (e.g. its 99th percentile); the
percentage of parent-gate events above it is the marker's % positive. The identity verdict
compares those percentages with a specification passed in as data: the ISCT minimal criteria
(Dominici M et al., Cytotherapy 2006;8:315) are the default, and a site's QA may replace them.

References: Dominici et al. 2006 (ISCT position statement); Maecker HT & Trotter J, Cytometry A
2006;69:1037 (selecting controls, FMO/isotype thresholds).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


def threshold_from_control(control_values: ArrayLike, percentile: float = 99.0) -> float:
    """Positivity threshold = ``percentile``-th percentile of the control's events.

    Linear interpolation between order statistics (``numpy.percentile`` default, Hyndman & Fan
    type 7). With the default 99, about 1 % of the control's events lie above the threshold.
    """
    v = np.asarray(control_values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError("the control has no events")
    if not 0.0 <= percentile <= 100.0:
        raise ValueError("percentile must be between 0 and 100")
    return float(np.percentile(v, percentile))


def percent_positive(values: ArrayLike, threshold: float) -> float:
    """% positive = ``100 · #(events > threshold) / #(events in the parent gate)``.

    ``values`` are the marker intensities of all events in the parent gate (non-finite values
    are rejected rather than silently dropped, so the denominator stays the parent count).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError("the parent gate has no events")
    if not np.all(np.isfinite(v)):
        raise ValueError("event values must be finite")
    if not math.isfinite(threshold):
        raise ValueError("threshold must be a finite number")
    return 100.0 * float(np.count_nonzero(v > threshold)) / v.size


@dataclass(frozen=True)
class IdentityCriterion:
    """One specification line: ``markers`` are alternatives ("CD14 or CD11b"), each measured
    one must have % positive ``>= minimum`` and/or ``<= maximum``."""

    markers: tuple[str, ...]
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        if not self.markers:
            raise ValueError("a criterion needs at least one marker")
        if self.minimum is None and self.maximum is None:
            raise ValueError(f"{self.name}: give a minimum and/or a maximum")

    @property
    def name(self) -> str:
        return " or ".join(self.markers)

    def accepts(self, percent: float) -> bool:
        if self.minimum is not None and not percent >= self.minimum:
            return False
        return not (self.maximum is not None and not percent <= self.maximum)


#: ISCT minimal criteria (Dominici et al. 2006): positive ≥ 95 %, negative ≤ 2 %.
ISCT_DEFAULT_SPEC: tuple[IdentityCriterion, ...] = (
    IdentityCriterion(("CD73",), minimum=95.0),
    IdentityCriterion(("CD90",), minimum=95.0),
    IdentityCriterion(("CD105",), minimum=95.0),
    IdentityCriterion(("CD45",), maximum=2.0),
    IdentityCriterion(("CD34",), maximum=2.0),
    IdentityCriterion(("CD14", "CD11b"), maximum=2.0),
    IdentityCriterion(("CD79a", "CD19"), maximum=2.0),
    IdentityCriterion(("HLA-DR",), maximum=2.0),
)


@dataclass(frozen=True)
class MarkerResult:
    """Outcome of one criterion for one marker; ``marker``/``percent_positive``/``passed`` are
    None when none of the criterion's alternative markers was measured."""

    criterion: str
    marker: str | None
    percent_positive: float | None
    minimum: float | None
    maximum: float | None
    passed: bool | None


@dataclass(frozen=True)
class IdentityVerdict:
    """``passed`` only when every criterion was measured and every measured marker passed."""

    passed: bool
    results: tuple[MarkerResult, ...]
    missing: tuple[str, ...]

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(r.marker for r in self.results if r.passed is False and r.marker)


def _marker_key(name: str) -> str:
    """Match "CD79α"/"CD79a", "HLA-DR"/"HLA DR"/"hladr": case, α, spaces and dashes ignored."""
    upper = name.upper().replace("\N{GREEK CAPITAL LETTER ALPHA}", "A")
    return "".join(ch for ch in upper if ch.isalnum())


def isct_identity(
    percentages: Mapping[str, float], spec: Sequence[IdentityCriterion] | None = None
) -> IdentityVerdict:
    """MSC identity verdict from marker % positive values against ``spec``.

    ``spec`` defaults to :data:`ISCT_DEFAULT_SPEC` (CD73, CD90, CD105 ≥ 95 %; CD45, CD34,
    CD14 or CD11b, CD79α or CD19, HLA-DR ≤ 2 %; Dominici et al. 2006). For a criterion with
    alternatives, every measured alternative must pass; a criterion with no measured marker is
    listed in ``missing`` and makes the verdict fail (identity not shown). Markers in
    ``percentages`` that no criterion names are ignored.
    """
    criteria = tuple(ISCT_DEFAULT_SPEC if spec is None else spec)
    measured = {_marker_key(name): (name, float(value)) for name, value in percentages.items()}
    results: list[MarkerResult] = []
    missing: list[str] = []
    for criterion in criteria:
        found = [measured[k] for k in map(_marker_key, criterion.markers) if k in measured]
        if not found:
            missing.append(criterion.name)
            results.append(
                MarkerResult(criterion.name, None, None, criterion.minimum, criterion.maximum, None)
            )
        for name, value in found:
            passed = math.isfinite(value) and criterion.accepts(value)
            results.append(
                MarkerResult(
                    criterion.name, name, value, criterion.minimum, criterion.maximum, passed
                )
            )
    passed = not missing and all(r.passed for r in results)
    return IdentityVerdict(passed=passed, results=tuple(results), missing=tuple(missing))
