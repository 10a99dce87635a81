"""Relative potency of a test preparation against a reference standard (USP <1032>, <1034>).

A bioassay compares a test sample with a reference standard tested in the same run. When the two
dose-response curves are *parallel* (similar: the test behaves as a dilution or concentration of
the reference), the test's curve is the reference's curve shifted along the log-dose axis, and
the shift is the relative potency::

    reference: y = d + (a - d) / (1 + (x / c_R) ** b)
    test:      y = d + (a - d) / (1 + (x / c_T) ** b)          (shared a, b, d)
    RP = c_R / c_T        (> 1: the test needs less dose for the same response: more potent)

``fit_parallel`` fits this constrained model (five parameters: the asymptotes ``a`` and ``d``
and the slope ``b`` shared, one EC50 per preparation) by least squares in ``(a, b, d, ln c_R,
ln c_T)``. ``ln RP = ln c_R − ln c_T``; its standard error comes from the fit's covariance
(delta method: ``var = v_RR + v_TT − 2 v_RT``) and the 95 % interval is
``exp(ln RP ± t(0.975, n − 5) · SE)`` (USP <1034> §3.4 "confidence intervals"; the same
computation as drc's ``EDcomp(..., interval = "delta")`` for ED50 ratios, Ritz et al. 2015).

Parallelism (similarity) is checked on the *unrestricted* model, each preparation its own 4PL:

- the ratio of slopes ``b_T / b_R`` with its 95 % interval (delta method on ``ln b_T − ln b_R``,
  the residual variance pooled over both fits, ``n − 8`` degrees of freedom) must lie inside the
  equivalence bounds (default 0.80-1.25; a site sets its own from its assay's history) — the
  equivalence approach USP <1032> §4.5 prefers to a significance test;
- the extra-sum-of-squares F test of the parallel against the unrestricted model
  (``F = ((SSE_par − SSE_free) / 3) / (SSE_free / (n − 8))``) is reported alongside, as the
  older difference test (USP <1034> §3.5; Ph. Eur. 5.3 §3.4), but does not decide.

A relative potency is reportable only when the curves are parallel; otherwise it is still
computed (for the record) with ``reportable = False`` and the reason.

References: USP <1032> Design and Development of Biological Assays; USP <1034> Analysis of
Biological Assays; Ph. Eur. 5.3 Statistical analysis of results of biological assays and tests;
Gottschalk PG & Dunn JR, J Biopharm Stat 2005;15:437 (parallelism of logistic curves);
Ritz C et al., PLoS ONE 2015;10:e0146021 (drc).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from scipy.optimize import least_squares

from .curves import FourPLFit, fit_four_pl

DEFAULT_SLOPE_RATIO_BOUNDS = (0.80, 1.25)
N_PARALLEL = 5  # a, b, d shared; ln c_R, ln c_T
N_FREE = 8  # two independent 4PLs


@dataclass(frozen=True)
class ParallelFit:
    """The parallel-curve (constrained) 4PL fit of a reference and a test preparation."""

    a: float
    b: float
    d: float
    c_reference: float
    c_test: float
    sse: float
    df: int
    residual_se: float
    converged: bool
    covariance: tuple[tuple[float, ...], ...]  # of (a, b, d, ln c_R, ln c_T)


@dataclass(frozen=True)
class Parallelism:
    """The similarity check on the unrestricted fits (one 4PL per preparation)."""

    slope_reference: float
    slope_test: float
    slope_ratio: float
    slope_ratio_low: float
    slope_ratio_high: float
    bounds: tuple[float, float]
    f_statistic: float
    f_p_value: float
    df_free: int

    @property
    def parallel(self) -> bool:
        """Equivalence: the whole 95 % interval of the slope ratio lies inside the bounds."""
        low, high = self.bounds
        return low <= self.slope_ratio_low and self.slope_ratio_high <= high


@dataclass(frozen=True)
class RelativePotency:
    """The relative potency of a test preparation (RP = EC50_ref / EC50_test), its interval and
    the checks it rests on."""

    rp: float
    rp_low: float
    rp_high: float
    log_rp: float
    se_log_rp: float
    level: float
    fit: ParallelFit
    parallelism: Parallelism

    @property
    def reportable(self) -> bool:
        return self.fit.converged and self.parallelism.parallel

    @property
    def refusal(self) -> str:
        """Why the relative potency cannot be reported, or ""."""
        if not self.fit.converged:
            return "the parallel-curve fit did not converge"
        p = self.parallelism
        if not p.parallel:
            return (
                f"the curves are not parallel: slope ratio {p.slope_ratio:.3f} "
                f"(95 % CI {p.slope_ratio_low:.3f}-{p.slope_ratio_high:.3f}) is not inside "
                f"{p.bounds[0]:.2f}-{p.bounds[1]:.2f}"
            )
        return ""

    def details(self) -> dict[str, float | bool | str]:
        """A flat summary for storage next to the value (QCMetric.details)."""
        p, f = self.parallelism, self.fit
        return {
            "rp_low": self.rp_low,
            "rp_high": self.rp_high,
            "level": self.level,
            "ec50_reference": f.c_reference,
            "ec50_test": f.c_test,
            "shared_slope": f.b,
            "upper_asymptote": f.a,
            "lower_asymptote": f.d,
            "residual_se": f.residual_se,
            "df": f.df,
            "slope_ratio": p.slope_ratio,
            "slope_ratio_low": p.slope_ratio_low,
            "slope_ratio_high": p.slope_ratio_high,
            "slope_ratio_bounds": f"{p.bounds[0]:g}-{p.bounds[1]:g}",
            "f_statistic": p.f_statistic,
            "f_p_value": p.f_p_value,
            "parallel": p.parallel,
            "reportable": self.reportable,
            "refusal": self.refusal,
        }


def _arrays(dose: ArrayLike, response: ArrayLike, label: str) -> tuple[NDArray[np.float64], ...]:
    x = np.asarray(dose, dtype=np.float64).ravel()
    y = np.asarray(response, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"{label}: {x.size} doses but {y.size} responses")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError(f"{label}: doses and responses must be finite numbers")
    if np.any(x < 0):
        raise ValueError(f"{label}: doses must not be negative")
    if np.unique(x[x > 0]).size < 3:
        raise ValueError(f"{label}: need at least three distinct positive doses")
    return x, y


def _curve(
    x: NDArray[np.float64], a: float, b: float, d: float, log_c: float
) -> NDArray[np.float64]:
    with np.errstate(divide="ignore", over="ignore"):
        u = np.exp(b * (np.log(x) - log_c))
    return d + (a - d) / (1.0 + u)


def _jacobian(
    x: NDArray[np.float64], a: float, b: float, d: float, log_c: float
) -> NDArray[np.float64]:
    """d f / d(a, b, d, ln c) of ``d + (a - d) / (1 + u)``, ``u = exp(b (ln x - ln c))``."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        log_ratio = np.log(x) - log_c
        u = np.exp(b * log_ratio)
        s = 1.0 / (1.0 + u)
        q = np.where(np.isinf(u), 0.0, u * s * s)  # u / (1 + u)^2, 0 at x = 0 and x = inf
        d_b = np.where(x > 0, -(a - d) * q * np.where(x > 0, log_ratio, 0.0), 0.0)
        d_logc = (a - d) * q * b
    jac: NDArray[np.float64] = np.nan_to_num(np.column_stack((s, d_b, 1.0 - s, d_logc)))
    return jac


