"""manage.py backup_verify FOLDER: this installation against a backup's manifest."""

from django.core.management.base import BaseCommand, CommandError

from lims import backup


class Command(BaseCommand):
    help = (
        "Check this installation's database and file store against a backup's manifest: row "
        "counts, file SHA-256s, signatures and their validity. Exit status 1 on any difference."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder")

    def handle(self, *args, folder, **options):
        try:
            report = backup.verify(folder)
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        if report.problems:
            for problem in report.problems:
                self.stderr.write(problem)
            raise CommandError(f"{len(report.problems)} differences from the backup {folder}.")
        self.stdout.write(
            f"Verified against {folder}: {report.tables} tables, {report.rows} rows, "
            f"{report.files} files, {report.signatures} signatures, all as backed up."
        )
