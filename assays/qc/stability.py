"""Shelf life from stability data: ICH Q1E linear regression and its one-sided 95 % bound.

ICH Q1E (Evaluation of Stability Data, 2003), §2.4 and Appendix B.1: fit the attribute
against time by least squares, ``y = a + b·t``; the shelf life is the earliest time at which
the one-sided 95 % confidence bound of the *mean* response meets the acceptance criterion:
the lower bound for an attribute that may fall below a lower limit (potency, particle
concentration), the upper bound for one that may rise above an upper limit (aggregates,
endotoxin). For a single batch (or pooled batches), at time t:

    ŷ(t) = a + b·t
    bound(t) = ŷ(t) ∓ t(1 − α; n − 2) · s · √(1/n + (t − t̄)² / Sxx)

with s the residual standard deviation (n − 2 degrees of freedom), t̄ the mean time and
Sxx = Σ(tᵢ − t̄)². Crossing points are the roots of a quadratic in t (bound(t) = limit,
squared), so they are computed in closed form, not searched.

ICH Q5C (Stability testing of biotechnological/biological products, 1995), §4 and §6: the
expiry of a biological rests on real-time, real-temperature data; this module therefore states
the statistical estimate and, separately, the supported shelf life, which never goes beyond
the longest time point actually measured (no extrapolation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats


@dataclass(frozen=True)
class LinearFit:
    """Ordinary least squares of the attribute on time."""

    intercept: float
    slope: float
    n: int
    residual_sd: float
    mean_time: float
    sxx: float

    @property
    def df(self) -> int:
        return self.n - 2

    def predict(self, t: float) -> float:
        return self.intercept + self.slope * t

    def half_width(self, t: float, confidence: float = 0.95) -> float:
        """One-sided half width of the confidence interval of the mean response at t."""
        quantile = float(stats.t.ppf(confidence, self.df))
        return (
            quantile
            * self.residual_sd
            * math.sqrt(1 / self.n + (t - self.mean_time) ** 2 / self.sxx)
        )

    def lower_bound(self, t: float, confidence: float = 0.95) -> float:
        return self.predict(t) - self.half_width(t, confidence)

    def upper_bound(self, t: float, confidence: float = 0.95) -> float:
        return self.predict(t) + self.half_width(t, confidence)


def fit_line(times: ArrayLike, values: ArrayLike) -> LinearFit:
    """Least-squares line; ValueError unless there are at least three points at two or more
    distinct times (n − 2 ≥ 1 degrees of freedom for the residual SD)."""
    t = np.asarray(times, dtype=np.float64).ravel()
    y = np.asarray(values, dtype=np.float64).ravel()
    if t.size != y.size:
        raise ValueError("times and values differ in length")
    if t.size < 3:
        raise ValueError("a regression needs at least three results")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(y))):
        raise ValueError("times and values must be finite numbers")
    mean_t = float(t.mean())
    sxx = float(((t - mean_t) ** 2).sum())
    if sxx <= 0:
        raise ValueError("a regression needs results at two or more times")
    slope = float(((t - mean_t) * (y - y.mean())).sum() / sxx)
    intercept = float(y.mean() - slope * mean_t)
    residuals = y - (intercept + slope * t)
    residual_sd = math.sqrt(float((residuals**2).sum()) / (t.size - 2))
    return LinearFit(intercept, slope, int(t.size), residual_sd, mean_t, sxx)


@dataclass(frozen=True)
class ShelfLife:
    """Where the one-sided bound meets the acceptance limit.

    ``estimate``: the earliest time (in the data's unit, months) at which the bound meets a
    limit; ``None`` when it never does (the attribute does not move towards the limit);
    0.0 when the bound is already beyond a limit at time zero. ``limited_by`` says which
    limit ("lower" or "upper") it is; ``supported`` is the estimate capped at the longest
    time point measured (ICH Q5C: no extrapolation for a biological)."""

    fit: LinearFit
    estimate: float | None
    limited_by: str
    longest_time: float
    confidence: float

    @property
    def supported(self) -> float:
        if self.estimate is None:
            return self.longest_time
        return min(self.estimate, self.longest_time)

    @property
    def beyond_at_start(self) -> bool:
        """The bound is beyond a limit already at time zero: no shelf life is supported."""
        return self.estimate == 0.0

    @property
    def extrapolated(self) -> bool:
        """The statistical estimate lies beyond the data (not used for the expiry)."""
        return self.estimate is None or self.estimate > self.longest_time


def bound_crossing(
    intercept: float,
    slope: float,
    variance: tuple[float, float, float],
    quantile: float,
    limit: float,
    side: str,
) -> float | None:
    """Earliest t ≥ 0 where a one-sided bound of a straight mean line equals `limit`, closed form.

    The mean is a + b·t; the variance of its estimate is a quadratic in t,
    v(t) = v0 + 2·v1·t + v2·t² (any linear model whose mean at t is x(t)ᵀβ with x(t) linear in
    t: one line, or one batch of a common-slope ANCOVA). The lower bound is
    a + b·t − q·√v(t). With d(t) = a + b·t − limit, the crossing satisfies d(t) ≥ 0 and
    d(t)² = q²·v(t): a quadratic A·t² + B·t + C = 0. The upper side is the mirror image
    (d(t) = limit − a − b·t). Returns 0.0 when the bound is already beyond the limit at t = 0,
    None when it never meets it."""
    v0, v1, v2 = variance
    sign = 1.0 if side == "lower" else -1.0
    d0, d1 = sign * (intercept - limit), sign * slope
    if d0 - quantile * math.sqrt(max(v0, 0.0)) <= 0:
        return 0.0
    k = quantile**2
    a = d1**2 - k * v2
    b = 2 * d0 * d1 - 2 * k * v1
    c = d0**2 - k * v0
    if abs(a) < 1e-300:
        roots = [-c / b] if b != 0 else []
    else:
        disc = b * b - 4 * a * c
        if disc < 0:
            return None
        root = math.sqrt(disc)
        roots = [(-b - root) / (2 * a), (-b + root) / (2 * a)]
    # Of the squared equation's roots, only those where the mean is still on the good side
    # (d(t) ≥ 0) are crossings of the bound itself.
    crossings = sorted(t for t in roots if t > 0 and d0 + d1 * t >= -1e-12)
    return crossings[0] if crossings else None


def _crossing(fit: LinearFit, limit: float, side: str, confidence: float) -> float | None:
    """One line: v(t) = s²·(1/n + (t − t̄)²/Sxx) expanded in powers of t."""
    s2 = fit.residual_sd**2
    variance = (
        s2 * (1 / fit.n + fit.mean_time**2 / fit.sxx),
        -s2 * fit.mean_time / fit.sxx,
        s2 / fit.sxx,
    )
    quantile = float(stats.t.ppf(confidence, fit.df))
    return bound_crossing(fit.intercept, fit.slope, variance, quantile, limit, side)


def shelf_life(
    times: ArrayLike,
    values: ArrayLike,
    *,
    lower: float | None = None,
    upper: float | None = None,
    confidence: float = 0.95,
) -> ShelfLife:
    """ICH Q1E shelf life of one attribute against its lower and/or upper acceptance limit."""
    if lower is None and upper is None:
        raise ValueError("give a lower or an upper acceptance limit")
    if not 0.5 < confidence < 1:
        raise ValueError("confidence must lie between 0.5 and 1")
    fit = fit_line(times, values)
    longest = float(np.max(np.asarray(times, dtype=np.float64)))
    found: list[tuple[float, str]] = []
    for side, limit in (("lower", lower), ("upper", upper)):
        if limit is None:
            continue
        t = _crossing(fit, float(limit), side, confidence)
        if t is not None:
            found.append((t, side))
    if not found:
        return ShelfLife(fit, None, "", longest, confidence)
    t, side = min(found)
    return ShelfLife(fit, t, side, longest, confidence)
