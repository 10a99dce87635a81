"""Figure builders of assays/charts.py: plain data in, the expected traces out (no database)."""

import json

import numpy as np
import pytest

from assays import charts
from assays.parsers import nanosight
from assays.qc import curves, westgard
from tests.qc_engine.conftest import NTA_FILE, array


def _figure(fig) -> dict:
    return json.loads(fig.to_json())


def _shape_names(figure) -> set[str]:
    return {s.get("name") for s in figure["layout"].get("shapes", [])}


def test_nta_figure_has_each_video_the_mean_and_d_values_from_the_real_file():
    export = nanosight.parse(NTA_FILE.read_bytes())
    videos = {v.name: v.concentration_per_bin for v in export.videos}
    d_values = {"D10": 87.0, "D50": 96.2, "D90": 109.5}

    figure = _figure(
        charts.nta_distribution_figure(export.videos[0].bins_nm, videos, d_values=d_values)
    )

    names = [t["name"] for t in figure["data"]]
    assert names[:12] == list(videos)
    assert names[12] == "Mean of 12 videos"
    assert {t["type"] for t in figure["data"]} == {"scatter"}
    # Bins past the last occupied one are left out; the axis opens on the bulk of particles.
    x = array(figure["data"][12]["x"])
    occupied = np.flatnonzero(np.max(list(videos.values()), axis=0))
    assert x[0] == pytest.approx(max(0.5, occupied[0] + 0.5 - 20))
    assert x[-1] == pytest.approx(occupied[-1] + 0.5 + 20)
    expected = np.mean(list(videos.values()), axis=0)[
        (export.videos[0].bins_nm >= x[0]) & (export.videos[0].bins_nm <= x[-1])
    ]
    np.testing.assert_allclose(array(figure["data"][12]["y"]), expected)
    low, high = figure["layout"]["xaxis"]["range"]
    assert 30 < low < 80 and 150 < high < 270
    shapes = {s["name"]: s for s in figure["layout"]["shapes"]}
    assert {name: shapes[name]["x0"] for name in d_values} == d_values


def test_standard_curve_figure_draws_fit_standards_and_unknowns_and_flags_the_rest():
    x = [0, 25, 125, 250, 500, 750, 1000, 1500, 2000] * 2
    y = curves.four_pl(x, 0.1, 1.2, 500.0, 2.5)
    unknown = curves.four_pl([300.0, 600.0], 0.1, 1.2, 500.0, 2.5).tolist() + [2.45, 0.05]

    figure = _figure(
        charts.standard_curve_figure(x, y, unknown, unknown_names=["S1", "S2", "S3", "S4"])
    )

    traces = {t["name"].split(" (")[0]: t for t in figure["data"]}
    assert set(traces) == {"4PL fit", "Standards", "Unknowns", "Unknowns outside the range"}
    assert len(array(traces["Standards"]["x"])) == 18
    np.testing.assert_allclose(array(traces["Unknowns"]["x"]), [300.0, 600.0], rtol=1e-6)
    assert traces["Unknowns outside the range"]["text"] == ["S3 >ULOQ", "S4 <LLOQ"]
    assert _shape_names(figure) == {"LLOQ", "ULOQ"}


def test_qpcr_figure_has_asymmetric_95_percent_error_bars_on_a_log_axis():
    figure = _figure(
        charts.qpcr_rq_figure(["miR-21", "miR-146a"], [4.0, 0.5], [3.0, None], [5.5, None])
    )

    (trace,) = figure["data"]
    assert trace["name"] == "RQ (95 % CI)" and trace["x"] == ["miR-21", "miR-146a"]
    np.testing.assert_allclose(array(trace["error_y"]["array"])[:1], [1.5])
    np.testing.assert_allclose(array(trace["error_y"]["arrayminus"])[:1], [1.0])
    assert np.isnan(array(trace["error_y"]["array"])[1])  # single replicates: no interval
    assert figure["layout"]["yaxis"]["type"] == "log"


