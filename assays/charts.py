"""Plotly figures of QC data, built in Python and drawn in the browser by plotly.js.

Pure functions: plain numbers and NumPy arrays in, a ``plotly.graph_objects.Figure`` out; no
ORM, no request. A view serialises the figure with ``fig.to_json()`` into a
``<script type="application/json">`` element (``json_script``) and ``lims/static/lims/charts.js``
draws it, so no inline script is needed under the Content Security Policy.

Large series. NumPy arrays are passed to Plotly as they are (``to_json`` writes them as base64
typed arrays, not lists of numbers). A series of more than :data:`WEBGL_MIN_POINTS` points is
drawn with the WebGL trace ``scattergl``. The default bundle of plotly.js compiles its WebGL draw
calls with ``Function()`` (regl), which ``script-src 'self'`` without ``'unsafe-eval'`` refuses;
the app therefore serves a partial build of plotly.js with the CSP-safe "strict" ``scattergl``
(precompiled shaders), under which ``scattergl`` draws. ``webgl=False`` falls back to SVG
``scatter``. That build (``tools/plotly.js-bundle/``, vendored under ``lims/static/vendor/``)
holds only the trace types made here: ``scatter``, ``scattergl`` and ``bar``; a new one must be
added to it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from numpy.typing import ArrayLike
from plotly.subplots import make_subplots

from assays.qc import curves, nta, plate
from assays.qc.westgard import RULES as WESTGARD_RULES

WEBGL = True
WEBGL_MIN_POINTS = 1000
TEMPLATE = "plotly_white"
HEIGHT = 420

# One marker per Westgard rule, so each violation is recognisable without colour alone.
RULE_MARKERS: dict[str, tuple[str, str]] = {
    "1-2s": ("triangle-up-open", "#f0ad4e"),
    "1-3s": ("x", "#d62728"),
    "2-2s": ("square-open", "#9467bd"),
    "R-4s": ("diamond-open", "#8c564b"),
    "4-1s": ("circle-open", "#e377c2"),
    "10x": ("star-open", "#17becf"),
}
D_VALUE_COLOURS = {"D10": "#2ca02c", "D50": "#d62728", "D90": "#9467bd"}


def scatter_class(n_points: int, *, webgl: bool = WEBGL) -> type:
    """``go.Scattergl`` for a series of more than WEBGL_MIN_POINTS points when WebGL is on."""
    return go.Scattergl if webgl and n_points > WEBGL_MIN_POINTS else go.Scatter


def _floats(values: ArrayLike | None) -> np.ndarray:
    """A float array; None entries become NaN (a gap in a line, no marker)."""
    if values is None:
        return np.array([], dtype=float)
    return np.array([np.nan if v is None else v for v in np.ravel(values)], dtype=float)


def _layout(fig: go.Figure, *, title: str, x_title: str, y_title: str, **extra) -> go.Figure:
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title, "x": 0.01, "xanchor": "left"},
        height=HEIGHT,
        margin={"l": 70, "r": 20, "t": 50, "b": 55},
        legend={"orientation": "v", "x": 1.02, "y": 1},
        hovermode="closest",
        **extra,
    )
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    return fig


def _vertical_line(
    fig: go.Figure, x: float, *, name: str, colour: str, label: str, label_shift: int = 0
) -> None:
    fig.add_shape(
        type="line",
        name=name,
        xref="x",
        yref="paper",
        x0=x,
        x1=x,
        y0=0,
        y1=1,
        line={"color": colour, "width": 1.5, "dash": "dash"},
    )
    fig.add_annotation(
        x=x,
        y=1,
        xref="x",
        yref="paper",
        text=label,
        showarrow=False,
        yanchor="bottom",
        yshift=label_shift,
        font={"color": colour, "size": 11},
    )


def _horizontal_line_items(
    y: float, *, name: str, colour: str, dash: str, label: str = ""
) -> tuple[dict, dict | None]:
    """A line across the plot and its label in the right margin, as layout items."""
    shape = {
        "type": "line",
        "name": name,
        "xref": "paper",
        "yref": "y",
        "x0": 0,
        "x1": 1,
        "y0": y,
        "y1": y,
        "line": {"color": colour, "width": 1, "dash": dash},
    }
    annotation = None
    if label:
        annotation = {
            "x": 1,
            "y": y,
            "xref": "paper",
            "yref": "y",
            "text": label,
            "showarrow": False,
            "xanchor": "left",
            "font": {"color": colour, "size": 10},
        }
    return shape, annotation


def _horizontal_lines(fig: go.Figure, lines: list[dict]) -> None:
    """Lines across the plot (each the keywords of _horizontal_line_items), added to the layout
    in one assignment: plotly validates the whole list of shapes at each add_shape, which made
    a chart's nine lines cost most of the trend page (issue 14)."""
    items = [_horizontal_line_items(**line) for line in lines]
    fig.update_layout(
        shapes=[*fig.layout.shapes, *(shape for shape, _ in items)],
        annotations=[*fig.layout.annotations, *(note for _, note in items if note is not None)],
    )


