from datetime import timedelta
from django.utils import timezone
from tests import factories

def test_form(technician):
    from batches import forms
    cb = factories.cell_bank(technician)
    med = factories.reagent_lot(technician, name="MSC medium", lot_number="MED-2401")
    f = forms.CultureBatchForm(data={"cell_bank": cb.pk, "started_on": (timezone.localdate()-timedelta(days=14)).isoformat(), "reagent_lots": [str(med.pk)], "notes": ""})
    print(f.fields["reagent_lots"].queryset, f.fields["reagent_lots"].queryset.query)
    print(f.is_valid(), f.errors)
    print(list(f["reagent_lots"]))
