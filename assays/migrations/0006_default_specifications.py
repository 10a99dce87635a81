from django.db import migrations

from lims.roles import sync_role_groups

# The default specifications were seeded here before the specification models moved to the
# release app; release's migration 0002 seeds them now (an installation migrated before the
# move already has them, and that migration leaves existing ones alone).


class Migration(migrations.Migration):
    dependencies = [("assays", "0005_specifications"), ("batches", "0003_quality_events")]

    operations = [
        migrations.RunPython(sync_role_groups, migrations.RunPython.noop),
    ]
