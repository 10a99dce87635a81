"""Plotly figures of a flow cytometry run: each marker's histogram with its threshold, and the
parent gate on its two channels (WebGL ``scattergl``). Pure: arrays in, figures out.

Histograms are computed here (NumPy) and drawn as bars: the app's partial plotly.js build has
``bar``, ``scatter`` and ``scattergl`` only (assays/charts.py). Fluorescence spans decades, so
the bins are logarithmic over the positive values (events at or below 0 are counted in the first
bin, as cytometry software shows them on the axis). The scatter shows at most
:data:`SCATTER_MAX_POINTS` events (every k-th one: the same events on every view).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
from numpy.typing import NDArray

from assays.charts import _layout
from assays.qc.flow import RectangleGate

BINS = 128
SCATTER_MAX_POINTS = 20_000
SAMPLE_COLOUR, CONTROL_COLOUR, GATE_COLOUR, THRESHOLD_COLOUR = (
    "#1f77b4",
    "#7f7f7f",
    "#2ca02c",
    "#d62728",
)


def _log_edges(*arrays: NDArray[np.float64]) -> NDArray[np.float64]:
    positive = np.concatenate([a[np.isfinite(a) & (a > 0)] for a in arrays])
    if positive.size == 0:
        return np.linspace(0.0, 1.0, BINS + 1)
    low, high = float(positive.min()), float(positive.max())
    if high <= low:
        high = low * 10
    return np.logspace(math.log10(low), math.log10(high), BINS + 1)


def _counts(values: NDArray[np.float64], edges: NDArray[np.float64]) -> NDArray[np.float64]:
    clipped = np.clip(values[np.isfinite(values)], edges[0], edges[-1])
    counts, _ = np.histogram(clipped, bins=edges)
    total = max(int(counts.sum()), 1)
    return 100.0 * counts / total  # % of the gated events: sample and control on one scale


def marker_histogram_figure(
    sample: NDArray[np.float64],
    control: NDArray[np.float64],
    *,
    marker: str,
    channel: str,
    threshold: float,
    percent_positive: float,
    control_label: str = "control",
) -> go.Figure:
    """Gated sample and control events of one marker, the threshold as a dashed line."""
    edges = _log_edges(sample, control)
    centres = np.sqrt(edges[:-1] * edges[1:]) if edges[0] > 0 else (edges[:-1] + edges[1:]) / 2
    widths = np.diff(edges)
    fig = go.Figure()
    for values, name, colour in (
        (control, control_label, CONTROL_COLOUR),
        (sample, "sample", SAMPLE_COLOUR),
    ):
        fig.add_trace(
            go.Bar(
                x=centres,
                y=_counts(values, edges),
                width=widths,
                name=name,
                marker={"color": colour, "line": {"width": 0}},
                opacity=0.6,
            )
        )
    log_axis = bool(edges[0] > 0)
    shown_at = max(threshold, float(edges[0])) if log_axis else threshold
    fig.add_shape(
        type="line",
        name="threshold",
        xref="x",
        yref="paper",
        x0=shown_at,
        x1=shown_at,
        y0=0,
        y1=1,
        line={"color": THRESHOLD_COLOUR, "width": 1.5, "dash": "dash"},
    )
    fig.add_annotation(
        # On a log axis an annotation's x is in decades (plotly.js), a shape's in data units.
        x=math.log10(shown_at) if log_axis else shown_at,
        y=1,
        xref="x",
        yref="paper",
        text=f"threshold {threshold:.4g} ({percent_positive:.2f} % positive)",
        showarrow=False,
        yanchor="bottom",
        font={"color": THRESHOLD_COLOUR, "size": 11},
    )
    _layout(
        fig,
        title=f"{marker} ({channel})",
        x_title=f"{channel} intensity",
        y_title="% of gated events",
        barmode="overlay",
        bargap=0,
    )
    fig.update_layout(height=320)
    if log_axis:
        fig.update_xaxes(type="log")
    return fig


def gate_scatter_figure(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    inside: NDArray[np.bool_],
    gate: RectangleGate,
) -> go.Figure:
    """The sample's events on the gate's two channels, in-gate events coloured, and the gate."""
    step = max(1, math.ceil(len(x) / SCATTER_MAX_POINTS))
    xs, ys, ins = x[::step], y[::step], inside[::step]
    fig = go.Figure()
    for mask, name, colour in (
        (~ins, "outside the gate", CONTROL_COLOUR),
        (ins, "in the gate", GATE_COLOUR),
    ):
        fig.add_trace(
            go.Scattergl(
                x=xs[mask],
                y=ys[mask],
                mode="markers",
                name=name,
                marker={"size": 3, "color": colour, "opacity": 0.5},
            )
        )
    finite_x, finite_y = x[np.isfinite(x)], y[np.isfinite(y)]
    x0 = gate.x_min if gate.x_min is not None else float(finite_x.min(initial=0.0))
    x1 = gate.x_max if gate.x_max is not None else float(finite_x.max(initial=1.0))
    y0 = gate.y_min if gate.y_min is not None else float(finite_y.min(initial=0.0))
    y1 = gate.y_max if gate.y_max is not None else float(finite_y.max(initial=1.0))
    fig.add_shape(
        type="rect",
        name="gate",
        x0=x0,
        x1=x1,
        y0=y0,
        y1=y1,
        line={"color": GATE_COLOUR, "width": 2},
    )
    shown = f" (every {step}th event shown)" if step > 1 else ""
    _layout(
        fig,
        title=f"Gate: {int(inside.sum())} of {len(x)} events{shown}",
        x_title=gate.x_channel,
        y_title=gate.y_channel,
    )
    return fig


def figure_json(fig: go.Figure) -> dict[str, Any]:
    """The figure as the JSON lims/static/lims/charts.js draws (typed arrays kept)."""
    return dict(json.loads(fig.to_json()))
