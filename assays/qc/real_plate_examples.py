"""Plate worked examples on a real reader export rather than made-up numbers (issue 10).

The export is Agilent BioTek Gen5 3.12's kinetic read of a β-galactosidase plate (allotropy's
test file ``Kinetic_Analysis_Mean_Slope_and_Standard_Curve_tab.txt``, MIT; copied to
tests/data/instruments/gen5_kinetic_stdcurve_4pl.txt): 96 wells read at 420 nm every 30 s for
30 min, standards STD12-STD1 (40, 35, 30, 25, 20, 16, 12, 8, 4, 2, 1, 0) in rows A and B,
Gen5's "Mean V" (mOD/min) of every well, Gen5's own 4PL fit of Mean V on concentration
(``Y = (A-D)/(1+(X/C)^B) + D``, A 1.23, B 3.52, C 14.8, D 34.9, R² 0.995) and the
concentrations Gen5 read off it.

Two computations are checked on it:

* **4PL** (the BCA/ELISA path of :mod:`assays.qc.plate`): fitted to the 24 standard wells'
  Mean V it must give Gen5's printed parameters (to the half unit of the last digit printed)
  and Gen5's concentration for a well.
* **Kinetic LAL, log-log** (USP <85>): onset times taken from the reads (rise of 0.05 OD over
  the first reading; this enzyme is slower than LAL, whose kits use larger onset ODs), then
  ``log10 onset`` on ``log10 concentration`` over the 4-16 standards, |r| ≥ 0.980, a sample and
  its spike. It is not an endotoxin test: the arithmetic is the LAL test's, the kinetic read is
  real. The standards' unit plays EU/mL.

The data below are the export's numbers as printed (inline, as ``worked_examples.CASES``
requires). Only the first 13 reads (0-6 min) of the LAL wells are needed: every one of them
crosses 0.05 OD by then.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

from . import curves, kinetics, plate

SOURCE = "Gen5 3.12 kinetic export (gen5_kinetic_stdcurve_4pl.txt) and hand calculation"
READ_INTERVAL_S = 30.0
# Standard concentrations of columns 1-12 of rows A and B, and Gen5's Mean V there (mOD/min).
STANDARDS = (40.0, 35.0, 30.0, 25.0, 20.0, 16.0, 12.0, 8.0, 4.0, 2.0, 1.0, 0.0)
MEAN_V = {
    "A": (
        31.303, 34.192, 33.153, 31.025, 26.315, 19.799,
        11.606, 5.629, 2.606, 1.274, 0.627, 0.362,
    ),
    "B": (
        32.521, 34.040, 33.405, 30.926, 26.028, 19.623,
        11.758, 5.824, 2.605, 1.215, 0.548, 0.230,
    ),
}  # fmt: skip
GEN5_4PL = {"a": 1.23, "b": 3.52, "c": 14.8, "d": 34.9}
GEN5_R2 = 0.995
GEN5_A6_CONCENTRATION = 15.720  # Gen5's [Concentration] of A6 (Mean V 19.799)
# A6's 61 reads (0-30 min), for Gen5's Mean V of A6: 19.799 mOD/min.
A6_READS = (
    0.056, 0.070, 0.085, 0.099, 0.113, 0.127, 0.141, 0.154, 0.168, 0.181, 0.195, 0.208, 0.221,
    0.234, 0.246, 0.259, 0.271, 0.283, 0.295, 0.307, 0.319, 0.331, 0.342, 0.353, 0.364, 0.375,
    0.386, 0.396, 0.407, 0.417, 0.427, 0.437, 0.446, 0.456, 0.465, 0.474, 0.483, 0.492, 0.500,
    0.509, 0.517, 0.525, 0.533, 0.541, 0.548, 0.556, 0.563, 0.570, 0.577, 0.584, 0.591, 0.597,
    0.604, 0.610, 0.616, 0.622, 0.628, 0.633, 0.639, 0.644, 0.650,
)  # fmt: skip
# The first 13 reads (0-360 s) of the wells the LAL example uses.
LAL_READS = {
    "A6": (
        0.056, 0.070, 0.085, 0.099, 0.113, 0.127, 0.141,
        0.154, 0.168, 0.181, 0.195, 0.208, 0.221,
    ),
    "B6": (
        0.059, 0.072, 0.085, 0.099, 0.113, 0.126, 0.140,
        0.153, 0.166, 0.179, 0.193, 0.206, 0.219,
    ),
    "A7": (
        0.056, 0.068, 0.079, 0.091, 0.102, 0.113, 0.124,
        0.135, 0.146, 0.156, 0.166, 0.176, 0.186,
    ),
    "B7": (
        0.055, 0.067, 0.078, 0.089, 0.100, 0.111, 0.122,
        0.132, 0.143, 0.153, 0.163, 0.173, 0.182,
    ),
    "A8": (
        0.049, 0.058, 0.067, 0.075, 0.084, 0.092, 0.099,
        0.107, 0.114, 0.121, 0.127, 0.134, 0.140,
    ),
    "B8": (
        0.052, 0.061, 0.069, 0.077, 0.085, 0.092, 0.100,
        0.107, 0.114, 0.121, 0.127, 0.133, 0.139,
    ),
    "A9": (
        0.044, 0.050, 0.055, 0.060, 0.066, 0.070, 0.075,
        0.080, 0.084, 0.088, 0.091, 0.096, 0.099,
    ),
    "B9": (
        0.045, 0.050, 0.055, 0.061, 0.065, 0.070, 0.074,
        0.078, 0.082, 0.086, 0.089, 0.093, 0.096,
    ),
    "C6": (
        0.056, 0.069, 0.083, 0.097, 0.110, 0.124, 0.137,
        0.150, 0.163, 0.177, 0.189, 0.202, 0.215,
    ),
    "D6": (
        0.056, 0.070, 0.084, 0.098, 0.112, 0.126, 0.139,
        0.153, 0.166, 0.180, 0.193, 0.206, 0.219,
    ),
    "C7": (
        0.053, 0.064, 0.076, 0.088, 0.099, 0.109, 0.120,
        0.131, 0.142, 0.152, 0.162, 0.172, 0.181,
    ),
    "D7": (
        0.053, 0.065, 0.076, 0.088, 0.099, 0.111, 0.121,
        0.132, 0.143, 0.153, 0.163, 0.173, 0.183,
    ),
    "E8": (
        0.050, 0.059, 0.067, 0.075, 0.084, 0.091, 0.099,
        0.106, 0.113, 0.120, 0.126, 0.133, 0.139,
    ),
    "F8": (
        0.050, 0.058, 0.067, 0.075, 0.083, 0.091, 0.098,
        0.106, 0.113, 0.120, 0.126, 0.132, 0.138,
    ),
}  # fmt: skip
LAL_ONSET_OD = 0.05
# The LAL layout on this plate: standards 16, 12, 8, 4 (A6:B9, duplicates), "LOT" = the C7:D7
# pair, spiked with 4 in C6:D6 (wells that read like 12 and 16), "LOT2" = E8:F8 taken at 1:10.
LAL_LAYOUT: dict[str, Any] = {
    "name": "Gen5 kinetic export read as a kinetic chromogenic LAL plate",
    "fit": "loglog",
    "unit": "EU/mL",
    "response": "onset_time",
    "onset_od": LAL_ONSET_OD,
    "groups": [
        {"role": "standard", "name": f"STD {x:g}", "concentration": x, "wells": f"A{col}:B{col}"}
        for col, x in ((6, 16.0), (7, 12.0), (8, 8.0), (9, 4.0))
    ]
    + [
        {"role": "sample", "name": "LOT", "wells": "C7:D7"},
        {"role": "spike", "name": "LOT", "concentration": 4.0, "wells": "C6:D6"},
        {"role": "sample", "name": "LOT2", "dilution": 10.0, "wells": "E8:F8"},
    ],
}


def times_s(n: int) -> list[float]:
    return [READ_INTERVAL_S * i for i in range(n)]


def a6_mean_v() -> float:
    """A6's Mean V from its 61 reads (Gen5 prints 19.799 mOD/min)."""
    return kinetics.mean_rate(times_s(len(A6_READS)), A6_READS) or math.nan


