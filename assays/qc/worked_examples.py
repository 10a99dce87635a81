"""Worked examples of DOMAIN.md §4, computed with this package and compared with the reference.

``CASES`` is self-contained (inline data, no file reads) so a management command can print the
table and exit non-zero on any failure; ``run_all()`` evaluates every case. Numeric cases pass
when ``|computed − expected| <= tolerance``; text cases when the texts are equal.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

import numpy as np

from . import (
    capability,
    control_limits,
    curves,
    endotoxin,
    flow,
    nta,
    plate,
    potency,
    qpcr,
    qpcr_analysis,
    relative_potency,
    stability,
    stability_pooling,
    suitability,
    westgard,
)
from . import real_plate_examples as real

Value = float | str


@dataclass(frozen=True)
class WorkedExample:
    name: str
    reference: str
    expected: Value
    tolerance: float | None  # absolute; None for text (exact match)
    compute: Callable[[], Value]


@dataclass(frozen=True)
class CaseResult:
    name: str
    expected: Value
    computed: Value
    tolerance: float | None
    passed: bool


# ----------------------------------------------------------------------------- inline data

RYEGRASS_CONC = [0.0] * 6 + [c for c in (0.94, 1.88, 3.75, 7.5, 15.0, 30.0) for _ in range(3)]
RYEGRASS_ROOTL = [
    7.58, 8, 8.328571429, 7.25, 7.375, 7.9625, 8.355555556, 6.914285714, 7.75, 6.871428571,
    6.45, 5.922222222, 1.925, 2.885714286, 4.233333333, 1.1875, 0.857142857, 1.057142857,
    0.6875, 0.525, 0.825, 0.25, 0.22, 0.44,
]  # fmt: skip
WESTGARD_VALUES = [101, 97, 111, 99, 117, 103, 111, 112, 106, 106, 107, 106, 102, 101]
WESTGARD_EXPECTED = "3:1-2s; 5:1-2s,1-3s; 7:1-2s; 8:1-2s,2-2s; 10:4-1s; 11:4-1s; 12:4-1s; 14:10x"
# Per-video number-weighted mean size (nm) printed in the NanoSight NTA 3.2 export of 12
# videos of 100 nm beads (tidyNano inst/extdata/beads.csv, MIT); the file's "Average" is 100.5
# and its "Standard Error" 1.2.
NANOSIGHT_VIDEO_MEANS = [98.7, 97.9, 99.4, 96.4, 97.2, 97.8, 109.9, 107.1, 104.5, 99.3, 98.7, 98.7]

DRC = "R drc ryegrass, LL.4 fit (Ritz et al. 2015); DOMAIN.md §4"
WESTGARD = "Westgard et al., Clin Chem 1981;27:493; DOMAIN.md §4 worked example"
CAPABILITY = "ISO 22514-2; DOMAIN.md §4 (μ=130, σ=8, LSL=100, USL=150)"
LAL = "USP <85> K/M; DOMAIN.md §4 (K=5 EU/kg, 2 mL bolus, 70 kg)"
LIVAK = "Livak & Schmittgen, Methods 2001;25:402 (RQ = 2^-ΔΔCt)"
POTENCY = "DOMAIN.md §4 potency formulas"
SUITABILITY = "USP <85> (PPC recovery 50-200 %, |r| ≥ 0.980); assay window"
FIXED_LIMITS = "CLSI C24 (limits fixed from a 20-point baseline); Westgard et al. 1981"
NANOSIGHT = "NanoSight NTA 3.2 export, Average / Standard Error columns; DOMAIN.md §4"
FLOW = "Maecker & Trotter 2006 (99th percentile of the control); Dominici et al. 2006; hand calc"
# ICH Q1E Appendix B.1 worked by hand: potency (% of the T0 label) of one lot at 2-8 °C, lower
# limit 95 %. Sxx = 429.428571, b = Sxy/Sxx = -0.1822355, a = 101.002994, s = 0.1860397 (5 df),
# t(0.95; 5) = 2.015048; the lower bound a + b·t - t·s·sqrt(1/7 + (t - 10.285714)²/Sxx) meets 95 at
# the larger root of the quadratic (a + b·t - 95)² = t²s²(1/7 + (t - t̄)²/Sxx): t = 30.7644.
Q1E_TIMES = [0.0, 3.0, 6.0, 9.0, 12.0, 18.0, 24.0]
Q1E_POTENCY = [101.2, 100.5, 99.8, 99.1, 98.9, 97.6, 96.8]
Q1E = "ICH Q1E (2003) §2.4, Appendix B.1 (one-sided 95 % lower bound); hand calculation"
Q5C = "ICH Q5C (1995) §6: a biological's expiry rests on real-time data (no extrapolation)"
MIQE = "MIQE, Bustin et al., Clin Chem 2009;55:611 (NTC; E = 10^(-1/slope) - 1, 90-110 %)"


@cache
def _ryegrass_ll4() -> dict[str, float]:
    fit = curves.fit_four_pl(RYEGRASS_CONC, RYEGRASS_ROOTL)
    return {**fit.to_drc_ll4(), "residual_se": fit.residual_se, "df": float(fit.df)}


def _ryegrass(parameter: str) -> Callable[[], float]:
    return lambda: _ryegrass_ll4()[parameter]


# A step between two standards: 4PL converges with R² 0.9999 and b = 69, SE(b) = 6.5e10.
STEP_CONC = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2] * 2
STEP_RESPONSE = [1.0, 1.01, 0.99, 2.0, 2.01, 1.99, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
CURVE_VALIDITY = "FDA Bioanalytical Method Validation (2018): standards ±20 %, ±25 % at ends"


def _step_curve() -> str:
    fit = curves.fit_four_pl(STEP_CONC, STEP_RESPONSE)
    (value,) = fit.back_calculate([1.5])
    return f"{'invalid' if fit.suitability_failures() else 'valid'}, {value.qualifier}"


def _ryegrass_validity() -> str:
    fit = curves.fit_four_pl(RYEGRASS_CONC, RYEGRASS_ROOTL)
    return "parameters determined" if not fit.undetermined else "undetermined"


def _westgard() -> str:
    return westgard.format_flags(westgard.evaluate(WESTGARD_VALUES, 100.0, 5.0))


def _capability() -> capability.Capability:
    return capability.capability_from_stats(130.0, 8.0, 100.0, 150.0)


def _rq() -> qpcr.RelativeQuantity:
    # ΔCt(sample) = 22 - 18 = 4; ΔCt(calibrator) = 25 - 19 = 6; ΔΔCt = -2.
    return qpcr.relative_quantity(22.0, 18.0, 25.0, 19.0)


# Real Ct values of the QuantStudio example (allotropy tests/parsers/appbio_quantstudio/testdata/
# quantstudio_example01.txt; tests/data/instruments), one target in triplicates, given the four
# roles of a Pfaffl calculation: target in calibrator A1-A3 and sample A4-A6, reference in
# calibrator A7-A9 and sample A10-A12; E_target 1.95, E_reference 2.00 (tests/qc/test_pfaffl.py
# works it by hand: ΔCt_t = −0.783, ΔCt_r = −0.058, ratio = 1.95^−0.783 / 2^−0.058 = 0.617110).
QUANTSTUDIO_CTS = {
    "A1-A3": [18.717, 20.806, 19.559],
    "A4-A6": [19.224, 20.149, 22.058],
    "A7-A9": [17.822, 18.393, 19.122],
    "A10-A12": [18.708, 18.029, 18.774],
}
PFAFFL = "Pfaffl, Nucleic Acids Res 2001;29:e45; Vandesompele, Genome Biol 2002;3:research0034"


def _pfaffl_quantstudio() -> qpcr.PfafflRatio:
    cts = QUANTSTUDIO_CTS
    return qpcr.pfaffl_ratio(
        qpcr.GeneCts("TARGET_1", cts["A4-A6"], cts["A1-A3"], 1.95),
        [qpcr.GeneCts("reference", cts["A10-A12"], cts["A7-A9"], 2.0)],
    )


def _configured_rq(config: dict[str, Any]) -> float:
    """TARGET_1's RQ in the real QuantStudio Cts as an assay definition configures the analysis
    (assays.qc.qpcr_analysis): the reference named "U6", the calibrator A1-A3 / A7-A9."""
    cts = QUANTSTUDIO_CTS
    parsed = qpcr_analysis.QpcrConfig.from_json(config)
    efficiencies: dict[str, qpcr_analysis.GeneEfficiency | str] = {
        g: qpcr_analysis.gene_efficiency(g, parsed.source_of(g), {}) for g in ("TARGET_1", "U6")
    }
    (outcome,) = qpcr_analysis.relative_quantities(
        parsed,
        {"TARGET_1": cts["A4-A6"], "U6": cts["A10-A12"]},
        {"TARGET_1": cts["A1-A3"], "U6": cts["A7-A9"]},
        efficiencies,
    )
    if outcome.ratio is None:
        raise ValueError(outcome.error)
    return outcome.ratio.ratio


def _run_standard_curve_efficiency() -> float:
    """A run's standard curve by wells: ten-fold dilutions 10^5 … 10^1 in B1-B5, Ct rising
    3.3219 per decade: E = 10^(1/3.3219) = 2.0000, 100 %."""
    source = qpcr_analysis.EfficiencySource.from_json(
        {
            "source": "standard_curve",
            "standards": [{"wells": [f"B{i + 1}"], "log10_quantity": 5 - i} for i in range(5)],
        },
        "U6",
    )
    wells = {(f"B{i + 1}", "U6"): 15.0 + 3.3219 * i for i in range(5)}
    return qpcr_analysis.gene_efficiency("U6", source, wells).percent


def _pfaffl_two_references() -> float:
    # 1.95² / sqrt(2^−0.5 · 1.9^0.5) = 3.8025 / 0.987259 = 3.851575
    return qpcr.pfaffl_ratio(
        qpcr.GeneCts("miR-125b", 23.0, 25.0, 1.95),
        [qpcr.GeneCts("U6", 20.5, 20.0, 2.0), qpcr.GeneCts("miR-16", 21.5, 22.0, 1.9)],
    ).ratio


# A synthetic NTA 3.4 histogram (tests/parsers/nta34_export.py): 1 nm bins centred 95.5-104.5
# with weights 1, 2, 4, 6, 7, 7, 6, 4, 2, 1. Upper-edge cumulative (NTA 3.3+, ISO 9276-2):
# D10 = 97 + (4 − 3)/(7 − 3) = 97.25, D50 = 100, D90 = 102 + (36 − 33)/(37 − 33) = 102.75.
NTA34_BINS = [95.5 + i for i in range(10)]
NTA34_WEIGHTS = [1.0, 2.0, 4.0, 6.0, 7.0, 7.0, 6.0, 4.0, 2.0, 1.0]
ISO9276 = "ISO 9276-2:2014 grouped data; NTA 3.3+ convention (DOMAIN.md §4)"


def _nta34(fraction: float, at: nta.CumulativePosition = "upper_edge") -> float:
    return nta.size_percentile(NTA34_BINS, NTA34_WEIGHTS, fraction, cumulative_at=at)


def _nanosight_mean_size() -> nta.VideoAverage:
    mean = nta.summarize_videos({"mean": NANOSIGHT_VIDEO_MEANS}).mean
    if mean is None:  # summarize_videos fills in every statistic it is given
        raise ValueError("no mean size in the summary of the videos")
    return mean


def _suitable(rules: list[dict[str, Any]], **values: list[float] | list[str]) -> str:
    return "invalid" if suitability.check(rules, values) else "valid"


def _qpcr_run(ntc: str, slope: float | None = None) -> str:
    """A qPCR run's validity from its NTC call and, if it ran one, its standard curve slope."""
    values: dict[str, list[suitability.Value]] = {"ntc": [ntc]}
    if slope is not None:
        values["efficiency"] = [qpcr.efficiency_from_slope(slope)]
    return "invalid" if suitability.check(suitability.QPCR, values) else "valid"


