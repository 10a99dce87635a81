"""NTA size statistics, checked against a real NanoSight NTA 3.2 export.

The file is tidyNano's inst/extdata/beads.csv (MIT): 12 videos of 100 nm beads, copied to
../shared/data/nta/nanosight_nta32_beads.csv (see that folder's README for provenance).
"""

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assays.qc.nta import (
    SizeSummary,
    fraction_in_window,
    mean_and_standard_error,
    size_percentile,
    summarize_distribution,
    summarize_videos,
)

_FILE = "nanosight_nta32_beads.csv"
_CANDIDATES = [
    Path(__file__).resolve().parents[1] / "data" / "nta" / _FILE,
    Path(__file__).resolve().parents[3] / "shared" / "data" / "nta" / _FILE,
]
_STATS = {"Mean": "mean", "Mode": "mode", "SD": "sd", "D10": "d10", "D50": "d50", "D90": "d90"}


def _read_export(path: Path) -> dict:
    """Minimal reader for the parts of an NTA 3.2 Experiment Summary the tests need."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    n_videos = sum(1 for cell in rows[[r[0] for r in rows].index("Filename:")][1:] if cell)
    reported: dict[str, list[float]] = {}
    average: dict[str, float] = {}
    standard_error: dict[str, float] = {}
    in_size_data = False
    for i, row in enumerate(rows):
        label = row[0].strip() if row else ""
        if label == "[Size Data]":
            in_size_data = True
        key = None
        if label == "Concentration (Particles / ml)":
            key = "total_concentration"
        elif in_size_data and label in _STATS:
            key = _STATS[label]
        if key:
            reported[key] = [float(v) for v in row[1 : 1 + n_videos]]
            average[key] = float(row[1 + n_videos])
            standard_error[key] = float(row[2 + n_videos])
        if label.startswith("Bin centre"):
            bins_start = i + 1
            break
    table = []
    for row in rows[bins_start:]:
        if not row or not row[0].strip():
            break
        table.append([float(v) for v in row[: 1 + n_videos]])
    data = np.array(table)
    return {
        "bins": data[:, 0],
        "videos": [data[:, 1 + j] for j in range(n_videos)],
        "reported": reported,
        "average": average,
        "standard_error": standard_error,
    }


@pytest.fixture(scope="module")
def export() -> dict:
    for path in _CANDIDATES:
        if path.exists():
            return _read_export(path)
    pytest.fail(f"{_FILE} not found in {[str(p) for p in _CANDIDATES]}")


@pytest.fixture(scope="module")
def summaries(export) -> list[SizeSummary]:
    return [summarize_distribution(export["bins"], video) for video in export["videos"]]


def test_reader_finds_twelve_videos_of_one_nm_bins(export):
    assert len(export["videos"]) == 12
    assert np.allclose(np.diff(export["bins"]), 1.0)
    assert export["reported"]["mean"][0] == 98.7


def test_mean_and_sd_reproduce_each_videos_printed_values(export, summaries):
    for j, summary in enumerate(summaries):
        assert summary.mean == pytest.approx(export["reported"]["mean"][j], abs=0.05)
        assert summary.sd == pytest.approx(export["reported"]["sd"][j], abs=0.05)


def test_mode_by_peak_interpolation_reproduces_printed_mode(export, summaries):
    for j, summary in enumerate(summaries):
        assert summary.mode == pytest.approx(export["reported"]["mode"][j], abs=0.05)


def test_d_values_are_within_one_nm_of_the_printed_values(export, summaries):
    for j, summary in enumerate(summaries):
        for key in ("d10", "d50", "d90"):
            assert abs(getattr(summary, key) - export["reported"][key][j]) <= 1.0


def test_lower_edge_convention_reproduces_nta32_d_values_exactly(export):
    for j, video in enumerate(export["videos"]):
        summary = summarize_distribution(export["bins"], video, cumulative_at="lower_edge")
        for key in ("d10", "d50", "d90"):
            assert getattr(summary, key) == pytest.approx(export["reported"][key][j], abs=0.051)


def test_total_concentration_is_the_sum_of_bins_as_printed(export, summaries):
    for j, summary in enumerate(summaries):
        printed = export["reported"]["total_concentration"][j]  # 3 significant figures
        assert summary.total_concentration == pytest.approx(printed, rel=5e-3)


def test_lot_summary_reproduces_average_and_standard_error_columns(export):
    lot = summarize_videos(export["reported"])
    assert lot.n_videos == 12
    for key in ("mean", "mode", "sd", "d10", "d50", "d90"):
        assert getattr(lot, key).average == pytest.approx(export["average"][key], abs=0.05)
        assert getattr(lot, key).standard_error == pytest.approx(
            export["standard_error"][key], abs=0.05
        )
    concentration = lot.total_concentration
    assert concentration.average == pytest.approx(export["average"]["total_concentration"], 5e-3)
    assert concentration.standard_error == pytest.approx(
        export["standard_error"]["total_concentration"], rel=1e-2
    )


def test_lot_summary_from_recomputed_videos_matches_the_file(export, summaries):
    lot = summarize_videos(summaries)
    assert lot.mean.average == pytest.approx(export["average"]["mean"], abs=0.05)
    assert lot.sd.average == pytest.approx(export["average"]["sd"], abs=0.05)
    assert lot.mean.standard_error == pytest.approx(export["standard_error"]["mean"], abs=0.05)
    assert lot.d50.average == pytest.approx(export["average"]["d50"], abs=1.0)
    assert lot.to_dict()["mean"]["n"] == 12


def test_beads_are_more_than_90_percent_between_50_and_400_nm(export):
    for video in export["videos"]:
        assert fraction_in_window(export["bins"], video, 50, 400) > 0.90


def test_three_bin_distribution_by_hand():
    bins, conc = [99.5, 100.5, 101.5], [1.0, 2.0, 1.0]
    summary = summarize_distribution(bins, conc)
    assert summary.mean == pytest.approx(100.5)
    assert summary.sd == pytest.approx(math.sqrt(0.5))
    assert summary.mode == pytest.approx(100.5)
    assert summary.total_concentration == 4.0
    # F = 0.25, 0.75, 1 placed at the centres 99.5, 100.5, 101.5 (and F = 0 at 98.5) ...
    assert summary.d10 == pytest.approx(98.5 + 0.1 / 0.25)
    assert summary.d50 == pytest.approx(99.5 + 0.25 / 0.5)
    # ... or at the upper edges (exact for a histogram: the median of this one is 100.5) ...
    assert size_percentile(bins, conc, 0.5, cumulative_at="upper_edge") == pytest.approx(100.5)
    assert size_percentile(bins, conc, 0.1, cumulative_at="upper_edge") == pytest.approx(99.4)
    # ... or at the lower edges, as NanoSight NTA 3.2 does.
    assert size_percentile(bins, conc, 0.5, cumulative_at="lower_edge") == pytest.approx(99.5)


def test_skewed_peak_mode_moves_toward_the_heavier_neighbour():
    assert summarize_distribution([1.5, 2.5, 3.5], [2.0, 4.0, 3.0]).mode > 2.5
    assert summarize_distribution([1.5, 2.5, 3.5], [3.0, 4.0, 2.0]).mode < 2.5


def test_fraction_in_window_counts_partial_bins_proportionally():
    bins, conc = [0.5, 1.5, 2.5, 3.5], [1.0, 1.0, 1.0, 1.0]
    assert fraction_in_window(bins, conc, 1, 3) == pytest.approx(0.5)
    assert fraction_in_window(bins, conc, 0.5, 1.5) == pytest.approx(0.25)
    assert fraction_in_window(bins, conc, -10, 10) == pytest.approx(1.0)


def test_standard_error_of_a_single_video_is_not_a_number():
    result = mean_and_standard_error([98.7])
    assert result.average == 98.7 and math.isnan(result.standard_error)


@pytest.mark.parametrize(
    "bins, conc, message",
    [
        ([1.5, 2.5], [1.0], "bin centres"),
        ([1.5, 2.5], [-1.0, 2.0], "negative"),
        ([1.5, 2.5], [0.0, 0.0], "empty"),
        ([2.5, 1.5], [1.0, 1.0], "increasing"),
    ],
)
def test_invalid_distributions_are_refused(bins, conc, message):
    with pytest.raises(ValueError, match=message):
        summarize_distribution(bins, conc)


def test_unknown_statistic_names_are_refused():
    with pytest.raises(ValueError, match="unknown statistics"):
        summarize_videos({"median": [1.0, 2.0]})


@settings(max_examples=60, deadline=None)
# Concentrations as instruments report them: zero, or at least 1e-6 particles/mL (weights near
# the float minimum underflow in the weighted mean, which no NTA export contains).
@given(
    st.lists(st.one_of(st.just(0.0), st.floats(1e-6, 1e9)), min_size=5, max_size=40).filter(
        lambda w: sum(w) > 0
    )
)
def test_percentiles_are_ordered_and_inside_the_bins(conc):
    bins = np.arange(len(conc)) + 0.5
    summary = summarize_distribution(bins, conc)
    assert summary.d10 <= summary.d50 <= summary.d90
    assert -0.5 <= summary.d10 and summary.d90 <= len(conc)
    assert 0.5 <= summary.mean <= len(conc) - 0.5
