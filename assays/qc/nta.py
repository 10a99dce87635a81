"""Nanoparticle tracking analysis (NTA): size-distribution statistics (DOMAIN.md §4 "NTA summary").

The input is a number-weighted histogram as exported by Malvern NanoSight ("Experiment Summary"
CSV): bin centres in nm and the particle concentration in each bin (particles/mL, already
adjusted for the dilution factor stated in the file). One histogram per video; a lot's result is
the mean over videos with its standard error.

References: ISO 19430:2016 (particle tracking analysis); ISO 9276-2:2014 (moments and
percentiles of particle size distributions); Malvern Panalytical NanoSight NTA 3.2 user manual
(Experiment Summary export).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

CumulativePosition = Literal["centre", "lower_edge", "upper_edge"]
_POSITION_OFFSETS: dict[str, float] = {"centre": 0.0, "lower_edge": -0.5, "upper_edge": 0.5}


@dataclass(frozen=True)
class SizeSummary:
    """Statistics of one number-weighted size distribution (sizes in nm).

    ``total_concentration`` is in the unit of the input (particles/mL for NanoSight).
    """

    mean: float
    mode: float
    sd: float
    d10: float
    d50: float
    d90: float
    total_concentration: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


STATISTICS: tuple[str, ...] = tuple(f.name for f in fields(SizeSummary))


@dataclass(frozen=True)
class VideoAverage:
    """Mean of per-video values of one statistic with its standard error ``sd / sqrt(n)``."""

    average: float
    standard_error: float
    sd: float
    n: int


@dataclass(frozen=True)
class LotSummary:
    """Per-statistic averages over the videos of one measurement (``None`` when not given)."""

    n_videos: int
    mean: VideoAverage | None = None
    mode: VideoAverage | None = None
    sd: VideoAverage | None = None
    d10: VideoAverage | None = None
    d50: VideoAverage | None = None
    d90: VideoAverage | None = None
    total_concentration: VideoAverage | None = None

    def to_dict(self) -> dict[str, dict[str, float] | None]:
        values = {name: getattr(self, name) for name in STATISTICS}
        return {name: None if v is None else asdict(v) for name, v in values.items()}


def _histogram(
    bins_nm: ArrayLike, conc_per_bin: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = np.asarray(bins_nm, dtype=np.float64).ravel()
    w = np.asarray(conc_per_bin, dtype=np.float64).ravel()
    if x.shape != w.shape:
        raise ValueError(f"{x.size} bin centres but {w.size} concentrations")
    if x.size < 2:
        raise ValueError("a size distribution needs at least two bins")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(w))):
        raise ValueError("bin centres and concentrations must be finite numbers")
    if np.any(np.diff(x) <= 0):
        raise ValueError("bin centres must be strictly increasing")
    if np.any(w < 0):
        raise ValueError("concentrations must not be negative")
    if w.sum() <= 0:
        raise ValueError("the distribution is empty (total concentration is zero)")
    return x, w


def _bin_edges(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Edges halfway between neighbouring centres; the outer edges mirror the next spacing."""
    mid = (x[1:] + x[:-1]) / 2.0
    first = x[0] - (mid[0] - x[0])
    last = x[-1] + (x[-1] - mid[-1])
    return np.concatenate(([first], mid, [last]))


def _parabolic_mode(x: NDArray[np.float64], w: NDArray[np.float64]) -> float:
    k = int(np.argmax(w))
    if k == 0 or k == x.size - 1:
        return float(x[k])
    x0, x1, x2 = x[k - 1 : k + 2]
    y0, y1, y2 = w[k - 1 : k + 2]
    denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
    curvature = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
    if curvature >= 0:  # flat top: no interior maximum
        return float(x1)
    slope = (x2**2 * (y0 - y1) + x1**2 * (y2 - y0) + x0**2 * (y1 - y2)) / denom
    return float(np.clip(-slope / (2.0 * curvature), x0, x2))


def size_percentile(
    bins_nm: ArrayLike,
    conc_per_bin: ArrayLike,
    fraction: float,
    *,
    cumulative_at: CumulativePosition = "centre",
) -> float:
    """Size below which ``fraction`` (0-1) of the particles lie (D10 = 0.1, D50 = 0.5, ...).

    The cumulative fraction ``F_i = sum(w_j, j <= i) / sum(w)`` is placed at a position of bin
    ``i`` set by ``cumulative_at``, preceded by ``F = 0`` one bin width earlier, and the size at
    which ``F`` first reaches ``fraction`` is linearly interpolated between the two positions
    bracketing it (ISO 9276-2 percentiles of a histogram):

    * ``"upper_edge"``: ``F_i`` at the bin's upper edge: the exact percentile of a histogram
      with uniform density inside each bin (grouped-data formula ``L + (q - F) / f * h``,
      ISO 9276-2): the NanoSight NTA 3.3 and later convention;
    * ``"lower_edge"``: ``F_i`` at the bin's lower edge, one bin below the exact value: the
      NanoSight NTA 3.0-3.2 convention (reproduces its printed D10/D50/D90 to 0.05 nm);
    * ``"centre"`` (default): ``F_i`` at the bin centre, half a bin from each of the two
      conventions above, so within 0.5 nm of either for 1 nm bins (DOMAIN.md §4: NTA software
      versions differ by up to 1 nm in their D-values).
    """
    if cumulative_at not in _POSITION_OFFSETS:
        raise ValueError(f"cumulative_at must be one of {sorted(_POSITION_OFFSETS)}")
    if not 0.0 < fraction < 1.0:
        raise ValueError("fraction must be strictly between 0 and 1")
    x, w = _histogram(bins_nm, conc_per_bin)
    widths = np.diff(_bin_edges(x))
    positions = x + _POSITION_OFFSETS[cumulative_at] * widths
    cumulative = np.cumsum(w)
    cumulative = cumulative / cumulative[-1]
    xp = np.concatenate(([positions[0] - widths[0]], positions))
    fp = np.concatenate(([0.0], cumulative))
    i = int(np.searchsorted(fp, fraction, side="left"))  # first F >= fraction, i >= 1
    f0, f1 = fp[i - 1], fp[i]
    return float(xp[i - 1] + (fraction - f0) / (f1 - f0) * (xp[i] - xp[i - 1]))


