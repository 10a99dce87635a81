"""Standard curves: four- and five-parameter logistic fits and back-calculation of unknowns.

Parameterisation (Gen5 / SoftMax Pro form, DOMAIN.md §4)::

    4PL: y = (a - d) / (1 + (x / c) ** b) + d
    5PL: y = (a - d) / (1 + (x / c) ** b) ** g + d

``a`` is the response at zero concentration (for ``b > 0``), ``d`` the response at infinite
concentration, ``c`` the inflection point (EC50 of the 4PL), ``b`` the slope factor and ``g``
the asymmetry factor of the 5PL (``g = 1`` gives the 4PL).

The R package drc writes the same 4PL as LL.4,
``f(x) = c + (d - c) / (1 + exp(b (ln x - ln e)))``. Since ``exp(b (ln x - ln e)) = (x/e)^b``
the two are identical with ``a = d_drc``, ``d = c_drc``, ``c = e_drc``, ``b = b_drc`` (and
LL.5's ``f`` is ``g``); see :meth:`FourPLFit.to_drc_ll4` and :func:`from_drc_ll4`.

Fits are (weighted) least squares. Values of unknowns are read off the fitted curve only inside
the standards' range; outside it they are flagged "<LLOQ" / ">ULOQ", never extrapolated.

References: Findlay JWA & Dillard RF, AAPS J 2007;9(2):E260 (calibration curves in
ligand-binding assays); Gottschalk PG & Dunn JR, Anal Biochem 2005;343:54 (5PL); Ritz C et al.,
PLoS ONE 2015;10:e0146021 (drc); Seber GAF & Wild CJ, Nonlinear Regression, Wiley 1989.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import least_squares

LLOQ_FLAG = "<LLOQ"
ULOQ_FLAG = ">ULOQ"
NOT_CALCULABLE = "NC"  # the response is missing, or the curve does not determine a concentration
# A parameter whose standard error exceeds its own value is not determined by the standards.
MAX_RELATIVE_SE = 1.0

_RANGE_RTOL = 1e-9  # a standard back-calculated at the range edge is still inside it
_B_GRID = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)


# --------------------------------------------------------------------------- curve functions


def _u(x: NDArray[np.float64], b: float, log_c: float) -> NDArray[np.float64]:
    """``(x / c) ** b`` for x >= 0, with x = 0 giving 0 (b > 0) or inf (b < 0)."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        u = np.exp(b * (np.log(x) - log_c))
    return np.where(x < 0, np.nan, u)


def _five_pl(
    x: NDArray[np.float64], a: float, b: float, log_c: float, d: float, g: float
) -> NDArray[np.float64]:
    with np.errstate(over="ignore"):
        s = (1.0 + _u(x, b, log_c)) ** (-g)
    return d + (a - d) * s


def _log_c(c: float) -> float:
    if not (math.isfinite(c) and c > 0):
        raise ValueError("the inflection point c must be a positive number")
    return math.log(c)


def five_pl(x: ArrayLike, a: float, b: float, c: float, d: float, g: float) -> NDArray[np.float64]:
    """Five-parameter logistic ``y = (a - d) / (1 + (x/c)^b)^g + d`` (Gottschalk & Dunn 2005).

    ``x`` must be >= 0 (concentration); ``x = 0`` gives ``a`` when ``b > 0``.
    """
    return _five_pl(np.asarray(x, dtype=np.float64), a, b, _log_c(c), d, g)


def four_pl(x: ArrayLike, a: float, b: float, c: float, d: float) -> NDArray[np.float64]:
    """Four-parameter logistic ``y = (a - d) / (1 + (x/c)^b) + d`` (Findlay & Dillard 2007)."""
    return five_pl(x, a, b, c, d, 1.0)


def five_pl_inverse(
    y: ArrayLike, a: float, b: float, c: float, d: float, g: float
) -> NDArray[np.float64]:
    """Concentration giving response ``y``: ``x = c ((( a - d) / (y - d))^(1/g) - 1)^(1/b)``.

    NaN unless ``y`` lies strictly between the asymptotes ``a`` and ``d`` (the curve never
    reaches them, so no concentration corresponds to such a response).
    """
    y = np.asarray(y, dtype=np.float64)
    inside = (y - a) * (y - d) < 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = (a - d) / (y - d)
        x = c * (ratio ** (1.0 / g) - 1.0) ** (1.0 / b)
    return np.where(inside & np.isfinite(x), x, np.nan)


