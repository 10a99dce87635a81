"""Plate assays computed from the plate (issue 10 item 5): layouts, fits and back-calculation,
checked against hand calculations and against the reader software's own numbers in the
repository's real exports. No database."""

import math
from pathlib import Path

import pytest

from assays import plate_files
from assays.catalogue import PLATE_LAYOUTS
from assays.parsers import asm, asm_results
from assays.parsers.file_samples import records_from_asm
from assays.qc import curves, plate

DATA = Path(__file__).resolve().parents[1] / "data" / "instruments"
GEN5 = "gen5_absorbance_stdcurve_singleplate.txt"
SOFTMAX = "softmax_pro_absorbance_endpoint_example01.txt"


@pytest.fixture(scope="module")
def gen5_records():
    return records_from_asm(asm.convert((DATA / GEN5).read_bytes(), GEN5))


@pytest.fixture(scope="module")
def softmax_values():
    return asm_results.results_from_asm(asm.convert((DATA / SOFTMAX).read_bytes(), SOFTMAX))


# --- layouts -----------------------------------------------------------------------------------


def test_wells_from_rectangles_and_lists():
    assert plate.expand_wells("A1:B2") == ("A1", "A2", "B1", "B2")
    assert plate.expand_wells(["h12", "a01"]) == ("H12", "A1")
    with pytest.raises(ValueError, match="not a well"):
        plate.expand_wells("I1")
    with pytest.raises(ValueError, match="not a well"):
        plate.expand_wells("A13")


def test_catalogue_templates_are_valid_layouts():
    bca = plate.PlateLayout.from_dict(PLATE_LAYOUTS["BCA"][0])
    assert sum(len(g.wells) for g in bca.groups) == 96  # every well of the plate
    lal = plate.PlateLayout.from_dict(PLATE_LAYOUTS["ENDOTOXIN"][0])
    assert lal.fit == "loglog" and lal.response == "onset_time" and not lal.blank_subtract


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"fit": "cubic"}, "fit", "must be one of"),
        ({"groups": []}, "groups", "at least one group"),
        (
            {"groups": [{"role": "standard", "name": "S", "wells": "A1"}]},
            "groups[0].concentration",
            "",
        ),
        (
            {"groups": [{"role": "sample", "name": "X", "wells": "A1", "dilution": 0.5}]},
            "groups[0].dilution",
            "fold",
        ),
        (
            {"groups": [{"role": "sample", "name": "X", "wells": "A1", "dilution": -2}]},
            "groups[0].dilution",
            "fold",
        ),
        (
            {"groups": [{"role": "standard", "name": "S", "concentration": -1, "wells": "A1"}]},
            "groups[0].concentration",
            "",
        ),
        ({"groups": [{"role": "boss", "name": "X", "wells": "A1"}]}, "groups[0].role", "one of"),
        ({"groups": [{"role": "sample", "name": "", "wells": "A1"}]}, "groups[0].name", "required"),
        (
            {"groups": [{"role": "sample", "name": "X", "wells": "Z9"}]},
            "groups[0].wells",
            "not a well",
        ),
    ],
)
def test_a_bad_layout_is_refused_with_the_field_that_is_wrong(change, field, message):
    layout = {
        "fit": "4pl",
        "groups": [
            {"role": "standard", "name": "S1", "concentration": 10, "wells": "A1"},
            {"role": "standard", "name": "S2", "concentration": 1, "wells": "A2"},
            {"role": "sample", "name": "X", "wells": "A3"},
        ],
    }
    with pytest.raises(plate.LayoutError) as refused:
        plate.PlateLayout.from_dict({**layout, **change})
    assert field in refused.value.errors
    assert message in " ".join(refused.value.errors[field])


def test_a_well_in_two_groups_is_refused():
    with pytest.raises(plate.LayoutError, match="A1 is already standard S1"):
        plate.PlateLayout.from_dict(
            {
                "groups": [
                    {"role": "standard", "name": "S1", "concentration": 10, "wells": "A1:A2"},
                    {"role": "standard", "name": "S2", "concentration": 1, "wells": "B1"},
                    {"role": "sample", "name": "X", "wells": "A1"},
                ]
            }
        )


def test_a_spike_without_its_unspiked_sample_is_refused():
    with pytest.raises(plate.LayoutError, match="no unspiked sample at dilution 10"):
        plate.PlateLayout.from_dict(
            {
                "fit": "loglog",
                "groups": [
                    {"role": "standard", "name": f"S{i}", "concentration": c, "wells": f"A{i}"}
                    for i, c in enumerate((5, 0.5, 0.05), start=1)
                ]
                + [
                    {"role": "sample", "name": "X", "dilution": 20, "wells": "B1"},
                    {
                        "role": "spike",
                        "name": "X",
                        "dilution": 10,
                        "concentration": 0.5,
                        "wells": "B2",
                    },
                ],
            }
        )