def fit_parallel(
    reference_dose: ArrayLike,
    reference_response: ArrayLike,
    test_dose: ArrayLike,
    test_response: ArrayLike,
    *,
    starts: tuple[FourPLFit, FourPLFit] | None = None,
) -> ParallelFit:
    """Least-squares fit of the parallel 4PL model (shared ``a``, ``b``, ``d``; one EC50 each).

    Starts from the two unrestricted fits (their mean asymptotes and slope, their own EC50s),
    refined by Levenberg-Marquardt. The covariance is ``s² (JᵀJ)⁻¹`` with ``s² = SSE / (n − 5)``.
    """
    xr, yr = _arrays(reference_dose, reference_response, "reference")
    xt, yt = _arrays(test_dose, test_response, "test")
    ref_fit, test_fit = starts or (fit_four_pl(xr, yr), fit_four_pl(xt, yt))
    theta0 = np.array(
        [
            (ref_fit.a + test_fit.a) / 2,
            (ref_fit.b + test_fit.b) / 2,
            (ref_fit.d + test_fit.d) / 2,
            math.log(ref_fit.c),
            math.log(test_fit.c),
        ]
    )
    y = np.concatenate((yr, yt))

    def residuals(theta: NDArray[np.float64]) -> NDArray[np.float64]:
        a, b, d, lcr, lct = (float(v) for v in theta)
        return np.concatenate((_curve(xr, a, b, d, lcr), _curve(xt, a, b, d, lct))) - y

    solution = least_squares(
        residuals, theta0, method="lm", x_scale="jac", xtol=1e-15, ftol=1e-15, gtol=1e-15
    )
    a, b, d, lcr, lct = (float(v) for v in solution.x)
    sse = float(np.sum(residuals(solution.x) ** 2))
    n = y.size
    df = n - N_PARALLEL
    if df <= 0:
        raise ValueError(f"need more than {N_PARALLEL} responses in all")
    s2 = sse / df
    jr, jt = _jacobian(xr, a, b, d, lcr), _jacobian(xt, a, b, d, lct)
    jac = np.zeros((n, N_PARALLEL))
    jac[: xr.size, :3], jac[: xr.size, 3] = jr[:, :3], jr[:, 3]
    jac[xr.size :, :3], jac[xr.size :, 4] = jt[:, :3], jt[:, 3]
    try:
        cov = s2 * np.linalg.inv(jac.T @ jac)
    except np.linalg.LinAlgError:
        cov = np.full((N_PARALLEL, N_PARALLEL), math.nan)
    return ParallelFit(
        a=a,
        b=b,
        d=d,
        c_reference=math.exp(lcr),
        c_test=math.exp(lct),
        sse=sse,
        df=df,
        residual_se=math.sqrt(s2),
        converged=bool(solution.success),
        covariance=tuple(tuple(float(v) for v in row) for row in cov),
    )


