"""Bacterial endotoxins by kinetic LAL (turbidimetric or chromogenic), USP <85> / Ph. Eur. 2.6.14.

Standard curve: ``log10(onset time) = intercept + slope · log10(EU/mL)`` by ordinary least
squares over the standards (replicates as separate points). The test is valid when
``|r| >= 0.980`` over at least three standard concentrations and the positive product control
(spiked sample) recovers 50-200 % of the spike. Sample endotoxin = interpolated EU/mL ×
dilution. Endotoxin limit = K/M.

References: USP <85> Bacterial Endotoxins Test (photometric techniques; "Calculation of
endotoxin limit"); Ph. Eur. 2.6.14; FDA Guidance for Industry "Pyrogen and Endotoxins Testing:
Questions and Answers" (2012).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

# Defaults: a site's specification passes its own values.
MIN_ABS_R_DEFAULT = 0.980
MIN_STANDARD_LEVELS_DEFAULT = 3
SPIKE_RECOVERY_LIMITS_DEFAULT: tuple[float, float] = (50.0, 200.0)
K_EU_PER_KG: dict[str, float] = {"parenteral": 5.0, "intrathecal": 0.2}  # USP <85>


@dataclass(frozen=True)
class EndotoxinCurve:
    """log10-log10 standard curve; ``valid`` when ``|r| >= min_abs_r`` with enough levels.

    ``lambda_eu_per_ml`` is the lowest standard (the test's sensitivity λ) and
    ``highest_eu_per_ml`` the highest standard.
    """

    slope: float
    intercept: float
    r: float
    valid: bool
    n_points: int
    n_levels: int
    lambda_eu_per_ml: float
    highest_eu_per_ml: float


def fit_standard_curve(
    eu_per_ml: ArrayLike,
    onset_times: ArrayLike,
    *,
    min_abs_r: float = MIN_ABS_R_DEFAULT,
    min_levels: int = MIN_STANDARD_LEVELS_DEFAULT,
) -> EndotoxinCurve:
    """Linear regression of ``log10(onset time)`` on ``log10(EU/mL)`` (USP <85>).

    ``slope = S_xy / S_xx``, ``intercept = ȳ − slope·x̄``, ``r = S_xy / sqrt(S_xx S_yy)`` with
    ``x = log10(EU/mL)``, ``y = log10(onset)``. ``valid`` requires ``|r| >= min_abs_r``
    (0.980) and at least ``min_levels`` (3) distinct concentrations, as USP <85> asks of the
    standard-curve assurance. Onset time units cancel (seconds or minutes, but consistent).
    """
    x_raw = np.asarray(eu_per_ml, dtype=np.float64).ravel()
    t_raw = np.asarray(onset_times, dtype=np.float64).ravel()
    if x_raw.shape != t_raw.shape:
        raise ValueError(f"{x_raw.size} concentrations but {t_raw.size} onset times")
    if not (np.all(np.isfinite(x_raw)) and np.all(np.isfinite(t_raw))):
        raise ValueError("concentrations and onset times must be finite")
    if np.any(x_raw <= 0) or np.any(t_raw <= 0):
        raise ValueError("concentrations and onset times must be positive")
    n_levels = int(np.unique(x_raw).size)
    if n_levels < 2:
        raise ValueError("need at least two distinct standard concentrations")
    x, y = np.log10(x_raw), np.log10(t_raw)
    dx, dy = x - x.mean(), y - y.mean()
    sxx, syy, sxy = float(dx @ dx), float(dy @ dy), float(dx @ dy)
    slope = sxy / sxx
    r = sxy / math.sqrt(sxx * syy) if syy > 0 else 0.0
    return EndotoxinCurve(
        slope=slope,
        intercept=float(y.mean() - slope * x.mean()),
        r=r,
        valid=bool(abs(r) >= min_abs_r and n_levels >= min_levels),
        n_points=int(x.size),
        n_levels=n_levels,
        lambda_eu_per_ml=float(x_raw.min()),
        highest_eu_per_ml=float(x_raw.max()),
    )


def sample_concentration(curve: EndotoxinCurve, onset_time: float, dilution: float = 1.0) -> float:
    """Endotoxin in the undiluted sample: ``10^((log10 onset − intercept) / slope) × dilution``.

    Pass the mean onset time of the replicate wells. When the interpolated value (before the
    dilution factor) is below ``curve.lambda_eu_per_ml``, USP <85> reports "< λ × dilution"
    instead of a number.
    """
    if not (math.isfinite(onset_time) and onset_time > 0):
        raise ValueError("onset time must be a positive number")
    if not (math.isfinite(dilution) and dilution > 0):
        raise ValueError("dilution must be a positive number")
    if curve.slope == 0:
        raise ValueError("the standard curve is flat")
    log_eu = (math.log10(onset_time) - curve.intercept) / curve.slope
    # float ** float is typed Any (a negative base would give a complex); here it is a float.
    concentration: float = 10.0**log_eu * dilution
    return concentration


def spike_recovery(spiked: float, unspiked: float, spike_added: float) -> float:
    """Positive product control recovery in percent: ``100 · (spiked − unspiked) / spike_added``.

    All in EU/mL at the same dilution (USP <85>, "Test for interfering factors").
    """
    if not spike_added > 0:
        raise ValueError("spike_added must be positive")
    return 100.0 * (spiked - unspiked) / spike_added


def recovery_is_valid(
    percent: float, limits: tuple[float, float] = SPIKE_RECOVERY_LIMITS_DEFAULT
) -> bool:
    """True when ``limits[0] <= percent <= limits[1]`` (USP <85>: 50-200 %)."""
    low, high = limits
    return bool(low <= percent <= high)


def endotoxin_limit(k_eu_per_kg: float, dose_ml_per_kg_per_hour: float) -> float:
    """Endotoxin limit ``K / M`` in EU/mL (USP <85>).

    ``K`` = threshold pyrogenic dose, 5 EU/kg (parenteral) or 0.2 EU/kg (intrathecal);
    ``M`` = maximum dose in mL per kg per hour (a bolus counts within the hour).
    Worked example (DOMAIN.md §4): K = 5, 2 mL bolus in a 70 kg adult, M = 2/70 → 175 EU/mL.
    """
    if not (math.isfinite(k_eu_per_kg) and k_eu_per_kg > 0):
        raise ValueError("K must be a positive number")
    if not (math.isfinite(dose_ml_per_kg_per_hour) and dose_ml_per_kg_per_hour > 0):
        raise ValueError("the dose M must be a positive number")
    return k_eu_per_kg / dose_ml_per_kg_per_hour


def dose_per_kg(dose_ml: float, body_mass_kg: float = 70.0) -> float:
    """``M`` for a dose given to a person of ``body_mass_kg`` (USP <85>: 70 kg adult)."""
    if not (body_mass_kg > 0 and dose_ml > 0):
        raise ValueError("dose and body mass must be positive")
    return dose_ml / body_mass_kg


def dose_limit(k_eu_per_kg: float, dose_ml_per_hour: float, body_mass_kg: float) -> float:
    """``K / M`` in EU/mL for a dose given within an hour to a person of ``body_mass_kg``, to
    four significant figures, as a specification states it: K = 5, 10 mL / 70 kg → 35."""
    limit = endotoxin_limit(k_eu_per_kg, dose_per_kg(dose_ml_per_hour, body_mass_kg))
    return float(f"{limit:.4g}")


def maximum_valid_dilution(endotoxin_limit_eu_per_ml: float, lambda_eu_per_ml: float) -> float:
    """Maximum valid dilution ``MVD = endotoxin limit / λ`` for a limit in EU/mL (USP <85>)."""
    if not (endotoxin_limit_eu_per_ml > 0 and lambda_eu_per_ml > 0):
        raise ValueError("limit and λ must be positive")
    return endotoxin_limit_eu_per_ml / lambda_eu_per_ml