# --- 4PL on a plate: hand calculation ------------------------------------------------------

A, B, C, D = 0.05, 1.2, 500.0, 2.5  # Gen5 form: y = (A - D) / (1 + (x/C)^B) + D
BLANK = 0.04


def _bca_plate():
    standards = [2000.0, 1000.0, 500.0, 250.0, 125.0, 62.5, 31.25]
    groups = [
        {
            "role": "standard",
            "name": f"STD{i + 1}",
            "concentration": x,
            "wells": f"{'ABCDEFG'[i]}1:{'ABCDEFG'[i]}2",
        }
        for i, x in enumerate(standards)
    ] + [
        {"role": "blank", "name": "Blank", "wells": "H1:H2"},
        {"role": "sample", "name": "LOT-A", "dilution": 4, "wells": "A3:A4"},
        {"role": "sample", "name": "LOT-A", "dilution": 2, "wells": "B3:B4"},
        {"role": "sample", "name": "LOT-B", "dilution": 8, "wells": "C3:C4"},
    ]
    readings = {}
    for g in groups[:7]:
        y = float(curves.four_pl([g["concentration"]], A, B, C, D)[0]) + BLANK
        readings.update(dict.fromkeys(plate.expand_wells(g["wells"]), y))
    readings.update(dict.fromkeys(("H1", "H2"), BLANK))
    # LOT-A at 1:4 reads the midpoint (A + D) / 2: x = C, so 4 × 500 = 2000 µg/mL.
    readings.update(A3=(A + D) / 2 + BLANK - 0.01, A4=(A + D) / 2 + BLANK + 0.01)
    # LOT-A at 1:2 reads y with (A - D)/(y - D) - 1 = 2^B: x = 2C = 1000, so 2 × 1000 = 2000.
    y_1000 = D + (A - D) / (1 + 2**B)
    readings.update(B3=y_1000 + BLANK, B4=y_1000 + BLANK)
    # LOT-B reads the blank: below the lowest standard, never extrapolated.
    readings.update(C3=BLANK + A, C4=BLANK + A)
    layout = plate.PlateLayout.from_dict({"fit": "4pl", "unit": "ug/mL", "groups": groups})
    return layout, readings


def test_4pl_plate_back_calculates_samples_times_dilution_by_hand():
    layout, readings = _bca_plate()
    outcome = plate.compute_plate(layout, readings)

    assert outcome.failures == []
    assert outcome.blank_mean == pytest.approx(BLANK)
    fitted = outcome.curve.parameters
    for name, true in {"a": A, "b": B, "c": C, "d": D}.items():
        assert fitted[name] == pytest.approx(true, rel=1e-6)
    lot_a = {g.group.dilution: g for g in outcome.samples if g.name == "LOT-A"}
    assert lot_a[4.0].mean_response == pytest.approx((A + D) / 2)  # blank-corrected mean
    assert lot_a[4.0].found.value == pytest.approx(4 * 500.0, rel=1e-6)
    assert lot_a[2.0].found.value == pytest.approx(2 * 1000.0, rel=1e-6)
    reportable = {r.name: r for r in outcome.reportables()}
    assert reportable["LOT-A"].value == pytest.approx(2000.0, rel=1e-6)  # mean of dilutions
    assert reportable["LOT-B"].value is None
    assert reportable["LOT-B"].qualifier == curves.LLOQ_FLAG
    assert outcome.standards_within_percent() == 100.0


def test_a_plate_missing_a_well_says_so():
    layout, readings = _bca_plate()
    del readings["A3"]
    outcome = plate.compute_plate(layout, readings)
    assert "no reading for A3" in outcome.failures


# --- the repository's real exports ------------------------------------------------------------