# Eight standards 1-128 µg/mL in duplicate on a 4PL (a=0.05, b=1, c=16, d=2.5), the responses of
# some read as if at 1.5 times their concentration (a pipetting error in the dilution series):
# with the 4 µg/mL standard off, 7 of 8 (87.5 %) back-calculate within ±20 % (±25 % at the
# ends), the run is valid; with 4, 16 and 64 µg/mL off, 5 of 8 (62.5 %): invalid (75 % must).
CURVE_STANDARDS = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]


def _curve_values(off: tuple[float, ...]) -> dict[str, list[suitability.Value]]:
    x = CURVE_STANDARDS * 2
    y = curves.four_pl([c * (1.5 if c in off else 1.0) for c in x], 0.05, 1.0, 16.0, 2.5)
    return suitability.curve_values(curves.fit_four_pl(x, y))


def _curve_run(off: tuple[float, ...]) -> str:
    failures = suitability.check(suitability.STANDARD_CURVE, _curve_values(off))
    return "invalid" if failures else "valid"


def _curve_share(off: tuple[float, ...]) -> float:
    return float(_curve_values(off)[suitability.STANDARDS_IN_TOLERANCE][0])


class _FlowTube:
    """Events of one tube for the flow worked example: FSC, SSC, CD73 (inline, no file)."""

    names = ("FSC-H", "SSC-H", "CD73-APC")

    def __init__(self, cd73: list[float], debris: int) -> None:
        # In the gate (FSC 200-800, SSC 100-600): one event per CD73 value; outside it,
        # ``debris`` small events with a bright CD73 value that the gate must leave out.
        rows = [[500.0, 300.0, v] for v in cd73] + [[20.0, 10.0, 1.0e6]] * debris
        self.events = np.array(rows, dtype=np.float64)

    def channel_index(self, name: str) -> int:
        return self.names.index(name)


