"""The ASM document allotropy wrote from an instrument file at its receipt, kept for the worker.

Receiving a file reads it (its samples are matched before anything is kept); the worker that
records its run would read it again, and allotropy's conversion is most of the time a plate
takes to ingest (issue 10 item 7). The document is kept in the file store (lims.file_store:
written atomically, read back only if it still hashes to the SHA-256 it was stored under, which
the file's record names, InstrumentFile.asm_sha256) with the converter that wrote it. The worker
uses it only when that digest checks and the converter is still the one installed; otherwise
(a document gone or altered, allotropy upgraded in between) it converts the original again.
Nothing is lost either way: the original is the record, this is a derived copy of its reading.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from importlib.metadata import version
from typing import Any

from lims import file_store

log = logging.getLogger(__name__)

FOLDER = "instrument-files-asm"
SUFFIX = ".json"


@cache
def converter() -> str:
    """Which converter wrote a document: a document of another version is not reused."""
    return f"allotropy {version('allotropy')}"


def keep(document: dict[str, Any]) -> str:
    """Store the document with its converter; returns the SHA-256 it is stored under."""
    envelope = {"converter": converter(), "document": document}
    return file_store.store(json.dumps(envelope).encode(), folder=FOLDER, suffix=SUFFIX)


def kept(sha256: str) -> dict[str, Any] | None:
    """The document stored under ``sha256`` by this converter; None when there is none to
    trust (never kept, gone, altered, or written by another converter version)."""
    if not sha256:
        return None
    name = file_store.storage_name(FOLDER, sha256, SUFFIX)
    try:
        envelope = json.loads(file_store.read(name, sha256=sha256))
    except file_store.OriginalUnavailable as exc:
        log.warning("Kept ASM document not used, the file is converted again: %s", exc)
        return None
    if envelope.get("converter") != converter():
        return None
    document: dict[str, Any] = envelope["document"]
    return document
