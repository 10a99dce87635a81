"""Process capability indices Cp and Cpk and the expected fraction out of specification.

``Cp = (USL − LSL) / 6σ``; ``Cpk = min(USL − μ, μ − LSL) / 3σ`` (DOMAIN.md §4). With a one-sided
specification (only LSL, e.g. viability, or only USL, e.g. endotoxin) Cp is undefined (NaN)
and Cpk is the one-sided index CPL ``(μ − LSL) / 3σ`` or CPU ``(USL − μ) / 3σ``. The expected
fraction out of specification assumes a normal distribution.

σ from data: by default the overall sample SD (n − 1), which strictly gives the performance
indices Pp/Ppk (ISO 22514-2); pass ``sigma`` for a within-subgroup estimate such as
:func:`sigma_from_moving_range` (individuals chart, MR̄/d2).

References: ISO 22514-2:2017 and ISO 22514-4:2016 (process capability); Montgomery DC,
Introduction to Statistical Quality Control, 8th ed., Wiley 2019, ch. 8; AIAG SPC manual 2005.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

_D2_N2 = 1.128  # d2 for moving ranges of span 2


@dataclass(frozen=True)
class Capability:
    """Indices and normal-model fractions (0-1) below LSL, above USL and in total."""

    cp: float
    cpk: float
    cpl: float
    cpu: float
    fraction_below_lsl: float
    fraction_above_usl: float
    fraction_out_of_spec: float

    @property
    def ppm_out_of_spec(self) -> float:
        return self.fraction_out_of_spec * 1e6


def _limits(lsl: float | None, usl: float | None) -> None:
    if lsl is None and usl is None:
        raise ValueError("give at least one specification limit")
    if lsl is not None and usl is not None and not lsl < usl:
        raise ValueError("LSL must be below USL")


def _sigma_ok(sigma: float) -> None:
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError("sigma must be a positive number")


def _data(values: ArrayLike) -> NDArray[np.float64]:
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size < 2 or not np.all(np.isfinite(v)):
        raise ValueError("need at least two finite values")
    return v


def capability_from_stats(
    mean: float, sigma: float, lsl: float | None, usl: float | None
) -> Capability:
    """Cp, Cpk (with CPL, CPU) and the normal fraction out of spec from μ and σ.

    ``CPL = (μ − LSL)/3σ``, ``CPU = (USL − μ)/3σ``, ``Cpk = min(CPL, CPU)``,
    ``Cp = (USL − LSL)/6σ``; fraction below LSL ``Φ((LSL − μ)/σ)``, above USL
    ``1 − Φ((USL − μ)/σ)``. A missing limit gives NaN for its index and 0 for its fraction.
    Worked example (DOMAIN.md §4): μ = 130, σ = 8, LSL = 100, USL = 150 → Cp = 1.042,
    Cpk = 0.833 (fraction out of spec 0.0063).
    """
    _limits(lsl, usl)
    _sigma_ok(sigma)
    cpl = (mean - lsl) / (3 * sigma) if lsl is not None else math.nan
    cpu = (usl - mean) / (3 * sigma) if usl is not None else math.nan
    cp = (usl - lsl) / (6 * sigma) if lsl is not None and usl is not None else math.nan
    below = float(stats.norm.cdf((lsl - mean) / sigma)) if lsl is not None else 0.0
    above = float(stats.norm.sf((usl - mean) / sigma)) if usl is not None else 0.0
    return Capability(
        cp=cp,
        cpk=min(x for x in (cpl, cpu) if not math.isnan(x)),
        cpl=cpl,
        cpu=cpu,
        fraction_below_lsl=below,
        fraction_above_usl=above,
        fraction_out_of_spec=below + above,
    )


def cp(
    values: ArrayLike | None,
    lsl: float,
    usl: float,
    *,
    sigma: float | None = None,
) -> float:
    """``Cp = (USL − LSL) / 6σ``; σ = ``sigma`` if given, else the sample SD of ``values``."""
    if sigma is None:
        if values is None:
            raise ValueError("give values or sigma")
        sigma = float(np.std(_data(values), ddof=1))
    _limits(lsl, usl)
    _sigma_ok(sigma)
    return (usl - lsl) / (6 * sigma)


def cpk(
    values: ArrayLike | None,
    lsl: float | None,
    usl: float | None,
    *,
    mean: float | None = None,
    sigma: float | None = None,
) -> float:
    """``Cpk = min(USL − μ, μ − LSL) / 3σ``; μ and σ from ``values`` unless given.

    μ = sample mean, σ = sample SD (n − 1). One limit may be None (one-sided index).
    """
    if mean is None or sigma is None:
        if values is None:
            raise ValueError("give values, or both mean and sigma")
        v = _data(values)
        mean = float(v.mean()) if mean is None else mean
        sigma = float(np.std(v, ddof=1)) if sigma is None else sigma
    return capability_from_stats(mean, sigma, lsl, usl).cpk


def sigma_from_moving_range(values: ArrayLike) -> float:
    """Within-process σ of individual values: ``MR̄ / d2`` with ``d2 = 1.128`` (span 2).

    ``MR̄`` is the mean of ``|x_i − x_(i−1)|`` (Montgomery 2019, §6.4).
    """
    v = _data(values)
    return float(np.mean(np.abs(np.diff(v)))) / _D2_N2
