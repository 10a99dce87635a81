"""A technician's production day, end to end in a real browser.

Signs in, starts a culture batch from a working cell bank, records a passage (after a refused
viability of 150 %), a harvest, an isolation run, registers the exosome lot, fills four vials
and prints their labels. A full-page screenshot of each step goes to
test-artifacts/screenshots/production/.
"""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests import factories

pytestmark = [pytest.mark.browser]

REPO_ROOT = Path(__file__).resolve().parents[2]
SHOTS = REPO_ROOT / "test-artifacts" / "screenshots" / "production"


class Steps:
    """Numbered full-page screenshots: 01-signed-in.png, 02-..., in the order taken."""

    def __init__(self, page: Page):
        self.page = page
        self.n = 0
        SHOTS.mkdir(parents=True, exist_ok=True)
        for old in SHOTS.glob("*.png"):
            old.unlink()

    def shot(self, name: str) -> Path:
        self.n += 1
        path = SHOTS / f"{self.n:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def _tick(page: Page, checkbox_list: str, text: str) -> None:
    """Tick the one checkbox of a checkbox list whose label contains `text`."""
    option = page.locator(f"{checkbox_list} .form-check", has_text=text)
    expect(option).to_have_count(1)
    option.locator("input[type=checkbox]").check()


def _badge(page: Page):
    return page.locator("h1 + .badge")


