"""FCS list-mode files (the real example files): version, channels, events."""

import io
from pathlib import Path

import flowio
import numpy as np
import pytest

from assays.parsers import ParseError, detect_format, fcs

DATA = Path(__file__).resolve().parents[1] / "data" / "fcs"
G11 = DATA / "flowio_G11_fcs31.fcs"
CELLQUEST = DATA / "flowio_3FITC_4PE_004.fcs"


@pytest.fixture(scope="module")
def g11():
    return fcs.parse(G11.read_bytes())


@pytest.fixture(scope="module")
def cellquest():
    return fcs.parse(CELLQUEST.read_bytes())


def test_fcs31_file_version_channels_and_events(g11):
    assert g11.version == "3.1"
    assert g11.channel_names == [
        "Time", "FSC-A", "SSC-A", "BL1-A", "YL2-A", "VL1-A",
        "FSC-H", "SSC-H", "VL1-H", "FSC-W", "SSC-W", "VL1-W",
    ]  # fmt: skip
    assert [c.label for c in g11.channels[3:6]] == ["GFP-A", "mCherry-A", "Alexa Fluor™ 405-A"]
    assert g11.event_count == 5785
    assert g11.events.shape == (5785, 12)
    assert g11.events.dtype == np.float64
    assert g11.dataset_count == 1
    assert g11.warnings == ()


def test_cellquest_file_is_fcs_2_0_with_unlabelled_channels(cellquest):
    # The shared README calls it FCS 3.0, but its HEADER starts "FCS2.0" (CellQuest 3.3).
    assert cellquest.version == "2.0"
    assert cellquest.channel_names == ["FSC-H", "SSC-H", "FL1-H", "FL2-H"]
    assert [c.label for c in cellquest.channels] == ["", "", "", ""]
    assert cellquest.event_count == 94569
    assert cellquest.events.shape == (94569, 4)
    assert cellquest.metadata["creator"] == "CELLQuestª 3.3"


def test_log_amplified_channels_are_converted_to_linear_values(cellquest):
    # FL1-H and FL2-H are stored as 10-bit channel numbers over 4 decades ($PnE = 4,1).
    fl1 = cellquest.events[:, 2]
    assert fl1.min() >= 1.0 and fl1.max() <= 10_000.0
    assert cellquest.events[:, 0].max() <= 1024  # linear scatter kept as is


def test_events_are_read_only(g11):
    with pytest.raises(ValueError):
        g11.events[0, 0] = 1.0


def test_detect_format_recognises_fcs():
    assert detect_format(G11.read_bytes(), "G11.fcs") == "fcs"


@pytest.mark.parametrize("path", [G11, CELLQUEST], ids=["fcs3.1", "fcs2.0"])
def test_truncated_file_is_refused(path):
    data = path.read_bytes()
    with pytest.raises(ParseError, match="FCS file: cannot read"):
        fcs.parse(data[: len(data) // 2])


def test_non_fcs_bytes_are_refused():
    with pytest.raises(ParseError, match="does not start with 'FCS'"):
        fcs.parse(b"NTA Experiment Summary File")


def test_data_end_offset_off_by_one_is_read_with_a_warning(g11):
    # A common writer bug: $ENDDATA (and the HEADER) point one byte past the DATA segment.
    data = G11.read_bytes().replace(b"$ENDDATA/000000285871", b"$ENDDATA/000000285872")
    data = data[:10] + data[10:58].replace(b"285871", b"285872") + data[58:]
    flawed = fcs.parse(data)
    assert np.array_equal(flawed.events, g11.events)
    assert any("off by 1" in warning for warning in flawed.warnings)


def test_header_and_text_offsets_disagreeing_is_read_with_a_warning(g11):
    data = G11.read_bytes().replace(b"$ENDDATA/000000285871", b"$ENDDATA/000000285872")
    flawed = fcs.parse(data)
    assert np.array_equal(flawed.events, g11.events)
    assert any("discrepancy" in warning for warning in flawed.warnings)


@pytest.mark.parametrize("path", [G11, CELLQUEST], ids=["fcs3.1", "fcs2.0"])
def test_events_agree_with_flowio_on_the_real_files(path):
    # flowio (whitews/FlowIO) as an independent reader of the files it reads: same scaling.
    reference = flowio.FlowData(io.BytesIO(path.read_bytes())).as_array(preprocess=True)
    assert np.array_equal(fcs.parse(path.read_bytes()).events, reference)
