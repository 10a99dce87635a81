"""The file store of originals survives a writer killed mid-write (issue 11 item 4).

Found: the file was written straight to its SHA-256 path and skipped when the path existed; a
kill -9 mid-write left 13.7 of 94 MB there for good, and every retry "stored" it again.
"""

import hashlib
import logging
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lims import file_store

ROOT = Path(__file__).resolve().parents[2]
FOLDER = "instrument-files"
CHUNK = bytes(range(256)) * 4096  # 1 MiB, not uniform
CHUNKS = 16
DATA = CHUNK * CHUNKS
DIGEST = hashlib.sha256(DATA).hexdigest()

# A writer that streams DATA to the store, says "ready" after 8 MiB and then stalls: the test
# kills it there with SIGKILL (no handler, no cleanup, like the OOM killer).
WRITER = f"""
import sys, time
from lims import file_store

CHUNK = bytes(range(256)) * 4096

def slow():
    for i in range({CHUNKS}):
        if i == 8:
            print("ready", flush=True)
            time.sleep(120)
        yield CHUNK

file_store.store(slow(), folder="{FOLDER}")
print("finished", flush=True)
"""


@pytest.fixture
def store_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "files"
    return Path(settings.MEDIA_ROOT)


def _final(root: Path, digest: str = DIGEST, suffix: str = "") -> Path:
    return root / file_store.storage_name(FOLDER, digest, suffix)


def _stored_files(root: Path) -> list[Path]:
    """Every file under a digest folder (where only whole originals may be)."""
    return sorted(p for p in (root / FOLDER).glob("*/*") if p.is_file())


def _temporaries(root: Path) -> list[Path]:
    return sorted((root / FOLDER).glob(f"{file_store.TEMP_PREFIX}*{file_store.TEMP_SUFFIX}"))


def test_a_writer_killed_mid_write_leaves_nothing_under_the_final_name(store_root):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "lims.settings",
        "DEBUG": "True",
        "FILE_STORE": str(store_root),
        # Settings never start the embedded database when a URL is given (none is used).
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
        "PYTHONPATH": str(ROOT),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER], cwd=ROOT, env=env, stdout=subprocess.PIPE
    )
    try:
        ready, _, _ = select.select([child.stdout], [], [], 60)
        assert ready and child.stdout.readline().strip() == b"ready", "the writer never started"
        partial = _temporaries(store_root)
        assert len(partial) == 1 and partial[0].stat().st_size == 8 * len(CHUNK)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    # What the killed writer wrote is only ever a temporary file: no part of it can pass for
    # the original, and a record pointing at DIGEST finds nothing rather than 8 of 16 MiB.
    assert _stored_files(store_root) == []
    with pytest.raises(file_store.OriginalMissing):
        file_store.read(file_store.storage_name(FOLDER, DIGEST), sha256=DIGEST)

    # The retry stores the whole original under its hash.
    assert file_store.store(DATA, folder=FOLDER) == DIGEST
    assert _stored_files(store_root) == [_final(store_root)]
    assert _final(store_root).read_bytes() == DATA
    assert file_store.read(file_store.storage_name(FOLDER, DIGEST), sha256=DIGEST) == DATA

    # The dead writer's leftover goes once it is stale (an hour untouched).
    (leftover,) = _temporaries(store_root)
    old = time.time() - file_store.STALE_TEMP_SECONDS - 60
    os.utime(leftover, (old, old))
    file_store.store(b"another original", folder=FOLDER)
    assert _temporaries(store_root) == []


def test_a_truncated_file_at_the_hash_path_is_replaced_and_logged(store_root, caplog):
    """What the old writer left behind: part of the bytes under the full file's name."""
    final = _final(store_root)
    final.parent.mkdir(parents=True)
    final.write_bytes(DATA[: 5 * len(CHUNK) + 17])

    with caplog.at_level(logging.WARNING, logger="lims.file_store"):
        assert file_store.store(DATA, folder=FOLDER) == DIGEST

    assert final.read_bytes() == DATA
    assert "does not hash to its name" in caplog.text and str(final) in caplog.text
    assert _temporaries(store_root) == []


def test_a_streamed_original_with_a_truncated_file_in_the_way_is_replaced(store_root):
    final = _final(store_root)
    final.parent.mkdir(parents=True)
    final.write_bytes(b"")

    digest = file_store.store(iter([CHUNK] * CHUNKS), folder=FOLDER)

    assert digest == DIGEST and final.read_bytes() == DATA


def test_an_original_already_stored_whole_is_kept_as_it_is(store_root):
    file_store.store(DATA, folder=FOLDER)
    before = _final(store_root).stat()

    assert file_store.store(DATA, folder=FOLDER) == DIGEST
    assert file_store.store(iter([CHUNK] * CHUNKS), folder=FOLDER) == DIGEST

    after = _final(store_root).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert _temporaries(store_root) == []


def test_bytes_that_do_not_read_back_as_sent_never_get_their_name(store_root, monkeypatch):
    """A disk that silently drops a write: the read-back check refuses before the rename."""
    real = file_store._sha256_of

    def read_back_wrong(path):
        return "0" * 64 if path.name.startswith(file_store.TEMP_PREFIX) else real(path)

    monkeypatch.setattr(file_store, "_sha256_of", read_back_wrong)

    with pytest.raises(file_store.OriginalWriteFailed, match="not to"):
        file_store.store(DATA, folder=FOLDER)

    assert _stored_files(store_root) == [] and _temporaries(store_root) == []


def test_the_write_is_flushed_to_disk_before_the_rename(store_root, monkeypatch):
    """fsync of the file, then os.replace, then fsync of its directory: in that order."""
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(file_store.os, "fsync", lambda fd: calls.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(
        file_store.os,
        "replace",
        lambda src, dst: calls.append("replace") or real_replace(src, dst),
    )

    file_store.store(b"an original", folder=FOLDER)

    assert "replace" in calls
    at = calls.index("replace")
    assert "fsync" in calls[:at] and "fsync" in calls[at + 1 :]


def test_a_missing_or_altered_original_is_named_for_what_it_is(store_root):
    digest = file_store.store(b"an original", folder=FOLDER)
    name = file_store.storage_name(FOLDER, digest)

    with pytest.raises(file_store.OriginalMissing, match="missing"):
        file_store.read(file_store.storage_name(FOLDER, "ab" * 32), sha256="ab" * 32)
    (store_root / name).write_bytes(b"an altered original")
    with pytest.raises(file_store.OriginalCorrupted, match="no longer matches"):
        file_store.read(name, sha256=digest)
