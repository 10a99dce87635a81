"""QA's release of a lot in a real browser, and a lot stopped by an OOS result.

QA opens the review page of a lot whose tests pass, signs "Approved for release" with their
user ID and password, sees the signature on the lot page and downloads the certificate of
analysis; a lot with an out-of-specification endotoxin shows what blocks it and the OOS
investigation opened automatically. A full-page screenshot of each step goes to
test-artifacts/screenshots/release/ (the first CoA page too, rendered by pdftoppm).
"""

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from batches import services as batch_services
from batches.models import CultureBatch
from release.models import Deviation
from tests import factories
from tests.release_pages.conftest import PASSWORD
from tests.release_pages.lots import lot_under_review

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser]

REPO_ROOT = Path(__file__).resolve().parents[2]
SHOTS = REPO_ROOT / "test-artifacts" / "screenshots" / "release"


class Steps:
    """Numbered full-page screenshots: 01-....png, 02-..., in the order taken."""

    def __init__(self, page: Page):
        self.page = page
        self.n = 0
        SHOTS.mkdir(parents=True, exist_ok=True)
        for old in SHOTS.glob("*.png"):
            old.unlink()

    def next_path(self, name: str) -> Path:
        self.n += 1
        return SHOTS / f"{self.n:02d}-{name}.png"

    def shot(self, name: str) -> Path:
        path = self.next_path(name)
        self.page.screenshot(path=str(path), full_page=True)
        return path


