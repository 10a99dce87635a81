"""Shelf life from several batches: ICH Q1E batch poolability by analysis of covariance.

ICH Q1E (2003) §2.4 and Appendix B.2 (one-factor, full-design studies: testing batches for
poolability by analysis of covariance): before data of several batches are combined
into one estimate, test whether their regression lines have a common slope and a common
intercept, each at a significance level of 0.25 (a high level, so that a real batch-to-batch
difference is not pooled away). The tests are those of the sequential analysis of covariance
of the full model (time, then batch, then batch × time: the batch test is adjusted for time),
each against the full model's mean square error, as in Minitab's "Model selection with
α = 0.25", JMP's Stability Test and LeBlond, Griffith & Aubuchon, J Valid Technol
2011;17(3):47-68 ("Linear regression 102"):

    F(slopes)     = [(SSE_common slope − SSE_separate) / (k − 1)] / [SSE_separate / (N − 2k)]
    F(intercepts) = [(SSE_pooled − SSE_common slope) / (k − 1)] / [SSE_separate / (N − 2k)]

with k batches and N results. The model then chosen:

- slopes differ (p < 0.25): each batch on its own line and its own residual error; the
  shortest shelf life governs ("separate");
- common slope, intercepts differ: batch intercepts with one slope and one residual error
  (N − k − 1 degrees of freedom); the worst batch governs ("common slope");
- common slope and intercept: every result on one line (N − 2 degrees of freedom) ("pooled").

The shelf life of each line is where its one-sided 95 % confidence bound of the mean meets the
acceptance limit, in closed form (assays.qc.stability.bound_crossing).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .stability import ShelfLife, bound_crossing, shelf_life

POOLED, COMMON_SLOPE, SEPARATE = "pooled", "common slope", "separate"
MODEL_LABELS = {
    POOLED: "common slope and intercept: batches pooled",
    COMMON_SLOPE: "common slope, separate intercepts: worst batch governs",
    SEPARATE: "separate slopes: each batch alone, shortest governs",
}


@dataclass(frozen=True)
class BatchLine:
    """One batch's line in the chosen model and where its bound meets a limit (None: never)."""

    batch: str
    intercept: float
    slope: float
    estimate: float | None
    limited_by: str


@dataclass(frozen=True)
class PooledShelfLife:
    model: str
    f_slopes: float
    p_slopes: float
    f_intercepts: float
    p_intercepts: float
    df_error: int  # of the full (separate-lines) model, the denominator of both F tests
    alpha: float
    lines: tuple[BatchLine, ...]
    estimate: float | None
    limited_by: str
    governing: str  # the batch whose bound meets the limit first ("" when none does)
    longest_time: float
    confidence: float

    @property
    def model_label(self) -> str:
        return MODEL_LABELS[self.model]

    @property
    def beyond_at_start(self) -> bool:
        return self.estimate == 0.0

    @property
    def supported(self) -> float:
        """Capped at the longest time point measured (ICH Q5C: no extrapolation)."""
        if self.estimate is None:
            return self.longest_time
        return min(self.estimate, self.longest_time)


Batch = tuple[str, np.ndarray, np.ndarray]


def _checked(batches: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> list[Batch]:
    if len(batches) < 2:
        raise ValueError(
            "poolability needs results of two or more batches; a single batch is evaluated "
            "on its own line"
        )
    checked = []
    for name, (times, values) in batches.items():
        t = np.asarray(times, dtype=np.float64).ravel()
        y = np.asarray(values, dtype=np.float64).ravel()
        if t.size != y.size:
            raise ValueError(f"batch {name}: times and values differ in length")
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(y))):
            raise ValueError(f"batch {name}: times and values must be finite numbers")
        if np.unique(t).size < 3:
            raise ValueError(
                f"batch {name}: at least three time points are needed to compare its line "
                "with the other batches'"
            )
        checked.append((str(name), t, y))
    return checked


