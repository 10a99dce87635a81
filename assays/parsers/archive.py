"""Bounds on what a zip container (xlsx, docx, zip exports) may expand to, checked before any
reader opens it.

An xlsx is a zip of XML parts; openpyxl and pandas inflate the parts they read. A few
kilobytes can inflate to gigabytes (a "zip bomb": OWASP ASVS 4.0.3 V12.1.2 asks that
compressed files be checked against a maximum uncompressed size and a maximum number of files
before they are uncompressed; CWE-409). The check reads only the archive's central directory
(no inflation): the sum of the declared uncompressed sizes (`ZipInfo.file_size`), the number
of members, and each large member's compression ratio. The declared sizes bound what Python's
zipfile will return: `ZipExtFile` stops at `file_size` bytes and then checks the CRC, so a
member that lies about its size gives an error, not more data.

The ratio limit follows Apache POI's `ZipSecureFile` (the library behind most Java xlsx
readers): a member may inflate to at most 100 times its compressed size (POI's default
minimum inflate ratio, 0.01), judged only past a grace size, because small and very regular
XML parts legitimately compress better.

Pure: no Django. The LIMS passes its limits from settings (assays.ingest).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from assays.parsers.errors import ParseError

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive


@dataclass(frozen=True)
class ArchiveLimits:
    max_uncompressed_bytes: int = 50 * 1024 * 1024
    max_ratio: float = 100.0
    max_members: int = 10_000
    # Members smaller than this (uncompressed) are not held to max_ratio (POI: 100 KB).
    ratio_grace_bytes: int = 100 * 1024


DEFAULT_LIMITS = ArchiveLimits()


class ArchiveTooLarge(ParseError):
    """A zip container (xlsx...) would expand beyond the limits: refused unopened."""

    code = "archive_too_large"


def is_zip(data: bytes) -> bool:
    """A zip by its first bytes, or by an end-of-central-directory record anywhere near its
    end: zipfile (and so openpyxl) also opens an archive with other bytes prepended."""
    return bytes(data[:4]) in ZIP_MAGIC or zipfile.is_zipfile(io.BytesIO(data))


def check_archive(
    data: bytes, *, filename: str = "", limits: ArchiveLimits = DEFAULT_LIMITS
) -> None:
    """Refuse (ArchiveTooLarge) a zip container that would inflate beyond `limits`.

    Anything that is not a zip passes untouched; a zip whose directory cannot be read is a
    ParseError (the readers could not open it either).
    """
    if not is_zip(data):
        return
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise ParseError(f"a damaged zip/xlsx container ({exc})", source=filename) from exc
    if len(members) > limits.max_members:
        raise ArchiveTooLarge(
            f"the zip/xlsx container holds {len(members)} members, over the limit of "
            f"{limits.max_members}",
            source=filename,
        )
    total = sum(member.file_size for member in members)
    if total > limits.max_uncompressed_bytes:
        raise ArchiveTooLarge(
            f"the zip/xlsx container expands to {total} bytes, over the limit of "
            f"{limits.max_uncompressed_bytes} bytes",
            source=filename,
        )
    for member in members:
        if member.file_size <= limits.ratio_grace_bytes:
            continue
        ratio = member.file_size / max(member.compress_size, 1)
        if ratio > limits.max_ratio:
            raise ArchiveTooLarge(
                f"member {member.filename[:80]!r} of the zip/xlsx container expands "
                f"{ratio:.0f}-fold ({member.compress_size} to {member.file_size} bytes), over "
                f"the limit of {limits.max_ratio:.0f}-fold",
                source=filename,
            )
