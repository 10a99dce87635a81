"""The qPCR analysis an assay definition configures (assays.qc.qpcr_analysis): Pfaffl's ratio
(Nucleic Acids Res 2001;29:e45) with per-gene efficiencies, several references by their
geometric mean (Vandesompele 2002) or a spike-in, and efficiencies from a standard curve
(E = 10^(-1/slope), MIQE, Bustin et al. 2009). Worked by hand on the real QuantStudio Cts of
tests/data/instruments/quantstudio_example01.txt (tests/qc/test_pfaffl.py reads them)."""

import math

import pytest

from assays.qc import qpcr
from assays.qc.qpcr_analysis import (
    EfficiencySource,
    QpcrConfig,
    gene_efficiency,
    relative_quantities,
)
from tests.qc.test_pfaffl import _quantstudio_cts


def _roles() -> tuple[dict, dict]:
    """The real Cts in the four roles: TARGET_1 calibrator A1-A3, sample A4-A6; U6 (the
    reference) calibrator A7-A9, sample A10-A12."""
    ct = _quantstudio_cts()
    wells = lambda *names: [ct[n] for n in names]  # noqa: E731
    sample = {"TARGET_1": wells("A4", "A5", "A6"), "U6": wells("A10", "A11", "A12")}
    calibrator = {"TARGET_1": wells("A1", "A2", "A3"), "U6": wells("A7", "A8", "A9")}
    return sample, calibrator


def _run(config: QpcrConfig, sample, calibrator, wells=None):
    genes = {*sample, *calibrator, *config.normalisers}
    efficiencies = {}
    for gene in genes:
        try:
            efficiencies[gene] = gene_efficiency(gene, config.source_of(gene), wells or {})
        except ValueError as exc:
            efficiencies[gene] = str(exc)
    return {o.target: o for o in relative_quantities(config, sample, calibrator, efficiencies)}


def _config(**changes) -> QpcrConfig:
    raw = {"references": ["U6"], **changes}
    return QpcrConfig.from_json(raw)


def test_per_target_efficiencies_on_the_real_quantstudio_cts_by_hand():
    sample, calibrator = _roles()
    config = _config(efficiencies={"TARGET_1": {"source": "validated", "percent": 95.0}})

    (outcome,) = _run(config, sample, calibrator).values()

    # Means: TARGET_1 calibrator 59.082/3 = 19.694, sample 61.431/3 = 20.477; U6 calibrator
    # 55.337/3 = 18.44567, sample 55.511/3 = 18.50367. ΔCt_t = −0.783, ΔCt_U6 = −0.058.
    # E_t = 1 + 95/100 = 1.95, E_U6 = 2.00: 1.95^−0.783 / 2^−0.058 = 0.592793 / 0.960595.
    ratio = outcome.ratio
    assert ratio.efficiencies == {"TARGET_1": 1.95, "U6": 2.0}
    assert ratio.ratio == pytest.approx(0.617110, abs=1e-6)
    assert (ratio.ci_low, ratio.ci_high) == (
        pytest.approx(0.0891, abs=1e-4),
        pytest.approx(4.2742, abs=1e-4),
    )
    assert outcome.flags == ()  # 95 % and 100 % are inside MIQE's 90-110 %


def test_pfaffl_with_every_efficiency_two_is_the_delta_delta_ct_method():
    # Livak & Schmittgen 2001: ΔΔCt = (20.477 − 18.50367) − (19.694 − 18.44567)
    # = 1.97333 − 1.24833 = 0.725; RQ = 2^−0.725 = 0.604997.
    sample, calibrator = _roles()
    config = _config()  # the default: every gene a validated 100 %, E = 2
    assert config.is_delta_delta_ct

    ratio = _run(config, sample, calibrator)["TARGET_1"].ratio
    livak = qpcr.relative_quantity(
        sample["TARGET_1"], sample["U6"], calibrator["TARGET_1"], calibrator["U6"], efficiency=2
    )

    assert livak.ddct == pytest.approx(0.725, abs=1e-9)
    assert ratio.ratio == pytest.approx(livak.rq) == pytest.approx(0.604997, abs=1e-6)
    assert ratio.ci_low == pytest.approx(livak.ci_low)
    assert ratio.ci_high == pytest.approx(livak.ci_high)
    assert ratio.df == pytest.approx(livak.df)