def _sign_in(page: Page, url: str, user) -> None:
    page.goto(f"{url}/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator(".navbar-text")).to_contain_text(user.printed_name)


def test_qa_releases_a_passing_lot_and_an_oos_lot_is_stopped(
    live_server, technician, analyst, qa_signer, page: Page, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    passing = lot_under_review(technician, analyst, capture)
    failing = lot_under_review(
        technician, analyst, capture, change={("ENDOTOXIN", "endotoxin"): 2.0}
    )
    # Every lot test passes, but mycoplasma was detected in the cells it was made from.
    infected = lot_under_review(
        technician, analyst, capture, source_change={("MYCO-CB", "mycoplasma"): "detected"}
    )
    url = live_server.url
    steps = Steps(page)
    problems = []  # console errors, CSP refusals included (no inline script may run)
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    # The browser asks for /favicon.ico on its own and the app has none: not a page error.
    page.on(
        "response",
        lambda r: (
            problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    _sign_in(page, url, qa_signer)

    # 1) The dashboard: one lot ready for signature, one blocked.
    page.goto(f"{url}/release/")
    expect(page.locator("h1")).to_have_text("Release dashboard")
    review_column = page.locator('[data-status="under_review"]')
    expect(review_column.locator(f'[data-lot="{passing.code}"]')).to_contain_text(
        "Nothing blocks release"
    )
    expect(review_column.locator(f'[data-lot="{failing.code}"]')).to_contain_text(
        "Endotoxin (< 0.5 EU/mL) fails (OOS)."
    )
    steps.shot("dashboard")

    # The board follows the lots without a reload (htmx polls its partial every 5 s).
    newcomer = factories.lot(technician)
    batch_services.lot_set_status(
        actor=technician, lot=newcomer, to="in_testing", reason="Samples to QC"
    )
    testing_column = page.locator('[data-status="in_testing"]')
    expect(testing_column.locator(f'[data-lot="{newcomer.code}"]')).to_contain_text(
        "only a lot under review can be released", timeout=12_000
    )

    # 2) The review page of the passing lot: nothing blocks it, the signing form is there.
    page.goto(f"{url}/release/lots/{passing.pk}/review/")
    expect(page.locator("h1")).to_have_text(f"Review of lot {passing.code} for release")
    expect(page.locator(".release-blockers")).to_contain_text("Nothing blocks release.")
    expect(page.locator("#manual")).to_contain_text("Results entered by hand")
    steps.shot("review-passing-lot")

    # 3) Sign "Approved for release" with user ID and password again.
    page.get_by_label(re.compile(r"^Approved for release")).check()
    page.fill("#id_username", qa_signer.username)
    page.fill("#id_password", PASSWORD)
    page.fill("#id_comment", "All release criteria met; record reviewed by exception.")
    steps.shot("signing-approved-for-release")
    page.click("button:has-text('Sign the disposition')")

    # 4) Back on the lot page: released, the signature manifested, the CoA to download.
    expect(page).to_have_url(f"{url}{passing.get_absolute_url()}")
    expect(page.locator(".alert-success").first).to_contain_text(
        f"Lot {passing.code}: approved for release, signed by Rita Release"
    )
    expect(page.locator("h1 + .badge")).to_have_text("Released")
    signature = page.locator(".dispositions .e-signature")
    expect(signature.locator(".signer")).to_have_text("Rita Release")
    expect(signature.locator(".meaning")).to_have_text("Approval")
    expect(signature.locator(".signed-at")).to_have_text(
        re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
    )
    expect(signature).to_contain_text("signature valid")
    page.locator("#release").scroll_into_view_if_needed()
    steps.shot("lot-released-with-signature")

    with page.expect_download() as download:
        page.click("a:has-text('Download the certificate of analysis')")
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    assert download.value.suggested_filename == f"CoA-{passing.code}.pdf"
    sha256 = page.locator(".coa-sha256").inner_text()
    assert hashlib.sha256(pdf).hexdigest() == sha256
    if shutil.which("pdftoppm"):
        first_page = steps.next_path("certificate-of-analysis-page-1")
        pdf_file = first_page.with_suffix(".pdf")
        pdf_file.write_bytes(pdf)
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                "80",
                "-f",
                "1",
                "-l",
                "1",
                "-singlefile",
                str(pdf_file),
                str(first_page.with_suffix("")),
            ],
            check=True,
        )
        pdf_file.unlink()

    # 5) The OOS lot: the review page says exactly what blocks it and links the investigation.
    oos = Deviation.objects.get(lot=failing, kind="oos")
    page.goto(f"{url}/release/lots/{failing.pk}/review/")
    blockers = page.locator(".release-blockers")
    expect(blockers).to_contain_text("The lot cannot be released because:")
    expect(blockers).to_contain_text("Endotoxin (< 0.5 EU/mL) fails (OOS).")
    expect(blockers).to_contain_text(
        f"OOS investigation {oos.code} (OOS: Endotoxin of lot {failing.code}) is open."
    )
    expect(page.locator("#criteria tr.table-danger")).to_contain_text("Fail (OOS)")
    steps.shot("review-oos-lot-blocked")

    # 6) The automatically opened investigation, from the failing criterion.
    page.locator("#criteria a.oos-link").click()
    expect(page.locator("h1")).to_have_text(f"Out of specification {oos.code}")
    expect(page.locator("dl")).to_contain_text("Endotoxin: < 0.5 EU/mL")
    expect(page.locator("dl")).to_contain_text("Opened automatically.")
    steps.shot("oos-investigation")

    # 7) The genealogy gates release: the lot made from infected cells is blocked, and its
    # review page names the batch and the failing source-cell criterion.
    batch = CultureBatch.objects.get(harvests__isolations__lots=infected)
    batch_oos = Deviation.objects.get(culture_batch=batch, kind="oos")
    page.goto(f"{url}/release/lots/{infected.pk}/review/")
    blockers = page.locator(".release-blockers")
    expect(blockers).to_contain_text("The lot cannot be released because:")
    expect(blockers).to_contain_text(
        f"Source culture batch {batch.code}: Mycoplasma (not detected) fails (OOS)."
    )
    expect(blockers).to_contain_text(
        f"OOS investigation {batch_oos.code} (OOS: Mycoplasma of culture batch"
    )
    expect(page.locator("form button:has-text('Sign the disposition')")).to_have_count(1)
    steps.shot("review-lot-blocked-by-its-source-cells")
    assert problems == []
