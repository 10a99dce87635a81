"""Correction forms keep their dates under en-GB, in a real browser (issue 12 item 1).

Under en-GB Django wrote a date field's value as 21/10/2026, which <input type=date> cannot
read (it takes only YYYY-MM-DD, HTML Living Standard "valid date string"): the browser showed
the field blank, and saving any correction sent an empty date, refused or lost. This opens the
correction form of a cell bank, a reagent lot and a passage in Chromium with an en-GB locale
(navigator.language and Accept-Language) and Django's LANGUAGE_CODE en-gb, checks that every
date field shows its date, saves a correction and sees the dates kept.
"""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from batches import services
from batches.models import CellBank, Passage, ReagentLot
from tests import factories
from tests.browser.conftest import FAILURES

pytestmark = [pytest.mark.browser]

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.fixture
def en_gb_page(browser, request, settings):
    """A browser context in en-GB: the locale, and Accept-Language sent with every request."""
    settings.LANGUAGE_CODE = "en-gb"
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        locale="en-GB",
        extra_http_headers={"Accept-Language": "en-GB,en;q=0.9"},
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        FAILURES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(FAILURES / f"{request.node.name}.png"), full_page=True)
    context.close()


def _sign_in(page: Page, url: str, user) -> None:
    page.goto(f"{url}/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))
    expect(page.locator(".navbar-text")).to_contain_text(user.get_full_name())


def _shows_dates(page: Page, expected: dict[str, str]) -> None:
    """Every <input type=date> of the form shows a date in YYYY-MM-DD, the ones named here
    the date given."""
    dates = page.locator("form input[type=date]")
    expect(dates.first).to_be_visible()
    for i in range(dates.count()):
        field = dates.nth(i)
        name = field.get_attribute("name")
        value = field.input_value()
        if name in expected:
            assert value == expected[name], (name, value)
        else:
            assert value == "" or ISO.match(value), (name, value)
    for name, value in expected.items():
        # What the browser holds (not only the attribute the server wrote) is the date.
        expect(page.locator(f"#id_{name}")).to_have_value(value)
        assert ISO.match(value)


def _save_correction(page: Page, reason: str) -> None:
    page.fill("#id_reason", reason)
    page.click("button:has-text('Save correction')")
    expect(page.locator(".alert-success")).to_contain_text("corrected.")


def test_correction_forms_show_and_keep_their_dates_under_en_gb(
    live_server, technician, en_gb_page: Page
):
    page = en_gb_page
    today = timezone.localdate()
    bank = factories.cell_bank(technician, frozen_on=today - timedelta(days=30))
    reagent = factories.reagent_lot(technician, lot_number="MED-GB-1")
    batch = factories.culture_batch(
        technician, cell_bank=bank, started_on=today - timedelta(days=14)
    )
    passage = services.passage_record(
        actor=technician,
        batch=batch,
        number=1,
        seeded_on=today - timedelta(days=12),
        harvested_on=today - timedelta(days=8),
        seeding_density_per_cm2=4000,
        cells_seeded=2_000_000,
    )
    url = live_server.url
    _sign_in(page, url, technician)

    # The locale is en-GB for the server too: a detail page writes dates the British way.
    page.goto(f"{url}{bank.get_absolute_url()}")
    expect(page.locator("dl")).to_contain_text(bank.frozen_on.strftime("%-d %b %Y"))
    assert page.evaluate("navigator.language") == "en-GB"

    # 1) A cell bank: its freezing date is shown; a correction of its storage keeps it.
    page.goto(f"{url}{reverse('batches:record_correct', args=['cellbank', bank.pk])}")
    expect(page.locator("h1")).to_have_text(f"Correct {bank}")
    _shows_dates(page, {"frozen_on": bank.frozen_on.isoformat()})
    page.fill("#id_storage", "LN2 tank 2, rack 4")
    _save_correction(page, "Moved to tank 2 before the record was written")
    stored = CellBank.objects.get(pk=bank.pk)
    assert (stored.storage, stored.frozen_on) == ("LN2 tank 2, rack 4", bank.frozen_on)
    page.goto(f"{url}{reverse('batches:record_correct', args=['cellbank', bank.pk])}")
    _shows_dates(page, {"frozen_on": bank.frozen_on.isoformat()})

    # 2) A reagent lot: expiry and receipt dates shown; a corrected expiry date is saved as
    # entered, the receipt date kept.
    page.goto(f"{url}{reverse('batches:record_correct', args=['reagentlot', reagent.pk])}")
    _shows_dates(
        page,
        {
            "expiry_date": reagent.expiry_date.isoformat(),
            "received_on": reagent.received_on.isoformat(),
        },
    )
    new_expiry = reagent.expiry_date + timedelta(days=31)
    page.fill("#id_expiry_date", new_expiry.isoformat())
    _save_correction(page, "Expiry misread from the certificate")
    stored = ReagentLot.objects.get(pk=reagent.pk)
    assert (stored.expiry_date, stored.received_on) == (new_expiry, reagent.received_on)
    page.goto(f"{url}{reverse('batches:record_correct', args=['reagentlot', reagent.pk])}")
    _shows_dates(
        page,
        {"expiry_date": new_expiry.isoformat(), "received_on": reagent.received_on.isoformat()},
    )

    # 3) A passage: seeding and harvest dates shown; a corrected viability keeps both.
    page.goto(f"{url}{reverse('batches:record_correct', args=['passage', passage.pk])}")
    _shows_dates(
        page,
        {
            "seeded_on": passage.seeded_on.isoformat(),
            "harvested_on": passage.harvested_on.isoformat(),
        },
    )
    page.fill("#id_viability_pct", "91.5")
    _save_correction(page, "Viability transcribed from the wrong counter")
    expect(page).to_have_url(f"{url}{batch.get_absolute_url()}")
    stored = Passage.objects.get(pk=passage.pk)
    assert (stored.viability_pct, stored.seeded_on, stored.harvested_on) == (
        91.5,
        passage.seeded_on,
        passage.harvested_on,
    )
    page.goto(f"{url}{reverse('batches:record_correct', args=['passage', passage.pk])}")
    _shows_dates(
        page,
        {
            "seeded_on": passage.seeded_on.isoformat(),
            "harvested_on": passage.harvested_on.isoformat(),
        },
    )
