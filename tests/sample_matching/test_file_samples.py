"""Every reader's output as samples named by the file (assays.parsers.file_samples), on the real
exports of tests/data: one record per sample and position, never one mean over samples."""

from pathlib import Path

import pytest

from assays.parsers import asm
from assays.parsers.asm_results import MeasuredValue
from assays.parsers.file_samples import Role, identify, records_from_asm, records_from_values

DATA = Path(__file__).resolve().parents[1] / "data" / "instruments"


@pytest.fixture(scope="module")
def records():
    names = (
        "vicell_blu_example01.csv",
        "gen5_absorbance_stdcurve_singleplate.txt",
        "quantstudio_example01.txt",
        "luminex_xponent_example02.csv",
        "softmax_pro_absorbance_endpoint_example01.txt",
    )
    return {n: records_from_asm(asm.convert((DATA / n).read_bytes(), n)) for n in names}


def _value(record, name):
    return next(v for v in record.values if v.name == name)


def test_vicell_gives_one_record_per_row_under_the_files_names(records):
    vicell = records["vicell_blu_example01.csv"]
    names = [r.identifier for r in vicell]
    # CLB004 is not in the export; CLB008's row is an instrument error.
    assert names == [f"CLB{n:03d}" for n in (1, 2, 3, 5, 6, 7, 8, 9, 10, 11)]
    assert {r.role for r in vicell} == {Role.SAMPLE}
    assert [r.position for r in vicell][:2] == ["row 1", "row 2"]
    clb011 = vicell[-1]
    assert _value(clb011, "viability").value == pytest.approx(72.06)  # not the 93.4 % mean


def test_gen5_layout_names_roles_and_wavelength(records):
    gen5 = records["gen5_absorbance_stdcurve_singleplate.txt"]
    assert len(gen5) == 96
    by_well = {r.position: r for r in gen5}
    assert (by_well["A1"].identifier, by_well["A1"].role, by_well["A1"].layout_value) == (
        "STD1",
        Role.STANDARD,
        2000.0,
    )
    assert (by_well["H1"].identifier, by_well["H1"].role) == ("BLK", Role.BLANK)
    b5 = by_well["B5"]
    assert (b5.identifier, b5.label, b5.role, b5.layout_value) == (
        "SPL1",
        "SPL1:2",
        Role.SAMPLE,
        0.5,
    )
    assert _value(b5, "absorbance").value == pytest.approx(1.012)
    assert {v.wavelength_nm for r in gen5 for v in r.values} == {630.0}
    roles = {role: sum(r.role == role for r in gen5) for role in Role}
    assert roles == {Role.SAMPLE: 72, Role.STANDARD: 21, Role.BLANK: 3, Role.CONTROL: 0}


def test_quantstudio_sample_role_and_target(records):
    qpcr = records["quantstudio_example01.txt"]
    assert qpcr[0].identifier == "1SAMPLE_1.1" and qpcr[0].position == "A1"
    assert {r.role for r in qpcr} == {Role.SAMPLE}
    assert _value(qpcr[0], "cycle threshold result").target == "TARGET_1"


def test_luminex_wells_by_name(records):
    luminex = records["luminex_xponent_example02.csv"]
    assert [(r.identifier, r.position, r.role) for r in luminex] == [
        (f"Unknown{n}", f"{row}1", Role.SAMPLE) for n, row in zip(range(1, 5), "ABCD", strict=True)
    ]


def test_softmax_groups_keep_their_numbering_apart(records):
    softmax = records["softmax_pro_absorbance_endpoint_example01.txt"]
    a1 = next(r for r in softmax if r.position == "A1")
    a4 = next(r for r in softmax if r.position == "A4")
    assert (a1.identifier, a1.role) == ("Standards 01", Role.STANDARD)
    assert (a4.identifier, a4.role) == ("UnknownsNoDiln 01", Role.SAMPLE)
    assert {v.wavelength_nm for v in a4.values} == {450.0}


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("SPL12:3", ("SPL12", Role.SAMPLE)),
        ("STD1", ("STD1", Role.STANDARD)),
        ("BLK", ("BLK", Role.BLANK)),
        ("CTL2", ("CTL2", Role.CONTROL)),
        ("Background0", ("Background0", Role.BLANK)),
        ("Standard3", ("Standard3", Role.STANDARD)),
        ("EXO-2026-0001", ("EXO-2026-0001", None)),
        ("SPLIT-7", ("SPLIT-7", None)),
    ],
)
def test_layout_names(label, expected):
    assert identify(label) == expected


def test_the_asm_role_type_wins_over_the_name():
    values = [
        MeasuredValue("Unknown1", "ct", 30.0, "", well="A1", role_type="negative control role"),
        MeasuredValue("STD1", "ct", 20.0, "", well="A2", role_type="unknown sample role"),
    ]
    assert [r.role for r in records_from_values(values)] == [Role.CONTROL, Role.SAMPLE]


def test_a_sample_counted_twice_is_two_rows():
    values = [
        MeasuredValue("CB-1", "viability", 90.0, "%", replicate="1"),
        MeasuredValue("CB-1", "viability", 80.0, "%", replicate="2"),
    ]
    records = records_from_values(values)
    assert [(r.identifier, r.position, r.values[0].value) for r in records] == [
        ("CB-1", "row 1", 90.0),
        ("CB-1", "row 2", 80.0),
    ]
