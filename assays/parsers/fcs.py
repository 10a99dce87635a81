"""Flow Cytometry Standard (FCS 2.0, 3.0, 3.1, 3.2) list-mode files, read on ``np.frombuffer``.

An FCS data set is a HEADER (version and byte offsets), a TEXT segment of ``$KEYWORD`` pairs
(``$PnN`` channel name, ``$PnS`` stain label, ``$TOT`` event count...) and a DATA segment of
events × parameters. A file may chain several data sets (``$NEXTDATA``). References: ISAC Data
Standards Task Force, "Data File Standard for Flow Cytometry, Version FCS 3.1", Cytometry A
2010;77:97 and "FCS 3.2" (Spidlen J et al., Cytometry A 2021;99:100); Seamer LC et al., "Proposed
new data file standard for flow cytometry, version FCS 3.0", Cytometry 1997;28:118 (bit-packed
integers, $PnR masks). Raw events stay in the original file (DOMAIN.md §4 "Flow cytometry").

What cytometers write, and what this reader does with it:

* ``$DATATYPE/I/`` with any ``$PnB`` up to 64: 8/16/32/64-bit words straight from the buffer;
  other byte widths (24, 40...) assembled byte by byte; widths that are not whole bytes (10, 12)
  read as a bit stream (most significant bit first), or as whole 16-bit words when the DATA
  segment is that long (some instruments pad 10-bit values). The value is masked to ``$PnR``
  (rounded up to a power of two) as the standard requires: spare bits may hold other data.
* ``$DATATYPE/F/`` and ``/D/`` (and FCS 3.2's per-parameter ``$PnDATATYPE``), ``$BYTEORD``
  little (1,2,3,4 or 1,2) or big (4,3,2,1 or 2,1) endian.
* HEADER DATA offsets that are blank or zero (large files, or writers that leave them to TEXT)
  are taken from ``$BEGINDATA``/``$ENDDATA``; when both are given and differ, TEXT wins (FCS
  3.1 §3.2.5) and the disagreement is kept as a warning, as is a DATA segment longer than the
  events it holds (the common one-byte-off ``$ENDDATA``).
* TEXT delimiters doubled inside a value are a literal delimiter (FCS 3.1 §3.2.9).
* Anything else (ASCII data, histogram mode, truncated segments, offsets outside the file, a
  ``$NEXTDATA`` loop) raises :class:`ParseError` saying why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from assays.parsers.errors import ParseError

SOURCE = "FCS file"
_FCS_MAGIC = b"FCS"
VERSIONS = ("2.0", "3.0", "3.1", "3.2")
_HEADER_LENGTH = 58
_MAX_DATASETS = 64
_MAX_PARAMETERS = 10_000
_WORD_WIDTHS = (8, 16, 32, 64)


@dataclass(frozen=True)
class FcsChannel:
    """One parameter: ``name`` is ``$PnN`` (detector, e.g. "FL1-H"), ``label`` ``$PnS``."""

    index: int
    name: str
    label: str


@dataclass(frozen=True, eq=False)
class FcsData:
    """One data set of an FCS file.

    ``events`` is a read-only float array (events × channels) in channel order, scaled as the
    standard says: log-amplified integer channels ($PnE f1,f2) converted to linear values
    ``f2 · 10^(f1 · v / $PnR)``, gain ($PnG) divided out of linear channels, the time channel
    multiplied by $TIMESTEP. ``metadata`` holds the TEXT keywords (lower case, without ``$``).
    ``warnings`` lists what the reader had to work around (e.g. a wrong DATA offset).
    ``dataset_count`` is how many data sets the file chains ($NEXTDATA).
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

    def channel_index(self, name: str) -> int:
        """Column of the channel whose ``$PnN`` (or else ``$PnS``) is ``name``, any case."""
        wanted = name.strip().lower()
        for attribute in ("name", "label"):
            for position, channel in enumerate(self.channels):
                if getattr(channel, attribute).strip().lower() == wanted:
                    return position
        raise KeyError(name)


def looks_like_fcs(data: bytes | bytearray | memoryview) -> bool:
    """True when ``data`` starts with an FCS HEADER ("FCS" and a version such as "3.1")."""
    return bytes(data[:3]) == _FCS_MAGIC


