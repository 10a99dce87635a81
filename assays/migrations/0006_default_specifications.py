from django.db import migrations

from assays.default_specifications import seed_specifications
from lims.roles import sync_role_groups


class Migration(migrations.Migration):
    dependencies = [("assays", "0005_specifications"), ("batches", "0003_quality_events")]

    operations = [
        migrations.RunPython(seed_specifications, migrations.RunPython.noop),
        migrations.RunPython(sync_role_groups, migrations.RunPython.noop),
    ]