def test_geometric_mean_of_references_and_spike_in_from_the_configuration():
    # 1.95² / sqrt(2^−0.5 · 1.9^0.5) = 3.8025 / 0.987259 = 3.851575 (test_pfaffl.py).
    config = QpcrConfig.from_json(
        {
            "references": ["U6", "miR-16"],
            "efficiencies": {
                "miR-125b": {"source": "validated", "percent": 95.0},
                "miR-16": {"source": "validated", "percent": 90.0},
            },
        }
    )
    assert not config.is_delta_delta_ct
    outcome = _run(
        config,
        {"miR-125b": [23.0], "U6": [20.5], "miR-16": [21.5]},
        {"miR-125b": [25.0], "U6": [20.0], "miR-16": [22.0]},
    )["miR-125b"]
    assert outcome.ratio.ratio == pytest.approx(3.851575, abs=1e-6)
    assert outcome.ratio.references == ("U6", "miR-16")

    spiked = QpcrConfig.from_json({"spike_in": "cel-miR-39"})
    # 2^(25 − 24) / 2^(19.0 − 19.4) = 2^1.4: less spike recovered, the ratio corrected upward.
    outcome = _run(
        spiked, {"miR-223": [24.0], "cel-miR-39": [19.4]}, {"miR-223": [25.0], "cel-miR-39": [19.0]}
    )["miR-223"]
    assert outcome.ratio.ratio == pytest.approx(2**1.4)


def test_efficiency_from_a_standard_curve_in_the_run():
    # Ten-fold dilutions in duplicate, Ct rising 3.3219 per decade: slope −3.3219,
    # E = 10^(1/3.3219) = 2.0000, 100 % (MIQE).
    standards = [
        {"wells": [f"B{2 * i + 1}", f"B{2 * i + 2}"], "log10_quantity": 5 - i} for i in range(5)
    ]
    source = EfficiencySource.from_json({"source": "standard_curve", "standards": standards}, "U6")
    wells = {}
    for i in range(5):
        ct = 15.0 + 3.3219 * i
        wells[(f"B{2 * i + 1}", "U6")] = ct
        wells[(f"B{2 * i + 2}", "U6")] = ct
    wells[("B10", "U6")] = None  # an undetermined standard well is left out of the fit
    wells[("B1", "miR-21")] = 30.0  # another target in the same well (multiplex): not U6's

    eff = gene_efficiency("U6", source, wells)

    assert eff.curve.slope == pytest.approx(-3.3219)
    assert eff.factor == pytest.approx(2.0, abs=1e-4)
    assert eff.percent == pytest.approx(100.0, abs=0.01)
    assert eff.curve.n == 9 and eff.in_range
    assert eff.to_json()["standard_curve"]["points"][0] == {
        "well": "B1",
        "log10_quantity": 5.0,
        "ct": 15.0,
    }


# --- Adversarial ----------------------------------------------------------------------------


def test_a_missing_or_undetermined_reference_leaves_every_target_without_a_ratio():
    sample, calibrator = _roles()
    del sample["U6"]
    outcome = _run(_config(), sample, calibrator)["TARGET_1"]
    assert outcome.ratio is None
    assert outcome.error == "reference U6 has no determined Ct in the sample"

    sample, calibrator = _roles()
    calibrator["U6"] = [None, None, None]
    outcome = _run(_config(), sample, calibrator)["TARGET_1"]
    assert outcome.error == "reference U6 has no determined Ct in the calibrator"


def test_undetermined_replicates_are_left_out_and_said_so():
    sample, calibrator = _roles()
    sample["TARGET_1"][1] = None  # A5 undetermined
    outcome = _run(_config(), sample, calibrator)["TARGET_1"]
    # Mean of A4, A6: (19.224 + 22.058)/2 = 20.641; ΔCt_t = 19.694 − 20.641 = −0.947;
    # 2^−0.947 / 2^−0.058 = 0.518710 / 0.960595 = 0.539988.
    assert outcome.ratio.delta_ct_target == pytest.approx(-0.947, abs=1e-9)
    assert outcome.ratio.ratio == pytest.approx(0.539988, abs=1e-6)
    assert outcome.flags == ("TARGET_1 sample: 1 undetermined replicate(s) left out",)

    sample["TARGET_1"] = [None, None, None]
    outcome = _run(_config(), sample, calibrator)["TARGET_1"]
    assert outcome.ratio is None and outcome.error == "TARGET_1 not determined in the sample"


