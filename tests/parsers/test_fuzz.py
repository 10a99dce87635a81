"""Fuzzing: whatever bytes arrive, the parsers raise ParseError or return a result, nothing else.

An instrument upload is untrusted input; an unexpected exception type would surface as a
server error instead of a clear rejection. Examples are kept few so the suite stays fast;
Hypothesis's example database is off so the tests leave no files in the working tree.
"""

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assays.parsers import ParseError, asm, detect_format, fcs, nanosight
from assays.parsers.asm_results import results_from_asm
from tests import fcs_files

DATA = Path(__file__).resolve().parents[1] / "data"
NTA = (DATA / "nta" / "nanosight_nta32_beads.csv").read_bytes()
FCS_FILES = [(DATA / "fcs" / name).read_bytes() for name in ("flowio_G11_fcs31.fcs",)]
# Generated layouts (issue 10): bit-packed integers, big-endian doubles, a $NEXTDATA chain.
_EVENTS = [[1, 2, 3], [1023, 4095, 7], [5, 6, 8]]
FCS_LAYOUTS = [
    fcs_files.dataset(_EVENTS, ["A", "B", "C"], bits=(10, 12, 10)),
    fcs_files.dataset(_EVENTS, ["A", "B", "C"], datatype="D", order=">"),
    fcs_files.chain(
        {"values": _EVENTS, "names": ["A", "B", "C"], "bits": 24},
        {"values": _EVENTS, "names": ["A", "B", "C"], "blank_header_data_offsets": True},
    ),
]
# Small exports only: each allotropy conversion takes 50-900 ms.
INSTRUMENT_FILES = {
    name: (DATA / "instruments" / name).read_bytes()
    for name in (
        "vicell_blu_example01.csv",
        "luminex_xponent_example02.csv",
        "quantstudio_example01.txt",
        "gen5_absorbance_stdcurve_singleplate.txt",
    )
}


def fuzz(max_examples: int):
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@st.composite
def mutations(draw, original: bytes, hot_prefix: int | None = None) -> bytes:
    """``original`` truncated, with bytes overwritten, or with a slice cut out.

    ``hot_prefix`` biases overwrites to the first bytes (the FCS HEADER and TEXT segment,
    where a flipped byte changes offsets and counts rather than one event value).
    """
    data = bytearray(original)
    kind = draw(st.sampled_from(["truncate", "overwrite", "overwrite+truncate", "cut"]))
    if "overwrite" in kind:
        limit = min(len(data), hot_prefix or len(data)) - 1
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, limit))] = draw(st.integers(0, 255))
    if "truncate" in kind:
        data = data[: draw(st.integers(0, len(data)))]
    if kind == "cut":
        start = draw(st.integers(0, len(data)))
        data[start : start + draw(st.integers(1, 512))] = b""
    return bytes(data)


def only_parse_error(parse, *args):
    """Call ``parse``; ParseError is the one acceptable failure."""
    try:
        return parse(*args)
    except ParseError:
        return None


# --- NanoSight -----------------------------------------------------------------------------

csv_like_text = st.lists(
    st.lists(st.text(alphabet="0123456789.-eE[]aNnDdx ", max_size=12), max_size=16).map(",".join),
    max_size=40,
).map("\n".join)


@fuzz(200)
@given(st.binary(max_size=4096))
def test_nanosight_arbitrary_bytes(data):
    only_parse_error(nanosight.parse, data)


@fuzz(150)
@given(csv_like_text)
def test_nanosight_real_header_with_random_csv_tail(tail):
    head = NTA[: NTA.index(b"Bin centre")]
    only_parse_error(nanosight.parse, head + b"Bin centre (nm),Concentration\n" + tail.encode())


@fuzz(150)
@given(mutations(NTA))
def test_nanosight_mutated_real_file(data):
    only_parse_error(nanosight.parse, data)


# --- FCS -----------------------------------------------------------------------------------


@fuzz(200)
@given(st.binary(max_size=4096))
def test_fcs_arbitrary_bytes_after_an_fcs_magic(data):
    only_parse_error(fcs.parse, b"FCS3.1    " + data)
    only_parse_error(fcs.parse, data)


@fuzz(150)
@given(st.sampled_from(FCS_FILES).flatmap(lambda original: mutations(original, 8192)))
def test_fcs_mutated_real_file(data):
    only_parse_error(fcs.parse, data)


@fuzz(200)
@given(st.sampled_from(FCS_LAYOUTS).flatmap(lambda original: mutations(original)))
def test_fcs_mutated_generated_layouts(data):
    only_parse_error(fcs.parse_all, data)


# --- allotropy / ASM -----------------------------------------------------------------------


@fuzz(25)
@given(st.binary(min_size=1, max_size=2048), st.sampled_from(["run.txt", "run.csv"]))
def test_asm_arbitrary_bytes(data, filename):
    only_parse_error(asm.convert, data, filename)
    only_parse_error(detect_format, data, filename)


@fuzz(40)
@given(
    st.sampled_from(sorted(INSTRUMENT_FILES)).flatmap(
        lambda name: st.tuples(st.just(name), mutations(INSTRUMENT_FILES[name]))
    )
)
def test_asm_mutated_real_file_converts_and_maps_or_raises_parse_error(named):
    filename, data = named
    document = only_parse_error(asm.convert, data, filename)
    if document is not None:
        only_parse_error(results_from_asm, document)
