"""System suitability of the qPCR assays (no-template control, amplification efficiency; MIQE,
Ph. Eur. 2.6.7 / 2.6.21) and of the 4PL/5PL standard-curve assays (curve converged, standards
back-calculated within ±20 %, ±25 % at the ends, for at least 75 %), as catalogue data: the
rules and the analytes they read, on version 1 of MYCO, MYCO-CB, MIRNA-QPCR and BCA."""

from django.db import migrations

from assays.catalogue import set_control_suitability


class Migration(migrations.Migration):
    dependencies = [("assays", "0012_assays_for_specification_v2")]

    operations = [migrations.RunPython(set_control_suitability, migrations.RunPython.noop)]
