"""Relative quantification by RT-qPCR: ΔCt, ΔΔCt and relative quantity (DOMAIN.md §4).

Inputs are threshold cycles (Ct/Cq) as scalars or arrays of technical replicates; replicates
are averaged first. Uncertainty is propagated from the standard errors of the mean Ct values and
turned into a confidence interval with a t quantile on Welch-Satterthwaite degrees of freedom.

References: Livak KJ & Schmittgen TD, Methods 2001;25:402 (2^-ΔΔCt method and its error
propagation); Pfaffl MW, Nucleic Acids Res 2001;29:e45 (efficiency-corrected ratio E^-ΔΔCt);
Satterthwaite FE, Biometrics Bull 1946;2:110 (effective degrees of freedom); Bustin SA et al.,
Clin Chem 2009;55:611 (MIQE: efficiency from a standard curve, no-template controls).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats


@dataclass(frozen=True)
class _MeanCt:
    mean: float
    variance_of_mean: float  # s^2 / n, NaN for a single replicate
    n: int


def _mean_ct(values: ArrayLike, label: str) -> _MeanCt:
    v = np.atleast_1d(np.asarray(values, dtype=np.float64)).ravel()
    if v.size == 0:
        raise ValueError(f"{label}: no Ct values")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{label}: Ct values must be finite (undetermined wells excluded)")
    var = float(np.var(v, ddof=1)) / v.size if v.size > 1 else math.nan
    return _MeanCt(mean=float(v.mean()), variance_of_mean=var, n=int(v.size))


@dataclass(frozen=True)
class DeltaCt:
    """``value`` = mean Ct(target) - mean Ct(reference), with its standard error ``se``
    (NaN when a side has a single replicate) and effective degrees of freedom ``df``."""

    value: float
    se: float
    df: float


def _combine(value: float, parts: list[_MeanCt]) -> DeltaCt:
    variances = [p.variance_of_mean for p in parts]
    se = math.sqrt(sum(variances))  # NaN if any part has a single replicate
    if math.isnan(se):
        return DeltaCt(value=value, se=math.nan, df=math.nan)
    denominator = sum(v**2 / (p.n - 1) for v, p in zip(variances, parts, strict=True))
    df = se**4 / denominator if denominator > 0 else math.inf
    return DeltaCt(value=value, se=se, df=df)


def delta_ct(target_ct: ArrayLike, reference_ct: ArrayLike) -> DeltaCt:
    """ΔCt = mean Ct(target) − mean Ct(reference gene) (Livak & Schmittgen 2001).

    ``se = sqrt(s_t^2/n_t + s_r^2/n_r)`` from the replicate SDs; ``df`` by Welch-Satterthwaite
    ``se^4 / sum((s_i^2/n_i)^2 / (n_i - 1))``.
    """
    t, r = _mean_ct(target_ct, "target"), _mean_ct(reference_ct, "reference")
    return _combine(t.mean - r.mean, [t, r])


def delta_delta_ct(
    target_ct: ArrayLike,
    reference_ct: ArrayLike,
    calibrator_target_ct: ArrayLike,
    calibrator_reference_ct: ArrayLike,
) -> DeltaCt:
    """ΔΔCt = ΔCt(sample) − ΔCt(calibrator) (Livak & Schmittgen 2001).

    ``se = sqrt(se_sample^2 + se_calibrator^2)`` over the four replicate groups; ``df`` by
    Welch-Satterthwaite. The calibrator is e.g. the reference lot.
    """
    parts = [
        _mean_ct(target_ct, "target"),
        _mean_ct(reference_ct, "reference"),
        _mean_ct(calibrator_target_ct, "calibrator target"),
        _mean_ct(calibrator_reference_ct, "calibrator reference"),
    ]
    t, r, ct, cr = (p.mean for p in parts)
    return _combine((t - r) - (ct - cr), parts)


@dataclass(frozen=True)
class RelativeQuantity:
    """``rq = E^-ddct`` with its interval ``[ci_low, ci_high]`` (NaN when not estimable)."""

    rq: float
    ddct: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    efficiency: float
    confidence: float


def relative_quantity(
    target_ct: ArrayLike,
    reference_ct: ArrayLike,
    calibrator_target_ct: ArrayLike,
    calibrator_reference_ct: ArrayLike,
    efficiency: float = 2.0,
    *,
    confidence: float = 0.95,
) -> RelativeQuantity:
    """Relative quantity of a target in a sample versus a calibrator: ``RQ = E^-ΔΔCt``.

    ``E`` is the amplification factor per cycle (2.0 = 100 % efficiency, Livak & Schmittgen
    2001; a measured E, e.g. from a dilution series ``E = 10^(-1/slope)``, per Pfaffl 2001,
    assumed equal for target and reference). The interval is computed on the Ct scale and
    transformed: ``ΔΔCt ± t(1-α/2, df) · se`` with ``se`` and ``df`` from
    :func:`delta_delta_ct`, giving ``ci_low = E^-(ΔΔCt + t·se)``, ``ci_high = E^-(ΔΔCt - t·se)``.
    With a single replicate in any group the interval is NaN (no variance estimate).

    Example: ΔCt(sample) = 22 − 18 = 4, ΔCt(calibrator) = 25 − 19 = 6, ΔΔCt = −2, RQ = 2² = 4.
    """
    if not (math.isfinite(efficiency) and efficiency > 1.0):
        raise ValueError("efficiency is the amplification factor per cycle, > 1 (2.0 = 100 %)")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be between 0 and 1")
    ddct = delta_delta_ct(target_ct, reference_ct, calibrator_target_ct, calibrator_reference_ct)
    rq = efficiency ** (-ddct.value)
    if math.isnan(ddct.se):
        low = high = math.nan
    else:
        t = float(stats.t.ppf(0.5 + confidence / 2.0, ddct.df)) if ddct.se > 0 else 0.0
        low = efficiency ** (-(ddct.value + t * ddct.se))
        high = efficiency ** (-(ddct.value - t * ddct.se))
    return RelativeQuantity(
        rq=rq,
        ddct=ddct.value,
        se=ddct.se,
        df=ddct.df,
        ci_low=low,
        ci_high=high,
        efficiency=efficiency,
        confidence=confidence,
    )


def efficiency_from_slope(slope: float) -> float:
    """Amplification efficiency in percent from the slope of a standard curve (Ct against
    log10 of the input amount): ``E = 10^(−1/slope) − 1`` (MIQE, Bustin et al. 2009; Pfaffl
    2001 uses the factor ``10^(−1/slope)``, 2.0 at 100 %).

    Slope −3.32 gives 100 % (the product doubles every cycle); −3.9 gives 80.5 %.
    """
    if not (math.isfinite(slope) and slope < 0):
        raise ValueError("a standard curve's slope is negative: Ct falls as the input rises")
    return 100.0 * (float(10.0 ** (-1.0 / slope)) - 1.0)