def _horizontal_line(
    fig: go.Figure,
    y: float,
    *,
    name: str,
    colour: str,
    dash: str,
    label: str = "",
) -> None:
    """A line across the plot, its label in the right margin."""
    _horizontal_lines(fig, [{"y": y, "name": name, "colour": colour, "dash": dash, "label": label}])


# --- NTA size distribution ---------------------------------------------------------------------


def nta_distribution_figure(
    bins_nm: ArrayLike,
    videos: Mapping[str, ArrayLike],
    *,
    d_values: Mapping[str, float] | None = None,
    title: str = "NTA size distribution",
    margin_nm: float = 20.0,
    webgl: bool = WEBGL,
) -> go.Figure:
    """Each video's number distribution (particles/mL per bin), their mean, and D-values.

    ``videos`` maps a video name to its concentration per bin of ``bins_nm`` (bin centres, nm).
    Bins beyond the last occupied one (``margin_nm`` either side) are left out (a NanoSight
    export has 1,000 bins of 1 nm, the upper ones empty), and the x axis opens on the 0.5-99.5
    percentiles of the mean distribution; zooming out shows the sparse tails. ``d_values`` (e.g.
    ``{"D10": 86.9, "D50": 96.0, "D90": 108.8}``) are drawn as dashed vertical lines: layout
    shapes named after the key, with a label above the plot.
    """
    x = np.asarray(bins_nm, dtype=float).ravel()
    curves_by_video = {name: np.asarray(y, dtype=float).ravel() for name, y in videos.items()}
    if not curves_by_video:
        raise ValueError("no video to draw")
    stack = np.vstack(list(curves_by_video.values()))
    occupied = np.flatnonzero(stack.max(axis=0) > 0)
    if occupied.size:
        keep = (x >= x[occupied[0]] - margin_nm) & (x <= x[occupied[-1]] + margin_nm)
    else:
        keep = np.ones_like(x, dtype=bool)
    x = x[keep]
    trace = scatter_class(x.size, webgl=webgl)
    fig = go.Figure()
    for i, (name, y) in enumerate(curves_by_video.items()):
        fig.add_trace(
            trace(
                x=x,
                y=y[keep],
                mode="lines",
                name=name,
                legendgroup="videos",
                legendgrouptitle_text="Videos" if i == 0 else None,
                line={"width": 1, "color": "rgba(120, 120, 120, 0.45)"},
                hovertemplate="%{x:.1f} nm: %{y:.3g}<extra>" + name + "</extra>",
            )
        )
    mean = stack.mean(axis=0)[keep]
    fig.add_trace(
        trace(
            x=x,
            y=mean,
            mode="lines",
            name=f"Mean of {len(curves_by_video)} videos",
            line={"width": 3, "color": "#1f77b4"},
            hovertemplate="%{x:.1f} nm: %{y:.3g}<extra>mean</extra>",
        )
    )
    if mean.sum() > 0:  # open on the bulk of the particles; zooming out shows the tails
        low, high = (nta.size_percentile(x, mean, q) for q in (0.005, 0.995))
        fig.update_xaxes(range=[max(low - margin_nm, float(x[0])), high + margin_nm])
    for i, (key, value) in enumerate((d_values or {}).items()):
        if value is not None and math.isfinite(value):
            _vertical_line(
                fig,
                float(value),
                name=key,
                colour=D_VALUE_COLOURS.get(key, "#333"),
                label=f"{key} {value:.1f} nm",
                label_shift=14 * (i % 2),  # D10 and D50 often sit close: alternate heights
            )
    _layout(
        fig,
        title=title,
        x_title="Particle size (nm)",
        y_title="Concentration (particles/mL per bin)",
    )
    fig.update_yaxes(exponentformat="power")
    return fig


