# The fill and move forms find a storage position typed as its label in any case (issue 14).

import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('batches', '0015_exosomelot_lot_status_made_idx'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='storagelocation',
            index=models.Index(django.db.models.functions.text.Upper('freezer'), django.db.models.functions.text.Upper('rack'), django.db.models.functions.text.Upper('box'), django.db.models.functions.text.Upper('position'), name='storage_position_upper'),
        ),
    ]
