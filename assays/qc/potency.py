"""Potency: macrophage polarisation bioassay read-outs (DOMAIN.md §4 "Potency").

LPS-stimulated macrophages (RAW 264.7, THP-1 or primary Kupffer cells) are treated with the
exosome lot; cytokines are measured (ELISA/multiplex, after back-calculation on the standard
curve) and surface markers by flow cytometry. Arguments are scalars or arrays of replicate
wells; replicates are averaged before the formula is applied.

References: design after the RAW 264.7 + LPS bioassay of Cytotherapy 2022;24:999; M1/M2
markers: Murray PJ et al., Immunity 2014;41:14 (macrophage activation nomenclature).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike


def _mean(values: ArrayLike, label: str) -> float:
    v = np.atleast_1d(np.asarray(values, dtype=np.float64)).ravel()
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError(f"{label}: need at least one finite value")
    return float(v.mean())


def percent_inhibition(x_ev: ArrayLike, x_lps: ArrayLike, x_unstimulated: ArrayLike) -> float:
    """% inhibition = ``100 · [1 − (X_EV − X_unstim) / (X_LPS − X_unstim)]`` (TNF-α, IL-6).

    X_EV: LPS + exosomes; X_LPS: LPS alone; X_unstim: no LPS. 0 % = no effect, 100 % = back
    to baseline. Example: X_LPS = 1000, X_unstim = 100, X_EV = 550 pg/mL → 50 %.
    """
    ev, lps, unstim = _mean(x_ev, "EV"), _mean(x_lps, "LPS"), _mean(x_unstimulated, "unstim")
    if lps == unstim:
        raise ValueError("LPS did not stimulate: X_LPS equals X_unstimulated")
    return 100.0 * (1.0 - (ev - unstim) / (lps - unstim))


def fold_induction(x_ev: ArrayLike, x_lps: ArrayLike) -> float:
    """Fold induction = ``X_EV / X_LPS`` (IL-10, TGF-β). Example: 300 / 200 pg/mL → 1.5."""
    ev, lps = _mean(x_ev, "EV"), _mean(x_lps, "LPS")
    if lps <= 0:
        raise ValueError("X_LPS must be positive")
    return ev / lps


def m2_m1_index(pct_cd206: ArrayLike, pct_cd86: ArrayLike) -> float:
    """M2/M1 index = ``%CD206+ / %CD86+``. Example: 40 % / 20 % → 2.0."""
    cd206, cd86 = _mean(pct_cd206, "CD206"), _mean(pct_cd86, "CD86")
    if cd86 <= 0 or not math.isfinite(cd86):
        raise ValueError("%CD86+ must be positive")
    return cd206 / cd86