# --- Standard curve --------------------------------------------------------------------------


def standard_curve_figure(
    x_std: ArrayLike,
    y_std: ArrayLike,
    y_unknown: ArrayLike = (),
    *,
    fit: curves.FourPLFit | None = None,
    unknown_names: Sequence[str] | None = None,
    x_unit: str = "ug/mL",
    y_title: str = "Absorbance",
    title: str = "Standard curve (4PL)",
) -> go.Figure:
    """Standards, the fitted 4PL ``y = (a − d) / (1 + (x/c)^b) + d`` and the unknowns.

    The fit is :func:`assays.qc.curves.fit_four_pl` of the standards unless ``fit`` is given.
    Unknowns are back-calculated on the curve (:meth:`FourPLFit.back_calculate`): those inside
    the standards' range are drawn on the curve ("Unknowns"); those outside are not
    extrapolated but drawn at the range limit they passed with an arrow-like marker ("Unknowns
    outside the range"). Dotted vertical lines (shapes "LLOQ", "ULOQ") mark the range. The x
    axis is logarithmic when the positive standards span two decades or more; blanks (x = 0)
    cannot be shown on it and are left out of the plot (not of the fit).
    """
    x = np.asarray(x_std, dtype=float).ravel()
    y = np.asarray(y_std, dtype=float).ravel()
    unknown = np.asarray(y_unknown, dtype=float).ravel()
    fit = fit or curves.fit_four_pl(x, y)
    names = list(unknown_names) if unknown_names is not None else [""] * unknown.size
    low, high = fit.standards_range
    log_x = high / low >= 100
    if log_x:
        grid = np.geomspace(low / 2, high * 1.5, 200)
        shown = x > 0
    else:
        grid = np.linspace(0.0, high * 1.05, 200)
        shown = np.ones_like(x, dtype=bool)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=grid,
            y=fit.predict(grid),
            mode="lines",
            name=f"4PL fit (R² {fit.r_squared:.5f})",
            line={"color": "#1f77b4", "width": 2},
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x[shown],
            y=y[shown],
            mode="markers",
            name="Standards",
            marker={"color": "#2ca02c", "size": 8, "symbol": "circle"},
            hovertemplate="%{x:.4g} " + x_unit + ": %{y:.4g}<extra>standard</extra>",
        )
    )
    back = fit.back_calculate(unknown) if unknown.size else []
    inside = [
        (b.value, r, n) for b, r, n in zip(back, unknown, names, strict=True) if b.value is not None
    ]
    outside = [
        (low if b.qualifier == curves.LLOQ_FLAG else high, r, n, b.qualifier)
        for b, r, n in zip(back, unknown, names, strict=True)
        if b.value is None and b.qualifier in (curves.LLOQ_FLAG, curves.ULOQ_FLAG)
    ]
    if inside:
        fig.add_trace(
            go.Scatter(
                x=[v for v, _, _ in inside],
                y=[r for _, r, _ in inside],
                mode="markers",
                name="Unknowns",
                text=[n for _, _, n in inside],
                marker={"color": "#d62728", "size": 9, "symbol": "diamond"},
                hovertemplate="%{text}: %{y:.4g} → %{x:.4g} " + x_unit + "<extra></extra>",
            )
        )
    if outside:
        fig.add_trace(
            go.Scatter(
                x=[v for v, _, _, _ in outside],
                y=[r for _, r, _, _ in outside],
                mode="markers",
                name="Unknowns outside the range",
                text=[f"{n} {q}" for _, _, n, q in outside],
                marker={
                    "color": "#ff7f0e",
                    "size": 11,
                    "symbol": [
                        "triangle-left" if q == curves.LLOQ_FLAG else "triangle-right"
                        for _, _, _, q in outside
                    ],
                },
                hovertemplate="%{text}: %{y:.4g}<extra></extra>",
            )
        )
    _vertical_line(fig, low, name="LLOQ", colour="#7f7f7f", label="LLOQ")
    _vertical_line(fig, high, name="ULOQ", colour="#7f7f7f", label="ULOQ")
    _layout(fig, title=title, x_title=f"Concentration ({x_unit})", y_title=y_title)
    if log_x:
        fig.update_xaxes(type="log")
    return fig


