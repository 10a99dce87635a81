"""Pfaffl's efficiency-corrected ratio (Nucleic Acids Res 2001;29:e45), several references by
their geometric mean (Vandesompele 2002) or a spike-in, checked against hand calculations."""

import csv
import math
from pathlib import Path

import pytest

from assays.qc.qpcr import (
    GeneCts,
    amplification_factor,
    pfaffl_ratio,
    relative_quantity,
    standard_curve,
)

QUANTSTUDIO = (
    Path(__file__).resolve().parents[1] / "data" / "instruments" / "quantstudio_example01.txt"
)


def _quantstudio_cts() -> dict[str, float]:
    """Well position → CT of the [Results] table of the real QuantStudio export."""
    lines = QUANTSTUDIO.read_text(encoding="utf-8").splitlines()
    start = lines.index("[Results]") + 1
    rows = csv.reader(lines[start:], delimiter="\t")
    header = next(rows)
    cts = {}
    for row in rows:
        if not row or row[0].startswith("["):
            break
        record = dict(zip(header, row, strict=False))
        cts[record["Well Position"]] = float(record["CT"])
    return cts


def test_pfaffl_from_the_real_quantstudio_cts_by_hand():
    # The export has one target in triplicates; its real Cts are given the four roles here:
    # target in the calibrator A1-A3, in the sample A4-A6; reference in the calibrator A7-A9,
    # in the sample A10-A12. E_target 1.95 (95 %), E_reference 2.00.
    ct = _quantstudio_cts()
    wells = lambda *names: [ct[n] for n in names]  # noqa: E731
    assert wells("A1", "A2", "A3") == [18.717, 20.806, 19.559]
    target = GeneCts("TARGET_1", wells("A4", "A5", "A6"), wells("A1", "A2", "A3"), 1.95)
    reference = GeneCts("ref", wells("A10", "A11", "A12"), wells("A7", "A8", "A9"), 2.0)

    result = pfaffl_ratio(target, [reference])

    # Means: calibrator target 59.082/3 = 19.694, sample target 61.431/3 = 20.477,
    # calibrator reference 55.337/3 = 18.44567, sample reference 55.511/3 = 18.50367.
    # ΔCt_t = 19.694 − 20.477 = −0.783;  ΔCt_r = 18.44567 − 18.50367 = −0.058.
    assert result.delta_ct_target == pytest.approx(-0.783, abs=1e-9)
    assert result.delta_ct_references[0] == pytest.approx(-0.058, abs=1e-9)
    # 1.95^−0.783 = exp(−0.783 · 0.667829) = 0.592793;  2^−0.058 = 0.960595.
    assert result.target_rq == pytest.approx(0.592793, abs=1e-6)
    assert result.normalisation_factor == pytest.approx(0.960595, abs=1e-6)
    # ratio = 0.592793 / 0.960595 = 0.617110.
    assert result.ratio == pytest.approx(0.617110, abs=1e-6)
    # s²/n: 0.696192 (A4-6), 0.368216 (A1-3), 0.056690 (A10-12), 0.141527 (A7-9);
    # Var(ln ratio) = 0.667829² · 1.064409 + 0.693147² · 0.198217 = 0.474722 + 0.095234
    # = 0.569956; se = 0.754954.
    assert result.se_log == pytest.approx(0.754954, abs=1e-6)
    assert result.df == pytest.approx(5.0464, abs=1e-3)
    assert result.ci_low == pytest.approx(0.0891, abs=1e-4)
    assert result.ci_high == pytest.approx(4.2742, abs=1e-4)


def test_geometric_mean_of_two_references_by_hand():
    # miR-125b 23.0 vs 25.0 (E 1.95); U6 20.5 vs 20.0 (E 2.00); miR-16 21.5 vs 22.0 (E 1.90).
    result = pfaffl_ratio(
        GeneCts("miR-125b", 23.0, 25.0, 1.95),
        [GeneCts("U6", 20.5, 20.0, 2.0), GeneCts("miR-16", 21.5, 22.0, 1.9)],
    )
    # 1.95² = 3.8025; NF = sqrt(2^−0.5 · 1.9^0.5) = sqrt(0.707107 · 1.378405) = 0.987259.
    assert result.target_rq == pytest.approx(3.8025)
    assert result.normalisation_factor == pytest.approx(0.987259, abs=1e-6)
    assert result.ratio == pytest.approx(3.851575, abs=1e-6)
    assert result.references == ("U6", "miR-16")
    assert math.isnan(result.ci_low)  # single replicates: no interval