def four_pl_inverse(y: ArrayLike, a: float, b: float, c: float, d: float) -> NDArray[np.float64]:
    """Inverse 4PL ``x = c ((a - d) / (y - d) - 1)^(1/b)``; NaN outside the asymptotes."""
    return five_pl_inverse(y, a, b, c, d, 1.0)


def from_drc_ll4(b: float, c: float, d: float, e: float) -> dict[str, float]:
    """Gen5 parameters from drc LL.4 ``(b, c, d, e)``: ``a = d, b = b, c = e, d = c``."""
    return {"a": d, "b": b, "c": e, "d": c}


# ------------------------------------------------------------------------------ fit results


@dataclass(frozen=True)
class BackCalc:
    """A back-calculated concentration: ``value`` (None when flagged) and its ``qualifier``.

    ``qualifier`` is None for a quantifiable result, else "<LLOQ", ">ULOQ" or "NC".
    """

    value: float | None
    qualifier: str | None

    @property
    def quantifiable(self) -> bool:
        return self.qualifier is None


@dataclass(frozen=True, eq=False, kw_only=True)
class _LogisticFit:
    a: float
    b: float
    c: float
    d: float
    sse: float
    converged: bool
    df: int
    residual_se: float
    r_squared: float
    standards_range: tuple[float, float]
    std_errors: dict[str, float]
    x: NDArray[np.float64] = field(repr=False)
    y: NDArray[np.float64] = field(repr=False)
    weights: NDArray[np.float64] = field(repr=False)

    @property
    def _g(self) -> float:
        return 1.0

    @property
    def n(self) -> int:
        return int(self.x.size)

    @property
    def parameters(self) -> dict[str, float]:
        return {"a": self.a, "b": self.b, "c": self.c, "d": self.d}

    @property
    def residuals(self) -> NDArray[np.float64]:
        return self.y - self.predict(self.x)

    @property
    def undetermined(self) -> list[str]:
        """Parameters the standards do not determine: an infinite standard error, or one larger
        than the slope b or inflection c itself, or than the response span |a − d| for an
        asymptote (which may lie at 0). A step between two standards fits with R² near 1 and
        any slope (b = 69, SE(b) = 6.5e10): such a curve converts nothing into a concentration.
        The 5PL asymmetry g is often weakly determined without harm; a poor g shows in the
        back-calculated standards (suitability_failures)."""
        scale = {
            "a": abs(self.a - self.d),
            "d": abs(self.a - self.d),
            "b": abs(self.b),
            "c": abs(self.c),
        }
        return [
            name
            for name, se in self.std_errors.items()
            if name in scale
            and (not math.isfinite(se) or se > MAX_RELATIVE_SE * max(scale[name], 1e-12))
        ]

    def standards_recovery(self) -> list[tuple[float, float | None]]:
        """(nominal, back-calculated / nominal) of every standard with x > 0; None when its
        response has no concentration on the curve."""
        out = []
        for x, y in zip(self.x, self.y, strict=True):
            if x > 0:
                found = float(self.inverse([y])[0])
                out.append((float(x), found / float(x) if math.isfinite(found) else None))
        return out

    def standards_within_tolerance(
        self, *, tolerance: float = 0.20, end_tolerance: float = 0.25
    ) -> float | None:
        """The fraction (0-1) of standards with x > 0 that back-calculate within ±``tolerance``
        of their nominal concentration, ±``end_tolerance`` for the lowest and highest; a
        standard whose response has no concentration on the curve is outside. None without
        standards above zero.

        Example: standards 1, 2, 4, 8 and 16 back-calculating to 1.22, 2.5, 4.1, 8.0 and 16.5:
        1 is within (22 % ≤ 25 % at the low end), 2 is not (25 % > 20 %), the other three are,
        so the share is 4/5 = 0.8."""
        recovery = self.standards_recovery()
        if not recovery:
            return None
        low, high = min(x for x, _ in recovery), max(x for x, _ in recovery)
        within = [
            r is not None and abs(r - 1) <= (end_tolerance if x in (low, high) else tolerance)
            for x, r in recovery
        ]
        return sum(within) / len(within)

    def suitability_failures(
        self, *, tolerance: float = 0.20, end_tolerance: float = 0.25, min_fraction: float = 0.75
    ) -> list[str]:
        """Why the curve cannot be used, or []: not converged; parameters not determined; fewer
        than ``min_fraction`` of the standards back-calculating within ±``tolerance`` of their
        nominal value (±``end_tolerance`` for the lowest and highest), as bioanalytical method
        validation asks (FDA 2018, EMA 2011: ±20 %, ±25 % at the LLOQ/ULOQ, 75 % of standards).
        """
        failures = []
        if not self.converged:
            failures.append("the fit did not converge")
        if undetermined := self.undetermined:
            failures.append(
                "parameters not determined by the standards: " + ", ".join(undetermined)
            )
        share = self.standards_within_tolerance(tolerance=tolerance, end_tolerance=end_tolerance)
        if share is not None and share < min_fraction:
            failures.append(
                f"{share:.0%} of standards back-calculate within ±{tolerance:.0%} "
                f"(±{end_tolerance:.0%} at the ends); at least {min_fraction:.0%} must"
            )
        return failures

    def predict(self, x: ArrayLike) -> NDArray[np.float64]:
        """Response of the fitted curve at concentration(s) ``x`` (>= 0)."""
        return five_pl(x, self.a, self.b, self.c, self.d, self._g)

    def inverse(self, y: ArrayLike) -> NDArray[np.float64]:
        """Concentration giving response ``y``; NaN when ``y`` is not strictly between the
        asymptotes. No range check here: use :meth:`back_calculate` for reportable values."""
        return five_pl_inverse(y, self.a, self.b, self.c, self.d, self._g)

    def back_calculate(
        self,
        y: ArrayLike,
        *,
        dilution: float = 1.0,
        quantitation_range: tuple[float, float] | None = None,
    ) -> list[BackCalc]:
        """Concentrations of unknowns from their responses, times ``dilution``.

        A response whose concentration falls below the lower end of the quantitation range
        (default: the standards' range, lowest and highest standard with x > 0), or beyond the
        zero-concentration asymptote, gets ``BackCalc(None, "<LLOQ")``; above the upper end or
        beyond the other asymptote ``BackCalc(None, ">ULOQ")``; a missing response ``"NC"``.
        Values are never extrapolated (Findlay & Dillard 2007).
        """
        if not (math.isfinite(dilution) and dilution > 0):
            raise ValueError("dilution must be a positive number")
        low, high = quantitation_range or self.standards_range
        responses = np.atleast_1d(np.asarray(y, dtype=np.float64)).ravel()
        if not self.converged or self.undetermined:
            # A curve the standards do not determine converts nothing.
            return [BackCalc(None, NOT_CALCULABLE) for _ in responses]
        concentrations = self.inverse(responses)
        y_at_zero, y_at_infinity = (self.a, self.d) if self.b > 0 else (self.d, self.a)
        results = []
        for response, x in zip(responses, concentrations, strict=True):
            if not math.isfinite(response):
                results.append(BackCalc(None, NOT_CALCULABLE))
            elif math.isnan(x):
                beyond_zero = (response - y_at_zero) * (y_at_infinity - y_at_zero) <= 0
                results.append(BackCalc(None, LLOQ_FLAG if beyond_zero else ULOQ_FLAG))
            elif x < low * (1 - _RANGE_RTOL):
                results.append(BackCalc(None, LLOQ_FLAG))
            elif x > high * (1 + _RANGE_RTOL):
                results.append(BackCalc(None, ULOQ_FLAG))
            else:
                results.append(BackCalc(float(x) * dilution, None))
        return results