@cache
def four_pl_fit() -> curves.FourPLFit:
    """The 4PL of Mean V on concentration over the 24 standard wells (rows A and B)."""
    xs = [x for _ in MEAN_V for x in STANDARDS]
    ys = [y for row in MEAN_V.values() for y in row]
    return curves.fit_four_pl(xs, ys)


def four_pl(what: str) -> float:
    fit = four_pl_fit()
    if what == "r_squared":
        return fit.r_squared
    if what == "A6":
        found = fit.back_calculate([MEAN_V["A"][5]])[0]
        return math.nan if found.value is None else found.value
    return fit.parameters[what]


@cache
def lal_plate() -> plate.PlateOutcome:
    """The LAL layout computed on onset times taken from the reads (assays.qc.kinetics)."""
    readings = {
        well: kinetics.onset_time(times_s(len(reads)), reads, onset_od=LAL_ONSET_OD)
        for well, reads in LAL_READS.items()
    }
    return plate.compute_plate(plate.PlateLayout.from_dict(LAL_LAYOUT), readings)


def lal(what: str) -> float:
    outcome = lal_plate()
    if outcome.curve is None:
        return math.nan
    if what in ("r", "slope"):
        return outcome.curve.statistics["r"] if what == "r" else outcome.curve.parameters["slope"]
    if what == "recovery":
        percent = outcome.spikes[0].percent
        return math.nan if percent is None else percent
    found = next(g for g in outcome.samples if g.name == what).found
    return math.nan if found is None or found.value is None else found.value