def test_levey_jennings_marks_the_worked_westgard_example_with_one_trace_per_rule():
    values = [101, 97, 111, 99, 117, 103, 111, 112, 106, 106, 107, 106, 102, 101]
    flags = westgard.evaluate(values, 100.0, 5.0)

    figure = _figure(
        charts.levey_jennings_figure(
            list(range(1, 15)), values, mean=100.0, sd=5.0, flags=flags, lsl=85.0, usl=115.0
        )
    )

    traces = {t["name"]: t for t in figure["data"]}
    assert list(traces) == [
        "Values",
        "Westgard 1-2s",
        "Westgard 1-3s",
        "Westgard 2-2s",
        "Westgard 4-1s",
        "Westgard 10x",
    ]
    assert traces["Westgard 1-3s"]["x"] == [5]
    assert traces["Westgard 4-1s"]["x"] == [10, 11, 12]
    assert len({t["marker"]["symbol"] for name, t in traces.items() if name != "Values"}) == 5
    shapes = {s["name"]: s["y0"] for s in figure["layout"]["shapes"]}
    assert shapes["mean"] == 100 and shapes["+3 SD"] == 115 and shapes["−2 SD"] == 90
    assert shapes["LSL"] == 85 and shapes["USL"] == 115


def test_trend_figure_of_5000_points_uses_webgl_typed_arrays_and_a_trace_per_rule():
    """What keeps a large trend cheap to build and draw, checked as facts rather than timed:
    WebGL, the values as one typed array, one marker trace per Westgard rule (not per point)
    and a fixed set of reference lines whatever the number of points."""
    rng = np.random.default_rng(4)
    values = rng.normal(100.0, 5.0, 5000)
    x = np.arange(5000)

    flags = westgard.evaluate(values, 100.0, 5.0)
    fig = charts.levey_jennings_figure(x, values, mean=100.0, sd=5.0, flags=flags, webgl=True)
    figure = json.loads(fig.to_json())

    values_trace = figure["data"][0]
    assert values_trace["type"] == "scattergl"
    assert len(array(values_trace["y"])) == 5000
    assert "bdata" in values_trace["y"]  # NumPy array passed as a typed array, not a list
    rules_hit = {rule for point in flags for rule in point}
    assert len(rules_hit) >= 2  # the series does trip rules: their markers are drawn below
    assert [t["name"] for t in figure["data"][1:]] == [
        f"Westgard {rule}" for rule in westgard.RULES if rule in rules_hit
    ]
    small = charts.levey_jennings_figure(x[:50], values[:50], mean=100.0, sd=5.0, webgl=True)
    assert len(figure["layout"]["shapes"]) == len(small.layout.shapes)
    assert len(figure["layout"].get("annotations", [])) == len(small.layout.annotations)
    # The app serves plotly.js's CSP-safe strict build, so pages use WebGL by default;
    # webgl=False still gives SVG.
    assert charts.levey_jennings_figure(x, values, mean=100.0, sd=5.0).data[0].type == "scattergl"
    fig_svg = charts.levey_jennings_figure(x, values, mean=100.0, sd=5.0, webgl=False)
    assert fig_svg.data[0].type == "scatter"


def test_small_series_stay_svg_even_with_webgl():
    assert charts.scatter_class(1000, webgl=True).__name__ == "Scatter"
    assert charts.scatter_class(1001, webgl=True).__name__ == "Scattergl"


def test_growth_figure_has_cumulative_doublings_over_time_and_by_passage():
    figure = _figure(
        charts.growth_figure(
            [1, 2, 3],
            ["2025-01-01", "2025-01-05", "2025-01-10"],
            ["2025-01-05", "2025-01-10", None],
            [2.0, 3.0, None],
        )
    )

    traces = {t["name"]: t for t in figure["data"]}
    assert traces["Cumulative PD (time)"]["x"] == ["2025-01-01", "2025-01-05", "2025-01-10"]
    assert traces["Cumulative PD (time)"]["y"] == [0.0, 2.0, 5.0]
    assert traces["PD per passage"]["type"] == "bar"
    assert traces["PD per passage"]["x"] == ["P1", "P2"]
    np.testing.assert_allclose(array(traces["Cumulative PD (passage)"]["y"]), [2.0, 5.0])