def test_technician_takes_a_batch_from_cell_bank_to_labelled_vials(
    live_server, technician, page: Page
):
    # Prerequisites that are not part of the story, through the services.
    today = timezone.localdate()
    now = timezone.localtime().replace(second=0, microsecond=0)
    cell_bank = factories.cell_bank(technician)
    medium = factories.reagent_lot(technician, name="MSC medium", lot_number="MED-2401")
    factories.storage_positions(technician, 6, box="B7")
    url = live_server.url
    steps = Steps(page)

    # 1) Sign in.
    page.goto(f"{url}/accounts/login/")
    page.fill("#id_username", technician.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("What to do next")
    expect(page.locator(".navbar-text")).to_contain_text("Tess Tech (technician)")
    steps.shot("signed-in")

    # 2) Start a culture batch from the working cell bank with the medium lot.
    page.goto(f"{url}/culture-batches/new/")
    expect(page.locator("h1")).to_have_text("Start a culture batch")
    page.fill("#id_cell_bank", cell_bank.code)
    page.fill("#id_started_on", (today - timedelta(days=14)).isoformat())
    page.check(f"#id_reagent_lots input[value='{medium.pk}']")
    page.fill("#id_notes", "Browser test batch")
    page.click("button:has-text('Save')")
    heading = page.locator("h1")
    expect(heading).to_have_text(re.compile(r"^Culture batch MSC-\d{4}-\d{4}$"))
    batch_code = heading.inner_text().removeprefix("Culture batch ")
    expect(page.locator(".alert-success")).to_contain_text(f"{batch_code} recorded.")
    expect(_badge(page)).to_have_text("In culture")
    expect(page.locator("dl")).to_contain_text(cell_bank.code)
    expect(page.locator("dl")).to_contain_text("MSC medium lot MED-2401")
    batch_url = page.url
    steps.shot("culture-batch-started")

    # 3a) A passage with a viability of 150 % is refused, with the message at the field.
    page.click("a:has-text('Record passage')")
    expect(page.locator("h1")).to_have_text(f"Record a passage of {batch_code}")
    expect(page.locator("#id_number")).to_have_value("1")
    page.fill("#id_seeded_on", (today - timedelta(days=12)).isoformat())
    page.fill("#id_harvested_on", (today - timedelta(days=8)).isoformat())
    page.fill("#id_seeding_density_per_cm2", "4000")
    page.fill("#id_cells_seeded", "2000000")
    page.fill("#id_cells_harvested", "9000000")
    page.fill("#id_viability_pct", "150")
    page.fill("#id_confluence_pct", "85")
    page.click("button:has-text('Save')")
    viability = page.locator("#id_viability_pct")
    expect(viability).to_have_class(re.compile(r"\bis-invalid\b"))
    error = page.locator("#id_viability_pct + .invalid-feedback")
    expect(error).to_have_text("Ensure this value is less than or equal to 100.")
    expect(page.locator(".invalid-feedback")).to_have_count(1)
    expect(page.locator("#id_cells_seeded")).to_have_value("2000000")  # the rest is kept
    steps.shot("passage-viability-refused")

    # 3b) Corrected, the passage is recorded.
    viability.fill("92.5")
    page.click("button:has-text('Save')")
    expect(page).to_have_url(batch_url)
    expect(page.locator(".alert-success")).to_contain_text(f"{batch_code} P1 recorded.")
    passages = page.locator("table", has=page.locator("th", has_text="Viability %"))
    row = passages.locator("tbody tr").first
    expect(row).to_contain_text("92.5")
    expect(row).to_contain_text("85.0")
    expect(row.locator("td").nth(8)).to_have_text("2.17")  # PD = log2(9e6 / 2e6)
    expect(_badge(page)).to_have_text("In culture")
    steps.shot("passage-recorded")

    # 4) Harvest of conditioned medium: the batch becomes 'Harvested'.
    harvested_at = now - timedelta(hours=3)
    page.click("a:has-text('Record harvest')")
    expect(page.locator("h1")).to_have_text(f"Record a harvest of {batch_code}")
    page.fill("#id_harvested_at", harvested_at.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_volume_ml", "250")
    page.select_option("#id_medium", "serum_free")
    page.click("button:has-text('Save')")
    expect(page).to_have_url(batch_url)
    expect(_badge(page)).to_have_text("Harvested")
    expect(page.locator("a:has-text('Record passage')")).to_have_count(0)
    harvests = page.locator("table", has=page.locator("th", has_text="Medium"))
    expect(harvests).to_contain_text(harvested_at.strftime("%Y-%m-%d %H:%M"))
    expect(harvests).to_contain_text("Serum-free medium")
    steps.shot("harvest-recorded")

    # 5) Isolation run from that harvest.
    started_at = now - timedelta(hours=2)
    page.goto(f"{url}/isolation-runs/new/")
    expect(page.locator("h1")).to_have_text("Record an isolation run")
    page.select_option("#id_method", "tff_sec")
    _tick(page, "#id_harvests", batch_code)
    page.fill("#id_input_volume_ml", "250")
    page.fill("#id_output_volume_ml", "5")
    expect(page.locator("#id_operator option:checked")).to_have_text(
        f"{technician.get_full_name()} ({technician.username})"
    )
    page.fill("#id_equipment", "TFF-01 / qEV10")
    page.fill("#id_started_at", started_at.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_ended_at", (started_at + timedelta(minutes=50)).strftime("%Y-%m-%dT%H:%M"))
    page.check(f"#id_reagent_lots input[value='{medium.pk}']")
    page.fill("#id_flow_rate_ml_min", "50")
    page.fill("#id_membrane_cutoff_kda", "300")
    page.click("button:has-text('Save')")
    heading = page.locator("h1")
    expect(heading).to_have_text(re.compile(r"^Isolation run ISO-\d{4}-\d{4}$"))
    run_code = heading.inner_text().removeprefix("Isolation run ")
    details = page.locator("dl")
    expect(details).to_contain_text("TFF + SEC")
    expect(details).to_contain_text(f"{batch_code}: 250 mL harvested")
    expect(details).to_contain_text("250 mL in → 5 mL out")
    expect(details).to_contain_text("flow_rate_ml_min = 50.0")
    steps.shot("isolation-run-recorded")

    # 6) Register the exosome lot from that run.
    page.goto(f"{url}/lots/new/")
    expect(page.locator("h1")).to_have_text("Register an exosome lot")
    page.fill("#id_isolation_runs", run_code)
    page.fill("#id_manufactured_on", today.isoformat())
    page.fill("#id_volume_ml", "5")
    page.click("button:has-text('Save')")
    heading = page.locator("h1")
    expect(heading).to_have_text(re.compile(r"^Exosome lot EXO-\d{4}-\d{4}$"))
    lot_code = heading.inner_text().removeprefix("Exosome lot ")
    expect(_badge(page)).to_have_text("In process")
    genealogy = page.locator("dl").nth(1)
    for code in (run_code, batch_code, cell_bank.code, cell_bank.donor.code, "MED-2401"):
        expect(genealogy).to_contain_text(code)
    expect(page.locator("h2", has_text="Vials")).to_have_text("Vials (0)")
    lot_url = page.url
    steps.shot("lot-registered")

    # 7) Fill four vials of 100 µL from the first free position of box B7.
    page.click("a:has-text('Fill vials')")
    expect(page.locator("h1")).to_have_text(f"Fill vials of lot {lot_code}")
    page.fill("#id_count", "4")
    page.fill("#id_volume_ul", "100")
    page.fill("#id_first_location", "ULT-1 / R1 / B7 / A01")
    page.click("button:has-text('Save')")
    expect(page).to_have_url(lot_url)
    expect(page.locator(".alert-success")).to_contain_text(f"4 vials of {lot_code} recorded.")
    expect(page.locator("h2", has_text="Vials")).to_have_text("Vials (4)")
    barcodes = [f"{lot_code}-{i:03d}" for i in range(1, 5)]
    vials_table = page.locator("table", has=page.locator("th", has_text="Barcode"))
    vial_rows = vials_table.locator("tbody tr")
    expect(vial_rows).to_have_count(4)
    for i, (barcode, row) in enumerate(zip(barcodes, vial_rows.all(), strict=True), start=1):
        expect(row.locator("td").nth(0)).to_have_text(barcode)
        expect(row.locator("td").nth(1)).to_have_text("100")
        # The lot is not released: its vials wait in quarantine (they follow their lot).
        expect(row.locator("td").nth(2)).to_have_text("Quarantine")
        expect(row.locator("td").nth(3)).to_have_text(f"ULT-1 / R1 / B7 / A{i:02d}")
    steps.shot("vials-filled")

    # 8) Labels: one Code128 SVG per vial, and the PDF.
    page.click("a:has-text('Labels')")
    expect(page.locator("h1")).to_have_text(f"Labels for lot {lot_code}")
    labels = page.locator(".label-sheet .vial-label")
    expect(labels).to_have_count(4)
    expect(labels.locator("svg")).to_have_count(4)
    expect(labels.locator(".id")).to_have_text(barcodes)
    for label in labels.all():
        expect(label.locator(".meta")).to_contain_text(f"Lot {lot_code}")
        expect(label.locator(".meta")).to_contain_text("100.0 µL")
        # Code128 bars drawn as rectangles (plus the white background one).
        assert label.locator("svg rect").count() > 10
    steps.shot("labels")
    pdf_href = page.locator("a", has_text="PDF").get_attribute("href")
    response = page.request.get(f"{page.url.split('?')[0]}{pdf_href}")
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF")
