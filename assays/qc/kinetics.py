"""What a plate reader's kinetic read of one well gives a plate assay: its onset time or its rate.

A kinetic read is the absorbance of a well read again and again (every 30 s for 30 min, say).
Two numbers are taken from it:

**Onset time** (kinetic LAL, chromogenic or turbidimetric): the time at which the well's
absorbance has risen by the kit's *onset OD* over its first reading. Between two reads the
crossing is interpolated linearly; a well that never rises that far within the read has no
onset (USP <85>: no endotoxin detected at the test's sensitivity λ). The onset OD is the
kit's, stated in the plate layout (USP <85> leaves it to the reagent's instructions).

**Mean rate** (Gen5 "Mean V"): the least-squares slope of absorbance on time over all the
reads, in mOD/min. Agilent BioTek Gen5 reports it so: the repository's Gen5 kinetic export
(tests/data/instruments/gen5_kinetic_stdcurve_4pl.txt) has it for all 96 wells, and this
function gives every one of them to the 0.001 mOD/min Gen5 prints.

References: USP <85> Bacterial Endotoxins Test, "Kinetic turbidimetric method" and "Kinetic
chromogenic technique" (onset time, log-log standard curve); Agilent BioTek Gen5 data
reduction, "Kinetic analysis: Mean V".
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _checked(times_s: Sequence[float], values: Sequence[float | None]) -> list[tuple[float, float]]:
    if len(times_s) != len(values):
        raise ValueError(f"{len(times_s)} read times but {len(values)} values")
    points = [
        (float(t), float(v))
        for t, v in zip(times_s, values, strict=True)
        if v is not None and math.isfinite(v) and math.isfinite(t)
    ]
    if any(b[0] <= a[0] for a, b in zip(points, points[1:], strict=False)):
        raise ValueError("the read times must increase")
    return points


def onset_time(
    times_s: Sequence[float], values: Sequence[float | None], *, onset_od: float
) -> float | None:
    """Seconds until the absorbance first rises ``onset_od`` above the first reading, linearly
    interpolated between the two reads around the crossing; None when it never does.

    Worked by hand on the Gen5 export's well A6 (reads every 30 s, first reading 0.056): with
    ``onset_od = 0.05`` the rise is 0.043 at 90 s (0.099) and 0.057 at 120 s (0.113), so the
    onset is 90 + 30·(0.050 − 0.043)/(0.057 − 0.043) = 105 s.
    """
    if not (math.isfinite(onset_od) and onset_od > 0):
        raise ValueError("the onset OD must be a positive absorbance")
    points = _checked(times_s, values)
    if len(points) < 2:
        return None
    t0, baseline = points[0]
    previous_t, previous_rise = t0, 0.0
    for t, value in points[1:]:
        rise = value - baseline
        # Reads are printed to 0.001: a rise of exactly the onset OD (0.099 − 0.049) must count
        # whatever the binary rounding of the difference.
        if rise >= onset_od - 1e-9:
            return previous_t + (onset_od - previous_rise) * (t - previous_t) / (
                rise - previous_rise
            )
        previous_t, previous_rise = t, rise
    return None


def mean_rate(times_s: Sequence[float], values: Sequence[float | None]) -> float | None:
    """Least-squares slope of absorbance on time, in mOD/min (Gen5 "Mean V"); None for fewer
    than two reads.

    ``slope = Σ(t − t̄)(A − Ā) / Σ(t − t̄)²`` with t in minutes, × 1000 for mOD.
    """
    points = _checked(times_s, values)
    if len(points) < 2:
        return None
    minutes = [t / 60.0 for t, _ in points]
    absorbance = [v for _, v in points]
    t_mean = sum(minutes) / len(minutes)
    a_mean = sum(absorbance) / len(absorbance)
    sxx = sum((t - t_mean) ** 2 for t in minutes)
    sxy = sum((t - t_mean) * (a - a_mean) for t, a in zip(minutes, absorbance, strict=True))
    return 1000.0 * sxy / sxx
