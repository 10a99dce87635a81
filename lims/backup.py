"""Backup and restore of the whole installation: the database and the originals (EU GMP Annex 11
§7.2: data are backed up regularly, and the integrity and accuracy of backup data and the ability
to restore them are checked during validation and monitored periodically).

A backup is a folder:

``database.dump``  ``pg_dump --format=custom`` of the database, taken in one snapshot;
``files/``         a copy of the file store (instrument originals, certificates);
``manifest.json``  what the backup holds, to check a restore against: the row count of every
                   table and the head of the audit chain *in the same snapshot as the dump*, the
                   SHA-256 of the dump and of every file, and a digest of every e-signature with
                   whether it was valid.

``restore`` loads a backup into an empty database and file store, then ``verify`` proves it
whole: every table has its row count, the audit chain verifies to the same head, every file
has its hash, every signature is there unchanged and exactly as valid as it was. The commands
are ``manage.py backup``, ``restore`` and ``backup_verify``; CI runs a restore drill on the demo
data (``.ci/run``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from django.apps import apps
from django.conf import settings
from django.db import connection

from lims import audit_chain

FORMAT = 1
DUMP = "database.dump"
MANIFEST = "manifest.json"
FILES = "files"
_CHUNK = 1 << 20


class BackupError(RuntimeError):
    """A backup or restore that cannot be trusted; the message says why."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def conninfo(settings_dict: dict | None = None) -> str:
    """A libpq connection string for the Django database settings (default: the app's)."""
    s = settings_dict or connection.settings_dict
    options = s.get("OPTIONS") or {}
    parts = {
        "dbname": s["NAME"],
        "user": s.get("USER") or "",
        "password": s.get("PASSWORD") or "",
        # The embedded server's socket folder arrives as OPTIONS["host"] (its ?host= URL).
        "host": s.get("HOST") or options.get("host") or "",
        "port": str(s.get("PORT") or ""),
    }
    return " ".join(f"{k}='{v}'" for k, v in parts.items() if v)


def pg_tool(name: str, server_version: int) -> str:
    """The pg_dump/pg_restore to use: one at least as new as the server (pg_dump refuses an
    older client, PostgreSQL docs, pg_dump "Notes"). The embedded server's own binaries first
    (pgserver ships PostgreSQL 16), then the PATH."""
    candidates = []
    try:
        import pgserver  # noqa: PLC0415  (optional: production images may not have it)

        candidates.append(Path(pgserver.__file__).parent / "pginstall" / "bin" / name)
    except ImportError:
        pass
    if found := shutil.which(name):
        candidates.append(Path(found))
    for tool in candidates:
        if not tool.exists():
            continue
        out = subprocess.run([str(tool), "--version"], capture_output=True, text=True).stdout
        major = int(out.split()[-1].split(".")[0])
        if major * 10000 >= server_version - server_version % 10000:
            return str(tool)
    raise BackupError(f"No {name} at least as new as the server ({server_version}).")


# --- What the manifest records --------------------------------------------------------------


def _tables(cur) -> list[str]:
    cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
    return [r[0] for r in cur.fetchall()]


def _one(cur) -> tuple:
    row = cur.fetchone()
    if row is None:
        raise BackupError("The database answered no row where one was expected.")
    return tuple(row)


def row_counts(cur) -> dict[str, int]:
    counts = {}
    for table in _tables(cur):
        cur.execute(f'SELECT count(*) FROM "{table}"')  # names from pg_tables, not input
        counts[table] = cur.fetchone()[0]
    return counts