FLOW_GATING = flow.FlowGating(
    gate=flow.RectangleGate("FSC-H", "SSC-H", x_min=200, x_max=800, y_min=100, y_max=600),
    markers=(flow.MarkerChannel("CD73", "CD73-APC"),),
)


@cache
def _flow_example() -> flow.FlowAnalysis:
    """Hand calculation. Control: gated CD73 values 1, 2, ..., 100 (and 5 debris events).
    99th percentile, type 7: h = (100 − 1) · 0.99 = 98.01, so threshold = x(99) + 0.01 ·
    (x(100) − x(99)) = 99 + 0.01 · 1 = 99.01. Sample: 40 gated events, 38 of them at 150 and
    2 at 50 (and 7 debris events): 38 above 99.01 → 38 / 40 = 95.0 % positive."""
    control = _FlowTube([float(v) for v in range(1, 101)], debris=5)
    sample = _FlowTube([150.0] * 38 + [50.0] * 2, debris=7)
    channels = [(name, "") for name in _FlowTube.names]
    return flow.analyse_events(
        sample, control, FLOW_GATING, sample_channels=channels, control_channels=channels
    )


CASES: list[WorkedExample] = [
    WorkedExample("4PL ryegrass LL.4 b", DRC, 2.98222, 5e-5, _ryegrass("b")),
    WorkedExample("4PL ryegrass LL.4 c (lower asymptote)", DRC, 0.48141, 5e-5, _ryegrass("c")),
    WorkedExample("4PL ryegrass LL.4 d (upper asymptote)", DRC, 7.79296, 5e-5, _ryegrass("d")),
    WorkedExample("4PL ryegrass LL.4 e (inflection)", DRC, 3.05795, 5e-5, _ryegrass("e")),
    WorkedExample("4PL ryegrass residual SE", DRC, 0.5196256, 5e-7, _ryegrass("residual_se")),
    WorkedExample("4PL ryegrass residual df", DRC, 20.0, 0.0, _ryegrass("df")),
    WorkedExample(
        "4PL ryegrass: every parameter determined",
        DRC,
        "parameters determined",
        None,
        _ryegrass_validity,
    ),
    WorkedExample(
        "4PL on a step between two standards: invalid curve, unknowns not calculable",
        CURVE_VALIDITY,
        "invalid, NC",
        None,
        _step_curve,
    ),
    WorkedExample("Westgard multirule flags", WESTGARD, WESTGARD_EXPECTED, None, _westgard),
    WorkedExample(
        "Westgard rejections, +2.7 SD shift in 8 of 20 lots, limits from the same lots",
        FIXED_LIMITS,
        0.0,
        0.0,
        lambda: float(control_limits.shift_example()[0]),
    ),
    WorkedExample(
        "Westgard rejections, same lots, fixed limits of a 20-lot baseline",
        FIXED_LIMITS,
        7.0,
        0.0,
        lambda: float(control_limits.shift_example()[1]),
    ),
    WorkedExample(
        "LAL run suitability, PPC recovery 12 %, r = -0.995",
        SUITABILITY,
        "invalid",
        None,
        lambda: _suitable(suitability.LAL, spike_recovery=[12.0], curve_r=[-0.995]),
    ),
    WorkedExample(
        "LAL run suitability, PPC recovery 95 %, r = -0.975",
        SUITABILITY,
        "invalid",
        None,
        lambda: _suitable(suitability.LAL, spike_recovery=[95.0], curve_r=[-0.975]),
    ),
    WorkedExample(
        "LAL run suitability, PPC recovery 95 %, r = -0.995",
        SUITABILITY,
        "valid",
        None,
        lambda: _suitable(suitability.LAL, spike_recovery=[95.0], curve_r=[-0.995]),
    ),
    WorkedExample(
        "Potency window, TNF-α LPS 1000 / unstimulated 400 (needs 3-fold)",
        SUITABILITY,
        "invalid",
        None,
        lambda: _suitable(suitability.POTENCY_WINDOW, tnf_lps=[1000.0], tnf_unstimulated=[400.0]),
    ),
    WorkedExample(
        "qPCR efficiency, standard curve slope -3.32 (%)",
        MIQE,
        100.0,
        0.1,
        lambda: qpcr.efficiency_from_slope(-3.32),
    ),
    WorkedExample(
        "qPCR efficiency, standard curve slope -3.9 (%)",
        MIQE,
        80.5,
        0.05,
        lambda: qpcr.efficiency_from_slope(-3.9),
    ),
    WorkedExample(
        "qPCR run suitability, NTC amplified",
        MIQE,
        "invalid",
        None,
        lambda: _qpcr_run("amplification"),
    ),
    WorkedExample(
        "qPCR run suitability, NTC no amplification, no standard curve",
        MIQE,
        "valid",
        None,
        lambda: _qpcr_run("no amplification"),
    ),
    WorkedExample(
        "qPCR run suitability, NTC no amplification, slope -3.32 (E 100 %)",
        MIQE,
        "valid",
        None,
        lambda: _qpcr_run("no amplification", -3.32),
    ),
    WorkedExample(
        "qPCR run suitability, NTC no amplification, slope -3.9 (E 80.5 %)",
        MIQE,
        "invalid",
        None,
        lambda: _qpcr_run("no amplification", -3.9),
    ),
    WorkedExample(
        "Standard curve, 1 of 8 standards off: % within ±20 %/±25 %",
        CURVE_VALIDITY,
        87.5,
        1e-9,
        lambda: _curve_share((4.0,)),
    ),
    WorkedExample(
        "Standard curve run suitability, 1 of 8 standards off",
        CURVE_VALIDITY,
        "valid",
        None,
        lambda: _curve_run((4.0,)),
    ),
    WorkedExample(
        "Standard curve, 3 of 8 standards off: % within ±20 %/±25 %",
        CURVE_VALIDITY,
        62.5,
        1e-9,
        lambda: _curve_share((4.0, 16.0, 64.0)),
    ),
    WorkedExample(
        "Standard curve run suitability, 3 of 8 standards off (75 % must be within)",
        CURVE_VALIDITY,
        "invalid",
        None,
        lambda: _curve_run((4.0, 16.0, 64.0)),
    ),
    WorkedExample("Capability Cp", CAPABILITY, 1.042, 5e-4, lambda: _capability().cp),
    WorkedExample("Capability Cpk", CAPABILITY, 0.833, 5e-4, lambda: _capability().cpk),
    WorkedExample(
        "Endotoxin limit K/M (EU/mL)",
        LAL,
        175.0,
        1e-9,
        lambda: endotoxin.endotoxin_limit(5.0, endotoxin.dose_per_kg(2.0, 70.0)),
    ),
    WorkedExample("qPCR ΔΔCt (22/18 vs 25/19)", LIVAK, -2.0, 1e-12, lambda: _rq().ddct),
    WorkedExample("qPCR RQ = 2^-ΔΔCt", LIVAK, 4.0, 1e-12, lambda: _rq().rq),
    WorkedExample(
        "qPCR RQ, efficiency 1.9",
        "Pfaffl, Nucleic Acids Res 2001;29:e45 (E^-ΔΔCt)",
        3.61,
        1e-12,
        lambda: qpcr.relative_quantity(22.0, 18.0, 25.0, 19.0, efficiency=1.9).rq,
    ),
    WorkedExample(
        "qPCR Pfaffl ratio, real QuantStudio Cts (E 1.95 / 2.00)",
        PFAFFL,
        0.617110,
        1e-6,
        lambda: _pfaffl_quantstudio().ratio,
    ),
    WorkedExample(
        "qPCR Pfaffl ratio, real QuantStudio Cts, 95 % CI low",
        PFAFFL,
        0.0891,
        1e-4,
        lambda: _pfaffl_quantstudio().ci_low,
    ),
    WorkedExample(
        "qPCR Pfaffl ratio, real QuantStudio Cts, 95 % CI high",
        PFAFFL,
        4.2742,
        1e-4,
        lambda: _pfaffl_quantstudio().ci_high,
    ),
    WorkedExample(
        "qPCR Pfaffl ratio, geometric mean of U6 and miR-16",
        PFAFFL,
        3.851575,
        1e-6,
        _pfaffl_two_references,
    ),
    WorkedExample(
        "qPCR Pfaffl ratio, cel-miR-39 spike-in (2^1 / 2^-0.4)",
        PFAFFL,
        2**1.4,
        1e-12,
        lambda: (
            qpcr.pfaffl_ratio(
                qpcr.GeneCts("miR-223", 24.0, 25.0, 2.0),
                [qpcr.GeneCts("cel-miR-39", 19.4, 19.0, 2.0)],
            ).ratio
        ),
    ),
    WorkedExample(
        "qPCR RQ as the assay configures it, real QuantStudio Cts (TARGET_1 95 %, U6 100 %)",
        PFAFFL,
        0.617110,
        1e-6,
        lambda: _configured_rq(
            {
                "references": ["U6"],
                "efficiencies": {"TARGET_1": {"source": "validated", "percent": 95.0}},
            }
        ),
    ),
    WorkedExample(
        "qPCR RQ configured at E = 2 is 2^-ΔΔCt, real QuantStudio Cts (2^-0.725)",
        LIVAK,
        2**-0.725,
        1e-9,
        lambda: _configured_rq({"references": ["U6"]}),
    ),
    WorkedExample(
        "qPCR efficiency from a run's standard curve by wells, slope -3.3219 (%)",
        "MIQE, Bustin et al., Clin Chem 2009;55:611 (E = 10^(-1/slope))",
        100.0,
        0.01,
        _run_standard_curve_efficiency,
    ),
    WorkedExample("NTA 3.4 D10, upper edge (nm)", ISO9276, 97.25, 1e-9, lambda: _nta34(0.1)),
    WorkedExample("NTA 3.4 D50, upper edge (nm)", ISO9276, 100.0, 1e-9, lambda: _nta34(0.5)),
    WorkedExample("NTA 3.4 D90, upper edge (nm)", ISO9276, 102.75, 1e-9, lambda: _nta34(0.9)),
    WorkedExample(
        "NTA 3.2 convention on the same bins, D50 (nm): 1 bin lower",
        "NanoSight NTA 3.0-3.2 lower-edge convention (DOMAIN.md §4)",
        99.0,
        1e-9,
        lambda: _nta34(0.5, "lower_edge"),
    ),
    WorkedExample(
        "Potency % inhibition (LPS 1000, unstim 100, EV 550)",
        POTENCY,
        50.0,
        1e-9,
        lambda: potency.percent_inhibition(550.0, 1000.0, 100.0),
    ),
    WorkedExample(
        "Potency fold induction (EV 300 / LPS 200)",
        POTENCY,
        1.5,
        1e-12,
        lambda: potency.fold_induction(300.0, 200.0),
    ),
    WorkedExample(
        "Potency M2/M1 index (40 % / 20 %)",
        POTENCY,
        2.0,
        1e-12,
        lambda: potency.m2_m1_index(40.0, 20.0),
    ),
    WorkedExample(
        "NTA mean size, average of 12 videos",
        NANOSIGHT,
        100.5,
        0.05,
        lambda: _nanosight_mean_size().average,
    ),
    WorkedExample(
        "NTA mean size, standard error of 12 videos",
        NANOSIGHT,
        1.2,
        0.05,
        lambda: _nanosight_mean_size().standard_error,
    ),
    WorkedExample(
        "Flow threshold, 99th percentile of the gated control (1..100)",
        FLOW,
        99.01,
        1e-9,
        lambda: _flow_example().markers[0].threshold,
    ),
    WorkedExample(
        "Flow % positive, 38 of 40 gated events above the threshold",
        FLOW,
        95.0,
        1e-9,
        lambda: _flow_example().markers[0].percent_positive,
    ),
    WorkedExample(
        "Flow events in the gate (sample), debris left out",
        FLOW,
        40.0,
        0.0,
        lambda: float(_flow_example().sample_in_gate),
    ),
]