def parse(data: bytes | bytearray | memoryview) -> FcsData:
    """Read an FCS file's first data set; raise :class:`ParseError` if it cannot be read."""
    return parse_all(data, first_only=True)[0]


def parse_all(data: bytes | bytearray | memoryview, *, first_only: bool = False) -> list[FcsData]:
    """Every data set of an FCS file, following ``$NEXTDATA`` (only the first if asked)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ParseError(f"expected bytes, got {type(data).__name__}", source=SOURCE)
    # A view, never a copy: slicing bytes would copy a 80 MB DATA segment.
    buffer = memoryview(data).cast("B")
    if not looks_like_fcs(buffer):
        raise ParseError("not an FCS file (it does not start with 'FCS')", source=SOURCE)
    datasets: list[FcsData] = []
    offsets: list[int] = []
    start = 0
    while True:
        offsets.append(start)
        dataset, next_offset = _read_dataset(buffer, start, index=len(offsets))
        datasets.append(dataset)
        if next_offset == 0:
            break
        following = start + next_offset
        if next_offset < 0 or following <= start or following >= len(buffer):
            raise ParseError(
                f"data set {len(offsets)}: $NEXTDATA {next_offset} points outside the file "
                "or backwards",
                source=SOURCE,
            )
        if len(offsets) >= _MAX_DATASETS:
            raise ParseError(f"more than {_MAX_DATASETS} chained data sets", source=SOURCE)
        start = following
        if first_only:
            # The rest of the chain is counted, not decoded: its HEADERs and TEXTs only.
            count = _count_chain(buffer, start, offsets)
            return [_with_count(datasets[0], count)]
    return [_with_count(d, len(datasets)) for d in datasets]


def _with_count(dataset: FcsData, count: int) -> FcsData:
    if count == dataset.dataset_count:
        return dataset
    return FcsData(
        version=dataset.version,
        channels=dataset.channels,
        event_count=dataset.event_count,
        events=dataset.events,
        metadata=dataset.metadata,
        dataset_count=count,
        warnings=dataset.warnings,
    )


def _count_chain(buffer: bytes | bytearray | memoryview, start: int, offsets: list[int]) -> int:
    while True:
        offsets.append(start)
        header = _header(buffer, start, index=len(offsets))
        text = _text(buffer, start, header, index=len(offsets), notes=[])
        next_offset = _int_keyword(text, "nextdata", default=0, index=len(offsets))
        if next_offset == 0:
            return len(offsets)
        following = start + next_offset
        if next_offset < 0 or following >= len(buffer) or len(offsets) >= _MAX_DATASETS:
            raise ParseError(
                f"data set {len(offsets)}: $NEXTDATA {next_offset} points outside the file "
                "or backwards (or the chain is too long)",
                source=SOURCE,
            )
        start = following


# --- HEADER and TEXT --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Header:
    version: str
    text_begin: int
    text_end: int
    data_begin: int
    data_end: int


def _error(index: int, message: str) -> ParseError:
    where = f"data set {index}: " if index > 1 else ""
    return ParseError(where + message, source=SOURCE)


def _header_offset(field: bytes, name: str, index: int) -> int:
    text = field.decode("ascii", "replace").strip()
    if not text:
        return 0  # blank: allowed for the DATA and ANALYSIS offsets when TEXT carries them
    if not (text.isascii() and text.isdigit()):
        raise _error(index, f"HEADER {name} offset {text!r} is not a number")
    return int(text)


def _header(buffer: bytes | bytearray | memoryview, start: int, *, index: int) -> _Header:
    raw = bytes(buffer[start : start + _HEADER_LENGTH])
    if len(raw) < _HEADER_LENGTH:
        raise _error(index, "the HEADER is truncated")
    if raw[:3] != _FCS_MAGIC:
        raise _error(index, "the data set does not start with 'FCS'")
    version = raw[3:6].decode("ascii", "replace")
    if version not in VERSIONS:
        raise _error(index, f"FCS version {version!r} is not one of {', '.join(VERSIONS)}")
    names = ("TEXT begin", "TEXT end", "DATA begin", "DATA end")
    values = [
        _header_offset(raw[10 + 8 * i : 18 + 8 * i], name, index) for i, name in enumerate(names)
    ]
    return _Header(version, *values)


def _text(
    buffer: bytes | bytearray | memoryview,
    start: int,
    header: _Header,
    *,
    index: int,
    notes: list[str],
) -> dict[str, str]:
    begin, end = start + header.text_begin, start + header.text_end
    if header.text_begin < _HEADER_LENGTH or end < begin or end >= len(buffer):
        raise _error(
            index,
            f"the HEADER's TEXT offsets {header.text_begin}-{header.text_end} are outside the file",
        )
    raw = bytes(buffer[begin : end + 1])
    keywords = _keywords(raw, index=index, notes=notes)
    supplemental = (keywords.get("beginstext", "0"), keywords.get("endstext", "0"))
    try:
        s_begin, s_end = (int(v.strip() or "0") for v in supplemental)
    except ValueError:
        s_begin = s_end = 0
        notes.append(f"$BEGINSTEXT/$ENDSTEXT {supplemental} are not numbers: ignored")
    if s_begin and s_end >= s_begin and (s_begin, s_end) != (header.text_begin, header.text_end):
        if start + s_end >= len(buffer):
            raise _error(index, "the supplemental TEXT segment lies outside the file")
        # The supplemental TEXT uses its own delimiter (its first byte); primary TEXT wins.
        extra = _keywords(bytes(buffer[start + s_begin : start + s_end + 1]), index, notes)
        keywords = {**extra, **keywords}
    return keywords


def _keywords(raw: bytes, index: int, notes: list[str]) -> dict[str, str]:
    if len(raw) < 2:
        raise _error(index, "the TEXT segment is empty")
    delimiter = raw[:1]
    tokens: list[bytes] = []
    piece = bytearray()
    position, size = 1, len(raw)
    terminated = True
    while position < size:
        found = raw.find(delimiter, position)
        if found == -1:
            piece += raw[position:]
            terminated = False
            break
        piece += raw[position:found]
        if found + 1 < size and raw[found + 1 : found + 2] == delimiter:
            piece += delimiter  # a doubled delimiter is the delimiter itself
            position = found + 2
            continue
        tokens.append(bytes(piece))
        piece = bytearray()
        position = found + 1
    if not terminated:
        tokens.append(bytes(piece))
    if len(tokens) % 2:
        last = tokens.pop()
        if last.strip() and terminated:
            raise _error(index, f"TEXT keyword {_decode(last)[:40]!r} has no value")
        if last.strip(b" \0\r\n\t"):
            # TEXT end past the segment (a known writer bug) or a missing final delimiter;
            # padding with spaces after the last delimiter is common and harmless.
            notes.append(
                "the TEXT segment does not end with its delimiter: the trailing bytes ignored"
            )
    keywords: dict[str, str] = {}
    for key, value in zip(tokens[::2], tokens[1::2], strict=True):
        name = _decode(key).strip().lower().removeprefix("$")
        if not name:
            raise _error(index, "TEXT has an empty keyword")
        if name in keywords:
            notes.append(f"TEXT keyword ${name.upper()} given twice: the first kept")
            continue
        keywords[name] = _decode(value)
    return keywords


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")  # FCS 3.1: TEXT is UTF-8
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # FCS 2.0/3.0 writers used their own 8-bit code pages


def _int_keyword(text: Mapping[str, str], name: str, *, default: int | None, index: int) -> int:
    value = text.get(name)
    if value is None or not value.strip():
        if default is None:
            raise _error(index, f"TEXT has no ${name.upper()}")
        return default
    try:
        return int(value.strip())
    except ValueError:
        try:
            number = float(value.strip())
        except ValueError:
            number = math.nan
        if not number.is_integer():
            raise _error(
                index, f"${name.upper()} {value.strip()[:40]!r} is not a whole number"
            ) from None
        return int(number)


def _float_keyword(text: Mapping[str, str], name: str, default: float) -> float:
    value = text.get(name, "").strip()
    try:
        number = float(value) if value else default
    except ValueError:
        return default
    return number if math.isfinite(number) else default


# --- DATA ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Parameter:
    kind: str  # "I", "F" or "D"
    bits: int
    mask: int | None  # integers only: $PnR rounded up to a power of two, minus one


def _parameters(text: Mapping[str, str], count: int, datatype: str, index: int) -> list[_Parameter]:
    parameters = []
    for n in range(1, count + 1):
        kind = text.get(f"p{n}datatype", datatype).strip().upper() or datatype
        if kind not in ("I", "F", "D"):
            raise _error(index, f"$P{n}DATATYPE {kind!r} is not I, F or D")
        bits_text = text.get(f"p{n}b", "").strip()
        if not (bits_text.isascii() and bits_text.isdigit()):
            raise _error(index, f"$P{n}B {bits_text[:20]!r} is not a number of bits")
        bits = int(bits_text)
        expected = {"F": 32, "D": 64}.get(kind)
        if expected is not None and bits != expected:
            raise _error(index, f"$P{n}B is {bits} for $DATATYPE {kind} (must be {expected})")
        if not 1 <= bits <= 64:
            raise _error(index, f"$P{n}B {bits} is outside 1-64 bits")
        mask = None
        if kind == "I":
            value_range = _float_keyword(text, f"p{n}r", 0.0)
            limit_bits = bits
            if 1 <= value_range < 2.0**bits:
                limit_bits = max(0, math.ceil(math.log2(value_range)))
            if limit_bits < bits or bits not in _WORD_WIDTHS:
                mask = (1 << limit_bits) - 1
        parameters.append(_Parameter(kind, bits, mask))
    return parameters


def _byte_order(text: Mapping[str, str], index: int) -> str:
    order = "".join(text.get("byteord", "").split())
    if order in ("1,2,3,4", "1,2", "1", "1,2,3,4,5,6,7,8"):
        return "<"
    if order in ("4,3,2,1", "2,1", "8,7,6,5,4,3,2,1"):
        return ">"
    raise _error(index, f"$BYTEORD {order[:40]!r} is neither little nor big endian")


def _data_bounds(
    text: Mapping[str, str], header: _Header, start: int, size: int, index: int, notes: list[str]
) -> tuple[int, int]:
    text_begin = _int_keyword(text, "begindata", default=0, index=index)
    text_end = _int_keyword(text, "enddata", default=0, index=index)
    header_given = bool(header.data_begin or header.data_end)
    text_given = bool(text_begin or text_end)
    if (
        text_given
        and header_given
        and (text_begin, text_end)
        != (
            header.data_begin,
            header.data_end,
        )
    ):
        notes.append(
            f"DATA offset discrepancy: HEADER says {header.data_begin}-{header.data_end}, "
            f"TEXT says {text_begin}-{text_end}; TEXT used (FCS 3.1)"
        )
    begin, end = (text_begin, text_end) if text_given else (header.data_begin, header.data_end)
    if not (begin or end):
        raise _error(index, "neither the HEADER nor TEXT ($BEGINDATA) gives the DATA offsets")
    if begin < _HEADER_LENGTH or start + begin > size:
        raise _error(index, f"the DATA segment starts at {begin}, outside the file")
    return start + begin, start + end


def _read_dataset(
    buffer: bytes | bytearray | memoryview, start: int, *, index: int
) -> tuple[FcsData, int]:
    notes: list[str] = []
    header = _header(buffer, start, index=index)
    text = _text(buffer, start, header, index=index, notes=notes)
    mode = text.get("mode", "L").strip().upper() or "L"
    if mode != "L":
        raise _error(index, f"$MODE {mode!r}: only list-mode data (L) is read")
    datatype = text.get("datatype", "").strip().upper()
    if datatype == "A":
        raise _error(index, "ASCII data ($DATATYPE/A/) is not read")
    if datatype not in ("I", "F", "D"):
        raise _error(index, f"$DATATYPE {datatype[:20]!r} is not I, F or D")
    count = _int_keyword(text, "par", default=None, index=index)
    if not 1 <= count <= _MAX_PARAMETERS:
        raise _error(index, f"$PAR {count} is not between 1 and {_MAX_PARAMETERS}")
    events_count = _int_keyword(text, "tot", default=None, index=index)
    if events_count < 0:
        raise _error(index, f"$TOT {events_count} is negative")
    parameters = _parameters(text, count, datatype, index)
    order = _byte_order(text, index) if any(p.bits > 8 for p in parameters) else "<"
    begin, end = _data_bounds(text, header, start, len(buffer), index, notes)
    available = max(0, end - begin + 1) if end else len(buffer) - begin
    raw = _decode_events(buffer, begin, available, events_count, parameters, order, index, notes)
    events = _scaled(raw, text, parameters, count)
    events.setflags(write=False)
    channels = tuple(
        FcsChannel(
            index=n,
            name=text.get(f"p{n}n", "").strip() or f"P{n}",
            label=text.get(f"p{n}s", "").strip(),
        )
        for n in range(1, count + 1)
    )
    next_offset = _int_keyword(text, "nextdata", default=0, index=index)
    dataset = FcsData(
        version=header.version,
        channels=channels,
        event_count=events_count,
        events=events,
        metadata=MappingProxyType(text),
        warnings=tuple(notes),
    )
    return dataset, next_offset


def _decode_events(
    buffer: bytes | bytearray | memoryview,
    begin: int,
    available: int,
    events_count: int,
    parameters: list[_Parameter],
    order: str,
    index: int,
    notes: list[str],
) -> NDArray[Any]:
    row_bits = sum(p.bits for p in parameters)
    byte_aligned = all(p.bits % 8 == 0 for p in parameters)
    if byte_aligned:
        layout = parameters
    else:
        packed = math.ceil(events_count * row_bits / 8)
        words = [_Parameter(p.kind, _word(p.bits), p.mask) for p in parameters]
        padded = events_count * sum(p.bits for p in words) // 8
        # A DATA segment as long as whole words (give or take the one-byte-off end) holds
        # padded values; anything else is the FCS 3.0 bit stream.
        layout = words if padded != packed and abs(available - padded) <= 1 else parameters
        if layout is words:
            notes.append("values narrower than their words ($PnB not a multiple of 8) read padded")
    needed = (
        events_count * sum(p.bits for p in layout) // 8
        if all(p.bits % 8 == 0 for p in layout)
        else math.ceil(events_count * row_bits / 8)
    )
    if available < needed or begin + needed > len(buffer):
        raise _error(
            index,
            f"cannot read: TEXT announces {events_count} events × {len(parameters)} "
            f"parameters ({needed} bytes) but DATA holds "
            f"{min(available, len(buffer) - begin)} bytes (truncated file or wrong $TOT/$PnB)",
        )
    if available > needed:
        notes.append(
            f"DATA segment is {available - needed} byte(s) longer than its events "
            f"(off by {available - needed}); the extra bytes ignored"
        )
    segment = buffer[begin : begin + needed]
    if all(p.bits % 8 == 0 for p in layout):
        values = _aligned(segment, events_count, layout, order)
    else:
        values = _bit_packed(segment, events_count, layout)
    masks = [p.mask for p in layout]
    if any(m is not None for m in masks):
        if values.dtype.kind == "u":  # one word width for all: mask the words in one pass
            ceiling = int(np.iinfo(values.dtype).max)
            limits = np.array([ceiling if m is None else m for m in masks], dtype=values.dtype)
            values = values & limits
        else:
            for column, mask in enumerate(masks):
                if mask is not None:
                    stored = values[:, column].astype(np.uint64)
                    values[:, column] = np.bitwise_and(stored, np.uint64(mask))
    return values


def _word(bits: int) -> int:
    return next(w for w in _WORD_WIDTHS if w >= bits)


def _dtype(parameter: _Parameter, order: str) -> np.dtype[np.generic]:
    if parameter.kind == "F":
        return np.dtype(f"{order}f4")
    if parameter.kind == "D":
        return np.dtype(f"{order}f8")
    return np.dtype(f"{order}u{parameter.bits // 8}")


def _aligned(
    segment: bytes | bytearray | memoryview,
    events_count: int,
    layout: list[_Parameter],
    order: str,
) -> NDArray[Any]:
    first = layout[0]
    if all(p == first for p in layout) and (first.kind != "I" or first.bits in _WORD_WIDTHS):
        # The words as stored (a view of the buffer); converted to float64 once, when scaled.
        flat = np.frombuffer(segment, dtype=_dtype(first, order), count=events_count * len(layout))
        return flat.reshape(events_count, len(layout))
    row_bytes = sum(p.bits for p in layout) // 8
    rows = np.frombuffer(segment, dtype=np.uint8, count=events_count * row_bytes).reshape(
        events_count, row_bytes
    )
    values = np.empty((events_count, len(layout)), dtype=np.float64)
    offset = 0
    for column, parameter in enumerate(layout):
        width = parameter.bits // 8
        cells = rows[:, offset : offset + width]
        if parameter.kind != "I" or parameter.bits in _WORD_WIDTHS:
            values[:, column] = np.ascontiguousarray(cells).view(_dtype(parameter, order))[:, 0]
        else:  # 24, 40, 48 or 56 bits: assemble the bytes in their order
            assembled = np.zeros(events_count, dtype=np.uint64)
            for k in range(width):
                shift = 8 * k if order == "<" else 8 * (width - 1 - k)
                assembled |= cells[:, k].astype(np.uint64) << np.uint64(shift)
            values[:, column] = assembled
        offset += width
    return values


def _bit_packed(
    segment: bytes | bytearray | memoryview, events_count: int, layout: list[_Parameter]
) -> NDArray[np.float64]:
    row_bits = sum(p.bits for p in layout)
    bits = np.unpackbits(np.frombuffer(segment, dtype=np.uint8))[: events_count * row_bits]
    rows = bits.reshape(events_count, row_bits)
    values = np.empty((events_count, len(layout)), dtype=np.float64)
    offset = 0
    for column, parameter in enumerate(layout):
        weights = np.left_shift(
            np.uint64(1), np.arange(parameter.bits - 1, -1, -1, dtype=np.uint64)
        )
        cells = rows[:, offset : offset + parameter.bits].astype(np.uint64)
        values[:, column] = (cells * weights).sum(axis=1, dtype=np.uint64)
        offset += parameter.bits
    return values


def _scaled(
    values: NDArray[Any], text: Mapping[str, str], parameters: list[_Parameter], count: int
) -> NDArray[np.float64]:
    """Float64 events: $TIMESTEP and 1/$PnG factors, then log amplification ($PnE)."""
    factors = np.ones(count, dtype=np.float64)
    logarithmic: list[tuple[int, float, float, float]] = []
    for n in range(1, count + 1):
        column = n - 1
        if text.get(f"p{n}n", "").strip().lower() == "time":
            step = _float_keyword(text, "timestep", 1.0)
            factors[column] = step if step != 0.0 else 1.0
            continue
        decades, offset = _log_amplification(text.get(f"p{n}e", ""))
        value_range = _float_keyword(text, f"p{n}r", 0.0)
        if decades > 0 and parameters[column].kind == "I" and value_range > 0:
            logarithmic.append((column, decades, offset, value_range))
            continue  # FCS 3.1: $PnG is not applied to log-amplified channels
        gain = _float_keyword(text, f"p{n}g", 1.0)
        if gain != 0.0:
            factors[column] = 1.0 / gain
    events = values.astype(np.float64)  # a copy: the result never shares the caller's bytes
    scaled = np.flatnonzero(factors != 1.0)
    if len(scaled) > count // 4:
        events *= factors
    else:  # usually the time channel only: a column is cheaper than a pass over every one
        for position in scaled:
            events[:, position] *= factors[position]
    for column, decades, offset, value_range in logarithmic:
        events[:, column] = offset * np.power(10.0, decades * events[:, column] / value_range)
    return events


def _log_amplification(value: str) -> tuple[float, float]:
    parts = value.replace(" ", "").split(",")
    try:
        decades, offset = (float(p) for p in parts) if len(parts) == 2 else (0.0, 0.0)
    except ValueError:
        return 0.0, 0.0
    if not (math.isfinite(decades) and math.isfinite(offset)) or decades <= 0:
        return 0.0, 0.0
    return decades, offset if offset > 0 else 1.0  # FCS 3.1: f2 = 0 with f1 > 0 means 1