def summarize_distribution(
    bins_nm: ArrayLike,
    conc_per_bin: ArrayLike,
    *,
    cumulative_at: CumulativePosition = "centre",
) -> SizeSummary:
    """Number-weighted statistics of one size histogram (one NTA video).

    With bin centres ``x_i`` and concentrations ``w_i`` (``W = sum(w_i)``):

    * mean ``= sum(w_i x_i) / W``;
    * SD ``= sqrt(sum(w_i (x_i - mean)^2) / W)`` (population SD of the number distribution,
      as NanoSight reports it);
    * mode: vertex of the parabola through the highest bin and its two neighbours (three-point
      peak interpolation; reproduces NanoSight's reported mode, which is not a bin centre);
    * D10/D50/D90: percentiles of the cumulative distribution, see :func:`size_percentile`;
    * total concentration ``= W`` (the per-bin values of a NanoSight export are particles/mL
      in each 1 nm bin, dilution already applied).

    Reference: ISO 9276-2:2014 (moment ratios, percentiles); ISO 19430:2016.
    """
    x, w = _histogram(bins_nm, conc_per_bin)
    total = float(w.sum())
    mean = float(np.sum(w * x) / total)
    sd = float(math.sqrt(np.sum(w * (x - mean) ** 2) / total))
    d10, d50, d90 = (size_percentile(x, w, q, cumulative_at=cumulative_at) for q in (0.1, 0.5, 0.9))
    return SizeSummary(
        mean=mean,
        mode=_parabolic_mode(x, w),
        sd=sd,
        d10=d10,
        d50=d50,
        d90=d90,
        total_concentration=total,
    )


def mean_and_standard_error(values: ArrayLike) -> VideoAverage:
    """Plain mean of replicate values and its standard error ``SE = s / sqrt(n)``.

    ``s`` is the sample SD (``n - 1`` denominator); ``SE`` is NaN for a single value. This is
    how a NanoSight export computes its "Average" and "Standard Error" columns.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError("need at least one finite value")
    if v.size == 1:
        return VideoAverage(average=float(v[0]), standard_error=math.nan, sd=math.nan, n=1)
    sd = float(np.std(v, ddof=1))
    return VideoAverage(
        average=float(v.mean()), standard_error=sd / math.sqrt(v.size), sd=sd, n=int(v.size)
    )


def summarize_videos(
    videos: Sequence[SizeSummary] | Mapping[str, ArrayLike],
) -> LotSummary:
    """Average the per-video statistics of one sample: ``average = mean(v)``, ``SE = s/sqrt(n)``.

    ``videos`` is either a sequence of :class:`SizeSummary` (one per video) or a mapping from a
    statistic name (``"mean"``, ``"mode"``, ``"sd"``, ``"d10"``, ``"d50"``, ``"d90"``,
    ``"total_concentration"``) to its per-video values, e.g. the values printed in an export.
    See :func:`mean_and_standard_error`.
    """
    if isinstance(videos, Mapping):
        unknown = set(videos) - set(STATISTICS)
        if unknown:
            raise ValueError(f"unknown statistics {sorted(unknown)}; known: {list(STATISTICS)}")
        per_stat = {
            name: np.asarray(values, dtype=np.float64).ravel() for name, values in videos.items()
        }
    else:
        if len(videos) == 0:
            raise ValueError("no videos to summarise")
        per_stat = {
            name: np.array([getattr(video, name) for video in videos], dtype=np.float64)
            for name in STATISTICS
        }
    sizes = {values.size for values in per_stat.values()}
    if len(sizes) != 1:
        raise ValueError("every statistic needs one value per video")
    averages = {name: mean_and_standard_error(values) for name, values in per_stat.items()}
    return LotSummary(n_videos=sizes.pop(), **averages)


def fraction_in_window(
    bins_nm: ArrayLike, conc_per_bin: ArrayLike, low_nm: float, high_nm: float
) -> float:
    """Fraction (0-1) of particles with size between ``low_nm`` and ``high_nm``.

    ``sum(w_i * overlap_i / width_i) / sum(w_i)``, where ``overlap_i`` is the length of bin
    ``i`` (edges halfway between centres) inside the window, i.e. particles are taken as
    uniformly spread within a bin. With NanoSight's 1 nm bins centred on half-integers and
    whole-nm limits this is exactly the share of bins whose centre lies in the window. Used for
    the release criterion "> 90 % of particles between 50 and 400 nm" (compare with 0.90).
    """
    if not low_nm < high_nm:
        raise ValueError("low_nm must be below high_nm")
    x, w = _histogram(bins_nm, conc_per_bin)
    edges = _bin_edges(x)
    lower, upper = edges[:-1], edges[1:]
    overlap = np.clip(np.minimum(upper, high_nm) - np.maximum(lower, low_nm), 0.0, None)
    return float(np.sum(w * overlap / (upper - lower)) / w.sum())
