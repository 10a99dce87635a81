"""Fixed control limits for Levey-Jennings / Westgard charts, and when capability is shown.

Limits computed from the same points they judge hide a shift: the shifted points raise the mean
and widen the SD until nothing is out of control. CLSI C24 (Statistical Quality Control for
Quantitative Measurement Procedures) sets a control's mean and SD from a baseline of at least 20
in-control results and keeps them fixed while later results are judged against them; Westgard
et al. (Clin Chem 1981;27:493) assume such established limits.

Capability from a few lots says nothing: with the overall standard deviation it is Ppk
(performance, ISO 22514-2), and this module shows it only from ``CAPABILITY_MIN_N`` values (25,
the smallest subgroup count ISO 22514-2 and AIAG's SPC manual accept for a preliminary study).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import westgard

BASELINE_MIN_N = 20
CAPABILITY_MIN_N = 25


@dataclass(frozen=True)
class Baseline:
    """Mean and SD of the baseline period: the first ``n`` values, in time order."""

    mean: float
    sd: float
    n: int


def baseline(values: Sequence[float], n: int = BASELINE_MIN_N) -> Baseline:
    """Mean and SD (n − 1) of the first ``n`` values; later values never move them."""
    if n < BASELINE_MIN_N:
        raise ValueError(f"a baseline needs at least {BASELINE_MIN_N} values (CLSI C24)")
    if len(values) < n:
        raise ValueError(f"{len(values)} values: a baseline needs the first {n}")
    first = np.asarray(values[:n], dtype=np.float64)
    if not np.all(np.isfinite(first)):
        raise ValueError("baseline values must be finite")
    sd = float(np.std(first, ddof=1))
    if sd <= 0:
        raise ValueError("the baseline values do not vary: no SD to set limits with")
    return Baseline(mean=float(first.mean()), sd=sd, n=n)


def rejections(values: Sequence[float], mean: float, sd: float) -> int:
    """How many points a Westgard rejection rule flags against the given limits."""
    flags = westgard.evaluate(np.asarray(values, dtype=np.float64), mean, sd)
    return sum(1 for f in flags if westgard.is_rejected(f))


def capability_shown(n: int) -> bool:
    return n >= CAPABILITY_MIN_N


# A worked example (qc_validate). The baseline: 20 in-control lots (mean 100, SD 10.26). Then
# 20 new lots, the last 8 shifted by +2.7 SD (127). Judged against limits computed from those 20
# lots themselves (mean 110.8, SD 17.1: the shift moved them), no rejection rule fires; against
# the baseline's fixed limits, 2-2s, 4-1s and 10x flag the 2nd to 8th shifted lots: 7.
BASELINE_LOTS = [
    *(100 + 10 * z for z in (0.5, -0.5, 1.0, -1.0, 1.5, -1.5, 0.8, -0.8, 1.2, -1.2)),
    *(100 + 10 * z for z in (0.3, -0.3, 0.9, -0.9, 1.4, -1.4, 0.6, -0.6, 1.1, -1.1)),
]
NEW_LOTS = [
    *(100 + 10 * z for z in (1.6, -1.6, 1.2, -1.2, 0.4, -0.4, 1.8, -1.8, 0.9, -0.9, 1.4, -1.4)),
    *([127.0] * 8),
]


def shift_example() -> tuple[int, int]:
    """Rejections among NEW_LOTS: (limits from NEW_LOTS themselves, fixed baseline limits)."""
    arr = np.asarray(NEW_LOTS, dtype=np.float64)
    own = rejections(NEW_LOTS, float(arr.mean()), float(np.std(arr, ddof=1)))
    fixed = baseline(BASELINE_LOTS)
    return own, rejections(NEW_LOTS, fixed.mean, fixed.sd)
