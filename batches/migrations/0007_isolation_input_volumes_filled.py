"""Per-harvest volume of each isolation input: what the run took from that harvest.

Inputs recorded before the volume was kept get the run's input volume split over its harvests
in proportion to their volumes (a single harvest: the whole input volume), the last one taking
the rounding remainder; then the database requires a positive volume on every input.
"""

from decimal import ROUND_DOWN, Decimal

from django.db import migrations, models

CENT = Decimal("0.01")


def fill_input_volumes(apps, schema_editor):
    IsolationInput = apps.get_model("batches", "IsolationInput")
    IsolationRun = apps.get_model("batches", "IsolationRun")
    for run in IsolationRun.objects.filter(inputs__volume_ml__isnull=True).distinct():
        inputs = list(run.inputs.select_related("harvest").order_by("pk"))
        total = sum((i.harvest.volume_ml for i in inputs), Decimal(0))
        left = run.input_volume_ml
        for n, item in enumerate(inputs):
            if n == len(inputs) - 1:
                share = left
            else:
                share = (run.input_volume_ml * item.harvest.volume_ml / total).quantize(
                    CENT, rounding=ROUND_DOWN
                )
            share = max(share, CENT)
            left -= share
            IsolationInput.objects.filter(pk=item.pk).update(volume_ml=share)


class Migration(migrations.Migration):
    dependencies = [("batches", "0006_records_add_up")]

    operations = [
        migrations.RunPython(fill_input_volumes, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="isolationinput",
            constraint=models.CheckConstraint(
                condition=models.Q(("volume_ml__gt", 0), ("volume_ml__isnull", False)),
                name="isolation_input_volume_positive",
                violation_error_message="The volume taken from a harvest must be positive.",
            ),
        ),
    ]
