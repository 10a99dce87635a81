"""Vendor instrument exports → Allotrope Simple Model (ASM) JSON, through ``allotropy``.

``allotropy`` (Benchling, MIT) reads plate readers (Gen5, SoftMax Pro, SkanIt, EnVision),
qPCR (QuantStudio, CFX Maestro), cell counters (Vi-CELL BLU/XR, NucleoView), multiplex
immunoassays (Luminex xPONENT, MSD), NanoDrop, Qubit and more, and writes ASM: the
vendor-neutral JSON of the Allotrope Foundation (DOMAIN.md §5). This module adds what a LIMS
upload needs around it: a vendor hint by short alias, text-encoding repair (SoftMax Pro and
Vi-CELL write UTF-16), and one :class:`ParseError` with a readable message for every failure.
"""

from __future__ import annotations

import codecs
import io
from datetime import tzinfo
from pathlib import PureWindowsPath
from typing import Any

from allotropy.allotrope.converter import unstructure
from allotropy.allotrope.schemas import validate_asm_schema
from allotropy.parser_factory import Vendor
from allotropy.to_allotrope import allotrope_model_from_io, vendor_from_io

from assays.parsers.archive import DEFAULT_LIMITS, ArchiveLimits, check_archive
from assays.parsers.errors import ParseError, shorten

# Short aliases a user or an instrument registration may give, mapped to allotropy Vendor
# member names. An alias naming a family (e.g. "nanodrop") lists several parsers: the ones
# accepting the file's extension are tried in order.
VENDORS: dict[str, tuple[str, ...]] = {
    "vicell_blu": ("BECKMAN_VI_CELL_BLU",),
    "vicell_xr": ("BECKMAN_VI_CELL_XR",),
    "vicell": ("BECKMAN_VI_CELL_BLU", "BECKMAN_VI_CELL_XR"),
    "nucleoview": ("CHEMOMETEC_NUCLEOVIEW",),
    "nc_view": ("CHEMOMETEC_NC_VIEW",),
    "cedex_hires": ("ROCHE_CEDEX_HIRES",),
    "gen5": ("AGILENT_GEN5",),
    "softmax_pro": ("MOLDEV_SOFTMAX_PRO",),
    "skanit": ("THERMO_SKANIT",),
    "envision": ("PERKIN_ELMER_ENVISION",),
    "quantstudio": ("APPBIO_QUANTSTUDIO",),
    "quantstudio_design_analysis": ("APPBIO_QUANTSTUDIO_DESIGNANDANALYSIS",),
    "cfx_maestro": ("CFXMAESTRO",),
    "luminex_xponent": ("LUMINEX_XPONENT",),
    "luminex_intelliflex": ("LUMINEX_INTELLIFLEX",),
    "bioplex": ("BIORAD_BIOPLEX",),
    "msd": ("MSD_WORKBENCH", "METHODICAL_MIND"),
    "msd_workbench": ("MSD_WORKBENCH",),
    "msd_methodical_mind": ("METHODICAL_MIND",),
    "nanodrop": (
        "THERMO_FISHER_NANODROP_ONE",
        "THERMO_FISHER_NANODROP_EIGHT",
        "THERMO_FISHER_NANODROP_8000",
    ),
    "nanodrop_one": ("THERMO_FISHER_NANODROP_ONE",),
    "nanodrop_eight": ("THERMO_FISHER_NANODROP_EIGHT",),
    "nanodrop_8000": ("THERMO_FISHER_NANODROP_8000",),
    "qubit": ("THERMO_FISHER_QUBIT4", "THERMO_FISHER_QUBIT_FLEX"),
    "qubit4": ("THERMO_FISHER_QUBIT4",),
    "qubit_flex": ("THERMO_FISHER_QUBIT_FLEX",),
    "facsdiva": ("BD_BIOSCIENCES_FACSDIVA",),
    "flowjo": ("FLOWJO",),
}

# Extensions of text exports whose encoding is repaired before allotropy sees them.
_TEXT_EXTENSIONS = frozenset({"csv", "txt", "tsv", "log"})


def convert(
    data: bytes,
    filename: str,
    vendor: str | Vendor | None = None,
    *,
    default_timezone: tzinfo | None = None,
    limits: ArchiveLimits = DEFAULT_LIMITS,
    validate: bool = True,
    detected: Vendor | None = None,
) -> dict[str, Any]:
    """Convert a vendor export to ASM JSON (a dict), validated against its ASM schema.

    ``validate=False`` skips only that last check, for a document allotropy has just written
    itself from a vendor file (the upload path): ``allotrope_from_io`` is
    ``allotrope_model_from_io`` + ``unstructure`` + ``validate_asm_schema``, and the schema check
    is about 70 % of converting a Gen5 96-well plate (0.9 of 1.3 s). allotropy checks each of
    its converters' output against the schema on its own test files, and the values read from
    the document are checked again here (asm_results, the assay's rules). A document that a
    client posts is not allotropy's own output: it goes through :func:`validate_document`.

    ``filename`` matters: allotropy chooses parsers by extension and copies the name into the
    ASM. ``vendor`` is an alias from :data:`VENDORS` or an allotropy ``Vendor`` name (e.g.
    ``"BECKMAN_VI_CELL_BLU"``); when None the format is detected. Timestamps without a zone
    are read in ``default_timezone`` (allotropy's default: UTC). A zip container (xlsx) that
    would expand beyond ``limits`` is refused unopened (``archive.ArchiveTooLarge``).
    ``detected``: the vendor :func:`detect_vendor` already found in these bytes, so that the
    detection (which may parse the whole file) is not run a second time.
    """
    contents = _normalised_text(_as_bytes(data, filename, limits), filename)
    if vendor:
        candidates = _vendors_for_hint(vendor, filename)
    else:
        candidates = [detected or _detect(contents, filename)]
    failures = []
    for candidate in candidates:
        try:
            model = allotrope_model_from_io(
                io.BytesIO(contents), filename, candidate, default_timezone=default_timezone
            )
            document: dict[str, Any] = unstructure(model)
            if validate:
                validate_asm_schema(document)
            return document
        # allotropy raises its own errors for bad input but also pandas, KeyError, IndexError
        # and the like from deep inside its readers: all mean "this file cannot be converted".
        except Exception as exc:
            failures.append((candidate.display_name, shorten(exc)))
    if vendor:
        reasons = "; ".join(f"{name}: {reason}" for name, reason in failures)
        message = f"not a readable {' or '.join(n for n, _ in failures)} export ({reasons})"
    else:
        name, reason = failures[0]
        message = f"recognised as {name} but cannot be converted: {reason}"
    raise ParseError(message, source=filename)