def _q1e() -> stability.ShelfLife:
    return stability.shelf_life(Q1E_TIMES, Q1E_POTENCY, lower=95.0)


def _q1e_estimate() -> float:
    estimate = _q1e().estimate
    return math.nan if estimate is None else estimate


CASES += [
    WorkedExample(
        "ICH Q1E regression slope, % per month", Q1E, -0.1822355, 5e-7, lambda: _q1e().fit.slope
    ),
    WorkedExample(
        "ICH Q1E regression intercept, %", Q1E, 101.002994, 5e-6, lambda: _q1e().fit.intercept
    ),
    WorkedExample("ICH Q1E residual SD", Q1E, 0.1860397, 5e-7, lambda: _q1e().fit.residual_sd),
    WorkedExample(
        "ICH Q1E lower 95 % bound at 24 months, %",
        Q1E,
        96.34364,
        5e-5,
        lambda: _q1e().fit.lower_bound(24.0),
    ),
    WorkedExample(
        "ICH Q1E shelf life, lower bound meets 95 %, months", Q1E, 30.7644, 5e-4, _q1e_estimate
    ),
    WorkedExample(
        "ICH Q5C supported shelf life (longest time point), months",
        Q5C,
        24.0,
        0.0,
        lambda: _q1e().supported,
    ),
]


