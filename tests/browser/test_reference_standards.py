"""A reference standard in a real browser: an analyst registers it from the Lab menu, a run
naming it before QA qualifies it is refused next to the field, QA qualifies it with an
e-signature, and a POTENCY-RP run against it shows its relative potency, 95 % CI and
parallelism verdict on the run's page.

Full-page screenshots go to test-artifacts/screenshots/reference_standards/.
"""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from assays.metrics import compute_run_metrics
from assays.models import ReferenceStandard
from tests import factories
from tests.browser.conftest import FAILURES
from tests.refstd.test_reference_services import record

pytestmark = [pytest.mark.browser]

REPO_ROOT = Path(__file__).resolve().parents[2]
SHOTS = REPO_ROOT / "test-artifacts" / "screenshots" / "reference_standards"


def _sign_in(page: Page, url: str, username: str) -> None:
    page.goto(f"{url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))


def test_register_qualify_and_report_relative_potency(
    live_server, browser, technician, analyst, qa_user, page: Page
):
    lot = factories.lot(technician)
    SHOTS.mkdir(parents=True, exist_ok=True)
    url = live_server.url

    # The analyst registers a reference lot from the Lab menu.
    _sign_in(page, url, analyst.username)
    page.click("a.dropdown-toggle:text-is('Lab')")
    page.click("a.dropdown-item:text-is('Reference standards')")
    page.click("a:has-text('Register a reference')")
    page.fill("#id_code", "RS-EV-B-01")
    page.fill("#id_material", "EV-RS")
    page.fill("#id_name", "In-house reference EV lot (browser)")
    page.select_option("#id_kind", "in_house")
    page.fill("#id_source_lot", lot.code)
    page.check("input[name=assay_codes][value='POTENCY-RP']")
    page.fill("#id_assigned_values", "potency 100 percent")
    page.fill("#id_expiry_date", f"{timezone.localdate() + timedelta(days=20):%Y-%m-%d}")
    page.fill("#id_storage", "-80 °C, ULT-2, box REF-1")
    page.fill("#id_qualification_report", "QP-REF-B / QR-REF-B")
    page.click("button:text-is('Save')")
    expect(page.locator("h1")).to_have_text("Reference standard RS-EV-B-01")
    expect(page.locator("#qualification")).to_have_text("Not qualified yet.")
    reference = ReferenceStandard.objects.get(code="RS-EV-B-01")
    page.screenshot(path=str(SHOTS / "registered.png"), full_page=True)

    # A run naming it before QA qualified it is refused next to the field.
    page.goto(f"{url}/runs/new/POTENCY-RP/?sample={lot.code}")
    page.fill("input[name=started_at]", f"{timezone.localtime():%Y-%m-%dT%H:%M}")
    page.select_option("select[name=reference_standard]", str(reference.pk))
    page.fill("input[name=value__tnf_ev]", "520")
    page.click("button:has-text('Record the run')")
    refusal = page.locator("select[name=reference_standard] ~ .invalid-feedback")
    expect(refusal).to_contain_text("not qualified")
    page.screenshot(path=str(SHOTS / "run_refused_unqualified.png"), full_page=True)

    # QA qualifies it with an e-signature (user ID and password again).
    qa = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    qa.set_default_timeout(10_000)
    try:
        qa_page = qa.new_page()
        _sign_in(qa_page, url, qa_user.username)
        qa_page.goto(f"{url}{reference.get_absolute_url()}")
        expect(qa_page.locator(".badge", has_text="expires soon")).to_be_visible()
        qa_page.click("a:has-text('Qualify (e-signature)')")
        qa_page.fill("#id_username", qa_user.username)
        qa_page.fill("#id_password", factories.PASSWORD)
        qa_page.fill("#id_comment", "Identity, NTA, BCA and potency per QP-REF-B.")
        qa_page.click("button:has-text('Sign: qualify')")
        signature = qa_page.locator("#qualification")
        expect(signature.locator(".signer")).to_have_text(qa_user.printed_name)
        expect(signature.locator(".meaning")).to_have_text("Approval")
        qa_page.screenshot(path=str(SHOTS / "qualified.png"), full_page=True)
    except Exception:
        FAILURES.mkdir(parents=True, exist_ok=True)
        qa_page.screenshot(path=str(FAILURES / "reference_qa.png"), full_page=True)
        raise
    finally:
        qa.close()

    # A POTENCY-RP run of the lot's and the reference's dose series (as the plate reader's
    # export is recorded), then its page in the browser.
    reference.refresh_from_db()
    run = record(analyst, lot, reference)
    compute_run_metrics(run.pk)
    page.goto(f"{url}{run.get_absolute_url()}")
    panel = page.locator("#run-reference")
    expect(panel).to_contain_text("RS-EV-B-01")
    expect(page.locator("#relative-potency")).to_contain_text("95 % CI")
    expect(page.locator("#parallelism .badge")).to_have_text("parallel")
    page.screenshot(path=str(SHOTS / "run_relative_potency.png"), full_page=True)
    # The reference's page lists the run that used it.
    page.goto(f"{url}{reference.get_absolute_url()}")
    expect(page.locator("#reference-runs")).to_contain_text(str(run))
