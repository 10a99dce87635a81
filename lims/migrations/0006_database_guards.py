"""The guards of lims.db_roles: pgtrigger's ignore switch honoured only for the owner or a
superuser, and who/why of committed events (pghistory_context) kept as they were. Re-installed
after every migrate as well (lims.apps), since each pgtrigger installation replaces the switch."""

from django.db import migrations


def install(apps, schema_editor):
    from lims import db_roles  # noqa: PLC0415

    db_roles.install_guards(schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("lims", "0005_audit_chain"), ("pghistory", "0007_auto_20250421_0444")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
