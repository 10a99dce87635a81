from django.db import migrations

from assays.catalogue import seed_catalogue
from lims.roles import sync_role_groups


class Migration(migrations.Migration):
    dependencies = [("assays", "0001_initial"), ("lims", "0003_auditevent")]

    operations = [
        migrations.RunPython(seed_catalogue, migrations.RunPython.noop),
        migrations.RunPython(sync_role_groups, migrations.RunPython.noop),
    ]
