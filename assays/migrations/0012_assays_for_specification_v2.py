"""Assays that version 2 of the drug-substance specification needs (MISEV2023; Witwer et al.
2019): MSC identity on the EVs, non-EV co-isolates, residual dsDNA, appearance, pH, osmolality,
bioburden before final filtration."""

from django.db import migrations

from assays.catalogue import seed_added_assays


class Migration(migrations.Migration):
    dependencies = [("assays", "0011_control_baselines")]

    operations = [migrations.RunPython(seed_added_assays, migrations.RunPython.noop)]
