"""POTENCY-MAC v1 computes each cytokine's concentration from its multiplex standards (issue 10):
the `cytokine` analyte (pg/mL, the result's target naming the analyte) and the Luminex xPONENT
plate layout template (seven standards in duplicate, 5PL on Net MFI per analyte)."""

from django.db import migrations

from assays.catalogue import set_multiplex_plate


class Migration(migrations.Migration):
    dependencies = [("assays", "0021_run_started_at_index")]

    operations = [migrations.RunPython(set_multiplex_plate, migrations.RunPython.noop)]