def validate_document(document: dict[str, Any]) -> None:
    """Check an ASM document (as a client posts it) against the ASM schema its manifest
    names; ParseError saying what is wrong when it does not conform."""
    try:
        validate_asm_schema(document)
    except Exception as exc:
        raise ParseError(f"not a valid ASM document ({shorten(exc)})") from exc


def detect_vendor(data: bytes, filename: str, *, limits: ArchiveLimits = DEFAULT_LIMITS) -> Vendor:
    """The allotropy ``Vendor`` whose parser recognises ``data``; ParseError when none does."""
    return _detect(_normalised_text(_as_bytes(data, filename, limits), filename), filename)


def vendor_for_alias(alias: str | Vendor) -> tuple[Vendor, ...]:
    """The allotropy vendors an alias (or a Vendor name) stands for; ParseError if unknown."""
    if isinstance(alias, Vendor):
        return (alias,)
    if not isinstance(alias, str):
        raise ParseError(f"vendor hint must be a string, got {type(alias).__name__}")
    key = alias.strip()
    if key.lower() in VENDORS:
        return tuple(Vendor[name] for name in VENDORS[key.lower()])
    if key.upper() in Vendor.__members__:
        return (Vendor[key.upper()],)
    raise ParseError(
        f"unknown instrument vendor {alias!r}; use one of {', '.join(sorted(VENDORS))} "
        "or an allotropy Vendor name"
    )


def _as_bytes(data: bytes, filename: str, limits: ArchiveLimits) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ParseError(f"expected bytes, got {type(data).__name__}", source=filename)
    if not data:
        raise ParseError("the file is empty", source=filename)
    # Before allotropy (pandas, openpyxl) inflates any part of an xlsx or zip export.
    check_archive(bytes(data), filename=filename, limits=limits)
    return bytes(data)


def _extension(filename: str) -> str:
    return PureWindowsPath(filename).suffix[1:].lower()


def _normalised_text(data: bytes, filename: str) -> bytes:
    """Text exports re-encoded as UTF-8 without BOM, the only form every allotropy reader takes.

    SoftMax Pro (and Vi-CELL on some installations) write UTF-16 with a byte-order mark;
    allotropy's format sniffers and several readers assume UTF-8. Older Windows software writes
    the ANSI code page (cp1252). Binary formats (xlsx, zip) pass through untouched.
    """
    if _extension(filename) not in _TEXT_EXTENSIONS:
        return data
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _reencode(data, "utf-16", filename)
    if _looks_like_bomless_utf16(data):
        return _reencode(data, "utf-16-le", filename)
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace").encode("utf-8")
    return data


def _looks_like_bomless_utf16(data: bytes) -> bool:
    # ASCII text in UTF-16-LE has a NUL in every odd byte.
    sample = data[:512]
    return len(sample) >= 8 and sample[1::2].count(0) > 0.9 * (len(sample) // 2)


def _reencode(data: bytes, encoding: str, filename: str) -> bytes:
    try:
        return data.decode(encoding).encode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(
            f"invalid {encoding.upper()} text ({exc.reason})", source=filename
        ) from exc


def _detect(contents: bytes, filename: str) -> Vendor:
    try:
        vendor = vendor_from_io(io.BytesIO(contents), filename)
    except Exception as exc:
        raise ParseError(
            f"no supported instrument export recognised ({shorten(exc)})", source=filename
        ) from exc
    return _prefer_xponent(vendor, contents)


def _prefer_xponent(vendor: Vendor, contents: bytes) -> Vendor:
    # allotropy's xPONENT and INTELLIFLEX parsers share one reader and one sniffer, and
    # detection picks INTELLIFLEX first; the file's "Program" line says which software wrote it.
    if vendor is Vendor.LUMINEX_INTELLIFLEX and b"xponent" in contents[:200].lower():
        return Vendor.LUMINEX_XPONENT
    return vendor


def _vendors_for_hint(hint: str | Vendor, filename: str) -> list[Vendor]:
    try:
        vendors = vendor_for_alias(hint)
    except ParseError as exc:
        raise ParseError(exc.detail, source=filename) from exc
    extension = _extension(filename)
    accepted = [vendor for vendor in vendors if extension in vendor.supported_extensions]
    if not accepted:
        expected = sorted({ext for vendor in vendors for ext in vendor.supported_extensions})
        raise ParseError(
            f"{vendors[0].display_name} exports are {', '.join('.' + e for e in expected)} "
            f"files, not .{extension or '(no extension)'}",
            source=filename,
        )
    return accepted
