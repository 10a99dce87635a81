"""An uploaded file held between the browser's two upload steps, never trusted to the browser.

The upload page reads the file and shows its samples for confirmation; the bytes wait here,
in the file store (lims.file_store: written atomically, read back only if they still hash to
the SHA-256 they were stored under), in a folder of their own that is no original's: nothing is
received until the confirmation, which hands the bytes to `services.instrument_file_receive`
and then discards them. The browser carries only a signed ticket (Django's signing, with the
SECRET_KEY): the SHA-256, a random name part so two people uploading the same bytes never share
a stash, the file's name and the user it was uploaded by, valid for `TICKET_SECONDS`. A stash
whose confirmation never came, or failed, is removed by the next upload once older than
`STALE_SECONDS`; whatever is left in this folder is never an instrument file of the LIMS.
"""

from __future__ import annotations

import logging
import secrets
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from django.core import signing
from django.core.files.storage import default_storage

from lims import file_store

log = logging.getLogger(__name__)

FOLDER = "instrument-files-pending"
SALT = "assays.upload_stash"
TICKET_SECONDS = 2 * 3600
STALE_SECONDS = TICKET_SECONDS + 600


class StashExpired(Exception):
    """The ticket is forged, of another user, too old, or its bytes are gone."""


@dataclass(frozen=True)
class Stashed:
    sha256: str
    filename: str
    data: bytes


def stash(data: bytes, *, filename: str, user_pk: int) -> str:
    """Hold `data` until the confirmation; returns the signed ticket the page carries."""
    _remove_stale()
    nonce = secrets.token_hex(8)
    digest = file_store.store(data, folder=FOLDER, suffix=f".{nonce}")
    return signing.dumps(
        {"sha256": digest, "nonce": nonce, "name": filename, "user": user_pk}, salt=SALT
    )


def take(ticket: str, *, user_pk: int) -> Stashed:
    """The bytes a ticket names, checked against their SHA-256; StashExpired otherwise."""
    try:
        content = signing.loads(ticket, salt=SALT, max_age=TICKET_SECONDS)
    except signing.BadSignature as exc:  # SignatureExpired is one
        raise StashExpired from exc
    if not isinstance(content, dict) or content.get("user") != user_pk:
        raise StashExpired
    name = _name(content)
    try:
        data = file_store.read(name, sha256=content["sha256"])
    except file_store.OriginalUnavailable as exc:
        raise StashExpired from exc
    return Stashed(sha256=content["sha256"], filename=str(content["name"]), data=data)


def discard(ticket: str) -> None:
    """Remove the stash of a ticket (once its file is received)."""
    with suppress(signing.BadSignature):
        content = signing.loads(ticket, salt=SALT)
        with suppress(FileNotFoundError):
            default_storage.delete(_name(content))


def _name(content: dict[str, object]) -> str:
    return file_store.storage_name(FOLDER, str(content["sha256"]), f".{content['nonce']}")


def _remove_stale() -> None:
    root = Path(default_storage.path(FOLDER))
    if not root.exists():
        return
    cutoff = time.time() - STALE_SECONDS
    for path in root.glob("*/*.*"):
        with suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
                log.info("Upload stash: removed %s, never confirmed", path.name)
