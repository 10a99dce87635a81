"""Version 2 of the drug-substance specification (MISEV2023; Witwer et al. 2019; K/M endotoxin
limit; alert limits), as a draft for QA to approve. Lots in testing stay on version 1."""

from django.db import migrations

from release.default_specifications import seed_specification_v2


class Migration(migrations.Migration):
    dependencies = [
        ("release", "0005_criterion_any_of_and_km"),
        ("assays", "0012_assays_for_specification_v2"),
    ]

    operations = [migrations.RunPython(seed_specification_v2, migrations.RunPython.noop)]
