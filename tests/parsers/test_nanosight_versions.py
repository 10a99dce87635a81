"""NTA D-values exact to the instrument: the bin-edge convention follows the software version,
printed values are the reportable ones, disagreements and the software's warnings are kept."""

from pathlib import Path

import pytest

from assays.parsers import nanosight
from tests.parsers.nta34_export import EXPECTED, SHIFT_NM, nta34_export

NTA32 = Path(__file__).resolve().parents[1] / "data" / "nta" / "nanosight_nta32_beads.csv"
D_VALUES = ("d10_nm", "d50_nm", "d90_nm")


@pytest.mark.parametrize(
    ("version", "convention"),
    [
        ("3.0.0", "lower_edge"),
        ("3.1.54", "lower_edge"),
        ("3.2 Dev Build 3.2.16", "lower_edge"),
        ("3.3.104", "upper_edge"),
        ("3.4.4", "upper_edge"),
        ("NTA 3.4 Build 3.4.003", "upper_edge"),
        ("3.10.1", "upper_edge"),
        ("", None),
        ("Unknown", None),
        ("2.3", None),
    ],
)
def test_convention_follows_the_software_version(version, convention):
    assert nanosight.cumulative_convention(version) == convention


def test_nta32_reproduces_every_printed_d_value_within_005_nm():
    export = nanosight.parse(NTA32.read_bytes())
    assert export.cumulative_at == "lower_edge"
    for video in export.videos:
        for name in D_VALUES:
            printed = getattr(video.reported, name)
            assert getattr(video, name) == pytest.approx(printed, abs=0.05 + 1e-9), (video, name)
        assert video.disagreements == ()


def test_nta34_upper_edge_reproduces_the_hand_calculation_and_the_printed_values():
    export = nanosight.parse(nta34_export())
    assert export.software_version == "3.4.4"
    assert export.cumulative_at == "upper_edge"
    first, second = export.videos
    for name, value in EXPECTED.items():
        assert getattr(first, name) == pytest.approx(value, abs=1e-9), name
        shifted = value + SHIFT_NM if name.endswith("_nm") and name != "sd_nm" else value
        assert getattr(second, name) == pytest.approx(shifted, abs=1e-9), name
    for video in export.videos:
        for name in D_VALUES:
            assert getattr(video, name) == pytest.approx(getattr(video.reported, name), abs=0.1)
        assert video.disagreements == ()


def test_the_nta32_convention_on_a_34_file_would_be_one_nm_low_and_is_flagged(monkeypatch):
    # The defect this replaces: one convention for every version put 3.4 D-values 1 nm low.
    monkeypatch.setattr(nanosight, "cumulative_convention", lambda version: "lower_edge")
    video = nanosight.parse(nta34_export()).videos[0]
    assert video.d50_nm == pytest.approx(99.0)
    assert {d.statistic for d in video.disagreements} == set(D_VALUES)
    assert video.disagreements[0].difference == pytest.approx(96.25 - 97.3)


def test_printed_values_are_the_reportable_ones_recomputed_beside_them():
    video = nanosight.parse(nta34_export()).videos[0]
    assert video.reportable("d10_nm") == 97.3  # as printed
    assert video.d10_nm == pytest.approx(97.25)  # recomputed, kept beside it
    assert video.reportable("concentration_per_ml") == 4.0e8


def test_unknown_version_uses_the_iso_convention_and_says_so():
    export = nanosight.parse(nta34_export(version="Unknown"))
    assert export.cumulative_at == "upper_edge"
    assert any("version" in note for note in export.notes)


def test_particles_per_frame_and_the_softwares_warnings_are_kept():
    first, second = nanosight.parse(nta34_export()).videos
    assert (first.particles_per_frame, second.particles_per_frame) == (42.5, 12.0)
    assert first.alerts == {}
    assert second.alerts == {"Concentration Warnings: Particles per frame": "Too low"}
    assert second.warnings["Information: Vibration detected"] == "No"


def test_unrecorded_dilution_is_noted():
    export = nanosight.parse(nta34_export())
    assert export.dilution_recorded is False
    assert "Dilution factor not recorded in the file" in export.notes
    assert nanosight.parse(nta34_export(dilution="10")).dilution_recorded is True