def _sse(design: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ beta
    return float(residual @ residual), beta


def _f_test(
    reduction: float, df_num: int, sse_full: float, df_den: int, scale: float
) -> tuple[float, float]:
    """F against the full model's mean square error and its upper-tail p value; a reduction of
    zero (identical lines) or an exact full fit (no residual error) is decided outright."""
    if reduction <= 1e-12 * scale:
        return 0.0, 1.0
    if sse_full <= 1e-12 * scale:
        return math.inf, 0.0
    f = (reduction / df_num) / (sse_full / df_den)
    return f, float(stats.f.sf(f, df_num, df_den))


def _earliest(found: list[tuple[float, str]]) -> tuple[float | None, str]:
    return min(found) if found else (None, "")


def _line_from(batch: str, result: ShelfLife) -> BatchLine:
    return BatchLine(
        batch, result.fit.intercept, result.fit.slope, result.estimate, result.limited_by
    )


def pooled_shelf_life(
    batches: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    lower: float | None = None,
    upper: float | None = None,
    confidence: float = 0.95,
    alpha: float = 0.25,
) -> PooledShelfLife:
    """ICH Q1E shelf life of several batches: poolability tests, model chosen, governing batch.

    `batches` maps a batch name to its (times, values). ValueError for fewer than two batches,
    a batch with fewer than three time points, or no acceptance limit."""
    if lower is None and upper is None:
        raise ValueError("give a lower or an upper acceptance limit")
    if not 0.5 < confidence < 1:
        raise ValueError("confidence must lie between 0.5 and 1")
    if not 0 < alpha < 1:
        raise ValueError("the poolability significance level must lie between 0 and 1")
    data = _checked(batches)
    k = len(data)
    t = np.concatenate([d[1] for d in data])
    y = np.concatenate([d[2] for d in data])
    n = t.size
    dummies = np.zeros((n, k))
    start = 0
    for i, (_, ti, _) in enumerate(data):
        dummies[start : start + ti.size, i] = 1.0
        start += ti.size
    pooled_x = np.column_stack([np.ones(n), t])
    common_x = np.column_stack([dummies, t])
    separate_x = np.column_stack([dummies, dummies * t[:, None]])
    sse_pooled, _ = _sse(pooled_x, y)
    sse_common, beta_common = _sse(common_x, y)
    sse_separate, _ = _sse(separate_x, y)
    df_error = n - 2 * k
    # Relative to the spread of the data: a difference this small is rounding, not a batch.
    scale = max(1e-300, float(((y - y.mean()) ** 2).sum()))
    f_slopes, p_slopes = _f_test(sse_common - sse_separate, k - 1, sse_separate, df_error, scale)
    f_icpt, p_icpt = _f_test(sse_pooled - sse_common, k - 1, sse_separate, df_error, scale)
    limits = [(side, float(v)) for side, v in (("lower", lower), ("upper", upper)) if v is not None]

    def alone(times: np.ndarray, values: np.ndarray) -> ShelfLife:
        return shelf_life(times, values, lower=lower, upper=upper, confidence=confidence)

    if p_slopes < alpha:
        model = SEPARATE
        lines = tuple(_line_from(name, alone(ti, yi)) for name, ti, yi in data)
    elif p_icpt < alpha:
        model = COMMON_SLOPE
        df = n - k - 1
        s2 = sse_common / df
        cov = s2 * np.linalg.inv(common_x.T @ common_x)
        q = float(stats.t.ppf(confidence, df))
        slope = float(beta_common[k])
        built = []
        for i, (name, _, _) in enumerate(data):
            variance = (float(cov[i, i]), float(cov[i, k]), float(cov[k, k]))
            intercept = float(beta_common[i])
            found = []
            for side, limit in limits:
                at = bound_crossing(intercept, slope, variance, q, limit, side)
                if at is not None:
                    found.append((at, side))
            estimate, side = _earliest(found)
            built.append(BatchLine(name, intercept, slope, estimate, side))
        lines = tuple(built)
    else:
        model = POOLED
        lines = (_line_from("all batches", alone(t, y)),)

    crossing = [(line.estimate, line.limited_by, line.batch) for line in lines]
    met = sorted((e, side, b) for e, side, b in crossing if e is not None)
    estimate, limited_by, governing = met[0] if met else (None, "", "")
    return PooledShelfLife(
        model=model,
        f_slopes=f_slopes,
        p_slopes=p_slopes,
        f_intercepts=f_icpt,
        p_intercepts=p_icpt,
        df_error=df_error,
        alpha=alpha,
        lines=lines,
        estimate=estimate,
        limited_by=limited_by,
        governing=governing,
        longest_time=float(t.max()),
        confidence=confidence,
    )