def test_spike_in_normalisation_is_one_reference():
    # cel-miR-39 spiked at a fixed amount: a Ct 0.4 cycles later in the sample means less
    # recovered RNA, which the ratio corrects upward: 2^1 / 2^−0.4 = 2^1.4 = 2.639016.
    result = pfaffl_ratio(
        GeneCts("miR-223", 24.0, 25.0, 2.0), [GeneCts("cel-miR-39", 19.4, 19.0, 2.0)]
    )
    assert result.ratio == pytest.approx(2**1.4)


def test_one_reference_with_equal_efficiencies_is_the_delta_delta_ct_method():
    target, reference = [20.0, 20.2, 20.4], [16.0, 16.1, 16.2]
    cal_target, cal_reference = [23.0, 23.3, 23.6], [17.1, 17.2, 17.3]
    livak = relative_quantity(target, reference, cal_target, cal_reference, efficiency=1.9)
    pfaffl = pfaffl_ratio(
        GeneCts("t", target, cal_target, 1.9), [GeneCts("r", reference, cal_reference, 1.9)]
    )
    assert pfaffl.ratio == pytest.approx(livak.rq)
    assert pfaffl.df == pytest.approx(livak.df)
    assert pfaffl.ci_low == pytest.approx(livak.ci_low)
    assert pfaffl.ci_high == pytest.approx(livak.ci_high)


def test_different_efficiencies_change_the_ratio():
    same = pfaffl_ratio(GeneCts("t", 22.0, 25.0, 2.0), [GeneCts("r", 18.0, 19.0, 2.0)])
    differ = pfaffl_ratio(GeneCts("t", 22.0, 25.0, 1.8), [GeneCts("r", 18.0, 19.0, 2.0)])
    assert same.ratio == pytest.approx(4.0)  # 2^3 / 2^1
    assert differ.ratio == pytest.approx(1.8**3 / 2.0)  # 2.916


def test_standard_curve_gives_the_efficiency():
    # Ten-fold dilutions, Ct rising 3.3219 per decade: E = 10^(1/3.3219) = 2.0000.
    fit = standard_curve([5, 4, 3, 2, 1], [15.0, 18.3219, 21.6438, 24.9657, 28.2876])
    assert fit.slope == pytest.approx(-3.3219)
    assert fit.amplification_factor == pytest.approx(2.0, abs=1e-4)
    assert fit.efficiency_percent == pytest.approx(100.0, abs=0.01)
    assert fit.r_squared == pytest.approx(1.0)
    assert amplification_factor(95.0) == 1.95


@pytest.mark.parametrize(
    ("target", "references", "message"),
    [
        (GeneCts("t", 22.0, 25.0, 2.0), [], "at least one reference"),
        (GeneCts("t", 22.0, 25.0, 1.0), [GeneCts("r", 1.0, 1.0, 2.0)], "above 1"),
        (GeneCts("t", 22.0, 25.0, 95.0), [GeneCts("r", 1.0, 1.0, 2.0)], "above 1"),
        (GeneCts("t", 22.0, 25.0, 2.0), [GeneCts("t", 1.0, 1.0, 2.0)], "different genes"),
        (GeneCts("t", [], 25.0, 2.0), [GeneCts("r", 1.0, 1.0, 2.0)], "no Ct values"),
        (GeneCts("t", math.nan, 25.0, 2.0), [GeneCts("r", 1.0, 1.0, 2.0)], "finite"),
    ],
)
def test_bad_input_is_refused(target, references, message):
    with pytest.raises(ValueError, match=message):
        pfaffl_ratio(target, references)


def test_a_flat_or_rising_standard_curve_is_refused():
    with pytest.raises(ValueError, match="negative"):
        standard_curve([1, 2, 3], [20.0, 21.0, 22.0])
    with pytest.raises(ValueError, match="at least three"):
        standard_curve([1, 2], [20.0, 17.0])