# --- qPCR relative quantities ------------------------------------------------------------------


def qpcr_rq_figure(
    targets: Sequence[str],
    rq: ArrayLike,
    ci_low: ArrayLike,
    ci_high: ArrayLike,
    *,
    reference: str = "",
    title: str = "miRNA relative quantity (Pfaffl) with 95 % interval",
) -> go.Figure:
    """RQ of each target with its interval as asymmetric error bars, on a log axis, and the
    line RQ = 1 (same level as the calibrator). A missing interval (single replicates) draws
    the point without a bar."""
    value = _floats(rq)
    low = _floats(ci_low)
    high = _floats(ci_high)
    fig = go.Figure(
        go.Scatter(
            x=list(targets),
            y=value,
            mode="markers",
            name="RQ (95 % CI)",
            marker={"size": 10, "color": "#1f77b4"},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": np.where(np.isfinite(high), high - value, np.nan),
                "arrayminus": np.where(np.isfinite(low), value - low, np.nan),
                "color": "#1f77b4",
                "thickness": 1.5,
                "width": 6,
            },
            hovertemplate="%{x}: RQ %{y:.3g}<extra></extra>",
        )
    )
    _horizontal_line(fig, 1.0, name="RQ = 1", colour="#7f7f7f", dash="dot")
    # On a log axis an annotation's y is log10 of the value (shapes take the value itself).
    fig.add_annotation(
        x=0,
        y=0.0,
        xref="paper",
        yref="y",
        text="RQ = 1: as the calibrator",
        showarrow=False,
        xanchor="left",
        yanchor="bottom",
        font={"color": "#7f7f7f", "size": 10},
    )
    suffix = f" (reference {reference})" if reference else ""
    _layout(fig, title=title + suffix, x_title="Target", y_title="Relative quantity")
    fig.update_yaxes(type="log")
    return fig


def qpcr_standard_curve_figure(
    log10_quantities: Sequence[float],
    cts: Sequence[float],
    *,
    slope: float,
    intercept: float,
    gene: str,
    efficiency_percent: float,
) -> go.Figure:
    """A run's qPCR standard curve: each standard well's Ct against log10 of its input, and
    the fitted line Ct = slope·log10(q) + intercept over their range (E = 10^(-1/slope))."""
    x = _floats(log10_quantities)
    line_x = np.array([x.min(), x.max()]) if x.size else np.array([])
    fig = go.Figure(
        [
            go.Scatter(
                x=x,
                y=_floats(cts),
                mode="markers",
                name="Standard wells",
                marker={"size": 9, "color": "#1f77b4"},
                hovertemplate="log10 input %{x}: Ct %{y:.3f}<extra></extra>",
            ),
            go.Scatter(
                x=line_x,
                y=slope * line_x + intercept,
                mode="lines",
                name=f"Fit: slope {slope:.3f}, E {efficiency_percent:.1f} %",
                line={"color": "#d62728"},
                hoverinfo="skip",
            ),
        ]
    )
    _layout(
        fig,
        title=f"Standard curve of {gene}",
        x_title="log10 input amount",
        y_title="Ct",
    )
    return fig


# --- Levey-Jennings control chart -------------------------------------------------------------