# --- SoftMax Pro HCP ELISA (endpoint absorbance, 4PL) -------------------------------------------
# allotropy's test file HCP_for_GB_JB.txt (MIT; tests/data/instruments/
# softmax_pro_hcp_elisa_4pl.txt): a host-cell-protein ELISA read at 450 nm with 650 nm reference
# ("Reduced" = 450 − 650), standards 100, 40, 12, 3, 1, 0 ng/mL in A1:F2, and SoftMax Pro's
# InterpX(Std@StandardCurve) of each well. The file does not name the curve type; an ordinary
# (unweighted) 4PL over the 12 standard wells reproduces every InterpX value it prints to the
# last (third) decimal.
HCP_SOURCE = "SoftMax Pro HCP ELISA export (softmax_pro_hcp_elisa_4pl.txt): its InterpX results"
HCP_STANDARDS = {
    100.0: (1.8565999999999998, 1.8385999999999998),
    40.0: (0.91780000000000006, 0.9146),
    12.0: (0.3449, 0.34149999999999997),
    3.0: (0.16670000000000002, 0.157),
    1.0: (0.11019999999999999, 0.11069999999999999),
    0.0: (0.0869, 0.091799999999999993),
}
# Well → (its reduced value as written, SoftMax's InterpX result).
HCP_WELLS = {
    "C3": (0.97939999999999994, 43.500),  # sample 02
    "H1": (0.95110000000000006, 41.958),  # Matrix_Spike_1
    "A3": (0.2026, 5.292),  # Matrix_Spike_2
}


@cache
def hcp_fit() -> curves.FourPLFit:
    xs = [x for x, pair in HCP_STANDARDS.items() for _ in pair]
    ys = [y for pair in HCP_STANDARDS.values() for y in pair]
    return curves.fit_four_pl(xs, ys)


def hcp_well(well: str) -> float:
    found = hcp_fit().back_calculate([HCP_WELLS[well][0]])[0]
    return math.nan if found.value is None else found.value