@dataclass(frozen=True, eq=False, kw_only=True)
class FourPLFit(_LogisticFit):
    """Fitted 4PL ``y = (a - d) / (1 + (x/c)^b) + d`` with ``b > 0`` (``a``: response at x=0).

    ``converged`` reports the optimiser's convergence test;
    ``residual_se = sqrt(sum(w r^2) / df)`` with ``df = n - 4``; ``r_squared = 1 - SSE/SST``
    (weighted when weights were given); ``std_errors`` are asymptotic standard errors
    ``sqrt(diag(residual_se^2 (J' W J)^-1))`` (Gauss-Newton, as scipy's ``curve_fit``; drc's
    Hessian-based values differ by a few per cent); ``standards_range`` = (min, max) of x > 0.
    """

    def to_drc_ll4(self) -> dict[str, float]:
        """drc LL.4 parameters: ``b = b, c = d, d = a, e = c``."""
        return {"b": self.b, "c": self.d, "d": self.a, "e": self.c}


@dataclass(frozen=True, eq=False, kw_only=True)
class FivePLFit(_LogisticFit):
    """Fitted 5PL ``y = (a - d) / (1 + (x/c)^b)^g + d``; statistics as :class:`FourPLFit`
    with ``df = n - 5``."""

    g: float

    @property
    def _g(self) -> float:
        return self.g

    @property
    def parameters(self) -> dict[str, float]:
        return {**super().parameters, "g": self.g}

    def to_drc_ll5(self) -> dict[str, float]:
        """drc LL.5 parameters: ``b = b, c = d, d = a, e = c, f = g``."""
        return {"b": self.b, "c": self.d, "d": self.a, "e": self.c, "f": self.g}


