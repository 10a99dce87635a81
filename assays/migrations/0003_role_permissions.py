from django.db import migrations

from lims.roles import sync_role_groups


class Migration(migrations.Migration):
    dependencies = [("assays", "0002_catalogue_and_roles")]

    operations = [migrations.RunPython(sync_role_groups, migrations.RunPython.noop)]