def levey_jennings_figure(
    x: Sequence,
    values: ArrayLike,
    *,
    mean: float,
    sd: float,
    flags: Sequence[set[str]] | None = None,
    labels: Sequence[str] | None = None,
    lsl: float | None = None,
    usl: float | None = None,
    title: str = "Levey-Jennings chart",
    y_title: str = "Value",
    x_title: str = "Date",
    webgl: bool = WEBGL,
) -> go.Figure:
    """Values in order with the mean and ±1/2/3 SD lines, Westgard violations and spec limits.

    ``flags`` is :func:`assays.qc.westgard.evaluate` of the values: each rule with at least
    one violation gets its own marker trace ("Westgard 1-3s", ...), drawn over the point.
    Horizontal lines are layout shapes named "mean", "+1 SD" ... "−3 SD", "LSL", "USL".
    """
    v = _floats(values)
    xs = list(x)
    if len(xs) != v.size:
        raise ValueError(f"{len(xs)} x values for {v.size} values")
    text = list(labels) if labels is not None else None
    trace = scatter_class(v.size, webgl=webgl)
    fig = go.Figure(
        trace(
            x=xs,
            y=v,
            mode="lines+markers",
            name="Values",
            text=text,
            marker={"size": 6 if v.size <= WEBGL_MIN_POINTS else 4, "color": "#1f77b4"},
            line={"width": 1, "color": "rgba(31, 119, 180, 0.5)"},
            hovertemplate="%{text}<br>%{x}: %{y:.4g}<extra></extra>"
            if text
            else "%{x}: %{y:.4g}<extra></extra>",
        )
    )
    for rule in WESTGARD_RULES:
        hits = [i for i, f in enumerate(flags or ()) if rule in f]
        if not hits:
            continue
        symbol, colour = RULE_MARKERS[rule]
        fig.add_trace(
            scatter_class(len(hits), webgl=webgl)(
                x=[xs[i] for i in hits],
                y=v[hits],
                mode="markers",
                name=f"Westgard {rule}",
                text=[text[i] for i in hits] if text else None,
                marker={"symbol": symbol, "size": 14, "color": colour, "line": {"width": 2}},
                hovertemplate=f"{rule}: " + "%{x} %{y:.4g}<extra></extra>",
            )
        )
    lines = [{"y": mean, "name": "mean", "colour": "#2ca02c", "dash": "solid", "label": "mean"}]
    for k, dash, colour in ((1, "dot", "#bbbbbb"), (2, "dash", "#f0ad4e"), (3, "dash", "#d62728")):
        for sign, mark in ((1, "+"), (-1, "−")):
            lines.append(
                {
                    "y": mean + sign * k * sd,
                    "name": f"{mark}{k} SD",
                    "colour": colour,
                    "dash": dash,
                    "label": f"{mark}{k}SD",
                }
            )
    for name, limit in (("LSL", lsl), ("USL", usl)):
        if limit is not None:
            lines.append(
                {"y": limit, "name": name, "colour": "#000000", "dash": "longdash", "label": name}
            )
    _horizontal_lines(fig, lines)
    _layout(fig, title=title, x_title=x_title, y_title=y_title)
    # The SD labels take the right margin; the legend goes under the plot.
    fig.update_layout(
        height=HEIGHT + 40,
        margin={"r": 60, "b": 100},
        legend={"orientation": "h", "x": 0, "y": -0.22, "yanchor": "top"},
    )
    return fig


# --- Culture growth --------------------------------------------------------------------------


