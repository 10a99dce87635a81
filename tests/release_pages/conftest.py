"""Fixtures of the release page tests: a second QA person who produced none of the data, lots
with their release tests recorded through the services, and signed-in clients."""

import pytest
from django.test import Client

from tests import factories
from tests.browser.conftest import (  # the browser tests' page and its failure screenshot
    CHROMIUM,
    SKIP_REASON,
    chromium,
    close_chromium,
    page,  # noqa: F401
    pytest_runtest_makereport,  # noqa: F401
)
from tests.release_pages.lots import lot_under_review

BACKEND = "django.contrib.auth.backends.ModelBackend"
PASSWORD = factories.PASSWORD


@pytest.fixture(autouse=True)
def _release_page_settings(settings, tmp_path):
    """Certificates go to a throwaway store; passwords hash fast (signing re-authenticates
    with them, so they must still be real passwords)."""
    settings.MEDIA_ROOT = tmp_path / "files"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def qa_signer(make_user):
    """The QA approver: never recorded, performed or reviewed anything of the lots."""
    return make_user("qa", username="rita.release", first_name="Rita", last_name="Release")


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user, backend=BACKEND)
    return client


@pytest.fixture
def passing_lot(technician, analyst, django_capture_on_commit_callbacks):
    """Under review, every required criterion passes, no deviation."""
    return lot_under_review(technician, analyst, django_capture_on_commit_callbacks)


@pytest.fixture
def oos_lot(technician, analyst, django_capture_on_commit_callbacks):
    """Under review with an endotoxin of 2.0 EU/mL (limit < 0.5): OOS, investigation opened."""
    return lot_under_review(
        technician,
        analyst,
        django_capture_on_commit_callbacks,
        change={("ENDOTOXIN", "endotoxin"): 2.0},
    )


def sign_data(user, decision="released", *, password=PASSWORD, **extra) -> dict:
    return {
        "decision": decision,
        "username": user.username,
        "password": password,
        "comment": "",
        "reason": "",
        **extra,
    }


@pytest.fixture(scope="session")
def browser():
    """The Chromium of tests/browser (Debian's, never a downloaded one), shared: one Playwright
    per test process."""
    if not CHROMIUM.exists():
        pytest.skip(SKIP_REASON)
    yield chromium()
    close_chromium()
