"""The main pages on the demo data, in a real browser: accessible, usable on a phone, light.

- axe-core (the axe-playwright-python package bundles it) finds no critical or serious violation
  of WCAG 2.2 A/AA on any of them, at desktop width and at 390 px (a phone);
- at 390 px the page never scrolls sideways (wide tables scroll inside their .table-responsive
  wrapper), and a full-page screenshot of each goes to test-artifacts/screenshots/accessibility/;
- "Skip to content" is the first thing Tab reaches, and it moves the focus to the content
  (WCAG 2.4.1 Bypass Blocks);
- the navigation fits on one line at 1366 px, for every role;
- only pages with a chart load plotly.js, and the lot page's DOMContentLoaded comes within 1 s.
"""

import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from playwright.sync_api import Page

from assays.models import AssayRun
from batches.models import CultureBatch, ExosomeLot
from lims.models import User
from release.demo import DEMO_USERS

pytestmark = [pytest.mark.browser]

REPO_ROOT = Path(__file__).resolve().parents[2]
SHOTS = REPO_ROOT / "test-artifacts" / "screenshots" / "accessibility"
BACKEND = "django.contrib.auth.backends.ModelBackend"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
# What axe checks: WCAG 2.0, 2.1 and 2.2 success criteria of levels A and AA.
AXE_OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"],
    },
    "resultTypes": ["violations"],
}
BLOCKING = {"critical", "serious"}
PLOTLY = re.compile(r"/static/vendor/plotly\.js[^/]*/")
# The trace types assays/charts.py makes (go.Scatter, go.Scattergl, go.Bar): the partial
# plotly.js build (tools/plotly.js-bundle) must draw each of them.
TRACE_TYPES = {"scatter", "scattergl", "bar"}
DOM_CONTENT_LOADED_MS = 1000
# What sticks out past the right edge (outside the .table-responsive wrappers, which scroll),
# to say what to fix: boxes, and text overflowing a box narrower than itself.
SIDEWAYS = """w => [...document.querySelectorAll('body *')]
    .filter(e => !(e.parentElement && e.parentElement.closest('.table-responsive')))
    .filter(e => {
        const r = e.getBoundingClientRect();
        return r.right > w + 0.5 || (getComputedStyle(e).overflowX === 'visible'
                                     && r.left + e.scrollWidth > w + 0.5);
    })
    .slice(-5)
    .map(e => e.tagName + '.' + [...e.classList].join('.'))"""


@pytest.fixture
def demo(live_server, settings, tmp_path):
    """The demo data of `make run` (manage.py seed_demo), with its evaluations done."""
    settings.MEDIA_ROOT = tmp_path / "files"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    return {role: User.objects.get(username=username) for username, role, _, _ in DEMO_USERS}


def main_pages(users) -> list[tuple[str, User, str, bool | None]]:
    """(name, who looks, path, whether it draws charts: None if either) of the main pages, on
    the demo data."""
    analyst, qa, technician = users["analyst"], users["qa"], users["technician"]
    lot_with_charts = (
        ExosomeLot.objects.filter(metrics__code="nta.d50", metrics__run__source_file__isnull=False)
        .distinct()
        .get()
    )
    lot_under_review = ExosomeLot.objects.filter(status="under_review").first()
    run = AssayRun.objects.filter(source_file__isnull=False).order_by("pk").first()
    trend = {"code": "nta.concentration", "mean": 2e11, "sd": 5e10}
    busiest_batch = CultureBatch.objects.annotate(n=Count("passages")).order_by("-n", "pk")[0]
    return [
        ("home", technician, reverse("home"), False),
        ("culture-batches", technician, reverse("batches:culturebatch_list"), False),
        ("culture-batch", technician, busiest_batch.get_absolute_url(), None),
        ("lots", technician, reverse("batches:exosomelot_list"), False),
        ("lot", analyst, lot_with_charts.get_absolute_url(), True),
        ("vials", technician, reverse("batches:aliquot_list"), False),
        ("storage", technician, reverse("batches:storage_overview"), False),
        ("storage-positions", technician, reverse("batches:storagelocation_list"), False),
        ("isolation-runs", technician, reverse("batches:isolationrun_list"), False),
        ("runs", analyst, reverse("assays:run_list"), False),
        ("run", analyst, reverse("assays:run_detail", args=[run.pk]), False),
        ("result-entry", technician, reverse("assays:run_entry", args=["NTA"]), False),
        ("qc-trends", analyst, f"{reverse('qc:trends')}?{urlencode(trend)}", True),
        ("release-dashboard", qa, reverse("release:dashboard"), False),
        ("lot-review", qa, reverse("release:lot_review", args=[lot_under_review.pk]), False),
        ("deviations", qa, reverse("release:deviation_list"), False),
        ("specifications", qa, reverse("release:specification_list"), False),
        ("audit-trail", qa, reverse("audit_trail"), False),
    ]


