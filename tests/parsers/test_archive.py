"""Zip containers (xlsx) are bounded before any reader inflates them (issue 11 item 5).

Found: a 713 KB xlsx decompression bomb held the only Celery worker for 527 s and 1.37 GB.
"""

import io
import zipfile

import pytest

from assays.parsers import ArchiveTooLarge, ParseError, asm, detect_format
from assays.parsers.archive import DEFAULT_LIMITS, ArchiveLimits, check_archive, is_zip

MiB = 1024 * 1024


def zip_of(
    members: dict[str, bytes | int], *, prefix: bytes = b"", method: int = zipfile.ZIP_DEFLATED
) -> bytes:
    """A zip (deflate, as xlsx) of the given members; an int member is that many zero bytes,
    streamed so the test never holds them."""
    buffer = io.BytesIO()
    buffer.write(prefix)
    with zipfile.ZipFile(buffer, "a" if prefix else "w", method) as archive:
        for name, content in members.items():
            if isinstance(content, bytes):
                archive.writestr(name, content)
                continue
            with archive.open(name, "w", force_zip64=content > 2**31) as member:
                zeros = bytes(MiB)
                for _ in range(content // MiB):
                    member.write(zeros)
    return buffer.getvalue()


CONTENT_TYPES = b'<?xml version="1.0"?><Types/>'


def decompression_bomb(size: int = 101 * MiB, method: int = zipfile.ZIP_BZIP2) -> bytes:
    """An "xlsx" whose worksheet inflates to `size` bytes of zeros: a few hundred bytes with
    bzip2 (which zipfile, and so openpyxl, inflates as readily as deflate), about 100 KB with
    deflate."""
    members = {"[Content_Types].xml": CONTENT_TYPES, "xl/worksheets/sheet1.xml": size}
    return zip_of(members, method=method)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return decompression_bomb()


def a_real_xlsx() -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    for row in range(1, 200):
        sheet.append([f"A{row}", row * 1.5, "viability", 95.0])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("method", "at_most"), [(zipfile.ZIP_BZIP2, 4 * 1024), (zipfile.ZIP_DEFLATED, 200 * 1024)]
)
def test_a_bomb_of_zeros_is_refused_from_its_directory_alone(method, at_most):
    bomb = decompression_bomb(method=method)
    declared = 101 * MiB + len(CONTENT_TYPES)

    assert len(bomb) < at_most  # a few KB (bzip2) or about 100 KB (deflate)...
    with pytest.raises(ArchiveTooLarge, match=f"expands to {declared} bytes") as refused:
        check_archive(bomb, filename="plate.xlsx")  # ...declaring 101 MiB

    assert refused.value.code == "archive_too_large"
    assert isinstance(refused.value, ParseError)  # every caller's one except clause
    assert refused.value.source == "plate.xlsx"


def test_a_member_inflating_far_beyond_the_ratio_is_refused_below_the_total_limit():
    small_bomb = zip_of({"xl/sharedStrings.xml": 8 * MiB})

    assert 8 * MiB < DEFAULT_LIMITS.max_uncompressed_bytes
    with pytest.raises(ArchiveTooLarge, match=r"expands \d+-fold"):
        check_archive(small_bomb, filename="plate.xlsx")


def test_too_many_members_are_refused():
    many = zip_of({f"xl/part{i}.xml": b"<a/>" for i in range(30)})

    with pytest.raises(ArchiveTooLarge, match="30 members"):
        check_archive(many, limits=ArchiveLimits(max_members=20))


def test_a_bomb_behind_other_bytes_is_still_found():
    """zipfile (and so openpyxl) opens an archive with bytes prepended: so does the check."""
    disguised = zip_of({"xl/worksheets/sheet1.xml": 4 * MiB}, prefix=b"Plate export v2\n" * 8)

    assert not disguised.startswith(b"PK") and is_zip(disguised)
    with pytest.raises(ArchiveTooLarge):
        check_archive(disguised, filename="plate.xlsx")


def test_a_real_workbook_and_text_exports_pass():
    check_archive(a_real_xlsx(), filename="counts.xlsx")
    check_archive(b"Sample,Viability\nA1,95.0\n", filename="counts.csv")
    check_archive(b"", filename="empty.csv")


def test_the_limits_are_the_callers():
    workbook = a_real_xlsx()

    with pytest.raises(ArchiveTooLarge, match="over the limit of 1000 bytes"):
        check_archive(workbook, limits=ArchiveLimits(max_uncompressed_bytes=1000))


def test_a_damaged_container_is_a_parse_error_not_a_crash():
    damaged = a_real_xlsx()[:-40]  # the end of the central directory cut off

    with pytest.raises(ParseError):
        check_archive(b"PK\x03\x04" + damaged[4:300], filename="cut.xlsx")
    check_archive(b"no zip at all" + damaged[:100], filename="cut.xlsx")


def test_allotropy_never_sees_a_bomb(bomb, monkeypatch):
    """Conversion and detection refuse it before pandas or openpyxl open a single part."""

    def must_not_open(*args, **kwargs):
        raise AssertionError("allotropy was handed the bomb")

    monkeypatch.setattr(asm, "allotrope_model_from_io", must_not_open)
    monkeypatch.setattr(asm, "vendor_from_io", must_not_open)

    with pytest.raises(ArchiveTooLarge):
        asm.convert(bomb, "counts.xlsx", vendor="vicell_xr")
    with pytest.raises(ArchiveTooLarge):
        asm.convert(bomb, "counts.xlsx")
    with pytest.raises(ArchiveTooLarge):
        asm.detect_vendor(bomb, "counts.xlsx")
    with pytest.raises(ArchiveTooLarge):
        detect_format(bomb, "counts.xlsx")
