"""User administration in a real browser (issue 12 item 2): an administrator follows the Users
link of the account menu, filters the list (htmx swaps the table in place), creates a person,
reads the temporary password once, and the new person signs in with it and is sent to choose
their own. Each page passes axe (WCAG 2.2 A/AA, as tests/browser/test_accessibility.py checks
the main pages)."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from lims.models import User
from tests import factories
from tests.browser.conftest import FAILURES
from tests.browser.test_accessibility import axe_findings

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = FAILURES.parent


def _sign_in(page: Page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def test_an_administrator_creates_a_person_from_the_users_pages(
    live_server, admin_user, technician, qa_user, page: Page, browser
):
    url = live_server.url
    _sign_in(page, url, admin_user.username, factories.PASSWORD)
    page.click("#user-menu")  # the account menu, beside Security
    page.click("nav a:has-text('Users')")
    expect(page.locator("h1")).to_have_text("Users")
    rows = page.locator("table.user-list tbody tr")
    expect(rows).to_have_count(3)

    # Choosing a role filters in place: htmx swaps the table, the address follows.
    page.select_option("#id_role", "qa")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(qa_user.username)
    assert "role=qa" in page.url
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "users_list.png"), full_page=True)
    findings = axe_findings(page, "users list")

    page.click("a:has-text('New user')")
    findings += axe_findings(page, "new user")
    page.fill("#id_username", "nina.north")
    page.fill("#id_first_name", "Nina")
    page.fill("#id_last_name", "North")
    page.check("input[name=roles][value=analyst]")
    page.fill("#id_reason", "New QC analyst, HR ticket 4711")
    page.click("button:has-text('Create')")
    expect(page.locator("h1")).to_have_text("nina.north is created")
    temporary = page.locator("code.temporary-password").inner_text().strip()
    assert re.fullmatch(r"[A-Za-z0-9]{5}(-[A-Za-z0-9]{5}){3}", temporary)
    page.screenshot(path=str(SHOTS / "users_created.png"), full_page=True)

    page.click('a:has-text("To nina.north\'s page")')
    expect(page.locator("h1")).to_contain_text("Nina North")
    expect(page.locator("table.user-history")).to_contain_text("Role given: Analyst")
    assert temporary not in page.content()
    page.screenshot(path=str(SHOTS / "users_detail.png"), full_page=True)
    findings += axe_findings(page, "a person's page")
    assert not findings, "\n".join(findings)

    # The new person signs in with the temporary password and must choose their own.
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    newcomer = context.new_page()
    _sign_in(newcomer, url, "nina.north", temporary)
    expect(newcomer).to_have_url(re.compile(re.escape(reverse("password_change")) + "$"))
    context.close()
    assert User.objects.get(username="nina.north").must_change_password
