"""System suitability: the validity criteria of an assay run, checked before its results count.

A run that fails them is *invalid*, not out of specification: the measurement system did not
work, so the run says nothing about the product (FDA, Investigating OOS Test Results, 2006,
section III.B; USP <1225>). The rules are data of the assay definition
(``AssayDefinition.suitability``), each a mapping with:

``analyte``   the result it reads (the mean of its replicates in the run);
``minimum`` / ``maximum``   the accepted range (either may be absent);
``absolute``  judge ``|value|`` (a correlation coefficient, negative for a falling curve);
``ratio_to``  judge ``value / mean(ratio_to)`` (a stimulation window: LPS over unstimulated);
``required``  the run is invalid without this result;
``reason``    what is checked and its source, shown when it fails.

Worked examples (qc_validate): a LAL run whose positive product control recovered 12 % fails
"50-200 %" (USP <85>); a standard curve with r = −0.975 fails "|r| ≥ 0.980"; TNF-α 1000 pg/mL
with LPS over 400 pg/mL unstimulated is a 2.5-fold window, below a required 3-fold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def _mean(values: Sequence[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


def check(rules: Sequence[Mapping[str, Any]], values: Mapping[str, Sequence[float]]) -> list[str]:
    """The failures of a run's numeric results (analyte → values) against the rules, as
    sentences; an empty list when the run is suitable."""
    failures = []
    for rule in rules:
        analyte = rule["analyte"]
        value = _mean(values.get(analyte, []))
        if value is None:
            if rule.get("required"):
                failures.append(f"{analyte} missing: {rule['reason']}")
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
        low, high = rule.get("minimum"), rule.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            failures.append(f"{shown}: {rule['reason']}")
    return failures


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
