"""Dates in forms are written as <input type=date> reads them, YYYY-MM-DD, whatever the locale
(en-GB wrote 21/10/2026, which the browser shows as blank: every correction lost its dates)."""

import re
from datetime import date

import pytest
from django import forms
from django.utils import translation

from batches.forms import CellBankForm
from lims.forms import BootstrapMixin
from tests import factories

pytestmark = pytest.mark.django_db


def _date_values(html: str) -> list[str]:
    return re.findall(r'<input type="date"[^>]*value="([^"]*)"', html) + re.findall(
        r'<input[^>]*value="([^"]*)"[^>]*type="date"', html
    )


def test_a_correction_form_shows_its_dates_in_iso_under_en_gb(technician):
    bank = factories.cell_bank(technician)
    with translation.override("en-gb"):
        html = str(CellBankForm(instance=bank))
    values = _date_values(html)
    assert values and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) for v in values), values


def test_any_date_field_of_the_project_forms_renders_iso():
    class Form(BootstrapMixin, forms.Form):
        on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))

    with translation.override("en-gb"):
        html = str(Form(initial={"on": date(2026, 10, 21)}))
    assert 'value="2026-10-21"' in html and "21/10/2026" not in html