# ---------------------------------------------------------------------------------- fitting


def _prepare(
    x: ArrayLike, y: ArrayLike, weights: ArrayLike | None, n_params: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    if xa.shape != ya.shape:
        raise ValueError(f"{xa.size} concentrations but {ya.size} responses")
    wa = np.ones_like(xa) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if wa.shape != xa.shape:
        raise ValueError("one weight per standard is required")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya)) and np.all(np.isfinite(wa))):
        raise ValueError("concentrations, responses and weights must be finite numbers")
    if np.any(xa < 0):
        raise ValueError("concentrations must not be negative")
    if np.any(wa <= 0):
        raise ValueError("weights must be positive")
    if xa.size <= n_params:
        raise ValueError(f"need more than {n_params} standards for {n_params} parameters")
    if np.unique(xa).size < n_params:
        raise ValueError(f"need at least {n_params} distinct concentrations")
    if np.unique(xa[xa > 0]).size < 2:
        raise ValueError("need at least two distinct positive concentrations")
    return xa, ya, wa


def _linear_asymptotes(
    s: NDArray[np.float64], y: NDArray[np.float64], sqrt_w: NDArray[np.float64]
) -> tuple[float, float, float]:
    """For fixed shape ``s = D^-g`` the model ``y = a s + d (1 - s)`` is linear in (a, d)."""
    design = np.column_stack((s, 1.0 - s)) * sqrt_w[:, None]
    (a, d), *_ = np.linalg.lstsq(design, y * sqrt_w, rcond=None)
    sse = float(np.sum((sqrt_w * (y - a * s - d * (1.0 - s))) ** 2))
    return float(a), float(d), sse


def _jacobian(
    x: NDArray[np.float64], a: float, b: float, c: float, d: float, g: float
) -> NDArray[np.float64]:
    """d f / d(a, b, c, d, g) in natural parameters; x = 0 rows have zero b, c terms."""
    u = _u(x, b, math.log(c))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        big_d = 1.0 + u
        s = big_d ** (-g)
        q = np.where(np.isinf(u), 1.0, u / big_d)
        log_ratio = np.where(x > 0, np.log(np.where(x > 0, x, 1.0) / c), 0.0)
        columns = [
            s,
            -(a - d) * g * s * q * log_ratio,
            (a - d) * g * s * q * b / c,
            1.0 - s,
            np.nan_to_num(-(a - d) * s * np.log1p(u)),
        ]
    return np.nan_to_num(np.column_stack(columns))


def _fit_logistic(
    x: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64], five: bool
) -> tuple[dict[str, float], float, bool]:
    sqrt_w = np.sqrt(w)
    positive = x[x > 0]
    log_c_grid = np.linspace(math.log(positive.min()) - 1, math.log(positive.max()) + 1, 31)
    g_starts = (1.0, 0.5, 2.0) if five else (1.0,)

    # Robust start: grid over (b, ln c[, g]) with a and d solved linearly at each node.
    best: tuple[float, tuple[float, ...]] = (math.inf, ())
    for g in g_starts:
        for b in _B_GRID:
            for log_c in log_c_grid:
                s = _five_pl(x, 1.0, b, log_c, 0.0, g)
                a, d, sse = _linear_asymptotes(s, y, sqrt_w)
                if sse < best[0]:
                    best = (sse, (a, b, log_c, d, math.log(g)))
    theta0 = np.array(best[1] if five else best[1][:4])

    def residuals(theta: NDArray[np.float64]) -> NDArray[np.float64]:
        a, b, log_c, d = theta[:4]
        g = float(np.exp(theta[4])) if five else 1.0
        return sqrt_w * (_five_pl(x, a, b, log_c, d, g) - y)

    solution = least_squares(
        residuals, theta0, method="lm", x_scale="jac", xtol=1e-15, ftol=1e-15, gtol=1e-15
    )
    a, b, log_c, d = (float(v) for v in solution.x[:4])
    params = {"a": a, "b": b, "c": math.exp(log_c), "d": d}
    if five:
        params["g"] = math.exp(float(solution.x[4]))
    elif b < 0:  # the 4PL is symmetric under (a, b, d) -> (d, -b, a): keep a at x = 0
        params.update(a=d, b=-b, d=a)
    sse = float(np.sum(_weighted_residuals(x, y, w, params) ** 2))
    return params, sse, bool(solution.success)