def file_hashes(root: Path) -> dict[str, str]:
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): sha256_of(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def signature_digests() -> dict[str, dict[str, Any]]:
    """Every e-signature: a digest of its row, and whether it is valid against its record now
    (records with ``signed_content()``; None where validity is not recomputed here)."""
    from lims.models import Signature  # noqa: PLC0415
    from lims.signatures import is_valid  # noqa: PLC0415

    models: dict[str, Any] = {}
    for model in apps.get_models():
        for label in (model._meta.label, getattr(model, "former_label", None)):
            if label:
                models[label] = model
    out: dict[str, dict[str, Any]] = {}
    for s in Signature.objects.order_by("pk").iterator():
        row = (s.pk, s.record_type, s.record_id, s.meaning, s.signer_id, s.content_sha256)
        valid = None
        found = models.get(s.record_type)
        if found is not None and hasattr(found, "signed_content"):
            record = found._default_manager.filter(pk=s.record_id).first()
            valid = record is not None and is_valid(s, record.signed_content())
        out[str(s.pk)] = {
            "row": hashlib.sha256(json.dumps([*row, s.signed_at.isoformat()]).encode()).hexdigest(),
            "valid": valid,
        }
    return out


# --- Backup ------------------------------------------------------------------------------------


@dataclass
class Report:
    folder: Path
    tables: int = 0
    rows: int = 0
    files: int = 0
    signatures: int = 0
    problems: list[str] = field(default_factory=list)


def backup(folder: Path) -> Report:
    """Write a backup of the database and the file store into `folder` (new or empty)."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise BackupError(f"{folder} is not empty: a backup is written into a new folder.")
    folder.mkdir(parents=True, exist_ok=True)
    audit_chain.seal()  # the backup's chain covers every event committed so far
    info = conninfo()
    # One snapshot for the dump and the counts (PostgreSQL docs, pg_export_snapshot; pg_dump
    # --snapshot): what the manifest says is exactly what the dump holds.
    with psycopg.connect(info, autocommit=False) as conn, conn.cursor() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cur.execute("SELECT pg_export_snapshot(), current_setting('server_version_num')::int")
        snapshot, server_version = _one(cur)
        dump = folder / DUMP
        env = {**os.environ, "PGCONNECT_TIMEOUT": "30"}
        result = subprocess.run(
            [
                pg_tool("pg_dump", server_version),
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--snapshot={snapshot}",
                f"--file={dump}",
                f"--dbname={info}",
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        if result.returncode != 0:
            raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
        counts = row_counts(cur)
        chain_head = audit_chain.head_in(cur)
    media = Path(settings.MEDIA_ROOT)
    files = file_hashes(media)
    if files:
        shutil.copytree(media, folder / FILES, dirs_exist_ok=True)
    copied = file_hashes(folder / FILES)
    if copied != files:
        changed = sorted(set(files.items()) ^ set(copied.items()))
        raise BackupError(f"Files changed while being copied: {changed[:5]}")
    signatures = signature_digests()
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "server_version": server_version,
        "database": {"dump": DUMP, "sha256": sha256_of(dump)},
        "row_counts": counts,
        "audit_chain_head": chain_head,
        "files": files,
        "signatures": signatures,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return Report(
        folder,
        tables=len(counts),
        rows=sum(counts.values()),
        files=len(files),
        signatures=len(signatures),
    )


def read_manifest(folder: Path) -> dict:
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise BackupError(f"{folder} holds no {MANIFEST}: not a backup.")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"Unknown backup format {manifest.get('format')!r}.")
    dump = Path(folder) / manifest["database"]["dump"]
    if not dump.exists() or sha256_of(dump) != manifest["database"]["sha256"]:
        raise BackupError(f"{dump} is missing or does not match the manifest's SHA-256.")
    return manifest


# --- Restore and verification -------------------------------------------------------------------


def restore(folder: Path, *, database_url_settings: dict, media_root: Path) -> None:
    """Load a backup into an empty database and an empty file store. Verification is separate
    (``verify``, run against the restored installation)."""
    manifest = read_manifest(folder)
    info = conninfo(database_url_settings)
    with psycopg.connect(info, autocommit=True) as conn, conn.cursor() as cur:
        if _tables(cur):
            raise BackupError("The target database is not empty: restore only into a new one.")
        cur.execute("SELECT current_setting('server_version_num')::int")
        server_version = _one(cur)[0]
    media_root = Path(media_root)
    if media_root.exists() and any(p.is_file() for p in media_root.rglob("*")):
        raise BackupError(f"The target file store {media_root} is not empty.")
    result = subprocess.run(
        [
            pg_tool("pg_restore", server_version),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={info}",
            str(Path(folder) / manifest["database"]["dump"]),
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed: {result.stderr.strip()}")
    if (Path(folder) / FILES).exists():
        shutil.copytree(Path(folder) / FILES, media_root, dirs_exist_ok=True)


def verify(folder: Path) -> Report:
    """Check the installation this process runs against (the restored one) against a backup's
    manifest: row counts, file hashes, signatures and their validity."""
    manifest = read_manifest(folder)
    report = Report(Path(folder))
    with connection.cursor() as cur:
        counts = row_counts(cur)
    for table, expected in manifest["row_counts"].items():
        count = counts.get(table)
        if count != expected:
            report.problems.append(f"table {table}: {count} rows, the backup had {expected}")
    for table in sorted(set(counts) - set(manifest["row_counts"])):
        report.problems.append(f"table {table} is not in the backup")
    files = file_hashes(Path(settings.MEDIA_ROOT))
    for name, digest in manifest["files"].items():
        if files.get(name) != digest:
            report.problems.append(f"file {name}: missing or its SHA-256 differs")
    chain = audit_chain.verify()
    if not chain.intact:
        report.problems.append(f"audit chain broken: {chain.first_break}")
    elif chain.head != manifest["audit_chain_head"]:
        report.problems.append("audit chain: its head differs from the backup's")
    signatures = signature_digests()
    for pk, expected in manifest["signatures"].items():
        got: dict[str, Any] | None = signatures.get(pk)
        if got is None:
            report.problems.append(f"signature {pk} is missing")
        elif got != expected:
            report.problems.append(
                f"signature {pk}: {'row changed' if got['row'] != expected['row'] else ''}"
                f"{'validity changed' if got['valid'] != expected['valid'] else ''}"
            )
    report.tables, report.rows = len(counts), sum(counts.values())
    report.files, report.signatures = len(files), len(signatures)
    return report
