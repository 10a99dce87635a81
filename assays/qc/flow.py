"""Flow cytometry: % positive against a control-derived threshold and the ISCT MSC identity panel.

A marker-positive gate is set on an isotype or FMO control (e.g. its 99th percentile); the
percentage of parent-gate events above it is the marker's % positive. The identity verdict
compares those percentages with a specification passed in as data: the ISCT minimal criteria
(Dominici M et al., Cytotherapy 2006;8:315) are the default, and a site's QA may replace them.

References: Dominici et al. 2006 (ISCT position statement); Maecker HT & Trotter J, Cytometry A
2006;69:1037 (selecting controls, FMO/isotype thresholds).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray


def threshold_from_control(control_values: ArrayLike, percentile: float = 99.0) -> float:
    """Positivity threshold = ``percentile``-th percentile of the control's events.

    Linear interpolation between order statistics (``numpy.percentile`` default, Hyndman & Fan
    type 7). With the default 99, about 1 % of the control's events lie above the threshold.
    """
    v = np.asarray(control_values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError("the control has no events")
    if not 0.0 <= percentile <= 100.0:
        raise ValueError("percentile must be between 0 and 100")
    return float(np.percentile(v, percentile))


def percent_positive(values: ArrayLike, threshold: float) -> float:
    """% positive = ``100 · #(events > threshold) / #(events in the parent gate)``.

    ``values`` are the marker intensities of all events in the parent gate (non-finite values
    are rejected rather than silently dropped, so the denominator stays the parent count).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError("the parent gate has no events")
    if not np.all(np.isfinite(v)):
        raise ValueError("event values must be finite")
    if not math.isfinite(threshold):
        raise ValueError("threshold must be a finite number")
    return 100.0 * float(np.count_nonzero(v > threshold)) / v.size


@dataclass(frozen=True)
class IdentityCriterion:
    """One specification line: ``markers`` are alternatives ("CD14 or CD11b"), each measured
    one must have % positive ``>= minimum`` and/or ``<= maximum``."""

    markers: tuple[str, ...]
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        if not self.markers:
            raise ValueError("a criterion needs at least one marker")
        if self.minimum is None and self.maximum is None:
            raise ValueError(f"{self.name}: give a minimum and/or a maximum")

    @property
    def name(self) -> str:
        return " or ".join(self.markers)

    def accepts(self, percent: float) -> bool:
        if self.minimum is not None and not percent >= self.minimum:
            return False
        return not (self.maximum is not None and not percent <= self.maximum)


#: ISCT minimal criteria (Dominici et al. 2006): positive ≥ 95 %, negative ≤ 2 %.
ISCT_DEFAULT_SPEC: tuple[IdentityCriterion, ...] = (
    IdentityCriterion(("CD73",), minimum=95.0),
    IdentityCriterion(("CD90",), minimum=95.0),
    IdentityCriterion(("CD105",), minimum=95.0),
    IdentityCriterion(("CD45",), maximum=2.0),
    IdentityCriterion(("CD34",), maximum=2.0),
    IdentityCriterion(("CD14", "CD11b"), maximum=2.0),
    IdentityCriterion(("CD79a", "CD19"), maximum=2.0),
    IdentityCriterion(("HLA-DR",), maximum=2.0),
)


@dataclass(frozen=True)
class MarkerResult:
    """Outcome of one criterion for one marker; ``marker``/``percent_positive``/``passed`` are
    None when none of the criterion's alternative markers was measured."""

    criterion: str
    marker: str | None
    percent_positive: float | None
    minimum: float | None
    maximum: float | None
    passed: bool | None


@dataclass(frozen=True)
class IdentityVerdict:
    """``passed`` only when every criterion was measured and every measured marker passed."""

    passed: bool
    results: tuple[MarkerResult, ...]
    missing: tuple[str, ...]

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(r.marker for r in self.results if r.passed is False and r.marker)


def _marker_key(name: str) -> str:
    """Match "CD79α"/"CD79a", "HLA-DR"/"HLA DR"/"hladr": case, α, spaces and dashes ignored."""
    upper = name.upper().replace("\N{GREEK CAPITAL LETTER ALPHA}", "A")
    return "".join(ch for ch in upper if ch.isalnum())