def test_an_efficiency_outside_90_to_110_percent_is_flagged_per_miqe():
    sample, calibrator = _roles()
    config = _config(efficiencies={"TARGET_1": {"source": "validated", "percent": 85.0}})
    outcome = _run(config, sample, calibrator)["TARGET_1"]
    # Computed, and flagged: 1.85^−0.783 / 2^−0.058 = 0.617738 / 0.960595 = 0.643079.
    assert outcome.ratio.ratio == pytest.approx(0.643079, abs=1e-6)
    assert outcome.flags == ("TARGET_1 efficiency 85.0 % outside 90-110 % (MIQE)",)


def test_a_standard_curve_on_the_real_wells_that_is_no_dilution_series_is_refused():
    # U6 wells A7-A9 (17.822, 18.393, 19.122) read as 1000, 100 and 10 copies: slope
    # (17.822 − 19.122)/(3 − 1) = −0.65, E = 10^(1/0.65) = 34.5, far above 3 (200 %): the ratio
    # refuses it and says why; the efficiency is flagged.
    ct = _quantstudio_cts()
    wells = {(w, "U6"): ct[w] for w in ("A7", "A8", "A9")}
    config = _config(
        efficiencies={
            "U6": {
                "source": "standard_curve",
                "standards": [
                    {"wells": "A7", "log10_quantity": 3},
                    {"wells": "A8", "log10_quantity": 2},
                    {"wells": "A9", "log10_quantity": 1},
                ],
            }
        }
    )
    sample, calibrator = _roles()
    eff = gene_efficiency("U6", config.source_of("U6"), wells)
    assert eff.curve.slope == pytest.approx(-0.65, abs=1e-9)
    assert eff.factor == pytest.approx(10 ** (1 / 0.65))
    assert not eff.in_range

    outcome = _run(config, sample, calibrator, wells)["TARGET_1"]
    assert outcome.ratio is None
    assert "amplification factor per cycle is above 1" in outcome.error
    assert outcome.flags[0].startswith("U6 efficiency 3355.")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "one or more reference genes or by one spike-in"),
        ({"references": ["U6"], "spike_in": "cel-miR-39"}, "or by one spike-in"),
        ({"references": ["U6", "u6"]}, "named once"),
        ({"references": ["U6"], "targets": ["U6"]}, "not also a reference"),
        ({"references": ["U6"], "efficiency": {"source": "guess"}}, "source is one of"),
        ({"references": ["U6"], "efficiency": {"source": "validated"}}, "positive percentage"),
        (
            {
                "references": ["U6"],
                "efficiency": {
                    "source": "standard_curve",
                    "standards": [{"wells": "Z99", "log10_quantity": 1}],
                },
            },
            "not a well",
        ),
        (
            {
                "references": ["U6"],
                "efficiency": {
                    "source": "standard_curve",
                    "standards": [{"wells": "A1", "log10_quantity": 1}],
                },
            },
            "two or more input amounts",
        ),
        ({"references": ["U6"], "colour": "red"}, "unknown keys: colour"),
        ([], "must be an object"),
    ],
)
def test_a_bad_configuration_is_refused_saying_why(raw, message):
    with pytest.raises(ValueError, match=message):
        QpcrConfig.from_json(raw)


def test_the_configuration_reads_back_what_it_stores():
    raw = {
        "references": ["U6", "miR-16"],
        "spike_in": "",
        "targets": ["miR-21"],
        "efficiency": {"source": "validated", "percent": 98.5},
        "efficiencies": {
            "miR-21": {
                "source": "standard_curve",
                "standards": [
                    {"wells": ["A1", "A2"], "log10_quantity": 6.0},
                    {"wells": ["A3"], "log10_quantity": 5.0},
                ],
            }
        },
        "calibrator_sample": "EV-RS-001",
        "calibrator": "Reference lot",
    }
    assert QpcrConfig.from_json(raw).to_json() == raw
    assert math.isclose(QpcrConfig.from_json(raw).efficiency.percent, 98.5)
