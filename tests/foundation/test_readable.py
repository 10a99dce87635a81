"""Numbers and units as a person reads them (issue 12 item 7a).

A value is shown by its magnitude (3,000,000 cells; 1.47 × 10⁹ particle/mL; 12.35 nm) with
its exact stored value beside it in the title; units in their proper symbols (µg/mL, µL, °C),
normalised when typed.
"""

import math
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.template import Context, Template
from django.urls import reverse

from assays.units import convert, is_valid_unit, normalised
from batches import services
from lims.quantities import exact_number, format_number, format_quantity, unit_symbol
from tests import factories

BACKEND = "django.contrib.auth.backends.ModelBackend"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0, "0"),
        (0.0, "0"),
        (-0.0, "0"),
        (None, "—"),
        (math.nan, "—"),
        (math.inf, "—"),
        ("", "—"),
        ("not a number", "—"),
        (True, "—"),
        # Counts keep every digit, grouped in threes, below a billion.
        (3000000, "3,000,000"),
        (-42, "-42"),
        (999_999_999, "999,999,999"),
        (10**12, "1 × 10¹²"),
        ("3000000", "3,000,000"),
        # Measured values: three significant figures as a power of ten when huge or tiny …
        (1466257192.4166667, "1.47 × 10⁹"),
        (-1466257192.4166667, "-1.47 × 10⁹"),
        (1.5e9, "1.5 × 10⁹"),
        (1e300, "1 × 10³⁰⁰"),
        (2.5e-5, "2.5 × 10⁻⁵"),
        (-2.5e-5, "-2.5 × 10⁻⁵"),
        (1e-12, "1 × 10⁻¹²"),
        (5e-324, "4.94 × 10⁻³²⁴"),
        # … four otherwise, never a false trailing zero in the integer part.
        (0.001, "0.001"),
        (0.05, "0.05"),
        (0.00123, "0.00123"),
        (3.14159265, "3.142"),
        (123.456, "123.5"),
        (99.99, "99.99"),
        (999.95, "1,000"),
        (1234.5678, "1,235"),
        (12345.678, "12,346"),
        (500000.0, "500,000"),
        (999999.9, "1,000,000"),
        (-1234.5, "-1,234"),
        # Typed decimals (volumes) exactly, without the column's trailing zeros.
        (Decimal("250.00"), "250"),
        (Decimal("1234.50"), "1,234.5"),
        (Decimal("0.400"), "0.4"),
        (Decimal("-3.5"), "-3.5"),
        (Decimal("0.00"), "0"),
        (Decimal("NaN"), "—"),
        (Decimal("12345678.9"), "1.23 × 10⁷"),
    ],
)
def test_a_number_is_shown_by_its_magnitude(value, shown):
    assert format_number(value) == shown


def test_significant_figures_can_be_asked_for():
    assert format_number(1466257192.4166667, 5) == "1.4663 × 10⁹"
    assert format_number(3.14159265, 6) == "3.14159"
    assert format_number(0.123456, 2) == "0.12"


def test_the_exact_value_is_every_stored_digit():
    assert exact_number(1466257192.4166667) == "1466257192.4166667"
    assert exact_number(Decimal("250.00")) == "250.00"
    assert exact_number(3000000) == "3000000"
    assert exact_number(None) == ""
    for value in (1466257192.4166667, 2.5e-5, 1e300, -0.1):
        assert float(exact_number(value)) == value  # round-trips: nothing lost


@pytest.mark.parametrize(
    ("typed", "stored", "shown"),
    [
        ("ug/mL", "µg/mL", "µg/mL"),
        ("μg/mL", "µg/mL", "µg/mL"),  # Greek mu becomes the micro sign
        ("uL", "µL", "µL"),
        ("ul", "µL", "µL"),
        ("ml", "mL", "mL"),
        ("umol/L", "µmol/L", "µmol/L"),
        ("um", "µm", "µm"),
        ("deg C", "°C", "°C"),
        ("degC", "°C", "°C"),
        ("degrees C", "°C", "°C"),
        ("cells/cm^2", "cells/cm^2", "cells/cm²"),
        ("10^6 cells/mL", "10^6 cells/mL", "10⁶ cells/mL"),
        ("percent", "percent", "%"),  # the services compare "percent" by name
        ("particle/mL", "particle/mL", "particle/mL"),
        ("EU/mL", "EU/mL", "EU/mL"),
        ("U/mL", "U/mL", "U/mL"),  # enzyme units are no micro anything
        ("mOsm/kg", "mOsm/kg", "mOsm/kg"),
        ("mol", "mol", "mol"),
        ("", "", ""),
    ],
)
def test_units_are_written_with_their_symbols(typed, stored, shown):
    assert normalised(typed) == stored
    assert unit_symbol(typed) == shown
    if typed:
        assert is_valid_unit(stored)


