"""manage.py restore FOLDER --database-url URL --file-store DIR: a backup into an empty database
and file store, then verified there (row counts, file hashes, signatures)."""

import os
import subprocess
import sys
from pathlib import Path

import environ
from django.core.management.base import BaseCommand, CommandError

from lims import backup


class Command(BaseCommand):
    help = "Restore a backup into an empty database and file store, then verify it."

    def add_arguments(self, parser):
        parser.add_argument("folder")
        parser.add_argument("--database-url", required=True, help="The empty target database")
        parser.add_argument("--file-store", required=True, help="The empty target file store")

    def handle(self, *args, folder, database_url, file_store, **options):
        target = environ.Env.db_url_config(database_url)
        try:
            backup.restore(Path(folder), database_url_settings=target, media_root=Path(file_store))
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Restored {folder} into {target['NAME']}; verifying.")
        # Verified by a process of its own, running against the restored installation exactly
        # as the application would.
        env = {**os.environ, "DATABASE_URL": database_url, "FILE_STORE": str(file_store)}
        result = subprocess.run(
            [sys.executable, "manage.py", "backup_verify", str(folder)],
            cwd=Path(__file__).resolve().parents[3],
            env=env,
            capture_output=True,
            text=True,
        )
        self.stdout.write(result.stdout.strip())
        if result.returncode != 0:
            self.stderr.write(result.stderr.strip())
            raise CommandError("The restored installation differs from the backup.")
