from django.db import migrations

from lims.roles import sync_role_groups
from release.default_specifications import seed_specifications


class Migration(migrations.Migration):
    dependencies = [
        ("release", "0001_initial"),
        ("batches", "0005_release_models_moved"),
        ("assays", "0007_release_models_moved"),
    ]

    operations = [
        # A fresh installation gets version 1 here; one migrated from before the move already
        # has it (seed_specifications leaves a product with any version alone).
        migrations.RunPython(seed_specifications, migrations.RunPython.noop),
        # The roles' permissions now name release's models.
        migrations.RunPython(sync_role_groups, migrations.RunPython.noop),
    ]
