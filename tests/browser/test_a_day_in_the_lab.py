"""A day in the lab, one role at a time, on the demo data of `make run`, in a real browser.

Each person signs in, finds their work in their home page's queues, follows a queue item to the
work, does it (or looks at it, where the work is a signature the release tests cover), and comes
back home to see the queue changed. A screenshot of every step goes to
test-artifacts/screenshots/day-in-the-lab/ (the README's "A day in the lab" walks the same
steps).
"""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Page, expect

from batches.models import CultureBatch
from release.demo import DEMO_USERS

pytestmark = [pytest.mark.browser]

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "day-in-the-lab"
PASSWORDS = {username: password for username, _, _, password in DEMO_USERS}


@pytest.fixture
def demo(live_server, settings, tmp_path):
    """The demo data of `make run` (manage.py seed_demo)."""
    settings.MEDIA_ROOT = tmp_path / "files"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with open("/dev/null", "w") as quiet:
        call_command("seed_demo", stdout=quiet)
    return live_server.url


class Day:
    """One person's walk: signs in, numbers and keeps the screenshots of each step."""

    def __init__(self, page: Page, url: str, username: str):
        self.page, self.url, self.username, self.step = page, url, username, 0
        SHOTS.mkdir(parents=True, exist_ok=True)
        for old in SHOTS.glob(f"{username}-*.png"):
            old.unlink()

    def shot(self, name: str) -> None:
        self.step += 1
        path = SHOTS / f"{self.username}-{self.step:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)

    def sign_in(self) -> None:
        page = self.page
        page.goto(f"{self.url}/accounts/login/")
        page.fill("#id_username", self.username)
        page.fill("#id_password", PASSWORDS[self.username])
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_have_text("What to do next")
        self.shot("home")

    def queue(self, key: str):
        return self.page.locator(f".work-queue[data-queue='{key}']")

    def expect_count(self, key: str, count: int) -> None:
        expect(self.queue(key).locator(".queue-count")).to_have_text(str(count))

    def follow(self, key: str, label: str) -> None:
        """Open the queue item named `label` of the queue `key`."""
        self.queue(key).locator(".queue-item a", has_text=label).click()

    def home(self) -> None:
        self.page.goto(f"{self.url}/")
        expect(self.page.locator("h1")).to_have_text("What to do next")


def test_technician_passages_the_batch_that_is_due(demo, page):
    day = Day(page, demo, "tech")
    day.sign_in()
    due = CultureBatch.objects.get(code="MSC-2026-0004")
    day.expect_count("passages_due", 1)
    expect(day.queue("passages_due")).to_contain_text(due.code)
    # Only the technician's queues: no QA or administrator work on this page.
    expect(page.locator(".role-queues")).to_have_count(1)
    expect(page.locator(".work-queue[data-queue='lots_awaiting_disposition']")).to_have_count(0)

    day.follow("passages_due", due.code)
    expect(page.locator("h1")).to_have_text(f"Culture batch {due.code}")
    day.shot("batch-due")
    page.click("a:has-text('Record passage')")
    expect(page.locator("h1")).to_have_text(f"Record a passage of {due.code}")
    today = timezone.localdate()
    page.fill("#id_seeded_on", (today - timedelta(days=1)).isoformat())
    page.fill("#id_seeding_density_per_cm2", "4000")
    page.fill("#id_cells_seeded", "2000000")
    page.fill("#id_cells_harvested", "8000000")
    page.fill("#id_harvested_on", today.isoformat())
    page.fill("#id_viability_pct", "94")
    page.fill("#id_confluence_pct", "80")
    day.shot("passage-form")
    page.click("button:has-text('Save')")
    expect(page.locator(".alert-success")).to_contain_text("recorded.")
    day.shot("passage-recorded")

    day.home()
    day.expect_count("passages_due", 0)
    day.shot("home-after")


def test_analyst_reviews_a_run_from_the_queue(demo, page):
    day = Day(page, demo, "analyst")
    day.sign_in()
    waiting = int(day.queue("runs_to_review").locator(".queue-count").inner_text())
    assert waiting >= 1
    first = day.queue("runs_to_review").locator(".queue-item a").first
    label = first.inner_text()
    first.click()
    expect(page.locator("h1")).to_contain_text(re.compile(r"run \d+"))
    day.shot("run-to-review")
    page.click("a.btn:has-text('Review')")
    expect(page.locator("h1")).to_have_text(re.compile(r"^Review "))
    page.fill("#id_username", "analyst")
    page.fill("#id_password", PASSWORDS["analyst"])
    day.shot("review-signature")
    page.click("button:has-text('Confirm')")
    expect(page.locator(".alert-success")).to_be_visible()
    expect(page.locator("dl")).to_contain_text("Reviewed by")
    day.shot("run-reviewed")

    day.home()
    day.expect_count("runs_to_review", waiting - 1)
    expect(day.queue("runs_to_review")).not_to_contain_text(label)
    day.shot("home-after")


def test_qa_finds_the_lot_to_release_and_the_open_deviation(demo, page):
    day = Day(page, demo, "qa")
    day.sign_in()
    day.expect_count("lots_awaiting_disposition", 1)
    day.follow("lots_awaiting_disposition", "EXO-2026-0002")
    expect(page.locator("h1")).to_contain_text("EXO-2026-0002")
    day.shot("lot-review")

    day.home()
    day.expect_count("open_deviations", 1)
    day.follow("open_deviations", "DEV-2026-0001")
    expect(page.locator("h1")).to_contain_text("DEV-2026-0001")
    day.shot("deviation")

    day.home()
    day.follow("specifications_to_approve", "v2")
    expect(page.locator("h1")).to_contain_text("v2")
    day.shot("specification-to-approve")


def test_administrator_unlocks_a_locked_colleague(demo, page, settings):
    # Tara mistypes her password until the sign-in locks (django-axes, 21 CFR 11.300(d)).
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.goto(f"{demo}/accounts/login/")
        page.fill("#id_username", "tech")
        page.fill("#id_password", "not-her-password")
        page.click("button[type=submit]")
    day = Day(page, demo, "admin")
    day.sign_in()
    day.expect_count("locked_accounts", 1)
    expect(day.queue("locked_accounts")).to_contain_text("tech")

    page.goto(f"{demo}/users/")  # "Users" in the navigation's administration menu
    colleague = page.locator("tr[data-username='tech']")
    expect(colleague).to_contain_text("locked")
    day.shot("users")
    colleague.locator("a").first.click()
    expect(page.locator("h1")).to_contain_text("Tara Nguyen")
    expect(page.locator(".badge", has_text="locked")).to_be_visible()
    day.shot("locked-colleague")
    page.locator("#unlock textarea").fill("Tara called from the bench; identity checked in person.")
    page.click("#unlock button[type=submit]")
    expect(page.locator(".alert-success")).to_contain_text("tech is unlocked.")
    day.shot("unlocked")

    day.home()
    day.expect_count("locked_accounts", 0)
    day.follow("calibration_due", "NTA-01")
    expect(page.locator("h1")).to_contain_text("NTA-01")
    day.shot("instrument-calibration-due")