def isct_identity(
    percentages: Mapping[str, float], spec: Sequence[IdentityCriterion] | None = None
) -> IdentityVerdict:
    """MSC identity verdict from marker % positive values against ``spec``.

    ``spec`` defaults to :data:`ISCT_DEFAULT_SPEC` (CD73, CD90, CD105 ≥ 95 %; CD45, CD34,
    CD14 or CD11b, CD79α or CD19, HLA-DR ≤ 2 %; Dominici et al. 2006). For a criterion with
    alternatives, every measured alternative must pass; a criterion with no measured marker is
    listed in ``missing`` and makes the verdict fail (identity not shown). Markers in
    ``percentages`` that no criterion names are ignored.
    """
    criteria = tuple(ISCT_DEFAULT_SPEC if spec is None else spec)
    measured = {_marker_key(name): (name, float(value)) for name, value in percentages.items()}
    results: list[MarkerResult] = []
    missing: list[str] = []
    for criterion in criteria:
        found = [measured[k] for k in map(_marker_key, criterion.markers) if k in measured]
        if not found:
            missing.append(criterion.name)
            results.append(
                MarkerResult(criterion.name, None, None, criterion.minimum, criterion.maximum, None)
            )
        for name, value in found:
            passed = math.isfinite(value) and criterion.accepts(value)
            results.append(
                MarkerResult(
                    criterion.name, name, value, criterion.minimum, criterion.maximum, passed
                )
            )
    passed = not missing and all(r.passed for r in results)
    return IdentityVerdict(passed=passed, results=tuple(results), missing=tuple(missing))


# --- Gating list-mode events (issue 10 item 4) ----------------------------------------------


class Events(Protocol):
    """List-mode events with named channels (``assays.parsers.fcs.FcsData`` is one)."""

    @property
    def events(self) -> NDArray[np.float64]: ...

    def channel_index(self, name: str) -> int: ...


def _bound(raw: Mapping[str, Any], key: str) -> float | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"gate {key} must be a number")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"gate {key} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"gate {key} must be finite")
    return number


@dataclass(frozen=True)
class RectangleGate:
    """Events with ``x_min ≤ x ≤ x_max`` and ``y_min ≤ y ≤ y_max`` on two channels (scatter or
    fluorescence: an EV or bead gate); a bound left as None is open."""

    x_channel: str
    y_channel: str
    x_min: float | None = None
    x_max: float | None = None
    y_min: float | None = None
    y_max: float | None = None

    def __post_init__(self) -> None:
        if not self.x_channel.strip() or not self.y_channel.strip():
            raise ValueError("the gate needs an x and a y channel")
        for low, high, axis in ((self.x_min, self.x_max, "x"), (self.y_min, self.y_max, "y")):
            if low is not None and high is not None and low >= high:
                raise ValueError(f"gate {axis}_min must be below {axis}_max")

    def contains(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.bool_]:
        inside = np.isfinite(x) & np.isfinite(y)
        if self.x_min is not None:
            inside &= x >= self.x_min
        if self.x_max is not None:
            inside &= x <= self.x_max
        if self.y_min is not None:
            inside &= y >= self.y_min
        if self.y_max is not None:
            inside &= y <= self.y_max
        return inside


@dataclass(frozen=True)
class MarkerChannel:
    """Which channel carries a marker: ``channel`` ($PnN or $PnS), or "" to find the one
    channel whose $PnS stain label starts with the marker (e.g. "CD73 APC")."""

    marker: str
    channel: str = ""


