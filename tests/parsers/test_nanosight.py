"""NanoSight NTA 3.2 Experiment Summary: recomputed statistics match what the file prints."""

from pathlib import Path

import numpy as np
import pytest

from assays.parsers import ParseError, detect_format, nanosight

DATA = Path(__file__).resolve().parents[1] / "data" / "nta" / "nanosight_nta32_beads.csv"

# The file prints sizes to 0.1 nm: a correct recomputation lies within half of that.
PRINT_ROUNDING_NM = 0.05 + 1e-9
# DOMAIN.md §4: D-values may differ by up to 1 nm between NTA versions (bin-edge convention).
D_VALUE_TOLERANCE_NM = 1.0


@pytest.fixture(scope="module")
def export():
    return nanosight.parse(DATA.read_bytes())


def test_reads_twelve_videos_with_their_names(export):
    assert len(export.videos) == 12
    assert export.videos[0].name == "std_10000_yes_2_00"
    assert export.videos[-1].name == "std_10000_no_1_02"


def test_software_version_comes_from_the_created_with_line(export):
    # "Software Version" says "Unknown"; line 2 says "Created with NTA 3.2 Dev Build 3.2.16".
    assert export.software_version == "3.2 Dev Build 3.2.16"


def test_dilution_factor_not_recorded_means_one(export):
    assert export.dilution_factor == 1.0
    assert export.dilution_recorded is False
    assert all(video.dilution_factor == 1.0 for video in export.videos)


def test_size_distribution_has_1000_one_nm_bins(export):
    video = export.videos[0]
    assert video.bins_nm.shape == video.concentration_per_bin.shape == (1000,)
    assert video.bins_nm[0] == 0.5 and video.bins_nm[-1] == 999.5
    assert np.allclose(np.diff(video.bins_nm), 1.0)
    assert not video.concentration_per_bin.flags.writeable


@pytest.mark.parametrize("video_index", range(12))
def test_recomputed_mean_and_sd_reproduce_the_reported_values(export, video_index):
    video = export.videos[video_index]
    assert video.mean_nm == pytest.approx(video.reported.mean_nm, abs=PRINT_ROUNDING_NM)
    assert video.sd_nm == pytest.approx(video.reported.sd_nm, abs=PRINT_ROUNDING_NM)


def test_mean_and_sd_are_number_weighted_over_bins(export):
    video = export.videos[6]  # the broadest distribution (SD 55 nm)
    weights = video.concentration_per_bin
    mean = np.average(video.bins_nm, weights=weights)
    sd = np.sqrt(np.average((video.bins_nm - mean) ** 2, weights=weights))
    assert video.mean_nm == pytest.approx(mean, rel=1e-12)
    assert video.sd_nm == pytest.approx(sd, rel=1e-12)
    assert video.reported.mean_nm == 109.9 and video.reported.sd_nm == 55.2


@pytest.mark.parametrize("video_index", range(12))
def test_d_values_and_mode_within_one_nm_of_reported(export, video_index):
    video = export.videos[video_index]
    for name in ("d10_nm", "d50_nm", "d90_nm", "mode_nm"):
        reported = getattr(video.reported, name)
        assert reported is not None
        assert getattr(video, name) == pytest.approx(reported, abs=D_VALUE_TOLERANCE_NM), name


@pytest.mark.parametrize("video_index", range(12))
def test_concentration_is_the_sum_of_bins_as_reported(export, video_index):
    video = export.videos[video_index]
    assert video.concentration_per_ml == pytest.approx(video.concentration_per_bin.sum())
    # Printed to three significant figures (e.g. 1430000000).
    assert video.concentration_per_ml == pytest.approx(
        video.reported.concentration_per_ml, rel=5e-3
    )


def test_percentile_table_agrees_with_printed_d_values(export):
    for video in export.videos:
        percentiles = video.reported.percentiles_nm
        assert sorted(percentiles) == list(range(101))
        assert percentiles[10] == video.reported.d10_nm
        assert percentiles[50] == video.reported.d50_nm
        assert percentiles[90] == video.reported.d90_nm


def test_average_column_is_plain_mean_and_standard_error_is_sd_over_root_n(export):
    # DOMAIN.md §4: "Average" = mean of per-video values, "Standard Error" = SD/√n.
    means = np.array([video.reported.mean_nm for video in export.videos])
    assert export.reported_average["mean_nm"] == pytest.approx(means.mean(), abs=0.05)
    se = means.std(ddof=1) / np.sqrt(means.size)
    assert export.reported_standard_error["mean_nm"] == pytest.approx(se, abs=0.05)
    concentrations = np.array([v.reported.concentration_per_ml for v in export.videos])
    assert export.reported_average["concentration_per_ml"] == pytest.approx(
        concentrations.mean(), rel=5e-3
    )


def test_acquisition_conditions_are_kept_per_video(export):
    assert export.videos[0].conditions["Temperature/C"] == "22.348"
    assert export.videos[3].conditions["Camera Level"] == "10"
    assert export.details["Experiment Name"] == "std_combined.nano"


def test_recorded_dilution_factor_is_reported_not_reapplied():
    text = DATA.read_text(encoding="utf-8").replace("Not recorded", "1000")
    export = nanosight.parse(text.encode("utf-8"))
    assert export.dilution_factor == 1000.0 and export.dilution_recorded
    # The file's concentrations already include the factor: the parser must not multiply.
    assert export.videos[0].concentration_per_ml == pytest.approx(1.43e9, rel=5e-3)


def test_utf16_export_reads_the_same():
    export = nanosight.parse(DATA.read_text(encoding="utf-8").encode("utf-16"))
    assert len(export.videos) == 12
    assert export.videos[0].reported.mean_nm == 98.7


def test_detect_format_recognises_nanosight():
    assert detect_format(DATA.read_bytes(), "beads.csv") == "nanosight"


def test_file_cut_before_the_size_table_is_refused():
    data = DATA.read_bytes()
    with pytest.raises(ParseError, match="Bin centre"):
        nanosight.parse(data[: data.index(b"Bin centre")])


def test_non_numeric_bin_is_refused():
    text = DATA.read_text(encoding="utf-8").replace("\n95.5,", "\n95.5,abc,", 1)
    with pytest.raises(ParseError, match="size table row"):
        nanosight.parse(text.encode("utf-8"))


def test_other_csv_is_refused():
    with pytest.raises(ParseError, match="not an NTA 3.x Experiment Summary"):
        nanosight.parse(b"Sample ID,Viability (%)\nCLB001,96.9\n")
