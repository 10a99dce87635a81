"""Backup and restore (EU GMP Annex 11 §7.2): a backup restored into an empty database and file
store is verified whole (row counts, file hashes, signatures and their validity), and any
difference is reported."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from lims import backup, file_store
from tests.migrations import database
from tests.release.helpers import lot_under_review, signer_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def installation(technician, make_user, settings, tmp_path):
    """A lot with its runs and reviews (signed), an approved specification (signed), and an
    original in the file store, all committed (pg_dump reads from its own connection)."""
    from release.models import Specification
    from release.specifications import specification_approve

    settings.MEDIA_ROOT = tmp_path / "files"
    lot_under_review(technician)
    qa = make_user("qa")
    draft = Specification.objects.get(product="msc_sev_ds", status="draft")
    specification_approve(signer=signer_for(qa, "approval"), specification=draft)
    digest = file_store.store(b"Plate 42, A1: 0.61\n", folder="instrument", suffix=".csv")
    return {"specification": draft, "file": f"instrument/{digest[:2]}/{digest}.csv"}


@pytest.fixture
def scratch():
    params = database.server_params(connection.settings_dict)
    name = f"{connection.settings_dict['NAME']}_restore"
    database.create_database(params, name)
    yield params, name, database.database_url(connection.settings_dict, name)
    database.drop_database(params, name)


def _restore(folder, url, store) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "manage.py",
            "restore",
            str(folder),
            "--database-url",
            url,
            "--file-store",
            str(store),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _verify(folder, url, store) -> subprocess.CompletedProcess:
    env = {**__import__("os").environ, "DATABASE_URL": url, "FILE_STORE": str(store)}
    return subprocess.run(
        [sys.executable, "manage.py", "backup_verify", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def test_a_backup_restores_whole_and_a_tampered_restore_is_reported(
    installation, scratch, tmp_path
):
    folder = tmp_path / "backup"
    call_command("backup", str(folder))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["row_counts"]["assays_assayrun"] > 0
    assert installation["file"] in manifest["files"]
    assert any(s["valid"] for s in manifest["signatures"].values())

    params, name, url = scratch
    store = tmp_path / "restored-files"
    done = _restore(folder, url, store)
    assert done.returncode == 0, done.stderr
    assert "all as backed up" in done.stdout
    assert (store / installation["file"]).read_bytes() == b"Plate 42, A1: 0.61\n"

    # Tampering after the restore is found: an original's bytes, and a signed criterion
    # changed behind the triggers' back by a superuser (its approval no longer valid).
    (store / installation["file"]).write_bytes(b"Plate 42, A1: 0.16\n")
    with database.connect(params, name, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "UPDATE assays_criterion SET upper = 99 WHERE specification_id = %s AND upper IS "
            "NOT NULL",
            [installation["specification"].pk],
        )
        conn.execute("UPDATE assays_resultevent SET value = value * 10")
    checked = _verify(folder, url, store)
    assert checked.returncode != 0
    assert f"file {installation['file']}: missing or its SHA-256 differs" in checked.stderr
    assert "validity changed" in checked.stderr
    assert "audit chain broken: assays_resultevent #" in checked.stderr


def test_a_restore_only_into_an_empty_database_and_from_an_intact_dump(
    installation, scratch, tmp_path
):
    folder = tmp_path / "backup"
    call_command("backup", str(folder))
    with pytest.raises(CommandError, match="not empty"):
        call_command("backup", str(folder))  # never over an earlier backup

    # Into the test database itself (not empty): refused, nothing touched.
    own = database.database_url(connection.settings_dict, connection.settings_dict["NAME"])
    refused = _restore(folder, own, tmp_path / "other-files")
    assert refused.returncode != 0 and "not empty" in refused.stderr

    # A dump altered after the backup: refused before anything is loaded.
    damaged = tmp_path / "damaged"
    shutil.copytree(folder, damaged)
    with (damaged / "database.dump").open("ab") as fh:
        fh.write(b"\0")
    params, name, url = scratch
    refused = _restore(damaged, url, tmp_path / "restored-files")
    assert refused.returncode != 0 and "does not match the manifest" in refused.stderr
    with database.connect(params, name) as conn:
        assert database.row_counts(conn) == {}


def test_pg_tools_at_least_as_new_as_the_server():
    with connection.cursor() as cur:
        cur.execute("SELECT current_setting('server_version_num')::int")
        version = cur.fetchone()[0]
    tool = backup.pg_tool("pg_dump", version)
    out = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout
    assert int(out.split()[-1].split(".")[0]) >= version // 10000
