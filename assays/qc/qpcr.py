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


# --- Pfaffl: per-gene efficiencies, several references or a spike-in ----------------------


def amplification_factor(efficiency_percent: float) -> float:
    """The amplification factor per cycle ``E = 1 + efficiency/100`` (100 % → 2.0), the base of
    Pfaffl's ratio, from an efficiency in percent as instruments and MIQE report it."""
    if not (math.isfinite(efficiency_percent) and efficiency_percent > 0):
        raise ValueError("an amplification efficiency is a positive percentage")
    return 1.0 + efficiency_percent / 100.0


@dataclass(frozen=True)
class StandardCurveFit:
    """Ct against log10(input) of a dilution series: ``Ct = slope·log10(q) + intercept``."""

    slope: float
    intercept: float
    r_squared: float
    amplification_factor: float  # E = 10^(-1/slope)
    efficiency_percent: float  # (E - 1)·100
    n: int


def standard_curve(log10_quantities: ArrayLike, cts: ArrayLike) -> StandardCurveFit:
    """Least-squares line of Ct on log10(input amount) and the efficiency it implies,
    ``E = 10^(-1/slope)`` (Pfaffl 2001 eq. 2; MIQE, Bustin et al. 2009). A perfect doubling
    gives slope −3.3219 and E = 2.0."""
    x = np.asarray(log10_quantities, dtype=np.float64).ravel()
    y = np.asarray(cts, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"{x.size} quantities but {y.size} Ct values")
    if x.size < 3 or np.unique(x).size < 2:
        raise ValueError("a standard curve needs at least three points at two or more inputs")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("quantities and Ct values must be finite")
    fit = stats.linregress(x, y)
    slope = float(fit.slope)
    factor = float(10.0 ** (-1.0 / slope)) if slope < 0 else math.nan
    if not math.isfinite(factor):
        raise ValueError("a standard curve's slope is negative: Ct falls as the input rises")
    return StandardCurveFit(
        slope=slope,
        intercept=float(fit.intercept),
        r_squared=float(fit.rvalue) ** 2,
        amplification_factor=factor,
        efficiency_percent=100.0 * (factor - 1.0),
        n=int(x.size),
    )


@dataclass(frozen=True)
class GeneCts:
    """One gene's Ct replicates in the sample and in the calibrator, and its amplification
    factor per cycle ``efficiency`` (2.0 = 100 %)."""

    name: str
    sample_ct: ArrayLike
    calibrator_ct: ArrayLike
    efficiency: float


@dataclass(frozen=True)
class PfafflRatio:
    """Pfaffl's expression ratio of a target, normalised to one or more reference genes.

    ``target_rq = E_t^ΔCt_t`` and ``normalisation_factor`` (the geometric mean of the
    references' ``E_r^ΔCt_r``), with ``ΔCt = mean Ct(calibrator) − mean Ct(sample)``;
    ``ratio = target_rq / normalisation_factor``. ``se_log`` is the standard error of
    ``ln ratio``, ``df`` its Welch-Satterthwaite degrees of freedom; the interval is
    ``exp(ln ratio ± t·se_log)`` (NaN with a single replicate in any group).
    """

    ratio: float
    target_rq: float
    normalisation_factor: float
    delta_ct_target: float
    delta_ct_references: tuple[float, ...]
    references: tuple[str, ...]
    efficiencies: dict[str, float]
    se_log: float
    df: float
    ci_low: float
    ci_high: float
    confidence: float


def pfaffl_ratio(
    target: GeneCts, references: list[GeneCts], *, confidence: float = 0.95
) -> PfafflRatio:
    """Expression ratio of ``target`` in a sample versus the calibrator (Pfaffl, Nucleic Acids
    Res 2001;29:e45, eq. 1), normalised by the geometric mean of several reference genes
    (Vandesompele et al., Genome Biol 2002;3:research0034) or by one spike-in (e.g. cel-miR-39):

        ratio = E_t^(ΔCt_t) / (Π_j E_j^(ΔCt_j))^(1/k),  ΔCt = mean Ct(calibrator) − mean Ct(sample)

    Each gene has its own efficiency. With one reference and ``E_t = E_r = E`` this is
    ``E^-ΔΔCt`` (:func:`relative_quantity`). Technical replicates are averaged first. The
    interval treats the efficiencies as known constants and propagates the replicate variances
    of the means on the log scale: ``Var(ln ratio) = ln²E_t (v_ts + v_tc) + Σ_j ln²E_j
    (v_js + v_jc) / k²`` with ``v = s²/n``.

    Example (DOMAIN.md §4 extended): target Ct 23.0 vs calibrator 25.0 with E_t = 1.95, U6
    20.5 vs 20.0 (E 2.0), miR-16 21.5 vs 22.0 (E 1.9): 1.95² / sqrt(2^-0.5 · 1.9^0.5)
    = 3.8025 / 0.98726 = 3.8516.
    """
    if not references:
        raise ValueError("Pfaffl's ratio needs at least one reference gene or spike-in")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be between 0 and 1")
    names = [target.name, *(r.name for r in references)]
    if len(set(names)) != len(names):
        raise ValueError("the target and each reference are different genes")
    for gene in (target, *references):
        if not (math.isfinite(gene.efficiency) and 1.0 < gene.efficiency <= 3.0):
            raise ValueError(
                f"{gene.name}: the amplification factor per cycle is above 1 (2.0 = 100 %)"
            )
    k = len(references)
    terms: list[tuple[float, _MeanCt]] = []  # (coefficient of ln ratio, mean Ct)
    deltas: list[float] = []
    for gene, sign in ((target, 1.0), *((r, -1.0 / k) for r in references)):
        sample = _mean_ct(gene.sample_ct, f"{gene.name} sample")
        calibrator = _mean_ct(gene.calibrator_ct, f"{gene.name} calibrator")
        deltas.append(calibrator.mean - sample.mean)
        log_e = math.log(gene.efficiency)
        terms += [(sign * log_e, sample), (sign * log_e, calibrator)]
    delta_target, delta_refs = deltas[0], deltas[1:]
    log_target = delta_target * math.log(target.efficiency)
    log_nf = sum(d * math.log(r.efficiency) for d, r in zip(delta_refs, references, strict=True))
    log_nf /= k
    log_ratio = log_target - log_nf
    target_rq, nf = math.exp(log_target), math.exp(log_nf)
    variances = [c**2 * m.variance_of_mean for c, m in terms]
    if any(math.isnan(v) for v in variances):
        se = df = low = high = math.nan
    else:
        se = math.sqrt(sum(variances))
        denominator = sum(v**2 / (m.n - 1) for v, (_, m) in zip(variances, terms, strict=True))
        df = se**4 / denominator if denominator > 0 else math.inf
        t = float(stats.t.ppf(0.5 + confidence / 2.0, df)) if se > 0 else 0.0
        low, high = math.exp(log_ratio - t * se), math.exp(log_ratio + t * se)
    return PfafflRatio(
        ratio=math.exp(log_ratio),
        target_rq=target_rq,
        normalisation_factor=nf,
        delta_ct_target=delta_target,
        delta_ct_references=tuple(delta_refs),
        references=tuple(r.name for r in references),
        efficiencies={g.name: float(g.efficiency) for g in (target, *references)},
        se_log=se,
        df=df,
        ci_low=low,
        ci_high=high,
        confidence=confidence,
    )
