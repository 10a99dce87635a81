"""An index on the username in pghistory's transaction context, for the audit trail's filter by
user (issue 14): the trail finds the user's contexts by it, then each event table's rows by
their indexed pgh_context_id, instead of reading the JSON of every context."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("lims", "0010_training"),
        ("pghistory", "0007_auto_20250421_0444"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS lims_context_username "
            "ON pghistory_context ((metadata ->> 'username'))",
            "DROP INDEX IF EXISTS lims_context_username",
        )
    ]
