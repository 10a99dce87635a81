"""Westgard multirule quality control on control-sample results (DOMAIN.md §4).

Each control value is turned into ``z = (value − mean) / SD`` with the control's established
mean and SD, and checked against:

========  ========================================================================  ==========
rule      violated by the current point when                                         kind
========  ========================================================================  ==========
1-2s      ``|z| > 2``                                                                warning
1-3s      ``|z| > 3``                                                                rejection
2-2s      it and the previous point are beyond the same 2 SD limit (``z > 2`` both   rejection
          or ``z < −2`` both); with ``run_ids``, also an earlier point of the same
          run beyond the same limit
R-4s      within one run (``run_ids``), one control ``z > 2`` and another            rejection
          ``z < −2``: both points are flagged
4-1s      it and the previous 3 points are beyond the same 1 SD limit                rejection
10x       it and the previous 9 points are on the same side of the mean              rejection
========  ========================================================================  ==========

"Beyond" is strict: a value exactly on a limit does not violate it. The consecutive rules
(2-2s, 4-1s, 10x) read the values in the order given (chronological; the control levels of one
run listed together), so they apply across runs and across control levels, as in Westgard et al.
1981; evaluate one level at a time to restrict them to a level. A run of consecutive points
flags its last point and every later point while it lasts (4-1s on the 4th, 5th, ... point).

R-4s is a within-run rule: it needs ``run_ids`` to know which values share a run. Without
``run_ids`` every value is its own run and R-4s cannot fire (the across-run variant, two
consecutive points on opposite 2 SD limits, is deliberately not applied; DOMAIN.md §4 defines
R-4s within one run).

References: Westgard JO, Barry PL, Hunt MR, Groth T, Clin Chem 1981;27:493 (multirule Shewhart
chart); CLSI C24, Statistical Quality Control for Quantitative Measurement Procedures.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

RULES: tuple[str, ...] = ("1-2s", "1-3s", "2-2s", "R-4s", "4-1s", "10x")
WARNING_RULES: frozenset[str] = frozenset({"1-2s"})
REJECTION_RULES: frozenset[str] = frozenset(RULES) - WARNING_RULES
# The most earlier points a rule reads to judge a point (10x: the point and the 9 before it).
# A window of a longer series is judged as the whole series would be when evaluated with this
# many points before its first (R-4s reads the run's values, not earlier points).
LOOKBACK = 9


def z_scores(values: ArrayLike, mean: ArrayLike, sd: ArrayLike) -> NDArray[np.float64]:
    """``z = (value − mean) / SD``; ``mean``/``sd`` are scalars or one per value (levels)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    m = np.broadcast_to(np.asarray(mean, dtype=np.float64), v.shape)
    s = np.broadcast_to(np.asarray(sd, dtype=np.float64), v.shape)
    if not (np.all(np.isfinite(v)) and np.all(np.isfinite(m)) and np.all(np.isfinite(s))):
        raise ValueError("values, mean and SD must be finite")
    if np.any(s <= 0):
        raise ValueError("SD must be positive")
    return (v - m) / s


def _run_length_rule(z: NDArray[np.float64], limit: float, count: int) -> NDArray[np.bool_]:
    """True where this point and the ``count − 1`` before it are all > limit or all < −limit."""
    flags = np.zeros(z.size, dtype=bool)
    for side in (z > limit, z < -limit):
        run = 0
        for i, beyond in enumerate(side):
            run = run + 1 if beyond else 0
            if run >= count:
                flags[i] = True
    return flags


def evaluate(
    values: ArrayLike,
    mean: ArrayLike,
    sd: ArrayLike,
    *,
    run_ids: Sequence[Hashable] | None = None,
) -> list[set[str]]:
    """For each value, the set of Westgard rules it violates (see the module docstring).

    ``values`` in chronological order; ``mean`` and ``sd`` are the control's established values,
    scalars or one per value when several control levels are interleaved; ``run_ids`` (one per
    value) groups values measured in the same run, for R-4s and within-run 2-2s.

    Worked example (DOMAIN.md §4): mean 100, SD 5, values 101, 97, 111, 99, 117, 103, 111,
    112, 106, 106, 107, 106, 102, 101 → point 3 {1-2s}, 5 {1-2s, 1-3s}, 7 {1-2s},
    8 {1-2s, 2-2s}, 10-12 {4-1s}, 14 {10x}, all others empty.
    """
    z = z_scores(values, mean, sd)
    if run_ids is not None and len(run_ids) != z.size:
        raise ValueError(f"{len(run_ids)} run ids for {z.size} values")
    flags: list[set[str]] = [set() for _ in range(z.size)]

    def mark(rule: str, where: NDArray[np.bool_]) -> None:
        for i in np.flatnonzero(where):
            flags[i].add(rule)

    mark("1-2s", np.abs(z) > 2)
    mark("1-3s", np.abs(z) > 3)
    mark("2-2s", _run_length_rule(z, 2.0, 2))
    mark("4-1s", _run_length_rule(z, 1.0, 4))
    mark("10x", _run_length_rule(z, 0.0, 10))

    if run_ids is not None:
        runs: dict[Hashable, list[int]] = {}
        for i, run in enumerate(run_ids):
            runs.setdefault(run, []).append(i)
        for members in runs.values():
            high = [i for i in members if z[i] > 2]
            low = [i for i in members if z[i] < -2]
            if high and low:
                for i in high + low:
                    flags[i].add("R-4s")
            for beyond in (high, low):
                for i in beyond[1:]:  # a second control of the run beyond the same limit
                    flags[i].add("2-2s")
    return flags


def is_rejected(flags: set[str]) -> bool:
    """True when any rejection rule (everything but the 1-2s warning) is violated."""
    return bool(flags & REJECTION_RULES)


def format_flags(flags: Sequence[set[str]]) -> str:
    """Compact text of the flagged points, 1-based: ``"3:1-2s; 5:1-2s,1-3s; 14:10x"``.

    Rules are listed in :data:`RULES` order; points without flags are left out, so two
    evaluations agree exactly when their texts are equal. Empty string if nothing is flagged.
    """
    order = {rule: k for k, rule in enumerate(RULES)}
    parts = [
        f"{i}:{','.join(sorted(point, key=lambda rule: order.get(rule, math.inf)))}"
        for i, point in enumerate(flags, start=1)
        if point
    ]
    return "; ".join(parts)