# A published single-batch example with its printed results: M. Ovais, "Statistical Evaluation of
# Stability Data: Shelf-life Estimation for Single Batch (as per ICH/FDA)", worksheet dated
# 23 Feb 2007. Assay (% of label) at 0-54 months, limits 90-110 %, 90 % two-sided confidence (a
# one-sided 95 % bound on each side). It prints intercept 102.273 (SE 0.872), slope -0.139
# (SE 0.034), R² 0.6712, a residual SD of 1.9892 (printed as "error variance") and the shelf life
# where the lower bound meets 90 %: 64.770 months. Compared to the digits printed.
OVAIS_TIMES = [0.0, 1.0, 3.0, 6.0, 9.0, 12.0, 18.0, 24.0, 48.0, 54.0]
OVAIS_ASSAY = [103.50, 104.00, 102.00, 101.85, 100.25, 101.00, 95.00, 98.50, 97.25, 95.00]
OVAIS = "Ovais 2007, Shelf-life Estimation for Single Batch (as per ICH/FDA), printed results"


@cache
def _ovais() -> stability.ShelfLife:
    return stability.shelf_life(OVAIS_TIMES, OVAIS_ASSAY, lower=90.0, upper=110.0)


def _ovais_standard_errors() -> tuple[float, float]:
    """(intercept, slope) standard errors of the least-squares line."""
    fit = _ovais().fit
    intercept = fit.residual_sd * math.sqrt(1 / fit.n + fit.mean_time**2 / fit.sxx)
    return intercept, fit.residual_sd / math.sqrt(fit.sxx)


def _ovais_r_squared() -> float:
    fit, y = _ovais().fit, np.asarray(OVAIS_ASSAY)
    residuals = y - np.array([fit.predict(t) for t in OVAIS_TIMES])
    return float(1 - (residuals @ residuals) / ((y - y.mean()) @ (y - y.mean())))


def _ovais_estimate() -> float:
    estimate = _ovais().estimate
    return math.nan if estimate is None else estimate


PUBLISHED = "Published batch"
CASES += [
    WorkedExample(
        f"{PUBLISHED}: intercept, %", OVAIS, 102.273, 5e-4, lambda: _ovais().fit.intercept
    ),
    WorkedExample(f"{PUBLISHED}: slope, %/month", OVAIS, -0.139, 5e-4, lambda: _ovais().fit.slope),
    WorkedExample(
        f"{PUBLISHED}: SE intercept", OVAIS, 0.872, 5e-4, lambda: _ovais_standard_errors()[0]
    ),
    WorkedExample(
        f"{PUBLISHED}: SE slope", OVAIS, 0.034, 5e-4, lambda: _ovais_standard_errors()[1]
    ),
    WorkedExample(f"{PUBLISHED}: R²", OVAIS, 0.6712, 5e-5, _ovais_r_squared),
    WorkedExample(
        f"{PUBLISHED}: residual SD", OVAIS, 1.9892, 5e-5, lambda: _ovais().fit.residual_sd
    ),
    WorkedExample(f"{PUBLISHED}: shelf life (90 %), months", OVAIS, 64.770, 5e-4, _ovais_estimate),
]


# ICH Q1E batch poolability (Appendix B.2; assays.qc.stability_pooling), by hand from the
# single-batch example above (n = 7, SSE₁ = 5 · 0.1860397² = 0.1730539, Sxx₁ = 429.42857).
# Three batches on the same time points: full-model error SSE = 3·SSE₁ on 21 − 6 = 15 df.
# (a) Copies shifted by δ = 0, +0.5, −0.4 %: the slopes are equal (F = 0, p = 1), the intercepts
#     differ by F = [7·Σ(δ − δ̄)² / 2] / [3·SSE₁ / 15] = 1.4233333 / 0.0346108 = 41.124: "common
#     slope"; the −0.4 % batch governs, its bound (17 df, var = s²(1/7 + (t − t̄)²/(3·Sxx₁)))
#     meets 95 % at 29.6471 months.
# (b) Slopes changed by Δb = 0, −0.1, +0.05 %/month: F = [Sxx₁·Σ(Δb − Δb̄)² / 2] / 0.0346108
#     = 2.505 / 0.0346108 = 72.376: "separate"; the −0.1 batch alone (same residuals, slope
#     −0.2822355) meets 95 % at 20.4471 months, the shortest.
# (c) Three identical copies: both F = 0, "pooled"; one line on 21 results (19 df) meets 95 %
#     at 31.9348 months, later than one batch's 30.7644 (more data, narrower bound).
# Each crossing was also found by a root search on the bound written with explicit matrices.
# The published data sets with published answers (LeBlond, Griffith & Aubuchon 2011, Tables
# IV-XIV; the JMP Stability.jmp example) were not reachable from this workplace (issue 13).
Q1E_POOLING = "ICH Q1E (2003) Appendix B.2, poolability at α = 0.25; hand calculation from B.1"
_SHIFTS = (0.0, 0.5, -0.4)
_SLOPE_CHANGES = (0.0, -0.1, 0.05)


def _q1e_batches(
    change: Callable[[float, float, float], float], deltas: tuple[float, ...]
) -> dict[str, tuple[list[float], list[float]]]:
    pairs = list(zip(Q1E_TIMES, Q1E_POTENCY, strict=True))
    return {
        f"batch {i + 1}": (Q1E_TIMES, [change(v, t, d) for t, v in pairs])
        for i, d in enumerate(deltas)
    }


