"""Training, retains and receipts in a real browser: QA sees the training matrix, records a
training (a future date refused next to its field, then signed), sets aside a lot's retains
(more than its free vials refused next to the field) and is refused a withdrawal without a
reason next to the field; a technician logs a received sample (a future arrival refused next to
its field) and sees its chain of custody.

Full-page screenshots go to test-artifacts/screenshots/training-and-custody/.
"""

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from batches import services as batch_services
from lims.models import TrainingRecord
from tests import factories

pytestmark = [pytest.mark.browser]

SHOTS = (
    Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "training-and-custody"
)


def sign_in(page: Page, url: str, user) -> None:
    page.goto(f"{url}/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))


def submit(page: Page) -> None:
    """The page's own form (not the navigation's search box)."""
    page.click("#content form button[type=submit]")


def error_next_to(page: Page, field: str):
    return page.locator(f"#id_{field} ~ .invalid-feedback")


def test_training_retains_and_receipt(live_server, technician, analyst, qa_user, page: Page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    url = live_server.url
    sop = factories.training_required("NTA", sop_code="SOP-QC-001")
    factories.qualify(analyst, "NTA", trained_days_ago=350)  # expires in 15 days
    lot = factories.lot(technician)
    batch_services.aliquots_create(
        actor=technician, lot=lot, volume_ul=Decimal("100"), locations=[None] * 3
    )
    for to in ("in_testing", "under_review"):
        batch_services.lot_set_status(actor=technician, lot=lot, to=to, reason="Test")

    sign_in(page, url, qa_user)
    page.goto(f"{url}/training/")
    expect(page.locator("#attention")).to_contain_text("Alan Analyst")
    page.screenshot(path=str(SHOTS / "1-matrix.png"), full_page=True)

    page.click("a:has-text('Record a training')")
    page.select_option("#id_trainee", str(technician.pk))
    page.select_option("#id_sop", str(sop.pk))
    page.fill("#id_trained_on", (timezone.localdate() + timedelta(days=2)).isoformat())
    page.select_option("#id_trainer", str(analyst.pk))
    page.fill("#id_username", qa_user.username)
    page.fill("#id_password", factories.PASSWORD)
    submit(page)
    expect(error_next_to(page, "trained_on")).to_contain_text("not ahead of it")
    page.screenshot(path=str(SHOTS / "2-training-refused.png"), full_page=True)
    page.fill("#id_trained_on", timezone.localdate().isoformat())
    page.fill("#id_password", factories.PASSWORD)
    submit(page)
    expect(page.locator("#matrix")).to_contain_text("Qualified")
    assert TrainingRecord.objects.filter(trainee=technician).exists()

    page.goto(f"{url}/custody/retains/new/?lot={lot.code}")
    page.fill("#id_vials", "4")
    page.fill("#id_location", "RET-80 / shelf 1 / box R1")
    page.fill("#id_lot_expiry", (lot.manufactured_on + timedelta(days=730)).isoformat())
    submit(page)
    # More retains than the lot has free vials: refused next to the field, with the counts.
    expect(error_next_to(page, "vials")).to_contain_text(
        f"4 retained vial(s) required, but lot {lot} has only 3 free"
    )
    page.fill("#id_vials", "2")
    submit(page)
    expect(page.locator("#remaining")).to_have_text("2")
    page.click("a:has-text('Withdraw vials')")
    page.fill("#id_vials", "1")
    submit(page)
    expect(error_next_to(page, "reason")).to_contain_text("Say why")
    page.screenshot(path=str(SHOTS / "3-withdrawal-refused.png"), full_page=True)
    page.fill("#id_reason", "Complaint C-7: identity retest")
    submit(page)
    expect(page.locator("#remaining")).to_have_text("1")

    page.context.clear_cookies()
    sign_in(page, url, technician)
    page.goto(f"{url}/custody/receipts/new/")
    page.select_option("#id_sender_kind", "clinical_site")
    page.fill("#id_sender_name", "Site 04, Utrecht")
    page.fill("#id_description", "Returned vial, complaint C-7")
    page.fill("#id_lot", lot.code)
    page.fill("#id_containers", "1")
    page.fill("#id_courier", "Marken AWB 55")
    later = timezone.localtime() + timedelta(hours=3)
    page.fill("#id_shipped_at", (later - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_received_at", later.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_temperature_min_c", "-79")
    page.fill("#id_temperature_max_c", "-70")
    submit(page)
    expect(error_next_to(page, "received_at")).to_contain_text("in the future")
    page.screenshot(path=str(SHOTS / "4-receipt-refused.png"), full_page=True)
    page.fill("#id_received_at", (later - timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M"))
    submit(page)
    expect(page.locator("#custody")).to_contain_text("Marken AWB 55 → Tess Tech")
    page.screenshot(path=str(SHOTS / "5-receipt.png"), full_page=True)