def test_gen5_linear_fit_reproduces_gen5s_own_curve_and_concentrations(gen5_records):
    """The Gen5 export's layout (STD1-7 with concentrations, BLK, SPL1-6 at 4 dilutions) read
    from the file; Gen5's own fit printed in it is Y = 0.00168 X - 0.000723 (3 s.f.)."""
    readings, wavelengths = plate_files.plate_readings(gen5_records)
    assert wavelengths == {630.0}  # the file says 630 nm, whatever the assay says
    layout = plate_files.layout_from_file(gen5_records, fit="linear", unit="ug/mL")
    spl1 = [g for g in layout.groups if g.name == "SPL1"]
    assert [g.dilution for g in spl1] == [1.0, 2.0, 4.0, 8.0]  # Gen5's 1, 0.5, 0.25, 0.125

    outcome = plate.compute_plate(layout, readings)

    assert outcome.failures == []
    assert outcome.blank_mean == pytest.approx(0.001)  # H1-H3 read 0.001 each
    assert outcome.curve.parameters["slope"] == pytest.approx(0.00168, abs=5e-6)
    assert outcome.curve.parameters["intercept"] == pytest.approx(-0.000723, abs=3e-4)
    # SPL1 at 1:1, by hand: blank-corrected mean (1.997 + 2.022 + 2.075) / 3 = 2.031333,
    # (2.031333 - intercept) / slope; Gen5's [Concentration] of A4-A6 averages 1206.08.
    first = next(g for g in outcome.samples if g.name == "SPL1" and g.group.dilution == 1)
    assert first.mean_response == pytest.approx(2.031333, abs=1e-6)
    slope, intercept = outcome.curve.parameters["slope"], outcome.curve.parameters["intercept"]
    assert first.found.value == pytest.approx((2.031333333 - intercept) / slope, rel=1e-9)
    assert first.found.value == pytest.approx((1185.551 + 1200.645 + 1232.046) / 3, rel=5e-4)
    # SPL1 at 1:8 (0.125 in Gen5's layout): Gen5's concentrations 148.194, 150.080, 154.005
    # are in the well; × 8 gives the sample.
    eighth = next(g for g in outcome.samples if g.name == "SPL1" and g.group.dilution == 8)
    assert eighth.found.value == pytest.approx(8 * (148.194 + 150.080 + 154.005) / 3, rel=2e-3)


def test_gen5_4pl_on_a_straight_line_is_refused_not_reported(gen5_records):
    """The Gen5 example's standards lie on a straight line: a 4PL cannot place its upper
    asymptote or inflection, and says so instead of reporting numbers from an arbitrary c."""
    readings, _ = plate_files.plate_readings(gen5_records)
    layout = plate_files.layout_from_file(gen5_records, fit="4pl", unit="ug/mL")
    outcome = plate.compute_plate(layout, readings)
    assert any("parameters not determined" in f for f in outcome.failures)
    assert {g.found.qualifier for g in outcome.samples} == {curves.NOT_CALCULABLE}


def _softmax_layout(fit="loglog"):
    standards = [320.0, 160.0, 80.0, 40.0, 20.0, 10.0, 5.0]
    groups = [
        {
            "role": "standard",
            "name": f"{i + 1:02d}",
            "concentration": x,
            "wells": f"{'ABCDEFG'[i]}1:{'ABCDEFG'[i]}3",
        }
        for i, x in enumerate(standards)
    ] + [{"role": "blank", "name": "Blank", "wells": "H1:H3"}]
    n = 0
    for column in (4, 7, 10):
        for row in "ABCDEFGH":
            n += 1
            groups.append(
                {"role": "sample", "name": f"{n:02d}", "wells": f"{row}{column}:{row}{column + 2}"}
            )
    # SoftMax Pro's groups use the raw OD (its "Reduced" equals it): no blank subtraction.
    return plate.PlateLayout.from_dict(
        {"fit": fit, "unit": "ng/mL", "blank_subtract": False, "groups": groups}
    )


def test_softmax_log_log_fit_matches_softmax_back_calculated_concentrations(softmax_values):
    """SoftMax Pro's InterpX(STD@StandardCurve) in this export is a log-log fit over the
    standards of both plates: ours reproduces its 186 printed concentrations to 0.03 %."""
    readings: dict[str, dict[str, float | None]] = {}
    printed = {}
    for v in softmax_values:
        if v.analyte == "absorbance":
            readings.setdefault(v.plate, {})[v.well] = v.value
        elif v.analyte in ("BackCalcConc", "Conc") and v.value is not None:
            printed[(v.plate, v.well)] = v.value
    outcome = plate.compute_plate(_softmax_layout(), readings)
    assert outcome.curve is not None and outcome.failures == []
    assert len(printed) == 186
    for (plate_name, well), expected in printed.items():
        ours = 10 ** (
            (math.log10(readings[plate_name][well]) - outcome.curve.parameters["intercept"])
            / outcome.curve.parameters["slope"]
        )
        assert ours == pytest.approx(expected, rel=3e-4), (plate_name, well)
    # And the plate's own reading: sample 02 of Plate01 (B4-B6) by hand from its mean OD.
    sample = next(g for g in outcome.samples if g.name == "02" and g.plate == "Plate01")
    mean_od = (2.8813338696666664 + 2.9033054566666663 + 2.8368426206666664) / 3
    slope, intercept = outcome.curve.parameters["slope"], outcome.curve.parameters["intercept"]
    assert sample.found.value == pytest.approx(10 ** ((math.log10(mean_od) - intercept) / slope))
    assert sample.found.value == pytest.approx((283.413 + 284.751 + 280.692) / 3, rel=1e-3)


