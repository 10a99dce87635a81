"""Vendor exports → ASM (allotropy) → neutral result rows, on real instrument files."""

from dataclasses import dataclass
from pathlib import Path

import pytest

from assays.parsers import ParseError, asm, detect_format
from assays.parsers.asm_results import (
    MeasuredValue,
    asm_technique,
    asm_vendor_label,
    results_from_asm,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "instruments"
GARBAGE = "gen5_garbage_error.txt"


@dataclass(frozen=True)
class Export:
    filename: str
    alias: str
    vendor: str  # allotropy Vendor member name
    technique: str
    analytes: frozenset[str]


EXPORTS = [
    Export(
        "vicell_blu_example01.csv",
        "vicell_blu",
        "BECKMAN_VI_CELL_BLU",
        "cell counting",
        frozenset({"viability", "viable cell density", "total cell density", "total cell count"}),
    ),
    Export(
        "gen5_absorbance_stdcurve_singleplate.txt",
        "gen5",
        "AGILENT_GEN5",
        "plate reader",
        frozenset({"absorbance", "[Concentration]"}),
    ),
    Export(
        "softmax_pro_absorbance_endpoint_example01.txt",
        "softmax_pro",
        "MOLDEV_SOFTMAX_PRO",
        "plate reader",
        frozenset({"absorbance", "Conc", "AvgConc"}),
    ),
    Export(
        "quantstudio_example01.txt",
        "quantstudio",
        "APPBIO_QUANTSTUDIO",
        "qpcr",
        frozenset({"cycle threshold result", "ct mean"}),
    ),
    Export(
        "luminex_xponent_example02.csv",
        "luminex_xponent",
        "LUMINEX_XPONENT",
        "multi analyte profiling",
        frozenset({"fluorescence (median)", "Net MFI", "assay bead count"}),
    ),
]
IDS = [export.alias for export in EXPORTS]


def _read(filename: str) -> bytes:
    return (DATA / filename).read_bytes()


def _rows(values: list[MeasuredValue]) -> list[tuple]:
    return sorted(
        (v.plate, v.group, v.sample_id, v.well, v.target, v.analyte, v.value, v.unit)
        for v in values
    )


@pytest.fixture(scope="module")
def converted() -> dict[str, dict]:
    """Each export converted once with automatic vendor detection (allotropy is slow-ish)."""
    return {
        export.filename: asm.convert(_read(export.filename), export.filename) for export in EXPORTS
    }


@pytest.fixture(scope="module")
def results(converted) -> dict[str, list[MeasuredValue]]:
    return {filename: results_from_asm(document) for filename, document in converted.items()}


def _find(values, **fields) -> MeasuredValue:
    matches = [v for v in values if all(getattr(v, k) == want for k, want in fields.items())]
    assert len(matches) == 1, f"{len(matches)} rows match {fields}"
    return matches[0]


@pytest.mark.parametrize("export", EXPORTS, ids=IDS)
def test_vendor_is_detected(export):
    assert asm.detect_vendor(_read(export.filename), export.filename).name == export.vendor


@pytest.mark.parametrize("export", EXPORTS, ids=IDS)
def test_converts_to_asm_and_maps_to_expected_analytes(export, converted, results):
    document = converted[export.filename]
    assert document["$asm.manifest"].startswith("http://purl.allotrope.org/manifests/")
    assert asm_technique(document) == export.technique
    values = results[export.filename]
    assert values and all(isinstance(v, MeasuredValue) for v in values)
    assert export.analytes <= {v.analyte for v in values}
    assert all(v.unit for v in values)
    assert any(v.value is not None for v in values)


@pytest.mark.parametrize("export", EXPORTS, ids=IDS)
@pytest.mark.parametrize("hint_kind", ["alias", "vendor"])
def test_vendor_hint_gives_the_same_results(export, hint_kind, results):
    hint = export.alias if hint_kind == "alias" else export.vendor
    document = asm.convert(_read(export.filename), export.filename, hint)
    assert _rows(results_from_asm(document)) == _rows(results[export.filename])


def test_vicell_viability_and_cell_density(results):
    values = results["vicell_blu_example01.csv"]
    viability = _find(values, sample_id="CLB001", analyte="viability")
    assert (viability.value, viability.unit) == (96.9, "%")
    density = _find(values, sample_id="CLB001", analyte="viable cell density")
    assert (density.value, density.unit) == (0.75, "10^6 cells/mL")
    count = _find(values, sample_id="CLB001", analyte="total cell count")
    assert (count.value, count.unit) == (2191, "cell")
    assert len({v.sample_id for v in values}) == 10


def test_quantstudio_ct_per_well_and_target(results):
    values = results["quantstudio_example01.txt"]
    ct = _find(values, well="A1", analyte="cycle threshold result")
    assert (ct.sample_id, ct.target, ct.value, ct.unit) == (
        "1SAMPLE_1.1",
        "TARGET_1",
        18.717,
        "(unitless)",
    )
    assert _find(values, well="A16", analyte="cycle threshold result").value == 18.106
    mean = _find(values, well="A1", analyte="ct mean")
    assert (mean.sample_id, mean.target, mean.value) == ("1SAMPLE_1.1", "TARGET_1", 18.717)


def test_gen5_absorbance_and_concentration_per_well(results):
    values = results["gen5_absorbance_stdcurve_singleplate.txt"]
    a1 = _find(values, well="A1", analyte="absorbance")
    assert (a1.sample_id, a1.value, a1.unit, a1.plate) == ("STD1", 3.337, "mAU", "Plate 1")
    assert [v.replicate for v in values if v.sample_id == "STD1" and v.analyte == "absorbance"] == [
        "1",
        "2",
        "3",
    ]
    assert _find(values, well="H12", analyte="[Concentration]").value == 115.184


def test_softmax_utf16_export_keeps_groups_apart(results):
    values = results["softmax_pro_absorbance_endpoint_example01.txt"]
    standard = _find(values, plate="Plate01", well="A1", analyte="absorbance")
    assert (standard.group, standard.sample_id, standard.replicate) == ("Standards", "01", "1")
    assert standard.value == pytest.approx(3.41797666666667)
    unknown = _find(values, plate="Plate01", well="A4", analyte="absorbance")
    assert (unknown.group, unknown.sample_id, unknown.replicate) == ("UnknownsNoDiln", "01", "1")
    # A statistic over triplicate wells lists the wells it came from.
    sd = [v for v in values if v.analyte == "SD" and v.group == "UnknownsNoDiln"]
    assert sd and all(len(v.well.split(",")) == 3 for v in sd)


def test_luminex_values_per_analyte(results):
    values = results["luminex_xponent_example02.csv"]
    median = _find(values, sample_id="Unknown1", target="alpha", analyte="fluorescence (median)")
    assert (median.well, median.value, median.unit) == ("A1", 10921.5, "RFU")
    net = _find(values, sample_id="Unknown1", target="bravo", analyte="Net MFI")
    assert (net.well, net.value) == ("A1", 37214.0)
    beads = _find(values, sample_id="Unknown4", target="bravo", analyte="assay bead count")
    assert beads.value == 42.0
    assert {v.target for v in values} == {"", "alpha", "bravo"}


@pytest.mark.parametrize(
    ("filename", "label"),
    [
        ("gen5_absorbance_stdcurve_singleplate.txt", "Gen5 3.12.08"),
        ("quantstudio_example01.txt", "Thermo QuantStudio 1.0 (ViiA 7)"),
        ("luminex_xponent_example02.csv", "xPONENT 4.3.229.0 (FlexMAP 3D)"),
        ("vicell_blu_example01.csv", "Vi-Cell BLU"),
    ],
)
def test_vendor_label(filename, label, converted):
    assert asm_vendor_label(converted[filename]) == label


def test_utf16_vicell_export_converts_like_utf8(results):
    data = _read("vicell_blu_example01.csv").decode("utf-8").encode("utf-16")
    values = results_from_asm(asm.convert(data, "vicell_blu_example01.csv"))
    assert _rows(values) == _rows(results["vicell_blu_example01.csv"])


def test_garbage_gen5_file_is_refused_with_a_clear_message():
    with pytest.raises(ParseError, match="no supported instrument export recognised") as info:
        asm.convert(_read(GARBAGE), GARBAGE)
    assert str(info.value).startswith(GARBAGE + ": ")
    with pytest.raises(ParseError, match=r"not a readable Agilent Gen5 export.*No plate data"):
        asm.convert(_read(GARBAGE), GARBAGE, "gen5")


def test_detect_format():
    assert detect_format(_read("quantstudio_example01.txt"), "run.txt") == "asm"
    with pytest.raises(ParseError, match="no allotropy vendor format recognised"):
        detect_format(_read(GARBAGE), GARBAGE)


def test_unknown_vendor_hint_lists_the_aliases():
    with pytest.raises(ParseError, match="unknown instrument vendor 'spectramax'.*softmax_pro"):
        asm.convert(_read("vicell_blu_example01.csv"), "vicell.csv", "spectramax")


def test_hint_for_another_file_type_is_refused():
    with pytest.raises(ParseError, match=r"Agilent Gen5 exports are \.txt files, not \.csv"):
        asm.convert(_read("vicell_blu_example01.csv"), "vicell.csv", "gen5")


def test_every_alias_names_allotropy_vendors():
    for alias in asm.VENDORS:
        assert asm.vendor_for_alias(alias)


def test_empty_file_is_refused():
    with pytest.raises(ParseError, match="empty"):
        asm.convert(b"", "run.csv")


@pytest.mark.parametrize("document", [[], {}, {"$asm.manifest": "x"}, "text"])
def test_results_from_non_asm_is_refused(document):
    with pytest.raises(ParseError):
        results_from_asm(document)


def test_undetermined_ct_is_kept_as_a_row_without_value():
    # allotropy drops an "Undetermined" Ct from the ASM entirely; for a mycoplasma qPCR that
    # is the "not detected" result, so the mapping must still return a row for the well.
    lines = _read("quantstudio_example01.txt").split(b"\n")
    undetermined = b"\n".join(
        line.replace(b"18.717\t18.717", b"Undetermined\t")
        if line.startswith(b"1\tA1\tfalse")
        else line
        for line in lines
    )
    values = results_from_asm(asm.convert(undetermined, "quantstudio_example01.txt"))
    ct = _find(values, well="A1", analyte="cycle threshold result")
    assert (ct.sample_id, ct.target, ct.value) == ("1SAMPLE_1.1", "TARGET_1", None)
    assert "Undetermined" in ct.qualifier


def _measurement(identifier: str, well: str, quantity: dict, **extra) -> dict:
    return {
        "measurement identifier": identifier,
        "sample document": {"sample identifier": "S1", "location identifier": well},
        "device control aggregate document": {
            "device control document": [
                {"detector wavelength setting": {"value": 450.0, "unit": "nm"}}
            ]
        },
        "absorbance": quantity,
        **extra,
    }


def test_non_numeric_values_errors_and_calculated_chains():
    document = {
        "$asm.manifest": "http://purl.allotrope.org/manifests/plate-reader/REC/2025/03",
        "plate reader aggregate document": {
            "plate reader document": [
                {
                    "measurement aggregate document": {
                        "plate well count": {"value": 96, "unit": "#"},
                        "measurement document": [
                            _measurement("m1", "A1", {"value": 0.5, "unit": "mAU"}),
                            _measurement(
                                "m2",
                                "A2",
                                {"value": "NaN", "unit": "mAU"},
                                **{
                                    "error aggregate document": {
                                        "error document": [
                                            {"error": "Overflow", "error feature": "absorbance"}
                                        ]
                                    }
                                },
                            ),
                        ],
                    }
                }
            ],
            "calculated data aggregate document": {
                "calculated data document": [
                    {
                        "calculated data name": "mean OD",
                        "calculated data identifier": "c1",
                        "calculated result": {"value": 0.5, "unit": "(unitless)"},
                        "data source aggregate document": {
                            "data source document": [
                                {"data source identifier": "m1"},
                                {"data source identifier": "m2"},
                            ]
                        },
                    },
                    {
                        "calculated data name": "concentration",
                        "calculated result": {"value": 12.0, "unit": "µg/mL"},
                        "data source aggregate document": {
                            "data source document": [{"data source identifier": "c1"}]
                        },
                    },
                ]
            },
        },
    }
    values = results_from_asm(document)
    assert [(v.analyte, v.well, v.value, v.qualifier) for v in values] == [
        ("absorbance", "A1", 0.5, ""),
        ("absorbance", "A2", None, "Overflow"),
        ("mean OD", "A1,A2", 0.5, ""),
        ("concentration", "A1,A2", 12.0, ""),
    ]
    assert [v.replicate for v in values[:2]] == ["1", "2"]
    assert {v.sample_id for v in values} == {"S1"}
