"""QA's periodic review of the audit trail in a real browser (EU GMP Annex 11 §9): a period
ending in the future is refused next to its field, then a period and a lot's trail are reviewed
with an e-signature; the lot's review page and the reviews list show it was done.

Full-page screenshots go to test-artifacts/screenshots/audit-trail-review/.
"""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from batches import services as batch_services
from release.models import AuditTrailReview
from tests import factories

pytestmark = [pytest.mark.browser]

SHOTS = (
    Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "audit-trail-review"
)


def sign_in(page: Page, url: str, user) -> None:
    page.goto(f"{url}/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))


def sign(page: Page, user) -> None:
    page.fill("#id_username", user.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("#content form button[type=submit]")


def test_qa_reviews_a_period_and_a_lots_audit_trail(live_server, technician, qa_user, page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    url = live_server.url
    lot = factories.lot(technician)
    for to in ("in_testing", "under_review"):
        batch_services.lot_set_status(actor=technician, lot=lot, to=to, reason="Test")
    today = timezone.localdate()

    sign_in(page, url, qa_user)
    page.goto(url + reverse("release:audit_review_create"))
    page.fill("#id_period_start", (today - timedelta(days=30)).isoformat())
    page.fill("#id_period_end", (today + timedelta(days=1)).isoformat())
    sign(page, qa_user)
    expect(page.locator("#id_period_end ~ .invalid-feedback")).to_contain_text("in the future")
    page.screenshot(path=str(SHOTS / "1-future-period-refused.png"), full_page=True)
    assert not AuditTrailReview.objects.exists()

    page.fill("#id_period_end", today.isoformat())
    page.fill("#id_findings", "No unexplained change; no deviation needed.")
    sign(page, qa_user)
    expect(page.locator(".alert-success")).to_contain_text("signed by")
    expect(page.locator("#content")).to_contain_text("No unexplained change")
    page.screenshot(path=str(SHOTS / "2-period-reviewed.png"), full_page=True)

    page.goto(url + reverse("release:lot_review", args=[lot.pk]))
    expect(page.locator(".audit-review")).to_contain_text("audit trail not reviewed")
    page.screenshot(path=str(SHOTS / "3-lot-not-reviewed.png"), full_page=True)
    page.click('a:has-text("Review this lot\'s audit trail")')
    expect(page.locator("#id_lot")).to_have_value(lot.code)
    sign(page, qa_user)
    expect(page.locator(".audit-review")).to_contain_text("audit trail reviewed")
    page.screenshot(path=str(SHOTS / "4-lot-reviewed.png"), full_page=True)

    reviews = AuditTrailReview.objects.order_by("pk")
    assert [(r.lot_id, r.signature.signer_id) for r in reviews] == [
        (None, qa_user.pk),
        (lot.pk, qa_user.pk),
    ]