@cache
def _pooling(kind: str) -> stability_pooling.PooledShelfLife:
    batches = {
        "shifted": _q1e_batches(lambda v, t, d: v + d, _SHIFTS),
        "sloped": _q1e_batches(lambda v, t, d: v + d * t, _SLOPE_CHANGES),
        "copies": _q1e_batches(lambda v, t, d: v, (0.0, 0.0, 0.0)),
    }[kind]
    return stability_pooling.pooled_shelf_life(batches, lower=95.0)


def _pooled_estimate(kind: str) -> float:
    estimate = _pooling(kind).estimate
    return math.nan if estimate is None else estimate


CASES += [
    WorkedExample("ICH Q1E poolability, shifted batches: F slopes", Q1E_POOLING, 0.0, 1e-9,
                  lambda: _pooling("shifted").f_slopes),
    WorkedExample("ICH Q1E poolability, shifted batches: F intercepts", Q1E_POOLING, 41.12399,
                  5e-4, lambda: _pooling("shifted").f_intercepts),
    WorkedExample("ICH Q1E poolability, shifted batches: model", Q1E_POOLING, "common slope",
                  None, lambda: _pooling("shifted").model),
    WorkedExample("ICH Q1E common slope: worst batch's shelf life, months", Q1E_POOLING,
                  29.6471, 5e-4, lambda: _pooled_estimate("shifted")),
    WorkedExample("ICH Q1E poolability, slopes differ: F slopes", Q1E_POOLING, 72.3763, 5e-4,
                  lambda: _pooling("sloped").f_slopes),
    WorkedExample("ICH Q1E poolability, slopes differ: model", Q1E_POOLING, "separate", None,
                  lambda: _pooling("sloped").model),
    WorkedExample("ICH Q1E separate lines: shortest shelf life, months", Q1E_POOLING, 20.4471,
                  5e-4, lambda: _pooled_estimate("sloped")),
    WorkedExample("ICH Q1E poolability, identical batches: model", Q1E_POOLING, "pooled", None,
                  lambda: _pooling("copies").model),
    WorkedExample("ICH Q1E pooled line (21 results): shelf life, months", Q1E_POOLING, 31.9348,
                  5e-4, lambda: _pooled_estimate("copies")),
]  # fmt: skip


# A BCA plate by hand (Gen5 4PL form a = 0.05, b = 1.2, c = 500, d = 2.5, blank 0.04): a sample
# at 1:4 reading the midpoint (a + d)/2 above the blank is at x = c in the well, 4 × 500 = 2000;
# at 1:2 reading d + (a − d)/(1 + 2^b) it is at 2c, 2 × 1000 = 2000 µg/mL.
PLATE_4PL = (0.05, 1.2, 500.0, 2.5)
PLATE_BLANK = 0.04
PLATE = "Findlay & Dillard, AAPS J 2007;9:E260 (back-calculation × dilution); hand calculation"
# The Gen5 example export (tests/data/instruments/gen5_absorbance_stdcurve_singleplate.txt):
# its standards STD1-STD7 (A-G, columns 1-3) and blank H1-H3 at 630 nm, and SPL1 at 1:1
# (A4-A6). Gen5's own fit printed in the file: Y = 0.00168 X − 0.000723; its [Concentration]
# of A4, A5, A6: 1185.551, 1200.645, 1232.046 (mean 1206.08).
GEN5_STANDARDS = {
    2000.0: (3.337, 3.394, 3.378),
    666.67: (1.112, 1.131, 1.126),
    222.22: (0.371, 0.377, 0.375),
    74.074: (0.124, 0.126, 0.125),
    24.691: (0.041, 0.042, 0.042),
    8.2305: (0.014, 0.014, 0.014),
    2.7435: (0.005, 0.005, 0.005),
}
GEN5_BLANK = (0.001, 0.001, 0.001)
GEN5_SPL1 = (1.998, 2.023, 2.076)
GEN5 = (
    "Agilent BioTek Gen5 3.12 export (allotropy test data): its own linear fit and concentrations"
)
LAL_LOGLOG = (
    "USP <85> / Ph. Eur. 2.6.14 kinetic method; hand calculation (log10 t = 3 − 0.25 log10 x)"
)


def _bca_plate() -> plate.PlateOutcome:
    a, b, c, d = PLATE_4PL
    standards = [2000.0, 1000.0, 500.0, 250.0, 125.0, 62.5, 31.25]
    readings: dict[str, float | None] = {"H1": PLATE_BLANK, "H2": PLATE_BLANK}
    groups: list[dict[str, Any]] = [{"role": "blank", "name": "Blank", "wells": "H1:H2"}]
    for i, x in enumerate(standards):
        row = "ABCDEFG"[i]
        groups.append(
            {"role": "standard", "name": f"S{i}", "concentration": x, "wells": f"{row}1:{row}2"}
        )
        y = float(curves.four_pl([x], a, b, c, d)[0]) + PLATE_BLANK
        readings.update({f"{row}1": y, f"{row}2": y})
    groups += [
        {"role": "sample", "name": "LOT", "dilution": 4, "wells": "A3"},
        {"role": "sample", "name": "LOT", "dilution": 2, "wells": "B3"},
    ]
    readings["A3"] = (a + d) / 2 + PLATE_BLANK
    readings["B3"] = d + (a - d) / (1 + 2**b) + PLATE_BLANK
    layout = plate.PlateLayout.from_dict({"fit": "4pl", "groups": groups})
    return plate.compute_plate(layout, readings)


def _bca_dilution(dilution: float) -> float:
    found = next(g for g in _bca_plate().samples if g.group.dilution == dilution).found
    return math.nan if found is None or found.value is None else found.value


@cache
def _gen5_plate() -> plate.PlateOutcome:
    groups: list[dict[str, Any]] = [{"role": "blank", "name": "BLK", "wells": "H1:H3"}]
    readings: dict[str, float | None] = dict(zip(("H1", "H2", "H3"), GEN5_BLANK, strict=True))
    for i, (x, values) in enumerate(GEN5_STANDARDS.items()):
        row = "ABCDEFG"[i]
        groups.append(
            {
                "role": "standard",
                "name": f"STD{i + 1}",
                "concentration": x,
                "wells": f"{row}1:{row}3",
            }
        )
        readings.update(zip((f"{row}1", f"{row}2", f"{row}3"), values, strict=True))
    groups.append({"role": "sample", "name": "SPL1", "wells": "A4:A6"})
    readings.update(zip(("A4", "A5", "A6"), GEN5_SPL1, strict=True))
    layout = plate.PlateLayout.from_dict({"fit": "linear", "groups": groups})
    return plate.compute_plate(layout, readings)