def _weighted_residuals(
    x: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64], params: dict[str, float]
) -> NDArray[np.float64]:
    """``sqrt(w) (y - f(x))`` for a 4PL/5PL parameter set."""
    fitted = five_pl(x, params["a"], params["b"], params["c"], params["d"], params.get("g", 1.0))
    return np.sqrt(w) * (y - fitted)


def _fit(x: ArrayLike, y: ArrayLike, weights: ArrayLike | None, five: bool) -> dict[str, Any]:
    """Parameters and statistics, as keyword arguments for FourPLFit / FivePLFit."""
    n_params = 5 if five else 4
    xa, ya, wa = _prepare(x, y, weights, n_params)
    params, sse, converged = _fit_logistic(xa, ya, wa, five)
    df = xa.size - n_params
    residual_se = math.sqrt(sse / df)
    y_mean = float(np.sum(wa * ya) / np.sum(wa))
    sst = float(np.sum(wa * (ya - y_mean) ** 2))
    r_squared = 1.0 - sse / sst if sst > 0 else math.nan

    g = params.get("g", 1.0)
    jac = _jacobian(xa, params["a"], params["b"], params["c"], params["d"], g)
    if not five:
        jac = jac[:, :4]
    names = ["a", "b", "c", "d", "g"][:n_params]
    try:
        cov = residual_se**2 * np.linalg.inv(jac.T @ (jac * wa[:, None]))
        std_errors = {
            k: float(math.sqrt(v)) if v >= 0 else math.nan
            for k, v in zip(names, np.diag(cov), strict=True)
        }
    except np.linalg.LinAlgError:
        std_errors = dict.fromkeys(names, math.nan)

    positive = xa[xa > 0]
    return dict(
        **params,
        sse=sse,
        converged=converged,
        df=df,
        residual_se=residual_se,
        r_squared=r_squared,
        standards_range=(float(positive.min()), float(positive.max())),
        std_errors=std_errors,
        x=xa,
        y=ya,
        weights=wa,
    )


def fit_four_pl(x: ArrayLike, y: ArrayLike, weights: ArrayLike | None = None) -> FourPLFit:
    """Fit ``y = (a - d) / (1 + (x/c)^b) + d`` by (weighted) least squares.

    Minimises ``sum(w_i (y_i - f(x_i))^2)`` (``w = 1`` by default; pass e.g. ``1 / y^2`` for
    relative weighting). Starting values come from a grid over ``b`` and ``ln c`` (spanning the
    positive standards) with ``a`` and ``d`` solved by linear least squares at each node; the
    best node is refined by Levenberg-Marquardt (``scipy.optimize.least_squares``) in
    ``(a, b, ln c, d)``, so ``c`` stays positive. Standards at ``x = 0`` (blanks) are used
    (there the curve equals ``a``). The result has ``b > 0``.

    Worked example (DOMAIN.md §4): drc's ``ryegrass`` gives LL.4 b = 2.98222, c = 0.48141,
    d = 7.79296, e = 3.05795, residual SE 0.5196256 on 20 df, i.e. a = 7.79296, b = 2.98222,
    c = 3.05795, d = 0.48141 here (Ritz et al. 2015).
    """
    return FourPLFit(**_fit(x, y, weights, five=False))


def fit_five_pl(x: ArrayLike, y: ArrayLike, weights: ArrayLike | None = None) -> FivePLFit:
    """Fit ``y = (a - d) / (1 + (x/c)^b)^g + d`` (Gottschalk & Dunn 2005).

    As :func:`fit_four_pl`, with the asymmetry ``g > 0`` fitted as ``ln g`` and grid starts at
    ``g`` = 1, 0.5 and 2. ``g = 1`` is the 4PL; ``df = n - 5``.
    """
    return FivePLFit(**_fit(x, y, weights, five=True))
