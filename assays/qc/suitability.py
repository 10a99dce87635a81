"""System suitability: the validity criteria of an assay run, checked before its results count.

A run that fails them is *invalid*, not out of specification: the measurement system did not
work, so the run says nothing about the product (FDA, Investigating OOS Test Results, 2006,
section III.B; USP <1225>). The rules are data of the assay definition
(``AssayDefinition.suitability``), each a mapping with:

``analyte``   the result it reads (the mean of its replicates in the run);
``minimum`` / ``maximum``   the accepted range (either may be absent);
``absolute``  judge ``|value|`` (a correlation coefficient, negative for a falling curve);
``ratio_to``  judge ``value / mean(ratio_to)`` (a stimulation window: LPS over unstimulated);
``each``      judge every value, not their mean (one efficiency per target's standard curve:
              85 % and 115 % must not average to a passing 100 %);
``expected``  the qualitative call every result of the analyte must be (a no-template control
              "no amplification"), instead of a range;
``required``  the run is invalid without this result;
``reason``    what is checked and its source, shown when it fails.

Worked examples (qc_validate): a LAL run whose positive product control recovered 12 % fails
"50-200 %" (USP <85>); a standard curve with r = −0.975 fails "|r| ≥ 0.980"; TNF-α 1000 pg/mL
with LPS over 400 pg/mL unstimulated is a 2.5-fold window, below a required 3-fold; a qPCR run
whose no-template control amplified is invalid, and so is one whose standard curve has a slope
of −3.9 (efficiency 10^(1/3.9) − 1 = 80.5 %, outside 90-110 %; −3.32 gives 100 %).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from . import curves

Value = float | str  # a number, or a qualitative call


def _numbers(values: Sequence[Value]) -> list[float]:
    return [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]


def _mean(values: Sequence[Value]) -> float | None:
    numbers = _numbers(values)
    return sum(numbers) / len(numbers) if numbers else None


def _outside(rule: Mapping[str, Any], value: float) -> bool:
    low, high = rule.get("minimum"), rule.get("maximum")
    return (low is not None and value < low) or (high is not None and value > high)


def _check_call(rule: Mapping[str, Any], calls: list[str]) -> str | None:
    """The failure of a rule on a qualitative call (``expected``), or None."""
    expected = str(rule["expected"])
    wrong = sorted({c for c in calls if c.strip().lower() != expected.strip().lower()})
    if not wrong:
        return None
    return f"{rule['analyte']} {', '.join(wrong)}: {rule['reason']}"


def check(rules: Sequence[Mapping[str, Any]], values: Mapping[str, Sequence[Value]]) -> list[str]:
    """The failures of a run's results (analyte → its values: numbers, or the calls of a
    qualitative analyte) against the rules, as sentences; an empty list when the run is
    suitable."""
    failures = []
    for rule in rules:
        analyte = rule["analyte"]
        given = values.get(analyte, [])
        if "expected" in rule:
            calls = [v for v in given if isinstance(v, str) and v.strip()]
            if not calls:
                if rule.get("required"):
                    failures.append(f"{analyte} missing: {rule['reason']}")
            elif failure := _check_call(rule, calls):
                failures.append(failure)
            continue
        value = _mean(given)
        if value is None:
            if rule.get("required"):
                failures.append(f"{analyte} missing: {rule['reason']}")
            continue
        if rule.get("each"):
            judged = [abs(v) if rule.get("absolute") else v for v in _numbers(given)]
            bad = sorted({f"{v:.4g}" for v in judged if _outside(rule, v)}, key=float)
            if bad:
                shown = ", ".join(bad)
                failures.append(f"{analyte} {shown}: {rule['reason']}")
            continue
        shown = f"{analyte} {value:.4g}"
        if rule.get("ratio_to"):
            base = _mean(values.get(rule["ratio_to"], []))
            if base is None or base <= 0:
                if rule.get("required"):
                    failures.append(f"{rule['ratio_to']} missing: {rule['reason']}")
                continue
            value = value / base
            shown = f"{analyte} / {rule['ratio_to']} = {value:.3g}"
        if rule.get("absolute"):
            value = abs(value)
        if _outside(rule, value):
            failures.append(f"{shown}: {rule['reason']}")
    return failures


def curve_values(fit: curves.FourPLFit | curves.FivePLFit) -> dict[str, list[Value]]:
    """The statistics STANDARD_CURVE reads, computed from a run's fitted standards:
    ``curve_converged`` 1 when the fit converged with every parameter determined by the
    standards (curves.undetermined), else 0; ``standards_in_tolerance_pct`` the percentage of
    standards back-calculating within ±20 % (±25 % at the ends)."""
    converged = fit.converged and not fit.undetermined
    out: dict[str, list[Value]] = {CURVE_CONVERGED: [1.0 if converged else 0.0]}
    share = fit.standards_within_tolerance()
    if share is not None:
        out[STANDARDS_IN_TOLERANCE] = [100.0 * share]
    return out


# Version 1 of the catalogue's validity criteria (assays.catalogue).
LAL = [
    {
        "analyte": "spike_recovery",
        "minimum": 50.0,
        "maximum": 200.0,
        "required": True,
        "reason": "positive product control recovery must be 50-200 % (USP <85>)",
    },
    {
        "analyte": "curve_r",
        "minimum": 0.980,
        "absolute": True,
        "reason": "standard curve |r| must be at least 0.980 (USP <85>, kinetic methods)",
    },
]
POTENCY_WINDOW = [
    {
        "analyte": "tnf_lps",
        "ratio_to": "tnf_unstimulated",
        "minimum": 3.0,
        "reason": "LPS must raise TNF-α at least 3-fold over unstimulated cells for the run to "
        "measure inhibition (assay window)",
    },
]

# qPCR (mycoplasma NAT, miRNA RT-qPCR): the no-template control as the bench records it, a
# qualitative call, and the amplification efficiency where the run has a standard curve.
NTC_CALLS = ["no amplification", "amplification"]
QPCR = [
    {
        "analyte": "ntc",
        "expected": "no amplification",
        "required": True,
        "reason": "the no-template control must show no amplification: a signal there is "
        "contamination or primer-dimer, and a positive sample cannot be told from it (MIQE, "
        "Bustin et al., Clin Chem 2009;55:611; Ph. Eur. 2.6.7 and 2.6.21, negative controls)",
    },
    {
        "analyte": "efficiency",
        "minimum": 90.0,
        "maximum": 110.0,
        "each": True,
        "reason": "amplification efficiency of the standard curve, 10^(-1/slope) - 1, must be "
        "90-110 % (MIQE, Bustin et al., Clin Chem 2009;55:611; Ph. Eur. 2.6.21, quantitative "
        "NAT)",
    },
]

# 4PL/5PL standard curves (BCA today). Until a run records its standards' raw data (issue 10)
# the analyst, or the parser, enters these two statistics from the plate software's fit; where
# the run holds its standards (absorbance results named as standards, assays.qc_selectors) the
# system computes them from the standards (curve_values) and the entered ones are not used.
CURVE_CONVERGED = "curve_converged"
STANDARDS_IN_TOLERANCE = "standards_in_tolerance_pct"
CURVE_ANALYTES = (CURVE_CONVERGED, STANDARDS_IN_TOLERANCE)
STANDARD_CURVE = [
    {
        "analyte": CURVE_CONVERGED,
        "minimum": 1.0,
        "required": True,
        "reason": "the 4PL/5PL standard curve must converge with every parameter determined by "
        "the standards (1 = yes, 0 = no; Findlay & Dillard, AAPS J 2007;9:E260)",
    },
    {
        "analyte": STANDARDS_IN_TOLERANCE,
        "minimum": 75.0,
        "required": True,
        "reason": "at least 75 % of the standards must back-calculate within ±20 % of their "
        "nominal concentration, ±25 % at the lowest and highest (FDA Bioanalytical Method "
        "Validation 2018; EMA 2011)",
    },
]