def _gen5(what: str) -> float:
    outcome = _gen5_plate()
    if what == "spl1":
        found = outcome.samples[0].found
        return math.nan if found is None or found.value is None else found.value
    return outcome.curve.parameters[what] if outcome.curve is not None else math.nan


@cache
def _lal_plate() -> plate.PlateOutcome:
    def onset(x: float) -> float:
        return float(1000.0 * x**-0.25)

    groups: list[dict[str, Any]] = []
    readings: dict[str, float | None] = {}
    for i, x in enumerate((5.0, 0.5, 0.05, 0.005)):
        row = "ABCD"[i]
        groups.append(
            {
                "role": "standard",
                "name": f"CSE {x:g}",
                "concentration": x,
                "wells": f"{row}1:{row}2",
            }
        )
        readings[f"{row}1"], readings[f"{row}2"] = onset(x) * 10**0.01, onset(x) * 10**-0.01
    groups += [
        {"role": "sample", "name": "LOT", "dilution": 10, "wells": "A3"},
        {"role": "spike", "name": "LOT", "dilution": 10, "concentration": 0.5, "wells": "A4"},
    ]
    readings["A3"], readings["A4"] = onset(0.1), onset(0.6)
    layout = plate.PlateLayout.from_dict({"fit": "loglog", "unit": "EU/mL", "groups": groups})
    return plate.compute_plate(layout, readings)


def _lal(what: str) -> float:
    outcome = _lal_plate()
    if what == "recovery":
        percent = outcome.spikes[0].percent
        return math.nan if percent is None else percent
    if what == "sample":
        found = outcome.samples[0].found
        return math.nan if found is None or found.value is None else found.value
    return outcome.curve.statistics["r"] if outcome.curve is not None else math.nan


CASES += [
    WorkedExample("BCA plate 4PL, sample 1:4 at the midpoint (µg/mL)", PLATE, 2000.0, 1e-3,
                  lambda: _bca_dilution(4.0)),
    WorkedExample("BCA plate 4PL, sample 1:2 at x = 2c (µg/mL)", PLATE, 2000.0, 1e-3,
                  lambda: _bca_dilution(2.0)),
    WorkedExample("Gen5 BCA plate, linear slope (Gen5 prints 0.00168)", GEN5, 0.00168, 5e-6,
                  lambda: _gen5("slope")),
    WorkedExample("Gen5 BCA plate, SPL1 1:1 (Gen5 mean 1206.08 µg/mL)", GEN5, 1206.08, 0.6,
                  lambda: _gen5("spl1")),
    WorkedExample("LAL log-log r, duplicates ±0.01 log (−√(0.625/0.6258))", LAL_LOGLOG,
                  -math.sqrt(0.625 / 0.6258), 1e-9, lambda: _lal("r")),
    WorkedExample("LAL sample 0.1 EU/mL in the well at 1:10 (EU/mL)", LAL_LOGLOG, 1.0, 1e-9,
                  lambda: _lal("sample")),
    WorkedExample("LAL PPC recovery, 0.5 EU/mL spike (%)", LAL_LOGLOG, 100.0, 1e-6,
                  lambda: _lal("recovery")),
]  # fmt: skip


def _passed(expected: Value, computed: Value, tolerance: float | None) -> bool:
    if isinstance(expected, str) or isinstance(computed, str):
        return computed == expected
    if not math.isfinite(computed):
        return False
    return abs(computed - expected) <= (tolerance or 0.0)


def run_case(case: WorkedExample) -> CaseResult:
    """Compute one case; an exception counts as a failure with its text as ``computed``."""
    try:
        computed = case.compute()
        if not isinstance(computed, str):
            computed = float(computed)
        passed = _passed(case.expected, computed, case.tolerance)
    except Exception as exc:  # reported as a failed case, not hidden
        computed, passed = f"error: {exc!r}", False
    return CaseResult(case.name, case.expected, computed, case.tolerance, passed)


def run_all() -> list[CaseResult]:
    """Evaluate every case in :data:`CASES`, in order."""
    return [run_case(case) for case in CASES]


# --------------------------------------------- relative potency (USP <1032>/<1034>), issue 13
# The reference is the ryegrass data set (Inderjit, Streibig & Olofsdotter, Physiol Plant
# 2002;114:422; drc's `ryegrass`), the test the same responses at half the doses: a test exactly
# twice as potent. By hand: the parallel fit's shared a, b, d and EC50_R are the ryegrass LL.4
# values (DOMAIN.md §4), EC50_T = 3.05795 / 2, RP = 2; SSE doubles over 48 points with 5
# parameters, so the residual SE is √(2 · 20 · 0.5196256² / 43) = 0.5011714. The EC50 contrast is
# orthogonal to the shared parameters (the two blocks' Jacobians are equal), so
# var(ln RP) = 2 s² / Σ (∂f/∂ln c)² = 0.0662519², and the 95 % interval is
# 2 · exp(∓ t(0.975, 43) · 0.0662519) = 1.74986 to 2.28589. The slopes are equal (ratio 1,
# F = 0), yet the slope ratio's 95 % interval (0.644-1.552) is not inside 0.80-1.25: 24 points
# do not show equivalence (the USP <1032> §4.5 point: a non-significant F is not similarity).
# Second case: test doses x^(2/3) make (x/c)^b = (x^(2/3) / c^(2/3))^(1.5 b): slope ratio 1.5.
RP = "USP <1034> parallel 4PL; ryegrass (Inderjit et al. 2002), test = half doses; hand-checked"


@cache
def _rp_half_dose() -> Any:
    half = [x / 2 for x in RYEGRASS_CONC]
    return relative_potency.relative_potency(RYEGRASS_CONC, RYEGRASS_ROOTL, half, RYEGRASS_ROOTL)


def _rp_steeper() -> Any:
    steeper = [x ** (2 / 3) for x in RYEGRASS_CONC]
    return relative_potency.relative_potency(RYEGRASS_CONC, RYEGRASS_ROOTL, steeper, RYEGRASS_ROOTL)


