"""Readers for instrument export files: pure functions from bytes to plain data, no Django.

* :mod:`~assays.parsers.nanosight`: Malvern NanoSight NTA 3.x "Experiment Summary" CSV;
* :mod:`~assays.parsers.fcs`: Flow Cytometry Standard list-mode files (FCS 2.0 to 3.2);
* :mod:`~assays.parsers.asm`: vendor exports converted by ``allotropy`` to Allotrope Simple
  Model (ASM) JSON, and :mod:`~assays.parsers.asm_results` to map ASM to neutral result rows.

Every reader raises :class:`ParseError` (a ``ValueError``) and nothing else for bad input.
DOMAIN.md §5: the original file is the record; these functions never change it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assays.parsers import fcs, nanosight
from assays.parsers.archive import DEFAULT_LIMITS, ArchiveLimits, ArchiveTooLarge
from assays.parsers.errors import ParseError

if TYPE_CHECKING:
    from allotropy.parser_factory import Vendor

__all__ = ["FORMATS", "ArchiveLimits", "ArchiveTooLarge", "ParseError", "detect", "detect_format"]

FORMATS: tuple[str, ...] = ("nanosight", "fcs", "asm")


def detect_format(data: bytes, filename: str, *, limits: ArchiveLimits = DEFAULT_LIMITS) -> str:
    """Which reader handles ``data``: ``"nanosight"``, ``"fcs"`` or ``"asm"`` (allotropy).

    NanoSight and FCS are recognised by their first bytes; anything else is offered to
    allotropy's vendor detection, which needs the file name for its extension, once a zip
    container (xlsx) is known to stay within ``limits`` (:mod:`~assays.parsers.archive`).
    """
    return detect(data, filename, limits=limits)[0]


def detect(
    data: bytes, filename: str, *, limits: ArchiveLimits = DEFAULT_LIMITS
) -> tuple[str, Vendor | None]:
    """:func:`detect_format`, with the allotropy vendor found for an ``"asm"`` file (None for
    the others), to hand to ``asm.convert``: allotropy's detection may parse the whole file to
    tell candidate vendors apart (a Gen5 plate: a third of its conversion), never twice."""
    if fcs.looks_like_fcs(data):
        return "fcs", None
    if nanosight.looks_like_nanosight(data):
        return "nanosight", None
    # Imported only now: importing allotropy takes about a second.
    from assays.parsers import asm  # noqa: PLC0415

    try:
        vendor = asm.detect_vendor(data, filename, limits=limits)
    except ArchiveTooLarge:
        raise
    except ParseError as exc:
        raise ParseError(
            "not a NanoSight Experiment Summary, not an FCS file, and no allotropy vendor "
            f"format recognised ({exc.detail})",
            source=filename,
        ) from exc
    return "asm", vendor
