"""The search box and the storage boxes in a real browser.

- a USB scanner types a vial's barcode into the navigation's search box and presses Enter: the
  vial's page opens;
- a box's grid passes axe-core (WCAG 2.2 A/AA, no critical or serious violation), and a
  keyboard reaches an empty position's link and opens it to place a vial there.

Screenshots go to test-artifacts/screenshots/storage/.
"""

from decimal import Decimal
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.test import Client
from playwright.sync_api import Page, expect

from batches import services, storage
from batches.storage_views import box_url
from tests import factories

pytestmark = [pytest.mark.browser]

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "storage"
BACKEND = "django.contrib.auth.backends.ModelBackend"
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]},
    "resultTypes": ["violations"],
}


def _sign_in(page: Page, base_url: str, user) -> None:
    client = Client()
    client.force_login(user, backend=BACKEND)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base_url}]
    )


def _serious(page: Page) -> list[str]:
    results = Axe().run(page, options=AXE_OPTIONS).response
    return [
        f"{v['id']} ({v['impact']}): {v['help']}: "
        + "; ".join(" ".join(n["target"]) for n in v["nodes"][:5])
        for v in results["violations"]
        if v["impact"] in ("critical", "serious")
    ]


def test_a_scanned_barcode_and_enter_open_the_vial(live_server, technician, page: Page):
    lot = factories.lot(technician)
    vials = services.aliquots_create(
        actor=technician, lot=lot, volume_ul=Decimal("100"), locations=[None, None]
    )
    _sign_in(page, live_server.url, technician)
    page.goto(f"{live_server.url}/")
    box = page.locator("#nav-search")
    expect(box).to_be_visible()
    box.click()
    page.keyboard.type(vials[1].barcode)  # what the scanner types...
    page.keyboard.press("Enter")  # ...and the Enter it sends after it
    page.wait_for_url(f"{live_server.url}{vials[1].get_absolute_url()}")
    expect(page.locator("h1")).to_contain_text(vials[1].barcode)

    # The start of the lot code matches the lot and its vials: they are listed by kind.
    page.goto(f"{live_server.url}/search/?q={lot.code[:-1]}")
    expect(page.get_by_role("heading", name="Vials")).to_be_visible()
    expect(page.get_by_role("link", name=vials[0].barcode)).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "search-results.png"), full_page=True)
    assert not _serious(page), "\n".join(_serious(page))


def test_a_box_grid_is_accessible_and_works_from_the_keyboard(live_server, technician, page):
    where = {"freezer": "ULT-80-01", "rack": "R2", "box": "B9"}
    positions = storage.box_create(actor=technician, layout="10x10", **where)
    lot = factories.lot(technician)
    services.aliquots_create(
        actor=technician, lot=lot, volume_ul=Decimal("100"), locations=positions[:7]
    )
    _sign_in(page, live_server.url, technician)
    page.goto(live_server.url + box_url(**where))
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "box-10x10.png"), full_page=True)
    assert not _serious(page), "\n".join(_serious(page))

    # The first empty position (A8) is a link a keyboard reaches and opens.
    a8 = page.get_by_role("link", name="A8: empty. Place a vial here")
    a8.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/storage/{positions[7].pk}/place/")
    expect(page.locator("h1")).to_contain_text("Place a vial in")
    assert not _serious(page), "\n".join(_serious(page))
