"""Small FCS files written for tests: every layout the reader must take, built byte by byte.

Not a general writer: it lays out what cytometers write (HEADER at 0, TEXT from byte 256, DATA
right after), with switches for the cases real instruments produce (bit-packed integers, big
endian, blank HEADER offsets, $NEXTDATA chains, doubled delimiters).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

TEXT_BEGIN = 256
_OFFSET_WIDTH = 12  # fixed-width $BEGINDATA/$ENDDATA/$NEXTDATA, so a rebuild keeps its length


def _escape(value: str, delimiter: str) -> str:
    return value.replace(delimiter, delimiter * 2)


def _integers(values: np.ndarray, bits: Sequence[int], order: str, packing: str) -> bytes:
    rows, columns = values.shape
    v = values.astype(np.uint64)
    if all(b % 8 == 0 for b in bits) or packing == "padded":
        widths = [next(w for w in (8, 16, 32, 64) if w >= b) if b % 8 else b for b in bits]
        if packing == "padded":
            widths = [next(w for w in (8, 16, 32, 64) if w >= b) for b in bits]
        out = bytearray()
        endian = "little" if order == "<" else "big"
        for r in range(rows):
            for c in range(columns):
                out += int(v[r, c]).to_bytes(widths[c] // 8, endian)
        return bytes(out)
    stream: list[np.ndarray] = []
    for r in range(rows):
        for c in range(columns):
            as_bits = np.unpackbits(np.array([v[r, c]], dtype=">u8").view(np.uint8))
            stream.append(as_bits[64 - bits[c] :])
    return np.packbits(np.concatenate(stream)).tobytes()  # most significant bit first


def dataset(
    values: Sequence[Sequence[float]] | np.ndarray,
    names: Sequence[str],
    *,
    labels: Sequence[str] | None = None,
    version: str = "3.1",
    datatype: str = "I",
    bits: int | Sequence[int] = 16,
    ranges: int | Sequence[int] | None = None,
    order: str = "<",
    packing: str = "packed",
    delimiter: str = "/",
    keywords: Mapping[str, str] | None = None,
    blank_header_data_offsets: bool = False,
    zero_header_data_offsets: bool = False,
    nextdata: int = 0,
    byteord: str | None = None,
) -> bytes:
    """One data set (HEADER + TEXT + DATA) as bytes."""
    array = np.asarray(values, dtype=np.float64).reshape(-1, len(names))
    count = len(names)
    widths = [bits] * count if isinstance(bits, int) else list(bits)
    if datatype == "F":
        data = array.astype(f"{order}f4").tobytes()
        widths = [32] * count
    elif datatype == "D":
        data = array.astype(f"{order}f8").tobytes()
        widths = [64] * count
    else:
        data = _integers(array, widths, order, packing)
    ranges_list = (
        [2**w for w in widths]
        if ranges is None
        else [ranges] * count
        if isinstance(ranges, int)
        else list(ranges)
    )
    if byteord is None:
        byteord = "1,2,3,4" if order == "<" else "4,3,2,1"
    pairs: dict[str, str] = {
        "$BYTEORD": byteord,
        "$DATATYPE": datatype,
        "$MODE": "L",
        "$PAR": str(count),
        "$TOT": str(len(array)),
        "$NEXTDATA": str(nextdata).zfill(_OFFSET_WIDTH),
        "$BEGINANALYSIS": "0",
        "$ENDANALYSIS": "0",
        "$BEGINSTEXT": "0",
        "$ENDSTEXT": "0",
    }
    if version == "3.2":
        del pairs["$MODE"]
    for n in range(1, count + 1):
        pairs[f"$P{n}N"] = names[n - 1]
        pairs[f"$P{n}B"] = str(widths[n - 1])
        pairs[f"$P{n}R"] = str(ranges_list[n - 1])
        pairs[f"$P{n}E"] = "0,0"
        if labels and labels[n - 1]:
            pairs[f"$P{n}S"] = labels[n - 1]
    pairs.update(keywords or {})

    def text_with(begin: int, end: int) -> bytes:
        all_pairs = {
            **pairs,
            "$BEGINDATA": str(begin).zfill(_OFFSET_WIDTH),
            "$ENDDATA": str(end).zfill(_OFFSET_WIDTH),
        }
        body = delimiter + "".join(
            f"{_escape(k, delimiter)}{delimiter}{_escape(v, delimiter)}{delimiter}"
            for k, v in all_pairs.items()
        )
        return body.encode("utf-8")

    text_length = len(text_with(0, 0))
    data_begin = TEXT_BEGIN + text_length
    data_end = data_begin + len(data) - 1 if data else 0
    text = text_with(data_begin, data_end)
    assert len(text) == text_length
    if blank_header_data_offsets:
        data_fields = b" " * 16
    elif zero_header_data_offsets:
        data_fields = b"       0       0"
    else:
        data_fields = f"{data_begin:>8}{data_end:>8}".encode()
    header = (
        f"FCS{version}    ".encode()
        + f"{TEXT_BEGIN:>8}{TEXT_BEGIN + text_length - 1:>8}".encode()
        + data_fields
        + b"       0       0"
    )
    assert len(header) == 58
    return header + b" " * (TEXT_BEGIN - 58) + text + data


def chain(*datasets: dict) -> bytes:
    """Data sets chained by $NEXTDATA (keyword arguments of :func:`dataset` for each)."""
    sizes = [len(dataset(**spec)) for spec in datasets]
    out = b""
    for i, spec in enumerate(datasets):
        following = sizes[i] if i + 1 < len(datasets) else 0
        out += dataset(**spec, nextdata=following)
    return out


ISCT_PANEL = {
    "CD73": "APC",
    "CD90": "FITC",
    "CD105": "PE",
    "CD45": "PerCP",
    "CD34": "PE-Cy7",
    "CD14": "BV421",
    "CD19": "BV510",
    "HLA-DR": "APC-H7",
}
POSITIVE_MARKERS = ("CD73", "CD90", "CD105")


def isct_tubes(events: int = 3000, *, seed: int = 2006, positive_shift: float = 2000.0):
    """(sample, control) FCS 3.1 files of an MSC identity panel: scatter FSC-A/SSC-A with 10 %
    debris below the gate, one channel per marker labelled "CD73 APC"...; in the sample the
    positive markers are shifted ``positive_shift`` above the isotype control."""
    rng = np.random.default_rng(seed)
    names = ["FSC-A", "SSC-A"] + [f"FL{i}-A" for i in range(1, len(ISCT_PANEL) + 1)]
    labels = ["", ""] + [f"{marker} {dye}" for marker, dye in ISCT_PANEL.items()]

    def tube(shift: float) -> bytes:
        scatter = np.column_stack(
            [rng.normal(80_000, 15_000, events), rng.normal(60_000, 12_000, events)]
        )
        scatter[: events // 10] = rng.uniform(1_000, 9_000, (events // 10, 2))  # debris
        fluorescence = rng.lognormal(np.log(200), 0.4, (events, len(ISCT_PANEL)))
        for i, marker in enumerate(ISCT_PANEL):
            if marker in POSITIVE_MARKERS:
                fluorescence[:, i] += shift
        values = np.column_stack([scatter, fluorescence])
        return dataset(values, names, labels=labels, datatype="F", keywords={"$CYT": "Test"})

    return tube(positive_shift), tube(0.0)