def test_a_normalised_unit_means_what_was_typed():
    assert convert(2.0, "ug/mL", normalised("ug/mL")) == 2.0
    assert convert(1.0, "ml", normalised("ml")) == 1.0
    # pint reads "deg C" as degree × coulomb: the laboratory means Celsius.
    assert normalised("deg C") == "°C"
    assert normalised("no such unit") == "no such unit"  # left for validation to refuse


def test_a_quantity_is_its_number_and_unit():
    assert format_quantity(1466257192.4166667, "particle/mL") == "1.47 × 10⁹ particle/mL"
    assert format_quantity(95.2, "percent") == "95.2 %"
    assert format_quantity(None, "mL") == "—"
    assert format_quantity(3, "") == "3"


def _render(source: str, **context) -> str:
    return Template("{% load quantities %}" + source).render(Context(context))


def test_the_filters_keep_the_exact_value_in_the_title():
    html = _render("{{ v|quantity:'particle/mL' }}", v=1466257192.4166667)
    assert html == (
        '<span class="quantity text-nowrap" title="1466257192.4166667 particle/mL">'
        "1.47 × 10⁹ particle/mL</span>"
    )
    assert _render("{{ v|readable }}", v=3000000) == (
        '<span class="quantity text-nowrap" title="3000000">3,000,000</span>'
    )
    assert ">1.4663 × 10⁹<" in _render("{{ v|readable:5 }}", v=1466257192.4166667)
    assert _render("{{ v|quantity:'mL' }}", v=None) == "—"
    assert _render("{{ u|unit }}", u="ug/mL") == "µg/mL"
    # A unit is text from a record: escaped, never markup.
    assert "<b>" not in _render("{{ v|quantity:u }}", v=1, u="<b>x</b>")


def test_pages_show_counts_and_volumes_readably(client, technician):
    batch = factories.culture_batch(technician)
    services.passage_record(
        actor=technician,
        batch=batch,
        number=1,
        seeded_on=batch.started_on,
        seeding_density_per_cm2=5000,
        cells_seeded=1_000_000,
        cells_harvested=3_000_000,
    )
    client.force_login(technician, backend=BACKEND)
    page = client.get(reverse("batches:culturebatch_detail", args=[batch.pk])).content.decode()
    assert 'title="3000000">3,000,000<' in page
    assert ">1,000,000<" in page

    lot = factories.lot(technician)
    lot.refresh_from_db()  # the column's Decimal, as the page reads it
    page = client.get(reverse("batches:exosomelot_detail", args=[lot.pk])).content.decode()
    assert f'title="{lot.volume_ml} mL">{format_number(lot.volume_ml)} mL<' in page


def test_a_criterion_unit_is_stored_in_its_symbols_and_a_bad_one_still_refused(qa_user):
    from release.models import Specification
    from release.specifications import criterion_save, specification_draft_create
    from tests.release.helpers import withdraw_installed_draft

    withdraw_installed_draft(qa_user)
    draft = specification_draft_create(actor=qa_user, product=Specification.Product.DRUG_SUBSTANCE)
    criterion = draft.criteria.filter(unit="").exclude(comparator="equals").first() or (
        draft.criteria.exclude(comparator="equals").first()
    )
    saved = criterion_save(actor=qa_user, specification=draft, criterion=criterion, unit="ug/mL")
    saved.refresh_from_db()
    assert saved.unit == "µg/mL"

    with pytest.raises(ValidationError) as refused:
        criterion_save(actor=qa_user, specification=draft, criterion=saved, unit="blorps/uL")
    assert "unit" in refused.value.message_dict
    saved.refresh_from_db()
    assert saved.unit == "µg/mL"  # nothing written


def test_dates_are_untouched_by_the_number_filter():
    # A timedelta or date is no number: shown as missing, never as a mangled figure.
    assert format_number(timedelta(days=1)) == "—"


def test_list_columns_of_numbers_are_readable_and_others_untouched(client, technician):
    lot = factories.lot(technician)
    lot.refresh_from_db()
    client.force_login(technician, backend=BACKEND)
    page = client.get(reverse("batches:exosomelot_list")).content.decode()
    assert f'title="{lot.volume_ml}">{format_number(lot.volume_ml)}</span>' in page
    assert f">{lot.code}</a>" in page  # a code is text, never a number


def test_is_number_tells_values_from_flags_and_text():
    rendered = _render(
        "{% for v in values %}{{ v|is_number|yesno:'n,-' }}{% endfor %}",
        values=[1, 2.5, Decimal("3"), True, None, "4", timedelta(days=1)],
    )
    assert rendered == "nnn----"