# --- LAL kinetic: log(onset time) vs log(EU/mL), USP <85> -----------------------------------


def _onset(eu_per_ml: float) -> float:
    """The hand-made curve: log10 t = 3 - 0.25 log10 EU/mL, i.e. t = 1000 · x^-0.25 s."""
    return 1000.0 * eu_per_ml**-0.25


def _lal_plate(spike_in_spl3=0.2):
    standards = (5.0, 0.5, 0.05, 0.005)
    groups = [
        {
            "role": "standard",
            "name": f"CSE {x:g}",
            "concentration": x,
            "wells": f"{'ABCD'[i]}1:{'ABCD'[i]}2",
        }
        for i, x in enumerate(standards)
    ] + [{"role": "blank", "name": "LRW", "wells": "E1:E2"}]
    readings: dict[str, float | None] = {"E1": None, "E2": None}  # water: no onset
    for i, x in enumerate(standards):
        # Duplicates 10^±0.01 apart in log: the regression line stays slope -0.25, intercept 3.
        readings[f"{'ABCD'[i]}1"] = _onset(x) * 10**0.01
        readings[f"{'ABCD'[i]}2"] = _onset(x) * 10**-0.01
    # SPL1: 0.1 EU/mL in the well at 1:10 (1.0 EU/mL in the sample); its PPC adds 0.5.
    # SPL2: no endotoxin (no onset), PPC 0.5. SPL3: 0.1 in the well, PPC recovers spike_in_spl3.
    wells = {"SPL1": (0.1, 0.6), "SPL2": (None, 0.5), "SPL3": (0.1, 0.1 + spike_in_spl3)}
    for row, (name, (unspiked, spiked)) in zip("ABC", wells.items(), strict=True):
        groups += [
            {"role": "sample", "name": name, "dilution": 10, "wells": f"{row}3:{row}4"},
            {
                "role": "spike",
                "name": name,
                "dilution": 10,
                "concentration": 0.5,
                "wells": f"{row}5:{row}6",
            },
        ]
        readings.update(
            dict.fromkeys((f"{row}3", f"{row}4"), _onset(unspiked) if unspiked else None)
        )
        readings.update(dict.fromkeys((f"{row}5", f"{row}6"), _onset(spiked)))
    layout = plate.PlateLayout.from_dict({"fit": "loglog", "unit": "EU/mL", "groups": groups})
    return layout, readings


def test_lal_log_log_curve_samples_and_spike_recovery_by_hand():
    layout, readings = _lal_plate(spike_in_spl3=0.5)
    outcome = plate.compute_plate(layout, readings)

    assert outcome.failures == []
    assert outcome.curve.parameters["slope"] == pytest.approx(-0.25)
    assert outcome.curve.parameters["intercept"] == pytest.approx(3.0)
    # x = log10 EU/mL deviates 1.5, 0.5, -0.5, -1.5 from its mean, twice: Sxx = 10; explained
    # SS = 0.25² · 10 = 0.625; residual SS = 8 · 0.01² = 0.0008; r = -√(0.625 / 0.6258).
    assert outcome.curve.statistics["r"] == pytest.approx(-math.sqrt(0.625 / 0.6258))
    values = {r.name: r for r in outcome.reportables()}
    assert values["SPL1"].value == pytest.approx(0.1 * 10)  # EU/mL in the well × dilution
    assert values["SPL2"].value is None and values["SPL2"].qualifier == plate.BELOW_LAMBDA
    recovery = {s.name: s.percent for s in outcome.spikes}
    assert recovery["SPL1"] == pytest.approx(100.0)  # (0.6 - 0.1) / 0.5
    assert recovery["SPL2"] == pytest.approx(100.0)  # (0.5 - 0) / 0.5: no onset counts as 0


def test_lal_spike_recovered_at_40_percent_makes_the_run_invalid():
    layout, readings = _lal_plate(spike_in_spl3=0.2)
    outcome = plate.compute_plate(layout, readings)
    assert {s.name: round(s.percent, 6) for s in outcome.spikes}["SPL3"] == 40.0
    assert outcome.failures == ["spike recovery of SPL3 (1:10) 40 %, outside 50-200 % (USP <85>)"]


def test_lal_curve_with_r_below_0_980_is_invalid():
    layout, readings = _lal_plate(spike_in_spl3=0.5)
    readings["A1"], readings["D2"] = 3000.0, 900.0  # two standards far off the line
    outcome = plate.compute_plate(layout, readings)
    assert abs(outcome.curve.statistics["r"]) < 0.980
    assert any("(USP <85>)" in f and "|r|" in f for f in outcome.failures)