CASES.extend(
    [
        WorkedExample("Relative potency, test at half the dose: RP", RP, 2.0, 1e-6,
                      lambda: _rp_half_dose().rp),
        WorkedExample("Relative potency: shared slope = ryegrass LL.4 b", RP, 2.98222, 5e-5,
                      lambda: _rp_half_dose().fit.b),
        WorkedExample("Relative potency: EC50 of the test = 3.05795 / 2", RP, 1.528975, 5e-5,
                      lambda: _rp_half_dose().fit.c_test),
        WorkedExample("Relative potency: residual SE √(2·20·0.5196256²/43)", RP, 0.5011714,
                      5e-7, lambda: _rp_half_dose().fit.residual_se),
        WorkedExample("Relative potency: SE of ln RP", RP, 0.0662519, 5e-7,
                      lambda: _rp_half_dose().se_log_rp),
        WorkedExample("Relative potency: 95 % CI lower", RP, 1.74986, 5e-5,
                      lambda: _rp_half_dose().rp_low),
        WorkedExample("Relative potency: 95 % CI upper", RP, 2.28589, 5e-5,
                      lambda: _rp_half_dose().rp_high),
        WorkedExample("Parallelism F test, equal curves: F = 0", RP, 0.0, 1e-6,
                      lambda: _rp_half_dose().parallelism.f_statistic),
        WorkedExample("Parallelism, log-doses scaled by 2/3: slope ratio 1.5", RP, 1.5, 1e-6,
                      lambda: _rp_steeper().parallelism.slope_ratio),
        WorkedExample("Parallelism, slope ratio 1.5: verdict", RP, "not parallel", None,
                      lambda: "parallel" if _rp_steeper().parallelism.parallel
                      else "not parallel"),
    ]
)  # fmt: skip


# ------------------------------------- plate maths on a real Gen5 kinetic export (issue 10)
# assays.qc.real_plate_examples. 4PL: Gen5 prints its fit to 3 significant figures, so each
# parameter must round to Gen5's (tolerance half a unit of the last digit). By hand with Gen5's
# printed parameters, A6 (Mean V 19.799): x = c·((a − d)/(y − d) − 1)^(1/b)
# = 14.8·(33.67/15.101 − 1)^(1/3.52) = 14.8·1.229654^0.284091 = 15.695; Gen5 prints 15.720
# from its unrounded parameters, ours (unrounded too) must give Gen5's to ±0.005.
# Mean V of A6: least-squares slope of its 61 reads on time (min), × 1000: Gen5's 19.799.
# LAL log-log (onset OD 0.05 over the first read, reads every 30 s), onsets by hand:
# A6 90 + 30·(0.050 − 0.043)/(0.057 − 0.043) = 105 s, B6 111.4286, A7 130.9091, B7 133.6364,
# A8 180 (rise exactly 0.050 at 180 s), B8 188.5714, A9 318, B9 350; x = log10 of 16, 12, 8, 4
# (twice), y = log10 onset: x̄ 0.9471128, ȳ 2.2360405, Sxx 0.4089884, Syy 0.2759698,
# Sxy −0.3348582, slope Sxy/Sxx = −0.8187473, intercept ȳ − slope·x̄ = 3.0114866,
# r = Sxy/√(Sxx·Syy) = −0.9967233 (|r| ≥ 0.980: valid). LOT (C7 132 s, D7 130 s, mean 131):
# 10^((log10 131 − 3.0114866)/−0.8187473) = 12.36445; spiked (C6 110.7692, D6 107.1429, mean
# 108.9560): 15.48494; recovery (15.48494 − 12.36445)/4 = 78.01 % (50-200 %: valid);
# LOT2 (E8 184.2857, F8 187.5, mean 185.8929) 8.063729 × 10 = 80.63729.
CASES.extend(
    [
        WorkedExample("Gen5 kinetic export: Mean V of A6 from its 61 reads (Gen5 19.799)",
                      real.SOURCE, 19.799, 5e-4, real.a6_mean_v),
        WorkedExample("Gen5 kinetic 4PL of Mean V: a (Gen5 A 1.23)", real.SOURCE, 1.23, 5e-3,
                      lambda: real.four_pl("a")),
        WorkedExample("Gen5 kinetic 4PL of Mean V: b (Gen5 B 3.52)", real.SOURCE, 3.52, 5e-3,
                      lambda: real.four_pl("b")),
        WorkedExample("Gen5 kinetic 4PL of Mean V: c (Gen5 C 14.8)", real.SOURCE, 14.8, 5e-2,
                      lambda: real.four_pl("c")),
        WorkedExample("Gen5 kinetic 4PL of Mean V: d (Gen5 D 34.9)", real.SOURCE, 34.9, 5e-2,
                      lambda: real.four_pl("d")),
        WorkedExample("Gen5 kinetic 4PL of Mean V: R² (Gen5 0.995)", real.SOURCE, real.GEN5_R2,
                      5e-4, lambda: real.four_pl("r_squared")),
        WorkedExample("Gen5 kinetic 4PL: A6 back-calculated (Gen5 15.720)", real.SOURCE,
                      real.GEN5_A6_CONCENTRATION, 5e-3, lambda: real.four_pl("A6")),
        WorkedExample("LAL log-log on the Gen5 kinetic reads: slope (hand −0.8187473)",
                      real.SOURCE, -0.8187473, 5e-7, lambda: real.lal("slope")),
        WorkedExample("LAL log-log on the Gen5 kinetic reads: r (hand −0.9967233)",
                      real.SOURCE, -0.9967233, 5e-7, lambda: real.lal("r")),
        WorkedExample("LAL on the Gen5 kinetic reads: LOT (hand 12.36445)", real.SOURCE,
                      12.36445, 5e-5, lambda: real.lal("LOT")),
        WorkedExample("LAL on the Gen5 kinetic reads: LOT2 at 1:10 (hand 80.63729)", real.SOURCE,
                      80.63729, 5e-4, lambda: real.lal("LOT2")),
        WorkedExample("LAL on the Gen5 kinetic reads: spike recovery % (hand 78.01)",
                      real.SOURCE, 78.01, 5e-3, lambda: real.lal("recovery")),
    ]
)  # fmt: skip

# SoftMax Pro HCP ELISA export: SoftMax's InterpX of each well (3 decimals printed) from an
# unweighted 4PL over its 12 standard wells. By hand for C3 (0.9794) with the fitted a 0.0927555,
# b 1.0633905, c 210.44618, d 5.719647: x = c·((a − d)/(y − d) − 1)^(1/b)
# = 210.44618·(1.1870461 − 1)^0.9403883 = 43.50007; SoftMax prints 43.500.
CASES.extend(
    [
        WorkedExample(f"SoftMax HCP ELISA 4PL: {well} (SoftMax InterpX {printed:.3f})",
                      real.HCP_SOURCE, printed, 5e-4, partial(real.hcp_well, well))
        for well, (_, printed) in real.HCP_WELLS.items()
    ]
)  # fmt: skip
