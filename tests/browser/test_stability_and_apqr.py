"""QA's stability and annual review work on the demo data, in a real browser.

QA sees the calendar of pulls due, records one, reads the study's ICH Q1E trend (regression,
one-sided 95 % bound, supported shelf life), then opens the annual product quality review of
the demo year, signs it with an e-signature and downloads its PDF. Screenshots of the calendar,
the trend and the review go to test-artifacts/screenshots/stability/.

The demo's own signed review is left out here (QA signs it in the browser instead), and the
study's months are compressed into today: a pull is recorded when it happens (ALCOA+), so the
test brings the later −80 °C pulls' due dates to today before any of them is pulled.
"""

from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Page, expect

from assays import services as qc
from assays.inputs import ResultInput
from lims.models import User
from release import stability, stability_demo
from release.demo import DEMO_USERS
from release.models import AnnualProductReview, StabilityPull, StabilityStudy

pytestmark = [pytest.mark.browser]

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "stability"
PASSWORDS = {username: password for username, _, _, password in DEMO_USERS}


@pytest.fixture
def demo(live_server, settings, tmp_path, monkeypatch):
    """The demo data of `make run` without its signed review of the year."""
    settings.MEDIA_ROOT = tmp_path / "files"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    monkeypatch.setattr(stability_demo, "seed_apqr", lambda *args: None)
    with open("/dev/null", "w") as quiet:
        call_command("seed_demo", stdout=quiet)
    return live_server.url


def _nta(analyst: User, barcode: str, concentration: float, mode: float) -> None:
    qc.run_record(
        assay_code="NTA",
        source="manual",
        started_at=timezone.now(),
        actor=analyst,
        results=[
            ResultInput(
                sample=barcode,
                analyte="concentration",
                value=concentration * f,
                unit="particle/mL",
                replicate=str(i),
            )
            for i, f in enumerate((0.99, 1.0, 1.01), start=1)
        ]
        + [ResultInput(sample=barcode, analyte="mode_size", value=mode, unit="nm")],
    )


def test_qa_reads_the_stability_trend_and_signs_the_annual_review(demo, page: Page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    today = timezone.localdate()
    study = StabilityStudy.objects.get()
    later = StabilityPull.objects.filter(study=study, condition="-80C", time_point__gt=0)
    assert later.update(due_on=today) == 2
    analyst = User.objects.get(username="analyst")

    page.goto(f"{demo}/accounts/login/")
    page.fill("#id_username", "qa")
    page.fill("#id_password", PASSWORDS["qa"])
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("What to do next")

    # The calendar: the pulls due today, each with its button.
    page.goto(f"{demo}/release/stability/")
    calendar = page.locator("#pull-calendar tbody tr")
    expect(calendar.filter(has_text="1 months")).not_to_have_count(0)
    expect(calendar.locator(".badge", has_text="due")).not_to_have_count(0)
    page.screenshot(path=str(SHOTS / "01-calendar.png"), full_page=True)

    # QA records the −80 °C 1-month pull.
    pull_1 = later.get(time_point=1)
    page.goto(f"{demo}/release/stability/pulls/{pull_1.pk}/")
    page.get_by_role("button", name="Record the pull").click()
    expect(page.locator(".alert-success")).to_contain_text("recorded")
    pull_1.refresh_from_db()
    assert pull_1.pulled_at is not None

    # The 3-month pull and the two NTA runs on the pulled vials, through the services.
    pull_3 = stability.pull_record(
        actor=analyst, pull=later.get(time_point=3), pulled_at=timezone.now()
    )
    for pull, concentration in ((pull_1, 2.28e11), (pull_3, 2.21e11)):
        _nta(analyst, pull.vials.get().aliquot.barcode, concentration, 116.0)

    # The trend: three −80 °C points, the regression and its one-sided 95 % bound.
    page.goto(f"{demo}{study.get_absolute_url()}")
    expect(page.locator("#shelf-life")).to_contain_text("3 months")
    expect(page.locator("#shelf-life")).to_contain_text("Particle concentration")
    chart = page.locator("[data-chart]").first
    expect(chart.locator(".legend")).to_contain_text("one-sided 95 % bound")
    expect(chart.locator(".legend")).to_contain_text("lower limit")
    page.screenshot(path=str(SHOTS / "02-trend.png"), full_page=True)

    # The annual review of the demo year: QA signs, the PDF downloads.
    year = study.lot.manufactured_on.year
    page.goto(f"{demo}/release/apqr/?year={year}")
    expect(page.locator("#apqr-lots")).to_contain_text("3 made")
    page.click("text=Sign the review")
    page.fill("#id_conclusion", "Reviewed in the browser test: no adverse trend.")
    page.fill("#id_username", "qa")
    page.fill("#id_password", PASSWORDS["qa"])
    page.get_by_role("button", name="Sign the review").click()
    signed = page.locator(".alert-success", has_text="Signed review")
    expect(signed).to_be_visible()
    page.screenshot(path=str(SHOTS / "03-apqr-signed.png"), full_page=True)
    with page.expect_download() as info:
        signed.locator("a", has_text="PDF").click()
    pdf = Path(info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    record = AnnualProductReview.objects.get(year=year)
    assert record.signature.signer.username == "qa"