@dataclass(frozen=True)
class FlowGating:
    """The gating an assay definition carries: a parent gate, the marker channels, and the
    control percentile that sets each marker's threshold (Maecker & Trotter 2006)."""

    gate: RectangleGate
    markers: tuple[MarkerChannel, ...]
    percentile: float = 99.0
    control: str = "isotype"

    def __post_init__(self) -> None:
        if not self.markers:
            raise ValueError("the gating names no marker")
        if not 50.0 <= self.percentile < 100.0:
            raise ValueError("the control percentile must be at least 50 and below 100")
        if self.control not in CONTROL_KINDS:
            raise ValueError(f"control must be one of {', '.join(CONTROL_KINDS)}")
        keys = [_marker_key(m.marker) for m in self.markers]
        if len(set(keys)) != len(keys) or not all(keys):
            raise ValueError("each marker is named once, with letters or digits")

    @classmethod
    def from_json(cls, raw: object) -> FlowGating:
        """Read the JSON stored on an assay definition; ValueError says what is wrong."""
        if not isinstance(raw, Mapping):
            raise ValueError("the gating must be an object")
        gate = raw.get("gate")
        if not isinstance(gate, Mapping):
            raise ValueError("the gating needs a gate")
        markers = raw.get("markers")
        if not isinstance(markers, Mapping):
            raise ValueError("markers must map each marker to its channel")
        percentile = raw.get("percentile", 99.0)
        if isinstance(percentile, bool) or not isinstance(percentile, int | float):
            raise ValueError("percentile must be a number")
        return cls(
            gate=RectangleGate(
                x_channel=str(gate.get("x_channel", "")),
                y_channel=str(gate.get("y_channel", "")),
                x_min=_bound(gate, "x_min"),
                x_max=_bound(gate, "x_max"),
                y_min=_bound(gate, "y_min"),
                y_max=_bound(gate, "y_max"),
            ),
            markers=tuple(
                MarkerChannel(str(marker), str(channel or ""))
                for marker, channel in markers.items()
            ),
            percentile=float(percentile),
            control=str(raw.get("control", "isotype")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "gate": dataclasses.asdict(self.gate),
            "markers": {m.marker: m.channel for m in self.markers},
            "percentile": self.percentile,
            "control": self.control,
        }


CONTROL_KINDS = ("isotype", "unstained", "fmo")


@dataclass(frozen=True)
class MarkerStatistic:
    """One marker: threshold from the control's gated events, % of the sample's gated events
    above it (``positive`` of ``parent``)."""

    marker: str
    channel: str
    threshold: float
    positive: int
    parent: int
    control_parent: int

    @property
    def percent_positive(self) -> float:
        return 100.0 * self.positive / self.parent


@dataclass(frozen=True)
class FlowAnalysis:
    """% positive per marker from a sample and its control file, and the identity verdict."""

    sample_events: int
    sample_in_gate: int
    control_events: int
    control_in_gate: int
    markers: tuple[MarkerStatistic, ...]
    verdict: IdentityVerdict
    unmeasured: tuple[str, ...] = ()

    @property
    def percentages(self) -> dict[str, float]:
        return {m.marker: m.percent_positive for m in self.markers}


def _labelled(channels: Sequence[tuple[str, str]], marker: str) -> bool:
    key = _marker_key(marker)
    return any(
        _marker_key(label).startswith(key)
        and not _marker_key(label).removeprefix(key)[:1].isdigit()
        for _, label in channels
    )


def marker_column(data: Events, channels: Sequence[tuple[str, str]], marker: MarkerChannel) -> int:
    """Column of ``marker`` among ``channels`` ((name, label) pairs, in column order).

    A marker without a named channel is found by its stain label; a marker whose channel is
    not named and that no label carries is left out of the analysis (listed as unmeasured).
    """
    if marker.channel:
        try:
            return data.channel_index(marker.channel)
        except KeyError:
            raise ValueError(
                f"{marker.marker}: no channel {marker.channel!r} in the file"
            ) from None
    key = _marker_key(marker.marker)
    found = []
    for position, (_, label) in enumerate(channels):
        label_key = _marker_key(label)
        rest = label_key.removeprefix(key)
        if label_key.startswith(key) and not rest[:1].isdigit():
            found.append(position)
    if len(found) != 1:
        what = "no channel" if not found else f"{len(found)} channels"
        raise ValueError(f"{marker.marker}: {what} labelled with it ($PnS); name the channel")
    return found[0]


def gate_mask(data: Events, gate: RectangleGate) -> NDArray[np.bool_]:
    """Which events lie in ``gate`` (ValueError naming a channel the file lacks)."""
    columns = []
    for channel in (gate.x_channel, gate.y_channel):
        try:
            columns.append(data.channel_index(channel))
        except KeyError:
            raise ValueError(f"gate: no channel {channel!r} in the file") from None
    return gate.contains(data.events[:, columns[0]], data.events[:, columns[1]])


def analyse_events(
    sample: Events,
    control: Events,
    gating: FlowGating,
    *,
    sample_channels: Sequence[tuple[str, str]],
    control_channels: Sequence[tuple[str, str]],
    spec: Sequence[IdentityCriterion] | None = None,
) -> FlowAnalysis:
    """Gate both files, set each marker's threshold at the control's ``percentile`` (of its
    gated events), count the sample's gated events above it, and give the identity verdict.

    ``% positive = 100 · #(gated sample events > threshold) / #(gated sample events)``;
    ``threshold = percentile(gated control events, p)`` (:func:`threshold_from_control`).
    """
    sample_gate = gate_mask(sample, gating.gate)
    control_gate = gate_mask(control, gating.gate)
    parent, control_parent = int(sample_gate.sum()), int(control_gate.sum())
    if parent == 0:
        raise ValueError("no sample event lies in the gate")
    if control_parent == 0:
        raise ValueError("no control event lies in the gate")
    statistics = []
    unmeasured = []
    for marker in gating.markers:
        if not marker.channel and not _labelled(sample_channels, marker.marker):
            unmeasured.append(marker.marker)  # a panel carries CD14 or CD11b, not both
            continue
        column = marker_column(sample, sample_channels, marker)
        control_column = marker_column(control, control_channels, marker)
        threshold = threshold_from_control(
            control.events[control_gate, control_column], gating.percentile
        )
        values = sample.events[sample_gate, column]
        positive = int(np.count_nonzero(values > threshold))
        statistics.append(
            MarkerStatistic(
                marker=marker.marker,
                channel=sample_channels[column][0],
                threshold=threshold,
                positive=positive,
                parent=parent,
                control_parent=control_parent,
            )
        )
    if not statistics:
        raise ValueError("no marker of the gating is labelled ($PnS) in the sample file")
    percentages = {s.marker: s.percent_positive for s in statistics}
    return FlowAnalysis(
        unmeasured=tuple(unmeasured),
        sample_events=len(sample.events),
        sample_in_gate=parent,
        control_events=len(control.events),
        control_in_gate=control_parent,
        markers=tuple(statistics),
        verdict=isct_identity(percentages, spec),
    )
