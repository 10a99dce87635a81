"""Playwright fixtures for the browser tests: Debian's Chromium, never a downloaded browser.

Playwright's sync API runs an asyncio event loop in the test thread, and Django refuses ORM
calls from a thread with a running loop unless DJANGO_ALLOW_ASYNC_UNSAFE is set. The tests set
up their prerequisites through the services in that same thread, so the flag is set here,
before any test of this folder runs.
"""

import os
from pathlib import Path

import pytest

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SKIP_REASON = f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)"
HERE = Path(__file__).resolve().parent
FAILURES = HERE.parents[1] / "test-artifacts" / "screenshots" / "failures"


def pytest_collection_modifyitems(config, items):
    """Skip this folder's tests up front, before any database or server is set up for them."""
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(skip)


_shared: dict = {}


def chromium():
    """The one Chromium of the test process, started on first use.

    Playwright's sync API runs an event loop in the calling thread and refuses to start a
    second one there while the first is alive, so every folder's browser tests share this one
    (tests/release_pages/conftest.py asks for it too).
    """
    if "browser" not in _shared:
        sync_api = pytest.importorskip("playwright.sync_api")
        playwright = sync_api.sync_playwright().start()
        _shared["playwright"] = playwright
        _shared["browser"] = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
    return _shared["browser"]


def close_chromium() -> None:
    if "browser" in _shared:
        _shared.pop("browser").close()
        _shared.pop("playwright").stop()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(SKIP_REASON)
    yield chromium()
    close_chromium()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test, so `page` knows whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser, request):
    """A fresh browser context per test; a screenshot of the last page when the test fails."""
    failure_shot = FAILURES / f"{request.node.name}.png"
    failure_shot.unlink(missing_ok=True)  # never leave an earlier run's failure behind
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        FAILURES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(failure_shot), full_page=True)
    context.close()
