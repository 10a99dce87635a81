"""What the run page shows of a flow run: each marker's histogram with its threshold and the
gate on its two channels, redrawn from the two original FCS files the run was recorded from."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from assays import flow_charts, flow_services
from assays.models import AssayRun, InstrumentFile
from assays.parsers import ParseError, fcs
from assays.qc import flow
from lims import file_store


def _read(record: InstrumentFile) -> fcs.FcsData:
    return fcs.parse(record.original_bytes())


def flow_section(run: AssayRun) -> dict[str, Any] | None:
    """The run page's flow section, redrawn from the two original files; None for a run that
    was not recorded from FCS files. GET only reads (the files and one metric)."""
    metric = flow_services.gate_metric(run)
    if metric is None:
        return None
    details = metric.details
    files = InstrumentFile.objects.in_bulk([details["sample_file"], details["control_file"]])
    section: dict[str, Any] = {
        "metric": metric,
        "details": details,
        "sample_file": files.get(_uuid(details["sample_file"])),
        "control_file": files.get(_uuid(details["control_file"])),
    }
    try:
        gating = flow.FlowGating.from_json(details["gating"])
        sample = _read(section["sample_file"])
        control = _read(section["control_file"])
    except (
        ParseError,
        ValueError,
        KeyError,
        AttributeError,
        file_store.OriginalUnavailable,
    ) as exc:
        section["error"] = f"The charts cannot be drawn from the original files: {exc}"
        return section
    sample_gate = flow.gate_mask(sample, gating.gate)
    control_gate = flow.gate_mask(control, gating.gate)
    x = sample.events[:, sample.channel_index(gating.gate.x_channel)]
    y = sample.events[:, sample.channel_index(gating.gate.y_channel)]
    section["scatter"] = flow_charts.figure_json(
        flow_charts.gate_scatter_figure(x, y, sample_gate, gating.gate)
    )
    histograms = []
    for marker in details["markers"]:
        values = sample.events[sample_gate, sample.channel_index(marker["channel"])]
        control_values = control.events[control_gate, control.channel_index(marker["channel"])]
        figure = flow_charts.marker_histogram_figure(
            np.asarray(values),
            np.asarray(control_values),
            marker=marker["marker"],
            channel=marker["channel"],
            threshold=marker["threshold"],
            percent_positive=marker["percent_positive"],
            control_label=gating.control,
        )
        histograms.append((marker, flow_charts.figure_json(figure)))
    section["histograms"] = histograms
    return section


def _uuid(value: str) -> uuid.UUID:
    return uuid.UUID(value)
