"""A BCA plate in a real browser: the Gen5 export uploaded with a layout edited on the upload
page (its sample groups named by their lots), then the run's QC page with the 8 × 12 plate map
and the fitted curve. A full-page screenshot goes to test-artifacts/screenshots/plate/."""

import json
import re
import time
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from assays.models import AssayRun, InstrumentFile
from tests import factories
from tests.assays_pages.conftest import register_instrument
from tests.browser.test_worksheet import _choose_reagents
from tests.plate.test_plate_upload import GEN5, bca_layout

pytestmark = [pytest.mark.browser]

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "plate"


def test_plate_uploaded_with_its_layout_shows_map_and_curve(
    live_server, technician, admin_user, page: Page
):
    reader = register_instrument(admin_user, code="PLATE-01", assay_codes=("BCA",))
    lot_a, lot_b = factories.lot(technician), factories.lot(technician)
    reagents = factories.reagent_ids_for("BCA")
    url = live_server.url
    page.goto(f"{url}/accounts/login/")
    page.fill("#id_username", technician.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))

    page.goto(f"{url}{reverse('assays:file_upload')}?assay=BCA")
    page.set_input_files("#id_file", str(GEN5))
    page.select_option("#id_instrument", value=str(reader.pk))
    page.select_option("#id_plate_template", value="BCA:0")
    layout = bca_layout({"SPL1": lot_a.code, "SPL4": lot_b.code})
    page.fill("#id_plate_layout", json.dumps(layout))
    _choose_reagents(page, reagents)
    page.get_by_role("button", name="Read the file").click()
    expect(page.locator("#matched tbody tr")).to_have_count(2)  # the layout's names, matched
    page.get_by_role("button", name="Confirm and record").click()
    expect(page.locator("h1")).to_have_text(f"Instrument file {GEN5.name}")

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        record = InstrumentFile.objects.get()
        if record.status != "queued":
            break
        time.sleep(0.2)
    assert record.status == "parsed", record.error
    run = AssayRun.objects.get(source_file=record)

    page.goto(f"{url}{reverse('qc:run_detail', args=[run.pk])}")
    plate_map = page.get_by_role("table", name="Plate map Plate 1")
    expect(plate_map).to_be_visible()
    expect(plate_map.locator("td[data-well='A1']")).to_contain_text("STD1")
    expect(plate_map.locator("td[data-well='A4']")).to_contain_text(lot_a.code)
    expect(page.locator("#plot-plate-curve .main-svg").first).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "bca-plate-run.png"), full_page=True)