class Browser:
    """One signed-in tab per person, each with the list of the scripts its pages loaded."""

    def __init__(self, browser, base_url: str):
        self.browser = browser
        self.base_url = base_url
        self.tabs: dict[int, Page] = {}
        self.scripts: list[str] = []
        self.viewport = DESKTOP

    def tab(self, user: User, viewport: dict) -> Page:
        if user.pk not in self.tabs:
            client = Client()
            client.force_login(user, backend=BACKEND)
            context = self.browser.new_context(viewport=viewport, locale="en-GB")
            context.set_default_timeout(15_000)
            context.add_cookies(
                [
                    {
                        "name": "sessionid",
                        "value": client.cookies["sessionid"].value,
                        "url": self.base_url,
                    }
                ]
            )
            context.route("**/favicon.ico", lambda route: route.fulfill(status=204))
            page = context.new_page()
            page.on(
                "request",
                lambda r: self.scripts.append(r.url) if r.resource_type == "script" else None,
            )
            self.tabs[user.pk] = page
        page = self.tabs[user.pk]
        page.set_viewport_size(viewport)
        return page

    def open(self, user: User, path: str, charts: bool | None, viewport: dict) -> Page:
        page = self.tab(user, viewport)
        self.scripts.clear()
        response = page.goto(self.base_url + path)
        assert response.status == 200, (path, response.status)
        drawn = page.locator("[data-chart]").count()
        assert charts is None or bool(drawn) == charts, (path, drawn)
        page.wait_for_function(
            "n => document.querySelectorAll('[data-chart-ready] .main-svg').length >= n",
            arg=drawn,
        )
        return page

    def close(self):
        for page in self.tabs.values():
            page.context.close()


@pytest.fixture
def tabs(browser, live_server):
    tabs = Browser(browser, live_server.url)
    yield tabs
    tabs.close()


def axe_findings(page: Page, where: str) -> list[str]:
    results = Axe().run(page, options=AXE_OPTIONS).response
    return [
        f"{where}: {v['id']} ({v['impact']}) {v['help']}: "
        + "; ".join(
            f"{' '.join(n['target'])} [{n['failureSummary'].splitlines()[-1].strip()}]"
            for n in v["nodes"][:6]
        )
        for v in results["violations"]
        if v["impact"] in BLOCKING
    ]


def test_main_pages_pass_axe_and_fit_a_phone(demo, tabs):
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    findings: list[str] = []
    too_wide: list[str] = []
    for n, (name, user, path, charts) in enumerate(main_pages(demo), start=1):
        page = tabs.open(user, path, charts, DESKTOP)
        findings += axe_findings(page, f"{name} at {DESKTOP['width']} px")
        loads_plotly = any(PLOTLY.search(url) for url in tabs.scripts)
        drawn = page.locator("[data-chart]").count()
        assert loads_plotly == bool(drawn), (name, "plotly.js loaded where charts are, only there")

        page = tabs.open(user, path, charts, PHONE)
        findings += axe_findings(page, f"{name} at {PHONE['width']} px")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            # The widest elements that stick out, to say what to fix.
            culprits = page.evaluate(SIDEWAYS, PHONE["width"])
            too_wide.append(f"{name}: {width} px wide ({', '.join(culprits)})")
        page.screenshot(path=str(SHOTS / f"{n:02d}-{name}.png"), full_page=True)

    assert not findings, "\n".join(findings)
    assert not too_wide, "\n".join(too_wide)


def test_skip_link_is_the_first_stop_and_moves_to_the_content(demo, tabs):
    page = tabs.open(demo["technician"], reverse("batches:exosomelot_list"), 0, DESKTOP)
    skip = page.locator("a.skip-link")
    assert not skip.is_visible() or skip.bounding_box()["height"] <= 1  # hidden until focused

    page.keyboard.press("Tab")
    first = page.evaluate("[document.activeElement.textContent, document.activeElement.hash]")
    assert first == ["Skip to content", "#content"]
    assert skip.bounding_box()["height"] > 10  # shown while it has the focus

    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"
    page.keyboard.press("Tab")  # the next stop is in the content, not the navigation
    assert page.evaluate("!!document.activeElement.closest('main')")


def test_the_navigation_fits_on_one_line_at_1366_px_for_every_role(demo, tabs):
    for role, user in demo.items():
        page = tabs.open(user, reverse("home"), 0, {"width": 1366, "height": 768})
        tops = page.evaluate(
            """[...document.querySelectorAll('#nav > *, #nav .navbar-nav > .nav-item')]
                .filter(e => e.offsetParent !== null)
                .map(e => Math.round(e.getBoundingClientRect().top))"""
        )
        assert tops and max(tops) - min(tops) <= 8, (role, tops)
        assert page.evaluate("document.querySelector('nav').offsetHeight") <= 64, role
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366, role


def test_the_lot_page_is_quick(demo, tabs):
    analyst = demo["analyst"]
    (_, _, path, charts) = next(p for p in main_pages(demo) if p[0] == "lot")

    # The server: the NTA chart is not rebuilt from the file on every view (assays.qc_views),
    # and the queries stay few (tests/foundation/test_query_counts.py: they do not grow).
    client = Client()
    client.force_login(analyst, backend=BACKEND)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    assert len(queries) <= 60, "\n".join(q["sql"][:150] for q in queries.captured_queries)

    # The browser: the partial plotly.js draws every trace type of assays/charts.py, and is
    # fetched only once the document is parsed (charts.js adds it), not before DOMContentLoaded.
    page = tabs.open(analyst, path, charts, DESKTOP)
    traces = set(page.evaluate("Object.keys(Plotly.PlotSchema.get().traces)"))
    assert TRACE_TYPES <= traces, TRACE_TYPES - traces
    timings = []
    for _ in range(3):
        page = tabs.open(analyst, path, charts, DESKTOP)
        navigation, plotly_fetched = page.evaluate(
            """[performance.getEntriesByType('navigation')[0].toJSON(),
                performance.getEntriesByType('resource')
                    .filter(r => r.name.includes('/plotly.js')).map(r => r.startTime)]"""
        )
        assert len(plotly_fetched) == 1
        assert plotly_fetched[0] >= navigation["domContentLoadedEventStart"]
        timings.append(navigation["domContentLoadedEventEnd"])
    timings.sort()
    assert timings[1] <= DOM_CONTENT_LOADED_MS, f"DOMContentLoaded after {timings} ms"
