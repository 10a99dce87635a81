"""Content-addressed storage of originals: instrument files and certificates of analysis.

ALCOA+ "original": a stored file is named by the SHA-256 of its bytes, written once and never
changed; every read checks the bytes still hash to their name. One implementation for every
kind of original, on Django's default storage (a volume on disk, or any storage backend).
"""

import hashlib

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


class OriginalCorrupted(RuntimeError):
    """The stored bytes no longer hash to the name they were stored under."""


def storage_name(folder: str, digest: str, suffix: str = "") -> str:
    return f"{folder}/{digest[:2]}/{digest}{suffix}"


def store(data: bytes, *, folder: str, suffix: str = "") -> str:
    """Store `data` under its SHA-256 (idempotent: the same bytes are stored once); returns the
    hex digest."""
    digest = hashlib.sha256(data).hexdigest()
    name = storage_name(folder, digest, suffix)
    if not default_storage.exists(name):
        default_storage.save(name, ContentFile(data))
    return digest


def read(name: str, *, sha256: str) -> bytes:
    """The stored bytes of `name`, checked against the digest they were stored under."""
    with default_storage.open(name, "rb") as fh:
        data = fh.read()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise OriginalCorrupted(f"Stored file {name} no longer matches its SHA-256 {sha256}.")
    return data
