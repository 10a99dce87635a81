"""Content-addressed storage of originals: instrument files and certificates of analysis.

ALCOA+ "original" (21 CFR 11.10(b) accurate and complete copies; EU GMP Annex 11 §7.1 data
secured against damage): a stored file is named by the SHA-256 of its bytes, written once and
never changed; every read checks the bytes still hash to their name. One implementation for
every kind of original, on Django's default storage at MEDIA_ROOT (a local volume: the atomic
rename below needs a POSIX file system).

Crash-safe writes. A process killed mid-write (SIGKILL, the OOM killer, a power cut) must never
leave part of a file under the final name, where it would pass for the original:

1. the bytes go to a temporary file in the same folder (same file system, so the rename is a
   rename and not a copy), are flushed and fsync'ed (fsync(2): "transfers all modified in-core
   data of the file to the disk device");
2. the temporary file is read back and its SHA-256 compared with the digest of what was sent;
3. os.replace renames it onto the final name: rename(2) is atomic, "there will be no point at
   which another process attempting to access newpath will find it missing"; a reader sees no
   file or the whole file;
4. the directory is fsync'ed, because fsync(2) "does not necessarily ensure that the entry in
   the directory containing the file has also reached disk".

A file already at the final name is kept only if its bytes hash to that name; otherwise (a
truncated file left by an older, non-atomic writer, bit rot) it is replaced and the event
logged. Temporary files a killed writer left behind are removed by later writes once stale.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

from django.core.files.storage import default_storage

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
TEMP_PREFIX = ".incoming-"
TEMP_SUFFIX = ".part"
# A temporary file untouched for this long belongs to a writer that died (an upload of the
# largest allowed file takes seconds, and every chunk written updates the file's mtime).
STALE_TEMP_SECONDS = 3600
# The permissions Django's FileSystemStorage gives a saved file (FILE_UPLOAD_PERMISSIONS), so
# originals written here look like any other stored file; mkstemp alone would make them 0600.
DEFAULT_FILE_MODE = 0o644

Data = bytes | bytearray | memoryview | BinaryIO | Iterable[bytes]


class OriginalUnavailable(RuntimeError):
    """The store cannot give back the original a record names."""


class OriginalMissing(OriginalUnavailable):
    """No file is stored under the record's SHA-256."""


class OriginalCorrupted(OriginalUnavailable):
    """The stored bytes no longer hash to the name they were stored under."""


class OriginalWriteFailed(OSError):
    """What was written to disk is not what was sent (checked before it gets its name)."""


def storage_name(folder: str, digest: str, suffix: str = "") -> str:
    return f"{folder}/{digest[:2]}/{digest}{suffix}"


def store(data: Data, *, folder: str, suffix: str = "") -> str:
    """Store `data` under its SHA-256, atomically; returns the hex digest.

    `data` is bytes, a binary file object or an iterable of byte chunks (an upload's
    `chunks()`), streamed to disk without holding it whole. Idempotent: the same bytes are
    stored once, and a file at the final name that does not match is replaced.
    """
    root = Path(default_storage.path(folder))
    _make_dir(root)
    _remove_stale_temporaries(root)
    if isinstance(data, bytes | bytearray | memoryview):
        digest = hashlib.sha256(data).hexdigest()
        if _holds(_final_path(folder, digest, suffix), digest):
            return digest  # already stored whole: nothing to write
    fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=root)
    temp = Path(temp_name)
    try:
        hasher = hashlib.sha256()
        with os.fdopen(fd, "wb") as fh:
            for chunk in _chunks(data):
                fh.write(chunk)
                hasher.update(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        digest = hasher.hexdigest()
        written = _sha256_of(temp)
        if written != digest:
            raise OriginalWriteFailed(
                f"The bytes written for {folder} hash to {written}, not to {digest} as sent."
            )
        final = _final_path(folder, digest, suffix)
        if final.exists():
            if _holds(final, digest):
                temp.unlink()
                return digest
            log.warning(
                "File store: %s does not hash to its name (%d bytes on disk); replacing it "
                "with the %d bytes just received",
                final,
                final.stat().st_size,
                temp.stat().st_size,
            )
        os.chmod(temp, getattr(default_storage, "file_permissions_mode", None) or DEFAULT_FILE_MODE)
        _make_dir(final.parent)
        os.replace(temp, final)
        _fsync_dir(final.parent)
    except BaseException:
        with suppress(FileNotFoundError):
            temp.unlink()
        raise
    return digest


def read(name: str, *, sha256: str) -> bytes:
    """The stored bytes of `name`, checked against the digest they were stored under.

    OriginalMissing when nothing is stored there, OriginalCorrupted when the bytes changed:
    never other bytes than the original.
    """
    try:
        with default_storage.open(name, "rb") as fh:
            data = fh.read()
    except FileNotFoundError as exc:
        raise OriginalMissing(f"Stored file {name} is missing from the file store.") from exc
    if hashlib.sha256(data).hexdigest() != sha256:
        raise OriginalCorrupted(f"Stored file {name} no longer matches its SHA-256 {sha256}.")
    return data


# --- Helpers ---------------------------------------------------------------------------------


def _final_path(folder: str, digest: str, suffix: str) -> Path:
    return Path(default_storage.path(storage_name(folder, digest, suffix)))


def _chunks(data: Data) -> Iterator[bytes]:
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data)
        for start in range(0, len(view), CHUNK_BYTES):
            yield bytes(view[start : start + CHUNK_BYTES])
    elif hasattr(data, "read"):
        while chunk := data.read(CHUNK_BYTES):
            yield chunk
    else:
        yield from data


def _sha256_of(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            hasher.update(chunk)
    return hasher.hexdigest()


def _holds(path: Path, digest: str) -> bool:
    try:
        return _sha256_of(path) == digest
    except FileNotFoundError:
        return False


def _make_dir(path: Path) -> None:
    if path.is_dir():
        return
    path.mkdir(parents=True, exist_ok=True)
    _fsync_dir(path.parent)  # the new directory's own entry


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temporaries(root: Path) -> None:
    cutoff = time.time() - STALE_TEMP_SECONDS
    for temp in root.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
        with suppress(FileNotFoundError):
            if temp.stat().st_mtime < cutoff:
                temp.unlink()
                log.warning("File store: removed %s, left by a writer that did not finish", temp)
