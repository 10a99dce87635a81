"""Flow Cytometry Standard (FCS 2.0, 3.0, 3.1) list-mode files, read with ``flowio``.

An FCS file is a HEADER (version and byte offsets), a TEXT segment of ``$KEYWORD`` pairs
(``$PnN`` channel name, ``$PnS`` stain label, ``$TOT`` event count...) and a DATA segment of
events × channels. Reference: ISAC Data Standards Task Force, "Data File Standard for Flow
Cytometry, Version FCS 3.1", Cytometry A 2010;77:97. Raw events stay in the original file
(DOMAIN.md §4 "Flow cytometry"); the LIMS stores statistics computed from them.
"""

from __future__ import annotations

import dataclasses
import io
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import flowio
import numpy as np
from flowio.exceptions import DataOffsetDiscrepancyError, MultipleDataSetsError
from numpy.typing import NDArray

from assays.parsers.errors import ParseError, shorten

SOURCE = "FCS file"
_FCS_MAGIC = b"FCS"


@dataclass(frozen=True)
class FcsChannel:
    """One parameter: ``name`` is ``$PnN`` (detector, e.g. "FL1-H"), ``label`` ``$PnS``."""

    index: int
    name: str
    label: str


@dataclass(frozen=True, eq=False)
class FcsData:
    """The first data set of an FCS file.

    ``events`` is a read-only float array (events × channels) in channel order, scaled as
    flowio's ``as_array(preprocess=True)`` does it: log-amplified channels ($PnE) converted to
    linear values, gain ($PnG) divided out, time multiplied by $TIMESTEP. ``metadata`` holds
    the TEXT keywords (lower case, without ``$``). ``warnings`` lists what flowio or the reader
    had to work around (e.g. a wrong DATA offset).
    """

    version: str
    channels: tuple[FcsChannel, ...]
    event_count: int
    events: NDArray[np.float64]
    metadata: Mapping[str, str]
    dataset_count: int = 1
    warnings: tuple[str, ...] = ()

    @property
    def channel_names(self) -> list[str]:
        return [channel.name for channel in self.channels]


def looks_like_fcs(data: bytes) -> bool:
    """True when ``data`` starts with an FCS HEADER ("FCS" and a version such as "3.1")."""
    return bytes(data[:3]) == _FCS_MAGIC


def parse(data: bytes) -> FcsData:
    """Read an FCS file's first data set; raise :class:`ParseError` if it cannot be read."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ParseError(f"expected bytes, got {type(data).__name__}", source=SOURCE)
    data = bytes(data)
    if not looks_like_fcs(data):
        raise ParseError("not an FCS file (it does not start with 'FCS')", source=SOURCE)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # flowio raises many exception types (KeyError, struct.error, ValueError...) on
        # malformed input; for an uploaded file every one of them means "cannot read it".
        try:
            flow, dataset_count, notes = _read_first_dataset(data)
            events = flow.as_array(preprocess=True)
            result = _to_fcs_data(flow, events, dataset_count, notes)
        except ParseError:
            raise
        except Exception as exc:
            raise ParseError(f"cannot read ({shorten(exc)})", source=SOURCE) from exc
    if caught:
        extra = tuple(shorten(w.message) for w in caught)
        result = dataclasses.replace(result, warnings=result.warnings + extra)
    return result


def _read_first_dataset(data: bytes) -> tuple[flowio.FlowData, int, list[str]]:
    """The first data set, how many the file chains, and the offset problems worked around."""
    notes: list[str] = []
    options: dict[str, bool] = {}
    while True:
        try:
            flow, count = _read_with(data, options)
            return flow, count, notes
        except DataOffsetDiscrepancyError as exc:
            if options.get("ignore_offset_discrepancy"):
                raise
            # FCS 3.x gives the DATA offsets twice (HEADER and TEXT); the standard makes
            # TEXT authoritative, so read with it and keep the discrepancy as a warning.
            notes.append(shorten(exc))
            options["ignore_offset_discrepancy"] = True
        except flowio.exceptions.FCSParsingError as exc:
            if "ignore_offset_error" not in str(exc) or options.get("ignore_offset_error"):
                raise
            # Common writer bug: the DATA end offset is one byte off. flowio recovers the
            # events when told to (and warns); the file is still kept and flagged.
            notes.append(shorten(exc))
            options["ignore_offset_error"] = True


def _read_with(data: bytes, options: dict[str, bool]) -> tuple[flowio.FlowData, int]:
    # A fresh stream each time: flowio closes the handle when it gives up.
    try:
        return flowio.FlowData(io.BytesIO(data), **options), 1
    except MultipleDataSetsError:
        # Data sets chained by $NEXTDATA (deprecated in FCS 3.1): the first is the sample.
        datasets = flowio.read_multiple_data_sets(io.BytesIO(data), **options)
        return datasets[0], len(datasets)


def _to_fcs_data(
    flow: flowio.FlowData, events: NDArray[np.float64], dataset_count: int, notes: list[str]
) -> FcsData:
    event_count = int(flow.event_count)
    channel_count = int(flow.channel_count)
    if events.shape != (event_count, channel_count):
        raise ParseError(
            f"TEXT announces {event_count} events × {channel_count} channels but DATA holds "
            f"{events.shape[0]} × {events.shape[1] if events.ndim == 2 else '?'}",
            source=SOURCE,
        )
    events = np.ascontiguousarray(events, dtype=np.float64)
    events.setflags(write=False)
    channels = tuple(
        FcsChannel(index=i + 1, name=str(name), label=str(label or ""))
        for i, (name, label) in enumerate(zip(flow.pnn_labels, flow.pns_labels, strict=True))
    )
    return FcsData(
        version=str(flow.version),
        channels=channels,
        event_count=event_count,
        events=events,
        metadata=MappingProxyType({str(k): str(v) for k, v in flow.text.items()}),
        dataset_count=dataset_count,
        warnings=tuple(notes),
    )
