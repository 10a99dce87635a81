"""Flow results from events (issue 10 item 4): a gate, a control-derived threshold per marker,
% positive and the ISCT verdict, from the repository's real FCS files, checked against a hand
calculation written out here (order statistics, not numpy.percentile)."""

import math
from pathlib import Path

import numpy as np
import pytest

from assays.parsers import fcs
from assays.qc import flow
from tests import fcs_files

DATA = Path(__file__).resolve().parents[1] / "data" / "fcs"
CELLQUEST = fcs.parse((DATA / "flowio_3FITC_4PE_004.fcs").read_bytes())
G11 = fcs.parse((DATA / "flowio_G11_fcs31.fcs").read_bytes())

CELLQUEST_GATING = flow.FlowGating.from_json(
    {
        "gate": {"x_channel": "FSC-H", "y_channel": "SSC-H", "x_min": 300, "x_max": 900,
                 "y_min": 100, "y_max": 900},
        "markers": {"CD73": "FL1-H", "CD90": "FL2-H"},
        "percentile": 99,
        "control": "isotype",
    }
)  # fmt: skip


def channels(data):
    return [(c.name, c.label) for c in data.channels]


def hand_threshold(values, p):
    """Hyndman & Fan type 7 by hand: h = (n − 1)·p/100, x(⌊h⌋) + (h − ⌊h⌋)·(x(⌊h⌋+1) − x(⌊h⌋))."""
    ordered = sorted(float(v) for v in values)
    h = (len(ordered) - 1) * p / 100
    low = math.floor(h)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (h - low) * (ordered[high] - ordered[low])


def hand_gate(events, names, gate):
    x, y = names.index(gate.x_channel), names.index(gate.y_channel)
    return [
        row
        for row in events.tolist()
        if gate.x_min <= row[x] <= gate.x_max and gate.y_min <= row[y] <= gate.y_max
    ]


def unstained_control(data, divide_by):
    """A control tube made from the real events: the same scatter, fluorescence / divide_by."""
    events = data.events.copy()
    events[:, 2:] /= divide_by
    return fcs.parse(fcs_files.dataset(events, data.channel_names, datatype="F", version="3.0"))


def analyse(sample, control, gating=CELLQUEST_GATING):
    return flow.analyse_events(
        sample,
        control,
        gating,
        sample_channels=channels(sample),
        control_channels=channels(control),
    )


def test_real_file_as_its_own_control_is_about_one_percent_positive_by_hand():
    result = analyse(CELLQUEST, CELLQUEST)
    gated = hand_gate(CELLQUEST.events, CELLQUEST.channel_names, CELLQUEST_GATING.gate)
    assert result.sample_events == 94569
    assert result.sample_in_gate == result.control_in_gate == len(gated)
    for statistic, column in zip(result.markers, (2, 3), strict=True):
        values = [row[column] for row in gated]
        threshold = hand_threshold(values, 99)
        above = sum(v > threshold for v in values)
        assert statistic.threshold == pytest.approx(threshold, rel=1e-12)
        assert statistic.positive == above
        assert statistic.percent_positive == pytest.approx(100 * above / len(gated))
        # About 1 % of the control lies above its own 99th percentile (ties and the
        # interpolation between order statistics move it by a few events).
        assert 0.9 < statistic.percent_positive < 1.01


def test_real_file_against_an_unstained_control_by_hand():
    control = unstained_control(CELLQUEST, divide_by=20)
    result = analyse(CELLQUEST, control)
    gated = hand_gate(CELLQUEST.events, CELLQUEST.channel_names, CELLQUEST_GATING.gate)
    control_gated = hand_gate(control.events, control.channel_names, CELLQUEST_GATING.gate)
    for statistic, column in zip(result.markers, (2, 3), strict=True):
        threshold = hand_threshold([row[column] for row in control_gated], 99)
        above = sum(row[column] > threshold for row in gated)
        assert statistic.threshold == pytest.approx(threshold, rel=1e-6)
        assert statistic.positive == above
        assert statistic.percent_positive == pytest.approx(100 * above / len(gated))
    # CD73 and CD90 measured, the rest of the panel not: identity not shown.
    assert result.verdict.passed is False
    assert "CD45" in result.verdict.missing


def test_fcs31_file_gated_on_area_channels_by_hand():
    gating = flow.FlowGating.from_json(
        {
            "gate": {"x_channel": "FSC-A", "y_channel": "SSC-A", "x_min": 50000,
                     "x_max": 1000000, "y_min": 50000},
            "markers": {"CD105": "BL1-A", "HLA-DR": "mCherry-A"},
        }
    )  # fmt: skip
    result = analyse(G11, G11, gating)
    names = G11.channel_names
    gated = [
        row
        for row in G11.events.tolist()
        if 50000 <= row[names.index("FSC-A")] <= 1000000 and row[names.index("SSC-A")] >= 50000
    ]
    assert result.sample_in_gate == len(gated)
    yl2 = names.index("YL2-A")  # "mCherry-A" is YL2-A's $PnS label
    values = [row[yl2] for row in gated]
    threshold = hand_threshold(values, 99)
    assert result.markers[1].channel == "YL2-A"
    assert result.markers[1].positive == sum(v > threshold for v in values)