def growth_figure(
    passage_numbers: Sequence[int],
    seeded_on: Sequence,
    harvested_on: Sequence,
    population_doublings: Sequence[float | None],
    *,
    title: str = "Population doublings",
) -> go.Figure:
    """Cumulative population doublings over time (left) and by passage (right).

    PD of a passage = log2(cells harvested / cells seeded) (``Passage.population_doublings``);
    the cumulative PD is their running sum. Passages without a harvest count yet (PD None)
    are left out of the cumulative curve. Over time, the curve starts at 0 on the first
    passage's seeding date and steps to each passage's harvest date.
    """
    numbers = list(passage_numbers)
    pd_values = _floats(population_doublings)
    done = np.isfinite(pd_values)
    cumulative = np.cumsum(np.where(done, pd_values, 0.0))
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Cumulative PD over time", "By passage"),
        horizontal_spacing=0.12,
    )
    dates = [str(seeded_on[0])] if numbers else []
    dates += [str(harvested_on[i]) for i in range(len(numbers)) if done[i]]
    time_values = [0.0] + [float(cumulative[i]) for i in range(len(numbers)) if done[i]]
    fig.add_trace(
        go.Scatter(
            x=dates,
            y=time_values[: len(dates)],
            mode="lines+markers",
            name="Cumulative PD (time)",
            text=["start"] + [f"P{numbers[i]}" for i in range(len(numbers)) if done[i]],
            line={"color": "#1f77b4", "width": 2},
            hovertemplate="%{text} %{x}: %{y:.2f} PD<extra></extra>",
        ),
        row=1,
        col=1,
    )
    done_numbers = [f"P{numbers[i]}" for i in range(len(numbers)) if done[i]]
    fig.add_trace(
        go.Bar(
            x=done_numbers,
            y=pd_values[done],
            name="PD per passage",
            marker={"color": "rgba(44, 160, 44, 0.6)"},
            hovertemplate="%{x}: %{y:.2f} PD<extra></extra>",
        ),
        row=1,
        col=2,
    )
    fig.add_trace(
        go.Scatter(
            x=done_numbers,
            y=cumulative[done],
            mode="lines+markers",
            name="Cumulative PD (passage)",
            line={"color": "#d62728", "width": 2},
            hovertemplate="%{x}: %{y:.2f} cumulative PD<extra></extra>",
        ),
        row=1,
        col=2,
    )
    _layout(fig, title=title, x_title="", y_title="")
    fig.update_xaxes(title_text="Harvest date", row=1, col=1)
    fig.update_xaxes(title_text="Passage", type="category", row=1, col=2)
    fig.update_yaxes(title_text="Cumulative population doublings", row=1, col=1)
    fig.update_yaxes(title_text="Population doublings", row=1, col=2)
    return fig


# --- Plate computed from the plate (issue 10 item 5) ---------------------------------------


def plate_curve_figure(outcome: plate.PlateOutcome, *, title: str) -> go.Figure:
    """The plate's fitted curve, its standards (well by well) and its samples read on it (at
    the concentration in the well, before the dilution factor); samples outside the range are
    listed in the table, not drawn. Log axes for a log-log fit, log x when the standards span
    two decades."""
    curve = outcome.curve
    fig = go.Figure()
    if curve is None:
        return _layout(fig, title=title, x_title="Concentration", y_title="Response")
    low, high = curve.standards_range
    log_x = outcome.layout.fit == "loglog" or high / low >= 100
    grid = np.geomspace(low / 1.5, high * 1.5, 200) if log_x else np.linspace(0, high * 1.05, 200)
    fig.add_trace(
        go.Scatter(
            x=grid,
            y=curve.predict(grid),
            mode="lines",
            name=f"{outcome.layout.fit} fit",
            line={"color": "#1f77b4", "width": 2},
            hoverinfo="skip",
        )
    )
    xs, ys = outcome.standard_points()
    shown = [(x, y) for x, y in zip(xs, ys, strict=True) if x > 0 or not log_x]
    fig.add_trace(
        go.Scatter(
            x=[x for x, _ in shown],
            y=[y for _, y in shown],
            mode="markers",
            name="Standards",
            marker={"color": "#2ca02c", "size": 8},
        )
    )
    read = [
        (g.found.value / g.group.dilution, g.mean_response, f"{g.name} 1:{g.group.dilution:g}")
        for g in outcome.groups
        if g.role in ("sample", "spike") and g.found is not None and g.found.value is not None
    ]
    if read:
        fig.add_trace(
            go.Scatter(
                x=[x for x, _, _ in read],
                y=[y for _, y, _ in read],
                text=[t for _, _, t in read],
                mode="markers",
                name="Samples (in the well)",
                marker={"color": "#d62728", "size": 9, "symbol": "diamond"},
                hovertemplate="%{text}: %{y:.4g} → %{x:.4g}<extra></extra>",
            )
        )
    response = {"onset_time": "Onset time (s)", "rate": "Rate (mOD/min)", "mfi": "Net MFI"}.get(
        outcome.layout.response, "Absorbance"
    )
    if outcome.blank_mean is not None:
        response += " (blank-corrected)"
    _layout(fig, title=title, x_title=f"Concentration ({outcome.layout.unit})", y_title=response)
    if log_x:
        fig.update_xaxes(type="log")
    if outcome.layout.fit == "loglog":
        fig.update_yaxes(type="log")
    return fig
