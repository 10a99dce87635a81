"""manage.py backup [FOLDER]: the database (one snapshot) and the file store, with a manifest."""

from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from lims import backup


class Command(BaseCommand):
    help = "Back up the database and the file store into a new folder, with a manifest."

    def add_arguments(self, parser):
        parser.add_argument(
            "folder",
            nargs="?",
            help="New folder to write (default: BACKUP_DIR/<UTC time>)",
        )

    def handle(self, *args, folder=None, **options):
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = Path(folder) if folder else Path(settings.BACKUP_DIR) / stamp
        try:
            report = backup.backup(target)
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Backup written to {report.folder}: {report.tables} tables, {report.rows} rows, "
            f"{report.files} files, {report.signatures} signatures."
        )