def check_parallelism(
    ref_fit: FourPLFit,
    test_fit: FourPLFit,
    parallel_sse: float,
    *,
    bounds: tuple[float, float] = DEFAULT_SLOPE_RATIO_BOUNDS,
    level: float = 0.95,
) -> Parallelism:
    """Slope ratio ``b_T / b_R`` with its interval (pooled residual variance, ``n − 8`` df) and
    the F test of the parallel model (SSE ``parallel_sse``) against the two free fits."""
    low, high = bounds
    if not (0 < low < 1 < high):
        raise ValueError("equivalence bounds must be 0 < low < 1 < high")
    df_free = ref_fit.n + test_fit.n - N_FREE
    if df_free <= 0:
        raise ValueError(f"need more than {N_FREE} responses in all")
    sse_free = ref_fit.sse + test_fit.sse
    s2 = sse_free / df_free

    def pooled_var_b(fit: FourPLFit) -> float:
        # std_errors["b"] = residual_se · sqrt(inv(JᵀJ)_bb): rescale to the pooled variance.
        if fit.residual_se == 0:
            return 0.0
        return s2 * (fit.std_errors["b"] / fit.residual_se) ** 2

    ratio = test_fit.b / ref_fit.b
    se_log = math.sqrt(
        pooled_var_b(test_fit) / test_fit.b**2 + pooled_var_b(ref_fit) / ref_fit.b**2
    )
    t = float(stats.t.ppf(0.5 + level / 2, df_free))
    extra = max(parallel_sse - sse_free, 0.0) / (N_FREE - N_PARALLEL)
    f_statistic = extra / s2 if s2 > 0 else math.inf
    return Parallelism(
        slope_reference=ref_fit.b,
        slope_test=test_fit.b,
        slope_ratio=ratio,
        slope_ratio_low=ratio * math.exp(-t * se_log),
        slope_ratio_high=ratio * math.exp(t * se_log),
        bounds=(low, high),
        f_statistic=f_statistic,
        f_p_value=float(stats.f.sf(f_statistic, N_FREE - N_PARALLEL, df_free)),
        df_free=df_free,
    )


def relative_potency(
    reference_dose: ArrayLike,
    reference_response: ArrayLike,
    test_dose: ArrayLike,
    test_response: ArrayLike,
    *,
    slope_ratio_bounds: tuple[float, float] = DEFAULT_SLOPE_RATIO_BOUNDS,
    level: float = 0.95,
) -> RelativePotency:
    """Relative potency ``RP = c_R / c_T`` from the parallel 4PL fit, with its ``level``
    interval ``exp(ln RP ± t(n − 5) SE)``, and the parallelism check it rests on.

    Doses of both preparations are in the same nominal unit (e.g. µg/mL of protein, or the
    dilution of each at its assigned concentration). Worked example
    (:mod:`assays.qc.worked_examples`): the ryegrass data (Inderjit et al. 2002, drc) as the
    reference and the same responses at half the doses as the test give RP = 2 exactly, the
    ryegrass LL.4 parameters as the shared ones, and residual SE ``sqrt(2 · 20 · 0.5196256² / 43)``.
    """
    if not 0 < level < 1:
        raise ValueError("the confidence level is a fraction between 0 and 1")
    xr, yr = _arrays(reference_dose, reference_response, "reference")
    xt, yt = _arrays(test_dose, test_response, "test")
    ref_fit, test_fit = fit_four_pl(xr, yr), fit_four_pl(xt, yt)
    fit = fit_parallel(xr, yr, xt, yt, starts=(ref_fit, test_fit))
    parallelism = check_parallelism(
        ref_fit, test_fit, fit.sse, bounds=slope_ratio_bounds, level=level
    )
    cov = fit.covariance
    log_rp = math.log(fit.c_reference) - math.log(fit.c_test)
    var = cov[3][3] + cov[4][4] - 2 * cov[3][4]
    se = math.sqrt(var) if var >= 0 else math.nan
    t = float(stats.t.ppf(0.5 + level / 2, fit.df))
    return RelativePotency(
        rp=math.exp(log_rp),
        rp_low=math.exp(log_rp - t * se),
        rp_high=math.exp(log_rp + t * se),
        log_rp=log_rp,
        se_log_rp=se,
        level=level,
        fit=fit,
        parallelism=parallelism,
    )
