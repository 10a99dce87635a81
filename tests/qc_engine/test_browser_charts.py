"""The QC charts in a real browser: drawn by plotly.js under the Content Security Policy.

Headless Debian Chromium (never a downloaded browser) opens the lot page (NTA distribution from
the real NanoSight file, miRNA RQ), the trend page (Levey-Jennings, Westgard, Cpk), the culture
batch page (growth), a run's standard curve and a recompute job whose progress bar htmx updates
while the job runs. Every page must draw its charts with no console error, no uncaught
exception and no CSP violation (plotly.js must not need 'unsafe-eval'). Full-page screenshots go
to test-artifacts/screenshots/qc/.
"""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from assays import tasks
from assays.models import RecomputeJob
from batches import services as batch_services
from tests import factories
from tests.qc_engine.conftest import lot_made_on
from tests.qc_engine.test_pages import _ct_rows, _plate

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's loop runs in the test thread

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
SHOTS = REPO_ROOT / "test-artifacts" / "screenshots" / "qc"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's Chromium at {CHROMIUM}"),
]

# Runs before any page script: records CSP violations, which a try/catch in a library could
# otherwise hide from the console.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push([e.violatedDirective, e.blockedURI, e.sourceFile].join(" "));
});
"""


@pytest.fixture(scope="module")
def browser():
    """The test process's one Chromium (Playwright's sync API allows one per thread)."""
    from tests.browser.conftest import chromium

    return chromium()


class Visit:
    """A signed-in browser tab that collects console errors and numbers its screenshots."""

    def __init__(self, browser, base_url, user):
        client = Client()
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.context.set_default_timeout(15_000)
        self.context.add_cookies(
            [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base_url}]
        )
        self.context.add_init_script(WATCH_CSP)
        # The browser asks for /favicon.ico on its own and the app has none: not a page error.
        self.context.route("**/favicon.ico", lambda route: route.fulfill(status=204))
        self.page = self.context.new_page()
        self.base_url = base_url
        self.problems: list[str] = []
        self.page.on(
            "console",
            lambda m: (
                self.problems.append(f"console {m.type}: {m.text} {m.location}")
                if m.type == "error"
                else None
            ),
        )
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on(
            "response",
            lambda r: (
                self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None
            ),
        )
        self.n = 0
        SHOTS.mkdir(parents=True, exist_ok=True)

    def open(self, path: str, charts: int):
        response = self.page.goto(self.base_url + path)
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        if charts:
            self.page.wait_for_function(
                "n => document.querySelectorAll('[data-chart-ready] .main-svg').length >= n",
                arg=charts,
            )
            assert self.page.locator("[data-chart]").count() == charts
        return self

    def check(self):
        violations = self.page.evaluate("window.__cspViolations")
        assert not violations, violations
        assert not self.problems, self.problems
        assert "WebGL is not supported" not in self.page.content()

    def shot(self, name: str) -> Path:
        self.n += 1
        path = SHOTS / f"{self.n:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def qc_data(technician, analyst, receive_nta_file, record_run):
    """A lot with the real NTA file, a miRNA run and a BCA plate; 11 more lots with protein
    results for the trend; a culture batch with three passages."""
    lot = factories.lot(technician)
    receive_nta_file(lot)
    record_run(
        "MIRNA-QPCR",
        _ct_rows(lot, "ct", "miR-21", 22.0)
        + _ct_rows(lot, "ct", "U6", 18.0)
        + _ct_rows(lot, "calibrator_ct", "miR-21", 25.0)
        + _ct_rows(lot, "calibrator_ct", "U6", 19.0)
        + _ct_rows(lot, "ct", "miR-146a", 24.5)
        + _ct_rows(lot, "calibrator_ct", "miR-146a", 24.0)
        + _ct_rows(lot, "ct", "miR-125b", 20.0)
        + _ct_rows(lot, "calibrator_ct", "miR-125b", 20.5),
    )
    plate = record_run("BCA", _plate(lot))
    protein = [101, 97, 111, 99, 117, 103, 111, 112, 106, 106, 107, 106]
    today = timezone.localdate()
    lots = [lot_made_on(technician, today - timedelta(weeks=12 - i)) for i in range(11)] + [lot]
    record_run(
        "BCA",
        [
            {"sample": each.code, "analyte": "protein", "value": float(v)}
            for each, v in zip(lots, protein, strict=True)
        ],
    )
    batch = factories.culture_batch(technician)
    cells = [
        (1_000_000, 4_200_000),
        (1_000_000, 7_600_000),
        (800_000, 5_000_000),
        (1_000_000, None),
    ]
    for number, (seeded, harvested) in enumerate(cells, start=1):
        batch_services.passage_record(
            actor=technician,
            batch=batch,
            number=number,
            seeded_on=batch.started_on + timedelta(days=3 * (number - 1)),
            harvested_on=batch.started_on + timedelta(days=3 * number) if harvested else None,
            seeding_density_per_cm2=5000,
            cells_seeded=seeded,
            cells_harvested=harvested,
        )
    return {"lot": lot, "batch": batch, "plate": plate}


def test_qc_charts_render_under_the_csp_without_console_errors(
    live_server, browser, analyst, qc_data
):
    for old in SHOTS.glob("*.png"):
        old.unlink()
    visit = Visit(browser, live_server.url, analyst)

    visit.open(qc_data["lot"].get_absolute_url(), charts=2)
    traces = visit.page.locator("#plot-nta .scatterlayer .trace").count()
    assert traces == 13  # 12 videos and their mean, drawn as SVG
    assert visit.page.locator("#plot-mirna .errorbar").count() == 3
    visit.check()
    visit.page.locator("#qc").scroll_into_view_if_needed()
    visit.shot("lot-nta-and-mirna")

    query = "?code=bca.protein&mean=100&sd=5&lsl=80&usl=130"
    visit.open(reverse("qc:trends") + query, charts=1)
    assert visit.page.locator("#violations tbody tr").count() == 7
    assert visit.page.locator("#capability").is_visible()
    visit.check()
    visit.shot("trend-levey-jennings")

    visit.open(qc_data["batch"].get_absolute_url(), charts=1)
    assert visit.page.locator("#plot-growth .barlayer .point").count() == 3
    visit.check()
    visit.page.locator("#qc").scroll_into_view_if_needed()
    visit.shot("batch-growth")

    visit.open(reverse("qc:run_detail", args=[qc_data["plate"].pk]), charts=1)
    visit.check()
    visit.shot("run-standard-curve")


def test_recompute_progress_bar_updates_live_until_done(
    live_server, browser, analyst, lot, record_run
):
    record_run("BCA", [{"sample": lot.code, "analyte": "protein", "value": 80.0}])
    job = RecomputeJob.objects.create(requested_by=analyst, assay_code="BCA")  # not yet run
    visit = Visit(browser, live_server.url, analyst)

    visit.open(reverse("qc:recompute_job", args=[job.pk]), charts=0)
    progress = visit.page.locator("#recompute-progress")
    assert progress.get_attribute("data-status") == "queued"
    assert visit.page.locator(".progress").get_attribute("aria-valuenow") == "0"

    tasks.run_recompute_job(job.pk)  # a worker picks it up; htmx polls every second
    visit.page.wait_for_selector('#recompute-progress[data-status="done"]', timeout=5_000)

    assert visit.page.locator(".progress").get_attribute("aria-valuenow") == "100"
    assert "Runs processed: 1 of 1" in visit.page.locator("#recompute-summary").inner_text()
    visit.page.wait_for_timeout(1_500)  # finished: no more polling, nothing to report
    visit.check()
    SHOTS.mkdir(parents=True, exist_ok=True)
    visit.page.screenshot(path=str(SHOTS / "05-recompute-job-done.png"), full_page=True)


def test_a_trend_of_thousands_of_lots_draws_with_webgl_under_the_csp(
    live_server, browser, analyst, technician, monkeypatch
):
    """plotly.js's strict build draws scattergl without 'unsafe-eval' (the regular bundle
    shows "WebGL is not supported" under this policy)."""
    from assays import qc_selectors
    from assays.models import QCMetric
    from batches.models import ExosomeLot

    n = 1500
    # The page charts the latest TREND_WINDOW lots (250); widened here so that one chart has
    # more points than charts.WEBGL_MIN_POINTS (the live server runs in this process).
    monkeypatch.setattr(qc_selectors, "TREND_WINDOW", n)
    today = timezone.localdate()
    lots = ExosomeLot.objects.bulk_create(
        ExosomeLot(
            code=f"EXO-WEBGL-{i:05d}",
            manufactured_on=today - timedelta(days=n - i),
            volume_ml=1,
            created_by=technician,
        )
        for i in range(n)
    )
    QCMetric.objects.bulk_create(
        QCMetric(
            lot=lot,
            code="bca.protein",
            value=100 + (i % 17) - 8,
            unit="ug/mL",
            inputs_hash=f"webgl-{i}",
            algorithm="summary.mean",
            algorithm_version="1.0",
        )
        for i, lot in enumerate(lots)
    )
    visit = Visit(browser, live_server.url, analyst)
    visit.open(reverse("qc:trends") + "?code=bca.protein&mean=100&sd=5", charts=1)
    visit.page.wait_for_function("document.querySelectorAll('#plot-trend canvas, canvas').length")
    assert visit.page.locator("canvas").count() >= 1
    visit.check()
    visit.shot("trend-webgl-1500-lots")