def test_isct_verdict_from_events_of_a_full_panel():
    rng = np.random.default_rng(2006)
    names = ["FSC-A", "SSC-A", "CD73", "CD90", "CD105", "CD45", "CD34", "CD14", "CD19", "HLA-DR"]
    control = np.column_stack(
        [rng.uniform(200, 800, 4000), rng.uniform(100, 600, 4000), rng.normal(100, 10, (4000, 8))]
    )
    sample = control.copy()
    sample[:, 2:5] += 500  # positive markers: every event far above the control
    gating = flow.FlowGating(
        gate=flow.RectangleGate("FSC-A", "SSC-A", 150, 850, 50, 650),
        markers=tuple(flow.MarkerChannel(n, "") for n in names[2:]),
    )
    labelled = [(n, n if n.startswith(("CD", "HLA")) else "") for n in names]

    class Tube:
        def __init__(self, events):
            self.events = events

        def channel_index(self, name):
            return names.index(name)

    result = flow.analyse_events(
        Tube(sample), Tube(control), gating, sample_channels=labelled, control_channels=labelled
    )
    assert result.unmeasured == ()
    assert result.percentages["CD73"] == 100.0
    assert result.percentages["CD45"] <= 1.0
    assert result.verdict.passed is True


def test_marker_found_by_its_stain_label_and_ambiguity_refused():
    labelled = [("FL1-A", "CD73 APC"), ("FL2-A", "CD73-PE"), ("FL3-A", "CD105 BV421")]
    tube = type("Tube", (), {"channel_index": lambda self, name: 0})()
    assert flow.marker_column(tube, labelled, flow.MarkerChannel("CD105")) == 2
    assert not flow._labelled(labelled, "CD10")
    with pytest.raises(ValueError, match="2 channels"):
        flow.marker_column(tube, labelled, flow.MarkerChannel("CD73"))
    with pytest.raises(ValueError, match="no channel"):
        flow.marker_column(tube, labelled, flow.MarkerChannel("CD10"))


def test_empty_gate_or_missing_channel_is_a_clear_error():
    empty = flow.FlowGating.from_json(
        {"gate": {"x_channel": "FSC-H", "y_channel": "SSC-H", "x_min": 5000},
         "markers": {"CD73": "FL1-H"}}
    )  # fmt: skip
    with pytest.raises(ValueError, match="no sample event lies in the gate"):
        analyse(CELLQUEST, CELLQUEST, empty)
    wrong = flow.FlowGating.from_json(
        {"gate": {"x_channel": "FSC-A", "y_channel": "SSC-H"}, "markers": {"CD73": "FL1-H"}}
    )
    with pytest.raises(ValueError, match="no channel 'FSC-A'"):
        analyse(CELLQUEST, CELLQUEST, wrong)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "must be an object"),
        ({"markers": {"CD73": ""}}, "needs a gate"),
        ({"gate": {"x_channel": "A", "y_channel": "B"}, "markers": {}}, "names no marker"),
        ({"gate": {"x_channel": "A", "y_channel": "B", "x_min": 5, "x_max": 1},
          "markers": {"CD73": ""}}, "x_min must be below"),
        ({"gate": {"x_channel": "A", "y_channel": "B", "y_min": "abc"},
          "markers": {"CD73": ""}}, "not a number"),
        ({"gate": {"x_channel": "A", "y_channel": "B"}, "markers": {"CD73": ""},
          "percentile": 100}, "percentile"),
        ({"gate": {"x_channel": "A", "y_channel": "B"}, "markers": {"CD73": ""},
          "control": "none"}, "control must be"),
        ({"gate": {"x_channel": "", "y_channel": "B"}, "markers": {"CD73": ""}}, "x and a y"),
    ],
)  # fmt: skip
def test_gating_json_is_validated(raw, message):
    with pytest.raises(ValueError, match=message):
        flow.FlowGating.from_json(raw)


def test_gating_round_trips_through_json():
    assert flow.FlowGating.from_json(CELLQUEST_GATING.to_json()) == CELLQUEST_GATING


def test_a_marker_no_channel_is_labelled_with_is_left_out_as_unmeasured():
    gating = flow.FlowGating.from_json(
        {"gate": {"x_channel": "FSC-H", "y_channel": "SSC-H"},
         "markers": {"CD73": "FL1-H", "CD11b": ""}}
    )  # fmt: skip
    result = analyse(CELLQUEST, CELLQUEST, gating)
    assert [m.marker for m in result.markers] == ["CD73"]
    assert result.unmeasured == ("CD11b",)
    only_unlabelled = flow.FlowGating.from_json(
        {"gate": {"x_channel": "FSC-H", "y_channel": "SSC-H"}, "markers": {"CD11b": ""}}
    )
    with pytest.raises(ValueError, match="no marker of the gating is labelled"):
        analyse(CELLQUEST, CELLQUEST, only_unlabelled)
